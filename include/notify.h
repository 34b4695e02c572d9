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

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <event2/event_struct.h>

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

/* Writes the daemon's one-line status ("2 listening sockets, 5 sessions"). */
typedef void (*notify_status_fn)(char *buf, size_t len, void *arg);

/* The periodic duties towards the service manager, in one event loop. */
struct notify_timers {
	struct event		 nt_status_ev;
	struct event		 nt_watchdog_ev;
	bool			 nt_status_on;
	bool			 nt_watchdog_on;
	notify_status_fn	 nt_status_fn;
	void			*nt_arg;
	char			 nt_status[128];	/* as last sent */
};

/*
 * Under systemd, in base: send STATUS= from status() whenever it changed
 * (looked at once a second), and ping the watchdog twice per interval
 * (WatchdogSec=). Nothing runs otherwise. 0, or -1 when a timer cannot be
 * added.
 */
int	notify_timers_start(struct notify_timers *nt, struct event_base *base,
	    notify_status_fn status, void *arg);

/* READY=1 with the current status: start-up or a reload is complete. */
void	notify_timers_ready(struct notify_timers *nt);

void	notify_timers_stop(struct notify_timers *nt);

#endif
