/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

#include "autoconf.h"

#include <sys/types.h>
#include <sys/eventfd.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/event_struct.h>

#include "budget.h"
#include "clock.h"
#include "config.h"
#include "daemon.h"
#include "diagnose.h"
#include "health.h"
#include "listener.h"
#include "log.h"
#include "notify.h"
#include "priv.h"
#include "relay.h"
#include "resolve.h"
#include "session.h"
#include "sock.h"
#include "stats.h"
#include "worker.h"

/* A reload's file, read and resolved off every relaying loop. */
struct daemon_load {
	pthread_t		 dl_thread;
	bool			 dl_running;	/* dl_thread to join */
	bool			 dl_again;	/* SIGHUP while loading */
	const char		*dl_path;
	struct config		*dl_config;	/* the result, or NULL */
	struct config_diag	 dl_diag;
	/*
	 * The thread's "done": a write to an eventfd, not event_active(),
	 * so that libevent needs its locks only with worker threads.
	 */
	int			 dl_efd;
	struct event		 dl_done;	/* dl_efd readable */
};

/* A fault signal as its handler saw it, passed on through a pipe. */
struct daemon_fault {
	int	df_sig;
	pid_t	df_pid;
};

/* Descriptors the live DNS may hold at once (a round's UDP sockets). */
#define DAEMON_RESOLVER_FDS	4

/* Signals the loop handles: stop, reload, state, debug, and the others. */
#define DAEMON_SIGNALS_MAX	64

/* The one daemon context: everything the process owns at run time. */
struct daemon {
	const struct daemon_opts *d_opts;
	struct config		*d_config;
	struct event_base	*d_base;
	struct session_ctx	 d_sessions;	/* loop 0 */
	struct listener_set	 d_listeners;
	struct relay_set	 d_relays;
	struct health		*d_health;	/* active checks */
	struct resolver		*d_resolver;	/* live DNS */
	struct stats		 d_stats;	/* metrics endpoint, watch */
	struct budget		 d_budget;
	struct event		 d_budget_wake;
	unsigned		 d_fds_fixed;	/* outside listeners and sessions */
	struct notify_timers	 d_notify;
	struct event		 d_signals[DAEMON_SIGNALS_MAX];
	int			 d_nsignals;
	int			 d_fault_pipe[2];
	struct event		 d_fault_ev;
	struct daemon_load	 d_load;
	bool			 d_stopping;
	bool			 d_privdropped;	/* user= applied */
	enum log_level		 d_log_level;	/* configured or forced */
	bool			 d_debug_toggled; /* SIGUSR2 */
	/*
	 * workers > 1: the daemon's loop runs sessions too (loop 0) and
	 * hands every other client to the d_nworkers - 1 threads.
	 */
	bool			 d_threaded;
	int			 d_nworkers;
	unsigned		 d_next;	/* round-robin, 0 = this loop */
	bool			 d_own_drained;
	bool			 d_workers_finished;
	struct worker_pool	 d_workers;
	struct event		 d_workers_done;
};

/* Written by the fault handler, read by nothing else: where to report. */
static int	daemon_fault_fd = -1;

/* The fault signals and what their handler replaced (a sanitizer's). */
static const int daemon_fault_signals[] = {
	SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGABRT, SIGSYS,
};
#define DAEMON_NFAULTS	\
	(sizeof(daemon_fault_signals) / sizeof(daemon_fault_signals[0]))
static struct sigaction	daemon_fault_prev[DAEMON_NFAULTS];

static unsigned
daemon_sessions(const struct daemon *d)
{
	return d->d_sessions.sc_count +
	    (d->d_threaded ? worker_pool_sessions(&d->d_workers) : 0);
}

static const char *
plural(unsigned n)
{
	return n == 1 ? "" : "s";
}

/* "2 listening sockets, 17 sessions": the STATUS= line. */
static void
daemon_status_text(char *buf, size_t len, void *arg)
{
	struct daemon	*d = arg;
	int		 n = d->d_listeners.lss_count;
	unsigned	 sessions = daemon_sessions(d);

	snprintf(buf, len, "%d listening socket%s, %u session%s", n,
	    plural((unsigned)n), sessions, plural(sessions));
}

/* A listener accepted a client: start its session here or in a worker. */
static void
daemon_accept(struct listener *ls, int fd, const struct sockaddr *client,
    socklen_t clientlen, void *arg)
{
	struct daemon	*d = arg;
	struct relay	*rl = ls->ls_relay;

	if (d->d_threaded && d->d_next++ % (unsigned)d->d_nworkers != 0)
		worker_dispatch(&d->d_workers, rl, rl->rl_config, rl->rl_conf,
		    fd, client, clientlen);
	else
		session_start(&d->d_sessions, rl, rl->rl_config, rl->rl_conf,
		    fd, client, clientlen);
}

/* A session ended somewhere while the listeners waited for room. */
static void
daemon_budget_wake(evutil_socket_t fd, short what, void *arg)
{
	struct daemon	*d = arg;

	(void)fd;
	(void)what;
	listener_set_resume(&d->d_listeners);
}

/* Share the descriptors out again: the listening sockets changed. */
static void
daemon_size_budget(struct daemon *d)
{
	budget_size(&d->d_budget, d->d_fds_fixed +
	    (unsigned)d->d_listeners.lss_count + stats_fds(&d->d_stats));
	budget_set_cap(&d->d_budget, d->d_config->cf_max_connections);
}

/* --- stop ----------------------------------------------------------------- */

/* Stopping: the loop ends once its own sessions and every worker are done. */
static void
daemon_maybe_exit(struct daemon *d)
{
	if (!d->d_stopping || !d->d_own_drained ||
	    (d->d_threaded && !d->d_workers_finished))
		return;
	log_notice("all sessions ended");
	event_base_loopexit(d->d_base, NULL);
}

static void
daemon_drained(struct session_ctx *sc, void *arg)
{
	struct daemon	*d = arg;

	(void)sc;
	d->d_own_drained = true;
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

/*
 * SIGTERM, SIGINT, SIGQUIT: stop accepting and let sessions finish, for at
 * most shutdown_timeout. A second signal closes what is left at once.
 */
static void
daemon_stop(struct daemon *d, int sig)
{
	uint64_t	ms = d->d_config->cf_shutdown_timeout;
	char		status[128];
	unsigned	n = daemon_sessions(d);

	if (d->d_stopping) {
		log_notice("%s again: closing %u session%s now",
		    sigabbrev_np(sig) != NULL ? sigabbrev_np(sig) : "signal",
		    n, plural(n));
		if (d->d_threaded)
			worker_pool_stop(&d->d_workers, 0, true);
		session_ctx_drain(&d->d_sessions, 0, daemon_drained, d);
		return;
	}
	d->d_stopping = true;
	listener_set_close(&d->d_listeners);
	snprintf(status, sizeof(status), "stopping: %u session%s draining", n,
	    plural(n));
	notify_stopping(status);
	if (n == 0)
		log_notice("SIG%s: stopping", sigabbrev_np(sig));
	else
		log_notice("SIG%s: stopping; waiting up to %llu.%03llus for %u "
		    "session%s", sigabbrev_np(sig),
		    (unsigned long long)(ms / 1000),
		    (unsigned long long)(ms % 1000), n, plural(n));
	/* Each worker drains its own sessions; this loop drains its own. */
	if (d->d_threaded)
		worker_pool_stop(&d->d_workers, ms, false);
	session_ctx_drain(&d->d_sessions, ms, daemon_drained, d);
}

/* --- reload ---------------------------------------------------------------- */

/* Print every problem of a load; -t prints them bare, for people. */
static void
daemon_report(const char *path, struct config_diag *diag, bool test,
    bool failed)
{
	size_t	i;

	for (i = 0; i < diag->cd_count; i++) {
		if (test)
			fprintf(stderr, "%s\n", diag->cd_msgs[i]);
		else
			log_error("%s", diag->cd_msgs[i]);
	}
	if (failed && diag->cd_count > 0 && !test)
		log_error("%s: %zu problem%s", path, diag->cd_count,
		    plural((unsigned)diag->cd_count));
}

static struct config *
daemon_load_config(const char *path, bool test)
{
	struct config_diag	 diag = { NULL, 0 };
	struct config		*cf;

	cf = config_load(path, &diag);
	daemon_report(path, &diag, test, cf == NULL);
	config_diag_free(&diag);
	return cf;
}

static void *
daemon_loader(void *arg)
{
	struct daemon		*d = arg;
	struct daemon_load	*dl = &d->d_load;
	uint64_t		 one = 1;

	pthread_setname_np(pthread_self(), "reload");
	dl->dl_config = config_load(dl->dl_path, &dl->dl_diag);
	/* Fails only on a signal: the counter is far from its maximum. */
	while (write(dl->dl_efd, &one, sizeof(one)) == -1 && errno == EINTR)
		continue;
	return NULL;
}

/*
 * Read the file in a thread of its own: host names resolve there, and no
 * loop that relays waits for a name server. daemon_loaded() commits.
 */
static void
daemon_load_start(struct daemon *d)
{
	struct daemon_load	*dl = &d->d_load;
	sigset_t		 all, old;
	int			 error;

	notify_reloading();
	log_notice("SIGHUP: reloading %s", d->d_opts->do_config_path);
	dl->dl_path = d->d_opts->do_config_path;
	dl->dl_config = NULL;
	memset(&dl->dl_diag, 0, sizeof(dl->dl_diag));
	/* The thread inherits a mask that keeps signals on this loop. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	error = pthread_create(&dl->dl_thread, NULL, daemon_loader, d);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (error != 0) {
		log_error("reload failed: cannot start a thread to read the "
		    "file: %s; the running configuration stays",
		    strerror(error));
		notify_timers_ready(&d->d_notify);
		return;
	}
	dl->dl_running = true;
}

/* Switch to cf, as a whole or not at all. Returns 0 or -1. */
static int
daemon_apply(struct daemon *d, struct config *cf)
{
	struct relay_set	 next;
	struct config		*old;
	unsigned		 n;

	if (d->d_privdropped &&
	    (strcmp(cf->cf_user, d->d_config->cf_user) != 0 ||
	    strcmp(cf->cf_group, d->d_config->cf_group) != 0))
		log_warnx("user and group changes take a restart; still "
		    "running as before");
	if (cf->cf_workers != d->d_config->cf_workers)
		log_warnx("a change of 'workers' takes a restart; still "
		    "running %d", d->d_nworkers);
	if (relay_set_prepare(&d->d_relays, cf, d->d_nworkers, &next) == -1) {
		log_error("out of memory");
		return -1;
	}
	/* The metrics endpoint moves as listeners do: new bound, then old. */
	if (stats_prepare(&d->d_stats, cf) == -1) {
		relay_set_clear(&next);
		return -1;
	}
	if (listener_set_apply(&d->d_listeners, cf, &next, true) == -1) {
		stats_abort(&d->d_stats);
		relay_set_clear(&next);
		return -1;
	}
	relay_set_commit(&d->d_relays, &next, cf);
	health_apply(d->d_health, &d->d_relays);
	resolver_apply(d->d_resolver, &d->d_relays);
	stats_commit(&d->d_stats);
	old = d->d_config;
	config_ref(cf);
	d->d_config = cf;
	config_unref(old);
	if (!d->d_opts->do_log_level_forced) {
		d->d_log_level = cf->cf_log_level;
		if (!d->d_debug_toggled)
			log_setlevel(cf->cf_log_level);
	}
	daemon_size_budget(d);
	n = daemon_sessions(d);
	log_notice("reloaded %s: %d listener%s, %u session%s continue%s",
	    d->d_opts->do_config_path, cf->cf_nlisteners,
	    plural((unsigned)cf->cf_nlisteners), n, plural(n),
	    n == 1 ? "s" : "");
	return 0;
}

static void
daemon_loaded(evutil_socket_t fd, short what, void *arg)
{
	struct daemon		*d = arg;
	struct daemon_load	*dl = &d->d_load;
	struct config		*cf;
	uint64_t		 n;

	(void)what;
	if (read(fd, &n, sizeof(n)) != sizeof(n) || !dl->dl_running)
		return;
	pthread_join(dl->dl_thread, NULL);
	dl->dl_running = false;
	cf = dl->dl_config;
	dl->dl_config = NULL;
	daemon_report(dl->dl_path, &dl->dl_diag, false, cf == NULL);
	config_diag_free(&dl->dl_diag);
	if (d->d_stopping) {
		config_unref(cf);
		return;
	}
	if (cf == NULL || daemon_apply(d, cf) == -1)
		log_error("reload failed: the running configuration stays");
	config_unref(cf);
	notify_timers_ready(&d->d_notify);
	if (dl->dl_again) {
		dl->dl_again = false;
		daemon_load_start(d);
	}
}

/*
 * SIGHUP: read the file again and switch to it. Sessions keep the config
 * they started with; a file with any problem changes nothing. A SIGHUP
 * while a file is being read reads it once more afterwards.
 */
static void
daemon_reload(struct daemon *d)
{
	if (d->d_stopping) {
		log_notice("SIGHUP while stopping: ignored");
		return;
	}
	if (d->d_load.dl_running) {
		log_notice("SIGHUP while reading the file: it will be read "
		    "again once done");
		d->d_load.dl_again = true;
		return;
	}
	daemon_load_start(d);
}

/* --- signals ----------------------------------------------------------- */

/*
 * SIGUSR1: one line with the state of every section: its sessions, the
 * share that really uses MPTCP, and each upstream address with its
 * sessions and connect results.
 */
static void
daemon_state(struct daemon *d)
{
	struct relay_counters	 c;
	struct relay_upset	*us;
	struct relay_upstream	*ru;
	struct relay_upstate	*st;
	struct relay		*rl;
	char			 line[2048], addr[SOCK_NTOP_MAX];
	size_t			 off = 0;
	uint64_t		 known;
	int			 i, j;

#define APPEND(...) do {						\
	if (off < sizeof(line))						\
		off += (size_t)snprintf(line + off, sizeof(line) - off,	\
		    __VA_ARGS__);					\
} while (0)
	APPEND("state: %u session%s, %d listening socket%s, %d loop%s%s",
	    daemon_sessions(d), plural(daemon_sessions(d)),
	    d->d_listeners.lss_count, plural((unsigned)d->d_listeners.lss_count),
	    d->d_nworkers, plural((unsigned)d->d_nworkers),
	    d->d_stopping ? ", stopping" : "");
	for (i = 0; i < d->d_relays.rs_n; i++) {
		rl = d->d_relays.rs_relays[i];
		relay_counters_sum(rl, &c);
		known = c.rc_sessions_mptcp + c.rc_sessions_tcp;
		APPEND("; %s: %u session%s, mptcp %llu of %llu", rl->rl_name,
		    __atomic_load_n(&rl->rl_sessions, __ATOMIC_RELAXED),
		    plural(__atomic_load_n(&rl->rl_sessions,
		    __ATOMIC_RELAXED)),
		    (unsigned long long)c.rc_sessions_mptcp,
		    (unsigned long long)known);
		if (known > 0)
			APPEND(" (%llu%%)", (unsigned long long)
			    (c.rc_sessions_mptcp * 100 / known));
		if (c.rc_refused[RELAY_REFUSED_ACL] +
		    c.rc_refused[RELAY_REFUSED_PROXY_HEADER] > 0)
			APPEND(", refused acl %llu proxy_header %llu",
			    (unsigned long long)c.rc_refused[RELAY_REFUSED_ACL],
			    (unsigned long long)
			    c.rc_refused[RELAY_REFUSED_PROXY_HEADER]);
		if (c.rc_refused[RELAY_REFUSED_DESTINATION] > 0)
			APPEND(", refused destination %llu", (unsigned long long)
			    c.rc_refused[RELAY_REFUSED_DESTINATION]);
		us = relay_upset_get(rl);
		for (j = 0; j < us->us_n; j++) {
			ru = &us->us_addrs[j];
			st = ru->ru_st;
			APPEND(", upstream %s %s: %u active, connects ok %llu "
			    "refused %llu timeout %llu error %llu",
			    ru->ru_destination ? "destination" :
			    sock_ntop((const struct sockaddr *)&ru->ru_addr.ca_ss,
			    addr, sizeof(addr)), relay_upstream_up(ru,
			    clock_ms(), rl->rl_conf->lc_upstream_backoff) ?
			    "up" : "down", __atomic_load_n(&st->rs_active,
			    __ATOMIC_RELAXED), (unsigned long long)
			    __atomic_load_n(&st->rs_connects[RELAY_CONNECT_OK],
			    __ATOMIC_RELAXED), (unsigned long long)
			    __atomic_load_n(
			    &st->rs_connects[RELAY_CONNECT_REFUSED],
			    __ATOMIC_RELAXED), (unsigned long long)
			    __atomic_load_n(
			    &st->rs_connects[RELAY_CONNECT_TIMEOUT],
			    __ATOMIC_RELAXED), (unsigned long long)
			    __atomic_load_n(
			    &st->rs_connects[RELAY_CONNECT_ERROR],
			    __ATOMIC_RELAXED));
		}
		relay_upset_put(us);
	}
#undef APPEND
	if (off >= sizeof(line))
		memcpy(line + sizeof(line) - 5, " ...", 5);
	log_notice("%s", line);
}

/* SIGUSR2: debug logging on, and back to the configured level. */
static void
daemon_toggle_debug(struct daemon *d)
{
	d->d_debug_toggled = !d->d_debug_toggled;
	if (d->d_debug_toggled) {
		log_setlevel(LOG_LVL_DEBUG);
		log_notice("SIGUSR2: log level debug until the next SIGUSR2");
	} else {
		log_setlevel(d->d_log_level);
		log_notice("SIGUSR2: log level back to %s",
		    log_level_name(d->d_log_level));
	}
}

static void
daemon_signal(evutil_socket_t fd, short what, void *arg)
{
	struct daemon	*d = arg;
	int		 sig = (int)fd;

	(void)what;
	switch (sig) {
	case SIGTERM:
	case SIGINT:
	case SIGQUIT:
		daemon_stop(d, sig);
		break;
	case SIGHUP:
		daemon_reload(d);
		break;
	case SIGUSR1:
		daemon_state(d);
		break;
	case SIGUSR2:
		daemon_toggle_debug(d);
		break;
	default:
		if (sigabbrev_np(sig) != NULL)
			log_notice("SIG%s: ignored (see mptcp-relayd(8), "
			    "SIGNALS)", sigabbrev_np(sig));
		else
			log_notice("signal %d: ignored (see mptcp-relayd(8), "
			    "SIGNALS)", sig);
		break;
	}
}

/*
 * A fault signal. One the kernel raised for a fault of this process goes
 * to what handled it before (a sanitizer, or the default action: a core
 * dump), by restoring that and returning to the faulting instruction. One
 * that somebody sent with kill(2) is reported and otherwise ignored: it
 * says nothing about the daemon's health and must not cut every session.
 * Only async-signal-safe calls here.
 */
static void
daemon_fault(int sig, siginfo_t *si, void *uc)
{
	struct daemon_fault	f = { sig, si->si_pid };
	size_t			i;
	int			saved = errno;
	ssize_t			r;

	(void)uc;

	if (si->si_code <= 0 && si->si_pid != getpid() &&
	    daemon_fault_fd != -1) {
		r = write(daemon_fault_fd, &f, sizeof(f));
		(void)r;	/* a full pipe: reported enough already */
		errno = saved;
		return;
	}
	for (i = 0; i < DAEMON_NFAULTS; i++)
		if (daemon_fault_signals[i] == sig)
			sigaction(sig, &daemon_fault_prev[i], NULL);
	errno = saved;
}

static void
daemon_fault_report(evutil_socket_t fd, short what, void *arg)
{
	struct daemon_fault	f;

	(void)what;
	(void)arg;
	while (read(fd, &f, sizeof(f)) == (ssize_t)sizeof(f))
		log_warnx("SIG%s sent by process %d: ignored (a fault "
		    "signal, not a fault of the daemon)",
		    sigabbrev_np(f.df_sig) != NULL ? sigabbrev_np(f.df_sig) :
		    "?", (int)f.df_pid);
}

/*
 * Every catchable signal is handled or ignored on purpose, so that none
 * ends the daemon unannounced: stop, reload, state and debug have their
 * handlers; signals with no use here are logged and ignored; SIGPIPE and
 * SIGXFSZ are ignored silently (writes report EPIPE and EFBIG instead);
 * the fault signals are as daemon_fault() says.
 */
static int
daemon_signals_init(struct daemon *d)
{
	static const int handled[] = {
		SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2,
		SIGALRM, SIGVTALRM, SIGPROF, SIGIO, SIGPWR, SIGSTKFLT,
		SIGTSTP, SIGTTIN, SIGTTOU, SIGXCPU,
	};
	struct sigaction	sa;
	size_t			i;
	int			sig;

	signal(SIGPIPE, SIG_IGN);
	signal(SIGXFSZ, SIG_IGN);
	for (i = 0; i < sizeof(handled) / sizeof(handled[0]); i++) {
		evsignal_assign(&d->d_signals[d->d_nsignals], d->d_base,
		    handled[i], daemon_signal, d);
		if (evsignal_add(&d->d_signals[d->d_nsignals], NULL) == -1)
			return -1;
		d->d_nsignals++;
	}
	for (sig = SIGRTMIN; sig <= SIGRTMAX &&
	    d->d_nsignals < DAEMON_SIGNALS_MAX; sig++) {
		evsignal_assign(&d->d_signals[d->d_nsignals], d->d_base, sig,
		    daemon_signal, d);
		if (evsignal_add(&d->d_signals[d->d_nsignals], NULL) == -1)
			return -1;
		d->d_nsignals++;
	}
	if (pipe2(d->d_fault_pipe, O_NONBLOCK | O_CLOEXEC) == -1)
		return -1;
	event_assign(&d->d_fault_ev, d->d_base, d->d_fault_pipe[0],
	    EV_READ | EV_PERSIST, daemon_fault_report, d);
	if (event_add(&d->d_fault_ev, NULL) == -1)
		return -1;
	daemon_fault_fd = d->d_fault_pipe[1];
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = daemon_fault;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < DAEMON_NFAULTS; i++)
		if (sigaction(daemon_fault_signals[i], &sa,
		    &daemon_fault_prev[i]) == -1)
			return -1;
	return 0;
}

static void
daemon_signals_clear(struct daemon *d)
{
	size_t	i;
	int	j;

	for (j = 0; j < d->d_nsignals; j++)
		evsignal_del(&d->d_signals[j]);
	d->d_nsignals = 0;
	if (daemon_fault_fd != -1) {
		for (i = 0; i < DAEMON_NFAULTS; i++)
			sigaction(daemon_fault_signals[i],
			    &daemon_fault_prev[i], NULL);
		daemon_fault_fd = -1;
		event_del(&d->d_fault_ev);
		close(d->d_fault_pipe[0]);
		close(d->d_fault_pipe[1]);
	}
}

/* --- start and run --------------------------------------------------------- */

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
daemon_run(struct daemon *d)
{
	const struct relay_set	none = { NULL, 0 };
	int			status = DAEMON_EXIT_OK, n;

	d->d_fault_pipe[0] = d->d_fault_pipe[1] = -1;
	event_set_log_callback(daemon_event_log);
	d->d_nworkers = d->d_config->cf_workers;
	if (d->d_nworkers == 0 &&
	    (d->d_nworkers = (int)sysconf(_SC_NPROCESSORS_ONLN)) < 1)
		d->d_nworkers = 1;
	if (d->d_nworkers > CONFIG_WORKERS_MAX)
		d->d_nworkers = CONFIG_WORKERS_MAX;
	/*
	 * Worker threads hand sessions to each other's loops: libevent must
	 * be thread-safe. With one loop it needs no locks (a reload's thread
	 * says it is done through an eventfd).
	 */
	if (d->d_nworkers > 1 && worker_threads_init() == -1) {
		log_error("cannot make libevent thread-safe");
		return DAEMON_EXIT_STARTUP;
	}
	if ((d->d_base = worker_base_new()) == NULL) {
		log_error("cannot create the event loop");
		return DAEMON_EXIT_STARTUP;
	}
	event_assign(&d->d_budget_wake, d->d_base, -1, 0, daemon_budget_wake,
	    d);
	budget_init(&d->d_budget, &d->d_budget_wake);
	session_ctx_init(&d->d_sessions, d->d_base, 0, &d->d_budget);
	if ((d->d_load.dl_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) == -1) {
		log_error("cannot create an eventfd: %s", strerror(errno));
		event_base_free(d->d_base);
		return DAEMON_EXIT_STARTUP;
	}
	event_assign(&d->d_load.dl_done, d->d_base, d->d_load.dl_efd,
	    EV_READ | EV_PERSIST, daemon_loaded, d);
	event_add(&d->d_load.dl_done, NULL);
	if ((d->d_health = health_new(d->d_base)) == NULL ||
	    (d->d_resolver = resolver_new(d->d_base)) == NULL) {
		log_error("out of memory");
		status = DAEMON_EXIT_STARTUP;
		goto done;
	}
	if (listener_set_init(&d->d_listeners, d->d_base, &d->d_budget,
	    daemon_accept, d) == -1 ||
	    relay_set_prepare(&none, d->d_config, d->d_nworkers,
	    &d->d_relays) == -1) {
		status = DAEMON_EXIT_STARTUP;
		goto done;
	}
	if (listener_set_apply(&d->d_listeners, d->d_config, &d->d_relays,
	    false) == -1 || listener_set_check_passed(&d->d_listeners) == -1 ||
	    stats_init(&d->d_stats, d->d_base, &d->d_relays) == -1 ||
	    stats_prepare(&d->d_stats, d->d_config) == -1 ||
	    priv_drop(d->d_config->cf_user, d->d_config->cf_group,
	    &d->d_privdropped) == -1) {
		status = DAEMON_EXIT_STARTUP;
		goto done;
	}
	stats_commit(&d->d_stats);
	if (d->d_nworkers > 1) {
		event_assign(&d->d_workers_done, d->d_base, -1, 0,
		    daemon_workers_done, d);
		if (worker_pool_start(&d->d_workers, d->d_nworkers - 1,
		    &d->d_budget, &d->d_workers_done) == -1) {
			status = DAEMON_EXIT_STARTUP;
			goto done;
		}
		d->d_threaded = true;
	}
	if (daemon_signals_init(d) == -1 ||
	    notify_timers_start(&d->d_notify, d->d_base, daemon_status_text,
	    d) == -1) {
		log_error("cannot install signal handlers and timers");
		status = DAEMON_EXIT_STARTUP;
		goto done;
	}
	health_apply(d->d_health, &d->d_relays);
	resolver_apply(d->d_resolver, &d->d_relays);
	/*
	 * Everything but listeners and sessions is open now: count it, with
	 * room for the health checks and the resolver's sockets.
	 */
	n = d->d_listeners.lss_count;
	d->d_fds_fixed = budget_count_open() - (unsigned)n + HEALTH_INFLIGHT +
	    DAEMON_RESOLVER_FDS;
	daemon_size_budget(d);
	log_notice("mptcp-relayd %s started: %d listening socket%s, "
	    "%d worker%s, libevent %s (%s)", PACKAGE_VERSION, n,
	    plural((unsigned)n), d->d_nworkers, plural((unsigned)d->d_nworkers),
	    event_get_version(), event_base_get_method(d->d_base));
	notify_timers_ready(&d->d_notify);

	if (event_base_dispatch(d->d_base) == -1) {
		log_error("event loop failed");
		status = DAEMON_EXIT_STARTUP;
	}
	log_notice("stopped");
done:
	notify_timers_stop(&d->d_notify);
	daemon_signals_clear(d);
	/*
	 * resolver_free() may run the loop for its cancelled queries: a
	 * reload finishing then must not apply itself (after a loop failure
	 * d_stopping is not set) to a health checker freed already. The
	 * loader thread is joined below either way.
	 */
	event_del(&d->d_load.dl_done);
	health_free(d->d_health);
	resolver_free(d->d_resolver);
	stats_clear(&d->d_stats);
	if (d->d_load.dl_running) {
		pthread_join(d->d_load.dl_thread, NULL);
		config_unref(d->d_load.dl_config);
		config_diag_free(&d->d_load.dl_diag);
	}
	listener_set_clear(&d->d_listeners);
	session_close_all(&d->d_sessions, SESSION_END_SHUTDOWN);
	if (d->d_threaded) {
		/* Normally finished already; after a loop failure, now. */
		worker_pool_stop(&d->d_workers, 0, true);
		worker_pool_join(&d->d_workers);
	}
	relay_set_clear(&d->d_relays);
	session_ctx_clear(&d->d_sessions);
	close(d->d_load.dl_efd);
	event_base_free(d->d_base);
	return status;
}

/*
 * -t: what the file asks that this process could not do at start, as a
 * warning (the file itself is fine; the start would fail, exit status 2).
 * The systemd unit runs -t with the capabilities of the start.
 */
static void
daemon_test_privileges(const struct config *cf)
{
	const struct listener_config	*lc;
	char				 why[160];

	TAILQ_FOREACH(lc, &cf->cf_listeners, lc_entry)
		if (lc->lc_transparent == CONFIG_TRANSPARENT_TPROXY &&
		    !priv_can_transparent(why, sizeof(why)))
			fprintf(stderr, "%s:%d: warning: [%s]: %s: the "
			    "listener will not start\n", cf->cf_path,
			    lc->lc_transparent_line, lc->lc_name, why);
}

int
daemon_main(const struct daemon_opts *opts)
{
	struct daemon	 d;
	int		 status;

	memset(&d, 0, sizeof(d));
	d.d_opts = opts;
	log_init(LOG_LVL_INFO);

	if (opts->do_diagnose) {
		/*
		 * The host first: a missing or broken file only loses the
		 * check of the listen addresses, and is said so.
		 */
		if (access(opts->do_config_path, R_OK) == 0 &&
		    (d.d_config = daemon_load_config(opts->do_config_path,
		    true)) == NULL)
			fprintf(stderr, "%s: not checked against the host: it "
			    "has problems (see above)\n", opts->do_config_path);
		status = diagnose_main(d.d_config, stdout);
		config_unref(d.d_config);
		return status;
	}
	if ((d.d_config = daemon_load_config(opts->do_config_path,
	    opts->do_test)) == NULL) {
		if (!opts->do_test)
			log_error("not started");
		return DAEMON_EXIT_CONFIG;
	}
	if (opts->do_test) {
		daemon_test_privileges(d.d_config);
		printf("%s: configuration OK (%d listener%s)\n",
		    opts->do_config_path, d.d_config->cf_nlisteners,
		    plural((unsigned)d.d_config->cf_nlisteners));
		config_unref(d.d_config);
		return DAEMON_EXIT_OK;
	}
	d.d_log_level = opts->do_log_level_forced ? opts->do_log_level :
	    d.d_config->cf_log_level;
	log_setlevel(d.d_log_level);
	status = daemon_run(&d);
	config_unref(d.d_config);
	return status;
}
