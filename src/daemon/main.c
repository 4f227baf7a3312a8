/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * daemon/main.c - the portcullis executable.
 *
 * One binary, verbs: `run` is the daemon (this layer, which may use every
 * other); every other verb is the command line (src/cli), which never
 * links the proxy. main() only dispatches, so fuzz targets can drive
 * pc_cli_main() directly (wireguard-tools' trick).
 */
#include <string.h>

#include "cli/cmd.h"
#include "daemon/run.h"

int main(int argc, char **argv)
{
	char *help_run[] = { "run", "--help", NULL };

	if (argc >= 2 && strcmp(argv[1], "run") == 0)
		return pc_daemon_run(argc - 1, argv + 1);
	if (argc == 3 && strcmp(argv[1], "help") == 0 && strcmp(argv[2], "run") == 0)
		return pc_daemon_run(2, help_run);
	return pc_cli_main(argc, argv);
}
