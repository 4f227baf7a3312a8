/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cli/cmd_connections.c - `portcullis connections`: the live connections.
 *
 * One GET /connections from the admin endpoint of `portcullis run`
 * (doc/admin.md), printed as a kubectl-like table sorted by connection id,
 * or passed through as JSON. Also holds the small printing helpers that
 * `portcullis top` shares (cli/cmd.h): numbers from JSON, human-readable
 * byte counts, and a grid that keeps server-provided text from driving the
 * terminal.
 */
#include "cli/cmd.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/client.h"
#include "cli/table.h"
#include "core/alloc.h"
#include "core/buf.h"
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
	"  -h, --help           show this help\n"
	"\n"
	"Exit status: 0 success (also with no connections), 1 failure (admin\n"
	"endpoint unreachable, unexpected answer), 2 usage error.\n";

enum output { OUT_TABLE, OUT_WIDE, OUT_JSON };

#define GRID_MIN_WIDTH 6 /* kubectl's tabwriter: minwidth 6, padding 3 */
#define GRID_PADDING   3

/* Doubles beyond this are not converted to integers (no overflow in the cast). */
#define BIG 1e15

#define usage_error(...) pc_cli_usage_error("connections", __VA_ARGS__)

/* -- shared helpers (cli/cmd.h) -------------------------------------------- */

bool pc_cli_num(const struct pc_node *map, const char *key, double *out)
{
	const struct pc_node *v = pc_node_get(map, key);
	enum pc_scalar_kind k;

	if (!v || v->type != PC_NODE_SCALAR || v->style != PC_STYLE_PLAIN)
		return false;
	k = pc_scalar_kind(v);
	if (k != PC_SCALAR_INT && k != PC_SCALAR_FLOAT)
		return false;
	return pc_scalar_float(v, out) && isfinite(*out);
}

void pc_cli_bytes(char *out, size_t size, double n)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	size_t k = 0;
	double v;

	if (!(n >= 0)) {
		snprintf(out, size, "-");
		return;
	}
	if (n < 1023.5) {
		snprintf(out, size, "%.0fB", n);
		return;
	}
	/* 1023.95 would print as "1024.0": go up a unit instead. */
	for (v = n / 1024; v >= 1023.95 && k + 1 < sizeof(units) / sizeof(units[0]); k++)
		v /= 1024;
	snprintf(out, size, "%.1f%s", v, units[k]);
}

size_t pc_cli_width(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

/* A terminal may act on U+009B as on ESC [: C1 controls are replaced too. */
char *pc_cli_safe(const char *s)
{
	struct pc_buf b = PC_BUF_INIT;
	const char *end = s + strlen(s);
	unsigned cp;
	size_t k;

	while (s < end) {
		if (*s == '\n' || *s == '\r' || *s == '\f') {
			pc_buf_adds(&b, "...");
			break;
		}
		k = pc_utf8_decode(s, (size_t)(end - s), &cp);
		if (!k || cp < 0x20 || (cp >= 0x7f && cp < 0xa0))
			pc_buf_addc(&b, '?');
		else
			pc_buf_add(&b, s, k);
		s += k ? k : 1;
	}
	if (b.oom) {
		pc_cli_error("out of memory");
		exit(PC_EXIT_FAIL);
	}
	return b.p ? b.p : pc_xstrdup("");
}

void pc_cli_grid_init(struct pc_cli_grid *g, size_t ncols)
{
	memset(g, 0, sizeof(*g));
	g->ncols = ncols;
}

void pc_cli_grid_release(struct pc_cli_grid *g)
{
	size_t i;

	for (i = 0; i < g->nrows * g->ncols; i++)
		free(g->cells[i]);
	free(g->cells);
	g->cells = NULL;
	g->nrows = 0;
}

void pc_cli_grid_add(struct pc_cli_grid *g, const char *const *cells)
{
	size_t i, base = g->nrows * g->ncols;

	g->cells = pc_xrealloc(g->cells, (base + g->ncols) * sizeof(*g->cells));
	for (i = 0; i < g->ncols; i++)
		g->cells[base + i] = pc_cli_safe(cells[i] ? cells[i] : "<none>");
	g->nrows++;
}

/* Append <line> to <out> without trailing blanks, cut to <width> characters (0: all). */
static void put_line(struct pc_buf *out, struct pc_buf *line, size_t width)
{
	const char *p = pc_buf_str(line);
	size_t n = 0, len = line->len;

	if (width) {
		for (len = 0; p[len]; len++) {
			if (((unsigned char)p[len] & 0xc0) == 0x80)
				continue;
			if (n++ == width)
				break;
		}
	}
	while (len && p[len - 1] == ' ')
		len--;
	pc_buf_add(out, p, len);
	pc_buf_addc(out, '\n');
}

void pc_cli_grid_print(const struct pc_cli_grid *g, struct pc_buf *out, size_t width)
{
	struct pc_buf line = PC_BUF_INIT;
	size_t *w = pc_xmalloc((g->ncols ? g->ncols : 1) * sizeof(*w));
	size_t i, r, cw;

	for (i = 0; i < g->ncols; i++) {
		w[i] = GRID_MIN_WIDTH;
		for (r = 0; r < g->nrows; r++) {
			cw = pc_cli_width(g->cells[r * g->ncols + i]) + GRID_PADDING;
			if (cw > w[i])
				w[i] = cw;
		}
	}
	for (r = 0; r < g->nrows; r++) {
		pc_buf_clear(&line);
		for (i = 0; i < g->ncols; i++) {
			const char *c = g->cells[r * g->ncols + i];

			pc_buf_adds(&line, c);
			for (cw = pc_cli_width(c); i + 1 < g->ncols && cw < w[i]; cw++)
				pc_buf_addc(&line, ' ');
		}
		put_line(out, &line, width);
	}
	if (line.oom || out->oom) {
		pc_cli_error("out of memory");
		exit(PC_EXIT_FAIL);
	}
	pc_buf_release(&line);
	free(w);
}

/* -- the verb ---------------------------------------------------------------- */

struct copts {
	const char *admin;
	enum output out;
};

/* Fill <o> from argv. Returns -1 to go on, or the exit status to return now. */
static int parse_args(int argc, char **argv, struct copts *o)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "admin", required_argument, NULL, 'a' },
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
		case 'h':
			fputs(usage, stdout);
			return PC_EXIT_OK;
		default:
			return pc_cli_bad_option("connections", argv, "o");
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

	if (!pc_cli_num(map, key, &n) || n < 0)
		return NULL;
	if (!exact)
		pc_cli_bytes(out, size, n);
	else if (pc_scalar_kind(v) == PC_SCALAR_INT && pc_scalar_int(v, &i))
		snprintf(out, size, "%lld", i);
	else
		snprintf(out, size, "%.0f", n);
	return out;
}

static const char *age_cell(char *out, size_t size, const struct pc_node *map)
{
	double age;

	if (!pc_cli_num(map, "age_seconds", &age))
		return NULL;
	pc_table_duration(out, size, (long long)fmax(fmin(age, BIG), -BIG));
	return out;
}

static void add_row(struct pc_cli_grid *g, const struct pc_node *conn, bool wide)
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
	pc_cli_grid_add(g, cells);
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
	struct pc_cli_grid g;
	size_t i;

	for (i = 0; i < list->nitems; i++) {
		s[i].conn = list->items[i];
		s[i].has_id = pc_cli_num(s[i].conn, "id", &s[i].id);
		s[i].index = i;
	}
	qsort(s, list->nitems, sizeof(*s), by_id);
	pc_cli_grid_init(&g, wide ? 10 : 8);
	pc_cli_grid_add(&g, wide ? head_wide : head);
	for (i = 0; i < list->nitems; i++)
		add_row(&g, s[i].conn, wide);
	pc_cli_grid_print(&g, &out, 0);
	fwrite(out.p, 1, out.len, stdout);
	pc_buf_release(&out);
	pc_cli_grid_release(&g);
	free(s);
}

static int print_json(const struct pc_client *c, const struct pc_response *r)
{
	struct pc_buf b = PC_BUF_INIT;
	int ret = pc_emit_json(&b, r->root, PC_EMIT_PRETTY);

	pc_buf_addc(&b, '\n');
	if (b.oom) {
		pc_cli_error("out of memory");
		exit(PC_EXIT_FAIL);
	}
	if (ret < 0) {
		pc_cli_error("cannot print the answer of the admin endpoint at %s as JSON: it "
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
		pc_cli_error("unexpected response from the admin endpoint at %s to GET "
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
	struct copts o = { NULL, OUT_TABLE };
	struct pc_client c;
	bool from_env;
	int status = parse_args(argc, argv, &o);

	if (status >= 0)
		return status;
	if (pc_client_init_admin(&c, o.admin, &from_env) < 0)
		return from_env ? PC_EXIT_FAIL : PC_EXIT_USAGE;
	status = list_connections(&c, o.out);
	pc_client_release(&c);
	return status;
}
