/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * net/xprt_raw.c - the raw TCP transport: read/write/splice on the socket.
 *
 * Each operation is one syscall with its errno converted on the spot; the
 * policy around them (when to fall back from splice, what an ambiguous
 * EAGAIN means, when a FIN may follow) stays with the caller, who knows the
 * pipe's fill level (proxy/session.c, after HAProxy's raw_sock.c).
 */
#include "net/xprt.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/loop.h"

static ssize_t raw_recv(struct pc_xprt *x, void *buf, size_t len)
{
	ssize_t n = read(x->fd, buf, len);

	return n == -1 ? -errno : n;
}

/* MSG_NOSIGNAL: a peer gone is EPIPE for this connection, never SIGPIPE for the process. */
static ssize_t raw_send(struct pc_xprt *x, const void *buf, size_t len)
{
	ssize_t n = send(x->fd, buf, len, MSG_NOSIGNAL);

	return n == -1 ? -errno : n;
}

static ssize_t raw_to_pipe(struct pc_xprt *x, int pipe_w, size_t len)
{
	ssize_t n = splice(x->fd, NULL, pipe_w, NULL, len, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);

	return n == -1 ? -errno : n;
}

static ssize_t raw_from_pipe(struct pc_xprt *x, int pipe_r, size_t len)
{
	ssize_t n = splice(pipe_r, NULL, x->fd, NULL, len, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);

	return n == -1 ? -errno : n;
}

static int raw_shutdown(struct pc_xprt *x)
{
	return shutdown(x->fd, SHUT_WR) == -1 ? -errno : 0;
}

static uint32_t raw_want(const struct pc_xprt *x, uint32_t wants)
{
	(void)x;
	return wants & (PC_IO_READ | PC_IO_WRITE);
}

const struct pc_xprt_ops pc_xprt_raw = {
	.name = "raw",
	.recv = raw_recv,
	.send = raw_send,
	.to_pipe = raw_to_pipe,
	.from_pipe = raw_from_pipe,
	.shutdown = raw_shutdown,
	.want_events = raw_want,
};

void pc_xprt_raw_init(struct pc_xprt *x, int fd)
{
	x->ops = &pc_xprt_raw;
	x->fd = fd;
	x->ctx = NULL;
}

ssize_t pc_xprt_raw_peek(int fd, void *buf, size_t cap)
{
	ssize_t n = recv(fd, buf, cap, MSG_PEEK | MSG_DONTWAIT);

	return n == -1 ? -errno : n;
}

int pc_xprt_raw_set_lowat(int fd, int bytes)
{
	return setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &bytes, sizeof(bytes)) == -1 ? -errno : 0;
}

bool pc_xprt_raw_peer_done(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLRDHUP };

	return poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}
