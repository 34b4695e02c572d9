/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

/*
 * The configuration loader through the entry the daemon uses, on any
 * bytes, NUL bytes and all: the input is written to a file of its own
 * (a memfd, named through /proc/self/fd) and loaded with config_load_flags()
 * without resolving host names (a fuzzer must not touch the network).
 * What must hold:
 * - a load either succeeds with no problem reported, or fails with at
 *   least one;
 * - every problem names the file, and they come in line order: first the
 *   ones about the whole file, then by line;
 * - a loaded config is consistent: every listener has a listen address
 *   and an upstream, counts match, and it frees cleanly (ASan checks the
 *   rest: no leak, no overflow).
 */

#include "autoconf.h"

#include <sys/mman.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "fuzz.h"
#include "log.h"

/* The line number of a message "PATH:LINE: ...", or 0 for "PATH: ...". */
static long
msg_line(const char *msg, const char *path)
{
	size_t	n = strlen(path);
	char	*end;
	long	 line;

	FUZZ_CHECK(strncmp(msg, path, n) == 0);
	FUZZ_CHECK(msg[n] == ':');
	line = strtol(msg + n + 1, &end, 10);
	if (end == msg + n + 1 || *end != ':')
		return 0;
	return line;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config_diag	 diag = { NULL, 0 };
	struct config		*cf;
	struct listener_config	*lc;
	char			 path[64];
	size_t			 i;
	long			 line, last = 0;
	int			 fd, n = 0;

	/* Warnings a loaded file gets (to stderr) would slow every run. */
	log_setlevel(LOG_LVL_ERROR);
	if ((fd = memfd_create("fuzz.ini", MFD_CLOEXEC)) == -1)
		abort();
	if (size > 0 && write(fd, data, size) != (ssize_t)size)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	cf = config_load_flags(path, CONFIG_LOAD_NO_RESOLVE, &diag);
	close(fd);
	FUZZ_CHECK((cf != NULL) == (diag.cd_count == 0));
	for (i = 0; i < diag.cd_count; i++) {
		line = msg_line(diag.cd_msgs[i], path);
		FUZZ_CHECK(line >= last);
		last = line;
	}
	if (cf != NULL) {
		TAILQ_FOREACH(lc, &cf->cf_listeners, lc_entry) {
			FUZZ_CHECK(lc->lc_nlisten >= 1);
			FUZZ_CHECK(lc->lc_nlisten <= CONFIG_LISTEN_MAX);
			FUZZ_CHECK(lc->lc_nupstreams >= 1);
			FUZZ_CHECK(lc->lc_name[0] != '\0');
			n++;
		}
		FUZZ_CHECK(n == cf->cf_nlisteners);
		config_unref(cf);
	}
	config_diag_free(&diag);
	return 0;
}
