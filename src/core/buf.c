/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * core/buf.c - growable text buffer.
 */
#include "core/buf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

void pc_buf_init(struct pc_buf *b)
{
	b->p = NULL;
	b->len = 0;
	b->cap = 0;
	b->oom = false;
}

void pc_buf_release(struct pc_buf *b)
{
	free(b->p);
	pc_buf_init(b);
}

void pc_buf_clear(struct pc_buf *b)
{
	b->len = 0;
	if (b->p)
		b->p[0] = '\0';
}

static bool grow(struct pc_buf *b, size_t extra)
{
	size_t cap;
	char *p;

	if (b->oom)
		return false;
	if (extra > SIZE_MAX / 2 - b->len) {
		b->oom = true;
		return false;
	}
	if (b->len + extra + 1 <= b->cap)
		return true;
	cap = b->cap ? b->cap : 64;
	while (cap < b->len + extra + 1)
		cap *= 2;
	p = pc_realloc(b->p, cap);
	if (!p) {
		b->oom = true;
		return false;
	}
	b->p = p;
	b->cap = cap;
	return true;
}

void pc_buf_add(struct pc_buf *b, const void *data, size_t n)
{
	if (!grow(b, n))
		return;
	if (n)
		memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void pc_buf_adds(struct pc_buf *b, const char *s)
{
	pc_buf_add(b, s, strlen(s));
}

void pc_buf_addc(struct pc_buf *b, char c)
{
	pc_buf_add(b, &c, 1);
}

void pc_buf_printf(struct pc_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !grow(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void pc_buf_add_json_str(struct pc_buf *b, const char *s, size_t n)
{
	size_t i;

	pc_buf_addc(b, '"');
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		switch (c) {
		case '"':
			pc_buf_adds(b, "\\\"");
			break;
		case '\\':
			pc_buf_adds(b, "\\\\");
			break;
		case '\n':
			pc_buf_adds(b, "\\n");
			break;
		case '\r':
			pc_buf_adds(b, "\\r");
			break;
		case '\t':
			pc_buf_adds(b, "\\t");
			break;
		default:
			if (c < 0x20 || c == 0x7f)
				pc_buf_printf(b, "\\u%04x", c);
			else
				pc_buf_addc(b, (char)c);
		}
	}
	pc_buf_addc(b, '"');
}

void pc_buf_truncate(struct pc_buf *b, size_t len)
{
	if (len >= b->len)
		return;
	b->len = len;
	b->p[len] = '\0';
}

const char *pc_buf_str(const struct pc_buf *b)
{
	return b->p ? b->p : "";
}
