/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

/*
 * sock_mptcp_subflow_addrs() and sock_mptcp_subflows() against the
 * kernel: each test forks (Check's default) into a network namespace of
 * its own, where a 'subflow' endpoint on 127.0.0.2 makes every MPTCP
 * connection to 127.0.0.1 grow a second subflow.
 */

#include "autoconf.h"

#include <sys/socket.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "compat.h"
#include "log.h"
#include "sock.h"
#include "testutil.h"

#define WAIT_MS		5000	/* for the second subflow to appear */

/* Run an iproute2 command in our namespace; fail the test if it fails. */
static void
ip(const char *args)
{
	char	cmd[256];
	int	st;

	snprintf(cmd, sizeof(cmd), "ip %s", args);
	st = system(cmd);
	ck_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "'%s' failed (status %d)", cmd, st);
}

static void
netns_setup(bool second_path)
{
	testutil_netns();
	ip("mptcp limits set subflows 2 add_addr_accepted 0");
	if (second_path)
		ip("mptcp endpoint add 127.0.0.2 dev lo subflow");
}

static void
set4(struct sockaddr_in *sin, const char *addr, int port)
{
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = htons(port);
	ck_assert_int_eq(inet_pton(AF_INET, addr, &sin->sin_addr), 1);
}

/*
 * A connected MPTCP (or TCP) pair on 127.0.0.1: client, accepted. The
 * listener stays open (and leaks with the test's process): a second
 * subflow joins through it.
 */
static void
pair(int cproto, int *cfd, int *afd)
{
	struct sockaddr_in	sin;
	socklen_t		len = sizeof(sin);
	int			lfd;

	set4(&sin, "127.0.0.1", 0);
	lfd = socket(AF_INET, SOCK_STREAM, IPPROTO_MPTCP);
	ck_assert_int_ge(lfd, 0);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(listen(lfd, 4), 0);
	ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&sin, &len), 0);
	*cfd = socket(AF_INET, SOCK_STREAM, cproto);
	ck_assert_int_ge(*cfd, 0);
	ck_assert_int_eq(connect(*cfd, (struct sockaddr *)&sin, sizeof(sin)),
	    0);
	*afd = accept(lfd, NULL, NULL);
	ck_assert_int_ge(*afd, 0);
}

/* Bytes both ways, so that both ends see the connection established. */
static void
exchange(int cfd, int afd)
{
	char	c = 'x';

	ck_assert_int_eq(write(cfd, &c, 1), 1);
	ck_assert_int_eq(read(afd, &c, 1), 1);
	ck_assert_int_eq(write(afd, &c, 1), 1);
	ck_assert_int_eq(read(cfd, &c, 1), 1);
}

static long
now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Poll until fd reports n subflows; returns the last count. */
static int
wait_subflows(int fd, int n)
{
	long	deadline = now_ms() + WAIT_MS;
	int	got;

	for (;;) {
		got = sock_mptcp_subflow_addrs(fd, NULL, NULL, 0);
		if (got == n || now_ms() > deadline)
			return got;
		poll(NULL, 0, 20);
	}
}

static const char *
host_of(const struct sockaddr_storage *ss, char *buf)
{
	const struct sockaddr_in	*sin = (const struct sockaddr_in *)ss;

	ck_assert_int_eq(ss->ss_family, AF_INET);
	return inet_ntop(AF_INET, &sin->sin_addr, buf, INET_ADDRSTRLEN);
}

static int
port_of(const struct sockaddr_storage *ss)
{
	return ntohs(((const struct sockaddr_in *)ss)->sin_port);
}

START_TEST(test_single_subflow_matches_socket_names)
{
	struct sockaddr_storage	loc[4], rem[4], me, peer;
	socklen_t		len;
	int			cfd, afd;

	netns_setup(false);
	pair(IPPROTO_MPTCP, &cfd, &afd);
	exchange(cfd, afd);
	ck_assert_int_eq(sock_mptcp_subflow_addrs(cfd, loc, rem, 4), 1);
	len = sizeof(me);
	ck_assert_int_eq(getsockname(cfd, (struct sockaddr *)&me, &len), 0);
	len = sizeof(peer);
	ck_assert_int_eq(getpeername(cfd, (struct sockaddr *)&peer, &len), 0);
	ck_assert_int_eq(port_of(&loc[0]), port_of(&me));
	ck_assert_int_eq(port_of(&rem[0]), port_of(&peer));
	ck_assert_int_eq(sock_mptcp_subflow_addrs(afd, loc, rem, 4), 1);
	ck_assert_int_eq(port_of(&loc[0]), port_of(&peer));
	ck_assert_int_eq(port_of(&rem[0]), port_of(&me));
	close(cfd);
	close(afd);
}
END_TEST

START_TEST(test_two_subflows_with_addresses)
{
	struct sockaddr_storage	loc[4], rem[4];
	char			a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN];
	struct sockaddr_in	peer;
	socklen_t		len = sizeof(peer);
	int			cfd, afd, i;
	bool			saw1 = false, saw2 = false;

	netns_setup(true);
	pair(IPPROTO_MPTCP, &cfd, &afd);
	exchange(cfd, afd);
	ck_assert_int_eq(wait_subflows(cfd, 2), 2);
	ck_assert_int_eq(wait_subflows(afd, 2), 2);
	ck_assert_int_eq(getpeername(cfd, (struct sockaddr *)&peer, &len), 0);

	ck_assert_int_eq(sock_mptcp_subflow_addrs(cfd, loc, rem, 4), 2);
	for (i = 0; i < 2; i++) {
		/* Both subflows go to the listener's address and port. */
		ck_assert_str_eq(host_of(&rem[i], b), "127.0.0.1");
		ck_assert_int_eq(port_of(&rem[i]), ntohs(peer.sin_port));
		host_of(&loc[i], a);
		saw1 |= strcmp(a, "127.0.0.1") == 0;
		saw2 |= strcmp(a, "127.0.0.2") == 0;
	}
	ck_assert_msg(saw1 && saw2, "client subflows not from 127.0.0.1 "
	    "and 127.0.0.2");

	/* The server's view mirrors it. */
	saw1 = saw2 = false;
	ck_assert_int_eq(sock_mptcp_subflow_addrs(afd, loc, rem, 4), 2);
	for (i = 0; i < 2; i++) {
		ck_assert_str_eq(host_of(&loc[i], b), "127.0.0.1");
		host_of(&rem[i], a);
		saw1 |= strcmp(a, "127.0.0.1") == 0;
		saw2 |= strcmp(a, "127.0.0.2") == 0;
	}
	ck_assert(saw1 && saw2);
	close(cfd);
	close(afd);
}
END_TEST

START_TEST(test_count_beyond_max)
{
	struct sockaddr_storage	loc[2], rem[2];
	int			cfd, afd;

	netns_setup(true);
	pair(IPPROTO_MPTCP, &cfd, &afd);
	exchange(cfd, afd);
	ck_assert_int_eq(wait_subflows(cfd, 2), 2);
	memset(loc, 0xa5, sizeof(loc));
	memset(rem, 0xa5, sizeof(rem));
	/* Room for one: the count is still the whole, only one is stored. */
	ck_assert_int_eq(sock_mptcp_subflow_addrs(cfd, loc, rem, 1), 2);
	ck_assert_int_eq(loc[0].ss_family, AF_INET);
	ck_assert_int_eq(rem[0].ss_family, AF_INET);
	ck_assert_int_eq(loc[1].ss_family, 0xa5a5);
	ck_assert_int_eq(rem[1].ss_family, 0xa5a5);
	close(cfd);
	close(afd);
}
END_TEST

START_TEST(test_plain_tcp_refused)
{
	struct sockaddr_storage	loc[2], rem[2];
	int			cfd, afd;

	netns_setup(false);
	pair(IPPROTO_TCP, &cfd, &afd);
	exchange(cfd, afd);
	/* Both ends: a TCP socket, and an MPTCP one that fell back. */
	errno = 0;
	ck_assert_int_eq(sock_mptcp_subflow_addrs(cfd, loc, rem, 2), -1);
	ck_assert_msg(errno == ENOPROTOOPT || errno == EOPNOTSUPP,
	    "errno %d", errno);
	errno = 0;
	ck_assert_int_eq(sock_mptcp_subflow_addrs(afd, loc, rem, 2), -1);
	ck_assert_msg(errno == ENOPROTOOPT || errno == EOPNOTSUPP,
	    "errno %d", errno);
	close(cfd);
	close(afd);
}
END_TEST

/* The sum of a counter over n subflows; fails on an unknown one. */
static uint64_t
sum_bytes(const struct sock_subflow *sf, int n, bool sent)
{
	uint64_t	sum = 0, v;
	int		i;

	for (i = 0; i < n; i++) {
		v = sent ? sf[i].sf_bytes_sent : sf[i].sf_bytes_received;
		ck_assert_msg(v != UINT64_MAX, "subflow %d: no byte count", i);
		sum += v;
	}
	return sum;
}

/*
 * sock_mptcp_subflows() with MPTCP_FULL_INFO (_i 0) and the way Linux 6.1
 * needs (_i 1): both subflows of the server's side, the bytes they moved
 * and the second one, joined from a backup endpoint, marked a backup.
 */
START_TEST(test_subflow_detail)
{
	struct sock_subflow	sf[SOCK_SUBFLOWS_MAX];
	char			buf[1000], a[INET_ADDRSTRLEN];
	unsigned		flags = _i == 0 ? 0 : SOCK_SUBFLOWS_NO_FULL_INFO;
	int			cfd, afd, i, n;

	testutil_netns();
	ip("mptcp limits set subflows 2 add_addr_accepted 0");
	ip("mptcp endpoint add 127.0.0.2 dev lo subflow backup");
	pair(IPPROTO_MPTCP, &cfd, &afd);
	exchange(cfd, afd);
	ck_assert_int_eq(wait_subflows(afd, 2), 2);
	memset(buf, 'b', sizeof(buf));
	ck_assert_int_eq(write(cfd, buf, sizeof(buf)), (ssize_t)sizeof(buf));
	for (n = 0; n < (int)sizeof(buf); n += (int)i)
		ck_assert_int_gt(i = (int)read(afd, buf, sizeof(buf) - n), 0);
	ck_assert_int_eq(write(afd, buf, 300), 300);
	for (n = 0; n < 300; n += (int)i)
		ck_assert_int_gt(i = (int)read(cfd, buf, 300 - n), 0);

	n = sock_mptcp_subflows(afd, sf, SOCK_SUBFLOWS_MAX, flags);
	ck_assert_int_eq(n, 2);
	/* At least the 1 + 1000 bytes in and 1 + 300 out, over both. */
	ck_assert_uint_ge(sum_bytes(sf, n, false), 1001);
	ck_assert_uint_ge(sum_bytes(sf, n, true), 301);
	for (i = 0; i < n; i++) {
		ck_assert_str_eq(host_of(&sf[i].sf_local, a), "127.0.0.1");
		host_of(&sf[i].sf_remote, a);
		/* Root here: the socket diagnostics tell backup or not. */
		ck_assert_int_eq(sf[i].sf_backup,
		    strcmp(a, "127.0.0.2") == 0 ? 1 : 0);
	}
	close(cfd);
	close(afd);
}
END_TEST

START_TEST(test_subflow_detail_plain_tcp)
{
	struct sock_subflow	sf[2];
	int			cfd, afd;

	netns_setup(false);
	pair(IPPROTO_TCP, &cfd, &afd);
	exchange(cfd, afd);
	errno = 0;
	ck_assert_int_eq(sock_mptcp_subflows(afd, sf, 2, 0), -1);
	ck_assert_msg(errno == ENOPROTOOPT || errno == EOPNOTSUPP,
	    "errno %d", errno);
	errno = 0;
	ck_assert_int_eq(sock_mptcp_subflows(cfd, sf, 2,
	    SOCK_SUBFLOWS_NO_FULL_INFO), -1);
	ck_assert_msg(errno == ENOPROTOOPT || errno == EOPNOTSUPP,
	    "errno %d", errno);
	close(cfd);
	close(afd);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("sock_subflows");
	TCase	*tk = tcase_create("kernel");

	log_init(LOG_LVL_ERROR);
	/* Every test here needs the kernel: left out, none runs (SKIP). */
	if (testutil_kernel_tests("check_sock_subflows",
	    TESTUTIL_NEED_IPROUTE2)) {
		tcase_set_timeout(tk, 20);
		tcase_add_test(tk, test_single_subflow_matches_socket_names);
		tcase_add_test(tk, test_two_subflows_with_addresses);
		tcase_add_test(tk, test_count_beyond_max);
		tcase_add_test(tk, test_plain_tcp_refused);
		tcase_add_loop_test(tk, test_subflow_detail, 0, 2);
		tcase_add_test(tk, test_subflow_detail_plain_tcp);
		suite_add_tcase(s, tk);
	}
	return testutil_run(srunner_create(s));
}
