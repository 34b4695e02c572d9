/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

#include "autoconf.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <netdb.h>
#include <pwd.h>
#include <search.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "compat.h"
#include "config.h"
#include "log.h"
#include "parse.h"

#define DURATION_DAY	(24ULL * 3600 * 1000)

static int	addr_overlap(const struct config_addr *,
		    const struct config_addr *);
struct key_def;
static const struct key_def *key_find(const struct key_def *, size_t,
		    const char *);

/* How a key's value is parsed and where it is stored. */
enum key_kind {
	KEY_BOOL,		/* bool */
	KEY_SIZE,		/* int, bytes */
	KEY_UINT,		/* int */
	KEY_DURATION,		/* uint64_t, ms */
	KEY_PROTOCOL,		/* int, IPPROTO_* */
	KEY_LOG_LEVEL,		/* enum log_level */
	KEY_NAME,		/* char[CONFIG_NAME_MAX]: a user or group name */
	KEY_WORKERS,		/* int: 1-k_max, or 0 for "auto" */
	KEY_LISTEN,		/* struct config_addr[], repeatable */
	KEY_UPSTREAM,		/* struct config_upstream */
	KEY_PROXY_VERSION,	/* int: 0 (off), 1 or 2 */
	KEY_BALANCE,		/* enum config_balance */
	KEY_ACL,		/* struct acl, repeatable */
	KEY_ADDR,		/* struct config_addr: an address to bind */
	KEY_TLS,		/* the TLS keys: struct config_tls */
	KEY_TRANSPARENT,	/* enum config_transparent */
	KEY_PORTS,		/* struct acl_ports, repeatable */
};

struct key_def {
	const char	*k_name;
	enum key_kind	 k_kind;
	size_t		 k_offset;	/* in struct config or listener_config */
	uint64_t	 k_min;
	uint64_t	 k_max;
};

#define LC(field)	offsetof(struct listener_config, field)
#define CF(field)	offsetof(struct config, field)

static const struct key_def global_keys[] = {
	{ "log_level",		KEY_LOG_LEVEL,	CF(cf_log_level),	0, 0 },
	{ "shutdown_timeout",	KEY_DURATION,	CF(cf_shutdown_timeout),
	    0, DURATION_DAY },
	{ "splice",		KEY_BOOL,	CF(cf_splice),		0, 0 },
	{ "user",		KEY_NAME,	CF(cf_user),		0, 0 },
	{ "workers",		KEY_WORKERS,	CF(cf_workers),
	    1, CONFIG_WORKERS_MAX },
	{ "group",		KEY_NAME,	CF(cf_group),		0, 0 },
	{ "max_connections",	KEY_UINT,	CF(cf_max_connections),
	    0, CONFIG_MAX_CONNECTIONS_MAX },
	{ "stats_listen",	KEY_ADDR,	CF(cf_stats_listen),	0, 0 },
};

static const struct key_def listener_keys[] = {
	{ "listen",		KEY_LISTEN,	LC(lc_listen),		0, 0 },
	{ "protocol",		KEY_PROTOCOL,	LC(lc_protocol),	0, 0 },
	{ "mptcp_fallback",	KEY_BOOL,	LC(lc_mptcp_fallback),	0, 0 },
	{ "backlog",		KEY_UINT,	LC(lc_backlog),		1, 65535 },
	{ "rcvbuf",		KEY_SIZE,	LC(lc_rcvbuf),		1, 1U << 30 },
	{ "sndbuf",		KEY_SIZE,	LC(lc_sndbuf),		1, 1U << 30 },
	{ "nodelay",		KEY_BOOL,	LC(lc_nodelay),		0, 0 },
	{ "keepalive",		KEY_BOOL,	LC(lc_keepalive),	0, 0 },
	{ "upstream",		KEY_UPSTREAM,	LC(lc_upstreams),	0, 0 },
	{ "balance",		KEY_BALANCE,	LC(lc_balance),		0, 0 },
	{ "upstream_backoff",	KEY_DURATION,	LC(lc_upstream_backoff),
	    0, DURATION_DAY },
	{ "health_check_interval", KEY_DURATION,
	    LC(lc_health_check_interval), 0, DURATION_DAY },
	{ "resolve_interval",	KEY_DURATION,	LC(lc_resolve_interval),
	    0, DURATION_DAY },
	{ "upstream_protocol",	KEY_PROTOCOL,	LC(lc_upstream_protocol), 0, 0 },
	{ "upstream_rcvbuf",	KEY_SIZE,	LC(lc_upstream_rcvbuf),	1, 1U << 30 },
	{ "upstream_sndbuf",	KEY_SIZE,	LC(lc_upstream_sndbuf),	1, 1U << 30 },
	{ "connect_timeout",	KEY_DURATION,	LC(lc_connect_timeout),
	    1, 3600 * 1000 },
	{ "idle_timeout",	KEY_DURATION,	LC(lc_idle_timeout),
	    0, 30 * DURATION_DAY },
	{ "handshake_timeout",	KEY_DURATION,	LC(lc_handshake_timeout),
	    1, 3600 * 1000 },
	{ "proxy_protocol",	KEY_PROXY_VERSION, LC(lc_proxy_protocol), 0, 0 },
	{ "accept_proxy",	KEY_BOOL,	LC(lc_accept_proxy),	0, 0 },
	{ "accept_proxy_from",	KEY_ACL,	LC(lc_accept_proxy_from), 0, 0 },
	{ "allow",		KEY_ACL,	LC(lc_allow),		0, 0 },
	{ "deny",		KEY_ACL,	LC(lc_deny),		0, 0 },
	{ "max_connections",	KEY_UINT,	LC(lc_max_connections),
	    0, CONFIG_MAX_CONNECTIONS_MAX },
	{ "tls_cert",		KEY_TLS,	LC(lc_tls),		0, 0 },
	{ "tls_key",		KEY_TLS,	LC(lc_tls),		0, 0 },
	{ "tls_client_ca",	KEY_TLS,	LC(lc_tls),		0, 0 },
	{ "tls_alpn",		KEY_TLS,	LC(lc_tls),		0, 0 },
	{ "upstream_tls",	KEY_TLS,	LC(lc_tls),		0, 0 },
	{ "upstream_tls_ca",	KEY_TLS,	LC(lc_tls),		0, 0 },
	{ "upstream_tls_verify", KEY_TLS,	LC(lc_tls),		0, 0 },
	{ "upstream_tls_sni",	KEY_TLS,	LC(lc_tls),		0, 0 },
	{ "upstream_tls_cert",	KEY_TLS,	LC(lc_tls),		0, 0 },
	{ "upstream_tls_key",	KEY_TLS,	LC(lc_tls),		0, 0 },
	{ "transparent",	KEY_TRANSPARENT, LC(lc_transparent),	0, 0 },
	{ "destination_allow",	KEY_ACL,	LC(lc_dest_allow),	0, 0 },
	{ "destination_deny",	KEY_ACL,	LC(lc_dest_deny),	0, 0 },
	{ "destination_ports",	KEY_PORTS,	LC(lc_dest_ports),	0, 0 },
};

#define NKEYS(t)	(sizeof(t) / sizeof((t)[0]))
#define KEYS_MAX	NKEYS(listener_keys)

/* The kinds of section a key belongs in. */
#define IN_GLOBAL	0x1
#define IN_LISTENER	0x2

/* A problem found, kept until the end of the load puts them in order. */
struct config_msg {
	int		 cm_line;	/* 0: about the whole file */
	size_t		 cm_seq;	/* order found, for a stable sort */
	char		*cm_text;	/* "NAME:LINE: message" */
};

/* The state of one load: where the reader is and what it has seen. */
struct config_parser {
	const char		*p_name;	/* file name, for messages */
	struct config		*p_cf;
	struct config_diag	*p_diag;
	size_t			 p_nerrors;	/* problems found by this load */
	struct config_msg	*p_msgs;	/* their messages, as found */
	size_t			 p_nmsgs;
	size_t			 p_msgcap;

	/* Line source: a FILE or a string. */
	FILE			*p_fp;
	const char		*p_str;
	char			*p_linebuf;
	size_t			 p_linecap;
	int			 p_line;	/* number of the line last read */

	/* The section being read. */
	enum {
		SEC_NONE,	/* before any section header */
		SEC_GLOBAL,
		SEC_LISTENER,
		SEC_BROKEN,	/* a bad header: its keys are not checked */
	}			 p_sec;
	struct listener_config	*p_lc;
	void			*p_sections;	/* tsearch(3) tree, by name */
	int			 p_keyline[KEYS_MAX];	/* first line of each key */
	int			 p_global_line;
	int			 p_user_line;	/* of 'user' in [global] */
	int			 p_group_line;	/* of 'group' in [global] */
	unsigned		 p_flags;	/* CONFIG_LOAD_* */
};

static void
config_error(struct config_parser *p, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Record "NAME:LINE: message", or "NAME: message" when line is 0. */
static void
config_error(struct config_parser *p, int line, const char *fmt, ...)
{
	struct config_msg	*msgs;
	va_list			 ap;
	char			*text, *msg;
	size_t			 cap;

	p->p_nerrors++;
	va_start(ap, fmt);
	if (vasprintf(&text, fmt, ap) == -1)
		text = NULL;
	va_end(ap);
	if (text == NULL)
		return;
	if (line > 0) {
		if (asprintf(&msg, "%s:%d: %s", p->p_name, line, text) == -1)
			msg = NULL;
	} else {
		if (asprintf(&msg, "%s: %s", p->p_name, text) == -1)
			msg = NULL;
	}
	free(text);
	if (msg == NULL)
		return;
	if (p->p_nmsgs == p->p_msgcap) {
		cap = p->p_msgcap == 0 ? 16 : p->p_msgcap * 2;
		if ((msgs = reallocarray(p->p_msgs, cap, sizeof(*msgs))) ==
		    NULL) {
			free(msg);
			return;
		}
		p->p_msgs = msgs;
		p->p_msgcap = cap;
	}
	p->p_msgs[p->p_nmsgs].cm_line = line > 0 ? line : 0;
	p->p_msgs[p->p_nmsgs].cm_seq = p->p_nmsgs;
	p->p_msgs[p->p_nmsgs].cm_text = msg;
	p->p_nmsgs++;
}

/* By line, those without one first; in the order found within a line. */
static int
config_msg_cmp(const void *a, const void *b)
{
	const struct config_msg	*ma = a, *mb = b;

	if (ma->cm_line != mb->cm_line)
		return ma->cm_line < mb->cm_line ? -1 : 1;
	return ma->cm_seq < mb->cm_seq ? -1 : ma->cm_seq > mb->cm_seq;
}

/*
 * The end of every load: hand the problems found to the caller's diag in
 * line order, as a reader of the file meets them.
 */
static void
config_parser_finish(struct config_parser *p)
{
	struct config_diag	*diag = p->p_diag;
	char			**msgs;
	size_t			 i;

	if (p->p_nmsgs == 0)
		return;		/* and p_msgs is NULL, which qsort(3) refuses */
	qsort(p->p_msgs, p->p_nmsgs, sizeof(*p->p_msgs), config_msg_cmp);
	msgs = reallocarray(diag->cd_msgs, diag->cd_count + p->p_nmsgs,
	    sizeof(*msgs));
	for (i = 0; i < p->p_nmsgs; i++) {
		if (msgs != NULL)
			msgs[diag->cd_count++] = p->p_msgs[i].cm_text;
		else
			free(p->p_msgs[i].cm_text);
	}
	if (msgs != NULL)
		diag->cd_msgs = msgs;
	free(p->p_msgs);
	p->p_msgs = NULL;
	p->p_nmsgs = p->p_msgcap = 0;
}

void
config_diag_free(struct config_diag *diag)
{
	size_t	i;

	for (i = 0; i < diag->cd_count; i++)
		free(diag->cd_msgs[i]);
	free(diag->cd_msgs);
	diag->cd_msgs = NULL;
	diag->cd_count = 0;
}

const char *
config_protocol_name(int protocol)
{
	return protocol == IPPROTO_MPTCP ? "mptcp" : "tcp";
}

static struct listener_config *
listener_config_new(const char *name, int line)
{
	struct listener_config	*lc;

	if ((lc = calloc(1, sizeof(*lc))) == NULL)
		return NULL;
	snprintf(lc->lc_name, sizeof(lc->lc_name), "%s", name);
	lc->lc_line = line;
	lc->lc_protocol = IPPROTO_MPTCP;
	lc->lc_backlog = CONFIG_DEFAULT_BACKLOG;
	lc->lc_nodelay = true;
	lc->lc_upstream_protocol = IPPROTO_TCP;
	lc->lc_connect_timeout = CONFIG_DEFAULT_CONNECT_TIMEOUT;
	lc->lc_idle_timeout = CONFIG_DEFAULT_IDLE_TIMEOUT;
	lc->lc_handshake_timeout = CONFIG_DEFAULT_HANDSHAKE_TIMEOUT;
	lc->lc_balance = CONFIG_BALANCE_ROUNDROBIN;
	lc->lc_upstream_backoff = CONFIG_DEFAULT_UPSTREAM_BACKOFF;
	lc->lc_resolve_interval = CONFIG_DEFAULT_RESOLVE_INTERVAL;
	lc->lc_tls.ct_upstream_verify = true;
	acl_init(&lc->lc_accept_proxy_from);
	acl_init(&lc->lc_allow);
	acl_init(&lc->lc_deny);
	acl_init(&lc->lc_dest_allow);
	acl_init(&lc->lc_dest_deny);
	acl_ports_init(&lc->lc_dest_ports);
	return lc;
}

static void
config_tls_free(struct config_tls *ct)
{
	size_t	i;

	for (i = 0; i < ct->ct_npairs; i++) {
		free(ct->ct_pairs[i].cp_cert);
		free(ct->ct_pairs[i].cp_key);
	}
	free(ct->ct_pairs);
	free(ct->ct_client_ca);
	free(ct->ct_alpn);
	free(ct->ct_upstream_ca);
	free(ct->ct_upstream_sni);
	free(ct->ct_upstream_cert);
	free(ct->ct_upstream_key);
}

static void
listener_config_free(struct listener_config *lc)
{
	tls_server_free(lc->lc_tls_server);
	tls_client_free(lc->lc_tls_client);
	config_tls_free(&lc->lc_tls);
	acl_free(&lc->lc_accept_proxy_from);
	acl_free(&lc->lc_allow);
	acl_free(&lc->lc_deny);
	acl_free(&lc->lc_dest_allow);
	acl_free(&lc->lc_dest_deny);
	acl_ports_free(&lc->lc_dest_ports);
	free(lc->lc_upstreams);
	free(lc);
}

static struct config *
config_new(void)
{
	struct config	*cf;

	if ((cf = calloc(1, sizeof(*cf))) == NULL)
		return NULL;
	cf->cf_log_level = LOG_LVL_INFO;
	cf->cf_shutdown_timeout = CONFIG_DEFAULT_SHUTDOWN_TIMEOUT;
	cf->cf_workers = 1;
	cf->cf_splice = true;
	TAILQ_INIT(&cf->cf_listeners);
	cf->cf_refcnt = 1;
	return cf;
}

static void
config_free(struct config *cf)
{
	struct listener_config	*lc;

	while ((lc = TAILQ_FIRST(&cf->cf_listeners)) != NULL) {
		TAILQ_REMOVE(&cf->cf_listeners, lc, lc_entry);
		listener_config_free(lc);
	}
	free(cf->cf_path);
	free(cf);
}

void
config_ref(struct config *cf)
{
	__atomic_add_fetch(&cf->cf_refcnt, 1, __ATOMIC_RELAXED);
}

void
config_unref(struct config *cf)
{
	if (cf != NULL &&
	    __atomic_sub_fetch(&cf->cf_refcnt, 1, __ATOMIC_ACQ_REL) == 0)
		config_free(cf);
}

/* Section headers: "[NAME]", optionally followed by a comment. */
static int
section_name_valid(const char *name, const char **why)
{
	size_t	len = strlen(name), i;

	if (len == 0) {
		*why = "empty name";
		return -1;
	}
	if (len >= CONFIG_NAME_MAX) {
		*why = "longer than 63 characters";
		return -1;
	}
	for (i = 0; i < len; i++) {
		if (!isalnum((unsigned char)name[i]) && name[i] != '_' &&
		    name[i] != '-' && name[i] != '.') {
			*why = "only letters, digits, '_', '-' and '.' are allowed";
			return -1;
		}
	}
	return 0;
}

/* Order of the tree of section names. */
static int
section_cmp(const void *a, const void *b)
{
	const struct listener_config	*la = a, *lb = b;

	return strcmp(la->lc_name, lb->lc_name);
}

/* tdestroy(3) frees the nodes; the listeners in them are the config's. */
static void
section_node_free(void *lc)
{
	(void)lc;
}

/*
 * The end of a section (the next header, or the end of the file): what
 * only the keys' lines of the section can tell. upstream = destination
 * connects each session to one address, its own: the keys that choose
 * among, re-resolve, back off from or check upstream addresses have
 * nothing to act on.
 */
static void
config_section_end(struct config_parser *p)
{
	static const char *const unused[] = {
		"balance", "health_check_interval", "resolve_interval",
		"upstream_backoff",
	};
	const struct key_def	*k;
	size_t			 i;

	if (p->p_sec != SEC_LISTENER || !p->p_lc->lc_upstream_destination)
		return;
	for (i = 0; i < NKEYS(unused); i++) {
		k = key_find(listener_keys, NKEYS(listener_keys), unused[i]);
		if (p->p_keyline[k - listener_keys] != 0)
			config_error(p, p->p_keyline[k - listener_keys],
			    "'%s' does not apply to 'upstream = destination' "
			    "in [%s]: each session connects to the one "
			    "destination its client names", unused[i],
			    p->p_lc->lc_name);
	}
}

static void
config_section_begin(struct config_parser *p, const char *name)
{
	struct listener_config	*lc, *first;
	const char		*why;
	void			*node;

	config_section_end(p);
	memset(p->p_keyline, 0, sizeof(p->p_keyline));
	p->p_lc = NULL;
	p->p_sec = SEC_BROKEN;

	if (strcmp(name, "global") == 0) {
		if (p->p_global_line != 0) {
			config_error(p, p->p_line,
			    "section [global] defined twice (first on line %d)",
			    p->p_global_line);
			return;
		}
		p->p_global_line = p->p_line;
		p->p_sec = SEC_GLOBAL;
		return;
	}
	if (section_name_valid(name, &why) == -1) {
		config_error(p, p->p_line, "invalid section name '%s': %s",
		    name, why);
		return;
	}
	/* A tree, not a walk of the list: 20,000 sections took a minute. */
	if ((lc = listener_config_new(name, p->p_line)) == NULL ||
	    (node = tsearch(lc, &p->p_sections, section_cmp)) == NULL) {
		free(lc);
		config_error(p, p->p_line, "out of memory");
		return;
	}
	first = *(struct listener_config **)node;
	if (first != lc) {
		config_error(p, p->p_line,
		    "section [%s] defined twice (first on line %d)", name,
		    first->lc_line);
		free(lc);
		return;
	}
	TAILQ_INSERT_TAIL(&p->p_cf->cf_listeners, lc, lc_entry);
	p->p_cf->cf_nlisteners++;
	p->p_lc = lc;
	p->p_sec = SEC_LISTENER;
}

/*
 * Check a raw line before inih sees it, so that every syntax error is
 * reported with its line (inih itself only returns the first one) and
 * section headers are known even when a section has no keys. Returns the
 * text to hand to inih: the line, or "" for a line already reported.
 */
static const char *
config_scan_line(struct config_parser *p, char *line)
{
	char	*end, *rest;

	if (*line == '\0' || *line == ';' || *line == '#')
		return line;
	if (*line == '[') {
		if ((end = strchr(line, ']')) == NULL) {
			config_error(p, p->p_line,
			    "syntax error: missing ']' in section header");
			p->p_sec = SEC_BROKEN;
			return "";
		}
		rest = end + 1;
		rest += strspn(rest, " \t");
		if (*rest != '\0' && *rest != ';' && *rest != '#') {
			config_error(p, p->p_line,
			    "syntax error: text after section header");
			p->p_sec = SEC_BROKEN;
			return "";
		}
		*end = '\0';
		config_section_begin(p, line + 1);
		*end = ']';
		return line;
	}
	if (strpbrk(line, "=:") == NULL) {
		config_error(p, p->p_line,
		    "syntax error: expected '[section]' or 'key = value'");
		return "";
	}
	return line;
}

/*
 * inih's line reader: fetch the next line, count it, strip leading blanks
 * (so an indented key is never taken for a continuation line) and the line
 * end, and refuse lines longer than inih's buffer instead of letting inih
 * split them, and lines holding a NUL byte instead of letting it cut them.
 */
static char *
config_reader(char *str, int num, void *stream)
{
	struct config_parser	*p = stream;
	const char		*src, *nl, *out;
	char			*line;
	size_t			 len;
	ssize_t			 n;

	if (p->p_fp != NULL) {
		if ((n = getline(&p->p_linebuf, &p->p_linecap, p->p_fp)) == -1)
			return NULL;
		len = (size_t)n;
	} else {
		if (p->p_str == NULL || *p->p_str == '\0')
			return NULL;
		src = p->p_str;
		nl = strchr(src, '\n');
		len = nl != NULL ? (size_t)(nl - src) + 1 : strlen(src);
		p->p_str = src + len;
		if (len + 1 > p->p_linecap) {
			free(p->p_linebuf);
			p->p_linecap = len + 1;
			if ((p->p_linebuf = malloc(p->p_linecap)) == NULL) {
				p->p_linecap = 0;
				return NULL;
			}
		}
		memcpy(p->p_linebuf, src, len);
		p->p_linebuf[len] = '\0';
	}
	p->p_line++;
	line = p->p_linebuf;
	if (memchr(line, '\0', len) != NULL) {
		/* The value would end there and the rest vanish unseen. */
		config_error(p, p->p_line, "NUL byte in line");
		out = "";
		goto done;
	}
	if (p->p_line == 1 && strncmp(line, "\xEF\xBB\xBF", 3) == 0) {
		line += 3;		/* a UTF-8 byte order mark */
		len -= 3;
	}
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		line[--len] = '\0';
	while (*line == ' ' || *line == '\t') {
		line++;
		len--;
	}
	while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\t'))
		line[--len] = '\0';

	if (*line == ';' || *line == '#')
		out = "";		/* comments may be of any length */
	else if (len + 3 > (size_t)num) { /* inih needs room for "\r\n\0" */
		config_error(p, p->p_line,
		    "line too long (more than %d characters)", num - 3);
		out = "";
	} else
		out = config_scan_line(p, line);
done:
	snprintf(str, (size_t)num, "%s\n", out);
	return str;
}

static int
addr_from_hostport(const struct parse_hostport *hp, struct config_addr *ca)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)&ca->ca_ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&ca->ca_ss;

	memset(&ca->ca_ss, 0, sizeof(ca->ca_ss));
	ca->ca_dualstack = false;
	switch (hp->hp_kind) {
	case PARSE_HOST_WILDCARD:
		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr = in6addr_any;
		sin6->sin6_port = htons(hp->hp_port);
		ca->ca_len = sizeof(*sin6);
		ca->ca_dualstack = true;
		return 0;
	case PARSE_HOST_IPV4:
		sin->sin_family = AF_INET;
		sin->sin_port = htons(hp->hp_port);
		ca->ca_len = sizeof(*sin);
		return inet_pton(AF_INET, hp->hp_host, &sin->sin_addr) == 1 ?
		    0 : -1;
	case PARSE_HOST_IPV6:
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(hp->hp_port);
		ca->ca_len = sizeof(*sin6);
		return inet_pton(AF_INET6, hp->hp_host, &sin6->sin6_addr) == 1 ?
		    0 : -1;
	case PARSE_HOST_NAME:
		break;
	}
	return -1;
}

/*
 * An address to bind, for key: an IP address or '*', and a port. Returns
 * 0 with *ca set, or -1 after reporting what is wrong.
 */
static int
config_set_addr(struct config_parser *p, const char *key,
    struct config_addr *ca, const char *value)
{
	struct parse_hostport	 hp;
	const char		*why;

	if (parse_hostport(value, &hp, &why) == -1) {
		config_error(p, p->p_line, "%s: invalid value '%s': %s", key,
		    value, why);
		return -1;
	}
	if (hp.hp_kind == PARSE_HOST_NAME) {
		config_error(p, p->p_line, "%s: invalid value '%s': "
		    "%s address must be an IP address or '*'", key, value, key);
		return -1;
	}
	if (addr_from_hostport(&hp, ca) == -1) {
		config_error(p, p->p_line, "%s: invalid value '%s'", key,
		    value);
		return -1;
	}
	snprintf(ca->ca_text, sizeof(ca->ca_text), "%s", value);
	ca->ca_line = p->p_line;
	return 0;
}

static void
config_set_listen(struct config_parser *p, struct listener_config *lc,
    const char *value)
{
	if (lc->lc_listen_line == 0)
		lc->lc_listen_line = p->p_line;
	if (lc->lc_nlisten == CONFIG_LISTEN_MAX) {
		config_error(p, p->p_line,
		    "too many 'listen' lines in [%s] (at most %d)",
		    lc->lc_name, CONFIG_LISTEN_MAX);
		return;
	}
	if (config_set_addr(p, "listen", &lc->lc_listen[lc->lc_nlisten],
	    value) == 0)
		lc->lc_nlisten++;
}

/* Resolve an upstream host name into at most CONFIG_ADDRS_MAX addresses. */
static int
config_resolve(struct config_parser *p, const struct parse_hostport *hp,
    struct config_upstream *cu)
{
	struct addrinfo	 hints, *res, *ai;
	char		 port[8];
	int		 error, i;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	if (p->p_flags & CONFIG_LOAD_NO_RESOLVE)
		return 0;
	snprintf(port, sizeof(port), "%u", hp->hp_port);
	if ((error = getaddrinfo(hp->hp_host, port, &hints, &res)) != 0) {
		config_error(p, p->p_line, "upstream: cannot resolve '%s': %s",
		    hp->hp_host, gai_strerror(error));
		return -1;
	}
	for (ai = res; ai != NULL && cu->cu_naddrs < CONFIG_ADDRS_MAX;
	    ai = ai->ai_next) {
		if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) ||
		    ai->ai_addrlen > sizeof(struct sockaddr_storage))
			continue;
		for (i = 0; i < cu->cu_naddrs; i++)
			if (cu->cu_addrs[i].ca_len == ai->ai_addrlen &&
			    memcmp(&cu->cu_addrs[i].ca_ss, ai->ai_addr,
			    ai->ai_addrlen) == 0)
				break;
		if (i < cu->cu_naddrs)
			continue;	/* a duplicate */
		memcpy(&cu->cu_addrs[i].ca_ss, ai->ai_addr, ai->ai_addrlen);
		cu->cu_addrs[i].ca_len = ai->ai_addrlen;
		cu->cu_naddrs++;
	}
	freeaddrinfo(res);
	if (cu->cu_naddrs == 0) {
		config_error(p, p->p_line,
		    "upstream: '%s' has no IPv4 or IPv6 address", hp->hp_host);
		return -1;
	}
	return 0;
}

static void
config_set_upstream(struct config_parser *p, struct listener_config *lc,
    const char *value)
{
	struct parse_hostport	 hp;
	struct config_upstream	*cu, *ups;
	const char		*why;
	int			 i, total = 0;
	bool			 dest = strcmp(value, "destination") == 0;

	if (lc->lc_upstream_line == 0)
		lc->lc_upstream_line = p->p_line; /* even if bad: not missing */
	if (dest)
		memset(&hp, 0, sizeof(hp));
	else if (parse_hostport(value, &hp, &why) == -1) {
		config_error(p, p->p_line, "upstream: invalid value '%s': %s",
		    value, why);
		return;
	}
	if (!dest && hp.hp_kind == PARSE_HOST_WILDCARD) {
		config_error(p, p->p_line,
		    "upstream: invalid value '%s': upstream cannot be '*'", value);
		return;
	}
	for (i = 0; i < lc->lc_nupstreams; i++)
		total += lc->lc_upstreams[i].cu_naddrs;
	if (total >= CONFIG_UPSTREAM_ADDRS_MAX) {
		config_error(p, p->p_line, "too many upstream addresses in [%s] "
		    "(at most %d)", lc->lc_name, CONFIG_UPSTREAM_ADDRS_MAX);
		return;
	}
	ups = reallocarray(lc->lc_upstreams, (size_t)lc->lc_nupstreams + 1,
	    sizeof(*ups));
	if (ups == NULL) {
		config_error(p, p->p_line, "out of memory");
		return;
	}
	lc->lc_upstreams = ups;
	cu = &ups[lc->lc_nupstreams];
	memset(cu, 0, sizeof(*cu));
	cu->cu_line = p->p_line;
	snprintf(cu->cu_host, sizeof(cu->cu_host), "%s", hp.hp_host);
	cu->cu_port = hp.hp_port;
	if (dest) {
		/* One address that stands for every destination. */
		cu->cu_destination = true;
		lc->lc_upstream_destination = true;
		cu->cu_naddrs = 1;
	} else if (hp.hp_kind == PARSE_HOST_NAME) {
		cu->cu_named = true;
		if (config_resolve(p, &hp, cu) == -1)
			return;
	} else {
		if (addr_from_hostport(&hp, &cu->cu_addrs[0]) == -1) {
			config_error(p, p->p_line,
			    "upstream: invalid value '%s'", value);
			return;
		}
		cu->cu_naddrs = 1;
	}
	if (total + cu->cu_naddrs > CONFIG_UPSTREAM_ADDRS_MAX)
		cu->cu_naddrs = CONFIG_UPSTREAM_ADDRS_MAX - total;
	snprintf(cu->cu_text, sizeof(cu->cu_text), "%s", value);
	for (i = 0; i < cu->cu_naddrs; i++) {
		snprintf(cu->cu_addrs[i].ca_text,
		    sizeof(cu->cu_addrs[i].ca_text), "%s", value);
		cu->cu_addrs[i].ca_line = p->p_line;
	}
	lc->lc_nupstreams++;
}

/*
 * A file named by a TLS key: a relative name is taken from the directory
 * of the configuration file, so that the daemon finds it whatever its
 * working directory. NULL when out of memory.
 */
static char *
config_path(struct config_parser *p, const char *value)
{
	const char	*slash;
	char		*path;

	if (value[0] == '/' || (slash = strrchr(p->p_name, '/')) == NULL)
		return strdup(value);
	if (asprintf(&path, "%.*s/%s", (int)(slash - p->p_name), p->p_name,
	    value) == -1)
		return NULL;
	return path;
}

/* The TLS keys that take one value each: where it and its line go. */
static const struct {
	const char	*tf_key;
	size_t		 tf_value;	/* char * in struct config_tls */
	size_t		 tf_line;	/* int in struct config_tls */
} tls_files[] = {
#define TLS_FILE(key, f) { key, offsetof(struct config_tls, f),		\
	    offsetof(struct config_tls, f##_line) }
	TLS_FILE("tls_client_ca", ct_client_ca),
	TLS_FILE("tls_alpn", ct_alpn),
	TLS_FILE("upstream_tls_ca", ct_upstream_ca),
	TLS_FILE("upstream_tls_sni", ct_upstream_sni),
	TLS_FILE("upstream_tls_cert", ct_upstream_cert),
	TLS_FILE("upstream_tls_key", ct_upstream_key),
#undef TLS_FILE
};

/* The TLS keys; the files are read once the whole file is (config_tls). */
static void
config_set_tls(struct config_parser *p, struct listener_config *lc,
    const char *key, const char *value)
{
	struct config_tls	*ct = &lc->lc_tls;
	struct config_tls_pair	*pairs, *last;
	const char		*why = NULL;
	char			**dst, *v;
	int			*line;
	size_t			 i;
	bool			 b;

	if (strcmp(key, "upstream_tls") == 0 ||
	    strcmp(key, "upstream_tls_verify") == 0) {
		if (parse_bool(value, &b, &why) == -1) {
			config_error(p, p->p_line, "%s: invalid value '%s': %s",
			    key, value, why);
			return;
		}
		if (strcmp(key, "upstream_tls") == 0) {
			ct->ct_upstream = b;
			ct->ct_upstream_line = p->p_line;
		} else
			ct->ct_upstream_verify = b;
		return;
	}
	if (strcmp(key, "upstream_tls_sni") == 0 ||
	    strcmp(key, "tls_alpn") == 0)
		v = strdup(value);
	else
		v = config_path(p, value);
	if (v == NULL) {
		config_error(p, p->p_line, "out of memory");
		return;
	}
	if (strcmp(key, "tls_cert") == 0) {
		pairs = reallocarray(ct->ct_pairs, ct->ct_npairs + 1,
		    sizeof(*pairs));
		if (pairs == NULL) {
			free(v);
			config_error(p, p->p_line, "out of memory");
			return;
		}
		ct->ct_pairs = pairs;
		memset(&pairs[ct->ct_npairs], 0, sizeof(*pairs));
		pairs[ct->ct_npairs].cp_cert = v;
		pairs[ct->ct_npairs].cp_cert_line = p->p_line;
		ct->ct_npairs++;
		return;
	}
	if (strcmp(key, "tls_key") == 0) {
		last = ct->ct_npairs > 0 ? &ct->ct_pairs[ct->ct_npairs - 1] :
		    NULL;
		if (last == NULL || last->cp_key != NULL) {
			free(v);
			config_error(p, p->p_line, "tls_key: no 'tls_cert' "
			    "before it that it could go with (each tls_key "
			    "follows its tls_cert)");
			return;
		}
		last->cp_key = v;
		last->cp_key_line = p->p_line;
		return;
	}
	/* The last entry for the last key. */
	for (i = 0; i < NKEYS(tls_files) - 1; i++)
		if (strcmp(key, tls_files[i].tf_key) == 0)
			break;
	dst = (char **)(void *)((char *)ct + tls_files[i].tf_value);
	line = (int *)(void *)((char *)ct + tls_files[i].tf_line);
	free(*dst);
	*dst = v;
	*line = p->p_line;
}

/* The first destination_* key of the section is on this line. */
static void
config_dest_line(struct config_parser *p, struct listener_config *lc)
{
	if (lc->lc_dest_line == 0)
		lc->lc_dest_line = p->p_line;
}

/* Parse value for key k and store it at base + k->k_offset. */
static void
config_set(struct config_parser *p, const struct key_def *k, void *base,
    const char *value)
{
	char		*dst = (char *)base + k->k_offset;
	const char	*why = NULL;
	uint64_t	 u;
	bool		 b;
	enum log_level	 level;

	switch (k->k_kind) {
	case KEY_BOOL:
		if (parse_bool(value, &b, &why) == 0)
			*(bool *)dst = b;
		break;
	case KEY_SIZE:
		if (parse_size(value, k->k_max, &u, &why) == 0) {
			if (u < k->k_min)
				why = "must be greater than 0";
			else
				*(int *)dst = (int)u;
		}
		break;
	case KEY_UINT:
		if (parse_uint(value, k->k_min, k->k_max, &u, &why) == 0)
			*(int *)dst = (int)u;
		break;
	case KEY_DURATION:
		if (parse_duration(value, k->k_max, &u, &why) == 0) {
			if (u < k->k_min)
				why = "must be greater than 0";
			else
				*(uint64_t *)dst = u;
		}
		break;
	case KEY_PROTOCOL:
		if (strcmp(value, "mptcp") == 0)
			*(int *)dst = IPPROTO_MPTCP;
		else if (strcmp(value, "tcp") == 0)
			*(int *)dst = IPPROTO_TCP;
		else
			why = "expected 'mptcp' or 'tcp'";
		break;
	case KEY_LOG_LEVEL:
		if (log_level_parse(value, &level) == 0)
			*(enum log_level *)dst = level;
		else
			why = "expected error, warning, notice, info or debug";
		break;
	case KEY_NAME:
		/* Looked up once the file is read: config_validate_ids. */
		if (strlen(value) >= CONFIG_NAME_MAX)
			why = "longer than 63 characters";
		else if (strpbrk(value, " \t:/") != NULL)
			why = "not a user or group name";
		else
			snprintf(dst, CONFIG_NAME_MAX, "%s", value);
		if (strcmp(k->k_name, "user") == 0)
			p->p_user_line = p->p_line;
		else
			p->p_group_line = p->p_line;
		break;
	case KEY_WORKERS:
		if (strcmp(value, "auto") == 0)
			*(int *)dst = 0;
		else if (parse_uint(value, k->k_min, k->k_max, &u, &why) == 0)
			*(int *)dst = (int)u;
		break;
	case KEY_LISTEN:
		config_set_listen(p, (struct listener_config *)base, value);
		return;
	case KEY_UPSTREAM:
		config_set_upstream(p, (struct listener_config *)base, value);
		return;
	case KEY_BALANCE:
		if (strcmp(value, "roundrobin") == 0)
			*(enum config_balance *)dst = CONFIG_BALANCE_ROUNDROBIN;
		else if (strcmp(value, "first") == 0)
			*(enum config_balance *)dst = CONFIG_BALANCE_FIRST;
		else if (strcmp(value, "leastconn") == 0)
			*(enum config_balance *)dst = CONFIG_BALANCE_LEASTCONN;
		else
			why = "expected 'roundrobin', 'first' or 'leastconn'";
		break;
	case KEY_ADDR:
		(void)config_set_addr(p, k->k_name, (struct config_addr *)dst,
		    value);
		return;
	case KEY_TLS:
		config_set_tls(p, (struct listener_config *)base, k->k_name,
		    value);
		return;
	case KEY_PROXY_VERSION:
		if (strcmp(value, "off") == 0 || strcmp(value, "no") == 0)
			*(int *)dst = 0;
		else if (strcmp(value, "v1") == 0)
			*(int *)dst = 1;
		else if (strcmp(value, "v2") == 0)
			*(int *)dst = 2;
		else
			why = "expected 'v1', 'v2' or 'off'";
		break;
	case KEY_ACL:
		if (acl_add((struct acl *)dst, value, &why) == -1) {
			config_error(p, p->p_line, "%s: %s", k->k_name, why);
			return;
		}
		if (k->k_offset == LC(lc_accept_proxy_from))
			((struct listener_config *)base)->lc_proxy_from_line =
			    p->p_line;
		else if (k->k_offset != LC(lc_allow) &&
		    k->k_offset != LC(lc_deny))
			config_dest_line(p, (struct listener_config *)base);
		break;
	case KEY_PORTS:
		if (acl_ports_add((struct acl_ports *)dst, value, &why) == -1) {
			config_error(p, p->p_line, "%s: %s", k->k_name, why);
			return;
		}
		config_dest_line(p, (struct listener_config *)base);
		break;
	case KEY_TRANSPARENT:
		if (strcmp(value, "tproxy") == 0)
			*(enum config_transparent *)dst =
			    CONFIG_TRANSPARENT_TPROXY;
		else if (strcmp(value, "redirect") == 0)
			*(enum config_transparent *)dst =
			    CONFIG_TRANSPARENT_REDIRECT;
		else if (strcmp(value, "no") == 0)
			*(enum config_transparent *)dst = CONFIG_TRANSPARENT_NO;
		else
			why = "expected 'tproxy', 'redirect' or 'no'";
		((struct listener_config *)base)->lc_transparent_line =
		    p->p_line;
		break;
	}
	if (why != NULL)
		config_error(p, p->p_line, "%s: invalid value '%s': %s",
		    k->k_name, value, why);
}

static const struct key_def *
key_find(const struct key_def *keys, size_t nkeys, const char *name)
{
	size_t	i;

	for (i = 0; i < nkeys; i++)
		if (strcmp(keys[i].k_name, name) == 0)
			return &keys[i];
	return NULL;
}

/*
 * A key the section being read does not take: one of the other kind of
 * section says where it belongs, any other is unknown.
 */
static void
config_unknown_key(struct config_parser *p, const char *name)
{
	unsigned	here, in = 0;

	here = p->p_sec == SEC_GLOBAL ? IN_GLOBAL : IN_LISTENER;
	if (key_find(global_keys, NKEYS(global_keys), name) != NULL)
		in |= IN_GLOBAL;
	if (key_find(listener_keys, NKEYS(listener_keys), name) != NULL)
		in |= IN_LISTENER;
	if (in & IN_GLOBAL)
		config_error(p, p->p_line, "'%s' belongs in [global]", name);
	else if (in & IN_LISTENER)
		config_error(p, p->p_line, "'%s' belongs in a listener section "
		    "[NAME], not in [global]", name);
	else
		config_error(p, p->p_line, "unknown key '%s' in [%s]", name,
		    here == IN_GLOBAL ? "global" : p->p_lc->lc_name);
}

static int
config_handler(void *user, const char *section, const char *name,
    const char *value)
{
	struct config_parser	*p = user;
	const struct key_def	*keys, *k;
	size_t			 nkeys, i;
	void			*base;

	(void)section;		/* the reader tracks sections itself */
	switch (p->p_sec) {
	case SEC_BROKEN:
		return 1;
	case SEC_NONE:
		config_error(p, p->p_line, "'%s' outside of any section", name);
		return 1;
	case SEC_GLOBAL:
		keys = global_keys;
		nkeys = NKEYS(global_keys);
		base = p->p_cf;
		break;
	case SEC_LISTENER:
	default:
		keys = listener_keys;
		nkeys = NKEYS(listener_keys);
		base = p->p_lc;
		break;
	}
	if ((k = key_find(keys, nkeys, name)) == NULL) {
		config_unknown_key(p, name);
		return 1;
	}
	i = (size_t)(k - keys);
	if (p->p_keyline[i] != 0 && k->k_kind != KEY_LISTEN &&
	    k->k_kind != KEY_ACL && k->k_kind != KEY_PORTS &&
	    k->k_kind != KEY_UPSTREAM &&
	    strcmp(k->k_name, "tls_cert") != 0 &&
	    strcmp(k->k_name, "tls_key") != 0) {
		config_error(p, p->p_line,
		    "'%s' given twice in [%s] (first on line %d)", name,
		    p->p_sec == SEC_GLOBAL ? "global" : p->p_lc->lc_name,
		    p->p_keyline[i]);
		return 1;
	}
	if (p->p_keyline[i] == 0)
		p->p_keyline[i] = p->p_line;
	if (*value == '\0') {
		config_error(p, p->p_line, "%s: empty value", name);
		return 1;
	}
	config_set(p, k, base, value);
	return 1;
}

bool
config_addr_equal(const struct config_addr *a, const struct config_addr *b)
{
	return a->ca_len == b->ca_len && a->ca_dualstack == b->ca_dualstack &&
	    memcmp(&a->ca_ss, &b->ca_ss, a->ca_len) == 0;
}

bool
config_addr_overlap(const struct config_addr *a, const struct config_addr *b)
{
	return addr_overlap(a, b) != 0;
}

/* Whether binding a and b (both listen addresses) would collide. */
static int
addr_overlap(const struct config_addr *a, const struct config_addr *b)
{
	const struct sockaddr_in	*a4, *b4;
	const struct sockaddr_in6	*a6, *b6;
	const struct config_addr	*t;

	if (a->ca_ss.ss_family != b->ca_ss.ss_family) {
		/* Only a dual-stack wildcard covers the other family. */
		if (b->ca_dualstack) {
			t = a;
			a = b;
			b = t;
		}
		if (!a->ca_dualstack)
			return 0;
		a6 = (const struct sockaddr_in6 *)&a->ca_ss;
		b4 = (const struct sockaddr_in *)&b->ca_ss;
		return a6->sin6_port == b4->sin_port;
	}
	if (a->ca_ss.ss_family == AF_INET) {
		a4 = (const struct sockaddr_in *)&a->ca_ss;
		b4 = (const struct sockaddr_in *)&b->ca_ss;
		return a4->sin_port == b4->sin_port &&
		    (a4->sin_addr.s_addr == b4->sin_addr.s_addr ||
		    a4->sin_addr.s_addr == htonl(INADDR_ANY) ||
		    b4->sin_addr.s_addr == htonl(INADDR_ANY));
	}
	a6 = (const struct sockaddr_in6 *)&a->ca_ss;
	b6 = (const struct sockaddr_in6 *)&b->ca_ss;
	return a6->sin6_port == b6->sin6_port &&
	    (IN6_ARE_ADDR_EQUAL(&a6->sin6_addr, &b6->sin6_addr) ||
	    IN6_IS_ADDR_UNSPECIFIED(&a6->sin6_addr) ||
	    IN6_IS_ADDR_UNSPECIFIED(&b6->sin6_addr));
}

/*
 * The check of colliding listen addresses. Two addresses collide only on
 * the same port, so the addresses are sorted by port, then by address,
 * then by file order; within one port, an address collides with an equal
 * one (the first of its run in that order) or with the first address of
 * a kind that covers it (a wildcard of its family, a dual-stack wildcard)
 * or that it covers. Each is reported against the earliest line it
 * collides with, as a walk over every earlier address would, in
 * O(n log n) instead of O(n^2): 64,000 addresses took 200 s.
 */
struct listen_ref {
	const struct config_addr	*lr_addr;
	const struct listener_config	*lr_lc;
	size_t				 lr_seq;	/* file order */
	uint16_t			 lr_port;	/* host order */
	const void			*lr_bytes;	/* the address */
	size_t				 lr_len;	/* 4 or 16 */
	unsigned			 lr_kind;	/* enum listen_kind */
	const struct listen_ref		*lr_hit;	/* collides with */
};

/* The kinds of listen address, as far as collisions go. */
enum listen_kind {
	LK_V4,			/* an IPv4 address */
	LK_V4_ANY,		/* 0.0.0.0 */
	LK_V6,			/* an IPv6 address */
	LK_V6_ANY,		/* [::] */
	LK_DUAL,		/* "*": [::] without IPV6_V6ONLY */
	LK_COUNT
};

/* Classes of addresses on one port; each class keeps its first address. */
#define CLS_V4		0x01	/* any IPv4 address, 0.0.0.0 included */
#define CLS_V4_ANY	0x02
#define CLS_V6		0x04	/* any IPv6 address, [::] and "*" included */
#define CLS_V6_ANY	0x08	/* [::] and "*" */
#define CLS_DUAL	0x10
#define CLS_ALL		0x20
#define CLS_NCLASSES	6

/* Per kind: the classes an address is in, and those it collides with. */
static const struct {
	unsigned	lk_in;
	unsigned	lk_hits;
} listen_kinds[LK_COUNT] = {
	[LK_V4] = { CLS_V4, CLS_V4_ANY | CLS_DUAL },
	[LK_V4_ANY] = { CLS_V4 | CLS_V4_ANY, CLS_V4 | CLS_DUAL },
	[LK_V6] = { CLS_V6, CLS_V6_ANY },
	[LK_V6_ANY] = { CLS_V6 | CLS_V6_ANY, CLS_V6 },
	[LK_DUAL] = { CLS_V6 | CLS_V6_ANY | CLS_DUAL, CLS_ALL },
};

static void
listen_ref_init(struct listen_ref *r, const struct listener_config *lc,
    const struct config_addr *ca, size_t seq)
{
	const struct sockaddr_in	*sin;
	const struct sockaddr_in6	*sin6;

	memset(r, 0, sizeof(*r));
	r->lr_addr = ca;
	r->lr_lc = lc;
	r->lr_seq = seq;
	if (ca->ca_ss.ss_family == AF_INET) {
		sin = (const struct sockaddr_in *)&ca->ca_ss;
		r->lr_port = ntohs(sin->sin_port);
		r->lr_bytes = &sin->sin_addr;
		r->lr_len = sizeof(sin->sin_addr);
		r->lr_kind = sin->sin_addr.s_addr == htonl(INADDR_ANY) ?
		    LK_V4_ANY : LK_V4;
		return;
	}
	sin6 = (const struct sockaddr_in6 *)&ca->ca_ss;
	r->lr_port = ntohs(sin6->sin6_port);
	r->lr_bytes = &sin6->sin6_addr;
	r->lr_len = sizeof(sin6->sin6_addr);
	if (ca->ca_dualstack)
		r->lr_kind = LK_DUAL;
	else
		r->lr_kind = IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr) ?
		    LK_V6_ANY : LK_V6;
}

static bool
listen_same_addr(const struct listen_ref *a, const struct listen_ref *b)
{
	return a->lr_len == b->lr_len &&
	    memcmp(a->lr_bytes, b->lr_bytes, a->lr_len) == 0;
}

/* By port, then family and address, then file order. */
static int
listen_ref_cmp(const void *a, const void *b)
{
	const struct listen_ref	*ra = *(const struct listen_ref *const *)a;
	const struct listen_ref	*rb = *(const struct listen_ref *const *)b;
	int			 c;

	if (ra->lr_port != rb->lr_port)
		return ra->lr_port < rb->lr_port ? -1 : 1;
	if (ra->lr_len != rb->lr_len)
		return ra->lr_len < rb->lr_len ? -1 : 1;	/* the family */
	if ((c = memcmp(ra->lr_bytes, rb->lr_bytes, ra->lr_len)) != 0)
		return c;
	return ra->lr_seq < rb->lr_seq ? -1 : ra->lr_seq > rb->lr_seq;
}

/* Set lr_hit of each address of one port, sorted[0] to sorted[n - 1]. */
static void
listen_port_check(struct listen_ref **sorted, size_t n)
{
	const struct listen_ref	*first[CLS_NCLASSES], *run, *cand;
	struct listen_ref	*r;
	unsigned		 in, c;
	size_t			 i;

	memset(first, 0, sizeof(first));
	for (i = 0; i < n; i++) {
		r = sorted[i];
		in = listen_kinds[r->lr_kind].lk_in | CLS_ALL;
		for (c = 0; c < CLS_NCLASSES; c++)
			if ((in & (1U << c)) && (first[c] == NULL ||
			    r->lr_seq < first[c]->lr_seq))
				first[c] = r;
	}
	run = NULL;
	for (i = 0; i < n; i++) {
		r = sorted[i];
		if (run == NULL || !listen_same_addr(run, r))
			run = r;	/* the first of equal addresses */
		else
			r->lr_hit = run;
		for (c = 0; c < CLS_NCLASSES; c++) {
			if ((listen_kinds[r->lr_kind].lk_hits & (1U << c)) == 0)
				continue;
			cand = first[c];
			if (cand != NULL && cand->lr_seq < r->lr_seq &&
			    (r->lr_hit == NULL ||
			    cand->lr_seq < r->lr_hit->lr_seq))
				r->lr_hit = cand;
		}
	}
}

static void
config_validate_listen(struct config_parser *p)
{
	struct listener_config		*lc;
	struct listen_ref		*refs = NULL, **sorted = NULL;
	const struct config_addr	*a, *b;
	size_t				 n = 0, i, j;
	int				 k;

	TAILQ_FOREACH(lc, &p->p_cf->cf_listeners, lc_entry)
		n += (size_t)lc->lc_nlisten;
	if (n == 0)
		return;
	if ((refs = calloc(n, sizeof(*refs))) == NULL ||
	    (sorted = calloc(n, sizeof(*sorted))) == NULL) {
		config_error(p, 0, "out of memory");
		goto done;
	}
	i = 0;
	TAILQ_FOREACH(lc, &p->p_cf->cf_listeners, lc_entry) {
		for (k = 0; k < lc->lc_nlisten; k++, i++) {
			listen_ref_init(&refs[i], lc, &lc->lc_listen[k], i);
			sorted[i] = &refs[i];
		}
	}
	qsort(sorted, n, sizeof(*sorted), listen_ref_cmp);
	for (i = 0; i < n; i = j) {
		for (j = i + 1; j < n &&
		    sorted[j]->lr_port == sorted[i]->lr_port; j++)
			;
		listen_port_check(sorted + i, j - i);
	}
	for (i = 0; i < n; i++) {
		if (refs[i].lr_hit == NULL)
			continue;
		a = refs[i].lr_addr;
		b = refs[i].lr_hit->lr_addr;
		if (strcmp(a->ca_text, b->ca_text) == 0)
			config_error(p, a->ca_line, "listen address '%s' is "
			    "already used by [%s] on line %d", a->ca_text,
			    refs[i].lr_hit->lr_lc->lc_name, b->ca_line);
		else
			config_error(p, a->ca_line, "listen address '%s' "
			    "overlaps '%s' of [%s] on line %d", a->ca_text,
			    b->ca_text, refs[i].lr_hit->lr_lc->lc_name,
			    b->ca_line);
	}
done:
	free(sorted);
	free(refs);
}

/* The metrics endpoint cannot share a port with a listener. */
static void
config_validate_stats(struct config_parser *p)
{
	const struct config_addr	*st = &p->p_cf->cf_stats_listen;
	const struct listener_config	*lc;
	int				 i;

	if (st->ca_len == 0)
		return;
	TAILQ_FOREACH(lc, &p->p_cf->cf_listeners, lc_entry)
		for (i = 0; i < lc->lc_nlisten; i++)
			if (config_addr_overlap(st, &lc->lc_listen[i]))
				config_error(p, st->ca_line, "stats_listen "
				    "'%s' overlaps listen address '%s' of [%s] "
				    "on line %d", st->ca_text,
				    lc->lc_listen[i].ca_text, lc->lc_name,
				    lc->lc_listen[i].ca_line);
}

/* A getpwnam(3) or getgrnam(3) that returned NULL with errno error. */
static void
config_id_missing(struct config_parser *p, int line, const char *what,
    const char *name, int error)
{
	/* The errors getpwnam(3) lists for "not found"; others are failures. */
	if (error == 0 || error == ENOENT || error == ESRCH || error == EBADF ||
	    error == EPERM)
		config_error(p, line, "%s '%s' does not exist", what, name);
	else
		config_error(p, line, "%s '%s': cannot look it up: %s", what,
		    name, strerror(error));
}

/*
 * user= and group= of [global]: the start switches to them, so -t, which
 * the unit runs before the start, looks them up as the start will.
 */
static void
config_validate_ids(struct config_parser *p)
{
	const struct config	*cf = p->p_cf;

	if (p->p_group_line != 0 && cf->cf_user[0] == '\0')
		config_error(p, p->p_group_line, "'group' needs 'user' in "
		    "[global]");
	errno = 0;
	if (cf->cf_user[0] != '\0' && getpwnam(cf->cf_user) == NULL)
		config_id_missing(p, p->p_user_line, "user", cf->cf_user,
		    errno);
	errno = 0;
	if (cf->cf_group[0] != '\0' && getgrnam(cf->cf_group) == NULL)
		config_id_missing(p, p->p_group_line, "group", cf->cf_group,
		    errno);
}

/* A problem a TLS builder found, on its line (or the section's). */
struct config_tls_report {
	struct config_parser		*tr_parser;
	const struct listener_config	*tr_lc;
};

static void
config_tls_report(void *arg, int line, const char *msg)
{
	struct config_tls_report	*tr = arg;

	config_error(tr->tr_parser, line > 0 ? line : tr->tr_lc->lc_line,
	    "%s", msg);
}

/*
 * Read the TLS files of lc now, so that -t finds an unreadable or
 * mismatched file, and keep what was built for the sessions.
 */
static void
config_tls(struct config_parser *p, struct listener_config *lc)
{
	struct config_tls		*ct = &lc->lc_tls;
	struct config_tls_report	 tr = { p, lc };
	struct tls_server_conf		 sc;
	struct tls_client_conf		 cc;
	struct tls_keypair		*pairs;
	size_t				 i;

	if (ct->ct_npairs == 0) {
		if (ct->ct_client_ca_line != 0)
			config_error(p, ct->ct_client_ca_line, "'tls_client_ca' "
			    "needs 'tls_cert' in [%s]", lc->lc_name);
		if (ct->ct_alpn_line != 0)
			config_error(p, ct->ct_alpn_line, "'tls_alpn' needs "
			    "'tls_cert' in [%s]", lc->lc_name);
	} else if ((pairs = calloc(ct->ct_npairs, sizeof(*pairs))) == NULL)
		config_error(p, lc->lc_line, "out of memory");
	else {
		for (i = 0; i < ct->ct_npairs; i++) {
			pairs[i].tk_cert = ct->ct_pairs[i].cp_cert;
			pairs[i].tk_cert_line = ct->ct_pairs[i].cp_cert_line;
			pairs[i].tk_key = ct->ct_pairs[i].cp_key;
			pairs[i].tk_key_line = ct->ct_pairs[i].cp_key_line;
		}
		memset(&sc, 0, sizeof(sc));
		sc.tsc_pairs = pairs;
		sc.tsc_npairs = ct->ct_npairs;
		sc.tsc_client_ca = ct->ct_client_ca;
		sc.tsc_client_ca_line = ct->ct_client_ca_line;
		sc.tsc_alpn = ct->ct_alpn;
		sc.tsc_alpn_line = ct->ct_alpn_line;
		lc->lc_tls_server = tls_server_new(&sc, config_tls_report, &tr);
		free(pairs);
	}
	if (!ct->ct_upstream) {
		if (ct->ct_upstream_ca_line != 0 ||
		    ct->ct_upstream_sni_line != 0 ||
		    ct->ct_upstream_cert_line != 0 ||
		    ct->ct_upstream_key_line != 0)
			config_error(p, ct->ct_upstream_ca_line != 0 ?
			    ct->ct_upstream_ca_line : ct->ct_upstream_sni_line ?
			    ct->ct_upstream_sni_line :
			    ct->ct_upstream_cert_line ?
			    ct->ct_upstream_cert_line :
			    ct->ct_upstream_key_line, "the upstream_tls_* keys "
			    "need 'upstream_tls = yes' in [%s]", lc->lc_name);
		return;
	}
	if (ct->ct_upstream_key_line != 0 && ct->ct_upstream_cert == NULL) {
		config_error(p, ct->ct_upstream_key_line, "'upstream_tls_key' "
		    "needs 'upstream_tls_cert' in [%s]", lc->lc_name);
		return;
	}
	memset(&cc, 0, sizeof(cc));
	cc.tcc_verify = ct->ct_upstream_verify;
	cc.tcc_ca = ct->ct_upstream_ca;
	cc.tcc_ca_line = ct->ct_upstream_ca_line;
	cc.tcc_name = ct->ct_upstream_sni;
	cc.tcc_pair.tk_cert = ct->ct_upstream_cert;
	cc.tcc_pair.tk_cert_line = ct->ct_upstream_cert_line;
	cc.tcc_pair.tk_key = ct->ct_upstream_key;
	cc.tcc_pair.tk_key_line = ct->ct_upstream_key_line;
	lc->lc_tls_client = tls_client_new(&cc, config_tls_report, &tr);
}

/*
 * transparent and upstream = destination: what names a destination, and
 * the refusal of a file that would make an open proxy (a listener that
 * relays anyone to anywhere): upstream = destination needs
 * destination_allow, and with accept_proxy, clients the listener knows.
 * allow does not make them known there: it is matched against the
 * address the PROXY header claims, which its sender writes.
 */
static void
config_validate_destination(struct config_parser *p,
    const struct listener_config *lc)
{
	const struct config_upstream	*cu;
	int				 i, line = 0;

	for (i = 0; i < lc->lc_nupstreams && line == 0; i++)
		if (lc->lc_upstreams[i].cu_destination)
			line = lc->lc_upstreams[i].cu_line;
	if (lc->lc_transparent != CONFIG_TRANSPARENT_NO && lc->lc_accept_proxy)
		config_error(p, lc->lc_transparent_line, "'transparent' and "
		    "'accept_proxy' exclude each other in [%s]: a transparent "
		    "listener takes the destination from the connection "
		    "itself", lc->lc_name);
	if (!lc->lc_upstream_destination) {
		if (lc->lc_dest_line != 0)
			config_error(p, lc->lc_dest_line, "the destination_* "
			    "keys need 'upstream = destination' in [%s]",
			    lc->lc_name);
		return;
	}
	/* Every other upstream line, a second "destination" included. */
	for (i = 0; i < lc->lc_nupstreams; i++) {
		cu = &lc->lc_upstreams[i];
		if (cu->cu_line != line)
			config_error(p, cu->cu_line, "'upstream = "
			    "destination' (line %d) cannot be combined with "
			    "other upstream lines in [%s]", line, lc->lc_name);
	}
	if (lc->lc_transparent == CONFIG_TRANSPARENT_NO && !lc->lc_accept_proxy)
		config_error(p, line, "'upstream = destination' needs "
		    "'transparent' or 'accept_proxy = yes' in [%s]: nothing "
		    "else names a destination", lc->lc_name);
	if (acl_empty(&lc->lc_dest_allow))
		config_error(p, line, "'upstream = destination' needs "
		    "'destination_allow' in [%s]: without it any client could "
		    "reach any address (an open proxy)", lc->lc_name);
	if (!lc->lc_accept_proxy || lc->lc_tls.ct_client_ca != NULL ||
	    !acl_empty(&lc->lc_accept_proxy_from))
		return;
	if (acl_empty(&lc->lc_allow)) {
		config_error(p, line, "'upstream = destination' with "
		    "'accept_proxy' needs clients the listener knows in [%s]: "
		    "'tls_client_ca' (a client certificate), "
		    "'accept_proxy_from' (the addresses that may send a "
		    "header) or 'allow'; else anyone who sends a PROXY header "
		    "chooses the destination (an open proxy)", lc->lc_name);
		return;
	}
	/*
	 * allow is what the contract names, and it is accepted; but with
	 * accept_proxy it is matched against the address the header claims,
	 * which whoever reaches the listener writes.
	 */
	log_warnx("%s:%d: [%s]: 'upstream = destination' with 'accept_proxy' "
	    "is guarded by 'allow' only, which is matched against the address "
	    "the PROXY header claims: anyone who can reach the listener may "
	    "claim an allowed one; also set 'accept_proxy_from' (the balancers' "
	    "addresses) or 'tls_client_ca'", p->p_name, line, lc->lc_name);
}

/* Checks that need the whole file: required keys, colliding addresses. */
static void
config_validate(struct config_parser *p)
{
	struct listener_config	*lc;

	config_validate_ids(p);
	if (TAILQ_EMPTY(&p->p_cf->cf_listeners)) {
		config_error(p, 0, "no listener defined: add a [NAME] section "
		    "with 'listen' and 'upstream'");
		return;
	}
	TAILQ_FOREACH(lc, &p->p_cf->cf_listeners, lc_entry) {
		if (lc->lc_listen_line == 0)
			config_error(p, lc->lc_line, "[%s]: missing 'listen'",
			    lc->lc_name);
		if (lc->lc_upstream_line == 0)
			config_error(p, lc->lc_line, "[%s]: missing 'upstream'",
			    lc->lc_name);
		if (lc->lc_proxy_from_line != 0 && !lc->lc_accept_proxy)
			config_error(p, lc->lc_proxy_from_line,
			    "'accept_proxy_from' needs 'accept_proxy = yes' in "
			    "[%s]", lc->lc_name);
		acl_finish(&lc->lc_accept_proxy_from);
		acl_finish(&lc->lc_allow);
		acl_finish(&lc->lc_deny);
		acl_finish(&lc->lc_dest_allow);
		acl_finish(&lc->lc_dest_deny);
		acl_ports_finish(&lc->lc_dest_ports);
		config_validate_destination(p, lc);
		config_tls(p, lc);
	}
	config_validate_listen(p);
	config_validate_stats(p);
}

/* Parse and check what p reads; NULL when anything is wrong. */
static struct config *
config_parse(struct config_parser *p)
{
	int	 ret;

	if ((p->p_cf = config_new()) == NULL ||
	    (p->p_cf->cf_path = strdup(p->p_name)) == NULL) {
		config_error(p, 0, "out of memory");
		if (p->p_cf != NULL)
			config_free(p->p_cf);
		return NULL;
	}
	ret = ini_parse_stream(config_reader, p, config_handler, p);
	config_section_end(p);
	if (ret == -2)
		config_error(p, 0, "out of memory");
	else if (ret > 0 && p->p_nerrors == 0)
		config_error(p, ret, "syntax error");
	if (p->p_fp != NULL && ferror(p->p_fp))
		config_error(p, 0, "read error");
	config_validate(p);
	tdestroy(p->p_sections, section_node_free);
	p->p_sections = NULL;
	free(p->p_linebuf);
	if (p->p_nerrors > 0) {
		config_free(p->p_cf);
		return NULL;
	}
	return p->p_cf;
}

static void
config_parser_init(struct config_parser *p, const char *name,
    struct config_diag *diag)
{
	memset(p, 0, sizeof(*p));
	p->p_name = name;
	p->p_diag = diag;
	p->p_sec = SEC_NONE;
}

struct config *
config_load(const char *path, struct config_diag *diag)
{
	return config_load_flags(path, 0, diag);
}

struct config *
config_load_flags(const char *path, unsigned flags, struct config_diag *diag)
{
	struct config_parser	 p;
	struct config		*cf = NULL;
	struct stat		 st;

	config_parser_init(&p, path, diag);
	p.p_flags = flags;
	if ((p.p_fp = fopen(path, "r")) == NULL)
		config_error(&p, 0, "cannot open: %s", strerror(errno));
	else if (fstat(fileno(p.p_fp), &st) == 0 && S_ISDIR(st.st_mode))
		/* fopen(3) opens one; only reading it fails (EISDIR). */
		config_error(&p, 0, "is a directory");
	else
		cf = config_parse(&p);
	if (p.p_fp != NULL)
		fclose(p.p_fp);
	config_parser_finish(&p);
	return cf;
}

struct config *
config_load_string(const char *text, const char *name,
    struct config_diag *diag)
{
	struct config_parser	 p;
	struct config		*cf;

	config_parser_init(&p, name, diag);
	p.p_str = text;
	cf = config_parse(&p);
	config_parser_finish(&p);
	return cf;
}
