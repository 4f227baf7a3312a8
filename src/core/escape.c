/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * core/escape.c - the one list of characters never echoed raw.
 *
 * The list is the C0 and C1 controls and DEL, plus the characters of
 * Unicode's Cf (format) category that change how a line is shown without
 * showing themselves: the bidirectional marks, embeddings, overrides and
 * isolates (what Go's strconv.Quote, rustc's and GCC's Trojan Source
 * warnings catch), the line and paragraph separators, the zero-width and
 * invisible operators, the BOM, the interlinear annotations and the tag
 * characters (which can carry hidden ASCII). Cf characters that render
 * visibly (U+0600 ARABIC NUMBER SIGN, ...) are left alone: escaping them
 * would only make legitimate names unreadable.
 */
#include "core/escape.h"

#include <stdio.h>
#include <string.h>

#include "core/buf.h"

/* Ranges of code points escaped besides C0, DEL and C1; sorted, inclusive. */
static const struct {
	unsigned lo, hi;
} unsafe[] = {
	{ 0x00ad, 0x00ad },   /* SOFT HYPHEN: invisible unless a line breaks there */
	{ 0x061c, 0x061c },   /* ARABIC LETTER MARK (bidi) */
	{ 0x180e, 0x180e },   /* MONGOLIAN VOWEL SEPARATOR */
	{ 0x200b, 0x200f },   /* zero-width space, (non-)joiner, LRM, RLM (bidi) */
	{ 0x2028, 0x202e },   /* LS, PS; LRE RLE PDF LRO RLO (bidi) */
	{ 0x2060, 0x206f },   /* word joiner, invisible operators, LRI RLI FSI PDI (bidi), ... */
	{ 0xfeff, 0xfeff },   /* ZERO WIDTH NO-BREAK SPACE (BOM) */
	{ 0xfff9, 0xfffb },   /* interlinear annotation anchors */
	{ 0xe0000, 0xe007f }, /* tag characters */
};

bool pc_esc_unsafe_cp(unsigned cp)
{
	size_t i;

	if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
		return true;
	for (i = 0; i < sizeof(unsafe) / sizeof(unsafe[0]); i++) {
		if (cp < unsafe[i].lo)
			return false;
		if (cp <= unsafe[i].hi)
			return true;
	}
	return false;
}

static size_t esc_byte(unsigned char c, char out[PC_ESC_MAX])
{
	static const char hex[] = "0123456789abcdef";

	out[0] = '\\';
	out[1] = 'x';
	out[2] = hex[c >> 4];
	out[3] = hex[c & 0xf];
	return 4;
}

size_t pc_esc_char(const char *s, size_t n, size_t *adv, char out[PC_ESC_MAX])
{
	unsigned char c = (unsigned char)s[0];
	char tmp[PC_ESC_MAX + 1];
	unsigned cp = 0;
	size_t k;
	int w;

	*adv = 1;
	if (c < 0x80)
		return c < 0x20 || c == 0x7f ? esc_byte(c, out) : 0;
	k = pc_utf8_decode(s, n, &cp);
	if (!k)
		return esc_byte(c, out);
	*adv = k;
	if (!pc_esc_unsafe_cp(cp))
		return 0;
	w = cp > 0xffff ? snprintf(tmp, sizeof(tmp), "\\U%08x", cp)
			: snprintf(tmp, sizeof(tmp), "\\u%04x", cp);
	for (k = 0; k < (size_t)w; k++)
		out[k] = tmp[k];
	return (size_t)w;
}

bool pc_esc_needed(const char *s, size_t n)
{
	char esc[PC_ESC_MAX];
	size_t i = 0, adv;

	while (i < n) {
		if (pc_esc_char(s + i, n - i, &adv, esc))
			return true;
		i += adv;
	}
	return false;
}

void pc_buf_add_esc(struct pc_buf *b, const char *s, size_t n)
{
	char esc[PC_ESC_MAX];
	size_t i = 0, run = 0, adv, e;

	/* copy runs of safe characters whole */
	while (i < n) {
		e = pc_esc_char(s + i, n - i, &adv, esc);
		if (e) {
			pc_buf_add(b, s + run, i - run);
			pc_buf_add(b, esc, e);
			run = i + adv;
		}
		i += adv;
	}
	pc_buf_add(b, s + run, n - run);
}

void pc_buf_add_escs(struct pc_buf *b, const char *s)
{
	if (s)
		pc_buf_add_esc(b, s, strlen(s));
}
