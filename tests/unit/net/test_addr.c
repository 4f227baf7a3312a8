/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests for net/addr.c. */
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "net/addr.h"

/* Parse <in> as a prefix and print it back as "addr/len". */
static const char *prefix_round(const char *in, char *out, size_t n)
{
	char ip[PC_ADDR_STRLEN];
	struct pc_prefix p;

	ck_assert_msg(pc_prefix_parse(in, &p) == 0, "rejected %s", in);
	snprintf(out, n, "%s/%u", pc_addr_str(&p.addr, ip), (unsigned)p.len);
	return out;
}

static struct pc_addr addr(const char *s)
{
	struct pc_addr a;

	ck_assert_msg(pc_addr_parse(s, &a) == 0, "rejected %s", s);
	return a;
}

static struct pc_prefix prefix(const char *s)
{
	struct pc_prefix p;

	ck_assert_msg(pc_prefix_parse(s, &p) == 0, "rejected %s", s);
	return p;
}

static bool covers(const struct pc_prefix *p, const char *ip)
{
	struct pc_addr a = addr(ip);

	return pc_prefix_contains(p, &a);
}

START_TEST(parse_v4)
{
	static const uint8_t want[4] = { 192, 0, 2, 1 };
	static const uint8_t zero[12];
	struct pc_addr a;

	memset(&a, 0x5a, sizeof(a));
	ck_assert_int_eq(pc_addr_parse("192.0.2.1", &a), 0);
	ck_assert_uint_eq(a.family, AF_INET);
	ck_assert_mem_eq(a.bytes, want, 4);
	ck_assert_mem_eq(a.bytes + 4, zero, 12);
	ck_assert_uint_eq(a.port, 0);

	a = addr("0.0.0.0");
	ck_assert_uint_eq(a.family, AF_INET);
	a = addr("255.255.255.255");
	ck_assert_uint_eq(a.bytes[3], 255);
}
END_TEST

START_TEST(parse_v6)
{
	static const uint8_t db8[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
	static const uint8_t mapped[16] = { [10] = 0xff, 0xff, 192, 0, 2, 1 };
	struct pc_addr a;

	a = addr("2001:db8::1");
	ck_assert_uint_eq(a.family, AF_INET6);
	ck_assert_mem_eq(a.bytes, db8, 16);
	ck_assert_uint_eq(a.port, 0);
	a = addr("2001:DB8:0:0:0:0:0:1");
	ck_assert_mem_eq(a.bytes, db8, 16);

	/* a mapped address stays IPv6 until pc_addr_unmap() */
	a = addr("::ffff:192.0.2.1");
	ck_assert_uint_eq(a.family, AF_INET6);
	ck_assert_mem_eq(a.bytes, mapped, 16);

	ck_assert_uint_eq(addr("::").family, AF_INET6);
	ck_assert_uint_eq(addr("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255").family, AF_INET6);
}
END_TEST

START_TEST(parse_rejects)
{
	static const char *const bad[] = {
		"",
		" ",
		"192.0.2.1 ",
		" 192.0.2.1",
		"192.0.2",
		"192.0.2.1.",
		"192.0.2.256",
		"192.0.2.01",
		"0x7f.0.0.1",
		"1",
		"localhost",
		"192.0.2.1/32",
		"192.0.2.1:80",
		"2001:db8::1%eth0",
		"fe80::1%1",
		"2001:db8::1::2",
		"1:2:3:4:5:6:7:8:9",
		"2001:db8::g",
		"[2001:db8::1]",
		"[2001:db8::1]:80",
		"::ffff:192.0.2.01",
		"12345::",
	};
	struct pc_addr a;
	size_t i;

	memset(&a, 0x5a, sizeof(a));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(pc_addr_parse(bad[i], &a) == -EINVAL, "accepted \"%s\"", bad[i]);
	/* <out> is untouched on failure */
	ck_assert_uint_eq(a.family, 0x5a);
}
END_TEST

START_TEST(prefix_parse_and_print)
{
	char buf[128];

	ck_assert_str_eq(prefix_round("192.0.2.0/24", buf, sizeof(buf)), "192.0.2.0/24");
	ck_assert_str_eq(prefix_round("10.0.0.0/8", buf, sizeof(buf)), "10.0.0.0/8");
	ck_assert_str_eq(prefix_round("0.0.0.0/0", buf, sizeof(buf)), "0.0.0.0/0");
	ck_assert_str_eq(prefix_round("203.0.113.9/32", buf, sizeof(buf)), "203.0.113.9/32");
	ck_assert_str_eq(prefix_round("203.0.113.9", buf, sizeof(buf)), "203.0.113.9/32");
	ck_assert_str_eq(prefix_round("2001:db8::/32", buf, sizeof(buf)), "2001:db8::/32");
	ck_assert_str_eq(prefix_round("::/0", buf, sizeof(buf)), "::/0");
	ck_assert_str_eq(prefix_round("2001:db8::1/128", buf, sizeof(buf)), "2001:db8::1/128");
	ck_assert_str_eq(prefix_round("2001:db8::1", buf, sizeof(buf)), "2001:db8::1/128");
	ck_assert_str_eq(prefix_round("::ffff:10.0.0.0/104", buf, sizeof(buf)),
			 "::ffff:10.0.0.0/104");
}
END_TEST

START_TEST(prefix_clears_host_bits)
{
	char buf[128];

	ck_assert_str_eq(prefix_round("10.0.0.77/24", buf, sizeof(buf)), "10.0.0.0/24");
	ck_assert_str_eq(prefix_round("10.255.255.255/9", buf, sizeof(buf)), "10.128.0.0/9");
	ck_assert_str_eq(prefix_round("255.255.255.255/0", buf, sizeof(buf)), "0.0.0.0/0");
	ck_assert_str_eq(prefix_round("255.255.255.255/31", buf, sizeof(buf)),
			 "255.255.255.254/31");
	ck_assert_str_eq(prefix_round("192.0.2.255/25", buf, sizeof(buf)), "192.0.2.128/25");
	ck_assert_str_eq(prefix_round("2001:db8:ffff::1/33", buf, sizeof(buf)),
			 "2001:db8:8000::/33");
	ck_assert_str_eq(
		prefix_round("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/127", buf, sizeof(buf)),
		"ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/127");
	ck_assert_str_eq(
		prefix_round("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/64", buf, sizeof(buf)),
		"ffff:ffff:ffff:ffff::/64");
	ck_assert_str_eq(prefix_round("2001:db8::1/0", buf, sizeof(buf)), "::/0");
}
END_TEST

START_TEST(prefix_rejects)
{
	static const char *const bad[] = {
		"",
		"/",
		"/24",
		"192.0.2.0/",
		"192.0.2.0/33",
		"192.0.2.0/-1",
		"192.0.2.0/+8",
		"192.0.2.0/08",
		"192.0.2.0/00",
		"192.0.2.0/024",
		"192.0.2.0/ 8",
		"192.0.2.0/8 ",
		"192.0.2.0 /8",
		"192.0.2.0/8/8",
		"192.0.2.0/0x8",
		"192.0.2.0/99999999999999999999",
		"192.0.2.0/4294967320",
		"2001:db8::/129",
		"2001:db8::/0128",
		"2001:db8::/1280",
		"fe80::%eth0/64",
		"fe80::1%1/128",
		"2001:db8::/",
		"::/00",
		"192.0.2/24",
		"192.0.2.0.0/24",
		"ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255.1/24",
		"0000000000000000000000000000000000000000000000000000000000000000/8",
	};
	struct pc_prefix p;
	size_t i;

	memset(&p, 0x5a, sizeof(p));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(pc_prefix_parse(bad[i], &p) == -EINVAL, "accepted \"%s\"", bad[i]);
	ck_assert_uint_eq(p.len, 0x5a);
}
END_TEST

START_TEST(prefix_lengths_in_range)
{
	char in[64], want[64], buf[128];
	unsigned n;

	for (n = 0; n <= 32; n++) {
		snprintf(in, sizeof(in), "0.0.0.0/%u", n);
		snprintf(want, sizeof(want), "0.0.0.0/%u", n);
		ck_assert_str_eq(prefix_round(in, buf, sizeof(buf)), want);
	}
	for (n = 0; n <= 128; n++) {
		snprintf(in, sizeof(in), "::/%u", n);
		snprintf(want, sizeof(want), "::/%u", n);
		ck_assert_str_eq(prefix_round(in, buf, sizeof(buf)), want);
	}
}
END_TEST

START_TEST(contains)
{
	struct pc_prefix p = prefix("10.0.0.0/8");
	struct pc_prefix all4 = prefix("0.0.0.0/0"), all6 = prefix("::/0");
	struct pc_prefix p6 = prefix("2001:db8::/32"), host = prefix("192.0.2.1/32");
	struct pc_prefix odd = prefix("192.0.2.128/25"), m = prefix("::ffff:10.0.0.0/104");

	ck_assert(pc_prefix_contains(&p, &(struct pc_addr){ 0 }) == false);
	ck_assert(covers(&p, "10.1.2.3"));
	ck_assert(covers(&p, "10.255.255.255"));
	ck_assert(!covers(&p, "11.0.0.0"));
	ck_assert(!covers(&p, "9.255.255.255"));
	ck_assert(covers(&all4, "203.0.113.1"));
	ck_assert(covers(&host, "192.0.2.1"));
	ck_assert(!covers(&host, "192.0.2.0"));
	ck_assert(covers(&odd, "192.0.2.200"));
	ck_assert(!covers(&odd, "192.0.2.127"));

	ck_assert(covers(&p6, "2001:db8:ffff::1"));
	ck_assert(!covers(&p6, "2001:db9::1"));
	ck_assert(covers(&all6, "::1"));

	/* families never mix, mapped addresses included */
	ck_assert(!covers(&all4, "::"));
	ck_assert(!covers(&all6, "0.0.0.0"));
	ck_assert(!covers(&p, "::ffff:10.0.0.1"));
	ck_assert(covers(&m, "::ffff:10.0.0.1"));
	ck_assert(!covers(&m, "10.0.0.1"));
}
END_TEST

START_TEST(equal)
{
	struct pc_addr a = addr("192.0.2.1"), b = addr("192.0.2.1");

	a.port = 80;
	ck_assert(pc_addr_equal(&a, &b)); /* ports ignored */
	b.bytes[8] = 7;                   /* bytes past the IPv4 four do not count */
	ck_assert(pc_addr_equal(&a, &b));
	b = addr("192.0.2.2");
	ck_assert(!pc_addr_equal(&a, &b));
	b = addr("::ffff:192.0.2.1");
	ck_assert(!pc_addr_equal(&a, &b));
	ck_assert(!pc_addr_equal(&b, &a));
	a = addr("2001:db8::1");
	b = addr("2001:db8:0::1");
	ck_assert(pc_addr_equal(&a, &b));
	b = addr("2001:db8::2");
	ck_assert(!pc_addr_equal(&a, &b));
}
END_TEST

START_TEST(unmap)
{
	struct pc_addr a = addr("::ffff:192.0.2.1"), want = addr("192.0.2.1");
	static const uint8_t zero[12];
	char buf[PC_ADDR_STRLEN];

	a.port = 3306;
	pc_addr_unmap(&a);
	ck_assert_uint_eq(a.family, AF_INET);
	ck_assert(pc_addr_equal(&a, &want));
	ck_assert_mem_eq(a.bytes + 4, zero, 12);
	ck_assert_uint_eq(a.port, 3306);
	ck_assert_str_eq(pc_addr_port_str(&a, buf), "192.0.2.1:3306");

	/* everything else is left alone */
	a = addr("192.0.2.1");
	pc_addr_unmap(&a);
	ck_assert(pc_addr_equal(&a, &want));
	a = addr("::192.0.2.1"); /* IPv4-compatible, deprecated: not mapped */
	pc_addr_unmap(&a);
	ck_assert_uint_eq(a.family, AF_INET6);
	a = addr("::fffe:192.0.2.1");
	pc_addr_unmap(&a);
	ck_assert_uint_eq(a.family, AF_INET6);
	a = addr("1::ffff:192.0.2.1");
	pc_addr_unmap(&a);
	ck_assert_uint_eq(a.family, AF_INET6);
	a = addr("64:ff9b::192.0.2.1"); /* NAT64 */
	pc_addr_unmap(&a);
	ck_assert_uint_eq(a.family, AF_INET6);
}
END_TEST

START_TEST(print)
{
	char buf[PC_ADDR_STRLEN];
	struct pc_addr a;

	a = addr("192.0.2.1");
	ck_assert_str_eq(pc_addr_str(&a, buf), "192.0.2.1");
	ck_assert_str_eq(pc_addr_port_str(&a, buf), "192.0.2.1:0");
	a.port = 65535;
	ck_assert_str_eq(pc_addr_port_str(&a, buf), "192.0.2.1:65535");

	a = addr("2001:0db8:0000:0000:0000:0000:0000:0001");
	ck_assert_str_eq(pc_addr_str(&a, buf), "2001:db8::1");
	a.port = 443;
	ck_assert_str_eq(pc_addr_port_str(&a, buf), "[2001:db8::1]:443");

	/* the longest text there is still fits */
	a = addr("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255");
	a.port = 65535;
	ck_assert_str_eq(pc_addr_port_str(&a, buf),
			 "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535");
	a = addr("::ffff:192.0.2.1");
	ck_assert_str_eq(pc_addr_str(&a, buf), "::ffff:192.0.2.1");

	ck_assert_ptr_eq(pc_addr_str(&a, buf), buf);
	memset(&a, 0, sizeof(a));
	ck_assert_str_eq(pc_addr_str(&a, buf), "?");
}
END_TEST

START_TEST(sockaddr_v4)
{
	struct sockaddr_storage ss;
	struct sockaddr_in sin;
	struct pc_addr a = addr("203.0.113.9"), b;
	socklen_t n;

	a.port = 3306;
	n = pc_addr_to_sockaddr(&a, &ss);
	ck_assert_uint_eq(n, sizeof(struct sockaddr_in));
	memcpy(&sin, &ss, sizeof(sin));
	ck_assert_uint_eq(sin.sin_family, AF_INET);
	ck_assert_uint_eq(ntohs(sin.sin_port), 3306);
	ck_assert_uint_eq(ntohl(sin.sin_addr.s_addr), 0xcb007109);

	memset(&b, 0x5a, sizeof(b));
	ck_assert_int_eq(pc_addr_from_sockaddr((struct sockaddr *)&ss, &b), 0);
	ck_assert(pc_addr_equal(&a, &b));
	ck_assert_uint_eq(b.port, 3306);
}
END_TEST

START_TEST(sockaddr_v6)
{
	struct sockaddr_storage ss;
	struct sockaddr_in6 sin6;
	struct pc_addr a = addr("2001:db8::9"), b;
	socklen_t n;

	a.port = 443;
	n = pc_addr_to_sockaddr(&a, &ss);
	ck_assert_uint_eq(n, sizeof(struct sockaddr_in6));
	memcpy(&sin6, &ss, sizeof(sin6));
	ck_assert_uint_eq(sin6.sin6_family, AF_INET6);
	ck_assert_uint_eq(ntohs(sin6.sin6_port), 443);
	ck_assert_mem_eq(&sin6.sin6_addr, a.bytes, 16);
	ck_assert_uint_eq(sin6.sin6_scope_id, 0);
	ck_assert_uint_eq(sin6.sin6_flowinfo, 0);

	sin6.sin6_scope_id = 3; /* dropped: zones are not supported */
	memcpy(&ss, &sin6, sizeof(sin6));
	ck_assert_int_eq(pc_addr_from_sockaddr((struct sockaddr *)&ss, &b), 0);
	ck_assert(pc_addr_equal(&a, &b));
	ck_assert_uint_eq(b.port, 443);
}
END_TEST

START_TEST(sockaddr_other_family)
{
	struct sockaddr_storage ss;
	struct pc_addr a;

	memset(&ss, 0, sizeof(ss));
	ss.ss_family = AF_UNIX;
	memset(&a, 0x5a, sizeof(a));
	ck_assert_int_eq(pc_addr_from_sockaddr((struct sockaddr *)&ss, &a), -EAFNOSUPPORT);
	ck_assert_uint_eq(a.family, 0x5a); /* untouched */

	memset(&a, 0, sizeof(a));
	a.family = AF_UNIX;
	ck_assert_uint_eq(pc_addr_to_sockaddr(&a, &ss), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("net.addr");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, parse_v4);
	tcase_add_test(tc, parse_v6);
	tcase_add_test(tc, parse_rejects);
	tcase_add_test(tc, prefix_parse_and_print);
	tcase_add_test(tc, prefix_clears_host_bits);
	tcase_add_test(tc, prefix_rejects);
	tcase_add_test(tc, prefix_lengths_in_range);
	tcase_add_test(tc, contains);
	tcase_add_test(tc, equal);
	tcase_add_test(tc, unmap);
	tcase_add_test(tc, print);
	tcase_add_test(tc, sockaddr_v4);
	tcase_add_test(tc, sockaddr_v6);
	tcase_add_test(tc, sockaddr_other_family);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
