/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

/*
 * Pure parsers for configuration values. Each returns 0 and stores the
 * result, or returns -1, leaves the output untouched and points *why at a
 * static, human-readable reason ("trailing garbage", "port out of range").
 * None of them allocates, logs or touches the network.
 */
#ifndef MPTCP_RELAYD_PARSE_H
#define MPTCP_RELAYD_PARSE_H

#include <stdbool.h>
#include <stdint.h>

#define PARSE_HOST_MAX	256

/* Decimal integer in [min, max]. No sign, no suffix, no blanks. */
int	parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out,
	    const char **why);

/* Byte size: a number with an optional k, m or g suffix (binary, any case). */
int	parse_size(const char *s, uint64_t max, uint64_t *out, const char **why);

/*
 * Duration in milliseconds: a number with an optional ms, s, m or h
 * suffix; a bare number is seconds. At most max milliseconds.
 */
int	parse_duration(const char *s, uint64_t max, uint64_t *ms,
	    const char **why);

/* yes/no, true/false, on/off, 1/0 (any case). */
int	parse_bool(const char *s, bool *out, const char **why);

/*
 * HOST:PORT as CONFIG.md spells it: "IPv4:PORT", "[IPv6]:PORT", "*:PORT"
 * or "hostname:PORT". PORT is 1-65535. On success the host text is copied
 * without brackets into hp_host.
 */
enum parse_host_kind {
	PARSE_HOST_WILDCARD,	/* "*" */
	PARSE_HOST_IPV4,	/* literal IPv4 address */
	PARSE_HOST_IPV6,	/* literal IPv6 address in brackets */
	PARSE_HOST_NAME,	/* DNS name, to be resolved */
};
struct parse_hostport {
	enum parse_host_kind	hp_kind;
	char			hp_host[PARSE_HOST_MAX];
	uint16_t		hp_port;
};
int	parse_hostport(const char *s, struct parse_hostport *hp,
	    const char **why);

#endif
