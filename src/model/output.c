/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * model/output.c - findings as text and JSON.
 */
#include "model/output.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/escape.h"
#include "model/finding.h"

struct sort_key {
	size_t file_rank;
	size_t index;
	const struct pc_finding *f;
};

static int cmp_key(const void *a, const void *b)
{
	const struct sort_key *x = a, *y = b;

	if (x->file_rank != y->file_rank)
		return x->file_rank < y->file_rank ? -1 : 1;
	if (x->f->line != y->f->line)
		return x->f->line < y->f->line ? -1 : 1;
	if (x->f->col != y->f->col)
		return x->f->col < y->f->col ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

void pc_output_sort(struct pc_findings *f)
{
	struct pc_finding *sorted;
	struct sort_key *keys;
	size_t i;

	if (f->n < 2)
		return;
	keys = pc_malloc(f->n * sizeof(*keys));
	sorted = pc_malloc(f->n * sizeof(*sorted));
	if (!keys || !sorted) /* sorting is for reading: keep the order we have */
		goto out;
	/* Files are loaded one after another, so their findings are contiguous. */
	for (i = 0; i < f->n; i++) {
		const char *file = f->v[i].file ? f->v[i].file : "";

		keys[i].index = i;
		keys[i].f = &f->v[i];
		keys[i].file_rank = i;
		if (i && strcmp(file, f->v[i - 1].file ? f->v[i - 1].file : "") == 0)
			keys[i].file_rank = keys[i - 1].file_rank;
	}
	qsort(keys, f->n, sizeof(*keys), cmp_key);
	for (i = 0; i < f->n; i++)
		sorted[i] = *keys[i].f;
	memcpy(f->v, sorted, f->n * sizeof(*sorted));
out:
	free(sorted);
	free(keys);
}

/*
 * Every part of a finding may quote the manifest (a name, a host, a file
 * name from the command line), so each is escaped (core/escape.h): a finding
 * printed to a terminal or to the daemon's stderr cannot drive the terminal
 * or reorder the line with bidi controls.
 */
void pc_output_text_buf(struct pc_buf *b, const struct pc_findings *f)
{
	size_t i;

	for (i = 0; i < f->n; i++) {
		const struct pc_finding *x = &f->v[i];

		pc_buf_add_escs(b, x->file ? x->file : "<input>");
		if (x->line)
			pc_buf_printf(b, ":%u:%u", x->line, x->col);
		pc_buf_printf(b, ": %s: ", pc_severity_name(x->sev));
		if (x->kind) {
			pc_buf_add_escs(b, x->kind);
			if (x->name) {
				pc_buf_addc(b, ' ');
				pc_buf_add_escs(b, x->ns ? x->ns : "default");
				pc_buf_addc(b, '/');
				pc_buf_add_escs(b, x->name);
			}
			pc_buf_adds(b, ": ");
		}
		if (x->path && *x->path) {
			pc_buf_add_escs(b, x->path);
			pc_buf_adds(b, ": ");
		}
		pc_buf_add_escs(b, x->msg);
		pc_buf_addc(b, '\n');
	}
}

/* <s> escaped and a newline, without allocating (what memory is left for). */
static void put_esc(FILE *fp, const char *s)
{
	char esc[PC_ESC_MAX];
	size_t i = 0, n = strlen(s), adv, e;

	while (i < n) {
		e = pc_esc_char(s + i, n - i, &adv, esc);
		fwrite(e ? esc : s + i, 1, e ? e : adv, fp);
		i += adv;
	}
	fputc('\n', fp);
}

void pc_output_text(FILE *fp, const struct pc_findings *f)
{
	size_t i;

	/* a line at a time, so that a long list needs no large buffer */
	for (i = 0; i < f->n; i++) {
		struct pc_findings one = *f;
		struct pc_buf b = PC_BUF_INIT;

		one.v = &f->v[i];
		one.n = 1;
		pc_output_text_buf(&b, &one);
		if (b.oom)
			put_esc(fp, f->v[i].msg); /* the message, at least */
		else
			fwrite(b.p, 1, b.len, fp);
		pc_buf_release(&b);
	}
}

static void json_field(struct pc_buf *b, const char *key, const char *val, bool comma)
{
	if (comma)
		pc_buf_addc(b, ',');
	pc_buf_add_json_str(b, key, strlen(key));
	pc_buf_addc(b, ':');
	if (val)
		pc_buf_add_json_str(b, val, strlen(val));
	else
		pc_buf_adds(b, "null");
}

int pc_output_json(FILE *fp, const struct pc_findings *f)
{
	struct pc_buf b = PC_BUF_INIT;
	size_t i;

	pc_buf_addc(&b, '[');
	for (i = 0; i < f->n; i++) {
		const struct pc_finding *x = &f->v[i];

		pc_buf_adds(&b, i ? ",\n  {" : "\n  {");
		json_field(&b, "file", x->file, false);
		pc_buf_printf(&b, ",\"line\":%u,\"column\":%u", x->line, x->col);
		json_field(&b, "severity", pc_severity_name(x->sev), true);
		json_field(&b, "kind", x->kind, true);
		json_field(&b, "namespace", x->kind ? x->ns : NULL, true);
		json_field(&b, "name", x->name, true);
		json_field(&b, "path", x->path, true);
		json_field(&b, "message", x->msg, true);
		pc_buf_addc(&b, '}');
	}
	pc_buf_adds(&b, f->n ? "\n]\n" : "]\n");
	if (b.oom) {
		pc_buf_release(&b);
		return -ENOMEM;
	}
	fwrite(b.p, 1, b.len, fp);
	pc_buf_release(&b);
	return 0;
}
