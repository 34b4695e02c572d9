/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

/*
 * Load client and backend of the side-by-side benchmark (bench/run).
 *
 *   loadgen serve PORT                 echo backend on 127.0.0.1:PORT (TCP)
 *   loadgen rr PORT SECONDS PARALLEL   short connections: connect, 1 KiB
 *                                      request, 1 KiB reply, close
 *   loadgen echo PORT COUNT            one connection, COUNT 64-byte round
 *                                      trips: p50/p99 in microseconds
 *   loadgen idle PORT N                N connections, one byte echoed on
 *                                      each, then held until stdin closes
 *   loadgen serve-pp PORT              echo backend that first reads and
 *                                      checks a PROXY v2 header
 *   loadgen sink-pp PORT               the same, then sinks what follows;
 *                                      at end of stream it sends back the
 *                                      count (8 bytes, big-endian), closes
 *   loadgen bulk PORT SECONDS          one connection sending as fast as it
 *                                      can, then end of stream; a sink-pp
 *                                      behind says how much arrived: Gbit/s
 *   loadgen sink PORT                  sink-pp without the header: a
 *                                      cleartext sink that answers the count
 *
 * TLS clients (TLS 1.3 only, TLS_AES_128_GCM_SHA256, group X25519: the
 * only things offered, so that every server negotiates the same):
 *
 *   loadgen tls-probe PORT             one full handshake, 1 KiB echoed,
 *                                      then one resumed: what was settled
 *   loadgen tls-rr PORT SECONDS PARALLEL full|resume
 *                                      short TLS connections: handshake,
 *                                      1 KiB request, 1 KiB reply,
 *                                      close_notify, close; resume offers
 *                                      each connection the ticket its slot
 *                                      got last
 *   loadgen tls-bulk PORT SECONDS      one TLS connection writing 16 KiB
 *                                      records as fast as it can, then
 *                                      close_notify; a sink behind says how
 *                                      much arrived: Gbit/s
 *   loadgen tls-idle PORT N            N TLS connections, one byte echoed
 *                                      on each, then held (as idle)
 *
 * serve-pp and sink-pp print one JSON line of counters (headers checked,
 * refused and why) each time a line arrives on their stdin, and end at
 * end of stdin. rr counts a reply that is not its request as a mismatch.
 * The TLS clients report their own CPU time (cpu_s: user + system), and
 * count a connection that negotiated anything but the pinned version,
 * suite and group as "unpinned".
 *
 * Clients open IPPROTO_MPTCP sockets to 127.0.0.1 and count a connection
 * as MPTCP only when MPTCP_INFO answers (the check that is right on Linux
 * 6.1 and later). Results are one JSON object per line on stdout. Every
 * loop is bounded by a count or a deadline.
 */

#define _GNU_SOURCE

#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#ifndef IPPROTO_MPTCP
#define IPPROTO_MPTCP	262
#endif
#ifndef SOL_MPTCP
#define SOL_MPTCP	284
#endif
#define MPTCP_INFO_OPT	1

#define RR_SIZE		1024
#define ECHO_SIZE	64
#define MAX_PARALLEL	1024
#define MAX_IDLE	20000
#define MAX_ECHO	1000000
#define BULK_SIZE	(128 * 1024)
#define SINK_SIZE	(256 * 1024)
#define PP2_FIXED	16
#define PP2_MAX		(PP2_FIXED + 2048)	/* ours are 28-40 bytes */
#define TLS_RECORD	(16 * 1024)		/* a full TLS record */
#define TLS_SUITE	"TLS_AES_128_GCM_SHA256"
#define TLS_SUITE_ID	TLS1_3_CK_AES_128_GCM_SHA256
#define TLS_GROUP	"X25519"

static double
now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
die(const char *what)
{
	fprintf(stderr, "loadgen: %s: %s\n", what, strerror(errno));
	exit(1);
}

static struct sockaddr_in
loopback(int port)
{
	struct sockaddr_in	sin;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)port);
	return sin;
}

static void
raise_nofile(void)
{
	struct rlimit	rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* Whether the kernel runs this connected socket as MPTCP. */
static int
is_mptcp(int fd)
{
	char		info[256];
	socklen_t	len = sizeof(info);

	return getsockopt(fd, SOL_MPTCP, MPTCP_INFO_OPT, info, &len) == 0;
}

/* A new MPTCP client socket, connect started; nonblock as asked. */
static int
client_socket(int port, int nonblock)
{
	struct sockaddr_in	sin = loopback(port);
	int			fd, one = 1;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC |
	    (nonblock ? SOCK_NONBLOCK : 0), IPPROTO_MPTCP);
	if (fd == -1)
		die("socket(IPPROTO_MPTCP)");
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 &&
	    errno != EINPROGRESS) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Read exactly len bytes (blocking socket); 0 or -1. */
static int
read_full(int fd, char *buf, size_t len)
{
	ssize_t	n;
	size_t	got = 0;

	while (got < len) {
		n = read(fd, buf + got, len - got);
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	return 0;
}

/* epoll_wait, with 0 for a signal. */
static int
wait_events(int ep, struct epoll_event *evs, int max, int ms)
{
	int	n;

	if ((n = epoll_wait(ep, evs, max, ms)) == -1) {
		if (errno != EINTR)
			die("epoll_wait");
		n = 0;
	}
	return n;
}

/*
 * A backend's listening socket on 127.0.0.1:port (TCP), in a new epoll
 * set, *ep, under tag. Returns the socket.
 */
static int
server_socket(int port, int *ep, epoll_data_t tag)
{
	struct sockaddr_in	sin = loopback(port);
	struct epoll_event	ev;
	int			lfd, one = 1;

	raise_nofile();
	if ((lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0)) == -1)
		die("socket");
	(void)setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(lfd, 4096) == -1)
		die("bind/listen");
	if ((*ep = epoll_create1(0)) == -1)
		die("epoll_create1");
	ev.events = EPOLLIN;
	ev.data = tag;
	if (epoll_ctl(*ep, EPOLL_CTL_ADD, lfd, &ev) == -1)
		die("epoll_ctl");
	return lfd;
}

/* The next client of lfd, with TCP_NODELAY, or -1 when none waits. */
static int
server_accept(int lfd)
{
	int	fd, one = 1;

	if ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) != -1)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
		    sizeof(one));
	return fd;
}

/* --- serve: an echo backend ------------------------------------------- */

static int __attribute__((noreturn))
serve(int port)
{
	struct epoll_event	ev, evs[256];
	char			buf[65536];
	int			lfd, ep, n, i, fd;
	ssize_t			r;

	lfd = server_socket(port, &ep, (epoll_data_t){ .fd = -1 });
	printf("{\"serving\": %d}\n", port);
	fflush(stdout);
	/* Runs until bench/run ends it. */
	for (;;) {
		n = wait_events(ep, evs, 256, -1);
		for (i = 0; i < n; i++) {
			fd = evs[i].data.fd;
			if (fd == -1) {
				while ((fd = server_accept(lfd)) != -1) {
					ev.events = EPOLLIN;
					ev.data.fd = fd;
					epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
				}
				continue;
			}
			r = read(fd, buf, sizeof(buf));
			if (r > 0) {
				/* Small echoes: the socket buffer takes them. */
				if (write(fd, buf, (size_t)r) == r)
					continue;
			} else if (r == -1 && errno == EAGAIN)
				continue;
			close(fd);
		}
	}
}

/* --- serve-pp, sink-pp: backends that read a PROXY v2 header first ------ */

/*
 * Each connection must begin with exactly one PROXY protocol v2 header
 * (HAProxy's doc/proxy-protocol.txt): the 12-byte signature, version 2
 * with the PROXY command, TCP over IPv4, a length that holds the
 * addresses and fits, 127.0.0.1 at both ends, nonzero ports, and TLVs
 * that fill the rest exactly. A connection whose header fails any of this,
 * that ends before its header is complete, or whose data begins with a
 * second header, is counted under its reason and closed at once.
 */
static const uint8_t pp2_sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};

enum pp_why { PP_SIG, PP_CMD, PP_FAM, PP_LEN, PP_ADDR, PP_TLV, PP_SHORT,
    PP_DUP, PP_NWHY };
static const char *const pp_why_name[PP_NWHY] = {
	"sig", "cmd", "fam", "len", "addr", "tlv", "truncated", "second"
};

enum pp_state { PPS_HEADER, PPS_FIRST, PPS_DATA };

struct pp_conn {
	int		fd;
	enum pp_state	state;
	size_t		got, need;
	uint64_t	bytes;		/* after the header */
	uint8_t		hdr[PP2_MAX];
};

static struct {
	unsigned long	accepted, ok, empty, e7, e7_mptcp, bad[PP_NWHY];
} pps;

static void
pp_stats(void)
{
	unsigned long	bad = 0;
	int		i;

	for (i = 0; i < PP_NWHY; i++)
		bad += pps.bad[i];
	printf("{\"accepted\": %lu, \"ok\": %lu, \"empty\": %lu, "
	    "\"mptcp_tlv\": %lu, \"mptcp_tlv_yes\": %lu, \"bad\": %lu",
	    pps.accepted, pps.ok, pps.empty, pps.e7, pps.e7_mptcp, bad);
	for (i = 0; i < PP_NWHY; i++)
		printf(", \"bad_%s\": %lu", pp_why_name[i], pps.bad[i]);
	printf("}\n");
	fflush(stdout);
}

/* The complete header of c: -1 (a reason counted) or 0. */
static int
pp_check(struct pp_conn *c)
{
	const uint8_t	*h = c->hdr, *p, *end = c->hdr + c->need;
	const uint8_t	lo[4] = { 127, 0, 0, 1 };
	size_t		tlen;
	bool		e7 = false, e7_mptcp = false;

	if (memcmp(h + 16, lo, 4) != 0 || memcmp(h + 20, lo, 4) != 0 ||
	    (h[24] | h[25]) == 0 || (h[26] | h[27]) == 0) {
		pps.bad[PP_ADDR]++;
		return -1;
	}
	for (p = h + PP2_FIXED + 12; p < end; p += 3 + tlen) {
		if (end - p < 3 ||
		    (tlen = (size_t)p[1] << 8 | p[2]) > (size_t)(end - p - 3)) {
			pps.bad[PP_TLV]++;
			return -1;
		}
		/* relayd's: format version 1, bit 0 of the flags: MPTCP. */
		if (p[0] == 0xe7 && tlen == 2 && p[3] == 1) {
			e7 = true;
			e7_mptcp = p[4] & 1;
		}
	}
	pps.ok++;
	pps.e7 += e7;
	pps.e7_mptcp += e7_mptcp;
	return 0;
}

/*
 * Take the header's bytes from the front of buf (len bytes read), as far
 * as they go: the number taken, or -1 when the header is refused.
 */
static ssize_t
pp_header(struct pp_conn *c, const uint8_t *buf, size_t len)
{
	size_t	take, sig;
	ssize_t	r;

	take = c->need - c->got < len ? c->need - c->got : len;
	memcpy(c->hdr + c->got, buf, take);
	c->got += take;
	sig = c->got < sizeof(pp2_sig) ? c->got : sizeof(pp2_sig);
	if (memcmp(c->hdr, pp2_sig, sig) != 0) {
		pps.bad[PP_SIG]++;
		return -1;
	}
	if (c->got < c->need)
		return (ssize_t)take;
	if (c->need == PP2_FIXED) {
		/* Version 2, PROXY; TCP over IPv4; room for its addresses. */
		if (c->hdr[12] != 0x21) {
			pps.bad[PP_CMD]++;
			return -1;
		}
		if (c->hdr[13] != 0x11) {
			pps.bad[PP_FAM]++;
			return -1;
		}
		c->need += (size_t)c->hdr[14] << 8 | c->hdr[15];
		if (c->need < PP2_FIXED + 12 || c->need > PP2_MAX) {
			pps.bad[PP_LEN]++;
			return -1;
		}
		if ((r = pp_header(c, buf + take, len - take)) == -1)
			return -1;
		return (ssize_t)take + r;
	}
	if (pp_check(c) == -1)
		return -1;
	c->state = PPS_FIRST;
	return (ssize_t)take;
}

/* Bytes read on c: 0, or -1 when c is to be closed. */
static int
pp_input(struct pp_conn *c, uint8_t *buf, size_t len, bool sink)
{
	ssize_t	off = 0;
	size_t	n;

	if (c->state == PPS_HEADER &&
	    (off = pp_header(c, buf, len)) == -1)
		return -1;
	buf += off;
	len -= (size_t)off;
	if (len == 0)
		return 0;
	if (c->state == PPS_FIRST) {
		/* Exactly one header: the data does not begin with another. */
		n = len < sizeof(pp2_sig) ? len : sizeof(pp2_sig);
		if (memcmp(buf, pp2_sig, n) == 0 ||
		    memcmp(buf, "PROXY ", len < 6 ? len : 6) == 0) {
			pps.bad[PP_DUP]++;
			return -1;
		}
		c->state = PPS_DATA;
	}
	c->bytes += len;
	/* Small echoes: the socket buffer takes them. */
	if (!sink && write(c->fd, buf, len) != (ssize_t)len)
		return -1;
	return 0;
}

/* The end of c's stream (or an error on it). */
static void
pp_end(struct pp_conn *c, bool sink)
{
	uint8_t		cnt[8];
	uint64_t	v = c->bytes;
	int		i;

	if (c->state == PPS_HEADER) {
		if (c->got == 0)
			pps.empty++;
		else
			pps.bad[PP_SHORT]++;
	} else if (sink) {
		for (i = 7; i >= 0; i--, v >>= 8)
			cnt[i] = (uint8_t)v;
		(void)write(c->fd, cnt, sizeof(cnt));
	}
}

/*
 * serve-pp and sink-pp (pp), or sink (not pp: no header, no counters,
 * stdin not read).
 */
static int __attribute__((noreturn))
serve_pp(int port, bool sink, bool pp)
{
	static uint8_t		buf[SINK_SIZE];
	struct epoll_event	ev, evs[256];
	struct pp_conn		*c;
	char			line[256];
	int			lfd, ep, n, i, fd;
	ssize_t			r;

	/* data.ptr NULL: the listener; &lfd: stdin; else a connection. */
	lfd = server_socket(port, &ep, (epoll_data_t){ .ptr = NULL });
	ev.events = EPOLLIN;
	ev.data.ptr = &lfd;
	if (pp && epoll_ctl(ep, EPOLL_CTL_ADD, STDIN_FILENO, &ev) == -1)
		die("epoll_ctl(stdin)");
	/* Until bench/run closes our stdin, or ends us. */
	for (;;) {
		n = wait_events(ep, evs, 256, -1);
		for (i = 0; i < n; i++) {
			if (evs[i].data.ptr == &lfd) {
				/* A line asks for the counters; EOF ends. */
				if ((r = read(STDIN_FILENO, line,
				    sizeof(line))) <= 0)
					exit(0);
				while (r-- > 0)
					if (line[r] == '\n')
						pp_stats();
				continue;
			}
			if (evs[i].data.ptr == NULL) {
				while ((fd = server_accept(lfd)) != -1) {
					if ((c = calloc(1, sizeof(*c))) == NULL)
						die("calloc");
					c->fd = fd;
					c->need = PP2_FIXED;
					if (!pp)
						c->state = PPS_DATA;
					pps.accepted++;
					ev.events = EPOLLIN;
					ev.data.ptr = c;
					epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
				}
				continue;
			}
			c = evs[i].data.ptr;
			r = read(c->fd, buf, sink ? sizeof(buf) : 65536);
			if (r > 0) {
				if (pp_input(c, buf, (size_t)r, sink) == 0)
					continue;
			} else if (r == -1 && errno == EAGAIN)
				continue;
			else
				pp_end(c, sink);
			close(c->fd);
			free(c);
		}
	}
}

/* --- rr: short connections --------------------------------------------- */

enum rr_state { RR_CONNECTING, RR_READING };

struct rr_conn {
	int		fd;
	enum rr_state	state;
	size_t		got;
	char		reply[RR_SIZE];
};

static int
rr_open(int ep, int port, struct rr_conn *c, unsigned slot)
{
	struct epoll_event	ev;

	if ((c->fd = client_socket(port, 1)) == -1)
		return -1;
	c->state = RR_CONNECTING;
	c->got = 0;
	ev.events = EPOLLOUT;
	ev.data.u32 = slot;
	return epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
}

static int
rr(int port, double seconds, int parallel)
{
	static struct rr_conn	conns[MAX_PARALLEL];
	struct epoll_event	ev, evs[MAX_PARALLEL];
	char			req[RR_SIZE];
	unsigned long		done = 0, mptcp = 0, errors = 0, mismatch = 0;
	double			t0, end;
	int			ep, n, i, err;
	socklen_t		len;
	ssize_t			r;
	struct rr_conn		*c;

	if (parallel < 1 || parallel > MAX_PARALLEL)
		parallel = MAX_PARALLEL;
	memset(req, 'q', sizeof(req));
	if ((ep = epoll_create1(0)) == -1)
		die("epoll_create1");
	for (i = 0; i < parallel; i++)
		if (rr_open(ep, port, &conns[i], (unsigned)i) == -1)
			die("connect");
	t0 = now();
	end = t0 + seconds;
	while (now() < end) {
		n = wait_events(ep, evs, MAX_PARALLEL, 100);
		for (i = 0; i < n; i++) {
			c = &conns[evs[i].data.u32];
			if (c->state == RR_CONNECTING) {
				len = sizeof(err);
				if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR,
				    &err, &len) == -1 || err != 0 ||
				    write(c->fd, req, sizeof(req)) !=
				    (ssize_t)sizeof(req))
					goto fail;
				c->state = RR_READING;
				ev.events = EPOLLIN;
				ev.data.u32 = evs[i].data.u32;
				epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
				continue;
			}
			r = read(c->fd, c->reply + c->got,
			    sizeof(c->reply) - c->got);
			if (r == -1 && errno == EAGAIN)
				continue;
			if (r <= 0)
				goto fail;
			c->got += (size_t)r;
			if (c->got < RR_SIZE)
				continue;
			/* The reply is the request, byte for byte. */
			if (memcmp(c->reply, req, sizeof(req)) != 0) {
				mismatch++;
				goto fail;
			}
			done++;
			mptcp += is_mptcp(c->fd);
			goto next;
fail:
			errors++;
next:
			close(c->fd);
			if (rr_open(ep, port, c, evs[i].data.u32) == -1)
				die("connect");
		}
	}
	printf("{\"conns\": %lu, \"mptcp\": %lu, \"errors\": %lu, "
	    "\"mismatch\": %lu, \"seconds\": %.3f}\n", done, mptcp, errors,
	    mismatch, now() - t0);
	return 0;
}

/* --- echo: round-trip latency --------------------------------------------- */

static int
cmp_double(const void *a, const void *b)
{
	double	x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int
echo(int port, int count)
{
	struct pollfd	pfd;
	char		msg[ECHO_SIZE], buf[ECHO_SIZE];
	double		*rtt, t;
	int		fd, i, mptcp;

	if (count < 100 || count > MAX_ECHO)
		count = MAX_ECHO;
	if ((rtt = calloc((size_t)count, sizeof(*rtt))) == NULL)
		die("calloc");
	if ((fd = client_socket(port, 0)) == -1)
		die("connect");
	pfd.fd = fd;
	pfd.events = POLLOUT;
	if (poll(&pfd, 1, 5000) != 1)
		die("connect timeout");
	memset(msg, 'e', sizeof(msg));
	/* A few round trips first: connection set up, caches warm. */
	for (i = -100; i < count; i++) {
		t = now();
		if (write(fd, msg, sizeof(msg)) != (ssize_t)sizeof(msg) ||
		    read_full(fd, buf, sizeof(buf)) == -1)
			die("echo");
		if (i >= 0)
			rtt[i] = (now() - t) * 1e6;
	}
	mptcp = is_mptcp(fd);
	close(fd);
	qsort(rtt, (size_t)count, sizeof(*rtt), cmp_double);
	printf("{\"count\": %d, \"mptcp\": %d, \"p50_us\": %.2f, "
	    "\"p99_us\": %.2f}\n", count, mptcp, rtt[count / 2],
	    rtt[(size_t)count * 99 / 100]);
	free(rtt);
	return 0;
}

/* --- idle: many open, quiet sessions ----------------------------------- */

static int
idle(int port, int n)
{
	static int	fds[MAX_IDLE];
	struct pollfd	pfd;
	char		c = 'i', buf[64];
	int		i, opened = 0, mptcp = 0;
	double		deadline = now() + 120;

	raise_nofile();
	if (n < 1 || n > MAX_IDLE)
		n = MAX_IDLE;
	for (i = 0; i < n && now() < deadline; i++) {
		if ((fds[i] = client_socket(port, 0)) == -1)
			break;
		/* One byte through both legs: the session is set up. */
		if (write(fds[i], &c, 1) != 1 || read_full(fds[i], buf, 1) == -1) {
			close(fds[i]);
			break;
		}
		mptcp += is_mptcp(fds[i]);
		opened++;
	}
	printf("{\"open\": %d, \"mptcp\": %d}\n", opened, mptcp);
	fflush(stdout);
	/* Held until bench/run closes our stdin (at most ten minutes). */
	pfd.fd = STDIN_FILENO;
	pfd.events = POLLIN;
	(void)poll(&pfd, 1, 600 * 1000);
	(void)read(STDIN_FILENO, buf, sizeof(buf));
	for (i = 0; i < opened; i++)
		close(fds[i]);
	return 0;
}

/* --- bulk: one connection, as fast as it goes ---------------------------- */

static int
bulk(int port, double seconds)
{
	static char	buf[BULK_SIZE];
	struct timeval	tv = { .tv_sec = 30 };
	struct pollfd	pfd;
	uint8_t		cnt[8];
	uint64_t	sent = 0, got = 0;
	double		t0, t1, end;
	int		fd, err = 0, i, mptcp, errors = 0;
	socklen_t	len = sizeof(err);
	ssize_t		n;

	if (seconds <= 0 || seconds > 60)
		seconds = 60;
	if ((fd = client_socket(port, 0)) == -1)
		die("connect");
	pfd.fd = fd;
	pfd.events = POLLOUT;
	if (poll(&pfd, 1, 5000) != 1 ||
	    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1 || err != 0)
		die("connect timeout");
	/* No write or read waits for ever on a relay that stalls. */
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	memset(buf, 'b', sizeof(buf));
	t0 = now();
	end = t0 + seconds;
	while (now() < end) {
		if ((n = write(fd, buf, sizeof(buf))) <= 0)
			die("bulk write");
		sent += (uint64_t)n;
	}
	mptcp = is_mptcp(fd);
	/* End of stream: the sink answers with what it received. */
	if (shutdown(fd, SHUT_WR) == -1 ||
	    read_full(fd, (char *)cnt, sizeof(cnt)) == -1)
		errors++;
	else
		for (i = 0; i < 8; i++)
			got = got << 8 | cnt[i];
	t1 = now();
	if (got != sent)
		errors++;
	close(fd);
	printf("{\"sent\": %llu, \"received\": %llu, \"mptcp\": %d, "
	    "\"errors\": %d, \"seconds\": %.3f, \"gbps\": %.4f}\n",
	    (unsigned long long)sent, (unsigned long long)got, mptcp, errors,
	    t1 - t0, (double)got * 8 / (t1 - t0) / 1e9);
	return 0;
}

/* --- TLS clients ------------------------------------------------------------ */

/*
 * The client side of every TLS mode: TLS 1.3 only, one suite and one
 * group offered, so that each server negotiates exactly these. The
 * server's certificate is not verified against a CA (its CertificateVerify
 * signature is, as TLS 1.3 always does); tls-probe prints its fingerprint.
 * The client keeps no session cache of its own: the tickets a server
 * sends come to tls_new_ticket, which keeps the last one of each
 * connection's slot (tls-rr resume, tls-probe) or drops them.
 */
static unsigned long	tls_tickets;	/* NewSessionTicket messages seen */

static void
tls_die(const char *what)
{
	unsigned long	e = ERR_get_error();
	char		buf[256];

	ERR_error_string_n(e, buf, sizeof(buf));
	fprintf(stderr, "loadgen: %s: %s\n", what, e ? buf : strerror(errno));
	exit(1);
}

/* A ticket came on ssl: it replaces its slot's (app data), if any. */
static int
tls_new_ticket(SSL *ssl, SSL_SESSION *sess)
{
	SSL_SESSION	**slot = SSL_get_app_data(ssl);

	tls_tickets++;
	if (slot == NULL || !SSL_SESSION_is_resumable(sess))
		return 0;
	SSL_SESSION_free(*slot);
	*slot = sess;
	return 1;		/* the reference is ours */
}

static SSL_CTX *
tls_client_ctx(void)
{
	SSL_CTX	*ctx;

	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL ||
	    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_ciphersuites(ctx, TLS_SUITE) != 1 ||
	    SSL_CTX_set1_groups_list(ctx, TLS_GROUP) != 1)
		tls_die("client context");
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT |
	    SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(ctx, tls_new_ticket);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	return ctx;
}

/* A new client SSL over fd; slot (may be NULL) keeps the tickets. */
static SSL *
tls_client_new(SSL_CTX *ctx, int fd, SSL_SESSION **slot)
{
	SSL	*ssl;

	if ((ssl = SSL_new(ctx)) == NULL || SSL_set_fd(ssl, fd) != 1)
		tls_die("SSL_new");
	SSL_set_app_data(ssl, slot);
	if (slot != NULL && *slot != NULL && SSL_set_session(ssl, *slot) != 1)
		tls_die("SSL_set_session");
	return ssl;
}

/* Whether ssl settled what we pinned: TLS 1.3, the suite, the group. */
static bool
tls_pinned(SSL *ssl)
{
	const SSL_CIPHER	*c = SSL_get_current_cipher(ssl);

	return SSL_version(ssl) == TLS1_3_VERSION && c != NULL &&
	    SSL_CIPHER_get_id(c) == TLS_SUITE_ID &&
	    SSL_get_negotiated_group(ssl) == NID_X25519;
}

/* What ssl settled, as JSON members (no braces). */
static void
tls_print_params(SSL *ssl)
{
	const SSL_CIPHER	*c = SSL_get_current_cipher(ssl);
	int			 g = (int)SSL_get_negotiated_group(ssl);

	printf("\"version\": \"%s\", \"cipher\": \"%s\", \"group\": \"%s\"",
	    SSL_get_version(ssl), c != NULL ? SSL_CIPHER_get_name(c) : "none",
	    g > 0 ? OBJ_nid2sn(g) : "none");
}

/* The CPU seconds (user + system) this process used so far. */
static double
cpu_self(void)
{
	struct rusage	ru;

	if (getrusage(RUSAGE_SELF, &ru) == -1)
		return 0;
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* Wait up to ms for fd to be ready for what ssl's last call wants. */
static int
tls_wait(SSL *ssl, int ret, int fd, int ms)
{
	struct pollfd	pfd = { .fd = fd };

	switch (SSL_get_error(ssl, ret)) {
	case SSL_ERROR_WANT_READ:
		pfd.events = POLLIN;
		break;
	case SSL_ERROR_WANT_WRITE:
		pfd.events = POLLOUT;
		break;
	default:
		return -1;
	}
	return poll(&pfd, 1, ms) == 1 ? 0 : -1;
}

/*
 * A blocking TLS connection to port: connected, handshake done within
 * five seconds (the socket stays non-blocking underneath). NULL on a
 * failure; *fdp gets the descriptor.
 */
static SSL *
tls_connect(SSL_CTX *ctx, int port, SSL_SESSION **slot, int *fdp)
{
	struct pollfd	pfd;
	SSL		*ssl;
	double		 deadline = now() + 5;
	int		 fd, ret, err = 0;
	socklen_t	 len = sizeof(err);

	if ((fd = client_socket(port, 1)) == -1)
		return NULL;
	pfd.fd = fd;
	pfd.events = POLLOUT;
	if (poll(&pfd, 1, 5000) != 1 ||
	    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1 ||
	    err != 0) {
		close(fd);
		return NULL;
	}
	ssl = tls_client_new(ctx, fd, slot);
	while ((ret = SSL_connect(ssl)) != 1)
		if (now() > deadline || tls_wait(ssl, ret, fd, 5000) == -1) {
			SSL_free(ssl);
			close(fd);
			return NULL;
		}
	*fdp = fd;
	return ssl;
}

/* Write len bytes, or read exactly len, within five seconds: 0 or -1. */
static int
tls_xfer(SSL *ssl, int fd, char *rbuf, const char *wbuf, size_t len)
{
	double	deadline = now() + 5;
	size_t	done = 0, n;
	int	ret;

	while (done < len) {
		ret = rbuf != NULL ?
		    SSL_read_ex(ssl, rbuf + done, len - done, &n) :
		    SSL_write_ex(ssl, wbuf + done, len - done, &n);
		if (ret == 1) {
			done += n;
			continue;
		}
		if (now() > deadline || tls_wait(ssl, ret, fd, 5000) == -1)
			return -1;
	}
	return 0;
}

/* --- tls-probe: what a server settles -------------------------------------- */

static int
tls_probe(int port)
{
	SSL_CTX		*ctx = tls_client_ctx();
	SSL_SESSION	*sess = NULL;
	SSL		*ssl;
	X509		*x;
	EVP_PKEY	*pk;
	unsigned char	 md[EVP_MAX_MD_SIZE];
	unsigned int	 mdlen = 0, i;
	char		 req[RR_SIZE], reply[RR_SIZE], group[64] = "none";
	int		 fd, mptcp, echoed, resumed = 0, pinned2 = 0, hash = 0;
	unsigned long	 tickets_full;

	memset(req, 'p', sizeof(req));
	if ((ssl = tls_connect(ctx, port, &sess, &fd)) == NULL)
		tls_die("probe: handshake");
	echoed = tls_xfer(ssl, fd, NULL, req, sizeof(req)) == 0 &&
	    tls_xfer(ssl, fd, reply, NULL, sizeof(reply)) == 0 &&
	    memcmp(req, reply, sizeof(req)) == 0;
	mptcp = is_mptcp(fd);
	tickets_full = tls_tickets;
	printf("{\"mptcp\": %d, \"echoed\": %d, \"pinned\": %d, ", mptcp,
	    echoed, tls_pinned(ssl));
	tls_print_params(ssl);
	if ((x = SSL_get0_peer_certificate(ssl)) != NULL)
		(void)X509_digest(x, EVP_sha256(), md, &mdlen);
	if (x != NULL && (pk = X509_get0_pubkey(x)) != NULL)
		(void)EVP_PKEY_get_group_name(pk, group, sizeof(group), NULL);
	(void)SSL_get_peer_signature_nid(ssl, &hash);
	printf(", \"cert_sha256\": \"");
	for (i = 0; i < mdlen; i++)
		printf("%02X", md[i]);
	printf("\", \"cert_key\": \"%s\", \"sig_hash\": \"%s\"", group,
	    hash ? OBJ_nid2sn(hash) : "none");
	(void)SSL_shutdown(ssl);
	SSL_free(ssl);
	close(fd);
	/* Once more, with the ticket the first connection got. */
	if (sess != NULL && (ssl = tls_connect(ctx, port, &sess, &fd)) != NULL) {
		resumed = SSL_session_reused(ssl);
		pinned2 = tls_pinned(ssl);
		if (tls_xfer(ssl, fd, NULL, req, sizeof(req)) == -1 ||
		    tls_xfer(ssl, fd, reply, NULL, sizeof(reply)) == -1 ||
		    memcmp(req, reply, sizeof(req)) != 0)
			echoed = 0;
		(void)SSL_shutdown(ssl);
		SSL_free(ssl);
		close(fd);
	}
	printf(", \"tickets_full\": %lu, \"tickets_resumed\": %lu, "
	    "\"resumed\": %d, \"resumed_pinned\": %d, \"resumed_echoed\": %d}\n",
	    tickets_full, tls_tickets - tickets_full, resumed, pinned2, echoed);
	SSL_SESSION_free(sess);
	SSL_CTX_free(ctx);
	return 0;
}

/* --- tls-rr: short TLS connections ------------------------------------------ */

enum tr_state { TR_CONNECTING, TR_HANDSHAKE, TR_WRITING, TR_READING };

struct tr_conn {
	int		 fd;
	enum tr_state	 state;
	uint32_t	 events;	/* registered with epoll */
	SSL		*ssl;
	SSL_SESSION	*sess;		/* the slot's last ticket (resume) */
	bool		 offered;	/* this connection offered it */
	size_t		 got;
	char		 reply[RR_SIZE];
};

static struct {
	unsigned long	conns, full, resumed, refused, mptcp, errors, mismatch,
			unpinned;
} trs;

static int
tr_open(int ep, int port, struct tr_conn *c, unsigned slot)
{
	struct epoll_event	ev;

	if ((c->fd = client_socket(port, 1)) == -1)
		return -1;
	c->state = TR_CONNECTING;
	c->ssl = NULL;
	c->got = 0;
	c->events = EPOLLOUT;
	ev.events = c->events;
	ev.data.u32 = slot;
	return epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
}

/* Wait for what the last SSL call on c wants: 0, or -1 for a failure. */
static int
tr_want(int ep, struct tr_conn *c, unsigned slot, int ret)
{
	struct epoll_event	ev;
	uint32_t		want;

	switch (SSL_get_error(c->ssl, ret)) {
	case SSL_ERROR_WANT_READ:
		want = EPOLLIN;
		break;
	case SSL_ERROR_WANT_WRITE:
		want = EPOLLOUT;
		break;
	default:
		ERR_clear_error();
		return -1;
	}
	if (want != c->events) {
		c->events = want;
		ev.events = want;
		ev.data.u32 = slot;
		if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) == -1)
			return -1;
	}
	return 0;
}

/*
 * Move c on as far as it goes: 0 while it waits, 1 when its exchange is
 * done and verified (and counted under full, resumed or refused: a
 * ticket offered and not taken), -1 on a failure.
 */
static int
tr_step(SSL_CTX *ctx, int ep, struct tr_conn *c, unsigned slot, bool resume,
    const char *req)
{
	size_t		n;
	int		ret, err;
	socklen_t	len;

	switch (c->state) {
	case TR_CONNECTING:
		len = sizeof(err);
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1 ||
		    err != 0)
			return -1;
		c->ssl = tls_client_new(ctx, c->fd, resume ? &c->sess : NULL);
		c->offered = resume && c->sess != NULL;
		c->state = TR_HANDSHAKE;
		/* FALLTHROUGH */
	case TR_HANDSHAKE:
		if ((ret = SSL_connect(c->ssl)) != 1)
			return tr_want(ep, c, slot, ret);
		if (!tls_pinned(c->ssl)) {
			trs.unpinned++;
			return -1;
		}
		c->state = TR_WRITING;
		/* FALLTHROUGH */
	case TR_WRITING:
		/* One record; a retry passes the same bytes. */
		if ((ret = SSL_write_ex(c->ssl, req, RR_SIZE, &n)) != 1)
			return tr_want(ep, c, slot, ret);
		c->state = TR_READING;
		/* FALLTHROUGH */
	case TR_READING:
		while (c->got < RR_SIZE) {
			if ((ret = SSL_read_ex(c->ssl, c->reply + c->got,
			    RR_SIZE - c->got, &n)) != 1)
				return tr_want(ep, c, slot, ret);
			c->got += n;
		}
		break;
	}
	/* The reply is the request, byte for byte. */
	if (memcmp(c->reply, req, RR_SIZE) != 0) {
		trs.mismatch++;
		return -1;
	}
	trs.mptcp += is_mptcp(c->fd);
	/* What kind of handshake this completed exchange had. */
	if (SSL_session_reused(c->ssl))
		trs.resumed++;
	else if (c->offered)
		trs.refused++;
	else
		trs.full++;
	/* close_notify (it fits in the socket buffer), then close. */
	(void)SSL_shutdown(c->ssl);
	ERR_clear_error();
	return 1;
}

static int
tls_rr(int port, double seconds, int parallel, bool resume)
{
	static struct tr_conn	conns[MAX_PARALLEL];
	struct epoll_event	evs[MAX_PARALLEL];
	SSL_CTX			*ctx = tls_client_ctx();
	char			req[RR_SIZE];
	double			t0, end, cpu0;
	int			ep, n, i, r;
	bool			said = false;
	struct tr_conn		*c;

	if (parallel < 1 || parallel > MAX_PARALLEL)
		parallel = MAX_PARALLEL;
	memset(req, 't', sizeof(req));
	if ((ep = epoll_create1(0)) == -1)
		die("epoll_create1");
	printf("{");
	cpu0 = cpu_self();
	/*
	 * With resume, each slot's first connection is a full handshake
	 * (counted under full); from then on it offers its last ticket.
	 */
	for (i = 0; i < parallel; i++)
		if (tr_open(ep, port, &conns[i], (unsigned)i) == -1)
			die("connect");
	t0 = now();
	end = t0 + seconds;
	while (now() < end) {
		n = wait_events(ep, evs, MAX_PARALLEL, 100);
		for (i = 0; i < n; i++) {
			c = &conns[evs[i].data.u32];
			if ((r = tr_step(ctx, ep, c, evs[i].data.u32, resume,
			    req)) == 0)
				continue;
			if (r == 1) {
				trs.conns++;
				if (!said) {
					/* What the first connection settled. */
					tls_print_params(c->ssl);
					printf(", ");
					said = true;
				}
			} else
				trs.errors++;
			SSL_free(c->ssl);
			close(c->fd);
			if (tr_open(ep, port, c, evs[i].data.u32) == -1)
				die("connect");
		}
	}
	printf("\"conns\": %lu, \"full\": %lu, \"resumed\": %lu, "
	    "\"refused\": %lu, \"mptcp\": %lu, \"errors\": %lu, "
	    "\"mismatch\": %lu, \"unpinned\": %lu, \"tickets\": %lu, "
	    "\"seconds\": %.3f, \"cpu_s\": %.3f}\n", trs.conns, trs.full,
	    trs.resumed, trs.refused, trs.mptcp, trs.errors, trs.mismatch,
	    trs.unpinned, tls_tickets, now() - t0, cpu_self() - cpu0);
	for (i = 0; i < parallel; i++) {
		SSL_free(conns[i].ssl);
		SSL_SESSION_free(conns[i].sess);
		close(conns[i].fd);
	}
	SSL_CTX_free(ctx);
	return 0;
}

/* --- tls-bulk: one TLS stream, as fast as it goes ---------------------------- */

static int
tls_bulk(int port, double seconds)
{
	static char	buf[TLS_RECORD];
	SSL_CTX		*ctx = tls_client_ctx();
	SSL		*ssl;
	uint8_t		 cnt[8];
	uint64_t	 sent = 0, got = 0;
	double		 t0, t1, end, cpu0;
	size_t		 n;
	int		 fd, i, ret, mptcp, pinned, errors = 0;
	bool		 pending = false;

	if (seconds <= 0 || seconds > 60)
		seconds = 60;
	if ((ssl = tls_connect(ctx, port, NULL, &fd)) == NULL)
		tls_die("tls-bulk: handshake");
	pinned = tls_pinned(ssl);
	memset(buf, 'b', sizeof(buf));
	cpu0 = cpu_self();
	t0 = now();
	end = t0 + seconds;
	/*
	 * One record per write; a write waits at most 30 s. A write that
	 * wanted to wait is retried (with the same bytes) until it is
	 * through, past the end too: the record it began is then whole.
	 */
	while (now() < end || pending) {
		if ((ret = SSL_write_ex(ssl, buf, sizeof(buf), &n)) == 1) {
			sent += n;
			pending = false;
			continue;
		}
		pending = true;
		if (now() > end + 30 || tls_wait(ssl, ret, fd, 30000) == -1)
			tls_die("tls-bulk: write");
	}
	mptcp = is_mptcp(fd);
	/*
	 * close_notify ends our direction; the sink behind answers with
	 * what it received, and we read that on.
	 */
	while ((ret = SSL_shutdown(ssl)) < 0)
		if (now() > end + 30 || tls_wait(ssl, ret, fd, 30000) == -1) {
			errors++;
			break;
		}
	if (errors == 0 && tls_xfer(ssl, fd, (char *)cnt, NULL,
	    sizeof(cnt)) == -1)
		errors++;
	if (errors == 0)
		for (i = 0; i < 8; i++)
			got = got << 8 | cnt[i];
	t1 = now();
	if (got != sent)
		errors++;
	printf("{");
	tls_print_params(ssl);
	printf(", \"pinned\": %d, \"sent\": %llu, \"received\": %llu, "
	    "\"mptcp\": %d, \"errors\": %d, \"seconds\": %.3f, "
	    "\"gbps\": %.4f, \"cpu_s\": %.3f}\n", pinned,
	    (unsigned long long)sent, (unsigned long long)got, mptcp, errors,
	    t1 - t0, (double)got * 8 / (t1 - t0) / 1e9, cpu_self() - cpu0);
	SSL_free(ssl);
	close(fd);
	SSL_CTX_free(ctx);
	return 0;
}

/* --- tls-idle: many open, quiet TLS sessions --------------------------------- */

/*
 * As idle, through TLS: each connection's handshake done, one byte
 * echoed (the tickets read on the way). Our side of each session is then
 * freed without a word to the server (no close_notify): the relay holds
 * a TLS session that is simply quiet, and this client keeps only the
 * descriptor.
 */
static int
tls_idle(int port, int n)
{
	static int	fds[MAX_IDLE];
	SSL_CTX		*ctx = tls_client_ctx();
	SSL		*ssl;
	struct pollfd	pfd;
	char		c = 'i', buf[64];
	int		i, opened = 0, mptcp = 0, pinned = 0;
	double		deadline = now() + 120;

	raise_nofile();
	if (n < 1 || n > MAX_IDLE)
		n = MAX_IDLE;
	for (i = 0; i < n && now() < deadline; i++) {
		if ((ssl = tls_connect(ctx, port, NULL, &fds[i])) == NULL)
			break;
		if (tls_xfer(ssl, fds[i], NULL, &c, 1) == -1 ||
		    tls_xfer(ssl, fds[i], buf, NULL, 1) == -1 || buf[0] != c) {
			SSL_free(ssl);
			close(fds[i]);
			break;
		}
		pinned += tls_pinned(ssl);
		mptcp += is_mptcp(fds[i]);
		SSL_free(ssl);
		opened++;
	}
	printf("{\"open\": %d, \"mptcp\": %d, \"pinned\": %d}\n", opened,
	    mptcp, pinned);
	fflush(stdout);
	SSL_CTX_free(ctx);
	/* Held until bench/run closes our stdin (at most ten minutes). */
	pfd.fd = STDIN_FILENO;
	pfd.events = POLLIN;
	(void)poll(&pfd, 1, 600 * 1000);
	(void)read(STDIN_FILENO, buf, sizeof(buf));
	for (i = 0; i < opened; i++)
		close(fds[i]);
	return 0;
}

int
main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc == 3 && strcmp(argv[1], "serve") == 0)
		return serve(atoi(argv[2]));
	if (argc == 5 && strcmp(argv[1], "rr") == 0)
		return rr(atoi(argv[2]), atof(argv[3]), atoi(argv[4]));
	if (argc == 4 && strcmp(argv[1], "echo") == 0)
		return echo(atoi(argv[2]), atoi(argv[3]));
	if (argc == 4 && strcmp(argv[1], "idle") == 0)
		return idle(atoi(argv[2]), atoi(argv[3]));
	if (argc == 3 && strcmp(argv[1], "serve-pp") == 0)
		serve_pp(atoi(argv[2]), false, true);
	if (argc == 3 && strcmp(argv[1], "sink-pp") == 0)
		serve_pp(atoi(argv[2]), true, true);
	if (argc == 3 && strcmp(argv[1], "sink") == 0)
		serve_pp(atoi(argv[2]), true, false);
	if (argc == 4 && strcmp(argv[1], "bulk") == 0)
		return bulk(atoi(argv[2]), atof(argv[3]));
	if (argc == 3 && strcmp(argv[1], "tls-probe") == 0)
		return tls_probe(atoi(argv[2]));
	if (argc == 6 && strcmp(argv[1], "tls-rr") == 0 &&
	    (strcmp(argv[5], "full") == 0 || strcmp(argv[5], "resume") == 0))
		return tls_rr(atoi(argv[2]), atof(argv[3]), atoi(argv[4]),
		    strcmp(argv[5], "resume") == 0);
	if (argc == 4 && strcmp(argv[1], "tls-bulk") == 0)
		return tls_bulk(atoi(argv[2]), atof(argv[3]));
	if (argc == 4 && strcmp(argv[1], "tls-idle") == 0)
		return tls_idle(atoi(argv[2]), atoi(argv[3]));
	fprintf(stderr, "usage: loadgen serve PORT | rr PORT SECONDS PARALLEL"
	    " | echo PORT COUNT | idle PORT N\n"
	    "       loadgen serve-pp PORT | sink-pp PORT"
	    " | bulk PORT SECONDS | sink PORT\n"
	    "       loadgen tls-probe PORT"
	    " | tls-rr PORT SECONDS PARALLEL full|resume\n"
	    "       loadgen tls-bulk PORT SECONDS | tls-idle PORT N\n");
	return 2;
}
