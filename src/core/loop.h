/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * core/loop.h - the event loop: epoll readiness, timers, deferred work.
 *
 * One loop per thread (a proxy worker, or the control thread). Only this
 * module calls epoll_*. Readiness is level-triggered with explicit
 * pc_io_start()/pc_io_stop() of interest (redis ae, libuv). Time is a
 * monotonic clock in milliseconds cached once per iteration
 * (pc_loop_now()); timers live in a min-heap embedded in their owners, so
 * arming one never allocates after the heap has grown. Deferred callbacks
 * run after the current batch of events, which is where sessions are
 * freed so later events of the same batch never touch freed memory.
 *
 * Nothing here blocks except epoll_wait itself. All fds given to the loop
 * must be non-blocking and O_CLOEXEC; the loop does not own them unless
 * pc_io_close() is used.
 */
#ifndef PC_CORE_LOOP_H
#define PC_CORE_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pc_loop;
struct pc_io;
struct pc_timer;
struct pc_defer;

#define PC_IO_READ  0x1u /* EPOLLIN (also reported on EPOLLRDHUP) */
#define PC_IO_WRITE 0x2u /* EPOLLOUT */
#define PC_IO_ERR   0x4u /* EPOLLERR or EPOLLHUP: reported whatever the interest */

/* <events> is a mask of PC_IO_*. */
typedef void pc_io_fn(struct pc_loop *loop, struct pc_io *io, uint32_t events);
typedef void pc_timer_fn(struct pc_loop *loop, struct pc_timer *timer);
typedef void pc_defer_fn(struct pc_loop *loop, struct pc_defer *defer);

struct pc_io {
	int fd;
	uint32_t want; /* PC_IO_READ|PC_IO_WRITE currently registered */
	bool added;    /* known to epoll */
	pc_io_fn *cb;
	void *data;
};

struct pc_timer {
	uint64_t due; /* loop time (ms) */
	size_t slot;  /* index in the heap, SIZE_MAX when not armed */
	uint64_t seq; /* insertion order: equal due times fire FIFO */
	pc_timer_fn *cb;
	void *data;
};

struct pc_defer {
	struct pc_defer *next;
	bool queued;
	pc_defer_fn *cb;
	void *data;
};

/* A new loop (epoll fd, eventfd for wake-ups). NULL when out of memory or fds. */
struct pc_loop *pc_loop_new(void);

/*
 * Free <loop>; registered fds are not closed. Armed timers and queued
 * defers are left disarmed/unqueued, without running. NULL is a no-op.
 */
void pc_loop_free(struct pc_loop *loop);

/*
 * Run until pc_loop_stop(). Each iteration: refresh now, wait for events
 * (no longer than the nearest timer; not at all if work is deferred),
 * dispatch them, run expired timers, then run deferred callbacks until the
 * queue is empty (including those queued meanwhile), so no deferred work is
 * left when this returns. A timer armed from inside the timer phase fires
 * in a later iteration, even with a zero delay. Returns 0, or a negative
 * errno if epoll_wait fails with anything but EINTR. Not reentrant.
 */
int pc_loop_run(struct pc_loop *loop);

/*
 * Make pc_loop_run() return after the current iteration (its timers and
 * deferred callbacks still run). Called while the loop is not running, it
 * makes the next pc_loop_run() return at once, once it has run the
 * deferred callbacks already queued (no deferred work is ever left behind
 * by pc_loop_run()). Loop thread only; another
 * thread stops a loop by calling pc_loop_stop() from its wake callback.
 */
void pc_loop_stop(struct pc_loop *loop);

/* Cached monotonic time in milliseconds (refreshed every iteration). */
uint64_t pc_loop_now(const struct pc_loop *loop);

/* Refresh the cached time now (e.g. after long work inside a callback). */
void pc_loop_update_time(struct pc_loop *loop);

void pc_io_init(struct pc_io *io, int fd, pc_io_fn *cb, void *data);

/* Add <events> (PC_IO_READ/WRITE) to the interest of <io>. Returns 0 or -errno. */
int pc_io_start(struct pc_loop *loop, struct pc_io *io, uint32_t events);

/*
 * Remove <events> from the interest of <io>. Returns 0 or -errno. Removing
 * the last interest takes the fd out of epoll (io->added becomes false) and
 * drops any events already fetched for <io>, so its owner may free it at
 * once. Events still pending for interest that remains are delivered
 * masked to what is still wanted.
 */
int pc_io_stop(struct pc_loop *loop, struct pc_io *io, uint32_t events);

/*
 * Set the interest of <io> to exactly <events> (PC_IO_READ/WRITE, or 0),
 * with one epoll_ctl() at most. Returns 0 or -errno. Setting 0 behaves as
 * pc_io_stop() of everything.
 */
int pc_io_set(struct pc_loop *loop, struct pc_io *io, uint32_t events);

/*
 * Forget <io> (remove it from epoll) and close its fd; events already
 * fetched for it in this iteration are dropped, so <io> may be freed as
 * soon as this returns, even from inside a callback. Sets io->fd to -1.
 */
void pc_io_close(struct pc_loop *loop, struct pc_io *io);

void pc_timer_init(struct pc_timer *timer, pc_timer_fn *cb, void *data);

/*
 * (Re)arm <timer> to fire <after_ms> after pc_loop_now(). Timers due at the
 * same time fire in the order they were (re)armed. Returns 0, or -ENOMEM
 * when the heap must grow and cannot; re-arming an armed timer never fails.
 * The timer is disarmed before its callback runs.
 */
int pc_timer_start(struct pc_loop *loop, struct pc_timer *timer, uint64_t after_ms);

/* Disarm <timer>; harmless when not armed. O(log n). */
void pc_timer_stop(struct pc_loop *loop, struct pc_timer *timer);

bool pc_timer_is_active(const struct pc_timer *timer);

void pc_defer_init(struct pc_defer *defer, pc_defer_fn *cb, void *data);

/*
 * Queue <defer> to run after the current batch; queuing twice is a no-op.
 * It is unqueued before its callback runs, which may free it or queue it
 * again; it then runs again in the same drain, so a defer that always
 * re-queues itself starves the loop (yield with a zero-delay timer).
 */
void pc_loop_defer(struct pc_loop *loop, struct pc_defer *defer);

/*
 * Cross-thread wake-up: any thread may call pc_loop_wake(); the loop then
 * calls <cb>(loop, data) once from its own thread (several wakes before it
 * runs coalesce). Set the callback before running the loop.
 */
typedef void pc_wake_fn(struct pc_loop *loop, void *data);
void pc_loop_set_wake(struct pc_loop *loop, pc_wake_fn *cb, void *data);

/*
 * Thread-safe and async-signal-safe. Whatever the calling thread stored
 * before this call is visible to the wake callback that covers it. The
 * loop must outlive every thread that may still call this.
 * Returns 0, or a negative errno from write(2) (only on a broken loop).
 */
int pc_loop_wake(struct pc_loop *loop);

#endif /* PC_CORE_LOOP_H */
