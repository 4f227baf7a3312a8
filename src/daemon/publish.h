/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * daemon/publish.h - the one owner of "the current snapshot".
 *
 * The control plane compiles a snapshot and hands it here; the publisher
 * makes it current and hands a reference to every worker that has been
 * attached (proxy/worker.h: an atomic slot and a wake per worker), and the
 * admin endpoint reads the current one from here. Nothing else keeps a
 * "current" snapshot. doc/internals/publish.md tells the whole path.
 *
 * Publishing never waits for DNS: answers live in the runtime table,
 * shared by every generation, and a snapshot that brings a name nobody
 * has asked about yet serves at once (that name's clusters answer UH
 * until its first answer). The wait for first answers, if any, is the
 * caller's, after it published (pc_resolver_wait_first()): an apply's
 * reply may wait, the enforcement of a change never does.
 *
 * Threads: any thread may publish, and several may at once: the swap and
 * the fan-out are serialised by one mutex, and a snapshot older than the
 * current one (a lower generation) is dropped instead of replacing it.
 * The mutex is held only to swap pointers and fill the workers' slots.
 */
#ifndef PC_DAEMON_PUBLISH_H
#define PC_DAEMON_PUBLISH_H

struct pc_publisher;
struct pc_snapshot;
struct pc_worker;

/* A publisher with no snapshot yet, or NULL when out of memory. */
struct pc_publisher *pc_publisher_new(void);

/* Free <p> and its reference to the current snapshot; nothing may publish. NULL is a no-op. */
void pc_publisher_free(struct pc_publisher *p);

/*
 * Make <snap> (a reference, taken) current and hand it to every attached
 * worker, unless the current one is at least as new (it is then dropped).
 * Never waits for DNS or I/O: one mutex, held to swap pointers. Any thread.
 */
void pc_publisher_publish(struct pc_publisher *p, struct pc_snapshot *snap);

/* A reference to the current snapshot, or NULL before the first. Any thread. */
struct pc_snapshot *pc_publisher_current(struct pc_publisher *p);

/*
 * Attach worker <w>: <init> is called with a reference to the current
 * snapshot (taken by <init>, NULL before the first), under the lock, so
 * that no snapshot published meanwhile is missed; when it returns 0, <w>
 * gets every later snapshot through pc_worker_publish(). Returns what
 * <init> returned, or -ENOMEM.
 */
typedef int pc_attach_fn(void *data, struct pc_worker *w, struct pc_snapshot *snap);
int pc_publisher_attach(struct pc_publisher *p, struct pc_worker *w, pc_attach_fn *init,
			void *data);

#endif /* PC_DAEMON_PUBLISH_H */
