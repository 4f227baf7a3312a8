/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dns/proxy.c - the DNS thread: listeners, clients, the registry's
 * verdicts, replies. Forwarding is in forward.c.
 *
 * A query lives in a struct dns_query from its arrival to its reply,
 * whatever happens meanwhile (parked, forwarded, retried), with one timer
 * whose deadline bounds it: a client gets SERVFAIL, never silence, unless
 * it went away. Memory is bounded by caps, not by clients' good manners:
 * queries in flight (SERVFAIL past it), TCP clients (closed past it) and
 * a TCP client's queries in flight and replies it has not read yet (its
 * socket is not read past it; one that reads nothing is closed when idle).
 * Nothing writes to a TCP client from inside another callback: replies
 * are queued and written when the socket is writable, so a client is
 * only ever freed by its own callback or timer.
 */
#include "dns/proxy.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "dns/proxy-int.h"
#include "net/sock.h"

#define UDP_BATCH           64 /* datagrams read per readiness event */
#define ACCEPT_BATCH        64 /* TCP clients accepted per readiness event */
#define CONN_INFLIGHT       16 /* a TCP client's queries before it is not read */
#define LOG_INTERVAL_MS     60000
#define LOG_BURST           10
#define DEFAULT_TIMEOUT_MS  5000
#define DEFAULT_INFLIGHT    1024
#define DEFAULT_TCP_CONNS   64
#define DEFAULT_TCP_IDLE_MS 10000

static void conn_close(struct dns_conn *c);
static void conn_update(struct dns_conn *c);

static void query_free(struct dns_query *q)
{
	struct pc_dns_proxy *p = q->p;

	dns_forward_stop(q);
	pc_timer_stop(p->loop, &q->timer);
	if (q->state == DNS_PARKED)
		p->parked--;
	if (q->conn)
		q->conn->inflight--;
	if (q->prev)
		q->prev->next = q->next;
	else
		p->queries = q->next;
	if (q->next)
		q->next->prev = q->prev;
	p->inflight--;
	free(q->msg);
	free(q);
}

/* Queue <msg> for the TCP client <c>, framed. */
static void conn_queue(struct dns_conn *c, const uint8_t *msg, size_t len)
{
	struct dns_frame *f = pc_malloc(sizeof(*f) + 2 + len);

	if (!f)
		return; /* the client times out and asks again */
	f->next = NULL;
	f->len = 2 + len;
	f->data[0] = (uint8_t)(len >> 8);
	f->data[1] = (uint8_t)len;
	memcpy(f->data + 2, msg, len);
	if (c->out_tail)
		c->out_tail->next = f;
	else
		c->out = f;
	c->out_tail = f;
	c->nout++;
}

/* May <c> send more? Not while it has its share of queries and unread replies. */
static bool conn_has_room(const struct dns_conn *c)
{
	return !c->eof && c->inflight + c->nout < CONN_INFLIGHT;
}

void dns_deliver(struct dns_query *q, uint8_t *msg, size_t len)
{
	struct pc_dns_proxy *p = q->p;
	struct dns_conn *c = q->conn;

	dns_record_latency(p, pc_mono_us() - q->t0_us);
	if (q->tcp && c) {
		conn_queue(c, msg, len);
		query_free(q); /* before conn_update(): it counts what is in flight */
		conn_update(c);
		return;
	}
	if (!q->tcp) {
		struct sockaddr_storage ss;
		socklen_t sl = pc_addr_to_sockaddr(&q->client, &ss);

		if (sendto(q->lfd, msg, len, MSG_DONTWAIT, (struct sockaddr *)&ss, sl) < 0) {
			char a[PC_ADDR_STRLEN];

			pc_log_limited(&p->rl, pc_loop_now(p->loop), PC_LOG_WARN,
				       "cannot answer a DNS client", "client=%s err=%s",
				       pc_addr_port_str(&q->client, a), strerror(errno));
		}
	}
	query_free(q);
}

void dns_reply(struct dns_query *q, unsigned rcode, bool aa, const struct pc_dns_answer *ans)
{
	struct pc_dns_proxy *p = q->p;
	size_t limit = q->tcp ? PC_DNS_TCP_MAX : q->q.udp_size;
	int n = pc_dns_build_reply(&q->q, rcode, aa, ans ? ans->addrs : NULL, ans ? ans->n : 0,
				   ans ? ans->ttl : 0, limit, p->out, PC_DNS_TCP_MAX);

	if (n < 0) { /* cannot happen: a question is 259 bytes at most */
		query_free(q);
		return;
	}
	dns_deliver(q, p->out, (size_t)n);
}

void dns_servfail(struct dns_query *q)
{
	DNS_INC(q->p, servfail);
	dns_reply(q, PC_DNS_RCODE_SERVFAIL, false, NULL);
}

static const char *verdict_str(enum pc_dns_verdict v)
{
	static const char *const names[] = { "forward", "answer", "nxdomain", "pending",
					     "forward-always" };

	return (unsigned)v < 5 ? names[v] : "?";
}

/* Ask the registry about <q>; PC_DNS_FORWARD for what it is not asked about. */
static enum pc_dns_verdict ask(struct dns_query *q, struct pc_dns_answer *ans)
{
	struct pc_dns_proxy *p = q->p;
	enum pc_dns_verdict v = PC_DNS_FORWARD;
	char tb[16];

	memset(ans, 0, sizeof(*ans));
	if (p->lookup && q->q.qclass == PC_DNS_CLASS_IN && !q->q.odd)
		v = p->lookup(p->data, q->q.name, q->q.qtype, ans);
	if (ans->n > sizeof(ans->addrs) / sizeof(ans->addrs[0]))
		ans->n = sizeof(ans->addrs) / sizeof(ans->addrs[0]);
	pc_debug("dns query", "name=%s type=%s tcp=%d verdict=%s", q->q.name,
		 pc_dns_type_str(q->q.qtype, tb), q->tcp, verdict_str(v));
	return v;
}

/* Registry first: answer, park, refuse or forward <q>. */
static void decide(struct dns_query *q)
{
	struct pc_dns_proxy *p = q->p;
	struct pc_dns_answer ans;
	enum pc_dns_verdict v;

	if (q->q.edns && q->q.edns_version != 0) { /* RFC 6891 §6.1.3 */
		DNS_INC(p, malformed);
		dns_reply(q, PC_DNS_RCODE_BADVERS, false, NULL);
		return;
	}
	v = ask(q, &ans);
	if (q->state == DNS_PARKED && v != PC_DNS_PENDING) {
		p->parked--; /* asked again after a kick, and decided now */
		q->state = DNS_NEW;
	}
	if (v == PC_DNS_ANSWER || v == PC_DNS_NXDOMAIN) {
		DNS_INC(p, registry);
		dns_reply(q, v == PC_DNS_ANSWER ? PC_DNS_RCODE_NOERROR : PC_DNS_RCODE_NXDOMAIN,
			  true, &ans);
	} else if (v == PC_DNS_PENDING) {
		if (pc_loop_now(p->loop) >= q->deadline) {
			dns_servfail(q);
			return;
		}
		if (q->state != DNS_PARKED) {
			/*
			 * New names are asked for at the pace of the store: a flood of
			 * them (random names under a wildcard entry) must leave room
			 * for the pod's other queries.
			 */
			if (p->parked >= p->max_inflight / 4) {
				DNS_INC(p, overload);
				dns_servfail(q);
				return;
			}
			p->parked++;
		}
		q->state = DNS_PARKED;
		if (!pc_timer_is_active(&q->timer) &&
		    pc_timer_start(p->loop, &q->timer, q->deadline - pc_loop_now(p->loop)) < 0)
			dns_servfail(q);
	} else if (p->registry_only && v != PC_DNS_FORWARD_ALWAYS) {
		DNS_INC(p, policy_nxdomain);
		dns_reply(q,
			  q->q.qclass == PC_DNS_CLASS_IN ? PC_DNS_RCODE_NXDOMAIN
							 : PC_DNS_RCODE_REFUSED,
			  false, NULL);
	} else if (!p->nup) {
		dns_servfail(q); /* no resolver to ask (doc/dns.md) */
	} else {
		dns_forward(q);
	}
}

/* Answer a query that did not parse (FORMERR, NOTIMP), or drop it. */
static void reject(struct pc_dns_proxy *p, int ret, const struct pc_dns_query *pq, int lfd,
		   const struct pc_addr *client, struct dns_conn *c)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int n;

	DNS_INC(p, malformed);
	if (ret == -EBADMSG)
		return;
	n = pc_dns_build_error(pq, ret == -ENOTSUP ? PC_DNS_RCODE_NOTIMP : PC_DNS_RCODE_FORMERR,
			       p->out, sizeof(p->out));
	if (c) {
		conn_queue(c, p->out, (size_t)n);
		conn_update(c);
		return;
	}
	sl = pc_addr_to_sockaddr(client, &ss);
	sendto(lfd, p->out, (size_t)n, MSG_DONTWAIT, (struct sockaddr *)&ss, sl);
}

/* A query came in: over UDP on <lfd> from <client>, or from the TCP client <c>. */
static void on_query(struct pc_dns_proxy *p, const uint8_t *msg, size_t len, int lfd,
		     const struct pc_addr *client, struct dns_conn *c)
{
	struct dns_query *q;
	struct pc_dns_query pq;
	int ret = pc_dns_parse_query(msg, len, &pq);

	if (ret < 0) {
		reject(p, ret, &pq, lfd, client, c);
		return;
	}
	q = pc_calloc(1, sizeof(*q));
	if (q)
		q->msg = pc_malloc(len);
	if (!q || !q->msg) {
		free(q);
		return;
	}
	memcpy(q->msg, msg, len);
	q->len = len;
	q->q = pq;
	q->p = p;
	q->t0_us = pc_mono_us();
	q->deadline = pc_loop_now(p->loop) + p->timeout_ms;
	q->tcp = c != NULL;
	q->conn = c;
	q->lfd = lfd;
	if (client)
		q->client = *client;
	pc_timer_init(&q->timer, dns_on_timer, q);
	pc_io_init(&q->io, -1, NULL, q);
	q->next = p->queries;
	if (q->next)
		q->next->prev = q;
	p->queries = q;
	p->inflight++;
	if (c)
		c->inflight++;
	if (p->inflight > p->max_inflight) {
		DNS_INC(p, overload);
		dns_servfail(q);
		return;
	}
	decide(q);
}

static void on_udp(struct pc_loop *loop, struct pc_io *io, uint32_t events)
{
	struct pc_dns_proxy *p = io->data;
	unsigned i;

	(void)loop;
	(void)events;
	for (i = 0; i < UDP_BATCH; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		struct pc_addr client;
		ssize_t n = recvfrom(io->fd, p->in, sizeof(p->in), MSG_DONTWAIT,
				     (struct sockaddr *)&ss, &sl);

		if (n < 0)
			return; /* EAGAIN, or an ICMP error of an earlier reply */
		if (pc_addr_from_sockaddr((struct sockaddr *)&ss, &client) < 0)
			continue;
		DNS_INC(p, queries_udp);
		on_query(p, p->in, (size_t)n, io->fd, &client, NULL);
	}
}

/* -------- TCP clients -------- */

/* Close <c> now; its queries in flight finish without it. */
static void conn_close(struct dns_conn *c)
{
	struct pc_dns_proxy *p = c->p;
	struct dns_query *q;

	for (q = p->queries; q; q = q->next)
		if (q->conn == c)
			q->conn = NULL;
	pc_io_close(p->loop, &c->io);
	pc_timer_stop(p->loop, &c->idle);
	while (c->out) {
		struct dns_frame *f = c->out;

		c->out = f->next;
		free(f);
	}
	free(c->in);
	if (c->prev)
		c->prev->next = c->next;
	else
		p->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	p->nconns--;
	free(c);
}

/* Read while there is room for queries; returns -1 when <c> must close. */
static int conn_read(struct dns_conn *c)
{
	while (conn_has_room(c)) {
		ssize_t n;

		if (c->hoff < 2)
			n = read(c->io.fd, c->hdr + c->hoff, 2 - c->hoff);
		else
			n = read(c->io.fd, c->in + c->inoff, c->inlen - c->inoff);
		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -1;
		if (n == 0) {
			c->eof = true;
			return c->hoff || c->inoff ? -1 : 0; /* cut inside a message */
		}
		if (c->hoff < 2) {
			c->hoff += (size_t)n;
			if (c->hoff < 2)
				continue;
			c->inlen = (size_t)c->hdr[0] << 8 | c->hdr[1];
			c->in = c->inlen ? pc_malloc(c->inlen) : NULL;
			if (!c->in)
				return -1; /* a zero length, or out of memory */
			c->inoff = 0;
			continue;
		}
		c->inoff += (size_t)n;
		if (c->inoff < c->inlen)
			continue;
		DNS_INC(c->p, queries_tcp);
		pc_timer_start(c->p->loop, &c->idle, c->p->tcp_idle_ms);
		on_query(c->p, c->in, c->inlen, -1, NULL, c);
		free(c->in);
		c->in = NULL;
		c->hoff = 0;
		c->inoff = 0; /* an EOF now is after a whole message, not inside one */
	}
	return 0;
}

/* Write what is queued; returns -1 when <c> must close. */
static int conn_write(struct dns_conn *c)
{
	while (c->out) {
		struct dns_frame *f = c->out;
		ssize_t n = send(c->io.fd, f->data + c->out_off, f->len - c->out_off,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -1;
		c->out_off += (size_t)n;
		if (c->out_off < f->len)
			continue;
		c->out = f->next;
		if (!c->out)
			c->out_tail = NULL;
		c->out_off = 0;
		c->nout--;
		free(f);
		pc_timer_start(c->p->loop, &c->idle, c->p->tcp_idle_ms);
	}
	return 0;
}

/* Set <c>'s interest from its state: read while it may, write while queued. */
static void conn_update(struct dns_conn *c)
{
	uint32_t want = 0;

	if (conn_has_room(c))
		want |= PC_IO_READ;
	if (c->out)
		want |= PC_IO_WRITE;
	pc_io_set(c->p->loop, &c->io, want);
}

static void on_conn(struct pc_loop *loop, struct pc_io *io, uint32_t events)
{
	struct dns_conn *c = io->data;

	(void)loop;
	if ((events & PC_IO_ERR) || ((events & PC_IO_WRITE) && conn_write(c) < 0) ||
	    ((events & PC_IO_READ) && conn_read(c) < 0)) {
		conn_close(c);
		return;
	}
	/* replies of the registry queued while reading */
	if (c->out && conn_write(c) < 0) {
		conn_close(c);
		return;
	}
	if (c->eof && !c->inflight && !c->out) {
		conn_close(c);
		return;
	}
	conn_update(c);
}

static void on_idle(struct pc_loop *loop, struct pc_timer *t)
{
	struct dns_conn *c = t->data;

	/*
	 * Re-armed on every message read and reply written: a client that has
	 * not read a reply for that long goes, one waiting for upstreams stays
	 * (their deadlines bound that).
	 */
	if (c->inflight) {
		pc_timer_start(loop, t, c->p->tcp_idle_ms);
		return;
	}
	conn_close(c);
}

/* A TCP client accepted as <fd>: its state, or a refusal past the cap. */
static void conn_new(struct pc_dns_proxy *p, int fd, const struct pc_addr *peer)
{
	struct dns_conn *c = p->nconns < p->max_tcp_conns ? pc_calloc(1, sizeof(*c)) : NULL;

	if (!c) {
		DNS_INC(p, overload);
		close(fd);
		return;
	}
	c->p = p;
	c->peer = *peer;
	pc_io_init(&c->io, fd, on_conn, c);
	pc_timer_init(&c->idle, on_idle, c);
	c->next = p->conns;
	if (c->next)
		c->next->prev = c;
	p->conns = c;
	p->nconns++;
	if (pc_io_start(p->loop, &c->io, PC_IO_READ) < 0 ||
	    pc_timer_start(p->loop, &c->idle, p->tcp_idle_ms) < 0)
		conn_close(c);
}

/*
 * Out of descriptors or memory, the guard (net/accept.h) resets what waits
 * in the backlog and pauses the TCP listeners for a moment; each pause is
 * counted as an overload (TCP clients refused past a cap: the process's).
 */
static void on_accept(struct pc_loop *loop, struct pc_io *io, uint32_t events)
{
	struct pc_dns_proxy *p = io->data;
	struct pc_addr peer;
	int i, fd;

	(void)loop;
	(void)events;
	for (i = 0; i < ACCEPT_BATCH; i++) {
		fd = pc_accept_guard_accept(&p->guard, io, &peer);
		if (fd == -EAGAIN) {
			if (pc_accept_guard_paused(&p->guard))
				DNS_INC(p, overload);
			return;
		}
		if (fd >= 0) /* else that connection is gone (ECONNABORTED, ...): the next one */
			conn_new(p, fd, &peer);
	}
}

/* -------- the thread -------- */

static void on_wake(struct pc_loop *loop, void *data)
{
	struct pc_dns_proxy *p = data;
	struct dns_query *q, *next;

	if (atomic_load(&p->stopping)) {
		pc_loop_stop(loop);
		return;
	}
	/* a registry change: ask the parked queries again (decide() frees only its own) */
	for (q = p->queries; q; q = next) {
		next = q->next;
		if (q->state == DNS_PARKED)
			decide(q);
	}
}

static void *dns_main(void *arg)
{
	struct pc_dns_proxy *p = arg;

	pc_loop_run(p->loop);
	return NULL;
}

/* Is an upstream one of our own listen addresses? Then we would ask ourselves. */
static bool is_loop(const struct pc_dns_proxy_opts *o)
{
	size_t i, j;

	for (i = 0; i < o->nupstreams; i++)
		for (j = 0; j < o->socks->n; j++)
			if (pc_addr_equal(&o->upstreams[i], &o->socks->s[j].addr) &&
			    o->upstreams[i].port == o->socks->s[j].addr.port)
				return true;
	return false;
}

static void set_opts(struct pc_dns_proxy *p, const struct pc_dns_proxy_opts *o)
{
	p->nup = o->nupstreams < PC_DNS_UPSTREAM_MAX ? o->nupstreams : PC_DNS_UPSTREAM_MAX;
	if (p->nup)
		memcpy(p->up, o->upstreams, p->nup * sizeof(p->up[0]));
	p->socks = *o->socks;
	p->registry_only = o->registry_only;
	p->timeout_ms = o->timeout_ms ? o->timeout_ms : DEFAULT_TIMEOUT_MS;
	p->max_inflight = o->max_inflight ? o->max_inflight : DEFAULT_INFLIGHT;
	p->max_tcp_conns = o->max_tcp_conns ? o->max_tcp_conns : DEFAULT_TCP_CONNS;
	p->tcp_idle_ms = o->tcp_idle_ms ? o->tcp_idle_ms : DEFAULT_TCP_IDLE_MS;
	p->lookup = o->lookup;
	p->data = o->data;
	pc_ratelimit_init(&p->rl, LOG_INTERVAL_MS, LOG_BURST);
}

static int add_listeners(struct pc_dns_proxy *p)
{
	size_t i;
	int ret = 0;

	for (i = 0; i < p->socks.n && ret == 0; i++) {
		pc_io_init(&p->udp[i], p->socks.s[i].udp, on_udp, p);
		pc_io_init(&p->tcp[i], p->socks.s[i].tcp, on_accept, p);
		ret = pc_io_start(p->loop, &p->udp[i], PC_IO_READ);
		if (ret == 0)
			ret = pc_io_start(p->loop, &p->tcp[i], PC_IO_READ);
	}
	/* without a reserve descriptor the guard still pauses; it cannot reset the backlog */
	if (ret == 0 &&
	    pc_accept_guard_init(&p->guard, p->loop, p->tcp, p->socks.n, "dns", 0, NULL) < 0)
		pc_log(PC_LOG_WARN, "no reserve descriptor: out of descriptors, clients will wait",
		       "listener=dns");
	return ret;
}

int pc_dns_proxy_start(const struct pc_dns_proxy_opts *o, struct pc_dns_proxy **out)
{
	struct pc_dns_proxy *p;
	int ret;

	if (is_loop(o))
		return -ELOOP;
	p = pc_calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	set_opts(p, o);
	p->guard.reserve = -1; /* nothing to release before add_listeners() */
	atomic_init(&p->stopping, false);
	p->loop = pc_loop_new();
	ret = p->loop ? add_listeners(p) : -ENOMEM;
	if (ret == 0) {
		pc_loop_set_wake(p->loop, on_wake, p);
		ret = -pthread_create(&p->thread, NULL, dns_main, p);
	}
	if (ret < 0) {
		pc_accept_guard_release(&p->guard);
		pc_loop_free(p->loop); /* the fds stay the caller's */
		free(p);
		return ret;
	}
	*out = p;
	return 0;
}

void pc_dns_proxy_kick(struct pc_dns_proxy *p)
{
	if (p)
		pc_loop_wake(p->loop);
}

void pc_dns_proxy_stop(struct pc_dns_proxy *p)
{
	struct dns_conn *c, *cnext;
	struct dns_query *q, *qnext;

	if (!p)
		return;
	atomic_store(&p->stopping, true);
	pc_loop_wake(p->loop);
	pthread_join(p->thread, NULL);
	for (c = p->conns; c; c = cnext) {
		cnext = c->next;
		conn_close(c);
	}
	for (q = p->queries; q; q = qnext) {
		qnext = q->next;
		query_free(q);
	}
	pc_accept_guard_release(&p->guard);
	pc_loop_free(p->loop);
	pc_dns_sockets_close(&p->socks);
	free(p);
}
