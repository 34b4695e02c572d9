/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

#include "autoconf.h"

#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "relay.h"
#include "sock.h"

static void
relay_upstate_unref(struct relay_upstate *st)
{
	if (__atomic_sub_fetch(&st->rs_refcnt, 1, __ATOMIC_ACQ_REL) == 0)
		free(st);
}

/*
 * A new address set from the upstream lines ups[0..n-1], each address
 * once, taking the state of old's addresses that remain (and new state for
 * the others). NULL when out of memory.
 */
static struct relay_upset *
relay_upset_new(const struct config_upstream *ups, int n,
    const struct relay_upset *old)
{
	struct relay_upset	*us;
	struct relay_upstream	*ru;
	struct relay_upstate	*st;
	int			 i, j, k, total = 0;

	for (i = 0; i < n; i++)
		total += ups[i].cu_naddrs;
	us = calloc(1, sizeof(*us) + (size_t)total * sizeof(*ru));
	if (us == NULL)
		return NULL;
	us->us_refcnt = 1;
	for (i = 0; i < n; i++) {
		for (j = 0; j < ups[i].cu_naddrs; j++) {
			for (k = 0; k < us->us_n; k++)
				if (config_addr_equal(&us->us_addrs[k].ru_addr,
				    &ups[i].cu_addrs[j]))
					break;
			if (k < us->us_n)
				continue;	/* named twice: once is enough */
			ru = &us->us_addrs[us->us_n];
			ru->ru_addr = ups[i].cu_addrs[j];
			ru->ru_destination = ups[i].cu_destination;
			snprintf(ru->ru_host, sizeof(ru->ru_host), "%s",
			    ups[i].cu_host);
			for (k = 0; old != NULL && k < old->us_n; k++)
				if (config_addr_equal(&old->us_addrs[k].ru_addr,
				    &ru->ru_addr))
					break;
			if (old != NULL && k < old->us_n) {
				st = old->us_addrs[k].ru_st;
				__atomic_add_fetch(&st->rs_refcnt, 1,
				    __ATOMIC_RELAXED);
			} else if ((st = calloc(1, sizeof(*st))) == NULL) {
				relay_upset_put(us);
				return NULL;
			} else
				st->rs_refcnt = 1;
			ru->ru_st = st;
			us->us_n++;
		}
	}
	return us;
}

void
relay_upset_put(struct relay_upset *us)
{
	int	i;

	if (us == NULL ||
	    __atomic_sub_fetch(&us->us_refcnt, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	for (i = 0; i < us->us_n; i++)
		relay_upstate_unref(us->us_addrs[i].ru_st);
	free(us);
}

/* Take the upstream lines of lc as the relay's own (resolved as they are). */
static int
relay_take_ups(struct relay *rl, const struct listener_config *lc)
{
	struct config_upstream	*ups = NULL;

	if (lc->lc_nupstreams > 0 && (ups = reallocarray(NULL,
	    (size_t)lc->lc_nupstreams, sizeof(*ups))) == NULL)
		return -1;
	if (ups != NULL)
		memcpy(ups, lc->lc_upstreams, (size_t)lc->lc_nupstreams *
		    sizeof(*ups));
	free(rl->rl_ups);
	rl->rl_ups = ups;
	rl->rl_nups = lc->lc_nupstreams;
	rl->rl_ups_gen++;
	return 0;
}

/* Put set us in place of the current one, for sessions starting now. */
static void
relay_upset_swap(struct relay *rl, struct relay_upset *us)
{
	struct relay_upset	*old;

	pthread_mutex_lock(&rl->rl_lock);
	old = rl->rl_upset;
	rl->rl_upset = us;
	pthread_mutex_unlock(&rl->rl_lock);
	relay_upset_put(old);
}

static bool
relay_upset_has(const struct relay_upset *us, const struct config_addr *a)
{
	int	i;

	for (i = 0; i < us->us_n; i++)
		if (config_addr_equal(&us->us_addrs[i].ru_addr, a))
			return true;
	return false;
}

static bool
relay_addrs_have(const struct config_addr *addrs, int n,
    const struct config_addr *a)
{
	int	i;

	for (i = 0; i < n; i++)
		if (config_addr_equal(&addrs[i], a))
			return true;
	return false;
}

void
relay_resolved(struct relay *rl, int i, const struct config_addr *addrs,
    int n)
{
	struct config_upstream	*cu = &rl->rl_ups[i];
	struct relay_upset	*us, *old = rl->rl_upset;
	char			 text[SOCK_NTOP_MAX];
	int			 j, room = CONFIG_UPSTREAM_ADDRS_MAX;

	if (n <= 0 || i < 0 || i >= rl->rl_nups)
		return;
	for (j = 0; j < rl->rl_nups; j++)
		if (j != i)
			room -= rl->rl_ups[j].cu_naddrs;
	if (n > CONFIG_ADDRS_MAX)
		n = CONFIG_ADDRS_MAX;
	if (n > room)
		n = room;
	/*
	 * The name's own addresses again, in any order: nothing to do. Not
	 * the whole set's: another line may have the new address.
	 */
	if (n == cu->cu_naddrs) {
		for (j = 0; j < n; j++)
			if (!relay_addrs_have(cu->cu_addrs, cu->cu_naddrs,
			    &addrs[j]))
				break;
		if (j == n)
			return;
	}
	for (j = 0; j < n; j++) {
		cu->cu_addrs[j] = addrs[j];
		snprintf(cu->cu_addrs[j].ca_text, sizeof(cu->cu_addrs[j].ca_text),
		    "%s", cu->cu_text);
		cu->cu_addrs[j].ca_line = cu->cu_line;
	}
	cu->cu_naddrs = n;
	if ((us = relay_upset_new(rl->rl_ups, rl->rl_nups, old)) == NULL) {
		log_warnx("%s: out of memory: upstream addresses not updated",
		    rl->rl_name);
		return;
	}
	for (j = 0; j < us->us_n; j++)
		if (!relay_upset_has(old, &us->us_addrs[j].ru_addr))
			log_notice("%s: upstream %s now also resolves to %s",
			    rl->rl_name, cu->cu_text, sock_ntop(
			    (const struct sockaddr *)&us->us_addrs[j].ru_addr.ca_ss,
			    text, sizeof(text)));
	for (j = 0; j < old->us_n; j++)
		if (!relay_upset_has(us, &old->us_addrs[j].ru_addr))
			log_notice("%s: upstream %s no longer resolves to %s "
			    "(its sessions go on)", rl->rl_name,
			    old->us_addrs[j].ru_addr.ca_text, sock_ntop(
			    (const struct sockaddr *)&old->us_addrs[j].ru_addr.ca_ss,
			    text, sizeof(text)));
	relay_upset_swap(rl, us);
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

struct relay_upset *
relay_upset_destination(struct relay *rl, const struct sockaddr *dst,
    socklen_t len)
{
	struct relay_upset	*us, *cur;
	struct relay_upstream	*ru;

	if (len > sizeof(struct sockaddr_storage) || (us = calloc(1,
	    sizeof(*us) + sizeof(*ru))) == NULL)
		return NULL;
	us->us_refcnt = 1;
	us->us_n = 1;
	ru = &us->us_addrs[0];
	cur = relay_upset_get(rl);
	if (cur->us_n > 0 && cur->us_addrs[0].ru_destination) {
		*ru = cur->us_addrs[0];
		__atomic_add_fetch(&ru->ru_st->rs_refcnt, 1, __ATOMIC_RELAXED);
	} else if ((ru->ru_st = calloc(1, sizeof(*ru->ru_st))) != NULL) {
		ru->ru_st->rs_refcnt = 1;
		ru->ru_destination = true;
		snprintf(ru->ru_addr.ca_text, sizeof(ru->ru_addr.ca_text),
		    "destination");
	}
	relay_upset_put(cur);
	if (ru->ru_st == NULL) {
		free(us);
		return NULL;
	}
	memcpy(&ru->ru_addr.ca_ss, dst, len);
	ru->ru_addr.ca_len = len;
	/* The name an upstream_tls certificate is checked against. */
	sock_ntop_host(dst, ru->ru_host, sizeof(ru->ru_host));
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
	if (relay_take_ups(rl, lc) == -1 || (rl->rl_upset =
	    relay_upset_new(lc->lc_upstreams, lc->lc_nupstreams, NULL)) == NULL) {
		free(rl->rl_ups);
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
	free(rl->rl_ups);
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
	struct relay_upset	*us;
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
		if ((us = relay_upset_new(lc->lc_upstreams, lc->lc_nupstreams,
		    rl->rl_upset)) == NULL || relay_take_ups(rl, lc) == -1) {
			relay_upset_put(us);
			log_warnx("%s: out of memory: upstream addresses not "
			    "updated", lc->lc_name);
		} else
			relay_upset_swap(rl, us);
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
		[RELAY_REFUSED_TLS_HANDSHAKE] = "tls_handshake",
		[RELAY_REFUSED_DESTINATION] = "destination",
	};

	if (reason >= RELAY_REFUSED__MAX)
		return "unknown";
	return names[reason];
}

bool
relay_upstream_up(const struct relay_upstream *ru, uint64_t now,
    uint64_t backoff_ms)
{
	uint64_t	failed = __atomic_load_n(&ru->ru_st->rs_failed_at,
			    __ATOMIC_RELAXED);

	if (__atomic_load_n(&ru->ru_st->rs_down, __ATOMIC_RELAXED))
		return false;
	return failed == 0 || now - failed >= backoff_ms;
}
