/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

/*
 * Run a fuzz target on saved inputs without libFuzzer, so that make check
 * replays the committed corpus with the normal compiler (and, in the
 * sanitizer build, under ASan and UBSan) in a second or so.
 *
 * usage: replay_TARGET [DIR | FILE]...
 * Every regular file of each directory (in name order) and every file
 * named is given to LLVMFuzzerTestOneInput() in a buffer of exactly its
 * size. Without arguments the corpus named at build time (FUZZ_CORPUS) is
 * replayed. Exits 0 when all ran, 1 when none was found or one could not
 * be read; a broken invariant aborts.
 */

#include "autoconf.h"

#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

static int	replay_file(const char *);
static int	replay_path(const char *, size_t *);

/* Read a whole file into a buffer of exactly its size and run it. */
static int
replay_file(const char *path)
{
	struct stat	 st;
	FILE		*f;
	uint8_t		*buf;
	size_t		 len;

	if ((f = fopen(path, "rb")) == NULL || fstat(fileno(f), &st) == -1) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		if (f != NULL)
			fclose(f);
		return (-1);
	}
	len = (size_t)st.st_size;
	if ((buf = malloc(len > 0 ? len : 1)) == NULL ||
	    fread(buf, 1, len, f) != len) {
		fprintf(stderr, "replay: %s: cannot read it\n", path);
		free(buf);
		fclose(f);
		return (-1);
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, len);
	free(buf);
	return (0);
}

static int
replay_path(const char *path, size_t *count)
{
	struct dirent	**names;
	struct stat	  st;
	char		 *file;
	int		  i, n, rv = 0;

	if (stat(path, &st) == -1) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return (-1);
	}
	if (!S_ISDIR(st.st_mode)) {
		if (replay_file(path) == -1)
			return (-1);
		(*count)++;
		return (0);
	}
	if ((n = scandir(path, &names, NULL, alphasort)) == -1) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return (-1);
	}
	for (i = 0; i < n; i++) {
		if (rv == 0 && names[i]->d_name[0] != '.') {
			if (asprintf(&file, "%s/%s", path,
			    names[i]->d_name) == -1) {
				fprintf(stderr, "replay: out of memory\n");
				rv = -1;
			} else {
				if (stat(file, &st) == 0 &&
				    S_ISREG(st.st_mode)) {
					if (replay_file(file) == -1)
						rv = -1;
					else
						(*count)++;
				}
				free(file);
			}
		}
		free(names[i]);
	}
	free(names);
	return (rv);
}

int
main(int argc, char *argv[])
{
	size_t	 count = 0;
	int	 i;

	if (argc < 2) {
		if (replay_path(FUZZ_CORPUS, &count) == -1)
			return (1);
		printf("replayed %zu inputs from %s\n", count, FUZZ_CORPUS);
	} else {
		for (i = 1; i < argc; i++)
			if (replay_path(argv[i], &count) == -1)
				return (1);
		printf("replayed %zu inputs\n", count);
	}
	return (count > 0 ? 0 : 1);
}
