/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * policy/chains.c - server-name filter chains: drafts, sealing, lookup.
 *
 * A name lookup is Envoy's findFilterChainForServerName(): the exact name,
 * then "*" + each suffix of the name that starts at a dot, leftmost (the
 * longest) first, then the catch-all "*". So "*.example.com" matches one
 * or more labels below example.com and never example.com itself, and a
 * partial wildcard ("*foo.example.com", which validation warns about)
 * matches nothing, as in Envoy. Each step is a binary search over a sorted
 * array: O(labels * log chains), no allocation, no hashing of the name.
 */
#include "policy/chains.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "policy/trie.h"

int pc_chain_add(struct pc_chain_set *set, size_t port, uint32_t level, enum pc_chain_kind kind,
		 bool vs, const struct pc_chain *chain)
{
	struct pc_chain_draft *d;

	if (set->n == set->cap) {
		size_t cap = set->cap ? set->cap * 2 : 32;

		d = pc_realloc(set->v, cap * sizeof(*d));
		if (!d)
			return -ENOMEM;
		set->v = d;
		set->cap = cap;
	}
	d = &set->v[set->n++];
	d->port = port;
	d->level = level;
	d->kind = kind;
	d->seq = set->seq++;
	d->vs = vs;
	d->chain = *chain;
	return 0;
}

void pc_chain_set_release(struct pc_chain_set *set)
{
	free(set->v);
	memset(set, 0, sizeof(*set));
}

static int cmp_name(const char *a, const char *b)
{
	if (!a || !b)
		return (a != NULL) - (b != NULL);
	return strcmp(a, b);
}

static int by_key(const void *pa, const void *pb)
{
	const struct pc_chain_draft *a = pa, *b = pb;
	int c;

	if (a->port != b->port)
		return a->port < b->port ? -1 : 1;
	if (a->level != b->level)
		return a->level < b->level ? -1 : 1;
	if (a->kind != b->kind)
		return a->kind < b->kind ? -1 : 1;
	c = cmp_name(a->chain.name, b->chain.name);
	if (c)
		return c;
	return (a->seq > b->seq) - (a->seq < b->seq);
}

static bool same_key(const struct pc_chain_draft *a, const struct pc_chain_draft *b)
{
	return a->port == b->port && a->level == b->level && a->kind == b->kind &&
	       cmp_name(a->chain.name, b->chain.name) == 0;
}

static bool is_star(const char *name)
{
	return name && name[0] == '*' && name[1] == '\0';
}

static bool is_wild(const char *name)
{
	return name && name[0] == '*' && name[1] != '\0';
}

/* Fill table <t> from the drafts [<i>, <j>), all of one (port, level, kind), sorted, unique. */
static int fill_names(struct pc_names *t, const struct pc_chain_draft *v, size_t i, size_t j,
		      struct pc_arena *arena)
{
	struct pc_chain *exact, *wild;
	size_t k, ne = 0, nw = 0;

	for (k = i; k < j; k++) {
		if (is_wild(v[k].chain.name))
			nw++;
		else if (!is_star(v[k].chain.name))
			ne++;
	}
	exact = pc_arena_calloc(arena, ne ? ne : 1, sizeof(*exact));
	wild = pc_arena_calloc(arena, nw ? nw : 1, sizeof(*wild));
	if (!exact || !wild)
		return -ENOMEM;
	t->exact = exact;
	t->wild = wild;
	for (k = i; k < j; k++) {
		if (is_wild(v[k].chain.name)) {
			wild[t->nwild++] = v[k].chain;
		} else if (is_star(v[k].chain.name)) {
			struct pc_chain *c = pc_arena_alloc(arena, sizeof(*c));

			if (!c)
				return -ENOMEM;
			*c = v[k].chain;
			t->star = c;
		} else {
			exact[t->nexact++] = v[k].chain;
		}
	}
	return 0;
}

static int fill_group(struct pc_chain_level *lv, const struct pc_chain_draft *v, size_t i, size_t j,
		      struct pc_arena *arena)
{
	struct pc_chain *c;

	switch (v[i].kind) {
	case PC_CHAIN_TLS:
		return fill_names(&lv->tls, v, i, j, arena);
	case PC_CHAIN_HTTP:
		return fill_names(&lv->http, v, i, j, arena);
	case PC_CHAIN_HTTP_IP:
		c = pc_arena_alloc(arena, sizeof(*c));
		if (!c)
			return -ENOMEM;
		*c = v[i].chain;
		lv->http_ip = c;
		return 0;
	}
	return 0;
}

int pc_chain_seal(struct pc_chain_set *set, struct pc_port_policy *ports, size_t nports,
		  struct pc_arena *arena, pc_chain_conflict_fn *conflict, void *data)
{
	struct pc_chain_draft *v = set->v;
	size_t i, j, n = 0;
	int ret = 0;

	if (set->n)
		qsort(v, set->n, sizeof(*v), by_key);
	/* the oldest of each key stays; the drafts are compacted in place */
	for (i = 0; i < set->n; i++) {
		if (n && same_key(&v[n - 1], &v[i])) {
			if (conflict && !(v[n - 1].vs && !v[i].vs) && v[n - 1].port < nports)
				conflict(data, ports[v[i].port].port, &v[n - 1].chain, &v[i].chain);
			continue;
		}
		v[n++] = v[i];
	}
	for (i = 0; i < n && ret == 0; i = j) {
		for (j = i + 1; j < n; j++) {
			if (v[j].port != v[i].port || v[j].level != v[i].level ||
			    v[j].kind != v[i].kind)
				break;
		}
		if (v[i].port >= nports || v[i].level >= ports[v[i].port].nlevels)
			continue; /* cannot happen: drafts name levels the builder made */
		ret = fill_group(&ports[v[i].port].levels[v[i].level], v, i, j, arena);
	}
	pc_chain_set_release(set);
	return ret;
}

static const struct pc_chain *search(const struct pc_chain *v, size_t n, const char *key,
				     size_t skip)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(v[mid].name + skip, key);

		if (c == 0)
			return &v[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

const struct pc_chain *pc_names_find(const struct pc_names *t, const char *name)
{
	const struct pc_chain *c;
	const char *p;

	if (!name || !*name)
		return NULL;
	c = search(t->exact, t->nexact, name, 0);
	if (c)
		return c;
	/* "*" + the suffix from each dot but a leading one: the longest suffix first */
	for (p = strchr(name + 1, '.'); t->nwild && p && p[1]; p = strchr(p + 1, '.')) {
		c = search(t->wild, t->nwild, p, 1);
		if (c)
			return c;
	}
	return t->star;
}

uint32_t pc_chain_pick(const struct pc_chain *c, uint32_t pick)
{
	uint64_t at;
	uint32_t i;

	if (c->nroutes == 1 || c->total_weight == 0)
		return c->routes[0].cluster;
	at = pick % c->total_weight;
	for (i = 0; i < c->nroutes; i++) {
		if (at < c->routes[i].weight)
			return c->routes[i].cluster;
		at -= c->routes[i].weight;
	}
	return c->routes[c->nroutes - 1].cluster;
}

bool pc_names_empty(const struct pc_names *t)
{
	return t->nexact == 0 && t->nwild == 0 && !t->star;
}
