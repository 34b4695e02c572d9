/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

/*
 * The one daemon context: the event loop of the process, its signals, the
 * configuration and its reloads, the listeners, the relays of the
 * sections, the workers and the stop.
 */
#ifndef MPTCP_RELAYD_DAEMON_H
#define MPTCP_RELAYD_DAEMON_H

#include <stdbool.h>

#include "log.h"

/* Exit statuses, as mptcp-relayd(8) documents them. */
#define DAEMON_EXIT_OK		0	/* clean stop, or a valid config with -t */
#define DAEMON_EXIT_CONFIG	1	/* invalid configuration or usage */
#define DAEMON_EXIT_STARTUP	2	/* bind, socket, MPTCP unavailable... */

/* What the command line asked for. */
struct daemon_opts {
	const char	*do_config_path;
	bool		 do_test;	/* -t */
	bool		 do_diagnose;	/* -D */
	bool		 do_log_level_forced;	/* -l given */
	enum log_level	 do_log_level;
};

/*
 * Load the configuration and do what opts say: check it (-t), report the
 * host's readiness (-D), or open the listeners and run the event loop
 * until stopped. Returns the exit status.
 */
int	daemon_main(const struct daemon_opts *opts);

#endif
