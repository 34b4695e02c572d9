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

_Static_assert(CONFIG_UPSTREAM_ADDRS_MAX <= 64,
    "the tried set is a 64-bit mask");

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

int
upstream_pick(const struct relay_upset *us, enum config_balance balance,
    uint64_t backoff_ms, unsigned start, uint64_t tried, uint64_t now)
{
	const struct relay_upstream	*ru;
	int				 i, k, n = us->us_n, best = -1;
	uint64_t			 key, best_key = UINT64_MAX;
	unsigned			 active;

	for (k = 0; k < n; k++) {
		/* roundrobin walks from its turn; the others from 0. */
		i = balance == CONFIG_BALANCE_ROUNDROBIN ?
		    (int)((start + (unsigned)k) % (unsigned)n) : k;
		if (tried & (1ULL << i))
			continue;
		ru = &us->us_addrs[i];
		if (relay_upstream_up(ru, now, backoff_ms)) {
			/* In service: in the policy's order. */
			if (balance == CONFIG_BALANCE_LEASTCONN) {
				active = __atomic_load_n(&ru->ru_st->rs_active,
				    __ATOMIC_RELAXED);
				key = (uint64_t)active << 8 | (uint64_t)k;
			} else
				key = (uint64_t)k;
		} else {
			/*
			 * Out of service: after every address in service,
			 * the least recently failed first.
			 */
			key = (1ULL << 63) | (__atomic_load_n(
			    &ru->ru_st->rs_failed_at, __ATOMIC_RELAXED) &
			    ((1ULL << 62) - 1));
			if (__atomic_load_n(&ru->ru_st->rs_down,
			    __ATOMIC_RELAXED))
				key |= 1ULL << 62;	/* failing checks: last */
		}
		if (best == -1 || key < best_key) {
			best = i;
			best_key = key;
		}
	}
	return best;
}

void
upstream_note(struct relay_upstream *ru, const char *name, int error,
    uint64_t now)
{
	struct relay_upstate	*st = ru->ru_st;
	char			 addr[SOCK_NTOP_MAX];
	uint64_t		 was;

	__atomic_add_fetch(&st->rs_connects[upstream_result(error)], 1,
	    __ATOMIC_RELAXED);
	/* One destination that fails says nothing of the others. */
	if (ru->ru_destination)
		return;
	if (error == 0) {
		was = __atomic_exchange_n(&st->rs_failed_at, 0,
		    __ATOMIC_RELAXED);
		if (was != 0)
			log_notice("%s: upstream %s (%s) up: connected",
			    name, sock_ntop((const struct sockaddr *)
			    &ru->ru_addr.ca_ss, addr, sizeof(addr)),
			    ru->ru_addr.ca_text);
		return;
	}
	if (now == 0)
		now = 1;	/* 0 says "no failure" */
	was = __atomic_exchange_n(&st->rs_failed_at, now, __ATOMIC_RELAXED);
	if (was == 0)
		log_warnx("%s: upstream %s (%s) down: %s; skipped for "
		    "upstream_backoff unless all are", name,
		    sock_ntop((const struct sockaddr *)&ru->ru_addr.ca_ss, addr,
		    sizeof(addr)), ru->ru_addr.ca_text, strerror(error));
}

/* Out of descriptors or kernel memory for a socket: wait, don't fail. */
static bool
upstream_exhausted(int error)
{
	return error == EMFILE || error == ENFILE || error == ENOBUFS ||
	    error == ENOMEM;
}

/* An attempt failed: count it, and mark the address out of service. */
static void
upstream_failed(struct upstream_conn *uc, int error)
{
	uc->uc_error = error;
	upstream_note(upstream_last(uc), uc->uc_conf->lc_name, error,
	    clock_ms());
	uc->uc_deadline = 0;
}

/*
 * Start a connect to the next address that does not fail at once.
 * Returns 0 with the connect (or a retry) under way, or -1 with uc_error
 * set when every address was tried.
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
	int				 i;

	for (;;) {
		if (uc->uc_deadline == 0) {
			/* A new address, not a retry of this one. */
			i = upstream_pick(uc->uc_set, lc->lc_balance,
			    lc->lc_upstream_backoff, uc->uc_start, uc->uc_tried,
			    now);
			if (i == -1)
				return -1;
			uc->uc_index = i;
			uc->uc_tried |= 1ULL << i;
			uc->uc_tries++;
			uc->uc_deadline = now + lc->lc_connect_timeout;
		}
		ru = &uc->uc_set->us_addrs[uc->uc_index];
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
			upstream_failed(uc, errno);
			continue;
		}
		tv = clock_tv(uc->uc_deadline > now ? uc->uc_deadline - now : 1);
		event_assign(&uc->uc_ev, uc->uc_base, uc->uc_fd, EV_WRITE,
		    upstream_event, uc);
		if (event_add(&uc->uc_ev, &tv) == -1) {
			close(uc->uc_fd);
			uc->uc_fd = -1;
			upstream_failed(uc, ENOMEM);
			continue;
		}
		uc->uc_pending = true;
		return 0;
	}
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
	if (err == 0) {
		upstream_note(upstream_last(uc), uc->uc_conf->lc_name, 0, 0);
		uc->uc_fd = -1;		/* now the callback's */
		uc->uc_cb(fd, 0, upstream_last(uc), uc->uc_arg);
		return;
	}
	log_debug("%s: upstream %s: %s", uc->uc_conf->lc_name,
	    upstream_last(uc)->ru_addr.ca_text, strerror(err));
	close(fd);
	uc->uc_fd = -1;
	upstream_failed(uc, err);
	upstream_fail(uc);
}

int
upstream_connect(struct upstream_conn *uc, struct event_base *base,
    const struct listener_config *conf, struct relay *rl,
    struct relay_upset *set, struct budget *budget, upstream_cb cb, void *arg)
{
	memset(uc, 0, sizeof(*uc));
	uc->uc_conf = conf;
	uc->uc_set = set;
	uc->uc_budget = budget;
	uc->uc_base = base;
	uc->uc_fd = -1;
	uc->uc_cb = cb;
	uc->uc_arg = arg;
	if (conf->lc_balance == CONFIG_BALANCE_ROUNDROBIN)
		uc->uc_start = __atomic_fetch_add(&rl->rl_cursor, 1,
		    __ATOMIC_RELAXED);
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
