/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * core/usage.h - what the command line tells its user when something fails.
 *
 * Every verb of the portcullis executable, the daemon's `run` among them,
 * exits with one of the PC_EXIT_* statuses (kubectl's: 0 success, 1 failure
 * of the input or the operation, 2 usage error) and prints its errors in one
 * format, "portcullis: <message>" on stderr. They live below both the CLI
 * and the daemon so that neither includes the other (doc/internals/layers.md).
 * The functions write to stderr and keep no state; they are not meant for a
 * daemon's log, which goes through core/log.h.
 */
#ifndef PC_CORE_USAGE_H
#define PC_CORE_USAGE_H

#define PC_EXIT_OK    0
#define PC_EXIT_FAIL  1
#define PC_EXIT_USAGE 2

/* Print "portcullis: <fmt>" and a newline to stderr. */
void pc_usage_print(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Print "portcullis: <verb>: <fmt>; see 'portcullis <verb> --help'" to
 * stderr and return PC_EXIT_USAGE: every verb's usage errors look alike.
 */
int pc_usage_error(const char *verb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * The usage error for getopt_long()'s '?' in <verb> (<argv> and the
 * globals optind/optopt as getopt_long() left them); <with_arg> lists the
 * short options that take an argument. Returns PC_EXIT_USAGE.
 */
int pc_usage_bad_option(const char *verb, char **argv, const char *with_arg);

#endif /* PC_CORE_USAGE_H */
