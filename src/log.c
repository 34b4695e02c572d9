/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

#include "autoconf.h"

#include <sys/stat.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

/*
 * The log level and output style are process-wide and set once at start-up
 * (or by a reload, from the event loop): the only state here.
 */
static enum log_level	log_level = LOG_LVL_INFO;
static int		log_journal;	/* stderr is the systemd journal */

static const struct {
	const char	*name;
	enum log_level	 level;
} log_levels[] = {
	{ "error",	LOG_LVL_ERROR },
	{ "warning",	LOG_LVL_WARNING },
	{ "notice",	LOG_LVL_NOTICE },
	{ "info",	LOG_LVL_INFO },
	{ "debug",	LOG_LVL_DEBUG },
};

/* JOURNAL_STREAM is "DEV:INODE" of the stream systemd connected to stderr. */
static int
log_stderr_is_journal(void)
{
	const char		*e;
	unsigned long long	 dev, ino;
	struct stat		 st;

	if ((e = getenv("JOURNAL_STREAM")) == NULL)
		return 0;
	if (sscanf(e, "%llu:%llu", &dev, &ino) != 2)
		return 0;
	if (fstat(STDERR_FILENO, &st) == -1)
		return 0;
	return st.st_dev == dev && st.st_ino == ino;
}

void
log_init(enum log_level level)
{
	log_setlevel(level);
	log_journal = log_stderr_is_journal();
	/* One write per line even when several threads log. */
	setvbuf(stderr, NULL, _IOLBF, 0);
}

/*
 * The level is read by every thread and changed by the daemon's loop (a
 * reload, SIGUSR2): relaxed atomics, which cost nothing more than a plain
 * load on the data path.
 */
void
log_setlevel(enum log_level level)
{
	__atomic_store_n(&log_level, level, __ATOMIC_RELAXED);
}

enum log_level
log_getlevel(void)
{
	return __atomic_load_n(&log_level, __ATOMIC_RELAXED);
}

int
log_enabled(enum log_level level)
{
	return level <= __atomic_load_n(&log_level, __ATOMIC_RELAXED);
}

int
log_level_parse(const char *name, enum log_level *level)
{
	size_t	i;

	for (i = 0; i < sizeof(log_levels) / sizeof(log_levels[0]); i++) {
		if (strcasecmp(name, log_levels[i].name) == 0) {
			*level = log_levels[i].level;
			return 0;
		}
	}
	return -1;
}

const char *
log_level_name(enum log_level level)
{
	size_t	i;

	for (i = 0; i < sizeof(log_levels) / sizeof(log_levels[0]); i++)
		if (log_levels[i].level == level)
			return log_levels[i].name;
	return "unknown";
}

/*
 * "2026-12-06T04:17:18.123Z": the wall clock in UTC with milliseconds,
 * ISO 8601. The wall clock, not the monotonic one, because a reader
 * matches it with other logs; one clock_gettime and one gmtime_r per
 * line, as a session's line is written for every session.
 */
static void
log_stamp(char *buf, size_t len)
{
	struct timespec	ts;
	struct tm	tm;
	size_t		n;

	if (clock_gettime(CLOCK_REALTIME, &ts) == -1 ||
	    gmtime_r(&ts.tv_sec, &tm) == NULL ||
	    (n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm)) == 0) {
		snprintf(buf, len, "-");
		return;
	}
	snprintf(buf + n, len - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

static void
log_vwrite(enum log_level level, int errnum, const char *fmt, va_list ap)
{
	char	msg[2048], stamp[64];
	int	n;

	if (!log_enabled(level))
		return;
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n < 0)
		return;
	if (errnum != 0 && (size_t)n < sizeof(msg))
		snprintf(msg + n, sizeof(msg) - n, ": %s", strerror(errnum));
	/* The journal stamps each entry itself. */
	if (log_journal)
		fprintf(stderr, "<%d>%s\n", (int)level, msg);
	else {
		log_stamp(stamp, sizeof(stamp));
		fprintf(stderr, "%s %s: %s\n", stamp, log_level_name(level),
		    msg);
	}
}

#define LOG_FN(fn, lvl, witherr)				\
void								\
fn(const char *fmt, ...)					\
{								\
	va_list	ap;						\
	int	saved = errno;					\
								\
	va_start(ap, fmt);					\
	log_vwrite(lvl, witherr ? saved : 0, fmt, ap);		\
	va_end(ap);						\
	errno = saved;						\
}

LOG_FN(log_warn, LOG_LVL_WARNING, 1)
LOG_FN(log_warnx, LOG_LVL_WARNING, 0)
LOG_FN(log_error, LOG_LVL_ERROR, 0)
LOG_FN(log_notice, LOG_LVL_NOTICE, 0)
LOG_FN(log_info, LOG_LVL_INFO, 0)
LOG_FN(log_debug, LOG_LVL_DEBUG, 0)

void
log_msg(enum log_level level, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vwrite(level, 0, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list	ap;
	int	saved = errno;

	va_start(ap, fmt);
	log_vwrite(LOG_LVL_ERROR, saved, fmt, ap);
	va_end(ap);
	exit(2);
}

void
fatalx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LVL_ERROR, 0, fmt, ap);
	va_end(ap);
	exit(2);
}

bool
log_limit_allow(struct log_limit *ll, uint64_t now_ms, unsigned *held)
{
	uint64_t	second = now_ms / 1000;

	if (second != ll->ll_second) {
		ll->ll_second = second;
		ll->ll_lines = 0;
	}
	if (ll->ll_lines >= LOG_LIMIT_PER_SEC) {
		ll->ll_held++;
		return false;
	}
	ll->ll_lines++;
	*held = ll->ll_held;
	ll->ll_held = 0;
	return true;
}
