/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

/*
 * The metrics as text (metrics.c): all pure, no kernel needed. The
 * parser of the kernel's MPTcpExt counters is check_netstat's, the
 * blackhole watch's arithmetic check_stats'.
 */

#include "autoconf.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "config.h"
#include "metrics.h"
#include "netstat.h"
#include "relay.h"
#include "stats.h"
#include "testutil.h"

/* mb's text, NUL-terminated (the writer does not terminate it). */
static char *
text_of(struct metrics_buf *mb)
{
	static char	buf[65536];

	ck_assert_int_eq(mb->mb_error, 0);
	ck_assert_uint_lt(mb->mb_len, sizeof(buf));
	memcpy(buf, mb->mb_data, mb->mb_len);
	buf[mb->mb_len] = '\0';
	return buf;
}

START_TEST(test_label_values_escaped)
{
	struct metrics_buf	mb;
	struct metrics_label	l[2] = {
		{ "path", "C:\\dir \"x\"\nnext" },
		{ "plain", "ok" },
	};

	metrics_buf_init(&mb);
	metrics_family(&mb, METRICS_GAUGE, "g", "A gauge.");
	metrics_value(&mb, l, 2, 7);
	ck_assert_str_eq(text_of(&mb),
	    "# HELP g A gauge.\n"
	    "# TYPE g gauge\n"
	    "g{path=\"C:\\\\dir \\\"x\\\"\\nnext\",plain=\"ok\"} 7\n");
	metrics_buf_free(&mb);
}
END_TEST

START_TEST(test_help_escaped_quotes_kept)
{
	struct metrics_buf	mb;

	metrics_buf_init(&mb);
	metrics_family(&mb, METRICS_GAUGE, "g", "a \\ b\n\"c\"");
	metrics_value(&mb, NULL, 0, 0);
	ck_assert_str_eq(text_of(&mb),
	    "# HELP g a \\\\ b\\n\"c\"\n"
	    "# TYPE g gauge\n"
	    "g 0\n");
	metrics_buf_free(&mb);
}
END_TEST

START_TEST(test_counter_names_end_in_total)
{
	struct metrics_buf	mb;

	metrics_buf_init(&mb);
	metrics_family(&mb, METRICS_COUNTER, "requests", "No suffix.");
	ck_assert_int_eq(mb.mb_error, EINVAL);
	/* Once failed, nothing more is written. */
	metrics_family(&mb, METRICS_COUNTER, "requests_total", "Fine.");
	ck_assert_uint_eq(mb.mb_len, 0);
	metrics_buf_free(&mb);

	metrics_buf_init(&mb);
	metrics_family(&mb, METRICS_GAUGE, "open_total", "Not a counter.");
	ck_assert_int_eq(mb.mb_error, EINVAL);
	metrics_buf_free(&mb);

	metrics_buf_init(&mb);
	metrics_family(&mb, METRICS_COUNTER, "requests_total", "Requests.");
	metrics_value(&mb, NULL, 0, 18446744073709551615ULL);
	ck_assert_str_eq(text_of(&mb),
	    "# HELP requests_total Requests.\n"
	    "# TYPE requests_total counter\n"
	    "requests_total 18446744073709551615\n");
	metrics_buf_free(&mb);
}
END_TEST

/* Each misuse is caught, and leaves the writer failed. */
START_TEST(test_misuse_refused)
{
	static const struct metrics_label	reserved = { "__name", "x" };
	static const struct metrics_label	le = { "le", "1" };
	static const struct metrics_label	dash = { "a-b", "x" };
	struct metrics_buf			mb;
	const unsigned				bounds[1] = { 1 };
	const uint64_t				counts[2] = { 0, 0 };
	struct metrics_histogram		h = { bounds, 1, counts, 0 };

	switch (_i) {
	case 0:			/* a sample before any family */
		metrics_buf_init(&mb);
		metrics_value(&mb, NULL, 0, 1);
		break;
	case 1:			/* a metric name starting with a digit */
		metrics_buf_init(&mb);
		metrics_family(&mb, METRICS_GAUGE, "1g", "x");
		break;
	case 2:			/* a label name Prometheus reserves */
		metrics_buf_init(&mb);
		metrics_family(&mb, METRICS_GAUGE, "g", "x");
		metrics_value(&mb, &reserved, 1, 1);
		break;
	case 3:			/* le is the histogram's own */
		metrics_buf_init(&mb);
		metrics_family(&mb, METRICS_GAUGE, "g", "x");
		metrics_value(&mb, &le, 1, 1);
		break;
	case 4:			/* not a label name */
		metrics_buf_init(&mb);
		metrics_family(&mb, METRICS_GAUGE, "g", "x");
		metrics_value(&mb, &dash, 1, 1);
		break;
	case 5:			/* buckets in a gauge family */
		metrics_buf_init(&mb);
		metrics_family(&mb, METRICS_GAUGE, "g", "x");
		metrics_histogram(&mb, NULL, 0, &h);
		break;
	default:		/* a plain sample in a histogram family */
		metrics_buf_init(&mb);
		metrics_family(&mb, METRICS_HISTOGRAM, "h", "x");
		metrics_value(&mb, NULL, 0, 1);
		break;
	}
	ck_assert_int_eq(mb.mb_error, EINVAL);
	metrics_buf_free(&mb);
}
END_TEST

START_TEST(test_histogram_cumulative)
{
	struct metrics_buf		mb;
	const unsigned			bounds[5] = RELAY_SUBFLOW_BOUNDS;
	/* 2 at 1, 1 at 2, 3 in (4, 8], 1 above 8. */
	const uint64_t			counts[6] = { 2, 1, 0, 0, 3, 1 };
	struct metrics_histogram	h = { bounds, 5, counts, 33 };
	struct metrics_label		l = { "listener", "web" };

	metrics_buf_init(&mb);
	metrics_family(&mb, METRICS_HISTOGRAM, "sf", "Subflows.");
	metrics_histogram(&mb, &l, 1, &h);
	metrics_histogram(&mb, NULL, 0, &h);
	ck_assert_str_eq(text_of(&mb),
	    "# HELP sf Subflows.\n"
	    "# TYPE sf histogram\n"
	    "sf_bucket{listener=\"web\",le=\"1\"} 2\n"
	    "sf_bucket{listener=\"web\",le=\"2\"} 3\n"
	    "sf_bucket{listener=\"web\",le=\"3\"} 3\n"
	    "sf_bucket{listener=\"web\",le=\"4\"} 3\n"
	    "sf_bucket{listener=\"web\",le=\"8\"} 6\n"
	    "sf_bucket{listener=\"web\",le=\"+Inf\"} 7\n"
	    "sf_sum{listener=\"web\"} 33\n"
	    "sf_count{listener=\"web\"} 7\n"
	    "sf_bucket{le=\"1\"} 2\n"
	    "sf_bucket{le=\"2\"} 3\n"
	    "sf_bucket{le=\"3\"} 3\n"
	    "sf_bucket{le=\"4\"} 3\n"
	    "sf_bucket{le=\"8\"} 6\n"
	    "sf_bucket{le=\"+Inf\"} 7\n"
	    "sf_sum 33\n"
	    "sf_count 7\n");
	metrics_buf_free(&mb);
}
END_TEST

START_TEST(test_double_shortest)
{
	struct metrics_buf	mb;

	metrics_buf_init(&mb);
	metrics_family(&mb, METRICS_GAUGE, "d", "x");
	metrics_value_double(&mb, NULL, 0, 0.1);
	metrics_value_double(&mb, NULL, 0, 1796536099.25);
	metrics_value_double(&mb, NULL, 0, 3);
	metrics_value_double(&mb, NULL, 0, 1e-7);
	metrics_value_double(&mb, NULL, 0, NAN);
	metrics_value_double(&mb, NULL, 0, -INFINITY);
	ck_assert_str_eq(text_of(&mb),
	    "# HELP d x\n# TYPE d gauge\n"
	    "d 0.1\nd 1796536099.25\nd 3\nd 1e-07\nd NaN\nd -Inf\n");
	metrics_buf_free(&mb);
}
END_TEST

/* Well past the first allocation: nothing lost on the way. */
START_TEST(test_buffer_grows)
{
	struct metrics_buf	mb;
	struct metrics_label	l = { "n", "" };
	char			v[16];
	size_t			want;
	int			i;

	metrics_buf_init(&mb);
	metrics_family(&mb, METRICS_GAUGE, "g", "x");
	want = mb.mb_len;
	for (i = 0; i < 5000; i++) {
		snprintf(v, sizeof(v), "%d", i);
		l.ml_value = v;
		metrics_value(&mb, &l, 1, (uint64_t)i);
		want += strlen("g{n=\"\"} \n") + 2 * strlen(v);
	}
	ck_assert_int_eq(mb.mb_error, 0);
	ck_assert_uint_eq(mb.mb_len, want);
	ck_assert(memcmp(mb.mb_data + mb.mb_len - 16, "{n=\"4999\"} 4999\n",
	    16) == 0);
	metrics_buf_free(&mb);
}
END_TEST

/* /proc/net/netstat of a 6.18 kernel, cut short, with TcpExt around it. */
static const char netstat_text[] =
    "TcpExt: SyncookiesSent SyncookiesRecv\n"
    "TcpExt: 0 0\n"
    "MPTcpExt: MPCapableSYNRX MPCapableSYNTX   Blackhole MPJoinSynRx\n"
    "MPTcpExt: 12 3 2 18446744073709551615\n"
    "IpExt: InNoRoutes\n"
    "IpExt: 0\n";

/* The whole output for two listeners, two loops and a kernel. */
static const char render_want[] =
    "# HELP mptcp_relayd_sessions_total Sessions accepted, by whether "
    "the client's connection negotiated MPTCP (counted once the kernel "
    "told).\n"
    "# TYPE mptcp_relayd_sessions_total counter\n"
    "mptcp_relayd_sessions_total{listener=\"web\",mptcp=\"yes\"} 3\n"
    "mptcp_relayd_sessions_total{listener=\"web\",mptcp=\"no\"} 1\n"
    "mptcp_relayd_sessions_total{listener=\"api\",mptcp=\"yes\"} 0\n"
    "mptcp_relayd_sessions_total{listener=\"api\",mptcp=\"no\"} 2\n"
    "# HELP mptcp_relayd_sessions_active Sessions open now: connecting "
    "to the upstream or relaying.\n"
    "# TYPE mptcp_relayd_sessions_active gauge\n"
    "mptcp_relayd_sessions_active{listener=\"web\"} 2\n"
    "mptcp_relayd_sessions_active{listener=\"api\"} 0\n"
    "# HELP mptcp_relayd_session_ends_total Ended sessions, by the end= "
    "word of their log line.\n"
    "# TYPE mptcp_relayd_session_ends_total counter\n"
    "mptcp_relayd_session_ends_total{listener=\"web\",end=\"client_close"
    "\"} 2\n"
    "mptcp_relayd_session_ends_total{listener=\"web\",end=\"upstream_clos"
    "e\"} 0\n"
    "mptcp_relayd_session_ends_total{listener=\"web\",end=\"client_reset"
    "\"} 0\n"
    "mptcp_relayd_session_ends_total{listener=\"web\",end=\"upstream_rese"
    "t\"} 0\n"
    "mptcp_relayd_session_ends_total{listener=\"web\",end=\"connect_faile"
    "d\"} 0\n"
    "mptcp_relayd_session_ends_total{listener=\"web\",end=\"connect_timeo"
    "ut\"} 1\n"
    "mptcp_relayd_session_ends_total{listener=\"web\",end=\"idle_timeout"
    "\"} 0\n"
    "mptcp_relayd_session_ends_total{listener=\"web\",end=\"shutdown\"} "
    "0\n"
    "mptcp_relayd_session_ends_total{listener=\"web\",end=\"no_memory\"} "
    "0\n"
    "mptcp_relayd_session_ends_total{listener=\"web\",end=\"tls_handsha"
    "ke\"} 0\n"
    "mptcp_relayd_session_ends_total{listener=\"api\",end=\"client_close"
    "\"} 0\n"
    "mptcp_relayd_session_ends_total{listener=\"api\",end=\"upstream_clos"
    "e\"} 0\n"
    "mptcp_relayd_session_ends_total{listener=\"api\",end=\"client_reset"
    "\"} 0\n"
    "mptcp_relayd_session_ends_total{listener=\"api\",end=\"upstream_rese"
    "t\"} 0\n"
    "mptcp_relayd_session_ends_total{listener=\"api\",end=\"connect_faile"
    "d\"} 2\n"
    "mptcp_relayd_session_ends_total{listener=\"api\",end=\"connect_timeo"
    "ut\"} 0\n"
    "mptcp_relayd_session_ends_total{listener=\"api\",end=\"idle_timeout"
    "\"} 0\n"
    "mptcp_relayd_session_ends_total{listener=\"api\",end=\"shutdown\"} "
    "0\n"
    "mptcp_relayd_session_ends_total{listener=\"api\",end=\"no_memory\"} "
    "0\n"
    "mptcp_relayd_session_ends_total{listener=\"api\",end=\"tls_handsha"
    "ke\"} 0\n"
    "# HELP mptcp_relayd_bytes_total Bytes from clients (in) and to "
    "clients (out) of ended sessions, as bytes_in and bytes_out of their "
    "log lines.\n"
    "# TYPE mptcp_relayd_bytes_total counter\n"
    "mptcp_relayd_bytes_total{listener=\"web\",direction=\"in\"} 1024\n"
    "mptcp_relayd_bytes_total{listener=\"web\",direction=\"out\"} "
    "1048576\n"
    "mptcp_relayd_bytes_total{listener=\"api\",direction=\"in\"} 0\n"
    "mptcp_relayd_bytes_total{listener=\"api\",direction=\"out\"} 0\n"
    "# HELP mptcp_relayd_session_subflows The most subflows each ended "
    "MPTCP session had at once (the log line's subflows=).\n"
    "# TYPE mptcp_relayd_session_subflows histogram\n"
    "mptcp_relayd_session_subflows_bucket{listener=\"web\",le=\"1\"} 1\n"
    "mptcp_relayd_session_subflows_bucket{listener=\"web\",le=\"2\"} 2\n"
    "mptcp_relayd_session_subflows_bucket{listener=\"web\",le=\"3\"} 2\n"
    "mptcp_relayd_session_subflows_bucket{listener=\"web\",le=\"4\"} 2\n"
    "mptcp_relayd_session_subflows_bucket{listener=\"web\",le=\"8\"} 2\n"
    "mptcp_relayd_session_subflows_bucket{listener=\"web\",le=\"+Inf\"} "
    "2\n"
    "mptcp_relayd_session_subflows_sum{listener=\"web\"} 3\n"
    "mptcp_relayd_session_subflows_count{listener=\"web\"} 2\n"
    "mptcp_relayd_session_subflows_bucket{listener=\"api\",le=\"1\"} 0\n"
    "mptcp_relayd_session_subflows_bucket{listener=\"api\",le=\"2\"} 0\n"
    "mptcp_relayd_session_subflows_bucket{listener=\"api\",le=\"3\"} 0\n"
    "mptcp_relayd_session_subflows_bucket{listener=\"api\",le=\"4\"} 0\n"
    "mptcp_relayd_session_subflows_bucket{listener=\"api\",le=\"8\"} 0\n"
    "mptcp_relayd_session_subflows_bucket{listener=\"api\",le=\"+Inf\"} "
    "0\n"
    "mptcp_relayd_session_subflows_sum{listener=\"api\"} 0\n"
    "mptcp_relayd_session_subflows_count{listener=\"api\"} 0\n"
    "# HELP mptcp_relayd_refused_total Clients closed before relaying, "
    "by reason (never counted as sessions).\n"
    "# TYPE mptcp_relayd_refused_total counter\n"
    "mptcp_relayd_refused_total{listener=\"web\",reason=\"acl\"} 4\n"
    "mptcp_relayd_refused_total{listener=\"web\",reason=\"proxy_header\"}"
    " 0\n"
    "mptcp_relayd_refused_total{listener=\"web\",reason=\"tls_handshake"
    "\"} 0\n"
    "mptcp_relayd_refused_total{listener=\"web\",reason=\"destination"
    "\"} 0\n"
    "mptcp_relayd_refused_total{listener=\"api\",reason=\"acl\"} 0\n"
    "mptcp_relayd_refused_total{listener=\"api\",reason=\"proxy_header\"}"
    " 1\n"
    "mptcp_relayd_refused_total{listener=\"api\",reason=\"tls_handshake"
    "\"} 0\n"
    "mptcp_relayd_refused_total{listener=\"api\",reason=\"destination"
    "\"} 0\n"
    "# HELP mptcp_relayd_upstream_connects_total Connect attempts to "
    "each upstream address, by result.\n"
    "# TYPE mptcp_relayd_upstream_connects_total counter\n"
    "mptcp_relayd_upstream_connects_total{listener=\"web\",upstream=\"127"
    ".0.0.1:9001\",result=\"ok\"} 3\n"
    "mptcp_relayd_upstream_connects_total{listener=\"web\",upstream=\"127"
    ".0.0.1:9001\",result=\"refused\"} 0\n"
    "mptcp_relayd_upstream_connects_total{listener=\"web\",upstream=\"127"
    ".0.0.1:9001\",result=\"timeout\"} 1\n"
    "mptcp_relayd_upstream_connects_total{listener=\"web\",upstream=\"127"
    ".0.0.1:9001\",result=\"error\"} 0\n"
    "mptcp_relayd_upstream_connects_total{listener=\"api\",upstream=\"[::"
    "1]:9002\",result=\"ok\"} 0\n"
    "mptcp_relayd_upstream_connects_total{listener=\"api\",upstream=\"[::"
    "1]:9002\",result=\"refused\"} 2\n"
    "mptcp_relayd_upstream_connects_total{listener=\"api\",upstream=\"[::"
    "1]:9002\",result=\"timeout\"} 0\n"
    "mptcp_relayd_upstream_connects_total{listener=\"api\",upstream=\"[::"
    "1]:9002\",result=\"error\"} 0\n"
    "# HELP mptcp_relayd_upstream_up 1 if the upstream address is in "
    "service, 0 while it is backed off after a failed connect or fails "
    "its health checks.\n"
    "# TYPE mptcp_relayd_upstream_up gauge\n"
    "mptcp_relayd_upstream_up{listener=\"web\",upstream=\"127.0.0.1:9001"
    "\"} 1\n"
    "mptcp_relayd_upstream_up{listener=\"api\",upstream=\"[::1]:9002\"} "
    "0\n"
    "# HELP mptcp_relayd_max_connections The listener's max_connections: "
    "the most sessions it takes at once (0: no cap).\n"
    "# TYPE mptcp_relayd_max_connections gauge\n"
    "mptcp_relayd_max_connections{listener=\"web\"} 500\n"
    "mptcp_relayd_max_connections{listener=\"api\"} 0\n"
    "# HELP mptcp_relayd_kernel_mptcp_total The kernel's MPTcpExt "
    "counters of the daemon's network namespace (/proc/net/netstat).\n"
    "# TYPE mptcp_relayd_kernel_mptcp_total counter\n"
    "mptcp_relayd_kernel_mptcp_total{counter=\"MPCapableSYNRX\"} 12\n"
    "mptcp_relayd_kernel_mptcp_total{counter=\"MPCapableSYNTX\"} 3\n"
    "mptcp_relayd_kernel_mptcp_total{counter=\"Blackhole\"} 2\n"
    "mptcp_relayd_kernel_mptcp_total{counter=\"MPJoinSynRx\"} "
    "18446744073709551615\n"
    "# HELP mptcp_relayd_mptcp_ready 1 if MPTCP is usable on this host: "
    "the verdict of mptcp-relayd -D, taken at start and at each reload.\n"
    "# TYPE mptcp_relayd_mptcp_ready gauge\n"
    "mptcp_relayd_mptcp_ready 1\n"
    "# HELP process_cpu_seconds_total Total user and system CPU time "
    "spent in seconds.\n"
    "# TYPE process_cpu_seconds_total counter\n"
    "process_cpu_seconds_total 1.25\n"
    "# HELP process_open_fds Number of open file descriptors.\n"
    "# TYPE process_open_fds gauge\n"
    "process_open_fds 15\n"
    "# HELP process_max_fds Maximum number of open file descriptors.\n"
    "# TYPE process_max_fds gauge\n"
    "process_max_fds 1024\n"
    "# HELP process_virtual_memory_bytes Virtual memory size in bytes.\n"
    "# TYPE process_virtual_memory_bytes gauge\n"
    "process_virtual_memory_bytes 6610944\n"
    "# HELP process_resident_memory_bytes Resident memory size in "
    "bytes.\n"
    "# TYPE process_resident_memory_bytes gauge\n"
    "process_resident_memory_bytes 3485696\n"
    "# HELP process_start_time_seconds Start time of the process since "
    "unix epoch in seconds.\n"
    "# TYPE process_start_time_seconds gauge\n"
    "process_start_time_seconds 1796536099.5\n";

START_TEST(test_render_relay_set)
{
	const char			*text = "[global]\nworkers = 2\n"
	    "[web]\nlisten = 127.0.0.1:8001\nupstream = 127.0.0.1:9001\n"
	    "max_connections = 500\n"
	    "[api]\nlisten = [::1]:8002\nupstream = [::1]:9002\n"
	    "protocol = tcp\n";
	struct config_diag		 d = { NULL, 0 };
	struct config			*cf;
	const struct relay_set		 none = { NULL, 0 };
	struct relay_set		 rs;
	struct relay			*web, *api;
	struct relay_counters		*c0, *c1;
	struct netstat_mptcp		*nm = malloc(sizeof(*nm));
	struct metrics_process		 proc = { 1.25, 3485696, 6610944, 15,
					    1024, 1796536099.5 };
	struct metrics_input		 in;
	struct metrics_buf		 mb;
	uint64_t			 now = 1000000;

	ck_assert_ptr_nonnull(nm);
	cf = config_load_string(text, "t.ini", &d);
	ck_assert_ptr_nonnull(cf);
	ck_assert_int_eq(relay_set_prepare(&none, cf, 2, &rs), 0);
	ck_assert_int_eq(rs.rs_n, 2);
	web = rs.rs_relays[0];
	api = rs.rs_relays[1];

	/* web: 3 MPTCP sessions and one plain one, over both loops. */
	c0 = relay_counters(web, 0);
	c1 = relay_counters(web, 1);
	RELAY_COUNT(c0, rc_sessions_mptcp, 2);
	RELAY_COUNT(c1, rc_sessions_mptcp, 1);
	RELAY_COUNT(c1, rc_sessions_tcp, 1);
	RELAY_COUNT(c0, rc_active, 1);		/* one still open... */
	RELAY_COUNT(c1, rc_active, 1);
	RELAY_COUNT(c1, rc_active, 1);
	RELAY_COUNT(c1, rc_active, -1);		/* ...and one more */
	RELAY_COUNT(c0, rc_ends[0], 1);		/* client_close */
	RELAY_COUNT(c1, rc_ends[0], 1);
	RELAY_COUNT(c1, rc_ends[5], 1);		/* connect_timeout */
	RELAY_COUNT(c0, rc_bytes_in, 1000);
	RELAY_COUNT(c1, rc_bytes_in, 24);
	RELAY_COUNT(c0, rc_bytes_out, 1 << 20);
	relay_count_subflows(c0, 1);
	relay_count_subflows(c1, 2);
	RELAY_COUNT(c0, rc_refused[RELAY_REFUSED_ACL], 4);
	web->rl_upset->us_addrs[0].ru_st->rs_connects[RELAY_CONNECT_OK] = 3;
	web->rl_upset->us_addrs[0].ru_st->rs_connects[RELAY_CONNECT_TIMEOUT] = 1;
	web->rl_upset->us_addrs[0].ru_st->rs_failed_at = now - 20000;	/* long ago */
	/* api: its upstream refused a moment ago. */
	RELAY_COUNT(relay_counters(api, 1), rc_refused[
	    RELAY_REFUSED_PROXY_HEADER], 1);
	RELAY_COUNT(relay_counters(api, 1), rc_ends[4], 2); /* failed */
	RELAY_COUNT(relay_counters(api, 0), rc_sessions_tcp, 2);
	api->rl_upset->us_addrs[0].ru_st->rs_connects[RELAY_CONNECT_REFUSED] = 2;
	api->rl_upset->us_addrs[0].ru_st->rs_failed_at = now - 5000;

	ck_assert_int_eq(netstat_mptcp_parse(netstat_text, nm), 0);
	in.mi_relays = &rs;
	in.mi_now = now;
	in.mi_kernel = nm;
	in.mi_mptcp_ready = 1;
	in.mi_process = &proc;
	metrics_buf_init(&mb);
	metrics_render(&mb, &in);
	text = text_of(&mb);
	if (strcmp(text, render_want) != 0)
		fprintf(stderr, "--- rendered:\n%s--- end\n", text);
	ck_assert_str_eq(text, render_want);

	/* Unreadable kernel counters and no process: those families go. */
	metrics_buf_free(&mb);
	in.mi_kernel = NULL;
	in.mi_mptcp_ready = 0;
	in.mi_process = NULL;
	metrics_render(&mb, &in);
	text = text_of(&mb);
	ck_assert_ptr_null(strstr(text, "kernel_mptcp_total"));
	ck_assert_ptr_null(strstr(text, "process_"));
	ck_assert_ptr_nonnull(strstr(text, "\nmptcp_relayd_mptcp_ready 0\n"));

	metrics_buf_free(&mb);
	relay_set_clear(&rs);
	config_unref(cf);
	free(nm);
}
END_TEST

static Suite *
metrics_suite(void)
{
	Suite	*s = suite_create("metrics");
	TCase	*tc;

	tc = tcase_create("writer");
	tcase_add_test(tc, test_label_values_escaped);
	tcase_add_test(tc, test_help_escaped_quotes_kept);
	tcase_add_test(tc, test_counter_names_end_in_total);
	tcase_add_loop_test(tc, test_misuse_refused, 0, 7);
	tcase_add_test(tc, test_histogram_cumulative);
	tcase_add_test(tc, test_double_shortest);
	tcase_add_test(tc, test_buffer_grows);
	suite_add_tcase(s, tc);

	tc = tcase_create("daemon");
	tcase_add_test(tc, test_render_relay_set);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return testutil_run(srunner_create(metrics_suite()));
}
