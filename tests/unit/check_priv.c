/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

/*
 * Privileges (priv.c), as root in a forked child of the test's own, so
 * that the runner keeps root: the switch to nobody and its groups for
 * good (no way back to root, no capability, none of root's supplementary
 * groups), the systemd User= case, the refusals; and whether a port may be
 * bound, against a net.ipv4.ip_unprivileged_port_start of the test's own
 * network namespace. The tests need what the kernel tests need (root,
 * CK_FORK): testutil decides once whether they run.
 */

#include "autoconf.h"

#include <sys/socket.h>
#include <sys/syscall.h>
#include <arpa/inet.h>
#include <linux/capability.h>
#include <netinet/in.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "log.h"
#include "priv.h"
#include "testutil.h"

struct who {
	uid_t	uid;
	gid_t	gid;
};

static struct who
who_is(const char *user, const char *group)
{
	struct passwd	*pw;
	struct group	*gr;
	struct who	 w;

	ck_assert_msg((pw = getpwnam(user)) != NULL, "no user %s", user);
	w.uid = pw->pw_uid;
	w.gid = pw->pw_gid;
	if (group != NULL) {
		ck_assert_msg((gr = getgrnam(group)) != NULL, "no group %s",
		    group);
		w.gid = gr->gr_gid;
	}
	return w;
}

/* The process is w, all three ids of each kind, and cannot be root again. */
static void
assert_dropped_for_good(struct who w)
{
	struct __user_cap_header_struct	hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct	cap[_LINUX_CAPABILITY_U32S_3];
	uid_t				r, e, s;
	gid_t				rg, eg, sg, groups[64];
	int				i, n;

	ck_assert_int_eq(getresuid(&r, &e, &s), 0);
	ck_assert(r == w.uid && e == w.uid && s == w.uid);
	ck_assert_int_eq(getresgid(&rg, &eg, &sg), 0);
	ck_assert(rg == w.gid && eg == w.gid && sg == w.gid);
	ck_assert_int_eq(setuid(0), -1);
	ck_assert_int_eq(errno, EPERM);
	ck_assert_int_eq(seteuid(0), -1);
	ck_assert_int_eq(setresuid(0, 0, 0), -1);
	ck_assert_int_eq(setgid(0), -1);
	ck_assert_int_eq(setgroups(0, NULL), -1);
	memset(cap, 0, sizeof(cap));
	ck_assert_int_eq(syscall(SYS_capget, &hdr, cap), 0);
	for (i = 0; i < _LINUX_CAPABILITY_U32S_3; i++) {
		ck_assert_uint_eq(cap[i].effective, 0);
		ck_assert_uint_eq(cap[i].permitted, 0);
	}
	/* Root's supplementary groups are gone. */
	ck_assert_int_ge(n = getgroups(64, groups), 0);
	for (i = 0; i < n; i++)
		ck_assert_msg(groups[i] != 0 && groups[i] != 4 &&
		    groups[i] != 27, "supplementary group %u kept",
		    (unsigned)groups[i]);
}

START_TEST(test_drop_to_nobody)
{
	struct testutil_capture	 cap;
	struct who		 w = who_is("nobody", NULL);
	gid_t			 rootgroups[] = { 0, 4, 27 };
	bool			 switched = false;
	char			*text, want[128];

	testutil_netns();
	ck_assert_int_eq(setgroups(3, rootgroups), 0);
	testutil_capture_start(&cap);
	ck_assert_int_eq(priv_drop("nobody", "", &switched), 0);
	text = testutil_capture_end(&cap);
	ck_assert(switched);
	assert_dropped_for_good(w);
	snprintf(want, sizeof(want), "running as user nobody (uid %u), group "
	    "%u", (unsigned)w.uid, (unsigned)w.gid);
	ck_assert_int_eq(testutil_count(text, want), 1);
	free(text);
}
END_TEST

START_TEST(test_drop_to_user_and_group)
{
	struct who	w = who_is("daemon", "nogroup");
	bool		switched = false;

	testutil_netns();
	ck_assert_int_eq(priv_drop("daemon", "nogroup", &switched), 0);
	ck_assert(switched);
	assert_dropped_for_good(w);
}
END_TEST

/* Started as the user already (systemd's User=): nothing to change. */
START_TEST(test_already_that_user)
{
	struct who	w = who_is("nobody", "nogroup");
	bool		switched = false;

	testutil_netns();
	ck_assert_int_eq(setgroups(0, NULL), 0);
	ck_assert_int_eq(setresgid(w.gid, w.gid, w.gid), 0);
	ck_assert_int_eq(setresuid(w.uid, w.uid, w.uid), 0);
	ck_assert_int_eq(priv_drop("nobody", "nogroup", &switched), 0);
	ck_assert(switched);
	assert_dropped_for_good(w);
	/* Another user is out of reach without root. */
	switched = true;
	ck_assert_int_eq(priv_drop("daemon", "", &switched), -1);
	ck_assert(!switched);
}
END_TEST

/* No user= : nothing happens, root stays root. */
START_TEST(test_no_user_stays)
{
	bool	switched = true;

	testutil_netns();
	ck_assert_int_eq(priv_drop("", "", &switched), 0);
	ck_assert(!switched);
	ck_assert_int_eq(geteuid(), 0);
	ck_assert_int_eq(getegid(), 0);
}
END_TEST

/* _i: 0 an unknown user, 1 an unknown group; refused, still root. */
START_TEST(test_unknown_names_refused)
{
	struct testutil_capture	 cap;
	bool			 switched = true;
	char			*text;

	testutil_netns();
	testutil_capture_start(&cap);
	if (_i == 0)
		ck_assert_int_eq(priv_drop("no-such-user-mptcp", "",
		    &switched), -1);
	else
		ck_assert_int_eq(priv_drop("nobody", "no-such-group-mptcp",
		    &switched), -1);
	text = testutil_capture_end(&cap);
	ck_assert(!switched);
	ck_assert_int_eq(geteuid(), 0);
	ck_assert_int_eq(getuid(), 0);
	ck_assert_int_eq(getegid(), 0);
	ck_assert_int_eq(testutil_count(text, _i == 0 ?
	    "error: user 'no-such-user-mptcp' does not exist" :
	    "error: group 'no-such-group-mptcp' does not exist"), 1);
	free(text);
}
END_TEST

/* Whether bind(2) itself lets this process have the port. */
static bool
kernel_lets_bind(uint16_t port)
{
	struct sockaddr_in	sin = { .sin_family = AF_INET };
	int			fd, rc;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(port);
	ck_assert_int_ge(fd = socket(AF_INET, SOCK_STREAM, 0), 0);
	rc = bind(fd, (struct sockaddr *)&sin, sizeof(sin));
	ck_assert(rc == 0 || errno == EACCES);
	close(fd);
	return rc == 0;
}

/*
 * _i: 0 ip_unprivileged_port_start 1024, 1 at 70. Root may bind any
 * port; once dropped, only those from the start, as bind(2) agrees.
 */
START_TEST(test_can_bind_port)
{
	static const uint16_t	ports[] = { 22, 69, 70, 80, 1023, 1024, 8080 };
	const char		*start = _i == 0 ? "1024" : "70";
	bool			switched;
	char			why[256], want[160];
	size_t			i;

	testutil_netns();
	testutil_sysctl_write("net/ipv4/ip_unprivileged_port_start", start);
	for (i = 0; i < sizeof(ports) / sizeof(ports[0]); i++) {
		why[0] = '\0';
		ck_assert(priv_can_bind_port(ports[i], why, sizeof(why)));
		ck_assert_str_eq(why, "");
	}
	ck_assert_int_eq(priv_drop("nobody", "", &switched), 0);
	for (i = 0; i < sizeof(ports) / sizeof(ports[0]); i++) {
		why[0] = '\0';
		ck_assert_msg(priv_can_bind_port(ports[i], why, sizeof(why)) ==
		    (ports[i] >= atoi(start)), "port %u", ports[i]);
		ck_assert_msg(kernel_lets_bind(ports[i]) ==
		    (ports[i] >= atoi(start)), "bind to port %u", ports[i]);
		if (ports[i] >= atoi(start))
			continue;
		snprintf(want, sizeof(want), "port %u is below "
		    "net.ipv4.ip_unprivileged_port_start (%s) and the daemon "
		    "no longer has CAP_NET_BIND_SERVICE", ports[i], start);
		ck_assert_str_eq(why, want);
	}
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("priv");
	TCase	*tk = tcase_create("root");

	log_init(LOG_LVL_INFO);
	/* Every test here needs root and a fork: left out, none runs (SKIP). */
	if (testutil_kernel_tests("check_priv", 0)) {
		tcase_add_test(tk, test_drop_to_nobody);
		tcase_add_test(tk, test_drop_to_user_and_group);
		tcase_add_test(tk, test_already_that_user);
		tcase_add_test(tk, test_no_user_stays);
		tcase_add_loop_test(tk, test_unknown_names_refused, 0, 2);
		tcase_add_loop_test(tk, test_can_bind_port, 0, 2);
		suite_add_tcase(s, tk);
	}
	return testutil_run(srunner_create(s));
}
