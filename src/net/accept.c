/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * net/accept.c - the accept guard: reserve descriptor, reset, pause, count.
 *
 * The rules are in net/accept.h. The reserve is closed only on this
 * thread, and other threads of the process may take the slot it frees
 * before our accept() does: the accept then fails again, nothing is reset,
 * and the pause still stops the spin. The reserve is retaken at once, or
 * when the pause ends.
 */
#include "net/accept.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "net/addr.h"
#include "net/sock.h"

/* Backlog connections reset per event at most: a bounded amount of work per callback. */
#define RESET_MAX 256u

/* The warning: at most this many lines per window per guard. */
#define LOG_INTERVAL_MS 10000u
#define LOG_BURST       3u

static const char *const reason_names[PC_ACCEPT_NREASONS] = {
	[PC_ACCEPT_EMFILE] = "EMFILE",
	[PC_ACCEPT_ENFILE] = "ENFILE",
	[PC_ACCEPT_ENOBUFS] = "ENOBUFS",
	[PC_ACCEPT_ENOMEM] = "ENOMEM",
};

const char *pc_accept_reason_name(enum pc_accept_reason r)
{
	return r < PC_ACCEPT_NREASONS ? reason_names[r] : "?";
}

/* The reason of <err>, or -1 when it is not one that pauses. */
static int reason_of(int err)
{
	switch (err) {
	case EMFILE:
		return PC_ACCEPT_EMFILE;
	case ENFILE:
		return PC_ACCEPT_ENFILE;
	case ENOBUFS:
		return PC_ACCEPT_ENOBUFS;
	case ENOMEM:
		return PC_ACCEPT_ENOMEM;
	default:
		return -1;
	}
}

static void take_reserve(struct pc_accept_guard *g)
{
	if (g->reserve < 0)
		g->reserve = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

static void on_resume(struct pc_loop *loop, struct pc_timer *t)
{
	struct pc_accept_guard *g = t->data;
	size_t i;

	take_reserve(g);
	for (i = 0; i < g->nios; i++) {
		if (g->ios[i].fd >= 0 && pc_io_start(loop, &g->ios[i], PC_IO_READ) < 0)
			pc_log(PC_LOG_ERR, "cannot watch a listener again",
			       "listener=%s index=%u fd=%d", g->name, g->index, g->ios[i].fd);
	}
}

int pc_accept_guard_init(struct pc_accept_guard *g, struct pc_loop *loop, struct pc_io *ios,
			 size_t nios, const char *name, unsigned index,
			 atomic_uint_fast64_t *errors)
{
	size_t i;

	g->loop = loop;
	g->ios = ios;
	g->nios = nios;
	g->reserve = -1;
	g->backoff_ms = PC_ACCEPT_BACKOFF_MS;
	g->name = name;
	g->index = index;
	for (i = 0; i < PC_ACCEPT_NREASONS; i++)
		atomic_init(&g->own[i], 0);
	g->errors = errors ? errors : g->own;
	atomic_init(&g->resets, 0);
	pc_ratelimit_init(&g->rl, LOG_INTERVAL_MS, LOG_BURST);
	pc_timer_init(&g->timer, on_resume, g);
	take_reserve(g);
	return g->reserve >= 0 ? 0 : -errno;
}

/*
 * Out of descriptors: give the reserve's slot to the backlog, one
 * connection after the other, each reset at once. Returns how many.
 */
static unsigned reset_backlog(struct pc_accept_guard *g, int lfd)
{
	struct pc_addr peer;
	unsigned n = 0;
	int fd;

	if (g->reserve < 0)
		return 0;
	close(g->reserve);
	g->reserve = -1;
	while (n < RESET_MAX && (fd = pc_sock_accept(lfd, &peer)) >= 0) {
		pc_sock_reset(fd);
		n++;
	}
	take_reserve(g);
	return n;
}

/* Stop watching every listener for the backoff. False when the timer cannot be armed. */
static bool pause_listeners(struct pc_accept_guard *g)
{
	size_t i;

	if (pc_timer_is_active(&g->timer))
		return true;
	if (pc_timer_start(g->loop, &g->timer, g->backoff_ms) < 0)
		return false; /* keep listening: a spin beats listeners that never come back */
	for (i = 0; i < g->nios; i++) {
		if (g->ios[i].fd >= 0)
			pc_io_stop(g->loop, &g->ios[i], PC_IO_READ);
	}
	return true;
}

static void exhausted(struct pc_accept_guard *g, struct pc_io *io, int reason)
{
	unsigned reset = 0;
	bool paused;

	if (reason == PC_ACCEPT_EMFILE || reason == PC_ACCEPT_ENFILE)
		reset = reset_backlog(g, io->fd);
	atomic_fetch_add_explicit(&g->errors[reason], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&g->resets, reset, memory_order_relaxed);
	paused = pause_listeners(g);
	pc_log_limited(&g->rl, pc_loop_now(g->loop), PC_LOG_WARN,
		       "cannot accept connections: out of resources, pausing the listener",
		       "listener=%s index=%u err=%s reset=%u pause_ms=%llu", g->name, g->index,
		       reason_names[reason], reset,
		       paused ? (unsigned long long)g->backoff_ms : 0ull);
}

int pc_accept_guard_accept(struct pc_accept_guard *g, struct pc_io *io, struct pc_addr *peer)
{
	int fd = pc_sock_accept(io->fd, peer), reason;

	if (fd >= 0 || fd == -EAGAIN)
		return fd;
	reason = reason_of(-fd);
	if (reason < 0)
		return fd; /* this connection's trouble (ECONNABORTED, EPERM, ...): the next one */
	exhausted(g, io, reason);
	return -EAGAIN;
}

bool pc_accept_guard_paused(const struct pc_accept_guard *g)
{
	return pc_timer_is_active(&g->timer);
}

void pc_accept_guard_stop(struct pc_accept_guard *g)
{
	if (g->loop)
		pc_timer_stop(g->loop, &g->timer);
}

void pc_accept_guard_release(struct pc_accept_guard *g)
{
	pc_accept_guard_stop(g);
	if (g->reserve >= 0)
		close(g->reserve);
	g->reserve = -1;
}

uint64_t pc_accept_guard_errors(const struct pc_accept_guard *g, enum pc_accept_reason r)
{
	if (r >= PC_ACCEPT_NREASONS)
		return 0;
	return atomic_load_explicit(&g->errors[r], memory_order_relaxed);
}
