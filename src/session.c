/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

#include "autoconf.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/event_struct.h>

#include "clock.h"
#include "compat.h"
#include "log.h"
#include "session.h"
#include "sock.h"
#include "upstream.h"

/* Idle buffers kept for reuse per event loop (64 KiB each). */
#define SESSION_POOL_MAX	32
/* How often, at most, a busy session asks the kernel about its subflows. */
#define SESSION_SAMPLE_MS	1000
/* How often idle buffers and pipes are trimmed: gone after two. */
#define SESSION_TRIM_MS		1000
/*
 * Splicing a few bytes costs more than copying them (pipe pages on both
 * ends): a direction splices once one read brought at least this much,
 * and goes back to copying after SESSION_SPLICE_SMALL smaller spliced
 * reads in a row, so requests and replies are copied and bulk is not.
 */
#define SESSION_SPLICE_MIN	(16 * 1024)
#define SESSION_SPLICE_SMALL	4
/*
 * Reads in a row from a layer that holds bytes its descriptor does not
 * signal (TLS) before the loop serves others; the rest follows from the
 * next loop turn.
 */
#define SESSION_PENDING_READS	8

/* A direction leaving splice moves what its pipe holds into one buffer. */
_Static_assert(SPLICE_PIPE_LIMIT <= SESSION_BUF_SIZE,
    "a pipe must fit into a relay buffer");
_Static_assert(SESSION_END__MAX <= RELAY_ENDS_MAX,
    "every end reason has a counter");

/*
 * Bytes read from one side and not yet written to the other. Reads go to
 * the tail; once everything is written the buffer returns to the pool,
 * so an idle session holds none.
 */
struct relay_buf {
	struct pool_link	 rb_link;	/* in the pool */
	uint32_t		 rb_off;	/* first unwritten byte */
	uint32_t		 rb_len;	/* unwritten bytes */
	char			 rb_data[SESSION_BUF_SIZE];
};

enum side_mptcp_state {
	SIDE_MPTCP_UNKNOWN,	/* not asked yet */
	SIDE_MPTCP_YES,		/* the kernel reported MPTCP */
	SIDE_MPTCP_NO,		/* plain TCP, or fell back: never asked again */
};

/*
 * One socket of a session; se_client and se_upstream mirror each other.
 * The state is grouped by concern: the byte stream, the event
 * registration, MPTCP sampling and the splice heuristic.
 */
struct session_side {
	struct io		 ss_io;
	struct session_side	*ss_peer;
	struct session		*ss_se;
	/* The direction that starts here: read here, for the peer. */
	struct relay_buf	*ss_buf;
	struct splice_pipe	*ss_pipe;	/* or spliced; never both */
	uint64_t		 ss_bytes;	/* read from this side */
	struct {
		bool		 eof;	/* the side ended its stream */
		bool		 shut;	/* we ended our stream towards it */
	}			 ss_stream;
	struct {
		struct event	 rev;
		struct event	 wev;
		bool		 assigned;
		bool		 rev_on;	/* rev added */
		bool		 wev_on;
		bool		 read;	/* we want to read the side */
		bool		 write;	/* we have something to give it */
	}			 ss_ev;
	struct {
		enum side_mptcp_state state;
		unsigned	 most;	/* most subflows seen */
		unsigned	 last;	/* at the last sample */
	}			 ss_mptcp;
	struct {
		bool		 stream;	/* reads are large: splice */
		unsigned	 small;	/* small spliced reads in a row */
	}			 ss_splice;
};

struct session {
	TAILQ_ENTRY(session)		 se_entry;
	uint64_t			 se_id;
	struct session_ctx		*se_ctx;
	struct relay			*se_relay;	/* referenced */
	struct config			*se_config;	/* referenced */
	const struct listener_config	*se_conf;
	enum session_stage		 se_stage;
	bool				 se_splice;	/* may use splice(2) */
	bool				 se_counted;	/* client protocol counted */
	bool				 se_eof_sampled; /* at the first EOF */
	struct session_side		 se_client;
	struct session_side		 se_upstream;
	struct session_side		*se_first_eof;
	struct upstream_conn		 se_connect;
	struct relay_upset		*se_upset;	/* referenced */
	struct relay_upstream		*se_up;	/* the address used or tried */
	bool				 se_up_active;	/* counted in se_up */
	int				 se_error;	/* connect errno */
	struct event			 se_timer;	/* idle_timeout */
	bool				 se_timer_on;
	uint64_t			 se_start;	/* monotonic ms */
	uint64_t			 se_active;	/* last traffic */
	uint64_t			 se_sampled;	/* last MPTCP sample */
	struct sockaddr_storage		 se_peer;
};

static const char *const session_end_names[SESSION_END__MAX] = {
	[SESSION_END_CLIENT_CLOSE] = "client_close",
	[SESSION_END_UPSTREAM_CLOSE] = "upstream_close",
	[SESSION_END_CLIENT_RESET] = "client_reset",
	[SESSION_END_UPSTREAM_RESET] = "upstream_reset",
	[SESSION_END_CONNECT_FAILED] = "connect_failed",
	[SESSION_END_CONNECT_TIMEOUT] = "connect_timeout",
	[SESSION_END_IDLE_TIMEOUT] = "idle_timeout",
	[SESSION_END_SHUTDOWN] = "shutdown",
	[SESSION_END_NO_MEMORY] = "no_memory",
};

static const char *const session_stage_names[SESSION_STAGE__MAX] = {
	[SESSION_ACCEPTED] = "accepted",
	[SESSION_CONNECTING] = "connecting",
	[SESSION_RELAYING] = "relaying",
	[SESSION_DRAINING] = "draining",
	[SESSION_CLOSED] = "closed",
};

#define STAGE(s)	(1U << (s))

/* The moves allowed from each stage. */
static const unsigned session_stage_next[SESSION_STAGE__MAX] = {
	[SESSION_ACCEPTED] = STAGE(SESSION_CONNECTING) | STAGE(SESSION_CLOSED),
	[SESSION_CONNECTING] = STAGE(SESSION_RELAYING) | STAGE(SESSION_CLOSED),
	[SESSION_RELAYING] = STAGE(SESSION_DRAINING) | STAGE(SESSION_CLOSED),
	[SESSION_DRAINING] = STAGE(SESSION_CLOSED),
	[SESSION_CLOSED] = 0,
};

static int	session_side_read(struct session_side *);
static int	session_side_write(struct session_side *);

const char *
session_end_name(enum session_end reason)
{
	if (reason >= SESSION_END__MAX)
		return "unknown";
	return session_end_names[reason];
}

const char *
session_stage_name(enum session_stage stage)
{
	if (stage >= SESSION_STAGE__MAX)
		return "unknown";
	return session_stage_names[stage];
}

bool
session_stage_allowed(enum session_stage from, enum session_stage to)
{
	if (from >= SESSION_STAGE__MAX || to >= SESSION_STAGE__MAX)
		return false;
	return (session_stage_next[from] & STAGE(to)) != 0;
}

/*
 * The one place that changes a session's stage (memcached's
 * conn_set_state): a move the table does not allow is a bug in the relay,
 * not a condition of the network, and stops the daemon loudly.
 */
static void
session_set_stage(struct session *se, enum session_stage stage)
{
	if (!session_stage_allowed(se->se_stage, stage))
		fatalx("%s: session %llu: illegal stage change %s -> %s",
		    se->se_conf->lc_name, (unsigned long long)se->se_id,
		    session_stage_name(se->se_stage), session_stage_name(stage));
	if (log_enabled(LOG_LVL_DEBUG))
		log_debug("%s: session %llu: %s -> %s", se->se_conf->lc_name,
		    (unsigned long long)se->se_id,
		    session_stage_name(se->se_stage), session_stage_name(stage));
	se->se_stage = stage;
}

/* --- the loop's context: pools, trimming, draining ----------------------- */

static void
relay_buf_destroy(struct pool_link *link, void *arg)
{
	(void)arg;
	free(link);
}

static void
session_trim(evutil_socket_t fd, short what, void *arg)
{
	struct session_ctx	*sc = arg;
	struct timeval		 tv = clock_tv(SESSION_TRIM_MS);
	unsigned		 left;

	(void)fd;
	(void)what;
	sc->sc_trim_on = false;
	left = pool_trim(&sc->sc_bufs) + splice_pool_trim(&sc->sc_pipes);
	if (left > 0 && evtimer_add(&sc->sc_trim_ev, &tv) == 0)
		sc->sc_trim_on = true;
}

/* Something went back to a pool: trim it later, if not already due. */
static void
session_trim_later(struct session_ctx *sc)
{
	struct timeval	tv = clock_tv(SESSION_TRIM_MS);

	if (!sc->sc_trim_on && evtimer_add(&sc->sc_trim_ev, &tv) == 0)
		sc->sc_trim_on = true;
}

void
session_ctx_init(struct session_ctx *sc, struct event_base *base, int loop,
    struct budget *budget)
{
	memset(sc, 0, sizeof(*sc));
	sc->sc_base = base;
	sc->sc_loop = loop;
	sc->sc_budget = budget;
	sc->sc_serial = (uint64_t)loop << 48;
	TAILQ_INIT(&sc->sc_sessions);
	pool_init(&sc->sc_bufs, SESSION_POOL_MAX, relay_buf_destroy, NULL);
	splice_pool_init(&sc->sc_pipes, budget);
	evtimer_assign(&sc->sc_trim_ev, base, session_trim, sc);
}

void
session_ctx_clear(struct session_ctx *sc)
{
	if (sc->sc_trim_on) {
		evtimer_del(&sc->sc_trim_ev);
		sc->sc_trim_on = false;
	}
	if (sc->sc_drain_on) {
		evtimer_del(&sc->sc_drain_ev);
		sc->sc_drain_on = false;
	}
	pool_clear(&sc->sc_bufs);
	splice_pool_clear(&sc->sc_pipes);
}

static void
session_ctx_drained(struct session_ctx *sc)
{
	session_ctx_cb	cb = sc->sc_drained_cb;

	if (cb == NULL || sc->sc_count > 0)
		return;
	sc->sc_drained_cb = NULL;
	if (sc->sc_drain_on) {
		evtimer_del(&sc->sc_drain_ev);
		sc->sc_drain_on = false;
	}
	cb(sc, sc->sc_drained_arg);
}

static void
session_drain_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct session_ctx	*sc = arg;

	(void)fd;
	(void)what;
	sc->sc_drain_on = false;
	if (sc->sc_count > 0)
		log_notice("closing %u session%s still open", sc->sc_count,
		    sc->sc_count == 1 ? "" : "s");
	session_close_all(sc, SESSION_END_SHUTDOWN);
	session_ctx_drained(sc);
}

void
session_ctx_drain(struct session_ctx *sc, uint64_t ms, session_ctx_cb done,
    void *arg)
{
	struct timeval	tv = clock_tv(ms);

	if (sc->sc_drained_cb != NULL || ms == 0) {
		/* A second stop, or no grace: close what is left now. */
		if (sc->sc_drained_cb == NULL) {
			sc->sc_drained_cb = done;
			sc->sc_drained_arg = arg;
		}
		session_drain_timeout(-1, 0, sc);
		return;
	}
	sc->sc_drained_cb = done;
	sc->sc_drained_arg = arg;
	if (sc->sc_count == 0) {
		session_ctx_drained(sc);
		return;
	}
	evtimer_assign(&sc->sc_drain_ev, sc->sc_base, session_drain_timeout,
	    sc);
	if (evtimer_add(&sc->sc_drain_ev, &tv) == 0)
		sc->sc_drain_on = true;
}

static struct relay_buf *
relay_buf_get(struct session_ctx *sc)
{
	struct relay_buf	*rb;

	if ((rb = (struct relay_buf *)pool_get(&sc->sc_bufs)) == NULL &&
	    (rb = malloc(sizeof(*rb))) == NULL)
		return NULL;
	rb->rb_off = rb->rb_len = 0;
	return rb;
}

static void
relay_buf_put(struct session_ctx *sc, struct relay_buf *rb)
{
	pool_put(&sc->sc_bufs, &rb->rb_link);
	session_trim_later(sc);
}

static void
session_pipe_put(struct session_ctx *sc, struct splice_pipe *sp)
{
	splice_pipe_put(&sc->sc_pipes, sp);
	session_trim_later(sc);
}

/* --- MPTCP sampling and traffic ------------------------------------------ */

static const char *
side_name(const struct session_side *s)
{
	return s == &s->ss_se->se_client ? "client" : "upstream";
}

/* At debug level: which subflows a side has now, with their addresses. */
static void
session_log_subflows(struct session_side *s, unsigned before, unsigned now)
{
	struct sockaddr_storage	 local[SOCK_SUBFLOWS_MAX];
	struct sockaddr_storage	 remote[SOCK_SUBFLOWS_MAX];
	char			 list[SOCK_SUBFLOWS_MAX * 2 * SOCK_NTOP_MAX];
	char			 l[SOCK_NTOP_MAX], r[SOCK_NTOP_MAX];
	size_t			 off = 0;
	int			 i, n;

	list[0] = '\0';
	n = sock_mptcp_subflow_addrs(s->ss_io.io_fd, local, remote,
	    SOCK_SUBFLOWS_MAX);
	for (i = 0; i < n && i < SOCK_SUBFLOWS_MAX && off < sizeof(list); i++)
		off += snprintf(list + off, sizeof(list) - off, " %s<->%s",
		    sock_ntop((struct sockaddr *)&local[i], l, sizeof(l)),
		    sock_ntop((struct sockaddr *)&remote[i], r, sizeof(r)));
	log_debug("%s: session %llu: %s side: subflows %u -> %u:%s",
	    s->ss_se->se_conf->lc_name, (unsigned long long)s->ss_se->se_id,
	    side_name(s), before, now, list);
}

/*
 * Ask the kernel about one side's MPTCP state (one getsockopt): keep the
 * most subflows seen, notice a fallback to TCP. A side known to be plain
 * TCP is never asked again.
 */
static void
session_sample_side(struct session_side *s)
{
	struct sock_mptcp	m;

	if (s->ss_io.io_fd == -1 || s->ss_mptcp.state == SIDE_MPTCP_NO)
		return;
	if (sock_mptcp_state(s->ss_io.io_fd, &m) == -1)
		return;
	if (!m.sm_mptcp) {
		/* Plain TCP from the start, or fell back since. */
		s->ss_mptcp.state = SIDE_MPTCP_NO;
		return;
	}
	s->ss_mptcp.state = SIDE_MPTCP_YES;
	if (m.sm_subflows != s->ss_mptcp.last) {
		if (log_enabled(LOG_LVL_DEBUG))
			session_log_subflows(s, s->ss_mptcp.last,
			    m.sm_subflows);
		s->ss_mptcp.last = m.sm_subflows;
	}
	if (m.sm_subflows > s->ss_mptcp.most)
		s->ss_mptcp.most = m.sm_subflows;
}

static void
session_sample(struct session *se)
{
	struct relay_counters	*c;

	session_sample_side(&se->se_client);
	session_sample_side(&se->se_upstream);
	/*
	 * Counted by protocol once the kernel said, which costs no system
	 * call of its own: at the first sample (a second of traffic, the
	 * first end of stream, or the close).
	 */
	if (!se->se_counted && se->se_client.ss_mptcp.state !=
	    SIDE_MPTCP_UNKNOWN) {
		c = relay_counters(se->se_relay, se->se_ctx->sc_loop);
		if (se->se_client.ss_mptcp.state == SIDE_MPTCP_YES)
			RELAY_COUNT(c, rc_sessions_mptcp, 1);
		else
			RELAY_COUNT(c, rc_sessions_tcp, 1);
		se->se_counted = true;
	}
}

/*
 * Note traffic: the idle timer compares against this, and a busy session
 * samples its subflows at most once per SESSION_SAMPLE_MS.
 */
static void
session_touch(struct session *se)
{
	se->se_active = clock_ms();
	if (se->se_active - se->se_sampled >= SESSION_SAMPLE_MS) {
		se->se_sampled = se->se_active;
		session_sample(se);
	}
}

/* --- events ---------------------------------------------------------------- */

/*
 * Make the side's registered events what its wishes need, through what
 * its layer waits for: a raw socket reads on EV_READ and writes on
 * EV_WRITE; TLS may need the other. No system call when nothing changes.
 */
static void
side_sync(struct session_side *s)
{
	short	want = 0;

	if (!s->ss_ev.assigned)
		return;
	if (s->ss_ev.read)
		want |= s->ss_io.io_rd_want;
	if (s->ss_ev.write)
		want |= s->ss_io.io_wr_want;
	if ((want & EV_READ) && !s->ss_ev.rev_on) {
		event_add(&s->ss_ev.rev, NULL);
		s->ss_ev.rev_on = true;
	} else if (!(want & EV_READ) && s->ss_ev.rev_on) {
		event_del(&s->ss_ev.rev);
		s->ss_ev.rev_on = false;
	}
	if ((want & EV_WRITE) && !s->ss_ev.wev_on) {
		event_add(&s->ss_ev.wev, NULL);
		s->ss_ev.wev_on = true;
	} else if (!(want & EV_WRITE) && s->ss_ev.wev_on) {
		event_del(&s->ss_ev.wev);
		s->ss_ev.wev_on = false;
	}
}

static void
session_sync(struct session *se)
{
	side_sync(&se->se_client);
	side_sync(&se->se_upstream);
}

/*
 * The side's descriptor is ready for which (EV_READ or EV_WRITE): run
 * what waited for it. Returns -1 when the session was closed.
 */
static int
side_ready(struct session_side *s, short which)
{
	if (s->ss_ev.write && s->ss_io.io_wr_want == which &&
	    session_side_write(s) == -1)
		return -1;
	if (s->ss_ev.read && s->ss_io.io_rd_want == which &&
	    session_side_read(s) == -1)
		return -1;
	session_sync(s->ss_se);
	return 0;
}

static void
side_rev_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)side_ready(arg, EV_READ);
}

static void
side_wev_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)side_ready(arg, EV_WRITE);
}

static void
side_events_assign(struct session_side *s)
{
	struct event_base	*base = s->ss_se->se_ctx->sc_base;

	event_assign(&s->ss_ev.rev, base, s->ss_io.io_fd, EV_READ | EV_PERSIST,
	    side_rev_cb, s);
	event_assign(&s->ss_ev.wev, base, s->ss_io.io_fd,
	    EV_WRITE | EV_PERSIST, side_wev_cb, s);
	s->ss_ev.assigned = true;
}

/*
 * s wants to read and its layer holds bytes its descriptor will not
 * signal: run its read from the next loop turn.
 */
static void
side_kick(struct session_side *s)
{
	if (s->ss_ev.read && s->ss_ev.assigned && io_pending(&s->ss_io) > 0)
		event_active(&s->ss_ev.rev, EV_READ, 0);
}

/* --- relaying -------------------------------------------------------------- */

static enum session_end
side_reset_reason(const struct session_side *s)
{
	return s == &s->ss_se->se_client ? SESSION_END_CLIENT_RESET :
	    SESSION_END_UPSTREAM_RESET;
}

/* Whether both sides move bytes as they are, so that splice(2) may. */
static bool
session_can_splice(const struct session *se)
{
	return se->se_splice && se->se_client.ss_io.io_raw &&
	    se->se_upstream.ss_io.io_raw;
}

/*
 * splice(2) cannot move these descriptors' bytes (an old kernel, a seccomp
 * filter): say so once per event loop; this session and every later one
 * relay through buffers.
 */
static void
session_splice_failed(struct session *se, int err)
{
	se->se_splice = false;
	if (splice_pool_disable(&se->se_ctx->sc_pipes))
		log_warnx("splice(2) is not available here (%s): relaying "
		    "through buffers", strerror(err));
}

/*
 * Send what s's buffer holds to its peer. Returns 0 when the buffer is
 * empty (and back in the pool), 1 when bytes are left (the peer's write
 * is wanted, s's read not while the buffer has no room), -1 when the
 * session was closed.
 */
static int
session_flush_buf(struct session_side *s)
{
	struct session_side	*peer = s->ss_peer;
	struct relay_buf	*rb = s->ss_buf;
	ssize_t			 n;

	if (rb == NULL)
		return 0;
	if (rb->rb_len > 0) {
		n = io_write(&peer->ss_io, rb->rb_data + rb->rb_off,
		    rb->rb_len);
		if (n == -1) {
			if (errno != EAGAIN) {
				session_close(s->ss_se, side_reset_reason(peer));
				return -1;
			}
			n = 0;
		}
		rb->rb_off += (uint32_t)n;
		rb->rb_len -= (uint32_t)n;
	}
	if (rb->rb_len > 0) {
		peer->ss_ev.write = true;
		if (rb->rb_off + rb->rb_len == SESSION_BUF_SIZE)
			s->ss_ev.read = false;
		return 1;
	}
	relay_buf_put(s->ss_se->se_ctx, rb);
	s->ss_buf = NULL;
	return 0;
}

/*
 * The pipe of s cannot be spliced out: copy its bytes into a buffer (they
 * fit, see the assertion above) and go on with that. Returns as
 * session_flush_buf().
 */
static int
session_unsplice(struct session_side *s)
{
	struct session		*se = s->ss_se;
	struct splice_pipe	*sp = s->ss_pipe;
	struct relay_buf	*rb;
	ssize_t			 n;

	if ((rb = relay_buf_get(se->se_ctx)) == NULL) {
		session_close(se, SESSION_END_NO_MEMORY);
		return -1;
	}
	s->ss_buf = rb;
	while (sp->sp_len > 0) {
		n = splice_pipe_read(sp, rb->rb_data + rb->rb_len,
		    SESSION_BUF_SIZE - rb->rb_len);
		if (n <= 0) {
			/* Bytes stuck in our own pipe: the stream is lost. */
			log_warn("%s: reading back a pipe",
			    se->se_conf->lc_name);
			session_close(se, side_reset_reason(s));
			return -1;
		}
		rb->rb_len += (uint32_t)n;
	}
	session_pipe_put(se->se_ctx, sp);
	s->ss_pipe = NULL;
	return session_flush_buf(s);
}

/*
 * Splice what s's pipe holds to its peer. Returns as session_flush_buf().
 * A pipe can run out of pages before it holds sp_cap bytes, and reading s
 * then stops until some of it is through: so s is read again whenever
 * this moved bytes.
 */
static int
session_flush_pipe(struct session_side *s)
{
	struct session_side	*peer = s->ss_peer;
	struct session		*se = s->ss_se;
	struct splice_pipe	*sp = s->ss_pipe;
	ssize_t			 n;

	n = splice_pipe_drain(sp, peer->ss_io.io_fd);
	if (n == -1) {
		if (splice_unsupported(errno)) {
			session_splice_failed(se, errno);
			return session_unsplice(s);
		}
		if (errno != EAGAIN && errno != EINTR) {
			session_close(se, side_reset_reason(peer));
			return -1;
		}
		n = 0;
	}
	if (sp->sp_len > 0) {
		peer->ss_ev.write = true;
		if (sp->sp_len == sp->sp_cap)
			s->ss_ev.read = false;
		else if (n > 0 && !s->ss_stream.eof)
			s->ss_ev.read = true;
		return 1;
	}
	session_pipe_put(se->se_ctx, sp);
	s->ss_pipe = NULL;
	return 0;
}

/* Whether everything s sent has been passed on, its end included. */
static bool
side_done(const struct session_side *s)
{
	return s->ss_stream.eof && s->ss_buf == NULL && s->ss_pipe == NULL;
}

/*
 * Move what s has read on to its peer, then settle both sides' wishes:
 * wait for the peer to drain when it is full, stop reading s while its
 * buffer or pipe has no room, pass an end of stream on once all bytes are
 * through. Returns 0, or -1 when the session was closed (and freed).
 */
static int
session_flush(struct session_side *s)
{
	struct session_side	*peer = s->ss_peer;
	struct session		*se = s->ss_se;
	int			 left;

	if (s->ss_pipe != NULL)
		left = session_flush_pipe(s);
	else
		left = session_flush_buf(s);
	if (left != 0)
		return left == -1 ? -1 : 0;

	/* Everything s sent is through. */
	peer->ss_ev.write = false;
	if (!s->ss_stream.eof) {
		s->ss_ev.read = true;
		side_kick(s);
		return 0;
	}
	if (peer->ss_stream.shut)
		return 0;		/* passed on already */
	if (side_done(peer) && s->ss_stream.shut && peer->ss_io.io_raw) {
		/*
		 * Both ways are done. The peer's receive queue is empty (its
		 * end was read), so closing it sends the FIN a shutdown()
		 * would: one system call less per session.
		 */
		session_close(se, se->se_first_eof == &se->se_client ?
		    SESSION_END_CLIENT_CLOSE : SESSION_END_UPSTREAM_CLOSE);
		return -1;
	}
	if (io_shutdown(&peer->ss_io) == -1) {
		if (errno != EAGAIN) {
			session_close(se, side_reset_reason(peer));
			return -1;
		}
		peer->ss_ev.write = true;	/* again when it can */
		return 0;
	}
	peer->ss_stream.shut = true;
	if (side_done(peer) && s->ss_stream.shut) {
		session_close(se, se->se_first_eof == &se->se_client ?
		    SESSION_END_CLIENT_CLOSE : SESSION_END_UPSTREAM_CLOSE);
		return -1;
	}
	if (se->se_stage == SESSION_RELAYING)
		session_set_stage(se, SESSION_DRAINING);
	return 0;
}

/* Whether the next reads of s are worth splicing. */
static void
side_note_read(struct session_side *s, ssize_t n, bool spliced)
{
	if (n >= SESSION_SPLICE_MIN) {
		s->ss_splice.stream = true;
		s->ss_splice.small = 0;
	} else if (spliced && ++s->ss_splice.small >= SESSION_SPLICE_SMALL)
		s->ss_splice.stream = false;
}

/* s ended its stream: pass it on once its bytes are through. */
static int
session_eof(struct session_side *s)
{
	struct session	*se = s->ss_se;

	s->ss_stream.eof = true;
	s->ss_ev.read = false;
	if (se->se_first_eof == NULL) {
		se->se_first_eof = s;
		/*
		 * The first end of stream: every subflow a short session got
		 * is still there (by the close, the kernel may have dropped
		 * the extra ones already).
		 */
		session_sample(se);
		se->se_eof_sampled = true;
	}
	return session_flush(s);
}

/*
 * Read s once (more often while its layer holds bytes the descriptor does
 * not signal) and pass what came on. A direction with nothing pending
 * takes a pipe when the session splices and s streams (a buffer when no
 * pipe can be had, e.g. the budget's share is used up), and keeps it until
 * everything in it is through. Returns -1 when the session was closed.
 */
static int
session_side_read(struct session_side *s)
{
	struct session		*se = s->ss_se;
	struct relay_buf	*rb;
	struct splice_pipe	*sp;
	ssize_t			 n;
	int			 rounds = 0;

again:
	if (s->ss_pipe == NULL && s->ss_buf == NULL &&
	    s->ss_splice.stream && session_can_splice(se))
		s->ss_pipe = splice_pipe_get(&se->se_ctx->sc_pipes);
	if ((sp = s->ss_pipe) != NULL)
		n = splice_pipe_fill(sp, s->ss_io.io_fd, SIZE_MAX);
	else {
		if ((rb = s->ss_buf) == NULL) {
			if ((rb = relay_buf_get(se->se_ctx)) == NULL) {
				session_close(se, SESSION_END_NO_MEMORY);
				return -1;
			}
			s->ss_buf = rb;
		}
		if (rb->rb_off + rb->rb_len == SESSION_BUF_SIZE) {
			s->ss_ev.read = false;	/* no room: wait for the peer */
			return 0;
		}
		n = io_read(&s->ss_io, rb->rb_data + rb->rb_off + rb->rb_len,
		    SESSION_BUF_SIZE - rb->rb_off - rb->rb_len);
		if (n > 0)
			rb->rb_len += (uint32_t)n;
	}
	if (n > 0) {
		s->ss_bytes += (uint64_t)n;
		side_note_read(s, n, sp != NULL);
		session_touch(se);
		if (session_flush(s) == -1)
			return -1;
		if (s->ss_ev.read && io_pending(&s->ss_io) > 0) {
			if (++rounds < SESSION_PENDING_READS)
				goto again;
			side_kick(s);
		}
		return 0;
	}
	if (n == 0)
		return session_eof(s);
	if (sp != NULL && splice_unsupported(errno))
		session_splice_failed(se, errno);
	else if (errno != EAGAIN && errno != EINTR) {
		session_close(se, side_reset_reason(s));
		return -1;
	}
	/*
	 * Nothing read. An empty pipe or buffer goes back to its pool. A
	 * pipe with bytes in it may have no pages left: read again once the
	 * peer took some (its write is wanted while the pipe holds bytes).
	 */
	if (sp != NULL) {
		if (sp->sp_len == 0) {
			session_pipe_put(se->se_ctx, sp);
			s->ss_pipe = NULL;
		} else
			s->ss_ev.read = false;
	} else if (s->ss_buf->rb_len == 0) {
		relay_buf_put(se->se_ctx, s->ss_buf);
		s->ss_buf = NULL;
	}
	return 0;
}

/* s can take more: write what its peer has read, or pass its end on. */
static int
session_side_write(struct session_side *s)
{
	session_touch(s->ss_se);
	return session_flush(s->ss_peer);
}

static void
session_idle(evutil_socket_t fd, short what, void *arg)
{
	struct session	*se = arg;
	struct timeval	 tv;
	uint64_t	 idle;

	(void)fd;
	(void)what;
	se->se_timer_on = false;
	idle = clock_ms() - se->se_active;
	if (idle >= se->se_conf->lc_idle_timeout) {
		session_close(se, SESSION_END_IDLE_TIMEOUT);
		return;
	}
	/* Traffic moved the deadline: sleep until the new one. */
	tv = clock_tv(se->se_conf->lc_idle_timeout - idle);
	if (event_add(&se->se_timer, &tv) == 0)
		se->se_timer_on = true;
}

/* --- start and end ------------------------------------------------------- */

static void
side_init(struct session *se, struct session_side *s, struct session_side *peer)
{
	io_init(&s->ss_io);
	s->ss_peer = peer;
	s->ss_se = se;
}

static void
session_connected(int fd, int error, struct relay_upstream *ru, void *arg)
{
	struct session	*se = arg;

	se->se_up = ru;
	if (fd == -1) {
		se->se_error = error;
		session_close(se, error == ETIMEDOUT ?
		    SESSION_END_CONNECT_TIMEOUT : SESSION_END_CONNECT_FAILED);
		return;
	}
	__atomic_add_fetch(&ru->ru_active, 1, __ATOMIC_RELAXED);
	se->se_up_active = true;
	io_raw_init(&se->se_upstream.ss_io, fd);
	if (se->se_conf->lc_upstream_protocol != IPPROTO_MPTCP)
		se->se_upstream.ss_mptcp.state = SIDE_MPTCP_NO;
	session_set_stage(se, SESSION_RELAYING);
	side_events_assign(&se->se_client);
	side_events_assign(&se->se_upstream);
	se->se_client.ss_ev.read = true;
	se->se_upstream.ss_ev.read = true;
	session_touch(se);
	session_sync(se);
	side_kick(&se->se_client);
}

int
session_start(struct session_ctx *sc, struct relay *rl, struct config *cf,
    const struct listener_config *conf, int fd, const struct sockaddr *client,
    socklen_t clientlen)
{
	struct session		*se;
	struct timeval		 tv;
	const struct sock_opts	 opts = {
		.so_nodelay = conf->lc_nodelay,
		.so_keepalive = conf->lc_keepalive,
	};

	if ((se = calloc(1, sizeof(*se))) == NULL) {
		log_warnx("%s: out of memory: client dropped", conf->lc_name);
		sock_abort(fd);
		if (sc->sc_budget != NULL)
			budget_session_release(sc->sc_budget);
		relay_session_out(rl);
		return -1;
	}
	se->se_id = ++sc->sc_serial;
	se->se_ctx = sc;
	relay_ref(rl);
	se->se_relay = rl;
	config_ref(cf);
	se->se_config = cf;
	se->se_conf = conf;
	se->se_stage = SESSION_ACCEPTED;
	se->se_splice = cf->cf_splice && !sc->sc_pipes.spl_unsupported;
	side_init(se, &se->se_client, &se->se_upstream);
	side_init(se, &se->se_upstream, &se->se_client);
	if (sc->sc_client_io != NULL)
		sc->sc_client_io(&se->se_client.ss_io, fd);
	else
		io_raw_init(&se->se_client.ss_io, fd);
	if (clientlen > sizeof(se->se_peer))
		clientlen = sizeof(se->se_peer);
	memcpy(&se->se_peer, client, clientlen);
	TAILQ_INSERT_TAIL(&sc->sc_sessions, se, se_entry);
	/* Atomic: other threads read the count. */
	__atomic_add_fetch(&sc->sc_count, 1, __ATOMIC_RELAXED);
	RELAY_COUNT(relay_counters(rl, sc->sc_loop), rc_active, 1);

	se->se_start = se->se_active = se->se_sampled = clock_ms();
	/* Buffer sizes come from the listening socket; these do not. */
	sock_apply_opts(fd, &opts);
	/* MPTCP or not is asked later: at a sample, an end of stream, the close. */

	if (conf->lc_idle_timeout > 0) {
		evtimer_assign(&se->se_timer, sc->sc_base, session_idle, se);
		tv = clock_tv(conf->lc_idle_timeout);
		if (evtimer_add(&se->se_timer, &tv) == 0)
			se->se_timer_on = true;
	}
	session_set_stage(se, SESSION_CONNECTING);
	se->se_upset = relay_upset_get(rl);
	if (upstream_connect(&se->se_connect, sc->sc_base, conf, se->se_upset,
	    sc->sc_budget, session_connected, se) == -1) {
		se->se_error = errno;
		se->se_up = upstream_last(&se->se_connect);
		session_close(se, SESSION_END_CONNECT_FAILED);
	}
	return 0;
}

/* The session's line: what operators grep for, in CONFIG.md's format. */
static void
session_log(struct session *se, enum session_end reason)
{
	const struct listener_config	*lc = se->se_conf;
	char				 client[SOCK_NTOP_MAX];
	char				 upstream[CONFIG_ADDRTEXT_MAX];
	char				 upmptcp[64] = "", error[64] = "";
	uint64_t			 ms;
	const char			*ename;

	if (!log_enabled(LOG_LVL_INFO))
		return;
	sock_ntop((const struct sockaddr *)&se->se_peer, client,
	    sizeof(client));
	if (se->se_up != NULL)
		sock_ntop((const struct sockaddr *)&se->se_up->ru_addr.ca_ss,
		    upstream, sizeof(upstream));
	else
		snprintf(upstream, sizeof(upstream), "%s",
		    lc->lc_upstream.cu_text);
	if (lc->lc_upstream_protocol == IPPROTO_MPTCP)
		snprintf(upmptcp, sizeof(upmptcp), " upstream_mptcp=%s "
		    "upstream_subflows=%u",
		    se->se_upstream.ss_mptcp.state == SIDE_MPTCP_YES ? "yes" :
		    "no", se->se_upstream.ss_mptcp.most);
	if (se->se_error != 0) {
		ename = strerrorname_np(se->se_error);
		snprintf(error, sizeof(error), " error=%s",
		    ename != NULL ? ename : "unknown");
	}
	ms = clock_ms() - se->se_start;
	log_info("%s: client=%s upstream=%s mptcp=%s subflows=%u%s "
	    "bytes_in=%llu bytes_out=%llu duration=%llu.%03llus end=%s%s",
	    lc->lc_name, client, upstream,
	    se->se_client.ss_mptcp.state == SIDE_MPTCP_YES ? "yes" : "no",
	    se->se_client.ss_mptcp.most, upmptcp,
	    (unsigned long long)se->se_client.ss_bytes,
	    (unsigned long long)se->se_upstream.ss_bytes,
	    (unsigned long long)(ms / 1000), (unsigned long long)(ms % 1000),
	    session_end_name(reason), error);
}

/* Free one side; abort makes its peer see a reset instead of a FIN. */
static void
side_close(struct session_ctx *sc, struct session_side *s, bool abort)
{
	if (s->ss_ev.assigned) {
		if (s->ss_ev.rev_on)
			event_del(&s->ss_ev.rev);
		if (s->ss_ev.wev_on)
			event_del(&s->ss_ev.wev);
		s->ss_ev.assigned = false;
	}
	if (s->ss_buf != NULL) {
		relay_buf_put(sc, s->ss_buf);
		s->ss_buf = NULL;
	}
	if (s->ss_pipe != NULL) {
		session_pipe_put(sc, s->ss_pipe);
		s->ss_pipe = NULL;
	}
	io_close(&s->ss_io, abort);
}

/*
 * Whether side s must get a reset rather than a FIN: a reset on its peer
 * passes on, and a side still owed bytes (its peer's direction not
 * through, end included) must never see its stream end cleanly.
 */
static bool
side_abort(const struct session_side *s, enum session_end reason)
{
	if (reason == side_reset_reason(s->ss_peer))
		return true;
	return !s->ss_stream.shut && !side_done(s->ss_peer);
}

void
session_close(struct session *se, enum session_end reason)
{
	struct session_ctx	*sc = se->se_ctx;
	struct relay_counters	*c = relay_counters(se->se_relay, sc->sc_loop);
	bool			 abort_client, abort_upstream;

	/* Sampled at the first end of stream already: nothing new since. */
	if (!se->se_eof_sampled)
		session_sample(se);
	session_log(se, reason);
	RELAY_COUNT(c, rc_active, -1);
	RELAY_COUNT(c, rc_ends[reason], 1);
	RELAY_COUNT(c, rc_bytes_in, se->se_client.ss_bytes);
	RELAY_COUNT(c, rc_bytes_out, se->se_upstream.ss_bytes);

	if (se->se_stage == SESSION_CONNECTING)
		upstream_cancel(&se->se_connect);
	abort_client = side_abort(&se->se_client, reason);
	abort_upstream = side_abort(&se->se_upstream, reason);
	session_set_stage(se, SESSION_CLOSED);
	if (se->se_timer_on)
		event_del(&se->se_timer);
	side_close(sc, &se->se_client, abort_client);
	side_close(sc, &se->se_upstream, abort_upstream);
	if (se->se_up_active)
		__atomic_sub_fetch(&se->se_up->ru_active, 1, __ATOMIC_RELAXED);
	relay_upset_put(se->se_upset);

	TAILQ_REMOVE(&sc->sc_sessions, se, se_entry);
	__atomic_sub_fetch(&sc->sc_count, 1, __ATOMIC_RELAXED);
	relay_session_out(se->se_relay);
	if (sc->sc_budget != NULL)
		budget_session_release(sc->sc_budget);
	relay_unref(se->se_relay);
	config_unref(se->se_config);
	free(se);
	session_ctx_drained(sc);
}

void
session_close_all(struct session_ctx *sc, enum session_end reason)
{
	struct session	*se;

	while ((se = TAILQ_FIRST(&sc->sc_sessions)) != NULL)
		session_close(se, reason);
}
