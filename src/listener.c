/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

#include "autoconf.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "compat.h"
#include "listener.h"
#include "log.h"
#include "notify.h"
#include "priv.h"
#include "sock.h"

/* Clients accepted per wake-up, so one busy listener cannot starve others. */
#define LISTENER_ACCEPT_BATCH	64
/* How long accepting pauses when the process is out of descriptors. */
#define LISTENER_PAUSE_MS	1000

static void	listener_accept(evutil_socket_t, short, void *);

/* Options of the listening socket, which accepted sockets inherit. */
static struct sock_opts
listener_opts(const struct listener_config *conf)
{
	struct sock_opts	opts = {
		.so_rcvbuf = conf->lc_rcvbuf,
		.so_sndbuf = conf->lc_sndbuf,
		.so_nodelay = conf->lc_nodelay,
		.so_keepalive = conf->lc_keepalive,
		.so_transparent = conf->lc_transparent ==
		    CONFIG_TRANSPARENT_TPROXY,
	};

	return opts;
}

static const struct listener_config *
listener_conf(const struct listener *ls)
{
	return ls->ls_relay->rl_conf;
}

/* A listener around listening socket fd; references rl. NULL: no memory. */
static struct listener *
listener_new(struct relay *rl, const struct config_addr *addr, int fd,
    int protocol)
{
	struct listener	*ls;

	if ((ls = calloc(1, sizeof(*ls))) == NULL) {
		log_error("%s: out of memory", rl->rl_name);
		return NULL;
	}
	relay_ref(rl);
	ls->ls_relay = rl;
	ls->ls_addr = *addr;
	ls->ls_fd = fd;
	ls->ls_protocol = protocol;
	return ls;
}

/*
 * Open the socket for address addr of section rl with the configured
 * protocol, falling back to TCP when the kernel has no MPTCP and
 * mptcp_fallback allows it. NULL after logging a clear reason.
 */
static struct listener *
listener_open(struct relay *rl, const struct listener_config *conf,
    const struct config_addr *addr)
{
	struct listener		*ls;
	const struct sock_opts	 opts = listener_opts(conf);
	const char		*step;
	char			 why[200];
	int			 fd, protocol = conf->lc_protocol;

	if (protocol == IPPROTO_MPTCP &&
	    sock_mptcp_available(addr->ca_ss.ss_family, why, sizeof(why)) == -1) {
		if (!conf->lc_mptcp_fallback) {
			log_error("%s: cannot listen on %s with MPTCP: %s "
			    "(or set mptcp_fallback = yes to listen with TCP)",
			    conf->lc_name, addr->ca_text, why);
			return NULL;
		}
		log_warnx("%s: %s: listening with plain TCP instead of MPTCP "
		    "(mptcp_fallback = yes): %s", conf->lc_name, addr->ca_text,
		    why);
		protocol = IPPROTO_TCP;
	}
	fd = sock_listen((const struct sockaddr *)&addr->ca_ss, addr->ca_len,
	    addr->ca_dualstack, protocol, conf->lc_backlog, &opts, &step);
	if (fd == -1) {
		log_error("%s: cannot listen on %s (%s): %s: %s%s", conf->lc_name,
		    addr->ca_text, config_protocol_name(protocol), step,
		    strerror(errno), errno == EACCES ? " (a port below 1024 "
		    "needs root or CAP_NET_BIND_SERVICE)" : errno == EPERM &&
		    opts.so_transparent ? " (transparent = tproxy needs "
		    "CAP_NET_ADMIN: run as root, or grant it as the systemd "
		    "drop-in example mptcp-relayd-transparent.conf does)" : "");
		return NULL;
	}
	if ((ls = listener_new(rl, addr, fd, protocol)) == NULL)
		close(fd);
	return ls;
}

bool
listener_fd_matches(int fd, const struct config_addr *addr)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len = sizeof(ss);
	int			 v6only = 0;
	socklen_t		 olen = sizeof(v6only);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1 ||
	    len != addr->ca_len || memcmp(&ss, &addr->ca_ss, len) != 0)
		return false;
	if (ss.ss_family == AF_INET6 &&
	    getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &olen) == 0 &&
	    (v6only == 0) != addr->ca_dualstack)
		return false;
	return true;
}

/* Whether fd has IP_TRANSPARENT (IPV6_TRANSPARENT for IPv6). */
static bool
listener_fd_transparent(int fd)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len = sizeof(ss), olen = sizeof(int);
	int			 on = 0;

	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1)
		return false;
	if (ss.ss_family == AF_INET6)
		return getsockopt(fd, SOL_IPV6, IPV6_TRANSPARENT, &on,
		    &olen) == 0 && on;
	return getsockopt(fd, SOL_IP, IP_TRANSPARENT, &on, &olen) == 0 && on;
}

/*
 * Take over fd, a listening socket passed by the service manager
 * (socket activation), for address addr of section rl: it must be
 * listening there with the configured protocol. NULL after logging what
 * does not fit (fd stays open).
 */
static struct listener *
listener_adopt(struct relay *rl, const struct listener_config *conf,
    const struct config_addr *addr, int fd)
{
	struct listener		*ls;
	const struct sock_opts	 opts = listener_opts(conf);
	int			 proto = 0, listening = 0, flags;
	socklen_t		 len = sizeof(int);

	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == -1 ||
	    !listening) {
		log_error("%s: the socket passed for %s (fd %d) is not "
		    "listening", conf->lc_name, addr->ca_text, fd);
		return NULL;
	}
	len = sizeof(int);
	if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &len) == -1) {
		log_error("%s: the socket passed for %s (fd %d): SO_PROTOCOL: "
		    "%s", conf->lc_name, addr->ca_text, fd, strerror(errno));
		return NULL;
	}
	if (proto != IPPROTO_MPTCP)
		proto = IPPROTO_TCP;
	if (proto != conf->lc_protocol) {
		if (conf->lc_protocol == IPPROTO_MPTCP &&
		    conf->lc_mptcp_fallback)
			log_warnx("%s: the socket passed for %s (fd %d) is "
			    "plain TCP; using it (mptcp_fallback = yes)",
			    conf->lc_name, addr->ca_text, fd);
		else {
			log_error("%s: the socket passed for %s (fd %d) is %s "
			    "but the listener has protocol = %s (for MPTCP, "
			    "the socket unit needs SocketProtocol=mptcp, "
			    "systemd 257 or later)", conf->lc_name,
			    addr->ca_text, fd, config_protocol_name(proto),
			    config_protocol_name(conf->lc_protocol));
			return NULL;
		}
	}
	/* systemd passes blocking sockets; the accept loop needs otherwise. */
	if ((flags = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) == -1) {
		log_error("%s: fd %d: fcntl: %s", conf->lc_name, fd,
		    strerror(errno));
		return NULL;
	}
	if (opts.so_transparent && !listener_fd_transparent(fd)) {
		log_error("%s: the socket passed for %s (fd %d) is not "
		    "transparent but the listener has transparent = tproxy "
		    "(the socket unit needs Transparent=yes)", conf->lc_name,
		    addr->ca_text, fd);
		return NULL;
	}
	sock_apply_opts(fd, &opts);
	if ((ls = listener_new(rl, addr, fd, proto)) != NULL)
		ls->ls_adopted = true;
	return ls;
}

/*
 * A change kept this listener's socket: serve section rl (configured as
 * conf, which rl takes as its own when the change commits) from now on and
 * apply the settings that can change on a live socket (backlog, buffer
 * sizes). Sessions already running keep the config they started with.
 */
static void
listener_update(struct listener *ls, struct relay *rl,
    const struct listener_config *conf, const struct config_addr *addr)
{
	const struct listener_config	*old = listener_conf(ls);

	if (conf->lc_backlog != old->lc_backlog &&
	    listen(ls->ls_fd, conf->lc_backlog) == -1)
		log_warn("%s: %s: listen (new backlog %d)", conf->lc_name,
		    addr->ca_text, conf->lc_backlog);
	if (conf->lc_rcvbuf != old->lc_rcvbuf && conf->lc_rcvbuf > 0)
		sock_apply_opts(ls->ls_fd, &(struct sock_opts){
		    .so_rcvbuf = conf->lc_rcvbuf });
	if (conf->lc_sndbuf != old->lc_sndbuf && conf->lc_sndbuf > 0)
		sock_apply_opts(ls->ls_fd, &(struct sock_opts){
		    .so_sndbuf = conf->lc_sndbuf });
	if (rl != ls->ls_relay) {
		relay_ref(rl);
		relay_unref(ls->ls_relay);
		ls->ls_relay = rl;
	}
	ls->ls_addr = *addr;
}

/* --- accepting ------------------------------------------------------------ */

/* Watch the socket, unless something holds accepting back. */
static void
listener_watch(struct listener *ls)
{
	if (ls->ls_started && !ls->ls_paused && !ls->ls_waiting &&
	    !ls->ls_set->lss_stopped)
		event_add(&ls->ls_ev, NULL);
}

static void
listener_resume(evutil_socket_t fd, short what, void *arg)
{
	struct listener	*ls = arg;

	(void)fd;
	(void)what;
	ls->ls_paused = false;
	listener_watch(ls);
}

/*
 * Out of descriptors or memory: the pending client cannot be taken, and
 * the listening socket stays readable, so retrying at once would spin.
 * Step back for a moment; say so once per episode.
 */
static void
listener_pause(struct listener *ls, int err)
{
	struct timeval	tv = clock_tv(LISTENER_PAUSE_MS);

	if (!ls->ls_pause_logged) {
		log_warnx("%s: %s: accept: %s; pausing accepts for %d ms",
		    ls->ls_relay->rl_name, ls->ls_addr.ca_text, strerror(err),
		    LISTENER_PAUSE_MS);
		ls->ls_pause_logged = true;
	}
	event_del(&ls->ls_ev);
	ls->ls_paused = true;
	evtimer_add(&ls->ls_pause_ev, &tv);
}

/* A limit is reached: wait, in the listen queue, until a session ends. */
static void
listener_wait(struct listener *ls)
{
	event_del(&ls->ls_ev);
	ls->ls_waiting = true;
}

/* The process's limit: its descriptors, or [global] max_connections. */
static void
listener_wait_budget(struct listener *ls)
{
	struct listener_set	*lss = ls->ls_set;
	struct budget		*b = lss->lss_budget;

	if (!lss->lss_full_logged) {
		if (budget_capped(b))
			log_warnx("max_connections (%u) of [global] reached; "
			    "new clients wait in the listen queue until "
			    "sessions end", b->b_cap);
		else
			log_warnx("%u sessions fill the open files limit; new "
			    "clients wait in the listen queue until sessions "
			    "end (raise LimitNOFILE= or ulimit -n)",
			    budget_sessions(b));
		lss->lss_full_logged = true;
	}
	listener_wait(ls);
}

static bool
listener_relay_retry(void *arg)
{
	struct listener	*ls = arg;

	return relay_session_take(ls->ls_relay,
	    listener_conf(ls)->lc_max_connections);
}

/*
 * Count a session in, in the budget and in the section's max_connections,
 * or stop accepting (saying so once) until a session ends.
 */
static bool
listener_admit(struct listener *ls)
{
	struct budget	*b = ls->ls_set->lss_budget;
	struct relay	*rl = ls->ls_relay;

	if (b != NULL && !budget_session_take(b)) {
		listener_wait_budget(ls);
		return false;
	}
	if (listener_relay_retry(ls) ||
	    (b != NULL && budget_wait(b, listener_relay_retry, ls)))
		return true;
	if (b != NULL)
		budget_session_release(b);
	if (!rl->rl_capped) {
		log_warnx("%s: max_connections (%u) reached; new clients wait "
		    "in the listen queue until sessions end", rl->rl_name,
		    listener_conf(ls)->lc_max_connections);
		rl->rl_capped = true;
	}
	listener_wait(ls);
	return false;
}

/* A client counted in by listener_admit() was not accepted after all. */
static void
listener_unadmit(struct listener *ls)
{
	struct budget	*b = ls->ls_set->lss_budget;

	if (b != NULL)
		budget_session_release(b);
	relay_session_out(ls->ls_relay);
}

/*
 * Accept up to max clients; returns how many. Each is counted in before
 * accept(2), so that none is accepted and then dropped for want of room.
 */
static int
listener_accept_some(struct listener *ls, int max)
{
	struct listener_set	*lss = ls->ls_set;
	struct sockaddr_storage	 ss;
	socklen_t		 len;
	int			 i, cfd, n = 0;

	for (i = 0; i < max; i++) {
		if (!listener_admit(ls))
			return n;
		len = sizeof(ss);
		cfd = accept4(ls->ls_fd, (struct sockaddr *)&ss, &len,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd == -1) {
			listener_unadmit(ls);
			switch (errno) {
			case EAGAIN:
				return n;
			case EMFILE:
			case ENFILE:
			case ENOBUFS:
			case ENOMEM:
				listener_pause(ls, errno);
				return n;
			default:
				/*
				 * ECONNABORTED, EPROTO, ENETDOWN...: that
				 * client is gone (accept(2)); take the next.
				 */
				log_debug("%s: accept: %s",
				    ls->ls_relay->rl_name, strerror(errno));
				continue;
			}
		}
		if (ls->ls_pause_logged) {
			log_notice("%s: %s: accepting again",
			    ls->ls_relay->rl_name, ls->ls_addr.ca_text);
			ls->ls_pause_logged = false;
		}
		lss->lss_accept_cb(ls, cfd, (struct sockaddr *)&ss, len,
		    lss->lss_accept_arg);
		n++;
	}
	return n;
}

static void
listener_accept(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)listener_accept_some(arg, LISTENER_ACCEPT_BATCH);
}

/* Start accepting in the set's loop. 0 or -1. */
static int
listener_start(struct listener *ls)
{
	struct listener_set	*lss = ls->ls_set;

	event_assign(&ls->ls_ev, lss->lss_base, ls->ls_fd,
	    EV_READ | EV_PERSIST, listener_accept, ls);
	evtimer_assign(&ls->ls_pause_ev, lss->lss_base, listener_resume, ls);
	ls->ls_started = true;
	if (event_add(&ls->ls_ev, NULL) == -1) {
		ls->ls_started = false;
		return -1;
	}
	return 0;
}

/*
 * Close the socket and free ls. With drain, clients already in its listen
 * queue are accepted first (as far as the budget has room), so that a
 * reload removing or replacing the socket resets none of them.
 */
static void
listener_close(struct listener *ls, bool drain)
{
	int	n;

	if (drain && ls->ls_started && ls->ls_set != NULL &&
	    (n = listener_accept_some(ls, INT32_MAX)) > 0)
		log_info("%s: %s: %d queued client%s taken before closing",
		    ls->ls_relay->rl_name, ls->ls_addr.ca_text, n,
		    n == 1 ? "" : "s");
	if (ls->ls_started) {
		event_del(&ls->ls_ev);
		event_del(&ls->ls_pause_ev);
	}
	if (ls->ls_fd != -1)
		close(ls->ls_fd);
	relay_unref(ls->ls_relay);
	free(ls);
}

/* --- the set ------------------------------------------------------------ */

int
listener_set_init(struct listener_set *lss, struct event_base *base,
    struct budget *budget, listener_accept_cb cb, void *arg)
{
	int	i;

	memset(lss, 0, sizeof(*lss));
	TAILQ_INIT(&lss->lss_list);
	lss->lss_base = base;
	lss->lss_budget = budget;
	lss->lss_accept_cb = cb;
	lss->lss_accept_arg = arg;
	if ((lss->lss_npassed = notify_listen_fds()) <= 0) {
		lss->lss_npassed = 0;
		return 0;
	}
	if ((lss->lss_passed = calloc((size_t)lss->lss_npassed,
	    sizeof(int))) == NULL) {
		log_error("out of memory");
		return -1;
	}
	for (i = 0; i < lss->lss_npassed; i++)
		lss->lss_passed[i] = notify_listen_fds_start() + i;
	log_info("%d socket%s passed by the service manager",
	    lss->lss_npassed, lss->lss_npassed == 1 ? "" : "s");
	return 0;
}

/* A socket the service manager passed for addr, taken from the list. */
static int
listener_take_passed(struct listener_set *lss, const struct config_addr *addr)
{
	int	i, fd;

	for (i = 0; i < lss->lss_npassed; i++) {
		if (lss->lss_passed[i] == -1 ||
		    !listener_fd_matches(lss->lss_passed[i], addr))
			continue;
		fd = lss->lss_passed[i];
		lss->lss_passed[i] = -1;
		return fd;
	}
	return -1;
}

int
listener_set_check_passed(struct listener_set *lss)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len;
	char			 addr[SOCK_NTOP_MAX];
	int			 i, bad = 0;

	for (i = 0; i < lss->lss_npassed; i++) {
		if (lss->lss_passed[i] == -1)
			continue;
		len = sizeof(ss);
		if (getsockname(lss->lss_passed[i], (struct sockaddr *)&ss,
		    &len) == -1)
			snprintf(addr, sizeof(addr), "unknown address");
		else
			sock_ntop((struct sockaddr *)&ss, addr, sizeof(addr));
		log_error("the socket passed by the service manager as fd %d "
		    "(%s) matches no 'listen' address of the configuration",
		    lss->lss_passed[i], addr);
		bad++;
	}
	return bad == 0 ? 0 : -1;
}

/*
 * Lookup tables over the running listeners, so that a change is linear in
 * the number of addresses: by address and protocol (to keep a socket), and
 * by port (to find those that a new address overlaps).
 */
struct listener_index {
	struct listener	**li_exact;
	struct listener	**li_port;
	size_t		  li_mask;	/* size - 1, a power of two */
};

static uint16_t
addr_port(const struct config_addr *a)
{
	if (a->ca_ss.ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)&a->ca_ss)->sin_port);
	return ntohs(((const struct sockaddr_in6 *)&a->ca_ss)->sin6_port);
}

static size_t
addr_hash(const struct config_addr *a, int protocol)
{
	const unsigned char	*p = (const unsigned char *)&a->ca_ss;
	uint64_t		 h = 1469598103934665603ULL;	/* FNV-1a */
	socklen_t		 i;

	for (i = 0; i < a->ca_len; i++)
		h = (h ^ p[i]) * 1099511628211ULL;
	h = (h ^ (unsigned)a->ca_dualstack) * 1099511628211ULL;
	h = (h ^ (unsigned)protocol) * 1099511628211ULL;
	return (size_t)h;
}

static size_t
port_hash(uint16_t port)
{
	return (size_t)port * 2654435761U;
}

static int
listener_index_build(struct listener_index *li, struct listener_list *list,
    int n)
{
	struct listener	*ls;
	size_t		 size = 16, h;

	while (size < (size_t)n * 2)
		size <<= 1;
	li->li_mask = size - 1;
	li->li_exact = calloc(size, sizeof(*li->li_exact));
	li->li_port = calloc(size, sizeof(*li->li_port));
	if (li->li_exact == NULL || li->li_port == NULL) {
		free(li->li_exact);
		free(li->li_port);
		return -1;
	}
	TAILQ_FOREACH(ls, list, ls_entry) {
		h = addr_hash(&ls->ls_addr, listener_conf(ls)->lc_protocol) &
		    li->li_mask;
		ls->ls_hnext = li->li_exact[h];
		li->li_exact[h] = ls;
		h = port_hash(addr_port(&ls->ls_addr)) & li->li_mask;
		ls->ls_pnext = li->li_port[h];
		li->li_port[h] = ls;
		ls->ls_moved = false;
	}
	return 0;
}

static void
listener_index_free(struct listener_index *li)
{
	free(li->li_exact);
	free(li->li_port);
}

/* Whether a listener of lc opens its socket with IP_TRANSPARENT. */
static bool
listener_tproxy(const struct listener_config *lc)
{
	return lc->lc_transparent == CONFIG_TRANSPARENT_TPROXY;
}

/*
 * The running listener bound to a with the protocol and IP_TRANSPARENT
 * of lc, or NULL: a change of either takes a new socket.
 */
static struct listener *
listener_index_find(const struct listener_index *li,
    const struct config_addr *a, const struct listener_config *lc)
{
	struct listener	*ls;

	ls = li->li_exact[addr_hash(a, lc->lc_protocol) & li->li_mask];
	for (; ls != NULL; ls = ls->ls_hnext)
		if (!ls->ls_moved &&
		    listener_conf(ls)->lc_protocol == lc->lc_protocol &&
		    listener_tproxy(listener_conf(ls)) == listener_tproxy(lc) &&
		    config_addr_equal(&ls->ls_addr, a))
			return ls;
	return NULL;
}

/* One change of the set, being decided. */
struct listener_change {
	struct listener_list	 lc_next;	/* kept, adopted, bound */
	struct listener_list	 lc_replace;	/* placeholders: bind later */
	struct listener_list	 lc_displaced;	/* running, overlapping those */
	int			 lc_kept, lc_opened, lc_closed;
};

/* Open (or adopt) the socket of address a of section rl, as lc says. */
static struct listener *
listener_make(struct listener_set *lss, struct relay *rl,
    const struct listener_config *lc, const struct config_addr *a)
{
	struct listener	*ls;
	int		 fd;

	if ((fd = listener_take_passed(lss, a)) != -1)
		ls = listener_adopt(rl, lc, a, fd);
	else
		ls = listener_open(rl, lc, a);
	if (ls != NULL)
		ls->ls_set = lss;
	return ls;
}

/*
 * The running listeners that a new address a overlaps, with another
 * protocol or as a wider or narrower address, move to the displaced list:
 * they must close before a binds. Returns how many. The config has no
 * overlaps of its own, so none of them is also kept.
 */
static int
listener_displace(struct listener_set *lss, const struct listener_index *li,
    struct listener_change *ch, const struct config_addr *a)
{
	struct listener	*ls;
	uint16_t	 port = addr_port(a);
	int		 n = 0;

	ls = li->li_port[port_hash(port) & li->li_mask];
	for (; ls != NULL; ls = ls->ls_pnext) {
		if (ls->ls_moved || addr_port(&ls->ls_addr) != port ||
		    !config_addr_overlap(&ls->ls_addr, a))
			continue;
		ls->ls_moved = true;
		TAILQ_REMOVE(&lss->lss_list, ls, ls_entry);
		TAILQ_INSERT_TAIL(&ch->lc_displaced, ls, ls_entry);
		n++;
	}
	return n;
}

/* Undo a change that failed: the running set is as it was. */
static void
listener_change_undo(struct listener_set *lss, struct listener_change *ch)
{
	struct listener	*ls;

	while ((ls = TAILQ_FIRST(&ch->lc_next)) != NULL) {
		TAILQ_REMOVE(&ch->lc_next, ls, ls_entry);
		if (ls->ls_next_relay != NULL) {
			ls->ls_next_relay = NULL;
			ls->ls_next_addr = NULL;
			TAILQ_INSERT_TAIL(&lss->lss_list, ls, ls_entry);
		} else
			listener_close(ls, false);
	}
	while ((ls = TAILQ_FIRST(&ch->lc_replace)) != NULL) {
		TAILQ_REMOVE(&ch->lc_replace, ls, ls_entry);
		if (ls->ls_fd != -1)
			listener_close(ls, false);
		else {
			relay_unref(ls->ls_relay);
			free(ls);
		}
	}
	while ((ls = TAILQ_FIRST(&ch->lc_displaced)) != NULL) {
		TAILQ_REMOVE(&ch->lc_displaced, ls, ls_entry);
		TAILQ_INSERT_TAIL(&lss->lss_list, ls, ls_entry);
	}
}

/*
 * Replace the displaced sockets with the new ones they overlap. Checked
 * first (no socket is given up that could not be bound again for want of
 * privilege); then the displaced sockets' queued clients are taken and
 * the sockets closed, and the new ones bound. If a bind still fails (the
 * address was taken meanwhile), the displaced sockets are bound again as
 * they were and -1 is returned: the change is refused.
 */
static int
listener_replace(struct listener_change *ch)
{
	struct listener	*ls, *o, *nls, *next;
	char		 why[200];
	int		 failed = 0;

	TAILQ_FOREACH(ls, &ch->lc_replace, ls_entry) {
		if (!priv_can_bind_port(addr_port(&ls->ls_addr), why,
		    sizeof(why)) || (listener_tproxy(ls->ls_next_conf) &&
		    !priv_can_transparent(why, sizeof(why)))) {
			log_error("%s: cannot replace the socket on %s (its "
			    "protocol or address changed): %s; restart the "
			    "daemon to apply this change",
			    ls->ls_relay->rl_name, ls->ls_addr.ca_text, why);
			return -1;
		}
	}
	/* The displaced sockets' clients are relayed as before; then close. */
	TAILQ_FOREACH(o, &ch->lc_displaced, ls_entry) {
		if (o->ls_started)
			(void)listener_accept_some(o, INT32_MAX);
		if (o->ls_started) {
			event_del(&o->ls_ev);
			event_del(&o->ls_pause_ev);
			o->ls_started = false;
		}
		close(o->ls_fd);
		o->ls_fd = -1;
	}
	TAILQ_FOREACH(ls, &ch->lc_replace, ls_entry) {
		nls = listener_open(ls->ls_relay, ls->ls_next_conf,
		    &ls->ls_addr);
		if (nls == NULL) {
			failed = 1;
			break;
		}
		ls->ls_fd = nls->ls_fd;
		ls->ls_protocol = nls->ls_protocol;
		nls->ls_fd = -1;
		listener_close(nls, false);
	}
	if (!failed)
		return 0;
	/* Bind the displaced sockets again, as they were. */
	TAILQ_FOREACH(ls, &ch->lc_replace, ls_entry) {
		if (ls->ls_fd != -1) {
			close(ls->ls_fd);
			ls->ls_fd = -1;
		}
	}
	for (o = TAILQ_FIRST(&ch->lc_displaced); o != NULL; o = next) {
		next = TAILQ_NEXT(o, ls_entry);
		nls = listener_open(o->ls_relay, listener_conf(o), &o->ls_addr);
		if (nls == NULL) {
			log_error("%s: %s is not listening any more: its "
			    "socket was closed to be replaced, and neither the "
			    "new one nor the old one could be bound",
			    o->ls_relay->rl_name, o->ls_addr.ca_text);
			TAILQ_REMOVE(&ch->lc_displaced, o, ls_entry);
			listener_close(o, false);
			continue;
		}
		o->ls_fd = nls->ls_fd;
		o->ls_protocol = nls->ls_protocol;
		nls->ls_fd = -1;
		listener_close(nls, false);
		if (listener_start(o) == -1)
			log_error("%s: cannot watch the socket of %s",
			    o->ls_relay->rl_name, o->ls_addr.ca_text);
	}
	return -1;
}

static void
listener_log_start(const struct listener *ls,
    const struct listener_config *conf)
{
	char	more[32] = "";

	if (conf->lc_nupstreams > 1)
		snprintf(more, sizeof(more), " and %d more",
		    conf->lc_nupstreams - 1);
	log_notice("%s: listening on %s (%s%s), upstream %s%s (%s)",
	    conf->lc_name, ls->ls_addr.ca_text,
	    config_protocol_name(ls->ls_protocol),
	    ls->ls_adopted ? ", from the service manager" : "",
	    conf->lc_nupstreams > 0 ? conf->lc_upstreams[0].cu_text : "none",
	    more, config_protocol_name(conf->lc_upstream_protocol));
}

int
listener_set_apply(struct listener_set *lss, struct config *cf,
    const struct relay_set *rs, bool reload)
{
	struct listener_change		 ch;
	struct listener_index		 li;
	struct listener_config		*lc;
	const struct listener_config	*conf;
	struct listener			*ls;
	struct relay			*rl;
	const struct config_addr	*a;
	int				 i, r = 0;

	memset(&ch, 0, sizeof(ch));
	TAILQ_INIT(&ch.lc_next);
	TAILQ_INIT(&ch.lc_replace);
	TAILQ_INIT(&ch.lc_displaced);
	if (listener_index_build(&li, &lss->lss_list, lss->lss_count) == -1) {
		log_error("out of memory");
		return -1;
	}
	TAILQ_FOREACH(lc, &cf->cf_listeners, lc_entry) {
		rl = rs->rs_relays[r++];
		for (i = 0; i < lc->lc_nlisten; i++) {
			a = &lc->lc_listen[i];
			if ((ls = listener_index_find(&li, a, lc)) != NULL) {
				/* Kept: moved over, updated once all is well. */
				ls->ls_moved = true;
				TAILQ_REMOVE(&lss->lss_list, ls, ls_entry);
				ls->ls_next_relay = rl;
				ls->ls_next_conf = lc;
				ls->ls_next_addr = a;
				TAILQ_INSERT_TAIL(&ch.lc_next, ls, ls_entry);
				ch.lc_kept++;
				continue;
			}
			if (listener_displace(lss, &li, &ch, a) > 0) {
				/* Bound once what it overlaps has closed. */
				if ((ls = listener_new(rl, a, -1,
				    lc->lc_protocol)) == NULL)
					goto fail;
				ls->ls_set = lss;
				ls->ls_next_conf = lc;
				TAILQ_INSERT_TAIL(&ch.lc_replace, ls, ls_entry);
				continue;
			}
			if ((ls = listener_make(lss, rl, lc, a)) == NULL)
				goto fail;
			ls->ls_next_conf = lc;
			TAILQ_INSERT_TAIL(&ch.lc_next, ls, ls_entry);
			ch.lc_opened++;
		}
	}
	if (!TAILQ_EMPTY(&ch.lc_replace) && listener_replace(&ch) == -1)
		goto fail;
	listener_index_free(&li);

	/* Commit: nothing below can fail but for want of memory. */
	while ((ls = TAILQ_FIRST(&ch.lc_replace)) != NULL) {
		TAILQ_REMOVE(&ch.lc_replace, ls, ls_entry);
		TAILQ_INSERT_TAIL(&ch.lc_next, ls, ls_entry);
		ch.lc_opened++;
	}
	TAILQ_FOREACH(ls, &ch.lc_next, ls_entry) {
		if (ls->ls_next_relay != NULL) {
			listener_update(ls, ls->ls_next_relay,
			    ls->ls_next_conf, ls->ls_next_addr);
			ls->ls_next_relay = NULL;
			ls->ls_next_conf = NULL;
			ls->ls_next_addr = NULL;
			continue;
		}
		conf = ls->ls_next_conf;
		ls->ls_next_conf = NULL;
		if (listener_start(ls) == -1) {
			log_error("%s: cannot watch the socket of %s",
			    ls->ls_relay->rl_name, ls->ls_addr.ca_text);
			continue;
		}
		listener_log_start(ls, conf);
	}
	while ((ls = TAILQ_FIRST(&ch.lc_displaced)) != NULL) {
		TAILQ_REMOVE(&ch.lc_displaced, ls, ls_entry);
		log_notice("%s: no longer listening on %s (replaced)",
		    ls->ls_relay->rl_name, ls->ls_addr.ca_text);
		listener_close(ls, false);	/* drained by the replace */
		ch.lc_closed++;
	}
	while ((ls = TAILQ_FIRST(&lss->lss_list)) != NULL) {
		TAILQ_REMOVE(&lss->lss_list, ls, ls_entry);
		log_notice("%s: no longer listening on %s",
		    ls->ls_relay->rl_name, ls->ls_addr.ca_text);
		listener_close(ls, true);
		ch.lc_closed++;
	}
	TAILQ_CONCAT(&lss->lss_list, &ch.lc_next, ls_entry);
	lss->lss_count = ch.lc_kept + ch.lc_opened;
	if (reload)
		log_notice("listening sockets: %d kept, %d opened, %d closed",
		    ch.lc_kept, ch.lc_opened, ch.lc_closed);
	return 0;
fail:
	listener_index_free(&li);
	listener_change_undo(lss, &ch);
	return -1;
}

/*
 * Whether n sessions are far enough below a limit of max to say that
 * accepting goes on: a tenth below it, so that sessions ending and
 * starting at the limit do not log a pair of lines each time.
 */
static bool
listener_well_below(unsigned n, unsigned max)
{
	return n + (max >= 10 ? max / 10 : 1) <= max;
}

void
listener_set_resume(struct listener_set *lss)
{
	struct listener	*ls;
	unsigned	 n;

	if (lss->lss_stopped)
		return;
	TAILQ_FOREACH(ls, &lss->lss_list, ls_entry) {
		n = __atomic_load_n(&ls->ls_relay->rl_sessions,
		    __ATOMIC_RELAXED);
		if (ls->ls_relay->rl_capped &&
		    listener_well_below(n, listener_conf(ls)->lc_max_connections)) {
			log_notice("%s: accepting again: %u sessions open",
			    ls->ls_relay->rl_name, n);
			ls->ls_relay->rl_capped = false;
		}
		if (!ls->ls_waiting)
			continue;
		ls->ls_waiting = false;
		listener_watch(ls);
	}
	if (lss->lss_full_logged && listener_well_below(
	    n = budget_sessions(lss->lss_budget),
	    lss->lss_budget->b_sessions_max)) {
		log_notice("accepting again: %u sessions open", n);
		lss->lss_full_logged = false;
	}
}

void
listener_set_close(struct listener_set *lss)
{
	struct listener	*ls;

	lss->lss_stopped = true;
	while ((ls = TAILQ_FIRST(&lss->lss_list)) != NULL) {
		TAILQ_REMOVE(&lss->lss_list, ls, ls_entry);
		listener_close(ls, false);
	}
	lss->lss_count = 0;
}

void
listener_set_clear(struct listener_set *lss)
{
	int	i;

	listener_set_close(lss);
	for (i = 0; i < lss->lss_npassed; i++)
		if (lss->lss_passed[i] != -1)
			close(lss->lss_passed[i]);
	free(lss->lss_passed);
	lss->lss_passed = NULL;
	lss->lss_npassed = 0;
}
