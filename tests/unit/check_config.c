/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

#include "autoconf.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <check.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compat.h"
#include "config.h"
#include "testutil.h"

/* The two lines every valid listener needs, after its [NAME] line. */
#define LISTENER_BODY	"listen = 127.0.0.1:8001\nupstream = 127.0.0.1:9001\n"

/* Keys this version knows, given in the other kind of section. */
struct misplaced_key {
	bool		 mk_in_global;	/* given in [global], else in [web] */
	const char	*mk_key;
	const char	*mk_value;
};

static const struct misplaced_key misplaced_keys[] = {
	{ true, "listen", "127.0.0.1:8002" },
	{ true, "upstream", "127.0.0.1:9002" },
	{ true, "backlog", "5" },
	{ true, "idle_timeout", "1m" },
	{ true, "transparent", "tproxy" },
	{ true, "destination_allow", "0.0.0.0/0" },
	{ true, "destination_ports", "80 443" },
	{ false, "workers", "2" },
	{ false, "log_level", "debug" },
	{ false, "user", "nobody" },
	{ false, "splice", "no" },
};

#define BELONGS_IN_GLOBAL	"belongs in [global]"
#define BELONGS_IN_LISTENER	\
	"belongs in a listener section [NAME], not in [global]"

/*
 * A key given a bad value, on line 2 of [global] or line 3 of [web], and
 * the message expected: the whole message when wv_exact, else its start.
 */
enum value_place {
	VP_GLOBAL,		/* [global] line 2 */
	VP_LISTENER,		/* [web] line 3, between listen and upstream */
	VP_LISTEN,		/* [web] line 3, the only listen */
	VP_UPSTREAM,		/* [web] line 3, the only upstream */
};
struct bad_value {
	enum value_place wv_place;
	const char	*wv_key;
	const char	*wv_value;
	bool		 wv_exact;
	const char	*wv_want;
};

static const struct bad_value bad_values[] = {
	{ VP_LISTENER, "backlog", "abc", true,
	    "t.ini:3: backlog: invalid value 'abc': not a number" },
	{ VP_LISTENER, "backlog", "-1", true,
	    "t.ini:3: backlog: invalid value '-1': sign not allowed" },
	{ VP_LISTENER, "backlog", "99999999999999999999", true,
	    "t.ini:3: backlog: invalid value '99999999999999999999': "
	    "number too large" },
	{ VP_LISTENER, "nodelay", "maybe", true,
	    "t.ini:3: nodelay: invalid value 'maybe': "
	    "not a boolean (use yes/no, true/false, on/off or 1/0)" },
	{ VP_LISTENER, "keepalive", "2", true,
	    "t.ini:3: keepalive: invalid value '2': "
	    "not a boolean (use yes/no, true/false, on/off or 1/0)" },
	{ VP_LISTENER, "mptcp_fallback", "perhaps", true,
	    "t.ini:3: mptcp_fallback: invalid value 'perhaps': "
	    "not a boolean (use yes/no, true/false, on/off or 1/0)" },
	{ VP_LISTENER, "rcvbuf", "4x", true,
	    "t.ini:3: rcvbuf: invalid value '4x': "
	    "invalid size suffix (use k, m or g)" },
	/* Buffer sizes are ints in the end: 4g must not wrap around. */
	{ VP_LISTENER, "rcvbuf", "4g", true,
	    "t.ini:3: rcvbuf: invalid value '4g': too large" },
	{ VP_LISTENER, "sndbuf", "1.5m", true,
	    "t.ini:3: sndbuf: invalid value '1.5m': "
	    "invalid size suffix (use k, m or g)" },
	{ VP_LISTENER, "upstream_rcvbuf", "k", true,
	    "t.ini:3: upstream_rcvbuf: invalid value 'k': not a number" },
	{ VP_LISTENER, "upstream_sndbuf", "8g", true,
	    "t.ini:3: upstream_sndbuf: invalid value '8g': too large" },
	{ VP_LISTENER, "connect_timeout", "5x", true,
	    "t.ini:3: connect_timeout: invalid value '5x': "
	    "invalid duration unit (use ms, s, m or h)" },
	{ VP_LISTENER, "connect_timeout", "0", false,
	    "t.ini:3: connect_timeout: invalid value '0': " },
	{ VP_LISTENER, "connect_timeout", "0ms", false,
	    "t.ini:3: connect_timeout: invalid value '0ms': " },
	{ VP_LISTENER, "idle_timeout", "1d", true,
	    "t.ini:3: idle_timeout: invalid value '1d': "
	    "invalid duration unit (use ms, s, m or h)" },
	{ VP_LISTENER, "protocol", "sctp", false,
	    "t.ini:3: protocol: invalid value 'sctp': " },
	{ VP_LISTENER, "upstream_protocol", "udp", false,
	    "t.ini:3: upstream_protocol: invalid value 'udp': " },
	{ VP_GLOBAL, "log_level", "loud", false,
	    "t.ini:2: log_level: invalid value 'loud': " },
	{ VP_GLOBAL, "shutdown_timeout", "soon", true,
	    "t.ini:2: shutdown_timeout: invalid value 'soon': not a number" },
	{ VP_LISTEN, "listen", "127.0.0.1:65536", true,
	    "t.ini:3: listen: invalid value '127.0.0.1:65536': "
	    "port out of range" },
	{ VP_LISTEN, "listen", "127.0.0.1:0", true,
	    "t.ini:3: listen: invalid value '127.0.0.1:0': port out of range" },
	{ VP_LISTEN, "listen", "::1:80", true,
	    "t.ini:3: listen: invalid value '::1:80': "
	    "IPv6 addresses must be in brackets" },
	{ VP_LISTEN, "listen", "[::1]80", true,
	    "t.ini:3: listen: invalid value '[::1]80': missing ':PORT'" },
	{ VP_LISTEN, "listen", "127.0.0.1", true,
	    "t.ini:3: listen: invalid value '127.0.0.1': missing ':PORT'" },
	{ VP_LISTEN, "listen", "foo:80", true,
	    "t.ini:3: listen: invalid value 'foo:80': "
	    "listen address must be an IP address or '*'" },
	{ VP_GLOBAL, "stats_listen", "localhost:9100", true,
	    "t.ini:2: stats_listen: invalid value 'localhost:9100': "
	    "stats_listen address must be an IP address or '*'" },
	{ VP_GLOBAL, "stats_listen", "127.0.0.1", true,
	    "t.ini:2: stats_listen: invalid value '127.0.0.1': "
	    "missing ':PORT'" },
	{ VP_UPSTREAM, "upstream", "*:80", true,
	    "t.ini:3: upstream: invalid value '*:80': upstream cannot be '*'" },
	{ VP_UPSTREAM, "upstream", "1.2.3:80", true,
	    "t.ini:3: upstream: invalid value '1.2.3:80': "
	    "invalid IPv4 address" },
	{ VP_UPSTREAM, "upstream", "bad_host:80", true,
	    "t.ini:3: upstream: invalid value 'bad_host:80': "
	    "invalid character in host name" },
	{ VP_UPSTREAM, "upstream", "127.0.0.1:65536", true,
	    "t.ini:3: upstream: invalid value '127.0.0.1:65536': "
	    "port out of range" },
};

static struct config *load(const char *, struct config_diag *);
static struct config *load_file(const char *, size_t, struct config_diag *,
		    char *, size_t);
static void	diag_dump(const struct config_diag *);
static void	diag_check(const struct config_diag *, const char *, bool,
		    const char *, int);
static void	count_check(const struct config_diag *, size_t, const char *,
		    int);
static struct config *load_ok(const char *, struct config_diag *,
		    const char *, int);
static void	load_fails(const char *, struct config_diag *, const char *,
		    int);
static void	addr_check(const struct config_addr *, int, const char *,
		    unsigned, const char *, int);
static char	*crlf(const char *);
static struct listener_config *listener(struct config *, const char *);
static Suite	*config_suite(void);

/* Some message in d is want (or, with prefix, starts with want). */
#define assert_diag(d, want)						\
	diag_check((d), (want), false, __FILE__, __LINE__)
#define assert_diag_prefix(d, want)					\
	diag_check((d), (want), true, __FILE__, __LINE__)
/* d holds exactly n messages. */
#define assert_diag_count(d, n)						\
	count_check((d), (n), __FILE__, __LINE__)
/* The text loads without a single message. */
#define LOAD_OK(text, d)	load_ok((text), (d), __FILE__, __LINE__)
/* The text is refused with at least one message. */
#define LOAD_FAILS(text, d)	load_fails((text), (d), __FILE__, __LINE__)
#define assert_addr(ca, family, addr, port)				\
	addr_check((ca), (family), (addr), (port), __FILE__, __LINE__)

static struct config *
load(const char *text, struct config_diag *d)
{
	d->cd_msgs = NULL;
	d->cd_count = 0;
	return (config_load_string(text, "t.ini", d));
}

/*
 * Write len bytes of text (NUL bytes included) to a new file and load it
 * with config_load; its name, which the messages carry, goes to path.
 */
static struct config *
load_file(const char *text, size_t len, struct config_diag *d, char *path,
    size_t pathlen)
{
	struct config	*cf;
	const char	*tmp;
	int		 fd;

	if ((tmp = getenv("TMPDIR")) == NULL || *tmp == '\0')
		tmp = "/tmp";
	ck_assert_int_lt(snprintf(path, pathlen, "%s/check_config.XXXXXX",
	    tmp), (int)pathlen);
	fd = mkstemp(path);
	ck_assert_msg(fd != -1, "mkstemp %s: %s", path, strerror(errno));
	ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
	ck_assert_int_eq(close(fd), 0);
	d->cd_msgs = NULL;
	d->cd_count = 0;
	cf = config_load(path, d);
	ck_assert_int_eq(unlink(path), 0);
	return (cf);
}

static void
diag_dump(const struct config_diag *d)
{
	size_t	 i;

	fprintf(stderr, "%zu message(s):\n", d->cd_count);
	for (i = 0; i < d->cd_count; i++)
		fprintf(stderr, "  [%zu] %s\n", i, d->cd_msgs[i]);
}

static void
diag_check(const struct config_diag *d, const char *want, bool prefix,
    const char *file, int line)
{
	size_t	 i;

	for (i = 0; i < d->cd_count; i++) {
		if (prefix ? strncmp(d->cd_msgs[i], want, strlen(want)) == 0 :
		    strcmp(d->cd_msgs[i], want) == 0)
			return;
	}
	diag_dump(d);
	ck_abort_msg("%s:%d: no message %s \"%s\"", file, line,
	    prefix ? "starting with" : "equal to", want);
}

static void
count_check(const struct config_diag *d, size_t n, const char *file, int line)
{
	if (d->cd_count == n)
		return;
	diag_dump(d);
	ck_abort_msg("%s:%d: %zu message(s), want %zu", file, line,
	    d->cd_count, n);
}

static struct config *
load_ok(const char *text, struct config_diag *d, const char *file, int line)
{
	struct config	*cf;

	cf = load(text, d);
	if (cf == NULL || d->cd_count != 0) {
		diag_dump(d);
		ck_abort_msg("%s:%d: config refused or not clean:\n%s", file,
		    line, text);
	}
	return (cf);
}

static void
load_fails(const char *text, struct config_diag *d, const char *file,
    int line)
{
	struct config	*cf;

	cf = load(text, d);
	if (cf != NULL || d->cd_count == 0) {
		diag_dump(d);
		ck_abort_msg("%s:%d: config %s:\n%s", file, line,
		    cf != NULL ? "accepted" : "refused without a message",
		    text);
	}
}

static void
addr_check(const struct config_addr *ca, int family, const char *addr,
    unsigned port, const char *file, int line)
{
	const struct sockaddr_in	*sin;
	const struct sockaddr_in6	*sin6;
	char				 buf[INET6_ADDRSTRLEN];
	const void			*a;
	unsigned			 p;

	ck_assert_msg(ca->ca_ss.ss_family == family,
	    "%s:%d: family %d, want %d", file, line, ca->ca_ss.ss_family,
	    family);
	if (family == AF_INET) {
		sin = (const struct sockaddr_in *)&ca->ca_ss;
		ck_assert_msg(ca->ca_len == sizeof(*sin),
		    "%s:%d: ca_len %u", file, line, (unsigned)ca->ca_len);
		a = &sin->sin_addr;
		p = ntohs(sin->sin_port);
	} else {
		sin6 = (const struct sockaddr_in6 *)&ca->ca_ss;
		ck_assert_msg(ca->ca_len == sizeof(*sin6),
		    "%s:%d: ca_len %u", file, line, (unsigned)ca->ca_len);
		a = &sin6->sin6_addr;
		p = ntohs(sin6->sin6_port);
	}
	ck_assert_ptr_nonnull(inet_ntop(family, a, buf, sizeof(buf)));
	ck_assert_msg(strcmp(buf, addr) == 0, "%s:%d: address %s, want %s",
	    file, line, buf, addr);
	ck_assert_msg(p == port, "%s:%d: port %u, want %u", file, line, p,
	    port);
}

/* The same text with CRLF line endings; the caller frees it. */
static char *
crlf(const char *text)
{
	const char	*s;
	char		*out, *o;

	out = malloc(strlen(text) * 2 + 1);
	ck_assert_ptr_nonnull(out);
	for (s = text, o = out; *s != '\0'; s++) {
		if (*s == '\n')
			*o++ = '\r';
		*o++ = *s;
	}
	*o = '\0';
	return (out);
}

static struct listener_config *
listener(struct config *cf, const char *name)
{
	struct listener_config	*lc;

	TAILQ_FOREACH(lc, &cf->cf_listeners, lc_entry) {
		if (strcmp(lc->lc_name, name) == 0)
			return (lc);
	}
	ck_abort_msg("no listener [%s]", name);
	return (NULL);
}

/*
 * Errors.
 */

START_TEST(test_unknown_key_in_listener)
{
	struct config_diag	 d;

	LOAD_FAILS("[web]\n"
	    "listen = 127.0.0.1:8001\n"
	    "foo = bar\n"
	    "upstream = 127.0.0.1:9001\n", &d);
	assert_diag(&d, "t.ini:3: unknown key 'foo' in [web]");
	assert_diag_count(&d, 1);
	config_diag_free(&d);
}
END_TEST

START_TEST(test_unknown_key_in_global)
{
	struct config_diag	 d;

	LOAD_FAILS("[global]\n"
	    "foo = 1\n"
	    "[web]\n" LISTENER_BODY, &d);
	assert_diag(&d, "t.ini:2: unknown key 'foo' in [global]");
	assert_diag_count(&d, 1);
	config_diag_free(&d);
}
END_TEST

/*
 * The text of a file with key = value in [global] (line 2) or in [web]
 * (line 3, after its listen line).
 */
static void
key_in_section(char *text, size_t size, bool in_global, const char *key,
    const char *value)
{
	if (in_global)
		snprintf(text, size, "[global]\n%s = %s\n[web]\n%s", key,
		    value, LISTENER_BODY);
	else
		snprintf(text, size, "[web]\n"
		    "listen = 127.0.0.1:8001\n"
		    "%s = %s\n"
		    "upstream = 127.0.0.1:9001\n", key, value);
}

/* key = value, in [global] or in [web], is refused with this one message. */
static void
key_fails(bool in_global, const char *key, const char *value,
    const char *msg)
{
	struct config_diag	 d;
	char			 text[512], want[320];

	key_in_section(text, sizeof(text), in_global, key, value);
	snprintf(want, sizeof(want), "t.ini:%d: %s", in_global ? 2 : 3, msg);
	LOAD_FAILS(text, &d);
	assert_diag(&d, want);
	assert_diag_count(&d, 1);
	config_diag_free(&d);
}

/* A known key in the wrong kind of section says where it belongs. */
START_TEST(test_misplaced_key_says_where)
{
	const struct misplaced_key	*mk = &misplaced_keys[_i];
	char				 msg[256];

	snprintf(msg, sizeof(msg), "'%s' %s", mk->mk_key,
	    mk->mk_in_global ? BELONGS_IN_LISTENER : BELONGS_IN_GLOBAL);
	key_fails(mk->mk_in_global, mk->mk_key, mk->mk_value, msg);
}
END_TEST

START_TEST(test_bad_value_is_reported)
{
	const struct bad_value	*bv = &bad_values[_i];
	struct config_diag	 d;
	char			 text[512];

	switch (bv->wv_place) {
	case VP_GLOBAL:
	case VP_LISTENER:
		key_in_section(text, sizeof(text), bv->wv_place == VP_GLOBAL,
		    bv->wv_key, bv->wv_value);
		break;
	case VP_LISTEN:
		snprintf(text, sizeof(text), "[web]\n"
		    "upstream = 127.0.0.1:9001\n"
		    "%s = %s\n", bv->wv_key, bv->wv_value);
		break;
	case VP_UPSTREAM:
		snprintf(text, sizeof(text), "[web]\n"
		    "listen = 127.0.0.1:8001\n"
		    "%s = %s\n", bv->wv_key, bv->wv_value);
		break;
	}
	LOAD_FAILS(text, &d);
	if (bv->wv_exact)
		assert_diag(&d, bv->wv_want);
	else
		assert_diag_prefix(&d, bv->wv_want);
	/* A bad listen or upstream may also count as a missing one. */
	if (bv->wv_place == VP_GLOBAL || bv->wv_place == VP_LISTENER)
		assert_diag_count(&d, 1);
	config_diag_free(&d);
}
END_TEST

START_TEST(test_missing_listen)
{
	struct config_diag	 d;

	LOAD_FAILS("[global]\n"
	    "log_level = info\n"
	    "[web]\n"
	    "upstream = 127.0.0.1:9001\n", &d);
	assert_diag(&d, "t.ini:3: [web]: missing 'listen'");
	assert_diag_count(&d, 1);
	config_diag_free(&d);
}
END_TEST

START_TEST(test_missing_upstream)
{
	struct config_diag	 d;

	LOAD_FAILS("\n"
	    "[web]\n"
	    "listen = 127.0.0.1:8001\n", &d);
	assert_diag(&d, "t.ini:2: [web]: missing 'upstream'");
	assert_diag_count(&d, 1);
	config_diag_free(&d);
}
END_TEST

START_TEST(test_missing_listen_and_upstream)
{
	struct config_diag	 d;

	LOAD_FAILS("[web]\n"
	    "backlog = 5\n", &d);
	assert_diag(&d, "t.ini:1: [web]: missing 'listen'");
	assert_diag(&d, "t.ini:1: [web]: missing 'upstream'");
	assert_diag_count(&d, 2);
	config_diag_free(&d);
}
END_TEST

START_TEST(test_empty_listener_section)
{
	struct config_diag	 d;

	LOAD_FAILS("[a]\n" LISTENER_BODY
	    "[b]\n", &d);
	assert_diag(&d, "t.ini:4: [b]: missing 'listen'");
	assert_diag(&d, "t.ini:4: [b]: missing 'upstream'");
	assert_diag_count(&d, 2);
	config_diag_free(&d);
}
END_TEST

START_TEST(test_duplicate_key)
{
	struct config_diag	 d;

	LOAD_FAILS("[web]\n"
	    "listen = 127.0.0.1:8001\n"
	    "backlog = 5\n"
	    "upstream = 127.0.0.1:9001\n"
	    "backlog = 6\n", &d);
	assert_diag(&d, "t.ini:5: 'backlog' given twice in [web] "
	    "(first on line 3)");
	assert_diag_count(&d, 1);
	config_diag_free(&d);
}
END_TEST

START_TEST(test_duplicate_key_in_global)
{
	struct config_diag	 d;

	LOAD_FAILS("[global]\n"
	    "log_level = info\n"
	    "log_level = debug\n"
	    "[web]\n" LISTENER_BODY, &d);
	assert_diag(&d, "t.ini:3: 'log_level' given twice in [global] "
	    "(first on line 2)");
	assert_diag_count(&d, 1);
	config_diag_free(&d);
}
END_TEST

/* upstream may be repeated; balance, back-off, checks and DNS intervals. */
START_TEST(test_several_upstreams)
{
	struct config_diag	 d;
	struct config		*cf;
	struct listener_config	*lc;

	cf = LOAD_OK("[web]\n"
	    "listen = 127.0.0.1:8001\n"
	    "upstream = 127.0.0.1:9001\n"
	    "\n"
	    "upstream = [::1]:9002\n"
	    "upstream = localhost:9003\n"
	    "balance = leastconn\n"
	    "upstream_backoff = 3s\n"
	    "health_check_interval = 2s\n"
	    "resolve_interval = 0\n", &d);
	lc = TAILQ_FIRST(&cf->cf_listeners);
	ck_assert_int_eq(lc->lc_nupstreams, 3);
	ck_assert_int_eq(lc->lc_upstream_line, 3);
	ck_assert_str_eq(lc->lc_upstreams[0].cu_text, "127.0.0.1:9001");
	ck_assert(!lc->lc_upstreams[0].cu_named);
	ck_assert_int_eq(lc->lc_upstreams[1].cu_line, 5);
	assert_addr(&lc->lc_upstreams[1].cu_addrs[0], AF_INET6, "::1", 9002);
	ck_assert(lc->lc_upstreams[2].cu_named);
	ck_assert_str_eq(lc->lc_upstreams[2].cu_host, "localhost");
	ck_assert_uint_eq(lc->lc_upstreams[2].cu_port, 9003);
	ck_assert_int_ge(lc->lc_upstreams[2].cu_naddrs, 1);
	ck_assert_int_eq(lc->lc_balance, CONFIG_BALANCE_LEASTCONN);
	ck_assert_uint_eq(lc->lc_upstream_backoff, 3000);
	ck_assert_uint_eq(lc->lc_health_check_interval, 2000);
	ck_assert_uint_eq(lc->lc_resolve_interval, 0);
	config_unref(cf);
	config_diag_free(&d);

	cf = LOAD_OK("[web]\n" LISTENER_BODY, &d);
	lc = TAILQ_FIRST(&cf->cf_listeners);
	ck_assert_int_eq(lc->lc_balance, CONFIG_BALANCE_ROUNDROBIN);
	ck_assert_uint_eq(lc->lc_upstream_backoff, 10000);
	ck_assert_uint_eq(lc->lc_health_check_interval, 0);
	ck_assert_uint_eq(lc->lc_resolve_interval, 30000);
	config_unref(cf);
	config_diag_free(&d);

	LOAD_FAILS("[web]\n" LISTENER_BODY "balance = random\n", &d);
	assert_diag(&d, "t.ini:4: balance: invalid value 'random': expected "
	    "'roundrobin', 'first' or 'leastconn'");
	assert_diag_count(&d, 1);
	config_diag_free(&d);
}
END_TEST

/* At most CONFIG_UPSTREAM_ADDRS_MAX addresses in all, said at the line. */
START_TEST(test_too_many_upstream_addresses)
{
	struct config_diag	 d;
	char			 text[8192];
	size_t			 off;
	int			 i;

	off = (size_t)snprintf(text, sizeof(text), "[web]\n"
	    "listen = 127.0.0.1:8001\n");
	for (i = 0; i < CONFIG_UPSTREAM_ADDRS_MAX + 1; i++)
		off += (size_t)snprintf(text + off, sizeof(text) - off,
		    "upstream = 127.0.0.1:%d\n", 9000 + i);
	LOAD_FAILS(text, &d);
	assert_diag_prefix(&d, "t.ini:67: too many upstream addresses in "
	    "[web] (at most 64)");
	assert_diag_count(&d, 1);
	config_diag_free(&d);
}
END_TEST

START_TEST(test_duplicate_section)
{
	struct config_diag	 d;

	LOAD_FAILS("[web]\n"
	    "listen = 127.0.0.1:8001\n"
	    "upstream = 127.0.0.1:9001\n"
	    "[web]\n"
	    "backlog = 5\n", &d);
	assert_diag(&d, "t.ini:4: section [web] defined twice "
	    "(first on line 1)");
	config_diag_free(&d);
}
END_TEST

START_TEST(test_duplicate_global_section)
{
	struct config_diag	 d;

	LOAD_FAILS("[global]\n"
	    "log_level = info\n"
	    "[web]\n" LISTENER_BODY
	    "[global]\n"
	    "shutdown_timeout = 5s\n", &d);
	assert_diag(&d, "t.ini:6: section [global] defined twice "
	    "(first on line 1)");
	config_diag_free(&d);
}
END_TEST

START_TEST(test_same_wildcard_in_two_listeners)
{
	struct config_diag	 d;

	LOAD_FAILS("[a]\n"
	    "listen = *:8001\n"
	    "upstream = 127.0.0.1:9001\n"
	    "[b]\n"
	    "listen = *:8001\n"
	    "upstream = 127.0.0.1:9002\n", &d);
	assert_diag(&d, "t.ini:5: listen address '*:8001' is already used by "
	    "[a] on line 2");
	assert_diag_count(&d, 1);
	config_diag_free(&d);
}
END_TEST

START_TEST(test_same_ipv4_in_two_listeners)
{
	struct config_diag	 d;

	LOAD_FAILS("[a]\n"
	    "listen = 127.0.0.1:8001\n"
	    "upstream = 127.0.0.1:9001\n"
	    "\n"
	    "[b]\n"
	    "listen = 127.0.0.2:8001\n"
	    "listen = 127.0.0.1:8001\n"
	    "upstream = 127.0.0.1:9002\n", &d);
	assert_diag(&d, "t.ini:7: listen address '127.0.0.1:8001' is already "
	    "used by [a] on line 2");
	assert_diag_count(&d, 1);
	config_diag_free(&d);
}
END_TEST

START_TEST(test_same_ipv6_in_two_listeners)
{
	struct config_diag	 d;

	LOAD_FAILS("[a]\n"
	    "listen = [::1]:8001\n"
	    "upstream = 127.0.0.1:9001\n"
	    "[b]\n"
	    "listen = [::1]:8001\n"
	    "upstream = 127.0.0.1:9002\n", &d);
	assert_diag(&d, "t.ini:5: listen address '[::1]:8001' is already used "
	    "by [a] on line 2");
	assert_diag_count(&d, 1);
	config_diag_free(&d);
}
END_TEST

/*
 * "*:PORT" binds [::] with IPV6_V6ONLY off, which takes the IPv4 addresses
 * on that port too: bind(2) would fail at start-up.
 */
START_TEST(test_wildcard_overlaps_ipv4)
{
	struct config_diag	 d;

	LOAD_FAILS("[a]\n"
	    "listen = *:8001\n"
	    "upstream = 127.0.0.1:9001\n"
	    "[b]\n"
	    "listen = 0.0.0.0:8001\n"
	    "upstream = 127.0.0.1:9002\n", &d);
	assert_diag(&d, "t.ini:5: listen address '0.0.0.0:8001' overlaps "
	    "'*:8001' of [a] on line 2");
	assert_diag_count(&d, 1);
	config_diag_free(&d);

	LOAD_FAILS("[a]\n"
	    "listen = *:8001\n"
	    "upstream = 127.0.0.1:9001\n"
	    "[b]\n"
	    "listen = 127.0.0.1:8001\n"
	    "upstream = 127.0.0.1:9002\n", &d);
	assert_diag(&d, "t.ini:5: listen address '127.0.0.1:8001' overlaps "
	    "'*:8001' of [a] on line 2");
	assert_diag_count(&d, 1);
	config_diag_free(&d);

	LOAD_FAILS("[a]\n"
	    "listen = [::]:8001\n"
	    "upstream = 127.0.0.1:9001\n"
	    "[b]\n"
	    "listen = *:8001\n"
	    "upstream = 127.0.0.1:9002\n", &d);
	assert_diag(&d, "t.ini:5: listen address '*:8001' overlaps "
	    "'[::]:8001' of [a] on line 2");
	assert_diag_count(&d, 1);
	config_diag_free(&d);
}
END_TEST

/* [::] without dual-stack leaves the IPv4 wildcard free. */
START_TEST(test_ipv6_any_and_ipv4_any_coexist)
{
	struct config_diag	 d;
	struct config		*cf;

	cf = LOAD_OK("[a]\n"
	    "listen = [::]:8001\n"
	    "upstream = 127.0.0.1:9001\n"
	    "[b]\n"
	    "listen = 0.0.0.0:8001\n"
	    "upstream = 127.0.0.1:9002\n", &d);
	config_unref(cf);
	config_diag_free(&d);
}
END_TEST

/* TCP and MPTCP listeners share the port space. */
START_TEST(test_same_address_tcp_and_mptcp)
{
	struct config_diag	 d;

	LOAD_FAILS("[a]\n"
	    "listen = 127.0.0.1:8001\n"
	    "protocol = tcp\n"
	    "upstream = 127.0.0.1:9001\n"
	    "[b]\n"
	    "listen = 127.0.0.1:8001\n"
	    "upstream = 127.0.0.1:9002\n", &d);
	assert_diag(&d, "t.ini:6: listen address '127.0.0.1:8001' is already "
	    "used by [a] on line 2");
	assert_diag_count(&d, 1);
	config_diag_free(&d);
}
END_TEST

START_TEST(test_same_listen_twice_in_one_listener)
{
	struct config_diag	 d;

	LOAD_FAILS("[web]\n"
	    "listen = 127.0.0.1:8001\n"
	    "listen = 127.0.0.1:8001\n"
	    "upstream = 127.0.0.1:9001\n", &d);
	assert_diag(&d, "t.ini:3: listen address '127.0.0.1:8001' is already "
	    "used by [web] on line 2");
	assert_diag_count(&d, 1);
	config_diag_free(&d);
}
END_TEST

/*
 * Each address is reported once, against the earliest line it collides
 * with, whether that line holds the same address or a wildcard over it.
 */
START_TEST(test_listen_collision_names_earliest_line)
{
	struct config_diag	 d;

	LOAD_FAILS("[a]\n"					/* 1 */
	    "listen = 127.0.0.1:8001\n"			/* 2 */
	    "listen = [::1]:8002\n"				/* 3 */
	    "upstream = 127.0.0.1:9001\n"			/* 4 */
	    "[b]\n"						/* 5 */
	    "listen = *:8001\n"				/* 6 */
	    "listen = [::]:8002\n"				/* 7 */
	    "listen = 0.0.0.0:8003\n"				/* 8 */
	    "upstream = 127.0.0.1:9001\n"			/* 9 */
	    "[c]\n"						/* 10 */
	    "listen = 127.0.0.1:8001\n"			/* 11 */
	    "listen = [::1]:8002\n"				/* 12 */
	    "listen = 127.0.0.1:8003\n"			/* 13 */
	    "listen = *:8003\n"				/* 14 */
	    "upstream = 127.0.0.1:9001\n", &d);
	assert_diag(&d, "t.ini:6: listen address '*:8001' overlaps "
	    "'127.0.0.1:8001' of [a] on line 2");
	assert_diag(&d, "t.ini:7: listen address '[::]:8002' overlaps "
	    "'[::1]:8002' of [a] on line 3");
	assert_diag(&d, "t.ini:11: listen address '127.0.0.1:8001' is already "
	    "used by [a] on line 2");
	assert_diag(&d, "t.ini:12: listen address '[::1]:8002' is already "
	    "used by [a] on line 3");
	assert_diag(&d, "t.ini:13: listen address '127.0.0.1:8003' overlaps "
	    "'0.0.0.0:8003' of [b] on line 8");
	assert_diag(&d, "t.ini:14: listen address '*:8003' overlaps "
	    "'0.0.0.0:8003' of [b] on line 8");
	assert_diag_count(&d, 6);
	config_diag_free(&d);
}
END_TEST

START_TEST(test_same_address_other_port_is_fine)
{
	struct config_diag	 d;
	struct config		*cf;

	cf = LOAD_OK("[a]\n"
	    "listen = *:8001\n"
	    "listen = 127.0.0.1:8003\n"
	    "upstream = 127.0.0.1:9001\n"
	    "[b]\n"
	    "listen = *:8002\n"
	    "listen = 127.0.0.1:8004\n"
	    "upstream = 127.0.0.1:9001\n", &d);
	ck_assert_int_eq(cf->cf_nlisteners, 2);
	config_unref(cf);
	config_diag_free(&d);
}
END_TEST

START_TEST(test_syntax_error)
{
	struct config_diag	 d;

	LOAD_FAILS("[web]\n"
	    "listen = 127.0.0.1:8001\n"
	    "this is not ini\n"
	    "upstream = 127.0.0.1:9001\n", &d);
	assert_diag(&d, "t.ini:3: syntax error: expected '[section]' or "
	    "'key = value'");
	assert_diag_count(&d, 1);
	config_diag_free(&d);
}
END_TEST

START_TEST(test_key_outside_section)
{
	struct config_diag	 d;

	LOAD_FAILS("; a comment first\n"
	    "backlog = 5\n"
	    "[web]\n" LISTENER_BODY, &d);
	assert_diag(&d, "t.ini:2: 'backlog' outside of any section");
	assert_diag_count(&d, 1);
	config_diag_free(&d);
}
END_TEST

START_TEST(test_invalid_section_name)
{
	static const char *const names[] = {
		"bad name", "we/b", "web!", "caf\xc3\xa9",
		/* 64 characters, one too many */
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	};
	struct config_diag	 d;
	char			 text[512], want[256];
	size_t			 i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(text, sizeof(text), "[global]\n[%s]\n%s", names[i],
		    LISTENER_BODY);
		snprintf(want, sizeof(want),
		    "t.ini:2: invalid section name '%s': ", names[i]);
		LOAD_FAILS(text, &d);
		assert_diag_prefix(&d, want);
		config_diag_free(&d);
	}
}
END_TEST

START_TEST(test_valid_section_names)
{
	struct config_diag	 d;
	struct config		*cf;
	/* 63 characters, the longest allowed */
	const char		*long_name =
				    "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
				    "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
	char			 text[512];

	ck_assert_uint_eq(strlen(long_name), 63);
	snprintf(text, sizeof(text),
	    "[Web-1.a_b9]\n"
	    "listen = 127.0.0.1:8001\n"
	    "upstream = 127.0.0.1:9001\n"
	    "[%s]\n"
	    "listen = 127.0.0.1:8002\n"
	    "upstream = 127.0.0.1:9001\n", long_name);
	cf = LOAD_OK(text, &d);
	ck_assert_int_eq(listener(cf, "Web-1.a_b9")->lc_line, 1);
	ck_assert_int_eq(listener(cf, long_name)->lc_line, 4);
	config_unref(cf);
	config_diag_free(&d);
}
END_TEST

START_TEST(test_no_listener)
{
	static const char *const texts[] = {
		"",
		"\n; only a comment\n",
		"[global]\nlog_level = debug\n",
	};
	struct config_diag	 d;
	size_t			 i;

	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		LOAD_FAILS(texts[i], &d);
		assert_diag_prefix(&d, "t.ini: no listener defined");
		assert_diag_count(&d, 1);
		config_diag_free(&d);
	}
}
END_TEST

/*
 * The TLS keys: each tls_key goes with the tls_cert before it, the others
 * need the key that turns their side on, and every problem is on its line.
 */
START_TEST(test_tls_keys_need_their_partner)
{
	struct config_diag	 d;

	LOAD_FAILS("[web]\n"					/* 1 */
	    LISTENER_BODY					/* 2, 3 */
	    "tls_key = a.key\n"				/* 4 */
	    "tls_client_ca = ca.pem\n"				/* 5 */
	    "tls_alpn = h2\n"					/* 6 */
	    "upstream_tls_sni = example.org\n"			/* 7 */
	    "upstream_tls_verify = maybe\n", &d);		/* 8 */
	assert_diag(&d, "t.ini:4: tls_key: no 'tls_cert' before it that it "
	    "could go with (each tls_key follows its tls_cert)");
	assert_diag(&d, "t.ini:5: 'tls_client_ca' needs 'tls_cert' in [web]");
	assert_diag(&d, "t.ini:6: 'tls_alpn' needs 'tls_cert' in [web]");
	assert_diag(&d, "t.ini:7: the upstream_tls_* keys need "
	    "'upstream_tls = yes' in [web]");
	assert_diag_prefix(&d, "t.ini:8: upstream_tls_verify: invalid value "
	    "'maybe': ");
	assert_diag_count(&d, 5);
	config_diag_free(&d);

	LOAD_FAILS("[web]\n" LISTENER_BODY
	    "upstream_tls = yes\n"				/* 4 */
	    "upstream_tls_key = c.key\n", &d);			/* 5 */
	assert_diag(&d, "t.ini:5: 'upstream_tls_key' needs "
	    "'upstream_tls_cert' in [web]");
	assert_diag_count(&d, 1);
	config_diag_free(&d);

	/* A second tls_key for one tls_cert. */
	LOAD_FAILS("[web]\n" LISTENER_BODY
	    "tls_cert = /nonexistent/a.pem\n"			/* 4 */
	    "tls_key = /nonexistent/a.key\n"			/* 5 */
	    "tls_key = /nonexistent/b.key\n", &d);		/* 6 */
	assert_diag(&d, "t.ini:6: tls_key: no 'tls_cert' before it that it "
	    "could go with (each tls_key follows its tls_cert)");
	assert_diag_prefix(&d, "t.ini:4: cannot load certificate "
	    "/nonexistent/a.pem: ");
	config_diag_free(&d);
}
END_TEST

/*
 * The files are read while the configuration is (so -t finds them), and
 * a relative name is taken from the configuration file's directory.
 */
START_TEST(test_tls_files_are_read_at_load)
{
	struct config_diag	 d;
	struct config		*cf;
	char			 path[256], want[512], *slash;
	const char		 text[] = "[web]\n" LISTENER_BODY
	    "tls_cert = no-such.pem\n"				/* 4 */
	    "upstream_tls = yes\n"				/* 5 */
	    "upstream_tls_ca = /nonexistent/ca.pem\n";		/* 6 */

	cf = load_file(text, sizeof(text) - 1, &d, path, sizeof(path));
	ck_assert_ptr_null(cf);
	slash = strrchr(path, '/');
	ck_assert_ptr_nonnull(slash);
	snprintf(want, sizeof(want), "%s:4: cannot load certificate %.*s/"
	    "no-such.pem: ", path, (int)(slash - path), path);
	assert_diag_prefix(&d, want);
	snprintf(want, sizeof(want), "%s:6: ", path);
	assert_diag_prefix(&d, want);
	assert_diag_count(&d, 2);
	config_diag_free(&d);
}
END_TEST

START_TEST(test_all_errors_in_one_load)
{
	struct config_diag	 d;

	LOAD_FAILS("[global]\n"				/* 1 */
	    "log_level = loud\n"			/* 2 */
	    "frobnicate = 1\n"				/* 3 */
	    "\n"					/* 4 */
	    "[web]\n"					/* 5 */
	    "listen = 127.0.0.1:8001\n"			/* 6 */
	    "backlog = abc\n"				/* 7 */
	    "upstream = 127.0.0.1:9001\n"		/* 8 */
	    "nodelay = maybe\n"				/* 9 */
	    "[api]\n"					/* 10 */
	    "listen = 127.0.0.1:8002\n"			/* 11 */
	    "this is not ini\n"				/* 12 */
	    "transparent = sideways\n", &d);		/* 13 */
	assert_diag_prefix(&d, "t.ini:2: log_level: invalid value 'loud': ");
	assert_diag(&d, "t.ini:3: unknown key 'frobnicate' in [global]");
	assert_diag(&d, "t.ini:7: backlog: invalid value 'abc': not a number");
	assert_diag(&d, "t.ini:9: nodelay: invalid value 'maybe': "
	    "not a boolean (use yes/no, true/false, on/off or 1/0)");
	assert_diag(&d, "t.ini:12: syntax error: expected '[section]' or "
	    "'key = value'");
	assert_diag(&d, "t.ini:13: transparent: invalid value 'sideways': "
	    "expected 'tproxy', 'redirect' or 'no'");
	assert_diag(&d, "t.ini:10: [api]: missing 'upstream'");
	assert_diag_count(&d, 7);
	config_diag_free(&d);
}
END_TEST

/*
 * Problems come in line order, whichever check found them; a problem of
 * the whole file (no line) comes before them.
 */
START_TEST(test_problems_in_line_order)
{
	static const char *const want[] = {
		"t.ini:2: log_level: invalid value 'loud': ",
		"t.ini:6: [b]: missing 'upstream'",
		"t.ini:7: listen address '127.0.0.1:8001' is already used by "
		    "[a] on line 4",
		"t.ini:8: backlog: invalid value 'abc': not a number",
		"t.ini:9: [c]: missing 'listen'",
		"t.ini:9: [c]: missing 'upstream'",
		"t.ini:10: syntax error: expected '[section]' or 'key = value'",
	};
	struct config_diag	 d;
	size_t			 i;

	LOAD_FAILS("[global]\n"				/* 1 */
	    "log_level = loud\n"				/* 2 */
	    "[a]\n"						/* 3 */
	    "listen = 127.0.0.1:8001\n"			/* 4 */
	    "upstream = 127.0.0.1:9001\n"			/* 5 */
	    "[b]\n"						/* 6 */
	    "listen = 127.0.0.1:8001\n"			/* 7 */
	    "backlog = abc\n"					/* 8 */
	    "[c]\n"						/* 9 */
	    "this is not ini\n", &d);				/* 10 */
	assert_diag_count(&d, sizeof(want) / sizeof(want[0]));
	for (i = 0; i < d.cd_count; i++)
		if (strncmp(d.cd_msgs[i], want[i], strlen(want[i])) != 0) {
			diag_dump(&d);
			ck_abort_msg("message %zu is not \"%s...\"", i, want[i]);
		}
	config_diag_free(&d);

	LOAD_FAILS("[global]\n"
	    "log_level = loud\n"
	    "frobnicate = 1\n", &d);
	assert_diag_count(&d, 3);
	ck_assert_str_eq(d.cd_msgs[0], "t.ini: no listener defined: add a "
	    "[NAME] section with 'listen' and 'upstream'");
	ck_assert_str_eq(d.cd_msgs[2], "t.ini:3: unknown key 'frobnicate' "
	    "in [global]");
	config_diag_free(&d);
}
END_TEST

/*
 * Comments, blank lines, indented keys; run with LF (_i == 0) and with
 * CRLF (_i == 1) line endings.
 */
START_TEST(test_line_numbers)
{
	const char *text =
	    "; comment\n"				/* 1 */
	    "# another comment\n"			/* 2 */
	    "\n"					/* 3 */
	    "[web]\n"					/* 4 */
	    "  ; indented comment\n"			/* 5 */
	    "listen = 127.0.0.1:8001\n"			/* 6 */
	    "\n"					/* 7 */
	    "  backlog = abc\n"				/* 8 */
	    "upstream = 127.0.0.1:9001\n"		/* 9 */
	    "\tnodelay = maybe\n"			/* 10 */
	    "   \n"					/* 11 */
	    "# the end\n"				/* 12 */
	    "  foo = 1\n";				/* 13 */
	struct config_diag	 d;
	char			*t;

	t = _i ? crlf(text) : strdup(text);
	ck_assert_ptr_nonnull(t);
	LOAD_FAILS(t, &d);
	assert_diag(&d, "t.ini:8: backlog: invalid value 'abc': not a number");
	assert_diag(&d, "t.ini:10: nodelay: invalid value 'maybe': "
	    "not a boolean (use yes/no, true/false, on/off or 1/0)");
	assert_diag(&d, "t.ini:13: unknown key 'foo' in [web]");
	assert_diag_count(&d, 3);
	config_diag_free(&d);
	free(t);
}
END_TEST

/* A comment longer than a typical line buffer still counts as one line. */
START_TEST(test_line_numbers_after_long_comment)
{
	struct config_diag	 d;
	char			 text[1024];
	char			 comment[401];

	memset(comment, 'x', sizeof(comment) - 1);
	comment[sizeof(comment) - 1] = '\0';
	snprintf(text, sizeof(text), "[web]\n"
	    "; %s\n"
	    "listen = 127.0.0.1:8001\n"
	    "backlog = abc\n"
	    "upstream = 127.0.0.1:9001\n", comment);
	LOAD_FAILS(text, &d);
	assert_diag(&d, "t.ini:4: backlog: invalid value 'abc': not a number");
	assert_diag_count(&d, 1);
	config_diag_free(&d);
}
END_TEST

/*
 * The user and group the test runs as: names that exist on any machine.
 * The caller frees both.
 */
static void
own_names(char **user, char **group)
{
	struct passwd	*pw;
	struct group	*gr;

	ck_assert_ptr_nonnull(pw = getpwuid(getuid()));
	ck_assert_ptr_nonnull(*user = strdup(pw->pw_name));
	ck_assert_ptr_nonnull(gr = getgrgid(getgid()));
	ck_assert_ptr_nonnull(*group = strdup(gr->gr_name));
}

START_TEST(test_user_and_group)
{
	struct config_diag	 d;
	struct config		*cf;
	char			*user, *group, text[512];

	own_names(&user, &group);
	snprintf(text, sizeof(text), "[global]\nuser = %s\ngroup = %s\n"
	    "[web]\nlisten = 127.0.0.1:8001\nupstream = 127.0.0.1:9001\n",
	    user, group);
	cf = LOAD_OK(text, &d);
	ck_assert_str_eq(cf->cf_user, user);
	ck_assert_str_eq(cf->cf_group, group);
	config_unref(cf);
	config_diag_free(&d);

	cf = LOAD_OK("[web]\nlisten = 127.0.0.1:8001\n"
	    "upstream = 127.0.0.1:9001\n", &d);
	ck_assert_str_eq(cf->cf_user, "");
	ck_assert_str_eq(cf->cf_group, "");
	config_unref(cf);
	config_diag_free(&d);

	snprintf(text, sizeof(text), "[global]\ngroup = %s\n"
	    "[web]\nlisten = 127.0.0.1:8001\nupstream = 127.0.0.1:9001\n",
	    group);
	LOAD_FAILS(text, &d);
	assert_diag(&d, "t.ini:2: 'group' needs 'user' in [global]");
	assert_diag_count(&d, 1);
	config_diag_free(&d);

	LOAD_FAILS("[global]\nuser = a b\nuser = c\n"
	    "[web]\nlisten = 127.0.0.1:8001\nupstream = 127.0.0.1:9001\n", &d);
	assert_diag(&d, "t.ini:2: user: invalid value 'a b': "
	    "not a user or group name");
	assert_diag(&d, "t.ini:3: 'user' given twice in [global] "
	    "(first on line 2)");
	config_diag_free(&d);

	/* Only [global] has them. */
	LOAD_FAILS("[web]\nuser = nobody\nlisten = 127.0.0.1:8001\n"
	    "upstream = 127.0.0.1:9001\n", &d);
	assert_diag(&d, "t.ini:2: 'user' " BELONGS_IN_GLOBAL);
	config_diag_free(&d);
	free(user);
	free(group);
}
END_TEST

/* A file with these [global] lines fails with one or two messages. */
static void
global_fails(const char *global, const char *want1, const char *want2)
{
	struct config_diag	 d;
	char			 text[512];

	snprintf(text, sizeof(text), "[global]\n%s[web]\n%s", global,
	    LISTENER_BODY);
	LOAD_FAILS(text, &d);
	assert_diag(&d, want1);
	if (want2 != NULL)
		assert_diag(&d, want2);
	assert_diag_count(&d, want2 != NULL ? 2 : 1);
	config_diag_free(&d);
}

#define NO_USER		"no-such-user-q7x"
#define NO_GROUP	"no-such-group-q7x"

/*
 * -t looks the names up, as the start does: the unit's ExecStartPre= -t
 * must not pass a file whose start then fails.
 */
START_TEST(test_unknown_user_and_group)
{
	char	*user, *group, lines[256];

	ck_assert_ptr_null(getpwnam(NO_USER));
	ck_assert_ptr_null(getgrnam(NO_GROUP));
	own_names(&user, &group);

	global_fails("log_level = info\nuser = " NO_USER "\n",
	    "t.ini:3: user '" NO_USER "' does not exist", NULL);
	snprintf(lines, sizeof(lines), "group = %s\nuser = %s\n", NO_GROUP,
	    user);
	global_fails(lines, "t.ini:2: group '" NO_GROUP "' does not exist",
	    NULL);
	global_fails("user = " NO_USER "\ngroup = " NO_GROUP "\n",
	    "t.ini:2: user '" NO_USER "' does not exist",
	    "t.ini:3: group '" NO_GROUP "' does not exist");
	free(user);
	free(group);
}
END_TEST

START_TEST(test_workers)
{
	struct config_diag	 d;
	struct config		*cf;
	const char		*tail = "[web]\nlisten = 127.0.0.1:8001\n"
				    "upstream = 127.0.0.1:9001\n";
	char			 text[256];

	cf = LOAD_OK(tail, &d);
	ck_assert_int_eq(cf->cf_workers, 1);
	config_unref(cf);
	config_diag_free(&d);

	snprintf(text, sizeof(text), "[global]\nworkers = auto\n%s", tail);
	cf = LOAD_OK(text, &d);
	ck_assert_int_eq(cf->cf_workers, 0);
	config_unref(cf);
	config_diag_free(&d);

	snprintf(text, sizeof(text), "[global]\nworkers = 4\n%s", tail);
	cf = LOAD_OK(text, &d);
	ck_assert_int_eq(cf->cf_workers, 4);
	config_unref(cf);
	config_diag_free(&d);

	snprintf(text, sizeof(text), "[global]\nworkers = 0\n%s", tail);
	LOAD_FAILS(text, &d);
	assert_diag_prefix(&d, "t.ini:2: workers: invalid value '0': ");
	config_diag_free(&d);

	snprintf(text, sizeof(text), "[global]\nworkers = 65\n%s", tail);
	LOAD_FAILS(text, &d);
	assert_diag_prefix(&d, "t.ini:2: workers: invalid value '65': ");
	config_diag_free(&d);

	snprintf(text, sizeof(text), "[global]\nworkers = many\n%s", tail);
	LOAD_FAILS(text, &d);
	assert_diag_prefix(&d, "t.ini:2: workers: invalid value 'many': ");
	config_diag_free(&d);
}
END_TEST

START_TEST(test_utf8_bom_is_skipped)
{
	struct config_diag	 d;
	struct config		*cf;

	cf = LOAD_OK("\xEF\xBB\xBF[web]\n"
	    "listen = 127.0.0.1:8001\n"
	    "upstream = 127.0.0.1:9001\n", &d);
	ck_assert_int_eq(cf->cf_nlisteners, 1);
	config_unref(cf);
	config_diag_free(&d);
	/* Only at the very start: elsewhere those bytes are no key. */
	LOAD_FAILS("[web]\n"
	    "\xEF\xBB\xBFlisten = 127.0.0.1:8001\n"
	    "upstream = 127.0.0.1:9001\n", &d);
	assert_diag_prefix(&d, "t.ini:2: unknown key");
	config_diag_free(&d);
}
END_TEST

START_TEST(test_indented_key_is_not_a_continuation)
{
	struct config_diag	 d;
	struct config		*cf;
	struct listener_config	*lc;
	char			*t;

	t = _i ? crlf("[web]\n"
	    "listen = 127.0.0.1:8001\n"
	    "  backlog = 7\n"
	    "\tupstream = 127.0.0.1:9001\n") : strdup("[web]\n"
	    "listen = 127.0.0.1:8001\n"
	    "  backlog = 7\n"
	    "\tupstream = 127.0.0.1:9001\n");
	ck_assert_ptr_nonnull(t);
	cf = LOAD_OK(t, &d);
	lc = listener(cf, "web");
	ck_assert_int_eq(lc->lc_nlisten, 1);
	ck_assert_str_eq(lc->lc_listen[0].ca_text, "127.0.0.1:8001");
	ck_assert_int_eq(lc->lc_backlog, 7);
	ck_assert_str_eq(lc->lc_upstreams[0].cu_text, "127.0.0.1:9001");
	ck_assert_int_eq(lc->lc_upstreams[0].cu_line, 4);
	config_unref(cf);
	config_diag_free(&d);
	free(t);
}
END_TEST

START_TEST(test_too_many_listen_lines)
{
	struct config_diag	 d;
	char			 text[2048];
	size_t			 off;
	int			 i;

	off = (size_t)snprintf(text, sizeof(text), "[web]\n");
	for (i = 0; i <= CONFIG_LISTEN_MAX; i++)
		off += (size_t)snprintf(text + off, sizeof(text) - off,
		    "listen = 127.0.0.1:%d\n", 8001 + i);
	snprintf(text + off, sizeof(text) - off,
	    "upstream = 127.0.0.1:9001\n");
	LOAD_FAILS(text, &d);
	/* The first listen line is line 2, so the one too many is ... */
	snprintf(text, sizeof(text), "t.ini:%d: ", CONFIG_LISTEN_MAX + 2);
	assert_diag_prefix(&d, text);
	config_diag_free(&d);
}
END_TEST

/*
 * A NUL byte ends a C string: the rest of the line would be dropped
 * without a word. Only a file can hold one (config_load_string cannot).
 */
START_TEST(test_nul_byte_in_line)
{
	static const char text[] = "[a]\n"
	    "listen = 127.0.0.1:2000\0junk\n"
	    "upstream = 127.0.0.1:80\n"
	    "backlog = 5\0\n"
	    "; a comment\0too\n";
	struct config_diag	 d;
	struct config		*cf;
	char			 path[256], want[300];

	cf = load_file(text, sizeof(text) - 1, &d, path, sizeof(path));
	if (cf != NULL)
		diag_dump(&d);
	ck_assert_ptr_null(cf);
	snprintf(want, sizeof(want), "%s:2: NUL byte in line", path);
	assert_diag(&d, want);
	snprintf(want, sizeof(want), "%s:4: NUL byte in line", path);
	assert_diag(&d, want);
	snprintf(want, sizeof(want), "%s:5: NUL byte in line", path);
	assert_diag(&d, want);
	/* The refused listen line leaves [a] without one. */
	snprintf(want, sizeof(want), "%s:1: [a]: missing 'listen'", path);
	assert_diag(&d, want);
	assert_diag_count(&d, 4);
	config_diag_free(&d);
}
END_TEST

START_TEST(test_unreadable_file)
{
	struct config_diag	 d = { NULL, 0 };
	struct config		*cf;

	cf = config_load("no-such-directory/relay.ini", &d);
	ck_assert_ptr_null(cf);
	ck_assert_uint_ge(d.cd_count, 1);
	assert_diag_prefix(&d, "no-such-directory/relay.ini");
	config_diag_free(&d);
}
END_TEST

/* Not "no listener defined": fopen(3) opens a directory for reading. */
START_TEST(test_directory_is_refused)
{
	struct config_diag	 d = { NULL, 0 };
	struct config		*cf;
	const char		*tmp;
	char			 dir[256], want[300];

	if ((tmp = getenv("TMPDIR")) == NULL || *tmp == '\0')
		tmp = "/tmp";
	snprintf(dir, sizeof(dir), "%s/check_config.XXXXXX", tmp);
	ck_assert_ptr_nonnull(mkdtemp(dir));
	cf = config_load(dir, &d);
	ck_assert_int_eq(rmdir(dir), 0);
	ck_assert_ptr_null(cf);
	snprintf(want, sizeof(want), "%s: is a directory", dir);
	assert_diag(&d, want);
	assert_diag_count(&d, 1);
	config_diag_free(&d);
}
END_TEST

/*
 * Valid configurations.
 */

START_TEST(test_defaults)
{
	struct config_diag	 d;
	struct config		*cf;
	struct listener_config	*lc;

	cf = LOAD_OK("[web]\n"
	    "listen = 127.0.0.1:8001\n"
	    "upstream = 127.0.0.1:9001\n", &d);
	ck_assert_uint_eq(cf->cf_refcnt, 1);
	ck_assert_int_eq(cf->cf_log_level, LOG_LVL_INFO);
	ck_assert_uint_eq(cf->cf_shutdown_timeout, 30000);
	ck_assert_int_eq(cf->cf_nlisteners, 1);

	lc = TAILQ_FIRST(&cf->cf_listeners);
	ck_assert_ptr_nonnull(lc);
	ck_assert_ptr_null(TAILQ_NEXT(lc, lc_entry));
	ck_assert_str_eq(lc->lc_name, "web");
	ck_assert_int_eq(lc->lc_line, 1);
	ck_assert_int_eq(lc->lc_nlisten, 1);
	ck_assert_str_eq(lc->lc_listen[0].ca_text, "127.0.0.1:8001");
	ck_assert_int_eq(lc->lc_listen[0].ca_line, 2);
	ck_assert(!lc->lc_listen[0].ca_dualstack);
	assert_addr(&lc->lc_listen[0], AF_INET, "127.0.0.1", 8001);
	ck_assert_int_eq(lc->lc_protocol, IPPROTO_MPTCP);
	ck_assert(!lc->lc_mptcp_fallback);
	ck_assert_int_eq(lc->lc_backlog, 511);
	ck_assert_int_eq(lc->lc_backlog, CONFIG_DEFAULT_BACKLOG);
	ck_assert_int_eq(lc->lc_rcvbuf, 0);
	ck_assert_int_eq(lc->lc_sndbuf, 0);
	ck_assert(lc->lc_nodelay);
	ck_assert(!lc->lc_keepalive);
	ck_assert_str_eq(lc->lc_upstreams[0].cu_text, "127.0.0.1:9001");
	ck_assert_int_eq(lc->lc_upstreams[0].cu_line, 3);
	ck_assert_int_eq(lc->lc_upstreams[0].cu_naddrs, 1);
	assert_addr(&lc->lc_upstreams[0].cu_addrs[0], AF_INET, "127.0.0.1", 9001);
	ck_assert_int_eq(lc->lc_upstream_protocol, IPPROTO_TCP);
	ck_assert_int_eq(lc->lc_upstream_rcvbuf, 0);
	ck_assert_int_eq(lc->lc_upstream_sndbuf, 0);
	ck_assert_uint_eq(lc->lc_connect_timeout, 5000);
	ck_assert_uint_eq(lc->lc_idle_timeout, 3600000);
	ck_assert_uint_eq(lc->lc_handshake_timeout, 10000);
	ck_assert_int_eq(lc->lc_proxy_protocol, 0);
	ck_assert(!lc->lc_accept_proxy);
	ck_assert(acl_empty(&lc->lc_accept_proxy_from));
	ck_assert(acl_empty(&lc->lc_allow));
	ck_assert(acl_empty(&lc->lc_deny));
	ck_assert_uint_eq(lc->lc_max_connections, 0);
	ck_assert_uint_eq(cf->cf_max_connections, 0);

	config_unref(cf);
	config_diag_free(&d);
}
END_TEST

/* The keys of the PROXY protocol, the address lists and the caps. */
START_TEST(test_identity_keys)
{
	struct config_diag	 d;
	struct config		*cf;
	struct listener_config	*lc;
	struct sockaddr_in	 sin = { .sin_family = AF_INET };

	cf = LOAD_OK("[global]\n"
	    "max_connections = 1000\n"
	    "[web]\n" LISTENER_BODY
	    "proxy_protocol = v2\n"
	    "accept_proxy = yes\n"
	    "accept_proxy_from = 10.0.0.10 10.0.0.11\n"
	    "allow = 192.0.2.0/24\n"
	    "allow = 2001:db8::/32 198.51.100.7\n"
	    "deny = 192.0.2.66\n"
	    "max_connections = 50\n"
	    "handshake_timeout = 2500ms\n"
	    "[other]\nlisten = 127.0.0.1:8002\nupstream = 127.0.0.1:9002\n"
	    "proxy_protocol = v1\n", &d);
	ck_assert_uint_eq(cf->cf_max_connections, 1000);
	lc = TAILQ_FIRST(&cf->cf_listeners);
	ck_assert_int_eq(lc->lc_proxy_protocol, 2);
	ck_assert(lc->lc_accept_proxy);
	ck_assert_uint_eq(lc->lc_max_connections, 50);
	ck_assert_uint_eq(lc->lc_handshake_timeout, 2500);
	inet_pton(AF_INET, "10.0.0.11", &sin.sin_addr);
	ck_assert(acl_match(&lc->lc_accept_proxy_from, (struct sockaddr *)&sin));
	/* Repeated allow lines add up; deny wins. */
	inet_pton(AF_INET, "198.51.100.7", &sin.sin_addr);
	ck_assert(acl_permit(&lc->lc_allow, &lc->lc_deny,
	    (struct sockaddr *)&sin));
	inet_pton(AF_INET, "192.0.2.66", &sin.sin_addr);
	ck_assert(!acl_permit(&lc->lc_allow, &lc->lc_deny,
	    (struct sockaddr *)&sin));
	inet_pton(AF_INET, "192.0.2.67", &sin.sin_addr);
	ck_assert(acl_permit(&lc->lc_allow, &lc->lc_deny,
	    (struct sockaddr *)&sin));
	ck_assert_int_eq(TAILQ_NEXT(lc, lc_entry)->lc_proxy_protocol, 1);
	config_unref(cf);
	config_diag_free(&d);

	cf = LOAD_OK("[web]\n" LISTENER_BODY "proxy_protocol = off\n", &d);
	ck_assert_int_eq(TAILQ_FIRST(&cf->cf_listeners)->lc_proxy_protocol, 0);
	config_unref(cf);
	config_diag_free(&d);
}
END_TEST

START_TEST(test_identity_keys_refused)
{
	struct config_diag	d;

	LOAD_FAILS("[web]\n" LISTENER_BODY
	    "proxy_protocol = v3\n"			/* 4 */
	    "allow = 10.0.0.1/8\n"			/* 5 */
	    "deny = banana\n"				/* 6 */
	    "accept_proxy_from = 10.0.0.1\n"		/* 7 */
	    "max_connections = -1\n"			/* 8 */
	    "handshake_timeout = 0\n", &d);		/* 9 */
	assert_diag(&d, "t.ini:4: proxy_protocol: invalid value 'v3': "
	    "expected 'v1', 'v2' or 'off'");
	assert_diag_prefix(&d, "t.ini:5: allow: ");
	assert_diag_prefix(&d, "t.ini:6: deny: ");
	assert_diag(&d, "t.ini:7: 'accept_proxy_from' needs 'accept_proxy = "
	    "yes' in [web]");
	assert_diag_prefix(&d, "t.ini:8: max_connections: invalid value '-1'");
	assert_diag_prefix(&d, "t.ini:9: handshake_timeout: invalid value '0'");
	assert_diag_count(&d, 6);
	config_diag_free(&d);
}
END_TEST

START_TEST(test_stats_listen)
{
	struct config_diag	 d;
	struct config		*cf;

	cf = LOAD_OK("[global]\nlog_level = info\n"
	    "[web]\n" LISTENER_BODY, &d);
	ck_assert_uint_eq(cf->cf_stats_listen.ca_len, 0);
	config_unref(cf);

	cf = LOAD_OK("[global]\nstats_listen = 127.0.0.1:9100\n"
	    "[web]\n" LISTENER_BODY, &d);
	assert_addr(&cf->cf_stats_listen, AF_INET, "127.0.0.1", 9100);
	ck_assert_str_eq(cf->cf_stats_listen.ca_text, "127.0.0.1:9100");
	ck_assert_int_eq(cf->cf_stats_listen.ca_line, 2);
	config_unref(cf);

	cf = LOAD_OK("[global]\nstats_listen = *:9100\n"
	    "[web]\n" LISTENER_BODY, &d);
	ck_assert(cf->cf_stats_listen.ca_dualstack);
	config_unref(cf);

	/* A listener's port is not the endpoint's. */
	LOAD_FAILS("[global]\nstats_listen = *:8001\n"
	    "[web]\n" LISTENER_BODY, &d);
	assert_diag_count(&d, 1);
	assert_diag(&d, "t.ini:2: stats_listen '*:8001' overlaps listen "
	    "address '127.0.0.1:8001' of [web] on line 4");
	config_diag_free(&d);
}
END_TEST

START_TEST(test_every_key_set)
{
	struct config_diag	 d;
	struct config		*cf;
	struct listener_config	*lc;

	cf = LOAD_OK("[global]\n"
	    "log_level = debug\n"
	    "shutdown_timeout = 2m\n"
	    "\n"
	    "[web]\n"
	    "listen = 127.0.0.1:8001\n"
	    "protocol = tcp\n"
	    "mptcp_fallback = yes\n"
	    "backlog = 1024\n"
	    "rcvbuf = 4m\n"
	    "sndbuf = 256k\n"
	    "nodelay = no\n"
	    "keepalive = on\n"
	    "upstream = [::1]:9001\n"
	    "upstream_protocol = mptcp\n"
	    "upstream_rcvbuf = 1m\n"
	    "upstream_sndbuf = 65536\n"
	    "connect_timeout = 500ms\n"
	    "idle_timeout = 90s\n", &d);
	ck_assert_int_eq(cf->cf_log_level, LOG_LVL_DEBUG);
	ck_assert_uint_eq(cf->cf_shutdown_timeout, 120000);
	lc = listener(cf, "web");
	ck_assert_int_eq(lc->lc_line, 5);
	ck_assert_int_eq(lc->lc_protocol, IPPROTO_TCP);
	ck_assert(lc->lc_mptcp_fallback);
	ck_assert_int_eq(lc->lc_backlog, 1024);
	ck_assert_int_eq(lc->lc_rcvbuf, 4194304);
	ck_assert_int_eq(lc->lc_sndbuf, 262144);
	ck_assert(!lc->lc_nodelay);
	ck_assert(lc->lc_keepalive);
	ck_assert_str_eq(lc->lc_upstreams[0].cu_text, "[::1]:9001");
	ck_assert_int_eq(lc->lc_upstreams[0].cu_line, 14);
	ck_assert_int_eq(lc->lc_upstreams[0].cu_naddrs, 1);
	assert_addr(&lc->lc_upstreams[0].cu_addrs[0], AF_INET6, "::1", 9001);
	ck_assert_int_eq(lc->lc_upstream_protocol, IPPROTO_MPTCP);
	ck_assert_int_eq(lc->lc_upstream_rcvbuf, 1048576);
	ck_assert_int_eq(lc->lc_upstream_sndbuf, 65536);
	ck_assert_uint_eq(lc->lc_connect_timeout, 500);
	ck_assert_uint_eq(lc->lc_idle_timeout, 90000);
	config_unref(cf);
	config_diag_free(&d);
}
END_TEST

/*
 * A gateway and a concentrator (README, "MPTCP for a whole network"), and
 * a transparent listener that converts to MPTCP on its own.
 */
START_TEST(test_gateway_and_concentrator)
{
	struct config_diag		 d;
	struct config			*cf;
	struct listener_config		*lc;
	const struct config_upstream	*cu;
	struct sockaddr_in		 sin;

	cf = LOAD_OK("[gw]\n"
	    "listen = *:15001\n"
	    "transparent = tproxy\n"
	    "upstream = 198.18.51.2:4433\n"
	    "upstream_protocol = mptcp\n"
	    "proxy_protocol = v2\n"
	    "[gw-redirect]\n"
	    "listen = *:15002\n"
	    "protocol = tcp\n"
	    "transparent = redirect\n"
	    "upstream = 198.18.51.2:4433\n"
	    "[conc]\n"
	    "listen = *:4433\n"
	    "accept_proxy = yes\n"
	    "accept_proxy_from = 198.18.51.0/24\n"
	    "upstream = destination\n"
	    "destination_allow = 198.18.60.0/24 2001:db8::/32\n"
	    "destination_deny = 198.18.60.9\n"
	    "destination_ports = 80 443\n"
	    "destination_ports = 8000-8099\n"
	    "[direct]\n"
	    "listen = *:15003\n"
	    "transparent = tproxy\n"
	    "upstream = destination\n"
	    "upstream_protocol = mptcp\n"
	    "destination_allow = 0.0.0.0/0\n", &d);
	lc = listener(cf, "gw");
	ck_assert_int_eq(lc->lc_transparent, CONFIG_TRANSPARENT_TPROXY);
	ck_assert_int_eq(lc->lc_transparent_line, 3);
	ck_assert(!lc->lc_upstream_destination);
	ck_assert(!lc->lc_upstreams[0].cu_destination);
	ck_assert_int_eq(lc->lc_dest_line, 0);
	lc = listener(cf, "gw-redirect");
	ck_assert_int_eq(lc->lc_transparent, CONFIG_TRANSPARENT_REDIRECT);
	ck_assert_int_eq(lc->lc_protocol, IPPROTO_TCP);

	lc = listener(cf, "conc");
	ck_assert_int_eq(lc->lc_transparent, CONFIG_TRANSPARENT_NO);
	ck_assert(lc->lc_upstream_destination);
	ck_assert_int_eq(lc->lc_nupstreams, 1);
	cu = &lc->lc_upstreams[0];
	ck_assert(cu->cu_destination);
	ck_assert(!cu->cu_named);
	ck_assert_int_eq(cu->cu_line, 16);
	ck_assert_str_eq(cu->cu_text, "destination");
	/* One address that stands for all: no family, no length. */
	ck_assert_int_eq(cu->cu_naddrs, 1);
	ck_assert_int_eq(cu->cu_addrs[0].ca_ss.ss_family, AF_UNSPEC);
	ck_assert_uint_eq(cu->cu_addrs[0].ca_len, 0);
	ck_assert_str_eq(cu->cu_addrs[0].ca_text, "destination");
	ck_assert_int_eq(lc->lc_dest_line, 17);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(443);
	inet_pton(AF_INET, "198.18.60.2", &sin.sin_addr);
	ck_assert_ptr_null(acl_destination(&lc->lc_dest_allow,
	    &lc->lc_dest_deny, &lc->lc_dest_ports, (struct sockaddr *)&sin));
	sin.sin_port = htons(8099);
	ck_assert_ptr_null(acl_destination(&lc->lc_dest_allow,
	    &lc->lc_dest_deny, &lc->lc_dest_ports, (struct sockaddr *)&sin));
	sin.sin_port = htons(8100);
	ck_assert_str_eq(acl_destination(&lc->lc_dest_allow,
	    &lc->lc_dest_deny, &lc->lc_dest_ports, (struct sockaddr *)&sin),
	    "port not in destination_ports");
	inet_pton(AF_INET, "198.18.60.9", &sin.sin_addr);
	sin.sin_port = htons(80);
	ck_assert_str_eq(acl_destination(&lc->lc_dest_allow,
	    &lc->lc_dest_deny, &lc->lc_dest_ports, (struct sockaddr *)&sin),
	    "in destination_deny");

	lc = listener(cf, "direct");
	ck_assert_int_eq(lc->lc_transparent, CONFIG_TRANSPARENT_TPROXY);
	ck_assert(lc->lc_upstream_destination);
	ck_assert_int_eq(lc->lc_upstream_protocol, IPPROTO_MPTCP);
	ck_assert(acl_ports_empty(&lc->lc_dest_ports));
	config_unref(cf);
	config_diag_free(&d);
}
END_TEST

/* A listener body before its last lines, and what they must give. */
static const struct {
	const char	*dr_body;
	const char	*dr_want;	/* the only message */
} destination_refusals[] = {
	/* Nothing would limit where clients go. */
	{ "transparent = tproxy\n"
	  "upstream = destination\n",
	  "t.ini:4: 'upstream = destination' needs 'destination_allow' in "
	  "[web]: without it any client could reach any address (an open "
	  "proxy)" },
	/* Anyone who writes a PROXY header would choose. */
	{ "accept_proxy = yes\n"
	  "upstream = destination\n"
	  "destination_allow = 198.18.0.0/15\n",
	  "t.ini:4: 'upstream = destination' with 'accept_proxy' needs "
	  "clients the listener knows in [web]: 'tls_client_ca' (a client "
	  "certificate), 'accept_proxy_from' (the addresses that may send "
	  "a header) or 'allow'; else anyone who sends a PROXY header "
	  "chooses the destination (an open proxy)" },
	/* No destination to learn: it would be the listener itself. */
	{ "upstream = destination\n"
	  "destination_allow = 198.18.0.0/15\n",
	  "t.ini:3: 'upstream = destination' needs 'transparent' or "
	  "'accept_proxy = yes' in [web]: nothing else names a destination" },
	{ "transparent = redirect\n"
	  "upstream = 127.0.0.1:9001\n"
	  "upstream = destination\n"
	  "destination_allow = 198.18.0.0/15\n",
	  "t.ini:4: 'upstream = destination' (line 5) cannot be combined "
	  "with other upstream lines in [web]" },
	{ "transparent = redirect\n"
	  "upstream = destination\n"
	  "upstream = destination\n"
	  "destination_allow = 198.18.0.0/15\n",
	  "t.ini:5: 'upstream = destination' (line 4) cannot be combined "
	  "with other upstream lines in [web]" },
	{ "transparent = tproxy\n"
	  "balance = first\n"
	  "upstream = destination\n"
	  "destination_allow = 198.18.0.0/15\n",
	  "t.ini:4: 'balance' does not apply to 'upstream = destination' in "
	  "[web]: each session connects to the one destination its client "
	  "names" },
	{ "transparent = tproxy\n"
	  "upstream = destination\n"
	  "destination_allow = 198.18.0.0/15\n"
	  "health_check_interval = 5s\n",
	  "t.ini:6: 'health_check_interval' does not apply to 'upstream = "
	  "destination' in [web]: each session connects to the one "
	  "destination its client names" },
	{ "transparent = tproxy\n"
	  "resolve_interval = 0\n"
	  "upstream = destination\n"
	  "destination_allow = 198.18.0.0/15\n",
	  "t.ini:4: 'resolve_interval' does not apply to 'upstream = "
	  "destination' in [web]: each session connects to the one "
	  "destination its client names" },
	{ "transparent = tproxy\n"
	  "upstream = destination\n"
	  "upstream_backoff = 1s\n"
	  "destination_allow = 198.18.0.0/15\n",
	  "t.ini:5: 'upstream_backoff' does not apply to 'upstream = "
	  "destination' in [web]: each session connects to the one "
	  "destination its client names" },
	/* The destination keys without a destination to apply them to. */
	{ "upstream = 127.0.0.1:9001\n"
	  "destination_ports = 80\n"
	  "destination_allow = 198.18.0.0/15\n",
	  "t.ini:4: the destination_* keys need 'upstream = destination' in "
	  "[web]" },
	{ "transparent = tproxy\n"
	  "accept_proxy = yes\n"
	  "upstream = 127.0.0.1:9001\n",
	  "t.ini:3: 'transparent' and 'accept_proxy' exclude each other in "
	  "[web]: a transparent listener takes the destination from the "
	  "connection itself" },
	{ "transparent = yes\n"
	  "upstream = 127.0.0.1:9001\n",
	  "t.ini:3: transparent: invalid value 'yes': expected 'tproxy', "
	  "'redirect' or 'no'" },
	{ "transparent = redirect\n"
	  "upstream = destination\n"
	  "destination_allow = 198.18.0.0/15\n"
	  "destination_ports = 80,443\n",
	  "t.ini:6: destination_ports: 80,443: entries are separated by "
	  "spaces, not commas" },
	{ "transparent = redirect\n"
	  "upstream = destination\n"
	  "destination_allow = 198.19.0.0/16\n"
	  "destination_allow = 198.18.0.1/15\n",
	  "t.ini:6: destination_allow: 198.18.0.1/15: host bits set (did you "
	  "mean 198.18.0.0/15?)" },
};

START_TEST(test_destination_refusals)
{
	struct config_diag	 d;
	char			 text[1024];

	snprintf(text, sizeof(text), "[web]\nlisten = 127.0.0.1:8001\n%s",
	    destination_refusals[_i].dr_body);
	LOAD_FAILS(text, &d);
	assert_diag(&d, destination_refusals[_i].dr_want);
	assert_diag_count(&d, 1);
	config_diag_free(&d);
}
END_TEST

/*
 * accept_proxy with allow only: accepted (allow is what the contract
 * names), with a warning naming the line: allow is matched against the
 * address the header claims.
 */
START_TEST(test_destination_allow_only_warns)
{
	struct testutil_capture	 tc;
	struct config_diag	 d;
	struct config		*cf;
	char			*text;

	testutil_capture_start(&tc);
	cf = LOAD_OK("[web]\nlisten = 127.0.0.1:8001\n"
	    "accept_proxy = yes\n"
	    "allow = 198.18.0.0/15\n"
	    "upstream = destination\n"
	    "destination_allow = 198.18.0.0/15\n", &d);
	text = testutil_capture_end(&tc);
	ck_assert_msg(strstr(text, "t.ini:5: [web]: 'upstream = destination' "
	    "with 'accept_proxy' is guarded by 'allow' only, which is matched "
	    "against the address the PROXY header claims") != NULL,
	    "no warning: %s", text);
	free(text);
	config_unref(cf);
	config_diag_free(&d);

	/* With accept_proxy_from as well: nothing to warn about. */
	testutil_capture_start(&tc);
	cf = LOAD_OK("[web]\nlisten = 127.0.0.1:8001\n"
	    "accept_proxy = yes\n"
	    "accept_proxy_from = 198.18.51.0/24\n"
	    "allow = 198.18.0.0/15\n"
	    "upstream = destination\n"
	    "destination_allow = 198.18.0.0/15\n", &d);
	text = testutil_capture_end(&tc);
	ck_assert_msg(strstr(text, "guarded by") == NULL, "warned: %s", text);
	free(text);
	config_unref(cf);
	config_diag_free(&d);
}
END_TEST

/* What authenticates a concentrator's clients: a certificate, or where
 * the header comes from. */
START_TEST(test_concentrator_with_client_certificates)
{
	struct config_diag	 d;
	struct config		*cf;

	/* tls_client_ca needs tls_cert, whose files are read at load. */
	cf = load("[conc]\n"
	    "listen = 127.0.0.1:8001\n"
	    "accept_proxy = yes\n"
	    "tls_client_ca = /nonexistent/ca.pem\n"
	    "upstream = destination\n"
	    "destination_allow = 198.18.0.0/15\n", &d);
	ck_assert_ptr_null(cf);
	/* Refused for its missing files, not as an open proxy. */
	assert_diag(&d, "t.ini:4: 'tls_client_ca' needs 'tls_cert' in "
	    "[conc]");
	assert_diag_count(&d, 1);
	config_diag_free(&d);
}
END_TEST

START_TEST(test_log_levels)
{
	static const struct {
		const char	*name;
		enum log_level	 level;
	} levels[] = {
		{ "error", LOG_LVL_ERROR },
		{ "warning", LOG_LVL_WARNING },
		{ "notice", LOG_LVL_NOTICE },
		{ "info", LOG_LVL_INFO },
		{ "debug", LOG_LVL_DEBUG },
	};
	struct config_diag	 d;
	struct config		*cf;
	char			 text[256];
	size_t			 i;

	for (i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
		snprintf(text, sizeof(text), "[global]\nlog_level = %s\n"
		    "[web]\n%s", levels[i].name, LISTENER_BODY);
		cf = LOAD_OK(text, &d);
		ck_assert_int_eq(cf->cf_log_level, levels[i].level);
		config_unref(cf);
		config_diag_free(&d);
	}
}
END_TEST

START_TEST(test_listen_repeated)
{
	struct config_diag	 d;
	struct config		*cf;
	struct listener_config	*lc;

	cf = LOAD_OK("[web]\n"
	    "listen = 127.0.0.1:8001\n"
	    "listen = [::1]:8001\n"
	    "listen = *:8002\n"
	    "upstream = 127.0.0.1:9001\n", &d);
	lc = listener(cf, "web");
	ck_assert_int_eq(lc->lc_nlisten, 3);

	ck_assert_str_eq(lc->lc_listen[0].ca_text, "127.0.0.1:8001");
	ck_assert_int_eq(lc->lc_listen[0].ca_line, 2);
	ck_assert(!lc->lc_listen[0].ca_dualstack);
	assert_addr(&lc->lc_listen[0], AF_INET, "127.0.0.1", 8001);

	ck_assert_str_eq(lc->lc_listen[1].ca_text, "[::1]:8001");
	ck_assert_int_eq(lc->lc_listen[1].ca_line, 3);
	ck_assert(!lc->lc_listen[1].ca_dualstack);
	assert_addr(&lc->lc_listen[1], AF_INET6, "::1", 8001);

	ck_assert_str_eq(lc->lc_listen[2].ca_text, "*:8002");
	ck_assert_int_eq(lc->lc_listen[2].ca_line, 4);
	ck_assert(lc->lc_listen[2].ca_dualstack);
	assert_addr(&lc->lc_listen[2], AF_INET6, "::", 8002);

	config_unref(cf);
	config_diag_free(&d);
}
END_TEST

START_TEST(test_listen_ipv6_any_is_not_dualstack)
{
	struct config_diag	 d;
	struct config		*cf;
	struct listener_config	*lc;

	cf = LOAD_OK("[web]\n"
	    "listen = [::]:8001\n"
	    "upstream = 127.0.0.1:9001\n", &d);
	lc = listener(cf, "web");
	ck_assert(!lc->lc_listen[0].ca_dualstack);
	assert_addr(&lc->lc_listen[0], AF_INET6, "::", 8001);
	config_unref(cf);
	config_diag_free(&d);
}
END_TEST

START_TEST(test_listeners_in_file_order)
{
	struct config_diag	 d;
	struct config		*cf;
	struct listener_config	*lc;

	cf = LOAD_OK("[global]\n"
	    "[zeta]\n"
	    "listen = 127.0.0.1:8001\n"
	    "upstream = 127.0.0.1:9001\n"
	    "[alpha]\n"
	    "listen = 127.0.0.1:8002\n"
	    "upstream = 127.0.0.1:9002\n"
	    "[mid]\n"
	    "listen = 127.0.0.1:8003\n"
	    "upstream = 127.0.0.1:9003\n", &d);
	ck_assert_int_eq(cf->cf_nlisteners, 3);
	lc = TAILQ_FIRST(&cf->cf_listeners);
	ck_assert_str_eq(lc->lc_name, "zeta");
	ck_assert_int_eq(lc->lc_line, 2);
	lc = TAILQ_NEXT(lc, lc_entry);
	ck_assert_str_eq(lc->lc_name, "alpha");
	ck_assert_int_eq(lc->lc_line, 5);
	assert_addr(&lc->lc_upstreams[0].cu_addrs[0], AF_INET, "127.0.0.1", 9002);
	lc = TAILQ_NEXT(lc, lc_entry);
	ck_assert_str_eq(lc->lc_name, "mid");
	ck_assert_int_eq(lc->lc_line, 8);
	ck_assert_ptr_null(TAILQ_NEXT(lc, lc_entry));
	config_unref(cf);
	config_diag_free(&d);
}
END_TEST

START_TEST(test_upstream_hostname_resolves)
{
	struct config_diag	 d;
	struct config		*cf;
	struct listener_config	*lc;
	const struct config_addr *ca;
	const struct sockaddr_in *sin;
	const struct sockaddr_in6 *sin6;
	int			 i;

	cf = LOAD_OK("[web]\n"
	    "listen = 127.0.0.1:8001\n"
	    "upstream = localhost:8080\n", &d);
	lc = listener(cf, "web");
	ck_assert_str_eq(lc->lc_upstreams[0].cu_text, "localhost:8080");
	ck_assert_int_ge(lc->lc_upstreams[0].cu_naddrs, 1);
	ck_assert_int_le(lc->lc_upstreams[0].cu_naddrs, CONFIG_ADDRS_MAX);
	for (i = 0; i < lc->lc_upstreams[0].cu_naddrs; i++) {
		ca = &lc->lc_upstreams[0].cu_addrs[i];
		if (ca->ca_ss.ss_family == AF_INET) {
			sin = (const struct sockaddr_in *)&ca->ca_ss;
			ck_assert_uint_eq(ntohs(sin->sin_port), 8080);
			ck_assert_uint_eq(ca->ca_len, sizeof(*sin));
		} else {
			ck_assert_int_eq(ca->ca_ss.ss_family, AF_INET6);
			sin6 = (const struct sockaddr_in6 *)&ca->ca_ss;
			ck_assert_uint_eq(ntohs(sin6->sin6_port), 8080);
			ck_assert_uint_eq(ca->ca_len, sizeof(*sin6));
		}
	}
	config_unref(cf);
	config_diag_free(&d);
}
END_TEST

START_TEST(test_idle_timeout_zero_is_never)
{
	struct config_diag	 d;
	struct config		*cf;

	cf = LOAD_OK("[web]\n" LISTENER_BODY
	    "idle_timeout = 0\n", &d);
	ck_assert_uint_eq(listener(cf, "web")->lc_idle_timeout, 0);
	config_unref(cf);
	config_diag_free(&d);
}
END_TEST

START_TEST(test_value_forms)
{
	struct config_diag	 d;
	struct config		*cf;
	struct listener_config	*lc;

	cf = LOAD_OK("[web]\n" LISTENER_BODY
	    "rcvbuf = 4M\n"
	    "sndbuf = 1000\n"
	    "nodelay = OFF\n"
	    "keepalive = True\n"
	    "connect_timeout = 2\n"
	    "idle_timeout = 1h\n", &d);
	lc = listener(cf, "web");
	ck_assert_int_eq(lc->lc_rcvbuf, 4194304);
	ck_assert_int_eq(lc->lc_sndbuf, 1000);
	ck_assert(!lc->lc_nodelay);
	ck_assert(lc->lc_keepalive);
	ck_assert_uint_eq(lc->lc_connect_timeout, 2000);
	ck_assert_uint_eq(lc->lc_idle_timeout, 3600000);
	config_unref(cf);
	config_diag_free(&d);
}
END_TEST

START_TEST(test_comments_and_crlf_in_valid_config)
{
	struct config_diag	 d;
	struct config		*cf;
	struct listener_config	*lc;
	char			*t;

	t = crlf("; relay\n"
	    "# for the web\n"
	    "[global]\n"
	    "log_level = notice\n"
	    "\n"
	    "[web]\n"
	    "listen = *:8001\n"
	    "upstream = 127.0.0.1:9001\n"
	    "backlog = 64\n");
	cf = LOAD_OK(t, &d);
	ck_assert_int_eq(cf->cf_log_level, LOG_LVL_NOTICE);
	lc = listener(cf, "web");
	ck_assert_int_eq(lc->lc_line, 6);
	ck_assert_str_eq(lc->lc_listen[0].ca_text, "*:8001");
	ck_assert_int_eq(lc->lc_listen[0].ca_line, 7);
	ck_assert_str_eq(lc->lc_upstreams[0].cu_text, "127.0.0.1:9001");
	ck_assert_int_eq(lc->lc_backlog, 64);
	config_unref(cf);
	config_diag_free(&d);
	free(t);
}
END_TEST

/*
 * Reference counting and helpers.
 */

START_TEST(test_ref_unref)
{
	struct config_diag	 d;
	struct config		*cf;

	cf = LOAD_OK("[web]\n" LISTENER_BODY, &d);
	config_diag_free(&d);
	ck_assert_uint_eq(cf->cf_refcnt, 1);
	config_ref(cf);
	ck_assert_uint_eq(cf->cf_refcnt, 2);
	config_unref(cf);
	ck_assert_uint_eq(cf->cf_refcnt, 1);
	ck_assert_str_eq(TAILQ_FIRST(&cf->cf_listeners)->lc_name, "web");
	/* Frees it: a leak or a use after free shows under ASan. */
	config_unref(cf);
}
END_TEST

START_TEST(test_diag_free_empty)
{
	struct config_diag	 d = { NULL, 0 };

	config_diag_free(&d);
	config_diag_free(&d);
}
END_TEST

START_TEST(test_protocol_name)
{
	ck_assert_str_eq(config_protocol_name(IPPROTO_MPTCP), "mptcp");
	ck_assert_str_eq(config_protocol_name(IPPROTO_TCP), "tcp");
}
END_TEST

static Suite *
config_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("config");

	tc = tcase_create("errors");
	tcase_add_test(tc, test_unknown_key_in_listener);
	tcase_add_test(tc, test_unknown_key_in_global);
	tcase_add_loop_test(tc, test_misplaced_key_says_where, 0,
	    (int)(sizeof(misplaced_keys) / sizeof(misplaced_keys[0])));
	tcase_add_loop_test(tc, test_bad_value_is_reported, 0,
	    (int)(sizeof(bad_values) / sizeof(bad_values[0])));
	tcase_add_test(tc, test_missing_listen);
	tcase_add_test(tc, test_missing_upstream);
	tcase_add_test(tc, test_missing_listen_and_upstream);
	tcase_add_test(tc, test_empty_listener_section);
	tcase_add_test(tc, test_duplicate_key);
	tcase_add_test(tc, test_duplicate_key_in_global);
	tcase_add_test(tc, test_several_upstreams);
	tcase_add_test(tc, test_too_many_upstream_addresses);
	tcase_add_test(tc, test_duplicate_section);
	tcase_add_test(tc, test_duplicate_global_section);
	tcase_add_test(tc, test_same_wildcard_in_two_listeners);
	tcase_add_test(tc, test_same_ipv4_in_two_listeners);
	tcase_add_test(tc, test_same_ipv6_in_two_listeners);
	tcase_add_test(tc, test_wildcard_overlaps_ipv4);
	tcase_add_test(tc, test_ipv6_any_and_ipv4_any_coexist);
	tcase_add_test(tc, test_same_address_tcp_and_mptcp);
	tcase_add_test(tc, test_same_listen_twice_in_one_listener);
	tcase_add_test(tc, test_same_address_other_port_is_fine);
	tcase_add_test(tc, test_listen_collision_names_earliest_line);
	tcase_add_test(tc, test_syntax_error);
	tcase_add_test(tc, test_key_outside_section);
	tcase_add_test(tc, test_invalid_section_name);
	tcase_add_test(tc, test_no_listener);
	tcase_add_test(tc, test_all_errors_in_one_load);
	tcase_add_test(tc, test_tls_keys_need_their_partner);
	tcase_add_test(tc, test_tls_files_are_read_at_load);
	tcase_add_test(tc, test_problems_in_line_order);
	tcase_add_loop_test(tc, test_line_numbers, 0, 2);
	tcase_add_test(tc, test_line_numbers_after_long_comment);
	tcase_add_test(tc, test_utf8_bom_is_skipped);
	tcase_add_test(tc, test_user_and_group);
	tcase_add_test(tc, test_unknown_user_and_group);
	tcase_add_test(tc, test_workers);
	tcase_add_test(tc, test_too_many_listen_lines);
	tcase_add_test(tc, test_nul_byte_in_line);
	tcase_add_test(tc, test_unreadable_file);
	tcase_add_test(tc, test_directory_is_refused);
	suite_add_tcase(s, tc);

	tc = tcase_create("valid");
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_identity_keys);
	tcase_add_test(tc, test_identity_keys_refused);
	tcase_add_test(tc, test_every_key_set);
	tcase_add_test(tc, test_gateway_and_concentrator);
	tcase_add_loop_test(tc, test_destination_refusals, 0,
	    (int)(sizeof(destination_refusals) /
	    sizeof(destination_refusals[0])));
	tcase_add_test(tc, test_destination_allow_only_warns);
	tcase_add_test(tc, test_concentrator_with_client_certificates);
	tcase_add_test(tc, test_stats_listen);
	tcase_add_test(tc, test_log_levels);
	tcase_add_test(tc, test_listen_repeated);
	tcase_add_test(tc, test_listen_ipv6_any_is_not_dualstack);
	tcase_add_test(tc, test_listeners_in_file_order);
	tcase_add_test(tc, test_upstream_hostname_resolves);
	tcase_add_test(tc, test_idle_timeout_zero_is_never);
	tcase_add_test(tc, test_value_forms);
	tcase_add_test(tc, test_valid_section_names);
	tcase_add_loop_test(tc, test_indented_key_is_not_a_continuation, 0, 2);
	tcase_add_test(tc, test_comments_and_crlf_in_valid_config);
	suite_add_tcase(s, tc);

	tc = tcase_create("lifetime");
	tcase_add_test(tc, test_ref_unref);
	tcase_add_test(tc, test_diag_free_empty);
	tcase_add_test(tc, test_protocol_name);
	suite_add_tcase(s, tc);

	return (s);
}

int
main(void)
{
	SRunner	*sr;
	int	 failed;

	sr = srunner_create(config_suite());
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS);
}
