/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cli/paths.h - the inputs of -f: files, directories and standard input.
 *
 * Every verb that takes -f PATH (validate, apply, delete) walks its inputs
 * the same way: a file is itself, "-" is standard input, and a directory
 * stands for the *.yaml, *.yml and *.json files below it, searched
 * recursively in sorted order, hidden entries skipped and symbolic links to
 * directories not followed. The CLI may exit on lack of memory
 * (pc_xmalloc), so nothing here returns -ENOMEM.
 */
#ifndef PC_CLI_PATHS_H
#define PC_CLI_PATHS_H

#include <stddef.h>

/* A list of strings; whether the list owns them is up to its user. */
struct pc_paths {
	char **v;
	size_t n;
};

/* Append <s> to <p>, which takes it as is (no copy). */
void pc_paths_add(struct pc_paths *p, char *s);

/* Free every string of <p> and the list itself; <p> is then empty. */
void pc_paths_free_all(struct pc_paths *p);

/*
 * Append to <out> copies of the files that the -f argument <path> stands
 * for: <path> itself when it is "-", not a directory or not there (opening
 * it reports the problem later), else the manifest files below it. Returns
 * 0, or a negative errno after printing why (an unreadable directory,
 * nesting beyond 64 levels, a directory without manifests); nothing is
 * appended then.
 */
int pc_paths_expand(const char *path, struct pc_paths *out);

/*
 * Read the whole of <path> ("-": standard input) into a new buffer
 * (<*buf>, NUL-terminated, freed by the caller; <*len> bytes). A regular
 * file larger than <max> bytes is refused before it is read. Returns 0,
 * -EFBIG (over <max>), -EISDIR, or the negative errno of open/read.
 */
int pc_paths_read(const char *path, size_t max, char **buf, size_t *len);

/* The name findings give <path>: "<stdin>" for "-", else <path>. */
const char *pc_paths_display(const char *path);

#endif /* PC_CLI_PATHS_H */
