/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

/*
 * Upstream connection: pick the listener's upstream address, open a
 * TCP or MPTCP socket to it without blocking, bound by connect_timeout;
 * on failure try the next address the upstream name resolved to. The
 * owner learns the outcome through one call of its callback.
 */
#ifndef MPTCP_RELAYD_UPSTREAM_H
#define MPTCP_RELAYD_UPSTREAM_H

#include <event2/event.h>
#include <event2/event_struct.h>

#include "config.h"

/*
 * Called once per upstream_connect(): with a connected fd (>= 0, owned by
 * the callee from then on) and error 0, or with fd -1 and the errno of the
 * last failure (ETIMEDOUT when connect_timeout ran out). addr is the
 * upstream address tried last, for logging.
 */
typedef void (*upstream_cb)(int fd, int error, const struct config_addr *addr,
    void *arg);

struct upstream_conn {
	struct event			 uc_ev;
	const struct listener_config	*uc_conf;
	int				 uc_fd;
	int				 uc_index;	/* address being tried */
	int				 uc_error;	/* of the last failure */
	bool				 uc_pending;	/* uc_ev added */
	struct event_base		*uc_base;
	upstream_cb			 uc_cb;
	void				*uc_arg;
};

/*
 * Start connecting for a session of the listener conf. uc is owned by the
 * caller and must stay put until the callback has run or upstream_cancel()
 * was called. Returns 0 when a connect is under way (the callback runs
 * later, from the event loop), or -1 with errno set when every address
 * failed at once (the callback never runs; *uc names the last address).
 */
int	upstream_connect(struct upstream_conn *uc, struct event_base *base,
	    const struct listener_config *conf, upstream_cb cb, void *arg);

/* The address tried last (or the first, before any try). */
const struct config_addr *upstream_addr(const struct upstream_conn *uc);

/* Abandon a connect in progress: close its socket; the callback never runs. */
void	upstream_cancel(struct upstream_conn *uc);

#endif
