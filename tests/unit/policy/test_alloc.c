/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests for policy/alloc.c: the table of auto-allocated addresses. */
#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/alloc.h"
#include "net/addr.h"
#include "policy/alloc.h"

static struct pc_addr addr(const char *s)
{
	struct pc_addr a;

	ck_assert_int_eq(pc_addr_parse(s, &a), 0);
	return a;
}

static const char *str(const struct pc_addr *a, char *buf)
{
	return a->family ? pc_addr_str(a, buf) : "none";
}

/* Choose addresses for <name> and insert them; returns the new entry. */
static const struct pc_alloc *add(struct pc_alloc_table *t, const char *name)
{
	struct pc_alloc a = { .name = name, .created = 1, .last_used = 1 };

	ck_assert_int_eq(pc_alloc_choose(t, name, &a.v4, &a.v6), 0);
	ck_assert_int_eq(pc_alloc_insert(t, &a), 0);
	return pc_alloc_by_name(t, name);
}

static int insert(struct pc_alloc_table *t, const char *name, const char *v4, const char *v6)
{
	struct pc_alloc a = { .name = name };

	if (v4)
		a.v4 = addr(v4);
	if (v6)
		a.v6 = addr(v6);
	return pc_alloc_insert(t, &a);
}

/*
 * A batch the store refused is undone: its names and addresses are free
 * again, older entries stay, and the same batch again gets the same
 * addresses (across an index rebuild in the middle of the batch too).
 */
START_TEST(truncate_undoes_a_batch)
{
	struct pc_alloc_table *t = pc_alloc_table_new();
	struct pc_addr v4s[200], v6s[200];
	char name[64], b1[PC_ADDR_STRLEN], b2[PC_ADDR_STRLEN];
	const struct pc_alloc *a;
	int i, round;

	for (i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "old%d.example", i);
		ck_assert_ptr_nonnull(add(t, name));
	}
	for (round = 0; round < 2; round++) {
		for (i = 0; i < 200; i++) {
			snprintf(name, sizeof(name), "new%d.example", i);
			a = add(t, name);
			ck_assert_ptr_nonnull(a);
			if (round == 0) {
				v4s[i] = a->v4;
				v6s[i] = a->v6;
			} else {
				ck_assert_str_eq(pc_addr_str(&a->v4, b1), pc_addr_str(&v4s[i], b2));
				ck_assert_str_eq(pc_addr_str(&a->v6, b1), pc_addr_str(&v6s[i], b2));
			}
		}
		if (round == 1)
			break;
		pc_alloc_truncate(t, 40);
		ck_assert_uint_eq(pc_alloc_count(t), 40);
		for (i = 0; i < 200; i++) {
			snprintf(name, sizeof(name), "new%d.example", i);
			ck_assert_ptr_null(pc_alloc_by_name(t, name));
			ck_assert_ptr_null(pc_alloc_by_addr(t, &v4s[i]));
			ck_assert_ptr_null(pc_alloc_by_addr(t, &v6s[i]));
		}
		for (i = 0; i < 40; i++) {
			snprintf(name, sizeof(name), "old%d.example", i);
			a = pc_alloc_by_name(t, name);
			ck_assert_ptr_nonnull(a);
			ck_assert_ptr_eq(pc_alloc_by_addr(t, &a->v4), a);
			ck_assert_ptr_eq(pc_alloc_by_addr(t, &a->v6), a);
		}
	}
	ck_assert_uint_eq(pc_alloc_count(t), 240);
	pc_alloc_table_free(t);
}
END_TEST

/* Two tables fed the same names in the same order hold the same addresses. */
START_TEST(same_names_same_addresses)
{
	struct pc_alloc_table *t1 = pc_alloc_table_new(), *t2 = pc_alloc_table_new();
	char name[64], b1[PC_ADDR_STRLEN], b2[PC_ADDR_STRLEN];
	const struct pc_alloc *a, *b;
	int i;

	for (i = 0; i < 5000; i++) {
		snprintf(name, sizeof(name), "db%d.rds.example.com", i);
		a = add(t1, name);
		b = add(t2, name);
		ck_assert_ptr_nonnull(a);
		ck_assert(pc_alloc_in_range(&a->v4) && pc_alloc_in_range(&a->v6));
		ck_assert_str_eq(pc_addr_str(&a->v4, b1), pc_addr_str(&b->v4, b2));
		ck_assert_str_eq(pc_addr_str(&a->v6, b1), pc_addr_str(&b->v6, b2));
	}
	ck_assert_uint_eq(pc_alloc_count(t1), 5000);
	/*
	 * Pinned: the hash has no seed and writes its bytes in network order,
	 * so every run on every machine gives these. A change of the hash
	 * fails here, as it should: it would change what new names get.
	 */
	a = pc_alloc_by_name(t1, "db0.rds.example.com");
	ck_assert_str_eq(pc_addr_str(&a->v4, b1), "240.240.249.204");
	ck_assert_str_eq(pc_addr_str(&a->v6, b1), "2001:2:0:b7fa:b912:51f7:34ac:bb80");
	pc_alloc_table_free(t1);
	pc_alloc_table_free(t2);
}
END_TEST

/*
 * The first choice depends on the name only, not on the table's history:
 * a name chosen in an empty table gets the same address as in a table of
 * unrelated names, unless one of them took it.
 */
START_TEST(choice_is_the_names_own)
{
	struct pc_alloc_table *t1 = pc_alloc_table_new(), *t2 = pc_alloc_table_new();
	struct pc_addr v4a, v6a, v4b, v6b;
	char b1[PC_ADDR_STRLEN], b2[PC_ADDR_STRLEN];

	ck_assert_int_eq(pc_alloc_choose(t1, "mysql.example.com", &v4a, &v6a), 0);
	add(t2, "other.example.com");
	add(t2, "third.example.com");
	ck_assert_int_eq(pc_alloc_choose(t2, "mysql.example.com", &v4b, &v6b), 0);
	ck_assert_str_eq(pc_addr_str(&v4a, b1), pc_addr_str(&v4b, b2));
	ck_assert_str_eq(pc_addr_str(&v6a, b1), pc_addr_str(&v6b, b2));
	/* case and the final dot do not make another name */
	ck_assert_int_eq(pc_alloc_choose(t1, "MySQL.Example.COM.", &v4b, &v6b), 0);
	ck_assert_str_eq(pc_addr_str(&v4a, b1), pc_addr_str(&v4b, b2));
	/* different names start at different places */
	ck_assert_int_eq(pc_alloc_choose(t1, "mysql2.example.com", &v4b, &v6b), 0);
	ck_assert(!pc_addr_equal(&v4a, &v4b));
	ck_assert(!pc_addr_equal(&v6a, &v6b));
	pc_alloc_table_free(t1);
	pc_alloc_table_free(t2);
}
END_TEST

/* 40,000 names in 65,534 IPv4 addresses collide a lot: all distinct, all found. */
START_TEST(collisions_are_probed)
{
	struct pc_alloc_table *t = pc_alloc_table_new();
	const struct pc_alloc *a;
	struct pc_addr v4, v6;
	char name[64];
	int i, probed = 0;

	for (i = 0; i < 40000; i++) {
		snprintf(name, sizeof(name), "n%d.example", i);
		ck_assert_int_eq(pc_alloc_choose(t, name, &v4, &v6), 0);
		a = add(t, name);
		probed += !pc_addr_equal(&a->v4, &v4); /* never: choose and add agree */
	}
	ck_assert_int_eq(probed, 0);
	for (i = 0; i < 40000; i++) {
		snprintf(name, sizeof(name), "n%d.example", i);
		a = pc_alloc_by_name(t, name);
		ck_assert_ptr_nonnull(a);
		ck_assert_str_eq(a->name, name);
		ck_assert_ptr_eq(pc_alloc_by_addr(t, &a->v4), a);
		ck_assert_ptr_eq(pc_alloc_by_addr(t, &a->v6), a);
	}
	ck_assert_uint_eq(pc_alloc_count(t), 40000);
	pc_alloc_table_free(t);
}
END_TEST

/*
 * Two names whose first IPv4 candidate is the same: the second gets the
 * next free address. Found by searching, so the test does not hard-code a
 * hash value.
 */
START_TEST(forced_collision_takes_the_next_address)
{
	struct pc_alloc_table *t = pc_alloc_table_new(), *empty = pc_alloc_table_new();
	struct pc_addr first, v4, v6;
	const struct pc_alloc *a;
	char name[64];
	int i;

	a = add(t, "a.example");
	first = a->v4;
	for (i = 0;; i++) {
		ck_assert_int_lt(i, 1000000);
		snprintf(name, sizeof(name), "b%d.example", i);
		ck_assert_int_eq(pc_alloc_choose(empty, name, &v4, &v6), 0);
		if (pc_addr_equal(&v4, &first))
			break;
	}
	a = add(t, name);
	if (first.bytes[2] == 255 && first.bytes[3] == 254)
		ck_assert(a->v4.bytes[2] == 0 && a->v4.bytes[3] == 1); /* wrapped */
	else
		ck_assert_uint_eq(a->v4.bytes[2] * 256u + a->v4.bytes[3],
				  first.bytes[2] * 256u + first.bytes[3] + 1);
	pc_alloc_table_free(t);
	pc_alloc_table_free(empty);
}
END_TEST

/* A full IPv4 range: the next name gets IPv6 only; the last free address is found. */
START_TEST(v4_range_exhausted)
{
	struct pc_alloc_table *t = pc_alloc_table_new();
	char name[64], v4[32], b[PC_ADDR_STRLEN];
	struct pc_alloc a = { .name = name };
	struct pc_addr c4, c6;
	unsigned off;

	/*
	 * every address but 240.240.0.1, then that one by choice: probing
	 * from the name's candidate must wrap past .255.254 to .0.1, skipping
	 * .255.255 and .0.0
	 */
	for (off = 1; off <= PC_ALLOC_V4_SIZE; off++) {
		if (off == 1)
			continue;
		snprintf(name, sizeof(name), "f%u.example", off);
		snprintf(v4, sizeof(v4), "240.240.%u.%u", off >> 8, off & 255);
		a.v4 = addr(v4);
		ck_assert_int_eq(pc_alloc_insert(t, &a), 0);
	}
	ck_assert_int_eq(pc_alloc_choose(t, "last.example", &c4, &c6), 0);
	ck_assert_str_eq(pc_addr_str(&c4, b), "240.240.0.1");
	a.name = "last.example";
	a.v4 = c4;
	a.v6 = c6;
	ck_assert_int_eq(pc_alloc_insert(t, &a), 0);
	ck_assert_int_eq(pc_alloc_choose(t, "late.example", &c4, &c6), 0);
	ck_assert_int_eq(c4.family, 0);
	ck_assert_int_eq(c6.family, AF_INET6);
	ck_assert(pc_alloc_in_range(&c6));
	a.name = "late.example";
	a.v4 = c4;
	a.v6 = c6;
	ck_assert_int_eq(pc_alloc_insert(t, &a), 0);
	ck_assert_str_eq(str(&pc_alloc_by_name(t, "late.example")->v4, b), "none");
	ck_assert_uint_eq(pc_alloc_count(t), PC_ALLOC_V4_SIZE + 1);
	pc_alloc_table_free(t);
}
END_TEST

START_TEST(insert_rejects_duplicates_and_strays)
{
	struct pc_alloc_table *t = pc_alloc_table_new();

	ck_assert_int_eq(insert(t, "a.example", "240.240.0.1", "2001:2::1"), 0);
	ck_assert_int_eq(insert(t, "a.example", "240.240.0.2", "2001:2::2"), -EEXIST);
	ck_assert_int_eq(insert(t, "A.EXAMPLE.", "240.240.0.2", "2001:2::2"), -EEXIST);
	ck_assert_int_eq(insert(t, "b.example", "240.240.0.1", "2001:2::2"), -EEXIST);
	ck_assert_int_eq(insert(t, "b.example", "240.240.0.2", "2001:2::1"), -EEXIST);
	ck_assert_int_eq(insert(t, "b.example", "240.240.0.0", NULL), -EINVAL);
	ck_assert_int_eq(insert(t, "b.example", "240.240.255.255", NULL), -EINVAL);
	ck_assert_int_eq(insert(t, "b.example", "240.241.0.1", NULL), -EINVAL);
	ck_assert_int_eq(insert(t, "b.example", "192.0.2.1", NULL), -EINVAL);
	ck_assert_int_eq(insert(t, "b.example", NULL, "2001:2::"), -EINVAL);
	ck_assert_int_eq(insert(t, "b.example", NULL, "2001:2:1::1"), -EINVAL);
	ck_assert_int_eq(insert(t, "b.example", NULL, "::ffff:240.240.0.9"), -EINVAL);
	ck_assert_int_eq(insert(t, "b.example", "2001:2::5", NULL), -EINVAL); /* wrong slot */
	ck_assert_int_eq(insert(t, "b.example", NULL, NULL), -EINVAL);
	ck_assert_int_eq(insert(t, "", "240.240.0.3", NULL), -EINVAL);
	ck_assert_int_eq(insert(t, ".", "240.240.0.3", NULL), -EINVAL);
	ck_assert_int_eq(insert(t, NULL, "240.240.0.3", NULL), -EINVAL);
	ck_assert_uint_eq(pc_alloc_count(t), 1);
	/* the failures changed nothing: b.example still fits */
	ck_assert_int_eq(
		insert(t, "B.Example.", "240.240.255.254", "2001:2:0:ffff:ffff:ffff:ffff:ffff"), 0);
	ck_assert_str_eq(pc_alloc_by_name(t, "b.example")->name, "b.example");
	ck_assert_int_eq(insert(t, "v6only.example", NULL, "2001:2::3"), 0);
	pc_alloc_table_free(t);
}
END_TEST

START_TEST(by_addr_v4_v6_unknown_and_port)
{
	struct pc_alloc_table *t = pc_alloc_table_new();
	const struct pc_alloc *a;
	struct pc_addr q;

	ck_assert_int_eq(insert(t, "a.example", "240.240.1.2", "2001:2::1:2"), 0);
	ck_assert_int_eq(insert(t, "b.example", "240.240.1.3", "2001:2::1:3"), 0);
	a = pc_alloc_by_name(t, "a.example");
	ck_assert_ptr_nonnull(a);
	q = addr("240.240.1.2");
	q.port = 3306;
	ck_assert_ptr_eq(pc_alloc_by_addr(t, &q), a);
	q = addr("2001:2::1:2");
	q.port = 443;
	ck_assert_ptr_eq(pc_alloc_by_addr(t, &q), a);
	q = addr("::ffff:240.240.1.2"); /* an IPv6 socket's view of an IPv4 client */
	ck_assert_ptr_eq(pc_alloc_by_addr(t, &q), a);
	q = addr("240.240.1.3");
	ck_assert_str_eq(pc_alloc_by_addr(t, &q)->name, "b.example");
	q = addr("240.240.1.4");
	ck_assert_ptr_null(pc_alloc_by_addr(t, &q));
	q = addr("2001:2::1:4");
	ck_assert_ptr_null(pc_alloc_by_addr(t, &q));
	q = addr("192.0.2.1");
	ck_assert_ptr_null(pc_alloc_by_addr(t, &q));
	q = addr("2001:db8::1:2");
	ck_assert_ptr_null(pc_alloc_by_addr(t, &q));
	ck_assert_ptr_null(pc_alloc_by_name(t, "c.example"));
	ck_assert_ptr_eq(pc_alloc_by_name(t, "A.Example."), a);
	pc_alloc_table_free(t);
}
END_TEST

START_TEST(in_range_bounds)
{
	ck_assert(pc_alloc_in_range(&(struct pc_addr){ 0 }) == false);
	ck_assert(pc_alloc_in_range((struct pc_addr[]){ addr("240.240.0.1") }));
	ck_assert(pc_alloc_in_range((struct pc_addr[]){ addr("240.240.255.254") }));
	ck_assert(!pc_alloc_in_range((struct pc_addr[]){ addr("240.240.0.0") }));
	ck_assert(!pc_alloc_in_range((struct pc_addr[]){ addr("240.240.255.255") }));
	ck_assert(!pc_alloc_in_range((struct pc_addr[]){ addr("240.239.1.1") }));
	ck_assert(pc_alloc_in_range((struct pc_addr[]){ addr("2001:2::1") }));
	ck_assert(pc_alloc_in_range((struct pc_addr[]){ addr("2001:2:0:ffff::") }));
	ck_assert(!pc_alloc_in_range((struct pc_addr[]){ addr("2001:2::") }));
	ck_assert(!pc_alloc_in_range((struct pc_addr[]){ addr("2001:2:1::1") }));
	ck_assert(pc_alloc_in_range((struct pc_addr[]){ addr("::ffff:240.240.3.4") }));
}
END_TEST

/* Pointers stay valid as the table grows; touch; choose refuses a known name. */
START_TEST(pointers_are_stable_and_touch)
{
	struct pc_alloc_table *t = pc_alloc_table_new();
	const struct pc_alloc *first;
	struct pc_addr v4, v6;
	char name[64];
	int i;

	first = add(t, "first.example");
	for (i = 0; i < 3000; i++) {
		snprintf(name, sizeof(name), "grow%d.example", i);
		add(t, name);
	}
	ck_assert_ptr_eq(pc_alloc_by_name(t, "first.example"), first);
	ck_assert_str_eq(first->name, "first.example");
	ck_assert_int_eq(pc_alloc_touch(t, "FIRST.example.", 1700000000), 0);
	ck_assert_int_eq(first->last_used, 1700000000);
	ck_assert_int_eq(first->created, 1);
	ck_assert_int_eq(pc_alloc_touch(t, "nobody.example", 5), -ENOENT);
	ck_assert_int_eq(pc_alloc_choose(t, "first.example", &v4, &v6), -EEXIST);
	ck_assert_int_eq(pc_alloc_choose(t, "", &v4, &v6), -EINVAL);
	ck_assert_uint_gt(pc_alloc_memory(t), 3001 * sizeof(struct pc_alloc));
	pc_alloc_table_free(t);
}
END_TEST

struct walk {
	char text[256];
	int calls, stop_at;
};

static int walk_fn(const struct pc_alloc *a, void *data)
{
	struct walk *w = data;
	size_t len = strlen(w->text);

	snprintf(w->text + len, sizeof(w->text) - len, "%s ", a->name);
	return ++w->calls == w->stop_at ? 42 : 0;
}

START_TEST(foreach_in_name_order)
{
	struct pc_alloc_table *t = pc_alloc_table_new();
	struct walk w = { .stop_at = -1 };

	ck_assert_int_eq(pc_alloc_foreach(t, walk_fn, &w), 0);
	ck_assert_int_eq(w.calls, 0);
	add(t, "c.example");
	add(t, "a.example");
	add(t, "b.example");
	add(t, "a.example.org");
	ck_assert_int_eq(pc_alloc_foreach(t, walk_fn, &w), 0);
	ck_assert_str_eq(w.text, "a.example a.example.org b.example c.example ");
	memset(&w, 0, sizeof(w));
	w.stop_at = 2;
	ck_assert_int_eq(pc_alloc_foreach(t, walk_fn, &w), 42);
	ck_assert_str_eq(w.text, "a.example a.example.org ");
	pc_alloc_table_free(t);
}
END_TEST

/*
 * Every allocation failure of an insert (index growth, a new chunk, a new
 * name block, the IPv4 array) leaves the table as it was. Failures are
 * injected in debug builds only (PC_FAIL_ALLOC); elsewhere this only
 * inserts.
 */
START_TEST(out_of_memory_changes_nothing)
{
	struct pc_alloc_table *t = pc_alloc_table_new();
	struct pc_alloc a = { 0 };
	char name[64];
	int i, n, ret, failures = 0;
	bool can_inject;
	void *probe;

	pc_alloc_fail_at(1);
	probe = pc_malloc(1);
	can_inject = !probe;
	free(probe);
	pc_alloc_fail_at(0);

	for (i = 0; i < 1200; i++) {
		snprintf(name, sizeof(name), "oom%d.example.com", i);
		a.name = name;
		ck_assert_int_eq(pc_alloc_choose(t, name, &a.v4, &a.v6), 0);
		for (n = 1;; n++) {
			pc_alloc_fail_at(n);
			ret = pc_alloc_insert(t, &a);
			if (!pc_alloc_injected() || ret == 0)
				break;
			failures++;
			ck_assert_int_eq(ret, -ENOMEM);
			ck_assert_uint_eq(pc_alloc_count(t), (size_t)i);
			ck_assert_ptr_null(pc_alloc_by_name(t, name));
			ck_assert_ptr_null(pc_alloc_by_addr(t, &a.v4));
		}
		pc_alloc_fail_at(0);
		ck_assert_int_eq(ret, 0);
	}
	for (i = 0; i < 1200; i++) {
		snprintf(name, sizeof(name), "oom%d.example.com", i);
		ck_assert_ptr_nonnull(pc_alloc_by_name(t, name));
	}
	ck_assert(failures > 10 || !can_inject); /* the growth points were reached */
	pc_alloc_table_free(t);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("policy.alloc");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, same_names_same_addresses);
	tcase_add_test(tc, choice_is_the_names_own);
	tcase_add_test(tc, collisions_are_probed);
	tcase_add_test(tc, forced_collision_takes_the_next_address);
	tcase_add_test(tc, v4_range_exhausted);
	tcase_add_test(tc, insert_rejects_duplicates_and_strays);
	tcase_add_test(tc, by_addr_v4_v6_unknown_and_port);
	tcase_add_test(tc, in_range_bounds);
	tcase_add_test(tc, pointers_are_stable_and_touch);
	tcase_add_test(tc, foreach_in_name_order);
	tcase_add_test(tc, out_of_memory_changes_nothing);
	tcase_add_test(tc, truncate_undoes_a_batch);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
