/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * daemon/listen.h - the proxy port's listeners, one proxy per pod.
 *
 * pc_proxy_listen() first takes the pod lock of the port: a listening
 * abstract Unix socket named "portcullis/proxy/PORT". Abstract names live
 * in the network namespace, so a second `portcullis run` with the same
 * port in the same pod finds it taken and refuses to start, naming the pid
 * that holds it (SO_PEERCRED), while a run in another pod is unaffected.
 * Only then are the per-worker SO_REUSEPORT listeners bound, on 127.0.0.1
 * and ::1 only: REDIRECT of locally generated traffic delivers there, and
 * hosts outside the pod cannot reach a loopback address.
 *
 * Each listener is made IP_TRANSPARENT (IPV6_TRANSPARENT), which needs
 * CAP_NET_ADMIN, so it must be called before the daemon drops root. The
 * guard that `portcullis iptables` installs in the filter table lets a
 * captured SYN reach only a socket with that flag: with the daemon down, an
 * unprivileged process of the pod that binds the port gets nothing
 * (doc/iptables.md). "Address in use" on the port therefore means another
 * process holds it, which is logged at err with its pid, uid and command.
 *
 * Called on the main thread at start; logs its own failures (the pod lock's
 * holder and the port's owner are only known here) and returns -errno.
 */
#ifndef PC_DAEMON_LISTEN_H
#define PC_DAEMON_LISTEN_H

#include <stdbool.h>
#include <stdint.h>

struct pc_proxy_listeners {
	int lock_fd;      /* the pod lock, -1 when not held */
	unsigned n;       /* workers */
	int *fd4;         /* [n] 127.0.0.1:PORT; set an entry to -1 once a worker took it */
	int *fd6;         /* [n] [::1]:PORT, -1 where the pod has no ::1 */
	bool transparent; /* IP_TRANSPARENT was set on every listener */
};

/* Nothing held: lock_fd -1, no listeners. */
void pc_proxy_listeners_init(struct pc_proxy_listeners *pl);

/*
 * Take the pod lock of <port> into <pl>, unless it holds it already: the
 * daemon does this first of all, before it makes its API socket or opens
 * its store, so a second run in the pod touches nothing of the first's.
 * Returns 0 or -EADDRINUSE (logged, naming the holder) or another -errno.
 */
int pc_proxy_lock(uint16_t port, struct pc_proxy_listeners *pl);

/*
 * Take the pod lock of <port> (if not held yet), then bind <n> listener pairs on it into
 * <pl> (which must be as after pc_proxy_listeners_init()). Returns 0, or
 * -EADDRINUSE (another run holds the lock, or another process the port),
 * -EADDRNOTAVAIL (no 127.0.0.1: lo is down), -ENOMEM or another -errno;
 * what it got so far stays in <pl> for pc_proxy_listeners_release().
 */
int pc_proxy_listen(uint16_t port, unsigned n, struct pc_proxy_listeners *pl);

/* Close every listener no worker took, then the pod lock; <pl> is as after init. */
void pc_proxy_listeners_release(struct pc_proxy_listeners *pl);

/* The pod lock's abstract name for <port> (without the leading NUL), into <buf>. */
void pc_proxy_lock_name(uint16_t port, char *buf, unsigned size);

#endif /* PC_DAEMON_LISTEN_H */
