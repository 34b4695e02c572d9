/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

/*
 * The session engine: its stage machine, and a session whose client side
 * goes through layers of the tests' own that behave as TLS does (bytes
 * held that the descriptor no longer signals; a read that must wait for
 * writability), relaying every byte all the same. The raw layer itself is
 * check_io's.
 */

#include "autoconf.h"

#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <event2/event.h>

#include "clock.h"
#include "config.h"
#include "io.h"
#include "log.h"
#include "relay.h"
#include "session.h"
#include "testutil.h"

#define KIB		1024
#define MIB		(1024 * KIB)
#define DEADLINE_MS	20000

/* --- stages ------------------------------------------------------------- */

START_TEST(test_stage_moves)
{
	/* The only moves allowed, as session.h documents them. */
	static const struct {
		enum session_stage	from, to;
	} allowed[] = {
		{ SESSION_ACCEPTED, SESSION_PROXY_IN },
		{ SESSION_ACCEPTED, SESSION_TLS_ACCEPT },
		{ SESSION_ACCEPTED, SESSION_CONNECTING },
		{ SESSION_ACCEPTED, SESSION_CLOSED },
		{ SESSION_PROXY_IN, SESSION_TLS_ACCEPT },
		{ SESSION_PROXY_IN, SESSION_CONNECTING },
		{ SESSION_PROXY_IN, SESSION_CLOSED },
		{ SESSION_TLS_ACCEPT, SESSION_CONNECTING },
		{ SESSION_TLS_ACCEPT, SESSION_CLOSED },
		{ SESSION_CONNECTING, SESSION_TLS_CONNECT },
		{ SESSION_CONNECTING, SESSION_RELAYING },
		{ SESSION_CONNECTING, SESSION_CLOSED },
		{ SESSION_TLS_CONNECT, SESSION_RELAYING },
		{ SESSION_TLS_CONNECT, SESSION_CLOSED },
		{ SESSION_RELAYING, SESSION_DRAINING },
		{ SESSION_RELAYING, SESSION_CLOSED },
		{ SESSION_DRAINING, SESSION_CLOSED },
	};
	int	from, to;
	size_t	i;
	bool	want;

	for (from = 0; from < SESSION_STAGE__MAX; from++) {
		for (to = 0; to < SESSION_STAGE__MAX; to++) {
			want = false;
			for (i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
				if (allowed[i].from == (enum session_stage)from &&
				    allowed[i].to == (enum session_stage)to)
					want = true;
			ck_assert_msg(session_stage_allowed(from, to) == want,
			    "%s -> %s: %s", session_stage_name(from),
			    session_stage_name(to), want ? "refused" :
			    "allowed");
		}
	}
	/* Nothing leaves closed; nothing goes back; out of range is refused. */
	for (to = 0; to < SESSION_STAGE__MAX; to++)
		ck_assert(!session_stage_allowed(SESSION_CLOSED, to));
	ck_assert(!session_stage_allowed(SESSION_RELAYING, SESSION_CONNECTING));
	ck_assert(!session_stage_allowed(SESSION_STAGE__MAX, SESSION_CLOSED));
	ck_assert(!session_stage_allowed(SESSION_ACCEPTED, SESSION_STAGE__MAX));
}
END_TEST

START_TEST(test_stage_and_end_names)
{
	ck_assert_str_eq(session_stage_name(SESSION_ACCEPTED), "accepted");
	ck_assert_str_eq(session_stage_name(SESSION_PROXY_IN), "proxy_in");
	ck_assert_str_eq(session_stage_name(SESSION_TLS_ACCEPT), "tls_accept");
	ck_assert_str_eq(session_stage_name(SESSION_TLS_CONNECT),
	    "tls_connect");
	ck_assert_str_eq(session_stage_name(SESSION_CONNECTING), "connecting");
	ck_assert_str_eq(session_stage_name(SESSION_RELAYING), "relaying");
	ck_assert_str_eq(session_stage_name(SESSION_DRAINING), "draining");
	ck_assert_str_eq(session_stage_name(SESSION_CLOSED), "closed");
	ck_assert_str_eq(session_stage_name(SESSION_STAGE__MAX), "unknown");
	ck_assert_str_eq(session_end_name(SESSION_END_CLIENT_CLOSE),
	    "client_close");
	ck_assert_str_eq(session_end_name(SESSION_END_IDLE_TIMEOUT),
	    "idle_timeout");
	ck_assert_str_eq(session_end_name(SESSION_END__MAX), "unknown");
}
END_TEST

/* --- layers that behave as TLS does ---------------------------------------- */

/*
 * "Chunky": takes everything the descriptor has at once (as TLS takes
 * whole records) but hands it out CHUNKY_MAX bytes per read, so that what
 * it still holds is no longer signalled by the descriptor.
 */
#define CHUNKY_MAX	100

struct chunky {
	char	 c_buf[256 * KIB];
	size_t	 c_off, c_len;
	bool	 c_eof;
	int	 c_reads;	/* reads answered from c_buf */
};

static ssize_t
chunky_read(struct io *io, void *buf, size_t len)
{
	struct chunky	*ch = io->io_ctx;
	ssize_t		 n;

	if (ch->c_len == 0 && !ch->c_eof) {
		ch->c_off = 0;
		n = read(io->io_fd, ch->c_buf, sizeof(ch->c_buf));
		if (n == 0)
			ch->c_eof = true;
		else if (n < 0)
			return -1;
		else
			ch->c_len = (size_t)n;
	}
	if (ch->c_len == 0)
		return 0;		/* the end, once all is handed out */
	if (len > CHUNKY_MAX)
		len = CHUNKY_MAX;
	if (len > ch->c_len)
		len = ch->c_len;
	memcpy(buf, ch->c_buf + ch->c_off, len);
	ch->c_off += len;
	ch->c_len -= len;
	ch->c_reads++;
	return (ssize_t)len;
}

static ssize_t
chunky_write(struct io *io, const void *buf, size_t len)
{
	return send(io->io_fd, buf, len, MSG_NOSIGNAL);
}

static int
chunky_shutdown(struct io *io)
{
	return shutdown(io->io_fd, SHUT_WR);
}

static size_t
chunky_pending(const struct io *io)
{
	const struct chunky	*ch = io->io_ctx;

	return ch->c_len;
}

static void
chunky_close(struct io *io, bool abort)
{
	(void)abort;
	close(io->io_fd);
	free(io->io_ctx);
}

static int
no_handshake(struct io *io)
{
	(void)io;
	return 0;
}

static const struct io_ops chunky_ops = {
	.io_name = "chunky",
	.io_handshake = no_handshake,
	.io_read = chunky_read,
	.io_write = chunky_write,
	.io_shutdown = chunky_shutdown,
	.io_pending = chunky_pending,
	.io_close = chunky_close,
};

static void
chunky_init(struct io *io, int fd)
{
	io_raw_init(io, fd);
	io->io_ops = &chunky_ops;
	ck_assert_ptr_nonnull(io->io_ctx = calloc(1, sizeof(struct chunky)));
}

/*
 * "Contrary": every other read waits for the descriptor to be writable
 * first (as a TLS read may have to send a key update before it can go
 * on); once writable, the read goes through.
 */
struct contrary {
	bool	 c_blocked;	/* the last read asked for writability */
	int	 c_flips;
};

static ssize_t
contrary_read(struct io *io, void *buf, size_t len)
{
	struct contrary	*ct = io->io_ctx;
	ssize_t		 n;

	if (!ct->c_blocked && ct->c_flips % 2 == 0) {
		ct->c_blocked = true;
		ct->c_flips++;
		io->io_rd_want = EV_WRITE;
		errno = EAGAIN;
		return -1;
	}
	ct->c_blocked = false;
	io->io_rd_want = EV_READ;
	if ((n = read(io->io_fd, buf, len)) > 0)
		ct->c_flips++;
	return n;
}

static void
contrary_close(struct io *io, bool abort)
{
	(void)abort;
	close(io->io_fd);
	free(io->io_ctx);
}

static size_t
contrary_pending(const struct io *io)
{
	(void)io;
	return 0;
}

static const struct io_ops contrary_ops = {
	.io_name = "contrary",
	.io_handshake = no_handshake,
	.io_read = contrary_read,
	.io_write = chunky_write,
	.io_shutdown = chunky_shutdown,
	.io_pending = contrary_pending,
	.io_close = contrary_close,
};

static void
contrary_init(struct io *io, int fd)
{
	io_raw_init(io, fd);
	io->io_ops = &contrary_ops;
	ck_assert_ptr_nonnull(io->io_ctx = calloc(1, sizeof(struct contrary)));
}

/* --- a relay in this process ---------------------------------------------- */

struct trelay {
	struct event_base	*base;
	struct session_ctx	 sc;
	struct config		*cf;
	struct relay		*rl;
	int			 upstream_lfd;
};

/* extra: more lines for the listener's section. */
static void
trelay_init_with(struct trelay *r, void (*client_io)(struct io *, int),
    const char *extra)
{
	struct config_diag	diag = { NULL, 0 };
	char			text[512];
	int			port;

	port = 0;
	r->upstream_lfd = testutil_listen_lo(IPPROTO_TCP, &port);
	snprintf(text, sizeof(text), "[t]\nlisten = 127.0.0.1:1\n"
	    "upstream = 127.0.0.1:%d\n%s", port, extra);
	r->cf = config_load_string(text, "test.ini", &diag);
	ck_assert_msg(r->cf != NULL, "config: %s",
	    diag.cd_count > 0 ? diag.cd_msgs[0] : "?");
	config_diag_free(&diag);
	ck_assert_ptr_nonnull(r->rl = relay_new(r->cf,
	    TAILQ_FIRST(&r->cf->cf_listeners), 1));
	ck_assert_ptr_nonnull(r->base = event_base_new());
	session_ctx_init(&r->sc, r->base, 0, NULL);
	r->sc.sc_client_io = client_io;
}

static void
trelay_init(struct trelay *r, void (*client_io)(struct io *, int))
{
	trelay_init_with(r, client_io, "");
}

/* A session whose client is *client; *backend is its upstream's end. */
static void
trelay_session(struct trelay *r, int *client, int *backend)
{
	struct sockaddr_in	sin = { .sin_family = AF_INET };
	uint64_t		deadline = clock_ms() + DEADLINE_MS;
	int			afd;

	testutil_tcp_pair(client, &afd);
	relay_session_in(r->rl);
	ck_assert_int_eq(session_start(&r->sc, r->rl, r->cf,
	    TAILQ_FIRST(&r->cf->cf_listeners), afd, (struct sockaddr *)&sin,
	    sizeof(sin)), 0);
	while (poll(&(struct pollfd){ r->upstream_lfd, POLLIN, 0 }, 1, 0) == 0) {
		ck_assert_msg(clock_ms() < deadline, "no upstream connect");
		event_base_loop(r->base, EVLOOP_NONBLOCK);
	}
	ck_assert_int_ge(*backend = accept(r->upstream_lfd, NULL, NULL), 0);
	event_base_loop(r->base, EVLOOP_NONBLOCK);
}

static void
trelay_free(struct trelay *r)
{
	session_close_all(&r->sc, SESSION_END_SHUTDOWN);
	session_ctx_clear(&r->sc);
	event_base_free(r->base);
	ck_assert_uint_eq(r->rl->rl_sessions, 0);
	relay_unref(r->rl);
	config_unref(r->cf);
	close(r->upstream_lfd);
}

static unsigned char
pattern(size_t i)
{
	return (unsigned char)(i * 7 + i / 251);
}

/*
 * The client sends total bytes and ends its stream; the backend must get
 * exactly them and the end, while the relay's loop turns in between.
 * stall: the backend reads nothing until every buffer on the way is full
 * (the client's sends fail again and again), so that the relay stops
 * reading the client and must start again once the backend drains.
 */
static void
relay_one_way_stalled(struct trelay *r, int client, int backend, size_t total,
    bool stall)
{
	unsigned char	 buf[64 * KIB];
	size_t		 sent = 0, got = 0, i, n;
	uint64_t	 deadline = clock_ms() + DEADLINE_MS;
	ssize_t		 k;
	bool		 eof = false;
	int		 blocked = 0;

	ck_assert_int_eq(fcntl(client, F_SETFL, O_NONBLOCK), 0);
	ck_assert_int_eq(fcntl(backend, F_SETFL, O_NONBLOCK), 0);
	while (!eof) {
		ck_assert_msg(clock_ms() < deadline, "stuck: %zu of %zu bytes "
		    "sent, %zu arrived", sent, total, got);
		if (sent < total) {
			n = total - sent < sizeof(buf) ? total - sent :
			    sizeof(buf);
			for (i = 0; i < n; i++)
				buf[i] = pattern(sent + i);
			if ((k = send(client, buf, n, MSG_NOSIGNAL)) > 0) {
				sent += (size_t)k;
				blocked = 0;
			} else
				blocked++;
			if (sent == total)
				shutdown(client, SHUT_WR);
		}
		event_base_loop(r->base, EVLOOP_NONBLOCK);
		if (stall) {
			ck_assert_msg(sent < total, "%zu bytes did not fill "
			    "the buffers", total);
			if (blocked < 200) {
				poll(NULL, 0, 1);
				continue;
			}
			stall = false;
		}
		while ((k = read(backend, buf, sizeof(buf))) > 0) {
			/* A passing ck_assert costs a write(2): one check. */
			for (i = 0; i < (size_t)k; i++)
				if (buf[i] != pattern(got + i))
					ck_abort_msg("byte %zu changed",
					    got + i);
			got += (size_t)k;
		}
		if (k == 0)
			eof = true;
		else
			poll(NULL, 0, 1);
	}
	ck_assert_uint_eq(got, total);
}

static void
relay_one_way(struct trelay *r, int client, int backend, size_t total)
{
	relay_one_way_stalled(r, client, backend, total, false);
}

START_TEST(test_held_bytes_are_drained)
{
	struct trelay	r;
	int		c, b;

	testutil_netns();
	trelay_init(&r, chunky_init);
	trelay_session(&r, &c, &b);
	/*
	 * 100 KiB arrive in few large reads of the descriptor, which the
	 * layer hands out 100 bytes at a time: the session must read on
	 * while the layer holds bytes, with no event to tell it.
	 */
	relay_one_way(&r, c, b, 100 * KIB);
	/* A short message: one descriptor read, 30-odd layer reads. */
	close(c);
	close(b);
	trelay_session(&r, &c, &b);
	relay_one_way(&r, c, b, 3333);
	close(c);
	close(b);
	trelay_free(&r);
}
END_TEST

/*
 * The backend stops reading: the relay's buffer fills and it stops
 * reading the client while the layer still holds bytes. Once the backend
 * drains, reading must start again, from the held bytes and then from
 * the descriptor (a kick for the held bytes once left the read event
 * out of libevent's lists for good: the session stalled).
 */
START_TEST(test_held_bytes_after_backpressure)
{
	struct trelay	r;
	int		c, b, round;

	testutil_netns();
	trelay_init(&r, chunky_init);
	for (round = 0; round < 3; round++) {
		trelay_session(&r, &c, &b);
		relay_one_way_stalled(&r, c, b, 48 * MIB, true);
		close(c);
		close(b);
	}
	trelay_free(&r);
}
END_TEST

START_TEST(test_read_that_waits_for_writability)
{
	struct trelay	r;
	int		c, b;

	testutil_netns();
	trelay_init(&r, contrary_init);
	trelay_session(&r, &c, &b);
	relay_one_way(&r, c, b, 300 * KIB);
	close(c);
	close(b);
	trelay_free(&r);
}
END_TEST

/*
 * splice = yes, both sides raw: which directions take a pipe. A direction
 * that starts at an MPTCP socket copies (the kernel would copy into the
 * pipe anyway, at twice the CPU); one that starts at a TCP socket splices
 * once its reads are large. The pairs here are TCP sockets; the rule
 * follows the configured protocol of each side, as the daemon's sockets
 * do.
 */
static void
check_splice_directions(const char *extra, bool up_splices,
    bool down_splices)
{
	struct trelay	r;
	uint64_t	taken;
	int		c, b;

	testutil_netns();
	trelay_init_with(&r, NULL, extra);
	ck_assert(r.cf->cf_splice);
	trelay_session(&r, &c, &b);
	relay_one_way(&r, c, b, 8 * MIB);	/* client to upstream */
	taken = r.sc.sc_pipes.spl_taken;
	ck_assert_msg((taken > 0) == up_splices, "client to upstream (%s): "
	    "%ju pipes taken", extra, (uintmax_t)taken);
	relay_one_way(&r, b, c, 8 * MIB);	/* upstream to client */
	ck_assert_msg((r.sc.sc_pipes.spl_taken > taken) == down_splices,
	    "upstream to client (%s): %ju pipes taken", extra,
	    (uintmax_t)(r.sc.sc_pipes.spl_taken - taken));
	close(c);
	close(b);
	trelay_free(&r);
}

START_TEST(test_splice_only_from_tcp)
{
	check_splice_directions("protocol = mptcp\n", false, true);
	check_splice_directions("protocol = tcp\n", true, true);
	check_splice_directions("protocol = tcp\nupstream_protocol = mptcp\n",
	    true, false);
	check_splice_directions("protocol = mptcp\nupstream_protocol = mptcp\n",
	    false, false);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("session");
	TCase	*tp = tcase_create("pure");
	TCase	*tk = tcase_create("kernel");

	log_init(LOG_LVL_WARNING);
	tcase_add_test(tp, test_stage_moves);
	tcase_add_test(tp, test_stage_and_end_names);
	suite_add_tcase(s, tp);
	if (testutil_kernel_tests("check_session", 0)) {
		tcase_set_timeout(tk, 60);
		tcase_add_test(tk, test_held_bytes_are_drained);
		tcase_add_test(tk, test_held_bytes_after_backpressure);
		tcase_add_test(tk, test_read_that_waits_for_writability);
		tcase_add_test(tk, test_splice_only_from_tcp);
		suite_add_tcase(s, tk);
	}
	return testutil_run(srunner_create(s));
}
