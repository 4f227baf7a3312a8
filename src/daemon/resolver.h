/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * daemon/resolver.h - the thread that resolves DNS ServiceEntries.
 *
 * One thread resolves every DNS name of the runtime table (policy/runtime.h)
 * by name, not by cluster or snapshot: a name shared by ten clusters is one
 * query, and the answers stay in the table when the policy changes. It asks
 * again when an answer's TTL runs out (clamped to 1 s..5 min); when the
 * server does not answer, fails or refuses, it keeps the last good answer
 * and asks again in 5 s, so a DNS outage changes nothing until it ends;
 * only NXDOMAIN or an empty answer empties a name's addresses.
 *
 * Only this thread resolves, with a glibc res_state it creates, uses and
 * frees itself (net/dns.h): no other thread ever touches its sockets. It
 * holds no lock while it waits for a DNS server, so nothing an apply, a
 * scrape or a worker waits on ever waits for DNS. Its timed waits are on
 * CLOCK_MONOTONIC (core/clock.h), so a clock step does not stall them.
 *
 * A name nobody has asked about yet is asked about first. The reply to
 * the change that brought it may wait a bounded time for that first
 * answer (pc_resolver_wait_first()), after the change is enforced and
 * holding no lock; nothing else waits for it.
 */
#ifndef PC_DAEMON_RESOLVER_H
#define PC_DAEMON_RESOLVER_H

#include <stdbool.h>
#include <stdint.h>

struct pc_resolver;
struct pc_runtime;
struct pc_snapshot;

/* How long a change's reply waits, at most, for the first answers of its new names. */
#define PC_RESOLVE_FIRST_MS 3000u

/*
 * Start the resolver thread for the names of <rt> (borrowed; it must
 * outlive the resolver), asking <server> ("IP" or "IP:port"; NULL: the
 * servers of /etc/resolv.conf). Returns 0, -EINVAL for a bad <server>,
 * -ENOMEM, or the error of pthread_create() as a negative errno.
 */
int pc_resolver_start(struct pc_runtime *rt, const char *server, struct pc_resolver **out);

/* New names may be in the table: look now. Any thread; never blocks on DNS. */
void pc_resolver_kick(struct pc_resolver *r);

/*
 * Wait until every DNS name that <snap> brings (one that <prev>, the
 * snapshot compiled before it, does not have; NULL: every name) has been
 * asked about at least once (answered or not), but for no name longer
 * than <timeout_ms> after it entered the runtime table
 * (pc_cluster_first_wait()): a name already waited for is not waited for
 * again. True when they all have been asked about; at once when <snap>
 * brings no new name. Call it after <snap> was published and holding no
 * lock that anything else waits on: it is the one place that can wait
 * for a DNS server. Any thread.
 */
bool pc_resolver_wait_first(struct pc_resolver *r, const struct pc_snapshot *snap,
			    const struct pc_snapshot *prev, uint64_t timeout_ms);

/*
 * Stop resolving: the thread ends after the query in flight, if any, and
 * pc_resolver_wait_first() returns at once, now and from now on, so a
 * shutdown never waits for DNS. <r> stays valid. Any thread.
 */
void pc_resolver_shutdown(struct pc_resolver *r);

/*
 * Stop the thread and free <r> (nothing may use it any more). Never waits for a DNS server: when a query
 * is in flight the thread is detached, finishes that query and frees <r>
 * itself, so <rt> must then outlive the process (pc_runtime_default()
 * does). NULL is a no-op.
 */
void pc_resolver_stop(struct pc_resolver *r);

#endif /* PC_DAEMON_RESOLVER_H */
