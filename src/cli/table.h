/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cli/table.h - the one tabwriter: text tables laid out like kubectl's.
 *
 * Columns are left-aligned, each as wide as its widest cell plus 3 blanks
 * and at least 6 (kubectl's tabwriter: minwidth 6, padding 3); the last
 * column is not padded, and no line ends in blanks. Widths are counted in
 * code points (pc_term_width()), as Go's tabwriter counts them.
 *
 * Cells are copied and made safe for a terminal on the way in
 * (pc_term_safe(), PC_TERM_CELL: cut at their first line break with "..."
 * added, controls and invalid UTF-8 shown as '?'), so whatever a server
 * sent, the table holds only printable text. Widths are remembered by
 * pc_table_flush(), so that rows flushed later (`get --watch`) line up
 * with those above them. Functions exit the process when memory runs out,
 * as the CLI may.
 */
#ifndef PC_CLI_TABLE_H
#define PC_CLI_TABLE_H

#include <stddef.h>

struct pc_buf;

struct pc_table {
	size_t ncols;
	size_t nrows;
	char **cells;  /* nrows * ncols, owned, terminal-safe */
	size_t *width; /* ncols widths, padding included, kept between flushes */
};

void pc_table_init(struct pc_table *t, size_t ncols);
void pc_table_release(struct pc_table *t);

/* Queue a row of t->ncols <cells> (copied); a NULL cell prints as "<none>". */
void pc_table_add(struct pc_table *t, const char *const *cells);

/*
 * Append the queued rows to <out>, each line ending in '\n' and cut to
 * <width> characters (0: no limit). The rows stay queued: a caller may lay
 * the same table out twice.
 */
void pc_table_print(const struct pc_table *t, struct pc_buf *out, size_t width);

/* pc_table_print() without a width limit, then remember the widths and drop the rows. */
void pc_table_flush(struct pc_table *t, struct pc_buf *out);

#endif /* PC_CLI_TABLE_H */
