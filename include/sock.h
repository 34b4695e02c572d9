/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

/*
 * Sockets: open TCP and MPTCP sockets, apply the configured options and
 * ask the kernel about the MPTCP state of a connection. Nothing here keeps
 * state but the set of options already reported as unsupported.
 */
#ifndef MPTCP_RELAYD_SOCK_H
#define MPTCP_RELAYD_SOCK_H

#include <sys/socket.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* "[ffff:...:ffff]:65535" and a NUL. */
#define SOCK_NTOP_MAX	(INET6_ADDRSTRLEN + 9)

/* An IPv4 or IPv6 socket address, in less room than sockaddr_storage. */
union sock_addr {
	struct sockaddr		sa;
	struct sockaddr_in	sin;
	struct sockaddr_in6	sin6;
};

/*
 * Copy the IPv4 or IPv6 address sa (of length len) into *u; anything else
 * becomes AF_UNSPEC.
 */
void	sock_addr_set(union sock_addr *u, const struct sockaddr *sa,
	    socklen_t len);

/* Options of one side of a session; 0 buffer sizes keep the kernel's. */
struct sock_opts {
	int	so_rcvbuf;
	int	so_sndbuf;
	bool	so_nodelay;
	bool	so_keepalive;
	/*
	 * sock_listen() only: IP_TRANSPARENT (IPV6_TRANSPARENT), so that
	 * connections nftables diverts with tproxy are accepted (needs
	 * CAP_NET_ADMIN).
	 */
	bool	so_transparent;
};

/* What the kernel says of a connection's MPTCP state. */
struct sock_mptcp {
	bool		sm_mptcp;	/* MPTCP negotiated and still in use */
	unsigned	sm_subflows;	/* subflows now, the initial one included */
};

/*
 * Create a non-blocking, close-on-exec stream socket of the given family
 * and protocol (IPPROTO_TCP or IPPROTO_MPTCP). Returns the fd, or -1 with
 * errno set.
 */
int	sock_socket(int family, int protocol);

/*
 * Open a listening socket on addr: SO_REUSEADDR, IPV6_V6ONLY as dualstack
 * says, buffer sizes and options from opts (which accepted sockets
 * inherit), bind, listen(backlog). Returns the fd, or -1 with errno set and
 * *step naming the call that failed ("socket", "setsockopt
 * IP_TRANSPARENT", "bind", "listen"...).
 */
int	sock_listen(const struct sockaddr *addr, socklen_t len, bool dualstack,
	    int protocol, int backlog, const struct sock_opts *opts,
	    const char **step);

/*
 * Apply opts to a connected or connecting socket. An option the kernel
 * refuses for this protocol (ENOPROTOOPT, EOPNOTSUPP) is reported once per
 * process as unsupported and ignored; other failures are logged. Never fails.
 */
void	sock_apply_opts(int fd, const struct sock_opts *opts);

/*
 * Start a non-blocking connect to addr from a new socket of the given
 * protocol, with opts applied. Returns the fd (connected, or with the
 * connect in progress: wait for writability, then sock_error()), or -1
 * with errno set when the connect failed at once.
 */
int	sock_connect(const struct sockaddr *addr, socklen_t len, int protocol,
	    const struct sock_opts *opts);

/* The pending error of a socket (SO_ERROR): 0, an errno value, or -1. */
int	sock_error(int fd);

/*
 * Ask the kernel whether fd's connection runs MPTCP, with MPTCP_INFO
 * (TCP_IS_MPTCP is wrong on Linux 6.1). Returns 0 and fills *m, with
 * sm_mptcp false for plain TCP or a connection that fell back; -1 when the
 * kernel's answer is neither (errno set).
 */
int	sock_mptcp_state(int fd, struct sock_mptcp *m);

/*
 * Whether this kernel can create MPTCP sockets of the given family.
 * Returns 0, or -1 with a sentence naming the cause in why
 * (e.g. "net.mptcp.enabled is 0").
 */
int	sock_mptcp_available(int family, char *why, size_t whylen);

/* "192.0.2.1:80" or "[2001:db8::1]:80"; returns buf. */
char	*sock_ntop(const struct sockaddr *sa, char *buf, size_t len);
/* The address alone ("192.0.2.1", "2001:db8::1"; v4-mapped as IPv4). */
char	*sock_ntop_host(const struct sockaddr *sa, char *buf, size_t len);

/*
 * Close fd so that the peer sees a reset, not an orderly end: used to
 * pass a reset from one side of a session on to the other.
 */
void	sock_abort(int fd);

/* Subflow addresses sock_mptcp_subflow_addrs() reads, at most. */
#define SOCK_SUBFLOWS_MAX	8

/*
 * The local and remote address of each subflow of the MPTCP connection fd
 * (MPTCP_SUBFLOW_ADDRS, Linux 5.17 and later, so 6.1 too), for logging
 * subflows as they come and go. Stores up to max pairs (and at most
 * SOCK_SUBFLOWS_MAX) in local[] and remote[], either of which may be NULL,
 * and returns how many subflows the connection has now, which may be
 * more; or -1 with errno set: EOPNOTSUPP or ENOPROTOOPT for plain TCP or
 * a connection that fell back. One system call; not for the data path.
 */
int	sock_mptcp_subflow_addrs(int fd, struct sockaddr_storage *local,
	    struct sockaddr_storage *remote, int max);

/* One subflow of an MPTCP connection, as the kernel reports it. */
struct sock_subflow {
	struct sockaddr_storage	sf_local;
	struct sockaddr_storage	sf_remote;
	uint64_t		sf_bytes_sent;		/* UINT64_MAX: unknown */
	uint64_t		sf_bytes_received;	/* UINT64_MAX: unknown */
	int			sf_backup;	/* 1, 0, or -1: unknown */
};

/* sock_mptcp_subflows() flags. */
#define SOCK_SUBFLOWS_NO_FULL_INFO	0x1	/* the path for Linux 6.1 */

/*
 * Each subflow of the MPTCP connection fd: its local and remote address,
 * the bytes it sent and received (tcpi_bytes_sent, tcpi_bytes_received of
 * its tcp_info) and whether it is a backup path. With MPTCP_FULL_INFO
 * (Linux 6.5 and later) that is one consistent call; where the kernel
 * refuses it (6.1: EOPNOTSUPP), or with SOCK_SUBFLOWS_NO_FULL_INFO,
 * MPTCP_SUBFLOW_ADDRS and then MPTCP_TCPINFO, whose counts are kept only
 * when both calls saw as many subflows (one may come or go between them).
 * Whether a subflow is a backup (its own or its peer's MP_PRIO/MP_JOIN
 * flag) only the kernel's socket diagnostics tell, and only to a process
 * with CAP_NET_ADMIN: one netlink query per subflow, and -1 without it.
 * Stores up to max (and at most SOCK_SUBFLOWS_MAX) subflows in sf[] and
 * returns how many the connection has now, which may be more; or -1 with
 * errno set: EOPNOTSUPP or ENOPROTOOPT for plain TCP or a connection that
 * fell back. A few system calls: for a session's end at debug level,
 * never for the data path.
 */
int	sock_mptcp_subflows(int fd, struct sock_subflow *sf, int max,
	    unsigned flags);

#endif
