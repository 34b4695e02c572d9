/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

/*
 * TLS as an I/O layer: the builders and their messages, handshakes with
 * our own peers and with plain OpenSSL ones (for what ours never do:
 * offer TLS 1.1, ALPN, renegotiation, resumption), SNI, ALPN, mutual TLS,
 * verification, the stream with partial writes from a moving buffer,
 * bytes held by the layer, ends clean and cut, the memory an idle session
 * holds, and one server shared by threads.
 *
 * The certificates are made at run time with OpenSSL into a temporary
 * directory (removed at the end): nothing secret or expiring is
 * committed. Both ends of a connection run non-blocking in one thread,
 * over a socketpair, or TCP on loopback where a reset matters.
 */

#include "autoconf.h"

#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "io.h"
#include "tls.h"
#include "testutil.h"

#define KIB		1024
#define DEADLINE_MS	10000
#define IDLE_SESSIONS	1000

/* The client certificate's common name: escapes and UTF-8 to encode. */
#define CLIENT_CN	"Client One, Test+\xC3\x9Cn\xC3\xAF" "code"
#define CLIENT_SUBJECT							\
	"CN=Client%20One\\,%20Test\\+\\C3\\9Cn\\C3\\AFcode,"		\
	"O=mptcp-relayd%20tests"

/* --- certificates, made at run time --------------------------------------- */

/*
 * The certificates are made before any test runs, where Check's asserts
 * cannot be used: a failure there ends the program with what failed.
 */
#define MUST(cond) do {							\
	if (!(cond)) {							\
		fprintf(stderr, "check_tls: making the certificates: "	\
		    "%s failed at line %d\n", #cond, __LINE__);		\
		ERR_print_errors_fp(stderr);				\
		exit(EXIT_FAILURE);					\
	}								\
} while (0)
#define MUST_NONNULL(x)	MUST((x) != NULL)
#define MUST_EQ(x, y)	MUST((x) == (y))
#define MUST_LT(x, y)	MUST((x) < (y))
#define MUST_GT(x, y)	MUST((x) > (y))

/* Paths of the files made by pki_make(), under pki.dir. */
static struct {
	char	dir[PATH_MAX];
	char	ca[PATH_MAX];		/* CA one */
	char	ca2[PATH_MAX];		/* CA two, unrelated */
	char	a_crt[PATH_MAX];	/* a.test, by CA one */
	char	a_key[PATH_MAX];
	char	b_pem[PATH_MAX];	/* *.b.test: certificate and key */
	char	c_crt[PATH_MAX];	/* c.test */
	char	c_key[PATH_MAX];
	char	x_crt[PATH_MAX];	/* x.b.test */
	char	x_key[PATH_MAX];
	char	ip_crt[PATH_MAX];	/* IP address 127.0.0.1 */
	char	ip_key[PATH_MAX];
	char	cl_crt[PATH_MAX];	/* the client, by CA one */
	char	cl_key[PATH_MAX];
	char	cl2_crt[PATH_MAX];	/* a client by CA two */
	char	cl2_key[PATH_MAX];
	char	enc_key[PATH_MAX];	/* a.test's, with a passphrase */
	char	empty[PATH_MAX];
	char	garbage[PATH_MAX];
	char	fifo[PATH_MAX];		/* a FIFO nobody writes to */
	char	missing[PATH_MAX];	/* never made */
} pki;

static void
pki_path(char *buf, const char *name)
{
	MUST_LT(snprintf(buf, PATH_MAX, "%s/%s", pki.dir, name),
	    PATH_MAX);
}

static void
pki_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX	 ctx;
	X509_EXTENSION	*ext;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	MUST_NONNULL(ext = X509V3_EXT_conf_nid(NULL, &ctx, nid,
	    value));
	MUST_EQ(X509_add_ext(x, ext, -1), 1);
	X509_EXTENSION_free(ext);
}

/*
 * A certificate for key named cn, signed by issuer (NULL: itself), a CA
 * or a leaf with the subjectAltName san.
 */
static X509 *
pki_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *ikey,
    const char *san, long serial)
{
	X509		*x;
	X509_NAME	*name;

	MUST_NONNULL(x = X509_new());
	MUST_EQ(X509_set_version(x, 2), 1);
	MUST_EQ(ASN1_INTEGER_set(X509_get_serialNumber(x), serial),
	    1);
	MUST_NONNULL(X509_gmtime_adj(X509_getm_notBefore(x), -3600));
	MUST_NONNULL(X509_gmtime_adj(X509_getm_notAfter(x), 86400));
	MUST_EQ(X509_set_pubkey(x, key), 1);
	name = X509_get_subject_name(x);
	MUST_EQ(X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
	    (const unsigned char *)"mptcp-relayd tests", -1, -1, 0), 1);
	MUST_EQ(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
	    (const unsigned char *)cn, -1, -1, 0), 1);
	MUST_EQ(X509_set_issuer_name(x, issuer != NULL ?
	    X509_get_subject_name(issuer) : name), 1);
	pki_ext(x, issuer != NULL ? issuer : x, NID_subject_key_identifier,
	    "hash");
	if (issuer == NULL) {
		pki_ext(x, x, NID_basic_constraints, "critical,CA:TRUE");
		pki_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign");
	} else {
		pki_ext(x, issuer, NID_authority_key_identifier, "keyid");
		pki_ext(x, issuer, NID_basic_constraints, "CA:FALSE");
		pki_ext(x, issuer, NID_key_usage, "critical,digitalSignature");
		pki_ext(x, issuer, NID_ext_key_usage, "serverAuth,clientAuth");
	}
	if (san != NULL)
		pki_ext(x, issuer != NULL ? issuer : x, NID_subject_alt_name,
		    san);
	MUST_GT(X509_sign(x, ikey != NULL ? ikey : key, EVP_sha256()),
	    0);
	return x;
}

static void
pki_write(const char *path, X509 *x, EVP_PKEY *key, const char *pass)
{
	FILE	*f;

	MUST_NONNULL(f = fopen(path, "w"));
	if (x != NULL)
		MUST_EQ(PEM_write_X509(f, x), 1);
	if (key != NULL)
		MUST_EQ(PEM_write_PrivateKey(f, key,
		    pass != NULL ? EVP_aes_256_cbc() : NULL,
		    (const unsigned char *)pass, pass != NULL ?
		    (int)strlen(pass) : 0, NULL, NULL), 1);
	MUST_EQ(fclose(f), 0);
}

/* A leaf of CA one (or ca/cakey given) in crt and, apart or not, key. */
static void
pki_leaf(const char *crt, const char *keypath, const char *cn,
    const char *san, X509 *ca, EVP_PKEY *cakey, long serial)
{
	EVP_PKEY	*key;
	X509		*x;

	MUST_NONNULL(key = EVP_EC_gen("P-256"));
	x = pki_cert(key, cn, ca, cakey, san, serial);
	if (keypath == NULL)
		pki_write(crt, x, key, NULL);
	else {
		pki_write(crt, x, NULL, NULL);
		pki_write(keypath, NULL, key, NULL);
	}
	X509_free(x);
	EVP_PKEY_free(key);
}

static void
pki_make(void)
{
	const char	*tmp = getenv("TMPDIR");
	EVP_PKEY	*cakey, *ca2key, *key;
	X509		*ca, *ca2;
	FILE		*f;

	MUST_LT(snprintf(pki.dir, sizeof(pki.dir), "%s/check_tls.XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp"), PATH_MAX);
	MUST_NONNULL(mkdtemp(pki.dir));
	pki_path(pki.ca, "ca.pem");
	pki_path(pki.ca2, "ca2.pem");
	pki_path(pki.a_crt, "a.crt");
	pki_path(pki.a_key, "a.key");
	pki_path(pki.b_pem, "b.pem");
	pki_path(pki.c_crt, "c.crt");
	pki_path(pki.c_key, "c.key");
	pki_path(pki.x_crt, "x.crt");
	pki_path(pki.x_key, "x.key");
	pki_path(pki.ip_crt, "ip.crt");
	pki_path(pki.ip_key, "ip.key");
	pki_path(pki.cl_crt, "client.crt");
	pki_path(pki.cl_key, "client.key");
	pki_path(pki.cl2_crt, "client2.crt");
	pki_path(pki.cl2_key, "client2.key");
	pki_path(pki.enc_key, "enc.key");
	pki_path(pki.empty, "empty.pem");
	pki_path(pki.garbage, "garbage.pem");
	pki_path(pki.fifo, "fifo.pem");
	pki_path(pki.missing, "missing.pem");

	MUST_NONNULL(cakey = EVP_EC_gen("P-256"));
	MUST_NONNULL(ca2key = EVP_EC_gen("P-256"));
	ca = pki_cert(cakey, "Test CA One", NULL, NULL, NULL, 1);
	ca2 = pki_cert(ca2key, "Test CA Two", NULL, NULL, NULL, 1);
	pki_write(pki.ca, ca, NULL, NULL);
	pki_write(pki.ca2, ca2, NULL, NULL);
	pki_leaf(pki.a_crt, pki.a_key, "a.test", "DNS:a.test", ca, cakey, 2);
	pki_leaf(pki.b_pem, NULL, "*.b.test", "DNS:*.b.test", ca, cakey, 3);
	pki_leaf(pki.c_crt, pki.c_key, "c.test", "DNS:c.test", ca, cakey, 4);
	pki_leaf(pki.x_crt, pki.x_key, "x.b.test", "DNS:x.b.test", ca, cakey,
	    5);
	pki_leaf(pki.ip_crt, pki.ip_key, "loopback", "IP:127.0.0.1", ca, cakey,
	    6);
	pki_leaf(pki.cl_crt, pki.cl_key, CLIENT_CN, NULL, ca, cakey, 7);
	pki_leaf(pki.cl2_crt, pki.cl2_key, "Client Two", NULL, ca2, ca2key, 2);

	/* a.test's key again, under a passphrase. */
	MUST_NONNULL(f = fopen(pki.a_key, "r"));
	MUST_NONNULL(key = PEM_read_PrivateKey(f, NULL, NULL, NULL));
	fclose(f);
	pki_write(pki.enc_key, NULL, key, "secret");
	EVP_PKEY_free(key);

	MUST_NONNULL(f = fopen(pki.empty, "w"));
	fclose(f);
	MUST_NONNULL(f = fopen(pki.garbage, "w"));
	fputs("this is not PEM\n", f);
	fclose(f);
	MUST_EQ(mkfifo(pki.fifo, 0600), 0);

	X509_free(ca);
	X509_free(ca2);
	EVP_PKEY_free(cakey);
	EVP_PKEY_free(ca2key);
}

static void
pki_remove(void)
{
	const char	*files[] = {
		pki.ca, pki.ca2, pki.a_crt, pki.a_key, pki.b_pem, pki.c_crt,
		pki.c_key, pki.x_crt, pki.x_key, pki.ip_crt, pki.ip_key,
		pki.cl_crt, pki.cl_key, pki.cl2_crt, pki.cl2_key, pki.enc_key,
		pki.empty, pki.garbage, pki.fifo,
	};
	size_t		 i;

	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		(void)unlink(files[i]);
	(void)rmdir(pki.dir);
}

/* --- servers and clients -------------------------------------------------- */

/* What a builder reported. */
struct reports {
	int	n;
	int	line[8];
	char	msg[8][512];
};

static void
reports_add(void *arg, int line, const char *msg)
{
	struct reports	*r = arg;

	if (r->n < 8) {
		r->line[r->n] = line;
		snprintf(r->msg[r->n], sizeof(r->msg[0]), "%s", msg);
	}
	r->n++;
}

/* A builder that must succeed: any report fails the test. */
static void
reports_none(void *arg, int line, const char *msg)
{
	(void)arg;
	ck_abort_msg("unexpected report at line %d: %s", line, msg);
}

#define PAIR(crt, key)	{ (crt), (key), 10, 11 }

/* A server with the pairs a.test, *.b.test (key in the file), c.test. */
static struct tls_server *
server_abc(const char *alpn, const char *client_ca)
{
	const struct tls_keypair	 pairs[] = {
		PAIR(pki.a_crt, pki.a_key),
		PAIR(pki.b_pem, NULL),
		PAIR(pki.c_crt, pki.c_key),
	};
	struct tls_server_conf		 conf = {
		pairs, 3, client_ca, 20, alpn, 21,
	};
	struct tls_server		*ts;

	ck_assert_ptr_nonnull(ts = tls_server_new(&conf, reports_none, NULL));
	return ts;
}

static struct tls_client *
client_new(bool verify, const char *ca, const char *name, const char *crt,
    const char *key)
{
	struct tls_client_conf	 conf = {
		verify, ca, 30, name, { crt, key, 31, 32 },
	};
	struct tls_client	*tc;

	ck_assert_ptr_nonnull(tc = tls_client_new(&conf, reports_none, NULL));
	return tc;
}

/* --- driving both ends ---------------------------------------------------- */

static long long
now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
socket_pair(int sv[2])
{
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0, sv), 0);
}

/*
 * One end of a connection in a test: our layer (e_io), or a plain OpenSSL
 * peer of the test's own (e_ssl on e_fd) for what our client never does.
 */
struct end {
	struct io	 e_io;
	SSL		*e_ssl;
	int		 e_fd;
	int		 e_state;	/* 0 going on, 1 done, -1 failed */
	short		 e_want;	/* POLLIN or POLLOUT */
	int		 e_errno;	/* ours, when failed */
	char		 e_why[256];	/* why it failed */
};

static void
end_server(struct end *e, int fd, struct tls_server *ts)
{
	memset(e, 0, sizeof(*e));
	e->e_fd = fd;
	ck_assert_int_eq(io_tls_server_init(&e->e_io, fd, ts), 0);
	ck_assert_str_eq(e->e_io.io_ops->io_name, "tls");
	ck_assert(!io_is_raw(&e->e_io));
}

static void
end_client(struct end *e, int fd, struct tls_client *tc, const char *name)
{
	memset(e, 0, sizeof(*e));
	e->e_fd = fd;
	ck_assert_int_eq(io_tls_client_init(&e->e_io, fd, tc, name), 0);
}

/* A plain OpenSSL peer (client or server as ctx is). */
static void
end_raw(struct end *e, int fd, SSL_CTX *ctx, bool server, const char *sni)
{
	memset(e, 0, sizeof(*e));
	io_init(&e->e_io);
	e->e_fd = fd;
	ck_assert_ptr_nonnull(e->e_ssl = SSL_new(ctx));
	ck_assert_int_eq(SSL_set_fd(e->e_ssl, fd), 1);
	if (server)
		SSL_set_accept_state(e->e_ssl);
	else
		SSL_set_connect_state(e->e_ssl);
	if (sni != NULL)
		ck_assert_int_eq(SSL_set_tlsext_host_name(e->e_ssl, sni), 1);
}

static void
end_close(struct end *e)
{
	if (e->e_ssl != NULL) {
		SSL_free(e->e_ssl);
		close(e->e_fd);
		e->e_ssl = NULL;
	} else
		io_close(&e->e_io, false);
	e->e_fd = -1;
}

static short
poll_events(short ev)
{
	return ev == EV_WRITE ? POLLOUT : POLLIN;
}

/* A plain peer's call returned ret: what to wait for, or -1 (why set). */
static int
end_raw_wait(struct end *e, int ret)
{
	unsigned long	 code;

	switch (SSL_get_error(e->e_ssl, ret)) {
	case SSL_ERROR_WANT_READ:
		e->e_want = POLLIN;
		return 0;
	case SSL_ERROR_WANT_WRITE:
		e->e_want = POLLOUT;
		return 0;
	default:
		code = ERR_peek_error();
		snprintf(e->e_why, sizeof(e->e_why), "%s",
		    code != 0 && ERR_reason_error_string(code) != NULL ?
		    ERR_reason_error_string(code) : "syscall");
		ERR_clear_error();
		return -1;
	}
}

static void
end_step(struct end *e)
{
	int	ret;

	if (e->e_state != 0)
		return;
	if (e->e_ssl != NULL) {
		if ((ret = SSL_do_handshake(e->e_ssl)) == 1)
			e->e_state = 1;
		else if (end_raw_wait(e, ret) == -1)
			e->e_state = -1;
		return;
	}
	if (io_handshake(&e->e_io) == 0) {
		e->e_state = 1;
		return;
	}
	if (errno == EAGAIN) {
		/* The layer says the same on both wishes while handshaking. */
		ck_assert_int_eq(e->e_io.io_rd_want, e->e_io.io_wr_want);
		e->e_want = poll_events(e->e_io.io_rd_want);
		return;
	}
	e->e_state = -1;
	e->e_errno = errno;
	snprintf(e->e_why, sizeof(e->e_why), "%s",
	    io_tls_error(&e->e_io) != NULL ? io_tls_error(&e->e_io) : "?");
}

/* Wait until one of the fds is ready as asked (or ms passed). */
static void
wait2(int fd1, short ev1, int fd2, short ev2, int ms)
{
	struct pollfd	pfd[2] = {
		{ .fd = fd1, .events = ev1 },
		{ .fd = fd2, .events = ev2 },
	};

	(void)poll(pfd, 2, ms);
}

/*
 * Run both handshakes until each is done or failed. When one fails, the
 * other gets a moment to read its alert, then is left as it is.
 */
static void
handshake(struct end *a, struct end *b)
{
	long long	deadline = now_ms() + DEADLINE_MS, failed = 0;

	for (;;) {
		end_step(a);
		end_step(b);
		if (a->e_state != 0 && b->e_state != 0)
			return;
		if ((a->e_state == -1 || b->e_state == -1) && failed == 0)
			failed = now_ms();
		if (failed != 0 && now_ms() - failed > 300)
			return;
		ck_assert_msg(now_ms() < deadline, "handshake timed out");
		wait2(a->e_fd, a->e_state == 0 ? a->e_want : 0, b->e_fd,
		    b->e_state == 0 ? b->e_want : 0, 10);
	}
}

/* Both handshakes succeed. */
static void
handshake_ok(struct end *a, struct end *b)
{
	handshake(a, b);
	ck_assert_msg(a->e_state == 1 && b->e_state == 1,
	    "handshake failed: %s / %s", a->e_why, b->e_why);
}

/* One read of r, polling for up to the deadline until it is not EAGAIN. */
static ssize_t
read_wait(struct io *r, void *buf, size_t len)
{
	long long	deadline = now_ms() + DEADLINE_MS;
	ssize_t		n;

	while ((n = io_read(r, buf, len)) == -1 && errno == EAGAIN) {
		ck_assert_msg(now_ms() < deadline, "read timed out");
		wait2(r->io_fd, poll_events(r->io_rd_want), -1, 0, 10);
	}
	return n;
}

/*
 * Move len bytes of src from w to r through the layer, as the session
 * engine does but harder: writes come from one of two buffers, and after
 * each EAGAIN or partial write the bytes not yet taken move to the other
 * (the retry comes from another address) and more are appended (a longer
 * retry); r reads rdsz bytes at most at a time. The bytes read land in
 * dst. Counts the partial writes and the moves.
 */
static void
transfer(struct io *w, struct io *r, const unsigned char *src,
    unsigned char *dst, size_t len, size_t rdsz, int *partial, int *moved)
{
	long long	 deadline = now_ms() + DEADLINE_MS;
	unsigned char	*wb[2];
	size_t		 sent = 0, staged = 0, got = 0, add;
	ssize_t		 n;
	int		 cur = 0;
	bool		 progress;

	ck_assert_ptr_nonnull(wb[0] = malloc(len));
	ck_assert_ptr_nonnull(wb[1] = malloc(len));
	*partial = *moved = 0;
	while (got < len) {
		progress = false;
		if (sent < len) {
			add = len - sent - staged;
			if (add > 24 * KIB)
				add = 24 * KIB;
			memcpy(wb[cur] + staged, src + sent + staged, add);
			staged += add;
			n = io_write(w, wb[cur], staged);
			if (n == -1) {
				ck_assert_msg(errno == EAGAIN, "write: %s",
				    strerror(errno));
				n = 0;
			} else {
				ck_assert_int_gt(n, 0);
				progress = true;
			}
			if ((size_t)n < staged) {
				if (n > 0)
					(*partial)++;
				memcpy(wb[!cur], wb[cur] + n,
				    staged - (size_t)n);
				cur = !cur;
				(*moved)++;
			}
			sent += (size_t)n;
			staged -= (size_t)n;
		}
		n = io_read(r, dst + got, len - got < rdsz ? len - got : rdsz);
		if (n > 0) {
			got += (size_t)n;
			progress = true;
		} else {
			ck_assert_msg(n == -1 && errno == EAGAIN,
			    "read: %zd %s", n, strerror(errno));
		}
		ck_assert_msg(now_ms() < deadline, "transfer timed out");
		if (!progress)
			wait2(w->io_fd, sent < len ?
			    poll_events(w->io_wr_want) : 0, r->io_fd,
			    poll_events(r->io_rd_want), 10);
	}
	free(wb[0]);
	free(wb[1]);
}

/* The CN of the certificate a plain client got. */
static void
peer_cn(SSL *ssl, char *buf, size_t len)
{
	X509	*x = SSL_get0_peer_certificate(ssl);

	ck_assert_ptr_nonnull(x);
	ck_assert_int_gt(X509_NAME_get_text_by_NID(X509_get_subject_name(x),
	    NID_commonName, buf, (int)len), 0);
}

/* A plain OpenSSL client context that verifies nothing. */
static SSL_CTX *
raw_client_ctx(int minv, int maxv)
{
	SSL_CTX	*ctx;

	ck_assert_ptr_nonnull(ctx = SSL_CTX_new(TLS_client_method()));
	if (minv < TLS1_2_VERSION) {
		/* Make sure it is the server that refuses, not us. */
		SSL_CTX_set_security_level(ctx, 0);
		ck_assert_int_eq(SSL_CTX_set_cipher_list(ctx,
		    "DEFAULT:@SECLEVEL=0"), 1);
	}
	ck_assert_int_eq(SSL_CTX_set_min_proto_version(ctx, minv), 1);
	ck_assert_int_eq(SSL_CTX_set_max_proto_version(ctx, maxv), 1);
	return ctx;
}

/*
 * A connection of a test: our server end, and our client end or a plain
 * OpenSSL one (when cn_ctx is set). The server, client and context are
 * the connection's, freed by conn_free().
 */
struct conn {
	struct tls_server	*cn_ts;
	struct tls_client	*cn_tc;
	SSL_CTX			*cn_ctx;
	struct end		 cn_s, cn_c;
};

/* A connection between our server ts and our client tc. */
static struct conn
conn_ours(struct tls_server *ts, struct tls_client *tc)
{
	struct conn	cn = { .cn_ts = ts, .cn_tc = tc };

	return cn;
}

/* Between our server ts and a plain client of ctx. */
static struct conn
conn_raw(struct tls_server *ts, SSL_CTX *ctx)
{
	struct conn	cn = { .cn_ts = ts, .cn_ctx = ctx };

	return cn;
}

/* Open both ends over sv (NULL: a new socketpair), towards name. */
static void
conn_start(struct conn *cn, const int *sv, const char *name)
{
	int	pair[2];

	if (sv == NULL) {
		socket_pair(pair);
		sv = pair;
	}
	end_server(&cn->cn_s, sv[0], cn->cn_ts);
	if (cn->cn_ctx != NULL)
		end_raw(&cn->cn_c, sv[1], cn->cn_ctx, false, name);
	else
		end_client(&cn->cn_c, sv[1], cn->cn_tc, name);
}

/* Close both ends; the connection may start again. */
static void
conn_end(struct conn *cn)
{
	end_close(&cn->cn_s);
	end_close(&cn->cn_c);
}

static void
conn_free(struct conn *cn)
{
	conn_end(cn);
	tls_server_free(cn->cn_ts);
	tls_client_free(cn->cn_tc);
	SSL_CTX_free(cn->cn_ctx);
}

/* Our two ends over sv (NULL: a socketpair), a.test verified, connected. */
static void
conn_open(struct conn *cn, const int *sv)
{
	*cn = conn_ours(server_abc(NULL, NULL),
	    client_new(true, pki.ca, "a.test", NULL, NULL));
	conn_start(cn, sv, NULL);
	handshake_ok(&cn->cn_s, &cn->cn_c);
}

/* --- builders ------------------------------------------------------------- */

START_TEST(test_builders_succeed)
{
	struct tls_server	*ts;
	struct tls_client	*tc;

	tls_server_free(server_abc("h2,http/1.1", pki.ca));
	ts = server_abc(" h2 , http/1.1 ", NULL);
	tls_server_free(ts);
	tc = client_new(true, pki.ca, "a.test", pki.cl_crt, pki.cl_key);
	tls_client_free(tc);
	/* The system store. */
	tc = client_new(true, NULL, NULL, NULL, NULL);
	tls_client_free(tc);
	tls_server_free(NULL);
	tls_client_free(NULL);
	ck_assert_uint_eq(ERR_peek_error(), 0);
}
END_TEST

/* One way to get a server wrong, and what must be said about it. */
static const struct {
	const char	*crt, *key, *ca, *alpn;
	int		 line;
	const char	*want[3];	/* substrings of the one message */
} bad_servers[] = {
	{ "missing", NULL, NULL, NULL, 10,
	    { "cannot load certificate", "missing.pem",
	    "No such file or directory" } },
	{ "garbage", NULL, NULL, NULL, 10,
	    { "cannot load certificate", "garbage.pem", "no start line" } },
	{ "empty", NULL, NULL, NULL, 10,
	    { "cannot load certificate", "empty.pem", "no start line" } },
	{ "a_crt", "missing", NULL, NULL, 11,
	    { "cannot load private key", "missing.pem",
	    "No such file or directory" } },
	{ "a_crt", "garbage", NULL, NULL, 11,
	    { "cannot load private key", "garbage.pem",
	    "no private key that OpenSSL can read in it (unsupported)" } },
	/* No key given, and none in the certificate's file. */
	{ "a_crt", NULL, NULL, NULL, 10,
	    { "cannot load private key", "a.crt", "no private key" } },
	{ "a_crt", "c_key", NULL, NULL, 11,
	    { "private key", "c.key", "does not match certificate" } },
	{ "a_crt", "enc_key", NULL, NULL, 11,
	    { "cannot load private key", "enc.key",
	    "protected by a passphrase, which is not supported" } },
	/*
	 * Files OpenSSL would block on or never finish: refused before it
	 * opens them (a reload or -t must end).
	 */
	{ "fifo", NULL, NULL, NULL, 10,
	    { "cannot load certificate", "fifo.pem",
	    "not a regular file (a FIFO)" } },
	{ "a_crt", "zero", NULL, NULL, 11,
	    { "cannot load private key", "/dev/zero",
	    "not a regular file (a device)" } },
	{ "dir", NULL, NULL, NULL, 10,
	    { "cannot load certificate", "", "not a regular file "
	    "(a directory)" } },
	{ "a_crt", "a_key", "fifo", NULL, 20,
	    { "cannot read CA file", "fifo.pem",
	    "not a regular file (a FIFO)" } },
	{ "a_crt", "a_key", "missing", NULL, 20,
	    { "cannot read CA file", "missing.pem",
	    "No such file or directory" } },
	{ "a_crt", "a_key", "empty", NULL, 20,
	    { "CA file", "empty.pem", "no certificate in it" } },
	{ "a_crt", "a_key", "garbage", NULL, 20,
	    { "CA file", "garbage.pem", "no certificate in it" } },
	{ "a_crt", "a_key", NULL, "", 21,
	    { "bad ALPN list \"\"", "empty protocol name", "" } },
	{ "a_crt", "a_key", NULL, "h2,,http/1.1", 21,
	    { "bad ALPN list", "h2,,http/1.1", "empty protocol name" } },
	{ "a_crt", "a_key", NULL, "h2,", 21,
	    { "bad ALPN list", "empty protocol name", "" } },
	{ "a_crt", "a_key", NULL, "h 2", 21,
	    { "bad ALPN list", "inside a protocol name", "" } },
};

static const char *
pki_named(const char *name)
{
	static const struct {
		const char	*name;
		const char	*path;
	} map[] = {
		{ "missing", pki.missing }, { "garbage", pki.garbage },
		{ "empty", pki.empty }, { "a_crt", pki.a_crt },
		{ "a_key", pki.a_key }, { "c_key", pki.c_key },
		{ "enc_key", pki.enc_key }, { "fifo", pki.fifo },
		{ "zero", "/dev/zero" }, { "dir", pki.dir },
	};
	size_t	i;

	if (name == NULL)
		return NULL;
	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(map[i].name, name) == 0)
			return map[i].path;
	ck_abort_msg("no file %s", name);
	return NULL;
}

START_TEST(test_server_builder_failures)
{
	struct tls_keypair	pair = {
		pki_named(bad_servers[_i].crt), pki_named(bad_servers[_i].key),
		10, bad_servers[_i].key != NULL ? 11 : 0,
	};
	struct tls_server_conf	conf = {
		&pair, 1, pki_named(bad_servers[_i].ca), 20,
		bad_servers[_i].alpn, 21,
	};
	struct reports		r = { 0 };
	int			i;

	ck_assert_ptr_null(tls_server_new(&conf, reports_add, &r));
	ck_assert_int_eq(r.n, 1);
	ck_assert_int_eq(r.line[0], bad_servers[_i].line);
	for (i = 0; i < 3; i++)
		ck_assert_msg(strstr(r.msg[0], bad_servers[_i].want[i]) != NULL,
		    "\"%s\" lacks \"%s\"", r.msg[0], bad_servers[_i].want[i]);
	fprintf(stderr, "check_tls: line %d: %s\n", r.line[0], r.msg[0]);
	ck_assert_uint_eq(ERR_peek_error(), 0);
}
END_TEST

START_TEST(test_alpn_name_too_long)
{
	const struct tls_keypair pair = PAIR(pki.a_crt, pki.a_key);
	struct tls_server_conf	 conf = { &pair, 1, NULL, 0, NULL, 21 };
	struct reports		 r = { 0 };
	char			 list[300];

	memset(list, 'x', sizeof(list));
	memcpy(list, "h2,", 3);
	list[3 + 256] = '\0';		/* a name of 256 bytes */
	conf.tsc_alpn = list;
	ck_assert_ptr_null(tls_server_new(&conf, reports_add, &r));
	ck_assert_int_eq(r.n, 1);
	ck_assert_ptr_nonnull(strstr(r.msg[0], "longer than 255 bytes"));
	list[3 + 255] = '\0';		/* 255: fine */
	tls_server_free(tls_server_new(&conf, reports_none, NULL));
}
END_TEST

/* Every problem is told, each with its own line, for -t. */
START_TEST(test_server_builder_tells_every_problem)
{
	const struct tls_keypair pairs[] = {
		{ pki.missing, NULL, 3, 0 },
		{ pki.a_crt, pki.a_key, 5, 6 },
		{ pki.a_crt, pki.c_key, 7, 8 },
	};
	struct tls_server_conf	 conf = {
		pairs, 3, pki.empty, 9, "h2,", 12,
	};
	struct reports		 r = { 0 };

	ck_assert_ptr_null(tls_server_new(&conf, reports_add, &r));
	ck_assert_int_eq(r.n, 4);
	/* In the order found: ALPN, CA, then the pairs. */
	ck_assert_int_eq(r.line[0], 12);
	ck_assert_int_eq(r.line[1], 9);
	ck_assert_int_eq(r.line[2], 3);
	ck_assert_int_eq(r.line[3], 8);
	ck_assert_ptr_nonnull(strstr(r.msg[3], "does not match"));

	conf.tsc_npairs = 0;
	conf.tsc_client_ca = NULL;
	conf.tsc_alpn = NULL;
	r.n = 0;
	ck_assert_ptr_null(tls_server_new(&conf, reports_add, &r));
	ck_assert_int_eq(r.n, 1);
	ck_assert_ptr_nonnull(strstr(r.msg[0], "no certificate"));
}
END_TEST

START_TEST(test_client_builder_failures)
{
	struct tls_client_conf	conf = {
		true, pki.missing, 30, "a.test", { NULL, NULL, 0, 0 },
	};
	struct reports		r = { 0 };

	ck_assert_ptr_null(tls_client_new(&conf, reports_add, &r));
	ck_assert_int_eq(r.n, 1);
	ck_assert_int_eq(r.line[0], 30);
	ck_assert_ptr_nonnull(strstr(r.msg[0], "cannot read CA file"));
	ck_assert_ptr_nonnull(strstr(r.msg[0], "missing.pem"));

	conf.tcc_ca = pki.empty;
	conf.tcc_pair = (struct tls_keypair){ pki.cl_crt, pki.a_key, 31, 32 };
	r.n = 0;
	ck_assert_ptr_null(tls_client_new(&conf, reports_add, &r));
	ck_assert_int_eq(r.n, 2);
	ck_assert_int_eq(r.line[0], 30);
	ck_assert_ptr_nonnull(strstr(r.msg[0], "no certificate in it"));
	ck_assert_int_eq(r.line[1], 32);
	ck_assert_ptr_nonnull(strstr(r.msg[1], "does not match"));
	ck_assert_uint_eq(ERR_peek_error(), 0);
}
END_TEST

/* --- handshakes ----------------------------------------------------------- */

START_TEST(test_handshake_ours_both_ways)
{
	struct conn	cn = conn_ours(server_abc(NULL, NULL),
			    client_new(true, pki.ca, "a.test", NULL, NULL));
	char		subj[256];

	conn_start(&cn, NULL, NULL);
	ck_assert_ptr_null(io_tls_version(&cn.cn_s.e_io));
	handshake_ok(&cn.cn_s, &cn.cn_c);
	ck_assert_str_eq(io_tls_version(&cn.cn_s.e_io), "TLSv1.3");
	ck_assert_str_eq(io_tls_version(&cn.cn_c.e_io), "TLSv1.3");
	ck_assert(!io_tls_resumed(&cn.cn_s.e_io));
	ck_assert_ptr_null(io_tls_alpn(&cn.cn_s.e_io));
	ck_assert_ptr_null(io_tls_error(&cn.cn_s.e_io));
	ck_assert_ptr_null(io_tls_error(&cn.cn_c.e_io));
	/* The client verified the server; the server asked nothing. */
	ck_assert_int_eq(io_tls_subject(&cn.cn_c.e_io, subj, sizeof(subj)), 0);
	ck_assert_str_eq(subj, "CN=a.test,O=mptcp-relayd%20tests");
	ck_assert_int_eq(io_tls_subject(&cn.cn_s.e_io, subj, sizeof(subj)),
	    -1);
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_str_eq(subj, "");
	/* Called again once done, the handshake has nothing more to do. */
	ck_assert_int_eq(io_handshake(&cn.cn_s.e_io), 0);
	conn_free(&cn);
}
END_TEST

/* What is asked of a layer that is not TLS. */
START_TEST(test_info_of_a_raw_side)
{
	struct io	io;
	char		buf[16] = "x";
	int		sv[2];

	socket_pair(sv);
	io_raw_init(&io, sv[0]);
	ck_assert_ptr_null(io_tls_error(&io));
	ck_assert_ptr_null(io_tls_version(&io));
	ck_assert_ptr_null(io_tls_alpn(&io));
	ck_assert(!io_tls_resumed(&io));
	ck_assert_int_eq(io_tls_subject(&io, buf, sizeof(buf)), -1);
	ck_assert_str_eq(buf, "");
	io_close(&io, false);
	close(sv[1]);
}
END_TEST

/* A plain client limited to TLS 1.2 (loop 0) or 1.3 (loop 1). */
START_TEST(test_versions_accepted)
{
	static const int	 v[] = { TLS1_2_VERSION, TLS1_3_VERSION };
	static const char	*name[] = { "TLSv1.2", "TLSv1.3" };
	struct conn		 cn = conn_raw(server_abc(NULL, NULL),
			    raw_client_ctx(v[_i], v[_i]));

	conn_start(&cn, NULL, "a.test");
	handshake_ok(&cn.cn_s, &cn.cn_c);
	ck_assert_str_eq(io_tls_version(&cn.cn_s.e_io), name[_i]);
	ck_assert_str_eq(SSL_get_version(cn.cn_c.e_ssl), name[_i]);
	conn_free(&cn);
}
END_TEST

START_TEST(test_tls11_refused)
{
	struct conn	cn = conn_raw(server_abc(NULL, NULL),
			    raw_client_ctx(TLS1_VERSION, TLS1_1_VERSION));

	conn_start(&cn, NULL, "a.test");
	handshake(&cn.cn_s, &cn.cn_c);
	ck_assert_int_eq(cn.cn_s.e_state, -1);
	ck_assert_int_eq(cn.cn_c.e_state, -1);
	/* The server refused it, not the client's own settings. */
	ck_assert_int_eq(cn.cn_s.e_errno, EPROTO);
	ck_assert_str_eq(cn.cn_s.e_why, "unsupported protocol");
	ck_assert_ptr_nonnull(strstr(cn.cn_c.e_why, "protocol version"));
	/* A failed layer stays failed. */
	ck_assert_int_eq(io_handshake(&cn.cn_s.e_io), -1);
	ck_assert_int_eq(errno, EPROTO);
	conn_free(&cn);
}
END_TEST

/*
 * Mozilla's list for TLS 1.2 (AEAD suites only, the client choosing), and
 * its groups: what a client offers, and what comes of it.
 */
static const struct {
	int		 maxv;
	const char	*ciphers, *groups;
	const char	*want;		/* suite, or the server's why */
} setting_cases[] = {
	{ TLS1_2_VERSION, "ECDHE-ECDSA-AES128-SHA256:"
	    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256",
	    NULL, "ECDHE-ECDSA-CHACHA20-POLY1305" },
	{ TLS1_2_VERSION, "ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA",
	    NULL, "no shared cipher" },
	{ TLS1_2_VERSION, NULL, "P-521", "no shared cipher" },
	{ TLS1_3_VERSION, NULL, "P-521", "no suitable key share" },
	{ TLS1_3_VERSION, NULL, "P-384", "TLS_AES_256_GCM_SHA384" },
};

START_TEST(test_server_settings)
{
	struct conn	cn = conn_raw(server_abc(NULL, NULL),
			    raw_client_ctx(TLS1_2_VERSION,
			    setting_cases[_i].maxv));

	if (setting_cases[_i].ciphers != NULL)
		ck_assert_int_eq(SSL_CTX_set_cipher_list(cn.cn_ctx,
		    setting_cases[_i].ciphers), 1);
	if (setting_cases[_i].groups != NULL)
		ck_assert_int_eq(SSL_CTX_set1_groups_list(cn.cn_ctx,
		    setting_cases[_i].groups), 1);
	conn_start(&cn, NULL, "a.test");
	handshake(&cn.cn_s, &cn.cn_c);
	if (cn.cn_s.e_state == 1) {
		ck_assert_int_eq(cn.cn_c.e_state, 1);
		ck_assert_str_eq(SSL_get_cipher_name(cn.cn_c.e_ssl),
		    setting_cases[_i].want);
	} else {
		ck_assert_int_eq(cn.cn_s.e_errno, EPROTO);
		ck_assert_str_eq(cn.cn_s.e_why, setting_cases[_i].want);
	}
	conn_free(&cn);
}
END_TEST

/* SNI sent, and the certificate it gets. */
static const struct {
	const char	*sni;
	const char	*cn;
} sni_cases[] = {
	{ "a.test", "a.test" },
	{ "x.b.test", "*.b.test" },
	{ "C.TEST", "c.test" },
	{ "other.test", "a.test" },	/* no match: the first */
	{ "b.test", "a.test" },		/* a wildcard is one label */
	{ "y.x.b.test", "a.test" },
	{ NULL, "a.test" },		/* no SNI: the first */
};

START_TEST(test_sni_picks_the_certificate)
{
	struct conn	cn = conn_raw(server_abc(NULL, NULL),
			    raw_client_ctx(TLS1_2_VERSION, 0));
	char		name[64];

	conn_start(&cn, NULL, sni_cases[_i].sni);
	handshake_ok(&cn.cn_s, &cn.cn_c);
	peer_cn(cn.cn_c.e_ssl, name, sizeof(name));
	ck_assert_str_eq(name, sni_cases[_i].cn);
	conn_free(&cn);
}
END_TEST

/* An exact name wins over a wildcard listed before it. */
START_TEST(test_sni_exact_before_wildcard)
{
	const struct tls_keypair pairs[] = {
		PAIR(pki.a_crt, pki.a_key),
		PAIR(pki.b_pem, NULL),
		PAIR(pki.x_crt, pki.x_key),
	};
	struct tls_server_conf	 conf = { pairs, 3, NULL, 0, NULL, 0 };
	static const char	*sni[] = { "x.b.test", "y.b.test" };
	static const char	*want[] = { "x.b.test", "*.b.test" };
	struct conn		 cn = conn_raw(tls_server_new(&conf,
				    reports_none, NULL),
				    raw_client_ctx(TLS1_2_VERSION, 0));
	char			 name[64];
	int			 i;

	ck_assert_ptr_nonnull(cn.cn_ts);
	for (i = 0; i < 2; i++) {
		conn_start(&cn, NULL, sni[i]);
		handshake_ok(&cn.cn_s, &cn.cn_c);
		peer_cn(cn.cn_c.e_ssl, name, sizeof(name));
		ck_assert_str_eq(name, want[i]);
		conn_end(&cn);
	}
	conn_free(&cn);
}
END_TEST

/* Our client verifies a wildcard certificate that SNI chose. */
START_TEST(test_client_verifies_wildcard)
{
	struct conn	cn = conn_ours(server_abc(NULL, NULL),
			    client_new(true, pki.ca, NULL, NULL, NULL));
	char		subj[128];

	conn_start(&cn, NULL, "www.b.test");
	handshake_ok(&cn.cn_s, &cn.cn_c);
	ck_assert_int_eq(io_tls_subject(&cn.cn_c.e_io, subj, sizeof(subj)), 0);
	ck_assert_str_eq(subj, "CN=*.b.test,O=mptcp-relayd%20tests");
	conn_free(&cn);
}
END_TEST

/* What a client offers (wire format) and what the server selects. */
static const struct {
	const char	*offer;
	unsigned	 offerlen;
	const char	*want;
} alpn_cases[] = {
	{ "\x08http/1.1\x02h2", 12, "h2" },	/* the server's order */
	{ "\x08http/1.1", 9, "http/1.1" },
	{ "\x06spdy/1", 7, NULL },		/* no overlap: no ALPN */
	{ NULL, 0, NULL },			/* none offered */
};

START_TEST(test_alpn_selection)
{
	struct conn		 cn = conn_raw(server_abc("h2,http/1.1",
				    NULL), raw_client_ctx(TLS1_2_VERSION, 0));
	const unsigned char	*sel;
	unsigned		 len;

	conn_start(&cn, NULL, "c.test");
	if (alpn_cases[_i].offer != NULL)
		ck_assert_int_eq(SSL_set_alpn_protos(cn.cn_c.e_ssl,
		    (const unsigned char *)alpn_cases[_i].offer,
		    alpn_cases[_i].offerlen), 0);
	handshake_ok(&cn.cn_s, &cn.cn_c);
	SSL_get0_alpn_selected(cn.cn_c.e_ssl, &sel, &len);
	if (alpn_cases[_i].want == NULL) {
		ck_assert_ptr_null(io_tls_alpn(&cn.cn_s.e_io));
		ck_assert_uint_eq(len, 0);
	} else {
		ck_assert_str_eq(io_tls_alpn(&cn.cn_s.e_io),
		    alpn_cases[_i].want);
		ck_assert_uint_eq(len, strlen(alpn_cases[_i].want));
		ck_assert_int_eq(memcmp(sel, alpn_cases[_i].want, len), 0);
	}
	conn_free(&cn);
}
END_TEST

/* --- mutual TLS and verification ------------------------------------------ */

START_TEST(test_mtls_accepted)
{
	struct conn	cn = conn_ours(server_abc(NULL, pki.ca),
			    client_new(true, pki.ca, "c.test", pki.cl_crt,
			    pki.cl_key));
	char		subj[256], small[16];

	conn_start(&cn, NULL, NULL);
	handshake_ok(&cn.cn_s, &cn.cn_c);
	ck_assert_int_eq(io_tls_subject(&cn.cn_s.e_io, subj, sizeof(subj)), 0);
	ck_assert_str_eq(subj, CLIENT_SUBJECT);
	/* Too small: what fits, never half an escape. */
	ck_assert_int_eq(io_tls_subject(&cn.cn_s.e_io, small, 12), -1);
	ck_assert_int_eq(errno, ERANGE);
	ck_assert_str_eq(small, "CN=Client");
	ck_assert_int_eq(io_tls_subject(&cn.cn_s.e_io, small, sizeof(small)),
	    -1);
	ck_assert_str_eq(small, "CN=Client%20One");
	conn_free(&cn);
}
END_TEST

/*
 * No client certificate: the server refuses. Under TLS 1.3 the client's
 * handshake may be over by then; the server's alert ends its first read.
 */
START_TEST(test_mtls_refused_without_certificate)
{
	struct conn	cn = conn_ours(server_abc(NULL, pki.ca),
			    client_new(true, pki.ca, "a.test", NULL, NULL));
	char		buf[16];

	conn_start(&cn, NULL, NULL);
	handshake(&cn.cn_s, &cn.cn_c);
	ck_assert_int_eq(cn.cn_s.e_state, -1);
	ck_assert_int_eq(cn.cn_s.e_errno, EPROTO);
	ck_assert_str_eq(cn.cn_s.e_why, "peer did not return a certificate");
	if (cn.cn_c.e_state == 1) {
		ck_assert_int_eq(read_wait(&cn.cn_c.e_io, buf, sizeof(buf)),
		    -1);
		cn.cn_c.e_errno = errno;
	}
	ck_assert_int_eq(cn.cn_c.e_errno, EPROTO);
	ck_assert_str_eq(io_tls_error(&cn.cn_c.e_io),
	    "tlsv13 alert certificate required");
	conn_free(&cn);
}
END_TEST

#define VERIFY_NO_ISSUER						\
	"certificate verify failed: unable to get local issuer certificate"

/*
 * A verification that fails, and what each end says: a client certificate
 * of another CA (loop 0), a server certificate of another CA (1), a host
 * name (2: the client's default; 3: the connection's own) or an IP address
 * (4) that the certificate does not name.
 */
static const struct {
	const char	*server_ca, *client_ca, *crt, *key;
	const char	*dflt, *name;
	const char	*server_why, *client_why;
} refusals[] = {
	{ pki.ca, pki.ca, pki.cl2_crt, pki.cl2_key, "a.test", NULL,
	    VERIFY_NO_ISSUER, NULL },
	{ NULL, pki.ca2, NULL, NULL, "a.test", NULL,
	    "tlsv1 alert unknown ca",
	    VERIFY_NO_ISSUER },
	{ NULL, pki.ca, NULL, NULL, "wrong.test", NULL, NULL,
	    "certificate verify failed: hostname mismatch" },
	{ NULL, pki.ca, NULL, NULL, "a.test", "d.test", NULL,
	    "certificate verify failed: hostname mismatch" },
	{ NULL, pki.ca, NULL, NULL, "a.test", "127.0.0.2", NULL,
	    "certificate verify failed: IP address mismatch" },
};

START_TEST(test_verification_refused)
{
	struct conn	cn = conn_ours(server_abc(NULL,
			    refusals[_i].server_ca),
			    client_new(true, refusals[_i].client_ca,
			    refusals[_i].dflt, refusals[_i].crt,
			    refusals[_i].key));
	char		buf[16];

	conn_start(&cn, NULL, refusals[_i].name);
	handshake(&cn.cn_s, &cn.cn_c);
	if (refusals[_i].server_why != NULL) {
		ck_assert_int_eq(cn.cn_s.e_state, -1);
		ck_assert_int_eq(cn.cn_s.e_errno, EPROTO);
		ck_assert_str_eq(cn.cn_s.e_why, refusals[_i].server_why);
	}
	if (refusals[_i].client_why != NULL) {
		ck_assert_int_eq(cn.cn_c.e_state, -1);
		ck_assert_int_eq(cn.cn_c.e_errno, EPROTO);
		ck_assert_str_eq(cn.cn_c.e_why, refusals[_i].client_why);
		ck_assert_int_eq(io_tls_subject(&cn.cn_c.e_io, buf,
		    sizeof(buf)), -1);
	}
	ck_assert_int_eq(io_tls_subject(&cn.cn_s.e_io, buf, sizeof(buf)), -1);
	conn_free(&cn);
}
END_TEST

START_TEST(test_client_ip_address)
{
	const struct tls_keypair pair = PAIR(pki.ip_crt, pki.ip_key);
	struct tls_server_conf	 conf = { &pair, 1, NULL, 0, NULL, 0 };
	struct conn		 cn = conn_ours(tls_server_new(&conf,
				    reports_none, NULL), client_new(true,
				    pki.ca, NULL, NULL, NULL));
	char			 subj[64];

	ck_assert_ptr_nonnull(cn.cn_ts);
	conn_start(&cn, NULL, "127.0.0.1");
	handshake_ok(&cn.cn_s, &cn.cn_c);
	ck_assert_int_eq(io_tls_subject(&cn.cn_c.e_io, subj, sizeof(subj)), 0);
	ck_assert_str_eq(subj, "CN=loopback,O=mptcp-relayd%20tests");
	conn_free(&cn);
}
END_TEST

/* What a plain server saw as SNI. */
static int
sni_seen(SSL *ssl, int *alert, void *arg)
{
	const char	*name = SSL_get_servername(ssl,
			    TLSEXT_NAMETYPE_host_name);

	(void)alert;
	snprintf(arg, 64, "%s", name != NULL ? name : "(none)");
	return SSL_TLSEXT_ERR_OK;
}

/* A host name goes out as SNI, an IP address does not (RFC 6066). */
START_TEST(test_client_sni_sent)
{
	static const char	*names[] = { "a.test", "127.0.0.1", "::1" };
	static const char	*seen[] = { "a.test", "(none)", "(none)" };
	struct tls_client	*tc = client_new(false, NULL, NULL, NULL,
				    NULL);
	SSL_CTX			*ctx;
	struct end		 s, c;
	char			 got[64];
	int			 sv[2];

	ck_assert_ptr_nonnull(ctx = SSL_CTX_new(TLS_server_method()));
	ck_assert_int_eq(SSL_CTX_use_certificate_chain_file(ctx, pki.a_crt), 1);
	ck_assert_int_eq(SSL_CTX_use_PrivateKey_file(ctx, pki.a_key,
	    SSL_FILETYPE_PEM), 1);
	SSL_CTX_set_tlsext_servername_callback(ctx, sni_seen);
	SSL_CTX_set_tlsext_servername_arg(ctx, got);
	strcpy(got, "(none)");
	socket_pair(sv);
	end_raw(&s, sv[0], ctx, true, NULL);
	end_client(&c, sv[1], tc, names[_i]);
	handshake_ok(&s, &c);
	ck_assert_str_eq(got, seen[_i]);
	/* Nothing verified: no subject to log. */
	ck_assert_int_eq(io_tls_subject(&c.e_io, got, sizeof(got)), -1);
	ck_assert_int_eq(errno, ENOENT);
	end_close(&s);
	end_close(&c);
	SSL_CTX_free(ctx);
	tls_client_free(tc);
}
END_TEST

/* Verifying with no name at all would accept any certificate of the CA. */
START_TEST(test_client_verify_needs_a_name)
{
	struct tls_client	*tc = client_new(true, pki.ca, NULL, NULL,
				    NULL);
	struct io		 io;
	int			 sv[2];

	socket_pair(sv);
	ck_assert_int_eq(io_tls_client_init(&io, sv[1], tc, NULL), -1);
	ck_assert_int_eq(errno, EINVAL);
	/* The descriptor was taken and closed; io is empty. */
	ck_assert_int_eq(fcntl(sv[1], F_GETFD), -1);
	ck_assert_int_eq(io.io_fd, -1);
	io_close(&io, false);
	close(sv[0]);
	tls_client_free(tc);
}
END_TEST

/* --- the stream ----------------------------------------------------------- */

START_TEST(test_data_both_ways)
{
	const size_t	 len = 1024 * KIB;
	unsigned char	*src, *dst;
	struct conn	 cn;
	size_t		 i;
	int		 partial, moved;

	ck_assert_ptr_nonnull(src = malloc(len));
	ck_assert_ptr_nonnull(dst = malloc(len));
	for (i = 0; i < len; i++)
		src[i] = (unsigned char)(i * 7 + i / 4093);
	conn_open(&cn, NULL);

	transfer(&cn.cn_s.e_io, &cn.cn_c.e_io, src, dst, len, 16 * KIB,
	    &partial, &moved);
	ck_assert_int_eq(memcmp(src, dst, len), 0);
	fprintf(stderr, "check_tls: server to client: %d partial writes, "
	    "%d retries from another address\n", partial, moved);
	ck_assert_int_gt(partial, 0);
	ck_assert_int_gt(moved, 0);

	memset(dst, 0, len);
	transfer(&cn.cn_c.e_io, &cn.cn_s.e_io, src, dst, len, 1000,
	    &partial, &moved);
	ck_assert_int_eq(memcmp(src, dst, len), 0);
	ck_assert_int_gt(moved, 0);
	conn_free(&cn);
	free(src);
	free(dst);
}
END_TEST

/* Whether fd has bytes to read now. */
static bool
fd_readable(int fd)
{
	struct pollfd	pfd = { .fd = fd, .events = POLLIN };

	return poll(&pfd, 1, 0) == 1;
}

/*
 * Decrypted bytes the descriptor no longer signals: one record read 100
 * bytes at a time (loop 0), and several records written in one go (1).
 */
START_TEST(test_pending_drained)
{
	const size_t	 len = _i == 0 ? 3000 : 40000;
	unsigned char	 src[40000], dst[40000];
	struct conn	 cn;
	size_t		 got = 0;
	ssize_t		 n;
	int		 held = 0;

	memset(src, 'p', sizeof(src));
	conn_open(&cn, NULL);
	ck_assert_int_eq(io_write(&cn.cn_s.e_io, src, len), (ssize_t)len);
	ck_assert_int_eq(io_pending(&cn.cn_c.e_io), 0);
	while (got < len) {
		if (io_pending(&cn.cn_c.e_io) > 0) {
			/* Read at once: the descriptor may never signal. */
			if (!fd_readable(cn.cn_c.e_fd))
				held++;
			n = io_read(&cn.cn_c.e_io, dst + got, 100);
		} else
			n = read_wait(&cn.cn_c.e_io, dst + got, 100);
		ck_assert_int_eq(n, 100);
		got += (size_t)n;
	}
	ck_assert_uint_eq(got, len);
	/* All but the first read of the single record came from the layer. */
	ck_assert_int_gt(held, 0);
	if (_i == 0)
		ck_assert_int_eq(held, 29);
	ck_assert_int_eq(memcmp(src, dst, len), 0);
	ck_assert_int_eq(io_read(&cn.cn_c.e_io, dst, 100), -1);
	ck_assert_int_eq(errno, EAGAIN);
	ck_assert_int_eq(cn.cn_c.e_io.io_rd_want, EV_READ);
	conn_free(&cn);
}
END_TEST

/*
 * close_notify is a clean end of one direction (a half-close): the other
 * still flows, and the TCP stream ends too.
 */
START_TEST(test_close_notify_is_a_clean_end)
{
	struct conn	cn;
	char		buf[64];

	conn_open(&cn, NULL);
	ck_assert_int_eq(io_write(&cn.cn_c.e_io, "hello", 5), 5);
	ck_assert_int_eq(io_shutdown(&cn.cn_c.e_io), 0);
	ck_assert_int_eq(io_shutdown(&cn.cn_c.e_io), 0);	/* once only */
	ck_assert_int_eq(read_wait(&cn.cn_s.e_io, buf, sizeof(buf)), 5);
	ck_assert_int_eq(memcmp(buf, "hello", 5), 0);
	/*
	 * The close_notify was read with the bytes: the layer says there is
	 * more (the descriptor may never signal again), and the next read
	 * tells the end.
	 */
	ck_assert_uint_gt(io_pending(&cn.cn_s.e_io), 0);
	ck_assert_int_eq(io_read(&cn.cn_s.e_io, buf, sizeof(buf)), 0);
	ck_assert_uint_eq(io_pending(&cn.cn_s.e_io), 0);
	ck_assert_int_eq(io_read(&cn.cn_s.e_io, buf, sizeof(buf)), 0);
	ck_assert_ptr_null(io_tls_error(&cn.cn_s.e_io));

	/* The other way still works. */
	ck_assert_int_eq(io_write(&cn.cn_s.e_io, "bye", 3), 3);
	ck_assert_int_eq(read_wait(&cn.cn_c.e_io, buf, sizeof(buf)), 3);
	ck_assert_int_eq(io_shutdown(&cn.cn_s.e_io), 0);
	ck_assert_int_eq(read_wait(&cn.cn_c.e_io, buf, sizeof(buf)), 0);
	/* After the close_notify, the FIN: nothing more on the socket. */
	ck_assert_int_eq(recv(cn.cn_c.e_fd, buf, sizeof(buf), 0), 0);
	conn_free(&cn);
}
END_TEST

/* A FIN without close_notify is a cut stream, never an end. */
START_TEST(test_fin_without_close_notify_is_a_reset)
{
	struct conn	cn;
	char		buf[64];

	conn_open(&cn, NULL);
	ck_assert_int_eq(io_write(&cn.cn_c.e_io, "cut", 3), 3);
	ck_assert_int_eq(shutdown(cn.cn_c.e_fd, SHUT_WR), 0);
	ck_assert_int_eq(read_wait(&cn.cn_s.e_io, buf, sizeof(buf)), 3);
	ck_assert_uint_gt(io_pending(&cn.cn_s.e_io), 0);
	ck_assert_int_eq(io_read(&cn.cn_s.e_io, buf, sizeof(buf)), -1);
	ck_assert_int_eq(errno, ECONNRESET);
	ck_assert_str_eq(io_tls_error(&cn.cn_s.e_io),
	    "unexpected eof while reading");
	/* And it stays so. */
	ck_assert_int_eq(io_read(&cn.cn_s.e_io, buf, sizeof(buf)), -1);
	ck_assert_int_eq(errno, ECONNRESET);
	ck_assert_int_eq(io_write(&cn.cn_s.e_io, "x", 1), -1);
	ck_assert_int_eq(errno, ECONNRESET);
	ck_assert_int_eq(io_shutdown(&cn.cn_s.e_io), -1);
	ck_assert_uint_eq(io_pending(&cn.cn_s.e_io), 0);
	conn_free(&cn);
}
END_TEST

/* A client asking to renegotiate (TLS 1.2) is told no, and gives up. */
START_TEST(test_renegotiation_refused)
{
	struct conn	 cn = conn_raw(server_abc(NULL, NULL),
			    raw_client_ctx(TLS1_2_VERSION, TLS1_2_VERSION));
	struct end	*s = &cn.cn_s, *c = &cn.cn_c;
	long long	 deadline = now_ms() + DEADLINE_MS;
	char		 buf[16];
	int		 ret;

	conn_start(&cn, NULL, "a.test");
	handshake_ok(s, c);
	ck_assert_int_eq(SSL_renegotiate(c->e_ssl), 1);
	while (c->e_state != -1 || s->e_state != -1) {
		ck_assert_msg(now_ms() < deadline, "renegotiation hangs");
		if (c->e_state != -1) {
			ck_assert_int_ne(ret = SSL_do_handshake(c->e_ssl), 1);
			if (end_raw_wait(c, ret) == -1)
				c->e_state = -1;
		}
		if (s->e_state != -1) {
			/* No byte, and no clean end either. */
			ck_assert_int_eq(io_read(&s->e_io, buf, sizeof(buf)),
			    -1);
			if (errno != EAGAIN) {
				s->e_state = -1;
				s->e_errno = errno;
			}
		}
		wait2(s->e_fd, POLLIN, c->e_fd, c->e_want, 10);
	}
	ck_assert_str_eq(c->e_why, "no renegotiation");
	/* The client's fatal alert ends the server's stream. */
	ck_assert_int_eq(s->e_errno, EPROTO);
	ck_assert_str_eq(io_tls_error(&s->e_io),
	    "sslv3 alert handshake failure");
	conn_free(&cn);
}
END_TEST

/* A plain client reads what the server sent (and its tickets first). */
static int
raw_read(struct end *c, char *buf, int len)
{
	long long	deadline = now_ms() + DEADLINE_MS;
	int		ret;

	while ((ret = SSL_read(c->e_ssl, buf, len)) <= 0) {
		ck_assert_int_eq(end_raw_wait(c, ret), 0);
		ck_assert_msg(now_ms() < deadline, "read timed out");
		wait2(c->e_fd, c->e_want, -1, 0, 10);
	}
	return ret;
}

/*
 * A second connection resumes the first one's session: a TLS 1.3 ticket
 * (loop 0), a TLS 1.2 ticket (1), a TLS 1.2 session id from the cache
 * (2), with SNI to the third pair (3, TLS 1.3).
 */
START_TEST(test_resumption)
{
	static const int	 maxv[] = { 0, TLS1_2_VERSION,
				    TLS1_2_VERSION, 0 };
	static const char	*sni[] = { "a.test", "a.test", "a.test",
				    "c.test" };
	struct conn		 cn = conn_raw(server_abc(NULL, NULL),
			    raw_client_ctx(TLS1_2_VERSION, maxv[_i]));
	SSL_SESSION		*sess = NULL;
	char			 buf[16];
	int			 round;

	if (_i == 2)
		SSL_CTX_set_options(cn.cn_ctx, SSL_OP_NO_TICKET);
	for (round = 0; round < 2; round++) {
		conn_start(&cn, NULL, sni[_i]);
		if (sess != NULL)
			ck_assert_int_eq(SSL_set_session(cn.cn_c.e_ssl, sess),
			    1);
		handshake_ok(&cn.cn_s, &cn.cn_c);
		ck_assert_int_eq(io_tls_resumed(&cn.cn_s.e_io), round == 1);
		ck_assert_int_eq(SSL_session_reused(cn.cn_c.e_ssl), round == 1);
		ck_assert_int_eq(io_write(&cn.cn_s.e_io, "r", 1), 1);
		ck_assert_int_eq(raw_read(&cn.cn_c, buf, sizeof(buf)), 1);
		/*
		 * Clean ends: OpenSSL forgets a session whose connection
		 * was freed before its close_notify (on either side).
		 */
		ck_assert_int_eq(io_shutdown(&cn.cn_s.e_io), 0);
		ck_assert_int_ge(SSL_shutdown(cn.cn_c.e_ssl), 0);
		if (round == 0) {
			ck_assert_ptr_nonnull(sess =
			    SSL_get1_session(cn.cn_c.e_ssl));
			ck_assert_int_eq(SSL_SESSION_is_resumable(sess), 1);
		}
		conn_end(&cn);
	}
	SSL_SESSION_free(sess);
	conn_free(&cn);
}
END_TEST

/*
 * The config (and its tls_server) may go while sessions started on it
 * go on: a reload. The server is freed before the client's hello, whose
 * SNI still moves the connection to another pair.
 */
START_TEST(test_sessions_outlive_the_server)
{
	struct conn	cn = conn_raw(server_abc("h2", NULL),
			    raw_client_ctx(TLS1_2_VERSION, 0));
	struct end	s2;
	char		name[64], buf[16];
	int		sv2[2];

	conn_start(&cn, NULL, "c.test");
	socket_pair(sv2);
	end_server(&s2, sv2[0], cn.cn_ts);
	tls_server_free(cn.cn_ts);
	cn.cn_ts = NULL;
	ck_assert_int_eq(SSL_set_alpn_protos(cn.cn_c.e_ssl,
	    (const unsigned char *)"\x02h2", 3), 0);
	handshake_ok(&cn.cn_s, &cn.cn_c);
	peer_cn(cn.cn_c.e_ssl, name, sizeof(name));
	ck_assert_str_eq(name, "c.test");
	ck_assert_str_eq(io_tls_alpn(&cn.cn_s.e_io), "h2");
	ck_assert_int_eq(io_write(&cn.cn_s.e_io, "still", 5), 5);
	ck_assert_int_eq(raw_read(&cn.cn_c, buf, sizeof(buf)), 5);
	conn_free(&cn);
	/* The last session holds the last reference. */
	end_close(&s2);
	close(sv2[1]);
}
END_TEST

/* --- resets over TCP ------------------------------------------------------ */

static void
kernel_setup(void)
{
	testutil_netns();
}

/* A TCP connection on loopback: sv[0] accepted, sv[1] connected. */
static void
tcp_pair(int sv[2])
{
	struct sockaddr_in	sin = { .sin_family = AF_INET };
	socklen_t		len = sizeof(sin);
	int			lfd;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_ne(lfd = socket(AF_INET, SOCK_STREAM, 0), -1);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(listen(lfd, 1), 0);
	ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&sin, &len), 0);
	ck_assert_int_ne(sv[1] = socket(AF_INET, SOCK_STREAM, 0), -1);
	ck_assert_int_eq(connect(sv[1], (struct sockaddr *)&sin, len), 0);
	ck_assert_int_ne(sv[0] = accept4(lfd, NULL, NULL, SOCK_NONBLOCK), -1);
	ck_assert_int_ne(fcntl(sv[1], F_SETFL, O_NONBLOCK), -1);
	close(lfd);
}

/* io_close(abort) resets: the peer reads a reset, not an end. */
START_TEST(test_abort_is_a_reset_over_tcp)
{
	struct conn	cn;
	char		buf[64];
	int		sv[2];

	tcp_pair(sv);
	conn_open(&cn, sv);
	ck_assert_int_eq(io_write(&cn.cn_s.e_io, "data", 4), 4);
	ck_assert_int_eq(read_wait(&cn.cn_c.e_io, buf, sizeof(buf)), 4);
	io_close(&cn.cn_c.e_io, true);
	ck_assert_int_eq(read_wait(&cn.cn_s.e_io, buf, sizeof(buf)), -1);
	ck_assert_int_eq(errno, ECONNRESET);
	ck_assert_str_eq(io_tls_error(&cn.cn_s.e_io),
	    "Connection reset by peer");
	conn_free(&cn);
}
END_TEST

/* A TCP FIN alone, over a real TCP connection. */
START_TEST(test_tcp_fin_without_close_notify)
{
	struct conn	cn;
	char		buf[64];
	int		sv[2];

	tcp_pair(sv);
	conn_open(&cn, sv);
	ck_assert_int_eq(shutdown(cn.cn_s.e_fd, SHUT_WR), 0);
	ck_assert_int_eq(read_wait(&cn.cn_c.e_io, buf, sizeof(buf)), -1);
	ck_assert_int_eq(errno, ECONNRESET);
	ck_assert_str_eq(io_tls_error(&cn.cn_c.e_io),
	    "unexpected eof while reading");
	conn_free(&cn);
}
END_TEST

/* --- memory --------------------------------------------------------------- */

/*
 * What an idle, established server-side session holds on the heap once
 * its record buffers are released: IDLE_SESSIONS handshakes, the client
 * ends closed, the heap compared before and after. Printed; the bound
 * asserted only says the 2 x 16 KiB record buffers are not kept.
 */
START_TEST(test_idle_session_memory)
{
	struct tls_server	*ts = server_abc(NULL, NULL);
	struct tls_client	*tc = client_new(false, NULL, "a.test", NULL,
				    NULL);
	struct rlimit		 rl;
	struct mallinfo2	 before, after;
	struct end		*s, c;
	long long		 delta;
	int			 sv[2], i;

	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_cur < IDLE_SESSIONS + 64) {
		rl.rlim_cur = rl.rlim_max < IDLE_SESSIONS + 64 ?
		    rl.rlim_max : IDLE_SESSIONS + 64;
		ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	}
	ck_assert_uint_ge(rl.rlim_cur, IDLE_SESSIONS + 64);
	ck_assert_ptr_nonnull(s = calloc(IDLE_SESSIONS, sizeof(*s)));

	/* One first, so that what OpenSSL sets up once is not counted. */
	socket_pair(sv);
	end_server(&s[0], sv[0], ts);
	end_client(&c, sv[1], tc, NULL);
	handshake_ok(&s[0], &c);
	end_close(&c);
	end_close(&s[0]);

	malloc_trim(0);
	before = mallinfo2();
	for (i = 0; i < IDLE_SESSIONS; i++) {
		socket_pair(sv);
		end_server(&s[i], sv[0], ts);
		end_client(&c, sv[1], tc, NULL);
		handshake_ok(&s[i], &c);
		end_close(&c);
	}
	after = mallinfo2();
	delta = (long long)after.uordblks - (long long)before.uordblks;
	for (i = 0; i < IDLE_SESSIONS; i++)
		end_close(&s[i]);
	free(s);
	if (delta <= 0)
		fprintf(stderr, "check_tls: idle TLS session: not measurable "
		    "with this allocator (a sanitizer's?)\n");
	else {
		fprintf(stderr, "check_tls: idle TLS session (server side, "
		    "TLS 1.3, P-256): %lld bytes of heap each, over %d\n",
		    delta / IDLE_SESSIONS, IDLE_SESSIONS);
		ck_assert_int_lt(delta / IDLE_SESSIONS, 16 * KIB);
	}
	tls_server_free(ts);
	tls_client_free(tc);
}
END_TEST

/* --- threads -------------------------------------------------------------- */

#define THREADS		4
#define THREAD_CONNS	16

struct worker_arg {
	struct tls_server	*wa_ts;
	struct tls_client	*wa_tc;
	pthread_barrier_t	*wa_started;
	int			 wa_ok;
};

/*
 * Each thread opens its server ends while the server is alive, waits for
 * the main thread to drop its reference, then runs its handshakes and
 * closes: the last close frees the server, in whichever thread.
 */
static void *
worker_run(void *arg)
{
	struct worker_arg	*wa = arg;
	struct end		 s[THREAD_CONNS], c;
	char			 buf[8];
	int			 sv[THREAD_CONNS][2], i;

	for (i = 0; i < THREAD_CONNS; i++) {
		socket_pair(sv[i]);
		end_server(&s[i], sv[i][0], wa->wa_ts);
	}
	pthread_barrier_wait(wa->wa_started);	/* the owner lets go */
	pthread_barrier_wait(wa->wa_started);
	for (i = 0; i < THREAD_CONNS; i++) {
		end_client(&c, sv[i][1], wa->wa_tc, NULL);
		handshake_ok(&s[i], &c);
		ck_assert_int_eq(io_write(&s[i].e_io, "t", 1), 1);
		ck_assert_int_eq(read_wait(&c.e_io, buf, sizeof(buf)), 1);
		end_close(&c);
		end_close(&s[i]);
		wa->wa_ok++;
	}
	return NULL;
}

START_TEST(test_one_server_many_threads)
{
	struct tls_server	*ts = server_abc("h2", pki.ca);
	struct tls_client	*tc = client_new(true, pki.ca, "x.b.test",
				    pki.cl_crt, pki.cl_key);
	struct worker_arg	 wa[THREADS];
	pthread_barrier_t	 started;
	pthread_t		 t[THREADS];
	int			 i;

	ck_assert_int_eq(pthread_barrier_init(&started, NULL, THREADS + 1), 0);
	for (i = 0; i < THREADS; i++) {
		wa[i] = (struct worker_arg){ ts, tc, &started, 0 };
		ck_assert_int_eq(pthread_create(&t[i], NULL, worker_run,
		    &wa[i]), 0);
	}
	pthread_barrier_wait(&started);
	tls_server_free(ts);
	pthread_barrier_wait(&started);
	for (i = 0; i < THREADS; i++) {
		ck_assert_int_eq(pthread_join(t[i], NULL), 0);
		ck_assert_int_eq(wa[i].wa_ok, THREAD_CONNS);
	}
	pthread_barrier_destroy(&started);
	tls_client_free(tc);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("tls");
	TCase	*tb = tcase_create("builders");
	TCase	*th = tcase_create("handshakes");
	TCase	*ts = tcase_create("stream");
	TCase	*tm = tcase_create("memory and threads");
	TCase	*tk = tcase_create("kernel");
	int	 status;

	/* As the daemon: a write to a closed peer fails, it does not kill. */
	signal(SIGPIPE, SIG_IGN);
	pki_make();

	tcase_add_test(tb, test_builders_succeed);
	tcase_add_loop_test(tb, test_server_builder_failures, 0,
	    sizeof(bad_servers) / sizeof(bad_servers[0]));
	tcase_add_test(tb, test_alpn_name_too_long);
	tcase_add_test(tb, test_server_builder_tells_every_problem);
	tcase_add_test(tb, test_client_builder_failures);
	suite_add_tcase(s, tb);

	tcase_set_timeout(th, 30);
	tcase_add_test(th, test_handshake_ours_both_ways);
	tcase_add_test(th, test_info_of_a_raw_side);
	tcase_add_loop_test(th, test_versions_accepted, 0, 2);
	tcase_add_test(th, test_tls11_refused);
	tcase_add_loop_test(th, test_server_settings, 0,
	    sizeof(setting_cases) / sizeof(setting_cases[0]));
	tcase_add_loop_test(th, test_sni_picks_the_certificate, 0,
	    sizeof(sni_cases) / sizeof(sni_cases[0]));
	tcase_add_test(th, test_sni_exact_before_wildcard);
	tcase_add_test(th, test_client_verifies_wildcard);
	tcase_add_loop_test(th, test_alpn_selection, 0,
	    sizeof(alpn_cases) / sizeof(alpn_cases[0]));
	tcase_add_test(th, test_mtls_accepted);
	tcase_add_test(th, test_mtls_refused_without_certificate);
	tcase_add_loop_test(th, test_verification_refused, 0,
	    sizeof(refusals) / sizeof(refusals[0]));
	tcase_add_test(th, test_client_ip_address);
	tcase_add_loop_test(th, test_client_sni_sent, 0, 3);
	tcase_add_test(th, test_client_verify_needs_a_name);
	tcase_add_test(th, test_renegotiation_refused);
	tcase_add_loop_test(th, test_resumption, 0, 4);
	tcase_add_test(th, test_sessions_outlive_the_server);
	suite_add_tcase(s, th);

	tcase_set_timeout(ts, 30);
	tcase_add_test(ts, test_data_both_ways);
	tcase_add_loop_test(ts, test_pending_drained, 0, 2);
	tcase_add_test(ts, test_close_notify_is_a_clean_end);
	tcase_add_test(ts, test_fin_without_close_notify_is_a_reset);
	suite_add_tcase(s, ts);

	tcase_set_timeout(tm, 120);
	tcase_add_test(tm, test_idle_session_memory);
	tcase_add_test(tm, test_one_server_many_threads);
	suite_add_tcase(s, tm);

	if (testutil_kernel_tests("check_tls", 0)) {
		tcase_set_timeout(tk, 30);
		tcase_add_checked_fixture(tk, kernel_setup, NULL);
		tcase_add_test(tk, test_abort_is_a_reset_over_tcp);
		tcase_add_test(tk, test_tcp_fin_without_close_notify);
		suite_add_tcase(s, tk);
	}
	status = testutil_run(srunner_create(s));
	pki_remove();
	return status;
}
