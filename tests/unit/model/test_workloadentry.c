/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for model/workloadentry.c: Istio's validateWorkloadEntry()
 * rules for a standalone WorkloadEntry (reference §1.5) and the CRD rules
 * of the message (reference §1.6). Every rule has an accepted and a
 * rejected case; rejections assert the path and the line:col.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/finding.h"
#include "testutil.h"

/* spec's fields start on line 6, column 3. */
#define WE                                     \
	"apiVersion: networking.istio.io/v1\n" \
	"kind: WorkloadEntry\n"                \
	"metadata:\n"                          \
	"  name: vm1\n"                        \
	"spec:\n"

#define E PC_SEV_ERROR
#define W PC_SEV_WARNING

/* A string of <n> copies of <c>, to be freed. */
static char *rep(char c, size_t n)
{
	char *s = malloc(n + 1);

	ck_assert_ptr_nonnull(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

START_TEST(valid_entries)
{
	tu_clean(WE "  address: 192.0.2.10\n"
		    "  ports: {http: 8080, grpc: 9090}\n"
		    "  labels: {app: reviews, version: v1, app.kubernetes.io/name: x}\n"
		    "  network: vm-net\n"
		    "  locality: us-east1/us-east1-b\n"
		    "  weight: 10\n"
		    "  serviceAccount: reviews\n");
	tu_clean(WE "  address: 2001:db8::10\n");
	tu_clean(WE "  address: vm1.example.com\n"); /* FQDN allowed standalone */
	tu_clean(WE "  address: vm1\n");             /* a short name is an FQDN too */
	tu_clean(WE "  address: unix:///var/run/app.sock\n");
	tu_clean(WE "  address: unix://@abstract\n");
	tu_clean(WE "  address: 192.0.2.10\n"
		    "  labels: {empty: \"\"}\n"); /* empty label value is fine */
}
END_TEST

START_TEST(address_required)
{
	struct pc_findings *f;

	/* No address and no network: Go stops there (no port checks). */
	f = tu_validate(WE "  ports: {Bad_Name: 0}\n");
	tu_expect_at(f, E, "spec.address", "address is required", 6, 3);
	ck_assert_uint_eq(f->n, 1); /* nor the CRD's "Address is required" */
	tu_free(f);

	f = tu_validate(WE "  address: \"\"\n");
	tu_expect_at(f, E, "spec.address", "address is required", 6, 12);
	tu_free(f);

	/* A network alone is accepted with a warning. */
	f = tu_validate(WE "  network: n1\n");
	tu_expect_at(f, W, "spec.address", "address is unset with network \"n1\"", 6, 3);
	ck_assert_uint_eq(f->nerr, 0);
	tu_free(f);
}
END_TEST

START_TEST(address_forms)
{
	struct pc_findings *f;

	f = tu_validate(WE "  address: bad_host.example.com\n");
	tu_expect_at(
		f, E, "spec.address",
		"endpoint address \"bad_host.example.com\" is not a valid FQDN or an IP address", 6,
		12);
	tu_free(f);

	/* Leading zeros are no IP for Go, and an all-numeric TLD is no FQDN. */
	f = tu_validate(WE "  address: 010.0.0.1\n");
	tu_expect_at(f, E, "spec.address", "endpoint address \"010.0.0.1\" is not a valid FQDN", 6,
		     12);
	tu_free(f);

	/* Not a string: the decoder reports it, and nothing else does. */
	f = tu_validate(WE "  address: 12\n");
	tu_expect_at(f, E, "spec.address", "expected a string", 6, 12);
	ck_assert_uint_eq(f->n, 1);
	tu_free(f);
}
END_TEST

START_TEST(unix_addresses)
{
	struct pc_findings *f;

	f = tu_validate(WE "  address: unix://app.sock\n");
	tu_expect_at(f, E, "spec.address", "app.sock is not an absolute path to a file", 6, 12);
	tu_expect_none(f, "spec.address", "UDS"); /* the CRD's twin is not repeated */
	tu_free(f);

	f = tu_validate(WE "  address: \"unix://\"\n");
	tu_expect_at(f, E, "spec.address", "unix address must not be empty", 6, 12);
	tu_free(f);

	f = tu_validate(WE "  address: unix:///tmp/\n");
	tu_expect_at(f, E, "spec.address", "/tmp/ is not an absolute path to a file", 6, 12);
	tu_free(f);

	f = tu_validate(WE "  address: unix:///a.sock\n"
			   "  ports: {http: 80}\n");
	tu_expect_at(f, E, "spec.ports", "unix endpoint unix:///a.sock must not include ports", 7,
		     10);
	tu_expect_none(f, "spec.ports", "UDS may not include ports");
	tu_free(f);

	/* CRD only: has(ports) is true even for an empty map. */
	f = tu_validate(WE "  address: unix:///a.sock\n"
			   "  ports: {}\n");
	tu_expect_at(f, E, "spec.ports", "UDS may not include ports", 7, 10);
	ck_assert_uint_eq(f->n, 1);
	tu_free(f);
}
END_TEST

START_TEST(ports)
{
	struct pc_findings *f;
	char yaml[512];
	char *name63 = rep('p', 63), *name62 = rep('p', 62);

	f = tu_validate(WE "  address: 192.0.2.1\n"
			   "  ports: {Bad_Name: 80, http: 0, ok: 70000, fine: 65535}\n");
	tu_expect_at(f, E, "spec.ports[Bad_Name]", "invalid port name: Bad_Name", 7, 21);
	tu_expect_at(f, E, "spec.ports[http]", "port number 0 must be in the range 1..65535", 7,
		     31);
	tu_expect_at(f, E, "spec.ports[ok]", "port number 70000 must be in the range 1..65535", 7,
		     38);
	tu_expect_none(f, "spec.ports[fine]", NULL);
	tu_expect_none(f, "spec.ports", NULL); /* CRD name rule: Go already said it */
	/* Standalone: no ServiceEntry, so no "not defined" errors. */
	tu_expect_none(f, "spec.ports[ok]", "not defined");
	tu_free(f);

	/* Go allows 63 bytes, the CRD's pattern wants fewer. */
	snprintf(yaml, sizeof(yaml), WE "  address: 192.0.2.1\n  ports: {%s: 80}\n", name63);
	f = tu_validate(yaml);
	tu_expect_at(f, E, "spec.ports", "port name must be valid", 7, 10);
	ck_assert_uint_eq(f->n, 1);
	tu_free(f);
	snprintf(yaml, sizeof(yaml), WE "  address: 192.0.2.1\n  ports: {%s: 80}\n", name62);
	tu_clean(yaml);

	/* A value that did not decode is not judged again as 0. */
	f = tu_validate(WE "  address: 192.0.2.1\n"
			   "  ports: {http: \"80\"}\n");
	tu_expect_at(f, E, "spec.ports[http]", "expected an integer", 7, 17);
	ck_assert_uint_eq(f->n, 1);
	tu_free(f);
	free(name63);
	free(name62);
}
END_TEST

START_TEST(labels)
{
	struct pc_findings *f;

	f = tu_validate(WE "  address: 192.0.2.1\n"
			   "  labels: {\"bad key!\": v, ok: \"bad value!\", good: yes-it-is}\n");
	tu_expect_at(f, E, "spec.labels[bad key!]", "invalid tag key: \"bad key!\"", 7, 24);
	tu_expect_at(f, E, "spec.labels[ok]", "invalid tag value: \"bad value!\"", 7, 31);
	tu_expect_none(f, "spec.labels[good]", NULL);
	tu_free(f);
}
END_TEST

/* A WorkloadEntry with <n> ports or labels, in flow style. */
static char *many(const char *field, size_t n, const char *extra)
{
	size_t cap = 256 + n * 24, len, i;
	char *s = malloc(cap);

	ck_assert_ptr_nonnull(s);
	len = (size_t)snprintf(s, cap, WE "  address: 192.0.2.1\n%s  %s: {", extra, field);
	for (i = 0; i < n; i++)
		len += (size_t)snprintf(s + len, cap - len, "%sp%zu: %s", i ? ", " : "", i,
					strcmp(field, "ports") == 0 ? "80" : "v");
	snprintf(s + len, cap - len, "}\n");
	return s;
}

START_TEST(crd_limits)
{
	struct pc_findings *f;
	char *s, *long_str, yaml[4096 + 512];

	s = many("ports", 129, "");
	f = tu_validate(s);
	tu_expect_at(f, E, "spec.ports", "Too many: 129: must have at most 128 items", 7, 10);
	tu_free(f);
	free(s);
	s = many("ports", 128, "");
	tu_clean(s);
	free(s);

	s = many("labels", 257, "");
	f = tu_validate(s);
	tu_expect_at(f, E, "spec.labels", "Too many: 257: must have at most 256 items", 7, 11);
	tu_free(f);
	free(s);
	s = many("labels", 256, "");
	tu_clean(s);
	free(s);

	long_str = rep('n', 2049);
	snprintf(yaml, sizeof(yaml), WE "  address: 192.0.2.1\n  network: %s\n", long_str);
	f = tu_validate(yaml);
	tu_expect_at(f, E, "spec.network", "Too long: may not be more than 2048 bytes", 7, 12);
	tu_free(f);
	snprintf(yaml, sizeof(yaml), WE "  address: 192.0.2.1\n  locality: %s\n", long_str);
	f = tu_validate(yaml);
	tu_expect_at(f, E, "spec.locality", "Too long: may not be more than 2048 bytes", 7, 13);
	tu_free(f);
	long_str[2048] = '\0';
	snprintf(yaml, sizeof(yaml), WE "  address: 192.0.2.1\n  network: %s\n  locality: %s\n",
		 long_str, long_str);
	tu_clean(yaml);
	free(long_str);

	long_str = rep('s', 254);
	snprintf(yaml, sizeof(yaml), WE "  address: 192.0.2.1\n  serviceAccount: %s\n", long_str);
	f = tu_validate(yaml);
	tu_expect_at(f, E, "spec.serviceAccount", "Too long: may not be more than 253 bytes", 7,
		     19);
	tu_free(f);
	long_str[253] = '\0';
	snprintf(yaml, sizeof(yaml), WE "  address: 192.0.2.1\n  serviceAccount: %s\n", long_str);
	tu_clean(yaml);
	free(long_str);

	/* Go puts no limit on socket paths; the CRD does (256 bytes in all). */
	long_str = rep('a', 256 - 8);
	snprintf(yaml, sizeof(yaml), WE "  address: unix:///%s\n", long_str);
	tu_clean(yaml);
	snprintf(yaml, sizeof(yaml), WE "  address: unix:///%sa\n", long_str);
	f = tu_validate(yaml);
	tu_expect_at(f, E, "spec.address", "Too long: may not be more than 256 bytes", 6, 12);
	ck_assert_uint_eq(f->n, 1);
	tu_free(f);
	free(long_str);

	/* A long host name is reported once, by Go's FQDN check. */
	long_str = rep('a', 300);
	snprintf(yaml, sizeof(yaml), WE "  address: %s\n", long_str);
	f = tu_validate(yaml);
	tu_expect_at(f, E, "spec.address", "is not a valid FQDN or an IP address", 6, 12);
	ck_assert_uint_eq(f->n, 1);
	tu_free(f);
	free(long_str);
}
END_TEST

START_TEST(missing_spec)
{
	struct pc_findings *f;

	f = tu_validate("apiVersion: networking.istio.io/v1beta1\n"
			"kind: WorkloadEntry\n"
			"metadata:\n"
			"  name: vm1\n");
	tu_expect(f, E, "spec", "Required value");
	tu_free(f);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("model.workloadentry");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, valid_entries);
	tcase_add_test(tc, address_required);
	tcase_add_test(tc, address_forms);
	tcase_add_test(tc, unix_addresses);
	tcase_add_test(tc, ports);
	tcase_add_test(tc, labels);
	tcase_add_test(tc, crd_limits);
	tcase_add_test(tc, missing_spec);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
