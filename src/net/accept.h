/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * net/accept.h - accepting connections when descriptors or memory run out.
 *
 * A level-triggered listener whose accept() fails with EMFILE stays
 * readable: the loop calls it again at once, and a worker spins at 100 %
 * CPU while the connections in the backlog hang. The guard makes that a
 * short, counted pause instead, as nginx (accept_mutex_delay) and HAProxy
 * (limit_listener()) do:
 *
 *  - on EMFILE or ENFILE it first closes a reserve descriptor (an fd on
 *    /dev/null held for this moment) and uses the slot it frees to accept
 *    what waits in the backlog and reset it at once (SO_LINGER 0, libuv's
 *    uv__emfile_trick): those clients get a RST now rather than a hang,
 *    then the reserve is taken again;
 *  - on any of EMFILE, ENFILE, ENOBUFS or ENOMEM it stops watching its
 *    listeners for <backoff_ms>, then watches them again (the reserve is
 *    retaken then if it could not be before): recovery needs nobody;
 *  - each such event is counted by reason and logged as a warning, at most
 *    a few lines per window (the suppressed count is on the next line).
 *
 * Other accept() errors (a connection aborted in the backlog, EPERM from a
 * firewall) concern one connection: the caller just takes the next one.
 * One guard per loop; loop thread only, except the counters.
 */
#ifndef PC_NET_ACCEPT_H
#define PC_NET_ACCEPT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "core/log.h"
#include "core/loop.h"

struct pc_addr;

/* The errors that pause a listener, as counted. */
enum pc_accept_reason {
	PC_ACCEPT_EMFILE,  /* the process's descriptor limit */
	PC_ACCEPT_ENFILE,  /* the system's descriptor limit */
	PC_ACCEPT_ENOBUFS, /* socket buffers */
	PC_ACCEPT_ENOMEM,  /* kernel memory */
	PC_ACCEPT_NREASONS,
};

#define PC_ACCEPT_BACKOFF_MS 100u /* how long listeners pause */

struct pc_accept_guard {
	struct pc_loop *loop;
	struct pc_io *ios; /* the listeners paused together (fd -1: absent) */
	size_t nios;
	int reserve; /* an fd on /dev/null kept for the accept-and-reset; -1: none */
	uint64_t backoff_ms;
	struct pc_timer timer; /* armed while the listeners pause */
	const char *name;      /* who accepts, for the log ("proxy", "dns") */
	unsigned index;        /* and which of them (a worker's index) */
	atomic_uint_fast64_t own[PC_ACCEPT_NREASONS];
	atomic_uint_fast64_t *errors; /* pauses by reason: <own>, or the caller's (any thread) */
	atomic_uint_fast64_t resets;  /* backlog connections reset for lack of a descriptor */
	struct pc_ratelimit rl;       /* the warning */
};

/*
 * Set up <g> for the listeners <ios> (<nios> of them, owned by the caller,
 * which starts them) on <loop>, and take the reserve descriptor. The pauses
 * are counted in <errors> (PC_ACCEPT_NREASONS counters of the caller's, e.g.
 * its metrics; NULL: the guard's own). Returns 0, or -errno when /dev/null
 * cannot be opened (the guard works without the reserve then: it pauses,
 * it cannot reset).
 */
int pc_accept_guard_init(struct pc_accept_guard *g, struct pc_loop *loop, struct pc_io *ios,
			 size_t nios, const char *name, unsigned index,
			 atomic_uint_fast64_t *errors);

/*
 * accept4() on the listener <io> (non-blocking, close-on-exec), the peer
 * into <peer>. Returns the fd; -EAGAIN when nothing more is to be accepted
 * now (the backlog is empty, or the listeners were just paused); or another
 * -errno for a failure of one connection (take the next).
 */
int pc_accept_guard_accept(struct pc_accept_guard *g, struct pc_io *io, struct pc_addr *peer);

/* Whether the listeners are paused now. */
bool pc_accept_guard_paused(const struct pc_accept_guard *g);

/* Stop the pause's timer (the caller closes the listeners: draining). */
void pc_accept_guard_stop(struct pc_accept_guard *g);

/* Stop the timer and close the reserve. */
void pc_accept_guard_release(struct pc_accept_guard *g);

/* "EMFILE", "ENFILE", "ENOBUFS", "ENOMEM": the metric's label. */
const char *pc_accept_reason_name(enum pc_accept_reason r);

/* The pauses for <r> so far. Any thread. */
uint64_t pc_accept_guard_errors(const struct pc_accept_guard *g, enum pc_accept_reason r);

#endif /* PC_NET_ACCEPT_H */
