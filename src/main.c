/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

#include "autoconf.h"

#include "daemon.h"

int
main(int argc, char **argv)
{
	return daemon_main(argc, argv);
}
