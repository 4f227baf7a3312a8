/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cli/paths.c - expanding -f arguments and reading inputs.
 *
 * Directories are walked with opendir/lstat and sorted by name at each
 * level, so the order of the files (and of everything reported about them)
 * does not depend on the file system. Reading stops at the size limit:
 * a file over it is refused from its size when it has one, a pipe after
 * <max> + 1 bytes, so no input makes the CLI grow without bound.
 */
#include "cli/paths.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/usage.h"

#define WALK_MAX_DEPTH 64

void pc_paths_add(struct pc_paths *p, char *s)
{
	p->v = pc_xrealloc(p->v, (p->n + 1) * sizeof(*p->v));
	p->v[p->n++] = s;
}

void pc_paths_free_all(struct pc_paths *p)
{
	size_t i;

	for (i = 0; i < p->n; i++)
		free(p->v[i]);
	free(p->v);
	p->v = NULL;
	p->n = 0;
}

const char *pc_paths_display(const char *path)
{
	return strcmp(path, "-") == 0 ? "<stdin>" : path;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool is_manifest_name(const char *name)
{
	const char *dot = strrchr(name, '.');

	return dot &&
	       (strcmp(dot, ".yaml") == 0 || strcmp(dot, ".yml") == 0 || strcmp(dot, ".json") == 0);
}

/* The sorted names in <dir>, hidden ones left out. Returns 0 or a negative errno. */
static int list_dir(const char *dir, struct pc_paths *names)
{
	struct dirent *de;
	DIR *d;
	int ret;

	d = opendir(dir);
	if (!d) {
		ret = -errno;
		pc_usage_print("cannot read directory %s: %s", dir, strerror(-ret));
		return ret;
	}
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			pc_paths_add(names, pc_xstrdup(de->d_name));
	closedir(d);
	if (names->n)
		qsort(names->v, names->n, sizeof(*names->v), cmp_str);
	return 0;
}

/*
 * Collect manifest files below <dir> in sorted order; symlinked directories
 * are not followed. Returns 0 or a negative errno, after saying which
 * directory could not be read.
 */
static int walk(const char *dir, struct pc_paths *out, int depth)
{
	struct pc_paths names = { NULL, 0 };
	bool slash = dir[0] && dir[strlen(dir) - 1] == '/';
	struct stat st;
	size_t i;
	int ret;

	if (depth > WALK_MAX_DEPTH) {
		pc_usage_print("%s: directories nested deeper than %d levels", dir, WALK_MAX_DEPTH);
		return -ELOOP;
	}
	ret = list_dir(dir, &names);
	for (i = 0; i < names.n && ret == 0; i++) {
		size_t len = strlen(dir) + strlen(names.v[i]) + 2;
		char *path = pc_xmalloc(len);

		snprintf(path, len, "%s%s%s", dir, slash ? "" : "/", names.v[i]);
		if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
			ret = walk(path, out, depth + 1);
		} else if (lstat(path, &st) == 0 && is_manifest_name(path) &&
			   (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode))) {
			pc_paths_add(out, path);
			continue; /* <out> owns it now */
		}
		free(path);
	}
	pc_paths_free_all(&names);
	return ret;
}

int pc_paths_expand(const char *path, struct pc_paths *out)
{
	struct pc_paths found = { NULL, 0 };
	struct stat st;
	size_t i;
	int ret;

	if (strcmp(path, "-") == 0 || stat(path, &st) == -1 || !S_ISDIR(st.st_mode)) {
		pc_paths_add(out, pc_xstrdup(path));
		return 0;
	}
	ret = walk(path, &found, 0);
	if (ret == 0 && found.n == 0) {
		pc_usage_print("no *.yaml, *.yml or *.json files in directory %s", path);
		ret = -ENOENT;
	}
	if (ret < 0) {
		pc_paths_free_all(&found);
		return ret;
	}
	for (i = 0; i < found.n; i++)
		pc_paths_add(out, found.v[i]);
	free(found.v);
	return 0;
}

int pc_paths_read(const char *path, size_t max, char **buf, size_t *len)
{
	bool is_stdin = strcmp(path, "-") == 0;
	struct stat st;
	int fd, ret;

	fd = is_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		return -errno;
	if (fstat(fd, &st) == -1)
		ret = -errno;
	else if (S_ISDIR(st.st_mode))
		ret = -EISDIR;
	else if (S_ISREG(st.st_mode) && (size_t)st.st_size > max)
		ret = -EFBIG;
	else
		ret = pc_read_all(fd, max, buf, len);
	if (!is_stdin)
		close(fd);
	return ret;
}
