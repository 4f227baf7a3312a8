/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for model/destinationrule.c: the DestinationRule-level rules
 * of Istio's ValidateDestinationRule (reference §3.3, as the Go code
 * behaves) - host, subsets, exportTo, workload selector - accepted and
 * rejected, with the finding's path and line:col, plus the CRD-only
 * selector limits. The traffic policy is tested in test_trafficpolicy.c.
 *
 * Every manifest starts with HEAD (6 lines), so spec line k of a body is
 * line 6 + k of the file.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include "model/finding.h"
#include "testutil.h"

#define HEAD                                   \
	"apiVersion: networking.istio.io/v1\n" \
	"kind: DestinationRule\n"              \
	"metadata:\n"                          \
	"  name: r\n"                          \
	"  namespace: ns1\n"                   \
	"spec:\n"

#define DR(body) tu_validate(HEAD body)

#define ERR  PC_SEV_ERROR
#define WARN PC_SEV_WARNING

/* ---- samples ---- */

START_TEST(full_sample_is_clean)
{
	struct pc_findings *f = DR("  host: mysql.db.example.com\n"
				   "  trafficPolicy:\n"
				   "    connectionPool:\n"
				   "      tcp:\n"
				   "        maxConnections: 100\n"
				   "        connectTimeout: 30ms\n"
				   "        idleTimeout: 1h\n"
				   "        maxConnectionDuration: 2h30m\n"
				   "        tcpKeepalive:\n"
				   "          time: 7200s\n"
				   "          interval: 75s\n"
				   "          probes: 9\n"
				   "      http:\n"
				   "        http1MaxPendingRequests: 10\n"
				   "        http2MaxRequests: 100\n"
				   "        maxRequestsPerConnection: 1\n"
				   "        maxRetries: 3\n"
				   "        idleTimeout: 30s\n"
				   "        h2UpgradePolicy: UPGRADE\n"
				   "        maxConcurrentStreams: 100\n"
				   "    outlierDetection:\n"
				   "      consecutive5xxErrors: 5\n"
				   "      consecutiveGatewayErrors: 3\n"
				   "      splitExternalLocalOriginErrors: true\n"
				   "      consecutiveLocalOriginFailures: 2\n"
				   "      interval: 10s\n"
				   "      baseEjectionTime: 30s\n"
				   "      maxEjectionPercent: 100\n"
				   "      minHealthPercent: 0\n"
				   "    tls:\n"
				   "      mode: SIMPLE\n"
				   "      sni: mysql.db.example.com\n"
				   "    loadBalancer:\n"
				   "      simple: LEAST_REQUEST\n"
				   "      warmup:\n"
				   "        duration: 60s\n"
				   "        minimumPercent: 10\n"
				   "        aggression: 1.5\n"
				   "    portLevelSettings:\n"
				   "    - port:\n"
				   "        number: 3306\n"
				   "      connectionPool:\n"
				   "        tcp:\n"
				   "          maxConnections: 10\n"
				   "    retryBudget:\n"
				   "      percent: 20\n"
				   "      minRetryConcurrency: 3\n"
				   "  subsets:\n"
				   "  - name: v1\n"
				   "    labels:\n"
				   "      version: v1\n"
				   "  - name: v2\n"
				   "    labels:\n"
				   "      version: v2\n"
				   "    trafficPolicy:\n"
				   "      loadBalancer:\n"
				   "        consistentHash:\n"
				   "          httpCookie:\n"
				   "            name: user\n"
				   "            ttl: 0s\n"
				   "            attributes:\n"
				   "            - name: SameSite\n"
				   "              value: Strict\n"
				   "          maglev:\n"
				   "            tableSize: 65537\n"
				   "  exportTo:\n"
				   "  - .\n");

	tu_expect_clean(f);
	tu_free(f);
}
END_TEST

START_TEST(minimal_and_wildcard_hosts)
{
	static const char *const ok[] = {
		HEAD "  host: reviews\n",         HEAD "  host: '*'\n",
		HEAD "  host: '*.example.com'\n", HEAD "  host: reviews.prod.svc.cluster.local\n",
		HEAD "  host: Example.COM.\n",    NULL,
	};
	size_t i;

	for (i = 0; ok[i]; i++) {
		struct pc_findings *f = tu_validate(ok[i]);

		tu_expect_clean(f);
		tu_free(f);
	}
}
END_TEST

/* ---- host ---- */

START_TEST(host_rejected)
{
	struct pc_findings *f;

	f = DR("  host: ''\n");
	tu_at(tu_expect(f, ERR, "spec.host", "empty domain name not allowed"), 7, 9);
	tu_counts(f, 1, 0);
	tu_free(f);

	/* absent: the same Go message, placed on spec */
	f = DR("  exportTo: ['.']\n");
	tu_at(tu_expect(f, ERR, "spec.host", "empty domain name not allowed"), 7, 3);
	tu_counts(f, 1, 0);
	tu_free(f);

	f = DR("  host: foo_bar.com\n");
	tu_at(tu_expect(f, ERR, "spec.host",
			"domain name \"foo_bar.com\" invalid (label \"foo_bar\" invalid)"),
	      7, 9);
	tu_free(f);

	f = DR("  host: foo.*.com\n");
	tu_expect(f, ERR, "spec.host", "invalid (label \"*\" invalid)");
	tu_free(f);

	f = DR("  host: example.123\n");
	tu_expect(f, ERR, "spec.host", "cannot be all-numeric");
	tu_free(f);

	/* not a string: only the decoder's error */
	f = DR("  host: [a]\n");
	tu_expect(f, ERR, "spec.host", "expected a string");
	tu_counts(f, 1, 0);
	tu_free(f);
}
END_TEST

/* ---- subsets ---- */

START_TEST(subsets_accepted)
{
	struct pc_findings *f = DR("  host: svc\n"
				   "  subsets:\n"
				   "  - name: v1\n"
				   "    labels: {version: v1, app.kubernetes.io/name: x}\n"
				   "  - name: V2-canary\n"
				   "    labels: {version: ''}\n");

	tu_expect_clean(f);
	tu_free(f);
}
END_TEST

START_TEST(subset_duplicate_and_names)
{
	struct pc_findings *f = DR("  host: svc\n"
				   "  subsets:\n"
				   "  - name: v1\n"
				   "  - name: v1\n"
				   "  - name: ''\n"
				   "  - labels: {a: b}\n"
				   "  - name: v_3\n");

	/* a duplicate is reported on the later subset only */
	tu_at(tu_expect(f, ERR, "spec.subsets[1].name", "duplicate subset names: v1"), 10, 11);
	tu_expect_none(f, "spec.subsets[0].name", NULL);
	tu_at(tu_expect(f, ERR, "spec.subsets[2].name", "subset name cannot be empty"), 11, 11);
	/* the absent name is "" too: empty, and a duplicate of subsets[2] */
	tu_at(tu_expect(f, ERR, "spec.subsets[3].name", "subset name cannot be empty"), 12, 5);
	tu_expect(f, ERR, "spec.subsets[3].name", "duplicate subset names: ");
	tu_at(tu_expect(f, ERR, "spec.subsets[4].name", "subset name is invalid: v_3"), 13, 11);
	tu_counts(f, 5, 0);
	tu_free(f);
}
END_TEST

START_TEST(subset_labels)
{
	struct pc_findings *f = DR("  host: svc\n"
				   "  subsets:\n"
				   "  - name: v1\n"
				   "    labels:\n"
				   "      -bad: x\n"
				   "      ok: -bad\n");

	tu_at(tu_expect(f, ERR, "spec.subsets[0].labels[-bad]", "invalid tag key: \"-bad\""), 11,
	      13);
	tu_at(tu_expect(f, ERR, "spec.subsets[0].labels[ok]", "invalid tag value: \"-bad\""), 12,
	      11);
	tu_counts(f, 2, 0);
	tu_free(f);
}
END_TEST

START_TEST(subset_policy_errors_kept_warnings_dropped)
{
	struct pc_findings *f = DR("  host: svc\n"
				   "  subsets:\n"
				   "  - name: v1\n"
				   "    trafficPolicy:\n"
				   "      outlierDetection:\n"
				   "        consecutiveErrors: 5\n"
				   "        maxEjectionPercent: 101\n"
				   "      loadBalancer:\n"
				   "        consistentHash:\n"
				   "          minimumRingSize: 1024\n"
				   "        localityLbSetting:\n"
				   "          failover:\n"
				   "          - from: us-east\n"
				   "            to: us-west\n");

	tu_at(tu_expect(f, ERR, "spec.subsets[0].trafficPolicy.outlierDetection.maxEjectionPercent",
			"percentage 101 is not in range 0..100"),
	      13, 29);
	/* Istio folds subsets through appendErrors: warnings are lost */
	tu_counts(f, 1, 0);
	tu_free(f);

	f = DR("  host: svc\n"
	       "  subsets:\n"
	       "  - name: v1\n"
	       "    trafficPolicy: {}\n");
	tu_at(tu_expect(f, ERR, "spec.subsets[0].trafficPolicy",
			"traffic policy must have at least one field"),
	      10, 20);
	tu_free(f);
}
END_TEST

START_TEST(subset_not_a_mapping)
{
	struct pc_findings *f = DR("  host: svc\n"
				   "  subsets:\n"
				   "  - v1\n");

	tu_expect(f, ERR, "spec.subsets[0]", "expected an object");
	tu_counts(f, 1, 0);
	tu_free(f);
}
END_TEST

START_TEST(large_lists_stay_fast)
{
	size_t n, len = 0, cap = 60000 * 64 + 512;
	char *buf = malloc(cap);
	struct pc_findings *f;

	ck_assert_ptr_nonnull(buf);
	len += (size_t)snprintf(buf, cap, "%s  host: a.b\n  subsets:\n", HEAD);
	/* 10,000 is the decoder's cap on list length (PC_DECODE_MAX_ITEMS) */
	for (n = 0; n < 10000; n++)
		len += (size_t)snprintf(buf + len, cap - len, "  - {name: s%zu}\n", n % 9999);
	len += (size_t)snprintf(buf + len, cap - len,
				"  trafficPolicy:\n    outlierDetection: {}\n    loadBalancer:\n"
				"      localityLbSetting:\n        distribute:\n");
	for (n = 0; n < 10000; n++)
		len += (size_t)snprintf(buf + len, cap - len,
					"        - {from: r%zu/z, to: {a: 100}}\n", n);
	f = tu_validate(buf);
	tu_expect(f, ERR, "spec.subsets[9999].name", "duplicate subset names: s0");
	tu_counts(f, 1, 0);
	tu_free(f);
	free(buf);
}
END_TEST

/* ---- exportTo and workloadSelector ---- */

START_TEST(export_to)
{
	struct pc_findings *f;

	f = DR("  host: a.b\n"
	       "  exportTo: ['.', other, '*']\n");
	tu_expect(f, ERR, "spec.exportTo",
		  "cannot have both public (*) and non-public exportTo values for a resource");
	tu_counts(f, 1, 0);
	tu_free(f);

	f = DR("  host: a.b\n"
	       "  exportTo: ['~']\n");
	tu_at(tu_expect(f, ERR, "spec.exportTo",
			"exportTo ~ (none) is not allowed for Istio configuration objects"),
	      8, 13);
	tu_free(f);

	f = DR("  host: a.b\n"
	       "  exportTo: [ns1, '.']\n");
	tu_expect(f, ERR, "spec.exportTo",
		  "duplicate entries in exportTo: . and current namespace ns1");
	tu_free(f);

	f = DR("  host: a.b\n"
	       "  exportTo: ['*']\n");
	tu_expect_clean(f);
	tu_free(f);

	/* with a workload selector only the own namespace is allowed */
	f = DR("  host: a.b\n"
	       "  workloadSelector: {matchLabels: {app: x}}\n"
	       "  exportTo: ['*']\n");
	tu_expect(f, ERR, "spec.exportTo",
		  "destination rule with workload selector cannot have exportTo beyond current "
		  "namespace");
	tu_free(f);

	f = DR("  host: a.b\n"
	       "  workloadSelector: {matchLabels: {app: x}}\n"
	       "  exportTo: ['.', other]\n");
	tu_expect(
		f, ERR, "spec.exportTo",
		"destination rule with workload selector cannot have multiple entries in exportTo");
	tu_free(f);

	f = DR("  host: a.b\n"
	       "  workloadSelector: {matchLabels: {app: x}}\n"
	       "  exportTo: [ns1]\n");
	tu_expect_clean(f);
	tu_free(f);
}
END_TEST

START_TEST(workload_selector)
{
	struct pc_findings *f;
	char buf[512];

	f = DR("  host: a.b\n"
	       "  workloadSelector: {}\n");
	tu_at(tu_expect(f, WARN, "spec.workloadSelector",
			"workload selector specified without labels"),
	      8, 21);
	tu_counts(f, 0, 1);
	tu_free(f);

	f = DR("  host: a.b\n"
	       "  workloadSelector:\n"
	       "    matchLabels:\n"
	       "      '': x\n"
	       "      app*: yy\n"
	       "      tier: '*'\n");
	tu_at(tu_expect(f, ERR, "spec.workloadSelector.matchLabels[]",
			"empty key is not supported in selector: \"=x\""),
	      10, 11);
	tu_at(tu_expect(f, ERR, "spec.workloadSelector.matchLabels[app*]",
			"wildcard is not supported in selector: \"app*=yy\""),
	      11, 13);
	tu_expect(f, ERR, "spec.workloadSelector.matchLabels[tier]",
		  "wildcard is not supported in selector: \"tier=*\"");
	/* the CRD's CEL rules say the same: not repeated */
	tu_counts(f, 3, 0);
	tu_free(f);

	snprintf(buf, sizeof(buf),
		 "%s  host: a.b\n  workloadSelector:\n    matchLabels:\n      app: '%064d'\n", HEAD,
		 0);
	f = tu_validate(buf);
	tu_at(tu_expect(f, ERR, "spec.workloadSelector.matchLabels[app]",
			"Too long: may not be more than 63 bytes"),
	      10, 12);
	tu_counts(f, 1, 0);
	tu_free(f);

	snprintf(buf, sizeof(buf),
		 "%s  host: a.b\n  workloadSelector:\n    matchLabels:\n      app: '%063d'\n", HEAD,
		 0);
	f = tu_validate(buf);
	tu_expect_clean(f);
	tu_free(f);
}
END_TEST

START_TEST(workload_selector_max_labels)
{
	size_t n, len = 0, cap = 4200 * 32 + 512;
	char *buf = malloc(cap);
	struct pc_findings *f;

	ck_assert_ptr_nonnull(buf);
	len += (size_t)snprintf(buf, cap, "%s  host: a.b\n  workloadSelector:\n    matchLabels:\n",
				HEAD);
	for (n = 0; n < 4097; n++)
		len += (size_t)snprintf(buf + len, cap - len, "      k%zu: v\n", n);
	f = tu_validate(buf);
	tu_at(tu_expect(f, ERR, "spec.workloadSelector.matchLabels",
			"Too many: 4097: must have at most 4096 items"),
	      10, 7);
	tu_counts(f, 1, 0);
	tu_free(f);
	free(buf);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("model.destinationrule");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, full_sample_is_clean);
	tcase_add_test(tc, minimal_and_wildcard_hosts);
	tcase_add_test(tc, host_rejected);
	tcase_add_test(tc, subsets_accepted);
	tcase_add_test(tc, subset_duplicate_and_names);
	tcase_add_test(tc, subset_labels);
	tcase_add_test(tc, subset_policy_errors_kept_warnings_dropped);
	tcase_add_test(tc, subset_not_a_mapping);
	tcase_add_test(tc, large_lists_stay_fast);
	tcase_add_test(tc, export_to);
	tcase_add_test(tc, workload_selector);
	tcase_add_test(tc, workload_selector_max_labels);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
