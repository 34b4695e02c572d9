/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

/*
 * The runtime object of a section (relay.c): the upstream address set and
 * the per-address state it shares across rebuilds (a reload, a new DNS
 * answer), reference counts, the set of relays a reload prepares and
 * commits, counters per loop summed (from threads too), the section's
 * session cap, and the words of the refusals.
 */

#include "autoconf.h"

#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "config.h"
#include "log.h"
#include "relay.h"
#include "testutil.h"

#define NTHREADS	4
#define NADDS		20000

/*
 * A config from text; host names are taken as written, with no address,
 * as if their first answer had not come yet.
 */
static struct config *
load(const char *text)
{
	return testutil_config(text, CONFIG_LOAD_NO_RESOLVE);
}

static struct listener_config *
section(struct config *cf, int i)
{
	struct listener_config	*lc = TAILQ_FIRST(&cf->cf_listeners);

	while (i-- > 0 && lc != NULL)
		lc = TAILQ_NEXT(lc, lc_entry);
	ck_assert_ptr_nonnull(lc);
	return lc;
}

/* ip:port as a config_addr. */
static struct config_addr
addr(const char *ip, int port)
{
	struct config_addr	 a;
	struct sockaddr_in	*sin = (struct sockaddr_in *)&a.ca_ss;

	memset(&a, 0, sizeof(a));
	sin->sin_family = AF_INET;
	sin->sin_port = htons(port);
	ck_assert_int_eq(inet_pton(AF_INET, ip, &sin->sin_addr), 1);
	a.ca_len = sizeof(*sin);
	return a;
}

/* The state of address ip:port in the relay's current set, or NULL. */
static struct relay_upstate *
state_of(struct relay *rl, const char *ip, int port)
{
	struct relay_upset	*us = relay_upset_get(rl);
	struct relay_upstate	*st = NULL;
	struct config_addr	 a = addr(ip, port);
	int			 i;

	for (i = 0; i < us->us_n; i++)
		if (config_addr_equal(&us->us_addrs[i].ru_addr, &a))
			st = us->us_addrs[i].ru_st;
	relay_upset_put(us);
	return st;
}

static int
set_size(struct relay *rl)
{
	struct relay_upset	*us = relay_upset_get(rl);
	int			 n = us->us_n;

	relay_upset_put(us);
	return n;
}

static unsigned
refs(const unsigned *refcnt)
{
	return __atomic_load_n(refcnt, __ATOMIC_RELAXED);
}

static const char named_config[] =
    "[web]\nlisten = 127.0.0.1:1000\n"
    "upstream = up.example.test:80\nupstream = 127.0.0.9:81\n";

/* A relay for named_config, which only the relay's reference keeps. */
static struct relay *
named_relay(int nloops)
{
	struct config	*cf = load(named_config);
	struct relay	*rl;

	ck_assert_ptr_nonnull(rl = relay_new(cf, section(cf, 0), nloops));
	config_unref(cf);
	return rl;
}

/* --- the relay and its address set ---------------------------------------- */

START_TEST(test_new_builds_the_address_set)
{
	struct config		*cf = load("[web]\nlisten = 127.0.0.1:1000\n"
	    "upstream = 127.0.0.1:80\nupstream = 127.0.0.2:80\n"
	    "upstream = 127.0.0.1:80\n");
	struct relay		*rl;
	struct relay_counters	 sum;
	struct relay_upset	*us;

	ck_assert_uint_eq(refs(&cf->cf_refcnt), 1);
	ck_assert_ptr_nonnull(rl = relay_new(cf, section(cf, 0), 3));
	ck_assert_str_eq(rl->rl_name, "web");
	ck_assert_uint_eq(refs(&rl->rl_refcnt), 1);
	ck_assert_uint_eq(refs(&cf->cf_refcnt), 2);	/* the relay's */
	ck_assert_ptr_eq(rl->rl_config, cf);
	ck_assert_ptr_eq(rl->rl_conf, section(cf, 0));
	ck_assert_int_eq(rl->rl_nloops, 3);
	ck_assert_uint_eq(rl->rl_sessions, 0);
	relay_counters_sum(rl, &sum);
	ck_assert_uint_eq(sum.rc_bytes_in + sum.rc_active + sum.rc_ends[0], 0);

	/* An address named twice is in the set once, in the file's order. */
	us = relay_upset_get(rl);
	ck_assert_int_eq(us->us_n, 2);
	ck_assert_uint_eq(refs(&us->us_refcnt), 2);	/* the relay's, ours */
	ck_assert_str_eq(us->us_addrs[0].ru_addr.ca_text, "127.0.0.1:80");
	ck_assert_str_eq(us->us_addrs[1].ru_addr.ca_text, "127.0.0.2:80");
	ck_assert_ptr_ne(us->us_addrs[0].ru_st, us->us_addrs[1].ru_st);
	ck_assert_uint_eq(refs(&us->us_addrs[0].ru_st->rs_refcnt), 1);
	relay_upset_put(us);

	relay_ref(rl);
	ck_assert_uint_eq(refs(&rl->rl_refcnt), 2);
	relay_unref(rl);
	ck_assert_uint_eq(refs(&cf->cf_refcnt), 2);
	relay_unref(rl);		/* the last: frees it, and its config ref */
	ck_assert_uint_eq(refs(&cf->cf_refcnt), 1);
	relay_unref(NULL);		/* a no-op */
	config_unref(cf);
}
END_TEST

/* A set a session holds outlives the relay's swap to a new one. */
START_TEST(test_held_set_outlives_the_relay)
{
	struct relay		*rl = named_relay(1);
	struct relay_upset	*us;

	us = relay_upset_get(rl);
	relay_unref(rl);
	/* Still ours: its addresses and their state can be read. */
	ck_assert_int_eq(us->us_n, 1);
	ck_assert_uint_eq(us->us_addrs[0].ru_st->rs_active, 0);
	relay_upset_put(us);
}
END_TEST

/*
 * A reload: sections keep their relay by name (and its state), a new
 * one gets a new relay, a removed one is released but lives on while a
 * session holds it; the kept relay's new address set keeps the state of
 * the addresses still there.
 */
START_TEST(test_reload_keeps_relays_and_address_state)
{
	struct config		*cf1 = load(
	    "[a]\nlisten = 127.0.0.1:1000\n"
	    "upstream = 127.0.0.1:80\nupstream = 127.0.0.2:80\n"
	    "[b]\nlisten = 127.0.0.1:1001\nupstream = 127.0.0.3:80\n");
	struct config		*cf2 = load(
	    "[c]\nlisten = 127.0.0.1:1002\nupstream = 127.0.0.4:80\n"
	    "[a]\nlisten = 127.0.0.1:1000\n"
	    "upstream = 127.0.0.2:80\nupstream = 127.0.0.5:80\n");
	struct relay_set	 none = { NULL, 0 }, cur, next;
	struct relay		*a, *b;
	struct relay_upstate	*st2;
	struct relay_upset	*held;

	ck_assert_int_eq(relay_set_prepare(&none, cf1, 2, &cur), 0);
	relay_set_commit(&none, &cur, cf1);
	ck_assert_int_eq(none.rs_n, 2);
	cur = none;
	a = cur.rs_relays[0];
	b = cur.rs_relays[1];
	ck_assert_str_eq(a->rl_name, "a");
	ck_assert_str_eq(b->rl_name, "b");
	ck_assert_uint_eq(refs(&cf1->cf_refcnt), 3);

	/* What happened to the addresses so far, and a session on one. */
	st2 = state_of(a, "127.0.0.2", 80);
	ck_assert_ptr_nonnull(st2);
	st2->rs_connects[RELAY_CONNECT_OK] = 5;
	st2->rs_active = 1;
	state_of(a, "127.0.0.1", 80)->rs_connects[RELAY_CONNECT_REFUSED] = 7;
	held = relay_upset_get(a);
	relay_ref(b);			/* a session of b's */

	ck_assert_int_eq(relay_set_prepare(&cur, cf2, 2, &next), 0);
	ck_assert_int_eq(next.rs_n, 2);
	/* In cf2's order: c new, a kept; cur untouched until the commit. */
	ck_assert_str_eq(next.rs_relays[0]->rl_name, "c");
	ck_assert_ptr_eq(next.rs_relays[1], a);
	ck_assert_ptr_eq(a->rl_conf, section(cf1, 0));
	ck_assert_uint_eq(refs(&a->rl_refcnt), 2);
	ck_assert_int_eq(cur.rs_n, 2);

	relay_set_commit(&cur, &next, cf2);
	ck_assert_int_eq(cur.rs_n, 2);
	ck_assert_ptr_null(next.rs_relays);
	ck_assert_int_eq(next.rs_n, 0);
	ck_assert_ptr_eq(a->rl_conf, section(cf2, 1));
	ck_assert_ptr_eq(a->rl_config, cf2);
	ck_assert_uint_eq(refs(&a->rl_refcnt), 1);
	/* cf1: ours and b's (a took cf2). */
	ck_assert_uint_eq(refs(&cf1->cf_refcnt), 2);

	/* The state of 127.0.0.2:80 carried over; 127.0.0.5:80 is new. */
	ck_assert_ptr_eq(state_of(a, "127.0.0.2", 80), st2);
	ck_assert_uint_eq(st2->rs_connects[RELAY_CONNECT_OK], 5);
	ck_assert_uint_eq(st2->rs_active, 1);
	ck_assert_ptr_nonnull(state_of(a, "127.0.0.5", 80));
	ck_assert_uint_eq(state_of(a, "127.0.0.5", 80)->rs_connects[0], 0);
	ck_assert_ptr_null(state_of(a, "127.0.0.1", 80));
	ck_assert_int_eq(set_size(a), 2);
	/* The session's set still has the removed address and its state. */
	ck_assert_int_eq(held->us_n, 2);
	ck_assert_uint_eq(held->us_addrs[0].ru_st->rs_connects[
	    RELAY_CONNECT_REFUSED], 7);
	ck_assert_ptr_eq(held->us_addrs[1].ru_st, st2);
	ck_assert_uint_eq(refs(&st2->rs_refcnt), 2);	/* both sets */
	relay_upset_put(held);
	ck_assert_uint_eq(refs(&st2->rs_refcnt), 1);

	/* b left the set but lives on with its session. */
	ck_assert_str_eq(b->rl_name, "b");
	ck_assert_uint_eq(refs(&b->rl_refcnt), 1);
	relay_unref(b);
	ck_assert_uint_eq(refs(&cf1->cf_refcnt), 1);

	relay_set_clear(&cur);
	ck_assert_int_eq(cur.rs_n, 0);
	ck_assert_ptr_null(cur.rs_relays);
	ck_assert_uint_eq(refs(&cf2->cf_refcnt), 1);
	config_unref(cf1);
	config_unref(cf2);
}
END_TEST

/* Many sections: each kept by name, whatever the order. */
START_TEST(test_prepare_matches_many_names)
{
	char			*t1, *t2, *p;
	struct config		*cf1, *cf2;
	struct relay_set	 none = { NULL, 0 }, cur, next;
	int			 i, n = 200;

	ck_assert_ptr_nonnull(t1 = malloc((size_t)n * 80));
	ck_assert_ptr_nonnull(t2 = malloc((size_t)n * 80));
	for (p = t1, i = 0; i < n; i++)
		p += sprintf(p, "[s%d]\nlisten = 127.0.0.1:%d\n"
		    "upstream = 127.0.0.1:80\n", i, 2000 + i);
	/* The reverse order, and every other section. */
	for (p = t2, *p = '\0', i = n - 1; i >= 0; i -= 2)
		p += sprintf(p, "[s%d]\nlisten = 127.0.0.1:%d\n"
		    "upstream = 127.0.0.1:80\n", i, 2000 + i);
	cf1 = load(t1);
	cf2 = load(t2);
	ck_assert_int_eq(relay_set_prepare(&none, cf1, 1, &cur), 0);
	ck_assert_int_eq(relay_set_prepare(&cur, cf2, 1, &next), 0);
	ck_assert_int_eq(next.rs_n, n / 2);
	for (i = 0; i < next.rs_n; i++)
		ck_assert_ptr_eq(next.rs_relays[i], cur.rs_relays[n - 1 - 2 * i]);
	relay_set_clear(&next);
	relay_set_clear(&cur);
	config_unref(cf1);
	config_unref(cf2);
	free(t1);
	free(t2);
}
END_TEST

/* --- DNS answers ------------------------------------------------------------ */

START_TEST(test_resolved_rebuilds_keeping_state)
{
	struct relay		*rl = named_relay(1);
	struct config_addr	 ans[3];
	struct relay_upstate	*st9, *st2;
	struct relay_upset	*us;
	struct testutil_capture	 cap;
	char			*text;

	/* The name has no address yet: only the other line's. */
	ck_assert_int_eq(set_size(rl), 1);
	ck_assert_ptr_nonnull(st9 = state_of(rl, "127.0.0.9", 81));

	testutil_capture_start(&cap);
	ans[0] = addr("127.0.0.1", 80);
	ans[1] = addr("127.0.0.2", 80);
	relay_resolved(rl, 0, ans, 2);
	text = testutil_capture_end(&cap);
	ck_assert_int_eq(testutil_count(text, "web: upstream up.example.test:80 "
	    "now also resolves to 127.0.0.1:80"), 1);
	ck_assert_int_eq(testutil_count(text, "now also resolves to "
	    "127.0.0.2:80"), 1);
	ck_assert_int_eq(testutil_count(text, "127.0.0.9"), 0);
	free(text);
	ck_assert_int_eq(set_size(rl), 3);
	ck_assert_ptr_eq(state_of(rl, "127.0.0.9", 81), st9);
	us = relay_upset_get(rl);
	/* The name's addresses first, as its line is; its text on each. */
	ck_assert_str_eq(us->us_addrs[0].ru_addr.ca_text,
	    "up.example.test:80");
	ck_assert_str_eq(us->us_addrs[0].ru_host, "up.example.test");
	ck_assert_str_eq(us->us_addrs[2].ru_addr.ca_text, "127.0.0.9:81");
	relay_upset_put(us);
	st2 = state_of(rl, "127.0.0.2", 80);
	st2->rs_connects[RELAY_CONNECT_OK] = 3;

	/* 127.0.0.1 gone, 127.0.0.3 new: each said once. */
	testutil_capture_start(&cap);
	ans[0] = addr("127.0.0.3", 80);
	ans[1] = addr("127.0.0.2", 80);
	relay_resolved(rl, 0, ans, 2);
	text = testutil_capture_end(&cap);
	ck_assert_int_eq(testutil_count(text, "now also resolves to "
	    "127.0.0.3:80"), 1);
	ck_assert_int_eq(testutil_count(text, "no longer resolves to "
	    "127.0.0.1:80 (its sessions go on)"), 1);
	ck_assert_int_eq(testutil_count(text, "127.0.0.2:80"), 0);
	free(text);
	ck_assert_int_eq(set_size(rl), 3);
	ck_assert_ptr_null(state_of(rl, "127.0.0.1", 80));
	ck_assert_ptr_eq(state_of(rl, "127.0.0.2", 80), st2);
	ck_assert_uint_eq(st2->rs_connects[RELAY_CONNECT_OK], 3);
	ck_assert_ptr_eq(state_of(rl, "127.0.0.9", 81), st9);

	relay_unref(rl);
}
END_TEST

/* The same answer in another order, no answer, another line: no change. */
START_TEST(test_resolved_without_change)
{
	struct relay		*rl = named_relay(1);
	struct config_addr	 ans[2];
	struct relay_upset	*before, *after;
	struct testutil_capture	 cap;
	char			*text;

	ans[0] = addr("127.0.0.1", 80);
	ans[1] = addr("127.0.0.2", 80);
	relay_resolved(rl, 0, ans, 2);
	before = relay_upset_get(rl);

	testutil_capture_start(&cap);
	ans[0] = addr("127.0.0.2", 80);
	ans[1] = addr("127.0.0.1", 80);
	relay_resolved(rl, 0, ans, 2);
	relay_resolved(rl, 0, ans, 0);		/* no answer: keep */
	relay_resolved(rl, -1, ans, 2);		/* no such line */
	relay_resolved(rl, 2, ans, 2);
	text = testutil_capture_end(&cap);
	ck_assert_str_eq(text, "");
	free(text);
	after = relay_upset_get(rl);
	ck_assert_ptr_eq(after, before);
	ck_assert_int_eq(after->us_n, 3);
	relay_upset_put(after);
	relay_upset_put(before);
	relay_unref(rl);
}
END_TEST

/* An answer longer than a name may have: the first CONFIG_ADDRS_MAX. */
START_TEST(test_resolved_answer_capped)
{
	struct relay		*rl = named_relay(1);
	struct config_addr	 ans[CONFIG_ADDRS_MAX + 3];
	char			 ip[32];
	int			 i;

	for (i = 0; i < CONFIG_ADDRS_MAX + 3; i++) {
		snprintf(ip, sizeof(ip), "127.0.1.%d", i + 1);
		ans[i] = addr(ip, 80);
	}
	log_setlevel(LOG_LVL_WARNING);
	relay_resolved(rl, 0, ans, CONFIG_ADDRS_MAX + 3);
	ck_assert_int_eq(set_size(rl), CONFIG_ADDRS_MAX + 1);
	ck_assert_ptr_nonnull(state_of(rl, "127.0.1.1", 80));
	snprintf(ip, sizeof(ip), "127.0.1.%d", CONFIG_ADDRS_MAX + 1);
	ck_assert_ptr_null(state_of(rl, ip, 80));
	relay_unref(rl);
}
END_TEST

/*
 * A name that now resolves to an address another upstream line has: the
 * name's old address must leave the set (relay.h: "rebuild the address
 * set"). An answer is "the same" only against the name's own addresses,
 * not against every address of the set.
 */
START_TEST(test_resolved_to_another_lines_address)
{
	struct relay		*rl = named_relay(1);
	struct config_addr	 ans = addr("127.0.0.1", 80);

	relay_resolved(rl, 0, &ans, 1);
	ck_assert_int_eq(set_size(rl), 2);
	ans = addr("127.0.0.9", 81);	/* the other line's address */
	relay_resolved(rl, 0, &ans, 1);
	ck_assert_msg(state_of(rl, "127.0.0.1", 80) == NULL,
	    "127.0.0.1:80 still in the set: the name no longer resolves to it");
	ck_assert_int_eq(set_size(rl), 1);
	relay_unref(rl);
}
END_TEST

/* --- counters --------------------------------------------------------------- */

START_TEST(test_counters_summed_over_loops)
{
	struct relay		*rl = named_relay(3);
	struct relay_counters	 sum;
	int			 l;

	for (l = 0; l < 3; l++) {
		/* Each loop's block on a cache line of its own. */
		ck_assert_uint_eq((uintptr_t)relay_counters(rl, l) % 64, 0);
		RELAY_COUNT(relay_counters(rl, l), rc_bytes_in, 100 * (l + 1));
		RELAY_COUNT(relay_counters(rl, l), rc_ends[l], 1);
		RELAY_COUNT(relay_counters(rl, l), rc_refused[
		    RELAY_REFUSED_ACL], 2);
		relay_count_subflows(relay_counters(rl, l), 2);
	}
	RELAY_COUNT(relay_counters(rl, 2), rc_subflows_sum, 1);
	relay_counters_sum(rl, &sum);
	ck_assert_uint_eq(sum.rc_bytes_in, 600);
	ck_assert_uint_eq(sum.rc_ends[0], 1);
	ck_assert_uint_eq(sum.rc_ends[2], 1);
	ck_assert_uint_eq(sum.rc_ends[3], 0);
	ck_assert_uint_eq(sum.rc_refused[RELAY_REFUSED_ACL], 6);
	ck_assert_uint_eq(sum.rc_subflows[1], 3);
	ck_assert_uint_eq(sum.rc_subflows_sum, 7);
	ck_assert_uint_eq(sum.rc_bytes_out, 0);
	/* Summing reads; it changes nothing. */
	relay_counters_sum(rl, &sum);
	ck_assert_uint_eq(sum.rc_bytes_in, 600);
	relay_unref(rl);
}
END_TEST

/* The session end's hook puts each count in its bucket and the sum. */
START_TEST(test_subflow_buckets)
{
	static const unsigned	seen[] = { 0, 1, 1, 2, 3, 4, 5, 8, 9, 200 };
	static const uint64_t	want[RELAY_SUBFLOW_NBOUNDS + 1] = {
		3, 1, 1, 1, 2, 2
	};
	struct relay_counters	c;
	uint64_t		sum = 0;
	size_t			i;

	memset(&c, 0, sizeof(c));
	for (i = 0; i < sizeof(seen) / sizeof(seen[0]); i++) {
		relay_count_subflows(&c, seen[i]);
		sum += seen[i];
	}
	for (i = 0; i <= RELAY_SUBFLOW_NBOUNDS; i++)
		ck_assert_msg(c.rc_subflows[i] == want[i],
		    "bucket %zu: %llu, want %llu", i,
		    (unsigned long long)c.rc_subflows[i],
		    (unsigned long long)want[i]);
	ck_assert_uint_eq(c.rc_subflows_sum, sum);
}
END_TEST

struct counting {
	struct relay	*rl;
	int		 loop;
	unsigned	 max;		/* relay_session_take()'s cap */
	int		 taken;
};

static void *
count_loop(void *arg)
{
	struct counting		*ct = arg;
	struct relay_counters	*c = relay_counters(ct->rl, ct->loop);
	int			 i;

	for (i = 0; i < NADDS; i++) {
		RELAY_COUNT(c, rc_bytes_in, 3);
		RELAY_COUNT(c, rc_ends[1], 1);
	}
	return NULL;
}

/* Loops count in their own threads while another reads the sums. */
START_TEST(test_counters_from_threads)
{
	struct relay		*rl = named_relay(NTHREADS);
	struct counting		 ct[NTHREADS];
	pthread_t		 th[NTHREADS];
	struct relay_counters	 sum;
	uint64_t		 last = 0;
	int			 i;

	for (i = 0; i < NTHREADS; i++) {
		ct[i] = (struct counting){ rl, i, 0, 0 };
		ck_assert_int_eq(pthread_create(&th[i], NULL, count_loop,
		    &ct[i]), 0);
	}
	/* Sums read meanwhile only grow. */
	for (i = 0; i < 1000; i++) {
		relay_counters_sum(rl, &sum);
		ck_assert_uint_ge(sum.rc_bytes_in, last);
		ck_assert_uint_le(sum.rc_bytes_in, 3ULL * NADDS * NTHREADS);
		last = sum.rc_bytes_in;
	}
	for (i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
	relay_counters_sum(rl, &sum);
	ck_assert_uint_eq(sum.rc_bytes_in, 3ULL * NADDS * NTHREADS);
	ck_assert_uint_eq(sum.rc_ends[1], (uint64_t)NADDS * NTHREADS);
	relay_unref(rl);
}
END_TEST

/* --- sessions of the section ---------------------------------------------- */

START_TEST(test_session_take_at_the_cap)
{
	struct relay	*rl = named_relay(1);
	int		 i;

	for (i = 0; i < 3; i++)
		ck_assert(relay_session_take(rl, 3));
	ck_assert(!relay_session_take(rl, 3));
	ck_assert_uint_eq(rl->rl_sessions, 3);
	relay_session_out(rl);
	ck_assert(relay_session_take(rl, 3));
	ck_assert(!relay_session_take(rl, 3));
	/* A lower cap (a reload) refuses until enough have ended. */
	ck_assert(!relay_session_take(rl, 2));
	/* No cap: always, and counted. */
	ck_assert(relay_session_take(rl, 0));
	ck_assert_uint_eq(rl->rl_sessions, 4);
	relay_session_in(rl);
	ck_assert_uint_eq(rl->rl_sessions, 5);
	for (i = 0; i < 5; i++)
		relay_session_out(rl);
	ck_assert_uint_eq(rl->rl_sessions, 0);
	relay_unref(rl);
}
END_TEST

static void *
take_loop(void *arg)
{
	struct counting	*ct = arg;
	int		 i;

	for (i = 0; i < 1000; i++)
		if (relay_session_take(ct->rl, ct->max))
			ct->taken++;
	return NULL;
}

/* Threads racing for the last places never take more than the cap. */
START_TEST(test_session_take_from_threads)
{
	struct relay	*rl = named_relay(1);
	struct counting	 ct[NTHREADS];
	pthread_t	 th[NTHREADS];
	int		 i, total = 0;

	for (i = 0; i < NTHREADS; i++) {
		ct[i] = (struct counting){ rl, 0, 1500, 0 };
		ck_assert_int_eq(pthread_create(&th[i], NULL, take_loop,
		    &ct[i]), 0);
	}
	for (i = 0; i < NTHREADS; i++) {
		pthread_join(th[i], NULL);
		total += ct[i].taken;
	}
	ck_assert_int_eq(total, 1500);
	ck_assert_uint_eq(rl->rl_sessions, 1500);
	relay_unref(rl);
}
END_TEST

START_TEST(test_refusal_names)
{
	ck_assert_str_eq(relay_refusal_name(RELAY_REFUSED_ACL), "acl");
	ck_assert_str_eq(relay_refusal_name(RELAY_REFUSED_PROXY_HEADER),
	    "proxy_header");
	ck_assert_str_eq(relay_refusal_name(RELAY_REFUSED_TLS_HANDSHAKE),
	    "tls_handshake");
	ck_assert_str_eq(relay_refusal_name(RELAY_REFUSED__MAX), "unknown");
	ck_assert_str_eq(relay_refusal_name((enum relay_refusal)99), "unknown");
}
END_TEST

int
main(void)
{
	Suite		*s = suite_create("relay");
	TCase		*tc = tcase_create("relay");

	log_init(LOG_LVL_INFO);
	tcase_add_test(tc, test_new_builds_the_address_set);
	tcase_add_test(tc, test_held_set_outlives_the_relay);
	tcase_add_test(tc, test_reload_keeps_relays_and_address_state);
	tcase_add_test(tc, test_prepare_matches_many_names);
	tcase_add_test(tc, test_resolved_rebuilds_keeping_state);
	tcase_add_test(tc, test_resolved_without_change);
	tcase_add_test(tc, test_resolved_answer_capped);
	tcase_add_test(tc, test_resolved_to_another_lines_address);
	tcase_add_test(tc, test_counters_summed_over_loops);
	tcase_add_test(tc, test_subflow_buckets);
	tcase_add_test(tc, test_counters_from_threads);
	tcase_add_test(tc, test_session_take_at_the_cap);
	tcase_add_test(tc, test_session_take_from_threads);
	tcase_add_test(tc, test_refusal_names);
	suite_add_tcase(s, tc);
	return testutil_run(srunner_create(s));
}
