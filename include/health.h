/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

/*
 * Active health checks (relayd's check_tcp): for each section with a
 * health_check_interval, every interval, a connect to each of its upstream
 * addresses (TCP, or MPTCP with upstream_protocol = mptcp), bounded by
 * connect_timeout and the interval. A success puts the address in service
 * (and ends a passive back-off), a failure takes it out until the next
 * success; each change is logged once. Checks run from the daemon's loop
 * only, whatever the number of workers, at most HEALTH_INFLIGHT at a time:
 * the address state they change is the relays', read by every loop.
 */
#ifndef MPTCP_RELAYD_HEALTH_H
#define MPTCP_RELAYD_HEALTH_H

#include <event2/event.h>

#include "relay.h"

/* Checks in flight at most, each holding one descriptor. */
#define HEALTH_INFLIGHT	8

struct health;

/* A checker for the loop base, checking nothing yet; NULL: no memory. */
struct health	*health_new(struct event_base *base);

/*
 * Check the sections of rs (the running set, after a start or a reload)
 * that ask for it, from now on; sections no longer in rs are no longer
 * checked (checks in flight finish and are forgotten).
 */
void		 health_apply(struct health *h, const struct relay_set *rs);

/* Stop every check and free h. */
void		 health_free(struct health *h);

/*
 * Record a check's outcome (an errno value, 0 for success) on address ru
 * of the section named name: in service on success, out on failure; a
 * change is logged. Exported for the unit tests.
 */
void		 health_note(struct relay_upstream *ru, const char *name,
		    int error, uint64_t backoff_ms);

#endif
