/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuzz/fuzz_dns.c - libFuzzer target: the DNS proxy's message code
 * (dns/msg.c) on what a client or an upstream resolver sends.
 *
 * The input is one message, read both as a query and as a response.
 * Checked against properties that share no code with the parser:
 *
 *  - pc_dns_parse_query() returns 0, -EBADMSG, -EPROTO or -ENOTSUP;
 *    -EBADMSG exactly for a message shorter than a header or with QR set,
 *    -ENOTSUP exactly for an opcode other than 0 (otherwise);
 *  - a parsed query is sane: its question ends inside the input, its
 *    wire name is at most 255 bytes, its name NUL-terminated, at most
 *    253 characters, lowercase, printable ASCII but the backslash, udp_size >= 512;
 *  - the reply built for it (addresses and a limit taken from the input)
 *    fits the buffer and the limit, parses as a response and matches the
 *    query (id, question), has TC exactly when the answers were dropped
 *    for the limit, and an ancount that is what was given of the family;
 *  - pc_dns_parse_response() returns 0 or -EBADMSG, and on 0 the message
 *    has QR set and one question inside the input;
 *  - a prefix of the input never parses as a query when the whole did
 *    not for a truncated name (reads stay inside what is given: ASan).
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "dns/msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_query_fields(const struct pc_dns_query *q, size_t size)
{
	size_t n = strnlen(q->name, sizeof(q->name)), i;

	if (q->qend > size || q->wire_len > PC_DNS_NAME_MAX || q->wire_len == 0 || n > 253)
		abort();
	for (i = 0; i < n; i++)
		if ((q->name[i] >= 'A' && q->name[i] <= 'Z') || (unsigned char)q->name[i] <= ' ' ||
		    (unsigned char)q->name[i] >= 0x7f || q->name[i] == '\\')
			abort();
	if (q->udp_size < PC_DNS_UDP_MIN)
		abort();
}

/* Addresses from the input's bytes: a mix of both families. */
static size_t make_addrs(const uint8_t *data, size_t size, struct pc_addr *a, uint16_t qtype,
			 unsigned *fam)
{
	size_t n = size % (PC_DNS_ANSWERS_MAX + 1), i;

	*fam = 0;
	for (i = 0; i < n; i++) {
		memset(&a[i], 0, sizeof(a[i]));
		a[i].family = (i < size && data[i] & 1) ? AF_INET6 : AF_INET;
		memcpy(a[i].bytes, data + (i * 3) % (size ? size : 1), size ? 1 : 0);
		if ((qtype == PC_DNS_TYPE_A && a[i].family == AF_INET) ||
		    (qtype == PC_DNS_TYPE_AAAA && a[i].family == AF_INET6))
			(*fam)++;
	}
	return n;
}

static void check_reply(const uint8_t *data, size_t size, const struct pc_dns_query *q)
{
	static uint8_t out[PC_DNS_TCP_MAX];
	struct pc_addr a[PC_DNS_ANSWERS_MAX];
	struct pc_dns_response r;
	unsigned fam, rcode = size > 3 ? data[3] % 6 : 0, an;
	size_t n = make_addrs(data, size, a, q->qtype, &fam);
	size_t limit = size & 1 ? PC_DNS_TCP_MAX : q->udp_size;
	int len = pc_dns_build_reply(q, rcode, true, a, n, 60, limit, out, sizeof(out));

	if (len < 0 || (size_t)len > limit || (size_t)len > sizeof(out))
		abort();
	if (pc_dns_parse_response(out, (size_t)len, &r) != 0 ||
	    !pc_dns_response_matches(&r, q->id, q) || PC_DNS_RCODE(r.flags) != rcode)
		abort();
	an = (unsigned)out[6] << 8 | out[7];
	if (rcode != 0)
		fam = 0;
	if (r.flags & PC_DNS_F_TC ? an != 0 : an != fam)
		abort();
	len = pc_dns_build_error(q, rcode, out, sizeof(out));
	if (len != PC_DNS_HDR_LEN)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pc_dns_response r;
	struct pc_dns_query q;
	int ret = pc_dns_parse_query(data, size, &q);
	bool short_or_qr = size < PC_DNS_HDR_LEN || (data[2] & 0x80);

	if (ret != 0 && ret != -EBADMSG && ret != -EPROTO && ret != -ENOTSUP)
		abort();
	if ((ret == -EBADMSG) != short_or_qr)
		abort();
	if (!short_or_qr && (ret == -ENOTSUP) != (((data[2] >> 3) & 0xf) != 0))
		abort();
	if (ret == 0) {
		check_query_fields(&q, size);
		check_reply(data, size, &q);
		/* the question cut short never parses */
		if (pc_dns_parse_query(data, q.qend - 1, &q) == 0)
			abort();
	}
	ret = pc_dns_parse_response(data, size, &r);
	if (ret != 0 && ret != -EBADMSG)
		abort();
	if (ret == 0 && (size < PC_DNS_HDR_LEN || !(data[2] & 0x80) || r.question.qend > size ||
			 data[4] != 0 || data[5] != 1))
		abort();
	return 0;
}
