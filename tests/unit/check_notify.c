/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

/*
 * The service manager's protocols (notify.c) as a service manager sees
 * them: the datagrams on a NOTIFY_SOCKET of the test's own (a path in a
 * temporary directory, and an abstract name), the watchdog interval and
 * the socket-activation variables, the periodic STATUS= and WATCHDOG=1 of
 * the notify timers, and nothing at all without NOTIFY_SOCKET.
 */

#include "autoconf.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <event2/event.h>

#include "log.h"
#include "notify.h"
#include "testutil.h"

#define DEADLINE_MS	20000
#define MSG_MAX		1024

/* The service manager's end: a datagram socket and where it is bound. */
struct manager {
	int	fd;
	char	dir[64];
	char	path[100];
};

/* The status the timers report: what the test sets. */
struct status {
	char		 text[64];
	struct manager	*m;
	int		 watchdogs;
	char		 want[MSG_MAX];	/* the datagram waited for */
	bool		 seen;
	int		 pings;		/* watchdog pings to wait for */
};

static void
status_fn(char *buf, size_t len, void *arg)
{
	struct status	*st = arg;

	snprintf(buf, len, "%s", st->text);
}

#ifdef HAVE_LIBSYSTEMD

/* Bind the manager's socket: in a temporary directory, or abstract. */
static void
manager_open(struct manager *m, bool abstract)
{
	struct sockaddr_un	sun = { .sun_family = AF_UNIX };
	socklen_t		len;
	char			env[160];

	memset(m->dir, 0, sizeof(m->dir));
	ck_assert_int_ge(m->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, 0), 0);
	if (abstract) {
		snprintf(m->path, sizeof(m->path), "check_notify/%ld",
		    (long)getpid());
		memcpy(sun.sun_path + 1, m->path, strlen(m->path));
		len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
		    strlen(m->path));
		snprintf(env, sizeof(env), "@%s", m->path);
	} else {
		snprintf(m->dir, sizeof(m->dir), "/tmp/check_notify.XXXXXX");
		ck_assert_ptr_nonnull(mkdtemp(m->dir));
		snprintf(m->path, sizeof(m->path), "%s/notify", m->dir);
		snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", m->path);
		len = sizeof(sun);
		snprintf(env, sizeof(env), "%s", m->path);
	}
	ck_assert_msg(bind(m->fd, (struct sockaddr *)&sun, len) == 0,
	    "bind %s: %s", env, strerror(errno));
	ck_assert_int_eq(setenv("NOTIFY_SOCKET", env, 1), 0);
}

static void
manager_close(struct manager *m)
{
	close(m->fd);
	if (m->dir[0] != '\0') {
		unlink(m->path);
		rmdir(m->dir);
	}
	unsetenv("NOTIFY_SOCKET");
}

/* The next datagram, waited for; NUL-terminated in buf. */
static void
manager_recv(struct manager *m, char *buf)
{
	ssize_t	n;

	ck_assert_int_eq(poll(&(struct pollfd){ m->fd, POLLIN, 0 }, 1,
	    DEADLINE_MS), 1);
	ck_assert_int_gt(n = recv(m->fd, buf, MSG_MAX - 1, 0), 0);
	buf[n] = '\0';
}

static void
expect(struct manager *m, const char *want)
{
	char	buf[MSG_MAX];

	manager_recv(m, buf);
	ck_assert_str_eq(buf, want);
}

static uint64_t
monotonic_usec(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* _i: 0 a socket in a directory, 1 an abstract one ("@..."). */
START_TEST(test_each_message)
{
	struct manager	m;

	manager_open(&m, _i == 1);
	notify_ready("2 listening sockets, 0 sessions");
	expect(&m, "READY=1\nSTATUS=2 listening sockets, 0 sessions");
	notify_status("1 session");
	expect(&m, "STATUS=1 session");
	notify_watchdog();
	expect(&m, "WATCHDOG=1");
	notify_stopping("stopping: 3 sessions draining");
	expect(&m, "STOPPING=1\nSTATUS=stopping: 3 sessions draining");
	manager_close(&m);
}
END_TEST

/* RELOADING=1 carries the monotonic clock of the moment, in µs. */
START_TEST(test_reloading_has_monotonic_usec)
{
	struct manager		 m;
	char			 buf[MSG_MAX], *end;
	unsigned long long	 usec;
	uint64_t		 before, after;

	manager_open(&m, false);
	before = monotonic_usec();
	notify_reloading();
	after = monotonic_usec();
	manager_recv(&m, buf);
	ck_assert_msg(strncmp(buf, "RELOADING=1\nMONOTONIC_USEC=", 27) == 0,
	    "%s", buf);
	usec = strtoull(buf + 27, &end, 10);
	ck_assert_str_eq(end, "\nSTATUS=reloading");
	ck_assert_uint_ge(usec, before);
	ck_assert_uint_le(usec, after);
	manager_close(&m);
}
END_TEST

/*
 * Without NOTIFY_SOCKET nothing is sent and nothing is said: the first
 * datagram the manager gets afterwards is the one sent once it is set.
 */
START_TEST(test_nothing_without_notify_socket)
{
	struct manager		 m;
	struct testutil_capture	 cap;
	char			*text;

	manager_open(&m, false);
	unsetenv("NOTIFY_SOCKET");
	testutil_capture_start(&cap);
	notify_ready("ready");
	notify_reloading();
	notify_status("status");
	notify_watchdog();
	notify_stopping("stopping");
	text = testutil_capture_end(&cap);
	ck_assert_str_eq(text, "");
	free(text);
	ck_assert_int_eq(setenv("NOTIFY_SOCKET", m.path, 1), 0);
	notify_status("marker");
	expect(&m, "STATUS=marker");
	manager_close(&m);
}
END_TEST

/* A NOTIFY_SOCKET nobody listens on: a warning, never a failure. */
START_TEST(test_dead_notify_socket_warns)
{
	struct testutil_capture	 cap;
	char			*text;

	ck_assert_int_eq(setenv("NOTIFY_SOCKET", "/nonexistent/notify", 1), 0);
	testutil_capture_start(&cap);
	notify_status("x");
	text = testutil_capture_end(&cap);
	ck_assert_int_eq(testutil_count(text, "warning: sd_notify: "), 1);
	free(text);
}
END_TEST

START_TEST(test_watchdog_usec)
{
	char	pid[32];

	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	ck_assert_uint_eq(notify_watchdog_usec(), 0);
	ck_assert_int_eq(setenv("WATCHDOG_USEC", "3000000", 1), 0);
	ck_assert_uint_eq(notify_watchdog_usec(), 3000000);
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	ck_assert_int_eq(setenv("WATCHDOG_PID", pid, 1), 0);
	ck_assert_uint_eq(notify_watchdog_usec(), 3000000);
	/* Meant for another process (the one that forked us): not ours. */
	snprintf(pid, sizeof(pid), "%ld", (long)getppid());
	ck_assert_int_eq(setenv("WATCHDOG_PID", pid, 1), 0);
	ck_assert_uint_eq(notify_watchdog_usec(), 0);
	ck_assert_int_eq(setenv("WATCHDOG_USEC", "0", 1), 0);
	unsetenv("WATCHDOG_PID");
	ck_assert_uint_eq(notify_watchdog_usec(), 0);
}
END_TEST

/*
 * Socket activation: how many were passed, from fd 3, and LISTEN_* gone
 * so that children do not take them. (fd 3 is Check's own file here: it
 * only gets close-on-exec.)
 */
START_TEST(test_listen_fds)
{
	char	pid[32];

	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	ck_assert_int_eq(setenv("LISTEN_PID", pid, 1), 0);
	ck_assert_int_eq(setenv("LISTEN_FDS", "1", 1), 0);
	ck_assert_int_eq(notify_listen_fds_start(), 3);
	ck_assert_int_eq(notify_listen_fds(), 1);
	ck_assert_ptr_null(getenv("LISTEN_PID"));
	ck_assert_ptr_null(getenv("LISTEN_FDS"));
	ck_assert_int_eq(fcntl(3, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	/* Called again: nothing is passed any more. */
	ck_assert_int_eq(notify_listen_fds(), 0);
	/* Passed to another process: not ours, and unset all the same. */
	snprintf(pid, sizeof(pid), "%ld", (long)getppid());
	ck_assert_int_eq(setenv("LISTEN_PID", pid, 1), 0);
	ck_assert_int_eq(setenv("LISTEN_FDS", "1", 1), 0);
	ck_assert_int_eq(notify_listen_fds(), 0);
	ck_assert_ptr_null(getenv("LISTEN_FDS"));
}
END_TEST

/* Take every datagram that came; whether st->want was among them. */
static bool
status_seen(void *arg)
{
	struct status	*st = arg;
	char		 buf[MSG_MAX];
	ssize_t		 n;

	while ((n = recv(st->m->fd, buf, sizeof(buf) - 1, 0)) > 0) {
		buf[n] = '\0';
		if (strcmp(buf, "WATCHDOG=1") == 0)
			st->watchdogs++;
		else if (strcmp(buf, st->want) == 0)
			st->seen = true;
		else
			ck_abort_msg("unexpected datagram: %s", buf);
	}
	ck_assert_int_eq(errno, EAGAIN);
	return st->seen && st->watchdogs >= st->pings;
}

/*
 * Run the loop until the datagram want came (none: "") with at least
 * pings watchdog pings, and nothing else.
 */
static void
status_wait(struct event_base *base, struct status *st, const char *want,
    int pings)
{
	snprintf(st->want, sizeof(st->want), "%s", want);
	st->seen = want[0] == '\0';
	st->watchdogs = 0;
	st->pings = pings;
	testutil_loop_until(base, status_seen, st, DEADLINE_MS,
	    want[0] != '\0' ? want : "watchdog pings");
}

/*
 * The timers: a watchdog ping at once and twice per interval, STATUS=
 * each time the status changed (and only then), READY=1 with it.
 */
START_TEST(test_timers_send_status_and_pings)
{
	struct manager		 m;
	struct event_base	*base;
	struct notify_timers	 nt;
	struct status		 st = { .text = "0 sessions", .m = &m };
	char			 pid[32];

	manager_open(&m, false);
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	ck_assert_int_eq(setenv("WATCHDOG_PID", pid, 1), 0);
	ck_assert_int_eq(setenv("WATCHDOG_USEC", "100000", 1), 0);
	ck_assert_ptr_nonnull(base = event_base_new());
	ck_assert_int_eq(notify_timers_start(&nt, base, status_fn, &st), 0);
	ck_assert(nt.nt_status_on);
	ck_assert(nt.nt_watchdog_on);
	expect(&m, "WATCHDOG=1");		/* at once */

	notify_timers_ready(&nt);
	expect(&m, "READY=1\nSTATUS=0 sessions");
	/* Changed: told within a second or so; pings meanwhile. */
	snprintf(st.text, sizeof(st.text), "4 sessions");
	status_wait(base, &st, "STATUS=4 sessions", 3);
	snprintf(st.text, sizeof(st.text), "1 session");
	status_wait(base, &st, "STATUS=1 session", 3);
	/*
	 * Unchanged, it is not sent again: 30 pings, 50 ms apart, span
	 * more than one look at the status, and only pings come.
	 */
	status_wait(base, &st, "", 30);
	notify_timers_stop(&nt);
	ck_assert(!nt.nt_status_on);
	ck_assert(!nt.nt_watchdog_on);
	event_base_free(base);
	manager_close(&m);
}
END_TEST

#endif	/* HAVE_LIBSYSTEMD */

/* Not under systemd: the timers do not run at all. */
START_TEST(test_timers_idle_without_systemd)
{
	struct event_base	*base;
	struct notify_timers	 nt;
	struct status		 st = { .text = "x" };

	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	ck_assert_ptr_nonnull(base = event_base_new());
	ck_assert_int_eq(notify_timers_start(&nt, base, status_fn, &st), 0);
	ck_assert(!nt.nt_status_on);
	ck_assert(!nt.nt_watchdog_on);
	ck_assert_int_eq(event_base_get_num_events(base,
	    EVENT_BASE_COUNT_ADDED), 0);
	notify_timers_ready(&nt);		/* a no-op */
	notify_timers_stop(&nt);
	event_base_free(base);
	ck_assert_uint_eq(notify_watchdog_usec(), 0);
	unsetenv("LISTEN_FDS");
	ck_assert_int_eq(notify_listen_fds(), 0);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("notify");
	TCase	*tc = tcase_create("notify");

	log_init(LOG_LVL_WARNING);
	tcase_set_timeout(tc, 60);
#ifdef HAVE_LIBSYSTEMD
	tcase_add_loop_test(tc, test_each_message, 0, 2);
	tcase_add_test(tc, test_reloading_has_monotonic_usec);
	tcase_add_test(tc, test_nothing_without_notify_socket);
	tcase_add_test(tc, test_dead_notify_socket_warns);
	tcase_add_test(tc, test_watchdog_usec);
	tcase_add_test(tc, test_listen_fds);
	tcase_add_test(tc, test_timers_send_status_and_pings);
#endif
	tcase_add_test(tc, test_timers_idle_without_systemd);
	suite_add_tcase(s, tc);
	return testutil_run(srunner_create(s));
}
