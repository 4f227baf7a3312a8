/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for daemon/audit.c: the JSON line of an event (Kubernetes'
 * audit Event fields), one line per object with a shared auditID, a
 * refusal with its first finding, the file's mode, rotation by size, and
 * a symbolic link refused; and the old and new resourceVersions a change
 * reports (daemon/control.c), by a get each and by one listing. Files in
 * a mkdtemp directory.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <regex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "daemon/audit.h"
#include "daemon/control.h"
#include "daemonutil.h"
#include "model/finding.h"
#include "policy/snapshot.h"

static char dir[64];
static char path[128];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "%s", "/tmp/pc-audit-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/audit.log", dir);
}

static void teardown(void)
{
	char p[160];
	int i;

	pc_audit_close();
	unlink(path);
	for (i = 1; i <= PC_AUDIT_KEEP + 1; i++) {
		snprintf(p, sizeof(p), "%s.%d", path, i);
		unlink(p);
	}
	rmdir(dir);
	du_json_release();
}

/* The lines of <p>, NUL-separated in a static buffer; returns their count. */
static size_t read_lines(const char *p, char **lines, size_t max)
{
	static char buf[1 << 16];
	size_t n = 0, len;
	FILE *f = fopen(p, "r");
	char *s, *nl;

	if (!f)
		return 0;
	len = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[len] = '\0';
	for (s = buf; *s && n < max; s = nl + 1) {
		nl = strchr(s, '\n');
		ck_assert_msg(nl != NULL, "a line without its newline: %s", s);
		*nl = '\0';
		lines[n++] = s;
	}
	return n;
}

static const struct pc_audit_user peer = {
	.via = "unix", .peer = true, .uid = 65534, .gid = 999, .pid = 4242
};

START_TEST(formats_an_event)
{
	struct pc_audit_event ev = { .user = &peer,
				     .verb = "apply",
				     .group = "networking.istio.io",
				     .kind = "ServiceEntry",
				     .ns = "default",
				     .name = "a\"b",
				     .old_rv = 3,
				     .new_rv = 7,
				     .result = "configured",
				     .code = 200 };
	struct pc_buf b = PC_BUF_INIT;
	const struct pc_node *j;
	regex_t re;

	pc_audit_stamp(&ev);
	pc_audit_format(&b, &ev);
	ck_assert_uint_gt(b.len, 0);
	ck_assert_int_eq(b.p[b.len - 1], '\n');
	ck_assert_ptr_null(memchr(b.p, '\n', b.len - 1)); /* one line */
	j = json(b.p, b.len);
	ck_assert_str_eq(js(j, "kind"), "Event");
	ck_assert_str_eq(js(j, "apiVersion"), "audit.k8s.io/v1");
	ck_assert_str_eq(js(j, "auditID"), ev.id);
	ck_assert_str_eq(js(j, "stage"), "ResponseComplete");
	ck_assert_str_eq(js(j, "verb"), "apply");
	ck_assert_str_eq(js(j, "user.username"), "uid:65534");
	ck_assert_int_eq(ji(j, "user.uid"), 65534);
	ck_assert_int_eq(ji(j, "user.gid"), 999);
	ck_assert_int_eq(ji(j, "user.pid"), 4242);
	ck_assert_str_eq(js(j, "via"), "unix");
	ck_assert_str_eq(js(j, "objectRef.apiGroup"), "networking.istio.io");
	ck_assert_str_eq(js(j, "objectRef.kind"), "ServiceEntry");
	ck_assert_str_eq(js(j, "objectRef.namespace"), "default");
	ck_assert_str_eq(js(j, "objectRef.name"), "a\"b");
	ck_assert_str_eq(js(j, "oldResourceVersion"), "3");
	ck_assert_str_eq(js(j, "newResourceVersion"), "7");
	ck_assert_str_eq(js(j, "result"), "configured");
	ck_assert_int_eq(ji(j, "responseStatus.code"), 200);
	ck_assert_str_eq(js(j, "responseStatus.status"), "Success");
	ck_assert_ptr_null(jp(j, "responseStatus.message"));
	ck_assert_int_eq(
		regcomp(&re, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6}Z$",
			REG_EXTENDED | REG_NOSUB),
		0);
	ck_assert_msg(regexec(&re, js(j, "stageTimestamp"), 0, NULL, 0) == 0, "%s",
		      js(j, "stageTimestamp"));
	regfree(&re);
	ck_assert_int_eq(regcomp(&re,
				 "^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-"
				 "[0-9a-f]{12}$",
				 REG_EXTENDED | REG_NOSUB),
			 0);
	ck_assert_msg(regexec(&re, ev.id, 0, NULL, 0) == 0, "%s", ev.id);
	regfree(&re);
	pc_buf_release(&b);
}
END_TEST

/* A change of two objects: one line each, one auditID; the file is 0600. */
START_TEST(one_line_per_object)
{
	struct pc_change_object v[2] = {
		{ .ns = "default", .name = "a", .result = PC_STORE_CREATED, .new_rv = 5 },
		{ .ns = "team", .name = "b", .result = PC_STORE_DELETED, .old_rv = 2, .new_rv = 2 },
	};
	struct pc_change_result res;
	const struct pc_node *j0, *j1;
	struct pc_err err;
	struct stat st;
	char *lines[8];

	pc_change_result_init(&res);
	res.v = v;
	res.n = 2;
	ck_assert_int_eq(pc_audit_open(path, 0, &err), 0);
	pc_audit_change(&peer, "apply", 0, &res, 200, NULL);
	ck_assert_uint_eq(read_lines(path, lines, 8), 2);
	j0 = json(lines[0], strlen(lines[0]));
	j1 = json(lines[1], strlen(lines[1]));
	ck_assert_str_eq(js(j0, "auditID"), js(j1, "auditID"));
	ck_assert_str_eq(js(j0, "result"), "created");
	ck_assert_str_eq(js(j0, "newResourceVersion"), "5");
	ck_assert_ptr_null(jp(j0, "oldResourceVersion"));
	ck_assert_str_eq(js(j1, "result"), "deleted");
	ck_assert_str_eq(js(j1, "objectRef.namespace"), "team");
	ck_assert_str_eq(js(j1, "oldResourceVersion"), "2");
	ck_assert_ptr_null(jp(j1, "newResourceVersion"));
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	res.v = NULL;
	res.n = 0;
	pc_change_result_release(&res);
}
END_TEST

START_TEST(a_refusal_names_its_first_error)
{
	struct pc_finding warn = { .sev = PC_SEV_WARNING,
				   .file = "x.yaml",
				   .line = 1,
				   .col = 1,
				   .kind = "ServiceEntry",
				   .ns = "default",
				   .name = "w",
				   .path = "",
				   .msg = "a warning" };
	struct pc_finding e = { .sev = PC_SEV_ERROR,
				.file = "x.yaml",
				.line = 3,
				.col = 9,
				.kind = "ServiceEntry",
				.ns = "default",
				.name = "Bad",
				.path = "metadata.name",
				.msg = "Invalid value" };
	struct pc_audit_user tok = { .name = "ci", .via = "tcp", .addr = "127.0.0.1" };
	struct pc_change_result res;
	const struct pc_node *j;
	struct pc_err err;
	char *lines[4];

	pc_change_result_init(&res);
	pc_findings_add(&res.findings, &warn);
	pc_findings_add(&res.findings, &e);
	pc_findings_add(&res.findings, &e);
	ck_assert_int_eq(pc_audit_open(path, 0, &err), 0);
	pc_audit_change(&tok, "apply", -EINVAL, &res, 422, "Invalid");
	ck_assert_uint_eq(read_lines(path, lines, 4), 1);
	j = json(lines[0], strlen(lines[0]));
	ck_assert_str_eq(js(j, "user.username"), "ci");
	ck_assert_str_eq(js(j, "sourceIPs[0]"), "127.0.0.1");
	ck_assert_str_eq(js(j, "result"), "refused");
	ck_assert_str_eq(js(j, "objectRef.name"), "Bad");
	ck_assert_int_eq(ji(j, "responseStatus.code"), 422);
	ck_assert_str_eq(js(j, "responseStatus.status"), "Failure");
	ck_assert_str_eq(js(j, "responseStatus.reason"), "Invalid");
	ck_assert_str_eq(js(j, "responseStatus.message"),
			 "x.yaml:3:9: metadata.name: Invalid value");
	pc_change_result_release(&res);
}
END_TEST

START_TEST(rotates_by_size)
{
	struct pc_audit_user cfg = { .name = "config", .via = "config" };
	char p[160], *lines[64];
	struct pc_err err;
	struct stat st;
	int i;

	ck_assert_int_eq(pc_audit_open(path, 1000, &err), 0);
	for (i = 0; i < 40; i++)
		pc_audit_request(&cfg, "set-log-level", "Logging", "info", "configured", 200, NULL,
				 NULL);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_le(st.st_size, 1000);
	ck_assert_uint_gt(read_lines(path, lines, 64), 0);
	for (i = 1; i <= PC_AUDIT_KEEP; i++) {
		snprintf(p, sizeof(p), "%s.%d", path, i);
		ck_assert_msg(stat(p, &st) == 0, "no %s", p);
		ck_assert_int_le(st.st_size, 1000);
		ck_assert_uint_eq(st.st_mode & 07777, 0600);
	}
	snprintf(p, sizeof(p), "%s.%d", path, PC_AUDIT_KEEP + 1);
	ck_assert_int_eq(stat(p, &st), -1); /* only PC_AUDIT_KEEP kept */
}
END_TEST

/* What a client sent is capped, and marked: a request never makes a long line. */
START_TEST(caps_what_a_client_sent)
{
	struct pc_audit_user anon = { .name = "system:anonymous", .via = "tcp" };
	static char big[6001];
	const struct pc_node *j;
	struct pc_err err;
	char *lines[4];
	const char *name;

	memset(big, 'A', sizeof(big) - 1);
	ck_assert_int_eq(pc_audit_open(path, 0, &err), 0);
	pc_audit_request(&anon, "delete", big, big, "refused", 400, "BadRequest", big);
	pc_audit_request(&anon, "set-log-level", PC_AUDIT_KIND_LOGGING, big, "refused", 401,
			 "Unauthorized", NULL);
	ck_assert_uint_eq(read_lines(path, lines, 4), 2);
	ck_assert_uint_lt(strlen(lines[0]), 2048);
	ck_assert_uint_lt(strlen(lines[1]), 1024);
	j = json(lines[0], strlen(lines[0]));
	name = js(j, "objectRef.name");
	ck_assert_uint_eq(strlen(name), PC_AUDIT_NAME_MAX + strlen(PC_AUDIT_TRUNCATED));
	ck_assert_str_eq(name + PC_AUDIT_NAME_MAX, PC_AUDIT_TRUNCATED);
	ck_assert_uint_eq(strlen(js(j, "objectRef.kind")),
			  PC_AUDIT_NAME_MAX + strlen(PC_AUDIT_TRUNCATED));
	ck_assert_uint_eq(strlen(js(j, "responseStatus.message")),
			  PC_AUDIT_MESSAGE_MAX + strlen(PC_AUDIT_TRUNCATED));
	j = json(lines[1], strlen(lines[1]));
	ck_assert_uint_eq(strlen(js(j, "objectRef.name")),
			  PC_AUDIT_LEVEL_MAX + strlen(PC_AUDIT_TRUNCATED));
}
END_TEST

/* A cut never splits a UTF-8 character (the line stays valid JSON text). */
START_TEST(caps_on_a_character_boundary)
{
	struct pc_audit_user cfg = { .name = "config", .via = "config" };
	char name[PC_AUDIT_NAME_MAX + 8];
	const struct pc_node *j;
	struct pc_err err;
	char *lines[2];

	memset(name, 'a', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	memcpy(name + PC_AUDIT_NAME_MAX - 1, "\xc3\xa9", 2); /* an e-acute across the cap */
	ck_assert_int_eq(pc_audit_open(path, 0, &err), 0);
	pc_audit_request(&cfg, "delete", "ServiceEntry", name, "refused", 404, "NotFound", NULL);
	ck_assert_uint_eq(read_lines(path, lines, 2), 1);
	j = json(lines[0], strlen(lines[0]));
	ck_assert_str_eq(js(j, "objectRef.name") + PC_AUDIT_NAME_MAX - 1, PC_AUDIT_TRUNCATED);
}
END_TEST

/* The cap counts escapes: 253 control characters are not 1,518 bytes of line. */
START_TEST(caps_escapes_too)
{
	struct pc_audit_user cfg = { .name = "config", .via = "config" };
	char name[PC_AUDIT_NAME_MAX + 1];
	struct pc_err err;
	char *lines[2];

	memset(name, '\x01', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	ck_assert_int_eq(pc_audit_open(path, 0, &err), 0);
	pc_audit_request(&cfg, "delete", name, name, "refused", 404, "NotFound", name);
	ck_assert_uint_eq(read_lines(path, lines, 2), 1);
	ck_assert_msg(strlen(lines[0]) < 2048, "%zu bytes", strlen(lines[0])); /* 253+253+1024 */
	ck_assert_ptr_nonnull(strstr(lines[0], "\\u0001" PC_AUDIT_TRUNCATED "\""));
}
END_TEST

/*
 * Unauthenticated lines: a burst of 20, then about one a second; the next
 * line written, an accepted change's, says how many were left out.
 */
START_TEST(rate_limits_unauthenticated_lines)
{
	struct pc_audit_user anon = { .name = "system:anonymous",
				      .via = "admin",
				      .anonymous = true };
	struct pc_audit_user tok = { .name = "admin", .via = "admin" };
	static char *lines[128];
	const struct pc_node *j;
	char want[128];
	struct pc_err err;
	size_t n;
	int i;

	ck_assert_int_eq(pc_audit_open(path, 0, &err), 0);
	for (i = 0; i < 60; i++)
		pc_audit_request(&anon, "set-log-level", PC_AUDIT_KIND_LOGGING, "debug", "refused",
				 401, "Unauthorized", NULL);
	pc_audit_request(&tok, "set-log-level", PC_AUDIT_KIND_LOGGING, "info", "configured", 200,
			 NULL, NULL);
	n = read_lines(path, lines, 128);
	ck_assert_msg(n >= 21 && n <= 22, "%zu lines", n); /* 20, maybe one refilled, and ours */
	j = json(lines[n - 1], strlen(lines[n - 1]));
	ck_assert_str_eq(js(j, "user.username"), "admin");
	snprintf(want, sizeof(want), "\"annotations\":{\"%s\":\"%d\"}", PC_AUDIT_SUPPRESSED,
		 60 - (int)(n - 1));
	ck_assert_msg(strstr(lines[n - 1], want) != NULL, "%s", lines[n - 1]);
	j = json(lines[0], strlen(lines[0]));
	ck_assert_ptr_null(jp(j, "annotations"));
	pc_audit_request(&tok, "set-log-level", PC_AUDIT_KIND_LOGGING, "info", "configured", 200,
			 NULL, NULL);
	ck_assert_uint_eq(read_lines(path, lines, 128), n + 1);
	j = json(lines[n], strlen(lines[n]));
	ck_assert_ptr_null(jp(j, "annotations")); /* told once */
}
END_TEST

/* How many times <needle> is in the file <p>. */
static int count_in(const char *p, const char *needle)
{
	static char buf[1 << 16];
	FILE *f = fopen(p, "r");
	size_t len;
	int n = 0;
	char *s;

	if (!f)
		return 0;
	len = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[len] = '\0';
	for (s = buf; (s = strstr(s, needle)); s++)
		n++;
	return n;
}

/* A directory <p> with a file in it, which rename() cannot replace; or remove them. */
static void full_dir(const char *p, bool make)
{
	char inside[200];
	int fd;

	snprintf(inside, sizeof(inside), "%s/x", p);
	if (!make) {
		unlink(inside);
		ck_assert_int_eq(rmdir(p), 0);
		return;
	}
	ck_assert_int_eq(mkdir(p, 0700), 0);
	fd = open(inside, O_WRONLY | O_CREAT, 0600);
	ck_assert_int_ge(fd, 0);
	close(fd);
}

static void log_lines(int n)
{
	struct pc_audit_user cfg = { .name = "config", .via = "config" };

	while (n--)
		pc_audit_request(&cfg, "set-log-level", "Logging", "info", "configured", 200, NULL,
				 NULL);
}

/*
 * A rotation that cannot rename (as the proxy user in a root-owned
 * directory; here audit.log.2 and .3 are directories that rename() cannot
 * swap, as root may) is warned about once, and tried again only after the
 * file grew by another max size.
 */
START_TEST(a_failed_rotation_is_warned_once)
{
	char one[160], two[160], three[160], logp[160];
	struct pc_err err;
	struct stat st;
	int fd;

	snprintf(one, sizeof(one), "%s.1", path);
	snprintf(two, sizeof(two), "%s.2", path);
	snprintf(three, sizeof(three), "%s.3", path);
	snprintf(logp, sizeof(logp), "%s/daemon.log", dir);
	full_dir(two, true);
	full_dir(three, true);
	fd = open(logp, O_WRONLY | O_CREAT | O_APPEND, 0600);
	ck_assert_int_ge(fd, 0);
	pc_log_set_fd(fd);
	ck_assert_int_eq(pc_audit_open(path, 1000, &err), 0);
	log_lines(40);
	ck_assert_int_eq(count_in(logp, "cannot rotate the audit log"), 1);
	ck_assert_int_eq(count_in(logp, "directory it may write"), 1);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_gt(st.st_size, 1000); /* it grew: nothing was lost */
	full_dir(two, false);
	full_dir(three, false);
	log_lines(20); /* another 1000 bytes: it tries, and succeeds */
	pc_log_set_fd(-1);
	close(fd);
	ck_assert_int_eq(count_in(logp, "cannot rotate the audit log"), 1);
	ck_assert_int_eq(count_in(logp, "the audit log rotates again"), 1);
	ck_assert_int_eq(stat(one, &st), 0);
	ck_assert_msg(S_ISREG(st.st_mode), "no rotated %s", one);
	unlink(logp);
}
END_TEST

START_TEST(refuses_a_symlink)
{
	struct pc_err err;

	ck_assert_int_eq(symlink("/etc/passwd", path), 0);
	ck_assert_int_eq(pc_audit_open(path, 0, &err), -ELOOP);
	ck_assert_msg(strstr(err.msg, "symbolic link") != NULL, "%s", err.msg);
}
END_TEST

/* ---- the resourceVersions of a change ---- */

static void drop(void *data, struct pc_snapshot *snap)
{
	(void)data;
	pc_snapshot_unref(snap);
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static char *se_text(size_t from, size_t n, unsigned port)
{
	struct pc_buf b = PC_BUF_INIT;
	size_t i;

	for (i = from; i < from + n; i++)
		pc_buf_printf(
			&b,
			"---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
			"metadata: {name: s%zu, namespace: default}\nspec:\n  hosts: "
			"[s%zu.example]\n  addresses: [10.1.%zu.%zu/32]\n  location: "
			"MESH_EXTERNAL\n  resolution: NONE\n  ports: [{name: tcp, number: %u, "
			"protocol: TCP}]\n",
			i, i, i / 256, i % 256, port);
	ck_assert(!b.oom);
	return b.p;
}

static void apply_text(struct pc_control *ctl, char *text, struct pc_change_result *res)
{
	struct pc_upload u = { "t.yaml", text, strlen(text) };

	pc_change_result_init(res);
	ck_assert_int_eq(pc_control_apply(ctl, &u, 1, res), 0);
	free(text);
}

/* created: 0 -> rv; configured: rv -> rv'; unchanged: rv -> rv; deleted: rv' -> (none) */
static void check_versions(size_t n)
{
	struct pc_control_opts o = { 0 };
	struct pc_change_result a, b, d;
	struct pc_control *ctl;
	struct pc_err err;
	char state[128];
	size_t i;

	pc_log_set_level(PC_LOG_WARN);
	snprintf(state, sizeof(state), "%s/state", dir);
	o.state_dir = state;
	o.compile.policy = -1;
	o.compile.proxy_port = 15001;
	o.publish = drop;
	ck_assert_int_eq(pc_control_open(&o, &ctl, &err), 0);
	apply_text(ctl, se_text(0, n, 80), &a);
	for (i = 0; i < n; i++) {
		ck_assert_int_eq(a.v[i].result, PC_STORE_CREATED);
		ck_assert_int_eq(a.v[i].old_rv, 0);
		ck_assert_int_eq(a.v[i].new_rv, a.revision);
	}
	/* the first half changes, the second does not */
	apply_text(ctl, se_text(0, n / 2, 81), &b);
	pc_change_result_release(&b);
	apply_text(ctl, se_text(0, n, 81), &b);
	for (i = 0; i < n; i++) {
		ck_assert_int_eq(b.v[i].result,
				 i < n / 2 ? PC_STORE_UNCHANGED : PC_STORE_CONFIGURED);
		if (i >= n / 2)
			ck_assert_int_eq(b.v[i].old_rv, a.revision);
		ck_assert_int_eq(b.v[i].new_rv, i < n / 2 ? b.v[i].old_rv : b.revision);
		ck_assert_int_gt(b.v[i].old_rv, 0);
	}
	pc_change_result_init(&d);
	ck_assert_int_eq(pc_control_delete(ctl, PC_KIND_SERVICE_ENTRY, "default", "s1", 0, &d), 0);
	ck_assert_int_eq(d.v[0].result, PC_STORE_DELETED);
	ck_assert_int_eq(d.v[0].old_rv, b.v[1].new_rv);
	pc_change_result_release(&d);
	pc_change_result_release(&b);
	pc_change_result_release(&a);
	pc_control_shutdown(ctl);
	pc_control_free(ctl);
	nftw(state, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

START_TEST(versions_by_gets)
{
	check_versions(4);
}
END_TEST

START_TEST(versions_by_a_listing)
{
	check_versions(300); /* over OLD_RV_GETS_MAX stored objects */
}
END_TEST

int main(void)
{
	Suite *s = suite_create("daemon.audit");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, formats_an_event);
	tcase_add_test(tc, one_line_per_object);
	tcase_add_test(tc, a_refusal_names_its_first_error);
	tcase_add_test(tc, rotates_by_size);
	tcase_add_test(tc, refuses_a_symlink);
	tcase_add_test(tc, caps_what_a_client_sent);
	tcase_add_test(tc, caps_on_a_character_boundary);
	tcase_add_test(tc, caps_escapes_too);
	tcase_add_test(tc, rate_limits_unauthenticated_lines);
	tcase_add_test(tc, a_failed_rotation_is_warned_once);
	tcase_add_test(tc, versions_by_gets);
	tcase_add_test(tc, versions_by_a_listing);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
