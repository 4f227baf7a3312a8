/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * core/loop.c - epoll readiness, a timer min-heap and deferred callbacks.
 *
 * One iteration of pc_loop_run():
 *
 *   compute the timeout (0 if work is queued, else the nearest timer, else -1)
 *   epoll_wait (EINTR retried)  ->  refresh now
 *   dispatch the batch          (callbacks may close or stop any io)
 *   run expired timers          (only those armed before this phase began)
 *   drain deferred callbacks    (including the ones they queue)
 *
 * Invariants:
 *   - loop->batch[batch_pos + 1 .. batch_len) are the events fetched but not
 *     yet dispatched. Whenever an io leaves epoll (pc_io_close(), or
 *     pc_io_stop() of its last interest) its entries there are set to NULL,
 *     so its owner may free it right away and no stale event reaches it.
 *   - heap[i]->slot == i for every armed timer; an unarmed timer has
 *     slot == SIZE_MAX. The heap is ordered by (due, seq), and seq grows on
 *     every pc_timer_start(), so equal due times fire in arming order.
 *   - The defer queue is a FIFO singly linked list; defer->queued is true
 *     exactly while it is on the list.
 *
 * Wake-ups: pc_loop_wake() sets an atomic flag and, only when it was clear,
 * bumps an eventfd. The loop drains the eventfd, clears the flag, then calls
 * the wake callback, so every wake that happened before the callback starts
 * is covered by it and a burst of wakes costs one write(2) and one call.
 */
#include "core/loop.h"

#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"

/* Events fetched per epoll_wait(2); more simply wait for the next iteration. */
#define PC_LOOP_BATCH 128

struct pc_loop {
	int epfd;
	uint64_t now;
	bool stopping;

	/* readiness batch being dispatched (see the invariants above) */
	struct epoll_event batch[PC_LOOP_BATCH];
	int batch_len;
	int batch_pos;

	/* timers: binary min-heap of pointers into their owners */
	struct pc_timer **heap;
	size_t heap_len;
	size_t heap_cap;
	uint64_t timer_seq;

	/* deferred callbacks, FIFO */
	struct pc_defer *defer_head;
	struct pc_defer *defer_tail;

	/* cross-thread wake-up */
	struct pc_io wake_io;
	atomic_bool wake_pending;
	pc_wake_fn *wake_cb;
	void *wake_data;
};

static uint64_t clock_ms(void)
{
	struct timespec ts;

	/* CLOCK_MONOTONIC cannot fail with a valid clock id and pointer */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- deferred callbacks ------------------------------------------------ */

void pc_defer_init(struct pc_defer *defer, pc_defer_fn *cb, void *data)
{
	defer->next = NULL;
	defer->queued = false;
	defer->cb = cb;
	defer->data = data;
}

void pc_loop_defer(struct pc_loop *loop, struct pc_defer *defer)
{
	if (defer->queued)
		return;
	defer->queued = true;
	defer->next = NULL;
	if (loop->defer_tail)
		loop->defer_tail->next = defer;
	else
		loop->defer_head = defer;
	loop->defer_tail = defer;
}

/*
 * Run the queue until it is empty, so that when pc_loop_run() returns no
 * deferred work (typically a session free) is left behind. The entry is
 * unlinked before its callback runs: the callback may free it, or queue it
 * again, in which case it runs once more at the end of this drain.
 */
static void run_defers(struct pc_loop *loop)
{
	struct pc_defer *d;

	while ((d = loop->defer_head)) {
		loop->defer_head = d->next;
		if (!loop->defer_head)
			loop->defer_tail = NULL;
		d->next = NULL;
		d->queued = false;
		d->cb(loop, d);
	}
}

/* ---- timers -------------------------------------------------------------- */

static bool timer_less(const struct pc_timer *a, const struct pc_timer *b)
{
	if (a->due != b->due)
		return a->due < b->due;
	return a->seq < b->seq;
}

static void heap_set(struct pc_loop *loop, size_t i, struct pc_timer *t)
{
	loop->heap[i] = t;
	t->slot = i;
}

static void sift_up(struct pc_loop *loop, size_t i)
{
	struct pc_timer *t = loop->heap[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (!timer_less(t, loop->heap[parent]))
			break;
		heap_set(loop, i, loop->heap[parent]);
		i = parent;
	}
	heap_set(loop, i, t);
}

static void sift_down(struct pc_loop *loop, size_t i)
{
	struct pc_timer *t = loop->heap[i];
	size_t n = loop->heap_len;

	for (;;) {
		size_t child = 2 * i + 1;

		if (child >= n)
			break;
		if (child + 1 < n && timer_less(loop->heap[child + 1], loop->heap[child]))
			child++;
		if (!timer_less(loop->heap[child], t))
			break;
		heap_set(loop, i, loop->heap[child]);
		i = child;
	}
	heap_set(loop, i, t);
}

/* Restore the order around slot <i> after its key changed either way. */
static void heap_fix(struct pc_loop *loop, size_t i)
{
	if (i > 0 && timer_less(loop->heap[i], loop->heap[(i - 1) / 2]))
		sift_up(loop, i);
	else
		sift_down(loop, i);
}

static int heap_grow(struct pc_loop *loop)
{
	struct pc_timer **heap;
	size_t cap;

	cap = loop->heap_cap ? loop->heap_cap * 2 : 16;
	if (cap > SIZE_MAX / sizeof(struct pc_timer *))
		return -ENOMEM;
	heap = pc_realloc(loop->heap, cap * sizeof(struct pc_timer *));
	if (!heap)
		return -ENOMEM;
	loop->heap = heap;
	loop->heap_cap = cap;
	return 0;
}

void pc_timer_init(struct pc_timer *timer, pc_timer_fn *cb, void *data)
{
	timer->due = 0;
	timer->slot = SIZE_MAX;
	timer->seq = 0;
	timer->cb = cb;
	timer->data = data;
}

bool pc_timer_is_active(const struct pc_timer *timer)
{
	return timer->slot != SIZE_MAX;
}

/*
 * Re-arming an armed timer only moves it inside the heap, so it cannot
 * fail; only a timer joining a full heap may need pc_realloc().
 */
int pc_timer_start(struct pc_loop *loop, struct pc_timer *timer, uint64_t after_ms)
{
	int ret;

	if (!pc_timer_is_active(timer) && loop->heap_len == loop->heap_cap) {
		ret = heap_grow(loop);
		if (ret < 0)
			return ret;
	}

	timer->due = after_ms > UINT64_MAX - loop->now ? UINT64_MAX : loop->now + after_ms;
	timer->seq = loop->timer_seq++;
	if (pc_timer_is_active(timer)) {
		heap_fix(loop, timer->slot);
	} else {
		heap_set(loop, loop->heap_len++, timer);
		sift_up(loop, timer->slot);
	}
	return 0;
}

void pc_timer_stop(struct pc_loop *loop, struct pc_timer *timer)
{
	size_t i = timer->slot;
	struct pc_timer *last;

	if (i == SIZE_MAX)
		return;
	timer->slot = SIZE_MAX;
	last = loop->heap[--loop->heap_len];
	if (last == timer)
		return;
	heap_set(loop, i, last);
	heap_fix(loop, i);
}

/*
 * Fire every timer due at the start of this phase. A callback that re-arms
 * its own timer (or any other) with a zero delay gets a seq at or above
 * <seq_end>; such timers wait for the next iteration instead of spinning
 * here forever. Because a new timer's due is never before <now>, a heap
 * top at or past <seq_end> means nothing older is due either.
 */
static void run_timers(struct pc_loop *loop)
{
	uint64_t now = loop->now, seq_end = loop->timer_seq;
	struct pc_timer *t;

	while (loop->heap_len > 0) {
		t = loop->heap[0];
		if (t->due > now || t->seq >= seq_end)
			break;
		pc_timer_stop(loop, t);
		t->cb(loop, t);
	}
}

/* epoll_wait(2) timeout in ms for the current state, -1 for "forever". */
static int next_timeout(const struct pc_loop *loop)
{
	uint64_t due;

	if (loop->defer_head)
		return 0;
	if (loop->heap_len == 0)
		return -1;
	due = loop->heap[0]->due;
	if (due <= loop->now)
		return 0;
	if (due - loop->now > INT_MAX)
		return INT_MAX;
	return (int)(due - loop->now);
}

/* ---- readiness ------------------------------------------------------------ */

static uint32_t to_epoll(uint32_t want)
{
	uint32_t ev = 0;

	if (want & PC_IO_READ)
		ev |= EPOLLIN | EPOLLRDHUP;
	if (want & PC_IO_WRITE)
		ev |= EPOLLOUT;
	return ev;
}

static uint32_t from_epoll(uint32_t ev)
{
	uint32_t events = 0;

	if (ev & (EPOLLIN | EPOLLRDHUP))
		events |= PC_IO_READ;
	if (ev & EPOLLOUT)
		events |= PC_IO_WRITE;
	if (ev & (EPOLLERR | EPOLLHUP))
		events |= PC_IO_ERR;
	return events;
}

/* Drop the events of <io> that were fetched but not yet dispatched. */
static void forget_pending(struct pc_loop *loop, const struct pc_io *io)
{
	int i;

	for (i = loop->batch_pos + 1; i < loop->batch_len; i++) {
		if (loop->batch[i].data.ptr == io)
			loop->batch[i].data.ptr = NULL;
	}
}

void pc_io_init(struct pc_io *io, int fd, pc_io_fn *cb, void *data)
{
	io->fd = fd;
	io->want = 0;
	io->added = false;
	io->cb = cb;
	io->data = data;
}

static int io_update(struct pc_loop *loop, struct pc_io *io, uint32_t want)
{
	struct epoll_event ev = { .events = to_epoll(want), .data.ptr = io };
	int op;

	if (want == 0)
		op = EPOLL_CTL_DEL;
	else
		op = io->added ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
	if (epoll_ctl(loop->epfd, op, io->fd, &ev) == -1)
		return -errno;
	io->want = want;
	io->added = want != 0;
	if (!io->added)
		forget_pending(loop, io);
	return 0;
}

int pc_io_start(struct pc_loop *loop, struct pc_io *io, uint32_t events)
{
	uint32_t want = io->want | (events & (PC_IO_READ | PC_IO_WRITE));

	if (want == io->want)
		return 0;
	return io_update(loop, io, want);
}

/*
 * Removing the last interest takes the fd out of epoll altogether: with
 * events == 0 epoll would still report EPOLLHUP, level-triggered, forever.
 */
int pc_io_stop(struct pc_loop *loop, struct pc_io *io, uint32_t events)
{
	uint32_t want = io->want & ~events;

	if (want == io->want)
		return 0;
	return io_update(loop, io, want);
}

int pc_io_set(struct pc_loop *loop, struct pc_io *io, uint32_t events)
{
	uint32_t want = events & (PC_IO_READ | PC_IO_WRITE);

	if (want == io->want)
		return 0;
	return io_update(loop, io, want);
}

void pc_io_close(struct pc_loop *loop, struct pc_io *io)
{
	/* close(2) would drop the registration anyway, unless the fd was dup'ed */
	if (io->added)
		epoll_ctl(loop->epfd, EPOLL_CTL_DEL, io->fd, NULL);
	forget_pending(loop, io);
	if (io->fd >= 0)
		close(io->fd);
	io->fd = -1;
	io->want = 0;
	io->added = false;
}

/*
 * Deliver only what the io still wants (a callback earlier in the batch may
 * have stopped some interest); errors are always delivered.
 */
static void dispatch(struct pc_loop *loop)
{
	struct pc_io *io;
	uint32_t events;

	for (loop->batch_pos = 0; loop->batch_pos < loop->batch_len; loop->batch_pos++) {
		io = loop->batch[loop->batch_pos].data.ptr;
		if (!io)
			continue;
		events = from_epoll(loop->batch[loop->batch_pos].events);
		events &= io->want | PC_IO_ERR;
		if (events)
			io->cb(loop, io, events);
	}
	loop->batch_len = 0;
	loop->batch_pos = 0;
}

/* ---- wake-up -------------------------------------------------------------- */

static void on_wake(struct pc_loop *loop, struct pc_io *io, uint32_t events)
{
	uint64_t n;
	ssize_t r;

	(void)events;
	/*
	 * Drain first, then clear the flag: a wake landing in between finds
	 * the flag still set, skips its write(2), and is covered by the
	 * callback below. The only possible failure is EAGAIN (already
	 * drained), so the result does not matter.
	 */
	r = read(io->fd, &n, sizeof(n));
	(void)r;
	if (atomic_exchange(&loop->wake_pending, false) && loop->wake_cb)
		loop->wake_cb(loop, loop->wake_data);
}

void pc_loop_set_wake(struct pc_loop *loop, pc_wake_fn *cb, void *data)
{
	loop->wake_cb = cb;
	loop->wake_data = data;
}

int pc_loop_wake(struct pc_loop *loop)
{
	uint64_t one = 1;

	if (atomic_exchange(&loop->wake_pending, true))
		return 0;
	/* EAGAIN means the counter is saturated: the loop is woken anyway */
	if (write(loop->wake_io.fd, &one, sizeof(one)) == -1 && errno != EAGAIN)
		return -errno;
	return 0;
}

/* ---- the loop --------------------------------------------------------------- */

struct pc_loop *pc_loop_new(void)
{
	struct pc_loop *loop;
	int fd;

	loop = pc_calloc(1, sizeof(*loop));
	if (!loop)
		return NULL;
	atomic_init(&loop->wake_pending, false);

	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd == -1)
		goto out_free_loop;

	fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (fd == -1)
		goto out_close_epoll;
	pc_io_init(&loop->wake_io, fd, on_wake, NULL);
	if (pc_io_start(loop, &loop->wake_io, PC_IO_READ) < 0)
		goto out_close_eventfd;

	loop->now = clock_ms();
	return loop;

out_close_eventfd:
	close(fd);
out_close_epoll:
	close(loop->epfd);
out_free_loop:
	free(loop);
	return NULL;
}

void pc_loop_free(struct pc_loop *loop)
{
	size_t i;

	if (!loop)
		return;
	/* leave the owners' embedded timers and defers in a sane, idle state */
	for (i = 0; i < loop->heap_len; i++)
		loop->heap[i]->slot = SIZE_MAX;
	while (loop->defer_head) {
		struct pc_defer *d = loop->defer_head;

		loop->defer_head = d->next;
		d->next = NULL;
		d->queued = false;
	}
	close(loop->wake_io.fd);
	close(loop->epfd);
	free(loop->heap);
	free(loop);
}

uint64_t pc_loop_now(const struct pc_loop *loop)
{
	return loop->now;
}

void pc_loop_update_time(struct pc_loop *loop)
{
	loop->now = clock_ms();
}

void pc_loop_stop(struct pc_loop *loop)
{
	loop->stopping = true;
}

static int poll_once(struct pc_loop *loop)
{
	int n;

	for (;;) {
		loop->now = clock_ms();
		n = epoll_wait(loop->epfd, loop->batch, PC_LOOP_BATCH, next_timeout(loop));
		if (n >= 0)
			break;
		if (errno != EINTR)
			return -errno;
	}
	loop->now = clock_ms();
	loop->batch_len = n;
	return 0;
}

int pc_loop_run(struct pc_loop *loop)
{
	int ret = 0;

	while (!loop->stopping) {
		ret = poll_once(loop);
		if (ret < 0)
			break;
		dispatch(loop);
		run_timers(loop);
		run_defers(loop);
	}
	/* stopped before it ran (pc_loop_stop() while idle): what was deferred still runs */
	run_defers(loop);
	loop->stopping = false;
	return ret;
}
