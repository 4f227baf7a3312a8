/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * store/store.h - the resource store: one interface, backends behind it.
 *
 * A store is opened from a URI, "sqlite:<dir>" (or a bare directory) for
 * the embedded SQLite backend (store/sqlite.c), and every call dispatches
 * through its struct pc_store_ops. A backend is one file that fills those
 * ops; an etcd backend would map them onto etcd's transactions (apply),
 * ranges (get, list) and native watch, whose mod_revision is the model of
 * the revisions below. The rest of this comment is the contract every
 * backend keeps; the SQLite specifics are marked as such.
 *
 * The store keeps resources identified by (kind, namespace, name), e.g.
 * ("ServiceEntry", "default", "mysql"). Each holds two texts the caller
 * serialises and the store treats as opaque: <spec_json>, the canonical
 * text of the spec, which decides whether a change bumps the generation,
 * and <object_json>, the user's object as it should be returned (without
 * server-set metadata: the store keeps uid, resourceVersion, generation
 * and creationTimestamp in columns of their own, and the caller merges
 * them in when it prints the object).
 *
 * Versions. A global revision counts committed changes: every apply that
 * changed anything and every delete adds exactly one. An object's
 * resource_version is the revision at which it last changed (etcd's
 * mod_revision), so versions only grow and are comparable across objects.
 *
 * Watch. pc_store_watch() delivers every change after a revision, in
 * order: the objects created, changed and deleted, by this handle or by
 * any other writer (another process on the same SQLite file, another etcd
 * client), so a reader can follow the store without listing it again.
 *
 * Durability (SQLite). The database is <dir>/store.db in WAL mode with
 * synchronous=FULL: a function that changes the store returns 0 only after
 * its transaction committed and the WAL was fsync'd, so a crash or kill -9
 * at any later moment loses nothing that was acknowledged, and a crash
 * before that leaves no part of the change behind. Writers from several
 * processes serialise on SQLite's write lock (BEGIN IMMEDIATE), waiting up
 * to PC_STORE_BUSY_MS for it.
 *
 * Threads and blocking. Every call blocks on disk I/O (and fsync): call
 * from the CLI or the control thread, never from a worker's loop. A
 * handle may be used by one thread at a time.
 *
 * Errors. Functions return 0 or a negative errno and describe the failure
 * in <err> (lowercase text naming the object or the file). The codes a
 * caller may want to tell apart:
 *   -ESTALE   optimistic-concurrency conflict (resourceVersion mismatch)
 *   -ENOENT   no such object
 *   -ENOSPC   disk (or database size limit) full
 *   -EROFS    the state directory or database cannot be written
 *   -EACCES   permission denied on the state directory or database
 *   -EBUSY    another writer held the lock for longer than PC_STORE_BUSY_MS
 *   -ENOTSUP  the database has a schema version this build does not know,
 *             or is not a portcullis store
 *   -ELOOP    a file of the store is a symbolic link or not a regular file
 *             (SQLite: store.db, its -wal and -shm, store.lock), which the
 *             store never follows
 *   -EIO      any other database failure (corruption, I/O error)
 *   -ENOMEM   out of memory
 *   -EEXIST   an address allocation's name or address is already stored
 *   -EINVAL   a NULL argument where a string is required
 * After any error the store is exactly as it was before the call.
 */
#ifndef PC_STORE_STORE_H
#define PC_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pc_err;
struct pc_store_ops;

/* The handle every backend's handle begins with. */
struct pc_store {
	const struct pc_store_ops *ops;
};

/* The schema version this build writes and accepts. */
#define PC_STORE_SCHEMA_VERSION 1

/* How long a writer waits for another writer's lock before -EBUSY. */
#define PC_STORE_BUSY_MS 5000

/* Default for --state-dir. */
#define PC_STORE_DEFAULT_DIR "/var/lib/portcullis"

/* How many changes (objects) the watch log keeps, at least (SQLite). */
#define PC_STORE_WATCH_KEEP 16384

/* A stored object with its server-set metadata. */
struct pc_store_object {
	const char *kind; /* "ServiceEntry" */
	const char *ns;
	const char *name;
	const char *uid; /* random UUIDv4, set at creation, never changes */
	int64_t resource_version;
	int64_t generation;             /* 1 at creation, +1 per change of spec_json */
	const char *creation_timestamp; /* RFC 3339 UTC, "2024-05-01T12:00:00Z" */
	const char *spec_json;
	const char *object_json;
	const char *source; /* who applied it last: PC_STORE_SOURCE_API or _CONFIG */
	void *mem;          /* private: the block the strings of pc_store_get() live in */
};

/* One object to create or update in pc_store_apply(). All borrowed. */
struct pc_store_put {
	const char *kind;
	const char *ns;
	const char *name;
	const char *spec_json;
	const char *object_json;
	int64_t expect_rv;  /* 0: no precondition; else the stored resource_version must equal it */
	const char *source; /* NULL: PC_STORE_SOURCE_API */
	bool remove;        /* delete the object instead (spec_json, object_json unused) */
	bool missing_ok;    /* with <remove> and no <expect_rv>: absent is UNCHANGED, not -ENOENT */
};

/* Where an object came from: the API (apply), or the daemon's --config files. */
#define PC_STORE_SOURCE_API    "api"
#define PC_STORE_SOURCE_CONFIG "config"

enum pc_store_result {
	PC_STORE_CREATED,
	PC_STORE_CONFIGURED,
	PC_STORE_UNCHANGED,
	PC_STORE_DELETED, /* a put with <remove> */
};

/* "created", "configured", "unchanged" (kubectl's words). */
const char *pc_store_result_name(enum pc_store_result r);

/*
 * Open the store <uri>: "sqlite:<dir>" or a bare <dir> for SQLite, which
 * creates <dir> (mode 0700, parent must exist) and <dir>/store.db (mode
 * 0600, schema version PC_STORE_SCHEMA_VERSION) when they do not exist.
 * The files of the store are never followed through a symbolic link
 * (-ELOOP), and those of the caller's user lose any group and other
 * permission bits (an older build made them 0644). On success store
 * the handle in <*out> (release it with pc_store_close()) and return 0.
 * Fails with -EPROTONOSUPPORT for a scheme this build has no backend for,
 * -ENOTSUP when the database carries another schema version or is not a
 * portcullis store, -EROFS or -EACCES when <dir> or the database cannot be
 * written (the store is never opened read-only), and the other codes
 * listed above.
 */
int pc_store_open(const char *uri, struct pc_store **out, struct pc_err *err);

/*
 * Where a store URI keeps its data, for messages: the directory of a
 * "sqlite:" URI or a bare one, else <uri> itself.
 */
const char *pc_store_uri_path(const char *uri);

/* Close <s>. NULL is a no-op. */
void pc_store_close(struct pc_store *s);

/*
 * The owner's lock: one daemon per store. Any number of handles may open a
 * store (tools, tests, the CLI of old), but a daemon enforces what it
 * holds, so two daemons on one store would each enforce, and after a
 * restart inherit, what was applied to the other; pc_store_lock() lets
 * the first daemon keep the store and the second refuse to start.
 *
 * Take the lock of the store <uri> (creating the store's directory as
 * pc_store_open() does) and hold it until pc_store_unlock() or the
 * process's end, through fork's child only if the child keeps the
 * descriptor. Returns 0 with <*out> set, or -EBUSY with <err> naming the
 * holder ("held by pid N" where the kernel can tell it; any other
 * pc_store_lock() in this process is a holder too), -ELOOP when the lock
 * file is a symbolic link, or another code of pc_store_open(). A backend
 * without a lock of its own answers 0 with <*out> NULL.
 *
 * SQLite: an open file description lock (F_OFD_SETLK) on the first byte of
 * <dir>/store.lock (created 0600, opened O_NOFOLLOW), which the kernel
 * drops when the holder dies, however it dies; plus a POSIX lock on its
 * second byte, only so F_GETLK can name the holder's pid. An etcd backend
 * would hold a lease-bound key (etcd's election) instead.
 */
struct pc_store_lock;
int pc_store_lock(const char *uri, struct pc_store_lock **out, struct pc_err *err);

/* Release <l>. NULL is a no-op. */
void pc_store_unlock(struct pc_store_lock *l);

/*
 * Parse a revision or resource version as the API carries it: decimal
 * digits only (no sign, no blank), within 64 bits. Returns 0 with <*out>
 * set, or -EINVAL. Any thread.
 */
int pc_store_parse_revision(const char *s, int64_t *out);

/*
 * metadata.resourceVersion as a write's precondition: 0 in <*out> when
 * <s> is NULL or empty (no precondition), else a revision above 0.
 * Returns 0, or -EINVAL with <*out> 0. Any thread.
 */
int pc_store_parse_precondition(const char *s, int64_t *out);

/*
 * Create or update the <n> objects of <puts>, all in one transaction:
 * either every one is applied or, on any error, none is.
 *
 * For each put, in order: if the object exists and <expect_rv> is not 0
 * and differs from its resource_version, or it does not exist and
 * <expect_rv> is not 0, the whole apply fails with -ESTALE. Otherwise an
 * object whose spec_json and object_json are both byte-equal to the stored
 * ones is PC_STORE_UNCHANGED (nothing about it changes); a stored object
 * that differs is PC_STORE_CONFIGURED (resource_version becomes the new
 * revision; generation grows by one only if spec_json changed); a new one
 * is PC_STORE_CREATED (new uid, generation 1, creationTimestamp now,
 * resource_version the new revision). A put with <remove> deletes the
 * object (PC_STORE_DELETED; -ENOENT when it does not exist, or with
 * <missing_ok> PC_STORE_UNCHANGED, so that one transaction deletes what
 * exists of a list; <expect_rv> as above). The <source> is part of the object: a put that changes only it
 * is PC_STORE_CONFIGURED. The same object may appear twice; the later put
 * sees the earlier one.
 *
 * <results> (NULL, or room for <n>) receives each put's result, and
 * <revision_out> (may be NULL) the store's revision after the apply: the
 * new revision if anything changed, else the unchanged current one. On
 * failure <*revision_out> is untouched and <results> is unspecified.
 * Returns 0 once the transaction is durable; <n> == 0 is a no-op. The
 * error names the object that caused it, and for -ESTALE both versions;
 * <failed> (may be NULL) receives that object's index in <puts>, or
 * SIZE_MAX when the failure is not one object's (a full disk, the lock).
 */
int pc_store_apply(struct pc_store *s, const struct pc_store_put *puts, size_t n,
		   enum pc_store_result *results, int64_t *revision_out, size_t *failed,
		   struct pc_err *err);

/* The server-set metadata of an object as pc_store_apply_meta() left it. */
struct pc_store_meta {
	char uid[37];
	char creation_timestamp[32];
	int64_t resource_version;
	int64_t generation;
};

/*
 * pc_store_apply(), also filling <metas> (room for <n>) with each object's
 * metadata after the apply (for a removal: as it was). Unspecified on
 * failure.
 */
int pc_store_apply_meta(struct pc_store *s, const struct pc_store_put *puts, size_t n,
			enum pc_store_result *results, struct pc_store_meta *metas,
			int64_t *revision_out, size_t *failed, struct pc_err *err);

/*
 * Delete one object. With <expect_rv> not 0, its resource_version must
 * equal <expect_rv>, else -ESTALE. Returns 0 once durable (the revision
 * grows by one), -ENOENT when it does not exist (callers implement
 * --ignore-not-found by ignoring that code).
 */
int pc_store_delete(struct pc_store *s, const char *kind, const char *ns, const char *name,
		    int64_t expect_rv, struct pc_err *err);

/*
 * Fetch one object into <out>, whose strings are allocated in one block
 * owned by <out>: release them with pc_store_object_release(). Returns 0,
 * or -ENOENT (<out> untouched, nothing to release) and the other codes.
 */
int pc_store_get(struct pc_store *s, const char *kind, const char *ns, const char *name,
		 struct pc_store_object *out, struct pc_err *err);

/* Free what pc_store_get() allocated in <obj> and clear it. */
void pc_store_object_release(struct pc_store_object *obj);

/*
 * Called by pc_store_list() for each object. <obj> and its strings are
 * valid only during the call. Return 0 to go on; anything else stops the
 * listing and pc_store_list() returns that value.
 */
typedef int pc_store_list_fn(const struct pc_store_object *obj, void *data);

/*
 * Call <cb>(obj, <data>) for every object of <kind> (NULL: every kind) in
 * namespace <ns> (NULL: every namespace), ordered by (kind, ns, name) in
 * byte order. The listing is one consistent snapshot: concurrent writers
 * do not show through. <cb> may read <s> but must not change it. Returns 0, the callback's non-zero value, or a
 * negative errno (<err> filled by the store, not for the callback's value).
 */
int pc_store_list(struct pc_store *s, const char *kind, const char *ns, pc_store_list_fn *cb,
		  void *data, struct pc_err *err);

/*
 * The current revision (0 for an empty, never-written store), or a
 * negative errno if the database cannot be read.
 */
int64_t pc_store_revision(struct pc_store *s);

/* ---- watch ---- */

enum pc_store_event_type {
	PC_STORE_EV_ADDED,
	PC_STORE_EV_MODIFIED,
	PC_STORE_EV_DELETED,
};

/*
 * One change: the object as the change left it (for a deletion, as it
 * was last, with resource_version the deletion's revision, as Kubernetes
 * reports it). Its spec_json may be "" (a backend need not keep it in its
 * log). Valid only during the callback.
 */
struct pc_store_event {
	int64_t revision;
	enum pc_store_event_type type;
	const struct pc_store_object *obj;
};

/* Return 0 to go on; anything else stops the watch, which returns that value. */
typedef int pc_store_watch_fn(const struct pc_store_event *ev, void *data);

/*
 * Call <cb>(event, <data>) for each change after revision <since>, in
 * commit order (one apply is one revision and may hold many changes), and
 * set <*upto> to the revision they lead to (<since> when there is none).
 * Cheap when nothing changed: the SQLite backend reads its log only after
 * a commit of this handle or when PRAGMA data_version shows another
 * connection's. <cb> must not use <s>. Returns 0, the callback's value,
 * -ERANGE when the changes after <since> are no longer kept (list the
 * store again and watch from the revision listed; <*upto> is the current
 * one), or another negative errno with <err> filled.
 */
int pc_store_watch(struct pc_store *s, int64_t since, pc_store_watch_fn *cb, void *data,
		   int64_t *upto, struct pc_err *err);

/* ---- address allocations ---- */

/*
 * Beside the resources, the store keeps the addresses the DNS proxy
 * allocated to names (policy/alloc.h says how they are chosen): one row
 * per name, with an IPv4 address, an IPv6 address or both, each unique
 * across all rows. Rows are only ever added: an address once given to a
 * name is never given to another, and a name keeps its addresses when
 * the ServiceEntry that served it is deleted, so re-adding it gives the
 * same answer as before. Allocations are not resources: writing them
 * changes no revision and shows in no watch.
 */
struct pc_store_alloc {
	const char *name; /* lowercase, no final dot: the caller's key, stored as given */
	uint8_t v4[4];    /* network order */
	bool has_v4;
	uint8_t v6[16]; /* network order */
	bool has_v6;
	int64_t created;   /* unix seconds */
	int64_t last_used; /* unix seconds */
};

/*
 * Called by pc_store_alloc_list() for each allocation; <a> and its name
 * are valid only during the call. Return 0 to go on; anything else stops
 * the listing, which returns that value.
 */
typedef int pc_store_alloc_fn(const struct pc_store_alloc *a, void *data);

/*
 * Call <cb>(a, <data>) for every stored allocation, ordered by name in
 * byte order, from one consistent snapshot. <cb> must not change <s>.
 * Returns 0, the callback's non-zero value, or a negative errno (<err>
 * filled by the store, not for the callback's value).
 */
int pc_store_alloc_list(struct pc_store *s, pc_store_alloc_fn *cb, void *data, struct pc_err *err);

/*
 * Store the <n> allocations of <v>, all in one transaction: every one or,
 * on any error, none. Returns 0 once the transaction is durable; <n> == 0
 * is a no-op. Fails with -EINVAL (nothing stored) for a NULL or empty
 * name or an allocation with neither address, -EEXIST when a name, or an
 * IPv4 or IPv6 address, is already stored (by an earlier call or earlier
 * in <v>), with <err> naming the allocation and, for an address, the name
 * that holds it; and the other codes above.
 */
int pc_store_alloc_add(struct pc_store *s, const struct pc_store_alloc *v, size_t n,
		       struct pc_err *err);

/*
 * Set last_used to <when> for each of the <n> <names>, in one transaction;
 * a last_used already later than <when> stays (two writers cannot move it
 * back), and a name that has no allocation is skipped. Returns 0 once
 * durable (<n> == 0 is a no-op), -EINVAL for a NULL name, or the other
 * codes above.
 */
int pc_store_alloc_touch(struct pc_store *s, const char *const *names, size_t n, int64_t when,
			 struct pc_err *err);

/* ---- for backends ---- */

/*
 * What a backend provides; each has the contract of the pc_store_*
 * function of the same name (apply: pc_store_apply_meta(), with <metas>
 * possibly NULL). pc_store_delete() is an apply of one removal, and
 * pc_store_object_release() frees obj->mem, so a backend must allocate
 * what its get() returns in one block there.
 */
struct pc_store_ops {
	const char *scheme; /* "sqlite" in "sqlite:/var/lib/portcullis" */
	int (*open)(const char *where, struct pc_store **out, struct pc_err *err);
	void (*close)(struct pc_store *s);
	int (*apply)(struct pc_store *s, const struct pc_store_put *puts, size_t n,
		     enum pc_store_result *results, struct pc_store_meta *metas,
		     int64_t *revision_out, size_t *failed, struct pc_err *err);
	int (*get)(struct pc_store *s, const char *kind, const char *ns, const char *name,
		   struct pc_store_object *out, struct pc_err *err);
	int (*list)(struct pc_store *s, const char *kind, const char *ns, pc_store_list_fn *cb,
		    void *data, struct pc_err *err);
	int64_t (*revision)(struct pc_store *s);
	int (*watch)(struct pc_store *s, int64_t since, pc_store_watch_fn *cb, void *data,
		     int64_t *upto, struct pc_err *err);
	int (*alloc_list)(struct pc_store *s, pc_store_alloc_fn *cb, void *data,
			  struct pc_err *err);
	int (*alloc_add)(struct pc_store *s, const struct pc_store_alloc *v, size_t n,
			 struct pc_err *err);
	int (*alloc_touch)(struct pc_store *s, const char *const *names, size_t n, int64_t when,
			   struct pc_err *err);
	/* NULL: the backend has no owner's lock (pc_store_lock() answers 0, NULL) */
	int (*lock)(const char *where, struct pc_store_lock **out, struct pc_err *err);
	void (*unlock)(struct pc_store_lock *l);
};

/* Every backend's lock begins with this, so pc_store_unlock() finds its backend. */
struct pc_store_lock {
	const struct pc_store_ops *ops;
};

extern const struct pc_store_ops pc_store_sqlite_ops;

#endif /* PC_STORE_STORE_H */
