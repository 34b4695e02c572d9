/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

#include "autoconf.h"

#include <sys/resource.h>
#include <dirent.h>
#include <limits.h>
#include <string.h>

#include "budget.h"
#include "log.h"

void
budget_init(struct budget *b, struct event *wake)
{
	struct rlimit	rl;

	memset(b, 0, sizeof(*b));
	b->b_wake = wake;
	b->b_room = UINT_MAX;
	b->b_sessions_max = UINT_MAX;
	b->b_pipes_max = UINT_MAX;
	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			log_warn("setrlimit RLIMIT_NOFILE");
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == -1 ||
	    rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > INT_MAX)
		return;
	b->b_limit = (unsigned)rl.rlim_cur;
}

void
budget_size(struct budget *b, unsigned base)
{
	unsigned	room, pipes, sessions;

	if (b->b_limit == 0)
		return;
	room = b->b_limit > base + BUDGET_SPARE ?
	    b->b_limit - base - BUDGET_SPARE : 0;
	pipes = room / 8 & ~1U;
	sessions = (room - pipes) / BUDGET_FDS_PER_SESSION;
	if (sessions < 1) {
		/* A tiny limit (tests, a misconfigured unit): one session. */
		sessions = 1;
		pipes = 0;
	}
	if (sessions == b->b_room && pipes == b->b_pipes_max)
		return;
	b->b_room = sessions;
	__atomic_store_n(&b->b_pipes_max, pipes, __ATOMIC_RELAXED);
	budget_set_cap(b, b->b_cap);
	log_info("open files limit %u: room for %u session%s and %u "
	    "splice pipe%s (%u descriptors held otherwise)", b->b_limit,
	    sessions, sessions == 1 ? "" : "s", pipes / 2,
	    pipes / 2 == 1 ? "" : "s", base);
}

void
budget_set_cap(struct budget *b, unsigned cap)
{
	unsigned	max = b->b_room;

	b->b_cap = cap;
	if (cap > 0 && cap < max)
		max = cap;
	__atomic_store_n(&b->b_sessions_max, max, __ATOMIC_RELAXED);
}

bool
budget_capped(const struct budget *b)
{
	return b->b_cap > 0 && b->b_cap <= b->b_room;
}

static bool
budget_try(struct budget *b)
{
	unsigned	n, max;

	if (__atomic_load_n(&b->b_blocked, __ATOMIC_ACQUIRE))
		return false;
	max = __atomic_load_n(&b->b_sessions_max, __ATOMIC_RELAXED);
	n = __atomic_load_n(&b->b_sessions, __ATOMIC_RELAXED);
	do {
		if (n >= max)
			return false;
	} while (!__atomic_compare_exchange_n(&b->b_sessions, &n, n + 1, true,
	    __ATOMIC_ACQ_REL, __ATOMIC_RELAXED));
	return true;
}

bool
budget_session_take(struct budget *b)
{
	if (budget_try(b))
		return true;
	/*
	 * Say we wait, then look again: a session that ended between the
	 * two saw no waiter and woke nobody.
	 */
	__atomic_store_n(&b->b_waiting, 1, __ATOMIC_SEQ_CST);
	if (!budget_try(b))
		return false;
	__atomic_store_n(&b->b_waiting, 0, __ATOMIC_RELAXED);
	return true;
}

bool
budget_wait(struct budget *b, bool (*retry)(void *), void *arg)
{
	__atomic_store_n(&b->b_waiting, 1, __ATOMIC_SEQ_CST);
	if (!retry(arg))
		return false;
	__atomic_store_n(&b->b_waiting, 0, __ATOMIC_RELAXED);
	return true;
}

void
budget_session_release(struct budget *b)
{
	__atomic_sub_fetch(&b->b_sessions, 1, __ATOMIC_ACQ_REL);
	__atomic_store_n(&b->b_blocked, 0, __ATOMIC_RELEASE);
	if (__atomic_load_n(&b->b_waiting, __ATOMIC_SEQ_CST) &&
	    __atomic_exchange_n(&b->b_waiting, 0, __ATOMIC_ACQ_REL) &&
	    b->b_wake != NULL)
		event_active(b->b_wake, EV_READ, 0);
}

bool
budget_pipe_take(struct budget *b)
{
	unsigned	n, max;

	max = __atomic_load_n(&b->b_pipes_max, __ATOMIC_RELAXED);
	n = __atomic_load_n(&b->b_pipes, __ATOMIC_RELAXED);
	do {
		if (n + 2 > max)
			return false;
	} while (!__atomic_compare_exchange_n(&b->b_pipes, &n, n + 2, true,
	    __ATOMIC_ACQ_REL, __ATOMIC_RELAXED));
	return true;
}

void
budget_pipe_release(struct budget *b)
{
	__atomic_sub_fetch(&b->b_pipes, 2, __ATOMIC_ACQ_REL);
}

void
budget_note_exhausted(struct budget *b)
{
	__atomic_store_n(&b->b_blocked, 1, __ATOMIC_RELEASE);
}

unsigned
budget_sessions(const struct budget *b)
{
	return __atomic_load_n(&b->b_sessions, __ATOMIC_RELAXED);
}

unsigned
budget_count_open(void)
{
	DIR		*dir;
	struct dirent	*de;
	unsigned	 n = 0;

	if ((dir = opendir("/proc/self/fd")) == NULL)
		return 0;
	while ((de = readdir(dir)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(dir);
	return n > 0 ? n - 1 : 0;	/* not the directory's own */
}
