/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * daemon/control.c - the pipeline of a change: validate, store, registry, compile, publish.
 *
 * The registry (daemon/registry.c) holds the decoded objects, the watch
 * log (daemon/watchlog.c) the recent changes, change.c makes store puts
 * of decoded resources and feed.c takes the store's changes into the
 * registry and the log; this file runs a change through them in one place
 * and answers in errnos. doc/internals/control.md tells the order and why.
 *
 * Locking: <lock> serialises the store, the registry and the counters. A
 * compile leaves its snapshot in <pending>; whoever releases <lock>
 * publishes it after, under <publock> alone, so the publisher never runs
 * under <lock> (a scrape or a watch never waits for it, and the callback
 * may call back in here) and never sees a generation older than one it
 * was given. A request then calls o.settle with neither lock held (its
 * answer may wait there for DNS; no publish ever does). The watch log has
 * a mutex of its own.
 */
#include "daemon/control.h"
#include "daemon/control-int.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/log.h"
#include "model/manifest.h"
#include "model/output.h"
#include "policy/alloc.h"
#include "policy/dump.h"
#include "policy/scope.h"
#include "policy/trie.h"

/* ---- results ---- */

void pc_change_result_init(struct pc_change_result *res)
{
	memset(res, 0, sizeof(*res));
	res->failed = SIZE_MAX;
	pc_findings_init(&res->findings);
	pc_err_clear(&res->err);
}

void pc_change_result_release(struct pc_change_result *res)
{
	free(res->v); /* the strings live in the same block */
	res->v = NULL;
	res->n = 0;
	pc_findings_release(&res->findings);
}

/* Copy the keys of <v> into <res> (one block: objects, then their strings). */
/* ---- the resourceVersions before a change (for the audit log) ---- */

/* More stored objects in one change than this: one listing, not a get each. */
#define OLD_RV_GETS_MAX 64

struct old_rvs {
	const struct change *v;
	size_t *idx; /* indices of <v> in (kind, ns, name) order */
	size_t n;
	struct pc_change_object *out;
};

static int key_cmp(const char *k1, const char *n1, const char *m1, const struct pc_store_put *p)
{
	int d = strcmp(k1, p->kind);

	if (d == 0)
		d = strcmp(n1, p->ns);
	return d ? d : strcmp(m1, p->name);
}

static int by_key(const void *a, const void *b, void *data)
{
	const struct old_rvs *o = data;
	const struct pc_store_put *x = &o->v[*(const size_t *)a].put;

	return key_cmp(x->kind, x->ns, x->name, &o->v[*(const size_t *)b].put);
}

static int old_rv_of(const struct pc_store_object *obj, void *data)
{
	const struct old_rvs *o = data;
	size_t lo = 0, hi = o->n, mid;
	int d;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		d = key_cmp(obj->kind, obj->ns, obj->name, &o->v[o->idx[mid]].put);
		if (d == 0) {
			o->out[o->idx[mid]].old_rv = obj->resource_version;
			return 0;
		}
		if (d < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return 0;
}

/*
 * Fill out[i].old_rv with the stored resourceVersion of v[i]'s object (0:
 * none, or unreadable: the change itself then meets the store's error).
 * New objects (not in the registry) cost nothing; a few stored ones a get
 * each; many, one listing of the store. Called with <lock> held.
 */
static void old_rvs_fill(struct pc_control *c, const struct change *v, size_t n,
			 struct pc_change_object *out)
{
	struct old_rvs o = { v, NULL, n, out };
	struct pc_store_object obj;
	struct pc_err err;
	size_t i, stored = 0;

	for (i = 0; i < n; i++) {
		out[i].old_rv = 0;
		if (pc_registry_find(&c->reg, c->reg.n, v[i].kind, v[i].put.ns, v[i].put.name) !=
		    SIZE_MAX)
			stored++;
	}
	for (i = 0; i < n && stored <= OLD_RV_GETS_MAX; i++) {
		if (pc_store_get(c->store, v[i].put.kind, v[i].put.ns, v[i].put.name, &obj, &err) ==
		    0) {
			out[i].old_rv = obj.resource_version;
			pc_store_object_release(&obj);
		}
	}
	if (stored <= OLD_RV_GETS_MAX || !(o.idx = pc_calloc(n, sizeof(*o.idx))))
		return;
	for (i = 0; i < n; i++)
		o.idx[i] = i;
	qsort_r(o.idx, n, sizeof(*o.idx), by_key, &o);
	pc_store_list(c->store, NULL, NULL, old_rv_of, &o, &err);
	free(o.idx);
}

static int result_fill(struct pc_control *c, struct pc_change_result *res, const struct change *v,
		       size_t n)
{
	size_t i, len = 0;
	char *p;

	for (i = 0; i < n; i++)
		len += strlen(v[i].put.ns) + strlen(v[i].put.name) + 2;
	free(res->v);
	res->n = 0;
	res->v = pc_malloc(n * sizeof(*res->v) + len + 1);
	if (!res->v)
		return pc_err_set(&res->err, -ENOMEM, "out of memory");
	p = (char *)(res->v + n);
	for (i = 0; i < n; i++) {
		struct pc_change_object *o = &res->v[i];

		o->kind = v[i].kind;
		o->result = PC_STORE_UNCHANGED;
		o->new_rv = 0;
		o->ns = p;
		p = stpcpy(p, v[i].put.ns) + 1;
		o->name = p;
		p = stpcpy(p, v[i].put.name) + 1;
	}
	res->n = n;
	old_rvs_fill(c, v, n, res->v);
	return 0;
}

/* ---- compile and publish ---- */

/* Compile the registry into <pending>. */
static int recompile(struct pc_control *c)
{
	struct pc_compile_opts opts = c->o.compile;
	struct pc_manifest m = { 0 };
	struct pc_snapshot *snap;
	size_t i;
	int ret;

	/*
	 * Deletes revoked in memory stay revoked whatever put their objects
	 * back in the registry: a feed, or a compaction re-reading the store
	 * that still holds them. Here, at the one door to a policy.
	 */
	if (c->nrevoked)
		pc_revoke_mask(c);
	m.res = pc_calloc(c->reg.n ? c->reg.n : 1, sizeof(*m.res));
	if (!m.res)
		return -ENOMEM;
	for (i = 0; i < c->reg.n; i++)
		m.res[i] = *c->reg.v[i].res;
	m.nres = c->reg.n;
	opts.generation = c->generation + 1;
	snap = NULL;
	ret = pc_control_vips_for_compile(c, &opts);
	if (ret == 0)
		ret = pc_policy_compile(&m, &opts, c->o.report, c->o.data, &snap);
	free((void *)opts.vips);
	free(m.res);
	if (ret < 0 || !snap)
		return ret < 0 ? ret : -ENOMEM;
	if (c->generation)
		c->reloads++;
	c->generation++;
	if (c->pending) {
		pc_snapshot_unref(c->pending); /* superseded before anyone saw it */
		pc_snapshot_unref(c->snap);    /* <pending_prev> stays what came before it */
	} else {
		pc_snapshot_unref(c->pending_prev);
		c->pending_prev = c->snap;
	}
	c->snap = pc_snapshot_ref(snap);
	c->pending = snap;
	pc_debug("policy compiled", "generation=%" PRIu64 " objects=%zu clusters=%zu",
		 c->generation, c->reg.n, snap->nclusters);
	return 0;
}

/*
 * Release <lock>, then publish what was compiled under it. Publishes are
 * one at a time (<publock>) and in generation order: when two requests
 * race here, a snapshot older than the one already published is dropped
 * (the newer one holds its changes). <publock> is never taken with <lock>
 * held, so the callback may take <lock> (pc_control_counters()). With
 * <settle>, o.settle runs last, once both locks are released: what it
 * waits for delays this caller's answer only, never a publish.
 */
static void unlock_publish(struct pc_control *c, bool settle)
{
	struct pc_snapshot *snap = c->pending, *prev = c->pending_prev, *keep = NULL;

	c->pending = NULL;
	c->pending_prev = NULL;
	pthread_mutex_unlock(&c->lock);
	if (!snap) {
		pc_snapshot_unref(prev);
		return;
	}
	if (settle && c->o.settle)
		keep = pc_snapshot_ref(snap);
	pthread_mutex_lock(&c->publock);
	if (snap->generation > c->published) {
		c->published = snap->generation;
		c->o.publish(c->o.data, snap);
	} else {
		pc_snapshot_unref(snap); /* superseded by one already published */
	}
	pthread_mutex_unlock(&c->publock);
	if (keep) {
		c->o.settle(c->o.data, keep, prev);
		pc_snapshot_unref(keep);
	}
	pc_snapshot_unref(prev);
}

void pc_control_unlock(struct pc_control *c)
{
	unlock_publish(c, false);
}

void pc_control_unlock_settle(struct pc_control *c)
{
	unlock_publish(c, true);
}

/*
 * The registry holds changes no compiled policy has (a compile failed
 * after its commit): compile now. Every request calls this first, so a
 * retry of the failed one (then "unchanged") enforces it.
 */
int pc_control_catch_up(struct pc_control *c)
{
	bool changed;
	int ret;

	if (c->resync) {
		ret = pc_control_feed(c, NULL, &changed);
		if (ret < 0) {
			c->reload_failures++;
			pc_log(PC_LOG_ERR, "stored changes are not enforced: cannot read the store",
			       "err=%s", strerror(-ret));
			return ret;
		}
		c->dirty = true;
	}
	if (!c->dirty)
		return 0;
	ret = recompile(c);
	if (ret < 0) {
		c->reload_failures++;
		pc_log(PC_LOG_ERR, "stored changes are not enforced: cannot compile", "err=%s",
		       strerror(-ret));
	} else {
		c->dirty = false;
	}
	return ret;
}

/* ---- committing changes ---- */

/* Run <v> through the store: one transaction. Fills <res> but for the compile. */
static int store_changes(struct pc_control *c, struct change *v, size_t n,
			 struct pc_change_result *res)
{
	struct pc_store_put *puts;
	enum pc_store_result *results;
	struct pc_store_meta *metas;
	size_t i, failed = SIZE_MAX;
	int64_t rev = 0;
	int ret;

	puts = pc_calloc(n ? n : 1, sizeof(*puts));
	results = pc_calloc(n ? n : 1, sizeof(*results));
	metas = pc_calloc(n ? n : 1, sizeof(*metas));
	if (!puts || !results || !metas) {
		ret = pc_err_set(&res->err, -ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < n; i++)
		puts[i] = v[i].put;
	ret = pc_store_apply_meta(c->store, puts, n, results, metas, &rev, &failed, &res->err);
	res->failed = ret < 0 ? failed : SIZE_MAX;
	if (ret < 0)
		goto out;
	for (i = 0; i < n; i++) {
		v[i].result = res->v[i].result = results[i];
		v[i].meta = metas[i];
		res->v[i].new_rv = metas[i].resource_version;
	}
	res->revision = rev;
out:
	free(puts);
	free(results);
	free(metas);
	return ret;
}

/*
 * Commit <v> in one transaction, then feed the store's changes up to its
 * revision into the registry and the watch log (read-your-writes), and
 * compile a new policy (published when the lock is released). The
 * registry takes references to <b> (NULL when nothing is added) for the
 * objects it keeps.
 */
static int commit(struct pc_control *c, struct pc_batch *b, struct change *v, size_t n,
		  struct pc_change_result *res)
{
	struct pc_own_change own = { b, v, n, 0 };
	bool changed = false;
	int ret = result_fill(c, res, v, n);

	if (ret == 0 && c->nrevoked)
		pc_revoke_persist(c, true); /* deletes revoked earlier reach the store first */
	if (ret == 0)
		ret = store_changes(c, v, n, res);
	if (ret < 0)
		return ret;
	if (c->nrevoked)
		pc_revoke_forget(c, v, n); /* stored now, as this change says */
	own.rev = res->revision;
	ret = pc_control_feed(c, &own, &changed);
	if (ret == 0 && c->rev < res->revision)
		ret = -EIO; /* not reached: the store's watch reaches its own commits */
	if (ret == 0 && !changed)
		return 0;
	if (ret == 0) {
		pc_registry_maybe_compact(&c->reg, c->store);
		c->dirty = true;
		ret = pc_control_catch_up(c);
	}
	if (ret < 0) {
		res->stored = true;
		res->failed = SIZE_MAX;
		ret = pc_err_set(&res->err, ret,
				 "the change is stored, but the policy that includes it cannot be "
				 "compiled (%s): the previous policy stays in force until a later "
				 "request compiles it",
				 strerror(-ret));
	}
	return ret;
}

/*
 * Warn about the objects of an apply that can never apply to this proxy's
 * workload (another namespace's Sidecar, an exportTo that hides it, a
 * workloadSelector that does not select it: policy/scope.h). They are
 * stored all the same, as Istio stores them for other proxies.
 */
static int scope_warnings(struct pc_control *c, const struct pc_manifest *m, struct pc_findings *f)
{
	struct pc_scope s = { 0 };
	int ret = pc_scope_init(&s, m, &c->o.compile);

	if (ret < 0)
		return ret;
	ret = pc_scope_warn(&s, f);
	pc_scope_release(&s);
	return ret;
}

static int apply_locked(struct pc_control *c, const struct pc_upload *files, size_t n,
			struct pc_change_result *res)
{
	struct pc_findings *f = &res->findings;
	struct change *v = NULL;
	struct pc_batch *b = pc_batch_new(&c->reg);
	size_t i;
	int ret = b ? 0 : -ENOMEM;

	for (i = 0; ret == 0 && i < n; i++)
		ret = pc_manifest_add_buf(&b->m, files[i].name, files[i].data, files[i].len, f);
	if (ret == 0 && f->oom)
		ret = -ENOMEM;
	if (ret == 0 && f->total_err)
		ret = -EINVAL;
	if (ret == 0 && b->m.nres == 0)
		ret = pc_err_set(&res->err, -ENODATA, "no objects passed to apply");
	if (ret == 0)
		ret = pc_changes_of(b, PC_STORE_SOURCE_API, &v, f);
	if (ret == 0)
		ret = scope_warnings(c, &b->m, f);
	if (ret == 0)
		ret = commit(c, b, v, b->m.nres, res);
	if (v) /* then <b> is there too */
		pc_changes_free(v, b->m.nres);
	if (ret == -ENOMEM && !res->err.msg[0])
		pc_err_set(&res->err, -ENOMEM, "out of memory");
	pc_batch_put(b);
	return ret;
}

int pc_control_apply(struct pc_control *c, const struct pc_upload *files, size_t n,
		     struct pc_change_result *res)
{
	int ret;

	pthread_mutex_lock(&c->lock);
	pc_control_catch_up(c);
	if (c->stopping)
		ret = pc_err_set(&res->err, -ESHUTDOWN, "the daemon is shutting down");
	else
		ret = apply_locked(c, files, n, res);
	if (ret == -EINVAL || ret == -ENODATA || ret == -ESTALE)
		c->reload_failures++; /* refused (a failed compile counts in catch_up()) */
	pc_control_unlock_settle(c);
	return ret;
}

/* The same warnings for --config files, printed as pc_config_load() prints their findings. */
static int config_scope_warnings(struct pc_control *c, const struct pc_manifest *m)
{
	struct pc_findings f;
	int ret;

	pc_findings_init(&f);
	ret = scope_warnings(c, m, &f);
	if (ret == 0 && f.n) {
		pc_output_sort(&f);
		pc_output_text(stderr, &f);
	}
	pc_findings_release(&f);
	return ret;
}

static int apply_config_locked(struct pc_control *c, struct pc_batch *b, bool prune,
			       struct pc_change_result *res)
{
	struct change *v = NULL;
	size_t n = 0;
	int ret;

	pc_batch_adopt(&c->reg, b); /* the registry may keep it from now on */
	ret = pc_changes_of(b, PC_STORE_SOURCE_CONFIG, &v, NULL);
	n = ret == 0 ? b->m.nres : 0;
	if (ret == 0)
		ret = config_scope_warnings(c, &b->m);
	if (ret == 0 && prune)
		ret = pc_changes_prune(&c->reg, b, &v, &n);
	if (ret == 0)
		ret = commit(c, b, v, n, res);
	else
		pc_err_set(&res->err, ret, "%s", ret == -ENOMEM ? "out of memory" : strerror(-ret));
	pc_changes_free(v, n);
	return ret;
}

int pc_control_apply_loaded(struct pc_control *c, struct pc_config *cfg, bool prune,
			    struct pc_change_result *res)
{
	int ret;

	pthread_mutex_lock(&c->lock);
	pc_control_catch_up(c);
	ret = apply_config_locked(c, cfg->b, prune, res);
	pc_control_unlock_settle(c);
	pc_config_free(cfg);
	return ret;
}

int pc_control_apply_config(struct pc_control *c, char *const *paths, size_t n, bool prune,
			    struct pc_change_result *res)
{
	struct pc_config *cfg;
	int ret = pc_config_load(paths, n, &cfg);

	if (ret < 0)
		return pc_err_set(&res->err, ret, "%s",
				  ret == -EINVAL ? "invalid config (findings above)"
						 : strerror(-ret));
	return pc_control_apply_loaded(c, cfg, prune, res);
}

/*
 * Delete <v> (removals) in one transaction; when the store cannot write,
 * revoke in memory (daemon/revoke.c). A precondition needs the store to
 * check it: such a delete fails as the store did.
 */
static int delete_locked(struct pc_control *c, struct change *v, size_t n,
			 struct pc_change_result *res)
{
	bool checked = false;
	size_t i;
	int ret;

	if (c->stopping)
		return pc_err_set(&res->err, -ESHUTDOWN, "the daemon is shutting down");
	pc_control_catch_up(c);
	ret = commit(c, NULL, v, n, res);
	for (i = 0; i < n; i++)
		checked |= v[i].put.expect_rv != 0;
	if (ret < 0 && !res->stored && !checked && pc_revoke_covers(ret)) {
		res->failed = SIZE_MAX;
		ret = pc_revoke_in_memory(c, v, n, res);
	}
	return ret;
}

/* The removal of <t> into <ch>; false when <t> names no object. */
static bool removal_of(const struct pc_delete_target *t, bool missing_ok, struct change *ch)
{
	const struct pc_kind_info *ki = pc_kind_info(t->kind);

	if (!ki || !t->name || !*t->name || t->expect_rv < 0)
		return false;
	memset(ch, 0, sizeof(*ch));
	ch->kind = t->kind;
	ch->put.kind = ki->name;
	ch->put.ns = t->ns && *t->ns ? t->ns : "default";
	ch->put.name = t->name;
	ch->put.remove = true;
	ch->put.expect_rv = t->expect_rv;
	ch->put.missing_ok = missing_ok && t->expect_rv == 0;
	return true;
}

int pc_control_delete(struct pc_control *c, enum pc_kind kind, const char *ns, const char *name,
		      int64_t expect_rv, struct pc_change_result *res)
{
	const struct pc_delete_target t = { kind, ns, name, expect_rv };
	struct change ch;
	int ret;

	if (!removal_of(&t, false, &ch))
		return pc_err_set(&res->err, -EINVAL, "delete needs a kind and a name");
	pthread_mutex_lock(&c->lock);
	ret = delete_locked(c, &ch, 1, res);
	pc_control_unlock_settle(c);
	return ret;
}

int pc_control_delete_many(struct pc_control *c, const struct pc_delete_target *t, size_t n,
			   struct pc_change_result *res)
{
	struct change *v;
	size_t i;
	int ret;

	if (n == 0)
		return pc_err_set(&res->err, -ENODATA, "no objects passed to delete");
	v = pc_calloc(n, sizeof(*v));
	if (!v)
		return pc_err_set(&res->err, -ENOMEM, "out of memory");
	for (i = 0; i < n; i++) {
		if (!removal_of(&t[i], true, &v[i])) {
			free(v);
			res->failed = i;
			return pc_err_set(&res->err, -EINVAL,
					  "object #%zu to delete needs a kind and a name", i + 1);
		}
	}
	pthread_mutex_lock(&c->lock);
	ret = delete_locked(c, v, n, res);
	pc_control_unlock_settle(c);
	free(v);
	return ret;
}

/* ---- reading ---- */

struct list_filter {
	const char *name;
	pc_store_list_fn *cb;
	void *data;
};

static int list_filtered(const struct pc_store_object *obj, void *data)
{
	struct list_filter *lf = data;

	if (lf->name && strcmp(lf->name, obj->name) != 0)
		return 0;
	return lf->cb(obj, lf->data);
}

int pc_control_list(struct pc_control *c, int kind, const char *ns, const char *name,
		    pc_store_list_fn *cb, void *data, int64_t *rev, struct pc_err *err)
{
	const struct pc_kind_info *ki = kind >= 0 ? pc_kind_info((enum pc_kind)kind) : NULL;
	struct list_filter lf = { name, cb, data };
	int ret;

	if (kind >= 0 && !ki)
		return pc_err_set(err, -EINVAL, "no such kind");
	pthread_mutex_lock(&c->lock);
	*rev = pc_store_revision(c->store);
	ret = pc_store_list(c->store, ki ? ki->name : NULL, ns && *ns ? ns : NULL, list_filtered,
			    &lf, err);
	pthread_mutex_unlock(&c->lock);
	return ret;
}

void pc_control_get_status(struct pc_control *c, struct pc_control_status *out)
{
	pthread_mutex_lock(&c->lock);
	out->revision = pc_store_revision(c->store);
	out->generation = c->generation;
	out->objects = c->reg.n;
	pthread_mutex_unlock(&c->lock);
}

int64_t pc_control_revision(struct pc_control *c)
{
	return pc_watchlog_revision(c->wl);
}

int pc_control_watch(struct pc_control *c, const struct pc_watch_filter *f, int64_t *since,
		     struct pc_buf *out, unsigned timeout_ms)
{
	return pc_watchlog_wait(c->wl, f, since, out, timeout_ms);
}

const char *pc_control_store_name(const struct pc_control *c)
{
	return c->where;
}

/* ---- open, close ---- */

int pc_control_open(const struct pc_control_opts *opts, struct pc_control **out, struct pc_err *err)
{
	struct pc_control *c = pc_calloc(1, sizeof(*c));
	int64_t rev = 0;
	int ret;

	if (!c)
		return pc_err_set(err, -ENOMEM, "out of memory");
	c->o = *opts;
	c->where = opts->store ? pc_store_uri_path(opts->store) : opts->state_dir;
	c->o.state_dir = c->where; /* what messages name */
	pthread_mutex_init(&c->lock, NULL);
	pthread_mutex_init(&c->publock, NULL);
	pc_registry_init(&c->reg);
	ret = pc_store_open(opts->store ? opts->store : opts->state_dir, &c->store, err);
	if (ret == 0) {
		/* the revision before the listing: what changes after it comes again */
		rev = pc_store_revision(c->store);
		if (rev < 0)
			ret = pc_err_set(err, (int)rev, "cannot read the store's revision");
	}
	if (ret == 0)
		ret = pc_registry_load(&c->reg, c->store, err);
	if (ret == 0)
		ret = pc_control_vips_load(c, err);
	if (ret == 0) {
		c->rev = rev;
		c->wl = pc_watchlog_new(PC_WATCH_LOG, rev);
		ret = c->wl ? recompile(c) : -ENOMEM;
		if (ret < 0)
			pc_err_set(err, ret, "cannot compile the stored policy: %s",
				   strerror(-ret));
	}
	if (ret == 0) {
		ret = pc_control_poller_start(c);
		if (ret < 0)
			pc_err_set(err, ret, "cannot start the store's watch: %s", strerror(-ret));
	}
	if (ret < 0) {
		pc_control_free(c);
		return ret;
	}
	pc_log(PC_LOG_INFO, "store opened", "dir=%s revision=%" PRId64 " objects=%zu",
	       c->where, rev, c->reg.n);
	pthread_mutex_lock(&c->lock);
	pc_control_unlock_settle(c); /* the first snapshot, before this returns */
	*out = c;
	return 0;
}

void pc_control_shutdown(struct pc_control *c)
{
	pthread_mutex_lock(&c->lock);
	c->stopping = true;
	if (c->nrevoked && pc_revoke_persist(c, true) < 0)
		pc_log(PC_LOG_ERR,
		       "revoked deletes were never stored: the objects come back at the next start",
		       "pending=%zu err=%s", c->nrevoked, c->revoke_err.msg);
	pthread_mutex_unlock(&c->lock);
	pc_control_poller_stop(c);
	pc_watchlog_shutdown(c->wl);
}

void pc_control_free(struct pc_control *c)
{
	if (!c)
		return;
	pc_control_poller_stop(c);
	pc_revoke_free(c);
	pc_registry_release(&c->reg);
	pc_alloc_table_free(c->vips);
	pc_watchlog_free(c->wl);
	pc_store_close(c->store);
	pc_snapshot_unref(c->pending);
	pc_snapshot_unref(c->pending_prev);
	pc_snapshot_unref(c->snap);
	pthread_mutex_destroy(&c->publock);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

/*
 * For the admin dump below (until it moves to policy/dump.c): the
 * objects as GET /v1/objects shows them.
 */
struct list_ctx {
	const char *name;
	struct pc_buf *body;
	size_t count;
	int ret;
};

static int list_one(const struct pc_store_object *obj, void *data)
{
	struct list_ctx *lc = data;

	if (lc->name && strcmp(lc->name, obj->name) != 0)
		return 0;
	if (lc->count++)
		pc_buf_addc(lc->body, ',');
	lc->ret = pc_control_object_json(lc->body, obj);
	return lc->ret;
}

/* ---- the admin endpoint ---- */

void pc_control_counters(struct pc_control *c, struct pc_control_counters *out)
{
	pthread_mutex_lock(&c->lock);
	out->generation = c->generation;
	out->reloads = c->reloads;
	out->reload_failures = c->reload_failures;
	out->unpersisted_deletes = c->nrevoked;
	out->store_write_failures = c->revoke_failures;
	pthread_mutex_unlock(&c->lock);
}

struct pc_snapshot *pc_control_snapshot(struct pc_control *c)
{
	struct pc_snapshot *snap;

	pthread_mutex_lock(&c->lock);
	snap = c->snap ? pc_snapshot_ref(c->snap) : NULL;
	pthread_mutex_unlock(&c->lock);
	return snap;
}

void pc_control_dump(struct pc_control *c, const struct pc_snapshot *snap, struct pc_reply *r)
{
	struct list_ctx lc = { NULL, &r->body, 0, 0 };
	struct pc_err err;
	int ret;

	pthread_mutex_lock(&c->lock);
	r->status = 200;
	pc_buf_printf(&r->body, "{\"generation\":%" PRIu64 ",\"revision\":%" PRId64 ",",
		      snap ? snap->generation : 0, pc_store_revision(c->store));
	pc_buf_printf(&r->body, "\"outbound_traffic_policy\":\"%s\",\"resources\":[",
		      snap && snap->policy == PC_POLICY_ALLOW_ANY ? "ALLOW_ANY" : "REGISTRY_ONLY");
	ret = pc_store_list(c->store, NULL, NULL, list_one, &lc, &err);
	pthread_mutex_unlock(&c->lock);
	pc_buf_adds(&r->body, "],\"allocations\":");
	pc_snapshot_vips_json(snap, &r->body);
	pc_buf_adds(&r->body, ",\"policy\":");
	if (snap)
		pc_snapshot_dump_json(snap, &r->body);
	else
		pc_buf_adds(&r->body, "null");
	pc_buf_addc(&r->body, '}');
	if (ret < 0)
		pc_reply_status(r, 500, "InternalError", "cannot read the store in %s: %s",
				c->o.state_dir, ret == lc.ret ? strerror(-ret) : err.msg);
}
