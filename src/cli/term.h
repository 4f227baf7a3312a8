/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cli/term.h - text from elsewhere made safe for a terminal.
 *
 * Everything the command line prints that it did not write itself (names,
 * messages and cells from the API server or the admin endpoint, argv echoed
 * in an error) goes through pc_term_safe(), the one sanitiser, so a hostile
 * server cannot drive the terminal. It replaces with '?':
 *
 *   - C0 controls (U+0000..U+001F) but those a <mode> keeps, and DEL (U+007F);
 *   - C1 controls (U+0080..U+009F, UTF-8 c2 80..c2 9f): a terminal may act
 *     on U+009B as on ESC [ (ECMA-48 CSI), on U+009D as on ESC ], ...;
 *   - the bidirectional and invisible format characters of core/escape.h
 *     (U+202E RIGHT-TO-LEFT OVERRIDE, U+2066 LRI, U+200B, ...), which would
 *     reorder or hide what a line or a table cell shows;
 *   - every byte that does not start a valid UTF-8 sequence (a lone
 *     continuation byte such as a raw 0x9b, a cut or overlong sequence, a
 *     surrogate): one '?' per such byte, and decoding resumes at the next
 *     byte, so a valid character after a broken one is kept.
 *
 * The result is therefore valid UTF-8 without control characters (but those
 * <mode> keeps), whose width is pc_term_width(). Printable characters of any
 * script are kept as they are. Functions here exit the process when memory
 * runs out, as the CLI may (STYLE.md 3.6).
 */
#ifndef PC_CLI_TERM_H
#define PC_CLI_TERM_H

#include <stddef.h>
#include <stdio.h>

struct pc_buf;

/* What pc_term_safe() does with line breaks: \n, \r and \f. */
enum pc_term_mode {
	PC_TERM_CELL,   /* cut at the first line break, "..." added (kubectl's table cells) */
	PC_TERM_LINE,   /* cut at the first line break, nothing added */
	PC_TERM_INLINE, /* no cut: line breaks and tabs are controls like the others */
	PC_TERM_TEXT,   /* no cut: \n and \t kept (a message of several lines) */
};

/* A copy of the <len> bytes at <s> (NUL bytes included) made safe for a terminal; free() it. */
char *pc_term_safe_mem(const char *s, size_t len, enum pc_term_mode mode);

/* A copy of the string <s> made safe for a terminal; free() it. */
char *pc_term_safe(const char *s, enum pc_term_mode mode);

/*
 * Make the JSON text in <json>, as pc_emit_json() writes it, safe for a
 * terminal without changing what it means: each C1 control (which JSON
 * allows raw, and which can only be inside a string) becomes its \u0080..
 * \u009f escape. The emitter already escapes C0 and DEL, and writes only
 * valid UTF-8.
 */
void pc_term_safe_json(struct pc_buf *json);

/* Write <s> to <fp> made safe for a terminal, newlines and tabs kept (PC_TERM_TEXT). */
void pc_term_puts(FILE *fp, const char *s);

/*
 * Characters (UTF-8 code points) in <s>: the width a terminal gives the
 * output of pc_term_safe() (Go's tabwriter counts the same way).
 */
size_t pc_term_width(const char *s);

#endif /* PC_CLI_TERM_H */
