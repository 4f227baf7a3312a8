/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cli/cmd_get.c - `portcullis get`: read the live configuration.
 *
 * One GET /v1/objects for the kind (and namespace, and name) asked for,
 * printed as kubectl prints it: a table (cli/table.c), the object or a
 * "kind: List" of objects as YAML or JSON (model/emit.c), or names. With
 * -w the listing is followed by GET /v1/watch from the listing's revision,
 * so no change between the two is missed, and each event prints the
 * changed object the same way until the stream ends or we are interrupted.
 */
#include "cli/cmd.h"

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/client.h"
#include "cli/columns.h"
#include "cli/term.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/usage.h"
#include "model/emit.h"
#include "model/node.h"
#include "model/resource.h"

static const char usage[] =
	"Usage: portcullis get KIND [NAME] [-n NAMESPACE | -A] [-o yaml|json|wide|name] [-w]\n"
	"                      [--server ADDR]\n"
	"\n"
	"Show objects of the running proxy's configuration (portcullis run), as\n"
	"kubectl get does.\n"
	"\n"
	"KIND is serviceentry (se), virtualservice (vs), destinationrule (dr),\n"
	"workloadentry (we) or sidecar: singular, plural or short name, any case,\n"
	"optionally followed by .networking.istio.io.\n"
	"\n"
	"KIND addresses (address, addr) lists the addresses the DNS proxy allocated\n"
	"for names of ServiceEntries without addresses (doc/dns.md): NAME, IPV4, IPV6\n"
	"and the ServiceEntry that covers the name now; -o json prints the API's list.\n"
	"\n"
	"Options:\n"
	"  -n, --namespace NS    the namespace (default: default)\n"
	"  -A, --all-namespaces  objects of every namespace, with a NAMESPACE column\n"
	"  -o, --output FORMAT   yaml or json: the objects as stored, with server-set\n"
	"                        metadata (a kind: List without NAME); name: KIND/NAME;\n"
	"                        wide: the table (the default)\n"
	"  -w, --watch           after the listing, print each change as it happens\n"
	"  -s, --server ADDR     the API of portcullis run: unix:PATH, /PATH,\n"
	"                        http://HOST:PORT or HOST:PORT (default: $PORTCULLIS_SERVER,\n"
	"                        else unix:/run/portcullis/api.sock)\n"
	"      --token-file PATH the bearer token for an http:// server: a file of\n"
	"                        \"TOKEN,NAME\" lines (default: $PORTCULLIS_TOKEN_FILE,\n"
	"                        else /var/lib/portcullis/api-token when present)\n"
	"  -h, --help            show this help\n"
	"\n"
	"Exit status: 0 success (also when nothing matches), 1 failure (server\n"
	"unreachable, named object not found, ...), 2 usage error.\n";

enum output { OUT_TABLE, OUT_YAML, OUT_JSON, OUT_NAME };

struct gopts {
	const struct pc_kind_info *kind;
	const char *name;
	const char *ns;
	const char *server;
	const char *token_file; /* --token-file, NULL: none given */
	enum output out;
	bool all_ns;
	bool watch;
	bool addresses; /* `get addresses`: the auto-allocated addresses (doc/dns.md) */
};

/* State shared by the listing and the watch. */
struct getter {
	const struct gopts *o;
	struct pc_client *c;
	struct pc_columns table;
	size_t printed; /* objects printed as yaml/json, for "---" between them */
	int status;     /* exit status of the watch */
};

#define usage_error(...) pc_usage_error("get", __VA_ARGS__)

static int parse_output(const char *s, enum output *out)
{
	if (strcmp(s, "yaml") == 0)
		*out = OUT_YAML;
	else if (strcmp(s, "json") == 0)
		*out = OUT_JSON;
	else if (strcmp(s, "name") == 0)
		*out = OUT_NAME;
	else if (strcmp(s, "wide") == 0)
		*out = OUT_TABLE;
	else
		return usage_error("unknown output format \"%s\" (use yaml, json, wide or name)",
				   s);
	return -1;
}

static int parse_positional(int argc, char **argv, struct gopts *o)
{
	if (optind >= argc)
		return usage_error("give the kind of objects to get, e.g. 'portcullis get se'");
	o->kind = pc_kind_lookup(argv[optind]);
	o->addresses = !o->kind &&
		       (strcmp(argv[optind], "addresses") == 0 ||
			strcmp(argv[optind], "address") == 0 || strcmp(argv[optind], "addr") == 0);
	if (o->addresses) {
		if (optind + 1 < argc)
			o->name = argv[optind + 1];
		if (o->watch)
			return usage_error("addresses cannot be watched");
		return optind + 2 < argc
			       ? usage_error("unexpected argument \"%s\"", argv[optind + 2])
			       : -1;
	}
	if (!o->kind) {
		fputs("error: the server doesn't have a resource type \"", stderr);
		pc_term_puts(stderr, argv[optind]);
		fputs("\"\n", stderr);
		return PC_EXIT_FAIL;
	}
	if (optind + 1 < argc)
		o->name = argv[optind + 1];
	if (optind + 2 < argc)
		return usage_error("unexpected argument \"%s\" (one NAME at most)",
				   argv[optind + 2]);
	if (o->name && !*o->name)
		return usage_error("NAME must not be empty");
	if (o->name && o->all_ns)
		return usage_error("a resource cannot be retrieved by name across all namespaces");
	return -1;
}

/* Fill <o> from argv. Returns -1 to go on, or the exit status to return now. */
static int parse_args(int argc, char **argv, struct gopts *o)
{
	static const struct option opts[] = {
		{ "namespace", required_argument, NULL, 'n' },
		{ "all-namespaces", no_argument, NULL, 'A' },
		{ "output", required_argument, NULL, 'o' },
		{ "watch", no_argument, NULL, 'w' },
		{ "server", required_argument, NULL, 's' },
		{ "token-file", required_argument, NULL, PC_OPT_TOKEN_FILE },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c, ret;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "n:Ao:ws:h", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (!*optarg)
				return usage_error("-n needs a namespace");
			o->ns = optarg;
			break;
		case 'A':
			o->all_ns = true;
			break;
		case 'o':
			ret = parse_output(optarg, &o->out);
			if (ret >= 0)
				return ret;
			break;
		case 'w':
			o->watch = true;
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
			return pc_usage_bad_option("get", argv, "nos");
		}
	}
	return parse_positional(argc, argv, o);
}

static void add_query(struct getter *g, struct pc_buf *b)
{
	pc_client_param(g->c, b, "kind", g->o->kind->name);
	if (!g->o->all_ns)
		pc_client_param(g->c, b, "namespace", g->o->ns);
	if (g->o->name)
		pc_client_param(g->c, b, "name", g->o->name);
}

/* Print <b> and release it; an emitter failure is a bad object from the server. */
static int put_buf(struct getter *g, struct pc_buf *b, int ret)
{
	if (b->oom || ret == -ENOMEM) {
		pc_usage_print("out of memory");
		exit(PC_EXIT_FAIL);
	}
	if (ret == 0 && g->o->out == OUT_JSON)
		pc_term_safe_json(b);
	if (ret < 0)
		pc_usage_print("cannot print an object from the server at %s: it holds values JSON "
			       "cannot (.inf, .nan or null keys)",
			       g->c->addr);
	else
		fwrite(b->p, 1, b->len, stdout);
	pc_buf_release(b);
	return ret < 0 ? PC_EXIT_FAIL : PC_EXIT_OK;
}

/*
 * <obj> as YAML with its keys sorted, as kubectl prints it (Go sorts map
 * keys); pc_emit_yaml() keeps the source order, so go through sorted JSON.
 */
static int emit_yaml_sorted(struct pc_buf *out, const struct pc_node *obj)
{
	struct pc_yaml_limits lim = { PC_CLIENT_MAX_BODY, 128, 1, 1u << 24 };
	struct pc_buf json = PC_BUF_INIT;
	struct pc_yaml_stream *st = NULL;
	struct pc_err err;
	int ret;

	ret = pc_emit_json(&json, obj, PC_EMIT_SORT_KEYS);
	if (ret == 0 && json.oom)
		ret = -ENOMEM;
	if (ret == 0)
		pc_term_safe_json(&json); /* the YAML parser refuses raw C1 controls */
	if (ret == 0)
		ret = pc_yaml_parse(json.p, json.len, &lim, &st, &err);
	if (ret == 0)
		ret = pc_emit_yaml(out, st->ndocs ? st->docs[0].root : NULL);
	if (st)
		pc_yaml_stream_free(st);
	pc_buf_release(&json);
	return ret;
}

static void print_name(const struct pc_kind_info *k, const struct pc_node *obj)
{
	const char *name = pc_client_str(pc_node_get(obj, "metadata"), "name");
	char ref[128];

	pc_client_kind_ref(ref, sizeof(ref), k->name);
	printf("%s/", ref);
	pc_term_puts(stdout, name ? name : "");
	putchar('\n');
}

/* One object as its own document: what a NAME or a watch event prints. */
static int print_object(struct getter *g, const struct pc_node *obj)
{
	struct pc_buf b = PC_BUF_INIT;
	int ret = 0;

	switch (g->o->out) {
	case OUT_TABLE:
		pc_columns_add(&g->table, obj, time(NULL));
		pc_columns_flush(&g->table, stdout);
		return PC_EXIT_OK;
	case OUT_NAME:
		print_name(g->o->kind, obj);
		return PC_EXIT_OK;
	case OUT_YAML:
		if (g->printed++)
			pc_buf_adds(&b, "---\n");
		ret = emit_yaml_sorted(&b, obj);
		break;
	default:
		ret = pc_emit_json(&b, obj, PC_EMIT_PRETTY | PC_EMIT_SORT_KEYS);
		pc_buf_addc(&b, '\n');
	}
	return put_buf(g, &b, ret);
}

/* Append <text> to <b> with <first> before its first line and <rest> before the others. */
static void add_indented(struct pc_buf *b, const char *text, size_t len, const char *first,
			 const char *rest)
{
	const char *end, *nl;

	if (!text) /* an empty buffer has no storage yet */
		text = "";
	end = text + len;
	pc_buf_adds(b, first);
	while (text < end) {
		nl = memchr(text, '\n', (size_t)(end - text));
		if (!nl)
			nl = end;
		pc_buf_add(b, text, (size_t)(nl - text));
		pc_buf_addc(b, '\n');
		text = nl + 1;
		if (text < end)
			pc_buf_adds(b, rest);
	}
}

/*
 * The "kind: List" kubectl prints without a NAME, built as text around the
 * emitted items: the emitters quote "" as '' where kubectl (go-yaml) writes
 * "", and the wrapper is fixed. Item text never holds a raw line break
 * inside a value (both emitters escape them), so indenting lines is safe.
 */
static int print_list(struct getter *g, const struct pc_node *items)
{
	bool yaml = g->o->out == OUT_YAML;
	struct pc_buf b = PC_BUF_INIT, item = PC_BUF_INIT;
	size_t i;
	int ret = 0;

	pc_buf_adds(&b, yaml ? "apiVersion: v1\nitems:"
			     : "{\n  \"apiVersion\": \"v1\",\n  \"items\": [");
	pc_buf_adds(&b, items->nitems ? "\n" : yaml ? " []\n" : "],\n");
	for (i = 0; i < items->nitems && ret == 0; i++) {
		pc_buf_clear(&item);
		if (yaml) {
			ret = emit_yaml_sorted(&item, items->items[i]);
			add_indented(&b, item.p, item.len, "- ", "  ");
			continue;
		}
		ret = pc_emit_json(&item, items->items[i], PC_EMIT_PRETTY | PC_EMIT_SORT_KEYS);
		add_indented(&b, item.p, item.len, "    ", "    ");
		pc_buf_truncate(&b, b.len - 1);
		pc_buf_adds(&b, i + 1 < items->nitems ? ",\n" : "\n  ],\n");
	}
	pc_buf_release(&item);
	pc_buf_adds(&b, yaml ? "kind: List\nmetadata:\n  resourceVersion: \"\"\n"
			     : "  \"kind\": \"List\",\n  \"metadata\": {\n"
			       "    \"resourceVersion\": \"\"\n  }\n}\n");
	return put_buf(g, &b, ret);
}

static bool all_maps(const struct pc_node *items)
{
	size_t i;

	for (i = 0; i < items->nitems; i++)
		if (items->items[i]->type != PC_NODE_MAP)
			return false;
	return true;
}

static int not_found(const struct gopts *o)
{
	fprintf(stderr, "Error from server (NotFound): %s." PC_GROUP " \"", o->kind->plural);
	pc_term_puts(stderr, o->name);
	fputs("\" not found\n", stderr);
	return PC_EXIT_FAIL;
}

static int print_items(struct getter *g, const struct pc_node *items)
{
	const struct gopts *o = g->o;
	size_t i;
	int ret = PC_EXIT_OK;

	if (o->name && items->nitems == 0)
		return not_found(o);
	if (!o->name && items->nitems == 0 && (o->out == OUT_TABLE || o->out == OUT_NAME)) {
		if (o->all_ns)
			fputs("No resources found\n", stderr);
		else
			fprintf(stderr, "No resources found in %s namespace.\n", o->ns);
		return PC_EXIT_OK;
	}
	if (o->out == OUT_TABLE) {
		for (i = 0; i < (o->name ? 1 : items->nitems); i++)
			pc_columns_add(&g->table, items->items[i], time(NULL));
		pc_columns_flush(&g->table, stdout);
		return PC_EXIT_OK;
	}
	if ((o->out == OUT_YAML || o->out == OUT_JSON) && !o->name && !o->watch)
		return print_list(g, items);
	if (o->name) /* one object, even from a server that sends more */
		return print_object(g, items->items[0]);
	for (i = 0; i < items->nitems && ret == PC_EXIT_OK; i++)
		ret = print_object(g, items->items[i]);
	return ret;
}

/* A watch event line. Returns 0 to go on, 1 to stop (the exit status is in g->status). */
static int on_event(void *arg, char *line, size_t len)
{
	struct pc_yaml_limits lim = { PC_CLIENT_MAX_LINE, 128, 1, 1u << 20 };
	struct getter *g = arg;
	struct pc_yaml_stream *st = NULL;
	const struct pc_node *ev, *obj;
	const char *type;
	struct pc_err err;

	if (strspn(line, " \t\r") == len)
		return 0; /* keep-alive */
	if (pc_yaml_parse(line, len, &lim, &st, &err) < 0 || st->ndocs != 1 ||
	    !(ev = st->docs[0].root) || ev->type != PC_NODE_MAP) {
		pc_usage_print("unexpected watch event from the server at %s", g->c->addr);
		g->status = PC_EXIT_FAIL;
		goto stop;
	}
	type = pc_client_str(ev, "type");
	obj = pc_node_get(ev, "object");
	if (!type || !obj || obj->type != PC_NODE_MAP) {
		pc_usage_print("unexpected watch event from the server at %s", g->c->addr);
		g->status = PC_EXIT_FAIL;
		goto stop;
	}
	if (strcmp(type, "ERROR") == 0) {
		struct pc_response r = { .status = 200, .root = obj };

		g->status = pc_client_report(g->c, &r);
		goto stop;
	}
	g->status = print_object(g, obj);
	fflush(stdout);
	if (g->status != PC_EXIT_OK)
		goto stop;
	pc_yaml_stream_free(st);
	return 0;
stop:
	if (st)
		pc_yaml_stream_free(st);
	return 1;
}

static int watch(struct getter *g, const char *revision)
{
	struct pc_buf target = PC_BUF_INIT;
	struct pc_response r;
	int stopped = 0, ret;

	pc_buf_adds(&target, "/v1/watch");
	add_query(g, &target);
	if (revision)
		pc_client_param(g->c, &target, "since", revision);
	fflush(stdout);
	ret = pc_client_stream(g->c, pc_buf_str(&target), on_event, g, &r, &stopped);
	pc_buf_release(&target);
	if (ret < 0)
		ret = PC_EXIT_FAIL;
	else if (r.status != 200)
		ret = pc_client_report(g->c, &r);
	else
		ret = stopped ? g->status : PC_EXIT_OK;
	pc_response_release(&r);
	return ret;
}

static int get(struct getter *g)
{
	struct pc_buf target = PC_BUF_INIT;
	const struct pc_node *items;
	struct pc_response r;
	int ret;

	pc_buf_adds(&target, "/v1/objects");
	add_query(g, &target);
	ret = pc_client_request(g->c, "GET", pc_buf_str(&target), NULL, PC_CLIENT_TIMEOUT, &r);
	pc_buf_release(&target);
	if (ret < 0)
		return PC_EXIT_FAIL;
	if (r.status != 200) {
		ret = pc_client_report(g->c, &r);
		goto out;
	}
	items = pc_node_get(r.root, "items");
	if (!items || items->type != PC_NODE_SEQ || !all_maps(items)) {
		ret = pc_client_bad_response(g->c, &r, "a list of objects");
		goto out;
	}
	ret = print_items(g, items);
	if (ret == PC_EXIT_OK && g->o->watch)
		ret = watch(g, pc_client_str(r.root, "revision"));
out:
	pc_response_release(&r);
	return ret;
}

/* One row of `get addresses`; "<none>" for what is null. */
static void address_row(const struct pc_node *it, enum output out)
{
	const char *name = pc_client_str(it, "name"), *v4 = pc_client_str(it, "ipv4");
	const char *v6 = pc_client_str(it, "ipv6"), *svc = pc_client_str(it, "service");

	if (out == OUT_NAME) {
		pc_term_puts(stdout, name ? name : "");
		putchar('\n');
		return;
	}
	printf("%-32s %-15s %-39s ", name ? name : "", v4 ? v4 : "<none>", v6 ? v6 : "<none>");
	pc_term_puts(stdout, svc ? svc : "<none>");
	putchar('\n');
}

/* `get addresses [NAME]`: GET /v1/addresses, a table (or the JSON as it came). */
static int get_addresses(struct pc_client *c, const struct gopts *o)
{
	const struct pc_node *items;
	struct pc_response r;
	size_t i, shown = 0;
	int ret;

	ret = pc_client_request(c, "GET", "/v1/addresses", NULL, PC_CLIENT_TIMEOUT, &r);
	if (ret < 0)
		return PC_EXIT_FAIL;
	if (r.status != 200) {
		ret = pc_client_report(c, &r);
		goto out;
	}
	items = pc_node_get(r.root, "items");
	if (!items || items->type != PC_NODE_SEQ || !all_maps(items)) {
		ret = pc_client_bad_response(c, &r, "a list of addresses");
		goto out;
	}
	if (o->out == OUT_JSON || o->out == OUT_YAML) {
		fwrite(r.body.p, 1, r.body.len, stdout);
		putchar('\n');
		ret = PC_EXIT_OK;
		goto out;
	}
	if (o->out == OUT_TABLE)
		printf("%-32s %-15s %-39s %s\n", "NAME", "IPV4", "IPV6", "SERVICE");
	for (i = 0; i < items->nitems; i++) {
		const char *name = pc_client_str(items->items[i], "name");

		if (o->name && (!name || strcmp(name, o->name) != 0))
			continue;
		address_row(items->items[i], o->out);
		shown++;
	}
	ret = PC_EXIT_OK;
	if (o->name && !shown) {
		fputs("Error from server (NotFound): no address is allocated for \"", stderr);
		pc_term_puts(stderr, o->name);
		fputs("\"\n", stderr);
		ret = PC_EXIT_FAIL;
	} else if (!shown && o->out == OUT_TABLE) {
		fputs("No addresses allocated.\n", stderr);
	}
out:
	pc_response_release(&r);
	return ret;
}

int pc_cmd_get(int argc, char **argv)
{
	struct gopts o = { .ns = "default", .out = OUT_TABLE };
	struct pc_client c;
	struct getter g;
	bool from_env;
	int status = parse_args(argc, argv, &o);

	if (status >= 0)
		return status;
	if (pc_client_init(&c, o.server, o.token_file, &from_env) < 0)
		return from_env ? PC_EXIT_FAIL : PC_EXIT_USAGE;
	if (o.addresses) {
		status = get_addresses(&c, &o);
		pc_client_release(&c);
		return status;
	}
	memset(&g, 0, sizeof(g));
	g.o = &o;
	g.c = &c;
	pc_columns_init(&g.table, o.kind, o.all_ns);
	status = get(&g);
	pc_columns_release(&g.table);
	pc_client_release(&c);
	return status;
}
