/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cli/cmd.h - the verbs of the portcullis command line.
 *
 * Each verb is int pc_cmd_<verb>(int argc, char **argv) with argv[0] the
 * verb itself, and returns the process exit status (core/usage.h): 0
 * success, 1 failure (invalid input, failed operation), 2 usage error, as
 * kubectl does. The executable's one verb table is in src/main.c.
 */
#ifndef PC_CLI_CMD_H
#define PC_CLI_CMD_H

int pc_cmd_validate(int argc, char **argv);
int pc_cmd_iptables(int argc, char **argv);
int pc_cmd_apply(int argc, char **argv);
int pc_cmd_get(int argc, char **argv);
int pc_cmd_delete(int argc, char **argv);
int pc_cmd_connections(int argc, char **argv);
int pc_cmd_top(int argc, char **argv);

#endif /* PC_CLI_CMD_H */
