/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * daemon/control-int.h - what control.c, change.c and feed.c share.
 * Included only by those files.
 */
#ifndef PC_DAEMON_CONTROL_INT_H
#define PC_DAEMON_CONTROL_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "daemon/control.h"
#include "daemon/registry.h"
#include "model/node.h"
#include "store/store.h"

struct pc_control {
	pthread_mutex_t lock;    /* the store, the registry, the counters, <snap>, <pending> */
	pthread_mutex_t publock; /* one publish at a time; never taken with <lock> held */
	uint64_t published;      /* the generation published last (guarded by <publock>) */
	struct pc_control_opts o;
	const char *where; /* the store's directory or URI, for messages */
	struct pc_store *store;
	struct pc_registry reg;
	int64_t rev;  /* the store revision the registry and the watch log have reached */
	bool resync;  /* the registry may have missed changes: list the store again */
	struct pc_watchlog *wl;
	uint64_t generation;
	bool dirty;    /* the registry has changes no compiled snapshot has */
	bool stopping; /* guarded by <lock> */
	struct pc_snapshot *pending; /* compiled, to publish once <lock> is released */
	struct pc_snapshot *pending_prev; /* what was compiled before <pending> (for settle) */
	/* the thread that follows other writers (guarded by <lock>) */
	pthread_t poller;
	pthread_cond_t pcond; /* on CLOCK_MONOTONIC: wakes the poller to stop */
	bool polling;
	/* for the admin endpoint (guarded by <lock>) */
	struct pc_snapshot *snap; /* the newest compiled snapshot (a reference) */
	uint64_t reloads;         /* snapshots compiled after the first */
	uint64_t reload_failures; /* changes refused, or committed and not compiled */
	struct pc_alloc_table *vips; /* the auto-allocated addresses (vips.c; guarded by <lock>) */
	/* deletes revoked in memory, not yet stored (revoke.c; guarded by <lock>) */
	struct revoked *revoked;
	size_t nrevoked;
	uint64_t revoke_next_ms;   /* monotonic: the poller's next attempt to store them */
	uint64_t revoke_logged_ms; /* monotonic: the last "still not stored" log line */
	uint64_t revoke_failures;
	uint64_t revoke_persisted;
	struct pc_err revoke_err; /* the store's last failure */
};

struct change;

/* A delete revoked in memory and not yet stored (daemon/revoke.c). */
struct revoked {
	enum pc_kind kind;
	char *ns, *name;
	char *rv; /* the resourceVersion deleted (NULL: none known): a newer one is not ours */
};

/* ---- daemon/revoke.c: revocation that does not wait for the disk ---- */

/* True for a store failure that revoke-in-memory covers (the store cannot write). */
bool pc_revoke_covers(int err);

/*
 * A delete of <v> (removals) failed in the store with <cause> (res->err):
 * remove what the registry or the pending list holds of them in memory,
 * remember them to store later, compile. Returns 0 with res->lagging set,
 * -ENOENT (nothing of it exists: res->failed) or a compile's error.
 */
int pc_revoke_in_memory(struct pc_control *c, const struct change *v, size_t n,
			struct pc_change_result *res);

/*
 * Try to store the pending revocations now (<force>) or when the retry
 * time has come. Returns 0 when none is left pending. <lock> held.
 */
int pc_revoke_persist(struct pc_control *c, bool force);

/* Remove the pending revocations from the registry again after a feed; true if any was there. */
bool pc_revoke_mask(struct pc_control *c);

/* A change of <v> was stored: the pending revocations of the same objects are moot. */
void pc_revoke_forget(struct pc_control *c, const struct change *v, size_t n);

void pc_revoke_free(struct pc_control *c);

/* daemon/vips.c */
int pc_control_vips_load(struct pc_control *c, struct pc_err *err);
/* <o>'s vips from the table (pc_malloc'd: free(o->vips) after the compile). */
int pc_control_vips_for_compile(struct pc_control *c, struct pc_compile_opts *o);

/* A change being committed: the put, what it came from, what became of it. */
struct change {
	struct pc_store_put put;
	enum pc_kind kind;
	struct pc_resource *res; /* decoded into the change's batch; NULL for a removal */
	enum pc_store_result result;
	struct pc_store_meta meta;
};

/* The change this request committed, so the feed uses what it decoded already. */
struct pc_own_change {
	struct pc_batch *b; /* where <v>'s resources live (NULL: removals only) */
	struct change *v;
	size_t n;
	int64_t rev; /* the revision the store gave it */
};

/*
 * Take the store's changes after c->rev into the registry and the watch
 * log (the one path for this daemon's commits and other writers'), up to
 * the store's current revision. Events of <own> (may be NULL) reuse its
 * decoded resources. Sets <*changed> when the registry changed. With
 * c->resync, or when the store no longer has the changes (-ERANGE), lists
 * the store again instead. Returns 0 or a negative errno (then c->resync
 * is set: the registry may be partly updated). Call with <lock> held.
 */
int pc_control_feed(struct pc_control *c, const struct pc_own_change *own, bool *changed);

/* The object <root> with the server metadata of <obj>, compact and key-sorted, to <b>. */
int pc_control_emit(struct pc_buf *b, const struct pc_node *root,
		    const struct pc_store_object *obj);

/* ---- change.c ---- */

/* --config files read and validated, not applied yet. */
struct pc_config {
	struct pc_batch *b;
};

/*
 * The changes of every resource of <b> (made by <source>) into <*out>.
 * Returns 0, -EINVAL (an unusable resourceVersion: an error finding in
 * <f>, when not NULL) or -ENOMEM.
 */
int pc_changes_of(struct pc_batch *b, const char *source, struct change **out,
		  struct pc_findings *f);

/*
 * Append to <*v> (holding <*n>) a removal for every object of <reg> that
 * an earlier --config apply made and that <b> no longer holds. Returns 0
 * or -ENOMEM.
 */
int pc_changes_prune(const struct pc_registry *reg, struct pc_batch *b, struct change **v,
		     size_t *n);

/* Free <v>'s texts and <v>. */
void pc_changes_free(struct change *v, size_t n);

/* Start and stop the thread that feeds other writers' changes (every PC_FEED_POLL_MS). */
int pc_control_poller_start(struct pc_control *c);
void pc_control_poller_stop(struct pc_control *c);

/*
 * Release <lock>, then publish what was compiled under it (in generation
 * order). pc_control_unlock_settle() then also calls o.settle (no lock
 * held), for a request whose answer may wait for it.
 */
void pc_control_unlock(struct pc_control *c);
void pc_control_unlock_settle(struct pc_control *c);

/* Compile the registry if it has changes no snapshot has; <lock> held. */
int pc_control_catch_up(struct pc_control *c);

#define PC_FEED_POLL_MS 200

#endif /* PC_DAEMON_CONTROL_INT_H */
