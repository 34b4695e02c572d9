/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

#include "autoconf.h"

#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse.h"
#include "testutil.h"

/*
 * Stored in an output before a parse: a failed parse must leave it alone,
 * a successful one must overwrite it (even with the value it held last).
 */
#define UNTOUCHED	UINT64_C(0xdeadbeef)

static void	assert_uint_fails(const char *, uint64_t, uint64_t,
		    const char *);
static void	assert_hostport_fails(const char *, const char *);
static void	assert_hostport(const char *, enum parse_host_kind,
		    const char *, unsigned);
static Suite	*parse_suite(void);

/* Fails with reason want (NULL: any reason) and leaves the output alone. */
static void
assert_uint_fails(const char *s, uint64_t min, uint64_t max, const char *want)
{
	uint64_t	 v = UNTOUCHED;
	const char	*why = NULL;

	ck_assert_msg(parse_uint(s, min, max, &v, &why) == -1,
	    "parse_uint(\"%s\") should fail", s);
	ck_assert_uint_eq(v, UNTOUCHED);
	ck_assert_ptr_nonnull(why);
	if (want != NULL)
		ck_assert_str_eq(why, want);
}

static void
assert_hostport_fails(const char *s, const char *want)
{
	struct parse_hostport	 hp, orig;
	const char		*why = NULL;

	memset(&hp, 0xa5, sizeof(hp));
	orig = hp;
	ck_assert_msg(parse_hostport(s, &hp, &why) == -1,
	    "parse_hostport(\"%s\") should fail", s);
	ck_assert_msg(memcmp(&hp, &orig, sizeof(hp)) == 0,
	    "parse_hostport(\"%s\") changed its output on error", s);
	ck_assert_ptr_nonnull(why);
	if (want != NULL)
		ck_assert_str_eq(why, want);
}

static void
assert_hostport(const char *s, enum parse_host_kind kind, const char *host,
    unsigned port)
{
	struct parse_hostport	 hp;
	const char		*why = NULL;

	memset(&hp, 0xa5, sizeof(hp));
	ck_assert_msg(parse_hostport(s, &hp, &why) == 0,
	    "parse_hostport(\"%s\") failed: %s", s, why ? why : "(no reason)");
	ck_assert_int_eq(hp.hp_kind, kind);
	ck_assert_str_eq(hp.hp_host, host);
	ck_assert_uint_eq(hp.hp_port, port);
}

START_TEST(test_uint_accepts_decimal)
{
	uint64_t	 v = UNTOUCHED;
	const char	*why = NULL;

	ck_assert_int_eq(parse_uint("0", 0, 10, &v, &why), 0);
	ck_assert_uint_eq(v, 0);
	ck_assert_int_eq(parse_uint("42", 0, 100, &v, &why), 0);
	ck_assert_uint_eq(v, 42);
	ck_assert_int_eq(parse_uint("007", 0, 100, &v, &why), 0);
	ck_assert_uint_eq(v, 7);
	ck_assert_int_eq(parse_uint("18446744073709551615", 0, UINT64_MAX,
	    &v, &why), 0);
	ck_assert_uint_eq(v, UINT64_MAX);
}
END_TEST

START_TEST(test_uint_accepts_range_bounds)
{
	uint64_t	 v = UNTOUCHED;
	const char	*why = NULL;

	ck_assert_int_eq(parse_uint("1", 1, 65535, &v, &why), 0);
	ck_assert_uint_eq(v, 1);
	ck_assert_int_eq(parse_uint("65535", 1, 65535, &v, &why), 0);
	ck_assert_uint_eq(v, 65535);
}
END_TEST

START_TEST(test_uint_rejects_empty)
{
	assert_uint_fails("", 0, 100, "empty value");
}
END_TEST

START_TEST(test_uint_rejects_sign)
{
	assert_uint_fails("-1", 0, 100, NULL);
	assert_uint_fails("+1", 0, 100, NULL);
	assert_uint_fails("-0", 0, 100, NULL);
}
END_TEST

START_TEST(test_uint_rejects_blanks)
{
	assert_uint_fails(" 5", 0, 100, NULL);
	assert_uint_fails("\t5", 0, 100, NULL);
	assert_uint_fails("5 ", 0, 100, "trailing garbage");
	assert_uint_fails("5 5", 0, 100, "trailing garbage");
}
END_TEST

START_TEST(test_uint_rejects_trailing_garbage)
{
	assert_uint_fails("10x", 0, 100, "trailing garbage");
	assert_uint_fails("1.5", 0, 100, "trailing garbage");
	assert_uint_fails("10k", 0, 100000, "trailing garbage");
	assert_uint_fails("0x10", 0, 100, "trailing garbage");
}
END_TEST

START_TEST(test_uint_rejects_non_number)
{
	assert_uint_fails("abc", 0, 100, NULL);
	assert_uint_fails("x1", 0, 100, NULL);
	assert_uint_fails(".5", 0, 100, NULL);
}
END_TEST

START_TEST(test_uint_rejects_overflow)
{
	assert_uint_fails("18446744073709551616", 0, UINT64_MAX, NULL);
	assert_uint_fails("99999999999999999999999", 0, UINT64_MAX, NULL);
}
END_TEST

START_TEST(test_uint_rejects_out_of_range)
{
	assert_uint_fails("0", 1, 65535, "number out of range");
	assert_uint_fails("65536", 1, 65535, "number out of range");
	assert_uint_fails("4", 5, 10, "number out of range");
}
END_TEST

START_TEST(test_size_plain_bytes)
{
	uint64_t	 v = UNTOUCHED;
	const char	*why = NULL;

	ck_assert_int_eq(parse_size("0", UINT64_MAX, &v, &why), 0);
	ck_assert_uint_eq(v, 0);
	ck_assert_int_eq(parse_size("4096", UINT64_MAX, &v, &why), 0);
	ck_assert_uint_eq(v, 4096);
}
END_TEST

START_TEST(test_size_suffixes)
{
	uint64_t	 v = UNTOUCHED;
	const char	*why = NULL;

	ck_assert_int_eq(parse_size("256k", UINT64_MAX, &v, &why), 0);
	ck_assert_uint_eq(v, 262144);
	v = UNTOUCHED;
	ck_assert_int_eq(parse_size("256K", UINT64_MAX, &v, &why), 0);
	ck_assert_uint_eq(v, 262144);
	ck_assert_int_eq(parse_size("4m", UINT64_MAX, &v, &why), 0);
	ck_assert_uint_eq(v, 4194304);
	v = UNTOUCHED;
	ck_assert_int_eq(parse_size("4M", UINT64_MAX, &v, &why), 0);
	ck_assert_uint_eq(v, 4194304);
	ck_assert_int_eq(parse_size("1g", UINT64_MAX, &v, &why), 0);
	ck_assert_uint_eq(v, 1073741824);
	v = UNTOUCHED;
	ck_assert_int_eq(parse_size("1G", UINT64_MAX, &v, &why), 0);
	ck_assert_uint_eq(v, 1073741824);
}
END_TEST

START_TEST(test_size_max_is_inclusive)
{
	uint64_t	 v = UNTOUCHED;
	const char	*why = NULL;

	ck_assert_int_eq(parse_size("1g", 1073741824, &v, &why), 0);
	ck_assert_uint_eq(v, 1073741824);
}
END_TEST

START_TEST(test_size_rejects_bad_forms)
{
	static const char *const bad[] = {
		"", " 5", "-1", "+1", "5 ", "1.5", "k", "10x", "10kb", "10KB",
		"10b", "10 k", "4mm", "1t",
	};
	size_t		 i;
	uint64_t	 v;
	const char	*why;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = UNTOUCHED;
		why = NULL;
		ck_assert_msg(parse_size(bad[i], UINT64_MAX, &v, &why) == -1,
		    "parse_size(\"%s\") should fail", bad[i]);
		ck_assert_uint_eq(v, UNTOUCHED);
		ck_assert_ptr_nonnull(why);
	}
}
END_TEST

START_TEST(test_size_rejects_too_large)
{
	uint64_t	 v = UNTOUCHED;
	const char	*why = NULL;

	ck_assert_int_eq(parse_size("1g", 1073741823, &v, &why), -1);
	ck_assert_str_eq(why, "too large");
	ck_assert_uint_eq(v, UNTOUCHED);
	/* The multiplication itself would overflow 64 bits. */
	ck_assert_int_eq(parse_size("17179869184g", UINT64_MAX, &v, &why), -1);
	ck_assert_str_eq(why, "too large");
	ck_assert_uint_eq(v, UNTOUCHED);
	/* So would the number before the suffix. */
	ck_assert_int_eq(parse_size("18446744073709551616", UINT64_MAX, &v,
	    &why), -1);
	ck_assert_uint_eq(v, UNTOUCHED);
}
END_TEST

START_TEST(test_duration_units)
{
	uint64_t	 ms = UNTOUCHED;
	const char	*why = NULL;

	ck_assert_int_eq(parse_duration("500ms", UINT64_MAX, &ms, &why), 0);
	ck_assert_uint_eq(ms, 500);
	ck_assert_int_eq(parse_duration("30s", UINT64_MAX, &ms, &why), 0);
	ck_assert_uint_eq(ms, 30000);
	ck_assert_int_eq(parse_duration("2m", UINT64_MAX, &ms, &why), 0);
	ck_assert_uint_eq(ms, 120000);
	ck_assert_int_eq(parse_duration("1h", UINT64_MAX, &ms, &why), 0);
	ck_assert_uint_eq(ms, 3600000);
	ck_assert_int_eq(parse_duration("0", UINT64_MAX, &ms, &why), 0);
	ck_assert_uint_eq(ms, 0);
	ms = UNTOUCHED;
	ck_assert_int_eq(parse_duration("0ms", UINT64_MAX, &ms, &why), 0);
	ck_assert_uint_eq(ms, 0);
}
END_TEST

START_TEST(test_duration_bare_number_is_seconds)
{
	uint64_t	 ms = UNTOUCHED;
	const char	*why = NULL;

	ck_assert_int_eq(parse_duration("45", UINT64_MAX, &ms, &why), 0);
	ck_assert_uint_eq(ms, 45000);
}
END_TEST

START_TEST(test_duration_units_any_case)
{
	uint64_t	 ms = UNTOUCHED;
	const char	*why = NULL;

	ck_assert_int_eq(parse_duration("500MS", UINT64_MAX, &ms, &why), 0);
	ck_assert_uint_eq(ms, 500);
	ck_assert_int_eq(parse_duration("30S", UINT64_MAX, &ms, &why), 0);
	ck_assert_uint_eq(ms, 30000);
	ck_assert_int_eq(parse_duration("1H", UINT64_MAX, &ms, &why), 0);
	ck_assert_uint_eq(ms, 3600000);
}
END_TEST

START_TEST(test_duration_rejects_bad_forms)
{
	static const char *const bad[] = {
		"", " 5", "-1", "+1", "5 ", "1.5", "s", "ms", "10x", "10sec",
		"5 s", "1d", "10mss", "1hm",
	};
	size_t		 i;
	uint64_t	 ms;
	const char	*why;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ms = UNTOUCHED;
		why = NULL;
		ck_assert_msg(parse_duration(bad[i], UINT64_MAX, &ms, &why) ==
		    -1, "parse_duration(\"%s\") should fail", bad[i]);
		ck_assert_uint_eq(ms, UNTOUCHED);
		ck_assert_ptr_nonnull(why);
	}
}
END_TEST

START_TEST(test_duration_rejects_too_long)
{
	uint64_t	 ms = UNTOUCHED;
	const char	*why = NULL;

	ck_assert_int_eq(parse_duration("2h", 3600000, &ms, &why), -1);
	ck_assert_str_eq(why, "too large");
	ck_assert_uint_eq(ms, UNTOUCHED);
	ck_assert_int_eq(parse_duration("1h", 3600000, &ms, &why), 0);
	ck_assert_uint_eq(ms, 3600000);
	/* Seconds to milliseconds would overflow 64 bits. */
	ms = UNTOUCHED;
	ck_assert_int_eq(parse_duration("18446744073709552", UINT64_MAX, &ms,
	    &why), -1);
	ck_assert_str_eq(why, "too large");
	ck_assert_uint_eq(ms, UNTOUCHED);
	ck_assert_int_eq(parse_duration("18446744073709551616ms", UINT64_MAX,
	    &ms, &why), -1);
	ck_assert_uint_eq(ms, UNTOUCHED);
}
END_TEST

START_TEST(test_bool_true_forms)
{
	static const char *const yes[] = {
		"yes", "YES", "Yes", "true", "TRUE", "True", "on", "ON", "On",
		"1",
	};
	size_t		 i;
	bool		 b;
	const char	*why = NULL;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		b = false;
		ck_assert_msg(parse_bool(yes[i], &b, &why) == 0,
		    "parse_bool(\"%s\") failed", yes[i]);
		ck_assert_msg(b, "parse_bool(\"%s\") is not true", yes[i]);
	}
}
END_TEST

START_TEST(test_bool_false_forms)
{
	static const char *const no[] = {
		"no", "NO", "No", "false", "FALSE", "False", "off", "OFF",
		"Off", "0",
	};
	size_t		 i;
	bool		 b;
	const char	*why = NULL;

	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		b = true;
		ck_assert_msg(parse_bool(no[i], &b, &why) == 0,
		    "parse_bool(\"%s\") failed", no[i]);
		ck_assert_msg(!b, "parse_bool(\"%s\") is not false", no[i]);
	}
}
END_TEST

START_TEST(test_bool_rejects_others)
{
	static const char *const bad[] = {
		"", "y", "n", "t", "f", "2", "01", "yess", " yes", "yes ",
		"enable", "-1",
	};
	size_t		 i;
	bool		 b;
	const char	*why;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		b = true;
		ck_assert_msg(parse_bool(bad[i], &b, &why) == -1,
		    "parse_bool(\"%s\") should fail", bad[i]);
		ck_assert_msg(b, "parse_bool(\"%s\") changed its output",
		    bad[i]);
		ck_assert_ptr_nonnull(why);
		b = false;
		ck_assert_int_eq(parse_bool(bad[i], &b, &why), -1);
		ck_assert_msg(!b, "parse_bool(\"%s\") changed its output",
		    bad[i]);
	}
}
END_TEST

START_TEST(test_hostport_ipv4)
{
	assert_hostport("1.2.3.4:80", PARSE_HOST_IPV4, "1.2.3.4", 80);
	assert_hostport("127.0.0.1:8080", PARSE_HOST_IPV4, "127.0.0.1", 8080);
	assert_hostport("0.0.0.0:1", PARSE_HOST_IPV4, "0.0.0.0", 1);
	assert_hostport("255.255.255.255:65535", PARSE_HOST_IPV4,
	    "255.255.255.255", 65535);
}
END_TEST

START_TEST(test_hostport_ipv6_in_brackets)
{
	assert_hostport("[::1]:443", PARSE_HOST_IPV6, "::1", 443);
	assert_hostport("[::]:80", PARSE_HOST_IPV6, "::", 80);
	assert_hostport("[2001:db8::1]:8443", PARSE_HOST_IPV6, "2001:db8::1",
	    8443);
	assert_hostport("[::ffff:192.0.2.1]:80", PARSE_HOST_IPV6,
	    "::ffff:192.0.2.1", 80);
}
END_TEST

START_TEST(test_hostport_wildcard)
{
	assert_hostport("*:80", PARSE_HOST_WILDCARD, "*", 80);
	assert_hostport("*:65535", PARSE_HOST_WILDCARD, "*", 65535);
}
END_TEST

START_TEST(test_hostport_hostname)
{
	assert_hostport("host.example:80", PARSE_HOST_NAME, "host.example",
	    80);
	assert_hostport("localhost:8080", PARSE_HOST_NAME, "localhost", 8080);
	assert_hostport("a-b.c-d.example:1", PARSE_HOST_NAME,
	    "a-b.c-d.example", 1);
	assert_hostport("Web01.Example.COM:443", PARSE_HOST_NAME,
	    "Web01.Example.COM", 443);
	assert_hostport("1host.example:80", PARSE_HOST_NAME, "1host.example",
	    80);
	assert_hostport("example.com.:80", PARSE_HOST_NAME, "example.com.",
	    80);
}
END_TEST

START_TEST(test_hostport_hostname_lengths)
{
	char	 label[64 + 1], name[300], in[320];
	size_t	 i;

	/* A 63-character label is fine, 64 is not. */
	memset(label, 'a', 63);
	label[63] = '\0';
	snprintf(in, sizeof(in), "%s.example:80", label);
	snprintf(name, sizeof(name), "%s.example", label);
	assert_hostport(in, PARSE_HOST_NAME, name, 80);
	memset(label, 'a', 64);
	label[64] = '\0';
	snprintf(in, sizeof(in), "%s.example:80", label);
	assert_hostport_fails(in, NULL);

	/* 253 characters in all is fine, 254 is not. */
	for (i = 0; i < 254; i++)
		name[i] = (i % 64 == 63) ? '.' : 'a';
	name[253] = '\0';
	snprintf(in, sizeof(in), "%s:80", name);
	assert_hostport(in, PARSE_HOST_NAME, name, 80);
	name[253] = 'a';
	name[254] = '\0';
	snprintf(in, sizeof(in), "%s:80", name);
	assert_hostport_fails(in, NULL);
}
END_TEST

START_TEST(test_hostport_rejects_bad_hostname)
{
	assert_hostport_fails("bad_host:80", NULL);
	assert_hostport_fails("bad host:80", NULL);
	assert_hostport_fails("-host.example:80", NULL);
	assert_hostport_fails("host-.example:80", NULL);
	assert_hostport_fails("host.example-:80", NULL);
	assert_hostport_fails(".:80", NULL);
	assert_hostport_fails("host.example..:80", NULL);
	assert_hostport_fails("host..example:80", NULL);
	assert_hostport_fails(".host.example:80", NULL);
	assert_hostport_fails("*.example:80", NULL);
	assert_hostport_fails("h\xc3\xa9llo.example:80", NULL);
}
END_TEST

START_TEST(test_hostport_rejects_bad_ipv4)
{
	assert_hostport_fails("1.2.3:80", "invalid IPv4 address");
	assert_hostport_fails("1.2.3.4.5:80", "invalid IPv4 address");
	assert_hostport_fails("256.1.1.1:80", "invalid IPv4 address");
	assert_hostport_fails("1..2.3:80", "invalid IPv4 address");
	assert_hostport_fails("1234:80", "invalid IPv4 address");
}
END_TEST

START_TEST(test_hostport_rejects_bad_ipv6)
{
	assert_hostport_fails("[::1]443", "missing ':PORT'");
	assert_hostport_fails("[::1]", "missing ':PORT'");
	assert_hostport_fails("[::1:443", NULL);
	assert_hostport_fails("[::g]:443", NULL);
	assert_hostport_fails("[]:443", NULL);
	assert_hostport_fails("[1.2.3.4]:443", NULL);
	assert_hostport_fails("[host.example]:443", NULL);
	assert_hostport_fails("[::1]:", NULL);
	assert_hostport_fails("[::1]:0", "port out of range");
}
END_TEST

START_TEST(test_hostport_rejects_unbracketed_ipv6)
{
	assert_hostport_fails("::1:80", "IPv6 addresses must be in brackets");
	assert_hostport_fails("2001:db8::1:443",
	    "IPv6 addresses must be in brackets");
	assert_hostport_fails("::1", "IPv6 addresses must be in brackets");
}
END_TEST

START_TEST(test_hostport_rejects_missing_port)
{
	assert_hostport_fails("1.2.3.4", "missing ':PORT'");
	assert_hostport_fails("host.example", "missing ':PORT'");
	assert_hostport_fails("*", "missing ':PORT'");
	assert_hostport_fails("1.2.3.4:", NULL);
}
END_TEST

START_TEST(test_hostport_rejects_port_out_of_range)
{
	assert_hostport_fails("1.2.3.4:0", "port out of range");
	assert_hostport_fails("1.2.3.4:65536", "port out of range");
	assert_hostport_fails("*:99999999999999999999999", "port out of range");
	assert_hostport_fails("host.example:70000", "port out of range");
}
END_TEST

START_TEST(test_hostport_rejects_bad_port)
{
	assert_hostport_fails("1.2.3.4:http", NULL);
	assert_hostport_fails("1.2.3.4:-80", NULL);
	assert_hostport_fails("1.2.3.4:+80", NULL);
	assert_hostport_fails("1.2.3.4: 80", NULL);
	assert_hostport_fails("1.2.3.4:80 ", NULL);
	assert_hostport_fails("1.2.3.4:80x", NULL);
	assert_hostport_fails("[::1]:80x", NULL);
}
END_TEST

START_TEST(test_hostport_rejects_empty)
{
	assert_hostport_fails("", NULL);
	assert_hostport_fails(":80", NULL);
	assert_hostport_fails(":", NULL);
}
END_TEST

static Suite *
parse_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("parse");

	tc = tcase_create("uint");
	tcase_add_test(tc, test_uint_accepts_decimal);
	tcase_add_test(tc, test_uint_accepts_range_bounds);
	tcase_add_test(tc, test_uint_rejects_empty);
	tcase_add_test(tc, test_uint_rejects_sign);
	tcase_add_test(tc, test_uint_rejects_blanks);
	tcase_add_test(tc, test_uint_rejects_trailing_garbage);
	tcase_add_test(tc, test_uint_rejects_non_number);
	tcase_add_test(tc, test_uint_rejects_overflow);
	tcase_add_test(tc, test_uint_rejects_out_of_range);
	suite_add_tcase(s, tc);

	tc = tcase_create("size");
	tcase_add_test(tc, test_size_plain_bytes);
	tcase_add_test(tc, test_size_suffixes);
	tcase_add_test(tc, test_size_max_is_inclusive);
	tcase_add_test(tc, test_size_rejects_bad_forms);
	tcase_add_test(tc, test_size_rejects_too_large);
	suite_add_tcase(s, tc);

	tc = tcase_create("duration");
	tcase_add_test(tc, test_duration_units);
	tcase_add_test(tc, test_duration_bare_number_is_seconds);
	tcase_add_test(tc, test_duration_units_any_case);
	tcase_add_test(tc, test_duration_rejects_bad_forms);
	tcase_add_test(tc, test_duration_rejects_too_long);
	suite_add_tcase(s, tc);

	tc = tcase_create("bool");
	tcase_add_test(tc, test_bool_true_forms);
	tcase_add_test(tc, test_bool_false_forms);
	tcase_add_test(tc, test_bool_rejects_others);
	suite_add_tcase(s, tc);

	tc = tcase_create("hostport");
	tcase_add_test(tc, test_hostport_ipv4);
	tcase_add_test(tc, test_hostport_ipv6_in_brackets);
	tcase_add_test(tc, test_hostport_wildcard);
	tcase_add_test(tc, test_hostport_hostname);
	tcase_add_test(tc, test_hostport_hostname_lengths);
	tcase_add_test(tc, test_hostport_rejects_bad_hostname);
	tcase_add_test(tc, test_hostport_rejects_bad_ipv4);
	tcase_add_test(tc, test_hostport_rejects_bad_ipv6);
	tcase_add_test(tc, test_hostport_rejects_unbracketed_ipv6);
	tcase_add_test(tc, test_hostport_rejects_missing_port);
	tcase_add_test(tc, test_hostport_rejects_port_out_of_range);
	tcase_add_test(tc, test_hostport_rejects_bad_port);
	tcase_add_test(tc, test_hostport_rejects_empty);
	suite_add_tcase(s, tc);

	return (s);
}

int
main(void)
{
	return testutil_run(srunner_create(parse_suite()));
}
