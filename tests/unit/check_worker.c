/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

/*
 * Worker threads (worker.c): started and named "worker N", handed clients
 * in turn, each running its sessions in its own loop (the relay's
 * counters of loop N), and stopped with a drain or at once, the owner's
 * loop told when the last one has finished, every thread joined.
 */

#include "autoconf.h"

#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <event2/event.h>

#include "budget.h"
#include "clock.h"
#include "config.h"
#include "log.h"
#include "relay.h"
#include "testutil.h"
#include "worker.h"

#define NWORKERS	3
#define NCLIENTS	6
#define DEADLINE_MS	20000

/* The owner's side: its loop, a budget, a relay and an upstream. */
struct owner {
	struct event_base	*base;
	struct event		*done_ev;
	int			 done;
	struct budget		 budget;
	struct worker_pool	 wp;
	struct config		*cf;
	struct relay		*rl;
	int			 lfd;		/* where clients connect */
	int			 lport;
	int			 upfd;		/* the upstream's listener */
	int			 client[NCLIENTS];
	int			 backend[NCLIENTS];	/* upstream's ends */
};

static void
done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct owner	*o = arg;

	(void)fd;
	(void)what;
	o->done++;
}

static bool
all_done(void *arg)
{
	return ((struct owner *)arg)->done > 0;
}

static void
owner_init(struct owner *o)
{
	char	text[256];
	int	port = 0;

	memset(o, 0, sizeof(*o));
	testutil_netns();
	ck_assert_int_eq(worker_threads_init(), 0);
	ck_assert_ptr_nonnull(o->base = worker_base_new());
	ck_assert_ptr_nonnull(o->done_ev = event_new(o->base, -1, 0, done_cb,
	    o));
	budget_init(&o->budget, NULL);
	o->upfd = testutil_listen_lo(IPPROTO_TCP, &port);
	snprintf(text, sizeof(text), "[w]\nlisten = 127.0.0.1:1\n"
	    "upstream = 127.0.0.1:%d\n", port);
	o->cf = testutil_config(text, 0);
	ck_assert_ptr_nonnull(o->rl = relay_new(o->cf,
	    TAILQ_FIRST(&o->cf->cf_listeners), NWORKERS + 1));
	o->lport = 0;
	o->lfd = testutil_listen_lo(IPPROTO_TCP, &o->lport);
	ck_assert_int_eq(worker_pool_start(&o->wp, NWORKERS, &o->budget,
	    o->done_ev), 0);
}

static void
owner_free(struct owner *o)
{
	relay_unref(o->rl);
	config_unref(o->cf);
	event_free(o->done_ev);
	event_base_free(o->base);
	close(o->lfd);
	close(o->upfd);
}

/*
 * The names of this process's threads that start with "worker" (a
 * sanitizer may run threads of its own).
 */
static int
thread_names(char names[][32], int max)
{
	struct dirent	*de;
	DIR		*dir;
	FILE		*fp;
	char		 path[128], buf[32];
	int		 n = 0;

	ck_assert_ptr_nonnull(dir = opendir("/proc/self/task"));
	while ((de = readdir(dir)) != NULL) {
		if (de->d_name[0] == '.' || atoi(de->d_name) == getpid())
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%d/comm",
		    atoi(de->d_name));
		if ((fp = fopen(path, "r")) == NULL)
			continue;	/* ended meanwhile */
		if (fgets(buf, sizeof(buf), fp) != NULL && n < max &&
		    strncmp(buf, "worker", 6) == 0) {
			buf[strcspn(buf, "\n")] = '\0';
			snprintf(names[n++], 32, "%s", buf);
		}
		fclose(fp);
	}
	closedir(dir);
	return n;
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* Accept a client as a listener would, count it in and dispatch it. */
static void
dispatch_one(struct owner *o, int k)
{
	struct sockaddr_storage	ss;
	socklen_t		len = sizeof(ss);
	int			fd;

	o->client[k] = testutil_connect_lo(IPPROTO_TCP, o->lport);
	ck_assert_int_ge(fd = accept4(o->lfd, (struct sockaddr *)&ss, &len,
	    SOCK_NONBLOCK | SOCK_CLOEXEC), 0);
	ck_assert(budget_session_take(&o->budget));
	relay_session_in(o->rl);
	worker_dispatch(&o->wp, o->rl, o->cf, TAILQ_FIRST(&o->cf->cf_listeners),
	    fd, (struct sockaddr *)&ss, len);
	ck_assert_int_eq(poll(&(struct pollfd){ o->upfd, POLLIN, 0 }, 1,
	    DEADLINE_MS), 1);
	ck_assert_int_ge(o->backend[k] = accept(o->upfd, NULL, NULL), 0);
}

/* Bytes both ways through session k. */
static void
exchange(struct owner *o, int k)
{
	char	buf[32], want[32];
	int	n = snprintf(want, sizeof(want), "hello %d", k);

	ck_assert_int_eq(write(o->client[k], want, (size_t)n), n);
	ck_assert_int_eq(read(o->backend[k], buf, sizeof(buf)), n);
	ck_assert(memcmp(buf, want, (size_t)n) == 0);
	ck_assert_int_eq(write(o->backend[k], "olleh", 5), 5);
	ck_assert_int_eq(read(o->client[k], buf, sizeof(buf)), 5);
	ck_assert(memcmp(buf, "olleh", 5) == 0);
}

static bool
wp_sessions_zero(void *arg)
{
	struct owner	*o = arg;

	return worker_pool_sessions(&o->wp) == 0 &&
	    budget_sessions(&o->budget) == 0;
}

/* How an ended session's client sees its end: 0 (FIN) or -1 (reset). */
static int
client_end(int fd)
{
	char	buf[16];
	ssize_t	n;

	ck_assert_int_eq(poll(&(struct pollfd){ fd, POLLIN, 0 }, 1,
	    DEADLINE_MS), 1);
	n = read(fd, buf, sizeof(buf));
	ck_assert_msg(n == 0 || (n == -1 && errno == ECONNRESET),
	    "read %zd: %s", n, strerror(errno));
	return (int)n;
}

START_TEST(test_start_names_stop_join)
{
	struct owner	o;
	char		names[16][32];
	int		n, i;

	owner_init(&o);
	ck_assert_int_eq(o.wp.wp_count, NWORKERS);
	n = thread_names(names, 16);
	ck_assert_int_eq(n, NWORKERS);
	qsort(names, (size_t)n, sizeof(names[0]), name_cmp);
	for (i = 0; i < n; i++) {
		char	want[32];

		snprintf(want, sizeof(want), "worker %d", i + 1);
		ck_assert_str_eq(names[i], want);
	}
	ck_assert_uint_eq(worker_pool_sessions(&o.wp), 0);
	worker_pool_stop(&o.wp, 1000, false);
	testutil_loop_until(o.base, all_done, &o, DEADLINE_MS, "workers done");
	ck_assert_int_eq(o.done, 1);
	ck_assert_uint_eq(o.wp.wp_running, 0);
	worker_pool_join(&o.wp);
	ck_assert_ptr_null(o.wp.wp_workers);
	ck_assert_int_eq(o.wp.wp_count, 0);
	ck_assert_int_eq(thread_names(names, 16), 0);
	owner_free(&o);
}
END_TEST

/* Clients in turn to each worker; each relays in its own loop. */
START_TEST(test_dispatch_in_turn)
{
	struct owner		 o;
	struct relay_counters	*c;
	int			 k, l;

	owner_init(&o);
	for (k = 0; k < NCLIENTS; k++)
		dispatch_one(&o, k);
	for (k = 0; k < NCLIENTS; k++)
		exchange(&o, k);
	ck_assert_uint_eq(worker_pool_sessions(&o.wp), NCLIENTS);
	ck_assert_uint_eq(budget_sessions(&o.budget), NCLIENTS);
	/* The daemon's own loop (0) ran none; each worker two. */
	ck_assert_uint_eq(__atomic_load_n(&relay_counters(o.rl, 0)->rc_active,
	    __ATOMIC_RELAXED), 0);
	for (l = 1; l <= NWORKERS; l++) {
		c = relay_counters(o.rl, l);
		ck_assert_uint_eq(__atomic_load_n(&c->rc_active,
		    __ATOMIC_RELAXED), NCLIENTS / NWORKERS);
	}
	/* Clean ends, each passed on. */
	for (k = 0; k < NCLIENTS; k++) {
		close(o.backend[k]);
		ck_assert_int_eq(client_end(o.client[k]), 0);
		close(o.client[k]);
	}
	testutil_loop_until(o.base, wp_sessions_zero, &o, DEADLINE_MS,
	    "sessions ended");
	ck_assert_uint_eq(__atomic_load_n(&o.rl->rl_sessions,
	    __ATOMIC_RELAXED), 0);
	worker_pool_stop(&o.wp, 0, true);
	testutil_loop_until(o.base, all_done, &o, DEADLINE_MS, "workers done");
	worker_pool_join(&o.wp);
	/* Counted per loop, read once the threads are gone. */
	for (l = 1; l <= NWORKERS; l++) {
		c = relay_counters(o.rl, l);
		ck_assert_uint_eq(c->rc_active, 0);
		ck_assert_uint_eq(c->rc_sessions_tcp, NCLIENTS / NWORKERS);
		ck_assert_uint_eq(c->rc_bytes_in, 7 * (NCLIENTS / NWORKERS));
		ck_assert_uint_eq(c->rc_bytes_out, 5 * (NCLIENTS / NWORKERS));
	}
	ck_assert_uint_eq(relay_counters(o.rl, 0)->rc_sessions_tcp, 0);
	owner_free(&o);
}
END_TEST

/*
 * A stop: _i 0 drains (sessions end on their own or when the drain runs
 * out), 1 closes them at once. Either way every session ends, the owner
 * is told once, and the threads can be joined.
 */
START_TEST(test_stop_with_sessions_open)
{
	struct owner	o;
	int		k;

	owner_init(&o);
	for (k = 0; k < NCLIENTS; k++) {
		dispatch_one(&o, k);
		exchange(&o, k);
	}
	worker_pool_stop(&o.wp, _i == 0 ? 300 : 0, _i == 1);
	for (k = 0; k < NCLIENTS; k++) {
		client_end(o.client[k]);
		close(o.client[k]);
		close(o.backend[k]);
	}
	testutil_loop_until(o.base, all_done, &o, DEADLINE_MS, "workers done");
	ck_assert_int_eq(o.done, 1);
	ck_assert_uint_eq(worker_pool_sessions(&o.wp), 0);
	ck_assert_uint_eq(budget_sessions(&o.budget), 0);
	worker_pool_join(&o.wp);
	ck_assert_uint_eq(o.rl->rl_sessions, 0);
	owner_free(&o);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("worker");
	TCase	*tk = tcase_create("kernel");

	log_init(LOG_LVL_WARNING);
	/* Every test here needs the kernel: left out, none runs (SKIP). */
	if (testutil_kernel_tests("check_worker", 0)) {
		tcase_set_timeout(tk, 60);
		tcase_add_test(tk, test_start_names_stop_join);
		tcase_add_test(tk, test_dispatch_in_turn);
		tcase_add_loop_test(tk, test_stop_with_sessions_open, 0, 2);
		suite_add_tcase(s, tk);
	}
	return testutil_run(srunner_create(s));
}
