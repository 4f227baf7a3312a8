/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for cli/term.c and cli/table.c: the one terminal sanitiser
 * (every mode, C0, DEL, C1 and invalid UTF-8; C1 in JSON text) and the one
 * tabwriter (kubectl's layout, widths kept between flushes, no trailing
 * blanks, lines cut to a width).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "cli/table.h"
#include "cli/term.h"
#include "core/buf.h"

static void check_safe(const char *in, size_t len, enum pc_term_mode mode, const char *want)
{
	char *got = pc_term_safe_mem(in, len, mode);

	ck_assert_str_eq(got, want);
	free(got);
}

#define SAFE(in, mode, want) check_safe(in, sizeof(in) - 1, mode, want)

START_TEST(printable_text_is_kept)
{
	SAFE("", PC_TERM_CELL, "");
	SAFE("mysql.example.com", PC_TERM_CELL, "mysql.example.com");
	SAFE("caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x90\xb1", PC_TERM_INLINE,
	     "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x90\xb1");
	SAFE("\xc2\xa0nbsp", PC_TERM_TEXT, "\xc2\xa0nbsp"); /* U+00A0: the first after C1 */
}
END_TEST

START_TEST(c0_and_del_are_replaced)
{
	SAFE("a\x1b[2Jb\x07\x7f", PC_TERM_CELL, "a?[2Jb??");
	SAFE("a\tb\x00"
	     "c",
	     PC_TERM_INLINE, "a?b?c");
}
END_TEST

START_TEST(c1_controls_are_replaced)
{
	/* U+009B (CSI), U+0085 (NEL), U+009D (OSC), U+0080 and U+009F: one '?' each */
	SAFE("evil\xc2\x9b"
	     "31m",
	     PC_TERM_CELL, "evil?31m");
	SAFE("\xc2\x85\xc2\x9d\xc2\x80\xc2\x9f", PC_TERM_TEXT, "????");
}
END_TEST

START_TEST(invalid_utf8_is_one_question_mark_per_byte)
{
	SAFE("x\x9b"
	     "31m",
	     PC_TERM_CELL, "x?31m");                     /* a raw C1 byte: a lone continuation */
	SAFE("\xc2", PC_TERM_CELL, "?");                 /* cut short */
	SAFE("\xc0\xaf", PC_TERM_CELL, "??");            /* overlong '/' */
	SAFE("\xed\xa0\x80", PC_TERM_CELL, "???");       /* a surrogate */
	SAFE("\xff\xc3\xa9", PC_TERM_CELL, "?\xc3\xa9"); /* the next valid character is kept */
}
END_TEST

START_TEST(modes_treat_line_breaks)
{
	SAFE("first\nsecond", PC_TERM_CELL, "first...");
	SAFE("first\rsecond", PC_TERM_CELL, "first...");
	SAFE("first\fsecond", PC_TERM_LINE, "first");
	SAFE("first\nsecond", PC_TERM_INLINE, "first?second");
	SAFE("first\n\tsecond\r", PC_TERM_TEXT, "first\n\tsecond?");
}
END_TEST

START_TEST(width_counts_code_points)
{
	ck_assert_uint_eq(pc_term_width(""), 0);
	ck_assert_uint_eq(pc_term_width("abc"), 3);
	ck_assert_uint_eq(pc_term_width("caf\xc3\xa9"), 4);
	ck_assert_uint_eq(pc_term_width("\xf0\x9f\x90\xb1"), 1);
}
END_TEST

START_TEST(json_c1_becomes_escapes)
{
	struct pc_buf b = PC_BUF_INIT;

	pc_buf_adds(&b, "{\"n\":\"evil\xc2\x9b"
			"31m\xc2\x85\",\"\xc3\xa9\xc2\xa0\":1}");
	pc_term_safe_json(&b);
	ck_assert_str_eq(pc_buf_str(&b),
			 "{\"n\":\"evil\\u009b31m\\u0085\",\"\xc3\xa9\xc2\xa0\":1}");
	pc_buf_clear(&b);
	pc_buf_adds(&b, "[\"plain\"]");
	pc_term_safe_json(&b);
	ck_assert_str_eq(pc_buf_str(&b), "[\"plain\"]");
	pc_buf_release(&b);
}
END_TEST

static char *print(const struct pc_table *t, size_t width)
{
	struct pc_buf out = PC_BUF_INIT;

	pc_table_print(t, &out, width);
	ck_assert(!out.oom);
	return out.p ? out.p : strdup("");
}

START_TEST(layout_is_kubectls)
{
	const char *head[] = { "NAME", "HOSTS", "AGE" };
	const char *row1[] = { "a-longer-name", "x", "5s" };
	const char *row2[] = { "evil\xc2\x9b"
			       "31m",
			       NULL, "" };
	struct pc_table t;
	char *s, *again;

	pc_table_init(&t, 3);
	pc_table_add(&t, head);
	pc_table_add(&t, row1);
	pc_table_add(&t, row2);
	s = print(&t, 0);
	/* min width 6, padding 3, last column unpadded, no trailing blanks */
	ck_assert_str_eq(s, "NAME            HOSTS    AGE\n"
			    "a-longer-name   x        5s\n"
			    "evil?31m        <none>\n");
	again = print(&t, 0); /* printing keeps the rows */
	ck_assert_str_eq(again, s);
	free(again);
	free(s);
	s = print(&t, 10); /* cut, then no trailing blanks */
	ck_assert_str_eq(s, "NAME\n"
			    "a-longer-n\n"
			    "evil?31m\n");
	free(s);
	pc_table_release(&t);
}
END_TEST

START_TEST(flush_keeps_widths)
{
	const char *wide[] = { "a-much-longer-name", "1" };
	const char *narrow[] = { "a", "2" };
	struct pc_buf out = PC_BUF_INIT;
	struct pc_table t;

	pc_table_init(&t, 2);
	pc_table_add(&t, narrow);
	pc_table_flush(&t, &out);
	ck_assert_str_eq(pc_buf_str(&out), "a     2\n");
	pc_buf_clear(&out);
	pc_table_add(&t, wide);
	pc_table_flush(&t, &out);
	pc_table_add(&t, narrow);
	pc_table_flush(&t, &out);
	ck_assert_str_eq(pc_buf_str(&out), "a-much-longer-name   1\n"
					   "a                    2\n");
	ck_assert_uint_eq(t.nrows, 0);
	pc_buf_release(&out);
	pc_table_release(&t);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cli.table");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, printable_text_is_kept);
	tcase_add_test(tc, c0_and_del_are_replaced);
	tcase_add_test(tc, c1_controls_are_replaced);
	tcase_add_test(tc, invalid_utf8_is_one_question_mark_per_byte);
	tcase_add_test(tc, modes_treat_line_breaks);
	tcase_add_test(tc, width_counts_code_points);
	tcase_add_test(tc, json_c1_becomes_escapes);
	tcase_add_test(tc, layout_is_kubectls);
	tcase_add_test(tc, flush_keeps_widths);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
