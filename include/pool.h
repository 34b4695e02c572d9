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
 */
#ifndef MPTCP_RELAYD_POOL_H
#define MPTCP_RELAYD_POOL_H

/* The first member of every pooled object. */
struct pool_link {
	struct pool_link	*pl_next;
};

struct pool {
	struct pool_link	*p_free;
	unsigned		 p_nfree;
	unsigned		 p_lowfree;	/* least p_nfree since a trim */
	unsigned		 p_max;
	void			(*p_destroy)(struct pool_link *, void *);
	void			*p_arg;
};

/*
 * An empty pool that keeps at most max idle objects and destroys the
 * others with destroy(obj, arg).
 */
void	pool_init(struct pool *p, unsigned max,
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
