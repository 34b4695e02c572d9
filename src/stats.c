/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

#include "autoconf.h"

#include <sys/resource.h>
#include <sys/time.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#include "budget.h"
#include "clock.h"
#include "diagnose.h"
#include "log.h"
#include "metrics.h"
#include "sock.h"
#include "stats.h"

/* How often the connections served are checked for those that ended. */
#define STATS_SWEEP_MS		250

static const char stats_index[] =
    "<!DOCTYPE html>\n"
    "<html><head><meta charset=\"utf-8\"><title>mptcp-relayd</title></head>\n"
    "<body><h1>mptcp-relayd</h1>\n"
    "<p><a href=\"/metrics\">Metrics</a></p></body></html>\n";

/* --- the blackhole watch ------------------------------------------------- */

bool
stats_blackhole_rose(uint64_t *last, bool *known, uint64_t now)
{
	bool	rose = *known && now > *last;

	*last = now;
	*known = true;
	return rose;
}

/* Read the kernel's counters into st_kernel; warn if Blackhole rose. */
static const struct netstat_mptcp *
stats_read_kernel(struct stats *st)
{
	uint64_t	before = st->st_blackhole, now;
	int64_t		timeout;

	if (netstat_mptcp_read(st->st_kernel) == -1)
		return NULL;
	if (!netstat_mptcp_get(st->st_kernel, "Blackhole", &now) ||
	    !stats_blackhole_rose(&st->st_blackhole, &st->st_blackhole_known,
	    now))
		return st->st_kernel;
	timeout = diagnose_sysctl("blackhole_timeout");
	log_warnx("the kernel's MPTCP blackhole detection fired "
	    "(MPTcpExtBlackhole %" PRIu64 " -> %" PRIu64 "): MPTCP SYNs were "
	    "lost on some path, so for a while (net.mptcp.blackhole_timeout "
	    "= %" PRId64 " s, doubled on each repeat) this host makes its "
	    "outgoing MPTCP connections as plain TCP: upstream_protocol = "
	    "mptcp gives plain TCP meanwhile; see mptcp-relayd -D",
	    before, now, timeout);
	return st->st_kernel;
}

static void
stats_watch(evutil_socket_t fd, short what, void *arg)
{
	struct stats	*st = arg;
	struct timeval	 tv = clock_tv(STATS_WATCH_MS);

	(void)fd;
	(void)what;
	(void)stats_read_kernel(st);
	evtimer_add(&st->st_watch_ev, &tv);
}

/* --- the process, as client libraries export it --------------------------- */

/*
 * The fields of /proc/self/stat after the command name (which may hold
 * blanks and parentheses): fields[0] is the state, field 3 of proc(5).
 */
static int
stats_proc_stat(char *buf, size_t len, char **fields, int max)
{
	char	*p, *save;
	ssize_t	 n;
	int	 fd, i = 0;

	if ((fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	if ((p = strrchr(buf, ')')) == NULL)
		return -1;
	for (p = strtok_r(p + 1, " \n", &save); p != NULL && i < max;
	    p = strtok_r(NULL, " \n", &save))
		fields[i++] = p;
	return i;
}

/* proc(5) field numbers, as indexes of stats_proc_stat()'s fields. */
#define STAT_STARTTIME	(22 - 3)
#define STAT_VSIZE	(23 - 3)
#define STAT_RSS	(24 - 3)

/* When the process started, in seconds since the epoch; 0: unknown. */
static double
stats_start_time(void)
{
	char		 buf[1024], line[256], *fields[32];
	unsigned long long btime = 0;
	FILE		*fp;
	long		 hz = sysconf(_SC_CLK_TCK);

	if (stats_proc_stat(buf, sizeof(buf), fields, 32) <= STAT_STARTTIME ||
	    hz <= 0 || (fp = fopen("/proc/stat", "re")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), fp) != NULL)
		if (sscanf(line, "btime %llu", &btime) == 1)
			break;
	fclose(fp);
	if (btime == 0)
		return 0;
	return (double)btime + (double)strtoull(fields[STAT_STARTTIME], NULL,
	    10) / (double)hz;
}

static void
stats_process(const struct stats *st, struct metrics_process *p)
{
	struct rusage	 ru;
	struct rlimit	 rl;
	char		 buf[1024], *fields[32];
	long		 page = sysconf(_SC_PAGESIZE);

	memset(p, 0, sizeof(*p));
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		p->mp_cpu_seconds = (double)ru.ru_utime.tv_sec +
		    (double)ru.ru_stime.tv_sec + ((double)ru.ru_utime.tv_usec +
		    (double)ru.ru_stime.tv_usec) / 1e6;
	if (stats_proc_stat(buf, sizeof(buf), fields, 32) > STAT_RSS) {
		p->mp_virtual_bytes = strtoull(fields[STAT_VSIZE], NULL, 10);
		p->mp_resident_bytes = strtoull(fields[STAT_RSS], NULL, 10) *
		    (uint64_t)(page > 0 ? page : 4096);
	}
	/* 0 when /proc/self/fd is unreadable (after user=): left out. */
	p->mp_open_fds = budget_count_open();
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		p->mp_max_fds = rl.rlim_cur;
	p->mp_start_time = st->st_start_time;
}

/* --- answering ------------------------------------------------------------ */

static void
stats_reply(struct evhttp_request *req, const char *type, struct evbuffer *body)
{
	struct evkeyvalq	*h = evhttp_request_get_output_headers(req);
	char			 len[24];

	evhttp_add_header(h, "Content-Type", type);
	/*
	 * HEAD: what GET would send, but the body. evhttp 2.1 would send a
	 * body given for HEAD, and leaves out the Content-Length of one.
	 */
	if (evhttp_request_get_command(req) == EVHTTP_REQ_HEAD) {
		snprintf(len, sizeof(len), "%zu", evbuffer_get_length(body));
		evhttp_add_header(h, "Content-Length", len);
		body = NULL;
	}
	evhttp_send_reply(req, HTTP_OK, "OK", body);
}

static void
stats_free_text(const void *data, size_t len, void *arg)
{
	(void)len;
	(void)arg;
	free((void *)(uintptr_t)data);
}

static void
stats_metrics(struct stats *st, struct evhttp_request *req)
{
	struct metrics_buf	 mb;
	struct metrics_process	 proc;
	struct metrics_input	 in = {
		.mi_relays = st->st_relays,
		.mi_now = clock_ms(),
		.mi_mptcp_ready = st->st_mptcp_ready,
		.mi_process = &proc,
	};
	struct evbuffer		*body;

	in.mi_kernel = stats_read_kernel(st);
	stats_process(st, &proc);
	metrics_buf_init(&mb);
	metrics_render(&mb, &in);
	if (mb.mb_error != 0 || (body = evbuffer_new()) == NULL) {
		log_warnx("metrics endpoint: cannot render the metrics: %s",
		    strerror(mb.mb_error != 0 ? mb.mb_error : ENOMEM));
		metrics_buf_free(&mb);
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	/* The text goes out as it is, and is freed once sent. */
	if (evbuffer_add_reference(body, mb.mb_data, mb.mb_len,
	    stats_free_text, NULL) == -1)
		metrics_buf_free(&mb);
	stats_reply(req, METRICS_CONTENT_TYPE, body);
	evbuffer_free(body);
}

/*
 * 405 with its Allow header (evhttp_send_error() drops every header), and
 * its Content-Length: evhttp 2.1 leaves that out of any reply to CONNECT
 * (a tunnel would follow) and keeps that connection open, so a client
 * would read the page until STATS_TIMEOUT_S.
 */
static void
stats_not_allowed(struct evhttp_request *req)
{
	static const char	 page[] = "<!DOCTYPE html>\n<html><head>"
	    "<title>405 Method Not Allowed</title></head>\n<body><h1>Method "
	    "Not Allowed</h1></body></html>\n";
	struct evkeyvalq	*h = evhttp_request_get_output_headers(req);
	struct evbuffer		*body;
	char			 len[24];

	if ((body = evbuffer_new()) == NULL) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	evbuffer_add_reference(body, page, sizeof(page) - 1, NULL, NULL);
	evhttp_add_header(h, "Allow", "GET, HEAD");
	evhttp_add_header(h, "Content-Type", "text/html; charset=utf-8");
	snprintf(len, sizeof(len), "%zu", sizeof(page) - 1);
	evhttp_add_header(h, "Content-Length", len);
	evhttp_send_reply(req, 405, "Method Not Allowed", body);
	evbuffer_free(body);
}

static void
stats_request(struct evhttp_request *req, void *arg)
{
	struct stats		*st = arg;
	const struct evhttp_uri	*uri = evhttp_request_get_evhttp_uri(req);
	const char		*path = uri != NULL ?
				    evhttp_uri_get_path(uri) : NULL;
	enum evhttp_cmd_type	 cmd = evhttp_request_get_command(req);
	struct evbuffer		*body;

	if (log_enabled(LOG_LVL_DEBUG))
		log_debug("metrics endpoint: %s %s",
		    cmd == EVHTTP_REQ_GET ? "GET" : cmd == EVHTTP_REQ_HEAD ?
		    "HEAD" : "other", evhttp_request_get_uri(req));
	/*
	 * CONNECT names a host and port, never a path (evhttp parses its
	 * target as an authority): not a method of this endpoint at all.
	 */
	if (cmd == EVHTTP_REQ_CONNECT) {
		stats_not_allowed(req);
		return;
	}
	if (path == NULL ||
	    (strcmp(path, "/metrics") != 0 && strcmp(path, "/") != 0)) {
		evhttp_send_error(req, HTTP_NOTFOUND, NULL);
		return;
	}
	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		stats_not_allowed(req);
		return;
	}
	if (strcmp(path, "/metrics") == 0) {
		stats_metrics(st, req);
		return;
	}
	if ((body = evbuffer_new()) == NULL) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	evbuffer_add_reference(body, stats_index, sizeof(stats_index) - 1,
	    NULL, NULL);
	stats_reply(req, "text/html; charset=utf-8", body);
	evbuffer_free(body);
}

/* --- the cap on connections ------------------------------------------------ */

/*
 * libevent 2.1's evhttp has no cap on connections and tells nobody when
 * one closes. So the endpoint makes each connection's bufferevent itself
 * (evhttp_set_bevcb) and keeps a reference on it: when evhttp is done
 * with a connection it frees the bufferevent, which clears its callbacks
 * (bufferevent_free), while evhttp always keeps its event callback on one
 * it still uses; the reference keeps the memory there to look at. The
 * bufferevent closes the socket when it is really freed (at the sweep's
 * bufferevent_decref), after its events are gone: were evhttp to close
 * it earlier, a new socket could get the number while the old events
 * still name it. At the cap, the listening sockets stop accepting until
 * a sweep finds room.
 */
static void	stats_sweep(evutil_socket_t, short, void *);

static void
stats_listening(struct stats *st, bool on)
{
	struct evhttp_bound_socket	*b[2] = { st->st_bound, st->st_next };
	int				 i;

	for (i = 0; i < 2; i++) {
		if (b[i] == NULL)
			continue;
		if (on)
			evconnlistener_enable(
			    evhttp_bound_socket_get_listener(b[i]));
		else
			evconnlistener_disable(
			    evhttp_bound_socket_get_listener(b[i]));
	}
	st->st_paused = !on;
}

static void
stats_sweep_later(struct stats *st)
{
	struct timeval	tv = clock_tv(STATS_SWEEP_MS);

	if (!st->st_sweep_on && evtimer_add(&st->st_sweep_ev, &tv) == 0)
		st->st_sweep_on = true;
}

/* Let go of the connections evhttp has finished with. */
static void
stats_sweep(evutil_socket_t fd, short what, void *arg)
{
	struct stats		*st = arg;
	bufferevent_event_cb	 eventcb;
	int			 i = 0;

	(void)fd;
	(void)what;
	st->st_sweep_on = false;
	while (i < st->st_nconns) {
		bufferevent_getcb(st->st_conns[i], NULL, NULL, &eventcb, NULL);
		if (eventcb != NULL) {
			i++;
			continue;
		}
		bufferevent_decref(st->st_conns[i]);
		st->st_conns[i] = st->st_conns[--st->st_nconns];
	}
	if (st->st_paused && st->st_nconns < STATS_CONNS_MAX)
		stats_listening(st, true);
	if (st->st_nconns > 0)
		stats_sweep_later(st);
}

static struct bufferevent *
stats_new_conn(struct event_base *base, void *arg)
{
	struct stats		*st = arg;
	struct bufferevent	*bev;

	stats_sweep(-1, 0, st);
	/* Closed when freed, not by evhttp (see above). */
	if ((bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE)) ==
	    NULL)
		return NULL;	/* evhttp tries one of its own */
	/* Several accepted in one wake-up: the cap holds from the next. */
	if (st->st_nconns < STATS_CONNS_MAX) {
		bufferevent_incref(bev);
		st->st_conns[st->st_nconns++] = bev;
	}
	if (st->st_nconns == STATS_CONNS_MAX && !st->st_paused)
		stats_listening(st, false);
	stats_sweep_later(st);
	return bev;
}

/* --- the endpoint's socket ---------------------------------------------- */

static int
stats_http(struct stats *st)
{
	if (st->st_http != NULL)
		return 0;
	if ((st->st_http = evhttp_new(st->st_base)) == NULL) {
		log_error("metrics endpoint: out of memory");
		return -1;
	}
	evhttp_set_max_headers_size(st->st_http, STATS_HEADERS_MAX);
	evhttp_set_max_body_size(st->st_http, 0);
	evhttp_set_timeout(st->st_http, STATS_TIMEOUT_S);
	/*
	 * Every method evhttp knows reaches stats_request(), which answers
	 * all but GET and HEAD 405: evhttp itself answers a method it does
	 * not let pass 501, without Allow.
	 */
	evhttp_set_allowed_methods(st->st_http, EVHTTP_REQ_GET |
	    EVHTTP_REQ_HEAD | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
	    EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
	    EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
	evhttp_set_gencb(st->st_http, stats_request, st);
	evhttp_set_bevcb(st->st_http, stats_new_conn, st);
	return 0;
}

/*
 * Listen on addr for evhttp. NULL with errno set, after logging why
 * unless quiet.
 */
static struct evhttp_bound_socket *
stats_bind(struct stats *st, const struct config_addr *addr, bool quiet)
{
	const struct sock_opts		 opts = { 0 };
	struct evhttp_bound_socket	*b;
	const char			*step;
	int				 fd, saved;

	if (stats_http(st) == -1) {
		errno = ENOMEM;
		return NULL;
	}
	fd = sock_listen((const struct sockaddr *)&addr->ca_ss, addr->ca_len,
	    addr->ca_dualstack, IPPROTO_TCP, STATS_BACKLOG, &opts, &step);
	if (fd == -1) {
		saved = errno;
		if (!quiet)
			log_error("metrics endpoint: cannot listen on %s "
			    "(stats_listen): %s: %s%s", addr->ca_text, step,
			    strerror(saved), saved == EACCES ? " (a port below "
			    "1024 needs root or CAP_NET_BIND_SERVICE)" : "");
		errno = saved;
		return NULL;
	}
	if ((b = evhttp_accept_socket_with_handle(st->st_http, fd)) == NULL) {
		log_error("metrics endpoint: cannot serve on %s: out of memory",
		    addr->ca_text);
		close(fd);
		return NULL;
	}
	if (st->st_paused)
		evconnlistener_disable(evhttp_bound_socket_get_listener(b));
	return b;
}

static void
stats_unbind(struct stats *st, struct evhttp_bound_socket **b)
{
	if (*b == NULL)
		return;
	evhttp_del_accept_socket(st->st_http, *b);	/* closes it */
	*b = NULL;
}

int
stats_init(struct stats *st, struct event_base *base,
    const struct relay_set *rs)
{
	struct timeval	tv = clock_tv(STATS_WATCH_MS);

	memset(st, 0, sizeof(*st));
	st->st_base = base;
	st->st_relays = rs;
	if ((st->st_kernel = malloc(sizeof(*st->st_kernel))) == NULL) {
		log_error("out of memory");
		return -1;
	}
	st->st_start_time = stats_start_time();
	evtimer_assign(&st->st_sweep_ev, base, stats_sweep, st);
	evtimer_assign(&st->st_watch_ev, base, stats_watch, st);
	/* The first read sets the level later rises are measured from. */
	(void)stats_read_kernel(st);
	evtimer_add(&st->st_watch_ev, &tv);
	return 0;
}

int
stats_prepare(struct stats *st, const struct config *cf)
{
	const struct config_addr	*want = &cf->cf_stats_listen;

	bool				 near;

	st->st_preparing = true;
	st->st_swapped = false;
	st->st_next = NULL;
	memset(&st->st_next_addr, 0, sizeof(st->st_next_addr));
	if (want->ca_len == 0)
		return 0;
	st->st_next_addr = *want;
	if (st->st_bound != NULL && config_addr_equal(&st->st_addr, want))
		return 0;	/* stays where it is */
	near = st->st_bound != NULL && config_addr_overlap(&st->st_addr, want);
	if ((st->st_next = stats_bind(st, want, near)) != NULL)
		return 0;
	if (!near || errno != EADDRINUSE)
		return -1;
	/* A move within the old address's reach: let go of it first. */
	stats_unbind(st, &st->st_bound);
	if ((st->st_next = stats_bind(st, want, false)) != NULL) {
		st->st_swapped = true;
		return 0;
	}
	if ((st->st_bound = stats_bind(st, &st->st_addr, false)) == NULL)
		log_error("metrics endpoint: lost: cannot listen on %s again",
		    st->st_addr.ca_text);
	return -1;
}

void
stats_commit(struct stats *st)
{
	bool	had = st->st_bound != NULL || st->st_swapped;

	st->st_preparing = false;
	if (st->st_next != NULL) {
		stats_unbind(st, &st->st_bound);
		st->st_bound = st->st_next;
		st->st_next = NULL;
		if (had)
			log_notice("metrics endpoint moved from %s to %s",
			    st->st_addr.ca_text, st->st_next_addr.ca_text);
		else
			log_notice("metrics endpoint on %s (GET /metrics)",
			    st->st_next_addr.ca_text);
		st->st_addr = st->st_next_addr;
	} else if (st->st_next_addr.ca_len == 0 && st->st_bound != NULL) {
		stats_unbind(st, &st->st_bound);
		log_notice("metrics endpoint on %s closed (no stats_listen)",
		    st->st_addr.ca_text);
	}
	memset(&st->st_next_addr, 0, sizeof(st->st_next_addr));
	st->st_mptcp_ready = diagnose_ready();
}

void
stats_abort(struct stats *st)
{
	st->st_preparing = false;
	stats_unbind(st, &st->st_next);
	if (st->st_swapped && (st->st_bound = stats_bind(st,
	    &st->st_addr, false)) == NULL)
		log_error("metrics endpoint: lost: cannot listen on %s again",
		    st->st_addr.ca_text);
	st->st_swapped = false;
	memset(&st->st_next_addr, 0, sizeof(st->st_next_addr));
}

unsigned
stats_fds(const struct stats *st)
{
	return st->st_http != NULL ? STATS_CONNS_MAX + 2 : 0;
}

void
stats_clear(struct stats *st)
{
	int	i;

	if (st->st_base == NULL)
		return;		/* never set up */
	evtimer_del(&st->st_watch_ev);
	if (st->st_sweep_on)
		evtimer_del(&st->st_sweep_ev);
	/* Frees the sockets and every connection's bufferevent... */
	if (st->st_http != NULL)
		evhttp_free(st->st_http);
	/* ...which our references kept: now let go of them. */
	for (i = 0; i < st->st_nconns; i++)
		bufferevent_decref(st->st_conns[i]);
	free(st->st_kernel);
	memset(st, 0, sizeof(*st));
}
