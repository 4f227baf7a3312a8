/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests for core/arena.c. */
#include <check.h>
#include <stdint.h>
#include <string.h>

#include "core/arena.h"

START_TEST(alloc_is_aligned_and_usable)
{
	struct pc_arena *a = pc_arena_new(256);
	size_t i;

	ck_assert_ptr_nonnull(a);
	for (i = 1; i < 200; i++) {
		unsigned char *p = pc_arena_alloc(a, i);

		ck_assert_ptr_nonnull(p);
		ck_assert_uint_eq((uintptr_t)p % _Alignof(max_align_t), 0);
		memset(p, 0xab, i);
	}
	pc_arena_free(a);
}
END_TEST

START_TEST(big_allocations_get_their_own_block)
{
	struct pc_arena *a = pc_arena_new(1024);
	char *small = pc_arena_alloc(a, 16), *big, *after;

	big = pc_arena_alloc(a, 100000);
	ck_assert_ptr_nonnull(big);
	memset(big, 1, 100000);
	after = pc_arena_alloc(a, 16);
	/* the small block keeps serving small requests */
	ck_assert_int_eq(after - small, 16);
	pc_arena_free(a);
}
END_TEST

START_TEST(strings_and_printf)
{
	struct pc_arena *a = pc_arena_new(256);

	ck_assert_str_eq(pc_arena_strdup(a, "mysql"), "mysql");
	ck_assert_str_eq(pc_arena_strndup(a, "mysql-external", 5), "mysql");
	ck_assert_str_eq(pc_arena_printf(a, "outbound|%d||%s", 3306, "db"), "outbound|3306||db");
	pc_arena_free(a);
}
END_TEST

START_TEST(limit_and_overflow)
{
	struct pc_arena *a = pc_arena_new(1024);
	int *z;

	pc_arena_set_limit(a, 4096);
	ck_assert_ptr_null(pc_arena_alloc(a, 8192));
	ck_assert_ptr_nonnull(pc_arena_alloc(a, 100));
	ck_assert_uint_le(pc_arena_size(a), 4096);
	ck_assert_ptr_null(pc_arena_calloc(a, SIZE_MAX / 2, 4));
	ck_assert_ptr_null(pc_arena_alloc(a, SIZE_MAX));
	z = pc_arena_calloc(a, 4, sizeof(*z));
	ck_assert_int_eq(z[0] | z[1] | z[2] | z[3], 0);
	pc_arena_free(a);
	pc_arena_free(NULL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("core.arena");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, alloc_is_aligned_and_usable);
	tcase_add_test(tc, big_allocations_get_their_own_block);
	tcase_add_test(tc, strings_and_printf);
	tcase_add_test(tc, limit_and_overflow);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
