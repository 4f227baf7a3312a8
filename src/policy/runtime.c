/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * policy/runtime.c - cluster and DNS-name state keyed by name.
 *
 * Two chained hash tables (FNV-1a, power-of-two buckets, doubled when the
 * load passes one) under one mutex per runtime. Entry reference counts are
 * plain integers guarded by that mutex: they change only when a snapshot
 * is compiled or freed and when the resolver takes a name to work on, never
 * per connection. The per-connection parts are the cluster's atomics and a
 * name's address mutex.
 *
 * Lock order: <rt->lock>, then a name's <lock>; never the reverse.
 */
#include "policy/runtime.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "policy/snapshot.h"

struct pc_rt_cluster {
	struct pc_rt_cluster *next; /* hash chain */
	struct pc_runtime *rt;
	size_t refs; /* guarded by rt->lock */
	atomic_uint active;
	atomic_uint rr;
	char name[];
};

struct pc_rt_name {
	struct pc_rt_name *next; /* hash chain */
	struct pc_runtime *rt;
	size_t refs; /* guarded by rt->lock */
	atomic_bool asked;
	bool pinned;      /* a DYNAMIC_DNS cache entry: one of <refs> is the table's own */
	uint64_t born_ms; /* monotonic: when it entered the table */
	pthread_mutex_t lock; /* guards what follows */
	struct pc_addr addrs[PC_RT_MAX_ADDRS];
	size_t naddrs;
	uint64_t expires_ms; /* monotonic; UINT64_MAX: never (an IP literal) */
	char name[];
};

struct table {
	void **buckets;
	size_t nbuckets, n;
};

struct pc_runtime {
	pthread_mutex_t lock;
	struct table clusters;
	struct table names;
	size_t npinned; /* DYNAMIC_DNS names the table holds a reference to */
};

/* Both entry types start with <next>: the chains are walked through this. */
struct link {
	struct link *next;
};

static size_t hash(const char *s)
{
	uint64_t h = 14695981039346656037ull;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return (size_t)h;
}

static int table_grow(struct table *t, size_t (*key)(const void *))
{
	size_t n = t->nbuckets ? t->nbuckets * 2 : 64, i;
	void **b = pc_calloc(n, sizeof(*b));

	if (!b)
		return -ENOMEM;
	for (i = 0; i < t->nbuckets; i++) {
		struct link *e = t->buckets[i], *next;

		for (; e; e = next) {
			size_t k = key(e) & (n - 1);

			next = e->next;
			e->next = b[k];
			b[k] = e;
		}
	}
	free(t->buckets);
	t->buckets = b;
	t->nbuckets = n;
	return 0;
}

static size_t cluster_key(const void *e)
{
	return hash(((const struct pc_rt_cluster *)e)->name);
}

static size_t name_key(const void *e)
{
	return hash(((const struct pc_rt_name *)e)->name);
}

static void table_unlink(struct table *t, struct link *e, size_t h)
{
	struct link **pp = (struct link **)&t->buckets[h & (t->nbuckets - 1)];

	while (*pp != e)
		pp = &(*pp)->next;
	*pp = e->next;
	t->n--;
}

struct pc_runtime *pc_runtime_new(void)
{
	struct pc_runtime *rt = pc_calloc(1, sizeof(*rt));

	if (!rt)
		return NULL;
	if (table_grow(&rt->clusters, cluster_key) < 0 || table_grow(&rt->names, name_key) < 0) {
		free(rt->clusters.buckets);
		free(rt);
		return NULL;
	}
	pthread_mutex_init(&rt->lock, NULL);
	return rt;
}

void pc_runtime_free(struct pc_runtime *rt)
{
	size_t i;

	if (!rt)
		return;
	/* every snapshot is gone, so every entry is but the DYNAMIC_DNS cache's */
	for (i = 0; i < rt->names.nbuckets; i++) {
		struct pc_rt_name *e = rt->names.buckets[i], *next;

		for (; e; e = next) {
			next = e->next;
			pthread_mutex_destroy(&e->lock);
			free(e);
		}
	}
	free(rt->clusters.buckets);
	free(rt->names.buckets);
	pthread_mutex_destroy(&rt->lock);
	free(rt);
}

static struct pc_runtime *default_rt;
static pthread_once_t default_once = PTHREAD_ONCE_INIT;

static void default_init(void)
{
	default_rt = pc_runtime_new();
}

struct pc_runtime *pc_runtime_default(void)
{
	pthread_once(&default_once, default_init);
	return default_rt;
}

/* ---- binding (compile) and unbinding (snapshot freed) ---- */

static struct pc_rt_cluster *cluster_get(struct pc_runtime *rt, const char *name)
{
	size_t h = hash(name), len;
	struct pc_rt_cluster *e;

	for (e = rt->clusters.buckets[h & (rt->clusters.nbuckets - 1)]; e; e = e->next) {
		if (strcmp(e->name, name) == 0) {
			e->refs++;
			return e;
		}
	}
	if (rt->clusters.n >= rt->clusters.nbuckets &&
	    table_grow(&rt->clusters, cluster_key) < 0)
		return NULL;
	len = strlen(name);
	e = pc_calloc(1, sizeof(*e) + len + 1);
	if (!e)
		return NULL;
	memcpy(e->name, name, len + 1);
	e->rt = rt;
	e->refs = 1;
	atomic_init(&e->active, 0);
	atomic_init(&e->rr, 0);
	h &= rt->clusters.nbuckets - 1;
	e->next = rt->clusters.buckets[h];
	rt->clusters.buckets[h] = e;
	rt->clusters.n++;
	return e;
}

static struct pc_rt_name *name_get(struct pc_runtime *rt, const char *name)
{
	size_t h = hash(name), len;
	struct pc_rt_name *e;

	for (e = rt->names.buckets[h & (rt->names.nbuckets - 1)]; e; e = e->next) {
		if (strcmp(e->name, name) == 0) {
			e->refs++;
			return e;
		}
	}
	if (rt->names.n >= rt->names.nbuckets && table_grow(&rt->names, name_key) < 0)
		return NULL;
	len = strlen(name);
	e = pc_calloc(1, sizeof(*e) + len + 1);
	if (!e)
		return NULL;
	memcpy(e->name, name, len + 1);
	e->rt = rt;
	e->refs = 1;
	e->born_ms = pc_mono_ms();
	pthread_mutex_init(&e->lock, NULL);
	if (pc_addr_parse(name, &e->addrs[0]) == 0) {
		e->addrs[0].port = 0; /* an IP literal is its own answer, for ever */
		e->naddrs = 1;
		e->expires_ms = UINT64_MAX;
		atomic_init(&e->asked, true);
	} else {
		atomic_init(&e->asked, false);
	}
	h &= rt->names.nbuckets - 1;
	e->next = rt->names.buckets[h];
	rt->names.buckets[h] = e;
	rt->names.n++;
	return e;
}

/* With rt->lock held. */
static void name_put_locked(struct pc_rt_name *e)
{
	struct pc_runtime *rt = e->rt;

	if (--e->refs)
		return;
	table_unlink(&rt->names, (struct link *)e, hash(e->name));
	pthread_mutex_destroy(&e->lock);
	free(e);
}

int pc_runtime_bind(struct pc_runtime *rt, struct pc_cluster *c)
{
	int ret = 0;
	size_t i;

	pthread_mutex_lock(&rt->lock);
	c->rt = cluster_get(rt, c->name);
	if (!c->rt)
		ret = -ENOMEM;
	for (i = 0; ret == 0 && i < c->ndns_names; i++) {
		c->dns_names[i].rt = name_get(rt, c->dns_names[i].name);
		if (!c->dns_names[i].rt)
			ret = -ENOMEM;
	}
	pthread_mutex_unlock(&rt->lock);
	return ret;
}

void pc_runtime_unbind(struct pc_cluster *c)
{
	struct pc_runtime *rt;
	size_t i;

	if (!c->rt)
		return; /* never bound: neither are its names */
	rt = c->rt->rt;
	pthread_mutex_lock(&rt->lock);
	for (i = 0; i < c->ndns_names; i++) {
		if (c->dns_names[i].rt)
			name_put_locked(c->dns_names[i].rt);
	}
	if (--c->rt->refs == 0) {
		table_unlink(&rt->clusters, (struct link *)c->rt, hash(c->rt->name));
		free(c->rt);
	}
	pthread_mutex_unlock(&rt->lock);
}

void pc_runtime_count(struct pc_runtime *rt, size_t *nclusters, size_t *nnames)
{
	pthread_mutex_lock(&rt->lock);
	*nclusters = rt->clusters.n;
	*nnames = rt->names.n;
	pthread_mutex_unlock(&rt->lock);
}

/* ---- per cluster ---- */

unsigned pc_cluster_active(const struct pc_cluster *c)
{
	return atomic_load_explicit(&c->rt->active, memory_order_relaxed);
}

bool pc_cluster_try_acquire(const struct pc_cluster *c, uint32_t max)
{
	unsigned cur;

	if (max == UINT32_MAX) {
		atomic_fetch_add_explicit(&c->rt->active, 1, memory_order_relaxed);
		return true;
	}
	cur = atomic_load_explicit(&c->rt->active, memory_order_relaxed);
	do {
		if (cur >= max)
			return false;
		/* a failed exchange reloads <cur>: another worker took or gave a slot */
	} while (!atomic_compare_exchange_weak_explicit(&c->rt->active, &cur, cur + 1,
							memory_order_relaxed, memory_order_relaxed));
	return true;
}

void pc_cluster_release(const struct pc_cluster *c)
{
	atomic_fetch_sub_explicit(&c->rt->active, 1, memory_order_relaxed);
}

unsigned pc_cluster_next_rr(const struct pc_cluster *c)
{
	return atomic_fetch_add_explicit(&c->rt->rr, 1, memory_order_relaxed);
}

/* The <k>th address of name <n> with <port>, if it has that many; else its count. */
static size_t name_nth(struct pc_rt_name *n, size_t k, uint16_t port, struct pc_addr *out,
		       bool *found)
{
	size_t count;

	pthread_mutex_lock(&n->lock);
	count = n->naddrs;
	if (k < count) {
		*out = n->addrs[k];
		out->port = port;
		*found = true;
	}
	pthread_mutex_unlock(&n->lock);
	return count;
}

bool pc_cluster_pick_resolved(const struct pc_cluster *c, struct pc_addr *out)
{
	size_t i, total = 0, k;
	bool found = false;

	/* DNS_ROUND_ROBIN: the first address of the first name that has one */
	if (c->source != PC_EP_DNS) {
		for (i = 0; i < c->ndns_names && !found; i++)
			name_nth(c->dns_names[i].rt, 0, c->dns_names[i].port, out, &found);
		return found;
	}
	/* DNS: round robin over all; answers may change between the two walks */
	for (i = 0; i < c->ndns_names; i++)
		total += name_nth(c->dns_names[i].rt, SIZE_MAX, 0, out, &found);
	if (total == 0)
		return false;
	k = pc_cluster_next_rr(c) % total;
	for (i = 0; i < c->ndns_names && !found; i++)
		k -= name_nth(c->dns_names[i].rt, k, c->dns_names[i].port, out, &found);
	for (i = 0; i < c->ndns_names && !found; i++)
		name_nth(c->dns_names[i].rt, 0, c->dns_names[i].port, out, &found); /* shrank */
	return found;
}

size_t pc_cluster_resolved(const struct pc_cluster *c, struct pc_addr *out, size_t max)
{
	size_t i, j, k = 0;

	for (i = 0; i < c->ndns_names; i++) {
		struct pc_rt_name *n = c->dns_names[i].rt;

		pthread_mutex_lock(&n->lock);
		for (j = 0; j < n->naddrs && k < max; j++) {
			out[k] = n->addrs[j];
			out[k++].port = c->dns_names[i].port;
		}
		pthread_mutex_unlock(&n->lock);
	}
	return k;
}

uint64_t pc_cluster_first_wait(const struct pc_cluster *c, uint64_t window_ms)
{
	uint64_t until = 0;
	size_t i;

	for (i = 0; i < c->ndns_names; i++) {
		const struct pc_rt_name *n = c->dns_names[i].rt;

		if (!atomic_load(&n->asked) && n->born_ms + window_ms > until)
			until = n->born_ms + window_ms;
	}
	return until;
}

/* ---- per DNS name ---- */

struct pc_rt_name *pc_runtime_next_due(struct pc_runtime *rt, uint64_t now_ms,
				       uint64_t *next_ms)
{
	struct pc_rt_name *best = NULL, *e;
	uint64_t best_at = UINT64_MAX, at;
	size_t i;

	*next_ms = UINT64_MAX;
	pthread_mutex_lock(&rt->lock);
	for (i = 0; i < rt->names.nbuckets; i++) {
		struct pc_rt_name *next;

		for (e = rt->names.buckets[i]; e; e = next) {
			next = e->next;
			pthread_mutex_lock(&e->lock);
			at = atomic_load(&e->asked) ? e->expires_ms : 0;
			pthread_mutex_unlock(&e->lock);
			if (e->pinned && e->refs == 1 && at <= now_ms) {
				/* a dynamic name nobody uses, its answer expired: drop it */
				e->pinned = false;
				rt->npinned--;
				name_put_locked(e);
				continue;
			}
			if (at < best_at) {
				best = e;
				best_at = at;
			}
		}
	}
	if (best && best_at <= now_ms) {
		best->refs++;
	} else {
		*next_ms = best_at;
		best = NULL;
	}
	pthread_mutex_unlock(&rt->lock);
	return best;
}

struct pc_rt_name *pc_runtime_dynamic_get(struct pc_runtime *rt, const char *name)
{
	struct pc_rt_name *e;

	pthread_mutex_lock(&rt->lock);
	e = name_get(rt, name);
	if (e && !e->pinned && rt->npinned < PC_RT_DYNAMIC_MAX) {
		e->pinned = true; /* the cache's own reference */
		e->refs++;
		rt->npinned++;
	}
	pthread_mutex_unlock(&rt->lock);
	return e;
}

bool pc_runtime_name_pick(struct pc_rt_name *n, unsigned rr, uint16_t port, struct pc_addr *out)
{
	bool found = false;
	size_t count = name_nth(n, SIZE_MAX, 0, out, &found);

	if (!count)
		return false;
	name_nth(n, rr % count, port, out, &found);
	if (!found)
		name_nth(n, 0, port, out, &found); /* the answer shrank meanwhile */
	return found;
}

const char *pc_runtime_name(const struct pc_rt_name *n)
{
	return n->name;
}

int pc_runtime_name_set(struct pc_rt_name *n, const struct pc_addr *addrs, size_t count,
			uint64_t expires_ms)
{
	if (count > PC_RT_MAX_ADDRS)
		count = PC_RT_MAX_ADDRS;
	pthread_mutex_lock(&n->lock);
	if (count)
		memcpy(n->addrs, addrs, count * sizeof(*addrs));
	n->naddrs = count;
	n->expires_ms = expires_ms;
	pthread_mutex_unlock(&n->lock);
	atomic_store(&n->asked, true);
	return 0;
}

void pc_runtime_name_retry(struct pc_rt_name *n, uint64_t retry_ms)
{
	pthread_mutex_lock(&n->lock);
	n->expires_ms = retry_ms;
	pthread_mutex_unlock(&n->lock);
	atomic_store(&n->asked, true);
}

bool pc_runtime_name_asked(const struct pc_rt_name *n)
{
	return atomic_load(&n->asked);
}

void pc_runtime_name_put(struct pc_rt_name *n)
{
	struct pc_runtime *rt = n->rt;

	pthread_mutex_lock(&rt->lock);
	name_put_locked(n);
	pthread_mutex_unlock(&rt->lock);
}
