/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

/*
 * The PROXY protocol: every field and every malformed form of v1 and v2,
 * refusal at the first byte that cannot begin a header, "more" for every
 * truncation of a valid one, the client's bytes after it left alone, and
 * the headers the relay builds, byte for byte and parsed back. The vectors
 * named "haproxy" are what HAProxy 3.5-dev5 sent with send-proxy,
 * send-proxy-v2 and proxy-v2-options crc32c, captured on loopback.
 */

#include "autoconf.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy_proto.h"

#define V2_SIG	"\r\n\r\n\0\r\nQUIT\n"

/* A buffer with room for the largest header and some client data. */
#define BUF_MAX	(PROXY_PARSE_MAX + 64)

static size_t	unhex(const char *, uint8_t *);
static int	parse(const void *, size_t, struct proxy_hdr *, const char **);
static void	assert_needs_more(const void *, size_t);
static void	assert_fails_at(const void *, size_t, size_t, const char *);
static void	assert_line_fails(const char *, const char *);
static void	assert_sa(const struct sockaddr_storage *, const char *,
		    unsigned);
static struct sockaddr_storage sa(const char *, unsigned);
static size_t	v2_make(uint8_t *, uint8_t, uint8_t, size_t);
static size_t	v2_tlv(uint8_t *, size_t, uint8_t, const void *, size_t);
static void	v2_set_len(uint8_t *, size_t);
static void	v2_add_crc(uint8_t *, size_t, size_t);
static uint32_t	crc32c_ref(const uint8_t *, size_t);
static void	assert_follows_inet_pton(int, const char *, size_t,
		    const char *, const char *, size_t);
static void	assert_roundtrip(const char *, unsigned, const char *,
		    unsigned);
static Suite	*proxy_proto_suite(void);

static size_t
unhex(const char *hex, uint8_t *out)
{
	size_t		 n = 0;
	unsigned	 b;

	for (; hex[0] != '\0' && hex[1] != '\0'; hex += 2) {
		ck_assert_int_eq(sscanf(hex, "%2x", &b), 1);
		out[n++] = (uint8_t)b;
	}
	return (n);
}

/*
 * proxy_parse() on a copy of exactly len bytes, so that the address
 * sanitizer sees any read past them, and with *h and *why poisoned to show
 * what it leaves alone.
 */
static int
parse(const void *buf, size_t len, struct proxy_hdr *h, const char **why)
{
	struct proxy_hdr	 poison;
	uint8_t			*copy;
	int			 rv;

	copy = malloc(len > 0 ? len : 1);
	ck_assert_ptr_nonnull(copy);
	memcpy(copy, buf, len);
	memset(h, 0xa5, sizeof(*h));
	poison = *h;
	*why = NULL;
	rv = proxy_parse(copy, len, h, why);
	ck_assert_msg(memcmp(copy, buf, len) == 0, "the input was changed");
	free(copy);
	if (rv != 1)
		ck_assert_msg(memcmp(h, &poison, sizeof(*h)) == 0,
		    "*h written on %d", rv);
	if (rv == -1)
		ck_assert_ptr_nonnull(*why);
	else
		ck_assert_ptr_null(*why);
	return (rv);
}

/* Every proper prefix of a valid header wants more. */
static void
assert_needs_more(const void *buf, size_t len)
{
	struct proxy_hdr	 h;
	const char		*why;
	size_t			 k;
	int			 rv;

	for (k = 0; k < len; k++) {
		rv = parse(buf, k, &h, &why);
		ck_assert_msg(rv == 0, "prefix of %zu/%zu bytes: %d (%s)", k,
		    len, rv, why ? why : "");
	}
}

/*
 * buf is refused as soon as at bytes of it have arrived, not before, for
 * the reason want, and so is every longer part of it.
 */
static void
assert_fails_at(const void *buf, size_t len, size_t at, const char *want)
{
	struct proxy_hdr	 h;
	const char		*why;
	size_t			 k;
	int			 rv;

	ck_assert_uint_le(at, len);
	for (k = 0; k <= len; k++) {
		rv = parse(buf, k, &h, &why);
		if (k < at) {
			ck_assert_msg(rv == 0, "%zu bytes: %d (%s), want 0", k,
			    rv, why ? why : "");
			continue;
		}
		ck_assert_msg(rv == -1, "%zu bytes: %d, want -1 (%s)", k, rv,
		    want);
		ck_assert_str_eq(why, want);
	}
}

/* A v1 line refused at its first wrong byte, which is its last one here. */
static void
assert_line_fails(const char *line, const char *want)
{
	struct proxy_hdr	 h;
	const char		*why;
	int			 rv;

	rv = parse(line, strlen(line), &h, &why);
	ck_assert_msg(rv == -1, "\"%s\": %d, want -1", line, rv);
	ck_assert_msg(strcmp(why, want) == 0, "\"%s\": \"%s\", want \"%s\"",
	    line, why, want);
}

static void
assert_sa(const struct sockaddr_storage *ss, const char *addr, unsigned port)
{
	const struct sockaddr_in	*sin = (const struct sockaddr_in *)ss;
	const struct sockaddr_in6	*sin6 = (const struct sockaddr_in6 *)ss;
	char				 text[INET6_ADDRSTRLEN];

	if (strchr(addr, ':') == NULL) {
		ck_assert_int_eq(ss->ss_family, AF_INET);
		ck_assert_ptr_nonnull(inet_ntop(AF_INET, &sin->sin_addr, text,
		    sizeof(text)));
		ck_assert_uint_eq(ntohs(sin->sin_port), port);
	} else {
		ck_assert_int_eq(ss->ss_family, AF_INET6);
		ck_assert_ptr_nonnull(inet_ntop(AF_INET6, &sin6->sin6_addr,
		    text, sizeof(text)));
		ck_assert_uint_eq(ntohs(sin6->sin6_port), port);
		ck_assert_uint_eq(sin6->sin6_flowinfo, 0);
		ck_assert_uint_eq(sin6->sin6_scope_id, 0);
	}
	ck_assert_str_eq(text, addr);
}

static struct sockaddr_storage
sa(const char *addr, unsigned port)
{
	struct sockaddr_storage	 ss;
	struct sockaddr_in	*sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof(ss));
	if (strchr(addr, ':') == NULL) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		ck_assert_int_eq(inet_pton(AF_INET, addr, &sin->sin_addr), 1);
	} else {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		ck_assert_int_eq(inet_pton(AF_INET6, addr, &sin6->sin6_addr),
		    1);
	}
	return (ss);
}

/* A v2 header of the given command and family with an address block of
 * alen bytes (filled with a pattern) and no TLV; returns its length. */
static size_t
v2_make(uint8_t *b, uint8_t ver_cmd, uint8_t fam, size_t alen)
{
	size_t	 i;

	memcpy(b, V2_SIG, 12);
	b[12] = ver_cmd;
	b[13] = fam;
	for (i = 0; i < alen; i++)
		b[16 + i] = (uint8_t)(i + 1);
	v2_set_len(b, 16 + alen);
	return (16 + alen);
}

/* Append a TLV at offset off and fix the length field; returns the end. */
static size_t
v2_tlv(uint8_t *b, size_t off, uint8_t type, const void *val, size_t len)
{
	b[off] = type;
	b[off + 1] = (uint8_t)(len >> 8);
	b[off + 2] = (uint8_t)len;
	if (val != NULL)
		memcpy(&b[off + 3], val, len);
	else
		memset(&b[off + 3], 0, len);
	v2_set_len(b, off + 3 + len);
	return (off + 3 + len);
}

static void
v2_set_len(uint8_t *b, size_t total)
{
	b[14] = (uint8_t)((total - 16) >> 8);
	b[15] = (uint8_t)(total - 16);
}

/* Bit by bit, as RFC 4960 appendix B describes it: the reference. */
static uint32_t
crc32c_ref(const uint8_t *p, size_t n)
{
	uint32_t	 crc = 0xffffffff;
	size_t		 i;
	int		 k;

	for (i = 0; i < n; i++) {
		crc ^= p[i];
		for (k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0x82f63b78 & (0U - (crc & 1)));
	}
	return (crc ^ 0xffffffff);
}

/* Fill in the CRC32C TLV whose value starts at off of a total-byte header. */
static void
v2_add_crc(uint8_t *b, size_t total, size_t off)
{
	uint32_t	 crc;

	memset(&b[off], 0, 4);
	crc = crc32c_ref(b, total);
	b[off] = (uint8_t)(crc >> 24);
	b[off + 1] = (uint8_t)(crc >> 16);
	b[off + 2] = (uint8_t)(crc >> 8);
	b[off + 3] = (uint8_t)crc;
}

/*
 * v1
 */

START_TEST(test_v1_tcp4)
{
	const char		*in = "PROXY TCP4 192.168.0.1 192.168.0.11 "
	    "56324 443\r\nGET / HTTP/1.1\r\n";
	struct proxy_hdr	 h;
	const char		*why;

	ck_assert_int_eq(parse(in, strlen(in), &h, &why), 1);
	ck_assert_int_eq(h.ph_version, 1);
	ck_assert(!h.ph_local);
	ck_assert_int_eq(h.ph_mptcp, -1);
	ck_assert_uint_eq(h.ph_len, strlen(in) - strlen("GET / HTTP/1.1\r\n"));
	assert_sa(&h.ph_src, "192.168.0.1", 56324);
	assert_sa(&h.ph_dst, "192.168.0.11", 443);
	/* The header alone is enough, and every part of it is not. */
	ck_assert_int_eq(parse(in, h.ph_len, &h, &why), 1);
	assert_needs_more(in, h.ph_len);
}
END_TEST

START_TEST(test_v1_haproxy)
{
	static const char *const lines[] = {
		"PROXY TCP4 127.0.0.1 127.0.0.1 40001 17001\r\nhello",
		"PROXY TCP6 ::1 ::1 40004 17004\r\nhello",
		"PROXY TCP6 ::ffff:127.0.0.1 ::ffff:127.0.0.1 40006 17006\r\n"
		    "hello",
	};
	struct proxy_hdr	 h;
	const char		*why;
	size_t			 i;

	for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		ck_assert_int_eq(parse(lines[i], strlen(lines[i]), &h, &why),
		    1);
		ck_assert_uint_eq(h.ph_len, strlen(lines[i]) - 5);
		assert_needs_more(lines[i], h.ph_len);
	}
	assert_sa(&h.ph_src, "::ffff:127.0.0.1", 40006);
	assert_sa(&h.ph_dst, "::ffff:127.0.0.1", 17006);
}
END_TEST

START_TEST(test_v1_tcp6)
{
	const char		*in = "PROXY TCP6 "
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
	    "FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF 65535 65535\r\n";
	const char		*in2 = "PROXY TCP6 2001:db8::1 :: 0 1\r\n";
	const char		*in3 = "PROXY TCP6 1:: ::1.2.3.4 1 0\r\n";
	struct proxy_hdr	 h;
	const char		*why;

	ck_assert_uint_eq(strlen(in), 104);
	ck_assert_int_eq(parse(in, strlen(in), &h, &why), 1);
	ck_assert_uint_eq(h.ph_len, 104);
	assert_sa(&h.ph_src, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535);
	assert_sa(&h.ph_dst, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535);
	assert_needs_more(in, strlen(in));

	ck_assert_int_eq(parse(in2, strlen(in2), &h, &why), 1);
	assert_sa(&h.ph_src, "2001:db8::1", 0);
	assert_sa(&h.ph_dst, "::", 1);
	assert_needs_more(in2, strlen(in2));

	ck_assert_int_eq(parse(in3, strlen(in3), &h, &why), 1);
	assert_sa(&h.ph_src, "1::", 1);
	assert_sa(&h.ph_dst, "::1.2.3.4", 0);
	assert_needs_more(in3, strlen(in3));
}
END_TEST

START_TEST(test_v1_unknown)
{
	const char		*shortest = "PROXY UNKNOWN\r\nxyz";
	/* The worst case the specification names: exactly 107 bytes. */
	const char		*longest = "PROXY UNKNOWN "
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
	const char		*junk = "PROXY UNKNOWN anything ~!@#$%^&*() "
	    "at all\r\n";
	struct proxy_hdr	 h;
	const char		*why;

	ck_assert_int_eq(parse(shortest, strlen(shortest), &h, &why), 1);
	ck_assert_uint_eq(h.ph_len, 15);
	ck_assert(h.ph_local);
	ck_assert_int_eq(h.ph_version, 1);
	ck_assert_int_eq(h.ph_mptcp, -1);
	ck_assert_int_eq(h.ph_src.ss_family, AF_UNSPEC);
	ck_assert_int_eq(h.ph_dst.ss_family, AF_UNSPEC);
	assert_needs_more(shortest, 15);

	ck_assert_uint_eq(strlen(longest), PROXY_V1_MAX);
	ck_assert_int_eq(parse(longest, strlen(longest), &h, &why), 1);
	ck_assert_uint_eq(h.ph_len, PROXY_V1_MAX);
	ck_assert(h.ph_local);
	assert_needs_more(longest, strlen(longest));

	ck_assert_int_eq(parse(junk, strlen(junk), &h, &why), 1);
	ck_assert(h.ph_local);
	ck_assert_int_eq(parse("PROXY UNKNOWN \r\n", 16, &h, &why), 1);
}
END_TEST

START_TEST(test_v1_length_limit)
{
	char			 line[200];
	struct proxy_hdr	 h;
	const char		*why;
	size_t			 n;

	/* An UNKNOWN line of 108 bytes: refused once 107 have come. */
	n = (size_t)snprintf(line, sizeof(line), "PROXY UNKNOWN %0*d\r\n",
	    PROXY_V1_MAX + 1 - 16, 0);
	ck_assert_uint_eq(n, PROXY_V1_MAX + 1);
	assert_fails_at(line, n, PROXY_V1_MAX - 1,
	    "v1: header longer than 107 bytes");
	/* One byte less is the longest line there is. */
	n = (size_t)snprintf(line, sizeof(line), "PROXY UNKNOWN %0*d\r\n",
	    PROXY_V1_MAX - 16, 0);
	ck_assert_int_eq(parse(line, n, &h, &why), 1);
	ck_assert_uint_eq(h.ph_len, PROXY_V1_MAX);
	/*
	 * Without a CRLF, the 106th byte is the last that leaves room for
	 * one.
	 */
	memset(line, 'x', sizeof(line));
	memcpy(line, "PROXY UNKNOWN ", 14);
	assert_fails_at(line, sizeof(line), PROXY_V1_MAX - 1,
	    "v1: header longer than 107 bytes");
	/*
	 * inet_pton(3) takes IPv6 addresses with a dotted tail of 45
	 * characters, two of which make a 116-byte line. It is refused at
	 * the byte that makes 107 impossible, the last '5' of the second
	 * address, before it gets any longer.
	 */
	n = (size_t)snprintf(line, sizeof(line), "PROXY TCP6 %s %s 1 2\r\n",
	    "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255",
	    "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255");
	assert_fails_at(line, n, 11 + 45 + 1 + 45,
	    "v1: header longer than 107 bytes");
	/*
	 * Whatever comes after that byte, the reason stays (found by
	 * fuzz_proxy_parse: an invalid byte after it was reported instead).
	 */
	line[11 + 45 + 1 + 45] = 'o';
	assert_fails_at(line, n, 11 + 45 + 1 + 45,
	    "v1: header longer than 107 bytes");
	memset(line, 'x', sizeof(line));
	memcpy(line, "PROXY UNKNOWN ", 14);
	line[PROXY_V1_MAX - 1] = '\t';
	assert_fails_at(line, sizeof(line), PROXY_V1_MAX - 1,
	    "v1: header longer than 107 bytes");
	/* With room for a one-digit port only, "12" is too long, "00" not. */
	n = (size_t)snprintf(line, sizeof(line), "PROXY TCP6 %s %s 12",
	    "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255",
	    "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.25");
	assert_fails_at(line, n, n, "v1: header longer than 107 bytes");
	line[n - 2] = line[n - 1] = '0';
	assert_fails_at(line, n, n, "v1: port with a leading zero");

	/* The same with a shorter source is fine. */
	n = (size_t)snprintf(line, sizeof(line), "PROXY TCP6 %s %s 1 2\r\n",
	    "::1", "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255");
	ck_assert_int_eq(parse(line, n, &h, &why), 1);
	assert_sa(&h.ph_dst, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 2);
}
END_TEST

START_TEST(test_v1_ports)
{
	struct proxy_hdr	 h;
	const char		*why;
	const char		*in = "PROXY TCP4 1.2.3.4 5.6.7.8 0 65535\r\n";

	ck_assert_int_eq(parse(in, strlen(in), &h, &why), 1);
	assert_sa(&h.ph_src, "1.2.3.4", 0);
	assert_sa(&h.ph_dst, "5.6.7.8", 65535);

	assert_line_fails("PROXY TCP4 1.2.3.4 5.6.7.8 65536",
	    "v1: port out of range");
	assert_line_fails("PROXY TCP4 1.2.3.4 5.6.7.8 1 99999",
	    "v1: port out of range");
	assert_line_fails("PROXY TCP4 1.2.3.4 5.6.7.8 08",
	    "v1: port with a leading zero");
	assert_line_fails("PROXY TCP4 1.2.3.4 5.6.7.8 1 00",
	    "v1: port with a leading zero");
	assert_line_fails("PROXY TCP4 1.2.3.4 5.6.7.8 +",
	    "v1: invalid port");
	assert_line_fails("PROXY TCP4 1.2.3.4 5.6.7.8 1 -",
	    "v1: invalid port");
	assert_line_fails("PROXY TCP4 1.2.3.4 5.6.7.8 80\r",
	    "v1: missing destination port");
	assert_line_fails("PROXY TCP4 1.2.3.4 5.6.7.8 80 443 ",
	    "v1: expected CRLF after the destination port");
	assert_line_fails("PROXY TCP4 1.2.3.4 5.6.7.8 80 443\n",
	    "v1: expected CRLF after the destination port");
	assert_line_fails("PROXY TCP4 1.2.3.4 5.6.7.8 80 443 1",
	    "v1: expected CRLF after the destination port");
}
END_TEST

START_TEST(test_v1_rejects_bad_forms)
{
	static const struct {
		const char	*line;
		const char	*why;
	} bad[] = {
		/* Not v1 at all, known at the first wrong byte. */
		{ "G", "not a PROXY protocol header" },
		{ "p", "not a PROXY protocol header" },
		{ "PROX ", "not a PROXY protocol header" },
		{ "PROXYT", "v1: expected a single space" },
		/* Spaces. */
		{ "PROXY  ", "v1: expected a single space" },
		{ "PROXY\t", "v1: expected a single space" },
		{ "PROXY TCP4  ", "v1: expected a single space" },
		{ "PROXY TCP4 1.2.3.4  ", "v1: expected a single space" },
		{ "PROXY TCP4 1.2.3.4 5.6.7.8  ",
		    "v1: expected a single space" },
		{ "PROXY TCP4 1.2.3.4 5.6.7.8 1  ",
		    "v1: expected a single space" },
		{ "PROXY TCP6  ", "v1: expected a single space" },
		{ "PROXY TCP6 ::1  ", "v1: expected a single space" },
		{ "PROXY TCP4\t", "v1: expected TCP4, TCP6 or UNKNOWN" },
		/* The protocol, in capitals. */
		{ "PROXY t", "v1: expected TCP4, TCP6 or UNKNOWN" },
		{ "PROXY Tc", "v1: expected TCP4, TCP6 or UNKNOWN" },
		{ "PROXY TCP5", "v1: expected TCP4, TCP6 or UNKNOWN" },
		{ "PROXY TCP44", "v1: expected TCP4, TCP6 or UNKNOWN" },
		{ "PROXY UD", "v1: expected TCP4, TCP6 or UNKNOWN" },
		{ "PROXY UNKNOWn", "v1: expected TCP4, TCP6 or UNKNOWN" },
		{ "PROXY UNKNOWNX", "v1: expected TCP4, TCP6 or UNKNOWN" },
		{ "PROXY \r", "v1: expected TCP4, TCP6 or UNKNOWN" },
		/* CRLF and nothing else ends the line. */
		{ "PROXY UNKNOWN\n", "v1: expected CRLF" },
		{ "PROXY UNKNOWN\rx", "v1: expected CRLF" },
		{ "PROXY UNKNOWN\r\r", "v1: expected CRLF" },
		{ "PROXY UNKNOWN x\n", "v1: expected CRLF" },
		{ "PROXY UNKNOWN x\t",
		    "v1: non-printable byte in an UNKNOWN line" },
		{ "PROXY UNKNOWN x\x80",
		    "v1: non-printable byte in an UNKNOWN line" },
		{ "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rx", "v1: expected CRLF" },
		/* IPv4. */
		{ "PROXY TCP4 1.2.3.256", "v1: invalid IPv4 address" },
		{ "PROXY TCP4 01", "v1: invalid IPv4 address" },
		{ "PROXY TCP4 1.2.3.00", "v1: invalid IPv4 address" },
		{ "PROXY TCP4 1.2.3 ", "v1: invalid IPv4 address" },
		{ "PROXY TCP4 1.2.3.4.", "v1: invalid IPv4 address" },
		{ "PROXY TCP4 1..", "v1: invalid IPv4 address" },
		{ "PROXY TCP4 .", "v1: invalid IPv4 address" },
		{ "PROXY TCP4 1.2.3.4 5.6.7. ", "v1: invalid IPv4 address" },
		{ "PROXY TCP4 1.2.3.4 5.6.7.8\r", "v1: invalid IPv4 address" },
		{ "PROXY TCP4 0x", "v1: invalid IPv4 address" },
		{ "PROXY TCP4 :", "v1: invalid IPv4 address" },
		{ "PROXY TCP4 1.2.3.4 :", "v1: invalid IPv4 address" },
		/* IPv6. */
		{ "PROXY TCP6 1.", "v1: invalid IPv6 address" },
		{ "PROXY TCP6 :1", "v1: invalid IPv6 address" },
		{ "PROXY TCP6 : ", "v1: invalid IPv6 address" },
		{ "PROXY TCP6 :::", "v1: invalid IPv6 address" },
		{ "PROXY TCP6 1::2::", "v1: invalid IPv6 address" },
		{ "PROXY TCP6 12345", "v1: invalid IPv6 address" },
		{ "PROXY TCP6 1: ", "v1: invalid IPv6 address" },
		{ "PROXY TCP6 1:2:3:4:5:6:7 ", "v1: invalid IPv6 address" },
		{ "PROXY TCP6 1:2:3:4:5:6:7:8:", "v1: invalid IPv6 address" },
		{ "PROXY TCP6 1:2:3:4:5:6:7::8", "v1: invalid IPv6 address" },
		{ "PROXY TCP6 ::1:2:3:4:5:6:7:", "v1: invalid IPv6 address" },
		{ "PROXY TCP6 g", "v1: invalid IPv6 address" },
		{ "PROXY TCP6 fe80::1%", "v1: invalid IPv6 address" },
		{ "PROXY TCP6 [", "v1: invalid IPv6 address" },
		{ "PROXY TCP6 ::1.2.3.4:", "v1: invalid IPv6 address" },
		{ "PROXY TCP6 ::1.2.3.04", "v1: invalid IPv6 address" },
		{ "PROXY TCP6 ::1.2.3.256", "v1: invalid IPv6 address" },
		{ "PROXY TCP6 ::01.", "v1: invalid IPv6 address" },
		{ "PROXY TCP6 ::a.", "v1: invalid IPv6 address" },
		{ "PROXY TCP6 ::256.", "v1: invalid IPv6 address" },
		{ "PROXY TCP6 1:2:3:4:5:6:7:1.", "v1: invalid IPv6 address" },
		{ "PROXY TCP6 1:2:3:4:5:1.", "v1: invalid IPv6 address" },
		{ "PROXY TCP6 1::2:3:4:5:6:1.", "v1: invalid IPv6 address" },
		{ "PROXY TCP6 ::1.2.3.4.", "v1: invalid IPv6 address" },
		{ "PROXY TCP6 ::1.2.3 ", "v1: invalid IPv6 address" },
		{ "PROXY TCP6 ::1 1.", "v1: invalid IPv6 address" },
	};
	char	 more[128];
	size_t	 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_line_fails(bad[i].line, bad[i].why);
		/* ... and not a byte earlier ... */
		assert_needs_more(bad[i].line, strlen(bad[i].line));
		/* ... for that byte, whatever follows. */
		snprintf(more, sizeof(more), "%s1.2.3.4 \r\n", bad[i].line);
		assert_line_fails(more, bad[i].why);
	}
}
END_TEST

/*
 * Every string of 1 to maxlen characters of alpha, put between before and
 * after to make a v1 line, is accepted exactly when inet_pton(3) takes it
 * as an address of family af, and read as it reads it.
 */
static void
assert_follows_inet_pton(int af, const char *alpha, size_t maxlen,
    const char *before, const char *after, size_t off)
{
	char			 tok[16], line[80];
	struct proxy_hdr	 h;
	const char		*why;
	struct in6_addr		 a;
	size_t			 len, i, n, idx, v, nalpha = strlen(alpha);
	unsigned		 valid = 0;
	int			 want, rv;

	ck_assert_uint_lt(maxlen, sizeof(tok));
	for (len = 1; len <= maxlen; len++) {
		for (n = 1, i = 0; i < len; i++)
			n *= nalpha;
		for (idx = 0; idx < n; idx++) {
			for (v = idx, i = 0; i < len; i++, v /= nalpha)
				tok[i] = alpha[v % nalpha];
			tok[len] = '\0';
			want = inet_pton(af, tok, &a) == 1;
			snprintf(line, sizeof(line), "%s%s%s", before, tok,
			    after);
			rv = proxy_parse(line, strlen(line), &h, &why);
			ck_assert_msg(rv == (want ? 1 : -1),
			    "\"%s\": %d, inet_pton says %d", tok, rv, want);
			if (!want)
				continue;
			valid++;
			ck_assert(memcmp((const char *)&h + off, &a,
			    af == AF_INET ? 4 : 16) == 0);
		}
	}
	ck_assert_uint_gt(valid, 100);
}

START_TEST(test_v1_ipv6_follows_inet_pton)
{
	assert_follows_inet_pton(AF_INET6, "01f:.", 7, "PROXY TCP6 ",
	    " ::1 1 2\r\n", offsetof(struct proxy_hdr, ph_src) +
	    offsetof(struct sockaddr_in6, sin6_addr));
}
END_TEST

START_TEST(test_v1_ipv4_follows_inet_pton)
{
	assert_follows_inet_pton(AF_INET, "0125.", 8, "PROXY TCP4 1.1.1.1 ",
	    " 1 2\r\n", offsetof(struct proxy_hdr, ph_dst) +
	    offsetof(struct sockaddr_in, sin_addr));
}
END_TEST

/*
 * v2
 */

static const char	*haproxy_v2_tcp4 =
    "0d0a0d0a000d0a515549540a2111000c7f0000017f0000019c42426a68656c6c6f";
static const char	*haproxy_v2_tcp4_crc =
    "0d0a0d0a000d0a515549540a211100137f0000017f0000019c43426b03000427e1817d"
    "68656c6c6f";
static const char	*haproxy_v2_tcp6_crc =
    "0d0a0d0a000d0a515549540a2121002b000000000000000000000000000000010000"
    "00000000000000000000000000019c45426d0300046b66032e68656c6c6f";
static const char	*haproxy_v2_mapped =
    "0d0a0d0a000d0a515549540a2121002400000000000000000000ffff7f0000010000"
    "0000000000000000ffff7f0000019c47426f68656c6c6f";

START_TEST(test_v2_haproxy)
{
	uint8_t			 b[BUF_MAX];
	struct proxy_hdr	 h;
	const char		*why;
	size_t			 n;

	n = unhex(haproxy_v2_tcp4, b);
	ck_assert_int_eq(parse(b, n, &h, &why), 1);
	ck_assert_int_eq(h.ph_version, 2);
	ck_assert(!h.ph_local);
	ck_assert_int_eq(h.ph_mptcp, -1);
	ck_assert_uint_eq(h.ph_len, 28);
	ck_assert_mem_eq(b + h.ph_len, "hello", 5);
	assert_sa(&h.ph_src, "127.0.0.1", 40002);
	assert_sa(&h.ph_dst, "127.0.0.1", 17002);
	assert_needs_more(b, h.ph_len);

	n = unhex(haproxy_v2_tcp4_crc, b);
	ck_assert_int_eq(parse(b, n, &h, &why), 1);
	ck_assert_uint_eq(h.ph_len, 35);
	assert_sa(&h.ph_src, "127.0.0.1", 40003);
	assert_needs_more(b, h.ph_len);

	n = unhex(haproxy_v2_tcp6_crc, b);
	ck_assert_int_eq(parse(b, n, &h, &why), 1);
	ck_assert_uint_eq(h.ph_len, 59);
	assert_sa(&h.ph_src, "::1", 40005);
	assert_sa(&h.ph_dst, "::1", 17005);
	assert_needs_more(b, h.ph_len);

	n = unhex(haproxy_v2_mapped, b);
	ck_assert_int_eq(parse(b, n, &h, &why), 1);
	assert_sa(&h.ph_src, "::ffff:127.0.0.1", 40007);
	assert_sa(&h.ph_dst, "::ffff:127.0.0.1", 17007);
}
END_TEST

START_TEST(test_v2_tcp6_fields)
{
	uint8_t			 b[BUF_MAX];
	struct proxy_hdr	 h;
	const char		*why;
	size_t			 n;
	static const uint8_t	 addrs[36] = {
		0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
		0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02,
		0xc3, 0x50, 0x01, 0xbb,
	};

	n = v2_make(b, 0x21, 0x21, 36);
	memcpy(b + 16, addrs, sizeof(addrs));
	memcpy(b + n, "data", 4);
	ck_assert_int_eq(parse(b, n + 4, &h, &why), 1);
	ck_assert_uint_eq(h.ph_len, 52);
	assert_sa(&h.ph_src, "2001:db8::1", 50000);
	assert_sa(&h.ph_dst, "2001:db8::2", 443);
	ck_assert_mem_eq(b + h.ph_len, "data", 4);
}
END_TEST

START_TEST(test_v2_local)
{
	uint8_t			 b[BUF_MAX];
	struct proxy_hdr	 h;
	const char		*why;
	size_t			 n;
	static const uint8_t	 fams[] = { 0x00, 0x11, 0x12, 0x21, 0x22,
	    0x31, 0x32 };
	static const size_t	 alens[] = { 0, 12, 12, 36, 36, 216, 216 };
	static const uint8_t	 mptcp[] = { 1, 1 };
	size_t			 i;

	/* A balancer's health check: LOCAL, no address. */
	n = v2_make(b, 0x20, 0x00, 0);
	ck_assert_uint_eq(n, 16);
	ck_assert_int_eq(parse(b, n, &h, &why), 1);
	ck_assert_int_eq(h.ph_version, 2);
	ck_assert(h.ph_local);
	ck_assert_uint_eq(h.ph_len, 16);
	ck_assert_int_eq(h.ph_src.ss_family, AF_UNSPEC);
	ck_assert_int_eq(h.ph_dst.ss_family, AF_UNSPEC);
	assert_needs_more(b, n);

	/* LOCAL with any family the specification lists: its block is
	 * skipped, whatever it holds, and TLVs after it are read. */
	for (i = 0; i < sizeof(fams); i++) {
		n = v2_make(b, 0x20, fams[i], alens[i]);
		n = v2_tlv(b, n, PROXY_TLV_MPTCP, mptcp, 2);
		ck_assert_int_eq(parse(b, n, &h, &why), 1);
		ck_assert(h.ph_local);
		ck_assert_int_eq(h.ph_mptcp, 1);
		ck_assert_uint_eq(h.ph_len, n);
		ck_assert_int_eq(h.ph_src.ss_family, AF_UNSPEC);
	}

	/* PROXY with an unspecified family is LOCAL. */
	n = v2_make(b, 0x21, 0x00, 0);
	ck_assert_int_eq(parse(b, n, &h, &why), 1);
	ck_assert(h.ph_local);
	/* ... and an address block it may carry is ignored. */
	n = v2_make(b, 0x21, 0x00, 12);
	ck_assert_int_eq(parse(b, n, &h, &why), -1);
	ck_assert_str_eq(why, "v2: TLV overruns the header");
}
END_TEST

START_TEST(test_v2_signature_byte_by_byte)
{
	uint8_t		 b[BUF_MAX];
	size_t		 n, i;
	unsigned	 bit;

	n = v2_make(b, 0x21, 0x11, 12);
	for (i = 0; i < 12; i++)
		for (bit = 0; bit < 8; bit++) {
			b[i] ^= (uint8_t)(1 << bit);
			/* A 'P' first is the start of v1. */
			if (i != 0 || b[0] != 'P')
				assert_fails_at(b, n, i + 1,
				    "not a PROXY protocol header");
			b[i] ^= (uint8_t)(1 << bit);
		}
}
END_TEST

START_TEST(test_v2_version_and_command)
{
	uint8_t		 b[BUF_MAX];
	size_t		 n;
	unsigned	 vc;

	for (vc = 0; vc < 256; vc++) {
		n = v2_make(b, (uint8_t)vc, 0x11, 12);
		if ((vc & 0xf0) != 0x20)
			assert_fails_at(b, n, 13, "v2: unsupported version");
		else if ((vc & 0x0f) > 1)
			assert_fails_at(b, n, 13, "v2: unsupported command");
	}
}
END_TEST

START_TEST(test_v2_families)
{
	uint8_t			 b[BUF_MAX];
	struct proxy_hdr	 h;
	const char		*why;
	size_t			 n;
	unsigned		 fam;

	for (fam = 0; fam < 256; fam++) {
		n = v2_make(b, 0x21, (uint8_t)fam, 216);
		switch (fam) {
		case 0x00:
		case 0x11:
		case 0x21:
			/* TLVs are what is left after the block. */
			n = v2_make(b, 0x21, (uint8_t)fam,
			    fam == 0x11 ? 12 : fam == 0x21 ? 36 : 0);
			ck_assert_int_eq(parse(b, n, &h, &why), 1);
			break;
		case 0x12:
		case 0x22:
			assert_fails_at(b, n, 14,
			    "v2: UDP is not supported (the relay carries TCP)");
			break;
		case 0x31:
		case 0x32:
			assert_fails_at(b, n, 14, "v2: AF_UNIX is not "
			    "supported (the relay carries TCP)");
			break;
		default:
			assert_fails_at(b, n, 14,
			    "v2: invalid address family or transport protocol");
		}
	}
}
END_TEST

START_TEST(test_v2_length)
{
	static uint8_t		 b[BUF_MAX];
	struct proxy_hdr	 h;
	const char		*why;
	size_t			 n;

	/* The largest header accepted: an address block and padding. */
	n = v2_make(b, 0x21, 0x11, 12);
	n = v2_tlv(b, n, 0x04, NULL, PROXY_PARSE_MAX - n - 3);
	ck_assert_uint_eq(n, PROXY_PARSE_MAX);
	ck_assert_uint_eq((b[14] << 8) | b[15], PROXY_V2_LEN_MAX);
	ck_assert_int_eq(parse(b, n, &h, &why), 1);
	ck_assert_uint_eq(h.ph_len, PROXY_PARSE_MAX);
	ck_assert_int_eq(parse(b, n - 1, &h, &why), 0);

	/* One more is refused as soon as the length field is in. */
	v2_set_len(b, PROXY_PARSE_MAX + 1);
	assert_fails_at(b, 64, 16, "v2: length over 4096 bytes");
	b[14] = b[15] = 0xff;
	assert_fails_at(b, 64, 16, "v2: length over 4096 bytes");

	/* The address block the family needs must fit in the length. */
	n = v2_make(b, 0x21, 0x11, 11);
	assert_fails_at(b, n, 16,
	    "v2: address block shorter than its family needs");
	n = v2_make(b, 0x21, 0x21, 35);
	assert_fails_at(b, n, 16,
	    "v2: address block shorter than its family needs");
	n = v2_make(b, 0x21, 0x21, 12);
	assert_fails_at(b, n, 16,
	    "v2: address block shorter than its family needs");
	n = v2_make(b, 0x20, 0x31, 215);
	assert_fails_at(b, n, 16,
	    "v2: address block shorter than its family needs");

	/* Longer than the addresses: a TLV must follow. */
	n = v2_make(b, 0x21, 0x11, 13);
	assert_fails_at(b, n, 16, "v2: TLV overruns the header");
	n = v2_make(b, 0x21, 0x11, 14);
	assert_fails_at(b, n, 16, "v2: TLV overruns the header");
}
END_TEST

START_TEST(test_v2_tlvs)
{
	uint8_t			 b[BUF_MAX];
	struct proxy_hdr	 h;
	const char		*why;
	size_t			 n, m;
	static const uint8_t	 on[] = { 1, 1 }, off[] = { 1, 0 },
	    other_bits[] = { 1, 0xfe }, both[] = { 1, 0xff },
	    v2[] = { 2, 1 }, three[] = { 1, 1, 0 };

	/* Registered, unknown, empty and NOOP TLVs are skipped. */
	n = v2_make(b, 0x21, 0x11, 12);
	n = v2_tlv(b, n, 0x01, "h2", 2);		/* ALPN */
	n = v2_tlv(b, n, 0x02, "example.com", 11);	/* AUTHORITY */
	n = v2_tlv(b, n, 0x04, NULL, 0);		/* NOOP */
	n = v2_tlv(b, n, 0x04, "\0\0\0\0\0", 5);
	n = v2_tlv(b, n, 0x05, "id", 2);		/* UNIQUE_ID */
	n = v2_tlv(b, n, 0x20, "\x01\0\0\0\0", 5);	/* SSL */
	n = v2_tlv(b, n, 0xea, "vpce-0123", 9);	/* AWS */
	n = v2_tlv(b, n, 0xff, NULL, 0);
	ck_assert_int_eq(parse(b, n, &h, &why), 1);
	ck_assert_uint_eq(h.ph_len, n);
	ck_assert_int_eq(h.ph_mptcp, -1);
	assert_needs_more(b, n);

	/* Ours, among others. */
	m = v2_tlv(b, n, PROXY_TLV_MPTCP, on, 2);
	ck_assert_int_eq(parse(b, m, &h, &why), 1);
	ck_assert_int_eq(h.ph_mptcp, 1);
	m = v2_tlv(b, n, PROXY_TLV_MPTCP, off, 2);
	ck_assert_int_eq(parse(b, m, &h, &why), 1);
	ck_assert_int_eq(h.ph_mptcp, 0);
	/* Reserved flag bits are ignored. */
	m = v2_tlv(b, n, PROXY_TLV_MPTCP, other_bits, 2);
	ck_assert_int_eq(parse(b, m, &h, &why), 1);
	ck_assert_int_eq(h.ph_mptcp, 0);
	m = v2_tlv(b, n, PROXY_TLV_MPTCP, both, 2);
	ck_assert_int_eq(parse(b, m, &h, &why), 1);
	ck_assert_int_eq(h.ph_mptcp, 1);
	/* Another format or size is someone else's 0xE7: ignored. */
	m = v2_tlv(b, n, PROXY_TLV_MPTCP, v2, 2);
	ck_assert_int_eq(parse(b, m, &h, &why), 1);
	ck_assert_int_eq(h.ph_mptcp, -1);
	m = v2_tlv(b, n, PROXY_TLV_MPTCP, three, 3);
	ck_assert_int_eq(parse(b, m, &h, &why), 1);
	ck_assert_int_eq(h.ph_mptcp, -1);
	m = v2_tlv(b, n, PROXY_TLV_MPTCP, on, 1);
	ck_assert_int_eq(parse(b, m, &h, &why), 1);
	ck_assert_int_eq(h.ph_mptcp, -1);
	/* Two of ours: which one to believe? */
	m = v2_tlv(b, n, PROXY_TLV_MPTCP, on, 2);
	m = v2_tlv(b, m, PROXY_TLV_MPTCP, on, 2);
	assert_fails_at(b, m, m, "v2: two MPTCP TLVs");
}
END_TEST

START_TEST(test_v2_tlv_overrun)
{
	uint8_t			 b[BUF_MAX];
	size_t			 n, m;

	memset(b, 0, sizeof(b));
	/* A TLV's length past the end: refused once its header is in. */
	n = v2_make(b, 0x21, 0x11, 12);
	m = v2_tlv(b, n, 0x01, "abcd", 4);
	b[n + 2] = 5;
	assert_fails_at(b, m, n + 3, "v2: TLV overruns the header");
	b[n + 1] = 0xff;
	assert_fails_at(b, m, n + 3, "v2: TLV overruns the header");
	/* One or two bytes that cannot hold a TLV header. */
	for (m = 1; m <= 2; m++) {
		n = v2_make(b, 0x21, 0x21, 36);
		n = v2_tlv(b, n, 0x01, "abcd", 4);
		v2_set_len(b, n + m);
		assert_fails_at(b, n + m, n - 4, "v2: TLV overruns the header");
	}
	/* In the middle of several. */
	n = v2_make(b, 0x21, 0x11, 12);
	n = v2_tlv(b, n, 0x01, "ab", 2);
	m = v2_tlv(b, n, 0x02, "cd", 2);
	m = v2_tlv(b, m, 0x03, "efgh", 4);
	b[n + 2] = 200;
	assert_fails_at(b, m, n + 3, "v2: TLV overruns the header");
}
END_TEST

START_TEST(test_v2_crc32c)
{
	uint8_t			 b[BUF_MAX];
	struct proxy_hdr	 h;
	const char		*why;
	size_t			 n, crc, i;
	static const uint8_t	 on[] = { 1, 1 };

	/* The reference itself: the check value of RFC 3720, B.4. */
	ck_assert_uint_eq(crc32c_ref((const uint8_t *)"123456789", 9),
	    0xe3069283);

	/* Good, in any place among the TLVs. */
	n = v2_make(b, 0x21, 0x21, 36);
	n = v2_tlv(b, n, 0x01, "h2", 2);
	crc = n + 3;
	n = v2_tlv(b, n, 0x03, "\0\0\0\0", 4);
	n = v2_tlv(b, n, PROXY_TLV_MPTCP, on, 2);
	v2_add_crc(b, n, crc);
	memcpy(b + n, "client", 6);
	ck_assert_int_eq(parse(b, n + 6, &h, &why), 1);
	ck_assert_uint_eq(h.ph_len, n);
	ck_assert_int_eq(h.ph_mptcp, 1);
	assert_needs_more(b, n);

	/* Any bit changed anywhere after the signature is caught. */
	for (i = 16; i < n; i++) {
		b[i] ^= 0x10;
		if (i == crc - 3)	/* no longer a CRC32C TLV */
			ck_assert_int_eq(parse(b, n, &h, &why), 1);
		else
			ck_assert_int_eq(parse(b, n, &h, &why), -1);
		/* Unless a TLV's length changed, it is the sum. */
		if (i != crc - 3 && i != crc - 2 && i != crc - 1 &&
		    i != 16 + 36 + 1 && i != 16 + 36 + 2 &&
		    i != crc + 4 + 1 && i != crc + 4 + 2)
			ck_assert_str_eq(why, "v2: CRC32C mismatch");
		b[i] ^= 0x10;
	}
	ck_assert_int_eq(parse(b, n, &h, &why), 1);
	/* Only known when the last byte is in. */
	b[crc] ^= 1;
	assert_fails_at(b, n, n, "v2: CRC32C mismatch");
	b[crc] ^= 1;

	/* Not 4 bytes, or two of them. */
	n = v2_make(b, 0x21, 0x11, 12);
	n = v2_tlv(b, n, 0x03, "\0\0\0", 3);
	assert_fails_at(b, n, n - 3, "v2: CRC32C TLV not 4 bytes long");
	n = v2_make(b, 0x21, 0x11, 12);
	n = v2_tlv(b, n, 0x03, "\0\0\0\0\0", 5);
	assert_fails_at(b, n, n - 5, "v2: CRC32C TLV not 4 bytes long");
	n = v2_make(b, 0x21, 0x11, 12);
	n = v2_tlv(b, n, 0x03, "\0\0\0\0", 4);
	crc = n;
	n = v2_tlv(b, n, 0x03, "\0\0\0\0", 4);
	assert_fails_at(b, n, crc + 3, "v2: two CRC32C TLVs");
}
END_TEST

START_TEST(test_v2_truncation)
{
	uint8_t		 b[BUF_MAX];
	size_t		 n;
	static const uint8_t	 on[] = { 1, 1 };

	n = v2_make(b, 0x21, 0x11, 12);
	assert_needs_more(b, n);
	n = v2_make(b, 0x21, 0x21, 36);
	n = v2_tlv(b, n, 0x02, "example.com", 11);
	n = v2_tlv(b, n, PROXY_TLV_MPTCP, on, 2);
	assert_needs_more(b, n);
	n = v2_make(b, 0x20, 0x31, 216);
	n = v2_tlv(b, n, 0x04, NULL, 0);
	assert_needs_more(b, n);
}
END_TEST

/*
 * Building
 */

START_TEST(test_build_v1)
{
	struct sockaddr_storage	 s, d;
	char			 b[PROXY_HDR_MAX];
	int			 n;

	s = sa("198.18.1.1", 52580);
	d = sa("192.0.2.10", 443);
	n = proxy_build_v1(b, sizeof(b), (struct sockaddr *)&s,
	    (struct sockaddr *)&d);
	ck_assert_int_eq(n, 44);
	ck_assert_mem_eq(b, "PROXY TCP4 198.18.1.1 192.0.2.10 52580 443\r\n",
	    44);

	s = sa("2001:db8::1", 1);
	d = sa("2001:db8:0:0:1::", 0);
	n = proxy_build_v1(b, sizeof(b), (struct sockaddr *)&s,
	    (struct sockaddr *)&d);
	ck_assert_mem_eq(b, "PROXY TCP6 2001:db8::1 2001:db8:0:0:1:: 1 0\r\n",
	    (size_t)n);

	/* The longest line the builder writes. */
	s = sa("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535);
	n = proxy_build_v1(b, sizeof(b), (struct sockaddr *)&s,
	    (struct sockaddr *)&s);
	ck_assert_int_eq(n, 104);

	/* A dual-stack listener's IPv4 client is an IPv4 client. */
	s = sa("::ffff:198.18.1.1", 52580);
	d = sa("::ffff:192.0.2.10", 443);
	n = proxy_build_v1(b, sizeof(b), (struct sockaddr *)&s,
	    (struct sockaddr *)&d);
	ck_assert_mem_eq(b, "PROXY TCP4 198.18.1.1 192.0.2.10 52580 443\r\n",
	    (size_t)n);
	s = sa("::ffff:198.18.1.1", 52580);
	d = sa("192.0.2.10", 443);
	n = proxy_build_v1(b, sizeof(b), (struct sockaddr *)&s,
	    (struct sockaddr *)&d);
	ck_assert_mem_eq(b, "PROXY TCP4 198.18.1.1 192.0.2.10 52580 443\r\n",
	    (size_t)n);

	/* Mixed families: the IPv4 one mapped into IPv6. */
	s = sa("198.18.1.1", 52580);
	d = sa("2001:db8::10", 443);
	n = proxy_build_v1(b, sizeof(b), (struct sockaddr *)&s,
	    (struct sockaddr *)&d);
	ck_assert_mem_eq(b,
	    "PROXY TCP6 ::ffff:198.18.1.1 2001:db8::10 52580 443\r\n",
	    (size_t)n);
	n = proxy_build_v1(b, sizeof(b), (struct sockaddr *)&d,
	    (struct sockaddr *)&s);
	ck_assert_mem_eq(b,
	    "PROXY TCP6 2001:db8::10 ::ffff:198.18.1.1 443 52580\r\n",
	    (size_t)n);

	/* Local. */
	n = proxy_build_v1(b, sizeof(b), NULL, (struct sockaddr *)&d);
	ck_assert_int_eq(n, 15);
	ck_assert_mem_eq(b, "PROXY UNKNOWN\r\n", 15);
	n = proxy_build_v1(b, sizeof(b), (struct sockaddr *)&s, NULL);
	ck_assert_int_eq(n, 15);
}
END_TEST

START_TEST(test_build_v2_ipv4_bytes)
{
	static const uint8_t	 want[] = {
		/* signature */
		0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51,
		0x55, 0x49, 0x54, 0x0a,
		0x21,			/* version 2, PROXY */
		0x11,			/* TCP over IPv4 */
		0x00, 0x11,		/* 12 + 5 bytes follow */
		198, 18, 1, 1,		/* source */
		192, 0, 2, 10,		/* destination */
		0xcd, 0x64,		/* 52580 */
		0x01, 0xbb,		/* 443 */
		0xe7, 0x00, 0x02,	/* our TLV, 2 bytes */
		0x01,			/* format version 1 */
		0x01,			/* the client negotiated MPTCP */
	};
	struct sockaddr_storage	 s, d;
	uint8_t			 b[PROXY_HDR_MAX];
	int			 n;

	s = sa("198.18.1.1", 52580);
	d = sa("192.0.2.10", 443);
	n = proxy_build_v2(b, sizeof(b), (struct sockaddr *)&s,
	    (struct sockaddr *)&d, true);
	ck_assert_int_eq(n, sizeof(want));
	ck_assert_mem_eq(b, want, sizeof(want));

	/* The same from a dual-stack listener, without MPTCP. */
	s = sa("::ffff:198.18.1.1", 52580);
	d = sa("::ffff:192.0.2.10", 443);
	n = proxy_build_v2(b, sizeof(b), (struct sockaddr *)&s,
	    (struct sockaddr *)&d, false);
	ck_assert_int_eq(n, sizeof(want));
	ck_assert_mem_eq(b, want, sizeof(want) - 1);
	ck_assert_uint_eq(b[sizeof(want) - 1], 0x00);
}
END_TEST

START_TEST(test_build_v2_ipv6_bytes)
{
	static const uint8_t	 want[] = {
		0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51,
		0x55, 0x49, 0x54, 0x0a,
		0x21,			/* version 2, PROXY */
		0x21,			/* TCP over IPv6 */
		0x00, 0x29,		/* 36 + 5 bytes follow */
		/* source 2001:db8::1 */
		0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
		/* destination ::ffff:192.0.2.10, mapped */
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x00, 0x00, 0xff, 0xff, 192, 0, 2, 10,
		0xff, 0xff,		/* 65535 */
		0x00, 0x00,		/* 0 */
		0xe7, 0x00, 0x02, 0x01, 0x00,
	};
	static const uint8_t	 local[] = {
		0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51,
		0x55, 0x49, 0x54, 0x0a,
		0x20,			/* version 2, LOCAL */
		0x00,			/* unspecified */
		0x00, 0x05,
		0xe7, 0x00, 0x02, 0x01, 0x01,
	};
	struct sockaddr_storage	 s, d;
	uint8_t			 b[PROXY_HDR_MAX];
	int			 n;

	s = sa("2001:db8::1", 65535);
	d = sa("192.0.2.10", 0);
	n = proxy_build_v2(b, sizeof(b), (struct sockaddr *)&s,
	    (struct sockaddr *)&d, false);
	ck_assert_int_eq(n, sizeof(want));
	ck_assert_int_eq(n, 57);
	ck_assert_mem_eq(b, want, sizeof(want));

	n = proxy_build_v2(b, sizeof(b), NULL, NULL, true);
	ck_assert_int_eq(n, sizeof(local));
	ck_assert_mem_eq(b, local, sizeof(local));
}
END_TEST

START_TEST(test_build_refuses)
{
	struct sockaddr_storage	 s, d;
	struct sockaddr_un	 un;
	uint8_t			 b[PROXY_HDR_MAX];

	memset(&un, 0, sizeof(un));
	un.sun_family = AF_UNIX;
	s = sa("198.18.1.1", 1);
	d = sa("2001:db8::1", 2);
	ck_assert_int_eq(proxy_build_v1(b, sizeof(b), (struct sockaddr *)&un,
	    (struct sockaddr *)&d), -1);
	ck_assert_int_eq(proxy_build_v2(b, sizeof(b), (struct sockaddr *)&s,
	    (struct sockaddr *)&un, true), -1);
	/* Too small a buffer: nothing written. */
	memset(b, 0x5a, sizeof(b));
	ck_assert_int_eq(proxy_build_v1(b, 44, (struct sockaddr *)&s,
	    (struct sockaddr *)&d), -1);
	ck_assert_int_eq(proxy_build_v2(b, 56, (struct sockaddr *)&s,
	    (struct sockaddr *)&d, true), -1);
	ck_assert_int_eq(proxy_build_v2(b, 20, NULL, NULL, true), -1);
	ck_assert_uint_eq(b[0], 0x5a);
	ck_assert_int_eq(proxy_build_v2(b, 57, (struct sockaddr *)&s,
	    (struct sockaddr *)&d, true), 57);
}
END_TEST

/* Build v1 and v2 headers for src -> dst and parse them back. */
static void
assert_roundtrip(const char *src, unsigned sport, const char *dst,
    unsigned dport)
{
	struct sockaddr_storage	 s, d;
	struct proxy_hdr	 h;
	const char		*why;
	uint8_t			 b[PROXY_HDR_MAX + 8];
	int			 n, v, mptcp;

	s = sa(src, sport);
	d = sa(dst, dport);
	for (v = 1; v <= 2; v++)
		for (mptcp = 0; mptcp <= 1; mptcp++) {
			n = v == 1 ? proxy_build_v1(b, PROXY_HDR_MAX,
			    (struct sockaddr *)&s, (struct sockaddr *)&d) :
			    proxy_build_v2(b, PROXY_HDR_MAX,
			    (struct sockaddr *)&s, (struct sockaddr *)&d,
			    mptcp);
			ck_assert_int_gt(n, 0);
			memcpy(b + n, "DATA", 4);
			ck_assert_int_eq(parse(b, (size_t)n + 4, &h, &why), 1);
			ck_assert_int_eq(h.ph_version, v);
			ck_assert_uint_eq(h.ph_len, n);
			ck_assert(!h.ph_local);
			ck_assert_int_eq(h.ph_mptcp, v == 1 ? -1 : mptcp);
			assert_sa(&h.ph_src, src, sport);
			assert_sa(&h.ph_dst, dst, dport);
			assert_needs_more(b, (size_t)n);
		}
}

START_TEST(test_build_roundtrip)
{
	assert_roundtrip("0.0.0.0", 0, "255.255.255.255", 65535);
	assert_roundtrip("198.18.1.1", 52580, "192.0.2.10", 443);
	assert_roundtrip("::", 1, "::1", 2);
	assert_roundtrip("2001:db8::1", 40000, "fe80::1:2:3:4", 80);
	assert_roundtrip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535,
	    "1:2:3:4:5:6:7:8", 1);
	/* Mixed families arrive as IPv6, the IPv4 one mapped. */
	assert_roundtrip("::ffff:198.18.1.1", 7, "2001:db8::2", 8);
	assert_roundtrip("2001:db8::2", 8, "::ffff:0.0.0.0", 0);
}
END_TEST

START_TEST(test_build_local_roundtrip)
{
	struct proxy_hdr	 h;
	const char		*why;
	uint8_t			 b[PROXY_HDR_MAX];
	int			 n;

	n = proxy_build_v1(b, sizeof(b), NULL, NULL);
	ck_assert_int_eq(parse(b, (size_t)n, &h, &why), 1);
	ck_assert(h.ph_local);
	n = proxy_build_v2(b, sizeof(b), NULL, NULL, false);
	ck_assert_int_eq(parse(b, (size_t)n, &h, &why), 1);
	ck_assert(h.ph_local);
	ck_assert_int_eq(h.ph_mptcp, 0);
}
END_TEST

static Suite *
proxy_proto_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("proxy_proto");

	tc = tcase_create("v1");
	tcase_add_test(tc, test_v1_tcp4);
	tcase_add_test(tc, test_v1_haproxy);
	tcase_add_test(tc, test_v1_tcp6);
	tcase_add_test(tc, test_v1_unknown);
	tcase_add_test(tc, test_v1_length_limit);
	tcase_add_test(tc, test_v1_ports);
	tcase_add_test(tc, test_v1_rejects_bad_forms);
	tcase_add_test(tc, test_v1_ipv6_follows_inet_pton);
	tcase_add_test(tc, test_v1_ipv4_follows_inet_pton);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);

	tc = tcase_create("v2");
	tcase_add_test(tc, test_v2_haproxy);
	tcase_add_test(tc, test_v2_tcp6_fields);
	tcase_add_test(tc, test_v2_local);
	tcase_add_test(tc, test_v2_signature_byte_by_byte);
	tcase_add_test(tc, test_v2_version_and_command);
	tcase_add_test(tc, test_v2_families);
	tcase_add_test(tc, test_v2_length);
	tcase_add_test(tc, test_v2_tlvs);
	tcase_add_test(tc, test_v2_tlv_overrun);
	tcase_add_test(tc, test_v2_crc32c);
	tcase_add_test(tc, test_v2_truncation);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);

	tc = tcase_create("build");
	tcase_add_test(tc, test_build_v1);
	tcase_add_test(tc, test_build_v2_ipv4_bytes);
	tcase_add_test(tc, test_build_v2_ipv6_bytes);
	tcase_add_test(tc, test_build_refuses);
	tcase_add_test(tc, test_build_roundtrip);
	tcase_add_test(tc, test_build_local_roundtrip);
	suite_add_tcase(s, tc);

	return (s);
}

int
main(void)
{
	SRunner	*sr;
	int	 failed;

	sr = srunner_create(proxy_proto_suite());
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS);
}
