/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

#include "autoconf.h"

#include <getopt.h>
#include <stdio.h>

#include "config.h"
#include "daemon.h"
#include "log.h"

static const struct option main_longopts[] = {
	{ "config",	required_argument,	NULL,	'c' },
	{ "test",	no_argument,		NULL,	't' },
	{ "diagnose",	no_argument,		NULL,	'D' },
	{ "log-level",	required_argument,	NULL,	'l' },
	{ "version",	no_argument,		NULL,	'V' },
	{ "help",	no_argument,		NULL,	'h' },
	{ NULL,		0,			NULL,	0 },
};

static void
main_usage(FILE *fp)
{
	fprintf(fp,
	    "usage: mptcp-relayd [-c FILE] [-t] [-D] [-l LEVEL] [-V] [-h]\n"
	    "  -c, --config FILE     configuration file (default %s)\n"
	    "  -t, --test            check the configuration and exit\n"
	    "  -D, --diagnose        report the host's MPTCP readiness and "
	    "exit\n"
	    "  -l, --log-level LEVEL error, warning, notice, info or debug\n"
	    "  -V, --version         print the version and exit\n"
	    "  -h, --help            print this help and exit\n",
	    CONFIG_DEFAULT_PATH);
}

int
main(int argc, char **argv)
{
	struct daemon_opts	opts = {
		.do_config_path = CONFIG_DEFAULT_PATH,
		.do_log_level = LOG_LVL_INFO,
	};
	int			ch;

	while ((ch = getopt_long(argc, argv, "c:tDl:Vh", main_longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'c':
			opts.do_config_path = optarg;
			break;
		case 't':
			opts.do_test = true;
			break;
		case 'D':
			opts.do_diagnose = true;
			break;
		case 'l':
			if (log_level_parse(optarg, &opts.do_log_level) == -1) {
				fprintf(stderr, "mptcp-relayd: invalid log "
				    "level '%s': expected error, warning, "
				    "notice, info or debug\n", optarg);
				return DAEMON_EXIT_CONFIG;
			}
			opts.do_log_level_forced = true;
			break;
		case 'V':
			printf("mptcp-relayd %s\n", PACKAGE_VERSION);
			return DAEMON_EXIT_OK;
		case 'h':
			main_usage(stdout);
			return DAEMON_EXIT_OK;
		default:
			main_usage(stderr);
			return DAEMON_EXIT_CONFIG;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "mptcp-relayd: unexpected argument '%s'\n",
		    argv[optind]);
		main_usage(stderr);
		return DAEMON_EXIT_CONFIG;
	}
	return daemon_main(&opts);
}
