/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * model/decode.c - schema-driven strict decoder.
 *
 * The error wording follows what kubectl prints for a CRD schema violation
 * ("unknown field", "Unsupported value", type names "string", "integer",
 * "object", "array") and adds what kubectl does not: a suggestion for a
 * misspelt field and a hint when YAML 1.1 typing changed a value's type.
 */
#include "model/decode.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/buf.h"
#include "model/finding.h"
#include "model/node.h"
#include "model/schema.h"
#include "model/vctx.h"

#define NS_PER_US 1000LL
#define NS_PER_MS 1000000LL
#define NS_PER_S  1000000000LL

/* ---- presence ---- */

const struct pc_node *pc_field_node(const void *m, const char *name)
{
	const struct pc_msg *msg = m;

	if (!msg || !msg->node)
		return NULL;
	return pc_node_get(msg->node, name);
}

bool pc_has(const void *m, const char *name)
{
	const struct pc_node *n = pc_field_node(m, name);

	return n && !pc_node_is_null(n);
}

bool pc_is_decoded(const void *m)
{
	return m && ((const struct pc_msg *)m)->node;
}

bool pc_zero_is_real(const void *m, const char *name)
{
	const struct pc_node *n = pc_field_node(m, name);
	long long x;

	if (!n || pc_node_is_null(n))
		return true;
	return n->type == PC_NODE_SCALAR && pc_scalar_kind(n) == PC_SCALAR_INT &&
	       pc_scalar_int(n, &x) && x == 0;
}

/* ---- durations ---- */

struct unit {
	const char *name;
	int64_t ns;
};

static const struct unit units[] = {
	{ "ns", 1 },	     { "us", NS_PER_US },	   { "\xc2\xb5s", NS_PER_US },
	{ "\xce\xbcs", NS_PER_US }, { "ms", NS_PER_MS },	   { "s", NS_PER_S },
	{ "m", 60 * NS_PER_S },    { "h", 3600 * NS_PER_S }, { NULL, 0 },
};

/* Parse one "<number><unit>" group at <*pp>, adding to <*total>. */
static int duration_group(const char **pp, long double *total, const char **why)
{
	const char *p = *pp, *start = p;
	long double v = 0, frac = 0, scale = 1;
	bool digits = false;
	size_t i, ulen;

	while (isdigit((unsigned char)*p)) {
		v = v * 10 + (*p++ - '0');
		digits = true;
	}
	if (*p == '.') {
		p++;
		while (isdigit((unsigned char)*p)) {
			scale /= 10;
			frac += (*p++ - '0') * scale;
			digits = true;
		}
	}
	if (!digits) {
		*why = "invalid number";
		return -EINVAL;
	}
	ulen = strcspn(p, "0123456789.");
	if (ulen == 0) {
		*why = p == start ? "invalid number" : "missing unit (use ns, us, ms, s, m or h)";
		return -EINVAL;
	}
	for (i = 0; units[i].name; i++) {
		if (strlen(units[i].name) == ulen && strncmp(p, units[i].name, ulen) == 0)
			break;
	}
	if (!units[i].name) {
		*why = "unknown unit (use ns, us, ms, s, m or h)";
		return -EINVAL;
	}
	*total += (v + frac) * (long double)units[i].ns;
	*pp = p + ulen;
	return 0;
}

int pc_duration_parse(const char *s, int64_t *ns, const char **why)
{
	const char *p = s;
	long double total = 0;
	bool neg = false;
	int ret;

	*why = NULL;
	if (*p == '+' || *p == '-')
		neg = *p++ == '-';
	if (strcmp(p, "0") == 0) {
		*ns = 0;
		return 0;
	}
	if (!*p) {
		*why = "empty duration";
		return -EINVAL;
	}
	while (*p) {
		ret = duration_group(&p, &total, why);
		if (ret < 0)
			return ret;
	}
	if (total > (long double)INT64_MAX) {
		*why = "overflow";
		return -EINVAL;
	}
	*ns = (int64_t)total;
	if (neg)
		*ns = -*ns;
	return 0;
}

/* Go's fmtFrac/fmtInt for the seconds part: "1.5" without trailing zeros. */
static int fmt_secs(char *buf, unsigned size, uint64_t v, int prec)
{
	uint64_t unit = 1, whole, frac;
	char digits[32];
	int i, n;

	for (i = 0; i < prec; i++)
		unit *= 10;
	whole = v / unit;
	frac = v % unit;
	if (!frac)
		return snprintf(buf, size, "%" PRIu64, whole);
	n = snprintf(digits, sizeof(digits), "%0*" PRIu64, prec, frac);
	while (n > 0 && digits[n - 1] == '0')
		digits[--n] = '\0';
	return snprintf(buf, size, "%" PRIu64 ".%s", whole, digits);
}

void pc_duration_format(int64_t ns, char *buf, unsigned size)
{
	uint64_t u = ns < 0 ? (uint64_t)(-(ns + 1)) + 1 : (uint64_t)ns;
	const char *sign = ns < 0 ? "-" : "";
	char secs[48];
	uint64_t h, m;

	if (u == 0) {
		snprintf(buf, size, "0s");
		return;
	}
	if (u < (uint64_t)NS_PER_US) {
		snprintf(buf, size, "%s%" PRIu64 "ns", sign, u);
		return;
	}
	if (u < (uint64_t)NS_PER_MS) {
		fmt_secs(secs, sizeof(secs), u, 3);
		snprintf(buf, size, "%s%s\xc2\xb5s", sign, secs);
		return;
	}
	if (u < (uint64_t)NS_PER_S) {
		fmt_secs(secs, sizeof(secs), u, 6);
		snprintf(buf, size, "%s%sms", sign, secs);
		return;
	}
	h = u / (3600 * (uint64_t)NS_PER_S);
	u -= h * 3600 * (uint64_t)NS_PER_S;
	m = u / (60 * (uint64_t)NS_PER_S);
	u -= m * 60 * (uint64_t)NS_PER_S;
	fmt_secs(secs, sizeof(secs), u, 9);
	if (h)
		snprintf(buf, size, "%s%" PRIu64 "h%" PRIu64 "m%ss", sign, h, m, secs);
	else if (m)
		snprintf(buf, size, "%s%" PRIu64 "m%ss", sign, m, secs);
	else
		snprintf(buf, size, "%s%ss", sign, secs);
}

/* ---- suggestions for unknown fields ---- */

static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j;
	size_t row[64], prev, tmp;

	if (la >= 63 || lb >= 63)
		return SIZE_MAX;
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		prev = row[0];
		row[0] = i;
		for (j = 1; j <= lb; j++) {
			size_t sub = prev + (tolower((unsigned char)a[i - 1]) !=
					     tolower((unsigned char)b[j - 1]));
			size_t best = row[j] + 1 < row[j - 1] + 1 ? row[j] + 1 : row[j - 1] + 1;

			tmp = row[j];
			row[j] = sub < best ? sub : best;
			prev = tmp;
		}
	}
	return row[lb];
}

/* "connect_timeout" -> "connectTimeout"; false when it does not fit. */
static bool snake_to_camel(const char *s, char *out, size_t size)
{
	size_t j = 0;
	bool up = false;

	for (; *s; s++) {
		if (*s == '_' || *s == '-') {
			up = true;
			continue;
		}
		if (j + 1 >= size)
			return false;
		out[j] = *s;
		if (up && *s >= 'a' && *s <= 'z')
			out[j] = (char)(*s - ('a' - 'A'));
		j++;
		up = false;
	}
	out[j] = '\0';
	return true;
}

static const char *suggest(const struct pc_schema *schema, const char *key)
{
	const struct pc_field *f;
	const char *best = NULL;
	size_t bestd = 3, d;
	char camel[128];

	if (snake_to_camel(key, camel, sizeof(camel))) {
		for (f = schema->fields; f->name; f++) {
			if (strcasecmp(f->name, camel) == 0)
				return f->name;
		}
	}
	if (strlen(key) < 3)
		return NULL;
	for (f = schema->fields; f->name; f++) {
		d = edit_distance(key, f->name);
		if (d < bestd) {
			bestd = d;
			best = f->name;
		}
	}
	return best;
}

/* ---- scalars ---- */

/* Short, printable rendering of a scalar for messages. */
static void show(const struct pc_node *n, char *buf, size_t size)
{
	size_t i, j = 0, max = pc_utf8_prefix(n->str, n->len, 60);

	for (i = 0; i < max && j + 5 < size; i++) {
		unsigned char c = (unsigned char)n->str[i];

		if (c < 0x20 || c == 0x7f || c == '"' || c == '\\')
			j += (size_t)snprintf(buf + j, size - j, "\\x%02x", c);
		else
			buf[j++] = (char)c;
	}
	if (n->len > max && j + 4 < size) {
		memcpy(buf + j, "...", 3);
		j += 3;
	}
	buf[j] = '\0';
}

static void type_error(struct pc_vctx *v, const struct pc_node *n, const char *want)
{
	char text[256];

	if (n->type != PC_NODE_SCALAR) {
		pc_verr(v, NULL, "expected %s, got %s", want, pc_node_kind_name(n));
		return;
	}
	show(n, text, sizeof(text));
	if (strcmp(want, "a string") == 0) {
		pc_verr(v, NULL, "expected a string, got %s %s (YAML reads it so; quote it: \"%s\")",
			pc_node_kind_name(n), text, text);
		return;
	}
	if (pc_scalar_kind(n) == PC_SCALAR_STR && n->style != PC_STYLE_PLAIN) {
		pc_verr(v, NULL, "expected %s, got string \"%s\" (remove the quotes)", want, text);
		return;
	}
	pc_verr(v, NULL, "expected %s, got %s \"%s\"", want, pc_node_kind_name(n), text);
}

static bool is_string(const struct pc_node *n)
{
	return n->type == PC_NODE_SCALAR && pc_scalar_kind(n) == PC_SCALAR_STR;
}

static const char *dup_str(struct pc_vctx *v, const struct pc_node *n)
{
	return pc_arena_strndup(v->arena, n->str, n->len);
}

static int decode_string(struct pc_vctx *v, const struct pc_node *n, const char **out)
{
	if (!is_string(n)) {
		type_error(v, n, "a string");
		return 0;
	}
	*out = dup_str(v, n);
	return *out ? 0 : -ENOMEM;
}

static bool int_in(struct pc_vctx *v, const struct pc_node *n, long long lo, long long hi,
		   const char *tname, long long *out)
{
	if (n->type != PC_NODE_SCALAR || pc_scalar_kind(n) != PC_SCALAR_INT) {
		type_error(v, n, "an integer");
		return false;
	}
	if (!pc_scalar_int(n, out) || *out < lo || *out > hi) {
		char text[128];

		show(n, text, sizeof(text));
		pc_verr(v, NULL, "%s is out of range for %s (%lld..%lld)", text, tname, lo, hi);
		return false;
	}
	return true;
}

static void decode_uint64(struct pc_vctx *v, const struct pc_node *n, uint64_t *out)
{
	unsigned long long u;
	char text[128], *end;

	if (n->type != PC_NODE_SCALAR || pc_scalar_kind(n) != PC_SCALAR_INT) {
		type_error(v, n, "an integer");
		return;
	}
	show(n, text, sizeof(text));
	errno = 0;
	u = strtoull(text, &end, 0);
	if (text[0] == '-' || *end || errno == ERANGE) {
		long long ll;

		if (pc_scalar_int(n, &ll) && ll >= 0) {
			*out = (uint64_t)ll;
			return;
		}
		pc_verr(v, NULL, "%s is out of range for uint64 (0..18446744073709551615)", text);
		return;
	}
	*out = u;
}

static void decode_double(struct pc_vctx *v, const struct pc_node *n, double *out)
{
	enum pc_scalar_kind k;

	if (n->type == PC_NODE_SCALAR) {
		k = pc_scalar_kind(n);
		if ((k == PC_SCALAR_INT || k == PC_SCALAR_FLOAT) && pc_scalar_float(n, out)) {
			if (isfinite(*out))
				return;
			pc_verr(v, NULL, "number must be finite");
			*out = 0;
			return;
		}
	}
	type_error(v, n, "a number");
}

static void decode_bool(struct pc_vctx *v, const struct pc_node *n, bool *out)
{
	if (n->type == PC_NODE_SCALAR && pc_scalar_kind(n) == PC_SCALAR_BOOL)
		*out = pc_scalar_bool(n);
	else
		type_error(v, n, "a boolean");
}

static void decode_enum(struct pc_vctx *v, const struct pc_node *n, const char *const *names,
			int *out)
{
	char text[128], list[512];
	size_t len = 0;
	int i;

	if (!is_string(n)) {
		type_error(v, n, "a string");
		return;
	}
	for (i = 0; names[i]; i++) {
		if (pc_node_is(n, names[i])) {
			*out = i;
			return;
		}
	}
	show(n, text, sizeof(text));
	list[0] = '\0';
	for (i = 0; names[i] && len + 1 < sizeof(list); i++)
		len += (size_t)snprintf(list + len, sizeof(list) - len, "%s\"%s\"", i ? ", " : "",
					names[i]);
	for (i = 0; names[i]; i++) {
		if (strcasecmp(names[i], text) == 0) {
			pc_verr(v, NULL,
				"Unsupported value: \"%s\": supported values: %s (did you mean \"%s\"? "
				"values are case-sensitive)",
				text, list, names[i]);
			return;
		}
	}
	pc_verr(v, NULL, "Unsupported value: \"%s\": supported values: %s", text, list);
}

static void decode_duration(struct pc_vctx *v, const struct pc_node *n, int64_t *out)
{
	const char *why = NULL;
	char text[128];

	if (!is_string(n)) {
		if (n->type == PC_NODE_SCALAR && (pc_scalar_kind(n) == PC_SCALAR_INT ||
						  pc_scalar_kind(n) == PC_SCALAR_FLOAT)) {
			show(n, text, sizeof(text));
			pc_verr(v, NULL, "invalid duration %s: missing unit (write e.g. \"%ss\")",
				text, text);
			return;
		}
		type_error(v, n, "a duration string");
		return;
	}
	show(n, text, sizeof(text));
	if (memchr(n->str, '\0', n->len) || pc_duration_parse(n->str, out, &why) < 0)
		pc_verr(v, NULL, "invalid duration \"%s\": %s", text, why ? why : "invalid text");
}

/* ---- containers ---- */

/*
 * No Istio list or map comes near PC_DECODE_MAX_ITEMS entries (the CRDs
 * cap most at 256 or 4096); the cap keeps validators that compare entries
 * pairwise, as Istio's do, from going quadratic on hostile input.
 */
static bool too_many(struct pc_vctx *v, size_t n)
{
	if (n <= PC_DECODE_MAX_ITEMS)
		return false;
	pc_verr(v, NULL, "Too many: %zu: must have at most %u items (portcullis limit)", n,
		PC_DECODE_MAX_ITEMS);
	return true;
}

static bool want_seq(struct pc_vctx *v, const struct pc_node *n)
{
	if (n->type == PC_NODE_SEQ)
		return !too_many(v, n->nitems);
	type_error(v, n, "an array");
	return false;
}

/* A mapping that is a message: its keys are field names, so no count limit. */
static bool want_msg(struct pc_vctx *v, const struct pc_node *n)
{
	if (n->type == PC_NODE_MAP)
		return true;
	type_error(v, n, "an object");
	return false;
}

static bool want_map(struct pc_vctx *v, const struct pc_node *n)
{
	return want_msg(v, n) && !too_many(v, n->npairs);
}

static int decode_strlist(struct pc_vctx *v, const struct pc_node *n, struct pc_strv *out)
{
	size_t i;
	int ret = 0;

	if (!want_seq(v, n))
		return 0;
	out->v = pc_arena_calloc(v->arena, n->nitems ? n->nitems : 1, sizeof(*out->v));
	if (!out->v)
		return -ENOMEM;
	out->n = n->nitems;
	for (i = 0; i < n->nitems && ret == 0; i++) {
		pc_vpush_index(v, i);
		out->v[i] = "";
		ret = decode_string(v, n->items[i], &out->v[i]);
		pc_vpop(v);
	}
	return ret;
}

static int decode_maps(struct pc_vctx *v, const struct pc_node *n, const char ***keys,
		       size_t elem, void **vals)
{
	*keys = pc_arena_calloc(v->arena, n->npairs ? n->npairs : 1, sizeof(**keys));
	*vals = pc_arena_calloc(v->arena, n->npairs ? n->npairs : 1, elem);
	return *keys && *vals ? 0 : -ENOMEM;
}

static int decode_strmap(struct pc_vctx *v, const struct pc_node *n, struct pc_strmap *out)
{
	size_t i;
	int ret;

	if (!want_map(v, n))
		return 0;
	ret = decode_maps(v, n, &out->keys, sizeof(*out->vals), (void **)&out->vals);
	if (ret < 0)
		return ret;
	out->n = n->npairs;
	for (i = 0; i < n->npairs && ret == 0; i++) {
		const struct pc_node *k = n->pairs[i].key, *val = n->pairs[i].value;

		out->keys[i] = dup_str(v, k);
		if (!out->keys[i])
			return -ENOMEM;
		pc_vpush_key(v, out->keys[i]);
		out->vals[i] = "";
		if (!pc_node_is_null(val))
			ret = decode_string(v, val, &out->vals[i]);
		pc_vpop(v);
	}
	return ret;
}

static int decode_u32map(struct pc_vctx *v, const struct pc_node *n, struct pc_u32map *out)
{
	long long x;
	size_t i;
	int ret;

	if (!want_map(v, n))
		return 0;
	ret = decode_maps(v, n, &out->keys, sizeof(*out->vals), (void **)&out->vals);
	if (ret < 0)
		return ret;
	out->n = n->npairs;
	for (i = 0; i < n->npairs; i++) {
		out->keys[i] = dup_str(v, n->pairs[i].key);
		if (!out->keys[i])
			return -ENOMEM;
		pc_vpush_key(v, out->keys[i]);
		if (int_in(v, n->pairs[i].value, 0, UINT32_MAX, "uint32", &x))
			out->vals[i] = (uint32_t)x;
		pc_vpop(v);
	}
	return 0;
}

static int decode_msglist(struct pc_vctx *v, const struct pc_schema *sub, const struct pc_node *n,
			  void *out)
{
	struct {
		char *v;
		size_t n;
	} *list = out;
	size_t i;
	int ret = 0;

	if (!want_seq(v, n))
		return 0;
	list->v = pc_arena_calloc(v->arena, n->nitems ? n->nitems : 1, sub->size);
	if (!list->v)
		return -ENOMEM;
	list->n = n->nitems;
	for (i = 0; i < n->nitems && ret == 0; i++) {
		pc_vpush_index(v, i);
		ret = pc_decode(v, sub, n->items[i], list->v + i * sub->size);
		pc_vpop(v);
	}
	return ret;
}

static int decode_field(struct pc_vctx *v, const struct pc_field *f, const struct pc_node *n,
			char *base)
{
	void *p = base + f->offset;
	long long x;

	switch (f->type) {
	case PC_FT_STRING:
		return decode_string(v, n, p);
	case PC_FT_BOOL:
		decode_bool(v, n, p);
		return 0;
	case PC_FT_INT32:
		if (int_in(v, n, INT32_MIN, INT32_MAX, "int32", &x))
			*(int32_t *)p = (int32_t)x;
		return 0;
	case PC_FT_UINT32:
		if (int_in(v, n, 0, UINT32_MAX, "uint32", &x))
			*(uint32_t *)p = (uint32_t)x;
		return 0;
	case PC_FT_INT64:
		if (int_in(v, n, INT64_MIN, INT64_MAX, "int64", &x))
			*(int64_t *)p = (int64_t)x;
		return 0;
	case PC_FT_UINT64:
		decode_uint64(v, n, p);
		return 0;
	case PC_FT_DOUBLE:
		decode_double(v, n, p);
		return 0;
	case PC_FT_ENUM:
		decode_enum(v, n, f->enums, p);
		return 0;
	case PC_FT_DURATION:
		decode_duration(v, n, p);
		return 0;
	case PC_FT_STRLIST:
		return decode_strlist(v, n, p);
	case PC_FT_STRMAP:
		return decode_strmap(v, n, p);
	case PC_FT_U32MAP:
		return decode_u32map(v, n, p);
	case PC_FT_MSG:
		*(void **)p = pc_decode_new(v, f->sub, n);
		return *(void **)p ? 0 : -ENOMEM;
	case PC_FT_MSGLIST:
		return decode_msglist(v, f->sub, n, p);
	case PC_FT_ANY:
		*(const struct pc_node **)p = n;
		return 0;
	}
	return 0;
}

static const struct pc_field *find_field(const struct pc_schema *schema, const struct pc_node *k)
{
	const struct pc_field *f;

	for (f = schema->fields; f->name; f++) {
		if (pc_node_is(k, f->name))
			return f;
	}
	return NULL;
}

static void check_oneofs(struct pc_vctx *v, const struct pc_schema *schema, const void *msg)
{
	const char *const *g;
	char name[64], set[256];
	const char *p;
	size_t len, setlen;
	int count;

	for (g = schema->oneofs; g && *g; g++) {
		count = 0;
		setlen = 0;
		set[0] = '\0';
		for (p = *g; *p; p += len + (p[len] == ',')) {
			len = strcspn(p, ",");
			if (len >= sizeof(name))
				continue;
			memcpy(name, p, len);
			name[len] = '\0';
			if (!pc_has(msg, name))
				continue;
			count++;
			if (setlen < sizeof(set))
				setlen += (size_t)snprintf(set + setlen, sizeof(set) - setlen,
							   "%s%s", count > 1 ? ", " : "", name);
		}
		if (count > 1)
			pc_verr(v, NULL, "only one of %s may be set (found %s)", *g, set);
	}
}

int pc_decode(struct pc_vctx *v, const struct pc_schema *schema, const struct pc_node *node,
	      void *out)
{
	const struct pc_field *f;
	char key[128];
	size_t i;
	int ret;

	((struct pc_msg *)out)->node = NULL;
	if (!want_msg(v, node))
		return 0;
	((struct pc_msg *)out)->node = node;
	for (i = 0; i < node->npairs; i++) {
		const struct pc_node *k = node->pairs[i].key, *val = node->pairs[i].value;

		f = find_field(schema, k);
		if (!f) {
			const char *hint;

			if (pc_vctx_full(v)) {
				/* still counted, no longer described */
				v->nerr++;
				pc_findings_count(v->out, PC_SEV_ERROR);
				continue;
			}
			show(k, key, sizeof(key));
			hint = suggest(schema, key);
			pc_vpush(v, key);
			v->at = k; /* point at the key, not its value */
			if (hint)
				pc_verr(v, NULL, "unknown field \"%s\" (did you mean \"%s\"?)", key,
					hint);
			else
				pc_verr(v, NULL, "unknown field \"%s\"", key);
			pc_vpop(v);
			continue;
		}
		if (pc_node_is_null(val))
			continue; /* null means absent, as in a Kubernetes apply */
		pc_vpush(v, f->name);
		ret = decode_field(v, f, val, out);
		pc_vpop(v);
		if (ret < 0) {
			pc_verr(v, NULL, "out of memory while decoding");
			return ret;
		}
	}
	check_oneofs(v, schema, out);
	return 0;
}

void *pc_decode_new(struct pc_vctx *v, const struct pc_schema *schema, const struct pc_node *node)
{
	void *m = pc_arena_calloc(v->arena, 1, schema->size);

	if (m && pc_decode(v, schema, node, m) < 0)
		return NULL;
	return m;
}
