/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests for store/store.c. Each test works in its own mkdtemp directory. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "core/err.h"
#include "store/store-int.h"
#include "store/store.h"

#define SE "ServiceEntry"
#define VS "VirtualService"

static char tmp[64];
static char dir[96]; /* the state dir: <tmp>/state, created by pc_store_open() */

static void setup(void)
{
	snprintf(tmp, sizeof(tmp), "/tmp/pc-store-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmp));
	ck_assert_int_eq(chmod(tmp, 0755), 0); /* let the unprivileged test in */
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

static struct pc_store_put put(const char *kind, const char *ns, const char *name, const char *spec,
			       const char *obj, int64_t expect_rv)
{
	struct pc_store_put p = { .kind = kind,
				  .ns = ns,
				  .name = name,
				  .spec_json = spec,
				  .object_json = obj,
				  .expect_rv = expect_rv };

	return p;
}

/* Apply one put that must succeed; returns its result. */
static enum pc_store_result apply1(struct pc_store *s, struct pc_store_put p)
{
	enum pc_store_result r = PC_STORE_UNCHANGED;
	struct pc_err err;
	int ret = pc_store_apply(s, &p, 1, &r, NULL, NULL, &err);

	ck_assert_msg(ret == 0, "apply %s: %d %s", p.name, ret, err.msg);
	return r;
}

static int64_t rv_of(struct pc_store *s, const char *kind, const char *ns, const char *name)
{
	struct pc_store_object o;
	struct pc_err err;
	int64_t rv;

	ck_assert_int_eq(pc_store_get(s, kind, ns, name, &o, &err), 0);
	rv = o.resource_version;
	pc_store_object_release(&o);
	return rv;
}

/* A removal inside an apply: atomic with the puts, -ENOENT and -ESTALE like a delete. */
START_TEST(remove_in_apply)
{
	struct pc_store *s = open_ok();
	struct pc_store_object o;
	struct pc_err err;
	enum pc_store_result r[2];
	struct pc_store_put p[2];
	int64_t rev = 0;
	size_t failed = 0;

	apply1(s, put(SE, "default", "old", "{}", "{}", 0));
	p[0] = put(SE, "default", "new", "{}", "{}", 0);
	p[1] = put(SE, "default", "old", NULL, NULL, 0);
	p[1].remove = true;
	ck_assert_int_eq(pc_store_apply(s, p, 2, r, &rev, &failed, &err), 0);
	ck_assert_uint_eq(failed, SIZE_MAX);
	ck_assert_int_eq(r[0], PC_STORE_CREATED);
	ck_assert_int_eq(r[1], PC_STORE_DELETED);
	ck_assert_str_eq(pc_store_result_name(r[1]), "deleted");
	ck_assert_int_eq(rev, 2);
	ck_assert_int_eq(pc_store_get(s, SE, "default", "old", &o, &err), -ENOENT);

	/* removing what is absent fails the whole apply */
	p[0] = put(SE, "default", "third", "{}", "{}", 0);
	ck_assert_int_eq(pc_store_apply(s, p, 2, r, &rev, &failed, &err), -ENOENT);
	ck_assert_uint_eq(failed, 1); /* the failed put's index, not a message to parse */
	ck_assert_int_eq(pc_store_get(s, SE, "default", "third", &o, &err), -ENOENT);
	ck_assert_int_eq(pc_store_revision(s), 2);

	/* a stale precondition on a removal is a conflict */
	p[1] = put(SE, "default", "new", NULL, NULL, 1);
	p[1].remove = true;
	ck_assert_int_eq(pc_store_apply(s, &p[1], 1, r, &rev, &failed, &err), -ESTALE);
	ck_assert_uint_eq(failed, 0);
	ck_assert_int_eq(rv_of(s, SE, "default", "new"), 2);
	pc_store_close(s);
}
END_TEST

/* missing_ok: a removal of an absent object is "unchanged", so a list deletes in one go. */
START_TEST(remove_missing_ok)
{
	struct pc_store *s = open_ok();
	struct pc_store_put p[3];
	enum pc_store_result r[3];
	struct pc_err err;
	int64_t rev = 0;
	size_t failed = 0, i;

	apply1(s, put(SE, "default", "a", "{}", "{}", 0));
	apply1(s, put(SE, "default", "b", "{}", "{}", 0));
	p[0] = put(SE, "default", "a", NULL, NULL, 0);
	p[1] = put(SE, "default", "absent", NULL, NULL, 0);
	p[2] = put(SE, "default", "b", NULL, NULL, 0);
	for (i = 0; i < 3; i++)
		p[i].remove = p[i].missing_ok = true;
	ck_assert_int_eq(pc_store_apply(s, p, 3, r, &rev, &failed, &err), 0);
	ck_assert_int_eq(r[0], PC_STORE_DELETED);
	ck_assert_int_eq(r[1], PC_STORE_UNCHANGED);
	ck_assert_int_eq(r[2], PC_STORE_DELETED);
	ck_assert_int_eq(rev, 3); /* one revision for both */
	/* all absent now: nothing changes, the revision stays */
	ck_assert_int_eq(pc_store_apply(s, p, 3, r, &rev, &failed, &err), 0);
	ck_assert_int_eq(rev, 3);
	/* with a precondition, absent is still -ENOENT */
	p[1].expect_rv = 2;
	ck_assert_int_eq(pc_store_apply(s, p, 3, r, &rev, &failed, &err), -ENOENT);
	ck_assert_uint_eq(failed, 1);
	pc_store_close(s);
}
END_TEST

/* The source is kept, returned, and part of the object: changing it alone is "configured". */
START_TEST(source_is_kept)
{
	struct pc_store *s = open_ok();
	struct pc_store_object o;
	struct pc_err err;
	struct pc_store_put p = put(SE, "default", "a", "{}", "{}", 0);

	ck_assert_int_eq(apply1(s, p), PC_STORE_CREATED);
	ck_assert_int_eq(pc_store_get(s, SE, "default", "a", &o, &err), 0);
	ck_assert_str_eq(o.source, PC_STORE_SOURCE_API);
	pc_store_object_release(&o);
	p.source = PC_STORE_SOURCE_CONFIG;
	ck_assert_int_eq(apply1(s, p), PC_STORE_CONFIGURED);
	ck_assert_int_eq(apply1(s, p), PC_STORE_UNCHANGED);
	ck_assert_int_eq(pc_store_get(s, SE, "default", "a", &o, &err), 0);
	ck_assert_str_eq(o.source, PC_STORE_SOURCE_CONFIG);
	ck_assert_int_eq(o.generation, 1); /* the spec did not change */
	pc_store_object_release(&o);
	pc_store_close(s);
}
END_TEST

START_TEST(created_configured_unchanged)
{
	struct pc_store *s = open_ok();
	struct pc_store_object o, o2;
	struct pc_err err;
	int64_t rev = -1;
	enum pc_store_result r;
	struct pc_store_put p = put(SE, "default", "db", "{\"a\":1}", "{\"x\":1}", 0);

	ck_assert_int_eq(pc_store_revision(s), 0);
	ck_assert_int_eq(pc_store_apply(s, &p, 1, &r, &rev, NULL, &err), 0);
	ck_assert_int_eq(r, PC_STORE_CREATED);
	ck_assert_str_eq(pc_store_result_name(r), "created");
	ck_assert_int_eq(rev, 1);
	ck_assert_int_eq(pc_store_get(s, SE, "default", "db", &o, &err), 0);
	ck_assert_str_eq(o.kind, SE);
	ck_assert_str_eq(o.ns, "default");
	ck_assert_str_eq(o.name, "db");
	ck_assert_int_eq(o.resource_version, 1);
	ck_assert_int_eq(o.generation, 1);
	ck_assert_str_eq(o.spec_json, "{\"a\":1}");
	ck_assert_str_eq(o.object_json, "{\"x\":1}");
	/* UUIDv4: 8-4-4-4-12, version nibble 4, variant 10xx */
	ck_assert_uint_eq(strlen(o.uid), 36);
	ck_assert_int_eq(o.uid[14], '4');
	ck_assert_ptr_nonnull(strchr("89ab", o.uid[19]));
	ck_assert_int_eq(o.uid[8], '-');
	ck_assert_int_eq(o.uid[23], '-');
	/* RFC 3339 UTC, e.g. 2024-05-01T12:00:00Z */
	ck_assert_uint_eq(strlen(o.creation_timestamp), 20);
	ck_assert_int_eq(o.creation_timestamp[10], 'T');
	ck_assert_int_eq(o.creation_timestamp[19], 'Z');

	/* same texts: unchanged, nothing moves */
	ck_assert_int_eq(pc_store_apply(s, &p, 1, &r, &rev, NULL, &err), 0);
	ck_assert_int_eq(r, PC_STORE_UNCHANGED);
	ck_assert_int_eq(rev, 1);
	ck_assert_int_eq(pc_store_revision(s), 1);

	/* object changed, spec not: configured, new rv, same generation */
	p.object_json = "{\"x\":2}";
	ck_assert_int_eq(apply1(s, p), PC_STORE_CONFIGURED);
	ck_assert_int_eq(pc_store_get(s, SE, "default", "db", &o2, &err), 0);
	ck_assert_int_eq(o2.resource_version, 2);
	ck_assert_int_eq(o2.generation, 1);
	ck_assert_str_eq(o2.uid, o.uid);
	ck_assert_str_eq(o2.creation_timestamp, o.creation_timestamp);
	pc_store_object_release(&o2);

	/* spec changed: generation grows */
	p.spec_json = "{\"a\":2}";
	ck_assert_int_eq(apply1(s, p), PC_STORE_CONFIGURED);
	ck_assert_int_eq(pc_store_get(s, SE, "default", "db", &o2, &err), 0);
	ck_assert_int_eq(o2.resource_version, 3);
	ck_assert_int_eq(o2.generation, 2);
	ck_assert_str_eq(o2.uid, o.uid);
	pc_store_object_release(&o2);
	pc_store_object_release(&o);
	ck_assert_ptr_null(o.mem);

	ck_assert_int_eq(pc_store_get(s, SE, "default", "nope", &o, &err), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err.msg, "default/nope"));
	pc_store_close(s);
}
END_TEST

START_TEST(one_apply_is_one_revision)
{
	struct pc_store *s = open_ok();
	struct pc_store_put p[3] = {
		put(SE, "default", "a", "{}", "{}", 0),
		put(SE, "default", "b", "{}", "{}", 0),
		put(VS, "default", "a", "{}", "{}", 0),
	};
	enum pc_store_result r[3];
	struct pc_err err;
	int64_t rev;

	ck_assert_int_eq(pc_store_apply(s, p, 3, r, &rev, NULL, &err), 0);
	ck_assert_int_eq(rev, 1);
	ck_assert_int_eq(r[0], PC_STORE_CREATED);
	ck_assert_int_eq(r[2], PC_STORE_CREATED);
	ck_assert_int_eq(rv_of(s, VS, "default", "a"), 1);

	/* a mix: one unchanged, one configured, one created */
	p[1].object_json = "{\"v\":2}";
	p[2] = put(VS, "other", "a", "{}", "{}", 0);
	ck_assert_int_eq(pc_store_apply(s, p, 3, r, &rev, NULL, &err), 0);
	ck_assert_int_eq(rev, 2);
	ck_assert_int_eq(r[0], PC_STORE_UNCHANGED);
	ck_assert_int_eq(r[1], PC_STORE_CONFIGURED);
	ck_assert_int_eq(r[2], PC_STORE_CREATED);
	ck_assert_int_eq(rv_of(s, SE, "default", "a"), 1);
	ck_assert_int_eq(rv_of(s, SE, "default", "b"), 2);

	/* the same object twice: the second put sees the first */
	p[0] = put(SE, "dup", "d", "{\"v\":1}", "{}", 0);
	p[1] = put(SE, "dup", "d", "{\"v\":2}", "{}", 0);
	ck_assert_int_eq(pc_store_apply(s, p, 2, r, &rev, NULL, &err), 0);
	ck_assert_int_eq(rev, 3);
	ck_assert_int_eq(r[0], PC_STORE_CREATED);
	ck_assert_int_eq(r[1], PC_STORE_CONFIGURED);
	ck_assert_int_eq(rv_of(s, SE, "dup", "d"), 3);

	/* nothing to do */
	ck_assert_int_eq(pc_store_apply(s, NULL, 0, NULL, &rev, NULL, &err), 0);
	ck_assert_int_eq(rev, 3);

	/* bad arguments are refused before anything happens */
	p[0].spec_json = NULL;
	ck_assert_int_eq(pc_store_apply(s, p, 1, r, &rev, NULL, &err), -EINVAL);
	pc_store_close(s);
}
END_TEST

START_TEST(apply_is_all_or_nothing)
{
	struct pc_store *s = open_ok();
	struct pc_store_object o;
	struct pc_store_put p[3];
	enum pc_store_result r[3];
	struct pc_err err;
	int64_t rev = 42;

	apply1(s, put(SE, "default", "c", "{\"v\":1}", "{}", 0)); /* rv 1 */
	p[0] = put(SE, "default", "a", "{}", "{}", 0);
	p[1] = put(SE, "default", "b", "{}", "{}", 0);
	p[2] = put(SE, "default", "c", "{\"v\":2}", "{}", 7); /* stale */
	ck_assert_int_eq(pc_store_apply(s, p, 3, r, &rev, NULL, &err), -ESTALE);
	ck_assert_int_eq(err.code, -ESTALE);
	ck_assert_msg(strstr(err.msg, "ServiceEntry default/c") && strstr(err.msg, "1") &&
			      strstr(err.msg, "7"),
		      "%s", err.msg);
	ck_assert_int_eq(rev, 42);
	ck_assert_int_eq(pc_store_get(s, SE, "default", "a", &o, &err), -ENOENT);
	ck_assert_int_eq(pc_store_get(s, SE, "default", "b", &o, &err), -ENOENT);
	ck_assert_int_eq(pc_store_get(s, SE, "default", "c", &o, &err), 0);
	ck_assert_str_eq(o.spec_json, "{\"v\":1}");
	pc_store_object_release(&o);
	ck_assert_int_eq(pc_store_revision(s), 1);
	pc_store_close(s);
}
END_TEST

START_TEST(optimistic_concurrency)
{
	struct pc_store *s = open_ok();
	struct pc_store_put p = put(SE, "ns1", "x", "{\"v\":1}", "{}", 0);
	struct pc_err err;

	apply1(s, p);                                  /* rv 1 */
	apply1(s, put(SE, "ns1", "y", "{}", "{}", 0)); /* rv 2 */
	p.spec_json = "{\"v\":2}";
	p.expect_rv = 1;
	ck_assert_int_eq(apply1(s, p), PC_STORE_CONFIGURED); /* rv 3 */
	p.spec_json = "{\"v\":3}";
	ck_assert_int_eq(pc_store_apply(s, &p, 1, NULL, NULL, NULL, &err), -ESTALE);
	ck_assert_ptr_nonnull(strstr(err.msg, "ns1/x"));
	ck_assert_ptr_nonnull(strstr(err.msg, "3"));
	p.expect_rv = 3;
	ck_assert_int_eq(apply1(s, p), PC_STORE_CONFIGURED);
	ck_assert_int_eq(rv_of(s, SE, "ns1", "x"), 4);
	/* a precondition on an object that does not exist is a conflict too */
	p = put(SE, "ns1", "z", "{}", "{}", 2);
	ck_assert_int_eq(pc_store_apply(s, &p, 1, NULL, NULL, NULL, &err), -ESTALE);
	ck_assert_ptr_nonnull(strstr(err.msg, "does not exist"));
	pc_store_close(s);
}
END_TEST

START_TEST(delete_rules)
{
	struct pc_store *s = open_ok();
	struct pc_store_object o;
	struct pc_err err;

	ck_assert_int_eq(pc_store_delete(s, SE, "default", "a", 0, &err), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err.msg, "ServiceEntry default/a not found"));
	apply1(s, put(SE, "default", "a", "{}", "{}", 0));
	ck_assert_int_eq(pc_store_delete(s, SE, "default", "a", 5, &err), -ESTALE);
	ck_assert_int_eq(pc_store_get(s, SE, "default", "a", &o, &err), 0);
	pc_store_object_release(&o);
	ck_assert_int_eq(pc_store_delete(s, SE, "default", "a", 1, &err), 0);
	ck_assert_int_eq(pc_store_revision(s), 2);
	ck_assert_int_eq(pc_store_get(s, SE, "default", "a", &o, &err), -ENOENT);
	ck_assert_int_eq(pc_store_delete(s, SE, "default", "a", 0, &err), -ENOENT);
	ck_assert_int_eq(pc_store_revision(s), 2);
	/* re-created: a new uid, generation 1 */
	apply1(s, put(SE, "default", "a", "{}", "{}", 0));
	ck_assert_int_eq(pc_store_get(s, SE, "default", "a", &o, &err), 0);
	ck_assert_int_eq(o.generation, 1);
	ck_assert_int_eq(o.resource_version, 3);
	pc_store_object_release(&o);
	ck_assert_int_eq(pc_store_delete(s, SE, "default", "a", 0, &err), 0);
	ck_assert_int_eq(pc_store_delete(s, NULL, "default", "a", 0, &err), -EINVAL);
	pc_store_close(s);
}
END_TEST

struct listing {
	char seen[16][64];
	int n;
	int stop_after;
};

static int collect(const struct pc_store_object *o, void *data)
{
	struct listing *l = data;

	ck_assert_int_lt(l->n, 16);
	snprintf(l->seen[l->n], sizeof(l->seen[0]), "%s/%s/%s@%" PRId64, o->kind, o->ns, o->name,
		 o->resource_version);
	l->n++;
	return l->n == l->stop_after ? 99 : 0;
}

START_TEST(list_order_and_filters)
{
	struct pc_store *s = open_ok();
	struct listing l;
	struct pc_err err;

	apply1(s, put(VS, "b", "z", "{}", "{}", 0));
	apply1(s, put(SE, "b", "y", "{}", "{}", 0));
	apply1(s, put(SE, "a", "z", "{}", "{}", 0));
	apply1(s, put(SE, "b", "a", "{}", "{}", 0));
	apply1(s, put(VS, "a", "m", "{}", "{}", 0));

	memset(&l, 0, sizeof(l));
	ck_assert_int_eq(pc_store_list(s, NULL, NULL, collect, &l, &err), 0);
	ck_assert_int_eq(l.n, 5);
	ck_assert_str_eq(l.seen[0], "ServiceEntry/a/z@3");
	ck_assert_str_eq(l.seen[1], "ServiceEntry/b/a@4");
	ck_assert_str_eq(l.seen[2], "ServiceEntry/b/y@2");
	ck_assert_str_eq(l.seen[3], "VirtualService/a/m@5");
	ck_assert_str_eq(l.seen[4], "VirtualService/b/z@1");

	memset(&l, 0, sizeof(l));
	ck_assert_int_eq(pc_store_list(s, SE, NULL, collect, &l, &err), 0);
	ck_assert_int_eq(l.n, 3);
	ck_assert_str_eq(l.seen[2], "ServiceEntry/b/y@2");

	memset(&l, 0, sizeof(l));
	ck_assert_int_eq(pc_store_list(s, NULL, "a", collect, &l, &err), 0);
	ck_assert_int_eq(l.n, 2);
	ck_assert_str_eq(l.seen[0], "ServiceEntry/a/z@3");
	ck_assert_str_eq(l.seen[1], "VirtualService/a/m@5");

	memset(&l, 0, sizeof(l));
	ck_assert_int_eq(pc_store_list(s, VS, "b", collect, &l, &err), 0);
	ck_assert_int_eq(l.n, 1);

	memset(&l, 0, sizeof(l));
	ck_assert_int_eq(pc_store_list(s, "Sidecar", NULL, collect, &l, &err), 0);
	ck_assert_int_eq(l.n, 0);

	memset(&l, 0, sizeof(l));
	l.stop_after = 2;
	ck_assert_int_eq(pc_store_list(s, NULL, NULL, collect, &l, &err), 99);
	ck_assert_int_eq(l.n, 2);
	pc_store_close(s);
}
END_TEST

START_TEST(persists_across_reopen)
{
	struct pc_store *s = open_ok();
	struct pc_store_object a, b;
	struct pc_err err;

	apply1(s, put(SE, "default", "a", "{\"s\":1}", "{\"o\":1}", 0));
	apply1(s, put(SE, "default", "b", "{}", "{}", 0));
	ck_assert_int_eq(pc_store_delete(s, SE, "default", "b", 0, &err), 0);
	ck_assert_int_eq(pc_store_get(s, SE, "default", "a", &a, &err), 0);
	pc_store_close(s);

	s = open_ok();
	ck_assert_int_eq(pc_store_revision(s), 3);
	ck_assert_int_eq(pc_store_get(s, SE, "default", "a", &b, &err), 0);
	ck_assert_str_eq(a.uid, b.uid);
	ck_assert_str_eq(a.creation_timestamp, b.creation_timestamp);
	ck_assert_str_eq(b.spec_json, "{\"s\":1}");
	ck_assert_str_eq(b.object_json, "{\"o\":1}");
	ck_assert_int_eq(b.resource_version, 1);
	pc_store_object_release(&b);
	ck_assert_int_eq(pc_store_get(s, SE, "default", "b", &b, &err), -ENOENT);
	pc_store_object_release(&a);
	pc_store_close(s);
}
END_TEST

static void raw_exec(const char *sql)
{
	char path[128];
	sqlite3 *db;

	snprintf(path, sizeof(path), "%s/store.db", dir);
	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

START_TEST(schema_version_is_checked)
{
	struct pc_store *s = open_ok(), *s2 = NULL;
	struct pc_err err;

	pc_store_close(s);
	raw_exec("UPDATE schema_version SET version = 2");
	ck_assert_int_eq(pc_store_open(dir, &s2, &err), -ENOTSUP);
	ck_assert_ptr_null(s2);
	ck_assert_msg(strstr(err.msg, "schema version 2") && strstr(err.msg, "store.db"), "%s",
		      err.msg);

	raw_exec("DELETE FROM schema_version");
	ck_assert_int_eq(pc_store_open(dir, &s2, &err), -ENOTSUP);

	/* a database that is not ours */
	raw_exec("DROP TABLE schema_version; DROP TABLE meta; DROP TABLE objects;"
		 "CREATE TABLE t (x)");
	ck_assert_int_eq(pc_store_open(dir, &s2, &err), -ENOTSUP);
	ck_assert_ptr_nonnull(strstr(err.msg, "not a portcullis store"));
}
END_TEST

static unsigned mode_of(const char *name)
{
	char path[160];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	ck_assert_msg(lstat(path, &st) == 0, "%s: %s", path, strerror(errno));
	ck_assert_msg(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode), "%s: not a file", path);
	return st.st_mode & 07777;
}

/* The store is the policy: nobody but its owner reads it (0700, 0600). */
START_TEST(state_dir_is_created_0700)
{
	struct pc_store *s = open_ok(), *s2 = NULL;
	struct pc_err err;
	struct stat st;
	FILE *f;

	ck_assert_int_eq(stat(dir, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0700);
	ck_assert_uint_eq(mode_of("store.db"), 0600);
	ck_assert_uint_eq(mode_of("store.db-wal"), 0600); /* open: WAL mode keeps them */
	ck_assert_uint_eq(mode_of("store.db-shm"), 0600);
	pc_store_close(s);

	/* a file where the directory should be */
	ck_assert_int_eq(rmdir(dir) == 0 || errno == ENOTEMPTY, 1);
	snprintf(dir, sizeof(dir), "%s/file", tmp);
	f = fopen(dir, "w");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	ck_assert_int_eq(pc_store_open(dir, &s2, &err), -ENOTDIR);
	snprintf(dir, sizeof(dir), "%s/missing/state", tmp);
	ck_assert_int_eq(pc_store_open(dir, &s2, &err), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err.msg, "cannot create state directory"));
}
END_TEST

/* A store an older build made world-readable is private once opened again. */
START_TEST(old_modes_are_tightened)
{
	char path[160];

	pc_store_close(open_ok());
	snprintf(path, sizeof(path), "%s/store.db", dir);
	ck_assert_int_eq(chmod(path, 0644), 0);
	pc_store_close(open_ok());
	ck_assert_uint_eq(mode_of("store.db"), 0600);
}
END_TEST

/* A root-only file the links below point to: it must never change. */
static void make_foreign(char *path, size_t len)
{
	FILE *f;

	snprintf(path, len, "%s/foreign", tmp);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("secret\n", f);
	fclose(f);
	ck_assert_int_eq(chmod(path, 0600), 0);
}

static void assert_foreign_intact(const char *path)
{
	struct stat st;

	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	ck_assert_int_eq(st.st_uid, geteuid());
	ck_assert_int_eq(st.st_size, 7);
}

/* A link planted in the state dir (its owner, the proxy user, can) is refused. */
START_TEST(links_in_the_state_dir_are_refused)
{
	static const char *const names[] = { "store.db", "store.db-wal", "store.db-shm",
					     "store.lock" };
	char foreign[128], link[160];
	struct pc_store *s = NULL;
	struct pc_store_lock *l = NULL;
	struct pc_err err;
	size_t i;

	make_foreign(foreign, sizeof(foreign));
	pc_store_close(open_ok());
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(link, sizeof(link), "%s/%s", dir, names[i]);
		unlink(link);
		ck_assert_int_eq(symlink(foreign, link), 0);
		ck_assert_int_eq(pc_store_open(dir, &s, &err), -ELOOP);
		ck_assert_msg(strstr(err.msg, "symbolic link") && strstr(err.msg, names[i]), "%s",
			      err.msg);
		if (strcmp(names[i], "store.lock") == 0) {
			ck_assert_int_eq(pc_store_lock(dir, &l, &err), -ELOOP);
			ck_assert_ptr_null(l);
		}
		assert_foreign_intact(foreign);
		ck_assert_int_eq(unlink(link), 0);
	}
	pc_store_close(open_ok()); /* without the links it works again */
}
END_TEST

/* One owner: a second lock fails, even in this process; opens still work. */
START_TEST(lock_has_one_owner)
{
	struct pc_store_lock *l = NULL, *l2 = NULL;
	struct pc_err err;

	ck_assert_msg(pc_store_lock(dir, &l, &err) == 0, "%s", err.msg);
	ck_assert_ptr_nonnull(l);
	ck_assert_uint_eq(mode_of("store.lock"), 0600);
	ck_assert_int_eq(pc_store_lock(dir, &l2, &err), -EBUSY);
	ck_assert_ptr_null(l2);
	ck_assert_msg(strstr(err.msg, "in use by another daemon"), "%s", err.msg);
	ck_assert_msg(strstr(err.msg, dir), "%s", err.msg);
	pc_store_close(open_ok()); /* tools and tests may still open it */
	pc_store_unlock(l);
	ck_assert_msg(pc_store_lock(dir, &l, &err) == 0, "%s", err.msg);
	pc_store_unlock(l);
	pc_store_unlock(NULL);
}
END_TEST

/* Another process holds it: the refusal names its pid; its death frees it. */
START_TEST(lock_names_the_holder_and_dies_with_it)
{
	struct pc_store_lock *l = NULL;
	struct pc_err err;
	char want[64], c;
	int fds[2], status;
	pid_t pid;

	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		close(fds[0]);
		if (pc_store_lock(dir, &l, &err) < 0 || write(fds[1], "x", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	close(fds[1]);
	ck_assert_int_eq(read(fds[0], &c, 1), 1);
	close(fds[0]);
	ck_assert_int_eq(pc_store_lock(dir, &l, &err), -EBUSY);
	snprintf(want, sizeof(want), "pid %ld holds", (long)pid);
	ck_assert_msg(strstr(err.msg, want), "%s (want %s)", err.msg, want);
	kill(pid, SIGKILL);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(pc_store_lock(dir, &l, &err) == 0, "%s", err.msg);
	pc_store_unlock(l);
}
END_TEST

/*
 * SQLite reports a full disk as SQLITE_FULL; PRAGMA max_page_count makes
 * the same error happen without filling a file system.
 */
START_TEST(full_disk_fails_cleanly)
{
	struct pc_store *s = open_ok();
	static char big[200000];
	struct pc_store_put p[2];
	struct pc_err err;
	int64_t rev = 42;

	apply1(s, put(SE, "default", "a", "{}", "{}", 0));
	ck_assert_int_eq(
		sqlite3_exec(pc_store_sqlite(s), "PRAGMA max_page_count = 1", NULL, NULL, NULL),
		SQLITE_OK);
	memset(big, 'x', sizeof(big) - 1);
	p[0] = put(SE, "default", "b", "{}", "{}", 0);
	p[1] = put(SE, "default", "c", big, "{}", 0);
	ck_assert_int_eq(pc_store_apply(s, p, 2, NULL, &rev, NULL, &err), -ENOSPC);
	ck_assert_msg(strstr(err.msg, "no space left") != NULL, "%s", err.msg);
	ck_assert_int_eq(rev, 42);
	ck_assert_int_eq(pc_store_revision(s), 1);
	pc_store_close(s);

	s = open_ok(); /* max_page_count is per connection */
	ck_assert_int_eq(pc_store_revision(s), 1);
	ck_assert_int_eq(rv_of(s, SE, "default", "a"), 1);
	ck_assert_int_eq(pc_store_delete(s, SE, "default", "b", 0, &err), -ENOENT);
	apply1(s, p[0]); /* and the store still works */
	pc_store_close(s);
}
END_TEST

static int list_nothing(const struct pc_store_object *o, void *data)
{
	(void)o;
	(void)data;
	return 0;
}

/* A database whose pages are garbage (no I/O failed): "corrupt", naming the file. */
START_TEST(corrupt_is_corrupt_not_io)
{
	struct pc_store *s = open_ok();
	char path[160], junk[4096];
	struct pc_err err;
	int fd, i, ret;

	for (i = 0; i < 50; i++) {
		char name[16];

		snprintf(name, sizeof(name), "o%d", i);
		apply1(s, put(SE, "default", name, "{}", "{}", 0));
	}
	pc_store_close(s);
	snprintf(path, sizeof(path), "%s/store.db", dir);
	memset(junk, 0xa5, sizeof(junk));
	fd = open(path, O_WRONLY);
	ck_assert_int_ge(fd, 0);
	for (i = 2; i < 8; i++) /* pages 3..8: the tables, not the header */
		ck_assert_int_eq(pwrite(fd, junk, sizeof(junk), (off_t)i * 4096), sizeof(junk));
	close(fd);
	ret = pc_store_open(dir, &s, &err);
	if (ret == 0) {
		ret = pc_store_list(s, NULL, NULL, list_nothing, NULL, &err);
		pc_store_close(s);
	}
	ck_assert_int_eq(ret, -EIO);
	ck_assert_msg(strstr(err.msg, "corrupt") && strstr(err.msg, "store.db") &&
			      !strstr(err.msg, "I/O error"),
		      "%s", err.msg);
}
END_TEST

/* A file system that turns read-only under an open store: SQLITE_READONLY. */
START_TEST(read_only_at_apply)
{
	struct pc_store *s = open_ok();
	struct pc_store_put p = put(SE, "default", "b", "{}", "{}", 0);
	struct pc_err err;

	apply1(s, put(SE, "default", "a", "{}", "{}", 0));
	ck_assert_int_eq(
		sqlite3_exec(pc_store_sqlite(s), "PRAGMA query_only = 1", NULL, NULL, NULL),
		SQLITE_OK);
	ck_assert_int_eq(pc_store_apply(s, &p, 1, NULL, NULL, NULL, &err), -EROFS);
	ck_assert_msg(strstr(err.msg, "read-only") != NULL, "%s", err.msg);
	ck_assert_int_eq(pc_store_delete(s, SE, "default", "a", 0, &err), -EROFS);
	ck_assert_int_eq(pc_store_revision(s), 1);
	ck_assert_int_eq(rv_of(s, SE, "default", "a"), 1);
	pc_store_close(s);
}
END_TEST

/*
 * Permission bits do not stop root, so the child drops to nobody first;
 * then a read-only state directory or database must make open fail with a
 * clear error (the CLI's apply fails before touching anything).
 */
static int open_as_nobody(const char *state, char *msg, size_t len)
{
	struct pc_store *s = NULL;
	struct pc_err err;
	int fds[2], status, ret = 0;
	pid_t pid;

	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		close(fds[0]);
		if (geteuid() == 0 &&
		    (setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534)))
			_exit(100);
		ret = pc_store_open(state, &s, &err);
		if (ret == 0)
			pc_store_close(s);
		else if (write(fds[1], err.msg, strlen(err.msg)) < 0)
			_exit(101);
		_exit(-ret);
	}
	close(fds[1]);
	memset(msg, 0, len);
	ck_assert_int_ge(read(fds[0], msg, len - 1), 0);
	close(fds[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	return -WEXITSTATUS(status);
}

START_TEST(read_only_dir_or_db_refused_at_open)
{
	struct pc_store *s;
	char msg[PC_ERR_MSG_MAX];
	int ret;

	/* an empty, read-only state dir: no store can be created */
	ck_assert_int_eq(mkdir(dir, 0555), 0);
	ret = open_as_nobody(dir, msg, sizeof(msg));
	ck_assert_msg(ret == -EACCES, "%d %s", ret, msg);
	ck_assert_msg(strstr(msg, "not writable") != NULL, "%s", msg);

	/* an existing store whose database file is read-only */
	ck_assert_int_eq(chmod(dir, 0777), 0);
	s = open_ok();
	pc_store_close(s);
	snprintf(msg, sizeof(msg), "%s/store.db", dir);
	ck_assert_int_eq(chmod(msg, 0444), 0);
	ret = open_as_nobody(dir, msg, sizeof(msg));
	ck_assert_msg(ret == -EROFS, "%d %s", ret, msg);
	ck_assert_msg(strstr(msg, "read-only") != NULL, "%s", msg);
}
END_TEST

START_TEST(busy_writer_times_out)
{
	struct pc_store *a = open_ok(), *b = open_ok();
	struct pc_store_put p = put(SE, "default", "a", "{}", "{}", 0);
	struct pc_err err;

	ck_assert_int_eq(sqlite3_exec(pc_store_sqlite(a), "BEGIN IMMEDIATE", NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_busy_timeout(pc_store_sqlite(b), 50);
	ck_assert_int_eq(pc_store_apply(b, &p, 1, NULL, NULL, NULL, &err), -EBUSY);
	ck_assert_msg(strstr(err.msg, "locked") != NULL, "%s", err.msg);
	ck_assert_int_eq(sqlite3_exec(pc_store_sqlite(a), "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	apply1(b, p);
	pc_store_close(a);
	pc_store_close(b);
}
END_TEST

/*
 * Two processes read the same resourceVersion, wait for each other, then
 * both apply with it as the precondition: exactly one may win.
 */
static void racer(int go_fd, int idx)
{
	struct pc_store *s = NULL;
	struct pc_store_put p;
	struct pc_err err;
	char spec[32], c;
	int ret;

	if (pc_store_open(dir, &s, &err) < 0)
		_exit(3);
	snprintf(spec, sizeof(spec), "{\"by\":%d}", idx);
	p = put(SE, "default", "x", spec, "{}", pc_store_revision(s));
	if (read(go_fd, &c, 1) != 1)
		_exit(4);
	ret = pc_store_apply(s, &p, 1, NULL, NULL, NULL, &err);
	pc_store_close(s);
	_exit(ret == 0 ? 0 : ret == -ESTALE ? 1 : 2);
}

START_TEST(racing_writers_one_wins)
{
	struct pc_store *s;
	pid_t pid[2];
	int go[2], status, i, wins = 0, stale = 0;

	s = open_ok();
	apply1(s, put(SE, "default", "x", "{}", "{}", 0));
	pc_store_close(s);
	ck_assert_int_eq(pipe(go), 0);
	for (i = 0; i < 2; i++) {
		pid[i] = fork();
		ck_assert_int_ne(pid[i], -1);
		if (pid[i] == 0) {
			close(go[1]);
			racer(go[0], i);
		}
	}
	close(go[0]);
	usleep(100000); /* both have opened and read rv 1 */
	ck_assert_int_eq(write(go[1], "gg", 2), 2);
	close(go[1]);
	for (i = 0; i < 2; i++) {
		ck_assert_int_eq(waitpid(pid[i], &status, 0), pid[i]);
		ck_assert(WIFEXITED(status));
		wins += WEXITSTATUS(status) == 0;
		stale += WEXITSTATUS(status) == 1;
	}
	ck_assert_int_eq(wins, 1);
	ck_assert_int_eq(stale, 1);
	s = open_ok();
	ck_assert_int_eq(pc_store_revision(s), 2);
	pc_store_close(s);
}
END_TEST

#define INCREMENTS 40

/* Read-modify-write a counter, retrying on conflict. */
static void incrementer(void)
{
	struct pc_store *s = NULL;
	struct pc_store_object o;
	struct pc_store_put p;
	struct pc_err err;
	char spec[32];
	int done = 0, ret;
	long v;

	if (pc_store_open(dir, &s, &err) < 0)
		_exit(3);
	while (done < INCREMENTS) {
		if (pc_store_get(s, SE, "default", "counter", &o, &err) < 0)
			_exit(4);
		v = strtol(o.spec_json, NULL, 10);
		snprintf(spec, sizeof(spec), "%ld", v + 1);
		p = put(SE, "default", "counter", spec, "{}", o.resource_version);
		ret = pc_store_apply(s, &p, 1, NULL, NULL, NULL, &err);
		pc_store_object_release(&o);
		if (ret == 0)
			done++;
		else if (ret != -ESTALE)
			_exit(5);
	}
	pc_store_close(s);
	_exit(0);
}

START_TEST(concurrent_appliers_lose_no_update)
{
	struct pc_store_object o;
	struct pc_store *s;
	struct pc_err err;
	pid_t pid[2];
	int status, i;

	s = open_ok();
	apply1(s, put(SE, "default", "counter", "0", "{}", 0));
	pc_store_close(s);
	for (i = 0; i < 2; i++) {
		pid[i] = fork();
		ck_assert_int_ne(pid[i], -1);
		if (pid[i] == 0)
			incrementer();
	}
	for (i = 0; i < 2; i++) {
		ck_assert_int_eq(waitpid(pid[i], &status, 0), pid[i]);
		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d", status);
	}
	s = open_ok();
	ck_assert_int_eq(pc_store_get(s, SE, "default", "counter", &o, &err), 0);
	ck_assert_int_eq(strtol(o.spec_json, NULL, 10), 2L * INCREMENTS);
	ck_assert_int_eq(o.resource_version, 1 + 2L * INCREMENTS);
	pc_store_object_release(&o);
	pc_store_close(s);
}
END_TEST

/*
 * Applies revision after revision: each creates objects o<rev>-0..2 and
 * updates "counter". After each success, reports the revision on <fd>.
 */
static void crash_child(int fd)
{
	char names[3][32], spec[32];
	struct pc_store_put p[4];
	struct pc_store *s = NULL;
	struct pc_err err;
	int64_t rev, got;
	int i;

	if (pc_store_open(dir, &s, &err) < 0)
		_exit(3);
	for (rev = pc_store_revision(s) + 1;; rev++) {
		for (i = 0; i < 3; i++) {
			snprintf(names[i], sizeof(names[i]), "o%" PRId64 "-%d", rev, i);
			p[i] = put(SE, "default", names[i], "{}", "{}", 0);
		}
		snprintf(spec, sizeof(spec), "%" PRId64, rev);
		p[3] = put(SE, "default", "counter", spec, "{}", 0);
		if (pc_store_apply(s, p, 4, NULL, &got, NULL, &err) < 0 || got != rev)
			_exit(4);
		if (write(fd, &rev, sizeof(rev)) != (ssize_t)sizeof(rev))
			_exit(5);
	}
}

struct crash_check {
	int64_t max_rev;
	long per_rev[4096];
	bool bad;
};

static int count_objects(const struct pc_store_object *o, void *data)
{
	struct crash_check *c = data;
	char *end;
	long r;

	if (strcmp(o->name, "counter") == 0)
		return 0;
	r = o->name[0] == 'o' ? strtol(o->name + 1, &end, 10) : 0;
	if (r < 1 || r >= 4096 || *end != '-' || o->resource_version != r)
		c->bad = true;
	else
		c->per_rev[r]++;
	return 0;
}

static void check_integrity(struct pc_store *s)
{
	sqlite3_stmt *st;

	ck_assert_int_eq(
		sqlite3_prepare_v2(pc_store_sqlite(s), "PRAGMA integrity_check", -1, &st, NULL),
		SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	ck_assert_str_eq((const char *)sqlite3_column_text(st, 0), "ok");
	sqlite3_finalize(st);
}

static void check_after_crash(int64_t acked)
{
	struct crash_check *c = calloc(1, sizeof(*c));
	struct pc_store *s = open_ok();
	struct pc_err err;
	int64_t rev = pc_store_revision(s);
	long r;

	ck_assert_ptr_nonnull(c);
	check_integrity(s);

	/* what was acknowledged is there; at most the one in flight beyond */
	ck_assert_int_ge(rev, acked);
	ck_assert_int_le(rev, acked + 1);
	ck_assert_int_lt(rev, 4096);
	ck_assert_int_eq(pc_store_list(s, SE, NULL, count_objects, c, &err), 0);
	ck_assert(!c->bad);
	for (r = 1; r <= rev; r++)
		ck_assert_msg(c->per_rev[r] == 3, "revision %ld has %ld objects", r, c->per_rev[r]);
	for (; r < 4096; r++)
		ck_assert_int_eq(c->per_rev[r], 0);
	if (rev > 0)
		ck_assert_int_eq(rv_of(s, SE, "default", "counter"), rev);
	pc_store_close(s);
	free(c);
}

START_TEST(kill_9_loses_no_acknowledged_change)
{
	unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
	int64_t acked = 0, r;
	int round;

	srand(seed);
	for (round = 0; round < 6; round++) {
		int fds[2], status, want = 1 + rand() % 40;
		int64_t got = 0;
		pid_t pid;

		ck_assert_int_eq(pipe(fds), 0);
		pid = fork();
		ck_assert_int_ne(pid, -1);
		if (pid == 0) {
			close(fds[0]);
			crash_child(fds[1]);
		}
		close(fds[1]);
		while (got < want && read(fds[0], &r, sizeof(r)) == (ssize_t)sizeof(r))
			got++, acked = r;
		usleep((useconds_t)(rand() % 3000)); /* land anywhere in a transaction */
		kill(pid, SIGKILL);
		while (read(fds[0], &r, sizeof(r)) == (ssize_t)sizeof(r))
			acked = r; /* acknowledged before it died */
		close(fds[0]);
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		ck_assert_msg(WIFSIGNALED(status), "seed %u: child exited %d", seed, status);
		check_after_crash(acked);
	}
}
END_TEST

/* ---- watch ---- */

/* What a watch delivered: "TYPE kind/ns/name@rev rv=N gen=G" per event. */
struct seen {
	char text[4096];
	size_t n;
};

static int seen_one(const struct pc_store_event *ev, void *data)
{
	static const char *const types[] = { "ADDED", "MODIFIED", "DELETED" };
	struct seen *w = data;
	size_t len = strlen(w->text);

	snprintf(w->text + len, sizeof(w->text) - len, "%s %s/%s/%s@%lld rv=%lld gen=%lld %s\n",
		 types[ev->type], ev->obj->kind, ev->obj->ns, ev->obj->name,
		 (long long)ev->revision, (long long)ev->obj->resource_version,
		 (long long)ev->obj->generation, ev->obj->object_json);
	w->n++;
	return 0;
}

/* Watch <s> from <since>: returns the result, the events in <w>, the revision in <*upto>. */
static int watch(struct pc_store *s, int64_t since, struct seen *w, int64_t *upto)
{
	struct pc_err err;

	memset(w, 0, sizeof(*w));
	return pc_store_watch(s, since, seen_one, w, upto, &err);
}

/* The store's own changes, in order, each as the change left the object. */
START_TEST(watch_sees_changes)
{
	struct pc_store *s = open_ok();
	struct pc_store_put p[2];
	struct seen w;
	struct pc_err err;
	int64_t upto = -1;

	ck_assert_int_eq(watch(s, 0, &w, &upto), 0);
	ck_assert_uint_eq(w.n, 0);
	ck_assert_int_eq(upto, 0);

	apply1(s, put(SE, "default", "a", "{}", "{\"a\":1}", 0));
	p[0] = put(SE, "default", "a", "{\"x\":1}", "{\"a\":2}", 0);
	p[1] = put(VS, "shop", "b", "{}", "{\"b\":1}", 0);
	ck_assert_int_eq(pc_store_apply(s, p, 2, NULL, NULL, NULL, &err), 0);
	apply1(s, put(SE, "default", "a", "{\"x\":1}", "{\"a\":2}", 0)); /* unchanged: no event */
	ck_assert_int_eq(pc_store_delete(s, SE, "default", "a", 0, &err), 0);

	ck_assert_int_eq(watch(s, 0, &w, &upto), 0);
	ck_assert_int_eq(upto, 3);
	ck_assert_str_eq(w.text, "ADDED ServiceEntry/default/a@1 rv=1 gen=1 {\"a\":1}\n"
				 "MODIFIED ServiceEntry/default/a@2 rv=2 gen=2 {\"a\":2}\n"
				 "ADDED VirtualService/shop/b@2 rv=2 gen=1 {\"b\":1}\n"
				 "DELETED ServiceEntry/default/a@3 rv=3 gen=2 {\"a\":2}\n");
	ck_assert_int_eq(watch(s, 2, &w, &upto), 0);
	ck_assert_uint_eq(w.n, 1);
	ck_assert_int_eq(watch(s, 3, &w, &upto), 0);
	ck_assert_uint_eq(w.n, 0);
	ck_assert_int_eq(upto, 3);
	pc_store_close(s);
}
END_TEST

/*
 * A second writer on the same database (another process, here another
 * handle) shows in the first handle's watch: PRAGMA data_version tells it
 * to look, the log says what changed. A writer that does not log (raw
 * SQL, as a build before the log would write) is a gap: -ERANGE.
 */
START_TEST(watch_sees_a_second_writer)
{
	struct pc_store *s = open_ok(), *s2 = open_ok();
	struct seen w;
	struct pc_err err;
	int64_t upto = -1;
	char *msg = NULL;

	ck_assert_int_eq(watch(s, 0, &w, &upto), 0);
	ck_assert_uint_eq(w.n, 0);

	apply1(s2, put(SE, "default", "other", "{}", "{\"by\":2}", 0));
	ck_assert_int_eq(watch(s, 0, &w, &upto), 0);
	ck_assert_int_eq(upto, 1);
	ck_assert_str_eq(w.text, "ADDED ServiceEntry/default/other@1 rv=1 gen=1 {\"by\":2}\n");
	ck_assert_int_eq(watch(s, 1, &w, &upto), 0); /* nothing new: the cheap path */
	ck_assert_uint_eq(w.n, 0);

	/* interleaved: ours, theirs, ours */
	apply1(s, put(SE, "default", "mine", "{}", "{}", 0));
	ck_assert_int_eq(pc_store_delete(s2, SE, "default", "other", 0, &err), 0);
	apply1(s, put(SE, "default", "mine2", "{}", "{}", 0));
	ck_assert_int_eq(watch(s, 1, &w, &upto), 0);
	ck_assert_int_eq(upto, 4);
	ck_assert_uint_eq(w.n, 3);
	ck_assert_ptr_nonnull(strstr(w.text, "DELETED ServiceEntry/default/other@3"));

	/* a write that bypasses the log: the watch cannot say what changed */
	ck_assert_int_eq(sqlite3_exec(pc_store_sqlite(s2),
				      "UPDATE meta SET value = value + 1 WHERE key = 'revision'",
				      NULL, NULL, &msg),
			 SQLITE_OK);
	ck_assert_int_eq(watch(s, 4, &w, &upto), -ERANGE);
	ck_assert_int_eq(upto, 5);
	ck_assert_int_eq(watch(s, 5, &w, &upto), 0); /* from the revision listed again */
	ck_assert_uint_eq(w.n, 0);
	pc_store_close(s2);
	pc_store_close(s);
}
END_TEST

/* The log keeps PC_STORE_WATCH_KEEP changes: older ones are -ERANGE, never half-delivered. */
START_TEST(watch_log_is_bounded)
{
	struct pc_store *s = open_ok();
	struct pc_store_put *p = calloc(PC_STORE_WATCH_KEEP, sizeof(*p));
	char (*names)[16] = calloc(PC_STORE_WATCH_KEEP, sizeof(*names));
	struct seen w;
	struct pc_err err;
	int64_t upto;
	size_t i;

	ck_assert_ptr_nonnull(p);
	ck_assert_ptr_nonnull(names);
	apply1(s, put(SE, "default", "first", "{}", "{}", 0));
	for (i = 0; i < PC_STORE_WATCH_KEEP; i++) {
		snprintf(names[i], sizeof(names[i]), "n%zu", i);
		p[i] = put(SE, "default", names[i], "{}", "{}", 0);
	}
	ck_assert_int_eq(pc_store_apply(s, p, PC_STORE_WATCH_KEEP, NULL, NULL, NULL, &err), 0);
	ck_assert_int_eq(watch(s, 1, &w, &upto), 0); /* the big change is whole */
	ck_assert_uint_eq(w.n, PC_STORE_WATCH_KEEP);
	ck_assert_int_eq(upto, 2);
	ck_assert_int_eq(watch(s, 0, &w, &upto), -ERANGE); /* "first" fell out */
	apply1(s, put(SE, "default", "last", "{}", "{}", 0));
	ck_assert_int_eq(watch(s, 1, &w, &upto), -ERANGE); /* part of revision 2 fell out */
	ck_assert_int_eq(watch(s, 2, &w, &upto), 0);
	ck_assert_str_eq(w.text, "ADDED ServiceEntry/default/last@3 rv=3 gen=1 {}\n");
	free(names);
	free(p);
	pc_store_close(s);
}
END_TEST

/* A store made before the watch log gets one at open; older changes are -ERANGE. */
START_TEST(watch_log_added_to_an_old_store)
{
	struct pc_store *s = open_ok();
	struct seen w;
	int64_t upto;

	apply1(s, put(SE, "default", "a", "{}", "{}", 0));
	apply1(s, put(SE, "default", "b", "{}", "{}", 0));
	ck_assert_int_eq(sqlite3_exec(pc_store_sqlite(s),
				      "DROP TABLE changes; DELETE FROM meta WHERE key = 'watch_floor'",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	pc_store_close(s);
	s = open_ok();
	ck_assert_int_eq(watch(s, 1, &w, &upto), -ERANGE);
	ck_assert_int_eq(upto, 2);
	ck_assert_int_eq(watch(s, 2, &w, &upto), 0);
	apply1(s, put(SE, "default", "c", "{}", "{}", 0));
	ck_assert_int_eq(watch(s, 2, &w, &upto), 0);
	ck_assert_str_eq(w.text, "ADDED ServiceEntry/default/c@3 rv=3 gen=1 {}\n");
	pc_store_close(s);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("store.store");
	TCase *tc = tcase_create("core");
	TCase *tp = tcase_create("processes");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, created_configured_unchanged);
	tcase_add_test(tc, one_apply_is_one_revision);
	tcase_add_test(tc, apply_is_all_or_nothing);
	tcase_add_test(tc, optimistic_concurrency);
	tcase_add_test(tc, delete_rules);
	tcase_add_test(tc, list_order_and_filters);
	tcase_add_test(tc, persists_across_reopen);
	tcase_add_test(tc, schema_version_is_checked);
	tcase_add_test(tc, state_dir_is_created_0700);
	tcase_add_test(tc, old_modes_are_tightened);
	tcase_add_test(tc, links_in_the_state_dir_are_refused);
	tcase_add_test(tc, lock_has_one_owner);
	tcase_add_test(tc, full_disk_fails_cleanly);
	tcase_add_test(tc, read_only_at_apply);
	tcase_add_test(tc, busy_writer_times_out);
	tcase_add_test(tc, remove_in_apply);
	tcase_add_test(tc, remove_missing_ok);
	tcase_add_test(tc, corrupt_is_corrupt_not_io);
	tcase_add_test(tc, source_is_kept);
	tcase_add_test(tc, watch_sees_changes);
	tcase_add_test(tc, watch_sees_a_second_writer);
	tcase_add_test(tc, watch_log_is_bounded);
	tcase_add_test(tc, watch_log_added_to_an_old_store);
	suite_add_tcase(s, tc);

	tcase_add_checked_fixture(tp, setup, teardown);
	tcase_set_timeout(tp, 120);
	tcase_add_test(tp, read_only_dir_or_db_refused_at_open);
	tcase_add_test(tp, racing_writers_one_wins);
	tcase_add_test(tp, lock_names_the_holder_and_dies_with_it);
	tcase_add_test(tp, concurrent_appliers_lose_no_update);
	tcase_add_test(tp, kill_9_loses_no_acknowledged_change);
	suite_add_tcase(s, tp);

	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
