/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cli/cmd.h - the verbs of the portcullis command line.
 *
 * Each verb is int cmd_<verb>(int argc, char **argv) with argv[0] the verb
 * itself, and returns the process exit status: 0 success, 1 failure
 * (invalid input, failed operation), 2 usage error, as kubectl does.
 */
#ifndef PC_CLI_CMD_H
#define PC_CLI_CMD_H

#define PC_EXIT_OK    0
#define PC_EXIT_FAIL  1
#define PC_EXIT_USAGE 2

int pc_cmd_validate(int argc, char **argv);
int pc_cmd_iptables(int argc, char **argv);
int pc_cmd_apply(int argc, char **argv);
int pc_cmd_get(int argc, char **argv);
int pc_cmd_delete(int argc, char **argv);

/* Every verb but `run`: argv as main() got it. */
int pc_cli_main(int argc, char **argv);

/*
 * Print "portcullis: <verb>: <fmt>; see 'portcullis <verb> --help'" to
 * stderr and return PC_EXIT_USAGE: every verb's usage errors look alike.
 */
int pc_cli_usage_error(const char *verb, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * The usage error for getopt_long()'s '?' in <verb> (<argv> and the
 * globals optind/optopt as getopt_long() left them); <with_arg> lists the
 * short options that take an argument. Returns PC_EXIT_USAGE.
 */
int pc_cli_bad_option(const char *verb, char **argv, const char *with_arg);

/* Print "portcullis: <fmt>" to stderr. */
void pc_cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* PC_CLI_CMD_H */
