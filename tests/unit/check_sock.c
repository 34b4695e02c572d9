/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

#include "autoconf.h"

#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "compat.h"
#include "log.h"
#include "sock.h"
#include "testutil.h"

/* A connected pair over loopback: *cfd (client) and *afd (accepted). */
static void
connect_pair(int lproto, int cproto, int family, int *cfd, int *afd)
{
	struct sockaddr_storage	ss;
	socklen_t		len;
	const char		*step;
	struct sock_opts	opts = { 0, 0, true, false, false };
	struct pollfd		pfd;
	int			lfd;

	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr = in6addr_loopback;
		len = sizeof(*sin6);
	}
	lfd = sock_listen((struct sockaddr *)&ss, len, false, lproto, 8, &opts,
	    &step);
	ck_assert_msg(lfd != -1, "sock_listen: %s: %s", step, strerror(errno));
	ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&ss, &len), 0);
	*cfd = sock_connect((struct sockaddr *)&ss, len, cproto, &opts);
	ck_assert_msg(*cfd != -1, "sock_connect: %s", strerror(errno));
	pfd.fd = *cfd;
	pfd.events = POLLOUT;
	ck_assert_int_eq(poll(&pfd, 1, 5000), 1);
	ck_assert_int_eq(sock_error(*cfd), 0);
	pfd.fd = lfd;
	pfd.events = POLLIN;
	ck_assert_int_eq(poll(&pfd, 1, 5000), 1);
	*afd = accept(lfd, NULL, NULL);
	ck_assert_int_ge(*afd, 0);
	close(lfd);
}

static int
tcp_is_mptcp(int fd)
{
	int		v = -1;
	socklen_t	len = sizeof(v);

	if (getsockopt(fd, IPPROTO_TCP, TCP_IS_MPTCP, &v, &len) == -1)
		return -1;
	return v;
}

START_TEST(test_ntop_ipv4)
{
	struct sockaddr_in	sin = { .sin_family = AF_INET,
				    .sin_port = htons(8080) };
	char			buf[SOCK_NTOP_MAX];

	inet_pton(AF_INET, "198.18.1.1", &sin.sin_addr);
	ck_assert_str_eq(sock_ntop((struct sockaddr *)&sin, buf, sizeof(buf)),
	    "198.18.1.1:8080");
}
END_TEST

START_TEST(test_ntop_ipv6_bracketed)
{
	struct sockaddr_in6	sin6 = { .sin6_family = AF_INET6,
				    .sin6_port = htons(443) };
	char			buf[SOCK_NTOP_MAX];

	inet_pton(AF_INET6, "2001:db8::1", &sin6.sin6_addr);
	ck_assert_str_eq(sock_ntop((struct sockaddr *)&sin6, buf, sizeof(buf)),
	    "[2001:db8::1]:443");
}
END_TEST

START_TEST(test_ntop_v4mapped_as_ipv4)
{
	struct sockaddr_in6	sin6 = { .sin6_family = AF_INET6,
				    .sin6_port = htons(52580) };
	char			buf[SOCK_NTOP_MAX];

	inet_pton(AF_INET6, "::ffff:198.18.0.7", &sin6.sin6_addr);
	ck_assert_str_eq(sock_ntop((struct sockaddr *)&sin6, buf, sizeof(buf)),
	    "198.18.0.7:52580");
}
END_TEST

/* The address alone: the name an upstream_tls destination is checked by. */
START_TEST(test_ntop_host)
{
	struct sockaddr_in	sin = { .sin_family = AF_INET,
				    .sin_port = htons(80) };
	struct sockaddr_in6	sin6 = { .sin6_family = AF_INET6,
				    .sin6_port = htons(443) };
	struct sockaddr		unix_sa = { .sa_family = AF_UNIX };
	char			buf[SOCK_NTOP_MAX];

	inet_pton(AF_INET, "198.18.60.2", &sin.sin_addr);
	ck_assert_str_eq(sock_ntop_host((struct sockaddr *)&sin, buf,
	    sizeof(buf)), "198.18.60.2");
	inet_pton(AF_INET6, "2001:db8::2", &sin6.sin6_addr);
	ck_assert_str_eq(sock_ntop_host((struct sockaddr *)&sin6, buf,
	    sizeof(buf)), "2001:db8::2");
	inet_pton(AF_INET6, "::ffff:198.18.60.2", &sin6.sin6_addr);
	ck_assert_str_eq(sock_ntop_host((struct sockaddr *)&sin6, buf,
	    sizeof(buf)), "198.18.60.2");
	ck_assert_str_eq(sock_ntop_host(&unix_sa, buf, sizeof(buf)),
	    "(family 1)");
	ck_assert_str_eq(sock_ntop(&unix_sa, buf, sizeof(buf)), "(family 1)");
}
END_TEST

START_TEST(test_ntop_longest_fits)
{
	struct sockaddr_in6	sin6 = { .sin6_family = AF_INET6,
				    .sin6_port = htons(65535) };
	char			buf[SOCK_NTOP_MAX];

	inet_pton(AF_INET6, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe",
	    &sin6.sin6_addr);
	ck_assert_str_eq(sock_ntop((struct sockaddr *)&sin6, buf, sizeof(buf)),
	    "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe]:65535");
}
END_TEST

START_TEST(test_mptcp_state_on_mptcp_connection)
{
	struct sock_mptcp	m = { false, 0 };
	int			cfd, afd;

	testutil_netns();
	connect_pair(IPPROTO_MPTCP, IPPROTO_MPTCP, _i == 0 ? AF_INET : AF_INET6,
	    &cfd, &afd);
	/* The kernel's own answer first: MPTCP really was negotiated. */
	ck_assert_int_eq(tcp_is_mptcp(cfd), 1);
	ck_assert_int_eq(sock_mptcp_state(cfd, &m), 0);
	ck_assert(m.sm_mptcp);
	ck_assert_uint_eq(m.sm_subflows, 1);
	/* Both fields again, or an unwritten one would pass. */
	m = (struct sock_mptcp){ false, 0 };
	ck_assert_int_eq(sock_mptcp_state(afd, &m), 0);
	ck_assert(m.sm_mptcp);
	ck_assert_uint_eq(m.sm_subflows, 1);
	close(cfd);
	close(afd);
}
END_TEST

START_TEST(test_mptcp_state_plain_client_falls_back)
{
	struct sock_mptcp	m = { true, 9 };
	int			cfd, afd;

	testutil_netns();
	connect_pair(IPPROTO_MPTCP, IPPROTO_TCP, _i == 0 ? AF_INET : AF_INET6,
	    &cfd, &afd);
	ck_assert_int_eq(sock_mptcp_state(afd, &m), 0);
	ck_assert(!m.sm_mptcp);
	ck_assert_uint_eq(m.sm_subflows, 0);
	close(cfd);
	close(afd);
}
END_TEST

START_TEST(test_mptcp_state_plain_tcp)
{
	struct sock_mptcp	m = { true, 9 };
	int			cfd, afd;

	testutil_netns();
	connect_pair(IPPROTO_TCP, IPPROTO_TCP, AF_INET, &cfd, &afd);
	ck_assert_int_eq(sock_mptcp_state(cfd, &m), 0);
	ck_assert(!m.sm_mptcp);
	ck_assert_uint_eq(m.sm_subflows, 0);
	m = (struct sock_mptcp){ true, 9 };
	ck_assert_int_eq(sock_mptcp_state(afd, &m), 0);
	ck_assert(!m.sm_mptcp);
	ck_assert_uint_eq(m.sm_subflows, 0);
	close(cfd);
	close(afd);
}
END_TEST

START_TEST(test_mptcp_available_names_sysctl)
{
	char	why[200] = "";

	testutil_netns();
	ck_assert_int_eq(sock_mptcp_available(AF_INET, why, sizeof(why)), 0);
	/* The sysctl is per network namespace: this only touches ours. */
	testutil_sysctl_write("net/mptcp/enabled", "0");
	ck_assert_int_eq(sock_mptcp_available(AF_INET, why, sizeof(why)), -1);
	ck_assert_msg(strstr(why, "net.mptcp.enabled") != NULL, "why: %s", why);
}
END_TEST

START_TEST(test_connect_mptcp_disabled_uses_tcp)
{
	struct sock_mptcp	m = { true, 9 };
	int			cfd, afd, proto = -1;
	socklen_t		len = sizeof(proto);

	testutil_netns();
	testutil_sysctl_write("net/mptcp/enabled", "0");
	/* An MPTCP upstream socket that cannot be had is a TCP one. */
	connect_pair(IPPROTO_TCP, IPPROTO_MPTCP, AF_INET, &cfd, &afd);
	ck_assert_int_eq(getsockopt(cfd, SOL_SOCKET, SO_PROTOCOL, &proto,
	    &len), 0);
	ck_assert_int_eq(proto, IPPROTO_TCP);
	ck_assert_int_eq(sock_mptcp_state(cfd, &m), 0);
	ck_assert(!m.sm_mptcp);
	close(cfd);
	close(afd);
}
END_TEST

/*
 * What Linux reports for a buffer of want bytes: the request capped by
 * net.core.[rw]mem_max (and INT_MAX / 2), doubled for its bookkeeping.
 */
static int
buf_applied(long long want, long long max)
{
	if (want > max)
		want = max;
	if (want > INT_MAX / 2)
		want = INT_MAX / 2;
	return (int)want * 2;
}

/*
 * A buffer value above max (the sysctl), so that the kernel must cap it;
 * INT_MAX when max leaves no room (it then caps at INT_MAX / 2).
 */
static int
buf_above(long long max)
{
	return max < INT_MAX - 4096 ? (int)max + 4096 : INT_MAX;
}

/* _i == 0: buffers below the caps, applied as asked; 1: capped. */
START_TEST(test_listen_buffers_applied)
{
	struct sockaddr_in	sin = { .sin_family = AF_INET };
	struct sock_opts	opts = { 0, 0, true, true, false };
	const char		*step;
	long long		rmax, wmax, host_rmax, host_wmax;
	int			fd, v;
	socklen_t		len = sizeof(v);

	/*
	 * Recent kernels keep the caps per namespace; older ones have one
	 * global value that only the host's namespace shows.
	 */
	host_rmax = testutil_sysctl_read("net/core/rmem_max");
	host_wmax = testutil_sysctl_read("net/core/wmem_max");
	testutil_netns();
	if ((rmax = testutil_sysctl_read("net/core/rmem_max")) == -1)
		rmax = host_rmax;
	if ((wmax = testutil_sysctl_read("net/core/wmem_max")) == -1)
		wmax = host_wmax;
	ck_assert_int_gt(rmax, 0);
	ck_assert_int_gt(wmax, 0);
	if (_i == 0) {
		/* Below the kernel's default caps (212992 bytes). */
		opts.so_rcvbuf = 64 * 1024;
		opts.so_sndbuf = 32 * 1024;
	} else {
		opts.so_rcvbuf = buf_above(rmax);
		opts.so_sndbuf = buf_above(wmax);
	}
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = sock_listen((struct sockaddr *)&sin, sizeof(sin), false,
	    IPPROTO_MPTCP, 16, &opts, &step);
	ck_assert_msg(fd != -1, "sock_listen: %s: %s", step, strerror(errno));
	ck_assert_int_eq(getsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &v, &len), 0);
	ck_assert_int_eq(v, 1);
	ck_assert_int_eq(getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, &len), 0);
	ck_assert_int_eq(v, buf_applied(opts.so_rcvbuf, rmax));
	ck_assert_int_eq(getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, &len), 0);
	ck_assert_int_eq(v, buf_applied(opts.so_sndbuf, wmax));
	close(fd);
}
END_TEST

START_TEST(test_listen_reports_failing_step)
{
	struct sockaddr_in	sin = { .sin_family = AF_INET };
	struct sock_opts	opts = { 0, 0, false, false, false };
	const char		*step = NULL;
	socklen_t		len = sizeof(sin);
	int			fd1, fd2;

	testutil_netns();
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd1 = sock_listen((struct sockaddr *)&sin, len, false, IPPROTO_TCP, 8,
	    &opts, &step);
	ck_assert_int_ge(fd1, 0);
	ck_assert_int_eq(getsockname(fd1, (struct sockaddr *)&sin, &len), 0);
	fd2 = sock_listen((struct sockaddr *)&sin, len, false, IPPROTO_MPTCP,
	    8, &opts, &step);
	ck_assert_int_eq(fd2, -1);
	ck_assert_int_eq(errno, EADDRINUSE);
	ck_assert_str_eq(step, "bind");
	close(fd1);
}
END_TEST

static Suite *
sock_suite(void)
{
	Suite	*s = suite_create("sock");
	TCase	*tc = tcase_create("ntop");
	TCase	*tk;

	tcase_add_test(tc, test_ntop_ipv4);
	tcase_add_test(tc, test_ntop_ipv6_bracketed);
	tcase_add_test(tc, test_ntop_v4mapped_as_ipv4);
	tcase_add_test(tc, test_ntop_host);
	tcase_add_test(tc, test_ntop_longest_fits);
	suite_add_tcase(s, tc);

	if (!testutil_kernel_tests("check_sock", 0))
		return s;
	/* Each test forks (CK_FORK) and so gets a namespace of its own. */
	tk = tcase_create("kernel");
	tcase_add_loop_test(tk, test_mptcp_state_on_mptcp_connection, 0, 2);
	tcase_add_loop_test(tk, test_mptcp_state_plain_client_falls_back, 0, 2);
	tcase_add_test(tk, test_mptcp_state_plain_tcp);
	tcase_add_test(tk, test_mptcp_available_names_sysctl);
	tcase_add_test(tk, test_connect_mptcp_disabled_uses_tcp);
	tcase_add_loop_test(tk, test_listen_buffers_applied, 0, 2);
	tcase_add_test(tk, test_listen_reports_failing_step);
	suite_add_tcase(s, tk);
	return s;
}

int
main(void)
{
	log_init(LOG_LVL_ERROR);
	return testutil_run(srunner_create(sock_suite()));
}
