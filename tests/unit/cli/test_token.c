/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for the CLI's checks of a token file (cli/client.c,
 * pc_client_token_check()): what the proxy user could have planted in the
 * state dir it owns - a FIFO, a device, a file of its own, a file others
 * can write, a hard link - is refused with why; root's and the caller's
 * own files, and /dev/null, are read.
 */
#include <check.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "cli/client.h"

static struct stat file(mode_t mode, uid_t uid, nlink_t nlink)
{
	struct stat st;

	memset(&st, 0, sizeof(st));
	st.st_mode = mode;
	st.st_uid = uid;
	st.st_nlink = nlink;
	return st;
}

static void refused(struct stat st, unsigned caller, const char *want)
{
	char why[160] = "";

	ck_assert_int_eq(pc_client_token_check(&st, caller, why, sizeof(why)), -EPERM);
	ck_assert_msg(strstr(why, want), "\"%s\" does not say \"%s\"", why, want);
}

static void accepted(struct stat st, unsigned caller)
{
	char why[160] = "";

	ck_assert_int_eq(pc_client_token_check(&st, caller, why, sizeof(why)), 0);
	ck_assert_str_eq(why, "");
}

START_TEST(the_daemons_file_and_the_callers_own)
{
	accepted(file(S_IFREG | 0600, 0, 1), 0);
	accepted(file(S_IFREG | 0400, 0, 1), 1000);
	accepted(file(S_IFREG | 0600, 1000, 1), 1000);
	/* readable by others: the token is out already, but nobody else wrote it */
	accepted(file(S_IFREG | 0644, 0, 1), 0);
}
END_TEST

START_TEST(what_the_proxy_user_could_plant)
{
	refused(file(S_IFREG | 0600, 1337, 1), 0,
		"owned by uid 1337, not by root or by you (uid 0)");
	refused(file(S_IFREG | 0600, 1337, 1), 1000, "owned by uid 1337");
	refused(file(S_IFREG | 0620, 0, 1), 0, "others can write it (mode 0620)");
	refused(file(S_IFREG | 0602, 0, 1), 0, "chmod 600");
	refused(file(S_IFREG | 0600, 0, 2), 0, "2 hard links");
	refused(file(S_IFIFO | 0600, 0, 1), 0, "it is a FIFO");
	refused(file(S_IFDIR | 0700, 0, 2), 0, "it is a directory");
	refused(file(S_IFSOCK | 0600, 0, 1), 0, "it is a socket");
	refused(file(S_IFBLK | 0600, 0, 1), 0, "it is a device");
}
END_TEST

START_TEST(dev_null_holds_no_token)
{
	struct stat st = file(S_IFCHR | 0666, 0, 1);

	st.st_rdev = makedev(1, 3);
	accepted(st, 0);
	st.st_rdev = makedev(1, 5); /* /dev/zero */
	refused(st, 0, "it is a device");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cli.token");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, the_daemons_file_and_the_callers_own);
	tcase_add_test(tc, what_the_proxy_user_could_plant);
	tcase_add_test(tc, dev_null_holds_no_token);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
