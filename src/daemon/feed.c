/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * daemon/feed.c - the store's watch feeds the registry and the watch log.
 *
 * The registry changes only here, from the store's watch (store/store.h):
 * the daemon's own commits and other writers' arrive the same way, in
 * revision order. An apply feeds right after its transaction, up to the
 * revision the store gave it, so it answers with the registry caught up
 * (read-your-writes); its own events reuse the resources it decoded to
 * validate them, and only other writers' objects are decoded here. A
 * thread polls every PC_FEED_POLL_MS for other writers' changes (cheap
 * when there is none: the SQLite backend checks PRAGMA data_version).
 *
 * When the store no longer holds the changes after the registry's
 * revision (-ERANGE), or a feed failed half-way, the registry is listed
 * from the store again and watchers start over (410).
 */
#include "daemon/control-int.h"

#include <errno.h>
#include <malloc.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "model/emit.h"
#include "model/finding.h"
#include "model/manifest.h"

/* One event of the watch, copied out of the store's callback. */
struct event {
	int64_t rev;
	enum pc_store_event_type type;
	int kind;                   /* enum pc_kind, or -1: a kind this build lacks */
	struct pc_store_object obj; /* strings in obj.mem */
	struct change *own;         /* the change of this request it is, or NULL */
	struct pc_resource *res;    /* another writer's object, decoded (NULL: not) */
	size_t ridx;                /* its index in the batch that decoded it */
};

struct events {
	struct event *v;
	size_t n, cap;
};

/* Copy <src>'s strings (spec_json excepted) into one block owned by <dst>. */
static int copy_object(const struct pc_store_object *src, struct pc_store_object *dst)
{
	const char *in[] = { src->kind, src->ns, src->name, src->uid, src->creation_timestamp,
			     src->object_json, src->source };
	const char **out[] = { &dst->kind, &dst->ns, &dst->name, &dst->uid,
			       &dst->creation_timestamp, &dst->object_json, &dst->source };
	size_t i, len[7], total = 0;
	char *p;

	for (i = 0; i < 7; i++)
		total += (len[i] = strlen(in[i])) + 1;
	p = pc_malloc(total);
	if (!p)
		return -ENOMEM;
	*dst = *src;
	dst->mem = p;
	dst->spec_json = "";
	for (i = 0; i < 7; i++) {
		memcpy(p, in[i], len[i] + 1);
		*out[i] = p;
		p += len[i] + 1;
	}
	return 0;
}

static int collect(const struct pc_store_event *e, void *data)
{
	struct events *evs = data;
	const struct pc_kind_info *ki = pc_kind_by_name(e->obj->kind);
	struct event *ev;

	if (evs->n == evs->cap) {
		size_t cap = evs->cap ? evs->cap * 2 : 64;

		ev = pc_realloc(evs->v, cap * sizeof(*ev));
		if (!ev)
			return -ENOMEM;
		evs->v = ev;
		evs->cap = cap;
	}
	ev = &evs->v[evs->n];
	memset(ev, 0, sizeof(*ev));
	ev->rev = e->revision;
	ev->type = e->type;
	ev->kind = ki ? (int)ki->kind : -1;
	if (copy_object(e->obj, &ev->obj) < 0)
		return -ENOMEM;
	evs->n++;
	return 0;
}

static void events_release(struct events *evs)
{
	size_t i;

	for (i = 0; i < evs->n; i++)
		pc_store_object_release(&evs->v[i].obj);
	free(evs->v);
	memset(evs, 0, sizeof(*evs));
}

/*
 * Mark the events that are changes of <own>: its changed objects, in
 * order, at its revision (the store logs them as they were put).
 */
static void match_own(struct events *evs, const struct pc_own_change *own)
{
	size_t i, next = 0;

	for (i = 0; own && i < evs->n; i++) {
		struct event *e = &evs->v[i];
		struct change *ch;

		if (e->rev != own->rev)
			continue;
		while (next < own->n && own->v[next].result == PC_STORE_UNCHANGED)
			next++;
		if (next == own->n)
			break;
		ch = &own->v[next];
		if (strcmp(ch->put.kind, e->obj.kind) == 0 && strcmp(ch->put.ns, e->obj.ns) == 0 &&
		    strcmp(ch->put.name, e->obj.name) == 0) {
			e->own = ch;
			next++;
		}
	}
}

/*
 * Decode other writers' objects into one batch, all before any is
 * registered: the batch's array of resources moves while it grows.
 */
static int decode_foreign(struct pc_control *c, struct events *evs, struct pc_batch **out)
{
	struct pc_batch *b = NULL;
	struct pc_findings f;
	size_t i;
	int ret = 0;

	pc_findings_init(&f);
	for (i = 0; ret == 0 && i < evs->n; i++) {
		struct event *e = &evs->v[i];

		e->ridx = SIZE_MAX;
		if (e->own || e->kind < 0 || e->type == PC_STORE_EV_DELETED)
			continue;
		if (!b && !(b = pc_batch_new(&c->reg))) {
			ret = -ENOMEM;
			break;
		}
		e->ridx = b->m.nres;
		ret = pc_manifest_add_buf(&b->m, "<store>", e->obj.object_json,
					  strlen(e->obj.object_json), &f);
		if (ret == 0 && f.oom)
			ret = -ENOMEM;
		if (ret == 0 && b->m.nres != e->ridx + 1) {
			pc_log(PC_LOG_WARN, "a stored object with errors is not enforced",
			       "kind=%s ns=%s name=%s", e->obj.kind, e->obj.ns, e->obj.name);
			e->ridx = SIZE_MAX;
		}
	}
	for (i = 0; ret == 0 && i < evs->n; i++) {
		if (evs->v[i].ridx != SIZE_MAX)
			evs->v[i].res = &b->m.res[evs->v[i].ridx];
	}
	pc_findings_release(&f);
	*out = b;
	return ret;
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

/* Log <e> for watchers, its object rendered from <root> (NULL: parse the stored text). */
static void log_event(struct pc_control *c, const struct event *e, const struct pc_node *root,
		      struct pc_buf *line)
{
	static const char *const types[] = { "ADDED", "MODIFIED", "DELETED" };
	struct pc_yaml_stream *st = NULL;
	struct pc_err err;
	int ret;

	pc_buf_clear(line);
	if (!root) {
		ret = pc_yaml_parse(e->obj.object_json, strlen(e->obj.object_json), NULL, &st,
				    &err);
		if (ret == 0 && st->ndocs == 1)
			root = st->docs[0].root;
	}
	ret = root ? pc_control_emit(line, root, &e->obj) : -EINVAL;
	pc_yaml_stream_free(st);
	pc_watchlog_append(c->wl, e->rev, (enum pc_kind)e->kind, e->obj.ns, e->obj.name,
			   ret == 0 && !line->oom ? event_line(types[e->type], e->rev, line->p)
						  : NULL);
}

static const char *source_of(const char *s)
{
	return strcmp(s, PC_STORE_SOURCE_CONFIG) == 0 ? PC_STORE_SOURCE_CONFIG
						      : PC_STORE_SOURCE_API;
}

/* Put one ADDED or MODIFIED event into the registry. */
static int register_event(struct pc_control *c, const struct pc_own_change *own,
			  struct pc_batch *fb, struct event *e, size_t sorted)
{
	struct pc_resource *res = e->own ? e->own->res : e->res;
	struct pc_batch *b = e->own && own ? own->b : fb;

	if (!res || !b)
		return 0; /* decoding it failed: not enforced (said so) */
	res->meta.creation_timestamp = pc_arena_strdup(b->m.arena, e->obj.creation_timestamp);
	if (!res->meta.creation_timestamp)
		return -ENOMEM;
	return pc_registry_set(&c->reg, sorted, res, b, source_of(e->obj.source));
}

static int feed_events(struct pc_control *c, const struct pc_own_change *own, struct events *evs,
		       bool *changed)
{
	struct pc_batch *fb = NULL;
	struct pc_buf line = PC_BUF_INIT;
	size_t i, sorted = c->reg.n;
	int ret;

	match_own(evs, own);
	ret = decode_foreign(c, evs, &fb);
	/*
	 * The log cannot hold them all: only the last PC_WATCH_LOG are logged,
	 * and watchers behind the last revision of those left out start over.
	 */
	if (evs->n > PC_WATCH_LOG)
		pc_watchlog_expire(c->wl, evs->v[evs->n - PC_WATCH_LOG - 1].rev);
	for (i = 0; ret == 0 && i < evs->n; i++) {
		struct event *e = &evs->v[i];
		bool log_it = evs->n - i <= PC_WATCH_LOG;

		if (e->kind < 0)
			continue;
		*changed = true;
		if (e->type == PC_STORE_EV_DELETED) {
			if (c->reg.n > sorted) { /* it may have been added earlier in this feed */
				pc_registry_finish(&c->reg, sorted);
				sorted = c->reg.n;
			}
			if (log_it)
				log_event(c, e, NULL, &line);
			pc_registry_remove(&c->reg, sorted, (enum pc_kind)e->kind, e->obj.ns,
					   e->obj.name);
			continue;
		}
		ret = register_event(c, own, fb, e, sorted);
		if (ret == 0 && log_it)
			log_event(c, e, e->own && e->own->res ? e->own->res->root : NULL, &line);
	}
	pc_registry_finish(&c->reg, sorted);
	pc_batch_put(fb);
	pc_buf_release(&line);
	return ret;
}

/* List the store into the registry again; watchers start over. */
static int reload(struct pc_control *c, struct pc_err *err)
{
	int64_t rev = pc_store_revision(c->store); /* first: changes after it come again */
	int ret;

	if (rev < 0)
		return pc_err_set(err, (int)rev, "cannot read the store's revision");
	ret = pc_registry_reload(&c->reg, c->store, err);
	if (ret < 0)
		return ret;
	pc_watchlog_expire(c->wl, rev);
	pc_log(PC_LOG_NOTICE, "registry listed from the store again", "revision=%" PRId64, rev);
	c->rev = rev;
	c->resync = false;
	return 0;
}

int pc_control_feed(struct pc_control *c, const struct pc_own_change *own, bool *changed)
{
	struct events evs = { 0 };
	struct pc_err err;
	int64_t upto = c->rev;
	int ret = 0;

	*changed = false;
	if (!c->resync) {
		ret = pc_store_watch(c->store, c->rev, collect, &evs, &upto, &err);
		if (ret == 0)
			ret = feed_events(c, own, &evs, changed);
		if (ret == 0) {
			c->rev = upto;
			/* watchers see the feed's revisions whole, or (failed) not at all */
			pc_watchlog_commit(c->wl, upto);
		}
		events_release(&evs);
		if (ret != -ERANGE) {
			c->resync = ret < 0;
			goto out;
		}
	}
	*changed = true;
	ret = reload(c, &err);
	c->resync = ret < 0;
out:
	/* deletes revoked in memory stay revoked whatever the store still holds */
	if (ret == 0 && c->nrevoked && pc_revoke_mask(c))
		*changed = true;
	return ret;
}

/* ---- following other writers ---- */

/*
 * Every PC_TRIM_POLLS polls (30 s), hand the memory malloc keeps free back
 * to the kernel. Each compile builds a snapshot of the whole policy, and
 * its pieces freed later, on other threads' arenas, leave holes: a soak of
 * 3,400 apply/delete rounds an hour grew RSS by 22 MiB/h while malloc's
 * bytes in use stayed flat (portcullis_heap_in_use_bytes).
 */
#define PC_TRIM_POLLS (30000 / PC_FEED_POLL_MS)

static void trim(unsigned *polls)
{
	if (++*polls < PC_TRIM_POLLS)
		return;
	*polls = 0;
	malloc_trim(0);
}

static void *poller_main(void *arg)
{
	struct pc_control *c = arg;
	struct timespec until;
	unsigned polls = 0;
	bool changed, failing = false;
	int ret;

	pthread_mutex_lock(&c->lock);
	while (c->polling) {
		until = pc_mono_deadline(PC_FEED_POLL_MS);
		pthread_cond_timedwait(&c->pcond, &c->lock, &until);
		if (!c->polling)
			break;
		pc_revoke_persist(c, false); /* when its time has come */
		ret = pc_control_feed(c, NULL, &changed);
		if (ret < 0 && !failing)
			pc_log(PC_LOG_WARN, "cannot follow the store", "err=%s", strerror(-ret));
		failing = ret < 0;
		if (changed) {
			/* the boundary for changes another writer made: logged here, once */
			pc_log(PC_LOG_INFO, "store changed by another writer",
			       "revision=%" PRId64, c->rev);
			pc_registry_maybe_compact(&c->reg, c->store);
			c->dirty = true;
			pc_control_catch_up(c);
		}
		pc_control_unlock(c); /* publishes what catch_up compiled */
		trim(&polls);
		pthread_mutex_lock(&c->lock);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

int pc_control_poller_start(struct pc_control *c)
{
	sigset_t all, old;
	int ret = pc_cond_init_mono(&c->pcond);

	if (ret != 0)
		return -ret;
	/* signals are the main thread's (signalfd): the poller never takes one */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	c->polling = true;
	ret = pthread_create(&c->poller, NULL, poller_main, c);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret != 0) {
		c->polling = false;
		pthread_cond_destroy(&c->pcond);
		return -ret;
	}
	return 0;
}

void pc_control_poller_stop(struct pc_control *c)
{
	bool was;

	pthread_mutex_lock(&c->lock);
	was = c->polling;
	c->polling = false;
	if (was)
		pthread_cond_broadcast(&c->pcond);
	pthread_mutex_unlock(&c->lock);
	if (was) {
		pthread_join(c->poller, NULL);
		pthread_cond_destroy(&c->pcond);
	}
}
