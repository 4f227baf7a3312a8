/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * net/sock.h - socket helpers for the proxy: listeners, the original
 * destination of a redirected connection, non-blocking connects.
 *
 * Every function returns a negative errno on failure, converted at the
 * syscall. Sockets are created non-blocking and close-on-exec.
 */
#ifndef PC_NET_SOCK_H
#define PC_NET_SOCK_H

#include <stdbool.h>

struct pc_addr;

/*
 * A listening TCP socket on <addr> (address and port) with SO_REUSEADDR,
 * SO_REUSEPORT (one listener per worker thread) and, for IPv6, V6ONLY.
 * Returns the fd or -errno.
 */
int pc_sock_listen(const struct pc_addr *addr, int backlog);

/* accept4() non-blocking and close-on-exec; the peer into <peer>. Returns the fd or -errno. */
int pc_sock_accept(int lfd, struct pc_addr *peer);

/*
 * The destination the application dialled before iptables REDIRECT
 * rewrote it (SO_ORIGINAL_DST, IP6T_SO_ORIGINAL_DST). Returns 0, or
 * -ENOENT when the connection was not redirected, or -errno.
 */
int pc_sock_original_dst(int fd, struct pc_addr *dst);

/* The local address of <fd>. */
int pc_sock_local(int fd, struct pc_addr *local);

/*
 * Start a non-blocking connect to <dst>. Returns the fd (the connect is in
 * progress or done: wait for writability, then pc_sock_error()) or -errno.
 */
int pc_sock_connect(const struct pc_addr *dst);

/* SO_ERROR as a negative errno (0: none). */
int pc_sock_error(int fd);

/* Close <fd> so that the peer gets a RST rather than a FIN (SO_LINGER 0). */
void pc_sock_reset(int fd);

/*
 * SO_LINGER {<on>, 0}. With <on>, any close of <fd> - ours, or the
 * kernel's when the process dies (SIGKILL, a crash) - drops what is unsent
 * and resets the peer, so a relay cut short is an error at both ends, never
 * a clean end of stream. Clear it just before an orderly FIN or close, or
 * that close would drop the bytes still queued. One setsockopt(2); best
 * effort (a socket that refuses keeps the default: a FIN).
 */
void pc_sock_abort_on_close(int fd, bool on);

/* TCP_NODELAY on <fd> (best effort): a relay must not add Nagle delay. */
void pc_sock_nodelay(int fd);

#endif /* PC_NET_SOCK_H */
