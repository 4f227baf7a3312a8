/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuzz/fuzz_h1.c - libFuzzer target: the HTTP/1.x filter (proxy/h1.c) on
 * both directions of a connection.
 *
 * The input is "seed byte, split byte, client bytes | upstream bytes": the
 * first two bytes choose the read sizes (a small LCG) and where the client's
 * stream ends and the upstream's begins. Checked against properties that
 * share no code with the filter:
 *
 *  - any split gives the same answers: the client stream fed whole and fed
 *    in random pieces (1 byte up) reports the same heads (name, port,
 *    target, method), the same final verdict, releases the same bytes,
 *    and consumes the same bytes unless it refuses (our framing and the
 *    parser's may then trip over the faulty element at different bytes);
 *  - the counters: <used> never exceeds what was given, the sum of <used>
 *    is pc_h1_fed(), released never exceeds fed and never goes back, a
 *    reported head is held whole (at least the 18 bytes of the shortest
 *    request head are unreleased), allowing it releases exactly up to fed,
 *    nothing is released between the report and the decision, and a refusal
 *    (BAD, H2) is final and releases nothing more;
 *  - heads are well formed: names lowercase [a-z0-9-_.:] and NUL-terminated,
 *    targets as long as they say and spelled in the input, HTTP/1.0 or 1.1;
 *  - responses, fed interleaved with requests and random allow/deny: each
 *    final one answers the oldest pending request (sequence numbers in
 *    order, the caller's tag given back), the pending count never exceeds
 *    PC_H1_PIPELINE_MAX, and a switch makes the request side opaque.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/h1.h"

#define MAXHEADS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct rng {
	uint32_t s;
};

static size_t next_len(struct rng *r, size_t max)
{
	r->s = r->s * 1103515245u + 12345u;
	return 1 + (r->s >> 16) % max;
}

static bool spelled_in(const uint8_t *p, size_t n, const char *s, size_t len)
{
	size_t i;

	if (len == 0)
		return true;
	for (i = 0; i + len <= n; i++) {
		if (memcmp(p + i, s, len) == 0)
			return true;
	}
	return false;
}

static void check_req(const struct pc_h1_req *q, const uint8_t *p, size_t n)
{
	size_t i;

	if (!q->method_name || q->http_minor > 1 || q->namelen > PC_SNIFF_NAME_MAX ||
	    strlen(q->name) != q->namelen || q->targetlen > PC_H1_TARGET_MAX ||
	    strlen(q->target) != q->targetlen || q->targetlen == 0)
		abort();
	for (i = 0; i < q->namelen; i++) {
		char c = q->name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		      c == '.' || (q->is_ip && c == ':')))
			abort();
	}
	if (!spelled_in(p, n, q->target, q->targetlen))
		abort();
	if (q->chunked && q->content_length)
		abort();
}

/* What one run of the request side saw. */
struct trace {
	enum pc_h1_verdict last;
	unsigned heads;
	uint64_t fed, released;
	struct {
		unsigned method;
		uint16_t port;
		char name[PC_SNIFF_NAME_MAX + 1];
		char target[64];
	} h[MAXHEADS];
};

/* Feed the client stream <p, n> in pieces from <r> (whole when NULL), allowing every head. */
static void run_requests(const uint8_t *p, size_t n, struct rng *r, struct trace *t)
{
	static struct pc_h1 h;
	size_t received = 0;
	uint64_t sum = 0, rel = 0;

	pc_h1_init(&h);
	memset(t, 0, sizeof(*t));
	for (;;) {
		size_t off = (size_t)pc_h1_fed(&h), used;
		enum pc_h1_verdict v;

		if (off == received && received < n)
			received += r ? next_len(r, n - received < 64 ? n - received : 64)
				      : n - received;
		v = pc_h1_request(&h, p + off, received - off, &used);
		if (used > received - off)
			abort();
		sum += used;
		if (sum != pc_h1_fed(&h) || pc_h1_released(&h) > pc_h1_fed(&h) ||
		    pc_h1_released(&h) < rel)
			abort();
		rel = pc_h1_released(&h);
		t->last = v;
		if (v == PC_H1_HEAD) {
			check_req(&h.req, p, n);
			if (pc_h1_fed(&h) - pc_h1_released(&h) < 18)
				abort(); /* part of the head went */
			if (t->heads < MAXHEADS) {
				t->h[t->heads].method = h.req.method;
				t->h[t->heads].port = h.req.port;
				memcpy(t->h[t->heads].name, h.req.name, h.req.namelen + 1);
				strncpy(t->h[t->heads].target, h.req.target,
					sizeof(t->h[0].target) - 1);
			}
			t->heads++;
			if (pc_h1_allow(&h, 0) != 0 || pc_h1_released(&h) != pc_h1_fed(&h))
				abort();
			rel = pc_h1_released(&h);
			continue;
		}
		if (v == PC_H1_BAD || v == PC_H1_H2) {
			if (pc_h1_request(&h, p, n, &used) != v || used != 0 ||
			    pc_h1_released(&h) != rel)
				abort(); /* refusals are final */
			if (v == PC_H1_BAD && h.status != 400 && h.status != 431)
				abort();
			break;
		}
		if (v != PC_H1_MORE || (received == n && pc_h1_fed(&h) == n))
			break;
	}
	t->fed = pc_h1_fed(&h);
	t->released = pc_h1_released(&h);
}

static void check_splits(const uint8_t *p, size_t n, uint32_t seed)
{
	static struct trace whole, split;
	struct rng r = { seed };
	unsigned i;

	run_requests(p, n, NULL, &whole);
	run_requests(p, n, &r, &split);
	if (whole.last != split.last || whole.heads != split.heads ||
	    whole.released != split.released)
		abort();
	if (whole.last != PC_H1_BAD && whole.fed != split.fed)
		abort(); /* a refusal may consume more or less of the faulty element, never release */
	for (i = 0; i < whole.heads && i < MAXHEADS; i++) {
		if (whole.h[i].method != split.h[i].method || whole.h[i].port != split.h[i].port ||
		    strcmp(whole.h[i].name, split.h[i].name) != 0 ||
		    strcmp(whole.h[i].target, split.h[i].target) != 0)
			abort();
	}
}

/* Both directions interleaved, heads allowed or not by the rng. */
static void check_both(const uint8_t *req, size_t rn, const uint8_t *resp, size_t sn, uint32_t seed)
{
	static struct pc_h1 h;
	struct rng r = { seed };
	size_t rrecv = 0, srecv = 0, soff = 0, used;
	uint32_t next_seq = 0;
	unsigned rounds;

	pc_h1_init(&h);
	for (rounds = 0; rounds < 4096; rounds++) {
		size_t off = (size_t)pc_h1_fed(&h);
		enum pc_h1_verdict v;
		enum pc_h1_rverdict rv;
		uint64_t rel;

		if (off == rrecv && rrecv < rn)
			rrecv += next_len(&r, rn - rrecv < 64 ? rn - rrecv : 64);
		rel = pc_h1_released(&h);
		v = pc_h1_request(&h, req + off, rrecv - off, &used);
		if (used > rrecv - off || pc_h1_released(&h) > pc_h1_fed(&h) ||
		    pc_h1_released(&h) < rel)
			abort();
		if (v == PC_H1_HEAD) {
			rel = pc_h1_released(&h);
			if (pc_h1_request(&h, req, 0, &used) != PC_H1_HEAD || used != 0 ||
			    pc_h1_released(&h) != rel)
				abort(); /* undecided: nothing moves */
			if (r.s & 0x100000)
				return; /* denied: the connection ends */
			if (pc_h1_allow(&h, (uint64_t)h.req.seq + 1000) != 0)
				abort();
			if (pc_h1_pending_count(&h) > PC_H1_PIPELINE_MAX)
				abort();
		}
		if (v == PC_H1_OPAQUE && pc_h1_released(&h) != pc_h1_fed(&h))
			abort();
		if (v == PC_H1_BAD || v == PC_H1_H2)
			return;

		if (soff == srecv && srecv < sn)
			srecv += next_len(&r, sn - srecv < 64 ? sn - srecv : 64);
		rv = pc_h1_response(&h, resp + soff, srecv - soff, &used);
		if (used > srecv - soff)
			abort();
		soff += used;
		if (rv == PC_H1_R_DONE || rv == PC_H1_R_SWITCH) {
			if (h.resp.seq != next_seq || h.resp.tag != (uint64_t)next_seq + 1000)
				abort(); /* answered out of order */
			next_seq++;
		}
		if (rv == PC_H1_R_SWITCH && (pc_h1_request(&h, req, 0, &used) != PC_H1_OPAQUE ||
					     pc_h1_released(&h) != pc_h1_fed(&h)))
			abort();
		if (rv == PC_H1_R_BAD)
			return;
		if (pc_h1_fed(&h) == rn && soff == sn && rv == PC_H1_R_MORE && v != PC_H1_HEAD)
			break;
	}
	pc_h1_response_eof(&h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t cut;

	if (size < 2)
		return 0;
	cut = (size - 2) * data[1] / 255;
	check_splits(data + 2, size - 2, data[0] * 2654435761u);
	check_both(data + 2, cut, data + 2 + cut, size - 2 - cut, data[0] * 2246822519u + 1);
	return 0;
}
