/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

/*
 * The metrics as text: a small writer for the Prometheus text exposition
 * format 0.0.4, and the rendering of everything the daemon exports with
 * it. Nothing here opens a file or a socket: what the scrape reads from
 * the kernel and /proc comes in a struct metrics_input (stats.c fills
 * it), so the output can be tested byte for byte.
 *
 * The writer holds one metric family open at a time: metrics_family()
 * writes its HELP and TYPE lines, and the samples that follow take its
 * name, so that a family's samples stay together and its TYPE line names
 * exactly what its samples are called. Counters must end in "_total"
 * (the 0.0.4 format names a counter's family with the suffix, as the
 * client libraries do), histograms get _bucket, _sum and _count samples.
 * A misuse (a bad name, a sample outside a family) or a failed allocation
 * is kept in mb_error and makes every later call a no-op.
 */
#ifndef MPTCP_RELAYD_METRICS_H
#define MPTCP_RELAYD_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "netstat.h"
#include "relay.h"

/* Content-Type of the output, as Prometheus asks for format 0.0.4. */
#define METRICS_CONTENT_TYPE	"text/plain; version=0.0.4; charset=utf-8"

#define METRICS_NAME_MAX	128	/* a family's name, with NUL */


enum metrics_type {
	METRICS_COUNTER,
	METRICS_GAUGE,
	METRICS_HISTOGRAM,
};

struct metrics_buf {
	char			*mb_data;	/* not NUL-terminated */
	size_t			 mb_len;
	size_t			 mb_cap;
	int			 mb_error;	/* 0, ENOMEM or EINVAL */
	char			 mb_family[METRICS_NAME_MAX]; /* "": none */
	enum metrics_type	 mb_type;
};

/* One label of a sample; the value is escaped as the format wants. */
struct metrics_label {
	const char	*ml_name;
	const char	*ml_value;
};

/*
 * A histogram's state: mh_counts[i] samples in bucket i, that is at most
 * mh_bounds[i] and more than the bound before (not cumulative), and
 * mh_counts[mh_nbounds] those above every bound.
 */
struct metrics_histogram {
	const unsigned	*mh_bounds;
	int		 mh_nbounds;
	const uint64_t	*mh_counts;	/* [mh_nbounds + 1] */
	uint64_t	 mh_sum;
};

/* An empty buffer; metrics_buf_free() releases what it grew to. */
void	metrics_buf_init(struct metrics_buf *mb);
void	metrics_buf_free(struct metrics_buf *mb);

/*
 * Open the family name of type with help text (one line; backslashes and
 * newlines are escaped): write its HELP and TYPE lines.
 */
void	metrics_family(struct metrics_buf *mb, enum metrics_type type,
	    const char *name, const char *help);

/* A sample of the open counter or gauge family, with n labels. */
void	metrics_value(struct metrics_buf *mb, const struct metrics_label *l,
	    int n, uint64_t value);
void	metrics_value_double(struct metrics_buf *mb,
	    const struct metrics_label *l, int n, double value);

/*
 * The samples of the open histogram family for one label set: a _bucket
 * per bound and +Inf (cumulative, with the label le after the others),
 * then _sum and _count.
 */
void	metrics_histogram(struct metrics_buf *mb, const struct metrics_label *l,
	    int n, const struct metrics_histogram *h);

/* What /proc says of the process, as Prometheus client libraries export it. */
struct metrics_process {
	double		mp_cpu_seconds;		/* user and system */
	uint64_t	mp_resident_bytes;
	uint64_t	mp_virtual_bytes;
	uint64_t	mp_open_fds;		/* 0: unknown, not exported */
	uint64_t	mp_max_fds;
	double		mp_start_time;		/* since the epoch */
};

/* Everything one scrape exports. */
struct metrics_input {
	const struct relay_set		*mi_relays;
	uint64_t			 mi_now;	/* monotonic ms */
	const struct netstat_mptcp	*mi_kernel;	/* NULL: unreadable */
	int				 mi_mptcp_ready; /* 1 or 0 */
	const struct metrics_process	*mi_process;	/* NULL: none */
};

/*
 * Write every family of CONFIG.md's table (and the process_* ones) for
 * in into mb. Every label set that can appear is written from the start,
 * with 0 where nothing was counted (each end reason, refusal reason and
 * connect result), so that rates work from the first scrape. Reads each
 * relay's counters without a lock (relay_counters_sum) and its upstream
 * set directly: call it from the daemon's loop, the only one that
 * replaces a relay's upstream set.
 */
void	metrics_render(struct metrics_buf *mb, const struct metrics_input *in);

#endif
