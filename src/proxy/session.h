/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * proxy/session.h - one proxied connection, as a sequence of stages.
 *
 *   ACCEPTED -> [PREREAD] -> CLASSIFIED -> CONNECTING -> RELAY -> CLOSED
 *                                     \-> DENYING ------------/
 *
 * A session is one object from accept(2) to the last close(2), owned by
 * the worker whose loop runs it (proxy/worker.h); it never changes
 * thread. PREREAD happens only on ports whose snapshot needs a name
 * (pc_snapshot_port_needs_name()) and that are not server-first
 * (pc_deny_server_first()): the client's first flight is peeked
 * (MSG_PEEK), at most PC_PREREAD_MAX bytes for at most PC_PREREAD_MS, so
 * the upstream still gets byte 0. Elsewhere nothing is read before the
 * upstream connects. DENYING answers a denied client in its protocol
 * (proxy/deny.h) and drains it. doc/internals/session.md tells the whole
 * life cycle.
 *
 * Every function here runs on the worker's loop thread.
 */
#ifndef PC_PROXY_SESSION_H
#define PC_PROXY_SESSION_H

#include "proxy/sniff.h"

struct pc_addr;
struct pc_worker;

/* The most bytes the preread stage peeks: a whole ClientHello in up to 8 records. */
#define PC_PREREAD_MAX (PC_SNIFF_HELLO_MAX + 4 + 8 * 5)

/* How long the preread stage waits for a name before the address alone decides. */
#define PC_PREREAD_MS 2000u

/*
 * A connection accepted on one of <w>'s listeners: <fd> (taken; closed
 * by the session, or at once when out of memory) from <client>. Finds the
 * original destination (SO_ORIGINAL_DST; a connection that was not
 * redirected dialled the proxy port itself and is denied, the loop guard)
 * and starts the session.
 */
void pc_session_accept(struct pc_worker *w, int fd, const struct pc_addr *client);

/*
 * The same from an fd already accepted and a destination already known:
 * <orig_dst> is where the client meant to go, NULL when the connection was
 * not redirected. This is the seam the unit tests use (a socket of any
 * family; no listener, no iptables). <fd> must be non-blocking and
 * close-on-exec; it is taken.
 */
void pc_session_start(struct pc_worker *w, int fd, const struct pc_addr *client,
		      const struct pc_addr *orig_dst);

/*
 * Close every session of <w>, whatever its stage: connecting and relaying
 * ones with a reset, denials still answering with a reset unless their
 * answer is out (worker stop, drain deadline).
 */
void pc_session_close_all(struct pc_worker *w);

/*
 * Re-classify every live session of <w> (connecting or relaying) against
 * w->snap, which the worker has just adopted, on its original destination
 * and the name it was classified with. A session the snapshot still allows
 * (any cluster but the BlackHoleCluster) is left alone: same upstream,
 * same cluster, and a pending revocation is called off. A denied one is
 * revoked: reset on both sides with its access-log record saying
 * "portcullis_policy_revoked" (PC_TERM_POLICY_REVOKED), at once when
 * cfg->revoke_grace_ms is 0, else when the grace expires and the snapshot
 * current then still denies it. A session already in its grace keeps its
 * first deadline. One pc_snapshot_classify() per session. Sessions still
 * prereading are classified later, against the snapshot current then.
 */
void pc_session_recheck_all(struct pc_worker *w);

/*
 * Add the bytes that open sessions moved since the last report to their
 * series and clusters (the --tcp-reporting-interval timer).
 */
void pc_session_report_all(struct pc_worker *w);

#endif /* PC_PROXY_SESSION_H */
