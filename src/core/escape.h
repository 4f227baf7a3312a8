/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * core/escape.h - make untrusted text safe to echo to a terminal or a log.
 *
 * Names and values that come from outside (manifests, DNS names, HTTP Host,
 * SNI, API request fields) are echoed in validation findings, log lines and
 * replies. Raw, a control character can drive the terminal that shows them
 * (ESC [ 31 m, CSI as U+009B), and a bidirectional control (U+202E RIGHT-TO-
 * LEFT OVERRIDE, ...) can make a line read as something it is not (the
 * "Trojan Source" attack, CVE-2021-42574). Every place that echoes such text
 * goes through pc_esc_char(), so they all agree on what is escaped:
 *
 *   - C0 controls and DEL           -> \xNN      ("\x1b")
 *   - bytes that are not UTF-8      -> \xNN      ("\xff")
 *   - C1 controls, bidi and other
 *     invisible format characters   -> \uXXXX    ("\u202e"), \UXXXXXXXX above U+FFFF
 *
 * Everything else, printable UTF-8 included, is copied unchanged. Callers
 * add their own escapes for their syntax (a quote, a backslash) before
 * asking pc_esc_char().
 */
#ifndef PC_CORE_ESCAPE_H
#define PC_CORE_ESCAPE_H

#include <stdbool.h>
#include <stddef.h>

struct pc_buf;

/* Longest escape pc_esc_char() writes ("\U000e007f"), without a NUL. */
#define PC_ESC_MAX 10

/*
 * Whether the code point <cp> must never be echoed raw: C0, DEL, C1, and
 * the bidirectional and invisible format characters (doc/logging.md lists
 * them). Printable characters, space included, are safe.
 */
bool pc_esc_unsafe_cp(unsigned cp);

/*
 * Look at the character that starts at <s> (<n> > 0 bytes left). Its length
 * in bytes goes to <*adv> (1 for a byte that is not UTF-8). When it must be
 * escaped, its escape is written to <out> (not NUL-terminated) and its
 * length returned; a safe character returns 0 and is for the caller to copy.
 */
size_t pc_esc_char(const char *s, size_t n, size_t *adv, char out[PC_ESC_MAX]);

/* Whether any character of the <n> bytes at <s> would be escaped. */
bool pc_esc_needed(const char *s, size_t n);

/* Append the <n> bytes at <s> to <b> with every unsafe character escaped. */
void pc_buf_add_esc(struct pc_buf *b, const char *s, size_t n);

/* Append the string <s> escaped; NULL appends nothing. */
void pc_buf_add_escs(struct pc_buf *b, const char *s);

#endif /* PC_CORE_ESCAPE_H */
