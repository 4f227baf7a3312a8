/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cli/table.c - the one tabwriter (cli/table.h), used by `get` for
 * resources (cli/columns.c) and by `connections` and `top` for what the
 * admin endpoint reports.
 */
#include "cli/table.h"

#include <stdlib.h>
#include <string.h>

#include "cli/term.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/usage.h"

#define TAB_MIN_WIDTH 6 /* kubectl's tabwriter: minwidth 6, padding 3 */
#define TAB_PADDING   3

void pc_table_init(struct pc_table *t, size_t ncols)
{
	size_t i;

	memset(t, 0, sizeof(*t));
	t->ncols = ncols;
	t->width = pc_xmalloc((ncols ? ncols : 1) * sizeof(*t->width));
	for (i = 0; i < ncols; i++)
		t->width[i] = TAB_MIN_WIDTH;
}

static void drop_rows(struct pc_table *t)
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
	drop_rows(t);
	free(t->width);
	t->width = NULL;
}

void pc_table_add(struct pc_table *t, const char *const *cells)
{
	size_t i, base = t->nrows * t->ncols;

	t->cells = pc_xrealloc(t->cells, (base + t->ncols) * sizeof(*t->cells));
	for (i = 0; i < t->ncols; i++)
		t->cells[base + i] = pc_term_safe(cells[i] ? cells[i] : "<none>", PC_TERM_CELL);
	t->nrows++;
}

/* The widths of <t>'s columns with its queued rows, in <w>. */
static void layout(const struct pc_table *t, size_t *w)
{
	size_t i, r, cw;

	for (i = 0; i < t->ncols; i++) {
		w[i] = t->width[i];
		for (r = 0; r < t->nrows; r++) {
			cw = pc_term_width(t->cells[r * t->ncols + i]) + TAB_PADDING;
			if (cw > w[i])
				w[i] = cw;
		}
	}
}

/* Append <line> to <out> without trailing blanks, cut to <width> characters (0: all). */
static void put_line(struct pc_buf *out, const struct pc_buf *line, size_t width)
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

static void print_rows(const struct pc_table *t, const size_t *w, struct pc_buf *out, size_t width)
{
	struct pc_buf line = PC_BUF_INIT;
	size_t i, r, cw;

	for (r = 0; r < t->nrows; r++) {
		pc_buf_clear(&line);
		for (i = 0; i < t->ncols; i++) {
			const char *c = t->cells[r * t->ncols + i];

			pc_buf_adds(&line, c);
			for (cw = pc_term_width(c); i + 1 < t->ncols && cw < w[i]; cw++)
				pc_buf_addc(&line, ' ');
		}
		put_line(out, &line, width);
	}
	if (line.oom || out->oom) {
		pc_usage_print("out of memory");
		exit(PC_EXIT_FAIL);
	}
	pc_buf_release(&line);
}

void pc_table_print(const struct pc_table *t, struct pc_buf *out, size_t width)
{
	size_t *w = pc_xmalloc((t->ncols ? t->ncols : 1) * sizeof(*w));

	layout(t, w);
	print_rows(t, w, out, width);
	free(w);
}

void pc_table_flush(struct pc_table *t, struct pc_buf *out)
{
	layout(t, t->width); /* only ever grows: watch rows line up with the table above */
	print_rows(t, t->width, out, 0);
	drop_rows(t);
}
