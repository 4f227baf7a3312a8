/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * daemon/registry.h - the decoded resources of the store, by (kind, ns, name).
 *
 * One parsed copy of each stored object, kept so that a change parses only
 * what it brings and a compile reads memory, not the store. Resources live
 * in the manifest that decoded them (a "batch": an apply of 10,000 objects
 * is one batch); the registry holds a reference to the batch of each entry,
 * and a batch is freed when no entry points into it any more.
 *
 * Changes are made in one go against the first <sorted> entries: set and
 * remove work on those, new keys are appended, and pc_registry_finish()
 * drops the removed ones, sorts the appended ones in and keeps the later
 * of two equal keys. Between a set/remove and the finish, only the first
 * <sorted> entries are searchable.
 *
 * Threads: none of its own; the caller serialises every call (control.c's
 * lock). Errors are negative errnos.
 */
#ifndef PC_DAEMON_REGISTRY_H
#define PC_DAEMON_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/manifest.h"
#include "model/resource.h"

struct pc_err;
struct pc_registry;
struct pc_store;

/* A manifest and the number of references to it (entries, and its creator until done). */
struct pc_batch {
	struct pc_registry *owner; /* counted in owner->nbatches; NULL: not adopted yet */
	struct pc_manifest m;
	size_t live;
};

struct pc_registry_entry {
	enum pc_kind kind;
	const char *ns;   /* borrowed from <batch> */
	const char *name; /* borrowed from <batch> */
	struct pc_resource *res;
	struct pc_batch *batch; /* a reference */
	const char *source;     /* PC_STORE_SOURCE_API or _CONFIG (static strings) */
	uint64_t seq;           /* order of setting: of two equal keys the later wins */
};

/* Embed it; pc_registry_init() and pc_registry_release(). */
struct pc_registry {
	struct pc_registry_entry *v; /* sorted by (kind, ns, name) after a finish */
	size_t n, cap;
	size_t nbatches; /* alive batches adopted by this registry */
	uint64_t seq;
};

void pc_registry_init(struct pc_registry *reg);

/* Drop every entry (and the batches only they held). */
void pc_registry_release(struct pc_registry *reg);

/*
 * A new batch with one reference (the creator's), adopted by <reg> (NULL:
 * adopt it later with pc_batch_adopt()). NULL when out of memory.
 */
struct pc_batch *pc_batch_new(struct pc_registry *reg);

/* Count <b> (made with a NULL registry) as one of <reg>'s from now on. */
void pc_batch_adopt(struct pc_registry *reg, struct pc_batch *b);

/* Drop a reference to <b>; the last frees it. NULL is a no-op. */
void pc_batch_put(struct pc_batch *b);

/* The index of the entry (kind, ns, name) among the first <n>, or SIZE_MAX. */
size_t pc_registry_find(const struct pc_registry *reg, size_t n, enum pc_kind kind,
			const char *ns, const char *name);

/*
 * Set the entry of <res> (decoded into <b>, which gains a reference):
 * replace it if it is among the first <sorted>, else append it. Returns 0
 * or -ENOMEM (nothing changed).
 */
int pc_registry_set(struct pc_registry *reg, size_t sorted, struct pc_resource *res,
		    struct pc_batch *b, const char *source);

/*
 * Mark the entry removed; the finish drops it and its batch reference (so
 * its key stays valid for the rest of the change). An absent key is a no-op.
 */
void pc_registry_remove(struct pc_registry *reg, size_t sorted, enum pc_kind kind, const char *ns,
			const char *name);

/* End a change begun with <sorted> entries: see the top of this file. */
void pc_registry_finish(struct pc_registry *reg, size_t sorted);

/*
 * Fill the empty <reg> with every object stored in <s>, decoded in a few
 * big streams into one batch; creationTimestamp and source come from the
 * store. Objects this build does not accept are kept in the store but not
 * registered (their findings go to stderr, with a warning). Returns 0, or a
 * negative errno with <err> filled; <reg> then holds what it had decoded.
 */
int pc_registry_load(struct pc_registry *reg, struct pc_store *s, struct pc_err *err);

/*
 * Replace the entries of <reg> with every object stored in <s>, listed
 * again (pc_registry_load()). Returns 0, or a negative errno with <err>
 * filled and <reg> as it was.
 */
int pc_registry_reload(struct pc_registry *reg, struct pc_store *s, struct pc_err *err);

/*
 * After many small changes <reg> holds many small batches: when there are
 * more than 64 + n/64 of them, decode the store again into one (a full
 * decode, so the bound keeps its cost a small share of the changes that
 * made it necessary). On failure <reg> stays as it was (right, only bigger)
 * and the failure is logged. Returns true when it compacted.
 */
bool pc_registry_maybe_compact(struct pc_registry *reg, struct pc_store *s);

#endif /* PC_DAEMON_REGISTRY_H */
