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
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"

const double pc_stats_buckets[PC_STATS_NBUCKETS] = {
	0.5,  1,    5,     10,    25,    50,     100,    250,     500,     1000,
	2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000,
};

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

static uint64_t fnv_u64(uint64_t h, uint64_t v)
{
	unsigned i;

	for (i = 0; i < 8; i++, v >>= 8)
		h = (h ^ (v & 0xffu)) * FNV_PRIME;
	return h;
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
	atomic_init(&st->requests, NULL);
}

void pc_stats_release(struct pc_stats *st)
{
	struct pc_stat_cluster *c, *cn;
	struct pc_stat_series *s, *sn;
	struct pc_stat_request *r, *rn;

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
	for (r = atomic_load(&st->requests); r; r = rn) {
		rn = r->next;
		free(r->flags);
		free(r);
	}
	free(st->cindex.b);
	free(st->sindex.b);
	free(st->rindex.b);
	pc_stats_init(st);
}

/*
 * Make room for one more entry in <ix>: keep the load factor at most 1 by
 * doubling the bucket array; when that fails the old array stays (longer
 * chains, still correct). False only when there is no array at all.
 */
static bool index_reserve(struct pc_stat_index *ix)
{
	size_t nb = ix->nb ? ix->nb * 2 : 64, i;
	struct pc_stat_hnode **b, *e, *en;

	if (ix->n < ix->nb)
		return true;
	b = pc_calloc(nb, sizeof(struct pc_stat_hnode *));
	if (!b)
		return ix->nb != 0;
	for (i = 0; i < ix->nb; i++) {
		for (e = ix->b[i]; e; e = en) {
			en = e->hnext;
			e->hnext = b[e->hash & (nb - 1)];
			b[e->hash & (nb - 1)] = e;
		}
	}
	free(ix->b);
	ix->b = b;
	ix->nb = nb;
	return true;
}

/* The chain where entries of hash <h> are, or NULL. */
static struct pc_stat_hnode *index_chain(const struct pc_stat_index *ix, uint64_t h)
{
	return ix->nb ? ix->b[h & (ix->nb - 1)] : NULL;
}

/* Link <e> under hash <h> (after index_reserve()). */
static void index_add(struct pc_stat_index *ix, struct pc_stat_hnode *e, uint64_t h)
{
	e->hash = h;
	e->hnext = ix->b[h & (ix->nb - 1)];
	ix->b[h & (ix->nb - 1)] = e;
	ix->n++;
}

/* The series whose index link is <link>. */
#define entry_of(link, type) ((type *)(void *)((char *)(link) - offsetof(type, node)))

struct pc_stat_cluster *pc_stats_cluster(struct pc_stats *st, const char *name, const char *service,
					 const char *ns)
{
	uint64_t h = fnv(FNV_OFFSET, name);
	struct pc_stat_hnode *e;
	struct pc_stat_cluster *c;

	for (e = index_chain(&st->cindex, h); e; e = e->hnext) {
		c = entry_of(e, struct pc_stat_cluster);
		if (e->hash == h && strcmp(c->name, name) == 0)
			return c;
	}
	if (!index_reserve(&st->cindex))
		return NULL;
	c = pc_calloc(1, sizeof(*c));
	if (!c)
		return NULL;
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
	index_add(&st->cindex, &c->node, h);
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
	struct pc_stat_hnode *e;
	struct pc_stat_series *s;

	if (!flags)
		flags = "-";
	h = series_hash(service, service_name, service_ns, flags);
	for (e = index_chain(&st->sindex, h); e; e = e->hnext) {
		s = entry_of(e, struct pc_stat_series);
		if (e->hash == h && same(s->service, service) &&
		    same(s->service_name, service_name) && same(s->service_ns, service_ns) &&
		    strcmp(s->flags, flags) == 0)
			return s;
	}
	if (!index_reserve(&st->sindex))
		return NULL;
	s = pc_calloc(1, sizeof(*s));
	if (!s)
		return NULL;
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
	index_add(&st->sindex, &s->node, h);
	s->next = atomic_load_explicit(&st->series, memory_order_relaxed);
	atomic_store_explicit(&st->series, s, memory_order_release);
	return s;
}

/*
 * Within a worker a cluster series is unique per name and never freed, so
 * its address is a key as good as its name, and cheaper to hash; the sum
 * folds series by their label values.
 */
static struct pc_stat_request *request_series(struct pc_stats *st, const struct pc_stat_cluster *sc,
					      unsigned code, const char *flags)
{
	uint64_t h = fnv(fnv_u64(fnv_u64(FNV_OFFSET, (uintptr_t)sc), code), flags);
	struct pc_stat_hnode *e;
	struct pc_stat_request *r;

	for (e = index_chain(&st->rindex, h); e; e = e->hnext) {
		r = entry_of(e, struct pc_stat_request);
		if (e->hash == h && r->sc == sc && r->code == code && strcmp(r->flags, flags) == 0)
			return r;
	}
	if (!index_reserve(&st->rindex))
		return NULL;
	r = pc_calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->flags = dup_or_null(flags);
	if (!r->flags) {
		free(r);
		return NULL;
	}
	r->sc = sc;
	r->code = code;
	index_add(&st->rindex, &r->node, h);
	r->next = atomic_load_explicit(&st->requests, memory_order_relaxed);
	atomic_store_explicit(&st->requests, r, memory_order_release);
	return r;
}

static void hist_add(struct pc_stat_hist *h, uint64_t v)
{
	unsigned i = 0;

	while (i < PC_STATS_NBUCKETS && (double)v > pc_stats_buckets[i])
		i++;
	pc_counter_add(&h->bucket[i], 1);
	pc_counter_add(&h->sum, v);
}

void pc_stats_request(struct pc_stats *st, const struct pc_stat_cluster *sc, unsigned code,
		      const char *flags, uint64_t duration_ms, uint64_t req_bytes,
		      uint64_t resp_bytes)
{
	struct pc_stat_request *r;

	if (!sc)
		return;
	r = request_series(st, sc, code, flags ? flags : "-");
	if (!r)
		return;
	hist_add(&r->duration, duration_ms);
	hist_add(&r->req_bytes, req_bytes);
	hist_add(&r->resp_bytes, resp_bytes);
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

/* The listener's and the upstream sockets' resource errors of <st>, added to <out>. */
static void sum_errors(const struct pc_stats *st, struct pc_stats_sum *out)
{
	size_t r;

	for (r = 0; r < PC_ACCEPT_NREASONS; r++)
		out->accept_errors[r] += pc_counter_get(&st->accept_errors[r]);
	out->upstream_socket_errors += pc_counter_get(&st->upstream_socket_errors);
}

/* The destination labels in the order of the output: service, then name, namespace. */
static int cmp_destination(const char *service_a, const char *name_a, const char *ns_a,
			   const char *service_b, const char *name_b, const char *ns_b)
{
	int r = strcmp(unk(service_a), unk(service_b));

	if (!r)
		r = strcmp(unk(name_a), unk(name_b));
	if (!r)
		r = strcmp(unk(ns_a), unk(ns_b));
	return r;
}

static int cmp_series(const void *a, const void *b)
{
	const struct pc_series_sum *x = a, *y = b;
	int r;

	/* then the flags */
	r = cmp_destination(x->service, x->service_name, x->service_ns, y->service,
			    y->service_name, y->service_ns);
	if (!r)
		r = strcmp(x->flags, y->flags);
	return r;
}

static int cmp_request(const void *a, const void *b)
{
	const struct pc_request_sum *x = a, *y = b;
	int r;

	/* then the code, the flags */
	r = cmp_destination(x->service, x->service_name, x->service_ns, y->service,
			    y->service_name, y->service_ns);
	if (!r)
		r = (x->code > y->code) - (x->code < y->code);
	if (!r)
		r = strcmp(x->flags, y->flags);
	return r;
}

static void hist_get(struct pc_hist_sum *d, const struct pc_stat_hist *h)
{
	unsigned i;

	d->count = 0;
	for (i = 0; i <= PC_STATS_NBUCKETS; i++) {
		d->bucket[i] = pc_counter_get(&h->bucket[i]);
		d->count += d->bucket[i];
	}
	d->sum = pc_counter_get(&h->sum);
}

static void hist_fold(struct pc_hist_sum *a, const struct pc_hist_sum *b)
{
	unsigned i;

	for (i = 0; i <= PC_STATS_NBUCKETS; i++)
		a->bucket[i] += b->bucket[i];
	a->sum += b->sum;
	a->count += b->count;
}

static void collect_requests(const struct pc_stats *st, size_t max, struct pc_stats_sum *out)
{
	const struct pc_stat_request *r;

	for (r = atomic_load_explicit(&((struct pc_stats *)st)->requests, memory_order_acquire);
	     r && out->nrequests < max; r = r->next) {
		struct pc_request_sum *d = &out->requests[out->nrequests++];

		/* the TCP series' labels for the same cluster (proxy/session.c) */
		d->service = r->sc->service;
		d->service_name = r->sc->service ? r->sc->service : r->sc->name;
		d->service_ns = r->sc->ns;
		d->flags = r->flags;
		d->code = r->code;
		hist_get(&d->duration, &r->duration);
		hist_get(&d->req_bytes, &r->req_bytes);
		hist_get(&d->resp_bytes, &r->resp_bytes);
	}
}

static int collect(struct pc_stats *const *v, size_t n, struct pc_stats_sum *out)
{
	const struct pc_stat_cluster *c;
	const struct pc_stat_series *s;
	const struct pc_stat_request *r;
	size_t i, nc = 0, ns = 0, nr = 0;

	for (i = 0; i < n; i++) {
		for (c = atomic_load_explicit(&v[i]->clusters, memory_order_acquire); c;
		     c = c->next)
			nc++;
		for (s = atomic_load_explicit(&v[i]->series, memory_order_acquire); s; s = s->next)
			ns++;
		for (r = atomic_load_explicit(&v[i]->requests, memory_order_acquire); r;
		     r = r->next)
			nr++;
	}
	/* series published after the count are left for the next scrape */
	out->clusters = pc_calloc(nc ? nc : 1, sizeof(*out->clusters));
	out->series = pc_calloc(ns ? ns : 1, sizeof(*out->series));
	out->requests = pc_calloc(nr ? nr : 1, sizeof(*out->requests));
	if (!out->clusters || !out->series || !out->requests)
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
		collect_requests(v[i], nr, out);
		out->downstream_total += pc_counter_get(&v[i]->downstream_total);
		out->downstream_active += pc_counter_get(&v[i]->downstream_active);
		out->denied += pc_counter_get(&v[i]->denied);
		out->revoked += pc_counter_get(&v[i]->revoked);
		sum_errors(v[i], out);
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
	qsort(out->requests, out->nrequests, sizeof(*out->requests), cmp_request);
	for (i = 0, k = 0; i < out->nrequests; i++) {
		struct pc_request_sum *a = &out->requests[k - (k > 0)], *b = &out->requests[i];

		if (k > 0 && cmp_request(a, b) == 0) {
			hist_fold(&a->duration, &b->duration);
			hist_fold(&a->req_bytes, &b->req_bytes);
			hist_fold(&a->resp_bytes, &b->resp_bytes);
			continue;
		}
		out->requests[k++] = *b;
	}
	out->nrequests = k;
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
	free(s->requests);
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

/* The destination of an Istio series, and for HTTP its response code. */
struct istio_dest {
	const char *service, *service_name, *service_ns, *flags;
	const unsigned *code; /* NULL: a TCP series */
};

/*
 * The label set of an Istio series, in Istio's order (reference §7.1), without
 * the closing brace (a histogram's buckets add "le").
 */
static void istio_labels_open(struct pc_buf *out, const struct pc_stats_labels *l,
			      const struct istio_dest *s)
{
	char code[16];

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
	label(out, "request_protocol", s->code ? "http" : "tcp", false);
	if (s->code) {
		snprintf(code, sizeof(code), "%u", *s->code);
		label(out, "response_code", code, false);
		label(out, "grpc_response_status", "", false);
	}
	label(out, "response_flags", s->flags, false);
	label(out, "connection_security_policy", NULL, false);
}

static void istio_labels(struct pc_buf *out, const struct pc_stats_labels *l,
			 const struct pc_series_sum *s)
{
	struct istio_dest d = { s->service, s->service_name, s->service_ns, s->flags, NULL };

	istio_labels_open(out, l, &d);
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

enum request_field { R_DURATION, R_REQ_BYTES, R_RESP_BYTES, R_COUNT };

static const struct pc_hist_sum *request_hist(const struct pc_request_sum *r, enum request_field f)
{
	switch (f) {
	case R_REQ_BYTES:
		return &r->req_bytes;
	case R_RESP_BYTES:
		return &r->resp_bytes;
	default:
		return &r->duration;
	}
}

/*
 * An Istio HTTP family: istio_requests_total (R_COUNT) or one of the
 * histograms, with cumulative buckets whose "le" Envoy prints with %.32g.
 */
static void request_family(struct pc_buf *out, const struct pc_stats_sum *s,
			   const struct pc_stats_labels *l, const char *name, const char *help,
			   enum request_field f)
{
	struct pc_buf lb = PC_BUF_INIT;
	size_t i;
	unsigned k;

	family(out, name, f == R_COUNT ? "counter" : "histogram", help);
	for (i = 0; i < s->nrequests; i++) {
		const struct pc_request_sum *r = &s->requests[i];
		const struct pc_hist_sum *h = request_hist(r, f);
		struct istio_dest d = { r->service, r->service_name, r->service_ns, r->flags,
					&r->code };
		uint64_t cum = 0;

		pc_buf_clear(&lb);
		istio_labels_open(&lb, l, &d);
		if (lb.oom) {
			out->oom = true;
			break;
		}
		if (f == R_COUNT) {
			pc_buf_printf(out, "%s%s} %" PRIu64 "\n", name, pc_buf_str(&lb), h->count);
			continue;
		}
		for (k = 0; k < PC_STATS_NBUCKETS; k++) {
			cum += h->bucket[k];
			pc_buf_printf(out, "%s_bucket%s,le=\"%.32g\"} %" PRIu64 "\n", name,
				      pc_buf_str(&lb), pc_stats_buckets[k], cum);
		}
		pc_buf_printf(out, "%s_bucket%s,le=\"+Inf\"} %" PRIu64 "\n", name, pc_buf_str(&lb),
			      h->count);
		pc_buf_printf(out, "%s_sum%s} %" PRIu64 "\n", name, pc_buf_str(&lb), h->sum);
		pc_buf_printf(out, "%s_count%s} %" PRIu64 "\n", name, pc_buf_str(&lb), h->count);
	}
	pc_buf_release(&lb);
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

/* Listener pauses (net/accept.h), one series per reason, every reason shown. */
static void accept_family(struct pc_buf *out, const struct pc_stats_sum *s)
{
	size_t r;

	family(out, "portcullis_accept_errors_total", "counter",
	       "Listener pauses: accept() out of descriptors or memory, by errno");
	for (r = 0; r < PC_ACCEPT_NREASONS; r++)
		pc_buf_printf(out, "portcullis_accept_errors_total{reason=\"%s\"} %" PRIu64 "\n",
			      pc_accept_reason_name((enum pc_accept_reason)r), s->accept_errors[r]);
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
	request_family(out, s, l, "istio_request_bytes", "HTTP request body sizes (bytes)",
		       R_REQ_BYTES);
	request_family(out, s, l, "istio_request_duration_milliseconds",
		       "HTTP request durations, first request byte to last response byte (ms)",
		       R_DURATION);
	request_family(out, s, l, "istio_requests_total", "HTTP requests", R_COUNT);
	request_family(out, s, l, "istio_response_bytes", "HTTP response body sizes (bytes)",
		       R_RESP_BYTES);
	istio_family(out, s, l, "istio_tcp_connections_closed_total", "TCP connections closed",
		     F_CLOSED);
	istio_family(out, s, l, "istio_tcp_connections_opened_total", "TCP connections opened",
		     F_OPENED);
	istio_family(out, s, l, "istio_tcp_received_bytes_total", "Bytes received from the client",
		     F_RECEIVED);
	istio_family(out, s, l, "istio_tcp_sent_bytes_total", "Bytes sent to the client", F_SENT);
	accept_family(out, s);
	scalar(out, "portcullis_denied_connections_total", "counter",
	       "Connections denied by the policy (BlackHoleCluster)", s->denied);
	scalar(out, "portcullis_heap_in_use_bytes", "gauge",
	       "Bytes malloc has handed out and not had back (all arenas)", p->heap_bytes);
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
	scalar(out, "portcullis_upstream_socket_errors_total", "counter",
	       "Upstream connections not attempted: no socket (out of descriptors or memory)",
	       s->upstream_socket_errors);
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

/* The listener's pauses by reason and the upstream socket failures, inside "listener". */
static void json_errors(struct pc_buf *out, const struct pc_stats_sum *s)
{
	size_t r;

	pc_buf_adds(out, ",\"accept_errors\":{");
	for (r = 0; r < PC_ACCEPT_NREASONS; r++)
		pc_buf_printf(out, "%s\"%s\":%" PRIu64, r ? "," : "",
			      pc_accept_reason_name((enum pc_accept_reason)r), s->accept_errors[r]);
	pc_buf_printf(out, "},\"upstream_socket_errors\":%" PRIu64, s->upstream_socket_errors);
}

void pc_stats_json(const struct pc_stats_sum *s, const struct pc_proc_stats *p, struct pc_buf *out)
{
	size_t i;

	pc_buf_printf(
		out,
		"{\"uptime_seconds\":%.3f,\"policy_generation\":%" PRIu64 ",\"reloads\":%" PRIu64
		",\"reload_failures\":%" PRIu64 ",\"resident_memory_bytes\":%" PRIu64
		",\"open_fds\":%" PRIu64 ",\"listener\":{\"downstream_cx_total\":%" PRIu64
		",\"downstream_cx_active\":%" PRIu64 ",\"denied\":%" PRIu64 ",\"revoked\":%" PRIu64,
		p->uptime_seconds, p->generation, p->reloads, p->reload_failures, p->rss_bytes,
		p->open_fds, s->downstream_total, s->downstream_active, s->denied, s->revoked);
	json_errors(out, s);
	pc_buf_adds(out, "},\"clusters\":[");
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
	pc_buf_adds(out, "],\"requests\":[");
	for (i = 0; i < s->nrequests; i++) {
		const struct pc_request_sum *r = &s->requests[i];

		pc_buf_adds(out, i ? ",{\"service\":" : "{\"service\":");
		json_str_or_null(out, r->service);
		pc_buf_adds(out, ",\"service_name\":");
		json_str_or_null(out, r->service_name);
		pc_buf_adds(out, ",\"namespace\":");
		json_str_or_null(out, r->service_ns);
		pc_buf_printf(out, ",\"response_code\":%u,\"response_flags\":", r->code);
		json_str_or_null(out, r->flags);
		pc_buf_printf(out,
			      ",\"requests\":%" PRIu64 ",\"duration_ms_sum\":%" PRIu64
			      ",\"request_bytes\":%" PRIu64 ",\"response_bytes\":%" PRIu64 "}",
			      r->duration.count, r->duration.sum, r->req_bytes.sum,
			      r->resp_bytes.sum);
	}
	pc_buf_adds(out, "]}");
}
