/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * daemon/registry.c - the decoded resources, sorted by (kind, ns, name).
 *
 * A sorted array searched by bisection: a change sets or removes entries
 * among those sorted before it, appends new keys, and one sort at the end
 * puts them in place, so an apply of k objects into n costs k log n plus
 * one sort, not k insertions. Loading decodes the stored objects in
 * streams of LOAD_CHUNK bytes: one batch for the whole store.
 */
#include "daemon/registry.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "model/finding.h"
#include "model/output.h"
#include "store/store.h"

void pc_registry_init(struct pc_registry *reg)
{
	memset(reg, 0, sizeof(*reg));
}

void pc_registry_release(struct pc_registry *reg)
{
	size_t i;

	for (i = 0; i < reg->n; i++)
		/* NOLINTNEXTLINE(clang-analyzer-unix.Malloc): batches are refcounted */
		pc_batch_put(reg->v[i].batch);
	free(reg->v);
	reg->v = NULL;
	reg->n = reg->cap = 0;
}

static int entry_cmp(enum pc_kind kind, const char *ns, const char *name,
		     const struct pc_registry_entry *e)
{
	int d;

	if (kind != e->kind)
		return kind < e->kind ? -1 : 1;
	d = strcmp(ns, e->ns);
	return d ? d : strcmp(name, e->name);
}

size_t pc_registry_find(const struct pc_registry *reg, size_t n, enum pc_kind kind,
			const char *ns, const char *name)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int d = entry_cmp(kind, ns, name, &reg->v[mid]);

		if (d == 0)
			return mid;
		if (d < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return SIZE_MAX;
}

void pc_batch_put(struct pc_batch *b)
{
	if (b && --b->live == 0) {
		if (b->owner) /* NULL: a loaded config never applied */
			b->owner->nbatches--;
		pc_manifest_release(&b->m);
		free(b);
	}
}

struct pc_batch *pc_batch_new(struct pc_registry *reg)
{
	struct pc_batch *b = pc_calloc(1, sizeof(*b));

	if (b && pc_manifest_init(&b->m) < 0) {
		free(b);
		return NULL;
	}
	if (b) {
		b->live = 1; /* the creator's reference */
		if (reg)
			pc_batch_adopt(reg, b);
	}
	return b;
}

void pc_batch_adopt(struct pc_registry *reg, struct pc_batch *b)
{
	b->owner = reg;
	reg->nbatches++;
}

int pc_registry_set(struct pc_registry *reg, size_t sorted, struct pc_resource *res,
		    struct pc_batch *b, const char *source)
{
	size_t i = pc_registry_find(reg, sorted, res->kind, res->meta.ns, res->meta.name);
	struct pc_registry_entry *e;

	if (i == SIZE_MAX) {
		if (reg->n == reg->cap) {
			size_t cap = reg->cap ? reg->cap * 2 : 64;

			e = pc_realloc(reg->v, cap * sizeof(*e));
			if (!e)
				return -ENOMEM;
			reg->v = e;
			reg->cap = cap;
		}
		i = reg->n++;
		reg->v[i].batch = NULL;
	}
	e = &reg->v[i];
	b->live++;
	pc_batch_put(e->batch);
	e->kind = res->kind;
	e->ns = res->meta.ns;
	e->name = res->meta.name;
	e->res = res;
	e->batch = b;
	e->source = source;
	e->seq = reg->seq++;
	return 0;
}

void pc_registry_remove(struct pc_registry *reg, size_t sorted, enum pc_kind kind, const char *ns,
			const char *name)
{
	size_t i = pc_registry_find(reg, sorted, kind, ns, name);

	/*
	 * Keep the batch until the finish: the entry's key lives in it, and
	 * later finds of this change still compare against that key.
	 */
	if (i != SIZE_MAX)
		reg->v[i].res = NULL;
}

static int by_key(const void *a, const void *b)
{
	const struct pc_registry_entry *x = a, *y = b;
	int d = entry_cmp(x->kind, x->ns, x->name, y);

	if (d)
		return d;
	return x->seq < y->seq ? -1 : (x->seq > y->seq ? 1 : 0);
}

void pc_registry_finish(struct pc_registry *reg, size_t sorted)
{
	size_t i, k = 0;

	for (i = 0; i < reg->n; i++) {
		if (reg->v[i].res)
			reg->v[k++] = reg->v[i];
		else
			pc_batch_put(reg->v[i].batch);
	}
	if (reg->n > sorted)
		qsort(reg->v, k, sizeof(*reg->v), by_key);
	reg->n = k;
	for (i = 0, k = 0; i < reg->n; i++) {
		if (k > 0 &&
		    entry_cmp(reg->v[i].kind, reg->v[i].ns, reg->v[i].name, &reg->v[k - 1]) == 0)
			pc_batch_put(reg->v[--k].batch);
		reg->v[k++] = reg->v[i];
	}
	reg->n = k;
}

/* ---- loading from the store ---- */

/* What the registry needs of a stored object besides its text. */
struct stored_meta {
	enum pc_kind kind;
	const char *ns, *name, *cts, *source;
};

#define LOAD_CHUNK (8u << 20) /* objects are decoded in streams of this size */

struct load_ctx {
	struct pc_batch *b;
	struct stored_meta *meta;
	size_t nmeta, capmeta;
	struct pc_buf chunk; /* JSON documents separated by "---" */
	struct pc_findings f;
	int ret;
};

static int load_flush(struct load_ctx *lc)
{
	int ret = 0;

	if (lc->chunk.oom)
		return -ENOMEM;
	if (lc->chunk.len)
		ret = pc_manifest_add_buf(&lc->b->m, "<store>", lc->chunk.p, lc->chunk.len, &lc->f);
	pc_buf_clear(&lc->chunk);
	return ret;
}

static int load_one(const struct pc_store_object *obj, void *data)
{
	struct load_ctx *lc = data;
	const struct pc_kind_info *ki = pc_kind_by_name(obj->kind);
	struct pc_arena *a = lc->b->m.arena;
	size_t len = strlen(obj->object_json);
	struct stored_meta *m;

	if (lc->chunk.len && lc->chunk.len + len > LOAD_CHUNK && (lc->ret = load_flush(lc)) < 0)
		return lc->ret;
	if (ki) { /* else its decode fails too and says why: a kind this build lacks */
		if (lc->nmeta == lc->capmeta) {
			size_t cap = lc->capmeta ? lc->capmeta * 2 : 256;

			m = pc_realloc(lc->meta, cap * sizeof(*m));
			if (!m)
				return lc->ret = -ENOMEM;
			lc->meta = m;
			lc->capmeta = cap;
		}
		m = &lc->meta[lc->nmeta++];
		m->kind = ki->kind;
		m->ns = pc_arena_strdup(a, obj->ns);
		m->name = pc_arena_strdup(a, obj->name);
		m->cts = pc_arena_strdup(a, obj->creation_timestamp);
		m->source = strcmp(obj->source, PC_STORE_SOURCE_CONFIG) == 0
				    ? PC_STORE_SOURCE_CONFIG
				    : PC_STORE_SOURCE_API;
		if (!m->ns || !m->name || !m->cts)
			return lc->ret = -ENOMEM;
	}
	pc_buf_adds(&lc->chunk, "---\n");
	pc_buf_add(&lc->chunk, obj->object_json, len);
	pc_buf_addc(&lc->chunk, '\n');
	return 0;
}

static int by_meta_key(const void *a, const void *b)
{
	const struct stored_meta *x = a, *y = b;
	int d;

	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	d = strcmp(x->ns, y->ns);
	return d ? d : strcmp(x->name, y->name);
}

/* Give each decoded resource its creationTimestamp and source, and register it. */
static int load_register(struct pc_registry *reg, struct load_ctx *lc)
{
	struct stored_meta key = { 0 }, *m;
	size_t i;
	int ret = 0;

	if (lc->nmeta == 0)
		return 0; /* an empty store (and qsort() must not get NULL) */
	qsort(lc->meta, lc->nmeta, sizeof(*lc->meta), by_meta_key);
	for (i = 0; ret == 0 && i < lc->b->m.nres; i++) {
		struct pc_resource *r = &lc->b->m.res[i];

		key.kind = r->kind;
		key.ns = r->meta.ns;
		key.name = r->meta.name ? r->meta.name : "";
		m = bsearch(&key, lc->meta, lc->nmeta, sizeof(*lc->meta), by_meta_key);
		if (!m)
			continue; /* not what the store keyed it as: cannot happen */
		r->meta.creation_timestamp = m->cts;
		ret = pc_registry_set(reg, 0, r, lc->b, m->source);
	}
	return ret;
}

int pc_registry_load(struct pc_registry *reg, struct pc_store *s, struct pc_err *err)
{
	struct load_ctx lc = { 0 };
	int ret;

	lc.b = pc_batch_new(reg);
	if (!lc.b)
		return pc_err_set(err, -ENOMEM, "out of memory");
	pc_findings_init(&lc.f);
	ret = pc_store_list(s, NULL, NULL, load_one, &lc, err);
	if (ret == 0)
		ret = load_flush(&lc);
	if (ret > 0 || (ret < 0 && ret == lc.ret) || ret == -ENOMEM)
		ret = pc_err_set(err, ret < 0 ? ret : -ENOMEM, "cannot decode the stored objects");
	if (lc.f.total_err) {
		/* objects this version no longer accepts: kept in the store, not enforced */
		pc_output_sort(&lc.f);
		pc_output_text(stderr, &lc.f);
		pc_log(PC_LOG_WARN, "stored objects with errors are not enforced", "errors=%zu",
		       lc.f.total_err);
	}
	if (ret == 0 && load_register(reg, &lc) < 0)
		ret = pc_err_set(err, -ENOMEM, "out of memory");
	pc_registry_finish(reg, 0);
	pc_batch_put(lc.b);
	free(lc.meta);
	pc_buf_release(&lc.chunk);
	pc_findings_release(&lc.f);
	return ret;
}

int pc_registry_reload(struct pc_registry *reg, struct pc_store *s, struct pc_err *err)
{
	struct pc_registry fresh;
	size_t i;
	int ret;

	pc_registry_init(&fresh);
	ret = pc_registry_load(&fresh, s, err);
	if (ret < 0) {
		pc_registry_release(&fresh);
		return ret;
	}
	/* the new batches count as <reg>'s; the old entries let theirs go */
	for (i = 0; i < fresh.n; i++) {
		if (fresh.v[i].batch->owner == &fresh) {
			fresh.v[i].batch->owner = reg;
			fresh.nbatches--;
			reg->nbatches++;
		}
	}
	pc_registry_release(reg);
	reg->v = fresh.v;
	reg->n = fresh.n;
	reg->cap = fresh.cap;
	return 0;
}

bool pc_registry_maybe_compact(struct pc_registry *reg, struct pc_store *s)
{
	struct pc_err err;

	if (reg->nbatches <= 64 + reg->n / 64)
		return false;
	if (pc_registry_reload(reg, s, &err) < 0) {
		/* keep the registry as it was: it is right, only bigger */
		pc_log(PC_LOG_WARN, "cannot reload the store to compact the registry", "err=%s",
		       err.msg);
		return false;
	}
	pc_debug("registry compacted", "objects=%zu batches=%zu", reg->n, reg->nbatches);
	return true;
}
