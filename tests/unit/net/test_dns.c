/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for net/dns.c, against a fake DNS server on 127.0.0.1 (UDP
 * and TCP on one ephemeral port, in a thread of this process) that answers
 * every query as the test asks: with an rcode, or with an answer larger
 * than 4 KiB that only TCP carries.
 */
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/dns.h"

enum mode {
	ANSWER_RCODE, /* every query: header and question, with rcode <rcode> */
	ANSWER_BIG,   /* A: truncated over UDP, 20 TXT records then one A over TCP */
};

static atomic_int mode, rcode;
static int udp_fd = -1, tcp_fd = -1, stop_fds[2] = { -1, -1 };
static pthread_t server;
static char server_addr[32];

#define BIG_A "192.0.2.7"

/* The reply to query <q> (<qlen> bytes) into <out>; returns its length. */
static size_t reply(const unsigned char *q, size_t qlen, bool tcp, unsigned char *out)
{
	size_t qend = 12, len, i;
	uint16_t qtype;
	unsigned char *p;

	while (qend < qlen && q[qend])
		qend += q[qend] + 1u;
	qend += 5; /* the root label, QTYPE, QCLASS */
	ck_assert(qend <= qlen);
	qtype = (uint16_t)(q[qend - 4] << 8 | q[qend - 3]);
	memcpy(out, q, qend);
	out[2] = 0x81; /* QR, RD */
	out[3] = 0x80; /* RA */
	memset(out + 6, 0, 6); /* ancount, nscount, arcount */
	len = qend;
	if (atomic_load(&mode) == ANSWER_RCODE) {
		out[3] |= (unsigned char)atomic_load(&rcode);
		return len;
	}
	if (qtype != ns_t_a)
		return len; /* NOERROR, no data */
	if (!tcp) {
		out[2] |= 0x02; /* TC: ask again over TCP */
		return len;
	}
	p = out + len;
	for (i = 0; i < 20; i++) { /* 20 x 262 bytes of TXT: past 4 KiB */
		const unsigned char rr[] = { 0xc0, 12, 0, ns_t_txt, 0, ns_c_in, 0, 0, 0, 60, 0, 250,
					     249 };

		memcpy(p, rr, sizeof(rr));
		memset(p + sizeof(rr), 'x', 249);
		p += sizeof(rr) + 249;
	}
	{
		const unsigned char rr[] = { 0xc0, 12, 0, ns_t_a, 0, ns_c_in, 0, 0, 0, 30, 0, 4 };

		memcpy(p, rr, sizeof(rr));
		p += sizeof(rr);
		inet_pton(AF_INET, BIG_A, p);
		p += 4;
	}
	out[7] = 21; /* ancount */
	return (size_t)(p - out);
}

static void serve_tcp(int fd)
{
	static unsigned char q[512], out[8192];
	unsigned char hdr[2];
	size_t qlen, len;

	if (recv(fd, hdr, 2, MSG_WAITALL) != 2)
		return;
	qlen = (size_t)(hdr[0] << 8 | hdr[1]);
	if (qlen > sizeof(q) || recv(fd, q, qlen, MSG_WAITALL) != (ssize_t)qlen)
		return;
	len = reply(q, qlen, true, out + 2);
	out[0] = (unsigned char)(len >> 8);
	out[1] = (unsigned char)len;
	ck_assert(send(fd, out, len + 2, MSG_NOSIGNAL) == (ssize_t)(len + 2));
}

static void *server_main(void *arg)
{
	struct pollfd pfd[3] = { { udp_fd, POLLIN, 0 }, { tcp_fd, POLLIN, 0 },
				 { stop_fds[0], POLLIN, 0 } };
	unsigned char q[512], out[8192];
	struct sockaddr_in from;
	socklen_t fromlen;
	ssize_t n;
	int fd;

	(void)arg;
	while (poll(pfd, 3, -1) > 0 && !pfd[2].revents) {
		if (pfd[0].revents) {
			fromlen = sizeof(from);
			n = recvfrom(udp_fd, q, sizeof(q), 0, (struct sockaddr *)&from, &fromlen);
			if (n > 0)
				sendto(udp_fd, out, reply(q, (size_t)n, false, out), 0,
				       (struct sockaddr *)&from, fromlen);
		}
		if (pfd[1].revents) {
			fd = accept(tcp_fd, NULL, NULL);
			if (fd >= 0) {
				serve_tcp(fd);
				close(fd);
			}
		}
	}
	return NULL;
}

static void server_start(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int one = 1;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	udp_fd = socket(AF_INET, SOCK_DGRAM, 0);
	ck_assert_int_ge(udp_fd, 0);
	ck_assert_int_eq(bind(udp_fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(getsockname(udp_fd, (struct sockaddr *)&sin, &len), 0);
	tcp_fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(tcp_fd, 0);
	setsockopt(tcp_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	ck_assert_int_eq(bind(tcp_fd, (struct sockaddr *)&sin, sizeof(sin)), 0); /* same port */
	ck_assert_int_eq(listen(tcp_fd, 4), 0);
	ck_assert_int_eq(pipe(stop_fds), 0);
	snprintf(server_addr, sizeof(server_addr), "127.0.0.1:%u", (unsigned)ntohs(sin.sin_port));
	ck_assert_int_eq(pthread_create(&server, NULL, server_main, NULL), 0);
}

static void server_stop(void)
{
	ck_assert_int_eq(write(stop_fds[1], "x", 1), 1);
	pthread_join(server, NULL);
	close(udp_fd);
	close(tcp_fd);
	close(stop_fds[0]);
	close(stop_fds[1]);
}

/* Resolve "db.example" against the fake server answering with <rc>. */
static int resolve_rcode(int rc, size_t *n)
{
	struct pc_addr out[4];
	struct pc_dns *dns;
	uint32_t ttl;
	int ret;

	atomic_store(&mode, ANSWER_RCODE);
	atomic_store(&rcode, rc);
	ck_assert_int_eq(pc_dns_new(server_addr, &dns), 0);
	ret = pc_dns_resolve(dns, "db.example", 5432, out, 4, n, &ttl);
	pc_dns_free(dns);
	return ret;
}

/* Only an answer that says "no such name" or "no address" is -ENOENT. */
START_TEST(rcodes)
{
	size_t n = 9;

	server_start();
	ck_assert_int_eq(resolve_rcode(ns_r_nxdomain, &n), -ENOENT);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(resolve_rcode(ns_r_noerror, &n), -ENOENT); /* no data */
	ck_assert_int_eq(resolve_rcode(ns_r_servfail, &n), -EAGAIN);
	/* glibc tries the next server after these, then says TRY_AGAIN */
	ck_assert_int_eq(resolve_rcode(ns_r_refused, &n), -EAGAIN);
	ck_assert_int_eq(resolve_rcode(ns_r_notimpl, &n), -EAGAIN);
	/* and NO_RECOVERY for these: they say nothing about the name either */
	ck_assert_int_eq(resolve_rcode(ns_r_formerr, &n), -EPROTO);
	ck_assert_int_eq(resolve_rcode(ns_r_yxdomain, &n), -EPROTO);
	server_stop();
}
END_TEST

/*
 * An answer over TCP larger than 4 KiB: all of it is read and parsed (the
 * old code parsed res_nquery's whole length out of a 4 KiB buffer).
 */
START_TEST(answer_over_4k)
{
	struct pc_addr out[4], want;
	struct pc_dns *dns;
	uint32_t ttl;
	size_t n = 0;

	server_start();
	atomic_store(&mode, ANSWER_BIG);
	ck_assert_int_eq(pc_dns_new(server_addr, &dns), 0);
	ck_assert_int_eq(pc_dns_resolve(dns, "big.example", 80, out, 4, &n, &ttl), 0);
	pc_dns_free(dns);
	server_stop();
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(pc_addr_parse(BIG_A, &want), 0);
	want.port = 80;
	ck_assert(pc_addr_equal(&out[0], &want));
	ck_assert_uint_eq(out[0].port, 80);
	ck_assert_uint_eq(ttl, 30);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("dns");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, rcodes);
	tcase_add_test(tc, answer_over_4k);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
