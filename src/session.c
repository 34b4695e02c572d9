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

#include "compat.h"
#include "log.h"
#include "session.h"
#include "sock.h"
#include "upstream.h"

/* Idle buffers kept for reuse per event loop (64 KiB each). */
#define SESSION_POOL_MAX	32
/* How often, at most, a busy session asks the kernel about its subflows. */
#define SESSION_SAMPLE_MS	1000
/* How often idle pipes are trimmed: an idle loop holds none after two. */
#define SESSION_PIPE_TRIM_MS	1000
/*
 * Splicing a few bytes costs more than copying them (pipe pages on both
 * ends): a direction splices once one read brought at least this much,
 * and goes back to copying after SESSION_SPLICE_SMALL smaller spliced
 * reads in a row, so requests and replies are copied and bulk is not.
 */
#define SESSION_SPLICE_MIN	(16 * 1024)
#define SESSION_SPLICE_SMALL	4

/* A direction leaving splice moves what its pipe holds into one buffer. */
_Static_assert(SPLICE_PIPE_LIMIT <= SESSION_BUF_SIZE,
    "a pipe must fit into a relay buffer");

/*
 * Bytes read from one side and not yet written to the other. Reads go to
 * the tail; once everything is written the buffer returns to the pool,
 * so an idle session holds none.
 */
struct relay_buf {
	struct relay_buf	*rb_next;	/* in the pool */
	uint32_t		 rb_off;	/* first unwritten byte */
	uint32_t		 rb_len;	/* unwritten bytes */
	char			 rb_data[SESSION_BUF_SIZE];
};

/*
 * The life of a session. Only session_set_state() changes it.
 *   CONNECTING: the client is accepted and not read yet; the upstream
 *               connect is under way (bounded by connect_timeout).
 *   RELAYING:   both sockets open; each direction runs until its end of
 *               stream has been passed on (half-close) or a reset.
 * A session leaves either state only through session_close().
 */
enum session_state {
	SESSION_CONNECTING,
	SESSION_RELAYING,
};

/* ss_flags */
#define SIDE_EOF	0x01	/* read() returned 0: the side sent FIN */
#define SIDE_SHUT	0x02	/* we sent FIN to the side (SHUT_WR) */
#define SIDE_READING	0x04	/* ss_rev added */
#define SIDE_WRITING	0x08	/* ss_wev added */
#define SIDE_EVENTS	0x10	/* ss_rev and ss_wev assigned */
#define SIDE_MPTCP	0x20	/* the kernel reported MPTCP */
#define SIDE_TCP	0x80	/* known plain TCP: never asked again */
#define SIDE_STREAM	0x40	/* reads are large: splice them */

/* One socket of a session; se_client and se_upstream mirror each other. */
struct session_side {
	int			 ss_fd;
	unsigned		 ss_flags;
	struct event		 ss_rev;
	struct event		 ss_wev;
	struct relay_buf	*ss_buf;	/* read here, for the peer */
	struct splice_pipe	*ss_pipe;	/* or spliced here; never both */
	uint64_t		 ss_bytes;	/* read from this side */
	unsigned		 ss_small;	/* small spliced reads in a row */
	unsigned		 ss_subflows;	/* most seen */
	unsigned		 ss_last_subflows; /* at the last sample */
	struct session_side	*ss_peer;
	struct session		*ss_se;
};

struct session {
	TAILQ_ENTRY(session)		 se_entry;
	struct session_ctx		*se_ctx;
	struct config			*se_config;	/* referenced */
	const struct listener_config	*se_conf;
	enum session_state		 se_state;
	bool				 se_splice;	/* relay with splice(2) */
	struct session_side		 se_client;
	struct session_side		 se_upstream;
	struct session_side		*se_first_eof;
	struct upstream_conn		 se_connect;
	const struct config_addr	*se_upaddr;
	int				 se_error;	/* connect errno */
	struct event			 se_timer;	/* idle_timeout */
	bool				 se_timer_on;
	bool				 se_eof_sampled; /* at the first EOF */
	struct timeval			 se_start;
	struct timeval			 se_active;	/* last traffic */
	struct timeval			 se_sampled;	/* last MPTCP sample */
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

static void	session_read(evutil_socket_t, short, void *);
static void	session_write(evutil_socket_t, short, void *);

const char *
session_end_name(enum session_end reason)
{
	if (reason >= SESSION_END__MAX)
		return "unknown";
	return session_end_names[reason];
}

static void
session_pipes_trim(evutil_socket_t fd, short what, void *arg)
{
	struct session_ctx	*sc = arg;
	struct timeval		 tv = { 0, SESSION_PIPE_TRIM_MS * 1000 };

	(void)fd;
	(void)what;
	sc->sc_pipes_ev_on = false;
	if (splice_pool_trim(&sc->sc_pipes) > 0 &&
	    evtimer_add(&sc->sc_pipes_ev, &tv) == 0)
		sc->sc_pipes_ev_on = true;
}

/* Give a pipe back; an empty pool does not run the trim timer. */
static void
session_pipe_put(struct session_ctx *sc, struct splice_pipe *sp)
{
	struct timeval	tv = { 0, SESSION_PIPE_TRIM_MS * 1000 };

	splice_pipe_put(&sc->sc_pipes, sp);
	if (!sc->sc_pipes_ev_on && sc->sc_pipes.spl_nfree > 0 &&
	    evtimer_add(&sc->sc_pipes_ev, &tv) == 0)
		sc->sc_pipes_ev_on = true;
}

void
session_ctx_init(struct session_ctx *sc, struct event_base *base)
{
	memset(sc, 0, sizeof(*sc));
	sc->sc_base = base;
	TAILQ_INIT(&sc->sc_sessions);
	splice_pool_init(&sc->sc_pipes);
	evtimer_assign(&sc->sc_pipes_ev, base, session_pipes_trim, sc);
}

void
session_ctx_clear(struct session_ctx *sc)
{
	struct relay_buf	*rb;

	while ((rb = sc->sc_freebufs) != NULL) {
		sc->sc_freebufs = rb->rb_next;
		free(rb);
	}
	sc->sc_nfreebufs = 0;
	if (sc->sc_pipes_ev_on) {
		evtimer_del(&sc->sc_pipes_ev);
		sc->sc_pipes_ev_on = false;
	}
	splice_pool_clear(&sc->sc_pipes);
}

static struct relay_buf *
relay_buf_get(struct session_ctx *sc)
{
	struct relay_buf	*rb;

	if ((rb = sc->sc_freebufs) != NULL) {
		sc->sc_freebufs = rb->rb_next;
		sc->sc_nfreebufs--;
	} else if ((rb = malloc(sizeof(*rb))) == NULL)
		return NULL;
	rb->rb_off = rb->rb_len = 0;
	return rb;
}

static void
relay_buf_put(struct session_ctx *sc, struct relay_buf *rb)
{
	if (sc->sc_nfreebufs >= SESSION_POOL_MAX) {
		free(rb);
		return;
	}
	rb->rb_next = sc->sc_freebufs;
	sc->sc_freebufs = rb;
	sc->sc_nfreebufs++;
}

static void
session_set_state(struct session *se, enum session_state state)
{
	se->se_state = state;
}

static uint64_t
tv_ms(const struct timeval *tv)
{
	return (uint64_t)tv->tv_sec * 1000 + (uint64_t)tv->tv_usec / 1000;
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
	n = sock_mptcp_subflow_addrs(s->ss_fd, local, remote,
	    SOCK_SUBFLOWS_MAX);
	for (i = 0; i < n && i < SOCK_SUBFLOWS_MAX && off < sizeof(list); i++)
		off += snprintf(list + off, sizeof(list) - off, " %s<->%s",
		    sock_ntop((struct sockaddr *)&local[i], l, sizeof(l)),
		    sock_ntop((struct sockaddr *)&remote[i], r, sizeof(r)));
	log_debug("%s: %s side: subflows %u -> %u:%s",
	    s->ss_se->se_conf->lc_name,
	    s == &s->ss_se->se_client ? "client" : "upstream", before, now,
	    list);
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

	if (s->ss_fd == -1 || (s->ss_flags & SIDE_TCP))
		return;
	if (sock_mptcp_state(s->ss_fd, &m) == -1)
		return;
	if (!m.sm_mptcp) {
		/* Plain TCP from the start, or fell back since. */
		s->ss_flags = (s->ss_flags & ~SIDE_MPTCP) | SIDE_TCP;
		return;
	}
	s->ss_flags |= SIDE_MPTCP;
	if (m.sm_subflows != s->ss_last_subflows) {
		if (log_enabled(LOG_LVL_DEBUG))
			session_log_subflows(s, s->ss_last_subflows,
			    m.sm_subflows);
		s->ss_last_subflows = m.sm_subflows;
	}
	if (m.sm_subflows > s->ss_subflows)
		s->ss_subflows = m.sm_subflows;
}

static void
session_sample(struct session *se)
{
	session_sample_side(&se->se_client);
	session_sample_side(&se->se_upstream);
}

/*
 * Note traffic: the idle timer compares against this, and a busy session
 * samples its subflows at most once per SESSION_SAMPLE_MS. The loop's
 * cached time costs no system call.
 */
static void
session_touch(struct session *se)
{
	event_base_gettimeofday_cached(se->se_ctx->sc_base, &se->se_active);
	if (tv_ms(&se->se_active) - tv_ms(&se->se_sampled) >=
	    SESSION_SAMPLE_MS) {
		se->se_sampled = se->se_active;
		session_sample(se);
	}
}

static void
side_read_on(struct session_side *s)
{
	if (!(s->ss_flags & SIDE_READING)) {
		event_add(&s->ss_rev, NULL);
		s->ss_flags |= SIDE_READING;
	}
}

static void
side_read_off(struct session_side *s)
{
	if (s->ss_flags & SIDE_READING) {
		event_del(&s->ss_rev);
		s->ss_flags &= ~SIDE_READING;
	}
}

static void
side_write_on(struct session_side *s)
{
	if (!(s->ss_flags & SIDE_WRITING)) {
		event_add(&s->ss_wev, NULL);
		s->ss_flags |= SIDE_WRITING;
	}
}

static void
side_write_off(struct session_side *s)
{
	if (s->ss_flags & SIDE_WRITING) {
		event_del(&s->ss_wev);
		s->ss_flags &= ~SIDE_WRITING;
	}
}

static enum session_end
side_reset_reason(struct session_side *s)
{
	return s == &s->ss_se->se_client ? SESSION_END_CLIENT_RESET :
	    SESSION_END_UPSTREAM_RESET;
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
 * event is on, s's read event off if the buffer has no room), -1 when the
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
		n = send(peer->ss_fd, rb->rb_data + rb->rb_off, rb->rb_len,
		    MSG_NOSIGNAL);
		if (n == -1) {
			if (errno != EAGAIN && errno != EINTR) {
				session_close(s->ss_se, side_reset_reason(peer));
				return -1;
			}
			n = 0;
		}
		rb->rb_off += (uint32_t)n;
		rb->rb_len -= (uint32_t)n;
	}
	if (rb->rb_len > 0) {
		side_write_on(peer);
		if (rb->rb_off + rb->rb_len == SESSION_BUF_SIZE)
			side_read_off(s);
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

	n = splice_pipe_drain(sp, peer->ss_fd);
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
		side_write_on(peer);
		if (sp->sp_len == sp->sp_cap)
			side_read_off(s);
		else if (n > 0 && !(s->ss_flags & SIDE_EOF))
			side_read_on(s);
		return 1;
	}
	session_pipe_put(se->se_ctx, sp);
	s->ss_pipe = NULL;
	return 0;
}

/*
 * Move what s has read on to its peer, then settle both sides' events:
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
	side_write_off(peer);
	if (!(s->ss_flags & SIDE_EOF)) {
		side_read_on(s);
		return 0;
	}
	if ((peer->ss_flags & SIDE_EOF) && (s->ss_flags & SIDE_SHUT)) {
		/*
		 * Both ways are done. The peer's receive queue is empty (its
		 * end was read), so closing it sends the FIN a shutdown()
		 * would: one system call less per session.
		 */
		session_close(se, se->se_first_eof == &se->se_client ?
		    SESSION_END_CLIENT_CLOSE : SESSION_END_UPSTREAM_CLOSE);
		return -1;
	}
	if (!(peer->ss_flags & SIDE_SHUT)) {
		/* ENOTCONN after a reset is found by the next read. */
		(void)shutdown(peer->ss_fd, SHUT_WR);
		peer->ss_flags |= SIDE_SHUT;
	}
	return 0;
}

/* Whether the next reads of s are worth splicing. */
static void
side_note_read(struct session_side *s, ssize_t n, bool spliced)
{
	if (n >= SESSION_SPLICE_MIN) {
		s->ss_flags |= SIDE_STREAM;
		s->ss_small = 0;
	} else if (spliced && ++s->ss_small >= SESSION_SPLICE_SMALL)
		s->ss_flags &= ~SIDE_STREAM;
}

/*
 * s is readable. A direction with nothing pending takes a pipe when the
 * session splices and s streams (a buffer when no pipe can be had, e.g.
 * out of descriptors), and keeps it until everything in it is through.
 */
static void
session_read(evutil_socket_t fd, short what, void *arg)
{
	struct session_side	*s = arg;
	struct session		*se = s->ss_se;
	struct splice_pool	*pool = &se->se_ctx->sc_pipes;
	struct relay_buf	*rb;
	struct splice_pipe	*sp;
	ssize_t			 n;

	(void)what;
	if (s->ss_pipe == NULL && s->ss_buf == NULL && se->se_splice &&
	    (s->ss_flags & SIDE_STREAM))
		s->ss_pipe = splice_pipe_get(pool);
	if ((sp = s->ss_pipe) != NULL)
		n = splice_pipe_fill(sp, fd, SIZE_MAX);
	else {
		if ((rb = s->ss_buf) == NULL) {
			if ((rb = relay_buf_get(se->se_ctx)) == NULL) {
				session_close(se, SESSION_END_NO_MEMORY);
				return;
			}
			s->ss_buf = rb;
		}
		if (rb->rb_off + rb->rb_len == SESSION_BUF_SIZE) {
			side_read_off(s);	/* no room: wait for the peer */
			return;
		}
		n = read(fd, rb->rb_data + rb->rb_off + rb->rb_len,
		    SESSION_BUF_SIZE - rb->rb_off - rb->rb_len);
		if (n > 0)
			rb->rb_len += (uint32_t)n;
	}
	if (n > 0) {
		s->ss_bytes += (uint64_t)n;
		side_note_read(s, n, sp != NULL);
		session_touch(se);
		(void)session_flush(s);
		return;
	}
	if (n == 0) {
		s->ss_flags |= SIDE_EOF;
		if (se->se_first_eof == NULL) {
			se->se_first_eof = s;
			/*
			 * The first end of stream: every subflow a short
			 * session got is still there (by the close, the kernel
			 * may have dropped the extra ones already).
			 */
			session_sample(se);
			se->se_eof_sampled = true;
		}
		side_read_off(s);
		(void)session_flush(s);
		return;
	}
	if (sp != NULL && splice_unsupported(errno))
		session_splice_failed(se, errno);
	else if (errno != EAGAIN && errno != EINTR) {
		session_close(se, side_reset_reason(s));
		return;
	}
	/*
	 * Nothing read. An empty pipe or buffer goes back to its pool. A
	 * pipe with bytes in it may have no pages left: read again once the
	 * peer took some (its write event is on while the pipe holds bytes).
	 */
	if (sp != NULL) {
		if (sp->sp_len == 0) {
			session_pipe_put(se->se_ctx, sp);
			s->ss_pipe = NULL;
		} else
			side_read_off(s);
	} else if (s->ss_buf->rb_len == 0) {
		relay_buf_put(se->se_ctx, s->ss_buf);
		s->ss_buf = NULL;
	}
}

/* The peer of s can take more: write what s->ss_peer has read. */
static void
session_write(evutil_socket_t fd, short what, void *arg)
{
	struct session_side	*s = arg;

	(void)fd;
	(void)what;
	session_touch(s->ss_se);
	(void)session_flush(s->ss_peer);
}

static void
session_idle(evutil_socket_t fd, short what, void *arg)
{
	struct session	*se = arg;
	struct timeval	 now, tv;
	uint64_t	 idle, left;

	(void)fd;
	(void)what;
	se->se_timer_on = false;
	event_base_gettimeofday_cached(se->se_ctx->sc_base, &now);
	idle = tv_ms(&now) - tv_ms(&se->se_active);
	if (idle >= se->se_conf->lc_idle_timeout) {
		session_close(se, SESSION_END_IDLE_TIMEOUT);
		return;
	}
	/* Traffic moved the deadline: sleep until the new one. */
	left = se->se_conf->lc_idle_timeout - idle;
	tv.tv_sec = left / 1000;
	tv.tv_usec = (left % 1000) * 1000;
	if (event_add(&se->se_timer, &tv) == 0)
		se->se_timer_on = true;
}

static void
side_init(struct session *se, struct session_side *s, struct session_side *peer)
{
	s->ss_fd = -1;
	s->ss_peer = peer;
	s->ss_se = se;
}

static void
side_events_assign(struct session_side *s)
{
	struct event_base	*base = s->ss_se->se_ctx->sc_base;

	event_assign(&s->ss_rev, base, s->ss_fd, EV_READ | EV_PERSIST,
	    session_read, s);
	event_assign(&s->ss_wev, base, s->ss_fd, EV_WRITE | EV_PERSIST,
	    session_write, s);
	s->ss_flags |= SIDE_EVENTS;
}

static void
session_connected(int fd, int error, const struct config_addr *addr,
    void *arg)
{
	struct session	*se = arg;

	se->se_upaddr = addr;
	if (fd == -1) {
		se->se_error = error;
		session_close(se, error == ETIMEDOUT ?
		    SESSION_END_CONNECT_TIMEOUT : SESSION_END_CONNECT_FAILED);
		return;
	}
	se->se_upstream.ss_fd = fd;
	if (se->se_conf->lc_upstream_protocol != IPPROTO_MPTCP)
		se->se_upstream.ss_flags |= SIDE_TCP;	/* nothing to ask */
	session_set_state(se, SESSION_RELAYING);
	side_events_assign(&se->se_client);
	side_events_assign(&se->se_upstream);
	side_read_on(&se->se_client);
	side_read_on(&se->se_upstream);
	session_touch(se);
}

int
session_start(struct session_ctx *sc, struct config *cf,
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
		close(fd);
		return -1;
	}
	se->se_ctx = sc;
	se->se_config = cf;
	config_ref(cf);
	se->se_conf = conf;
	/* Later, bytes that user space must see (TLS) will turn this off. */
	se->se_splice = cf->cf_splice && !sc->sc_pipes.spl_unsupported;
	side_init(se, &se->se_client, &se->se_upstream);
	side_init(se, &se->se_upstream, &se->se_client);
	se->se_client.ss_fd = fd;
	if (clientlen > sizeof(se->se_peer))
		clientlen = sizeof(se->se_peer);
	memcpy(&se->se_peer, client, clientlen);
	TAILQ_INSERT_TAIL(&sc->sc_sessions, se, se_entry);
	/* Atomic: other threads read the count (worker_pool_sessions). */
	__atomic_add_fetch(&sc->sc_count, 1, __ATOMIC_RELAXED);
	session_set_state(se, SESSION_CONNECTING);

	event_base_gettimeofday_cached(sc->sc_base, &se->se_start);
	se->se_active = se->se_sampled = se->se_start;
	/* Buffer sizes come from the listening socket; these do not. */
	sock_apply_opts(fd, &opts);
	/* MPTCP or not is asked later: at a sample, an end of stream, the close. */

	if (conf->lc_idle_timeout > 0) {
		evtimer_assign(&se->se_timer, sc->sc_base, session_idle, se);
		tv.tv_sec = conf->lc_idle_timeout / 1000;
		tv.tv_usec = (conf->lc_idle_timeout % 1000) * 1000;
		if (evtimer_add(&se->se_timer, &tv) == 0)
			se->se_timer_on = true;
	}
	if (upstream_connect(&se->se_connect, sc->sc_base, conf,
	    session_connected, se) == -1) {
		se->se_error = errno;
		se->se_upaddr = upstream_addr(&se->se_connect);
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
	struct timeval			 now;
	uint64_t			 ms;
	const char			*ename;

	if (!log_enabled(LOG_LVL_INFO))
		return;
	sock_ntop((const struct sockaddr *)&se->se_peer, client,
	    sizeof(client));
	if (se->se_upaddr != NULL)
		sock_ntop((const struct sockaddr *)&se->se_upaddr->ca_ss,
		    upstream, sizeof(upstream));
	else
		snprintf(upstream, sizeof(upstream), "%s",
		    lc->lc_upstream.cu_text);
	if (lc->lc_upstream_protocol == IPPROTO_MPTCP)
		snprintf(upmptcp, sizeof(upmptcp), " upstream_mptcp=%s "
		    "upstream_subflows=%u",
		    se->se_upstream.ss_flags & SIDE_MPTCP ? "yes" : "no",
		    se->se_upstream.ss_subflows);
	if (se->se_error != 0) {
		ename = strerrorname_np(se->se_error);
		snprintf(error, sizeof(error), " error=%s",
		    ename != NULL ? ename : "unknown");
	}
	event_base_gettimeofday_cached(se->se_ctx->sc_base, &now);
	ms = tv_ms(&now) - tv_ms(&se->se_start);
	log_info("%s: client=%s upstream=%s mptcp=%s subflows=%u%s "
	    "bytes_in=%llu bytes_out=%llu duration=%llu.%03llus end=%s%s",
	    lc->lc_name, client, upstream,
	    se->se_client.ss_flags & SIDE_MPTCP ? "yes" : "no",
	    se->se_client.ss_subflows, upmptcp,
	    (unsigned long long)se->se_client.ss_bytes,
	    (unsigned long long)se->se_upstream.ss_bytes,
	    (unsigned long long)(ms / 1000), (unsigned long long)(ms % 1000),
	    session_end_name(reason), error);
}

/* Free one side; abort makes its peer see a reset instead of a FIN. */
static void
side_close(struct session_ctx *sc, struct session_side *s, bool abort)
{
	if (s->ss_flags & SIDE_EVENTS) {
		event_del(&s->ss_rev);
		event_del(&s->ss_wev);
	}
	if (s->ss_buf != NULL) {
		relay_buf_put(sc, s->ss_buf);
		s->ss_buf = NULL;
	}
	if (s->ss_pipe != NULL) {
		session_pipe_put(sc, s->ss_pipe);
		s->ss_pipe = NULL;
	}
	if (s->ss_fd != -1) {
		if (abort)
			sock_abort(s->ss_fd);
		else
			close(s->ss_fd);
		s->ss_fd = -1;
	}
}

void
session_close(struct session *se, enum session_end reason)
{
	struct session_ctx	*sc = se->se_ctx;

	/* Sampled at the first end of stream already: nothing new since. */
	if (!se->se_eof_sampled)
		session_sample(se);
	session_log(se, reason);

	if (se->se_state == SESSION_CONNECTING)
		upstream_cancel(&se->se_connect);
	if (se->se_timer_on)
		event_del(&se->se_timer);
	side_close(sc, &se->se_client, reason == SESSION_END_UPSTREAM_RESET);
	side_close(sc, &se->se_upstream, reason == SESSION_END_CLIENT_RESET);

	TAILQ_REMOVE(&sc->sc_sessions, se, se_entry);
	__atomic_sub_fetch(&sc->sc_count, 1, __ATOMIC_RELAXED);
	config_unref(se->se_config);
	free(se);
	if (sc->sc_closed_cb != NULL)
		sc->sc_closed_cb(sc, sc->sc_closed_arg);
}

void
session_close_all(struct session_ctx *sc, enum session_end reason)
{
	struct session	*se;

	while ((se = TAILQ_FIRST(&sc->sc_sessions)) != NULL)
		session_close(se, reason);
}
