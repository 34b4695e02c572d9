/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

/*
 * Choosing an upstream address (balance, passive back-off, health checks)
 * and recording outcomes, on address sets made here: no sockets. What a
 * health check's outcome does to an address is check_health's.
 */

#include "autoconf.h"

#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "clock.h"
#include "log.h"
#include "relay.h"
#include "upstream.h"

#define BACKOFF	10000

/* A set of n addresses 127.0.0.1:9000+i, each with a state of its own. */
static struct relay_upset *
set_new(int n)
{
	struct relay_upset	*us;
	struct sockaddr_in	*sin;
	int			 i;

	ck_assert_ptr_nonnull(us = calloc(1, sizeof(*us) +
	    (size_t)n * sizeof(us->us_addrs[0])));
	us->us_refcnt = 1;
	us->us_n = n;
	for (i = 0; i < n; i++) {
		sin = (struct sockaddr_in *)&us->us_addrs[i].ru_addr.ca_ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(9000 + i);
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		us->us_addrs[i].ru_addr.ca_len = sizeof(*sin);
		snprintf(us->us_addrs[i].ru_addr.ca_text,
		    sizeof(us->us_addrs[i].ru_addr.ca_text), "a%d", i);
		ck_assert_ptr_nonnull(us->us_addrs[i].ru_st =
		    calloc(1, sizeof(struct relay_upstate)));
		us->us_addrs[i].ru_st->rs_refcnt = 1;
	}
	return us;
}

/* The order a session would try the addresses in. */
static void
order(const struct relay_upset *us, enum config_balance b, unsigned start,
    uint64_t now, int *out)
{
	uint64_t	tried = 0;
	int		i, k;

	for (k = 0; k < us->us_n; k++) {
		i = upstream_pick(us, b, BACKOFF, start, tried, now);
		ck_assert_int_ge(i, 0);
		ck_assert(!(tried & (1ULL << i)));
		tried |= 1ULL << i;
		out[k] = i;
	}
	ck_assert_int_eq(upstream_pick(us, b, BACKOFF, start, tried, now), -1);
}

#define ASSERT_ORDER(got, ...) do {					\
	const int	want_[] = { __VA_ARGS__ };			\
	size_t		i_;						\
									\
	for (i_ = 0; i_ < sizeof(want_) / sizeof(want_[0]); i_++)	\
		ck_assert_msg((got)[i_] == want_[i_],			\
		    "position %zu: %d, want %d", i_, (got)[i_], want_[i_]); \
} while (0)

START_TEST(test_roundrobin_turns)
{
	struct relay_upset	*us = set_new(3);
	int			 o[3];

	order(us, CONFIG_BALANCE_ROUNDROBIN, 0, 100000, o);
	ASSERT_ORDER(o, 0, 1, 2);
	order(us, CONFIG_BALANCE_ROUNDROBIN, 1, 100000, o);
	ASSERT_ORDER(o, 1, 2, 0);
	order(us, CONFIG_BALANCE_ROUNDROBIN, 5, 100000, o);
	ASSERT_ORDER(o, 2, 0, 1);
	relay_upset_put(us);
}
END_TEST

START_TEST(test_first_in_order)
{
	struct relay_upset	*us = set_new(3);
	int			 o[3];

	order(us, CONFIG_BALANCE_FIRST, 2, 100000, o);
	ASSERT_ORDER(o, 0, 1, 2);
	relay_upset_put(us);
}
END_TEST

START_TEST(test_leastconn_fewest_first)
{
	struct relay_upset	*us = set_new(4);
	int			 o[4];

	us->us_addrs[0].ru_st->rs_active = 5;
	us->us_addrs[1].ru_st->rs_active = 2;
	us->us_addrs[2].ru_st->rs_active = 7;
	us->us_addrs[3].ru_st->rs_active = 2;
	order(us, CONFIG_BALANCE_LEASTCONN, 0, 100000, o);
	ASSERT_ORDER(o, 1, 3, 0, 2);
	relay_upset_put(us);
}
END_TEST

/*
 * Addresses out of service come after those in service, the least
 * recently failed first; those failing checks last. All are tried.
 */
START_TEST(test_out_of_service_last)
{
	struct relay_upset	*us = set_new(4);
	uint64_t		 now = 100000;
	int			 o[4];

	us->us_addrs[0].ru_st->rs_failed_at = now - 1000;	/* backed off */
	us->us_addrs[1].ru_st->rs_failed_at = now - 5000;	/* earlier */
	us->us_addrs[2].ru_st->rs_down = 1;			/* checks */
	order(us, CONFIG_BALANCE_FIRST, 0, now, o);
	ASSERT_ORDER(o, 3, 1, 0, 2);
	/* Back-off over: in service again. */
	order(us, CONFIG_BALANCE_FIRST, 0, now + BACKOFF, o);
	ASSERT_ORDER(o, 0, 1, 3, 2);
	/* Everything out of service: still every address, best first. */
	us->us_addrs[3].ru_st->rs_failed_at = now - 9000;
	order(us, CONFIG_BALANCE_ROUNDROBIN, 2, now, o);
	ASSERT_ORDER(o, 3, 1, 0, 2);
	relay_upset_put(us);
}
END_TEST

START_TEST(test_note_failure_and_recovery)
{
	struct relay_upset	*us = set_new(2);
	struct relay_upstream	*ru = &us->us_addrs[0];
	uint64_t		 now = clock_ms();

	ck_assert(relay_upstream_up(ru, now, BACKOFF));
	upstream_note(ru, "t", ECONNREFUSED, now);
	ck_assert_uint_eq(ru->ru_st->rs_failed_at, now);
	ck_assert_uint_eq(ru->ru_st->rs_connects[RELAY_CONNECT_REFUSED], 1);
	ck_assert(!relay_upstream_up(ru, now + 1, BACKOFF));
	ck_assert(relay_upstream_up(ru, now + BACKOFF, BACKOFF));
	upstream_note(ru, "t", ETIMEDOUT, now + 2);
	ck_assert_uint_eq(ru->ru_st->rs_connects[RELAY_CONNECT_TIMEOUT], 1);
	upstream_note(ru, "t", EHOSTUNREACH, now + 3);
	ck_assert_uint_eq(ru->ru_st->rs_connects[RELAY_CONNECT_ERROR], 1);
	upstream_note(ru, "t", 0, now + 4);
	ck_assert_uint_eq(ru->ru_st->rs_failed_at, 0);
	ck_assert_uint_eq(ru->ru_st->rs_connects[RELAY_CONNECT_OK], 1);
	ck_assert(relay_upstream_up(ru, now + 4, BACKOFF));
	/* The other address saw none of it. */
	ck_assert_uint_eq(us->us_addrs[1].ru_st->rs_connects[RELAY_CONNECT_OK],
	    0);
	relay_upset_put(us);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("upstream");
	TCase	*tc = tcase_create("pick");
	SRunner	*sr;
	int	 failed;

	log_init(LOG_LVL_ERROR);
	tcase_add_test(tc, test_roundrobin_turns);
	tcase_add_test(tc, test_first_in_order);
	tcase_add_test(tc, test_leastconn_fewest_first);
	tcase_add_test(tc, test_out_of_service_last);
	tcase_add_test(tc, test_note_failure_and_recovery);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
