/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

#include "autoconf.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/genetlink.h>
#include <linux/netlink.h>

#include "compat.h"
#include "config.h"
#include "diagnose.h"
#include "netstat.h"
#include "sock.h"

/*
 * The kernel's MPTCP path-manager netlink interface (linux/mptcp.h). The
 * numbers are kernel ABI; they are spelled out here because that header
 * drags in linux/in.h, which fights with the libc's netinet/in.h.
 */
#define DG_PM_NAME		"mptcp_pm"
#define DG_PM_VER		1
#define DG_PM_CMD_GET_ADDR	3
#define DG_PM_CMD_GET_LIMITS	6
#define DG_PM_ATTR_ADDR		1
#define DG_PM_ATTR_RCV_ADD_ADDRS 2
#define DG_PM_ATTR_SUBFLOWS	3
#define DG_PM_ADDR_ATTR_FAMILY	1
#define DG_PM_ADDR_ATTR_ID	2
#define DG_PM_ADDR_ATTR_ADDR4	3
#define DG_PM_ADDR_ATTR_ADDR6	4
#define DG_PM_ADDR_ATTR_PORT	5
#define DG_PM_ADDR_ATTR_FLAGS	6
#define DG_PM_ADDR_ATTR_IF_IDX	7

#define DG_SYSCTL_DIR		"/proc/sys/net/mptcp"
#define DG_NL_BUFSIZE		32768
#define DG_NL_TIMEOUT_S		2	/* a kernel answer is immediate */
#define DG_NL_MAX_READS		4096	/* bounds a runaway dump */

/* One request: headers, then room for an attribute or two. */
struct dg_nlreq {
	struct nlmsghdr		r_nh;
	struct genlmsghdr	r_gh;
	char			r_attrs[64];
};

/* --- judging the facts (pure) ------------------------------------------- */

bool
diagnose_usable(const struct diagnose_facts *f)
{
	return f->df_kernel_mptcp && f->df_enabled == 1 && f->df_socket_ok;
}

static bool
dg_is_wildcard(const struct sockaddr_storage *ss)
{
	const struct sockaddr_in	*sin = (const struct sockaddr_in *)ss;
	const struct sockaddr_in6	*sin6 = (const struct sockaddr_in6 *)ss;

	if (ss->ss_family == AF_INET)
		return sin->sin_addr.s_addr == htonl(INADDR_ANY);
	if (ss->ss_family == AF_INET6)
		return IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr);
	return false;
}

/*
 * The IPv4 address of ss (also of an IPv4-mapped IPv6 one) in *v4;
 * false for a real IPv6 address.
 */
static bool
dg_ipv4_of(const struct sockaddr_storage *ss, struct in_addr *v4)
{
	const struct sockaddr_in	*sin = (const struct sockaddr_in *)ss;
	const struct sockaddr_in6	*sin6 = (const struct sockaddr_in6 *)ss;

	if (ss->ss_family == AF_INET) {
		*v4 = sin->sin_addr;
		return true;
	}
	if (ss->ss_family == AF_INET6 &&
	    IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
		memcpy(&v4->s_addr, &sin6->sin6_addr.s6_addr[12], 4);
		return true;
	}
	return false;
}

/* Whether the host's addresses include a's (ports ignored). */
static bool
dg_is_local(const struct diagnose_facts *f, const struct sockaddr_storage *a)
{
	const struct sockaddr_in6	*x6, *y6;
	struct in_addr			 x4, y4;
	bool				 a_is_v4;
	int				 i;

	if (dg_is_wildcard(a))
		return true;
	a_is_v4 = dg_ipv4_of(a, &x4);
	/* Linux answers for all of 127/8 on lo, not only 127.0.0.1. */
	if (a_is_v4 && (ntohl(x4.s_addr) >> 24) == 127)
		return true;
	for (i = 0; i < f->df_nhostaddrs; i++) {
		if (a_is_v4) {
			if (dg_ipv4_of(&f->df_hostaddrs[i], &y4) &&
			    x4.s_addr == y4.s_addr)
				return true;
			continue;
		}
		if (a->ss_family != AF_INET6 ||
		    f->df_hostaddrs[i].ss_family != AF_INET6)
			continue;
		x6 = (const struct sockaddr_in6 *)a;
		y6 = (const struct sockaddr_in6 *)&f->df_hostaddrs[i];
		if (IN6_ARE_ADDR_EQUAL(&x6->sin6_addr, &y6->sin6_addr))
			return true;
	}
	return false;
}

static bool
dg_pm_is_userspace(const struct diagnose_facts *f)
{
	return strcmp(f->df_path_manager, "userspace") == 0;
}

/* Append one warning; count them all, store up to max. */
static void
dg_warn(struct diagnose_warning *w, int max, int *n, enum diagnose_code code,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void
dg_warn(struct diagnose_warning *w, int max, int *n, enum diagnose_code code,
    const char *fmt, ...)
{
	va_list	ap;

	if (*n < max) {
		w[*n].dw_code = code;
		va_start(ap, fmt);
		vsnprintf(w[*n].dw_text, sizeof(w[*n].dw_text), fmt, ap);
		va_end(ap);
	}
	(*n)++;
}

/*
 * A gateway (a transparent listener) gets failover and aggregation only
 * from the subflows of its upstream connections: this host opens them
 * from its other uplinks ('subflow' endpoints) or joins the addresses the
 * upstream announces (add_addr_accepted), within the subflow limit.
 */
static void
dg_warn_gateway(const struct diagnose_facts *f, struct diagnose_warning *w,
    int max, int *n, bool subflow)
{
	if (!f->df_transparent_mptcp) {
		dg_warn(w, max, n, DIAGNOSE_W_NO_SECOND_PATH,
		    "listener '%s' is transparent but upstream_protocol = "
		    "tcp: its connections to the upstream are plain TCP, with "
		    "one path and no failover", f->df_transparent);
		return;
	}
	/* What cannot be read is not guessed at. */
	if (!f->df_limits_known || (f->df_limit_subflows > 0 &&
	    (!f->df_endpoints_known || subflow ||
	    f->df_limit_add_addr_accepted > 0)))
		return;
	dg_warn(w, max, n, DIAGNOSE_W_NO_SECOND_PATH,
	    "listener '%s' is transparent, and its MPTCP connections to the "
	    "upstream get no second path (%s): no failover and no "
	    "aggregation of uplinks; add a 'subflow' endpoint on each other "
	    "uplink ('ip mptcp endpoint add ADDRESS dev UPLINK subflow') or "
	    "accept the upstream's announced addresses, with e.g. 'ip mptcp "
	    "limits set subflows 2 add_addr_accepted 2'", f->df_transparent,
	    f->df_limit_subflows == 0 ? "the subflow limit is 0" :
	    "no 'subflow' endpoint, and add_addr_accepted is 0");
}

int
diagnose_warnings(const struct diagnose_facts *f, struct diagnose_warning *w,
    int max)
{
	bool	signal = false, subflow = false, kernel_pm;
	int	i, n = 0;

	if (!f->df_kernel_mptcp) {
		dg_warn(w, max, &n, DIAGNOSE_W_NO_KERNEL_MPTCP,
		    "this kernel has no MPTCP (no %s: built without "
		    "CONFIG_MPTCP): listeners with protocol = mptcp do not "
		    "start unless mptcp_fallback = yes, and upstream_protocol "
		    "= mptcp connects with plain TCP", DG_SYSCTL_DIR);
		return n;
	}
	if (f->df_enabled == 0)
		dg_warn(w, max, &n, DIAGNOSE_W_DISABLED,
		    "MPTCP is disabled: net.mptcp.enabled = 0. Listeners with "
		    "protocol = mptcp do not start (or listen with plain TCP "
		    "when mptcp_fallback = yes) and upstream_protocol = mptcp "
		    "connects with plain TCP. Enable it with "
		    "'sysctl -w net.mptcp.enabled=1'");
	else if (f->df_enabled == 1 && !f->df_socket_ok)
		dg_warn(w, max, &n, DIAGNOSE_W_SOCKET,
		    "net.mptcp.enabled is 1, yet the kernel refuses MPTCP "
		    "sockets: %s", f->df_socket_error);

	kernel_pm = !dg_pm_is_userspace(f);
	if (!kernel_pm)
		dg_warn(w, max, &n, DIAGNOSE_W_USERSPACE_PM,
		    "the path manager is 'userspace': the limits and "
		    "endpoints of the in-kernel path manager are not used; "
		    "extra subflows and address announcements come only from "
		    "a path-manager "
		    "daemon (such as mptcpd), and without one every connection "
		    "keeps a single path");
	if (f->df_netlink_error[0] != '\0')
		dg_warn(w, max, &n, DIAGNOSE_W_NETLINK,
		    "cannot read the MPTCP limits and endpoints from the "
		    "kernel: %s", f->df_netlink_error);

	if (kernel_pm && f->df_limits_known && f->df_limit_subflows == 0)
		dg_warn(w, max, &n, DIAGNOSE_W_SUBFLOWS_ZERO,
		    "the subflow limit is 0: no connection gets a second "
		    "subflow, so there is no multipath and no failover at all; "
		    "raise it, e.g. 'ip mptcp limits set subflows 2 "
		    "add_addr_accepted 2'");

	for (i = 0; i < f->df_nendpoints; i++) {
		if (f->df_endpoints[i].de_flags & DIAGNOSE_EP_SIGNAL)
			signal = true;
		if (f->df_endpoints[i].de_flags & DIAGNOSE_EP_SUBFLOW)
			subflow = true;
	}
	/* A gateway's clients are its LAN's TCP: none joins it. */
	if (kernel_pm && f->df_endpoints_known && !signal &&
	    !(f->df_have_config && f->df_all_transparent))
		dg_warn(w, max, &n, DIAGNOSE_W_NO_SIGNAL,
		    "no 'signal' endpoint: this host announces none of its "
		    "other addresses, so clients can only add subflows from "
		    "their own side (their 'subflow' endpoints); to announce "
		    "one: 'ip mptcp endpoint add ADDRESS dev IFACE signal'");

	if (kernel_pm && f->df_upstream_mptcp && f->df_limits_known &&
	    f->df_limit_add_addr_accepted == 0)
		dg_warn(w, max, &n, DIAGNOSE_W_ADD_ADDR_ZERO,
		    "upstream_protocol = mptcp is configured but "
		    "add_addr_accepted is 0: addresses the upstream host "
		    "announces are ignored, so the upstream leg gets extra "
		    "subflows only from this host's 'subflow' endpoints");

	if (kernel_pm && f->df_transparent[0] != '\0')
		dg_warn_gateway(f, w, max, &n, subflow);

	if (f->df_blackhole_timeout > 0 && f->df_counters_known &&
	    (f->df_blackhole > 0 || f->df_syntx_disabled > 0))
		dg_warn(w, max, &n, DIAGNOSE_W_BLACKHOLE,
		    "the kernel's MPTCP blackhole detection has fired "
		    "(MPTcpExtBlackhole = %" PRIu64 ", "
		    "MPTcpExtMPCapableSYNTXDisabled = %" PRIu64 "): while it "
		    "holds (net.mptcp.blackhole_timeout = %" PRId64 " s, "
		    "doubled on each repeat) this host's outgoing MPTCP "
		    "connections are silently made as plain TCP, so "
		    "upstream_protocol = mptcp gives plain TCP. Find what "
		    "drops MPTCP options on the path, or turn the detection "
		    "off with "
		    "'sysctl -w net.mptcp.blackhole_timeout=0'",
		    f->df_blackhole, f->df_syntx_disabled,
		    f->df_blackhole_timeout);

	if (f->df_hostaddrs_known)
		for (i = 0; i < f->df_nlistens; i++)
			if (!dg_is_local(f, &f->df_listens[i].dl_addr))
				dg_warn(w, max, &n, DIAGNOSE_W_LISTEN_NOT_LOCAL,
				    "listener '%s': %s is not an address of "
				    "this host: binding it fails "
				    "(EADDRNOTAVAIL) and the daemon does not "
				    "start", f->df_listens[i].dl_name,
				    f->df_listens[i].dl_text);
	return n;
}

/* --- collecting the facts ----------------------------------------------- */

/* The first line of a sysctl file, without its newline; 0 or -1. */
static int
dg_read_sysctl(const char *name, char *buf, size_t len)
{
	char	path[128];
	ssize_t	n;
	int	fd;

	snprintf(path, sizeof(path), "%s/%s", DG_SYSCTL_DIR, name);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

static int64_t
dg_read_sysctl_int(const char *name)
{
	char	buf[32], *end;
	long long v;

	if (dg_read_sysctl(name, buf, sizeof(buf)) == -1)
		return -1;
	errno = 0;
	v = strtoll(buf, &end, 10);
	if (errno != 0 || end == buf || v < 0)
		return -1;
	return v;
}

static void
dg_collect_sysctls(struct diagnose_facts *f)
{
	int64_t	v;

	f->df_kernel_mptcp = access(DG_SYSCTL_DIR, F_OK) == 0;
	f->df_enabled = (int)dg_read_sysctl_int("enabled");
	if (f->df_enabled > 1)
		f->df_enabled = 1;
	/* net.mptcp.path_manager from 6.15; pm_type before (0 = kernel). */
	if (dg_read_sysctl("path_manager", f->df_path_manager,
	    sizeof(f->df_path_manager)) == -1) {
		v = dg_read_sysctl_int("pm_type");
		snprintf(f->df_path_manager, sizeof(f->df_path_manager), "%s",
		    v == 0 ? "kernel" : v == 1 ? "userspace" : "unknown");
	}
	/* net.mptcp.scheduler from 6.6; older kernels have one, built in. */
	if (dg_read_sysctl("scheduler", f->df_scheduler,
	    sizeof(f->df_scheduler)) == -1)
		f->df_scheduler[0] = '\0';
	/* From 6.12; none before means no detection that could interfere. */
	f->df_blackhole_timeout = dg_read_sysctl_int("blackhole_timeout");
}

/* The same question the listeners ask, with the same reasons. */
static void
dg_collect_socket(struct diagnose_facts *f)
{
	f->df_socket_ok = sock_mptcp_available(AF_INET, f->df_socket_error,
	    sizeof(f->df_socket_error)) == 0;
}

/* The two MPTcpExt counters of /proc/net/netstat that the warnings judge. */
static void
dg_collect_counters(struct diagnose_facts *f)
{
	struct netstat_mptcp	*nm;

	if ((nm = malloc(sizeof(*nm))) == NULL)
		return;
	if (netstat_mptcp_read(nm) == 0) {
		f->df_counters_known = true;
		(void)netstat_mptcp_get(nm, "Blackhole", &f->df_blackhole);
		(void)netstat_mptcp_get(nm, "MPCapableSYNTXDisabled",
		    &f->df_syntx_disabled);
	}
	free(nm);
}

static void
dg_collect_hostaddrs(struct diagnose_facts *f)
{
	struct ifaddrs	*ifa, *i;
	size_t		 len;

	if (getifaddrs(&ifa) == -1)
		return;
	f->df_hostaddrs_known = true;
	for (i = ifa; i != NULL; i = i->ifa_next) {
		if (i->ifa_addr == NULL)
			continue;
		if (i->ifa_addr->sa_family == AF_INET)
			len = sizeof(struct sockaddr_in);
		else if (i->ifa_addr->sa_family == AF_INET6)
			len = sizeof(struct sockaddr_in6);
		else
			continue;
		if (f->df_nhostaddrs == DIAGNOSE_HOSTADDRS_MAX) {
			/* Incomplete: better no warning than a false one. */
			f->df_hostaddrs_known = false;
			break;
		}
		memcpy(&f->df_hostaddrs[f->df_nhostaddrs++], i->ifa_addr, len);
	}
	freeifaddrs(ifa);
}

static void
dg_collect_listens(const struct config *cf, struct diagnose_facts *f)
{
	const struct listener_config	*lc;
	struct diagnose_listen		*dl;
	int				 i;

	if (cf == NULL)
		return;
	f->df_have_config = true;
	f->df_all_transparent = !TAILQ_EMPTY(&cf->cf_listeners);
	TAILQ_FOREACH(lc, &cf->cf_listeners, lc_entry) {
		if (lc->lc_upstream_protocol == IPPROTO_MPTCP)
			f->df_upstream_mptcp = true;
		if (lc->lc_transparent == CONFIG_TRANSPARENT_NO)
			f->df_all_transparent = false;
		else if (f->df_transparent[0] == '\0') {
			snprintf(f->df_transparent, sizeof(f->df_transparent),
			    "%s", lc->lc_name);
			f->df_transparent_mptcp = lc->lc_upstream_protocol ==
			    IPPROTO_MPTCP;
		}
		for (i = 0; i < lc->lc_nlisten &&
		    f->df_nlistens < DIAGNOSE_LISTENS_MAX; i++) {
			dl = &f->df_listens[f->df_nlistens++];
			snprintf(dl->dl_name, sizeof(dl->dl_name), "%s",
			    lc->lc_name);
			snprintf(dl->dl_text, sizeof(dl->dl_text), "%s",
			    lc->lc_listen[i].ca_text);
			memcpy(&dl->dl_addr, &lc->lc_listen[i].ca_ss,
			    sizeof(dl->dl_addr));
		}
	}
}

/* --- generic netlink ---------------------------------------------------- */

typedef int (*dg_nl_cb)(const struct nlmsghdr *, void *);

static void
dg_nl_init(struct dg_nlreq *r, uint16_t type, uint16_t flags, uint8_t cmd,
    uint8_t version, uint32_t seq)
{
	memset(r, 0, sizeof(*r));
	r->r_nh.nlmsg_len = NLMSG_LENGTH(GENL_HDRLEN);
	r->r_nh.nlmsg_type = type;
	r->r_nh.nlmsg_flags = NLM_F_REQUEST | flags;
	r->r_nh.nlmsg_seq = seq;
	r->r_gh.cmd = cmd;
	r->r_gh.version = version;
}

static int
dg_nl_put(struct dg_nlreq *r, uint16_t type, const void *data, uint16_t len)
{
	struct nlattr	*nla;
	size_t		 off = NLMSG_ALIGN(r->r_nh.nlmsg_len);

	if (off + NLA_HDRLEN + NLA_ALIGN(len) > sizeof(*r)) {
		errno = EMSGSIZE;
		return -1;
	}
	nla = (struct nlattr *)((char *)r + off);
	nla->nla_type = type;
	nla->nla_len = NLA_HDRLEN + len;
	memcpy((char *)nla + NLA_HDRLEN, data, len);
	r->r_nh.nlmsg_len = off + NLA_HDRLEN + NLA_ALIGN(len);
	return 0;
}

/*
 * Send one request and hand every reply message to cb until the answer is
 * complete (NLMSG_DONE for a dump, the one message otherwise). Returns
 * 0, or -1 with errno (the kernel's error, or ETIMEDOUT).
 */
static int
dg_nl_talk(int fd, struct dg_nlreq *r, dg_nl_cb cb, void *arg)
{
	struct sockaddr_nl	 sa = { .nl_family = AF_NETLINK };
	const struct nlmsghdr	*nh;
	const struct nlmsgerr	*err;
	bool			 dump = r->r_nh.nlmsg_flags & NLM_F_DUMP;
	char			*buf;
	ssize_t			 n;
	int			 reads, rc = -1;

	if ((buf = malloc(DG_NL_BUFSIZE)) == NULL)
		return -1;
	if (sendto(fd, r, r->r_nh.nlmsg_len, 0, (struct sockaddr *)&sa,
	    sizeof(sa)) == -1)
		goto done;
	for (reads = 0; reads < DG_NL_MAX_READS; reads++) {
		n = recv(fd, buf, DG_NL_BUFSIZE, 0);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				errno = ETIMEDOUT;
			goto done;
		}
		for (nh = (const struct nlmsghdr *)buf; NLMSG_OK(nh, n);
		    nh = NLMSG_NEXT(nh, n)) {
			if (nh->nlmsg_seq != r->r_nh.nlmsg_seq)
				continue;	/* a stale answer */
			if (nh->nlmsg_type == NLMSG_DONE) {
				rc = 0;
				goto done;
			}
			if (nh->nlmsg_type == NLMSG_ERROR) {
				err = NLMSG_DATA(nh);
				if (nh->nlmsg_len < NLMSG_LENGTH(sizeof(*err)))
					errno = EPROTO;
				else if (err->error == 0) {
					rc = 0;		/* an ACK */
					goto done;
				} else
					errno = -err->error;
				goto done;
			}
			if (cb(nh, arg) == -1)
				goto done;
			if (!dump) {
				rc = 0;
				goto done;
			}
		}
	}
	errno = EOVERFLOW;
done:
	free(buf);
	return rc;
}

/* Each whole attribute in [data, data + len), nla pointing at it. */
#define DG_NLA_END(data, len)	((const char *)(data) + (len))
#define DG_NLA_FOREACH(nla, data, len)					\
	for ((nla) = (const struct nlattr *)(data);			\
	    (const char *)(nla) + NLA_HDRLEN <= DG_NLA_END(data, len) && \
	    (nla)->nla_len >= NLA_HDRLEN &&				\
	    (const char *)(nla) + (nla)->nla_len <= DG_NLA_END(data, len); \
	    (nla) = (const struct nlattr *)((const char *)(nla) +	\
	    NLA_ALIGN((nla)->nla_len)))

static const void *
dg_nla_data(const struct nlattr *nla)
{
	return (const char *)nla + NLA_HDRLEN;
}

static size_t
dg_nla_len(const struct nlattr *nla)
{
	return nla->nla_len - NLA_HDRLEN;
}

static int
dg_nla_type(const struct nlattr *nla)
{
	return nla->nla_type & NLA_TYPE_MASK;
}

/* The attributes of a generic netlink message. */
static const void *
dg_genl_attrs(const struct nlmsghdr *nh, size_t *len)
{
	if (nh->nlmsg_len < NLMSG_LENGTH(GENL_HDRLEN)) {
		*len = 0;
		return NLMSG_DATA(nh);
	}
	*len = nh->nlmsg_len - NLMSG_LENGTH(GENL_HDRLEN);
	return (const char *)NLMSG_DATA(nh) + GENL_HDRLEN;
}

static int
dg_family_cb(const struct nlmsghdr *nh, void *arg)
{
	const struct nlattr	*nla;
	const void		*attrs;
	size_t			 len;
	uint16_t		*id = arg;

	attrs = dg_genl_attrs(nh, &len);
	DG_NLA_FOREACH(nla, attrs, len)
		if (dg_nla_type(nla) == CTRL_ATTR_FAMILY_ID &&
		    dg_nla_len(nla) >= sizeof(uint16_t))
			memcpy(id, dg_nla_data(nla), sizeof(uint16_t));
	return 0;
}

static int
dg_limits_cb(const struct nlmsghdr *nh, void *arg)
{
	struct diagnose_facts	*f = arg;
	const struct nlattr	*nla;
	const void		*attrs;
	size_t			 len;
	uint32_t		 v;

	attrs = dg_genl_attrs(nh, &len);
	DG_NLA_FOREACH(nla, attrs, len) {
		if (dg_nla_len(nla) < sizeof(v))
			continue;
		memcpy(&v, dg_nla_data(nla), sizeof(v));
		if (dg_nla_type(nla) == DG_PM_ATTR_SUBFLOWS)
			f->df_limit_subflows = v;
		else if (dg_nla_type(nla) == DG_PM_ATTR_RCV_ADD_ADDRS)
			f->df_limit_add_addr_accepted = v;
	}
	f->df_limits_known = true;
	return 0;
}

static void
dg_parse_endpoint(const void *attrs, size_t alen, struct diagnose_endpoint *e)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)&e->de_addr;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&e->de_addr;
	const struct nlattr	*nla;
	uint16_t		 family = 0, port = 0;
	size_t			 len;

	memset(e, 0, sizeof(*e));
	DG_NLA_FOREACH(nla, attrs, alen) {
		len = dg_nla_len(nla);
		switch (dg_nla_type(nla)) {
		case DG_PM_ADDR_ATTR_FAMILY:
			if (len >= 2)
				memcpy(&family, dg_nla_data(nla), 2);
			break;
		case DG_PM_ADDR_ATTR_ID:
			if (len >= 1)
				memcpy(&e->de_id, dg_nla_data(nla), 1);
			break;
		case DG_PM_ADDR_ATTR_ADDR4:
			if (len >= 4)
				memcpy(&sin->sin_addr, dg_nla_data(nla), 4);
			break;
		case DG_PM_ADDR_ATTR_ADDR6:
			if (len >= 16)
				memcpy(&sin6->sin6_addr, dg_nla_data(nla), 16);
			break;
		case DG_PM_ADDR_ATTR_PORT:	/* host byte order */
			if (len >= 2)
				memcpy(&port, dg_nla_data(nla), 2);
			break;
		case DG_PM_ADDR_ATTR_FLAGS:
			if (len >= 4)
				memcpy(&e->de_flags, dg_nla_data(nla), 4);
			break;
		case DG_PM_ADDR_ATTR_IF_IDX:
			if (len >= 4)
				memcpy(&e->de_ifindex, dg_nla_data(nla), 4);
			break;
		}
	}
	/* sin_port and sin6_port sit at the same offset. */
	e->de_addr.ss_family = family;
	if (family == AF_INET)
		sin->sin_port = htons(port);
	else if (family == AF_INET6)
		sin6->sin6_port = htons(port);
	if (e->de_ifindex > 0 &&
	    if_indextoname((unsigned)e->de_ifindex, e->de_ifname) == NULL)
		e->de_ifname[0] = '\0';
}

static int
dg_endpoint_cb(const struct nlmsghdr *nh, void *arg)
{
	struct diagnose_facts	*f = arg;
	const struct nlattr	*nla;
	const void		*attrs;
	size_t			 len;

	attrs = dg_genl_attrs(nh, &len);
	DG_NLA_FOREACH(nla, attrs, len) {
		if (dg_nla_type(nla) != DG_PM_ATTR_ADDR)
			continue;
		if (f->df_nendpoints == DIAGNOSE_ENDPOINTS_MAX) {
			f->df_endpoints_truncated = true;
			continue;
		}
		dg_parse_endpoint(dg_nla_data(nla), dg_nla_len(nla),
		    &f->df_endpoints[f->df_nendpoints++]);
	}
	return 0;
}

static void
dg_collect_netlink(struct diagnose_facts *f)
{
	struct dg_nlreq	 r;
	struct timeval	 tv = { DG_NL_TIMEOUT_S, 0 };
	uint16_t	 family = 0;
	uint32_t	 seq = 1;
	int		 fd;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
	if (fd == -1) {
		snprintf(f->df_netlink_error, sizeof(f->df_netlink_error),
		    "generic netlink socket: %s", strerror(errno));
		return;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));

	dg_nl_init(&r, GENL_ID_CTRL, 0, CTRL_CMD_GETFAMILY, 1, seq++);
	if (dg_nl_put(&r, CTRL_ATTR_FAMILY_NAME, DG_PM_NAME,
	    sizeof(DG_PM_NAME)) == -1 ||
	    dg_nl_talk(fd, &r, dg_family_cb, &family) == -1 || family == 0) {
		snprintf(f->df_netlink_error, sizeof(f->df_netlink_error),
		    "no '%s' generic netlink family: %s", DG_PM_NAME,
		    family == 0 && errno == 0 ? "no answer" : strerror(errno));
		goto done;
	}

	dg_nl_init(&r, family, 0, DG_PM_CMD_GET_LIMITS, DG_PM_VER, seq++);
	if (dg_nl_talk(fd, &r, dg_limits_cb, f) == -1) {
		snprintf(f->df_netlink_error, sizeof(f->df_netlink_error),
		    "%s GET_LIMITS: %s", DG_PM_NAME, strerror(errno));
		goto done;
	}

	dg_nl_init(&r, family, NLM_F_DUMP, DG_PM_CMD_GET_ADDR, DG_PM_VER,
	    seq++);
	if (dg_nl_talk(fd, &r, dg_endpoint_cb, f) == -1) {
		snprintf(f->df_netlink_error, sizeof(f->df_netlink_error),
		    "%s GET_ADDR: %s", DG_PM_NAME, strerror(errno));
		f->df_nendpoints = 0;
		goto done;
	}
	f->df_endpoints_known = true;
done:
	close(fd);
}

int64_t
diagnose_sysctl(const char *name)
{
	return dg_read_sysctl_int(name);
}

bool
diagnose_ready(void)
{
	struct diagnose_facts	*f;
	bool			 ready;

	if ((f = calloc(1, sizeof(*f))) == NULL)
		return false;
	f->df_enabled = -1;
	dg_collect_sysctls(f);
	if (f->df_kernel_mptcp)
		dg_collect_socket(f);
	ready = diagnose_usable(f);
	free(f);
	return ready;
}

void
diagnose_collect(const struct config *cf, struct diagnose_facts *f)
{
	memset(f, 0, sizeof(*f));
	f->df_enabled = -1;
	f->df_blackhole_timeout = -1;
	dg_collect_sysctls(f);
	if (f->df_kernel_mptcp) {
		dg_collect_socket(f);
		dg_collect_netlink(f);
		dg_collect_counters(f);
	} else
		snprintf(f->df_path_manager, sizeof(f->df_path_manager), "-");
	dg_collect_hostaddrs(f);
	dg_collect_listens(cf, f);
}

/* --- printing ----------------------------------------------------------- */

/* "signal,backup" or "none". */
static char *
dg_flags_text(uint32_t flags, char *buf, size_t len)
{
	static const struct {
		uint32_t	 bit;
		const char	*name;
	} names[] = {
		{ DIAGNOSE_EP_SIGNAL, "signal" },
		{ DIAGNOSE_EP_SUBFLOW, "subflow" },
		{ DIAGNOSE_EP_BACKUP, "backup" },
		{ DIAGNOSE_EP_FULLMESH, "fullmesh" },
		{ DIAGNOSE_EP_IMPLICIT, "implicit" },
	};
	size_t	i, off = 0;

	buf[0] = '\0';
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (flags & names[i].bit)
			off += (size_t)snprintf(buf + off, off < len ?
			    len - off : 0, "%s%s", off ? "," : "",
			    names[i].name);
	if (off == 0)
		snprintf(buf, len, "none");
	return buf;
}

static void
dg_print_endpoint(const struct diagnose_endpoint *e, FILE *out)
{
	const struct sockaddr_in	*sin = (const void *)&e->de_addr;
	const struct sockaddr_in6	*sin6 = (const void *)&e->de_addr;
	char				 host[INET6_ADDRSTRLEN] = "?";
	char				 flags[64];
	unsigned			 port = 0;

	if (e->de_addr.ss_family == AF_INET) {
		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		port = ntohs(sin->sin_port);
	} else if (e->de_addr.ss_family == AF_INET6) {
		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
		port = ntohs(sin6->sin6_port);
	}
	fprintf(out, "    %s", host);
	if (port != 0)
		fprintf(out, " port %u", port);
	fprintf(out, " id %u %s", e->de_id,
	    dg_flags_text(e->de_flags, flags, sizeof(flags)));
	if (e->de_ifindex > 0)
		fprintf(out, " dev %s", e->de_ifname[0] != '\0' ?
		    e->de_ifname : "?");
	fputc('\n', out);
}

void
diagnose_print(const struct diagnose_facts *f, FILE *out)
{
	struct diagnose_warning	 w[DIAGNOSE_WARNINGS_MAX];
	int			 i, n;

	fprintf(out, "MPTCP on this host (the network namespace of this "
	    "process):\n");
	if (!f->df_kernel_mptcp)
		fprintf(out, "  kernel MPTCP:       none\n");
	else {
		if (f->df_enabled == -1)
			fprintf(out, "  net.mptcp.enabled:  unknown\n");
		else
			fprintf(out, "  net.mptcp.enabled:  %d\n",
			    f->df_enabled);
		fprintf(out, "  path manager:       %s\n", f->df_path_manager);
		fprintf(out, "  scheduler:          %s\n",
		    f->df_scheduler[0] != '\0' ? f->df_scheduler :
		    "default (not selectable on this kernel)");
		if (f->df_blackhole_timeout < 0)
			fprintf(out, "  blackhole_timeout:  none on this "
			    "kernel\n");
		else
			fprintf(out, "  blackhole_timeout:  %" PRId64 " s%s\n",
			    f->df_blackhole_timeout,
			    f->df_blackhole_timeout == 0 ? " (detection off)" :
			    "");
		if (f->df_counters_known)
			fprintf(out, "  counters:           MPTcpExtBlackhole %"
			    PRIu64 ", MPTcpExtMPCapableSYNTXDisabled %" PRIu64
			    "\n", f->df_blackhole, f->df_syntx_disabled);
		if (f->df_limits_known)
			fprintf(out, "  limits:             subflows %" PRIu32
			    " add_addr_accepted %" PRIu32 "\n",
			    f->df_limit_subflows,
			    f->df_limit_add_addr_accepted);
		else
			fprintf(out, "  limits:             unknown\n");
		if (f->df_endpoints_known) {
			fprintf(out, "  endpoints:          %d%s\n",
			    f->df_nendpoints,
			    f->df_endpoints_truncated ? " (more not shown)" :
			    "");
			for (i = 0; i < f->df_nendpoints; i++)
				dg_print_endpoint(&f->df_endpoints[i], out);
		} else
			fprintf(out, "  endpoints:          unknown\n");
	}
	if (f->df_have_config) {
		fprintf(out, "  listen addresses:   %d\n", f->df_nlistens);
		for (i = 0; i < f->df_nlistens; i++)
			fprintf(out, "    %s %s\n", f->df_listens[i].dl_name,
			    f->df_listens[i].dl_text);
	}

	n = diagnose_warnings(f, w, DIAGNOSE_WARNINGS_MAX);
	for (i = 0; i < n && i < DIAGNOSE_WARNINGS_MAX; i++)
		fprintf(out, "warning: %s\n", w[i].dw_text);
	if (n > DIAGNOSE_WARNINGS_MAX)
		fprintf(out, "warning: and %d more\n",
		    n - DIAGNOSE_WARNINGS_MAX);
	fprintf(out, "%s\n", diagnose_usable(f) ? "MPTCP is usable." :
	    "MPTCP is NOT usable on this host.");
}

int
diagnose_main(const struct config *cf, FILE *out)
{
	struct diagnose_facts	*f;
	int			 status;

	if ((f = malloc(sizeof(*f))) == NULL) {
		fprintf(out, "mptcp-relayd: out of memory\n");
		return 1;
	}
	diagnose_collect(cf, f);
	diagnose_print(f, out);
	status = diagnose_usable(f) ? 0 : 1;
	free(f);
	fflush(out);
	return status;
}
