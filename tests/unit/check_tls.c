/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

/*
 * TLS: building servers and clients, and what is said of each problem
 * (the file, OpenSSL's reason, the configuration line).
 *
 * The certificates are made at run time with OpenSSL into a temporary
 * directory (removed at the end): nothing secret or expiring is
 * committed.
 */

#include "autoconf.h"

#include <sys/stat.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "tls.h"
#include "testutil.h"

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
		pki.empty, pki.garbage,
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
		{ "enc_key", pki.enc_key },
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

int
main(void)
{
	Suite	*s = suite_create("tls");
	TCase	*tb = tcase_create("builders");
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

	status = testutil_run(srunner_create(s));
	pki_remove();
	return status;
}
