/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

/*
 * The configuration model. config_load() reads an INI file with inih,
 * validates every value and returns an immutable struct config; nothing
 * outside config.c and parse.c ever sees a raw INI string. A config is
 * reference-counted: the daemon holds one reference, every listener and
 * session holds one for the config it started with, so a reload can swap
 * configs while old sessions keep theirs.
 */
#ifndef MPTCP_RELAYD_CONFIG_H
#define MPTCP_RELAYD_CONFIG_H

#include <sys/queue.h>
#include <sys/socket.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "acl.h"
#include "log.h"
#include "parse.h"
#include "tls.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#define CONFIG_DEFAULT_PATH	SYSCONFDIR "/mptcp-relay.ini"

#define CONFIG_NAME_MAX		64	/* listener name, with NUL */
#define CONFIG_LISTEN_MAX	16	/* listen = lines per listener */
#define CONFIG_ADDRS_MAX	8	/* addresses kept per upstream name */
#define CONFIG_UPSTREAM_ADDRS_MAX 64	/* upstream addresses per listener */
#define CONFIG_ADDRTEXT_MAX	(PARSE_HOST_MAX + 8)
#define CONFIG_WORKERS_MAX	64

/* Defaults, as CONFIG.md states them. */
#define CONFIG_DEFAULT_BACKLOG		511
#define CONFIG_DEFAULT_CONNECT_TIMEOUT	5000		/* ms */
#define CONFIG_DEFAULT_IDLE_TIMEOUT	3600000		/* ms */
#define CONFIG_DEFAULT_HANDSHAKE_TIMEOUT 10000		/* ms */
#define CONFIG_DEFAULT_UPSTREAM_BACKOFF	10000		/* ms */
#define CONFIG_DEFAULT_RESOLVE_INTERVAL	30000		/* ms */
#define CONFIG_MAX_CONNECTIONS_MAX	10000000
#define CONFIG_DEFAULT_SHUTDOWN_TIMEOUT	30000		/* ms */

/* One resolved socket address and where it came from. */
struct config_addr {
	struct sockaddr_storage	ca_ss;
	socklen_t		ca_len;
	bool			ca_dualstack;	/* "*:PORT": [::] with V6ONLY off */
	char			ca_text[CONFIG_ADDRTEXT_MAX]; /* as written */
	int			ca_line;
};

/*
 * One 'upstream' line: an address, or a host name and the addresses it
 * resolved to when the file was read (resolve_interval resolves it again
 * while the daemon runs), or "destination": the one address of such a
 * line stands for every destination (AF_UNSPEC, ca_len 0, ca_text
 * "destination"), each session connecting to its own.
 */
struct config_upstream {
	char			cu_text[CONFIG_ADDRTEXT_MAX];	/* as written */
	int			cu_line;
	bool			cu_named;	/* a host name, not an address */
	bool			cu_destination;	/* upstream = destination */
	char			cu_host[PARSE_HOST_MAX];
	uint16_t		cu_port;
	struct config_addr	cu_addrs[CONFIG_ADDRS_MAX];	/* as resolved */
	int			cu_naddrs;
};

/* How a listener's sessions pick among its upstream addresses. */
enum config_balance {
	CONFIG_BALANCE_ROUNDROBIN,	/* each session starts at the next */
	CONFIG_BALANCE_FIRST,		/* in order; the next on failure */
	CONFIG_BALANCE_LEASTCONN,	/* the one with the fewest sessions */
};

/*
 * transparent: how a listener on a gateway learns where each client was
 * going (its original destination) when nftables diverted it.
 */
enum config_transparent {
	CONFIG_TRANSPARENT_NO,
	CONFIG_TRANSPARENT_TPROXY,	/* IP_TRANSPARENT; getsockname() */
	CONFIG_TRANSPARENT_REDIRECT,	/* SO_ORIGINAL_DST; TCP clients */
};

/* One [NAME] section. Sizes of 0 mean "kernel default". */
struct listener_config {
	TAILQ_ENTRY(listener_config) lc_entry;
	char			lc_name[CONFIG_NAME_MAX];
	int			lc_line;		/* of the [NAME] line */
	struct config_addr	lc_listen[CONFIG_LISTEN_MAX];
	int			lc_nlisten;
	int			lc_listen_line;	/* first 'listen', 0 if none */
	int			lc_protocol;		/* IPPROTO_MPTCP or _TCP */
	bool			lc_mptcp_fallback;
	int			lc_backlog;
	int			lc_rcvbuf;
	int			lc_sndbuf;
	bool			lc_nodelay;
	bool			lc_keepalive;
	struct config_upstream	*lc_upstreams;	/* in file order */
	int			lc_nupstreams;
	int			lc_upstream_line;	/* first 'upstream', 0 if none */
	enum config_balance	lc_balance;
	uint64_t		lc_upstream_backoff;	/* ms */
	uint64_t		lc_health_check_interval;	/* ms, 0 = off */
	uint64_t		lc_resolve_interval;	/* ms, 0 = off */
	int			lc_upstream_protocol;	/* IPPROTO_MPTCP or _TCP */
	int			lc_upstream_rcvbuf;
	int			lc_upstream_sndbuf;
	uint64_t		lc_connect_timeout;	/* ms, > 0 */
	uint64_t		lc_idle_timeout;	/* ms, 0 = never */
	uint64_t		lc_handshake_timeout;	/* ms, > 0 */
	int			lc_proxy_protocol;	/* 0 off, 1 or 2: sent */
	bool			lc_accept_proxy;	/* clients send one */
	struct acl		lc_accept_proxy_from;	/* balancers; empty: any */
	int			lc_proxy_from_line;
	struct acl		lc_allow;	/* with any entry, the rest is refused */
	struct acl		lc_deny;	/* refused, whatever allow says */
	enum config_transparent	lc_transparent;
	int			lc_transparent_line;
	/*
	 * upstream = destination: each session connects to the destination
	 * its client asked for, as these lists permit (acl_destination()).
	 */
	bool			lc_upstream_destination;
	struct acl		lc_dest_allow;	/* empty: nothing */
	struct acl		lc_dest_deny;
	struct acl_ports	lc_dest_ports;	/* empty: every port */
	int			lc_dest_line;	/* first destination_*, 0 if none */
	unsigned		lc_max_connections;	/* 0 = no cap */
	/*
	 * TLS: the files as the file named them (relative names resolved
	 * against the configuration file's directory), their lines, and
	 * what was built from them when the file was read.
	 */
	struct config_tls {
		struct config_tls_pair {
			char	*cp_cert;
			int	 cp_cert_line;
			char	*cp_key;	/* NULL: in the cert's file */
			int	 cp_key_line;
		}		*ct_pairs;	/* tls_cert, tls_key */
		size_t		 ct_npairs;
		char		*ct_client_ca;
		int		 ct_client_ca_line;
		char		*ct_alpn;
		int		 ct_alpn_line;
		bool		 ct_upstream;	/* upstream_tls */
		int		 ct_upstream_line;
		char		*ct_upstream_ca;
		int		 ct_upstream_ca_line;
		bool		 ct_upstream_verify;
		char		*ct_upstream_sni;
		int		 ct_upstream_sni_line;
		char		*ct_upstream_cert;
		int		 ct_upstream_cert_line;
		char		*ct_upstream_key;
		int		 ct_upstream_key_line;
	}			lc_tls;
	struct tls_server	*lc_tls_server;	/* NULL: no TLS with clients */
	struct tls_client	*lc_tls_client;	/* NULL: none with upstreams */
};
TAILQ_HEAD(listener_config_list, listener_config);

struct config {
	char			*cf_path;
	enum log_level		 cf_log_level;
	uint64_t		 cf_shutdown_timeout;	/* ms */
	bool			 cf_splice;	/* relay with splice(2) */
	char			 cf_user[CONFIG_NAME_MAX];	/* "" = stay */
	char			 cf_group[CONFIG_NAME_MAX];	/* "" = user's */
	int			 cf_workers;	/* 0 = one per CPU ("auto") */
	unsigned		 cf_max_connections;	/* 0 = no cap */
	struct config_addr	 cf_stats_listen;	/* ca_len 0: none */
	struct listener_config_list cf_listeners;
	int			 cf_nlisteners;
	unsigned		 cf_refcnt;		/* atomic */
};

/* Every problem found in one load, each "FILE:LINE: message", in order. */
struct config_diag {
	char			**cd_msgs;
	size_t			  cd_count;
};

/*
 * Read and validate the file at path. Returns a config holding one
 * reference, or NULL when the file is unreadable or anything in it is
 * wrong; every problem found is appended to diag (which the caller frees
 * with config_diag_free, in both cases) in line order: first those about
 * the whole file ("FILE: message"), then "FILE:LINE: message" by line,
 * in the order found within a line. Resolves upstream host names.
 */
struct config	*config_load(const char *path, struct config_diag *diag);

/*
 * As config_load, with flags: CONFIG_LOAD_NO_RESOLVE takes upstream host
 * names as written, with no address (for fuzzing, and anything else that
 * must not touch the network).
 */
#define CONFIG_LOAD_NO_RESOLVE	0x1
struct config	*config_load_flags(const char *path, unsigned flags,
		    struct config_diag *diag);

/* As config_load, from text in memory; name stands in for the file name. */
struct config	*config_load_string(const char *text, const char *name,
		    struct config_diag *diag);

/* Take and drop a reference; the last config_unref frees the config. */
void		 config_ref(struct config *cf);
void		 config_unref(struct config *cf);

void		 config_diag_free(struct config_diag *diag);

/* Same socket address, and both dual-stack or neither. */
bool		 config_addr_equal(const struct config_addr *a,
		    const struct config_addr *b);

/* Whether two listen addresses cannot both be bound (same port, covering). */
bool		 config_addr_overlap(const struct config_addr *a,
		    const struct config_addr *b);

/* "mptcp" or "tcp" for IPPROTO_MPTCP or IPPROTO_TCP. */
const char	*config_protocol_name(int protocol);

#endif
