/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for model/yaml.c and model/node.c: the node tree, positions,
 * aliases and merge keys, duplicate keys, limits, scalar resolution.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/node.h"

static struct pc_yaml_stream *parse_ok(const char *text)
{
	struct pc_yaml_stream *s = NULL;
	struct pc_err err;

	pc_err_clear(&err);
	ck_assert_msg(pc_yaml_parse(text, strlen(text), NULL, &s, &err) == 0, "parse failed: %s",
		      err.msg);
	return s;
}

static int parse_err(const char *text, size_t len, const struct pc_yaml_limits *lim,
		     struct pc_err *err)
{
	struct pc_yaml_stream *s = NULL;
	int ret;

	pc_err_clear(err);
	ret = pc_yaml_parse(text, len, lim, &s, err);
	ck_assert_ptr_null(s);
	return ret;
}

START_TEST(positions_are_one_based)
{
	struct pc_yaml_stream *s = parse_ok("a: 1\nspec:\n  ports:\n  - number: 3306\n");
	const struct pc_node *root = s->docs[0].root, *spec, *ports, *num;

	ck_assert_uint_eq(s->ndocs, 1);
	ck_assert_uint_eq(root->line, 1);
	ck_assert_uint_eq(root->col, 1);
	spec = pc_node_get(root, "spec");
	ports = pc_node_get(spec, "ports");
	ck_assert_int_eq(ports->type, PC_NODE_SEQ);
	ck_assert_uint_eq(ports->nitems, 1);
	num = pc_node_get(ports->items[0], "number");
	ck_assert_uint_eq(num->line, 4);
	ck_assert_uint_eq(num->col, 13);
	ck_assert(pc_node_is(num, "3306"));
	pc_yaml_stream_free(s);
}
END_TEST

START_TEST(multi_document_and_empty_documents)
{
	struct pc_yaml_stream *s = parse_ok("---\na: 1\n---\n# only a comment\n---\nb: 2\n");

	ck_assert_uint_eq(s->ndocs, 3);
	ck_assert_ptr_nonnull(s->docs[0].root);
	ck_assert_ptr_null(s->docs[1].root);
	ck_assert(pc_node_is(pc_node_get(s->docs[2].root, "b"), "2"));
	ck_assert_uint_eq(s->docs[2].line, 5);
	pc_yaml_stream_free(s);
}
END_TEST

START_TEST(json_input)
{
	struct pc_yaml_stream *s =
		parse_ok("{\"kind\": \"ServiceEntry\",\n\t\"spec\": {\"hosts\": [\"a.example\"], \"n\": 5}}");
	const struct pc_node *spec = pc_node_get(s->docs[0].root, "spec");

	ck_assert(pc_node_is(pc_node_get(s->docs[0].root, "kind"), "ServiceEntry"));
	ck_assert_int_eq(pc_scalar_kind(pc_node_get(spec, "n")), PC_SCALAR_INT);
	ck_assert_int_eq(pc_scalar_kind(pc_node_get(spec, "hosts")->items[0]), PC_SCALAR_STR);
	ck_assert_uint_eq(spec->line, 2);
	pc_yaml_stream_free(s);
}
END_TEST

START_TEST(aliases_share_and_merge_keys_apply)
{
	struct pc_yaml_stream *s = parse_ok("base: &b {x: 1, y: 2}\n"
					    "copy: *b\n"
					    "merged:\n  <<: *b\n  y: 3\n  z: 4\n");
	const struct pc_node *root = s->docs[0].root, *merged;

	ck_assert_ptr_eq(pc_node_get(root, "base"), pc_node_get(root, "copy"));
	merged = pc_node_get(root, "merged");
	ck_assert_uint_eq(merged->npairs, 3);
	ck_assert(pc_node_is(pc_node_get(merged, "x"), "1"));
	ck_assert(pc_node_is(pc_node_get(merged, "y"), "3")); /* explicit keys win */
	ck_assert(pc_node_is(pc_node_get(merged, "z"), "4"));
	ck_assert_ptr_null(pc_node_get(merged, "<<"));
	pc_yaml_stream_free(s);
}
END_TEST

START_TEST(merge_of_a_list_first_source_wins)
{
	struct pc_yaml_stream *s =
		parse_ok("a: &a {k: 1}\nb: &b {k: 2, j: 3}\nm:\n  <<: [*a, *b]\n");
	const struct pc_node *m = pc_node_get(s->docs[0].root, "m");

	ck_assert(pc_node_is(pc_node_get(m, "k"), "1"));
	ck_assert(pc_node_is(pc_node_get(m, "j"), "3"));
	pc_yaml_stream_free(s);
}
END_TEST

START_TEST(merge_of_a_scalar_is_an_error)
{
	struct pc_err err;

	ck_assert_int_eq(parse_err("a: &a 1\nm:\n  <<: *a\n", 19, NULL, &err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "merge key"));
	ck_assert_uint_eq(err.line, 3);
}
END_TEST

START_TEST(duplicate_keys_name_both_places)
{
	const char *text = "a: 1\nb: 2\na: 3\n";
	struct pc_err err;

	ck_assert_int_eq(parse_err(text, strlen(text), NULL, &err), -EINVAL);
	ck_assert_uint_eq(err.line, 3);
	ck_assert_uint_eq(err.col, 1);
	ck_assert_ptr_nonnull(strstr(err.msg, "duplicate key \"a\""));
	ck_assert_ptr_nonnull(strstr(err.msg, "line 1, column 1"));
}
END_TEST

START_TEST(duplicate_keys_in_big_maps)
{
	char *text = malloc(5000 * 16 + 32);
	size_t len = 0;
	struct pc_err err;
	int i;

	ck_assert_ptr_nonnull(text);
	for (i = 0; i < 5000; i++)
		len += (size_t)snprintf(text + len, 32, "k%d: %d\n", i, i);
	len += (size_t)snprintf(text + len, 32, "k4321: dup\n");
	ck_assert_int_eq(parse_err(text, len, NULL, &err), -EINVAL);
	ck_assert_uint_eq(err.line, 5001);
	ck_assert_ptr_nonnull(strstr(err.msg, "\"k4321\""));
	free(text);
}
END_TEST

START_TEST(complex_keys_rejected)
{
	const char *text = "? [a, b]\n: 1\n";
	struct pc_err err;

	ck_assert_int_eq(parse_err(text, strlen(text), NULL, &err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "mapping keys must be strings"));
}
END_TEST

START_TEST(syntax_error_has_position)
{
	const char *text = "a: 1\nb: [1, 2\nc: 3\n";
	struct pc_err err;

	ck_assert_int_eq(parse_err(text, strlen(text), NULL, &err), -EINVAL);
	ck_assert_uint_gt(err.line, 1);
	ck_assert_ptr_nonnull(strstr(err.msg, "invalid YAML"));
}
END_TEST

START_TEST(invalid_utf8_and_nul_rejected)
{
	const char bad_utf8[] = "a: \xff\xfe\n";
	const char nul[] = "a: b\0c\n";
	struct pc_err err;

	ck_assert_int_eq(parse_err(bad_utf8, sizeof(bad_utf8) - 1, NULL, &err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "not valid YAML text"));
	ck_assert_int_eq(parse_err(nul, sizeof(nul) - 1, NULL, &err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "not valid YAML text"));
}
END_TEST

START_TEST(depth_limit)
{
	char text[300];
	struct pc_err err;
	struct pc_yaml_limits lim;

	pc_yaml_limits_default(&lim);
	lim.max_depth = 10;
	memset(text, '[', 11);
	memset(text + 11, ']', 11);
	ck_assert_int_eq(parse_err(text, 22, &lim, &err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "nesting deeper than 10"));
	/* exactly at the limit is fine */
	{
		struct pc_yaml_stream *s = NULL;

		ck_assert_int_eq(pc_yaml_parse(text + 1, 20, &lim, &s, &err), 0);
		pc_yaml_stream_free(s);
	}
}
END_TEST

START_TEST(alias_bomb_is_bounded)
{
	const char *text = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
			   "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
			   "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
			   "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
			   "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
			   "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
			   "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n";
	struct pc_err err;

	ck_assert_int_eq(parse_err(text, strlen(text), NULL, &err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "expands to more than"));
	ck_assert_uint_gt(err.line, 4);
}
END_TEST

START_TEST(anchor_limit_and_unknown_anchor)
{
	struct pc_yaml_limits lim;
	struct pc_err err;
	const char *text = "- &a 1\n- &b 2\n- &c 3\n";

	pc_yaml_limits_default(&lim);
	lim.max_anchors = 2;
	ck_assert_int_eq(parse_err(text, strlen(text), &lim, &err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "more than 2 anchors"));
	ck_assert_int_eq(parse_err("- *nope\n", 8, NULL, &err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "unknown anchor \"nope\""));
}
END_TEST

START_TEST(recursive_alias_rejected)
{
	const char *text = "a: &a\n  b: *a\n";
	struct pc_err err;

	ck_assert_int_eq(parse_err(text, strlen(text), NULL, &err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "unknown anchor"));
}
END_TEST

START_TEST(size_limit)
{
	struct pc_yaml_limits lim;
	struct pc_err err;

	pc_yaml_limits_default(&lim);
	lim.max_bytes = 4;
	ck_assert_int_eq(parse_err("a: 12345\n", 9, &lim, &err), -EFBIG);
	ck_assert_ptr_nonnull(strstr(err.msg, "limit of 4"));
}
END_TEST

static enum pc_scalar_kind kind_of(const char *value)
{
	char text[128];
	struct pc_yaml_stream *s;
	enum pc_scalar_kind k;

	snprintf(text, sizeof(text), "v: %s\n", value);
	s = parse_ok(text);
	k = pc_scalar_kind(pc_node_get(s->docs[0].root, "v"));
	pc_yaml_stream_free(s);
	return k;
}

START_TEST(scalar_resolution_is_yaml_1_1)
{
	ck_assert_int_eq(kind_of("~"), PC_SCALAR_NULL);
	ck_assert_int_eq(kind_of("null"), PC_SCALAR_NULL);
	ck_assert_int_eq(kind_of("yes"), PC_SCALAR_BOOL);
	ck_assert_int_eq(kind_of("Off"), PC_SCALAR_BOOL);
	ck_assert_int_eq(kind_of("n"), PC_SCALAR_BOOL);
	ck_assert_int_eq(kind_of("TRUE"), PC_SCALAR_BOOL);
	ck_assert_int_eq(kind_of("tRue"), PC_SCALAR_STR);
	ck_assert_int_eq(kind_of("3306"), PC_SCALAR_INT);
	ck_assert_int_eq(kind_of("-0x1F"), PC_SCALAR_INT);
	ck_assert_int_eq(kind_of("0o17"), PC_SCALAR_INT);
	ck_assert_int_eq(kind_of("1_000"), PC_SCALAR_INT);
	ck_assert_int_eq(kind_of("1.5"), PC_SCALAR_FLOAT);
	ck_assert_int_eq(kind_of("1e3"), PC_SCALAR_FLOAT);
	ck_assert_int_eq(kind_of(".inf"), PC_SCALAR_FLOAT);
	ck_assert_int_eq(kind_of("1.2.3.4"), PC_SCALAR_STR);
	ck_assert_int_eq(kind_of("10.0.0.0/8"), PC_SCALAR_STR);
	ck_assert_int_eq(kind_of("\"3306\""), PC_SCALAR_STR);
	ck_assert_int_eq(kind_of("'yes'"), PC_SCALAR_STR);
	ck_assert_int_eq(kind_of("!!str 5"), PC_SCALAR_STR);
	ck_assert_int_eq(kind_of("1h"), PC_SCALAR_STR);
	ck_assert_int_eq(kind_of("0777"), PC_SCALAR_INT);
	ck_assert_int_eq(kind_of("089"), PC_SCALAR_FLOAT); /* not octal; Go reads it as a float */
}
END_TEST

START_TEST(scalar_values)
{
	struct pc_yaml_stream *s = parse_ok("a: 0x10\nb: -017\nc: 1_000\nd: 99999999999999999999\n"
					    "e: 2.5\nf: yes\n");
	const struct pc_node *r = s->docs[0].root;
	long long v;
	double d;

	ck_assert(pc_scalar_int(pc_node_get(r, "a"), &v));
	ck_assert_int_eq(v, 16);
	ck_assert(pc_scalar_int(pc_node_get(r, "b"), &v));
	ck_assert_int_eq(v, -15);
	ck_assert(pc_scalar_int(pc_node_get(r, "c"), &v));
	ck_assert_int_eq(v, 1000);
	ck_assert(!pc_scalar_int(pc_node_get(r, "d"), &v));
	ck_assert(pc_scalar_float(pc_node_get(r, "e"), &d));
	ck_assert(d > 2.49 && d < 2.51);
	ck_assert(pc_scalar_bool(pc_node_get(r, "f")));
	ck_assert_str_eq(pc_node_kind_name(pc_node_get(r, "f")), "boolean");
	ck_assert_str_eq(pc_node_kind_name(r), "object");
	pc_yaml_stream_free(s);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("model.yaml");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, positions_are_one_based);
	tcase_add_test(tc, multi_document_and_empty_documents);
	tcase_add_test(tc, json_input);
	tcase_add_test(tc, aliases_share_and_merge_keys_apply);
	tcase_add_test(tc, merge_of_a_list_first_source_wins);
	tcase_add_test(tc, merge_of_a_scalar_is_an_error);
	tcase_add_test(tc, duplicate_keys_name_both_places);
	tcase_add_test(tc, duplicate_keys_in_big_maps);
	tcase_add_test(tc, complex_keys_rejected);
	tcase_add_test(tc, syntax_error_has_position);
	tcase_add_test(tc, invalid_utf8_and_nul_rejected);
	tcase_add_test(tc, depth_limit);
	tcase_add_test(tc, alias_bomb_is_bounded);
	tcase_add_test(tc, anchor_limit_and_unknown_anchor);
	tcase_add_test(tc, recursive_alias_rejected);
	tcase_add_test(tc, size_limit);
	tcase_add_test(tc, scalar_resolution_is_yaml_1_1);
	tcase_add_test(tc, scalar_values);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
