/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

/*
 * Zero-copy relaying with splice(2): bytes go socket -> pipe -> socket
 * without passing through user space. A pool per event loop keeps empty
 * pipes for reuse; a session takes a pipe for a direction only while bytes
 * sit in it, so idle sessions hold none, and the owner trims the pool
 * now and then, so an idle loop holds none either. A pipe is never filled
 * beyond its byte limit (at most SPLICE_PIPE_LIMIT), which bounds what a
 * direction holds exactly as a relay buffer of that size would. Nothing
 * here knows about sessions or events.
 */
#ifndef MPTCP_RELAYD_SPLICE_H
#define MPTCP_RELAYD_SPLICE_H

#include <sys/types.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "budget.h"
#include "pool.h"

/*
 * The most a pipe is filled with: the kernel's default pipe size, at most
 * a relay buffer (what a direction leaving splice moves into one). A
 * pipe grown to 128 KiB with F_SETPIPE_SZ measured the same as this
 * (bench/README).
 */
#define SPLICE_PIPE_LIMIT	(64 * 1024)
/* Empty pipes kept per pool (two descriptors each). */
#define SPLICE_POOL_MAX		32

struct splice_pipe {
	struct pool_link	 sp_link;	/* in the pool */
	int			 sp_rfd;	/* read end */
	int			 sp_wfd;	/* write end */
	uint32_t		 sp_len;	/* bytes in the pipe */
	uint32_t		 sp_cap;	/* bytes it may hold */
};

struct splice_pool {
	struct pool		 spl_pool;	/* empty pipes */
	struct budget		*spl_budget;	/* descriptors; NULL: no limit */
	unsigned		 spl_nbusy;	/* handed out, not back yet */
	uint64_t		 spl_taken;	/* handed out, ever (statistics) */
	bool			 spl_unsupported; /* splice(2) refused */
};

/*
 * An empty pool. Every pipe it makes counts against budget (may be NULL)
 * until it is closed, pooled or not.
 */
void	splice_pool_init(struct splice_pool *spl, struct budget *budget);

/*
 * Close the pool's pipes. Pipes still handed out stay with their holders,
 * who must give them back with splice_pipe_put() or splice_pipe_close().
 */
void	splice_pool_clear(struct splice_pool *spl);

/*
 * An empty pipe, from the pool or new (non-blocking, close-on-exec).
 * Returns NULL with errno set (EMFILE when the budget's share of pipes is
 * used up, ENFILE, ENOMEM...) when none can be made, or ENOSYS once the
 * pool was marked unsupported; the caller then relays through a buffer.
 */
struct splice_pipe *splice_pipe_get(struct splice_pool *spl);

/*
 * Give back a pipe taken with splice_pipe_get(). An empty pipe returns to
 * the pool (or is closed when the pool is full); a pipe that still holds
 * bytes is closed, its bytes lost.
 */
void	splice_pipe_put(struct splice_pool *spl, struct splice_pipe *sp);

/*
 * Close the empty pipes that were not needed since the last trim (as many
 * as the pool never went below). Returns how many empty pipes are left:
 * called periodically while that is not 0, an idle pool empties within
 * two calls.
 */
unsigned splice_pool_trim(struct splice_pool *spl);

/*
 * Move up to max bytes from the socket fd into the pipe, never beyond its
 * capacity. Returns the bytes moved (> 0), 0 at the socket's end of
 * stream, or -1 with errno: EAGAIN when the socket has nothing or the
 * pipe no room (it may run out of pages before sp_cap bytes), another
 * value from splice(2) otherwise. Never blocks on a non-blocking socket.
 */
ssize_t	splice_pipe_fill(struct splice_pipe *sp, int fd, size_t max);

/*
 * Move what the pipe holds to the socket fd, as much as it takes.
 * Returns the bytes moved (>= 0) or -1 with errno (EAGAIN when the socket
 * has no room, EPIPE or ECONNRESET when it is gone).
 */
ssize_t	splice_pipe_drain(struct splice_pipe *sp, int fd);

/*
 * Copy up to len bytes out of the pipe into buf with read(2): for a
 * direction that has to leave splice with bytes still in its pipe.
 * Returns the bytes copied or -1 with errno.
 */
ssize_t	splice_pipe_read(struct splice_pipe *sp, void *buf, size_t len);

/*
 * Whether errno value err from splice(2) means the kernel (or a seccomp
 * filter) cannot splice these descriptors at all, as opposed to a failure
 * of this connection: EINVAL and ENOSYS.
 */
bool	splice_unsupported(int err);

/*
 * Note that splice(2) is unavailable: later splice_pipe_get() calls fail.
 * Returns true the first time only, so the caller can log it once.
 */
bool	splice_pool_disable(struct splice_pool *spl);

#endif
