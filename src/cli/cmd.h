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

#include <stdbool.h>
#include <stddef.h>

#define PC_EXIT_OK    0
#define PC_EXIT_FAIL  1
#define PC_EXIT_USAGE 2

int pc_cmd_validate(int argc, char **argv);
int pc_cmd_iptables(int argc, char **argv);
int pc_cmd_apply(int argc, char **argv);
int pc_cmd_get(int argc, char **argv);
int pc_cmd_delete(int argc, char **argv);
int pc_cmd_connections(int argc, char **argv);
int pc_cmd_top(int argc, char **argv);

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

/*
 * Helpers shared by `connections` and `top` (cli/cmd_connections.c), which
 * print what the admin endpoint of `portcullis run` sends (doc/admin.md).
 */
struct pc_buf;
struct pc_node;

/*
 * The number at <key> of mapping <map> in <*out>: true for a finite JSON
 * number, false otherwise (absent, a string, null, 1e999, ...).
 */
bool pc_cli_num(const struct pc_node *map, const char *key, double *out);

/* <n> bytes as people read them: "512B", "1.2KiB", "3.0MiB", ...; "-" if <n> < 0. */
void pc_cli_bytes(char *out, size_t size, double n);

/*
 * A text table laid out like kubectl's (left-aligned columns, 3 spaces
 * between them). Cells are copied and made safe for a terminal: cut at
 * their first line break ("..." added), control characters and invalid
 * UTF-8 shown as '?'.
 */
struct pc_cli_grid {
	size_t ncols;
	size_t nrows;
	char **cells; /* nrows * ncols */
};

void pc_cli_grid_init(struct pc_cli_grid *g, size_t ncols);
void pc_cli_grid_release(struct pc_cli_grid *g);

/* Add a row of g->ncols <cells>; a NULL cell prints as "<none>". */
void pc_cli_grid_add(struct pc_cli_grid *g, const char *const *cells);

/*
 * Append the rows to <out>, each line ending in '\n' without trailing
 * blanks and cut to <width> characters (0: no limit).
 */
void pc_cli_grid_print(const struct pc_cli_grid *g, struct pc_buf *out, size_t width);

/*
 * A copy of <s> safe for a terminal (free() it): cut at its first line
 * break ("..." added), control characters and invalid UTF-8 shown as '?'.
 */
char *pc_cli_safe(const char *s);

/* Characters (UTF-8 code points) in <s>: the width a terminal gives it. */
size_t pc_cli_width(const char *s);

#endif /* PC_CLI_CMD_H */
