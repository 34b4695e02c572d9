/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

#include "autoconf.h"

#include <sys/queue.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <event2/util.h>

#include "clock.h"
#include "log.h"
#include "resolve.h"

#define RESOLVE_HOSTS	"/etc/hosts"

/*
 * A pass of the loop, without waiting, makes libevent call back the
 * queries that resolver_free() cancels; a few more are for safety only.
 */
#define RESOLVE_FREE_PASSES	4

struct resolve_target;

struct resolve_query {
	TAILQ_ENTRY(resolve_query) q_entry;
	struct resolve_round	*q_round;
	/* To cancel it: NULL until evdns_getaddrinfo() returns. */
	struct evdns_getaddrinfo_request *q_req;
	int			 q_index;	/* in the relay's rl_ups */
};
TAILQ_HEAD(resolve_queries, resolve_query);

/* One round of one section: its names asked once, with a fresh evdns. */
struct resolve_round {
	struct resolve_target	*rr_target;
	struct evdns_base	*rr_dns;
	struct resolve_queries	 rr_queries;	/* not answered yet */
	unsigned		 rr_pending;	/* queries not answered yet */
	unsigned		 rr_gen;	/* of the relay's names asked */
	struct event		 rr_done;	/* frees the round, outside evdns */
};

/* One section whose names are resolved again now and then. */
struct resolve_target {
	TAILQ_ENTRY(resolve_target) rt_entry;
	struct resolver		*rt_resolver;
	struct relay		*rt_relay;	/* referenced */
	uint64_t		 rt_interval;	/* ms */
	struct event		 rt_timer;
	struct resolve_round	*rt_round;	/* in progress, or NULL */
	bool			 rt_gone;	/* no longer in the running set */
	bool			*rt_failing;	/* per name: said it fails */
};
TAILQ_HEAD(resolve_targets, resolve_target);

struct resolver {
	struct event_base	*r_base;
	struct resolve_targets	 r_targets;
};

struct resolver *
resolver_new(struct event_base *base)
{
	struct resolver	*r;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	r->r_base = base;
	TAILQ_INIT(&r->r_targets);
	return r;
}

static void
resolve_target_free(struct resolve_target *rt)
{
	TAILQ_REMOVE(&rt->rt_resolver->r_targets, rt, rt_entry);
	relay_unref(rt->rt_relay);
	free(rt->rt_failing);
	free(rt);
}

static void
resolve_round_done(evutil_socket_t fd, short what, void *arg)
{
	struct resolve_round	*rr = arg;
	struct resolve_target	*rt = rr->rr_target;

	(void)fd;
	(void)what;
	evdns_base_free(rr->rr_dns, 0);
	rt->rt_round = NULL;
	free(rr);
	if (rt->rt_gone)
		resolve_target_free(rt);
}

/* The addresses of an answer, at most CONFIG_ADDRS_MAX, each once. */
static int
resolve_addrs(struct evutil_addrinfo *res, struct config_addr *addrs)
{
	struct evutil_addrinfo	*ai;
	int			 n = 0, i;

	for (ai = res; ai != NULL && n < CONFIG_ADDRS_MAX; ai = ai->ai_next) {
		if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) ||
		    ai->ai_addrlen > sizeof(addrs[n].ca_ss))
			continue;
		memset(&addrs[n], 0, sizeof(addrs[n]));
		memcpy(&addrs[n].ca_ss, ai->ai_addr, ai->ai_addrlen);
		addrs[n].ca_len = (socklen_t)ai->ai_addrlen;
		for (i = 0; i < n; i++)
			if (config_addr_equal(&addrs[i], &addrs[n]))
				break;
		if (i == n)
			n++;
	}
	return n;
}

static void
resolve_answer(int result, struct evutil_addrinfo *res, void *arg)
{
	struct resolve_query	*q = arg;
	struct resolve_round	*rr = q->q_round;
	struct resolve_target	*rt = rr->rr_target;
	struct relay		*rl = rt->rt_relay;
	struct config_addr	 addrs[CONFIG_ADDRS_MAX];
	int			 n = 0;

	/* Answered: evdns_getaddrinfo_cancel() must not see it now. */
	TAILQ_REMOVE(&rr->rr_queries, q, q_entry);
	if (result == 0)
		n = resolve_addrs(res, addrs);
	if (res != NULL)
		evutil_freeaddrinfo(res);
	/*
	 * A reload changed the names meanwhile: the answer is stale. Only
	 * resolver_free() cancels (EVUTIL_EAI_CANCEL), for a target gone.
	 */
	if (!rt->rt_gone && rr->rr_gen == rl->rl_ups_gen) {
		if (n > 0) {
			if (rt->rt_failing[q->q_index])
				log_notice("%s: upstream %s resolves again",
				    rl->rl_name, rl->rl_ups[q->q_index].cu_text);
			rt->rt_failing[q->q_index] = false;
			relay_resolved(rl, q->q_index, addrs, n);
		} else if (!rt->rt_failing[q->q_index]) {
			rt->rt_failing[q->q_index] = true;
			log_warnx("%s: cannot resolve upstream %s again: %s; "
			    "keeping its %d address%s", rl->rl_name,
			    rl->rl_ups[q->q_index].cu_text, result == 0 ?
			    "no IPv4 or IPv6 address" :
			    evutil_gai_strerror(result),
			    rl->rl_ups[q->q_index].cu_naddrs,
			    rl->rl_ups[q->q_index].cu_naddrs == 1 ? "" : "es");
		}
	}
	free(q);
	if (--rr->rr_pending == 0)
		event_active(&rr->rr_done, EV_READ, 0);
}

/* A section's interval ran out: ask for each of its names again. */
static void
resolve_tick(evutil_socket_t fd, short what, void *arg)
{
	struct resolve_target	*rt = arg;
	struct resolver		*r = rt->rt_resolver;
	struct relay		*rl = rt->rt_relay;
	struct resolve_round	*rr;
	struct resolve_query	*q;
	struct evdns_getaddrinfo_request *req;
	struct evutil_addrinfo	 hints;
	struct timeval		 tv = clock_tv(rt->rt_interval);
	char			 port[8];
	int			 i;

	(void)fd;
	(void)what;
	evtimer_add(&rt->rt_timer, &tv);
	if (rt->rt_round != NULL)
		return;		/* the last round still waits for answers */
	if ((rr = calloc(1, sizeof(*rr))) == NULL)
		return;
	rr->rr_target = rt;
	rr->rr_gen = rl->rl_ups_gen;
	TAILQ_INIT(&rr->rr_queries);
	event_assign(&rr->rr_done, r->r_base, -1, 0, resolve_round_done, rr);
	rr->rr_dns = evdns_base_new(r->r_base,
	    EVDNS_BASE_INITIALIZE_NAMESERVERS |
	    EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	if (rr->rr_dns == NULL) {
		log_warnx("%s: cannot start a DNS resolver", rl->rl_name);
		free(rr);
		return;
	}
	(void)evdns_base_load_hosts(rr->rr_dns, RESOLVE_HOSTS);
	rt->rt_round = rr;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	/* One more, so that answers given at once cannot end the round. */
	rr->rr_pending = 1;
	for (i = 0; i < rl->rl_nups; i++) {
		if (!rl->rl_ups[i].cu_named ||
		    (q = calloc(1, sizeof(*q))) == NULL)
			continue;
		q->q_round = rr;
		q->q_index = i;
		TAILQ_INSERT_TAIL(&rr->rr_queries, q, q_entry);
		rr->rr_pending++;
		snprintf(port, sizeof(port), "%u", rl->rl_ups[i].cu_port);
		/*
		 * The answer may come at once, from /etc/hosts: then q is
		 * freed already and there is no request (NULL).
		 */
		if ((req = evdns_getaddrinfo(rr->rr_dns, rl->rl_ups[i].cu_host,
		    port, &hints, resolve_answer, q)) != NULL)
			q->q_req = req;
	}
	if (--rr->rr_pending == 0)
		event_active(&rr->rr_done, EV_READ, 0);
}

/* Forget target rt: at once, or once its round in progress is done. */
static void
resolve_target_drop(struct resolve_target *rt)
{
	evtimer_del(&rt->rt_timer);
	rt->rt_gone = true;
	if (rt->rt_round == NULL)
		resolve_target_free(rt);
}

void
resolver_apply(struct resolver *r, const struct relay_set *rs)
{
	struct resolve_target	*rt, *next;
	struct relay		*rl;
	struct timeval		 tv;
	int			 i, j, named;

	for (rt = TAILQ_FIRST(&r->r_targets); rt != NULL; rt = next) {
		next = TAILQ_NEXT(rt, rt_entry);
		if (!rt->rt_gone)
			resolve_target_drop(rt);
	}
	for (i = 0; i < rs->rs_n; i++) {
		rl = rs->rs_relays[i];
		for (named = 0, j = 0; j < rl->rl_nups; j++)
			named += rl->rl_ups[j].cu_named;
		if (named == 0 || rl->rl_conf->lc_resolve_interval == 0)
			continue;
		if ((rt = calloc(1, sizeof(*rt))) == NULL ||
		    (rt->rt_failing = calloc((size_t)rl->rl_nups,
		    sizeof(bool))) == NULL) {
			free(rt);
			log_warnx("%s: out of memory: host names not resolved "
			    "again", rl->rl_name);
			continue;
		}
		rt->rt_resolver = r;
		relay_ref(rl);
		rt->rt_relay = rl;
		rt->rt_interval = rl->rl_conf->lc_resolve_interval;
		evtimer_assign(&rt->rt_timer, r->r_base, resolve_tick, rt);
		TAILQ_INSERT_TAIL(&r->r_targets, rt, rt_entry);
		tv = clock_tv(rt->rt_interval);
		evtimer_add(&rt->rt_timer, &tv);
	}
}

void
resolver_free(struct resolver *r)
{
	struct resolve_target	*rt, *next;
	struct resolve_query	*q;
	int			 i;

	if (r == NULL)
		return;
	for (rt = TAILQ_FIRST(&r->r_targets); rt != NULL; rt = next) {
		next = TAILQ_NEXT(rt, rt_entry);
		evtimer_del(&rt->rt_timer);
		rt->rt_gone = true;
		if (rt->rt_round == NULL) {
			resolve_target_free(rt);
			continue;
		}
		/*
		 * Cancel what is in flight. libevent still calls each back,
		 * with EVUTIL_EAI_CANCEL, but from the loop: its answer frees
		 * the query, the last one ends the round (rr_done), which
		 * frees the evdns base, then the target.
		 */
		TAILQ_FOREACH(q, &rt->rt_round->rr_queries, q_entry)
			if (q->q_req != NULL)
				evdns_getaddrinfo_cancel(q->q_req);
	}
	for (i = 0; i < RESOLVE_FREE_PASSES &&
	    !TAILQ_EMPTY(&r->r_targets); i++)
		if (event_base_loop(r->r_base, EVLOOP_NONBLOCK) == -1)
			break;
	/*
	 * Called from the loop itself, it cannot run: what is left frees
	 * itself when the loop calls back, and needs r for that.
	 */
	if (!TAILQ_EMPTY(&r->r_targets)) {
		log_warnx("DNS queries still in flight: resolver left to them");
		return;
	}
	free(r);
}
