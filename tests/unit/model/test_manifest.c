/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for model/manifest.c: documents, Lists, kinds and versions,
 * Kubernetes ObjectMeta rules, and what the findings carry.
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "model/manifest.h"
#include "testutil.h"

#define SE_SPEC                                                                  \
	"spec:\n"                                                                \
	"  hosts: [mysql.example.com]\n"                                         \
	"  addresses: [203.0.113.10/32]\n"                                       \
	"  ports: [{name: tcp, number: 3306, protocol: TCP}]\n"                  \
	"  location: MESH_EXTERNAL\n"

START_TEST(seed_service_entry_loads)
{
	const char *text = "apiVersion: networking.istio.io/v1alpha3\n"
			   "kind: ServiceEntry\n"
			   "metadata:\n  name: mysql-external\n" SE_SPEC;
	struct pc_findings f;
	struct pc_manifest m;

	pc_findings_init(&f);
	ck_assert_int_eq(pc_manifest_init(&m), 0);
	ck_assert_int_eq(pc_manifest_add_buf(&m, "seed.yaml", text, strlen(text), &f), 0);
	tu_expect_clean(&f);
	ck_assert_uint_eq(m.nres, 1);
	ck_assert_int_eq(m.res[0].kind, PC_KIND_SERVICE_ENTRY);
	ck_assert_str_eq(m.res[0].meta.name, "mysql-external");
	ck_assert_str_eq(m.res[0].meta.ns, "default");
	ck_assert_str_eq(m.res[0].api_version, "networking.istio.io/v1alpha3");
	ck_assert_ptr_nonnull(m.res[0].spec);
	ck_assert_uint_eq(m.res[0].nerr, 0);
	ck_assert_uint_eq(m.res[0].line, 1);
	pc_manifest_release(&m);
	pc_findings_release(&f);
}
END_TEST

START_TEST(all_three_versions_and_multiple_documents)
{
	struct pc_findings *f = tu_validate(
		"apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: a}\n" SE_SPEC
		"---\n"
		"apiVersion: networking.istio.io/v1beta1\nkind: ServiceEntry\nmetadata: {name: b}\n" SE_SPEC
		"---\n"
		"# an empty document is skipped\n"
		"---\n"
		"apiVersion: networking.istio.io/v1alpha3\nkind: ServiceEntry\nmetadata: {name: c}\n" SE_SPEC);

	tu_expect_clean(f);
	tu_free(f);
}
END_TEST

START_TEST(list_items)
{
	struct pc_findings *f = tu_validate(
		"apiVersion: v1\nkind: List\nitems:\n"
		"- apiVersion: networking.istio.io/v1\n  kind: ServiceEntry\n  metadata: {name: a}\n"
		"  spec: {hosts: [a.example.com], addresses: [192.0.2.1], ports: [{name: t, number: 0, "
		"protocol: TCP}]}\n"
		"- apiVersion: v1\n  kind: List\n  items: []\n");
	const struct pc_finding *x;

	x = tu_expect(f, PC_SEV_ERROR, "spec.ports[0].number", "");
	ck_assert_str_eq(x->kind, "ServiceEntry");
	ck_assert_str_eq(x->name, "a");
	ck_assert_uint_eq(x->line, 7);
	x = tu_expect(f, PC_SEV_ERROR, "kind", "a List may not contain another List");
	ck_assert_uint_eq(x->line, 9);
	tu_free(f);
}
END_TEST

START_TEST(list_without_items)
{
	struct pc_findings *f = tu_validate("apiVersion: v1\nkind: List\n");

	tu_expect(f, PC_SEV_ERROR, "items", "Required value");
	tu_free(f);
	f = tu_validate("apiVersion: v1\nkind: List\nitems: {}\n");
	tu_expect(f, PC_SEV_ERROR, "items", "expected an array");
	tu_free(f);
}
END_TEST

START_TEST(kind_and_version_errors)
{
	struct pc_findings *f;
	const struct pc_finding *x;

	f = tu_validate("apiVersion: networking.istio.io/v1\nmetadata: {name: a}\nspec: {}\n");
	x = tu_expect(f, PC_SEV_ERROR, "kind", "kind is missing; supported kinds: ServiceEntry, "
					       "VirtualService, DestinationRule, Sidecar, WorkloadEntry");
	ck_assert_uint_eq(x->line, 1);
	tu_free(f);

	f = tu_validate("apiVersion: networking.istio.io/v1\nkind: serviceentry\nmetadata: {name: a}\n"
			"spec: {}\n");
	x = tu_expect(f, PC_SEV_ERROR, "kind", "did you mean \"ServiceEntry\"");
	ck_assert_uint_eq(x->line, 2);
	ck_assert_uint_eq(x->col, 7);
	tu_free(f);

	f = tu_validate("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a}\nspec: {}\n");
	tu_expect(f, PC_SEV_ERROR, "kind", "unsupported kind \"Deployment\"");
	tu_expect(f, PC_SEV_ERROR, "apiVersion", "unsupported apiVersion \"apps/v1\"; supported: "
						 "networking.istio.io/v1alpha3");
	tu_free(f);

	f = tu_validate("kind: ServiceEntry\nmetadata: {name: a}\n" SE_SPEC);
	tu_expect(f, PC_SEV_ERROR, "apiVersion", "apiVersion is missing");
	tu_free(f);

	f = tu_validate("apiVersion: networking.istio.io/v2\nkind: ServiceEntry\nmetadata: {name: a}\n"
			SE_SPEC);
	tu_expect(f, PC_SEV_ERROR, "apiVersion", "unsupported apiVersion \"networking.istio.io/v2\"");
	tu_free(f);
}
END_TEST

START_TEST(top_level_shape)
{
	struct pc_findings *f;

	f = tu_validate("apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: a}\n"
			SE_SPEC "spce: {}\nstatus: {anything: goes}\n");
	tu_expect(f, PC_SEV_ERROR, "spce", "unknown field \"spce\" (did you mean \"spec\"?)");
	tu_expect_none(f, "status", NULL);
	tu_free(f);

	f = tu_validate("apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: a}\n");
	tu_expect(f, PC_SEV_ERROR, "spec", "Required value");
	tu_free(f);

	f = tu_validate("- a\n- b\n");
	tu_expect(f, PC_SEV_ERROR, "", "must be an object (mapping), not array");
	tu_free(f);

	f = tu_validate("just a string\n");
	tu_expect(f, PC_SEV_ERROR, "", "not string");
	tu_free(f);
}
END_TEST

START_TEST(empty_input)
{
	struct pc_findings *f = tu_validate("");

	tu_expect(f, PC_SEV_ERROR, "", "no objects found");
	tu_free(f);
	f = tu_validate("# nothing\n---\n---\n");
	tu_expect(f, PC_SEV_ERROR, "", "no objects found");
	tu_free(f);
}
END_TEST

START_TEST(metadata_rules)
{
	struct pc_findings *f;
	const struct pc_finding *x;

	f = tu_validate("apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n" SE_SPEC);
	tu_expect(f, PC_SEV_ERROR, "metadata", "Required value");
	tu_free(f);

	f = tu_validate("apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {}\n" SE_SPEC);
	tu_expect(f, PC_SEV_ERROR, "metadata.name", "Required value");
	tu_free(f);

	f = tu_validate("apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
			"metadata:\n  name: MySQL_External\n  namespace: Shop\n"
			"  labels: {app: ratings, 'bad key!': x, v: -bad}\n"
			"  annotations: {'not valid': x}\n"
			"  uid: 1234\n" SE_SPEC);
	x = tu_expect(f, PC_SEV_ERROR, "metadata.name", "a lowercase RFC 1123 subdomain");
	ck_assert_uint_eq(x->line, 4);
	ck_assert_uint_eq(x->col, 9);
	ck_assert_str_eq(x->name, "MySQL_External");
	ck_assert_str_eq(x->ns, "Shop");
	tu_expect(f, PC_SEV_ERROR, "metadata.namespace", "a lowercase RFC 1123 label");
	tu_expect(f, PC_SEV_ERROR, "metadata.labels[bad key!]", "Invalid value: \"bad key!\"");
	tu_expect(f, PC_SEV_ERROR, "metadata.labels[v]", "a valid label must be an empty string");
	tu_expect_none(f, "metadata.labels[app]", NULL);
	tu_expect(f, PC_SEV_ERROR, "metadata.annotations[not valid]", "qualified names");
	tu_expect(f, PC_SEV_ERROR, "metadata.uid", "expected a string, got integer");
	tu_free(f);

	f = tu_validate("apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
			"metadata:\n  name: a\n  namespace: shop\n  resourceVersion: '42'\n"
			"  generation: 3\n  creationTimestamp: '2026-11-26T00:00:00Z'\n"
			"  labels: {app.kubernetes.io/name: x}\n  annotations: {kubectl.kubernetes.io/"
			"last-applied-configuration: '{}'}\n" SE_SPEC);
	tu_expect_clean(f);
	tu_free(f);

	f = tu_validate("apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
			"metadata: {name: a, nmespace: x}\n" SE_SPEC);
	tu_expect(f, PC_SEV_ERROR, "metadata.nmespace", "did you mean \"namespace\"");
	tu_free(f);
}
END_TEST

START_TEST(findings_carry_the_resource)
{
	struct pc_findings *f = tu_validate(
		"apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
		"metadata: {name: mysql-external, namespace: shop}\n"
		"spec:\n  hosts: [mysql.example.com]\n  addresses: [203.0.113.10/32]\n"
		"  ports:\n  - name: tcp\n    number: 70000\n    protocol: TCP\n");
	const struct pc_finding *x = tu_expect(f, PC_SEV_ERROR, "spec.ports[0].number", "");

	ck_assert_str_eq(x->file, "test.yaml");
	ck_assert_str_eq(x->kind, "ServiceEntry");
	ck_assert_str_eq(x->ns, "shop");
	ck_assert_str_eq(x->name, "mysql-external");
	ck_assert_uint_eq(x->line, 9);
	ck_assert_uint_eq(x->col, 13);
	tu_free(f);
}
END_TEST

START_TEST(syntax_errors_are_file_findings)
{
	struct pc_findings *f = tu_validate("apiVersion: networking.istio.io/v1\nkind: [\n");
	const struct pc_finding *x = tu_expect(f, PC_SEV_ERROR, "", "invalid YAML");

	ck_assert_ptr_null(x->kind);
	ck_assert_uint_gt(x->line, 0);
	tu_free(f);
}
END_TEST

START_TEST(findings_are_capped_per_resource)
{
	char text[64 * 1024];
	size_t len;
	int i;
	struct pc_findings *f;

	len = (size_t)snprintf(text, sizeof(text), "apiVersion: networking.istio.io/v1\n"
						    "kind: ServiceEntry\nmetadata: {name: a}\nspec:\n");
	for (i = 0; i < 500; i++)
		len += (size_t)snprintf(text + len, sizeof(text) - len, "  junk%d: 1\n", i);
	f = tu_validate(text);
	ck_assert_uint_eq(f->n, 101);
	tu_expect(f, PC_SEV_ERROR, "", "too many findings");
	tu_free(f);
}
END_TEST

START_TEST(kind_lookup_for_the_cli)
{
	ck_assert_int_eq(pc_kind_lookup("se")->kind, PC_KIND_SERVICE_ENTRY);
	ck_assert_int_eq(pc_kind_lookup("ServiceEntries")->kind, PC_KIND_SERVICE_ENTRY);
	ck_assert_int_eq(pc_kind_lookup("serviceentry.networking.istio.io")->kind,
			 PC_KIND_SERVICE_ENTRY);
	ck_assert_int_eq(pc_kind_lookup("vs")->kind, PC_KIND_VIRTUAL_SERVICE);
	ck_assert_int_eq(pc_kind_lookup("dr")->kind, PC_KIND_DESTINATION_RULE);
	ck_assert_int_eq(pc_kind_lookup("we")->kind, PC_KIND_WORKLOAD_ENTRY);
	ck_assert_int_eq(pc_kind_lookup("sidecar")->kind, PC_KIND_SIDECAR);
	ck_assert_ptr_null(pc_kind_lookup("pods"));
	ck_assert_ptr_null(pc_kind_lookup("se.apps"));
	ck_assert_ptr_null(pc_kind_by_name("serviceentry"));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("model.manifest");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, seed_service_entry_loads);
	tcase_add_test(tc, all_three_versions_and_multiple_documents);
	tcase_add_test(tc, list_items);
	tcase_add_test(tc, list_without_items);
	tcase_add_test(tc, kind_and_version_errors);
	tcase_add_test(tc, top_level_shape);
	tcase_add_test(tc, empty_input);
	tcase_add_test(tc, metadata_rules);
	tcase_add_test(tc, findings_carry_the_resource);
	tcase_add_test(tc, syntax_errors_are_file_findings);
	tcase_add_test(tc, findings_are_capped_per_resource);
	tcase_add_test(tc, kind_lookup_for_the_cli);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
