/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

/*
 * The metrics endpoint (stats.c) as a scraper meets it, through an HTTP
 * client written here on plain sockets, in a network namespace of the
 * test's own: what GET and HEAD of /metrics and / answer, 404 and 405,
 * bodies and oversized headers refused, at most STATS_CONNS_MAX
 * connections served at once, a silent one closed after STATS_TIMEOUT_S,
 * and the endpoint moved by a reload, committed or aborted. And the
 * blackhole watch's arithmetic.
 */

#include "autoconf.h"

#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <check.h>
#include <event2/event.h>

#include "clock.h"
#include "config.h"
#include "log.h"
#include "metrics.h"
#include "relay.h"
#include "stats.h"
#include "testutil.h"

#define DEADLINE_MS	30000
#define RESPONSE_MAX	(256 * 1024)

/* The watch warns once per rise, never at the first read. */
START_TEST(test_blackhole_rise)
{
	uint64_t	last = 0;
	bool		known = false;

	ck_assert(!stats_blackhole_rose(&last, &known, 4));	/* baseline */
	ck_assert(!stats_blackhole_rose(&last, &known, 4));
	ck_assert(stats_blackhole_rose(&last, &known, 5));
	ck_assert(!stats_blackhole_rose(&last, &known, 5));	/* once */
	ck_assert(stats_blackhole_rose(&last, &known, 7));
	/* A namespace's counters never fall; if they did, no warning. */
	ck_assert(!stats_blackhole_rose(&last, &known, 0));
	ck_assert_uint_eq(last, 0);
}
END_TEST

/* --- the endpoint ----------------------------------------------------------- */

/* The daemon's side: its loop, its relays and the endpoint. */
struct ep {
	struct event_base	*base;
	struct relay_set	 rs;
	struct config		*cf;
	struct stats		 st;
};

/* One HTTP exchange, read as the loop runs. */
struct http {
	struct ep	*ep;
	int		 fd;
	char		*buf;
	size_t		 len;
	bool		 eof;
	int		 status;
	char		*body;		/* in buf, after the headers */
};

static struct config *
ep_config(int port)
{
	char	text[256];

	snprintf(text, sizeof(text), "[global]\nstats_listen = 127.0.0.1:%d\n"
	    "[web]\nlisten = 127.0.0.1:1\nupstream = 127.0.0.1:9\n", port);
	return testutil_config(text, 0);
}

/* The endpoint on 127.0.0.1:9100, as the daemon starts it. */
static void
ep_init(struct ep *e)
{
	struct relay_set	none = { NULL, 0 };

	testutil_netns();
	ck_assert_ptr_nonnull(e->base = event_base_new());
	e->cf = ep_config(9100);
	ck_assert_int_eq(relay_set_prepare(&none, e->cf, 1, &e->rs), 0);
	RELAY_COUNT(relay_counters(e->rs.rs_relays[0], 0), rc_bytes_in, 1234);
	ck_assert_int_eq(stats_init(&e->st, e->base, &e->rs), 0);
	ck_assert_uint_eq(stats_fds(&e->st), 0);
	ck_assert_int_eq(stats_prepare(&e->st, e->cf), 0);
	stats_commit(&e->st);
	ck_assert_uint_eq(stats_fds(&e->st), STATS_CONNS_MAX + 2);
}

static void
ep_free(struct ep *e)
{
	stats_clear(&e->st);
	relay_set_clear(&e->rs);
	config_unref(e->cf);
	event_base_free(e->base);
}

/* A connection to port; send req (may be NULL) at once. */
static void
http_open(struct http *h, struct ep *e, int port, const char *req)
{
	memset(h, 0, sizeof(*h));
	h->ep = e;
	h->fd = testutil_connect_lo(IPPROTO_TCP, port);
	ck_assert_ptr_nonnull(h->buf = malloc(RESPONSE_MAX + 1));
	if (req != NULL)
		ck_assert_int_eq(write(h->fd, req, strlen(req)),
		    (ssize_t)strlen(req));
	ck_assert_int_eq(fcntl(h->fd, F_SETFL, O_NONBLOCK), 0);
}

static void
http_close(struct http *h)
{
	close(h->fd);
	free(h->buf);
}

/* Read what came; true at the end of the response (the server closes). */
static bool
http_read(void *arg)
{
	struct http	*h = arg;
	ssize_t		 n;

	while (!h->eof && h->len < RESPONSE_MAX) {
		n = read(h->fd, h->buf + h->len, RESPONSE_MAX - h->len);
		if (n > 0)
			h->len += (size_t)n;
		else if (n == 0 || errno == ECONNRESET)
			h->eof = true;
		else {
			ck_assert_int_eq(errno, EAGAIN);
			break;
		}
	}
	return h->eof;
}

/* Wait for the whole response; its status and body. */
static void
http_wait(struct http *h)
{
	char	*end;

	testutil_loop_until(h->ep->base, http_read, h, DEADLINE_MS,
	    "HTTP response");
	h->buf[h->len] = '\0';
	ck_assert_msg(sscanf(h->buf, "HTTP/1.%*d %d ", &h->status) == 1,
	    "no status line: %s", h->buf);
	ck_assert_ptr_nonnull(end = strstr(h->buf, "\r\n\r\n"));
	h->body = end + 4;
}

/* The value of header name (until the next call), or "" when none. */
static const char *
http_header(struct http *h, const char *name)
{
	static char	 value[256];
	const char	*p = h->buf;
	size_t		 len = strlen(name);

	value[0] = '\0';
	while ((p = strstr(p, "\r\n")) != NULL && p + 2 < h->body) {
		p += 2;
		if (strncasecmp(p, name, len) == 0 && p[len] == ':') {
			p += len + 1;
			p += strspn(p, " ");
			snprintf(value, sizeof(value), "%.*s",
			    (int)strcspn(p, "\r"), p);
			break;
		}
	}
	return value;
}

/* One request on its own connection: its status. */
static int
http_get(struct http *h, struct ep *e, int port, const char *req)
{
	http_open(h, e, port, req);
	http_wait(h);
	return h->status;
}

#define REQ(method, path)						\
	method " " path " HTTP/1.1\r\nHost: 127.0.0.1\r\n"		\
	"Connection: close\r\n\r\n"

START_TEST(test_get_metrics)
{
	struct ep	 e;
	struct http	 h;

	ep_init(&e);
	ck_assert_int_eq(http_get(&h, &e, 9100, REQ("GET", "/metrics")), 200);
	ck_assert_str_eq(http_header(&h, "Content-Type"), METRICS_CONTENT_TYPE);
	ck_assert_ptr_nonnull(strstr(h.body,
	    "# TYPE mptcp_relayd_sessions_total counter\n"));
	/* The relays' counters, summed when scraped. */
	ck_assert_ptr_nonnull(strstr(h.body, "mptcp_relayd_bytes_total"
	    "{listener=\"web\",direction=\"in\"} 1234\n"));
	http_close(&h);
	ep_free(&e);
}
END_TEST

/* HEAD: GET's headers and length, no body. */
START_TEST(test_head_metrics)
{
	struct ep	 e;
	struct http	 h;
	size_t		 getlen;

	ep_init(&e);
	ck_assert_int_eq(http_get(&h, &e, 9100, REQ("GET", "/metrics")), 200);
	getlen = strlen(h.body);
	http_close(&h);
	ck_assert_int_eq(http_get(&h, &e, 9100, REQ("HEAD", "/metrics")), 200);
	ck_assert_str_eq(http_header(&h, "Content-Type"), METRICS_CONTENT_TYPE);
	/* The process's own figures may differ by a digit between the two. */
	ck_assert_int_le(abs(atoi(http_header(&h, "Content-Length")) -
	    (int)getlen), 16);
	ck_assert_str_eq(h.body, "");
	http_close(&h);
	ep_free(&e);
}
END_TEST

START_TEST(test_index_links_to_metrics)
{
	struct ep	 e;
	struct http	 h;

	ep_init(&e);
	ck_assert_int_eq(http_get(&h, &e, 9100, REQ("GET", "/")), 200);
	ck_assert_str_eq(http_header(&h, "Content-Type"),
	    "text/html; charset=utf-8");
	ck_assert_ptr_nonnull(strstr(h.body, "<a href=\"/metrics\">"));
	http_close(&h);
	ep_free(&e);
}
END_TEST

/* Each request of reqs, on its own connection, answered with status. */
static void
expect_status(struct ep *e, const char *const *reqs, size_t n, int status)
{
	struct http	h;
	size_t		i;

	for (i = 0; i < n; i++) {
		ck_assert_msg(http_get(&h, e, 9100, reqs[i]) == status,
		    "%s: %d", reqs[i], h.status);
		if (status == 405)
			ck_assert_str_eq(http_header(&h, "Allow"), "GET, HEAD");
		http_close(&h);
	}
}

/* Any other path: 404, whatever the method. */
START_TEST(test_other_paths_not_found)
{
	static const char *const reqs[] = {
		REQ("GET", "/metrics/"), REQ("GET", "/favicon.ico"),
		REQ("HEAD", "/x"), REQ("POST", "/nope"),
		REQ("GET", "/metricsx"),
	};
	struct ep	e;
	struct http	h;

	ep_init(&e);
	expect_status(&e, reqs, sizeof(reqs) / sizeof(reqs[0]), 404);
	/* A query string names the same path. */
	ck_assert_int_eq(http_get(&h, &e, 9100, REQ("GET", "/metrics?x=1")),
	    200);
	http_close(&h);
	ep_free(&e);
}
END_TEST

/* Other methods on / and /metrics: 405, saying which are allowed. */
START_TEST(test_other_methods_not_allowed)
{
	static const char *const reqs[] = {
		REQ("POST", "/metrics"), REQ("PUT", "/metrics"),
		REQ("DELETE", "/"), REQ("OPTIONS", "/metrics"),
		REQ("PATCH", "/"),
	};
	struct ep	e;

	ep_init(&e);
	expect_status(&e, reqs, sizeof(reqs) / sizeof(reqs[0]), 405);
	ep_free(&e);
}
END_TEST

/*
 * stats.h: "any other method on those two 405", TRACE and CONNECT too:
 * evhttp answers a method it is not told to let pass 501 itself. A
 * CONNECT names a host and port (evhttp finds no path in it), and is 405
 * whatever it names, with the length of its page: evhttp leaves that out
 * of a reply to CONNECT, and keeps the connection open (so each CONNECT
 * here waits STATS_TIMEOUT_S for the end of the response).
 */
START_TEST(test_trace_and_connect_not_allowed)
{
	static const char *const reqs[] = {
		REQ("TRACE", "/metrics"), REQ("TRACE", "/"),
		REQ("CONNECT", "127.0.0.1:9100"),
	};
	struct ep	e;
	struct http	h;

	ep_init(&e);
	expect_status(&e, reqs, sizeof(reqs) / sizeof(reqs[0]), 405);
	ck_assert_int_eq(http_get(&h, &e, 9100, REQ("CONNECT", "/metrics")),
	    405);
	ck_assert_int_eq(atoi(http_header(&h, "Content-Length")),
	    (int)strlen(h.body));
	http_close(&h);
	ep_free(&e);
}
END_TEST

/* A body, or headers beyond STATS_HEADERS_MAX: refused, not served. */
START_TEST(test_body_and_big_headers_refused)
{
	struct ep	 e;
	struct http	 h;
	char		*req;
	size_t		 n;

	ep_init(&e);
	ck_assert_int_ge(http_get(&h, &e, 9100, "GET /metrics HTTP/1.1\r\n"
	    "Host: 127.0.0.1\r\nConnection: close\r\nContent-Length: 64\r\n"
	    "\r\n0123456789012345678901234567890123456789012345678901234567890"
	    "123"), 400);
	ck_assert_ptr_null(strstr(h.body, "mptcp_relayd_"));
	http_close(&h);

	n = STATS_HEADERS_MAX + 1024;
	ck_assert_ptr_nonnull(req = malloc(n + 128));
	snprintf(req, n + 128, "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	    "X-Big: %0*d\r\nConnection: close\r\n\r\n", (int)n, 0);
	http_open(&h, &e, 9100, req);
	testutil_loop_until(e.base, http_read, &h, DEADLINE_MS, "refusal");
	h.buf[h.len] = '\0';
	ck_assert_ptr_null(strstr(h.buf, "mptcp_relayd_"));
	ck_assert_msg(h.len == 0 || strncmp(h.buf, "HTTP/1.1 4", 10) == 0,
	    "%s", h.buf);
	http_close(&h);
	free(req);
	ep_free(&e);
}
END_TEST

static bool
at_the_cap(void *arg)
{
	struct stats	*st = arg;

	return st->st_nconns == STATS_CONNS_MAX && st->st_paused;
}

/*
 * STATS_CONNS_MAX connections that say nothing: the endpoint stops
 * accepting; a scraper waits in the listen queue and is served once one
 * of them has gone.
 */
START_TEST(test_connection_cap)
{
	struct ep	e;
	struct http	idle[STATS_CONNS_MAX], h;
	int		i;

	ep_init(&e);
	for (i = 0; i < STATS_CONNS_MAX; i++)
		http_open(&idle[i], &e, 9100, NULL);
	testutil_loop_until(e.base, at_the_cap, &e.st, DEADLINE_MS,
	    "at the cap");
	http_open(&h, &e, 9100, REQ("GET", "/metrics"));
	ck_assert(e.st.st_paused);
	http_close(&idle[0]);
	http_wait(&h);
	ck_assert_int_eq(h.status, 200);
	ck_assert_int_le(e.st.st_nconns, STATS_CONNS_MAX);
	http_close(&h);
	for (i = 1; i < STATS_CONNS_MAX; i++)
		http_close(&idle[i]);
	ep_free(&e);
}
END_TEST

/* A connection that says nothing is closed after STATS_TIMEOUT_S. */
START_TEST(test_silent_connection_closed)
{
	struct ep	e;
	struct http	h;
	uint64_t	start = clock_ms();

	ep_init(&e);
	http_open(&h, &e, 9100, "GET /metrics HTTP/1.1\r\n");
	testutil_loop_until(e.base, http_read, &h, DEADLINE_MS, "closed");
	ck_assert_uint_ge(clock_ms() - start, STATS_TIMEOUT_S * 1000 - 500);
	http_close(&h);
	ep_free(&e);
}
END_TEST

/* Whether port refuses connections. */
static bool
refused(int port)
{
	int	fd = testutil_try_connect_lo(IPPROTO_TCP, port);

	if (fd != -1)
		close(fd);
	return fd == -1;
}

static void
serves(struct ep *e, int port)
{
	struct http	h;

	ck_assert_int_eq(http_get(&h, e, port, REQ("GET", "/metrics")), 200);
	http_close(&h);
}

/* A reload moves the endpoint: both bound until the commit. */
START_TEST(test_reload_moves_endpoint)
{
	struct ep	 e;
	struct config	*cf = ep_config(9101);

	ep_init(&e);
	ck_assert_int_eq(stats_prepare(&e.st, cf), 0);
	serves(&e, 9100);
	ck_assert(!refused(9101));
	stats_commit(&e.st);
	ck_assert(refused(9100));
	serves(&e, 9101);
	/* The same address again: nothing moves. */
	ck_assert_int_eq(stats_prepare(&e.st, cf), 0);
	ck_assert_ptr_null(e.st.st_next);
	stats_commit(&e.st);
	serves(&e, 9101);
	config_unref(cf);
	ep_free(&e);
}
END_TEST

/* A reload that fails elsewhere: the new socket closed, the old serves. */
START_TEST(test_reload_aborted)
{
	struct ep	 e;
	struct config	*cf = ep_config(9102);

	ep_init(&e);
	ck_assert_int_eq(stats_prepare(&e.st, cf), 0);
	ck_assert(!refused(9102));
	stats_abort(&e.st);
	ck_assert(refused(9102));
	serves(&e, 9100);
	config_unref(cf);
	ep_free(&e);
}
END_TEST

/* The new address taken: the reload fails, nothing changed. */
START_TEST(test_reload_address_in_use)
{
	struct ep		 e;
	struct config		*cf = ep_config(9103);
	struct testutil_capture	 cap;
	char			*text;
	int			 busy, port = 9103;

	ep_init(&e);
	busy = testutil_listen_lo(IPPROTO_TCP, &port);
	testutil_capture_start(&cap);
	ck_assert_int_eq(stats_prepare(&e.st, cf), -1);
	text = testutil_capture_end(&cap);
	ck_assert_int_eq(testutil_count(text, "metrics endpoint: cannot listen "
	    "on 127.0.0.1:9103 (stats_listen): bind: Address already in use"),
	    1);
	free(text);
	stats_abort(&e.st);
	serves(&e, 9100);
	close(busy);
	config_unref(cf);
	ep_free(&e);
}
END_TEST

/*
 * _i 0: commit, 1: abort. A move to an address that covers the old one
 * (*:9100 over 127.0.0.1:9100) lets go of the old socket first; an abort
 * binds it again.
 */
START_TEST(test_reload_to_covering_address)
{
	struct ep	 e;
	struct config	*cf = testutil_config("[global]\nstats_listen = *:9100\n"
	    "[web]\nlisten = 127.0.0.1:1\nupstream = 127.0.0.1:9\n", 0);

	ep_init(&e);
	ck_assert_int_eq(stats_prepare(&e.st, cf), 0);
	ck_assert(e.st.st_swapped);
	if (_i == 0) {
		stats_commit(&e.st);
		ck_assert(e.st.st_addr.ca_dualstack);
	} else {
		stats_abort(&e.st);
		ck_assert(!e.st.st_addr.ca_dualstack);
	}
	serves(&e, 9100);
	config_unref(cf);
	ep_free(&e);
}
END_TEST

/* A reload without stats_listen closes the endpoint. */
START_TEST(test_reload_without_endpoint)
{
	struct ep	 e;
	struct config	*cf = testutil_config("[web]\nlisten = 127.0.0.1:1\n"
	    "upstream = 127.0.0.1:9\n", 0);

	ep_init(&e);
	ck_assert_int_eq(stats_prepare(&e.st, cf), 0);
	stats_commit(&e.st);
	ck_assert(refused(9100));
	ck_assert_ptr_null(e.st.st_bound);
	config_unref(cf);
	ep_free(&e);
}
END_TEST

int
main(void)
{
	Suite		*s = suite_create("stats");
	TCase		*tp = tcase_create("pure");
	TCase		*tk = tcase_create("kernel");

	log_init(LOG_LVL_WARNING);
	tcase_add_test(tp, test_blackhole_rise);
	suite_add_tcase(s, tp);
	if (testutil_kernel_tests("check_stats", 0)) {
		tcase_set_timeout(tk, 60);
		tcase_add_test(tk, test_get_metrics);
		tcase_add_test(tk, test_head_metrics);
		tcase_add_test(tk, test_index_links_to_metrics);
		tcase_add_test(tk, test_other_paths_not_found);
		tcase_add_test(tk, test_other_methods_not_allowed);
		tcase_add_test(tk, test_trace_and_connect_not_allowed);
		tcase_add_test(tk, test_body_and_big_headers_refused);
		tcase_add_test(tk, test_connection_cap);
		tcase_add_test(tk, test_silent_connection_closed);
		tcase_add_test(tk, test_reload_moves_endpoint);
		tcase_add_test(tk, test_reload_aborted);
		tcase_add_test(tk, test_reload_address_in_use);
		tcase_add_loop_test(tk, test_reload_to_covering_address, 0, 2);
		tcase_add_test(tk, test_reload_without_endpoint);
		suite_add_tcase(s, tk);
	}
	return testutil_run(srunner_create(s));
}
