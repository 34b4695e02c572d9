/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

/*
 * Listeners: one listening socket per configured address, and the set of
 * them that a configuration asks for.
 *
 * A listener admits a client only when the descriptor budget has room for
 * its session: it counts the session in before accept(2), so that nothing
 * is accepted and then dropped; at the limit it stops watching its socket
 * (clients wait in the listen queue) until listener_set_resume(), which
 * the owner calls when a session has ended. It accepts without spinning
 * (a batch per wake-up; on EMFILE/ENFILE it pauses and says so once) and
 * hands each client to the owner's callback.
 *
 * listener_set_apply() turns the running set into the one a configuration
 * asks for, all or nothing: sockets whose address and protocol are
 * unchanged are kept (no client is refused during a reload), others are
 * adopted from the service manager or bound, and nothing running is
 * closed before everything new is bound. A socket that must be replaced
 * in place (same address, other protocol) is checked first (a port below
 * ip_unprivileged_port_start needs CAP_NET_BIND_SERVICE), then replaced;
 * if that still fails, the old socket is bound again and the whole change
 * is refused. Clients queued on a socket that closes are accepted first
 * and relayed with the configuration they came for.
 */
#ifndef MPTCP_RELAYD_LISTENER_H
#define MPTCP_RELAYD_LISTENER_H

#include <sys/queue.h>
#include <stdbool.h>

#include <event2/event.h>
#include <event2/event_struct.h>

#include "budget.h"
#include "config.h"
#include "relay.h"

struct listener;
struct listener_set;

/*
 * Called for each accepted client: fd (non-blocking, close-on-exec) is the
 * callee's from then on, and so is the session counted in for it (in the
 * budget and in ls->ls_relay), to be counted out when the session ends.
 */
typedef void (*listener_accept_cb)(struct listener *ls, int fd,
    const struct sockaddr *client, socklen_t clientlen, void *arg);

struct listener {
	TAILQ_ENTRY(listener)	 ls_entry;
	struct listener_set	*ls_set;
	struct relay		*ls_relay;	/* referenced: its section */
	struct config_addr	 ls_addr;
	int			 ls_fd;
	int			 ls_protocol;	/* as opened */
	struct event		 ls_ev;
	struct event		 ls_pause_ev;
	bool			 ls_started;
	bool			 ls_adopted;	/* from the service manager */
	bool			 ls_paused;	/* EMFILE back-off */
	bool			 ls_waiting;	/* for room in the budget */
	bool			 ls_pause_logged;
	/* While a change decides: what the listener will serve. */
	struct relay		*ls_next_relay;
	const struct listener_config *ls_next_conf;
	const struct config_addr *ls_next_addr;
	struct listener		*ls_hnext;	/* in the lookup tables */
	struct listener		*ls_pnext;
	bool			 ls_moved;	/* out of the running list */
};
TAILQ_HEAD(listener_list, listener);

struct listener_set {
	struct listener_list	 lss_list;
	int			 lss_count;
	struct event_base	*lss_base;
	struct budget		*lss_budget;
	listener_accept_cb	 lss_accept_cb;
	void			*lss_accept_arg;
	bool			 lss_stopped;	/* accept nothing any more */
	bool			 lss_full_logged;
	/* Sockets passed by the service manager, not yet adopted. */
	int			*lss_passed;
	int			 lss_npassed;
};

/*
 * An empty set whose listeners will accept in base, count sessions in
 * budget (NULL: no limit) and hand clients to cb. Takes the sockets passed
 * by the service manager, if any (LISTEN_FDS).
 */
int	listener_set_init(struct listener_set *lss, struct event_base *base,
	    struct budget *budget, listener_accept_cb cb, void *arg);

/*
 * Make the set what config cf asks for, each section served by its relay
 * in rs (in the order of cf's sections), as described above. reload says
 * whether this is a reload (it is logged as one). Returns 0, or -1 after
 * logging why, with the running set unchanged.
 */
int	listener_set_apply(struct listener_set *lss, struct config *cf,
	    const struct relay_set *rs, bool reload);

/*
 * Every socket the service manager passed must belong to a configured
 * address: 0, or -1 after logging the strays.
 */
int	listener_set_check_passed(struct listener_set *lss);

/* A session ended: listeners that wait for room take clients again. */
void	listener_set_resume(struct listener_set *lss);

/*
 * Stop accepting for good and close every listening socket (a stop);
 * clients still queued see their connection refused.
 */
void	listener_set_close(struct listener_set *lss);

/* Close what the set holds and free it; the set is empty afterwards. */
void	listener_set_clear(struct listener_set *lss);

/* Whether fd is bound to exactly addr (address, port, dual-stack). */
bool	listener_fd_matches(int fd, const struct config_addr *addr);

#endif
