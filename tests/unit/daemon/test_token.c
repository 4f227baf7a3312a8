/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for daemon/token.c: the "TOKEN,NAME" file format, the
 * constant-time comparison, the Authorization header check, and loading or
 * making <dir>/api-token with the owner and mode checks that keep a token
 * planted by another user out. Files in a mkdtemp directory.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "daemon/token.h"

static char dir[64];
static char path[128];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "%s", "/tmp/pc-token-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/%s", dir, PC_TOKEN_FILE);
}

static void teardown(void)
{
	unlink(path);
	rmdir(dir);
}

static int parse(const char *text, struct pc_tokens *t, struct pc_err *err)
{
	return pc_tokens_parse(text, strlen(text), "api-token", t, err);
}

START_TEST(parses_kubernetes_static_tokens)
{
	struct pc_tokens t;
	struct pc_err err;

	ck_assert_int_eq(parse("# operators\n\n  abc123,admin \r\nxyz,ci,uid-7,\"g1\"\n", &t, &err),
			 0);
	ck_assert_uint_eq(t.n, 2);
	ck_assert_str_eq(t.v[0].token, "abc123");
	ck_assert_str_eq(t.v[0].name, "admin");
	ck_assert_str_eq(t.v[1].token, "xyz");
	ck_assert_str_eq(t.v[1].name, "ci");
	pc_tokens_release(&t);
	ck_assert_uint_eq(t.n, 0);
}
END_TEST

START_TEST(refuses_bad_lines)
{
	static const char *const bad[] = {
		"",       "# only a comment\n", "abc\n",          ",admin\n",
		"abc,\n", "a b,admin\n",        "ok,x\nnocomma\n"
	};
	struct pc_tokens t;
	struct pc_err err;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(parse(bad[i], &t, &err) == -EINVAL, "accepted \"%s\"", bad[i]);
		ck_assert_ptr_null(t.v);
		ck_assert_ptr_nonnull(strstr(err.msg, "api-token"));
	}
}
END_TEST

START_TEST(compares_whole_tokens)
{
	ck_assert(pc_token_equal("secret", 6, "secret", 6));
	ck_assert(!pc_token_equal("secreT", 6, "secret", 6));
	ck_assert(!pc_token_equal("secre", 5, "secret", 6));
	ck_assert(!pc_token_equal("secrets", 7, "secret", 6));
	ck_assert(!pc_token_equal("", 0, "secret", 6));
	ck_assert(pc_token_equal("", 0, "", 0));
}
END_TEST

START_TEST(checks_the_authorization_header)
{
	struct pc_tokens t;
	struct pc_err err;

	ck_assert_int_eq(parse("tok-one,admin\ntok-two,ci\n", &t, &err), 0);
	ck_assert_str_eq(pc_tokens_check(&t, "Bearer tok-one"), "admin");
	ck_assert_str_eq(pc_tokens_check(&t, "bearer  tok-two "), "ci");
	ck_assert_ptr_null(pc_tokens_check(&t, NULL));
	ck_assert_ptr_null(pc_tokens_check(&t, "tok-one"));
	ck_assert_ptr_null(pc_tokens_check(&t, "Basic tok-one"));
	ck_assert_ptr_null(pc_tokens_check(&t, "Bearer tok-on"));
	ck_assert_ptr_null(pc_tokens_check(&t, "Bearer tok-one2"));
	ck_assert_ptr_null(pc_tokens_check(&t, "Bearer "));
	ck_assert_ptr_null(pc_tokens_check(NULL, "Bearer tok-one"));
	pc_tokens_release(&t);
}
END_TEST

START_TEST(makes_then_loads_the_file)
{
	struct pc_tokens t, again;
	struct pc_err err;
	struct stat st;
	bool made;
	size_t i;

	ck_assert_int_eq(pc_tokens_load(dir, &t, &made, &err), 0);
	ck_assert(made);
	ck_assert_uint_eq(t.n, 1);
	ck_assert_str_eq(t.v[0].name, PC_TOKEN_DEFAULT);
	ck_assert_uint_eq(strlen(t.v[0].token), 64); /* 32 random bytes, hex */
	for (i = 0; i < 64; i++)
		ck_assert(strchr("0123456789abcdef", t.v[0].token[i]));
	ck_assert_int_eq(lstat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	ck_assert_uint_eq(st.st_uid, geteuid());
	ck_assert_int_eq(pc_tokens_load(dir, &again, &made, &err), 0);
	ck_assert(!made);
	ck_assert_str_eq(again.v[0].token, t.v[0].token);
	pc_tokens_release(&again);
	pc_tokens_release(&t);
}
END_TEST

static void write_file(const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	ck_assert_int_eq(chmod(path, mode), 0);
}

START_TEST(refuses_a_readable_file)
{
	struct pc_tokens t;
	struct pc_err err;

	write_file("abc,admin\n", 0640);
	ck_assert_int_eq(pc_tokens_load(dir, &t, NULL, &err), -EPERM);
	ck_assert_msg(strstr(err.msg, "chmod 600") != NULL, "%s", err.msg);
	ck_assert_ptr_null(t.v);
}
END_TEST

START_TEST(refuses_a_symlink_and_a_fifo)
{
	struct pc_tokens t;
	struct pc_err err;
	char target[160];

	snprintf(target, sizeof(target), "%s/elsewhere", dir);
	write_file("abc,admin\n", 0600);
	ck_assert_int_eq(rename(path, target), 0);
	ck_assert_int_eq(symlink(target, path), 0);
	ck_assert_int_eq(pc_tokens_load(dir, &t, NULL, &err), -ELOOP);
	ck_assert_msg(strstr(err.msg, "symbolic link") != NULL, "%s", err.msg);
	unlink(path);
	unlink(target);
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	ck_assert_int_eq(pc_tokens_load(dir, &t, NULL, &err), -EPERM); /* and did not hang */
	ck_assert_msg(strstr(err.msg, "not a regular file") != NULL, "%s", err.msg);
}
END_TEST

START_TEST(refuses_a_file_of_another_owner)
{
	struct pc_tokens t;
	struct pc_err err;

	if (geteuid() != 0)
		return; /* only root can give a file away */
	write_file("abc,admin\n", 0600);
	ck_assert_int_eq(chown(path, 65534, 65534), 0);
	ck_assert_int_eq(pc_tokens_load(dir, &t, NULL, &err), -EPERM);
	ck_assert_msg(strstr(err.msg, "owned by uid 65534, not by root") != NULL, "%s", err.msg);
}
END_TEST

START_TEST(refuses_a_hard_link)
{
	struct pc_tokens t;
	struct pc_err err;
	char other[160];

	/* with fs.protected_hardlinks=0 the proxy user could link a file of root's there */
	snprintf(other, sizeof(other), "%s/shadow", dir);
	write_file("abc,admin\n", 0600);
	ck_assert_int_eq(link(path, other), 0);
	ck_assert_int_eq(pc_tokens_load(dir, &t, NULL, &err), -EPERM);
	unlink(other);
	ck_assert_msg(strstr(err.msg, "2 hard links") != NULL, "%s", err.msg);
	ck_assert_ptr_null(t.v);
	ck_assert_int_eq(pc_tokens_load(dir, &t, NULL, &err), 0); /* one link again */
	pc_tokens_release(&t);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("daemon.token");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, parses_kubernetes_static_tokens);
	tcase_add_test(tc, refuses_bad_lines);
	tcase_add_test(tc, compares_whole_tokens);
	tcase_add_test(tc, checks_the_authorization_header);
	tcase_add_test(tc, makes_then_loads_the_file);
	tcase_add_test(tc, refuses_a_readable_file);
	tcase_add_test(tc, refuses_a_symlink_and_a_fifo);
	tcase_add_test(tc, refuses_a_file_of_another_owner);
	tcase_add_test(tc, refuses_a_hard_link);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
