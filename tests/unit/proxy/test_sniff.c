/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for proxy/sniff.c: real ClientHellos (captured from openssl
 * s_client) and hand-built ones, whole, truncated, split over records,
 * oversized and malformed; HTTP/1 request heads with Host in every form the
 * parser accepts and every ambiguity it refuses (fail closed: no name).
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/sniff.h"

/* openssl s_client -servername api.example.com (OpenSSL 3.0, TLS 1.3 offered), captured */
static const uint8_t hello13[] = {
	0x16, 0x03, 0x01, 0x01, 0x3c, 0x01, 0x00, 0x01, 0x38, 0x03, 0x03, 0x25,
	0xc7, 0x06, 0xbb, 0x84, 0x4f, 0x39, 0x0c, 0x35, 0xc7, 0x20, 0x67, 0xe6,
	0x3b, 0x15, 0x3f, 0x47, 0x04, 0xb6, 0x9b, 0x04, 0x81, 0x56, 0x04, 0x40,
	0xa9, 0x5f, 0x81, 0x66, 0x84, 0x0e, 0x0d, 0x20, 0x79, 0x25, 0xb5, 0x2f,
	0x3e, 0x4f, 0xe8, 0xce, 0xc9, 0x78, 0x49, 0x8a, 0x1e, 0xdd, 0xb2, 0xf7,
	0x91, 0xb5, 0x73, 0x21, 0x31, 0x0b, 0x03, 0x59, 0xaf, 0x0e, 0x15, 0x39,
	0xdd, 0x98, 0x61, 0x7b, 0x00, 0x3e, 0x13, 0x02, 0x13, 0x03, 0x13, 0x01,
	0xc0, 0x2c, 0xc0, 0x30, 0x00, 0x9f, 0xcc, 0xa9, 0xcc, 0xa8, 0xcc, 0xaa,
	0xc0, 0x2b, 0xc0, 0x2f, 0x00, 0x9e, 0xc0, 0x24, 0xc0, 0x28, 0x00, 0x6b,
	0xc0, 0x23, 0xc0, 0x27, 0x00, 0x67, 0xc0, 0x0a, 0xc0, 0x14, 0x00, 0x39,
	0xc0, 0x09, 0xc0, 0x13, 0x00, 0x33, 0x00, 0x9d, 0x00, 0x9c, 0x00, 0x3d,
	0x00, 0x3c, 0x00, 0x35, 0x00, 0x2f, 0x00, 0xff, 0x01, 0x00, 0x00, 0xb1,
	0x00, 0x00, 0x00, 0x14, 0x00, 0x12, 0x00, 0x00, 0x0f, 0x61, 0x70, 0x69,
	0x2e, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x2e, 0x63, 0x6f, 0x6d,
	0x00, 0x0b, 0x00, 0x04, 0x03, 0x00, 0x01, 0x02, 0x00, 0x0a, 0x00, 0x16,
	0x00, 0x14, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x1e, 0x00, 0x19, 0x00, 0x18,
	0x01, 0x00, 0x01, 0x01, 0x01, 0x02, 0x01, 0x03, 0x01, 0x04, 0x00, 0x23,
	0x00, 0x00, 0x00, 0x16, 0x00, 0x00, 0x00, 0x17, 0x00, 0x00, 0x00, 0x0d,
	0x00, 0x2a, 0x00, 0x28, 0x04, 0x03, 0x05, 0x03, 0x06, 0x03, 0x08, 0x07,
	0x08, 0x08, 0x08, 0x09, 0x08, 0x0a, 0x08, 0x0b, 0x08, 0x04, 0x08, 0x05,
	0x08, 0x06, 0x04, 0x01, 0x05, 0x01, 0x06, 0x01, 0x03, 0x03, 0x03, 0x01,
	0x03, 0x02, 0x04, 0x02, 0x05, 0x02, 0x06, 0x02, 0x00, 0x2b, 0x00, 0x09,
	0x08, 0x03, 0x04, 0x03, 0x03, 0x03, 0x02, 0x03, 0x01, 0x00, 0x2d, 0x00,
	0x02, 0x01, 0x01, 0x00, 0x33, 0x00, 0x26, 0x00, 0x24, 0x00, 0x1d, 0x00,
	0x20, 0x04, 0xc0, 0xab, 0x4f, 0x8d, 0xaa, 0x8a, 0xd1, 0x2b, 0x29, 0x81,
	0x31, 0xa6, 0x11, 0xe2, 0x32, 0x7b, 0xf3, 0x27, 0xb9, 0x98, 0x1f, 0xea,
	0xa3, 0x10, 0xd7, 0x25, 0x59, 0xb7, 0x33, 0xf0, 0x3d,
};

/* openssl s_client -tls1_2 -servername Legacy.Example.ORG, captured */
static const uint8_t hello12[] = {
	0x16, 0x03, 0x01, 0x00, 0xd2, 0x01, 0x00, 0x00, 0xce, 0x03, 0x03, 0x3b,
	0x35, 0x7d, 0x4d, 0x60, 0xd3, 0x93, 0xcf, 0xcf, 0x1f, 0xce, 0x84, 0xab,
	0xd7, 0x74, 0xe5, 0xaa, 0xb9, 0xa6, 0x89, 0x4a, 0x42, 0x7d, 0xe2, 0x7a,
	0x1a, 0xb5, 0x48, 0xf4, 0x76, 0x09, 0xc2, 0x00, 0x00, 0x38, 0xc0, 0x2c,
	0xc0, 0x30, 0x00, 0x9f, 0xcc, 0xa9, 0xcc, 0xa8, 0xcc, 0xaa, 0xc0, 0x2b,
	0xc0, 0x2f, 0x00, 0x9e, 0xc0, 0x24, 0xc0, 0x28, 0x00, 0x6b, 0xc0, 0x23,
	0xc0, 0x27, 0x00, 0x67, 0xc0, 0x0a, 0xc0, 0x14, 0x00, 0x39, 0xc0, 0x09,
	0xc0, 0x13, 0x00, 0x33, 0x00, 0x9d, 0x00, 0x9c, 0x00, 0x3d, 0x00, 0x3c,
	0x00, 0x35, 0x00, 0x2f, 0x00, 0xff, 0x01, 0x00, 0x00, 0x6d, 0x00, 0x00,
	0x00, 0x17, 0x00, 0x15, 0x00, 0x00, 0x12, 0x4c, 0x65, 0x67, 0x61, 0x63,
	0x79, 0x2e, 0x45, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x2e, 0x4f, 0x52,
	0x47, 0x00, 0x0b, 0x00, 0x04, 0x03, 0x00, 0x01, 0x02, 0x00, 0x0a, 0x00,
	0x0c, 0x00, 0x0a, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x1e, 0x00, 0x19, 0x00,
	0x18, 0x00, 0x23, 0x00, 0x00, 0x00, 0x16, 0x00, 0x00, 0x00, 0x17, 0x00,
	0x00, 0x00, 0x0d, 0x00, 0x2a, 0x00, 0x28, 0x04, 0x03, 0x05, 0x03, 0x06,
	0x03, 0x08, 0x07, 0x08, 0x08, 0x08, 0x09, 0x08, 0x0a, 0x08, 0x0b, 0x08,
	0x04, 0x08, 0x05, 0x08, 0x06, 0x04, 0x01, 0x05, 0x01, 0x06, 0x01, 0x03,
	0x03, 0x03, 0x01, 0x03, 0x02, 0x04, 0x02, 0x05, 0x02, 0x06, 0x02,
};

/* openssl s_client -noservername, captured */
static const uint8_t hello_nosni[] = {
	0x16, 0x03, 0x01, 0x01, 0x24, 0x01, 0x00, 0x01, 0x20, 0x03, 0x03, 0x5d,
	0x85, 0x54, 0x5a, 0x68, 0xe3, 0xd8, 0xf4, 0x16, 0x41, 0x55, 0x71, 0xe6,
	0xfc, 0x77, 0x96, 0x61, 0x3d, 0xdd, 0x51, 0xb3, 0x68, 0x07, 0x04, 0x4f,
	0x4b, 0x95, 0x76, 0xe1, 0xad, 0x86, 0x80, 0x20, 0xcf, 0xef, 0xb5, 0xef,
	0xd9, 0x0d, 0x61, 0xeb, 0xf5, 0x61, 0x53, 0xd8, 0xbf, 0x14, 0xd6, 0x4a,
	0x19, 0xff, 0x1b, 0xbf, 0x30, 0x47, 0x39, 0x54, 0x09, 0x82, 0xd8, 0xd1,
	0xc9, 0x0c, 0x9f, 0xc4, 0x00, 0x3e, 0x13, 0x02, 0x13, 0x03, 0x13, 0x01,
	0xc0, 0x2c, 0xc0, 0x30, 0x00, 0x9f, 0xcc, 0xa9, 0xcc, 0xa8, 0xcc, 0xaa,
	0xc0, 0x2b, 0xc0, 0x2f, 0x00, 0x9e, 0xc0, 0x24, 0xc0, 0x28, 0x00, 0x6b,
	0xc0, 0x23, 0xc0, 0x27, 0x00, 0x67, 0xc0, 0x0a, 0xc0, 0x14, 0x00, 0x39,
	0xc0, 0x09, 0xc0, 0x13, 0x00, 0x33, 0x00, 0x9d, 0x00, 0x9c, 0x00, 0x3d,
	0x00, 0x3c, 0x00, 0x35, 0x00, 0x2f, 0x00, 0xff, 0x01, 0x00, 0x00, 0x99,
	0x00, 0x0b, 0x00, 0x04, 0x03, 0x00, 0x01, 0x02, 0x00, 0x0a, 0x00, 0x16,
	0x00, 0x14, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x1e, 0x00, 0x19, 0x00, 0x18,
	0x01, 0x00, 0x01, 0x01, 0x01, 0x02, 0x01, 0x03, 0x01, 0x04, 0x00, 0x23,
	0x00, 0x00, 0x00, 0x16, 0x00, 0x00, 0x00, 0x17, 0x00, 0x00, 0x00, 0x0d,
	0x00, 0x2a, 0x00, 0x28, 0x04, 0x03, 0x05, 0x03, 0x06, 0x03, 0x08, 0x07,
	0x08, 0x08, 0x08, 0x09, 0x08, 0x0a, 0x08, 0x0b, 0x08, 0x04, 0x08, 0x05,
	0x08, 0x06, 0x04, 0x01, 0x05, 0x01, 0x06, 0x01, 0x03, 0x03, 0x03, 0x01,
	0x03, 0x02, 0x04, 0x02, 0x05, 0x02, 0x06, 0x02, 0x00, 0x2b, 0x00, 0x09,
	0x08, 0x03, 0x04, 0x03, 0x03, 0x03, 0x02, 0x03, 0x01, 0x00, 0x2d, 0x00,
	0x02, 0x01, 0x01, 0x00, 0x33, 0x00, 0x26, 0x00, 0x24, 0x00, 0x1d, 0x00,
	0x20, 0xbf, 0x41, 0x89, 0x19, 0x17, 0x8e, 0xf6, 0xa9, 0xc0, 0x32, 0x20,
	0xc9, 0x02, 0x30, 0x18, 0xdf, 0x9f, 0x8a, 0xb0, 0x67, 0xb1, 0x58, 0x72,
	0x3f, 0xc7, 0x64, 0xe0, 0xb7, 0xe6, 0x3a, 0x84, 0x12,
};

static enum pc_sniff sniff(const void *p, size_t n, struct pc_sniffed *out)
{
	return pc_sniff(p, n, out);
}

static enum pc_sniff sniff_str(const char *s, struct pc_sniffed *out)
{
	return pc_sniff((const uint8_t *)s, strlen(s), out);
}

/* -- real ClientHellos --------------------------------------------------------- */

START_TEST(openssl_hello_tls13)
{
	struct pc_sniffed s;

	ck_assert_int_eq(sniff(hello13, sizeof(hello13), &s), PC_SNIFF_TLS);
	ck_assert_int_eq(s.err, 0);
	ck_assert_str_eq(s.name, "api.example.com");
	ck_assert_uint_eq(s.namelen, 15);
	ck_assert_uint_eq(s.rec_major, 3);
	ck_assert_uint_eq(s.rec_minor, 1);
}
END_TEST

START_TEST(openssl_hello_tls12_lowercased)
{
	struct pc_sniffed s;

	ck_assert_int_eq(sniff(hello12, sizeof(hello12), &s), PC_SNIFF_TLS);
	ck_assert_int_eq(s.err, 0);
	ck_assert_str_eq(s.name, "legacy.example.org");
}
END_TEST

START_TEST(openssl_hello_without_sni)
{
	struct pc_sniffed s;

	ck_assert_int_eq(sniff(hello_nosni, sizeof(hello_nosni), &s), PC_SNIFF_TLS);
	ck_assert_int_eq(s.err, 0);
	ck_assert_uint_eq(s.namelen, 0);
	ck_assert_str_eq(s.name, "");
}
END_TEST

/* Every proper prefix waits for more; the quick kind decides at 6 bytes. */
START_TEST(truncated_hello_waits)
{
	struct pc_sniffed s;
	size_t n;

	for (n = 0; n < sizeof(hello13); n++) {
		ck_assert_int_eq(sniff(hello13, n, &s), PC_SNIFF_MORE);
		ck_assert_uint_eq(s.namelen, 0);
		ck_assert_int_eq(pc_sniff_kind(hello13, n), n < 6 ? PC_SNIFF_MORE : PC_SNIFF_TLS);
	}
	/* bytes after the hello (a second flight) change nothing */
	{
		uint8_t more[sizeof(hello13) + 7];

		memcpy(more, hello13, sizeof(hello13));
		static const uint8_t ccs[] = { 0x14, 0x03, 0x03, 0x00, 0x01, 0x01, 0x17 };

		memcpy(more + sizeof(hello13), ccs, sizeof(ccs));
		ck_assert_int_eq(sniff(more, sizeof(more), &s), PC_SNIFF_TLS);
		ck_assert_str_eq(s.name, "api.example.com");
	}
}
END_TEST

/* The same hello in two records (RFC 8446 5.1 allows it; evasion tools do it). */
START_TEST(hello_split_over_records)
{
	uint8_t buf[sizeof(hello13) + 5];
	size_t hs = sizeof(hello13) - 5, first = 60, n;
	struct pc_sniffed s;

	memcpy(buf, hello13, 5);
	buf[3] = 0;
	buf[4] = (uint8_t)first;
	memcpy(buf + 5, hello13 + 5, first);
	buf[5 + first] = 0x16;
	buf[6 + first] = 0x03;
	buf[7 + first] = 0x03;
	buf[8 + first] = (uint8_t)((hs - first) >> 8);
	buf[9 + first] = (uint8_t)(hs - first);
	memcpy(buf + 10 + first, hello13 + 5 + first, hs - first);
	for (n = 0; n < sizeof(buf); n++)
		ck_assert_int_eq(sniff(buf, n, &s), PC_SNIFF_MORE);
	ck_assert_int_eq(sniff(buf, sizeof(buf), &s), PC_SNIFF_TLS);
	ck_assert_str_eq(s.name, "api.example.com");

	/* an alert record in between: refused, no name */
	buf[5 + first] = 0x15;
	ck_assert_int_eq(sniff(buf, sizeof(buf), &s), PC_SNIFF_TLS);
	ck_assert_int_eq(s.err, -EBADMSG);
	ck_assert_uint_eq(s.namelen, 0);
}
END_TEST

/* -- hand-built ClientHellos ----------------------------------------------------- */

/* A server_name extension holding <n> host_name entries, each <name>. */
static size_t sni_ext(uint8_t *out, const char *name, unsigned n)
{
	size_t len = strlen(name), list = n * (3 + len), i, o = 0;

	out[o++] = 0;
	out[o++] = 0; /* server_name */
	out[o++] = (uint8_t)((list + 2) >> 8);
	out[o++] = (uint8_t)(list + 2);
	out[o++] = (uint8_t)(list >> 8);
	out[o++] = (uint8_t)list;
	for (i = 0; i < n; i++) {
		out[o++] = 0; /* host_name */
		out[o++] = (uint8_t)(len >> 8);
		out[o++] = (uint8_t)len;
		memcpy(out + o, name, len);
		o += len;
	}
	return o;
}

/* A TLS 1.2-style record holding a ClientHello with the extensions <ext>. */
static size_t build_hello(uint8_t *out, const uint8_t *ext, size_t extlen)
{
	size_t o = 9, body;

	out[o++] = 3;
	out[o++] = 3;
	memset(out + o, 0xab, 32);
	o += 32;
	out[o++] = 0;                        /* session id */
	memcpy(out + o, "\x00\x02\x13\x01", 4); /* one cipher suite */
	o += 4;
	memcpy(out + o, "\x01\x00", 2); /* null compression */
	o += 2;
	out[o++] = (uint8_t)(extlen >> 8);
	out[o++] = (uint8_t)extlen;
	memcpy(out + o, ext, extlen);
	o += extlen;
	body = o - 9;
	out[0] = 0x16;
	out[1] = 3;
	out[2] = 1;
	out[3] = (uint8_t)((body + 4) >> 8);
	out[4] = (uint8_t)(body + 4);
	out[5] = 1;
	out[6] = 0;
	out[7] = (uint8_t)(body >> 8);
	out[8] = (uint8_t)body;
	return o;
}

static enum pc_sniff built(const char *name, unsigned copies, struct pc_sniffed *s)
{
	static uint8_t ext[1024], rec[2048];

	return sniff(rec, build_hello(rec, ext, sni_ext(ext, name, copies)), s);
}

START_TEST(built_hello)
{
	struct pc_sniffed s;

	ck_assert_int_eq(built("db.internal.example", 1, &s), PC_SNIFF_TLS);
	ck_assert_str_eq(s.name, "db.internal.example");
	ck_assert_int_eq(built("final.dot.example.", 1, &s), PC_SNIFF_TLS);
	ck_assert_str_eq(s.name, "final.dot.example");
}
END_TEST

START_TEST(malformed_sni_fails_closed)
{
	static const char *const bad[] = { "two words.example", "", "a..b", ".lead",
					   "semi;colon", "x\xc3\xa9.example", "nul\x01" };
	char long_label[80], long_name[300];
	struct pc_sniffed s;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_int_eq(built(bad[i], 1, &s), PC_SNIFF_TLS);
		ck_assert_msg(s.err == -EBADMSG && s.namelen == 0, "name %zu accepted", i);
	}
	/* two host_names: RFC 6066 forbids it */
	ck_assert_int_eq(built("a.example", 2, &s), PC_SNIFF_TLS);
	ck_assert_int_eq(s.err, -EBADMSG);
	ck_assert_uint_eq(s.namelen, 0);
	/* a label over 63 bytes, a name over 253 */
	memset(long_label, 'a', 64);
	snprintf(long_label + 64, sizeof(long_label) - 64, ".example");
	ck_assert_int_eq(built(long_label, 1, &s), PC_SNIFF_TLS);
	ck_assert_int_eq(s.err, -EBADMSG);
	for (i = 0; i < 254; i++)
		long_name[i] = i % 2 ? '.' : 'a';
	long_name[253] = 'a';
	long_name[254] = '\0';
	ck_assert_int_eq(built(long_name, 1, &s), PC_SNIFF_TLS);
	ck_assert_int_eq(s.err, -EBADMSG);
	/* an IP literal is no name, and no error */
	ck_assert_int_eq(built("203.0.113.9", 1, &s), PC_SNIFF_TLS);
	ck_assert_int_eq(s.err, 0);
	ck_assert_uint_eq(s.namelen, 0);
}
END_TEST

START_TEST(malformed_extensions_fail_closed)
{
	uint8_t ext[512], rec[1024];
	struct pc_sniffed s;
	size_t e, n;

	/* the server_name extension twice */
	e = sni_ext(ext, "a.example", 1);
	e += sni_ext(ext + e, "b.example", 1);
	ck_assert_int_eq(sniff(rec, build_hello(rec, ext, e), &s), PC_SNIFF_TLS);
	ck_assert_int_eq(s.err, -EBADMSG);
	ck_assert_uint_eq(s.namelen, 0);

	/* the list length disagrees with the extension length */
	e = sni_ext(ext, "a.example", 1);
	ext[5]++;
	ck_assert_int_eq(sniff(rec, build_hello(rec, ext, e), &s), PC_SNIFF_TLS);
	ck_assert_int_eq(s.err, -EBADMSG);

	/* a name length running past the list */
	e = sni_ext(ext, "a.example", 1);
	ext[8] = 200;
	ck_assert_int_eq(sniff(rec, build_hello(rec, ext, e), &s), PC_SNIFF_TLS);
	ck_assert_int_eq(s.err, -EBADMSG);

	/* an empty server_name list */
	memset(ext, 0, 6);
	ext[3] = 2; /* server_name, length 2: a list of length 0 */
	ck_assert_int_eq(sniff(rec, build_hello(rec, ext, 6), &s), PC_SNIFF_TLS);
	ck_assert_int_eq(s.err, -EBADMSG);

	/* an extension running past the block */
	memset(ext, 0, 5);
	ext[1] = 0x17; /* extended_master_secret, "9 bytes" of which 1 is there */
	ext[3] = 9;
	ck_assert_int_eq(sniff(rec, build_hello(rec, ext, 5), &s), PC_SNIFF_TLS);
	ck_assert_int_eq(s.err, -EBADMSG);

	/* bytes after the extensions, inside the hello */
	e = sni_ext(ext, "a.example", 1);
	n = build_hello(rec, ext, e);
	rec[n] = 0;
	rec[4]++;
	rec[8]++;
	ck_assert_int_eq(sniff(rec, n + 1, &s), PC_SNIFF_TLS);
	ck_assert_int_eq(s.err, -EBADMSG);
	ck_assert_uint_eq(s.namelen, 0);

	/* a session id over 32 bytes */
	n = build_hello(rec, ext, e);
	rec[9 + 34] = 33;
	ck_assert_int_eq(sniff(rec, n, &s), PC_SNIFF_TLS);
	ck_assert_int_eq(s.err, -EBADMSG);

	/* a zero-length handshake record */
	ck_assert_int_eq(sniff("\x16\x03\x01\x00\x05\x01\x00\x00\x30\x03\x16\x03\x01\x00\x00", 15,
			       &s),
			 PC_SNIFF_TLS);
	ck_assert_int_eq(s.err, -EBADMSG);
}
END_TEST

START_TEST(oversized_hello)
{
	static const uint8_t big[] = { 0x16, 0x03, 0x01, 0x40, 0x00, 0x01, 0x00, 0x40, 0x01 };
	struct pc_sniffed s;

	/* a handshake of 16385 bytes: refused at its header, not waited for */
	ck_assert_int_eq(sniff(big, sizeof(big), &s), PC_SNIFF_TLS);
	ck_assert_int_eq(s.err, -EMSGSIZE);
	ck_assert_uint_eq(s.namelen, 0);
	ck_assert_int_eq(sniff(big, 8, &s), PC_SNIFF_MORE);
}
END_TEST

/* -- HTTP/1 --------------------------------------------------------------------- */

struct http_case {
	const char *req;
	enum pc_sniff kind;
	int err;
	const char *name;
};

static const struct http_case http_cases[] = {
	{ "GET / HTTP/1.1\r\nHost: api.example.com\r\n\r\n", PC_SNIFF_HTTP, 0, "api.example.com" },
	{ "GET / HTTP/1.1\r\nHost: Api.Example.COM:8080\r\n\r\n", PC_SNIFF_HTTP, 0,
	  "api.example.com" },
	{ "GET / HTTP/1.1\r\nhost:\t a.example \t\r\nAccept: */*\r\n\r\n", PC_SNIFF_HTTP, 0,
	  "a.example" },
	{ "POST /x HTTP/1.1\r\nUser-Agent: t\r\nHOST: b.example:80\r\nContent-Length: 4\r\n\r\nbody",
	  PC_SNIFF_HTTP, 0, "b.example" },
	/* absolute-form: the target's authority names it, not the Host field (RFC 9112 3.2.2) */
	{ "GET http://abs.example.com:8080/p?q HTTP/1.1\r\nHost: other.example\r\n\r\n",
	  PC_SNIFF_HTTP, 0, "abs.example.com" },
	{ "GET HTTPS://Abs.Example.com HTTP/1.1\r\nHost: abs.example.com\r\n\r\n", PC_SNIFF_HTTP, 0,
	  "abs.example.com" },
	{ "CONNECT tun.example.com:443 HTTP/1.1\r\nHost: tun.example.com:443\r\n\r\n",
	  PC_SNIFF_HTTP, 0, "tun.example.com" },
	{ "HEAD / HTTP/1.0\r\n\r\n", PC_SNIFF_HTTP, 0, "" }, /* 1.0 without Host: no name */
	/* IP literals are no names */
	{ "GET / HTTP/1.1\r\nHost: 203.0.113.9:80\r\n\r\n", PC_SNIFF_HTTP, 0, "" },
	{ "GET / HTTP/1.1\r\nHost: [2001:db8::1]:8080\r\n\r\n", PC_SNIFF_HTTP, 0, "" },
	/* fail closed */
	{ "GET / HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n", PC_SNIFF_HTTP, -EBADMSG,
	  "" },
	{ "GET / HTTP/1.1\r\nHost: a.example\r\nhost: a.example\r\n\r\n", PC_SNIFF_HTTP, -EBADMSG,
	  "" },
	{ "GET / HTTP/1.1\r\nHost : a.example\r\n\r\n", PC_SNIFF_HTTP, -EBADMSG, "" },
	{ "GET / HTTP/1.1\r\nX: y\r\n folded\r\nHost: a.example\r\n\r\n", PC_SNIFF_HTTP, -EBADMSG,
	  "" },
	{ "GET / HTTP/1.1\r\n\r\n", PC_SNIFF_HTTP, -EBADMSG, "" }, /* 1.1 requires Host */
	{ "GET / HTTP/1.1\nHost: a.example\n\n", PC_SNIFF_HTTP, -EBADMSG, "" },
	{ "GET / HTTP/1.1\r\nHost: a.example:99999x\r\n\r\n", PC_SNIFF_HTTP, -EBADMSG, "" },
	{ "GET / HTTP/1.1\r\nHost: a.example:\r\n\r\n", PC_SNIFF_HTTP, -EBADMSG, "" },
	{ "GET / HTTP/1.1\r\nHost: a b.example\r\n\r\n", PC_SNIFF_HTTP, -EBADMSG, "" },
	{ "GET / HTTP/1.1\r\nHost: \r\n\r\n", PC_SNIFF_HTTP, -EBADMSG, "" },
	{ "GET http://user@a.example/ HTTP/1.1\r\nHost: a.example\r\n\r\n", PC_SNIFF_HTTP,
	  -EBADMSG, "" },
	{ "GET ftp://a.example/ HTTP/1.1\r\nHost: a.example\r\n\r\n", PC_SNIFF_HTTP, -EBADMSG, "" },
	{ "GET / HTTP/2.0\r\nHost: a.example\r\n\r\n", PC_SNIFF_HTTP, -EBADMSG, "" },
	{ "GET  / HTTP/1.1\r\nHost: a.example\r\n\r\n", PC_SNIFF_HTTP, -EBADMSG, "" },
	/* not yet whole */
	{ "GET / HTTP/1.1\r\nHost: a.example\r\n", PC_SNIFF_MORE, 0, "" },
	{ "GET / HTTP/1.1\r\nHost: a.exa", PC_SNIFF_MORE, 0, "" },
	{ "GET / HTTP/1.1\r", PC_SNIFF_MORE, 0, "" },
	/* not HTTP at all */
	{ "SSH-2.0-OpenSSH_9.2\r\n", PC_SNIFF_OTHER, 0, "" },
};

START_TEST(http_host)
{
	const struct http_case *c = &http_cases[_i];
	struct pc_sniffed s;

	ck_assert_msg(sniff_str(c->req, &s) == c->kind, "case %d: kind %d", _i, s.kind);
	ck_assert_msg(s.err == c->err, "case %d: err %d", _i, s.err);
	ck_assert_msg(strcmp(s.name, c->name) == 0, "case %d: name \"%s\"", _i, s.name);
	ck_assert_uint_eq(s.namelen, strlen(c->name));
}
END_TEST

START_TEST(http_head_flag_and_bound)
{
	static char big[PC_SNIFF_HEAD_MAX + 64];
	struct pc_sniffed s;
	size_t n;

	ck_assert_int_eq(sniff_str("HEAD / HTTP/1.1\r\nHost: h.example\r\n\r\n", &s),
			 PC_SNIFF_HTTP);
	ck_assert(s.head);
	ck_assert_int_eq(sniff_str("GET / HTTP/1.1\r\nHost: h.example\r\n\r\n", &s),
			 PC_SNIFF_HTTP);
	ck_assert(!s.head);

	/* a head that never ends is refused at PC_SNIFF_HEAD_MAX, not waited for */
	n = (size_t)snprintf(big, sizeof(big), "GET / HTTP/1.1\r\nHost: h.example\r\nX: ");
	memset(big + n, 'x', sizeof(big) - n);
	ck_assert_int_eq(sniff(big, PC_SNIFF_HEAD_MAX - 1, &s), PC_SNIFF_MORE);
	ck_assert_int_eq(sniff(big, PC_SNIFF_HEAD_MAX, &s), PC_SNIFF_HTTP);
	ck_assert_int_eq(s.err, -EMSGSIZE);
	ck_assert_uint_eq(s.namelen, 0);
	ck_assert_int_eq(sniff(big, sizeof(big), &s), PC_SNIFF_HTTP);
	ck_assert_int_eq(s.err, -EMSGSIZE);
}
END_TEST

START_TEST(copy_name_rules)
{
	char out[PC_SNIFF_NAME_MAX + 1], in[300];

	ck_assert_uint_eq(pc_sniff_copy_name((const uint8_t *)"A-b_C.example.", 14, out), 13);
	ck_assert_str_eq(out, "a-b_c.example");
	ck_assert_uint_eq(pc_sniff_copy_name((const uint8_t *)".", 1, out), 0);
	ck_assert_uint_eq(pc_sniff_copy_name((const uint8_t *)"a..b", 4, out), 0);
	memset(in, 'a', 63);
	ck_assert_uint_eq(pc_sniff_copy_name((const uint8_t *)in, 63, out), 63);
	memset(in, 'a', 64);
	ck_assert_uint_eq(pc_sniff_copy_name((const uint8_t *)in, 64, out), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("proxy.sniff");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, openssl_hello_tls13);
	tcase_add_test(tc, openssl_hello_tls12_lowercased);
	tcase_add_test(tc, openssl_hello_without_sni);
	tcase_add_test(tc, truncated_hello_waits);
	tcase_add_test(tc, hello_split_over_records);
	tcase_add_test(tc, built_hello);
	tcase_add_test(tc, malformed_sni_fails_closed);
	tcase_add_test(tc, malformed_extensions_fail_closed);
	tcase_add_test(tc, oversized_hello);
	tcase_add_loop_test(tc, http_host, 0, (int)(sizeof(http_cases) / sizeof(http_cases[0])));
	tcase_add_test(tc, http_head_flag_and_bound);
	tcase_add_test(tc, copy_name_rules);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
