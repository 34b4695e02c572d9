/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

/*
 * Sessions: one accepted client and its upstream, relayed both ways.
 *
 * Read this first. A session has two sides, se_client and se_upstream,
 * that mirror each other (relayd's se_in and se_out). Each side owns the
 * direction of bytes that starts at it: what it reads waits in one buffer
 * (SESSION_BUF_SIZE) or one pipe, filled to at most as much, until its
 * peer has taken it, and the side is not read while that is full: a slow
 * reader holds its peer back instead of growing memory. Buffers and pipes
 * come from pools of the event loop and go back once a direction is empty,
 * so an idle session holds neither.
 *
 * Stages. A session moves through the stages of enum session_stage, in
 * this order, and only session_set_stage() (in session.c) changes the
 * stage: it refuses any other move as a broken invariant and logs each
 * change at debug level. The stages that later features add (reading a
 * PROXY header, TLS handshakes) slot in between accepted and relaying.
 *
 * The I/O layer. A side never calls read(2) or send(2) itself: it goes
 * through its struct io (io.h), a table of read, write, shutdown and close
 * plus what the layer waits for next. The raw socket is one layer; TLS is
 * another. Only when both sides are raw may bytes skip the layer and move
 * with splice(2). A layer may hold bytes that its descriptor no longer
 * signals (decrypted TLS records): the session reads those without
 * waiting for an event.
 *
 * Ends. An end of stream on one side becomes a shutdown of the other once
 * all of its bytes are through (a half-close); a reset on one side resets
 * the other. Every session ends in session_close(), which writes its one
 * log line. A side that is still owed bytes when the relay itself ends the
 * session (a timeout, a stop, no memory, no upstream) gets a reset, never
 * the FIN of a clean end: a cut stream must not look complete.
 */
#ifndef MPTCP_RELAYD_SESSION_H
#define MPTCP_RELAYD_SESSION_H

#include <sys/queue.h>
#include <sys/socket.h>
#include <stdint.h>

#include <event2/event.h>
#include <event2/event_struct.h>

#include "budget.h"
#include "config.h"
#include "io.h"
#include "pool.h"
#include "relay.h"
#include "splice.h"

/*
 * What a direction holds at most. 128 KiB, not 64: a single stream from an
 * MPTCP client reached 11.3 Gbit/s against 8.4 with 64 KiB, at 0.29 CPU s
 * per GiB against 0.36, from reads of 83 KiB on average against 54 (fewer
 * rounds of epoll_wait, read and send per byte; bench/README). An idle
 * session holds no buffer, whatever the size.
 */
#define SESSION_BUF_SIZE	(128 * 1024)

/* The life of a session; see session_set_stage() for the moves allowed. */
enum session_stage {
	/*
	 * The client socket belongs to the session; nothing has started. A
	 * session leaves this stage within session_start().
	 */
	SESSION_ACCEPTED,
	/*
	 * accept_proxy: reading the PROXY protocol header the client (a load
	 * balancer) sends first, bounded by handshake_timeout and by the
	 * header's size (proxy_proto.h). Bytes that follow the header wait in
	 * the client's buffer; the session then uses the header's addresses.
	 */
	SESSION_PROXY_IN,
	/*
	 * tls_cert: the TLS handshake with the client, bounded (with the
	 * PROXY header before it) by handshake_timeout. The client's side
	 * goes through the TLS layer from here on.
	 */
	SESSION_TLS_ACCEPT,
	/*
	 * The upstream connect (and its retries over the addresses) is under
	 * way, bounded by connect_timeout per address. The client is not read
	 * yet: what it sends waits in its socket.
	 */
	SESSION_CONNECTING,
	/*
	 * upstream_tls: the TLS handshake with the upstream (after the PROXY
	 * header, sent in cleartext first), bounded by connect_timeout; no
	 * byte of either side moves before it has verified the upstream.
	 */
	SESSION_TLS_CONNECT,
	/* Both sides open, bytes flowing both ways. */
	SESSION_RELAYING,
	/*
	 * One direction has ended (its end of stream was passed on: a
	 * half-close); the other still flows.
	 */
	SESSION_DRAINING,
	/* session_close() ran; the session is freed at once. */
	SESSION_CLOSED,
	SESSION_STAGE__MAX
};

/* Why a session ended: the "end=" field of its log line. */
enum session_end {
	SESSION_END_CLIENT_CLOSE,	/* both ways done, the client ended first */
	SESSION_END_UPSTREAM_CLOSE,	/* both ways done, the upstream ended first */
	SESSION_END_CLIENT_RESET,	/* error or reset on the client side */
	SESSION_END_UPSTREAM_RESET,	/* error or reset on the upstream side */
	SESSION_END_CONNECT_FAILED,	/* no upstream address accepted */
	SESSION_END_CONNECT_TIMEOUT,	/* connect_timeout ran out */
	SESSION_END_IDLE_TIMEOUT,	/* no traffic for idle_timeout */
	SESSION_END_SHUTDOWN,		/* the daemon stopped */
	SESSION_END_NO_MEMORY,
	SESSION_END_TLS_HANDSHAKE,	/* the upstream's TLS handshake failed */
	SESSION_END__MAX
};

struct session;
TAILQ_HEAD(session_list, session);

struct session_ctx;
typedef void (*session_ctx_cb)(struct session_ctx *, void *);

/*
 * The sessions of one event loop, and what they share there: the pools
 * of buffers and pipes and the process's descriptor budget. Owned by the
 * loop's owner (the daemon or a worker); only that loop's thread touches
 * it, but for sc_count, which others may read (atomic).
 */
struct session_ctx {
	struct event_base	*sc_base;
	int			 sc_loop;	/* index of the loop's counters */
	struct budget		*sc_budget;
	struct session_list	 sc_sessions;
	unsigned		 sc_count;	/* atomic */
	uint64_t		 sc_serial;	/* for session ids */
	struct pool		 sc_bufs;	/* idle relay buffers */
	struct splice_pool	 sc_pipes;	/* idle pipes */
	struct event		 sc_trim_ev;	/* trims both pools */
	bool			 sc_trim_on;
	/* Lines about refused clients, at most so many a second. */
	struct log_limit	 sc_refused_log;
	struct event		 sc_refused_ev;	/* says how many were held */
	bool			 sc_refused_on;
	/* A stop in progress (session_ctx_drain). */
	struct event		 sc_drain_ev;
	bool			 sc_drain_on;
	session_ctx_cb		 sc_drained_cb;
	void			*sc_drained_arg;
	/*
	 * How an accepted client socket becomes its side's I/O layer:
	 * io_raw_init() unless set. Tests set it to a layer of their own.
	 */
	void			(*sc_client_io)(struct io *, int);
};

/*
 * Set up the context of the event loop base: loop is its index among the
 * loops (the slot of its counters in each relay), budget the process's
 * descriptor budget (NULL in tests: no limit).
 */
void	session_ctx_init(struct session_ctx *sc, struct event_base *base,
	    int loop, struct budget *budget);

/* Free the pools; the context must have no sessions left. */
void	session_ctx_clear(struct session_ctx *sc);

/*
 * Take over the accepted client socket fd (non-blocking) of section rl,
 * whose configuration is conf in cf, and start connecting to the upstream.
 * The caller counted the client in (budget_session_take() on sc_budget and
 * relay_session_in() on rl); the session counts it out when it ends, and
 * takes references of its own on rl and cf. On failure fd is closed, the
 * counts are given back and -1 returned after logging why; the caller
 * owns nothing either way.
 */
int	session_start(struct session_ctx *sc, struct relay *rl,
	    struct config *cf, const struct listener_config *conf, int fd,
	    const struct sockaddr *client, socklen_t clientlen);

/*
 * End a session: free both sides, its timers and buffers, write its log
 * line with the reason, count it in its relay's counters and out of the
 * budget, and drop its references.
 */
void	session_close(struct session *se, enum session_end reason);

/* Close every session of the context with the reason. */
void	session_close_all(struct session_ctx *sc, enum session_end reason);

/*
 * Stop the context: its sessions run on for at most ms milliseconds and
 * are then closed (end=shutdown); with ms 0 they are closed at once. done
 * runs once, from the loop, when no session is left (at once if none is).
 * Calling it again closes what is left at once.
 */
void	session_ctx_drain(struct session_ctx *sc, uint64_t ms,
	    session_ctx_cb done, void *arg);

/* The "end=" word of a reason, and the name of a stage. */
const char *session_end_name(enum session_end reason);
const char *session_stage_name(enum session_stage stage);

/* Whether a session may move from one stage to the other. Pure. */
bool	session_stage_allowed(enum session_stage from, enum session_stage to);

#endif
