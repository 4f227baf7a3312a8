/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for daemon/control.c: apply, delete, list, status, watch and
 * --config through the control plane, with a real store in a mkdtemp
 * directory per test. The publish callback keeps the last snapshot, so
 * every change is checked where it matters: how the published policy
 * classifies a destination. Outcomes are the errnos and the struct
 * pc_change_result of control.h; their HTTP form (409, 422, ...) is
 * api.c's, covered by tests/system/proxy/test_live.py and tests/cli.
 * The registry and the watch log have unit tests of their own
 * (test_registry.c, test_watchlog.c).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "daemonutil.h"

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "daemon/control.h"
#include "model/node.h"
#include "model/resource.h"
#include "net/addr.h"
#include "policy/snapshot.h"
#include "store/store.h"

static char tmp[64];
static char dir[96]; /* the state dir: <tmp>/state */

static struct pc_control *ctl;
static struct pc_snapshot *last; /* the last published snapshot (a reference) */
static unsigned npub;            /* how many were published */
static unsigned nconflicts;      /* reports through opts.report */

static struct pc_change_result RES; /* the result of the last change */
static int RET;                      /* and what it returned */
static struct pc_buf LB;             /* the last list() or status() as JSON */

/* Parsed reply bodies, freed in teardown. */

/*
 * The publish callback. It runs without the control lock (taking it here
 * would deadlock otherwise: pc_control_counters() takes it) and sees the
 * generations in order.
 */
static void publish(void *data, struct pc_snapshot *snap)
{
	struct pc_control_counters cc;

	(void)data;
	if (ctl) { /* NULL while pc_control_open() publishes the first */
		pc_control_counters(ctl, &cc);
		ck_assert_uint_ge(cc.generation, snap->generation);
		ck_assert(!last || snap->generation > last->generation);
	}
	pc_snapshot_unref(last);
	last = snap;
	npub++;
}

static void report(void *data, const char *what)
{
	(void)data;
	(void)what;
	nconflicts++;
}

static void setup(void)
{
	snprintf(tmp, sizeof(tmp), "/tmp/pc-control-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmp));
	snprintf(dir, sizeof(dir), "%s/state", tmp);
	pc_log_set_level(PC_LOG_WARN); /* keep "policy compiled" lines out of the test output */
	ctl = NULL;
	last = NULL;
	npub = 0;
	nconflicts = 0;
	pc_change_result_init(&RES);
	RET = 0;
	pc_buf_init(&LB);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void close_ctl(void)
{
	if (ctl) {
		pc_control_shutdown(ctl);
		pc_control_free(ctl);
		ctl = NULL;
	}
}

/* Free the control, the snapshot, the reply and the parsed bodies. */
static void teardown_state(void)
{
	close_ctl();
	pc_snapshot_unref(last);
	last = NULL;
	pc_change_result_release(&RES);
	pc_buf_release(&LB);
	du_json_release();
}

static void teardown(void)
{
	teardown_state();
	nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void open_ctl(void)
{
	struct pc_control_opts o = { 0 };
	struct pc_err err;
	int ret;

	o.state_dir = dir;
	o.compile.policy = -1; /* REGISTRY_ONLY unless a Sidecar says otherwise */
	o.compile.proxy_port = 15001;
	o.publish = publish;
	o.report = report;
	ret = pc_control_open(&o, &ctl, &err);
	ck_assert_msg(ret == 0, "open: %d %s", ret, err.msg);
	ck_assert_ptr_nonnull(last); /* the first snapshot is published before open returns */
}

static void reopen_ctl(void)
{
	close_ctl();
	open_ctl();
}

static void result_reset(void)
{
	pc_change_result_release(&RES);
	pc_change_result_init(&RES);
}

/* Apply the uploads; returns 0 or the negative errno, the result is in RES. */
static int apply_n(const struct pc_upload *u, size_t n)
{
	result_reset();
	RET = pc_control_apply(ctl, u, n, &RES);
	return RET;
}

static int apply(const char *name, const char *yaml)
{
	struct pc_upload u = { name, yaml, strlen(yaml) };

	return apply_n(&u, 1);
}

/* apply() that must succeed with <result> for its only object. */
static void apply_ok(const char *yaml, const char *result)
{
	ck_assert_msg(apply("t.yaml", yaml) == 0, "%d %s", RET, RES.err.msg);
	ck_assert_uint_eq(RES.n, 1);
	ck_assert_str_eq(pc_store_result_name(RES.v[0].result), result);
}

static int del(enum pc_kind kind, const char *ns, const char *name, int64_t rv)
{
	result_reset();
	RET = pc_control_delete(ctl, kind, ns, name, rv, &RES);
	return RET;
}

/* Fail unless the last change failed with <ret>, naming object <failed> (SIZE_MAX: none). */
static void expect_failed(int ret, size_t failed)
{
	ck_assert_msg(RET == ret, "want %d, got %d %s", ret, RET, RES.err.msg);
	ck_assert_uint_eq(RES.failed, failed);
	ck_assert(!RES.stored);
}

/* The name of the object the last change failed on. */
static const char *failed_name(void)
{
	ck_assert_uint_lt(RES.failed, RES.n);
	return RES.v[RES.failed].name;
}

/* The error findings of the last change as `portcullis validate` prints them. */
static const char *findings_text(void)
{
	static struct pc_buf text;
	size_t i;

	pc_buf_clear(&text);
	for (i = 0; i < RES.findings.n; i++) {
		const struct pc_finding *x = &RES.findings.v[i];

		if (x->sev != PC_SEV_ERROR)
			continue;
		pc_buf_adds(&text, x->file ? x->file : "<input>");
		if (x->line)
			pc_buf_printf(&text, ":%u:%u", x->line, x->col);
		pc_buf_adds(&text, ": error: ");
		if (x->kind) {
			pc_buf_adds(&text, x->kind);
			if (x->name)
				pc_buf_printf(&text, " %s/%s", x->ns ? x->ns : "default", x->name);
			pc_buf_adds(&text, ": ");
		}
		if (x->path && *x->path)
			pc_buf_printf(&text, "%s: ", x->path);
		pc_buf_printf(&text, "%s\n", x->msg);
	}
	pc_buf_addc(&text, '\0');
	return text.p;
}

static int list_one(const struct pc_store_object *obj, void *data)
{
	size_t *count = data;

	if ((*count)++)
		pc_buf_addc(&LB, ',');
	return pc_control_object_json(&LB, obj);
}

/* The objects as {"revision": N, "items": [objects as the API shows them]}. */
static const struct pc_node *list(const char *kind, const char *ns, const char *name)
{
	const struct pc_kind_info *ki = kind ? pc_kind_lookup(kind) : NULL;
	struct pc_buf items = PC_BUF_INIT;
	struct pc_err err;
	int64_t rev = 0;
	size_t count = 0;
	int ret;

	ck_assert(!kind || ki);
	pc_buf_clear(&LB);
	ret = pc_control_list(ctl, ki ? (int)ki->kind : -1, ns, name, list_one, &count, &rev,
			      &err);
	ck_assert_msg(ret == 0, "list: %d %s", ret, err.msg);
	pc_buf_printf(&items, "{\"revision\":%" PRId64 ",\"items\":[%.*s]}", rev, (int)LB.len,
		      LB.p ? LB.p : "");
	pc_buf_clear(&LB);
	pc_buf_add(&LB, items.p, items.len);
	pc_buf_release(&items);
	return json(LB.p, LB.len);
}

/* How many objects list() finds. */
static size_t count_objects(int kind, const char *ns, const char *name)
{
	struct pc_err err;
	int64_t rev;
	size_t count = 0;

	pc_buf_clear(&LB);
	ck_assert_int_eq(pc_control_list(ctl, kind, ns, name, list_one, &count, &rev, &err), 0);
	return count;
}

/* The status as {"version", "revision", "policyGeneration", "objects"}. */
static const struct pc_node *status(void)
{
	struct pc_control_status st;

	pc_control_get_status(ctl, &st);
	pc_buf_clear(&LB);
	pc_buf_printf(&LB,
		      "{\"version\":\"test\",\"revision\":%" PRId64 ",\"policyGeneration\":%" PRIu64
		      ",\"objects\":%zu}",
		      st.revision, st.generation, st.objects);
	return json(LB.p, LB.len);
}

/* The cluster the last published snapshot picks for <ip>:<port>. */
static const struct pc_cluster *classify(const char *ip, uint16_t port)
{
	struct pc_addr a;

	ck_assert_ptr_nonnull(last);
	ck_assert_int_eq(pc_addr_parse(ip, &a), 0);
	a.port = port;
	return pc_snapshot_classify(last, &a, NULL);
}

/* Fail unless <ip>:<port> goes to ServiceEntry <name> (NULL: BlackHoleCluster). */
static void expect_cluster(const char *ip, uint16_t port, const char *name)
{
	const struct pc_cluster *c = classify(ip, port);

	if (!name) {
		ck_assert_msg(c->kind == PC_CLUSTER_BLACKHOLE, "%s:%u -> %s, want BlackHoleCluster",
			      ip, port, c->name);
		ck_assert_str_eq(c->name, "BlackHoleCluster");
		return;
	}
	ck_assert_msg(c->kind == PC_CLUSTER_SERVICE, "%s:%u -> %s, want %s", ip, port, c->name,
		      name);
	ck_assert_str_eq(c->se_name, name);
}

/* Apply --config files; returns 0 or the negative errno, the result is in RES. */
static int apply_config(char *const *paths, size_t n, bool prune)
{
	result_reset();
	RET = pc_control_apply_config(ctl, paths, n, prune, &RES);
	return RET;
}

/* pc_control_list() of <kind>: 0, or its error. */
static int count_kind(int kind)
{
	struct pc_err err;
	int64_t rev;
	size_t count = 0;

	return pc_control_list(ctl, kind, NULL, NULL, list_one, &count, &rev, &err);
}

/* ---- apply, list ---- */

START_TEST(apply_created_unchanged_configured)
{
	const struct pc_node *b;
	unsigned pub;

	open_ctl();
	ck_assert_uint_eq(npub, 1);
	ck_assert_uint_eq(last->generation, 1);
	expect_cluster("203.0.113.10", 3306, NULL);

	apply_ok(se("mysql", "203.0.113.10", 3306), "created");
	ck_assert_int_eq(RES.revision, 1);
	ck_assert_int_eq(RES.v[0].kind, PC_KIND_SERVICE_ENTRY);
	ck_assert_str_eq(RES.v[0].ns, "default");
	ck_assert_str_eq(RES.v[0].name, "mysql");
	ck_assert_uint_eq(RES.findings.nwarn, 0);
	ck_assert_uint_eq(npub, 2);
	ck_assert_uint_eq(last->generation, 2);
	expect_cluster("203.0.113.10", 3306, "mysql");
	ck_assert_str_eq(classify("203.0.113.10", 3306)->name, "outbound|3306||mysql.example.com");
	expect_cluster("203.0.113.11", 3306, NULL);
	expect_cluster("203.0.113.10", 3307, NULL);

	/* the same object again: nothing changes, nothing is published */
	pub = npub;
	apply_ok(se("mysql", "203.0.113.10", 3306), "unchanged");
	ck_assert_int_eq(RES.revision, 1);
	ck_assert_uint_eq(npub, pub);

	/* another port: configured, generation 2, a new policy */
	apply_ok(se("mysql", "203.0.113.10", 3307), "configured");
	ck_assert_int_eq(RES.revision, 2);
	ck_assert_uint_eq(npub, pub + 1);
	expect_cluster("203.0.113.10", 3306, NULL);
	expect_cluster("203.0.113.10", 3307, "mysql");

	b = list("ServiceEntry", NULL, NULL);
	ck_assert_int_eq(ji(b, "revision"), 2);
	ck_assert_uint_eq(jlen(b, "items"), 1);
	ck_assert_int_eq(ji(b, "items[0].metadata.generation"), 2);
	ck_assert_str_eq(js(b, "items[0].metadata.resourceVersion"), "2");
}
END_TEST

/* What list shows: server metadata, sorted keys; what the client sent of it is ignored. */
START_TEST(list_shows_server_metadata)
{
	static const char meta[] = "  uid: client-uid\n"
				   "  creationTimestamp: \"2000-01-01T00:00:00Z\"\n"
				   "  generation: 99\n"
				   "  labels: {zz: last, aa: first}\n";
	const struct pc_node *b, *md;
	const char *uid, *p;
	char cts[64];

	open_ctl();
	apply_ok(se_yaml("shop", "mysql", "203.0.113.10", 3306, meta), "created");
	b = list(NULL, NULL, NULL);
	ck_assert_uint_eq(jlen(b, "items"), 1);
	md = jp(b, "items[0].metadata");
	ck_assert_str_eq(js(md, "name"), "mysql");
	ck_assert_str_eq(js(md, "namespace"), "shop");
	ck_assert_str_eq(js(md, "resourceVersion"), "1");
	ck_assert_int_eq(ji(md, "generation"), 1);
	uid = js(md, "uid");
	ck_assert_str_ne(uid, "client-uid");
	ck_assert_uint_eq(strlen(uid), 36); /* a UUID */
	ck_assert_str_ne(js(md, "creationTimestamp"), "2000-01-01T00:00:00Z");
	ck_assert_str_lt("2020", js(md, "creationTimestamp"));
	snprintf(cts, sizeof(cts), "%s", js(md, "creationTimestamp"));
	ck_assert_str_eq(js(b, "items[0].apiVersion"), "networking.istio.io/v1");
	ck_assert_str_eq(js(b, "items[0].kind"), "ServiceEntry");
	ck_assert_str_eq(js(b, "items[0].spec.ports[0].number"), "3306");

	/* the compact JSON has its keys sorted, labels and spec included */
	(void)list(NULL, NULL, NULL);
	p = LB.p;
	ck_assert_ptr_nonnull(strstr(p, "\"labels\":{\"aa\":\"first\",\"zz\":\"last\"}"));
	ck_assert_ptr_nonnull(
		strstr(p, "\"spec\":{\"addresses\":[\"203.0.113.10/32\"],\"hosts\":"));
	ck_assert_ptr_null(strstr(p, "client-uid"));
	ck_assert_ptr_null(strstr(p, "2000-01-01"));
	ck_assert_ptr_null(strstr(p, "\"generation\":99"));
	ck_assert_ptr_nonnull(strstr(p, "\"generation\":1,"));

	/* a resourceVersion the client sends is a precondition, never stored */
	apply_ok(se_yaml("shop", "mysql", "203.0.113.10", 3307,
			 "  resourceVersion: \"1\"\n  uid: other-uid\n"),
		 "configured");
	b = list("ServiceEntry", "shop", "mysql");
	ck_assert_uint_eq(jlen(b, "items"), 1);
	ck_assert_str_eq(js(b, "items[0].metadata.resourceVersion"), "2");
	ck_assert_str_eq(js(b, "items[0].metadata.creationTimestamp"), cts);
	ck_assert_int_eq(ji(b, "items[0].metadata.generation"), 2);
	ck_assert_ptr_null(strstr(LB.p, "other-uid"));

	/* filters */
	ck_assert_uint_eq(jlen(list("ServiceEntry", "default", NULL), "items"), 0);
	ck_assert_uint_eq(jlen(list("VirtualService", NULL, NULL), "items"), 0);
	ck_assert_uint_eq(count_objects(PC_KIND_SERVICE_ENTRY, "shop", "absent"), 0);
	ck_assert_uint_eq(count_objects(PC_KIND_SERVICE_ENTRY, "shop", "mysql"), 1);
	ck_assert_int_eq(count_kind(PC_KIND_COUNT), -EINVAL); /* no such kind */
}
END_TEST

/* ---- atomicity ---- */

static const char bad_yaml[] = "apiVersion: networking.istio.io/v1\n"
			       "kind: ServiceEntry\n"
			       "metadata:\n"
			       "  name: bad\n"
			       "spec:\n"
			       "  hosts: [bad.example.com]\n"
			       "  addresses: [203.0.113.20/32]\n"
			       "  ports:\n"
			       "  - name: tcp\n"
			       "    number: 0\n" /* line 10, column 13 */
			       "    protocol: TCP\n"
			       "  location: MESH_EXTERNAL\n";

START_TEST(invalid_apply_changes_nothing)
{
	char good[2048];
	struct pc_upload u[2];
	const char *msg;
	unsigned pub;

	open_ctl();
	pub = npub;
	snprintf(good, sizeof(good), "%s---\n%s", se("one", "203.0.113.10", 3306),
		 se("two", "203.0.113.11", 3306));
	u[0] = (struct pc_upload){ "good.yaml", good, strlen(good) };
	u[1] = (struct pc_upload){ "bad.yaml", bad_yaml, strlen(bad_yaml) };
	ck_assert_int_eq(apply_n(u, 2), -EINVAL);
	ck_assert_uint_gt(RES.findings.total_err, 0);
	msg = findings_text();
	ck_assert_msg(strncmp(msg, "bad.yaml:10:13: error: ", 23) == 0, "%s", msg);
	ck_assert_msg(strstr(msg, "spec.ports[0].number") != NULL, "%s", msg);
	ck_assert_ptr_null(strstr(msg, "good.yaml"));

	ck_assert_uint_eq(jlen(list(NULL, NULL, NULL), "items"), 0);
	ck_assert_int_eq(ji(status(), "revision"), 0);
	ck_assert_uint_eq(npub, pub);
	expect_cluster("203.0.113.10", 3306, NULL);

	/* the good file alone goes in, with both its objects */
	ck_assert_int_eq(apply_n(u, 1), 0);
	ck_assert_uint_eq(RES.n, 2);
	ck_assert_int_eq(RES.revision, 1);
	expect_cluster("203.0.113.10", 3306, "one");
	expect_cluster("203.0.113.11", 3306, "two");
}
END_TEST

/*
 * No objects. An upload without any is -ENODATA (400 as kubectl words it);
 * an empty (or comments-only) file is, as for `portcullis validate`, an
 * error finding and so -EINVAL (422; doc/validation.md: "no objects found").
 */
START_TEST(no_objects)
{
	static const char comments[] = "# nothing here\n---\n# nor here\n";
	struct pc_upload u[2] = { { "a.yaml", "", 0 },
				  { "c.yaml", comments, sizeof(comments) - 1 } };

	open_ctl();
	ck_assert_int_eq(apply_n(NULL, 0), -ENODATA);
	ck_assert_str_eq(RES.err.msg, "no objects passed to apply");
	ck_assert_int_eq(apply("empty.yaml", ""), -EINVAL);
	ck_assert_str_eq(findings_text(), "empty.yaml: error: no objects found (the input is empty)\n");
	ck_assert_int_eq(apply("c.yaml", comments), -EINVAL);
	ck_assert_str_eq(findings_text(), "c.yaml: error: no objects found (the input is empty)\n");
	ck_assert_int_eq(apply_n(u, 2), -EINVAL);
	ck_assert_int_eq(ji(status(), "revision"), 0);
	ck_assert_uint_eq(npub, 1);
}
END_TEST

/* ---- optimistic concurrency ---- */

START_TEST(resource_version_precondition)
{
	char two[2048];
	const char *msg;
	struct pc_upload u;

	open_ctl();
	apply_ok(se("x", "203.0.113.10", 3306), "created");

	/* the current version: applied */
	apply_ok(se_yaml("default", "x", "203.0.113.10", 3307, "  resourceVersion: \"1\"\n"),
		 "configured");
	ck_assert_int_eq(RES.revision, 2);

	/* a stale one: kubectl's conflict, nothing changes */
	ck_assert_int_eq(apply("t.yaml", se_yaml("default", "x", "203.0.113.10", 3308,
						 "  resourceVersion: \"1\"\n")),
			 -ESTALE);
	expect_failed(-ESTALE, 0);
	ck_assert_str_eq(failed_name(), "x");
	ck_assert_int_eq(RES.v[0].kind, PC_KIND_SERVICE_ENTRY);
	expect_cluster("203.0.113.10", 3307, "x");
	expect_cluster("203.0.113.10", 3308, NULL);
	ck_assert_str_eq(
		js(list("ServiceEntry", "default", "x"), "items[0].metadata.resourceVersion"), "2");

	/* in a batch the conflict names the object that has it, and the batch fails whole */
	snprintf(two, sizeof(two), "%s---\n%s", se("y", "203.0.113.11", 3306),
		 se_yaml("default", "x", "203.0.113.10", 3309, "  resourceVersion: \"1\"\n"));
	u = (struct pc_upload){ "two.yaml", two, strlen(two) };
	ck_assert_int_eq(apply_n(&u, 1), -ESTALE);
	expect_failed(-ESTALE, 1);
	ck_assert_str_eq(failed_name(), "x");
	expect_cluster("203.0.113.11", 3306, NULL);
	ck_assert_uint_eq(jlen(list(NULL, NULL, NULL), "items"), 1);

	/* a resourceVersion for an object that does not exist cannot match */
	ck_assert_int_eq(apply("t.yaml", se_yaml("default", "new", "203.0.113.12", 3306,
						 "  resourceVersion: \"2\"\n")),
			 -ESTALE);
	ck_assert_str_eq(failed_name(), "new");

	/* not a number: invalid, with the position of the object */
	ck_assert_int_eq(apply("rv.yaml", se_yaml("default", "x", "203.0.113.10", 3310,
						  "  resourceVersion: abc\n")),
			 -EINVAL);
	msg = findings_text();
	ck_assert_msg(strncmp(msg, "rv.yaml:", 8) == 0, "%s", msg);
	ck_assert_msg(strstr(msg, "metadata.resourceVersion") && strstr(msg, "\"abc\""), "%s", msg);
	ck_assert_int_eq(ji(status(), "revision"), 2);
}
END_TEST

/* ---- delete ---- */

START_TEST(delete_rules)
{
	unsigned pub;

	open_ctl();
	apply_ok(se("x", "203.0.113.10", 3306), "created");
	expect_cluster("203.0.113.10", 3306, "x");

	/* a stale resourceVersion: -ESTALE (409), still enforced */
	pub = npub;
	ck_assert_int_eq(del(PC_KIND_SERVICE_ENTRY, "default", "x", 7), -ESTALE);
	expect_failed(-ESTALE, 0);
	ck_assert_str_eq(failed_name(), "x");
	ck_assert_int_eq(del(PC_KIND_SERVICE_ENTRY, "default", "x", -1), -EINVAL);
	ck_assert_uint_eq(npub, pub);
	expect_cluster("203.0.113.10", 3306, "x");

	/* the right one: gone, and denied again */
	ck_assert_int_eq(del(PC_KIND_SERVICE_ENTRY, "default", "x", 1), 0);
	ck_assert_int_eq(RES.revision, 2);
	ck_assert_uint_eq(RES.n, 1);
	ck_assert_int_eq(RES.v[0].kind, PC_KIND_SERVICE_ENTRY);
	ck_assert_str_eq(RES.v[0].ns, "default");
	ck_assert_str_eq(RES.v[0].name, "x");
	ck_assert_int_eq(RES.v[0].result, PC_STORE_DELETED);
	ck_assert_uint_eq(npub, pub + 1);
	expect_cluster("203.0.113.10", 3306, NULL);
	ck_assert_uint_eq(jlen(list(NULL, NULL, NULL), "items"), 0);

	/* absent, then unknown kinds and missing arguments */
	ck_assert_int_eq(del(PC_KIND_SERVICE_ENTRY, "default", "x", 0), -ENOENT);
	expect_failed(-ENOENT, 0);
	ck_assert_str_eq(failed_name(), "x");
	ck_assert_int_eq(del(PC_KIND_SERVICE_ENTRY, NULL, "x", 0), -ENOENT); /* NULL ns: default */
	ck_assert_str_eq(RES.v[0].ns, "default");
	ck_assert_int_eq(del(PC_KIND_COUNT, "default", "x", 0), -EINVAL); /* no such kind */
	ck_assert_int_eq(del(PC_KIND_SERVICE_ENTRY, "default", NULL, 0), -EINVAL);
	ck_assert_int_eq(del(PC_KIND_SERVICE_ENTRY, "default", "", 0), -EINVAL);
	ck_assert_uint_eq(npub, pub + 1);
	ck_assert_int_eq(ji(status(), "revision"), 2);

	/* a delete without namespace is one in "default" */
	apply_ok(se("y", "203.0.113.11", 3306), "created");
	ck_assert_int_eq(del(PC_KIND_SERVICE_ENTRY, NULL, "y", 0), 0);
	expect_cluster("203.0.113.11", 3306, NULL);
}
END_TEST

START_TEST(status_counts)
{
	const struct pc_node *b;

	open_ctl();
	b = status();
	ck_assert_int_eq(ji(b, "revision"), 0);
	ck_assert_int_eq(ji(b, "policyGeneration"), 1);
	ck_assert_int_eq(ji(b, "objects"), 0);
	ck_assert_ptr_nonnull(jp(b, "version"));

	apply_ok(se("a", "203.0.113.10", 3306), "created");
	apply_ok(se("b", "203.0.113.11", 3306), "created");
	apply_ok(se("b", "203.0.113.11", 3306), "unchanged");
	b = status();
	ck_assert_int_eq(ji(b, "revision"), 2);
	ck_assert_int_eq(ji(b, "policyGeneration"), 3);
	ck_assert_int_eq(ji(b, "objects"), 2);
	ck_assert_uint_eq(last->generation, 3);

	ck_assert_int_eq(del(PC_KIND_SERVICE_ENTRY, "default", "a", 0), 0);
	b = status();
	ck_assert_int_eq(ji(b, "revision"), 3);
	ck_assert_int_eq(ji(b, "policyGeneration"), 4);
	ck_assert_int_eq(ji(b, "objects"), 1);
}
END_TEST

/* ---- persistence ---- */

START_TEST(reopen_keeps_everything)
{
	const struct pc_node *b;
	char uid[64], cts[64];

	open_ctl();
	apply_ok(se("a", "203.0.113.10", 3306), "created");
	apply_ok(se_yaml("shop", "b", "203.0.113.11", 3306, NULL), "created");
	b = list("ServiceEntry", "default", "a");
	snprintf(uid, sizeof(uid), "%s", js(b, "items[0].metadata.uid"));
	snprintf(cts, sizeof(cts), "%s", js(b, "items[0].metadata.creationTimestamp"));

	reopen_ctl();
	/* the snapshot open published already holds the stored objects */
	ck_assert_uint_eq(last->generation, 1);
	expect_cluster("203.0.113.10", 3306, "a");
	expect_cluster("203.0.113.11", 3306, "b");
	ck_assert_str_eq(classify("203.0.113.11", 3306)->ns, "shop");
	expect_cluster("203.0.113.12", 3306, NULL);

	b = list("ServiceEntry", "default", "a");
	ck_assert_str_eq(js(b, "items[0].metadata.uid"), uid);
	ck_assert_str_eq(js(b, "items[0].metadata.creationTimestamp"), cts);
	ck_assert_str_eq(js(b, "items[0].metadata.resourceVersion"), "1");
	b = status();
	ck_assert_int_eq(ji(b, "revision"), 2);
	ck_assert_int_eq(ji(b, "objects"), 2);

	/* and it goes on from there: unchanged stays unchanged, revisions continue */
	apply_ok(se("a", "203.0.113.10", 3306), "unchanged");
	apply_ok(se("a", "203.0.113.10", 3307), "configured");
	ck_assert_int_eq(RES.revision, 3);
	expect_cluster("203.0.113.10", 3307, "a");
}
END_TEST

/* Wait until the wall clock's second is past <t> (creationTimestamps have seconds). */
static void next_second(time_t t)
{
	struct timespec ts = { 0, 20 * 1000 * 1000 };

	while (time(NULL) <= t)
		nanosleep(&ts, NULL);
}

/*
 * Two ServiceEntries claim the same address and port: the older one wins
 * (Istio). The older is named "b-..." and created a second earlier, so a
 * tie-break by name would pick the wrong one: only creationTimestamp,
 * which must come from the store, gives the right answer.
 */
START_TEST(oldest_wins)
{
	const struct pc_node *b;
	char cts_old[64];

	open_ctl();
	apply_ok(se("b-old", "203.0.113.10", 3306), "created");
	next_second(time(NULL));
	apply_ok(se("a-new", "203.0.113.10", 3306), "created");
	b = list("ServiceEntry", NULL, NULL);
	ck_assert_str_eq(js(b, "items[0].metadata.name"), "a-new");
	snprintf(cts_old, sizeof(cts_old), "%s", js(b, "items[1].metadata.creationTimestamp"));
	ck_assert_str_lt(cts_old, js(b, "items[0].metadata.creationTimestamp"));

	expect_cluster("203.0.113.10", 3306, "b-old");
	ck_assert_uint_eq(last->conflicts, 1);
	ck_assert_uint_ge(nconflicts, 1);

	/* re-applying the younger one (changed) does not make it older */
	apply_ok(se_yaml("default", "a-new", "203.0.113.10", 3306, "  labels: {v: \"2\"}\n"),
		 "configured");
	expect_cluster("203.0.113.10", 3306, "b-old");

	reopen_ctl();
	expect_cluster("203.0.113.10", 3306, "b-old");
	ck_assert_uint_eq(last->conflicts, 1);

	/* with the older one gone the younger one takes over */
	ck_assert_int_eq(del(PC_KIND_SERVICE_ENTRY, "default", "b-old", 0), 0);
	expect_cluster("203.0.113.10", 3306, "a-new");
	ck_assert_uint_eq(last->conflicts, 0);
}
END_TEST

/* ---- --config ---- */

static void write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	ck_assert_ptr_nonnull(fp);
	ck_assert_int_eq(fputs(text, fp) >= 0, 1);
	ck_assert_int_eq(fclose(fp), 0);
}

/* The source column of a stored object, read through a second store handle. */
static void expect_source(const char *name, const char *source)
{
	struct pc_store *s = NULL;
	struct pc_store_object o;
	struct pc_err err;

	ck_assert_msg(pc_store_open(dir, &s, &err) == 0, "%s", err.msg);
	ck_assert_msg(pc_store_get(s, "ServiceEntry", "default", name, &o, &err) == 0, "%s: %s",
		      name, err.msg);
	ck_assert_str_eq(o.source, source);
	pc_store_object_release(&o);
	pc_store_close(s);
}

START_TEST(config_files_and_prune)
{
	char path[160], path2[160], text[4096];
	char *paths[2] = { path, path2 };
	const struct pc_node *b;
	unsigned pub;
	int64_t rev;

	open_ctl();
	snprintf(path, sizeof(path), "%s/one.yaml", tmp);
	snprintf(path2, sizeof(path2), "%s/two.yaml", tmp);
	snprintf(text, sizeof(text), "%s---\n%s", se("c1", "203.0.113.1", 3306),
		 se("c2", "203.0.113.2", 3306));
	write_file(path, text);
	write_file(path2, se("c3", "203.0.113.3", 3306));

	ck_assert_int_eq(apply_config(paths, 2, true), 0);
	b = list(NULL, NULL, NULL);
	ck_assert_uint_eq(jlen(b, "items"), 3);
	ck_assert_int_eq(ji(b, "revision"), 1);
	expect_source("c1", PC_STORE_SOURCE_CONFIG);
	expect_source("c3", PC_STORE_SOURCE_CONFIG);
	expect_cluster("203.0.113.1", 3306, "c1");
	expect_cluster("203.0.113.2", 3306, "c2");
	expect_cluster("203.0.113.3", 3306, "c3");

	/* the same files again: nothing changes */
	pub = npub;
	ck_assert_int_eq(apply_config(paths, 2, true), 0);
	ck_assert_uint_eq(npub, pub);
	ck_assert_int_eq(ji(status(), "revision"), 1);

	/* the API takes c2 over and adds its own object */
	apply_ok(se("c2", "203.0.113.2", 3306), "configured"); /* only the source changed */
	expect_source("c2", PC_STORE_SOURCE_API);
	apply_ok(se("api1", "203.0.113.4", 3306), "created");

	/* without prune, a file that lost objects deletes nothing */
	write_file(path, se("c1", "203.0.113.1", 3306));
	ck_assert_int_eq(apply_config(paths, 1, false), 0);
	ck_assert_uint_eq(jlen(list(NULL, NULL, NULL), "items"), 4);

	/* with prune: c3 (config's, in no file now) goes; c2 and api1 are the API's */
	rev = ji(status(), "revision");
	ck_assert_int_eq(apply_config(paths, 1, true), 0);
	b = list(NULL, NULL, NULL);
	ck_assert_uint_eq(jlen(b, "items"), 3);
	ck_assert_str_eq(js(b, "items[0].metadata.name"), "api1");
	ck_assert_str_eq(js(b, "items[1].metadata.name"), "c1");
	ck_assert_str_eq(js(b, "items[2].metadata.name"), "c2");
	ck_assert_int_eq(ji(b, "revision"), rev + 1);
	expect_cluster("203.0.113.3", 3306, NULL);
	expect_cluster("203.0.113.1", 3306, "c1");
	expect_cluster("203.0.113.2", 3306, "c2");
	expect_cluster("203.0.113.4", 3306, "api1");

	/* an invalid file: -EINVAL, nothing changes (the findings go to stderr) */
	pub = npub;
	write_file(path, bad_yaml);
	ck_assert_int_eq(apply_config(paths, 1, true), -EINVAL);
	ck_assert_uint_eq(npub, pub);
	ck_assert_int_eq(ji(status(), "revision"), rev + 1);
	ck_assert_uint_eq(jlen(list(NULL, NULL, NULL), "items"), 3);
	expect_cluster("203.0.113.1", 3306, "c1");

	/* a missing file fails too, and prunes nothing */
	snprintf(path, sizeof(path), "%s/absent.yaml", tmp);
	ck_assert_int_lt(apply_config(paths, 1, true), 0);
	ck_assert_uint_eq(npub, pub);
	expect_cluster("203.0.113.1", 3306, "c1");

	/* the source survives a restart: a prune after it still knows c1 is config's */
	reopen_ctl();
	write_file(path2, se("c9", "203.0.113.9", 3306));
	ck_assert_int_eq(apply_config(&paths[1], 1, true), 0);
	b = list(NULL, NULL, NULL);
	ck_assert_uint_eq(jlen(b, "items"), 3);
	ck_assert_str_eq(js(b, "items[2].metadata.name"), "c9");
	expect_cluster("203.0.113.1", 3306, NULL);
	expect_cluster("203.0.113.9", 3306, "c9");
}
END_TEST

/* ---- watch ---- */

static const struct pc_watch_filter every = { -1, NULL, NULL };

/* The <i>th line of <b> (0-based), parsed. */
static const struct pc_node *line_json(const struct pc_buf *b, size_t i)
{
	const char *p = b->p, *nl;

	ck_assert_ptr_nonnull(p);
	for (;;) {
		nl = strchr(p, '\n');
		ck_assert_msg(nl != NULL, "line %zu missing in %s", i, b->p);
		if (i-- == 0)
			return json(p, (size_t)(nl - p));
		p = nl + 1;
	}
}

static size_t nlines(const struct pc_buf *b)
{
	size_t n = 0, i;

	for (i = 0; i < b->len; i++)
		n += b->p[i] == '\n';
	return n;
}

START_TEST(watch_events)
{
	struct pc_buf out = PC_BUF_INIT;
	struct pc_watch_filter f;
	const struct pc_node *e;
	int64_t since, since2;

	open_ctl();
	since = pc_control_revision(ctl);
	ck_assert_int_eq(since, 0);
	apply_ok(se("x", "203.0.113.10", 3306), "created");
	ck_assert_int_eq(pc_control_watch(ctl, &every, &since, &out, 0), 1);
	ck_assert_int_eq(since, 1);
	ck_assert_uint_eq(nlines(&out), 1);
	e = line_json(&out, 0);
	ck_assert_str_eq(js(e, "type"), "ADDED");
	ck_assert_int_eq(ji(e, "revision"), 1);
	ck_assert_str_eq(js(e, "object.kind"), "ServiceEntry");
	ck_assert_str_eq(js(e, "object.metadata.name"), "x");
	ck_assert_str_eq(js(e, "object.metadata.resourceVersion"), "1");
	ck_assert_ptr_nonnull(jp(e, "object.metadata.uid"));

	/* nothing new: a timeout, nothing added */
	pc_buf_clear(&out);
	ck_assert_int_eq(pc_control_watch(ctl, &every, &since, &out, 50), 0);
	ck_assert_uint_eq(out.len, 0);

	/* unchanged logs nothing; configured is MODIFIED; then another object */
	apply_ok(se("x", "203.0.113.10", 3306), "unchanged");
	apply_ok(se("x", "203.0.113.10", 3307), "configured");
	apply_ok(se_yaml("other", "y", "203.0.113.11", 3306, NULL), "created");
	since2 = since;
	ck_assert_int_eq(pc_control_watch(ctl, &every, &since, &out, 0), 1);
	ck_assert_uint_eq(nlines(&out), 2);
	ck_assert_int_eq(since, 3);
	e = line_json(&out, 0);
	ck_assert_str_eq(js(e, "type"), "MODIFIED");
	ck_assert_int_eq(ji(e, "revision"), 2);
	ck_assert_str_eq(js(e, "object.spec.ports[0].number"), "3307");
	ck_assert_str_eq(js(line_json(&out, 1), "object.metadata.name"), "y");

	/* filters: by name, by namespace, by kind */
	f = (struct pc_watch_filter){ -1, NULL, "y" };
	pc_buf_clear(&out);
	ck_assert_int_eq(pc_control_watch(ctl, &f, &since2, &out, 0), 1);
	ck_assert_uint_eq(nlines(&out), 1);
	ck_assert_str_eq(js(line_json(&out, 0), "object.metadata.namespace"), "other");
	f = (struct pc_watch_filter){ PC_KIND_SERVICE_ENTRY, "default", NULL };
	since2 = 1;
	pc_buf_clear(&out);
	ck_assert_int_eq(pc_control_watch(ctl, &f, &since2, &out, 0), 1);
	ck_assert_uint_eq(nlines(&out), 1);
	ck_assert_str_eq(js(line_json(&out, 0), "object.metadata.name"), "x");
	f = (struct pc_watch_filter){ PC_KIND_VIRTUAL_SERVICE, NULL, NULL };
	since2 = 0;
	pc_buf_clear(&out);
	ck_assert_int_eq(pc_control_watch(ctl, &f, &since2, &out, 20), 0);
	ck_assert_uint_eq(out.len, 0);
	ck_assert_int_eq(since2, 3); /* skipped, but consumed */

	/* a delete: DELETED with the object as it was last */
	ck_assert_int_eq(del(PC_KIND_SERVICE_ENTRY, "default", "x", 0), 0);
	pc_buf_clear(&out);
	ck_assert_int_eq(pc_control_watch(ctl, &every, &since, &out, 0), 1);
	ck_assert_uint_eq(nlines(&out), 1);
	e = line_json(&out, 0);
	ck_assert_str_eq(js(e, "type"), "DELETED");
	ck_assert_int_eq(ji(e, "revision"), 4);
	ck_assert_str_eq(js(e, "object.metadata.name"), "x");
	/* as Kubernetes: the spec as it was last, the resourceVersion of the deletion */
	ck_assert_str_eq(js(e, "object.metadata.resourceVersion"), "4");
	ck_assert_int_eq(ji(e, "object.metadata.generation"), 2);
	ck_assert_str_eq(js(e, "object.spec.ports[0].number"), "3307");
	pc_buf_release(&out);
}
END_TEST

struct waiter {
	struct pc_watch_filter f;
	int64_t since;
	unsigned timeout_ms;
	struct pc_buf out;
	int ret;
};

static void *wait_thread(void *arg)
{
	struct waiter *w = arg;

	w->ret = pc_control_watch(ctl, &w->f, &w->since, &w->out, w->timeout_ms);
	return NULL;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A waiting watcher wakes for a change it selects; shutdown ends every watch. */
START_TEST(watch_wakes_and_shuts_down)
{
	struct waiter w = { { -1, NULL, NULL }, 0, 10000, PC_BUF_INIT, 99 };
	struct timespec ms50 = { 0, 50 * 1000 * 1000 };
	pthread_t t;
	double t0;

	open_ctl();
	w.since = pc_control_revision(ctl);
	t0 = now_s();
	ck_assert_int_eq(pthread_create(&t, NULL, wait_thread, &w), 0);
	nanosleep(&ms50, NULL);
	apply_ok(se("x", "203.0.113.10", 3306), "created");
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_int_eq(w.ret, 1);
	ck_assert_double_lt(now_s() - t0, 5.0);
	ck_assert_ptr_nonnull(strstr(w.out.p, "\"type\":\"ADDED\""));
	pc_buf_release(&w.out);

	/* a watcher blocked with a long timeout: shutdown wakes it at once */
	w.ret = 99;
	t0 = now_s();
	ck_assert_int_eq(pthread_create(&t, NULL, wait_thread, &w), 0);
	nanosleep(&ms50, NULL);
	pc_control_shutdown(ctl);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_int_eq(w.ret, -ESHUTDOWN);
	ck_assert_double_lt(now_s() - t0, 5.0);
	ck_assert_int_eq(pc_control_watch(ctl, &w.f, &w.since, &w.out, 0), -ESHUTDOWN);
	pc_buf_release(&w.out);

	/* and every request after it is refused */
	ck_assert_int_eq(apply("t.yaml", se("y", "203.0.113.11", 3306)), -ESHUTDOWN);
	expect_failed(-ESHUTDOWN, SIZE_MAX);
	ck_assert_int_eq(del(PC_KIND_SERVICE_ENTRY, "default", "x", 0), -ESHUTDOWN);
	expect_failed(-ESHUTDOWN, SIZE_MAX);
	expect_cluster("203.0.113.10", 3306, "x");
}
END_TEST

/*
 * A watcher that reads until it has <want> lines, or until the writer is
 * <done> and one more read finds nothing new: no deadline to miss.
 */
struct reader {
	int64_t since;
	size_t want;
	struct pc_buf out;
	int ret;
	atomic_bool done;
};

static void *read_thread(void *arg)
{
	struct reader *r = arg;
	bool final = false;

	r->ret = 0;
	while (r->ret >= 0 && nlines(&r->out) < r->want) {
		if (final && r->ret == 0)
			break;
		final = atomic_load(&r->done);
		r->ret = pc_control_watch(ctl, &every, &r->since, &r->out, final ? 0 : 20);
	}
	return NULL;
}

/*
 * One apply of several objects is one revision of several events: a
 * watcher woken by the first of them must still get every one (it used to
 * take the revision as seen at the first and skip the rest).
 */
START_TEST(watch_sees_multi_object_revisions_whole)
{
	enum { APPLIES = 8, OBJECTS = 16 };
	struct reader r = { 0, APPLIES * OBJECTS, PC_BUF_INIT, 0, false };
	struct pc_buf text = PC_BUF_INIT;
	struct pc_upload u;
	pthread_t t;
	unsigned a, i;

	open_ctl();
	r.since = pc_control_revision(ctl);
	ck_assert_int_eq(pthread_create(&t, NULL, read_thread, &r), 0);
	for (a = 0; a < APPLIES; a++) {
		pc_buf_clear(&text);
		for (i = 0; i < OBJECTS; i++) {
			char name[32], ip[32];

			snprintf(name, sizeof(name), "m-%u-%u", a, i);
			snprintf(ip, sizeof(ip), "198.51.100.%u", i);
			pc_buf_printf(&text, "---\n%s", se(name, ip, 1000 + a));
		}
		ck_assert(!text.oom);
		u = (struct pc_upload){ "many.yaml", text.p, text.len };
		ck_assert_msg(apply_n(&u, 1) == 0, "%d %s", RET, RES.err.msg);
		ck_assert_uint_eq(RES.n, OBJECTS);
	}
	atomic_store(&r.done, true);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	pc_buf_release(&text);
	ck_assert_int_ge(r.ret, 0);
	ck_assert_msg(nlines(&r.out) == APPLIES * OBJECTS, "the watcher got %zu events of %d",
		      nlines(&r.out), APPLIES * OBJECTS);
	ck_assert_int_eq(r.since, APPLIES);
	pc_buf_release(&r.out);
}
END_TEST

/*
 * A watcher further behind than the log is told so (410) instead of
 * missing changes. The log counts events, not revisions, so one apply of
 * PC_WATCH_LOG - 1 objects nearly fills it with a single fsync, and two
 * more applies push the oldest event out. 4097 single applies would cost
 * as many fsyncs (3.5-7 ms each here, 15-30 s in all: see the timing the
 * compaction test prints), too slow for a unit test.
 */
START_TEST(watch_too_old_is_410)
{
	struct pc_buf text = PC_BUF_INIT, out = PC_BUF_INIT;
	struct pc_upload u;
	const struct pc_node *e;
	int64_t since = 0;
	unsigned i;
	char ip[32];

	open_ctl();
	for (i = 0; i < PC_WATCH_LOG - 1; i++) {
		char name[32];

		snprintf(name, sizeof(name), "se-%u", i);
		snprintf(ip, sizeof(ip), "203.0.113.%u", i % 256);
		pc_buf_printf(&text, "---\n%s", se(name, ip, 1000 + i / 256));
	}
	ck_assert(!text.oom);
	u = (struct pc_upload){ "many.yaml", text.p, text.len };
	ck_assert_msg(apply_n(&u, 1) == 0, "%d %.300s", RET, RES.err.msg);
	pc_buf_release(&text);
	ck_assert_int_eq(RES.revision, 1);
	expect_cluster("203.0.113.5", 1000, "se-5");
	expect_cluster("203.0.113.254", 1015, "se-4094");

	/* the log holds every event of revision 1 still */
	ck_assert_int_eq(pc_control_watch(ctl, &every, &since, &out, 0), 1);
	ck_assert_uint_eq(nlines(&out), PC_WATCH_LOG - 1);
	ck_assert_int_eq(since, 1);

	/* two more: the first event of revision 1 falls out */
	apply_ok(se("late1", "198.51.100.1", 3306), "created");
	apply_ok(se("late2", "198.51.100.2", 3306), "created");
	since = 0;
	pc_buf_clear(&out);
	ck_assert_int_eq(pc_control_watch(ctl, &every, &since, &out, 0), -ERANGE);
	ck_assert_int_eq(since, 0);
	ck_assert_uint_eq(nlines(&out), 1);
	e = line_json(&out, 0);
	ck_assert_str_eq(js(e, "type"), "ERROR");
	ck_assert_int_eq(ji(e, "object.code"), 410);
	ck_assert_str_eq(js(e, "object.reason"), "Expired");
	ck_assert_str_eq(js(e, "object.message"), "too old resource version: 0 (2)");

	/* a watcher that has seen revision 1 misses nothing */
	since = 1;
	pc_buf_clear(&out);
	ck_assert_int_eq(pc_control_watch(ctl, &every, &since, &out, 0), 1);
	ck_assert_uint_eq(nlines(&out), 2);
	ck_assert_str_eq(js(line_json(&out, 0), "object.metadata.name"), "late1");
	ck_assert_str_eq(js(line_json(&out, 1), "object.metadata.name"), "late2");
	ck_assert_int_eq(since, 3);

	/* one apply with more changes than the log holds: everyone before it is expired */
	pc_buf_clear(&text);
	for (i = 0; i < PC_WATCH_LOG + 1; i++) {
		char name[32];

		snprintf(name, sizeof(name), "big-%u", i);
		snprintf(ip, sizeof(ip), "192.0.2.%u", i % 256);
		pc_buf_printf(&text, "---\n%s", se(name, ip, 2000 + i / 256));
	}
	ck_assert(!text.oom);
	u = (struct pc_upload){ "big.yaml", text.p, text.len };
	ck_assert_msg(apply_n(&u, 1) == 0, "%d %.300s", RET, RES.err.msg);
	pc_buf_release(&text);
	ck_assert_int_eq(RES.revision, 4);
	expect_cluster("192.0.2.0", 2016, "big-4096");
	pc_buf_clear(&out);
	ck_assert_int_eq(pc_control_watch(ctl, &every, &since, &out, 0), -ERANGE);
	ck_assert_int_eq(ji(line_json(&out, 0), "object.code"), 410);
	since = 4;
	pc_buf_clear(&out);
	ck_assert_int_eq(pc_control_watch(ctl, &every, &since, &out, 0), 0);
	ck_assert_uint_eq(out.len, 0);
	pc_buf_release(&out);
}
END_TEST

/* One upload naming an object twice: both are applied in order, the later wins. */
START_TEST(same_object_twice_in_one_apply)
{
	struct pc_buf out = PC_BUF_INIT;
	char two[2048];
	const struct pc_node *b;
	struct pc_upload u;
	int64_t since;

	open_ctl();
	since = pc_control_revision(ctl);
	snprintf(two, sizeof(two), "%s---\n%s", se("x", "203.0.113.10", 3306),
		 se("x", "203.0.113.10", 3307));
	u = (struct pc_upload){ "two.yaml", two, strlen(two) };
	ck_assert_int_eq(apply_n(&u, 1), 0);
	ck_assert_uint_eq(RES.n, 2);
	ck_assert_int_eq(RES.v[0].result, PC_STORE_CREATED);
	ck_assert_int_eq(RES.v[1].result, PC_STORE_CONFIGURED);
	ck_assert_int_eq(RES.revision, 1);
	expect_cluster("203.0.113.10", 3306, NULL);
	expect_cluster("203.0.113.10", 3307, "x");
	ck_assert_int_eq(ji(status(), "objects"), 1);
	b = list(NULL, NULL, NULL);
	ck_assert_uint_eq(jlen(b, "items"), 1);
	ck_assert_str_eq(js(b, "items[0].spec.ports[0].number"), "3307");
	ck_assert_int_eq(pc_control_watch(ctl, &every, &since, &out, 0), 1);
	ck_assert_uint_ge(nlines(&out), 1);
	pc_buf_release(&out);

	/* and the registry agrees with the store after a restart */
	reopen_ctl();
	expect_cluster("203.0.113.10", 3307, "x");
	expect_cluster("203.0.113.10", 3306, NULL);
}
END_TEST

/* Kinds other than ServiceEntry go through the same path: a Sidecar sets the policy. */
START_TEST(sidecar_sets_policy)
{
	static const char sidecar[] = "apiVersion: networking.istio.io/v1\n"
				      "kind: Sidecar\n"
				      "metadata:\n"
				      "  name: default\n"
				      "  namespace: istio-system\n"
				      "spec:\n"
				      "  outboundTrafficPolicy:\n"
				      "    mode: ALLOW_ANY\n";

	open_ctl();
	apply_ok(se("x", "203.0.113.10", 3306), "created");
	expect_cluster("192.0.2.1", 443, NULL);
	ck_assert_int_eq(last->policy, PC_POLICY_REGISTRY_ONLY);

	apply_ok(sidecar, "created");
	ck_assert_int_eq(last->policy, PC_POLICY_ALLOW_ANY);
	ck_assert_int_eq(classify("192.0.2.1", 443)->kind, PC_CLUSTER_PASSTHROUGH);
	expect_cluster("203.0.113.10", 3306, "x");
	ck_assert_uint_eq(jlen(list("Sidecar", NULL, NULL), "items"), 1);

	reopen_ctl();
	ck_assert_int_eq(last->policy, PC_POLICY_ALLOW_ANY);

	ck_assert_int_eq(del(PC_KIND_SIDECAR, "istio-system", "default", 0), 0);
	ck_assert_int_eq(last->policy, PC_POLICY_REGISTRY_ONLY);
	expect_cluster("192.0.2.1", 443, NULL);
	ck_assert_int_eq(del(PC_KIND_SIDECAR, "istio-system", "default", 0), -ENOENT);
	expect_failed(-ENOENT, 0);
	ck_assert_int_eq(RES.v[0].kind, PC_KIND_SIDECAR);
	ck_assert_str_eq(failed_name(), "default");
}
END_TEST

/* ---- other writers ---- */

/* The newest policy's cluster for <ip>:<port> is ServiceEntry <name> (NULL: none). */
static bool snapshot_has(const char *ip, uint16_t port, const char *name)
{
	struct pc_snapshot *snap = pc_control_snapshot(ctl);
	const struct pc_cluster *c;
	struct pc_addr a;
	bool ok;

	ck_assert_ptr_nonnull(snap);
	ck_assert_int_eq(pc_addr_parse(ip, &a), 0);
	a.port = port;
	c = pc_snapshot_classify(snap, &a, NULL);
	ok = name ? c->kind == PC_CLUSTER_SERVICE && strcmp(c->se_name, name) == 0
		  : c->kind == PC_CLUSTER_BLACKHOLE;
	pc_snapshot_unref(snap);
	return ok;
}

/* Wait up to 10 s for snapshot_has(). */
static bool await_snapshot(const char *ip, uint16_t port, const char *name)
{
	struct timespec ms20 = { 0, 20L * 1000 * 1000 };
	double until = now_s() + 10.0;

	while (!snapshot_has(ip, port, name)) {
		if (now_s() > until)
			return false;
		nanosleep(&ms20, NULL);
	}
	return true;
}

/*
 * Another writer on the store (a second handle, as another process would
 * hold): its changes reach the registry, the policy and the watchers by
 * the same path as the daemon's own, within the poll interval; and the
 * daemon's next apply sees them (unchanged, not created).
 */
START_TEST(another_writer_is_followed)
{
	static const char obj[] =
		"{\"apiVersion\":\"networking.istio.io/v1\",\"kind\":\"ServiceEntry\","
		"\"metadata\":{\"name\":\"w2\",\"namespace\":\"default\"},\"spec\":{\"addresses\":"
		"[\"203.0.113.40/32\"],\"hosts\":[\"w2.example.com\"],\"location\":\"MESH_EXTERNAL\","
		"\"ports\":[{\"name\":\"tcp\",\"number\":3306,\"protocol\":\"TCP\"}],"
		"\"resolution\":\"NONE\"}}";
	struct pc_store_put p = { 0 };
	struct pc_buf out = PC_BUF_INIT;
	struct pc_store *s = NULL;
	struct pc_err err;
	int64_t since;

	open_ctl();
	apply_ok(se("mine", "203.0.113.41", 3306), "created");
	since = pc_control_revision(ctl);
	ck_assert_msg(pc_store_open(dir, &s, &err) == 0, "%s", err.msg);
	p.kind = "ServiceEntry";
	p.ns = "default";
	p.name = "w2";
	p.spec_json = "{}";
	p.object_json = obj;
	ck_assert_msg(pc_store_apply(s, &p, 1, NULL, NULL, NULL, &err) == 0, "%s", err.msg);

	ck_assert_msg(await_snapshot("203.0.113.40", 3306, "w2"), "the other writer's object");
	ck_assert(snapshot_has("203.0.113.41", 3306, "mine"));
	ck_assert_int_eq(pc_control_watch(ctl, &every, &since, &out, 5000), 1);
	ck_assert_str_eq(js(line_json(&out, 0), "type"), "ADDED");
	ck_assert_str_eq(js(line_json(&out, 0), "object.metadata.name"), "w2");
	ck_assert_str_eq(js(line_json(&out, 0), "object.metadata.resourceVersion"), "2");
	ck_assert_int_eq(ji(status(), "objects"), 2);

	/* the other writer deletes it: gone from the policy, DELETED for watchers */
	ck_assert_int_eq(pc_store_delete(s, "ServiceEntry", "default", "w2", 0, &err), 0);
	ck_assert_msg(await_snapshot("203.0.113.40", 3306, NULL), "the other writer's delete");
	pc_buf_clear(&out);
	ck_assert_int_eq(pc_control_watch(ctl, &every, &since, &out, 5000), 1);
	ck_assert_str_eq(js(line_json(&out, 0), "type"), "DELETED");
	ck_assert_int_eq(since, 3);

	/* and the daemon's own applies go on from there */
	apply_ok(se("mine", "203.0.113.41", 3306), "unchanged");
	apply_ok(se("w2", "203.0.113.40", 3306), "created");
	ck_assert_int_eq(RES.revision, 4);
	ck_assert(snapshot_has("203.0.113.40", 3306, "w2"));
	pc_buf_release(&out);
	pc_store_close(s);
}
END_TEST

/* ---- compaction ---- */

/* Read the whole of <path> into a malloc'd string. */
static char *slurp(const char *path)
{
	FILE *fp = fopen(path, "r");
	char *p;
	long n;

	ck_assert_ptr_nonnull(fp);
	ck_assert_int_eq(fseek(fp, 0, SEEK_END), 0);
	n = ftell(fp);
	ck_assert_int_ge(n, 0);
	rewind(fp);
	p = calloc(1, (size_t)n + 1);
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(fread(p, 1, (size_t)n, fp), (size_t)n);
	fclose(fp);
	return p;
}

/*
 * Many single-object applies each leave a batch behind; the registry
 * compacts them (its debug line says so) and must keep every object.
 */
START_TEST(many_applies_compact)
{
	enum { N = 200 };
	char name[32], ip[32], logpath[160];
	const struct pc_node *b;
	double t0, dt;
	char *log;
	int fd;
	unsigned i;

	open_ctl();
	snprintf(logpath, sizeof(logpath), "%s/log", tmp);
	fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	pc_log_set_fd(fd);
	pc_log_set_level(PC_LOG_DEBUG);

	t0 = now_s();
	for (i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "se-%03u", i);
		snprintf(ip, sizeof(ip), "198.51.100.%u", i + 1);
		apply_ok(se(name, ip, 3306), "created");
	}
	dt = now_s() - t0;
	pc_log_set_level(PC_LOG_WARN);
	pc_log_set_fd(-1);
	close(fd);
	fprintf(stderr, "test_control: %d single-object applies took %.2f s (%.1f ms each)\n", N,
		dt, dt * 1000 / N);

	log = slurp(logpath);
	ck_assert_msg(strstr(log, "registry compacted") != NULL, "no compaction logged");
	free(log);

	b = status();
	ck_assert_int_eq(ji(b, "objects"), N);
	ck_assert_int_eq(ji(b, "revision"), N);
	b = list("ServiceEntry", NULL, NULL);
	ck_assert_uint_eq(jlen(b, "items"), N);
	for (i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "se-%03u", i);
		snprintf(ip, sizeof(ip), "198.51.100.%u", i + 1);
		expect_cluster(ip, 3306, name);
	}
	expect_cluster("198.51.100.201", 3306, NULL);

	/* the compacted registry still takes changes, removals and unchanged applies */
	apply_ok(se("se-007", "198.51.100.8", 3306), "unchanged");
	apply_ok(se("se-007", "198.51.100.8", 3307), "configured");
	ck_assert_int_eq(del(PC_KIND_SERVICE_ENTRY, "default", "se-100", 0), 0);
	expect_cluster("198.51.100.8", 3306, NULL);
	expect_cluster("198.51.100.8", 3307, "se-007");
	expect_cluster("198.51.100.101", 3306, NULL);
	expect_cluster("198.51.100.102", 3306, "se-101");
	ck_assert_int_eq(ji(status(), "objects"), N - 1);
}
END_TEST

/* ---- faults ---- */

/* Run <sql> on the state's database through a connection of our own. */
static void sql(const char *text)
{
	char path[160];
	sqlite3 *db;
	char *msg = NULL;
	int rc;

	snprintf(path, sizeof(path), "%s/store.db", dir);
	ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	rc = sqlite3_exec(db, text, NULL, NULL, &msg);
	ck_assert_msg(rc == SQLITE_OK, "%s: %s", text, msg ? msg : "?");
	sqlite3_free(msg);
	sqlite3_close(db);
}

/* A trigger that makes SQLite refuse every <op> on the objects table. */
#define FAIL_ON(op)                                                                          \
	"CREATE TRIGGER no_" op " BEFORE " op " ON objects BEGIN SELECT RAISE(ABORT, 'disk " \
	"on fire'); END;"

/*
 * A store write that fails (here: triggers that make SQLite refuse every
 * write, as a broken disk would) is an error (500) that changes nothing: no new
 * snapshot, the running policy stays.
 */
START_TEST(store_failure_changes_nothing)
{
	struct pc_snapshot *before;
	const char *msg;
	unsigned pub;

	open_ctl();
	apply_ok(se("x", "203.0.113.10", 3306), "created");
	sql(FAIL_ON("INSERT") FAIL_ON("UPDATE") FAIL_ON("DELETE"));
	before = last;
	pub = npub;

	ck_assert_int_eq(apply("t.yaml", se("y", "203.0.113.11", 3306)), -EIO);
	expect_failed(-EIO, 0); /* the trigger fired on the first (and only) object */
	msg = RES.err.msg;
	ck_assert_msg(strstr(msg, "disk on fire") != NULL, "%s", msg);
	ck_assert_str_eq(pc_control_store_name(ctl), dir);
	ck_assert_int_eq(apply("t.yaml", se("x", "203.0.113.10", 3307)), -EIO);
	ck_assert(!RES.stored);
	/* a precondition needs the store to check it: no revocation without it */
	ck_assert_int_eq(del(PC_KIND_SERVICE_ENTRY, "default", "x", 1), -EIO);
	ck_assert(!RES.stored && !RES.lagging);

	ck_assert_ptr_eq(last, before);
	ck_assert_uint_eq(npub, pub);
	expect_cluster("203.0.113.10", 3306, "x");
	expect_cluster("203.0.113.11", 3306, NULL);
	ck_assert_int_eq(ji(status(), "revision"), 1);
	ck_assert_int_eq(ji(status(), "objects"), 1);

	/* the disk heals: the same requests work, from a consistent registry */
	sql("DROP TRIGGER no_INSERT; DROP TRIGGER no_UPDATE; DROP TRIGGER no_DELETE;");
	apply_ok(se("y", "203.0.113.11", 3306), "created");
	apply_ok(se("x", "203.0.113.10", 3307), "configured");
	expect_cluster("203.0.113.10", 3307, "x");
	expect_cluster("203.0.113.11", 3306, "y");
	ck_assert_int_eq(del(PC_KIND_SERVICE_ENTRY, "default", "x", 0), 0);
	expect_cluster("203.0.113.10", 3307, NULL);
	ck_assert_int_eq(ji(status(), "revision"), 4);
}
END_TEST

static int del_many(const struct pc_delete_target *t, size_t n)
{
	result_reset();
	RET = pc_control_delete_many(ctl, t, n, &RES);
	return RET;
}

/* delete -f: one transaction, one revision, one publish; absent ones are reported. */
START_TEST(delete_many_is_one_change)
{
	struct pc_delete_target t[] = {
		{ PC_KIND_SERVICE_ENTRY, NULL, "a", 0 },
		{ PC_KIND_SERVICE_ENTRY, "default", "absent", 0 },
		{ PC_KIND_SERVICE_ENTRY, "default", "b", 0 },
		{ PC_KIND_SERVICE_ENTRY, "default", "c", 0 },
	};
	unsigned pub;

	open_ctl();
	apply_ok(se("a", "203.0.113.10", 3306), "created");
	apply_ok(se("b", "203.0.113.11", 3306), "created");
	apply_ok(se("c", "203.0.113.12", 3306), "created");
	pub = npub;

	/* a stale precondition on the last: none is deleted */
	t[3].expect_rv = 1;
	ck_assert_int_eq(del_many(t, 4), -ESTALE);
	expect_failed(-ESTALE, 3);
	ck_assert_uint_eq(npub, pub);
	ck_assert_int_eq(ji(status(), "revision"), 3);
	expect_cluster("203.0.113.10", 3306, "a");

	t[3].expect_rv = 3;
	ck_assert_msg(del_many(t, 4) == 0, "%d %s", RET, RES.err.msg);
	ck_assert_int_eq(RES.revision, 4); /* one revision for all of them */
	ck_assert_uint_eq(npub, pub + 1);  /* one compile and publish */
	ck_assert_uint_eq(RES.n, 4);
	ck_assert_int_eq(RES.v[0].result, PC_STORE_DELETED);
	ck_assert_int_eq(RES.v[1].result, PC_STORE_UNCHANGED); /* not found */
	ck_assert_int_eq(RES.v[2].result, PC_STORE_DELETED);
	ck_assert_int_eq(RES.v[3].result, PC_STORE_DELETED);
	ck_assert(!RES.lagging);
	expect_cluster("203.0.113.10", 3306, NULL);
	expect_cluster("203.0.113.12", 3306, NULL);
	ck_assert_uint_eq(jlen(list(NULL, NULL, NULL), "items"), 0);

	/* nothing left: every one not found, nothing changes */
	t[3].expect_rv = 0;
	ck_assert_int_eq(del_many(t, 4), 0);
	ck_assert_int_eq(RES.revision, 4);
	ck_assert_uint_eq(npub, pub + 1);
	ck_assert_int_eq(del_many(t, 0), -ENODATA);
	t[1].name = "";
	ck_assert_int_eq(del_many(t, 4), -EINVAL);
}
END_TEST

/* The store cannot write: a delete revokes in memory, lags, and is stored later. */
START_TEST(delete_revokes_when_store_cannot_write)
{
	struct pc_delete_target t[] = {
		{ PC_KIND_SERVICE_ENTRY, "default", "y", 0 },
		{ PC_KIND_SERVICE_ENTRY, "default", "gone", 0 },
	};
	struct pc_control_lag lag;
	unsigned pub;

	open_ctl();
	apply_ok(se("x", "203.0.113.10", 3306), "created");
	apply_ok(se("y", "203.0.113.11", 3306), "created");
	apply_ok(se("z", "203.0.113.12", 3306), "created");
	sql(FAIL_ON("INSERT") FAIL_ON("UPDATE") FAIL_ON("DELETE"));
	pub = npub;

	ck_assert_msg(del(PC_KIND_SERVICE_ENTRY, "default", "x", 0) == 0, "%d %s", RET,
		      RES.err.msg);
	ck_assert(RES.lagging);
	ck_assert_msg(strstr(RES.err.msg, "disk on fire") != NULL, "%s", RES.err.msg);
	ck_assert_int_eq(RES.v[0].result, PC_STORE_DELETED);
	ck_assert_int_eq(RES.revision, 3); /* the store's, unchanged */
	ck_assert_uint_eq(npub, pub + 1);  /* revoked: published before the answer */
	expect_cluster("203.0.113.10", 3306, NULL);
	ck_assert_int_eq(ji(status(), "revision"), 3);
	ck_assert_uint_eq(jlen(list(NULL, NULL, NULL), "items"), 3); /* still stored */

	/* again: still revoked, still lagging; an absent one is not found */
	ck_assert_int_eq(del(PC_KIND_SERVICE_ENTRY, "default", "x", 0), 0);
	ck_assert(RES.lagging);
	ck_assert_int_eq(del(PC_KIND_SERVICE_ENTRY, "default", "nope", 0), -ENOENT);
	ck_assert_int_eq(del_many(t, 2), 0);
	ck_assert(RES.lagging);
	ck_assert_int_eq(RES.v[0].result, PC_STORE_DELETED);
	ck_assert_int_eq(RES.v[1].result, PC_STORE_UNCHANGED);
	expect_cluster("203.0.113.11", 3306, NULL);
	expect_cluster("203.0.113.12", 3306, "z");
	pc_control_get_lag(ctl, &lag);
	ck_assert_uint_eq(lag.pending, 2);
	ck_assert_msg(strstr(lag.cause, "disk on fire") != NULL, "%s", lag.cause);

	/* an apply still fails closed */
	ck_assert_int_eq(apply("t.yaml", se("w", "203.0.113.13", 3306)), -EIO);
	expect_cluster("203.0.113.13", 3306, NULL);
	pc_control_get_lag(ctl, &lag);
	ck_assert_uint_ge(lag.failures, 1); /* the apply tried to store them first */

	/* the disk heals: the next change stores the deletes first, then itself */
	sql("DROP TRIGGER no_INSERT; DROP TRIGGER no_UPDATE; DROP TRIGGER no_DELETE;");
	apply_ok(se("w", "203.0.113.13", 3306), "created");
	ck_assert_int_eq(RES.revision, 5); /* 4: the deletes of x and y */
	pc_control_get_lag(ctl, &lag);
	ck_assert_uint_eq(lag.pending, 0);
	ck_assert_uint_eq(lag.persisted, 2);
	expect_cluster("203.0.113.10", 3306, NULL);
	expect_cluster("203.0.113.13", 3306, "w");
	reopen_ctl(); /* and they stay deleted */
	expect_cluster("203.0.113.10", 3306, NULL);
	expect_cluster("203.0.113.11", 3306, NULL);
	ck_assert_uint_eq(jlen(list(NULL, NULL, NULL), "items"), 2);
}
END_TEST

/* Re-applied while its delete is not yet stored: the apply wins (when it can be stored). */
START_TEST(reapply_cancels_a_pending_revocation)
{
	open_ctl();
	apply_ok(se("x", "203.0.113.10", 3306), "created");
	sql(FAIL_ON("DELETE"));
	ck_assert_int_eq(del(PC_KIND_SERVICE_ENTRY, "default", "x", 0), 0);
	ck_assert(RES.lagging);
	expect_cluster("203.0.113.10", 3306, NULL);
	/* the store still fails deletes, but takes updates: x comes back as applied */
	apply_ok(se("x", "203.0.113.10", 3307), "configured");
	expect_cluster("203.0.113.10", 3307, "x");
	sql("DROP TRIGGER no_DELETE;");
	reopen_ctl();
	expect_cluster("203.0.113.10", 3307, "x");
}
END_TEST

/* ---- allocation failures ---- */

/* Child exit codes; not 1, which valgrind's --error-exitcode=1 uses for leaks and errors. */
enum { SWEEP_OK = 10, SWEEP_REFUSED, SWEEP_BROKEN, SWEEP_RECOVERED, SWEEP_DONE };

/* Free what a sweep child holds, then exit with <code>. */
static void sweep_exit(int code)
{
	teardown_state();
	_exit(code);
}

/*
 * In a child process, with a state of its own holding "x": make the <n>th
 * allocation of <req> fail and judge the answer. It must be 0 with the
 * change in force, or an error with nothing changed (doc/api.md: "a
 * refused change changed nothing") and the last policy still the
 * published one, or an error saying the change is stored but not compiled,
 * which the next request then enforces. <in_force> says whether the change shows in the policy.
 * Exits with SWEEP_*; a contract breach is described on <fd>.
 */
static void sweep_child(long n, void (*req)(void), bool (*in_force)(void), int fd)
{
	struct pc_snapshot *before;
	unsigned pub;
	int injected, code;
	bool stored;
	long long rev;
	char msg[512], text[256];

	snprintf(dir, sizeof(dir), "%s/c%ld", tmp, n);
	open_ctl();
	apply_ok(se("x", "203.0.113.10", 3306), "created");
	before = last;
	pub = npub;
	result_reset();
	pc_alloc_fail_at(1); /* reset the injected flag */
	pc_alloc_fail_at(0);
	pc_alloc_fail_at(n);
	req();
	injected = pc_alloc_injected();
	pc_alloc_fail_at(0);
	if (!injected)
		sweep_exit(SWEEP_DONE);
	code = RET;
	stored = RES.stored;
	snprintf(text, sizeof(text), "%.200s", RES.err.msg);
	rev = ji(status(), "revision");
	if (code == 0 && in_force() && rev == 2 && npub == pub + 1)
		sweep_exit(SWEEP_OK);
	if (code < 0 && !stored && !in_force() && rev == 1 && last == before && npub == pub)
		sweep_exit(SWEEP_REFUSED);
	/*
	 * The third outcome doc/api.md allows: stored, but the compile failed;
	 * nothing new is published, and the next request (here the same one
	 * again: "unchanged" or -ENOENT) compiles it.
	 */
	if (code < 0 && stored && strstr(text, "the change is stored") && rev == 2 &&
	    last == before && npub == pub && !in_force()) {
		result_reset();
		req();
		if (in_force() && npub == pub + 1)
			sweep_exit(SWEEP_RECOVERED);
	}
	snprintf(msg, sizeof(msg),
		 "n=%ld: returned %d (stored %d) %s; revision 1 -> %lld, published %u -> %u, "
		 "same snapshot %d, in force %d",
		 n, code, stored, text, rev, pub, npub, last == before, in_force());
	if (write(fd, msg, strlen(msg)) < 0)
		sweep_exit(100);
	sweep_exit(SWEEP_BROKEN);
}

/* Sweep every allocation of <req>; fails on a crash or a broken contract (TC_VERBOSE=1 lists each). */
static void sweep(const char *what, void (*req)(void), bool (*in_force)(void))
{
	unsigned count[SWEEP_DONE + 1] = { 0 }, nother = 0;
	char bad[1024] = "", msg[1024], crash[128] = "";
	unsigned nbad = 0, ncrash = 0;
	int fds[2], st;
	long n;
	pid_t pid;

	for (n = 1; n < 100000; n++) {
		ck_assert_int_eq(pipe(fds), 0);
		pid = fork();
		ck_assert_int_ne(pid, -1);
		if (pid == 0) {
			close(fds[0]);
			sweep_child(n, req, in_force, fds[1]);
		}
		close(fds[1]);
		memset(msg, 0, sizeof(msg));
		if (read(fds[0], msg, sizeof(msg) - 1) > 0) {
			nbad++;
			if (getenv("TC_VERBOSE"))
				fprintf(stderr, "%s: %s\n", what, msg);
			if (!bad[0])
				memcpy(bad, msg, sizeof(bad));
		}
		close(fds[0]);
		ck_assert_int_eq(waitpid(pid, &st, 0), pid);
		snprintf(dir, sizeof(dir), "%s/c%ld", tmp, n);
		nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
		if (WIFSIGNALED(st)) {
			ncrash++;
			if (getenv("TC_VERBOSE"))
				fprintf(stderr, "%s: n=%ld crashed: signal %d\n", what, n,
					WTERMSIG(st));
			if (!crash[0])
				snprintf(crash, sizeof(crash), "n=%ld: signal %d", n, WTERMSIG(st));
			continue;
		}
		ck_assert(WIFEXITED(st));
		if (WEXITSTATUS(st) < SWEEP_OK || WEXITSTATUS(st) > SWEEP_DONE) {
			/* a failed ck_assert in the child, or valgrind's errors */
			if (nother++ == 0)
				fprintf(stderr, "%s: n=%ld: the child exited with %d\n", what, n,
					WEXITSTATUS(st));
			continue;
		}
		count[WEXITSTATUS(st)]++;
		if (WEXITSTATUS(st) == SWEEP_DONE)
			break;
	}
	fprintf(stderr,
		"test_control: %s with failing allocations: %ld runs, %u ok, %u refused, "
		"%u stored then enforced by the next request, %u broke the contract, "
		"%u crashed\n",
		what, n, count[SWEEP_OK], count[SWEEP_REFUSED], count[SWEEP_RECOVERED], nbad,
		ncrash);
	/* a failed check skips teardown (Check forks): leave nothing behind first */
	nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	ck_assert_msg(count[SWEEP_DONE] == 1, "%s: the sweep did not finish", what);
	ck_assert_uint_gt(count[SWEEP_REFUSED] + count[SWEEP_RECOVERED] + nbad + ncrash, 10);
	ck_assert_msg(nother == 0, "%s: %u children failed otherwise", what, nother);
	ck_assert_msg(!crash[0], "%s crashed (%u times), first at %s", what, ncrash, crash);
	ck_assert_msg(!bad[0], "%s broke the contract (%u times), first at %s", what, nbad, bad);
}

static void apply_y(void)
{
	struct pc_upload u = { "t.yaml", NULL, 0 };

	u.data = se("y", "203.0.113.11", 3306);
	u.len = strlen(u.data);
	RET = pc_control_apply(ctl, &u, 1, &RES);
}

static bool y_in_force(void)
{
	return classify("203.0.113.11", 3306)->kind == PC_CLUSTER_SERVICE;
}

static void delete_x(void)
{
	RET = pc_control_delete(ctl, PC_KIND_SERVICE_ENTRY, "default", "x", 0, &RES);
}

static bool x_gone(void)
{
	return classify("203.0.113.10", 3306)->kind == PC_CLUSTER_BLACKHOLE;
}

START_TEST(allocation_failures_apply)
{
#ifdef PC_FAIL_ALLOC
	sweep("apply", apply_y, y_in_force);
#else
	fprintf(stderr, "test_control: allocation failures skipped: no PC_FAIL_ALLOC seam\n");
#endif
}
END_TEST

START_TEST(allocation_failures_delete)
{
#ifdef PC_FAIL_ALLOC
	sweep("delete", delete_x, x_gone);
#else
	fprintf(stderr, "test_control: allocation failures skipped: no PC_FAIL_ALLOC seam\n");
#endif
}
END_TEST

/*
 * Every 64 or so changes the registry is compacted: re-read from the store,
 * which still holds an object whose delete it could not write. The policy
 * compiled next must still leave it out (it let it back in, found by review).
 */
START_TEST(compaction_keeps_a_revocation)
{
	char name[32], ip[32];
	unsigned i;

	open_ctl();
	apply_ok(se("x", "203.0.113.10", 3306), "created");
	sql(FAIL_ON("DELETE"));
	ck_assert_int_eq(del(PC_KIND_SERVICE_ENTRY, "default", "x", 0), 0);
	ck_assert(RES.lagging);
	expect_cluster("203.0.113.10", 3306, NULL);
	for (i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "se-%03u", i);
		snprintf(ip, sizeof(ip), "198.51.100.%u", i + 1);
		apply_ok(se(name, ip, 3306), "created");
		expect_cluster("203.0.113.10", 3306, NULL);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("daemon.control");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, apply_created_unchanged_configured);
	tcase_add_test(tc, list_shows_server_metadata);
	tcase_add_test(tc, invalid_apply_changes_nothing);
	tcase_add_test(tc, no_objects);
	tcase_add_test(tc, resource_version_precondition);
	tcase_add_test(tc, delete_rules);
	tcase_add_test(tc, status_counts);
	tcase_add_test(tc, reopen_keeps_everything);
	tcase_add_test(tc, oldest_wins);
	tcase_add_test(tc, config_files_and_prune);
	tcase_add_test(tc, watch_events);
	tcase_add_test(tc, watch_wakes_and_shuts_down);
	tcase_add_test(tc, watch_sees_multi_object_revisions_whole);
	tcase_add_test(tc, watch_too_old_is_410);
	tcase_add_test(tc, same_object_twice_in_one_apply);
	tcase_add_test(tc, sidecar_sets_policy);
	tcase_add_test(tc, another_writer_is_followed);
	tcase_add_test(tc, many_applies_compact);
	tcase_add_test(tc, store_failure_changes_nothing);
	tcase_add_test(tc, delete_many_is_one_change);
	tcase_add_test(tc, delete_revokes_when_store_cannot_write);
	tcase_add_test(tc, reapply_cancels_a_pending_revocation);
	tcase_add_test(tc, allocation_failures_apply);
	tcase_add_test(tc, allocation_failures_delete);
	tcase_add_test(tc, compaction_keeps_a_revocation);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
