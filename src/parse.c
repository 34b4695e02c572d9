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
#include <string.h>
#include <strings.h>

#include "parse.h"

#define DNS_NAME_MAX	253	/* without the root's trailing dot */
#define DNS_LABEL_MAX	63

static int	scan_number(const char *, uint64_t *, const char **,
		    const char **);
static int	check_hostname(const char *, size_t, const char **);
static bool	all_digits_and_dots(const char *, size_t);
static int	parse_port(const char *, uint16_t *, const char **);

/*
 * Read the leading decimal digits of s into *v and point *end past them.
 * Anything may follow; the caller decides what a suffix means. Fails on
 * no digits at all (naming a sign or a blank, the usual mistakes) and on
 * overflow.
 */
static int
scan_number(const char *s, uint64_t *v, const char **end, const char **why)
{
	uint64_t	 n = 0;
	unsigned	 d;

	if (s == NULL || *s == '\0') {
		*why = "empty value";
		return (-1);
	}
	if (*s == '-' || *s == '+') {
		*why = "sign not allowed";
		return (-1);
	}
	if (*s == ' ' || *s == '\t') {
		*why = "blanks not allowed";
		return (-1);
	}
	if (*s < '0' || *s > '9') {
		*why = "not a number";
		return (-1);
	}
	for (; *s >= '0' && *s <= '9'; s++) {
		d = (unsigned)(*s - '0');
		if (n > (UINT64_MAX - d) / 10) {
			*why = "number too large";
			return (-1);
		}
		n = n * 10 + d;
	}
	*v = n;
	*end = s;
	return (0);
}

int
parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out,
    const char **why)
{
	const char	*end;
	uint64_t	 v;

	if (scan_number(s, &v, &end, why) == -1)
		return (-1);
	if (*end != '\0') {
		*why = "trailing garbage";
		return (-1);
	}
	if (v < min || v > max) {
		*why = "number out of range";
		return (-1);
	}
	*out = v;
	return (0);
}

int
parse_size(const char *s, uint64_t max, uint64_t *out, const char **why)
{
	const char	*end;
	uint64_t	 v, mult;

	if (scan_number(s, &v, &end, why) == -1)
		return (-1);
	switch (*end) {
	case '\0':
		mult = 1;
		break;
	case 'k':
	case 'K':
		mult = 1ULL << 10;
		break;
	case 'm':
	case 'M':
		mult = 1ULL << 20;
		break;
	case 'g':
	case 'G':
		mult = 1ULL << 30;
		break;
	default:
		*why = "invalid size suffix (use k, m or g)";
		return (-1);
	}
	if (*end != '\0' && end[1] != '\0') {
		*why = "invalid size suffix (use k, m or g)";
		return (-1);
	}
	if (v > UINT64_MAX / mult || v * mult > max) {
		*why = "too large";
		return (-1);
	}
	*out = v * mult;
	return (0);
}

int
parse_duration(const char *s, uint64_t max, uint64_t *ms, const char **why)
{
	const char	*end;
	uint64_t	 v, mult;

	if (scan_number(s, &v, &end, why) == -1)
		return (-1);
	if (*end == '\0' || strcasecmp(end, "s") == 0)
		mult = 1000;
	else if (strcasecmp(end, "ms") == 0)
		mult = 1;
	else if (strcasecmp(end, "m") == 0)
		mult = 60 * 1000;
	else if (strcasecmp(end, "h") == 0)
		mult = 60 * 60 * 1000;
	else {
		*why = "invalid duration unit (use ms, s, m or h)";
		return (-1);
	}
	if (v > UINT64_MAX / mult || v * mult > max) {
		*why = "too large";
		return (-1);
	}
	*ms = v * mult;
	return (0);
}

int
parse_bool(const char *s, bool *out, const char **why)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };
	size_t	 i;

	if (s == NULL || *s == '\0') {
		*why = "empty value";
		return (-1);
	}
	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return (0);
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return (0);
		}
	}
	*why = "not a boolean (use yes/no, true/false, on/off or 1/0)";
	return (-1);
}

/*
 * A DNS name as RFC 1123 allows it: labels of 1-63 letters, digits and
 * hyphens, not starting or ending with a hyphen, 253 characters at most;
 * a single trailing dot (the root) is accepted.
 */
static int
check_hostname(const char *s, size_t len, const char **why)
{
	size_t	 i, label = 0;
	char	 c;

	if (len > 0 && s[len - 1] == '.')
		len--;
	if (len == 0) {
		*why = "invalid host name";
		return (-1);
	}
	if (len > DNS_NAME_MAX) {
		*why = "host name too long";
		return (-1);
	}
	for (i = 0; i < len; i++) {
		c = s[i];
		if (c == '.') {
			if (label == 0 || s[i - 1] == '-') {
				*why = "invalid host name";
				return (-1);
			}
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-')) {
			*why = "invalid character in host name";
			return (-1);
		}
		if (c == '-' && label == 0) {
			*why = "invalid host name";
			return (-1);
		}
		if (++label > DNS_LABEL_MAX) {
			*why = "host name label too long";
			return (-1);
		}
	}
	if (s[len - 1] == '-' || s[len - 1] == '.') {
		*why = "invalid host name";
		return (-1);
	}
	return (0);
}

static bool
all_digits_and_dots(const char *s, size_t len)
{
	size_t	 i;

	for (i = 0; i < len; i++)
		if (s[i] != '.' && (s[i] < '0' || s[i] > '9'))
			return (false);
	return (true);
}

static int
parse_port(const char *s, uint16_t *port, const char **why)
{
	const char	*end;
	uint64_t	 v;

	if (*s == '\0') {
		*why = "missing port number";
		return (-1);
	}
	if (scan_number(s, &v, &end, why) == -1) {
		if (*s >= '0' && *s <= '9')	/* overflow */
			*why = "port out of range";
		return (-1);
	}
	if (*end != '\0') {
		*why = "trailing garbage after port number";
		return (-1);
	}
	if (v < 1 || v > 65535) {
		*why = "port out of range";
		return (-1);
	}
	*port = (uint16_t)v;
	return (0);
}

int
parse_hostport(const char *s, struct parse_hostport *hp, const char **why)
{
	struct parse_hostport	 r;
	struct in_addr		 a4;
	struct in6_addr		 a6;
	const char		*host, *rb, *colon;
	size_t			 len;

	memset(&r, 0, sizeof(r));
	if (s == NULL || *s == '\0') {
		*why = "empty value";
		return (-1);
	}

	if (*s == '[') {
		host = s + 1;
		if ((rb = strchr(host, ']')) == NULL) {
			*why = "missing ']' after IPv6 address";
			return (-1);
		}
		len = (size_t)(rb - host);
		if (len == 0 || len >= sizeof(r.hp_host)) {
			*why = "invalid IPv6 address";
			return (-1);
		}
		memcpy(r.hp_host, host, len);
		r.hp_host[len] = '\0';
		if (inet_pton(AF_INET6, r.hp_host, &a6) != 1) {
			*why = "invalid IPv6 address";
			return (-1);
		}
		if (rb[1] != ':') {
			*why = "missing ':PORT'";
			return (-1);
		}
		r.hp_kind = PARSE_HOST_IPV6;
		if (parse_port(rb + 2, &r.hp_port, why) == -1)
			return (-1);
		*hp = r;
		return (0);
	}

	if ((colon = strrchr(s, ':')) == NULL) {
		*why = "missing ':PORT'";
		return (-1);
	}
	len = (size_t)(colon - s);
	if (memchr(s, ':', len) != NULL) {
		*why = "IPv6 addresses must be in brackets";
		return (-1);
	}
	if (len == 0) {
		*why = "missing host";
		return (-1);
	}
	if (len >= sizeof(r.hp_host)) {
		*why = "host name too long";
		return (-1);
	}
	memcpy(r.hp_host, s, len);
	r.hp_host[len] = '\0';

	if (strcmp(r.hp_host, "*") == 0)
		r.hp_kind = PARSE_HOST_WILDCARD;
	else if (all_digits_and_dots(r.hp_host, len)) {
		/* Never hand a malformed address to the resolver as a name. */
		if (inet_pton(AF_INET, r.hp_host, &a4) != 1) {
			*why = "invalid IPv4 address";
			return (-1);
		}
		r.hp_kind = PARSE_HOST_IPV4;
	} else {
		if (check_hostname(r.hp_host, len, why) == -1)
			return (-1);
		r.hp_kind = PARSE_HOST_NAME;
	}
	if (parse_port(colon + 1, &r.hp_port, why) == -1)
		return (-1);
	*hp = r;
	return (0);
}
