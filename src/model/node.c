/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * model/node.c - node accessors and YAML 1.1 scalar resolution.
 *
 * Kubernetes reads manifests with go-yaml v2 (through sigs.k8s.io/yaml),
 * which resolves plain scalars by YAML 1.1 rules: "yes", "on" and "y" are
 * booleans and "0777" is octal. We resolve the same way so that a manifest
 * is typed here exactly as kubectl would type it; the decoder then tells
 * the user to quote a value when this bites (e.g. a host named "no").
 */
#include "model/node.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define TAG_PREFIX "tag:yaml.org,2002:"

const struct pc_node *pc_node_get(const struct pc_node *map, const char *key)
{
	size_t i, len = strlen(key);

	if (!map || map->type != PC_NODE_MAP)
		return NULL;
	for (i = 0; i < map->npairs; i++) {
		const struct pc_node *k = map->pairs[i].key;

		if (k->len == len && memcmp(k->str, key, len) == 0)
			return map->pairs[i].value;
	}
	return NULL;
}

bool pc_node_is(const struct pc_node *n, const char *s)
{
	return n && n->type == PC_NODE_SCALAR && strlen(s) == n->len &&
	       memcmp(n->str, s, n->len) == 0;
}

static bool in_list(const struct pc_node *n, const char *const *list)
{
	for (; *list; list++) {
		if (pc_node_is(n, *list))
			return true;
	}
	return false;
}

static const char *const null_words[] = { "", "~", "null", "Null", "NULL", NULL };
static const char *const true_words[] = { "true", "True", "TRUE", "yes", "Yes", "YES", "on",
					  "On",	  "ON",	  "y",	  "Y",	 NULL };
static const char *const false_words[] = { "false", "False", "FALSE", "no", "No", "NO", "off",
					   "Off",   "OFF",   "n",     "N",  NULL };
static const char *const float_words[] = { ".inf",  ".Inf",  ".INF", "+.inf", "+.Inf", "+.INF",
					   "-.inf", "-.Inf", "-.INF", ".nan", ".NaN", ".NAN",
					   NULL };

static bool tag_is(const struct pc_node *n, const char *name)
{
	size_t plen = strlen(TAG_PREFIX);

	return n->tag && strncmp(n->tag, TAG_PREFIX, plen) == 0 && strcmp(n->tag + plen, name) == 0;
}

/*
 * Copy the digits of an integer literal without '_' into <out> (size
 * <size>), returning false when it does not fit or has no digits.
 */
static bool strip_underscores(const struct pc_node *n, char *out, size_t size)
{
	size_t i, j = 0;

	for (i = 0; i < n->len; i++) {
		if (n->str[i] == '_')
			continue;
		if (j + 1 >= size)
			return false;
		out[j++] = n->str[i];
	}
	out[j] = '\0';
	return j > 0;
}

/* Go's strconv.ParseInt(s, 0, 64) syntax: sign, then 0x, 0o, 0b, 0 (octal) or decimal. */
static bool parse_go_int(const char *s, long long *out)
{
	const char *p = s;
	unsigned long long v;
	bool neg = false;
	char *end;
	int base = 10;

	if (*p == '+' || *p == '-')
		neg = *p++ == '-';
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
	} else if (p[0] == '0' && (p[1] == 'o' || p[1] == 'O')) {
		base = 8;
		p += 2;
	} else if (p[0] == '0' && (p[1] == 'b' || p[1] == 'B')) {
		base = 2;
		p += 2;
	} else if (p[0] == '0' && p[1]) {
		base = 8;
		p++;
	}
	if (!*p || *p == '+' || *p == '-' || *p == ' ')
		return false;
	errno = 0;
	v = strtoull(p, &end, base);
	if (*end || errno == ERANGE)
		return false;
	if (neg) {
		if (v > (unsigned long long)LLONG_MAX + 1)
			return false;
		*out = v == (unsigned long long)LLONG_MAX + 1 ? LLONG_MIN : -(long long)v;
	} else {
		if (v > (unsigned long long)LLONG_MAX)
			return false;
		*out = (long long)v;
	}
	return true;
}

/* Is <s> an integer literal (ignoring range)? */
static bool looks_int(const char *s)
{
	const char *p = s;
	const char *digits = "0123456789";

	if (*p == '+' || *p == '-')
		p++;
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		digits = "0123456789abcdefABCDEF";
		p += 2;
	} else if (p[0] == '0' && (p[1] == 'o' || p[1] == 'O')) {
		digits = "01234567";
		p += 2;
	} else if (p[0] == '0' && (p[1] == 'b' || p[1] == 'B')) {
		digits = "01";
		p += 2;
	} else if (p[0] == '0' && p[1]) {
		digits = "01234567";
	}
	if (!*p)
		return false;
	return strspn(p, digits) == strlen(p);
}

/* go-yaml's float syntax: [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
static bool looks_float(const char *s)
{
	const char *p = s;
	size_t n;

	if (*p == '+' || *p == '-')
		p++;
	if (*p == '.') {
		n = strspn(p + 1, "0123456789");
		if (!n)
			return false;
		p += 1 + n;
	} else {
		n = strspn(p, "0123456789");
		if (!n)
			return false;
		p += n;
		if (*p == '.')
			p += 1 + strspn(p + 1, "0123456789");
	}
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		n = strspn(p, "0123456789");
		if (!n)
			return false;
		p += n;
	}
	return *p == '\0';
}

enum pc_scalar_kind pc_scalar_kind(const struct pc_node *n)
{
	char digits[128];

	if (n->tag) {
		if (tag_is(n, "str"))
			return PC_SCALAR_STR;
		if (tag_is(n, "null"))
			return PC_SCALAR_NULL;
		if (tag_is(n, "bool"))
			return in_list(n, true_words) || in_list(n, false_words) ? PC_SCALAR_BOOL
										 : PC_SCALAR_STR;
		/* !!int, !!float and unknown tags fall through to content rules. */
	}
	if (n->style != PC_STYLE_PLAIN)
		return PC_SCALAR_STR;
	if (in_list(n, null_words))
		return PC_SCALAR_NULL;
	if (in_list(n, true_words) || in_list(n, false_words))
		return PC_SCALAR_BOOL;
	if (n->len < sizeof(digits) && memchr(n->str, '\0', n->len) == NULL &&
	    strip_underscores(n, digits, sizeof(digits))) {
		if (looks_int(digits))
			return PC_SCALAR_INT;
		if (looks_float(digits))
			return PC_SCALAR_FLOAT;
	}
	if (in_list(n, float_words))
		return PC_SCALAR_FLOAT;
	return PC_SCALAR_STR;
}

bool pc_node_is_null(const struct pc_node *n)
{
	return n->type == PC_NODE_SCALAR && pc_scalar_kind(n) == PC_SCALAR_NULL;
}

bool pc_scalar_bool(const struct pc_node *n)
{
	return in_list(n, true_words);
}

bool pc_scalar_int(const struct pc_node *n, long long *out)
{
	char digits[128];

	if (!strip_underscores(n, digits, sizeof(digits)))
		return false;
	return parse_go_int(digits, out);
}

bool pc_scalar_float(const struct pc_node *n, double *out)
{
	char digits[128];
	long long i;

	if (pc_node_is(n, ".nan") || pc_node_is(n, ".NaN") || pc_node_is(n, ".NAN")) {
		*out = NAN;
		return true;
	}
	if (n->len >= 4 && n->str[n->len - 1] != '_' && strchr("iI", n->str[n->len - 3]) &&
	    in_list(n, float_words)) {
		*out = n->str[0] == '-' ? -INFINITY : INFINITY;
		return true;
	}
	if (!strip_underscores(n, digits, sizeof(digits)))
		return false;
	if (looks_int(digits)) {
		if (!parse_go_int(digits, &i))
			return false;
		*out = (double)i;
		return true;
	}
	*out = strtod(digits, NULL);
	return true;
}

const char *pc_node_kind_name(const struct pc_node *n)
{
	if (n->type == PC_NODE_SEQ)
		return "array";
	if (n->type == PC_NODE_MAP)
		return "object";
	switch (pc_scalar_kind(n)) {
	case PC_SCALAR_NULL:
		return "null";
	case PC_SCALAR_BOOL:
		return "boolean";
	case PC_SCALAR_INT:
		return "integer";
	case PC_SCALAR_FLOAT:
		return "number";
	default:
		return "string";
	}
}
