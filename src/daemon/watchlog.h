/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * daemon/watchlog.h - the log of recent changes that watchers read.
 *
 * A ring of the last <cap> changes, each a revision, the object's key and
 * its watch line (doc/api.md, GET /v1/watch). Watchers wait on it for
 * changes after the revision they have seen; one that is further behind
 * than the ring reaches (at or below the "floor") is told to start over
 * with a 410 Status, as Kubernetes does, instead of silently missing
 * changes.
 *
 * A change of many objects is many appends at one revision. Watchers see
 * none of them until pc_watchlog_commit() says the revision is complete:
 * a watcher that collected half a revision would take it as seen and
 * never get the other half. The log's revision (where a watch without
 * `since` starts) is the last one committed or expired, and never moves
 * backwards.
 *
 * Threads: every function is thread-safe; the log has its own mutex and
 * condition variable, so a watcher never waits behind a compile. Timed
 * waits run on CLOCK_MONOTONIC (core/clock.h): a step of the wall clock
 * neither stretches nor cuts a watch's keep-alive.
 */
#ifndef PC_DAEMON_WATCHLOG_H
#define PC_DAEMON_WATCHLOG_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "model/resource.h"

struct pc_watchlog;

/* How many changes the daemon's watch log keeps. */
#define PC_WATCH_LOG 4096

/* What a watch selects; NULL fields select every value. */
struct pc_watch_filter {
	int kind; /* enum pc_kind, or -1 */
	const char *ns;
	const char *name;
};

/*
 * A log holding up to <cap> (> 0) changes, at revision <rev> (the floor
 * too: nothing older can be read). NULL when out of memory.
 */
struct pc_watchlog *pc_watchlog_new(size_t cap, int64_t rev);

/* Free <wl>; no watcher may be waiting. NULL is a no-op. */
void pc_watchlog_free(struct pc_watchlog *wl);

/*
 * Log the change at revision <rev> (not below the last one appended) of
 * the object (<kind>, <ns>, <name>); takes <line>, a "\n"-terminated JSON
 * line. Watchers see it once pc_watchlog_commit() covers <rev>. A NULL
 * <line> (or no memory for the key) logs nothing but raises the floor to
 * <rev>, so watchers behind it start over rather than miss it.
 */
void pc_watchlog_append(struct pc_watchlog *wl, int64_t rev, enum pc_kind kind, const char *ns,
			const char *name, char *line);

/*
 * Every change appended at or below <rev> is complete: show them to
 * watchers, raise the log's revision to <rev> (if it is behind) and wake
 * every waiter. Changes appended above <rev> stay hidden. <rev> may be
 * past the last change appended (revisions that changed nothing here).
 */
void pc_watchlog_commit(struct pc_watchlog *wl, int64_t rev);

/*
 * Forget every change logged, committed or not, and set the floor (and
 * the revision, if it is behind) to <rev>: every watcher below it must
 * start over (for a feed bigger than the ring, or a registry listed
 * again), and is woken to be told so.
 */
void pc_watchlog_expire(struct pc_watchlog *wl, int64_t rev);

/*
 * The log's revision: the last committed or expired, never going
 * backwards (where a watch without `since` starts).
 */
int64_t pc_watchlog_revision(struct pc_watchlog *wl);

/*
 * Append to <out> the lines of the committed changes after revision
 * <*since> that <f> selects and advance <*since> to the log's revision. When
 * there is none, wait up to <timeout_ms> (monotonic) for one. Returns 1
 * when lines were added, 0 on timeout (<*since> may still advance past
 * changes <f> skips), -ERANGE when <*since> is below the floor (one ERROR
 * line with a 410 Status is added, <*since> unchanged) and -ESHUTDOWN
 * once pc_watchlog_shutdown() was called.
 */
int pc_watchlog_wait(struct pc_watchlog *wl, const struct pc_watch_filter *f, int64_t *since,
		     struct pc_buf *out, unsigned timeout_ms);

/* Wake every waiter with -ESHUTDOWN, now and from now on. */
void pc_watchlog_shutdown(struct pc_watchlog *wl);

#endif /* PC_DAEMON_WATCHLOG_H */
