/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

#include "autoconf.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "log.h"
#include "notify.h"

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
