/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cli/cmd_apply.c - `portcullis apply`: change the live configuration.
 *
 * Every -f input is read here, within the per-file limit `validate`
 * enforces, and all of them go to POST /v1/apply in one multipart request
 * (one part "file" per input, named as given, "<stdin>" for -) so the
 * daemon applies all of their objects or none. Validation is the daemon's:
 * its findings come back in validate's format and are printed as they
 * are. Nothing is sent when an input cannot be read.
 */
#include "cli/cmd.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/client.h"
#include "cli/paths.h"
#include "cli/term.h"
#include "core/buf.h"
#include "core/usage.h"
#include "model/node.h"

static const char usage[] =
	"Usage: portcullis apply -f PATH [-f PATH ...] [--server ADDR]\n"
	"\n"
	"Create or update Istio networking resources in the running proxy\n"
	"(portcullis run), as kubectl apply does. Every object of one invocation\n"
	"is applied, or none is: an invalid object changes nothing. The daemon\n"
	"validates exactly as 'portcullis validate' does, with the same messages,\n"
	"and enforces the change before it answers.\n"
	"\n"
	"Options:\n"
	"  -f, --filename PATH   a file, a directory (searched recursively for *.yaml,\n"
	"                        *.yml and *.json) or - for standard input; repeatable\n"
	"  -s, --server ADDR     the API of portcullis run: unix:PATH, /PATH,\n"
	"                        http://HOST:PORT or HOST:PORT (default: $PORTCULLIS_SERVER,\n"
	"                        else unix:/run/portcullis/api.sock)\n"
	"      --token-file PATH the bearer token for an http:// server: a file of\n"
	"                        \"TOKEN,NAME\" lines (default: $PORTCULLIS_TOKEN_FILE,\n"
	"                        else /var/lib/portcullis/api-token when present)\n"
	"  -h, --help            show this help\n"
	"\n"
	"Output: one line per object, KIND.networking.istio.io/NAME created, configured\n"
	"or unchanged; warnings and errors go to standard error.\n"
	"\n"
	"Exit status: 0 applied, 1 nothing applied (invalid input, conflict, server\n"
	"unreachable, ...), 2 usage error.\n";

struct aopts {
	struct pc_paths inputs; /* borrowed from argv */
	const char *server;
	const char *token_file; /* --token-file, NULL: none given */
};

#define usage_error(...) pc_usage_error("apply", __VA_ARGS__)

/* Fill <o> from argv. Returns -1 to go on, or the exit status to return now. */
static int parse_args(int argc, char **argv, struct aopts *o)
{
	static const struct option opts[] = {
		{ "filename", required_argument, NULL, 'f' },
		{ "server", required_argument, NULL, 's' },
		{ "token-file", required_argument, NULL, PC_OPT_TOKEN_FILE },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "f:s:h", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			if (!*optarg)
				return usage_error("-f needs a file, a directory or -");
			pc_paths_add(&o->inputs, optarg);
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
			return pc_usage_bad_option("apply", argv, "fs");
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument \"%s\" (give files with -f)", argv[optind]);
	if (o->inputs.n == 0)
		return usage_error("nothing to apply: give at least one -f PATH");
	return -1;
}

/* Say, in validate's words, why <path> was not read. */
static void read_error(const char *path, int err)
{
	const char *name = pc_paths_display(path);

	if (err == -EFBIG)
		fprintf(stderr,
			"%s: error: input is larger than the limit of %u bytes (%u MiB); split it "
			"into several files\n",
			name, PC_YAML_MAX_BYTES, PC_YAML_MAX_BYTES >> 20);
	else if (err == -EISDIR || err == -EIO || err == -EINVAL)
		fprintf(stderr, "%s: error: cannot read: %s\n", name, strerror(-err));
	else
		fprintf(stderr, "%s: error: cannot open: %s\n", name, strerror(-err));
}

/* Add one part per file to <mime>. Returns 0, or -1 when some file could not be read. */
static int add_parts(curl_mime *mime, const struct pc_paths *files)
{
	curl_mimepart *part;
	size_t i, len;
	char *buf;
	int ret, failed = 0;

	for (i = 0; i < files->n; i++) {
		ret = pc_paths_read(files->v[i], PC_YAML_MAX_BYTES, &buf, &len);
		if (ret < 0) {
			read_error(files->v[i], ret);
			failed = -1;
			continue;
		}
		part = curl_mime_addpart(mime);
		if (!part || curl_mime_name(part, "file") != CURLE_OK ||
		    curl_mime_filename(part, pc_paths_display(files->v[i])) != CURLE_OK ||
		    curl_mime_data(part, buf, len) != CURLE_OK) {
			pc_usage_print("out of memory");
			exit(PC_EXIT_FAIL);
		}
		free(buf);
	}
	return failed;
}

static void print_result(const struct pc_node *res)
{
	const char *kind = pc_client_str(res, "kind");
	const char *name = pc_client_str(res, "name");
	const char *result = pc_client_str(res, "result");
	char ref[128];

	pc_client_kind_ref(ref, sizeof(ref), kind ? kind : "unknown");
	pc_term_puts(stdout, ref);
	putchar('/');
	pc_term_puts(stdout, name ? name : "");
	putchar(' ');
	pc_term_puts(stdout, result ? result : "applied");
	putchar('\n');
}

static int report(const struct pc_client *c, const struct pc_response *r)
{
	const struct pc_node *results = pc_node_get(r->root, "results");
	const char *warnings = pc_client_str(r->root, "warnings");
	const char *message = pc_client_str(r->root, "message");
	size_t i;

	if (r->status == 422 && message) {
		/* The findings, one per line, as `portcullis validate` prints them. */
		pc_term_puts(stderr, message);
		if (*message && message[strlen(message) - 1] != '\n')
			fputc('\n', stderr);
		return PC_EXIT_FAIL;
	}
	if (r->status != 200)
		return pc_client_report(c, r);
	if (!results || results->type != PC_NODE_SEQ)
		return pc_client_bad_response(c, r, "the results of the apply");
	if (warnings && *warnings) {
		pc_term_puts(stderr, warnings);
		if (warnings[strlen(warnings) - 1] != '\n')
			fputc('\n', stderr);
	}
	for (i = 0; i < results->nitems; i++)
		print_result(results->items[i]);
	return PC_EXIT_OK;
}

static int apply(const struct aopts *o, const struct pc_paths *files)
{
	struct pc_response r;
	struct pc_client c;
	curl_mime *mime;
	bool from_env;
	int status;

	if (pc_client_init(&c, o->server, o->token_file, &from_env) < 0)
		return from_env ? PC_EXIT_FAIL : PC_EXIT_USAGE;
	mime = curl_mime_init(c.curl);
	if (!mime) {
		pc_usage_print("out of memory");
		exit(PC_EXIT_FAIL);
	}
	if (add_parts(mime, files) < 0) {
		status = PC_EXIT_FAIL;
		goto out;
	}
	status = PC_EXIT_FAIL;
	if (pc_client_request(&c, "POST", "/v1/apply", mime, PC_CLIENT_APPLY_TIMEOUT, &r) == 0)
		status = report(&c, &r);
	pc_response_release(&r);
out:
	curl_mime_free(mime);
	pc_client_release(&c);
	return status;
}

int pc_cmd_apply(int argc, char **argv)
{
	struct aopts o = { .inputs = { NULL, 0 } };
	struct pc_paths files = { NULL, 0 };
	size_t i;
	int status = parse_args(argc, argv, &o);

	if (status >= 0)
		goto out;
	for (i = 0; i < o.inputs.n; i++) {
		if (pc_paths_expand(o.inputs.v[i], &files) < 0)
			status = PC_EXIT_FAIL;
	}
	if (status < 0)
		status = apply(&o, &files);
	pc_paths_free_all(&files);
out:
	free(o.inputs.v);
	return status;
}
