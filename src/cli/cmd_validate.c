/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cli/cmd_validate.c - `portcullis validate`: check manifests offline.
 *
 * Loads every -f input (files, directories searched recursively for
 * *.yaml, *.yml and *.json, or "-" for standard input) with the same code
 * the daemon uses, prints one line per finding and a summary, and exits 0
 * when every resource is valid (warnings allowed), 1 otherwise. With
 * --namespace it also warns about the objects that can never apply to a
 * workload of that namespace (and --labels), as the daemon's scope would
 * decide (policy/scope.h).
 */
#include "cli/cmd.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/paths.h"
#include "core/alloc.h"
#include "core/usage.h"
#include "model/finding.h"
#include "model/manifest.h"
#include "model/output.h"
#include "model/rules.h"
#include "policy/scope.h"
#include "policy/snapshot.h"

static const char usage[] =
	"Usage: portcullis validate -f PATH [-f PATH ...] [-o text|json]\n"
	"         [--namespace NS [--labels K=V,...] [--root-namespace NS]]\n"
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
	"      --namespace NS    also warn about objects that can never apply to a\n"
	"                        workload of namespace NS (a Sidecar of another\n"
	"                        namespace, an exportTo that hides it, a\n"
	"                        workloadSelector that does not select it), as\n"
	"                        `portcullis run --namespace NS` would scope them\n"
	"      --labels K=V,...  the workload's labels, for workloadSelectors (with\n"
	"                        --namespace)\n"
	"      --root-namespace NS  the mesh's root namespace (default istio-system)\n"
	"  -h, --help            show this help\n"
	"\n"
	"Exit status: 0 every resource is valid (warnings allowed), 1 some input is\n"
	"invalid or unreadable, 2 usage error.\n"
	"\n"
	"Limits: an input may be at most 32 MiB, nest at most 100 levels, hold at\n"
	"most 10,000 anchors per document and expand to at most 1,048,576 nodes\n"
	"per document once aliases are counted.\n";

static int load_path(struct pc_manifest *m, const char *path, struct pc_findings *f, size_t *files)
{
	struct pc_paths found = { NULL, 0 };
	size_t i;
	int ret;

	ret = pc_paths_expand(path, &found);
	for (i = 0; i < found.n && ret == 0; i++) {
		(*files)++;
		ret = pc_manifest_add_file(m, found.v[i], f);
	}
	pc_paths_free_all(&found);
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
	struct pc_paths inputs; /* borrowed from argv */
	bool json;
	bool quiet;
	const char *ns;      /* --namespace: warn about what never applies there */
	const char *root_ns; /* --root-namespace */
	char *labels;        /* --labels, NUL-separated "k=v" (malloc'd) */
	size_t labels_len;
};

enum { OPT_NS = 0x100, OPT_LABELS, OPT_ROOT_NS };

#define usage_error(...) pc_usage_error("validate", __VA_ARGS__)

/* Fill <o> from argv. Returns -1 to go on, or the exit status to return now. */
static int parse_args(int argc, char **argv, struct vopts *o)
{
	static const struct option opts[] = {
		{ "filename", required_argument, NULL, 'f' },
		{ "output", required_argument, NULL, 'o' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "namespace", required_argument, NULL, OPT_NS },
		{ "labels", required_argument, NULL, OPT_LABELS },
		{ "root-namespace", required_argument, NULL, OPT_ROOT_NS },
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
			pc_paths_add(&o->inputs, optarg);
			break;
		case 'o':
			o->json = strcmp(optarg, "json") == 0;
			if (!o->json && strcmp(optarg, "text") != 0)
				return usage_error(
					"unknown output format \"%s\" (use text or json)", optarg);
			break;
		case 'q':
			o->quiet = true;
			break;
		case OPT_NS:
			if (!pc_is_k8s_dns1123_label(optarg))
				return usage_error("--namespace needs " PC_NAMESPACE_RULE
						   ", not \"%s\"",
						   optarg);
			o->ns = optarg;
			break;
		case OPT_ROOT_NS:
			if (!pc_is_k8s_dns1123_label(optarg))
				return usage_error("--root-namespace needs " PC_NAMESPACE_RULE
						   ", not \"%s\"",
						   optarg);
			o->root_ns = optarg;
			break;
		case OPT_LABELS: {
			char msg[PC_RULE_MSG];

			free(o->labels);
			if (pc_labels_arg_parse(optarg, &o->labels, &o->labels_len, msg,
						sizeof(msg)) < 0)
				return usage_error("--labels needs KEY=VALUE[,KEY=VALUE...]: %s",
						   msg);
			break;
		}
		case 'h':
			fputs(usage, stdout);
			return PC_EXIT_OK;
		default:
			return pc_usage_bad_option("validate", argv, "fo");
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument \"%s\" (give files with -f)", argv[optind]);
	if (o->inputs.n == 0)
		return usage_error("nothing to validate: give at least one -f PATH");
	if (!o->ns && (o->labels || o->root_ns))
		return usage_error("--labels and --root-namespace need --namespace");
	return -1;
}

/* Warn about what can never apply to the workload of --namespace (policy/scope.h). */
static int scope_warnings(const struct vopts *o, const struct pc_manifest *m, struct pc_findings *f)
{
	struct pc_compile_opts co = { .policy = -1 };
	struct pc_scope s = { 0 };
	int ret;

	co.ns = o->ns;
	co.root_ns = o->root_ns;
	co.labels = o->labels;
	co.labels_len = o->labels_len;
	ret = pc_scope_init(&s, m, &co);
	if (ret < 0)
		return ret;
	ret = pc_scope_warn(&s, f);
	pc_scope_release(&s);
	return ret;
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
		pc_usage_print("out of memory");
		return PC_EXIT_FAIL;
	}
	for (i = 0; i < o->inputs.n && ret != -ENOMEM; i++) {
		ret = load_path(&m, o->inputs.v[i], &f, &files);
		failed |= ret < 0; /* an unreadable directory fails the run, later ones too */
	}
	if (ret == -ENOMEM || f.oom) {
		pc_usage_print("out of memory while validating");
		status = PC_EXIT_FAIL;
		goto out;
	}
	if (o->ns && scope_warnings(o, &m, &f) < 0) {
		pc_usage_print("out of memory while validating");
		status = PC_EXIT_FAIL;
		goto out;
	}
	pc_output_sort(&f);
	if (o->json) {
		if (pc_output_json(stdout, &f) < 0) {
			pc_usage_print("out of memory while printing the findings");
			status = PC_EXIT_FAIL;
			goto out;
		}
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
	struct vopts o = { { NULL, 0 }, false, false, NULL, NULL, NULL, 0 };
	int status = parse_args(argc, argv, &o);

	if (status < 0)
		status = run(&o);
	free(o.inputs.v);
	free(o.labels);
	return status;
}
