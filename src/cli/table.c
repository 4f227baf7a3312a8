/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cli/table.c - the table output of `portcullis get`.
 *
 * Cells are computed as the Kubernetes API server computes them for a
 * custom resource (apiextensions-apiserver's tableconvertor): a "string"
 * column prints its JSON-path value with client-go's jsonpath printer, so
 * a string is itself and a list or map is compact JSON (["a","b"]); a
 * value that is absent or null is a nil cell, which kubectl shows as
 * "<none>". A "date" column is an age: HumanDuration of now minus the
 * timestamp, "<invalid>" when the timestamp does not parse. kubectl then
 * cuts a cell at its first line break (adding "...") and we also show
 * other control characters as '?', so a hostile object cannot drive the
 * terminal.
 */
#include "cli/table.h"

#include <stdlib.h>
#include <string.h>

#include "cli/client.h"
#include "cli/cmd.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "model/emit.h"
#include "model/node.h"

#define TAB_MIN_WIDTH 6 /* kubectl's tabwriter: minwidth 6, padding 3 */
#define TAB_PADDING   3

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

/* The <i>th column of <t>, NAMESPACE included. */
static const struct column *col(const struct pc_table *t, size_t i)
{
	if (t->namespaces)
		return i == 0 ? &namespace_col : &kind_cols(t->kind)[i - 1];
	return &kind_cols(t->kind)[i];
}

void pc_table_init(struct pc_table *t, const struct pc_kind_info *kind, bool namespaces)
{
	const struct column *c;

	memset(t, 0, sizeof(*t));
	t->kind = kind;
	t->namespaces = namespaces;
	for (c = kind_cols(kind); c->header; c++)
		t->ncols++;
	t->ncols += namespaces;
}

static void free_rows(struct pc_table *t)
{
	size_t i;

	for (i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	t->cells = NULL;
	t->nrows = 0;
}

void pc_table_release(struct pc_table *t)
{
	free_rows(t);
}

void pc_table_duration(char *out, size_t size, long long s)
{
	long long m = s / 60, h = s / 3600, d = h / 24;

	if (s < -1)
		snprintf(out, size, "<invalid>");
	else if (s < 0)
		snprintf(out, size, "0s");
	else if (s < 120)
		snprintf(out, size, "%llds", s);
	else if (m < 10 && s % 60)
		snprintf(out, size, "%lldm%llds", m, s % 60);
	else if (m < 180)
		snprintf(out, size, "%lldm", m);
	else if (h < 8 && m % 60)
		snprintf(out, size, "%lldh%lldm", h, m % 60);
	else if (h < 48)
		snprintf(out, size, "%lldh", h);
	else if (h < 24LL * 8 && h % 24)
		snprintf(out, size, "%lldd%lldh", d, h % 24);
	else if (h < 24LL * 365 * 2)
		snprintf(out, size, "%lldd", d);
	else if (h < 24LL * 365 * 8 && d % 365)
		snprintf(out, size, "%lldy%lldd", d / 365, d % 365);
	else
		snprintf(out, size, "%lldy", d / 365);
}

/* <n> decimal digits at <*s>, advancing it; -1 when they are not there. */
static int num(const char **s, int n)
{
	int v = 0;

	for (; n > 0; n--, (*s)++) {
		if (**s < '0' || **s > '9')
			return -1;
		v = v * 10 + (**s - '0');
	}
	return v;
}

static bool expect(const char **s, const char *chars)
{
	if (!**s || !strchr(chars, **s))
		return false;
	(*s)++;
	return true;
}

/* The offset part of an RFC 3339 time at <s>, in seconds east of UTC. */
static bool parse_offset(const char *s, long *off)
{
	int sign, oh, om;

	if (*s == 'Z' || *s == 'z') {
		*off = 0;
		return s[1] == '\0';
	}
	if (*s != '+' && *s != '-')
		return false;
	sign = *s++ == '-' ? -1 : 1;
	oh = num(&s, 2);
	if (oh < 0 || oh > 23 || !expect(&s, ":"))
		return false;
	om = num(&s, 2);
	if (om < 0 || om > 59 || *s)
		return false;
	*off = sign * (oh * 3600L + om * 60L);
	return true;
}

bool pc_table_parse_time(const char *s, time_t *t)
{
	struct tm tm;
	long off;

	memset(&tm, 0, sizeof(tm));
	tm.tm_year = num(&s, 4) - 1900;
	if (tm.tm_year < -1900 || !expect(&s, "-") || (tm.tm_mon = num(&s, 2) - 1) < 0 ||
	    tm.tm_mon > 11 || !expect(&s, "-") || (tm.tm_mday = num(&s, 2)) < 1 ||
	    tm.tm_mday > 31 || !expect(&s, "Tt") || (tm.tm_hour = num(&s, 2)) < 0 ||
	    tm.tm_hour > 23 || !expect(&s, ":") || (tm.tm_min = num(&s, 2)) < 0 || tm.tm_min > 59 ||
	    !expect(&s, ":") || (tm.tm_sec = num(&s, 2)) < 0 || tm.tm_sec > 60)
		return false;
	if (*s == '.') {
		for (s++; *s >= '0' && *s <= '9'; s++)
			;
	}
	if (!parse_offset(s, &off))
		return false;
	*t = timegm(&tm) - off;
	return true;
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
	if (!pc_table_parse_time(ts, &t))
		return pc_xstrdup("<invalid>");
	pc_table_duration(out, sizeof(out), (long long)difftime(now, t));
	return pc_xstrdup(out);
}

/* A cell as kubectl prints it: cut at the first line break, controls shown as '?'. */
static char *printable(char *s)
{
	size_t cut = strcspn(s, "\f\n\r");
	unsigned char *p;

	if (s[cut]) {
		s = pc_xrealloc(s, cut + 4);
		memcpy(s + cut, "...", 4);
	}
	for (p = (unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			*p = '?';
	return s;
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
	return printable(v ? v : pc_xstrdup("<none>"));
}

void pc_table_add(struct pc_table *t, const struct pc_node *obj, time_t now)
{
	size_t i, base = t->nrows * t->ncols;

	t->cells = pc_xrealloc(t->cells, (base + t->ncols) * sizeof(*t->cells));
	for (i = 0; i < t->ncols; i++)
		t->cells[base + i] = cell(col(t, i), obj, now);
	t->nrows++;
}

/* Display width: code points, as Go's tabwriter counts them. */
static size_t text_width(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

static void grow(struct pc_table *t, size_t i, const char *s)
{
	size_t w = text_width(s) + TAB_PADDING;

	if (w < TAB_MIN_WIDTH)
		w = TAB_MIN_WIDTH;
	if (w > t->width[i])
		t->width[i] = w;
}

static void print_row(const struct pc_table *t, FILE *fp, const char *const *cells)
{
	size_t i, w;

	for (i = 0; i < t->ncols; i++) {
		fputs(cells[i], fp);
		if (i + 1 == t->ncols)
			break;
		for (w = text_width(cells[i]); w < t->width[i]; w++)
			fputc(' ', fp);
	}
	fputc('\n', fp);
}

void pc_table_flush(struct pc_table *t, FILE *fp)
{
	const char *header[PC_TABLE_MAX_COLS];
	size_t i, r;

	for (i = 0; i < t->ncols; i++) {
		header[i] = col(t, i)->header;
		if (!t->header_done)
			grow(t, i, header[i]);
		for (r = 0; r < t->nrows; r++)
			grow(t, i, t->cells[r * t->ncols + i]);
	}
	if (!t->header_done)
		print_row(t, fp, header);
	t->header_done = true;
	for (r = 0; r < t->nrows; r++)
		print_row(t, fp, (const char *const *)&t->cells[r * t->ncols]);
	free_rows(t);
}
