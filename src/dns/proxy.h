/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dns/proxy.h - the DNS proxy of `portcullis run`: its own thread and
 * event loop, UDP and TCP listeners, answers from the registry, and
 * everything else forwarded to the upstream resolvers.
 *
 * A query is read, parsed (dns/msg.h) and, when it is a well-formed
 * IN-class query, put to the registry callback on the DNS thread. Names
 * that are not ours are forwarded: the client's bytes as they came (EDNS
 * untouched) with a fresh random id, over UDP on a fresh connected socket
 * per query (a kernel-random source port; the kernel drops datagrams of
 * other sources), the answer matched by id and question, the client's id
 * put back. A truncated UDP answer is asked again over TCP; a query that
 * came over TCP is forwarded over TCP. Each try waits timeout_ms/2, the
 * second goes to the next upstream; after that the client gets SERVFAIL.
 * See doc/dns.md.
 *
 * Threads: pc_dns_listen() and pc_dns_upstreams() run on the caller's
 * thread (as root, before privileges are dropped). pc_dns_proxy_start()
 * starts the DNS thread; pc_dns_proxy_kick() and pc_dns_proxy_stats() may
 * be called from any thread; pc_dns_proxy_stop() from the thread that
 * started it.
 */
#ifndef PC_DNS_PROXY_H
#define PC_DNS_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "net/addr.h"

#define PC_DNS_LISTEN_MAX     8 /* addresses of one --dns-listen */
#define PC_DNS_UPSTREAM_MAX   8 /* resolvers (resolv.conf allows 3) */
#define PC_DNS_DEFAULT_LISTEN "127.0.0.1:15053,[::1]:15053"

/* The bound sockets of one listen address: one UDP, one TCP. */
struct pc_dns_socket {
	struct pc_addr addr; /* as bound (the real port when the spec said 0) */
	int udp, tcp;
};

struct pc_dns_sockets {
	struct pc_dns_socket s[PC_DNS_LISTEN_MAX];
	size_t n;         /* 0 for "off" */
	bool transparent; /* every socket is IP_TRANSPARENT (false: not root, see the log) */
};

/*
 * Bind, for each "IP:PORT" or "[IPv6]:PORT" of the comma-separated <spec>
 * ("off": none), one UDP and one TCP socket (listening), non-blocking,
 * close-on-exec, IP_TRANSPARENT/IPV6_TRANSPARENT: the iptables guard lets
 * only transparent sockets receive on the DNS port, which only a
 * CAP_NET_ADMIN process can set, so an unprivileged process of the pod
 * cannot squat it. A failure to set it is logged and leaves
 * <out>->transparent false. An IPv6 address that the host does not have
 * (a pod without IPv6, or without ::1) is skipped with a notice. Port 0
 * binds an ephemeral port (UDP first, TCP on the same port; tests).
 * Returns 0, or -EINVAL for a bad spec, -EADDRINUSE, -errno, with <err>
 * set; <out> is then left empty (nothing stays open).
 */
int pc_dns_listen(const char *spec, struct pc_dns_sockets *out, struct pc_err *err);

/* Close every socket of <s> and empty it. */
void pc_dns_sockets_close(struct pc_dns_sockets *s);

/*
 * The upstream resolvers: <server> NULL reads the nameserver lines of
 * /etc/resolv.conf (IPv4 and IPv6, port 53; a link-local address with a
 * zone is skipped with a notice); else a comma-separated list of "IP",
 * "IP:PORT", "IPv6" or "[IPv6]:PORT". At most <max> into <out>, the count
 * in <*n>. Returns 0, or -EINVAL (bad server, or none at all) with <err> set.
 */
int pc_dns_upstreams(const char *server, struct pc_addr *out, size_t max, size_t *n,
		     struct pc_err *err);

/* Like pc_dns_upstreams() reading <path> instead of /etc/resolv.conf. */
int pc_dns_upstreams_from(const char *path, struct pc_addr *out, size_t max, size_t *n,
			  struct pc_err *err);

enum pc_dns_verdict {
	PC_DNS_FORWARD,  /* not ours: forward it (NXDOMAIN with registry_only) */
	PC_DNS_ANSWER,   /* ours: the addresses of <ans> of the query's family (none:
			  * NODATA), authoritative */
	PC_DNS_NXDOMAIN, /* ours, and no such name */
	PC_DNS_PENDING,  /* ours, not ready (an allocation is being stored): the query
			  * is parked and asked again after each pc_dns_proxy_kick(),
			  * SERVFAIL after timeout_ms */
	PC_DNS_FORWARD_ALWAYS, /* ours, but the real answer is the one to give (an entry
				* whose addresses are all CIDRs, DYNAMIC_DNS): forwarded
				* also with registry_only */
};

struct pc_dns_answer {
	struct pc_addr addrs[16];
	size_t n;
	uint32_t ttl;
};

/*
 * The registry: is <name> (lowercase, no final dot) ours, for a query of
 * <qtype> (A, AAAA or any other)? Called on the DNS thread for every
 * well-formed IN-class query whose name is plain (no odd bytes), with
 * <ans> zeroed; must not block.
 */
typedef enum pc_dns_verdict pc_dns_lookup_fn(void *data, const char *name, uint16_t qtype,
					     struct pc_dns_answer *ans);

struct pc_dns_proxy_opts {
	const struct pc_dns_sockets *socks; /* the proxy takes the fds; the caller
					     * must not close them after a start */
	const struct pc_addr *upstreams;    /* copied */
	size_t nupstreams;
	bool registry_only;       /* names not ours: NXDOMAIN (non-IN classes: REFUSED) */
	uint64_t timeout_ms;      /* a forwarded or parked query's budget; 0: 5000 */
	unsigned max_inflight;    /* queries in flight, past it SERVFAIL; 0: 1024 */
	unsigned max_tcp_conns;   /* TCP clients at once, past it closed; 0: 64 */
	uint64_t tcp_idle_ms;     /* a TCP client with nothing in flight; 0: 10000 */
	pc_dns_lookup_fn *lookup; /* NULL: nothing is ours */
	void *data;
};

struct pc_dns_proxy;

/*
 * Start the DNS thread on <o>->socks. Returns 0 and the proxy in <*out>,
 * or -ELOOP when an upstream is one of the listen addresses (a loop),
 * -ENOMEM, -errno. Without upstreams, what would be forwarded gets
 * SERVFAIL.
 * On failure the sockets are still the caller's.
 */
int pc_dns_proxy_start(const struct pc_dns_proxy_opts *o, struct pc_dns_proxy **out);

/* Any thread: something changed in the registry, ask the parked queries again. */
void pc_dns_proxy_kick(struct pc_dns_proxy *p);

/*
 * Stop the thread, close every socket (the listeners too: the proxy owns
 * them since the start), free <p>. In-flight queries get no answer. NULL: no-op.
 */
void pc_dns_proxy_stop(struct pc_dns_proxy *p);

#define PC_DNS_NBUCKETS 13 /* 0.5 ms .. 5 s, see pc_dns_buckets */

extern const double pc_dns_buckets[PC_DNS_NBUCKETS];

/* A copy of the proxy's counters (totals since the start). */
struct pc_dns_stats {
	uint64_t queries_udp, queries_tcp;
	uint64_t registry;                /* answered from the registry (ANSWER, NXDOMAIN) */
	uint64_t forwarded;               /* upstream answers given to clients */
	uint64_t policy_nxdomain;         /* registry_only refusals */
	uint64_t servfail;                /* SERVFAIL given: upstreams failed, parked too
				      * long, too many in flight */
	uint64_t upstream_timeouts;       /* tries without an answer */
	uint64_t upstream_errors;         /* tries that failed otherwise (send, TCP) */
	uint64_t upstream_mismatch;       /* upstream datagrams dropped: wrong id, question */
	uint64_t truncation_retries;      /* truncated UDP answers asked again over TCP */
	uint64_t malformed;               /* dropped, or given FORMERR/NOTIMP/BADVERS */
	uint64_t overload;                /* queries or TCP clients refused past the caps */
	uint64_t bucket[PC_DNS_NBUCKETS]; /* not cumulative: bucket[i] counts
					   * durations in (buckets[i-1], buckets[i]] */
	uint64_t over;                    /* durations above the last bucket */
	uint64_t sum_us;                  /* sum of the durations */
};

void pc_dns_proxy_stats(const struct pc_dns_proxy *p, struct pc_dns_stats *out);

/*
 * Append <s> as Prometheus text to <b>: portcullis_dns_queries_total
 * {transport}, portcullis_dns_answers_total{source=registry|forwarded|
 * policy_nxdomain|servfail}, portcullis_dns_upstream_failures_total
 * {reason=timeout|error|mismatch}, portcullis_dns_truncation_retries_total,
 * portcullis_dns_malformed_total, portcullis_dns_overload_total and the
 * histogram portcullis_dns_request_duration_seconds. Returns 0 or -ENOMEM.
 */
int pc_dns_stats_render(const struct pc_dns_stats *s, struct pc_buf *b);

#endif /* PC_DNS_PROXY_H */
