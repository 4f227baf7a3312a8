/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for cli/term.c: what a hostile server's names become on the
 * user's terminal. The cases of the C0/C1 rules are in tests/cli; these are
 * the bidi and invisible characters of core/escape.h.
 */
#include <check.h>
#include <stdlib.h>

#include "cli/term.h"

static void expect(const char *in, enum pc_term_mode mode, const char *want)
{
	char *got = pc_term_safe(in, mode);

	ck_assert_str_eq(got, want);
	free(got);
}

START_TEST(bidi_and_invisible_become_question_marks)
{
	/* "Trojan Source" in a table cell: the override would reverse what follows it */
	expect("db\xe2\x80\xae"
	       "elbat",
	       PC_TERM_CELL, "db?elbat");
	expect("\xe2\x81\xa6x\xe2\x81\xa9\xd8\x9c\xe2\x80\x8f\xe2\x80\x8b\xef\xbb\xbf",
	       PC_TERM_LINE, "?x?????");
	/* one '?' per character, so the width a table computes stays right */
	ck_assert_uint_eq(pc_term_width("?x?"), 3);
	/* printable text of any script is kept */
	expect("caf\xc3\xa9 \xe2\x82\xac \xd8\xa7", PC_TERM_TEXT,
	       "caf\xc3\xa9 \xe2\x82\xac \xd8\xa7");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cli.term");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, bidi_and_invisible_become_question_marks);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
