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
#include <string.h>

#include "proxy_proto.h"

#define STR(x)		#x
#define XSTR(x)		STR(x)

/* v2: the version/command byte, the family byte and the address blocks. */
#define V2_SIG_LEN		12
#define V2_VERSION		0x20
#define V2_CMD_LOCAL		0x00
#define V2_CMD_PROXY		0x01
#define V2_FAM_UNSPEC		0x00
#define V2_FAM_TCP4		0x11
#define V2_FAM_UDP4		0x12
#define V2_FAM_TCP6		0x21
#define V2_FAM_UDP6		0x22
#define V2_FAM_UNIX_STREAM	0x31
#define V2_FAM_UNIX_DGRAM	0x32
#define V2_ADDR_INET		12	/* 2 * 4 + 2 * 2 */
#define V2_ADDR_INET6		36	/* 2 * 16 + 2 * 2 */
#define V2_ADDR_UNIX		216	/* 2 * 108 */
#define V2_TLV_HDR		3	/* type, length (2 bytes) */
#define V2_TLV_CRC32C		0x03
#define V2_CRC32C_LEN		4
#define V2_TLV_MPTCP_LEN	2

/* v1: the fewest bytes that complete a line after each of its fields. */
#define V1_MIN_V4		7	/* "0.0.0.0" */
#define V1_MIN_V6		2	/* "::" */
#define V1_REST_DST		6	/* " 0 0\r\n" */
#define V1_REST_SPORT		4	/* " 0\r\n" */
#define V1_REST_DPORT		2	/* "\r\n" */

static const uint8_t v2_sig[V2_SIG_LEN] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};

/* CRC32C (Castagnoli, reflected 0x82f63b78), four bits at a time. */
static const uint32_t crc32c_nibble[16] = {
	0x00000000, 0x105ec76f, 0x20bd8ede, 0x30e349b1,
	0x417b1dbc, 0x5125dad3, 0x61c69362, 0x7198540d,
	0x82f63b78, 0x92a8fc17, 0xa24bb5a6, 0xb21572c9,
	0xc38d26c4, 0xd3d3e1ab, 0xe330a81a, 0xf36e6f75
};

/* One end of a connection as a header carries it. */
struct pp_end {
	int		 pe_af;		/* AF_INET or AF_INET6 */
	uint8_t		 pe_addr[16];	/* 4 or 16 bytes, network order */
	uint16_t	 pe_port;	/* network order */
};

static int	literal(const uint8_t *, size_t, const char *);
static bool	is_hex(uint8_t);
static int	v1_ipv4(const uint8_t *, size_t, size_t, size_t *,
		    const char **);
static int	v1_ipv6(const uint8_t *, size_t, size_t, size_t *,
		    const char **);
static int	v1_port(const uint8_t *, size_t, size_t, uint8_t, unsigned *,
		    size_t *, const char **);
static int	v1_sockaddr(int, const uint8_t *, size_t, unsigned,
		    struct sockaddr_storage *);
static int	v1_parse(const uint8_t *, size_t, struct proxy_hdr *,
		    const char **);
static uint32_t	crc32c(uint32_t, const uint8_t *, size_t);
static void	v2_sockaddrs(uint8_t, const uint8_t *, struct proxy_hdr *);
static int	v2_parse(const uint8_t *, size_t, struct proxy_hdr *,
		    const char **);
static int	pp_end_get(const struct sockaddr *, struct pp_end *);
static void	pp_end_map(struct pp_end *);
static int	pp_ends(const struct sockaddr *, const struct sockaddr *,
		    struct pp_end *, struct pp_end *);

/*
 * Compare the n bytes that have arrived with the literal lit: 1 when all
 * of lit is there, 0 when what is there matches its beginning, -1 when it
 * does not.
 */
static int
literal(const uint8_t *p, size_t n, const char *lit)
{
	size_t	 len = strlen(lit);

	if (memcmp(p, lit, n < len ? n : len) != 0)
		return (-1);
	return (n >= len);
}

static bool
is_hex(uint8_t c)
{
	return ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	    (c >= 'A' && c <= 'F'));
}

/*
 * The v1 token scanners read a field of the line from the n bytes that
 * have arrived (n may be 0), of which the line leaves room for at most
 * room. Each returns 1 when the field is complete and followed by its
 * terminator (*used = its length, terminator not included), 0 when the
 * bytes are a valid beginning of one that can still end within room, -1
 * when they are not (*why says why).
 *
 * Before each byte, a scanner checks that the fewest bytes that would
 * complete the field (need) still fit: so garbage is refused at its first
 * wrong byte, a line that cannot end within 107 bytes as soon as it
 * cannot, and the reason depends on the first bad byte alone, not on how
 * many came after it.
 */
#define TOO_LONG	"v1: header longer than " XSTR(PROXY_V1_MAX) " bytes"

/*
 * An IPv4 address as inet_pton(3) reads it: four decimal numbers 0-255
 * without leading zeros, separated by single dots.
 */
static int
v1_ipv4(const uint8_t *p, size_t n, size_t room, size_t *used,
    const char **why)
{
	size_t		 i;
	unsigned	 dots = 0, digits = 0, val = 0;

	for (i = 0;; i++) {
		if (i + (digits == 0) + 2 * (3 - dots) > room) {
			*why = TOO_LONG;
			return (-1);
		}
		if (i == n)
			return (0);
		if (p[i] >= '0' && p[i] <= '9') {
			if (digits > 0 && val == 0)
				goto bad;	/* a leading zero */
			val = val * 10 + (unsigned)(p[i] - '0');
			if (val > 255)
				goto bad;
			digits++;
		} else if (p[i] == '.' && digits > 0 && dots < 3) {
			dots++;
			digits = val = 0;
		} else if (p[i] == ' ' && digits > 0 && dots == 3) {
			*used = i;
			return (1);
		} else if (p[i] == ' ' && i == 0) {
			*why = "v1: expected a single space";
			return (-1);
		} else
			goto bad;
	}
bad:
	*why = "v1: invalid IPv4 address";
	return (-1);
}

/*
 * An IPv6 address as inet_pton(3) reads it (RFC 4291, section 2.2): groups
 * of 1-4 hex digits separated by single colons, eight of them, or fewer
 * with one "::" standing for at least one zero group, the last two groups
 * possibly written as a dotted IPv4 address.
 */
static int
v1_ipv6(const uint8_t *p, size_t n, size_t room, size_t *used,
    const char **why)
{
	size_t		 i, need;
	unsigned	 groups = 0;	/* 16-bit groups completed */
	unsigned	 hex = 0;	/* digits of the group being read */
	unsigned	 colons = 0;	/* colons just read (0-2) */
	unsigned	 max;		/* the most groups still possible */
	unsigned	 decval = 0, d4 = 0, v4 = 0;
	int		 dots = -1;	/* -1: no dotted IPv4 tail */
	bool		 dcolon = false, dec = false;
	uint8_t		 c;

	for (i = 0;; i++) {
		if (i == 0)
			need = 2;	/* "::" */
		else if (dots >= 0)
			need = (d4 == 0) + 2 * (3 - (unsigned)dots);
		else if (hex > 0)
			need = (dcolon || groups + 1 == 8) ? 0 : 2;
		else
			need = colons == 2 ? 0 : 1;
		if (i + need > room) {
			*why = TOO_LONG;
			return (-1);
		}
		if (i == n)
			return (0);
		c = p[i];
		max = dcolon ? 7 : 8;
		if (dots >= 0) {
			/* The dotted tail: IPv4's rules, and nothing after. */
			if (c >= '0' && c <= '9') {
				if (d4 > 0 && v4 == 0)
					goto bad;
				v4 = v4 * 10 + (unsigned)(c - '0');
				if (v4 > 255)
					goto bad;
				d4++;
			} else if (c == '.' && d4 > 0 && dots < 3) {
				dots++;
				d4 = v4 = 0;
			} else if (c == ' ' && d4 > 0 && dots == 3) {
				*used = i;
				return (1);
			} else
				goto bad;
			continue;
		}
		if (is_hex(c)) {
			/* A lone leading colon must be the start of "::". */
			if (hex == 4 || groups + 1 > max ||
			    (colons == 1 && groups == 0))
				goto bad;
			if (hex == 0) {
				dec = true;
				decval = 0;
			}
			/* Can this group still be an IPv4 tail's first part? */
			if (c > '9' || (hex > 0 && decval == 0))
				dec = false;
			else {
				decval = decval * 10 + (unsigned)(c - '0');
				if (decval > 255)
					dec = false;
			}
			hex++;
			colons = 0;
		} else if (c == ':') {
			if (hex > 0) {
				/* Another group or "::" must follow. */
				if (++groups >= max)
					goto bad;
				hex = 0;
			} else if (colons == 1 && !dcolon)
				dcolon = true;
			else if (i != 0)
				goto bad;
			colons++;
		} else if (c == '.') {
			if (hex == 0 || !dec ||
			    (dcolon ? groups + 2 > 7 : groups + 2 != 8))
				goto bad;
			dots = 1;
			d4 = v4 = 0;
		} else if (c == ' ') {
			if (i == 0) {
				*why = "v1: expected a single space";
				return (-1);
			}
			if (hex > 0 ?
			    (dcolon ? groups + 1 > 7 : groups + 1 != 8) :
			    colons != 2)
				goto bad;
			*used = i;
			return (1);
		} else
			goto bad;
	}
bad:
	*why = "v1: invalid IPv6 address";
	return (-1);
}

/* A port: 0-65535 in decimal, no leading zero, then term (' ' or '\r'). */
static int
v1_port(const uint8_t *p, size_t n, size_t room, uint8_t term,
    unsigned *port, size_t *used, const char **why)
{
	size_t		 i;
	unsigned	 digits = 0, val = 0;

	for (i = 0;; i++) {
		if (i + (digits == 0) > room) {
			*why = TOO_LONG;
			return (-1);
		}
		if (i == n)
			return (0);
		if (p[i] >= '0' && p[i] <= '9') {
			if (digits > 0 && val == 0) {
				*why = "v1: port with a leading zero";
				return (-1);
			}
			val = val * 10 + (unsigned)(p[i] - '0');
			if (val > 65535) {
				*why = "v1: port out of range";
				return (-1);
			}
			digits++;
		} else if (p[i] == term && digits > 0) {
			*port = val;
			*used = i;
			return (1);
		} else if (p[i] == ' ' && digits == 0) {
			*why = "v1: expected a single space";
			return (-1);
		} else if ((p[i] == '\r' || p[i] == '\n') && term == ' ' &&
		    digits > 0) {
			*why = "v1: missing destination port";
			return (-1);
		} else if ((p[i] == ' ' || p[i] == '\n') && term == '\r' &&
		    digits > 0) {
			*why = "v1: expected CRLF after the destination port";
			return (-1);
		} else {
			*why = "v1: invalid port";
			return (-1);
		}
	}
}

/* A complete address token and its port into a socket address. */
static int
v1_sockaddr(int af, const uint8_t *tok, size_t len, unsigned port,
    struct sockaddr_storage *ss)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)ss;
	char			 text[INET6_ADDRSTRLEN];

	if (len >= sizeof(text))
		return (-1);
	memcpy(text, tok, len);
	text[len] = '\0';
	memset(ss, 0, sizeof(*ss));
	if (af == AF_INET) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		return (inet_pton(AF_INET, text, &sin->sin_addr) == 1 ? 0 : -1);
	}
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons((uint16_t)port);
	return (inet_pton(AF_INET6, text, &sin6->sin6_addr) == 1 ? 0 : -1);
}

/*
 * "PROXY TCP4|TCP6 SRC DST SPORT DPORT\r\n" or "PROXY UNKNOWN[ ...]\r\n".
 * The caller has checked that the bytes so far begin with "PROXY". The
 * beginning, up to the first address, always leaves room for the rest.
 */
static int
v1_parse(const uint8_t *p, size_t len, struct proxy_hdr *h, const char **why)
{
	struct proxy_hdr	 r;
	size_t			 n, off, used, rest, room, tok[2], toklen[2];
	unsigned		 port[2];
	int			 af, i, rv;

	memset(&r, 0, sizeof(r));
	r.ph_version = 1;
	r.ph_mptcp = -1;
	/* Beyond 107 bytes nothing is looked at: the line must end before. */
	n = len < PROXY_V1_MAX ? len : PROXY_V1_MAX;
	off = 5;
	if (n <= off)
		return (0);
	if (p[off++] != ' ') {
		*why = "v1: expected a single space";
		return (-1);
	}
	if (n == off)
		return (0);
	if (p[off] == ' ') {
		*why = "v1: expected a single space";
		return (-1);
	}

	if (p[off] == 'U') {
		if ((rv = literal(p + off, n - off, "UNKNOWN")) != 1) {
			if (rv == -1)
				goto badproto;
			return (0);
		}
		/* The rest of the line, if any, is ignored: we keep ours. */
		r.ph_local = true;
		off += strlen("UNKNOWN");
		if (n == off)
			return (0);
		if (p[off] == '\n') {
			*why = "v1: expected CRLF";
			return (-1);
		}
		if (p[off] != ' ' && p[off] != '\r')
			goto badproto;
		if (p[off] == ' ') {
			for (off++;; off++) {
				if (off + 2 > PROXY_V1_MAX) {
					*why = TOO_LONG;
					return (-1);
				}
				if (n == off)
					return (0);
				if (p[off] < 0x20 || p[off] >= 0x7f)
					break;
			}
			if (p[off] != '\r') {
				*why = p[off] == '\n' ? "v1: expected CRLF" :
				    "v1: non-printable byte in an UNKNOWN line";
				return (-1);
			}
		}
		goto crlf;
	}

	if ((rv = literal(p + off, n - off, "TCP")) == -1)
		goto badproto;
	if (rv == 0 || n == (off += 3))
		return (0);
	if (p[off] != '4' && p[off] != '6')
		goto badproto;
	af = p[off++] == '4' ? AF_INET : AF_INET6;
	if (n == off)
		return (0);
	if (p[off++] != ' ')
		goto badproto;

	for (i = 0; i < 2; i++) {
		rest = V1_REST_DST;
		if (i == 0)
			rest += 1 + (af == AF_INET ? V1_MIN_V4 : V1_MIN_V6);
		room = PROXY_V1_MAX - off - rest;
		if (af == AF_INET)
			rv = v1_ipv4(p + off, n - off, room, &used, why);
		else
			rv = v1_ipv6(p + off, n - off, room, &used, why);
		if (rv != 1)
			return (rv);
		tok[i] = off;
		toklen[i] = used;
		off += used + 1;
	}
	for (i = 0; i < 2; i++) {
		rest = i == 0 ? V1_REST_SPORT : V1_REST_DPORT;
		rv = v1_port(p + off, n - off, PROXY_V1_MAX - off - rest,
		    i == 0 ? ' ' : '\r', &port[i], &used, why);
		if (rv != 1)
			return (rv);
		off += used;
		if (i == 0)
			off++;
	}
	if (v1_sockaddr(af, p + tok[0], toklen[0], port[0], &r.ph_src) == -1 ||
	    v1_sockaddr(af, p + tok[1], toklen[1], port[1], &r.ph_dst) == -1) {
		/* Not reached: the scanners follow inet_pton(3). */
		*why = "v1: invalid address";
		return (-1);
	}

crlf:
	/* p[off] is '\r', within the 107 bytes. */
	if (n == ++off)
		return (0);
	if (p[off++] != '\n') {
		*why = "v1: expected CRLF";
		return (-1);
	}
	r.ph_len = off;
	*h = r;
	return (1);
badproto:
	*why = "v1: expected TCP4, TCP6 or UNKNOWN";
	return (-1);
}

static uint32_t
crc32c(uint32_t crc, const uint8_t *p, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++) {
		crc ^= p[i];
		crc = (crc >> 4) ^ crc32c_nibble[crc & 0x0f];
		crc = (crc >> 4) ^ crc32c_nibble[crc & 0x0f];
	}
	return (crc);
}

/* The address block of a TCP4 or TCP6 header into h. */
static void
v2_sockaddrs(uint8_t fam, const uint8_t *a, struct proxy_hdr *h)
{
	struct sockaddr_in	*s4 = (struct sockaddr_in *)&h->ph_src;
	struct sockaddr_in	*d4 = (struct sockaddr_in *)&h->ph_dst;
	struct sockaddr_in6	*s6 = (struct sockaddr_in6 *)&h->ph_src;
	struct sockaddr_in6	*d6 = (struct sockaddr_in6 *)&h->ph_dst;

	if (fam == V2_FAM_TCP4) {
		s4->sin_family = d4->sin_family = AF_INET;
		memcpy(&s4->sin_addr, a, 4);
		memcpy(&d4->sin_addr, a + 4, 4);
		memcpy(&s4->sin_port, a + 8, 2);
		memcpy(&d4->sin_port, a + 10, 2);
	} else {
		s6->sin6_family = d6->sin6_family = AF_INET6;
		memcpy(&s6->sin6_addr, a, 16);
		memcpy(&d6->sin6_addr, a + 16, 16);
		memcpy(&s6->sin6_port, a + 32, 2);
		memcpy(&d6->sin6_port, a + 34, 2);
	}
}

/*
 * The binary header: signature, version and command, family, length, the
 * address block, TLVs. The caller has checked the signature's bytes so far.
 * Everything that can be judged is judged as soon as its bytes arrive.
 */
static int
v2_parse(const uint8_t *p, size_t len, struct proxy_hdr *h, const char **why)
{
	struct proxy_hdr	 r;
	static const uint8_t	 zero[V2_CRC32C_LEN];
	size_t			 total, avail, off, next, addrlen, tlen;
	size_t			 crc = 0;
	uint32_t		 sum;
	bool			 proxy;

	memset(&r, 0, sizeof(r));
	r.ph_version = 2;
	r.ph_mptcp = -1;
	if (len <= V2_SIG_LEN)
		return (0);
	if ((p[12] & 0xf0) != V2_VERSION) {
		*why = "v2: unsupported version";
		return (-1);
	}
	switch (p[12] & 0x0f) {
	case V2_CMD_LOCAL:
		proxy = false;
		break;
	case V2_CMD_PROXY:
		proxy = true;
		break;
	default:
		*why = "v2: unsupported command";
		return (-1);
	}
	if (len <= 13)
		return (0);
	switch (p[13]) {
	case V2_FAM_UNSPEC:
		addrlen = 0;
		break;
	case V2_FAM_TCP4:
		addrlen = V2_ADDR_INET;
		break;
	case V2_FAM_TCP6:
		addrlen = V2_ADDR_INET6;
		break;
	case V2_FAM_UDP4:
	case V2_FAM_UDP6:
		if (proxy) {
			*why = "v2: UDP is not supported (the relay carries "
			    "TCP)";
			return (-1);
		}
		addrlen = p[13] == V2_FAM_UDP4 ? V2_ADDR_INET : V2_ADDR_INET6;
		break;
	case V2_FAM_UNIX_STREAM:
	case V2_FAM_UNIX_DGRAM:
		if (proxy) {
			*why = "v2: AF_UNIX is not supported (the relay "
			    "carries TCP)";
			return (-1);
		}
		addrlen = V2_ADDR_UNIX;
		break;
	default:
		*why = "v2: invalid address family or transport protocol";
		return (-1);
	}
	/* LOCAL, or PROXY for an unspecified protocol: keep our addresses. */
	r.ph_local = !proxy || p[13] == V2_FAM_UNSPEC;
	if (len < PROXY_V2_FIXED)
		return (0);
	total = ((size_t)p[14] << 8) | p[15];
	if (total > PROXY_V2_LEN_MAX) {
		*why = "v2: length over " XSTR(PROXY_V2_LEN_MAX) " bytes";
		return (-1);
	}
	if (total < addrlen) {
		*why = "v2: address block shorter than its family needs";
		return (-1);
	}
	total += PROXY_V2_FIXED;
	avail = len < total ? len : total;

	/*
	 * The TLVs must tile the rest exactly; each TLV's header tells where
	 * the next one starts, before its value has arrived.
	 */
	for (off = PROXY_V2_FIXED + addrlen; off < total; off = next) {
		if (total - off < V2_TLV_HDR)
			goto overrun;
		if (avail < off + V2_TLV_HDR)
			return (0);
		tlen = ((size_t)p[off + 1] << 8) | p[off + 2];
		if (tlen > total - off - V2_TLV_HDR)
			goto overrun;
		next = off + V2_TLV_HDR + tlen;
		if (next < total && total - next < V2_TLV_HDR)
			goto overrun;
		if (p[off] == V2_TLV_CRC32C) {
			if (tlen != V2_CRC32C_LEN) {
				*why = "v2: CRC32C TLV not 4 bytes long";
				return (-1);
			}
			if (crc != 0) {
				*why = "v2: two CRC32C TLVs";
				return (-1);
			}
			crc = off + V2_TLV_HDR;
		}
		if (avail < next)
			return (0);
		if (p[off] == PROXY_TLV_MPTCP && tlen == V2_TLV_MPTCP_LEN &&
		    p[off + 3] == PROXY_TLV_MPTCP_VERSION) {
			if (r.ph_mptcp != -1) {
				*why = "v2: two MPTCP TLVs";
				return (-1);
			}
			r.ph_mptcp = p[off + 4] & PROXY_TLV_MPTCP_CAPABLE;
		}
	}
	if (len < total)
		return (0);

	if (crc != 0) {
		/* Computed over the whole header, the CRC's own bytes as 0. */
		sum = crc32c(0xffffffff, p, crc);
		sum = crc32c(sum, zero, sizeof(zero));
		sum = crc32c(sum, p + crc + V2_CRC32C_LEN,
		    total - crc - V2_CRC32C_LEN) ^ 0xffffffff;
		if (sum != (((uint32_t)p[crc] << 24) |
		    ((uint32_t)p[crc + 1] << 16) | ((uint32_t)p[crc + 2] << 8) |
		    p[crc + 3])) {
			*why = "v2: CRC32C mismatch";
			return (-1);
		}
	}
	if (!r.ph_local)
		v2_sockaddrs(p[13], p + PROXY_V2_FIXED, &r);
	r.ph_len = total;
	*h = r;
	return (1);
overrun:
	*why = "v2: TLV overruns the header";
	return (-1);
}

int
proxy_parse(const void *buf, size_t len, struct proxy_hdr *h,
    const char **why)
{
	const uint8_t	*p = buf;

	if (len == 0)
		return (0);
	/* The first byte already tells the versions apart. */
	if (p[0] == 'P') {
		if (literal(p, len, "PROXY") == -1)
			goto bad;
		return (v1_parse(p, len, h, why));
	}
	if (memcmp(p, v2_sig, len < V2_SIG_LEN ? len : V2_SIG_LEN) != 0)
		goto bad;
	return (v2_parse(p, len, h, why));
bad:
	*why = "not a PROXY protocol header";
	return (-1);
}

/* Read an AF_INET or AF_INET6 address, an IPv4-mapped one as IPv4. */
static int
pp_end_get(const struct sockaddr *sa, struct pp_end *e)
{
	const struct sockaddr_in	*sin;
	const struct sockaddr_in6	*sin6;

	memset(e, 0, sizeof(*e));
	switch (sa->sa_family) {
	case AF_INET:
		sin = (const struct sockaddr_in *)(const void *)sa;
		e->pe_af = AF_INET;
		memcpy(e->pe_addr, &sin->sin_addr, 4);
		e->pe_port = sin->sin_port;
		return (0);
	case AF_INET6:
		sin6 = (const struct sockaddr_in6 *)(const void *)sa;
		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
			e->pe_af = AF_INET;
			memcpy(e->pe_addr, &sin6->sin6_addr.s6_addr[12], 4);
		} else {
			e->pe_af = AF_INET6;
			memcpy(e->pe_addr, &sin6->sin6_addr, 16);
		}
		e->pe_port = sin6->sin6_port;
		return (0);
	default:
		return (-1);
	}
}

/* An IPv4 end as the IPv4-mapped IPv6 address ::ffff:a.b.c.d. */
static void
pp_end_map(struct pp_end *e)
{
	if (e->pe_af != AF_INET)
		return;
	memmove(&e->pe_addr[12], e->pe_addr, 4);
	memset(e->pe_addr, 0, 10);
	e->pe_addr[10] = e->pe_addr[11] = 0xff;
	e->pe_af = AF_INET6;
}

/* Both ends, of one family: IPv4 if both are IPv4, else IPv6. */
static int
pp_ends(const struct sockaddr *src, const struct sockaddr *dst,
    struct pp_end *s, struct pp_end *d)
{
	if (pp_end_get(src, s) == -1 || pp_end_get(dst, d) == -1)
		return (-1);
	if (s->pe_af != d->pe_af) {
		pp_end_map(s);
		pp_end_map(d);
	}
	return (0);
}

int
proxy_build_v1(void *buf, size_t size, const struct sockaddr *src,
    const struct sockaddr *dst)
{
	struct pp_end	 s, d;
	char		 line[PROXY_HDR_MAX + 1];
	char		 sa[INET6_ADDRSTRLEN], da[INET6_ADDRSTRLEN];
	int		 n;

	if (src == NULL || dst == NULL)
		n = snprintf(line, sizeof(line), "PROXY UNKNOWN\r\n");
	else {
		if (pp_ends(src, dst, &s, &d) == -1 ||
		    inet_ntop(s.pe_af, s.pe_addr, sa, sizeof(sa)) == NULL ||
		    inet_ntop(d.pe_af, d.pe_addr, da, sizeof(da)) == NULL)
			return (-1);
		n = snprintf(line, sizeof(line), "PROXY TCP%c %s %s %u %u\r\n",
		    s.pe_af == AF_INET ? '4' : '6', sa, da,
		    (unsigned)ntohs(s.pe_port), (unsigned)ntohs(d.pe_port));
	}
	if (n < 0 || (size_t)n >= sizeof(line) || (size_t)n > size)
		return (-1);
	memcpy(buf, line, (size_t)n);
	return (n);
}

int
proxy_build_v2(void *buf, size_t size, const struct sockaddr *src,
    const struct sockaddr *dst, bool mptcp)
{
	struct pp_end	 s, d;
	uint8_t		 hdr[PROXY_HDR_MAX];
	size_t		 n, alen;

	memcpy(hdr, v2_sig, V2_SIG_LEN);
	if (src == NULL || dst == NULL) {
		hdr[12] = V2_VERSION | V2_CMD_LOCAL;
		hdr[13] = V2_FAM_UNSPEC;
		n = PROXY_V2_FIXED;
	} else {
		if (pp_ends(src, dst, &s, &d) == -1)
			return (-1);
		alen = s.pe_af == AF_INET ? 4 : 16;
		hdr[12] = V2_VERSION | V2_CMD_PROXY;
		hdr[13] = alen == 4 ? V2_FAM_TCP4 : V2_FAM_TCP6;
		n = PROXY_V2_FIXED;
		memcpy(&hdr[n], s.pe_addr, alen);
		memcpy(&hdr[n + alen], d.pe_addr, alen);
		n += 2 * alen;
		memcpy(&hdr[n], &s.pe_port, 2);
		memcpy(&hdr[n + 2], &d.pe_port, 2);
		n += 4;
	}
	hdr[n++] = PROXY_TLV_MPTCP;
	hdr[n++] = 0;
	hdr[n++] = V2_TLV_MPTCP_LEN;
	hdr[n++] = PROXY_TLV_MPTCP_VERSION;
	hdr[n++] = mptcp ? PROXY_TLV_MPTCP_CAPABLE : 0;
	hdr[14] = (uint8_t)((n - PROXY_V2_FIXED) >> 8);
	hdr[15] = (uint8_t)(n - PROXY_V2_FIXED);
	if (n > size)
		return (-1);
	memcpy(buf, hdr, n);
	return ((int)n);
}
