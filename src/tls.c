/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

#include "autoconf.h"

#include <sys/types.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "io.h"
#include "sock.h"
#include "tls.h"

/*
 * Mozilla's "intermediate" configuration (ssl-config.mozilla.org, 5.7):
 * these TLS 1.2 suites, the client choosing among them; TLS 1.3 keeps
 * OpenSSL's defaults. The DHE suites use the RFC 7919 group that fits the
 * key (SSL_CTX_set_dh_auto); with an ECDSA certificate they never apply.
 */
#define TLS_CIPHERS_TLS12						\
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"	\
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"	\
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"	\
	"DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:"		\
	"DHE-RSA-CHACHA20-POLY1305"
#define TLS_GROUPS		"X25519:prime256v1:secp384r1"

/*
 * Idle connections give their record buffers back; a write may return
 * after each record (the engine writes the rest later), and its retry
 * after WANT_WRITE may come from another address (the engine's buffer
 * offset moves, or the buffer is compacted) as long as the bytes are
 * the same.
 */
#define TLS_MODES	(SSL_MODE_RELEASE_BUFFERS |			\
			    SSL_MODE_ENABLE_PARTIAL_WRITE |		\
			    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER)

/* Sessions of one tls_server resume only there (and need this set). */
#define TLS_SID_CTX	"mptcp-relayd"

#define TLS_REASON_MAX	256

/* The largest certificate, key or CA file read (see tls_file_ok()). */
#define TLS_FILE_MAX	(16 << 20)

struct tls_server {
	unsigned	 ts_refcnt;	/* atomic */
	/*
	 * One context per pair, in the order given. ts_ctx[0] takes every
	 * handshake first: its servername callback moves the connection to
	 * the pair SNI names, and its session cache and ticket keys serve
	 * them all (OpenSSL keeps the first context as the session one).
	 */
	SSL_CTX		**ts_ctx;
	size_t		 ts_nctx;
	unsigned char	*ts_alpn;	/* wire format, server's order */
	unsigned	 ts_alpnlen;	/* 0: no ALPN */
	char		*ts_alpn_names;	/* the same, NUL-ended */
};

struct tls_client {
	SSL_CTX		*tc_ctx;
	bool		 tc_verify;
	char		*tc_name;	/* NULL: none by default */
};

/* One connection: the io_ctx of a TLS side. */
struct tls_io {
	SSL			*ti_ssl;
	struct tls_server	*ti_server;	/* a ref; NULL: client */
	char			*ti_error;	/* why it failed, or NULL */
	/*
	 * Once the stream failed, every call fails with this errno without
	 * asking OpenSSL again (an SSL in error is not to be used).
	 */
	int			 ti_errno;
	bool			 ti_eof;	/* peer's close_notify */
	bool			 ti_shut;	/* ours sent, SHUT_WR */
	/*
	 * The handshake completed: what it settled (version, peer, ALPN) is
	 * still told after the stream failed, when SSL_is_init_finished()
	 * no longer says so and the session logs it.
	 */
	bool			 ti_done;
	/*
	 * A read returned bytes and then met the end (close_notify) or a
	 * failure, which the next read tells: the descriptor may never
	 * signal again, so io_pending() says there is more to read.
	 */
	bool			 ti_end_unread;
};

/* The problems found while building a server or client. */
struct tls_build {
	tls_report_cb	 tb_report;
	void		*tb_arg;
	int		 tb_errors;
};

static const struct io_ops io_tls_ops;

/* --- errors --------------------------------------------------------------- */

/*
 * The reason of the first error in this thread's OpenSSL queue, which is
 * then cleared: a short phrase ("no start line"), the system's message
 * for a failed system call, or ERR_error_string_n()'s line for a code
 * without a phrase. *code gets the error code (0: the queue was empty).
 */
static const char *
tls_reason(char *buf, size_t len, unsigned long *code)
{
	unsigned long	 e = ERR_peek_error();
	const char	*r;

	if (code != NULL)
		*code = e;
	if (e == 0)
		r = "no reason given";
	else if (ERR_SYSTEM_ERROR(e))
		r = strerror(ERR_GET_REASON(e));
	else if ((r = ERR_reason_error_string(e)) == NULL) {
		ERR_error_string_n(e, buf, len);
		r = buf;
	}
	ERR_clear_error();
	return r;
}

static void tls_report(struct tls_build *, int, const char *, ...)
    __attribute__((format(printf, 3, 4)));

static void
tls_report(struct tls_build *tb, int line, const char *fmt, ...)
{
	char	msg[1024];
	va_list	ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	tb->tb_errors++;
	tb->tb_report(tb->tb_arg, line, msg);
}

/* Report what failed, with OpenSSL's reason for it. */
static void
tls_report_ssl(struct tls_build *tb, int line, const char *what,
    const char *path)
{
	char		 buf[TLS_REASON_MAX];
	const char	*why = tls_reason(buf, sizeof(buf), NULL);

	if (path != NULL)
		tls_report(tb, line, "%s %s: %s", what, path, why);
	else
		tls_report(tb, line, "%s: %s", what, why);
}

/* --- building ------------------------------------------------------------- */

/*
 * Keys are read unattended, never prompted for on a terminal: one
 * protected by a passphrase is refused, and arg (a bool) says it was.
 */
static int
tls_no_passphrase(char *buf, int size, int rwflag, void *arg)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	if (arg != NULL)
		*(bool *)arg = true;
	return -1;
}

/*
 * A context with the settings both sides share: TLS 1.2 at least, no
 * renegotiation, no compression, our modes, no passphrase prompt. A
 * server also gets Mozilla's cipher list and groups; a client keeps the
 * system's (OpenSSL's defaults under the system policy), so that it can
 * still reach an upstream that a terminator would not serve, say one
 * with CBC suites only. NULL after reporting.
 */
static SSL_CTX *
tls_ctx_new(struct tls_build *tb, bool server, int line)
{
	SSL_CTX	*ctx;

	if ((ctx = SSL_CTX_new(server ? TLS_server_method() :
	    TLS_client_method())) == NULL) {
		tls_report_ssl(tb, line, "cannot create a TLS context", NULL);
		return NULL;
	}
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    (server && (SSL_CTX_set_cipher_list(ctx, TLS_CIPHERS_TLS12) != 1 ||
	    SSL_CTX_set1_groups_list(ctx, TLS_GROUPS) != 1 ||
	    SSL_CTX_set_dh_auto(ctx, 1) != 1))) {
		tls_report_ssl(tb, line, "cannot set up a TLS context", NULL);
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_mode(ctx, TLS_MODES);
	SSL_CTX_set_default_passwd_cb(ctx, tls_no_passphrase);
	return ctx;
}

/*
 * Whether path names a file that OpenSSL may read whole: a FIFO or a
 * terminal would block the load (a reload or -t would never end), a
 * device such as /dev/zero would never end either, and a directory is a
 * mistake. A CA bundle is a few hundred KiB: TLS_FILE_MAX is plenty. 0,
 * or -1 after reporting as "<what> <path>: ...".
 */
static int
tls_file_ok(struct tls_build *tb, int line, const char *what,
    const char *path)
{
	struct stat	st;

	if (stat(path, &st) == -1) {
		tls_report(tb, line, "%s %s: %s", what, path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		tls_report(tb, line, "%s %s: not a regular file (%s)", what,
		    path, S_ISDIR(st.st_mode) ? "a directory" :
		    S_ISFIFO(st.st_mode) ? "a FIFO" : S_ISSOCK(st.st_mode) ?
		    "a socket" : "a device");
		return -1;
	}
	if (st.st_size > TLS_FILE_MAX) {
		tls_report(tb, line, "%s %s: larger than %d MiB", what, path,
		    TLS_FILE_MAX >> 20);
		return -1;
	}
	return 0;
}

/*
 * Let OpenSSL work out what it caches of a certificate shared by the
 * threads (its extensions, key identifiers) now, on the loading thread:
 * done lazily in a handshake, one thread writes them while another reads
 * (ThreadSanitizer reports it in OpenSSL 3.0).
 */
static void
tls_cert_warm(X509 *x)
{
	if (x != NULL)
		(void)X509_check_purpose(x, -1, 0);
}

/*
 * Load the certificate (and its chain) and private key of kp into ctx.
 * 0, or -1 after reporting.
 */
static int
tls_ctx_keypair(struct tls_build *tb, SSL_CTX *ctx,
    const struct tls_keypair *kp)
{
	char		 buf[TLS_REASON_MAX];
	const char	*key = kp->tk_key != NULL ? kp->tk_key : kp->tk_cert;
	int		 keyline = kp->tk_key_line != 0 ? kp->tk_key_line :
			    kp->tk_cert_line;
	const char	*why;
	STACK_OF(X509)	*chain = NULL;
	unsigned long	 code;
	bool		 asked = false;
	int		 i, ret;

	if (tls_file_ok(tb, kp->tk_cert_line, "cannot load certificate",
	    kp->tk_cert) == -1 || (key != kp->tk_cert && tls_file_ok(tb,
	    keyline, "cannot load private key", key) == -1))
		return -1;
	if (SSL_CTX_use_certificate_chain_file(ctx, kp->tk_cert) != 1) {
		tls_report_ssl(tb, kp->tk_cert_line, "cannot load certificate",
		    kp->tk_cert);
		return -1;
	}
	tls_cert_warm(SSL_CTX_get0_certificate(ctx));
	if (SSL_CTX_get0_chain_certs(ctx, &chain) == 1 && chain != NULL)
		for (i = 0; i < sk_X509_num(chain); i++)
			tls_cert_warm(sk_X509_value(chain, i));
	SSL_CTX_set_default_passwd_cb_userdata(ctx, &asked);
	ret = SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM);
	SSL_CTX_set_default_passwd_cb_userdata(ctx, NULL);
	if (ret != 1) {
		why = tls_reason(buf, sizeof(buf), &code);
		if (asked)
			tls_report(tb, keyline, "cannot load private key %s: "
			    "it is protected by a passphrase, which is not "
			    "supported (%s)", key, why);
		else if (ERR_GET_LIB(code) == ERR_LIB_X509 &&
		    ERR_GET_REASON(code) == X509_R_KEY_VALUES_MISMATCH)
			tls_report(tb, keyline,
			    "private key %s does not match certificate %s: %s",
			    key, kp->tk_cert, why);
		else if (ERR_GET_LIB(code) == ERR_LIB_OSSL_DECODER &&
		    ERR_GET_REASON(code) == ERR_R_UNSUPPORTED)
			/* OpenSSL 3's decoders found nothing to decode. */
			tls_report(tb, keyline, "cannot load private key %s: "
			    "no private key that OpenSSL can read in it (%s)",
			    key, why);
		else
			tls_report(tb, keyline,
			    "cannot load private key %s: %s", key, why);
		return -1;
	}
	/* A key of another type than the certificate's lands here. */
	if (SSL_CTX_check_private_key(ctx) != 1) {
		why = tls_reason(buf, sizeof(buf), NULL);
		tls_report(tb, keyline,
		    "private key %s does not match certificate %s: %s", key,
		    kp->tk_cert, why);
		return -1;
	}
	return 0;
}

/*
 * Read the CA certificates of path into a new store and, when names is
 * not NULL, their subjects into a new list (the names a server sends when
 * it asks for a client certificate). A file with no certificate is an
 * error. 0, or -1 after reporting.
 */
static int
tls_load_ca(struct tls_build *tb, const char *path, int line,
    X509_STORE **storep, STACK_OF(X509_NAME) **namesp)
{
	X509_STORE		*store = NULL;
	STACK_OF(X509_NAME)	*names = NULL;
	X509_NAME		*name = NULL;
	X509			*x;
	BIO			*bio;
	unsigned long		 e;
	int			 count = 0;

	if (tls_file_ok(tb, line, "cannot read CA file", path) == -1)
		return -1;
	if ((bio = BIO_new_file(path, "r")) == NULL) {
		tls_report_ssl(tb, line, "cannot read CA file", path);
		return -1;
	}
	if ((store = X509_STORE_new()) == NULL ||
	    (namesp != NULL && (names = sk_X509_NAME_new_null()) == NULL))
		goto fail_ssl;
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		count++;
		tls_cert_warm(x);
		if (X509_STORE_add_cert(store, x) != 1) {
			X509_free(x);
			goto fail_ssl;
		}
		if (names != NULL &&
		    ((name = X509_NAME_dup(X509_get_subject_name(x))) == NULL ||
		    sk_X509_NAME_push(names, name) == 0)) {
			X509_NAME_free(name);
			X509_free(x);
			goto fail_ssl;
		}
		X509_free(x);
	}
	/* The end of the file shows as "no start line"; nothing else may. */
	e = ERR_peek_last_error();
	if (ERR_GET_LIB(e) != ERR_LIB_PEM ||
	    ERR_GET_REASON(e) != PEM_R_NO_START_LINE)
		goto fail_ssl;
	ERR_clear_error();
	if (count == 0) {
		tls_report(tb, line, "CA file %s: no certificate in it", path);
		goto fail;
	}
	BIO_free(bio);
	*storep = store;
	if (namesp != NULL)
		*namesp = names;
	return 0;

fail_ssl:
	tls_report_ssl(tb, line, "cannot load CA file", path);
fail:
	BIO_free(bio);
	X509_STORE_free(store);
	sk_X509_NAME_pop_free(names, X509_NAME_free);
	return -1;
}

/*
 * Parse "h2,http/1.1" (blanks around names allowed) into ts's wire-format
 * list and its NUL-ended names. 0, or -1 after reporting.
 */
static int
tls_alpn_parse(struct tls_build *tb, struct tls_server *ts, const char *list,
    int line)
{
	size_t		 size = strlen(list) + 1, wlen = 0, nlen = 0, n;
	const char	*p = list, *end;
	const char	*why = NULL;

	if ((ts->ts_alpn = malloc(size)) == NULL ||
	    (ts->ts_alpn_names = malloc(size)) == NULL) {
		tls_report(tb, line, "ALPN list: %s", strerror(errno));
		return -1;
	}
	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		for (end = p; *end != ',' && *end != '\0'; end++)
			;
		for (n = (size_t)(end - p); n > 0 &&
		    (p[n - 1] == ' ' || p[n - 1] == '\t'); n--)
			;
		if (n == 0) {
			why = "an empty protocol name";
			break;
		}
		if (n > 255) {
			why = "a protocol name longer than 255 bytes";
			break;
		}
		for (size_t i = 0; i < n && why == NULL; i++)
			if (p[i] <= ' ' || p[i] > '~')
				why = "a blank or a byte that is not printable "
				    "ASCII inside a protocol name";
		if (why != NULL)
			break;
		ts->ts_alpn[wlen++] = (unsigned char)n;
		memcpy(ts->ts_alpn + wlen, p, n);
		wlen += n;
		memcpy(ts->ts_alpn_names + nlen, p, n);
		nlen += n;
		ts->ts_alpn_names[nlen++] = '\0';
		if (*end == '\0')
			break;
		p = end + 1;
	}
	if (why == NULL && wlen > 65535)
		why = "a list longer than 65535 bytes";
	if (why != NULL) {
		tls_report(tb, line, "bad ALPN list \"%s\": %s", list, why);
		return -1;
	}
	ts->ts_alpnlen = (unsigned)wlen;
	return 0;
}

/* --- server --------------------------------------------------------------- */

/*
 * The pair whose certificate names host: an exact name first (a wildcard
 * certificate listed earlier does not hide a pair of its own), then a
 * wildcard; else the first pair.
 */
static size_t
tls_server_pick(const struct tls_server *ts, const char *host)
{
	static const unsigned	 flags[] = {
		X509_CHECK_FLAG_NO_WILDCARDS,
		X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS,
	};
	X509			*x;
	size_t			 i, f;

	for (f = 0; f < sizeof(flags) / sizeof(flags[0]); f++)
		for (i = 0; i < ts->ts_nctx; i++) {
			x = SSL_CTX_get0_certificate(ts->ts_ctx[i]);
			if (x != NULL &&
			    X509_check_host(x, host, 0, flags[f], NULL) == 1)
				return i;
		}
	return 0;
}

/* The servername callback of ts_ctx[0]: move to the pair SNI names. */
static int
tls_servername(SSL *ssl, int *alert, void *arg)
{
	const struct tls_server	*ts = arg;
	const char		*host;
	size_t			 i;

	if (ts->ts_nctx == 1 ||
	    (host = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name)) ==
	    NULL)
		return SSL_TLSEXT_ERR_OK;
	if ((i = tls_server_pick(ts, host)) != 0 &&
	    SSL_set_SSL_CTX(ssl, ts->ts_ctx[i]) == NULL) {
		*alert = SSL_AD_INTERNAL_ERROR;
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	}
	return SSL_TLSEXT_ERR_OK;
}

/*
 * ALPN, in the server's order of preference. A client that offers none of
 * our protocols gets no ALPN rather than a no_application_protocol alert
 * (RFC 7301 allows either): the service behind may not care, and a client
 * that does can still refuse.
 */
static int
tls_alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg)
{
	const struct tls_server	*ts = arg;
	unsigned char		*sel;

	(void)ssl;
	if (SSL_select_next_proto(&sel, outlen, ts->ts_alpn, ts->ts_alpnlen,
	    in, inlen) != OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_NOACK;
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

/* The context of one pair. NULL after reporting. */
static SSL_CTX *
tls_server_ctx(struct tls_build *tb, struct tls_server *ts,
    const struct tls_keypair *kp, X509_STORE *store,
    STACK_OF(X509_NAME) *names)
{
	STACK_OF(X509_NAME)	*copy;
	SSL_CTX			*ctx;

	if ((ctx = tls_ctx_new(tb, true, kp->tk_cert_line)) == NULL)
		return NULL;
	if (tls_ctx_keypair(tb, ctx, kp) == -1)
		goto fail;
	/*
	 * Every pair's context gets the same settings: SNI moves a
	 * connection to another context, and from then on OpenSSL reads the
	 * trusted CAs, the CA names and the ALPN callback from that one.
	 */
	if (SSL_CTX_set_session_id_context(ctx,
	    (const unsigned char *)TLS_SID_CTX, sizeof(TLS_SID_CTX) - 1) != 1)
		goto fail_ssl;
	if (store != NULL) {
		SSL_CTX_set1_cert_store(ctx, store);
		if ((copy = SSL_dup_CA_list(names)) == NULL)
			goto fail_ssl;
		SSL_CTX_set_client_CA_list(ctx, copy);
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER |
		    SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	}
	if (ts->ts_alpnlen > 0)
		SSL_CTX_set_alpn_select_cb(ctx, tls_alpn_select, ts);
	return ctx;

fail_ssl:
	tls_report_ssl(tb, kp->tk_cert_line, "cannot set up TLS for",
	    kp->tk_cert);
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

struct tls_server *
tls_server_new(const struct tls_server_conf *conf, tls_report_cb report,
    void *arg)
{
	struct tls_build	 tb = { report, arg, 0 };
	struct tls_server	*ts;
	X509_STORE		*store = NULL;
	STACK_OF(X509_NAME)	*names = NULL;
	size_t			 i;

	if ((ts = calloc(1, sizeof(*ts))) == NULL ||
	    (conf->tsc_npairs > 0 && (ts->ts_ctx = calloc(conf->tsc_npairs,
	    sizeof(*ts->ts_ctx))) == NULL)) {
		tls_report(&tb, 0, "TLS server: %s", strerror(errno));
		free(ts);
		return NULL;
	}
	ts->ts_refcnt = 1;
	if (conf->tsc_npairs == 0)
		tls_report(&tb, 0, "TLS server: no certificate");
	if (conf->tsc_alpn != NULL)
		(void)tls_alpn_parse(&tb, ts, conf->tsc_alpn,
		    conf->tsc_alpn_line);
	if (conf->tsc_client_ca != NULL)
		(void)tls_load_ca(&tb, conf->tsc_client_ca,
		    conf->tsc_client_ca_line, &store, &names);
	/* Each pair even after a failure, so that every problem is told. */
	ts->ts_nctx = conf->tsc_npairs;
	for (i = 0; i < conf->tsc_npairs; i++)
		ts->ts_ctx[i] = tls_server_ctx(&tb, ts, &conf->tsc_pairs[i],
		    store, names);
	X509_STORE_free(store);
	sk_X509_NAME_pop_free(names, X509_NAME_free);
	if (tb.tb_errors > 0)
		goto fail;

	/*
	 * Resumption, served by the first context for all: a session cache
	 * (TLS 1.2 session ids; OpenSSL locks it, the worker threads share
	 * it) and tickets (TLS 1.2 and 1.3) under keys drawn when the
	 * context was made.
	 */
	SSL_CTX_set_session_cache_mode(ts->ts_ctx[0], SSL_SESS_CACHE_SERVER);
	SSL_CTX_set_tlsext_servername_callback(ts->ts_ctx[0], tls_servername);
	SSL_CTX_set_tlsext_servername_arg(ts->ts_ctx[0], ts);
	return ts;

fail:
	ERR_clear_error();
	tls_server_free(ts);
	return NULL;
}

void
tls_server_free(struct tls_server *ts)
{
	size_t	i;

	if (ts == NULL ||
	    __atomic_sub_fetch(&ts->ts_refcnt, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	/* A pair that failed to build left a NULL. */
	for (i = 0; i < ts->ts_nctx; i++)
		SSL_CTX_free(ts->ts_ctx[i]);
	free(ts->ts_ctx);
	free(ts->ts_alpn);
	free(ts->ts_alpn_names);
	free(ts);
}

/* --- client --------------------------------------------------------------- */

struct tls_client *
tls_client_new(const struct tls_client_conf *conf, tls_report_cb report,
    void *arg)
{
	struct tls_build	 tb = { report, arg, 0 };
	struct tls_client	*tc;
	X509_STORE		*store = NULL;
	int			 line = conf->tcc_ca_line;

	if ((tc = calloc(1, sizeof(*tc))) == NULL ||
	    (conf->tcc_name != NULL &&
	    (tc->tc_name = strdup(conf->tcc_name)) == NULL)) {
		tls_report(&tb, line, "TLS client: %s", strerror(errno));
		free(tc);
		return NULL;
	}
	tc->tc_verify = conf->tcc_verify;
	if ((tc->tc_ctx = tls_ctx_new(&tb, false, line)) == NULL)
		goto fail;
	if (conf->tcc_ca != NULL) {
		if (tls_load_ca(&tb, conf->tcc_ca, line, &store, NULL) == 0)
			SSL_CTX_set_cert_store(tc->tc_ctx, store);
	} else if (conf->tcc_verify &&
	    SSL_CTX_set_default_verify_paths(tc->tc_ctx) != 1)
		tls_report_ssl(&tb, line, "cannot use the system's CA store",
		    NULL);
	if (conf->tcc_pair.tk_cert != NULL)
		(void)tls_ctx_keypair(&tb, tc->tc_ctx, &conf->tcc_pair);
	if (tb.tb_errors > 0)
		goto fail;
	SSL_CTX_set_verify(tc->tc_ctx, conf->tcc_verify ? SSL_VERIFY_PEER :
	    SSL_VERIFY_NONE, NULL);
	return tc;

fail:
	ERR_clear_error();
	tls_client_free(tc);
	return NULL;
}

void
tls_client_free(struct tls_client *tc)
{
	if (tc == NULL)
		return;
	SSL_CTX_free(tc->tc_ctx);
	free(tc->tc_name);
	free(tc);
}

/* --- the I/O layer -------------------------------------------------------- */

static struct tls_io *
tls_io_of(const struct io *io)
{
	return io->io_ops == &io_tls_ops ? io->io_ctx : NULL;
}

/*
 * Record why the connection failed (the first reason only: what follows a
 * failure is its echo) and make it sticky. The queue is cleared.
 */
static void
tls_io_failed(struct tls_io *ti, int error, const char *why,
    unsigned long code)
{
	long	v;

	ti->ti_errno = error;
	if (ti->ti_error != NULL)
		return;
	if (ERR_GET_LIB(code) == ERR_LIB_SSL &&
	    ERR_GET_REASON(code) == SSL_R_CERTIFICATE_VERIFY_FAILED &&
	    (v = SSL_get_verify_result(ti->ti_ssl)) != X509_V_OK) {
		if (asprintf(&ti->ti_error, "%s: %s", why,
		    X509_verify_cert_error_string(v)) == -1)
			ti->ti_error = NULL;
	} else
		ti->ti_error = strdup(why);
}

/*
 * An SSL call on ti returned ret, not success; saved is errno right after
 * it. Returns -1 with errno EAGAIN and *want the readiness to wait for
 * (EV_READ or EV_WRITE), 0 for a clean end (the peer's close_notify; for
 * a read only), or -1 with the failure's errno, recorded: ECONNRESET for a
 * reset or a stream cut without close_notify (a truncation must not pass
 * for an end), EPROTO for an alert or any protocol error.
 */
static int
tls_io_fail(struct tls_io *ti, int ret, int saved, short *want, bool read)
{
	char		 buf[TLS_REASON_MAX];
	const char	*why;
	unsigned long	 code;
	int		 error;

	switch (SSL_get_error(ti->ti_ssl, ret)) {
	case SSL_ERROR_WANT_READ:
		*want = EV_READ;
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_WANT_WRITE:
		*want = EV_WRITE;
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_ZERO_RETURN:
		if (read) {
			ERR_clear_error();
			ti->ti_eof = true;
			return 0;
		}
		/*
		 * A write or handshake that failed after the peer's
		 * close_notify: OpenSSL says so instead of the system error.
		 */
		/* FALLTHROUGH */
	case SSL_ERROR_SYSCALL:
		/* The queue may hold the system error, or nothing. */
		code = ERR_peek_error();
		ERR_clear_error();
		error = code != 0 && ERR_SYSTEM_ERROR(code) ?
		    ERR_GET_REASON(code) : saved;
		/* EAGAIN cannot be (it is a WANT_*): fail, never hang. */
		if (error == 0 || error == EAGAIN)
			tls_io_failed(ti, ECONNRESET, read ?
			    "unexpected eof while reading" :
			    "connection closed by the peer", 0);
		else
			tls_io_failed(ti, error, strerror(error), 0);
		break;
	default:
		why = tls_reason(buf, sizeof(buf), &code);
		error = EPROTO;
		if (ERR_GET_LIB(code) == ERR_LIB_SSL &&
		    ERR_GET_REASON(code) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
			error = ECONNRESET;
		else if (ERR_SYSTEM_ERROR(code))
			error = ERR_GET_REASON(code);
		tls_io_failed(ti, error, why, code);
		break;
	}
	errno = ti->ti_errno;
	return -1;
}

static int
io_tls_handshake(struct io *io)
{
	struct tls_io	*ti = io->io_ctx;
	short		 want = EV_READ;
	int		 ret;

	if (ti->ti_errno != 0) {
		errno = ti->ti_errno;
		return -1;
	}
	ERR_clear_error();
	errno = 0;
	if ((ret = SSL_do_handshake(ti->ti_ssl)) == 1) {
		ti->ti_done = true;
		io->io_rd_want = EV_READ;
		io->io_wr_want = EV_WRITE;
		return 0;
	}
	(void)tls_io_fail(ti, ret, errno, &want, false);
	/* Whichever of the two the owner looks at says what to wait for. */
	io->io_rd_want = io->io_wr_want = want;
	return -1;
}

/*
 * Read into rbuf, or write from wbuf (the other is NULL), as many records
 * as len allows, so that a full buffer costs one call, not one per record;
 * a failure after some bytes is told at the next call. After a
 * WANT_WRITE, OpenSSL holds the record it could not send whole: the next
 * write must pass (from any address) at least the bytes after those
 * returned.
 */
static ssize_t
tls_io_move(struct io *io, void *rbuf, const void *wbuf, size_t len)
{
	struct tls_io	*ti = io->io_ctx;
	bool		 read = rbuf != NULL;
	short		*want = read ? &io->io_rd_want : &io->io_wr_want;
	size_t		 total = 0, n;
	int		 ret;

	if (read)
		ti->ti_end_unread = false;
	if (ti->ti_errno != 0) {
		errno = ti->ti_errno;
		return -1;
	}
	*want = read ? EV_READ : EV_WRITE;
	while (total < len && !(read && ti->ti_eof)) {
		ERR_clear_error();
		errno = 0;
		if (read)
			ret = SSL_read_ex(ti->ti_ssl, (char *)rbuf + total,
			    len - total, &n);
		else
			ret = SSL_write_ex(ti->ti_ssl, (const char *)wbuf +
			    total, len - total, &n);
		if (ret != 1) {
			if (tls_io_fail(ti, ret, errno, want, read) == -1 &&
			    total == 0)
				return -1;
			if (read && total > 0 && (ti->ti_eof ||
			    ti->ti_errno != 0))
				ti->ti_end_unread = true;
			break;
		}
		total += n;
	}
	return (ssize_t)total;
}

static ssize_t
io_tls_read(struct io *io, void *buf, size_t len)
{
	return tls_io_move(io, buf, NULL, len);
}

static ssize_t
io_tls_write(struct io *io, const void *buf, size_t len)
{
	return tls_io_move(io, NULL, buf, len);
}

/*
 * close_notify, then a FIN: TLS ends our direction, TCP too. Called again
 * after EAGAIN, SSL_shutdown() only flushes the alert it holds; once
 * done, never again (a second call would wait for the peer's alert).
 */
static int
io_tls_shutdown(struct io *io)
{
	struct tls_io	*ti = io->io_ctx;
	int		 ret;

	if (ti->ti_errno != 0) {
		errno = ti->ti_errno;
		return -1;
	}
	if (ti->ti_shut)
		return 0;
	io->io_wr_want = EV_WRITE;
	ERR_clear_error();
	errno = 0;
	if ((ret = SSL_shutdown(ti->ti_ssl)) < 0)
		return tls_io_fail(ti, ret, errno, &io->io_wr_want, false);
	/* As the raw layer: a failure here shows at the next read. */
	(void)shutdown(io->io_fd, SHUT_WR);
	ti->ti_shut = true;
	return 0;
}

static size_t
io_tls_pending(const struct io *io)
{
	const struct tls_io	*ti = io->io_ctx;
	int			 n;

	if (ti->ti_end_unread)
		return 1;
	if (ti->ti_errno != 0 || (n = SSL_pending(ti->ti_ssl)) <= 0)
		return 0;
	return (size_t)n;
}

static void
tls_io_free(struct tls_io *ti)
{
	/* An SSL freed before its close_notify leaves the session cache. */
	SSL_free(ti->ti_ssl);
	tls_server_free(ti->ti_server);
	free(ti->ti_error);
	free(ti);
}

/* No close_notify here: io_shutdown() sends it on a clean end. */
static void
io_tls_close(struct io *io, bool abort)
{
	tls_io_free(io->io_ctx);
	if (abort)
		sock_abort(io->io_fd);
	else
		close(io->io_fd);
}

static const struct io_ops io_tls_ops = {
	.io_name = "tls",
	.io_raw = false,
	.io_handshake = io_tls_handshake,
	.io_read = io_tls_read,
	.io_write = io_tls_write,
	.io_shutdown = io_tls_shutdown,
	.io_pending = io_tls_pending,
	.io_close = io_tls_close,
};

/*
 * Give up making io a TLS side: free ssl (NULL: none yet), close fd and
 * leave io empty. Returns -1 with errno error.
 */
static int
tls_io_refuse(struct io *io, int fd, SSL *ssl, int error)
{
	ERR_clear_error();
	SSL_free(ssl);
	close(fd);
	io_init(io);
	errno = error;
	return -1;
}

/* Make io the TLS side over fd with ssl (taken). 0, or as tls_io_refuse. */
static int
tls_io_attach(struct io *io, int fd, SSL *ssl, struct tls_server *ts)
{
	struct tls_io	*ti;

	if ((ti = calloc(1, sizeof(*ti))) == NULL)
		return tls_io_refuse(io, fd, ssl, errno);
	if (SSL_set_fd(ssl, fd) != 1) {
		free(ti);
		return tls_io_refuse(io, fd, ssl, ENOMEM);
	}
	ti->ti_ssl = ssl;
	if ((ti->ti_server = ts) != NULL)
		__atomic_add_fetch(&ts->ts_refcnt, 1, __ATOMIC_RELAXED);
	io->io_fd = fd;
	io->io_ops = &io_tls_ops;
	io->io_ctx = ti;
	io->io_rd_want = EV_READ;
	io->io_wr_want = EV_WRITE;
	return 0;
}

int
io_tls_server_init(struct io *io, int fd, struct tls_server *ts)
{
	SSL	*ssl;

	if ((ssl = SSL_new(ts->ts_ctx[0])) == NULL)
		return tls_io_refuse(io, fd, NULL, ENOMEM);
	SSL_set_accept_state(ssl);
	return tls_io_attach(io, fd, ssl, ts);
}

/* Whether name is an IPv4 or IPv6 address literal. */
static bool
tls_name_is_ip(const char *name)
{
	struct in6_addr	a;

	return inet_pton(AF_INET, name, &a) == 1 ||
	    inet_pton(AF_INET6, name, &a) == 1;
}

int
io_tls_client_init(struct io *io, int fd, struct tls_client *tc,
    const char *name)
{
	SSL	*ssl;
	bool	 ip;

	if (name == NULL)
		name = tc->tc_name;
	if (tc->tc_verify && name == NULL)
		return tls_io_refuse(io, fd, NULL, EINVAL);
	if ((ssl = SSL_new(tc->tc_ctx)) == NULL)
		return tls_io_refuse(io, fd, NULL, ENOMEM);
	SSL_set_connect_state(ssl);
	if (name != NULL) {
		ip = tls_name_is_ip(name);
		/* RFC 6066: SNI carries host names only. */
		if ((!ip && SSL_set_tlsext_host_name(ssl, name) != 1) ||
		    (tc->tc_verify && ip && X509_VERIFY_PARAM_set1_ip_asc(
		    SSL_get0_param(ssl), name) != 1) ||
		    (tc->tc_verify && !ip && SSL_set1_host(ssl, name) != 1))
			return tls_io_refuse(io, fd, ssl, EINVAL);
		SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	}
	return tls_io_attach(io, fd, ssl, NULL);
}

/* --- what the log line says ----------------------------------------------- */

const char *
io_tls_error(const struct io *io)
{
	const struct tls_io	*ti = tls_io_of(io);

	if (ti == NULL || ti->ti_errno == 0)
		return NULL;
	/* Only when no memory was left to record the reason. */
	return ti->ti_error != NULL ? ti->ti_error : strerror(ti->ti_errno);
}

/* Whether c goes into a log field as it is. */
static bool
tls_field_safe(unsigned char c)
{
	return c > ' ' && c <= '~' && c != '%' && c != '"' && c != '\'';
}

int
io_tls_subject(const struct io *io, char *buf, size_t len)
{
	static const char	 hex[] = "0123456789ABCDEF";
	const struct tls_io	*ti = tls_io_of(io);
	X509			*x;
	BIO			*bio;
	char			*p;
	long			 n;
	size_t			 i, o = 0;
	int			 rv = 0;

	buf[0] = '\0';
	if (ti == NULL || !ti->ti_done ||
	    !(SSL_get_verify_mode(ti->ti_ssl) & SSL_VERIFY_PEER) ||
	    SSL_get_verify_result(ti->ti_ssl) != X509_V_OK ||
	    (x = SSL_get0_peer_certificate(ti->ti_ssl)) == NULL) {
		errno = ENOENT;
		return -1;
	}
	if ((bio = BIO_new(BIO_s_mem())) == NULL ||
	    X509_NAME_print_ex(bio, X509_get_subject_name(x), 0,
	    XN_FLAG_RFC2253) < 0) {
		BIO_free(bio);
		ERR_clear_error();
		errno = ENOMEM;
		return -1;
	}
	n = BIO_get_mem_data(bio, &p);
	for (i = 0; i < (size_t)n; i++) {
		unsigned char	c = (unsigned char)p[i];

		if (tls_field_safe(c)) {
			if (o + 1 >= len)
				break;
			buf[o++] = (char)c;
		} else {
			if (o + 3 >= len)
				break;
			buf[o++] = '%';
			buf[o++] = hex[c >> 4];
			buf[o++] = hex[c & 0xf];
		}
	}
	buf[o] = '\0';
	if (i < (size_t)n) {
		errno = ERANGE;
		rv = -1;
	}
	BIO_free(bio);
	return rv;
}

const char *
io_tls_version(const struct io *io)
{
	const struct tls_io	*ti = tls_io_of(io);

	if (ti == NULL || !ti->ti_done)
		return NULL;
	return SSL_get_version(ti->ti_ssl);
}

const char *
io_tls_alpn(const struct io *io)
{
	const struct tls_io	*ti = tls_io_of(io);
	const struct tls_server	*ts;
	const unsigned char	*sel;
	unsigned		 len, off;

	if (ti == NULL || (ts = ti->ti_server) == NULL)
		return NULL;
	SSL_get0_alpn_selected(ti->ti_ssl, &sel, &len);
	/*
	 * The selection is one of our names: hand out our NUL-ended copy,
	 * which sits at the same offset as the name's length byte.
	 */
	for (off = 0; len > 0 && off < ts->ts_alpnlen;
	    off += 1 + ts->ts_alpn[off])
		if (ts->ts_alpn[off] == len &&
		    memcmp(ts->ts_alpn + off + 1, sel, len) == 0)
			return ts->ts_alpn_names + off;
	return NULL;
}

bool
io_tls_resumed(const struct io *io)
{
	const struct tls_io	*ti = tls_io_of(io);

	return ti != NULL && SSL_session_reused(ti->ti_ssl) == 1;
}
