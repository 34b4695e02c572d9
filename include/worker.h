/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

/*
 * Workers: event-loop threads that run sessions ([global] workers = N).
 * With one worker there is no thread at all: the daemon's own loop runs
 * the sessions. With N > 1 the daemon's loop keeps the listeners (so
 * reloads stay in one place), accepts, runs one share of the sessions
 * itself and hands the others in turn to N - 1 worker threads; a worker
 * owns its sessions from start to end, so the data path takes no lock.
 * Hand-over and commands go through a short mutex-guarded queue and
 * event_active().
 *
 * Why not a listening socket per thread with SO_REUSEPORT? MPTCP
 * listeners accept the option, but then a hash of the addresses picks
 * the thread, the connections still queued on a socket that a reload
 * closes are reset, and socket activation passes a single socket.
 */
#ifndef MPTCP_RELAYD_WORKER_H
#define MPTCP_RELAYD_WORKER_H

#include <sys/socket.h>
#include <stdint.h>

#include <event2/event.h>

#include "budget.h"
#include "config.h"
#include "relay.h"

struct worker;

struct worker_pool {
	struct worker	*wp_workers;
	int		 wp_count;
	unsigned	 wp_next;	/* round-robin cursor */
	unsigned	 wp_running;	/* threads not yet finished */
	/* Called in the owner's loop when every worker has finished. */
	struct event	*wp_done_ev;
};

/*
 * A new event base for a loop that runs sessions (the daemon's own or a
 * worker's), or NULL. With epoll, changes to a descriptor's events made
 * within one loop turn reach the kernel as one epoll_ctl call: a session
 * switches its events often (connect done -> read, buffer full ->
 * write), and this saves system calls on every connection. Safe here:
 * the daemon never dup()s a socket it watches.
 */
struct event_base *worker_base_new(void);

/*
 * Make libevent thread-safe. Must run before the first event base is
 * created, and only when workers will be used. 0 or -1.
 */
int	worker_threads_init(void);

/*
 * Start n worker threads, whose event loops are numbered 1 to n (the
 * daemon's own is 0) and count descriptors against budget. done is
 * activated (in the loop it belongs to) once all of them have finished
 * after worker_pool_stop(). 0, or -1 after logging why, with no thread
 * left running.
 */
int	worker_pool_start(struct worker_pool *wp, int n, struct budget *budget,
	    struct event *done);

/*
 * Hand the accepted client fd of section rl (configured as conf in cf) to
 * the next worker, which starts its session (see session_start(): the
 * client was counted in, and the session counts it out). The pool takes
 * over fd and keeps references on rl and cf until the session holds its
 * own.
 */
void	worker_dispatch(struct worker_pool *wp, struct relay *rl,
	    struct config *cf, const struct listener_config *conf, int fd,
	    const struct sockaddr *client, socklen_t clientlen);

/*
 * Ask every worker to finish: its sessions run on for at most drain_ms,
 * then are closed (end=shutdown), as session_ctx_drain() does. With now,
 * close them at once.
 */
void	worker_pool_stop(struct worker_pool *wp, uint64_t drain_ms, bool now);

/* Sessions open in all workers (a snapshot). */
unsigned worker_pool_sessions(const struct worker_pool *wp);

/* Wait for every thread to end and free the pool. */
void	worker_pool_join(struct worker_pool *wp);

#endif
