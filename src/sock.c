/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

#include "autoconf.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

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
sock_ntop(const struct sockaddr *sa, char *buf, size_t len)
{
	const struct sockaddr_in	*sin = (const struct sockaddr_in *)sa;
	const struct sockaddr_in6	*sin6 = (const struct sockaddr_in6 *)sa;
	char				 host[INET6_ADDRSTRLEN];

	switch (sa->sa_family) {
	case AF_INET:
		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, ntohs(sin->sin_port));
		break;
	case AF_INET6:
		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
			/* An IPv4 client of a dual-stack listener. */
			inet_ntop(AF_INET, &sin6->sin6_addr.s6_addr[12], host,
			    sizeof(host));
			snprintf(buf, len, "%s:%u", host, ntohs(sin6->sin6_port));
		} else {
			inet_ntop(AF_INET6, &sin6->sin6_addr, host,
			    sizeof(host));
			snprintf(buf, len, "[%s]:%u", host,
			    ntohs(sin6->sin6_port));
		}
		break;
	default:
		snprintf(buf, len, "(family %d)", sa->sa_family);
		break;
	}
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
