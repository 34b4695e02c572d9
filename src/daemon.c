/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

#include "autoconf.h"

#include <sys/resource.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/event_struct.h>

#include "config.h"
#include "daemon.h"
#include "listener.h"
#include "log.h"
#include "session.h"

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
};

static const struct option daemon_longopts[] = {
	{ "config",	required_argument,	NULL,	'c' },
	{ "test",	no_argument,		NULL,	't' },
	{ "log-level",	required_argument,	NULL,	'l' },
	{ "version",	no_argument,		NULL,	'V' },
	{ "help",	no_argument,		NULL,	'h' },
	{ NULL,		0,			NULL,	0 },
};

static void
daemon_usage(FILE *fp)
{
	fprintf(fp,
	    "usage: mptcp-relayd [-c FILE] [-t] [-l LEVEL] [-V] [-h]\n"
	    "  -c, --config FILE     configuration file (default %s)\n"
	    "  -t, --test            check the configuration and exit\n"
	    "  -l, --log-level LEVEL error, warning, notice, info or debug\n"
	    "  -V, --version         print the version and exit\n"
	    "  -h, --help            print this help and exit\n",
	    CONFIG_DEFAULT_PATH);
}

/* Each session holds two descriptors: take all the kernel allows us. */
static void
daemon_raise_nofile(void)
{
	struct rlimit	rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			log_warn("setrlimit RLIMIT_NOFILE");
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		log_debug("open files limit: %llu",
		    (unsigned long long)rl.rlim_cur);
}

static void
daemon_close_listeners(struct daemon *d)
{
	struct listener	*ls;

	while ((ls = TAILQ_FIRST(&d->d_listeners)) != NULL) {
		TAILQ_REMOVE(&d->d_listeners, ls, ls_entry);
		listener_close(ls);
	}
}

/* Bind every configured address; all or nothing. */
static int
daemon_open_listeners(struct daemon *d)
{
	struct listener_config	*lc;
	struct listener		*ls;
	int			 i, n = 0;

	TAILQ_FOREACH(lc, &d->d_config->cf_listeners, lc_entry) {
		for (i = 0; i < lc->lc_nlisten; i++) {
			ls = listener_open(d->d_config, lc, &lc->lc_listen[i]);
			if (ls == NULL)
				goto fail;
			TAILQ_INSERT_TAIL(&d->d_listeners, ls, ls_entry);
			if (listener_start(ls, d->d_base, &d->d_sessions) == -1) {
				log_error("%s: cannot watch the socket of %s",
				    lc->lc_name, lc->lc_listen[i].ca_text);
				goto fail;
			}
			log_notice("%s: listening on %s (%s), upstream %s (%s)",
			    lc->lc_name, lc->lc_listen[i].ca_text,
			    config_protocol_name(ls->ls_protocol),
			    lc->lc_upstream.cu_text,
			    config_protocol_name(lc->lc_upstream_protocol));
			n++;
		}
	}
	return n;
fail:
	daemon_close_listeners(d);
	return -1;
}

static void
daemon_session_closed(struct session_ctx *sc, void *arg)
{
	struct daemon	*d = arg;

	if (d->d_stopping && sc->sc_count == 0) {
		log_notice("all sessions ended");
		event_base_loopexit(d->d_base, NULL);
	}
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
	log_notice("shutdown_timeout reached: closing %u sessions",
	    d->d_sessions.sc_count);
	d->d_sessions.sc_closed_cb = NULL;
	session_close_all(&d->d_sessions, SESSION_END_SHUTDOWN);
	event_base_loopexit(d->d_base, NULL);
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

	(void)what;
	if (d->d_stopping) {
		log_notice("%s again: closing %u sessions now", strsignal(sig),
		    d->d_sessions.sc_count);
		daemon_drain_timeout(-1, 0, d);
		return;
	}
	d->d_stopping = true;
	daemon_close_listeners(d);
	if (d->d_sessions.sc_count == 0) {
		log_notice("%s: stopping", strsignal(sig));
		event_base_loopexit(d->d_base, NULL);
		return;
	}
	log_notice("%s: stopping; waiting up to %llu.%03llus for %u sessions",
	    strsignal(sig), (unsigned long long)(ms / 1000),
	    (unsigned long long)(ms % 1000), d->d_sessions.sc_count);
	d->d_sessions.sc_closed_cb = daemon_session_closed;
	d->d_sessions.sc_closed_arg = d;
	evtimer_assign(&d->d_drain_timer, d->d_base, daemon_drain_timeout, d);
	if (evtimer_add(&d->d_drain_timer, &tv) == 0)
		d->d_draining = true;
}

static void
daemon_hup(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	(void)arg;
	log_warnx("SIGHUP: reloading is not supported by this version; "
	    "the configuration is unchanged (restart to apply changes)");
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
		log_error("%s: %zu problem%s, not started", path, diag.cd_count,
		    diag.cd_count == 1 ? "" : "s");
	config_diag_free(&diag);
	return cf;
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
daemon_run(struct daemon *d)
{
	int	n, status = DAEMON_EXIT_OK;

	event_set_log_callback(daemon_event_log);
	daemon_raise_nofile();
	signal(SIGPIPE, SIG_IGN);
	if ((d->d_base = event_base_new()) == NULL) {
		log_error("cannot create the event loop");
		return DAEMON_EXIT_STARTUP;
	}
	session_ctx_init(&d->d_sessions, d->d_base);
	TAILQ_INIT(&d->d_listeners);

	if ((n = daemon_open_listeners(d)) == -1) {
		status = DAEMON_EXIT_STARTUP;
		goto done;
	}
	evsignal_assign(&d->d_sigterm, d->d_base, SIGTERM, daemon_stop, d);
	evsignal_assign(&d->d_sigint, d->d_base, SIGINT, daemon_stop, d);
	evsignal_assign(&d->d_sighup, d->d_base, SIGHUP, daemon_hup, d);
	if (evsignal_add(&d->d_sigterm, NULL) == -1 ||
	    evsignal_add(&d->d_sigint, NULL) == -1 ||
	    evsignal_add(&d->d_sighup, NULL) == -1) {
		log_error("cannot install signal handlers");
		status = DAEMON_EXIT_STARTUP;
		goto done;
	}
	log_notice("mptcp-relayd %s started: %d listening socket%s, "
	    "libevent %s (%s)", PACKAGE_VERSION, n, n == 1 ? "" : "s",
	    event_get_version(), event_base_get_method(d->d_base));

	if (event_base_dispatch(d->d_base) == -1) {
		log_error("event loop failed");
		status = DAEMON_EXIT_STARTUP;
	}
	log_notice("stopped");
	evsignal_del(&d->d_sigterm);
	evsignal_del(&d->d_sigint);
	evsignal_del(&d->d_sighup);
	if (d->d_draining)
		evtimer_del(&d->d_drain_timer);
done:
	d->d_sessions.sc_closed_cb = NULL;
	session_close_all(&d->d_sessions, SESSION_END_SHUTDOWN);
	daemon_close_listeners(d);
	session_ctx_clear(&d->d_sessions);
	event_base_free(d->d_base);
	return status;
}

int
daemon_main(int argc, char **argv)
{
	struct daemon	 d;
	enum log_level	 level = LOG_LVL_INFO;
	bool		 test = false;
	int		 ch, status;

	memset(&d, 0, sizeof(d));
	d.d_config_path = CONFIG_DEFAULT_PATH;
	log_init(LOG_LVL_INFO);

	while ((ch = getopt_long(argc, argv, "c:tl:Vh", daemon_longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'c':
			d.d_config_path = optarg;
			break;
		case 't':
			test = true;
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

	if ((d.d_config = daemon_load_config(d.d_config_path, test)) == NULL)
		return DAEMON_EXIT_CONFIG;
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
