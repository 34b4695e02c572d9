/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

#ifndef MPTCP_RELAYD_DAEMON_H
#define MPTCP_RELAYD_DAEMON_H

/* Exit statuses, as mptcp-relayd(8) documents them. */
#define DAEMON_EXIT_OK		0	/* clean stop, or a valid config with -t */
#define DAEMON_EXIT_CONFIG	1	/* invalid configuration or usage */
#define DAEMON_EXIT_STARTUP	2	/* bind, socket, MPTCP unavailable... */

/*
 * The whole daemon: parse the command line, load the configuration, open
 * the listeners and run the event loop until stopped. Returns the exit
 * status.
 */
int	daemon_main(int argc, char **argv);

#endif
