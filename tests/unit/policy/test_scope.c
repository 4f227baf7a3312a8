/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for policy/scope.c: which Sidecar, ServiceEntries,
 * VirtualServices and DestinationRules apply to one workload, as Istio's
 * SidecarScope decides (doc/scoping.md), and what compile.c makes of it.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "model/finding.h"
#include "model/manifest.h"
#include "net/addr.h"
#include "policy/dump.h"
#include "policy/scope.h"
#include "policy/snapshot.h"

#define HDR(kind, name, ns, ts)                                                           \
	"---\napiVersion: networking.istio.io/v1\nkind: " kind "\nmetadata: {name: " name \
	", namespace: " ns ", creationTimestamp: '" ts "'}\n"

/* A TCP ServiceEntry with one address per host-less port; <extra> ends the spec. */
#define SE(name, ns, hosts, addr, port, extra)                   \
	HDR("ServiceEntry", name, ns, "2025-01-01T00:00:00Z")    \
	"spec:\n  hosts: [" hosts "]\n  addresses: [" addr "]\n" \
	"  ports: [{name: tcp, number: " #port ", protocol: TCP}]\n" extra

#define SIDECAR(name, ns, ts, body) HDR("Sidecar", name, ns, ts) "spec:\n" body
#define ALLOW_ANY                   "  outboundTrafficPolicy: {mode: ALLOW_ANY}\n"
#define REGISTRY_ONLY               "  outboundTrafficPolicy: {mode: REGISTRY_ONLY}\n"

#define DR(name, ns, host, ms, extra)                                                           \
	HDR("DestinationRule", name, ns, "2025-01-01T00:00:00Z")                                \
	"spec:\n  host: " host "\n  trafficPolicy: {connectionPool: {tcp: {connectTimeout: " ms \
	"}}}\n" extra

struct fix {
	struct pc_manifest m;
	struct pc_findings f;
	struct pc_compile_opts o;
	struct pc_scope s;
	char labels[128];
};

/* "a=b,c=d" -> the NUL-separated form of pc_compile_opts.labels. */
static void set_labels(struct fix *x, const char *l)
{
	size_t i, n = strlen(l);

	ck_assert_uint_lt(n, sizeof(x->labels));
	memcpy(x->labels, l, n + 1);
	for (i = 0; i < n; i++) {
		if (x->labels[i] == ',')
			x->labels[i] = '\0';
	}
	x->o.labels = n ? x->labels : NULL;
	x->o.labels_len = n ? n + 1 : 0;
}

static void load(struct fix *x, const char *yaml, const char *ns, const char *labels)
{
	size_t i;

	memset(x, 0, sizeof(*x));
	x->o.policy = -1;
	x->o.proxy_port = 15001;
	x->o.ns = ns;
	set_labels(x, labels ? labels : "");
	pc_findings_init(&x->f);
	ck_assert_int_eq(pc_manifest_init(&x->m), 0);
	ck_assert_int_eq(pc_manifest_add_buf(&x->m, "t.yaml", yaml, strlen(yaml), &x->f), 0);
	for (i = 0; i < x->f.n; i++) {
		if (x->f.v[i].sev == PC_SEV_ERROR)
			fprintf(stderr, "%u:%u %s: %s\n", x->f.v[i].line, x->f.v[i].col,
				x->f.v[i].path, x->f.v[i].msg);
	}
	ck_assert_uint_eq(x->f.total_err, 0);
	ck_assert_int_eq(pc_scope_init(&x->s, &x->m, &x->o), 0);
}

static void release(struct fix *x)
{
	pc_scope_release(&x->s);
	pc_manifest_release(&x->m);
	pc_findings_release(&x->f);
}

static const struct pc_resource *res(const struct fix *x, const char *ns, const char *name)
{
	size_t i;

	for (i = 0; i < x->m.nres; i++) {
		if (strcmp(x->m.res[i].meta.ns, ns) == 0 &&
		    strcmp(x->m.res[i].meta.name, name) == 0)
			return &x->m.res[i];
	}
	ck_abort_msg("no resource %s/%s", ns, name);
	return NULL;
}

static const struct pc_scope_obj *verdict(const struct fix *x, const char *ns, const char *name)
{
	return pc_scope_of(&x->s, res(x, ns, name));
}

static bool in_force(const struct fix *x, const char *ns, const char *name)
{
	return verdict(x, ns, name)->in_force;
}

static void reason_has(const struct fix *x, const char *ns, const char *name, const char *text)
{
	const char *r = verdict(x, ns, name)->reason;

	ck_assert_msg(r && strstr(r, text), "%s/%s: reason \"%s\" lacks \"%s\"", ns, name,
		      r ? r : "(null)", text);
}

static const char *sidecar_name(const struct fix *x)
{
	return x->s.sidecar ? x->s.sidecar->meta.name : "(none)";
}

/* ---- the Sidecar ---- */

START_TEST(sidecar_of_another_namespace_does_not_apply)
{
	struct fix x;

	load(&x, SIDECAR("open", "team-b", "2025-01-01T00:00:00Z", ALLOW_ANY), NULL, NULL);
	ck_assert_ptr_null(x.s.sidecar);
	ck_assert_int_eq(x.s.policy, PC_POLICY_REGISTRY_ONLY);
	ck_assert(!in_force(&x, "team-b", "open"));
	ck_assert(verdict(&x, "team-b", "open")->never);
	reason_has(&x, "team-b", "open", "Sidecar team-b/open applies to namespace team-b only");
	release(&x);
	/* ... but it does to a workload of team-b */
	load(&x, SIDECAR("open", "team-b", "2025-01-01T00:00:00Z", ALLOW_ANY), "team-b", NULL);
	ck_assert_str_eq(sidecar_name(&x), "open");
	ck_assert_int_eq(x.s.policy, PC_POLICY_ALLOW_ANY);
	ck_assert(x.s.policy_from_sidecar);
	release(&x);
}
END_TEST

#define THREE_SIDECARS                                                       \
	SIDECAR("root", "istio-system", "2020-01-01T00:00:00Z", ALLOW_ANY)   \
	SIDECAR("ns-wide", "default", "2021-01-01T00:00:00Z", REGISTRY_ONLY) \
	SIDECAR("mine", "default", "2022-01-01T00:00:00Z",                   \
		"  workloadSelector: {labels: {app: shop}}\n" ALLOW_ANY)

START_TEST(sidecar_precedence_selector_namespace_root)
{
	struct fix x;

	load(&x, THREE_SIDECARS, "default", "app=shop,version=v1");
	ck_assert_str_eq(sidecar_name(&x), "mine");
	ck_assert_int_eq(x.s.policy, PC_POLICY_ALLOW_ANY);
	reason_has(&x, "default", "ns-wide",
		   "Sidecar default/ns-wide is shadowed by default/mine (workloadSelector match)");
	reason_has(&x, "istio-system", "root", "shadowed by default/mine");
	ck_assert(!verdict(&x, "default", "ns-wide")->never);
	release(&x);

	load(&x, THREE_SIDECARS, "default", "app=cart");
	ck_assert_str_eq(sidecar_name(&x), "ns-wide");
	ck_assert_int_eq(x.s.policy, PC_POLICY_REGISTRY_ONLY);
	ck_assert(verdict(&x, "default", "mine")->never);
	reason_has(&x, "default", "mine", "does not select this workload (labels: app=cart)");
	release(&x);

	load(&x, THREE_SIDECARS, "team-c", "app=shop");
	ck_assert_str_eq(sidecar_name(&x), "root");
	ck_assert_int_eq(x.s.policy, PC_POLICY_ALLOW_ANY);
	ck_assert_str_eq(x.s.sidecar_why, "root namespace default");
	release(&x);

	/* another root namespace: istio-system is an ordinary namespace then */
	memset(&x, 0, sizeof(x));
	load(&x, THREE_SIDECARS, "team-c", NULL);
	pc_scope_release(&x.s);
	x.o.root_ns = "mesh-root";
	ck_assert_int_eq(pc_scope_init(&x.s, &x.m, &x.o), 0);
	ck_assert_ptr_null(x.s.sidecar);
	reason_has(&x, "istio-system", "root", "applies to namespace istio-system only");
	release(&x);
}
END_TEST

START_TEST(sidecar_ties_oldest_then_name)
{
	struct fix x;

	load(&x,
	     SIDECAR("b", "default", "2025-01-01T00:00:00Z", ALLOW_ANY)
		     SIDECAR("a", "default", "2025-06-01T00:00:00Z", REGISTRY_ONLY),
	     NULL, NULL);
	ck_assert_str_eq(sidecar_name(&x), "b");
	reason_has(&x, "default", "a", "shadowed by default/b (namespace-wide)");
	release(&x);
	load(&x,
	     SIDECAR("b", "default", "2025-01-01T00:00:00Z", ALLOW_ANY)
		     SIDECAR("a", "default", "2025-01-01T00:00:00Z", REGISTRY_ONLY),
	     NULL, NULL);
	ck_assert_str_eq(sidecar_name(&x), "a");
	ck_assert_int_eq(x.s.policy, PC_POLICY_REGISTRY_ONLY);
	release(&x);
}
END_TEST

START_TEST(mesh_policy_when_the_sidecar_sets_none)
{
	struct fix x;

	load(&x, SIDECAR("s", "default", "2025-01-01T00:00:00Z", "  egress: [{hosts: ['*/*']}]\n"),
	     NULL, NULL);
	ck_assert_str_eq(sidecar_name(&x), "s");
	ck_assert_int_eq(x.s.policy, PC_POLICY_REGISTRY_ONLY);
	ck_assert(!x.s.policy_from_sidecar);
	release(&x);
}
END_TEST

/* ---- egress hosts ---- */

#define SERVICES                                                          \
	SE("a", "default", "a.example.com", "192.0.2.1", 3306, "")        \
	SE("b", "default", "b.example.com", "192.0.2.2", 3306, "")        \
	SE("c", "team-b", "c.example.com", "192.0.2.3", 3306, "")         \
	SE("d", "team-b", "d.example.com", "192.0.2.4", 3306, "")         \
	SE("e", "team-c", "e.example.com", "192.0.2.5", 3306, "")         \
	SE("w", "default", "'*.wild.example.com'", "192.0.2.6", 3306, "") \
	SE("x", "default", "api.x.example.com", "192.0.2.7", 3306, "")

START_TEST(egress_hosts_forms)
{
	struct fix x;

	load(&x,
	     SERVICES SIDECAR(
		     "s", "default", "2025-01-01T00:00:00Z",
		     "  egress:\n  - hosts: ['./a.example.com', 'team-b/*', "
		     "'*/e.example.com', './api.wild.example.com', './*.x.example.com']\n"),
	     NULL, NULL);
	ck_assert(in_force(&x, "default", "a"));  /* ./host */
	ck_assert(!in_force(&x, "default", "b")); /* not named */
	ck_assert(in_force(&x, "team-b", "c"));   /* ns/ * */
	ck_assert(in_force(&x, "team-b", "d"));
	ck_assert(in_force(&x, "team-c", "e"));   /* * /host */
	ck_assert(!in_force(&x, "default", "w")); /* a wildcard service is no subset of a name */
	ck_assert(in_force(&x, "default", "x"));  /* a name is a subset of a wildcard import */
	reason_has(&x, "default", "b",
		   "not imported by Sidecar default/s (egress hosts ./a.example");
	ck_assert(!verdict(&x, "default", "b")->never);
	reason_has(&x, "default", "a", "imported by Sidecar default/s");
	release(&x);

	/* ~ imports nothing; no Sidecar: everything exported */
	load(&x,
	     SERVICES SIDECAR("s", "default", "2025-01-01T00:00:00Z",
			      "  egress: [{hosts: ['~/*']}]\n"),
	     NULL, NULL);
	ck_assert(!in_force(&x, "default", "a"));
	ck_assert(!in_force(&x, "team-b", "c"));
	release(&x);
	load(&x, SERVICES, NULL, NULL);
	ck_assert(in_force(&x, "default", "b"));
	ck_assert(in_force(&x, "team-c", "e"));
	release(&x);
}
END_TEST

START_TEST(egress_dot_in_root_sidecar_is_the_workload_namespace)
{
	struct fix x;

	load(&x,
	     SERVICES SIDECAR("default", "istio-system", "2025-01-01T00:00:00Z",
			      "  egress: [{hosts: ['./*']}]\n"),
	     "team-b", NULL);
	ck_assert_str_eq(sidecar_name(&x), "default");
	ck_assert(in_force(&x, "team-b", "c"));
	ck_assert(!in_force(&x, "default", "a"));
	release(&x);
}
END_TEST

START_TEST(egress_listener_port_limits_the_import)
{
	struct fix x;

	load(&x,
	     HDR("ServiceEntry", "two", "default",
		 "2025-01-01T00:00:00Z") "spec:\n  hosts: [two.example.com]\n  addresses: "
					 "[192.0.2.9]\n"
					 "  ports: [{name: tcp-a, number: 5432, protocol: TCP}, "
					 "{name: tcp-b, number: 6432, protocol: TCP}]\n" SIDECAR(
						 "s", "default", "2025-01-01T00:00:00Z",
						 "  egress:\n  - port: {number: 5432, protocol: "
						 "TCP, name: pg}\n"
						 "    hosts: ['./*']\n"),
	     NULL, NULL);
	ck_assert(pc_scope_visible(&x.s, res(&x, "default", "two"), 0, 0));
	ck_assert(!pc_scope_visible(&x.s, res(&x, "default", "two"), 0, 1));
	release(&x);
}
END_TEST

/* ---- exportTo ---- */

START_TEST(export_to_forms)
{
	struct fix x;

	load(&x,
	     SE("dot-other", "team-b", "p.example.com", "192.0.2.11", 443,
		"  exportTo: ['.']\n") SE("dot-own", "default", "q.example.com", "192.0.2.12", 443,
					  "  exportTo: ['.']\n") SE("tilde", "default",
								    "r.example.com", "192.0.2.13",
								    443, "  exportTo: ['~']\n")
		     SE("named", "team-b", "s.example.com", "192.0.2.14", 443,
			"  exportTo: [default]\n") SE("named-other", "team-b", "t.example.com",
						      "192.0.2.15", 443, "  exportTo: [team-c]\n")
			     SE("star", "team-b", "u.example.com", "192.0.2.16", 443,
				"  exportTo: ['*']\n")
				     SE("empty", "team-b", "v.example.com", "192.0.2.17", 443, ""),
	     NULL, NULL);
	ck_assert(!in_force(&x, "team-b", "dot-other"));
	ck_assert(in_force(&x, "default", "dot-own"));
	ck_assert(!in_force(&x, "default", "tilde"));
	ck_assert(in_force(&x, "team-b", "named"));
	ck_assert(!in_force(&x, "team-b", "named-other"));
	ck_assert(in_force(&x, "team-b", "star"));
	ck_assert(in_force(&x, "team-b", "empty"));
	reason_has(&x, "team-b", "dot-other",
		   "exportTo [.] of namespace team-b hides it from namespace default");
	reason_has(&x, "default", "tilde", "exportTo [~]");
	ck_assert(verdict(&x, "team-b", "dot-other")->never);
	ck_assert_str_eq(verdict(&x, "team-b", "dot-other")->field, "spec.exportTo");
	release(&x);
}
END_TEST

START_TEST(virtual_service_export_and_import)
{
	struct fix x;
	const char *vs =
		HDR("VirtualService", "v", "team-b",
		    "2025-01-01T00:00:00Z") "spec:\n  hosts: [c.example.com]\n  exportTo: ['.']\n"
					    "  tcp: [{route: [{destination: {host: "
					    "c.example.com}}]}]\n" HDR(
						    "VirtualService", "w", "team-b",
						    "2025-01-01T00:00:00Z") "spec:\n  hosts: "
									    "[d.example.com]\n"
									    "  tcp: [{route: "
									    "[{destination: {host: "
									    "d.example.com}}]}]\n";
	char *yaml = malloc(strlen(vs) + 1024);

	load(&x, vs, NULL, NULL);
	ck_assert(!in_force(&x, "team-b", "v"));
	ck_assert(in_force(&x, "team-b", "w"));
	release(&x);
	snprintf(yaml, strlen(vs) + 1024, "%s%s", vs,
		 SIDECAR("s", "default", "2025-01-01T00:00:00Z",
			 "  egress: [{hosts: ['team-b/c.example.com']}]\n"));
	load(&x, yaml, NULL, NULL);
	ck_assert(!in_force(&x, "team-b", "w")); /* exported, but not imported */
	reason_has(&x, "team-b", "w", "not imported by Sidecar default/s");
	release(&x);
	free(yaml);
}
END_TEST

/* ---- DestinationRules ---- */

static const char *dr_for(const struct fix *x, const char *host, const char *svc_ns)
{
	const struct pc_resource *r = pc_scope_dr(&x->s, host, svc_ns);

	return r ? r->meta.name : "(none)";
}

START_TEST(destination_rule_lookup_order)
{
	struct fix x;

	load(&x,
	     SE("c", "team-b", "c.example.com", "192.0.2.3", 3306, "")
		     DR("mine", "default", "c.example.com", "1s", "")
			     DR("svc", "team-b", "c.example.com", "2s", "")
				     DR("root", "istio-system", "c.example.com", "3s", ""),
	     NULL, NULL);
	ck_assert_str_eq(dr_for(&x, "c.example.com", "team-b"), "mine");
	ck_assert(in_force(&x, "default", "mine"));
	ck_assert(!in_force(&x, "team-b", "svc"));
	ck_assert(!verdict(&x, "team-b", "svc")->never);
	release(&x);
	load(&x,
	     SE("c", "team-b", "c.example.com", "192.0.2.3", 3306, "")
		     DR("svc", "team-b", "c.example.com", "2s", "")
			     DR("root", "istio-system", "c.example.com", "3s", ""),
	     NULL, NULL);
	ck_assert_str_eq(dr_for(&x, "c.example.com", "team-b"), "svc");
	/* the service namespace's rule is for its own services only */
	ck_assert_str_eq(dr_for(&x, "c.example.com", "team-c"), "root");
	release(&x);
	load(&x,
	     SE("c", "team-b", "c.example.com", "192.0.2.3", 3306, "")
		     DR("svc", "team-b", "c.example.com", "2s", "  exportTo: ['.']\n")
			     DR("root", "istio-system", "c.example.com", "3s", ""),
	     NULL, NULL);
	ck_assert_str_eq(dr_for(&x, "c.example.com", "team-b"), "root");
	ck_assert(verdict(&x, "team-b", "svc")->never);
	reason_has(&x, "team-b", "svc", "exportTo [.] of namespace team-b hides it");
	release(&x);
}
END_TEST

START_TEST(destination_rule_most_specific_host_and_selector)
{
	struct fix x;

	load(&x,
	     DR("wide", "default", "'*.example.com'", "1s", "")
		     DR("narrow", "default", "'*.api.example.com'", "2s", "")
			     DR("exact", "default", "v1.api.example.com", "3s", ""),
	     NULL, NULL);
	ck_assert_str_eq(dr_for(&x, "v1.api.example.com", "default"), "exact");
	ck_assert_str_eq(dr_for(&x, "v2.api.example.com", "default"), "narrow");
	ck_assert_str_eq(dr_for(&x, "www.example.com", "default"), "wide");
	ck_assert_str_eq(dr_for(&x, "example.org", "default"), "(none)");
	release(&x);
	load(&x,
	     DR("all", "default", "c.example.com", "1s", "")
		     DR("shop", "default", "c.example.com", "2s",
			"  workloadSelector: {matchLabels: {app: shop}}\n")
			     DR("elsewhere", "team-b", "c.example.com", "2s",
				"  workloadSelector: {matchLabels: {app: shop}}\n"),
	     NULL, "app=shop");
	ck_assert_str_eq(dr_for(&x, "c.example.com", "team-b"), "shop");
	ck_assert(verdict(&x, "team-b", "elsewhere")->never);
	reason_has(&x, "team-b", "elsewhere", "applies to workloads of namespace team-b only");
	release(&x);
	load(&x,
	     DR("all", "default", "c.example.com", "1s", "")
		     DR("shop", "default", "c.example.com", "2s",
			"  workloadSelector: {matchLabels: {app: shop}}\n"),
	     NULL, "app=cart");
	ck_assert_str_eq(dr_for(&x, "c.example.com", "team-b"), "all");
	ck_assert(verdict(&x, "default", "shop")->never);
	release(&x);
}
END_TEST

/* ---- what compile.c makes of it ---- */

static const char *classify(const struct pc_snapshot *s, const char *ip, unsigned port)
{
	struct pc_addr a;

	ck_assert_int_eq(pc_addr_parse(ip, &a), 0);
	a.port = (uint16_t)port;
	return pc_snapshot_classify(s, &a, NULL)->name;
}

START_TEST(compile_enforces_the_scope)
{
	struct fix x;
	struct pc_snapshot *snap;
	struct pc_buf b = PC_BUF_INIT;
	const struct pc_cluster *c;
	size_t i;

	load(&x,
	     SIDECAR("open", "team-b", "2025-01-01T00:00:00Z", ALLOW_ANY) SE(
		     "hidden", "team-b", "h.example.com", "192.0.2.21", 443, "  exportTo: ['.']\n")
		     SE("seen", "team-b", "s.example.com", "192.0.2.22", 443, "")
			     DR("svc", "team-b", "s.example.com", "2s", "")
				     DR("mine", "default", "s.example.com", "4s", ""),
	     NULL, NULL);
	ck_assert_int_eq(pc_policy_compile(&x.m, &x.o, NULL, NULL, &snap), 0);
	ck_assert_int_eq(snap->policy, PC_POLICY_REGISTRY_ONLY);
	ck_assert_str_eq(classify(snap, "198.51.100.1", 22), "BlackHoleCluster");
	ck_assert_str_eq(classify(snap, "192.0.2.21", 443), "BlackHoleCluster");
	ck_assert_str_eq(classify(snap, "192.0.2.22", 443), "outbound|443||s.example.com");
	for (c = NULL, i = 0; i < snap->nclusters; i++) {
		if (strcmp(snap->clusters[i].name, "outbound|443||s.example.com") == 0)
			c = &snap->clusters[i];
	}
	ck_assert_ptr_nonnull(c);
	ck_assert_uint_eq(c->connect_timeout_ms, 4000); /* the workload namespace's rule */
	ck_assert_str_eq(snap->workload_ns, "default");
	ck_assert_ptr_null(snap->sidecar);
	pc_snapshot_dump_json(snap, &b);
	pc_buf_addc(&b, '\0');
	ck_assert_ptr_nonnull(strstr(b.p, "\"scope\":{\"workload\":{\"namespace\":\"default\""));
	ck_assert_ptr_nonnull(strstr(b.p,
				     "\"name\":\"open\",\"in_force\":false,\"reason\":"
				     "\"Sidecar team-b/open applies to namespace team-b only\""));
	ck_assert_ptr_nonnull(strstr(b.p, "\"name\":\"seen\",\"in_force\":true"));
	pc_buf_release(&b);
	pc_snapshot_unref(snap);
	release(&x);
}
END_TEST

/*
 * Review e5: a listener of its own address (HTTP_PROXY, a bind, captureMode
 * NONE) is never reached by captured traffic: its hosts get clusters only.
 */
START_TEST(own_address_listener_imports_clusters_only)
{
	static const struct {
		const char *egress, *why;
		bool open;
	} cases[] = {
		{ "  - port: {number: 3128, protocol: HTTP_PROXY, name: proxy}\n"
		  "    hosts: ['*/*']\n",
		  "HTTP_PROXY port 3128", false },
		{ "  - port: {number: 5432, protocol: TCP, name: pg}\n    bind: 127.0.0.1\n"
		  "    hosts: ['./*']\n",
		  "bind 127.0.0.1 port 5432", false },
		{ "  - port: {number: 5432, protocol: TCP, name: pg}\n    bind: 127.0.0.1\n"
		  "    captureMode: NONE\n    hosts: ['./*']\n",
		  "bind 127.0.0.1 port 5432", false },
		{ "  - port: {number: 5432, protocol: TCP, name: pg}\n    captureMode: NONE\n"
		  "    hosts: ['./*']\n",
		  "captureMode NONE port 5432", false },
		{ "  - port: {number: 0, protocol: TCP, name: uds}\n"
		  "    bind: unix:///var/run/db.sock\n    captureMode: NONE\n    hosts: ['./*']\n",
		  "bind unix:///var/run/db.sock", false },
		{ "  - hosts: ['./*']\n    bind: 0.0.0.0\n", NULL, true },
		{ "  - port: {number: 3128, protocol: HTTP_PROXY, name: proxy}\n"
		  "    hosts: ['*/*']\n  - hosts: ['./a.example.com']\n",
		  NULL, true },
	};
	char yaml[2048];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fix x;
		struct pc_snapshot *snap;

		snprintf(yaml, sizeof(yaml), "%s%s  egress:\n%s",
			 SE("a", "default", "a.example.com", "192.0.2.10", 5432, ""),
			 SIDECAR("s", "default", "2025-01-01T00:00:00Z", ""), cases[i].egress);
		load(&x, yaml, NULL, NULL);
		ck_assert_msg(pc_scope_visible(&x.s, res(&x, "default", "a"), 0, 0) ==
				      cases[i].open,
			      "case %zu", i);
		if (cases[i].why) {
			reason_has(&x, "default", "a", cases[i].why);
			reason_has(
				&x, "default", "a",
				"imported by Sidecar default/s only through its egress listener");
			reason_has(&x, "default", "a", "which captured traffic does not reach");
			ck_assert(pc_scope_routed(&x.s, res(&x, "default", "a"), 0, 0));
		}
		ck_assert_int_eq(pc_policy_compile(&x.m, &x.o, NULL, NULL, &snap), 0);
		ck_assert_str_eq(classify(snap, "192.0.2.10", 5432),
				 cases[i].open ? "outbound|5432||a.example.com"
					       : "BlackHoleCluster");
		pc_snapshot_unref(snap);
		release(&x);
	}
}
END_TEST

/* Review e7: a VirtualService whose gateways lack mesh is not the sidecar's. */
START_TEST(gateway_virtual_service_is_not_in_force)
{
	struct fix x;
	struct pc_snapshot *snap;
	char yaml[4096];

	snprintf(yaml, sizeof(yaml), "%s%s%s%s",
		 SE("t", "default", "t.example.com", "192.0.2.50", 5432, ""),
		 SE("u", "team-b", "u.example.com", "192.0.2.51", 5432, ""),
		 HDR("VirtualService", "gw", "default", "2025-01-01T00:00:00Z"),
		 "spec:\n  hosts: [t.example.com]\n  gateways: [istio-system/egress]\n"
		 "  tcp:\n  - match: [{gateways: [mesh]}]\n"
		 "    route: [{destination: {host: u.example.com}}]\n");
	snprintf(yaml + strlen(yaml), sizeof(yaml) - strlen(yaml), "%s",
		 SIDECAR("s", "default", "2025-01-01T00:00:00Z",
			 "  egress: [{hosts: ['./t.example.com']}]\n"));
	load(&x, yaml, NULL, NULL);
	ck_assert(!in_force(&x, "default", "gw"));
	ck_assert(!verdict(&x, "default", "gw")->never);
	reason_has(&x, "default", "gw",
		   "its gateways [istio-system/egress] do not include mesh: it configures those "
		   "gateways, not sidecars");
	/* its destination is no cluster of the workload's either */
	ck_assert(!in_force(&x, "team-b", "u"));
	ck_assert(!pc_scope_routed(&x.s, res(&x, "team-b", "u"), 0, 0));
	ck_assert_int_eq(pc_policy_compile(&x.m, &x.o, NULL, NULL, &snap), 0);
	ck_assert_str_eq(classify(snap, "192.0.2.50", 5432), "outbound|5432||t.example.com");
	pc_snapshot_unref(snap);
	release(&x);
}
END_TEST

/* Istio's service index is keyed by the host as written: another case names nothing. */
START_TEST(destination_host_is_exact_case)
{
	struct fix x;
	struct pc_snapshot *snap;
	char yaml[4096];

	snprintf(yaml, sizeof(yaml), "%s%s%s%s",
		 SE("a", "default", "a.example.com", "192.0.2.60", 5432, ""),
		 SE("u", "default", "U.Example.com", "192.0.2.61", 5432, ""),
		 HDR("VirtualService", "v", "default", "2025-01-01T00:00:00Z"),
		 "spec:\n  hosts: [a.example.com]\n"
		 "  tcp: [{route: [{destination: {host: u.example.COM}}]}]\n");
	load(&x, yaml, NULL, NULL);
	ck_assert_int_eq(pc_policy_compile(&x.m, &x.o, NULL, NULL, &snap), 0);
	ck_assert_str_eq(classify(snap, "192.0.2.60", 5432), "BlackHoleCluster");
	ck_assert_str_eq(classify(snap, "192.0.2.61", 5432), "outbound|5432||U.Example.com");
	pc_snapshot_unref(snap);
	release(&x);
	/* a Sidecar that does not import it: no cluster is added for another case either */
	snprintf(yaml + strlen(yaml), sizeof(yaml) - strlen(yaml), "%s",
		 SIDECAR("s", "default", "2025-01-01T00:00:00Z",
			 "  egress: [{hosts: ['./a.example.com']}]\n"));
	load(&x, yaml, NULL, NULL);
	ck_assert(!in_force(&x, "default", "u"));
	ck_assert_int_eq(pc_policy_compile(&x.m, &x.o, NULL, NULL, &snap), 0);
	ck_assert_str_eq(classify(snap, "192.0.2.60", 5432), "BlackHoleCluster");
	pc_snapshot_unref(snap);
	release(&x);
}
END_TEST

/*
 * Review e10: VirtualServices are per egress listener. The port listener
 * `./a.example.com` builds a.example.com:5432; a VirtualService of team-x
 * selected only by another listener must not route that traffic.
 */
START_TEST(virtual_services_are_per_egress_listener)
{
	static const char *const egress[] = {
		"  - port: {number: 5432, protocol: TCP, name: pg}\n"
		"    hosts: ['./a.example.com']\n  - hosts: ['team-x/a.example.com']\n",
		"  - port: {number: 5432, protocol: TCP, name: pg}\n"
		"    hosts: ['./a.example.com', 'team-x/a.example.com']\n",
	};
	char yaml[4096];
	size_t i;

	for (i = 0; i < 2; i++) {
		struct fix x;
		struct pc_snapshot *snap;

		snprintf(yaml, sizeof(yaml), "%s%s%s%s%s  egress:\n%s",
			 SE("a", "default", "a.example.com", "192.0.2.70", 5432, ""),
			 SE("u", "team-x", "u.example.com", "192.0.2.71", 5432,
			    "  exportTo: [default]\n"),
			 HDR("VirtualService", "hijack", "team-x", "2025-01-01T00:00:00Z"),
			 "spec:\n  hosts: [a.example.com]\n"
			 "  tcp: [{route: [{destination: {host: u.example.com}}]}]\n",
			 SIDECAR("s", "default", "2025-01-01T00:00:00Z", ""), egress[i]);
		load(&x, yaml, NULL, NULL);
		ck_assert(in_force(&x, "team-x", "hijack"));
		ck_assert_int_eq(pc_policy_compile(&x.m, &x.o, NULL, NULL, &snap), 0);
		/* the second: the port listener itself selects it */
		ck_assert_str_eq(classify(snap, "192.0.2.70", 5432),
				 i == 0 ? "outbound|5432||a.example.com"
					: "outbound|5432||u.example.com");
		pc_snapshot_unref(snap);
		release(&x);
	}
}
END_TEST

/*
 * Review e3: an egress listener with a port builds its listener keys
 * first; the catch-all listener's services cannot add to those keys.
 */
START_TEST(catch_all_cannot_reuse_a_port_listener_key)
{
	struct fix x;
	struct pc_snapshot *snap;
	char yaml[4096];
	const char *sc = "  egress:\n  - port: {number: 5432, protocol: TCP, name: pg}\n"
			 "    hosts: ['./a.example.com']\n  - hosts: ['*/*']\n";

	snprintf(yaml, sizeof(yaml), "%s%s%s%s%s",
		 SE("a", "default", "a.example.com", "192.0.2.0/24", 5432, ""),
		 SE("b", "team-b", "b.example.com", "198.51.100.0/24", 5432, ""),
		 SE("c", "team-b", "c.example.com", "203.0.113.9", 5432, ""),
		 SE("d", "team-b", "d.example.com", "203.0.113.0/28, 203.0.113.20", 5432, ""),
		 SIDECAR("s", "default", "2025-01-01T00:00:00Z", ""));
	snprintf(yaml + strlen(yaml), sizeof(yaml) - strlen(yaml), "%s", sc);
	load(&x, yaml, NULL, NULL);
	ck_assert(!in_force(&x, "team-b", "b"));
	reason_has(&x, "team-b", "b",
		   "its listener 0.0.0.0:5432 is built first by Sidecar default/s's egress "
		   "listener with port 5432, which Istio locks for the catch-all listener");
	ck_assert(in_force(&x, "team-b", "c")); /* its own key, 203.0.113.9:5432 */
	ck_assert(in_force(&x, "team-b", "d"));
	ck_assert(!pc_scope_open(&x.s, res(&x, "team-b", "d"), 0, 0, 0));
	ck_assert(pc_scope_open(&x.s, res(&x, "team-b", "d"), 0, 0, 1));
	ck_assert_int_eq(pc_policy_compile(&x.m, &x.o, NULL, NULL, &snap), 0);
	ck_assert_str_eq(classify(snap, "192.0.2.7", 5432), "outbound|5432||a.example.com");
	ck_assert_str_eq(classify(snap, "198.51.100.7", 5432), "BlackHoleCluster");
	ck_assert_str_eq(classify(snap, "203.0.113.9", 5432), "outbound|5432||c.example.com");
	ck_assert_str_eq(classify(snap, "203.0.113.5", 5432), "BlackHoleCluster");
	ck_assert_str_eq(classify(snap, "203.0.113.20", 5432), "outbound|5432||d.example.com");
	pc_snapshot_unref(snap);
	release(&x);
}
END_TEST

START_TEST(source_namespace_matches_the_workload)
{
	struct fix x;
	struct pc_snapshot *snap;
	const char *yaml = HDR(
		"ServiceEntry", "t", "default",
		"2025-01-01T00:00:00Z") "spec:\n  hosts: [t.example.com]\n  ports: [{name: tls, "
					"number: 443, protocol: "
					"TLS}]\n  resolution: DNS\n" HDR(
						"ServiceEntry", "u", "default",
						"2025-01-01T00:00:00Z") "spec:\n  hosts: "
									"[u.example.com]\n  ports: "
									"[{name: tls, number: 443, "
									"protocol: "
									"TLS}]\n  resolution: "
									"DNS\n" HDR(
										"VirtualService",
										"v", "default",
										"2025-01-01T00:00:"
										"00Z") "spec:\n  "
										       "hosts: "
										       "[t.example."
										       "com]\n  "
										       "tls:\n  - "
										       "match: "
										       "[{sniHosts:"
										       " [t."
										       "example."
										       "com], "
										       "sourceNames"
										       "pace: "
										       "shop}]\n   "
										       " route: "
										       "[{"
										       "destination"
										       ": {host: "
										       "u.example."
										       "com}}]\n";
	struct pc_match m = { 0 };
	struct pc_addr a;

	ck_assert_int_eq(pc_addr_parse("203.0.113.9", &a), 0);
	a.port = 443;
	m.dst = &a;
	m.transport = PC_TRANSPORT_TLS;
	m.name = "t.example.com";
	load(&x, yaml, "shop", NULL);
	ck_assert_int_eq(pc_policy_compile(&x.m, &x.o, NULL, NULL, &snap), 0);
	ck_assert_str_eq(pc_snapshot_match(snap, &m)->name, "outbound|443||u.example.com");
	pc_snapshot_unref(snap);
	release(&x);
	/* another namespace: the match does not hold, the service keeps its own chain */
	load(&x, yaml, "cart", NULL);
	ck_assert_int_eq(pc_policy_compile(&x.m, &x.o, NULL, NULL, &snap), 0);
	ck_assert_str_eq(pc_snapshot_match(snap, &m)->name, "outbound|443||t.example.com");
	pc_snapshot_unref(snap);
	release(&x);
}
END_TEST

/* Istio's selectServices: one namespace per imported host, the workload's first. */
START_TEST(one_namespace_per_host)
{
	struct fix x;
	const char *ses = HDR(
		"ServiceEntry", "old", "team-b",
		"2020-01-01T00:00:00Z") "spec:\n  hosts: [api.example.com, b.example.com]\n  "
					"addresses: [192.0.2.31]\n"
					"  ports: [{name: tcp, number: 5432, protocol: TCP}]\n" HDR(
						"ServiceEntry", "older", "team-c",
						"2019-01-01T00:00:00Z") "spec:\n  hosts: "
									"[api.example.com]\n  "
									"addresses: [192.0.2.32]\n"
									"  ports: [{name: tcp, "
									"number: 5432, protocol: "
									"TCP}]\n" HDR(
										"ServiceEntry",
										"mine", "default",
										"2025-01-01T00:00:"
										"00Z") "spec:\n  "
										       "hosts: "
										       "[api."
										       "example."
										       "com]\n  "
										       "addresses: "
										       "[192.0.2."
										       "33]\n"
										       "  ports: "
										       "[{name: "
										       "tcp, "
										       "number: "
										       "5432, "
										       "protocol: "
										       "TCP}]\n";
	char yaml[4096];

	snprintf(yaml, sizeof(yaml), "%s%s", ses,
		 SIDECAR("s", "default", "2025-01-01T00:00:00Z", "  egress: [{hosts: ['*/*']}]\n"));
	load(&x, yaml, NULL, NULL);
	ck_assert(in_force(&x, "default", "mine"));
	ck_assert(!in_force(&x, "team-c", "older"));
	reason_has(&x, "team-c", "older",
		   "host api.example.com is imported from namespace default");
	/* team-b keeps its other host */
	ck_assert(in_force(&x, "team-b", "old"));
	ck_assert(!pc_scope_visible(&x.s, res(&x, "team-b", "old"), 0, 0));
	ck_assert(pc_scope_visible(&x.s, res(&x, "team-b", "old"), 1, 0));
	release(&x);
	/* another workload namespace: the oldest entry's namespace */
	load(&x, yaml, "team-d", NULL);
	ck_assert_ptr_null(x.s.sidecar);
	release(&x);
	snprintf(yaml, sizeof(yaml), "%s%s", ses,
		 SIDECAR("s", "istio-system", "2025-01-01T00:00:00Z",
			 "  egress: [{hosts: ['*/*']}]\n"));
	load(&x, yaml, "team-d", NULL);
	ck_assert(in_force(&x, "team-c", "older"));
	ck_assert(!in_force(&x, "default", "mine"));
	ck_assert(!pc_scope_visible(&x.s, res(&x, "team-b", "old"), 0, 0));
	release(&x);
	/* without Sidecar egress too: Istio's default listener imports every host */
	load(&x, ses, NULL, NULL);
	ck_assert(!in_force(&x, "team-c", "older"));
	ck_assert(in_force(&x, "default", "mine"));
	release(&x);
	load(&x, ses, "team-d", NULL);
	ck_assert(in_force(&x, "team-c", "older"));
	ck_assert(!in_force(&x, "default", "mine"));
	reason_has(&x, "default", "mine",
		   "host api.example.com is imported from namespace team-c (ServiceEntry "
		   "team-c/older): Istio keeps one namespace per host, the oldest entry's");
	release(&x);
}
END_TEST

/*
 * Review e1: without a Sidecar, a younger entry of another namespace with
 * the workload's host must not open its own addresses (a squatted CIDR).
 */
START_TEST(one_namespace_per_host_without_sidecar)
{
	struct fix x;
	struct pc_snapshot *snap;
	const char *yaml = "---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
			   "metadata: {name: mine, namespace: default, "
			   "creationTimestamp: '2025-01-01T00:00:00Z'}\n"
			   "spec:\n  hosts: [db.example.com]\n  addresses: [192.0.2.33]\n"
			   "  ports: [{name: tcp, number: 5432, protocol: TCP}]\n"
			   "---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
			   "metadata: {name: squat, namespace: team-c, "
			   "creationTimestamp: '2025-02-01T00:00:00Z'}\n"
			   "spec:\n  hosts: [db.example.com]\n  addresses: [198.51.100.0/24]\n"
			   "  ports: [{name: tcp, number: 5432, protocol: TCP}]\n";

	load(&x, yaml, NULL, NULL);
	ck_assert_ptr_null(x.s.sidecar);
	ck_assert(in_force(&x, "default", "mine"));
	ck_assert(!in_force(&x, "team-c", "squat"));
	reason_has(&x, "team-c", "squat",
		   "host db.example.com is imported from namespace default (ServiceEntry "
		   "default/mine): Istio keeps one namespace per host, the workload's first");
	ck_assert_int_eq(pc_policy_compile(&x.m, &x.o, NULL, NULL, &snap), 0);
	ck_assert_str_eq(classify(snap, "198.51.100.7", 5432), "BlackHoleCluster");
	ck_assert_str_eq(classify(snap, "192.0.2.33", 5432), "outbound|5432||db.example.com");
	pc_snapshot_unref(snap);
	release(&x);
	/* team-c's workloads: their own namespace's entry wins, even younger */
	load(&x, yaml, "team-c", NULL);
	ck_assert(in_force(&x, "team-c", "squat"));
	ck_assert(!in_force(&x, "default", "mine"));
	release(&x);
}
END_TEST

/* SortServicesByCreationTime: a tie goes to the namespace first by name (services are hosts). */
START_TEST(one_namespace_per_host_tie_is_by_namespace)
{
	struct fix x;

	load(&x,
	     SE("aa", "team-z", "db.example.com", "192.0.2.40", 5432, "")
		     SE("zz", "team-a", "db.example.com", "192.0.2.41", 5432, ""),
	     NULL, NULL);
	ck_assert(in_force(&x, "team-a", "zz"));
	ck_assert(!in_force(&x, "team-z", "aa"));
	reason_has(&x, "team-z", "aa", "imported from namespace team-a (ServiceEntry team-a/zz)");
	release(&x);
}
END_TEST

/* Istio's collectImportedServices: a route's destination gets a cluster, not listeners. */
START_TEST(virtual_service_destination_is_a_cluster_only)
{
	struct fix x;
	struct pc_snapshot *snap;
	struct pc_match m = { 0 };
	struct pc_addr a;
	const char *yaml = HDR(
		"ServiceEntry", "t", "default",
		"2025-01-01T00:00:00Z") "spec:\n  hosts: [t.example.com]\n  ports: [{name: tls, "
					"number: 443, protocol: "
					"TLS}]\n  resolution: DNS\n" HDR(
						"ServiceEntry", "u", "team-b",
						"2025-01-01T00:00:00Z") "spec:\n  hosts: "
									"[u.example.com]\n  ports: "
									"[{name: tls, number: 443, "
									"protocol: "
									"TLS}]\n  resolution: "
									"DNS\n" HDR(
										"VirtualService",
										"v", "default",
										"2025-01-01T00:00:"
										"00Z") "spec:\n  "
										       "hosts: "
										       "[t.example."
										       "com]\n  "
										       "tls:\n  - "
										       "match: "
										       "[{sniHosts:"
										       " [t."
										       "example."
										       "com]}]\n"
										       "    route: "
										       "[{"
										       "destination"
										       ": {host: "
										       "u.example."
										       "com}}]"
										       "\n" SIDECAR(
											       "s",
											       "def"
											       "aul"
											       "t",
											       "202"
											       "5-"
											       "01-"
											       "01T"
											       "00:"
											       "00:"
											       "00"
											       "Z",
											       "  "
											       "egr"
											       "ess"
											       ": "
											       "[{"
											       "hos"
											       "ts:"
											       " ['"
											       "./"
											       "t."
											       "exa"
											       "mpl"
											       "e."
											       "com"
											       "']}"
											       "]"
											       "\n");

	ck_assert_int_eq(pc_addr_parse("203.0.113.9", &a), 0);
	a.port = 443;
	m.dst = &a;
	m.transport = PC_TRANSPORT_TLS;
	load(&x, yaml, NULL, NULL);
	ck_assert(in_force(&x, "team-b", "u"));
	reason_has(&x, "team-b", "u", "but a destination of VirtualService default/v");
	ck_assert(!pc_scope_visible(&x.s, res(&x, "team-b", "u"), 0, 0));
	ck_assert(pc_scope_routed(&x.s, res(&x, "team-b", "u"), 0, 0));
	ck_assert_int_eq(pc_policy_compile(&x.m, &x.o, NULL, NULL, &snap), 0);
	m.name = "t.example.com";
	ck_assert_str_eq(pc_snapshot_match(snap, &m)->name, "outbound|443||u.example.com");
	m.name = "u.example.com"; /* no listener of its own */
	ck_assert_str_eq(pc_snapshot_match(snap, &m)->name, "BlackHoleCluster");
	pc_snapshot_unref(snap);
	release(&x);
}
END_TEST

START_TEST(warnings_name_the_field)
{
	struct fix x;
	struct pc_findings f;

	pc_findings_init(&f);
	load(&x,
	     SE("ok", "default", "a.example.com", "192.0.2.1", 3306, "")
		     SE("dot", "team-b", "p.example.com", "192.0.2.11", 443, "  exportTo: ['.']\n")
			     SIDECAR("open", "team-b", "2025-01-01T00:00:00Z", ALLOW_ANY),
	     NULL, NULL);
	ck_assert_int_eq(pc_scope_warn(&x.s, &f), 0);
	ck_assert_uint_eq(f.n, 2);
	ck_assert_str_eq(f.v[0].path, "spec.exportTo");
	ck_assert_str_eq(f.v[0].name, "dot");
	ck_assert_uint_eq(f.v[0].line, 17); /* the exportTo line of the second document */
	ck_assert_ptr_nonnull(
		strstr(f.v[0].msg, "never applies to this workload (namespace default"));
	ck_assert_ptr_nonnull(strstr(f.v[0].msg, "hides it from namespace default"));
	ck_assert_str_eq(f.v[1].path, "metadata.namespace");
	ck_assert_int_eq(f.v[1].sev, PC_SEV_WARNING);
	pc_findings_release(&f);
	release(&x);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("policy.scope");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, sidecar_of_another_namespace_does_not_apply);
	tcase_add_test(tc, sidecar_precedence_selector_namespace_root);
	tcase_add_test(tc, sidecar_ties_oldest_then_name);
	tcase_add_test(tc, mesh_policy_when_the_sidecar_sets_none);
	tcase_add_test(tc, egress_hosts_forms);
	tcase_add_test(tc, egress_dot_in_root_sidecar_is_the_workload_namespace);
	tcase_add_test(tc, egress_listener_port_limits_the_import);
	tcase_add_test(tc, export_to_forms);
	tcase_add_test(tc, virtual_service_export_and_import);
	tcase_add_test(tc, destination_rule_lookup_order);
	tcase_add_test(tc, destination_rule_most_specific_host_and_selector);
	tcase_add_test(tc, compile_enforces_the_scope);
	tcase_add_test(tc, source_namespace_matches_the_workload);
	tcase_add_test(tc, one_namespace_per_host);
	tcase_add_test(tc, one_namespace_per_host_without_sidecar);
	tcase_add_test(tc, one_namespace_per_host_tie_is_by_namespace);
	tcase_add_test(tc, own_address_listener_imports_clusters_only);
	tcase_add_test(tc, gateway_virtual_service_is_not_in_force);
	tcase_add_test(tc, destination_host_is_exact_case);
	tcase_add_test(tc, virtual_services_are_per_egress_listener);
	tcase_add_test(tc, catch_all_cannot_reuse_a_port_listener_key);
	tcase_add_test(tc, virtual_service_destination_is_a_cluster_only);
	tcase_add_test(tc, warnings_name_the_field);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
