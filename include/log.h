/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

#ifndef MPTCP_RELAYD_LOG_H
#define MPTCP_RELAYD_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

/* Severities, most severe first; the numbers are syslog's. */
enum log_level {
	LOG_LVL_ERROR = 3,
	LOG_LVL_WARNING = 4,
	LOG_LVL_NOTICE = 5,
	LOG_LVL_INFO = 6,
	LOG_LVL_DEBUG = 7,
};

/*
 * Set up logging to stderr. Under systemd (JOURNAL_STREAM names stderr)
 * lines carry a "<N>" priority prefix that the journal turns into the
 * entry's priority, and no time (the journal has it); otherwise the time
 * in UTC and a level word: "2026-12-06T04:17:18.123Z info: ".
 */
void	log_init(enum log_level level);
void	log_setlevel(enum log_level level);
enum log_level log_getlevel(void);
/* True when a message at this level would be written. */
int	log_enabled(enum log_level level);
/* "error", "warning", "notice", "info", "debug" -> level; 0 or -1. */
int	log_level_parse(const char *name, enum log_level *level);
const char *log_level_name(enum log_level level);

/* log_warn and fatal append ": strerror(errno)". */
void	log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_error(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_notice(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_msg(enum log_level, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
/*
 * A limit on lines of one kind (refused clients, say), so that a flood
 * cannot fill the journal: at most LOG_LIMIT_PER_SEC in any second, the
 * rest counted and said with the next line written. Not thread-safe: one
 * per event loop.
 */
#define LOG_LIMIT_PER_SEC	10
struct log_limit {
	uint64_t	ll_second;	/* of the monotonic clock */
	unsigned	ll_lines;	/* written in it */
	unsigned	ll_held;	/* held back since the last one written */
};

/*
 * Whether a line may be written at now_ms (monotonic). When it may,
 * *held is how many were held back before it (and counting restarts).
 */
bool	log_limit_allow(struct log_limit *ll, uint64_t now_ms, unsigned *held);

/* Only at start-up or for a broken invariant: log, then exit(2). */
void	fatal(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
void	fatalx(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));

#endif
