/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests for core/loop.c. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/loop.h"

/* A connected, non-blocking, close-on-exec socket pair. */
static void make_pair(int sv[2])
{
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
}

static void put_byte(int fd)
{
	ck_assert_int_eq(write(fd, "x", 1), 1);
}

static void on_stop_timer(struct pc_loop *loop, struct pc_timer *t)
{
	(void)t;
	pc_loop_stop(loop);
}

/* Arm <t> to stop the loop after <ms>: a deadline for tests that count. */
static void stop_after(struct pc_loop *loop, struct pc_timer *t, uint64_t ms)
{
	pc_timer_init(t, on_stop_timer, NULL);
	ck_assert_int_eq(pc_timer_start(loop, t, ms), 0);
}

/* ---- readiness ------------------------------------------------------------ */

struct io_rec {
	int calls;
	uint32_t events;
	int stop_after; /* pc_io_stop(READ) after this many calls, 0: stop loop */
};

static void on_read(struct pc_loop *loop, struct pc_io *io, uint32_t events)
{
	struct io_rec *r = io->data;

	r->calls++;
	r->events |= events;
	if (r->stop_after == 0)
		pc_loop_stop(loop);
	else if (r->calls == r->stop_after)
		ck_assert_int_eq(pc_io_stop(loop, io, PC_IO_READ), 0);
}

START_TEST(io_readable)
{
	struct pc_loop *loop = pc_loop_new();
	struct io_rec r = { 0 };
	struct pc_io io;
	char c;
	int sv[2];

	ck_assert_ptr_nonnull(loop);
	make_pair(sv);
	pc_io_init(&io, sv[0], on_read, &r);
	ck_assert_int_eq(pc_io_start(loop, &io, PC_IO_READ), 0);
	ck_assert(io.added);
	ck_assert_uint_eq(io.want, PC_IO_READ);
	put_byte(sv[1]);
	ck_assert_int_eq(pc_loop_run(loop), 0);
	ck_assert_int_eq(r.calls, 1);
	ck_assert_uint_eq(r.events, PC_IO_READ);
	ck_assert_int_eq(read(sv[0], &c, 1), 1);

	pc_io_close(loop, &io);
	ck_assert_int_eq(io.fd, -1);
	ck_assert(!io.added);
	close(sv[1]);
	pc_loop_free(loop);
}
END_TEST

/* Level-triggered: unread data is reported every iteration until stopped. */
START_TEST(io_level_triggered_until_stopped)
{
	struct pc_loop *loop = pc_loop_new();
	struct io_rec r = { .stop_after = 3 };
	struct pc_timer deadline;
	struct pc_io io;
	int sv[2];

	make_pair(sv);
	pc_io_init(&io, sv[0], on_read, &r);
	ck_assert_int_eq(pc_io_start(loop, &io, PC_IO_READ), 0);
	put_byte(sv[1]);
	stop_after(loop, &deadline, 30);
	ck_assert_int_eq(pc_loop_run(loop), 0);
	ck_assert_int_eq(r.calls, 3);
	ck_assert(!io.added);
	ck_assert_uint_eq(io.want, 0);

	/* stopping what is not wanted, or starting what is, changes nothing */
	ck_assert_int_eq(pc_io_stop(loop, &io, PC_IO_WRITE), 0);
	ck_assert_int_eq(pc_io_start(loop, &io, PC_IO_READ), 0);
	ck_assert_int_eq(pc_io_start(loop, &io, PC_IO_READ), 0);
	ck_assert(io.added);
	pc_io_close(loop, &io);
	close(sv[1]);
	pc_loop_free(loop);
}
END_TEST

static void on_write_once(struct pc_loop *loop, struct pc_io *io, uint32_t events)
{
	struct io_rec *r = io->data;

	r->calls++;
	r->events |= events;
	/* keep READ interest, drop WRITE: the io stays registered */
	ck_assert_int_eq(pc_io_stop(loop, io, PC_IO_WRITE), 0);
	ck_assert(io->added);
	ck_assert_uint_eq(io->want, PC_IO_READ);
}

START_TEST(io_interest_start_stop)
{
	struct pc_loop *loop = pc_loop_new();
	struct io_rec r = { 0 };
	struct pc_timer deadline;
	struct pc_io io;
	int sv[2];

	make_pair(sv);
	pc_io_init(&io, sv[0], on_write_once, &r);
	ck_assert_int_eq(pc_io_start(loop, &io, PC_IO_READ | PC_IO_WRITE), 0);
	stop_after(loop, &deadline, 20);
	ck_assert_int_eq(pc_loop_run(loop), 0);
	/* writable once, then nothing: READ never became ready */
	ck_assert_int_eq(r.calls, 1);
	ck_assert_uint_eq(r.events, PC_IO_WRITE);

	ck_assert_int_eq(pc_io_stop(loop, &io, PC_IO_READ | PC_IO_WRITE), 0);
	ck_assert(!io.added);
	pc_io_close(loop, &io);
	close(sv[1]);
	pc_loop_free(loop);
}
END_TEST

START_TEST(io_peer_close_reports_read)
{
	struct pc_loop *loop = pc_loop_new();
	struct io_rec r = { 0 };
	struct pc_io io;
	int sv[2];

	make_pair(sv);
	pc_io_init(&io, sv[0], on_read, &r);
	ck_assert_int_eq(pc_io_start(loop, &io, PC_IO_READ), 0);
	close(sv[1]);
	ck_assert_int_eq(pc_loop_run(loop), 0);
	ck_assert_int_eq(r.calls, 1);
	ck_assert(r.events & PC_IO_READ);
	pc_io_close(loop, &io);
	pc_loop_free(loop);
}
END_TEST

START_TEST(io_start_bad_fd)
{
	struct pc_loop *loop = pc_loop_new();
	struct pc_io io;

	pc_io_init(&io, -1, on_read, NULL);
	ck_assert_int_eq(pc_io_start(loop, &io, PC_IO_READ), -EBADF);
	ck_assert(!io.added);
	ck_assert_uint_eq(io.want, 0);
	pc_loop_free(loop);
}
END_TEST

/* ---- pc_io_close() during a batch ------------------------------------------ */

struct pair_ctx {
	struct pc_io *io[2];
	int sv[2][2];
	int calls;
	int stop_only; /* 1: pc_io_stop() everything instead of closing */
};

static void on_close_other(struct pc_loop *loop, struct pc_io *io, uint32_t events)
{
	struct pair_ctx *c = io->data;
	int me = io == c->io[0] ? 0 : 1, other = !me;

	(void)events;
	c->calls++;
	ck_assert_ptr_nonnull(c->io[me]);
	if (c->stop_only) {
		ck_assert_int_eq(pc_io_stop(loop, c->io[other], PC_IO_READ), 0);
		close(c->io[other]->fd);
	} else {
		pc_io_close(loop, c->io[other]);
	}
	/* freed right away: ASan reports any later dispatch to it */
	free(c->io[other]);
	c->io[other] = NULL;
	pc_io_close(loop, io);
	free(io);
	c->io[me] = NULL;
	pc_loop_stop(loop);
}

static void close_during_batch(int stop_only)
{
	struct pc_loop *loop = pc_loop_new();
	struct pair_ctx c = { .stop_only = stop_only };
	int i;

	for (i = 0; i < 2; i++) {
		make_pair(c.sv[i]);
		c.io[i] = malloc(sizeof(*c.io[i]));
		pc_io_init(c.io[i], c.sv[i][0], on_close_other, &c);
		ck_assert_int_eq(pc_io_start(loop, c.io[i], PC_IO_READ), 0);
		put_byte(c.sv[i][1]);
	}
	/* both are ready before the first epoll_wait: one batch holds both */
	ck_assert_int_eq(pc_loop_run(loop), 0);
	ck_assert_int_eq(c.calls, 1);
	ck_assert_ptr_null(c.io[0]);
	ck_assert_ptr_null(c.io[1]);
	close(c.sv[0][1]);
	close(c.sv[1][1]);
	pc_loop_free(loop);
}

START_TEST(io_close_skips_pending_events)
{
	close_during_batch(0);
}
END_TEST

START_TEST(io_stop_all_skips_pending_events)
{
	close_during_batch(1);
}
END_TEST

/* ---- timers ----------------------------------------------------------------- */

struct order_rec {
	int seen[16];
	int n;
	int last; /* id whose firing stops the loop */
};

struct id_timer {
	struct pc_timer t;
	struct order_rec *rec;
	int id;
};

static void on_order(struct pc_loop *loop, struct pc_timer *t)
{
	struct id_timer *it = t->data;

	ck_assert(!pc_timer_is_active(t));
	it->rec->seen[it->rec->n++] = it->id;
	if (it->id == it->rec->last)
		pc_loop_stop(loop);
}

START_TEST(timers_fire_in_order_fifo_on_ties)
{
	static const uint64_t after[] = { 30, 10, 20, 10, 0, 10, 0 };
	static const int want[] = { 4, 6, 1, 3, 5, 2, 0 };
	struct pc_loop *loop = pc_loop_new();
	struct order_rec rec = { .last = 0 };
	struct id_timer t[7];
	uint64_t start;
	int i;

	pc_loop_update_time(loop);
	start = pc_loop_now(loop);
	for (i = 0; i < 7; i++) {
		t[i].rec = &rec;
		t[i].id = i;
		pc_timer_init(&t[i].t, on_order, &t[i]);
		ck_assert(!pc_timer_is_active(&t[i].t));
		ck_assert_int_eq(pc_timer_start(loop, &t[i].t, after[i]), 0);
		ck_assert(pc_timer_is_active(&t[i].t));
	}
	ck_assert_int_eq(pc_loop_run(loop), 0);
	ck_assert_int_eq(rec.n, 7);
	for (i = 0; i < 7; i++)
		ck_assert_int_eq(rec.seen[i], want[i]);
	ck_assert_uint_ge(pc_loop_now(loop), start + 30);
	pc_loop_free(loop);
}
END_TEST

START_TEST(timer_stop_and_restart_before_run)
{
	struct pc_loop *loop = pc_loop_new();
	struct order_rec rec = { .last = 1 };
	struct id_timer a = { .rec = &rec, .id = 0 }, b = { .rec = &rec, .id = 1 };

	pc_timer_init(&a.t, on_order, &a);
	pc_timer_init(&b.t, on_order, &b);
	ck_assert_int_eq(pc_timer_start(loop, &a.t, 0), 0);
	ck_assert_int_eq(pc_timer_start(loop, &b.t, 5), 0);
	pc_timer_stop(loop, &a.t);
	pc_timer_stop(loop, &a.t); /* harmless twice */
	ck_assert(!pc_timer_is_active(&a.t));
	/* re-arming an armed timer moves it: b now fires after a */
	ck_assert_int_eq(pc_timer_start(loop, &a.t, 1), 0);
	ck_assert_int_eq(pc_timer_start(loop, &b.t, 2), 0);
	ck_assert_int_eq(pc_loop_run(loop), 0);
	ck_assert_int_eq(rec.n, 2);
	ck_assert_int_eq(rec.seen[0], 0);
	ck_assert_int_eq(rec.seen[1], 1);
	pc_loop_free(loop);
}
END_TEST

struct rearm_ctx {
	struct pc_timer self;
	struct pc_timer victim;
	struct pc_defer defer;
	int fired;
	int defers;
	int victim_fired;
};

static void on_victim(struct pc_loop *loop, struct pc_timer *t)
{
	struct rearm_ctx *c = t->data;

	(void)loop;
	c->victim_fired++;
}

static void on_rearm_defer(struct pc_loop *loop, struct pc_defer *d)
{
	struct rearm_ctx *c = d->data;

	(void)loop;
	c->defers++;
}

/*
 * Re-arms itself with a zero delay 100 times. Each firing must come from a
 * new iteration (the defer queued by the previous firing has run), so a
 * zero-delay timer cannot monopolise the timer phase.
 */
static void on_rearm(struct pc_loop *loop, struct pc_timer *t)
{
	struct rearm_ctx *c = t->data;

	ck_assert_int_eq(c->defers, c->fired);
	c->fired++;
	if (c->fired == 1)
		pc_timer_stop(loop, &c->victim);
	if (c->fired == 100) {
		pc_loop_stop(loop);
		return;
	}
	ck_assert_int_eq(pc_timer_start(loop, t, 0), 0);
	ck_assert(pc_timer_is_active(t));
	pc_loop_defer(loop, &c->defer);
}

START_TEST(timer_rearm_and_stop_inside_callbacks)
{
	struct pc_loop *loop = pc_loop_new();
	struct rearm_ctx c = { 0 };

	pc_timer_init(&c.self, on_rearm, &c);
	pc_timer_init(&c.victim, on_victim, &c);
	pc_defer_init(&c.defer, on_rearm_defer, &c);
	ck_assert_int_eq(pc_timer_start(loop, &c.self, 0), 0);
	ck_assert_int_eq(pc_timer_start(loop, &c.victim, 5), 0);
	ck_assert_int_eq(pc_loop_run(loop), 0);
	ck_assert_int_eq(c.fired, 100);
	ck_assert_int_eq(c.victim_fired, 0);
	ck_assert(!pc_timer_is_active(&c.victim));
	pc_loop_free(loop);
}
END_TEST

/*
 * 10,000 timers under random start/stop/re-arm, before and during the run,
 * checked against a reference: every firing must be the smallest (due,
 * arming order) of the timers the reference still holds armed.
 */
#define RT_N 10000

struct rt_ref {
	struct pc_timer t;
	uint64_t due;
	uint64_t order;
	bool armed;
};

static struct rt_ref *rt;
static uint64_t rt_order;
static unsigned rt_seed = 12345;
static int rt_fired, rt_armed;
static int rt_errors; /* counted, then asserted once: Check logs every ck_assert call */

static unsigned rt_rand(void)
{
	rt_seed = rt_seed * 1103515245u + 12345u;
	return (rt_seed >> 16) & 0x7fff;
}

static void rt_start(struct pc_loop *loop, struct rt_ref *r, uint64_t after)
{
	rt_errors += pc_timer_start(loop, &r->t, after) != 0;
	rt_armed += !r->armed;
	r->armed = true;
	r->due = pc_loop_now(loop) + after;
	r->order = rt_order++;
}

static void rt_stop(struct pc_loop *loop, struct rt_ref *r)
{
	pc_timer_stop(loop, &r->t);
	rt_armed -= r->armed;
	r->armed = false;
}

static void rt_mutate(struct pc_loop *loop)
{
	struct rt_ref *r = &rt[rt_rand() % RT_N];

	if (rt_rand() % 3 == 0)
		rt_stop(loop, r);
	else
		rt_start(loop, r, rt_rand() % 40);
	rt_errors += pc_timer_is_active(&r->t) != r->armed;
}

static void on_rt(struct pc_loop *loop, struct pc_timer *t)
{
	struct rt_ref *r = t->data, *min = NULL;
	int i;

	rt_errors += !r->armed || r->due > pc_loop_now(loop);
	/* a linear scan is fine: it only runs for a sample of firings */
	if (rt_fired % 97 == 0) {
		for (i = 0; i < RT_N; i++) {
			struct rt_ref *x = &rt[i];

			if (x->armed && (!min || x->due < min->due ||
					 (x->due == min->due && x->order < min->order)))
				min = x;
		}
		ck_assert_ptr_eq(min, r);
	}
	r->armed = false;
	rt_armed--;
	rt_fired++;
	if (rt_fired % 5 == 0)
		rt_mutate(loop);
	if (rt_armed == 0)
		pc_loop_stop(loop);
}

/*
 * Between samples, every firing is checked against the previous one: a
 * timer is never armed before "now", which is at least the due time of
 * anything that fired, so the whole sequence is increasing in (due, order).
 */
static uint64_t rt_prev_due, rt_prev_order;

static void on_rt_pairwise(struct pc_loop *loop, struct pc_timer *t)
{
	struct rt_ref *r = t->data;

	if (rt_fired > 0)
		rt_errors += !(rt_prev_due < r->due ||
			       (rt_prev_due == r->due && rt_prev_order < r->order));
	rt_prev_due = r->due;
	rt_prev_order = r->order;
	on_rt(loop, t);
}

START_TEST(timers_random_against_reference)
{
	struct pc_loop *loop = pc_loop_new();
	int i;

	rt = calloc(RT_N, sizeof(*rt));
	for (i = 0; i < RT_N; i++)
		pc_timer_init(&rt[i].t, on_rt_pairwise, &rt[i]);
	for (i = 0; i < RT_N; i++)
		rt_start(loop, &rt[i], rt_rand() % 40);
	for (i = 0; i < 3 * RT_N; i++)
		rt_mutate(loop);
	ck_assert_int_gt(rt_armed, 0);
	ck_assert_int_eq(pc_loop_run(loop), 0);
	ck_assert_int_eq(rt_errors, 0);
	ck_assert_int_eq(rt_armed, 0);
	ck_assert_int_gt(rt_fired, RT_N / 2);
	for (i = 0; i < RT_N; i++)
		ck_assert(!pc_timer_is_active(&rt[i].t));
	pc_loop_free(loop);
	free(rt);
}
END_TEST

START_TEST(timer_heap_growth_failure)
{
	struct pc_loop *loop = pc_loop_new();
	struct pc_timer t[17];
	int i, ret;

	for (i = 0; i < 17; i++)
		pc_timer_init(&t[i], on_victim, NULL);
	for (i = 0; i < 16; i++)
		ck_assert_int_eq(pc_timer_start(loop, &t[i], 1000), 0);
	/* re-arming an armed timer never allocates */
	pc_alloc_fail_at(1);
	ck_assert_int_eq(pc_timer_start(loop, &t[3], 5), 0);
	ck_assert(!pc_alloc_injected());
	/* a 17th timer needs the heap to grow (only fails in PC_FAIL_ALLOC builds) */
	ret = pc_timer_start(loop, &t[16], 5);
	if (pc_alloc_injected()) {
		ck_assert_int_eq(ret, -ENOMEM);
		ck_assert(!pc_timer_is_active(&t[16]));
	} else {
		ck_assert_int_eq(ret, 0);
	}
	pc_alloc_fail_at(0);
	ck_assert_int_eq(pc_timer_start(loop, &t[16], 5), 0);
	pc_loop_free(loop);
	/* the loop left its timers idle */
	for (i = 0; i < 17; i++)
		ck_assert(!pc_timer_is_active(&t[i]));
}
END_TEST

/* ---- deferred callbacks ---------------------------------------------------- */

struct defer_ctx {
	struct pc_defer d[4];
	char order[16];
	int n;
};

static void on_defer(struct pc_loop *loop, struct pc_defer *d)
{
	struct defer_ctx *c = d->data;
	int id = (int)(d - c->d);

	ck_assert(!d->queued);
	c->order[c->n++] = (char)('a' + id);
	if (c->n > 4)
		return;
	if (id == 0)
		pc_loop_defer(loop, &c->d[2]); /* a queues c */
	if (id == 2) {
		pc_loop_defer(loop, &c->d[3]); /* c queues d ... */
		pc_loop_defer(loop, &c->d[0]); /* ... and a again */
	}
	if (id == 3)
		pc_loop_stop(loop);
}

START_TEST(defers_run_in_order_and_drain)
{
	struct pc_loop *loop = pc_loop_new();
	struct defer_ctx c = { 0 };
	int i;

	for (i = 0; i < 4; i++)
		pc_defer_init(&c.d[i], on_defer, &c);
	pc_loop_defer(loop, &c.d[0]);
	pc_loop_defer(loop, &c.d[1]);
	pc_loop_defer(loop, &c.d[1]); /* queued twice: runs once */
	ck_assert(c.d[1].queued);
	/* no fd, no timer: only the queued work may keep epoll_wait from blocking */
	ck_assert_int_eq(pc_loop_run(loop), 0);
	/* d stopped the loop, yet the a queued by c still ran before return */
	ck_assert_str_eq(c.order, "abcda");
	ck_assert(!c.d[0].queued);
	pc_loop_free(loop);
}
END_TEST

/* Stopped while idle, the next run returns at once, but runs what was deferred first. */
START_TEST(stop_before_run_still_drains_defers)
{
	struct pc_loop *loop = pc_loop_new();
	struct defer_ctx c = { 0 };

	pc_defer_init(&c.d[1], on_defer, &c);
	pc_loop_defer(loop, &c.d[1]);
	pc_loop_stop(loop);
	ck_assert_int_eq(pc_loop_run(loop), 0);
	ck_assert_str_eq(c.order, "b");
	ck_assert(!c.d[1].queued);
	pc_loop_free(loop);
}
END_TEST

START_TEST(free_leaves_defers_idle)
{
	struct pc_loop *loop = pc_loop_new();
	struct defer_ctx c = { 0 };

	pc_defer_init(&c.d[0], on_defer, &c);
	pc_loop_defer(loop, &c.d[0]);
	pc_loop_free(loop);
	ck_assert(!c.d[0].queued);
	ck_assert_ptr_null(c.d[0].next);
	ck_assert_int_eq(c.n, 0);
	pc_loop_free(NULL);
}
END_TEST

/* ---- wake-ups ----------------------------------------------------------------- */

#define WAKE_N 20000

struct wake_ctx {
	struct pc_loop *loop;
	atomic_int value;
	int errors; /* pc_loop_wake() failures, read after the join */
	int calls;
	int stop_at; /* stop the loop once value reaches this */
};

static void on_wake(struct pc_loop *loop, void *data)
{
	struct wake_ctx *w = data;

	w->calls++;
	if (atomic_load(&w->value) >= w->stop_at)
		pc_loop_stop(loop);
}

static void *wake_burst(void *arg)
{
	struct wake_ctx *w = arg;
	int i;

	for (i = 1; i <= WAKE_N; i++) {
		atomic_store(&w->value, i);
		w->errors += pc_loop_wake(w->loop) != 0;
		if (i % 1000 == 0)
			usleep(100);
	}
	return NULL;
}

/* Wakes from another thread before the loop runs coalesce into one call. */
START_TEST(wake_coalesces)
{
	struct wake_ctx w = { .stop_at = 1 };
	pthread_t th;

	w.loop = pc_loop_new();
	atomic_init(&w.value, 0);
	pc_loop_set_wake(w.loop, on_wake, &w);
	ck_assert_int_eq(pthread_create(&th, NULL, wake_burst, &w), 0);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_eq(w.errors, 0);
	ck_assert_int_eq(pc_loop_run(w.loop), 0);
	ck_assert_int_eq(w.calls, 1);
	ck_assert_int_eq(atomic_load(&w.value), WAKE_N);
	pc_loop_free(w.loop);
}
END_TEST

/*
 * Wakes racing a running loop: the callback must eventually observe the
 * last value stored before the last wake (no lost wake-up), with at most
 * one call per wake.
 */
START_TEST(wake_from_thread_while_running)
{
	struct wake_ctx w = { .stop_at = WAKE_N };
	struct pc_timer deadline;
	pthread_t th;

	w.loop = pc_loop_new();
	atomic_init(&w.value, 0);
	pc_loop_set_wake(w.loop, on_wake, &w);
	stop_after(w.loop, &deadline, 3000);
	ck_assert_int_eq(pthread_create(&th, NULL, wake_burst, &w), 0);
	ck_assert_int_eq(pc_loop_run(w.loop), 0);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_eq(w.errors, 0);
	ck_assert(pc_timer_is_active(&deadline)); /* stopped by the wake, not the deadline */
	ck_assert_int_ge(w.calls, 1);
	ck_assert_int_le(w.calls, WAKE_N);
	pc_loop_free(w.loop);
}
END_TEST

/* ---- stop and time ------------------------------------------------------------- */

struct stop_ctx {
	struct pc_timer t;
	struct pc_defer d;
	int timer_runs;
	int defer_runs;
};

static void on_stop_io(struct pc_loop *loop, struct pc_io *io, uint32_t events)
{
	struct stop_ctx *c = io->data;

	(void)events;
	pc_loop_stop(loop);
	pc_loop_defer(loop, &c->d);
}

static void on_stop_ctx_timer(struct pc_loop *loop, struct pc_timer *t)
{
	(void)loop;
	((struct stop_ctx *)t->data)->timer_runs++;
}

static void on_stop_ctx_defer(struct pc_loop *loop, struct pc_defer *d)
{
	(void)loop;
	((struct stop_ctx *)d->data)->defer_runs++;
}

START_TEST(stop_finishes_the_iteration)
{
	struct pc_loop *loop = pc_loop_new();
	struct stop_ctx c = { 0 };
	struct pc_io io;
	int sv[2];

	make_pair(sv);
	pc_io_init(&io, sv[0], on_stop_io, &c);
	pc_timer_init(&c.t, on_stop_ctx_timer, &c);
	pc_defer_init(&c.d, on_stop_ctx_defer, &c);
	ck_assert_int_eq(pc_io_start(loop, &io, PC_IO_WRITE), 0);
	ck_assert_int_eq(pc_timer_start(loop, &c.t, 0), 0);
	ck_assert_int_eq(pc_loop_run(loop), 0);
	/* the due timer and the queued defer still ran in that iteration */
	ck_assert_int_eq(c.timer_runs, 1);
	ck_assert_int_eq(c.defer_runs, 1);

	/* the loop can run again after a stop */
	ck_assert_int_eq(pc_loop_run(loop), 0);
	ck_assert_int_eq(c.defer_runs, 2);

	/* stop before run: run returns at once */
	pc_io_close(loop, &io);
	pc_loop_stop(loop);
	ck_assert_int_eq(pc_loop_run(loop), 0);
	close(sv[1]);
	pc_loop_free(loop);
}
END_TEST

START_TEST(now_is_cached_and_monotonic)
{
	struct pc_loop *loop = pc_loop_new();
	uint64_t a, b;

	a = pc_loop_now(loop);
	usleep(20000);
	ck_assert_uint_eq(pc_loop_now(loop), a);
	pc_loop_update_time(loop);
	b = pc_loop_now(loop);
	ck_assert_uint_ge(b, a + 15);
	pc_loop_free(loop);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("core.loop");
	TCase *io = tcase_create("io");
	TCase *timer = tcase_create("timer");
	TCase *misc = tcase_create("misc");
	SRunner *sr;
	int failed;

	tcase_add_test(io, io_readable);
	tcase_add_test(io, io_level_triggered_until_stopped);
	tcase_add_test(io, io_interest_start_stop);
	tcase_add_test(io, io_peer_close_reports_read);
	tcase_add_test(io, io_start_bad_fd);
	tcase_add_test(io, io_close_skips_pending_events);
	tcase_add_test(io, io_stop_all_skips_pending_events);
	suite_add_tcase(s, io);

	tcase_set_timeout(timer, 30);
	tcase_add_test(timer, timers_fire_in_order_fifo_on_ties);
	tcase_add_test(timer, timer_stop_and_restart_before_run);
	tcase_add_test(timer, timer_rearm_and_stop_inside_callbacks);
	tcase_add_test(timer, timers_random_against_reference);
	tcase_add_test(timer, timer_heap_growth_failure);
	suite_add_tcase(s, timer);

	tcase_set_timeout(misc, 30);
	tcase_add_test(misc, defers_run_in_order_and_drain);
	tcase_add_test(misc, stop_before_run_still_drains_defers);
	tcase_add_test(misc, free_leaves_defers_idle);
	tcase_add_test(misc, wake_coalesces);
	tcase_add_test(misc, wake_from_thread_while_running);
	tcase_add_test(misc, stop_finishes_the_iteration);
	tcase_add_test(misc, now_is_cached_and_monotonic);
	suite_add_tcase(s, misc);

	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
