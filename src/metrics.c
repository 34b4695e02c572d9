/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

#include "autoconf.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "session.h"
#include "sock.h"

#define METRICS_PREFIX	"mptcp_relayd_"

/* --- the writer -------------------------------------------------------- */

void
metrics_buf_init(struct metrics_buf *mb)
{
	memset(mb, 0, sizeof(*mb));
}

void
metrics_buf_free(struct metrics_buf *mb)
{
	free(mb->mb_data);
	metrics_buf_init(mb);
}

/* Room for n more bytes; false (and mb_error) when there is none. */
static bool
metrics_room(struct metrics_buf *mb, size_t n)
{
	char	*data;
	size_t	 cap;

	if (mb->mb_error != 0)
		return false;
	if (mb->mb_cap - mb->mb_len >= n)
		return true;
	cap = mb->mb_cap == 0 ? 16384 : mb->mb_cap;
	while (cap - mb->mb_len < n) {
		if (cap > SIZE_MAX / 2) {
			mb->mb_error = ENOMEM;
			return false;
		}
		cap *= 2;
	}
	if ((data = realloc(mb->mb_data, cap)) == NULL) {
		mb->mb_error = ENOMEM;
		return false;
	}
	mb->mb_data = data;
	mb->mb_cap = cap;
	return true;
}

static void
metrics_put(struct metrics_buf *mb, const char *s, size_t n)
{
	if (!metrics_room(mb, n))
		return;
	memcpy(mb->mb_data + mb->mb_len, s, n);
	mb->mb_len += n;
}

static void
metrics_puts(struct metrics_buf *mb, const char *s)
{
	metrics_put(mb, s, strlen(s));
}

static void
metrics_printf(struct metrics_buf *mb, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
metrics_printf(struct metrics_buf *mb, const char *fmt, ...)
{
	char	buf[64];
	va_list	ap;
	int	n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf)) {
		mb->mb_error = EINVAL;	/* only numbers come through here */
		return;
	}
	metrics_put(mb, buf, (size_t)n);
}

/*
 * s with a backslash before each backslash and (in label values only)
 * each double quote, and newlines as \n: what the format asks of label
 * values and HELP text.
 */
static void
metrics_escaped(struct metrics_buf *mb, const char *s, bool quote)
{
	size_t	run;

	while (*s != '\0') {
		run = strcspn(s, quote ? "\\\"\n" : "\\\n");
		metrics_put(mb, s, run);
		s += run;
		switch (*s) {
		case '\0':
			return;
		case '\n':
			metrics_puts(mb, "\\n");
			break;
		default:
			metrics_put(mb, "\\", 1);
			metrics_put(mb, s, 1);
			break;
		}
		s++;
	}
}

/* [a-zA-Z_:][a-zA-Z0-9_:]* for a metric, without ':' for a label. */
static bool
metrics_name_ok(const char *name, bool label)
{
	const char	*p;

	if (name[0] == '\0' || (name[0] >= '0' && name[0] <= '9'))
		return false;
	if (label && strncmp(name, "__", 2) == 0)
		return false;		/* reserved for Prometheus itself */
	for (p = name; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '_' ||
		    (*p == ':' && !label)))
			return false;
	return true;
}

static bool
metrics_ends_with(const char *s, const char *suffix)
{
	size_t	n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

void
metrics_family(struct metrics_buf *mb, enum metrics_type type,
    const char *name, const char *help)
{
	static const char *const types[] = {
		[METRICS_COUNTER] = "counter",
		[METRICS_GAUGE] = "gauge",
		[METRICS_HISTOGRAM] = "histogram",
	};

	if (mb->mb_error != 0)
		return;
	if (!metrics_name_ok(name, false) ||
	    strlen(name) >= sizeof(mb->mb_family) ||
	    (type == METRICS_COUNTER) != metrics_ends_with(name, "_total")) {
		mb->mb_error = EINVAL;
		return;
	}
	snprintf(mb->mb_family, sizeof(mb->mb_family), "%s", name);
	mb->mb_type = type;
	metrics_puts(mb, "# HELP ");
	metrics_puts(mb, name);
	metrics_puts(mb, " ");
	metrics_escaped(mb, help, false);
	metrics_puts(mb, "\n# TYPE ");
	metrics_puts(mb, name);
	metrics_puts(mb, " ");
	metrics_puts(mb, types[type]);
	metrics_puts(mb, "\n");
}

/*
 * The start of a sample line, "NAME{a="x",b="y"", up to the value: the
 * family's name with suffix, the labels and le (NULL: none).
 */
static void
metrics_sample(struct metrics_buf *mb, const char *suffix,
    const struct metrics_label *l, int n, const char *le)
{
	int	i;

	metrics_puts(mb, mb->mb_family);
	metrics_puts(mb, suffix);
	if (n == 0 && le == NULL) {
		metrics_puts(mb, " ");
		return;
	}
	metrics_puts(mb, "{");
	for (i = 0; i < n; i++) {
		if (!metrics_name_ok(l[i].ml_name, true) ||
		    strcmp(l[i].ml_name, "le") == 0) {
			mb->mb_error = EINVAL;
			return;
		}
		if (i > 0)
			metrics_puts(mb, ",");
		metrics_puts(mb, l[i].ml_name);
		metrics_puts(mb, "=\"");
		metrics_escaped(mb, l[i].ml_value, true);
		metrics_puts(mb, "\"");
	}
	if (le != NULL) {
		if (n > 0)
			metrics_puts(mb, ",");
		metrics_puts(mb, "le=\"");
		metrics_puts(mb, le);
		metrics_puts(mb, "\"");
	}
	metrics_puts(mb, "} ");
}

/* A sample of a counter or gauge family may be written now. */
static bool
metrics_scalar_ok(struct metrics_buf *mb)
{
	if (mb->mb_error == 0 && (mb->mb_family[0] == '\0' ||
	    mb->mb_type == METRICS_HISTOGRAM))
		mb->mb_error = EINVAL;
	return mb->mb_error == 0;
}

void
metrics_value(struct metrics_buf *mb, const struct metrics_label *l, int n,
    uint64_t value)
{
	if (!metrics_scalar_ok(mb))
		return;
	metrics_sample(mb, "", l, n, NULL);
	metrics_printf(mb, "%" PRIu64 "\n", value);
}

/* The shortest text that reads back as v, as Go's FormatFloat(v, 'g', -1). */
static void
metrics_double(struct metrics_buf *mb, double v)
{
	char	buf[40];
	int	prec;

	if (isnan(v)) {
		metrics_puts(mb, "NaN");
		return;
	}
	if (isinf(v)) {
		metrics_puts(mb, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	for (prec = 1; prec < 17; prec++) {
		snprintf(buf, sizeof(buf), "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	metrics_printf(mb, "%.*g", prec, v);
}

void
metrics_value_double(struct metrics_buf *mb, const struct metrics_label *l,
    int n, double value)
{
	if (!metrics_scalar_ok(mb))
		return;
	metrics_sample(mb, "", l, n, NULL);
	metrics_double(mb, value);
	metrics_puts(mb, "\n");
}

void
metrics_histogram(struct metrics_buf *mb, const struct metrics_label *l,
    int n, const struct metrics_histogram *h)
{
	char		le[24];
	uint64_t	count = 0;
	int		i;

	if (mb->mb_error == 0 && (mb->mb_family[0] == '\0' ||
	    mb->mb_type != METRICS_HISTOGRAM))
		mb->mb_error = EINVAL;
	if (mb->mb_error != 0)
		return;
	for (i = 0; i <= h->mh_nbounds; i++) {
		count += h->mh_counts[i];
		if (i < h->mh_nbounds)
			snprintf(le, sizeof(le), "%u", h->mh_bounds[i]);
		else
			snprintf(le, sizeof(le), "+Inf");
		metrics_sample(mb, "_bucket", l, n, le);
		metrics_printf(mb, "%" PRIu64 "\n", count);
	}
	metrics_sample(mb, "_sum", l, n, NULL);
	metrics_printf(mb, "%" PRIu64 "\n", h->mh_sum);
	metrics_sample(mb, "_count", l, n, NULL);
	metrics_printf(mb, "%" PRIu64 "\n", count);
}

/* --- what the daemon exports ---------------------------------------------- */

/* One relay as a scrape sees it: its counters summed over the loops. */
struct metrics_relay {
	const struct relay	*mr_relay;
	struct relay_counters	 mr_sum;
};

static const char *
metrics_connect_result(enum relay_connect_result r)
{
	static const char *const names[RELAY_CONNECT__MAX] = {
		[RELAY_CONNECT_OK] = "ok",
		[RELAY_CONNECT_REFUSED] = "refused",
		[RELAY_CONNECT_TIMEOUT] = "timeout",
		[RELAY_CONNECT_ERROR] = "error",
	};

	return names[r];
}

/* How long a failed address of rl counts as down: its upstream_backoff. */
static uint64_t
metrics_backoff(const struct relay *rl)
{
	return rl->rl_conf->lc_upstream_backoff;
}

/* One sample per listener of a per-listener value. */
#define METRICS_EACH_RELAY(mb, rs, n, i, l, value) do {			\
	for ((i) = 0; (i) < (n); (i)++) {				\
		(l)[0].ml_value = (rs)[i].mr_relay->rl_name;		\
		metrics_value((mb), (l), 1, (value));			\
	}								\
} while (0)

/*
 * One sample per listener and word of a second label, the values an
 * array of counters at offset in struct relay_counters, one per word.
 */
static void
metrics_split(struct metrics_buf *mb, const struct metrics_relay *rs, int n,
    const char *label, const char *const *words, int nwords, size_t offset)
{
	struct metrics_label	 l[2] = { { "listener", "" }, { label, "" } };
	const uint64_t		*v;
	int			 i, j;

	for (i = 0; i < n; i++) {
		l[0].ml_value = rs[i].mr_relay->rl_name;
		v = (const uint64_t *)(const void *)((const char *)
		    &rs[i].mr_sum + offset);
		for (j = 0; j < nwords; j++) {
			l[1].ml_value = words[j];
			metrics_value(mb, l, 2, v[j]);
		}
	}
}

#define RC(field)	offsetof(struct relay_counters, field)

static void
metrics_render_sessions(struct metrics_buf *mb, const struct metrics_relay *rs,
    int n)
{
	static const char *const yes_no[] = { "yes", "no" };
	static const char *const in_out[] = { "in", "out" };
	const char		*ends[SESSION_END__MAX];
	struct metrics_label	 l = { "listener", "" };
	int			 i;

	/* Pairs of neighbouring counters, each pair in the label's order. */
	_Static_assert(RC(rc_sessions_tcp) == RC(rc_sessions_mptcp) + 8 &&
	    RC(rc_bytes_out) == RC(rc_bytes_in) + 8, "relay_counters pairs");
	for (i = 0; i < SESSION_END__MAX; i++)
		ends[i] = session_end_name(i);

	metrics_family(mb, METRICS_COUNTER, METRICS_PREFIX "sessions_total",
	    "Sessions accepted, by whether the client's connection "
	    "negotiated MPTCP (counted once the kernel told).");
	metrics_split(mb, rs, n, "mptcp", yes_no, 2, RC(rc_sessions_mptcp));

	metrics_family(mb, METRICS_GAUGE, METRICS_PREFIX "sessions_active",
	    "Sessions open now: connecting to the upstream or relaying.");
	METRICS_EACH_RELAY(mb, rs, n, i, &l, rs[i].mr_sum.rc_active);

	metrics_family(mb, METRICS_COUNTER, METRICS_PREFIX
	    "session_ends_total", "Ended sessions, by the end= word of their "
	    "log line.");
	metrics_split(mb, rs, n, "end", ends, SESSION_END__MAX, RC(rc_ends));

	metrics_family(mb, METRICS_COUNTER, METRICS_PREFIX "bytes_total",
	    "Bytes from clients (in) and to clients (out) of ended sessions, "
	    "as bytes_in and bytes_out of their log lines.");
	metrics_split(mb, rs, n, "direction", in_out, 2, RC(rc_bytes_in));
}

static void
metrics_render_refused(struct metrics_buf *mb, const struct metrics_relay *rs,
    int n)
{
	const char	*refusals[RELAY_REFUSED__MAX];
	int		 i;

	for (i = 0; i < RELAY_REFUSED__MAX; i++)
		refusals[i] = relay_refusal_name(i);
	metrics_family(mb, METRICS_COUNTER, METRICS_PREFIX "refused_total",
	    "Clients closed before relaying, by reason (never counted as "
	    "sessions).");
	metrics_split(mb, rs, n, "reason", refusals, RELAY_REFUSED__MAX,
	    RC(rc_refused));
}

static void
metrics_render_subflows(struct metrics_buf *mb, const struct metrics_relay *rs,
    int n)
{
	static const unsigned		 bounds[RELAY_SUBFLOW_NBOUNDS] =
					    RELAY_SUBFLOW_BOUNDS;
	struct metrics_label		 l = { "listener", "" };
	struct metrics_histogram	 h = { bounds, RELAY_SUBFLOW_NBOUNDS,
					    NULL, 0 };
	int				 i;

	metrics_family(mb, METRICS_HISTOGRAM, METRICS_PREFIX
	    "session_subflows", "The most subflows each ended MPTCP session "
	    "had at once (the log line's subflows=).");
	for (i = 0; i < n; i++) {
		l.ml_value = rs[i].mr_relay->rl_name;
		h.mh_counts = rs[i].mr_sum.rc_subflows;
		h.mh_sum = rs[i].mr_sum.rc_subflows_sum;
		metrics_histogram(mb, &l, 1, &h);
	}
}

/*
 * The upstream label of address ru: its numeric address, as the log
 * line's upstream= names it (a host name's addresses would share its
 * text); "destination" for every destination of upstream = destination,
 * so that the series do not grow with the destinations clients name.
 */
static const char *
metrics_upstream_name(const struct relay_upstream *ru, char *buf, size_t len)
{
	if (ru->ru_destination)
		return "destination";
	return sock_ntop((const struct sockaddr *)&ru->ru_addr.ca_ss, buf,
	    len);
}

/*
 * The next address of the listeners' upstream sets after (*i, *j) (start
 * with 0, -1), with the listener and upstream labels in l[0] and l[1];
 * NULL after the last.
 */
static const struct relay_upstream *
metrics_next_upstream(const struct metrics_relay *rs, int n, int *i, int *j,
    struct metrics_label *l, char *name, size_t len)
{
	const struct relay_upset	*us;

	for (; *i < n; (*i)++, *j = -1) {
		us = rs[*i].mr_relay->rl_upset;
		if (++*j < us->us_n) {
			l[0].ml_value = rs[*i].mr_relay->rl_name;
			l[1].ml_value = metrics_upstream_name(
			    &us->us_addrs[*j], name, len);
			return &us->us_addrs[*j];
		}
	}
	return NULL;
}

static void
metrics_render_upstreams(struct metrics_buf *mb,
    const struct metrics_relay *rs, int n, uint64_t now)
{
	struct metrics_label		 l[3] = { { "listener", "" },
					    { "upstream", "" }, { "result", "" } };
	const struct relay_upstream	*ru;
	char				 name[SOCK_NTOP_MAX];
	int				 i = 0, j = -1, r;

	metrics_family(mb, METRICS_COUNTER, METRICS_PREFIX
	    "upstream_connects_total", "Connect attempts to each upstream "
	    "address, by result.");
	while ((ru = metrics_next_upstream(rs, n, &i, &j, l, name,
	    sizeof(name))) != NULL)
		for (r = 0; r < RELAY_CONNECT__MAX; r++) {
			l[2].ml_value = metrics_connect_result(r);
			metrics_value(mb, l, 3, __atomic_load_n(
			    &ru->ru_st->rs_connects[r], __ATOMIC_RELAXED));
		}

	metrics_family(mb, METRICS_GAUGE, METRICS_PREFIX "upstream_up",
	    "1 if the upstream address is in service, 0 while it is backed "
	    "off after a failed connect or fails its health checks.");
	i = 0;
	j = -1;
	while ((ru = metrics_next_upstream(rs, n, &i, &j, l, name,
	    sizeof(name))) != NULL)
		metrics_value(mb, l, 2, relay_upstream_up(ru, now,
		    metrics_backoff(rs[i].mr_relay)) ? 1 : 0);
}

static void
metrics_render_kernel(struct metrics_buf *mb, const struct netstat_mptcp *nm,
    int ready)
{
	struct metrics_label	l = { "counter", "" };
	int			i;

	if (nm != NULL) {
		metrics_family(mb, METRICS_COUNTER, METRICS_PREFIX
		    "kernel_mptcp_total", "The kernel's MPTcpExt counters of "
		    "the daemon's network namespace (/proc/net/netstat).");
		for (i = 0; i < nm->nm_n; i++) {
			l.ml_value = nm->nm_c[i].nc_name;
			metrics_value(mb, &l, 1, nm->nm_c[i].nc_value);
		}
	}
	metrics_family(mb, METRICS_GAUGE, METRICS_PREFIX "mptcp_ready",
	    "1 if MPTCP is usable on this host: the verdict of "
	    "mptcp-relayd -D, taken at start and at each reload.");
	metrics_value(mb, NULL, 0, ready ? 1 : 0);
}

/* The process_* families, with the help texts of the client libraries. */
static void
metrics_render_process(struct metrics_buf *mb, const struct metrics_process *p)
{
	const struct {
		const char	*g_name;
		const char	*g_help;
		uint64_t	 g_value;
	}	gauges[] = {
		{ "process_open_fds", "Number of open file descriptors.",
		    p->mp_open_fds },
		{ "process_max_fds", "Maximum number of open file "
		    "descriptors.", p->mp_max_fds },
		{ "process_virtual_memory_bytes", "Virtual memory size in "
		    "bytes.", p->mp_virtual_bytes },
		{ "process_resident_memory_bytes", "Resident memory size in "
		    "bytes.", p->mp_resident_bytes },
	};
	size_t	i;

	metrics_family(mb, METRICS_COUNTER, "process_cpu_seconds_total",
	    "Total user and system CPU time spent in seconds.");
	metrics_value_double(mb, NULL, 0, p->mp_cpu_seconds);
	/* No count of open files (/proc/self/fd unreadable): none at all. */
	for (i = p->mp_open_fds > 0 ? 0 : 1;
	    i < sizeof(gauges) / sizeof(gauges[0]); i++) {
		metrics_family(mb, METRICS_GAUGE, gauges[i].g_name,
		    gauges[i].g_help);
		metrics_value(mb, NULL, 0, gauges[i].g_value);
	}
	metrics_family(mb, METRICS_GAUGE, "process_start_time_seconds",
	    "Start time of the process since unix epoch in seconds.");
	metrics_value_double(mb, NULL, 0, p->mp_start_time);
}

void
metrics_render(struct metrics_buf *mb, const struct metrics_input *in)
{
	const struct relay_set	*set = in->mi_relays;
	struct metrics_relay	*rs;
	struct metrics_label	 l = { "listener", "" };
	int			 i, n = set->rs_n;

	if ((rs = calloc((size_t)n + 1, sizeof(*rs))) == NULL) {
		mb->mb_error = ENOMEM;
		return;
	}
	for (i = 0; i < n; i++) {
		rs[i].mr_relay = set->rs_relays[i];
		relay_counters_sum(rs[i].mr_relay, &rs[i].mr_sum);
	}
	metrics_render_sessions(mb, rs, n);
	metrics_render_subflows(mb, rs, n);
	metrics_render_refused(mb, rs, n);
	metrics_render_upstreams(mb, rs, n, in->mi_now);
	metrics_family(mb, METRICS_GAUGE, METRICS_PREFIX "max_connections",
	    "The listener's max_connections: the most sessions it takes at "
	    "once (0: no cap).");
	METRICS_EACH_RELAY(mb, rs, n, i, &l,
	    rs[i].mr_relay->rl_conf->lc_max_connections);
	metrics_render_kernel(mb, in->mi_kernel, in->mi_mptcp_ready);
	if (in->mi_process != NULL)
		metrics_render_process(mb, in->mi_process);
	free(rs);
}
