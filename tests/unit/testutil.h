/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

/*
 * What the unit tests share: whether the tests that need the kernel can
 * run on this machine, the network namespace each of them runs in, and
 * the exit status that tells automake what happened.
 *
 * A kernel test opens real sockets. It runs in a forked child (Check's
 * default, CK_FORK) that first calls testutil_netns(), so that it has a
 * loopback, sysctls and MPTCP state of its own and leaves the host alone.
 * Whether such tests can run is decided once, before srunner_run_all(),
 * never inside a test: a test that exits 77 is an error to Check, not a
 * skip. The pattern:
 *
 *	int
 *	main(void)
 *	{
 *		Suite	*s = suite_create("sock");
 *		TCase	*tk = tcase_create("kernel");
 *
 *		... add the tests that need no kernel ...
 *		if (testutil_kernel_tests("check_sock", 0)) {
 *			tcase_add_test(tk, test_that_calls_testutil_netns);
 *			suite_add_tcase(s, tk);
 *		}
 *		return testutil_run(srunner_create(s));
 *	}
 *
 * Outside CI, kernel tests that cannot run are left out, saying why, and
 * the program exits 77 (automake's SKIP) when everything else passed: a
 * partial run is never a PASS. In CI (CI set in the environment, and not
 * "false" or "0") nothing is left out: the reason is printed, the kernel
 * tests are added anyway and each one fails in testutil_netns() with it.
 *
 * The state behind this (the decision and its reason) is this module's
 * only state, set by testutil_kernel_tests() before any test runs.
 */
#ifndef MPTCP_RELAYD_TESTUTIL_H
#define MPTCP_RELAYD_TESTUTIL_H

#include <sys/socket.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <check.h>
#include <event2/event.h>

/* What a program's kernel tests need besides a namespace with MPTCP. */
#define TESTUTIL_NEED_IPROUTE2	0x1	/* `ip mptcp` works in the namespace */

/*
 * Decide, once and before srunner_run_all(), whether this program's
 * kernel tests can run: in a forked child, make a network namespace, do
 * what testutil_netns() does and open IPv4 and IPv6 MPTCP sockets, plus
 * whatever need (TESTUTIL_NEED_*) asks. Root is needed in practice; with
 * CK_FORK=no they cannot run (they would move the runner itself into the
 * namespace). When they cannot, prints "PROG: kernel tests NOT run: why"
 * (outside CI) or "PROG: CI: kernel tests cannot run: why" on stderr.
 * Returns true when the caller must add its kernel tests (they can run, or
 * this is CI), false when it must leave them out. Call it once per program.
 */
bool	testutil_kernel_tests(const char *prog, unsigned need);

/*
 * The set-up of each kernel test, first thing in it: enter a fresh network
 * namespace, bring lo up, set net.mptcp.enabled = 1 and, where the kernel
 * has it, net.mptcp.blackhole_timeout = 0 (so that lost SYNs never turn
 * MPTCP off), and ignore SIGPIPE (a write to a reset peer returns EPIPE).
 * Fails the test (ck_abort_msg) with the reason when any step fails, when
 * testutil_kernel_tests() found that kernel tests cannot run here (in CI),
 * or when it was not called or the test did not fork.
 */
void	testutil_netns(void);

/*
 * A sysctl of the current network namespace, named by its path under
 * /proc/sys ("net/core/rmem_max"). testutil_sysctl_read() returns its
 * (first) value, or -1 when the namespace has no such sysctl; any other
 * failure fails the test. testutil_sysctl_write() sets it and fails the
 * test if it cannot.
 */
long long testutil_sysctl_read(const char *name);
void	testutil_sysctl_write(const char *name, const char *value);

/*
 * stderr redirected to a temporary file, to read what was logged: start,
 * read what was written so far (as often as needed), end (stderr as it
 * was). The texts returned are the caller's to free.
 */
struct testutil_capture {
	FILE	*tc_file;
	int	 tc_saved;
};

void	testutil_capture_start(struct testutil_capture *tc);
char	*testutil_capture_text(struct testutil_capture *tc);
char	*testutil_capture_end(struct testutil_capture *tc);

/* How many times needle occurs in text (not overlapping). */
int	testutil_count(const char *text, const char *needle);

/*
 * Run base until done(arg) is true, checked at least every 10 ms; fails
 * the test, naming what, when it is still false after deadline_ms.
 */
void	testutil_loop_until(struct event_base *base, bool (*done)(void *),
	    void *arg, int deadline_ms, const char *what);

/*
 * A listening socket of protocol proto (IPPROTO_TCP or IPPROTO_MPTCP) on
 * 127.0.0.1, blocking, its port in *port. Fails the test if it cannot.
 */
int	testutil_listen_lo(int proto, int *port);

/* A blocking socket of protocol proto connected to 127.0.0.1:port. */
int	testutil_connect_lo(int proto, int port);

/* The same, or -1 when the connection is refused (nothing listens). */
int	testutil_try_connect_lo(int proto, int port);

/*
 * A connected TCP pair over loopback: *c the connecting end (blocking),
 * *a the accepted one (non-blocking).
 */
void	testutil_tcp_pair(int *c, int *a);

/*
 * A config from text, as config_load_flags() reads it from a file (flags:
 * CONFIG_LOAD_NO_RESOLVE takes host names with no address); fails the
 * test with the first problem found. The caller holds its one reference.
 */
struct config;
struct config *testutil_config(const char *text, unsigned flags);

/*
 * Run every test of sr (srunner_run_all(sr, CK_ENV)), free sr and return
 * the program's exit status: EXIT_FAILURE when a test failed, else 77
 * when testutil_kernel_tests() left the kernel tests out (the reason is
 * printed again), else EXIT_SUCCESS.
 */
int	testutil_run(SRunner *sr);

/*
 * The socket address of a literal (IPv6 if it has a colon) and a port;
 * a literal inet_pton(3) refuses fails the test.
 */
struct sockaddr_storage testutil_sockaddr(const char *addr, uint16_t port);

#endif
