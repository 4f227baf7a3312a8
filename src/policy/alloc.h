/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * policy/alloc.h - the table of auto-allocated addresses, one per DNS name.
 *
 * A name that a ServiceEntry serves without `addresses` gets its own IPv4
 * address from Istio's range 240.240.0.0/16 and its own IPv6 address from
 * 2001:2::/48 (reference §1.3), which the DNS proxy answers and the proxy
 * classifies connections by. An allocation is never reused for another
 * name: the table only grows (apps cache answers for a long time, so an
 * address that once meant one name must never come to mean another).
 *
 * Names are keys as DNS compares them: case-insensitive, with or without
 * the final dot. Lookups accept either spelling; the table keeps the
 * lowercase form without the dot, which is what pc_alloc->name shows.
 *
 * Addresses come from pc_alloc_choose(): a hash of the name (FNV-1a, no
 * seed) picks the first candidate and linear probing skips taken ones, so
 * the same names inserted in the same order get the same addresses on
 * every run and every machine. The persistent store is the authority
 * (store/store.h, pc_store_alloc_*): at start the caller loads it with
 * pc_alloc_insert(), and a new name is chosen here, stored, then inserted.
 *
 * Cost: lookups by name and by address are O(1) (open-addressing indexes
 * of 32-bit entry numbers); entries live in fixed chunks and names in a
 * byte pool, so a pointer returned by a lookup stays valid until
 * pc_alloc_table_free(), whatever is inserted after it.
 *
 * Threads: none inside and no lock: the caller serialises every call on a
 * table (one writer, or a lock around readers and the writer).
 */
#ifndef PC_POLICY_ALLOC_H
#define PC_POLICY_ALLOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/addr.h"

struct pc_alloc_table;

/* The longest name the table keeps (RFC 1035's 255 bytes on the wire, as text). */
#define PC_ALLOC_NAME_MAX 253

/* How many IPv4 addresses 240.240.0.0/16 offers (less .0.0 and .255.255). */
#define PC_ALLOC_V4_SIZE 65534u

/* One allocation. */
struct pc_alloc {
	const char *name;  /* lowercase, no final dot; owned by the table */
	struct pc_addr v4; /* family 0: none (the IPv4 range was full) */
	struct pc_addr v6; /* family 0: none */
	int64_t created;   /* unix seconds */
	int64_t last_used; /* unix seconds: last answer or connection */
};

/* An empty table, or NULL for lack of memory. */
struct pc_alloc_table *pc_alloc_table_new(void);

/* Free <t> and every name and entry in it. NULL is a no-op. */
void pc_alloc_table_free(struct pc_alloc_table *t);

/*
 * Is <a> an address the table can hold: in 240.240.0.0/16 but neither
 * 240.240.0.0 nor 240.240.255.255, or in 2001:2::/48 but not 2001:2::
 * itself? The port is ignored; ::ffff:240.240.x.y counts as IPv4.
 */
bool pc_alloc_in_range(const struct pc_addr *a);

/*
 * Add a copy of <a> (name copied and normalised, ports cleared). Returns
 * 0; -EINVAL when the name is NULL, empty or longer than
 * PC_ALLOC_NAME_MAX, when an address has a family other than 0, AF_INET
 * (for v4) or AF_INET6 (for v6), is outside pc_alloc_in_range(), or when
 * both are family 0; -EEXIST when the name, the IPv4 or the IPv6 address
 * is already in the table; -ENOMEM. On failure the table is unchanged.
 */
int pc_alloc_insert(struct pc_alloc_table *t, const struct pc_alloc *a);

/* The allocation of <name> (any case, final dot or not), or NULL. */
const struct pc_alloc *pc_alloc_by_name(const struct pc_alloc_table *t, const char *name);

/*
 * The allocation holding address <a> (port ignored; ::ffff:a.b.c.d is
 * looked up as a.b.c.d), or NULL.
 */
const struct pc_alloc *pc_alloc_by_addr(const struct pc_alloc_table *t, const struct pc_addr *a);

/*
 * Choose free addresses for <name>, a name not in the table, without
 * inserting them: <*v4> and <*v6> (port 0) are the first free candidates
 * after the hash of the normalised name, never a reserved address. When
 * the IPv4 range is full <*v4> gets family 0; <*v6> always has one
 * (2001:2::/48 has 2^80 - 1 addresses). Returns 0, -EINVAL for a name
 * pc_alloc_insert() would refuse, or -EEXIST when <name> already has an
 * allocation (use pc_alloc_by_name()). The cost grows with the crowding
 * of the range around the candidate, not with the size of the table.
 */
int pc_alloc_choose(const struct pc_alloc_table *t, const char *name, struct pc_addr *v4,
		    struct pc_addr *v6);

/*
 * Undo the insertions made after the table held <count> entries (the
 * caller's own, e.g. a batch its store refused): they are gone from every
 * lookup, as if never inserted. No-op when it holds no more than <count>.
 */
void pc_alloc_truncate(struct pc_alloc_table *t, size_t count);

/* Set the last_used time of <name>'s allocation to <now>. Returns 0 or -ENOENT. */
int pc_alloc_touch(struct pc_alloc_table *t, const char *name, int64_t now);

/* The number of allocations. */
size_t pc_alloc_count(const struct pc_alloc_table *t);

/* Bytes the table holds from the allocator (entries, names, indexes). */
size_t pc_alloc_memory(const struct pc_alloc_table *t);

/*
 * Called by pc_alloc_foreach() for each allocation. Return 0 to go on;
 * anything else stops the walk, which returns that value. <t> must not
 * be changed during the walk.
 */
typedef int pc_alloc_fn(const struct pc_alloc *a, void *data);

/*
 * Call <fn>(a, <data>) for every allocation in name order (strcmp).
 * Returns 0, <fn>'s non-zero value, or -ENOMEM (the order needs a
 * temporary array of 4 bytes per allocation) before any call.
 */
int pc_alloc_foreach(const struct pc_alloc_table *t, pc_alloc_fn *fn, void *data);

#endif /* PC_POLICY_ALLOC_H */
