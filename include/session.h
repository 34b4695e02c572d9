/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

/*
 * Sessions: one accepted client and its upstream, relayed both ways.
 * Each direction is bounded by one buffer (SESSION_BUF_SIZE) or, when the
 * session relays with splice(2), one pipe filled to at most as much: a
 * side is not read while the bytes it sent still fill the buffer or pipe
 * towards the other, so a slow reader holds back its peer instead of
 * growing memory. Buffers and pipes come from pools of the event loop and
 * go back once a direction is empty, so idle sessions hold neither. An end
 * of stream on one side becomes shutdown(SHUT_WR) on the other once all
 * its bytes are through; a reset on one side resets the other. Every
 * session ends in session_close(), which logs one line.
 */
#ifndef MPTCP_RELAYD_SESSION_H
#define MPTCP_RELAYD_SESSION_H

#include <sys/queue.h>
#include <sys/socket.h>
#include <stdint.h>

#include <event2/event.h>
#include <event2/event_struct.h>

#include "config.h"
#include "splice.h"

#define SESSION_BUF_SIZE	(64 * 1024)

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
	SESSION_END__MAX
};

struct session;
struct relay_buf;
TAILQ_HEAD(session_list, session);

/*
 * The sessions of one event loop. Owned by the daemon; sessions register
 * in it and leave it when they close.
 */
struct session_ctx {
	struct event_base	*sc_base;
	struct session_list	 sc_sessions;
	unsigned		 sc_count;
	struct relay_buf	*sc_freebufs;	/* pool of idle buffers */
	unsigned		 sc_nfreebufs;
	struct splice_pool	 sc_pipes;	/* pool of idle pipes */
	struct event		 sc_pipes_ev;	/* trims sc_pipes */
	bool			 sc_pipes_ev_on;
	/* Called, if set, after a session closed and left the context. */
	void			(*sc_closed_cb)(struct session_ctx *, void *);
	void			*sc_closed_arg;
};

void	session_ctx_init(struct session_ctx *sc, struct event_base *base);
/* Free the buffer and pipe pools; the context must have no sessions left. */
void	session_ctx_clear(struct session_ctx *sc);

/*
 * Take over the accepted client socket fd (non-blocking) of the listener
 * conf in config cf and start connecting to the upstream. The session
 * takes its own reference on cf. On failure fd is closed and -1 returned
 * after logging why; the caller owns nothing either way.
 */
int	session_start(struct session_ctx *sc, struct config *cf,
	    const struct listener_config *conf, int fd,
	    const struct sockaddr *client, socklen_t clientlen);

/*
 * End a session: free both sides, its timers and buffers, drop its config
 * reference and write its log line with the reason. A reset reason passes
 * the reset on to the other side.
 */
void	session_close(struct session *se, enum session_end reason);

/* Close every session of the context with the reason. */
void	session_close_all(struct session_ctx *sc, enum session_end reason);

/* The "end=" word of a reason. */
const char *session_end_name(enum session_end reason);

#endif
