/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * daemon/control.c - the live configuration: store, registry, compile, watch.
 *
 * The registry holds one decoded resource per stored object, sorted by
 * (kind, namespace, name). Resources live in the manifest ("batch") that
 * decoded them: an apply of 10,000 objects is one batch; a batch is freed
 * when no registry entry points into it any more. Compiling reads the
 * registry only, so a change parses just what it brings.
 *
 * Locking: <lock> serialises everything but the watch log, which has its
 * own mutex and condition so that watchers never wait behind a compile.
 */
#include "daemon/control.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model/output.h"
#include "core/alloc.h"
#include "core/arena.h"
#include "core/err.h"
#include "core/log.h"
#include "model/emit.h"
#include "model/finding.h"
#include "model/manifest.h"
#include "policy/dump.h"
#include "policy/trie.h"
#include "store/store.h"

#ifndef PC_VERSION
#define PC_VERSION "0.0.0"
#endif

struct batch {
	struct pc_control *owner;
	struct pc_manifest m;
	size_t live; /* registry entries pointing into it, and its creator until done */
};

struct entry {
	enum pc_kind kind;
	const char *ns;
	const char *name;
	struct pc_resource *res;
	struct batch *batch;
	const char *source;
	uint64_t seq; /* order of setting: of two equal keys the later wins */
};

struct event {
	int64_t rev;
	enum pc_kind kind;
	char *ns;
	char *name;
	char *line; /* the JSON line, "\n"-terminated */
};

struct pc_control {
	pthread_mutex_t lock;
	struct pc_control_opts o;
	struct pc_store *store;
	struct entry *v;
	size_t n, cap;
	size_t nbatches; /* alive */
	uint64_t seq;
	uint64_t generation;
	bool dirty;    /* the registry has changes no published snapshot has */
	bool stopping; /* guarded by <lock> */
	/* the watch log: a ring of the last PC_WATCH_LOG changes */
	pthread_mutex_t wlock;
	pthread_cond_t wcond;
	struct event ring[PC_WATCH_LOG];
	size_t rhead, rlen;
	int64_t rfloor; /* changes at or below this revision may be gone */
	bool wstopping; /* guarded by <wlock> */
	int64_t rev;    /* the revision of the last change logged */
	/* for the admin endpoint (guarded by <lock>) */
	struct pc_snapshot *snap; /* the newest published snapshot (a reference) */
	uint64_t reloads;         /* snapshots published after the first */
	uint64_t reload_failures; /* changes refused, or committed and not compiled */
};

/* A change being committed: the put and what it came from. */
struct change {
	struct pc_store_put put;
	struct pc_resource *res;    /* NULL for a removal */
	struct pc_store_object old; /* a removal: the object as it was, for the event */
	enum pc_store_result result;
	struct pc_store_meta meta;
};

/* ---- replies ---- */

static void reply_status_text(struct pc_reply *r, unsigned code, const char *reason,
			      const char *msg, size_t len)
{
	r->status = code;
	pc_buf_clear(&r->body);
	pc_buf_adds(&r->body, "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\","
			      "\"reason\":");
	pc_buf_add_json_str(&r->body, reason, strlen(reason));
	pc_buf_adds(&r->body, ",\"message\":");
	pc_buf_add_json_str(&r->body, msg, len);
	pc_buf_printf(&r->body, ",\"code\":%u}", code);
}

void pc_reply_status(struct pc_reply *r, unsigned code, const char *reason, const char *fmt, ...)
{
	char msg[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	reply_status_text(r, code, reason, msg, strlen(msg));
}

/* "serviceentries.networking.istio.io" */
static const char *resource_name(enum pc_kind kind, char *out, size_t size)
{
	snprintf(out, size, "%s.%s", pc_kind_info(kind)->plural, PC_GROUP);
	return out;
}

static void reply_store_error(struct pc_control *c, struct pc_reply *r, int ret,
			      const struct pc_err *err, enum pc_kind kind, const char *name)
{
	char res[128];

	if (!name) /* stored, then the compile failed: commit() said so in <err> */
		pc_reply_status(r, 500, "InternalError", "%s", err->msg);
	else if (ret == -ESTALE)
		pc_reply_status(r, 409, "Conflict",
				"Operation cannot be fulfilled on %s \"%s\": the object has been "
				"modified; please apply your changes to the latest version and try "
				"again",
				resource_name(kind, res, sizeof(res)), name);
	else if (ret == -ENOENT)
		pc_reply_status(r, 404, "NotFound", "%s \"%s\" not found",
				resource_name(kind, res, sizeof(res)), name);
	else
		pc_reply_status(r, 500, "InternalError",
				"cannot write the store in %s: %s; nothing was changed and the "
				"running policy stays in force",
				c->o.state_dir, err->msg[0] ? err->msg : strerror(-ret));
}

/* ---- the registry ---- */

static int entry_cmp(enum pc_kind kind, const char *ns, const char *name, const struct entry *e)
{
	int d;

	if (kind != e->kind)
		return kind < e->kind ? -1 : 1;
	d = strcmp(ns, e->ns);
	return d ? d : strcmp(name, e->name);
}

/* The index of the entry among the first <n>, or SIZE_MAX. */
static size_t entry_find(const struct pc_control *c, size_t n, enum pc_kind kind, const char *ns,
			 const char *name)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int d = entry_cmp(kind, ns, name, &c->v[mid]);

		if (d == 0)
			return mid;
		if (d < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return SIZE_MAX;
}

static void batch_put(struct batch *b)
{
	if (b && --b->live == 0) {
		if (b->owner) /* NULL: a loaded config never applied */
			b->owner->nbatches--;
		pc_manifest_release(&b->m);
		free(b);
	}
}

static struct batch *batch_new(struct pc_control *c)
{
	struct batch *b = pc_calloc(1, sizeof(*b));

	if (b && pc_manifest_init(&b->m) < 0) {
		free(b);
		return NULL;
	}
	if (b) {
		b->owner = c;
		b->live = 1; /* the creator's reference */
		if (c)
			c->nbatches++;
	}
	return b;
}

/*
 * Set the entry of <res> (in <b>): replace it if it is among the first
 * <sorted> entries, else append it (reg_finish() sorts). Changes made in
 * one go may append the same key twice: the later one wins.
 */
static int reg_set(struct pc_control *c, size_t sorted, struct pc_resource *res, struct batch *b,
		   const char *source)
{
	size_t i = entry_find(c, sorted, res->kind, res->meta.ns, res->meta.name);
	struct entry *e;

	if (i == SIZE_MAX) {
		if (c->n == c->cap) {
			size_t cap = c->cap ? c->cap * 2 : 64;

			e = pc_realloc(c->v, cap * sizeof(*e));
			if (!e)
				return -ENOMEM;
			c->v = e;
			c->cap = cap;
		}
		i = c->n++;
		c->v[i].batch = NULL;
	}
	e = &c->v[i];
	b->live++;
	batch_put(e->batch);
	e->kind = res->kind;
	e->ns = res->meta.ns;
	e->name = res->meta.name;
	e->res = res;
	e->batch = b;
	e->source = source;
	e->seq = c->seq++;
	return 0;
}

/* Mark the entry removed (reg_finish() drops it). */
static void reg_remove(struct pc_control *c, size_t sorted, enum pc_kind kind, const char *ns,
		       const char *name)
{
	size_t i = entry_find(c, sorted, kind, ns, name);

	if (i != SIZE_MAX) {
		batch_put(c->v[i].batch);
		c->v[i].batch = NULL;
		c->v[i].res = NULL;
	}
}

static int by_key(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	int d = entry_cmp(x->kind, x->ns, x->name, y);

	if (d)
		return d;
	return x->seq < y->seq ? -1 : (x->seq > y->seq ? 1 : 0);
}

/* Drop removed entries, sort the appended ones in, and keep the last of equal keys. */
static void reg_finish(struct pc_control *c, size_t sorted)
{
	size_t i, k = 0;

	for (i = 0; i < c->n; i++) {
		if (c->v[i].res)
			c->v[k++] = c->v[i];
	}
	if (c->n > sorted)
		qsort(c->v, k, sizeof(*c->v), by_key);
	c->n = k;
	for (i = 0, k = 0; i < c->n; i++) {
		if (k > 0 && entry_cmp(c->v[i].kind, c->v[i].ns, c->v[i].name, &c->v[k - 1]) == 0)
			batch_put(c->v[--k].batch);
		c->v[k++] = c->v[i];
	}
	c->n = k;
}

/* Compile the registry and publish the snapshot. */
static int recompile(struct pc_control *c)
{
	struct pc_compile_opts opts = c->o.compile;
	struct pc_manifest m = { 0 };
	struct pc_snapshot *snap;
	size_t i;
	int ret;

	m.res = pc_calloc(c->n ? c->n : 1, sizeof(*m.res));
	if (!m.res)
		return -ENOMEM;
	for (i = 0; i < c->n; i++)
		m.res[i] = *c->v[i].res;
	m.nres = c->n;
	opts.generation = c->generation + 1;
	ret = pc_policy_compile(&m, &opts, c->o.report, c->o.data, &snap);
	free(m.res);
	if (ret < 0)
		return ret;
	if (c->generation)
		c->reloads++;
	c->generation++;
	pc_snapshot_unref(c->snap);
	c->snap = pc_snapshot_ref(snap); /* before publish() takes <snap> */
	pc_log(PC_LOG_INFO, "policy compiled", "generation=%" PRIu64 " objects=%zu clusters=%zu",
	       c->generation, c->n, snap->nclusters);
	c->o.publish(c->o.data, snap);
	return 0;
}

/*
 * The registry holds changes no published policy has (a compile failed
 * after its commit): compile now. Every request calls this first, so a
 * retry of the failed one (then "unchanged") enforces it.
 */
static int catch_up(struct pc_control *c)
{
	int ret;

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

/* ---- the watch log ---- */

static void event_free(struct event *e)
{
	free(e->ns);
	free(e->name);
	free(e->line);
	memset(e, 0, sizeof(*e));
}

/* Log a change; takes <line>. */
static void log_event(struct pc_control *c, int64_t rev, enum pc_kind kind, const char *ns,
		      const char *name, char *line)
{
	struct event *e;

	pthread_mutex_lock(&c->wlock);
	if (c->rlen == PC_WATCH_LOG) {
		e = &c->ring[c->rhead];
		c->rfloor = e->rev;
		event_free(e);
		c->rhead = (c->rhead + 1) % PC_WATCH_LOG;
		c->rlen--;
	}
	e = &c->ring[(c->rhead + c->rlen) % PC_WATCH_LOG];
	e->rev = rev;
	e->kind = kind;
	e->ns = pc_strndup(ns, strlen(ns));
	e->name = pc_strndup(name, strlen(name));
	e->line = line;
	if (!e->ns || !e->name || !line) {
		event_free(e); /* out of memory: watchers miss it; lower the floor */
		c->rfloor = rev;
	} else {
		c->rlen++;
	}
	c->rev = rev;
	pthread_cond_broadcast(&c->wcond);
	pthread_mutex_unlock(&c->wlock);
}

/* Every watcher at a revision below <rev> must start over (410). */
static void expire_watchers(struct pc_control *c, int64_t rev)
{
	size_t i;

	pthread_mutex_lock(&c->wlock);
	for (i = 0; i < c->rlen; i++)
		event_free(&c->ring[(c->rhead + i) % PC_WATCH_LOG]);
	c->rhead = c->rlen = 0;
	c->rfloor = rev;
	pthread_mutex_unlock(&c->wlock);
}

static char *event_line(const char *type, int64_t rev, const char *obj_json)
{
	struct pc_buf b = PC_BUF_INIT;

	pc_buf_printf(&b, "{\"type\":\"%s\",\"revision\":%" PRId64 ",\"object\":%s}\n", type, rev,
		      obj_json);
	if (b.oom) {
		pc_buf_release(&b);
		return NULL;
	}
	return b.p;
}

static bool selected(const struct pc_watch_filter *f, const struct event *e)
{
	return (f->kind < 0 || (int)e->kind == f->kind) && (!f->ns || strcmp(f->ns, e->ns) == 0) &&
	       (!f->name || strcmp(f->name, e->name) == 0);
}

int64_t pc_control_revision(struct pc_control *c)
{
	int64_t rev = 0;

	pthread_mutex_lock(&c->wlock);
	rev = c->rev;
	pthread_mutex_unlock(&c->wlock);
	return rev;
}

static int watch_collect(struct pc_control *c, const struct pc_watch_filter *f, int64_t *since,
			 struct pc_buf *out)
{
	size_t i;
	bool added = false;

	if (*since < c->rfloor) {
		pc_buf_printf(out,
			      "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\","
			      "\"apiVersion\":\"v1\",\"status\":\"Failure\",\"reason\":"
			      "\"Expired\",\"message\":\"too old resource version: %" PRId64
			      " (%" PRId64 ")\",\"code\":410}}\n",
			      *since, c->rfloor + 1);
		return -ERANGE;
	}
	for (i = 0; i < c->rlen; i++) {
		const struct event *e = &c->ring[(c->rhead + i) % PC_WATCH_LOG];

		if (e->rev <= *since || !selected(f, e))
			continue;
		pc_buf_adds(out, e->line);
		added = true;
	}
	if (c->rev > *since)
		*since = c->rev;
	return added;
}

int pc_control_watch(struct pc_control *c, const struct pc_watch_filter *f, int64_t *since,
		     struct pc_buf *out, unsigned timeout_ms)
{
	struct timespec until;
	int ret;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&c->wlock);
	for (;;) {
		if (c->wstopping) {
			ret = -ESHUTDOWN;
			break;
		}
		ret = watch_collect(c, f, since, out);
		if (ret != 0)
			break;
		if (pthread_cond_timedwait(&c->wcond, &c->wlock, &until) == ETIMEDOUT) {
			ret = watch_collect(c, f, since, out);
			break;
		}
	}
	pthread_mutex_unlock(&c->wlock);
	return ret;
}

/* ---- objects as the API shows them ---- */

/* Append the object <root> with its server metadata, compact and key-sorted, to <b>. */
static int object_json(struct pc_buf *b, const struct pc_node *root,
		       const struct pc_store_object *obj)
{
	char rv[24];
	struct pc_emit_meta meta = { 0 };

	snprintf(rv, sizeof(rv), "%" PRId64, obj->resource_version);
	meta.uid = obj->uid;
	meta.resource_version = rv;
	meta.generation = obj->generation;
	meta.creation_timestamp = obj->creation_timestamp;
	meta.namespace = obj->ns;
	meta.strip = true;
	return pc_emit_json_with_meta(b, root, &meta, PC_EMIT_SORT_KEYS);
}

/* The stored object <obj> as the API shows it (parses its object_json). */
static int stored_json(struct pc_buf *b, const struct pc_store_object *obj)
{
	struct pc_yaml_stream *st;
	struct pc_err err;
	int ret;

	ret = pc_yaml_parse(obj->object_json, strlen(obj->object_json), NULL, &st, &err);
	if (ret < 0)
		return ret;
	ret = st->ndocs == 1 ? object_json(b, st->docs[0].root, obj) : -EINVAL;
	pc_yaml_stream_free(st);
	return ret;
}

/* ---- committing changes ---- */

static int put_texts(struct change *ch, const char *source)
{
	struct pc_resource *r = ch->res;
	struct pc_emit_meta meta = { 0 };
	struct pc_buf spec = PC_BUF_INIT, obj = PC_BUF_INIT;
	const struct pc_node *sn = pc_node_get(r->root, "spec");
	int ret;

	meta.namespace = r->meta.ns;
	meta.strip = true;
	if (sn)
		ret = pc_emit_json(&spec, sn, PC_EMIT_SORT_KEYS);
	else
		ret = (pc_buf_adds(&spec, "null"), 0);
	if (ret == 0)
		ret = pc_emit_json_with_meta(&obj, r->root, &meta, PC_EMIT_SORT_KEYS);
	if (ret == 0 && (spec.oom || obj.oom))
		ret = -ENOMEM;
	if (ret < 0) {
		pc_buf_release(&spec);
		pc_buf_release(&obj);
		return ret;
	}
	ch->put.kind = pc_kind_info(r->kind)->name;
	ch->put.ns = r->meta.ns;
	ch->put.name = r->meta.name;
	ch->put.spec_json = spec.p;
	ch->put.object_json = obj.p;
	ch->put.source = source;
	return 0;
}

static void changes_free(struct change *v, size_t n)
{
	size_t i;

	for (i = 0; v && i < n; i++) {
		free((char *)v[i].put.spec_json);
		free((char *)v[i].put.object_json);
		pc_store_object_release(&v[i].old);
	}
	free(v);
}

static enum pc_kind kind_of(const char *name)
{
	const struct pc_kind_info *ki = pc_kind_by_name(name);

	return ki ? ki->kind : PC_KIND_SERVICE_ENTRY;
}

/* After the commit: registry, events. Objects changed: *changed. */
static void committed(struct pc_control *c, struct batch *b, struct change *v, size_t n,
		      int64_t rev, bool *changed)
{
	struct pc_store_object obj = { 0 };
	struct pc_buf line = PC_BUF_INIT;
	size_t i, sorted = c->n, nchanged = 0, logged = 0;

	for (i = 0; i < n; i++)
		nchanged += v[i].result != PC_STORE_UNCHANGED;
	if (nchanged > PC_WATCH_LOG)
		expire_watchers(c, rev); /* the log cannot hold them all */
	for (i = 0; i < n; i++) {
		struct change *ch = &v[i];
		enum pc_kind kind = kind_of(ch->put.kind);
		bool log_it;

		if (ch->result == PC_STORE_UNCHANGED)
			continue;
		*changed = true;
		log_it = nchanged - logged++ <= PC_WATCH_LOG;
		if (ch->result == PC_STORE_DELETED) {
			ch->old.resource_version = rev; /* as Kubernetes: the deletion's */
			pc_buf_clear(&line);
			if (log_it && ch->old.object_json && stored_json(&line, &ch->old) == 0 &&
			    !line.oom)
				log_event(c, rev, kind, ch->put.ns, ch->put.name,
					  event_line("DELETED", rev, line.p));
			/* last: <ch->put> may point into the entry's batch, freed here */
			reg_remove(c, sorted, kind, ch->put.ns, ch->put.name);
			continue;
		}
		if (!b || !ch->res)
			continue; /* not reached: only removals come without a batch */
		ch->res->meta.creation_timestamp =
			pc_arena_strdup(b->m.arena, ch->meta.creation_timestamp);
		if (reg_set(c, sorted, ch->res, b, ch->put.source) < 0)
			pc_log(PC_LOG_ERR, "out of memory in the registry", NULL);
		if (!log_it)
			continue;
		obj.ns = ch->put.ns;
		obj.uid = ch->meta.uid;
		obj.resource_version = ch->meta.resource_version;
		obj.generation = ch->meta.generation;
		obj.creation_timestamp = ch->meta.creation_timestamp;
		pc_buf_clear(&line);
		if (object_json(&line, ch->res->root, &obj) == 0 && !line.oom)
			log_event(c, rev, kind, ch->put.ns, ch->put.name,
				  event_line(ch->result == PC_STORE_CREATED ? "ADDED" : "MODIFIED",
					     rev, line.p));
	}
	pc_buf_release(&line);
	reg_finish(c, sorted);
}

static void maybe_compact(struct pc_control *c);

/* Remember the object a removal deletes, for its DELETED event. */
static void keep_old(struct pc_control *c, struct change *ch)
{
	struct pc_err err;

	if (pc_store_get(c->store, ch->put.kind, ch->put.ns, ch->put.name, &ch->old, &err) < 0)
		memset(&ch->old, 0, sizeof(ch->old)); /* the event will lack it */
}

/*
 * Commit <v> in one transaction, then update the registry, log the events
 * and publish a new policy. The registry takes references to <b> (NULL
 * when nothing is added) for the objects it keeps.
 */
static int commit(struct pc_control *c, struct batch *b, struct change *v, size_t n, int64_t *rev,
		  struct pc_err *err, size_t *failed)
{
	struct pc_store_put *puts;
	enum pc_store_result *results;
	struct pc_store_meta *metas;
	bool changed = false;
	size_t i;
	int ret;

	*failed = 0;
	puts = pc_calloc(n ? n : 1, sizeof(*puts));
	results = pc_calloc(n ? n : 1, sizeof(*results));
	metas = pc_calloc(n ? n : 1, sizeof(*metas));
	if (!puts || !results || !metas) {
		free(puts);
		free(results);
		free(metas);
		return pc_err_set(err, -ENOMEM, "out of memory");
	}
	for (i = 0; i < n; i++) {
		puts[i] = v[i].put;
		if (v[i].put.remove)
			keep_old(c, &v[i]);
	}
	ret = pc_store_apply_meta(c->store, puts, n, results, metas, rev, err);
	for (i = 0; ret < 0 && i < n; i++) {
		char key[768];

		/* the store's message names the object: "KIND NS/NAME ..." */
		snprintf(key, sizeof(key), "%s %s/%s ", v[i].put.kind, v[i].put.ns, v[i].put.name);
		if (strstr(err->msg, key)) {
			*failed = i;
			break;
		}
	}
	free(puts);
	for (i = 0; ret == 0 && i < n; i++) {
		v[i].result = results[i];
		v[i].meta = metas[i];
	}
	free(results);
	free(metas);
	if (ret < 0)
		return ret;
	committed(c, b, v, n, *rev, &changed);
	if (changed)
		maybe_compact(c);
	if (changed) {
		c->dirty = true;
		ret = catch_up(c);
		if (ret < 0) {
			*failed = SIZE_MAX;
			ret = pc_err_set(err, ret,
					 "the change is stored, but the policy that includes it "
					 "cannot be compiled (%s): the previous policy stays in "
					 "force until a later request compiles it",
					 strerror(-ret));
		}
	}
	return ret;
}

/* metadata.resourceVersion as a store precondition: 0 when absent. */
static int parse_rv(const char *s, int64_t *out)
{
	char *end;
	long long v;

	*out = 0;
	if (!s || !*s)
		return 0;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || v <= 0)
		return -EINVAL;
	*out = v;
	return 0;
}

static void findings_text(const struct pc_findings *f, struct pc_buf *out, bool errors)
{
	struct pc_findings sel;
	char *text = NULL;
	size_t len = 0, i;
	FILE *fp;

	pc_findings_init(&sel);
	for (i = 0; i < f->n; i++) {
		if ((f->v[i].sev == PC_SEV_ERROR) == errors)
			pc_findings_add(&sel, &f->v[i]);
	}
	pc_output_sort(&sel);
	fp = open_memstream(&text, &len);
	if (fp) {
		pc_output_text(fp, &sel);
		fclose(fp);
		pc_buf_add(out, text, len);
	}
	free(text);
	pc_findings_release(&sel);
}

/* The changes of every resource of <b>. Returns 0, -EINVAL (message in <r>) or -ENOMEM. */
static int changes_of(struct batch *b, const char *source, struct change **out, struct pc_reply *r)
{
	struct change *v = pc_calloc(b->m.nres ? b->m.nres : 1, sizeof(*v));
	size_t i;
	int ret = v ? 0 : -ENOMEM;

	for (i = 0; ret == 0 && i < b->m.nres; i++) {
		struct pc_resource *res = &b->m.res[i];

		v[i].res = res;
		ret = put_texts(&v[i], source);
		if (ret == 0 && parse_rv(res->meta.resource_version, &v[i].put.expect_rv) < 0) {
			if (r)
				pc_reply_status(
					r, 422, "Invalid",
					"%s:%u:%u: error: %s %s/%s: metadata.resourceVersion: "
					"Invalid value: \"%s\": must be a resourceVersion this "
					"server returned\n",
					res->file, res->line, res->col,
					pc_kind_info(res->kind)->name, res->meta.ns, res->meta.name,
					res->meta.resource_version);
			ret = -EINVAL;
		}
	}
	if (ret < 0) {
		changes_free(v, b->m.nres);
		return ret;
	}
	*out = v;
	return 0;
}

static void reply_applied(struct pc_reply *r, const struct pc_findings *f, const struct change *v,
			  size_t n, int64_t rev)
{
	struct pc_buf warn = PC_BUF_INIT;
	size_t i;

	r->status = 200;
	pc_buf_printf(&r->body, "{\"revision\":%" PRId64, rev);
	if (f->nwarn) {
		findings_text(f, &warn, false);
		pc_buf_adds(&r->body, ",\"warnings\":");
		pc_buf_add_json_str(&r->body, warn.p ? warn.p : "", warn.len);
		pc_buf_release(&warn);
	}
	pc_buf_adds(&r->body, ",\"results\":[");
	for (i = 0; i < n; i++) {
		pc_buf_printf(&r->body, "%s{\"kind\":\"%s\",\"namespace\":", i ? "," : "",
			      v[i].put.kind);
		pc_buf_add_json_str(&r->body, v[i].put.ns, strlen(v[i].put.ns));
		pc_buf_adds(&r->body, ",\"name\":");
		pc_buf_add_json_str(&r->body, v[i].put.name, strlen(v[i].put.name));
		pc_buf_printf(&r->body, ",\"result\":\"%s\"}", pc_store_result_name(v[i].result));
	}
	pc_buf_adds(&r->body, "]}");
}

static void apply_locked(struct pc_control *c, const struct pc_upload *files, size_t n,
			 struct pc_reply *r)
{
	struct pc_findings f;
	struct change *v = NULL;
	struct batch *b = batch_new(c);
	struct pc_err err;
	size_t i, failed;
	int64_t rev = 0;
	int ret = b ? 0 : -ENOMEM;

	pc_findings_init(&f);
	for (i = 0; ret == 0 && i < n; i++)
		ret = pc_manifest_add_buf(&b->m, files[i].name, files[i].data, files[i].len, &f);
	if (ret == 0 && f.oom)
		ret = -ENOMEM;
	if (ret == 0 && !f.total_err && b->m.nres > 0)
		ret = changes_of(b, PC_STORE_SOURCE_API, &v, r); /* -EINVAL: <r> says why */
	if (ret == -ENOMEM) {
		pc_reply_status(r, 500, "InternalError", "out of memory");
	} else if (ret < 0) {
		/* changes_of() has answered */
	} else if (f.total_err) {
		struct pc_buf text = PC_BUF_INIT;

		findings_text(&f, &text, true);
		reply_status_text(r, 422, "Invalid", text.p ? text.p : "", text.len);
		pc_buf_release(&text);
	} else if (b->m.nres == 0) {
		pc_reply_status(r, 400, "BadRequest", "no objects passed to apply");
	} else if (v) { /* always, once there are objects */
		size_t nres = b->m.nres;

		ret = commit(c, b, v, nres, &rev, &err, &failed);
		if (ret == 0) {
			reply_applied(r, &f, v, nres, rev);
		} else {
			reply_store_error(c, r, ret, &err,
					  failed < nres ? kind_of(v[failed].put.kind) : 0,
					  failed < nres ? v[failed].put.name : NULL);
		}
		changes_free(v, nres);
	}
	batch_put(b);
	pc_findings_release(&f);
}

void pc_control_apply(struct pc_control *c, const struct pc_upload *files, size_t n,
		      struct pc_reply *r)
{
	pthread_mutex_lock(&c->lock);
	catch_up(c);
	if (c->stopping)
		pc_reply_status(r, 503, "ServiceUnavailable", "the daemon is shutting down");
	else
		apply_locked(c, files, n, r);
	if (r->status == 400 || r->status == 409 || r->status == 422)
		c->reload_failures++; /* refused (a failed compile counts in catch_up()) */
	pthread_mutex_unlock(&c->lock);
}

static int by_res_key(const void *a, const void *b)
{
	const struct pc_resource *x = *(const struct pc_resource *const *)a;
	const struct pc_resource *y = *(const struct pc_resource *const *)b;
	int d;

	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	d = strcmp(x->meta.ns, y->meta.ns);
	return d ? d : strcmp(x->meta.name ? x->meta.name : "", y->meta.name ? y->meta.name : "");
}

/*
 * Append to <*v> (holding <*n>) a removal for every object that an earlier
 * --config apply made and that <b> no longer holds.
 */
static int prune_changes(struct pc_control *c, struct batch *b, struct change **v, size_t *n)
{
	/* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
	struct pc_resource **keys = pc_calloc(b->m.nres ? b->m.nres : 1, sizeof(*keys));
	struct pc_resource probe;
	struct change *nv;
	size_t i;
	int ret = keys ? 0 : -ENOMEM;

	for (i = 0; ret == 0 && i < b->m.nres; i++)
		keys[i] = &b->m.res[i];
	if (ret == 0)
		/* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
		qsort(keys, b->m.nres, sizeof(*keys), by_res_key);
	for (i = 0; ret == 0 && i < c->n; i++) {
		const struct entry *e = &c->v[i];
		struct pc_resource *pp = &probe;

		if (strcmp(e->source, PC_STORE_SOURCE_CONFIG) != 0)
			continue;
		probe.kind = e->kind;
		probe.meta.ns = e->ns;
		probe.meta.name = e->name;
		/* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
		if (bsearch(&pp, keys, b->m.nres, sizeof(*keys), by_res_key))
			continue;
		nv = pc_realloc(*v, (*n + 1) * sizeof(**v));
		if (!nv) {
			ret = -ENOMEM;
			break;
		}
		*v = nv;
		memset(&nv[*n], 0, sizeof(nv[*n]));
		nv[*n].put.kind = pc_kind_info(e->kind)->name;
		nv[*n].put.ns = e->ns;
		nv[*n].put.name = e->name;
		nv[*n].put.remove = true;
		(*n)++;
	}
	free(keys);
	return ret;
}

static void log_applied(const struct change *v, size_t n, int64_t rev)
{
	size_t i, count[PC_STORE_DELETED + 1] = { 0 };

	for (i = 0; i < n; i++)
		count[v[i].result]++;
	pc_log(PC_LOG_INFO, "config applied",
	       "revision=%" PRId64 " created=%zu configured=%zu unchanged=%zu deleted=%zu", rev,
	       count[PC_STORE_CREATED], count[PC_STORE_CONFIGURED], count[PC_STORE_UNCHANGED],
	       count[PC_STORE_DELETED]);
}

struct pc_config {
	struct batch *b;
};

int pc_config_load(char *const *paths, size_t n, struct pc_config **out)
{
	struct pc_config *cfg = pc_calloc(1, sizeof(*cfg));
	struct pc_findings f;
	size_t i;
	int ret = cfg && (cfg->b = batch_new(NULL)) ? 0 : -ENOMEM;

	pc_findings_init(&f);
	for (i = 0; ret == 0 && i < n; i++)
		ret = pc_manifest_add_file(&cfg->b->m, paths[i], &f);
	if (ret == 0 && f.oom)
		ret = -ENOMEM;
	if (f.n) {
		pc_output_sort(&f);
		pc_output_text(stderr, &f);
	}
	if (ret == 0 && f.total_err)
		ret = -EINVAL;
	pc_findings_release(&f);
	if (ret < 0) {
		pc_config_free(cfg);
		return ret;
	}
	*out = cfg;
	return 0;
}

void pc_config_free(struct pc_config *cfg)
{
	if (cfg)
		batch_put(cfg->b);
	free(cfg);
}

static int apply_config_locked(struct pc_control *c, struct batch *b, bool prune)
{
	struct change *v = NULL;
	struct pc_err err;
	size_t n = 0, failed;
	int64_t rev = 0;
	int ret;

	b->owner = c; /* the registry may keep it from now on */
	c->nbatches++;
	ret = changes_of(b, PC_STORE_SOURCE_CONFIG, &v, NULL);
	n = ret == 0 ? b->m.nres : 0;
	if (ret == 0 && prune)
		ret = prune_changes(c, b, &v, &n);
	if (ret == 0) {
		ret = commit(c, b, v, n, &rev, &err, &failed);
		if (ret == 0)
			log_applied(v, n, rev);
		else
			pc_log(PC_LOG_ERR, "cannot apply the config", "err=%s", err.msg);
	}
	changes_free(v, n);
	return ret;
}

int pc_control_apply_loaded(struct pc_control *c, struct pc_config *cfg, bool prune)
{
	int ret;

	pthread_mutex_lock(&c->lock);
	catch_up(c);
	ret = apply_config_locked(c, cfg->b, prune);
	pthread_mutex_unlock(&c->lock);
	pc_config_free(cfg);
	return ret;
}

int pc_control_apply_config(struct pc_control *c, char *const *paths, size_t n, bool prune)
{
	struct pc_config *cfg;
	int ret = pc_config_load(paths, n, &cfg);

	return ret < 0 ? ret : pc_control_apply_loaded(c, cfg, prune);
}

static const struct pc_kind_info *kind_arg(const char *kind, struct pc_reply *r)
{
	const struct pc_kind_info *ki = pc_kind_lookup(kind);

	if (!ki)
		pc_reply_status(r, 404, "NotFound",
				"the server doesn't have a resource type \"%s\"", kind);
	return ki;
}

void pc_control_delete(struct pc_control *c, const char *kind, const char *ns, const char *name,
		       const char *resource_version, struct pc_reply *r)
{
	const struct pc_kind_info *ki;
	struct change ch;
	struct pc_err err;
	size_t failed;
	int64_t rev = 0;
	int ret;

	if (!kind || !name || !*name) {
		pc_reply_status(r, 400, "BadRequest", "delete needs kind and name");
		return;
	}
	ki = kind_arg(kind, r);
	if (!ki)
		return;
	memset(&ch, 0, sizeof(ch));
	ch.put.kind = ki->name;
	ch.put.ns = ns && *ns ? ns : "default";
	ch.put.name = name;
	ch.put.remove = true;
	if (parse_rv(resource_version, &ch.put.expect_rv) < 0) {
		pc_reply_status(r, 400, "BadRequest", "resourceVersion \"%s\" is not a number",
				resource_version);
		return;
	}
	pthread_mutex_lock(&c->lock);
	if (c->stopping) {
		pc_reply_status(r, 503, "ServiceUnavailable", "the daemon is shutting down");
		pthread_mutex_unlock(&c->lock);
		return;
	}
	catch_up(c);
	ret = commit(c, NULL, &ch, 1, &rev, &err, &failed);
	pthread_mutex_unlock(&c->lock);
	pc_store_object_release(&ch.old);
	if (ret < 0) {
		reply_store_error(c, r, ret, &err, ki->kind, failed == SIZE_MAX ? NULL : name);
		return;
	}
	r->status = 200;
	pc_buf_printf(&r->body, "{\"revision\":%" PRId64 ",\"kind\":\"%s\",\"namespace\":", rev,
		      ki->name);
	pc_buf_add_json_str(&r->body, ch.put.ns, strlen(ch.put.ns));
	pc_buf_adds(&r->body, ",\"name\":");
	pc_buf_add_json_str(&r->body, name, strlen(name));
	pc_buf_adds(&r->body, "}");
}

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
	lc->ret = stored_json(lc->body, obj);
	return lc->ret;
}

void pc_control_list(struct pc_control *c, const char *kind, const char *ns, const char *name,
		     struct pc_reply *r)
{
	const struct pc_kind_info *ki = NULL;
	struct list_ctx lc = { name, &r->body, 0, 0 };
	struct pc_err err;
	char res[128];
	int ret;

	if (kind && *kind) {
		ki = kind_arg(kind, r);
		if (!ki)
			return;
	}
	if (ns && !*ns)
		ns = NULL;
	pthread_mutex_lock(&c->lock);
	r->status = 200;
	pc_buf_printf(&r->body, "{\"revision\":%" PRId64 ",\"items\":[",
		      pc_store_revision(c->store));
	ret = pc_store_list(c->store, ki ? ki->name : NULL, ns, list_one, &lc, &err);
	pthread_mutex_unlock(&c->lock);
	pc_buf_adds(&r->body, "]}");
	if (ret < 0 && ret == lc.ret)
		pc_reply_status(r, 500, "InternalError", "cannot show a stored object: %s",
				strerror(-ret));
	else if (ret < 0)
		pc_reply_status(r, 500, "InternalError", "cannot read the store in %s: %s",
				c->o.state_dir, err.msg);
	else if (name && lc.count == 0)
		pc_reply_status(r, 404, "NotFound", "%s \"%s\" not found",
				ki ? resource_name(ki->kind, res, sizeof(res)) : "objects", name);
}

void pc_control_status(struct pc_control *c, struct pc_reply *r)
{
	pthread_mutex_lock(&c->lock);
	r->status = 200;
	pc_buf_printf(&r->body,
		      "{\"version\":\"%s\",\"revision\":%" PRId64 ",\"policyGeneration\":%" PRIu64
		      ",\"objects\":%zu}",
		      PC_VERSION, pc_store_revision(c->store), c->generation, c->n);
	pthread_mutex_unlock(&c->lock);
}

/* ---- open, close ---- */

/* What the registry needs of a stored object besides its text. */
struct stored_meta {
	enum pc_kind kind;
	const char *ns, *name, *cts, *source;
};

#define LOAD_CHUNK (8u << 20) /* objects are decoded in streams of this size */

struct load_ctx {
	struct batch *b;
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
	struct pc_arena *a = lc->b->m.arena;
	size_t len = strlen(obj->object_json);
	struct stored_meta *m;

	if (lc->chunk.len && lc->chunk.len + len > LOAD_CHUNK && (lc->ret = load_flush(lc)) < 0)
		return lc->ret;
	if (lc->nmeta == lc->capmeta) {
		size_t cap = lc->capmeta ? lc->capmeta * 2 : 256;

		m = pc_realloc(lc->meta, cap * sizeof(*m));
		if (!m)
			return lc->ret = -ENOMEM;
		lc->meta = m;
		lc->capmeta = cap;
	}
	m = &lc->meta[lc->nmeta++];
	m->kind = kind_of(obj->kind);
	m->ns = pc_arena_strdup(a, obj->ns);
	m->name = pc_arena_strdup(a, obj->name);
	m->cts = pc_arena_strdup(a, obj->creation_timestamp);
	m->source = strcmp(obj->source, PC_STORE_SOURCE_CONFIG) == 0 ? PC_STORE_SOURCE_CONFIG
								     : PC_STORE_SOURCE_API;
	if (!m->ns || !m->name || !m->cts)
		return lc->ret = -ENOMEM;
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
static int load_register(struct pc_control *c, struct load_ctx *lc)
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
		ret = reg_set(c, 0, r, lc->b, m->source);
	}
	return ret;
}

/* Decode every stored object (in few big streams) and build the registry from them. */
static int load_store(struct pc_control *c, struct pc_err *err)
{
	struct load_ctx lc = { 0 };
	int ret;

	lc.b = batch_new(c);
	if (!lc.b)
		return pc_err_set(err, -ENOMEM, "out of memory");
	pc_findings_init(&lc.f);
	ret = pc_store_list(c->store, NULL, NULL, load_one, &lc, err);
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
	if (ret == 0 && load_register(c, &lc) < 0)
		ret = pc_err_set(err, -ENOMEM, "out of memory");
	reg_finish(c, 0);
	batch_put(lc.b);
	free(lc.meta);
	pc_buf_release(&lc.chunk);
	pc_findings_release(&lc.f);
	return ret;
}

/*
 * Each apply leaves its objects in a batch of their own, with arenas sized
 * for it: after many small applies, decode everything again into one.
 * The bound keeps the cost of that (a full decode) a small share of the
 * applies that make it necessary.
 */
static void maybe_compact(struct pc_control *c)
{
	struct entry *old = c->v;
	size_t i, n = c->n, cap = c->cap;
	struct pc_err err;

	if (c->nbatches <= 64 + c->n / 64)
		return;
	c->v = NULL;
	c->n = c->cap = 0;
	if (load_store(c, &err) < 0) {
		/* keep the registry as it was: it is right, only bigger */
		for (i = 0; i < c->n; i++)
			batch_put(c->v[i].batch);
		free(c->v);
		c->v = old;
		c->n = n;
		c->cap = cap;
		pc_log(PC_LOG_WARN, "cannot reload the store to compact the registry", "err=%s",
		       err.msg);
		return;
	}
	for (i = 0; i < n; i++)
		batch_put(old[i].batch);
	free(old);
	pc_debug("registry compacted", "objects=%zu batches=%zu", c->n, c->nbatches);
}

int pc_control_open(const struct pc_control_opts *opts, struct pc_control **out, struct pc_err *err)
{
	struct pc_control *c = pc_calloc(1, sizeof(*c));
	int ret;

	if (!c)
		return pc_err_set(err, -ENOMEM, "out of memory");
	c->o = *opts;
	pthread_mutex_init(&c->lock, NULL);
	pthread_mutex_init(&c->wlock, NULL);
	pthread_cond_init(&c->wcond, NULL);
	ret = pc_store_open(opts->state_dir, &c->store, err);
	if (ret == 0)
		ret = load_store(c, err);
	if (ret == 0) {
		c->rev = c->rfloor = pc_store_revision(c->store);
		ret = recompile(c);
		if (ret < 0)
			pc_err_set(err, ret, "cannot compile the stored policy: %s",
				   strerror(-ret));
	}
	if (ret < 0) {
		pc_control_free(c);
		return ret;
	}
	pc_log(PC_LOG_INFO, "store opened", "dir=%s revision=%" PRId64 " objects=%zu",
	       opts->state_dir, c->rev, c->n);
	*out = c;
	return 0;
}

void pc_control_shutdown(struct pc_control *c)
{
	pthread_mutex_lock(&c->lock);
	c->stopping = true;
	pthread_mutex_unlock(&c->lock);
	pthread_mutex_lock(&c->wlock);
	c->wstopping = true;
	pthread_cond_broadcast(&c->wcond);
	pthread_mutex_unlock(&c->wlock);
}

void pc_control_free(struct pc_control *c)
{
	size_t i;

	if (!c)
		return;
	for (i = 0; i < c->n; i++)
		batch_put(c->v[i].batch);
	free(c->v);
	for (i = 0; i < c->rlen; i++)
		event_free(&c->ring[(c->rhead + i) % PC_WATCH_LOG]);
	pc_store_close(c->store);
	pc_snapshot_unref(c->snap);
	pthread_cond_destroy(&c->wcond);
	pthread_mutex_destroy(&c->wlock);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

/* ---- the admin endpoint ---- */

void pc_control_counters(struct pc_control *c, struct pc_control_counters *out)
{
	pthread_mutex_lock(&c->lock);
	out->generation = c->generation;
	out->reloads = c->reloads;
	out->reload_failures = c->reload_failures;
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

void pc_control_dump(struct pc_control *c, struct pc_reply *r)
{
	struct list_ctx lc = { NULL, &r->body, 0, 0 };
	struct pc_err err;
	int ret;

	pthread_mutex_lock(&c->lock);
	r->status = 200;
	pc_buf_printf(&r->body, "{\"generation\":%" PRIu64 ",\"revision\":%" PRId64 ",",
		      c->generation, pc_store_revision(c->store));
	pc_buf_printf(&r->body, "\"outbound_traffic_policy\":\"%s\",\"resources\":[",
		      c->snap && c->snap->policy == PC_POLICY_ALLOW_ANY ? "ALLOW_ANY"
									: "REGISTRY_ONLY");
	ret = pc_store_list(c->store, NULL, NULL, list_one, &lc, &err);
	pc_buf_adds(&r->body, "],\"policy\":");
	if (c->snap)
		pc_snapshot_dump_json(c->snap, &r->body);
	else
		pc_buf_adds(&r->body, "null");
	pc_buf_addc(&r->body, '}');
	pthread_mutex_unlock(&c->lock);
	if (ret < 0)
		pc_reply_status(r, 500, "InternalError", "cannot read the store in %s: %s",
				c->o.state_dir, ret == lc.ret ? strerror(-ret) : err.msg);
}
