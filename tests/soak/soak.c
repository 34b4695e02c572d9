/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

/*
 * The soak test's two ends, on 127.0.0.1, one epoll loop each:
 *   soak serve PORT               echo server (TCP), until stdin closes
 *   soak clients PORT N SECONDS   N MPTCP connections, opened at a bounded
 *                                 pace; then for SECONDS each sends a
 *                                 64-byte message about once a second and
 *                                 checks its echo; then all close.
 * The client prints one JSON line: connections opened, how many really
 * negotiated MPTCP (MPTCP_INFO), exchanges checked, errors. Every loop is
 * bounded by a deadline.
 */

#define _GNU_SOURCE

#include <sys/epoll.h>
#include <sys/resource.h>
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

#ifndef IPPROTO_MPTCP
#define IPPROTO_MPTCP	262
#endif
#define SOL_MPTCP_	284
#define MPTCP_INFO_	1
#define MSG_SIZE	64
#define OPEN_PER_SEC	1000	/* connections opened per second */

struct conn {
	int		 fd;
	uint64_t	 seq;		/* messages sent */
	unsigned	 got;		/* bytes of the echo read so far */
	uint64_t	 next_ms;	/* when to send the next message */
	int		 waiting;	/* an echo is due */
	char		 msg[MSG_SIZE];
};

static uint64_t
now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
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

static struct sockaddr_in
loopback(int port)
{
	struct sockaddr_in	sin;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return sin;
}

static int
serve(int port)
{
	struct sockaddr_in	sin = loopback(port);
	struct epoll_event	ev, evs[256];
	char			buf[65536];
	int			lfd, ep, n, i, fd;
	ssize_t			r;

	raise_nofile();
	if ((lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0)) == -1 ||
	    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &(int){ 1 },
	    sizeof(int)) == -1 ||
	    bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(lfd, 4096) == -1 || (ep = epoll_create1(0)) == -1) {
		perror("serve");
		return 1;
	}
	ev.events = EPOLLIN;
	ev.data.fd = lfd;
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	ev.data.fd = 0;
	epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev);
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		n = epoll_wait(ep, evs, 256, 1000);
		for (i = 0; i < n; i++) {
			fd = evs[i].data.fd;
			if (fd == 0)
				return 0;	/* stdin closed: done */
			if (fd == lfd) {
				while ((fd = accept4(lfd, NULL, NULL,
				    SOCK_NONBLOCK)) != -1) {
					ev.events = EPOLLIN;
					ev.data.fd = fd;
					epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
				}
				continue;
			}
			r = read(fd, buf, sizeof(buf));
			if (r <= 0) {
				close(fd);
				continue;
			}
			/* Small echoes: the socket buffer takes them whole. */
			if (write(fd, buf, (size_t)r) != r)
				close(fd);
		}
	}
}

static int
is_mptcp(int fd)
{
	char		info[64];
	socklen_t	len = sizeof(info);

	return getsockopt(fd, SOL_MPTCP_, MPTCP_INFO_, info, &len) == 0;
}

static void
msg_fill(struct conn *c, int i)
{
	snprintf(c->msg, sizeof(c->msg), "conn %d seq %llu ", i,
	    (unsigned long long)c->seq);
	memset(c->msg + strlen(c->msg), 'x', MSG_SIZE - strlen(c->msg));
}

static int
clients(int port, int n, int seconds)
{
	struct sockaddr_in	 sin = loopback(port);
	struct epoll_event	 ev, evs[512];
	struct conn		*cs;
	char			 buf[MSG_SIZE];
	uint64_t		 start, end, t, exchanges = 0;
	unsigned long		 errors = 0;
	int			 ep, i, k, m, opened = 0, mptcp = 0, fd;
	ssize_t			 r;

	raise_nofile();
	if ((cs = calloc((size_t)n, sizeof(*cs))) == NULL ||
	    (ep = epoll_create1(0)) == -1)
		return 1;
	/* Open, at a bounded pace, blocking connects with a timeout. */
	start = now_ms();
	for (i = 0; i < n; i++) {
		while (now_ms() - start < (uint64_t)i * 1000 / OPEN_PER_SEC)
			poll(NULL, 0, 1);
		fd = socket(AF_INET, SOCK_STREAM, IPPROTO_MPTCP);
		if (fd == -1 || connect(fd, (struct sockaddr *)&sin,
		    sizeof(sin)) == -1) {
			if (fd != -1)
				close(fd);
			cs[i].fd = -1;
			errors++;
			continue;
		}
		mptcp += is_mptcp(fd);
		fcntl(fd, F_SETFL, O_NONBLOCK);
		cs[i].fd = fd;
		cs[i].next_ms = now_ms() + (uint64_t)(rand() % 1000);
		ev.events = EPOLLIN;
		ev.data.u32 = (uint32_t)i;
		epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
		opened++;
	}
	end = now_ms() + (uint64_t)seconds * 1000;
	while ((t = now_ms()) < end) {
		for (i = 0; i < n; i++) {
			if (cs[i].fd == -1 || cs[i].waiting || t < cs[i].next_ms)
				continue;
			msg_fill(&cs[i], i);
			if (write(cs[i].fd, cs[i].msg, MSG_SIZE) != MSG_SIZE) {
				errors++;
				close(cs[i].fd);
				cs[i].fd = -1;
				continue;
			}
			cs[i].waiting = 1;
			cs[i].got = 0;
			cs[i].next_ms = t + 1000;
		}
		m = epoll_wait(ep, evs, 512, 10);
		for (k = 0; k < m; k++) {
			i = (int)evs[k].data.u32;
			if (cs[i].fd == -1)
				continue;
			r = read(cs[i].fd, buf, MSG_SIZE - cs[i].got);
			if (r <= 0 || !cs[i].waiting || memcmp(buf,
			    cs[i].msg + cs[i].got, (size_t)r) != 0) {
				if (r == -1 && errno == EAGAIN)
					continue;
				errors++;
				close(cs[i].fd);
				cs[i].fd = -1;
				continue;
			}
			cs[i].got += (unsigned)r;
			if (cs[i].got == MSG_SIZE) {
				cs[i].waiting = 0;
				cs[i].seq++;
				exchanges++;
			}
		}
	}
	/* An echo still due at the end is not an error; a lost one was. */
	for (i = 0; i < n; i++)
		if (cs[i].fd != -1)
			close(cs[i].fd);
	printf("{\"conns\": %d, \"mptcp\": %d, \"exchanges\": %llu, "
	    "\"errors\": %lu}\n", opened, mptcp,
	    (unsigned long long)exchanges, errors);
	free(cs);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "serve") == 0)
		return serve(atoi(argv[2]));
	if (argc == 5 && strcmp(argv[1], "clients") == 0)
		return clients(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]));
	fprintf(stderr, "usage: soak serve PORT | soak clients PORT N "
	    "SECONDS\n");
	return 2;
}
