/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

#include "autoconf.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <errno.h>
#include <unistd.h>

#include <event2/event.h>

#include "io.h"
#include "sock.h"

static int
io_raw_handshake(struct io *io)
{
	(void)io;
	return 0;
}

static ssize_t
io_raw_read(struct io *io, void *buf, size_t len)
{
	ssize_t	n;

	/* EINTR cannot happen on a non-blocking socket; count it as EAGAIN. */
	if ((n = read(io->io_fd, buf, len)) == -1 && errno == EINTR)
		errno = EAGAIN;
	return n;
}

static ssize_t
io_raw_write(struct io *io, const void *buf, size_t len)
{
	ssize_t	n;

	if ((n = send(io->io_fd, buf, len, MSG_NOSIGNAL)) == -1 &&
	    errno == EINTR)
		errno = EAGAIN;
	return n;
}

static int
io_raw_shutdown(struct io *io)
{
	/*
	 * A failure (ENOTCONN after a reset) is not reported here: the next
	 * read of the side finds the reset and ends the session with it.
	 */
	(void)shutdown(io->io_fd, SHUT_WR);
	return 0;
}

static void
io_raw_close(struct io *io, bool abort)
{
	if (abort)
		sock_abort(io->io_fd);
	else
		close(io->io_fd);
}

static const struct io_ops io_raw_ops = {
	.io_name = "raw",
	.io_raw = true,
	.io_handshake = io_raw_handshake,
	.io_read = io_raw_read,
	.io_write = io_raw_write,
	.io_shutdown = io_raw_shutdown,
	.io_pending = NULL,		/* holds no bytes */
	.io_close = io_raw_close,
};

static ssize_t
io_none_read(struct io *io, void *buf, size_t len)
{
	(void)io;
	(void)buf;
	(void)len;
	errno = EBADF;
	return -1;
}

static ssize_t
io_none_write(struct io *io, const void *buf, size_t len)
{
	(void)io;
	(void)buf;
	(void)len;
	errno = EBADF;
	return -1;
}

static int
io_none_shutdown(struct io *io)
{
	(void)io;
	errno = EBADF;
	return -1;
}

static void
io_none_close(struct io *io, bool abort)
{
	(void)io;
	(void)abort;
}

static const struct io_ops io_none_ops = {
	.io_name = "none",
	.io_handshake = io_none_shutdown,
	.io_read = io_none_read,
	.io_write = io_none_write,
	.io_shutdown = io_none_shutdown,
	.io_pending = NULL,		/* holds no bytes */
	.io_close = io_none_close,
};

void
io_init(struct io *io)
{
	io->io_fd = -1;
	io->io_ops = &io_none_ops;
	io->io_ctx = NULL;
	io->io_rd_want = EV_READ;
	io->io_wr_want = EV_WRITE;
}

void
io_raw_init(struct io *io, int fd)
{
	io->io_fd = fd;
	io->io_ops = &io_raw_ops;
	io->io_ctx = NULL;
	io->io_rd_want = EV_READ;
	io->io_wr_want = EV_WRITE;
}

void
io_close(struct io *io, bool abort)
{
	if (io->io_fd != -1)
		io->io_ops->io_close(io, abort);
	io_init(io);
}
