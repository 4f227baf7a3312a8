/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cli/peer.h - who owns the server end of a loopback TCP connection.
 *
 * Before the CLI sends the daemon's bearer token over loopback TCP it checks
 * that the port it reached is the daemon's: an unprivileged process in the
 * pod may have bound the admin port while the daemon was down. The kernel
 * shows every socket of the network namespace, with its uid, in
 * /proc/net/tcp and /proc/net/tcp6. The uid that tells who listens is the
 * listening socket's (the user that created it): an accepted socket shows
 * the uid of the process that called accept() (the daemon after it dropped
 * to the proxy user), and before accept() the listener's.
 *
 * The parsing is pure (a text in, counts out) so that it is unit-tested
 * with fixed tables; pc_peer_lookup() reads the live files.
 */
#ifndef PC_CLI_PEER_H
#define PC_CLI_PEER_H

#include <stdbool.h>
#include <stdint.h>

#include "net/proctcp.h"

/* What a /proc/net/tcp table says about one connection (see pc_peer_scan()). */
struct pc_peer_info {
	bool conn_found;     /* the server end of the connection is a socket here */
	unsigned conn_uid;   /* its uid */
	unsigned nlisten;    /* listening sockets that can have accepted it */
	unsigned listen_uid; /* the uid of the first one */
	bool listen_mixed;   /* some have another uid: then <other_uid> */
	unsigned other_uid;
};

/*
 * Parse <ep> from the text addresses libcurl reports ("127.0.0.1", "::1")
 * and <port>. Returns 0 or -EINVAL.
 */
int pc_peer_ep_parse(struct pc_tcp_ep *ep, const char *ip, int port);

/* 127.0.0.0/8, ::1 or ::ffff:127.0.0.0/104. */
bool pc_peer_is_loopback(const struct pc_tcp_ep *ep);

/*
 * Add to <info> what the table <text> (/proc/net/tcp, or /proc/net/tcp6
 * when <v6>) says about the connection from <local> to <server>: the line
 * whose local address is <server> and remote address <local>, and the
 * listening sockets on <server>'s port bound to its address or to the
 * wildcard address. Lines that do not parse are skipped. <info> starts
 * zeroed; call once per table.
 */
void pc_peer_scan(const char *text, bool v6, const struct pc_tcp_ep *server,
		  const struct pc_tcp_ep *local, struct pc_peer_info *info);

/*
 * The verdict on <info> for a server that must belong to <owner>: 0 when
 * the connection's server end was found and every listener that can have
 * accepted it belongs to <owner>; -ENOENT (not found: not a local socket,
 * or redirected), -ENOTCONN (no listener left), -EPERM (a listener of
 * another uid: in <*bad_uid>).
 */
int pc_peer_verdict(const struct pc_peer_info *info, unsigned owner, unsigned *bad_uid);

/*
 * Read /proc/net/tcp and /proc/net/tcp6 and fill <info> for the connection
 * from <local> to <server>, retrying for a few milliseconds while the
 * server end is not in the table yet. Returns 0 or -errno (the files could
 * not be read).
 */
int pc_peer_lookup(const struct pc_tcp_ep *server, const struct pc_tcp_ep *local,
		   struct pc_peer_info *info);

#endif /* PC_CLI_PEER_H */
