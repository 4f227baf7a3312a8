/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for the address allocations of the store (store/store.h,
 * pc_store_alloc_*). Each test works in its own mkdtemp directory.
 */
#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "core/err.h"
#include "store/store-int.h"
#include "store/store.h"

static char tmp[64];
static char dir[96];

static void setup(void)
{
	snprintf(tmp, sizeof(tmp), "/tmp/pc-alloc-store-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmp));
	snprintf(dir, sizeof(dir), "%s/state", tmp);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void teardown(void)
{
	nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static struct pc_store *open_ok(void)
{
	struct pc_store *s = NULL;
	struct pc_err err;
	int ret = pc_store_open(dir, &s, &err);

	ck_assert_msg(ret == 0, "open: %d %s", ret, err.msg);
	return s;
}

/* An allocation of 240.240.<v4>/2001:2::<v6> (0: none) for <name>. */
static struct pc_store_alloc al(const char *name, int v4, int v6, int64_t when)
{
	struct pc_store_alloc a = { .name = name, .created = when, .last_used = when };

	if (v4) {
		a.v4[0] = a.v4[1] = 240;
		a.v4[2] = (uint8_t)(v4 >> 8);
		a.v4[3] = (uint8_t)v4;
		a.has_v4 = true;
	}
	if (v6) {
		a.v6[0] = 0x20;
		a.v6[1] = 0x01;
		a.v6[3] = 0x02;
		a.v6[14] = (uint8_t)(v6 >> 8);
		a.v6[15] = (uint8_t)v6;
		a.has_v6 = true;
	}
	return a;
}

/* The listing as text: "name v4=<last two bytes> v6=<last two> c=created u=last_used;". */
struct listing {
	char text[1024];
	int calls;
};

static int list_fn(const struct pc_store_alloc *a, void *data)
{
	struct listing *l = data;
	size_t len = strlen(l->text);

	snprintf(l->text + len, sizeof(l->text) - len, "%s v4=%d v6=%d c=%lld u=%lld;", a->name,
		 a->has_v4 ? a->v4[2] * 256 + a->v4[3] : -1,
		 a->has_v6 ? a->v6[14] * 256 + a->v6[15] : -1, (long long)a->created,
		 (long long)a->last_used);
	l->calls++;
	return 0;
}

static const char *list(struct pc_store *s, struct listing *l)
{
	struct pc_err err;
	int ret;

	memset(l, 0, sizeof(*l));
	ret = pc_store_alloc_list(s, list_fn, l, &err);
	ck_assert_msg(ret == 0, "list: %d %s", ret, err.msg);
	return l->text;
}

static void add_ok(struct pc_store *s, const struct pc_store_alloc *v, size_t n)
{
	struct pc_err err;
	int ret = pc_store_alloc_add(s, v, n, &err);

	ck_assert_msg(ret == 0, "add: %d %s", ret, err.msg);
}

START_TEST(round_trip_across_reopen)
{
	struct pc_store_alloc v[] = {
		al("mysql.example.com", 0x0102, 0x0102, 100),
		al("db1.rds.example.com", 0x0a0b, 0, 200),
		al("v6only.example.com", 0, 0x0707, 300),
	};
	struct pc_store *s = open_ok();
	struct listing l;

	ck_assert_str_eq(list(s, &l), "");
	add_ok(s, v, 3);
	pc_store_close(s);
	s = open_ok();
	ck_assert_str_eq(list(s, &l), "db1.rds.example.com v4=2571 v6=-1 c=200 u=200;"
				      "mysql.example.com v4=258 v6=258 c=100 u=100;"
				      "v6only.example.com v4=-1 v6=1799 c=300 u=300;");
	/* full addresses, not just the bytes the text shows */
	ck_assert_int_eq(l.calls, 3);
	pc_store_close(s);
}
END_TEST

static int stop_fn(const struct pc_store_alloc *a, void *data)
{
	(void)a;
	return ++*(int *)data == 2 ? 7 : 0;
}

static int check_bytes_fn(const struct pc_store_alloc *a, void *data)
{
	static const uint8_t v4[4] = { 240, 240, 1, 2 };
	static const uint8_t v6[16] = { 0x20, 0x01, 0, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2 };

	(void)data;
	if (strcmp(a->name, "a") != 0)
		return 0;
	ck_assert_mem_eq(a->v4, v4, 4);
	ck_assert_mem_eq(a->v6, v6, 16);
	return 0;
}

START_TEST(list_stops_and_keeps_bytes)
{
	struct pc_store_alloc v[] = { al("a", 0x0102, 0x0102, 1), al("b", 3, 3, 1),
				      al("c", 4, 4, 1) };
	struct pc_store *s = open_ok();
	struct pc_err err;
	int calls = 0;

	add_ok(s, v, 3);
	ck_assert_int_eq(pc_store_alloc_list(s, stop_fn, &calls, &err), 7);
	ck_assert_int_eq(calls, 2);
	add_ok(s, NULL, 0); /* a no-op */
	ck_assert_int_eq(pc_store_alloc_list(s, check_bytes_fn, NULL, &err), 0);
	pc_store_close(s);
}
END_TEST

START_TEST(names_and_addresses_are_unique)
{
	struct pc_store_alloc first = al("a.example", 1, 1, 1), dup;
	struct pc_store *s = open_ok();
	struct listing l;
	struct pc_err err;

	add_ok(s, &first, 1);
	dup = al("a.example", 2, 2, 1);
	ck_assert_int_eq(pc_store_alloc_add(s, &dup, 1, &err), -EEXIST);
	ck_assert_str_eq(err.msg, "a.example already has an address allocation");
	dup = al("b.example", 1, 2, 1);
	ck_assert_int_eq(pc_store_alloc_add(s, &dup, 1, &err), -EEXIST);
	ck_assert_str_eq(err.msg, "cannot allocate 240.240.0.1 to b.example: it is allocated to "
				  "a.example");
	dup = al("b.example", 2, 1, 1);
	ck_assert_int_eq(pc_store_alloc_add(s, &dup, 1, &err), -EEXIST);
	ck_assert_str_eq(err.msg, "cannot allocate 2001:2::1 to b.example: it is allocated to "
				  "a.example");
	dup = al("b.example", 0, 1, 1); /* no IPv4: only the IPv6 collides */
	ck_assert_int_eq(pc_store_alloc_add(s, &dup, 1, &err), -EEXIST);
	ck_assert_str_eq(err.msg, "cannot allocate 2001:2::1 to b.example: it is allocated to "
				  "a.example");
	/* rows without an IPv4 address do not collide on the missing one (NULL) */
	dup = al("c.example", 0, 3, 1);
	add_ok(s, &dup, 1);
	dup = al("d.example", 0, 4, 1);
	add_ok(s, &dup, 1);
	dup = al("bad.example", 0, 0, 1);
	ck_assert_int_eq(pc_store_alloc_add(s, &dup, 1, &err), -EINVAL);
	dup = al(NULL, 5, 5, 1);
	ck_assert_int_eq(pc_store_alloc_add(s, &dup, 1, &err), -EINVAL);
	dup = al("", 5, 5, 1);
	ck_assert_int_eq(pc_store_alloc_add(s, &dup, 1, &err), -EINVAL);
	ck_assert_str_eq(list(s, &l), "a.example v4=1 v6=1 c=1 u=1;c.example v4=-1 v6=3 c=1 u=1;"
				      "d.example v4=-1 v6=4 c=1 u=1;");
	pc_store_close(s);
}
END_TEST

/* A batch with one duplicate, against the store or within itself, stores nothing. */
START_TEST(batch_is_all_or_nothing)
{
	struct pc_store_alloc stored = al("old.example", 9, 9, 1);
	struct pc_store_alloc v[] = { al("n1.example", 1, 1, 1), al("n2.example", 2, 2, 1),
				      al("n3.example", 9, 3, 1) };
	struct pc_store_alloc w[] = { al("m1.example", 4, 4, 1), al("m2.example", 5, 5, 1),
				      al("m1.example", 6, 6, 1) };
	struct pc_store *s = open_ok();
	struct listing l;
	struct pc_err err;

	add_ok(s, &stored, 1);
	ck_assert_int_eq(pc_store_alloc_add(s, v, 3, &err), -EEXIST);
	ck_assert_ptr_nonnull(strstr(err.msg, "n3.example"));
	ck_assert_int_eq(pc_store_alloc_add(s, w, 3, &err), -EEXIST);
	ck_assert_str_eq(err.msg, "m1.example already has an address allocation");
	pc_store_close(s);
	s = open_ok();
	ck_assert_str_eq(list(s, &l), "old.example v4=9 v6=9 c=1 u=1;");
	/* the rest of the batch, without the duplicate, goes in */
	add_ok(s, v, 2);
	ck_assert_int_eq(list(s, &l) != NULL && l.calls == 3, 1);
	pc_store_close(s);
}
END_TEST

/* Allocations are not resources: no revision, no watch event. */
static int watch_fn(const struct pc_store_event *ev, void *data)
{
	(void)ev;
	++*(int *)data;
	return 0;
}

START_TEST(no_revision_no_watch)
{
	struct pc_store_put p = { .kind = "ServiceEntry",
				  .ns = "default",
				  .name = "x",
				  .spec_json = "{}",
				  .object_json = "{}" };
	struct pc_store_alloc a = al("a.example", 1, 1, 1);
	const char *names[] = { "a.example" };
	struct pc_store *s = open_ok(), *other = open_ok();
	struct pc_err err;
	int64_t upto;
	int events = 0;

	ck_assert_int_eq(pc_store_apply(s, &p, 1, NULL, NULL, NULL, &err), 0);
	ck_assert_int_eq(pc_store_watch(other, 0, watch_fn, &events, &upto, &err), 0);
	ck_assert_int_eq(events, 1);
	add_ok(s, &a, 1);
	ck_assert_int_eq(pc_store_alloc_touch(s, names, 1, 50, &err), 0);
	ck_assert_int_eq(pc_store_revision(s), 1);
	events = 0;
	ck_assert_int_eq(pc_store_watch(other, 1, watch_fn, &events, &upto, &err), 0);
	ck_assert_int_eq(events, 0);
	ck_assert_int_eq(upto, 1);
	pc_store_close(other);
	pc_store_close(s);
}
END_TEST

START_TEST(touch_moves_last_used_forward)
{
	struct pc_store_alloc v[] = { al("a.example", 1, 1, 10), al("b.example", 2, 2, 10) };
	const char *names[] = { "a.example", "nobody.example" };
	const char *bad[] = { "a.example", NULL };
	struct pc_store *s = open_ok();
	struct listing l;
	struct pc_err err;

	add_ok(s, v, 2);
	ck_assert_int_eq(pc_store_alloc_touch(s, names, 2, 99, &err), 0);
	ck_assert_int_eq(pc_store_alloc_touch(s, names, 1, 50, &err), 0); /* not back */
	ck_assert_int_eq(pc_store_alloc_touch(s, bad, 2, 120, &err), -EINVAL);
	ck_assert_int_eq(pc_store_alloc_touch(s, names, 0, 120, &err), 0);
	pc_store_close(s);
	s = open_ok();
	ck_assert_str_eq(list(s, &l),
			 "a.example v4=1 v6=1 c=10 u=99;b.example v4=2 v6=2 c=10 u=10;");
	pc_store_close(s);
}
END_TEST

/* A full disk in the middle of a batch stores nothing and says so. */
START_TEST(full_disk_stores_nothing)
{
	struct pc_store_alloc *v = calloc(3000, sizeof(*v));
	char(*names)[64] = calloc(3000, sizeof(*names));
	struct pc_store *s = open_ok();
	struct listing l;
	struct pc_err err;
	int i;

	ck_assert_ptr_nonnull(v);
	ck_assert_ptr_nonnull(names);
	for (i = 0; i < 3000; i++) {
		snprintf(names[i], sizeof(names[i]), "name-%d.a-long-zone.example.com", i);
		v[i] = al(names[i], i + 1, i + 1, 1);
	}
	ck_assert_int_eq(
		sqlite3_exec(pc_store_sqlite(s), "PRAGMA max_page_count = 1", NULL, NULL, NULL),
		SQLITE_OK);
	ck_assert_int_eq(pc_store_alloc_add(s, v, 3000, &err), -ENOSPC);
	ck_assert_msg(strstr(err.msg, "no space left") != NULL, "%s", err.msg);
	pc_store_close(s);
	s = open_ok(); /* max_page_count is per connection */
	ck_assert_str_eq(list(s, &l), "");
	add_ok(s, v, 3000); /* and the store still works */
	ck_assert_int_eq(list(s, &l) != NULL, 1);
	ck_assert_int_eq(l.calls, 3000);
	pc_store_close(s);
	free(names);
	free(v);
}
END_TEST

/*
 * The schema of the previous version, as it wrote store.db (schema
 * version 1 with the watch log, before the allocations table), by hand:
 * such a store opens, keeps its objects and revision, and gains the table.
 */
static const char old_schema[] =
	"CREATE TABLE schema_version (version INTEGER NOT NULL);"
	"INSERT INTO schema_version (version) VALUES (1);"
	"CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;"
	"INSERT INTO meta (key, value) VALUES ('revision', 0);"
	"CREATE TABLE objects ("
	" kind TEXT NOT NULL, ns TEXT NOT NULL, name TEXT NOT NULL,"
	" uid TEXT NOT NULL UNIQUE,"
	" resource_version INTEGER NOT NULL, generation INTEGER NOT NULL,"
	" creation_timestamp TEXT NOT NULL,"
	" spec_json TEXT NOT NULL, object_json TEXT NOT NULL,"
	" source TEXT NOT NULL,"
	" PRIMARY KEY (kind, ns, name)) WITHOUT ROWID;"
	"CREATE TABLE changes (seq INTEGER PRIMARY KEY, rev INTEGER NOT NULL, type TEXT NOT NULL,"
	" kind TEXT NOT NULL, ns TEXT NOT NULL, name TEXT NOT NULL, uid TEXT NOT NULL,"
	" resource_version INTEGER NOT NULL, generation INTEGER NOT NULL,"
	" creation_timestamp TEXT NOT NULL, spec_json TEXT NOT NULL,"
	" object_json TEXT NOT NULL, source TEXT NOT NULL);"
	"CREATE INDEX changes_rev ON changes (rev);"
	"INSERT INTO meta (key, value) VALUES ('watch_floor', 0);"
	"INSERT INTO objects VALUES ('ServiceEntry', 'default', 'old',"
	" '0b5e4c1e-0000-4000-8000-000000000001', 3, 2, '2026-01-01T00:00:00Z', '{}', '{}', 'api');"
	"UPDATE meta SET value = 3 WHERE key IN ('revision', 'watch_floor');";

static int count_rows(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	int n = -1;

	ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return n;
}

START_TEST(previous_schema_gains_the_table)
{
	struct pc_store_alloc a = al("a.example", 1, 1, 1);
	struct pc_store_object obj;
	struct pc_store *s;
	struct listing l;
	struct pc_err err;
	char path[160];
	sqlite3 *db;

	ck_assert_int_eq(mkdir(dir, 0700), 0);
	snprintf(path, sizeof(path), "%s/store.db", dir);
	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, old_schema, NULL, NULL, NULL), SQLITE_OK);
	ck_assert_int_eq(count_rows(db, "SELECT count(*) FROM sqlite_master WHERE name = "
					"'allocations'"),
			 0);
	sqlite3_close(db);
	ck_assert_int_eq(chmod(path, 0600), 0);

	s = open_ok();
	ck_assert_int_eq(count_rows(pc_store_sqlite(s), "SELECT count(*) FROM sqlite_master "
							"WHERE name = 'allocations'"),
			 1);
	ck_assert_int_eq(pc_store_revision(s), 3);
	ck_assert_int_eq(pc_store_get(s, "ServiceEntry", "default", "old", &obj, &err), 0);
	ck_assert_int_eq(obj.generation, 2);
	pc_store_object_release(&obj);
	ck_assert_str_eq(list(s, &l), "");
	add_ok(s, &a, 1);
	pc_store_close(s);
	s = open_ok(); /* a second open finds the table and keeps what it holds */
	ck_assert_str_eq(list(s, &l), "a.example v4=1 v6=1 c=1 u=1;");
	ck_assert_int_eq(pc_store_revision(s), 3);
	pc_store_close(s);
}
END_TEST

/*
 * The table's CHECKs hold against a writer that bypasses the code, and
 * UNIQUE lets any number of rows lack an address (NULLs are distinct).
 */
START_TEST(table_refuses_malformed_rows)
{
	struct pc_store *s = open_ok();
	sqlite3 *db = pc_store_sqlite(s);

	ck_assert_int_ne(sqlite3_exec(db,
				      "INSERT INTO allocations VALUES ('x', x'0102', NULL, 1, 1)",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db,
				      "INSERT INTO allocations VALUES ('y', NULL, NULL, 1, 1);"
				      "INSERT INTO allocations VALUES ('z', NULL, NULL, 1, 1)",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	pc_store_close(s);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("store.alloc_store");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, round_trip_across_reopen);
	tcase_add_test(tc, list_stops_and_keeps_bytes);
	tcase_add_test(tc, names_and_addresses_are_unique);
	tcase_add_test(tc, batch_is_all_or_nothing);
	tcase_add_test(tc, no_revision_no_watch);
	tcase_add_test(tc, touch_moves_last_used_forward);
	tcase_add_test(tc, full_disk_stores_nothing);
	tcase_add_test(tc, previous_schema_gains_the_table);
	tcase_add_test(tc, table_refuses_malformed_rows);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
