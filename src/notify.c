/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

#include "autoconf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "clock.h"
#include "log.h"
#include "notify.h"

#define NOTIFY_STATUS_MS	1000	/* STATUS= at most this often */

#ifdef HAVE_LIBSYSTEMD

static void
notify_send(const char *msg)
{
	int	r;

	/* 0: no NOTIFY_SOCKET, not under systemd; nothing to do. */
	if ((r = sd_notify(0, msg)) < 0)
		log_warnx("sd_notify: %s", strerror(-r));
}

void
notify_ready(const char *status)
{
	char	msg[512];

	snprintf(msg, sizeof(msg), "READY=1\nSTATUS=%s", status);
	notify_send(msg);
}

void
notify_reloading(void)
{
	struct timespec	ts;
	char		msg[128];

	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu\n"
	    "STATUS=reloading", (unsigned long long)ts.tv_sec * 1000000ULL +
	    (unsigned long long)ts.tv_nsec / 1000);
	notify_send(msg);
}

void
notify_stopping(const char *status)
{
	char	msg[512];

	snprintf(msg, sizeof(msg), "STOPPING=1\nSTATUS=%s", status);
	notify_send(msg);
}

void
notify_status(const char *status)
{
	char	msg[512];

	snprintf(msg, sizeof(msg), "STATUS=%s", status);
	notify_send(msg);
}

uint64_t
notify_watchdog_usec(void)
{
	uint64_t	usec = 0;

	if (sd_watchdog_enabled(0, &usec) <= 0)
		return 0;
	return usec;
}

void
notify_watchdog(void)
{
	notify_send("WATCHDOG=1");
}

int
notify_listen_fds(void)
{
	int	n;

	if ((n = sd_listen_fds(1)) < 0) {
		log_warnx("sd_listen_fds: %s", strerror(-n));
		return 0;
	}
	return n;
}

int
notify_listen_fds_start(void)
{
	return SD_LISTEN_FDS_START;
}

#else	/* !HAVE_LIBSYSTEMD */

void
notify_ready(const char *status)
{
	(void)status;
}

void
notify_reloading(void)
{
}

void
notify_stopping(const char *status)
{
	(void)status;
}

void
notify_status(const char *status)
{
	(void)status;
}

uint64_t
notify_watchdog_usec(void)
{
	return 0;
}

void
notify_watchdog(void)
{
}

int
notify_listen_fds(void)
{
	return 0;
}

int
notify_listen_fds_start(void)
{
	return 3;
}

#endif

/* Tell systemd the counts when they changed, at most once a period. */
static void
notify_status_tick(evutil_socket_t fd, short what, void *arg)
{
	struct notify_timers	*nt = arg;
	char			 status[sizeof(nt->nt_status)];

	(void)fd;
	(void)what;
	nt->nt_status_fn(status, sizeof(status), nt->nt_arg);
	if (strcmp(status, nt->nt_status) != 0) {
		memcpy(nt->nt_status, status, sizeof(status));
		notify_status(status);
	}
}

static void
notify_watchdog_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	notify_watchdog();
}

int
notify_timers_start(struct notify_timers *nt, struct event_base *base,
    notify_status_fn status, void *arg)
{
	uint64_t	usec;
	struct timeval	tv;

	memset(nt, 0, sizeof(*nt));
	nt->nt_status_fn = status;
	nt->nt_arg = arg;
	if (getenv("NOTIFY_SOCKET") != NULL) {
		tv = clock_tv(NOTIFY_STATUS_MS);
		event_assign(&nt->nt_status_ev, base, -1, EV_PERSIST,
		    notify_status_tick, nt);
		if (event_add(&nt->nt_status_ev, &tv) == -1)
			return -1;
		nt->nt_status_on = true;
	}
	if ((usec = notify_watchdog_usec()) > 0) {
		/* Ping twice per interval, as sd_watchdog_enabled(3) advises. */
		usec /= 2;
		tv.tv_sec = usec / 1000000;
		tv.tv_usec = usec % 1000000;
		event_assign(&nt->nt_watchdog_ev, base, -1, EV_PERSIST,
		    notify_watchdog_tick, nt);
		if (event_add(&nt->nt_watchdog_ev, &tv) == -1)
			return -1;
		nt->nt_watchdog_on = true;
		notify_watchdog();
	}
	return 0;
}

void
notify_timers_ready(struct notify_timers *nt)
{
	nt->nt_status_fn(nt->nt_status, sizeof(nt->nt_status), nt->nt_arg);
	notify_ready(nt->nt_status);
}

void
notify_timers_stop(struct notify_timers *nt)
{
	if (nt->nt_status_on)
		event_del(&nt->nt_status_ev);
	if (nt->nt_watchdog_on)
		event_del(&nt->nt_watchdog_ev);
	nt->nt_status_on = nt->nt_watchdog_on = false;
}
