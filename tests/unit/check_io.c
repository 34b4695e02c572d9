/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

/*
 * The I/O layer's raw socket (io.c) on real sockets, as io.h states the
 * rules every layer follows: bytes, a clean end, a failure, EAGAIN with
 * what to wait for, nothing ever held, a reset on an aborting close; and
 * the empty layer that refuses everything.
 */

#include "autoconf.h"

#include <sys/socket.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <event2/event.h>

#include "io.h"
#include "log.h"
#include "testutil.h"

static void
wait_readable(int fd)
{
	ck_assert_int_eq(poll(&(struct pollfd){ fd, POLLIN, 0 }, 1, 5000), 1);
}

/* A raw side over loopback TCP; its peer's end (blocking) in *peer. */
static void
raw_side(struct io *io, int *peer)
{
	int	a;

	testutil_tcp_pair(peer, &a);
	io_raw_init(io, a);
	ck_assert_int_eq(io->io_fd, a);
}

START_TEST(test_raw_reads_writes_and_ends)
{
	struct io	io;
	char		buf[64];
	int		c, a;

	testutil_netns();
	raw_side(&io, &c);
	ck_assert(io_is_raw(&io));
	a = io.io_fd;
	ck_assert_uint_eq(io_pending(&io), 0);
	ck_assert_int_eq(io_handshake(&io), 0);	/* nothing to do */

	/* Nothing yet: EAGAIN, waiting for readability. */
	ck_assert_int_eq(io_read(&io, buf, sizeof(buf)), -1);
	ck_assert_int_eq(errno, EAGAIN);
	ck_assert_int_eq(io.io_rd_want, EV_READ);

	ck_assert_int_eq(write(c, "hello", 5), 5);
	wait_readable(a);
	ck_assert_int_eq(io_read(&io, buf, sizeof(buf)), 5);
	ck_assert_int_eq(memcmp(buf, "hello", 5), 0);

	ck_assert_int_eq(io_write(&io, "world", 5), 5);
	ck_assert_int_eq(read(c, buf, sizeof(buf)), 5);
	ck_assert_int_eq(memcmp(buf, "world", 5), 0);

	/* Our end of stream reaches the peer as one. */
	ck_assert_int_eq(io_shutdown(&io), 0);
	ck_assert_int_eq(read(c, buf, sizeof(buf)), 0);
	/* Theirs reaches us as a read of 0. */
	shutdown(c, SHUT_WR);
	wait_readable(a);
	ck_assert_int_eq(io_read(&io, buf, sizeof(buf)), 0);

	io_close(&io, false);
	ck_assert_int_eq(io.io_fd, -1);
	ck_assert(!io_is_raw(&io));
	/* The descriptor was closed, not just forgotten. */
	ck_assert_int_eq(fcntl(a, F_GETFD), -1);
	ck_assert_int_eq(errno, EBADF);
	/* Closed twice: a no-op. */
	io_close(&io, false);
	close(c);
}
END_TEST

START_TEST(test_raw_close_abort_resets_the_peer)
{
	struct io	io;
	char		buf[16];
	int		c;

	testutil_netns();
	raw_side(&io, &c);
	io_close(&io, true);
	ck_assert_int_eq(io.io_fd, -1);
	wait_readable(c);
	ck_assert_int_eq(read(c, buf, sizeof(buf)), -1);
	ck_assert_int_eq(errno, ECONNRESET);
	close(c);

	/* Without abort: a clean end. */
	raw_side(&io, &c);
	io_close(&io, false);
	ck_assert_int_eq(read(c, buf, sizeof(buf)), 0);
	close(c);
}
END_TEST

/* A reset is a failure of the stream, never a clean end. */
START_TEST(test_raw_read_after_peer_reset_fails)
{
	struct linger	lg = { 1, 0 };
	struct io	io;
	char		buf[16];
	int		c;

	testutil_netns();
	raw_side(&io, &c);
	ck_assert_int_eq(setsockopt(c, SOL_SOCKET, SO_LINGER, &lg,
	    sizeof(lg)), 0);
	close(c);
	wait_readable(io.io_fd);
	ck_assert_int_eq(io_read(&io, buf, sizeof(buf)), -1);
	ck_assert_int_eq(errno, ECONNRESET);
	io_close(&io, false);
}
END_TEST

/*
 * A write to a peer that is gone fails with an errno; it never raises
 * SIGPIPE (which would end the daemon).
 */
START_TEST(test_raw_write_to_closed_peer_no_sigpipe)
{
	struct io	io;
	char		buf[4096];
	ssize_t		n = 0;
	int		c, i;

	testutil_netns();
	signal(SIGPIPE, SIG_DFL);
	raw_side(&io, &c);
	close(c);
	memset(buf, 'x', sizeof(buf));
	/* The first write may still be taken; the peer answers it with a
	 * reset, and a later one fails. */
	for (i = 0; i < 1000 && (n = io_write(&io, buf, sizeof(buf))) > 0; i++)
		poll(NULL, 0, 5);
	ck_assert_int_eq(n, -1);
	ck_assert_msg(errno == EPIPE || errno == ECONNRESET, "errno %d: %s",
	    errno, strerror(errno));
	io_close(&io, false);
}
END_TEST

/* A peer that reads nothing: the write side fills, then waits. */
START_TEST(test_raw_write_eagain_waits_for_writability)
{
	struct io	io;
	static char	buf[64 * 1024];
	size_t		total = 0;
	ssize_t		n;
	int		c, i;

	testutil_netns();
	raw_side(&io, &c);
	memset(buf, 'y', sizeof(buf));
	for (i = 0; i < 10000 && (n = io_write(&io, buf, sizeof(buf))) > 0;
	    i++)
		total += (size_t)n;
	ck_assert_int_eq(n, -1);
	ck_assert_int_eq(errno, EAGAIN);
	ck_assert_int_eq(io.io_wr_want, EV_WRITE);
	ck_assert_uint_gt(total, 0);
	/* Nothing was held back in the layer: it is all on the socket. */
	ck_assert_uint_eq(io_pending(&io), 0);
	io_close(&io, false);
	close(c);
}
END_TEST

/* The raw layer serves any stream socket: a UNIX socketpair too. */
START_TEST(test_raw_on_socketpair)
{
	struct io	io;
	char		buf[8];
	int		sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0,
	    sv), 0);
	io_raw_init(&io, sv[0]);
	ck_assert_int_eq(io_read(&io, buf, sizeof(buf)), -1);
	ck_assert_int_eq(errno, EAGAIN);
	ck_assert_int_eq(write(sv[1], "abc", 3), 3);
	/* Bytes on the descriptor are the descriptor's: none held. */
	ck_assert_uint_eq(io_pending(&io), 0);
	ck_assert_int_eq(io_read(&io, buf, sizeof(buf)), 3);
	ck_assert_int_eq(memcmp(buf, "abc", 3), 0);
	ck_assert_int_eq(io_write(&io, "de", 2), 2);
	ck_assert_int_eq(read(sv[1], buf, sizeof(buf)), 2);
	ck_assert_int_eq(memcmp(buf, "de", 2), 0);
	ck_assert_int_eq(io_shutdown(&io), 0);
	ck_assert_int_eq(read(sv[1], buf, sizeof(buf)), 0);
	close(sv[1]);
	ck_assert_int_eq(io_read(&io, buf, sizeof(buf)), 0);
	io_close(&io, false);
	ck_assert_int_eq(io.io_fd, -1);
}
END_TEST

START_TEST(test_no_layer_refuses_everything)
{
	struct io	io;
	char		buf[4];

	io_init(&io);
	ck_assert_int_eq(io.io_fd, -1);
	ck_assert(!io_is_raw(&io));
	ck_assert_int_eq(io_handshake(&io), -1);
	ck_assert_int_eq(errno, EBADF);
	ck_assert_int_eq(io_read(&io, buf, sizeof(buf)), -1);
	ck_assert_int_eq(errno, EBADF);
	ck_assert_int_eq(io_write(&io, buf, sizeof(buf)), -1);
	ck_assert_int_eq(errno, EBADF);
	ck_assert_int_eq(io_shutdown(&io), -1);
	ck_assert_int_eq(errno, EBADF);
	ck_assert_uint_eq(io_pending(&io), 0);
	ck_assert_int_eq(io.io_rd_want, EV_READ);
	ck_assert_int_eq(io.io_wr_want, EV_WRITE);
	io_close(&io, true);		/* nothing to close */
	ck_assert_int_eq(io.io_fd, -1);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("io");
	TCase	*tp = tcase_create("pure");
	TCase	*tk = tcase_create("kernel");

	log_init(LOG_LVL_WARNING);
	tcase_add_test(tp, test_no_layer_refuses_everything);
	tcase_add_test(tp, test_raw_on_socketpair);
	suite_add_tcase(s, tp);
	if (testutil_kernel_tests("check_io", 0)) {
		tcase_set_timeout(tk, 60);
		tcase_add_test(tk, test_raw_reads_writes_and_ends);
		tcase_add_test(tk, test_raw_close_abort_resets_the_peer);
		tcase_add_test(tk, test_raw_read_after_peer_reset_fails);
		tcase_add_test(tk, test_raw_write_to_closed_peer_no_sigpipe);
		tcase_add_test(tk, test_raw_write_eagain_waits_for_writability);
		suite_add_tcase(s, tk);
	}
	return testutil_run(srunner_create(s));
}
