/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

/*
 * Definitions that an older libc or kernel header set may lack. The
 * numbers are part of the kernel ABI and never change.
 */
#ifndef MPTCP_RELAYD_COMPAT_H
#define MPTCP_RELAYD_COMPAT_H

#include <stdint.h>
#include <netinet/in.h>

#ifndef IPPROTO_MPTCP
#define IPPROTO_MPTCP	262
#endif
#ifndef SOL_MPTCP
#define SOL_MPTCP	284
#endif
#ifndef MPTCP_INFO
#define MPTCP_INFO	1
#endif
#ifndef TCP_IS_MPTCP
#define TCP_IS_MPTCP	43
#endif
/* transparent = tproxy: accept connections to any address (linux/in.h). */
#ifndef IP_TRANSPARENT
#define IP_TRANSPARENT	19
#endif
#ifndef IPV6_TRANSPARENT
#define IPV6_TRANSPARENT 75
#endif
/*
 * transparent = redirect: the destination before NAT, at SOL_IP
 * (linux/netfilter_ipv4.h) and SOL_IPV6 (linux/netfilter_ipv6/ip6_tables.h,
 * IP6T_SO_ORIGINAL_DST), headers that fight with the libc's.
 */
#ifndef SO_ORIGINAL_DST
#define SO_ORIGINAL_DST	80
#endif
#define COMPAT_IP6T_SO_ORIGINAL_DST 80

/*
 * struct mptcp_info as the kernel fills it. Linux 6.1 returns the first 48
 * bytes; later kernels append fields (mptcpi_subflows_total since 6.7), so
 * a reader must check the length getsockopt() reports before using one.
 */
struct compat_mptcp_info {
	uint8_t		mptcpi_subflows;	/* additional subflows */
	uint8_t		mptcpi_add_addr_signal;
	uint8_t		mptcpi_add_addr_accepted;
	uint8_t		mptcpi_subflows_max;
	uint8_t		mptcpi_add_addr_signal_max;
	uint8_t		mptcpi_add_addr_accepted_max;
	uint32_t	mptcpi_flags;
	uint32_t	mptcpi_token;
	uint64_t	mptcpi_write_seq;
	uint64_t	mptcpi_snd_una;
	uint64_t	mptcpi_rcv_nxt;
	uint8_t		mptcpi_local_addr_used;
	uint8_t		mptcpi_local_addr_max;
	uint8_t		mptcpi_csum_enabled;
	uint32_t	mptcpi_retransmits;
	uint64_t	mptcpi_bytes_retrans;
	uint64_t	mptcpi_bytes_sent;
	uint64_t	mptcpi_bytes_received;
	uint64_t	mptcpi_bytes_acked;
	uint8_t		mptcpi_subflows_total;	/* 6.7+: all subflows */
	uint8_t		mptcpi_reserved[3];
	uint32_t	mptcpi_last_data_sent;
	uint32_t	mptcpi_last_data_recv;
	uint32_t	mptcpi_last_ack_recv;
};

/*
 * struct tcp_info as the kernel fills it (linux/tcp.h, which fights with
 * netinet/tcp.h, whose own struct stops before the byte counts), up to
 * what a subflow's detail needs: tcpi_bytes_received (Linux 4.1) and
 * tcpi_bytes_sent (4.19). A reader checks the length the kernel reports
 * before using a field.
 */
struct compat_tcp_info {
	uint8_t		tcpi_u8[8];	/* tcpi_state ... tcpi_*_wscale */
	uint32_t	tcpi_u32[24];	/* tcpi_rto ... tcpi_total_retrans */
	uint64_t	tcpi_pacing_rate;
	uint64_t	tcpi_max_pacing_rate;
	uint64_t	tcpi_bytes_acked;
	uint64_t	tcpi_bytes_received;
	uint32_t	tcpi_u32b[6];	/* tcpi_segs_out ... */
	uint64_t	tcpi_delivery_rate;
	uint64_t	tcpi_busy_time;
	uint64_t	tcpi_rwnd_limited;
	uint64_t	tcpi_sndbuf_limited;
	uint32_t	tcpi_delivered;
	uint32_t	tcpi_delivered_ce;
	uint64_t	tcpi_bytes_sent;
	uint64_t	tcpi_bytes_retrans;
};

#endif
