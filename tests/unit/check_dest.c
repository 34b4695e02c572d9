/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

/*
 * Destinations: what a loop is (a listen address, or a local address on
 * a wildcard listener's port, by family), IPv4-mapped destinations, and
 * the rule of a listener with upstream = destination. The addresses of
 * this host that every namespace has (loopback) stand for local ones;
 * 198.51.100.0/24 (TEST-NET-2) is never local.
 */

#include "autoconf.h"

#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "dest.h"
#include "testutil.h"

static struct config	*load(const char *);
static bool	own(const struct config *, const char *, uint16_t);

#define sa(addr, port)	testutil_sockaddr((addr), (port))
static Suite	*dest_suite(void);

static struct config *
load(const char *text)
{
	struct config_diag	 d = { NULL, 0 };
	struct config		*cf;

	cf = config_load_string(text, "t.ini", &d);
	ck_assert_msg(cf != NULL, "%s", d.cd_count > 0 ? d.cd_msgs[0] : "");
	config_diag_free(&d);
	return (cf);
}

static bool
own(const struct config *cf, const char *addr, uint16_t port)
{
	struct sockaddr_storage	 ss = sa(addr, port);

	return (dest_is_own(cf, (struct sockaddr *)&ss));
}

START_TEST(test_own_addresses)
{
	struct config	*cf;

	cf = load("[dual]\nlisten = *:8001\nupstream = 127.0.0.1:9\n"
	    "[v4any]\nlisten = 0.0.0.0:8002\nupstream = 127.0.0.1:9\n"
	    "[v6any]\nlisten = [::]:8003\nupstream = 127.0.0.1:9\n"
	    "[one]\nlisten = 198.51.100.7:8004\nlisten = [::1]:8005\n"
	    "upstream = 127.0.0.1:9\n");
	/* A wildcard's port on any local address, of the families it takes. */
	ck_assert(own(cf, "127.0.0.1", 8001));
	ck_assert(own(cf, "127.0.0.53", 8001));
	ck_assert(own(cf, "::1", 8001));
	ck_assert(own(cf, "0.0.0.0", 8001));
	ck_assert(own(cf, "::ffff:127.0.0.1", 8001));
	ck_assert(!own(cf, "198.51.100.1", 8001));
	ck_assert(!own(cf, "127.0.0.1", 8000));
	ck_assert(own(cf, "127.0.0.1", 8002));
	ck_assert(!own(cf, "::1", 8002));
	ck_assert(own(cf, "::1", 8003));
	ck_assert(!own(cf, "127.0.0.1", 8003));
	/* A listener on one address: that address alone, local or not. */
	ck_assert(own(cf, "198.51.100.7", 8004));
	ck_assert(own(cf, "::ffff:198.51.100.7", 8004));
	ck_assert(!own(cf, "127.0.0.1", 8004));
	ck_assert(!own(cf, "198.51.100.8", 8004));
	ck_assert(own(cf, "::1", 8005));
	ck_assert(!own(cf, "127.0.0.1", 8005));
	config_unref(cf);
}
END_TEST

/* The metrics endpoint is one of the daemon's listening addresses too. */
START_TEST(test_own_stats_listen)
{
	struct config	*cf;

	cf = load("[global]\nstats_listen = 0.0.0.0:9100\n"
	    "[a]\nlisten = 198.51.100.7:8004\nupstream = 127.0.0.1:9\n");
	ck_assert(own(cf, "127.0.0.1", 9100));
	ck_assert(own(cf, "::ffff:127.0.0.1", 9100));
	ck_assert(!own(cf, "::1", 9100));
	ck_assert(!own(cf, "127.0.0.1", 9101));
	ck_assert(!own(cf, "198.51.100.1", 9100));
	ck_assert(own(cf, "198.51.100.7", 8004));
	config_unref(cf);
	cf = load("[global]\nstats_listen = 198.51.100.9:9100\n"
	    "[a]\nlisten = 198.51.100.7:8004\nupstream = 127.0.0.1:9\n");
	ck_assert(own(cf, "198.51.100.9", 9100));
	ck_assert(!own(cf, "127.0.0.1", 9100));
	config_unref(cf);
	cf = load("[a]\nlisten = 198.51.100.7:8004\nupstream = 127.0.0.1:9\n");
	ck_assert(!own(cf, "127.0.0.1", 9100));
	config_unref(cf);
}
END_TEST

START_TEST(test_check)
{
	struct config		*cf;
	struct listener_config	*gw, *conc;
	struct sockaddr_storage	 d;

	cf = load("[gw]\nlisten = *:15001\ntransparent = tproxy\n"
	    "upstream = 198.51.100.2:4433\n"
	    "[conc]\nlisten = 127.0.0.1:4433\naccept_proxy = yes\n"
	    "accept_proxy_from = 127.0.0.0/8\nupstream = destination\n"
	    "destination_allow = 127.0.0.0/8 198.51.100.0/24\n"
	    "destination_deny = 198.51.100.66\ndestination_ports = 80\n");
	gw = TAILQ_FIRST(&cf->cf_listeners);
	conc = TAILQ_NEXT(gw, lc_entry);
	/* A gateway: loops only; the destination_* keys are not its. */
	d = sa("198.51.100.9", 22);
	ck_assert_ptr_null(dest_check(cf, gw, (struct sockaddr *)&d));
	d = sa("127.0.0.1", 15001);
	ck_assert_str_eq(dest_check(cf, gw, (struct sockaddr *)&d),
	    "one of this daemon's own listening addresses (a loop)");
	/* A concentrator: loops first, then its keys. */
	d = sa("127.0.0.1", 4433);
	ck_assert_str_eq(dest_check(cf, conc, (struct sockaddr *)&d),
	    "one of this daemon's own listening addresses (a loop)");
	d = sa("198.51.100.9", 80);
	ck_assert_ptr_null(dest_check(cf, conc, (struct sockaddr *)&d));
	d = sa("::ffff:198.51.100.9", 80);
	ck_assert_ptr_null(dest_check(cf, conc, (struct sockaddr *)&d));
	d = sa("198.51.100.9", 81);
	ck_assert_str_eq(dest_check(cf, conc, (struct sockaddr *)&d),
	    "port not in destination_ports");
	d = sa("198.51.100.66", 80);
	ck_assert_str_eq(dest_check(cf, conc, (struct sockaddr *)&d),
	    "in destination_deny");
	d = sa("192.0.2.1", 80);
	ck_assert_str_eq(dest_check(cf, conc, (struct sockaddr *)&d),
	    "not in destination_allow");
	config_unref(cf);
}
END_TEST

static Suite *
dest_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("dest");
	tc = tcase_create("check");
	tcase_add_test(tc, test_own_addresses);
	tcase_add_test(tc, test_own_stats_listen);
	tcase_add_test(tc, test_check);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	return (testutil_run(srunner_create(dest_suite())));
}
