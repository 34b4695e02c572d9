/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

/*
 * Live DNS (resolve.c) with a real event loop. The resolver reads
 * /etc/resolv.conf and /etc/hosts at each round (resolve.h), so each test
 * runs in a network namespace and a mount namespace of its own, with both
 * files bind-mounted from ones it writes: the name server is a tiny one
 * the test runs on 127.0.0.1:53 in the same loop, answering as the test
 * says. New answers change the address set (state kept for an address
 * that stays), a failing name keeps its addresses and says so once per
 * streak, /etc/hosts is read anew, a reload lets go of a section.
 */

#include "autoconf.h"

#include <sys/mount.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <check.h>
#include <event2/event.h>

#include "config.h"
#include "log.h"
#include "relay.h"
#include "resolve.h"
#include "sock.h"
#include "testutil.h"

#define DEADLINE_MS	20000
#define DNS_ADDRS_MAX	4

/* The name server: what it answers for the one name it knows. */
struct dns {
	int		 fd;
	struct event	*ev;
	const char	*name;		/* dotted, as asked */
	int		 rcode;		/* 0, or 2 (SERVFAIL), 3 (NXDOMAIN) */
	bool		 silent;	/* answer nothing at all */
	in_addr_t	 addrs[DNS_ADDRS_MAX];
	int		 naddrs;
	int		 queries;	/* for the name, of any type */
};

/* The question's name as "a.b.c", and where the question ends. */
static int
dns_qname(const unsigned char *q, size_t len, size_t *off, char *name,
    size_t namelen)
{
	size_t	n = 0, l;

	while (*off < len && (l = q[*off]) != 0) {
		if (l > 63 || *off + 1 + l >= len || n + l + 2 > namelen)
			return -1;
		if (n > 0)
			name[n++] = '.';
		memcpy(name + n, q + *off + 1, l);
		n += l;
		*off += 1 + l;
	}
	name[n] = '\0';
	*off += 1 + 4;		/* the root label, QTYPE and QCLASS */
	return *off <= len ? 0 : -1;
}

static void
dns_read(evutil_socket_t fd, short what, void *arg)
{
	struct dns		*d = arg;
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
	unsigned char		 q[512], r[512];
	char			 name[256];
	size_t			 off, rlen;
	ssize_t			 n;
	int			 i, qtype, an, rcode;

	(void)what;
	for (;;) {
		sslen = sizeof(ss);
		off = 12;
		an = 0;
		if ((n = recvfrom(fd, q, sizeof(q), 0, (struct sockaddr *)&ss,
		    &sslen)) < 12)
			break;		/* EAGAIN: all read */
		if (dns_qname(q, (size_t)n, &off, name, sizeof(name)) == -1)
			continue;
		qtype = q[off - 4] << 8 | q[off - 3];
		rcode = strcasecmp(name, d->name) == 0 ? d->rcode : 3;
		if (strcasecmp(name, d->name) == 0)
			d->queries++;
		if (d->silent)
			continue;
		memcpy(r, q, off);			/* id, question */
		r[2] = 0x81;				/* QR, RD */
		r[3] = (unsigned char)(0x80 | rcode);	/* RA, RCODE */
		r[6] = r[7] = r[8] = r[9] = r[10] = r[11] = 0;
		rlen = off;
		for (i = 0; rcode == 0 && qtype == 1 && i < d->naddrs; i++) {
			static const unsigned char rr[] = {
				0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4
			};

			memcpy(r + rlen, rr, sizeof(rr));
			memcpy(r + rlen + sizeof(rr), &d->addrs[i], 4);
			rlen += sizeof(rr) + 4;
			an++;
		}
		r[7] = (unsigned char)an;
		ck_assert_int_eq(sendto(fd, r, rlen, 0, (struct sockaddr *)&ss,
		    sslen), (ssize_t)rlen);
	}
}

static void
dns_answer(struct dns *d, const char *a, const char *b)
{
	d->rcode = 0;
	d->naddrs = 0;
	if (a != NULL)
		d->addrs[d->naddrs++] = inet_addr(a);
	if (b != NULL)
		d->addrs[d->naddrs++] = inet_addr(b);
}

/* A test's world: its files in /etc, its name server, its relay. */
struct world {
	char			 dir[64];
	char			 hosts[96];
	struct event_base	*base;
	struct dns		 dns;
	struct relay_set	 rs;
	struct relay		*rl;
	struct resolver		*r;
	struct testutil_capture	 cap;
};

static void
write_file(const char *path, const char *text)
{
	int	fd;

	/* In place: a bind mount follows the inode, not the name. */
	ck_assert_int_ge(fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644),
	    0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

/* Over /etc/name, in this process's own mount namespace. */
static void
mount_over(struct world *w, const char *name, const char *text)
{
	char	src[128], dst[64];

	snprintf(src, sizeof(src), "%s/%s", w->dir, name);
	snprintf(dst, sizeof(dst), "/etc/%s", name);
	write_file(src, text);
	ck_assert_msg(mount(src, dst, NULL, MS_BIND, NULL) == 0,
	    "bind-mount over %s: %s", dst, strerror(errno));
}

static void
world_init(struct world *w, const char *conf, const char *hosts)
{
	struct sockaddr_in	sin = { .sin_family = AF_INET };
	struct config		*cf;
	struct relay_set	 none = { NULL, 0 };

	memset(w, 0, sizeof(*w));
	testutil_netns();
	ck_assert_msg(unshare(CLONE_NEWNS) == 0, "a mount namespace: %s",
	    strerror(errno));
	ck_assert_int_eq(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
	snprintf(w->dir, sizeof(w->dir), "/tmp/check_resolve.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(w->dir));
	mount_over(w, "resolv.conf", "nameserver 127.0.0.1\n"
	    "options timeout:1 attempts:1\n");
	mount_over(w, "hosts", hosts);
	snprintf(w->hosts, sizeof(w->hosts), "%s/hosts", w->dir);

	ck_assert_ptr_nonnull(w->base = event_base_new());
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(53);
	ck_assert_int_ge(w->dns.fd = socket(AF_INET, SOCK_DGRAM |
	    SOCK_NONBLOCK | SOCK_CLOEXEC, 0), 0);
	ck_assert_int_eq(bind(w->dns.fd, (struct sockaddr *)&sin,
	    sizeof(sin)), 0);
	w->dns.name = "up.example.test";
	ck_assert_ptr_nonnull(w->dns.ev = event_new(w->base, w->dns.fd,
	    EV_READ | EV_PERSIST, dns_read, &w->dns));
	ck_assert_int_eq(event_add(w->dns.ev, NULL), 0);

	/* Names with no address yet: the resolver's rounds give them. */
	cf = testutil_config(conf, CONFIG_LOAD_NO_RESOLVE);
	ck_assert_int_eq(relay_set_prepare(&none, cf, 1, &w->rs), 0);
	config_unref(cf);
	w->rl = w->rs.rs_relays[0];
	testutil_capture_start(&w->cap);
	ck_assert_ptr_nonnull(w->r = resolver_new(w->base));
	resolver_apply(w->r, &w->rs);
}

static bool
relay_released(void *arg)
{
	return __atomic_load_n(&((struct relay *)arg)->rl_refcnt,
	    __ATOMIC_RELAXED) == 1;
}

/*
 * Stop resolving (a reload without the sections), wait for the rounds in
 * flight to end, free the resolver. (Freed with a round in flight: see
 * test_free_with_round_in_flight.)
 */
static void
world_free(struct world *w)
{
	struct relay_set	none = { NULL, 0 };
	char			path[128];
	int			i;

	if (w->r != NULL) {
		w->dns.silent = false;
		resolver_apply(w->r, &none);
		for (i = 0; i < w->rs.rs_n; i++)
			testutil_loop_until(w->base, relay_released,
			    w->rs.rs_relays[i], DEADLINE_MS, "relay released");
		resolver_free(w->r);
	}
	free(testutil_capture_end(&w->cap));
	relay_set_clear(&w->rs);
	event_free(w->dns.ev);
	close(w->dns.fd);
	event_base_free(w->base);
	umount("/etc/hosts");
	umount("/etc/resolv.conf");
	snprintf(path, sizeof(path), "%s/resolv.conf", w->dir);
	unlink(path);
	unlink(w->hosts);
	rmdir(w->dir);
}

/* The relay's addresses now, in the set's order: "a:p b:p". */
static void
set_text(struct relay *rl, char *buf, size_t len)
{
	struct relay_upset	*us = relay_upset_get(rl);
	char			 a[SOCK_NTOP_MAX];
	size_t			 n = 0;
	int			 i;

	buf[0] = '\0';
	for (i = 0; i < us->us_n && n < len; i++)
		n += (size_t)snprintf(buf + n, len - n, "%s%s", i > 0 ? " " : "",
		    sock_ntop((struct sockaddr *)&us->us_addrs[i].ru_addr.ca_ss,
		    a, sizeof(a)));
	relay_upset_put(us);
}

struct want_set {
	struct world	*w;
	const char	*text;
};

static bool
set_is(void *arg)
{
	struct want_set	*ws = arg;
	char		 buf[256];

	set_text(ws->w->rl, buf, sizeof(buf));
	return strcmp(buf, ws->text) == 0;
}

static void
wait_set(struct world *w, const char *text)
{
	struct want_set	ws = { w, text };

	testutil_loop_until(w->base, set_is, &ws, DEADLINE_MS, text);
}

struct want_queries {
	struct world	*w;
	int		 n;
};

static bool
queries_seen(void *arg)
{
	struct want_queries	*wq = arg;

	return wq->w->dns.queries >= wq->n;
}

/* Let the resolver ask n more times (rounds go on meanwhile). */
static void
wait_queries(struct world *w, int n)
{
	struct want_queries	wq = { w, w->dns.queries + n };

	testutil_loop_until(w->base, queries_seen, &wq, DEADLINE_MS,
	    "DNS queries");
}

/* What was logged so far, how often needle. */
static int
logged(struct world *w, const char *needle)
{
	char	*text = testutil_capture_text(&w->cap);
	int	 n = testutil_count(text, needle);

	free(text);
	return n;
}

static const char conf_named[] =
    "[r]\nlisten = 127.0.0.1:1\nupstream = up.example.test:80\n"
    "upstream = 127.0.0.9:81\nresolve_interval = 100ms\n";

static const char hosts_plain[] = "127.0.0.1 localhost\n";

START_TEST(test_answers_change_the_set)
{
	struct world		 w;
	struct relay_upstate	*st9, *st2;
	struct relay_upset	*us;

	world_init(&w, conf_named, hosts_plain);
	us = relay_upset_get(w.rl);
	ck_assert_int_eq(us->us_n, 1);
	st9 = us->us_addrs[0].ru_st;
	relay_upset_put(us);

	dns_answer(&w.dns, "127.0.0.1", "127.0.0.2");
	wait_set(&w, "127.0.0.1:80 127.0.0.2:80 127.0.0.9:81");
	us = relay_upset_get(w.rl);
	st2 = us->us_addrs[1].ru_st;
	ck_assert_ptr_eq(us->us_addrs[2].ru_st, st9);
	relay_upset_put(us);

	dns_answer(&w.dns, "127.0.0.3", "127.0.0.2");
	wait_set(&w, "127.0.0.3:80 127.0.0.2:80 127.0.0.9:81");
	us = relay_upset_get(w.rl);
	ck_assert_ptr_eq(us->us_addrs[1].ru_st, st2);
	ck_assert_ptr_eq(us->us_addrs[2].ru_st, st9);
	relay_upset_put(us);
	ck_assert_int_eq(logged(&w, "r: upstream up.example.test:80 now also "
	    "resolves to 127.0.0.3:80"), 1);
	ck_assert_int_eq(logged(&w, "r: upstream up.example.test:80 no longer "
	    "resolves to 127.0.0.1:80 (its sessions go on)"), 1);
	/* The same answer round after round: nothing more said. */
	wait_queries(&w, 6);
	ck_assert_int_eq(logged(&w, "resolves to"), 4);
	world_free(&w);
}
END_TEST

/*
 * _i 0: NXDOMAIN, 1: SERVFAIL, 2: no answer at all. The name keeps its
 * addresses, said once however many rounds fail; said again when it
 * resolves again.
 */
START_TEST(test_failure_keeps_the_old_set)
{
	struct world	w;

	world_init(&w, conf_named, hosts_plain);
	dns_answer(&w.dns, "127.0.0.1", NULL);
	wait_set(&w, "127.0.0.1:80 127.0.0.9:81");
	if (_i == 2)
		w.dns.silent = true;
	else
		w.dns.rcode = _i == 0 ? 3 : 2;
	wait_queries(&w, 8);
	ck_assert_int_eq(logged(&w, "r: cannot resolve upstream "
	    "up.example.test:80 again: "), 1);
	ck_assert_int_eq(logged(&w, "; keeping its 1 address\n"), 1);
	wait_set(&w, "127.0.0.1:80 127.0.0.9:81");

	w.dns.silent = false;
	dns_answer(&w.dns, "127.0.0.4", NULL);
	wait_set(&w, "127.0.0.4:80 127.0.0.9:81");
	ck_assert_int_eq(logged(&w, "r: upstream up.example.test:80 resolves "
	    "again"), 1);
	ck_assert_int_eq(logged(&w, "cannot resolve"), 1);
	world_free(&w);
}
END_TEST

/* /etc/hosts answers at once, and is read again at each round. */
START_TEST(test_hosts_file_read_each_round)
{
	struct world	w;

	world_init(&w, "[r]\nlisten = 127.0.0.1:1\n"
	    "upstream = hosts.example.test:81\nresolve_interval = 100ms\n",
	    "127.0.0.1 localhost\n127.0.0.7 hosts.example.test\n");
	wait_set(&w, "127.0.0.7:81");
	write_file(w.hosts, "127.0.0.1 localhost\n"
	    "127.0.0.8 hosts.example.test\n");
	wait_set(&w, "127.0.0.8:81");
	ck_assert_int_eq(w.dns.queries, 0);
	world_free(&w);
}
END_TEST

/*
 * A reload that drops the section: the resolver lets go of its relay
 * once the round in flight is over (here a query that is never
 * answered), and takes it again with the next reload.
 */
START_TEST(test_apply_lets_go_after_the_round)
{
	struct world		w;
	struct relay_set	none = { NULL, 0 };

	world_init(&w, conf_named, hosts_plain);
	w.dns.silent = true;
	wait_queries(&w, 1);
	ck_assert_uint_gt(w.rl->rl_refcnt, 1);
	resolver_apply(w.r, &none);
	testutil_loop_until(w.base, relay_released, w.rl, DEADLINE_MS,
	    "relay released");
	w.dns.silent = false;
	dns_answer(&w.dns, "127.0.0.5", NULL);
	resolver_apply(w.r, &w.rs);
	ck_assert_uint_gt(w.rl->rl_refcnt, 1);
	wait_set(&w, "127.0.0.5:80 127.0.0.9:81");
	world_free(&w);
}
END_TEST

/*
 * resolver_free() with a query in flight (resolve.h: "cancel the queries
 * in flight"): nothing may be left, neither the query nor libevent's
 * request, whose cancellation libevent calls back from the loop, and
 * nothing called back once it returns. The leak and the use after free
 * fail only under the sanitizers (--enable-sanitizers).
 */
START_TEST(test_free_with_round_in_flight)
{
	struct world	w;

	world_init(&w, conf_named, hosts_plain);
	w.dns.silent = true;
	wait_queries(&w, 1);
	resolver_free(w.r);
	w.r = NULL;
	ck_assert(relay_released(w.rl));
	/* A loop that goes on: no callback of the resolver left in it. */
	ck_assert_int_ge(event_base_loop(w.base, EVLOOP_NONBLOCK), 0);
	world_free(&w);
}
END_TEST

/* No named upstream, or no resolve_interval: no round, no query. */
START_TEST(test_nothing_to_resolve)
{
	struct world	w;

	world_init(&w, "[r]\nlisten = 127.0.0.1:1\nupstream = 127.0.0.9:81\n"
	    "resolve_interval = 100ms\n"
	    "[s]\nlisten = 127.0.0.1:2\nupstream = up.example.test:80\n"
	    "resolve_interval = 0\n", hosts_plain);
	ck_assert_uint_eq(w.rs.rs_relays[0]->rl_refcnt, 1);
	ck_assert_uint_eq(w.rs.rs_relays[1]->rl_refcnt, 1);
	world_free(&w);
}
END_TEST

int
main(void)
{
	Suite		*s = suite_create("resolve");
	TCase		*tk = tcase_create("kernel");

	log_init(LOG_LVL_INFO);
	/* Every test here needs the kernel: left out, none runs (SKIP). */
	if (testutil_kernel_tests("check_resolve", 0)) {
		tcase_set_timeout(tk, 60);
		tcase_add_test(tk, test_answers_change_the_set);
		tcase_add_loop_test(tk, test_failure_keeps_the_old_set, 0, 3);
		tcase_add_test(tk, test_hosts_file_read_each_round);
		tcase_add_test(tk, test_apply_lets_go_after_the_round);
		tcase_add_test(tk, test_nothing_to_resolve);
		tcase_add_test(tk, test_free_with_round_in_flight);
		suite_add_tcase(s, tk);
	}
	return testutil_run(srunner_create(s));
}
