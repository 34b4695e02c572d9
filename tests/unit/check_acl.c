/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

/*
 * Address lists: every entry form and every refusal with its reason, the
 * edges of ranges, IPv4 clients seen through a dual-stack socket, merging,
 * the allow/deny rule, and a list of 10,000 entries checked against a
 * plain prefix comparison; port lists and the destination rule.
 */

#include "autoconf.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acl.h"
#include "testutil.h"

#define LARGE_N		10000
#define LARGE_PROBES	5000

static struct sockaddr_storage sa(const char *);
static bool	match(const struct acl *, const char *);
static void	assert_add(struct acl *, const char *);
static void	assert_add_fails(const char *, const char *);
static uint64_t	rnd(uint64_t *);
static bool	prefix_match(const uint8_t *, const uint8_t *, unsigned);
static Suite	*acl_suite(void);

/* A socket address for a literal; IPv6 if it has a colon. */
static struct sockaddr_storage
sa(const char *addr)
{
	return (testutil_sockaddr(addr, 0));
}

static bool
match(const struct acl *acl, const char *addr)
{
	struct sockaddr_storage	 ss = sa(addr);

	return (acl_match(acl, (struct sockaddr *)&ss));
}

static void
assert_add(struct acl *acl, const char *text)
{
	const char	*why = NULL;

	ck_assert_msg(acl_add(acl, text, &why) == 0, "\"%s\": %s", text,
	    why ? why : "");
}

/* Refused with the reason want, and nothing added to a list. */
static void
assert_add_fails(const char *text, const char *want)
{
	struct acl	 acl;
	const char	*why = NULL;

	acl_init(&acl);
	assert_add(&acl, "192.0.2.0/24");
	acl_finish(&acl);
	ck_assert_msg(acl_add(&acl, text, &why) == -1, "\"%s\" accepted",
	    text);
	ck_assert_ptr_nonnull(why);
	ck_assert_msg(strcmp(why, want) == 0, "\"%s\": \"%s\", want \"%s\"",
	    text, why, want);
	ck_assert_uint_eq(acl.acl_len, 1);
	ck_assert(acl.acl_finished);
	ck_assert(match(&acl, "192.0.2.1"));
	acl_free(&acl);
}

/* xorshift64*: the same "random" list on every run. */
static uint64_t
rnd(uint64_t *state)
{
	*state ^= *state >> 12;
	*state ^= *state << 25;
	*state ^= *state >> 27;
	return (*state * UINT64_C(2685821657736338717));
}

/* Whether the first plen bits of a and net are the same. */
static bool
prefix_match(const uint8_t *a, const uint8_t *net, unsigned plen)
{
	if (memcmp(a, net, plen / 8) != 0)
		return (false);
	return (plen % 8 == 0 ||
	    ((a[plen / 8] ^ net[plen / 8]) & (0xff00 >> (plen % 8))) == 0);
}

START_TEST(test_address_is_a_host)
{
	struct acl	 acl;

	acl_init(&acl);
	assert_add(&acl, "192.0.2.7");
	assert_add(&acl, "2001:db8::7");
	acl_finish(&acl);
	ck_assert(match(&acl, "192.0.2.7"));
	ck_assert(!match(&acl, "192.0.2.6"));
	ck_assert(!match(&acl, "192.0.2.8"));
	ck_assert(match(&acl, "2001:db8::7"));
	ck_assert(!match(&acl, "2001:db8::6"));
	ck_assert(!match(&acl, "2001:db8::8"));
	acl_free(&acl);
}
END_TEST

START_TEST(test_network_edges)
{
	struct acl	 acl;

	acl_init(&acl);
	assert_add(&acl, "10.0.0.0/8");
	assert_add(&acl, "2001:db8::/32");
	assert_add(&acl, "198.51.100.0/31");
	assert_add(&acl, "203.0.113.5/32");
	assert_add(&acl, "2001:db8:ffff::1/128");
	acl_finish(&acl);
	ck_assert(!match(&acl, "9.255.255.255"));
	ck_assert(match(&acl, "10.0.0.0"));
	ck_assert(match(&acl, "10.255.255.255"));
	ck_assert(!match(&acl, "11.0.0.0"));
	ck_assert(!match(&acl, "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff"));
	ck_assert(match(&acl, "2001:db8::"));
	ck_assert(match(&acl, "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"));
	ck_assert(!match(&acl, "2001:db9::"));
	ck_assert(!match(&acl, "198.51.99.255"));
	ck_assert(match(&acl, "198.51.100.0"));
	ck_assert(match(&acl, "198.51.100.1"));
	ck_assert(!match(&acl, "198.51.100.2"));
	ck_assert(!match(&acl, "203.0.113.4"));
	ck_assert(match(&acl, "203.0.113.5"));
	ck_assert(!match(&acl, "203.0.113.6"));
	acl_free(&acl);
}
END_TEST

START_TEST(test_whole_spaces)
{
	struct acl	 acl;

	/* All of IPv4, and no real IPv6 address. */
	acl_init(&acl);
	assert_add(&acl, "0.0.0.0/0");
	acl_finish(&acl);
	ck_assert(match(&acl, "0.0.0.0"));
	ck_assert(match(&acl, "255.255.255.255"));
	ck_assert(match(&acl, "::ffff:0.0.0.0"));
	ck_assert(match(&acl, "::ffff:255.255.255.255"));
	ck_assert(!match(&acl, "::"));
	ck_assert(!match(&acl, "::1"));
	ck_assert(!match(&acl, "::fffe:ffff:ffff"));
	ck_assert(!match(&acl, "::1:0:0:0"));
	ck_assert(!match(&acl, "2001:db8::1"));
	ck_assert(!match(&acl, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
	acl_free(&acl);

	/* Everything, IPv4 clients included (they are ::ffff:a.b.c.d). */
	assert_add(&acl, "::/0");
	acl_finish(&acl);
	ck_assert(match(&acl, "::"));
	ck_assert(match(&acl, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
	ck_assert(match(&acl, "0.0.0.0"));
	ck_assert(match(&acl, "255.255.255.255"));
	acl_free(&acl);

	/* The two ends of the space as hosts. */
	assert_add(&acl, "::/128 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128");
	acl_finish(&acl);
	ck_assert_uint_eq(acl.acl_len, 2);
	ck_assert(match(&acl, "::"));
	ck_assert(!match(&acl, "::1"));
	ck_assert(match(&acl, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
	ck_assert(!match(&acl, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe"));
	acl_free(&acl);
}
END_TEST

START_TEST(test_mapped_clients)
{
	struct acl	 acl;

	acl_init(&acl);
	assert_add(&acl, "10.0.0.0/8");
	acl_finish(&acl);
	/* An IPv4 client on a dual-stack listener. */
	ck_assert(match(&acl, "::ffff:10.1.2.3"));
	ck_assert(!match(&acl, "::ffff:11.1.2.3"));
	/* IPv6 addresses that embed 10.1.2.3 otherwise are IPv6. */
	ck_assert(!match(&acl, "::10.1.2.3"));
	ck_assert(!match(&acl, "2002:a01:203::"));
	ck_assert(!match(&acl, "64:ff9b::10.1.2.3"));
	acl_free(&acl);

	/* A rule written in the mapped space is an IPv4 rule. */
	assert_add(&acl, "::ffff:10.0.0.0/104");
	acl_finish(&acl);
	ck_assert(match(&acl, "10.255.0.1"));
	ck_assert(!match(&acl, "11.0.0.0"));
	acl_free(&acl);
}
END_TEST

START_TEST(test_several_entries_and_adds)
{
	struct acl	 acl;

	acl_init(&acl);
	assert_add(&acl, "  10.0.0.0/8 \t192.168.0.0/16\t2001:db8::/32  ");
	assert_add(&acl, "172.16.0.0/12");
	/* Matched before acl_finish() too, by a scan. */
	ck_assert(!acl.acl_finished);
	ck_assert(match(&acl, "172.31.255.255"));
	ck_assert(match(&acl, "192.168.1.1"));
	ck_assert(!match(&acl, "192.169.0.0"));
	acl_finish(&acl);
	ck_assert_uint_eq(acl.acl_len, 4);
	ck_assert(match(&acl, "10.1.1.1"));
	ck_assert(match(&acl, "192.168.255.255"));
	ck_assert(match(&acl, "2001:db8:1::1"));
	ck_assert(match(&acl, "172.16.0.0"));
	ck_assert(!match(&acl, "172.32.0.0"));
	/* Added to after it was finished. */
	assert_add(&acl, "172.32.0.0/16");
	ck_assert(!acl.acl_finished);
	ck_assert(match(&acl, "172.32.0.1"));
	acl_finish(&acl);
	ck_assert(match(&acl, "172.32.0.1"));
	ck_assert_uint_eq(acl.acl_len, 4);	/* 172.16/12 + 172.32/16 */
	acl_free(&acl);
	ck_assert_ptr_null(acl.acl_ranges);
	ck_assert(acl_empty(&acl));
	ck_assert(!match(&acl, "10.1.1.1"));
}
END_TEST

START_TEST(test_merge)
{
	struct acl	 acl;

	/* Overlapping, contained and repeated: one range. */
	acl_init(&acl);
	assert_add(&acl,
	    "10.1.0.0/16 10.0.0.0/8 10.1.2.3 10.0.0.0/8 10.0.0.0/9");
	acl_finish(&acl);
	ck_assert_uint_eq(acl.acl_len, 1);
	ck_assert(match(&acl, "10.0.0.0"));
	ck_assert(match(&acl, "10.255.255.255"));
	ck_assert(!match(&acl, "11.0.0.0"));
	acl_free(&acl);

	/* Adjacent halves: one range. */
	assert_add(&acl, "10.128.0.0/9 10.0.0.0/9");
	acl_finish(&acl);
	ck_assert_uint_eq(acl.acl_len, 1);
	ck_assert(match(&acl, "10.127.255.255"));
	ck_assert(match(&acl, "10.128.0.0"));
	acl_free(&acl);

	/* Adjacent across the middle of the 128 bits. */
	assert_add(&acl, "0:0:0:1::/64 ::/64");
	acl_finish(&acl);
	ck_assert_uint_eq(acl.acl_len, 1);
	ck_assert(match(&acl, "::ffff:ffff:ffff:ffff"));
	ck_assert(match(&acl, "0:0:0:1::"));
	ck_assert(match(&acl, "0:0:0:1:ffff:ffff:ffff:ffff"));
	ck_assert(!match(&acl, "0:0:0:2::"));
	acl_free(&acl);

	/* The two halves of everything. */
	assert_add(&acl, "8000::/1 ::/1");
	acl_finish(&acl);
	ck_assert_uint_eq(acl.acl_len, 1);
	ck_assert(match(&acl, "7fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
	ck_assert(match(&acl, "8000::"));
	acl_free(&acl);

	/* A gap of one address keeps them apart. */
	assert_add(&acl, "10.0.0.0/31 10.0.0.3 10.0.0.4/30");
	acl_finish(&acl);
	ck_assert_uint_eq(acl.acl_len, 2);
	ck_assert(match(&acl, "10.0.0.1"));
	ck_assert(!match(&acl, "10.0.0.2"));
	ck_assert(match(&acl, "10.0.0.3"));
	ck_assert(match(&acl, "10.0.0.7"));
	ck_assert(!match(&acl, "10.0.0.8"));
	acl_free(&acl);

	/* IPv4's last address and the IPv6 one after it are adjacent... */
	assert_add(&acl, "255.255.255.255 ::1:0:0:0");
	acl_finish(&acl);
	ck_assert_uint_eq(acl.acl_len, 1);
	ck_assert(match(&acl, "255.255.255.255"));
	ck_assert(match(&acl, "::1:0:0:0"));
	ck_assert(!match(&acl, "::1:0:0:1"));
	ck_assert(!match(&acl, "255.255.255.254"));
	acl_free(&acl);
	assert_add(&acl, "255.255.255.255 ::1:0:0:1");
	acl_finish(&acl);
	ck_assert_uint_eq(acl.acl_len, 2);
	acl_free(&acl);
	/* ... but ::ffff:0:0/96 and what is right before it merge. */
	assert_add(&acl, "0.0.0.0/0 ::fffe:ffff:ffff");
	acl_finish(&acl);
	ck_assert_uint_eq(acl.acl_len, 1);
	acl_free(&acl);
}
END_TEST

START_TEST(test_rejects)
{
	char		 longtext[300], want[ACL_WHY_MAX];
	struct acl	 acl;
	const char	*why = NULL;

	assert_add_fails("", "empty address list");
	assert_add_fails(" \t ", "empty address list");
	assert_add_fails("10.0.0.1/8",
	    "10.0.0.1/8: host bits set (did you mean 10.0.0.0/8?)");
	assert_add_fails("192.0.2.7/0",
	    "192.0.2.7/0: host bits set (did you mean 0.0.0.0/0?)");
	assert_add_fails("192.0.2.7/31",
	    "192.0.2.7/31: host bits set (did you mean 192.0.2.6/31?)");
	assert_add_fails("2001:db8::1/32",
	    "2001:db8::1/32: host bits set (did you mean 2001:db8::/32?)");
	assert_add_fails("::1/127",
	    "::1/127: host bits set (did you mean ::/127?)");
	assert_add_fails("::ffff:10.0.0.1/104", "::ffff:10.0.0.1/104: host "
	    "bits set (did you mean ::ffff:10.0.0.0/104?)");
	assert_add_fails("10.0.0.0/33",
	    "10.0.0.0/33: prefix length out of range (0-32)");
	assert_add_fails("10.0.0.0/320",
	    "10.0.0.0/320: prefix length out of range (0-32)");
	assert_add_fails("10.0.0.0/99999999999999999999999",
	    "10.0.0.0/99999999999999999999999: prefix length out of range "
	    "(0-32)");
	assert_add_fails("::/129",
	    "::/129: prefix length out of range (0-128)");
	assert_add_fails("10.0.0.0/", "10.0.0.0/: missing prefix length after "
	    "'/'");
	assert_add_fails("10.0.0.0/ 8", "10.0.0.0/: missing prefix length "
	    "after '/'");
	assert_add_fails("/8", "/8: missing address");
	assert_add_fails("10.0.0.0/08", "10.0.0.0/08: invalid prefix length");
	assert_add_fails("10.0.0.0/00", "10.0.0.0/00: invalid prefix length");
	assert_add_fails("10.0.0.0/8/8", "10.0.0.0/8/8: invalid prefix length");
	assert_add_fails("10.0.0.0/-1", "10.0.0.0/-1: invalid prefix length");
	assert_add_fails("10.0.0.0/+8", "10.0.0.0/+8: invalid prefix length");
	assert_add_fails("10.0.0.0/8x", "10.0.0.0/8x: invalid prefix length");
	assert_add_fails("10.0.0.0/8,192.168.0.0/16", "10.0.0.0/8,192.168.0.0/"
	    "16: entries are separated by spaces, not commas");
	assert_add_fails("10/8", "10/8: not an IPv4 or IPv6 address");
	assert_add_fails("10.0.0", "10.0.0: not an IPv4 or IPv6 address");
	assert_add_fails("256.0.0.0", "256.0.0.0: not an IPv4 or IPv6 address");
	assert_add_fails("010.0.0.1", "010.0.0.1: not an IPv4 or IPv6 address");
	assert_add_fails("1.2.3.4.5", "1.2.3.4.5: not an IPv4 or IPv6 address");
	assert_add_fails("0x0a000000", "0x0a000000: not an IPv4 or IPv6 "
	    "address");
	assert_add_fails("example.com", "example.com: not an IPv4 or IPv6 "
	    "address");
	assert_add_fails("*", "*: not an IPv4 or IPv6 address");
	assert_add_fails("any", "any: not an IPv4 or IPv6 address");
	assert_add_fails("2001:db8:::/48", "2001:db8:::/48: not an IPv4 or "
	    "IPv6 address");
	assert_add_fails("[2001:db8::]/32", "[2001:db8::]/32: IPv6 addresses "
	    "go without brackets");
	assert_add_fails("fe80::1%eth0", "fe80::1%eth0: zone IDs are not "
	    "supported");
	/* The entry at fault is named, and the good ones are not added. */
	assert_add_fails("10.0.0.0/8 192.168.0.0/16 bogus 172.16.0.0/12",
	    "bogus: not an IPv4 or IPv6 address");

	/* A long entry is quoted in part. */
	memset(longtext, '1', sizeof(longtext) - 1);
	longtext[sizeof(longtext) - 1] = '\0';
	snprintf(want, sizeof(want), "%.64s...: not an IPv4 or IPv6 address",
	    longtext);
	assert_add_fails(longtext, want);

	/* The reason stays until the next call on the list. */
	acl_init(&acl);
	ck_assert_int_eq(acl_add(&acl, "10.0.0.1/8", &why), -1);
	ck_assert_ptr_eq(why, acl.acl_why);
	ck_assert(acl_empty(&acl));
	acl_free(&acl);
}
END_TEST

START_TEST(test_other_families)
{
	struct acl		 allow, deny;
	struct sockaddr_un	 un;

	memset(&un, 0, sizeof(un));
	un.sun_family = AF_UNIX;
	acl_init(&allow);
	acl_init(&deny);
	assert_add(&allow, "::/0");
	assert_add(&deny, "::/0");
	acl_finish(&allow);
	ck_assert(!acl_match(&allow, (struct sockaddr *)&un));
	ck_assert(!acl_permit(&allow, NULL, (struct sockaddr *)&un));
	ck_assert(acl_permit(NULL, &deny, (struct sockaddr *)&un));
	acl_free(&allow);
	acl_free(&deny);
}
END_TEST

START_TEST(test_permit)
{
	struct acl		 allow, deny, none;
	struct sockaddr_storage	 a;

	acl_init(&allow);
	acl_init(&deny);
	acl_init(&none);

	/* No list: everyone. */
	a = sa("203.0.113.1");
	ck_assert(acl_permit(NULL, NULL, (struct sockaddr *)&a));
	ck_assert(acl_permit(&none, &none, (struct sockaddr *)&a));

	/* Only deny: all but those. */
	assert_add(&deny, "10.1.0.0/16 2001:db8:bad::/48");
	acl_finish(&deny);
	a = sa("10.1.2.3");
	ck_assert(!acl_permit(NULL, &deny, (struct sockaddr *)&a));
	ck_assert(!acl_permit(&none, &deny, (struct sockaddr *)&a));
	a = sa("::ffff:10.1.2.3");
	ck_assert(!acl_permit(NULL, &deny, (struct sockaddr *)&a));
	a = sa("10.2.0.1");
	ck_assert(acl_permit(NULL, &deny, (struct sockaddr *)&a));

	/* Only allow: those alone. */
	assert_add(&allow, "10.0.0.0/8 2001:db8::/32");
	acl_finish(&allow);
	a = sa("10.1.2.3");
	ck_assert(acl_permit(&allow, NULL, (struct sockaddr *)&a));
	a = sa("11.0.0.1");
	ck_assert(!acl_permit(&allow, NULL, (struct sockaddr *)&a));
	a = sa("2001:db9::1");
	ck_assert(!acl_permit(&allow, &none, (struct sockaddr *)&a));

	/* Both: deny wins. */
	a = sa("10.1.2.3");
	ck_assert(!acl_permit(&allow, &deny, (struct sockaddr *)&a));
	a = sa("10.2.3.4");
	ck_assert(acl_permit(&allow, &deny, (struct sockaddr *)&a));
	a = sa("2001:db8:bad::1");
	ck_assert(!acl_permit(&allow, &deny, (struct sockaddr *)&a));
	a = sa("2001:db8:600d::1");
	ck_assert(acl_permit(&allow, &deny, (struct sockaddr *)&a));
	a = sa("192.0.2.1");
	ck_assert(!acl_permit(&allow, &deny, (struct sockaddr *)&a));

	acl_free(&allow);
	acl_free(&deny);
}
END_TEST

START_TEST(test_ports)
{
	struct acl_ports	 ap;
	const char		*why = NULL;

	acl_ports_init(&ap);
	ck_assert(acl_ports_empty(&ap));
	ck_assert(!acl_ports_match(&ap, 80));
	ck_assert_int_eq(acl_ports_add(&ap, "443 80\t8000-8099", &why), 0);
	ck_assert_int_eq(acl_ports_add(&ap, "8100-8100 1 65535 79", &why), 0);
	acl_ports_finish(&ap);
	/* 79-80 and 8000-8100 merge: 1, 79-80, 443, 8000-8100, 65535. */
	ck_assert_uint_eq(ap.ap_list.acl_len, 5);
	ck_assert(acl_ports_match(&ap, 1));
	ck_assert(!acl_ports_match(&ap, 2));
	ck_assert(!acl_ports_match(&ap, 78));
	ck_assert(acl_ports_match(&ap, 79));
	ck_assert(acl_ports_match(&ap, 80));
	ck_assert(!acl_ports_match(&ap, 81));
	ck_assert(acl_ports_match(&ap, 443));
	ck_assert(!acl_ports_match(&ap, 7999));
	ck_assert(acl_ports_match(&ap, 8000));
	ck_assert(acl_ports_match(&ap, 8100));
	ck_assert(!acl_ports_match(&ap, 8101));
	ck_assert(!acl_ports_match(&ap, 65534));
	ck_assert(acl_ports_match(&ap, 65535));
	acl_ports_free(&ap);
	ck_assert(acl_ports_empty(&ap));
}
END_TEST

/* Each refused port entry, with its reason; nothing is added. */
static const struct {
	const char	*pr_text;
	const char	*pr_why;
} port_rejects[] = {
	{ "", "empty port list" },
	{ "  ", "empty port list" },
	{ "0", "0: not a port (1-65535)" },
	{ "65536", "65536: not a port (1-65535)" },
	{ "080", "080: not a port (1-65535)" },
	{ "http", "http: not a port (1-65535)" },
	{ "-1", "-1: not a range of ports (LOW-HIGH, each 1-65535)" },
	{ "80-", "80-: not a range of ports (LOW-HIGH, each 1-65535)" },
	{ "1-2-3", "1-2-3: not a range of ports (LOW-HIGH, each 1-65535)" },
	{ "90-80", "90-80: the range ends before it starts" },
	{ "80,443", "80,443: entries are separated by spaces, not commas" },
	{ "443 x", "x: not a port (1-65535)" },
};

START_TEST(test_port_rejects)
{
	struct acl_ports	 ap;
	const char		*why = NULL;

	acl_ports_init(&ap);
	ck_assert_int_eq(acl_ports_add(&ap, "22", &why), 0);
	ck_assert_int_eq(acl_ports_add(&ap, port_rejects[_i].pr_text, &why),
	    -1);
	ck_assert_ptr_nonnull(why);
	ck_assert_str_eq(why, port_rejects[_i].pr_why);
	acl_ports_finish(&ap);
	ck_assert_uint_eq(ap.ap_list.acl_len, 1);
	ck_assert(acl_ports_match(&ap, 22));
	acl_ports_free(&ap);
}
END_TEST

START_TEST(test_destination)
{
	struct acl		 allow, deny, none;
	struct acl_ports	 ports, all;
	struct sockaddr_storage	 a;
	const char		*why = NULL;

	acl_init(&allow);
	acl_init(&deny);
	acl_init(&none);
	acl_ports_init(&ports);
	acl_ports_init(&all);
	assert_add(&allow, "198.18.0.0/15 2001:db8::/32");
	acl_finish(&allow);
	assert_add(&deny, "198.18.9.0/24");
	acl_finish(&deny);
	ck_assert_int_eq(acl_ports_add(&ports, "80 443", &why), 0);
	acl_ports_finish(&ports);

	/* An empty allow reaches nothing (a destination list fails closed). */
	a = testutil_sockaddr("198.18.1.1", 80);
	ck_assert_str_eq(acl_destination(&none, NULL, NULL,
	    (struct sockaddr *)&a), "not in destination_allow");
	/* In allow, any port when no port is listed. */
	ck_assert_ptr_null(acl_destination(&allow, NULL, NULL,
	    (struct sockaddr *)&a));
	ck_assert_ptr_null(acl_destination(&allow, &none, &all,
	    (struct sockaddr *)&a));
	ck_assert_ptr_null(acl_destination(&allow, &deny, &ports,
	    (struct sockaddr *)&a));
	a = testutil_sockaddr("198.18.1.1", 8080);
	ck_assert_ptr_null(acl_destination(&allow, &deny, NULL,
	    (struct sockaddr *)&a));
	ck_assert_str_eq(acl_destination(&allow, &deny, &ports,
	    (struct sockaddr *)&a), "port not in destination_ports");
	/* deny wins over allow and ports. */
	a = testutil_sockaddr("198.18.9.9", 443);
	ck_assert_str_eq(acl_destination(&allow, &deny, &ports,
	    (struct sockaddr *)&a), "in destination_deny");
	/* Outside allow. */
	a = testutil_sockaddr("192.0.2.1", 443);
	ck_assert_str_eq(acl_destination(&allow, &deny, &ports,
	    (struct sockaddr *)&a), "not in destination_allow");
	/* IPv6, and IPv4 seen through a dual-stack socket. */
	a = testutil_sockaddr("2001:db8::5", 443);
	ck_assert_ptr_null(acl_destination(&allow, &deny, &ports,
	    (struct sockaddr *)&a));
	a = testutil_sockaddr("2001:db8::5", 22);
	ck_assert_str_eq(acl_destination(&allow, &deny, &ports,
	    (struct sockaddr *)&a), "port not in destination_ports");
	a = testutil_sockaddr("::ffff:198.18.1.1", 80);
	ck_assert_ptr_null(acl_destination(&allow, &deny, &ports,
	    (struct sockaddr *)&a));
	a = testutil_sockaddr("::ffff:198.18.9.1", 80);
	ck_assert_str_eq(acl_destination(&allow, &deny, &ports,
	    (struct sockaddr *)&a), "in destination_deny");

	acl_free(&allow);
	acl_free(&deny);
	acl_ports_free(&ports);
}
END_TEST

/*
 * 10,000 random entries, IPv4 and IPv6, of many prefix lengths, added in
 * batches of varying size; then the finished list, the unfinished one and
 * a plain prefix comparison with every entry must agree, on random
 * addresses and on the first and last address of entries and the
 * addresses just outside them.
 */
START_TEST(test_large_list)
{
	static uint8_t		 nets[LARGE_N][16];	/* IPv4 mapped */
	static unsigned		 plens[LARGE_N];	/* of 128 bits */
	static bool		 v4[LARGE_N];
	struct acl		 fin, scan;
	struct sockaddr_in	 sin;
	struct sockaddr_in6	 sin6;
	struct sockaddr		*sap;
	char			 text[64 * 16], one[64];
	uint8_t			 probe[16];
	uint64_t		 seed = UINT64_C(0x9e3779b97f4a7c15), r;
	size_t			 i, j, k, batch, off;
	unsigned		 kind, matches = 0, plen;
	bool			 want;

	acl_init(&fin);
	acl_init(&scan);
	for (i = 0; i < LARGE_N; i += batch) {
		batch = 1 + rnd(&seed) % 16;
		if (batch > LARGE_N - i)
			batch = LARGE_N - i;
		text[0] = '\0';
		for (j = i; j < i + batch; j++) {
			v4[j] = rnd(&seed) & 1;
			for (k = 0; k < 16; k += 8) {
				r = rnd(&seed);
				memcpy(&nets[j][k], &r, 8);
			}
			/*
			 * Mostly long prefixes, so that not everything
			 * merges; none short enough for an IPv6 entry to
			 * cover much of the IPv4 space.
			 */
			plen = v4[j] ? 32 - rnd(&seed) % 25 : 128 -
			    rnd(&seed) % 113;
			if (v4[j]) {
				memset(nets[j], 0, 10);
				nets[j][10] = nets[j][11] = 0xff;
				plen += 96;
			}
			plens[j] = plen;
			for (k = plen; k < 128; k++)
				nets[j][k / 8] &= (uint8_t)~(0x80 >> (k % 8));
			off = v4[j] ? 12 : 0;
			ck_assert_ptr_nonnull(inet_ntop(v4[j] ? AF_INET :
			    AF_INET6, nets[j] + off, one, sizeof(one)));
			snprintf(text + strlen(text), sizeof(text) -
			    strlen(text), "%s/%u ", one,
			    plen - 8 * (unsigned)off);
		}
		assert_add(&fin, text);
		assert_add(&scan, text);
	}
	acl_finish(&fin);
	ck_assert_uint_le(fin.acl_len, LARGE_N);
	ck_assert_uint_gt(fin.acl_len, LARGE_N / 2);
	for (i = 1; i < fin.acl_len; i++)
		ck_assert(fin.acl_ranges[i - 1].ar_last.aa_hi <
		    fin.acl_ranges[i].ar_first.aa_hi ||
		    (fin.acl_ranges[i - 1].ar_last.aa_hi ==
		    fin.acl_ranges[i].ar_first.aa_hi &&
		    fin.acl_ranges[i - 1].ar_last.aa_lo + 1 <
		    fin.acl_ranges[i].ar_first.aa_lo));

	memset(&sin, 0, sizeof(sin));
	memset(&sin6, 0, sizeof(sin6));
	sin.sin_family = AF_INET;
	sin6.sin6_family = AF_INET6;
	for (i = 0; i < LARGE_PROBES; i++) {
		j = rnd(&seed) % LARGE_N;
		kind = i % 5;
		/* Random, entry j's first or last address, or next to it. */
		for (k = 0; k < 16; k += 8) {
			r = rnd(&seed);
			memcpy(&probe[k], &r, 8);
		}
		if (v4[j]) {
			memset(probe, 0, 10);
			probe[10] = probe[11] = 0xff;
		}
		if (kind != 0) {
			memcpy(probe, nets[j], 16);
			if (kind == 2 || kind == 4)
				for (k = plens[j]; k < 128; k++)
					probe[k / 8] |= 0x80 >> (k % 8);
			/* One down from the first, one up from the last. */
			for (k = 16; kind == 3 && k-- > (v4[j] ? 12 : 0);)
				if (probe[k]-- != 0)
					break;
			for (k = 16; kind == 4 && k-- > (v4[j] ? 12 : 0);)
				if (++probe[k] != 0)
					break;
		}
		if (v4[j]) {
			memcpy(&sin.sin_addr, probe + 12, 4);
			sap = (struct sockaddr *)&sin;
		} else {
			memcpy(&sin6.sin6_addr, probe, 16);
			sap = (struct sockaddr *)&sin6;
		}
		for (want = false, k = 0; k < LARGE_N && !want; k++)
			want = prefix_match(probe, nets[k], plens[k]);
		ck_assert_int_eq(acl_match(&fin, sap), want);
		ck_assert_int_eq(acl_match(&scan, sap), want);
		matches += want;
	}
	/* Both answers were well represented. */
	ck_assert_uint_gt(matches, LARGE_PROBES / 4);
	ck_assert_uint_lt(matches, LARGE_PROBES * 3 / 4);
	acl_free(&fin);
	acl_free(&scan);
}
END_TEST

static Suite *
acl_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("acl");

	tc = tcase_create("match");
	tcase_add_test(tc, test_address_is_a_host);
	tcase_add_test(tc, test_network_edges);
	tcase_add_test(tc, test_whole_spaces);
	tcase_add_test(tc, test_mapped_clients);
	tcase_add_test(tc, test_several_entries_and_adds);
	tcase_add_test(tc, test_merge);
	tcase_add_test(tc, test_other_families);
	tcase_add_test(tc, test_permit);
	suite_add_tcase(s, tc);

	tc = tcase_create("destination");
	tcase_add_test(tc, test_ports);
	tcase_add_loop_test(tc, test_port_rejects, 0,
	    sizeof(port_rejects) / sizeof(port_rejects[0]));
	tcase_add_test(tc, test_destination);
	suite_add_tcase(s, tc);

	tc = tcase_create("parse");
	tcase_add_test(tc, test_rejects);
	suite_add_tcase(s, tc);

	tc = tcase_create("large");
	tcase_add_test(tc, test_large_list);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);

	return (s);
}

int
main(void)
{
	SRunner	*sr;
	int	 failed;

	sr = srunner_create(acl_suite());
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS);
}
