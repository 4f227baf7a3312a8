/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * daemon/control.h - the live configuration of a running daemon.
 *
 * The control plane owns the store (store/store.h), the decoded resources
 * the store holds (one parsed copy of each, kept so that a change only
 * parses what it brings), the compiled policy and the log of recent
 * changes that watchers read. Every change runs the same path, whether it
 * comes from the API (`portcullis apply`/`delete`) or from --config files:
 *
 *   validate (model code, as `validate`) -> one store transaction, durable
 *   -> compile a new snapshot -> hand it to the workers -> answer.
 *
 * So an acknowledged change is both on disk and enforced; a refused one
 * changed nothing. Every function is thread-safe: one mutex serialises
 * the store and the registry (the API serves each connection in its own
 * thread). Replies are HTTP status codes and JSON bodies as doc/api.md
 * describes them.
 */
#ifndef PC_DAEMON_CONTROL_H
#define PC_DAEMON_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "policy/snapshot.h"

struct pc_control;
struct pc_err;

/* Called with the lock held for each new snapshot; takes the reference <snap>. */
typedef void pc_publish_fn(void *data, struct pc_snapshot *snap);

struct pc_control_opts {
	const char *state_dir;
	struct pc_compile_opts compile; /* generation is ignored: counted here */
	pc_publish_fn *publish;
	pc_conflict_fn *report; /* conflicts between ServiceEntries (may be NULL) */
	void *data;             /* for <publish> and <report> */
};

/* An answer to a request: HTTP status and a JSON body. */
struct pc_reply {
	unsigned status;
	struct pc_buf body;
	const char *content_type;
};

/* One uploaded input of an apply: the name findings use, and its bytes. */
struct pc_upload {
	const char *name;
	const char *data;
	size_t len;
};

/* How many changes the watch log keeps. */
#define PC_WATCH_LOG 4096

/*
 * Open the store in opts->state_dir, decode what it holds and compile the
 * first snapshot, which is published through opts->publish before this
 * returns. Returns 0 or a negative errno with <err> filled.
 */
int pc_control_open(const struct pc_control_opts *opts, struct pc_control **out,
		    struct pc_err *err);

/* Wake every watcher (their streams end) and refuse further requests with 503. */
void pc_control_shutdown(struct pc_control *c);

/* Close the store and free everything; no request may be running. NULL is a no-op. */
void pc_control_free(struct pc_control *c);

/*
 * Apply the --config files <paths> as source "config": the findings are
 * printed to stderr as `portcullis validate` prints them; with <prune>,
 * objects that an earlier --config apply created and that the files no
 * longer hold are deleted in the same transaction. Returns 0, -EINVAL
 * (invalid files: nothing changed) or another negative errno (logged).
 */
int pc_control_apply_config(struct pc_control *c, char *const *paths, size_t n, bool prune);

/*
 * The two halves of pc_control_apply_config(), so that a daemon can refuse
 * an invalid config before it opens the store: pc_config_load() reads and
 * validates the files (findings to stderr; -EINVAL when any is an error),
 * needing no store; pc_control_apply_loaded() applies them and frees
 * <cfg> whatever the outcome. pc_config_free() frees one not applied.
 */
struct pc_config;
int pc_config_load(char *const *paths, size_t n, struct pc_config **out);
int pc_control_apply_loaded(struct pc_control *c, struct pc_config *cfg, bool prune);
void pc_config_free(struct pc_config *cfg);

/* POST /v1/apply: all of <files> or nothing. */
void pc_control_apply(struct pc_control *c, const struct pc_upload *files, size_t n,
		      struct pc_reply *r);

/* DELETE /v1/objects. <kind> is a kind as pc_kind_lookup() takes it. */
void pc_control_delete(struct pc_control *c, const char *kind, const char *ns, const char *name,
		       const char *resource_version, struct pc_reply *r);

/* GET /v1/objects. <kind>, <ns> and <name> may be NULL (every one). */
void pc_control_list(struct pc_control *c, const char *kind, const char *ns, const char *name,
		     struct pc_reply *r);

/* GET /v1/status. */
void pc_control_status(struct pc_control *c, struct pc_reply *r);

/* Fill <r> with a Kubernetes-style Status: {"kind":"Status","status":"Failure",...}. */
void pc_reply_status(struct pc_reply *r, unsigned code, const char *reason, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* What a watch selects; NULL fields select every value. */
struct pc_watch_filter {
	int kind; /* enum pc_kind, or -1 */
	const char *ns;
	const char *name;
};

/* The current revision (where a watch without `since` starts). */
int64_t pc_control_revision(struct pc_control *c);

/*
 * Append to <out> the watch lines of the changes after revision <*since>
 * that <f> selects, as one or more "\n"-terminated JSON lines, and advance
 * <*since>. When there is none, wait up to <timeout_ms> for one. Returns
 * 1 when lines were added, 0 on timeout, -ERANGE when <*since> is older
 * than the log (one ERROR line with a 410 Status is added) and -ESHUTDOWN
 * once pc_control_shutdown() was called.
 */
int pc_control_watch(struct pc_control *c, const struct pc_watch_filter *f, int64_t *since,
		     struct pc_buf *out, unsigned timeout_ms);

/* ---- for the admin endpoint (daemon/admin.c, doc/admin.md) ---- */

struct pc_control_counters {
	uint64_t generation;      /* of the newest policy */
	uint64_t reloads;         /* policies compiled and published after the first */
	uint64_t reload_failures; /* changes refused as invalid, and failed compiles */
};

void pc_control_counters(struct pc_control *c, struct pc_control_counters *out);

/* A reference to the newest published snapshot (NULL before the first). */
struct pc_snapshot *pc_control_snapshot(struct pc_control *c);

/*
 * GET /config_dump: {"generation", "revision", "outbound_traffic_policy",
 * "resources": [every stored object as GET /v1/objects shows it],
 * "policy": pc_snapshot_dump_json() of the newest snapshot}, read under
 * one lock so the objects and the policy agree.
 */
void pc_control_dump(struct pc_control *c, struct pc_reply *r);

#endif /* PC_DAEMON_CONTROL_H */
