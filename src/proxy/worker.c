/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * proxy/worker.c - worker threads: accept, adopt published snapshots, drain.
 *
 * Publishing is lock-free: the control thread takes a reference for each
 * worker and exchanges it into the worker's <pending> slot, then wakes the
 * worker's loop; the worker exchanges the slot back to NULL from its own
 * thread and drops its old reference. Sessions pin the snapshot they were
 * classified under, so an old snapshot lives exactly as long as the last
 * connection that uses it.
 *
 * Adopting a snapshot re-checks the worker's sessions against it at once
 * (proxy/session.c revokes those it denies): a trie lookup per session, on
 * the worker's own thread, so no session state is shared.
 */
#include "proxy/worker.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net/addr.h"
#include "net/sock.h"
#include "policy/snapshot.h"

#define ACCEPT_BATCH 64
#define PIPE_SIZE    (256 * 1024)

/* Revocation info lines: at most this many per window per worker (the kernel's defaults). */
#define REVOKE_LOG_INTERVAL_MS 5000
#define REVOKE_LOG_BURST       10

/* "Cannot open a socket": at most this many lines per window per worker. */
#define FD_LOG_INTERVAL_MS 10000
#define FD_LOG_BURST       3

/*
 * Pipes are taken only while a flow has bytes in flight and given back
 * when it drains, so an idle connection holds two sockets and no pipe: it
 * costs no pipe pages (counted per user against fs.pipe-user-pages-soft,
 * past which the kernel hands out tiny pipes) and no extra descriptors.
 */
int pc_worker_pipe_get(struct pc_worker *w, int fds[2], size_t *cap)
{
	int size;

	if (w->npipes) {
		w->npipes--;
		fds[0] = w->pipes[w->npipes][0];
		fds[1] = w->pipes[w->npipes][1];
		*cap = w->pipe_caps[w->npipes];
		return 0;
	}
	if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) == -1)
		return -errno;
	fcntl(fds[0], F_SETPIPE_SZ, PIPE_SIZE); /* best effort: fewer, larger splices */
	size = fcntl(fds[0], F_GETPIPE_SZ);
	*cap = size > 0 ? (size_t)size : 65536;
	return 0;
}

void pc_worker_pipe_put(struct pc_worker *w, int fds[2], size_t cap)
{
	if (w->npipes < PC_PIPE_POOL) {
		w->pipes[w->npipes][0] = fds[0];
		w->pipes[w->npipes][1] = fds[1];
		w->pipe_caps[w->npipes] = cap;
		w->npipes++;
	} else {
		close(fds[0]);
		close(fds[1]);
	}
	fds[0] = fds[1] = -1;
}

void pc_worker_adopt(struct pc_worker *w)
{
	struct pc_snapshot *snap;

	if (!atomic_load_explicit(&w->pending, memory_order_relaxed))
		return; /* the usual case: a load, not a read-modify-write */
	snap = atomic_exchange(&w->pending, NULL);
	if (!snap)
		return;
	pc_snapshot_unref(w->snap);
	w->snap = snap;
	pc_session_recheck_all(w);
}

static void on_accept(struct pc_loop *loop, struct pc_io *io, uint32_t events)
{
	struct pc_worker *w = io->data;
	struct pc_addr client;
	int i, fd;

	(void)loop;
	(void)events;
	/*
	 * A policy published before this connection was made must decide it,
	 * even when the wake-up comes later in this loop iteration: the API
	 * answers an apply once the snapshot is published, and the client's
	 * next connection must see it.
	 */
	pc_worker_adopt(w);
	for (i = 0; i < ACCEPT_BATCH; i++) {
		fd = pc_accept_guard_accept(&w->guard, io, &client);
		if (fd == -EAGAIN)
			return; /* the backlog is empty, or the listeners pause (net/accept.h) */
		if (fd < 0)
			continue; /* that connection is gone (ECONNABORTED, ...): the next one */
		pc_addr_unmap(&client);
		pc_session_accept(w, fd, &client);
	}
}


static void stop_listening(struct pc_worker *w)
{
	int i;

	pc_accept_guard_stop(&w->guard); /* a pause must not watch closed listeners again */
	for (i = 0; i < 2; i++) {
		if (w->listeners[i].fd >= 0)
			pc_io_close(w->loop, &w->listeners[i]);
		w->listeners[i].fd = -1;
	}
}

static void on_drain_deadline(struct pc_loop *loop, struct pc_timer *t)
{
	struct pc_worker *w = t->data;

	pc_session_close_all(w);
	pc_loop_stop(loop);
}

/* --tcp-reporting-interval: bytes of open connections reach the counters. */
static void on_report(struct pc_loop *loop, struct pc_timer *t)
{
	struct pc_worker *w = t->data;

	pc_session_report_all(w);
	pc_timer_start(loop, t, w->cfg->report_interval_ms);
}

static void on_wake(struct pc_loop *loop, void *data)
{
	struct pc_worker *w = data;

	pc_worker_adopt(w);
	if (atomic_load(&w->draining) && w->listeners[0].fd + w->listeners[1].fd != -2) {
		stop_listening(w);
		pc_timer_init(&w->drain_timer, on_drain_deadline, w);
		pc_timer_start(loop, &w->drain_timer, w->cfg->drain_ms);
	}
	if (atomic_load(&w->draining) && !w->sessions)
		pc_loop_stop(loop);
}

int pc_worker_init(struct pc_worker *w, unsigned index, const struct pc_proxy_config *cfg,
		   int fd4, int fd6, struct pc_snapshot *snap)
{
	int ret = 0;

	memset(w, 0, sizeof(*w));
	w->index = index;
	w->cfg = cfg;
	w->snap = snap;
	atomic_init(&w->pending, NULL);
	atomic_init(&w->draining, false);
	atomic_init(&w->stopping, false);
	pc_stats_init(&w->stats);
	pthread_mutex_init(&w->lock, NULL);
	pc_timer_init(&w->report_timer, on_report, w);
	pc_ratelimit_init(&w->revoke_rl, REVOKE_LOG_INTERVAL_MS, REVOKE_LOG_BURST);
	pc_ratelimit_init(&w->fd_rl, FD_LOG_INTERVAL_MS, FD_LOG_BURST);
	w->guard.reserve = -1;
	w->loop = pc_loop_new();
	if (!w->loop)
		return -ENOMEM;
	pc_loop_set_wake(w->loop, on_wake, w);
	pc_io_init(&w->listeners[0], fd4, on_accept, w);
	pc_io_init(&w->listeners[1], fd6, on_accept, w);
	ret = pc_accept_guard_init(&w->guard, w->loop, w->listeners, 2, "proxy", index,
				   w->stats.accept_errors);
	if (ret < 0) /* it still pauses: only the resets of the backlog are lost */
		pc_log(PC_LOG_WARN, "no reserve descriptor: out of descriptors, clients will wait",
		       "worker=%u err=%s", index, strerror(-ret));
	ret = 0;
	if (fd4 >= 0)
		ret = pc_io_start(w->loop, &w->listeners[0], PC_IO_READ);
	if (ret == 0 && fd6 >= 0)
		ret = pc_io_start(w->loop, &w->listeners[1], PC_IO_READ);
	if (ret == 0 && cfg->stats && cfg->report_interval_ms)
		ret = pc_timer_start(w->loop, &w->report_timer, cfg->report_interval_ms);
	return ret;
}

static void on_final(struct pc_loop *loop, struct pc_timer *t)
{
	(void)t;
	pc_loop_stop(loop);
}

/*
 * While draining, the loop exits as soon as the last session is gone (or
 * at the drain deadline). Whatever is still open is then closed on this
 * thread, and one more iteration runs the deferred frees.
 */
static void *worker_main(void *arg)
{
	struct pc_worker *w = arg;

	pc_loop_run(w->loop);
	stop_listening(w);
	pc_session_close_all(w);
	pc_timer_stop(w->loop, &w->report_timer);
	pc_timer_init(&w->final_timer, on_final, w);
	pc_timer_start(w->loop, &w->final_timer, 0);
	pc_loop_run(w->loop);
	return NULL;
}

int pc_worker_start(struct pc_worker *w)
{
	int ret = pthread_create(&w->thread, NULL, worker_main, w);

	return ret ? -ret : 0;
}

void pc_worker_publish(struct pc_worker *w, struct pc_snapshot *snap)
{
	pc_snapshot_unref(atomic_exchange(&w->pending, snap));
	pc_loop_wake(w->loop);
}

void pc_worker_drain(struct pc_worker *w)
{
	atomic_store(&w->draining, true);
	pc_loop_wake(w->loop);
}

void pc_worker_join(struct pc_worker *w)
{
	pthread_join(w->thread, NULL);
	while (w->npipes) {
		w->npipes--;
		close(w->pipes[w->npipes][0]);
		close(w->pipes[w->npipes][1]);
	}
	pc_snapshot_unref(atomic_exchange(&w->pending, NULL));
	pc_snapshot_unref(w->snap);
	w->snap = NULL;
	pc_accept_guard_release(&w->guard);
	pc_loop_free(w->loop);
	w->loop = NULL;
}

void pc_worker_release(struct pc_worker *w)
{
	free(w->h1scratch);
	pc_stats_release(&w->stats);
	pthread_mutex_destroy(&w->lock);
}
