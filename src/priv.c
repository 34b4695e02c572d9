/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

#include "autoconf.h"

#include <sys/syscall.h>
#include <sys/types.h>
#include <linux/capability.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "priv.h"

#define PRIV_PORT_SYSCTL "/proc/sys/net/ipv4/ip_unprivileged_port_start"

int
priv_drop(const char *user, const char *group, bool *switched)
{
	struct passwd	*pw;
	struct group	*gr;
	gid_t		 gid;

	*switched = false;
	if (user[0] == '\0')
		return 0;
	errno = 0;
	if ((pw = getpwnam(user)) == NULL) {
		log_error("user '%s' does not exist%s%s", user,
		    errno != 0 ? ": " : "", errno != 0 ? strerror(errno) : "");
		return -1;
	}
	gid = pw->pw_gid;
	if (group[0] != '\0') {
		errno = 0;
		if ((gr = getgrnam(group)) == NULL) {
			log_error("group '%s' does not exist", group);
			return -1;
		}
		gid = gr->gr_gid;
	}
	if (getuid() == pw->pw_uid && geteuid() == pw->pw_uid &&
	    getgid() == gid && getegid() == gid) {
		/* Started as that user already, e.g. by systemd's User=. */
		*switched = true;
		return 0;
	}
	if (geteuid() != 0) {
		log_error("cannot switch to user '%s': not running as root",
		    user);
		return -1;
	}
	if (initgroups(pw->pw_name, gid) == -1 ||
	    setresgid(gid, gid, gid) == -1 ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) == -1) {
		log_error("cannot switch to user '%s': %s", user,
		    strerror(errno));
		return -1;
	}
	if (setuid(0) != -1 || seteuid(0) != -1) {
		log_error("switched to user '%s' but could become root again",
		    user);
		return -1;
	}
	log_notice("running as user %s (uid %u), group %u", pw->pw_name,
	    (unsigned)pw->pw_uid, (unsigned)gid);
	*switched = true;
	return 0;
}

/* Whether capability cap is in the effective set. */
static bool
priv_has_cap(int cap)
{
	struct __user_cap_header_struct	hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
		.pid = 0,
	};
	struct __user_cap_data_struct	data[_LINUX_CAPABILITY_U32S_3];

	memset(data, 0, sizeof(data));
	if (syscall(SYS_capget, &hdr, data) == -1)
		return false;
	return (data[CAP_TO_INDEX(cap)].effective & CAP_TO_MASK(cap)) != 0;
}

bool
priv_can_bind_port(uint16_t port, char *why, size_t whylen)
{
	FILE	*fp;
	long	 start = 1024;

	if ((fp = fopen(PRIV_PORT_SYSCTL, "re")) != NULL) {
		if (fscanf(fp, "%ld", &start) != 1)
			start = 1024;
		fclose(fp);
	}
	if (port >= start || priv_has_cap(CAP_NET_BIND_SERVICE))
		return true;
	snprintf(why, whylen, "port %u is below "
	    "net.ipv4.ip_unprivileged_port_start (%ld) and the daemon no "
	    "longer has CAP_NET_BIND_SERVICE", port, start);
	return false;
}

bool
priv_can_transparent(char *why, size_t whylen)
{
	/* The kernel's test for IP_TRANSPARENT takes either. */
	if (priv_has_cap(CAP_NET_ADMIN) || priv_has_cap(CAP_NET_RAW))
		return true;
	snprintf(why, whylen, "transparent = tproxy needs CAP_NET_ADMIN (for "
	    "IP_TRANSPARENT), which the daemon does not have");
	return false;
}
