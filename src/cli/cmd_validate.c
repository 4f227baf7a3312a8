/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cli/cmd_validate.c - `portcullis validate`: check manifests offline.
 *
 * Loads every -f input (files, directories searched recursively for
 * *.yaml, *.yml and *.json, or "-" for standard input) with the same code
 * the daemon uses, prints one line per finding and a summary, and exits 0
 * when every resource is valid (warnings allowed), 1 otherwise.
 */
#include "cli/cmd.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/output.h"
#include "core/alloc.h"
#include "model/finding.h"
#include "model/manifest.h"

static const char usage[] =
	"Usage: portcullis validate -f PATH [-f PATH ...] [-o text|json]\n"
	"\n"
	"Validate Istio networking resources (ServiceEntry, VirtualService,\n"
	"DestinationRule, Sidecar, WorkloadEntry; networking.istio.io v1alpha3,\n"
	"v1beta1 and v1) exactly as Istio's admission webhook and CRD schemas do,\n"
	"without a cluster.\n"
	"\n"
	"Options:\n"
	"  -f, --filename PATH   a file, a directory (searched recursively for *.yaml,\n"
	"                        *.yml and *.json) or - for standard input; repeatable\n"
	"  -o, --output FORMAT   text (default): one line per finding, compiler style;\n"
	"                        json: the findings as a JSON array\n"
	"  -q, --quiet           text output without the summary line\n"
	"  -h, --help            show this help\n"
	"\n"
	"Exit status: 0 every resource is valid (warnings allowed), 1 some input is\n"
	"invalid or unreadable, 2 usage error.\n"
	"\n"
	"Limits: an input may be at most 32 MiB, nest at most 100 levels, hold at\n"
	"most 10,000 anchors per document and expand to at most 1,048,576 nodes\n"
	"per document once aliases are counted.\n";

struct paths {
	char **v;
	size_t n;
};

static void paths_add(struct paths *p, char *s)
{
	p->v = pc_xrealloc(p->v, (p->n + 1) * sizeof(*p->v));
	p->v[p->n++] = s;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool is_manifest_name(const char *name)
{
	const char *dot = strrchr(name, '.');

	return dot && (strcmp(dot, ".yaml") == 0 || strcmp(dot, ".yml") == 0 ||
		       strcmp(dot, ".json") == 0);
}

/*
 * Collect manifest files below <dir> in sorted order; symlinked directories
 * are not followed. Returns 0 or a negative errno, after saying which
 * directory could not be read.
 */
static int walk(const char *dir, struct paths *out, int depth)
{
	struct paths names = { NULL, 0 };
	struct dirent *de;
	struct stat st;
	size_t i;
	int ret = 0;
	DIR *d;

	if (depth > 64) {
		pc_cli_error("%s: directories nested deeper than 64 levels", dir);
		return -ELOOP;
	}
	d = opendir(dir);
	if (!d) {
		ret = -errno;
		pc_cli_error("cannot read directory %s: %s", dir, strerror(-ret));
		return ret;
	}
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			paths_add(&names, pc_xstrdup(de->d_name));
	closedir(d);
	if (names.n)
		qsort(names.v, names.n, sizeof(*names.v), cmp_str);
	for (i = 0; i < names.n; i++) {
		size_t len = strlen(dir) + strlen(names.v[i]) + 2;
		char *path = pc_xmalloc(len);
		bool slash = dir[strlen(dir) - 1] == '/';

		snprintf(path, len, "%s%s%s", dir, slash ? "" : "/", names.v[i]);
		free(names.v[i]);
		if (ret < 0 || lstat(path, &st) == -1) {
			free(path);
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			ret = walk(path, out, depth + 1);
			free(path);
		} else if (is_manifest_name(path) && (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode))) {
			paths_add(out, path);
		} else {
			free(path);
		}
	}
	free(names.v);
	return ret;
}

static int load_path(struct pc_manifest *m, const char *path, struct pc_findings *f,
		     size_t *files)
{
	struct paths found = { NULL, 0 };
	struct stat st;
	size_t i;
	int ret = 0;

	if (strcmp(path, "-") == 0 || stat(path, &st) == -1 || !S_ISDIR(st.st_mode)) {
		(*files)++;
		return pc_manifest_add_file(m, path, f);
	}
	ret = walk(path, &found, 0);
	if (ret == 0 && found.n == 0) {
		pc_cli_error("no *.yaml, *.yml or *.json files in directory %s", path);
		ret = -ENOENT;
	}
	for (i = 0; i < found.n; i++) {
		if (ret == 0) {
			(*files)++;
			ret = pc_manifest_add_file(m, found.v[i], f);
		}
		free(found.v[i]);
	}
	free(found.v);
	return ret;
}

static void summary(const struct pc_manifest *m, const struct pc_findings *f, size_t files)
{
	size_t i, invalid = 0;

	for (i = 0; i < m->nres; i++)
		invalid += m->res[i].nerr > 0;
	printf("%zu resource%s in %zu file%s: %zu valid, %zu invalid; %zu error%s, %zu warning%s\n",
	       m->nres, m->nres == 1 ? "" : "s", files, files == 1 ? "" : "s", m->nres - invalid,
	       invalid, f->total_err, f->total_err == 1 ? "" : "s", f->total_warn,
	       f->total_warn == 1 ? "" : "s");
}

struct vopts {
	struct paths inputs; /* borrowed from argv */
	bool json;
	bool quiet;
};

#define usage_error(...) pc_cli_usage_error("validate", __VA_ARGS__)

/* Fill <o> from argv. Returns -1 to go on, or the exit status to return now. */
static int parse_args(int argc, char **argv, struct vopts *o)
{
	static const struct option opts[] = {
		{ "filename", required_argument, NULL, 'f' },
		{ "output", required_argument, NULL, 'o' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+f:o:qh", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			if (!*optarg)
				return usage_error("-f needs a file, a directory or -");
			paths_add(&o->inputs, optarg);
			break;
		case 'o':
			o->json = strcmp(optarg, "json") == 0;
			if (!o->json && strcmp(optarg, "text") != 0)
				return usage_error("unknown output format \"%s\" (use text or json)",
						   optarg);
			break;
		case 'q':
			o->quiet = true;
			break;
		case 'h':
			fputs(usage, stdout);
			return PC_EXIT_OK;
		default:
			if (!optopt)
				return usage_error("unknown option \"%s\"", argv[optind - 1]);
			if (strchr("fo", optopt))
				return usage_error("option -%c needs an argument", optopt);
			return usage_error("unknown option \"-%c\"", optopt);
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument \"%s\" (give files with -f)", argv[optind]);
	if (o->inputs.n == 0)
		return usage_error("nothing to validate: give at least one -f PATH");
	return -1;
}

static int run(const struct vopts *o)
{
	struct pc_findings f;
	struct pc_manifest m;
	bool failed = false;
	size_t i, files = 0;
	int ret = 0, status;

	pc_findings_init(&f);
	if (pc_manifest_init(&m) < 0) {
		pc_cli_error("out of memory");
		return PC_EXIT_FAIL;
	}
	for (i = 0; i < o->inputs.n && ret != -ENOMEM; i++) {
		ret = load_path(&m, o->inputs.v[i], &f, &files);
		failed |= ret < 0; /* an unreadable directory fails the run, later ones too */
	}
	if (ret == -ENOMEM || f.oom) {
		pc_cli_error("out of memory while validating");
		status = PC_EXIT_FAIL;
		goto out;
	}
	pc_output_sort(&f);
	if (o->json) {
		pc_output_json(stdout, &f);
	} else {
		pc_output_text(stdout, &f);
		if (!o->quiet)
			summary(&m, &f, files);
	}
	status = f.total_err || failed ? PC_EXIT_FAIL : PC_EXIT_OK;
	for (i = 0; i < m.nres; i++)
		if (m.res[i].nerr) /* never exit 0 with an invalid resource */
			status = PC_EXIT_FAIL;
out:
	pc_manifest_release(&m);
	pc_findings_release(&f);
	return status;
}

int pc_cmd_validate(int argc, char **argv)
{
	struct vopts o = { { NULL, 0 }, false, false };
	int status = parse_args(argc, argv, &o);

	if (status < 0)
		status = run(&o);
	free(o.inputs.v);
	return status;
}
