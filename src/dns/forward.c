/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dns/forward.c - a query the registry does not own, asked of the
 * upstream resolvers.
 *
 * Spoofing: each try has a fresh id from getrandom() and its own UDP
 * socket, connected to the upstream, so that the kernel picks a random
 * source port and drops datagrams from any other address or port; what
 * comes through must still carry the id and the question sent, or it is
 * dropped (and counted) while the try goes on waiting.
 *
 * Time: a try waits timeout_ms/2, then the next try goes to the next
 * upstream, and so do later queries' first tries (a dead first resolver
 * costs one query half its timeout, not every query); the query's deadline (timeout_ms after its arrival) bounds
 * everything, a TCP retry included, and then the client gets SERVFAIL.
 * A TCP try counts the connect, the write and the read together.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/alloc.h"
#include "dns/proxy-int.h"
#include "net/sock.h"

static uint16_t random_id(void)
{
	uint16_t id;

	/* GRND_NONBLOCK: the pool is ready long before a pod runs; if not, fall back */
	if (getrandom(&id, sizeof(id), GRND_NONBLOCK) != (ssize_t)sizeof(id))
		id = (uint16_t)random();
	return id;
}

/* Close the current try's socket, if any. */
void dns_forward_stop(struct dns_query *q)
{
	if (q->io.fd >= 0)
		pc_io_close(q->p->loop, &q->io);
	free(q->ubuf);
	q->ubuf = NULL;
}

static void try_next(struct dns_query *q);

static void log_failure(struct dns_query *q, const char *what, int err)
{
	struct pc_dns_proxy *p = q->p;
	char a[PC_ADDR_STRLEN];

	pc_log_limited(&p->rl, pc_loop_now(p->loop), PC_LOG_WARN, what,
		       "upstream=%s name=%s tcp=%d err=%s", pc_addr_port_str(&p->up[q->up], a),
		       q->q.name, q->state == DNS_UPSTREAM_TCP, err ? strerror(err) : "timeout");
}

/* The current try failed (<err> an errno, 0 for a timeout): the next one, or SERVFAIL. */
static void fail_try(struct dns_query *q, int err)
{
	struct pc_dns_proxy *p = q->p;

	if (err)
		DNS_INC(p, upstream_errors);
	else
		DNS_INC(p, upstream_timeouts);
	log_failure(q, "a DNS upstream failed", err);
	dns_forward_stop(q);
	if (p->prefer == q->up) /* later queries start with the next one */
		p->prefer = (q->up + 1) % p->nup;
	if (q->tries < DNS_TRIES && pc_loop_now(p->loop) < q->deadline)
		try_next(q);
	else
		dns_servfail(q);
}

/* Arm the try's timer: timeout_ms/2, never past the query's deadline. */
static int arm(struct dns_query *q)
{
	struct pc_dns_proxy *p = q->p;
	uint64_t now = pc_loop_now(p->loop), after = p->timeout_ms / 2;

	if (now + after > q->deadline)
		after = q->deadline > now ? q->deadline - now : 0;
	return pc_timer_start(p->loop, &q->timer, after);
}

void dns_on_timer(struct pc_loop *loop, struct pc_timer *t)
{
	struct dns_query *q = t->data;

	(void)loop;
	if (q->state == DNS_UPSTREAM_UDP || q->state == DNS_UPSTREAM_TCP)
		fail_try(q, 0);
	else
		dns_servfail(q); /* parked too long */
}

/* An answer that matched: the client's id back, to the client, whole if it fits. */
static void answer(struct dns_query *q, uint8_t *msg, size_t len, unsigned rcode)
{
	struct pc_dns_proxy *p = q->p;

	DNS_INC(p, forwarded);
	pc_debug("dns answer", "name=%s rcode=%s len=%zu tcp=%d", q->q.name,
		 pc_dns_rcode_str(rcode), len, q->state == DNS_UPSTREAM_TCP);
	if (!q->tcp && len > q->q.udp_size) {
		/* the whole answer came over TCP: the client asks again over TCP */
		int n = pc_dns_build_reply(&q->q, rcode, false, NULL, 0, 0, 0, p->out,
					   sizeof(p->out));

		if (n > 0)
			dns_deliver(q, p->out, (size_t)n);
		return;
	}
	pc_dns_set_id(msg, q->q.id);
	dns_deliver(q, msg, len);
}

/* -------- TCP -------- */

static int tcp_write(struct dns_query *q)
{
	while (q->uoff < q->ulen) {
		ssize_t n = send(q->io.fd, q->ubuf + q->uoff, q->ulen - q->uoff,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -errno;
		q->uoff += (size_t)n;
	}
	q->sent = true;
	q->uoff = 0;
	q->ulen = 2;
	return pc_io_set(q->p->loop, &q->io, PC_IO_READ);
}

/* Read the framed answer; 1 once it is all in. */
static int tcp_read(struct dns_query *q)
{
	for (;;) {
		ssize_t n = read(q->io.fd, q->ubuf + q->uoff, q->ulen - q->uoff);

		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -errno;
		if (n == 0)
			return -ECONNRESET;
		q->uoff += (size_t)n;
		if (q->uoff < q->ulen)
			continue;
		if (q->ulen > 2)
			return 1;
		q->ulen = 2 + ((size_t)q->ubuf[0] << 8 | q->ubuf[1]);
		if (q->ulen == 2)
			return -EBADMSG;
	}
}

static void on_tcp(struct pc_loop *loop, struct pc_io *io, uint32_t events)
{
	struct dns_query *q = io->data;
	struct pc_dns_response r;
	int ret = 0;

	(void)loop;
	if (events & PC_IO_ERR) {
		ret = pc_sock_error(io->fd);
		if (ret == 0)
			ret = -ECONNRESET;
	} else if (!q->sent && (events & PC_IO_WRITE))
		ret = tcp_write(q);
	else if (q->sent && (events & PC_IO_READ))
		ret = tcp_read(q);
	if (ret < 0) {
		fail_try(q, -ret);
		return;
	}
	if (ret == 0)
		return;
	if (pc_dns_parse_response(q->ubuf + 2, q->ulen - 2, &r) < 0 ||
	    !pc_dns_response_matches(&r, q->up_id, &q->q)) {
		DNS_INC(q->p, upstream_mismatch);
		fail_try(q, EBADMSG); /* one answer per connection: this one was not it */
		return;
	}
	answer(q, q->ubuf + 2, q->ulen - 2, PC_DNS_RCODE(r.flags));
}

/* Start a TCP try to the current upstream. */
static int start_tcp(struct dns_query *q)
{
	struct pc_dns_proxy *p = q->p;
	int fd = pc_sock_connect(&p->up[q->up]);

	q->state = DNS_UPSTREAM_TCP;
	if (fd < 0)
		return fd;
	q->ubuf = pc_malloc(2 + PC_DNS_TCP_MAX);
	if (!q->ubuf) {
		close(fd);
		return -ENOMEM;
	}
	q->ubuf[0] = (uint8_t)(q->len >> 8);
	q->ubuf[1] = (uint8_t)q->len;
	memcpy(q->ubuf + 2, q->msg, q->len);
	pc_dns_set_id(q->ubuf + 2, q->up_id);
	q->uoff = 0;
	q->ulen = 2 + q->len;
	q->sent = false;
	pc_io_init(&q->io, fd, on_tcp, q);
	return pc_io_start(p->loop, &q->io, PC_IO_WRITE);
}

/* -------- UDP -------- */

static void on_udp_answer(struct pc_loop *loop, struct pc_io *io, uint32_t events)
{
	struct dns_query *q = io->data;
	struct pc_dns_proxy *p = q->p;
	struct pc_dns_response r;
	ssize_t n;
	int ret;

	(void)loop;
	(void)events;
	for (;;) {
		n = recv(io->fd, p->in, sizeof(p->in), MSG_DONTWAIT);
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR) /* ICMP unreachable: no resolver */
				fail_try(q, errno);
			return;
		}
		if (pc_dns_parse_response(p->in, (size_t)n, &r) == 0 &&
		    pc_dns_response_matches(&r, q->up_id, &q->q))
			break;
		DNS_INC(p, upstream_mismatch);
	}
	if (!(r.flags & PC_DNS_F_TC)) {
		answer(q, p->in, (size_t)n, PC_DNS_RCODE(r.flags));
		return;
	}
	DNS_INC(p, truncation_retries);
	pc_debug("dns answer truncated: asking over TCP", "name=%s", q->q.name);
	dns_forward_stop(q);
	ret = arm(q);
	if (ret == 0)
		ret = start_tcp(q);
	if (ret < 0)
		fail_try(q, -ret);
}

static int start_udp(struct dns_query *q)
{
	struct pc_dns_proxy *p = q->p;
	struct sockaddr_storage ss;
	socklen_t sl = pc_addr_to_sockaddr(&p->up[q->up], &ss);
	int fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	q->state = DNS_UPSTREAM_UDP;
	if (fd < 0)
		return -errno;
	pc_io_init(&q->io, fd, on_udp_answer, q);
	if (connect(fd, (struct sockaddr *)&ss, sl) < 0)
		return -errno;
	memcpy(p->out, q->msg, q->len);
	pc_dns_set_id(p->out, q->up_id);
	if (send(fd, p->out, q->len, MSG_DONTWAIT) < 0)
		return -errno;
	return pc_io_start(p->loop, &q->io, PC_IO_READ);
}

static void try_next(struct dns_query *q)
{
	struct pc_dns_proxy *p = q->p;
	char a[PC_ADDR_STRLEN];
	int ret;

	q->up = (q->start + q->tries) % p->nup;
	q->tries++;
	q->up_id = random_id();
	pc_debug("dns forward", "name=%s upstream=%s try=%u tcp=%d", q->q.name,
		 pc_addr_port_str(&p->up[q->up], a), q->tries, q->tcp);
	ret = arm(q);
	if (ret == 0)
		ret = q->tcp ? start_tcp(q) : start_udp(q);
	if (ret < 0)
		fail_try(q, -ret);
}

void dns_forward(struct dns_query *q)
{
	if (!q->p->nup) {
		dns_servfail(q);
		return;
	}
	q->start = q->p->prefer;
	try_next(q);
}
