/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * proxy/flow.c - one direction of a relay, through the transports.
 *
 * The contract and the splice rules are in proxy/flow.h; this is the code
 * that was session.c's flow_fill/flow_drain, now calling the transport's
 * operations (net/xprt.h) instead of read/write/splice on the fd.
 */
#include "proxy/flow.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/loop.h"
#include "net/sock.h"
#include "net/xprt.h"
#include "proxy/worker.h"

#define BUF_CAP ((size_t)64 * 1024)

void pc_flow_init(struct pc_flow *f, struct pc_worker *w, struct pc_xprt *src,
		  struct pc_xprt *dst)
{
	f->w = w;
	f->src = src;
	f->dst = dst;
	f->pipe[0] = f->pipe[1] = -1;
}

uint64_t pc_flow_bytes(const struct pc_flow *f)
{
	return pc_counter_get(&f->bytes);
}

/* An empty pipe goes back to the pool; one with bytes left is closed. */
static void close_pipe(struct pc_flow *f)
{
	if (f->pipe[0] < 0)
		return;
	if (f->in_pipe == 0 && !f->no_splice) {
		pc_worker_pipe_put(f->w, f->pipe, f->cap);
		return;
	}
	close(f->pipe[0]);
	close(f->pipe[1]);
	f->pipe[0] = f->pipe[1] = -1;
}

static size_t flow_cap(const struct pc_flow *f)
{
	if (f->no_splice)
		return BUF_CAP;
	return f->pipe[0] >= 0 ? f->cap : 1; /* no pipe yet: room for "some" */
}

/*
 * Interest follows the flows: read while the pipe has room, write while it
 * holds data. A pipe can be full by its slots long before its bytes (each
 * splice of a small segment takes a slot of its own), so "room" is also
 * "to_pipe did not just say EAGAIN with bytes in the pipe" (<pipe_full>):
 * a readable source that cannot be read would wake the level-triggered
 * loop on every iteration. The destination is watched meanwhile, as
 * in_pipe > 0, and its first progress gives the source back.
 */
void pc_flow_wants(const struct pc_flow *f, uint32_t *src, uint32_t *dst)
{
	if (!f->eof && !f->pipe_full && f->in_pipe < flow_cap(f))
		*src |= PC_IO_READ;
	if (f->in_pipe > 0)
		*dst |= PC_IO_WRITE;
}

static int flow_fill(struct pc_flow *f);

/*
 * Copy through user space from now on (the pipe, if any, is empty): splice
 * refused these fds, or no pipe could be made (out of descriptors: the
 * relay goes on without one). Out of memory too, this connection is reset.
 */
static int flow_to_buffer(struct pc_flow *f)
{
	f->buf = f->buf ? f->buf : pc_malloc(BUF_CAP);
	if (!f->buf)
		return -ENOMEM;
	close_pipe(f);
	f->no_splice = true;
	return flow_fill(f);
}

/* Fill from the source: splice into the pipe, or receive into the buffer. */
static int flow_fill(struct pc_flow *f)
{
	ssize_t n;

	if (f->no_splice) {
		n = f->src->ops->recv(f->src, f->buf + f->in_pipe, BUF_CAP - f->in_pipe);
	} else {
		if (f->pipe[0] < 0 && pc_worker_pipe_get(f->w, f->pipe, &f->cap) < 0)
			return flow_to_buffer(f); /* EMFILE, ENFILE, ENOMEM: no pipe now */
		if (f->src->ops->to_pipe && f->dst->ops->from_pipe)
			n = f->src->ops->to_pipe(f->src, f->pipe[1], f->cap - f->in_pipe);
		else
			n = -ENOSYS; /* a transport that must see the bytes */
		if ((n == -EINVAL || n == -ENOSYS) && f->in_pipe == 0)
			return flow_to_buffer(f); /* splice(2) refused for these fds */
	}
	if (n > 0) {
		f->in_pipe += (size_t)n;
		f->pipe_full = false; /* it had room */
		pc_counter_add(&f->bytes, (uint64_t)n);
		return 1;
	}
	if (f->in_pipe == 0 && !f->no_splice)
		close_pipe(f); /* nothing came: an idle flow holds no pipe */
	if (n == 0) {
		f->eof = true;
		return 1;
	}
	/*
	 * EAGAIN: the source is empty, or the pipe is full (by bytes or by
	 * slots; in_pipe cannot tell the slots). With bytes in the pipe, take it
	 * as full, as HAProxy's raw_sock_to_pipe() sets CO_FL_WAIT_ROOM: stop
	 * reading until the drain makes room. If the source was merely empty,
	 * the cost is that its next bytes wait for that drain in the socket.
	 */
	if (n == -EAGAIN && f->in_pipe > 0 && !f->no_splice)
		f->pipe_full = true;
	return n == -EAGAIN || n == -EINTR ? 0 : (int)n;
}

/* Drain to the destination. */
static int flow_drain(struct pc_flow *f)
{
	ssize_t n;

	if (f->no_splice)
		n = f->dst->ops->send(f->dst, f->buf + f->off, f->in_pipe - f->off);
	else
		n = f->dst->ops->from_pipe(f->dst, f->pipe[0], f->in_pipe);
	if (n > 0) {
		f->pipe_full = false; /* room again: read the source */
		if (f->no_splice) {
			f->off += (size_t)n;
			if (f->off == f->in_pipe)
				f->off = f->in_pipe = 0;
		} else {
			f->in_pipe -= (size_t)n;
			if (f->in_pipe == 0)
				close_pipe(f); /* drained: back to the pool */
		}
		return 1;
	}
	return n == -EAGAIN || n == -EINTR || n == 0 ? 0 : (int)n;
}

/* Move what the kernel accepts now; a few rounds at most, the loop calls again. */
int pc_flow_pump(struct pc_flow *f)
{
	int rounds, progress, ret;

	for (rounds = 0; rounds < 4; rounds++) {
		progress = 0;
		if (!f->eof && f->in_pipe < flow_cap(f) && (!f->no_splice || f->off == 0)) {
			ret = flow_fill(f);
			if (ret < 0)
				return ret;
			progress |= ret;
		}
		if (f->in_pipe > 0) {
			ret = flow_drain(f);
			if (ret < 0)
				return ret;
			progress |= ret;
		}
		if (!progress)
			break;
	}
	if (f->eof && f->in_pipe == 0 && !f->shut) {
		/*
		 * Half-close: pass the FIN on once everything before it is
		 * delivered. Every byte is in the kernel's hands now, so a
		 * crash from here on must not reset this peer: SO_LINGER goes
		 * back to the default first (proxy/session.c sets it at start).
		 */
		pc_sock_abort_on_close(f->dst->fd, false);
		f->dst->ops->shutdown(f->dst);
		f->shut = true;
	}
	return 0;
}

void pc_flow_release(struct pc_flow *f)
{
	close_pipe(f);
	free(f->buf);
	f->buf = NULL;
}
