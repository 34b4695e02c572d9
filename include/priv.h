/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

/*
 * Privileges: the switch to [global] user= and group= once every socket is
 * bound, for good (all capabilities go with root), and the question a
 * reload asks before it gives up a socket it could not bind again.
 */
#ifndef MPTCP_RELAYD_PRIV_H
#define MPTCP_RELAYD_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Switch to user (and group, or the user's own group when group is "" ),
 * with its supplementary groups, irrevocably: afterwards the process can
 * neither become root again nor keep any capability. Nothing happens when
 * user is "". When the process already runs as them (systemd's User=),
 * nothing changes either and *switched says so. Returns 0, or -1 after
 * logging why.
 */
int	priv_drop(const char *user, const char *group, bool *switched);

/*
 * Whether this process may bind TCP port port now: ports below
 * net.ipv4.ip_unprivileged_port_start need CAP_NET_BIND_SERVICE in the
 * effective set. When it cannot, why names the reason.
 */
bool	priv_can_bind_port(uint16_t port, char *why, size_t whylen);

/*
 * Whether this process may set IP_TRANSPARENT (transparent = tproxy) now:
 * it needs CAP_NET_ADMIN (or CAP_NET_RAW) in the effective set. When it
 * cannot, why names the reason.
 */
bool	priv_can_transparent(char *why, size_t whylen);

#endif
