/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "netstat.h"

#define NETSTAT_PATH		"/proc/net/netstat"
#define NETSTAT_PREFIX		"MPTcpExt:"
#define NETSTAT_FILE_MAX	(1024 * 1024)	/* 4 KiB on 6.18 */

/* The line starting at p, up to its newline (excluded) or the end. */
static size_t
netstat_line_len(const char *p)
{
	return strcspn(p, "\n");
}

/* The next word of [*p, end): its start and length; 0 at the end. */
static size_t
netstat_word(const char **p, const char *end, const char **word)
{
	const char	*s = *p;
	size_t		 n;

	while (s < end && *s == ' ')
		s++;
	*word = s;
	for (n = 0; s + n < end && s[n] != ' '; n++)
		;
	*p = s + n;
	return n;
}

int
netstat_mptcp_parse(const char *text, struct netstat_mptcp *nm)
{
	const char	*names = NULL, *values = NULL, *p = text;
	const char	*np, *nend, *vp, *vend, *name, *value;
	size_t		 plen = strlen(NETSTAT_PREFIX), nlen, vlen;
	char		 num[32], *e;
	uint64_t	 v;

	nm->nm_n = 0;
	nm->nm_truncated = false;
	/* The first MPTcpExt line names the counters, the second counts. */
	while (*p != '\0' && values == NULL) {
		if (strncmp(p, NETSTAT_PREFIX, plen) == 0) {
			if (names == NULL)
				names = p;
			else
				values = p;
		}
		p += netstat_line_len(p);
		if (*p == '\n')
			p++;
	}
	if (values == NULL)
		return -1;
	np = names + plen;
	nend = names + netstat_line_len(names);
	vp = values + plen;
	vend = values + netstat_line_len(values);
	for (;;) {
		nlen = netstat_word(&np, nend, &name);
		vlen = netstat_word(&vp, vend, &value);
		if (nlen == 0 || vlen == 0)
			break;
		if (nlen >= NETSTAT_NAME_MAX || vlen >= sizeof(num))
			continue;
		memcpy(num, value, vlen);
		num[vlen] = '\0';
		errno = 0;
		v = strtoull(num, &e, 10);
		if (errno != 0 || *e != '\0' || num[0] == '-')
			continue;
		if (nm->nm_n == NETSTAT_MPTCP_MAX) {
			nm->nm_truncated = true;
			break;
		}
		memcpy(nm->nm_c[nm->nm_n].nc_name, name, nlen);
		nm->nm_c[nm->nm_n].nc_name[nlen] = '\0';
		nm->nm_c[nm->nm_n].nc_value = v;
		nm->nm_n++;
	}
	return 0;
}

int
netstat_mptcp_read(struct netstat_mptcp *nm)
{
	char	*buf = NULL, *nbuf;
	size_t	 len = 0, cap = 0;
	ssize_t	 n;
	int	 fd, rc = -1, saved;

	nm->nm_n = 0;
	if ((fd = open(NETSTAT_PATH, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	for (;;) {
		if (cap - len < 2) {
			if (cap >= NETSTAT_FILE_MAX) {
				errno = EFBIG;
				goto done;
			}
			cap = cap == 0 ? 8192 : cap * 2;
			if ((nbuf = realloc(buf, cap)) == NULL)
				goto done;
			buf = nbuf;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			goto done;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	if ((rc = netstat_mptcp_parse(buf, nm)) == -1)
		errno = ENOENT;
done:
	saved = errno;
	close(fd);
	free(buf);
	errno = saved;
	return rc;
}

bool
netstat_mptcp_get(const struct netstat_mptcp *nm, const char *name,
    uint64_t *value)
{
	int	i;

	for (i = 0; i < nm->nm_n; i++)
		if (strcmp(nm->nm_c[i].nc_name, name) == 0) {
			*value = nm->nm_c[i].nc_value;
			return true;
		}
	return false;
}
