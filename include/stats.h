/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

/*
 * What the daemon tells about itself while it runs: the metrics endpoint
 * ([global] stats_listen) and the watch on the kernel's MPTCP blackhole
 * detection. Both live in the daemon's own event loop.
 *
 * The endpoint is libevent's evhttp on a TCP socket of our own: GET (and
 * HEAD) /metrics answers in the Prometheus text format (metrics.c renders
 * it), / with a small page that links there; any other path is 404 and
 * any other method on those two 405 (CONNECT, which names a host rather
 * than a path, always 405). A scraper cannot make it spend much:
 * request headers are capped, a body is refused, a connection that says
 * nothing for STATS_TIMEOUT_S is closed, at most STATS_CONNS_MAX
 * connections are served at once (others wait in the listen queue), and
 * a scrape only sums per-loop counters and loads atomics: no lock that a
 * relaying thread takes, no wait.
 *
 * A reload moves the endpoint when stats_listen changes, in two steps
 * around the listeners' own change: stats_prepare() binds the new address
 * while the old one still serves (a failure fails the reload, nothing
 * changed), then stats_commit() closes the old one, or stats_abort()
 * the new one.
 *
 * The watch reads the kernel's MPTcpExt counters every STATS_WATCH_MS and
 * at each scrape, and logs one warning each time Blackhole has risen: the
 * kernel then makes outgoing MPTCP connections as plain TCP for a while.
 */
#ifndef MPTCP_RELAYD_STATS_H
#define MPTCP_RELAYD_STATS_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>
#include <event2/event_struct.h>

#include "config.h"
#include "netstat.h"
#include "relay.h"

#define STATS_CONNS_MAX		16	/* connections served at once */
#define STATS_BACKLOG		16	/* and waiting to be accepted */
#define STATS_HEADERS_MAX	8192	/* bytes of request line and headers */
#define STATS_TIMEOUT_S		10	/* to read a request or write a reply */
#define STATS_WATCH_MS		10000	/* between reads of the counters */

struct evhttp;
struct evhttp_bound_socket;
struct bufferevent;

struct stats {
	struct event_base		*st_base;
	const struct relay_set		*st_relays;
	struct evhttp			*st_http;	/* NULL until needed */
	/* The endpoint's socket, and the one a reload is moving it to. */
	struct evhttp_bound_socket	*st_bound;
	struct config_addr		 st_addr;
	struct evhttp_bound_socket	*st_next;
	struct config_addr		 st_next_addr;
	bool				 st_preparing;	/* until commit/abort */
	bool				 st_swapped;	/* old closed for next */
	/* Connections being served: a reference on each one's bufferevent. */
	struct bufferevent		*st_conns[STATS_CONNS_MAX];
	int				 st_nconns;
	bool				 st_paused;	/* at the cap */
	struct event			 st_sweep_ev;
	bool				 st_sweep_on;
	/* What a scrape exports besides the relays. */
	bool				 st_mptcp_ready;
	double				 st_start_time;	/* since the epoch */
	struct netstat_mptcp		*st_kernel;	/* scratch, per read */
	/* The blackhole watch. */
	struct event			 st_watch_ev;
	uint64_t			 st_blackhole;
	bool				 st_blackhole_known;
};

/*
 * Set up st for the daemon's loop base, exporting the relays of rs (the
 * daemon's running set, which the daemon changes in place), and start the
 * blackhole watch. No endpoint yet: stats_prepare() and stats_commit().
 * Returns 0, or -1 after logging why (out of memory).
 */
int	stats_init(struct stats *st, struct event_base *base,
	    const struct relay_set *rs);

/*
 * The first step of a start or reload to config cf: bind cf's
 * stats_listen if the endpoint is not there already, the old one still
 * serving. Returns 0, or -1 after logging why (with what address and
 * system call), nothing changed.
 */
int	stats_prepare(struct stats *st, const struct config *cf);

/*
 * The change went through: serve on what stats_prepare() bound (or
 * nothing, if cf had no stats_listen) and close the old socket; take the
 * MPTCP verdict again (diagnose_ready()).
 */
void	stats_commit(struct stats *st);

/* The change failed elsewhere: close what stats_prepare() bound. */
void	stats_abort(struct stats *st);

/*
 * Descriptors the endpoint may hold (its sockets and connections), for
 * the descriptor budget: 0 while it was never configured.
 */
unsigned stats_fds(const struct stats *st);

/* Close everything and free what st holds. */
void	stats_clear(struct stats *st);

/*
 * Whether the Blackhole counter rose from *last to now (false the first
 * time, when known is false): updates *last and *known. Pure.
 */
bool	stats_blackhole_rose(uint64_t *last, bool *known, uint64_t now);

#endif
