/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

#include "autoconf.h"

#include <sys/queue.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/event_struct.h>

#include "clock.h"
#include "health.h"
#include "log.h"
#include "sock.h"

/* One section being checked. */
struct health_target {
	TAILQ_ENTRY(health_target) ht_entry;
	struct health		*ht_health;
	struct relay		*ht_relay;	/* referenced */
	uint64_t		 ht_interval;	/* ms */
	struct event		 ht_timer;
	bool			 ht_gone;	/* no longer in the running set */
	unsigned		 ht_inflight;	/* its checks not done yet */
};
TAILQ_HEAD(health_targets, health_target);

/* One check of one address. */
struct health_check {
	TAILQ_ENTRY(health_check) hc_entry;
	struct health_target	*hc_target;
	struct relay_upset	*hc_set;	/* referenced */
	int			 hc_index;
	int			 hc_fd;
	struct event		 hc_ev;
};
TAILQ_HEAD(health_checks, health_check);

struct health {
	struct event_base	*h_base;
	struct health_targets	 h_targets;
	struct health_checks	 h_queue;	/* waiting for room */
	struct health_checks	 h_running;
	unsigned		 h_nrunning;
};

static void	health_start_queued(struct health *);

struct health *
health_new(struct event_base *base)
{
	struct health	*h;

	if ((h = calloc(1, sizeof(*h))) == NULL)
		return NULL;
	h->h_base = base;
	TAILQ_INIT(&h->h_targets);
	TAILQ_INIT(&h->h_queue);
	TAILQ_INIT(&h->h_running);
	return h;
}

void
health_note(struct relay_upstream *ru, const char *name, int error,
    uint64_t backoff_ms)
{
	struct relay_upstate	*st = ru->ru_st;
	char			 addr[SOCK_NTOP_MAX];
	uint64_t		 now = clock_ms();
	bool			 before, after;

	before = relay_upstream_up(ru, now, backoff_ms);
	if (error == 0) {
		__atomic_store_n(&st->rs_failed_at, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&st->rs_down, 0, __ATOMIC_RELAXED);
	} else
		__atomic_store_n(&st->rs_down, 1, __ATOMIC_RELAXED);
	after = relay_upstream_up(ru, now, backoff_ms);
	if (before == after)
		return;
	sock_ntop((const struct sockaddr *)&ru->ru_addr.ca_ss, addr,
	    sizeof(addr));
	if (after)
		log_notice("%s: upstream %s (%s) up: health check passed", name,
		    addr, ru->ru_addr.ca_text);
	else
		log_warnx("%s: upstream %s (%s) down: health check: %s", name,
		    addr, ru->ru_addr.ca_text, strerror(error));
}

static void
health_check_free(struct health *h, struct health_check *hc)
{
	struct health_target	*ht = hc->hc_target;

	TAILQ_REMOVE(&h->h_running, hc, hc_entry);
	h->h_nrunning--;
	event_del(&hc->hc_ev);
	if (hc->hc_fd != -1)
		close(hc->hc_fd);
	relay_upset_put(hc->hc_set);
	free(hc);
	if (--ht->ht_inflight == 0 && ht->ht_gone) {
		TAILQ_REMOVE(&h->h_targets, ht, ht_entry);
		relay_unref(ht->ht_relay);
		free(ht);
	}
}

static void
health_check_done(evutil_socket_t fd, short what, void *arg)
{
	struct health_check	*hc = arg;
	struct health_target	*ht = hc->hc_target;
	struct health		*h = ht->ht_health;
	int			 err;

	if (what & EV_TIMEOUT)
		err = ETIMEDOUT;
	else if ((err = sock_error(fd)) == -1)
		err = errno;
	if (!ht->ht_gone)
		health_note(&hc->hc_set->us_addrs[hc->hc_index],
		    ht->ht_relay->rl_name, err,
		    ht->ht_relay->rl_conf->lc_upstream_backoff);
	health_check_free(h, hc);
	health_start_queued(h);
}

/* Connect for check hc; the result comes to health_check_done(). */
static void
health_check_start(struct health *h, struct health_check *hc)
{
	struct health_target		*ht = hc->hc_target;
	const struct listener_config	*lc = ht->ht_relay->rl_conf;
	struct relay_upstream		*ru = &hc->hc_set->us_addrs[hc->hc_index];
	const struct sock_opts		 opts = { 0 };
	struct timeval			 tv;
	uint64_t			 ms = lc->lc_connect_timeout;

	if (ms > ht->ht_interval)
		ms = ht->ht_interval;
	TAILQ_INSERT_TAIL(&h->h_running, hc, hc_entry);
	h->h_nrunning++;
	hc->hc_fd = sock_connect((const struct sockaddr *)&ru->ru_addr.ca_ss,
	    ru->ru_addr.ca_len, lc->lc_upstream_protocol, &opts);
	if (hc->hc_fd == -1) {
		/* Refused at once, or no descriptor: a failed check. */
		event_assign(&hc->hc_ev, h->h_base, -1, 0, health_check_done,
		    hc);
		event_active(&hc->hc_ev, EV_TIMEOUT, 0);
		return;
	}
	tv = clock_tv(ms);
	event_assign(&hc->hc_ev, h->h_base, hc->hc_fd, EV_WRITE,
	    health_check_done, hc);
	if (event_add(&hc->hc_ev, &tv) == -1)
		event_active(&hc->hc_ev, EV_TIMEOUT, 0);
}

static void
health_start_queued(struct health *h)
{
	struct health_check	*hc;

	while (h->h_nrunning < HEALTH_INFLIGHT &&
	    (hc = TAILQ_FIRST(&h->h_queue)) != NULL) {
		TAILQ_REMOVE(&h->h_queue, hc, hc_entry);
		health_check_start(h, hc);
	}
}

/* A section's interval ran out: check each of its addresses once. */
static void
health_tick(evutil_socket_t fd, short what, void *arg)
{
	struct health_target	*ht = arg;
	struct health		*h = ht->ht_health;
	struct health_check	*hc;
	struct relay_upset	*us;
	struct timeval		 tv = clock_tv(ht->ht_interval);
	int			 i;

	(void)fd;
	(void)what;
	evtimer_add(&ht->ht_timer, &tv);
	/* A check still running from the last turn: let it finish first. */
	if (ht->ht_inflight > 0)
		return;
	us = relay_upset_get(ht->ht_relay);
	for (i = 0; i < us->us_n; i++) {
		if ((hc = calloc(1, sizeof(*hc))) == NULL)
			break;
		hc->hc_target = ht;
		hc->hc_set = us;
		__atomic_add_fetch(&us->us_refcnt, 1, __ATOMIC_RELAXED);
		hc->hc_index = i;
		hc->hc_fd = -1;
		ht->ht_inflight++;
		TAILQ_INSERT_TAIL(&h->h_queue, hc, hc_entry);
	}
	relay_upset_put(us);
	health_start_queued(h);
}

/* Forget target ht: at once, or once its checks in flight are done. */
static void
health_target_drop(struct health *h, struct health_target *ht)
{
	struct health_check	*hc, *next;

	evtimer_del(&ht->ht_timer);
	ht->ht_gone = true;
	/* Queued checks never start. */
	for (hc = TAILQ_FIRST(&h->h_queue); hc != NULL; hc = next) {
		next = TAILQ_NEXT(hc, hc_entry);
		if (hc->hc_target != ht)
			continue;
		TAILQ_REMOVE(&h->h_queue, hc, hc_entry);
		relay_upset_put(hc->hc_set);
		free(hc);
		ht->ht_inflight--;
	}
	if (ht->ht_inflight == 0) {
		TAILQ_REMOVE(&h->h_targets, ht, ht_entry);
		relay_unref(ht->ht_relay);
		free(ht);
	}
}

void
health_apply(struct health *h, const struct relay_set *rs)
{
	struct health_target	*ht, *next;
	struct relay		*rl;
	struct timeval		 tv;
	int			 i;

	/* Drop every target; keep none half-configured. */
	for (ht = TAILQ_FIRST(&h->h_targets); ht != NULL; ht = next) {
		next = TAILQ_NEXT(ht, ht_entry);
		if (!ht->ht_gone)
			health_target_drop(h, ht);
	}
	for (i = 0; i < rs->rs_n; i++) {
		rl = rs->rs_relays[i];
		if (rl->rl_conf->lc_health_check_interval == 0)
			continue;
		if ((ht = calloc(1, sizeof(*ht))) == NULL) {
			log_warnx("%s: out of memory: no health checks",
			    rl->rl_name);
			continue;
		}
		ht->ht_health = h;
		relay_ref(rl);
		ht->ht_relay = rl;
		ht->ht_interval = rl->rl_conf->lc_health_check_interval;
		evtimer_assign(&ht->ht_timer, h->h_base, health_tick, ht);
		TAILQ_INSERT_TAIL(&h->h_targets, ht, ht_entry);
		/* The first round at once: a dead address is known early. */
		tv = clock_tv(0);
		evtimer_add(&ht->ht_timer, &tv);
	}
}

void
health_free(struct health *h)
{
	struct health_target	*ht;
	struct health_check	*hc;

	if (h == NULL)
		return;
	while ((hc = TAILQ_FIRST(&h->h_running)) != NULL) {
		hc->hc_target->ht_gone = true;
		health_check_free(h, hc);
	}
	/* Nothing runs now: dropping a target frees it. */
	while ((ht = TAILQ_FIRST(&h->h_targets)) != NULL)
		health_target_drop(h, ht);
	free(h);
}
