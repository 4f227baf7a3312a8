/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cli/cmd_connections.c - `portcullis connections`: the live connections.
 *
 * One GET /connections from the admin endpoint of `portcullis run`
 * (doc/admin.md), printed as a kubectl-like table sorted by connection id,
 * or passed through as JSON, through the one tabwriter (cli/table.h).
 */
#include "cli/cmd.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/client.h"
#include "cli/format.h"
#include "cli/table.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/usage.h"
#include "model/emit.h"
#include "model/node.h"

static const char usage[] =
	"Usage: portcullis connections [--admin ADDR] [-o wide|json]\n"
	"\n"
	"List the live connections of the running proxy (portcullis run) once, from\n"
	"its admin endpoint (GET /connections), sorted by connection id.\n"
	"\n"
	"Columns: ID; CLIENT, the app's address; DESTINATION, the address the app\n"
	"connected to; CLUSTER, the Istio cluster it matched; STATE (connecting,\n"
	"established, closing, or revoking: a policy change denied it and it closes\n"
	"when its grace ends); RX and TX, bytes received from and sent to the app;\n"
	"AGE.\n"
	"\n"
	"Options:\n"
	"  -o, --output FORMAT  wide: also WORKER and UPSTREAM (the address the proxy\n"
	"                       connected to), and byte counts in full; json: the\n"
	"                       admin endpoint's answer\n"
	"      --admin ADDR     the admin endpoint of portcullis run: HOST:PORT or\n"
	"                       http://HOST:PORT (default: $PORTCULLIS_ADMIN, else\n"
	"                       127.0.0.1:15000)\n"
	"      --token-file PATH the bearer token for the admin endpoint: a file of\n"
	"                       \"TOKEN,NAME\" lines (default: $PORTCULLIS_TOKEN_FILE,\n"
	"                       else /var/lib/portcullis/api-token when present)\n"
	"  -h, --help           show this help\n"
	"\n"
	"Exit status: 0 success (also with no connections), 1 failure (admin\n"
	"endpoint unreachable, unexpected answer), 2 usage error.\n";

enum output { OUT_TABLE, OUT_WIDE, OUT_JSON };

/* Doubles beyond this are not converted to integers (no overflow in the cast). */
#define BIG 1e15

#define usage_error(...) pc_usage_error("connections", __VA_ARGS__)

/* -- the verb ---------------------------------------------------------------- */

struct copts {
	const char *admin;
	const char *token_file; /* --token-file, NULL: none given */
	enum output out;
};

/* Fill <o> from argv. Returns -1 to go on, or the exit status to return now. */
static int parse_args(int argc, char **argv, struct copts *o)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "admin", required_argument, NULL, 'a' },
		{ "token-file", required_argument, NULL, PC_OPT_TOKEN_FILE },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			if (strcmp(optarg, "wide") == 0)
				o->out = OUT_WIDE;
			else if (strcmp(optarg, "json") == 0)
				o->out = OUT_JSON;
			else
				return usage_error(
					"unknown output format \"%s\" (use wide or json)", optarg);
			break;
		case 'a':
			o->admin = optarg;
			break;
		case PC_OPT_TOKEN_FILE:
			o->token_file = optarg;
			break;
		case 'h':
			fputs(usage, stdout);
			return PC_EXIT_OK;
		default:
			return pc_usage_bad_option("connections", argv, "o");
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument \"%s\"", argv[optind]);
	return -1;
}

/* The text of the scalar at <key> (a string or a number), or NULL. */
static const char *scalar(const struct pc_node *map, const char *key)
{
	const struct pc_node *v = pc_node_get(map, key);

	if (!v || v->type != PC_NODE_SCALAR || pc_node_is_null(v))
		return NULL;
	return v->str;
}

/* A byte count: human-readable, or in full for -o wide; NULL when there is none. */
static const char *bytes_cell(char *out, size_t size, const struct pc_node *map, const char *key,
			      bool exact)
{
	const struct pc_node *v = pc_node_get(map, key);
	long long i;
	double n;

	if (!pc_client_num(map, key, &n) || n < 0)
		return NULL;
	if (!exact)
		pc_format_bytes(out, size, n);
	else if (pc_scalar_kind(v) == PC_SCALAR_INT && pc_scalar_int(v, &i))
		snprintf(out, size, "%lld", i);
	else
		snprintf(out, size, "%.0f", n);
	return out;
}

static const char *age_cell(char *out, size_t size, const struct pc_node *map)
{
	double age;

	if (!pc_client_num(map, "age_seconds", &age))
		return NULL;
	pc_format_duration(out, size, (long long)fmax(fmin(age, BIG), -BIG));
	return out;
}

static void add_row(struct pc_table *g, const struct pc_node *conn, bool wide)
{
	char rx[64], tx[64], age[32];
	const char *cells[10];
	size_t n = 0;

	cells[n++] = scalar(conn, "id");
	if (wide)
		cells[n++] = scalar(conn, "worker");
	cells[n++] = scalar(conn, "client");
	cells[n++] = scalar(conn, "destination");
	if (wide)
		cells[n++] = scalar(conn, "upstream");
	cells[n++] = scalar(conn, "cluster");
	cells[n++] = scalar(conn, "state");
	cells[n++] = bytes_cell(rx, sizeof(rx), conn, "bytes_received", wide);
	cells[n++] = bytes_cell(tx, sizeof(tx), conn, "bytes_sent", wide);
	cells[n++] = age_cell(age, sizeof(age), conn);
	pc_table_add(g, cells);
}

struct sorted {
	const struct pc_node *conn;
	double id;
	bool has_id;
	size_t index; /* in the answer: keeps the sort stable */
};

static int by_id(const void *a, const void *b)
{
	const struct sorted *x = a, *y = b;

	if (x->has_id != y->has_id)
		return x->has_id ? -1 : 1;
	if (x->has_id && x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

static void print_table(const struct pc_node *list, bool wide)
{
	static const char *const head[] = { "ID",    "CLIENT", "DESTINATION", "CLUSTER",
					    "STATE", "RX",     "TX",          "AGE" };
	static const char *const head_wide[] = { "ID",       "WORKER",  "CLIENT", "DESTINATION",
						 "UPSTREAM", "CLUSTER", "STATE",  "RX",
						 "TX",       "AGE" };
	struct sorted *s = pc_xmalloc((list->nitems ? list->nitems : 1) * sizeof(*s));
	struct pc_buf out = PC_BUF_INIT;
	struct pc_table g;
	size_t i;

	for (i = 0; i < list->nitems; i++) {
		s[i].conn = list->items[i];
		s[i].has_id = pc_client_num(s[i].conn, "id", &s[i].id);
		s[i].index = i;
	}
	qsort(s, list->nitems, sizeof(*s), by_id);
	pc_table_init(&g, wide ? 10 : 8);
	pc_table_add(&g, wide ? head_wide : head);
	for (i = 0; i < list->nitems; i++)
		add_row(&g, s[i].conn, wide);
	pc_table_print(&g, &out, 0);
	fwrite(out.p, 1, out.len, stdout);
	pc_buf_release(&out);
	pc_table_release(&g);
	free(s);
}

static int print_json(const struct pc_client *c, const struct pc_response *r)
{
	struct pc_buf b = PC_BUF_INIT;
	int ret = pc_emit_json(&b, r->root, PC_EMIT_PRETTY);

	pc_buf_addc(&b, '\n');
	if (b.oom) {
		pc_usage_print("out of memory");
		exit(PC_EXIT_FAIL);
	}
	if (ret < 0) {
		pc_usage_print("cannot print the answer of the admin endpoint at %s as JSON: it "
			       "holds values JSON cannot (.inf, .nan or null keys)",
			       c->addr);
	} else {
		fwrite(b.p, 1, b.len, stdout);
	}
	pc_buf_release(&b);
	return ret < 0 ? PC_EXIT_FAIL : PC_EXIT_OK;
}

static bool all_maps(const struct pc_node *list)
{
	size_t i;

	for (i = 0; i < list->nitems; i++)
		if (list->items[i]->type != PC_NODE_MAP)
			return false;
	return true;
}

static int list_connections(struct pc_client *c, enum output out)
{
	const struct pc_node *list;
	struct pc_response r;
	int ret = PC_EXIT_OK;

	if (pc_client_admin_get(c, "/connections", &r) < 0) {
		ret = PC_EXIT_FAIL;
		goto out;
	}
	list = pc_node_get(r.root, "connections");
	if (!list || list->type != PC_NODE_SEQ || !all_maps(list)) {
		pc_usage_print("unexpected response from the admin endpoint at %s to GET "
			       "/connections: expected a list of connections",
			       c->addr);
		ret = PC_EXIT_FAIL;
		goto out;
	}
	if (out == OUT_JSON)
		ret = print_json(c, &r);
	else if (list->nitems == 0)
		fputs("No connections\n", stderr);
	else
		print_table(list, out == OUT_WIDE);
out:
	pc_response_release(&r);
	return ret;
}

int pc_cmd_connections(int argc, char **argv)
{
	struct copts o = { .out = OUT_TABLE };
	struct pc_client c;
	bool from_env;
	int status = parse_args(argc, argv, &o);

	if (status >= 0)
		return status;
	if (pc_client_init_admin(&c, o.admin, o.token_file, &from_env) < 0)
		return from_env ? PC_EXIT_FAIL : PC_EXIT_USAGE;
	status = list_connections(&c, o.out);
	pc_client_release(&c);
	return status;
}
