/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

/*
 * The per-side I/O layer of a session: each side reads, writes, ends its
 * stream and closes through a small table of operations, as HAProxy's
 * xprt_ops do, so that a TLS side is one more implementation beside the
 * raw socket, not a second relay.
 *
 * The rules every implementation follows:
 *  - handshake brings the layer up before any byte moves (a TLS
 *    handshake; nothing for a raw socket): 0 when done, -1 with EAGAIN to
 *    be called again when io_rd_want or io_wr_want (whichever it set)
 *    says, -1 with another errno when it failed.
 *  - read returns the bytes read (> 0), 0 at a clean end of stream (a FIN,
 *    or a TLS close_notify), or -1 with errno: EAGAIN when nothing can be
 *    read now, anything else when the stream failed (a reset, a TLS
 *    truncation or alert). write returns the bytes taken (> 0) or -1 the
 *    same way. shutdown ends our direction of the stream (a FIN, a
 *    close_notify): 0 when done, -1 with EAGAIN to be called again later.
 *  - After an EAGAIN, io_rd_want (for a read) or io_wr_want (for a write
 *    or a shutdown) says which readiness of the descriptor lets the call
 *    progress: EV_READ or EV_WRITE. A raw socket always waits for the
 *    obvious one; TLS may need to write to read, or read to write.
 *  - A layer may hold bytes it has already taken from the descriptor (TLS
 *    decrypts whole records): io_pending() says how many, and the owner
 *    must read them without waiting for the descriptor, which will not
 *    signal them again.
 *  - io_raw (of the table) is true when the bytes on the descriptor are
 *    the stream's own, so that splice(2) may move them without passing
 *    through the layer.
 */
#ifndef MPTCP_RELAYD_IO_H
#define MPTCP_RELAYD_IO_H

#include <sys/types.h>
#include <stdbool.h>
#include <stddef.h>

struct io;

struct io_ops {
	const char	*io_name;
	bool		 io_raw;
	int		(*io_handshake)(struct io *);
	ssize_t		(*io_read)(struct io *, void *, size_t);
	ssize_t		(*io_write)(struct io *, const void *, size_t);
	int		(*io_shutdown)(struct io *);
	size_t		(*io_pending)(const struct io *);	/* NULL: never */
	/* Release the layer and close the descriptor; abort: send a reset. */
	void		(*io_close)(struct io *, bool abort);
};

struct io {
	int			 io_fd;		/* -1: none (yet) */
	short			 io_rd_want;	/* EV_READ or EV_WRITE */
	short			 io_wr_want;
	const struct io_ops	*io_ops;
	void			*io_ctx;	/* the layer's own state */
};

/* No descriptor yet: every operation but close is an error. */
void	io_init(struct io *io);

/* The raw socket fd (owned by io from then on): bytes as they come. */
void	io_raw_init(struct io *io, int fd);

static inline int
io_handshake(struct io *io)
{
	return io->io_ops->io_handshake(io);
}

static inline ssize_t
io_read(struct io *io, void *buf, size_t len)
{
	return io->io_ops->io_read(io, buf, len);
}

static inline ssize_t
io_write(struct io *io, const void *buf, size_t len)
{
	return io->io_ops->io_write(io, buf, len);
}

static inline int
io_shutdown(struct io *io)
{
	return io->io_ops->io_shutdown(io);
}

static inline size_t
io_pending(const struct io *io)
{
	/* No call on the data path of a layer that never holds bytes. */
	return io->io_ops->io_pending != NULL ? io->io_ops->io_pending(io) : 0;
}

/* Whether splice(2) may move this side's bytes past the layer. */
static inline bool
io_is_raw(const struct io *io)
{
	return io->io_ops->io_raw;
}

/* Close the side (a no-op without a descriptor); io is empty afterwards. */
void	io_close(struct io *io, bool abort);

#endif
