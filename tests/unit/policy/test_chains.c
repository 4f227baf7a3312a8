/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for the per-port filter chains (policy/chains.c and
 * pc_snapshot_match() in policy/compile.c): server names on TLS and HTTP
 * ports, prefix levels without backtracking, VirtualService tls routes,
 * DYNAMIC_DNS and the denial's name hint (issue 11, reference §5.2, §2).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "model/finding.h"
#include "model/manifest.h"
#include "model/rules.h"
#include "net/addr.h"
#include "policy/chains.h"
#include "policy/dump.h"
#include "policy/snapshot.h"

#define HDR(kind, name, ts)                                         \
	"---\napiVersion: networking.istio.io/v1\nkind: " kind "\n" \
	"metadata: {name: " name ", namespace: ns, creationTimestamp: '" ts "'}\n"

/* A ServiceEntry with <hosts>, <rest> of its spec (addresses...) and one port. */
#define SE(name, ts, hosts, rest, port) \
	HDR("ServiceEntry", name, ts)   \
	"spec:\n  hosts: [" hosts "]\n" \
	"  location: MESH_EXTERNAL\n" rest "  ports: [" port "]\n"

#define TLS443 "{name: tls, number: 443, protocol: TLS}"
#define TCP443 "{name: tcp, number: 443, protocol: TCP}"
#define HTTP80 "{name: http, number: 80, protocol: HTTP}"
#define NONE   "  resolution: NONE\n"

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

static void compile_labels(struct fix *x, const char *yaml, int policy, const char *labels,
			   size_t labels_len)
{
	struct pc_compile_opts o = { .policy = policy,
				     .proxy_port = 15001,
				     .generation = 1,
				     .labels = labels,
				     .labels_len = labels_len };
	size_t i;

	memset(x, 0, sizeof(*x));
	pc_findings_init(&x->f);
	ck_assert_int_eq(pc_manifest_init(&x->m), 0);
	ck_assert_int_eq(pc_manifest_add_buf(&x->m, "t.yaml", yaml, strlen(yaml), &x->f), 0);
	for (i = 0; i < x->f.n; i++) {
		if (x->f.v[i].sev == PC_SEV_ERROR)
			fprintf(stderr, "%u:%u %s: %s\n", x->f.v[i].line, x->f.v[i].col,
				x->f.v[i].path, x->f.v[i].msg);
	}
	ck_assert_msg(x->f.total_err == 0, "test manifest is invalid");
	ck_assert_int_eq(pc_policy_compile(&x->m, &o, on_conflict, x, &x->s), 0);
}

static void compile(struct fix *x, const char *yaml, int policy)
{
	compile_labels(x, yaml, policy, NULL, 0);
}

static void release(struct fix *x)
{
	pc_snapshot_unref(x->s);
	pc_manifest_release(&x->m);
	pc_findings_release(&x->f);
}

static const struct pc_cluster *match_full(const struct fix *x, const char *ip, unsigned port,
					   enum pc_transport t, const char *name, uint32_t pick)
{
	struct pc_match m = { 0 };
	struct pc_addr a;

	ck_assert_int_eq(pc_addr_parse(ip, &a), 0);
	a.port = (uint16_t)port;
	m.dst = &a;
	m.transport = t;
	m.name = name;
	m.pick = pick;
	return pc_snapshot_match(x->s, &m);
}

static const char *match(const struct fix *x, const char *ip, unsigned port, enum pc_transport t,
			 const char *name)
{
	return match_full(x, ip, port, t, name, 0)->name;
}

#define TLS  PC_TRANSPORT_TLS
#define HTTP PC_TRANSPORT_HTTP
#define NOTH PC_TRANSPORT_UNKNOWN
#define OTHR PC_TRANSPORT_OTHER
#define BH   "BlackHoleCluster"

START_TEST(wildcard_semantics)
{
	struct fix x;
	const struct pc_cluster *c;

	compile(&x, SE("g", "", "\"*.googleapis.com\"", NONE, TLS443), -1);
	ck_assert(pc_snapshot_port_needs_name(x.s, 443));
	ck_assert_str_eq(match(&x, "192.0.2.1", 443, TLS, "storage.googleapis.com"),
			 "outbound|443||*.googleapis.com");
	/* more than one label below */
	ck_assert_str_eq(match(&x, "2001:db8::1", 443, TLS, "a.b.googleapis.com"),
			 "outbound|443||*.googleapis.com");
	/* not the parent domain, not a look-alike, not another port */
	ck_assert_str_eq(match(&x, "192.0.2.1", 443, TLS, "googleapis.com"), BH);
	ck_assert_str_eq(match(&x, "192.0.2.1", 443, TLS, "evilgoogleapis.com"), BH);
	ck_assert_str_eq(match(&x, "192.0.2.1", 443, TLS, "evil.example.org"), BH);
	ck_assert_str_eq(match(&x, "192.0.2.1", 8443, TLS, "storage.googleapis.com"), BH);
	c = match_full(&x, "192.0.2.1", 443, TLS, "storage.googleapis.com", 0);
	ck_assert(c->by_name);
	ck_assert_int_eq(c->protocol, PC_PROTO_TLS);
	ck_assert_int_eq(c->source, PC_EP_ORIGINAL_DST);
	ck_assert(!c->http);
	release(&x);
}
END_TEST

/* The name table itself, "*" included (no valid ServiceEntry has it as a host). */
START_TEST(name_table_order)
{
	struct pc_route r[4] = { { 10, 1 }, { 11, 1 }, { 12, 1 }, { 13, 1 } };
	struct pc_chain exact[] = { { .name = "a.example.com", .routes = &r[0], .nroutes = 1 } };
	/* sorted by the suffix after '*': ".eu.example.com" < ".example.com" */
	struct pc_chain wild[] = { { .name = "*.eu.example.com", .routes = &r[1], .nroutes = 1 },
				   { .name = "*.example.com", .routes = &r[2], .nroutes = 1 } };
	struct pc_chain star = { .name = "*", .routes = &r[3], .nroutes = 1 };
	struct pc_names t = { exact, 1, wild, 2, NULL };

	ck_assert_ptr_eq(pc_names_find(&t, "a.example.com"), &exact[0]); /* exact first */
	ck_assert_ptr_eq(pc_names_find(&t, "b.example.com"), &wild[1]);
	ck_assert_ptr_eq(pc_names_find(&t, "x.eu.example.com"), &wild[0]); /* longest first */
	ck_assert_ptr_eq(pc_names_find(&t, "a.eu.example.com"), &wild[0]);
	ck_assert_ptr_null(pc_names_find(&t, "example.com"));
	ck_assert_ptr_null(pc_names_find(&t, "eu.example.com.evil"));
	ck_assert_ptr_null(pc_names_find(&t, ""));
	ck_assert_ptr_null(pc_names_find(&t, NULL));
	t.star = &star;
	ck_assert_ptr_eq(pc_names_find(&t, "anything.org"), &star);
	ck_assert_ptr_eq(pc_names_find(&t, "example.com"), &star);
	ck_assert_ptr_eq(pc_names_find(&t, "b.example.com"), &wild[1]);
	ck_assert_ptr_null(pc_names_find(&t, NULL)); /* "*" still wants a name */
}
END_TEST

START_TEST(exact_before_wildcard_longest_first)
{
	struct fix x;

	compile(&x,
		SE("wide", "2020-01-01T00:00:00Z", "\"*.example.com\"", NONE, TLS443)
			SE("eu", "2020-01-02T00:00:00Z", "\"*.eu.example.com\"", NONE, TLS443)
				SE("api", "2020-01-03T00:00:00Z",
				   "api.example.com, API2.example.com", NONE, TLS443),
		-1);
	ck_assert_str_eq(match(&x, "192.0.2.1", 443, TLS, "api.example.com"),
			 "outbound|443||api.example.com");
	/* the second host has its own cluster; names are matched in lower case */
	ck_assert_str_eq(match(&x, "192.0.2.1", 443, TLS, "api2.example.com"),
			 "outbound|443||API2.example.com");
	ck_assert_str_eq(match(&x, "192.0.2.1", 443, TLS, "www.example.com"),
			 "outbound|443||*.example.com");
	ck_assert_str_eq(match(&x, "192.0.2.1", 443, TLS, "www.eu.example.com"),
			 "outbound|443||*.eu.example.com");
	ck_assert_str_eq(match(&x, "192.0.2.1", 443, TLS, "eu.example.com"),
			 "outbound|443||*.example.com");
	ck_assert_uint_eq(x.conflicts, 0);
	release(&x);
}
END_TEST

START_TEST(non_tls_never_matches_a_name_chain)
{
	struct fix x;

	compile(&x, SE("a", "", "a.example.com", NONE, TLS443), -1);
	ck_assert_str_eq(match(&x, "192.0.2.1", 443, TLS, "a.example.com"),
			 "outbound|443||a.example.com");
	ck_assert_str_eq(match(&x, "192.0.2.1", 443, TLS, NULL), BH); /* no SNI */
	ck_assert_str_eq(match(&x, "192.0.2.1", 443, OTHR, "a.example.com"), BH);
	ck_assert_str_eq(match(&x, "192.0.2.1", 443, NOTH, NULL), BH); /* nothing read */
	ck_assert_str_eq(match(&x, "192.0.2.1", 443, HTTP, "a.example.com"), BH);
	{
		struct pc_addr d;

		ck_assert_int_eq(pc_addr_parse("192.0.2.1", &d), 0);
		d.port = 443;
		ck_assert_str_eq(pc_snapshot_classify(x.s, &d, NULL)->name, BH);
	}
	release(&x);
	/* the default chain under ALLOW_ANY */
	compile(&x, SE("a", "", "a.example.com", NONE, TLS443), PC_POLICY_ALLOW_ANY);
	ck_assert_str_eq(match(&x, "192.0.2.1", 443, TLS, "evil.example.org"),
			 "PassthroughCluster");
	ck_assert_str_eq(match(&x, "192.0.2.1", 443, OTHR, NULL), "PassthroughCluster");
	ck_assert_str_eq(match(&x, "192.0.2.1", 443, TLS, "a.example.com"),
			 "outbound|443||a.example.com");
	ck_assert_str_eq(match(&x, "192.0.2.1", 15001, TLS, "a.example.com"), BH); /* loop guard */
	release(&x);
}
END_TEST

START_TEST(tcp_and_tls_entries_on_one_port)
{
	struct fix x;

	compile(&x,
		SE("tcp", "2020-01-01T00:00:00Z", "tcp.example.com", NONE, TCP443)
			SE("tls", "2020-01-02T00:00:00Z", "a.example.com", NONE, TLS443),
		-1);
	ck_assert(pc_snapshot_port_needs_name(x.s, 443));
	ck_assert_str_eq(match(&x, "192.0.2.1", 443, TLS, "a.example.com"),
			 "outbound|443||a.example.com");
	/* an unmatched SNI, no SNI, other bytes, nothing: the chain without criteria */
	ck_assert_str_eq(match(&x, "192.0.2.1", 443, TLS, "evil.example.org"),
			 "outbound|443||tcp.example.com");
	ck_assert_str_eq(match(&x, "192.0.2.1", 443, TLS, NULL), "outbound|443||tcp.example.com");
	ck_assert_str_eq(match(&x, "192.0.2.1", 443, OTHR, NULL), "outbound|443||tcp.example.com");
	ck_assert_str_eq(match(&x, "192.0.2.1", 443, NOTH, NULL), "outbound|443||tcp.example.com");
	ck_assert(!match_full(&x, "192.0.2.1", 443, NOTH, NULL, 0)->by_name);
	ck_assert_uint_eq(x.conflicts, 0);
	release(&x);
}
END_TEST

START_TEST(prefix_before_names_no_backtracking)
{
	struct fix x;

	compile(&x,
		SE("cidr", "2020-01-01T00:00:00Z", "cidr.example.com",
		   NONE "  addresses: [198.51.100.0/24]\n",
		   TLS443) SE("a", "2020-01-02T00:00:00Z", "a.example.com", NONE,
			      TLS443) SE("b", "2020-01-03T00:00:00Z", "b.example.com", NONE, TLS443)
			HDR("VirtualService", "vs",
			    "2020-01-04T00:00:00Z") "spec:\n  hosts: [b.example.com]\n  tls:\n"
						    "  - match: [{sniHosts: [b.example.com], "
						    "destinationSubnets: [203.0.113.0/24]}]\n"
						    "    route: [{destination: {host: "
						    "b.example.com}}]\n",
		-1);
	/* a TLS entry on a CIDR: the prefix, then its host as the SNI (Istio), no other */
	ck_assert_str_eq(match(&x, "198.51.100.5", 443, TLS, "cidr.example.com"),
			 "outbound|443||cidr.example.com");
	ck_assert_str_eq(match(&x, "198.51.100.5", 443, TLS, "a.example.com"), BH);
	ck_assert_str_eq(match(&x, "198.51.100.5", 443, NOTH, NULL), BH);
	ck_assert_str_eq(match(&x, "192.0.2.1", 443, TLS, "a.example.com"),
			 "outbound|443||a.example.com");
	/* the VirtualService's subnet is the longest prefix: b there, nothing else */
	ck_assert_str_eq(match(&x, "203.0.113.5", 443, TLS, "b.example.com"),
			 "outbound|443||b.example.com");
	ck_assert_str_eq(match(&x, "203.0.113.5", 443, TLS, "a.example.com"), BH);
	/* and b's default chain is gone: the route took it over, as in Istio */
	ck_assert_str_eq(match(&x, "192.0.2.1", 443, TLS, "b.example.com"), BH);
	release(&x);
}
END_TEST

/* A TLS entry on one address (a VIP) ignores the SNI, as Istio's IP:port listener does. */
START_TEST(tls_on_a_vip_ignores_the_sni)
{
	struct fix x;

	compile(&x,
		SE("vip", "2020-01-01T00:00:00Z", "vip.example.com",
		   NONE "  addresses: [198.51.100.7, 2001:db8::7]\n", TLS443),
		-1);
	ck_assert_str_eq(match(&x, "198.51.100.7", 443, TLS, "other.example.org"),
			 "outbound|443||vip.example.com");
	ck_assert_str_eq(match(&x, "2001:db8::7", 443, NOTH, NULL),
			 "outbound|443||vip.example.com");
	ck_assert_str_eq(match(&x, "198.51.100.8", 443, TLS, "vip.example.com"), BH);
	ck_assert(!pc_snapshot_port_needs_name(x.s, 443));
	release(&x);
}
END_TEST

START_TEST(two_tls_entries_by_sni_static_and_dns)
{
	struct fix x;
	const struct pc_cluster *a, *b, *y;

	compile(&x,
		SE("a", "2020-01-01T00:00:00Z", "a.example.com",
		   "  resolution: STATIC\n  endpoints: [{address: 192.0.2.10}]\n", TLS443)
			SE("b", "2020-01-02T00:00:00Z", "b.example.com", "  resolution: DNS\n",
			   TLS443) SE("xy", "2020-01-03T00:00:00Z", "x.example.com, y.example.com",
				      "  resolution: DNS\n", TLS443)
				SE("dup", "2020-01-04T00:00:00Z", "a.example.com", NONE, TLS443),
		-1);
	a = match_full(&x, "192.0.2.99", 443, TLS, "a.example.com", 0);
	b = match_full(&x, "192.0.2.99", 443, TLS, "b.example.com", 0);
	ck_assert_str_eq(a->se_name, "a"); /* the oldest keeps the name */
	ck_assert_int_eq(a->source, PC_EP_STATIC);
	ck_assert_uint_eq(a->nendpoints, 1);
	ck_assert_uint_eq(a->endpoints[0].addr.port, 443);
	ck_assert_int_eq(b->source, PC_EP_DNS);
	ck_assert_uint_eq(b->ndns_names, 1);
	ck_assert_str_eq(b->dns_names[0].name, "b.example.com");
	ck_assert(a->by_name && b->by_name);
	/* one cluster per host: y's SNI never goes to x's addresses */
	y = match_full(&x, "192.0.2.99", 443, TLS, "y.example.com", 0);
	ck_assert_str_eq(y->name, "outbound|443||y.example.com");
	ck_assert_uint_eq(y->ndns_names, 1);
	ck_assert_str_eq(y->dns_names[0].name, "y.example.com");
	ck_assert_str_eq(match(&x, "192.0.2.99", 443, TLS, "x.example.com"),
			 "outbound|443||x.example.com");
	ck_assert_uint_eq(x.conflicts, 1); /* dup's a.example.com */
	release(&x);
}
END_TEST

START_TEST(http_without_and_with_addresses)
{
	struct fix x;
	const struct pc_cluster *c;

	compile(&x,
		SE("bin", "2020-01-01T00:00:00Z", "httpbin.org", NONE,
		   HTTP80) SE("web", "2020-01-02T00:00:00Z", "web.example.com",
			      NONE "  addresses: [192.0.2.20]\n",
			      "{name: http, number: 8080, protocol: HTTP}")
			SE("named", "2020-01-03T00:00:00Z", "grpc.example.com", NONE,
			   "{name: grpc-api, number: 9090}, {name: https-alt, number: 9443},"
			   " {name: mysql, number: 3306}, {name: other, number: 9000}"),
		-1);
	c = match_full(&x, "203.0.113.7", 80, HTTP, "httpbin.org", 0);
	ck_assert_str_eq(c->name, "outbound|80||httpbin.org");
	ck_assert(c->http && c->by_name);
	ck_assert_int_eq(c->protocol, PC_PROTO_HTTP);
	ck_assert(pc_snapshot_port_needs_name(x.s, 80));
	ck_assert_str_eq(match(&x, "203.0.113.7", 80, HTTP, "evil.example.org"), BH);
	ck_assert_str_eq(match(&x, "203.0.113.7", 80, HTTP, NULL), BH); /* IP literal: no */
	ck_assert_str_eq(match(&x, "203.0.113.7", 80, NOTH, NULL), BH);
	ck_assert_str_eq(match(&x, "203.0.113.7", 80, TLS, "httpbin.org"), BH);
	/* with addresses: the prefix and (the Host, or an IP literal Host) */
	ck_assert(pc_snapshot_port_needs_name(x.s, 8080));
	ck_assert_str_eq(match(&x, "192.0.2.20", 8080, HTTP, "web.example.com"),
			 "outbound|8080||web.example.com");
	ck_assert_str_eq(match(&x, "192.0.2.20", 8080, HTTP, NULL),
			 "outbound|8080||web.example.com");
	ck_assert_str_eq(match(&x, "192.0.2.20", 8080, HTTP, "evil.example.org"), BH);
	ck_assert_str_eq(match(&x, "192.0.2.21", 8080, HTTP, "web.example.com"), BH);
	ck_assert_str_eq(match(&x, "192.0.2.20", 8080, NOTH, NULL), BH);
	/* Istio's port-name convention when protocol is absent */
	c = match_full(&x, "203.0.113.7", 9090, HTTP, "grpc.example.com", 0);
	ck_assert_str_eq(c->name, "outbound|9090||grpc.example.com");
	ck_assert_int_eq(c->protocol, PC_PROTO_GRPC);
	ck_assert(c->http);
	c = match_full(&x, "203.0.113.7", 9443, TLS, "grpc.example.com", 0);
	ck_assert_str_eq(c->name, "outbound|9443||grpc.example.com");
	ck_assert_int_eq(c->protocol, PC_PROTO_HTTPS);
	ck_assert_str_eq(match(&x, "203.0.113.7", 9443, NOTH, NULL), BH);
	/* server-first by name, and an unknown name: no criteria, any IP */
	ck_assert(!pc_snapshot_port_needs_name(x.s, 3306));
	ck_assert(pc_snapshot_port_declares(x.s, 3306, PC_PROTO_MYSQL));
	ck_assert_str_eq(match(&x, "203.0.113.7", 3306, NOTH, NULL),
			 "outbound|3306||grpc.example.com");
	ck_assert_str_eq(match(&x, "203.0.113.7", 9000, NOTH, NULL),
			 "outbound|9000||grpc.example.com");
	ck_assert(!pc_snapshot_port_needs_name(x.s, 9000));
	release(&x);
}
END_TEST

/* Two SEs and a VS splitting a.example.com between their hosts. */
#define BACKENDS                                                           \
	SE("a", "2020-01-01T00:00:00Z", "a.example.com", NONE, TLS443)     \
	SE("v", "2020-01-02T00:00:00Z", "v1.example.com, v2.example.com",  \
	   "  resolution: STATIC\n  endpoints: [{address: 192.0.2.31}]\n", \
	   TLS443 ", {name: tls-alt, number: 9443, protocol: TLS}")

#define VS_TLS(spec) HDR("VirtualService", "split", "2020-01-05T00:00:00Z") "spec:\n" spec

START_TEST(vs_tls_weights)
{
	unsigned i, n1 = 0, n2 = 0;
	struct fix x;

	compile(&x,
		BACKENDS VS_TLS("  hosts: [a.example.com]\n  tls:\n"
				"  - match: [{sniHosts: [a.example.com]}]\n"
				"    route:\n"
				"    - {destination: {host: v1.example.com}, weight: 25}\n"
				"    - {destination: {host: v2.example.com}, weight: 75}\n"),
		-1);
	for (i = 0; i < 1000; i++) {
		const char *n = match_full(&x, "192.0.2.1", 443, TLS, "a.example.com", i)->name;

		if (strcmp(n, "outbound|443||v1.example.com") == 0)
			n1++;
		else if (strcmp(n, "outbound|443||v2.example.com") == 0)
			n2++;
	}
	ck_assert_uint_eq(n1, 250);
	ck_assert_uint_eq(n2, 750);
	/* deterministic: pick % 100 */
	ck_assert_str_eq(match_full(&x, "192.0.2.1", 443, TLS, "a.example.com", 124)->name,
			 "outbound|443||v1.example.com");
	ck_assert_str_eq(match_full(&x, "192.0.2.1", 443, TLS, "a.example.com", 125)->name,
			 "outbound|443||v2.example.com");
	/* v1 and v2 keep their own default chains: the VS names only a.example.com */
	ck_assert_str_eq(match(&x, "192.0.2.1", 443, TLS, "v2.example.com"),
			 "outbound|443||v2.example.com");
	release(&x);

	compile(&x,
		BACKENDS VS_TLS("  hosts: [a.example.com]\n  tls:\n"
				"  - match: [{sniHosts: [a.example.com]}]\n"
				"    route:\n"
				"    - {destination: {host: v1.example.com}, weight: 0}\n"
				"    - {destination: {host: v2.example.com, port: {number: 9443}},"
				" weight: 10}\n"),
		-1);
	for (i = 0; i < 50; i++)
		ck_assert_str_eq(match_full(&x, "192.0.2.1", 443, TLS, "a.example.com", i)->name,
				 "outbound|9443||v2.example.com");
	release(&x);
}
END_TEST

START_TEST(vs_tls_selectors)
{
	static const char labels[] = "app=web\0version=v1";
	struct fix x;
	const char *vs = BACKENDS VS_TLS("  hosts: [a.example.com]\n  tls:\n"
					 "  - match: [{sniHosts: [a.example.com], port: 9443}]\n"
					 "    route: [{destination: {host: v1.example.com}}]\n"
					 "  - match: [{sniHosts: [a.example.com],"
					 " sourceLabels: {app: web}}]\n"
					 "    route: [{destination: {host: v2.example.com}}]\n");

	/* neither match holds on 443 without labels: a's own chain stays */
	compile(&x, vs, -1);
	ck_assert_str_eq(match(&x, "192.0.2.1", 443, TLS, "a.example.com"),
			 "outbound|443||a.example.com");
	release(&x);
	/* with app=web, the second rule holds on 443 */
	compile_labels(&x, vs, -1, labels, sizeof(labels));
	ck_assert_str_eq(match(&x, "192.0.2.1", 443, TLS, "a.example.com"),
			 "outbound|443||v2.example.com");
	release(&x);
	/* a label that differs in its value does not hold */
	compile_labels(&x, vs, -1, "app=webx", sizeof("app=webx"));
	ck_assert_str_eq(match(&x, "192.0.2.1", 443, TLS, "a.example.com"),
			 "outbound|443||a.example.com");
	release(&x);
	/* bound to a gateway only: not the sidecar's */
	compile(&x,
		BACKENDS VS_TLS("  hosts: [a.example.com]\n  gateways: [ns/egress]\n  tls:\n"
				"  - match: [{sniHosts: [a.example.com]}]\n"
				"    route: [{destination: {host: v1.example.com}}]\n"),
		-1);
	ck_assert_str_eq(match(&x, "192.0.2.1", 443, TLS, "a.example.com"),
			 "outbound|443||a.example.com");
	release(&x);
	/* a destination missing from the registry: dropped, as in Istio */
	compile(&x,
		BACKENDS VS_TLS("  hosts: [a.example.com]\n  tls:\n"
				"  - match: [{sniHosts: [a.example.com]}]\n"
				"    route: [{destination: {host: gone.example.com}}]\n"),
		-1);
	ck_assert_str_eq(match(&x, "192.0.2.1", 443, TLS, "a.example.com"), BH);
	release(&x);
}
END_TEST

/* Istio's hasTLSMatch: a route for a.example.com takes over the *.example.com service. */
START_TEST(vs_takes_over_matching_services)
{
	struct fix x;

	compile(&x,
		SE("w", "2020-01-01T00:00:00Z", "\"*.example.com\"", NONE, TLS443)
			SE("vip", "2020-01-02T00:00:00Z", "vip.example.org",
			   NONE "  addresses: [192.0.2.50]\n", TLS443)
				VS_TLS("  hosts: [a.example.com, vip.example.org]\n  tls:\n"
				       "  - match: [{sniHosts: [a.example.com, vip.example.org]}]\n"
				       "    route: [{destination: {host: \"*.example.com\"}}]\n"),
		-1);
	ck_assert_str_eq(match(&x, "198.51.100.1", 443, TLS, "a.example.com"),
			 "outbound|443||*.example.com");
	/* the wildcard's own chain is gone: only the route's names pass */
	ck_assert_str_eq(match(&x, "198.51.100.1", 443, TLS, "b.example.com"), BH);
	/* on the VIP the route's chains replace the address-only chain */
	ck_assert_str_eq(match(&x, "192.0.2.50", 443, TLS, "vip.example.org"),
			 "outbound|443||*.example.com");
	ck_assert_str_eq(match(&x, "192.0.2.50", 443, TLS, "a.example.com"),
			 "outbound|443||*.example.com");
	ck_assert_str_eq(match(&x, "192.0.2.50", 443, NOTH, NULL), BH);
	ck_assert_str_eq(match(&x, "192.0.2.50", 443, TLS, "evil.example.org"), BH);
	ck_assert_uint_eq(x.conflicts, 0);
	release(&x);
}
END_TEST

/* VirtualService tcp routes on a TCP port (Istio's buildSidecarOutboundTCPFilterChainOpts). */
#define DB_PORT "{name: tcp, number: 3306, protocol: TCP}"
#define DBS                                                                                       \
	SE("db", "2020-01-01T00:00:00Z", "db.example.com", NONE "  addresses: [198.51.100.10]\n", \
	   DB_PORT)                                                                               \
	SE("v1", "2020-01-02T00:00:00Z", "v1.db.example.org",                                     \
	   "  resolution: STATIC\n  endpoints: [{address: 192.0.2.41}]\n"                         \
	   "  addresses: [192.0.2.40]\n",                                                         \
	   DB_PORT)                                                                               \
	SE("v2", "2020-01-03T00:00:00Z", "v2.db.example.org",                                     \
	   "  resolution: STATIC\n  endpoints: [{address: 192.0.2.43}]\n"                         \
	   "  addresses: [192.0.2.42]\n",                                                         \
	   DB_PORT)

START_TEST(vs_tcp_routes)
{
	unsigned i, n1 = 0;
	struct fix x;
	struct pc_buf b = PC_BUF_INIT;

	/* a rule without match: terminal, on the service's own address */
	compile(&x,
		DBS VS_TLS("  hosts: [db.example.com]\n  tcp:\n"
			   "  - route:\n"
			   "    - {destination: {host: v1.db.example.org}, weight: 1}\n"
			   "    - {destination: {host: v2.db.example.org}, weight: 3}\n"),
		-1);
	for (i = 0; i < 400; i++) {
		const char *n = match_full(&x, "198.51.100.10", 3306, NOTH, NULL, i)->name;

		ck_assert(strcmp(n, "outbound|3306||v1.db.example.org") == 0 ||
			  strcmp(n, "outbound|3306||v2.db.example.org") == 0);
		n1 += strcmp(n, "outbound|3306||v1.db.example.org") == 0;
	}
	ck_assert_uint_eq(n1, 100);
	ck_assert_str_eq(match(&x, "198.51.100.11", 3306, NOTH, NULL), BH);
	ck_assert(!pc_snapshot_port_needs_name(x.s, 3306));
	ck_assert_uint_eq(x.conflicts, 0);
	pc_snapshot_dump_json(x.s, &b);
	ck_assert_ptr_nonnull(
		strstr(pc_buf_str(&b), "\"origin\":\"VirtualService ns/split tcp[0]\""));
	pc_buf_release(&b);
	release(&x);

	/*
	 * subnets only, for a service with one address: its listener is
	 * 198.51.100.10:3306, which 203.0.113.9 never reaches (Istio's
	 * buildSidecarOutboundTCPFilterChainOpts narrows chains inside it);
	 * the service keeps its default chain
	 */
	compile(&x,
		DBS VS_TLS("  hosts: [db.example.com]\n  tcp:\n"
			   "  - match: [{destinationSubnets: [203.0.113.0/24], port: 3306}]\n"
			   "    route: [{destination: {host: v2.db.example.org}}]\n"),
		-1);
	ck_assert_str_eq(match(&x, "203.0.113.9", 3306, NOTH, NULL), BH);
	ck_assert_str_eq(match(&x, "198.51.100.10", 3306, NOTH, NULL),
			 "outbound|3306||db.example.com");
	release(&x);

	/* a subnet that covers the service's address: the route's chain there */
	compile(&x,
		DBS VS_TLS("  hosts: [db.example.com]\n  tcp:\n"
			   "  - match: [{destinationSubnets: [198.51.100.0/24]}]\n"
			   "    route: [{destination: {host: v2.db.example.org}}]\n"),
		-1);
	ck_assert_str_eq(match(&x, "198.51.100.10", 3306, NOTH, NULL),
			 "outbound|3306||v2.db.example.org");
	ck_assert_str_eq(match(&x, "198.51.100.7", 3306, NOTH, NULL), BH);
	release(&x);

	/* a service without addresses has the wildcard listener: the subnet is reached */
	compile(&x,
		SE("wild", "2020-01-01T00:00:00Z", "db.example.com", NONE, DB_PORT)
			SE("v2", "2020-01-03T00:00:00Z", "v2.db.example.org",
			   "  resolution: STATIC\n  endpoints: [{address: 192.0.2.43}]\n"
			   "  addresses: [192.0.2.42]\n",
			   DB_PORT)
				VS_TLS("  hosts: [db.example.com]\n  tcp:\n"
				       "  - match: [{destinationSubnets: [203.0.113.0/24]}]\n"
				       "    route: [{destination: {host: v2.db.example.org}}]\n"),
		-1);
	ck_assert_str_eq(match(&x, "203.0.113.9", 3306, NOTH, NULL),
			 "outbound|3306||v2.db.example.org");
	release(&x);

	/* a selector that does not hold: nothing installed */
	compile(&x,
		DBS VS_TLS("  hosts: [db.example.com]\n  tcp:\n"
			   "  - match: [{sourceLabels: {app: web}}]\n"
			   "    route: [{destination: {host: v2.db.example.org}}]\n"),
		-1);
	ck_assert_str_eq(match(&x, "198.51.100.10", 3306, NOTH, NULL),
			 "outbound|3306||db.example.com");
	release(&x);
}
END_TEST

START_TEST(dynamic_dns_source)
{
	struct fix x;
	const struct pc_cluster *c;

	compile(&x, SE("dyn", "", "\"*.example.com\"", "  resolution: DYNAMIC_DNS\n", TLS443), -1);
	c = match_full(&x, "192.0.2.1", 443, TLS, "api.example.com", 0);
	ck_assert_str_eq(c->name, "outbound|443||*.example.com");
	ck_assert_int_eq(c->source, PC_EP_DYNAMIC);
	ck_assert_uint_eq(c->ndns_names, 0);
	ck_assert_str_eq(match(&x, "192.0.2.1", 443, TLS, "example.org"), BH);
	release(&x);
}
END_TEST

/* A tcp route to a DYNAMIC_DNS entry has no name to dial: dropped, never any name. */
START_TEST(dynamic_dns_behind_a_tcp_route_is_dropped)
{
	struct fix x;

	compile(&x,
		SE("dyn", "2020-01-01T00:00:00Z", "\"*.example.com\"",
		   "  resolution: DYNAMIC_DNS\n",
		   TLS443) SE("legacy", "2020-01-02T00:00:00Z", "legacy.example.com",
			      NONE "  addresses: [203.0.113.0/24]\n", TCP443)
			HDR("VirtualService", "vs",
			    "2020-01-03T00:00:00Z") "spec:\n  hosts: [legacy.example.com]\n  tcp:\n"
						    "  - route: [{destination: {host: "
						    "\"*.example.com\", port: {number: "
						    "443}}}]\n",
		-1);
	ck_assert_str_eq(match(&x, "203.0.113.7", 443, TLS, "evil.org"), BH);
	ck_assert_str_eq(match(&x, "203.0.113.7", 443, NOTH, NULL), BH);
	ck_assert_uint_ge(x.conflicts, 1);
	release(&x);
}
END_TEST

START_TEST(nearest_name_hint)
{
	struct fix x;

	compile(&x,
		SE("g", "2020-01-01T00:00:00Z", "\"*.googleapis.com\"", NONE, TLS443)
			SE("api", "2020-01-02T00:00:00Z", "api.example.com", NONE, TLS443)
				SE("db", "2020-01-03T00:00:00Z", "db.example.org", NONE, TCP443),
		-1);
	ck_assert_str_eq(pc_snapshot_nearest_name(x.s, 443, "storage.googleapis.com"),
			 "*.googleapis.com");
	ck_assert_str_eq(pc_snapshot_nearest_name(x.s, 443, "x.api.example.com"),
			 "api.example.com");
	ck_assert_str_eq(pc_snapshot_nearest_name(x.s, 443, "www.example.com"), "api.example.com");
	ck_assert_str_eq(pc_snapshot_nearest_name(x.s, 443, "evil.example.org"), "db.example.org");
	ck_assert_ptr_null(pc_snapshot_nearest_name(x.s, 443, "example.net"));
	ck_assert_ptr_null(pc_snapshot_nearest_name(x.s, 8443, "api.example.com"));
	ck_assert_ptr_null(pc_snapshot_nearest_name(x.s, 443, NULL));
	release(&x);
}
END_TEST

START_TEST(config_dump_shows_chains)
{
	struct pc_buf b = PC_BUF_INIT;
	struct fix x;
	const char *j;

	compile(&x,
		SE("tcp", "2020-01-01T00:00:00Z", "tcp.example.com",
		   NONE "  addresses: [198.51.100.0/24]\n",
		   TCP443) SE("w", "2020-01-02T00:00:00Z", "\"*.example.net\"", NONE, TLS443)
			BACKENDS VS_TLS("  hosts: [a.example.com]\n  tls:\n"
					"  - match: [{sniHosts: [a.example.com]}]\n"
					"    route:\n"
					"    - {destination: {host: v1.example.com}, weight: 1}\n"
					"    - {destination: {host: v2.example.com}, weight: 3}\n"),
		-1);
	pc_snapshot_dump_json(x.s, &b);
	ck_assert(!b.oom);
	j = pc_buf_str(&b);
	/* the old view, unchanged */
	ck_assert_ptr_nonnull(
		strstr(j, "\"chains\":[{\"prefix\":\"198.51.100.0/24\","
			  "\"cluster\":\"outbound|443||tcp.example.com\"}],\"any\":null"));
	ck_assert_ptr_nonnull(strstr(j, "\"needs_name\":true"));
	ck_assert_ptr_nonnull(strstr(j, "{\"filter_chain_match\":{\"prefix_ranges\":"
					"[\"198.51.100.0/24\"]},\"cluster\":"
					"\"outbound|443||tcp.example.com\"}"));
	ck_assert_ptr_nonnull(strstr(j, "{\"filter_chain_match\":{\"server_names\":"
					"[\"*.example.net\"],\"transport_protocol\":\"tls\"},"
					"\"cluster\":\"outbound|443||*.example.net\","
					"\"origin\":\"ServiceEntry ns/w\"}"));
	ck_assert_ptr_nonnull(strstr(j,
				     "\"weighted_clusters\":[{\"name\":"
				     "\"outbound|443||v1.example.com\",\"weight\":1},"
				     "{\"name\":\"outbound|443||v2.example.com\",\"weight\":3}]"));
	ck_assert_ptr_nonnull(strstr(j, "\"default_chain\":\"BlackHoleCluster\""));
	release(&x);
	pc_buf_release(&b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("policy.chains");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, wildcard_semantics);
	tcase_add_test(tc, name_table_order);
	tcase_add_test(tc, exact_before_wildcard_longest_first);
	tcase_add_test(tc, non_tls_never_matches_a_name_chain);
	tcase_add_test(tc, tcp_and_tls_entries_on_one_port);
	tcase_add_test(tc, prefix_before_names_no_backtracking);
	tcase_add_test(tc, two_tls_entries_by_sni_static_and_dns);
	tcase_add_test(tc, tls_on_a_vip_ignores_the_sni);
	tcase_add_test(tc, http_without_and_with_addresses);
	tcase_add_test(tc, vs_tls_weights);
	tcase_add_test(tc, vs_tls_selectors);
	tcase_add_test(tc, vs_takes_over_matching_services);
	tcase_add_test(tc, vs_tcp_routes);
	tcase_add_test(tc, dynamic_dns_source);
	tcase_add_test(tc, dynamic_dns_behind_a_tcp_route_is_dropped);
	tcase_add_test(tc, nearest_name_hint);
	tcase_add_test(tc, config_dump_shows_chains);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
