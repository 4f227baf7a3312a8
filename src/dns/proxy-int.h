/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dns/proxy-int.h - the DNS proxy's insides, shared by proxy.c (thread,
 * clients, registry), forward.c (upstreams) and stats.c (counters).
 * Everything here belongs to the DNS thread, except the counters.
 */
#ifndef PC_DNS_PROXY_INT_H
#define PC_DNS_PROXY_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/log.h"
#include "core/loop.h"
#include "dns/msg.h"
#include "dns/proxy.h"
#include "net/accept.h"

#define DNS_TRIES 2 /* forwarding tries of a query, each to the next upstream */

struct dns_conn;

enum dns_state {
	DNS_NEW,
	DNS_PARKED,       /* the registry said PENDING */
	DNS_UPSTREAM_UDP, /* waiting for an upstream's datagram */
	DNS_UPSTREAM_TCP, /* connecting, writing or reading over TCP */
};

/* A query in flight, from its arrival to its reply. */
struct dns_query {
	struct dns_query *next, *prev; /* in proxy->queries */
	struct pc_dns_proxy *p;
	struct pc_dns_query q;
	uint8_t *msg; /* the client's bytes, forwarded as they are (id aside) */
	size_t len;
	uint64_t t0_us;        /* arrival, for the latency histogram */
	uint64_t deadline;     /* loop ms: SERVFAIL then, whatever the state */
	bool tcp;              /* came over TCP */
	struct dns_conn *conn; /* its TCP client; NULL once that one is gone */
	int lfd;               /* UDP: the listener it came on */
	struct pc_addr client; /* UDP: whom to answer */
	enum dns_state state;
	struct pc_timer timer;
	/* forwarding */
	unsigned tries;
	size_t start;    /* the upstream of the first try */
	size_t up;       /* index of the upstream of the current try */
	uint16_t up_id;  /* the random id of the current try */
	struct pc_io io; /* the current try's socket, fd -1 between tries */
	uint8_t *ubuf;   /* TCP: the framed query, then the framed answer */
	size_t uoff, ulen;
	bool sent;
};

/* A frame waiting to be written to a TCP client. */
struct dns_frame {
	struct dns_frame *next;
	size_t len;
	uint8_t data[];
};

struct dns_conn {
	struct dns_conn *next, *prev; /* in proxy->conns */
	struct pc_dns_proxy *p;
	struct pc_io io;
	struct pc_addr peer;
	struct pc_timer idle;
	uint8_t hdr[2];
	size_t hoff;
	uint8_t *in; /* the message being read, <inlen> long once the header is in */
	size_t inlen, inoff;
	struct dns_frame *out, *out_tail;
	size_t out_off;    /* bytes of <out> written */
	unsigned inflight; /* queries of this client not answered yet */
	unsigned nout;     /* frames in <out>: with <inflight>, what the client may have */
	bool eof;          /* the client half-closed: finish, then close */
};

/* The counters, written by the DNS thread, read by any. */
struct dns_counters {
	atomic_uint_fast64_t queries_udp, queries_tcp, registry, forwarded, policy_nxdomain,
		servfail, upstream_timeouts, upstream_errors, upstream_mismatch, truncation_retries,
		malformed, overload, over, sum_us;
	atomic_uint_fast64_t bucket[PC_DNS_NBUCKETS];
};

struct pc_dns_proxy {
	struct pc_loop *loop;
	pthread_t thread;
	atomic_bool stopping;
	struct pc_dns_sockets socks;
	struct pc_io udp[PC_DNS_LISTEN_MAX], tcp[PC_DNS_LISTEN_MAX];
	struct pc_accept_guard guard; /* the TCP listeners out of fds: reset the backlog, pause */
	struct pc_addr up[PC_DNS_UPSTREAM_MAX];
	size_t nup;
	size_t prefer; /* the upstream first tries go to: the next one after a failure */
	bool registry_only;
	uint64_t timeout_ms, tcp_idle_ms;
	unsigned max_inflight, max_tcp_conns;
	pc_dns_lookup_fn *lookup;
	void *data;
	struct dns_query *queries;
	unsigned inflight;
	unsigned parked; /* of <inflight>, DNS_PARKED: at most a quarter of max_inflight */
	struct dns_conn *conns;
	unsigned nconns;
	struct dns_counters c;
	struct pc_ratelimit rl;          /* warnings about upstreams and clients */
	uint8_t in[PC_DNS_TCP_MAX + 2];  /* datagrams read */
	uint8_t out[PC_DNS_TCP_MAX + 2]; /* replies built */
};

#define DNS_INC(p, field) atomic_fetch_add_explicit(&(p)->c.field, 1, memory_order_relaxed)

/* proxy.c */
void dns_reply(struct dns_query *q, unsigned rcode, bool aa, const struct pc_dns_answer *ans);
void dns_deliver(struct dns_query *q, uint8_t *msg, size_t len);
void dns_servfail(struct dns_query *q);

/* forward.c */
void dns_forward(struct dns_query *q);
void dns_forward_stop(struct dns_query *q);
void dns_on_timer(struct pc_loop *loop, struct pc_timer *t);

/* stats.c */
void dns_record_latency(struct pc_dns_proxy *p, uint64_t us);

#endif /* PC_DNS_PROXY_INT_H */
