/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

/*
 * The test program of the kernel tests (tests/kernels/run), linked
 * statically so that it runs in the guest's initramfs with no library
 * at all. One binary, several commands:
 *
 *   probe kernel
 *	What this kernel's MPTCP answers, over loopback and without the
 *	daemon: MPTCP_INFO, TCP_IS_MPTCP, MPTCP_FULL_INFO and SO_PROTOCOL
 *	on an MPTCP connection and on a plain one through an MPTCP listener.
 *	Fails unless MPTCP_INFO tells the two apart, which is what the
 *	daemon relies on.
 *
 *   probe serve ADDR PORT tcp|mptcp LOG
 *	An echo server: binds, then forks into the background and prints
 *	the server's pid once it listens. Each connection is echoed to its
 *	end of stream, then half-closed; one line per connection goes to
 *	LOG: "peer=IP:PORT mptcp=yes|no bytes=N".
 *
 *   probe echo ADDR PORT tcp|mptcp BYTES [options]
 *	A client: sends BYTES of a known pattern while it reads them back,
 *	checks every byte, half-closes after the last one and expects the
 *	end of stream right after the last byte back. Prints one line:
 *	"local=IP:PORT mptcp=yes|no subflows=N bytes=N seconds=S
 *	longest_stall=S [cut_at=N]". Options:
 *	  --expect-mptcp yes|no  what MPTCP_INFO must say of the connection
 *	  --subflows N           after the first 64 KiB, wait (10 s at most)
 *	                         for N subflows before sending more
 *	  --seconds S            send no faster than BYTES in S seconds, so
 *	                         that a fast kernel's transfer lasts as long
 *	  --cut-at N --cut CMD   once N bytes came back, and at least 1.5 s
 *	                         into the transfer (so that the relay has
 *	                         sampled every subflow), run CMD with /bin/sh;
 *	                         the echo must then complete
 *	  --timeout S            give up after S seconds (default 120)
 *
 *   probe session LOG PORT [--timeout S] KEY=VALUE...
 *	Waits for the daemon's one session line (LOG is its standard error)
 *	of the client whose port is PORT, checks its time stamp and level,
 *	and each KEY=VALUE: VALUE may list alternatives (a|b), and "-" means
 *	the field must be absent. Prints the line.
 *
 * Exit status: 0 when the check holds, 1 when it does not (the reason on
 * standard error, one line), 2 for a usage error.
 */
#define _GNU_SOURCE
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "compat.h"	/* the daemon's: IPPROTO_MPTCP, MPTCP_INFO ... */

#ifndef MPTCP_FULL_INFO
#define MPTCP_FULL_INFO	4	/* SOL_MPTCP: struct mptcp_full_info, 6.6+ */
#endif

#define CHUNK		(64 * 1024)
#define CUT_MIN_SECONDS	1.5

static const char *cmd_name = "probe";

static void __attribute__((noreturn, format(printf, 1, 2)))
failx(const char *fmt, ...)
{
	va_list	ap;

	fprintf(stderr, "%s: ", cmd_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void __attribute__((noreturn, format(printf, 1, 2)))
fail(const char *fmt, ...)
{
	va_list	ap;
	int	e = errno;

	fprintf(stderr, "%s: ", cmd_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, ": %s\n", strerror(e));
	exit(1);
}

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr,
	    "usage: probe kernel\n"
	    "       probe serve ADDR PORT tcp|mptcp LOG\n"
	    "       probe echo ADDR PORT tcp|mptcp BYTES [--expect-mptcp "
	    "yes|no]\n"
	    "                  [--subflows N] [--seconds S] [--cut-at N "
	    "--cut CMD]\n"
	    "                  [--timeout S]\n"
	    "       probe session LOG PORT [--timeout S] KEY=VALUE...\n");
	exit(2);
}

static void
on_alarm(int sig)
{
	static const char msg[] = ": timed out\n";

	(void)sig;
	(void)!write(2, cmd_name, strlen(cmd_name));
	(void)!write(2, msg, sizeof(msg) - 1);
	_exit(1);
}

static void
set_timeout(unsigned int seconds)
{
	signal(SIGALRM, on_alarm);
	alarm(seconds);
}

static double
now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static unsigned long long
number(const char *s)
{
	char			*end;
	unsigned long long	 v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0')
		usage();
	return v;
}

static int
protocol_of(const char *s)
{
	if (strcmp(s, "mptcp") == 0)
		return IPPROTO_MPTCP;
	if (strcmp(s, "tcp") == 0)
		return IPPROTO_TCP;
	usage();
}

static void
sockaddr_of(const char *addr, const char *port, struct sockaddr_in *sin)
{
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)number(port));
	if (inet_pton(AF_INET, addr, &sin->sin_addr) != 1)
		failx("not an IPv4 address: %s", addr);
}

static const char *
addr_text(const struct sockaddr_in *sin)
{
	static char	buf[64];
	char		ip[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip));
	snprintf(buf, sizeof(buf), "%s:%u", ip, ntohs(sin->sin_port));
	return buf;
}

/*
 * Asks the kernel whether fd's connection is MPTCP, as the daemon does:
 * MPTCP_INFO succeeds (with however many bytes this kernel's struct has)
 * on an MPTCP connection and fails with EOPNOTSUPP or ENOPROTOOPT on a
 * plain one. Returns 1 or 0, or -1 with errno for any other answer. With
 * subflows, stores the number of subflows, the first one included.
 */
static int
mptcp_state(int fd, int *subflows)
{
	struct compat_mptcp_info	info;
	socklen_t			l = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (getsockopt(fd, SOL_MPTCP, MPTCP_INFO, &info, &l) == -1) {
		if (errno == EOPNOTSUPP || errno == ENOPROTOOPT)
			return 0;
		return -1;
	}
	/* mptcpi_subflows is in the 48 bytes of 6.1; it counts the others. */
	if (subflows != NULL)
		*subflows = info.mptcpi_subflows + 1;
	return 1;
}

/* The pattern every test stream carries: byte i of the stream. */
static uint64_t
pattern_word(uint64_t w)
{
	uint64_t	z = w + 0x9e3779b97f4a7c15ULL;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void
pattern_fill(unsigned char *buf, uint64_t off, size_t n)
{
	uint64_t	w = UINT64_MAX, v = 0;
	size_t		i;

	for (i = 0; i < n; i++, off++) {
		if ((off >> 3) != w) {
			w = off >> 3;
			v = pattern_word(w);
		}
		buf[i] = (unsigned char)(v >> ((off & 7) * 8));
	}
}

/* Offset in buf of the first byte that differs from the pattern, or -1. */
static long
pattern_check(const unsigned char *buf, uint64_t off, size_t n)
{
	unsigned char	want[CHUNK];
	size_t		i, k;

	for (i = 0; i < n; i += k) {
		k = n - i < sizeof(want) ? n - i : sizeof(want);
		pattern_fill(want, off + i, k);
		if (memcmp(want, buf + i, k) != 0) {
			size_t	j;

			for (j = 0; want[j] == buf[i + j]; j++)
				;
			return (long)(i + j);
		}
	}
	return -1;
}

static const char *
errno_name(int e)
{
	switch (e) {
	case EOPNOTSUPP:
		return "EOPNOTSUPP";
	case ENOPROTOOPT:
		return "ENOPROTOOPT";
	case EINVAL:
		return "EINVAL";
	case EFAULT:
		return "EFAULT";
	default:
		return strerror(e);
	}
}

/* --- probe kernel -------------------------------------------------------- */

/* What the kernel answers to each option on fd, appended to out. */
static void
describe(int fd, const char *what, char *out, size_t size)
{
	unsigned char	buf[512];
	socklen_t	l;
	int		v, len = (int)strlen(out);

	l = sizeof(buf);
	memset(buf, 0, sizeof(buf));
	if (getsockopt(fd, SOL_MPTCP, MPTCP_INFO, buf, &l) == 0)
		len += snprintf(out + len, size - len,
		    " %s:MPTCP_INFO=%u-bytes", what, (unsigned)l);
	else
		len += snprintf(out + len, size - len, " %s:MPTCP_INFO=%s",
		    what, errno_name(errno));
	l = sizeof(v);
	if (getsockopt(fd, IPPROTO_TCP, TCP_IS_MPTCP, &v, &l) == 0)
		len += snprintf(out + len, size - len, " %s:TCP_IS_MPTCP=%d",
		    what, v);
	else
		len += snprintf(out + len, size - len, " %s:TCP_IS_MPTCP=%s",
		    what, errno_name(errno));
	/* A zeroed struct mptcp_full_info asks for no array, only counts. */
	l = sizeof(buf);
	memset(buf, 0, sizeof(buf));
	if (getsockopt(fd, SOL_MPTCP, MPTCP_FULL_INFO, buf, &l) == 0)
		len += snprintf(out + len, size - len,
		    " %s:MPTCP_FULL_INFO=ok", what);
	else
		len += snprintf(out + len, size - len,
		    " %s:MPTCP_FULL_INFO=%s", what, errno_name(errno));
	l = sizeof(v);
	if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &v, &l) == 0)
		snprintf(out + len, size - len, " %s:SO_PROTOCOL=%d", what, v);
}

static int
cmd_kernel(void)
{
	struct sockaddr_in	sin;
	socklen_t		sl = sizeof(sin);
	char			report[2048] = "";
	int			lfd, cfd[2], afd[2], i, st[2][2];

	set_timeout(20);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((lfd = socket(AF_INET, SOCK_STREAM, IPPROTO_MPTCP)) == -1)
		fail("socket(IPPROTO_MPTCP)");
	if (bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(lfd, 4) == -1 ||
	    getsockname(lfd, (struct sockaddr *)&sin, &sl) == -1)
		fail("MPTCP listener");
	for (i = 0; i < 2; i++) {
		cfd[i] = socket(AF_INET, SOCK_STREAM,
		    i == 0 ? IPPROTO_MPTCP : IPPROTO_TCP);
		if (cfd[i] == -1)
			fail("socket");
		if (connect(cfd[i], (struct sockaddr *)&sin, sizeof(sin)) == -1)
			fail("connect");
		if ((afd[i] = accept(lfd, NULL, NULL)) == -1)
			fail("accept");
		st[i][0] = mptcp_state(cfd[i], NULL);
		st[i][1] = mptcp_state(afd[i], NULL);
	}
	describe(cfd[0], "mptcp-client", report, sizeof(report));
	describe(afd[0], "mptcp-accepted", report, sizeof(report));
	describe(cfd[1], "tcp-client", report, sizeof(report));
	describe(afd[1], "tcp-accepted", report, sizeof(report));
	printf("kernel:%s\n", report);
	if (st[0][0] != 1 || st[0][1] != 1)
		failx("MPTCP_INFO does not say MPTCP on an MPTCP connection "
		    "(client %d, accepted %d)", st[0][0], st[0][1]);
	if (st[1][0] != 0 || st[1][1] != 0)
		failx("MPTCP_INFO does not say TCP on a plain connection "
		    "(client %d, accepted %d)", st[1][0], st[1][1]);
	return 0;
}

/* --- probe serve --------------------------------------------------------- */

static void
serve_one(int fd, const struct sockaddr_in *peer, FILE *log)
{
	unsigned char		buf[CHUNK];
	unsigned long long	total = 0;
	ssize_t			n, w, off;
	int			m;

	m = mptcp_state(fd, NULL);
	for (;;) {
		n = read(fd, buf, sizeof(buf));
		if (n == 0)
			break;
		if (n == -1) {
			if (errno == EINTR)
				continue;
			fprintf(log, "peer=%s error=%s\n", addr_text(peer),
			    strerror(errno));
			return;
		}
		for (off = 0; off < n; off += w) {
			w = write(fd, buf + off, n - off);
			if (w == -1) {
				if (errno == EINTR) {
					w = 0;
					continue;
				}
				fprintf(log, "peer=%s error=%s\n",
				    addr_text(peer), strerror(errno));
				return;
			}
		}
		total += n;
	}
	/* Logged before the end of stream, so that it is there when the
	 * client has its echo back. */
	fprintf(log, "peer=%s mptcp=%s bytes=%llu\n", addr_text(peer),
	    m == 1 ? "yes" : m == 0 ? "no" : "unknown", total);
	shutdown(fd, SHUT_WR);
}

static int
cmd_serve(int argc, char **argv)
{
	struct sockaddr_in	sin, peer;
	socklen_t		pl;
	FILE			*log;
	pid_t			pid;
	int			fd, cfd, one = 1;

	if (argc != 4)
		usage();
	sockaddr_of(argv[0], argv[1], &sin);
	if ((fd = socket(AF_INET, SOCK_STREAM, protocol_of(argv[2]))) == -1)
		fail("socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1)
		fail("bind %s", addr_text(&sin));
	if (listen(fd, 64) == -1)
		fail("listen");
	if ((log = fopen(argv[3], "a")) == NULL)
		fail("%s", argv[3]);
	setvbuf(log, NULL, _IOLBF, 0);
	if ((pid = fork()) == -1)
		fail("fork");
	if (pid > 0) {
		printf("%ld\n", (long)pid);
		return 0;
	}
	setsid();
	signal(SIGCHLD, SIG_IGN);	/* connection children reap themselves */
	fclose(stdout);
	for (;;) {
		pl = sizeof(peer);
		if ((cfd = accept(fd, (struct sockaddr *)&peer, &pl)) == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			fprintf(log, "accept: %s\n", strerror(errno));
			sleep(1);
			continue;
		}
		if ((pid = fork()) == 0) {
			close(fd);
			serve_one(cfd, &peer, log);
			_exit(0);
		}
		close(cfd);
	}
}

/* --- probe echo ---------------------------------------------------------- */

/* Runs cmd with /bin/sh and waits for it; its status must be 0. */
static void
run_cut(const char *cmd)
{
	pid_t	pid;
	int	status;

	if ((pid = fork()) == -1)
		fail("fork");
	if (pid == 0) {
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) == -1)
		fail("waitpid");
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		failx("'%s' failed (status %d)", cmd, status);
}

static int
cmd_echo(int argc, char **argv)
{
	static unsigned char	 out[CHUNK], in[CHUNK];
	struct sockaddr_in	 sin, me;
	struct pollfd		 pfd;
	socklen_t		 ml = sizeof(me);
	unsigned long long	 total, sent = 0, got = 0, cut_at = 0;
	unsigned long long	 cut_done_at = 0;
	const char		*expect = NULL, *cut = NULL;
	double			 t0, t1 = 0, last, stall = 0;
	double			 sampled = 0, gate_since = 0, min_seconds = 0;
	ssize_t			 n;
	long			 bad;
	int			 fd, m, subflows = 0, want_subflows = 0, i;
	int			 max_subflows = 0, s = 0, gated, paced;
	unsigned int		 timeout = 120;

	if (argc < 4)
		usage();
	sockaddr_of(argv[0], argv[1], &sin);
	total = number(argv[3]);
	for (i = 4; i < argc; i++) {
		if (i + 1 >= argc)
			usage();
		if (strcmp(argv[i], "--expect-mptcp") == 0)
			expect = argv[++i];
		else if (strcmp(argv[i], "--subflows") == 0)
			want_subflows = (int)number(argv[++i]);
		else if (strcmp(argv[i], "--cut-at") == 0)
			cut_at = number(argv[++i]);
		else if (strcmp(argv[i], "--cut") == 0)
			cut = argv[++i];
		else if (strcmp(argv[i], "--timeout") == 0)
			timeout = (unsigned int)number(argv[++i]);
		else if (strcmp(argv[i], "--seconds") == 0)
			min_seconds = (double)number(argv[++i]);
		else
			usage();
	}
	if ((cut_at != 0) != (cut != NULL))
		usage();
	set_timeout(timeout);

	if ((fd = socket(AF_INET, SOCK_STREAM, protocol_of(argv[2]))) == -1)
		fail("socket");
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1)
		fail("connect %s", addr_text(&sin));
	if (getsockname(fd, (struct sockaddr *)&me, &ml) == -1)
		fail("getsockname");
	m = mptcp_state(fd, &subflows);
	if (m == -1)
		fail("MPTCP_INFO");
	/* Its port names the session in the relay's log: print it first. */
	fprintf(stderr, "%s: local=%s mptcp=%s\n", cmd_name, addr_text(&me),
	    m ? "yes" : "no");
	if (expect != NULL && strcmp(expect, m ? "yes" : "no") != 0)
		failx("local=%s: MPTCP_INFO says mptcp=%s, expected %s",
		    addr_text(&me), m ? "yes" : "no", expect);
	max_subflows = subflows;

	if (fcntl(fd, F_SETFL, O_NONBLOCK) == -1)
		fail("fcntl");
	t0 = last = now();
	pfd.fd = fd;
	if (total == 0)
		shutdown(fd, SHUT_WR);
	for (;;) {
		/*
		 * With --subflows, everything past the first chunk waits for
		 * the subflows: a 6.1 client opens its extra subflows only
		 * once data has flowed (the connection is fully established).
		 */
		gated = want_subflows > 0 && max_subflows < want_subflows &&
		    sent >= CHUNK;
		if (gated && gate_since == 0)
			gate_since = now();
		if (gated && now() - gate_since > 10)
			failx("local=%s: %d subflows after 10 s, expected %d",
			    addr_text(&me), max_subflows, want_subflows);
		if (!gated && gate_since != 0) {
			/* The wait is no stall of the transfer. */
			gate_since = 0;
			last = now();
		}
		/* With --seconds, the sender keeps to its pace. */
		paced = min_seconds > 0 && sent >= CHUNK &&
		    sent >= total * ((now() - t0) / min_seconds);
		pfd.events = POLLIN |
		    (sent < total && !gated && !paced ? POLLOUT : 0);
		if (poll(&pfd, 1, gated || paced ? 10 : 1000) == -1) {
			if (errno == EINTR)
				continue;
			fail("poll");
		}
		if (sent < total && (pfd.revents & (POLLOUT | POLLERR))) {
			size_t	k = total - sent < CHUNK ? total - sent : CHUNK;

			pattern_fill(out, sent, k);
			n = write(fd, out, k);
			if (n == -1 && errno != EAGAIN && errno != EINTR)
				fail("write after %llu bytes", sent);
			if (n > 0) {
				sent += n;
				if (sent == total && shutdown(fd, SHUT_WR) == -1)
					fail("shutdown");
			}
		}
		if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
			n = read(fd, in, sizeof(in));
			if (n == -1 && errno != EAGAIN && errno != EINTR)
				fail("read after %llu of %llu bytes", got,
				    total);
			if (n == 0) {
				if (got != total)
					failx("end of stream after %llu of "
					    "%llu bytes", got, total);
				break;
			}
			if (n > 0) {
				if (got + n > total)
					failx("%llu bytes back, more than the "
					    "%llu sent", got + n, total);
				bad = pattern_check(in, got, n);
				if (bad >= 0)
					failx("byte %llu came back changed",
					    got + bad);
				got += n;
				t1 = now();
				if (t1 - last > stall)
					stall = t1 - last;
				last = t1;
			}
		}
		/* A system call per read would slow the transfer down. */
		if (m == 1 && (gated || now() - sampled >= 0.1)) {
			sampled = now();
			if (mptcp_state(fd, &s) == 1 && s > max_subflows)
				max_subflows = s;
		}
		if (cut != NULL && cut_done_at == 0 && got >= cut_at &&
		    now() - t0 >= CUT_MIN_SECONDS) {
			run_cut(cut);
			cut_done_at = got;
			fprintf(stderr, "%s: ran '%s' after %llu bytes back, "
			    "%.2f s\n", cmd_name, cut, got, now() - t0);
		}
	}
	if (cut != NULL && cut_done_at == 0)
		failx("the transfer ended before the cut (%llu bytes in "
		    "%.2f s): give it more bytes", total, now() - t0);
	printf("local=%s mptcp=%s subflows=%d bytes=%llu seconds=%.2f "
	    "longest_stall=%.3f", addr_text(&me), m ? "yes" : "no",
	    max_subflows, total, (t1 ? t1 : now()) - t0, stall);
	if (cut != NULL)
		printf(" cut_at=%llu", cut_done_at);
	printf("\n");
	close(fd);
	return 0;
}

/* --- probe session ------------------------------------------------------- */

/* The value of key in the session line's fields, or NULL. */
static const char *
field(char *const *keys, char *const *vals, int n, const char *key)
{
	int	i;

	for (i = 0; i < n; i++)
		if (strcmp(keys[i], key) == 0)
			return vals[i];
	return NULL;
}

static int
one_of(const char *value, const char *alternatives)
{
	const char	*p = alternatives, *bar;
	size_t		 len;

	for (;;) {
		bar = strchr(p, '|');
		len = bar ? (size_t)(bar - p) : strlen(p);
		if (strlen(value) == len && strncmp(value, p, len) == 0)
			return 1;
		if (bar == NULL)
			return 0;
		p = bar + 1;
	}
}

/*
 * Session lines of the client port in the log: the number found, and the
 * last one in line (size bytes).
 */
static int
find_sessions(const char *path, const char *port, char *line, size_t size)
{
	char	buf[4096], needle[32];
	FILE	*f;
	int	found = 0;
	char	*c, *end;

	if ((f = fopen(path, "r")) == NULL)
		fail("%s", path);
	snprintf(needle, sizeof(needle), ":%s", port);
	while (fgets(buf, sizeof(buf), f) != NULL) {
		if ((c = strstr(buf, " client=")) == NULL)
			continue;
		end = c + 8 + strcspn(c + 8, " \n");
		if ((size_t)(end - (c + 8)) <= strlen(needle) ||
		    strncmp(end - strlen(needle), needle, strlen(needle)) != 0)
			continue;
		found++;
		buf[strcspn(buf, "\n")] = '\0';
		snprintf(line, size, "%s", buf);
	}
	fclose(f);
	return found;
}

static int
cmd_session(int argc, char **argv)
{
	char		 line[4096], copy[4096], *keys[64], *vals[64], *p, *tok;
	char		*save = NULL;
	const char	*port, *got;
	unsigned int	 timeout = 15;
	double		 deadline;
	int		 i, n = 0, found, first;

	if (argc < 2)
		usage();
	port = argv[1];
	(void)number(port);
	first = 2;
	if (argc > 3 && strcmp(argv[2], "--timeout") == 0) {
		timeout = (unsigned int)number(argv[3]);
		first = 4;
	}
	deadline = now() + timeout;
	while ((found = find_sessions(argv[0], port, line, sizeof(line))) == 0) {
		if (now() > deadline)
			failx("no session line for client port %s after %u s",
			    port, timeout);
		usleep(50000);
	}
	usleep(200000);		/* a second line would come right after */
	found = find_sessions(argv[0], port, line, sizeof(line));
	printf("%s\n", line);
	if (found != 1)
		failx("%d session lines for client port %s", found, port);

	/* "2026-12-06T04:17:18.123Z info: NAME: client=..." */
	snprintf(copy, sizeof(copy), "%s", line);
	p = copy;
	if (strlen(p) < 25 || p[4] != '-' || p[7] != '-' || p[10] != 'T' ||
	    p[13] != ':' || p[16] != ':' || p[19] != '.' || p[23] != 'Z' ||
	    p[24] != ' ')
		failx("session line without a UTC time stamp: %s", line);
	p += 25;
	if (strncmp(p, "info: ", 6) != 0)
		failx("session line not at level info: %s", line);
	if ((p = strstr(p, " client=")) == NULL)
		failx("no client= field: %s", line);
	p++;
	for (tok = strtok_r(p, " ", &save); tok != NULL && n < 64;
	    tok = strtok_r(NULL, " ", &save)) {
		if ((vals[n] = strchr(tok, '=')) == NULL)
			failx("field without '=' (%s): %s", tok, line);
		*vals[n]++ = '\0';
		keys[n++] = tok;
	}
	for (i = first; i < argc; i++) {
		char	want[256], *v;

		snprintf(want, sizeof(want), "%s", argv[i]);
		if ((v = strchr(want, '=')) == NULL)
			usage();
		*v++ = '\0';
		got = field(keys, vals, n, want);
		if (strcmp(v, "-") == 0) {
			if (got != NULL)
				failx("%s=%s, expected no such field", want,
				    got);
		} else if (got == NULL)
			failx("no %s= field, expected %s", want, v);
		else if (!one_of(got, v))
			failx("%s=%s, expected %s", want, got, v);
	}
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc < 2)
		usage();
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	if (strcmp(argv[1], "kernel") == 0) {
		cmd_name = "probe kernel";
		return cmd_kernel();
	}
	if (strcmp(argv[1], "serve") == 0) {
		cmd_name = "probe serve";
		return cmd_serve(argc - 2, argv + 2);
	}
	if (strcmp(argv[1], "echo") == 0) {
		cmd_name = "probe echo";
		return cmd_echo(argc - 2, argv + 2);
	}
	if (strcmp(argv[1], "session") == 0) {
		cmd_name = "probe session";
		return cmd_session(argc - 2, argv + 2);
	}
	usage();
}
