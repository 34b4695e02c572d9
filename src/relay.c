/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "relay.h"

/* A new address set for section lc, with the state of old's addresses. */
static struct relay_upset *
relay_upset_new(const struct listener_config *lc,
    const struct relay_upset *old)
{
	const struct config_upstream	*cu = &lc->lc_upstream;
	struct relay_upset		*us;
	struct relay_upstream		*ru;
	int				 i, j;

	us = calloc(1, sizeof(*us) + (size_t)cu->cu_naddrs * sizeof(*ru));
	if (us == NULL)
		return NULL;
	us->us_refcnt = 1;
	us->us_n = cu->cu_naddrs;
	for (i = 0; i < us->us_n; i++) {
		ru = &us->us_addrs[i];
		ru->ru_addr = cu->cu_addrs[i];
		for (j = 0; old != NULL && j < old->us_n; j++) {
			if (!config_addr_equal(&old->us_addrs[j].ru_addr,
			    &ru->ru_addr))
				continue;
			memcpy(ru->ru_connects, old->us_addrs[j].ru_connects,
			    sizeof(ru->ru_connects));
			break;
		}
	}
	return us;
}

void
relay_upset_put(struct relay_upset *us)
{
	if (us != NULL &&
	    __atomic_sub_fetch(&us->us_refcnt, 1, __ATOMIC_ACQ_REL) == 0)
		free(us);
}

struct relay_upset *
relay_upset_get(struct relay *rl)
{
	struct relay_upset	*us;

	pthread_mutex_lock(&rl->rl_lock);
	us = rl->rl_upset;
	__atomic_add_fetch(&us->us_refcnt, 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&rl->rl_lock);
	return us;
}

struct relay *
relay_new(struct config *cf, const struct listener_config *lc, int nloops)
{
	struct relay	*rl;

	if ((rl = calloc(1, sizeof(*rl))) == NULL)
		return NULL;
	if (posix_memalign((void **)&rl->rl_counters,
	    _Alignof(struct relay_counters),
	    (size_t)nloops * sizeof(struct relay_counters)) != 0) {
		free(rl);
		return NULL;
	}
	memset(rl->rl_counters, 0, (size_t)nloops * sizeof(*rl->rl_counters));
	if ((rl->rl_upset = relay_upset_new(lc, NULL)) == NULL) {
		free(rl->rl_counters);
		free(rl);
		return NULL;
	}
	snprintf(rl->rl_name, sizeof(rl->rl_name), "%s", lc->lc_name);
	rl->rl_refcnt = 1;
	rl->rl_nloops = nloops;
	config_ref(cf);
	rl->rl_config = cf;
	rl->rl_conf = lc;
	pthread_mutex_init(&rl->rl_lock, NULL);
	return rl;
}

void
relay_ref(struct relay *rl)
{
	__atomic_add_fetch(&rl->rl_refcnt, 1, __ATOMIC_RELAXED);
}

void
relay_unref(struct relay *rl)
{
	if (rl == NULL ||
	    __atomic_sub_fetch(&rl->rl_refcnt, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	relay_upset_put(rl->rl_upset);
	pthread_mutex_destroy(&rl->rl_lock);
	config_unref(rl->rl_config);
	free(rl->rl_counters);
	free(rl);
}

static int
relay_cmp_name(const void *a, const void *b)
{
	const struct relay	*x = *(struct relay *const *)a;
	const struct relay	*y = *(struct relay *const *)b;

	return strcmp(x->rl_name, y->rl_name);
}

int
relay_set_prepare(const struct relay_set *cur, struct config *cf, int nloops,
    struct relay_set *next)
{
	struct listener_config	*lc;
	struct relay		**sorted = NULL, key, *keyp = &key, **found;
	struct relay		*rl;
	int			 n = 0;

	next->rs_n = 0;
	next->rs_relays = calloc((size_t)cf->cf_nlisteners + 1,
	    sizeof(*next->rs_relays));
	if (next->rs_relays == NULL)
		return -1;
	if (cur->rs_n > 0) {
		sorted = reallocarray(NULL, (size_t)cur->rs_n, sizeof(*sorted));
		if (sorted == NULL)
			goto fail;
		memcpy(sorted, cur->rs_relays, (size_t)cur->rs_n *
		    sizeof(*sorted));
		qsort(sorted, (size_t)cur->rs_n, sizeof(*sorted),
		    relay_cmp_name);
	}
	TAILQ_FOREACH(lc, &cf->cf_listeners, lc_entry) {
		found = NULL;
		if (sorted != NULL) {
			snprintf(key.rl_name, sizeof(key.rl_name), "%s",
			    lc->lc_name);
			found = bsearch(&keyp, sorted, (size_t)cur->rs_n,
			    sizeof(*sorted), relay_cmp_name);
		}
		if (found != NULL) {
			rl = *found;
			relay_ref(rl);
		} else if ((rl = relay_new(cf, lc, nloops)) == NULL)
			goto fail;
		next->rs_relays[n++] = rl;
		next->rs_n = n;
	}
	free(sorted);
	return 0;
fail:
	free(sorted);
	relay_set_clear(next);
	return -1;
}

void
relay_set_commit(struct relay_set *cur, struct relay_set *next,
    struct config *cf)
{
	struct listener_config	*lc;
	struct relay_upset	*us, *old;
	struct relay		*rl;
	int			 i = 0;

	TAILQ_FOREACH(lc, &cf->cf_listeners, lc_entry) {
		rl = next->rs_relays[i++];
		if (rl->rl_conf == lc)
			continue;		/* new: made for cf */
		/*
		 * Out of memory for the new set: keep the old addresses
		 * rather than fail a reload that is already bound.
		 */
		if ((us = relay_upset_new(lc, rl->rl_upset)) == NULL)
			log_warnx("%s: out of memory: upstream addresses not "
			    "updated", lc->lc_name);
		else {
			pthread_mutex_lock(&rl->rl_lock);
			old = rl->rl_upset;
			rl->rl_upset = us;
			pthread_mutex_unlock(&rl->rl_lock);
			relay_upset_put(old);
		}
		config_ref(cf);
		config_unref(rl->rl_config);
		rl->rl_config = cf;
		rl->rl_conf = lc;
	}
	relay_set_clear(cur);
	*cur = *next;
	next->rs_relays = NULL;
	next->rs_n = 0;
}

void
relay_set_clear(struct relay_set *rs)
{
	int	i;

	for (i = 0; i < rs->rs_n; i++)
		relay_unref(rs->rs_relays[i]);
	free(rs->rs_relays);
	rs->rs_relays = NULL;
	rs->rs_n = 0;
}

void
relay_counters_sum(const struct relay *rl, struct relay_counters *sum)
{
	const uint64_t	*src;
	uint64_t	*dst = (uint64_t *)sum;
	size_t		 i, n = sizeof(*sum) / sizeof(uint64_t);
	int		 l;

	memset(sum, 0, sizeof(*sum));
	for (l = 0; l < rl->rl_nloops; l++) {
		src = (const uint64_t *)&rl->rl_counters[l];
		for (i = 0; i < n; i++)
			dst[i] += __atomic_load_n(&src[i], __ATOMIC_RELAXED);
	}
}

void
relay_session_in(struct relay *rl)
{
	__atomic_add_fetch(&rl->rl_sessions, 1, __ATOMIC_RELAXED);
}

void
relay_session_out(struct relay *rl)
{
	__atomic_sub_fetch(&rl->rl_sessions, 1, __ATOMIC_RELAXED);
}

bool
relay_session_take(struct relay *rl, unsigned max)
{
	unsigned	n;

	if (max == 0) {
		relay_session_in(rl);
		return true;
	}
	n = __atomic_load_n(&rl->rl_sessions, __ATOMIC_RELAXED);
	do {
		if (n >= max)
			return false;
	} while (!__atomic_compare_exchange_n(&rl->rl_sessions, &n, n + 1,
	    true, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED));
	return true;
}

const char *
relay_refusal_name(enum relay_refusal reason)
{
	static const char *const names[RELAY_REFUSED__MAX] = {
		[RELAY_REFUSED_ACL] = "acl",
		[RELAY_REFUSED_PROXY_HEADER] = "proxy_header",
	};

	if (reason >= RELAY_REFUSED__MAX)
		return "unknown";
	return names[reason];
}

bool
relay_upstream_up(const struct relay_upstream *ru, uint64_t now,
    uint64_t backoff_ms)
{
	uint64_t	failed = __atomic_load_n(&ru->ru_failed_at,
			    __ATOMIC_RELAXED);

	if (__atomic_load_n(&ru->ru_down, __ATOMIC_RELAXED))
		return false;
	return failed == 0 || now - failed >= backoff_ms;
}
