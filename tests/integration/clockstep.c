/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

/*
 * A test shim (LD_PRELOAD) that steps the wall clock of one process: once
 * the file named by CLOCKSTEP_FILE exists, gettimeofday(), time() and
 * clock_gettime(CLOCK_REALTIME...) answer CLOCKSTEP_SECONDS (say -30)
 * away from the truth, as after an operator or NTP stepped the clock. The
 * monotonic clock is left alone, as the kernel leaves it. The machine's
 * own clock is never touched.
 */
#define _GNU_SOURCE
#include <sys/time.h>
#include <dlfcn.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static long
clockstep_offset(void)
{
	const char	*file = getenv("CLOCKSTEP_FILE");
	const char	*secs = getenv("CLOCKSTEP_SECONDS");

	if (file == NULL || secs == NULL || access(file, F_OK) != 0)
		return 0;
	return strtol(secs, NULL, 10);
}

int
clock_gettime(clockid_t id, struct timespec *ts)
{
	static int	(*real)(clockid_t, struct timespec *);
	int		 r;

	if (real == NULL)
		real = (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT,
		    "clock_gettime");
	r = real(id, ts);
	if (r == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE))
		ts->tv_sec += clockstep_offset();
	return r;
}

int
gettimeofday(struct timeval *tv, void *tz)
{
	static int	(*real)(struct timeval *, void *);
	int		 r;

	if (real == NULL)
		real = (int (*)(struct timeval *, void *))dlsym(RTLD_NEXT,
		    "gettimeofday");
	r = real(tv, tz);
	if (r == 0 && tv != NULL)
		tv->tv_sec += clockstep_offset();
	return r;
}

time_t
time(time_t *t)
{
	struct timeval	tv;

	gettimeofday(&tv, NULL);
	if (t != NULL)
		*t = tv.tv_sec;
	return tv.tv_sec;
}
