/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

/*
 * acl_add() and acl_match() on any text. The input is lines: a line that
 * starts with '?' is an address to look up, any other line is given to
 * acl_add(). Two lists get the same lines; one is finished, the other is
 * not (and so is matched by a linear scan of the ranges as added). What
 * must hold:
 * - acl_add() adds at least one range or nothing at all, and a refusal
 *   has a reason that fits its buffer;
 * - the finished ranges are sorted, disjoint and not adjacent;
 * - both lists answer the same for the addresses of the input and for
 *   the first and last address of every finished range and the addresses
 *   just outside it, as IPv6 and, in ::ffff:0:0/96, as IPv4 too;
 * - acl_permit() follows from acl_match().
 */

#include "autoconf.h"

#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "acl.h"
#include "fuzz.h"

static void	probe(const struct acl *, const struct acl *,
		    const struct sockaddr *);
static void	probe_addr(const struct acl *, const struct acl *,
		    struct acl_addr);
static void	check_ranges(const struct acl *);

/* Both lists agree on addr, and acl_permit() with what they say. */
static void
probe(const struct acl *fin, const struct acl *scan,
    const struct sockaddr *addr)
{
	bool	 m = acl_match(fin, addr);

	FUZZ_CHECK(m == acl_match(scan, addr));
	FUZZ_CHECK(acl_permit(NULL, fin, addr) == !m);
	FUZZ_CHECK(acl_permit(fin, NULL, addr) == (m || acl_empty(fin)));
	FUZZ_CHECK(acl_permit(fin, fin, addr) == (!m && acl_empty(fin)));
}

/* The address a, as IPv6 and, if it is IPv4-mapped, as IPv4. */
static void
probe_addr(const struct acl *fin, const struct acl *scan, struct acl_addr a)
{
	struct sockaddr_in	 sin;
	struct sockaddr_in6	 sin6;
	int			 i;

	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	for (i = 0; i < 8; i++) {
		sin6.sin6_addr.s6_addr[i] = (uint8_t)(a.aa_hi >> (56 - 8 * i));
		sin6.sin6_addr.s6_addr[8 + i] =
		    (uint8_t)(a.aa_lo >> (56 - 8 * i));
	}
	probe(fin, scan, (struct sockaddr *)&sin6);
	if (IN6_IS_ADDR_V4MAPPED(&sin6.sin6_addr)) {
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		memcpy(&sin.sin_addr, &sin6.sin6_addr.s6_addr[12], 4);
		probe(fin, scan, (struct sockaddr *)&sin);
	}
}

static void
check_ranges(const struct acl *acl)
{
	const struct acl_range	*r = acl->acl_ranges;
	size_t			 i;

	for (i = 0; i < acl->acl_len; i++) {
		FUZZ_CHECK(r[i].ar_first.aa_hi < r[i].ar_last.aa_hi ||
		    (r[i].ar_first.aa_hi == r[i].ar_last.aa_hi &&
		    r[i].ar_first.aa_lo <= r[i].ar_last.aa_lo));
		if (i == 0)
			continue;
		/* After the previous one, with at least one address between. */
		FUZZ_CHECK(r[i - 1].ar_last.aa_lo != UINT64_MAX ?
		    (r[i - 1].ar_last.aa_hi < r[i].ar_first.aa_hi ||
		    (r[i - 1].ar_last.aa_hi == r[i].ar_first.aa_hi &&
		    r[i - 1].ar_last.aa_lo + 1 < r[i].ar_first.aa_lo)) :
		    (r[i - 1].ar_last.aa_hi + 1 < r[i].ar_first.aa_hi ||
		    (r[i - 1].ar_last.aa_hi + 1 == r[i].ar_first.aa_hi &&
		    r[i].ar_first.aa_lo > 0)));
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct acl		 fin, scan;
	struct acl_addr		 a;
	struct sockaddr_in	 sin;
	struct sockaddr_in6	 sin6;
	char			*text, *line, *next;
	const char		*why, *why2;
	size_t			 i, before;
	int			 rv;

	FUZZ_CHECK((text = malloc(size + 1)) != NULL);
	memcpy(text, data, size);
	text[size] = '\0';
	acl_init(&fin);
	acl_init(&scan);

	for (line = text; line != NULL; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if (line[0] == '?')
			continue;
		before = scan.acl_len;
		why = why2 = NULL;
		rv = acl_add(&fin, line, &why);
		FUZZ_CHECK(acl_add(&scan, line, &why2) == rv);
		if (rv == 0) {
			FUZZ_CHECK(scan.acl_len > before);
			continue;
		}
		FUZZ_CHECK(rv == -1);
		FUZZ_CHECK(scan.acl_len == before);
		FUZZ_CHECK(why != NULL && why2 != NULL);
		FUZZ_CHECK(strcmp(why, why2) == 0);
		FUZZ_CHECK(strlen(why) + 1 < ACL_WHY_MAX);
	}
	acl_finish(&fin);
	FUZZ_CHECK(fin.acl_finished && !scan.acl_finished);
	FUZZ_CHECK(fin.acl_len <= scan.acl_len);
	FUZZ_CHECK(acl_empty(&fin) == acl_empty(&scan));
	check_ranges(&fin);

	/* The addresses the input names. */
	for (line = text; line < text + size; line += strlen(line) + 1) {
		if (line[0] != '?')
			continue;
		memset(&sin, 0, sizeof(sin));
		memset(&sin6, 0, sizeof(sin6));
		sin.sin_family = AF_INET;
		sin6.sin6_family = AF_INET6;
		if (inet_pton(AF_INET, line + 1, &sin.sin_addr) == 1)
			probe(&fin, &scan, (struct sockaddr *)&sin);
		else if (inet_pton(AF_INET6, line + 1, &sin6.sin6_addr) == 1)
			probe(&fin, &scan, (struct sockaddr *)&sin6);
	}

	/* The edges of every range, inside and out. */
	for (i = 0; i < fin.acl_len; i++) {
		a = fin.acl_ranges[i].ar_first;
		probe_addr(&fin, &scan, a);
		if (a.aa_lo-- == 0)
			a.aa_hi--;
		probe_addr(&fin, &scan, a);
		a = fin.acl_ranges[i].ar_last;
		probe_addr(&fin, &scan, a);
		if (++a.aa_lo == 0)
			a.aa_hi++;
		probe_addr(&fin, &scan, a);
	}

	acl_free(&fin);
	acl_free(&scan);
	FUZZ_CHECK(fin.acl_ranges == NULL && acl_empty(&fin));
	free(text);
	return (0);
}
