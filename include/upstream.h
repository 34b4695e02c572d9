/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

/*
 * Upstream connection: pick an address of the section's upstream set as
 * 'balance' says (or take the one address of a session's destination,
 * relay_upset_destination()), open a TCP or MPTCP socket to it without blocking, bound
 * by connect_timeout; on failure move the same session to the next
 * address, until every address was tried. Addresses in service come first
 * (not backed off after a failed connect for upstream_backoff, not failing
 * health checks); the others follow, the least recently failed first, so
 * that stale health state alone never refuses a client. Each attempt is
 * counted in the address's state; an address going out of service (its
 * first failed connect) and back (its next success) is logged once.
 * Running out of descriptors is back-pressure, not a failure: the budget
 * is told to stop admitting clients and the same address is tried again
 * shortly, within its connect_timeout. The owner learns the outcome
 * through one call of its callback.
 */
#ifndef MPTCP_RELAYD_UPSTREAM_H
#define MPTCP_RELAYD_UPSTREAM_H

#include <stdint.h>

#include <event2/event.h>
#include <event2/event_struct.h>

#include "budget.h"
#include "config.h"
#include "relay.h"

/*
 * Called once per upstream_connect(): with a connected fd (>= 0, owned by
 * the callee from then on) and error 0, or with fd -1 and the errno of the
 * last failure (ETIMEDOUT when connect_timeout ran out). ru is the address
 * tried last, in the set the caller passed.
 */
typedef void (*upstream_cb)(int fd, int error, struct relay_upstream *ru,
    void *arg);

struct upstream_conn {
	struct event			 uc_ev;
	const struct listener_config	*uc_conf;
	struct relay_upset		*uc_set;
	struct budget			*uc_budget;
	int				 uc_fd;
	int				 uc_index;	/* address being tried */
	int				 uc_error;	/* of the last failure */
	int				 uc_tries;	/* addresses tried */
	unsigned			 uc_start;	/* roundrobin's turn */
	uint64_t			 uc_tried;	/* bit i: address i */
	bool				 uc_pending;	/* uc_ev added */
	uint64_t			 uc_deadline;	/* of this address, ms */
	struct event_base		*uc_base;
	upstream_cb			 uc_cb;
	void				*uc_arg;
};

/*
 * Start connecting for a session of the listener conf to the addresses of
 * set (which the caller keeps referenced until the callback has run or
 * upstream_cancel() was called), counting descriptors against budget (may
 * be NULL). uc is owned by the caller and must stay put as long. Returns 0
 * when a connect is under way (the callback runs later, from the event
 * loop), or -1 with errno set when every address failed at once (the
 * callback never runs; upstream_last() names the last address).
 */
int	upstream_connect(struct upstream_conn *uc, struct event_base *base,
	    const struct listener_config *conf, struct relay *rl,
	    struct relay_upset *set, struct budget *budget, upstream_cb cb,
	    void *arg);

/*
 * The next address for a session that tried the set addresses of us
 * (bit i: address i), now (monotonic ms), with start as roundrobin's turn:
 * -1 when all were tried. Pure but for atomic reads; see above.
 */
int	upstream_pick(const struct relay_upset *us, enum config_balance balance,
	    uint64_t backoff_ms, unsigned start, uint64_t tried, uint64_t now);

/*
 * Record a connect attempt's outcome (an errno value, 0 for success) on
 * address ru of the section named name, logging a change of service; a
 * destination (ru_destination) is only counted, never out of service.
 */
void	upstream_note(struct relay_upstream *ru, const char *name, int error,
	    uint64_t now);

/* The address tried last (or the first, before any try); NULL: none. */
struct relay_upstream *upstream_last(const struct upstream_conn *uc);

/* Abandon a connect in progress: close its socket; the callback never runs. */
void	upstream_cancel(struct upstream_conn *uc);

/* The connect result an errno value counts as. */
enum relay_connect_result upstream_result(int error);

#endif
