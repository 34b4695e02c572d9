/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

/*
 * The descriptor budget (budget.c): how the open-files limit is shared
 * out, sessions counted before they are accepted up to the smaller of the
 * descriptors' room and max_connections, pipes from their own share, and
 * the wake-up of the accepting loop when a session ends on any thread.
 * Each test runs in a forked child, so its rlimit changes stay there.
 */

#include "autoconf.h"

#include <sys/resource.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <event2/event.h>

#include "budget.h"
#include "clock.h"
#include "log.h"
#include "testutil.h"
#include "worker.h"

#define NTHREADS	4
#define DEADLINE_MS	20000

/* The accepting loop's wake-up: where and how often it ran. */
struct wake {
	struct event_base	*base;
	struct event		*ev;
	int			 fired;
	pthread_t		 thread;
};

static void
wake_cb(evutil_socket_t fd, short what, void *arg)
{
	struct wake	*w = arg;

	(void)fd;
	(void)what;
	w->fired++;
	w->thread = pthread_self();
}

static void
wake_init(struct wake *w)
{
	memset(w, 0, sizeof(*w));
	ck_assert_ptr_nonnull(w->base = event_base_new());
	ck_assert_ptr_nonnull(w->ev = event_new(w->base, -1, 0, wake_cb, w));
}

static void
wake_free(struct wake *w)
{
	event_free(w->ev);
	event_base_free(w->base);
}

/* Whether the wake-up was activated (and not yet run): no waiting. */
static bool
wake_active(const struct wake *w)
{
	return event_pending(w->ev, EV_READ | EV_WRITE | EV_TIMEOUT, NULL) != 0;
}

static bool
wake_fired(void *arg)
{
	return ((struct wake *)arg)->fired > 0;
}

/* A budget on an open-files limit of exactly limit. */
static void
budget_at(struct budget *b, struct event *wake, unsigned limit)
{
	struct rlimit	rl = { limit, limit };

	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	budget_init(b, wake);
	ck_assert_uint_eq(b->b_limit, limit);
	ck_assert_uint_eq(budget_sessions(b), 0);
}

/*
 * A budget on a limit of 1040 with 24 descriptors held otherwise: room
 * for 438 sessions and 62 pipes; its wake-up w, unless NULL.
 */
static void
budget_sized(struct budget *b, struct wake *w)
{
	if (w != NULL)
		wake_init(w);
	budget_at(b, w != NULL ? w->ev : NULL, 1040);
	budget_size(b, 24);
}

START_TEST(test_init_raises_soft_limit)
{
	struct budget	b;
	struct rlimit	rl;

	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_max == RLIM_INFINITY || rl.rlim_max > 4096)
		rl.rlim_max = 4096;	/* a hard limit budget_init() keeps */
	rl.rlim_cur = 64;
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	budget_init(&b, NULL);
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	ck_assert_uint_eq(rl.rlim_cur, rl.rlim_max);
	ck_assert_uint_eq(b.b_limit, rl.rlim_max);
	/* Not sized yet: nothing limits. */
	ck_assert(budget_session_take(&b));
	ck_assert(budget_pipe_take(&b));
	ck_assert_uint_eq(budget_sessions(&b), 1);
}
END_TEST

/*
 * limit - base - BUDGET_SPARE: an eighth (an even number) to pipes, the
 * rest to sessions of two descriptors; said once per change.
 */
START_TEST(test_size_shares_the_limit)
{
	struct budget		 b;
	struct testutil_capture	 cap;
	char			*text;

	budget_at(&b, NULL, 1040);
	testutil_capture_start(&cap);
	budget_size(&b, 24);		/* room 1000: pipes 124, sessions 438 */
	budget_size(&b, 24);		/* the same: not said again */
	text = testutil_capture_end(&cap);
	ck_assert_uint_eq(b.b_pipes_max, 124);
	ck_assert_uint_eq(b.b_room, 438);
	ck_assert_uint_eq(b.b_sessions_max, 438);
	ck_assert(!budget_capped(&b));
	ck_assert_int_eq(testutil_count(text, "open files limit 1040: room for "
	    "438 sessions and 62 splice pipes (24 descriptors held "
	    "otherwise)"), 1);
	ck_assert_int_eq(testutil_count(text, "open files limit"), 1);
	free(text);
	/* More listening sockets: less room. */
	budget_size(&b, 124);		/* room 900: pipes 112, sessions 394 */
	ck_assert_uint_eq(b.b_pipes_max, 112);
	ck_assert_uint_eq(b.b_sessions_max, 394);
}
END_TEST

/* Descriptors for less than a session: one all the same, no pipe. */
START_TEST(test_size_tiny_limit)
{
	struct budget	b;

	budget_at(&b, NULL, 20);
	budget_size(&b, 10);
	ck_assert_uint_eq(b.b_sessions_max, 1);
	ck_assert_uint_eq(b.b_pipes_max, 0);
	ck_assert(!budget_pipe_take(&b));
	ck_assert(budget_session_take(&b));
	ck_assert(!budget_session_take(&b));
}
END_TEST

/* max_connections: the smaller of the two limits wins. */
START_TEST(test_cap_and_room)
{
	struct budget	b;
	int		i;

	budget_at(&b, NULL, 1040);
	budget_set_cap(&b, 5);		/* before the size: kept */
	budget_size(&b, 24);
	ck_assert_uint_eq(b.b_sessions_max, 5);
	ck_assert(budget_capped(&b));
	for (i = 0; i < 5; i++)
		ck_assert(budget_session_take(&b));
	ck_assert(!budget_session_take(&b));
	ck_assert_uint_eq(budget_sessions(&b), 5);

	/* Raised: room for more at once. */
	budget_set_cap(&b, 6);
	ck_assert(budget_session_take(&b));
	ck_assert(!budget_session_take(&b));
	/* A cap above the room: the descriptors are the limit. */
	budget_set_cap(&b, 100000);
	ck_assert_uint_eq(b.b_sessions_max, 438);
	ck_assert(!budget_capped(&b));
	/* The cap exactly at the room: max_connections is named. */
	budget_set_cap(&b, 438);
	ck_assert(budget_capped(&b));
	budget_set_cap(&b, 0);
	ck_assert_uint_eq(b.b_sessions_max, 438);
	ck_assert(!budget_capped(&b));
	/* Lowered below the sessions open: none more until enough end. */
	budget_set_cap(&b, 3);
	ck_assert(!budget_session_take(&b));
	for (i = 0; i < 4; i++)
		budget_session_release(&b);
	ck_assert_uint_eq(budget_sessions(&b), 2);
	ck_assert(budget_session_take(&b));
	ck_assert(!budget_session_take(&b));
}
END_TEST

/*
 * At the limit the accepting loop waits; the first session to end wakes
 * it once, and only when it waits.
 */
START_TEST(test_release_wakes_a_waiting_loop)
{
	struct budget	b;
	struct wake	w;

	budget_sized(&b, &w);
	budget_set_cap(&b, 2);
	ck_assert(budget_session_take(&b));
	ck_assert(budget_session_take(&b));
	/* Room left when it ends: nobody waits, nobody is woken. */
	budget_session_release(&b);
	ck_assert(!wake_active(&w));
	ck_assert(budget_session_take(&b));

	ck_assert(!budget_session_take(&b));		/* now it waits */
	ck_assert(!wake_active(&w));
	budget_session_release(&b);
	ck_assert(wake_active(&w));
	testutil_loop_until(w.base, wake_fired, &w, DEADLINE_MS, "wake-up");
	ck_assert_int_eq(w.fired, 1);
	/* Woken once: the next end finds nobody waiting. */
	ck_assert(budget_session_take(&b));
	budget_session_release(&b);
	ck_assert(!wake_active(&w));
	wake_free(&w);
}
END_TEST

struct releaser {
	struct budget	*b;
	int		 n;
};

static void *
release_some(void *arg)
{
	struct releaser	*r = arg;
	int		 i;

	for (i = 0; i < r->n; i++)
		budget_session_release(r->b);
	return NULL;
}

/* A session ending in a worker wakes the accepting loop in its thread. */
START_TEST(test_release_from_another_thread)
{
	struct budget	 b;
	struct wake	 w;
	struct releaser	 r = { &b, 1 };
	pthread_t	 th;

	ck_assert_int_eq(worker_threads_init(), 0);
	budget_sized(&b, &w);
	budget_set_cap(&b, 1);
	ck_assert(budget_session_take(&b));
	ck_assert(!budget_session_take(&b));
	ck_assert_int_eq(pthread_create(&th, NULL, release_some, &r), 0);
	testutil_loop_until(w.base, wake_fired, &w, DEADLINE_MS, "wake-up");
	ck_assert(pthread_equal(w.thread, pthread_self()));
	pthread_join(th, NULL);
	ck_assert_uint_eq(budget_sessions(&b), 0);
	ck_assert(budget_session_take(&b));
	wake_free(&w);
}
END_TEST

/* The listener's own cap: retry's answer, and a wake-up if it was no. */
static bool
retry_answer(void *arg)
{
	return *(bool *)arg;
}

START_TEST(test_wait_for_another_limit)
{
	struct budget	b;
	struct wake	w;
	bool		room = true;

	budget_sized(&b, &w);
	ck_assert(budget_session_take(&b));
	ck_assert(budget_session_take(&b));
	/* Room after all: nothing to wait for. */
	ck_assert(budget_wait(&b, retry_answer, &room));
	budget_session_release(&b);
	ck_assert(!wake_active(&w));
	/* No room: the next end wakes the loop. */
	room = false;
	ck_assert(!budget_wait(&b, retry_answer, &room));
	budget_session_release(&b);
	ck_assert(wake_active(&w));
	testutil_loop_until(w.base, wake_fired, &w, DEADLINE_MS, "wake-up");
	ck_assert_uint_eq(budget_sessions(&b), 0);
	wake_free(&w);
}
END_TEST

START_TEST(test_pipes_from_their_share)
{
	struct budget	b;
	int		i;

	budget_sized(&b, NULL);
	for (i = 0; i < 62; i++)
		ck_assert_msg(budget_pipe_take(&b), "pipe %d", i);
	ck_assert(!budget_pipe_take(&b));
	ck_assert_uint_eq(b.b_pipes, 124);
	/* Pipes take nothing from the sessions. */
	ck_assert(budget_session_take(&b));
	budget_pipe_release(&b);
	ck_assert_uint_eq(b.b_pipes, 122);
	ck_assert(budget_pipe_take(&b));
	ck_assert(!budget_pipe_take(&b));
	for (i = 0; i < 62; i++)
		budget_pipe_release(&b);
	ck_assert_uint_eq(b.b_pipes, 0);
}
END_TEST

/* Out of descriptors despite the budget: nothing until a session ends. */
START_TEST(test_exhausted_until_a_session_ends)
{
	struct budget	b;
	struct wake	w;

	budget_sized(&b, &w);
	ck_assert(budget_session_take(&b));
	budget_note_exhausted(&b);
	ck_assert(!budget_session_take(&b));
	ck_assert(!budget_session_take(&b));
	budget_session_release(&b);
	ck_assert(wake_active(&w));
	ck_assert(budget_session_take(&b));
	ck_assert(budget_session_take(&b));
	wake_free(&w);
}
END_TEST

struct taker {
	struct budget	*b;
	unsigned	 max;
	int		 over;		/* times more than max were seen */
	int		 taken;
};

/*
 * 20,000 tries, and more while this thread has taken nothing: on a busy
 * machine its tries may all come while the others hold both slots. Its
 * first slot is what is asserted, not how soon it comes (60 s at most).
 */
static void *
take_release(void *arg)
{
	struct taker	*t = arg;
	uint64_t	 deadline = clock_ms() + 60000;
	int		 i;

	for (i = 0; i < 20000 || (t->taken == 0 && clock_ms() < deadline);
	    i++) {
		if (!budget_session_take(t->b))
			continue;
		t->taken++;
		if (budget_sessions(t->b) > t->max)
			t->over++;
		budget_session_release(t->b);
	}
	return NULL;
}

/* Threads taking and releasing at the limit: never above, back to 0. */
START_TEST(test_threads_never_exceed_the_limit)
{
	struct budget	b;
	struct wake	w;
	struct taker	t[NTHREADS];
	pthread_t	th[NTHREADS];
	int		i;

	ck_assert_int_eq(worker_threads_init(), 0);
	budget_sized(&b, &w);
	budget_set_cap(&b, 2);
	for (i = 0; i < NTHREADS; i++) {
		t[i] = (struct taker){ &b, 2, 0, 0 };
		ck_assert_int_eq(pthread_create(&th[i], NULL, take_release,
		    &t[i]), 0);
	}
	for (i = 0; i < NTHREADS; i++) {
		pthread_join(th[i], NULL);
		ck_assert_int_eq(t[i].over, 0);
		ck_assert_int_gt(t[i].taken, 0);
	}
	ck_assert_uint_eq(budget_sessions(&b), 0);
	ck_assert(budget_session_take(&b));
	ck_assert(budget_session_take(&b));
	ck_assert(!budget_session_take(&b));
	wake_free(&w);
}
END_TEST

START_TEST(test_count_open_descriptors)
{
	unsigned	before, with;
	int		p[2];

	before = budget_count_open();
	ck_assert_uint_gt(before, 2);	/* at least the standard streams */
	ck_assert_int_eq(pipe(p), 0);
	with = budget_count_open();
	ck_assert_uint_eq(with, before + 2);
	close(p[0]);
	close(p[1]);
	ck_assert_uint_eq(budget_count_open(), before);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("budget");
	TCase	*tc = tcase_create("budget");

	log_init(LOG_LVL_INFO);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_init_raises_soft_limit);
	tcase_add_test(tc, test_size_shares_the_limit);
	tcase_add_test(tc, test_size_tiny_limit);
	tcase_add_test(tc, test_cap_and_room);
	tcase_add_test(tc, test_release_wakes_a_waiting_loop);
	tcase_add_test(tc, test_release_from_another_thread);
	tcase_add_test(tc, test_wait_for_another_limit);
	tcase_add_test(tc, test_pipes_from_their_share);
	tcase_add_test(tc, test_exhausted_until_a_session_ends);
	tcase_add_test(tc, test_threads_never_exceed_the_limit);
	tcase_add_test(tc, test_count_open_descriptors);
	suite_add_tcase(s, tc);
	return testutil_run(srunner_create(s));
}
