/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

/*
 * Address lists for the allow and deny keys (and destination_allow and
 * destination_deny): IPv4 and IPv6 addresses and CIDR networks, matched in
 * O(log n); and port lists for destination_ports. All addresses live in one 128-bit space where IPv4 is mapped
 * into ::ffff:0:0/96, the way a dual-stack socket shows an IPv4 client.
 * So an IPv4-mapped client matches the IPv4 rules, an IPv4 rule never
 * matches a real IPv6 address, and an IPv6 rule that covers ::ffff:0:0/96
 * (::/0, say) matches IPv4 clients too, as in HAProxy.
 *
 * Building a list allocates; matching neither allocates, logs nor fails.
 */
#ifndef MPTCP_RELAYD_ACL_H
#define MPTCP_RELAYD_ACL_H

#include <sys/socket.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Room for an error message naming the entry at fault. */
#define ACL_WHY_MAX	192

/* A 128-bit address in host order: IPv4 a.b.c.d is ::ffff:a.b.c.d. */
struct acl_addr {
	uint64_t	aa_hi;
	uint64_t	aa_lo;
};

/* The addresses from ar_first to ar_last, both included. */
struct acl_range {
	struct acl_addr	ar_first;
	struct acl_addr	ar_last;
};

/*
 * A list. All zeros (or acl_init()) is an empty list. After acl_finish()
 * the ranges are sorted, disjoint and not adjacent.
 */
struct acl {
	struct acl_range	*acl_ranges;
	size_t			 acl_len;
	size_t			 acl_cap;
	bool			 acl_finished;
	char			 acl_why[ACL_WHY_MAX];
};

/* Make acl an empty list. */
void	acl_init(struct acl *acl);

/*
 * Add to acl the entries of text: one or more, separated by spaces or
 * tabs, each an IPv4 or IPv6 address ("192.0.2.7", "2001:db8::1") or a
 * network in CIDR notation ("10.0.0.0/8", "2001:db8::/32"). Strict: the
 * address as inet_pton(3) reads it, no brackets or zone, a prefix length
 * in decimal without a leading zero and within 0-32 or 0-128, and no bits
 * set after the prefix ("10.0.0.1/8" is refused; the reason suggests
 * 10.0.0.0/8).
 *
 * Returns 0, or -1 with nothing added and *why pointing to a reason that
 * names the entry at fault; it lives in acl (or is static) and stays valid
 * until the next call on acl. Fails on an empty text and when memory runs
 * out. The list may be added to any number of times; call acl_finish()
 * after the last addition, before matching.
 */
int	acl_add(struct acl *acl, const char *text, const char **why);

/*
 * Sort and merge the ranges so that acl_match() takes O(log n). May be
 * called again after more additions. Never fails.
 */
void	acl_finish(struct acl *acl);

/*
 * Whether addr (AF_INET or AF_INET6; any other family matches nothing) is
 * in the list. An unfinished list is still matched correctly, by a linear
 * scan.
 */
bool	acl_match(const struct acl *acl, const struct sockaddr *addr);

/* Whether the list has no entry. */
bool	acl_empty(const struct acl *acl);

/*
 * The rule of the allow and deny keys (CONFIG.md): an address that deny
 * matches is refused, whatever allow says; with any allow entry, an
 * address that allow does not match is refused; everything else is
 * permitted. Either list may be NULL, meaning empty. Returns true when
 * addr may connect.
 */
bool	acl_permit(const struct acl *allow, const struct acl *deny,
	    const struct sockaddr *addr);

/* Free what acl holds and make it an empty list again. */
void	acl_free(struct acl *acl);

/*
 * A list of ports (destination_ports): a list of the same kind as an
 * address list, whose ranges run from port to port in the low bits, so
 * that both share their sorting, merging and lookup. All zeros (or
 * acl_ports_init()) is an empty list.
 */
struct acl_ports {
	struct acl	ap_list;
};

/* Make ap an empty list. */
void	acl_ports_init(struct acl_ports *ap);

/*
 * Add to ap the entries of text: one or more, separated by spaces or tabs,
 * each a port ("443") or a range of ports ("8000-8099"), in decimal
 * without a leading zero, within 1-65535, a range's first port not above
 * its last. Returns 0, or -1 with nothing added and *why pointing to a
 * reason naming the entry at fault (valid until the next call on ap), as
 * acl_add() does. Call acl_ports_finish() after the last addition.
 */
int	acl_ports_add(struct acl_ports *ap, const char *text,
	    const char **why);

/* Sort and merge the ranges. Never fails. */
void	acl_ports_finish(struct acl_ports *ap);

/* Whether port (host order) is in the finished list. */
bool	acl_ports_match(const struct acl_ports *ap, uint16_t port);

/* Whether the list has no entry. */
bool	acl_ports_empty(const struct acl_ports *ap);

/* Free what ap holds and make it an empty list again. */
void	acl_ports_free(struct acl_ports *ap);

/*
 * The rule of destination_allow, destination_deny and destination_ports
 * (CONFIG.md): a destination that deny matches is refused; one that allow
 * does not match is refused, and an empty allow matches nothing (unlike
 * acl_permit(): a destination list fails closed); with any port listed, a
 * destination on another port is refused. deny and ports may be NULL
 * (empty). dst is an AF_INET or AF_INET6 socket address with its port.
 * Returns NULL when dst may be reached, else a static reason ("in
 * destination_deny", "not in destination_allow", "port not in
 * destination_ports").
 */
const char *acl_destination(const struct acl *allow, const struct acl *deny,
	    const struct acl_ports *ports, const struct sockaddr *dst);

#endif
