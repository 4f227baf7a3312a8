/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cli/peer.c - who owns the server end of a loopback TCP connection, from
 * /proc/net/tcp and /proc/net/tcp6 (see peer.h for why the listener's uid).
 *
 * A line of those tables is
 *   "sl: LOCAL:PORT REMOTE:PORT ST TX:RX TR:WHEN RETR UID TIMEOUT INODE ..."
 * with each address printed as the kernel's 32-bit words in hex, in host
 * byte order (%08X of the network-order word), and the ports in hex.
 */
#include "cli/peer.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"

/* The tables of a busy host are a few MiB; more is not a table. */
#define TABLE_MAX       (256u << 20)
/* The server end may show up a moment after connect() returned: 20 x 5 ms. */
#define LOOKUP_TRIES    20
#define LOOKUP_PAUSE_NS 5000000L

int pc_peer_ep_parse(struct pc_tcp_ep *ep, const char *ip, int port)
{
	struct in_addr a4;

	if (!ip || port < 0 || port > 65535)
		return -EINVAL;
	ep->port = (uint16_t)port;
	if (inet_pton(AF_INET, ip, &a4) == 1) {
		pc_tcp_map_v4(ep->addr, &a4);
		return 0;
	}
	return inet_pton(AF_INET6, ip, ep->addr) == 1 ? 0 : -EINVAL;
}

bool pc_peer_is_loopback(const struct pc_tcp_ep *ep)
{
	static const uint8_t lo6[16] = { [15] = 1 };

	return (pc_tcp_is_v4(ep->addr) && ep->addr[12] == 127) || memcmp(ep->addr, lo6, 16) == 0;
}

static bool same_ep(const struct pc_tcp_ep *a, const struct pc_tcp_ep *b)
{
	return a->port == b->port && memcmp(a->addr, b->addr, 16) == 0;
}

/* Can a listener bound to <l> have accepted a connection to <server>? */
static bool listener_takes(const struct pc_tcp_ep *l, const struct pc_tcp_ep *server)
{
	static const uint8_t any6[16];
	uint8_t any4[16];

	if (l->port != server->port)
		return false;
	pc_tcp_map_v4(any4, (const uint8_t[4]){ 0 });
	/* "::" takes IPv4 too unless IPV6_V6ONLY, which the table does not show: count it. */
	return memcmp(l->addr, server->addr, 16) == 0 || memcmp(l->addr, any6, 16) == 0 ||
	       (pc_tcp_is_v4(server->addr) && memcmp(l->addr, any4, 16) == 0);
}

static void add_row(const struct pc_tcp_row *r, const struct pc_tcp_ep *server,
		    const struct pc_tcp_ep *local, struct pc_peer_info *info)
{
	if (r->state == PC_TCP_LISTEN) {
		if (!listener_takes(&r->local, server))
			return;
		if (info->nlisten++ == 0)
			info->listen_uid = r->uid;
		else if (r->uid != info->listen_uid && !info->listen_mixed) {
			info->listen_mixed = true;
			info->other_uid = r->uid;
		}
		return;
	}
	/* TIME_WAIT and the like show uid 0 whoever owned them: only live ends count. */
	if ((r->state == PC_TCP_ESTABLISHED || r->state == PC_TCP_SYN_RECV ||
	     r->state == PC_TCP_CLOSE_WAIT) &&
	    same_ep(&r->local, server) && same_ep(&r->remote, local)) {
		info->conn_found = true;
		info->conn_uid = r->uid;
	}
}

void pc_peer_scan(const char *text, bool v6, const struct pc_tcp_ep *server,
		  const struct pc_tcp_ep *local, struct pc_peer_info *info)
{
	const char *p = text;
	struct pc_tcp_row r;

	while (p && *p) {
		if (pc_tcp_row_parse(p, v6, &r))
			add_row(&r, server, local, info);
		p = strchr(p, '\n');
		if (p)
			p++;
	}
}

int pc_peer_verdict(const struct pc_peer_info *info, unsigned owner, unsigned *bad_uid)
{
	if (!info->conn_found)
		return -ENOENT;
	if (info->nlisten == 0)
		return -ENOTCONN;
	if (info->listen_uid != owner || (info->listen_mixed && info->other_uid != owner)) {
		*bad_uid = info->listen_uid != owner ? info->listen_uid : info->other_uid;
		return -EPERM;
	}
	return 0;
}

/* Scan the table at <path> into <info>. Returns 0 or -errno (-ENOENT: no such table). */
static int scan_file(const char *path, bool v6, const struct pc_tcp_ep *server,
		     const struct pc_tcp_ep *local, struct pc_peer_info *info)
{
	char *text;
	size_t len;
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		return -errno;
	ret = pc_read_all(fd, TABLE_MAX, &text, &len);
	close(fd);
	if (ret < 0)
		return ret;
	pc_peer_scan(text, v6, server, local, info);
	free(text);
	return 0;
}

int pc_peer_lookup(const struct pc_tcp_ep *server, const struct pc_tcp_ep *local,
		   struct pc_peer_info *info)
{
	struct timespec pause = { 0, LOOKUP_PAUSE_NS };
	int i;

	for (i = 0; i < LOOKUP_TRIES; i++) {
		int ret;

		memset(info, 0, sizeof(*info));
		ret = scan_file("/proc/net/tcp", false, server, local, info);
		if (ret < 0)
			return ret;
		/* IPv4 connections to a dual-stack listener are in tcp6; no IPv6: no tcp6. */
		ret = scan_file("/proc/net/tcp6", true, server, local, info);
		if (ret < 0 && ret != -ENOENT)
			return ret;
		if (info->conn_found)
			return 0;
		nanosleep(&pause, NULL);
	}
	return 0;
}
