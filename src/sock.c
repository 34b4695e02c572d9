/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

#include "autoconf.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>

#include "compat.h"
#include "log.h"
#include "sock.h"

/*
 * Options the kernel refused as unsupported, each reported once per
 * process: the only state of this module, set with atomic operations
 * because any event loop may be the first to hit one.
 */
enum sock_optbit {
	SOCK_OPT_RCVBUF = 1 << 0,
	SOCK_OPT_SNDBUF = 1 << 1,
	SOCK_OPT_NODELAY = 1 << 2,
	SOCK_OPT_KEEPALIVE = 1 << 3,
	SOCK_OPT_MPTCP_CONNECT = 1 << 4,
};
static unsigned	sock_warned;

static int
sock_warn_once(enum sock_optbit bit)
{
	return (__atomic_fetch_or(&sock_warned, bit, __ATOMIC_RELAXED) &
	    bit) == 0;
}

static int
sock_is_unsupported(int err)
{
	return err == ENOPROTOOPT || err == EOPNOTSUPP;
}

/* Set one int option; report a refusal once, other failures each time. */
static int
sock_setopt(int fd, int level, int name, int value, const char *what,
    enum sock_optbit bit)
{
	if (setsockopt(fd, level, name, &value, sizeof(value)) == 0)
		return 0;
	if (sock_is_unsupported(errno)) {
		if (sock_warn_once(bit))
			log_warnx("%s is not supported by the kernel on this "
			    "kind of socket; ignored", what);
	} else
		log_warn("setsockopt %s", what);
	return -1;
}

int
sock_socket(int family, int protocol)
{
	return socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    protocol);
}

void
sock_apply_opts(int fd, const struct sock_opts *opts)
{
	if (opts->so_rcvbuf > 0)
		sock_setopt(fd, SOL_SOCKET, SO_RCVBUF, opts->so_rcvbuf,
		    "SO_RCVBUF", SOCK_OPT_RCVBUF);
	if (opts->so_sndbuf > 0)
		sock_setopt(fd, SOL_SOCKET, SO_SNDBUF, opts->so_sndbuf,
		    "SO_SNDBUF", SOCK_OPT_SNDBUF);
	if (opts->so_nodelay)
		sock_setopt(fd, IPPROTO_TCP, TCP_NODELAY, 1, "TCP_NODELAY",
		    SOCK_OPT_NODELAY);
	if (opts->so_keepalive)
		sock_setopt(fd, SOL_SOCKET, SO_KEEPALIVE, 1, "SO_KEEPALIVE",
		    SOCK_OPT_KEEPALIVE);
}

/* Tell the operator when the kernel gave a buffer less than asked for. */
static void
sock_check_buf(int fd, int name, int wanted, const char *what,
    const char *sysctl)
{
	int		got;
	socklen_t	len = sizeof(got);

	if (wanted <= 0 ||
	    getsockopt(fd, SOL_SOCKET, name, &got, &len) == -1)
		return;
	/* Linux doubles the value to account for its bookkeeping. */
	if (got / 2 < wanted)
		log_notice("%s of %d bytes capped to %d by %s", what, wanted,
		    got / 2, sysctl);
}

int
sock_listen(const struct sockaddr *addr, socklen_t len, bool dualstack,
    int protocol, int backlog, const struct sock_opts *opts,
    const char **step)
{
	int	fd, saved;

	*step = "socket";
	if ((fd = sock_socket(addr->sa_family, protocol)) == -1)
		return -1;
	*step = "setsockopt SO_REUSEADDR";
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &(int){ 1 },
	    sizeof(int)) == -1)
		goto fail;
	if (addr->sa_family == AF_INET6) {
		*step = "setsockopt IPV6_V6ONLY";
		if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY,
		    &(int){ dualstack ? 0 : 1 }, sizeof(int)) == -1)
			goto fail;
	}
	if (opts->so_transparent) {
		*step = addr->sa_family == AF_INET6 ?
		    "setsockopt IPV6_TRANSPARENT" : "setsockopt IP_TRANSPARENT";
		if ((addr->sa_family == AF_INET6 ? setsockopt(fd, SOL_IPV6,
		    IPV6_TRANSPARENT, &(int){ 1 }, sizeof(int)) :
		    setsockopt(fd, SOL_IP, IP_TRANSPARENT, &(int){ 1 },
		    sizeof(int))) == -1)
			goto fail;
	}
	/* Before listen(): the window scale is chosen from the buffer. */
	sock_apply_opts(fd, opts);
	sock_check_buf(fd, SO_RCVBUF, opts->so_rcvbuf, "rcvbuf",
	    "net.core.rmem_max");
	sock_check_buf(fd, SO_SNDBUF, opts->so_sndbuf, "sndbuf",
	    "net.core.wmem_max");
	*step = "bind";
	if (bind(fd, addr, len) == -1)
		goto fail;
	*step = "listen";
	if (listen(fd, backlog) == -1)
		goto fail;
	return fd;
fail:
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

static int
sock_mptcp_refused(int err)
{
	return err == ENOPROTOOPT || err == EPROTONOSUPPORT ||
	    err == EINVAL || err == EAFNOSUPPORT;
}

int
sock_connect(const struct sockaddr *addr, socklen_t len, int protocol,
    const struct sock_opts *opts)
{
	char	why[160];
	int	fd, saved;

	fd = sock_socket(addr->sa_family, protocol);
	if (fd == -1 && protocol == IPPROTO_MPTCP && sock_mptcp_refused(errno)) {
		/*
		 * Like a peer without MPTCP: the session still works, over
		 * TCP, and its log line says upstream_mptcp=no.
		 */
		if (sock_warn_once(SOCK_OPT_MPTCP_CONNECT)) {
			sock_mptcp_available(addr->sa_family, why, sizeof(why));
			log_warnx("cannot create MPTCP sockets (%s): "
			    "connecting to upstreams with TCP", why);
		}
		fd = sock_socket(addr->sa_family, IPPROTO_TCP);
	}
	if (fd == -1)
		return -1;
	sock_apply_opts(fd, opts);
	if (connect(fd, addr, len) == -1 && errno != EINPROGRESS) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

int
sock_error(int fd)
{
	int		err = 0;
	socklen_t	len = sizeof(err);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		return -1;
	return err;
}

int
sock_mptcp_state(int fd, struct sock_mptcp *m)
{
	struct compat_mptcp_info	info;
	socklen_t			len = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (getsockopt(fd, SOL_MPTCP, MPTCP_INFO, &info, &len) == -1) {
		if (errno == EOPNOTSUPP || errno == ENOPROTOOPT) {
			/* Plain TCP, or an MPTCP connection that fell back. */
			m->sm_mptcp = false;
			m->sm_subflows = 0;
			return 0;
		}
		return -1;
	}
	m->sm_mptcp = true;
	/*
	 * mptcpi_subflows counts the subflows added to the first one;
	 * kernels from 6.7 also report the total, which stays right when
	 * the first subflow has gone.
	 */
	if (len >= offsetof(struct compat_mptcp_info, mptcpi_subflows_total) +
	    sizeof(info.mptcpi_subflows_total) && info.mptcpi_subflows_total > 0)
		m->sm_subflows = info.mptcpi_subflows_total;
	else
		m->sm_subflows = info.mptcpi_subflows + 1U;
	return 0;
}

int
sock_mptcp_available(int family, char *why, size_t whylen)
{
	char	buf[16];
	int	fd, saved, pfd;
	ssize_t	n;

	if ((fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC,
	    IPPROTO_MPTCP)) != -1) {
		close(fd);
		return 0;
	}
	saved = errno;
	pfd = open("/proc/sys/net/mptcp/enabled", O_RDONLY | O_CLOEXEC);
	if (pfd == -1) {
		snprintf(why, whylen, "the kernel has no MPTCP support "
		    "(built without CONFIG_MPTCP): %s", strerror(saved));
		return -1;
	}
	n = read(pfd, buf, sizeof(buf) - 1);
	close(pfd);
	if (n > 0 && buf[0] == '0')
		snprintf(why, whylen, "MPTCP is disabled: net.mptcp.enabled "
		    "is 0 (enable it with 'sysctl -w net.mptcp.enabled=1')");
	else if (saved == EAFNOSUPPORT && family == AF_INET6)
		snprintf(why, whylen, "the kernel has no MPTCP over IPv6 "
		    "(built without CONFIG_MPTCP_IPV6)");
	else
		snprintf(why, whylen, "socket(IPPROTO_MPTCP): %s",
		    strerror(saved));
	errno = saved;
	return -1;
}

char *
sock_ntop_host(const struct sockaddr *sa, char *buf, size_t len)
{
	const struct sockaddr_in	*sin = (const struct sockaddr_in *)sa;
	const struct sockaddr_in6	*sin6 = (const struct sockaddr_in6 *)sa;
	const void			*a;
	int				 af = sa->sa_family;

	if (af == AF_INET)
		a = &sin->sin_addr;
	else if (af == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
		/* An IPv4 client of a dual-stack listener. */
		af = AF_INET;
		a = &sin6->sin6_addr.s6_addr[12];
	} else if (af == AF_INET6)
		a = &sin6->sin6_addr;
	else {
		snprintf(buf, len, "(family %d)", af);
		return buf;
	}
	if (inet_ntop(af, a, buf, (socklen_t)len) == NULL)
		snprintf(buf, len, "?");
	return buf;
}

char *
sock_ntop(const struct sockaddr *sa, char *buf, size_t len)
{
	const struct sockaddr_in	*sin = (const struct sockaddr_in *)sa;
	const struct sockaddr_in6	*sin6 = (const struct sockaddr_in6 *)sa;
	char				 host[INET6_ADDRSTRLEN];

	sock_ntop_host(sa, host, sizeof(host));
	if (sa->sa_family == AF_INET)
		snprintf(buf, len, "%s:%u", host, ntohs(sin->sin_port));
	else if (sa->sa_family != AF_INET6)
		snprintf(buf, len, "%s", host);
	else if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr))
		snprintf(buf, len, "%s:%u", host, ntohs(sin6->sin6_port));
	else
		snprintf(buf, len, "[%s]:%u", host, ntohs(sin6->sin6_port));
	return buf;
}

void
sock_abort(int fd)
{
	struct linger	l = { .l_onoff = 1, .l_linger = 0 };

	(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	close(fd);
}

/*
 * MPTCP_SUBFLOW_ADDRS as linux/mptcp.h declares it (that header fights
 * with netinet/in.h): a header, then one pair of kernel sockaddr_storage
 * per subflow. The numbers and layouts are kernel ABI.
 */
#define SOCK_MPTCP_SUBFLOW_ADDRS	3

struct sock_subflow_data {
	uint32_t	sd_size_subflow_data;	/* sizeof this header */
	uint32_t	sd_num_subflows;	/* set by the kernel */
	uint32_t	sd_size_kernel;		/* set by the kernel */
	uint32_t	sd_size_user;		/* sizeof one element */
} __attribute__((aligned(8)));

struct sock_subflow_addrs {
	struct sockaddr_storage	sa_local;
	struct sockaddr_storage	sa_remote;
};

int
sock_mptcp_subflow_addrs(int fd, struct sockaddr_storage *local,
    struct sockaddr_storage *remote, int max)
{
	struct {
		struct sock_subflow_data	h;
		struct sock_subflow_addrs	a[SOCK_SUBFLOWS_MAX];
	}			 q;
	socklen_t		 len = sizeof(q);
	unsigned		 i, got;

	memset(&q, 0, sizeof(q));
	q.h.sd_size_subflow_data = sizeof(q.h);
	q.h.sd_size_user = sizeof(q.a[0]);
	if (getsockopt(fd, SOL_MPTCP, SOCK_MPTCP_SUBFLOW_ADDRS, &q, &len) == -1)
		return -1;
	if (len < sizeof(q.h)) {
		errno = EPROTO;
		return -1;
	}
	/* The kernel fills as many whole elements as fit in len. */
	got = (len - sizeof(q.h)) / sizeof(q.a[0]);
	if (got > q.h.sd_num_subflows)
		got = q.h.sd_num_subflows;
	for (i = 0; i < got && (int)i < max; i++) {
		if (local != NULL)
			memcpy(&local[i], &q.a[i].sa_local, sizeof(local[i]));
		if (remote != NULL)
			memcpy(&remote[i], &q.a[i].sa_remote,
			    sizeof(remote[i]));
	}
	return (int)q.h.sd_num_subflows;
}

void
sock_addr_set(union sock_addr *u, const struct sockaddr *sa, socklen_t len)
{
	memset(u, 0, sizeof(*u));
	if ((sa->sa_family == AF_INET && len >= sizeof(u->sin)) ||
	    (sa->sa_family == AF_INET6 && len >= sizeof(u->sin6)))
		memcpy(u, sa, sa->sa_family == AF_INET ? sizeof(u->sin) :
		    sizeof(u->sin6));
	else
		u->sa.sa_family = AF_UNSPEC;
}

/*
 * MPTCP_TCPINFO and MPTCP_FULL_INFO (linux/mptcp.h, spelled out as above):
 * the kernel writes each array with a stride of the smaller of its own
 * element size and ours, and says which.
 */
#define SOCK_MPTCP_TCPINFO	2
#define SOCK_MPTCP_FULL_INFO	4

_Static_assert(offsetof(struct compat_tcp_info, tcpi_bytes_received) == 128,
    "struct tcp_info layout");
_Static_assert(offsetof(struct compat_tcp_info, tcpi_bytes_sent) == 200,
    "struct tcp_info layout");

struct sock_subflow_info {		/* struct mptcp_subflow_info */
	uint32_t			si_id;
	struct sock_subflow_addrs	si_addrs;
};

struct sock_full_info {			/* struct mptcp_full_info */
	uint32_t			fi_size_tcpinfo_kernel;
	uint32_t			fi_size_tcpinfo_user;
	uint32_t			fi_size_sfinfo_kernel;
	uint32_t			fi_size_sfinfo_user;
	uint32_t			fi_num_subflows;
	uint32_t			fi_size_arrays_user;
	uint64_t			fi_subflow_info;	/* pointers */
	uint64_t			fi_tcp_info;
	struct compat_mptcp_info	fi_mptcp_info;
};

/* Element i of an array the kernel wrote stride bytes apart, into dst. */
static void
sock_element(void *dst, size_t dlen, const void *array, size_t stride, int i)
{
	memset(dst, 0, dlen);
	memcpy(dst, (const char *)array + (size_t)i * stride,
	    stride < dlen ? stride : dlen);
}

/* The byte counts of a subflow's tcp_info, of which len bytes are real. */
static void
sock_subflow_bytes(struct sock_subflow *sf, const struct compat_tcp_info *ti,
    size_t len)
{
	sf->sf_bytes_received = len >= offsetof(struct compat_tcp_info,
	    tcpi_bytes_received) + sizeof(ti->tcpi_bytes_received) ?
	    ti->tcpi_bytes_received : UINT64_MAX;
	sf->sf_bytes_sent = len >= offsetof(struct compat_tcp_info,
	    tcpi_bytes_sent) + sizeof(ti->tcpi_bytes_sent) ?
	    ti->tcpi_bytes_sent : UINT64_MAX;
}

/* Linux 6.5 and later: everything in one call. As sock_mptcp_subflows. */
static int
sock_full_info(int fd, struct sock_subflow *sf, int max)
{
	struct sock_full_info		 fi;
	struct sock_subflow_info	 si[SOCK_SUBFLOWS_MAX], one;
	struct compat_tcp_info		 ti[SOCK_SUBFLOWS_MAX], t;
	socklen_t			 len = sizeof(fi);
	int				 i;

	memset(&fi, 0, sizeof(fi));
	memset(si, 0, sizeof(si));
	memset(ti, 0, sizeof(ti));
	fi.fi_size_tcpinfo_user = sizeof(ti[0]);
	fi.fi_size_sfinfo_user = sizeof(si[0]);
	fi.fi_size_arrays_user = SOCK_SUBFLOWS_MAX;
	fi.fi_subflow_info = (uint64_t)(uintptr_t)si;
	fi.fi_tcp_info = (uint64_t)(uintptr_t)ti;
	if (getsockopt(fd, SOL_MPTCP, SOCK_MPTCP_FULL_INFO, &fi, &len) == -1)
		return -1;
	for (i = 0; i < (int)fi.fi_num_subflows && i < max &&
	    i < SOCK_SUBFLOWS_MAX; i++) {
		sock_element(&one, sizeof(one), si, fi.fi_size_sfinfo_user, i);
		sock_element(&t, sizeof(t), ti, fi.fi_size_tcpinfo_user, i);
		memcpy(&sf[i].sf_local, &one.si_addrs.sa_local,
		    sizeof(sf[i].sf_local));
		memcpy(&sf[i].sf_remote, &one.si_addrs.sa_remote,
		    sizeof(sf[i].sf_remote));
		sock_subflow_bytes(&sf[i], &t, fi.fi_size_tcpinfo_user);
	}
	return (int)fi.fi_num_subflows;
}

/*
 * Linux 6.1: the addresses, then the tcp_info of each subflow. As
 * sock_mptcp_subflows.
 */
static int
sock_addrs_tcpinfo(int fd, struct sock_subflow *sf, int max)
{
	struct sockaddr_storage		 local[SOCK_SUBFLOWS_MAX];
	struct sockaddr_storage		 remote[SOCK_SUBFLOWS_MAX];
	struct {
		struct sock_subflow_data	h;
		struct compat_tcp_info		t[SOCK_SUBFLOWS_MAX];
	}				 q;
	struct compat_tcp_info		 t;
	socklen_t			 len = sizeof(q);
	unsigned			 got = 0, stride = 0;
	int				 i, n;

	if (max > SOCK_SUBFLOWS_MAX)
		max = SOCK_SUBFLOWS_MAX;
	memset(local, 0, sizeof(local));
	memset(remote, 0, sizeof(remote));
	if ((n = sock_mptcp_subflow_addrs(fd, local, remote, max)) == -1)
		return -1;
	memset(&q, 0, sizeof(q));
	q.h.sd_size_subflow_data = sizeof(q.h);
	q.h.sd_size_user = sizeof(q.t[0]);
	if (getsockopt(fd, SOL_MPTCP, SOCK_MPTCP_TCPINFO, &q, &len) == 0 &&
	    len >= sizeof(q.h) && (stride = q.h.sd_size_user) > 0 &&
	    q.h.sd_num_subflows == (unsigned)n)
		got = (len - sizeof(q.h)) / stride;
	for (i = 0; i < n && i < max; i++) {
		sf[i].sf_local = local[i];
		sf[i].sf_remote = remote[i];
		if ((unsigned)i < got) {
			sock_element(&t, sizeof(t), q.t, stride, i);
			sock_subflow_bytes(&sf[i], &t, stride);
		} else
			sf[i].sf_bytes_sent = sf[i].sf_bytes_received =
			    UINT64_MAX;
	}
	return n;
}

/* The port of an IPv4 or IPv6 socket address, in network order. */
static uint16_t
sock_port(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET ?
	    ((const struct sockaddr_in *)ss)->sin_port :
	    ((const struct sockaddr_in6 *)ss)->sin6_port;
}

static void
sock_diag_addr(uint32_t *dst, const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		memcpy(dst, &((const struct sockaddr_in *)ss)->sin_addr, 4);
	else
		memcpy(dst, &((const struct sockaddr_in6 *)ss)->sin6_addr, 16);
}

/*
 * The MPTCP subflow flags of the TCP socket local<->remote from the
 * answer of sock_diag: INET_DIAG_ULP_INFO > INET_ULP_INFO_MPTCP >
 * MPTCP_SUBFLOW_ATTR_FLAGS. Returns 1 (backup), 0, or -1: not there.
 */
#define SOCK_SUBFLOW_ATTR_FLAGS		8	/* linux/mptcp.h */
#define SOCK_SUBFLOW_FLAG_BKUP		(0x10 | 0x20)	/* _REM | _LOC */

static int
sock_diag_backup(const struct nlmsghdr *nh, size_t n)
{
	const struct rtattr	*a, *b, *c;
	size_t			 alen, blen, clen;
	uint32_t		 flags;

	if (!NLMSG_OK(nh, n) || nh->nlmsg_type != SOCK_DIAG_BY_FAMILY ||
	    nh->nlmsg_len < NLMSG_LENGTH(sizeof(struct inet_diag_msg)))
		return -1;
	a = (const struct rtattr *)((const char *)NLMSG_DATA(nh) +
	    NLMSG_ALIGN(sizeof(struct inet_diag_msg)));
	alen = nh->nlmsg_len - NLMSG_LENGTH(sizeof(struct inet_diag_msg));
	for (; RTA_OK(a, alen); a = RTA_NEXT(a, alen)) {
		if (a->rta_type != INET_DIAG_ULP_INFO)
			continue;
		blen = RTA_PAYLOAD(a);
		for (b = RTA_DATA(a); RTA_OK(b, blen); b = RTA_NEXT(b, blen)) {
			if ((b->rta_type & NLA_TYPE_MASK) !=
			    INET_ULP_INFO_MPTCP)
				continue;
			clen = RTA_PAYLOAD(b);
			for (c = RTA_DATA(b); RTA_OK(c, clen);
			    c = RTA_NEXT(c, clen)) {
				if (c->rta_type != SOCK_SUBFLOW_ATTR_FLAGS ||
				    RTA_PAYLOAD(c) < sizeof(flags))
					continue;
				memcpy(&flags, RTA_DATA(c), sizeof(flags));
				return (flags & SOCK_SUBFLOW_FLAG_BKUP) != 0;
			}
		}
	}
	return -1;
}

/* Ask sock_diag (socket nl) whether subflow sf is a backup path. */
static int
sock_subflow_backup(int nl, const struct sock_subflow *sf, uint32_t seq)
{
	struct {
		struct nlmsghdr		nh;
		struct inet_diag_req_v2	r;
	}			 req;
	struct sockaddr_nl	 sa = { .nl_family = AF_NETLINK };
	union {
		struct nlmsghdr	nh;
		char		buf[4096];
	}			 ans;
	ssize_t			 n;
	int			 tries;

	if (sf->sf_local.ss_family != sf->sf_remote.ss_family ||
	    (sf->sf_local.ss_family != AF_INET &&
	    sf->sf_local.ss_family != AF_INET6))
		return -1;
	memset(&req, 0, sizeof(req));
	req.nh.nlmsg_len = sizeof(req);
	req.nh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	req.nh.nlmsg_flags = NLM_F_REQUEST;
	req.nh.nlmsg_seq = seq;
	req.r.sdiag_family = sf->sf_local.ss_family;
	req.r.sdiag_protocol = IPPROTO_TCP;
	/* The ULP's part (MPTCP's flags) comes with INET_DIAG_INFO. */
	req.r.idiag_ext = 1U << (INET_DIAG_INFO - 1);
	req.r.idiag_states = ~0U;
	req.r.id.idiag_sport = sock_port(&sf->sf_local);
	req.r.id.idiag_dport = sock_port(&sf->sf_remote);
	sock_diag_addr(req.r.id.idiag_src, &sf->sf_local);
	sock_diag_addr(req.r.id.idiag_dst, &sf->sf_remote);
	req.r.id.idiag_cookie[0] = req.r.id.idiag_cookie[1] =
	    INET_DIAG_NOCOOKIE;
	if (sendto(nl, &req, sizeof(req), 0, (struct sockaddr *)&sa,
	    sizeof(sa)) == -1)
		return -1;
	/* One answer, the socket or an error; skip stale ones. */
	for (tries = 0; tries < 4; tries++) {
		if ((n = recv(nl, &ans, sizeof(ans), 0)) <= 0)
			return -1;
		if (!NLMSG_OK(&ans.nh, (size_t)n) || ans.nh.nlmsg_seq != seq)
			continue;
		return sock_diag_backup(&ans.nh, (size_t)n);
	}
	return -1;
}

int
sock_mptcp_subflows(int fd, struct sock_subflow *sf, int max, unsigned flags)
{
	struct timeval	tv = { 1, 0 };
	int		i, n = -1, nl;

	if (max > SOCK_SUBFLOWS_MAX)
		max = SOCK_SUBFLOWS_MAX;
	for (i = 0; i < max; i++) {
		memset(&sf[i], 0, sizeof(sf[i]));
		sf[i].sf_backup = -1;
	}
	/* On 6.1 (and for plain TCP) FULL_INFO fails: ask the older way. */
	if (!(flags & SOCK_SUBFLOWS_NO_FULL_INFO))
		n = sock_full_info(fd, sf, max);
	if (n == -1 && (n = sock_addrs_tcpinfo(fd, sf, max)) == -1)
		return -1;
	nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (nl == -1)
		return n;
	(void)setsockopt(nl, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	for (i = 0; i < n && i < max; i++)
		sf[i].sf_backup = sock_subflow_backup(nl, &sf[i],
		    (uint32_t)i + 1);
	close(nl);
	return n;
}
