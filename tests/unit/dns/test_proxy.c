/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for the DNS proxy (dns/proxy.c, forward.c, setup.c, stats.c)
 * on loopback: a fake upstream resolver (UDP and TCP on one port, in its
 * own thread) that answers, changes its answer, truncates, stays silent
 * or sends wrong answers first, a fake registry, and real sockets as
 * clients.
 */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/clock.h"
#include "dns/msg.h"
#include "dns/proxy.h"
#include "net/sock.h"

enum up_mode { UP_ANSWER, UP_SILENT, UP_TC, UP_JUNK_FIRST };

/* The fake upstream resolver. */
struct upstream {
	int udp, tcp;
	struct pc_addr addr;
	pthread_t thread;
	atomic_bool stop;
	_Atomic int mode;
	atomic_uint last;     /* last byte of the IPv4 address it answers */
	atomic_uint nanswers; /* records per answer */
	atomic_uint udp_queries, tcp_queries;
	_Atomic uint16_t seen_id;
};

/* Its answer to <msg> into <out>: <nanswers> A records 203.0.113.<last>... (AAAA: 2001:db8::). */
static int up_answer(struct upstream *u, const uint8_t *msg, size_t len, uint8_t *out, size_t cap)
{
	struct pc_addr a[PC_DNS_ANSWERS_MAX];
	struct pc_dns_query q;
	unsigned i, n = atomic_load(&u->nanswers);

	if (pc_dns_parse_query(msg, len, &q) < 0)
		return -1;
	atomic_store(&u->seen_id, q.id);
	for (i = 0; i < n && i < PC_DNS_ANSWERS_MAX; i++) {
		memset(&a[i], 0, sizeof(a[i]));
		if (q.qtype == PC_DNS_TYPE_AAAA) { /* 2001:db8::<last + i> */
			a[i].family = AF_INET6;
			a[i].bytes[0] = 0x20;
			a[i].bytes[1] = 0x01;
			a[i].bytes[2] = 0x0d;
			a[i].bytes[3] = 0xb8;
			a[i].bytes[15] = (uint8_t)(atomic_load(&u->last) + i);
			continue;
		}
		a[i].family = AF_INET;
		a[i].bytes[0] = 203;
		a[i].bytes[2] = 113;
		a[i].bytes[3] = (uint8_t)(atomic_load(&u->last) + i);
	}
	return pc_dns_build_reply(&q, 0, false, a, n, 60, PC_DNS_TCP_MAX, out, cap);
}

static void up_udp(struct upstream *u)
{
	uint8_t in[4096], out[4096];
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	ssize_t n = recvfrom(u->udp, in, sizeof(in), 0, (struct sockaddr *)&ss, &sl);
	int len;

	if (n <= 0)
		return;
	atomic_fetch_add(&u->udp_queries, 1);
	if (atomic_load(&u->mode) == UP_SILENT)
		return;
	len = up_answer(u, in, (size_t)n, out, sizeof(out));
	if (len < 0)
		return;
	if (atomic_load(&u->mode) == UP_JUNK_FIRST) {
		out[0] ^= 0x55; /* another id */
		sendto(u->udp, out, (size_t)len, 0, (struct sockaddr *)&ss, sl);
		out[0] ^= 0x55;
		out[13] ^= 0x01; /* another name */
		sendto(u->udp, out, (size_t)len, 0, (struct sockaddr *)&ss, sl);
		out[13] ^= 0x01;
	}
	if (atomic_load(&u->mode) == UP_TC) {
		/* header and question only, TC set */
		struct pc_dns_query q;

		pc_dns_parse_query(in, (size_t)n, &q);
		len = (int)q.qend;
		out[2] |= 0x02;
		memset(out + 6, 0, 6);
	}
	sendto(u->udp, out, (size_t)len, 0, (struct sockaddr *)&ss, sl);
}

static bool read_full(int fd, uint8_t *p, size_t n)
{
	while (n) {
		ssize_t r = read(fd, p, n);

		if (r <= 0)
			return false;
		p += r;
		n -= (size_t)r;
	}
	return true;
}

/* One TCP client of the upstream, served until it closes. */
static void up_tcp(struct upstream *u)
{
	uint8_t in[4096], out[4098];
	int fd = accept(u->tcp, NULL, NULL), len;
	size_t n;

	if (fd < 0)
		return;
	while (read_full(fd, in, 2)) {
		n = (size_t)in[0] << 8 | in[1];
		if (n > sizeof(in) || !read_full(fd, in, n))
			break;
		atomic_fetch_add(&u->tcp_queries, 1);
		if (atomic_load(&u->mode) == UP_SILENT)
			continue;
		len = up_answer(u, in, n, out + 2, sizeof(out) - 2);
		if (len < 0)
			break;
		out[0] = (uint8_t)(len >> 8);
		out[1] = (uint8_t)len;
		if (write(fd, out, (size_t)len + 2) < 0)
			break;
	}
	close(fd);
}

static void *up_main(void *arg)
{
	struct upstream *u = arg;

	while (!atomic_load(&u->stop)) {
		struct pollfd p[2] = { { u->udp, POLLIN, 0 }, { u->tcp, POLLIN, 0 } };

		if (poll(p, 2, 20) <= 0)
			continue;
		if (p[0].revents)
			up_udp(u);
		if (p[1].revents)
			up_tcp(u);
	}
	return NULL;
}

static void up_start(struct upstream *u, const char *spec)
{
	struct pc_dns_sockets s;
	struct pc_err err;

	memset(u, 0, sizeof(*u));
	/* the proxy's own listen code binds a UDP and a TCP socket on one port */
	ck_assert_msg(pc_dns_listen(spec, &s, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(s.n, 1);
	u->udp = s.s[0].udp;
	u->tcp = s.s[0].tcp;
	u->addr = s.s[0].addr;
	atomic_store(&u->last, 5);
	atomic_store(&u->nanswers, 1);
	ck_assert_int_eq(pthread_create(&u->thread, NULL, up_main, u), 0);
}

static void up_stop(struct upstream *u)
{
	atomic_store(&u->stop, true);
	pthread_join(u->thread, NULL);
	close(u->udp);
	close(u->tcp);
}

/* -------- the fake registry -------- */

static atomic_bool pending_ready;

static enum pc_dns_verdict lookup(void *data, const char *name, uint16_t qtype,
				  struct pc_dns_answer *ans)
{
	(void)data;
	(void)qtype;
	if (strcmp(name, "gone.example") == 0)
		return PC_DNS_NXDOMAIN;
	if (strcmp(name, "pending.example") == 0 && !atomic_load(&pending_ready))
		return PC_DNS_PENDING;
	if (strcmp(name, "ours.example") != 0 && strcmp(name, "pending.example") != 0)
		return PC_DNS_FORWARD;
	pc_addr_parse("192.0.2.10", &ans->addrs[0]);
	pc_addr_parse("2001:db8::10", &ans->addrs[1]);
	ans->n = 2;
	ans->ttl = 30;
	return PC_DNS_ANSWER;
}

/* -------- the proxy under test -------- */

struct fixture {
	struct upstream up;
	struct pc_dns_sockets socks;
	struct pc_dns_proxy *p;
};

static void start(struct fixture *f, const char *listen, enum up_mode mode, bool registry_only,
		  uint64_t timeout_ms)
{
	struct pc_dns_proxy_opts o = { 0 };
	struct pc_err err;

	up_start(&f->up, "127.0.0.1:0");
	atomic_store(&f->up.mode, mode);
	atomic_store(&pending_ready, false);
	ck_assert_msg(pc_dns_listen(listen, &f->socks, &err) == 0, "%s", err.msg);
	o.socks = &f->socks;
	o.upstreams = &f->up.addr;
	o.nupstreams = 1;
	o.registry_only = registry_only;
	o.timeout_ms = timeout_ms;
	o.lookup = lookup;
	ck_assert_int_eq(pc_dns_proxy_start(&o, &f->p), 0);
}

static void stop(struct fixture *f)
{
	pc_dns_proxy_stop(f->p);
	up_stop(&f->up);
}

/* A query message for <name> of <type> with <id>; <edns> adds an OPT of that size. */
static size_t make_query(uint8_t *b, uint16_t id, const char *name, uint16_t type, unsigned edns)
{
	size_t n = 12;
	const char *s = name;

	memset(b, 0, 12);
	b[0] = (uint8_t)(id >> 8);
	b[1] = (uint8_t)id;
	b[2] = 0x01; /* RD */
	b[5] = 1;
	b[11] = edns ? 1 : 0;
	while (*s) {
		size_t l = strcspn(s, ".");

		b[n++] = (uint8_t)l;
		memcpy(b + n, s, l);
		n += l;
		s += l + (s[l] == '.');
	}
	b[n++] = 0;
	b[n++] = 0;
	b[n++] = (uint8_t)type;
	b[n++] = 0;
	b[n++] = 1;
	if (edns) {
		const uint8_t opt[11] = { 0, 0, 41, (uint8_t)(edns >> 8), (uint8_t)edns };

		memcpy(b + n, opt, 11);
		n += 11;
	}
	return n;
}

/* Send <q> over UDP to <to>; the reply in <r>, its length (-1: none within <ms>). */
static int udp_ask(const struct pc_addr *to, const uint8_t *q, size_t qlen, uint8_t *r, size_t cap,
		   int ms)
{
	struct sockaddr_storage ss;
	socklen_t sl = pc_addr_to_sockaddr(to, &ss);
	int fd = socket(to->family, SOCK_DGRAM | SOCK_CLOEXEC, 0), n = -1;
	struct pollfd p = { fd, POLLIN, 0 };

	ck_assert_int_ge(fd, 0);
	ck_assert_int_ge(sendto(fd, q, qlen, 0, (struct sockaddr *)&ss, sl), 0);
	if (poll(&p, 1, ms) == 1)
		n = (int)recv(fd, r, cap, 0);
	close(fd);
	return n;
}

static unsigned get16(const uint8_t *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

/* The first answer's last address byte (A), or -1. */
static int first_a(const uint8_t *r, int n, size_t qend)
{
	if (get16(r + 6) == 0 || (size_t)n < qend + 16)
		return -1;
	return r[qend + 15];
}

static struct pc_dns_stats stats(struct fixture *f)
{
	struct pc_dns_stats s;

	pc_dns_proxy_stats(f->p, &s);
	return s;
}

START_TEST(forward_udp)
{
	struct fixture f;
	uint8_t q[512], r[4096];
	size_t ql = make_query(q, 0xabcd, "www.Example.com", PC_DNS_TYPE_A, 0);
	int n;

	start(&f, "127.0.0.1:0", UP_ANSWER, false, 2000);
	n = udp_ask(&f.socks.s[0].addr, q, ql, r, sizeof(r), 2000);
	ck_assert_int_gt(n, 12);
	ck_assert_uint_eq(get16(r), 0xabcd); /* the client's id back */
	ck_assert_uint_eq(r[3] & 0xf, 0);
	ck_assert(!(r[2] & 0x04)); /* not authoritative */
	ck_assert_int_eq(first_a(r, n, ql), 5);
	ck_assert(memcmp(r + 12, q + 12, ql - 12) == 0); /* the question, case kept */
	/* the upstream's answer changes: so does ours */
	atomic_store(&f.up.last, 6);
	n = udp_ask(&f.socks.s[0].addr, q, ql, r, sizeof(r), 2000);
	ck_assert_int_eq(first_a(r, n, ql), 6);
	ck_assert_uint_eq(stats(&f).queries_udp, 2);
	ck_assert_uint_eq(stats(&f).forwarded, 2);
	ck_assert_uint_eq(atomic_load(&f.up.udp_queries), 2);
	stop(&f);
}
END_TEST

START_TEST(forward_ids_random)
{
	struct fixture f;
	uint8_t q[512], r[4096];
	size_t ql = make_query(q, 0x0001, "www.example.com", PC_DNS_TYPE_A, 0);
	unsigned i, same = 0;

	start(&f, "127.0.0.1:0", UP_ANSWER, false, 2000);
	for (i = 0; i < 8; i++) {
		ck_assert_int_gt(udp_ask(&f.socks.s[0].addr, q, ql, r, sizeof(r), 2000), 12);
		same += atomic_load(&f.up.seen_id) == 0x0001;
	}
	ck_assert_uint_lt(same, 2); /* 1 in 65536 each */
	stop(&f);
}
END_TEST

START_TEST(silent_upstream_servfail)
{
	struct fixture f;
	uint8_t q[512], r[4096];
	size_t ql = make_query(q, 7, "www.example.com", PC_DNS_TYPE_A, 0);
	uint64_t t0;
	int n;

	start(&f, "127.0.0.1:0", UP_SILENT, false, 400);
	t0 = pc_mono_ms();
	n = udp_ask(&f.socks.s[0].addr, q, ql, r, sizeof(r), 3000);
	ck_assert_int_gt(n, 12);
	ck_assert_uint_eq(r[3] & 0xf, PC_DNS_RCODE_SERVFAIL);
	ck_assert_uint_lt(pc_mono_ms() - t0, 1000);
	ck_assert_uint_ge(pc_mono_ms() - t0, 350);
	ck_assert_uint_eq(stats(&f).upstream_timeouts, 2); /* two tries */
	ck_assert_uint_eq(stats(&f).servfail, 1);
	ck_assert_uint_eq(atomic_load(&f.up.udp_queries), 2);
	stop(&f);
}
END_TEST

START_TEST(dead_first_upstream)
{
	struct pc_dns_proxy_opts o = { 0 };
	struct upstream dead, live;
	struct pc_addr ups[2];
	struct pc_dns_sockets s;
	struct pc_dns_proxy *p;
	struct pc_err err;
	uint8_t q[512], r[4096];
	size_t ql = make_query(q, 1, "www.example.com", PC_DNS_TYPE_A, 0);
	uint64_t t0;
	int n;

	up_start(&dead, "127.0.0.1:0");
	atomic_store(&dead.mode, UP_SILENT);
	up_start(&live, "127.0.0.1:0");
	atomic_store(&live.last, 9);
	ups[0] = dead.addr;
	ups[1] = live.addr;
	ck_assert_int_eq(pc_dns_listen("127.0.0.1:0", &s, &err), 0);
	o.socks = &s;
	o.upstreams = ups;
	o.nupstreams = 2;
	o.timeout_ms = 1000;
	ck_assert_int_eq(pc_dns_proxy_start(&o, &p), 0);
	/* the first query waits for half the timeout, then the second upstream answers */
	t0 = pc_mono_ms();
	n = udp_ask(&s.s[0].addr, q, ql, r, sizeof(r), 3000);
	ck_assert_int_eq(first_a(r, n, ql), 9);
	ck_assert_uint_ge(pc_mono_ms() - t0, 450);
	/* the next ones go to the live one first */
	t0 = pc_mono_ms();
	n = udp_ask(&s.s[0].addr, q, ql, r, sizeof(r), 3000);
	ck_assert_int_eq(first_a(r, n, ql), 9);
	ck_assert_uint_lt(pc_mono_ms() - t0, 250);
	ck_assert_uint_eq(atomic_load(&dead.udp_queries), 1);
	ck_assert_uint_eq(atomic_load(&live.udp_queries), 2);
	pc_dns_proxy_stop(p);
	up_stop(&dead);
	up_stop(&live);
}
END_TEST

START_TEST(wrong_answers_ignored)
{
	struct fixture f;
	uint8_t q[512], r[4096];
	size_t ql = make_query(q, 7, "www.example.com", PC_DNS_TYPE_A, 0);
	int n;

	start(&f, "127.0.0.1:0", UP_JUNK_FIRST, false, 2000);
	n = udp_ask(&f.socks.s[0].addr, q, ql, r, sizeof(r), 2000);
	ck_assert_int_eq(first_a(r, n, ql), 5);
	ck_assert(memcmp(r + 12, q + 12, ql - 12) == 0);
	ck_assert_uint_eq(stats(&f).upstream_mismatch, 2);
	ck_assert_uint_eq(stats(&f).forwarded, 1);
	stop(&f);
}
END_TEST

/* Send <q> over the connected TCP socket <fd>, framed. */
static void tcp_send(int fd, const uint8_t *q, size_t ql)
{
	uint8_t b[600];

	b[0] = (uint8_t)(ql >> 8);
	b[1] = (uint8_t)ql;
	memcpy(b + 2, q, ql);
	ck_assert_int_eq(write(fd, b, ql + 2), (ssize_t)(ql + 2));
}

/* Read one framed reply into <r>; its length. */
static int tcp_recv(int fd, uint8_t *r, size_t cap)
{
	struct pollfd p = { fd, POLLIN, 0 };
	uint8_t h[2];
	size_t n;

	ck_assert_int_eq(poll(&p, 1, 3000), 1);
	ck_assert(read_full(fd, h, 2));
	n = (size_t)h[0] << 8 | h[1];
	ck_assert_uint_le(n, cap);
	ck_assert(read_full(fd, r, n));
	return (int)n;
}

static int tcp_connect(const struct pc_addr *a)
{
	struct sockaddr_storage ss;
	socklen_t sl = pc_addr_to_sockaddr(a, &ss);
	int fd = socket(a->family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_eq(connect(fd, (struct sockaddr *)&ss, sl), 0);
	return fd;
}

START_TEST(truncated_retried_over_tcp)
{
	struct fixture f;
	uint8_t q[512], r[8192];
	size_t ql = make_query(q, 9, "big.example.com", PC_DNS_TYPE_A, 0);
	int n, fd;

	start(&f, "127.0.0.1:0", UP_TC, false, 2000);
	/* small enough for 512: the client gets it whole over UDP */
	atomic_store(&f.up.nanswers, 3);
	n = udp_ask(&f.socks.s[0].addr, q, ql, r, sizeof(r), 2000);
	ck_assert_int_gt(n, 12);
	ck_assert(!(r[2] & 0x02));
	ck_assert_uint_eq(get16(r + 6), 3);
	ck_assert_uint_eq(get16(r), 9);
	ck_assert_uint_eq(stats(&f).truncation_retries, 1);
	ck_assert_uint_eq(atomic_load(&f.up.tcp_queries), 1);
	/* too big for 512 (16 AAAA of 28 bytes): TC to the client, which asks over TCP */
	atomic_store(&f.up.nanswers, 16);
	ql = make_query(q, 10, "a-long-name-so-that-sixteen-answers-exceed.example.com",
			PC_DNS_TYPE_AAAA, 0);
	n = udp_ask(&f.socks.s[0].addr, q, ql, r, sizeof(r), 2000);
	ck_assert_int_eq(n, (int)ql);
	ck_assert(r[2] & 0x02);
	ck_assert_uint_eq(get16(r + 6), 0);
	fd = tcp_connect(&f.socks.s[0].addr);
	tcp_send(fd, q, ql);
	n = tcp_recv(fd, r, sizeof(r));
	ck_assert_int_gt(n, 512);
	ck_assert_uint_eq(get16(r), 10);
	ck_assert_uint_eq(get16(r + 6), 16);
	ck_assert(!(r[2] & 0x02));
	close(fd);
	ck_assert_uint_eq(stats(&f).queries_tcp, 1);
	stop(&f);
}
END_TEST

START_TEST(registry_verdicts)
{
	struct fixture f;
	uint8_t q[512], r[4096];
	size_t ql;
	int n;

	start(&f, "127.0.0.1:0", UP_ANSWER, false, 2000);
	ql = make_query(q, 1, "OURS.example", PC_DNS_TYPE_A, 1232);
	n = udp_ask(&f.socks.s[0].addr, q, ql, r, sizeof(r), 2000);
	ck_assert_int_gt(n, 12);
	ck_assert(r[2] & 0x04); /* AA */
	ck_assert(r[2] & 0x01); /* RD copied */
	ck_assert(r[3] & 0x80); /* RA */
	ck_assert_uint_eq(get16(r + 6), 1);
	ck_assert_uint_eq(get16(r + 10), 1); /* OPT, as the query had one */
	ck_assert_int_eq(first_a(r, n, ql - 11), 10);
	ql = make_query(q, 2, "ours.example", PC_DNS_TYPE_AAAA, 0);
	n = udp_ask(&f.socks.s[0].addr, q, ql, r, sizeof(r), 2000);
	ck_assert_uint_eq(get16(r + 6), 1);
	ck_assert_uint_eq(get16(r + ql + 10), 16);
	ck_assert_uint_eq(r[ql + 12 + 15], 0x10);
	ql = make_query(q, 3, "ours.example", 15 /* MX */, 0);
	n = udp_ask(&f.socks.s[0].addr, q, ql, r, sizeof(r), 2000);
	ck_assert_uint_eq(r[3] & 0xf, 0);
	ck_assert_uint_eq(get16(r + 6), 0); /* NODATA */
	ql = make_query(q, 4, "gone.example", PC_DNS_TYPE_A, 0);
	n = udp_ask(&f.socks.s[0].addr, q, ql, r, sizeof(r), 2000);
	ck_assert_uint_eq(r[3] & 0xf, PC_DNS_RCODE_NXDOMAIN);
	ck_assert(r[2] & 0x04);
	ck_assert_uint_eq(stats(&f).registry, 4);
	ck_assert_uint_eq(atomic_load(&f.up.udp_queries), 0);
	stop(&f);
}
END_TEST

struct kicker {
	struct pc_dns_proxy *p;
	unsigned delay_ms;
};

static void *kick_later(void *arg)
{
	struct kicker *k = arg;

	usleep(k->delay_ms * 1000);
	pc_dns_proxy_kick(k->p); /* a kick before it is ready changes nothing */
	atomic_store(&pending_ready, true);
	pc_dns_proxy_kick(k->p);
	return NULL;
}

START_TEST(pending_then_kick)
{
	struct fixture f;
	struct kicker k;
	pthread_t t;
	uint8_t q[512], r[4096];
	size_t ql = make_query(q, 77, "pending.example", PC_DNS_TYPE_A, 0);
	uint64_t t0;
	int n;

	start(&f, "127.0.0.1:0", UP_ANSWER, false, 2000);
	k.p = f.p;
	k.delay_ms = 200;
	t0 = pc_mono_ms();
	pthread_create(&t, NULL, kick_later, &k);
	n = udp_ask(&f.socks.s[0].addr, q, ql, r, sizeof(r), 3000);
	pthread_join(t, NULL);
	ck_assert_int_gt(n, 12);
	ck_assert_uint_ge(pc_mono_ms() - t0, 150);
	ck_assert_uint_lt(pc_mono_ms() - t0, 1500);
	ck_assert_uint_eq(r[3] & 0xf, 0);
	ck_assert_int_eq(first_a(r, n, ql), 10);
	stop(&f);
}
END_TEST

START_TEST(pending_times_out)
{
	struct fixture f;
	uint8_t q[512], r[4096];
	size_t ql = make_query(q, 78, "pending.example", PC_DNS_TYPE_A, 0);
	uint64_t t0;
	int n;

	start(&f, "127.0.0.1:0", UP_ANSWER, false, 300);
	t0 = pc_mono_ms();
	n = udp_ask(&f.socks.s[0].addr, q, ql, r, sizeof(r), 3000);
	ck_assert_int_gt(n, 12);
	ck_assert_uint_eq(r[3] & 0xf, PC_DNS_RCODE_SERVFAIL);
	ck_assert_uint_ge(pc_mono_ms() - t0, 250);
	ck_assert_uint_lt(pc_mono_ms() - t0, 1000);
	stop(&f);
}
END_TEST

/*
 * A flood of names being allocated (parked) takes at most a quarter of the
 * queries in flight: past it they get SERVFAIL at once, and a name the
 * registry knows is still answered meanwhile.
 */
START_TEST(parked_queries_are_capped)
{
	struct sockaddr_storage ss;
	struct fixture f;
	uint8_t q[512], r[4096];
	size_t ql;
	socklen_t sl;
	int fd, n, i, servfail = 0;
	struct pollfd pf;

	start(&f, "127.0.0.1:0", UP_ANSWER, false, 3000);
	sl = pc_addr_to_sockaddr(&f.socks.s[0].addr, &ss);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	for (i = 0; i < 300; i++) {
		ql = make_query(q, (uint16_t)(1000 + i), "pending.example", PC_DNS_TYPE_A, 0);
		ck_assert_int_ge(sendto(fd, q, ql, 0, (struct sockaddr *)&ss, sl), 0);
		if (i % 8 == 7)
			usleep(2000); /* paced: a socket buffer that overflows loses queries */
	}
	pf = (struct pollfd){ fd, POLLIN, 0 };
	while (poll(&pf, 1, 500) == 1) {
		n = (int)recv(fd, r, sizeof(r), 0);
		ck_assert_int_gt(n, 12);
		ck_assert_uint_eq(r[3] & 0xf, PC_DNS_RCODE_SERVFAIL);
		servfail++;
	}
	/* every query the proxy read past the first 256 was refused at once */
	ck_assert_uint_eq(stats(&f).queries_udp, 300);
	ck_assert_int_eq(servfail, 300 - 1024 / 4);
	ql = make_query(q, 77, "ours.example", PC_DNS_TYPE_A, 0);
	n = udp_ask(&f.socks.s[0].addr, q, ql, r, sizeof(r), 1000);
	ck_assert_int_gt(n, 12);
	ck_assert_uint_eq(r[3] & 0xf, PC_DNS_RCODE_NOERROR);
	close(fd);
	stop(&f);
}
END_TEST

/* A TCP client that half-closes after its whole query still gets the answer. */
START_TEST(tcp_half_close_after_a_query)
{
	struct fixture f;
	uint8_t q[512], r[4096];
	size_t ql;
	int fd, n;

	start(&f, "127.0.0.1:0", UP_ANSWER, false, 2000);
	fd = tcp_connect(&f.socks.s[0].addr);
	ql = make_query(q, 55, "ours.example", PC_DNS_TYPE_A, 0);
	tcp_send(fd, q, ql);
	ck_assert_int_eq(shutdown(fd, SHUT_WR), 0);
	n = tcp_recv(fd, r, sizeof(r));
	ck_assert_int_gt(n, 12);
	ck_assert_uint_eq(get16(r), 55);
	ck_assert_uint_eq(r[3] & 0xf, PC_DNS_RCODE_NOERROR);
	close(fd);
	stop(&f);
}
END_TEST

START_TEST(registry_only)
{
	struct fixture f;
	uint8_t q[512], r[4096];
	size_t ql = make_query(q, 5, "www.example.com", PC_DNS_TYPE_A, 0);
	int n;

	start(&f, "127.0.0.1:0", UP_ANSWER, true, 2000);
	n = udp_ask(&f.socks.s[0].addr, q, ql, r, sizeof(r), 2000);
	ck_assert_int_gt(n, 12);
	ck_assert_uint_eq(r[3] & 0xf, PC_DNS_RCODE_NXDOMAIN);
	ck_assert(!(r[2] & 0x04));
	ql = make_query(q, 6, "ours.example", PC_DNS_TYPE_A, 0);
	n = udp_ask(&f.socks.s[0].addr, q, ql, r, sizeof(r), 2000);
	ck_assert_int_eq(first_a(r, n, ql), 10);
	usleep(50000);
	ck_assert_uint_eq(atomic_load(&f.up.udp_queries), 0);
	ck_assert_uint_eq(stats(&f).policy_nxdomain, 1);
	stop(&f);
}
END_TEST

START_TEST(tcp_pipelined)
{
	struct fixture f;
	uint8_t q[512], r[4096];
	size_t ql;
	int fd, n, i;
	bool seen[2] = { false, false };

	start(&f, "127.0.0.1:0", UP_ANSWER, false, 2000);
	fd = tcp_connect(&f.socks.s[0].addr);
	ql = make_query(q, 100, "www.example.com", PC_DNS_TYPE_A, 0);
	tcp_send(fd, q, ql);
	ql = make_query(q, 101, "ours.example", PC_DNS_TYPE_A, 0);
	tcp_send(fd, q, ql);
	for (i = 0; i < 2; i++) {
		n = tcp_recv(fd, r, sizeof(r));
		ck_assert_int_gt(n, 12);
		ck_assert(get16(r) == 100 || get16(r) == 101);
		seen[get16(r) - 100] = true;
		ck_assert_int_eq(first_a(r, n, 12 + 17 + 4 - (get16(r) == 101 ? 3 : 0)),
				 get16(r) == 100 ? 5 : 10);
	}
	ck_assert(seen[0] && seen[1]);
	/* a third on the same connection, after the others */
	ql = make_query(q, 102, "gone.example", PC_DNS_TYPE_A, 0);
	tcp_send(fd, q, ql);
	n = tcp_recv(fd, r, sizeof(r));
	ck_assert_uint_eq(get16(r), 102);
	ck_assert_uint_eq(r[3] & 0xf, PC_DNS_RCODE_NXDOMAIN);
	close(fd);
	ck_assert_uint_eq(stats(&f).queries_tcp, 3);
	ck_assert_uint_eq(atomic_load(&f.up.tcp_queries), 1); /* TCP forwarded over TCP */
	stop(&f);
}
END_TEST

/* Read from <fd> until EOF or <ms>: true on EOF (the proxy closed it). */
static bool closed_within(int fd, int ms)
{
	struct pollfd p = { fd, POLLIN, 0 };
	uint8_t b[512];

	while (poll(&p, 1, ms) == 1) {
		ssize_t n = read(fd, b, sizeof(b));

		if (n <= 0)
			return true;
	}
	return false;
}

START_TEST(tcp_caps)
{
	struct pc_dns_proxy_opts o = { 0 };
	struct upstream up;
	struct pc_dns_sockets s;
	struct pc_dns_proxy *p;
	struct pc_dns_stats st;
	struct pc_err err;
	uint8_t q[512], r[4096];
	size_t ql = make_query(q, 1, "ours.example", PC_DNS_TYPE_A, 0);
	uint64_t t0;
	int a, b;

	up_start(&up, "127.0.0.1:0");
	ck_assert_int_eq(pc_dns_listen("127.0.0.1:0", &s, &err), 0);
	o.socks = &s;
	o.upstreams = &up.addr;
	o.nupstreams = 1;
	o.lookup = lookup;
	o.max_tcp_conns = 1;
	o.tcp_idle_ms = 300;
	ck_assert_int_eq(pc_dns_proxy_start(&o, &p), 0);
	a = tcp_connect(&s.s[0].addr);
	tcp_send(a, q, ql);
	ck_assert_int_gt(tcp_recv(a, r, sizeof(r)), 12);
	/* a second client, past the cap: closed at once */
	b = tcp_connect(&s.s[0].addr);
	ck_assert(closed_within(b, 1000));
	close(b);
	pc_dns_proxy_stats(p, &st);
	ck_assert_uint_eq(st.overload, 1);
	/* the first, idle: closed after tcp_idle_ms */
	t0 = pc_mono_ms();
	ck_assert(closed_within(a, 2000));
	ck_assert_uint_ge(pc_mono_ms() - t0, 200);
	close(a);
	/* its place is free again */
	a = tcp_connect(&s.s[0].addr);
	tcp_send(a, q, ql);
	ck_assert_int_gt(tcp_recv(a, r, sizeof(r)), 12);
	close(a);
	pc_dns_proxy_stop(p);
	up_stop(&up);
}
END_TEST

START_TEST(malformed_queries)
{
	struct fixture f;
	uint8_t q[512], r[4096];
	size_t ql = make_query(q, 5, "www.example.com", PC_DNS_TYPE_A, 0);
	int n;

	start(&f, "127.0.0.1:0", UP_ANSWER, false, 2000);
	ck_assert_int_eq(udp_ask(&f.socks.s[0].addr, q, 5, r, sizeof(r), 200), -1);
	q[5] = 2; /* two questions */
	n = udp_ask(&f.socks.s[0].addr, q, ql, r, sizeof(r), 2000);
	ck_assert_int_eq(n, 12);
	ck_assert_uint_eq(r[3] & 0xf, PC_DNS_RCODE_FORMERR);
	ck_assert_uint_eq(get16(r), 5);
	q[5] = 1;
	q[2] = 0x10; /* opcode 2 */
	n = udp_ask(&f.socks.s[0].addr, q, ql, r, sizeof(r), 2000);
	ck_assert_uint_eq(r[3] & 0xf, PC_DNS_RCODE_NOTIMP);
	/* EDNS version 1: BADVERS (extended rcode 1 in the OPT record) */
	q[2] = 0x01;
	ql = make_query(q, 6, "www.example.com", PC_DNS_TYPE_A, 1232);
	q[ql - 5] = 1;
	n = udp_ask(&f.socks.s[0].addr, q, ql, r, sizeof(r), 2000);
	ck_assert_int_eq(n, (int)ql);
	ck_assert_uint_eq(r[3] & 0xf, 0);
	ck_assert_uint_eq(r[n - 6], 1);
	ck_assert_uint_eq(stats(&f).malformed, 4);
	ql = make_query(q, 5, "www.example.com", PC_DNS_TYPE_A, 0);
	/* the proxy still answers */
	q[2] = 0x01;
	n = udp_ask(&f.socks.s[0].addr, q, ql, r, sizeof(r), 2000);
	ck_assert_int_eq(first_a(r, n, ql), 5);
	stop(&f);
}
END_TEST

START_TEST(ipv6_loopback)
{
	struct fixture f;
	uint8_t q[512], r[4096];
	size_t ql = make_query(q, 5, "ours.example", PC_DNS_TYPE_AAAA, 0);
	struct pc_dns_sockets s;
	struct pc_err err;
	int n;

	ck_assert_int_eq(pc_dns_listen("[::1]:0", &s, &err), 0);
	if (s.n == 0)
		return; /* no ::1 here: the notice said so */
	pc_dns_sockets_close(&s);
	start(&f, "[::1]:0,127.0.0.1:0", UP_ANSWER, false, 2000);
	ck_assert_uint_eq(f.socks.n, 2);
	n = udp_ask(&f.socks.s[0].addr, q, ql, r, sizeof(r), 2000);
	ck_assert_int_gt(n, 12);
	ck_assert_uint_eq(r[ql + 12 + 15], 0x10);
	/* forwarded from ::1 to the IPv4 upstream */
	ql = make_query(q, 6, "www.example.com", PC_DNS_TYPE_A, 0);
	n = udp_ask(&f.socks.s[0].addr, q, ql, r, sizeof(r), 2000);
	ck_assert_int_eq(first_a(r, n, ql), 5);
	stop(&f);
}
END_TEST

START_TEST(start_refuses_loop)
{
	struct pc_dns_proxy_opts o = { 0 };
	struct pc_dns_sockets s;
	struct pc_dns_proxy *p;
	struct pc_err err;

	ck_assert_int_eq(pc_dns_listen("127.0.0.1:0", &s, &err), 0);
	o.socks = &s;
	o.upstreams = &s.s[0].addr;
	o.nupstreams = 1;
	ck_assert_int_eq(pc_dns_proxy_start(&o, &p), -ELOOP);
	o.nupstreams = 0; /* no resolver: what would be forwarded gets SERVFAIL */
	ck_assert_int_eq(pc_dns_proxy_start(&o, &p), 0);
	pc_dns_proxy_stop(p); /* the proxy's sockets now */
}
END_TEST

START_TEST(listen_specs)
{
	struct pc_dns_sockets s;
	struct pc_err err;

	ck_assert_int_eq(pc_dns_listen("off", &s, &err), 0);
	ck_assert_uint_eq(s.n, 0);
	ck_assert_int_eq(pc_dns_listen("", &s, &err), -EINVAL);
	ck_assert_int_eq(pc_dns_listen("127.0.0.1", &s, &err), -EINVAL);
	ck_assert_int_eq(pc_dns_listen("127.0.0.1:99999", &s, &err), -EINVAL);
	ck_assert_int_eq(pc_dns_listen("127.0.0.1:0,", &s, &err), 0);
	ck_assert_uint_eq(s.n, 1);
	ck_assert_uint_ne(s.s[0].addr.port, 0);
	pc_dns_sockets_close(&s);
	ck_assert_int_eq(pc_dns_listen("[::1:0", &s, &err), -EINVAL);
	ck_assert_int_eq(pc_dns_listen("localhost:53", &s, &err), -EINVAL);
	/* an address this host does not have: an error, not a socket bound to nothing */
	ck_assert_int_eq(pc_dns_listen("192.0.2.77:0", &s, &err), -EADDRNOTAVAIL);
	ck_assert(strstr(err.msg, "192.0.2.77"));
	ck_assert_uint_eq(s.n, 0);
	/* as root, the sockets are transparent */
	if (geteuid() == 0) {
		ck_assert_int_eq(pc_dns_listen("127.0.0.1:0", &s, &err), 0);
		ck_assert(s.transparent);
		pc_dns_sockets_close(&s);
	}
}
END_TEST

START_TEST(upstream_specs)
{
	struct pc_addr a[4];
	char buf[PC_ADDR_STRLEN], path[] = "/tmp/pc-dns-resolv-XXXXXX";
	struct pc_err err;
	size_t n;
	FILE *f;
	int fd;

	ck_assert_int_eq(pc_dns_upstreams("192.0.2.1", a, 4, &n, &err), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(pc_addr_port_str(&a[0], buf), "192.0.2.1:53");
	ck_assert_int_eq(
		pc_dns_upstreams("192.0.2.1:5353,[2001:db8::1]:54,2001:db8::2", a, 4, &n, &err), 0);
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(pc_addr_port_str(&a[0], buf), "192.0.2.1:5353");
	ck_assert_str_eq(pc_addr_port_str(&a[1], buf), "[2001:db8::1]:54");
	ck_assert_str_eq(pc_addr_port_str(&a[2], buf), "[2001:db8::2]:53");
	ck_assert_int_eq(pc_dns_upstreams("192.0.2.1:0", a, 4, &n, &err), -EINVAL);
	ck_assert_int_eq(pc_dns_upstreams("dns.example", a, 4, &n, &err), -EINVAL);
	ck_assert_int_eq(pc_dns_upstreams("192.0.2.1,", a, 4, &n, &err), -EINVAL);
	ck_assert_int_eq(pc_dns_upstreams("1.1.1.1,2.2.2.2", a, 1, &n, &err), -EINVAL);
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	f = fdopen(fd, "w");
	fputs("# comment\nsearch example\nnameserver 192.0.2.53\nnameserver 2001:db8::53\n"
	      "nameserver fe80::1%eth0\noptions ndots:5\n",
	      f);
	fclose(f);
	ck_assert_int_eq(pc_dns_upstreams_from(path, a, 4, &n, &err), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(pc_addr_port_str(&a[0], buf), "192.0.2.53:53");
	ck_assert_str_eq(pc_addr_port_str(&a[1], buf), "[2001:db8::53]:53");
	f = fopen(path, "w");
	fputs("search example\n", f);
	fclose(f);
	ck_assert_int_eq(pc_dns_upstreams_from(path, a, 4, &n, &err), -EINVAL);
	ck_assert(strstr(err.msg, "--dns-server"));
	unlink(path);
	ck_assert_int_eq(pc_dns_upstreams_from(path, a, 4, &n, &err), -ENOENT);
}
END_TEST

START_TEST(stats_render)
{
	struct pc_dns_stats s = { 0 };
	struct pc_buf b = PC_BUF_INIT;

	s.queries_udp = 3;
	s.queries_tcp = 1;
	s.registry = 2;
	s.servfail = 1;
	s.bucket[0] = 2;
	s.bucket[12] = 1;
	s.over = 1;
	s.sum_us = 7500000;
	ck_assert_int_eq(pc_dns_stats_render(&s, &b), 0);
	ck_assert(strstr(b.p, "# TYPE portcullis_dns_queries_total counter\n"));
	ck_assert(strstr(b.p, "portcullis_dns_queries_total{transport=\"udp\"} 3\n"));
	ck_assert(strstr(b.p, "portcullis_dns_queries_total{transport=\"tcp\"} 1\n"));
	ck_assert(strstr(b.p, "portcullis_dns_answers_total{source=\"registry\"} 2\n"));
	ck_assert(strstr(b.p, "portcullis_dns_answers_total{source=\"servfail\"} 1\n"));
	ck_assert(strstr(b.p, "# TYPE portcullis_dns_request_duration_seconds histogram\n"));
	ck_assert(strstr(b.p, "portcullis_dns_request_duration_seconds_bucket{le=\"0.0005\"} 2\n"));
	ck_assert(strstr(b.p, "portcullis_dns_request_duration_seconds_bucket{le=\"2.5\"} 2\n"));
	ck_assert(strstr(b.p, "portcullis_dns_request_duration_seconds_bucket{le=\"5\"} 3\n"));
	ck_assert(strstr(b.p, "portcullis_dns_request_duration_seconds_bucket{le=\"+Inf\"} 4\n"));
	ck_assert(strstr(b.p, "portcullis_dns_request_duration_seconds_sum 7.500000\n"));
	ck_assert(strstr(b.p, "portcullis_dns_request_duration_seconds_count 4\n"));
	pc_buf_release(&b);
}
END_TEST

START_TEST(latency_recorded)
{
	struct fixture f;
	uint8_t q[512], r[4096];
	size_t ql = make_query(q, 5, "ours.example", PC_DNS_TYPE_A, 0);
	struct pc_dns_stats s;
	uint64_t total = 0;
	size_t i;

	start(&f, "127.0.0.1:0", UP_ANSWER, false, 2000);
	ck_assert_int_gt(udp_ask(&f.socks.s[0].addr, q, ql, r, sizeof(r), 2000), 12);
	ql = make_query(q, 6, "www.example.com", PC_DNS_TYPE_A, 0);
	ck_assert_int_gt(udp_ask(&f.socks.s[0].addr, q, ql, r, sizeof(r), 2000), 12);
	s = stats(&f);
	for (i = 0; i < PC_DNS_NBUCKETS; i++)
		total += s.bucket[i];
	ck_assert_uint_eq(total + s.over, 2);
	ck_assert_uint_gt(s.sum_us, 0);
	stop(&f);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("dns.proxy");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, forward_udp);
	tcase_add_test(tc, forward_ids_random);
	tcase_add_test(tc, silent_upstream_servfail);
	tcase_add_test(tc, dead_first_upstream);
	tcase_add_test(tc, wrong_answers_ignored);
	tcase_add_test(tc, truncated_retried_over_tcp);
	tcase_add_test(tc, registry_verdicts);
	tcase_add_test(tc, pending_then_kick);
	tcase_add_test(tc, pending_times_out);
	tcase_add_test(tc, parked_queries_are_capped);
	tcase_add_test(tc, tcp_half_close_after_a_query);
	tcase_add_test(tc, registry_only);
	tcase_add_test(tc, tcp_pipelined);
	tcase_add_test(tc, tcp_caps);
	tcase_add_test(tc, malformed_queries);
	tcase_add_test(tc, ipv6_loopback);
	tcase_add_test(tc, start_refuses_loop);
	tcase_add_test(tc, listen_specs);
	tcase_add_test(tc, upstream_specs);
	tcase_add_test(tc, stats_render);
	tcase_add_test(tc, latency_recorded);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
