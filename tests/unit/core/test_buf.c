/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests for core/buf.c. */
#include <check.h>
#include <string.h>

#include "core/buf.h"

START_TEST(append_and_truncate)
{
	struct pc_buf b = PC_BUF_INIT;
	int i;

	ck_assert_str_eq(pc_buf_str(&b), "");
	pc_buf_adds(&b, "spec");
	pc_buf_addc(&b, '.');
	pc_buf_printf(&b, "ports[%d]", 0);
	ck_assert_str_eq(pc_buf_str(&b), "spec.ports[0]");
	pc_buf_truncate(&b, 4);
	ck_assert_str_eq(pc_buf_str(&b), "spec");
	pc_buf_truncate(&b, 40);
	ck_assert_uint_eq(b.len, 4);
	for (i = 0; i < 10000; i++)
		pc_buf_adds(&b, "x");
	ck_assert_uint_eq(b.len, 10004);
	ck_assert(!b.oom);
	pc_buf_clear(&b);
	ck_assert_str_eq(pc_buf_str(&b), "");
	pc_buf_release(&b);
}
END_TEST

START_TEST(json_strings_are_escaped)
{
	struct pc_buf b = PC_BUF_INIT;
	const char in[] = "a\"b\\c\n\t\x01\x7f" "d";

	pc_buf_add_json_str(&b, in, sizeof(in) - 1);
	ck_assert_str_eq(pc_buf_str(&b), "\"a\\\"b\\\\c\\n\\t\\u0001\\u007fd\"");
	pc_buf_release(&b);
}
END_TEST

/* C1 controls and bidi overrides are escaped, other non-ASCII is kept. */
START_TEST(json_strings_escape_terminal_controls)
{
	struct pc_buf b = PC_BUF_INIT;
	const char in[] = "e\xc2\x9b" "31m\xe2\x80\xae" "x\xc3\xa9\xe2\x80\xa8" "y\xff";

	pc_buf_add_json_str(&b, in, sizeof(in) - 1);
	ck_assert_str_eq(pc_buf_str(&b), "\"e\\u009b31m\\u202ex\xc3\xa9\\u2028y\\ufffd\"");
	pc_buf_release(&b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("core.buf");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, append_and_truncate);
	tcase_add_test(tc, json_strings_are_escaped);
	tcase_add_test(tc, json_strings_escape_terminal_controls);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
