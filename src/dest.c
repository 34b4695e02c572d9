/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

#include "autoconf.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "acl.h"
#include "compat.h"
#include "dest.h"

/* sa as an IPv4 or IPv6 address, an IPv4-mapped one as IPv4. */
static void
dest_unmap(union sock_addr *u, const struct sockaddr *sa, socklen_t len)
{
	struct sockaddr_in6	sin6;

	sock_addr_set(u, sa, len);
	if (u->sa.sa_family != AF_INET6 ||
	    !IN6_IS_ADDR_V4MAPPED(&u->sin6.sin6_addr))
		return;
	sin6 = u->sin6;
	memset(u, 0, sizeof(*u));
	u->sin.sin_family = AF_INET;
	u->sin.sin_port = sin6.sin6_port;
	memcpy(&u->sin.sin_addr, &sin6.sin6_addr.s6_addr[12], 4);
}

static socklen_t
dest_len(const union sock_addr *u)
{
	return u->sa.sa_family == AF_INET ? sizeof(u->sin) : sizeof(u->sin6);
}

static uint16_t
dest_port(const union sock_addr *u)
{
	return ntohs(u->sa.sa_family == AF_INET ? u->sin.sin_port :
	    u->sin6.sin6_port);
}

/* The same address (ports aside); both unmapped. */
static bool
dest_same_host(const union sock_addr *a, const union sock_addr *b)
{
	if (a->sa.sa_family != b->sa.sa_family)
		return false;
	if (a->sa.sa_family == AF_INET)
		return a->sin.sin_addr.s_addr == b->sin.sin_addr.s_addr;
	return IN6_ARE_ADDR_EQUAL(&a->sin6.sin6_addr, &b->sin6.sin6_addr);
}

int
dest_original(int fd, enum config_transparent mode, union sock_addr *dst,
    char *why, size_t whylen)
{
	struct sockaddr_storage	 ss;
	union sock_addr		 local;
	socklen_t		 len = sizeof(ss);
	int			 level, name;

	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1) {
		snprintf(why, whylen, "getsockname: %s", strerror(errno));
		return -1;
	}
	dest_unmap(&local, (struct sockaddr *)&ss, len);
	if (mode == CONFIG_TRANSPARENT_TPROXY) {
		/* IP_TRANSPARENT: the address the client connected to. */
		*dst = local;
		return 0;
	}
	/* IPv4 clients of a dual-stack socket are asked at SOL_IP too. */
	if (local.sa.sa_family == AF_INET) {
		level = SOL_IP;
		name = SO_ORIGINAL_DST;
	} else {
		level = SOL_IPV6;
		name = COMPAT_IP6T_SO_ORIGINAL_DST;
	}
	len = sizeof(ss);
	if (getsockopt(fd, level, name, &ss, &len) == 0) {
		dest_unmap(dst, (struct sockaddr *)&ss, len);
		if (dst->sa.sa_family != AF_UNSPEC)
			return 0;
		errno = EAFNOSUPPORT;
	}
	if (errno == EOPNOTSUPP || errno == ENOPROTOOPT)
		snprintf(why, whylen, "original destination unknown: the "
		    "connection speaks MPTCP, for which the kernel keeps none "
		    "under REDIRECT (SO_ORIGINAL_DST: %s); transparent = "
		    "tproxy keeps it", strerror(errno));
	else if (errno == ENOENT)
		snprintf(why, whylen, "original destination unknown: no NAT "
		    "entry for the connection (SO_ORIGINAL_DST: %s); was it "
		    "redirected?", strerror(errno));
	else
		snprintf(why, whylen, "original destination unknown: "
		    "SO_ORIGINAL_DST: %s", strerror(errno));
	return -1;
}

/*
 * Whether the host answers for d's address itself: a loopback or
 * unspecified address (connecting to 0.0.0.0 reaches the host), or one
 * that the kernel would also send from when asked to reach it, which is
 * what a local route gives (no packet is sent: a UDP connect only looks
 * up the route).
 */
static bool
dest_is_local(const union sock_addr *d)
{
	union sock_addr		 from;
	struct sockaddr_storage	 ss;
	socklen_t		 len = sizeof(ss);
	bool			 local = false;
	int			 fd;

	if (d->sa.sa_family == AF_INET) {
		if ((ntohl(d->sin.sin_addr.s_addr) >> 24) == 127 ||
		    d->sin.sin_addr.s_addr == htonl(INADDR_ANY))
			return true;
	} else if (IN6_IS_ADDR_LOOPBACK(&d->sin6.sin6_addr) ||
	    IN6_IS_ADDR_UNSPECIFIED(&d->sin6.sin6_addr))
		return true;
	if ((fd = socket(d->sa.sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0)) ==
	    -1)
		return false;
	if (connect(fd, &d->sa, dest_len(d)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&ss, &len) == 0) {
		dest_unmap(&from, (struct sockaddr *)&ss, len);
		local = dest_same_host(&from, d);
	}
	close(fd);
	return local;
}

/*
 * Whether a socket listening on ca takes connections to d (port given):
 * its own address, or any local one of the families a wildcard takes.
 * *local caches dest_is_local(d): -1 until asked.
 */
static bool
dest_listens_at(const struct config_addr *ca, const union sock_addr *d,
    uint16_t port, int *local)
{
	union sock_addr	l;
	bool		any;

	dest_unmap(&l, (const struct sockaddr *)&ca->ca_ss, ca->ca_len);
	if (l.sa.sa_family == AF_UNSPEC || dest_port(&l) != port)
		return false;
	any = l.sa.sa_family == AF_INET ?
	    l.sin.sin_addr.s_addr == htonl(INADDR_ANY) :
	    IN6_IS_ADDR_UNSPECIFIED(&l.sin6.sin6_addr);
	if (!any)
		return dest_same_host(&l, d);
	/* "*" takes both families, the others their own. */
	if (!ca->ca_dualstack && l.sa.sa_family != d->sa.sa_family)
		return false;
	if (*local == -1)
		*local = dest_is_local(d);
	return *local;
}

bool
dest_is_own(const struct config *cf, const struct sockaddr *dst)
{
	const struct listener_config	*lc;
	union sock_addr			 d;
	uint16_t			 port;
	int				 i, local = -1;	/* not asked yet */

	dest_unmap(&d, dst, dst->sa_family == AF_INET ?
	    sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
	if (d.sa.sa_family == AF_UNSPEC)
		return false;
	port = dest_port(&d);
	TAILQ_FOREACH(lc, &cf->cf_listeners, lc_entry)
		for (i = 0; i < lc->lc_nlisten; i++)
			if (dest_listens_at(&lc->lc_listen[i], &d, port, &local))
				return true;
	/* The metrics endpoint listens too. */
	return cf->cf_stats_listen.ca_len > 0 &&
	    dest_listens_at(&cf->cf_stats_listen, &d, port, &local);
}

const char *
dest_check(const struct config *cf, const struct listener_config *lc,
    const struct sockaddr *dst)
{
	if (dest_is_own(cf, dst))
		return "one of this daemon's own listening addresses (a loop)";
	if (!lc->lc_upstream_destination)
		return NULL;
	return acl_destination(&lc->lc_dest_allow, &lc->lc_dest_deny,
	    &lc->lc_dest_ports, dst);
}
