/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

/*
 * Time for timeouts and durations: always the monotonic clock, never the
 * wall clock, so that an operator or NTP stepping the clock neither fires
 * nor holds back a timeout, nor makes a duration negative. On Linux this is
 * a vDSO call, not a system call: cheap enough for the data path.
 */
#ifndef MPTCP_RELAYD_CLOCK_H
#define MPTCP_RELAYD_CLOCK_H

#include <sys/time.h>
#include <stdint.h>
#include <time.h>

/* Milliseconds on the monotonic clock (since an arbitrary point). */
static inline uint64_t
clock_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A libevent timeout of ms milliseconds. */
static inline struct timeval
clock_tv(uint64_t ms)
{
	struct timeval	tv;

	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	return tv;
}

#endif
