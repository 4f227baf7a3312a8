/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dns/msg.c - DNS messages: parse queries, build replies, match answers.
 *
 * A small parser rather than libresolv's ns_initparse(): the proxy needs
 * the question's wire form (to echo it with its case, RFC 5452 clients
 * compare it) and the OPT record, and a parser of forty lines whose every
 * read is checked is easier to trust than a wrapper around one that
 * reports errors through errno. Loops through compression pointers end
 * because a pointer must point before the start of the name it ends (the
 * "limit" below), and each next one before the previous target.
 */
#include "dns/msg.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define RR_FIXED 10 /* type, class, ttl, rdlength */
#define OPT_LEN  11 /* root name, type, class, ttl, rdlength 0 */
#define DO_BIT   0x8000u

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static void put16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p + 2, v & 0xffffu);
}

/*
 * Read the name at <off> of <msg> into <wire> (uncompressed, at most
 * PC_DNS_NAME_MAX bytes, its length in <*wlen>); <*end> gets the offset
 * past the name where it is (past its first pointer when compressed).
 */
static int read_name(const uint8_t *msg, size_t len, size_t off, uint8_t *wire, size_t *wlen,
		     size_t *end)
{
	size_t pos = off, limit = off, w = 0;
	bool jumped = false;

	for (;;) {
		unsigned c;

		if (pos >= len)
			return -EPROTO;
		c = msg[pos];
		if ((c & 0xc0u) == 0xc0u) {
			size_t ptr;

			if (pos + 1 >= len)
				return -EPROTO;
			ptr = (size_t)(c & 0x3fu) << 8 | msg[pos + 1];
			if (ptr >= limit) /* forward, or to itself: a loop */
				return -EPROTO;
			if (!jumped)
				*end = pos + 2;
			jumped = true;
			limit = pos = ptr;
			continue;
		}
		if (c & 0xc0u) /* 0x40, 0x80: extended label types (RFC 6891 §5) */
			return -EPROTO;
		if (w + 1 + c > PC_DNS_NAME_MAX || pos + 1 + c > len)
			return -EPROTO;
		memcpy(wire + w, msg + pos, 1 + c);
		w += 1 + c;
		pos += 1 + c;
		if (c == 0)
			break;
	}
	if (!jumped)
		*end = pos;
	*wlen = w;
	return 0;
}

/* The presentation form of the wire name of <q>: lowercase, dots, '?' for odd bytes. */
static void name_text(struct pc_dns_query *q)
{
	size_t i = 0, o = 0;

	q->odd = false;
	while (i < q->wire_len && q->wire[i]) {
		unsigned n = q->wire[i++], k;

		if (o)
			q->name[o++] = '.';
		for (k = 0; k < n; k++, i++) {
			unsigned ch = q->wire[i];

			if (ch >= 'A' && ch <= 'Z')
				ch += 'a' - 'A';
			if (ch <= ' ' || ch >= 0x7f || ch == '.' || ch == '\\') {
				q->odd = true;
				ch = '?';
			}
			q->name[o++] = (char)ch;
		}
	}
	q->name[o] = '\0'; /* at most 253 characters: 255 wire bytes less two */
}

/* The question at PC_DNS_HDR_LEN into <q>: name, qtype, qclass, qend. */
static int read_question(const uint8_t *msg, size_t len, struct pc_dns_query *q)
{
	size_t end;
	int ret = read_name(msg, len, PC_DNS_HDR_LEN, q->wire, &q->wire_len, &end);

	if (ret < 0)
		return ret;
	if (end + 4 > len)
		return -EPROTO;
	q->qtype = get16(msg + end);
	q->qclass = get16(msg + end + 2);
	q->qend = end + 4;
	name_text(q);
	return 0;
}

/* Skip the record at <*off>; an OPT record fills the EDNS fields of <q>. */
static int read_rr(const uint8_t *msg, size_t len, size_t *off, bool additional,
		   struct pc_dns_query *q)
{
	uint8_t wire[PC_DNS_NAME_MAX];
	size_t wlen, end, rdlen;
	int ret = read_name(msg, len, *off, wire, &wlen, &end);

	if (ret < 0)
		return ret;
	if (end + RR_FIXED > len)
		return -EPROTO;
	rdlen = get16(msg + end + 8);
	if (end + RR_FIXED + rdlen > len)
		return -EPROTO;
	if (get16(msg + end) == PC_DNS_TYPE_OPT) {
		/* one OPT, owned by the root, in the additional section (RFC 6891 §6.1.1) */
		if (!additional || q->edns || wlen != 1)
			return -EPROTO;
		q->edns = true;
		q->udp_size = get16(msg + end + 2);
		if (q->udp_size < PC_DNS_UDP_MIN)
			q->udp_size = PC_DNS_UDP_MIN;
		q->edns_version = msg[end + 5];
		q->do_bit = (get16(msg + end + 6) & DO_BIT) != 0;
	}
	*off = end + RR_FIXED + rdlen;
	return 0;
}

int pc_dns_parse_query(const uint8_t *msg, size_t len, struct pc_dns_query *q)
{
	unsigned an, ns, ar, i;
	size_t off;
	int ret;

	memset(q, 0, sizeof(*q));
	q->udp_size = PC_DNS_UDP_MIN;
	if (len < PC_DNS_HDR_LEN)
		return -EBADMSG;
	q->id = get16(msg);
	q->flags = get16(msg + 2);
	if (q->flags & PC_DNS_F_QR)
		return -EBADMSG;
	if (PC_DNS_OPCODE(q->flags) != 0)
		return -ENOTSUP;
	if (get16(msg + 4) != 1)
		return -EPROTO;
	ret = read_question(msg, len, q);
	if (ret < 0)
		return ret;
	an = get16(msg + 6);
	ns = get16(msg + 8);
	ar = get16(msg + 10);
	off = q->qend;
	for (i = 0; i < an + ns + ar; i++) {
		ret = read_rr(msg, len, &off, i >= an + ns, q);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static size_t put_header(const struct pc_dns_query *q, unsigned rcode, bool aa, uint8_t *out)
{
	unsigned flags = PC_DNS_F_QR | PC_DNS_F_RA | (q->flags & (PC_DNS_F_OPCODE | PC_DNS_F_RD));

	if (aa)
		flags |= PC_DNS_F_AA;
	put16(out, q->id);
	put16(out + 2, flags | (rcode & PC_DNS_F_RCODE));
	memset(out + 4, 0, PC_DNS_HDR_LEN - 4);
	return PC_DNS_HDR_LEN;
}

int pc_dns_build_error(const struct pc_dns_query *q, unsigned rcode, uint8_t *out, size_t cap)
{
	if (cap < PC_DNS_HDR_LEN)
		return -ENOSPC;
	return (int)put_header(q, rcode, false, out);
}

/* Does <a> belong in an answer to <qtype>? */
static bool fits_type(const struct pc_addr *a, uint16_t qtype)
{
	return (qtype == PC_DNS_TYPE_A && a->family == AF_INET) ||
	       (qtype == PC_DNS_TYPE_AAAA && a->family == AF_INET6);
}

/* One answer record at <p>: pointer to the question's name, <a> as rdata. */
static size_t put_answer(uint8_t *p, const struct pc_addr *a, uint32_t ttl)
{
	size_t rdlen = a->family == AF_INET ? 4 : 16;

	put16(p, 0xc000u | PC_DNS_HDR_LEN);
	put16(p + 2, a->family == AF_INET ? PC_DNS_TYPE_A : PC_DNS_TYPE_AAAA);
	put16(p + 4, PC_DNS_CLASS_IN);
	put32(p + 6, ttl);
	put16(p + 10, rdlen);
	memcpy(p + 12, a->bytes, rdlen);
	return 12 + rdlen;
}

static size_t put_opt(const struct pc_dns_query *q, unsigned rcode, uint8_t *p)
{
	p[0] = 0;
	put16(p + 1, PC_DNS_TYPE_OPT);
	put16(p + 3, PC_DNS_EDNS_SIZE);
	p[5] = (uint8_t)(rcode >> 4);         /* the extended rcode's upper bits */
	p[6] = 0;                             /* version 0 */
	put16(p + 7, q->do_bit ? DO_BIT : 0); /* DO echoed (RFC 3225 §3) */
	put16(p + 9, 0);
	return OPT_LEN;
}

/* The answers' total length for <q>, and their count in <*count>. */
static size_t answers_len(const struct pc_dns_query *q, const struct pc_addr *addrs, size_t n,
			  unsigned *count)
{
	size_t i, total = 0;

	*count = 0;
	for (i = 0; i < n; i++) {
		if (!fits_type(&addrs[i], q->qtype))
			continue;
		total += 12 + (addrs[i].family == AF_INET ? 4 : 16);
		(*count)++;
	}
	return total;
}

int pc_dns_build_reply(const struct pc_dns_query *q, unsigned rcode, bool aa,
		       const struct pc_addr *addrs, size_t n, uint32_t ttl, size_t limit,
		       uint8_t *out, size_t cap)
{
	size_t base = PC_DNS_HDR_LEN + q->wire_len + 4 + (q->edns ? OPT_LEN : 0);
	size_t off, i, alen = 0;
	unsigned count = 0;
	bool tc = false;

	if (rcode == PC_DNS_RCODE_NOERROR && addrs)
		alen = answers_len(q, addrs, n, &count);
	if (base + alen > limit || base + alen > cap) {
		tc = base + alen > limit;
		count = 0;
	}
	if (base > cap)
		return -ENOSPC;
	off = put_header(q, rcode, aa, out);
	if (tc)
		out[2] |= PC_DNS_F_TC >> 8;
	put16(out + 4, 1);
	put16(out + 6, count);
	put16(out + 10, q->edns ? 1 : 0);
	memcpy(out + off, q->wire, q->wire_len);
	off += q->wire_len;
	put16(out + off, q->qtype);
	put16(out + off + 2, q->qclass);
	off += 4;
	for (i = 0; count && i < n; i++)
		if (fits_type(&addrs[i], q->qtype))
			off += put_answer(out + off, &addrs[i], ttl);
	if (q->edns)
		off += put_opt(q, rcode, out + off);
	return (int)off;
}

int pc_dns_parse_response(const uint8_t *msg, size_t len, struct pc_dns_response *r)
{
	memset(r, 0, sizeof(*r));
	if (len < PC_DNS_HDR_LEN)
		return -EBADMSG;
	r->id = get16(msg);
	r->flags = get16(msg + 2);
	if (!(r->flags & PC_DNS_F_QR) || get16(msg + 4) != 1)
		return -EBADMSG;
	return read_question(msg, len, &r->question) < 0 ? -EBADMSG : 0;
}

static unsigned lower(unsigned c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

bool pc_dns_response_matches(const struct pc_dns_response *r, uint16_t id,
			     const struct pc_dns_query *q)
{
	const struct pc_dns_query *a = &r->question;
	size_t i;

	if (r->id != id || a->qtype != q->qtype || a->qclass != q->qclass ||
	    a->wire_len != q->wire_len)
		return false;
	/* byte by byte: the length bytes compare equal too, and no length is a letter */
	for (i = 0; i < q->wire_len; i++)
		if (lower(a->wire[i]) != lower(q->wire[i]))
			return false;
	return true;
}

void pc_dns_set_id(uint8_t *msg, uint16_t id)
{
	put16(msg, id);
}

const char *pc_dns_type_str(uint16_t type, char *buf)
{
	static const struct {
		uint16_t type;
		const char *name;
	} names[] = { { 1, "A" },     { 2, "NS" },     { 5, "CNAME" }, { 6, "SOA" },  { 12, "PTR" },
		      { 15, "MX" },   { 16, "TXT" },   { 28, "AAAA" }, { 33, "SRV" }, { 41, "OPT" },
		      { 64, "SVCB" }, { 65, "HTTPS" }, { 255, "ANY" } };
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].type == type)
			return names[i].name;
	snprintf(buf, 16, "TYPE%u", (unsigned)type);
	return buf;
}

const char *pc_dns_rcode_str(unsigned rcode)
{
	static const char *const names[] = { "NOERROR",  "FORMERR", "SERVFAIL",
					     "NXDOMAIN", "NOTIMP",  "REFUSED" };

	return rcode < sizeof(names) / sizeof(names[0]) ? names[rcode] : "RCODE?";
}
