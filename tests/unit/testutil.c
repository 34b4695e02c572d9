/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

#include "autoconf.h"

#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <event2/event.h>

#include "clock.h"
#include "compat.h"
#include "config.h"
#include "testutil.h"

#define TESTUTIL_WHY_MAX	256

/* Decided by testutil_kernel_tests() before any test runs; see testutil.h. */
static struct {
	bool		 tu_decided;
	bool		 tu_possible;	/* kernel tests can run here */
	bool		 tu_left_out;	/* ... and, as they cannot, were left out */
	pid_t		 tu_runner;	/* the runner: a test in it did not fork */
	const char	*tu_prog;
	char		 tu_why[TESTUTIL_WHY_MAX];	/* why they cannot */
} testutil;

static int	testutil_because(char *, size_t, const char *, ...)
		    __attribute__((format(printf, 3, 4)));

/* Store the reason in why; returns -1 for the caller to return. */
static int
testutil_because(char *why, size_t len, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
	return -1;
}

/* CI=true (or any value but "", "0" and "false"): nothing may be skipped. */
static bool
testutil_ci(void)
{
	const char	*e = getenv("CI");

	return e != NULL && *e != '\0' && strcmp(e, "0") != 0 &&
	    strcmp(e, "false") != 0;
}

/* Write a sysctl of the current namespace; -1 with errno set on failure. */
static int
testutil_sysctl_set(const char *name, const char *value)
{
	char	path[256];
	size_t	len = strlen(value);
	ssize_t	n;
	int	fd, saved;

	snprintf(path, sizeof(path), "/proc/sys/%s", name);
	if ((fd = open(path, O_WRONLY | O_CLOEXEC)) == -1)
		return -1;
	n = write(fd, value, len);
	saved = errno;
	close(fd);
	if (n != (ssize_t)len) {
		errno = n == -1 ? saved : EIO;
		return -1;
	}
	return 0;
}

/* Bring the loopback interface of the current namespace up. */
static int
testutil_lo_up(void)
{
	struct ifreq	ifr;
	int		fd, saved, rc = 0;

	if ((fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) == -1)
		rc = -1;
	else {
		ifr.ifr_flags |= IFF_UP;
		rc = ioctl(fd, SIOCSIFFLAGS, &ifr);
	}
	saved = errno;
	close(fd);
	errno = saved;
	return rc;
}

/*
 * Everything testutil_netns() does but ignoring SIGPIPE, and an MPTCP
 * socket of each family: 0, or -1 with the reason in why. Both the
 * decision and each test go through here, so they cannot disagree.
 */
static int
testutil_netns_try(char *why, size_t len)
{
	static const struct {
		int		 family;
		const char	*name;
	} fams[] = { { AF_INET, "IPv4" }, { AF_INET6, "IPv6" } };
	size_t	i;
	int	fd;

	if (unshare(CLONE_NEWNET) == -1)
		return testutil_because(why, len, "cannot make a network "
		    "namespace (%s): kernel tests need root", strerror(errno));
	if (testutil_lo_up() == -1)
		return testutil_because(why, len, "cannot bring lo up in a "
		    "new network namespace: %s", strerror(errno));
	if (testutil_sysctl_set("net/mptcp/enabled", "1") == -1) {
		if (errno == ENOENT)
			return testutil_because(why, len, "the kernel has no "
			    "MPTCP (no /proc/sys/net/mptcp)");
		return testutil_because(why, len, "cannot set "
		    "net.mptcp.enabled: %s", strerror(errno));
	}
	/* Linux 6.12 and later: lost SYNs must not turn MPTCP off. */
	if (testutil_sysctl_set("net/mptcp/blackhole_timeout", "0") == -1 &&
	    errno != ENOENT)
		return testutil_because(why, len, "cannot set "
		    "net.mptcp.blackhole_timeout: %s", strerror(errno));
	for (i = 0; i < sizeof(fams) / sizeof(fams[0]); i++) {
		fd = socket(fams[i].family, SOCK_STREAM | SOCK_CLOEXEC,
		    IPPROTO_MPTCP);
		if (fd == -1)
			return testutil_because(why, len, "the kernel refuses "
			    "%s MPTCP sockets: %s", fams[i].name,
			    strerror(errno));
		close(fd);
	}
	return 0;
}

/* In a forked child, so that the runner keeps its own namespace. */
static void
testutil_decide(unsigned need, char *why, size_t len)
{
	ssize_t	n;
	size_t	got = 0;
	pid_t	pid;
	int	p[2], st;

	if (pipe2(p, O_CLOEXEC) == -1) {
		testutil_because(why, len, "pipe: %s", strerror(errno));
		return;
	}
	if ((pid = fork()) == -1) {
		testutil_because(why, len, "fork: %s", strerror(errno));
		close(p[0]);
		close(p[1]);
		return;
	}
	if (pid == 0) {
		close(p[0]);
		why[0] = '\0';
		if (testutil_netns_try(why, len) == 0 &&
		    (need & TESTUTIL_NEED_IPROUTE2) &&
		    system("ip mptcp limits show >/dev/null 2>&1") != 0)
			testutil_because(why, len, "'ip mptcp limits show' "
			    "fails (install iproute2)");
		if (write(p[1], why, strlen(why)) == -1)
			_exit(1);
		_exit(0);
	}
	close(p[1]);
	while (got < len - 1 &&
	    ((n = read(p[0], why + got, len - 1 - got)) > 0 ||
	    (n == -1 && errno == EINTR)))
		if (n > 0)
			got += (size_t)n;
	why[got] = '\0';
	close(p[0]);
	while (waitpid(pid, &st, 0) == -1 && errno == EINTR)
		;
	if (got == 0 && !(WIFEXITED(st) && WEXITSTATUS(st) == 0))
		testutil_because(why, len, "the check in a child process "
		    "failed (wait status %d)", st);
}

bool
testutil_kernel_tests(const char *prog, unsigned need)
{
	const char	*e;

	testutil.tu_decided = true;
	testutil.tu_runner = getpid();
	testutil.tu_prog = prog;
	testutil.tu_why[0] = '\0';
	if ((e = getenv("CK_FORK")) != NULL && strcmp(e, "no") == 0)
		testutil_because(testutil.tu_why, sizeof(testutil.tu_why),
		    "CK_FORK=no: each must fork to enter a network "
		    "namespace of its own");
	else
		testutil_decide(need, testutil.tu_why,
		    sizeof(testutil.tu_why));
	testutil.tu_possible = testutil.tu_why[0] == '\0';
	if (testutil.tu_possible)
		return true;
	if (testutil_ci()) {
		fprintf(stderr, "%s: CI: kernel tests cannot run: %s\n", prog,
		    testutil.tu_why);
		return true;
	}
	fprintf(stderr, "%s: kernel tests NOT run: %s\n", prog,
	    testutil.tu_why);
	testutil.tu_left_out = true;
	return false;
}

void
testutil_netns(void)
{
	char	why[TESTUTIL_WHY_MAX];

	ck_assert_msg(testutil.tu_decided, "testutil_kernel_tests() was not "
	    "called before the kernel tests");
	ck_assert_msg(testutil.tu_possible, "kernel tests cannot run here: %s",
	    testutil.tu_why);
	ck_assert_msg(getpid() != testutil.tu_runner, "a kernel test must "
	    "run in a forked child (CK_FORK)");
	if (testutil_netns_try(why, sizeof(why)) == -1)
		ck_abort_msg("%s", why);
	signal(SIGPIPE, SIG_IGN);
}

long long
testutil_sysctl_read(const char *name)
{
	char		 path[256], buf[64], *end;
	long long	 v;
	ssize_t		 n;
	int		 fd;

	snprintf(path, sizeof(path), "/proc/sys/%s", name);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		ck_assert_msg(errno == ENOENT, "%s: %s", path, strerror(errno));
		return -1;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	ck_assert_msg(n > 0, "%s: nothing read", path);
	buf[n] = '\0';
	errno = 0;
	v = strtoll(buf, &end, 10);
	ck_assert_msg(errno == 0 && end != buf && v >= 0,
	    "%s: not a number: %s", path, buf);
	return v;
}

void
testutil_sysctl_write(const char *name, const char *value)
{
	ck_assert_msg(testutil_sysctl_set(name, value) == 0,
	    "cannot write '%s' to /proc/sys/%s: %s", value, name,
	    strerror(errno));
}

void
testutil_capture_start(struct testutil_capture *tc)
{
	ck_assert_ptr_nonnull(tc->tc_file = tmpfile());
	fflush(stderr);
	ck_assert_int_ge(tc->tc_saved = dup(STDERR_FILENO), 0);
	ck_assert_int_eq(dup2(fileno(tc->tc_file), STDERR_FILENO),
	    STDERR_FILENO);
}

char *
testutil_capture_text(struct testutil_capture *tc)
{
	struct stat	 st;
	char		*text;
	ssize_t		 n;

	fflush(stderr);
	ck_assert_int_eq(fstat(fileno(tc->tc_file), &st), 0);
	ck_assert_ptr_nonnull(text = calloc(1, (size_t)st.st_size + 1));
	/* pread: stderr shares the file's offset, which must stay at its end. */
	n = pread(fileno(tc->tc_file), text, (size_t)st.st_size, 0);
	ck_assert_int_eq(n, st.st_size);
	return text;
}

char *
testutil_capture_end(struct testutil_capture *tc)
{
	char	*text = testutil_capture_text(tc);

	ck_assert_int_eq(dup2(tc->tc_saved, STDERR_FILENO), STDERR_FILENO);
	close(tc->tc_saved);
	fclose(tc->tc_file);
	return text;
}

int
testutil_count(const char *text, const char *needle)
{
	size_t	len = strlen(needle);
	int	n = 0;

	for (; len > 0 && (text = strstr(text, needle)) != NULL; text += len)
		n++;
	return n;
}

static void
testutil_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

void
testutil_loop_until(struct event_base *base, bool (*done)(void *), void *arg,
    int deadline_ms, const char *what)
{
	struct timeval	 tv = clock_tv(10);
	struct event	*tick;
	uint64_t	 end = clock_ms() + (uint64_t)deadline_ms;
	bool		 ok;

	/* The tick bounds each turn, so the deadline is looked at. */
	ck_assert_ptr_nonnull(tick = event_new(base, -1, EV_PERSIST,
	    testutil_tick, NULL));
	ck_assert_int_eq(event_add(tick, &tv), 0);
	while (!(ok = done(arg)) && clock_ms() < end)
		ck_assert_int_ne(event_base_loop(base, EVLOOP_ONCE), -1);
	event_free(tick);
	ck_assert_msg(ok, "%s: not within %d ms", what, deadline_ms);
}

int
testutil_listen_lo(int proto, int *port)
{
	struct sockaddr_in	sin = { .sin_family = AF_INET };
	socklen_t		len = sizeof(sin);
	int			fd;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(*port);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, proto);
	ck_assert_msg(fd != -1, "socket: %s", strerror(errno));
	ck_assert_msg(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &(int){ 1 },
	    sizeof(int)) == 0, "SO_REUSEADDR: %s", strerror(errno));
	ck_assert_msg(bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0,
	    "bind 127.0.0.1:%d: %s", *port, strerror(errno));
	ck_assert_int_eq(listen(fd, 64), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	*port = ntohs(sin.sin_port);
	return fd;
}

int
testutil_try_connect_lo(int proto, int port)
{
	struct sockaddr_in	sin = { .sin_family = AF_INET };
	int			fd;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(port);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, proto);
	ck_assert_msg(fd != -1, "socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0)
		return fd;
	ck_assert_msg(errno == ECONNREFUSED, "connect 127.0.0.1:%d: %s",
	    port, strerror(errno));
	close(fd);
	return -1;
}

int
testutil_connect_lo(int proto, int port)
{
	int	fd = testutil_try_connect_lo(proto, port);

	ck_assert_msg(fd != -1, "connect 127.0.0.1:%d: refused", port);
	return fd;
}

void
testutil_tcp_pair(int *c, int *a)
{
	int	lfd, port = 0;

	lfd = testutil_listen_lo(IPPROTO_TCP, &port);
	*c = testutil_connect_lo(IPPROTO_TCP, port);
	ck_assert_int_ge(*a = accept4(lfd, NULL, NULL, SOCK_NONBLOCK |
	    SOCK_CLOEXEC), 0);
	close(lfd);
}

struct config *
testutil_config(const char *text, unsigned flags)
{
	struct config_diag	 diag = { NULL, 0 };
	struct config		*cf;
	char			 path[] = "/tmp/testutil_config.XXXXXX";
	size_t			 len = strlen(text);
	int			 fd;

	ck_assert_int_ge(fd = mkstemp(path), 0);
	ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
	close(fd);
	cf = config_load_flags(path, flags, &diag);
	unlink(path);
	ck_assert_msg(cf != NULL, "config: %s",
	    diag.cd_count > 0 ? diag.cd_msgs[0] : "?");
	config_diag_free(&diag);
	return cf;
}

int
testutil_run(SRunner *sr)
{
	int	failed, ran;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	ran = srunner_ntests_run(sr);
	srunner_free(sr);
	if (failed > 0)
		return EXIT_FAILURE;
	if (testutil.tu_left_out) {
		fprintf(stderr, "%s: SKIP: %d other test%s passed; the kernel "
		    "tests were left out: %s\n", testutil.tu_prog, ran,
		    ran == 1 ? "" : "s", testutil.tu_why);
		return 77;	/* automake's SKIP: a partial run is no PASS */
	}
	return EXIT_SUCCESS;
}

struct sockaddr_storage
testutil_sockaddr(const char *addr, uint16_t port)
{
	struct sockaddr_storage	 ss;
	struct sockaddr_in	*sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof(ss));
	if (strchr(addr, ':') == NULL) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		ck_assert_int_eq(inet_pton(AF_INET, addr, &sin->sin_addr), 1);
	} else {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		ck_assert_int_eq(inet_pton(AF_INET6, addr, &sin6->sin6_addr),
		    1);
	}
	return (ss);
}
