/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * model/rules.c - Istio's cross-cutting validation rules.
 *
 * Each function mirrors one Go helper of istio/istio (named in the
 * comments) closely enough to make the same decisions on the same input,
 * quirks included: Istio's DNS labels allow upper case, an all-numeric
 * top-level label is judged with Go's strconv.Atoi (so "+5" counts), a
 * wildcard domain's error names only the part after the first dot, and
 * IPs are parsed as Go's net/netip does (no leading zeros in IPv4, zones
 * only on IPv6 addresses and never in prefixes).
 */
#include "model/rules.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/escape.h"
#include "model/schema.h"
#include "model/vctx.h"

static int fail(char *msg, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(char *msg, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, size, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/*
 * Copy the <adv> bytes of a printable character while each starts with room
 * for "\xNN" and the closing quote (the cut pc_go_quote() has always made);
 * false when it was cut inside.
 */
static bool copy_char(char *buf, size_t size, size_t *j, const char *s, size_t adv)
{
	size_t k;

	for (k = 0; k < adv && *j + 6 < size; k++)
		buf[(*j)++] = s[k];
	return k == adv;
}

const char *pc_go_quote(char *buf, size_t size, const char *s)
{
	static const char from[] = "\"\\\a\b\f\n\r\t\v", to[] = "\"\\abfnrtv";
	size_t j = 0, i = 0, n = strlen(s), adv, e;
	char esc[PC_ESC_MAX];
	const char *f;

	if (size < 3) {
		if (size)
			buf[0] = '\0';
		return buf;
	}
	buf[j++] = '"';
	/*
	 * Go's escapes first; then controls, DEL, bidi and invisible format
	 * characters (\u202e) and bytes that are not UTF-8 (\xff) as
	 * core/escape.h spells them, which is how Go's %q spells them too.
	 */
	while (i < n && j + 6 < size) {
		f = strchr(from, s[i]);
		e = pc_esc_char(s + i, n - i, &adv, esc);
		if (f) {
			esc[0] = '\\';
			esc[1] = to[f - from];
			e = 2;
		}
		if (!e && !copy_char(buf, size, &j, s + i, adv))
			break;
		if (e && j + e + 2 >= size)
			break;
		if (e)
			memcpy(buf + j, esc, e);
		j += e;
		i += adv;
	}
	/* Cut short: drop a UTF-8 sequence whose tail did not fit (escapes are ASCII). */
	if (i < n)
		j = 1 + pc_utf8_prefix(buf + 1, j - 1, j - 1);
	buf[j++] = '"';
	buf[j] = '\0';
	return buf;
}

static bool is_alnum(char c)
{
	return isascii((unsigned char)c) && isalnum((unsigned char)c);
}

/* [a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])? over <n> bytes of <s>. */
static bool label_syntax(const char *s, size_t n, bool lower_only)
{
	size_t i;

	if (n == 0 || !is_alnum(s[0]) || !is_alnum(s[n - 1]))
		return false;
	for (i = 0; i < n; i++) {
		if (!is_alnum(s[i]) && s[i] != '-')
			return false;
		if (lower_only && isupper((unsigned char)s[i]))
			return false;
	}
	return true;
}

bool pc_is_dns1123_label(const char *s)
{
	size_t n = strlen(s);

	return n <= 63 && label_syntax(s, n, false);
}

bool pc_is_wildcard_dns1123_label(const char *s)
{
	size_t n = strlen(s);

	if (n > 63)
		return false;
	if (strcmp(s, "*") == 0)
		return true;
	if (strncmp(s, "*-", 2) == 0 && label_syntax(s + 2, n - 2, false))
		return true;
	if (s[0] == '*')
		return label_syntax(s + 1, n - 1, false);
	return label_syntax(s, n, false);
}

bool pc_is_k8s_dns1123_label(const char *s)
{
	size_t n = strlen(s);

	return n <= 63 && label_syntax(s, n, true);
}

bool pc_is_k8s_dns1123_subdomain(const char *s)
{
	size_t n = strlen(s), len;
	const char *p = s;

	if (n == 0 || n > 253)
		return false;
	for (;;) {
		len = strcspn(p, ".");
		if (!label_syntax(p, len, true))
			return false;
		if (!p[len])
			return true;
		p += len + 1;
	}
}

/* Go's strconv.Atoi succeeds: optional sign, then only decimal digits, fits int64. */
static bool go_atoi_ok(const char *s, size_t n)
{
	size_t i = 0;

	if (n && (s[0] == '+' || s[0] == '-'))
		i = 1;
	if (i == n || n - i > 18)
		return i < n && n - i <= 19 && strspn(s + i, "0123456789") >= n - i &&
		       (n - i < 19 || strncmp(s + i, "9223372036854775807", 19) <= 0);
	for (; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return false;
	}
	return true;
}

static int dns1123_preconditions(const char *s, char *msg, size_t size)
{
	size_t n = strlen(s);

	if (n > 255)
		return fail(msg, size, "domain name \"%s\" too long (max 255)", s);
	if (n == 0)
		return fail(msg, size, "empty domain name not allowed");
	return 0;
}

/* ValidateDNS1123Labels. */
static int dns1123_labels(const char *domain, char *msg, size_t size)
{
	const char *tld = strrchr(domain, '.'), *p = domain;
	char label[256];
	size_t len;

	tld = tld ? tld + 1 : domain;
	if (go_atoi_ok(tld, strlen(tld))) {
		return fail(msg, size,
			    "domain name \"%s\" invalid (top level domain \"%s\" cannot be all-numeric)",
			    domain, tld);
	}
	for (;;) {
		len = strcspn(p, ".");
		if (!p[len] && len == 0)
			return 0; /* trailing dot: "istio.io." */
		if (len > 63 || !label_syntax(p, len, false)) {
			snprintf(label, sizeof(label), "%.*s", (int)len, p);
			return fail(msg, size, "domain name \"%s\" invalid (label \"%s\" invalid)",
				    domain, label);
		}
		if (!p[len])
			return 0;
		p += len + 1;
	}
}

int pc_check_fqdn(const char *s, char *msg, size_t size)
{
	int ret = dns1123_preconditions(s, msg, size);

	return ret < 0 ? ret : dns1123_labels(s, msg, size);
}

int pc_check_wildcard_domain(const char *s, char *msg, size_t size)
{
	char first[256];
	size_t len;
	int ret;

	ret = dns1123_preconditions(s, msg, size);
	if (ret < 0)
		return ret;
	len = strcspn(s, ".");
	snprintf(first, sizeof(first), "%.*s", (int)len, s);
	if (len > 63 || !pc_is_wildcard_dns1123_label(first))
		return fail(msg, size, "domain name \"%s\" invalid (label \"%s\" invalid)", s, first);
	if (s[len])
		return dns1123_labels(s + len + 1, msg, size);
	return 0;
}

int pc_check_partial_wildcard(const char *s, char *msg, size_t size)
{
	if (strchr(s, '*') && strlen(s) != 1 && strncmp(s, "*.", 2) != 0)
		return fail(msg, size, "partial wildcard \"%s\" not allowed", s);
	return 0;
}

/* netip.ParseAddr without a zone. */
static bool parse_ip_nozone(const char *s, bool *v6)
{
	unsigned char buf[16];

	if (strchr(s, ':')) {
		*v6 = true;
		return inet_pton(AF_INET6, s, buf) == 1;
	}
	*v6 = false;
	/* glibc's inet_pton rejects leading zeros and short forms, as netip does. */
	return inet_pton(AF_INET, s, buf) == 1;
}

bool pc_is_ip(const char *s)
{
	const char *pct = strchr(s, '%');
	char addr[64];
	bool v6;

	if (!pct)
		return parse_ip_nozone(s, &v6);
	if ((size_t)(pct - s) >= sizeof(addr) || pct[1] == '\0')
		return false;
	memcpy(addr, s, (size_t)(pct - s));
	addr[pct - s] = '\0';
	return parse_ip_nozone(addr, &v6) && v6; /* zones only on IPv6 */
}

int pc_check_ip(const char *s, char *msg, size_t size)
{
	if (!pc_is_ip(s))
		return fail(msg, size, "%s is not a valid IP", s);
	return 0;
}

/* netip.ParsePrefix. */
static bool parse_prefix(const char *s)
{
	const char *slash = strrchr(s, '/');
	const char *bits = slash + 1;
	char addr[64];
	unsigned long b;
	bool v6;

	if ((size_t)(slash - s) >= sizeof(addr))
		return false;
	memcpy(addr, s, (size_t)(slash - s));
	addr[slash - s] = '\0';
	if (strchr(addr, '%') || !parse_ip_nozone(addr, &v6))
		return false;
	if (!*bits || strspn(bits, "0123456789") != strlen(bits) || strlen(bits) > 3)
		return false;
	if (bits[0] == '0' && bits[1])
		return false;
	b = strtoul(bits, NULL, 10);
	return b <= (v6 ? 128u : 32u);
}

int pc_check_ip_subnet(const char *s, char *msg, size_t size)
{
	const char *slash = strchr(s, '/');

	if (slash && !strchr(slash + 1, '/')) {
		if (!parse_prefix(s))
			return fail(msg, size, "%s is not a valid CIDR block", s);
		return 0;
	}
	return pc_check_ip(s, msg, size);
}

int pc_check_port(long long port, char *msg, size_t size)
{
	if (port >= 1 && port <= 65535)
		return 0;
	return fail(msg, size, "port number %lld must be in the range 1..65535", port);
}

int pc_check_port_name(const char *s, char *msg, size_t size)
{
	if (!pc_is_dns1123_label(s))
		return fail(msg, size, "invalid port name: %s", s);
	return 0;
}

static const struct {
	const char *name;
	enum pc_protocol p;
} protocols[] = {
	{ "tcp", PC_PROTO_TCP },	 { "udp", PC_PROTO_UDP },
	{ "grpc", PC_PROTO_GRPC },	 { "grpc-web", PC_PROTO_GRPC_WEB },
	{ "http", PC_PROTO_HTTP },	 { "http_proxy", PC_PROTO_HTTP_PROXY },
	{ "http2", PC_PROTO_HTTP2 },	 { "https", PC_PROTO_HTTPS },
	{ "tls", PC_PROTO_TLS },	 { "mongo", PC_PROTO_MONGO },
	{ "redis", PC_PROTO_REDIS },	 { "mysql", PC_PROTO_MYSQL },
};

enum pc_protocol pc_protocol_parse(const char *s)
{
	size_t i;

	for (i = 0; i < sizeof(protocols) / sizeof(protocols[0]); i++) {
		if (strcasecmp(s, protocols[i].name) == 0)
			return protocols[i].p;
	}
	return PC_PROTO_UNSUPPORTED;
}

bool pc_protocol_is_http(enum pc_protocol p)
{
	return p == PC_PROTO_HTTP || p == PC_PROTO_HTTP2 || p == PC_PROTO_HTTP_PROXY ||
	       p == PC_PROTO_GRPC || p == PC_PROTO_GRPC_WEB;
}

bool pc_protocol_is_tcp(enum pc_protocol p)
{
	return p == PC_PROTO_TCP || p == PC_PROTO_HTTPS || p == PC_PROTO_TLS ||
	       p == PC_PROTO_MONGO || p == PC_PROTO_REDIS || p == PC_PROTO_MYSQL;
}

bool pc_protocol_is_tls(enum pc_protocol p)
{
	return p == PC_PROTO_HTTPS || p == PC_PROTO_TLS;
}

int pc_check_protocol(const char *s, char *msg, size_t size)
{
	if (*s && pc_protocol_parse(s) == PC_PROTO_UNSUPPORTED)
		return fail(msg, size, "unsupported protocol: %s", s);
	return 0;
}

int pc_check_duration(int64_t ns, char *msg, size_t size)
{
	if (ns < 1000000)
		return fail(msg, size, "duration must be greater than 1ms");
	if (ns % 1000000)
		return fail(msg, size, "only durations to ms precision are supported");
	return 0;
}

int pc_check_percent(long long v, char *msg, size_t size)
{
	if (v < 0 || v > 100)
		return fail(msg, size, "percentage %lld is not in range 0..100", v);
	return 0;
}

/* (?:[A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9] over <n> bytes; empty is false. */
static bool qualified_name(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || !is_alnum(s[0]) || !is_alnum(s[n - 1]))
		return false;
	for (i = 0; i < n; i++) {
		if (!is_alnum(s[i]) && !strchr("-_.", s[i]))
			return false;
	}
	return true;
}

/* dns1123Label(\.dns1123Label)* over <n> bytes. */
static bool dns_prefix(const char *s, size_t n)
{
	size_t start = 0, i;

	for (i = 0; i <= n; i++) {
		if (i == n || s[i] == '.') {
			if (!label_syntax(s + start, i - start, false))
				return false;
			start = i + 1;
		}
	}
	return true;
}

/* labels.validateTagKey; returns a message or NULL. */
static bool tag_key_ok(const char *k, char *msg, size_t size)
{
	const char *slash = strchr(k, '/');
	const char *name = slash ? slash + 1 : k;

	if ((slash && !dns_prefix(k, (size_t)(slash - k))) || !qualified_name(name, strlen(name))) {
		fail(msg, size, "invalid tag key: \"%s\"", k);
		return false;
	}
	if (slash && (size_t)(slash - k) > 253) {
		fail(msg, size, "invalid tag key: \"%s\" (DNS prefix is too long)", k);
		return false;
	}
	if (strlen(name) > 63) {
		fail(msg, size, "invalid tag key: \"%s\" (name is too long)", k);
		return false;
	}
	return true;
}

void pc_vcheck_labels(struct pc_vctx *v, const char *field, const struct pc_strmap *labels)
{
	char msg[PC_RULE_MSG];
	size_t i;

	if (field)
		pc_vpush(v, field);
	for (i = 0; i < labels->n; i++) {
		const char *val = labels->vals[i];

		pc_vpush_key(v, labels->keys[i]);
		if (!tag_key_ok(labels->keys[i], msg, sizeof(msg)))
			pc_verr(v, NULL, "%s", msg);
		if (*val && !qualified_name(val, strlen(val)))
			pc_verr(v, NULL, "invalid tag value: \"%s\"", val);
		pc_vpop(v);
	}
	if (field)
		pc_vpop(v);
}

int pc_labels_arg_parse(const char *arg, char **out, size_t *len, char *msg, size_t size)
{
	size_t n = strlen(arg);
	char *v, *p, *q;

	*out = NULL;
	*len = 0;
	if (n == 0)
		return 0;
	v = pc_xstrdup(arg);
	for (p = v; p < v + n; p++) {
		if (*p == ',')
			*p = '\0';
	}
	for (p = v; p < v + n + 1; p += strlen(p) + 1) {
		char *eq = strchr(p, '=');
		const char *val = eq ? eq + 1 : NULL;

		if (!eq || eq == p) {
			fail(msg, size, "\"%s\" is not KEY=VALUE", p);
			goto bad;
		}
		*eq = '\0';
		if (!tag_key_ok(p, msg, size))
			goto bad;
		if (*val && !qualified_name(val, strlen(val))) {
			fail(msg, size, "invalid tag value: \"%s\"", val);
			goto bad;
		}
		for (q = v; q < p; q += strlen(q) + 1) {
			if (strncmp(q, p, strlen(p)) == 0 && q[strlen(p)] == '=') {
				fail(msg, size, "the label \"%s\" is given twice", p);
				goto bad;
			}
		}
		*eq = '=';
	}
	*out = v;
	*len = n + 1;
	return 0;
bad:
	free(v);
	return -EINVAL;
}

/* visibility.Instance(key).Validate(); NULL when valid. */
static const char *visibility_error(const char *key)
{
	if (strcmp(key, ".") == 0 || strcmp(key, "*") == 0)
		return NULL;
	if (strcmp(key, "~") == 0)
		return "exportTo ~ (none) is not allowed for Istio configuration objects";
	if (!pc_is_dns1123_label(key))
		return "only .,*,~, or a valid DNS 1123 label is allowed as exportTo entry";
	return NULL;
}

struct export_entry {
	const char *key; /* "." replaced by the namespace */
	size_t index;
	bool dup;      /* an earlier entry with this key is in the set */
	bool inserted; /* this entry went into the set */
};

static int cmp_export(const void *a, const void *b)
{
	const struct export_entry *x = a, *y = b;
	int c = strcmp(x->key, y->key);

	if (c)
		return c;
	return x->index < y->index ? -1 : x->index > y->index;
}

static int cmp_index(const void *a, const void *b)
{
	const struct export_entry *x = a, *y = b;

	return x->index < y->index ? -1 : x->index > y->index;
}

/*
 * Go's set logic in O(n log n) rather than O(n^2) (exportTo lists are
 * bounded only by the input size): sorted by key, the first entry of a
 * run is inserted when valid and every later one is a duplicate; invalid
 * keys are never inserted, so each of their repeats is invalid again.
 */
static void export_mark(struct export_entry *e, size_t n, const struct pc_strv *export_to,
			bool is_service_entry)
{
	size_t i;

	qsort(e, n, sizeof(*e), cmp_export);
	for (i = 0; i < n; i++) {
		const char *raw = export_to->v[e[i].index];
		bool valid = (is_service_entry && strcmp(raw, "~") == 0) ||
			     !visibility_error(e[i].key);

		if (i && strcmp(e[i - 1].key, e[i].key) == 0) {
			e[i].dup = e[i - 1].inserted || e[i - 1].dup;
			e[i].inserted = false;
			continue;
		}
		e[i].inserted = valid;
	}
	qsort(e, n, sizeof(*e), cmp_index);
}

/* Is <key> in the set? <*count> gets the size of the set. */
static bool export_has(const struct export_entry *e, size_t n, const char *key, size_t *count)
{
	bool found = false;
	size_t i;

	*count = 0;
	for (i = 0; i < n; i++) {
		if (!e[i].inserted)
			continue;
		(*count)++;
		found |= strcmp(e[i].key, key) == 0;
	}
	return found;
}

static void export_to_selector(struct pc_vctx *v, const struct export_entry *e, size_t n,
			       const char *ns)
{
	size_t nset;
	bool own = export_has(e, n, ns, &nset);

	if (nset == 0)
		return;
	if (own) {
		if (nset > 1)
			pc_verr(v, NULL, "destination rule with workload selector cannot have "
					 "multiple entries in exportTo");
	} else {
		pc_verr(v, NULL, "destination rule with workload selector cannot have exportTo "
				 "beyond current namespace");
	}
}

void pc_vcheck_export_to(struct pc_vctx *v, const char *field, const struct pc_strv *export_to,
			 const char *ns, bool is_service_entry, bool dr_with_selector)
{
	struct export_entry *e;
	size_t i, nset;
	const char *err;

	if (export_to->n == 0)
		return;
	e = calloc(export_to->n, sizeof(*e));
	if (!e) {
		pc_verr(v, field, "out of memory while validating exportTo");
		return;
	}
	for (i = 0; i < export_to->n; i++) {
		e[i].key = strcmp(export_to->v[i], ".") == 0 ? ns : export_to->v[i];
		e[i].index = i;
	}
	export_mark(e, export_to->n, export_to, is_service_entry);
	pc_vpush(v, field);
	for (i = 0; i < export_to->n; i++) {
		const char *raw = export_to->v[i];

		if (e[i].dup) {
			if (e[i].key != raw)
				pc_verr(v, NULL,
					"duplicate entries in exportTo: . and current namespace %s", ns);
			else
				pc_verr(v, NULL, "duplicate entries in exportTo for entry %s", raw);
			continue;
		}
		if (is_service_entry && strcmp(raw, "~") == 0)
			continue;
		err = visibility_error(e[i].key);
		if (err)
			pc_verr(v, NULL, "%s", err);
	}
	if (dr_with_selector)
		export_to_selector(v, e, export_to->n, ns);
	if (export_has(e, export_to->n, "*", &nset) && export_to->n > 1)
		pc_verr(v, NULL,
			"cannot have both public (*) and non-public exportTo values for a resource");
	if (export_has(e, export_to->n, "~", &nset) && export_to->n > 1)
		pc_verr(v, NULL, "cannot export service entry to no one (~) and someone");
	pc_vpop(v);
	free(e);
}

static bool is_wild(const char *h)
{
	return h[0] == '*';
}

static bool has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

bool pc_host_matches(const char *a, const char *b)
{
	bool wa = is_wild(a), wb = is_wild(b);

	if (!wa && !wb)
		return strcmp(a, b) == 0;
	if (wa && !wb)
		return has_suffix(b, a + 1);
	if (!wa && wb)
		return has_suffix(a, b + 1);
	/* both wildcards: the longer suffix ends with the shorter one */
	return strlen(a) >= strlen(b) ? has_suffix(a + 1, b + 1) : has_suffix(b + 1, a + 1);
}

bool pc_host_subset_of(const char *a, const char *b)
{
	bool wa = is_wild(a), wb = is_wild(b);

	if (!wb)
		return !wa && strcmp(a, b) == 0;
	if (!wa)
		return has_suffix(a, b + 1);
	return strlen(a) >= strlen(b) && has_suffix(a + 1, b + 1);
}
