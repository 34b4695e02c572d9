/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

#include "autoconf.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "sock.h"
#include "upstream.h"

static void	upstream_event(evutil_socket_t, short, void *);

const struct config_addr *
upstream_addr(const struct upstream_conn *uc)
{
	const struct config_upstream	*cu = &uc->uc_conf->lc_upstream;
	int				 i = uc->uc_index;

	if (i >= cu->cu_naddrs)
		i = cu->cu_naddrs - 1;
	return &cu->cu_addrs[i < 0 ? 0 : i];
}

/*
 * Start a connect to the first address, from uc_index on, that does not
 * fail at once. Returns 0 with the connect under way, or -1 with
 * uc_error set when no address is left.
 */
static int
upstream_try(struct upstream_conn *uc)
{
	const struct listener_config	*lc = uc->uc_conf;
	const struct config_addr	*ca;
	struct sock_opts		 opts = {
		.so_rcvbuf = lc->lc_upstream_rcvbuf,
		.so_sndbuf = lc->lc_upstream_sndbuf,
		.so_nodelay = lc->lc_nodelay,
		.so_keepalive = lc->lc_keepalive,
	};
	struct timeval			 tv;

	for (; uc->uc_index < lc->lc_upstream.cu_naddrs; uc->uc_index++) {
		ca = &lc->lc_upstream.cu_addrs[uc->uc_index];
		uc->uc_fd = sock_connect((const struct sockaddr *)&ca->ca_ss,
		    ca->ca_len, lc->lc_upstream_protocol, &opts);
		if (uc->uc_fd == -1) {
			uc->uc_error = errno;
			continue;
		}
		tv.tv_sec = lc->lc_connect_timeout / 1000;
		tv.tv_usec = (lc->lc_connect_timeout % 1000) * 1000;
		event_assign(&uc->uc_ev, uc->uc_base, uc->uc_fd, EV_WRITE,
		    upstream_event, uc);
		if (event_add(&uc->uc_ev, &tv) == -1) {
			uc->uc_error = ENOMEM;
			close(uc->uc_fd);
			uc->uc_fd = -1;
			continue;
		}
		uc->uc_pending = true;
		return 0;
	}
	uc->uc_index = lc->lc_upstream.cu_naddrs - 1;
	return -1;
}

static void
upstream_event(evutil_socket_t fd, short what, void *arg)
{
	struct upstream_conn	*uc = arg;
	int			 err;

	uc->uc_pending = false;
	if (what & EV_TIMEOUT)
		err = ETIMEDOUT;
	else if ((err = sock_error(fd)) == -1)
		err = errno;
	if (err == 0) {
		uc->uc_fd = -1;		/* now the callback's */
		uc->uc_cb(fd, 0, upstream_addr(uc), uc->uc_arg);
		return;
	}
	log_debug("%s: upstream %s: %s", uc->uc_conf->lc_name,
	    upstream_addr(uc)->ca_text, strerror(err));
	close(fd);
	uc->uc_fd = -1;
	uc->uc_error = err;
	uc->uc_index++;
	if (upstream_try(uc) == 0)
		return;
	uc->uc_cb(-1, uc->uc_error, upstream_addr(uc), uc->uc_arg);
}

int
upstream_connect(struct upstream_conn *uc, struct event_base *base,
    const struct listener_config *conf, upstream_cb cb, void *arg)
{
	memset(uc, 0, sizeof(*uc));
	uc->uc_conf = conf;
	uc->uc_base = base;
	uc->uc_fd = -1;
	uc->uc_cb = cb;
	uc->uc_arg = arg;
	if (upstream_try(uc) == -1) {
		errno = uc->uc_error;
		return -1;
	}
	return 0;
}

void
upstream_cancel(struct upstream_conn *uc)
{
	if (uc->uc_pending) {
		event_del(&uc->uc_ev);
		uc->uc_pending = false;
	}
	if (uc->uc_fd != -1) {
		close(uc->uc_fd);
		uc->uc_fd = -1;
	}
}
