/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bench/alloc-bench.c - the cost of the address allocation table
 * (policy/alloc.h) and of its persistence (store/store.h).
 *
 * Usage: alloc-bench [NAMES] [STATE_DIR]   (default 100000, a temp dir)
 *
 * Fills a table with NAMES names as the DNS proxy would (choose, insert),
 * then prints: bytes per allocation (the table's own count, and the heap
 * as malloc sees it, overhead included), the time to choose and insert
 * one, lookups by name and by address, and the store's side: one
 * pc_store_alloc_add() of all of them, the listing that loads them at
 * start into a fresh table, a touch of 1,000, and store.db's size. It
 * never fails on a slow figure; it exits 1 only when it cannot measure.
 */
#include <errno.h>
#include <ftw.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/err.h"
#include "policy/alloc.h"
#include "store/store.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t heap(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

static void name_of(char *buf, size_t size, unsigned i)
{
	/* the shape of real names: a host under a provider's zone */
	snprintf(buf, size, "db%u.c%u.eu-west-1.rds.example.com", i, i % 97);
}

struct loader {
	struct pc_alloc_table *t;
	size_t n;
};

static int load_one(const struct pc_store_alloc *sa, void *data)
{
	struct loader *l = data;
	struct pc_alloc a = { .name = sa->name,
			      .created = sa->created,
			      .last_used = sa->last_used };

	if (sa->has_v4) {
		a.v4.family = AF_INET;
		memcpy(a.v4.bytes, sa->v4, 4);
	}
	if (sa->has_v6) {
		a.v6.family = AF_INET6;
		memcpy(a.v6.bytes, sa->v6, 16);
	}
	l->n++;
	return pc_alloc_insert(l->t, &a);
}

static int to_store(const struct pc_alloc *a, void *data)
{
	struct pc_store_alloc **p = data, *sa = (*p)++;

	memset(sa, 0, sizeof(*sa));
	sa->name = a->name;
	sa->has_v4 = a->v4.family != 0;
	memcpy(sa->v4, a->v4.bytes, 4);
	sa->has_v6 = a->v6.family != 0;
	memcpy(sa->v6, a->v6.bytes, 16);
	sa->created = a->created;
	sa->last_used = a->last_used;
	return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Add <v>'s <n> to the store in <dir>, load them into <l>, touch 1,000 <names>. */
static int run_store(const struct pc_store_alloc *v, unsigned n, const char **names,
		     struct loader *l, const char *dir)
{
	struct pc_store *s = NULL;
	struct pc_err err;
	char path[4096];
	struct stat st;
	double t0, t1, t2, t3;
	unsigned i;
	int ret;

	ret = pc_store_open(dir, &s, &err);
	if (ret < 0) {
		fprintf(stderr, "alloc-bench: %s\n", err.msg);
		return ret;
	}
	t0 = now();
	ret = pc_store_alloc_add(s, v, n, &err);
	t1 = now();
	if (ret == 0)
		ret = pc_store_alloc_list(s, load_one, l, &err);
	t2 = now();
	for (i = 0; i < 1000 && i < n; i++)
		names[i] = v[i * (n / 1000 ? n / 1000 : 1) % n].name;
	if (ret == 0)
		ret = pc_store_alloc_touch(s, names, i, 1800000000, &err);
	t3 = now();
	pc_store_close(s);
	if (ret != 0) {
		fprintf(stderr, "alloc-bench: store: %d %s\n", ret, err.msg);
		return ret;
	}
	snprintf(path, sizeof(path), "%s/store.db", dir);
	if (stat(path, &st) != 0)
		st.st_size = 0;
	printf("store add:   %.3f s for %u in one transaction\n", t1 - t0, n);
	printf("store load:  %.3f s to list %zu and insert them in a fresh table (start-up)\n",
	       t2 - t1, l->n);
	printf("store touch: %.2f ms for %u names in one transaction\n", (t3 - t2) * 1e3, i);
	printf("store.db:    %.1f MiB, %.0f bytes per allocation (after checkpoint)\n",
	       (double)st.st_size / 1048576, (double)st.st_size / n);
	return 0;
}

/* The store half, from the allocations of <t>. */
static int bench_store(const struct pc_alloc_table *t, unsigned n, const char *dir)
{
	struct pc_store_alloc *v = calloc(n, sizeof(*v)), *p = v;
	const char **names = calloc(1000, sizeof(*names));
	struct loader l = { .t = pc_alloc_table_new() };
	int ret = -ENOMEM;

	if (v && names && l.t && pc_alloc_foreach(t, to_store, &p) == 0)
		ret = run_store(v, n, names, &l, dir);
	pc_alloc_table_free(l.t);
	free(names);
	free(v);
	return ret;
}

static int lookups(const struct pc_alloc_table *t, unsigned n)
{
	char name[128];
	double t0, t1, t2;
	unsigned i, found = 0;
	const struct pc_alloc *a;

	t0 = now();
	for (i = 0; i < n; i++) {
		name_of(name, sizeof(name), i);
		found += pc_alloc_by_name(t, name) != NULL;
	}
	t1 = now();
	for (i = 0; i < n; i++) {
		name_of(name, sizeof(name), i);
		a = pc_alloc_by_name(t, name);
		found += a && pc_alloc_by_addr(t, &a->v6) == a;
	}
	t2 = now();
	printf("by name:     %.0f ns per lookup\n", (t1 - t0) * 1e9 / n);
	printf("by address:  %.0f ns per lookup (IPv6)\n", ((t2 - t1) - (t1 - t0)) * 1e9 / n);
	return found == 2 * n ? 0 : -EIO;
}

int main(int argc, char **argv)
{
	unsigned n = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 100000, i;
	char tmp[] = "/tmp/alloc-bench-XXXXXX", dir[64], name[128];
	struct pc_alloc a = { .name = name, .created = 1, .last_used = 1 };
	struct pc_alloc_table *t;
	size_t h0, h1;
	double t0, t1;
	int ret;

	if (n == 0)
		return 1;
	h0 = heap();
	t = pc_alloc_table_new();
	if (!t)
		return 1;
	t0 = now();
	for (i = 0; i < n; i++) {
		name_of(name, sizeof(name), i);
		if (pc_alloc_choose(t, name, &a.v4, &a.v6) != 0 || pc_alloc_insert(t, &a) != 0)
			return 1;
	}
	t1 = now();
	h1 = heap();
	printf("names:       %u (%zu with an IPv4 address: the /16 holds %u)\n", n,
	       n < PC_ALLOC_V4_SIZE ? (size_t)n : (size_t)PC_ALLOC_V4_SIZE, PC_ALLOC_V4_SIZE);
	printf("memory:      %.1f bytes per allocation (table's count: %.1f MiB in all)\n",
	       (double)pc_alloc_memory(t) / n, (double)pc_alloc_memory(t) / 1048576);
	printf("heap:        %.1f bytes per allocation (malloc's view, overhead included)\n",
	       (double)(h1 - h0) / n);
	printf("choose+add:  %.0f ns per name\n", (t1 - t0) * 1e9 / n);
	if (lookups(t, n) < 0)
		return 1;
	if (argc > 2) {
		ret = bench_store(t, n, argv[2]);
	} else {
		if (!mkdtemp(tmp))
			return 1;
		snprintf(dir, sizeof(dir), "%s/state", tmp);
		ret = bench_store(t, n, dir);
		nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	}
	pc_alloc_table_free(t);
	return ret < 0 ? 1 : 0;
}
