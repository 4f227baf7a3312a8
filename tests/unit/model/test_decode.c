/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for model/decode.c: strict typed decoding with a test schema,
 * durations, and the paths and positions of decode findings.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "model/decode.h"
#include "model/node.h"
#include "model/schema.h"
#include "model/vctx.h"

struct inner {
	struct pc_msg hdr;
	uint32_t number;
	const char *name;
};

struct outer {
	struct pc_msg hdr;
	const char *host;
	bool flag;
	int32_t i32;
	uint32_t u32;
	int64_t i64;
	uint64_t u64;
	double d;
	int mode;
	int64_t timeout;
	struct pc_strv hosts;
	struct pc_strmap labels;
	struct pc_u32map ports;
	struct inner *one;
	PC_LIST(struct inner) many;
	const struct pc_node *opaque;
	const char *a;
	const char *b;
};

static const struct pc_field inner_fields[] = {
	PC_FIELD("number", PC_FT_UINT32, struct inner, number),
	PC_FIELD("name", PC_FT_STRING, struct inner, name),
	PC_FIELD_END,
};
static const struct pc_schema inner_schema = { "Inner", sizeof(struct inner), inner_fields, NULL };

static const char *const modes[] = { "REGISTRY_ONLY", "ALLOW_ANY", NULL };
static const char *const outer_oneofs[] = { "a,b", NULL };

static const struct pc_field outer_fields[] = {
	PC_FIELD("host", PC_FT_STRING, struct outer, host),
	PC_FIELD("flag", PC_FT_BOOL, struct outer, flag),
	PC_FIELD("i32", PC_FT_INT32, struct outer, i32),
	PC_FIELD("u32", PC_FT_UINT32, struct outer, u32),
	PC_FIELD("i64", PC_FT_INT64, struct outer, i64),
	PC_FIELD("u64", PC_FT_UINT64, struct outer, u64),
	PC_FIELD("d", PC_FT_DOUBLE, struct outer, d),
	PC_FIELD_ENUM("mode", struct outer, mode, modes),
	PC_FIELD("connectTimeout", PC_FT_DURATION, struct outer, timeout),
	PC_FIELD("hosts", PC_FT_STRLIST, struct outer, hosts),
	PC_FIELD("labels", PC_FT_STRMAP, struct outer, labels),
	PC_FIELD("ports", PC_FT_U32MAP, struct outer, ports),
	PC_FIELD_MSG("one", struct outer, one, inner_schema),
	PC_FIELD_LIST("many", struct outer, many, inner_schema),
	PC_FIELD("opaque", PC_FT_ANY, struct outer, opaque),
	PC_FIELD("a", PC_FT_STRING, struct outer, a),
	PC_FIELD("b", PC_FT_STRING, struct outer, b),
	PC_FIELD_END,
};
static const struct pc_schema outer_schema = { "Outer", sizeof(struct outer), outer_fields,
					       outer_oneofs };

struct ctx {
	struct pc_yaml_stream *s;
	struct pc_arena *arena;
	struct pc_findings f;
	struct pc_vctx v;
	struct outer o;
};

static void decode(struct ctx *c, const char *text)
{
	struct pc_err err;

	memset(c, 0, sizeof(*c));
	ck_assert_int_eq(pc_yaml_parse(text, strlen(text), NULL, &c->s, &err), 0);
	c->arena = pc_arena_new(4096);
	pc_findings_init(&c->f);
	pc_vctx_init(&c->v, &c->f, c->arena, "t.yaml", c->s->docs[0].root);
	ck_assert_int_eq(pc_decode(&c->v, &outer_schema, c->s->docs[0].root, &c->o), 0);
}

static void done(struct ctx *c)
{
	pc_vctx_release(&c->v);
	pc_findings_release(&c->f);
	pc_arena_free(c->arena);
	pc_yaml_stream_free(c->s);
}

static const struct pc_finding *find(struct ctx *c, const char *path, const char *sub)
{
	size_t i;

	for (i = 0; i < c->f.n; i++) {
		if (strcmp(c->f.v[i].path, path) == 0 && strstr(c->f.v[i].msg, sub))
			return &c->f.v[i];
	}
	for (i = 0; i < c->f.n; i++)
		fprintf(stderr, "  [%s] %s\n", c->f.v[i].path, c->f.v[i].msg);
	ck_abort_msg("no finding at %s with \"%s\"", path, sub);
	return NULL;
}

START_TEST(every_type_decodes)
{
	struct ctx c;

	decode(&c, "host: db.example.com\nflag: true\ni32: -5\nu32: 4294967295\ni64: -9\n"
		   "u64: 18446744073709551615\nd: 2.5\nmode: ALLOW_ANY\nconnectTimeout: 1h30m\n"
		   "hosts: [a, b]\nlabels: {app: x, v: ''}\nports: {tcp: 3306}\n"
		   "one: {number: 1, name: nm}\nmany: [{number: 2}, {number: 3}]\n"
		   "opaque: [whatever, {x: 1}]\n");
	ck_assert_uint_eq(c.f.n, 0);
	ck_assert_str_eq(c.o.host, "db.example.com");
	ck_assert(c.o.flag);
	ck_assert_int_eq(c.o.i32, -5);
	ck_assert_uint_eq(c.o.u32, 4294967295u);
	ck_assert_int_eq(c.o.i64, -9);
	ck_assert(c.o.u64 == UINT64_MAX);
	ck_assert(c.o.d > 2.4 && c.o.d < 2.6);
	ck_assert_int_eq(c.o.mode, 1);
	ck_assert_int_eq(c.o.timeout, 5400LL * 1000000000LL);
	ck_assert_uint_eq(c.o.hosts.n, 2);
	ck_assert_str_eq(c.o.hosts.v[1], "b");
	ck_assert_uint_eq(c.o.labels.n, 2);
	ck_assert_str_eq(c.o.labels.vals[1], "");
	ck_assert_str_eq(c.o.ports.keys[0], "tcp");
	ck_assert_uint_eq(c.o.ports.vals[0], 3306);
	ck_assert_uint_eq(c.o.one->number, 1);
	ck_assert_uint_eq(c.o.many.n, 2);
	ck_assert_uint_eq(c.o.many.v[1].number, 3);
	ck_assert_int_eq(c.o.opaque->type, PC_NODE_SEQ);
	ck_assert(pc_has(&c.o, "hosts"));
	ck_assert(!pc_has(&c.o, "a"));
	ck_assert(pc_has(c.o.one, "name"));
	done(&c);
}
END_TEST

START_TEST(null_means_absent)
{
	struct ctx c;

	decode(&c, "host: null\none: ~\nconnectTimeout:\n");
	ck_assert_uint_eq(c.f.n, 0);
	ck_assert_ptr_null(c.o.host);
	ck_assert_ptr_null(c.o.one);
	ck_assert(!pc_has(&c.o, "connectTimeout"));
	done(&c);
}
END_TEST

START_TEST(unknown_fields_with_suggestions)
{
	struct ctx c;
	const struct pc_finding *x;

	decode(&c, "host: a\nconnect_timeout: 1s\nhostz: b\nzzzzzz: 1\n");
	ck_assert_uint_eq(c.f.nerr, 3);
	x = find(&c, "connect_timeout", "did you mean \"connectTimeout\"");
	ck_assert_uint_eq(x->line, 2);
	ck_assert_uint_eq(x->col, 1);
	find(&c, "hostz", "did you mean \"host");
	x = find(&c, "zzzzzz", "unknown field \"zzzzzz\"");
	ck_assert_ptr_null(strstr(x->msg, "did you mean"));
	done(&c);
}
END_TEST

START_TEST(type_errors_name_the_problem)
{
	struct ctx c;
	const struct pc_finding *x;

	decode(&c, "host: no\nflag: \"true\"\nu32: \"3306\"\ni32: 1.5\nhosts: a\none: [1]\n"
		   "many: [null]\nlabels: {version: 1.0}\nd: abc\n");
	x = find(&c, "host", "expected a string, got boolean no");
	ck_assert_ptr_nonnull(strstr(x->msg, "quote it"));
	ck_assert_uint_eq(x->line, 1);
	ck_assert_uint_eq(x->col, 7);
	find(&c, "flag", "expected a boolean");
	find(&c, "u32", "remove the quotes");
	find(&c, "i32", "expected an integer, got number");
	find(&c, "hosts", "expected an array, got string");
	find(&c, "one", "expected an object, got array");
	find(&c, "many[0]", "expected an object, got null");
	find(&c, "labels[version]", "expected a string, got number 1.0");
	find(&c, "d", "expected a number");
	done(&c);
}
END_TEST

START_TEST(integer_ranges)
{
	struct ctx c;
	const struct pc_finding *x;

	decode(&c, "u32: -1\ni32: 2147483648\nports: {tcp: 4294967296}\nmany: [{number: 99999999999}]\n"
		   "u64: -3\n");
	find(&c, "u32", "-1 is out of range for uint32 (0..4294967295)");
	find(&c, "i32", "out of range for int32");
	find(&c, "ports[tcp]", "out of range for uint32");
	x = find(&c, "many[0].number", "out of range for uint32");
	ck_assert_uint_eq(x->line, 4);
	ck_assert_uint_eq(x->col, 17);
	find(&c, "u64", "out of range for uint64");
	done(&c);
}
END_TEST

START_TEST(enums_are_case_sensitive)
{
	struct ctx c;

	decode(&c, "mode: allow_any\n");
	find(&c, "mode", "Unsupported value: \"allow_any\": supported values: \"REGISTRY_ONLY\", "
			 "\"ALLOW_ANY\" (did you mean \"ALLOW_ANY\"?");
	done(&c);
	decode(&c, "mode: OPEN\n");
	find(&c, "mode", "Unsupported value: \"OPEN\"");
	done(&c);
	decode(&c, "mode: 1\n");
	find(&c, "mode", "expected a string");
	done(&c);
}
END_TEST

START_TEST(durations_are_checked)
{
	struct ctx c;

	decode(&c, "connectTimeout: 5\n");
	find(&c, "connectTimeout", "missing unit");
	done(&c);
	decode(&c, "connectTimeout: 5 s\n");
	find(&c, "connectTimeout", "invalid duration \"5 s\"");
	done(&c);
	decode(&c, "connectTimeout: 3d\n");
	find(&c, "connectTimeout", "unknown unit");
	done(&c);
}
END_TEST

START_TEST(oneof_violation)
{
	struct ctx c;

	decode(&c, "a: x\nb: y\n");
	find(&c, "", "only one of a,b may be set (found a, b)");
	done(&c);
	decode(&c, "a: x\nb: null\n");
	ck_assert_uint_eq(c.f.n, 0);
	done(&c);
}
END_TEST

static int64_t dur(const char *s)
{
	const char *why;
	int64_t ns = -1;

	ck_assert_msg(pc_duration_parse(s, &ns, &why) == 0, "%s: %s", s, why);
	return ns;
}

static bool dur_bad(const char *s)
{
	const char *why;
	int64_t ns;

	return pc_duration_parse(s, &ns, &why) < 0 && why != NULL;
}

START_TEST(duration_parsing)
{
	ck_assert_int_eq(dur("10ms"), 10000000);
	ck_assert_int_eq(dur("2.5s"), 2500000000LL);
	ck_assert_int_eq(dur("1h30m"), 5400000000000LL);
	ck_assert_int_eq(dur("3600s"), 3600000000000LL);
	ck_assert_int_eq(dur("0"), 0);
	ck_assert_int_eq(dur("0s"), 0);
	ck_assert_int_eq(dur("1.5us"), 1500);
	ck_assert_int_eq(dur("2\xc2\xb5s"), 2000);
	ck_assert_int_eq(dur("-1s"), -1000000000LL);
	ck_assert_int_eq(dur(".5s"), 500000000LL);
	ck_assert_int_eq(dur("100ns"), 100);
	ck_assert(dur_bad(""));
	ck_assert(dur_bad("5"));
	ck_assert(dur_bad("s"));
	ck_assert(dur_bad("1d"));
	ck_assert(dur_bad("1.s.s"));
	ck_assert(dur_bad("99999999999h"));
}
END_TEST

START_TEST(duration_formatting)
{
	char buf[64];

	pc_duration_format(5400000000000LL, buf, sizeof(buf));
	ck_assert_str_eq(buf, "1h30m0s");
	pc_duration_format(10000000, buf, sizeof(buf));
	ck_assert_str_eq(buf, "10ms");
	pc_duration_format(2500000000LL, buf, sizeof(buf));
	ck_assert_str_eq(buf, "2.5s");
	pc_duration_format(0, buf, sizeof(buf));
	ck_assert_str_eq(buf, "0s");
	pc_duration_format(1500, buf, sizeof(buf));
	ck_assert_str_eq(buf, "1.5\xc2\xb5s");
	pc_duration_format(-90000000000LL, buf, sizeof(buf));
	ck_assert_str_eq(buf, "-1m30s");
}
END_TEST

static void decode_list(struct ctx *c, size_t n)
{
	size_t i, len = 0, cap = n * 8 + 32;
	char *text = malloc(cap);

	ck_assert_ptr_nonnull(text);
	len += (size_t)snprintf(text, cap, "hosts: [");
	for (i = 0; i < n; i++)
		len += (size_t)snprintf(text + len, cap - len, "%sh", i ? "," : "");
	snprintf(text + len, cap - len, "]\n");
	decode(c, text);
	free(text);
}

START_TEST(list_length_is_capped)
{
	struct ctx c;

	decode_list(&c, PC_DECODE_MAX_ITEMS);
	ck_assert_uint_eq(c.f.n, 0);
	ck_assert_uint_eq(c.o.hosts.n, PC_DECODE_MAX_ITEMS);
	done(&c);
	decode_list(&c, PC_DECODE_MAX_ITEMS + 1);
	find(&c, "hosts", "Too many: 10001: must have at most 10000 items");
	ck_assert_uint_eq(c.o.hosts.n, 0);
	done(&c);
}
END_TEST

START_TEST(path_lookup_falls_back_to_ancestor)
{
	struct pc_yaml_stream *s;
	struct pc_err err;
	const char *text = "spec:\n  ports:\n  - name: a\n  labels: {app.kubernetes.io/name: x}\n";
	const struct pc_node *n;

	ck_assert_int_eq(pc_yaml_parse(text, strlen(text), NULL, &s, &err), 0);
	n = pc_path_lookup(s->docs[0].root, "spec.ports[0].number");
	ck_assert_uint_eq(n->line, 3);
	ck_assert_uint_eq(n->col, 5);
	n = pc_path_lookup(s->docs[0].root, "spec.labels[app.kubernetes.io/name]");
	ck_assert(pc_node_is(n, "x"));
	n = pc_path_lookup(s->docs[0].root, "spec.ports[7]");
	ck_assert_int_eq(n->type, PC_NODE_SEQ);
	pc_yaml_stream_free(s);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("model.decode");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, every_type_decodes);
	tcase_add_test(tc, null_means_absent);
	tcase_add_test(tc, unknown_fields_with_suggestions);
	tcase_add_test(tc, type_errors_name_the_problem);
	tcase_add_test(tc, integer_ranges);
	tcase_add_test(tc, enums_are_case_sensitive);
	tcase_add_test(tc, durations_are_checked);
	tcase_add_test(tc, oneof_violation);
	tcase_add_test(tc, duration_parsing);
	tcase_add_test(tc, duration_formatting);
	tcase_add_test(tc, list_length_is_capped);
	tcase_add_test(tc, path_lookup_falls_back_to_ancestor);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
