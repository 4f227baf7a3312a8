/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cli/term.c - the one terminal sanitiser (cli/term.h).
 */
#include "cli/term.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/escape.h"
#include "core/usage.h"

static bool is_break(char c)
{
	return c == '\n' || c == '\r' || c == '\f';
}

static bool kept(unsigned cp, enum pc_term_mode mode)
{
	/* controls, and the bidi and invisible characters that would reorder a table */
	if (!pc_esc_unsafe_cp(cp))
		return true;
	return mode == PC_TERM_TEXT && (cp == '\n' || cp == '\t');
}

char *pc_term_safe_mem(const char *s, size_t len, enum pc_term_mode mode)
{
	struct pc_buf b = PC_BUF_INIT;
	const char *end = s + len;
	unsigned cp;
	size_t k;

	pc_buf_add(&b, "", 0); /* b.p is "" for an empty string */
	while (s < end) {
		if ((mode == PC_TERM_CELL || mode == PC_TERM_LINE) && is_break(*s)) {
			if (mode == PC_TERM_CELL)
				pc_buf_adds(&b, "...");
			break;
		}
		k = pc_utf8_decode(s, (size_t)(end - s), &cp);
		if (k && kept(cp, mode))
			pc_buf_add(&b, s, k);
		else
			pc_buf_addc(&b, '?');
		s += k ? k : 1;
	}
	if (b.oom || !b.p) {
		pc_usage_print("out of memory");
		exit(PC_EXIT_FAIL);
	}
	return b.p;
}

char *pc_term_safe(const char *s, enum pc_term_mode mode)
{
	return pc_term_safe_mem(s, strlen(s), mode);
}

void pc_term_safe_json(struct pc_buf *json)
{
	struct pc_buf out = PC_BUF_INIT;
	const unsigned char *u = (const unsigned char *)json->p;
	size_t i, start = 0;

	for (i = 0; i + 1 < json->len; i++) {
		if (u[i] != 0xc2 || u[i + 1] < 0x80 || u[i + 1] > 0x9f)
			continue;
		pc_buf_add(&out, json->p + start, i - start);
		pc_buf_printf(&out, "\\u%04x", u[i + 1]);
		start = ++i + 1;
	}
	if (!start)
		return; /* nothing to replace: keep the buffer */
	pc_buf_add(&out, json->p + start, json->len - start);
	if (out.oom) {
		pc_usage_print("out of memory");
		exit(PC_EXIT_FAIL);
	}
	pc_buf_release(json);
	*json = out;
}

void pc_term_puts(FILE *fp, const char *s)
{
	char *safe = pc_term_safe(s, PC_TERM_TEXT);

	fputs(safe, fp);
	free(safe);
}

size_t pc_term_width(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}
