/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * daemon/publish.c - the current snapshot, and its fan-out to the workers.
 *
 * Order of a publish: (1) under <lock>, drop the snapshot if a newer one
 * is current, else swap it in and fill every attached worker's slot; (2)
 * after the lock, drop the old current reference. Nothing here waits for
 * DNS: a revocation is enforced as soon as it is compiled. Workers adopt
 * the slot on their own loop (proxy/worker.c) and re-check their sessions
 * against it there.
 */
#include "daemon/publish.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>

#include "core/alloc.h"
#include "core/log.h"
#include "policy/snapshot.h"
#include "proxy/worker.h"

struct pc_publisher {
	pthread_mutex_t lock;
	struct pc_snapshot *cur; /* guarded by <lock> */
	struct pc_worker **workers;
	size_t nworkers, cap;
};

struct pc_publisher *pc_publisher_new(void)
{
	struct pc_publisher *p = pc_calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	pthread_mutex_init(&p->lock, NULL);
	return p;
}

void pc_publisher_free(struct pc_publisher *p)
{
	if (!p)
		return;
	pc_snapshot_unref(p->cur);
	free(p->workers);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

void pc_publisher_publish(struct pc_publisher *p, struct pc_snapshot *snap)
{
	struct pc_snapshot *old;
	size_t i;

	pthread_mutex_lock(&p->lock);
	if (p->cur && p->cur->generation >= snap->generation) {
		/* a newer snapshot was published meanwhile: it stays */
		pthread_mutex_unlock(&p->lock);
		pc_debug("older policy not published", "generation=%" PRIu64, snap->generation);
		pc_snapshot_unref(snap);
		return;
	}
	old = p->cur;
	p->cur = snap;
	for (i = 0; i < p->nworkers; i++)
		pc_worker_publish(p->workers[i], pc_snapshot_ref(snap));
	pthread_mutex_unlock(&p->lock);
	pc_snapshot_unref(old);
	pc_log(PC_LOG_INFO, "policy loaded", "generation=%" PRIu64 " clusters=%zu policy=%s",
	       snap->generation, snap->nclusters,
	       snap->policy == PC_POLICY_ALLOW_ANY ? "ALLOW_ANY" : "REGISTRY_ONLY");
}

struct pc_snapshot *pc_publisher_current(struct pc_publisher *p)
{
	struct pc_snapshot *snap;

	pthread_mutex_lock(&p->lock);
	snap = p->cur ? pc_snapshot_ref(p->cur) : NULL;
	pthread_mutex_unlock(&p->lock);
	return snap;
}

int pc_publisher_attach(struct pc_publisher *p, struct pc_worker *w, pc_attach_fn *init,
			void *data)
{
	struct pc_worker **v;
	int ret;

	pthread_mutex_lock(&p->lock);
	if (p->nworkers == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 8;

		/* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
		v = pc_realloc(p->workers, cap * sizeof(*v));
		if (!v) {
			pthread_mutex_unlock(&p->lock);
			return -ENOMEM;
		}
		p->workers = v;
		p->cap = cap;
	}
	ret = init(data, w, p->cur ? pc_snapshot_ref(p->cur) : NULL);
	if (ret == 0)
		p->workers[p->nworkers++] = w;
	pthread_mutex_unlock(&p->lock);
	return ret;
}
