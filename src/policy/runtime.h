/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * policy/runtime.h - the cluster state that outlives a policy snapshot.
 *
 * A snapshot (policy/snapshot.h) is immutable and replaced on every change;
 * what the proxy learns while it runs must not be replaced with it. That
 * state lives here, in two tables keyed by name, as proxy/stats.c keys its
 * counters and as nginx's upstream zone carries peers from one
 * configuration to the next by upstream name:
 *
 *   - per cluster name ("outbound|5432||db.example"): the open upstream
 *     connections that maxConnections is checked against and the
 *     round-robin cursor (room for endpoint health and outlier state);
 *   - per DNS name ("db.example"): the addresses the resolver found, when
 *     to ask again, and whether anyone has asked yet. A name is shared by
 *     every cluster and every generation that resolves it, so a snapshot
 *     compiled after a change finds the answers already there.
 *
 * pc_policy_compile() binds each cluster of a new snapshot to its entries
 * (pc_runtime_bind()), taking a reference on each; pc_snapshot_unref()
 * drops them (pc_runtime_unbind()). An entry is freed when no snapshot
 * names it any more. Because the compiling code still holds the previous
 * snapshot, a name that stays in the policy keeps its entry across any
 * number of changes; and because a session pins its snapshot, a connection
 * always releases the count it took.
 *
 * Threads: every function may be called from any thread. One mutex per
 * table guards the lookups (compile, unref, the resolver's walk); the
 * counters are atomics; a name's addresses have a mutex of their own, held
 * only to copy them, so a worker picking an upstream waits at most for
 * another copy, never for DNS. Nothing here resolves: daemon/resolver.c
 * asks pc_runtime_next_due() what to resolve and stores the answers.
 */
#ifndef PC_POLICY_RUNTIME_H
#define PC_POLICY_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/addr.h"

struct pc_cluster;
struct pc_rt_cluster;
struct pc_rt_name;
struct pc_runtime;

/* At most this many addresses are kept per DNS name. */
#define PC_RT_MAX_ADDRS 64

/* An empty table, or NULL without memory. */
struct pc_runtime *pc_runtime_new(void);

/* Free <rt>; no snapshot bound to it may be alive. NULL is a no-op. */
void pc_runtime_free(struct pc_runtime *rt);

/* The process's table (never freed), which pc_policy_compile() binds clusters to. */
struct pc_runtime *pc_runtime_default(void);

/*
 * Bind cluster <c> (being compiled, not yet shared) to the entry of its
 * name in <rt> and each of its DNS names to theirs, creating the entries
 * that do not exist. An IP literal "resolves" at once, without a query.
 * Returns 0 or -ENOMEM (what was bound stays bound: unbind it).
 */
int pc_runtime_bind(struct pc_runtime *rt, struct pc_cluster *c);

/* Drop the references pc_runtime_bind() took on <c>'s entries (unbound parts are skipped). */
void pc_runtime_unbind(struct pc_cluster *c);

/* How many cluster and DNS-name entries <rt> holds (for tests and the admin endpoint). */
void pc_runtime_count(struct pc_runtime *rt, size_t *nclusters, size_t *nnames);

/* ---- per cluster: connection setup in the workers, the admin endpoint ---- */

/* Upstream connections open now on <c>'s name, in every generation. */
unsigned pc_cluster_active(const struct pc_cluster *c);

/*
 * Take one of <c>'s connection slots if fewer than <max> are taken
 * (UINT32_MAX: no limit), as one atomic step: true when taken, and the
 * caller then owes exactly one pc_cluster_release(). A check of
 * pc_cluster_active() followed by an increment lets two workers both pass
 * the check and exceed maxConnections; this cannot.
 */
bool pc_cluster_try_acquire(const struct pc_cluster *c, uint32_t max);

/* Give back a slot taken by pc_cluster_try_acquire(). */
void pc_cluster_release(const struct pc_cluster *c);

/* The next value of <c>'s round-robin cursor (shared across generations). */
unsigned pc_cluster_next_rr(const struct pc_cluster *c);

/*
 * The upstream for a new connection to DNS cluster <c>: round robin over
 * every address of every name (DNS), or the first address found
 * (DNS_ROUND_ROBIN, as Envoy's LOGICAL_DNS), with the name's port. False
 * when nothing is resolved (yet). Never blocks on DNS.
 */
bool pc_cluster_pick_resolved(const struct pc_cluster *c, struct pc_addr *out);

/*
 * Copy up to <max> of the addresses DNS cluster <c> would use now into
 * <out>, with their ports; returns how many were copied.
 */
size_t pc_cluster_resolved(const struct pc_cluster *c, struct pc_addr *out, size_t max);

/* ---- per DNS name: the resolver (daemon/resolver.c) ---- */

/*
 * The name to resolve next, with a reference (pc_runtime_name_put()): one
 * nobody has asked about yet first, else the one whose answer expired
 * longest ago, if any did by <now_ms> (monotonic). NULL when none is due;
 * <*next_ms> then says when the next one is (UINT64_MAX: never).
 */
struct pc_rt_name *pc_runtime_next_due(struct pc_runtime *rt, uint64_t now_ms,
				       uint64_t *next_ms);

const char *pc_runtime_name(const struct pc_rt_name *n);

/*
 * Store an answer for <n>: the <count> addresses at <addrs> (ports are
 * ignored), to be asked again at <expires_ms>. On -ENOMEM the old answer
 * stays. Marks <n> asked.
 */
int pc_runtime_name_set(struct pc_rt_name *n, const struct pc_addr *addrs, size_t count,
			uint64_t expires_ms);

/* No answer (the server did not reply): keep the old one, ask again at <retry_ms>. */
void pc_runtime_name_retry(struct pc_rt_name *n, uint64_t retry_ms);

/* Whether the resolver has asked about <n> at least once (answered or not). */
bool pc_runtime_name_asked(const struct pc_rt_name *n);

/* Drop a reference from pc_runtime_next_due(). */
void pc_runtime_name_put(struct pc_rt_name *n);

/*
 * Until when (monotonic ms) the answer to a change may wait for the first
 * answer of a name of cluster <c> (the change is enforced before any such
 * wait; doc/internals/publish.md): the latest <born> + <window_ms> among
 * its names that were never asked about, where <born> is when the name
 * entered the table; 0 when there is none. So a new name holds up the
 * answers of the changes that bring it for <window_ms> in all, however many
 * there are, and a name the resolver could not reach in that time never
 * holds up an unrelated change.
 */
uint64_t pc_cluster_first_wait(const struct pc_cluster *c, uint64_t window_ms);

/* ---- DYNAMIC_DNS: names that come from the connections themselves ---- */

/* At most this many dynamic names are kept as a cache once no connection uses them. */
#define PC_RT_DYNAMIC_MAX 4096

/*
 * The entry of <name> (an SNI or Host a DYNAMIC_DNS cluster admitted) in
 * <rt>, created when missing, with a reference the caller drops with
 * pc_runtime_name_put(). A new entry has not been asked about, so the
 * resolver takes it first (kick it). The table keeps the entry, with its
 * answer, after the last connection drops it, until that answer expires
 * (a TTL cache, for up to PC_RT_DYNAMIC_MAX names); the resolver's walk
 * (pc_runtime_next_due()) then frees it instead of asking again. NULL
 * without memory.
 */
struct pc_rt_name *pc_runtime_dynamic_get(struct pc_runtime *rt, const char *name);

/*
 * An address of <n> for a new connection, round robin on <rr>, with
 * <port>: true when there is one. False while it has no answer yet; tell
 * that apart from "resolved to nothing" with pc_runtime_name_asked().
 */
bool pc_runtime_name_pick(struct pc_rt_name *n, unsigned rr, uint16_t port, struct pc_addr *out);

#endif /* PC_POLICY_RUNTIME_H */
