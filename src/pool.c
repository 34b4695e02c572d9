/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

#include "autoconf.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "pool.h"

#ifdef POOL_ASAN
#include <sanitizer/asan_interface.h>

/* An idle object's bytes past its link: the sanitizer reports any use. */
static void
pool_poison(const struct pool *p, struct pool_link *obj)
{
	if (p->p_size > sizeof(*obj))
		ASAN_POISON_MEMORY_REGION(obj + 1, p->p_size - sizeof(*obj));
}

static void
pool_unpoison(const struct pool *p, struct pool_link *obj)
{
	if (p->p_size > sizeof(*obj))
		ASAN_UNPOISON_MEMORY_REGION(obj + 1, p->p_size - sizeof(*obj));
}

/* An object given back while idle already: two holders, abort. */
static void
pool_check_put(const struct pool *p, const struct pool_link *obj)
{
	const struct pool_link	*it;

	for (it = p->p_free; it != NULL; it = it->pl_next)
		if (it == obj) {
			fprintf(stderr, "pool: object %p given back twice\n",
			    (const void *)obj);
			abort();
		}
}
#else
#define pool_poison(p, obj)	((void)(p), (void)(obj))
#define pool_unpoison(p, obj)	((void)(p), (void)(obj))
#define pool_check_put(p, obj)	((void)(p), (void)(obj))
#endif

void
pool_init(struct pool *p, unsigned max, size_t size,
    void (*destroy)(struct pool_link *, void *), void *arg)
{
	p->p_free = NULL;
	p->p_nfree = 0;
	p->p_lowfree = 0;
	p->p_max = max;
	p->p_size = size;
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
	pool_unpoison(p, obj);
	return obj;
}

void
pool_put(struct pool *p, struct pool_link *obj)
{
	pool_check_put(p, obj);
	if (p->p_nfree >= p->p_max) {
		p->p_destroy(obj, p->p_arg);
		return;
	}
	obj->pl_next = p->p_free;
	p->p_free = obj;
	p->p_nfree++;
	pool_poison(p, obj);
}

unsigned
pool_trim(struct pool *p)
{
	struct pool_link	*obj;

	while (p->p_lowfree > 0 && (obj = p->p_free) != NULL) {
		p->p_free = obj->pl_next;
		p->p_nfree--;
		p->p_lowfree--;
		pool_unpoison(p, obj);
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
		pool_unpoison(p, obj);
		p->p_destroy(obj, p->p_arg);
	}
	p->p_nfree = 0;
	p->p_lowfree = 0;
}
