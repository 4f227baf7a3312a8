/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for policy/compile.c: resources to a snapshot, and how a
 * destination is classified (reference §5, §10).
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "model/finding.h"
#include "model/manifest.h"
#include "net/addr.h"
#include "policy/snapshot.h"

#define SE(name, ts, hosts, addrs, port, extra)                                          \
	"---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"                  \
	"metadata: {name: " name ", creationTimestamp: '" ts "'}\n"                      \
	"spec:\n  hosts: [" hosts "]\n" addrs "  ports: [{name: tcp, number: " #port     \
	", protocol: TCP}]\n" extra

struct fix {
	struct pc_manifest m;
	struct pc_findings f;
	struct pc_snapshot *s;
	unsigned conflicts;
};

static void on_conflict(void *data, const char *what)
{
	struct fix *x = data;

	(void)what;
	x->conflicts++;
}

static void compile(struct fix *x, const char *yaml, int policy)
{
	struct pc_compile_opts o = { policy, 15001, 7 };

	memset(x, 0, sizeof(*x));
	pc_findings_init(&x->f);
	ck_assert_int_eq(pc_manifest_init(&x->m), 0);
	ck_assert_int_eq(pc_manifest_add_buf(&x->m, "t.yaml", yaml, strlen(yaml), &x->f), 0);
	if (x->f.total_err) {
		size_t i;

		for (i = 0; i < x->f.n; i++)
			fprintf(stderr, "%u:%u %s: %s\n", x->f.v[i].line, x->f.v[i].col,
				x->f.v[i].path, x->f.v[i].msg);
		ck_abort_msg("test manifest is invalid");
	}
	ck_assert_int_eq(pc_policy_compile(&x->m, &o, on_conflict, x, &x->s), 0);
	ck_assert_uint_eq(x->s->generation, 7);
}

static void release(struct fix *x)
{
	pc_snapshot_unref(x->s);
	pc_manifest_release(&x->m);
	pc_findings_release(&x->f);
}

static const struct pc_cluster *named(const struct fix *x, const char *name)
{
	size_t i;

	for (i = 0; i < x->s->nclusters; i++) {
		if (strcmp(x->s->clusters[i].name, name) == 0)
			return &x->s->clusters[i];
	}
	ck_abort_msg("no cluster %s", name);
	return NULL;
}

static const char *cluster_for(const struct fix *x, const char *ip, unsigned port)
{
	struct pc_addr a;

	ck_assert_int_eq(pc_addr_parse(ip, &a), 0);
	a.port = (uint16_t)port;
	return pc_snapshot_classify(x->s, &a)->name;
}

START_TEST(seed_story_entry)
{
	struct fix x;

	compile(&x, SE("mysql-external", "", "mysql.example.com", "  addresses: [203.0.113.10/32]\n",
		       3306, ""), -1);
	ck_assert_str_eq(cluster_for(&x, "203.0.113.10", 3306), "outbound|3306||mysql.example.com");
	ck_assert_str_eq(cluster_for(&x, "203.0.113.10", 3307), "BlackHoleCluster");
	ck_assert_str_eq(cluster_for(&x, "203.0.113.11", 3306), "BlackHoleCluster");
	ck_assert_int_eq(x.s->policy, PC_POLICY_REGISTRY_ONLY);
	ck_assert_str_eq(x.s->clusters[2].host, "mysql.example.com");
	ck_assert_uint_eq(x.s->clusters[2].connect_timeout_ms, 10000);
	ck_assert_uint_eq(x.s->clusters[2].idle_timeout_ms, 3600000);
	ck_assert_int_eq(x.s->clusters[2].source, PC_EP_ORIGINAL_DST);
	release(&x);
}
END_TEST

START_TEST(longest_prefix_then_no_address_entries)
{
	struct fix x;

	compile(&x,
		SE("wide", "", "wide.example.com", "  addresses: [198.51.100.0/24]\n", 5432, "")
		SE("narrow", "", "narrow.example.com", "  addresses: [198.51.100.7]\n", 5432, "")
		SE("any", "", "any.example.com", "", 5432, ""),
		-1);
	ck_assert_str_eq(cluster_for(&x, "198.51.100.7", 5432), "outbound|5432||narrow.example.com");
	ck_assert_str_eq(cluster_for(&x, "198.51.100.8", 5432), "outbound|5432||wide.example.com");
	/* an entry without addresses takes every other IP on its port, as in Istio */
	ck_assert_str_eq(cluster_for(&x, "192.0.2.1", 5432), "outbound|5432||any.example.com");
	ck_assert_str_eq(cluster_for(&x, "192.0.2.1", 5433), "BlackHoleCluster");
	release(&x);
}
END_TEST

START_TEST(oldest_wins_conflicts)
{
	struct fix x;

	compile(&x,
		SE("young", "2026-02-01T00:00:00Z", "young.example.com",
		   "  addresses: [203.0.113.0/24]\n", 3306, "")
		SE("old", "2025-01-01T00:00:00Z", "old.example.com",
		   "  addresses: [203.0.113.0/24]\n", 3306, "")
		SE("a-any", "2026-03-01T00:00:00Z", "a.example.com", "", 9092, "")
		SE("b-any", "2024-03-01T00:00:00Z", "b.example.com", "", 9092, ""),
		-1);
	ck_assert_str_eq(cluster_for(&x, "203.0.113.5", 3306), "outbound|3306||old.example.com");
	ck_assert_str_eq(cluster_for(&x, "192.0.2.9", 9092), "outbound|9092||b.example.com");
	ck_assert_uint_eq(x.conflicts, 2);
	ck_assert_uint_eq(x.s->conflicts, 2);
	release(&x);
}
END_TEST

START_TEST(allow_any_by_flag_and_by_sidecar)
{
	struct fix x;
	const char *sidecar = "---\napiVersion: networking.istio.io/v1\nkind: Sidecar\n"
			      "metadata: {name: default}\n"
			      "spec:\n  outboundTrafficPolicy: {mode: ALLOW_ANY}\n";

	compile(&x, SE("a", "", "a.example.com", "  addresses: [192.0.2.1]\n", 80, ""),
		PC_POLICY_ALLOW_ANY);
	ck_assert_str_eq(cluster_for(&x, "192.0.2.2", 80), "PassthroughCluster");
	release(&x);
	compile(&x, sidecar, -1);
	ck_assert_str_eq(cluster_for(&x, "192.0.2.2", 80), "PassthroughCluster");
	release(&x);
	/* a Sidecar decides over the flag, as it does over Istio's mesh config */
	compile(&x,
		"---\napiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: {name: s}\n"
		"spec:\n  outboundTrafficPolicy: {mode: REGISTRY_ONLY}\n",
		PC_POLICY_ALLOW_ANY);
	ck_assert_str_eq(cluster_for(&x, "192.0.2.2", 80), "BlackHoleCluster");
	release(&x);
}
END_TEST

START_TEST(loop_guard)
{
	struct fix x;

	compile(&x, SE("any", "", "any.example.com", "", 15001, ""), PC_POLICY_ALLOW_ANY);
	ck_assert_str_eq(cluster_for(&x, "192.0.2.1", 15001), "BlackHoleCluster");
	release(&x);
}
END_TEST

START_TEST(static_endpoints_and_target_port)
{
	struct fix x;
	const struct pc_cluster *c;

	compile(&x,
		SE("static", "", "db.example.com", "  addresses: [203.0.113.10]\n", 3306,
		   "  resolution: STATIC\n  endpoints:\n"
		   "  - {address: 198.51.100.2, weight: 3}\n"
		   "  - {address: 198.51.100.3, ports: {tcp: 13306}}\n")
		SE("none", "", "n.example.com", "  addresses: [203.0.113.20]\n", 80,
		   "  resolution: NONE\n"),
		-1);
	c = named(&x, "outbound|3306||db.example.com");
	ck_assert_int_eq(c->source, PC_EP_STATIC);
	ck_assert_uint_eq(c->nendpoints, 2);
	ck_assert_uint_eq(c->endpoints[0].addr.port, 3306);
	ck_assert_uint_eq(c->endpoints[0].weight, 3);
	ck_assert_uint_eq(c->endpoints[1].addr.port, 13306);
	ck_assert_uint_eq(c->total_weight, 4);
	ck_assert_int_eq(named(&x, "outbound|80||n.example.com")->source, PC_EP_ORIGINAL_DST);
	release(&x);
}
END_TEST

START_TEST(destination_rule_settings)
{
	struct fix x;
	const struct pc_cluster *c;

	compile(&x,
		SE("db", "", "db.example.com", "  addresses: [203.0.113.10]\n", 3306, "")
		"---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
		"metadata: {name: db}\nspec:\n  host: db.example.com\n  trafficPolicy:\n"
		"    connectionPool:\n      tcp: {connectTimeout: 500ms, idleTimeout: 0s, "
		"maxConnectionDuration: 1m, maxConnections: 7}\n",
		-1);
	c = named(&x, "outbound|3306||db.example.com");
	ck_assert_uint_eq(c->connect_timeout_ms, 500);
	ck_assert_uint_eq(c->idle_timeout_ms, 0);
	ck_assert_uint_eq(c->max_duration_ms, 60000);
	ck_assert_uint_eq(c->max_connections, 7);
	release(&x);
}
END_TEST

START_TEST(ipv6_and_udp)
{
	struct fix x;

	compile(&x,
		SE("v6", "", "v6.example.com", "  addresses: [2001:db8:1::2/128]\n", 443, "")
		"---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
		"metadata: {name: dns}\nspec:\n  hosts: [dns.example.com]\n"
		"  addresses: [192.0.2.53]\n  ports: [{name: dns, number: 53, protocol: UDP}]\n",
		-1);
	ck_assert_str_eq(cluster_for(&x, "2001:db8:1::2", 443), "outbound|443||v6.example.com");
	ck_assert_str_eq(cluster_for(&x, "2001:db8:1::3", 443), "BlackHoleCluster");
	/* UDP ports govern no TCP traffic */
	ck_assert_str_eq(cluster_for(&x, "192.0.2.53", 53), "BlackHoleCluster");
	release(&x);
}
END_TEST

START_TEST(invalid_resources_are_not_compiled)
{
	const char *yaml = SE("bad", "", "*", "  addresses: [192.0.2.1]\n", 80, "");
	struct pc_compile_opts o = { -1, 15001, 1 };
	struct pc_snapshot *s;
	struct pc_findings f;
	struct pc_manifest m;
	struct pc_addr a;

	pc_findings_init(&f);
	ck_assert_int_eq(pc_manifest_init(&m), 0);
	ck_assert_int_eq(pc_manifest_add_buf(&m, "t.yaml", yaml, strlen(yaml), &f), 0);
	ck_assert_uint_gt(f.total_err, 0);
	ck_assert_int_eq(pc_policy_compile(&m, &o, NULL, NULL, &s), 0);
	ck_assert_int_eq(pc_addr_parse("192.0.2.1", &a), 0);
	a.port = 80;
	ck_assert_str_eq(pc_snapshot_classify(s, &a)->name, "BlackHoleCluster");
	pc_snapshot_unref(pc_snapshot_ref(s));
	pc_snapshot_unref(s);
	pc_manifest_release(&m);
	pc_findings_release(&f);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("policy.compile");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, seed_story_entry);
	tcase_add_test(tc, longest_prefix_then_no_address_entries);
	tcase_add_test(tc, oldest_wins_conflicts);
	tcase_add_test(tc, allow_any_by_flag_and_by_sidecar);
	tcase_add_test(tc, loop_guard);
	tcase_add_test(tc, static_endpoints_and_target_port);
	tcase_add_test(tc, destination_rule_settings);
	tcase_add_test(tc, ipv6_and_udp);
	tcase_add_test(tc, invalid_resources_are_not_compiled);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
