/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * policy/trie.h - longest-prefix-match tables for IPv4 and IPv6.
 *
 * A trie maps CIDR prefixes to small integers (rule indexes). It is filled
 * while a policy snapshot is compiled and is read-only once sealed, so the
 * proxy can share it between threads without locks or reference counts.
 * One trie holds both families (separate roots).
 */
#ifndef PC_POLICY_TRIE_H
#define PC_POLICY_TRIE_H

#include <stdbool.h>
#include <stdint.h>

#include "net/addr.h"

struct pc_arena;
struct pc_trie;

/* Returned by pc_trie_lookup() when no prefix covers the address. */
#define PC_TRIE_NONE UINT32_MAX

/*
 * Create an empty trie whose nodes are carved from <arena>. There is no
 * pc_trie_free(): the trie dies with the arena that holds the snapshot.
 * Returns NULL when the arena cannot grow.
 */
struct pc_trie *pc_trie_new(struct pc_arena *arena);

/*
 * Map <prefix> to <value>; inserting the same prefix twice replaces the
 * value and returns the old one through <old> (may be NULL; PC_TRIE_NONE
 * when there was none). Returns 0, -EINVAL if <value> is PC_TRIE_NONE,
 * -ENOMEM, or -EPERM if the trie is already sealed.
 */
int pc_trie_insert(struct pc_trie *trie, const struct pc_prefix *prefix, uint32_t value,
		   uint32_t *old);

/* Freeze <trie>. Only lookups are valid afterwards. */
void pc_trie_seal(struct pc_trie *trie);

/*
 * Return the value of the longest prefix that covers <addr>, or
 * PC_TRIE_NONE. Never allocates, never fails, O(address bits). When
 * <len> is not NULL it receives the matched prefix length.
 */
uint32_t pc_trie_lookup(const struct pc_trie *trie, const struct pc_addr *addr, uint8_t *len);

bool pc_trie_is_empty(const struct pc_trie *trie);

/*
 * The stored prefix nearest to <addr>, for hints about what almost matched:
 * the longest prefix covering <addr> if there is one, else a prefix of the
 * same family whose address shares the most leading bits with <addr> (on a
 * tie, one of them). Its value is returned and the prefix stored in
 * <*out>; PC_TRIE_NONE (and <*out> untouched) when the trie holds nothing
 * of that family. Never allocates, O(address bits).
 */
uint32_t pc_trie_nearest(const struct pc_trie *trie, const struct pc_addr *addr,
			 struct pc_prefix *out);

/*
 * Call <fn>(<data>, prefix, value) for every stored prefix: IPv4 first,
 * then IPv6, each in address order with a prefix before the longer ones
 * it covers. Stops at the first non-zero return of <fn> and returns it;
 * 0 once all were seen. Never allocates.
 */
typedef int pc_trie_walk_fn(void *data, const struct pc_prefix *prefix, uint32_t value);
int pc_trie_walk(const struct pc_trie *trie, pc_trie_walk_fn *fn, void *data);

#endif /* PC_POLICY_TRIE_H */
