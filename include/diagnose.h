/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

/*
 * mptcp-relayd -D: the host's MPTCP readiness as an operator needs it.
 * Collecting the facts (sysctls, the kernel's MPTCP path-manager netlink
 * family, /proc/net/netstat counters, the host's addresses) is kept apart
 * from judging them: diagnose_warnings() is a pure function over a struct
 * diagnose_facts, so every warning can be tested without a kernel.
 */
#ifndef MPTCP_RELAYD_DIAGNOSE_H
#define MPTCP_RELAYD_DIAGNOSE_H

#include <sys/socket.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"

#define DIAGNOSE_ENDPOINTS_MAX	64	/* endpoints kept from the kernel */
#define DIAGNOSE_HOSTADDRS_MAX	256	/* addresses kept from getifaddrs */
#define DIAGNOSE_LISTENS_MAX	64	/* listener addresses checked */
#define DIAGNOSE_WARNINGS_MAX	16	/* more than there are kinds */
#define DIAGNOSE_WARNING_LEN	512
#define DIAGNOSE_NAME_LEN	32	/* path manager, scheduler */

/* Endpoint flags, as the kernel's MPTCP_PM_ADDR_FLAG_* numbers them. */
#define DIAGNOSE_EP_SIGNAL	0x01
#define DIAGNOSE_EP_SUBFLOW	0x02
#define DIAGNOSE_EP_BACKUP	0x04
#define DIAGNOSE_EP_FULLMESH	0x08
#define DIAGNOSE_EP_IMPLICIT	0x10

/* One 'ip mptcp endpoint' of the in-kernel path manager. */
struct diagnose_endpoint {
	struct sockaddr_storage	de_addr;	/* port 0 unless one was set */
	uint8_t			de_id;
	uint32_t		de_flags;	/* DIAGNOSE_EP_* */
	int			de_ifindex;	/* 0: none given */
	char			de_ifname[16];	/* "" when unknown */
};

/* One configured listen address and the listener it belongs to. */
struct diagnose_listen {
	char			dl_name[CONFIG_NAME_MAX];
	char			dl_text[CONFIG_ADDRTEXT_MAX];	/* as written */
	struct sockaddr_storage	dl_addr;	/* the port is ignored */
};

/*
 * What the host says. A "known" flag false means the fact could not be
 * read (older kernel, no permission); the warnings then stay silent about
 * it rather than guess.
 */
struct diagnose_facts {
	bool			df_kernel_mptcp; /* /proc/sys/net/mptcp */
	int			df_enabled;		/* -1: unknown */
	char			df_path_manager[DIAGNOSE_NAME_LEN];
	char			df_scheduler[DIAGNOSE_NAME_LEN]; /* "": none */
	bool			df_socket_ok;	/* socket(IPPROTO_MPTCP) */
	char			df_socket_error[128];

	bool			df_limits_known;
	uint32_t		df_limit_subflows;
	uint32_t		df_limit_add_addr_accepted;
	bool			df_endpoints_known;
	struct diagnose_endpoint df_endpoints[DIAGNOSE_ENDPOINTS_MAX];
	int			df_nendpoints;
	bool			df_endpoints_truncated;
	char			df_netlink_error[128];	/* "" when read */

	int64_t			df_blackhole_timeout;	/* s; -1 unknown */
	bool			df_counters_known;
	uint64_t		df_blackhole;		/* MPTcpExtBlackhole */
	uint64_t		df_syntx_disabled; /* MPCapableSYNTXDisabled */

	struct sockaddr_storage	df_hostaddrs[DIAGNOSE_HOSTADDRS_MAX];
	int			df_nhostaddrs;
	bool			df_hostaddrs_known;	/* and complete */

	bool			df_have_config;
	struct diagnose_listen	df_listens[DIAGNOSE_LISTENS_MAX];
	int			df_nlistens;
	bool			df_upstream_mptcp; /* upstream_protocol mptcp */
	/* The first transparent listener (a gateway's), "" when none. */
	char			df_transparent[CONFIG_NAME_MAX];
	bool			df_transparent_mptcp;	/* its upstream_protocol */
	bool			df_all_transparent;	/* and no other kind */
};

/* The kinds of warning, in the order they are printed. */
enum diagnose_code {
	DIAGNOSE_W_NO_KERNEL_MPTCP,	/* kernel built without MPTCP */
	DIAGNOSE_W_DISABLED,		/* net.mptcp.enabled = 0 */
	DIAGNOSE_W_SOCKET,		/* enabled, yet socket() refused */
	DIAGNOSE_W_USERSPACE_PM,	/* endpoints and limits unused */
	DIAGNOSE_W_NETLINK,		/* endpoints/limits unreadable */
	DIAGNOSE_W_SUBFLOWS_ZERO,	/* subflows limit 0 */
	DIAGNOSE_W_NO_SIGNAL,		/* no signal endpoint */
	DIAGNOSE_W_ADD_ADDR_ZERO,	/* upstream announcements ignored */
	DIAGNOSE_W_NO_SECOND_PATH,	/* a gateway's uplinks: one path */
	DIAGNOSE_W_BLACKHOLE,		/* active-side MPTCP turned off */
	DIAGNOSE_W_LISTEN_NOT_LOCAL,	/* a listen address not the host's */
};

struct diagnose_warning {
	enum diagnose_code	dw_code;
	char			dw_text[DIAGNOSE_WARNING_LEN];
};

/*
 * Judge the facts: fill up to max warnings, in plain language and in the
 * order of enum diagnose_code, and return how many there are (which may
 * exceed max: only max are stored). Pure: reads f, touches nothing else.
 */
int	diagnose_warnings(const struct diagnose_facts *f,
	    struct diagnose_warning *w, int max);

/*
 * True when a relay on this host can use MPTCP at all: the kernel has it,
 * net.mptcp.enabled is 1 and an MPTCP socket can be created. Pure.
 */
bool	diagnose_usable(const struct diagnose_facts *f);

/*
 * diagnose_usable() over the facts it judges, collected as -D collects
 * them (the sysctls and an MPTCP socket, no netlink): the daemon's
 * mptcp_ready metric, at start and at each reload. A few system calls.
 */
bool	diagnose_ready(void);

/*
 * The value of net.mptcp.NAME (e.g. "blackhole_timeout") in this
 * process's network namespace, or -1 when it has none or it is not a
 * number.
 */
int64_t	diagnose_sysctl(const char *name);

/*
 * Read the facts of this process's network namespace into f, and the
 * listen addresses of cf (may be NULL). Whatever cannot be read is left
 * marked unknown with a reason; never fails.
 */
void	diagnose_collect(const struct config *cf, struct diagnose_facts *f);

/* Write the facts and their warnings for people, to out. */
void	diagnose_print(const struct diagnose_facts *f, FILE *out);

/*
 * mptcp-relayd -D: collect, print to out, and return the exit status: 0
 * when MPTCP is usable (warnings or not), 1 otherwise. cf, the loaded
 * configuration or NULL, adds the check of its listen addresses. f is
 * large, so it lives on the heap; 1 as well when that allocation fails.
 */
int	diagnose_main(const struct config *cf, FILE *out);

#endif
