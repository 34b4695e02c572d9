/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

/*
 * The descriptor budget of the process, shared by every event loop. A
 * session holds at most two sockets; pipes for splice(2) come out of a
 * share of their own, and a direction that cannot get one relays through
 * a buffer instead. A session is counted from the moment its client is
 * about to be accepted until it is closed, wherever it runs, so a connect
 * never fails for want of a descriptor that an accept already took: at the
 * limit the listeners stop accepting (clients wait in the listen queue)
 * and resume as soon as a session ends, on whatever thread it ends.
 * Counters are atomic; nothing here takes a lock.
 */
#ifndef MPTCP_RELAYD_BUDGET_H
#define MPTCP_RELAYD_BUDGET_H

#include <stdbool.h>

#include <event2/event.h>

/* Descriptors a session may hold: its client and its upstream socket. */
#define BUDGET_FDS_PER_SESSION	2
/* Kept back for short-lived descriptors: a reload's file, resolver... */
#define BUDGET_SPARE		16

struct budget {
	unsigned	 b_limit;	/* RLIMIT_NOFILE, or 0: none */
	unsigned	 b_room;	/* sessions the descriptors allow */
	unsigned	 b_cap;		/* [global] max_connections, 0: none */
	unsigned	 b_sessions_max;	/* the smaller of the two */
	unsigned	 b_pipes_max;	/* pipe descriptors, two per pipe */
	unsigned	 b_sessions;	/* atomic */
	unsigned	 b_pipes;	/* atomic: open, busy or pooled */
	unsigned	 b_blocked;	/* atomic: out of descriptors anyway */
	unsigned	 b_waiting;	/* atomic: the accepting loop waits */
	struct event	*b_wake;
};

/*
 * Raise the soft open-files limit to the hard one and start an empty
 * budget; wake is activated (from any thread) when a session ends while
 * the accepting loop waits for room.
 */
void	budget_init(struct budget *b, struct event *wake);

/*
 * Share the open-files limit out: base descriptors are held outside
 * sessions and pipes (standard streams, event loops, listening sockets),
 * BUDGET_SPARE more are kept back, an eighth of the rest goes to pipes and
 * the remainder to sessions. Called at start-up and after a reload changed
 * the listening sockets; logs the result when it changed.
 */
void	budget_size(struct budget *b, unsigned base);

/*
 * [global] max_connections: at most cap sessions (0: as many as the
 * descriptors allow). Takes effect for the next admission.
 */
void	budget_set_cap(struct budget *b, unsigned cap);

/* Whether max_connections, not the descriptors, is the limit now. */
bool	budget_capped(const struct budget *b);

/*
 * Count a session about to be accepted. Returns false at the limit: the
 * caller stops accepting until b_wake fires.
 */
bool	budget_session_take(struct budget *b);

/*
 * The caller found another limit full (a listener's max_connections):
 * wake it, through b_wake, when any session ends. retry is called once
 * more after the wish is registered, for a session that ended meanwhile;
 * its answer is returned (true: room after all, nothing to wait for).
 */
bool	budget_wait(struct budget *b, bool (*retry)(void *), void *arg);

/* A counted session ended: count it out and wake the accepting loop. */
void	budget_session_release(struct budget *b);

/* Count a new pipe (two descriptors) in, or refuse it at the limit. */
bool	budget_pipe_take(struct budget *b);
void	budget_pipe_release(struct budget *b);

/*
 * The process ran out of descriptors although the budget had room (a
 * limit lowered from outside, the system-wide table full): admit no new
 * session until one ends.
 */
void	budget_note_exhausted(struct budget *b);

/* Sessions counted now (a snapshot, from any thread). */
unsigned budget_sessions(const struct budget *b);

/* Descriptors open in this process now (/proc/self/fd), or 0. */
unsigned budget_count_open(void);

#endif
