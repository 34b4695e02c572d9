/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

/*
 * The runtime object of one [NAME] section (relayd's struct relay): what
 * the section is configured to do now, beside what it does and has done,
 * shared by every event loop and thread that serves it.
 *
 *  - rl_config/rl_conf: the current configuration of the section, read and
 *    swapped by the daemon's own loop only (a reload); a session takes a
 *    reference on the config it starts with and keeps it to the end.
 *  - The upstream address set and the state of each address (connects by
 *    result, sessions on it), shared by every loop: a reference-counted set
 *    that a reload replaces, carrying over the state of the addresses that
 *    remain; a connecting session holds the set it picked from.
 *  - rl_sessions: sessions of this section now, from every loop (atomic).
 *  - Counters, one block per event loop, written only by that loop and
 *    summed when read: nothing on the data path takes a lock or a shared
 *    cache line.
 *
 * A relay outlives a reload that drops its section until its last
 * session has ended (reference counts).
 */
#ifndef MPTCP_RELAYD_RELAY_H
#define MPTCP_RELAYD_RELAY_H

#include <sys/socket.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"

/* Room for the session end reasons (session.h checks that they fit). */
#define RELAY_ENDS_MAX		16

/* The outcome of one connect attempt to an upstream address. */
enum relay_connect_result {
	RELAY_CONNECT_OK,
	RELAY_CONNECT_REFUSED,
	RELAY_CONNECT_TIMEOUT,
	RELAY_CONNECT_ERROR,
	RELAY_CONNECT__MAX
};

/*
 * Why a client was closed before relaying (never counted as a session):
 * the "reason" label of mptcp_relayd_refused_total.
 */
enum relay_refusal {
	RELAY_REFUSED_ACL,		/* allow, deny, accept_proxy_from */
	RELAY_REFUSED_PROXY_HEADER,	/* missing, malformed, too slow */
	RELAY_REFUSED_TLS_HANDSHAKE,	/* failed or too slow */
	RELAY_REFUSED_DESTINATION,	/* none, unknown, not allowed, a loop */
	RELAY_REFUSED__MAX
};

/*
 * The buckets of mptcp_relayd_session_subflows, the most subflows each
 * ended MPTCP session had: at most 1, 2, 3, 4, 8, and more (the kernel
 * allows 8 per connection, so the last stays empty but for a change of
 * that limit).
 */
#define RELAY_SUBFLOW_BOUNDS	{ 1, 2, 3, 4, 8 }
#define RELAY_SUBFLOW_NBOUNDS	5

/* What one event loop counted for a section; see RELAY_COUNT. */
struct relay_counters {
	uint64_t	rc_active;		/* sessions open now */
	uint64_t	rc_sessions_mptcp;	/* by the client's protocol, */
	uint64_t	rc_sessions_tcp;	/* once it is known */
	uint64_t	rc_bytes_in;		/* from clients */
	uint64_t	rc_bytes_out;		/* to clients */
	uint64_t	rc_ends[RELAY_ENDS_MAX];
	uint64_t	rc_refused[RELAY_REFUSED__MAX];
	/* Ended MPTCP sessions by most subflows: one per bucket, and more. */
	uint64_t	rc_subflows[RELAY_SUBFLOW_NBOUNDS + 1];
	uint64_t	rc_subflows_sum;
} __attribute__((aligned(64)));

/*
 * Add n to a counter of the calling loop's own block: a plain add that
 * readers in other threads may load at any time (relaxed atomics).
 */
#define RELAY_COUNT(c, field, n)					\
	__atomic_store_n(&(c)->field, (c)->field + (uint64_t)(n),	\
	    __ATOMIC_RELAXED)

/* Count an ended MPTCP session that had at most n subflows at once. */
static inline void
relay_count_subflows(struct relay_counters *c, unsigned n)
{
	static const unsigned	bounds[RELAY_SUBFLOW_NBOUNDS] =
	    RELAY_SUBFLOW_BOUNDS;
	int			i;

	for (i = 0; i < RELAY_SUBFLOW_NBOUNDS && n > bounds[i]; i++)
		;
	RELAY_COUNT(c, rc_subflows[i], 1);
	RELAY_COUNT(c, rc_subflows_sum, n);
}

/*
 * The state of one upstream address (atomic fields), shared by every set
 * that has the address, so that it survives a reload or a new DNS answer
 * and stays exact while sessions of an older set end.
 */
struct relay_upstate {
	unsigned		rs_refcnt;	/* atomic */
	uint64_t		rs_connects[RELAY_CONNECT__MAX];
	unsigned		rs_active;	/* sessions relaying to it */
	uint64_t		rs_failed_at;	/* monotonic ms of the last failed
						   connect; 0: none since a success */
	unsigned		rs_down;	/* 1 while health checks fail */
};

/*
 * One address of the upstream set. With upstream = destination the set
 * has one, with no address, that stands for every destination: each
 * session connects through a set of its own (relay_upset_destination())
 * whose one address is its destination and shares this one's state, so
 * that every destination is counted under one name and no destination's
 * failure takes the others out of service.
 */
struct relay_upstream {
	struct config_addr	 ru_addr;	/* ca_text: the upstream as written */
	struct relay_upstate	*ru_st;
	/* The host of its upstream line: a name, or the address's text. */
	char			 ru_host[PARSE_HOST_MAX];
	bool			 ru_destination;	/* upstream = destination */
};

/* The addresses sessions may connect to, in the order of the file. */
struct relay_upset {
	unsigned		us_refcnt;	/* atomic */
	int			us_n;
	struct relay_upstream	us_addrs[];
};

struct relay {
	char			 rl_name[CONFIG_NAME_MAX];
	unsigned		 rl_refcnt;	/* atomic */
	struct config		*rl_config;	/* referenced; daemon loop only */
	const struct listener_config *rl_conf;
	unsigned		 rl_sessions;	/* atomic */
	int			 rl_nloops;
	struct relay_counters	*rl_counters;	/* [rl_nloops] */
	pthread_mutex_t		 rl_lock;	/* guards rl_upset */
	struct relay_upset	*rl_upset;
	unsigned		 rl_cursor;	/* atomic: roundrobin */
	/*
	 * The upstream lines of the current configuration with the
	 * addresses their names resolve to now (daemon loop only).
	 */
	struct config_upstream	*rl_ups;
	int			 rl_nups;
	unsigned		 rl_ups_gen;	/* changes when rl_ups is replaced */
	bool			 rl_capped;	/* at max_connections; daemon loop */
};

/* The relays of a configuration, in the order of its sections. */
struct relay_set {
	struct relay	**rs_relays;
	int		  rs_n;
};

/*
 * A new relay for section lc of config cf (referenced) with counters for
 * nloops event loops, holding one reference; NULL when out of memory.
 */
struct relay	*relay_new(struct config *cf, const struct listener_config *lc,
		    int nloops);

/* Take and drop a reference; the last relay_unref frees the relay. */
void		 relay_ref(struct relay *rl);
void		 relay_unref(struct relay *rl);

/*
 * The relays for config cf, from the running set cur: a section whose
 * name is in cur keeps its relay (and state), any other gets a new one.
 * Nothing changes in cur: on success *next holds a reference on each of
 * its relays, the current configuration of the kept ones still the old
 * one until relay_set_commit(). Returns 0, or -1 when out of memory.
 * Linear in the number of sections (after sorting names).
 */
int		 relay_set_prepare(const struct relay_set *cur,
		    struct config *cf, int nloops, struct relay_set *next);

/*
 * Switch to next: each relay takes its section of cf as its current
 * configuration (sessions running keep theirs) and a new upstream set
 * that keeps the state of the addresses it shares with the old one; the
 * relays of cur not in next are released (they live on while sessions
 * use them). cur becomes next.
 */
void		 relay_set_commit(struct relay_set *cur, struct relay_set *next,
		    struct config *cf);

/* Drop a set's references and empty it. */
void		 relay_set_clear(struct relay_set *rs);

/* The calling loop's counters (loop is the session context's index). */
static inline struct relay_counters *
relay_counters(struct relay *rl, int loop)
{
	return &rl->rl_counters[loop];
}

/* The sum of every loop's counters, read without a lock. */
void		 relay_counters_sum(const struct relay *rl,
		    struct relay_counters *sum);

/*
 * Host name i of the section now resolves to addrs[0..n-1] (the daemon
 * loop's resolver says so): rebuild the address set, keeping the state of
 * the addresses that remain, and log what was added and removed. Sessions
 * on a removed address go on. n 0 (no answer) keeps what was there.
 */
void		 relay_resolved(struct relay *rl, int i,
		    const struct config_addr *addrs, int n);

/*
 * The current upstream address set, referenced (any thread); give it back
 * with relay_upset_put().
 */
struct relay_upset *relay_upset_get(struct relay *rl);
void		 relay_upset_put(struct relay_upset *us);

/*
 * For a session of a section with upstream = destination: a new set
 * (one reference, the caller's) whose one address is dst (AF_INET or
 * AF_INET6), sharing the state of the section's destination entry, or
 * state of its own when the section has none any more (a reload changed
 * it while the session started under the old configuration). NULL when
 * out of memory.
 */
struct relay_upset *relay_upset_destination(struct relay *rl,
		    const struct sockaddr *dst, socklen_t len);

/*
 * Whether address ru is in service at now (monotonic ms): neither backed
 * off after a failed connect (for backoff_ms) nor failing its health
 * checks. Any thread; atomic reads.
 */
bool		 relay_upstream_up(const struct relay_upstream *ru,
		    uint64_t now, uint64_t backoff_ms);

/* Count a session of the section in and out (any thread). */
void		 relay_session_in(struct relay *rl);
void		 relay_session_out(struct relay *rl);

/*
 * Count a session in unless the section has max sessions already (0: no
 * cap). Returns false at the cap.
 */
bool		 relay_session_take(struct relay *rl, unsigned max);

/* The "reason" word of a refusal. */
const char	*relay_refusal_name(enum relay_refusal reason);

#endif
