/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

/*
 * proxy_parse() on any bytes, and what its answer promises:
 * - never a read outside the input (the input is exactly size bytes, and
 *   every re-parse below is of an exactly sized copy);
 * - -1 comes with a reason, and stays -1, for the same reason, whatever
 *   follows;
 * - 0 leaves *h alone, is less than PROXY_PARSE_MAX bytes, and so is any
 *   shorter part of the input;
 * - 1 takes ph_len <= size bytes; exactly those parse the same, every
 *   shorter part wants more; the addresses are consistent; and headers
 *   built from them, v1 and v2, parse back to the same addresses.
 */

#include "autoconf.h"

#include <sys/socket.h>
#include <netinet/in.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy_proto.h"
#include "fuzz.h"

/* Shorter headers have all their prefixes checked, longer ones some. */
#define ALL_PREFIXES_MAX	128

struct canon {
	uint8_t		 c_addr[16];	/* IPv4 as ::ffff:a.b.c.d */
	uint16_t	 c_port;
};

static int	parse_copy(const uint8_t *, size_t, struct proxy_hdr *,
		    const char **);
static void	canon(const struct sockaddr_storage *, struct canon *);
static bool	same_hdr(const struct proxy_hdr *, const struct proxy_hdr *);
static void	check_refused(const uint8_t *, size_t, const char *);
static void	check_header(const uint8_t *, size_t, const struct proxy_hdr *);
static void	check_rebuilt(const struct proxy_hdr *);

/* Parse an exactly sized copy, so that a read past len is caught. */
static int
parse_copy(const uint8_t *data, size_t len, struct proxy_hdr *h,
    const char **why)
{
	uint8_t	*copy;
	int	 rv;

	FUZZ_CHECK((copy = calloc(1, len > 0 ? len : 1)) != NULL);
	if (len > 0)
		memcpy(copy, data, len);
	rv = proxy_parse(copy, len, h, why);
	FUZZ_CHECK(len == 0 || memcmp(copy, data, len) == 0);
	free(copy);
	return (rv);
}

static void
canon(const struct sockaddr_storage *ss, struct canon *c)
{
	const struct sockaddr_in	*sin = (const struct sockaddr_in *)ss;
	const struct sockaddr_in6	*sin6 =
	    (const struct sockaddr_in6 *)ss;

	memset(c, 0, sizeof(*c));
	if (ss->ss_family == AF_INET) {
		c->c_addr[10] = c->c_addr[11] = 0xff;
		memcpy(&c->c_addr[12], &sin->sin_addr, 4);
		c->c_port = sin->sin_port;
	} else {
		FUZZ_CHECK(ss->ss_family == AF_INET6);
		memcpy(c->c_addr, &sin6->sin6_addr, 16);
		c->c_port = sin6->sin6_port;
	}
}

static bool
same_hdr(const struct proxy_hdr *a, const struct proxy_hdr *b)
{
	return (a->ph_version == b->ph_version &&
	    a->ph_local == b->ph_local && a->ph_mptcp == b->ph_mptcp &&
	    a->ph_len == b->ph_len &&
	    memcmp(&a->ph_src, &b->ph_src, sizeof(a->ph_src)) == 0 &&
	    memcmp(&a->ph_dst, &b->ph_dst, sizeof(a->ph_dst)) == 0);
}

/* Refused for why: one more byte of any value changes nothing. */
static void
check_refused(const uint8_t *data, size_t size, const char *why)
{
	struct proxy_hdr	 h;
	const char		*why2 = NULL;
	uint8_t			*more;

	FUZZ_CHECK(why != NULL && why[0] != '\0');
	FUZZ_CHECK((more = malloc(size + 1)) != NULL);
	memcpy(more, data, size);
	more[size] = size > 0 ? (uint8_t)(data[size - 1] ^ 0x5a) : 'P';
	FUZZ_CHECK(proxy_parse(more, size + 1, &h, &why2) == -1);
	FUZZ_CHECK(strcmp(why, why2) == 0);
	free(more);
}

/* A header h was parsed from data[0..size). */
static void
check_header(const uint8_t *data, size_t size, const struct proxy_hdr *h)
{
	struct proxy_hdr	 h2;
	const char		*why = NULL;
	size_t			 k, step;

	FUZZ_CHECK(h->ph_len > 0 && h->ph_len <= size);
	FUZZ_CHECK(h->ph_mptcp >= -1 && h->ph_mptcp <= 1);
	if (h->ph_version == 1) {
		FUZZ_CHECK(h->ph_len <= PROXY_V1_MAX);
		FUZZ_CHECK(h->ph_mptcp == -1);
		FUZZ_CHECK(data[h->ph_len - 2] == '\r' &&
		    data[h->ph_len - 1] == '\n');
	} else {
		FUZZ_CHECK(h->ph_version == 2);
		FUZZ_CHECK(h->ph_len >= PROXY_V2_FIXED &&
		    h->ph_len <= PROXY_PARSE_MAX);
		FUZZ_CHECK(h->ph_len == PROXY_V2_FIXED +
		    (((size_t)data[14] << 8) | data[15]));
	}
	if (h->ph_local) {
		FUZZ_CHECK(h->ph_src.ss_family == AF_UNSPEC);
		FUZZ_CHECK(h->ph_dst.ss_family == AF_UNSPEC);
	} else {
		FUZZ_CHECK(h->ph_src.ss_family == AF_INET ||
		    h->ph_src.ss_family == AF_INET6);
		FUZZ_CHECK(h->ph_dst.ss_family == h->ph_src.ss_family);
	}

	/* The header alone is the same header. */
	FUZZ_CHECK(parse_copy(data, h->ph_len, &h2, &why) == 1);
	FUZZ_CHECK(same_hdr(h, &h2));

	/* Any shorter part of it wants more. */
	step = h->ph_len <= ALL_PREFIXES_MAX ? 1 : h->ph_len / 61 + 1;
	for (k = 0; k < h->ph_len; k += step)
		FUZZ_CHECK(parse_copy(data, k, &h2, &why) == 0);
	FUZZ_CHECK(parse_copy(data, h->ph_len - 1, &h2, &why) == 0);
}

/* What the relay would send upstream for h parses back to h's addresses. */
static void
check_rebuilt(const struct proxy_hdr *h)
{
	struct proxy_hdr	 b;
	struct canon		 c1, c2;
	const struct sockaddr	*src, *dst;
	uint8_t			 buf[PROXY_HDR_MAX];
	const char		*why = NULL;
	int			 n, v;
	bool			 mptcp = h->ph_mptcp == 1;

	src = h->ph_local ? NULL : (const struct sockaddr *)&h->ph_src;
	dst = h->ph_local ? NULL : (const struct sockaddr *)&h->ph_dst;
	for (v = 1; v <= 2; v++) {
		n = v == 1 ? proxy_build_v1(buf, sizeof(buf), src, dst) :
		    proxy_build_v2(buf, sizeof(buf), src, dst, mptcp);
		FUZZ_CHECK(n > 0 && (size_t)n <= sizeof(buf));
		FUZZ_CHECK(parse_copy(buf, (size_t)n, &b, &why) == 1);
		FUZZ_CHECK(b.ph_len == (size_t)n);
		FUZZ_CHECK(b.ph_version == v);
		FUZZ_CHECK(b.ph_local == h->ph_local);
		FUZZ_CHECK(b.ph_mptcp == (v == 1 ? -1 : mptcp));
		if (h->ph_local)
			continue;
		canon(&h->ph_src, &c1);
		canon(&b.ph_src, &c2);
		FUZZ_CHECK(memcmp(&c1, &c2, sizeof(c1)) == 0);
		canon(&h->ph_dst, &c1);
		canon(&b.ph_dst, &c2);
		FUZZ_CHECK(memcmp(&c1, &c2, sizeof(c1)) == 0);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proxy_hdr	 h, poison;
	const char		*why = NULL;
	int			 rv;

	memset(&h, 0xa5, sizeof(h));
	poison = h;
	rv = proxy_parse(data, size, &h, &why);
	switch (rv) {
	case -1:
		FUZZ_CHECK(memcmp(&h, &poison, sizeof(h)) == 0);
		check_refused(data, size, why);
		break;
	case 0:
		FUZZ_CHECK(memcmp(&h, &poison, sizeof(h)) == 0);
		FUZZ_CHECK(size < PROXY_PARSE_MAX);
		FUZZ_CHECK(size == 0 ||
		    parse_copy(data, size - 1, &h, &why) == 0);
		break;
	case 1:
		check_header(data, size, &h);
		check_rebuilt(&h);
		break;
	default:
		FUZZ_CHECK(!"proxy_parse() returned something else");
	}
	return (0);
}
