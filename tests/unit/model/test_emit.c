/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for model/emit.c: JSON typing as Kubernetes does it, exact
 * pretty/compact layouts, YAML quoting, the YAML round trip (over every
 * valid sample and a set of tricky scalars), and the metadata merge.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "model/emit.h"
#include "model/node.h"

#ifndef PC_TEST_DATA
#define PC_TEST_DATA "tests/data"
#endif

static struct pc_yaml_stream *parse(const char *text, size_t len)
{
	struct pc_yaml_stream *s = NULL;
	struct pc_err err;

	pc_err_clear(&err);
	ck_assert_msg(pc_yaml_parse(text, len, NULL, &s, &err) == 0, "parse failed: %s\n---\n%s",
		      err.msg, text);
	return s;
}

/* The JSON of the first document of <yaml>, or the negative errno as text. */
static char *json_of(const char *yaml, unsigned flags)
{
	struct pc_yaml_stream *s = parse(yaml, strlen(yaml));
	struct pc_buf b = PC_BUF_INIT;
	char *ret;
	int rc;

	rc = pc_emit_json(&b, s->docs[0].root, flags);
	if (rc)
		ck_assert_int_eq(asprintf(&ret, "error %d", rc) > 0, 1);
	else
		ret = strdup(pc_buf_str(&b));
	pc_buf_release(&b);
	pc_yaml_stream_free(s);
	return ret;
}

static char *yaml_of(const char *text)
{
	struct pc_yaml_stream *s = parse(text, strlen(text));
	struct pc_buf b = PC_BUF_INIT;
	char *ret;

	ck_assert_int_eq(pc_emit_yaml(&b, s->docs[0].root), 0);
	ret = strdup(pc_buf_str(&b));
	pc_buf_release(&b);
	pc_yaml_stream_free(s);
	return ret;
}

static void expect_json(const char *yaml, unsigned flags, const char *want)
{
	char *got = json_of(yaml, flags);

	ck_assert_msg(strcmp(got, want) == 0, "input %s\n got: %s\nwant: %s", yaml, got, want);
	free(got);
}

static void expect_yaml(const char *text, const char *want)
{
	char *got = yaml_of(text);

	ck_assert_msg(strcmp(got, want) == 0, "input %s\n got: [%s]\nwant: [%s]", text, got, want);
	free(got);
}

START_TEST(json_typing_is_kubernetes)
{
	static const char *const table[][2] = {
		{ "v: yes", "{\"v\":true}" },
		{ "v: No", "{\"v\":false}" },
		{ "v: ON", "{\"v\":true}" },
		{ "v: off", "{\"v\":false}" },
		{ "v: y", "{\"v\":true}" },
		{ "v: ~", "{\"v\":null}" },
		{ "v:", "{\"v\":null}" },
		{ "v: Null", "{\"v\":null}" },
		{ "v: 0x1F", "{\"v\":31}" },
		{ "v: 0777", "{\"v\":511}" },
		{ "v: 0o17", "{\"v\":15}" },
		{ "v: 0b101", "{\"v\":5}" },
		{ "v: 1_000", "{\"v\":1000}" },
		{ "v: -42", "{\"v\":-42}" },
		{ "v: +7", "{\"v\":7}" },
		{ "v: 1.5", "{\"v\":1.5}" },
		{ "v: 1.50", "{\"v\":1.5}" },
		{ "v: 2.0", "{\"v\":2}" },
		{ "v: 0.1", "{\"v\":0.1}" },
		{ "v: 1e3", "{\"v\":1000}" },
		{ "v: 1e21", "{\"v\":1e+21}" },
		{ "v: 1.5e-7", "{\"v\":1.5e-7}" },
		{ "v: 0.000001", "{\"v\":0.000001}" },
		{ "v: 1e20", "{\"v\":100000000000000000000}" },
		{ "v: -0.0", "{\"v\":-0}" },
		{ "v: .5", "{\"v\":0.5}" },
		{ "v: 9223372036854775807", "{\"v\":9223372036854775807}" },
		{ "v: 18446744073709551615", "{\"v\":18446744073709551615}" },
		{ "v: 99999999999999999999999", "{\"v\":1e+23}" },
		{ "v: 0x1FFFFFFFFFFFFFFFFF", "{\"v\":\"0x1FFFFFFFFFFFFFFFFF\"}" },
		{ "v: \"3306\"", "{\"v\":\"3306\"}" },
		{ "v: 'true'", "{\"v\":\"true\"}" },
		{ "v: !!str 5", "{\"v\":\"5\"}" },
		{ "v: !!str yes", "{\"v\":\"yes\"}" },
		{ "v: !!float 5", "{\"v\":5}" },
		{ "v: |\n  a\n  b\n", "{\"v\":\"a\\nb\\n\"}" },
		{ "v: >-\n  a\n  b\n", "{\"v\":\"a b\"}" },
		{ "v: 12\n", "{\"v\":12}" },
		{ "v: 1.2.3", "{\"v\":\"1.2.3\"}" },
		{ "v: 10.0.0.0/8", "{\"v\":\"10.0.0.0/8\"}" },
		{ "v: nope", "{\"v\":\"nope\"}" },
		{ "[]", "[]" },
		{ "{}", "{}" },
		{ "5", "5" },
	};
	size_t i;

	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		expect_json(table[i][0], 0, table[i][1]);
}
END_TEST

START_TEST(json_keys_become_strings)
{
	expect_json("yes: 1\n0x10: 2\n1.5: 3\n100000.0: 4\n1e6: 5\nfalse: 6\n", 0,
		    "{\"true\":1,\"16\":2,\"1.5\":3,\"100000\":4,\"1e+06\":5,\"false\":6}");
	expect_json(".inf: 1\n", 0, "{\".inf\":1}");
	expect_json("~: 1\n", 0, "error -22");
	expect_json("a:\n  null: 1\n", 0, "error -22");
}
END_TEST

START_TEST(json_escaping_and_utf8)
{
	expect_json("v: \"q\\\"b\\\\s\\n\\t\\x01\\x7f\"", 0,
		    "{\"v\":\"q\\\"b\\\\s\\n\\t\\u0001\\u007f\"}");
	expect_json("v: \"\\0\"", 0, "{\"v\":\"\\u0000\"}");
	expect_json("v: é€😀\n", 0, "{\"v\":\"é€😀\"}");
	expect_json("\"ключ\": \"\\u00e9\"", 0, "{\"ключ\":\"é\"}");
	expect_json("\"\\N\\L\\P\": \"a\\Nb\\Lc\\Pd\\N\"", 0,
		    "{\"\\u0085\\u2028\\u2029\":\"a\\u0085b\\u2028c\\u2029d\\u0085\"}");
}
END_TEST

/* Append <t> as a JSON string, through the emitter (it escapes NEL, LS, PS). */
static void add_str(struct pc_buf *doc, const char *t)
{
	struct pc_node n;

	memset(&n, 0, sizeof(n));
	n.type = PC_NODE_SCALAR;
	n.style = PC_STYLE_QUOTED;
	n.str = t;
	n.len = strlen(t);
	ck_assert_int_eq(pc_emit_json(doc, &n, 0), 0);
}

static const char nested[] = "kind: Pod\n"
			     "spec:\n"
			     "  ports: [80, {name: a, num: 1}]\n"
			     "  empty: {}\n"
			     "  none: []\n"
			     "  b: yes\n";

START_TEST(json_compact_and_pretty)
{
	expect_json(nested, 0,
		    "{\"kind\":\"Pod\",\"spec\":{\"ports\":[80,{\"name\":\"a\",\"num\":1}],"
		    "\"empty\":{},\"none\":[],\"b\":true}}");
	expect_json(nested, PC_EMIT_PRETTY,
		    "{\n"
		    "    \"kind\": \"Pod\",\n"
		    "    \"spec\": {\n"
		    "        \"ports\": [\n"
		    "            80,\n"
		    "            {\n"
		    "                \"name\": \"a\",\n"
		    "                \"num\": 1\n"
		    "            }\n"
		    "        ],\n"
		    "        \"empty\": {},\n"
		    "        \"none\": [],\n"
		    "        \"b\": true\n"
		    "    }\n"
		    "}");
}
END_TEST

START_TEST(json_sorted_keys)
{
	expect_json(nested, PC_EMIT_SORT_KEYS,
		    "{\"kind\":\"Pod\",\"spec\":{\"b\":true,\"empty\":{},\"none\":[],"
		    "\"ports\":[80,{\"name\":\"a\",\"num\":1}]}}");
	expect_json("b: 1\nB: 2\na: 3\nab: 4\n\"\": 5\n", PC_EMIT_SORT_KEYS,
		    "{\"\":5,\"B\":2,\"a\":3,\"ab\":4,\"b\":1}");
	expect_json("b: 1\na: 2\n", PC_EMIT_SORT_KEYS | PC_EMIT_PRETTY,
		    "{\n    \"a\": 2,\n    \"b\": 1\n}");
	/* two spellings of one JSON key */
	expect_json("1: a\n0x1: b\n", PC_EMIT_SORT_KEYS, "error -22");
}
END_TEST

START_TEST(json_rejects_inf_and_nan_and_keeps_buffer)
{
	static const char *const bad[] = { "v: .inf",      "v: -.Inf",        "v: .nan",
					   "v: [1, .NaN]", "v: !!float .inf", "v: 1e400" };
	struct pc_yaml_stream *s;
	struct pc_buf b = PC_BUF_INIT;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		s = parse(bad[i], strlen(bad[i]));
		pc_buf_clear(&b);
		pc_buf_adds(&b, "keep");
		ck_assert_int_eq(pc_emit_json(&b, s->docs[0].root, PC_EMIT_PRETTY), -EINVAL);
		ck_assert_str_eq(pc_buf_str(&b), "keep");
		ck_assert_int_eq(pc_emit_yaml(&b, s->docs[0].root), -EINVAL);
		ck_assert_str_eq(pc_buf_str(&b), "keep");
		pc_yaml_stream_free(s);
	}
	pc_buf_release(&b);
	expect_json("v: '.inf'", 0, "{\"v\":\".inf\"}");
}
END_TEST

START_TEST(yaml_quoting_table)
{
	/* JSON input: every value is a string; want is the whole YAML document */
	static const char *const table[][2] = {
		{ "{\"v\": \"plain text\"}", "v: plain text\n" },
		{ "{\"v\": \"3306\"}", "v: \"3306\"\n" },
		{ "{\"v\": \"yes\"}", "v: \"yes\"\n" },
		{ "{\"v\": \"Off\"}", "v: \"Off\"\n" },
		{ "{\"v\": \"~\"}", "v: \"~\"\n" },
		{ "{\"v\": \"null\"}", "v: \"null\"\n" },
		{ "{\"v\": \"\"}", "v: \"\"\n" },
		{ "{\"v\": \"0x1F\"}", "v: \"0x1F\"\n" },
		{ "{\"v\": \"1_000\"}", "v: \"1_000\"\n" },
		{ "{\"v\": \"1.5\"}", "v: \"1.5\"\n" },
		{ "{\"v\": \"1e3\"}", "v: \"1e3\"\n" },
		{ "{\"v\": \".inf\"}", "v: \".inf\"\n" },
		{ "{\"v\": \" lead\"}", "v: ' lead'\n" },
		{ "{\"v\": \"trail \"}", "v: 'trail '\n" },
		{ "{\"v\": \"-dash\"}", "v: '-dash'\n" },
		{ "{\"v\": \"*.example.com\"}", "v: '*.example.com'\n" },
		{ "{\"v\": \"&a\"}", "v: '&a'\n" },
		{ "{\"v\": \"!tag\"}", "v: '!tag'\n" },
		{ "{\"v\": \"@x\"}", "v: '@x'\n" },
		{ "{\"v\": \"`x\"}", "v: '`x'\n" },
		{ "{\"v\": \"%x\"}", "v: '%x'\n" },
		{ "{\"v\": \"{a}\"}", "v: '{a}'\n" },
		{ "{\"v\": \"[a]\"}", "v: '[a]'\n" },
		{ "{\"v\": \"#c\"}", "v: '#c'\n" },
		{ "{\"v\": \"|\"}", "v: '|'\n" },
		{ "{\"v\": \">\"}", "v: '>'\n" },
		{ "{\"v\": \"a: b\"}", "v: 'a: b'\n" },
		{ "{\"v\": \"a #b\"}", "v: 'a #b'\n" },
		{ "{\"v\": \"key:\"}", "v: 'key:'\n" },
		{ "{\"v\": \"it's\"}", "v: it's\n" },
		{ "{\"v\": \"'q'\"}", "v: '''q'''\n" },
		{ "{\"v\": \"\\\"q\\\"\"}", "v: '\"q\"'\n" },
		{ "{\"v\": \"a\\nb\"}", "v: \"a\\nb\"\n" },
		{ "{\"v\": \"tab\\there\"}", "v: \"tab\\there\"\n" },
		{ "{\"v\": \"nul\\u0000\\u0001\\u007f\\u0085\\u2028\"}",
		  "v: \"nul\\0\\x01\\x7F\\N\\L\"\n" },
		{ "{\"v\": \"bs\\\\ \\\"q\\n\"}", "v: \"bs\\\\ \\\"q\\n\"\n" },
		{ "{\"v\": \"http://x:80/a#b\"}", "v: http://x:80/a#b\n" },
		{ "{\"v\": \"é€😀\"}", "v: é€😀\n" },
		/* bidi and invisible characters are escaped, so `get -o yaml` shows them */
		{ "{\"v\": \"a\xe2\x80\xae_b\xe2\x81\xa6\xe2\x80\x8b\xf3\xa0\x80\x81\"}",
		  "v: \"a\\u202E_b\\u2066\\u200B\\U000E0001\"\n" },
		{ "{\"v\": \"<<\"}", "v: \"<<\"\n" },
		{ "{\"<<\": 1}", "\"<<\": 1\n" },
		{ "{\"yes\": 1, \"1\": 2}", "\"yes\": 1\n\"1\": 2\n" },
		{ "\"...\"", "'...'\n" },
		{ "{\"t\": \"2001-12-14\", \"u\": \"2001-1-2x\", \"w\": \"201-12-14\"}",
		  "t: \"2001-12-14\"\nu: \"2001-1-2x\"\nw: 201-12-14\n" },
		{ "\"--- x\"", "'--- x'\n" },
	};
	size_t i;

	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		expect_yaml(table[i][0], table[i][1]);
}
END_TEST

START_TEST(yaml_layout_is_kubectl)
{
	expect_yaml("apiVersion: v1\n"
		    "kind: X\n"
		    "spec:\n"
		    "  hosts: [a, b]\n"
		    "  ports:\n"
		    "  - {number: 3306, name: mysql, tags: [x], meta: {k: v}}\n"
		    "  - []\n"
		    "  - {}\n"
		    "  - [[1, 2], 3]\n"
		    "  empty: {}\n"
		    "  none: []\n"
		    "  num: 0x10\n"
		    "  f: 2.50\n"
		    "  t: on\n"
		    "  z: ~\n",
		    "apiVersion: v1\n"
		    "kind: X\n"
		    "spec:\n"
		    "  hosts:\n"
		    "  - a\n"
		    "  - b\n"
		    "  ports:\n"
		    "  - number: 3306\n"
		    "    name: mysql\n"
		    "    tags:\n"
		    "    - x\n"
		    "    meta:\n"
		    "      k: v\n"
		    "  - []\n"
		    "  - {}\n"
		    "  - - - 1\n"
		    "      - 2\n"
		    "    - 3\n"
		    "  empty: {}\n"
		    "  none: []\n"
		    "  num: 16\n"
		    "  f: 2.5\n"
		    "  t: true\n"
		    "  z: null\n");
	expect_yaml("[]", "[]\n");
	expect_yaml("{}", "{}\n");
	expect_yaml("'yes'", "\"yes\"\n");
	expect_yaml("- -0.0\n- 1e21\n", "- -0.0\n- 1e+21\n");
}
END_TEST

/* Canonical JSON of every document of <text> into <out>, one per line. */
static void canon_all(const char *text, size_t len, struct pc_buf *out)
{
	struct pc_yaml_stream *s = parse(text, len);
	size_t i;

	for (i = 0; i < s->ndocs; i++) {
		ck_assert_int_eq(pc_emit_json(out, s->docs[i].root, PC_EMIT_SORT_KEYS), 0);
		pc_buf_addc(out, '\n');
	}
	pc_yaml_stream_free(s);
}

/*
 * YAML -> canonical JSON must equal YAML -> emit YAML -> parse ->
 * canonical JSON, and the same through pretty JSON (JSON is YAML).
 */
static void round_trip_json(const char *text, size_t len, bool json)
{
	struct pc_buf j1 = PC_BUF_INIT, y = PC_BUF_INIT, p = PC_BUF_INIT, j2 = PC_BUF_INIT,
		      j3 = PC_BUF_INIT;
	struct pc_yaml_stream *s = parse(text, len);
	size_t i;

	for (i = 0; i < s->ndocs; i++) {
		pc_buf_clear(&y);
		pc_buf_clear(&p);
		ck_assert_int_eq(pc_emit_json(&j1, s->docs[i].root, PC_EMIT_SORT_KEYS), 0);
		pc_buf_addc(&j1, '\n');
		ck_assert_int_eq(pc_emit_yaml(&y, s->docs[i].root), 0);
		canon_all(y.p, y.len, &j2);
		ck_assert_int_eq(pc_emit_json(&p, s->docs[i].root, PC_EMIT_PRETTY), 0);
		if (json)
			canon_all(p.p, p.len, &j3);
	}
	ck_assert_msg(strcmp(pc_buf_str(&j1), pc_buf_str(&j2)) == 0,
		      "YAML round trip differs\ninput:\n%s\nyaml:\n%s\nbefore: %s\nafter:  %s",
		      text, pc_buf_str(&y), pc_buf_str(&j1), pc_buf_str(&j2));
	if (json)
		ck_assert_str_eq(pc_buf_str(&j1), pc_buf_str(&j3));
	pc_yaml_stream_free(s);
	pc_buf_release(&j1);
	pc_buf_release(&j2);
	pc_buf_release(&j3);
	pc_buf_release(&y);
	pc_buf_release(&p);
}

static void round_trip(const char *text, size_t len)
{
	round_trip_json(text, len, true);
}

static char *slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "re");
	char *p;
	long n;

	ck_assert_msg(fp != NULL, "cannot open %s", path);
	ck_assert_int_eq(fseek(fp, 0, SEEK_END), 0);
	n = ftell(fp);
	ck_assert_int_ge(n, 0);
	rewind(fp);
	p = malloc((size_t)n + 1);
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(fread(p, 1, (size_t)n, fp), (size_t)n);
	p[n] = '\0';
	fclose(fp);
	*len = (size_t)n;
	return p;
}

START_TEST(round_trip_valid_samples)
{
	DIR *d = opendir(PC_TEST_DATA "/valid");
	struct dirent *de;
	char path[4096];
	size_t len, n = 0;
	char *text;

	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL) {
		if (!strstr(de->d_name, ".yaml"))
			continue;
		snprintf(path, sizeof(path), "%s/valid/%s", PC_TEST_DATA, de->d_name);
		text = slurp(path, &len);
		round_trip(text, len);
		free(text);
		n++;
	}
	closedir(d);
	ck_assert_uint_ge(n, 5);
}
END_TEST

/* Strings that tempt a YAML emitter; each is used as a value, a key and a list item. */
/* Packed by hand; one entry per line would take 120 lines. */
/* clang-format off */
static const char *const tricky[] = {
	"", " ", "  a", "a ", "~", "null", "NULL", "Null", "true", "True", "yes", "Yes", "no",
	"NO", "on", "off", "y", "n", "Y", "N", "0", "-0", "+1", "007", "0777", "0x1F", "0o17",
	"0b11", "1_000", "_1", "1_", "1.5", "1.", ".5", "1e3", "1E-3", "-1.5e+10", ".inf",
	"-.Inf", ".nan", ".NaN", "1.2.3", "10.0.0.0/8", "::1", "[::1]:80", "a: b", "a:b", "a:",
	":a", "a #b", "a#b", "#a", "- a", "-a", "-", "--", "---", "--- a", "...", "... a",
	"?", "? a", "?a", ",a", "a,b", "[a", "]", "{a", "}", "&a", "*a", "!a", "!!str", "|",
	"|-", ">", "'", "''", "\"", "%a", "@a", "`a", "<<", "=", "a\nb", "a\n", "\n", "a\r\nb",
	"\t", "a\tb", "a\\b", "\\", "é", "日本語", "😀", "\xc2\x85", "\xe2\x80\xa8",
	"\xef\xbb\xbf", "\x7f", "\x01", "\x1b[0m", "it's", "say \"hi\"", "a  b", "a : b",
	"a :b", "http://example.com:8080/a?b=c#d", "key: value # comment", "0.0.0.0", "1:2",
	"190:20:30", "1_2:3", "2001-12-14", "2001-12-14t21:59:43.10-05:00", "0.", "+.inf",
	"12e", "e12", "0x", "0xG", "9223372036854775808", "-9223372036854775809",
	"18446744073709551616", "0xFFFFFFFFFFFFFFFFFF", "a\xc2\x85\x62", "x\xe2\x80\xa9",
};
/* clang-format on */

START_TEST(round_trip_tricky_strings)
{
	struct pc_buf doc = PC_BUF_INIT;
	size_t i;

	for (i = 0; i < sizeof(tricky) / sizeof(tricky[0]); i++) {
		const char *t = tricky[i];

		pc_buf_clear(&doc);
		pc_buf_adds(&doc, "{\"v\": ");
		add_str(&doc, t);
		pc_buf_adds(&doc, ", \"l\": [");
		add_str(&doc, t);
		pc_buf_adds(&doc, ", {\"in\": ");
		add_str(&doc, t);
		pc_buf_adds(&doc, "}], ");
		add_str(&doc, t);
		pc_buf_adds(&doc, ": [{");
		add_str(&doc, t);
		pc_buf_adds(&doc, ": 1}]}");
		round_trip(doc.p, doc.len);
		/* the root scalar alone */
		pc_buf_clear(&doc);
		add_str(&doc, t);
		round_trip(doc.p, doc.len);
	}
	pc_buf_release(&doc);
}
END_TEST

START_TEST(round_trip_tricky_plain_scalars)
{
	/* typed values: each is written plain, so the YAML typing applies */
	struct pc_buf doc = PC_BUF_INIT;
	size_t i;

	for (i = 0; i < sizeof(tricky) / sizeof(tricky[0]); i++) {
		struct pc_yaml_stream *s = NULL;
		struct pc_err err;
		struct pc_buf j = PC_BUF_INIT;

		pc_buf_clear(&doc);
		pc_buf_printf(&doc, "v: %s\n", tricky[i]);
		if (pc_yaml_parse(doc.p, doc.len, NULL, &s, &err) == 0) {
			/* skip what JSON cannot hold (.inf) */
			if (pc_emit_json(&j, s->docs[0].root, 0) == 0)
				round_trip(doc.p, doc.len);
			pc_yaml_stream_free(s);
		}
		pc_buf_release(&j);
	}
	pc_buf_release(&doc);
}
END_TEST

START_TEST(round_trip_long_key)
{
	struct pc_buf doc = PC_BUF_INIT, y = PC_BUF_INIT;
	struct pc_yaml_stream *s;
	size_t i;

	/* libyaml takes no simple key over 1024 characters, so the input needs "? " too */
	pc_buf_adds(&doc, "? ");
	for (i = 0; i < 1500; i++)
		pc_buf_addc(&doc, (char)('a' + i % 26));
	pc_buf_adds(&doc, "\n: {x: [1]}\nl:\n- ? \"");
	for (i = 0; i < 1100; i++)
		pc_buf_addc(&doc, '\'');
	pc_buf_adds(&doc, "\"\n  : 2\n");
	round_trip_json(doc.p, doc.len, false); /* JSON has no long keys for libyaml */
	s = parse(doc.p, doc.len);
	ck_assert_int_eq(pc_emit_yaml(&y, s->docs[0].root), 0);
	ck_assert_int_eq(strncmp(y.p, "? abc", 5), 0);
	ck_assert_ptr_nonnull(strstr(y.p, "\n:\n  x:\n  - 1\nl:\n- ? '''"));
	pc_yaml_stream_free(s);
	pc_buf_release(&y);
	pc_buf_release(&doc);
}
END_TEST

static const char obj[] = "apiVersion: networking.istio.io/v1\n"
			  "kind: ServiceEntry\n"
			  "metadata:\n"
			  "  name: db\n"
			  "  uid: client-set\n"
			  "  labels: {app: db}\n"
			  "  generation: 99\n"
			  "spec:\n"
			  "  hosts: [db.example]\n"
			  "status:\n"
			  "  x: 1\n";

static char *with_meta(const char *text, const struct pc_emit_meta *m, bool yaml, int *rc)
{
	struct pc_yaml_stream *s = parse(text, strlen(text));
	struct pc_buf b = PC_BUF_INIT;
	char *ret;

	*rc = yaml ? pc_emit_yaml_with_meta(&b, s->docs[0].root, m)
		   : pc_emit_json_with_meta(&b, s->docs[0].root, m, 0);
	ret = strdup(pc_buf_str(&b));
	pc_buf_release(&b);
	pc_yaml_stream_free(s);
	return ret;
}

/* strip: what the client sent in server-set fields is dropped, not kept or replaced. */
START_TEST(metadata_strip)
{
	struct pc_emit_meta m = { .namespace = "default", .strip = true };
	char *got;
	int rc;

	got = with_meta(obj, &m, false, &rc);
	ck_assert_int_eq(rc, 0);
	ck_assert_str_eq(got,
			 "{\"apiVersion\":\"networking.istio.io/v1\",\"kind\":\"ServiceEntry\","
			 "\"metadata\":{\"name\":\"db\",\"labels\":{\"app\":\"db\"},"
			 "\"namespace\":\"default\"},\"spec\":{\"hosts\":[\"db.example\"]}}");
	free(got);
	m.uid = "u-1";
	got = with_meta(obj, &m, false, &rc);
	ck_assert_int_eq(rc, 0);
	ck_assert_ptr_nonnull(strstr(got, "\"labels\":{\"app\":\"db\"},\"namespace\":\"default\","
					  "\"uid\":\"u-1\"}"));
	ck_assert_ptr_null(strstr(got, "client-set"));
	free(got);
}
END_TEST

START_TEST(metadata_merge)
{
	struct pc_emit_meta m = { .uid = "6f1c-42",
				  .resource_version = "1234",
				  .generation = 3,
				  .creation_timestamp = "2024-05-01T10:00:00Z",
				  .namespace = "default" };
	char *got;
	int rc;

	got = with_meta(obj, &m, false, &rc);
	ck_assert_int_eq(rc, 0);
	ck_assert_str_eq(got,
			 "{\"apiVersion\":\"networking.istio.io/v1\",\"kind\":\"ServiceEntry\","
			 "\"metadata\":{\"name\":\"db\",\"uid\":\"6f1c-42\",\"labels\":{\"app\":"
			 "\"db\"},\"generation\":3,\"namespace\":\"default\","
			 "\"resourceVersion\":\"1234\",\"creationTimestamp\":"
			 "\"2024-05-01T10:00:00Z\"},\"spec\":{\"hosts\":[\"db.example\"]}}");
	free(got);

	got = with_meta(obj, &m, true, &rc);
	ck_assert_int_eq(rc, 0);
	ck_assert_str_eq(got, "apiVersion: networking.istio.io/v1\n"
			      "kind: ServiceEntry\n"
			      "metadata:\n"
			      "  name: db\n"
			      "  uid: 6f1c-42\n"
			      "  labels:\n"
			      "    app: db\n"
			      "  generation: 3\n"
			      "  namespace: default\n"
			      "  resourceVersion: \"1234\"\n"
			      "  creationTimestamp: \"2024-05-01T10:00:00Z\"\n"
			      "spec:\n"
			      "  hosts:\n"
			      "  - db.example\n");
	free(got);
}
END_TEST

START_TEST(metadata_created_and_namespace_kept)
{
	struct pc_emit_meta m = { .resource_version = "7", .namespace = "default" };
	char *got;
	int rc;

	/* no metadata: created after apiVersion/kind; unset fields left out */
	got = with_meta("kind: X\napiVersion: v1\nspec: {a: 1}\nstatus: {}\n", &m, false, &rc);
	ck_assert_int_eq(rc, 0);
	ck_assert_str_eq(got, "{\"kind\":\"X\",\"apiVersion\":\"v1\",\"metadata\":{\"namespace\":"
			      "\"default\",\"resourceVersion\":\"7\"},\"spec\":{\"a\":1}}");
	free(got);

	got = with_meta("metadata:\nspec: 1\n", &m, false, &rc);
	ck_assert_int_eq(rc, 0);
	ck_assert_str_eq(got, "{\"metadata\":{\"namespace\":\"default\",\"resourceVersion\":\"7\"},"
			      "\"spec\":1}");
	free(got);

	got = with_meta("metadata: {namespace: shop, resourceVersion: 1}\n", &m, false, &rc);
	ck_assert_int_eq(rc, 0);
	ck_assert_str_eq(got, "{\"metadata\":{\"namespace\":\"shop\",\"resourceVersion\":\"7\"}}");
	free(got);

	got = with_meta("metadata: 5\n", &m, false, &rc);
	ck_assert_int_eq(rc, -EINVAL);
	ck_assert_str_eq(got, "");
	free(got);
	got = with_meta("[1]", &m, true, &rc);
	ck_assert_int_eq(rc, -EINVAL);
	free(got);
}
END_TEST

/*
 * Every allocation failure gives -ENOMEM and the buffer as it was (only
 * effective in builds with PC_FAIL_ALLOC; elsewhere one clean pass).
 */
START_TEST(allocation_failures_are_clean)
{
	struct pc_emit_meta m = { .uid = "u", .generation = 2 };
	struct pc_yaml_stream *s = parse(obj, strlen(obj));
	long n;
	int injected = 1, rc;

	for (n = 1; injected && n < 10000; n++) {
		struct pc_buf b = PC_BUF_INIT;

		pc_buf_adds(&b, "keep");
		pc_alloc_fail_at(n);
		rc = pc_emit_json_with_meta(&b, s->docs[0].root, &m, PC_EMIT_SORT_KEYS);
		if (!rc)
			rc = pc_emit_yaml_with_meta(&b, s->docs[0].root, &m);
		injected = pc_alloc_injected();
		pc_alloc_fail_at(0);
		if (injected) {
			ck_assert_int_eq(rc, -ENOMEM);
			if (b.p) /* NULL when adding "keep" was what failed */
				ck_assert_int_eq(strncmp(b.p, "keep", 4), 0);
		}
		pc_buf_release(&b);
	}
	ck_assert(!injected);
	pc_yaml_stream_free(s);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("model.emit");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, json_typing_is_kubernetes);
	tcase_add_test(tc, json_keys_become_strings);
	tcase_add_test(tc, json_escaping_and_utf8);
	tcase_add_test(tc, json_compact_and_pretty);
	tcase_add_test(tc, json_sorted_keys);
	tcase_add_test(tc, json_rejects_inf_and_nan_and_keeps_buffer);
	tcase_add_test(tc, yaml_quoting_table);
	tcase_add_test(tc, yaml_layout_is_kubectl);
	tcase_add_test(tc, round_trip_valid_samples);
	tcase_add_test(tc, round_trip_tricky_strings);
	tcase_add_test(tc, round_trip_tricky_plain_scalars);
	tcase_add_test(tc, round_trip_long_key);
	tcase_add_test(tc, metadata_merge);
	tcase_add_test(tc, metadata_strip);
	tcase_add_test(tc, metadata_created_and_namespace_kept);
	tcase_add_test(tc, allocation_failures_are_clean);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
