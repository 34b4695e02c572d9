/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

#include "autoconf.h"

#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acl.h"

#define ACL_SEP		" \t"
#define ACL_ENTRY_SHOWN	64	/* the most of an entry a reason quotes */
#define ACL_REASON_MAX	96	/* "host bits set (did you mean ...?)" */
#define ACL_V4_HI	UINT64_C(0)
#define ACL_V4_LO	UINT64_C(0x0000ffff00000000)	/* ::ffff:0.0.0.0 */

static int	acl_cmp(const struct acl_addr *, const struct acl_addr *);
static bool	acl_next(const struct acl_addr *, struct acl_addr *);
static struct acl_addr acl_hostmask(unsigned);
static void	acl_to_bytes(const struct acl_addr *, uint8_t *);
static struct acl_addr acl_from_bytes(const uint8_t *);
static int	acl_entry_why(struct acl *, const char *, size_t,
		    const char **, const char *);
static int	acl_entry(struct acl *, const char *, size_t,
		    struct acl_range *, const char **);
static int	acl_push(struct acl *, const struct acl_range *);
static int	acl_sort_cmp(const void *, const void *);
static int	acl_key(const struct sockaddr *, struct acl_addr *);
static bool	acl_lookup(const struct acl *, const struct acl_addr *);

static int
acl_cmp(const struct acl_addr *a, const struct acl_addr *b)
{
	if (a->aa_hi != b->aa_hi)
		return (a->aa_hi < b->aa_hi ? -1 : 1);
	if (a->aa_lo != b->aa_lo)
		return (a->aa_lo < b->aa_lo ? -1 : 1);
	return (0);
}

/* The address after a, unless a is the last one. */
static bool
acl_next(const struct acl_addr *a, struct acl_addr *n)
{
	if (a->aa_hi == UINT64_MAX && a->aa_lo == UINT64_MAX)
		return (false);
	n->aa_lo = a->aa_lo + 1;
	n->aa_hi = a->aa_hi + (n->aa_lo == 0);
	return (true);
}

/* The bits after a prefix of plen bits (0-128). */
static struct acl_addr
acl_hostmask(unsigned plen)
{
	struct acl_addr	 m;

	if (plen >= 128) {
		m.aa_hi = m.aa_lo = 0;
	} else if (plen >= 64) {
		m.aa_hi = 0;
		m.aa_lo = UINT64_MAX >> (plen - 64);
	} else {
		m.aa_hi = UINT64_MAX >> plen;
		m.aa_lo = UINT64_MAX;
	}
	return (m);
}

static void
acl_to_bytes(const struct acl_addr *a, uint8_t *b)
{
	int	 i;

	for (i = 0; i < 8; i++) {
		b[i] = (uint8_t)(a->aa_hi >> (56 - 8 * i));
		b[8 + i] = (uint8_t)(a->aa_lo >> (56 - 8 * i));
	}
}

static struct acl_addr
acl_from_bytes(const uint8_t *b)
{
	struct acl_addr	 a = { 0, 0 };
	int		 i;

	for (i = 0; i < 8; i++) {
		a.aa_hi = (a.aa_hi << 8) | b[i];
		a.aa_lo = (a.aa_lo << 8) | b[8 + i];
	}
	return (a);
}

/* Fail with "ENTRY: reason", the entry cut short if it is long. */
static int
acl_entry_why(struct acl *acl, const char *s, size_t len, const char **why,
    const char *reason)
{
	snprintf(acl->acl_why, sizeof(acl->acl_why), "%.*s%s: %s",
	    (int)(len > ACL_ENTRY_SHOWN ? ACL_ENTRY_SHOWN : len), s,
	    len > ACL_ENTRY_SHOWN ? "..." : "", reason);
	*why = acl->acl_why;
	return (-1);
}

/* One entry, s[0..len), into the range it stands for. */
static int
acl_entry(struct acl *acl, const char *s, size_t len, struct acl_range *r,
    const char **why)
{
	char			 text[INET6_ADDRSTRLEN], net[INET6_ADDRSTRLEN];
	char			 reason[ACL_REASON_MAX];
	uint8_t			 b[16];
	const char		*slash, *p;
	struct acl_addr		 a, m;
	size_t			 alen;
	unsigned		 plen, bits;
	int			 af;

	slash = memchr(s, '/', len);
	alen = slash != NULL ? (size_t)(slash - s) : len;
	if (memchr(s, ',', len) != NULL)
		return (acl_entry_why(acl, s, len, why,
		    "entries are separated by spaces, not commas"));
	if (alen == 0)
		return (acl_entry_why(acl, s, len, why, "missing address"));
	if (alen >= sizeof(text))
		goto badaddr;
	memcpy(text, s, alen);
	text[alen] = '\0';
	memset(b, 0, sizeof(b));
	af = memchr(text, ':', alen) != NULL ? AF_INET6 : AF_INET;
	if (af == AF_INET6) {
		if (inet_pton(AF_INET6, text, b) != 1)
			goto badaddr;
		bits = 128;
	} else {
		/* IPv4 goes where a dual-stack socket shows it. */
		b[10] = b[11] = 0xff;
		if (inet_pton(AF_INET, text, &b[12]) != 1)
			goto badaddr;
		bits = 32;
	}
	plen = bits;
	if (slash != NULL) {
		p = slash + 1;
		if (p == s + len)
			return (acl_entry_why(acl, s, len, why,
			    "missing prefix length after '/'"));
		for (plen = 0; p < s + len; p++) {
			if (*p < '0' || *p > '9' ||
			    (plen == 0 && p > slash + 1))
				return (acl_entry_why(acl, s, len, why,
				    "invalid prefix length"));
			plen = plen * 10 + (unsigned)(*p - '0');
			if (plen > bits)
				return (acl_entry_why(acl, s, len, why,
				    bits == 32 ? "prefix length out of range "
				    "(0-32)" : "prefix length out of range "
				    "(0-128)"));
		}
	}

	a = acl_from_bytes(b);
	m = acl_hostmask(plen + 128 - bits);
	if ((a.aa_hi & m.aa_hi) != 0 || (a.aa_lo & m.aa_lo) != 0) {
		a.aa_hi &= ~m.aa_hi;
		a.aa_lo &= ~m.aa_lo;
		acl_to_bytes(&a, b);
		if (inet_ntop(af, af == AF_INET ? &b[12] : b, net,
		    sizeof(net)) == NULL)
			net[0] = '\0';	/* not reached */
		snprintf(reason, sizeof(reason),
		    "host bits set (did you mean %s/%u?)", net, plen);
		return (acl_entry_why(acl, s, len, why, reason));
	}
	r->ar_first = a;
	r->ar_last.aa_hi = a.aa_hi | m.aa_hi;
	r->ar_last.aa_lo = a.aa_lo | m.aa_lo;
	return (0);

badaddr:
	if (memchr(s, '[', len) != NULL)
		return (acl_entry_why(acl, s, len, why,
		    "IPv6 addresses go without brackets"));
	if (memchr(s, '%', len) != NULL)
		return (acl_entry_why(acl, s, len, why,
		    "zone IDs are not supported"));
	return (acl_entry_why(acl, s, len, why,
	    "not an IPv4 or IPv6 address"));
}

static int
acl_push(struct acl *acl, const struct acl_range *r)
{
	struct acl_range	*n;
	size_t			 cap;

	if (acl->acl_len == acl->acl_cap) {
		cap = acl->acl_cap == 0 ? 16 : acl->acl_cap;
		if (cap > SIZE_MAX / 2 / sizeof(*n))
			return (-1);
		cap *= 2;
		if ((n = realloc(acl->acl_ranges, cap * sizeof(*n))) == NULL)
			return (-1);
		acl->acl_ranges = n;
		acl->acl_cap = cap;
	}
	acl->acl_ranges[acl->acl_len++] = *r;
	return (0);
}

void
acl_init(struct acl *acl)
{
	memset(acl, 0, sizeof(*acl));
}

/* How one entry of a list's text becomes a range. */
typedef int (*acl_entry_fn)(struct acl *, const char *, size_t,
    struct acl_range *, const char **);

/* acl_add() and acl_ports_add(), each with its kind of entry. */
static int
acl_add_entries(struct acl *acl, const char *text, const char **why,
    acl_entry_fn entry, const char *empty)
{
	struct acl_range	 r;
	size_t			 old = acl->acl_len, len;
	const char		*p = text;

	for (;;) {
		p += strspn(p, ACL_SEP);
		if (*p == '\0')
			break;
		len = strcspn(p, ACL_SEP);
		if (entry(acl, p, len, &r, why) == -1)
			goto fail;
		if (acl_push(acl, &r) == -1) {
			*why = "out of memory";
			goto fail;
		}
		p += len;
	}
	if (acl->acl_len == old) {
		*why = empty;
		return (-1);
	}
	acl->acl_finished = false;
	return (0);
fail:
	acl->acl_len = old;
	return (-1);
}

int
acl_add(struct acl *acl, const char *text, const char **why)
{
	return (acl_add_entries(acl, text, why, acl_entry,
	    "empty address list"));
}

static int
acl_sort_cmp(const void *a, const void *b)
{
	const struct acl_range	*ra = a, *rb = b;

	return (acl_cmp(&ra->ar_first, &rb->ar_first));
}

void
acl_finish(struct acl *acl)
{
	struct acl_range	*r = acl->acl_ranges, *last;
	struct acl_addr		 next;
	size_t			 i, n = 0;

	if (acl->acl_len == 0) {
		acl->acl_finished = true;
		return;
	}
	qsort(r, acl->acl_len, sizeof(*r), acl_sort_cmp);
	for (i = 1; i < acl->acl_len; i++) {
		last = &r[n];
		/* Overlapping or adjacent: one range. */
		if (acl_cmp(&r[i].ar_first, &last->ar_last) <= 0 ||
		    (acl_next(&last->ar_last, &next) &&
		    acl_cmp(&r[i].ar_first, &next) == 0)) {
			if (acl_cmp(&r[i].ar_last, &last->ar_last) > 0)
				last->ar_last = r[i].ar_last;
		} else
			r[++n] = r[i];
	}
	acl->acl_len = n + 1;
	acl->acl_finished = true;
}

/* The address of a socket in the list's space; -1 for other families. */
static int
acl_key(const struct sockaddr *sa, struct acl_addr *k)
{
	const struct sockaddr_in	*sin;
	const struct sockaddr_in6	*sin6;

	switch (sa->sa_family) {
	case AF_INET:
		sin = (const struct sockaddr_in *)(const void *)sa;
		k->aa_hi = ACL_V4_HI;
		k->aa_lo = ACL_V4_LO | ntohl(sin->sin_addr.s_addr);
		return (0);
	case AF_INET6:
		sin6 = (const struct sockaddr_in6 *)(const void *)sa;
		*k = acl_from_bytes(sin6->sin6_addr.s6_addr);
		return (0);
	default:
		return (-1);
	}
}

/* Whether k is in the list; see acl_match(). */
static bool
acl_lookup(const struct acl *acl, const struct acl_addr *k)
{
	const struct acl_range	*r = acl->acl_ranges;
	size_t			 lo = 0, hi = acl->acl_len, mid, i;

	if (!acl->acl_finished) {
		for (i = 0; i < acl->acl_len; i++)
			if (acl_cmp(&r[i].ar_first, k) <= 0 &&
			    acl_cmp(k, &r[i].ar_last) <= 0)
				return (true);
		return (false);
	}
	/* The last range that starts at or before k is the only candidate. */
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (acl_cmp(&r[mid].ar_first, k) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (lo > 0 && acl_cmp(k, &r[lo - 1].ar_last) <= 0);
}

bool
acl_match(const struct acl *acl, const struct sockaddr *addr)
{
	struct acl_addr		 k;

	if (acl->acl_len == 0 || acl_key(addr, &k) == -1)
		return (false);
	return (acl_lookup(acl, &k));
}

bool
acl_empty(const struct acl *acl)
{
	return (acl->acl_len == 0);
}

bool
acl_permit(const struct acl *allow, const struct acl *deny,
    const struct sockaddr *addr)
{
	if (deny != NULL && acl_match(deny, addr))
		return (false);
	if (allow != NULL && !acl_empty(allow))
		return (acl_match(allow, addr));
	return (true);
}

void
acl_free(struct acl *acl)
{
	free(acl->acl_ranges);
	acl_init(acl);
}

/* --- port lists ---------------------------------------------------------- */

void
acl_ports_init(struct acl_ports *ap)
{
	acl_init(&ap->ap_list);
}

/* A port in s[0..len): decimal, no leading zero, 1-65535. 0 or -1. */
static int
acl_port(const char *s, size_t len, uint64_t *port)
{
	uint64_t	 v = 0;
	size_t		 i;

	if (len == 0 || (s[0] == '0' && len > 1))
		return (-1);
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return (-1);
		v = v * 10 + (uint64_t)(s[i] - '0');
		if (v > 65535)
			return (-1);
	}
	if (v == 0)
		return (-1);
	*port = v;
	return (0);
}

/* One entry, s[0..len): "PORT" or "LOW-HIGH", as a range of the list. */
static int
acl_port_entry(struct acl *acl, const char *s, size_t len,
    struct acl_range *r, const char **why)
{
	const char	*dash;
	size_t		 first;

	memset(r, 0, sizeof(*r));
	if (memchr(s, ',', len) != NULL)
		return (acl_entry_why(acl, s, len, why,
		    "entries are separated by spaces, not commas"));
	dash = memchr(s, '-', len);
	first = dash != NULL ? (size_t)(dash - s) : len;
	if (acl_port(s, first, &r->ar_first.aa_lo) == -1 || (dash != NULL &&
	    acl_port(dash + 1, len - first - 1, &r->ar_last.aa_lo) == -1))
		return (acl_entry_why(acl, s, len, why, dash != NULL ?
		    "not a range of ports (LOW-HIGH, each 1-65535)" :
		    "not a port (1-65535)"));
	if (dash == NULL)
		r->ar_last = r->ar_first;
	else if (r->ar_last.aa_lo < r->ar_first.aa_lo)
		return (acl_entry_why(acl, s, len, why,
		    "the range ends before it starts"));
	return (0);
}

int
acl_ports_add(struct acl_ports *ap, const char *text, const char **why)
{
	return (acl_add_entries(&ap->ap_list, text, why, acl_port_entry,
	    "empty port list"));
}

void
acl_ports_finish(struct acl_ports *ap)
{
	acl_finish(&ap->ap_list);
}

bool
acl_ports_match(const struct acl_ports *ap, uint16_t port)
{
	struct acl_addr	 k = { 0, port };

	return (acl_lookup(&ap->ap_list, &k));
}

bool
acl_ports_empty(const struct acl_ports *ap)
{
	return (acl_empty(&ap->ap_list));
}

void
acl_ports_free(struct acl_ports *ap)
{
	acl_free(&ap->ap_list);
}

const char *
acl_destination(const struct acl *allow, const struct acl *deny,
    const struct acl_ports *ports, const struct sockaddr *dst)
{
	const struct sockaddr_in	*sin;
	const struct sockaddr_in6	*sin6;
	uint16_t			 port;

	if (deny != NULL && acl_match(deny, dst))
		return ("in destination_deny");
	if (!acl_match(allow, dst))
		return ("not in destination_allow");
	if (ports == NULL || acl_ports_empty(ports))
		return (NULL);
	if (dst->sa_family == AF_INET) {
		sin = (const struct sockaddr_in *)(const void *)dst;
		port = ntohs(sin->sin_port);
	} else {
		sin6 = (const struct sockaddr_in6 *)(const void *)dst;
		port = ntohs(sin6->sin6_port);
	}
	return (acl_ports_match(ports, port) ? NULL :
	    "port not in destination_ports");
}
