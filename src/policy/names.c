/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * policy/names.c - the snapshot's DNS name table and auto-allocated
 * addresses: which ServiceEntry host answers for a name the app asks the
 * DNS proxy about (the exact host, else the longest wildcard, as Envoy
 * picks a server name), and which name an allocated address belongs to
 * (for the access log and the denials). Compile fills the tables
 * (compile.c); everything here is a lookup that never allocates.
 */
#include "policy/names.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/arena.h"
#include "policy/alloc.h"
#include "policy/snapshot.h"

static const struct pc_dns_host *find_host(const struct pc_snapshot *s, const char *host)
{
	size_t lo = 0, hi = s->ndns_hosts;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(host, s->dns_hosts[mid].host);

		if (c == 0)
			return &s->dns_hosts[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

const struct pc_dns_host *pc_snapshot_dns_host(const struct pc_snapshot *s, const char *name)
{
	const struct pc_dns_host *h;
	char pat[258];
	const char *p;
	size_t n = strlen(name);

	if (!n || n > 255)
		return NULL;
	h = find_host(s, name);
	if (h)
		return h;
	/* "*.b.c" for a.b.c, then "*.c", then "*": the longest suffix first */
	for (p = strchr(name, '.'); p; p = strchr(p + 1, '.')) {
		pat[0] = '*';
		memcpy(pat + 1, p, strlen(p) + 1);
		h = find_host(s, pat);
		if (h)
			return h;
	}
	return find_host(s, "*");
}

const struct pc_vip *pc_snapshot_vip_by_name(const struct pc_snapshot *s, const char *name)
{
	size_t lo = 0, hi = s->nvips;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(name, s->vips[mid].name);

		if (c == 0)
			return &s->vips[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* The address of <v> in <family>. */
static const struct pc_addr *vip_addr(const struct pc_vip *v, int family)
{
	return family == AF_INET ? &v->v4 : &v->v6;
}

static int addr_cmp(const struct pc_addr *a, const struct pc_addr *b)
{
	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	return memcmp(a->bytes, b->bytes, a->family == AF_INET ? 4 : 16);
}

const struct pc_vip *pc_snapshot_vip_by_addr(const struct pc_snapshot *s, const struct pc_addr *a)
{
	const uint32_t *idx = a->family == AF_INET ? s->vips_by_v4 : s->vips_by_v6;
	size_t lo = 0, hi = a->family == AF_INET ? s->nvips_v4 : s->nvips_v6;

	if (!pc_alloc_in_range(a))
		return NULL;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct pc_vip *v = &s->vips[idx[mid]];
		int c = addr_cmp(a, vip_addr(v, a->family));

		if (c == 0)
			return v;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* ---- building (compile.c) ---- */

static int vip_cmp_name(const void *a, const void *b)
{
	return strcmp(((const struct pc_vip *)a)->name, ((const struct pc_vip *)b)->name);
}

struct by_addr {
	const struct pc_vip *vips;
	uint32_t idx;
	int family;
};

static int by_addr_cmp(const void *pa, const void *pb)
{
	const struct by_addr *a = pa, *b = pb;

	return addr_cmp(vip_addr(&a->vips[a->idx], a->family),
			vip_addr(&b->vips[b->idx], b->family));
}

/* The index by address of <family>'s addresses, sorted. */
static int index_vips(struct pc_snapshot *s, struct pc_vip *v, size_t n, int family)
{
	struct by_addr *tmp;
	uint32_t *idx;
	size_t i, k = 0;

	tmp = calloc(n ? n : 1, sizeof(*tmp));
	if (!tmp)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		if (vip_addr(&v[i], family)->family == family)
			tmp[k++] = (struct by_addr){ v, (uint32_t)i, family };
	}
	qsort(tmp, k, sizeof(*tmp), by_addr_cmp);
	idx = pc_arena_calloc(s->arena, k ? k : 1, sizeof(*idx));
	if (!idx) {
		free(tmp);
		return -ENOMEM;
	}
	for (i = 0; i < k; i++)
		idx[i] = tmp[i].idx;
	free(tmp);
	if (family == AF_INET) {
		s->vips_by_v4 = idx;
		s->nvips_v4 = k;
	} else {
		s->vips_by_v6 = idx;
		s->nvips_v6 = k;
	}
	return 0;
}

int pc_names_set_vips(struct pc_snapshot *s, const struct pc_vip *vips, size_t n)
{
	struct pc_vip *v;
	size_t i;
	int ret;

	if (!n)
		return 0;
	v = pc_arena_calloc(s->arena, n, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		v[i] = vips[i];
		v[i].name = pc_arena_strdup(s->arena, vips[i].name);
		if (!v[i].name)
			return -ENOMEM;
		/* only addresses in the ranges: anything else would shadow a real destination */
		if (v[i].v4.family && !pc_alloc_in_range(&v[i].v4))
			v[i].v4.family = 0;
		if (v[i].v6.family && !pc_alloc_in_range(&v[i].v6))
			v[i].v6.family = 0;
		v[i].v4.port = v[i].v6.port = 0;
	}
	qsort(v, n, sizeof(*v), vip_cmp_name);
	s->vips = v;
	s->nvips = n;
	ret = index_vips(s, v, n, AF_INET);
	return ret < 0 ? ret : index_vips(s, v, n, AF_INET6);
}

struct seq_host {
	struct pc_dns_host h;
	size_t seq;
};

/* By host, then by position: qsort is not stable, and the first (oldest) entry wins. */
static int host_cmp(const void *pa, const void *pb)
{
	const struct seq_host *a = pa, *b = pb;
	int c = strcmp(a->h.host, b->h.host);

	return c ? c : (a->seq > b->seq) - (a->seq < b->seq);
}

int pc_names_seal_hosts(struct pc_snapshot *s, const struct pc_dns_host *v, size_t n)
{
	struct pc_dns_host *out;
	struct seq_host *tmp;
	size_t i, k = 0;

	if (!n)
		return 0;
	tmp = calloc(n, sizeof(*tmp));
	out = pc_arena_calloc(s->arena, n, sizeof(*out));
	if (!tmp || !out) {
		free(tmp);
		return -ENOMEM;
	}
	for (i = 0; i < n; i++)
		tmp[i] = (struct seq_host){ v[i], i };
	qsort(tmp, n, sizeof(*tmp), host_cmp);
	for (i = 0; i < n; i++) {
		if (k && strcmp(out[k - 1].host, tmp[i].h.host) == 0)
			continue;
		out[k++] = tmp[i].h;
	}
	free(tmp);
	s->dns_hosts = out;
	s->ndns_hosts = k;
	return 0;
}
