/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * core/buf.c - growable text buffer.
 */
#include "core/buf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/escape.h"

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

size_t pc_utf8_decode(const char *s, size_t n, unsigned *cp)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t len, i;
	unsigned c;

	if (u[0] < 0x80) {
		len = 1;
		c = u[0];
		goto out;
	}
	if (u[0] >= 0xc2 && u[0] <= 0xdf)
		len = 2, c = u[0] & 0x1fu;
	else if (u[0] >= 0xe0 && u[0] <= 0xef)
		len = 3, c = u[0] & 0x0fu;
	else if (u[0] >= 0xf0 && u[0] <= 0xf4)
		len = 4, c = u[0] & 0x07u;
	else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((u[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (u[i] & 0x3fu);
	}
	if ((len == 3 && (c < 0x800 || (c >= 0xd800 && c <= 0xdfff))) ||
	    (len == 4 && (c < 0x10000 || c > 0x10ffff)))
		return 0;
out:
	if (cp)
		*cp = c;
	return len;
}

size_t pc_utf8_prefix(const char *s, size_t len, size_t max)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, k;

	if (len > max)
		len = max;
	while (i < len) {
		k = pc_utf8_decode(s + i, len - i, NULL);
		if (k == 0) {
			/* an incomplete sequence at the cut is dropped; other bytes kept */
			if (len - i < 4 && (u[i] & 0xc0) == 0xc0)
				return i;
			k = 1;
		}
		i += k;
	}
	return len;
}

void pc_utf8_trim(char *s)
{
	size_t n = strlen(s);

	s[pc_utf8_prefix(s, n, n)] = '\0';
}

void pc_buf_add_json_str(struct pc_buf *b, const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, k;

	pc_buf_addc(b, '"');
	while (i < n) {
		unsigned char c = u[i];

		if (c >= 0x80) {
			unsigned cp = 0;

			k = pc_utf8_decode(s + i, n - i, &cp);
			/* the list is core/escape.c's; JSON spells U+10000 and up as a surrogate pair */
			if (k && pc_esc_unsafe_cp(cp) && cp > 0xffff)
				pc_buf_printf(b, "\\u%04x\\u%04x", 0xd800 + ((cp - 0x10000) >> 10),
					      0xdc00 + ((cp - 0x10000) & 0x3ff));
			else if (k && pc_esc_unsafe_cp(cp))
				pc_buf_printf(b, "\\u%04x", cp);
			else if (k)
				pc_buf_add(b, s + i, k);
			else
				pc_buf_adds(b, "\\ufffd");
			i += k ? k : 1;
			continue;
		}
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
		i++;
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

int pc_read_all(int fd, size_t max, char **out, size_t *len)
{
	size_t cap = 65536, n = 0;
	char *buf = pc_malloc(cap + 1), *nb;
	ssize_t r;

	if (!buf)
		return -ENOMEM;
	for (;;) {
		if (n == cap) {
			if (cap > max) {
				free(buf);
				return -EFBIG;
			}
			cap *= 2;
			nb = pc_realloc(buf, cap + 1);
			if (!nb) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
		}
		r = read(fd, buf + n, cap - n);
		if (r == 0)
			break;
		if (r == -1) {
			if (errno == EINTR)
				continue;
			r = -errno;
			free(buf);
			return (int)r;
		}
		n += (size_t)r;
		if (n > max) {
			free(buf);
			return -EFBIG;
		}
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}
