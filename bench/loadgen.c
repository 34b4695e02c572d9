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
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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

/* --- serve: an echo backend ------------------------------------------- */

static int __attribute__((noreturn))
serve(int port)
{
	struct sockaddr_in	sin = loopback(port);
	struct epoll_event	ev, evs[256];
	char			buf[65536];
	int			lfd, ep, n, i, fd, one = 1;
	ssize_t			r;

	raise_nofile();
	if ((lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0)) == -1)
		die("socket");
	(void)setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(lfd, 4096) == -1)
		die("bind/listen");
	if ((ep = epoll_create1(0)) == -1)
		die("epoll_create1");
	ev.events = EPOLLIN;
	ev.data.fd = lfd;
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	printf("{\"serving\": %d}\n", port);
	fflush(stdout);
	/* Runs until bench/run ends it. */
	for (;;) {
		if ((n = epoll_wait(ep, evs, 256, -1)) == -1) {
			if (errno == EINTR)
				continue;
			die("epoll_wait");
		}
		for (i = 0; i < n; i++) {
			fd = evs[i].data.fd;
			if (fd == lfd) {
				while ((fd = accept4(lfd, NULL, NULL,
				    SOCK_NONBLOCK)) != -1) {
					(void)setsockopt(fd, IPPROTO_TCP,
					    TCP_NODELAY, &one, sizeof(one));
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

/* --- rr: short connections --------------------------------------------- */

enum rr_state { RR_CONNECTING, RR_READING };

struct rr_conn {
	int		fd;
	enum rr_state	state;
	size_t		got;
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
	char			req[RR_SIZE], buf[RR_SIZE];
	unsigned long		done = 0, mptcp = 0, errors = 0;
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
		if ((n = epoll_wait(ep, evs, MAX_PARALLEL, 100)) == -1) {
			if (errno == EINTR)
				continue;
			die("epoll_wait");
		}
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
			r = read(c->fd, buf, sizeof(buf) - c->got);
			if (r == -1 && errno == EAGAIN)
				continue;
			if (r <= 0)
				goto fail;
			c->got += (size_t)r;
			if (c->got < RR_SIZE)
				continue;
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
	    "\"seconds\": %.3f}\n", done, mptcp, errors, now() - t0);
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
	fprintf(stderr, "usage: loadgen serve PORT | rr PORT SECONDS PARALLEL"
	    " | echo PORT COUNT | idle PORT N\n");
	return 2;
}
