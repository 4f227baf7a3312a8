/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Allocation-failure sweep over manifest loading (STYLE.md 3.9): the Nth
 * allocation fails, for every N until a load completes without an injected
 * failure. Each run must return 0 or -ENOMEM, never crash, and (under the
 * ASan build) never leak. Only meaningful in Debug builds, where the
 * PC_FAIL_ALLOC seam is compiled in; elsewhere it skips.
 */
#include <check.h>
#include <errno.h>
#include <string.h>

#include "core/alloc.h"
#include "model/finding.h"
#include "model/manifest.h"

static const char manifest[] =
	"apiVersion: networking.istio.io/v1alpha3\n"
	"kind: ServiceEntry\n"
	"metadata: {name: mysql-external, labels: {app: ratings}}\n"
	"spec:\n"
	"  hosts: [mysql.example.com]\n"
	"  addresses: [203.0.113.10/32]\n"
	"  ports: [{name: tcp, number: 3306, protocol: TCP}, {name: bad, number: 0}]\n"
	"  location: MESH_EXTERNAL\n"
	"  bogus: &x {a: 1}\n"
	"---\n"
	"apiVersion: networking.istio.io/v1\n"
	"kind: DestinationRule\n"
	"metadata: {name: mysql}\n"
	"spec:\n"
	"  host: mysql.example.com\n"
	"  trafficPolicy: {connectionPool: {tcp: {maxConnections: 10, connectTimeout: 1s}}}\n"
	"  subsets: [{name: v1, labels: {version: v1}}]\n"
	"---\n"
	"apiVersion: networking.istio.io/v1\n"
	"kind: VirtualService\n"
	"metadata: {name: mysql}\n"
	"spec:\n"
	"  hosts: [mysql.example.com]\n"
	"  tcp: [{route: [{destination: {host: mysql.example.com, subset: v1}, weight: 100}]}]\n";

START_TEST(every_allocation_failure_is_survived)
{
	long n;
	int injected = 1;

	pc_alloc_fail_at(1);
	pc_alloc_fail_at(0);
	for (n = 1; injected && n < 100000; n++) {
		struct pc_findings f;
		struct pc_manifest m;
		int ret;

		pc_findings_init(&f);
		pc_alloc_fail_at(n);
		ret = pc_manifest_init(&m);
		if (ret == 0) {
			ret = pc_manifest_add_buf(&m, "t.yaml", manifest, strlen(manifest), &f);
			pc_manifest_release(&m);
		}
		injected = pc_alloc_injected();
		pc_alloc_fail_at(0);
		ck_assert_msg(ret == 0 || ret == -ENOMEM, "n=%ld: ret=%d", n, ret);
		if (!injected) {
			/* the clean run: everything was reported */
			ck_assert_uint_gt(f.nerr, 0);
			ck_assert(!f.oom);
		}
		pc_findings_release(&f);
	}
	ck_assert_msg(!injected, "sweep did not finish");
	ck_assert_int_gt(n, 50);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("model.alloc_fail");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

#ifndef PC_FAIL_ALLOC
	return 77; /* skipped: the seam is only in Debug builds */
#endif
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, every_allocation_failure_is_survived);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
