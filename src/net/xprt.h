/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * net/xprt.h - the transport seam under a relayed byte stream.
 *
 * A session moves bytes between two sockets; how bytes get in and out of
 * one socket is its transport: plain TCP today (net/xprt_raw.c: splice(2)
 * through a pipe, or read/write), TLS origination later, a fake in tests.
 * The operations are those of HAProxy's xprt_ops (rcv_buf, snd_buf,
 * rcv_pipe, snd_pipe, shutw; include/haproxy/connection-t.h) and curl's
 * Curl_cftype (lib/cfilters.h), cut to what a relay needs.
 *
 * Every operation returns a count of bytes or a negative errno, converted
 * at the syscall; -EAGAIN means "not now, wait for want_events()". A
 * transport is embedded in its owner (struct pc_xprt); it does not own the
 * fd, its owner's struct pc_io does. Loop thread only.
 */
#ifndef PC_NET_XPRT_H
#define PC_NET_XPRT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct pc_xprt;

/* Up to <len> bytes into <buf>: > 0 bytes, 0 end of stream (the peer's FIN), or -errno. */
typedef ssize_t pc_xprt_recv_fn(struct pc_xprt *x, void *buf, size_t len);

/* Up to <len> bytes from <buf>: > 0 bytes taken, or -errno (never 0 for len > 0). */
typedef ssize_t pc_xprt_send_fn(struct pc_xprt *x, const void *buf, size_t len);

/*
 * Zero-copy: up to <len> bytes from the socket into the pipe's write end
 * <pipe_w> (> 0 bytes, 0 end of stream, -errno), or from the pipe's read
 * end <pipe_r> to the socket. -EAGAIN is ambiguous for to_pipe: the socket
 * is empty OR the pipe is full (the caller knows the pipe's fill, see
 * splice(2) and HAProxy's raw_sock_to_pipe()). -EINVAL or -ENOSYS: this
 * pair of fds cannot splice; the caller falls back to recv/send, and so
 * does a transport whose to_pipe is NULL (TLS must see the bytes).
 */
typedef ssize_t pc_xprt_to_pipe_fn(struct pc_xprt *x, int pipe_w, size_t len);
typedef ssize_t pc_xprt_from_pipe_fn(struct pc_xprt *x, int pipe_r, size_t len);

/* Send our FIN once everything before it is written (shutdown(SHUT_WR)). */
typedef int pc_xprt_shutdown_fn(struct pc_xprt *x);

/*
 * The readiness (PC_IO_READ/PC_IO_WRITE of core/loop.h) the fd must be
 * polled for so that the transport can do what the relay <wants>. Raw:
 * the same. TLS: a read may need the socket writable (a renegotiation or
 * a key update to send) and a write readable.
 */
typedef uint32_t pc_xprt_want_fn(const struct pc_xprt *x, uint32_t wants);

struct pc_xprt_ops {
	const char *name;
	pc_xprt_recv_fn *recv;
	pc_xprt_send_fn *send;
	pc_xprt_to_pipe_fn *to_pipe;     /* NULL: no zero-copy */
	pc_xprt_from_pipe_fn *from_pipe; /* NULL: no zero-copy */
	pc_xprt_shutdown_fn *shutdown;
	pc_xprt_want_fn *want_events;
};

struct pc_xprt {
	const struct pc_xprt_ops *ops;
	int fd;    /* borrowed from the owner's struct pc_io */
	void *ctx; /* the transport's own state (NULL for raw) */
};

/* Plain TCP (net/xprt_raw.c). */
extern const struct pc_xprt_ops pc_xprt_raw;

/* Make <x> the raw transport over <fd> (-1: not connected yet). */
void pc_xprt_raw_init(struct pc_xprt *x, int fd);

/*
 * Raw-socket helpers for the preread stage, which looks at the first
 * bytes before any transport runs.
 *
 * pc_xprt_raw_peek(): copy up to <cap> bytes at the head of <fd>'s receive
 * queue without taking them (MSG_PEEK: a later splice still starts at byte
 * 0). Returns the count, 0 at end of stream with nothing queued, or -errno
 * (-EAGAIN: nothing queued yet).
 *
 * pc_xprt_raw_set_lowat(): SO_RCVLOWAT, so that epoll reports the socket
 * readable only once <bytes> are queued (TCP honours it in tcp_poll();
 * AF_UNIX does not). Returns 0 or -errno.
 *
 * pc_xprt_raw_peer_done(): whether the peer has shut its side (FIN, RST or
 * an error pending), by a zero-timeout poll(2) for POLLRDHUP: what tells a
 * peek that finds no new bytes "the client sent all it will" from "not yet".
 */
ssize_t pc_xprt_raw_peek(int fd, void *buf, size_t cap);
int pc_xprt_raw_set_lowat(int fd, int bytes);
bool pc_xprt_raw_peer_done(int fd);

#endif /* PC_NET_XPRT_H */
