/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * core/log.c - logfmt lines built on the stack, one write(2) each.
 *
 * The field format of pc_log() is walked here rather than handed whole to
 * vsnprintf(): each conversion is pulled off the va_list with the type its
 * length modifier and conversion name (the compiler has checked them through
 * the format attribute), formatted alone with snprintf(), and the expanded
 * value is then quoted as a unit. Formatting the whole string first would
 * lose where a value ends, so a value holding ` level=err` could forge a
 * field. The same idea as go-logfmt's encoder, at printf's interface.
 *
 * A line is at most PC_LOG_LINE_MAX bytes: writes to a pipe that small are
 * atomic (pipe(7), PIPE_BUF), and journald's stream socket gets whole lines.
 * When a line would be longer, the field being written is cut (keeping its
 * quotes balanced), the rest are dropped, and truncated=true ends the line.
 */
#include "core/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>

#include "core/escape.h"

static atomic_int cur_level = PC_LOG_INFO;
static atomic_uint cur_flags;
static atomic_int out_fd = -1; /* -1: stderr */

static const char *const level_names[] = {
	[PC_LOG_ERR] = "err",   [PC_LOG_WARN] = "warn",   [PC_LOG_NOTICE] = "notice",
	[PC_LOG_INFO] = "info", [PC_LOG_DEBUG] = "debug",
};

#define TRUNC_TAIL " truncated=true\n"

/* The line being built; <full> once something did not fit. */
struct line {
	char buf[PC_LOG_LINE_MAX];
	size_t len;
	bool full;
};

/* Room left for fields, keeping space for the tail that ends a cut line. */
static size_t room(const struct line *l)
{
	size_t limit = sizeof(l->buf) - (sizeof(TRUNC_TAIL) - 1);

	return l->len < limit ? limit - l->len : 0;
}

static void put(struct line *l, const char *s, size_t n)
{
	if (l->full)
		return;
	if (n > room(l)) {
		n = room(l);
		l->full = true;
	}
	memcpy(l->buf + l->len, s, n);
	l->len += n;
}

static void put_str(struct line *l, const char *s)
{
	put(l, s, strlen(s));
}

static bool needs_quotes(const char *s, size_t n)
{
	size_t i;

	if (n == 0)
		return true;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c == 0x7f)
			return true;
	}
	/* non-ASCII text that is not UTF-8 or holds a bidi or invisible character */
	return pc_esc_needed(s, n);
}

/*
 * The escape of the character at <s> (<n> bytes left) inside a quoted
 * value, its length in <*adv>; 0 when it is copied as is. logfmt's own
 * escapes first, then core/escape.h's for controls, bidi and bad UTF-8.
 */
static size_t value_esc(const char *s, size_t n, size_t *adv, char esc[PC_ESC_MAX])
{
	char c = s[0];

	*adv = 1;
	if (c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t') {
		esc[0] = '\\';
		esc[1] = (char)(c == '\n' ? 'n' : c == '\r' ? 'r' : c == '\t' ? 't' : c);
		return 2;
	}
	return pc_esc_char(s, n, adv, esc);
}

/* Write <s> as a logfmt value: bare when possible, else quoted and escaped. */
static void put_value(struct line *l, const char *s, size_t n)
{
	char esc[PC_ESC_MAX];
	const char *out;
	size_t i, e, adv;

	if (!needs_quotes(s, n)) {
		put(l, s, n);
		return;
	}
	if (l->full || room(l) < 2) {
		l->full = true;
		return;
	}
	l->buf[l->len++] = '"';
	for (i = 0; i < n; i += adv) {
		e = value_esc(s + i, n - i, &adv, esc);
		out = e ? esc : s + i;
		e = e ? e : adv;
		/* keep one byte for the closing quote; never split an escape or a character */
		if (e + 1 > room(l)) {
			l->full = true;
			break;
		}
		memcpy(l->buf + l->len, out, e);
		l->len += e;
	}
	l->buf[l->len++] = '"';
}

/* ---- expanding one key or value of the field format ------------------------- */

/* An expanded key or value; <len> counts bytes, NULs included (%c of 0). */
struct text {
	char buf[PC_LOG_LINE_MAX];
	size_t len;
};

enum len_mod { LM_NONE, LM_HH, LM_H, LM_L, LM_LL, LM_J, LM_Z, LM_T, LM_BIG_L };

/* A one-conversion printf format rebuilt from the caller's: "%", flags, width, precision. */
struct spec {
	char s[48];
	size_t n;
};

static void text_add(struct text *t, int r)
{
	size_t left = sizeof(t->buf) - t->len;

	/* snprintf() wrote min(r, left - 1) bytes plus a NUL */
	if (r > 0)
		t->len += (size_t)r < left ? (size_t)r : left - 1;
}

static void spec_add(struct spec *sp, char c)
{
	/* keep room for a 2-byte length, the conversion and the NUL (spec_end()) */
	if (sp->n < sizeof(sp->s) - 4)
		sp->s[sp->n++] = c;
}

static void spec_add_int(struct spec *sp, int v)
{
	char num[16];
	int i, r;

	r = snprintf(num, sizeof(num), "%d", v);
	for (i = 0; i < r; i++)
		spec_add(sp, num[i]);
}

/* Finish <sp> with <len> (a length modifier, maybe "") and conversion <c>. */
static const char *spec_end(struct spec *sp, const char *len, char c)
{
	while (*len)
		sp->s[sp->n++] = *len++;
	sp->s[sp->n++] = c;
	sp->s[sp->n] = '\0';
	return sp->s;
}

static enum len_mod parse_len(const char **pp)
{
	const char *p = *pp;
	enum len_mod lm;

	switch (*p) {
	case 'h':
		lm = p[1] == 'h' ? LM_HH : LM_H;
		break;
	case 'l':
		lm = p[1] == 'l' ? LM_LL : LM_L;
		break;
	case 'q':
		lm = LM_LL;
		break;
	case 'j':
		lm = LM_J;
		break;
	case 'z':
	case 'Z':
		lm = LM_Z;
		break;
	case 't':
		lm = LM_T;
		break;
	case 'L':
		lm = LM_BIG_L;
		break;
	default:
		return LM_NONE;
	}
	*pp = p + ((lm == LM_HH || (lm == LM_LL && p[1] == 'l')) ? 2 : 1);
	return lm;
}

/*
 * Fetch an integer argument of the type named by <lm> and widen it, keeping
 * printf's conversion to char or short for hh and h. The branches differ
 * only in the type given to va_arg, which bugprone-branch-clone cannot see.
 */
/* NOLINTBEGIN(bugprone-branch-clone) */
static intmax_t arg_signed(enum len_mod lm, va_list *ap)
{
	switch (lm) {
	case LM_HH:
		return (signed char)va_arg(*ap, int);
	case LM_H:
		return (short)va_arg(*ap, int);
	case LM_L:
		return va_arg(*ap, long);
	case LM_LL:
		return va_arg(*ap, long long);
	case LM_J:
		return va_arg(*ap, intmax_t);
	case LM_Z:
		return va_arg(*ap, ssize_t);
	case LM_T:
		return va_arg(*ap, ptrdiff_t);
	default:
		return va_arg(*ap, int);
	}
}

static uintmax_t arg_unsigned(enum len_mod lm, va_list *ap)
{
	switch (lm) {
	case LM_HH:
		return (unsigned char)va_arg(*ap, unsigned int);
	case LM_H:
		return (unsigned short)va_arg(*ap, unsigned int);
	case LM_L:
		return va_arg(*ap, unsigned long);
	case LM_LL:
		return va_arg(*ap, unsigned long long);
	case LM_J:
		return va_arg(*ap, uintmax_t);
	case LM_Z:
		return va_arg(*ap, size_t);
	case LM_T:
		return (uintmax_t)va_arg(*ap, ptrdiff_t);
	default:
		return va_arg(*ap, unsigned int);
	}
}

static long double arg_float(enum len_mod lm, va_list *ap)
{
	if (lm == LM_BIG_L)
		return va_arg(*ap, long double);
	return va_arg(*ap, double);
}
/* NOLINTEND(bugprone-branch-clone) */

/* Parse flags, width and precision after a '%' into <sp>; '*' takes an int. */
static const char *parse_spec(const char *p, struct spec *sp, va_list *ap)
{
	int prec;

	sp->n = 0;
	sp->s[sp->n++] = '%';
	while (*p && strchr("-+ #0'", *p))
		spec_add(sp, *p++);
	if (*p == '*') {
		spec_add_int(sp, va_arg(*ap, int)); /* negative: '-' flag, as printf */
		p++;
	}
	while (*p >= '0' && *p <= '9')
		spec_add(sp, *p++);
	if (*p != '.')
		return p;
	p++;
	if (*p == '*') {
		prec = va_arg(*ap, int);
		/* a negative precision is taken as if it were omitted */
		if (prec >= 0) {
			spec_add(sp, '.');
			spec_add_int(sp, prec);
		}
		return p + 1;
	}
	spec_add(sp, '.');
	while (*p >= '0' && *p <= '9')
		spec_add(sp, *p++);
	return p;
}

/*
 * The format is ours to interpret: the compiler already checked each
 * conversion against its argument (format attribute on pc_log()), and each
 * snprintf() below gets one argument of the type its one-conversion spec
 * names (integers are widened to intmax_t and printed with 'j', floats to
 * long double with 'L'). Hence the non-literal formats.
 */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
#pragma GCC diagnostic ignored "-Wformat-security"

/* Expand the conversion at *<pp> (just past its '%') into <t>. */
static void conv(struct text *t, const char **pp, va_list *ap, int saved_errno)
{
	char *o = t->buf + t->len;
	size_t left = sizeof(t->buf) - t->len;
	enum len_mod lm;
	struct spec sp;
	const char *p;
	char c;

	p = parse_spec(*pp, &sp, ap);
	lm = parse_len(&p);
	c = *p;
	*pp = c ? p + 1 : p;

	switch (c) {
	case 'd':
	case 'i':
		text_add(t, snprintf(o, left, spec_end(&sp, "j", c), arg_signed(lm, ap)));
		break;
	case 'o':
	case 'u':
	case 'x':
	case 'X':
		text_add(t, snprintf(o, left, spec_end(&sp, "j", c), arg_unsigned(lm, ap)));
		break;
	case 'a':
	case 'A':
	case 'e':
	case 'E':
	case 'f':
	case 'F':
	case 'g':
	case 'G':
		text_add(t, snprintf(o, left, spec_end(&sp, "L", c), arg_float(lm, ap)));
		break;
	case 'c':
		if (lm == LM_L)
			text_add(t, snprintf(o, left, spec_end(&sp, "l", c),
					     (wint_t)va_arg(*ap, unsigned int)));
		else
			text_add(t, snprintf(o, left, spec_end(&sp, "", c), va_arg(*ap, int)));
		break;
	case 's':
		if (lm == LM_L)
			text_add(t, snprintf(o, left, spec_end(&sp, "l", c),
					     va_arg(*ap, const wchar_t *)));
		else
			text_add(t, snprintf(o, left, spec_end(&sp, "", c),
					     va_arg(*ap, const char *)));
		break;
	case 'p':
		text_add(t, snprintf(o, left, spec_end(&sp, "", c), va_arg(*ap, void *)));
		break;
	case 'm':
		errno = saved_errno; /* glibc's %m reads errno */
		text_add(t, snprintf(o, left, spec_end(&sp, "", c)));
		break;
	case 'n':
		(void)va_arg(*ap, void *); /* never written through */
		break;
	case '%':
		text_add(t, snprintf(o, left, "%%"));
		break;
	default:
		/* unknown or cut short: the compiler warned; don't guess an argument */
		break;
	}
}

#pragma GCC diagnostic pop

/*
 * Expand the format at *<pp> into <t> up to the end, a space, or (when
 * <stop_at_eq>) an '='. A space inside a conversion ("% d") is a flag, not
 * the end of the field.
 */
static void expand(struct text *t, const char **pp, bool stop_at_eq, va_list *ap, int saved_errno)
{
	const char *p = *pp;

	t->len = 0;
	while (*p && *p != ' ' && !(stop_at_eq && *p == '=')) {
		if (*p == '%') {
			p++;
			conv(t, &p, ap, saved_errno);
		} else if (t->len < sizeof(t->buf) - 1) {
			t->buf[t->len++] = *p++;
		} else {
			p++;
		}
	}
	*pp = p;
}

/* Keys are identifiers: anything that could break the line becomes '_'. */
static void put_key(struct line *l, struct text *k)
{
	size_t i;

	if (k->len == 0) {
		put_str(l, "_");
		return;
	}
	for (i = 0; i < k->len; i++) {
		unsigned char c = (unsigned char)k->buf[i];

		if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c >= 0x7f)
			k->buf[i] = '_';
	}
	put(l, k->buf, k->len);
}

static void put_fields(struct line *l, const char *fmt, va_list *ap, int saved_errno)
{
	struct text t;
	const char *p = fmt;

	while (*p) {
		if (*p == ' ') {
			p++;
			continue;
		}
		put_str(l, " ");
		expand(&t, &p, true, ap, saved_errno);
		put_key(l, &t);
		if (*p == '=') {
			p++;
			expand(&t, &p, false, ap, saved_errno);
			put_str(l, "=");
			put_value(l, t.buf, t.len);
		}
	}
}

/* ---- the line ----------------------------------------------------------------- */

static void put_ts(struct line *l)
{
	struct timespec ts;
	struct tm tm;
	char b[40];
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (!gmtime_r(&ts.tv_sec, &tm))
		return;
	n = strftime(b, sizeof(b), "ts=%Y-%m-%dT%H:%M:%S", &tm);
	if (n == 0)
		return;
	snprintf(b + n, sizeof(b) - n, ".%03ldZ ", ts.tv_nsec / 1000000);
	put_str(l, b);
}

/*
 * One write(2) per line. Only a short write (a regular file hitting its
 * limit, or a signal mid-way) makes a second one, which could not have been
 * atomic anyway; EAGAIN on a non-blocking stderr drops the line rather than
 * blocking the loop.
 */
static void emit(const struct line *l)
{
	int fd = atomic_load_explicit(&out_fd, memory_order_relaxed);
	size_t off = 0;
	ssize_t n;

	if (fd < 0)
		fd = STDERR_FILENO;
	while (off < l->len) {
		n = write(fd, l->buf + off, l->len - off);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return;
		}
		off += (size_t)n;
	}
}

static int clamp_level(int level)
{
	if (level < PC_LOG_ERR)
		return PC_LOG_ERR;
	if (level > PC_LOG_DEBUG)
		return PC_LOG_DEBUG;
	return level;
}

static void vlog(int level, uint64_t suppressed, const char *msg, const char *fmt, va_list ap)
{
	int saved_errno = errno;
	struct line l;
	va_list aq;
	char num[40];

	level = clamp_level(level);
	if (!pc_log_enabled(level))
		return;

	l.len = 0;
	l.full = false;
	if (atomic_load_explicit(&cur_flags, memory_order_relaxed) & PC_LOG_TIMESTAMP)
		put_ts(&l);
	put_str(&l, "level=");
	put_str(&l, level_names[level]);
	put_str(&l, " msg=");
	put_value(&l, msg ? msg : "", msg ? strlen(msg) : 0);
	if (fmt) {
		/* a copy, so that put_fields() can take its address (C11 7.16) */
		va_copy(aq, ap);
		put_fields(&l, fmt, &aq, saved_errno);
		va_end(aq);
	}
	if (suppressed) {
		snprintf(num, sizeof(num), " suppressed=%llu", (unsigned long long)suppressed);
		put_str(&l, num);
	}
	if (l.full) {
		memcpy(l.buf + l.len, TRUNC_TAIL, sizeof(TRUNC_TAIL) - 1);
		l.len += sizeof(TRUNC_TAIL) - 1;
	} else {
		l.buf[l.len++] = '\n';
	}
	emit(&l);
	errno = saved_errno;
}

void pc_log(int level, const char *msg, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(level, 0, msg, fmt, ap);
	va_end(ap);
}

void pc_log_suppressed(int level, uint64_t suppressed, const char *msg, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(level, suppressed, msg, fmt, ap);
	va_end(ap);
}

/* ---- settings ------------------------------------------------------------------ */

bool pc_log_enabled(int level)
{
	return level <= atomic_load_explicit(&cur_level, memory_order_relaxed);
}

void pc_log_set_level(int level)
{
	atomic_store_explicit(&cur_level, clamp_level(level), memory_order_relaxed);
}

int pc_log_get_level(void)
{
	return atomic_load_explicit(&cur_level, memory_order_relaxed);
}

int pc_log_level_parse(const char *name)
{
	int i;

	if (!strcmp(name, "error"))
		return PC_LOG_ERR;
	if (!strcmp(name, "warning"))
		return PC_LOG_WARN;
	for (i = PC_LOG_ERR; i <= PC_LOG_DEBUG; i++) {
		if (!strcmp(name, level_names[i]))
			return i;
	}
	return -EINVAL;
}

const char *pc_log_level_name(int level)
{
	if (level < PC_LOG_ERR || level > PC_LOG_DEBUG)
		return "?";
	return level_names[level];
}

void pc_log_set_flags(unsigned flags)
{
	atomic_store_explicit(&cur_flags, flags, memory_order_relaxed);
}

void pc_log_set_fd(int fd)
{
	atomic_store_explicit(&out_fd, fd, memory_order_relaxed);
}

/* ---- rate limiting --------------------------------------------------------------- */

void pc_ratelimit_init(struct pc_ratelimit *rl, uint64_t interval_ms, unsigned burst)
{
	memset(rl, 0, sizeof(*rl));
	rl->interval_ms = interval_ms;
	rl->burst = burst;
}

bool pc_log_ratelimit(struct pc_ratelimit *rl, uint64_t now_ms)
{
	/* no interval: no limit */
	if (rl->interval_ms == 0) {
		rl->suppressed = 0;
		return true;
	}
	if (!rl->started || now_ms < rl->begin || now_ms - rl->begin >= rl->interval_ms) {
		rl->started = true;
		rl->begin = now_ms;
		rl->count = 0;
	}
	if (rl->count < rl->burst) {
		rl->count++;
		rl->suppressed = rl->missed;
		rl->missed = 0;
		return true;
	}
	rl->missed++;
	return false;
}
