/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cli/cmd_delete.c - `portcullis delete`: remove objects from the live
 * configuration.
 *
 * The objects are named on the command line (KIND NAME...) or by manifests
 * (-f), which are loaded locally with the model's loader only to learn
 * each object's kind, namespace and name: a manifest that does not yield
 * them (syntax errors, unknown kinds, no name) stops everything before the
 * first request, but an object whose spec is invalid can still be deleted.
 * One object is one DELETE /v1/objects; more (-f, or several NAMEs) are one
 * POST /v1/delete, which the daemon runs as one store transaction and one
 * policy compile: all of them are deleted or, on a failure, none. A
 * missing object is reported and the others are still deleted, as
 * kubectl does. When the daemon's store cannot write, the daemon still
 * revokes what was asked and answers 202: this says so and exits 1.
 */
#include "cli/cmd.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/client.h"
#include "cli/paths.h"
#include "cli/term.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/usage.h"
#include "model/finding.h"
#include "model/manifest.h"
#include "model/node.h"
#include "model/output.h"
#include "model/resource.h"

static const char usage[] =
	"Usage: portcullis delete -f PATH [-f PATH ...] [-n NAMESPACE] [--ignore-not-found]\n"
	"       portcullis delete KIND NAME [NAME ...] [-n NAMESPACE] [--ignore-not-found]\n"
	"\n"
	"Delete objects from the running proxy's configuration (portcullis run), as\n"
	"kubectl delete does. The daemon stops enforcing each object before it\n"
	"answers.\n"
	"\n"
	"KIND is serviceentry (se), virtualservice (vs), destinationrule (dr),\n"
	"workloadentry (we) or sidecar: singular, plural or short name, any case.\n"
	"\n"
	"Options:\n"
	"  -f, --filename PATH     delete the objects of these manifests: a file, a\n"
	"                          directory (searched recursively for *.yaml, *.yml and\n"
	"                          *.json) or - for standard input; repeatable\n"
	"  -n, --namespace NS      the namespace (default: default; with -f, the one of\n"
	"                          objects that name none)\n"
	"      --ignore-not-found  an object that does not exist is not an error\n"
	"  -s, --server ADDR       the API of portcullis run: unix:PATH, /PATH,\n"
	"                          http://HOST:PORT or HOST:PORT (default: $PORTCULLIS_SERVER,\n"
	"                          else unix:/run/portcullis/api.sock)\n"
	"      --token-file PATH   the bearer token for an http:// server: a file of\n"
	"                          \"TOKEN,NAME\" lines (default: $PORTCULLIS_TOKEN_FILE,\n"
	"                          else /var/lib/portcullis/api-token when present)\n"
	"  -h, --help              show this help\n"
	"\n"
	"Every object of one invocation is deleted in one transaction: all of them,\n"
	"or on a failure (a conflict, the store) none; a missing one is reported and\n"
	"the others are deleted. When the daemon's store cannot write (disk full,\n"
	"read-only, I/O error), the objects are still revoked at once but not yet\n"
	"persisted: this says so (\"revoked, not yet persisted: disk full\") and exits 1;\n"
	"the daemon keeps retrying, and a restart before it succeeds brings them back.\n"
	"\n"
	"Exit status: 0 every object deleted, 1 some object not deleted (not found,\n"
	"unreadable manifest, server unreachable, ...) or not yet persisted, 2 usage\n"
	"error.\n";

#define OPT_IGNORE_NOT_FOUND 0x100

struct dopts {
	struct pc_paths inputs; /* borrowed from argv */
	const char *ns;         /* NULL: not given */
	const char *server;
	const char *token_file; /* --token-file, NULL: none given */
	bool ignore_not_found;
	int first_arg; /* argv index of KIND, 0 without */
};

struct target {
	const struct pc_kind_info *kind;
	const char *ns;   /* borrowed */
	const char *name; /* borrowed */
};

struct targets {
	struct target *v;
	size_t n;
};

#define usage_error(...) pc_usage_error("delete", __VA_ARGS__)

static int check_args(int argc, char **argv, struct dopts *o)
{
	if (o->inputs.n && optind < argc)
		return usage_error("unexpected argument \"%s\": give either -f PATH or KIND NAME",
				   argv[optind]);
	if (!o->inputs.n && optind >= argc)
		return usage_error("nothing to delete: give -f PATH or KIND NAME");
	if (!o->inputs.n && optind + 1 >= argc)
		return usage_error("give the NAME of the %s to delete", argv[optind]);
	if (o->ns && !*o->ns)
		return usage_error("-n needs a namespace");
	o->first_arg = o->inputs.n ? 0 : optind;
	return -1;
}

/* Fill <o> from argv. Returns -1 to go on, or the exit status to return now. */
static int parse_args(int argc, char **argv, struct dopts *o)
{
	static const struct option opts[] = {
		{ "filename", required_argument, NULL, 'f' },
		{ "namespace", required_argument, NULL, 'n' },
		{ "ignore-not-found", no_argument, NULL, OPT_IGNORE_NOT_FOUND },
		{ "server", required_argument, NULL, 's' },
		{ "token-file", required_argument, NULL, PC_OPT_TOKEN_FILE },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "f:n:s:h", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			if (!*optarg)
				return usage_error("-f needs a file, a directory or -");
			pc_paths_add(&o->inputs, optarg);
			break;
		case 'n':
			o->ns = optarg;
			break;
		case OPT_IGNORE_NOT_FOUND:
			o->ignore_not_found = true;
			break;
		case 's':
			o->server = optarg;
			break;
		case PC_OPT_TOKEN_FILE:
			o->token_file = optarg;
			break;
		case 'h':
			fputs(usage, stdout);
			return PC_EXIT_OK;
		default:
			return pc_usage_bad_option("delete", argv, "fns");
		}
	}
	return check_args(argc, argv, o);
}

static void add_target(struct targets *t, const struct pc_kind_info *k, const char *ns,
		       const char *name)
{
	t->v = pc_xrealloc(t->v, (t->n + 1) * sizeof(*t->v));
	t->v[t->n].kind = k;
	t->v[t->n].ns = ns;
	t->v[t->n].name = name;
	t->n++;
}

static int targets_from_args(int argc, char **argv, const struct dopts *o, struct targets *t)
{
	const struct pc_kind_info *k = pc_kind_lookup(argv[o->first_arg]);
	int i;

	if (!k) {
		fputs("error: the server doesn't have a resource type \"", stderr);
		pc_term_puts(stderr, argv[o->first_arg]);
		fputs("\"\n", stderr);
		return PC_EXIT_FAIL;
	}
	for (i = o->first_arg + 1; i < argc; i++) {
		if (!*argv[i])
			return usage_error("NAME must not be empty");
		add_target(t, k, o->ns ? o->ns : "default", argv[i]);
	}
	return -1;
}

/* Print the errors that leave an object without kind or name. Returns true if any. */
static bool fatal_findings(struct pc_findings *f)
{
	struct pc_findings fatal;
	size_t i;
	bool any;

	pc_findings_init(&fatal);
	for (i = 0; i < f->n; i++)
		if (f->v[i].sev == PC_SEV_ERROR && (!f->v[i].kind || !f->v[i].name))
			pc_findings_add(&fatal, &f->v[i]);
	if (fatal.oom || f->oom) {
		pc_usage_print("out of memory");
		exit(PC_EXIT_FAIL);
	}
	any = fatal.n > 0;
	pc_output_sort(&fatal);
	pc_output_text(stderr, &fatal);
	pc_findings_release(&fatal);
	return any;
}

/* The namespace to delete resource <r> from, or NULL after saying why there is none. */
static const char *target_ns(const struct pc_resource *r, const struct dopts *o)
{
	const char *given = pc_client_str(pc_node_get(r->root, "metadata"), "namespace");

	if (!given || !*given)
		return o->ns ? o->ns : "default";
	if (o->ns && strcmp(given, o->ns) != 0) {
		fprintf(stderr,
			"error: the namespace from the provided object \"%s\" does not match "
			"the namespace \"%s\". You must pass '--namespace=%s' to perform this "
			"operation.\n",
			given, o->ns, given);
		return NULL;
	}
	return r->meta.ns ? r->meta.ns : given;
}

static int targets_from_files(const struct dopts *o, struct pc_manifest *m, struct targets *t)
{
	struct pc_paths files = { NULL, 0 };
	struct pc_findings f;
	int status = -1;
	size_t i;

	pc_findings_init(&f);
	for (i = 0; i < o->inputs.n; i++)
		if (pc_paths_expand(o->inputs.v[i], &files) < 0)
			status = PC_EXIT_FAIL;
	for (i = 0; i < files.n && status < 0; i++)
		if (pc_manifest_add_file(m, files.v[i], &f) < 0) {
			pc_usage_print("out of memory");
			exit(PC_EXIT_FAIL);
		}
	if (status < 0 && fatal_findings(&f))
		status = PC_EXIT_FAIL;
	for (i = 0; i < m->nres && status < 0; i++) {
		const struct pc_resource *r = &m->res[i];
		const char *ns = target_ns(r, o);

		if (!ns)
			status = PC_EXIT_FAIL;
		else if (r->meta.name)
			add_target(t, pc_kind_info(r->kind), ns, r->meta.name);
	}
	if (status < 0 && t->n == 0) {
		fputs("error: no objects passed to delete\n", stderr);
		status = PC_EXIT_FAIL;
	}
	pc_findings_release(&f);
	pc_paths_free_all(&files);
	return status;
}

static void say_deleted(const char *kind, const char *name)
{
	char ref[128];

	pc_client_kind_ref(ref, sizeof(ref), kind);
	printf("%s \"", ref);
	pc_term_puts(stdout, name);
	fputs("\" deleted\n", stdout);
}

static void say_not_found(const struct pc_kind_info *k, const char *name)
{
	fprintf(stderr, "Error from server (NotFound): %s." PC_GROUP " \"", k->plural);
	pc_term_puts(stderr, name);
	fputs("\" not found\n", stderr);
}

/* A 202: revoked, but the daemon's store could not write it (yet). Returns 1. */
static int say_lagging(const struct pc_response *r)
{
	const char *msg = pc_client_str(r->root, "message");

	fputs("warning: ", stderr);
	pc_term_puts(stderr, msg ? msg : "revoked, not yet persisted");
	fputc('\n', stderr);
	return 1;
}

/* DELETE one object. Returns 0, 1 when it was not deleted, -1 when the server is unreachable. */
static int delete_one(struct pc_client *c, const struct target *t, bool ignore_not_found)
{
	struct pc_buf target = PC_BUF_INIT;
	struct pc_response r;
	int ret;

	pc_buf_adds(&target, "/v1/objects");
	pc_client_param(c, &target, "kind", t->kind->name);
	pc_client_param(c, &target, "namespace", t->ns);
	pc_client_param(c, &target, "name", t->name);
	ret = pc_client_request(c, "DELETE", pc_buf_str(&target), NULL, PC_CLIENT_TIMEOUT, &r);
	pc_buf_release(&target);
	if (ret < 0) {
		ret = -1;
	} else if (r.status == 200 || r.status == 202) {
		say_deleted(t->kind->name, t->name);
		if (r.status == 202)
			ret = say_lagging(&r);
	} else if (r.status == 404) {
		if (!ignore_not_found) {
			say_not_found(t->kind, t->name);
			ret = 1;
		}
	} else {
		ret = pc_client_report(c, &r);
	}
	pc_response_release(&r);
	return ret;
}

/* The delete list of POST /v1/delete (doc/api.md): {"items": [{kind, namespace, name}]}. */
static void delete_list(const struct targets *t, struct pc_buf *b)
{
	size_t i;

	pc_buf_adds(b, "{\"items\":[");
	for (i = 0; i < t->n; i++) {
		pc_buf_printf(b, "%s{\"kind\":\"%s\",\"namespace\":", i ? ",\n" : "",
			      t->v[i].kind->name);
		pc_buf_add_json_str(b, t->v[i].ns, strlen(t->v[i].ns));
		pc_buf_adds(b, ",\"name\":");
		pc_buf_add_json_str(b, t->v[i].name, strlen(t->v[i].name));
		pc_buf_addc(b, '}');
	}
	pc_buf_adds(b, "]}\n");
	if (b->oom) {
		pc_usage_print("out of memory");
		exit(PC_EXIT_FAIL);
	}
}

/* Print what POST /v1/delete did. Returns 0, or 1 when some object was not deleted. */
static int report_many(struct pc_client *c, const struct pc_response *r, const struct targets *t,
		       bool ignore_not_found)
{
	const struct pc_node *res = pc_node_get(r->root, "results");
	const char *result;
	int ret = 0;
	size_t i;

	if (r->status != 200 && r->status != 202)
		return pc_client_report(c, r);
	if (!res || res->type != PC_NODE_SEQ || res->nitems != t->n)
		return pc_client_bad_response(c, r, "the results of the delete");
	for (i = 0; i < t->n; i++) {
		result = pc_client_str(res->items[i], "result");
		if (result && strcmp(result, "deleted") == 0) {
			say_deleted(t->v[i].kind->name, t->v[i].name);
		} else if (!ignore_not_found) {
			say_not_found(t->v[i].kind, t->v[i].name);
			ret = 1;
		}
	}
	if (r->status == 202)
		ret = say_lagging(r);
	return ret;
}

/* Every target in one POST /v1/delete: one transaction. Returns as delete_one(). */
static int delete_many(struct pc_client *c, const struct targets *t, bool ignore_not_found)
{
	struct pc_buf list = PC_BUF_INIT;
	struct pc_response r;
	curl_mimepart *part;
	curl_mime *mime = curl_mime_init(c->curl);
	int ret;

	delete_list(t, &list);
	part = mime ? curl_mime_addpart(mime) : NULL;
	if (!part || curl_mime_name(part, "file") != CURLE_OK ||
	    curl_mime_filename(part, "delete.json") != CURLE_OK ||
	    curl_mime_data(part, list.p, list.len) != CURLE_OK) {
		pc_usage_print("out of memory");
		exit(PC_EXIT_FAIL);
	}
	pc_buf_release(&list);
	ret = pc_client_request(c, "POST", "/v1/delete", mime, PC_CLIENT_APPLY_TIMEOUT, &r);
	ret = ret < 0 ? -1 : report_many(c, &r, t, ignore_not_found);
	pc_response_release(&r);
	curl_mime_free(mime);
	return ret;
}

static int delete_all(const struct dopts *o, const struct targets *t)
{
	struct pc_client c;
	bool from_env;
	int ret;

	if (pc_client_init(&c, o->server, o->token_file, &from_env) < 0)
		return from_env ? PC_EXIT_FAIL : PC_EXIT_USAGE;
	if (t->n == 1)
		ret = delete_one(&c, &t->v[0], o->ignore_not_found);
	else
		ret = delete_many(&c, t, o->ignore_not_found);
	pc_client_release(&c);
	return ret != 0 ? PC_EXIT_FAIL : PC_EXIT_OK;
}

int pc_cmd_delete(int argc, char **argv)
{
	struct dopts o = { .inputs = { NULL, 0 } };
	struct targets t = { NULL, 0 };
	struct pc_manifest m;
	int status = parse_args(argc, argv, &o);

	if (status >= 0)
		goto out;
	if (pc_manifest_init(&m) < 0) {
		pc_usage_print("out of memory");
		exit(PC_EXIT_FAIL);
	}
	if (o.first_arg)
		status = targets_from_args(argc, argv, &o, &t);
	else
		status = targets_from_files(&o, &m, &t);
	if (status < 0)
		status = delete_all(&o, &t);
	free(t.v);
	pc_manifest_release(&m);
out:
	free(o.inputs.v);
	return status;
}
