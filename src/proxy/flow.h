/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * proxy/flow.h - one direction of a relay: source transport -> pipe -> destination.
 *
 * A session's RELAY stage is two flows, client -> upstream and back
 * (proxy/session.c). A flow moves bytes from its source transport into a
 * pipe and from the pipe into its destination with splice(2), where both
 * transports can (net/xprt.h), else through a 64 KiB buffer with
 * recv/send. A pipe is held only while bytes are in flight: it comes from
 * the worker's pool on the first fill and goes back empty, so an idle
 * connection holds none. Rules, after HAProxy's raw_sock.c:
 *
 *  - EAGAIN from to_pipe means an empty socket OR a full pipe; with bytes
 *    in the pipe it is taken as full (<pipe_full>: the pipe may be full by
 *    its slots, not its bytes) and the source is not read again until the
 *    drain makes progress; with none, the socket is empty;
 *  - EINVAL/ENOSYS from to_pipe with an empty pipe switches the flow to
 *    recv/send for good (so does a transport without zero-copy);
 *  - a 0-byte read is the source's FIN: the destination gets shutdown()
 *    once everything before it is delivered (half-close).
 *
 * The session owns its flows (embedded) and both transports; a flow
 * borrows them. Loop thread only, except pc_flow_bytes(), which the admin
 * thread may call.
 */
#ifndef PC_PROXY_FLOW_H
#define PC_PROXY_FLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proxy/stats.h"

struct pc_worker;
struct pc_xprt;

struct pc_flow {
	struct pc_worker *w; /* owns the pipe pool */
	struct pc_xprt *src;
	struct pc_xprt *dst;
	int pipe[2];     /* -1 while no bytes are in flight (pooled) */
	size_t cap;      /* capacity of the pipe held */
	size_t in_pipe;  /* bytes in the pipe (or buffer) */
	bool eof;        /* the source sent FIN */
	bool shut;       /* the destination got SHUT_WR */
	bool no_splice;  /* splice refused: recv/send through buf */
	bool pipe_full;  /* to_pipe said EAGAIN with bytes in the pipe: read after a drain */
	char *buf;
	size_t off;
	pc_counter bytes; /* read from the source; the admin thread reads it */
};

/* Set up <f> from <src> to <dst> (borrowed), taking pipes from <w>'s pool. */
void pc_flow_init(struct pc_flow *f, struct pc_worker *w, struct pc_xprt *src,
		  struct pc_xprt *dst);

/* Give an empty pipe back to the pool (close one with bytes left) and free the buffer. */
void pc_flow_release(struct pc_flow *f);

/* Bytes read from the source so far. Any thread. */
uint64_t pc_flow_bytes(const struct pc_flow *f);

/*
 * Add to <*src> and <*dst> (PC_IO_READ/WRITE) what the flow needs polled:
 * read the source while the pipe has room (not while <pipe_full>), write
 * the destination while it holds data, so a slow peer throttles a fast one.
 */
void pc_flow_wants(const struct pc_flow *f, uint32_t *src, uint32_t *dst);

/*
 * Move what the kernel accepts now (a few rounds at most; the loop calls
 * again) and pass a FIN on once the pipe is drained. Returns 0, or a
 * negative errno from either side (the session then resets both).
 */
int pc_flow_pump(struct pc_flow *f);

#endif /* PC_PROXY_FLOW_H */
