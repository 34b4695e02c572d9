/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

/*
 * The log line as it reaches stderr: a UTC time stamp and a level word,
 * or, when stderr is the journal, only the "<N>" priority.
 */

#include "autoconf.h"

#include <sys/stat.h>
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "log.h"
#include "testutil.h"

static long long
realtime_ms(void)
{
	struct timespec	ts;

	ck_assert_int_eq(clock_gettime(CLOCK_REALTIME, &ts), 0);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Check "STAMP LEVEL: MESSAGE\n" against the expected level and message;
 * returns the stamp in milliseconds since the epoch.
 */
static long long
stamped_line(const char *text, const char *level, const char *message)
{
	regex_t		 rx;
	regmatch_t	 m[3];
	struct tm	 tm;
	char		 want[512];
	const char	*end;
	int		 rc;

	rc = regcomp(&rx, "^([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:"
	    "[0-9]{2})\\.([0-9]{3})Z ", REG_EXTENDED);
	ck_assert_int_eq(rc, 0);
	rc = regexec(&rx, text, 3, m, 0);
	regfree(&rx);
	ck_assert_msg(rc == 0, "no time stamp: '%s'", text);
	snprintf(want, sizeof(want), "%s: %s\n", level, message);
	ck_assert_str_eq(text + m[0].rm_eo, want);

	memset(&tm, 0, sizeof(tm));
	end = strptime(text, "%Y-%m-%dT%H:%M:%S", &tm);
	ck_assert_ptr_eq(end, text + m[1].rm_eo);
	return (long long)timegm(&tm) * 1000 + atoi(text + m[2].rm_so);
}

START_TEST(test_line_has_utc_stamp)
{
	struct testutil_capture	 cp;
	long long	 before, after, at;
	char		*text;

	unsetenv("JOURNAL_STREAM");
	testutil_capture_start(&cp);
	log_init(LOG_LVL_INFO);
	before = realtime_ms();
	log_info("web: client=%s end=%s", "127.0.0.1:52580", "client_close");
	after = realtime_ms();
	text = testutil_capture_end(&cp);
	at = stamped_line(text, "info",
	    "web: client=127.0.0.1:52580 end=client_close");
	/* The stamp is the wall clock when the line was written, in UTC. */
	ck_assert_int_ge(at, before);
	ck_assert_int_le(at, after);
	free(text);
}
END_TEST

START_TEST(test_warn_appends_errno)
{
	struct testutil_capture	 cp;
	char		*text;

	unsetenv("JOURNAL_STREAM");
	testutil_capture_start(&cp);
	log_init(LOG_LVL_WARNING);
	errno = ENOENT;
	log_warn("open %s", "/nonexistent");
	ck_assert_int_eq(errno, ENOENT);
	log_info("below the level: not written");
	text = testutil_capture_end(&cp);
	stamped_line(text, "warning", "open /nonexistent: No such file or "
	    "directory");
	free(text);
}
END_TEST

START_TEST(test_journal_line_has_priority_only)
{
	struct testutil_capture	 cp;
	struct stat	 st;
	char		 stream[64], *text;

	testutil_capture_start(&cp);
	ck_assert_int_eq(fstat(STDERR_FILENO, &st), 0);
	snprintf(stream, sizeof(stream), "%llu:%llu",
	    (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
	ck_assert_int_eq(setenv("JOURNAL_STREAM", stream, 1), 0);
	log_init(LOG_LVL_INFO);
	log_notice("web: listening");
	log_info("web: client=127.0.0.1:1");
	text = testutil_capture_end(&cp);
	/* journald adds the time itself: the line carries none. */
	ck_assert_str_eq(text,
	    "<5>web: listening\n"
	    "<6>web: client=127.0.0.1:1\n");
	free(text);
}
END_TEST

START_TEST(test_journal_stream_of_another_file)
{
	struct testutil_capture	 cp;
	char		*text;

	/* A JOURNAL_STREAM inherited from elsewhere names another stream. */
	ck_assert_int_eq(setenv("JOURNAL_STREAM", "1:1", 1), 0);
	testutil_capture_start(&cp);
	log_init(LOG_LVL_INFO);
	log_notice("started");
	text = testutil_capture_end(&cp);
	stamped_line(text, "notice", "started");
	free(text);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("log");
	TCase	*tc = tcase_create("format");

	tcase_add_test(tc, test_line_has_utc_stamp);
	tcase_add_test(tc, test_warn_appends_errno);
	tcase_add_test(tc, test_journal_line_has_priority_only);
	tcase_add_test(tc, test_journal_stream_of_another_file);
	suite_add_tcase(s, tc);
	return testutil_run(srunner_create(s));
}
