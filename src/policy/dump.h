/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * policy/dump.h - a compiled policy, and its clusters, as text for people.
 *
 * One renderer for everything the admin endpoint shows of a snapshot
 * (doc/admin.md): the "policy" object of /config_dump and the /clusters
 * listing (Envoy's text form or JSON). Both list a cluster's endpoints
 * through the same walk: static endpoints, then what the resolver found
 * for its DNS names (policy/runtime.h) at the time of the call. Nothing
 * here locks the snapshot (it is immutable); the runtime table is read
 * through its accessors. Any thread.
 */
#ifndef PC_POLICY_DUMP_H
#define PC_POLICY_DUMP_H

#include <stdbool.h>
#include <stdint.h>

struct pc_buf;
struct pc_snapshot;

/*
 * The compiled policy <snap> as JSON: per port its prefixes -> cluster (in
 * address order) and the "any" cluster; every cluster with its endpoints,
 * resolved addresses, settings and open connections; and "scope": the
 * workload it was compiled for, the Sidecar that applies and every object
 * with "in_force" and its "reason" (policy/scope.h).
 */
void pc_snapshot_dump_json(const struct pc_snapshot *snap, struct pc_buf *b);

/*
 * The auto-allocated addresses of <snap> (NULL: none) as a JSON array:
 * {"name", "ipv4", "ipv6" (null: none), "host" and "service" (the entry
 * host that covers the name and "ServiceEntry ns/name", null when none
 * does now), "in_force"}, by name.
 */
void pc_snapshot_vips_json(const struct pc_snapshot *snap, struct pc_buf *b);

/* The counters /clusters shows beside a cluster (proxy/stats.h sums them by name). */
struct pc_cluster_counts {
	uint64_t cx_total;
	uint64_t cx_active;
	uint64_t connect_fail;
};

/* Fill <out> with the counters of the cluster called <name>; false: none (zeros). */
typedef bool pc_cluster_counts_fn(void *data, const char *name, struct pc_cluster_counts *out);

/*
 * GET /clusters: every cluster of <snap> (NULL: none) with its settings,
 * the counters <counts> gives (NULL: zeros) and its endpoints, as
 * {"clusters":[...]} JSON when <json>, else as Envoy's
 * "<cluster>::<field>::<value>" lines.
 */
void pc_clusters_dump(const struct pc_snapshot *snap, bool json, pc_cluster_counts_fn *counts,
		      void *data, struct pc_buf *b);

#endif /* PC_POLICY_DUMP_H */
