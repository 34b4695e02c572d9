/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

#include "autoconf.h"

#include <sys/resource.h>
#include <sys/types.h>
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/event_struct.h>

#include "config.h"
#include "daemon.h"
#include "diagnose.h"
#include "listener.h"
#include "log.h"
#include "notify.h"
#include "session.h"
#include "sock.h"
#include "worker.h"

/* The one daemon context: everything the process owns at run time. */
struct daemon {
	const char		*d_config_path;
	struct config		*d_config;
	bool			 d_log_level_forced;	/* -l given */
	struct event_base	*d_base;
	struct session_ctx	 d_sessions;
	struct listener_list	 d_listeners;
	struct event		 d_sigterm;
	struct event		 d_sigint;
	struct event		 d_sighup;
	struct event		 d_drain_timer;
	bool			 d_draining;	/* d_drain_timer added */
	bool			 d_stopping;
	bool			 d_privdropped;	/* user= applied */
	/* Sockets passed by the service manager, not yet adopted. */
	int			*d_passed;
	int			 d_npassed;
	/* STATUS= for systemd, refreshed when it changes. */
	struct event		 d_status_timer;
	bool			 d_status_on;
	char			 d_status[128];
	struct event		 d_watchdog_timer;
	bool			 d_watchdog_on;
	/*
	 * workers > 1: the daemon's loop runs sessions too (worker 0) and
	 * hands every other client to the d_nworkers - 1 threads.
	 */
	bool			 d_threaded;
	int			 d_nworkers;
	unsigned		 d_next;	/* round-robin, 0 = this loop */
	bool			 d_workers_finished;
	struct worker_pool	 d_workers;
	struct event		 d_workers_done;
	/*
	 * Sessions the open-files limit leaves room for: each holds two
	 * descriptors. At the cap the listeners are suspended, so clients
	 * wait in the listen queue instead of being accepted and dropped.
	 */
	unsigned		 d_maxsessions;
	bool			 d_capped;
	struct event		 d_cap_timer;
	bool			 d_cap_on;
};

/* Descriptors kept back from sessions: stdio, event loops, listeners... */
#define DAEMON_FD_RESERVE	32
/* While capped, how often to look whether sessions have ended. */
#define DAEMON_CAP_CHECK_MS	50

#define DAEMON_STATUS_MS	1000	/* STATUS= at most this often */

static const struct option daemon_longopts[] = {
	{ "config",	required_argument,	NULL,	'c' },
	{ "test",	no_argument,		NULL,	't' },
	{ "diagnose",	no_argument,		NULL,	'D' },
	{ "log-level",	required_argument,	NULL,	'l' },
	{ "version",	no_argument,		NULL,	'V' },
	{ "help",	no_argument,		NULL,	'h' },
	{ NULL,		0,			NULL,	0 },
};

static void
daemon_usage(FILE *fp)
{
	fprintf(fp,
	    "usage: mptcp-relayd [-c FILE] [-t] [-D] [-l LEVEL] [-V] [-h]\n"
	    "  -c, --config FILE     configuration file (default %s)\n"
	    "  -t, --test            check the configuration and exit\n"
	    "  -D, --diagnose        report the host's MPTCP readiness and "
	    "exit\n"
	    "  -l, --log-level LEVEL error, warning, notice, info or debug\n"
	    "  -V, --version         print the version and exit\n"
	    "  -h, --help            print this help and exit\n",
	    CONFIG_DEFAULT_PATH);
}

/*
 * Each session holds two descriptors: take all the kernel allows us, and
 * return how many sessions fit.
 */
static unsigned
daemon_raise_nofile(void)
{
	struct rlimit	rl;
	rlim_t		room;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return UINT32_MAX;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			log_warn("setrlimit RLIMIT_NOFILE");
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == -1 || rl.rlim_cur == RLIM_INFINITY)
		return UINT32_MAX;
	/* A tiny limit (tests, a misconfigured unit) still gets a session. */
	room = rl.rlim_cur > 2 * DAEMON_FD_RESERVE ?
	    rl.rlim_cur - DAEMON_FD_RESERVE : rl.rlim_cur / 2;
	room /= 2;
	if (room < 1)
		room = 1;
	if (room > UINT32_MAX)
		room = UINT32_MAX;
	log_info("open files limit %llu: room for %llu sessions",
	    (unsigned long long)rl.rlim_cur, (unsigned long long)room);
	return (unsigned)room;
}

/* A socket the service manager passed for addr, taken from the list. */
static int
daemon_take_passed(struct daemon *d, const struct config_addr *addr)
{
	int	i, fd;

	for (i = 0; i < d->d_npassed; i++) {
		if (d->d_passed[i] == -1 ||
		    !listener_fd_matches(d->d_passed[i], addr))
			continue;
		fd = d->d_passed[i];
		d->d_passed[i] = -1;
		return fd;
	}
	return -1;
}

/* The listener of the running set bound to addr with that protocol. */
static struct listener *
daemon_find_listener(struct listener_list *list, const struct config_addr *a,
    int protocol)
{
	struct listener	*ls;

	TAILQ_FOREACH(ls, list, ls_entry)
		if (ls->ls_conf->lc_protocol == protocol &&
		    config_addr_equal(ls->ls_addr, a))
			return ls;
	return NULL;
}

static unsigned
daemon_sessions(const struct daemon *d)
{
	return d->d_sessions.sc_count +
	    (d->d_threaded ? worker_pool_sessions(&d->d_workers) : 0);
}

static void	daemon_cap_check(evutil_socket_t, short, void *);

/* At the session cap: suspend every listener until sessions end. */
static void
daemon_cap(struct daemon *d)
{
	struct listener	*ls;
	struct timeval	 tv = { 0, DAEMON_CAP_CHECK_MS * 1000 };

	if (d->d_capped)
		return;
	d->d_capped = true;
	TAILQ_FOREACH(ls, &d->d_listeners, ls_entry)
		listener_suspend(ls);
	log_warnx("%u sessions fill the open files limit (two descriptors "
	    "each); new clients wait in the listen queue until sessions end "
	    "(raise LimitNOFILE= or ulimit -n)", d->d_maxsessions);
	evtimer_assign(&d->d_cap_timer, d->d_base, daemon_cap_check, d);
	if (evtimer_add(&d->d_cap_timer, &tv) == 0)
		d->d_cap_on = true;
}

static void
daemon_cap_check(evutil_socket_t fd, short what, void *arg)
{
	struct daemon	*d = arg;
	struct listener	*ls;
	struct timeval	 tv = { 0, DAEMON_CAP_CHECK_MS * 1000 };

	(void)fd;
	(void)what;
	d->d_cap_on = false;
	if (d->d_stopping)
		return;
	if (daemon_sessions(d) >= d->d_maxsessions) {
		if (evtimer_add(&d->d_cap_timer, &tv) == 0)
			d->d_cap_on = true;
		return;
	}
	d->d_capped = false;
	TAILQ_FOREACH(ls, &d->d_listeners, ls_entry)
		listener_unsuspend(ls);
	log_notice("accepting again: %u sessions open", daemon_sessions(d));
}

/* A listener accepted a client: start its session here or in a worker. */
static void
daemon_accept(struct listener *ls, int fd, const struct sockaddr *client,
    socklen_t clientlen, void *arg)
{
	struct daemon	*d = arg;

	if (d->d_threaded && d->d_next++ % (unsigned)d->d_nworkers != 0)
		worker_dispatch(&d->d_workers, ls->ls_config, ls->ls_conf, fd,
		    client, clientlen);
	else
		session_start(&d->d_sessions, ls->ls_config, ls->ls_conf, fd,
		    client, clientlen);
	if (daemon_sessions(d) >= d->d_maxsessions)
		daemon_cap(d);
}

static int
daemon_start_listener(struct daemon *d, struct listener *ls)
{
	if (d->d_capped)
		listener_suspend(ls);
	if (listener_start(ls, d->d_base, daemon_accept, d) == -1) {
		log_error("%s: cannot watch the socket of %s",
		    ls->ls_conf->lc_name, ls->ls_addr->ca_text);
		return -1;
	}
	log_notice("%s: listening on %s (%s%s), upstream %s (%s)",
	    ls->ls_conf->lc_name, ls->ls_addr->ca_text,
	    config_protocol_name(ls->ls_protocol),
	    ls->ls_adopted ? ", from the service manager" : "",
	    ls->ls_conf->lc_upstream.cu_text,
	    config_protocol_name(ls->ls_conf->lc_upstream_protocol));
	return 0;
}

static void
daemon_close_list(struct listener_list *list)
{
	struct listener	*ls;

	while ((ls = TAILQ_FIRST(list)) != NULL) {
		TAILQ_REMOVE(list, ls, ls_entry);
		listener_close(ls);
	}
}

static int
daemon_count_listeners(struct daemon *d)
{
	struct listener	*ls;
	int		 n = 0;

	TAILQ_FOREACH(ls, &d->d_listeners, ls_entry)
		n++;
	return n;
}

/*
 * Make the listening sockets of config cf, the running set being
 * d_listeners: a socket whose address and protocol are unchanged is kept
 * (no client sees a refused connection), a socket passed by the service
 * manager is adopted, any other is bound. All or nothing: on failure the
 * running set is untouched and -1 returned. On success the running set
 * is replaced, sockets no longer configured are closed.
 */
static int
daemon_apply_listeners(struct daemon *d, struct config *cf, bool reload)
{
	struct listener_list	 next, later, *old = &d->d_listeners;
	struct listener_config	*lc;
	struct listener		*ls, *o;
	const struct config_addr *a;
	int			 i, fd, kept = 0, opened = 0, closed = 0;
	int			 failed = 0;

	TAILQ_INIT(&next);
	TAILQ_INIT(&later);
	TAILQ_FOREACH(lc, &cf->cf_listeners, lc_entry) {
		for (i = 0; i < lc->lc_nlisten; i++) {
			a = &lc->lc_listen[i];
			if ((ls = daemon_find_listener(old, a,
			    lc->lc_protocol)) != NULL) {
				/* Kept: moved over, updated once all is well. */
				TAILQ_REMOVE(old, ls, ls_entry);
				ls->ls_reload_conf = lc;
				ls->ls_reload_addr = a;
				TAILQ_INSERT_TAIL(&next, ls, ls_entry);
				kept++;
				continue;
			}
			/*
			 * Same address, other protocol: the old socket must
			 * close first, which cannot be undone: bind it last.
			 */
			TAILQ_FOREACH(o, old, ls_entry)
				if (config_addr_overlap(o->ls_addr, a))
					break;
			if (o != NULL) {
				if ((ls = calloc(1, sizeof(*ls))) == NULL)
					goto fail;
				ls->ls_fd = -1;
				ls->ls_reload_conf = lc;
				ls->ls_reload_addr = a;
				TAILQ_INSERT_TAIL(&later, ls, ls_entry);
				continue;
			}
			if ((fd = daemon_take_passed(d, a)) != -1)
				ls = listener_adopt(cf, lc, a, fd);
			else
				ls = listener_open(cf, lc, a);
			if (ls == NULL)
				goto fail;
			TAILQ_INSERT_TAIL(&next, ls, ls_entry);
			opened++;
		}
	}

	/* Commit. */
	TAILQ_FOREACH(ls, &next, ls_entry) {
		if (ls->ls_reload_conf != NULL) {
			listener_update(ls, cf, ls->ls_reload_conf,
			    ls->ls_reload_addr);
			ls->ls_reload_conf = NULL;
			ls->ls_reload_addr = NULL;
		} else if (daemon_start_listener(d, ls) == -1) {
			/* Cannot happen short of memory; the rest goes on. */
			continue;
		}
	}
	while ((ls = TAILQ_FIRST(old)) != NULL) {
		TAILQ_REMOVE(old, ls, ls_entry);
		log_notice("%s: no longer listening on %s",
		    ls->ls_conf->lc_name, ls->ls_addr->ca_text);
		listener_close(ls);
		closed++;
	}
	TAILQ_CONCAT(old, &next, ls_entry);
	while ((o = TAILQ_FIRST(&later)) != NULL) {
		TAILQ_REMOVE(&later, o, ls_entry);
		ls = listener_open(cf, o->ls_reload_conf, o->ls_reload_addr);
		if (ls == NULL) {
			/* Its old socket is closed already: say so plainly. */
			log_error("%s: %s is not listening any more: its "
			    "protocol changed and the new socket failed",
			    o->ls_reload_conf->lc_name,
			    o->ls_reload_addr->ca_text);
			failed++;
		}
		free(o);
		if (ls == NULL)
			continue;
		TAILQ_INSERT_TAIL(old, ls, ls_entry);
		if (daemon_start_listener(d, ls) == 0)
			opened++;
	}
	if (reload)
		log_notice("listening sockets: %d kept, %d opened, %d closed%s",
		    kept, opened, closed, failed > 0 ? ", some failed" : "");
	return 0;
fail:
	/* Undo: kept sockets go back, new ones close. */
	while ((ls = TAILQ_FIRST(&next)) != NULL) {
		TAILQ_REMOVE(&next, ls, ls_entry);
		if (ls->ls_reload_conf != NULL) {
			ls->ls_reload_conf = NULL;
			ls->ls_reload_addr = NULL;
			TAILQ_INSERT_TAIL(old, ls, ls_entry);
		} else
			listener_close(ls);
	}
	while ((o = TAILQ_FIRST(&later)) != NULL) {
		TAILQ_REMOVE(&later, o, ls_entry);
		free(o);
	}
	return -1;
}

/* "2 listening sockets, 17 sessions": the STATUS= line. */
static void
daemon_status_text(struct daemon *d, char *buf, size_t len)
{
	int		n = daemon_count_listeners(d);
	unsigned	sessions = daemon_sessions(d);

	snprintf(buf, len, "%d listening socket%s, %u session%s", n,
	    n == 1 ? "" : "s", sessions, sessions == 1 ? "" : "s");
}

/* Tell systemd the counts when they changed, at most once a period. */
static void
daemon_status_tick(evutil_socket_t fd, short what, void *arg)
{
	struct daemon	*d = arg;
	char		 status[sizeof(d->d_status)];

	(void)fd;
	(void)what;
	daemon_status_text(d, status, sizeof(status));
	if (strcmp(status, d->d_status) != 0) {
		memcpy(d->d_status, status, sizeof(status));
		notify_status(status);
	}
}

static void
daemon_watchdog_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	notify_watchdog();
}

static void
daemon_ready(struct daemon *d)
{
	daemon_status_text(d, d->d_status, sizeof(d->d_status));
	notify_ready(d->d_status);
}

/* Stopping: the loop ends once its own sessions and every worker are done. */
static void
daemon_maybe_exit(struct daemon *d)
{
	if (!d->d_stopping || d->d_sessions.sc_count > 0 ||
	    (d->d_threaded && !d->d_workers_finished))
		return;
	log_notice("all sessions ended");
	event_base_loopexit(d->d_base, NULL);
}

static void
daemon_session_closed(struct session_ctx *sc, void *arg)
{
	(void)sc;
	daemon_maybe_exit(arg);
}

static void
daemon_drain_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct daemon	*d = arg;

	(void)fd;
	(void)what;
	if (d->d_draining) {
		evtimer_del(&d->d_drain_timer);
		d->d_draining = false;
	}
	if (d->d_sessions.sc_count > 0)
		log_notice("closing %u sessions", d->d_sessions.sc_count);
	d->d_sessions.sc_closed_cb = NULL;
	session_close_all(&d->d_sessions, SESSION_END_SHUTDOWN);
	daemon_maybe_exit(d);
}

/*
 * SIGTERM/SIGINT: stop accepting and let sessions finish, for at most
 * shutdown_timeout. A second signal closes what is left at once.
 */
static void
daemon_stop(evutil_socket_t sig, short what, void *arg)
{
	struct daemon	*d = arg;
	uint64_t	 ms = d->d_config->cf_shutdown_timeout;
	struct timeval	 tv = { ms / 1000, (ms % 1000) * 1000 };
	char		 status[128];
	unsigned	 n = daemon_sessions(d);

	(void)what;
	if (d->d_stopping) {
		log_notice("%s again: closing %u sessions now", strsignal(sig),
		    n);
		if (d->d_threaded)
			worker_pool_stop(&d->d_workers, 0, true);
		daemon_drain_timeout(-1, 0, d);
		return;
	}
	d->d_stopping = true;
	daemon_close_list(&d->d_listeners);
	snprintf(status, sizeof(status), "stopping: %u session%s draining", n,
	    n == 1 ? "" : "s");
	notify_stopping(status);
	if (n == 0)
		log_notice("%s: stopping", strsignal(sig));
	else
		log_notice("%s: stopping; waiting up to %llu.%03llus for %u "
		    "sessions", strsignal(sig), (unsigned long long)(ms / 1000),
		    (unsigned long long)(ms % 1000), n);
	/* Each worker drains its own sessions; this loop drains its own. */
	if (d->d_threaded)
		worker_pool_stop(&d->d_workers, ms, false);
	if (d->d_sessions.sc_count > 0) {
		d->d_sessions.sc_closed_cb = daemon_session_closed;
		d->d_sessions.sc_closed_arg = d;
		evtimer_assign(&d->d_drain_timer, d->d_base,
		    daemon_drain_timeout, d);
		if (evtimer_add(&d->d_drain_timer, &tv) == 0)
			d->d_draining = true;
	}
	daemon_maybe_exit(d);
}

static void
daemon_workers_done(evutil_socket_t fd, short what, void *arg)
{
	struct daemon	*d = arg;

	(void)fd;
	(void)what;
	d->d_workers_finished = true;
	daemon_maybe_exit(d);
}

/* Load the file; print every problem. -t prints them bare, for people. */
static struct config *
daemon_load_config(const char *path, bool test)
{
	struct config_diag	 diag = { NULL, 0 };
	struct config		*cf;
	size_t			 i;

	cf = config_load(path, &diag);
	for (i = 0; i < diag.cd_count; i++) {
		if (test)
			fprintf(stderr, "%s\n", diag.cd_msgs[i]);
		else
			log_error("%s", diag.cd_msgs[i]);
	}
	if (cf == NULL && diag.cd_count > 0 && !test)
		log_error("%s: %zu problem%s", path, diag.cd_count,
		    diag.cd_count == 1 ? "" : "s");
	config_diag_free(&diag);
	return cf;
}

/*
 * SIGHUP: read the file again and switch to it. Sessions keep the
 * config they started with; a file with any problem changes nothing.
 */
static void
daemon_reload(evutil_socket_t sig, short what, void *arg)
{
	struct daemon	*d = arg;
	struct config	*cf, *old;

	(void)sig;
	(void)what;
	if (d->d_stopping) {
		log_notice("SIGHUP while stopping: ignored");
		return;
	}
	notify_reloading();
	log_notice("SIGHUP: reloading %s", d->d_config_path);
	if ((cf = daemon_load_config(d->d_config_path, false)) == NULL) {
		log_error("reload failed: the running configuration stays");
		daemon_ready(d);
		return;
	}
	if (d->d_privdropped && (strcmp(cf->cf_user, d->d_config->cf_user) != 0 ||
	    strcmp(cf->cf_group, d->d_config->cf_group) != 0))
		log_warnx("user and group changes take a restart; still "
		    "running as before");
	if (cf->cf_workers != d->d_config->cf_workers)
		log_warnx("a change of 'workers' takes a restart; still "
		    "running %d", d->d_nworkers);
	if (daemon_apply_listeners(d, cf, true) == -1) {
		log_error("reload failed: the running configuration stays");
		config_unref(cf);
		daemon_ready(d);
		return;
	}
	old = d->d_config;
	d->d_config = cf;
	config_unref(old);
	if (!d->d_log_level_forced)
		log_setlevel(cf->cf_log_level);
	log_notice("reloaded %s: %d listener%s, %u sessions continue",
	    d->d_config_path, cf->cf_nlisteners,
	    cf->cf_nlisteners == 1 ? "" : "s", daemon_sessions(d));
	daemon_ready(d);
}

/*
 * user= and group= of [global]: after every socket is bound, switch to
 * them for good. Returns 0, or -1 after logging why.
 */
static int
daemon_drop_privileges(struct daemon *d)
{
	const struct config	*cf = d->d_config;
	struct passwd		*pw;
	struct group		*gr;
	gid_t			 gid;

	if (cf->cf_user[0] == '\0')
		return 0;
	errno = 0;
	if ((pw = getpwnam(cf->cf_user)) == NULL) {
		log_error("user '%s' does not exist%s%s", cf->cf_user,
		    errno != 0 ? ": " : "", errno != 0 ? strerror(errno) : "");
		return -1;
	}
	gid = pw->pw_gid;
	if (cf->cf_group[0] != '\0') {
		errno = 0;
		if ((gr = getgrnam(cf->cf_group)) == NULL) {
			log_error("group '%s' does not exist", cf->cf_group);
			return -1;
		}
		gid = gr->gr_gid;
	}
	if (getuid() == pw->pw_uid && geteuid() == pw->pw_uid &&
	    getgid() == gid && getegid() == gid) {
		/* Started as that user already, e.g. by systemd's User=. */
		d->d_privdropped = true;
		return 0;
	}
	if (geteuid() != 0) {
		log_error("cannot switch to user '%s': not running as root",
		    cf->cf_user);
		return -1;
	}
	if (initgroups(pw->pw_name, gid) == -1 ||
	    setresgid(gid, gid, gid) == -1 ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) == -1) {
		log_error("cannot switch to user '%s': %s", cf->cf_user,
		    strerror(errno));
		return -1;
	}
	if (setuid(0) != -1 || seteuid(0) != -1) {
		log_error("switched to user '%s' but could become root again",
		    cf->cf_user);
		return -1;
	}
	log_notice("running as user %s (uid %u), group %u", pw->pw_name,
	    (unsigned)pw->pw_uid, (unsigned)gid);
	d->d_privdropped = true;
	return 0;
}

/* Every socket systemd passed must belong to a configured address. */
static int
daemon_check_passed(struct daemon *d)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len;
	char			 addr[SOCK_NTOP_MAX];
	int			 i, bad = 0;

	for (i = 0; i < d->d_npassed; i++) {
		if (d->d_passed[i] == -1)
			continue;
		len = sizeof(ss);
		if (getsockname(d->d_passed[i], (struct sockaddr *)&ss,
		    &len) == -1)
			snprintf(addr, sizeof(addr), "unknown address");
		else
			sock_ntop((struct sockaddr *)&ss, addr, sizeof(addr));
		log_error("the socket passed by the service manager as fd %d "
		    "(%s) matches no 'listen' address of %s", d->d_passed[i],
		    addr, d->d_config_path);
		bad++;
	}
	return bad == 0 ? 0 : -1;
}

/* libevent's own complaints, at our levels, in our format. */
static void
daemon_event_log(int severity, const char *msg)
{
	switch (severity) {
	case EVENT_LOG_DEBUG:
		log_debug("libevent: %s", msg);
		break;
	case EVENT_LOG_MSG:
		log_info("libevent: %s", msg);
		break;
	case EVENT_LOG_WARN:
		log_warnx("libevent: %s", msg);
		break;
	default:
		log_error("libevent: %s", msg);
		break;
	}
}

static int
daemon_start_timers(struct daemon *d)
{
	uint64_t	usec;
	struct timeval	tv;

	if (getenv("NOTIFY_SOCKET") != NULL) {
		tv.tv_sec = DAEMON_STATUS_MS / 1000;
		tv.tv_usec = (DAEMON_STATUS_MS % 1000) * 1000;
		event_assign(&d->d_status_timer, d->d_base, -1, EV_PERSIST,
		    daemon_status_tick, d);
		if (event_add(&d->d_status_timer, &tv) == -1)
			return -1;
		d->d_status_on = true;
	}
	if ((usec = notify_watchdog_usec()) > 0) {
		/* Ping twice per interval, as sd_watchdog_enabled(3) advises. */
		usec /= 2;
		tv.tv_sec = usec / 1000000;
		tv.tv_usec = usec % 1000000;
		event_assign(&d->d_watchdog_timer, d->d_base, -1, EV_PERSIST,
		    daemon_watchdog_tick, d);
		if (event_add(&d->d_watchdog_timer, &tv) == -1)
			return -1;
		d->d_watchdog_on = true;
		notify_watchdog();
	}
	return 0;
}

static int
daemon_run(struct daemon *d)
{
	int	i, n, status = DAEMON_EXIT_OK;

	event_set_log_callback(daemon_event_log);
	d->d_maxsessions = daemon_raise_nofile();
	signal(SIGPIPE, SIG_IGN);
	d->d_nworkers = d->d_config->cf_workers;
	if (d->d_nworkers == 0 &&
	    (d->d_nworkers = (int)sysconf(_SC_NPROCESSORS_ONLN)) < 1)
		d->d_nworkers = 1;
	if (d->d_nworkers > CONFIG_WORKERS_MAX)
		d->d_nworkers = CONFIG_WORKERS_MAX;
	if (d->d_nworkers > 1 && worker_threads_init() == -1) {
		log_error("cannot make libevent thread-safe for workers");
		return DAEMON_EXIT_STARTUP;
	}
	if ((d->d_base = worker_base_new()) == NULL) {
		log_error("cannot create the event loop");
		return DAEMON_EXIT_STARTUP;
	}
	session_ctx_init(&d->d_sessions, d->d_base);
	TAILQ_INIT(&d->d_listeners);

	if ((d->d_npassed = notify_listen_fds()) > 0) {
		if ((d->d_passed = calloc(d->d_npassed, sizeof(int))) == NULL) {
			log_error("out of memory");
			status = DAEMON_EXIT_STARTUP;
			goto done;
		}
		for (i = 0; i < d->d_npassed; i++)
			d->d_passed[i] = notify_listen_fds_start() + i;
		log_info("%d socket%s passed by the service manager",
		    d->d_npassed, d->d_npassed == 1 ? "" : "s");
	}
	if (daemon_apply_listeners(d, d->d_config, false) == -1 ||
	    daemon_check_passed(d) == -1 || daemon_drop_privileges(d) == -1) {
		status = DAEMON_EXIT_STARTUP;
		goto done;
	}
	if (d->d_nworkers > 1) {
		event_assign(&d->d_workers_done, d->d_base, -1, 0,
		    daemon_workers_done, d);
		if (worker_pool_start(&d->d_workers, d->d_nworkers - 1,
		    &d->d_workers_done) == -1) {
			status = DAEMON_EXIT_STARTUP;
			goto done;
		}
		d->d_threaded = true;
	}
	n = daemon_count_listeners(d);
	evsignal_assign(&d->d_sigterm, d->d_base, SIGTERM, daemon_stop, d);
	evsignal_assign(&d->d_sigint, d->d_base, SIGINT, daemon_stop, d);
	evsignal_assign(&d->d_sighup, d->d_base, SIGHUP, daemon_reload, d);
	if (evsignal_add(&d->d_sigterm, NULL) == -1 ||
	    evsignal_add(&d->d_sigint, NULL) == -1 ||
	    evsignal_add(&d->d_sighup, NULL) == -1 ||
	    daemon_start_timers(d) == -1) {
		log_error("cannot install signal handlers and timers");
		status = DAEMON_EXIT_STARTUP;
		goto done;
	}
	log_notice("mptcp-relayd %s started: %d listening socket%s, "
	    "%d worker%s, libevent %s (%s)", PACKAGE_VERSION, n,
	    n == 1 ? "" : "s", d->d_nworkers, d->d_nworkers == 1 ? "" : "s",
	    event_get_version(), event_base_get_method(d->d_base));
	daemon_ready(d);

	if (event_base_dispatch(d->d_base) == -1) {
		log_error("event loop failed");
		status = DAEMON_EXIT_STARTUP;
	}
	log_notice("stopped");
	evsignal_del(&d->d_sigterm);
	evsignal_del(&d->d_sigint);
	evsignal_del(&d->d_sighup);
done:
	if (d->d_draining)
		evtimer_del(&d->d_drain_timer);
	if (d->d_status_on)
		event_del(&d->d_status_timer);
	if (d->d_cap_on)
		event_del(&d->d_cap_timer);
	if (d->d_watchdog_on)
		event_del(&d->d_watchdog_timer);
	d->d_sessions.sc_closed_cb = NULL;
	session_close_all(&d->d_sessions, SESSION_END_SHUTDOWN);
	daemon_close_list(&d->d_listeners);
	if (d->d_threaded) {
		/* Normally finished already; after a loop failure, now. */
		worker_pool_stop(&d->d_workers, 0, true);
		worker_pool_join(&d->d_workers);
	}
	for (i = 0; i < d->d_npassed; i++)
		if (d->d_passed[i] != -1)
			close(d->d_passed[i]);
	free(d->d_passed);
	session_ctx_clear(&d->d_sessions);
	event_base_free(d->d_base);
	return status;
}

int
daemon_main(int argc, char **argv)
{
	struct daemon	 d;
	enum log_level	 level = LOG_LVL_INFO;
	bool		 test = false, diagnose = false;
	int		 ch, status;

	memset(&d, 0, sizeof(d));
	d.d_config_path = CONFIG_DEFAULT_PATH;
	log_init(LOG_LVL_INFO);

	while ((ch = getopt_long(argc, argv, "c:tDl:Vh", daemon_longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'c':
			d.d_config_path = optarg;
			break;
		case 't':
			test = true;
			break;
		case 'D':
			diagnose = true;
			break;
		case 'l':
			if (log_level_parse(optarg, &level) == -1) {
				fprintf(stderr, "mptcp-relayd: invalid log "
				    "level '%s': expected error, warning, "
				    "notice, info or debug\n", optarg);
				return DAEMON_EXIT_CONFIG;
			}
			d.d_log_level_forced = true;
			break;
		case 'V':
			printf("mptcp-relayd %s\n", PACKAGE_VERSION);
			return DAEMON_EXIT_OK;
		case 'h':
			daemon_usage(stdout);
			return DAEMON_EXIT_OK;
		default:
			daemon_usage(stderr);
			return DAEMON_EXIT_CONFIG;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "mptcp-relayd: unexpected argument '%s'\n",
		    argv[optind]);
		daemon_usage(stderr);
		return DAEMON_EXIT_CONFIG;
	}

	if (diagnose) {
		/*
		 * The host first: a missing or broken file only loses the
		 * check of the listen addresses, and is said so.
		 */
		if (access(d.d_config_path, R_OK) == 0 &&
		    (d.d_config = daemon_load_config(d.d_config_path,
		    true)) == NULL)
			fprintf(stderr, "%s: not checked against the host: it "
			    "has problems (see above)\n", d.d_config_path);
		status = diagnose_main(d.d_config, stdout);
		if (d.d_config != NULL)
			config_unref(d.d_config);
		return status;
	}
	if ((d.d_config = daemon_load_config(d.d_config_path, test)) == NULL) {
		if (!test)
			log_error("not started");
		return DAEMON_EXIT_CONFIG;
	}
	if (test) {
		printf("%s: configuration OK (%d listener%s)\n",
		    d.d_config_path, d.d_config->cf_nlisteners,
		    d.d_config->cf_nlisteners == 1 ? "" : "s");
		config_unref(d.d_config);
		return DAEMON_EXIT_OK;
	}
	log_setlevel(d.d_log_level_forced ? level : d.d_config->cf_log_level);
	status = daemon_run(&d);
	config_unref(d.d_config);
	return status;
}
