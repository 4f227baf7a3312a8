/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * core/buf.h - growable byte buffer for building text (paths, JSON, lines).
 *
 * A buffer is always NUL-terminated once anything was added. Allocation
 * failure is sticky: the buffer remembers it in <oom>, further appends are
 * ignored, and the caller checks once at the end (git's strbuf, without
 * dying).
 */
#ifndef PC_CORE_BUF_H
#define PC_CORE_BUF_H

#include <stdbool.h>
#include <stddef.h>

struct pc_buf {
	char *p;
	size_t len;
	size_t cap;
	bool oom;
};

#define PC_BUF_INIT { NULL, 0, 0, false }

void pc_buf_init(struct pc_buf *b);
void pc_buf_release(struct pc_buf *b);
void pc_buf_clear(struct pc_buf *b);

void pc_buf_add(struct pc_buf *b, const void *data, size_t n);
void pc_buf_adds(struct pc_buf *b, const char *s);
void pc_buf_addc(struct pc_buf *b, char c);
void pc_buf_printf(struct pc_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Append <n> bytes of <s> as a JSON string literal, quotes included.
 * Bytes that are not valid UTF-8 become U+FFFD, so the output always parses.
 * C0 and C1 controls, DEL, and the bidirectional and invisible format
 * characters of pc_esc_unsafe_cp() (core/escape.h) are written as \uXXXX
 * escapes, so the raw text never carries them.
 */
void pc_buf_add_json_str(struct pc_buf *b, const char *s, size_t n);

/*
 * Decode the UTF-8 character at <s> (<n> > 0 bytes left): its length (1..4)
 * with the code point in <*cp> (may be NULL), or 0 when the bytes are not
 * valid UTF-8 (overlong forms, surrogates, beyond U+10FFFF, cut short).
 */
size_t pc_utf8_decode(const char *s, size_t n, unsigned *cp);

/*
 * The length of the longest prefix of the <len> bytes at <s> that is at
 * most <max> bytes and does not end inside a UTF-8 sequence, so text cut
 * for display stays valid UTF-8.
 */
size_t pc_utf8_prefix(const char *s, size_t len, size_t max);

/* Cut the NUL-terminated <s> at the last complete UTF-8 character. */
void pc_utf8_trim(char *s);

/* Shorten to <len> bytes (len <= b->len). */
void pc_buf_truncate(struct pc_buf *b, size_t len);

/* The text so far; "" for an empty buffer. Valid until the next append. */
const char *pc_buf_str(const struct pc_buf *b);

/*
 * Read <fd> to its end into a malloc'd buffer (NUL-terminated, not counted
 * in <*len>), refusing more than <max> bytes. Returns 0, -EFBIG, -ENOMEM
 * or -errno; on failure nothing is left allocated.
 */
int pc_read_all(int fd, size_t max, char **out, size_t *len);

#endif /* PC_CORE_BUF_H */
