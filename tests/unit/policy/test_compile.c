/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for policy/compile.c: resources to a snapshot, and how a
 * destination is classified (reference §5, §10).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "core/arena.h"
#include "core/buf.h"
#include "model/finding.h"
#include "model/manifest.h"
#include "model/rules.h"
#include "net/addr.h"
#include "policy/snapshot.h"
#include "policy/trie.h"

#define SE(name, ts, hosts, addrs, port, extra)                                      \
	"---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"              \
	"metadata: {name: " name ", creationTimestamp: '" ts "'}\n"                  \
	"spec:\n  hosts: [" hosts "]\n" addrs "  ports: [{name: tcp, number: " #port \
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
	struct pc_compile_opts o = { .policy = policy, .proxy_port = 15001, .generation = 7 };

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

/* compile() with auto-allocated addresses: "name=v4,v6" each ("-" for none). */
static void compile_vips(struct fix *x, const char *yaml, const char *const *vips, size_t n)
{
	struct pc_compile_opts o = { .policy = -1, .proxy_port = 15001, .generation = 7 };
	struct pc_vip v[8];
	char names[8][64];
	size_t i;

	ck_assert_uint_le(n, 8);
	for (i = 0; i < n; i++) {
		char v4[64], v6[64];

		memset(&v[i], 0, sizeof(v[i]));
		ck_assert_int_eq(sscanf(vips[i], "%63[^=]=%63[^,],%63s", names[i], v4, v6), 3);
		v[i].name = names[i];
		if (strcmp(v4, "-") != 0)
			ck_assert_int_eq(pc_addr_parse(v4, &v[i].v4), 0);
		if (strcmp(v6, "-") != 0)
			ck_assert_int_eq(pc_addr_parse(v6, &v[i].v6), 0);
	}
	o.vips = v;
	o.nvips = n;
	memset(x, 0, sizeof(*x));
	pc_findings_init(&x->f);
	ck_assert_int_eq(pc_manifest_init(&x->m), 0);
	ck_assert_int_eq(pc_manifest_add_buf(&x->m, "t.yaml", yaml, strlen(yaml), &x->f), 0);
	ck_assert_int_eq(x->f.total_err, 0);
	ck_assert_int_eq(pc_policy_compile(&x->m, &o, on_conflict, x, &x->s), 0);
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
	return pc_snapshot_classify(x->s, &a, NULL)->name;
}

START_TEST(seed_story_entry)
{
	struct fix x;

	compile(&x,
		SE("mysql-external", "", "mysql.example.com", "  addresses: [203.0.113.10/32]\n",
		   3306, ""),
		-1);
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
			SE("narrow", "", "narrow.example.com", "  addresses: [198.51.100.7]\n",
			   5432, "") SE("any", "", "any.example.com", "", 5432, ""),
		-1);
	ck_assert_str_eq(cluster_for(&x, "198.51.100.7", 5432),
			 "outbound|5432||narrow.example.com");
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
		   "  addresses: [203.0.113.0/24]\n", 3306,
		   "") SE("old", "2025-01-01T00:00:00Z", "old.example.com",
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
		SE("db", "", "db.example.com", "  addresses: [203.0.113.10]\n", 3306,
		   "") "---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
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
		SE("v6", "", "v6.example.com", "  addresses: [2001:db8:1::2/128]\n", 443,
		   "") "---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
		       "metadata: {name: dns}\nspec:\n  hosts: [dns.example.com]\n"
		       "  addresses: [192.0.2.53]\n  ports: [{name: dns, number: 53, protocol: "
		       "UDP}]\n",
		-1);
	ck_assert_str_eq(cluster_for(&x, "2001:db8:1::2", 443), "outbound|443||v6.example.com");
	ck_assert_str_eq(cluster_for(&x, "2001:db8:1::3", 443), "BlackHoleCluster");
	/* UDP ports govern no TCP traffic */
	ck_assert_str_eq(cluster_for(&x, "192.0.2.53", 53), "BlackHoleCluster");
	release(&x);
}
END_TEST

/* istio#24937: two TCP entries without addresses on one port, each reached by its own address */
START_TEST(allocated_addresses_separate_entries_on_one_port)
{
	static const char *const vips[] = { "db-a.example.com=240.240.0.10,2001:2::a",
					    "db-b.example.com=240.240.0.11,-",
					    "other.example.org=240.240.0.12,-" };
	struct pc_addr a;
	struct fix x;

	compile_vips(&x,
		     SE("db-a", "2020-01-01T00:00:00Z", "db-a.example.com", "", 3306,
			"  resolution: DNS\n")
			     SE("db-b", "2021-01-01T00:00:00Z", "DB-B.example.com", "", 3306,
				"  resolution: DNS\n")
				     SE("pinned", "2022-01-01T00:00:00Z", "pinned.example.com",
					"  addresses: [240.240.0.10]\n", 3306, ""),
		     vips, 3);
	/* an entry listing db-a's address does not take it: an allocation is its name's */
	ck_assert_uint_ge(x.conflicts, 1);
	ck_assert_str_eq(cluster_for(&x, "240.240.0.10", 3306), "outbound|3306||db-a.example.com");
	ck_assert_str_eq(cluster_for(&x, "2001:2::a", 3306), "outbound|3306||db-a.example.com");
	ck_assert_str_eq(cluster_for(&x, "240.240.0.11", 3306), "outbound|3306||DB-B.example.com");
	/* any other address on the port: the oldest, as in Istio without allocation */
	ck_assert_str_eq(cluster_for(&x, "198.51.100.9", 3306), "outbound|3306||db-a.example.com");
	/* a name no entry covers gets no chain, and is nobody else's either */
	ck_assert_str_eq(cluster_for(&x, "240.240.0.12", 3306), "BlackHoleCluster");
	ck_assert_str_eq(cluster_for(&x, "240.240.0.10", 3307), "BlackHoleCluster");
	/* an address of the range that is nobody's is any address */
	ck_assert_str_eq(cluster_for(&x, "240.240.0.13", 3306), "outbound|3306||db-a.example.com");
	ck_assert_int_eq(pc_addr_parse("240.240.0.11", &a), 0);
	ck_assert_str_eq(pc_snapshot_vip_by_addr(x.s, &a)->name, "db-b.example.com");
	ck_assert_int_eq(pc_addr_parse("2001:2::a", &a), 0);
	ck_assert_str_eq(pc_snapshot_vip_by_addr(x.s, &a)->name, "db-a.example.com");
	ck_assert_int_eq(pc_addr_parse("240.240.0.99", &a), 0);
	ck_assert_ptr_null(pc_snapshot_vip_by_addr(x.s, &a));
	ck_assert_ptr_nonnull(pc_snapshot_vip_by_name(x.s, "other.example.org"));
	ck_assert_ptr_null(pc_snapshot_vip_by_name(x.s, "nope.example.org"));
	release(&x);
}
END_TEST

/* A wildcard entry of resolution NONE: each concrete name its own cluster, resolving that name */
START_TEST(allocated_addresses_of_a_wildcard_entry)
{
	static const char *const vips[] = { "db1.rds.example.com=240.240.1.1,-",
					    "db2.rds.example.com=240.240.1.2,-",
					    "exact.rds.example.com=240.240.1.3,-" };
	const struct pc_dns_host *h;
	const struct pc_cluster *c;
	struct pc_addr a;
	struct fix x;

	compile_vips(&x,
		     SE("rds", "2020-01-01T00:00:00Z", "\"*.rds.example.com\"", "", 3306,
			"  resolution: NONE\n")
			     SE("exact", "2021-01-01T00:00:00Z", "exact.rds.example.com",
				"  addresses: [192.0.2.30]\n", 3306, "")
				     SE("dyn", "2021-01-01T00:00:00Z", "dyn.example.com", "", 443,
					"  resolution: NONE\n"),
		     vips, 3);
	ck_assert_int_eq(pc_addr_parse("240.240.1.1", &a), 0);
	a.port = 3306;
	c = pc_snapshot_classify(x.s, &a, NULL);
	ck_assert_str_eq(c->name, "outbound|3306||db1.rds.example.com");
	ck_assert_str_eq(c->host, "db1.rds.example.com");
	ck_assert_int_eq(c->source, PC_EP_DNS);
	ck_assert_uint_eq(c->ndns_names, 1);
	ck_assert_str_eq(c->dns_names[0].name, "db1.rds.example.com");
	ck_assert_uint_eq(c->dns_names[0].port, 3306);
	ck_assert_str_eq(cluster_for(&x, "240.240.1.2", 3306),
			 "outbound|3306||db2.rds.example.com");
	/* the exact entry has addresses: its name is answered with them, no allocation chain */
	ck_assert_str_eq(cluster_for(&x, "240.240.1.3", 3306), "BlackHoleCluster");
	h = pc_snapshot_dns_host(x.s, "exact.rds.example.com");
	ck_assert_ptr_nonnull(h);
	ck_assert(h->has_addresses && !h->alloc && h->nips == 1);
	h = pc_snapshot_dns_host(x.s, "a.b.rds.example.com");
	ck_assert_ptr_nonnull(h);
	ck_assert_str_eq(h->host, "*.rds.example.com");
	ck_assert(h->alloc);
	ck_assert_ptr_null(pc_snapshot_dns_host(x.s, "rds.example.com"));
	ck_assert_ptr_null(pc_snapshot_dns_host(x.s, "example.com"));
	ck_assert_ptr_nonnull(pc_snapshot_dns_host(x.s, "dyn.example.com"));
	release(&x);
}
END_TEST

/* On a TLS port, an allocated address admits its own name as SNI, nothing else */
START_TEST(allocated_address_on_a_tls_port_checks_the_sni)
{
	static const char *const vips[] = { "a.cdn.example.com=240.240.2.1,-" };
	struct pc_match m = { .transport = PC_TRANSPORT_TLS };
	struct pc_addr a;
	struct fix x;

	compile_vips(&x,
		     "---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
		     "metadata: {name: cdn}\nspec:\n  hosts: [\"*.cdn.example.com\"]\n"
		     "  resolution: NONE\n  ports: [{name: tls, number: 443, protocol: TLS}]\n",
		     vips, 1);
	ck_assert_int_eq(pc_addr_parse("240.240.2.1", &a), 0);
	a.port = 443;
	m.dst = &a;
	m.name = "a.cdn.example.com";
	ck_assert_str_eq(pc_snapshot_match(x.s, &m)->name, "outbound|443||a.cdn.example.com");
	m.name = "b.cdn.example.com";
	ck_assert_str_eq(pc_snapshot_match(x.s, &m)->name, "BlackHoleCluster");
	m.name = "evil.example.org";
	ck_assert_str_eq(pc_snapshot_match(x.s, &m)->name, "BlackHoleCluster");
	ck_assert(pc_snapshot_port_needs_name(x.s, 443));
	release(&x);
}
END_TEST

START_TEST(udp_ports_listed_for_netfilter)
{
	struct fix x;
	char buf[64];

	compile(&x,
		"---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
		"metadata: {name: q}\nspec:\n  hosts: [q.example.com]\n"
		"  addresses: [198.51.100.0/24, 192.0.2.53, 192.0.2.53/32]\n"
		"  ports: [{name: a, number: 443, protocol: UDP}, {name: b, number: 53, protocol: "
		"UDP},"
		" {name: c, number: 80, protocol: TCP}]\n",
		-1);
	ck_assert_uint_eq(x.s->nudp, 4);
	ck_assert_str_eq(pc_addr_str(&x.s->udp[0].prefix.addr, buf), "192.0.2.53");
	ck_assert_uint_eq(x.s->udp[0].prefix.len, 32);
	ck_assert_uint_eq(x.s->udp[0].port, 53);
	ck_assert_uint_eq(x.s->udp[1].port, 443);
	ck_assert_str_eq(pc_addr_str(&x.s->udp[2].prefix.addr, buf), "198.51.100.0");
	ck_assert_uint_eq(x.s->udp[2].prefix.len, 24);
	release(&x);
}
END_TEST

START_TEST(invalid_resources_are_not_compiled)
{
	const char *yaml = SE("bad", "", "*", "  addresses: [192.0.2.1]\n", 80, "");
	struct pc_compile_opts o = { .policy = -1, .proxy_port = 15001, .generation = 1 };
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
	ck_assert_str_eq(pc_snapshot_classify(s, &a, NULL)->name, "BlackHoleCluster");
	pc_snapshot_unref(pc_snapshot_ref(s));
	pc_snapshot_unref(s);
	pc_manifest_release(&m);
	pc_findings_release(&f);
}
END_TEST

START_TEST(declared_protocols_per_port)
{
	struct fix x;

	compile(&x,
		"apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
		"metadata: {name: db}\nspec:\n  hosts: [db.example.com]\n"
		"  addresses: [203.0.113.10]\n  location: MESH_EXTERNAL\n  resolution: NONE\n"
		"  ports: [{name: mysql, number: 3307, protocol: MYSQL},\n"
		"          {name: tls, number: 443, protocol: TLS},\n"
		"          {name: plain, number: 5432}]\n",
		-1);
	ck_assert(pc_snapshot_port_declares(x.s, 3307, PC_PROTO_MYSQL));
	ck_assert(!pc_snapshot_port_declares(x.s, 3307, PC_PROTO_TLS));
	ck_assert(pc_snapshot_port_declares(x.s, 443, PC_PROTO_TLS));
	ck_assert(!pc_snapshot_port_declares(x.s, 443, PC_PROTO_MYSQL));
	ck_assert(!pc_snapshot_port_declares(x.s, 5432, PC_PROTO_MYSQL));
	ck_assert(!pc_snapshot_port_declares(x.s, 3306, PC_PROTO_MYSQL)); /* no entry at all */
	ck_assert(!pc_snapshot_port_declares(x.s, 3307, -1));
	ck_assert(!pc_snapshot_port_declares(x.s, 3307, 99));
	release(&x);
}
END_TEST

static void nearest(const struct fix *x, const char *ip, unsigned port, struct pc_near *sp,
		    struct pc_near *sa)
{
	struct pc_addr a;

	ck_assert_int_eq(pc_addr_parse(ip, &a), 0);
	a.port = (uint16_t)port;
	pc_snapshot_nearest(x->s, &a, sp, sa);
}

/* "se-name prefix/len port" of a near miss, or "-". */
static const char *near_str(const struct pc_near *n, char *buf)
{
	char a[PC_ADDR_STRLEN];

	if (!n->cluster)
		return "-";
	snprintf(buf, 128, "%s %s/%u %u", n->cluster->se_name, pc_addr_str(&n->prefix.addr, a),
		 n->prefix.len, n->port);
	return buf;
}

START_TEST(nearest_same_port_and_same_address)
{
	struct pc_near sp, sa;
	char b1[128], b2[128];
	struct fix x;

	compile(&x,
		SE("mysql-external", "", "mysql.example.com", "  addresses: [203.0.113.10/32]\n",
		   3306, "") SE("wide", "", "wide.example.com", "  addresses: [198.51.100.0/24]\n",
				3306, "") SE("net-3400", "", "a.example.com",
					     "  addresses: [203.0.113.0/24]\n", 3400, "")
			SE("net-3307", "", "b.example.com", "  addresses: [203.0.113.0/24]\n", 3307,
			   "") SE("host-5432", "", "c.example.com", "  addresses: [203.0.113.9]\n",
				  5432, "") SE("any-3308", "", "d.example.com", "", 3308, "")
				SE("v6", "", "e.example.com", "  addresses: ['2001:db8::/64']\n",
				   3306, ""),
		-1);
	/* the exact address on another port beats a /24 on a nearer one */
	nearest(&x, "203.0.113.9", 3306, &sp, &sa);
	ck_assert_str_eq(near_str(&sp, b1), "mysql-external 203.0.113.10/32 3306");
	ck_assert_str_eq(near_str(&sa, b2), "host-5432 203.0.113.9/32 5432");
	/* equal prefixes: the port nearest to the one dialled */
	nearest(&x, "203.0.113.77", 3306, &sp, &sa);
	ck_assert_str_eq(near_str(&sp, b1), "mysql-external 203.0.113.10/32 3306");
	ck_assert_str_eq(near_str(&sa, b2), "net-3307 203.0.113.0/24 3307");
	nearest(&x, "203.0.113.77", 3399, &sp, &sa);
	ck_assert_str_eq(near_str(&sp, b1), "-");
	ck_assert_str_eq(near_str(&sa, b2), "net-3400 203.0.113.0/24 3400");
	/* 192 = 11000000 shares five bits with 198, four with 203 */
	nearest(&x, "192.0.2.1", 3306, &sp, &sa);
	ck_assert_str_eq(near_str(&sp, b1), "wide 198.51.100.0/24 3306");
	ck_assert_str_eq(near_str(&sa, b2), "-");
	/* an entry without addresses is no hint; families never mix */
	nearest(&x, "192.0.2.1", 3309, &sp, &sa);
	ck_assert_ptr_null(sp.cluster);
	ck_assert_ptr_null(sa.cluster);
	nearest(&x, "2001:db8:1::5", 3306, &sp, &sa);
	ck_assert_str_eq(near_str(&sp, b1), "v6 2001:db8::/64 3306");
	ck_assert_ptr_null(sa.cluster);
	release(&x);
}
END_TEST

static unsigned common_bits(const struct pc_addr *a, const struct pc_addr *b, unsigned max)
{
	unsigned i;

	for (i = 0; i < max; i++) {
		unsigned bit = 7 - i % 8;

		if (((a->bytes[i / 8] >> bit) & 1) != ((b->bytes[i / 8] >> bit) & 1))
			break;
	}
	return i;
}

/* pc_trie_nearest() against a linear scan, over random IPv4 prefixes clustered in 10/8. */
START_TEST(trie_nearest_against_linear_scan)
{
	struct pc_arena *arena = pc_arena_new(4096);
	struct pc_prefix v[300], got;
	struct pc_trie *t;
	unsigned i, j, round;

	srand(20261126);
	for (round = 0; round < 50; round++) {
		unsigned n = 1 + (unsigned)rand() % 300;

		t = pc_trie_new(arena);
		ck_assert_ptr_nonnull(t);
		for (i = 0; i < n; i++) {
			uint32_t ip = 0x0a000000u | ((uint32_t)rand() & 0x00ffffffu);
			char s[32];

			snprintf(s, sizeof(s), "%u.%u.%u.%u/%u", ip >> 24, (ip >> 16) & 255,
				 (ip >> 8) & 255, ip & 255, 8 + (unsigned)rand() % 25);
			ck_assert_int_eq(pc_prefix_parse(s, &v[i]), 0);
			ck_assert_int_eq(pc_trie_insert(t, &v[i], i, NULL), 0);
		}
		pc_trie_seal(t);
		for (j = 0; j < 200; j++) {
			uint32_t ip = 0x0a000000u | ((uint32_t)rand() & 0x00ffffffu);
			unsigned best = 0, have, covered = 0;
			struct pc_addr a = { .family = AF_INET };
			uint32_t id;

			a.bytes[0] = (uint8_t)(ip >> 24);
			a.bytes[1] = (uint8_t)(ip >> 16);
			a.bytes[2] = (uint8_t)(ip >> 8);
			a.bytes[3] = (uint8_t)ip;
			for (i = 0; i < n; i++) {
				unsigned c = common_bits(&v[i].addr, &a, v[i].len);

				if (c == v[i].len && c >= covered)
					covered = c + 1; /* lengths + 1: 0 means none */
				if (c > best)
					best = c;
			}
			id = pc_trie_nearest(t, &a, &got);
			ck_assert_uint_ne(id, PC_TRIE_NONE);
			ck_assert(pc_addr_equal(&got.addr, &v[id].addr) || covered);
			have = common_bits(&got.addr, &a, got.len);
			if (covered) {
				ck_assert_uint_eq(got.len, covered - 1); /* the longest match */
				ck_assert_uint_eq(have, got.len);
			} else {
				ck_assert_uint_eq(v[id].len, got.len);
				ck_assert_uint_eq(have, best);
			}
		}
	}
	ck_assert_uint_eq(pc_trie_nearest(t, &(struct pc_addr){ .family = AF_INET6 }, &got),
			  PC_TRIE_NONE);
	pc_arena_free(arena);
}
END_TEST

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/*
 * What a hint costs with many entries: PC_HINT_BENCH (default 3000)
 * ServiceEntries, one /32 each, spread over up to 60,000 ports, so a hint
 * walks one trie per port, up to PC_NEAREST_PORTS of them. Prints the
 * figures; fails above 50 ms.
 */
START_TEST(nearest_cost)
{
	const char *env = getenv("PC_HINT_BENCH");
	unsigned i, n = env ? (unsigned)strtoul(env, NULL, 10) : 3000, rounds = 20;
	struct pc_buf yaml = PC_BUF_INIT;
	struct pc_near sp, sa;
	double t0, t1, t2;
	struct fix x;

	for (i = 0; i < n; i++)
		pc_buf_printf(&yaml,
			      "---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
			      "metadata: {name: se%u}\nspec: {hosts: [h%u.example.com], "
			      "addresses: [10.%u.%u.%u], resolution: NONE, location: "
			      "MESH_EXTERNAL, ports: [{name: tcp, number: %u, protocol: TCP}]}\n",
			      i, i, (i >> 16) & 255, (i >> 8) & 255, i & 255, 1024 + i % 60000);
	ck_assert(!yaml.oom);
	t0 = now_us();
	compile(&x, pc_buf_str(&yaml), -1);
	t1 = now_us();
	for (i = 0; i < rounds; i++)
		nearest(&x, "10.0.0.1", 1024 + (i * 7919) % 60000, &sp, &sa);
	t2 = now_us();
	fprintf(stderr, "nearest_cost: %u entries, %zu ports: compile %.0f ms, hint %.1f us\n", n,
		x.s->nports, (t1 - t0) / 1e3, (t2 - t1) / rounds);
	ck_assert_double_lt((t2 - t1) / rounds, 50000.0);
	nearest(&x, "10.0.0.1", 1024 + 2000 % n, &sp, &sa); /* 10.0.0.1 is se1's, port 1025 */
	ck_assert_ptr_nonnull(sa.cluster);
	ck_assert_str_eq(sa.cluster->se_name, "se1");
	release(&x);
	pc_buf_release(&yaml);
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
	tcase_add_test(tc, allocated_addresses_separate_entries_on_one_port);
	tcase_add_test(tc, allocated_addresses_of_a_wildcard_entry);
	tcase_add_test(tc, udp_ports_listed_for_netfilter);
	tcase_add_test(tc, allocated_address_on_a_tls_port_checks_the_sni);
	tcase_add_test(tc, declared_protocols_per_port);
	tcase_add_test(tc, nearest_same_port_and_same_address);
	tcase_add_test(tc, trie_nearest_against_linear_scan);
	tcase_add_test(tc, nearest_cost);
	tcase_set_timeout(tc, 300);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
