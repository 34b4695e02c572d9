/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

#include "autoconf.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/event_struct.h>

#include "acl.h"
#include "clock.h"
#include "compat.h"
#include "dest.h"
#include "log.h"
#include "proxy_proto.h"
#include "session.h"
#include "sock.h"
#include "tls.h"
#include "upstream.h"

/* Idle buffers kept for reuse per event loop (SESSION_BUF_SIZE each). */
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
 * A direction that starts at an MPTCP socket never splices: MPTCP has no
 * splice read of its own, the kernel copies its bytes into fresh pipe
 * pages (copy_splice_read), and that cost twice the CPU per byte of a
 * read(2) into a buffer and halved single-stream throughput (bench/README,
 * "Single-stream throughput").
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
		struct event	 rev;
		struct event	 wev;
	}			 ss_events;
	struct {
		uint8_t		 eof:1;		/* the side ended its stream */
		uint8_t		 shut:1;	/* we ended ours towards it */
	}			 ss_stream;
	struct {
		uint8_t		 assigned:1;	/* ss_events assigned */
		uint8_t		 rev_on:1;	/* rev added */
		uint8_t		 wev_on:1;
		uint8_t		 read:1;	/* we want to read the side */
		uint8_t		 write:1;	/* we have something for it */
	}			 ss_ev;
	struct {
		uint8_t		 state;		/* enum side_mptcp_state */
		uint8_t		 most;		/* most subflows seen */
		uint8_t		 last;		/* at the last sample */
	}			 ss_mptcp;
	struct {
		uint8_t		 stream:1;	/* reads are large: splice */
		uint8_t		 never:1;	/* an MPTCP socket: copy */
		uint8_t		 small:6;	/* small spliced reads in a row */
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
	struct upstream_conn		*se_connect;	/* while connecting */
	struct relay_upset		*se_upset;	/* referenced */
	struct relay_upstream		*se_up;	/* the address used or tried */
	bool				 se_up_active;	/* counted in se_up */
	int				 se_error;	/* connect errno */
	int				 se_tries;	/* upstream addresses tried */
	char				*se_tls_error;	/* the upstream's handshake */
	int				 se_pp_mptcp;	/* from a PROXY TLV, or -1 */
	/*
	 * Where the client was going, when the session must know: the
	 * destination a PROXY header names (for proxy_protocol or upstream
	 * = destination), or a transparent connection's original one.
	 */
	union sock_addr			*se_dst;
	struct event			 se_timer;	/* idle or handshake */
	bool				 se_timer_on;
	uint64_t			 se_start;	/* monotonic ms */
	uint64_t			 se_active;	/* last traffic */
	uint64_t			 se_sampled;	/* last MPTCP sample */
	union sock_addr			 se_peer;	/* the client */
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
	[SESSION_END_TLS_HANDSHAKE] = "tls_handshake",
};

static const char *const session_stage_names[SESSION_STAGE__MAX] = {
	[SESSION_ACCEPTED] = "accepted",
	[SESSION_PROXY_IN] = "proxy_in",
	[SESSION_TLS_ACCEPT] = "tls_accept",
	[SESSION_CONNECTING] = "connecting",
	[SESSION_TLS_CONNECT] = "tls_connect",
	[SESSION_RELAYING] = "relaying",
	[SESSION_DRAINING] = "draining",
	[SESSION_CLOSED] = "closed",
};

#define STAGE(s)	(1U << (s))

/* The moves allowed from each stage. */
static const unsigned session_stage_next[SESSION_STAGE__MAX] = {
	[SESSION_ACCEPTED] = STAGE(SESSION_PROXY_IN) | STAGE(SESSION_TLS_ACCEPT) |
	    STAGE(SESSION_CONNECTING) | STAGE(SESSION_CLOSED),
	[SESSION_PROXY_IN] = STAGE(SESSION_TLS_ACCEPT) |
	    STAGE(SESSION_CONNECTING) | STAGE(SESSION_CLOSED),
	[SESSION_TLS_ACCEPT] = STAGE(SESSION_CONNECTING) | STAGE(SESSION_CLOSED),
	[SESSION_CONNECTING] = STAGE(SESSION_TLS_CONNECT) |
	    STAGE(SESSION_RELAYING) | STAGE(SESSION_CLOSED),
	[SESSION_TLS_CONNECT] = STAGE(SESSION_RELAYING) | STAGE(SESSION_CLOSED),
	[SESSION_RELAYING] = STAGE(SESSION_DRAINING) | STAGE(SESSION_CLOSED),
	[SESSION_DRAINING] = STAGE(SESSION_CLOSED),
	[SESSION_CLOSED] = 0,
};

static int	session_side_read(struct session_side *);
static int	session_side_write(struct session_side *);
static int	session_proxy_in(struct session_side *);
static int	session_handshake(struct session_side *);
static int	session_connect(struct session *);
static void	session_refused_held(evutil_socket_t, short, void *);
static void	session_refuse(struct session *, enum relay_refusal,
		    const char *, ...) __attribute__((format(printf, 3, 4)));

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

/*
 * Lines about refused clients were held back in the last second: say how
 * many, so that a flood that stops is still accounted for.
 */
static void
session_refused_held(evutil_socket_t fd, short what, void *arg)
{
	struct session_ctx	*sc = arg;
	unsigned		 held = sc->sc_refused_log.ll_held;

	(void)fd;
	(void)what;
	sc->sc_refused_on = false;
	if (held == 0)
		return;
	sc->sc_refused_log.ll_held = 0;
	log_info("%u more refused client%s not logged", held,
	    held == 1 ? "" : "s");
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
	pool_init(&sc->sc_bufs, SESSION_POOL_MAX, sizeof(struct relay_buf),
	    relay_buf_destroy, NULL);
	splice_pool_init(&sc->sc_pipes, budget);
	evtimer_assign(&sc->sc_trim_ev, base, session_trim, sc);
	evtimer_assign(&sc->sc_refused_ev, base, session_refused_held, sc);
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
	if (sc->sc_refused_on) {
		evtimer_del(&sc->sc_refused_ev);
		sc->sc_refused_on = false;
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

/* "1234", or "?" when the kernel did not say. */
static const char *
session_count_text(uint64_t n, char *buf, size_t len)
{
	if (n == UINT64_MAX)
		return "?";
	snprintf(buf, len, "%llu", (unsigned long long)n);
	return buf;
}

/*
 * At debug level, when the session ends: one line per subflow each MPTCP
 * side has then, with its addresses, bytes and backup flag. Only here,
 * once per session: a few system calls, never on the data path.
 */
static void
session_log_paths(struct session_side *s)
{
	struct sock_subflow	 sf[SOCK_SUBFLOWS_MAX];
	char			 l[SOCK_NTOP_MAX], r[SOCK_NTOP_MAX];
	char			 tx[24], rx[24];
	int			 i, n;

	if (s->ss_io.io_fd == -1 || s->ss_mptcp.state != SIDE_MPTCP_YES ||
	    (n = sock_mptcp_subflows(s->ss_io.io_fd, sf, SOCK_SUBFLOWS_MAX,
	    0)) <= 0)
		return;		/* fell back, or no detail on this kernel */
	for (i = 0; i < n && i < SOCK_SUBFLOWS_MAX; i++)
		log_debug("%s: session %llu: %s side: subflow %d/%d: local=%s "
		    "remote=%s bytes_sent=%s bytes_received=%s backup=%s",
		    s->ss_se->se_conf->lc_name,
		    (unsigned long long)s->ss_se->se_id, side_name(s), i + 1, n,
		    sock_ntop((struct sockaddr *)&sf[i].sf_local, l, sizeof(l)),
		    sock_ntop((struct sockaddr *)&sf[i].sf_remote, r,
		    sizeof(r)),
		    session_count_text(sf[i].sf_bytes_sent, tx, sizeof(tx)),
		    session_count_text(sf[i].sf_bytes_received, rx,
		    sizeof(rx)), sf[i].sf_backup == 1 ? "yes" :
		    sf[i].sf_backup == 0 ? "no" : "unknown");
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
		event_add(&s->ss_events.rev, NULL);
		s->ss_ev.rev_on = true;
	} else if (!(want & EV_READ) && s->ss_ev.rev_on) {
		event_del(&s->ss_events.rev);
		s->ss_ev.rev_on = false;
	}
	if ((want & EV_WRITE) && !s->ss_ev.wev_on) {
		event_add(&s->ss_events.wev, NULL);
		s->ss_ev.wev_on = true;
	} else if (!(want & EV_WRITE) && s->ss_ev.wev_on) {
		event_del(&s->ss_events.wev);
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
	struct session	*se = s->ss_se;

	if ((se->se_stage == SESSION_TLS_ACCEPT && s == &se->se_client) ||
	    (se->se_stage == SESSION_TLS_CONNECT && s == &se->se_upstream)) {
		if (s->ss_io.io_rd_want == which && session_handshake(s) == -1)
			return -1;
		session_sync(se);
		return 0;
	}
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

	if (s->ss_ev.assigned)
		return;

	event_assign(&s->ss_events.rev, base, s->ss_io.io_fd, EV_READ | EV_PERSIST,
	    side_rev_cb, s);
	event_assign(&s->ss_events.wev, base, s->ss_io.io_fd,
	    EV_WRITE | EV_PERSIST, side_wev_cb, s);
	s->ss_ev.assigned = true;
}

/*
 * s wants to read and its layer holds bytes its descriptor will not
 * signal: run its read from the next loop turn. The read event is added
 * first: libevent's event_add() leaves an active event out of its lists
 * (while reporting success), so activating one that is not added yet
 * would leave it never added, and the side never read again. A read that
 * waits for EV_WRITE (TLS) needs no kick: its write event runs it.
 */
static void
side_kick(struct session_side *s)
{
	if (!s->ss_ev.read || !s->ss_ev.assigned || io_pending(&s->ss_io) == 0)
		return;
	side_sync(s);
	if (s->ss_ev.rev_on && s->ss_io.io_rd_want == EV_READ)
		event_active(&s->ss_events.rev, EV_READ, 0);
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
	return se->se_splice && io_is_raw(&se->se_client.ss_io) &&
	    io_is_raw(&se->se_upstream.ss_io);
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
	if (side_done(peer) && s->ss_stream.shut && io_is_raw(&peer->ss_io)) {
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
	if (n >= SESSION_SPLICE_MIN && !s->ss_splice.never) {
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

	if (se->se_stage == SESSION_PROXY_IN)
		return session_proxy_in(s);
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
	if (se->se_stage == SESSION_PROXY_IN) {
		session_refuse(se, RELAY_REFUSED_PROXY_HEADER, "no complete "
		    "header within handshake_timeout (%u bytes received)",
		    se->se_client.ss_buf != NULL ?
		    se->se_client.ss_buf->rb_len : 0);
		return;
	}
	if (se->se_stage == SESSION_TLS_ACCEPT) {
		session_refuse(se, RELAY_REFUSED_TLS_HANDSHAKE, "no complete "
		    "TLS handshake within handshake_timeout");
		return;
	}
	if (se->se_stage == SESSION_TLS_CONNECT) {
		se->se_tls_error = strdup("handshake timed out "
		    "(connect_timeout)");
		session_close(se, SESSION_END_TLS_HANDSHAKE);
		return;
	}
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
side_init(struct session *se, struct session_side *s, struct session_side *peer,
    int protocol)
{
	io_init(&s->ss_io);
	s->ss_peer = peer;
	s->ss_se = se;
	s->ss_splice.never = protocol == IPPROTO_MPTCP;
}

/*
 * proxy_protocol: the header for the upstream, into hdr (PROXY_HDR_MAX
 * bytes). It names the client (from the client's own header, when it sent
 * one) and the address it connected to; v2 adds whether the client used
 * MPTCP (as the client's header said, when it carried our TLV, else as the
 * kernel says of the client's connection). Returns its length, or -1 when
 * the session was closed.
 */
static int
session_proxy_header(struct session *se, char *hdr)
{
	struct session_side	*s = &se->se_client;
	struct sockaddr_storage	 local;
	const struct sockaddr	*dst;
	socklen_t		 len = sizeof(local);
	bool			 mptcp;
	int			 n;

	if (se->se_dst != NULL)
		dst = &se->se_dst->sa;
	else if (getsockname(s->ss_io.io_fd, (struct sockaddr *)&local,
	    &len) == 0)
		dst = (const struct sockaddr *)&local;
	else {
		session_close(se, SESSION_END_CLIENT_RESET);
		return -1;
	}
	if (se->se_pp_mptcp >= 0)
		mptcp = se->se_pp_mptcp == 1;
	else {
		session_sample_side(s);
		mptcp = s->ss_mptcp.state == SIDE_MPTCP_YES;
	}
	if (se->se_conf->lc_proxy_protocol == 1)
		n = proxy_build_v1(hdr, PROXY_HDR_MAX, &se->se_peer.sa, dst);
	else
		n = proxy_build_v2(hdr, PROXY_HDR_MAX, &se->se_peer.sa, dst,
		    mptcp);
	if (n < 0) {
		log_warnx("%s: session %llu: no PROXY header for these "
		    "addresses", se->se_conf->lc_name,
		    (unsigned long long)se->se_id);
		session_close(se, SESSION_END_CLIENT_RESET);
		return -1;
	}
	return n;
}

/*
 * Put the header in front of whatever the client sent so far, so that it
 * goes out with the first write. Returns 0, or -1 when the session was
 * closed.
 */
static int
session_proxy_out(struct session *se)
{
	struct session_side	*s = &se->se_client;
	struct relay_buf	*rb;
	char			 hdr[PROXY_HDR_MAX];
	int			 n;

	if ((n = session_proxy_header(se, hdr)) == -1)
		return -1;
	if ((rb = s->ss_buf) == NULL) {
		if ((rb = relay_buf_get(se->se_ctx)) == NULL) {
			session_close(se, SESSION_END_NO_MEMORY);
			return -1;
		}
		s->ss_buf = rb;
	}
	/* Nothing the client sent is there yet: the header fits. */
	if (rb->rb_off < (uint32_t)n) {
		memmove(rb->rb_data + n, rb->rb_data + rb->rb_off, rb->rb_len);
		rb->rb_off = (uint32_t)n;
	}
	rb->rb_off -= (uint32_t)n;
	memcpy(rb->rb_data + rb->rb_off, hdr, (size_t)n);
	rb->rb_len += (uint32_t)n;
	return 0;
}

/* Both sides are up: relay, starting with what waits already. */
static void
session_relay(struct session *se)
{
	session_set_stage(se, SESSION_RELAYING);
	side_events_assign(&se->se_client);
	side_events_assign(&se->se_upstream);
	se->se_client.ss_ev.read = true;
	se->se_upstream.ss_ev.read = true;
	session_touch(se);
	/* A PROXY header, perhaps. */
	if (se->se_client.ss_buf != NULL && session_flush(&se->se_client) == -1)
		return;
	session_sync(se);
	/* Bytes that came with the end of a TLS handshake. */
	side_kick(&se->se_client);
	side_kick(&se->se_upstream);
}

/*
 * upstream_tls: the PROXY header first, in cleartext (it is small and the
 * connection new: it goes out whole), then the handshake. Returns -1 when
 * the session was closed.
 */
static int
session_tls_connect(struct session *se, struct relay_upstream *ru)
{
	const struct listener_config	*lc = se->se_conf;
	struct session_side		*s = &se->se_upstream;
	struct timeval			 tv;
	char				 hdr[PROXY_HDR_MAX];
	int				 n, fd = s->ss_io.io_fd;

	if (lc->lc_proxy_protocol != 0) {
		if ((n = session_proxy_header(se, hdr)) == -1)
			return -1;
		if (send(fd, hdr, (size_t)n, MSG_NOSIGNAL) != n) {
			se->se_error = errno != 0 ? errno : EAGAIN;
			session_close(se, SESSION_END_UPSTREAM_RESET);
			return -1;
		}
	}
	if (io_tls_client_init(&s->ss_io, fd, lc->lc_tls_client,
	    lc->lc_tls.ct_upstream_sni != NULL ? NULL : ru->ru_host) == -1) {
		session_close(se, SESSION_END_NO_MEMORY);
		return -1;
	}
	session_set_stage(se, SESSION_TLS_CONNECT);
	/* The handshake has connect_timeout; then the idle timer again. */
	if (se->se_timer_on)
		event_del(&se->se_timer);
	tv = clock_tv(lc->lc_connect_timeout);
	se->se_timer_on = evtimer_add(&se->se_timer, &tv) == 0;
	side_events_assign(s);
	return session_handshake(s);
}

static void
session_connected(int fd, int error, struct relay_upstream *ru, void *arg)
{
	struct session	*se = arg;

	se->se_tries = se->se_connect->uc_tries;
	free(se->se_connect);		/* its callback is its last act */
	se->se_connect = NULL;
	se->se_up = ru;
	if (fd == -1) {
		se->se_error = error;
		session_close(se, error == ETIMEDOUT ?
		    SESSION_END_CONNECT_TIMEOUT : SESSION_END_CONNECT_FAILED);
		return;
	}
	__atomic_add_fetch(&ru->ru_st->rs_active, 1, __ATOMIC_RELAXED);
	se->se_up_active = true;
	io_raw_init(&se->se_upstream.ss_io, fd);
	if (se->se_conf->lc_upstream_protocol != IPPROTO_MPTCP)
		se->se_upstream.ss_mptcp.state = SIDE_MPTCP_NO;
	if (se->se_conf->lc_tls_client != NULL) {
		if (session_tls_connect(se, ru) == 0)
			session_sync(se);
		return;
	}
	if (se->se_conf->lc_proxy_protocol != 0 && session_proxy_out(se) == -1)
		return;
	session_relay(se);
}

/*
 * Drive the TLS handshake of side s (the client's in tls_accept, the
 * upstream's in tls_connect); when done, go on to the next stage.
 * Returns -1 when the session was closed.
 */
static int
session_handshake(struct session_side *s)
{
	struct session	*se = s->ss_se;
	const char	*why;
	struct timeval	 tv;

	if (io_handshake(&s->ss_io) == -1) {
		if (errno == EAGAIN) {
			s->ss_ev.read = true;	/* as io_rd_want says */
			return 0;
		}
		why = io_tls_error(&s->ss_io);
		if (why == NULL)
			why = strerror(errno);
		if (se->se_stage == SESSION_TLS_ACCEPT) {
			session_refuse(se, RELAY_REFUSED_TLS_HANDSHAKE, "%s",
			    why);
			return -1;
		}
		se->se_tls_error = strdup(why);
		session_close(se, SESSION_END_TLS_HANDSHAKE);
		return -1;
	}
	s->ss_ev.read = false;
	if (log_enabled(LOG_LVL_DEBUG))
		log_debug("%s: session %llu: TLS %s with the %s%s%s",
		    se->se_conf->lc_name, (unsigned long long)se->se_id,
		    io_tls_version(&s->ss_io), side_name(s),
		    io_tls_resumed(&s->ss_io) ? ", resumed" : "",
		    io_tls_alpn(&s->ss_io) != NULL ? ", ALPN " : "");
	if (se->se_stage == SESSION_TLS_ACCEPT)
		return session_connect(se);
	/* Connected and verified: the idle timer again, and relay. */
	if (se->se_timer_on)
		event_del(&se->se_timer);
	se->se_timer_on = false;
	if (se->se_conf->lc_idle_timeout > 0) {
		tv = clock_tv(se->se_conf->lc_idle_timeout);
		se->se_timer_on = evtimer_add(&se->se_timer, &tv) == 0;
	}
	session_relay(se);
	return 0;
}

/*
 * The client is admitted (allowed, its PROXY header read): its TLS
 * handshake, or the upstream connect. Returns -1 when the session was
 * closed (a handshake or a destination refused at once, no memory).
 */
static int
session_admitted(struct session *se)
{
	struct session_side	*s = &se->se_client;
	struct timeval		 tv;

	if (se->se_conf->lc_tls_server == NULL)
		return session_connect(se);
	if (io_tls_server_init(&s->ss_io, s->ss_io.io_fd,
	    se->se_conf->lc_tls_server) == -1) {
		session_refuse(se, RELAY_REFUSED_TLS_HANDSHAKE, "out of memory");
		return -1;
	}
	session_set_stage(se, SESSION_TLS_ACCEPT);
	/* The PROXY header's timer goes on; else one starts now. */
	if (!se->se_timer_on) {
		tv = clock_tv(se->se_conf->lc_handshake_timeout);
		se->se_timer_on = evtimer_add(&se->se_timer, &tv) == 0;
	}
	side_events_assign(s);
	if (session_handshake(s) == -1)
		return -1;
	session_sync(se);
	return 0;
}

/*
 * Where the client goes, before anything is connected: a transparent
 * connection's original destination, learned now, or the one its PROXY
 * header named; it must not be a loop, and with upstream = destination
 * the destination_* keys must permit it. Returns -1 when the client was
 * refused.
 */
static int
session_destination(struct session *se)
{
	const struct listener_config	*lc = se->se_conf;
	const char			*why;
	char				 buf[DEST_WHY_MAX], dst[SOCK_NTOP_MAX];

	if (lc->lc_transparent != CONFIG_TRANSPARENT_NO) {
		if ((se->se_dst = malloc(sizeof(*se->se_dst))) == NULL) {
			session_close(se, SESSION_END_NO_MEMORY);
			return -1;
		}
		if (dest_original(se->se_client.ss_io.io_fd, lc->lc_transparent,
		    se->se_dst, buf, sizeof(buf)) == -1) {
			session_refuse(se, RELAY_REFUSED_DESTINATION, "%s", buf);
			return -1;
		}
	} else if (!lc->lc_upstream_destination)
		return 0;
	if (se->se_dst == NULL) {
		session_refuse(se, RELAY_REFUSED_DESTINATION, "no destination "
		    "in the header (LOCAL or UNKNOWN)");
		return -1;
	}
	if ((why = dest_check(se->se_config, lc, &se->se_dst->sa)) != NULL) {
		session_refuse(se, RELAY_REFUSED_DESTINATION, "%s: %s",
		    sock_ntop(&se->se_dst->sa, dst, sizeof(dst)), why);
		return -1;
	}
	return 0;
}

/*
 * The session is admitted: connect to the upstream. Returns -1 when the
 * session was closed.
 */
static int
session_connect(struct session *se)
{
	struct session_ctx		*sc = se->se_ctx;
	const struct listener_config	*conf = se->se_conf;
	struct timeval			 tv;

	if (session_destination(se) == -1)
		return -1;
	RELAY_COUNT(relay_counters(se->se_relay, sc->sc_loop), rc_active, 1);
	session_set_stage(se, SESSION_CONNECTING);
	if (se->se_timer_on) {
		event_del(&se->se_timer);
		se->se_timer_on = false;
	}
	se->se_active = clock_ms();
	if (conf->lc_idle_timeout > 0) {
		tv = clock_tv(conf->lc_idle_timeout);
		if (evtimer_add(&se->se_timer, &tv) == 0)
			se->se_timer_on = true;
	}
	if (!conf->lc_upstream_destination)
		se->se_upset = relay_upset_get(se->se_relay);
	else if ((se->se_upset = relay_upset_destination(se->se_relay,
	    &se->se_dst->sa, se->se_dst->sa.sa_family == AF_INET ?
	    sizeof(se->se_dst->sin) : sizeof(se->se_dst->sin6))) == NULL) {
		session_close(se, SESSION_END_NO_MEMORY);
		return -1;
	}
	/* Only while connecting: an idle session does not keep it. */
	if ((se->se_connect = malloc(sizeof(*se->se_connect))) == NULL) {
		session_close(se, SESSION_END_NO_MEMORY);
		return -1;
	}
	if (upstream_connect(se->se_connect, sc->sc_base, conf, se->se_relay,
	    se->se_upset, sc->sc_budget, session_connected, se) == -1) {
		se->se_error = errno;
		se->se_up = upstream_last(se->se_connect);
		se->se_tries = se->se_connect->uc_tries;
		session_close(se, SESSION_END_CONNECT_FAILED);
		return -1;
	}
	return 0;
}

/* allow and deny, for the client the session now knows. */
static bool
session_permitted(struct session *se)
{
	const struct listener_config	*lc = se->se_conf;

	if (acl_permit(&lc->lc_allow, &lc->lc_deny,
	    (const struct sockaddr *)&se->se_peer))
		return true;
	session_refuse(se, RELAY_REFUSED_ACL, "%s",
	    acl_match(&lc->lc_deny, (const struct sockaddr *)&se->se_peer) ?
	    "in deny" : "not in allow");
	return false;
}

/*
 * accept_proxy: read what the client sent so far, up to the most a header
 * may take, and look for a complete header at its start. Returns -1 when
 * the session was closed.
 */
static int
session_proxy_in(struct session_side *s)
{
	struct session		*se = s->ss_se;
	struct relay_buf	*rb;
	struct proxy_hdr	 h;
	const char		*why;
	ssize_t			 n;
	bool			 complete;

	if ((rb = s->ss_buf) == NULL) {
		if ((rb = relay_buf_get(se->se_ctx)) == NULL) {
			session_close(se, SESSION_END_NO_MEMORY);
			return -1;
		}
		s->ss_buf = rb;
	}
	/*
	 * Peek, and take from the socket only the header's bytes: what
	 * follows is the client's, perhaps its TLS handshake.
	 */
	n = recv(s->ss_io.io_fd, rb->rb_data + rb->rb_len,
	    PROXY_PARSE_MAX - rb->rb_len, MSG_PEEK);
	if (n == 0) {
		session_refuse(se, RELAY_REFUSED_PROXY_HEADER, "the client "
		    "ended its stream after %u bytes, before a complete header",
		    rb->rb_len);
		return -1;
	}
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return 0;
		session_refuse(se, RELAY_REFUSED_PROXY_HEADER, "%s after %u "
		    "bytes, before a complete header", strerror(errno),
		    rb->rb_len);
		return -1;
	}
	switch (proxy_parse(rb->rb_data, rb->rb_len + (size_t)n, &h, &why)) {
	case 0:
		/* All of it is header: take it, and wait for the rest. */
		complete = false;
		break;
	case -1:
		session_refuse(se, RELAY_REFUSED_PROXY_HEADER, "%s", why);
		return -1;
	default:
		complete = true;
		n = (ssize_t)h.ph_len - (ssize_t)rb->rb_len;
		break;
	}
	if (read(s->ss_io.io_fd, rb->rb_data + rb->rb_len, (size_t)n) != n) {
		session_refuse(se, RELAY_REFUSED_PROXY_HEADER, "the socket "
		    "lost bytes it had shown: %s", strerror(errno));
		return -1;
	}
	rb->rb_len += (uint32_t)n;
	if (!complete)
		return 0;	/* more to come, within handshake_timeout */
	relay_buf_put(se->se_ctx, rb);
	s->ss_buf = NULL;
	s->ss_ev.read = false;		/* until the upstream is there */
	se->se_pp_mptcp = h.ph_mptcp;
	if (!h.ph_local) {
		sock_addr_set(&se->se_peer, (struct sockaddr *)&h.ph_src,
		    sizeof(h.ph_src));
		if ((se->se_conf->lc_proxy_protocol != 0 ||
		    se->se_conf->lc_upstream_destination) &&
		    (se->se_dst = malloc(sizeof(*se->se_dst))) != NULL)
			sock_addr_set(se->se_dst, (struct sockaddr *)&h.ph_dst,
			    sizeof(h.ph_dst));
	}
	if (log_enabled(LOG_LVL_DEBUG))
		log_debug("%s: session %llu: PROXY v%d header, %zu bytes%s",
		    se->se_conf->lc_name, (unsigned long long)se->se_id,
		    h.ph_version, h.ph_len, h.ph_local ? " (local)" : "");
	if (!session_permitted(se))
		return -1;
	return session_admitted(se);
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
	se->se_pp_mptcp = -1;
	side_init(se, &se->se_client, &se->se_upstream, conf->lc_protocol);
	side_init(se, &se->se_upstream, &se->se_client,
	    conf->lc_upstream_protocol);
	if (sc->sc_client_io != NULL)
		sc->sc_client_io(&se->se_client.ss_io, fd);
	else
		io_raw_init(&se->se_client.ss_io, fd);
	sock_addr_set(&se->se_peer, client, clientlen);
	TAILQ_INSERT_TAIL(&sc->sc_sessions, se, se_entry);
	/* Atomic: other threads read the count. */
	__atomic_add_fetch(&sc->sc_count, 1, __ATOMIC_RELAXED);
	se->se_start = se->se_active = se->se_sampled = clock_ms();
	evtimer_assign(&se->se_timer, sc->sc_base, session_idle, se);
	/* Buffer sizes come from the listening socket; these do not. */
	sock_apply_opts(fd, &opts);
	/* MPTCP or not is asked later: at a sample, an end of stream, the close. */

	if (!conf->lc_accept_proxy) {
		if (session_permitted(se))
			(void)session_admitted(se);	/* closed or not: 0 */
		return 0;
	}
	if (!acl_empty(&conf->lc_accept_proxy_from) &&
	    !acl_match(&conf->lc_accept_proxy_from, client)) {
		session_refuse(se, RELAY_REFUSED_ACL, "not in "
		    "accept_proxy_from");
		return 0;
	}
	session_set_stage(se, SESSION_PROXY_IN);
	tv = clock_tv(conf->lc_handshake_timeout);
	if (evtimer_add(&se->se_timer, &tv) == 0)
		se->se_timer_on = true;
	side_events_assign(&se->se_client);
	se->se_client.ss_ev.read = true;
	session_sync(se);
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
	char				 dst[SOCK_NTOP_MAX + 16] = "";
	char				 tls[512] = "", subject[256];
	uint64_t			 ms;
	const char			*ename, *v;
	size_t				 off = 0, i;

	if (!log_enabled(LOG_LVL_INFO))
		return;
	/* TLS: the versions, a verified client, why a handshake failed. */
	if ((v = io_tls_version(&se->se_client.ss_io)) != NULL)
		off += (size_t)snprintf(tls + off, sizeof(tls) - off,
		    " tls=%s", v);
	if (off < sizeof(tls) && io_tls_subject(&se->se_client.ss_io, subject,
	    sizeof(subject)) != -1)
		off += (size_t)snprintf(tls + off, sizeof(tls) - off,
		    " tls_client=%s", subject);
	if (off < sizeof(tls) &&
	    (v = io_tls_version(&se->se_upstream.ss_io)) != NULL)
		off += (size_t)snprintf(tls + off, sizeof(tls) - off,
		    " upstream_tls=%s", v);
	if (off < sizeof(tls) && se->se_tls_error != NULL) {
		/* The reason last, quoted: it has blanks. */
		for (i = 0; se->se_tls_error[i] != '\0'; i++)
			if (se->se_tls_error[i] == '"')
				se->se_tls_error[i] = '\'';
		snprintf(tls + off, sizeof(tls) - off, " tls_error=\"%s\"",
		    se->se_tls_error);
	}
	sock_ntop((const struct sockaddr *)&se->se_peer, client,
	    sizeof(client));
	if (se->se_up != NULL)
		sock_ntop((const struct sockaddr *)&se->se_up->ru_addr.ca_ss,
		    upstream, sizeof(upstream));
	else
		snprintf(upstream, sizeof(upstream), "%s",
		    lc->lc_nupstreams > 0 ? lc->lc_upstreams[0].cu_text : "none");
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
	/* After a failover: how many addresses this session tried. */
	if (se->se_tries > 1)
		snprintf(error + strlen(error), sizeof(error) - strlen(error),
		    " tries=%d", se->se_tries);
	/* Where the client was going (on a gateway, not the upstream). */
	if (se->se_dst != NULL && (lc->lc_transparent != CONFIG_TRANSPARENT_NO ||
	    lc->lc_upstream_destination)) {
		memcpy(dst, " destination=", sizeof(" destination="));
		sock_ntop(&se->se_dst->sa, dst + strlen(dst),
		    sizeof(dst) - strlen(dst));
	}
	ms = clock_ms() - se->se_start;
	log_info("%s: client=%s upstream=%s mptcp=%s subflows=%u%s "
	    "bytes_in=%llu bytes_out=%llu duration=%llu.%03llus end=%s%s%s%s",
	    lc->lc_name, client, upstream,
	    se->se_client.ss_mptcp.state == SIDE_MPTCP_YES ? "yes" : "no",
	    se->se_client.ss_mptcp.most, upmptcp,
	    (unsigned long long)se->se_client.ss_bytes,
	    (unsigned long long)se->se_upstream.ss_bytes,
	    (unsigned long long)(ms / 1000), (unsigned long long)(ms % 1000),
	    session_end_name(reason), error, dst, tls);
}

/* Free one side; abort makes its peer see a reset instead of a FIN. */
static void
side_close(struct session_ctx *sc, struct session_side *s, bool abort)
{
	if (s->ss_ev.assigned) {
		if (s->ss_ev.rev_on)
			event_del(&s->ss_events.rev);
		if (s->ss_ev.wev_on)
			event_del(&s->ss_events.wev);
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

/*
 * Free a session and give back what it holds; the caller wrote its log
 * line and counted it.
 */
static void
session_free(struct session *se, bool abort_client, bool abort_upstream)
{
	struct session_ctx	*sc = se->se_ctx;

	if (se->se_connect != NULL) {
		upstream_cancel(se->se_connect);
		free(se->se_connect);
	}
	session_set_stage(se, SESSION_CLOSED);
	if (se->se_timer_on)
		event_del(&se->se_timer);
	side_close(sc, &se->se_client, abort_client);
	side_close(sc, &se->se_upstream, abort_upstream);
	if (se->se_up_active)
		__atomic_sub_fetch(&se->se_up->ru_st->rs_active, 1,
		    __ATOMIC_RELAXED);
	relay_upset_put(se->se_upset);
	free(se->se_dst);
	free(se->se_tls_error);

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

/*
 * Close a client before it became a session (before any upstream
 * connect): count it refused, say why in a line of its own (at most
 * LOG_LIMIT_PER_SEC a second per loop, so that a flood cannot fill the
 * journal) and reset it.
 */
static void
session_refuse(struct session *se, enum relay_refusal reason,
    const char *fmt, ...)
{
	struct session_ctx	*sc = se->se_ctx;
	char			 why[256], client[SOCK_NTOP_MAX], more[64] = "";
	unsigned		 held;
	struct timeval		 tv;
	va_list			 ap;

	RELAY_COUNT(relay_counters(se->se_relay, sc->sc_loop),
	    rc_refused[reason], 1);
	if (!log_enabled(LOG_LVL_INFO))
		;
	else if (!log_limit_allow(&sc->sc_refused_log, clock_ms(), &held)) {
		if (!sc->sc_refused_on) {
			tv = clock_tv(1000);
			if (evtimer_add(&sc->sc_refused_ev, &tv) == 0)
				sc->sc_refused_on = true;
		}
	} else {
		va_start(ap, fmt);
		vsnprintf(why, sizeof(why), fmt, ap);
		va_end(ap);
		if (held > 0)
			snprintf(more, sizeof(more), " (and %u more refused "
			    "client%s not logged)", held, held == 1 ? "" : "s");
		log_info("%s: refused %s: %s: %s%s", se->se_conf->lc_name,
		    sock_ntop((const struct sockaddr *)&se->se_peer, client,
		    sizeof(client)), relay_refusal_name(reason), why, more);
	}
	session_free(se, true, false);
}

void
session_close(struct session *se, enum session_end reason)
{
	struct relay_counters	*c;
	bool			 abort_client, abort_upstream;

	if (se->se_stage == SESSION_ACCEPTED ||
	    se->se_stage == SESSION_PROXY_IN) {
		/* Not a session yet: the daemon stopped, or no memory. */
		session_refuse(se, RELAY_REFUSED_PROXY_HEADER, "%s before "
		    "a complete header", reason == SESSION_END_SHUTDOWN ?
		    "the daemon stopped" : session_end_name(reason));
		return;
	}
	c = relay_counters(se->se_relay, se->se_ctx->sc_loop);
	/* Sampled at the first end of stream already: nothing new since. */
	if (!se->se_eof_sampled)
		session_sample(se);
	/* Metrics and per-path detail (the metrics issue). */
	if (se->se_client.ss_mptcp.state == SIDE_MPTCP_YES)
		relay_count_subflows(c, se->se_client.ss_mptcp.most);
	if (log_enabled(LOG_LVL_DEBUG)) {
		session_log_paths(&se->se_client);
		session_log_paths(&se->se_upstream);
	}
	session_log(se, reason);
	RELAY_COUNT(c, rc_active, -1);
	RELAY_COUNT(c, rc_ends[reason], 1);
	RELAY_COUNT(c, rc_bytes_in, se->se_client.ss_bytes);
	RELAY_COUNT(c, rc_bytes_out, se->se_upstream.ss_bytes);
	abort_client = side_abort(&se->se_client, reason);
	abort_upstream = side_abort(&se->se_upstream, reason);
	session_free(se, abort_client, abort_upstream);
}

void
session_close_all(struct session_ctx *sc, enum session_end reason)
{
	struct session	*se;

	while ((se = TAILQ_FIRST(&sc->sc_sessions)) != NULL)
		session_close(se, reason);
}
