/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * policy/dump.c - the admin endpoint's views of a snapshot.
 *
 * Moved here from daemon/control.c (the /config_dump "policy") and
 * daemon/admin.c (/clusters), which rendered the same clusters twice and
 * both locked the cluster state to do it. A cluster's endpoints are walked
 * once, by each_endpoint(); the two views only format what it yields.
 */
#include "policy/dump.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "net/addr.h"
#include "policy/runtime.h"
#include "policy/snapshot.h"
#include "policy/trie.h"

static void json_str(struct pc_buf *b, const char *s)
{
	if (s)
		pc_buf_add_json_str(b, s, strlen(s));
	else
		pc_buf_adds(b, "null");
}

/* ---- one walk over a cluster's endpoints ---- */

/* <k>: the index among endpoints of its kind (static, resolved); <n>: among all. */
typedef void endpoint_fn(void *data, const struct pc_addr *a, uint32_t weight, bool resolved,
			 size_t k, size_t n);

/* The static endpoints of <c>, then the addresses its DNS names resolve to now. */
static void each_endpoint(const struct pc_cluster *c, endpoint_fn *fn, void *data)
{
	struct pc_addr *v;
	size_t i, n;

	for (i = 0; i < c->nendpoints; i++)
		fn(data, &c->endpoints[i].addr, c->endpoints[i].weight, false, i, i);
	if (!c->ndns_names)
		return;
	v = pc_calloc(c->ndns_names * PC_RT_MAX_ADDRS, sizeof(*v));
	if (!v)
		return; /* the reply says nothing resolved rather than fail */
	n = pc_cluster_resolved(c, v, c->ndns_names * PC_RT_MAX_ADDRS);
	for (i = 0; i < n; i++)
		fn(data, &v[i], 1, true, i, c->nendpoints + i);
	free(v);
}

/* ---- /config_dump: the policy ---- */

struct chain_ctx {
	struct pc_buf *b;
	const struct pc_snapshot *snap;
	const struct pc_port_policy *pp;
	size_t n;
};

static const char *cluster_name(const struct pc_snapshot *snap, uint32_t id)
{
	return id < snap->nclusters ? snap->clusters[id].name : NULL;
}

/* "chains": the prefixes whose chain has no criteria -> its cluster (as before chains by name). */
static int dump_chain(void *data, const struct pc_prefix *p, uint32_t value)
{
	struct chain_ctx *cc = data;
	const struct pc_chain_level *lv;
	char a[PC_ADDR_STRLEN];

	if (value >= cc->pp->nlevels || cc->pp->levels[value].tcp == PC_TRIE_NONE)
		return 0;
	lv = &cc->pp->levels[value];
	pc_buf_printf(cc->b, "%s{\"prefix\":\"%s/%u\",\"cluster\":", cc->n++ ? "," : "",
		      pc_addr_str(&p->addr, a), (unsigned)p->len);
	json_str(cc->b, cluster_name(cc->snap, lv->tcp));
	pc_buf_addc(cc->b, '}');
	return 0;
}

/*
 * "filter_chains": every chain of a level as Envoy's filter_chain_match
 * (prefix_ranges, server_names, transport_protocol) with its cluster, or
 * its weighted_clusters when a VirtualService splits it, and its origin.
 */
/* ",weighted_clusters" when a route splits, and ",origin". */
static void dump_routes(struct chain_ctx *cc, const struct pc_chain *c)
{
	struct pc_buf *b = cc->b;
	uint32_t i;

	if (c->nroutes > 1) {
		pc_buf_adds(b, ",\"weighted_clusters\":[");
		for (i = 0; i < c->nroutes; i++) {
			pc_buf_adds(b, i ? ",{\"name\":" : "{\"name\":");
			json_str(b, cluster_name(cc->snap, c->routes[i].cluster));
			pc_buf_printf(b, ",\"weight\":%" PRIu32 "}", c->routes[i].weight);
		}
		pc_buf_addc(b, ']');
	}
	pc_buf_adds(b, ",\"origin\":");
	json_str(b, c->origin);
}

static void dump_named(struct chain_ctx *cc, const struct pc_prefix *p, const struct pc_chain *c,
		       const char *transport)
{
	struct pc_buf *b = cc->b;
	char a[PC_ADDR_STRLEN];

	pc_buf_printf(b, "%s{\"filter_chain_match\":{", cc->n++ ? "," : "");
	if (p)
		pc_buf_printf(b, "\"prefix_ranges\":[\"%s/%u\"],", pc_addr_str(&p->addr, a),
			      (unsigned)p->len);
	if (c->name) {
		pc_buf_adds(b, "\"server_names\":[");
		json_str(b, c->name);
		pc_buf_adds(b, "],");
	} else {
		pc_buf_adds(b, "\"host_is_ip\":true,");
	}
	pc_buf_printf(b, "\"transport_protocol\":\"%s\"},\"cluster\":", transport);
	json_str(b, cluster_name(cc->snap, c->routes[0].cluster));
	dump_routes(cc, c);
	pc_buf_addc(b, '}');
}

static void dump_names(struct chain_ctx *cc, const struct pc_prefix *p, const struct pc_names *t,
		       const char *transport)
{
	size_t i;

	for (i = 0; i < t->nexact; i++)
		dump_named(cc, p, &t->exact[i], transport);
	for (i = 0; i < t->nwild; i++)
		dump_named(cc, p, &t->wild[i], transport);
	if (t->star)
		dump_named(cc, p, t->star, transport);
}

static void dump_level(struct chain_ctx *cc, const struct pc_prefix *p,
		       const struct pc_chain_level *lv)
{
	struct pc_buf *b = cc->b;
	char a[PC_ADDR_STRLEN];

	dump_names(cc, p, &lv->tls, "tls");
	dump_names(cc, p, &lv->http, "http");
	if (lv->http_ip)
		dump_named(cc, p, lv->http_ip, "http");
	if (lv->tcp == PC_TRIE_NONE)
		return;
	pc_buf_printf(b, "%s{\"filter_chain_match\":{", cc->n++ ? "," : "");
	if (p)
		pc_buf_printf(b, "\"prefix_ranges\":[\"%s/%u\"]", pc_addr_str(&p->addr, a),
			      (unsigned)p->len);
	pc_buf_adds(b, "},\"cluster\":");
	json_str(b, cluster_name(cc->snap, lv->tcp));
	if (lv->tcp_routes)
		dump_routes(cc, lv->tcp_routes);
	pc_buf_addc(b, '}');
}

static int dump_level_at(void *data, const struct pc_prefix *p, uint32_t value)
{
	struct chain_ctx *cc = data;

	if (value < cc->pp->nlevels)
		dump_level(cc, p, &cc->pp->levels[value]);
	return 0;
}

static const char *kind_name(enum pc_cluster_kind k)
{
	return k == PC_CLUSTER_BLACKHOLE     ? "blackhole"
	       : k == PC_CLUSTER_PASSTHROUGH ? "passthrough"
					     : "service";
}

static const char *resolution_name(enum pc_endpoint_source s)
{
	static const char *const names[] = { "NONE", "STATIC", "DNS", "DNS_ROUND_ROBIN",
					     "DYNAMIC_DNS" };

	return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

/* One half of a cluster's endpoints: the static ones, or the resolved ones. */
struct policy_ctx {
	struct pc_buf *b;
	bool resolved;
};

static void policy_endpoint(void *data, const struct pc_addr *addr, uint32_t weight, bool resolved,
			    size_t k, size_t n)
{
	struct policy_ctx *x = data;
	char a[PC_ADDR_STRLEN];

	(void)weight;
	(void)n;
	if (resolved == x->resolved)
		pc_buf_printf(x->b, "%s\"%s\"", k ? "," : "", pc_addr_port_str(addr, a));
}

/* "endpoints": the static ones, then the DNS names; "resolved": their answers. */
static void dump_endpoints(struct pc_buf *b, const struct pc_cluster *c)
{
	struct policy_ctx x = { b, false };
	size_t i;

	pc_buf_adds(b, ",\"endpoints\":[");
	each_endpoint(c, policy_endpoint, &x);
	for (i = 0; i < c->ndns_names; i++) {
		pc_buf_adds(b, i || c->nendpoints ? "," : "");
		json_str(b, c->dns_names[i].name);
	}
	pc_buf_adds(b, "],\"resolved\":[");
	x.resolved = true;
	each_endpoint(c, policy_endpoint, &x);
	pc_buf_addc(b, ']');
}

static void dump_cluster(struct pc_buf *b, const struct pc_cluster *c)
{
	pc_buf_adds(b, "{\"name\":");
	json_str(b, c->name);
	pc_buf_printf(b, ",\"kind\":\"%s\",\"host\":", kind_name(c->kind));
	json_str(b, c->host);
	pc_buf_adds(b, ",\"namespace\":");
	json_str(b, c->ns);
	pc_buf_adds(b, ",\"service_entry\":");
	json_str(b, c->se_name);
	pc_buf_printf(b, ",\"port\":%u,\"resolution\":\"%s\"", c->port,
		      c->kind == PC_CLUSTER_SERVICE ? resolution_name(c->source) : "NONE");
	if (c->target_port)
		pc_buf_printf(b, ",\"target_port\":%u", c->target_port);
	dump_endpoints(b, c);
	pc_buf_printf(b,
		      ",\"connect_timeout_ms\":%" PRIu64 ",\"idle_timeout_ms\":%" PRIu64
		      ",\"max_connection_duration_ms\":%" PRIu64 ",\"max_connections\":",
		      c->connect_timeout_ms, c->idle_timeout_ms, c->max_duration_ms);
	if (c->max_connections == UINT32_MAX)
		pc_buf_adds(b, "null");
	else
		pc_buf_printf(b, "%" PRIu32, c->max_connections);
	pc_buf_printf(b, ",\"by_name\":%s,\"http\":%s,\"active\":%u}",
		      c->by_name ? "true" : "false", c->http ? "true" : "false",
		      pc_cluster_active(c));
}

/*
 * ",scope": the workload the policy was compiled for, the Sidecar that
 * applies to it, and every object with whether it is in force and why
 * (policy/scope.h, doc/scoping.md).
 */
static void dump_scope(const struct pc_snapshot *snap, struct pc_buf *b)
{
	size_t i;

	pc_buf_adds(b, ",\"scope\":{\"workload\":{\"namespace\":");
	json_str(b, snap->workload_ns);
	pc_buf_adds(b, ",\"root_namespace\":");
	json_str(b, snap->root_ns);
	pc_buf_adds(b, ",\"labels\":");
	json_str(b, snap->workload_labels);
	pc_buf_adds(b, "},\"sidecar\":");
	json_str(b, snap->sidecar);
	pc_buf_adds(b, ",\"sidecar_chosen_by\":");
	json_str(b, snap->sidecar_why);
	pc_buf_printf(b, ",\"outbound_traffic_policy_from\":\"%s\",\"objects\":[",
		      snap->policy_from_sidecar ? "sidecar" : "mesh");
	for (i = 0; i < snap->nscope; i++) {
		const struct pc_scope_entry *e = &snap->scope[i];

		pc_buf_adds(b, i ? ",{\"kind\":" : "{\"kind\":");
		json_str(b, e->kind);
		pc_buf_adds(b, ",\"namespace\":");
		json_str(b, e->ns);
		pc_buf_adds(b, ",\"name\":");
		json_str(b, e->name);
		pc_buf_printf(b, ",\"in_force\":%s,\"reason\":", e->in_force ? "true" : "false");
		json_str(b, e->reason);
		pc_buf_addc(b, '}');
	}
	pc_buf_adds(b, "]}");
}

void pc_snapshot_dump_json(const struct pc_snapshot *snap, struct pc_buf *b)
{
	struct chain_ctx cc = { b, snap, NULL, 0 };
	size_t i;

	pc_buf_printf(b,
		      "{\"generation\":%" PRIu64 ",\"outbound_traffic_policy\":\"%s\",\"ports\":[",
		      snap->generation,
		      snap->policy == PC_POLICY_ALLOW_ANY ? "ALLOW_ANY" : "REGISTRY_ONLY");
	for (i = 0; i < snap->nports; i++) {
		const struct pc_port_policy *pp = &snap->ports[i];

		pc_buf_printf(b, "%s{\"port\":%u,\"chains\":[", i ? "," : "", pp->port);
		cc.n = 0;
		cc.pp = pp;
		if (pp->trie)
			pc_trie_walk(pp->trie, dump_chain, &cc);
		pc_buf_adds(b, "],\"any\":");
		json_str(b, cluster_name(snap, pp->any_cluster));
		pc_buf_printf(b, ",\"needs_name\":%s,\"filter_chains\":[",
			      pp->needs_name ? "true" : "false");
		/* Envoy's order: prefixes (a shorter one before those it covers), then none */
		cc.n = 0;
		if (pp->trie)
			pc_trie_walk(pp->trie, dump_level_at, &cc);
		if (pp->any_level < pp->nlevels)
			dump_level(&cc, NULL, &pp->levels[pp->any_level]);
		pc_buf_printf(b, "],\"default_chain\":\"%s\"}",
			      snap->policy == PC_POLICY_ALLOW_ANY ? "PassthroughCluster"
								  : "BlackHoleCluster");
	}
	pc_buf_adds(b, "],\"clusters\":[");
	for (i = 0; i < snap->nclusters; i++) {
		if (i)
			pc_buf_addc(b, ',');
		dump_cluster(b, &snap->clusters[i]);
	}
	pc_buf_addc(b, ']');
	dump_scope(snap, b);
	pc_buf_addc(b, '}');
}

/* ---- /clusters ---- */

struct clusters_ctx {
	struct pc_buf *b;
	const struct pc_cluster *c;
	bool json;
};

/* Envoy's /clusters endpoint lines, or {"address","weight","health_flags"}. */
static void clusters_endpoint(void *data, const struct pc_addr *addr, uint32_t weight,
			      bool resolved, size_t k, size_t n)
{
	struct clusters_ctx *x = data;
	char a[PC_ADDR_STRLEN];

	(void)resolved;
	(void)k;
	pc_addr_port_str(addr, a);
	if (x->json)
		pc_buf_printf(x->b,
			      "%s{\"address\":\"%s\",\"weight\":%" PRIu32
			      ",\"health_flags\":\"healthy\"}",
			      n ? "," : "", a, weight);
	else
		pc_buf_printf(x->b, "%s::%s::weight::%" PRIu32 "\n%s::%s::health_flags::healthy\n",
			      x->c->name, a, weight, x->c->name, a);
}

static void clusters_entry(const struct pc_cluster *c, const struct pc_cluster_counts *cs,
			   bool json, struct pc_buf *b, bool first)
{
	struct clusters_ctx x = { b, c, json };
	uint64_t maxc = c->max_connections == UINT32_MAX ? UINT32_MAX : c->max_connections;

	if (!json) {
		pc_buf_printf(b,
			      "%s::default_priority::max_connections::%" PRIu64
			      "\n%s::upstream_cx_total::%" PRIu64
			      "\n%s::upstream_cx_active::%" PRIu64
			      "\n%s::upstream_cx_connect_fail::%" PRIu64 "\n",
			      c->name, maxc, c->name, cs->cx_total, c->name, cs->cx_active, c->name,
			      cs->connect_fail);
		each_endpoint(c, clusters_endpoint, &x);
		return;
	}
	pc_buf_printf(b, "%s{\"name\":", first ? "" : ",");
	pc_buf_add_json_str(b, c->name, strlen(c->name));
	pc_buf_printf(b,
		      ",\"max_connections\":%" PRIu64 ",\"upstream_cx_total\":%" PRIu64
		      ",\"upstream_cx_active\":%" PRIu64 ",\"upstream_cx_connect_fail\":%" PRIu64
		      ",\"endpoints\":[",
		      maxc, cs->cx_total, cs->cx_active, cs->connect_fail);
	each_endpoint(c, clusters_endpoint, &x);
	pc_buf_adds(b, "]}");
}

void pc_clusters_dump(const struct pc_snapshot *snap, bool json, pc_cluster_counts_fn *counts,
		      void *data, struct pc_buf *b)
{
	struct pc_cluster_counts cs;
	size_t i;

	if (json)
		pc_buf_adds(b, "{\"clusters\":[");
	for (i = 0; snap && i < snap->nclusters; i++) {
		const struct pc_cluster *c = &snap->clusters[i];

		memset(&cs, 0, sizeof(cs));
		if (counts && !counts(data, c->name, &cs))
			memset(&cs, 0, sizeof(cs));
		clusters_entry(c, &cs, json, b, i == 0);
	}
	if (json)
		pc_buf_adds(b, "]}\n");
}

/* ---- auto-allocated addresses (doc/dns.md) ---- */

void pc_snapshot_vips_json(const struct pc_snapshot *snap, struct pc_buf *b)
{
	char a[PC_ADDR_STRLEN];
	size_t i;

	pc_buf_addc(b, '[');
	for (i = 0; snap && i < snap->nvips; i++) {
		const struct pc_vip *v = &snap->vips[i];
		const struct pc_dns_host *h = pc_snapshot_dns_host(snap, v->name);
		bool in_force = h && h->alloc;

		pc_buf_adds(b, i ? ",{\"name\":" : "{\"name\":");
		json_str(b, v->name);
		pc_buf_adds(b, ",\"ipv4\":");
		json_str(b, v->v4.family ? pc_addr_str(&v->v4, a) : NULL);
		pc_buf_adds(b, ",\"ipv6\":");
		json_str(b, v->v6.family ? pc_addr_str(&v->v6, a) : NULL);
		pc_buf_adds(b, ",\"host\":");
		json_str(b, in_force ? h->host : NULL);
		pc_buf_adds(b, ",\"service\":");
		json_str(b, in_force ? h->origin : NULL);
		pc_buf_printf(b, ",\"in_force\":%s}", in_force ? "true" : "false");
	}
	pc_buf_addc(b, ']');
}
