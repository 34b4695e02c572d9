/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

/*
 * Active health checks (health.c): the outcome of a check on an address's
 * state, each change logged once; and checks run by a real event loop
 * against loopback ports of a namespace of the test's own, one listening
 * and one closed, then the other way round, over TCP and MPTCP.
 */

#include "autoconf.h"

#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <event2/event.h>

#include "clock.h"
#include "compat.h"
#include "config.h"
#include "health.h"
#include "log.h"
#include "relay.h"
#include "testutil.h"

#define BACKOFF		10000
#define DEADLINE_MS	20000

/* A relay set for text, as the daemon runs it. */
static void
relays_for(const char *text, struct relay_set *rs)
{
	struct config		*cf = testutil_config(text, 0);
	struct relay_set	 none = { NULL, 0 };

	ck_assert_int_eq(relay_set_prepare(&none, cf, 1, rs), 0);
	config_unref(cf);		/* the relays hold it */
}

static struct relay_upstream *
upstream_of(struct relay *rl, int i)
{
	struct relay_upset	*us = relay_upset_get(rl);
	struct relay_upstream	*ru = &us->us_addrs[i];

	relay_upset_put(us);		/* the relay's own keeps it */
	return ru;
}

START_TEST(test_health_checks_take_out_and_put_back)
{
	struct relay_set	 rs;
	struct relay_upstream	*ru;

	relays_for("[t]\nlisten = 127.0.0.1:1\nupstream = 127.0.0.1:9000\n",
	    &rs);
	ru = upstream_of(rs.rs_relays[0], 0);
	health_note(ru, "t", ECONNREFUSED, BACKOFF);
	ck_assert_uint_eq(ru->ru_st->rs_down, 1);
	ck_assert(!relay_upstream_up(ru, clock_ms() + 10 * BACKOFF, BACKOFF));
	/* A passing check ends a passive back-off too. */
	ru->ru_st->rs_failed_at = clock_ms();
	health_note(ru, "t", 0, BACKOFF);
	ck_assert_uint_eq(ru->ru_st->rs_down, 0);
	ck_assert_uint_eq(ru->ru_st->rs_failed_at, 0);
	ck_assert(relay_upstream_up(ru, clock_ms(), BACKOFF));
	relay_set_clear(&rs);
}
END_TEST

/* A change is said once; the same outcome again says nothing. */
START_TEST(test_note_logs_each_change_once)
{
	struct relay_set	 rs;
	struct relay_upstream	*ru;
	struct testutil_capture	 cap;
	char			*text;
	int			 i;

	relays_for("[t]\nlisten = 127.0.0.1:1\nupstream = 127.0.0.1:9000\n",
	    &rs);
	ru = upstream_of(rs.rs_relays[0], 0);
	testutil_capture_start(&cap);
	for (i = 0; i < 3; i++)
		health_note(ru, "t", 0, BACKOFF);	/* up already */
	for (i = 0; i < 3; i++)
		health_note(ru, "t", ETIMEDOUT, BACKOFF);
	for (i = 0; i < 3; i++)
		health_note(ru, "t", 0, BACKOFF);
	text = testutil_capture_end(&cap);
	ck_assert_int_eq(testutil_count(text, "warning: t: upstream "
	    "127.0.0.1:9000 (127.0.0.1:9000) down: health check: Connection "
	    "timed out\n"), 1);
	ck_assert_int_eq(testutil_count(text, "notice: t: upstream "
	    "127.0.0.1:9000 (127.0.0.1:9000) up: health check passed\n"), 1);
	ck_assert_int_eq(testutil_count(text, "\n"), 2);
	free(text);
	/* Backed off after a failed connect: a passing check ends it, said. */
	ru->ru_st->rs_failed_at = clock_ms();
	testutil_capture_start(&cap);
	health_note(ru, "t", 0, BACKOFF);
	text = testutil_capture_end(&cap);
	ck_assert_int_eq(testutil_count(text, "up: health check passed"), 1);
	free(text);
	relay_set_clear(&rs);
}
END_TEST

/* Two ports of the namespace, as the checks should find them. */
struct ports {
	struct relay		*rl;
	int			 proto;
	int			 port[2];
	int			 lfd[2];	/* -1: closed */
	int			 accepted;	/* checks seen by a listener */
	int			 want_down[2];
};

static void
ports_listen(struct ports *p, int i)
{
	int	port = p->port[i];

	p->lfd[i] = testutil_listen_lo(p->proto, &port);
	ck_assert_int_eq(port, p->port[i]);
	ck_assert_int_eq(fcntl(p->lfd[i], F_SETFL, O_NONBLOCK), 0);
	p->want_down[i] = 0;
}

static void
ports_close(struct ports *p, int i)
{
	close(p->lfd[i]);
	p->lfd[i] = -1;
	p->want_down[i] = 1;
}

/*
 * Whether each address is as wanted, after three more checks reached a
 * listening port (so that a failing port was checked again meanwhile).
 */
static bool
ports_as_wanted(void *arg)
{
	struct ports	*p = arg;
	int		 i, fd;

	for (i = 0; i < 2; i++)
		while (p->lfd[i] != -1 &&
		    (fd = accept(p->lfd[i], NULL, NULL)) != -1) {
			close(fd);
			p->accepted++;
		}
	if (p->accepted < 3)
		return false;
	for (i = 0; i < 2; i++)
		if (upstream_of(p->rl, i)->ru_st->rs_down !=
		    (unsigned)p->want_down[i])
			return false;
	return true;
}

static void
ports_wait(struct event_base *base, struct ports *p)
{
	p->accepted = 0;
	testutil_loop_until(base, ports_as_wanted, p, DEADLINE_MS,
	    "health states");
}

/*
 * _i 0: TCP, 1: MPTCP (upstream_protocol). A listening port is put in
 * service, a closed one taken out, each said once however many checks
 * follow; then the other way round.
 */
START_TEST(test_checks_follow_the_ports)
{
	struct event_base	*base;
	struct health		*h;
	struct relay_set	 rs;
	struct ports		 p = { .proto = _i == 0 ? IPPROTO_TCP :
				    IPPROTO_MPTCP, .port = { 7101, 7102 } };
	struct testutil_capture	 cap;
	char			 conf[512], *text;

	testutil_netns();
	snprintf(conf, sizeof(conf), "[h]\nlisten = 127.0.0.1:1\n"
	    "upstream = 127.0.0.1:7101\nupstream = 127.0.0.1:7102\n"
	    "health_check_interval = 50ms\nupstream_protocol = %s\n",
	    _i == 0 ? "tcp" : "mptcp");
	relays_for(conf, &rs);
	p.rl = rs.rs_relays[0];
	ports_listen(&p, 0);
	p.lfd[1] = -1;
	p.want_down[1] = 1;
	/* As if 7101 had failed before: its first check puts it back. */
	upstream_of(p.rl, 0)->ru_st->rs_down = 1;
	ck_assert_ptr_nonnull(base = event_base_new());
	ck_assert_ptr_nonnull(h = health_new(base));
	testutil_capture_start(&cap);
	health_apply(h, &rs);
	ports_wait(base, &p);
	ports_wait(base, &p);		/* and stays so */
	text = testutil_capture_text(&cap);
	ck_assert_int_eq(testutil_count(text, "h: upstream 127.0.0.1:7101 "
	    "(127.0.0.1:7101) up: health check passed"), 1);
	ck_assert_int_eq(testutil_count(text, "h: upstream 127.0.0.1:7102 "
	    "(127.0.0.1:7102) down: health check: Connection refused"), 1);
	free(text);

	ports_close(&p, 0);
	ports_listen(&p, 1);
	ports_wait(base, &p);
	ports_wait(base, &p);
	text = testutil_capture_end(&cap);
	ck_assert_int_eq(testutil_count(text, "127.0.0.1:7101) up"), 1);
	ck_assert_int_eq(testutil_count(text, "127.0.0.1:7101) down: health "
	    "check: Connection refused"), 1);
	ck_assert_int_eq(testutil_count(text, "127.0.0.1:7102) up: health "
	    "check passed"), 1);
	ck_assert_int_eq(testutil_count(text, "127.0.0.1:7102) down"), 1);
	free(text);

	health_free(h);
	close(p.lfd[1]);
	relay_set_clear(&rs);
	event_base_free(base);
}
END_TEST

static bool
relay_released(void *arg)
{
	return __atomic_load_n(&((struct relay *)arg)->rl_refcnt,
	    __ATOMIC_RELAXED) == 1;
}

/*
 * A reload without the section's checks: the checker lets go of the
 * relay (once its checks in flight are done), and sections without
 * health_check_interval are never checked.
 */
START_TEST(test_apply_stops_checking)
{
	struct event_base	*base;
	struct health		*h;
	struct relay_set	 rs, none = { NULL, 0 };
	struct relay		*checked, *quiet;
	struct ports		 p = { .proto = IPPROTO_TCP,
				    .port = { 7101, 7102 } };

	testutil_netns();
	relays_for("[c]\nlisten = 127.0.0.1:1\nupstream = 127.0.0.1:7101\n"
	    "upstream = 127.0.0.1:7102\nhealth_check_interval = 50ms\n"
	    "[q]\nlisten = 127.0.0.1:2\nupstream = 127.0.0.1:7103\n", &rs);
	checked = rs.rs_relays[0];
	quiet = rs.rs_relays[1];
	p.rl = checked;
	ports_listen(&p, 0);
	ports_listen(&p, 1);
	ck_assert_ptr_nonnull(base = event_base_new());
	ck_assert_ptr_nonnull(h = health_new(base));
	health_apply(h, &rs);
	ck_assert_uint_gt(checked->rl_refcnt, 1);
	ck_assert_uint_eq(quiet->rl_refcnt, 1);
	ports_wait(base, &p);
	ck_assert_uint_eq(quiet->rl_refcnt, 1);
	ck_assert_uint_eq(upstream_of(quiet, 0)->ru_st->rs_down, 0);
	health_apply(h, &none);
	testutil_loop_until(base, relay_released, checked, DEADLINE_MS,
	    "relay released");
	health_free(h);
	close(p.lfd[0]);
	close(p.lfd[1]);
	relay_set_clear(&rs);
	event_base_free(base);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("health");
	TCase	*tp = tcase_create("pure");
	TCase	*tk = tcase_create("kernel");

	log_init(LOG_LVL_INFO);
	tcase_add_test(tp, test_health_checks_take_out_and_put_back);
	tcase_add_test(tp, test_note_logs_each_change_once);
	suite_add_tcase(s, tp);
	if (testutil_kernel_tests("check_health", 0)) {
		tcase_set_timeout(tk, 60);
		tcase_add_loop_test(tk, test_checks_follow_the_ports, 0, 2);
		tcase_add_test(tk, test_apply_stops_checking);
		suite_add_tcase(s, tk);
	}
	return testutil_run(srunner_create(s));
}
