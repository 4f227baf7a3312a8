/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The sample manifests: every file in tests/data/valid validates with no
 * error and no warning; every file in tests/data/invalid has at least one
 * error. The samples were written from the reference, one kind at a time.
 */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <string.h>

#include "model/finding.h"
#include "model/manifest.h"
#include "testutil.h"

static size_t run_dir(const char *dir, bool want_valid)
{
	char path[4096];
	struct dirent *de;
	size_t n = 0;
	DIR *d = opendir(dir);

	ck_assert_msg(d != NULL, "cannot open %s", dir);
	while ((de = readdir(d))) {
		struct pc_findings f;
		struct pc_manifest m;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		pc_findings_init(&f);
		ck_assert_int_eq(pc_manifest_init(&m), 0);
		ck_assert_int_eq(pc_manifest_add_file(&m, path, &f), 0);
		if (want_valid && f.n) {
			tu_dump(&f);
			ck_abort_msg("%s: expected no findings, got %zu", path, f.n);
		}
		if (!want_valid && f.nerr == 0)
			ck_abort_msg("%s: expected at least one error", path);
		pc_manifest_release(&m);
		pc_findings_release(&f);
		n++;
	}
	closedir(d);
	return n;
}

START_TEST(valid_samples_are_clean)
{
	ck_assert_uint_ge(run_dir(PC_TEST_DATA "/valid", true), 5);
}
END_TEST

START_TEST(invalid_samples_have_errors)
{
	ck_assert_uint_ge(run_dir(PC_TEST_DATA "/invalid", false), 5);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("model.samples");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, valid_samples_are_clean);
	tcase_add_test(tc, invalid_samples_have_errors);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
