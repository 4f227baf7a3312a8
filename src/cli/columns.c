/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cli/columns.c - the table output of `portcullis get`.
 *
 * Cells are computed as the Kubernetes API server computes them for a
 * custom resource (apiextensions-apiserver's tableconvertor): a "string"
 * column prints its JSON-path value with client-go's jsonpath printer, so
 * a string is itself and a list or map is compact JSON (["a","b"]); a
 * value that is absent or null is a nil cell, which kubectl shows as
 * "<none>". A "date" column is an age: HumanDuration of now minus the
 * timestamp, "<invalid>" when the timestamp does not parse. kubectl then
 * cuts a cell at its first line break (adding "..."); the tabwriter
 * (cli/table.c) does that and shows other control characters as '?', so a
 * hostile object cannot drive the terminal.
 */
#include "cli/columns.h"

#include <stdlib.h>
#include <string.h>

#include "cli/client.h"
#include "cli/format.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "model/emit.h"
#include "model/node.h"

enum col_type {
	COL_NAMESPACE,
	COL_NAME,
	COL_STRING, /* a JSON path under the object */
	COL_AGE,
};

struct column {
	const char *header;
	enum col_type type;
	const char *path[3]; /* for COL_STRING: keys from the object's root */
};

static const struct column namespace_col = { "NAMESPACE", COL_NAMESPACE, { NULL } };

static const struct column se_cols[] = {
	{ "NAME", COL_NAME, { NULL } },
	{ "HOSTS", COL_STRING, { "spec", "hosts", NULL } },
	{ "LOCATION", COL_STRING, { "spec", "location", NULL } },
	{ "RESOLUTION", COL_STRING, { "spec", "resolution", NULL } },
	{ "AGE", COL_AGE, { NULL } },
	{ NULL, COL_NAME, { NULL } },
};

static const struct column vs_cols[] = {
	{ "NAME", COL_NAME, { NULL } },
	{ "GATEWAYS", COL_STRING, { "spec", "gateways", NULL } },
	{ "HOSTS", COL_STRING, { "spec", "hosts", NULL } },
	{ "AGE", COL_AGE, { NULL } },
	{ NULL, COL_NAME, { NULL } },
};

static const struct column dr_cols[] = {
	{ "NAME", COL_NAME, { NULL } },
	{ "HOST", COL_STRING, { "spec", "host", NULL } },
	{ "AGE", COL_AGE, { NULL } },
	{ NULL, COL_NAME, { NULL } },
};

static const struct column we_cols[] = {
	{ "NAME", COL_NAME, { NULL } },
	{ "AGE", COL_AGE, { NULL } },
	{ "ADDRESS", COL_STRING, { "spec", "address", NULL } },
	{ NULL, COL_NAME, { NULL } },
};

static const struct column sidecar_cols[] = {
	{ "NAME", COL_NAME, { NULL } },
	{ "AGE", COL_AGE, { NULL } },
	{ NULL, COL_NAME, { NULL } },
};

static const struct column *kind_cols(const struct pc_kind_info *k)
{
	switch (k->kind) {
	case PC_KIND_SERVICE_ENTRY:
		return se_cols;
	case PC_KIND_VIRTUAL_SERVICE:
		return vs_cols;
	case PC_KIND_DESTINATION_RULE:
		return dr_cols;
	case PC_KIND_WORKLOAD_ENTRY:
		return we_cols;
	default:
		return sidecar_cols;
	}
}

/* The <i>th column of <c>, NAMESPACE included. */
static const struct column *col(const struct pc_columns *c, size_t i)
{
	if (c->namespaces)
		return i == 0 ? &namespace_col : &kind_cols(c->kind)[i - 1];
	return &kind_cols(c->kind)[i];
}

void pc_columns_init(struct pc_columns *c, const struct pc_kind_info *kind, bool namespaces)
{
	const char *header[PC_COLUMNS_MAX];
	const struct column *k;
	size_t i, n = namespaces;

	c->kind = kind;
	c->namespaces = namespaces;
	for (k = kind_cols(kind); k->header; k++)
		n++;
	pc_table_init(&c->table, n);
	/* Queued first, the header comes out with the first flush only. */
	for (i = 0; i < n; i++)
		header[i] = col(c, i)->header;
	pc_table_add(&c->table, header);
}

void pc_columns_release(struct pc_columns *c)
{
	pc_table_release(&c->table);
}

static const struct pc_node *at_path(const struct pc_node *obj, const char *const *path)
{
	for (; *path && obj; path++)
		obj = pc_node_get(obj, *path);
	return obj;
}

/* A "string" column's cell: NULL for a nil cell. */
static char *string_cell(const struct pc_node *v)
{
	struct pc_buf b = PC_BUF_INIT;

	if (!v || pc_node_is_null(v))
		return NULL;
	if (v->type == PC_NODE_SCALAR && pc_scalar_kind(v) == PC_SCALAR_STR)
		return pc_xstrdup(v->str);
	if (pc_emit_json(&b, v, 0) < 0) {
		pc_buf_release(&b);
		return NULL;
	}
	return b.p;
}

static char *age_cell(const struct pc_node *obj, time_t now)
{
	const char *ts = pc_client_str(pc_node_get(obj, "metadata"), "creationTimestamp");
	char out[32];
	time_t t;

	if (!ts)
		return NULL;
	if (!pc_format_parse_time(ts, &t))
		return pc_xstrdup("<invalid>");
	pc_format_duration(out, sizeof(out), (long long)difftime(now, t));
	return pc_xstrdup(out);
}

static char *cell(const struct column *c, const struct pc_node *obj, time_t now)
{
	const struct pc_node *meta = pc_node_get(obj, "metadata");
	const char *s;
	char *v;

	switch (c->type) {
	case COL_NAMESPACE:
		s = pc_client_str(meta, "namespace");
		v = s ? pc_xstrdup(s) : NULL;
		break;
	case COL_NAME:
		s = pc_client_str(meta, "name");
		v = s ? pc_xstrdup(s) : NULL;
		break;
	case COL_AGE:
		v = age_cell(obj, now);
		break;
	default:
		v = string_cell(at_path(obj, c->path));
	}
	return v; /* NULL: "<none>" */
}

void pc_columns_add(struct pc_columns *c, const struct pc_node *obj, time_t now)
{
	char *cells[PC_COLUMNS_MAX];
	size_t i, n = c->table.ncols;

	for (i = 0; i < n; i++)
		cells[i] = cell(col(c, i), obj, now);
	pc_table_add(&c->table, (const char *const *)cells);
	for (i = 0; i < n; i++)
		free(cells[i]);
}

void pc_columns_flush(struct pc_columns *c, FILE *fp)
{
	struct pc_buf out = PC_BUF_INIT;

	pc_table_flush(&c->table, &out);
	fwrite(pc_buf_str(&out), 1, out.len, fp);
	pc_buf_release(&out);
}
