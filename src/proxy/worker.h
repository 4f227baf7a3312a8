/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * proxy/worker.h - a proxy worker: one thread, one event loop, its own
 * SO_REUSEPORT listeners, its sessions and its reference to the policy.
 *
 * A session never leaves its worker, so session state needs no locks. The
 * control thread publishes a new snapshot by handing each worker a
 * reference through an atomic slot and waking its loop; the worker swaps
 * it in at its next iteration, or before it accepts a connection if that
 * comes first (pc_worker_publish()), and re-checks every
 * live session against it: sessions the new policy denies are revoked,
 * after cfg->revoke_grace_ms (pc_session_recheck_all()).
 */
#ifndef PC_PROXY_WORKER_H
#define PC_PROXY_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/log.h"
#include "core/loop.h"
#include "net/accept.h"
#include "proxy/accesslog.h"
#include "proxy/session.h"
#include "proxy/stats.h"

struct pc_buf;
struct pc_h1;
struct pc_session;
struct pc_snapshot;

/* Empty pipes kept per worker for reuse (HAProxy's pipe pool). */
#define PC_PIPE_POOL 64

/* Settings shared read-only by all workers. */
struct pc_proxy_config {
	int access_log_fd;               /* -1: none */
	enum pc_log_format access_format;
	uint64_t drain_ms;               /* SIGTERM: let sessions finish this long */
	uint64_t revoke_grace_ms;        /* a policy change denying a live session: close it after */
	int deny_response;               /* enum pc_deny_response (proxy/deny.h) */
	unsigned nworkers;               /* connection ids are unique across workers */
	bool stats;                      /* --stats on */
	uint64_t report_interval_ms;     /* --tcp-reporting-interval: bytes of open connections */
	uint64_t access_flush_ms;        /* --access-log-flush-interval (0: off) */
	bool access_on_open;             /* --access-log-on-open */
	uint64_t detect_ms;              /* --protocol-detection-timeout: the preread's bound */
	/* DYNAMIC_DNS: a name was asked for that nobody resolves yet (may be NULL) */
	void (*resolve_kick)(void *data);
	void *resolve_data;
};

struct pc_worker {
	unsigned index;
	pthread_t thread;
	struct pc_loop *loop;
	const struct pc_proxy_config *cfg;
	struct pc_io listeners[2]; /* IPv4, IPv6; fd -1 when absent */
	struct pc_accept_guard guard; /* out of fds at accept(): reset the backlog, pause */
	struct pc_snapshot *snap;  /* owned reference */
	_Atomic(struct pc_snapshot *) pending; /* published, not yet adopted */
	atomic_bool draining;
	atomic_bool stopping;
	struct pc_timer drain_timer;
	struct pc_timer final_timer;
	struct pc_timer report_timer; /* --tcp-reporting-interval */
	pthread_mutex_t lock;        /* linking in <sessions>, and readers of it (admin) */
	struct pc_session *sessions; /* connecting or relaying (doubly linked), shown to admin */
	struct pc_session *staging;  /* accepted, prereading or denying: not shown, not rechecked */
	uint64_t next_id;
	struct pc_stats stats;       /* written by this worker only */
	struct pc_ratelimit revoke_rl; /* the per-revocation info line */
	struct pc_ratelimit fd_rl;     /* "cannot open a socket or pipe" on the data path */
	int pipes[PC_PIPE_POOL][2];   /* empty pipes ready for reuse */
	size_t pipe_caps[PC_PIPE_POOL];
	unsigned npipes;
	uint8_t scratch[PC_PREREAD_MAX]; /* the preread's peeks land here (loop thread) */
	struct pc_h1 *h1scratch;         /* the preread's check of a request head (made once) */
};

/*
 * Set up <w> with the listening fds <fd4>/<fd6> (-1: none; taken) and a
 * reference to <snap> (taken). Returns 0 or -errno/-ENOMEM.
 */
int pc_worker_init(struct pc_worker *w, unsigned index, const struct pc_proxy_config *cfg,
		   int fd4, int fd6, struct pc_snapshot *snap);

/* Start the worker's thread. */
int pc_worker_start(struct pc_worker *w);

/* Any thread: hand <snap> (a reference, taken) to <w>. */
void pc_worker_publish(struct pc_worker *w, struct pc_snapshot *snap);

/*
 * Loop thread: adopt the snapshot published last, if one is pending, and
 * recheck the open sessions under it (pc_session_recheck_all()). The wake-up
 * does it; so does whatever decides a connection (accepting, classifying
 * after a preread), as a publish may not have been woken to yet in this
 * loop iteration. Sessions it closes are freed after the current batch.
 */
void pc_worker_adopt(struct pc_worker *w);

/* Any thread: stop accepting, finish sessions within the drain time, then exit. */
void pc_worker_drain(struct pc_worker *w);

/*
 * Join the thread and release everything but what other threads may still
 * read (the stats and the empty session list): pc_worker_release() frees
 * those once the admin server is stopped.
 */
void pc_worker_join(struct pc_worker *w);
void pc_worker_release(struct pc_worker *w);

/*
 * An empty pipe for splicing, from the pool or new (non-blocking,
 * close-on-exec, enlarged to 256 KiB when allowed); its capacity in <cap>.
 * Returns 0 or -errno. Loop thread only.
 */
int pc_worker_pipe_get(struct pc_worker *w, int fds[2], size_t *cap);

/* Give back an EMPTY pipe (kept for reuse, or closed when the pool is full). */
void pc_worker_pipe_put(struct pc_worker *w, int fds[2], size_t cap);

/*
 * Any thread (proxy/session.c): append the live sessions of <w> (those
 * connecting or relaying) to <out> as JSON objects of GET /connections
 * (doc/admin.md), each preceded by a comma unless <*first>, which is then
 * cleared. <now_ms> is CLOCK_MONOTONIC in ms.
 */
void pc_worker_connections_json(struct pc_worker *w, uint64_t now_ms, struct pc_buf *out,
				bool *first);

#endif /* PC_PROXY_WORKER_H */
