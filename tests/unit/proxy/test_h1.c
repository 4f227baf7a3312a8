/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for proxy/h1.c: request heads held until allowed (keep-alive,
 * pipelining, any split down to 1-byte segments), bodies by Content-Length
 * and chunked, every smuggling shape refused with nothing of it released,
 * authorities in every form, CONNECT and Upgrade becoming opaque only when
 * the upstream agrees, h2c refused, and responses matched to requests.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/h1.h"

#define MAXREQ 40

/* What drive() saw: the heads, where the stream was when each was reported. */
struct run {
	enum pc_h1_verdict last;
	int heads;
	struct pc_h1_req req[MAXREQ];
	uint64_t released_at[MAXREQ]; /* pc_h1_released() when the head was reported */
	uint64_t fed_at[MAXREQ];      /* pc_h1_fed() then: the head's end */
};

/*
 * Feed <s> as a client would, <seg> bytes per read; allow every head when
 * <allow> (with tag = its index), else stop at the first head. Stops at
 * any verdict but MORE and HEAD, or when everything was fed.
 */
static enum pc_h1_verdict drive(struct pc_h1 *h, const char *s, size_t n, size_t seg, bool allow,
				struct run *r)
{
	size_t received = 0;
	uint64_t base = pc_h1_fed(h);

	memset(r, 0, sizeof(*r));
	for (;;) {
		size_t used, off = (size_t)(pc_h1_fed(h) - base);
		enum pc_h1_verdict v;

		if (off == received && received < n)
			received = received + seg > n ? n : received + seg;
		v = pc_h1_request(h, (const uint8_t *)s + off, received - off, &used);
		ck_assert_uint_le(used, received - off);
		ck_assert_uint_le(pc_h1_released(h), pc_h1_fed(h));
		r->last = v;
		if (v == PC_H1_HEAD) {
			ck_assert_int_lt(r->heads, MAXREQ);
			r->req[r->heads] = h->req;
			r->released_at[r->heads] = pc_h1_released(h);
			r->fed_at[r->heads] = pc_h1_fed(h);
			if (!allow)
				return v;
			ck_assert_int_eq(pc_h1_allow(h, (uint64_t)r->heads + 100), 0);
			ck_assert_uint_eq(pc_h1_released(h), pc_h1_fed(h));
			r->heads++;
			continue;
		}
		if (v != PC_H1_MORE)
			return v;
		if (received == n && pc_h1_fed(h) - base == n)
			return v;
	}
}

static enum pc_h1_verdict drive_str(struct pc_h1 *h, const char *s, size_t seg, struct run *r)
{
	return drive(h, s, strlen(s), seg, true, r);
}

/* Feed a whole response stream <s>, <seg> bytes at a time; the statuses of final responses. */
static int responses(struct pc_h1 *h, const char *s, size_t seg, unsigned *status, uint64_t *tag,
		     enum pc_h1_rverdict *last)
{
	size_t n = strlen(s), off = 0, received = 0;
	int k = 0;

	*last = PC_H1_R_MORE;
	while (off < n) {
		size_t used;
		enum pc_h1_rverdict v;

		if (off == received)
			received = received + seg > n ? n : received + seg;
		v = pc_h1_response(h, (const uint8_t *)s + off, received - off, &used);
		ck_assert_uint_le(used, received - off);
		off += used;
		*last = v;
		if (v == PC_H1_R_DONE || v == PC_H1_R_SWITCH) {
			status[k] = h->resp.status;
			tag[k] = h->resp.tag;
			k++;
		}
		if (v == PC_H1_R_BAD || v == PC_H1_R_SWITCH)
			break;
	}
	return k;
}

START_TEST(keep_alive_second_host_reported)
{
	static const char a[] = "GET / HTTP/1.1\r\nHost: a.example\r\n\r\n";
	static const char b[] = "GET /x HTTP/1.1\r\nHost: B.Example:8080\r\n\r\n";
	struct pc_h1 h;
	size_t used;

	pc_h1_init(&h);
	ck_assert_int_eq(pc_h1_request(&h, (const uint8_t *)a, strlen(a), &used), PC_H1_HEAD);
	ck_assert_uint_eq(used, strlen(a));
	ck_assert_str_eq(h.req.name, "a.example");
	ck_assert_uint_eq(h.req.port, 0);
	ck_assert_str_eq(h.req.method_name, "GET");
	ck_assert(h.req.keep_alive);
	ck_assert_uint_eq(pc_h1_released(&h), 0);
	/* asked again before a decision: the same answer, nothing consumed */
	ck_assert_int_eq(pc_h1_request(&h, (const uint8_t *)b, strlen(b), &used), PC_H1_HEAD);
	ck_assert_uint_eq(used, 0);
	ck_assert_int_eq(pc_h1_allow(&h, 7), 0);
	ck_assert_int_eq(pc_h1_allow(&h, 7), -EINVAL);
	ck_assert_uint_eq(pc_h1_released(&h), strlen(a));

	ck_assert_int_eq(pc_h1_request(&h, (const uint8_t *)b, strlen(b), &used), PC_H1_HEAD);
	ck_assert_str_eq(h.req.name, "b.example");
	ck_assert_uint_eq(h.req.port, 8080);
	ck_assert_str_eq(h.req.target, "/x");
	ck_assert_uint_eq(h.req.seq, 1);
	ck_assert_uint_eq(pc_h1_released(&h), strlen(a)); /* b is held */
	ck_assert_uint_eq(pc_h1_pending_count(&h), 1);
}
END_TEST

START_TEST(pipelined_each_held)
{
	static const char s[] = "GET /1 HTTP/1.1\r\nHost: a.example\r\n\r\n"
				"GET /2 HTTP/1.1\r\nHost: evil.example\r\n\r\n"
				"GET /3 HTTP/1.1\r\nHost: a.example\r\n\r\n";
	size_t l1 = strlen("GET /1 HTTP/1.1\r\nHost: a.example\r\n\r\n");
	size_t l2 = strlen("GET /2 HTTP/1.1\r\nHost: evil.example\r\n\r\n");
	struct pc_h1 h;
	struct run r;
	size_t used;

	pc_h1_init(&h);
	ck_assert_int_eq(drive_str(&h, s, sizeof(s) - 1, &r), PC_H1_MORE);
	ck_assert_int_eq(r.heads, 3);
	ck_assert_uint_eq(r.released_at[0], 0);
	ck_assert_uint_eq(r.released_at[1], l1);
	ck_assert_uint_eq(r.released_at[2], l1 + l2);
	ck_assert_str_eq(r.req[1].name, "evil.example");

	/* the same buffer, the second denied: nothing of it, nor of the third, is released */
	pc_h1_init(&h);
	ck_assert_int_eq(pc_h1_request(&h, (const uint8_t *)s, sizeof(s) - 1, &used), PC_H1_HEAD);
	ck_assert_int_eq(pc_h1_allow(&h, 0), 0);
	ck_assert_int_eq(pc_h1_request(&h, (const uint8_t *)s + used, sizeof(s) - 1 - used, &used),
			 PC_H1_HEAD);
	ck_assert_str_eq(h.req.name, "evil.example");
	ck_assert_uint_eq(pc_h1_released(&h), l1);
	ck_assert_uint_eq(pc_h1_fed(&h), l1 + l2);
}
END_TEST

static const char mixed[] =
	"POST /up HTTP/1.1\r\nHost: a.example\r\nContent-Length: 5\r\n\r\nhello"
	"POST /c HTTP/1.1\r\nHost: b.example\r\nTransfer-Encoding: chunked\r\n\r\n"
	"5;name=value\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-Sum: 1\r\n\r\n"
	"GET /last HTTP/1.0\r\nHost: c.example\r\nConnection: keep-alive\r\n\r\n";

START_TEST(any_split_same_answers)
{
	size_t l1 =
		strlen("POST /up HTTP/1.1\r\nHost: a.example\r\nContent-Length: 5\r\n\r\nhello");
	size_t l2 =
		strlen("POST /c HTTP/1.1\r\nHost: b.example\r\nTransfer-Encoding: chunked\r\n\r\n"
		       "5;name=value\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n"
		       "X-Sum: 1\r\n\r\n");
	size_t seg;

	for (seg = 1; seg <= sizeof(mixed); seg++) {
		struct pc_h1 h;
		struct run r;

		pc_h1_init(&h);
		ck_assert_int_eq(drive_str(&h, mixed, seg, &r), PC_H1_MORE);
		ck_assert_int_eq(r.heads, 3);
		ck_assert_str_eq(r.req[0].name, "a.example");
		ck_assert_uint_eq(r.req[0].content_length, 5);
		ck_assert_str_eq(r.req[1].name, "b.example");
		ck_assert(r.req[1].chunked);
		ck_assert_str_eq(r.req[2].name, "c.example");
		ck_assert_uint_eq(r.req[2].http_minor, 0);
		ck_assert(r.req[2].keep_alive);
		ck_assert_uint_eq(r.released_at[1], l1);
		ck_assert_uint_eq(r.released_at[2], l1 + l2);
		ck_assert_uint_eq(pc_h1_released(&h), sizeof(mixed) - 1);
	}
}
END_TEST

START_TEST(body_bytes_released_as_they_come)
{
	static const char s[] = "POST / HTTP/1.1\r\nHost: a.example\r\nContent-Length: 10\r\n\r\n";
	struct pc_h1 h;
	size_t used;

	pc_h1_init(&h);
	ck_assert_int_eq(pc_h1_request(&h, (const uint8_t *)s, strlen(s), &used), PC_H1_HEAD);
	ck_assert_int_eq(pc_h1_allow(&h, 0), 0);
	ck_assert_int_eq(pc_h1_request(&h, (const uint8_t *)"abcd", 4, &used), PC_H1_MORE);
	ck_assert_uint_eq(pc_h1_released(&h), strlen(s) + 4);
	/* the body's end and the next head in one read: the head is held */
	ck_assert_int_eq(pc_h1_request(&h, (const uint8_t *)"efghijGET / HTTP/1.1\r\n", 22, &used),
			 PC_H1_MORE);
	ck_assert_uint_eq(pc_h1_released(&h), strlen(s) + 10);
	ck_assert_uint_eq(pc_h1_fed(&h), strlen(s) + 26);
}
END_TEST

struct bad_case {
	const char *in;
	unsigned status;
	size_t keep; /* bytes that may be released before the fault: an allowed head */
	size_t len;  /* 0: strlen(in) */
};

#define H "Host: a.example\r\n"
static const struct bad_case bad_cases[] = {
	{ "POST / HTTP/1.1\r\n" H "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400, 0,
	  0 },
	{ "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 400, 0,
	  0 },
	{ "POST / HTTP/1.1\r\n" H "Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc", 400, 0, 0 },
	{ "POST / HTTP/1.1\r\n" H "Content-Length: 3\r\nContent-Length: 4\r\n\r\nabc", 400, 0, 0 },
	{ "POST / HTTP/1.1\r\n" H "Content-Length: 3, 3\r\n\r\nabc", 400, 0, 0 },
	{ "POST / HTTP/1.1\r\n" H "Content-Length: +3\r\n\r\nabc", 400, 0, 0 },
	{ "POST / HTTP/1.1\r\n" H "Transfer-Encoding: gzip\r\n\r\n", 400, 0, 0 },
	{ "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked, gzip\r\n\r\n", 400, 0, 0 },
	{ "POST / HTTP/1.1\r\n" H "Transfer-Encoding: gzip, chunked\r\n\r\n", 400, 0, 0 },
	{ "POST / HTTP/1.1\r\n" H
	  "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
	  400, 0, 0 },
	{ "POST / HTTP/1.1\r\n" H "Transfer-Encoding: xchunked\r\n\r\n", 400, 0, 0 },
	{ "POST / HTTP/1.0\r\n" H "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, 0, 0 },
	{ "GET / HTTP/1.1\r\n" H "X-A: 1\r\n  folded\r\n\r\n", 400, 0, 0 },
	{ "GET / HTTP/1.1\r\n" H "X-A: 1\r\n\tfolded\r\n\r\n", 400, 0, 0 },
	{ "GET / HTTP/1.1\n" H "\r\n", 400, 0, 0 },
	{ "GET / HTTP/1.1\r\nHost: a.example\n\r\n", 400, 0, 0 },
	{ "GET / HTTP/1.1\r\n" H "\n", 400, 0, 0 },
	{ "GET / HTTP/1.1\r\n" H "X-A: a\rb\r\n\r\n", 400, 0, 0 },
	{ "GET / HTTP/1.1\r\n" H "X-A: a\0b\r\n\r\n", 400, 0,
	  sizeof("GET / HTTP/1.1\r\n" H "X-A: a\0b\r\n\r\n") - 1 },
	{ "GET / HTTP/1.1\r\n" H "X-A: a\001b\r\n\r\n", 400, 0, 0 },
	{ "GET / HTTP/1.1\r\nHost : a.example\r\n\r\n", 400, 0, 0 },
	{ "GET / HTTP/1.1\r\nHost\t: a.example\r\n\r\n", 400, 0, 0 },
	{ "GET / HTTP/1.1\r\n" H "Host: b.example\r\n\r\n", 400, 0, 0 },
	{ "GET / HTTP/1.1\r\n" H H "\r\n", 400, 0, 0 },
	{ "GET http://b.example/ HTTP/1.1\r\n" H "\r\n", 400, 0, 0 },
	{ "GET http://a.example:81/ HTTP/1.1\r\nHost: a.example:80\r\n\r\n", 400, 0, 0 },
	{ "GET http://u@a.example/ HTTP/1.1\r\n" H "\r\n", 400, 0, 0 },
	{ "GET ftp://a.example/ HTTP/1.1\r\n" H "\r\n", 400, 0, 0 },
	{ "GET / HTTP/1.1\r\n\r\n", 400, 0, 0 },
	{ "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400, 0, 0 },
	{ "GET / HTTP/1.1\r\nHost: a.example:\r\n\r\n", 400, 0, 0 },
	{ "GET / HTTP/1.1\r\nHost: a.example:99999\r\n\r\n", 400, 0, 0 },
	{ "GET / HTTP/1.1\r\nHost: 999.1.1.1\r\n\r\n", 400, 0, 0 },
	{ "GET / HTTP/1.1\r\nHost: [2001:db8::zz]\r\n\r\n", 400, 0, 0 },
	{ "GET / HTTP/1.1\r\nHost: \r\n\r\n", 400, 0, 0 },
	{ "\r\nGET / HTTP/1.1\r\n" H "\r\n", 400, 0, 0 },
	{ "GET  / HTTP/1.1\r\n" H "\r\n", 400, 0, 0 },
	{ "GET / HTTP/1.2\r\n" H "\r\n", 400, 0, 0 },
	{ "GET / HTTP/1.1 \r\n" H "\r\n", 400, 0, 0 },
	{ "get / HTTP/1.1\r\n" H "\r\n", 400, 0, 0 },
	{ "FROB / HTTP/1.1\r\n" H "\r\n", 400, 0, 0 },
	{ "GET * HTTP/1.1\r\n" H "\r\n", 400, 0, 0 },
	{ "CONNECT a.example HTTP/1.1\r\n" H "\r\n", 400, 0, 0 },
	{ "CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\nContent-Length: 2\r\n\r\nhi",
	  400, 0, 0 },
/* chunk framing: the head went, and the framing lines completed before the fault */
#define C "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n"
	{ C "zz\r\n", 400, sizeof(C) - 1, 0 },
	{ C "\r\n", 400, sizeof(C) - 1, 0 },
	{ C "-1\r\n", 400, sizeof(C) - 1, 0 },
	{ C "0x5\r\nhello\r\n0\r\n\r\n", 400, sizeof(C) - 1, 0 },
	{ C "10000000000000000\r\n", 400, sizeof(C) - 1, 0 },
	{ C "1000000000000000\r\n", 400, sizeof(C) - 1, 0 },
	{ C "5\nhello\r\n0\r\n\r\n", 400, sizeof(C) - 1, 0 },
	{ C "5\r\nhelloXX0\r\n\r\n", 400, sizeof(C) - 1 + 8, 0 },
	{ C "5\r\nhello\n0\r\n\r\n", 400, sizeof(C) - 1 + 8, 0 },
	{ C "5;a\nb\r\nhello\r\n0\r\n\r\n", 400, sizeof(C) - 1, 0 },
	{ C "0\r\nX: 1\n\r\n", 400, sizeof(C) - 1 + 3, 0 },
	{ C "0\r\n folded: 1\r\n\r\n", 400, sizeof(C) - 1 + 3, 0 },
	{ C "0\r\n\n", 400, sizeof(C) - 1 + 3, 0 },
};

START_TEST(smuggling_refused)
{
	const struct bad_case *c = &bad_cases[_i];
	size_t n = c->len ? c->len : strlen(c->in), seg;

	for (seg = 1; seg <= n; seg += seg < 4 ? 1 : 16) {
		struct pc_h1 h;
		struct run r;

		pc_h1_init(&h);
		ck_assert_msg(drive(&h, c->in, n, seg, true, &r) == PC_H1_BAD,
			      "case %d seg %zu: %d", _i, seg, r.last);
		ck_assert_uint_eq(h.status, c->status);
		ck_assert_ptr_nonnull(h.reason);
		ck_assert_msg(pc_h1_released(&h) <= c->keep, "case %d released %llu > %zu", _i,
			      (unsigned long long)pc_h1_released(&h), c->keep);
		/* sticky */
		ck_assert_int_eq(drive(&h, "GET / HTTP/1.1\r\n" H "\r\n", 33, 33, true, &r),
				 PC_H1_BAD);
	}
}
END_TEST

START_TEST(oversized_head_431)
{
	static char s[PC_H1_HEAD_MAX + 100];
	struct pc_h1 h;
	struct run r;
	size_t n;

	n = (size_t)snprintf(s, sizeof(s), "GET / HTTP/1.1\r\n" H "X-Pad: ");
	memset(s + n, 'a', sizeof(s) - n - 1);
	pc_h1_init(&h);
	ck_assert_int_eq(drive(&h, s, sizeof(s) - 1, 512, true, &r), PC_H1_BAD);
	ck_assert_uint_eq(h.status, 431);
	ck_assert_uint_eq(pc_h1_released(&h), 0);
	ck_assert_uint_le(pc_h1_fed(&h), PC_H1_HEAD_MAX + 1);

	/* exactly PC_H1_HEAD_MAX bytes is still a head */
	n = (size_t)snprintf(s, sizeof(s), "GET / HTTP/1.1\r\n" H "X-Pad: ");
	memset(s + n, 'a', PC_H1_HEAD_MAX - n - 4);
	memcpy(s + PC_H1_HEAD_MAX - 4, "\r\n\r\n", 4);
	pc_h1_init(&h);
	ck_assert_int_eq(drive(&h, s, PC_H1_HEAD_MAX, 1000, false, &r), PC_H1_HEAD);
}
END_TEST

START_TEST(authority_forms)
{
	struct pc_h1 h;
	struct run r;
	char big[PC_H1_TARGET_MAX + 100];

	pc_h1_init(&h);
	drive_str(&h,
		  "GET http://Api.Example.COM:8080/p?q=1 HTTP/1.1\r\nHost: "
		  "api.example.com:8080\r\n\r\n",
		  7, &r);
	ck_assert_int_eq(r.heads, 1);
	ck_assert(r.req[0].absolute);
	ck_assert_str_eq(r.req[0].name, "api.example.com");
	ck_assert_uint_eq(r.req[0].port, 8080);
	ck_assert_str_eq(r.req[0].target, "http://Api.Example.COM:8080/p?q=1");

	pc_h1_init(&h);
	drive_str(&h, "GET http://a.example. HTTP/1.0\r\n\r\n", 3, &r);
	ck_assert_int_eq(r.heads, 1);
	ck_assert_str_eq(r.req[0].name, "a.example");
	ck_assert(!r.req[0].keep_alive);

	pc_h1_init(&h);
	drive_str(&h, "GET / HTTP/1.0\r\n\r\n", 3, &r);
	ck_assert_int_eq(r.heads, 1);
	ck_assert_uint_eq(r.req[0].namelen, 0);

	pc_h1_init(&h);
	drive_str(&h, "GET / HTTP/1.1\r\nHost: 192.0.2.7:80\r\n\r\n", 5, &r);
	ck_assert(r.req[0].is_ip);
	ck_assert_str_eq(r.req[0].name, "192.0.2.7");
	ck_assert_uint_eq(r.req[0].port, 80);

	pc_h1_init(&h);
	drive_str(&h, "OPTIONS * HTTP/1.1\r\nHost: [2001:DB8::1]:443\r\n\r\n", 5, &r);
	ck_assert_int_eq(r.heads, 1);
	ck_assert(r.req[0].is_ip);
	ck_assert_str_eq(r.req[0].name, "2001:db8::1");
	ck_assert_uint_eq(r.req[0].port, 443);

	memset(big, 'a', sizeof(big));
	memcpy(big, "GET /", 5);
	snprintf(big + PC_H1_TARGET_MAX + 50, 50, " HTTP/1.1\r\n" H "\r\n");
	pc_h1_init(&h);
	drive_str(&h, big, 64, &r);
	ck_assert_int_eq(r.heads, 1);
	ck_assert(r.req[0].target_cut);
	ck_assert_uint_eq(r.req[0].targetlen, PC_H1_TARGET_MAX);
	ck_assert_uint_eq(strlen(r.req[0].target), PC_H1_TARGET_MAX);
}
END_TEST

START_TEST(connect_becomes_opaque_when_upstream_agrees)
{
	static const char s[] =
		"CONNECT api.example.com:443 HTTP/1.1\r\nHost: api.example.com:443\r\n\r\n"
		"\x16\x03\x01 early";
	static const char ok[] = "HTTP/1.1 200 Connection established\r\n\r\n\x16\x03\x03";
	struct pc_h1 h;
	size_t used, head = strlen(s) - 9;
	unsigned st[4];
	uint64_t tag[4];
	enum pc_h1_rverdict rv;

	pc_h1_init(&h);
	ck_assert_int_eq(pc_h1_request(&h, (const uint8_t *)s, strlen(s), &used), PC_H1_HEAD);
	ck_assert(h.req.connect);
	ck_assert_str_eq(h.req.name, "api.example.com");
	ck_assert_uint_eq(h.req.port, 443);
	ck_assert_int_eq(pc_h1_allow(&h, 5), 0);
	ck_assert_int_eq(pc_h1_request(&h, (const uint8_t *)s + head, 9, &used), PC_H1_SWITCHING);
	ck_assert_uint_eq(used, 0);
	ck_assert_uint_eq(pc_h1_released(&h), head);
	ck_assert_int_eq(responses(&h, ok, 1, st, tag, &rv), 1);
	ck_assert_int_eq(rv, PC_H1_R_SWITCH);
	ck_assert_uint_eq(st[0], 200);
	ck_assert_uint_eq(tag[0], 5);
	ck_assert_int_eq(pc_h1_request(&h, (const uint8_t *)s + head, 9, &used), PC_H1_OPAQUE);
	ck_assert_uint_eq(used, 9);
	ck_assert_uint_eq(pc_h1_released(&h), strlen(s));
	ck_assert_int_eq(pc_h1_response(&h, (const uint8_t *)"\x17\x03\x03", 3, &used),
			 PC_H1_R_MORE);
	ck_assert_uint_eq(used, 3);
}
END_TEST

START_TEST(declined_connect_stays_http)
{
	static const char s[] =
		"CONNECT api.example.com:443 HTTP/1.1\r\nHost: api.example.com:443\r\n\r\n";
	static const char next[] = "GET / HTTP/1.1\r\nHost: evil.example\r\n\r\n";
	struct pc_h1 h;
	size_t used;
	unsigned st[4];
	uint64_t tag[4];
	enum pc_h1_rverdict rv;

	pc_h1_init(&h);
	ck_assert_int_eq(pc_h1_request(&h, (const uint8_t *)s, strlen(s), &used), PC_H1_HEAD);
	ck_assert_int_eq(pc_h1_allow(&h, 0), 0);
	ck_assert_int_eq(pc_h1_request(&h, (const uint8_t *)next, strlen(next), &used),
			 PC_H1_SWITCHING);
	ck_assert_int_eq(
		responses(&h, "HTTP/1.1 407 Auth\r\nContent-Length: 2\r\n\r\nno", 3, st, tag, &rv),
		1);
	ck_assert_int_eq(rv, PC_H1_R_DONE);
	ck_assert_uint_eq(st[0], 407);
	ck_assert_int_eq(pc_h1_request(&h, (const uint8_t *)next, strlen(next), &used), PC_H1_HEAD);
	ck_assert_str_eq(h.req.name, "evil.example");
	ck_assert_uint_eq(pc_h1_released(&h), strlen(s));
}
END_TEST

START_TEST(websocket_upgrade)
{
	static const char s[] = "GET /chat HTTP/1.1\r\nHost: ws.example\r\nUpgrade: websocket\r\n"
				"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
				"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
	static const char sw[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
				 "Connection: Upgrade\r\n\r\n\x81\x02hi";
	struct pc_h1 h;
	struct run r;
	size_t used;
	unsigned st[4];
	uint64_t tag[4];
	enum pc_h1_rverdict rv;

	pc_h1_init(&h);
	ck_assert_int_eq(drive_str(&h, s, 1, &r), PC_H1_SWITCHING);
	ck_assert_int_eq(r.heads, 1);
	ck_assert(r.req[0].upgrade);
	ck_assert(!r.req[0].connect);
	ck_assert_int_eq(pc_h1_request(&h, (const uint8_t *)"\x81\x82", 2, &used), PC_H1_SWITCHING);
	ck_assert_int_eq(responses(&h, sw, 5, st, tag, &rv), 1);
	ck_assert_int_eq(rv, PC_H1_R_SWITCH);
	ck_assert_uint_eq(st[0], 101);
	ck_assert_int_eq(pc_h1_request(&h, (const uint8_t *)"\x81\x82", 2, &used), PC_H1_OPAQUE);
	ck_assert_uint_eq(pc_h1_released(&h), strlen(s) + 2);

	/* declined: HTTP goes on */
	pc_h1_init(&h);
	ck_assert_int_eq(drive_str(&h, s, 64, &r), PC_H1_SWITCHING);
	ck_assert_int_eq(
		responses(&h, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 64, st, tag, &rv), 1);
	ck_assert_int_eq(rv, PC_H1_R_DONE);
	ck_assert_int_eq(drive_str(&h, "GET / HTTP/1.1\r\nHost: b.example\r\n\r\n", 64, &r),
			 PC_H1_MORE);
	ck_assert_int_eq(r.heads, 1);
	ck_assert_str_eq(r.req[0].name, "b.example");
}
END_TEST

START_TEST(h2_refused)
{
	static const char pri[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04";
	struct pc_h1 h;
	struct run r;

	pc_h1_init(&h);
	ck_assert_int_eq(drive(&h, pri, sizeof(pri) - 1, 1, true, &r), PC_H1_H2);
	ck_assert_uint_eq(pc_h1_released(&h), 0);
	ck_assert_ptr_nonnull(h.reason);

	pc_h1_init(&h);
	ck_assert_int_eq(drive_str(&h,
				   "GET / HTTP/1.1\r\nHost: a.example\r\nConnection: Upgrade, "
				   "HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: "
				   "AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n",
				   9, &r),
			 PC_H1_H2);
	ck_assert_uint_eq(pc_h1_released(&h), 0);
	ck_assert_str_eq(h.req.name, "a.example");
	ck_assert_int_eq(pc_h1_allow(&h, 0), -EINVAL);
}
END_TEST

START_TEST(responses_matched)
{
	static const char req[] =
		"GET /1 HTTP/1.1\r\n" H "\r\nHEAD /2 HTTP/1.1\r\n" H "\r\n"
		"POST /3 HTTP/1.1\r\n" H "Expect: 100-continue\r\nContent-Length: 2\r\n\r\nhi"
		"GET /4 HTTP/1.1\r\n" H "\r\n";
	static const char resp[] =
		"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"
		"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"
		"HTTP/1.1 100 Continue\r\n\r\n"
		"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
		"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n";
	size_t seg;

	for (seg = 1; seg < 40; seg += 3) {
		struct pc_h1 h;
		struct run r;
		unsigned st[8];
		uint64_t tag[8];
		enum pc_h1_rverdict rv;

		pc_h1_init(&h);
		ck_assert_int_eq(drive_str(&h, req, seg, &r), PC_H1_MORE);
		ck_assert_int_eq(r.heads, 4);
		ck_assert_uint_eq(pc_h1_pending_count(&h), 4);
		ck_assert_int_eq(responses(&h, resp, seg, st, tag, &rv), 4);
		ck_assert_int_eq(rv, PC_H1_R_DONE);
		ck_assert_uint_eq(st[0], 200);
		ck_assert_uint_eq(st[1], 200);
		ck_assert_uint_eq(st[2], 201);
		ck_assert_uint_eq(st[3], 204);
		ck_assert_uint_eq(tag[0], 100);
		ck_assert_uint_eq(tag[3], 103);
		ck_assert_uint_eq(pc_h1_pending_count(&h), 0);
	}
}
END_TEST

START_TEST(response_edge_cases)
{
	struct pc_h1 h;
	struct run r;
	size_t used;
	unsigned st[4];
	uint64_t tag[4];
	enum pc_h1_rverdict rv;

	/* a response with no request */
	pc_h1_init(&h);
	ck_assert_int_eq(pc_h1_response(&h, (const uint8_t *)"HTTP/1.1 200 OK\r\n", 17, &used),
			 PC_H1_R_BAD);

	/* 101 to a request that asked no upgrade */
	pc_h1_init(&h);
	drive_str(&h, "GET / HTTP/1.1\r\n" H "\r\n", 100, &r);
	responses(&h, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n", 100, st, tag, &rv);
	ck_assert_int_eq(rv, PC_H1_R_BAD);
	ck_assert_int_eq(pc_h1_request(&h, (const uint8_t *)"x", 1, &used), PC_H1_MORE);

	/* a body read to the close */
	pc_h1_init(&h);
	drive_str(&h, "GET / HTTP/1.0\r\n\r\n", 100, &r);
	ck_assert_int_eq(responses(&h, "HTTP/1.0 200 OK\r\n\r\nabcdef", 4, st, tag, &rv), 0);
	ck_assert_int_eq(rv, PC_H1_R_MORE);
	ck_assert_int_eq(pc_h1_response_eof(&h), PC_H1_R_DONE);
	ck_assert_uint_eq(h.resp.status, 200);
	ck_assert_uint_eq(h.resp.bytes, 25);

	/* cut short */
	pc_h1_init(&h);
	drive_str(&h, "GET / HTTP/1.1\r\n" H "\r\n", 100, &r);
	responses(&h, "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc", 100, st, tag, &rv);
	ck_assert_int_eq(pc_h1_response_eof(&h), PC_H1_R_BAD);

	/* nothing in progress */
	pc_h1_init(&h);
	ck_assert_int_eq(pc_h1_response_eof(&h), PC_H1_R_MORE);

	/* a request after Connection: close */
	pc_h1_init(&h);
	ck_assert_int_eq(drive_str(&h,
				   "GET / HTTP/1.1\r\n" H "Connection: close\r\n\r\n"
				   "GET / HTTP/1.1\r\n" H "\r\n",
				   100, &r),
			 PC_H1_BAD);
	ck_assert_int_eq(r.heads, 1);
}
END_TEST

START_TEST(pipeline_bounded)
{
	static const char one[] = "GET / HTTP/1.1\r\n" H "\r\n";
	static char s[sizeof(one) * (PC_H1_PIPELINE_MAX + 1)];
	struct pc_h1 h;
	struct run r;
	size_t i, used, len = sizeof(one) - 1;
	unsigned st[4];
	uint64_t tag[4];
	enum pc_h1_rverdict rv;

	for (i = 0; i <= PC_H1_PIPELINE_MAX; i++)
		memcpy(s + i * len, one, len);
	pc_h1_init(&h);
	ck_assert_int_eq(drive(&h, s, len * (PC_H1_PIPELINE_MAX + 1), 1000, true, &r), PC_H1_FULL);
	ck_assert_int_eq(r.heads, PC_H1_PIPELINE_MAX);
	ck_assert(pc_h1_would_exceed(&h));
	ck_assert_uint_eq(pc_h1_fed(&h), len * PC_H1_PIPELINE_MAX);
	ck_assert_int_eq(
		responses(&h, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 100, st, tag, &rv),
		1);
	ck_assert(!pc_h1_would_exceed(&h));
	ck_assert_int_eq(pc_h1_request(&h, (const uint8_t *)one, len, &used), PC_H1_HEAD);
	ck_assert_uint_eq(h.req.seq, PC_H1_PIPELINE_MAX);
}
END_TEST

START_TEST(object_size)
{
	ck_assert_uint_lt(sizeof(struct pc_h1), 12 * 1024);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("proxy.h1");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, keep_alive_second_host_reported);
	tcase_add_test(tc, pipelined_each_held);
	tcase_add_test(tc, any_split_same_answers);
	tcase_add_test(tc, body_bytes_released_as_they_come);
	tcase_add_loop_test(tc, smuggling_refused, 0,
			    (int)(sizeof(bad_cases) / sizeof(bad_cases[0])));
	tcase_add_test(tc, oversized_head_431);
	tcase_add_test(tc, authority_forms);
	tcase_add_test(tc, connect_becomes_opaque_when_upstream_agrees);
	tcase_add_test(tc, declined_connect_stays_http);
	tcase_add_test(tc, websocket_upgrade);
	tcase_add_test(tc, h2_refused);
	tcase_add_test(tc, responses_matched);
	tcase_add_test(tc, response_edge_cases);
	tcase_add_test(tc, pipeline_bounded);
	tcase_add_test(tc, object_size);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
