/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * daemon/watchlog.c - a ring of recent changes, and the watchers waiting on it.
 *
 * The ring counts changes, not revisions: one apply of many objects is
 * many entries at one revision. When the ring is full the oldest entry
 * falls out and the floor rises to its revision, since a watcher at that
 * revision may have missed part of it.
 *
 * Appends are staged: the feed logs a change of many objects one event at
 * a time, and only pc_watchlog_commit() makes them visible, by raising
 * <rev>; collect() shows no event above it. So a watcher never sees half
 * of a revision, and never takes a revision as seen before all of it is.
 */
#include "daemon/watchlog.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"

struct event {
	int64_t rev;
	enum pc_kind kind;
	char *ns;
	char *name;
	char *line; /* the JSON line, "\n"-terminated */
};

struct pc_watchlog {
	pthread_mutex_t lock;
	pthread_cond_t cond; /* on CLOCK_MONOTONIC */
	size_t cap, head, len;
	int64_t floor; /* changes at or below this revision may be gone */
	int64_t rev;   /* committed: events above it are not shown yet; never goes back */
	bool stopping;
	struct event ring[]; /* <cap> of them */
};

struct pc_watchlog *pc_watchlog_new(size_t cap, int64_t rev)
{
	struct pc_watchlog *wl;

	if (cap == 0 || cap > (SIZE_MAX - sizeof(*wl)) / sizeof(wl->ring[0]))
		return NULL;
	wl = pc_calloc(1, sizeof(*wl) + cap * sizeof(wl->ring[0]));
	if (!wl)
		return NULL;
	if (pc_cond_init_mono(&wl->cond) != 0) {
		free(wl);
		return NULL;
	}
	pthread_mutex_init(&wl->lock, NULL);
	wl->cap = cap;
	wl->rev = wl->floor = rev;
	return wl;
}

static void event_free(struct event *e)
{
	free(e->ns);
	free(e->name);
	free(e->line);
	memset(e, 0, sizeof(*e));
}

static void drop_all(struct pc_watchlog *wl)
{
	size_t i;

	for (i = 0; i < wl->len; i++)
		event_free(&wl->ring[(wl->head + i) % wl->cap]);
	wl->head = wl->len = 0;
}

void pc_watchlog_free(struct pc_watchlog *wl)
{
	if (!wl)
		return;
	drop_all(wl);
	pthread_cond_destroy(&wl->cond);
	pthread_mutex_destroy(&wl->lock);
	free(wl);
}

void pc_watchlog_append(struct pc_watchlog *wl, int64_t rev, enum pc_kind kind, const char *ns,
			const char *name, char *line)
{
	struct event *e;

	pthread_mutex_lock(&wl->lock);
	if (wl->len == wl->cap) {
		e = &wl->ring[wl->head];
		wl->floor = e->rev;
		event_free(e);
		wl->head = (wl->head + 1) % wl->cap;
		wl->len--;
	}
	e = &wl->ring[(wl->head + wl->len) % wl->cap];
	e->rev = rev;
	e->kind = kind;
	e->ns = pc_strndup(ns, strlen(ns));
	e->name = pc_strndup(name, strlen(name));
	e->line = line;
	if (!e->ns || !e->name || !line) {
		event_free(e); /* out of memory: watchers miss it; raise the floor */
		wl->floor = rev;
	} else {
		wl->len++;
	}
	pthread_mutex_unlock(&wl->lock);
}

void pc_watchlog_commit(struct pc_watchlog *wl, int64_t rev)
{
	pthread_mutex_lock(&wl->lock);
	if (rev > wl->rev) {
		wl->rev = rev;
		pthread_cond_broadcast(&wl->cond);
	}
	pthread_mutex_unlock(&wl->lock);
}

void pc_watchlog_expire(struct pc_watchlog *wl, int64_t rev)
{
	pthread_mutex_lock(&wl->lock);
	drop_all(wl);
	wl->floor = rev;
	if (rev > wl->rev)
		wl->rev = rev;
	pthread_cond_broadcast(&wl->cond); /* those below the floor learn it now */
	pthread_mutex_unlock(&wl->lock);
}

int64_t pc_watchlog_revision(struct pc_watchlog *wl)
{
	int64_t rev;

	pthread_mutex_lock(&wl->lock);
	rev = wl->rev;
	pthread_mutex_unlock(&wl->lock);
	return rev;
}

static bool selected(const struct pc_watch_filter *f, const struct event *e)
{
	return (f->kind < 0 || (int)e->kind == f->kind) && (!f->ns || strcmp(f->ns, e->ns) == 0) &&
	       (!f->name || strcmp(f->name, e->name) == 0);
}

static int collect(struct pc_watchlog *wl, const struct pc_watch_filter *f, int64_t *since,
		   struct pc_buf *out)
{
	size_t i;
	bool added = false;

	if (*since < wl->floor) {
		pc_buf_printf(out,
			      "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\","
			      "\"apiVersion\":\"v1\",\"status\":\"Failure\",\"reason\":"
			      "\"Expired\",\"message\":\"too old resource version: %" PRId64
			      " (%" PRId64 ")\",\"code\":410}}\n",
			      *since, wl->floor + 1);
		return -ERANGE;
	}
	for (i = 0; i < wl->len; i++) {
		const struct event *e = &wl->ring[(wl->head + i) % wl->cap];

		if (e->rev <= *since || e->rev > wl->rev || !selected(f, e))
			continue;
		pc_buf_adds(out, e->line);
		added = true;
	}
	if (wl->rev > *since)
		*since = wl->rev;
	return added;
}

int pc_watchlog_wait(struct pc_watchlog *wl, const struct pc_watch_filter *f, int64_t *since,
		     struct pc_buf *out, unsigned timeout_ms)
{
	struct timespec until = pc_mono_deadline(timeout_ms);
	int ret;

	pthread_mutex_lock(&wl->lock);
	for (;;) {
		if (wl->stopping) {
			ret = -ESHUTDOWN;
			break;
		}
		ret = collect(wl, f, since, out);
		if (ret != 0)
			break;
		if (pthread_cond_timedwait(&wl->cond, &wl->lock, &until) == ETIMEDOUT) {
			ret = wl->stopping ? -ESHUTDOWN : collect(wl, f, since, out);
			break;
		}
	}
	pthread_mutex_unlock(&wl->lock);
	return ret;
}

void pc_watchlog_shutdown(struct pc_watchlog *wl)
{
	pthread_mutex_lock(&wl->lock);
	wl->stopping = true;
	pthread_cond_broadcast(&wl->cond);
	pthread_mutex_unlock(&wl->lock);
}
