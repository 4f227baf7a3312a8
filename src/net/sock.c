/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * net/sock.c - socket helpers.
 *
 * SO_ORIGINAL_DST is the netfilter getsockopt that returns the pre-NAT
 * destination of a REDIRECTed IPv4 connection; IP6T_SO_ORIGINAL_DST (same
 * number, 80) is its IPv6 twin on SOL_IPV6 (see linux/netfilter_ipv4.h and
 * linux/netfilter_ipv6/ip6_tables.h). Without a conntrack entry the call
 * fails with ENOENT.
 */
#include "net/sock.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/addr.h"

#ifndef SO_ORIGINAL_DST
#define SO_ORIGINAL_DST 80
#endif
#ifndef IP6T_SO_ORIGINAL_DST
#define IP6T_SO_ORIGINAL_DST 80
#endif

int pc_sock_listen(const struct pc_addr *addr, int backlog)
{
	struct sockaddr_storage ss;
	socklen_t len = pc_addr_to_sockaddr(addr, &ss);
	int fd, one = 1, ret;

	fd = socket(addr->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
	if (fd == -1)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) == -1)
		goto fail;
	if (addr->family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) == -1)
		goto fail;
	if (bind(fd, (struct sockaddr *)&ss, len) == -1 || listen(fd, backlog) == -1)
		goto fail;
	return fd;
fail:
	ret = -errno;
	close(fd);
	return ret;
}

int pc_sock_accept(int lfd, struct pc_addr *peer)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int fd;

	fd = accept4(lfd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd == -1)
		return -errno;
	if (pc_addr_from_sockaddr((struct sockaddr *)&ss, peer) < 0)
		memset(peer, 0, sizeof(*peer));
	return fd;
}

int pc_sock_original_dst(int fd, struct pc_addr *dst)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	struct pc_addr local = { 0 };
	int ret;

	ret = pc_sock_local(fd, &local);
	if (ret < 0)
		return ret;
	memset(&ss, 0, sizeof(ss));
	if (local.family == AF_INET6)
		ret = getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, &ss, &len);
	else
		ret = getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &ss, &len);
	if (ret == -1)
		return -errno;
	return pc_addr_from_sockaddr((struct sockaddr *)&ss, dst);
}

int pc_sock_local(int fd, struct pc_addr *local)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1)
		return -errno;
	return pc_addr_from_sockaddr((struct sockaddr *)&ss, local);
}

int pc_sock_connect(const struct pc_addr *dst)
{
	struct sockaddr_storage ss;
	socklen_t len = pc_addr_to_sockaddr(dst, &ss);
	int fd, ret;

	fd = socket(dst->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
	if (fd == -1)
		return -errno;
	if (connect(fd, (struct sockaddr *)&ss, len) == -1 && errno != EINPROGRESS) {
		ret = -errno;
		close(fd);
		return ret;
	}
	pc_sock_nodelay(fd);
	return fd;
}

int pc_sock_error(int fd)
{
	socklen_t len = sizeof(int);
	int err = 0;

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		return -errno;
	return -err;
}

void pc_sock_abort_on_close(int fd, bool on)
{
	struct linger lg = { on ? 1 : 0, 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
}

void pc_sock_reset(int fd)
{
	pc_sock_abort_on_close(fd, true);
	close(fd);
}

void pc_sock_nodelay(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}
