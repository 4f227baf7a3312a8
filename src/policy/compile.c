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
 * clusters by Istio's lookup (policy/scope.h). Only resources without errors
 * that are in force for this workload (its Sidecar, exportTo, egress hosts)
 * are compiled, and of a ServiceEntry only the hosts and ports it imports.
 *
 * Each port becomes Envoy's filter chains (doc/internals/chains.md):
 * destination-prefix levels in a trie, and per level the chain without
 * criteria (TCP ports, TLS ports with addresses) and the server-name
 * chains (policy/chains.h): SNI for TLS ports without addresses, Host for
 * HTTP ports, and the SNI chains of VirtualService tls routes, which
 * replace the default chain of the services they apply to, as in Istio.
 * ServiceEntries are compiled in three passes: clusters, then the
 * VirtualService chains (which need the clusters), then the default
 * chains of the services no VirtualService took over.
 */
#include "policy/snapshot.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "model/common.h"
#include "model/destinationrule.h"
#include "model/manifest.h"
#include "model/rules.h"
#include "model/serviceentry.h"
#include "model/sidecar.h"
#include "model/trafficpolicy.h"
#include "model/virtualservice.h"
#include "model/workloadentry.h"
#include "policy/alloc.h"
#include "policy/chains.h"
#include "policy/names.h"
#include "policy/runtime.h"
#include "policy/scope.h"
#include "policy/trie.h"

/* A port's protocol family, for its filter chains. */
enum family {
	FAM_TCP,  /* TCP, server-first protocols, undeclared: no criteria */
	FAM_TLS,  /* TLS, HTTPS: SNI when without addresses */
	FAM_HTTP, /* HTTP, HTTP2, HTTP_PROXY, GRPC, GRPC-Web: Host */
};

/* One (ServiceEntry, port) while compiling. */
struct svc {
	const struct pc_resource *r;
	const struct pc_service_entry *se;
	const struct pc_service_port *sp;
	size_t port;             /* index in builder.ports */
	size_t sp_index;         /* index of <sp> in se->ports */
	size_t main;             /* the first host imported on this port: the address chains' */
	uint32_t *host_clusters; /* per host: its cluster, PC_TRIE_NONE until made */
	enum family fam;
	bool covered;     /* a VirtualService route took over its default chain */
	bool vs_tcp;      /* a VirtualService tcp route was installed for it */
	bool routed_only; /* only a VirtualService's destination: a cluster, no chains */
};

struct builder {
	struct pc_snapshot *s;
	const struct pc_manifest *m;
	struct pc_cluster *clusters; /* malloc'd while building */
	size_t nclusters, capclusters;
	struct pc_port_policy *ports; /* malloc'd while building */
	size_t nports, capports;
	size_t *caplevels; /* per port: room in ports[i].levels (malloc'd while building) */
	pc_conflict_fn *report;
	void *data;
	struct pc_runtime *rt;
	const struct pc_compile_opts *opts;
	struct pc_scope scope; /* what is in force for this workload */
	struct svc *svcs;      /* malloc'd */
	size_t nsvcs, capsvcs;
	struct pc_chain_set chains;
	struct pc_udp_allow *udp; /* malloc'd while building */
	size_t nudp, capudp;
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

/* The resources of <kind> in force for this workload, oldest first, in a malloc'd array. */
static int collect(const struct builder *b, enum pc_kind kind, const struct pc_resource ***out,
		   size_t *n)
{
	const struct pc_manifest *m = b->m;
	const struct pc_resource **v;
	size_t i, k = 0;

	/* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
	v = pc_calloc(m->nres ? m->nres : 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (i = 0; i < m->nres; i++) {
		if (m->res[i].kind == kind && pc_scope_of(&b->scope, &m->res[i])->in_force)
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

/* The index of the port policy of <port>, made when missing; -ENOMEM. */
static long port_policy(struct builder *b, uint16_t port)
{
	struct pc_port_policy *p;
	size_t i, *caps;

	for (i = 0; i < b->nports; i++) {
		if (b->ports[i].port == port)
			return (long)i;
	}
	if (b->nports == b->capports) {
		size_t cap = b->capports ? b->capports * 2 : 16;

		p = pc_realloc(b->ports, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		b->ports = p;
		caps = pc_realloc(b->caplevels, cap * sizeof(*caps));
		if (!caps)
			return -ENOMEM;
		b->caplevels = caps;
		b->capports = cap;
	}
	p = &b->ports[b->nports];
	memset(p, 0, sizeof(*p));
	p->port = port;
	p->any_level = PC_TRIE_NONE;
	p->any_cluster = PC_TRIE_NONE;
	p->trie = pc_trie_new(b->s->arena);
	if (!p->trie)
		return -ENOMEM;
	b->caplevels[b->nports] = 0;
	return (long)b->nports++;
}

static long new_level(struct builder *b, size_t pi)
{
	struct pc_port_policy *pp = &b->ports[pi];
	struct pc_chain_level *lv;

	if (pp->nlevels == b->caplevels[pi]) {
		size_t cap = b->caplevels[pi] ? b->caplevels[pi] * 2 : 4;

		lv = pc_realloc(pp->levels, cap * sizeof(*lv));
		if (!lv)
			return -ENOMEM;
		pp->levels = lv;
		b->caplevels[pi] = cap;
	}
	lv = &pp->levels[pp->nlevels];
	memset(lv, 0, sizeof(*lv));
	lv->tcp = PC_TRIE_NONE;
	return (long)pp->nlevels++;
}

/* The level of <prefix> (NULL: the level without a prefix) on port <pi>, made when missing. */
static long level_at(struct builder *b, size_t pi, const struct pc_prefix *prefix)
{
	struct pc_port_policy *pp = &b->ports[pi];
	uint32_t old;
	long idx;
	int ret;

	if (!prefix) {
		if (pp->any_level != PC_TRIE_NONE)
			return pp->any_level;
		idx = new_level(b, pi);
		if (idx < 0)
			return idx;
		pp->levels[idx].any = true;
		pp->any_level = (uint32_t)idx;
		return idx;
	}
	ret = pc_trie_insert(pp->trie, prefix, (uint32_t)pp->nlevels, &old);
	if (ret < 0)
		return ret;
	if (old != PC_TRIE_NONE) {
		ret = pc_trie_insert(pp->trie, prefix, old, NULL); /* the level exists: keep it */
		return ret < 0 ? ret : (long)old;
	}
	idx = new_level(b, pi);
	if (idx < 0)
		return idx;
	pp->levels[idx].prefix = *prefix;
	return idx;
}

/* The DestinationRule a service of namespace <ns> with <host> takes here (policy/scope.h). */
static const struct pc_destination_rule *find_dr(const struct builder *b, const char *host,
						 const char *ns)
{
	const struct pc_resource *r = pc_scope_dr(&b->scope, host, ns);

	return r ? r->spec : NULL;
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

/*
 * The names a DNS cluster resolves: its endpoints, else the entry's hosts,
 * or only <only> when the cluster serves one host (a chain by name: the
 * SNI a.example.com must not reach b.example.com's addresses).
 */
static int dns_names(struct builder *b, struct pc_cluster *c, const struct pc_service_entry *se,
		     const struct pc_service_port *sp, const char *only)
{
	size_t i, n = se->endpoints.n ? se->endpoints.n : only ? 1 : se->hosts.n;

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
			d->name = pc_arena_strdup(b->s->arena, only ? only : se->hosts.v[i]);
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
		       const struct pc_service_port *sp, const char *only)
{
	switch (se->resolution) {
	case PC_SE_RESOLUTION_STATIC:
		c->source = PC_EP_STATIC;
		return static_endpoints(b, c, se, sp);
	case PC_SE_RESOLUTION_DNS:
		c->source = PC_EP_DNS;
		return dns_names(b, c, se, sp, only);
	case PC_SE_RESOLUTION_DNS_ROUND_ROBIN:
		c->source = PC_EP_DNS_RR;
		return dns_names(b, c, se, sp, only);
	case PC_SE_RESOLUTION_DYNAMIC_DNS:
		/* the session resolves the SNI or Host itself (validation: TLS/HTTP ports only) */
		c->source = PC_EP_DYNAMIC;
		c->target_port = (uint16_t)sp->target_port;
		return 0;
	default:
		c->source = PC_EP_ORIGINAL_DST;
		c->target_port = (uint16_t)sp->target_port;
		return 0;
	}
}

/* The port's protocol (declared, else from its name) and its chain family. */
static enum pc_protocol port_protocol(const struct pc_service_port *sp, enum family *fam)
{
	enum pc_protocol p = pc_service_port_protocol(sp);

	*fam = pc_protocol_is_tls(p) ? FAM_TLS : pc_protocol_is_http(p) ? FAM_HTTP : FAM_TCP;
	return p;
}

static char *lower_dup(struct pc_arena *a, const char *s)
{
	char *d = pc_arena_strdup(a, s);
	char *p;

	for (p = d; p && *p; p++) {
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	}
	return d;
}

/*
 * The cluster of host <hi> of <sv>: outbound|port||host, made on first
 * use. Host 0's is made with the service; a DNS cluster for one host
 * resolves only that host when the port is matched by name.
 */
static long host_cluster(struct builder *b, struct svc *sv, size_t hi)
{
	const struct pc_service_entry *se = sv->se;
	const struct pc_service_port *sp = sv->sp;
	struct pc_arena *a = b->s->arena;
	bool one = sv->fam == FAM_HTTP || (sv->fam == FAM_TLS && se->addresses.n == 0);
	const char *host = se->hosts.n ? se->hosts.v[hi] : "";
	struct pc_cluster *c;
	enum family fam;
	int ret;

	if (sv->host_clusters[hi] != PC_TRIE_NONE)
		return sv->host_clusters[hi];
	c = new_cluster(b);
	if (!c)
		return -ENOMEM;
	c->kind = PC_CLUSTER_SERVICE;
	c->port = (uint16_t)sp->number;
	c->host = pc_arena_strdup(a, host);
	/* copies: the snapshot outlives the manifest (control.c frees deleted objects' batches) */
	c->ns = sv->r->meta.ns ? pc_arena_strdup(a, sv->r->meta.ns) : NULL;
	c->se_name = sv->r->meta.name ? pc_arena_strdup(a, sv->r->meta.name) : NULL;
	c->name = pc_arena_printf(a, "outbound|%u||%s", sp->number, host);
	if (!c->host || !c->name || (sv->r->meta.ns && !c->ns) || (sv->r->meta.name && !c->se_name))
		return -ENOMEM;
	c->protocol = (int)port_protocol(sp, &fam);
	c->http = fam == FAM_HTTP;
	ret = fill_source(b, c, se, sp, one && se->hosts.n ? c->host : NULL);
	if (ret < 0)
		return ret;
	apply_dr(c, find_dr(b, c->host, sv->r->meta.ns));
	sv->host_clusters[hi] = c->id;
	return c->id;
}

static struct svc *new_svc(struct builder *b)
{
	struct svc *v;

	if (b->nsvcs == b->capsvcs) {
		size_t cap = b->capsvcs ? b->capsvcs * 2 : 16;

		v = pc_realloc(b->svcs, cap * sizeof(*v));
		if (!v)
			return NULL;
		b->svcs = v;
		b->capsvcs = cap;
	}
	v = &b->svcs[b->nsvcs++];
	memset(v, 0, sizeof(*v));
	return v;
}

/* Is host <h> of <sv> imported on its port (policy/scope.h)? */
static bool host_visible(const struct builder *b, const struct svc *sv, size_t h)
{
	return pc_scope_visible(&b->scope, sv->r, h, sv->sp_index);
}

typedef bool host_pred_fn(const struct pc_scope *s, const struct pc_resource *r, size_t h,
			  size_t p);

/* The first host of <r> that <pred> holds for on its port <p>, or SIZE_MAX. */
static size_t first_visible(const struct builder *b, const struct pc_resource *r, size_t p,
			    host_pred_fn *pred)
{
	const struct pc_service_entry *se = r->spec;
	size_t h, nh = se->hosts.n ? se->hosts.n : 1;

	for (h = 0; h < nh; h++) {
		if (pred(&b->scope, r, h, p))
			return h;
	}
	return SIZE_MAX;
}

/* Is some host of <r> visible on its port <p>? */
static bool port_visible(const struct builder *b, const struct pc_resource *r, size_t p)
{
	return first_visible(b, r, p, pc_scope_visible) != SIZE_MAX;
}

/* A UDP port of an entry in force: each of its addresses, for netfilter (snapshot.h). */
static int add_udp(struct builder *b, const struct pc_resource *r, size_t p)
{
	const struct pc_service_entry *se = r->spec;
	size_t a;

	if (!port_visible(b, r, p))
		return 0;
	for (a = 0; a < se->addresses.n; a++) {
		struct pc_udp_allow *u;

		if (b->nudp == b->capudp) {
			size_t cap = b->capudp ? b->capudp * 2 : 8;

			u = pc_realloc(b->udp, cap * sizeof(*u));
			if (!u)
				return -ENOMEM;
			b->udp = u;
			b->capudp = cap;
		}
		u = &b->udp[b->nudp];
		if (pc_prefix_parse(se->addresses.v[a], &u->prefix) < 0)
			continue; /* an IPv6 zone (validation let it through) */
		u->port = (uint16_t)se->ports.v[p].number;
		b->nudp++;
	}
	return 0;
}

static int cmp_udp(const void *pa, const void *pb)
{
	const struct pc_udp_allow *a = pa, *b = pb;
	int c = a->prefix.addr.family - b->prefix.addr.family;

	if (!c)
		c = memcmp(a->prefix.addr.bytes, b->prefix.addr.bytes,
			   sizeof(a->prefix.addr.bytes));
	if (!c)
		c = (int)a->prefix.len - (int)b->prefix.len;
	return c ? c : (int)a->port - (int)b->port;
}

/* The UDP list, sorted and without repeats, into the snapshot's arena. */
static int seal_udp(struct builder *b)
{
	struct pc_udp_allow *v;
	size_t i, n = 0;

	if (!b->nudp)
		return 0;
	qsort(b->udp, b->nudp, sizeof(*b->udp), cmp_udp);
	v = pc_arena_calloc(b->s->arena, b->nudp, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (i = 0; i < b->nudp; i++) {
		if (n && cmp_udp(&v[n - 1], &b->udp[i]) == 0)
			continue;
		v[n++] = b->udp[i];
	}
	b->s->udp = v;
	b->s->nudp = n;
	return 0;
}

/* Pass 1: a service (and its first host's cluster) per (ServiceEntry, imported TCP port). */
static int add_service_entry(struct builder *b, const struct pc_resource *r)
{
	const struct pc_service_entry *se = r->spec;
	size_t i, h, main, nh = se->hosts.n ? se->hosts.n : 1;

	for (i = 0; i < se->ports.n; i++) {
		const struct pc_service_port *sp = &se->ports.v[i];
		enum pc_protocol proto;
		struct svc *sv;
		long pi, id;

		if (sp->protocol && pc_protocol_parse(sp->protocol) == PC_PROTO_UDP) {
			int ret = add_udp(b, r, i); /* no TCP traffic to govern */

			if (ret < 0)
				return ret;
			continue;
		}
		main = first_visible(b, r, i, pc_scope_visible);
		if (main == SIZE_MAX)
			main = first_visible(b, r, i, pc_scope_routed);
		if (main == SIZE_MAX)
			continue; /* the workload's Sidecar does not import it on this port */
		pi = port_policy(b, (uint16_t)sp->number);
		if (pi < 0)
			return (int)pi;
		sv = new_svc(b);
		if (!sv)
			return -ENOMEM;
		sv->r = r;
		sv->se = se;
		sv->sp = sp;
		sv->sp_index = i;
		sv->main = main;
		sv->routed_only = !pc_scope_visible(&b->scope, r, main, i);
		sv->port = (size_t)pi;
		proto = port_protocol(sp, &sv->fam);
		if (proto != PC_PROTO_UNSUPPORTED)
			b->ports[pi].protocols |= 1u << proto; /* denial answers */
		/* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of ids */
		sv->host_clusters = pc_calloc(nh, sizeof(*sv->host_clusters));
		if (!sv->host_clusters)
			return -ENOMEM;
		for (h = 0; h < nh; h++)
			sv->host_clusters[h] = PC_TRIE_NONE;
		id = host_cluster(b, sv, main);
		if (id < 0)
			return (int)id;
	}
	return 0;
}

static const char *origin_of(struct builder *b, const char *kind, const struct pc_resource *r)
{
	return pc_arena_printf(b->s->arena, "%s %s/%s", kind, r->meta.ns ? r->meta.ns : "",
			       r->meta.name ? r->meta.name : "");
}

/* A chain on level <lv> of port <pi> to the one cluster <cluster>. */
static int add_name_chain(struct builder *b, size_t pi, uint32_t lv, enum pc_chain_kind kind,
			  const char *name, const char *origin, uint32_t cluster)
{
	struct pc_route *rt = pc_arena_alloc(b->s->arena, sizeof(*rt));
	struct pc_chain c = { 0 };

	if (!rt || !origin || (name && !(c.name = lower_dup(b->s->arena, name))))
		return -ENOMEM;
	rt->cluster = cluster;
	rt->weight = 1;
	c.origin = origin;
	c.routes = rt;
	c.nroutes = 1;
	c.total_weight = 1;
	b->clusters[cluster].by_name = true;
	return pc_chain_add(&b->chains, pi, lv, kind, false, &c);
}

/* The chain without criteria on level <lv>: the oldest entry keeps it. */
static void add_tcp_chain(struct builder *b, size_t pi, uint32_t lv, const struct svc *sv,
			  uint32_t cluster, const char *addr)
{
	struct pc_port_policy *pp = &b->ports[pi];
	struct pc_chain_level *l = &pp->levels[lv];
	const struct pc_cluster *c = &b->clusters[cluster];

	if (l->tcp_routes && sv->vs_tcp)
		return; /* its own route's subnets are its addresses: one chain, as in Istio */
	if (l->tcp == PC_TRIE_NONE) {
		l->tcp = cluster;
		if (l->any)
			pp->any_cluster = cluster;
		return;
	}
	if (l->any)
		conflict(b,
			 "ServiceEntry %s/%s: port %u without addresses is already taken by "
			 "the older %s; its traffic goes there (as in Istio)",
			 c->ns, c->se_name, pp->port, b->clusters[l->tcp].name);
	else
		conflict(b, "ServiceEntry %s/%s: %s port %u is already taken by the older %s",
			 c->ns, c->se_name, addr, pp->port, b->clusters[l->tcp].name);
}

/* Whether <p> is one address (/32, /128): a dedicated VIP, not a range. */
/* Does address <a> of <sv> keep its listener key for some visible host (scope.h)? */
static bool addr_open(const struct builder *b, const struct svc *sv, size_t a)
{
	size_t h;

	for (h = 0; h < (sv->se->hosts.n ? sv->se->hosts.n : 1); h++) {
		if (host_visible(b, sv, h) && pc_scope_open(&b->scope, sv->r, h, sv->sp_index, a))
			return true;
	}
	return false;
}

/* Pass 3: the chains of a service no VirtualService took over (reference §5.2). */
static int default_chains(struct builder *b, struct svc *sv)
{
	const struct pc_service_entry *se = sv->se;
	struct pc_prefix prefix;
	const char *origin;
	uint32_t main = sv->host_clusters[sv->main];
	size_t i, h, nlv = se->addresses.n ? se->addresses.n : 1;
	long lv, id;
	int ret;

	if (sv->covered || sv->routed_only)
		return 0;
	origin = origin_of(b, "ServiceEntry", sv->r);
	for (i = 0; i < nlv; i++) {
		if (!addr_open(b, sv, i))
			continue; /* an egress listener with this port has its key (scope.h) */
		if (se->addresses.n) {
			if (pc_prefix_parse(se->addresses.v[i], &prefix) < 0)
				continue; /* an IPv6 zone (validation let it through) */
			lv = level_at(b, sv->port, &prefix);
		} else {
			lv = level_at(b, sv->port, NULL);
		}
		if (lv < 0)
			return (int)lv;
		/*
		 * A TLS port keyed on a plain IP (a dedicated VIP: Istio's IP:port
		 * listener) ignores the SNI; on a CIDR, or without addresses, the
		 * SNI must be a host (Istio's buildSidecarOutboundTLSFilterChainOpts:
		 * "use the hostname as the SNI value if the destination is a CIDR").
		 */
		if (sv->fam == FAM_TCP ||
		    (sv->fam == FAM_TLS && se->addresses.n && pc_prefix_is_host(&prefix))) {
			add_tcp_chain(b, sv->port, (uint32_t)lv, sv, main,
				      se->addresses.n ? se->addresses.v[i] : NULL);
			continue;
		}
		/* by name: SNI (TLS on a CIDR or without addresses) or Host (HTTP) */
		b->ports[sv->port].needs_name = true;
		for (h = 0; h < se->hosts.n; h++) {
			if (!host_visible(b, sv, h) ||
			    !pc_scope_open(&b->scope, sv->r, h, sv->sp_index, i))
				continue; /* hidden by the workload's Sidecar */
			id = host_cluster(b, sv, h);
			if (id < 0)
				return (int)id;
			ret = add_name_chain(b, sv->port, (uint32_t)lv,
					     sv->fam == FAM_TLS ? PC_CHAIN_TLS : PC_CHAIN_HTTP,
					     se->hosts.v[h], origin, (uint32_t)id);
			if (ret < 0)
				return ret;
		}
		/* Istio's route domains hold the VIP too: a Host that is an IP literal */
		if (sv->fam == FAM_HTTP && se->addresses.n) {
			ret = add_name_chain(b, sv->port, (uint32_t)lv, PC_CHAIN_HTTP_IP, NULL,
					     origin, main);
			if (ret < 0)
				return ret;
		}
	}
	return 0;
}

/* ---- the DNS name table and auto-allocated addresses (doc/dns.md) ---- */

/* The addresses of <se> that are one address each, for answers (arena). */
static int host_ips(struct builder *b, const struct pc_service_entry *se, struct pc_dns_host *h)
{
	struct pc_addr *ips;
	struct pc_prefix p;
	size_t a;

	if (!se->addresses.n)
		return 0;
	ips = pc_arena_calloc(b->s->arena, se->addresses.n, sizeof(*ips));
	if (!ips)
		return -ENOMEM;
	for (a = 0; a < se->addresses.n; a++) {
		if (pc_prefix_parse(se->addresses.v[a], &p) == 0 && pc_prefix_is_host(&p))
			ips[h->nips++] = p.addr;
	}
	h->ips = ips;
	return 0;
}

/* The entry of host <k> of <sv>. */
static int dns_host(struct builder *b, const struct svc *sv, size_t k, struct pc_dns_host *h)
{
	const struct pc_service_entry *se = sv->se;

	memset(h, 0, sizeof(*h));
	h->host = lower_dup(b->s->arena, se->hosts.v[k]);
	h->origin = origin_of(b, "ServiceEntry", sv->r);
	h->has_addresses = se->addresses.n > 0;
	h->alloc = !se->addresses.n && se->resolution != PC_SE_RESOLUTION_DYNAMIC_DNS;
	if (!h->host || !h->origin)
		return -ENOMEM;
	return host_ips(b, se, h);
}

/* A host entry per visible host of every service, oldest first; sealed into the snapshot. */
static int dns_hosts(struct builder *b)
{
	struct pc_dns_host *v = NULL, *h;
	size_t i, k, n = 0, cap = 0;
	int ret = 0;

	for (i = 0; i < b->nsvcs && ret == 0; i++) {
		const struct svc *sv = &b->svcs[i];

		for (k = 0; !sv->routed_only && k < sv->se->hosts.n && ret == 0; k++) {
			if (!host_visible(b, sv, k))
				continue;
			if (n == cap) {
				cap = cap ? cap * 2 : 16;
				h = pc_realloc(v, cap * sizeof(*v));
				ret = h ? 0 : -ENOMEM;
				v = h ? h : v;
			}
			if (ret == 0)
				ret = dns_host(b, sv, k, &v[n++]);
		}
	}
	if (ret == 0)
		ret = pc_names_seal_hosts(b->s, v, n);
	free(v);
	return ret;
}

/*
 * The cluster of an allocated name on <sv>'s port: the host's own cluster
 * when it resolves that exact host (DNS, DNS_ROUND_ROBIN, STATIC);
 * otherwise one for the name, outbound|port||name, which resolves the
 * name itself (NONE: the app asked for it, so the real resolver's answer
 * for it is where it goes) or takes the entry's endpoints.
 */
static long vip_cluster(struct builder *b, struct svc *sv, size_t hi, const char *name)
{
	const struct pc_service_entry *se = sv->se;
	const struct pc_service_port *sp = sv->sp;
	struct pc_arena *a = b->s->arena;
	struct pc_cluster *c;
	enum family fam;
	int ret;

	if (se->resolution != PC_SE_RESOLUTION_NONE && se->hosts.v[hi][0] != '*')
		return host_cluster(b, sv, hi);
	c = new_cluster(b);
	if (!c)
		return -ENOMEM;
	c->kind = PC_CLUSTER_SERVICE;
	c->port = (uint16_t)sp->number;
	c->host = pc_arena_strdup(a, name);
	c->ns = sv->r->meta.ns ? pc_arena_strdup(a, sv->r->meta.ns) : NULL;
	c->se_name = sv->r->meta.name ? pc_arena_strdup(a, sv->r->meta.name) : NULL;
	c->name = pc_arena_printf(a, "outbound|%u||%s", sp->number, name);
	if (!c->host || !c->name || (sv->r->meta.ns && !c->ns) || (sv->r->meta.name && !c->se_name))
		return -ENOMEM;
	c->protocol = (int)port_protocol(sp, &fam);
	c->http = fam == FAM_HTTP;
	if (se->resolution == PC_SE_RESOLUTION_NONE) {
		c->source = PC_EP_DNS;
		ret = dns_names(b, c, se, sp, name);
	} else {
		ret = fill_source(b, c, se, sp, name);
	}
	if (ret < 0)
		return ret;
	apply_dr(c, find_dr(b, name, sv->r->meta.ns));
	return c->id;
}

/* The index of host <pattern> in <sv>'s entry if it is visible there, else SIZE_MAX. */
static size_t svc_host(const struct builder *b, const struct svc *sv, const char *pattern)
{
	size_t h;

	for (h = 0; h < sv->se->hosts.n; h++) {
		if (strcasecmp(sv->se->hosts.v[h], pattern) == 0 && host_visible(b, sv, h))
			return h;
	}
	return SIZE_MAX;
}

/* Chains on the addresses of <v> on <sv>'s port to <cluster>. */
static int vip_levels(struct builder *b, struct svc *sv, const struct pc_vip *v, uint32_t cluster)
{
	const struct pc_addr *addrs[2] = { &v->v4, &v->v6 };
	char str[64];
	size_t i;
	int ret;

	for (i = 0; i < 2; i++) {
		struct pc_prefix p = { .addr = *addrs[i] };
		long lv;

		if (!p.addr.family)
			continue;
		p.addr.port = 0;
		p.len = p.addr.family == AF_INET ? 32 : 128;
		lv = level_at(b, sv->port, &p);
		if (lv < 0)
			return (int)lv;
		if (sv->fam != FAM_TCP) {
			/*
			 * HTTP: the Host is still checked, request by request. TLS: the
			 * SNI must be the name, so the address of a name under a
			 * wildcard cannot front another (beyond Istio's VIP listener,
			 * which ignores the SNI, but Istio allocates no wildcard VIP).
			 */
			b->ports[sv->port].needs_name = true;
			ret = add_name_chain(b, sv->port, (uint32_t)lv,
					     sv->fam == FAM_TLS ? PC_CHAIN_TLS : PC_CHAIN_HTTP,
					     v->name, origin_of(b, "ServiceEntry", sv->r), cluster);
			if (ret < 0)
				return ret;
			continue;
		}
		add_tcp_chain(b, sv->port, (uint32_t)lv, sv, cluster, pc_addr_str(&p.addr, str));
	}
	return 0;
}

/*
 * The chains of the allocated names: a name that a visible entry without
 * addresses covers (policy/names.c: exact host, else the longest
 * wildcard) is a service of its own on each port of that entry, keyed on
 * its addresses as Istio keys a VIP's listener, so two entries without
 * addresses on one port no longer collide on 0.0.0.0:port. On a port
 * several entries with the host share, the oldest takes it.
 */
/* The chains of allocation <i> on each port of the services that cover it. */
static int vip_chain(struct builder *b, size_t i, uint32_t *taken)
{
	const struct pc_vip *v = &b->opts->vips[i];
	const struct pc_dns_host *dh = pc_snapshot_dns_host(b->s, v->name);
	size_t k, h;
	long id;
	int ret;

	if (!dh || !dh->alloc)
		return 0; /* no entry in force covers it now: no chain, denied */
	for (k = 0; k < b->nsvcs; k++) {
		struct svc *sv = &b->svcs[k];

		if (sv->routed_only || sv->se->addresses.n ||
		    sv->se->resolution == PC_SE_RESOLUTION_DYNAMIC_DNS)
			continue;
		h = svc_host(b, sv, dh->host);
		if (h == SIZE_MAX || taken[sv->port] == i + 1)
			continue; /* not this name's, or an older entry has this port */
		taken[sv->port] = (uint32_t)(i + 1);
		id = vip_cluster(b, sv, h, v->name);
		if (id < 0)
			return (int)id;
		ret = vip_levels(b, sv, v, (uint32_t)id);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static int vip_chains(struct builder *b)
{
	uint32_t *taken; /* per port: the allocation (+1) that has it */
	size_t i;
	int ret = 0;

	if (!b->opts->nvips)
		return 0;
	taken = pc_calloc(b->nports ? b->nports : 1, sizeof(*taken));
	if (!taken)
		return -ENOMEM;
	for (i = 0; i < b->opts->nvips && ret == 0; i++)
		ret = vip_chain(b, i, taken);
	free(taken);
	return ret;
}

/* ---- VirtualService tls routes (reference §2) ---- */

/*
 * The config-time selectors of a tls or tcp match (reference §2.1; their
 * fields are alike): gateways (the match's must include mesh when it has
 * any; a VirtualService whose own gateways lack mesh is not in force,
 * policy/scope.c), port (0: any), sourceNamespace (the workload's,
 * --namespace) and sourceLabels (--labels).
 */
struct selectors {
	const struct pc_strv *gateways;
	uint32_t port;
	const char *source_namespace;
	const struct pc_strmap *source_labels;
};

static bool match_holds(const struct builder *b, const struct selectors *m, uint16_t port)
{
	size_t i;

	if (m->gateways->n && !pc_gateways_have_mesh(m->gateways))
		return false;
	if (m->port && m->port != port)
		return false;
	if (m->source_namespace && *m->source_namespace &&
	    strcmp(m->source_namespace, b->scope.ns) != 0)
		return false;
	for (i = 0; i < m->source_labels->n; i++) {
		const char *v = m->source_labels->vals[i];

		if (!pc_workload_has_label(b->opts, m->source_labels->keys[i], v ? v : ""))
			return false;
	}
	return true;
}

static bool tls_holds(const struct builder *b, const struct pc_tls_match *m, uint16_t port)
{
	struct selectors x = { &m->gateways, m->port, m->source_namespace, &m->source_labels };

	return match_holds(b, &x, port);
}

static bool tcp_holds(const struct builder *b, const struct pc_l4_match *m, uint16_t port)
{
	struct selectors x = { &m->gateways, m->port, m->source_namespace, &m->source_labels };

	return match_holds(b, &x, port);
}

/*
 * Does some host of VirtualService <r> match some imported host of <sv>
 * (host.Name.Matches) whose listener's egress listener selects <r>?
 */
static bool vs_applies(const struct builder *b, const struct pc_resource *r, const struct svc *sv)
{
	const struct pc_virtual_service *vs = r->spec;
	const struct pc_service_entry *se = sv->se;
	size_t i, j;

	for (i = 0; i < vs->hosts.n; i++) {
		for (j = 0; j < se->hosts.n; j++) {
			if (host_visible(b, sv, j) &&
			    pc_host_matches(vs->hosts.v[i], se->hosts.v[j]) &&
			    pc_scope_vs_for(&b->scope, r, sv->r, j, sv->sp_index))
				return true;
		}
	}
	return false;
}

/* The cluster of <host> on <sv> when it serves it on port <want>, else PC_TRIE_NONE. */
static long find_host(struct builder *b, struct svc *sv, const char *host, uint16_t want,
		      bool routed)
{
	size_t h;

	if (sv->sp->number != want)
		return (long)PC_TRIE_NONE;
	for (h = 0; h < sv->se->hosts.n; h++) {
		bool ok = routed ? pc_scope_routed(&b->scope, sv->r, h, sv->sp_index)
				 : host_visible(b, sv, h);

		if (ok && strcmp(sv->se->hosts.v[h], host) == 0)
			return host_cluster(b, sv, h);
	}
	return (long)PC_TRIE_NONE;
}

/*
 * The cluster of a route destination: the oldest ServiceEntry with that
 * host and port that the workload imports, else one the scope adds as a
 * route destination; BlackHoleCluster when none has them, as Istio drops
 * traffic to a destination missing from the registry. Hosts compare
 * exactly: Istio's service index and cluster names are keyed by the
 * host.Name as written, so a destination that differs in case names a
 * cluster that does not exist.
 */
static long route_cluster(struct builder *b, const struct pc_destination *d, uint16_t port)
{
	uint16_t want = d->port && d->port->number ? (uint16_t)d->port->number : port;
	size_t i;
	int pass;

	/* imported hosts first, then those the scope adds as route destinations */
	for (pass = 0; d->host && pass < 2; pass++) {
		for (i = 0; i < b->nsvcs; i++) {
			long id = find_host(b, &b->svcs[i], d->host, want, pass == 1);

			if (id != (long)PC_TRIE_NONE)
				return id;
		}
	}
	return PC_CLUSTER_BLACKHOLE_ID;
}

/* A chain's weighted routes from <route> (weight 0 gets nothing; a lone destination all). */
static int vs_routes(struct builder *b, const struct pc_route_destination *rds, size_t nrd,
		     uint16_t port, bool by_name, struct pc_chain *c)
{
	struct pc_route *v = pc_arena_calloc(b->s->arena, nrd ? nrd : 1, sizeof(*v));
	size_t i;
	long id;

	if (!v)
		return -ENOMEM;
	c->routes = v;
	for (i = 0; i < nrd; i++) {
		const struct pc_route_destination *rd = &rds[i];
		uint32_t w = nrd == 1 ? 1 : rd->weight > 0 ? (uint32_t)rd->weight : 0;

		if (w == 0 || !rd->destination)
			continue;
		id = route_cluster(b, rd->destination, port);
		if (id < 0)
			return (int)id;
		if (!by_name && b->clusters[id].source == PC_EP_DYNAMIC) {
			/* a tcp route has no name for the dynamic forward proxy to dial */
			conflict(b,
				 "%s: a tcp route to the DYNAMIC_DNS %s has no name to resolve; "
				 "its traffic is dropped",
				 c->origin ? c->origin : "VirtualService", b->clusters[id].name);
			id = PC_CLUSTER_BLACKHOLE_ID;
		}
		b->clusters[id].by_name |= by_name && id != PC_CLUSTER_BLACKHOLE_ID;
		v[c->nroutes].cluster = (uint32_t)id;
		v[c->nroutes++].weight = w;
		c->total_weight += w;
	}
	if (c->nroutes == 0) { /* validation forbids it; fail closed all the same */
		v[0].cluster = PC_CLUSTER_BLACKHOLE_ID;
		v[0].weight = 1;
		c->nroutes = 1;
		c->total_weight = 1;
	}
	return 0;
}

/* Add <lv> to the set <v> (<*n> used, room for <cap>) unless there. */
static void add_unique(uint32_t *v, size_t *n, size_t cap, uint32_t lv)
{
	size_t i;

	for (i = 0; i < *n; i++) {
		if (v[i] == lv)
			return;
	}
	if (*n < cap)
		v[(*n)++] = lv;
}

/*
 * Does <sv> have a listener on 0.0.0.0:port: no addresses, or a CIDR
 * (Istio's buildSidecarOutboundListeners keys a plain address's listener
 * on that address, a CIDR's on the wildcard with a CIDR filter chain)?
 */
static bool wildcard_listener(const struct svc *sv)
{
	struct pc_prefix p;
	size_t j;

	if (!sv->se->addresses.n)
		return true;
	for (j = 0; j < sv->se->addresses.n; j++) {
		if (pc_prefix_parse(sv->se->addresses.v[j], &p) == 0 && !pc_prefix_is_host(&p))
			return true;
	}
	return false;
}

/* Add the level of <vip> on port <pi> to <v> when one of <subnets> covers it. */
static int vip_level(struct builder *b, const struct pc_strv *subnets, size_t pi,
		     const struct pc_prefix *vip, uint32_t *v, size_t *n, size_t cap)
{
	struct pc_prefix sub;
	size_t k;
	long lv;

	for (k = 0; k < subnets->n; k++) {
		if (pc_prefix_parse(subnets->v[k], &sub) < 0 ||
		    !pc_prefix_contains(&sub, &vip->addr))
			continue;
		lv = level_at(b, pi, vip);
		if (lv < 0)
			return (int)lv;
		add_unique(v, n, cap, (uint32_t)lv);
		return 0;
	}
	return 0;
}

/*
 * The levels of a match's <subnets> on port <pi>. A route's
 * destinationSubnets only narrow the filter chains inside the listeners
 * of the services it applies to (Istio's
 * buildSidecarOutboundTCPFilterChainOpts and its TLS twin); they never
 * make a listener. So a subnet is a level only when one of those services
 * has the wildcard listener 0.0.0.0:port, and a service's plain address
 * (its own IP:port listener) is one when a subnet covers it.
 */
static int subnet_levels(struct builder *b, const struct pc_strv *subnets,
			 const struct pc_resource *vs, size_t pi, enum family fam, uint32_t *v,
			 size_t *n, size_t cap)
{
	struct pc_prefix p;
	bool wild = false;
	size_t i, j;
	long lv;
	int ret;

	for (i = 0; i < b->nsvcs; i++) {
		const struct svc *sv = &b->svcs[i];

		if (sv->port != pi || sv->fam != fam || !vs_applies(b, vs, sv))
			continue;
		wild |= wildcard_listener(sv);
		for (j = 0; j < sv->se->addresses.n; j++) {
			if (pc_prefix_parse(sv->se->addresses.v[j], &p) < 0 ||
			    !pc_prefix_is_host(&p))
				continue;
			ret = vip_level(b, subnets, pi, &p, v, n, cap);
			if (ret < 0)
				return ret;
		}
	}
	for (i = 0; wild && i < subnets->n; i++) {
		if (pc_prefix_parse(subnets->v[i], &p) < 0)
			continue;
		lv = level_at(b, pi, &p);
		if (lv < 0)
			return (int)lv;
		add_unique(v, n, cap, (uint32_t)lv);
	}
	return 0;
}

/*
 * The levels a match's chains go to on port <pi>: those of its <subnets>
 * (subnet_levels), else those of the services of family <fam> it applies
 * to (their addresses, or the level without a prefix). Returns the count
 * in <lv> (malloc'd) or -ENOMEM.
 */
static long match_levels(struct builder *b, const struct pc_strv *subnets,
			 const struct pc_resource *vs, size_t pi, enum family fam, uint32_t **out)
{
	struct pc_prefix prefix;
	size_t i, j, n = 0, cap = subnets->n;
	uint32_t *v;
	long lv;

	for (i = 0; i < b->nsvcs; i++) {
		if (b->svcs[i].port == pi && b->svcs[i].fam == fam &&
		    vs_applies(b, vs, &b->svcs[i]))
			cap += b->svcs[i].se->addresses.n ? b->svcs[i].se->addresses.n : 1;
	}
	/* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of ids */
	v = pc_calloc(cap ? cap : 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	if (subnets->n && subnet_levels(b, subnets, vs, pi, fam, v, &n, cap) < 0)
		goto nomem;
	for (i = 0; !subnets->n && i < b->nsvcs; i++) {
		const struct svc *sv = &b->svcs[i];

		if (sv->port != pi || sv->fam != fam || !vs_applies(b, vs, sv))
			continue;
		for (j = 0; j < (sv->se->addresses.n ? sv->se->addresses.n : 1); j++) {
			if (!addr_open(b, sv, j))
				continue;
			if (!sv->se->addresses.n)
				lv = level_at(b, pi, NULL);
			else if (pc_prefix_parse(sv->se->addresses.v[j], &prefix) < 0)
				continue;
			else
				lv = level_at(b, pi, &prefix);
			if (lv < 0)
				goto nomem;
			add_unique(v, &n, cap, (uint32_t)lv);
		}
	}
	*out = v;
	return (long)n;
nomem:
	free(v);
	return -ENOMEM;
}

/* The SNI chains of one match on port <pi>, on each of its levels. */
static int add_match(struct builder *b, const struct pc_resource *r,
		     const struct pc_tls_route *route, size_t ri, size_t mi, size_t pi)
{
	const struct pc_tls_match *m = &route->match.v[mi];
	struct pc_chain c = { 0 };
	uint32_t *lv = NULL;
	long n = match_levels(b, &m->destination_subnets, r, pi, FAM_TLS, &lv);
	size_t i, j;
	int ret;

	if (n < 0)
		return (int)n;
	c.origin = pc_arena_printf(b->s->arena, "VirtualService %s/%s tls[%zu].match[%zu]",
				   r->meta.ns ? r->meta.ns : "", r->meta.name ? r->meta.name : "",
				   ri, mi);
	ret = c.origin ? vs_routes(b, route->route.v, route->route.n, b->ports[pi].port, true, &c)
		       : -ENOMEM;
	for (i = 0; ret == 0 && i < (size_t)n; i++) {
		for (j = 0; ret == 0 && j < m->sni_hosts.n; j++) {
			c.name = lower_dup(b->s->arena, m->sni_hosts.v[j]);
			ret = c.name ? pc_chain_add(&b->chains, pi, lv[i], PC_CHAIN_TLS, true, &c)
				     : -ENOMEM;
		}
	}
	free(lv);
	if (ret == 0 && n > 0)
		b->ports[pi].needs_name = true;
	return ret;
}

/* A tcp route's weighted chain without criteria on <subnets> (none: its services' levels). */
static int add_tcp_route(struct builder *b, const struct pc_resource *r, size_t ri,
			 const struct pc_strv *subnets, size_t pi)
{
	const struct pc_virtual_service *vs = r->spec;
	const struct pc_tcp_route *route = &vs->tcp.v[ri];
	struct pc_port_policy *pp = &b->ports[pi];
	struct pc_chain *c = pc_arena_calloc(b->s->arena, 1, sizeof(*c));
	uint32_t *lv = NULL;
	long n;
	size_t i;
	int ret;

	if (!c)
		return -ENOMEM;
	c->origin =
		pc_arena_printf(b->s->arena, "VirtualService %s/%s tcp[%zu]",
				r->meta.ns ? r->meta.ns : "", r->meta.name ? r->meta.name : "", ri);
	if (!c->origin)
		return -ENOMEM;
	ret = vs_routes(b, route->route.v, route->route.n, pp->port, false, c);
	if (ret < 0)
		return ret;
	n = match_levels(b, subnets, r, pi, FAM_TCP, &lv);
	if (n < 0)
		return (int)n;
	for (i = 0; i < (size_t)n; i++) {
		struct pc_chain_level *l = &pp->levels[lv[i]];

		if (l->tcp != PC_TRIE_NONE) {
			conflict(b,
				 "%s: the chain without criteria on port %u is already taken by "
				 "the older %s",
				 c->origin, pp->port,
				 l->tcp_routes ? l->tcp_routes->origin : b->clusters[l->tcp].name);
			continue;
		}
		l->tcp = c->routes[0].cluster;
		l->tcp_routes = c;
		if (l->any)
			pp->any_cluster = l->tcp;
	}
	free(lv);
	return 0;
}

/*
 * The tcp routes of <r> on port <pi> (Istio's
 * buildSidecarOutboundTCPFilterChainOpts): a rule without match, or a
 * holding match without destinationSubnets, is terminal and takes the
 * services' own levels; otherwise a rule's holding matches pool their
 * subnets into one chain. <*took>: the services lose their default chain.
 */
static int add_tcp_routes(struct builder *b, const struct pc_resource *r, size_t pi, bool *took)
{
	const struct pc_virtual_service *vs = r->spec;
	const struct pc_strv none = { 0 };
	struct pc_strv pool = { 0 };
	size_t ri, mi, j, cap;
	int ret = 0;

	*took = false;
	for (ri = 0; ri < vs->tcp.n && ret == 0 && !*took; ri++) {
		const struct pc_tcp_route *route = &vs->tcp.v[ri];

		if (route->match.n == 0) {
			*took = true;
			return add_tcp_route(b, r, ri, &none, pi);
		}
		for (mi = 0, cap = 0; mi < route->match.n; mi++)
			cap += route->match.v[mi].destination_subnets.n;
		/* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
		pool.v = pc_calloc(cap ? cap : 1, sizeof(*pool.v));
		if (!pool.v)
			return -ENOMEM;
		pool.n = 0;
		for (mi = 0; mi < route->match.n && !*took; mi++) {
			const struct pc_l4_match *m = &route->match.v[mi];

			if (!tcp_holds(b, m, b->ports[pi].port))
				continue;
			if (m->destination_subnets.n == 0) {
				*took = true;
				break;
			}
			for (j = 0; j < m->destination_subnets.n; j++)
				pool.v[pool.n++] = m->destination_subnets.v[j];
		}
		if (*took)
			ret = add_tcp_route(b, r, ri, &none, pi);
		else if (pool.n)
			ret = add_tcp_route(b, r, ri, &pool, pi);
		free(pool.v);
	}
	return ret;
}

/*
 * Pass 2: for each VirtualService bound to mesh and each port of a TLS
 * service whose host it names, its tls matches that hold on that port
 * become SNI chains, in rule order (the first rule wins a tie), and the
 * services it applies to lose their default chain (Istio's hasTLSMatch).
 */
static int add_virtual_service(struct builder *b, const struct pc_resource *r)
{
	const struct pc_virtual_service *vs = r->spec;
	size_t k, i, ri, mi, pi;
	enum family fam;
	bool any;
	int ret;

	/* each port once, from its first TLS (TCP) service that the VirtualService names */
	for (k = 0; k < b->nsvcs; k++) {
		pi = b->svcs[k].port;
		fam = b->svcs[k].fam;
		if (fam == FAM_HTTP || !vs_applies(b, r, &b->svcs[k]))
			continue;
		for (i = 0; i < k; i++) {
			if (b->svcs[i].port == pi && b->svcs[i].fam == fam &&
			    vs_applies(b, r, &b->svcs[i]))
				break;
		}
		if (i < k)
			continue; /* done with this port */
		any = false;
		for (ri = 0; fam == FAM_TLS && ri < vs->tls.n; ri++) {
			const struct pc_tls_route *route = &vs->tls.v[ri];

			for (mi = 0; mi < route->match.n; mi++) {
				if (!tls_holds(b, &route->match.v[mi], b->ports[pi].port))
					continue;
				ret = add_match(b, r, route, ri, mi, pi);
				if (ret < 0)
					return ret;
				any = true;
			}
		}
		if (fam == FAM_TCP) {
			ret = add_tcp_routes(b, r, pi, &any);
			if (ret < 0)
				return ret;
		}
		for (i = k; i < b->nsvcs; i++) {
			struct svc *sv = &b->svcs[i];

			if (sv->port != pi || sv->fam != fam || !vs_applies(b, r, sv))
				continue;
			sv->covered |= any;
			sv->vs_tcp |= fam == FAM_TCP && vs->tcp.n;
		}
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

static int cmp_port(const void *a, const void *b)
{
	const struct pc_port_policy *x = a, *y = b;

	return (x->port > y->port) - (x->port < y->port);
}

static void chain_conflict(void *data, uint16_t port, const struct pc_chain *winner,
			   const struct pc_chain *loser)
{
	struct builder *b = data;

	if (loser->name)
		conflict(b, "%s: server name %s on port %u is already taken by the older %s",
			 loser->origin, loser->name, port, winner->origin);
	else
		conflict(b, "%s: IP-literal Host on port %u is already taken by the older %s",
			 loser->origin, port, winner->origin);
}

/* Move the building arrays into the arena, seal the chains and the tries. */
static int seal(struct builder *b)
{
	struct pc_snapshot *s = b->s;
	struct pc_chain_level **copies;
	size_t i;
	int ret;

	ret = pc_chain_seal(&b->chains, b->ports, b->nports, s->arena, chain_conflict, b);
	if (ret < 0)
		return ret;
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
	/* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
	copies = pc_calloc(b->nports ? b->nports : 1, sizeof(*copies));
	if (!copies)
		return -ENOMEM;
	for (i = 0; i < b->nports; i++) {
		const struct pc_port_policy *pp = &b->ports[i];

		copies[i] = pc_arena_calloc(s->arena, pp->nlevels ? pp->nlevels : 1,
					    sizeof(*copies[i]));
		if (!copies[i]) {
			free(copies);
			return -ENOMEM;
		}
		if (pp->nlevels)
			memcpy(copies[i], pp->levels, pp->nlevels * sizeof(*copies[i]));
	}
	for (i = 0; i < b->nports; i++) {
		free(b->ports[i].levels);
		b->ports[i].levels = copies[i];
		pc_trie_seal(b->ports[i].trie);
	}
	free(copies);
	if (b->nports)
		qsort(b->ports, b->nports, sizeof(*b->ports), cmp_port);
	if (b->nports)
		memcpy(s->ports, b->ports, b->nports * sizeof(*s->ports));
	s->nports = b->nports;
	b->nports = 0; /* the levels are the arena's now */
	return 0;
}

static const char *dup_or_null(struct pc_arena *a, const char *s, bool *oom)
{
	char *d = s ? pc_arena_strdup(a, s) : NULL;

	*oom |= s && !d;
	return d;
}

/* The workload's labels as "k=v,k=v" (they are NUL-separated in <o>). */
static const char *labels_copy(struct pc_arena *a, const struct pc_compile_opts *o, bool *oom)
{
	char *d = pc_arena_alloc(a, o->labels_len + 1);
	size_t i;

	if (!d) {
		*oom = true;
		return NULL;
	}
	if (o->labels_len)
		memcpy(d, o->labels, o->labels_len);
	for (i = 0; i < o->labels_len; i++) {
		if (d[i] == '\0')
			d[i] = ',';
	}
	d[o->labels_len] = '\0';
	if (o->labels_len && d[o->labels_len - 1] == ',')
		d[o->labels_len - 1] = '\0';
	return d;
}

/* Copy the scope's verdicts into the snapshot, for /config_dump. */
static int keep_scope(struct builder *b)
{
	struct pc_snapshot *s = b->s;
	const struct pc_scope *sc = &b->scope;
	struct pc_scope_entry *v;
	bool oom = false;
	size_t i;

	v = pc_arena_calloc(s->arena, sc->n ? sc->n : 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (i = 0; i < sc->n; i++) {
		const struct pc_resource *r = &b->m->res[i];

		v[i].kind = pc_kind_info(r->kind)->name;
		v[i].ns = dup_or_null(s->arena, r->meta.ns, &oom);
		v[i].name = dup_or_null(s->arena, r->meta.name, &oom);
		v[i].in_force = sc->obj[i].in_force;
		v[i].reason = dup_or_null(s->arena, sc->obj[i].reason, &oom);
	}
	s->scope = v;
	s->nscope = sc->n;
	s->workload_ns = dup_or_null(s->arena, sc->ns, &oom);
	s->root_ns = dup_or_null(s->arena, sc->root_ns, &oom);
	s->workload_labels = labels_copy(s->arena, b->opts, &oom);
	s->sidecar_why = sc->sidecar_why; /* a string constant */
	s->policy_from_sidecar = sc->policy_from_sidecar;
	if (sc->sidecar)
		s->sidecar = pc_arena_printf(s->arena, "%s/%s", sc->sidecar->meta.ns,
					     sc->sidecar->meta.name ? sc->sidecar->meta.name : "");
	return oom || (sc->sidecar && !s->sidecar) ? -ENOMEM : 0;
}

static int build(struct builder *b)
{
	const struct pc_resource **ses = NULL, **vss = NULL;
	size_t i, nse, nvs;
	int ret;

	ret = catch_alls(b);
	if (ret < 0)
		return ret;
	ret = collect(b, PC_KIND_SERVICE_ENTRY, &ses, &nse);
	if (ret < 0)
		return ret;
	ret = collect(b, PC_KIND_VIRTUAL_SERVICE, &vss, &nvs);
	if (ret < 0)
		goto out_free_ses;
	for (i = 0; i < nse && ret == 0; i++)
		ret = add_service_entry(b, ses[i]);
	for (i = 0; i < nvs && ret == 0; i++)
		ret = add_virtual_service(b, vss[i]);
	/* before the entries' own chains: an allocated address is its name's, whoever lists it */
	if (ret == 0)
		ret = dns_hosts(b);
	if (ret == 0)
		ret = vip_chains(b);
	for (i = 0; i < b->nsvcs && ret == 0; i++)
		ret = default_chains(b, &b->svcs[i]);
	if (ret == 0)
		ret = pc_names_set_vips(b->s, b->opts->vips, b->opts->nvips);
	if (ret == 0)
		ret = seal(b);
	if (ret == 0)
		ret = seal_udp(b);
	if (ret == 0)
		ret = keep_scope(b);
	free(vss);
out_free_ses:
	free(ses);
	return ret;
}

/* Free what the builder malloc'd (the snapshot's arena holds the rest). */
static void builder_release(struct builder *b)
{
	size_t i;

	for (i = 0; i < b->nsvcs; i++)
		free(b->svcs[i].host_clusters);
	for (i = 0; i < b->nports; i++)
		free(b->ports[i].levels);
	free(b->svcs);
	free(b->clusters);
	free(b->ports);
	free(b->caplevels);
	free(b->udp);
	pc_chain_set_release(&b->chains);
	pc_scope_release(&b->scope);
}

int pc_policy_compile(const struct pc_manifest *m, const struct pc_compile_opts *opts,
		      pc_conflict_fn *report, void *data, struct pc_snapshot **out)
{
	struct builder b = { 0 };
	struct pc_snapshot *s;
	int ret;

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
	b.s = s;
	ret = pc_scope_init(&b.scope, m, opts);
	if (ret < 0)
		goto fail;
	s->policy = (enum pc_outbound_policy)b.scope.policy;
	b.m = m;
	b.report = report;
	b.data = data;
	b.rt = pc_runtime_default();
	if (!b.rt) {
		ret = -ENOMEM;
		goto fail;
	}
	b.opts = opts;
	ret = build(&b);
	if (ret < 0)
		goto fail;
	builder_release(&b);
	*out = s;
	return 0;
fail:
	builder_release(&b);
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

static const struct pc_cluster *default_chain(const struct pc_snapshot *s)
{
	return &s->clusters[s->policy == PC_POLICY_ALLOW_ANY ? PC_CLUSTER_PASSTHROUGH_ID
							     : PC_CLUSTER_BLACKHOLE_ID];
}

/*
 * Envoy's filter-chain selection with no backtracking: the longest prefix
 * level decides, and within it the name (by transport), then the chain
 * without criteria, then the default chain. A request on a level with
 * HTTP chains never falls to the TCP chain: Istio's HTTP connection
 * manager answers an unknown Host itself (no route: the default).
 */
const struct pc_cluster *pc_snapshot_match(const struct pc_snapshot *s, const struct pc_match *m)
{
	const struct pc_port_policy *pp;
	const struct pc_chain_level *lv;
	const struct pc_chain *c = NULL;
	uint32_t idx;

	if (m->dst->port == s->proxy_port)
		return &s->clusters[PC_CLUSTER_BLACKHOLE_ID]; /* loop guard */
	pp = find_port(s, m->dst->port);
	idx = pp ? pc_trie_lookup(pp->trie, m->dst, NULL) : PC_TRIE_NONE;
	/*
	 * An allocated address is its name's alone (doc/dns.md): where the
	 * name has no chain (its entry is gone, or has not this port), it is
	 * denied, never taken by another entry's 0.0.0.0:port nor passed
	 * through.
	 */
	if (idx == PC_TRIE_NONE && pc_alloc_in_range(m->dst) && pc_snapshot_vip_by_addr(s, m->dst))
		return &s->clusters[PC_CLUSTER_BLACKHOLE_ID];
	if (!pp)
		return default_chain(s);
	if (idx == PC_TRIE_NONE)
		idx = pp->any_level;
	if (idx == PC_TRIE_NONE)
		return default_chain(s);
	lv = &pp->levels[idx];
	if (m->transport == PC_TRANSPORT_TLS && m->name) {
		c = pc_names_find(&lv->tls, m->name);
	} else if (m->transport == PC_TRANSPORT_HTTP &&
		   (lv->http_ip || !pc_names_empty(&lv->http))) {
		c = m->name ? pc_names_find(&lv->http, m->name) : lv->http_ip;
		if (!c)
			return default_chain(s);
	}
	if (c)
		return &s->clusters[pc_chain_pick(c, m->pick)];
	if (lv->tcp_routes)
		return &s->clusters[pc_chain_pick(lv->tcp_routes, m->pick)];
	if (lv->tcp != PC_TRIE_NONE)
		return &s->clusters[lv->tcp];
	return default_chain(s);
}

const struct pc_cluster *pc_snapshot_classify(const struct pc_snapshot *s,
					      const struct pc_addr *dst, const char *name)
{
	struct pc_match m = { .dst = dst, .transport = PC_TRANSPORT_UNKNOWN };

	(void)name; /* nothing was read: a name can only come with a transport */
	return pc_snapshot_match(s, &m);
}

/* How many whole labels <a> and <b> share at their ends. */
static unsigned common_labels(const char *a, const char *b)
{
	size_t i = strlen(a), j = strlen(b);
	unsigned n = 0;

	while (i > 0 && j > 0) {
		size_t si = i, sj = j;

		while (si > 0 && a[si - 1] != '.')
			si--;
		while (sj > 0 && b[sj - 1] != '.')
			sj--;
		if (i - si != j - sj || strncasecmp(a + si, b + sj, i - si) != 0)
			break;
		n++;
		i = si ? si - 1 : 0;
		j = sj ? sj - 1 : 0;
		if (!si || !sj)
			break;
	}
	return n;
}

const char *pc_snapshot_nearest_name(const struct pc_snapshot *s, uint16_t port, const char *name)
{
	const char *best = NULL;
	unsigned n, most = 0;
	size_t i;

	if (!name || !*name)
		return NULL;
	/* clusters are in the order of their entries' age: the oldest wins a tie */
	for (i = 0; i < s->nclusters; i++) {
		const struct pc_cluster *c = &s->clusters[i];

		if (c->kind != PC_CLUSTER_SERVICE || c->port != port || !c->host)
			continue;
		n = common_labels(c->host, name);
		if (n > most) {
			most = n;
			best = c->host;
		}
	}
	return best;
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

/* A cluster that stands for level <idx> in a hint: its TCP chain's, else a named one's. */
static uint32_t level_cluster(const struct pc_port_policy *pp, uint32_t idx)
{
	const struct pc_chain_level *lv;
	const struct pc_names *t;

	if (idx == PC_TRIE_NONE || idx >= pp->nlevels)
		return PC_TRIE_NONE;
	lv = &pp->levels[idx];
	if (lv->tcp != PC_TRIE_NONE)
		return lv->tcp;
	t = !pc_names_empty(&lv->tls) ? &lv->tls : &lv->http;
	if (t->nexact)
		return t->exact[0].routes[0].cluster;
	if (t->nwild)
		return t->wild[0].routes[0].cluster;
	if (t->star)
		return t->star->routes[0].cluster;
	return lv->http_ip ? lv->http_ip->routes[0].cluster : PC_TRIE_NONE;
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
		id = level_cluster(&s->ports[right], id);
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
		id = level_cluster(pp, pc_trie_lookup(pp->trie, dst, &len));
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
