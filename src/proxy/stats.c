/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * proxy/stats.c - per-worker series, their sum, and their text forms.
 *
 * Writers (the owning worker) find a series through a private chained hash
 * (FNV-1a over the key strings) and publish new ones at the head of a
 * lock-free list with a release store; readers (the admin thread) load the
 * head with acquire and see every series fully built. Counters are relaxed
 * atomics with a single writer (see stats.h), so a scrape is race-free
 * without any lock on the data path.
 *
 * Names follow doc/admin.md. Counters end in _total, as the Prometheus text
 * format's conventions (and `promtool check metrics`) require; Envoy's own
 * names for three of them lack the suffix (upstream_cx_connect_fail,
 * upstream_cx_connect_timeout, upstream_cx_overflow).
 */
#include "proxy/stats.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"

#define FNV_OFFSET 14695981039346656037ull
#define FNV_PRIME  1099511628211ull

static uint64_t fnv(uint64_t h, const char *s)
{
	if (!s)
		s = "\x01"; /* NULL and "" differ */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * FNV_PRIME;
	return (h ^ 0xffu) * FNV_PRIME; /* end of field: ("ab","c") != ("a","bc") */
}

static bool same(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

static char *dup_or_null(const char *s)
{
	return s ? pc_strndup(s, strlen(s)) : NULL;
}

void pc_stats_init(struct pc_stats *st)
{
	memset(st, 0, sizeof(*st));
	atomic_init(&st->clusters, NULL);
	atomic_init(&st->series, NULL);
}

void pc_stats_release(struct pc_stats *st)
{
	struct pc_stat_cluster *c, *cn;
	struct pc_stat_series *s, *sn;

	for (c = atomic_load(&st->clusters); c; c = cn) {
		cn = c->next;
		free(c->name);
		free(c->service);
		free(c->ns);
		free(c);
	}
	for (s = atomic_load(&st->series); s; s = sn) {
		sn = s->next;
		free(s->service);
		free(s->service_name);
		free(s->service_ns);
		free(s->flags);
		free(s);
	}
	free(st->cbucket);
	free(st->sbucket);
	pc_stats_init(st);
}

/*
 * Keep the load factor at most 1 by doubling the bucket array; when that
 * fails the old array stays (longer chains, still correct).
 */
static void rehash_clusters(struct pc_stats *st)
{
	size_t nb = st->ncbucket ? st->ncbucket * 2 : 64, i;
	struct pc_stat_cluster **b, *e, *en;

	if (st->nclusters < st->ncbucket)
		return;
	b = pc_calloc(nb, sizeof(struct pc_stat_cluster *));
	if (!b)
		return;
	for (i = 0; i < st->ncbucket; i++) {
		for (e = st->cbucket[i]; e; e = en) {
			en = e->hnext;
			e->hnext = b[e->hash & (nb - 1)];
			b[e->hash & (nb - 1)] = e;
		}
	}
	free(st->cbucket);
	st->cbucket = b;
	st->ncbucket = nb;
}

static void rehash_series(struct pc_stats *st)
{
	size_t nb = st->nsbucket ? st->nsbucket * 2 : 64, i;
	struct pc_stat_series **b, *e, *en;

	if (st->nseries < st->nsbucket)
		return;
	b = pc_calloc(nb, sizeof(struct pc_stat_series *));
	if (!b)
		return;
	for (i = 0; i < st->nsbucket; i++) {
		for (e = st->sbucket[i]; e; e = en) {
			en = e->hnext;
			e->hnext = b[e->hash & (nb - 1)];
			b[e->hash & (nb - 1)] = e;
		}
	}
	free(st->sbucket);
	st->sbucket = b;
	st->nsbucket = nb;
}

struct pc_stat_cluster *pc_stats_cluster(struct pc_stats *st, const char *name, const char *service,
					 const char *ns)
{
	uint64_t h = fnv(FNV_OFFSET, name);
	struct pc_stat_cluster *c;

	if (st->ncbucket) {
		for (c = st->cbucket[h & (st->ncbucket - 1)]; c; c = c->hnext) {
			if (c->hash == h && strcmp(c->name, name) == 0)
				return c;
		}
	}
	rehash_clusters(st);
	if (!st->ncbucket)
		return NULL;
	c = pc_calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->hash = h;
	c->name = dup_or_null(name);
	c->service = dup_or_null(service);
	c->ns = dup_or_null(ns);
	if (!c->name || (service && !c->service) || (ns && !c->ns)) {
		free(c->name);
		free(c->service);
		free(c->ns);
		free(c);
		return NULL;
	}
	c->hnext = st->cbucket[h & (st->ncbucket - 1)];
	st->cbucket[h & (st->ncbucket - 1)] = c;
	st->nclusters++;
	c->next = atomic_load_explicit(&st->clusters, memory_order_relaxed);
	atomic_store_explicit(&st->clusters, c, memory_order_release);
	return c;
}

static uint64_t series_hash(const char *service, const char *name, const char *ns,
			    const char *flags)
{
	return fnv(fnv(fnv(fnv(FNV_OFFSET, service), name), ns), flags);
}

struct pc_stat_series *pc_stats_series(struct pc_stats *st, const char *service,
				       const char *service_name, const char *service_ns,
				       const char *flags)
{
	uint64_t h;
	struct pc_stat_series *s;

	if (!flags)
		flags = "-";
	h = series_hash(service, service_name, service_ns, flags);
	if (st->nsbucket) {
		for (s = st->sbucket[h & (st->nsbucket - 1)]; s; s = s->hnext) {
			if (s->hash == h && same(s->service, service) &&
			    same(s->service_name, service_name) &&
			    same(s->service_ns, service_ns) && strcmp(s->flags, flags) == 0)
				return s;
		}
	}
	rehash_series(st);
	if (!st->nsbucket)
		return NULL;
	s = pc_calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->hash = h;
	s->service = dup_or_null(service);
	s->service_name = dup_or_null(service_name);
	s->service_ns = dup_or_null(service_ns);
	s->flags = dup_or_null(flags);
	if ((service && !s->service) || (service_name && !s->service_name) ||
	    (service_ns && !s->service_ns) || !s->flags) {
		free(s->service);
		free(s->service_name);
		free(s->service_ns);
		free(s->flags);
		free(s);
		return NULL;
	}
	s->hnext = st->sbucket[h & (st->nsbucket - 1)];
	st->sbucket[h & (st->nsbucket - 1)] = s;
	st->nseries++;
	s->next = atomic_load_explicit(&st->series, memory_order_relaxed);
	atomic_store_explicit(&st->series, s, memory_order_release);
	return s;
}

/* ---- summing ---- */

static const char *unk(const char *s)
{
	return s ? s : "unknown";
}

static int cmp_cluster(const void *a, const void *b)
{
	const struct pc_cluster_sum *x = a, *y = b;

	return strcmp(x->name, y->name);
}

static int cmp_series(const void *a, const void *b)
{
	const struct pc_series_sum *x = a, *y = b;
	int r;

	/* the order of the labels in the output: service, then name, namespace, flags */
	r = strcmp(unk(x->service), unk(y->service));
	if (!r)
		r = strcmp(unk(x->service_name), unk(y->service_name));
	if (!r)
		r = strcmp(unk(x->service_ns), unk(y->service_ns));
	if (!r)
		r = strcmp(x->flags, y->flags);
	return r;
}

static int collect(struct pc_stats *const *v, size_t n, struct pc_stats_sum *out)
{
	const struct pc_stat_cluster *c;
	const struct pc_stat_series *s;
	size_t i, nc = 0, ns = 0;

	for (i = 0; i < n; i++) {
		for (c = atomic_load_explicit(&v[i]->clusters, memory_order_acquire); c;
		     c = c->next)
			nc++;
		for (s = atomic_load_explicit(&v[i]->series, memory_order_acquire); s; s = s->next)
			ns++;
	}
	/* series published after the count are left for the next scrape */
	out->clusters = pc_calloc(nc ? nc : 1, sizeof(*out->clusters));
	out->series = pc_calloc(ns ? ns : 1, sizeof(*out->series));
	if (!out->clusters || !out->series)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		for (c = atomic_load_explicit(&v[i]->clusters, memory_order_acquire);
		     c && out->nclusters < nc; c = c->next) {
			struct pc_cluster_sum *d = &out->clusters[out->nclusters++];

			d->name = c->name;
			d->service = c->service;
			d->ns = c->ns;
			d->cx_total = pc_counter_get(&c->cx_total);
			d->cx_active = pc_counter_get(&c->cx_active);
			d->connect_fail = pc_counter_get(&c->connect_fail);
			d->connect_timeout = pc_counter_get(&c->connect_timeout);
			d->overflow = pc_counter_get(&c->overflow);
			d->from_client = pc_counter_get(&c->from_client);
			d->to_client = pc_counter_get(&c->to_client);
		}
		for (s = atomic_load_explicit(&v[i]->series, memory_order_acquire);
		     s && out->nseries < ns; s = s->next) {
			struct pc_series_sum *d = &out->series[out->nseries++];

			d->service = s->service;
			d->service_name = s->service_name;
			d->service_ns = s->service_ns;
			d->flags = s->flags;
			d->opened = pc_counter_get(&s->opened);
			d->closed = pc_counter_get(&s->closed);
			d->received = pc_counter_get(&s->received);
			d->sent = pc_counter_get(&s->sent);
		}
		out->downstream_total += pc_counter_get(&v[i]->downstream_total);
		out->downstream_active += pc_counter_get(&v[i]->downstream_active);
		out->denied += pc_counter_get(&v[i]->denied);
		out->revoked += pc_counter_get(&v[i]->revoked);
	}
	return 0;
}

/* Sort, then fold entries with equal keys (one per worker) into the first. */
static void merge(struct pc_stats_sum *out)
{
	size_t i, k;

	qsort(out->clusters, out->nclusters, sizeof(*out->clusters), cmp_cluster);
	for (i = 0, k = 0; i < out->nclusters; i++) {
		struct pc_cluster_sum *a = &out->clusters[k - (k > 0)], *b = &out->clusters[i];

		if (k > 0 && cmp_cluster(a, b) == 0) {
			a->cx_total += b->cx_total;
			a->cx_active += b->cx_active;
			a->connect_fail += b->connect_fail;
			a->connect_timeout += b->connect_timeout;
			a->overflow += b->overflow;
			a->from_client += b->from_client;
			a->to_client += b->to_client;
			continue;
		}
		out->clusters[k++] = *b;
	}
	out->nclusters = k;
	qsort(out->series, out->nseries, sizeof(*out->series), cmp_series);
	for (i = 0, k = 0; i < out->nseries; i++) {
		struct pc_series_sum *a = &out->series[k - (k > 0)], *b = &out->series[i];

		if (k > 0 && cmp_series(a, b) == 0) {
			a->opened += b->opened;
			a->closed += b->closed;
			a->received += b->received;
			a->sent += b->sent;
			continue;
		}
		out->series[k++] = *b;
	}
	out->nseries = k;
}

int pc_stats_sum(struct pc_stats *const *v, size_t n, struct pc_stats_sum *out)
{
	int ret;

	memset(out, 0, sizeof(*out));
	ret = collect(v, n, out);
	if (ret < 0) {
		pc_stats_sum_release(out);
		return ret;
	}
	merge(out);
	return 0;
}

void pc_stats_sum_release(struct pc_stats_sum *s)
{
	free(s->clusters);
	free(s->series);
	memset(s, 0, sizeof(*s));
}

/* ---- Prometheus text format ---- */

void pc_prom_escape(struct pc_buf *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			pc_buf_adds(out, "\\\\");
		else if (*s == '"')
			pc_buf_adds(out, "\\\"");
		else if (*s == '\n')
			pc_buf_adds(out, "\\n");
		else
			pc_buf_addc(out, *s);
	}
}

static void label(struct pc_buf *out, const char *name, const char *value, bool first)
{
	if (!first)
		pc_buf_addc(out, ',');
	pc_buf_adds(out, name);
	pc_buf_adds(out, "=\"");
	pc_prom_escape(out, unk(value));
	pc_buf_addc(out, '"');
}

static void family(struct pc_buf *out, const char *name, const char *type, const char *help)
{
	pc_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* The label set of an Istio series, in Istio's order (reference §7.1). */
static void istio_labels(struct pc_buf *out, const struct pc_stats_labels *l,
			 const struct pc_series_sum *s)
{
	pc_buf_addc(out, '{');
	label(out, "reporter", "source", true);
	label(out, "source_workload", l->workload, false);
	label(out, "source_canonical_service", l->canonical_service, false);
	label(out, "source_canonical_revision",
	      l->canonical_revision ? l->canonical_revision : "latest", false);
	label(out, "source_workload_namespace", l->ns, false);
	label(out, "source_principal", NULL, false);
	label(out, "source_app", l->app, false);
	label(out, "source_version", l->version, false);
	label(out, "source_cluster", NULL, false);
	label(out, "destination_workload", NULL, false);
	label(out, "destination_workload_namespace", NULL, false);
	label(out, "destination_principal", NULL, false);
	label(out, "destination_app", NULL, false);
	label(out, "destination_version", NULL, false);
	label(out, "destination_service", s->service, false);
	label(out, "destination_canonical_service", NULL, false);
	label(out, "destination_canonical_revision", "latest", false);
	label(out, "destination_service_name", s->service_name, false);
	label(out, "destination_service_namespace", s->service_ns, false);
	label(out, "destination_cluster", NULL, false);
	label(out, "request_protocol", "tcp", false);
	label(out, "response_flags", s->flags, false);
	label(out, "connection_security_policy", NULL, false);
	pc_buf_addc(out, '}');
}

enum istio_field { F_OPENED, F_CLOSED, F_RECEIVED, F_SENT };

static uint64_t series_value(const struct pc_series_sum *s, enum istio_field f)
{
	switch (f) {
	case F_OPENED:
		return s->opened;
	case F_CLOSED:
		return s->closed;
	case F_RECEIVED:
		return s->received;
	default:
		return s->sent;
	}
}

static void istio_family(struct pc_buf *out, const struct pc_stats_sum *s,
			 const struct pc_stats_labels *l, const char *name, const char *help,
			 enum istio_field f)
{
	size_t i;

	family(out, name, "counter", help);
	for (i = 0; i < s->nseries; i++) {
		pc_buf_adds(out, name);
		istio_labels(out, l, &s->series[i]);
		pc_buf_printf(out, " %" PRIu64 "\n", series_value(&s->series[i], f));
	}
}

/* Offsets keep one table for the seven cluster families. */
struct cluster_family {
	const char *name, *type, *help;
	size_t off;
};

static const struct cluster_family cluster_families[] = {
	{ "envoy_cluster_upstream_cx_active", "gauge", "Open upstream connections",
	  offsetof(struct pc_cluster_sum, cx_active) },
	{ "envoy_cluster_upstream_cx_connect_fail_total", "counter",
	  "Upstream connections that failed to connect (timeouts included)",
	  offsetof(struct pc_cluster_sum, connect_fail) },
	{ "envoy_cluster_upstream_cx_connect_timeout_total", "counter", "Upstream connect timeouts",
	  offsetof(struct pc_cluster_sum, connect_timeout) },
	{ "envoy_cluster_upstream_cx_overflow_total", "counter",
	  "Connections refused by the cluster's maxConnections circuit breaker",
	  offsetof(struct pc_cluster_sum, overflow) },
	{ "envoy_cluster_upstream_cx_rx_bytes_total", "counter",
	  "Bytes received from upstream (sent to the client)",
	  offsetof(struct pc_cluster_sum, to_client) },
	{ "envoy_cluster_upstream_cx_total", "counter", "Upstream connections attempted",
	  offsetof(struct pc_cluster_sum, cx_total) },
	{ "envoy_cluster_upstream_cx_tx_bytes_total", "counter",
	  "Bytes sent upstream (received from the client)",
	  offsetof(struct pc_cluster_sum, from_client) },
};

static void cluster_family(struct pc_buf *out, const struct pc_stats_sum *s,
			   const struct cluster_family *f)
{
	size_t i;
	uint64_t v;

	family(out, f->name, f->type, f->help);
	for (i = 0; i < s->nclusters; i++) {
		memcpy(&v, (const char *)&s->clusters[i] + f->off, sizeof(v));
		pc_buf_printf(out, "%s{", f->name);
		label(out, "cluster_name", s->clusters[i].name, true);
		pc_buf_printf(out, "} %" PRIu64 "\n", v);
	}
}

static void scalar(struct pc_buf *out, const char *name, const char *type, const char *help,
		   uint64_t v)
{
	family(out, name, type, help);
	pc_buf_printf(out, "%s %" PRIu64 "\n", name, v);
}

void pc_stats_prometheus(const struct pc_stats_sum *s, const struct pc_stats_labels *l,
			 const struct pc_proc_stats *p, struct pc_buf *out)
{
	size_t i;

	/* families in name order */
	for (i = 0; i < sizeof(cluster_families) / sizeof(cluster_families[0]); i++)
		cluster_family(out, s, &cluster_families[i]);
	scalar(out, "envoy_listener_downstream_cx_active", "gauge", "Open client connections",
	       s->downstream_active);
	scalar(out, "envoy_listener_downstream_cx_total", "counter", "Client connections accepted",
	       s->downstream_total);
	istio_family(out, s, l, "istio_tcp_connections_closed_total", "TCP connections closed",
		     F_CLOSED);
	istio_family(out, s, l, "istio_tcp_connections_opened_total", "TCP connections opened",
		     F_OPENED);
	istio_family(out, s, l, "istio_tcp_received_bytes_total", "Bytes received from the client",
		     F_RECEIVED);
	istio_family(out, s, l, "istio_tcp_sent_bytes_total", "Bytes sent to the client", F_SENT);
	scalar(out, "portcullis_denied_connections_total", "counter",
	       "Connections denied by the policy (BlackHoleCluster)", s->denied);
	scalar(out, "portcullis_open_fds", "gauge", "Open file descriptors", p->open_fds);
	scalar(out, "portcullis_policy_generation", "gauge", "Generation of the enforced policy",
	       p->generation);
	scalar(out, "portcullis_reload_failures_total", "counter",
	       "Configuration changes refused (invalid, or not compiled)", p->reload_failures);
	scalar(out, "portcullis_reloads_total", "counter",
	       "Policies compiled and enforced after the first", p->reloads);
	scalar(out, "portcullis_resident_memory_bytes", "gauge", "Resident set size", p->rss_bytes);
	scalar(out, "portcullis_revoked_connections_total", "counter",
	       "Open connections closed because a policy change denied them", s->revoked);
	family(out, "portcullis_uptime_seconds", "gauge", "Seconds since the proxy started");
	pc_buf_printf(out, "portcullis_uptime_seconds %.3f\n", p->uptime_seconds);
}

/* ---- JSON ---- */

static void json_str_or_null(struct pc_buf *out, const char *s)
{
	if (s)
		pc_buf_add_json_str(out, s, strlen(s));
	else
		pc_buf_adds(out, "null");
}

void pc_stats_json(const struct pc_stats_sum *s, const struct pc_proc_stats *p, struct pc_buf *out)
{
	size_t i;

	pc_buf_printf(
		out,
		"{\"uptime_seconds\":%.3f,\"policy_generation\":%" PRIu64 ",\"reloads\":%" PRIu64
		",\"reload_failures\":%" PRIu64 ",\"resident_memory_bytes\":%" PRIu64
		",\"open_fds\":%" PRIu64 ",\"listener\":{\"downstream_cx_total\":%" PRIu64
		",\"downstream_cx_active\":%" PRIu64 ",\"denied\":%" PRIu64 ",\"revoked\":%" PRIu64
		"},\"clusters\":[",
		p->uptime_seconds, p->generation, p->reloads, p->reload_failures, p->rss_bytes,
		p->open_fds, s->downstream_total, s->downstream_active, s->denied, s->revoked);
	for (i = 0; i < s->nclusters; i++) {
		const struct pc_cluster_sum *c = &s->clusters[i];

		pc_buf_adds(out, i ? ",{\"name\":" : "{\"name\":");
		json_str_or_null(out, c->name);
		pc_buf_adds(out, ",\"service\":");
		json_str_or_null(out, c->service);
		pc_buf_adds(out, ",\"namespace\":");
		json_str_or_null(out, c->ns);
		pc_buf_printf(out,
			      ",\"upstream_cx_total\":%" PRIu64 ",\"upstream_cx_active\":%" PRIu64
			      ",\"upstream_cx_connect_fail\":%" PRIu64
			      ",\"upstream_cx_connect_timeout\":%" PRIu64
			      ",\"upstream_cx_overflow\":%" PRIu64 ",\"rx_bytes\":%" PRIu64
			      ",\"tx_bytes\":%" PRIu64 "}",
			      c->cx_total, c->cx_active, c->connect_fail, c->connect_timeout,
			      c->overflow, c->from_client, c->to_client);
	}
	pc_buf_adds(out, "]}");
}
