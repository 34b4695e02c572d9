/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

/*
 * TLS (OpenSSL 3) as one more implementation of the per-side I/O layer
 * (io.h): terminate TLS from clients with a struct tls_server, originate
 * it towards upstreams with a struct tls_client. This module owns
 * OpenSSL: nothing else includes its headers or sees its 1 = success.
 *
 * A server has Mozilla's "intermediate" settings: TLS 1.2 at least, its
 * TLS 1.2 cipher list (the client chooses among them), TLS 1.3 defaults,
 * ECDHE over X25519, P-256 and P-384. A client has TLS 1.2 at least and
 * the system's ciphers and groups. Neither renegotiates nor compresses.
 * A server resumes sessions (a session cache and session tickets, both
 * per tls_server: a reload starts them afresh). Idle connections do not
 * keep their record buffers (SSL_MODE_RELEASE_BUFFERS).
 *
 * Threads. A tls_server or tls_client is immutable once built and may be
 * used by every event loop of the process at once: OpenSSL 3 makes SSL_new
 * from a shared SSL_CTX, its session cache and its reference counts
 * thread-safe. One connection (one struct io) belongs to one loop.
 *
 * The process must ignore SIGPIPE (the daemon does): OpenSSL writes to
 * the socket with write(2), not send(MSG_NOSIGNAL).
 */
#ifndef MPTCP_RELAYD_TLS_H
#define MPTCP_RELAYD_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include "io.h"

/*
 * How a builder reports a problem: one sentence naming the file and
 * OpenSSL's reason, and the configuration line it concerns (0 when the
 * description gave none), so that the caller can print FILE:LINE: msg.
 */
typedef void (*tls_report_cb)(void *arg, int line, const char *msg);

/* One certificate and its private key, and where the config named them. */
struct tls_keypair {
	const char	*tk_cert;	/* PEM: certificate, then chain */
	const char	*tk_key;	/* PEM; NULL: in tk_cert */
	int		 tk_cert_line;
	int		 tk_key_line;	/* 0: as tk_cert_line */
};

/* What a listener terminating TLS is built from. */
struct tls_server_conf {
	const struct tls_keypair *tsc_pairs;	/* by SNI; [0]: default */
	size_t		 tsc_npairs;		/* at least 1 */
	const char	*tsc_client_ca;	/* NULL: no client cert */
	int		 tsc_client_ca_line;
	const char	*tsc_alpn;	/* "h2,http/1.1"; NULL: no ALPN */
	int		 tsc_alpn_line;
};

/* What TLS towards an upstream is built from. */
struct tls_client_conf {
	bool		 tcc_verify;	/* verify the upstream */
	const char	*tcc_ca;	/* NULL: the system's default store */
	int		 tcc_ca_line;
	/*
	 * The name sent as SNI (a host name) and verified in the certificate
	 * (a host name, or an IP address literal, which is not sent); NULL:
	 * each connection names its own.
	 */
	const char	*tcc_name;
	struct tls_keypair tcc_pair;	/* tk_cert NULL: none */
};

struct tls_server;
struct tls_client;

/*
 * Build a server from conf (which is not kept; the files are read now):
 * one SSL_CTX per pair, the pair chosen by the client's SNI (an exact name
 * first, then a wildcard, else the first pair); with tsc_client_ca,
 * a client certificate signed by one of its CAs is required and their
 * names are sent; with tsc_alpn, the first protocol of that list that the
 * client offers is selected, and a client offering none of them gets no
 * ALPN (not an error). A key protected by a passphrase is refused, never
 * prompted for. Every problem found (each pair, the CA file, the ALPN
 * list) is reported through report(arg, line, msg) and NULL returned;
 * OpenSSL's error queue is left empty either way. The caller owns the
 * result, with one reference: see tls_server_free().
 */
struct tls_server *tls_server_new(const struct tls_server_conf *conf,
	    tls_report_cb report, void *arg);

/*
 * Drop the caller's reference to ts (NULL: nothing). Connections started
 * on ts hold their own until io_close(), so a reload may free the old
 * config's server while its sessions go on.
 */
void	tls_server_free(struct tls_server *ts);

/*
 * Build a client from conf (not kept; files read now): the system store
 * or tcc_ca to verify against, a client certificate if tcc_pair names
 * one. Problems are reported as by tls_server_new() and NULL returned.
 * Connections keep what they need through OpenSSL's own references, so
 * the caller may free the client while they go on.
 */
struct tls_client *tls_client_new(const struct tls_client_conf *conf,
	    tls_report_cb report, void *arg);
void	tls_client_free(struct tls_client *tc);

/*
 * Make io the server side of a TLS connection on the connected,
 * non-blocking socket fd, which io owns from then on (as io_raw_init()).
 * The handshake starts at the first io_handshake(). Returns 0, or -1 with
 * errno set (ENOMEM) after closing fd and leaving io empty (io_init()).
 */
int	io_tls_server_init(struct io *io, int fd, struct tls_server *ts);

/*
 * The same for the client side, towards the peer named name (NULL: the
 * client's tcc_name): a host name is sent as SNI and, when tc verifies,
 * must match the certificate; an IP address literal is not sent and must
 * match an IP address of the certificate. A client that verifies refuses
 * (EINVAL) a connection with no name at all: nothing would tie the
 * certificate to the peer. Returns as io_tls_server_init().
 */
int	io_tls_client_init(struct io *io, int fd, struct tls_client *tc,
	    const char *name);

/*
 * What the session logs of a TLS side. Each accepts any io; for one that
 * is not TLS, each returns NULL, -1 or false.
 *
 * io_tls_error: why the handshake or the stream failed, as OpenSSL's
 * reason ("unexpected eof while reading", "tlsv1 alert unknown ca"), with
 * the verification result when a certificate was refused ("certificate
 * verify failed: unable to get local issuer certificate"); NULL while
 * nothing failed. Valid until io_close().
 */
const char *io_tls_error(const struct io *io);

/*
 * The subject of the peer's certificate, once verified (a client's under
 * tls_client_ca, an upstream's when the client verifies), in RFC 2253
 * form with spaces, '%', '"' and every byte outside printable ASCII
 * percent-encoded, so that it fits one key=value field. Returns 0; or -1
 * with errno ENOENT (no verified certificate; buf is "") or ERANGE (did
 * not fit; buf holds what did, never a split escape). len > 0.
 */
int	io_tls_subject(const struct io *io, char *buf, size_t len);

/* "TLSv1.2", "TLSv1.3"; NULL before the handshake. */
const char *io_tls_version(const struct io *io);

/* The protocol ALPN selected ("h2"), NULL for none. */
const char *io_tls_alpn(const struct io *io);

/* Whether the handshake resumed an earlier session. */
bool	io_tls_resumed(const struct io *io);

#endif
