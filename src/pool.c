/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

#include "autoconf.h"

#include <stddef.h>

#include "pool.h"

void
pool_init(struct pool *p, unsigned max,
    void (*destroy)(struct pool_link *, void *), void *arg)
{
	p->p_free = NULL;
	p->p_nfree = 0;
	p->p_lowfree = 0;
	p->p_max = max;
	p->p_destroy = destroy;
	p->p_arg = arg;
}

struct pool_link *
pool_get(struct pool *p)
{
	struct pool_link	*obj;

	if ((obj = p->p_free) == NULL)
		return NULL;
	p->p_free = obj->pl_next;
	p->p_nfree--;
	if (p->p_lowfree > p->p_nfree)
		p->p_lowfree = p->p_nfree;
	return obj;
}

void
pool_put(struct pool *p, struct pool_link *obj)
{
	if (p->p_nfree >= p->p_max) {
		p->p_destroy(obj, p->p_arg);
		return;
	}
	obj->pl_next = p->p_free;
	p->p_free = obj;
	p->p_nfree++;
}

unsigned
pool_trim(struct pool *p)
{
	struct pool_link	*obj;

	while (p->p_lowfree > 0 && (obj = p->p_free) != NULL) {
		p->p_free = obj->pl_next;
		p->p_nfree--;
		p->p_lowfree--;
		p->p_destroy(obj, p->p_arg);
	}
	p->p_lowfree = p->p_nfree;
	return p->p_nfree;
}

void
pool_clear(struct pool *p)
{
	struct pool_link	*obj;

	while ((obj = p->p_free) != NULL) {
		p->p_free = obj->pl_next;
		p->p_destroy(obj, p->p_arg);
	}
	p->p_nfree = 0;
	p->p_lowfree = 0;
}
