/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests for dns/msg.c: queries parsed, replies built, answers matched. */
#include <check.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "dns/msg.h"

/* A message under construction, written by hand (no code of msg.c). */
struct m {
	uint8_t b[1024];
	size_t n;
};

static void u8(struct m *m, unsigned v)
{
	m->b[m->n++] = (uint8_t)v;
}

static void u16(struct m *m, unsigned v)
{
	u8(m, v >> 8);
	u8(m, v & 0xff);
}

static void hdr(struct m *m, unsigned id, unsigned flags, unsigned qd, unsigned an, unsigned ns,
		unsigned ar)
{
	m->n = 0;
	u16(m, id);
	u16(m, flags);
	u16(m, qd);
	u16(m, an);
	u16(m, ns);
	u16(m, ar);
}

/* "a.b.c" as labels with the final zero. */
static void name(struct m *m, const char *s)
{
	while (*s) {
		size_t l = strcspn(s, ".");

		u8(m, (unsigned)l);
		memcpy(m->b + m->n, s, l);
		m->n += l;
		s += l;
		if (*s == '.')
			s++;
	}
	u8(m, 0);
}

static void opt(struct m *m, unsigned size, bool do_bit)
{
	u8(m, 0);
	u16(m, PC_DNS_TYPE_OPT);
	u16(m, size);
	u16(m, 0);
	u16(m, do_bit ? 0x8000 : 0);
	u16(m, 0);
}

/* A query for <n> of <type>, RD set, with an OPT of <edns> bytes when not 0. */
static void query(struct m *m, unsigned id, const char *n, unsigned type, unsigned edns)
{
	hdr(m, id, 0x0100, 1, 0, 0, edns ? 1 : 0);
	name(m, n);
	u16(m, type);
	u16(m, PC_DNS_CLASS_IN);
	if (edns)
		opt(m, edns, true);
}

static unsigned get16(const uint8_t *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

static struct pc_addr addr4(unsigned last)
{
	struct pc_addr a = { .family = AF_INET, .bytes = { 192, 0, 2, (uint8_t)last } };

	return a;
}

static struct pc_addr addr6(unsigned last)
{
	struct pc_addr a = { .family = AF_INET6, .bytes = { 0x20, 0x01, 0x0d, 0xb8 } };

	a.bytes[15] = (uint8_t)last;
	return a;
}

START_TEST(parse_plain)
{
	struct pc_dns_query q;
	struct m m;

	query(&m, 0x1234, "Db1.Example.COM", PC_DNS_TYPE_AAAA, 0);
	ck_assert_int_eq(pc_dns_parse_query(m.b, m.n, &q), 0);
	ck_assert_uint_eq(q.id, 0x1234);
	ck_assert_uint_eq(q.qtype, PC_DNS_TYPE_AAAA);
	ck_assert_uint_eq(q.qclass, PC_DNS_CLASS_IN);
	ck_assert_str_eq(q.name, "db1.example.com");
	ck_assert(!q.odd);
	ck_assert_uint_eq(q.qend, m.n);
	ck_assert(!q.edns);
	ck_assert_uint_eq(q.udp_size, 512);
	/* the wire form keeps the case */
	ck_assert_uint_eq(q.wire_len, 17);
	ck_assert(memcmp(q.wire, "\3Db1\7Example\3COM", 17) == 0);
}
END_TEST

START_TEST(parse_root_and_odd)
{
	struct pc_dns_query q;
	struct m m;

	query(&m, 1, "", PC_DNS_TYPE_A, 0);
	ck_assert_int_eq(pc_dns_parse_query(m.b, m.n, &q), 0);
	ck_assert_str_eq(q.name, "");
	query(&m, 1, "a b.example", PC_DNS_TYPE_A, 0);
	ck_assert_int_eq(pc_dns_parse_query(m.b, m.n, &q), 0);
	ck_assert(q.odd);
	ck_assert_str_eq(q.name, "a?b.example");
	/* a dot inside a label is not the same name as two labels */
	hdr(&m, 1, 0, 1, 0, 0, 0);
	u8(&m, 3);
	u8(&m, 'a');
	u8(&m, '.');
	u8(&m, 'b');
	u8(&m, 0);
	u16(&m, 1);
	u16(&m, 1);
	ck_assert_int_eq(pc_dns_parse_query(m.b, m.n, &q), 0);
	ck_assert(q.odd);
}
END_TEST

START_TEST(parse_edns)
{
	struct pc_dns_query q;
	struct m m;

	query(&m, 7, "example.com", PC_DNS_TYPE_A, 4096);
	ck_assert_int_eq(pc_dns_parse_query(m.b, m.n, &q), 0);
	ck_assert(q.edns);
	ck_assert(q.do_bit);
	ck_assert_uint_eq(q.udp_size, 4096);
	ck_assert_uint_eq(q.edns_version, 0);
	/* version 1: BADVERS, its upper bits in the OPT record */
	m.b[m.n - 5] = 1;
	ck_assert_int_eq(pc_dns_parse_query(m.b, m.n, &q), 0);
	ck_assert_uint_eq(q.edns_version, 1);
	{
		uint8_t r[512];
		int n = pc_dns_build_reply(&q, PC_DNS_RCODE_BADVERS, false, NULL, 0, 0, 512, r,
					   sizeof(r));

		ck_assert_int_eq(n, (int)m.n);
		ck_assert_uint_eq(r[3] & 0x0f, 0);
		ck_assert_uint_eq(r[n - 6], 1); /* extended rcode: 16 >> 4 */
		ck_assert_uint_eq(r[n - 5], 0); /* our version */
	}
	/* below 512 counts as 512 (RFC 6891 §6.2.5) */
	query(&m, 7, "example.com", PC_DNS_TYPE_A, 100);
	ck_assert_int_eq(pc_dns_parse_query(m.b, m.n, &q), 0);
	ck_assert_uint_eq(q.udp_size, 512);
	/* two OPT records: FORMERR */
	query(&m, 7, "example.com", PC_DNS_TYPE_A, 1232);
	opt(&m, 1232, false);
	m.b[11] = 2;
	ck_assert_int_eq(pc_dns_parse_query(m.b, m.n, &q), -EPROTO);
	/* an OPT that is not the root's */
	query(&m, 7, "example.com", PC_DNS_TYPE_A, 0);
	m.b[11] = 1;
	name(&m, "x");
	u16(&m, PC_DNS_TYPE_OPT);
	u16(&m, 1232);
	u16(&m, 0);
	u16(&m, 0);
	u16(&m, 0);
	ck_assert_int_eq(pc_dns_parse_query(m.b, m.n, &q), -EPROTO);
	/* an OPT record cut short */
	query(&m, 7, "example.com", PC_DNS_TYPE_A, 1232);
	ck_assert_int_eq(pc_dns_parse_query(m.b, m.n - 1, &q), -EPROTO);
}
END_TEST

START_TEST(parse_header_errors)
{
	struct pc_dns_query q;
	struct m m;

	query(&m, 9, "example.com", PC_DNS_TYPE_A, 0);
	ck_assert_int_eq(pc_dns_parse_query(m.b, 11, &q), -EBADMSG);
	ck_assert_int_eq(pc_dns_parse_query(m.b, 0, &q), -EBADMSG);
	m.b[2] |= 0x80; /* QR: a response */
	ck_assert_int_eq(pc_dns_parse_query(m.b, m.n, &q), -EBADMSG);
	query(&m, 9, "example.com", PC_DNS_TYPE_A, 0);
	m.b[2] |= 2 << 3; /* opcode STATUS */
	ck_assert_int_eq(pc_dns_parse_query(m.b, m.n, &q), -ENOTSUP);
	ck_assert_uint_eq(q.id, 9);
	query(&m, 9, "example.com", PC_DNS_TYPE_A, 0);
	m.b[5] = 2; /* qdcount 2 */
	ck_assert_int_eq(pc_dns_parse_query(m.b, m.n, &q), -EPROTO);
	m.b[5] = 0;
	ck_assert_int_eq(pc_dns_parse_query(m.b, m.n, &q), -EPROTO);
	ck_assert_uint_eq(q.id, 9);
}
END_TEST

START_TEST(parse_truncated_everywhere)
{
	struct pc_dns_query q;
	struct m m;
	size_t n;

	query(&m, 9, "www.example.com", PC_DNS_TYPE_A, 0);
	for (n = 12; n < m.n; n++)
		ck_assert_int_eq(pc_dns_parse_query(m.b, n, &q), -EPROTO);
	ck_assert_int_eq(pc_dns_parse_query(m.b, m.n, &q), 0);
}
END_TEST

START_TEST(parse_compression)
{
	struct pc_dns_query q;
	struct m m;

	/* a pointer to itself */
	hdr(&m, 1, 0, 1, 0, 0, 0);
	u16(&m, 0xc000 | 12);
	u16(&m, 1);
	u16(&m, 1);
	ck_assert_int_eq(pc_dns_parse_query(m.b, m.n, &q), -EPROTO);
	/* a pointer forward, to a valid name after the question */
	hdr(&m, 1, 0, 1, 0, 0, 0);
	u16(&m, 0xc000 | 18);
	u16(&m, 1);
	u16(&m, 1);
	name(&m, "a");
	ck_assert_int_eq(pc_dns_parse_query(m.b, m.n, &q), -EPROTO);
	/* out of range */
	hdr(&m, 1, 0, 1, 0, 0, 0);
	u16(&m, 0xc000 | 0x3fff);
	u16(&m, 1);
	u16(&m, 1);
	ck_assert_int_eq(pc_dns_parse_query(m.b, m.n, &q), -EPROTO);
	/* a pointer cut in half */
	hdr(&m, 1, 0, 1, 0, 0, 0);
	u8(&m, 0xc0);
	ck_assert_int_eq(pc_dns_parse_query(m.b, m.n, &q), -EPROTO);
	/* a backward pointer into the header is legal on the wire; the name is what's there */
	hdr(&m, 0, 0, 1, 0, 0, 0);
	m.b[0] = 1;
	m.b[1] = 'x';
	m.b[2] = 0;
	m.b[3] = 0;
	m.b[4] = 0; /* qdcount would be 0: keep 1 below */
	m.b[5] = 1;
	u8(&m, 1);
	u8(&m, 'y');
	u16(&m, 0xc000 | 0);
	u16(&m, 1);
	u16(&m, 1);
	ck_assert_int_eq(pc_dns_parse_query(m.b, m.n, &q), 0);
	ck_assert_str_eq(q.name, "y.x");
	ck_assert_uint_eq(q.qend, m.n);
	/* a loop through two pointers in the additional records */
	query(&m, 1, "a", PC_DNS_TYPE_A, 0);
	m.b[11] = 1;
	u16(&m, 0xc000 | (unsigned)(m.n + 2));
	u16(&m, 0xc000 | (unsigned)(m.n - 2));
	ck_assert_int_eq(pc_dns_parse_query(m.b, m.n, &q), -EPROTO);
}
END_TEST

START_TEST(parse_label_and_name_limits)
{
	struct pc_dns_query q;
	char big[300];
	struct m m;
	size_t i;

	memset(big, 'a', 63);
	big[63] = '\0';
	query(&m, 1, big, PC_DNS_TYPE_A, 0);
	ck_assert_int_eq(pc_dns_parse_query(m.b, m.n, &q), 0);
	/* a 64-byte length is the 0x40 label type */
	big[63] = 'a';
	big[64] = '\0';
	query(&m, 1, big, PC_DNS_TYPE_A, 0);
	ck_assert_int_eq(pc_dns_parse_query(m.b, m.n, &q), -EPROTO);
	/* 255 bytes on the wire pass, 256 do not: 63.63.63.62 is 256 with the zero */
	for (i = 0; i < 4 * 64; i++)
		big[i] = i % 64 == 63 ? '.' : 'b';
	big[4 * 64 - 2] = '\0';
	query(&m, 1, big, PC_DNS_TYPE_A, 0);
	ck_assert_int_eq(pc_dns_parse_query(m.b, m.n, &q), -EPROTO);
	big[4 * 64 - 3] = '\0'; /* last label 61: 255 */
	query(&m, 1, big, PC_DNS_TYPE_A, 0);
	ck_assert_int_eq(pc_dns_parse_query(m.b, m.n, &q), 0);
	ck_assert_uint_eq(q.wire_len, 255);
	ck_assert_uint_eq(strlen(q.name), 253);
	/* a name made long through pointers is caught too */
	hdr(&m, 1, 0, 1, 0, 0, 0);
	for (i = 0; i < 4; i++) {
		u8(&m, 63);
		memset(m.b + m.n, 'c', 63);
		m.n += 63;
	}
	u16(&m, 0xc000 | 12);
	ck_assert_int_eq(pc_dns_parse_query(m.b, m.n, &q), -EPROTO);
}
END_TEST

/* Parse the reply <r> of length <n>: checks its header, returns ancount. */
static unsigned reply_head(const uint8_t *r, int n, unsigned id, unsigned rcode, bool aa)
{
	ck_assert_int_ge(n, 12);
	ck_assert_uint_eq(get16(r), id);
	ck_assert(r[2] & 0x80);                    /* QR */
	ck_assert_uint_eq((r[2] & 0x04) != 0, aa); /* AA */
	ck_assert(r[2] & 0x01);                    /* RD copied */
	ck_assert(r[3] & 0x80);                    /* RA */
	ck_assert_uint_eq(r[3] & 0x0f, rcode);
	return get16(r + 6);
}

START_TEST(reply_answers)
{
	struct pc_addr a[4] = { addr4(1), addr6(2), addr4(3), addr6(4) };
	struct pc_dns_query q;
	uint8_t r[1024];
	struct m m;
	size_t off;
	int n;

	query(&m, 0xbeef, "Db.Example", PC_DNS_TYPE_A, 0);
	ck_assert_int_eq(pc_dns_parse_query(m.b, m.n, &q), 0);
	n = pc_dns_build_reply(&q, PC_DNS_RCODE_NOERROR, true, a, 4, 30, 512, r, sizeof(r));
	ck_assert_uint_eq(reply_head(r, n, 0xbeef, 0, true), 2); /* the IPv4 ones only */
	ck_assert_uint_eq(get16(r + 4), 1);
	ck_assert_uint_eq(get16(r + 10), 0);
	/* the question echoed with its case */
	ck_assert(memcmp(r + 12, m.b + 12, m.n - 12) == 0);
	off = m.n;
	ck_assert_uint_eq(get16(r + off), 0xc00c); /* pointer to the question's name */
	ck_assert_uint_eq(get16(r + off + 2), PC_DNS_TYPE_A);
	ck_assert_uint_eq(get16(r + off + 4), 1);
	ck_assert_uint_eq(get16(r + off + 8), 30);
	ck_assert_uint_eq(get16(r + off + 10), 4);
	ck_assert(memcmp(r + off + 12, "\xc0\x00\x02\x01", 4) == 0);
	ck_assert(memcmp(r + off + 16 + 12, "\xc0\x00\x02\x03", 4) == 0);
	ck_assert_int_eq(n, (int)(off + 2 * 16));

	query(&m, 0xbeef, "db.example", PC_DNS_TYPE_AAAA, 0);
	ck_assert_int_eq(pc_dns_parse_query(m.b, m.n, &q), 0);
	n = pc_dns_build_reply(&q, PC_DNS_RCODE_NOERROR, true, a, 4, 30, 512, r, sizeof(r));
	ck_assert_uint_eq(reply_head(r, n, 0xbeef, 0, true), 2);
	ck_assert_int_eq(n, (int)(m.n + 2 * 28));
	ck_assert_uint_eq(r[m.n + 12 + 15], 2);

	/* MX for our name: NODATA */
	query(&m, 0xbeef, "db.example", 15, 0);
	ck_assert_int_eq(pc_dns_parse_query(m.b, m.n, &q), 0);
	n = pc_dns_build_reply(&q, PC_DNS_RCODE_NOERROR, true, a, 4, 30, 512, r, sizeof(r));
	ck_assert_uint_eq(reply_head(r, n, 0xbeef, 0, true), 0);
	ck_assert_int_eq(n, (int)m.n);
}
END_TEST

START_TEST(reply_rcodes)
{
	static const unsigned rcodes[] = { PC_DNS_RCODE_NXDOMAIN, PC_DNS_RCODE_SERVFAIL,
					   PC_DNS_RCODE_REFUSED, PC_DNS_RCODE_FORMERR,
					   PC_DNS_RCODE_NOTIMP };
	struct pc_addr a = addr4(1);
	struct pc_dns_query q;
	uint8_t r[512];
	struct m m;
	size_t i;
	int n;

	query(&m, 42, "x.example", PC_DNS_TYPE_A, 0);
	ck_assert_int_eq(pc_dns_parse_query(m.b, m.n, &q), 0);
	for (i = 0; i < sizeof(rcodes) / sizeof(rcodes[0]); i++) {
		n = pc_dns_build_reply(&q, rcodes[i], false, &a, 1, 30, 512, r, sizeof(r));
		/* no answers with an error, even when given some */
		ck_assert_uint_eq(reply_head(r, n, 42, rcodes[i], false), 0);
		ck_assert_int_eq(n, (int)m.n);
	}
	n = pc_dns_build_error(&q, PC_DNS_RCODE_FORMERR, r, sizeof(r));
	ck_assert_int_eq(n, 12);
	ck_assert_uint_eq(reply_head(r, n, 42, PC_DNS_RCODE_FORMERR, false), 0);
	ck_assert_uint_eq(get16(r + 4), 0);
	ck_assert_int_eq(pc_dns_build_error(&q, 1, r, 11), -ENOSPC);
	ck_assert_str_eq(pc_dns_rcode_str(PC_DNS_RCODE_NXDOMAIN), "NXDOMAIN");
}
END_TEST

START_TEST(reply_edns_and_truncation)
{
	struct pc_addr a[16];
	struct pc_dns_query q;
	uint8_t r[2048];
	struct m m;
	size_t i, base;
	int n;

	for (i = 0; i < 16; i++)
		a[i] = addr6((unsigned)i);
	query(&m, 5, "a-rather-long-name-for-many-addresses.example.com", PC_DNS_TYPE_AAAA, 4096);
	ck_assert_int_eq(pc_dns_parse_query(m.b, m.n, &q), 0);
	base = q.qend + 11; /* the question and our OPT */
	n = pc_dns_build_reply(&q, 0, true, a, 16, 60, q.udp_size, r, sizeof(r));
	ck_assert_uint_eq(reply_head(r, n, 5, 0, true), 16);
	ck_assert_int_eq(n, (int)(base + 16 * 28));
	ck_assert_uint_eq(get16(r + 10), 1);
	/* the OPT record last: root, type 41, our size, DO echoed */
	ck_assert_uint_eq(r[n - 11], 0);
	ck_assert_uint_eq(get16(r + n - 10), PC_DNS_TYPE_OPT);
	ck_assert_uint_eq(get16(r + n - 8), PC_DNS_EDNS_SIZE);
	ck_assert_uint_eq(get16(r + n - 4), 0x8000);
	ck_assert(!(r[2] & 0x02));
	/* 512 bytes: 16 AAAA do not fit; TC, no answers, the OPT kept */
	q.udp_size = 512;
	n = pc_dns_build_reply(&q, 0, true, a, 16, 60, q.udp_size, r, sizeof(r));
	ck_assert_uint_eq(reply_head(r, n, 5, 0, true), 0);
	ck_assert(r[2] & 0x02);
	ck_assert_int_eq(n, (int)base);
	ck_assert_uint_eq(get16(r + 10), 1);
	/* exactly at the limit: whole */
	n = pc_dns_build_reply(&q, 0, true, a, 16, 60, base + 16 * 28, r, sizeof(r));
	ck_assert(!(r[2] & 0x02));
	ck_assert_int_eq(n, (int)(base + 16 * 28));
	/* a buffer too small for even the question */
	ck_assert_int_eq(pc_dns_build_reply(&q, 0, true, a, 16, 60, 512, r, 20), -ENOSPC);
	/* without EDNS: no OPT */
	query(&m, 5, "a-rather-long-name-for-many-addresses.example.com", PC_DNS_TYPE_AAAA, 0);
	ck_assert_int_eq(pc_dns_parse_query(m.b, m.n, &q), 0);
	n = pc_dns_build_reply(&q, 0, true, a, 1, 60, 512, r, sizeof(r));
	ck_assert_uint_eq(get16(r + 10), 0);
	ck_assert_int_eq(n, (int)(m.n + 28));
}
END_TEST

START_TEST(response_matching)
{
	struct pc_dns_response resp;
	struct pc_dns_query q;
	struct m m, a;

	query(&m, 0x1111, "WwW.example.com", PC_DNS_TYPE_A, 0);
	ck_assert_int_eq(pc_dns_parse_query(m.b, m.n, &q), 0);
	/* an answer from upstream: id 0x2222 (our random one), the name in another case */
	hdr(&a, 0x2222, 0x8180, 1, 1, 0, 0);
	name(&a, "www.EXAMPLE.com");
	u16(&a, PC_DNS_TYPE_A);
	u16(&a, 1);
	u16(&a, 0xc00c);
	u16(&a, 1);
	u16(&a, 1);
	u16(&a, 0);
	u16(&a, 60);
	u16(&a, 4);
	u16(&a, 0xc000);
	u16(&a, 0x0207);
	ck_assert_int_eq(pc_dns_parse_response(a.b, a.n, &resp), 0);
	ck_assert_uint_eq(resp.id, 0x2222);
	ck_assert_uint_eq(PC_DNS_RCODE(resp.flags), 0);
	ck_assert(pc_dns_response_matches(&resp, 0x2222, &q));
	ck_assert(!pc_dns_response_matches(&resp, 0x2223, &q));
	pc_dns_set_id(a.b, 0x1111);
	ck_assert_uint_eq(get16(a.b), 0x1111);
	/* another name, type or class */
	a.b[13] = 'x';
	ck_assert_int_eq(pc_dns_parse_response(a.b, a.n, &resp), 0);
	ck_assert(!pc_dns_response_matches(&resp, 0x1111, &q));
	a.b[13] = 'w';
	a.b[12 + 17 + 1] = PC_DNS_TYPE_AAAA;
	ck_assert_int_eq(pc_dns_parse_response(a.b, a.n, &resp), 0);
	ck_assert(!pc_dns_response_matches(&resp, 0x1111, &q));
	a.b[12 + 17 + 1] = PC_DNS_TYPE_A;
	a.b[12 + 17 + 3] = 3;
	ck_assert_int_eq(pc_dns_parse_response(a.b, a.n, &resp), 0);
	ck_assert(!pc_dns_response_matches(&resp, 0x1111, &q));
	/* a longer name whose bytes lowercase the same up to the shorter one's length */
	hdr(&a, 0x1111, 0x8180, 1, 0, 0, 0);
	name(&a, "www.example.com.x");
	u16(&a, 1);
	u16(&a, 1);
	ck_assert_int_eq(pc_dns_parse_response(a.b, a.n, &resp), 0);
	ck_assert(!pc_dns_response_matches(&resp, 0x1111, &q));
	/* not responses: a query, no question, a cut question */
	ck_assert_int_eq(pc_dns_parse_response(m.b, m.n, &resp), -EBADMSG);
	hdr(&a, 1, 0x8182, 0, 0, 0, 0);
	ck_assert_int_eq(pc_dns_parse_response(a.b, a.n, &resp), -EBADMSG);
	hdr(&a, 1, 0x8380, 1, 0, 0, 0);
	name(&a, "www.example.com");
	ck_assert_int_eq(pc_dns_parse_response(a.b, a.n, &resp), -EBADMSG);
	u16(&a, 1);
	u16(&a, 1);
	ck_assert_int_eq(pc_dns_parse_response(a.b, a.n, &resp), 0);
	ck_assert(resp.flags & PC_DNS_F_TC);
	ck_assert_int_eq(pc_dns_parse_response(a.b, 5, &resp), -EBADMSG);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("dns.msg");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, parse_plain);
	tcase_add_test(tc, parse_root_and_odd);
	tcase_add_test(tc, parse_edns);
	tcase_add_test(tc, parse_header_errors);
	tcase_add_test(tc, parse_truncated_everywhere);
	tcase_add_test(tc, parse_compression);
	tcase_add_test(tc, parse_label_and_name_limits);
	tcase_add_test(tc, reply_answers);
	tcase_add_test(tc, reply_rcodes);
	tcase_add_test(tc, reply_edns_and_truncation);
	tcase_add_test(tc, response_matching);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
