/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for daemon/api.c's mapping of the control interface to HTTP:
 * the statuses, Kubernetes Status bodies and JSON documents doc/api.md
 * promises, from the handlers (api-int.h) over a real control plane and
 * store, without the HTTP server. What the changes do is test_control.c's.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
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
#include "daemon/api-int.h"
#include "daemon/api.h"
#include "daemon/control.h"
#include "model/node.h"
#include "model/resource.h"
#include "net/addr.h"
#include "policy/snapshot.h"
#include "store/store.h"

#define SE_RES "serviceentries.networking.istio.io"

static char tmp[64];
static char dir[96]; /* the state dir: <tmp>/state */

static struct pc_control *ctl;
static struct pc_snapshot *last; /* the last published snapshot (a reference) */
static unsigned npub;            /* how many were published */
static unsigned nconflicts;      /* reports through opts.report */

static struct pc_reply R; /* the reply of the last request */

/* Parsed reply bodies, freed in teardown. */

static void publish(void *data, struct pc_snapshot *snap)
{
	(void)data;
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
	snprintf(tmp, sizeof(tmp), "/tmp/pc-api-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmp));
	snprintf(dir, sizeof(dir), "%s/state", tmp);
	pc_log_set_level(PC_LOG_WARN); /* keep "policy compiled" lines out of the test output */
	ctl = NULL;
	last = NULL;
	npub = 0;
	nconflicts = 0;
	memset(&R, 0, sizeof(R));
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
	pc_buf_release(&R.body);
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

static void reply_reset(void)
{
	pc_buf_release(&R.body);
	memset(&R, 0, sizeof(R));
}

/* The body of the last reply as a NUL-terminated string. */
static const char *body(void)
{
	return R.body.p ? R.body.p : "";
}

static const struct pc_node *body_json(void)
{
	return json(body(), R.body.len);
}

/* Apply the uploads; returns the status, the reply is in R. */
static unsigned apply_n(const struct pc_upload *u, size_t n)
{
	reply_reset();
	pc_api_apply(ctl, u, n, NULL, &R);
	return R.status;
}

static unsigned apply(const char *name, const char *yaml)
{
	struct pc_upload u = { name, yaml, strlen(yaml) };

	return apply_n(&u, 1);
}

/* apply() that must succeed with <result> for its only object. */
static void apply_ok(const char *yaml, const char *result)
{
	const struct pc_node *b;

	ck_assert_msg(apply("t.yaml", yaml) == 200, "%u %s", R.status, body());
	b = body_json();
	ck_assert_uint_eq(jlen(b, "results"), 1);
	ck_assert_str_eq(js(b, "results[0].result"), result);
}

static unsigned del(const char *kind, const char *ns, const char *name, const char *rv)
{
	reply_reset();
	pc_api_delete(ctl, kind, ns, name, rv, NULL, &R);
	return R.status;
}

static const struct pc_node *list(const char *kind, const char *ns, const char *name)
{
	reply_reset();
	pc_api_list(ctl, kind, ns, name, &R);
	ck_assert_msg(R.status == 200, "%u %s", R.status, body());
	return body_json();
}

static const struct pc_node *status(void)
{
	reply_reset();
	pc_api_status(ctl, &R);
	ck_assert_uint_eq(R.status, 200);
	return body_json();
}

/* Fail unless the last reply is a Status with <code>, <reason> and exactly <msg> (NULL: any). */
static void expect_status(unsigned code, const char *reason, const char *msg)
{
	const struct pc_node *b;

	ck_assert_msg(R.status == code, "want %u, got %u %s", code, R.status, body());
	b = body_json();
	ck_assert_str_eq(js(b, "kind"), "Status");
	ck_assert_str_eq(js(b, "status"), "Failure");
	ck_assert_str_eq(js(b, "reason"), reason);
	ck_assert_int_eq(ji(b, "code"), code);
	if (msg)
		ck_assert_str_eq(js(b, "message"), msg);
}

/* ---- the answers ---- */

START_TEST(apply_list_status_bodies)
{
	const struct pc_node *b;

	open_ctl();
	apply_ok(se("mysql", "203.0.113.10", 3306), "created");
	b = body_json();
	ck_assert_int_eq(ji(b, "revision"), 1);
	ck_assert_str_eq(js(b, "results[0].kind"), "ServiceEntry");
	ck_assert_str_eq(js(b, "results[0].namespace"), "default");
	ck_assert_str_eq(js(b, "results[0].name"), "mysql");
	ck_assert_ptr_null(jp(b, "warnings"));
	apply_ok(se("mysql", "203.0.113.10", 3306), "unchanged");
	apply_ok(se("mysql", "203.0.113.10", 3307), "configured");
	ck_assert_int_eq(ji(body_json(), "revision"), 2);

	b = list("ServiceEntry", NULL, NULL);
	ck_assert_int_eq(ji(b, "revision"), 2);
	ck_assert_uint_eq(jlen(b, "items"), 1);
	ck_assert_int_eq(ji(b, "items[0].metadata.generation"), 2);
	ck_assert_str_eq(js(b, "items[0].metadata.resourceVersion"), "2");
	ck_assert_ptr_nonnull(strstr(body(), "\"spec\":{\"addresses\":[\"203.0.113.10/32\"],"));
	ck_assert_uint_eq(jlen(list("ServiceEntry", "shop", NULL), "items"), 0);
	ck_assert_uint_eq(jlen(list("", "", NULL), "items"), 1); /* empty: every one */
	reply_reset();
	pc_api_list(ctl, "ServiceEntry", "default", "absent", &R);
	expect_status(404, "NotFound", SE_RES " \"absent\" not found");
	reply_reset();
	pc_api_list(ctl, NULL, NULL, "absent", &R);
	expect_status(404, "NotFound", "objects \"absent\" not found");
	reply_reset();
	pc_api_list(ctl, "Bogus", NULL, NULL, &R);
	expect_status(404, "NotFound", "the server doesn't have a resource type \"Bogus\"");

	b = status();
	ck_assert_int_eq(ji(b, "revision"), 2);
	ck_assert_int_eq(ji(b, "policyGeneration"), 3);
	ck_assert_int_eq(ji(b, "objects"), 1);
	ck_assert_ptr_nonnull(jp(b, "version"));
}
END_TEST

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

START_TEST(refusals)
{
	static const char comments[] = "# nothing here\n---\n# nor here\n";
	char two[2048];
	struct pc_upload u;
	const char *msg;

	open_ctl();
	/* invalid: the findings as `portcullis validate` prints them */
	ck_assert_uint_eq(apply("bad.yaml", bad_yaml), 422);
	expect_status(422, "Invalid", NULL);
	msg = js(body_json(), "message");
	ck_assert_msg(strncmp(msg, "bad.yaml:10:13: error: ", 23) == 0, "%s", msg);
	ck_assert_msg(strstr(msg, "spec.ports[0].number") != NULL, "%s", msg);
	ck_assert_uint_eq(apply_n(NULL, 0), 400);
	expect_status(400, "BadRequest", "no objects passed to apply");
	ck_assert_uint_eq(apply("empty.yaml", ""), 422);
	expect_status(422, "Invalid", "empty.yaml: error: no objects found (the input is empty)\n");
	ck_assert_uint_eq(apply("c.yaml", comments), 422);
	expect_status(422, "Invalid", "c.yaml: error: no objects found (the input is empty)\n");

	/* conflicts name the object that has them */
	apply_ok(se("x", "203.0.113.10", 3306), "created");
	ck_assert_uint_eq(apply("t.yaml", se_yaml("default", "x", "203.0.113.10", 3308,
						  "  resourceVersion: \"7\"\n")),
			  409);
	expect_status(409, "Conflict",
		      "Operation cannot be fulfilled on " SE_RES " \"x\": the object has been "
		      "modified; please apply your changes to the latest version and try again");
	snprintf(two, sizeof(two), "%s---\n%s", se("y", "203.0.113.11", 3306),
		 se_yaml("default", "x", "203.0.113.10", 3309, "  resourceVersion: \"1\"\n"));
	u = (struct pc_upload){ "two.yaml", two, strlen(two) };
	ck_assert_uint_eq(apply_n(&u, 1), 200); /* rv 1 is x's */
	u = (struct pc_upload){ "two.yaml", two, strlen(two) };
	ck_assert_uint_eq(apply_n(&u, 1), 409); /* now it is 2 */
	msg = js(body_json(), "message");
	ck_assert_msg(strstr(msg, SE_RES " \"x\"") != NULL, "%s", msg);
	ck_assert_uint_eq(apply("rv.yaml", se_yaml("default", "x", "203.0.113.10", 3310,
						   "  resourceVersion: abc\n")),
			  422);
	msg = js(body_json(), "message");
	ck_assert_msg(strncmp(msg, "rv.yaml:", 8) == 0, "%s", msg);
	ck_assert_msg(strstr(msg, "metadata.resourceVersion") && strstr(msg, "\"abc\""), "%s", msg);
}
END_TEST

START_TEST(delete_answers)
{
	const struct pc_node *b;

	open_ctl();
	apply_ok(se("x", "203.0.113.10", 3306), "created");
	ck_assert_uint_eq(del("ServiceEntry", "default", "x", "7"), 409);
	expect_status(409, "Conflict",
		      "Operation cannot be fulfilled on " SE_RES " \"x\": the object has been "
		      "modified; please apply your changes to the latest version and try again");
	ck_assert_uint_eq(del("ServiceEntry", "default", "x", "abc"), 400);
	expect_status(400, "BadRequest", "resourceVersion \"abc\" is not a number");
	ck_assert_uint_eq(del("ServiceEntry", "default", "x", "1"), 200);
	b = body_json();
	ck_assert_int_eq(ji(b, "revision"), 2);
	ck_assert_str_eq(js(b, "kind"), "ServiceEntry");
	ck_assert_str_eq(js(b, "namespace"), "default");
	ck_assert_str_eq(js(b, "name"), "x");
	ck_assert_uint_eq(del("ServiceEntry", "default", "x", NULL), 404);
	expect_status(404, "NotFound", SE_RES " \"x\" not found");
	ck_assert_uint_eq(del("ServiceEntry", NULL, "x", NULL), 404); /* NULL ns: default */
	ck_assert_uint_eq(del("Bogus", "default", "x", NULL), 404);
	expect_status(404, "NotFound", "the server doesn't have a resource type \"Bogus\"");
	ck_assert_uint_eq(del(NULL, "default", "x", NULL), 400);
	ck_assert_uint_eq(del("ServiceEntry", "default", "", NULL), 400);
	ck_assert_uint_eq(del("sidecars", "istio-system", "default", NULL), 404);
	expect_status(404, "NotFound", "sidecars.networking.istio.io \"default\" not found");

	pc_control_shutdown(ctl);
	ck_assert_uint_eq(apply("t.yaml", se("y", "203.0.113.11", 3306)), 503);
	expect_status(503, "ServiceUnavailable", "the daemon is shutting down");
	ck_assert_uint_eq(del("ServiceEntry", "default", "x", NULL), 503);
	expect_status(503, "ServiceUnavailable", "the daemon is shutting down");
}
END_TEST

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

#define FAIL_ON(op)                                                                          \
	"CREATE TRIGGER no_" op " BEFORE " op " ON objects BEGIN SELECT RAISE(ABORT, 'disk " \
	"on fire'); END;"

/* A store that cannot be written: 500, naming the store, nothing changed. */
START_TEST(store_failure_is_500)
{
	const char *msg;

	open_ctl();
	apply_ok(se("x", "203.0.113.10", 3306), "created");
	sql(FAIL_ON("INSERT") FAIL_ON("UPDATE") FAIL_ON("DELETE"));
	ck_assert_uint_eq(apply("t.yaml", se("y", "203.0.113.11", 3306)), 500);
	expect_status(500, "InternalError", NULL);
	msg = js(body_json(), "message");
	ck_assert_msg(strncmp(msg, "cannot write the store in ", 26) == 0 && strstr(msg, dir), "%s",
		      msg);
	ck_assert_msg(strstr(msg, "nothing was changed") != NULL, "%s", msg);
	/* a delete with a precondition needs the store: 500 too */
	ck_assert_uint_eq(del("ServiceEntry", "default", "x", "1"), 500);
	expect_status(500, "InternalError", NULL);
	ck_assert_int_eq(ji(status(), "revision"), 1);
	ck_assert_int_eq(ji(status(), "unpersistedDeletes"), 0);
}
END_TEST

/* A delete the store cannot write still revokes: 202, "revoked, not yet persisted". */
START_TEST(store_failure_delete_is_202)
{
	const char *msg;

	open_ctl();
	apply_ok(se("x", "203.0.113.10", 3306), "created");
	sql(FAIL_ON("DELETE"));
	ck_assert_uint_eq(del("ServiceEntry", "default", "x", NULL), 202);
	ck_assert_str_eq(js(body_json(), "name"), "x");
	ck_assert_int_eq(ji(body_json(), "revision"), 1);
	msg = js(body_json(), "message");
	ck_assert_msg(strstr(msg, "revoked, not yet persisted: ") == msg, "%s", msg);
	ck_assert_msg(strstr(msg, "disk on fire") && strstr(msg, "restart"), "%s", msg);
	ck_assert_int_eq(ji(status(), "unpersistedDeletes"), 1);
	ck_assert_msg(strstr(js(status(), "storeError"), "disk on fire") != NULL, "%s", body());
	sql("DROP TRIGGER no_DELETE;");
	apply_ok(se("y", "203.0.113.11", 3306), "created"); /* stores the delete first */
	ck_assert_int_eq(ji(status(), "unpersistedDeletes"), 0);
	ck_assert_int_eq(ji(status(), "revision"), 3);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("daemon.api");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, apply_list_status_bodies);
	tcase_add_test(tc, refusals);
	tcase_add_test(tc, delete_answers);
	tcase_add_test(tc, store_failure_is_500);
	tcase_add_test(tc, store_failure_delete_is_202);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
