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

static void
splice_pipe_destroy(struct pool_link *link, void *arg)
{
	struct splice_pipe	*sp = (struct splice_pipe *)link;
	struct splice_pool	*spl = arg;

	close(sp->sp_rfd);
	close(sp->sp_wfd);
	free(sp);
	if (spl->spl_budget != NULL)
		budget_pipe_release(spl->spl_budget);
}

void
splice_pool_init(struct splice_pool *spl, struct budget *budget)
{
	pool_init(&spl->spl_pool, SPLICE_POOL_MAX, sizeof(struct splice_pipe),
	    splice_pipe_destroy, spl);
	spl->spl_budget = budget;
	spl->spl_nbusy = 0;
	spl->spl_taken = 0;
	spl->spl_unsupported = false;
}

void
splice_pool_clear(struct splice_pool *spl)
{
	pool_clear(&spl->spl_pool);
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
	if ((sp = (struct splice_pipe *)pool_get(&spl->spl_pool)) != NULL)
		goto got;
	if (spl->spl_budget != NULL && !budget_pipe_take(spl->spl_budget)) {
		errno = EMFILE;
		return NULL;
	}
	if ((sp = malloc(sizeof(*sp))) == NULL)
		goto fail;
	if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) == -1) {
		save = errno;
		free(sp);
		errno = save;
		goto fail;
	}
	sp->sp_rfd = fds[0];
	sp->sp_wfd = fds[1];
	sp->sp_len = 0;
	/*
	 * The kernel's default is 16 pages; fewer when the user holds more
	 * than pipe-user-pages-soft in pipes. Never more than
	 * SPLICE_PIPE_LIMIT, which a relay buffer holds too.
	 */
	if ((size = fcntl(fds[0], F_GETPIPE_SZ)) == -1 ||
	    size > SPLICE_PIPE_LIMIT)
		size = SPLICE_PIPE_LIMIT;
	sp->sp_cap = (uint32_t)size;
got:
	spl->spl_nbusy++;
	spl->spl_taken++;
	return sp;
fail:
	save = errno;
	if (spl->spl_budget != NULL)
		budget_pipe_release(spl->spl_budget);
	errno = save;
	return NULL;
}

void
splice_pipe_put(struct splice_pool *spl, struct splice_pipe *sp)
{
	spl->spl_nbusy--;
	if (sp->sp_len > 0 || spl->spl_unsupported) {
		splice_pipe_destroy(&sp->sp_link, spl);
		return;
	}
	pool_put(&spl->spl_pool, &sp->sp_link);
}

unsigned
splice_pool_trim(struct splice_pool *spl)
{
	return pool_trim(&spl->spl_pool);
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
	if (spl->spl_unsupported)
		return false;
	spl->spl_unsupported = true;
	pool_clear(&spl->spl_pool);
	return true;
}
