/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

#include "autoconf.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "sock.h"
#include "upstream.h"

/* How soon a connect that ran out of descriptors is tried again. */
#define UPSTREAM_RETRY_MS	100

static void	upstream_event(evutil_socket_t, short, void *);
static void	upstream_retry(evutil_socket_t, short, void *);

struct relay_upstream *
upstream_last(const struct upstream_conn *uc)
{
	int	i = uc->uc_index;

	if (uc->uc_set == NULL || uc->uc_set->us_n == 0)
		return NULL;
	if (i >= uc->uc_set->us_n)
		i = uc->uc_set->us_n - 1;
	return &uc->uc_set->us_addrs[i < 0 ? 0 : i];
}

enum relay_connect_result
upstream_result(int error)
{
	switch (error) {
	case 0:
		return RELAY_CONNECT_OK;
	case ECONNREFUSED:
		return RELAY_CONNECT_REFUSED;
	case ETIMEDOUT:
		return RELAY_CONNECT_TIMEOUT;
	default:
		return RELAY_CONNECT_ERROR;
	}
}

static void
upstream_count(struct upstream_conn *uc, int error)
{
	struct relay_upstream	*ru = upstream_last(uc);

	if (ru == NULL)
		return;
	__atomic_add_fetch(&ru->ru_connects[upstream_result(error)], 1,
	    __ATOMIC_RELAXED);
	/* relay_upstream_up(): backed off for a while after a failure. */
	__atomic_store_n(&ru->ru_failed_at, error == 0 ? 0 : clock_ms(),
	    __ATOMIC_RELAXED);
}

/* Out of descriptors or kernel memory for a socket: wait, don't fail. */
static bool
upstream_exhausted(int error)
{
	return error == EMFILE || error == ENFILE || error == ENOBUFS ||
	    error == ENOMEM;
}

/*
 * Start a connect to the first address, from uc_index on, that does not
 * fail at once. Returns 0 with the connect (or a retry) under way, or -1
 * with uc_error set when no address is left.
 */
static int
upstream_try(struct upstream_conn *uc)
{
	const struct listener_config	*lc = uc->uc_conf;
	struct relay_upstream		*ru;
	struct sock_opts		 opts = {
		.so_rcvbuf = lc->lc_upstream_rcvbuf,
		.so_sndbuf = lc->lc_upstream_sndbuf,
		.so_nodelay = lc->lc_nodelay,
		.so_keepalive = lc->lc_keepalive,
	};
	struct timeval			 tv;
	uint64_t			 now = clock_ms(), wait;

	for (; uc->uc_index < uc->uc_set->us_n; uc->uc_index++) {
		ru = &uc->uc_set->us_addrs[uc->uc_index];
		if (uc->uc_deadline == 0)
			uc->uc_deadline = now + lc->lc_connect_timeout;
		uc->uc_fd = sock_connect((const struct sockaddr *)
		    &ru->ru_addr.ca_ss, ru->ru_addr.ca_len,
		    lc->lc_upstream_protocol, &opts);
		if (uc->uc_fd == -1 && upstream_exhausted(errno) &&
		    now < uc->uc_deadline) {
			uc->uc_error = errno;
			if (uc->uc_budget != NULL)
				budget_note_exhausted(uc->uc_budget);
			wait = uc->uc_deadline - now;
			if (wait > UPSTREAM_RETRY_MS)
				wait = UPSTREAM_RETRY_MS;
			tv = clock_tv(wait);
			evtimer_assign(&uc->uc_ev, uc->uc_base, upstream_retry,
			    uc);
			if (evtimer_add(&uc->uc_ev, &tv) == 0) {
				uc->uc_pending = true;
				return 0;
			}
		}
		if (uc->uc_fd == -1) {
			uc->uc_error = errno;
			upstream_count(uc, uc->uc_error);
			uc->uc_deadline = 0;
			continue;
		}
		tv = clock_tv(uc->uc_deadline > now ? uc->uc_deadline - now : 1);
		event_assign(&uc->uc_ev, uc->uc_base, uc->uc_fd, EV_WRITE,
		    upstream_event, uc);
		if (event_add(&uc->uc_ev, &tv) == -1) {
			uc->uc_error = ENOMEM;
			upstream_count(uc, uc->uc_error);
			close(uc->uc_fd);
			uc->uc_fd = -1;
			uc->uc_deadline = 0;
			continue;
		}
		uc->uc_pending = true;
		return 0;
	}
	uc->uc_index = uc->uc_set->us_n - 1;
	return -1;
}

static void
upstream_fail(struct upstream_conn *uc)
{
	if (upstream_try(uc) == 0)
		return;
	uc->uc_cb(-1, uc->uc_error, upstream_last(uc), uc->uc_arg);
}

static void
upstream_retry(evutil_socket_t fd, short what, void *arg)
{
	struct upstream_conn	*uc = arg;

	(void)fd;
	(void)what;
	uc->uc_pending = false;
	upstream_fail(uc);
}

static void
upstream_event(evutil_socket_t fd, short what, void *arg)
{
	struct upstream_conn	*uc = arg;
	int			 err;

	uc->uc_pending = false;
	if (what & EV_TIMEOUT)
		err = ETIMEDOUT;
	else if ((err = sock_error(fd)) == -1)
		err = errno;
	upstream_count(uc, err);
	if (err == 0) {
		uc->uc_fd = -1;		/* now the callback's */
		uc->uc_cb(fd, 0, upstream_last(uc), uc->uc_arg);
		return;
	}
	log_debug("%s: upstream %s: %s", uc->uc_conf->lc_name,
	    upstream_last(uc)->ru_addr.ca_text, strerror(err));
	close(fd);
	uc->uc_fd = -1;
	uc->uc_error = err;
	uc->uc_index++;
	uc->uc_deadline = 0;
	upstream_fail(uc);
}

int
upstream_connect(struct upstream_conn *uc, struct event_base *base,
    const struct listener_config *conf, struct relay_upset *set,
    struct budget *budget, upstream_cb cb, void *arg)
{
	memset(uc, 0, sizeof(*uc));
	uc->uc_conf = conf;
	uc->uc_set = set;
	uc->uc_budget = budget;
	uc->uc_base = base;
	uc->uc_fd = -1;
	uc->uc_cb = cb;
	uc->uc_arg = arg;
	if (set->us_n == 0) {
		errno = EHOSTUNREACH;
		return -1;
	}
	if (upstream_try(uc) == -1) {
		errno = uc->uc_error;
		return -1;
	}
	return 0;
}

void
upstream_cancel(struct upstream_conn *uc)
{
	if (uc->uc_pending) {
		event_del(&uc->uc_ev);
		uc->uc_pending = false;
	}
	if (uc->uc_fd != -1) {
		close(uc->uc_fd);
		uc->uc_fd = -1;
	}
}
