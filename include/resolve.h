/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

/*
 * Live DNS: the upstream host names of each section with a
 * resolve_interval are resolved again at that interval, without blocking,
 * with libevent's evdns in the daemon's loop; the answers go to
 * relay_resolved(), which logs the addresses added and removed (sessions
 * on a removed address go on). Each round reads /etc/resolv.conf and
 * /etc/hosts anew, as getaddrinfo(3) would. A name that does not resolve
 * keeps the addresses it had, and says so once per failing streak.
 */
#ifndef MPTCP_RELAYD_RESOLVE_H
#define MPTCP_RELAYD_RESOLVE_H

#include <event2/event.h>

#include "relay.h"

struct resolver;

/* A resolver for the loop base, resolving nothing yet; NULL: no memory. */
struct resolver	*resolver_new(struct event_base *base);

/*
 * Resolve the names of the sections of rs (the running set, after a start
 * or a reload) from now on; answers for sections or names that a reload
 * changed meanwhile are dropped.
 */
void		 resolver_apply(struct resolver *r, const struct relay_set *rs);

/*
 * Stop, cancel the queries in flight and free r. libevent calls a
 * cancelled query back from the loop, so with queries in flight this runs
 * the loop of base, without waiting, until they are called back (not
 * from a callback of that loop: r is then left to free itself).
 */
void		 resolver_free(struct resolver *r);

#endif
