/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

#include "autoconf.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compat.h"
#include "listener.h"
#include "log.h"
#include "sock.h"

/* Clients accepted per wake-up, so one busy listener cannot starve others. */
#define LISTENER_ACCEPT_BATCH	64
/* How long accepting pauses when the process is out of descriptors. */
#define LISTENER_PAUSE_MS	1000

/* Options of the listening socket, which accepted sockets inherit. */
static struct sock_opts
listener_opts(const struct listener_config *conf)
{
	struct sock_opts	opts = {
		.so_rcvbuf = conf->lc_rcvbuf,
		.so_sndbuf = conf->lc_sndbuf,
		.so_nodelay = conf->lc_nodelay,
		.so_keepalive = conf->lc_keepalive,
	};

	return opts;
}

/* A listener around listening socket fd; references cf. NULL: no memory. */
static struct listener *
listener_new(struct config *cf, const struct listener_config *conf,
    const struct config_addr *addr, int fd, int protocol)
{
	struct listener	*ls;

	if ((ls = calloc(1, sizeof(*ls))) == NULL) {
		log_error("%s: out of memory", conf->lc_name);
		return NULL;
	}
	config_ref(cf);
	ls->ls_config = cf;
	ls->ls_conf = conf;
	ls->ls_addr = addr;
	ls->ls_fd = fd;
	ls->ls_protocol = protocol;
	return ls;
}

struct listener *
listener_open(struct config *cf, const struct listener_config *conf,
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
		    "needs root or CAP_NET_BIND_SERVICE)" : "");
		return NULL;
	}
	if ((ls = listener_new(cf, conf, addr, fd, protocol)) == NULL)
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

struct listener *
listener_adopt(struct config *cf, const struct listener_config *conf,
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
	sock_apply_opts(fd, &opts);
	if ((ls = listener_new(cf, conf, addr, fd, proto)) != NULL)
		ls->ls_adopted = true;
	return ls;
}

void
listener_update(struct listener *ls, struct config *cf,
    const struct listener_config *conf, const struct config_addr *addr)
{
	const struct listener_config	*old = ls->ls_conf;
	struct config			*oldcf = ls->ls_config;

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
	config_ref(cf);
	ls->ls_config = cf;
	ls->ls_conf = conf;
	ls->ls_addr = addr;
	config_unref(oldcf);
}

static void
listener_resume(evutil_socket_t fd, short what, void *arg)
{
	struct listener	*ls = arg;

	(void)fd;
	(void)what;
	ls->ls_paused = false;
	if (!ls->ls_suspended)
		event_add(&ls->ls_ev, NULL);
}

void
listener_suspend(struct listener *ls)
{
	if (ls->ls_suspended)
		return;
	ls->ls_suspended = true;
	if (ls->ls_started && !ls->ls_paused)
		event_del(&ls->ls_ev);
}

void
listener_unsuspend(struct listener *ls)
{
	if (!ls->ls_suspended)
		return;
	ls->ls_suspended = false;
	if (ls->ls_started && !ls->ls_paused)
		event_add(&ls->ls_ev, NULL);
}

/*
 * Out of descriptors or memory: the pending client cannot be taken, and
 * the listening socket stays readable, so retrying at once would spin.
 * Step back for a moment; say so once per episode.
 */
static void
listener_pause(struct listener *ls, int err)
{
	struct timeval	tv = { LISTENER_PAUSE_MS / 1000,
			    (LISTENER_PAUSE_MS % 1000) * 1000 };

	if (!ls->ls_pause_logged) {
		log_warnx("%s: %s: accept: %s; pausing accepts for %d ms",
		    ls->ls_conf->lc_name, ls->ls_addr->ca_text, strerror(err),
		    LISTENER_PAUSE_MS);
		ls->ls_pause_logged = true;
	}
	event_del(&ls->ls_ev);
	ls->ls_paused = true;
	evtimer_add(&ls->ls_pause_ev, &tv);
}

static void
listener_accept(evutil_socket_t fd, short what, void *arg)
{
	struct listener		*ls = arg;
	struct sockaddr_storage	 ss;
	socklen_t		 len;
	int			 i, cfd;

	(void)what;
	for (i = 0; i < LISTENER_ACCEPT_BATCH; i++) {
		len = sizeof(ss);
		cfd = accept4(fd, (struct sockaddr *)&ss, &len,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd == -1) {
			switch (errno) {
			case EAGAIN:
				return;
			case EMFILE:
			case ENFILE:
			case ENOBUFS:
			case ENOMEM:
				listener_pause(ls, errno);
				return;
			default:
				/*
				 * ECONNABORTED, EPROTO, ENETDOWN...: that
				 * client is gone (accept(2)); take the next.
				 */
				log_debug("%s: accept: %s", ls->ls_conf->lc_name,
				    strerror(errno));
				continue;
			}
		}
		if (ls->ls_pause_logged) {
			log_notice("%s: %s: accepting again",
			    ls->ls_conf->lc_name, ls->ls_addr->ca_text);
			ls->ls_pause_logged = false;
		}
		ls->ls_accept_cb(ls, cfd, (struct sockaddr *)&ss, len,
		    ls->ls_accept_arg);
		if (ls->ls_suspended)
			return;		/* the owner's cap is reached */
	}
}

int
listener_start(struct listener *ls, struct event_base *base,
    listener_accept_cb cb, void *arg)
{
	ls->ls_accept_cb = cb;
	ls->ls_accept_arg = arg;
	event_assign(&ls->ls_ev, base, ls->ls_fd, EV_READ | EV_PERSIST,
	    listener_accept, ls);
	evtimer_assign(&ls->ls_pause_ev, base, listener_resume, ls);
	if (!ls->ls_suspended && event_add(&ls->ls_ev, NULL) == -1)
		return -1;
	ls->ls_started = true;
	return 0;
}

void
listener_close(struct listener *ls)
{
	if (ls->ls_started) {
		event_del(&ls->ls_ev);
		event_del(&ls->ls_pause_ev);
	}
	close(ls->ls_fd);
	config_unref(ls->ls_config);
	free(ls);
}
