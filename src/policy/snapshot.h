/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * policy/snapshot.h - the compiled, immutable egress policy.
 *
 * A snapshot is what the proxy consults for every captured connection: per
 * destination port, Envoy's filter chains (doc/internals/chains.md): a
 * longest-prefix-match trie over the ServiceEntries' `addresses` (an exact
 * IP is a /32 or /128 and so beats every CIDR that contains it, as Istio's
 * IP:port listener beats its 0.0.0.0:port one) whose levels, and the level
 * of the entries without addresses, hold chains by server name (SNI on TLS
 * ports, Host on HTTP ports, VirtualService tls routes) and the chain
 * without criteria; then the default chain (BlackHoleCluster under
 * REGISTRY_ONLY, PassthroughCluster under ALLOW_ANY). Clusters carry what
 * the relay needs: where to connect (original destination, static
 * endpoints, names to resolve, or the matched name itself) and the
 * DestinationRule's TCP settings.
 *
 * Compiling is pure: the same resources give the same snapshot. A snapshot
 * lives in one arena, is never modified after pc_policy_compile() returns
 * and is shared by all workers through a reference count; lookups never
 * allocate and never lock. It holds no mutex and no malloc'd field: what
 * changes while the proxy runs (open connections, round-robin cursors, DNS
 * answers) lives in policy/runtime.h, keyed by name so that it survives
 * the snapshot; each cluster holds references to its runtime entries,
 * read through runtime.h's accessors.
 */
#ifndef PC_POLICY_SNAPSHOT_H
#define PC_POLICY_SNAPSHOT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/addr.h"

struct pc_arena;
struct pc_manifest;
struct pc_rt_cluster;
struct pc_rt_name;
struct pc_trie;

enum pc_outbound_policy {
	PC_POLICY_REGISTRY_ONLY,
	PC_POLICY_ALLOW_ANY,
};

enum pc_cluster_kind {
	PC_CLUSTER_SERVICE,     /* from a ServiceEntry */
	PC_CLUSTER_BLACKHOLE,   /* "BlackHoleCluster": no endpoints, flag UH */
	PC_CLUSTER_PASSTHROUGH, /* "PassthroughCluster": the original destination */
};

/* Where a service cluster's upstream address comes from (ServiceEntry resolution). */
enum pc_endpoint_source {
	PC_EP_ORIGINAL_DST, /* NONE: the address the app dialled */
	PC_EP_STATIC,       /* STATIC: endpoints[] */
	PC_EP_DNS,          /* DNS: every address of every name */
	PC_EP_DNS_RR,       /* DNS_ROUND_ROBIN: the first address of the answer */
	PC_EP_DYNAMIC,      /* DYNAMIC_DNS: the SNI or Host itself, resolved per connection */
};

struct pc_endpoint {
	struct pc_addr addr; /* with port */
	uint32_t weight;     /* >= 1 */
};

struct pc_dns_name {
	const char *name;
	uint16_t port;
	uint32_t weight;
	struct pc_rt_name *rt; /* its answers (policy/runtime.h; a reference) */
};

#define PC_DEFAULT_CONNECT_TIMEOUT_MS 10000u
#define PC_DEFAULT_IDLE_TIMEOUT_MS    3600000u

struct pc_cluster {
	uint32_t id; /* index in the snapshot's cluster array */
	struct pc_rt_cluster *rt; /* its runtime state (policy/runtime.h; a reference) */
	enum pc_cluster_kind kind;
	const char *name;    /* "outbound|3306||mysql.example.com", "BlackHoleCluster", ... */
	const char *host;    /* the ServiceEntry host (metrics' destination_service); NULL for catch-alls */
	const char *ns;      /* the ServiceEntry's namespace and name; NULL for catch-alls */
	const char *se_name;
	uint16_t port;        /* service port */
	uint16_t target_port; /* PC_EP_ORIGINAL_DST: connect to this port instead (0: keep) */
	enum pc_endpoint_source source;
	struct pc_endpoint *endpoints; /* PC_EP_STATIC */
	size_t nendpoints;
	uint64_t total_weight;
	struct pc_dns_name *dns_names; /* PC_EP_DNS, PC_EP_DNS_RR */
	size_t ndns_names;
	/* DestinationRule connectionPool.tcp (or defaults) */
	uint64_t connect_timeout_ms;
	uint64_t idle_timeout_ms;  /* 0: disabled */
	uint64_t max_duration_ms;  /* 0: unlimited */
	uint32_t max_connections;  /* UINT32_MAX: unlimited */
	int protocol;              /* enum pc_protocol of the ServiceEntry port (model/rules.h) */
	bool by_name;              /* matched by SNI or Host (a chain with server names) */
	bool http;                 /* an HTTP-family port: every request's Host is checked */
};

/* One weighted destination of a filter chain (a VirtualService route). */
struct pc_route {
	uint32_t cluster; /* index in the snapshot's cluster array */
	uint32_t weight;  /* >= 1: routes of weight 0 are not compiled */
};

/*
 * A filter chain with a server-name criterion (policy/chains.c): the
 * name, and where it goes. Chains without a name criterion are the
 * level's <tcp> cluster.
 */
struct pc_chain {
	const char *name;   /* lowercase: exact, "*.suffix", "*"; NULL: an IP-literal Host */
	const char *origin; /* "ServiceEntry ns/name", "VirtualService ns/name tls[0].match[1]" */
	const struct pc_route *routes;
	uint32_t nroutes;   /* >= 1 */
	uint64_t total_weight;
};

/* The server-name chains of one transport on one prefix level. */
struct pc_names {
	const struct pc_chain *exact; /* sorted by name (strcmp) */
	size_t nexact;
	const struct pc_chain *wild;  /* "*.suffix", sorted by the suffix after the '*' */
	size_t nwild;
	const struct pc_chain *star;  /* "*": any name; NULL: none */
};

/*
 * The chains of one destination-prefix level of a port (Envoy's
 * destination_ip bucket): a connection reaches the longest prefix that
 * covers its destination and never backtracks to a shorter one.
 */
struct pc_chain_level {
	struct pc_prefix prefix; /* unused when <any> */
	bool any;                /* the chains without a destination prefix (0.0.0.0:port) */
	uint32_t tcp;            /* the chain without criteria: a cluster id, or PC_TRIE_NONE */
	const struct pc_chain *tcp_routes; /* ... a VirtualService tcp route's (<tcp> its first) */
	struct pc_names tls;     /* matched by SNI, transport TLS */
	struct pc_names http;    /* matched by Host, transport HTTP */
	const struct pc_chain *http_ip; /* transport HTTP whose Host is no name (an IP literal) */
};

struct pc_port_policy {
	uint16_t port;
	struct pc_trie *trie;  /* destination prefix -> index in <levels> */
	struct pc_chain_level *levels;
	size_t nlevels;
	uint32_t any_level;    /* index of the level without a prefix, or PC_TRIE_NONE */
	uint32_t any_cluster;  /* that level's <tcp>: oldest ServiceEntry without addresses */
	uint32_t protocols;    /* 1u << enum pc_protocol that some ServiceEntry port declares */
	bool needs_name;       /* some entry on this port matches by name (SNI, Host): preread */
};

/*
 * A UDP port that a ServiceEntry in force declares (protocol UDP) on one
 * of its addresses: the datagrams netfilter lets out of the pod
 * (daemon/netfilter.h), not proxied. An entry without addresses opens no
 * UDP: a datagram has no name to check.
 */
struct pc_udp_allow {
	struct pc_prefix prefix;
	uint16_t port;
};

/*
 * A name the DNS proxy answers itself (policy/names.c): a ServiceEntry
 * host visible to the workload, exact or wildcard. The oldest entry with
 * the host has it (scope.h already keeps one namespace per host).
 */
struct pc_dns_host {
	const char *host;          /* lowercase: "db.example.com", "*.example.com", "*" */
	const char *origin;        /* "ServiceEntry ns/name" */
	const struct pc_addr *ips; /* those of its addresses that are one address */
	size_t nips;
	bool has_addresses; /* answered with <ips>: no allocation (forwarded when <ips> is empty) */
	bool alloc;         /* no addresses and not DYNAMIC_DNS: an allocated address per name */
};

/*
 * An auto-allocated address pair (daemon/dnsreg.c, policy/alloc.h) of a
 * concrete name: connections to them are that name's (compile.c).
 */
struct pc_vip {
	const char *name;     /* lowercase, no final dot */
	struct pc_addr v4, v6; /* family 0: none */
};

/* What policy/scope.h decided about one resource, for /config_dump (copies in the arena). */
struct pc_scope_entry {
	const char *kind; /* "ServiceEntry" */
	const char *ns;
	const char *name;
	bool in_force;
	const char *reason;
};

struct pc_snapshot {
	atomic_uint refs;
	uint64_t generation;
	struct pc_arena *arena;
	enum pc_outbound_policy policy;
	uint16_t proxy_port; /* connections to it are blackholed (loop guard) */
	struct pc_port_policy *ports; /* sorted by port */
	size_t nports;
	struct pc_cluster *clusters;  /* [0] BlackHoleCluster, [1] PassthroughCluster, then services */
	size_t nclusters;
	unsigned conflicts;           /* ServiceEntries shadowed by older ones (logged once) */
	/* the workload it was compiled for, and the scope of every resource (policy/scope.h) */
	const char *workload_ns;
	const char *root_ns;
	const char *workload_labels; /* "k=v,k=v" (--labels), or "" */
	const char *sidecar;         /* "ns/name" of the Sidecar that applies, or NULL */
	const char *sidecar_why;     /* how it was chosen ("workloadSelector match", ...) */
	bool policy_from_sidecar;
	const struct pc_scope_entry *scope; /* one per resource compiled from, in their order */
	size_t nscope;
	const struct pc_udp_allow *udp; /* sorted, unique (pc_prefix_cmp, then port) */
	size_t nudp;
	const struct pc_dns_host *dns_hosts; /* sorted by host (strcmp) */
	size_t ndns_hosts;
	const struct pc_vip *vips; /* every allocation, sorted by name */
	size_t nvips;
	const uint32_t *vips_by_v4; /* indices into <vips> of those with a v4 address, by it */
	size_t nvips_v4;
	const uint32_t *vips_by_v6; /* likewise for v6 */
	size_t nvips_v6;
};

#define PC_CLUSTER_BLACKHOLE_ID   0u
#define PC_CLUSTER_PASSTHROUGH_ID 1u

struct pc_compile_opts {
	int policy;          /* enum pc_outbound_policy, or -1: from a Sidecar, else REGISTRY_ONLY */
	uint16_t proxy_port; /* default 15001 */
	uint64_t generation;
	/*
	 * The workload's labels (--labels), for VirtualService sourceLabels:
	 * "key=value" strings one after the other, each NUL-terminated, in
	 * <labels_len> bytes. NULL: no labels (a sourceLabels match never holds).
	 */
	const char *labels;
	size_t labels_len;
	/*
	 * The workload's namespace (--namespace; NULL: "default") and the
	 * mesh's root namespace (--root-namespace; NULL: "istio-system"):
	 * which Sidecar, exportTo and DestinationRule apply (policy/scope.h).
	 */
	const char *ns;
	const char *root_ns;
	/*
	 * The auto-allocated addresses (borrowed for the call): each name a
	 * visible entry without addresses covers gets chains on its addresses,
	 * on that entry's ports, to a cluster of its own (destination_service
	 * is the name).
	 */
	const struct pc_vip *vips;
	size_t nvips;
};

/*
 * Compile the valid resources of <m> (resources with errors are skipped)
 * that are in force for the workload of <opts> (policy/scope.h: its
 * Sidecar, exportTo, egress hosts, DestinationRule lookup) into a new
 * snapshot with one reference, stored in <*out>, its clusters bound to
 * their state in pc_runtime_default() (policy/runtime.h). The workload's
 * Sidecar decides the outbound policy when it sets outboundTrafficPolicy;
 * else <opts>->policy, else REGISTRY_ONLY. Returns 0 or -ENOMEM.
 * Conflicts (a ServiceEntry shadowed by an older one on the same port and
 * prefix) are counted in <conflicts> and reported through <report>, once
 * each, when it is not NULL.
 */
typedef void pc_conflict_fn(void *data, const char *what);
int pc_policy_compile(const struct pc_manifest *m, const struct pc_compile_opts *opts,
		      pc_conflict_fn *report, void *data, struct pc_snapshot **out);

/*
 * What a connection offers to the filter chains of its port: the
 * transport-protocol criterion of an Envoy filter chain, as the preread
 * found it (proxy/sniff.h).
 */
enum pc_transport {
	PC_TRANSPORT_UNKNOWN, /* nothing was read: a TCP port, or the client sent nothing in time */
	PC_TRANSPORT_TLS,     /* a TLS ClientHello */
	PC_TRANSPORT_HTTP,    /* an HTTP/1.x request head */
	PC_TRANSPORT_OTHER,   /* bytes that are neither */
};

struct pc_match {
	const struct pc_addr *dst;   /* the original destination, with its port */
	enum pc_transport transport;
	const char *name;            /* SNI or Host: lowercase, no port, no final dot; NULL: none */
	uint32_t pick;               /* a random draw, fixed per session: picks among weights */
};

/*
 * The cluster for a connection, as Envoy picks a filter chain on the
 * port's listener (reference §5.2): the longest destination prefix, then
 * the server name (exact before wildcard, the longest wildcard first),
 * then the transport, else the default chain (BlackHoleCluster or
 * PassthroughCluster per the outbound policy). Never NULL, never allocates,
 * never locks. The same <m> always gives the same answer.
 */
const struct pc_cluster *pc_snapshot_match(const struct pc_snapshot *s, const struct pc_match *m);

/*
 * pc_snapshot_match() on the address alone (transport unknown): the
 * answer for a connection nothing was read from. <name> must be NULL
 * (kept for the callers of the address-only days).
 */
const struct pc_cluster *pc_snapshot_classify(const struct pc_snapshot *s,
					      const struct pc_addr *dst, const char *name);

/*
 * For a connection refused on <port> whose client named <name>: the
 * ServiceEntry host on that port that came nearest (the longest common
 * suffix in whole labels), for the denial's hint, or NULL. Call it when
 * logging, not per connection.
 */
const char *pc_snapshot_nearest_name(const struct pc_snapshot *s, uint16_t port,
				     const char *name);

/*
 * Whether connections to <port> must be preread for a name before they can
 * be classified (pc_port_policy.needs_name). O(log ports).
 */
bool pc_snapshot_port_needs_name(const struct pc_snapshot *s, uint16_t port);

/*
 * Whether some ServiceEntry declares <port> with <protocol> (an enum
 * pc_protocol of model/rules.h, e.g. PC_PROTO_MYSQL), so a denial can be
 * answered in that protocol. Never allocates, O(log ports).
 */
bool pc_snapshot_port_declares(const struct pc_snapshot *s, uint16_t port, int protocol);

/* What almost matched a destination (pc_snapshot_nearest()). */
struct pc_near {
	const struct pc_cluster *cluster; /* NULL: nothing came near */
	struct pc_prefix prefix;          /* the address or CIDR the entry declares */
	uint16_t port;                    /* the port it declares it on */
};

/*
 * For a denied <dst>, the ServiceEntries that came nearest, for the hint
 * in the denial's log line. <same_port>: on dst's port, the entry whose
 * address shares the most leading bits with dst. <same_addr>: on another
 * port, the entry whose addresses contain dst (the longest prefix; on a
 * tie the port nearest to dst's), among the PC_NEAREST_PORTS ports nearest
 * to dst's. Entries without addresses are not hints. Costs one trie walk
 * per port visited (about 0.1 us each, so at most about half a
 * millisecond): call it when logging, not per connection.
 */
#define PC_NEAREST_PORTS 4096
void pc_snapshot_nearest(const struct pc_snapshot *s, const struct pc_addr *dst,
			 struct pc_near *same_port, struct pc_near *same_addr);

/*
 * The DNS name table (policy/names.c). The host entry that answers for
 * <name> (lowercase, no final dot): the exact host, else the longest
 * wildcard that covers it, else NULL. O(labels x log hosts), no allocation.
 */
const struct pc_dns_host *pc_snapshot_dns_host(const struct pc_snapshot *s, const char *name);

/* The allocation of <name>, or NULL. O(log n). */
const struct pc_vip *pc_snapshot_vip_by_name(const struct pc_snapshot *s, const char *name);

/* The allocation whose v4 or v6 address is <a> (port ignored), or NULL. O(log n). */
const struct pc_vip *pc_snapshot_vip_by_addr(const struct pc_snapshot *s, const struct pc_addr *a);

struct pc_snapshot *pc_snapshot_ref(struct pc_snapshot *s);

/* Drop a reference; the last one frees the snapshot. NULL is a no-op. Any thread. */
void pc_snapshot_unref(struct pc_snapshot *s);

#endif /* PC_POLICY_SNAPSHOT_H */
