/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

/*
 * The service manager's protocols (sd_notify(3), sd_listen_fds(3)). Every
 * call is a no-op when the daemon was not started by systemd (no
 * NOTIFY_SOCKET, no LISTEN_FDS) or was built without libsystemd.
 */
#ifndef MPTCP_RELAYD_NOTIFY_H
#define MPTCP_RELAYD_NOTIFY_H

#include <stdint.h>

/* "READY=1" with a status line: start-up or a reload is complete. */
void	notify_ready(const char *status);

/* "RELOADING=1" with MONOTONIC_USEC, as systemd expects it. */
void	notify_reloading(void);

/* "STOPPING=1" with a status line. */
void	notify_stopping(const char *status);

/* "STATUS=": a one-line description shown by systemctl status. */
void	notify_status(const char *status);

/*
 * The watchdog interval systemd asks for (WatchdogSec=), in microseconds:
 * 0 when there is no watchdog for this process.
 */
uint64_t notify_watchdog_usec(void);

/* "WATCHDOG=1": the event loop is alive. */
void	notify_watchdog(void);

/*
 * Sockets passed by socket activation: returns how many, starting at fd
 * notify_listen_fds_start(), and unsets LISTEN_* so children do not
 * inherit them; 0 when none were passed.
 */
int	notify_listen_fds(void);
int	notify_listen_fds_start(void);

#endif
