/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * daemon/control.h - the live configuration of a running daemon.
 *
 * The control plane owns the store (store/store.h), the registry of the
 * decoded objects it holds (daemon/registry.h), the compiled policy and
 * the log of recent changes that watchers read (daemon/watchlog.h). Every
 * change runs the same pipeline, whether it comes from the API (`portcullis
 * apply`/`delete`) or from --config files:
 *
 *   validate (model code, as `validate`) -> one store transaction, durable
 *   -> registry and watch log -> compile a new snapshot -> publish -> answer.
 *
 * So an acknowledged change is both on disk and enforced; a refused one
 * changed nothing. doc/internals/control.md tells the whole story.
 *
 * This interface knows no HTTP: a change returns 0 or a negative errno
 * and fills a struct pc_change_result; daemon/api.c maps both to the
 * Kubernetes Status replies doc/api.md describes, and the daemon's
 * --config path logs them.
 *
 * Threads: every function is thread-safe. One mutex serialises the store
 * and the registry (the API serves each connection in its own thread);
 * the watch log has its own, so watchers never wait behind a compile.
 * Snapshots are published after that mutex is released, one publish at a
 * time and in generation order.
 */
#ifndef PC_DAEMON_CONTROL_H
#define PC_DAEMON_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "daemon/api.h"
#include "daemon/watchlog.h"
#include "model/finding.h"
#include "policy/snapshot.h"
#include "store/store.h"

struct pc_control;

/*
 * Called for each new snapshot, with no control lock held, one call at a
 * time, in generation order; takes the reference <snap>.
 */
typedef void pc_publish_fn(void *data, struct pc_snapshot *snap);

/*
 * Called after a change's snapshot <snap> was published (or superseded by
 * a newer one), before the change returns to its caller, with no control
 * lock held (neither the store's nor the publish one), so it delays only
 * that caller's answer and never another change. <prev> is the snapshot
 * compiled before <snap> (NULL for the first). Both are borrowed. It may
 * wait a bounded time, e.g. for the first answers of the DNS names <snap>
 * brings (daemon/resolver.h). Not called for what the store's watch
 * (another writer's changes) compiles.
 */
typedef void pc_settle_fn(void *data, const struct pc_snapshot *snap,
			  const struct pc_snapshot *prev);

struct pc_control_opts {
	const char *state_dir; /* the SQLite store's directory (when <store> is NULL) */
	const char *store;     /* a store URI ("sqlite:/var/lib/portcullis"), or NULL */
	struct pc_compile_opts compile; /* generation is ignored: counted here */
	pc_publish_fn *publish;
	pc_settle_fn *settle;   /* may be NULL */
	pc_conflict_fn *report; /* conflicts between ServiceEntries (may be NULL) */
	void *data;             /* for <publish>, <settle> and <report> */
};

/* One uploaded input of an apply: the name findings use, and its bytes. */
struct pc_upload {
	const char *name;
	const char *data;
	size_t len;
};

/* One object of a change and what became of it. */
struct pc_change_object {
	enum pc_kind kind;
	const char *ns;
	const char *name;
	enum pc_store_result result; /* valid once the change succeeded */
	int64_t old_rv; /* its resourceVersion before the change; 0: it did not exist */
	int64_t new_rv; /* after a change that succeeded; for a deletion, the last one */
};

/*
 * What a change did, or why it did not. Initialise with
 * pc_change_result_init(), free with pc_change_result_release(); the
 * strings belong to the result.
 */
struct pc_change_result {
	int64_t revision;          /* the store's revision after the change */
	struct pc_change_object *v; /* the objects, in the order they were given */
	size_t n;
	size_t failed; /* the index in <v> of the object that failed, or SIZE_MAX */
	bool stored;   /* committed, but the policy that includes it did not compile */
	bool lagging;  /* deletes: revoked in memory, not yet stored (<err> says why) */
	struct pc_findings findings; /* validation's errors and warnings */
	struct pc_err err;           /* the failure, for a log line or a message */
};

void pc_change_result_init(struct pc_change_result *res);
void pc_change_result_release(struct pc_change_result *res);

/*
 * Open the store, decode what it holds and compile the first snapshot,
 * which is published through opts->publish before this returns. Returns
 * 0 or a negative errno with <err> filled.
 */
int pc_control_open(const struct pc_control_opts *opts, struct pc_control **out,
		    struct pc_err *err);

/*
 * Give each of <names> (lowercase, no final dot) that has none an
 * auto-allocated address pair (daemon/vips.c, doc/dns.md): stored in one
 * durable transaction, then compiled and published, and settled like a
 * change (its new DNS names asked about once), before this returns 0.
 * Names that have one already are left alone. Returns a negative errno
 * with <err> filled when nothing could be stored (the table is then as
 * before). Any thread but a worker's.
 */
int pc_control_allocate(struct pc_control *c, const char *const *names, size_t n,
			struct pc_err *err);

/* Wake every watcher (their streams end) and refuse further changes (-ESHUTDOWN). */
void pc_control_shutdown(struct pc_control *c);

/* Close the store and free everything; no request may be running. NULL is a no-op. */
void pc_control_free(struct pc_control *c);

/* What the store is, for messages: its directory or URI. */
const char *pc_control_store_name(const struct pc_control *c);

/*
 * Apply all of <files> (as source "api") or nothing. Returns 0 with
 * <res> holding each object's result and the revision (warnings in its
 * findings), or:
 *   -EINVAL    the inputs are invalid: res->findings holds the errors
 *   -ENODATA   no objects were passed
 *   -ESTALE    a resourceVersion precondition failed for object res->failed
 *   -ENOENT    (deletes only) object res->failed does not exist
 *   -ESHUTDOWN the daemon is stopping
 *   -ENOMEM    and the other store errors: nothing changed, res->err says why
 * and, with res->stored set, the compile's error: the change is stored,
 * the previous policy stays in force until a later request compiles it.
 */
int pc_control_apply(struct pc_control *c, const struct pc_upload *files, size_t n,
		     struct pc_change_result *res);

/*
 * Delete one object (<ns> NULL or "": "default"); <expect_rv> 0 or the
 * resourceVersion it must have. Returns as pc_control_apply(), and:
 *
 * Revocation does not wait for the disk. When the store cannot write
 * (-ENOSPC, -EROFS, -EIO, -EACCES) and no resourceVersion precondition
 * is given, the object is removed from the registry and the policy
 * without the store: compiled and published before this returns (so
 * live connections are revoked as usual), and the call returns 0 with
 * res->lagging set, res->err naming the store's failure and res->revision
 * the store's unchanged revision. The removal is kept in memory and
 * retried every PC_REVOKE_RETRY_MS (and before any later change) until
 * the store takes it; until then a restart brings the object back
 * (doc/store.md, "When the store cannot write"). Objects of neither the
 * registry nor the pending list are not found, as usual.
 */
int pc_control_delete(struct pc_control *c, enum pc_kind kind, const char *ns, const char *name,
		      int64_t expect_rv, struct pc_change_result *res);

/* One object of pc_control_delete_many(). */
struct pc_delete_target {
	enum pc_kind kind;
	const char *ns; /* NULL or "": "default" */
	const char *name;
	int64_t expect_rv; /* 0, or the resourceVersion it must have */
};

/*
 * Delete the <n> objects of <t> in one store transaction, one compile and
 * one publish (`delete -f`): res->v[i].result is PC_STORE_DELETED, or
 * PC_STORE_UNCHANGED for an object that does not exist (kubectl reports
 * it and deletes the others; with a precondition it is -ENOENT). Any
 * other failure (-ESTALE, a store error) deletes none of them. The same
 * revocation without the store as pc_control_delete() (all or none of
 * the existing objects, never some). -ENODATA for <n> == 0.
 */
int pc_control_delete_many(struct pc_control *c, const struct pc_delete_target *t, size_t n,
			   struct pc_change_result *res);

/* Deletes revoked in memory but not yet stored, for GET /v1/status and metrics. */
struct pc_control_lag {
	size_t pending;             /* objects revoked, not yet stored */
	uint64_t failures;          /* attempts to store them that failed */
	uint64_t persisted;         /* objects stored late, once the store could write again */
	char cause[PC_ERR_MSG_MAX]; /* the last failure ("" when none pending) */
};

void pc_control_get_lag(struct pc_control *c, struct pc_control_lag *out);

/* How often the poller retries storing revoked deletes. */
#define PC_REVOKE_RETRY_MS 3000

/*
 * Apply the --config files <paths> as source "config" (findings printed to
 * stderr as `portcullis validate` prints them); with <prune>, objects that
 * an earlier --config apply created and that the files no longer hold are
 * deleted in the same transaction. Returns 0, -EINVAL (invalid files:
 * nothing changed) or another negative errno as pc_control_apply(). The
 * caller logs the outcome.
 */
int pc_control_apply_config(struct pc_control *c, char *const *paths, size_t n, bool prune,
			    struct pc_change_result *res);

/*
 * The two halves of pc_control_apply_config(), so that a daemon can refuse
 * an invalid config before it opens the store: pc_config_load() reads and
 * validates the files (findings to stderr; -EINVAL when any is an error),
 * needing no store; pc_control_apply_loaded() applies them and frees
 * <cfg> whatever the outcome. pc_config_free() frees one not applied.
 */
struct pc_config;
int pc_config_load(char *const *paths, size_t n, struct pc_config **out);
int pc_control_apply_loaded(struct pc_control *c, struct pc_config *cfg, bool prune,
			    struct pc_change_result *res);
void pc_config_free(struct pc_config *cfg);

/*
 * Call <cb> for every stored object of <kind> (-1: every kind) in <ns>
 * (NULL: every namespace) named <name> (NULL: any), in (kind, ns, name)
 * order, from one consistent read; <*rev> gets the revision it shows.
 * Returns 0, the callback's non-zero value, or a negative errno with
 * <err> filled.
 */
int pc_control_list(struct pc_control *c, int kind, const char *ns, const char *name,
		    pc_store_list_fn *cb, void *data, int64_t *rev, struct pc_err *err);

/* The stored object <obj> as the API shows it: compact JSON, sorted keys. */
int pc_control_object_json(struct pc_buf *b, const struct pc_store_object *obj);

struct pc_control_status {
	int64_t revision;
	uint64_t generation; /* of the newest policy */
	size_t objects;      /* in the registry */
};

void pc_control_get_status(struct pc_control *c, struct pc_control_status *out);

/* The current revision (where a watch without `since` starts). */
int64_t pc_control_revision(struct pc_control *c);

/* pc_watchlog_wait() on the daemon's watch log (daemon/watchlog.h). */
int pc_control_watch(struct pc_control *c, const struct pc_watch_filter *f, int64_t *since,
		     struct pc_buf *out, unsigned timeout_ms);

/* ---- for the admin endpoint (daemon/admin.c, doc/admin.md) ---- */

struct pc_control_counters {
	uint64_t generation;      /* of the newest policy */
	uint64_t reloads;         /* policies compiled and published after the first */
	uint64_t reload_failures; /* changes refused as invalid, and failed compiles */
	/* deletes revoked in memory while the store could not write (daemon/revoke.c) */
	uint64_t unpersisted_deletes;  /* now pending: a gauge */
	uint64_t store_write_failures; /* failed attempts to store them: a counter */
};

void pc_control_counters(struct pc_control *c, struct pc_control_counters *out);

/* A reference to the newest compiled snapshot (NULL before the first). */
struct pc_snapshot *pc_control_snapshot(struct pc_control *c);

/*
 * GET /config_dump: {"generation", "revision", "outbound_traffic_policy",
 * "resources": [every stored object as GET /v1/objects shows it],
 * "policy": pc_snapshot_dump_json() of <snap>}. <snap> (borrowed; NULL
 * before the first) is the snapshot being enforced, the publisher's
 * current one (daemon/publish.h), which the generation and the outbound
 * policy are also read from; the objects are the store's at the time of
 * the call, so during a change they may be one step ahead of <snap>.
 */
void pc_control_dump(struct pc_control *c, const struct pc_snapshot *snap, struct pc_reply *r);

#endif /* PC_DAEMON_CONTROL_H */
