/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for core/escape.c: which characters are never echoed raw, and
 * how each is spelled. The rest of the project (log lines, findings, JSON
 * replies) relies on exactly this list.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/escape.h"

/* <s> escaped, as a string the test frees with the buffer. */
static const char *esc(struct pc_buf *b, const char *s, size_t n)
{
	pc_buf_clear(b);
	pc_buf_add_esc(b, s, n);
	ck_assert(!b->oom);
	return pc_buf_str(b);
}

START_TEST(printable_text_is_unchanged)
{
	struct pc_buf b = PC_BUF_INIT;
	const char *s =
		"reviews.prod.svc.cluster.local \"q\" \\ caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80";

	ck_assert_str_eq(esc(&b, s, strlen(s)), s);
	ck_assert(!pc_esc_needed(s, strlen(s)));
	ck_assert_str_eq(esc(&b, "", 0), "");
	pc_buf_release(&b);
}
END_TEST

START_TEST(controls_are_escaped)
{
	struct pc_buf b = PC_BUF_INIT;

	/* C0 (the terminal's ESC [ 31 m), a NUL inside the length, DEL */
	ck_assert_str_eq(esc(&b, "a\x1b[31mb\x07\n", 9), "a\\x1b[31mb\\x07\\x0a");
	ck_assert_str_eq(esc(&b, "x\0y\x7f", 4), "x\\x00y\\x7f");
	/* C1 as UTF-8: U+0085 NEL, U+009B CSI */
	ck_assert_str_eq(esc(&b, "\xc2\x85\xc2\x9b", 4), "\\u0085\\u009b");
	/* U+00A0 is printable (a space), so it stays */
	ck_assert_str_eq(esc(&b, "\xc2\xa0", 2), "\xc2\xa0");
	pc_buf_release(&b);
}
END_TEST

START_TEST(bidi_and_invisible_are_escaped)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "\xe2\x80\xaa", "\\u202a" }, { "\xe2\x80\xab", "\\u202b" },
		{ "\xe2\x80\xac", "\\u202c" }, { "\xe2\x80\xad", "\\u202d" },
		{ "\xe2\x80\xae", "\\u202e" }, { "\xe2\x81\xa6", "\\u2066" },
		{ "\xe2\x81\xa7", "\\u2067" }, { "\xe2\x81\xa8", "\\u2068" },
		{ "\xe2\x81\xa9", "\\u2069" }, { "\xe2\x80\x8e", "\\u200e" },
		{ "\xe2\x80\x8f", "\\u200f" }, { "\xd8\x9c", "\\u061c" },
		{ "\xe2\x80\x8b", "\\u200b" }, { "\xe2\x80\xa8", "\\u2028" },
		{ "\xe2\x81\xa0", "\\u2060" }, { "\xef\xbb\xbf", "\\ufeff" },
		{ "\xc2\xad", "\\u00ad" },     { "\xf3\xa0\x80\x81", "\\U000e0001" },
	};
	struct pc_buf b = PC_BUF_INIT;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ck_assert_str_eq(esc(&b, cases[i].in, strlen(cases[i].in)), cases[i].out);
		ck_assert(pc_esc_needed(cases[i].in, strlen(cases[i].in)));
	}
	/* the neighbours are ordinary characters: U+2010 HYPHEN, U+202F, U+2070 */
	ck_assert_str_eq(esc(&b, "\xe2\x80\x90\xe2\x80\xaf\xe2\x81\xb0", 9),
			 "\xe2\x80\x90\xe2\x80\xaf\xe2\x81\xb0");
	/* "Trojan Source": the override shows as text, the rest is untouched */
	ck_assert_str_eq(esc(&b, "admin\xe2\x80\xae\xe2\x81\xa6 ok", 14), "admin\\u202e\\u2066 ok");
	pc_buf_release(&b);
}
END_TEST

START_TEST(invalid_utf8_is_escaped_byte_by_byte)
{
	struct pc_buf b = PC_BUF_INIT;

	ck_assert_str_eq(esc(&b,
			     "a\xff"
			     "b",
			     3),
			 "a\\xffb");
	/* overlong '/', a surrogate, a sequence cut short at the end */
	ck_assert_str_eq(esc(&b, "\xc0\xaf", 2), "\\xc0\\xaf");
	ck_assert_str_eq(esc(&b, "\xed\xa0\x80", 3), "\\xed\\xa0\\x80");
	ck_assert_str_eq(esc(&b, "ok\xe2\x80", 4), "ok\\xe2\\x80");
	/* an overlong U+202E is not UTF-8, and is not let through either */
	ck_assert_str_eq(esc(&b, "\xf0\x82\x80\xae", 4), "\\xf0\\x82\\x80\\xae");
	pc_buf_release(&b);
}
END_TEST

START_TEST(char_by_char)
{
	char out[PC_ESC_MAX];
	size_t adv;

	ck_assert_uint_eq(pc_esc_char("A", 1, &adv, out), 0);
	ck_assert_uint_eq(adv, 1);
	ck_assert_uint_eq(pc_esc_char("\xc3\xa9x", 3, &adv, out), 0);
	ck_assert_uint_eq(adv, 2);
	ck_assert_uint_eq(pc_esc_char("\xe2\x80\xae", 3, &adv, out), 6);
	ck_assert_uint_eq(adv, 3);
	ck_assert(memcmp(out, "\\u202e", 6) == 0);
	/* the length given is the bound: a sequence past it is not read */
	ck_assert_uint_eq(pc_esc_char("\xe2\x80\xae", 2, &adv, out), 4);
	ck_assert_uint_eq(adv, 1);
	ck_assert(pc_esc_unsafe_cp(0x202e) && pc_esc_unsafe_cp(0x9b) && pc_esc_unsafe_cp(0));
	ck_assert(!pc_esc_unsafe_cp(' ') && !pc_esc_unsafe_cp(0xe9) && !pc_esc_unsafe_cp(0x10ffff));
}
END_TEST

START_TEST(json_strings_use_the_same_list)
{
	struct pc_buf b = PC_BUF_INIT;

	/* the ones the JSON writer missed before: ALM, ZWSP, BOM, a tag character */
	pc_buf_add_json_str(&b, "\xd8\x9c\xe2\x80\x8b\xef\xbb\xbf\xf3\xa0\x80\x81", 12);
	ck_assert_str_eq(pc_buf_str(&b), "\"\\u061c\\u200b\\ufeff\\udb40\\udc01\"");
	pc_buf_release(&b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("core.escape");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, printable_text_is_unchanged);
	tcase_add_test(tc, controls_are_escaped);
	tcase_add_test(tc, bidi_and_invisible_are_escaped);
	tcase_add_test(tc, invalid_utf8_is_escaped_byte_by_byte);
	tcase_add_test(tc, char_by_char);
	tcase_add_test(tc, json_strings_use_the_same_list);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
