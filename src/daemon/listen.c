/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * daemon/listen.c - the proxy port's listeners, one proxy per pod.
 *
 * Why a lock before the port: the listeners use SO_REUSEPORT so that every
 * worker has its own, and the kernel lets any other socket of the same
 * owner join that group; two `portcullis run` in one pod, both started as
 * root, would silently split the captured connections between two
 * policies. The pod lock is a listening abstract Unix socket: abstract
 * names belong to the network namespace (unix(7)), the kernel frees the
 * name when the daemon dies however it dies, and a second daemon that
 * connects to it learns the holder's pid from SO_PEERCRED, which the
 * kernel records at listen() time. Nobody accepts on it; a connection
 * only serves to ask who is there.
 *
 * Why loopback and IP_TRANSPARENT: see daemon/listen.h and doc/proxy.md.
 * Why "address in use" is a security event: with the lock held, no other
 * portcullis has the port, so whoever holds it is a process of the pod
 * that would receive the pod's captured connections; the owner is found by
 * its socket's inode (/proc/net/tcp{,6}, then /proc/PID/fd) and named.
 */
#include "daemon/listen.h"

#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/log.h"
#include "net/addr.h"
#include "net/proctcp.h"
#include "net/sock.h"

#define LOCK_BACKLOG 64

/* A process found to hold something: what the log names. */
struct owner {
	long pid;      /* -1: not found (another pid namespace, or gone) */
	long uid;      /* -1: unknown */
	char comm[32]; /* "?" when unknown */
};

/* <v> as text, "unknown" when negative. */
static const char *id_str(long v, char buf[24])
{
	if (v < 0)
		return "unknown";
	snprintf(buf, 24, "%ld", v);
	return buf;
}

void pc_proxy_listeners_init(struct pc_proxy_listeners *pl)
{
	memset(pl, 0, sizeof(*pl));
	pl->lock_fd = -1;
}

void pc_proxy_lock_name(uint16_t port, char *buf, unsigned size)
{
	snprintf(buf, size, "portcullis/proxy/%u", (unsigned)port);
}

/* The command name of <pid> into <o>->comm ("?" if it cannot be read). */
static void read_comm(long pid, struct owner *o)
{
	char path[64];
	FILE *f;

	snprintf(o->comm, sizeof(o->comm), "?");
	snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
	f = fopen(path, "re");
	if (!f)
		return;
	if (fgets(o->comm, sizeof(o->comm), f))
		o->comm[strcspn(o->comm, "\n")] = '\0';
	fclose(f);
}

/* Fill <addr> with the abstract name of <port>'s lock; returns its length. */
static socklen_t lock_addr(uint16_t port, struct sockaddr_un *addr)
{
	memset(addr, 0, sizeof(*addr));
	addr->sun_family = AF_UNIX;
	/* sun_path[0] stays NUL: abstract; the name is not NUL-terminated */
	pc_proxy_lock_name(port, addr->sun_path + 1, sizeof(addr->sun_path) - 1);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(addr->sun_path + 1));
}

/*
 * Who listens on the lock: connect (non-blocking: a full backlog must not
 * hang the start) and read the listener's credentials.
 */
static void lock_holder(const struct sockaddr_un *addr, socklen_t len, struct owner *o)
{
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	int fd;

	o->pid = o->uid = -1;
	snprintf(o->comm, sizeof(o->comm), "?");
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return;
	if (connect(fd, (const struct sockaddr *)addr, len) == 0 &&
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) == 0 && cred.pid > 0) {
		o->pid = cred.pid;
		o->uid = cred.uid;
		read_comm(o->pid, o);
	}
	close(fd);
}

static int take_lock(uint16_t port, int *out)
{
	struct sockaddr_un addr;
	socklen_t len = lock_addr(port, &addr);
	char pidbuf[24], uidbuf[24];
	struct owner o;
	int fd, ret;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -errno;
	if (bind(fd, (struct sockaddr *)&addr, len) == 0 && listen(fd, LOCK_BACKLOG) == 0) {
		*out = fd;
		return 0;
	}
	ret = -errno;
	close(fd);
	if (ret != -EADDRINUSE) {
		pc_log(PC_LOG_ERR, "cannot take the pod lock of the proxy port", "port=%u err=%s",
		       (unsigned)port, strerror(-ret));
		return ret;
	}
	lock_holder(&addr, len, &o);
	/* Anyone may bind an abstract name: one that is not ours is a squatter, say so. */
	if (o.pid > 0 && strcmp(o.comm, "portcullis") != 0)
		pc_log(PC_LOG_ERR,
		       "the pod lock of the proxy port is held by a process that is not "
		       "portcullis: "
		       "not starting",
		       "port=%u pid=%s uid=%s comm=%s lock=@%s hint=%s", (unsigned)port,
		       id_str(o.pid, pidbuf), id_str(o.uid, uidbuf), o.comm, addr.sun_path + 1,
		       "find out why that process holds the name, stop it, then start portcullis");
	else
		pc_log(PC_LOG_ERR,
		       "another portcullis run already serves this proxy port in this network "
		       "namespace",
		       "port=%u pid=%s uid=%s comm=%s lock=@%s hint=%s", (unsigned)port,
		       id_str(o.pid, pidbuf), id_str(o.uid, uidbuf), o.comm, addr.sun_path + 1,
		       "one proxy per pod: stop the other run, or give this one another "
		       "--proxy-port (and 'portcullis iptables --proxy-port' to match)");
	return ret;
}

/*
 * A socket bound to <port> in /proc/net/tcp, or tcp6 when <v6> (this
 * network namespace's): its inode and owner uid into <inode> and <uid>.
 * Returns true when it is a listening one; a bound one that does not
 * listen is left in <inode> when there is no listening one.
 */
static bool find_port_inode(bool v6, uint16_t port, unsigned long *inode, long *uid)
{
	char line[512];
	bool listening = false;
	FILE *f = fopen(v6 ? "/proc/net/tcp6" : "/proc/net/tcp", "re");

	if (!f)
		return false;
	while (!listening && fgets(line, sizeof(line), f)) {
		struct pc_tcp_row r;

		if (!pc_tcp_row_parse(line, v6, &r) || r.local.port != port || r.inode == 0)
			continue;
		*inode = r.inode;
		*uid = (long)r.uid;
		listening = r.state == PC_TCP_LISTEN;
	}
	fclose(f);
	return listening;
}

/* Does a descriptor of process <pid> (a /proc entry name) refer to <want>? */
static bool pid_has_socket(const char *pid, const char *want)
{
	char path[600], link[64];
	struct dirent *e;
	bool found = false;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%s/fd", pid);
	d = opendir(path);
	if (!d)
		return false;
	while (!found && (e = readdir(d))) {
		ssize_t n;

		snprintf(path, sizeof(path), "/proc/%s/fd/%s", pid, e->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = '\0';
		found = strcmp(link, want) == 0;
	}
	closedir(d);
	return found;
}

/* The process that holds socket <inode>, by its descriptors (needs root). */
static long find_socket_pid(unsigned long inode)
{
	char want[48];
	struct dirent *e;
	long pid = -1;
	DIR *d;

	snprintf(want, sizeof(want), "socket:[%lu]", inode);
	d = opendir("/proc");
	if (!d)
		return -1;
	while (pid < 0 && (e = readdir(d))) {
		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		if (pid_has_socket(e->d_name, want))
			pid = strtol(e->d_name, NULL, 10);
	}
	closedir(d);
	return pid;
}

/* Log the process that holds <port> (bind() said EADDRINUSE on <addr>). */
static void report_port_owner(uint16_t port, const char *addr)
{
	struct owner o = { .pid = -1, .uid = -1, .comm = "?" };
	char pidbuf[24], uidbuf[24];
	unsigned long inode = 0;

	if (find_port_inode(false, port, &inode, &o.uid) ||
	    find_port_inode(true, port, &inode, &o.uid) || inode)
		o.pid = find_socket_pid(inode);
	if (o.pid > 0)
		read_comm(o.pid, &o);
	pc_log(PC_LOG_ERR,
	       "the proxy port is held by another process, which would receive captured "
	       "connections: not starting",
	       "port=%u addr=%s pid=%s uid=%s comm=%s inode=%lu hint=%s", (unsigned)port, addr,
	       id_str(o.pid, pidbuf), id_str(o.uid, uidbuf), o.comm, inode,
	       "a process of the pod took the proxy port while portcullis was not running; "
	       "find out why, stop it, then start portcullis");
}

/* Mark <fd> IP_TRANSPARENT (IPV6_TRANSPARENT): see daemon/listen.h. */
static int set_transparent(int fd, int family)
{
	int one = 1;

	if (family == AF_INET6)
		return setsockopt(fd, SOL_IPV6, IPV6_TRANSPARENT, &one, sizeof(one)) == -1 ? -errno
											   : 0;
	return setsockopt(fd, SOL_IP, IP_TRANSPARENT, &one, sizeof(one)) == -1 ? -errno : 0;
}

/* One listener on the loopback address of <family>; *<tp> cleared if not transparent. */
static int listen_loopback(int family, uint16_t port, bool *tp, int *terr)
{
	struct pc_addr lo = { .family = (uint8_t)family, .port = port };
	int fd, ret;

	if (family == AF_INET) {
		lo.bytes[0] = 127;
		lo.bytes[3] = 1;
	} else {
		lo.bytes[15] = 1;
	}
	fd = pc_sock_listen(&lo, 4096);
	if (fd < 0)
		return fd;
	ret = set_transparent(fd, family);
	if (ret < 0) {
		*tp = false;
		*terr = ret;
	}
	return fd;
}

/*
 * One listener on 127.0.0.1 or ::1 (<af>), saying why not, except for the
 * -EAFNOSUPPORT or -EADDRNOTAVAIL of ::1: no IPv6, or no ::1 in the pod,
 * so nothing to capture there.
 */
static int listen_one(int af, uint16_t port, struct pc_proxy_listeners *pl, int *terr)
{
	const char *addr = af == AF_INET ? "127.0.0.1" : "::1";
	int fd = listen_loopback(af, port, &pl->transparent, terr);

	if (fd == -EADDRINUSE)
		report_port_owner(port, addr);
	else if (af == AF_INET6 && (fd == -EAFNOSUPPORT || fd == -EADDRNOTAVAIL))
		return fd;
	else if (fd == -EADDRNOTAVAIL)
		pc_log(PC_LOG_ERR, "cannot listen on the proxy port: no 127.0.0.1 here",
		       "port=%u hint=%s", (unsigned)port,
		       "bring the loopback interface up (ip link set lo up)");
	else if (fd < 0)
		pc_log(PC_LOG_ERR, "cannot listen", "port=%u addr=%s err=%s", (unsigned)port, addr,
		       strerror(-fd));
	return fd;
}

static int listen_pairs(uint16_t port, struct pc_proxy_listeners *pl, int *terr)
{
	bool v6 = true; /* until ::1 turns out missing: then for no worker */
	unsigned i;
	int fd;

	for (i = 0; i < pl->n; i++) {
		fd = listen_one(AF_INET, port, pl, terr);
		if (fd < 0)
			return fd;
		pl->fd4[i] = fd;
		fd = v6 ? listen_one(AF_INET6, port, pl, terr) : -EAFNOSUPPORT;
		if (fd == -EAFNOSUPPORT || fd == -EADDRNOTAVAIL) {
			v6 = false;
			continue;
		}
		if (fd < 0)
			return fd;
		pl->fd6[i] = fd;
	}
	return 0;
}

int pc_proxy_lock(uint16_t port, struct pc_proxy_listeners *pl)
{
	return pl->lock_fd >= 0 ? 0 : take_lock(port, &pl->lock_fd);
}

int pc_proxy_listen(uint16_t port, unsigned n, struct pc_proxy_listeners *pl)
{
	unsigned i;
	int ret, terr = 0;

	ret = pc_proxy_lock(port, pl);
	if (ret < 0)
		return ret;
	pl->fd4 = pc_calloc(n ? n : 1, sizeof(*pl->fd4));
	pl->fd6 = pc_calloc(n ? n : 1, sizeof(*pl->fd6));
	if (!pl->fd4 || !pl->fd6)
		return -ENOMEM;
	pl->n = n;
	for (i = 0; i < n; i++)
		pl->fd4[i] = pl->fd6[i] = -1;
	pl->transparent = true;
	ret = listen_pairs(port, pl, &terr);
	if (ret == 0 && !pl->transparent)
		pc_log(PC_LOG_ERR,
		       "cannot make the proxy listeners IP_TRANSPARENT: the guard of 'portcullis "
		       "iptables' will refuse every captured connection",
		       "port=%u err=%s hint=%s", (unsigned)port, strerror(-terr),
		       "start portcullis run as root (or with CAP_NET_ADMIN); it drops to "
		       "--proxy-uid once its sockets are bound");
	return ret;
}

void pc_proxy_listeners_release(struct pc_proxy_listeners *pl)
{
	unsigned i;

	for (i = 0; i < pl->n; i++) {
		if (pl->fd4[i] >= 0)
			close(pl->fd4[i]);
		if (pl->fd6[i] >= 0)
			close(pl->fd6[i]);
	}
	free(pl->fd4);
	free(pl->fd6);
	if (pl->lock_fd >= 0)
		close(pl->lock_fd);
	pc_proxy_listeners_init(pl);
}
