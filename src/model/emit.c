/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * model/emit.c - node tree to JSON and block YAML.
 *
 * Every scalar is first resolved (struct scal) to what Kubernetes' JSON
 * holds: null, a boolean, a JSON number (its text) or a string. JSON output
 * writes that directly; YAML output writes numbers and booleans plain and
 * quotes a string whenever the plain form would read back differently, so
 * YAML -> node -> YAML -> node gives the same JSON.
 *
 * Sources for the typing rules: go-yaml v2 resolve.go (int64, then uint64,
 * then its float syntax, else string), sigs.k8s.io/yaml
 * convertToJSONableObject (key stringification), Go encoding/json
 * floatEncoder (number spelling). For what plain YAML may carry: the YAML
 * 1.1 spec, chapter 9, and libyaml's scanner (simple keys are limited to
 * 1024 characters, document markers at column 0).
 */
#include "model/emit.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/escape.h"
#include "model/node.h"

/* A resolved scalar; the text is in num (numbers) or borrowed (the rest). */
struct scal {
	enum pc_scalar_kind kind; /* PC_SCALAR_FLOAT for any non-integer number */
	const char *s;            /* NULL: the text is num */
	size_t len;
	char num[48];
};

static const char *scal_str(const struct scal *r)
{
	return r->s ? r->s : r->num;
}

static size_t scal_len(const struct scal *r)
{
	return r->s ? r->len : strlen(r->num);
}

static void set_text(struct scal *r, const char *s)
{
	r->s = s;
	r->len = strlen(s);
}

/*
 * The shortest decimal digits of the finite, non-zero <v> that read back
 * as <v> (as a float when <f32>): the digits go to <dig> (at most 17, no
 * trailing zeros), the return value is their count and <*dp> is where the
 * decimal point goes (0.0ddd is dp 0). Trying %.*e at growing precision
 * gives Go's strconv shortest form: fewest digits, correctly rounded.
 */
static int shortest(double v, bool f32, char *dig, int *dp)
{
	char tmp[48];
	const char *q;
	int p, nd = 0;

	for (p = 1; p <= 17; p++) {
		snprintf(tmp, sizeof(tmp), "%.*e", p - 1, v);
		if (f32 ? strtof(tmp, NULL) == (float)v : strtod(tmp, NULL) == v)
			break;
	}
	q = tmp[0] == '-' ? tmp + 1 : tmp;
	for (; *q && *q != 'e'; q++) {
		if (*q != '.' && nd < 17)
			dig[nd++] = *q;
	}
	if (!nd)
		dig[nd++] = '0'; /* not reached: %e always has a digit */
	while (nd > 1 && dig[nd - 1] == '0')
		nd--;
	*dp = (int)strtol(q + 1, NULL, 10) + 1;
	return nd;
}

/* Go's %f with the shortest digits: 1500, 1.5, 0.0015. */
static void fmt_f(char *o, size_t size, bool neg, const char *dig, int nd, int dp)
{
	size_t n = 0;
	int i;

	if (neg)
		o[n++] = '-';
	if (dp <= 0) {
		o[n++] = '0';
		o[n++] = '.';
		for (i = 0; i < -dp; i++)
			o[n++] = '0';
		for (i = 0; i < nd; i++)
			o[n++] = dig[i];
	} else {
		for (i = 0; i < nd || i < dp; i++) {
			if (i == dp)
				o[n++] = '.';
			if (i < nd)
				o[n++] = dig[i];
			else
				o[n++] = '0';
		}
	}
	o[n < size ? n : size - 1] = '\0';
}

/* Go's %e with the shortest digits: 1.5e+21, 1e-07 (1e-7 when <json>). */
static void fmt_e(char *o, size_t size, bool neg, const char *dig, int nd, int exp, bool json)
{
	size_t n = 0;
	int i;

	if (neg)
		o[n++] = '-';
	o[n++] = dig[0];
	if (nd > 1)
		o[n++] = '.';
	for (i = 1; i < nd; i++)
		o[n++] = dig[i];
	if (exp < 0)
		snprintf(o + n, size - n, json ? "e-%d" : "e-%02d", -exp);
	else
		snprintf(o + n, size - n, "e+%02d", exp);
}

/* A finite double as Go's encoding/json writes it. */
static void fmt_json_number(double v, char *o, size_t size)
{
	char dig[20];
	int nd, dp;
	double a = fabs(v);

	if (v == 0) {
		snprintf(o, size, "%s", signbit(v) ? "-0" : "0");
		return;
	}
	nd = shortest(v, false, dig, &dp);
	if (a < 1e-6 || a >= 1e21)
		fmt_e(o, size, v < 0, dig, nd, dp - 1, true);
	else
		fmt_f(o, size, v < 0, dig, nd, dp);
}

/* A float map key as sigs.k8s.io/yaml spells it: FormatFloat(v, 'g', -1, 32). */
static void fmt_key_float(double v, char *o, size_t size)
{
	char dig[20];
	int nd, dp;
	float f;

	if (isnan(v)) {
		snprintf(o, size, ".nan");
		return;
	}
	/* float32(v) rounds to nearest: halfway past FLT_MAX is already +Inf */
	if (fabs(v) >= 0x1.ffffffp127) {
		snprintf(o, size, "%s", v < 0 ? "-.inf" : ".inf");
		return;
	}
	f = (float)v;
	if (f == 0) {
		snprintf(o, size, "%s", signbit(f) ? "-0" : "0");
		return;
	}
	nd = shortest((double)f, true, dig, &dp);
	if (dp - 1 < -4 || dp - 1 >= 6) /* Go uses precision 6 for this choice */
		fmt_e(o, size, f < 0, dig, nd, dp - 1, false);
	else
		fmt_f(o, size, f < 0, dig, nd, dp);
}

static int resolve_number(double d, bool key, struct scal *r)
{
	r->kind = PC_SCALAR_FLOAT;
	r->s = NULL;
	if (key) {
		fmt_key_float(d, r->num, sizeof(r->num));
		return 0;
	}
	if (!isfinite(d))
		return -EINVAL; /* JSON has no Inf or NaN */
	fmt_json_number(d, r->num, sizeof(r->num));
	return 0;
}

/* strconv.ParseUint(s, 0, 64): no sign; 0x, 0o, 0b or 0 (octal) prefixes. */
static bool parse_uint(const char *s, unsigned long long *out)
{
	int base = 10;
	char *end;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	} else if (s[0] == '0' && (s[1] == 'o' || s[1] == 'O')) {
		base = 8;
		s += 2;
	} else if (s[0] == '0' && (s[1] == 'b' || s[1] == 'B')) {
		base = 2;
		s += 2;
	} else if (s[0] == '0' && s[1]) {
		base = 8;
		s++;
	}
	if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f') || (*s >= 'A' && *s <= 'F')))
		return false; /* strtoull would take a sign or spaces */
	errno = 0;
	*out = strtoull(s, &end, base);
	return *end == '\0' && errno != ERANGE;
}

/*
 * An integer literal beyond int64: go-yaml v2 tries uint64, then its
 * float syntax (decimal digits here, even with a leading 0), and else
 * keeps the text as a string.
 */
static int resolve_big_int(const struct pc_node *n, bool key, struct scal *r)
{
	unsigned long long u;
	char plain[128];
	size_t i, j = 0;
	const char *p;

	for (i = 0; i < n->len; i++) {
		if (n->str[i] == '_')
			continue;
		if (j + 1 >= sizeof(plain))
			goto string;
		plain[j++] = n->str[i];
	}
	plain[j] = '\0';
	if (parse_uint(plain, &u)) {
		r->kind = PC_SCALAR_INT;
		r->s = NULL;
		snprintf(r->num, sizeof(r->num), "%llu", u);
		return 0;
	}
	p = plain[0] == '+' || plain[0] == '-' ? plain + 1 : plain;
	if (*p && strspn(p, "0123456789") == strlen(p))
		return resolve_number(strtod(plain, NULL), key, r);
string:
	r->kind = PC_SCALAR_STR;
	return 0;
}

/*
 * Resolve scalar <n> into <r>. As a <key> the result is always a string
 * (PC_SCALAR_STR kind). Returns 0 or -EINVAL (Inf/NaN value, null key).
 */
static int resolve(const struct pc_node *n, bool key, struct scal *r)
{
	long long v;
	double d;
	int ret = 0;

	r->kind = pc_scalar_kind(n);
	r->num[0] = '\0';
	r->s = n->str;
	r->len = n->len;
	switch (r->kind) {
	case PC_SCALAR_NULL:
		if (key)
			return -EINVAL; /* sigs.k8s.io/yaml: unsupported map key */
		set_text(r, "null");
		break;
	case PC_SCALAR_BOOL:
		set_text(r, pc_scalar_bool(n) ? "true" : "false");
		break;
	case PC_SCALAR_INT:
		if (pc_scalar_int(n, &v)) {
			r->s = NULL;
			snprintf(r->num, sizeof(r->num), "%lld", v);
		} else {
			ret = resolve_big_int(n, key, r);
		}
		break;
	case PC_SCALAR_FLOAT:
		if (!pc_scalar_float(n, &d))
			return -EINVAL;
		ret = resolve_number(d, key, r);
		break;
	default:
		break;
	}
	if (key)
		r->kind = PC_SCALAR_STR;
	return ret;
}

/* ---- JSON ---- */

struct entry {
	struct scal k;
	const struct pc_node *v;
};

static int cmp_entry(const void *a, const void *b)
{
	const struct scal *x = &((const struct entry *)a)->k;
	const struct scal *y = &((const struct entry *)b)->k;
	size_t xl = scal_len(x), yl = scal_len(y);
	int c = memcmp(scal_str(x), scal_str(y), xl < yl ? xl : yl);

	if (c)
		return c;
	return xl < yl ? -1 : xl > yl;
}

static int json_node(struct pc_buf *b, const struct pc_node *n, unsigned flags, unsigned depth);

/* <n> bytes of <s> escaped as in a JSON string, without the quotes. */
static void json_seg(struct pc_buf *b, const char *s, size_t n)
{
	size_t at = b->len;

	pc_buf_add_json_str(b, s, n);
	if (b->oom)
		return;
	memmove(b->p + at, b->p + at + 1, b->len - at - 2);
	pc_buf_truncate(b, b->len - 2);
}

/*
 * A JSON string. NEL, LS and PS are escaped too (Go escapes the last two):
 * JSON gets read back as YAML, where all three are line breaks.
 */
static void json_str(struct pc_buf *b, const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i, from = 0;
	unsigned cp;

	pc_buf_addc(b, '"');
	for (i = 0; i + 1 < len; i++) {
		if (u[i] == 0xc2 && u[i + 1] == 0x85)
			cp = 0x85;
		else if (i + 2 < len && u[i] == 0xe2 && u[i + 1] == 0x80 &&
			 (u[i + 2] == 0xa8 || u[i + 2] == 0xa9))
			cp = 0x2000u + u[i + 2] - 0x80u;
		else
			continue;
		json_seg(b, s + from, i - from);
		pc_buf_printf(b, "\\u%04x", cp);
		i += cp == 0x85 ? 1 : 2;
		from = i + 1;
	}
	json_seg(b, s + from, len - from);
	pc_buf_addc(b, '"');
}

static void json_nl(struct pc_buf *b, unsigned flags, unsigned depth)
{
	unsigned i;

	if (!(flags & PC_EMIT_PRETTY))
		return;
	pc_buf_addc(b, '\n');
	for (i = 0; i < depth; i++)
		pc_buf_add(b, "    ", 4); /* kubectl -o json: json.MarshalIndent(v, "", "    ") */
}

static int json_pair(struct pc_buf *b, const struct scal *k, const struct pc_node *v,
		     unsigned flags, unsigned depth)
{
	json_nl(b, flags, depth + 1);
	json_str(b, scal_str(k), scal_len(k));
	pc_buf_adds(b, flags & PC_EMIT_PRETTY ? ": " : ":");
	return json_node(b, v, flags, depth + 1);
}

static int json_sorted_map(struct pc_buf *b, const struct pc_node *n, unsigned flags,
			   unsigned depth)
{
	struct entry *e;
	size_t i;
	int ret = 0;

	e = pc_calloc(n->npairs, sizeof(*e));
	if (!e)
		return -ENOMEM;
	for (i = 0; i < n->npairs && !ret; i++) {
		ret = resolve(n->pairs[i].key, true, &e[i].k);
		e[i].v = n->pairs[i].value;
	}
	if (ret)
		goto out_free;
	qsort(e, n->npairs, sizeof(*e), cmp_entry);
	for (i = 0; i < n->npairs && !ret; i++) {
		if (i && cmp_entry(&e[i - 1], &e[i]) == 0) {
			ret = -EINVAL; /* e.g. 1 and 0x1: one JSON key twice */
			break;
		}
		if (i)
			pc_buf_addc(b, ',');
		ret = json_pair(b, &e[i].k, e[i].v, flags, depth);
	}
out_free:
	free(e);
	return ret;
}

static int json_map(struct pc_buf *b, const struct pc_node *n, unsigned flags, unsigned depth)
{
	struct scal k;
	size_t i;
	int ret = 0;

	if (!n->npairs) {
		pc_buf_adds(b, "{}");
		return 0;
	}
	pc_buf_addc(b, '{');
	if (flags & PC_EMIT_SORT_KEYS) {
		ret = json_sorted_map(b, n, flags, depth);
	} else {
		for (i = 0; i < n->npairs && !ret; i++) {
			if (i)
				pc_buf_addc(b, ',');
			ret = resolve(n->pairs[i].key, true, &k);
			if (!ret)
				ret = json_pair(b, &k, n->pairs[i].value, flags, depth);
		}
	}
	json_nl(b, flags, depth);
	pc_buf_addc(b, '}');
	return ret;
}

static int json_node(struct pc_buf *b, const struct pc_node *n, unsigned flags, unsigned depth)
{
	struct scal r;
	size_t i;
	int ret = 0;

	if (!n) {
		pc_buf_adds(b, "null");
		return 0;
	}
	if (n->type == PC_NODE_MAP)
		return json_map(b, n, flags, depth);
	if (n->type == PC_NODE_SEQ) {
		if (!n->nitems) {
			pc_buf_adds(b, "[]");
			return 0;
		}
		pc_buf_addc(b, '[');
		for (i = 0; i < n->nitems && !ret; i++) {
			if (i)
				pc_buf_addc(b, ',');
			json_nl(b, flags, depth + 1);
			ret = json_node(b, n->items[i], flags, depth + 1);
		}
		json_nl(b, flags, depth);
		pc_buf_addc(b, ']');
		return ret;
	}
	ret = resolve(n, false, &r);
	if (ret)
		return ret;
	if (r.kind == PC_SCALAR_STR)
		json_str(b, scal_str(&r), scal_len(&r));
	else
		pc_buf_add(b, scal_str(&r), scal_len(&r));
	return 0;
}

/* Run an emitter; on failure put <out> back to its length on entry. */
static int finish(struct pc_buf *out, size_t start, int ret)
{
	if (!ret && out->oom)
		ret = -ENOMEM;
	if (ret)
		pc_buf_truncate(out, start);
	return ret;
}

int pc_emit_json(struct pc_buf *out, const struct pc_node *n, unsigned flags)
{
	size_t start = out->len;

	return finish(out, start, json_node(out, n, flags, 0));
}

/* ---- YAML ---- */

enum quote {
	Q_PLAIN,
	Q_SINGLE,
	Q_DOUBLE,
};

/*
 * May <cp> stand as itself inside a quoted scalar? Not controls, DEL, C1
 * (libyaml's reader rejects them), nor NEL, LS, PS (YAML 1.1 line breaks),
 * BOM and the non-characters U+FFFE/U+FFFF.
 */
static bool is_printable(unsigned cp)
{
	/* bidi and invisible format characters too (core/escape.h): shown, not obeyed */
	if (pc_esc_unsafe_cp(cp))
		return false;
	if (cp < 0xa0)
		return cp >= 0x20 && cp < 0x7f;
	return cp != 0x2028 && cp != 0x2029 && cp != 0xfeff && cp != 0xfffe && cp != 0xffff;
}

static bool needs_escapes(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, k;
	unsigned cp;

	while (i < len) {
		k = pc_utf8_decode((const char *)u + i, len - i, &cp);
		if (!k || !is_printable(cp))
			return true;
		i += k;
	}
	return false;
}

static bool has(const char *s, size_t len, const char *what)
{
	return memmem(s, len, what, strlen(what)) != NULL;
}

/* Digits at <s>, at least <min> and at most <max> of the <len> bytes; their count or 0. */
static size_t digits(const char *s, size_t len, size_t min, size_t max)
{
	size_t n = 0;

	while (n < len && n < max && s[n] >= '0' && s[n] <= '9')
		n++;
	return n >= min ? n : 0;
}

/*
 * A YAML 1.1 timestamp starts yyyy-m-d. go-yaml v2 keeps one a string when
 * decoding into interface{}, but other YAML 1.1 readers make it a date, so
 * kubectl quotes it and so do we.
 */
static bool looks_date(const char *s, size_t len)
{
	size_t i = digits(s, len, 4, 4), k;

	if (!i || i >= len || s[i++] != '-')
		return false;
	k = digits(s + i, len - i, 1, 2);
	if (!k || i + k >= len || s[i + k] != '-')
		return false;
	i += k + 1;
	return digits(s + i, len - i, 1, 2) != 0;
}

/* How string <s> must be written so that YAML reads it back as the same string. */
static enum quote quote_style(const char *s, size_t len)
{
	static const char indicators[] = "-?:,[]{}#&*!|>'\"%@`";
	struct pc_node plain;

	if (needs_escapes(s, len))
		return Q_DOUBLE;
	/*
	 * As go-yaml v2 (kubectl) does: a string that would read back as
	 * another type (a number, a bool, null, a timestamp) is double-quoted;
	 * one that plain style cannot hold is single-quoted by the emitter.
	 */
	memset(&plain, 0, sizeof(plain));
	plain.type = PC_NODE_SCALAR;
	plain.style = PC_STYLE_PLAIN;
	plain.str = s;
	plain.len = len;
	if (!len || looks_date(s, len) || pc_scalar_kind(&plain) != PC_SCALAR_STR ||
	    (len == 2 && memcmp(s, "<<", 2) == 0))
		return Q_DOUBLE;
	if (!len || s[0] == ' ' || s[len - 1] == ' ' || s[len - 1] == ':' ||
	    memchr(indicators, s[0], sizeof(indicators) - 1) || has(s, len, ": ") ||
	    has(s, len, " #") || (len >= 3 && memcmp(s, "...", 3) == 0))
		return Q_SINGLE;
	return Q_PLAIN;
}

static void yaml_escape(struct pc_buf *b, unsigned cp)
{
	static const char short_esc[][2] = {
		{ 0, '0' },  { 7, 'a' },  { 8, 'b' },  { 9, 't' },   { 10, 'n' },    { 11, 'v' },
		{ 12, 'f' }, { 13, 'r' }, { 27, 'e' }, { '"', '"' }, { '\\', '\\' },
	};
	size_t i;

	for (i = 0; i < sizeof(short_esc) / sizeof(short_esc[0]); i++) {
		if ((unsigned)short_esc[i][0] == cp) {
			pc_buf_addc(b, '\\');
			pc_buf_addc(b, short_esc[i][1]);
			return;
		}
	}
	if (cp == 0x85)
		pc_buf_adds(b, "\\N");
	else if (cp == 0x2028)
		pc_buf_adds(b, "\\L");
	else if (cp == 0x2029)
		pc_buf_adds(b, "\\P");
	else if (cp < 0x100)
		pc_buf_printf(b, "\\x%02X", cp);
	else if (cp < 0x10000)
		pc_buf_printf(b, "\\u%04X", cp);
	else
		pc_buf_printf(b, "\\U%08X", cp);
}

/* "..." with escapes; bytes that are not UTF-8 become U+FFFD, as in JSON. */
static void yaml_double(struct pc_buf *b, const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, k;
	unsigned cp;

	pc_buf_addc(b, '"');
	while (i < len) {
		k = pc_utf8_decode((const char *)u + i, len - i, &cp);
		if (!k) {
			pc_buf_adds(b, "\\uFFFD");
			i++;
			continue;
		}
		if (!is_printable(cp) || cp == '"' || cp == '\\')
			yaml_escape(b, cp);
		else
			pc_buf_add(b, s + i, k);
		i += k;
	}
	pc_buf_addc(b, '"');
}

static void yaml_str(struct pc_buf *b, const char *s, size_t len)
{
	const char *q;

	switch (quote_style(s, len)) {
	case Q_PLAIN:
		pc_buf_add(b, s, len);
		break;
	case Q_SINGLE:
		pc_buf_addc(b, '\'');
		while ((q = memchr(s, '\'', len)) != NULL) {
			pc_buf_add(b, s, (size_t)(q - s) + 1);
			pc_buf_addc(b, '\''); /* '' is a quote inside '...' */
			len -= (size_t)(q - s) + 1;
			s = q + 1;
		}
		pc_buf_add(b, s, len);
		pc_buf_addc(b, '\'');
		break;
	default:
		yaml_double(b, s, len);
	}
}

/* A scalar value (no newline). */
static int yaml_scalar(struct pc_buf *b, const struct pc_node *n)
{
	struct scal r;
	int ret = resolve(n, false, &r);

	if (ret)
		return ret;
	if (r.kind == PC_SCALAR_STR)
		yaml_str(b, scal_str(&r), scal_len(&r));
	else if (r.kind == PC_SCALAR_FLOAT && strcmp(scal_str(&r), "-0") == 0)
		pc_buf_adds(b, "-0.0"); /* a plain -0 would read back as the integer 0 */
	else
		pc_buf_add(b, scal_str(&r), scal_len(&r));
	return 0;
}

static void yaml_indent(struct pc_buf *b, unsigned indent)
{
	unsigned i;

	for (i = 0; i < indent; i++)
		pc_buf_addc(b, ' ');
}

/* Longest key libyaml takes as a simple (implicit) key is 1024 characters. */
#define SIMPLE_KEY_MAX 1000

/*
 * Write key <k> at column <indent> (the caller wrote the indentation) and
 * its ':'. A key too long for a simple key becomes "? key\n<indent>:".
 */
static int yaml_key(struct pc_buf *b, const struct pc_node *k, unsigned indent)
{
	size_t start = b->len, klen;
	struct scal r;
	int ret = resolve(k, true, &r);

	if (ret)
		return ret;
	yaml_str(b, scal_str(&r), scal_len(&r));
	klen = b->len - start;
	if (klen > SIMPLE_KEY_MAX) {
		pc_buf_add(b, "  ", 2);
		if (b->oom)
			return -ENOMEM;
		memmove(b->p + start + 2, b->p + start, klen);
		memcpy(b->p + start, "? ", 2);
		pc_buf_addc(b, '\n');
		yaml_indent(b, indent);
	}
	pc_buf_addc(b, ':');
	return 0;
}

static int yaml_map(struct pc_buf *b, const struct pc_node *n, unsigned indent, bool inline_first);
static int yaml_seq(struct pc_buf *b, const struct pc_node *n, unsigned indent, bool inline_first);

/* An empty collection as {} or [], else false. */
static bool yaml_empty(struct pc_buf *b, const struct pc_node *n)
{
	if (n->type == PC_NODE_MAP && !n->npairs)
		pc_buf_adds(b, "{}\n");
	else if (n->type == PC_NODE_SEQ && !n->nitems)
		pc_buf_adds(b, "[]\n");
	else
		return false;
	return true;
}

/* The value after "key:" where the key is at column <indent>. */
static int yaml_value(struct pc_buf *b, const struct pc_node *v, unsigned indent)
{
	int ret;

	if (v->type == PC_NODE_SCALAR) {
		pc_buf_addc(b, ' ');
		ret = yaml_scalar(b, v);
		pc_buf_addc(b, '\n');
		return ret;
	}
	if (v->type == PC_NODE_MAP ? !v->npairs : !v->nitems) {
		pc_buf_addc(b, ' ');
		yaml_empty(b, v);
		return 0;
	}
	pc_buf_addc(b, '\n');
	if (v->type == PC_NODE_MAP)
		return yaml_map(b, v, indent + 2, false);
	return yaml_seq(b, v, indent, false); /* kubectl: "- " at the key's column */
}

/* Block mapping at column <indent>; the first key follows "- " when <inline_first>. */
static int yaml_map(struct pc_buf *b, const struct pc_node *n, unsigned indent, bool inline_first)
{
	size_t i;
	int ret = 0;

	for (i = 0; i < n->npairs && !ret; i++) {
		if (i || !inline_first)
			yaml_indent(b, indent);
		ret = yaml_key(b, n->pairs[i].key, indent);
		if (!ret)
			ret = yaml_value(b, n->pairs[i].value, indent);
	}
	return ret;
}

/* Block sequence with its dashes at column <indent>. */
static int yaml_seq(struct pc_buf *b, const struct pc_node *n, unsigned indent, bool inline_first)
{
	const struct pc_node *v;
	size_t i;
	int ret = 0;

	for (i = 0; i < n->nitems && !ret; i++) {
		v = n->items[i];
		if (i || !inline_first)
			yaml_indent(b, indent);
		pc_buf_add(b, "- ", 2);
		if (v->type == PC_NODE_SCALAR) {
			ret = yaml_scalar(b, v);
			pc_buf_addc(b, '\n');
		} else if (!yaml_empty(b, v)) {
			ret = v->type == PC_NODE_MAP ? yaml_map(b, v, indent + 2, true)
						     : yaml_seq(b, v, indent + 2, true);
		}
	}
	return ret;
}

static int yaml_doc(struct pc_buf *b, const struct pc_node *n)
{
	int ret;

	if (!n) {
		pc_buf_adds(b, "null\n");
		return 0;
	}
	if (n->type == PC_NODE_SCALAR) {
		/* a root "..." or "---" would be a document marker: quote_style() quotes both */
		ret = yaml_scalar(b, n);
		pc_buf_addc(b, '\n');
		return ret;
	}
	if (yaml_empty(b, n))
		return 0;
	if (n->type == PC_NODE_MAP)
		return yaml_map(b, n, 0, false);
	return yaml_seq(b, n, 0, false);
}

int pc_emit_yaml(struct pc_buf *out, const struct pc_node *n)
{
	size_t start = out->len;

	return finish(out, start, yaml_doc(out, n));
}

/* ---- server metadata ---- */

#define META_MAX 5

/* <obj> with metadata merged: nodes here, pair arrays on the heap. */
struct merged {
	struct pc_node root, md, mdkey;
	struct pc_node keys[META_MAX], vals[META_MAX];
	struct pc_pair *rpairs, *mpairs;
	char gen[24];
};

static void set_scalar(struct pc_node *n, const char *s, enum pc_scalar_style style)
{
	memset(n, 0, sizeof(*n));
	n->type = PC_NODE_SCALAR;
	n->style = style; /* quoted: a string, whatever it looks like */
	n->str = s;
	n->len = strlen(s);
	n->weight = 1;
}

static void set_map(struct pc_node *n, struct pc_pair *pairs, size_t npairs)
{
	memset(n, 0, sizeof(*n));
	n->type = PC_NODE_MAP;
	n->pairs = pairs;
	n->npairs = npairs;
	n->weight = 1;
}

static bool key_is(const struct pc_node *k, const char *name)
{
	return pc_node_is(k, name) && pc_scalar_kind(k) == PC_SCALAR_STR;
}

/* Fill the key and value nodes of the fields of <m> to set; returns their number. */
static size_t meta_fields(struct merged *t, const struct pc_emit_meta *m, const struct pc_node *md)
{
	static const char *const names[META_MAX] = { "namespace", "uid", "resourceVersion",
						     "generation", "creationTimestamp" };
	const char *vals[META_MAX] = { m->namespace, m->uid, m->resource_version, NULL,
				       m->creation_timestamp };
	size_t i, nf = 0;

	if (m->generation > 0) {
		snprintf(t->gen, sizeof(t->gen), "%lld", m->generation);
		vals[3] = t->gen;
	}
	if (md && pc_node_get(md, "namespace"))
		vals[0] = NULL; /* the object's own namespace stays */
	for (i = 0; i < META_MAX; i++) {
		if (!vals[i])
			continue;
		set_scalar(&t->keys[nf], names[i], PC_STYLE_QUOTED);
		set_scalar(&t->vals[nf], vals[i], i == 3 ? PC_STYLE_PLAIN : PC_STYLE_QUOTED);
		nf++;
	}
	return nf;
}

static bool server_set(const struct pc_node *k)
{
	static const char *const names[] = {
		"uid",      "resourceVersion", "generation",        "creationTimestamp",
		"selfLink", "managedFields",   "deletionTimestamp", "deletionGracePeriodSeconds"
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (key_is(k, names[i]))
			return true;
	}
	return false;
}

/* The metadata mapping: <md>'s pairs in order, server fields replaced or appended. */
static void merge_md(struct merged *t, const struct pc_node *md, size_t nf, bool strip)
{
	bool used[META_MAX] = { false };
	size_t i, f, n = 0;
	struct pc_pair p;

	for (i = 0; md && i < md->npairs; i++) {
		p = md->pairs[i];
		if (strip && server_set(p.key))
			continue;
		for (f = 0; f < nf; f++) {
			if (!used[f] && key_is(p.key, t->keys[f].str)) {
				p.value = &t->vals[f];
				used[f] = true;
			}
		}
		t->mpairs[n++] = p;
	}
	for (f = 0; f < nf; f++) {
		if (!used[f]) {
			t->mpairs[n].key = &t->keys[f];
			t->mpairs[n++].value = &t->vals[f];
		}
	}
	set_map(&t->md, t->mpairs, n);
}

/* Build t->root. The caller frees t->rpairs and t->mpairs, also on failure. */
static int merge_build(struct merged *t, const struct pc_node *obj, const struct pc_emit_meta *m)
{
	const struct pc_node *md = NULL, *k;
	size_t i, n = 0, at = 0, mdi = SIZE_MAX, nf;

	t->rpairs = NULL;
	t->mpairs = NULL;
	if (!obj || obj->type != PC_NODE_MAP)
		return -EINVAL;
	for (i = 0; i < obj->npairs; i++) {
		if (key_is(obj->pairs[i].key, "metadata")) {
			md = obj->pairs[i].value;
			mdi = i;
		}
	}
	if (md && md->type != PC_NODE_MAP) {
		if (!pc_node_is_null(md))
			return -EINVAL;
		md = NULL;
	}
	nf = meta_fields(t, m, md);
	t->mpairs = pc_calloc((md ? md->npairs : 0) + nf + 1, sizeof(*t->mpairs));
	t->rpairs = pc_calloc(obj->npairs + 1, sizeof(*t->rpairs));
	if (!t->mpairs || !t->rpairs)
		return -ENOMEM;
	merge_md(t, md, nf, m->strip);
	set_scalar(&t->mdkey, "metadata", PC_STYLE_PLAIN);

	for (i = 0; i < obj->npairs; i++) {
		k = obj->pairs[i].key;
		if (key_is(k, "status"))
			continue;
		t->rpairs[n] = obj->pairs[i];
		if (i == mdi)
			t->rpairs[n].value = &t->md;
		n++;
		if (key_is(k, "apiVersion") || key_is(k, "kind"))
			at = n;
	}
	if (mdi == SIZE_MAX) {
		memmove(t->rpairs + at + 1, t->rpairs + at, (n - at) * sizeof(*t->rpairs));
		t->rpairs[at].key = &t->mdkey;
		t->rpairs[at].value = &t->md;
		n++;
	}
	set_map(&t->root, t->rpairs, n);
	return 0;
}

int pc_emit_json_with_meta(struct pc_buf *out, const struct pc_node *obj,
			   const struct pc_emit_meta *meta, unsigned flags)
{
	struct merged t;
	int ret;

	ret = merge_build(&t, obj, meta);
	if (!ret)
		ret = pc_emit_json(out, &t.root, flags);
	free(t.rpairs);
	free(t.mpairs);
	return ret;
}

int pc_emit_yaml_with_meta(struct pc_buf *out, const struct pc_node *obj,
			   const struct pc_emit_meta *meta)
{
	struct merged t;
	int ret;

	ret = merge_build(&t, obj, meta);
	if (!ret)
		ret = pc_emit_yaml(out, &t.root);
	free(t.rpairs);
	free(t.mpairs);
	return ret;
}
