/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

/*
 * A free list of idle objects of one kind, per event loop (no lock): relay
 * buffers and splice pipes are taken from it when a direction has bytes to
 * move and given back once it is empty, so idle sessions hold none. At most
 * p_max objects are kept; pool_trim(), called now and then by the owner,
 * destroys the ones that were not needed since the last trim, so an idle
 * loop gives everything back within two trims.
 *
 * Built with AddressSanitizer, an idle object's bytes past its link are
 * poisoned, so that a use after pool_put() is reported as one (a free list
 * otherwise hides it from the sanitizer), and an object given back twice
 * aborts: two holders of one buffer would mix their streams silently.
 */
#ifndef MPTCP_RELAYD_POOL_H
#define MPTCP_RELAYD_POOL_H

#include <stddef.h>

/* Defined when built with AddressSanitizer: pools check their use. */
#if defined(__SANITIZE_ADDRESS__)
#define POOL_ASAN	1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define POOL_ASAN	1
#endif
#endif

/* The first member of every pooled object. */
struct pool_link {
	struct pool_link	*pl_next;
};

struct pool {
	struct pool_link	*p_free;
	unsigned		 p_nfree;
	unsigned		 p_lowfree;	/* least p_nfree since a trim */
	unsigned		 p_max;
	size_t			 p_size;	/* of one object */
	void			(*p_destroy)(struct pool_link *, void *);
	void			*p_arg;
};

/*
 * An empty pool of objects of size bytes (their link first) that keeps at
 * most max idle ones and destroys the others with destroy(obj, arg).
 */
void	pool_init(struct pool *p, unsigned max, size_t size,
	    void (*destroy)(struct pool_link *, void *), void *arg);

/* An idle object, or NULL when the pool is empty (the caller makes one). */
struct pool_link *pool_get(struct pool *p);

/* Keep obj for reuse, or destroy it when the pool is full. */
void	pool_put(struct pool *p, struct pool_link *obj);

/*
 * Destroy the idle objects that were not needed since the last trim (as
 * many as the pool never went below). Returns how many idle objects are
 * left: an owner that trims periodically while this is not 0 empties an
 * idle pool within two calls.
 */
unsigned pool_trim(struct pool *p);

/* Destroy every idle object. */
void	pool_clear(struct pool *p);

#endif
