/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

/*
 * Destinations: where a client was going. A transparent listener's
 * connection carries it (nftables diverted it on its way there), a PROXY
 * header names it; this module learns the first and judges both, before
 * any connect: a destination that is one of the daemon's own listening
 * addresses is a loop, and with upstream = destination the listener's
 * destination_allow, destination_deny and destination_ports decide
 * (acl_destination()). Each function is a few system calls at most, once
 * per session; nothing here keeps state.
 */
#ifndef MPTCP_RELAYD_DEST_H
#define MPTCP_RELAYD_DEST_H

#include <sys/socket.h>
#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "sock.h"

/* Room for a reason of dest_original(). */
#define DEST_WHY_MAX	192

/*
 * The original destination of the accepted connection fd of a listener
 * with transparent = mode (CONFIG_TRANSPARENT_TPROXY: the socket's own
 * address; CONFIG_TRANSPARENT_REDIRECT: SO_ORIGINAL_DST, or
 * IP6T_SO_ORIGINAL_DST for IPv6), into *dst, an IPv4-mapped address as
 * the IPv4 address it is. Returns 0, or -1 with a sentence in why (of
 * whylen bytes) that says why it is unknown: under REDIRECT the kernel
 * keeps no original destination for a connection that really speaks
 * MPTCP.
 */
int	dest_original(int fd, enum config_transparent mode,
	    union sock_addr *dst, char *why, size_t whylen);

/*
 * Whether dst (AF_INET or AF_INET6, with its port) is one of the
 * listening addresses of cf: the address and port of a listen line, or,
 * for a wildcard one (*:PORT, 0.0.0.0:PORT, [::]:PORT), any address of
 * this host of the family it covers, on its port. Whether an address is
 * the host's, the kernel's routes say (a loopback address, or one that a
 * socket connected to it would also send from).
 */
bool	dest_is_own(const struct config *cf, const struct sockaddr *dst);

/*
 * Whether a session of listener lc of config cf may go to dst: NULL when
 * it may, else a static reason. A loop (dest_is_own()) is refused on any
 * listener; the destination_* keys apply with upstream = destination.
 */
const char *dest_check(const struct config *cf,
	    const struct listener_config *lc, const struct sockaddr *dst);

#endif
