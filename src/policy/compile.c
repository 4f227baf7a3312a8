/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * policy/compile.c - resources to an immutable policy snapshot.
 *
 * ServiceEntries are taken oldest first (creationTimestamp, then name, then
 * namespace: Istio's order, reference §5.3), so on a conflict the oldest
 * wins exactly as in Istio: the same prefix on the same port, or two
 * entries without addresses on one port. Each (ServiceEntry, port) becomes
 * one cluster named after the entry's first host, Istio's
 * outbound|<port>||<host>. DestinationRule TCP settings are attached to the
 * clusters of the host they name (exact host first, then the longest
 * matching wildcard). Only resources without errors are compiled.
 */
#include "policy/snapshot.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "model/common.h"
#include "model/destinationrule.h"
#include "model/manifest.h"
#include "model/rules.h"
#include "model/serviceentry.h"
#include "model/sidecar.h"
#include "model/trafficpolicy.h"
#include "model/workloadentry.h"
#include "policy/runtime.h"
#include "policy/trie.h"

struct builder {
	struct pc_snapshot *s;
	const struct pc_manifest *m;
	struct pc_cluster *clusters; /* malloc'd while building */
	size_t nclusters, capclusters;
	struct pc_port_policy *ports; /* malloc'd while building */
	size_t nports, capports;
	pc_conflict_fn *report;
	void *data;
	struct pc_runtime *rt;
};

static int by_age(const void *a, const void *b)
{
	const struct pc_resource *x = *(const struct pc_resource *const *)a;
	const struct pc_resource *y = *(const struct pc_resource *const *)b;
	const char *tx = x->meta.creation_timestamp ? x->meta.creation_timestamp : "";
	const char *ty = y->meta.creation_timestamp ? y->meta.creation_timestamp : "";
	int c = strcmp(tx, ty);

	if (c)
		return c;
	c = strcmp(x->meta.name ? x->meta.name : "", y->meta.name ? y->meta.name : "");
	if (c)
		return c;
	return strcmp(x->meta.ns, y->meta.ns);
}

/* The valid resources of <kind>, oldest first, in a malloc'd array. */
static int collect(const struct pc_manifest *m, enum pc_kind kind,
		   const struct pc_resource ***out, size_t *n)
{
	const struct pc_resource **v;
	size_t i, k = 0;

	/* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
	v = pc_calloc(m->nres ? m->nres : 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (i = 0; i < m->nres; i++) {
		if (m->res[i].kind == kind && m->res[i].nerr == 0 && m->res[i].spec)
			v[k++] = &m->res[i];
	}
	qsort(v, k, sizeof(*v), by_age); /* NOLINT(bugprone-sizeof-expression): pointers */
	*out = v;
	*n = k;
	return 0;
}

static void conflict(struct builder *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void conflict(struct builder *b, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	b->s->conflicts++;
	if (!b->report)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	b->report(b->data, msg);
}

static struct pc_cluster *new_cluster(struct builder *b)
{
	struct pc_cluster *c;

	if (b->nclusters == b->capclusters) {
		size_t cap = b->capclusters ? b->capclusters * 2 : 16;

		c = pc_realloc(b->clusters, cap * sizeof(*c));
		if (!c)
			return NULL;
		b->clusters = c;
		b->capclusters = cap;
	}
	c = &b->clusters[b->nclusters];
	memset(c, 0, sizeof(*c));
	c->id = (uint32_t)b->nclusters++;
	c->connect_timeout_ms = PC_DEFAULT_CONNECT_TIMEOUT_MS;
	c->idle_timeout_ms = PC_DEFAULT_IDLE_TIMEOUT_MS;
	c->max_connections = UINT32_MAX;
	return c;
}

static struct pc_port_policy *port_policy(struct builder *b, uint16_t port)
{
	struct pc_port_policy *p;
	size_t i;

	for (i = 0; i < b->nports; i++) {
		if (b->ports[i].port == port)
			return &b->ports[i];
	}
	if (b->nports == b->capports) {
		size_t cap = b->capports ? b->capports * 2 : 16;

		p = pc_realloc(b->ports, cap * sizeof(*p));
		if (!p)
			return NULL;
		b->ports = p;
		b->capports = cap;
	}
	p = &b->ports[b->nports];
	p->port = port;
	p->any_cluster = PC_TRIE_NONE;
	p->protocols = 0;
	p->needs_name = false;
	p->trie = pc_trie_new(b->s->arena);
	if (!p->trie)
		return NULL;
	b->nports++;
	return p;
}

/* The DestinationRule for <host>: exact host first, then the longest matching wildcard. */
static const struct pc_destination_rule *find_dr(const struct pc_resource **drs, size_t ndr,
						 const char *host)
{
	const struct pc_destination_rule *best = NULL;
	size_t i, bestlen = 0;

	for (i = 0; i < ndr; i++) {
		const struct pc_destination_rule *dr = drs[i]->spec;

		if (!dr->host)
			continue;
		if (strcmp(dr->host, host) == 0)
			return dr;
		if (dr->host[0] == '*' && pc_host_matches(dr->host, host) &&
		    strlen(dr->host) > bestlen) {
			best = dr;
			bestlen = strlen(dr->host);
		}
	}
	return best;
}

static void apply_tcp(struct pc_cluster *c, const struct pc_connection_pool *cp, bool top)
{
	const struct pc_connection_pool_tcp *tcp = cp ? cp->tcp : NULL;

	if (!tcp)
		return;
	if (pc_has(tcp, "connectTimeout"))
		c->connect_timeout_ms = (uint64_t)tcp->connect_timeout / 1000000u;
	if (pc_has(tcp, "maxConnections") && tcp->max_connections > 0)
		c->max_connections = (uint32_t)tcp->max_connections;
	/* tcp_proxy settings come from the top-level policy only (reference §3.1) */
	if (top && pc_has(tcp, "idleTimeout"))
		c->idle_timeout_ms = (uint64_t)tcp->idle_timeout / 1000000u;
	if (top && pc_has(tcp, "maxConnectionDuration"))
		c->max_duration_ms = (uint64_t)tcp->max_connection_duration / 1000000u;
}

static void apply_dr(struct pc_cluster *c, const struct pc_destination_rule *dr)
{
	const struct pc_traffic_policy *tp = dr ? dr->traffic_policy : NULL;
	size_t i;

	if (!tp)
		return;
	apply_tcp(c, tp->connection_pool, true);
	for (i = 0; i < tp->port_level_settings.n; i++) {
		const struct pc_port_traffic_policy *pl = &tp->port_level_settings.v[i];

		if (pl->port && pl->port->number == c->port)
			apply_tcp(c, pl->connection_pool, false);
	}
}

/* Endpoint port: the endpoint's ports map for the service port's name, else targetPort, else number. */
static uint16_t endpoint_port(const struct pc_workload_entry *we, const struct pc_service_port *sp)
{
	size_t i;

	for (i = 0; i < we->ports.n; i++) {
		if (sp->name && strcmp(we->ports.keys[i], sp->name) == 0)
			return (uint16_t)we->ports.vals[i];
	}
	return (uint16_t)(sp->target_port ? sp->target_port : sp->number);
}

static int static_endpoints(struct builder *b, struct pc_cluster *c,
			    const struct pc_service_entry *se, const struct pc_service_port *sp)
{
	size_t i;

	c->endpoints = pc_arena_calloc(b->s->arena, se->endpoints.n ? se->endpoints.n : 1,
				       sizeof(*c->endpoints));
	if (!c->endpoints)
		return -ENOMEM;
	for (i = 0; i < se->endpoints.n; i++) {
		const struct pc_workload_entry *we = &se->endpoints.v[i];
		struct pc_endpoint *ep = &c->endpoints[c->nendpoints];

		/* unix:// endpoints have no meaning for an egress TCP relay */
		if (!we->address || pc_addr_parse(we->address, &ep->addr) < 0)
			continue;
		ep->addr.port = endpoint_port(we, sp);
		ep->weight = we->weight ? we->weight : 1;
		c->total_weight += ep->weight;
		c->nendpoints++;
	}
	return 0;
}

static int dns_names(struct builder *b, struct pc_cluster *c, const struct pc_service_entry *se,
		     const struct pc_service_port *sp)
{
	size_t i, n = se->endpoints.n ? se->endpoints.n : se->hosts.n;

	c->dns_names = pc_arena_calloc(b->s->arena, n ? n : 1, sizeof(*c->dns_names));
	if (!c->dns_names)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		struct pc_dns_name *d = &c->dns_names[c->ndns_names];

		if (se->endpoints.n) {
			const struct pc_workload_entry *we = &se->endpoints.v[i];

			if (!we->address)
				continue;
			d->name = pc_arena_strdup(b->s->arena, we->address);
			d->port = endpoint_port(we, sp);
			d->weight = we->weight ? we->weight : 1;
		} else {
			d->name = pc_arena_strdup(b->s->arena, se->hosts.v[i]);
			d->port = (uint16_t)(sp->target_port ? sp->target_port : sp->number);
			d->weight = 1;
		}
		if (!d->name)
			return -ENOMEM;
		c->ndns_names++;
	}
	return 0;
}

static int fill_source(struct builder *b, struct pc_cluster *c, const struct pc_service_entry *se,
		       const struct pc_service_port *sp)
{
	switch (se->resolution) {
	case PC_SE_RESOLUTION_STATIC:
		c->source = PC_EP_STATIC;
		return static_endpoints(b, c, se, sp);
	case PC_SE_RESOLUTION_DNS:
		c->source = PC_EP_DNS;
		return dns_names(b, c, se, sp);
	case PC_SE_RESOLUTION_DNS_ROUND_ROBIN:
		c->source = PC_EP_DNS_RR;
		return dns_names(b, c, se, sp);
	default:
		c->source = PC_EP_ORIGINAL_DST;
		c->target_port = (uint16_t)sp->target_port;
		return 0;
	}
}

static int add_addresses(struct builder *b, struct pc_port_policy *pp, const struct pc_cluster *c,
			 const struct pc_service_entry *se)
{
	struct pc_prefix prefix;
	uint32_t old;
	size_t i;
	int ret;

	if (se->addresses.n == 0) {
		if (pp->any_cluster == PC_TRIE_NONE)
			pp->any_cluster = c->id;
		else
			conflict(b, "ServiceEntry %s/%s: port %u without addresses is already taken by "
				    "the older %s; its traffic goes there (as in Istio)",
				 c->ns, c->se_name, pp->port, b->clusters[pp->any_cluster].name);
		return 0;
	}
	for (i = 0; i < se->addresses.n; i++) {
		if (pc_prefix_parse(se->addresses.v[i], &prefix) < 0)
			continue; /* validation let it through: an IPv6 zone; never matches */
		ret = pc_trie_insert(pp->trie, &prefix, c->id, &old);
		if (ret < 0)
			return ret;
		if (old == PC_TRIE_NONE)
			continue;
		ret = pc_trie_insert(pp->trie, &prefix, old, NULL); /* the oldest wins */
		if (ret < 0)
			return ret;
		conflict(b, "ServiceEntry %s/%s: %s port %u is already taken by the older %s",
			 c->ns, c->se_name, se->addresses.v[i], pp->port, b->clusters[old].name);
	}
	return 0;
}

static int add_service_entry(struct builder *b, const struct pc_resource *r,
			     const struct pc_resource **drs, size_t ndr)
{
	const struct pc_service_entry *se = r->spec;
	struct pc_arena *a = b->s->arena;
	/* copies: the snapshot outlives the manifest (control.c frees deleted objects' batches) */
	const char *host = pc_arena_strdup(a, se->hosts.n ? se->hosts.v[0] : "");
	const char *ns = r->meta.ns ? pc_arena_strdup(a, r->meta.ns) : NULL;
	const char *name = r->meta.name ? pc_arena_strdup(a, r->meta.name) : NULL;
	size_t i;
	int ret;

	if (!host || (r->meta.ns && !ns) || (r->meta.name && !name))
		return -ENOMEM;
	for (i = 0; i < se->ports.n; i++) {
		const struct pc_service_port *sp = &se->ports.v[i];
		struct pc_port_policy *pp;
		struct pc_cluster *c;

		if (sp->protocol && pc_protocol_parse(sp->protocol) == PC_PROTO_UDP)
			continue; /* no TCP traffic to govern */
		c = new_cluster(b);
		if (!c)
			return -ENOMEM;
		c->kind = PC_CLUSTER_SERVICE;
		c->port = (uint16_t)sp->number;
		c->host = host;
		c->ns = ns;
		c->se_name = name;
		c->name = pc_arena_printf(a, "outbound|%u||%s", sp->number, host);
		if (!c->name)
			return -ENOMEM;
		ret = fill_source(b, c, se, sp);
		if (ret < 0)
			return ret;
		apply_dr(c, find_dr(drs, ndr, host));
		pp = port_policy(b, c->port);
		if (!pp)
			return -ENOMEM;
		if (sp->protocol)
			pp->protocols |= 1u << pc_protocol_parse(sp->protocol); /* denial answers */
		ret = add_addresses(b, pp, c, se);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static int catch_alls(struct builder *b)
{
	struct pc_cluster *c = new_cluster(b);

	if (!c)
		return -ENOMEM;
	c->kind = PC_CLUSTER_BLACKHOLE;
	c->name = "BlackHoleCluster";
	c = new_cluster(b);
	if (!c)
		return -ENOMEM;
	c->kind = PC_CLUSTER_PASSTHROUGH;
	c->name = "PassthroughCluster";
	c->source = PC_EP_ORIGINAL_DST;
	return 0;
}

static int policy_from_sidecars(const struct pc_manifest *m, int fallback)
{
	const struct pc_resource **v;
	size_t i, n;
	int policy = fallback < 0 ? PC_POLICY_REGISTRY_ONLY : fallback;

	if (collect(m, PC_KIND_SIDECAR, &v, &n) < 0)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		const struct pc_sidecar *sc = v[i]->spec;

		if (sc->workload_selector || !sc->outbound_traffic_policy)
			continue;
		policy = sc->outbound_traffic_policy->mode == PC_OUTBOUND_ALLOW_ANY
				 ? PC_POLICY_ALLOW_ANY
				 : PC_POLICY_REGISTRY_ONLY;
		break;
	}
	free(v);
	return policy;
}

static int cmp_port(const void *a, const void *b)
{
	const struct pc_port_policy *x = a, *y = b;

	return (x->port > y->port) - (x->port < y->port);
}

/* Move the building arrays into the arena, seal the tries. */
static int seal(struct builder *b)
{
	struct pc_snapshot *s = b->s;
	size_t i;
	int ret;

	s->clusters = pc_arena_calloc(s->arena, b->nclusters, sizeof(*s->clusters));
	s->ports = pc_arena_calloc(s->arena, b->nports ? b->nports : 1, sizeof(*s->ports));
	if (!s->clusters || !s->ports)
		return -ENOMEM;
	memcpy(s->clusters, b->clusters, b->nclusters * sizeof(*s->clusters));
	s->nclusters = b->nclusters;
	/* counters and DNS answers are not the snapshot's: bind to the long-lived ones */
	for (i = 0; i < s->nclusters; i++) {
		ret = pc_runtime_bind(b->rt, &s->clusters[i]);
		if (ret < 0)
			return ret;
	}
	if (b->nports)
		qsort(b->ports, b->nports, sizeof(*b->ports), cmp_port);
	for (i = 0; i < b->nports; i++) {
		pc_trie_seal(b->ports[i].trie);
		s->ports[i] = b->ports[i];
	}
	s->nports = b->nports;
	return 0;
}

static int build(struct builder *b)
{
	const struct pc_resource **ses = NULL, **drs = NULL;
	size_t i, nse, ndr;
	int ret;

	ret = catch_alls(b);
	if (ret < 0)
		return ret;
	ret = collect(b->m, PC_KIND_SERVICE_ENTRY, &ses, &nse);
	if (ret < 0)
		return ret;
	ret = collect(b->m, PC_KIND_DESTINATION_RULE, &drs, &ndr);
	if (ret < 0)
		goto out_free_ses;
	for (i = 0; i < nse && ret == 0; i++)
		ret = add_service_entry(b, ses[i], drs, ndr);
	if (ret == 0)
		ret = seal(b);
	free(drs);
out_free_ses:
	free(ses);
	return ret;
}

int pc_policy_compile(const struct pc_manifest *m, const struct pc_compile_opts *opts,
		      pc_conflict_fn *report, void *data, struct pc_snapshot **out)
{
	struct builder b = { 0 };
	struct pc_snapshot *s;
	int policy, ret;

	s = pc_calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->arena = pc_arena_new((size_t)16 * 1024);
	if (!s->arena) {
		free(s);
		return -ENOMEM;
	}
	atomic_init(&s->refs, 1);
	s->generation = opts->generation;
	s->proxy_port = opts->proxy_port ? opts->proxy_port : 15001;
	policy = policy_from_sidecars(m, opts->policy);
	if (policy < 0) {
		ret = policy;
		goto fail;
	}
	s->policy = (enum pc_outbound_policy)policy;
	b.s = s;
	b.m = m;
	b.report = report;
	b.data = data;
	b.rt = pc_runtime_default();
	if (!b.rt) {
		ret = -ENOMEM;
		goto fail;
	}
	ret = build(&b);
	if (ret < 0)
		goto fail;
	free(b.clusters);
	free(b.ports);
	*out = s;
	return 0;
fail:
	free(b.clusters);
	free(b.ports);
	pc_snapshot_unref(s);
	return ret;
}

static const struct pc_port_policy *find_port(const struct pc_snapshot *s, uint16_t port)
{
	size_t lo = 0, hi = s->nports;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->ports[mid].port == port)
			return &s->ports[mid];
		if (s->ports[mid].port < port)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

const struct pc_cluster *pc_snapshot_classify(const struct pc_snapshot *s,
					      const struct pc_addr *dst, const char *name)
{
	const struct pc_port_policy *pp;
	uint32_t id;

	(void)name; /* no name-based entries are compiled yet: the address decides */
	if (dst->port == s->proxy_port)
		return &s->clusters[PC_CLUSTER_BLACKHOLE_ID]; /* loop guard */
	pp = find_port(s, dst->port);
	if (pp) {
		id = pc_trie_lookup(pp->trie, dst, NULL);
		if (id == PC_TRIE_NONE)
			id = pp->any_cluster;
		if (id != PC_TRIE_NONE)
			return &s->clusters[id];
	}
	return &s->clusters[s->policy == PC_POLICY_ALLOW_ANY ? PC_CLUSTER_PASSTHROUGH_ID
							      : PC_CLUSTER_BLACKHOLE_ID];
}

bool pc_snapshot_port_needs_name(const struct pc_snapshot *s, uint16_t port)
{
	const struct pc_port_policy *pp = find_port(s, port);

	return pp && pp->needs_name;
}

bool pc_snapshot_port_declares(const struct pc_snapshot *s, uint16_t port, int protocol)
{
	const struct pc_port_policy *pp = find_port(s, port);

	return pp && protocol >= 0 && protocol < 32 && (pp->protocols & (1u << protocol));
}

/* The prefix of length <len> that holds <a>. */
static void prefix_of(const struct pc_addr *a, uint8_t len, struct pc_prefix *out)
{
	unsigned i;

	out->addr = *a;
	out->addr.port = 0;
	out->len = len;
	for (i = 0; i < sizeof(out->addr.bytes); i++) {
		unsigned keep = len > 8 * i ? len - 8 * i : 0;

		if (keep < 8)
			out->addr.bytes[i] &= (uint8_t)(0xff00u >> keep);
	}
}

/* The index of the first port policy whose port is not below <port>. */
static size_t port_index(const struct pc_snapshot *s, uint16_t port)
{
	size_t lo = 0, hi = s->nports;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->ports[mid].port < port)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static unsigned gap(uint16_t a, uint16_t b)
{
	return a > b ? (unsigned)(a - b) : (unsigned)(b - a);
}

/*
 * Ports are visited outward from dst's, nearest first, so the first entry
 * found with the longest prefix is also the one on the nearest port, and
 * the walk can stop after PC_NEAREST_PORTS of them.
 */
void pc_snapshot_nearest(const struct pc_snapshot *s, const struct pc_addr *dst,
			 struct pc_near *same_port, struct pc_near *same_addr)
{
	size_t left, right, seen;
	struct pc_prefix p;
	uint32_t id;
	uint8_t len;

	memset(same_port, 0, sizeof(*same_port));
	memset(same_addr, 0, sizeof(*same_addr));
	right = port_index(s, dst->port);
	left = right;
	if (right < s->nports && s->ports[right].port == dst->port) {
		id = pc_trie_nearest(s->ports[right].trie, dst, &p);
		if (id != PC_TRIE_NONE) {
			same_port->cluster = &s->clusters[id];
			same_port->prefix = p;
			same_port->port = dst->port;
		}
		right++;
	}
	for (seen = 0; seen < PC_NEAREST_PORTS && (left > 0 || right < s->nports); seen++) {
		/* ports below dst's are at left - 1 and down, above it at right and up */
		unsigned below = left > 0 ? gap(dst->port, s->ports[left - 1].port) : 0x10000u;
		unsigned above =
			right < s->nports ? gap(dst->port, s->ports[right].port) : 0x10000u;
		const struct pc_port_policy *pp;

		pp = below <= above ? &s->ports[--left] : &s->ports[right++];
		id = pc_trie_lookup(pp->trie, dst, &len);
		if (id == PC_TRIE_NONE || (same_addr->cluster && len <= same_addr->prefix.len))
			continue;
		same_addr->cluster = &s->clusters[id];
		prefix_of(dst, len, &same_addr->prefix);
		same_addr->port = pp->port;
	}
}

struct pc_snapshot *pc_snapshot_ref(struct pc_snapshot *s)
{
	atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
	return s;
}

void pc_snapshot_unref(struct pc_snapshot *s)
{
	size_t i;

	if (!s)
		return;
	if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
		return;
	for (i = 0; s->clusters && i < s->nclusters; i++)
		pc_runtime_unbind(&s->clusters[i]);
	pc_arena_free(s->arena);
	free(s);
}
