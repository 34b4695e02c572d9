/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

/*
 * Listeners: one listening socket per configured address. A listener
 * accepts without spinning (a batch per wake-up; on EMFILE/ENFILE it
 * pauses for a moment and says so once) and hands each client socket to a
 * new session, through the callback its owner registered.
 */
#ifndef MPTCP_RELAYD_LISTENER_H
#define MPTCP_RELAYD_LISTENER_H

#include <sys/queue.h>
#include <stdbool.h>

#include <event2/event.h>
#include <event2/event_struct.h>

#include "config.h"

struct listener;

/*
 * Called for each accepted client: fd (non-blocking, close-on-exec) is the
 * callee's from then on. ls->ls_config and ls->ls_conf say what it is for.
 */
typedef void (*listener_accept_cb)(struct listener *ls, int fd,
    const struct sockaddr *client, socklen_t clientlen, void *arg);

struct listener {
	TAILQ_ENTRY(listener)		 ls_entry;
	struct config			*ls_config;	/* referenced */
	const struct listener_config	*ls_conf;
	const struct config_addr	*ls_addr;
	int				 ls_fd;
	int				 ls_protocol;	/* as opened */
	listener_accept_cb		 ls_accept_cb;
	void				*ls_accept_arg;
	struct event			 ls_ev;
	struct event			 ls_pause_ev;
	bool				 ls_started;
	bool				 ls_adopted;	/* from systemd */
	/* While a reload decides: what the listener will serve. */
	const struct listener_config	*ls_reload_conf;
	const struct config_addr	*ls_reload_addr;
	bool				 ls_paused;	/* EMFILE back-off */
	bool				 ls_suspended;	/* by its owner */
	bool				 ls_pause_logged;
};
TAILQ_HEAD(listener_list, listener);

/*
 * Open the socket for address addr of listener conf (in config cf) with
 * the configured protocol, falling back to TCP when the kernel has no
 * MPTCP and mptcp_fallback allows it. Returns a new listener holding a
 * reference on cf, or NULL after logging a clear reason.
 */
struct listener	*listener_open(struct config *cf,
		    const struct listener_config *conf,
		    const struct config_addr *addr);

/*
 * Take over fd, a listening socket passed by the service manager
 * (socket activation), for address addr of listener conf: it must be
 * listening there with the configured protocol. Returns a new listener
 * owning fd, or NULL after logging what does not fit (fd stays open).
 */
struct listener	*listener_adopt(struct config *cf,
		    const struct listener_config *conf,
		    const struct config_addr *addr, int fd);

/* Whether fd is bound to exactly addr (address, port, dual-stack). */
bool		 listener_fd_matches(int fd, const struct config_addr *addr);

/*
 * A reload kept this listener's socket: point it at the new config
 * (taking a reference on cf, dropping the old one) and apply the
 * settings that can change on a live socket (backlog, buffer sizes).
 * Sessions already running keep the config they started with.
 */
void		 listener_update(struct listener *ls, struct config *cf,
		    const struct listener_config *conf,
		    const struct config_addr *addr);

/* Start accepting on base; clients go to cb. 0 or -1. */
int		 listener_start(struct listener *ls, struct event_base *base,
		    listener_accept_cb cb, void *arg);

/*
 * Stop taking clients for now (they wait in the listen queue), and take
 * them again; for the owner's caps. Idempotent.
 */
void		 listener_suspend(struct listener *ls);
void		 listener_unsuspend(struct listener *ls);

/* Stop accepting, close the socket and free ls. */
void		 listener_close(struct listener *ls);

#endif
