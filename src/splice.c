/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

#include "autoconf.h"

#include <sys/types.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "splice.h"

void
splice_pool_init(struct splice_pool *spl)
{
	spl->spl_free = NULL;
	spl->spl_nfree = 0;
	spl->spl_lowfree = 0;
	spl->spl_nbusy = 0;
	spl->spl_taken = 0;
	spl->spl_unsupported = false;
}

static void
splice_pipe_free(struct splice_pipe *sp)
{
	close(sp->sp_rfd);
	close(sp->sp_wfd);
	free(sp);
}

void
splice_pool_clear(struct splice_pool *spl)
{
	struct splice_pipe	*sp;

	while ((sp = spl->spl_free) != NULL) {
		spl->spl_free = sp->sp_next;
		splice_pipe_free(sp);
	}
	spl->spl_nfree = 0;
	spl->spl_lowfree = 0;
}

struct splice_pipe *
splice_pipe_get(struct splice_pool *spl)
{
	struct splice_pipe	*sp;
	int			 fds[2], size, save;

	if (spl->spl_unsupported) {
		errno = ENOSYS;
		return NULL;
	}
	if ((sp = spl->spl_free) != NULL) {
		spl->spl_free = sp->sp_next;
		spl->spl_nfree--;
		if (spl->spl_lowfree > spl->spl_nfree)
			spl->spl_lowfree = spl->spl_nfree;
		spl->spl_nbusy++;
		spl->spl_taken++;
		return sp;
	}
	if ((sp = malloc(sizeof(*sp))) == NULL)
		return NULL;
	if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) == -1) {
		save = errno;
		free(sp);
		errno = save;
		return NULL;
	}
	sp->sp_next = NULL;
	sp->sp_rfd = fds[0];
	sp->sp_wfd = fds[1];
	sp->sp_len = 0;
	/*
	 * The kernel's default is 16 pages; fewer when the user holds more
	 * than pipe-user-pages-soft in pipes. Never more than a relay
	 * buffer, so both paths hold the same at most.
	 */
	if ((size = fcntl(fds[0], F_GETPIPE_SZ)) == -1 ||
	    size > SPLICE_PIPE_LIMIT)
		size = SPLICE_PIPE_LIMIT;
	sp->sp_cap = (uint32_t)size;
	spl->spl_nbusy++;
	spl->spl_taken++;
	return sp;
}

void
splice_pipe_put(struct splice_pool *spl, struct splice_pipe *sp)
{
	spl->spl_nbusy--;
	if (sp->sp_len > 0 || spl->spl_nfree >= SPLICE_POOL_MAX ||
	    spl->spl_unsupported) {
		splice_pipe_free(sp);
		return;
	}
	sp->sp_next = spl->spl_free;
	spl->spl_free = sp;
	spl->spl_nfree++;
}

unsigned
splice_pool_trim(struct splice_pool *spl)
{
	struct splice_pipe	*sp;

	while (spl->spl_lowfree > 0 && (sp = spl->spl_free) != NULL) {
		spl->spl_free = sp->sp_next;
		spl->spl_nfree--;
		spl->spl_lowfree--;
		splice_pipe_free(sp);
	}
	spl->spl_lowfree = spl->spl_nfree;
	return spl->spl_nfree;
}

ssize_t
splice_pipe_fill(struct splice_pipe *sp, int fd, size_t max)
{
	size_t	room = sp->sp_cap - sp->sp_len;
	ssize_t	n;

	if (max > room)
		max = room;
	if (max == 0) {
		errno = EAGAIN;
		return -1;
	}
	n = splice(fd, NULL, sp->sp_wfd, NULL, max,
	    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	if (n > 0)
		sp->sp_len += (uint32_t)n;
	return n;
}

ssize_t
splice_pipe_drain(struct splice_pipe *sp, int fd)
{
	ssize_t	n;

	if (sp->sp_len == 0)
		return 0;
	n = splice(sp->sp_rfd, NULL, fd, NULL, sp->sp_len,
	    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	if (n > 0)
		sp->sp_len -= (uint32_t)n;
	return n;
}

ssize_t
splice_pipe_read(struct splice_pipe *sp, void *buf, size_t len)
{
	ssize_t	n;

	if (len > sp->sp_len)
		len = sp->sp_len;
	if (len == 0)
		return 0;
	if ((n = read(sp->sp_rfd, buf, len)) > 0)
		sp->sp_len -= (uint32_t)n;
	return n;
}

bool
splice_unsupported(int err)
{
	return err == EINVAL || err == ENOSYS;
}

bool
splice_pool_disable(struct splice_pool *spl)
{
	struct splice_pipe	*sp;

	if (spl->spl_unsupported)
		return false;
	spl->spl_unsupported = true;
	while ((sp = spl->spl_free) != NULL) {
		spl->spl_free = sp->sp_next;
		splice_pipe_free(sp);
	}
	spl->spl_nfree = 0;
	spl->spl_lowfree = 0;
	return true;
}
