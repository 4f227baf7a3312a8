/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * net/proctcp.h - the lines of /proc/net/tcp and /proc/net/tcp6 (proc(5)):
 * this network namespace's TCP sockets, with their state, owner and inode.
 * The CLI reads them to see whose listener it reached (cli/peer.h), the
 * daemon to name the process squatting its proxy port (daemon/listen.h).
 */
#ifndef PC_NET_PROCTCP_H
#define PC_NET_PROCTCP_H

#include <stdbool.h>
#include <stdint.h>

/* The kernel's TCP states of the "st" column (include/net/tcp_states.h). */
#define PC_TCP_ESTABLISHED 0x01
#define PC_TCP_SYN_RECV    0x03
#define PC_TCP_CLOSE_WAIT  0x08
#define PC_TCP_LISTEN      0x0a

/* An address as IPv6 (IPv4 as ::ffff:a.b.c.d, as a dual-stack socket sees it) and a port. */
struct pc_tcp_ep {
	uint8_t addr[16];
	uint16_t port;
};

/* One socket of a table. */
struct pc_tcp_row {
	struct pc_tcp_ep local, remote;
	unsigned state; /* PC_TCP_* */
	unsigned uid;   /* the socket's owner: who created it */
	unsigned long inode;
};

/* <out> = ::ffff:<v4> (4 bytes in network order). */
void pc_tcp_map_v4(uint8_t out[16], const void *v4);

/* Is <a> an IPv4-mapped address (::ffff:0:0/96)? */
bool pc_tcp_is_v4(const uint8_t a[16]);

/*
 * Parse one line of /proc/net/tcp (or tcp6 when <v6>):
 *   "sl: LOCAL:PORT REMOTE:PORT ST TX:RX TR:WHEN RETR UID TIMEOUT INODE ..."
 * each address the kernel's 32-bit words in hex, in host byte order (%08X
 * of the network-order word), ports and state in hex, uid and inode in
 * decimal. Returns false for the header line or anything odd.
 */
bool pc_tcp_row_parse(const char *line, bool v6, struct pc_tcp_row *r);

#endif /* PC_NET_PROCTCP_H */
