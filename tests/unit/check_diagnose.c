/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

#include "autoconf.h"

#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "diagnose.h"
#include "testutil.h"

static void
set_addr(struct sockaddr_storage *ss, const char *text)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, text, &sin->sin_addr) == 1)
		sin->sin_family = AF_INET;
	else {
		ck_assert_int_eq(inet_pton(AF_INET6, text, &sin6->sin6_addr),
		    1);
		sin6->sin6_family = AF_INET6;
	}
}

static void
add_listen(struct diagnose_facts *f, const char *name, const char *addr,
    const char *text)
{
	struct diagnose_listen	*dl = &f->df_listens[f->df_nlistens++];

	snprintf(dl->dl_name, sizeof(dl->dl_name), "%s", name);
	snprintf(dl->dl_text, sizeof(dl->dl_text), "%s", text);
	set_addr(&dl->dl_addr, addr);
}

static void
add_endpoint(struct diagnose_facts *f, const char *addr, uint32_t flags)
{
	struct diagnose_endpoint *e = &f->df_endpoints[f->df_nendpoints];

	set_addr(&e->de_addr, addr);
	e->de_id = (uint8_t)++f->df_nendpoints;
	e->de_flags = flags;
}

/*
 * A host where everything is right: MPTCP on, in-kernel path manager,
 * limits above 0, a signal endpoint, blackhole detection quiet, the
 * listen address one of the host's.
 */
static struct diagnose_facts *
good_facts(void)
{
	struct diagnose_facts	*f;

	f = calloc(1, sizeof(*f));
	ck_assert_ptr_nonnull(f);
	f->df_kernel_mptcp = true;
	f->df_enabled = 1;
	f->df_socket_ok = true;
	snprintf(f->df_path_manager, sizeof(f->df_path_manager), "kernel");
	snprintf(f->df_scheduler, sizeof(f->df_scheduler), "default");
	f->df_limits_known = true;
	f->df_limit_subflows = 2;
	f->df_limit_add_addr_accepted = 2;
	f->df_endpoints_known = true;
	add_endpoint(f, "198.18.2.1", DIAGNOSE_EP_SIGNAL);
	f->df_blackhole_timeout = 3600;
	f->df_counters_known = true;
	f->df_hostaddrs_known = true;
	set_addr(&f->df_hostaddrs[f->df_nhostaddrs++], "127.0.0.1");
	set_addr(&f->df_hostaddrs[f->df_nhostaddrs++], "198.18.1.1");
	set_addr(&f->df_hostaddrs[f->df_nhostaddrs++], "198.18.2.1");
	set_addr(&f->df_hostaddrs[f->df_nhostaddrs++], "2001:db8::1");
	f->df_have_config = true;
	f->df_upstream_mptcp = true;
	add_listen(f, "web", "198.18.1.1", "198.18.1.1:443");
	return f;
}

/* Warnings of f, all of them stored. */
static int
warnings(const struct diagnose_facts *f, struct diagnose_warning *w)
{
	int	n = diagnose_warnings(f, w, DIAGNOSE_WARNINGS_MAX);

	ck_assert_int_le(n, DIAGNOSE_WARNINGS_MAX);
	return n;
}

/* Exactly one warning, of the given kind; returns its text. */
static const char *
only_warning(const struct diagnose_facts *f, enum diagnose_code code)
{
	static struct diagnose_warning	w[DIAGNOSE_WARNINGS_MAX];
	int				n, i;

	/* Nothing left from the last call: what is checked was written. */
	memset(w, 0, sizeof(w));
	n = warnings(f, w);
	if (n != 1 || w[0].dw_code != code)
		for (i = 0; i < n; i++)
			fprintf(stderr, "  [%d] %s\n", w[i].dw_code,
			    w[i].dw_text);
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(w[0].dw_code, code);
	return w[0].dw_text;
}

/* The text of the warning of the given kind, among others. */
static const char *
only_warning_of(const struct diagnose_facts *f, enum diagnose_code code)
{
	static struct diagnose_warning	w[DIAGNOSE_WARNINGS_MAX];
	int				n, i;

	n = warnings(f, w);
	for (i = 0; i < n; i++)
		if (w[i].dw_code == code)
			return w[i].dw_text;
	ck_abort_msg("no warning %d", code);
	return NULL;
}

static bool
has_warning(const struct diagnose_facts *f, enum diagnose_code code)
{
	struct diagnose_warning	w[DIAGNOSE_WARNINGS_MAX];
	int			n, i;

	n = warnings(f, w);
	for (i = 0; i < n; i++)
		if (w[i].dw_code == code)
			return true;
	return false;
}

START_TEST(test_good_host_no_warning)
{
	struct diagnose_facts	*f = good_facts();
	struct diagnose_warning	 w[DIAGNOSE_WARNINGS_MAX];

	ck_assert_int_eq(diagnose_warnings(f, w, DIAGNOSE_WARNINGS_MAX), 0);
	ck_assert(diagnose_usable(f));
	free(f);
}
END_TEST

START_TEST(test_no_kernel_mptcp)
{
	struct diagnose_facts	*f = good_facts();
	const char		*t;

	f->df_kernel_mptcp = false;
	f->df_enabled = -1;
	f->df_socket_ok = false;
	f->df_limits_known = f->df_endpoints_known = false;
	f->df_nendpoints = 0;
	t = only_warning(f, DIAGNOSE_W_NO_KERNEL_MPTCP);
	ck_assert_ptr_nonnull(strstr(t, "CONFIG_MPTCP"));
	ck_assert(!diagnose_usable(f));
	free(f);
}
END_TEST

START_TEST(test_disabled_names_sysctl)
{
	struct diagnose_facts	*f = good_facts();
	const char		*t;

	f->df_enabled = 0;
	f->df_socket_ok = false;
	t = only_warning(f, DIAGNOSE_W_DISABLED);
	ck_assert_ptr_nonnull(strstr(t, "net.mptcp.enabled = 0"));
	ck_assert_ptr_nonnull(strstr(t, "sysctl -w net.mptcp.enabled=1"));
	ck_assert(!diagnose_usable(f));
	free(f);
}
END_TEST

START_TEST(test_enabled_but_socket_refused)
{
	struct diagnose_facts	*f = good_facts();
	const char		*t;

	f->df_socket_ok = false;
	snprintf(f->df_socket_error, sizeof(f->df_socket_error),
	    "Protocol not available");
	t = only_warning(f, DIAGNOSE_W_SOCKET);
	ck_assert_ptr_nonnull(strstr(t, "Protocol not available"));
	ck_assert(!diagnose_usable(f));
	free(f);
}
END_TEST

START_TEST(test_subflow_limit_zero)
{
	struct diagnose_facts	*f = good_facts();
	const char		*t;

	f->df_limit_subflows = 0;
	t = only_warning(f, DIAGNOSE_W_SUBFLOWS_ZERO);
	ck_assert_ptr_nonnull(strstr(t, "subflow limit is 0"));
	ck_assert_ptr_nonnull(strstr(t, "ip mptcp limits set"));
	/* Single-path MPTCP still works: a warning, not a failure. */
	ck_assert(diagnose_usable(f));
	free(f);
}
END_TEST

START_TEST(test_no_signal_endpoint)
{
	struct diagnose_facts	*f = good_facts();
	const char		*t;

	/* A subflow endpoint is no announcement. */
	f->df_endpoints[0].de_flags = DIAGNOSE_EP_SUBFLOW | DIAGNOSE_EP_BACKUP;
	t = only_warning(f, DIAGNOSE_W_NO_SIGNAL);
	ck_assert_ptr_nonnull(strstr(t, "'signal'"));
	ck_assert_ptr_nonnull(strstr(t, "clients can only add subflows from "
	    "their own side"));
	ck_assert(diagnose_usable(f));

	f->df_nendpoints = 0;
	only_warning(f, DIAGNOSE_W_NO_SIGNAL);

	/* One signal endpoint among others is enough. */
	add_endpoint(f, "198.18.1.1", DIAGNOSE_EP_SUBFLOW);
	add_endpoint(f, "198.18.2.1", DIAGNOSE_EP_SIGNAL | DIAGNOSE_EP_BACKUP);
	ck_assert(!has_warning(f, DIAGNOSE_W_NO_SIGNAL));
	free(f);
}
END_TEST

START_TEST(test_unknown_endpoints_no_guess)
{
	struct diagnose_facts	*f = good_facts();
	const char		*t;

	f->df_limits_known = f->df_endpoints_known = false;
	f->df_nendpoints = 0;
	f->df_limit_subflows = 0;
	snprintf(f->df_netlink_error, sizeof(f->df_netlink_error),
	    "no 'mptcp_pm' generic netlink family");
	t = only_warning(f, DIAGNOSE_W_NETLINK);
	ck_assert_ptr_nonnull(strstr(t, "mptcp_pm"));
	free(f);
}
END_TEST

START_TEST(test_userspace_pm)
{
	struct diagnose_facts	*f = good_facts();

	/* Limits and endpoints do not matter to the userspace PM. */
	snprintf(f->df_path_manager, sizeof(f->df_path_manager), "userspace");
	f->df_limit_subflows = 0;
	f->df_limit_add_addr_accepted = 0;
	f->df_nendpoints = 0;
	ck_assert_ptr_nonnull(strstr(only_warning(f, DIAGNOSE_W_USERSPACE_PM),
	    "mptcpd"));
	free(f);
}
END_TEST

/* A gateway: its second path comes from a subflow endpoint or an
 * announcement it accepts; a signal endpoint of its own is no matter. */
START_TEST(test_gateway_second_path)
{
	struct diagnose_facts	*f = good_facts();
	const char		*t;

	snprintf(f->df_transparent, sizeof(f->df_transparent), "gw");
	f->df_transparent_mptcp = true;
	f->df_all_transparent = true;
	/* Announcements accepted: no warning. */
	ck_assert_int_eq(warnings(f, (struct diagnose_warning[
	    DIAGNOSE_WARNINGS_MAX]){ 0 }), 0);
	/* Nothing accepted, no subflow endpoint: one path. */
	f->df_limit_add_addr_accepted = 0;
	f->df_upstream_mptcp = false;
	f->df_nendpoints = 0;
	t = only_warning(f, DIAGNOSE_W_NO_SECOND_PATH);
	ck_assert_ptr_nonnull(strstr(t, "listener 'gw' is transparent"));
	ck_assert_ptr_nonnull(strstr(t, "no 'subflow' endpoint, and "
	    "add_addr_accepted is 0"));
	/* A subflow endpoint gives it; no signal endpoint is needed. */
	add_endpoint(f, "198.18.52.1", DIAGNOSE_EP_SUBFLOW);
	ck_assert_int_eq(warnings(f, (struct diagnose_warning[
	    DIAGNOSE_WARNINGS_MAX]){ 0 }), 0);
	/* Unless no subflow may be added at all. */
	f->df_limit_subflows = 0;
	ck_assert(has_warning(f, DIAGNOSE_W_SUBFLOWS_ZERO));
	ck_assert_ptr_nonnull(strstr(only_warning_of(f,
	    DIAGNOSE_W_NO_SECOND_PATH), "the subflow limit is 0"));
	/* Plain TCP to the upstream: never more than one path. */
	f->df_limit_subflows = 2;
	f->df_transparent_mptcp = false;
	ck_assert_ptr_nonnull(strstr(only_warning(f,
	    DIAGNOSE_W_NO_SECOND_PATH), "upstream_protocol = tcp"));
	/* With another kind of listener, its clients may join. */
	f->df_transparent_mptcp = true;
	f->df_nendpoints = 0;
	add_endpoint(f, "198.18.52.1", DIAGNOSE_EP_SUBFLOW);
	f->df_all_transparent = false;
	only_warning(f, DIAGNOSE_W_NO_SIGNAL);
	free(f);
}
END_TEST

START_TEST(test_add_addr_accepted_zero_with_mptcp_upstream)
{
	struct diagnose_facts	*f = good_facts();

	f->df_limit_add_addr_accepted = 0;
	ck_assert_ptr_nonnull(strstr(only_warning(f, DIAGNOSE_W_ADD_ADDR_ZERO),
	    "upstream_protocol = mptcp"));
	/* Only the connecting side uses announcements. */
	f->df_upstream_mptcp = false;
	ck_assert_int_eq(warnings(f, (struct diagnose_warning[
	    DIAGNOSE_WARNINGS_MAX]){ 0 }), 0);
	free(f);
}
END_TEST

START_TEST(test_blackhole_fired)
{
	struct diagnose_facts	*f = good_facts();
	const char		*t;

	f->df_blackhole = 1;
	t = only_warning(f, DIAGNOSE_W_BLACKHOLE);
	ck_assert_ptr_nonnull(strstr(t, "MPTcpExtBlackhole = 1"));
	ck_assert_ptr_nonnull(strstr(t, "upstream_protocol = mptcp gives "
	    "plain TCP"));
	ck_assert_ptr_nonnull(strstr(t, "net.mptcp.blackhole_timeout=0"));
	ck_assert(diagnose_usable(f));

	/* SYNs sent as TCP because of it say the same. */
	f->df_blackhole = 0;
	f->df_syntx_disabled = 7;
	t = only_warning(f, DIAGNOSE_W_BLACKHOLE);
	ck_assert_ptr_nonnull(strstr(t, "MPCapableSYNTXDisabled = 7"));
	free(f);
}
END_TEST

START_TEST(test_blackhole_quiet_cases)
{
	struct diagnose_facts	*f = good_facts();

	f->df_blackhole = 3;
	f->df_syntx_disabled = 3;
	/* Detection off: old counts do not matter. */
	f->df_blackhole_timeout = 0;
	ck_assert(!has_warning(f, DIAGNOSE_W_BLACKHOLE));
	/* A kernel without the detection (before 6.12). */
	f->df_blackhole_timeout = -1;
	ck_assert(!has_warning(f, DIAGNOSE_W_BLACKHOLE));
	/* Counters unreadable: no guess. */
	f->df_blackhole_timeout = 3600;
	f->df_counters_known = false;
	ck_assert(!has_warning(f, DIAGNOSE_W_BLACKHOLE));
	free(f);
}
END_TEST

START_TEST(test_listen_address_not_local)
{
	struct diagnose_facts	*f = good_facts();
	const char		*t;

	add_listen(f, "api", "198.18.9.9", "198.18.9.9:8443");
	t = only_warning(f, DIAGNOSE_W_LISTEN_NOT_LOCAL);
	ck_assert_ptr_nonnull(strstr(t, "listener 'api'"));
	ck_assert_ptr_nonnull(strstr(t, "198.18.9.9:8443"));
	ck_assert(diagnose_usable(f));
	free(f);

	f = good_facts();
	add_listen(f, "v6", "2001:db8::2", "[2001:db8::2]:443");
	ck_assert_ptr_nonnull(strstr(only_warning(f,
	    DIAGNOSE_W_LISTEN_NOT_LOCAL), "[2001:db8::2]:443"));
	free(f);
}
END_TEST

START_TEST(test_listen_address_local_forms)
{
	struct diagnose_facts	*f = good_facts();

	add_listen(f, "any4", "0.0.0.0", "0.0.0.0:80");
	add_listen(f, "any6", "::", "*:80");
	add_listen(f, "lo", "127.0.0.2", "127.0.0.2:80");
	add_listen(f, "mapped", "::ffff:198.18.2.1", "[::ffff:198.18.2.1]:80");
	add_listen(f, "v6", "2001:db8::1", "[2001:db8::1]:80");
	ck_assert_int_eq(warnings(f, (struct diagnose_warning[
	    DIAGNOSE_WARNINGS_MAX]){ 0 }), 0);

	/* Without the host's address list no listener is judged. */
	add_listen(f, "far", "192.0.2.7", "192.0.2.7:80");
	ck_assert(has_warning(f, DIAGNOSE_W_LISTEN_NOT_LOCAL));
	f->df_hostaddrs_known = false;
	ck_assert(!has_warning(f, DIAGNOSE_W_LISTEN_NOT_LOCAL));
	free(f);
}
END_TEST

START_TEST(test_warnings_counted_beyond_max)
{
	struct diagnose_facts	*f = good_facts();
	struct diagnose_warning	 w[3];
	int			 i;

	f->df_limit_subflows = 0;
	for (i = 0; i < 20; i++)
		add_listen(f, "far", "192.0.2.7", "192.0.2.7:80");
	memset(w, 0, sizeof(w));
	ck_assert_int_eq(diagnose_warnings(f, w, 3), 21);
	ck_assert_int_eq(w[0].dw_code, DIAGNOSE_W_SUBFLOWS_ZERO);
	ck_assert_int_eq(w[2].dw_code, DIAGNOSE_W_LISTEN_NOT_LOCAL);
	ck_assert_int_eq(diagnose_warnings(f, NULL, 0), 21);
	free(f);
}
END_TEST

/* diagnose_print() of f, as a string the caller frees. */
static char *
printed(const struct diagnose_facts *f)
{
	char	*buf = NULL;
	size_t	 len = 0;
	FILE	*fp;

	fp = open_memstream(&buf, &len);
	ck_assert_ptr_nonnull(fp);
	diagnose_print(f, fp);
	fclose(fp);
	return buf;
}

START_TEST(test_print_endpoints_and_limits)
{
	struct diagnose_facts	*f = good_facts();
	struct sockaddr_in	*sin;
	char			*out;

	add_endpoint(f, "198.18.1.1", DIAGNOSE_EP_SUBFLOW | DIAGNOSE_EP_BACKUP);
	sin = (struct sockaddr_in *)&f->df_endpoints[1].de_addr;
	sin->sin_port = htons(8000);
	f->df_endpoints[1].de_ifindex = 3;
	snprintf(f->df_endpoints[1].de_ifname,
	    sizeof(f->df_endpoints[1].de_ifname), "veth1");
	out = printed(f);
	ck_assert_ptr_nonnull(strstr(out, "net.mptcp.enabled:  1\n"));
	ck_assert_ptr_nonnull(strstr(out, "path manager:       kernel\n"));
	ck_assert_ptr_nonnull(strstr(out, "scheduler:          default\n"));
	ck_assert_ptr_nonnull(strstr(out, "limits:             subflows 2 "
	    "add_addr_accepted 2\n"));
	ck_assert_ptr_nonnull(strstr(out, "    198.18.2.1 id 1 signal\n"));
	ck_assert_ptr_nonnull(strstr(out, "    198.18.1.1 port 8000 id 2 "
	    "subflow,backup dev veth1\n"));
	ck_assert_ptr_null(strstr(out, "warning:"));
	ck_assert_ptr_nonnull(strstr(out, "MPTCP is usable.\n"));
	free(out);
	free(f);
}
END_TEST

START_TEST(test_print_disabled)
{
	struct diagnose_facts	*f = good_facts();
	char			*out;

	f->df_enabled = 0;
	f->df_socket_ok = false;
	out = printed(f);
	ck_assert_ptr_nonnull(strstr(out, "net.mptcp.enabled:  0\n"));
	ck_assert_ptr_nonnull(strstr(out, "warning: MPTCP is disabled"));
	ck_assert_ptr_nonnull(strstr(out, "MPTCP is NOT usable"));
	free(out);
	free(f);
}
END_TEST

/*
 * The collector against a real kernel, in a network namespace of its own
 * (each Check test forks): a fresh namespace has MPTCP on, no endpoints,
 * lo's addresses, and after net.mptcp.enabled=0 is written, MPTCP is not
 * usable.
 */
static bool
has_hostaddr4(const struct diagnose_facts *f, const char *text)
{
	const struct sockaddr_in	*sin;
	struct in_addr			 a;
	int				 i;

	ck_assert_int_eq(inet_pton(AF_INET, text, &a), 1);
	for (i = 0; i < f->df_nhostaddrs; i++) {
		sin = (const struct sockaddr_in *)&f->df_hostaddrs[i];
		if (sin->sin_family == AF_INET &&
		    sin->sin_addr.s_addr == a.s_addr)
			return true;
	}
	return false;
}

START_TEST(test_collect_fresh_namespace)
{
	struct diagnose_facts	*f = calloc(1, sizeof(*f));

	ck_assert_ptr_nonnull(f);
	testutil_netns();
	diagnose_collect(NULL, f);
	ck_assert(f->df_kernel_mptcp);
	ck_assert_int_eq(f->df_enabled, 1);
	ck_assert(f->df_socket_ok);
	ck_assert_msg(f->df_netlink_error[0] == '\0', "%s",
	    f->df_netlink_error);
	ck_assert(f->df_limits_known);
	ck_assert(f->df_endpoints_known);
	ck_assert_int_eq(f->df_nendpoints, 0);
	ck_assert(f->df_counters_known);
	ck_assert(f->df_hostaddrs_known);
	ck_assert(has_hostaddr4(f, "127.0.0.1"));
	ck_assert(diagnose_usable(f));
	ck_assert(has_warning(f, DIAGNOSE_W_NO_SIGNAL));

	testutil_sysctl_write("net/mptcp/enabled", "0");
	diagnose_collect(NULL, f);
	ck_assert_int_eq(f->df_enabled, 0);
	ck_assert(!f->df_socket_ok);
	ck_assert(!diagnose_usable(f));
	ck_assert(has_warning(f, DIAGNOSE_W_DISABLED));
	free(f);
}
END_TEST

static Suite *
diagnose_suite(void)
{
	Suite	*s = suite_create("diagnose");
	TCase	*tw = tcase_create("warnings");
	TCase	*tp = tcase_create("print");
	TCase	*tk;

	tcase_add_test(tw, test_good_host_no_warning);
	tcase_add_test(tw, test_no_kernel_mptcp);
	tcase_add_test(tw, test_disabled_names_sysctl);
	tcase_add_test(tw, test_enabled_but_socket_refused);
	tcase_add_test(tw, test_subflow_limit_zero);
	tcase_add_test(tw, test_no_signal_endpoint);
	tcase_add_test(tw, test_unknown_endpoints_no_guess);
	tcase_add_test(tw, test_userspace_pm);
	tcase_add_test(tw, test_add_addr_accepted_zero_with_mptcp_upstream);
	tcase_add_test(tw, test_gateway_second_path);
	tcase_add_test(tw, test_blackhole_fired);
	tcase_add_test(tw, test_blackhole_quiet_cases);
	tcase_add_test(tw, test_listen_address_not_local);
	tcase_add_test(tw, test_listen_address_local_forms);
	tcase_add_test(tw, test_warnings_counted_beyond_max);
	suite_add_tcase(s, tw);

	tcase_add_test(tp, test_print_endpoints_and_limits);
	tcase_add_test(tp, test_print_disabled);
	suite_add_tcase(s, tp);

	if (testutil_kernel_tests("check_diagnose", 0)) {
		tk = tcase_create("kernel");
		tcase_add_test(tk, test_collect_fresh_namespace);
		suite_add_tcase(s, tk);
	}
	return s;
}

int
main(void)
{
	return testutil_run(srunner_create(diagnose_suite()));
}
