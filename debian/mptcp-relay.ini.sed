# Copyright (c) 2026 The mptcp-relayd authors
# SPDX-License-Identifier: BSD-2-Clause
#
# Turns the upstream example, etc/mptcp-relay.ini, into the package's
# /etc/mptcp-relay.ini: the same file, listening on the loopback address
# only (see README.Debian). debian/rules checks that both edits applied.
s/^; on port 8080 (all addresses, IPv4 and IPv6)\. It needs no privileges\.$/; on port 8080 of the loopback address only. It needs no privileges./
/^listen = \*:8080$/{
i\
; As installed by the Debian package, the listener takes connections from\
; this machine only, so that installing the package does not make a\
; service that listens on 127.0.0.1:8000 reachable from the network.\
; Use *:8080 (or an address of this machine) to relay clients from the\
; network, then run: systemctl reload mptcp-relayd
s/.*/listen = 127.0.0.1:8080/
}
