/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

/*
 * The PROXY protocol, versions 1 (text) and 2 (binary), as HAProxy's
 * doc/proxy-protocol.txt specifies it, in both directions: parse the header
 * a client (a load balancer) sends first, and build the header the relay
 * sends to its upstream. Pure: no I/O, no logging, no allocation, no
 * libevent; every function works on the caller's memory only.
 */
#ifndef MPTCP_RELAYD_PROXY_PROTO_H
#define MPTCP_RELAYD_PROXY_PROTO_H

#include <sys/socket.h>
#include <stdbool.h>
#include <stddef.h>

/* The longest v1 line: "PROXY UNKNOWN <v6> <v6> 65535 65535\r\n". */
#define PROXY_V1_MAX		107

/* The fixed part of a v2 header: signature, version/command, family, length. */
#define PROXY_V2_FIXED		16

/*
 * The largest v2 length field accepted (the bytes after the fixed 16: the
 * address block and the TLVs). The specification wants a header to fit in
 * a 536-byte segment, and what real senders add is small (ALPN, authority,
 * a 128-byte unique ID, cloud endpoint IDs, TLS version and cipher), with
 * one exception: HAProxy can forward the client's certificate in DER, 1 to
 * 2 KiB in practice. 4096 leaves room for that and still bounds what one
 * unauthenticated connection makes the relay hold before it decides.
 * It is also the most a v2 header may need from proxy_parse() beyond the
 * fixed part, so a reader never buffers more than PROXY_PARSE_MAX bytes.
 */
#define PROXY_V2_LEN_MAX	4096
#define PROXY_PARSE_MAX		(PROXY_V2_FIXED + PROXY_V2_LEN_MAX)

/*
 * Room for any header proxy_build_v1() or proxy_build_v2() writes: the
 * longest v1 line it writes is 104 bytes (two full IPv6 addresses), the
 * longest v2 header 57 (IPv6 and the MPTCP TLV). 108 is the buffer size
 * the specification names for v1.
 */
#define PROXY_HDR_MAX		108

/*
 * Our TLV (CONFIG.md, "PROXY protocol and the MPTCP TLV"): type 0xE7 in the
 * custom range, 2 bytes: the format version (1) and flags, bit 0 set when
 * the client's connection negotiated MPTCP.
 */
#define PROXY_TLV_MPTCP		0xE7
#define PROXY_TLV_MPTCP_VERSION	1
#define PROXY_TLV_MPTCP_CAPABLE	0x01

/* What a parsed header says. */
struct proxy_hdr {
	int			ph_version;	/* 1 or 2 */
	/*
	 * The header carries no usable address: v1 UNKNOWN, v2 LOCAL, or
	 * v2 PROXY with an unspecified family. The receiver keeps the
	 * connection's own addresses; ph_src and ph_dst are AF_UNSPEC.
	 */
	bool			ph_local;
	struct sockaddr_storage	ph_src;		/* the client, with its port */
	struct sockaddr_storage	ph_dst;		/* where it connected to */
	int			ph_mptcp;	/* 0xE7: -1 absent, 0 or 1 */
	size_t			ph_len;		/* bytes of the header */
};

/*
 * Parse a PROXY protocol header, v1 or v2, at the start of buf, of which
 * len bytes have arrived so far. Call it again with more bytes (from the
 * start) after it returned 0; it keeps no state.
 *
 * Returns 1 when a complete, valid header starts buf: *h is filled and
 * h->ph_len bytes are the header; what follows is the client's data, left
 * alone. Returns 0 when buf is a valid beginning of some header but more
 * bytes are needed; never more than PROXY_PARSE_MAX are. Returns -1 as
 * soon as the bytes so far cannot begin a valid header, with *why pointing
 * to a static, human-readable reason ("not a PROXY protocol header" when
 * the first bytes already say so). *h is written only when 1 is returned.
 *
 * Strict, as the specification asks: v1 is at most 107 bytes with single
 * spaces, TCP4, TCP6 or UNKNOWN in capitals, addresses as inet_pton(3)
 * reads them and of the announced family, ports 0-65535 in decimal without
 * leading zeros (the specification forbids them, "to avoid any possible
 * confusion with octal numbers"), and CRLF. After UNKNOWN, anything
 * printable up to the CRLF is ignored. v2 must say version 2, command LOCAL
 * or PROXY, one of the families the specification lists, a length field at
 * most PROXY_V2_LEN_MAX and at least the address block the family needs.
 * PROXY over UDP or AF_UNIX is refused (the relay carries TCP); LOCAL takes
 * any listed family and ignores its addresses. TLVs must tile the rest of
 * the header exactly; a CRC32C TLV must be 4 bytes and match; unknown TLVs
 * are skipped. Our MPTCP TLV sets ph_mptcp; a 0xE7 TLV that is not 2 bytes
 * of version 1 is someone else's use of the custom range and is ignored,
 * two of ours are refused.
 */
int	proxy_parse(const void *buf, size_t len, struct proxy_hdr *h,
	    const char **why);

/*
 * Write the v1 header that announces a connection from src to dst into
 * buf, of size bytes (PROXY_HDR_MAX always suffices), and return its
 * length. Nothing is NUL-terminated.
 *
 * src and dst are AF_INET or AF_INET6 socket addresses with their ports.
 * An IPv4-mapped IPv6 address (an IPv4 client on a dual-stack listener) is
 * sent as the IPv4 address it is; if the two are then of different
 * families, the IPv4 one is mapped into IPv6 (as HAProxy does) and the
 * line says TCP6. IPv6 scope IDs are not carried. With src or dst NULL the
 * line is "PROXY UNKNOWN\r\n": the receiver uses the connection's own
 * addresses. Returns -1 if a family is neither AF_INET nor AF_INET6 or the
 * header does not fit in size bytes.
 */
int	proxy_build_v1(void *buf, size_t size, const struct sockaddr *src,
	    const struct sockaddr *dst);

/*
 * The same as proxy_build_v1() in the v2 format: command PROXY over TCP4 or
 * TCP6 (LOCAL with an unspecified family when src or dst is NULL),
 * followed by our MPTCP TLV whose bit 0 says mptcp.
 */
int	proxy_build_v2(void *buf, size_t size, const struct sockaddr *src,
	    const struct sockaddr *dst, bool mptcp);

#endif
