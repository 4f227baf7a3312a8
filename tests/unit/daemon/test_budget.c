/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for daemon/budget.c: the limit in all and per client, the
 * reason given when refused, the bounded wait for room, and giving back.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "daemon/budget.h"

START_TEST(refuses_over_the_limit_with_its_reason)
{
	struct pc_budget b;
	char why[128];
	int i;

	pc_budget_init(&b, "watches", "watches", 4, 0, 0, 0);
	for (i = 0; i < 4; i++)
		ck_assert_int_eq(pc_budget_take(&b, "uid 0", 1, why, sizeof(why)), 0);
	ck_assert_int_eq(pc_budget_take(&b, "uid 0", 1, why, sizeof(why)), -EBUSY);
	ck_assert_str_eq(why, "too many watches: 4 open, limit 4");
	pc_budget_give(&b, "uid 0", 1);
	ck_assert_int_eq(pc_budget_take(&b, "uid 0", 1, why, sizeof(why)), 0);
	pc_budget_destroy(&b);
}
END_TEST

START_TEST(one_client_cannot_take_everything)
{
	struct pc_budget b;
	uint64_t used, refused;
	char why[128];

	pc_budget_init(&b, "watches", "watches", 4, 2, 0, 0);
	ck_assert_int_eq(pc_budget_take(&b, "uid 1000", 1, why, sizeof(why)), 0);
	ck_assert_int_eq(pc_budget_take(&b, "uid 1000", 1, why, sizeof(why)), 0);
	ck_assert_int_eq(pc_budget_take(&b, "uid 1000", 1, why, sizeof(why)), -EUSERS);
	ck_assert_str_eq(why, "too many watches for uid 1000: 2 open, limit 2");
	ck_assert_int_eq(pc_budget_take(&b, "uid 0", 1, why, sizeof(why)), 0);
	ck_assert_int_eq(pc_budget_take(&b, "uid 0", 1, why, sizeof(why)), 0);
	ck_assert_int_eq(pc_budget_take(&b, "uid 2", 1, why, sizeof(why)), -EBUSY);
	pc_budget_give(&b, "uid 1000", 2);
	ck_assert_int_eq(pc_budget_take(&b, "uid 1000", 1, why, sizeof(why)), 0);
	pc_budget_read(&b, &used, &refused);
	ck_assert_uint_eq(used, 3);
	ck_assert_uint_eq(refused, 2);
	pc_budget_destroy(&b);
}
END_TEST

START_TEST(refuses_what_could_never_fit)
{
	struct pc_budget b;
	char why[128];

	pc_budget_init(&b, "upload_bytes", "bytes of uploads in flight", 100, 0, 1000, 4);
	ck_assert_int_eq(pc_budget_take(&b, "x", 101, why, sizeof(why)), -E2BIG);
	ck_assert_ptr_nonnull(strstr(why, "limit 100"));
	pc_budget_destroy(&b);
}
END_TEST

static void *give_later(void *arg)
{
	struct pc_budget *b = arg;

	usleep(100 * 1000);
	pc_budget_give(b, "a", 60);
	return NULL;
}

START_TEST(waits_for_room_then_gives_up)
{
	struct pc_budget b;
	pthread_t t;
	char why[128];

	pc_budget_init(&b, "upload_bytes", "bytes of uploads in flight", 100, 0, 5000, 4);
	ck_assert_int_eq(pc_budget_take(&b, "a", 60, why, sizeof(why)), 0);
	ck_assert_int_eq(pthread_create(&t, NULL, give_later, &b), 0);
	ck_assert_int_eq(pc_budget_take(&b, "b", 60, why, sizeof(why)), 0); /* after the give */
	pthread_join(t, NULL);
	b.wait_ms = 50;
	ck_assert_int_eq(pc_budget_take(&b, "c", 60, why, sizeof(why)), -EBUSY);
	ck_assert_str_eq(why, "too many bytes of uploads in flight: 60 open, limit 100");
	b.max_waiters = 0; /* no waiting room: refused at once */
	b.wait_ms = 60000;
	ck_assert_int_eq(pc_budget_take(&b, "c", 60, why, sizeof(why)), -EBUSY);
	pc_budget_destroy(&b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("daemon.budget");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, refuses_over_the_limit_with_its_reason);
	tcase_add_test(tc, one_client_cannot_take_everything);
	tcase_add_test(tc, refuses_what_could_never_fit);
	tcase_add_test(tc, waits_for_room_then_gives_up);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
