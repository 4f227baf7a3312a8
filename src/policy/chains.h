/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * policy/chains.h - the server-name filter chains of a port's prefix level.
 *
 * Compiling collects every chain that has a server name (SNI on TLS
 * ports, Host on HTTP ports) as a flat list with its port, level and age;
 * sealing sorts them into the per-level tables of policy/snapshot.h,
 * where the oldest chain for a (port, level, transport, name) wins and
 * the others are reported as conflicts, as Istio drops a filter chain
 * whose match repeats an older one's. Lookups are binary searches over
 * the sealed tables: no allocation, no lock (doc/internals/chains.md).
 */
#ifndef PC_POLICY_CHAINS_H
#define PC_POLICY_CHAINS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/snapshot.h"

struct pc_arena;

/* Which table of a level a chain goes to. */
enum pc_chain_kind {
	PC_CHAIN_TLS,     /* SNI */
	PC_CHAIN_HTTP,    /* Host */
	PC_CHAIN_HTTP_IP, /* Host that is an IP literal (name NULL) */
};

/* A chain while compiling. */
struct pc_chain_draft {
	size_t port;    /* index of its port policy in the builder */
	uint32_t level; /* index in that port's levels */
	enum pc_chain_kind kind;
	uint64_t seq; /* insertion order: lower wins a tie */
	bool vs;      /* from a VirtualService: shadowing a ServiceEntry chain is not a conflict */
	struct pc_chain chain; /* name, origin and routes in the snapshot's arena */
};

struct pc_chain_set {
	struct pc_chain_draft *v; /* malloc'd */
	size_t n, cap;
	uint64_t seq;
};

/* Append a draft (its strings and routes already in the arena). Returns 0 or -ENOMEM. */
int pc_chain_add(struct pc_chain_set *set, size_t port, uint32_t level, enum pc_chain_kind kind,
		 bool vs, const struct pc_chain *chain);

/*
 * Sort the drafts into the tables of <ports>[i].levels (arena-allocated
 * from <arena>), dropping each chain whose (port, level, kind, name) an
 * older one already holds; <conflict>(<data>, winner, loser) is called for
 * each drop, except where a VirtualService chain shadows a ServiceEntry
 * one. Frees the drafts. Returns 0 or -ENOMEM.
 */
typedef void pc_chain_conflict_fn(void *data, uint16_t port, const struct pc_chain *winner,
				  const struct pc_chain *loser);
int pc_chain_seal(struct pc_chain_set *set, struct pc_port_policy *ports, size_t nports,
		  struct pc_arena *arena, pc_chain_conflict_fn *conflict, void *data);

void pc_chain_set_release(struct pc_chain_set *set);

/* The chain of <t> for <name> (exact, then the longest "*.suffix", then "*"), or NULL. */
const struct pc_chain *pc_names_find(const struct pc_names *t, const char *name);

/* The cluster id <c> sends a connection with draw <pick> to (weights, deterministically). */
uint32_t pc_chain_pick(const struct pc_chain *c, uint32_t pick);

/* Whether <t> holds no chain. */
bool pc_names_empty(const struct pc_names *t);

#endif /* PC_POLICY_CHAINS_H */
