/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

/*
 * The kernel's MPTCP counters: the two "MPTcpExt:" lines (names, then
 * values) of /proc/net/netstat, which belong to the network namespace of
 * the process that reads them. One parser for everyone who reads them:
 * -D (diagnose.c), the metrics endpoint at each scrape and the daemon's
 * watch for MPTCP blackhole detection (stats.c).
 */
#ifndef MPTCP_RELAYD_NETSTAT_H
#define MPTCP_RELAYD_NETSTAT_H

#include <stdbool.h>
#include <stdint.h>

#define NETSTAT_MPTCP_MAX	256	/* counters kept; 6.18 has 76 */
#define NETSTAT_NAME_MAX	64	/* a counter's name, with NUL */

struct netstat_counter {
	char		nc_name[NETSTAT_NAME_MAX];	/* without "MPTcpExt" */
	uint64_t	nc_value;
};

/* The counters in the kernel's order; about 18 KiB: keep it off stacks. */
struct netstat_mptcp {
	int			nm_n;
	bool			nm_truncated;	/* more than NETSTAT_MPTCP_MAX */
	struct netstat_counter	nm_c[NETSTAT_MPTCP_MAX];
};

/*
 * Parse the text of /proc/net/netstat (NUL-terminated) into *nm. Names
 * too long for nc_name and values that are not numbers are skipped.
 * Returns 0, or -1 when the text has no pair of MPTcpExt lines (a kernel
 * without MPTCP). Pure.
 */
int	netstat_mptcp_parse(const char *text, struct netstat_mptcp *nm);

/*
 * Read /proc/net/netstat of this process's network namespace into *nm.
 * Returns 0, or -1 with errno set (ENOENT: no MPTcpExt lines). A few
 * system calls; not for the data path.
 */
int	netstat_mptcp_read(struct netstat_mptcp *nm);

/* The value of counter name ("Blackhole"); false when nm has none. */
bool	netstat_mptcp_get(const struct netstat_mptcp *nm, const char *name,
	    uint64_t *value);

#endif
