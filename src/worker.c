/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

#include "autoconf.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/event_struct.h>
#include <event2/thread.h>

#include "log.h"
#include "session.h"
#include "sock.h"
#include "worker.h"

/* A client on its way from the accepting loop to a worker. */
struct worker_job {
	struct worker_job		*wj_next;
	struct relay			*wj_relay;	/* referenced */
	struct config			*wj_config;	/* referenced */
	const struct listener_config	*wj_conf;
	int				 wj_fd;
	socklen_t			 wj_len;
	struct sockaddr_storage		 wj_client;
};

/* w_cmd, set by the owner, read by the worker. */
#define WORKER_CMD_STOP		0x01	/* drain, then finish */
#define WORKER_CMD_CLOSE	0x02	/* close every session now */

struct worker {
	struct worker_pool	*w_pool;
	int			 w_index;
	pthread_t		 w_thread;
	bool			 w_started;
	struct event_base	*w_base;
	struct session_ctx	 w_sessions;
	struct event		 w_wake;

	pthread_mutex_t		 w_lock;	/* guards the fields below */
	struct worker_job	*w_head;
	struct worker_job	*w_tail;
	unsigned		 w_cmd;
	uint64_t		 w_drain_ms;
};

struct event_base *
worker_base_new(void)
{
	struct event_config	*ec;
	struct event_base	*base;

	if ((ec = event_config_new()) == NULL)
		return NULL;
	event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	base = event_base_new_with_config(ec);
	event_config_free(ec);
	return base;
}

int
worker_threads_init(void)
{
	return evthread_use_pthreads();
}

/* The worker's sessions are all gone: its loop ends. */
static void
worker_drained(struct session_ctx *sc, void *arg)
{
	struct worker	*w = arg;

	(void)sc;
	event_base_loopexit(w->w_base, NULL);
}

/* Give back what a job holds when its session cannot start. */
static void
worker_job_drop(struct worker_job *job, struct budget *budget)
{
	sock_abort(job->wj_fd);
	if (budget != NULL)
		budget_session_release(budget);
	relay_session_out(job->wj_relay);
	relay_unref(job->wj_relay);
	config_unref(job->wj_config);
	free(job);
}

/* Take the queued clients and commands, in the worker's thread. */
static void
worker_wake(evutil_socket_t fd, short what, void *arg)
{
	struct worker		*w = arg;
	struct worker_job	*job, *next;
	unsigned		 cmd;
	uint64_t		 ms;

	(void)fd;
	(void)what;
	pthread_mutex_lock(&w->w_lock);
	job = w->w_head;
	w->w_head = w->w_tail = NULL;
	cmd = w->w_cmd;
	w->w_cmd = 0;
	ms = w->w_drain_ms;
	pthread_mutex_unlock(&w->w_lock);

	for (; job != NULL; job = next) {
		next = job->wj_next;
		session_start(&w->w_sessions, job->wj_relay, job->wj_config,
		    job->wj_conf, job->wj_fd,
		    (struct sockaddr *)&job->wj_client, job->wj_len);
		relay_unref(job->wj_relay);
		config_unref(job->wj_config);
		free(job);
	}
	if (cmd & WORKER_CMD_CLOSE)
		session_ctx_drain(&w->w_sessions, 0, worker_drained, w);
	else if (cmd & WORKER_CMD_STOP)
		session_ctx_drain(&w->w_sessions, ms, worker_drained, w);
}

static void *
worker_main(void *arg)
{
	struct worker	*w = arg;
	sigset_t	 all;

	/* Signals are the daemon's loop's: never interrupt a worker. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	log_debug("worker %d: running", w->w_index);
	if (event_base_loop(w->w_base, EVLOOP_NO_EXIT_ON_EMPTY) == -1)
		log_error("worker %d: event loop failed", w->w_index);
	/* After a loop failure: nothing may outlive the thread. */
	session_close_all(&w->w_sessions, SESSION_END_SHUTDOWN);
	log_debug("worker %d: finished", w->w_index);
	/* The last one out tells the owner's loop. */
	if (__atomic_sub_fetch(&w->w_pool->wp_running, 1, __ATOMIC_ACQ_REL) == 0)
		event_active(w->w_pool->wp_done_ev, EV_READ, 0);
	return NULL;
}

static void
worker_free(struct worker *w)
{
	struct worker_job	*job;

	while ((job = w->w_head) != NULL) {
		w->w_head = job->wj_next;
		worker_job_drop(job, w->w_sessions.sc_budget);
	}
	if (w->w_base != NULL) {
		event_del(&w->w_wake);
		session_ctx_clear(&w->w_sessions);
		event_base_free(w->w_base);
	}
	pthread_mutex_destroy(&w->w_lock);
}

int
worker_pool_start(struct worker_pool *wp, int n, struct budget *budget,
    struct event *done)
{
	struct worker	*w;
	char		 name[16];
	int		 i, error;

	memset(wp, 0, sizeof(*wp));
	if ((wp->wp_workers = calloc(n, sizeof(*wp->wp_workers))) == NULL) {
		log_error("workers: out of memory");
		return -1;
	}
	wp->wp_count = n;
	wp->wp_done_ev = done;
	for (i = 0; i < n; i++) {
		w = &wp->wp_workers[i];
		w->w_pool = wp;
		w->w_index = i + 1;
		pthread_mutex_init(&w->w_lock, NULL);
		if ((w->w_base = worker_base_new()) == NULL) {
			log_error("worker %d: cannot create an event loop",
			    w->w_index);
			goto fail;
		}
		session_ctx_init(&w->w_sessions, w->w_base, w->w_index, budget);
		event_assign(&w->w_wake, w->w_base, -1, 0, worker_wake, w);
	}
	wp->wp_running = n;
	for (i = 0; i < n; i++) {
		w = &wp->wp_workers[i];
		if ((error = pthread_create(&w->w_thread, NULL, worker_main,
		    w)) != 0) {
			log_error("worker %d: pthread_create: %s", w->w_index,
			    strerror(error));
			__atomic_sub_fetch(&wp->wp_running, n - i,
			    __ATOMIC_ACQ_REL);
			goto fail;
		}
		w->w_started = true;
		/*
		 * As top -H and ps -L show it, from here: named by the thread
		 * itself, it could still be nameless once the start is logged.
		 */
		snprintf(name, sizeof(name), "worker %d", w->w_index);
		pthread_setname_np(w->w_thread, name);
	}
	return 0;
fail:
	worker_pool_stop(wp, 0, true);
	worker_pool_join(wp);
	return -1;
}

void
worker_dispatch(struct worker_pool *wp, struct relay *rl, struct config *cf,
    const struct listener_config *conf, int fd, const struct sockaddr *client,
    socklen_t clientlen)
{
	struct worker		*w;
	struct worker_job	*job;

	w = &wp->wp_workers[wp->wp_next++ % (unsigned)wp->wp_count];
	if ((job = malloc(sizeof(*job))) == NULL) {
		log_warnx("%s: out of memory: client dropped", conf->lc_name);
		sock_abort(fd);
		if (w->w_sessions.sc_budget != NULL)
			budget_session_release(w->w_sessions.sc_budget);
		relay_session_out(rl);
		return;
	}
	relay_ref(rl);
	config_ref(cf);
	job->wj_next = NULL;
	job->wj_relay = rl;
	job->wj_config = cf;
	job->wj_conf = conf;
	job->wj_fd = fd;
	if (clientlen > sizeof(job->wj_client))
		clientlen = sizeof(job->wj_client);
	job->wj_len = clientlen;
	memcpy(&job->wj_client, client, clientlen);

	pthread_mutex_lock(&w->w_lock);
	if (w->w_tail != NULL)
		w->w_tail->wj_next = job;
	else
		w->w_head = job;
	w->w_tail = job;
	pthread_mutex_unlock(&w->w_lock);
	event_active(&w->w_wake, EV_READ, 0);
}

void
worker_pool_stop(struct worker_pool *wp, uint64_t drain_ms, bool now)
{
	struct worker	*w;
	int		 i;

	for (i = 0; i < wp->wp_count; i++) {
		w = &wp->wp_workers[i];
		if (!w->w_started)
			continue;
		pthread_mutex_lock(&w->w_lock);
		w->w_cmd |= now ? WORKER_CMD_CLOSE : WORKER_CMD_STOP;
		w->w_drain_ms = drain_ms;
		pthread_mutex_unlock(&w->w_lock);
		event_active(&w->w_wake, EV_READ, 0);
	}
}

unsigned
worker_pool_sessions(const struct worker_pool *wp)
{
	unsigned	n = 0;
	int		i;

	for (i = 0; i < wp->wp_count; i++)
		n += __atomic_load_n(&wp->wp_workers[i].w_sessions.sc_count,
		    __ATOMIC_RELAXED);
	return n;
}

void
worker_pool_join(struct worker_pool *wp)
{
	int	i;

	for (i = 0; i < wp->wp_count; i++) {
		if (wp->wp_workers[i].w_started)
			pthread_join(wp->wp_workers[i].w_thread, NULL);
		worker_free(&wp->wp_workers[i]);
	}
	free(wp->wp_workers);
	wp->wp_workers = NULL;
	wp->wp_count = 0;
}
