/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

/*
 * Listeners (listener.c) in a network namespace of the test's own, where
 * every port is free: sockets bound with the configured protocol and
 * options; a reload that keeps a socket whose address and protocol did not
 * change (the same socket, its backlog and buffers updated), opens the
 * new ones, closes the others after taking their queued clients, replaces
 * a socket whose protocol changed, and changes nothing when a bind fails;
 * many listeners kept by the lookup tables; admission at the budget's and
 * the section's limits, and accepting again when a session ends.
 */

#include "autoconf.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <event2/event.h>

#include "budget.h"
#include "compat.h"
#include "config.h"
#include "listener.h"
#include "log.h"
#include "relay.h"
#include "testutil.h"

#define DEADLINE_MS	20000
#define MAX_ACCEPTED	64

/* A daemon's worth of listeners: the set, its relays, what it accepted. */
struct tl {
	struct event_base	*base;
	struct budget		 budget;
	struct listener_set	 lss;
	struct relay_set	 relays;
	struct config		*cf;
	int			 accepted[MAX_ACCEPTED];
	int			 naccepted;
	struct testutil_capture	 cap;
};

static void
accepted(struct listener *ls, int fd, const struct sockaddr *client,
    socklen_t clientlen, void *arg)
{
	struct tl	*t = arg;

	ck_assert_ptr_nonnull(ls);
	/* IPv4, or IPv4-mapped IPv6 on a dual-stack socket. */
	ck_assert_int_eq(clientlen, client->sa_family == AF_INET ?
	    sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
	ck_assert_int_lt(t->naccepted, MAX_ACCEPTED);
	/* Non-blocking and close-on-exec, as listener.h promises. */
	ck_assert(fcntl(fd, F_GETFL) & O_NONBLOCK);
	ck_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	t->accepted[t->naccepted++] = fd;
}

/* A set in a fresh namespace, counting sessions in a budget (cap 0). */
static void
tl_init(struct tl *t, unsigned cap)
{
	memset(t, 0, sizeof(*t));
	testutil_netns();
	ck_assert_ptr_nonnull(t->base = event_base_new());
	budget_init(&t->budget, NULL);
	budget_size(&t->budget, 64);
	budget_set_cap(&t->budget, cap);
	unsetenv("LISTEN_FDS");
	ck_assert_int_eq(listener_set_init(&t->lss, t->base, &t->budget,
	    accepted, t), 0);
	testutil_capture_start(&t->cap);
}

/* Apply text as the daemon applies a configuration: 0 or -1. */
static int
tl_apply(struct tl *t, const char *text)
{
	struct config		*cf = testutil_config(text, 0);
	struct relay_set	 next;
	bool			 reload = t->cf != NULL;

	ck_assert_int_eq(relay_set_prepare(&t->relays, cf, 1, &next), 0);
	if (listener_set_apply(&t->lss, cf, &next, reload) == -1) {
		relay_set_clear(&next);
		config_unref(cf);
		return -1;
	}
	relay_set_commit(&t->relays, &next, cf);
	config_unref(t->cf);
	t->cf = cf;
	return 0;
}

/* What was logged since the start, or since the last look. */
static char *
tl_log(struct tl *t)
{
	char	*text = testutil_capture_end(&t->cap);

	testutil_capture_start(&t->cap);
	return text;
}

/* How often needle was logged since the last look. */
static int
tl_logged(struct tl *t, const char *needle)
{
	char	*text = tl_log(t);
	int	 n = testutil_count(text, needle);

	free(text);
	return n;
}

static void
tl_free(struct tl *t)
{
	int	i;

	free(testutil_capture_end(&t->cap));
	listener_set_clear(&t->lss);
	relay_set_clear(&t->relays);
	config_unref(t->cf);
	for (i = 0; i < t->naccepted; i++)
		close(t->accepted[i]);
	event_base_free(t->base);
}

/* The running listener on 127.0.0.1:port, or NULL. */
static struct listener *
tl_find(struct tl *t, int port)
{
	struct listener		*ls;
	struct sockaddr_in	*sin;

	TAILQ_FOREACH(ls, &t->lss.lss_list, ls_entry) {
		sin = (struct sockaddr_in *)&ls->ls_addr.ca_ss;
		if (sin->sin_family == AF_INET && ntohs(sin->sin_port) == port)
			return ls;
	}
	return NULL;
}

static ino_t
inode(int fd)
{
	struct stat	st;

	ck_assert_int_eq(fstat(fd, &st), 0);
	return st.st_ino;
}

static int
sockopt(int fd, int level, int name)
{
	int		v = -1;
	socklen_t	len = sizeof(v);

	ck_assert_msg(getsockopt(fd, level, name, &v, &len) == 0,
	    "getsockopt %d/%d: %s", level, name, strerror(errno));
	return v;
}

/* The listener on port: listening, with protocol proto. */
static struct listener *
listening_as(struct tl *t, int port, int proto)
{
	struct listener	*ls;

	ck_assert_ptr_nonnull(ls = tl_find(t, port));
	ck_assert_int_eq(ls->ls_protocol, proto);
	ck_assert_int_eq(sockopt(ls->ls_fd, SOL_SOCKET, SO_PROTOCOL), proto);
	ck_assert_int_eq(sockopt(ls->ls_fd, SOL_SOCKET, SO_ACCEPTCONN), 1);
	return ls;
}

/* A listening TCP socket's backlog, as the kernel reports it. */
static unsigned
backlog(int fd)
{
	struct tcp_info	ti;
	socklen_t	len = sizeof(ti);

	ck_assert_int_eq(getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len), 0);
	ck_assert_int_eq(ti.tcpi_state, TCP_LISTEN);
	return ti.tcpi_sacked;	/* the listen queue's limit, for TCP_LISTEN */
}

struct want_accepted {
	struct tl	*t;
	int		 n;
};

static bool
has_accepted(void *arg)
{
	struct want_accepted	*w = arg;

	return w->t->naccepted >= w->n;
}

static void
wait_accepted(struct tl *t, int n)
{
	struct want_accepted	w = { t, n };

	testutil_loop_until(t->base, has_accepted, &w, DEADLINE_MS,
	    "clients accepted");
	ck_assert_int_eq(t->naccepted, n);
}

/* A client of port (the caller closes it); refused: -1. */
static int
client(int proto, int port)
{
	return testutil_try_connect_lo(proto, port);
}

/* A client of port is accepted and handed over. */
static void
serves(struct tl *t, int proto, int port)
{
	int	c, n = t->naccepted;

	ck_assert_int_ge(c = client(proto, port), 0);
	wait_accepted(t, n + 1);
	close(c);
}

/* A session accepted by the set ended: count it out, let it resume. */
static void
session_ended(struct tl *t, int i)
{
	budget_session_release(&t->budget);
	relay_session_out(t->relays.rs_relays[0]);
	close(t->accepted[i]);
	t->accepted[i] = -1;
	listener_set_resume(&t->lss);
}

START_TEST(test_bind_with_options)
{
	struct tl		 t;
	struct listener		*ls;
	int			 c, port;

	tl_init(&t, 0);
	ck_assert_int_eq(tl_apply(&t,
	    "[t]\nlisten = 127.0.0.1:7001\nprotocol = tcp\nbacklog = 17\n"
	    "rcvbuf = 65536\nsndbuf = 32768\nnodelay = yes\nkeepalive = yes\n"
	    "upstream = 127.0.0.1:9\n"
	    "[m]\nlisten = 127.0.0.1:7002\nprotocol = mptcp\nbacklog = 19\n"
	    "rcvbuf = 65536\nkeepalive = no\nupstream = 127.0.0.1:9\n"
	    "[v6]\nlisten = [::]:7003\nlisten = *:7004\n"
	    "upstream = 127.0.0.1:9\n"), 0);
	ck_assert_int_eq(t.lss.lss_count, 4);

	ls = listening_as(&t, 7001, IPPROTO_TCP);
	ck_assert_int_eq(sockopt(ls->ls_fd, SOL_SOCKET, SO_RCVBUF), 2 * 65536);
	ck_assert_int_eq(sockopt(ls->ls_fd, SOL_SOCKET, SO_SNDBUF), 2 * 32768);
	ck_assert_int_eq(sockopt(ls->ls_fd, SOL_SOCKET, SO_KEEPALIVE), 1);
	ck_assert_int_eq(sockopt(ls->ls_fd, IPPROTO_TCP, TCP_NODELAY), 1);
	ck_assert_uint_eq(backlog(ls->ls_fd), 17);
	ck_assert(fcntl(ls->ls_fd, F_GETFL) & O_NONBLOCK);
	ck_assert(fcntl(ls->ls_fd, F_GETFD) & FD_CLOEXEC);
	ck_assert(listener_fd_matches(ls->ls_fd, &ls->ls_addr));

	ls = listening_as(&t, 7002, IPPROTO_MPTCP);
	ck_assert_int_eq(sockopt(ls->ls_fd, SOL_SOCKET, SO_RCVBUF), 2 * 65536);
	ck_assert_int_eq(sockopt(ls->ls_fd, SOL_SOCKET, SO_KEEPALIVE), 0);

	/* [::] alone, * for both families: IPV6_V6ONLY on and off. */
	TAILQ_FOREACH(ls, &t.lss.lss_list, ls_entry) {
		if (ls->ls_addr.ca_ss.ss_family != AF_INET6)
			continue;
		port = ntohs(((struct sockaddr_in6 *)
		    &ls->ls_addr.ca_ss)->sin6_port);
		ck_assert_int_eq(sockopt(ls->ls_fd, IPPROTO_IPV6, IPV6_V6ONLY),
		    port == 7003);
		ck_assert(listener_fd_matches(ls->ls_fd, &ls->ls_addr));
	}
	/* The IPv4 client reaches * but not [::]. */
	ck_assert_int_eq(client(IPPROTO_TCP, 7003), -1);
	serves(&t, IPPROTO_TCP, 7004);
	/* An MPTCP client of the MPTCP listener, counted in. */
	ck_assert_int_ge(c = client(IPPROTO_MPTCP, 7002), 0);
	wait_accepted(&t, 2);
	ck_assert_uint_eq(budget_sessions(&t.budget), 2);
	ck_assert_uint_eq(t.relays.rs_relays[1]->rl_sessions, 1);
	ck_assert_uint_eq(t.relays.rs_relays[2]->rl_sessions, 1);
	close(c);
	tl_free(&t);
}
END_TEST

/*
 * A reload keeps the socket of an unchanged address and protocol (the
 * same socket, no client refused), with its new backlog and buffer size;
 * opens the new address; closes the one gone after accepting its queue.
 */
START_TEST(test_reload_keeps_unchanged_sockets)
{
	struct tl	 t;
	struct listener	*kept;
	ino_t		 ino;
	char		*text;
	int		 fd, queued;

	tl_init(&t, 0);
	ck_assert_int_eq(tl_apply(&t, "[a]\nlisten = 127.0.0.1:7001\n"
	    "listen = 127.0.0.1:7002\nprotocol = tcp\nbacklog = 10\n"
	    "upstream = 127.0.0.1:9\n"), 0);
	ck_assert_ptr_nonnull(kept = tl_find(&t, 7001));
	fd = kept->ls_fd;
	ino = inode(fd);
	ck_assert_uint_eq(backlog(fd), 10);
	/* Queued on the address that goes: not yet accepted. */
	ck_assert_int_ge(queued = client(IPPROTO_TCP, 7002), 0);
	free(tl_log(&t));

	ck_assert_int_eq(tl_apply(&t, "[a]\nlisten = 127.0.0.1:7001\n"
	    "listen = 127.0.0.1:7003\nprotocol = tcp\nbacklog = 33\n"
	    "rcvbuf = 32768\nupstream = 127.0.0.1:9\n"), 0);
	ck_assert_int_eq(t.lss.lss_count, 2);
	ck_assert_ptr_eq(tl_find(&t, 7001), kept);
	ck_assert_int_eq(kept->ls_fd, fd);
	ck_assert_uint_eq(inode(fd), ino);
	ck_assert_uint_eq(backlog(fd), 33);
	ck_assert_int_eq(sockopt(fd, SOL_SOCKET, SO_RCVBUF), 2 * 32768);
	ck_assert_ptr_eq(kept->ls_relay, t.relays.rs_relays[0]);
	ck_assert_ptr_eq(kept->ls_relay->rl_conf,
	    TAILQ_FIRST(&t.cf->cf_listeners));
	ck_assert_ptr_nonnull(tl_find(&t, 7003));
	ck_assert_ptr_null(tl_find(&t, 7002));
	/* The queued client was taken before its socket closed. */
	ck_assert_int_eq(t.naccepted, 1);
	ck_assert_int_eq(client(IPPROTO_TCP, 7002), -1);
	text = tl_log(&t);
	ck_assert_int_eq(testutil_count(text, "a: 127.0.0.1:7002: 1 queued "
	    "client taken before closing"), 1);
	ck_assert_int_eq(testutil_count(text, "listening sockets: 1 kept, "
	    "1 opened, 1 closed"), 1);
	free(text);
	close(queued);
	tl_free(&t);
}
END_TEST

/* Same address, other protocol: replaced in place, its queue taken. */
START_TEST(test_reload_replaces_changed_protocol)
{
	struct tl	 t;
	struct listener	*ls;
	ino_t		 ino;
	int		 queued;

	tl_init(&t, 0);
	ck_assert_int_eq(tl_apply(&t, "[a]\nlisten = 127.0.0.1:7001\n"
	    "protocol = tcp\nupstream = 127.0.0.1:9\n"), 0);
	ino = inode(tl_find(&t, 7001)->ls_fd);
	ck_assert_int_ge(queued = client(IPPROTO_TCP, 7001), 0);
	ck_assert_int_eq(tl_apply(&t, "[a]\nlisten = 127.0.0.1:7001\n"
	    "protocol = mptcp\nupstream = 127.0.0.1:9\n"), 0);
	ls = listening_as(&t, 7001, IPPROTO_MPTCP);
	ck_assert_uint_ne(inode(ls->ls_fd), ino);
	ck_assert_int_eq(t.naccepted, 1);	/* the queued one */
	serves(&t, IPPROTO_MPTCP, 7001);
	close(queued);
	tl_free(&t);
}
END_TEST

/* A new address already taken: the reload is refused, nothing changed. */
START_TEST(test_reload_bind_failure_changes_nothing)
{
	struct tl	 t;
	struct listener	*ls;
	ino_t		 ino;
	char		*text;
	int		 busy, port = 7005;

	tl_init(&t, 0);
	busy = testutil_listen_lo(IPPROTO_TCP, &port);
	ck_assert_int_eq(tl_apply(&t, "[a]\nlisten = 127.0.0.1:7001\n"
	    "listen = 127.0.0.1:7002\nupstream = 127.0.0.1:9\n"), 0);
	ls = tl_find(&t, 7001);
	ino = inode(ls->ls_fd);
	free(tl_log(&t));
	ck_assert_int_eq(tl_apply(&t, "[a]\nlisten = 127.0.0.1:7001\n"
	    "listen = 127.0.0.1:7003\nupstream = 127.0.0.1:9\n"
	    "[b]\nlisten = 127.0.0.1:7005\nupstream = 127.0.0.1:9\n"), -1);
	text = tl_log(&t);
	ck_assert_int_eq(testutil_count(text, "b: cannot listen on "
	    "127.0.0.1:7005 (mptcp): bind: Address already in use"), 1);
	ck_assert_int_eq(testutil_count(text, "listening sockets"), 0);
	free(text);
	/* As it was: 7001 the same socket, 7002 still open, no 7003. */
	ck_assert_int_eq(t.lss.lss_count, 2);
	ck_assert_ptr_eq(tl_find(&t, 7001), ls);
	ck_assert_uint_eq(inode(ls->ls_fd), ino);
	ck_assert_ptr_nonnull(tl_find(&t, 7002));
	ck_assert_ptr_null(tl_find(&t, 7003));
	ck_assert_int_eq(client(IPPROTO_TCP, 7003), -1);
	ck_assert_int_eq(t.relays.rs_n, 1);
	/* And it serves as before. */
	serves(&t, IPPROTO_TCP, 7002);
	close(busy);
	tl_free(&t);
}
END_TEST

/*
 * A replacement that cannot bind (MPTCP turned off meanwhile, no
 * fallback): the old socket is bound again and the change refused.
 */
START_TEST(test_reload_replace_failure_rebinds_old)
{
	struct tl	 t;

	tl_init(&t, 0);
	ck_assert_int_eq(tl_apply(&t, "[a]\nlisten = 127.0.0.1:7001\n"
	    "protocol = tcp\nupstream = 127.0.0.1:9\n"), 0);
	testutil_sysctl_write("net/mptcp/enabled", "0");
	free(tl_log(&t));
	ck_assert_int_eq(tl_apply(&t, "[a]\nlisten = 127.0.0.1:7001\n"
	    "protocol = mptcp\nmptcp_fallback = no\n"
	    "upstream = 127.0.0.1:9\n"), -1);
	ck_assert_int_eq(tl_logged(&t, "a: cannot listen on 127.0.0.1:7001 "
	    "with MPTCP"), 1);
	ck_assert_int_eq(t.lss.lss_count, 1);
	listening_as(&t, 7001, IPPROTO_TCP);
	serves(&t, IPPROTO_TCP, 7001);
	tl_free(&t);
}
END_TEST

/*
 * Apply sections sections of 16 addresses each, from port 10000 on, in
 * reverse order or not.
 */
static void
apply_many(struct tl *t, int sections, bool reverse)
{
	char	*text, *p;
	int	 s, k, i;

	ck_assert_ptr_nonnull(text = malloc((size_t)sections * 16 * 32 + 64));
	for (p = text, *p = '\0', i = 0; i < sections; i++) {
		s = reverse ? sections - 1 - i : i;
		p += sprintf(p, "[s%d]\nupstream = 127.0.0.1:9\n", s);
		for (k = 0; k < 16; k++)
			p += sprintf(p, "listen = 127.0.0.1:%d\n",
			    10000 + s * 16 + k);
	}
	ck_assert_int_eq(tl_apply(t, text), 0);
	free(text);
}

/* 160 listeners: a reload keeps each by its address, in any order. */
START_TEST(test_many_listeners_kept)
{
	struct tl	 t;
	struct listener	*ls;
	int		 fds[160], i;

	tl_init(&t, 0);
	apply_many(&t, 10, false);
	ck_assert_int_eq(t.lss.lss_count, 160);
	for (i = 0; i < 160; i++) {
		ck_assert_ptr_nonnull(ls = tl_find(&t, 10000 + i));
		fds[i] = ls->ls_fd;
	}
	free(tl_log(&t));
	/* The same addresses, sections in reverse, and 80 more after. */
	apply_many(&t, 15, true);
	ck_assert_int_eq(tl_logged(&t, "listening sockets: 160 kept, "
	    "80 opened, 0 closed"), 1);
	ck_assert_int_eq(t.lss.lss_count, 240);
	for (i = 0; i < 160; i++)
		ck_assert_int_eq(tl_find(&t, 10000 + i)->ls_fd, fds[i]);
	/* Half of them gone. */
	apply_many(&t, 5, false);
	ck_assert_int_eq(tl_logged(&t, "listening sockets: 80 kept, "
	    "0 opened, 160 closed"), 1);
	ck_assert_int_eq(t.lss.lss_count, 80);
	ck_assert_int_eq(tl_find(&t, 10079)->ls_fd, fds[79]);
	ck_assert_ptr_null(tl_find(&t, 10080));
	serves(&t, IPPROTO_TCP, 10079);
	ck_assert_int_eq(client(IPPROTO_TCP, 10080), -1);
	tl_free(&t);
}
END_TEST

static bool
listener_waits(void *arg)
{
	struct listener	*ls = arg;

	return ls->ls_waiting;
}

/*
 * _i 0: [global] max_connections = 1 (the budget), 1: the section's
 * max_connections = 1. The second client waits in the listen queue until
 * the first session ends; the limit is said once.
 */
START_TEST(test_admission_waits_for_room)
{
	struct tl	 t;
	struct listener	*ls;
	int		 c1, c2;

	tl_init(&t, _i == 0 ? 1 : 0);
	ck_assert_int_eq(tl_apply(&t, _i == 0 ?
	    "[a]\nlisten = 127.0.0.1:7001\nupstream = 127.0.0.1:9\n" :
	    "[a]\nlisten = 127.0.0.1:7001\nupstream = 127.0.0.1:9\n"
	    "max_connections = 1\n"), 0);
	ls = tl_find(&t, 7001);
	ck_assert_int_ge(c1 = client(IPPROTO_TCP, 7001), 0);
	wait_accepted(&t, 1);
	ck_assert_int_ge(c2 = client(IPPROTO_TCP, 7001), 0);
	testutil_loop_until(t.base, listener_waits, ls, DEADLINE_MS,
	    "listener waiting");
	ck_assert_int_eq(t.naccepted, 1);
	ck_assert_uint_eq(budget_sessions(&t.budget), 1);
	ck_assert_uint_eq(t.relays.rs_relays[0]->rl_sessions, 1);
	ck_assert_int_eq(tl_logged(&t, _i == 0 ?
	    "max_connections (1) of [global] reached" :
	    "a: max_connections (1) reached"), 1);
	session_ended(&t, 0);
	wait_accepted(&t, 2);
	ck_assert_uint_eq(budget_sessions(&t.budget), 1);
	close(c1);
	close(c2);
	tl_free(&t);
}
END_TEST

/* A stop: every socket closed, clients refused. */
START_TEST(test_close_refuses_clients)
{
	struct tl	t;

	tl_init(&t, 0);
	ck_assert_int_eq(tl_apply(&t, "[a]\nlisten = 127.0.0.1:7001\n"
	    "listen = 127.0.0.1:7002\nupstream = 127.0.0.1:9\n"), 0);
	listener_set_close(&t.lss);
	ck_assert_int_eq(t.lss.lss_count, 0);
	ck_assert(TAILQ_EMPTY(&t.lss.lss_list));
	ck_assert_int_eq(client(IPPROTO_TCP, 7001), -1);
	ck_assert_int_eq(client(IPPROTO_TCP, 7002), -1);
	/* Resuming a stopped set starts nothing. */
	listener_set_resume(&t.lss);
	tl_free(&t);
}
END_TEST

/* Address, port and dual-stack must all match a socket. */
START_TEST(test_fd_matches)
{
	struct tl		 t;
	struct listener		*v6 = NULL, *dual = NULL, *ls;
	struct config_addr	 other;

	tl_init(&t, 0);
	ck_assert_int_eq(tl_apply(&t, "[a]\nlisten = [::]:7003\n"
	    "listen = *:7004\nlisten = 127.0.0.1:7001\n"
	    "upstream = 127.0.0.1:9\n"), 0);
	TAILQ_FOREACH(ls, &t.lss.lss_list, ls_entry) {
		if (ls->ls_addr.ca_dualstack)
			dual = ls;
		else if (ls->ls_addr.ca_ss.ss_family == AF_INET6)
			v6 = ls;
	}
	ck_assert_ptr_nonnull(v6);
	ck_assert_ptr_nonnull(dual);
	ck_assert(listener_fd_matches(v6->ls_fd, &v6->ls_addr));
	other = v6->ls_addr;
	other.ca_dualstack = true;
	ck_assert(!listener_fd_matches(v6->ls_fd, &other));
	other = dual->ls_addr;
	other.ca_dualstack = false;
	ck_assert(!listener_fd_matches(dual->ls_fd, &other));
	/* Another port, another family. */
	ck_assert(!listener_fd_matches(v6->ls_fd, &dual->ls_addr));
	ck_assert(!listener_fd_matches(tl_find(&t, 7001)->ls_fd,
	    &v6->ls_addr));
	tl_free(&t);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("listener");
	TCase	*tk = tcase_create("kernel");

	log_init(LOG_LVL_INFO);
	/* Every test here needs the kernel: left out, none runs (SKIP). */
	if (testutil_kernel_tests("check_listener", 0)) {
		tcase_set_timeout(tk, 60);
		tcase_add_test(tk, test_bind_with_options);
		tcase_add_test(tk, test_reload_keeps_unchanged_sockets);
		tcase_add_test(tk, test_reload_replaces_changed_protocol);
		tcase_add_test(tk, test_reload_bind_failure_changes_nothing);
		tcase_add_test(tk, test_reload_replace_failure_rebinds_old);
		tcase_add_test(tk, test_many_listeners_kept);
		tcase_add_loop_test(tk, test_admission_waits_for_room, 0, 2);
		tcase_add_test(tk, test_close_refuses_clients);
		tcase_add_test(tk, test_fd_matches);
		suite_add_tcase(s, tk);
	}
	return testutil_run(srunner_create(s));
}
