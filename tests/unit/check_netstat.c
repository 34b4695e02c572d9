/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

/*
 * The parser of the kernel's MPTcpExt counters (netstat.c): the text of
 * /proc/net/netstat as kernels write it and as they never should, and a
 * read of the real file in a network namespace of the test's own.
 */

#include "autoconf.h"

#include <sys/socket.h>
#include <netinet/in.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "compat.h"
#include "netstat.h"
#include "testutil.h"

/* /proc/net/netstat of a 6.1 kernel, cut short, other sections around. */
static const char netstat_text[] =
    "IpExt: InNoRoutes InTruncatedPkts\n"
    "IpExt: 0 0\n"
    "MPTcpExt: MPCapableSYNRX MPCapableSYNTX   Blackhole MPJoinSynRx\n"
    "MPTcpExt: 12 3 2 18446744073709551615\n"
    "TcpExt: SyncookiesSent SyncookiesRecv\n"
    "TcpExt: 0 0\n";

static struct netstat_mptcp *
nm_new(void)
{
	struct netstat_mptcp	*nm;

	ck_assert_ptr_nonnull(nm = malloc(sizeof(*nm)));
	return nm;
}

START_TEST(test_netstat_parse)
{
	struct netstat_mptcp	*nm = nm_new();
	uint64_t		 v;

	ck_assert_int_eq(netstat_mptcp_parse(netstat_text, nm), 0);
	ck_assert_int_eq(nm->nm_n, 4);
	ck_assert(!nm->nm_truncated);
	ck_assert_str_eq(nm->nm_c[0].nc_name, "MPCapableSYNRX");
	ck_assert_uint_eq(nm->nm_c[0].nc_value, 12);
	ck_assert(netstat_mptcp_get(nm, "Blackhole", &v));
	ck_assert_uint_eq(v, 2);
	ck_assert(netstat_mptcp_get(nm, "MPJoinSynRx", &v));
	ck_assert_uint_eq(v, UINT64_MAX);
	ck_assert(!netstat_mptcp_get(nm, "SyncookiesSent", &v));

	/* A kernel without MPTCP: no MPTcpExt lines at all. */
	ck_assert_int_eq(netstat_mptcp_parse("TcpExt: A\nTcpExt: 1\n", nm), -1);
	ck_assert_int_eq(nm->nm_n, 0);
	/* A value that is no number is skipped, the rest kept in step. */
	ck_assert_int_eq(netstat_mptcp_parse("MPTcpExt: A B C\n"
	    "MPTcpExt: 1 x 3", nm), 0);
	ck_assert_int_eq(nm->nm_n, 2);
	ck_assert_str_eq(nm->nm_c[1].nc_name, "C");
	ck_assert_uint_eq(nm->nm_c[1].nc_value, 3);
	free(nm);
}
END_TEST

START_TEST(test_netstat_truncated)
{
	struct netstat_mptcp	*nm = nm_new();
	char			*text, *p;
	int			 i, n = NETSTAT_MPTCP_MAX + 5;

	ck_assert_ptr_nonnull(text = malloc((size_t)n * 16 + 64));
	p = text + sprintf(text, "MPTcpExt:");
	for (i = 0; i < n; i++)
		p += sprintf(p, " C%d", i);
	p += sprintf(p, "\nMPTcpExt:");
	for (i = 0; i < n; i++)
		p += sprintf(p, " %d", i);
	ck_assert_int_eq(netstat_mptcp_parse(text, nm), 0);
	ck_assert_int_eq(nm->nm_n, NETSTAT_MPTCP_MAX);
	ck_assert(nm->nm_truncated);
	/* The first ones kept, in the kernel's order. */
	ck_assert_str_eq(nm->nm_c[NETSTAT_MPTCP_MAX - 1].nc_name, "C255");
	ck_assert_uint_eq(nm->nm_c[NETSTAT_MPTCP_MAX - 1].nc_value, 255);
	free(text);
	free(nm);
}
END_TEST

/* Texts with no pair of MPTcpExt lines: -1, and nothing counted. */
START_TEST(test_netstat_missing_section)
{
	static const char *const texts[] = {
		"",
		"\n\n",
		"MPTcpExt: A B\n",				/* names only */
		"TcpExt: A\nTcpExt: 1\nIpExt: B\nIpExt: 2\n",
		"mptcpext: A\nmptcpext: 1\n",			/* case */
		" MPTcpExt: A\n MPTcpExt: 1\n",		/* not at a line start */
		"XMPTcpExt: A\nXMPTcpExt: 1\n",
	};
	struct netstat_mptcp	*nm = nm_new();
	size_t			 i;

	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		nm->nm_n = 99;
		ck_assert_msg(netstat_mptcp_parse(texts[i], nm) == -1,
		    "text %zu taken", i);
		ck_assert_int_eq(nm->nm_n, 0);
	}
	free(nm);
}
END_TEST

/*
 * What no kernel writes but a parser must survive: values too large or
 * signed, names too long, lines of unequal length, no final newline.
 */
START_TEST(test_netstat_malformed_values_skipped)
{
	struct netstat_mptcp	*nm = nm_new();
	char			 text[512], longname[NETSTAT_NAME_MAX + 1];
	uint64_t		 v;

	memset(longname, 'N', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	snprintf(text, sizeof(text), "MPTcpExt: Huge Neg %s Ok Mixed Empty\n"
	    "MPTcpExt: 18446744073709551616 -1 5 7 9z\n", longname);
	ck_assert_int_eq(netstat_mptcp_parse(text, nm), 0);
	ck_assert_int_eq(nm->nm_n, 1);
	ck_assert_str_eq(nm->nm_c[0].nc_name, "Ok");
	ck_assert_uint_eq(nm->nm_c[0].nc_value, 7);
	ck_assert(!netstat_mptcp_get(nm, "Huge", &v));
	ck_assert(!netstat_mptcp_get(nm, "Neg", &v));
	ck_assert(!netstat_mptcp_get(nm, "Mixed", &v));
	/* More names than values: those without one are left out. */
	ck_assert(!netstat_mptcp_get(nm, "Empty", &v));

	/* The longest name that fits; 31 digits fit, 35 do not. */
	memset(longname, 'L', NETSTAT_NAME_MAX - 1);
	longname[NETSTAT_NAME_MAX - 1] = '\0';
	snprintf(text, sizeof(text), "MPTcpExt: %s Long\n"
	    "MPTcpExt: 0000000000000000000000000000042 "
	    "00000000000000000000000000000000001", longname);
	ck_assert_int_eq(netstat_mptcp_parse(text, nm), 0);
	ck_assert_int_eq(nm->nm_n, 1);
	ck_assert_str_eq(nm->nm_c[0].nc_name, longname);
	ck_assert_uint_eq(nm->nm_c[0].nc_value, 42);
	free(nm);
}
END_TEST

/* More values than names; only the first two MPTcpExt lines count. */
START_TEST(test_netstat_first_pair_only)
{
	struct netstat_mptcp	*nm = nm_new();
	uint64_t		 v;

	ck_assert_int_eq(netstat_mptcp_parse("MPTcpExt: A B\n"
	    "MPTcpExt: 1 2 3 4\n"
	    "MPTcpExt: C\n"
	    "MPTcpExt: 9\n", nm), 0);
	ck_assert_int_eq(nm->nm_n, 2);
	ck_assert(netstat_mptcp_get(nm, "B", &v));
	ck_assert_uint_eq(v, 2);
	ck_assert(!netstat_mptcp_get(nm, "C", &v));
	/* An empty pair of lines: no counters, but the section is there. */
	ck_assert_int_eq(netstat_mptcp_parse("MPTcpExt:\nMPTcpExt:\n", nm), 0);
	ck_assert_int_eq(nm->nm_n, 0);
	ck_assert(!netstat_mptcp_get(nm, "A", &v));
	free(nm);
}
END_TEST

/*
 * The real file: the counters of the reader's own namespace, none at
 * first in a fresh one, and one more MP_CAPABLE SYN after a connection.
 */
START_TEST(test_netstat_read_own_namespace)
{
	struct netstat_mptcp	*nm = nm_new();
	uint64_t		 v;
	int			 lfd, cfd, afd, port = 0;

	testutil_netns();
	ck_assert_msg(netstat_mptcp_read(nm) == 0, "netstat_mptcp_read: %s",
	    strerror(errno));
	ck_assert_int_gt(nm->nm_n, 0);
	ck_assert(!nm->nm_truncated);
	/* Every kernel with MPTCP since 5.6 counts MPCapableSYNRX. */
	ck_assert(netstat_mptcp_get(nm, "MPCapableSYNRX", &v));
	ck_assert_uint_eq(v, 0);

	lfd = testutil_listen_lo(IPPROTO_MPTCP, &port);
	cfd = testutil_connect_lo(IPPROTO_MPTCP, port);
	ck_assert_int_ge(afd = accept(lfd, NULL, NULL), 0);
	ck_assert_int_eq(netstat_mptcp_read(nm), 0);
	ck_assert(netstat_mptcp_get(nm, "MPCapableSYNRX", &v));
	ck_assert_uint_eq(v, 1);
	close(afd);
	close(cfd);
	close(lfd);
	free(nm);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("netstat");
	TCase	*tp = tcase_create("pure");
	TCase	*tk = tcase_create("kernel");

	tcase_add_test(tp, test_netstat_parse);
	tcase_add_test(tp, test_netstat_truncated);
	tcase_add_test(tp, test_netstat_missing_section);
	tcase_add_test(tp, test_netstat_malformed_values_skipped);
	tcase_add_test(tp, test_netstat_first_pair_only);
	suite_add_tcase(s, tp);
	if (testutil_kernel_tests("check_netstat", 0)) {
		tcase_add_test(tk, test_netstat_read_own_namespace);
		suite_add_tcase(s, tk);
	}
	return testutil_run(srunner_create(s));
}
