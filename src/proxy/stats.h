/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * proxy/stats.h - per-worker counters, summed when they are scraped.
 *
 * Each worker owns one struct pc_stats and is the only thread that writes
 * it. Counters are relaxed atomics written as load + store (one writer, so
 * no read-modify-write and no lock on the data path: a plain add on
 * x86-64); any other thread may read them at any time without a data race.
 *
 * Series are found by name, never by pointer, so they survive policy swaps
 * (clusters live in snapshots, series live as long as the worker):
 *
 *   - Istio series, keyed by (destination_service, destination_service_name,
 *     destination_service_namespace, response_flags): connections opened
 *     and closed, bytes received from and sent to the client;
 *   - Istio HTTP series, keyed by (cluster, response_code, response_flags):
 *     istio_requests_total and the three request histograms;
 *   - Envoy cluster counters, keyed by the cluster name.
 *
 * A new series is linked at the head of a list with a release store; a
 * reader loads the head with acquire and walks "next" links, which never
 * change once published. The worker finds series through a private hash
 * index that no other thread touches. Series are never removed (a counter
 * must not go backwards); they are freed with the worker.
 *
 * pc_stats_sum() adds up the workers' stats into sorted arrays; the
 * formatters render a sum as the Prometheus text format or as the JSON of
 * doc/admin.md.
 */
#ifndef PC_PROXY_STATS_H
#define PC_PROXY_STATS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/accept.h"

struct pc_buf;

typedef atomic_uint_fast64_t pc_counter;

/* Add <n> to a counter only one thread writes (wraps: add (uint64_t)-1 to decrement). */
static inline void pc_counter_add(pc_counter *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
			      memory_order_relaxed);
}

static inline uint64_t pc_counter_get(const pc_counter *c)
{
	return atomic_load_explicit((pc_counter *)c, memory_order_relaxed);
}

/* A link of the worker's private index (below), embedded in each kind of series. */
struct pc_stat_hnode {
	struct pc_stat_hnode *hnext; /* the hash chain */
	uint64_t hash;
};

/* A chained hash index over one kind of series; the load factor stays at most 1. */
struct pc_stat_index {
	struct pc_stat_hnode **b;
	size_t nb, n;
};

/* Envoy's cluster counters, per cluster name. */
struct pc_stat_cluster {
	struct pc_stat_cluster *next;  /* published list; immutable once published */
	struct pc_stat_hnode node;     /* the worker's index */
	char *name;
	char *service; /* the ServiceEntry host, or NULL */
	char *ns;      /* its namespace, or NULL */
	pc_counter cx_total, cx_active, connect_fail, connect_timeout, overflow;
	pc_counter from_client; /* bytes received from the client (sent upstream) */
	pc_counter to_client;   /* bytes sent to the client (received from upstream) */
};

/*
 * Envoy's default histogram bounds, which Istio's request histograms use
 * (milliseconds for the duration, bytes for the sizes).
 */
#define PC_STATS_NBUCKETS 19
extern const double pc_stats_buckets[PC_STATS_NBUCKETS];

/*
 * A histogram: the count of each bucket (not cumulative: bucket[i] counts
 * the values in (bound i-1, bound i], the last one those above every
 * bound) and the sum of the values. The count is the sum of the buckets.
 */
struct pc_stat_hist {
	pc_counter bucket[PC_STATS_NBUCKETS + 1];
	pc_counter sum;
};

/*
 * One Istio HTTP series: the requests to one cluster that got one response
 * code with one set of response flags. The destination labels are the
 * cluster's (a worker's clusters live as long as the worker).
 */
struct pc_stat_request {
	struct pc_stat_request *next;
	struct pc_stat_hnode node;
	const struct pc_stat_cluster *sc;
	unsigned code;
	char *flags;
	struct pc_stat_hist duration;   /* istio_request_duration_milliseconds */
	struct pc_stat_hist req_bytes;  /* istio_request_bytes */
	struct pc_stat_hist resp_bytes; /* istio_response_bytes */
};

/* One Istio series: the four istio_tcp_* counters of one label set. */
struct pc_stat_series {
	struct pc_stat_series *next;
	struct pc_stat_hnode node;
	char *service;      /* destination_service */
	char *service_name; /* destination_service_name */
	char *service_ns;   /* destination_service_namespace */
	char *flags;        /* response_flags */
	pc_counter opened, closed;
	pc_counter received; /* istio_tcp_received_bytes_total: from the client */
	pc_counter sent;     /* istio_tcp_sent_bytes_total: to the client */
};

struct pc_stats {
	_Atomic(struct pc_stat_cluster *) clusters; /* newest first */
	_Atomic(struct pc_stat_series *) series;
	_Atomic(struct pc_stat_request *) requests;
	/* the worker's private indexes */
	struct pc_stat_index cindex, sindex, rindex;
	/* listener counters (no labels) */
	pc_counter downstream_total, downstream_active, denied, revoked;
	/* listener pauses by reason (net/accept.h), counted whatever --stats says */
	pc_counter accept_errors[PC_ACCEPT_NREASONS];
	/* upstream sockets that could not be made (socket(2) failed: out of fds, ...) */
	pc_counter upstream_socket_errors;
};

void pc_stats_init(struct pc_stats *st);

/* Free every series. No reader may be walking <st>. */
void pc_stats_release(struct pc_stats *st);

/*
 * The cluster series named <name>, created (with <service> and <ns>, both
 * may be NULL) the first time. Owner thread only. NULL when out of memory:
 * the caller then just does not count.
 */
struct pc_stat_cluster *pc_stats_cluster(struct pc_stats *st, const char *name, const char *service,
					 const char *ns);

/*
 * The Istio series of (<service>, <service_name>, <service_ns>, <flags>),
 * created the first time; NULL strings stand for "unknown" (<flags>: "-").
 * Owner thread only; NULL when out of memory.
 */
struct pc_stat_series *pc_stats_series(struct pc_stats *st, const char *service,
				       const char *service_name, const char *service_ns,
				       const char *flags);

/*
 * Count one completed HTTP request to the cluster <sc> (from
 * pc_stats_cluster(); NULL: stats are off, nothing is counted) that got
 * <code> (0: no response) with response flags <flags> (NULL: "-"): one
 * istio_requests_total, and <duration_ms>, <req_bytes> and <resp_bytes>
 * into the three histograms. Owner thread only. Allocates only the first
 * time a (<sc>, <code>, <flags>) series is seen; out of memory, the
 * request is not counted.
 */
void pc_stats_request(struct pc_stats *st, const struct pc_stat_cluster *sc, unsigned code,
		      const char *flags, uint64_t duration_ms, uint64_t req_bytes,
		      uint64_t resp_bytes);

/* ---- scrape side (any thread) ---- */

struct pc_cluster_sum {
	const char *name, *service, *ns; /* borrowed from the series */
	uint64_t cx_total, cx_active, connect_fail, connect_timeout, overflow;
	uint64_t from_client, to_client;
};

struct pc_series_sum {
	const char *service, *service_name, *service_ns, *flags;
	uint64_t opened, closed, received, sent;
};

struct pc_hist_sum {
	uint64_t bucket[PC_STATS_NBUCKETS + 1]; /* not cumulative, as in pc_stat_hist */
	uint64_t sum, count;
};

struct pc_request_sum {
	const char *service, *service_name, *service_ns, *flags;
	unsigned code;
	struct pc_hist_sum duration, req_bytes, resp_bytes; /* duration.count: the requests */
};

struct pc_stats_sum {
	struct pc_cluster_sum *clusters; /* sorted by name */
	size_t nclusters;
	struct pc_series_sum *series; /* sorted by the label values */
	size_t nseries;
	struct pc_request_sum *requests; /* sorted by the label values */
	size_t nrequests;
	uint64_t downstream_total, downstream_active, denied, revoked;
	uint64_t accept_errors[PC_ACCEPT_NREASONS], upstream_socket_errors;
};

/*
 * Add up the <n> stats at <v> into <out> (release it with
 * pc_stats_sum_release()). The strings are borrowed: <v> must outlive
 * <out>. Returns 0 or -ENOMEM.
 */
int pc_stats_sum(struct pc_stats *const *v, size_t n, struct pc_stats_sum *out);
void pc_stats_sum_release(struct pc_stats_sum *s);

/* What every Istio series says about this proxy (the source_* labels). */
struct pc_stats_labels {
	const char *workload, *ns, *app, *version;
	const char *canonical_service, *canonical_revision;
};

/* Process gauges, read by the caller. */
struct pc_proc_stats {
	double uptime_seconds;
	uint64_t rss_bytes, open_fds;
	uint64_t generation, reloads, reload_failures;
	uint64_t heap_bytes; /* malloc's bytes in use (mallinfo2), every arena: the leak signal */
};

/*
 * The Prometheus text format 0.0.4 of <s>, <labels> and <p>: HELP and TYPE
 * for every family, families sorted by name, series sorted by labels.
 */
void pc_stats_prometheus(const struct pc_stats_sum *s, const struct pc_stats_labels *labels,
			 const struct pc_proc_stats *p, struct pc_buf *out);

/* The JSON of GET /stats?format=json (doc/admin.md). */
void pc_stats_json(const struct pc_stats_sum *s, const struct pc_proc_stats *p, struct pc_buf *out);

/* Append <s> as a Prometheus label value (escaping \, " and newline), without quotes. */
void pc_prom_escape(struct pc_buf *out, const char *s);

#endif /* PC_PROXY_STATS_H */
