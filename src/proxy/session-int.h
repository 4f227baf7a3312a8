/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * proxy/session-int.h - the session object, shared by the files of the
 * session: session.c (the stages) and session_http.c (the HTTP/1 relay of
 * an HTTP port). Nothing outside proxy/session*.c includes this.
 */
#ifndef PC_PROXY_SESSION_INT_H
#define PC_PROXY_SESSION_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/loop.h"
#include "net/addr.h"
#include "net/xprt.h"
#include "policy/snapshot.h"
#include "proxy/deny.h"
#include "proxy/flow.h"
#include "proxy/stats.h"

struct pc_http;
struct pc_rt_name;
struct pc_worker;

enum stage {
	ST_ACCEPTED,
	ST_PREREAD,
	ST_CLASSIFIED,
	ST_CONNECTING,
	ST_DENYING,
	ST_RELAY,
	ST_CLOSED,
};

/* The DENYING stage's phases (doc/internals/session.md). */
enum deny_phase {
	DP_SNIFF, /* wait for the first bytes that choose the answer */
	DP_WRITE, /* the answer waits for room in the socket buffer */
	DP_DRAIN, /* answer and FIN sent: discard input until the client closes */
};

struct pc_session {
	struct pc_worker *w;
	struct pc_session *prev, *next; /* in w->sessions once connecting, else w->staging */
	uint64_t id;
	atomic_uint stage;         /* enum stage; the admin thread derives its view from it */
	atomic_bool revoking;      /* in the grace of a revocation */
	enum deny_phase dphase;
	struct pc_io down;         /* the client */
	struct pc_io up;           /* the upstream */
	struct pc_xprt downx, upx; /* their transports */
	struct pc_flow d2u;
	struct pc_flow u2d;
	struct pc_timer timer;    /* the stage's deadline: preread, denial, connect, idle */
	struct pc_timer duration; /* maxConnectionDuration */
	struct pc_timer revoke;   /* armed while a policy change denies it (grace) */
	struct pc_timer flush;    /* --access-log-flush-interval */
	struct pc_defer reap;
	struct pc_snapshot *snap; /* pinned: the cluster lives in it */
	const struct pc_cluster *cluster;
	char *name;               /* the SNI or Host the preread found, or NULL */
	enum pc_transport transport; /* what the preread found (UNKNOWN: nothing read) */
	uint32_t pick;            /* the draw among weighted routes, fixed for the session */
	struct pc_rt_name *dyn;   /* DYNAMIC_DNS: the name's answers (a reference) */
	struct pc_http *http;     /* an HTTP port's request-by-request relay, NULL: the flows */
	pc_counter http_rx, http_tx; /* bytes that relay moved (flows count their own); admin reads */
	uint64_t dyn_deadline;    /* DYNAMIC_DNS: stop waiting for the first answer then */
	struct pc_addr client, orig_dst, upstream, upstream_local;
	uint64_t start_mono, start_wall, last_activity;
	uint64_t deadline;        /* preread / denial sniff: when to stop waiting */
	const char *flags;
	const char *termination;  /* connection termination details, or NULL */
	struct pc_deny_reply reply;
	size_t seen;              /* bytes the last peek found */
	size_t outoff;            /* bytes of the denial's answer sent */
	size_t drained;           /* bytes discarded after it */
	bool redirected;          /* false: the proxy port was dialled (loop guard) */
	bool prereaded;           /* <reply> was chosen from a preread */
	bool paused;              /* reading paused for PAUSE_MS (see peek_first()) */
	bool lowat;               /* SO_RCVLOWAT raised on the client socket */
	bool deny_log;            /* the first denial of this destination lately */
	bool deny_recorded;
	bool accounted;           /* counted closed and access-logged */
	bool counted;             /* holds one of the cluster's maxConnections slots */
	bool linked;              /* in w->sessions (else in w->staging) */
	bool bad_request;         /* the preread's request head is refused as malformed */
	size_t preread_len;       /* bytes the preread left in w->scratch */
	struct pc_stat_cluster *sc;    /* NULL: --stats off (or out of memory) */
	struct pc_stat_series *series; /* flags "-": counted opened at connect */
	uint64_t rep_rx, rep_tx;       /* bytes already added to the counters */
};

static inline enum stage stage_of(const struct pc_session *s)
{
	return (enum stage)atomic_load_explicit(&s->stage, memory_order_relaxed);
}

static inline void set_stage(struct pc_session *s, enum stage st)
{
	atomic_store_explicit(&s->stage, st, memory_order_relaxed);
}

/* session.c */

/* End <s>: account, close both sockets (a RST when <reset>), free it after this batch. */
void pc_sess_close(struct pc_session *s, const char *flags, bool reset);

/*
 * Send our FIN on <x> (one of <s>'s transports) once everything before it
 * is written: SO_LINGER back to the default first, as the sockets of a
 * session reset on close until an orderly end (a crash must reset them).
 */
void pc_sess_shutdown(struct pc_session *s, struct pc_xprt *x);

/* Recompute the interest in both sockets from the flows (RELAY); -errno. */
int pc_sess_update_interest(struct pc_session *s);

/*
 * Refuse what the client asks now, after a relay: the upstream is closed,
 * the answer in s->reply is recorded and written, then FIN and drain, as
 * a denial from the start is (the DENYING stage).
 */
void pc_sess_deny_late(struct pc_session *s);

/* The cluster <snap> gives the session's destination with <transport> and <name>. */
const struct pc_cluster *pc_sess_match(const struct pc_session *s, const struct pc_snapshot *snap,
				       enum pc_transport transport, const char *name);

/* session_http.c */

/* Whether <s>, classified, relays through the HTTP/1 filter (an HTTP cluster, an HTTP client). */
bool pc_sess_http_wanted(const struct pc_session *s);

/*
 * The preread saw the first request head of <s> in <p>, <n> bytes: 1 when
 * the HTTP/1 filter refuses it already (malformed, smuggling-shaped: 400
 * or 431; h2c: 403), with s->reply set for the answer, so that the
 * connection is refused before any upstream is dialled; else 0.
 */
int pc_sess_http_precheck(struct pc_session *s, const uint8_t *p, size_t n);

/* Start the HTTP/1 relay of <s> (RELAY): 0, or -ENOMEM. */
int pc_sess_http_start(struct pc_session *s);

/* Move bytes of an HTTP session; closes or refuses it when that is the outcome. */
void pc_sess_http_relay(struct pc_session *s);

/* The bytes an HTTP session moved outside its flows: from the client, to the client. */
uint64_t pc_sess_http_rx(const struct pc_session *s);
uint64_t pc_sess_http_tx(const struct pc_session *s);

/* Free the HTTP state of <s> (its pending requests are logged as cut short). */
void pc_sess_http_free(struct pc_session *s);

#endif /* PC_PROXY_SESSION_INT_H */
