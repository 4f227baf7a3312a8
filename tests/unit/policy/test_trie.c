/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests for policy/trie.c. */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/arena.h"
#include "net/addr.h"
#include "policy/trie.h"

static struct pc_arena *arena;
static struct pc_trie *t;

static void setup(void)
{
	arena = pc_arena_new(4096);
	ck_assert_ptr_nonnull(arena);
	t = pc_trie_new(arena);
	ck_assert_ptr_nonnull(t);
}

static void teardown(void)
{
	pc_arena_free(arena);
	arena = NULL;
	t = NULL;
}

static int insert_old(const char *cidr, uint32_t value, uint32_t *old)
{
	struct pc_prefix p;

	ck_assert_msg(pc_prefix_parse(cidr, &p) == 0, "rejected %s", cidr);
	return pc_trie_insert(t, &p, value, old);
}

static void insert(const char *cidr, uint32_t value)
{
	uint32_t old = 0;

	ck_assert_int_eq(insert_old(cidr, value, &old), 0);
	ck_assert_uint_eq(old, PC_TRIE_NONE);
}

static uint32_t lookup_len(const char *ip, uint8_t *len)
{
	struct pc_addr a;

	ck_assert_msg(pc_addr_parse(ip, &a) == 0, "rejected %s", ip);
	return pc_trie_lookup(t, &a, len);
}

static uint32_t lookup(const char *ip)
{
	uint32_t v, v2;
	uint8_t len = 0xee;

	/* with and without <len>, the same answer */
	v = lookup_len(ip, NULL);
	v2 = lookup_len(ip, &len);
	ck_assert_uint_eq(v, v2);
	if (v == PC_TRIE_NONE)
		ck_assert_uint_eq(len, 0);
	return v;
}

START_TEST(empty)
{
	uint8_t len = 99;

	ck_assert(pc_trie_is_empty(t));
	ck_assert_uint_eq(lookup("192.0.2.1"), PC_TRIE_NONE);
	ck_assert_uint_eq(lookup("::"), PC_TRIE_NONE);
	ck_assert_uint_eq(lookup_len("0.0.0.0", &len), PC_TRIE_NONE);
	ck_assert_uint_eq(len, 0);
	pc_trie_seal(t);
	ck_assert(pc_trie_is_empty(t));
	ck_assert_uint_eq(lookup("2001:db8::1"), PC_TRIE_NONE);
}
END_TEST

START_TEST(longest_prefix_wins_v4)
{
	uint8_t len;

	insert("10.0.0.0/8", 1);
	ck_assert(!pc_trie_is_empty(t));
	insert("10.1.0.0/16", 2);
	insert("10.1.2.0/24", 3);
	insert("10.1.2.3/32", 4);
	insert("0.0.0.0/0", 5);
	insert("10.1.2.128/25", 6);
	pc_trie_seal(t);

	ck_assert_uint_eq(lookup_len("10.1.2.3", &len), 4);
	ck_assert_uint_eq(len, 32);
	ck_assert_uint_eq(lookup_len("10.1.2.4", &len), 3);
	ck_assert_uint_eq(len, 24);
	ck_assert_uint_eq(lookup_len("10.1.2.200", &len), 6);
	ck_assert_uint_eq(len, 25);
	ck_assert_uint_eq(lookup_len("10.1.3.0", &len), 2);
	ck_assert_uint_eq(len, 16);
	ck_assert_uint_eq(lookup_len("10.200.0.1", &len), 1);
	ck_assert_uint_eq(len, 8);
	ck_assert_uint_eq(lookup_len("192.0.2.1", &len), 5);
	ck_assert_uint_eq(len, 0);
	ck_assert_uint_eq(lookup("255.255.255.255"), 5);
	ck_assert_uint_eq(lookup("11.0.0.0"), 5);
	ck_assert_uint_eq(lookup("9.255.255.255"), 5);
	ck_assert_uint_eq(lookup("10.255.255.255"), 1);
}
END_TEST

START_TEST(longest_prefix_wins_v6)
{
	uint8_t len;

	insert("2001:db8::/32", 1);
	insert("2001:db8:1::/48", 2);
	insert("2001:db8:1:2::/64", 3);
	insert("2001:db8:1:2::1/128", 4);
	insert("2001:db8:1:2:8000::/65", 5);
	insert("2001:db8:1:2::/127", 6);
	pc_trie_seal(t);

	ck_assert_uint_eq(lookup_len("2001:db8:1:2::1", &len), 4);
	ck_assert_uint_eq(len, 128);
	ck_assert_uint_eq(lookup_len("2001:db8:1:2::", &len), 6);
	ck_assert_uint_eq(len, 127);
	ck_assert_uint_eq(lookup_len("2001:db8:1:2::2", &len), 3);
	ck_assert_uint_eq(len, 64);
	ck_assert_uint_eq(lookup_len("2001:db8:1:2:ffff::", &len), 5);
	ck_assert_uint_eq(len, 65);
	ck_assert_uint_eq(lookup("2001:db8:1:3::1"), 2);
	ck_assert_uint_eq(lookup("2001:db8:2::1"), 1);
	ck_assert_uint_eq(lookup("2001:db9::1"), PC_TRIE_NONE);
	ck_assert_uint_eq(lookup("::"), PC_TRIE_NONE);
	ck_assert_uint_eq(lookup("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), PC_TRIE_NONE);
}
END_TEST

START_TEST(default_and_host_routes)
{
	uint8_t len;

	insert("::/0", 60);
	insert("0.0.0.0/0", 40);
	insert("255.255.255.255/32", 41);
	insert("0.0.0.0/32", 42);
	insert("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", 61);
	insert("::/128", 62);

	ck_assert_uint_eq(lookup_len("255.255.255.255", &len), 41);
	ck_assert_uint_eq(len, 32);
	ck_assert_uint_eq(lookup("255.255.255.254"), 40);
	ck_assert_uint_eq(lookup("0.0.0.0"), 42);
	ck_assert_uint_eq(lookup("0.0.0.1"), 40);
	ck_assert_uint_eq(lookup_len("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", &len), 61);
	ck_assert_uint_eq(len, 128);
	ck_assert_uint_eq(lookup("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe"), 60);
	ck_assert_uint_eq(lookup("::"), 62);
	ck_assert_uint_eq(lookup_len("::1", &len), 60);
	ck_assert_uint_eq(len, 0);
}
END_TEST

START_TEST(every_length_on_one_path)
{
	char buf[64];
	unsigned n;
	uint8_t len;

	/* 129 nested prefixes of one address, inserted from the longest */
	for (n = 129; n-- > 0;) {
		snprintf(buf, sizeof(buf), "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff/%u", n);
		insert(buf, n);
	}
	for (n = 33; n-- > 0;) {
		snprintf(buf, sizeof(buf), "255.255.255.255/%u", n);
		insert(buf, 1000 + n);
	}
	pc_trie_seal(t);
	ck_assert_uint_eq(lookup("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"), 128);
	ck_assert_uint_eq(lookup("2001:db8:ffff:ffff:ffff:ffff:ffff:fffe"), 127);
	ck_assert_uint_eq(lookup("2001:db8:ffff:ffff:ffff:ffff:ffff:7fff"), 112);
	ck_assert_uint_eq(lookup("2001:db8:ffff:ffff:7fff::"), 64);
	ck_assert_uint_eq(lookup("2001:db8:7fff::"), 32);
	ck_assert_uint_eq(lookup("2001:db9::"), 31);
	ck_assert_uint_eq(lookup_len("::", &len), 2); /* 2001: 0010 0000 ... */
	ck_assert_uint_eq(len, 2);
	ck_assert_uint_eq(lookup_len("8000::", &len), 0);
	ck_assert_uint_eq(len, 0);
	ck_assert_uint_eq(lookup("255.255.255.255"), 1032);
	ck_assert_uint_eq(lookup("255.255.255.0"), 1024);
	ck_assert_uint_eq(lookup("127.0.0.1"), 1000);
}
END_TEST

START_TEST(siblings_and_glue)
{
	uint32_t old;
	uint8_t len;

	/* two /24s diverge at bit 23: a glue /23 appears, with no value */
	insert("10.0.0.0/24", 1);
	insert("10.0.1.0/24", 2);
	ck_assert_uint_eq(lookup("10.0.0.9"), 1);
	ck_assert_uint_eq(lookup("10.0.1.9"), 2);
	ck_assert_uint_eq(lookup("10.0.2.9"), PC_TRIE_NONE);

	/* filling the glue node is an insert, not a replacement */
	old = 7;
	ck_assert_int_eq(insert_old("10.0.0.0/23", 3, &old), 0);
	ck_assert_uint_eq(old, PC_TRIE_NONE);
	ck_assert_uint_eq(lookup("10.0.0.9"), 1);
	ck_assert_uint_eq(lookup("10.0.1.9"), 2);
	ck_assert_uint_eq(lookup("10.0.2.9"), PC_TRIE_NONE);

	/* a shorter prefix above, a diverging one beside, a longer one below */
	insert("10.0.0.0/16", 4);
	insert("10.128.0.0/9", 5);
	insert("10.0.0.64/26", 6);
	ck_assert_uint_eq(lookup_len("10.0.2.9", &len), 4);
	ck_assert_uint_eq(len, 16);
	ck_assert_uint_eq(lookup("10.0.0.70"), 6);
	ck_assert_uint_eq(lookup("10.0.0.63"), 1);
	ck_assert_uint_eq(lookup("10.200.0.1"), 5);
	ck_assert_uint_eq(lookup("10.127.0.1"), PC_TRIE_NONE);

	/* a prefix diverging from a glue node's key at its first bit */
	insert("128.0.0.0/1", 7);
	ck_assert_uint_eq(lookup("200.0.0.1"), 7);
	ck_assert_uint_eq(lookup("10.0.0.70"), 6);
	ck_assert_uint_eq(lookup("127.255.255.255"), PC_TRIE_NONE);
}
END_TEST

START_TEST(replace_returns_old)
{
	uint32_t old;

	insert("192.0.2.0/24", 1);
	insert("2001:db8::/32", 1);
	ck_assert_int_eq(insert_old("192.0.2.0/24", 2, &old), 0);
	ck_assert_uint_eq(old, 1);
	ck_assert_int_eq(insert_old("192.0.2.0/24", 3, &old), 0);
	ck_assert_uint_eq(old, 2);
	ck_assert_int_eq(insert_old("192.0.2.0/24", 4, NULL), 0);
	ck_assert_uint_eq(lookup("192.0.2.1"), 4);

	/* host bits do not make a different prefix */
	ck_assert_int_eq(insert_old("192.0.2.77/24", 5, &old), 0);
	ck_assert_uint_eq(old, 4);
	ck_assert_uint_eq(lookup("192.0.2.1"), 5);

	/* same bits, other family or other length: not a replacement */
	ck_assert_int_eq(insert_old("2001:db8::/33", 6, &old), 0);
	ck_assert_uint_eq(old, PC_TRIE_NONE);
	ck_assert_int_eq(insert_old("2001:db8::/32", 7, &old), 0);
	ck_assert_uint_eq(old, 1);
	ck_assert_int_eq(insert_old("::ffff:192.0.2.0/120", 8, &old), 0);
	ck_assert_uint_eq(old, PC_TRIE_NONE);
	ck_assert_uint_eq(lookup("192.0.2.1"), 5);
	ck_assert_uint_eq(lookup("2001:db8::1"), 6);
	ck_assert_uint_eq(lookup("2001:db8:8000::1"), 7);

	/* 0 is a value like any other */
	ck_assert_int_eq(insert_old("192.0.2.0/24", 0, &old), 0);
	ck_assert_uint_eq(old, 5);
	ck_assert_uint_eq(lookup("192.0.2.1"), 0);
	ck_assert_int_eq(insert_old("192.0.2.0/24", PC_TRIE_NONE - 1, &old), 0);
	ck_assert_uint_eq(old, 0);
	ck_assert_uint_eq(lookup("192.0.2.1"), PC_TRIE_NONE - 1);
}
END_TEST

START_TEST(host_bits_ignored)
{
	struct pc_prefix p;
	uint32_t old;

	/* hand-made prefixes may break the host-bits promise; the trie copes */
	memset(&p, 0, sizeof(p));
	ck_assert_int_eq(pc_addr_parse("10.0.0.77", &p.addr), 0);
	p.len = 24;
	ck_assert_int_eq(pc_trie_insert(t, &p, 1, &old), 0);
	ck_assert_uint_eq(lookup("10.0.0.1"), 1);
	ck_assert_uint_eq(lookup("10.0.1.77"), PC_TRIE_NONE);
	ck_assert_int_eq(insert_old("10.0.0.0/24", 2, &old), 0);
	ck_assert_uint_eq(old, 1);

	memset(&p, 0, sizeof(p));
	ck_assert_int_eq(pc_addr_parse("2001:db8::ffff", &p.addr), 0);
	p.len = 0;
	ck_assert_int_eq(pc_trie_insert(t, &p, 3, &old), 0);
	ck_assert_uint_eq(old, PC_TRIE_NONE);
	ck_assert_uint_eq(lookup("::1"), 3);
	ck_assert_int_eq(insert_old("::/0", 4, &old), 0);
	ck_assert_uint_eq(old, 3);

	/* IPv4 bytes past the fourth are not part of the key */
	memset(&p, 0, sizeof(p));
	ck_assert_int_eq(pc_addr_parse("192.0.2.1", &p.addr), 0);
	memset(p.addr.bytes + 4, 0xff, 12);
	p.len = 32;
	ck_assert_int_eq(pc_trie_insert(t, &p, 5, &old), 0);
	ck_assert_uint_eq(lookup("192.0.2.1"), 5);
}
END_TEST

START_TEST(invalid_inserts)
{
	struct pc_prefix p;
	uint32_t old;

	ck_assert_int_eq(insert_old("192.0.2.0/24", PC_TRIE_NONE, &old), -EINVAL);
	ck_assert_uint_eq(old, PC_TRIE_NONE);
	ck_assert(pc_trie_is_empty(t));

	memset(&p, 0, sizeof(p));
	p.addr.family = AF_UNIX;
	ck_assert_int_eq(pc_trie_insert(t, &p, 1, NULL), -EINVAL);
	ck_assert_int_eq(pc_addr_parse("192.0.2.0", &p.addr), 0);
	p.len = 33;
	ck_assert_int_eq(pc_trie_insert(t, &p, 1, NULL), -EINVAL);
	ck_assert_int_eq(pc_addr_parse("2001:db8::", &p.addr), 0);
	p.len = 129;
	ck_assert_int_eq(pc_trie_insert(t, &p, 1, NULL), -EINVAL);
	ck_assert(pc_trie_is_empty(t));

	/* a lookup with an unknown family finds nothing */
	insert("0.0.0.0/0", 1);
	insert("::/0", 2);
	memset(&p, 0, sizeof(p));
	p.addr.family = AF_UNIX;
	ck_assert_uint_eq(pc_trie_lookup(t, &p.addr, NULL), PC_TRIE_NONE);
}
END_TEST

START_TEST(sealed_refuses_inserts)
{
	uint32_t old = 0;

	insert("192.0.2.0/24", 1);
	pc_trie_seal(t);
	ck_assert_int_eq(insert_old("198.51.100.0/24", 2, &old), -EPERM);
	ck_assert_uint_eq(old, PC_TRIE_NONE);
	ck_assert_int_eq(insert_old("192.0.2.0/24", 3, &old), -EPERM);
	ck_assert_int_eq(insert_old("2001:db8::/32", 3, NULL), -EPERM);
	ck_assert_int_eq(insert_old("192.0.2.0/24", PC_TRIE_NONE, NULL), -EPERM);
	ck_assert_uint_eq(lookup("192.0.2.1"), 1);
	ck_assert_uint_eq(lookup("198.51.100.1"), PC_TRIE_NONE);
	ck_assert_uint_eq(lookup("2001:db8::1"), PC_TRIE_NONE);
	pc_trie_seal(t); /* idempotent */
	ck_assert_uint_eq(lookup("192.0.2.1"), 1);
}
END_TEST

START_TEST(families_never_mix)
{
	/* the default route of one family says nothing about the other */
	insert("0.0.0.0/0", 4);
	ck_assert_uint_eq(lookup("::"), PC_TRIE_NONE);
	ck_assert_uint_eq(lookup("2001:db8::1"), PC_TRIE_NONE);
	insert("::/0", 6);
	ck_assert_uint_eq(lookup("::"), 6);
	ck_assert_uint_eq(lookup("0.0.0.0"), 4);

	/* IPv4 bits equal to an IPv6 prefix's first bits do not match it */
	insert("2001:db8::/32", 7);  /* 0x20010db8... */
	insert("32.1.13.184/32", 8); /* 0x20010db8 as IPv4 */
	ck_assert_uint_eq(lookup("32.1.13.184"), 8);
	ck_assert_uint_eq(lookup("2001:db8::"), 7);
	ck_assert_uint_eq(lookup("2001:db8::1"), 7);
	ck_assert_uint_eq(lookup("2001:db9::1"), 6);
	ck_assert_uint_eq(lookup("32.1.13.185"), 4);
}
END_TEST

/*
 * A mapped address is IPv6 (net/addr.h): it matches IPv6 prefixes, such as
 * ::ffff:0:0/96, and never IPv4 ones. A caller that wants IPv4 semantics
 * calls pc_addr_unmap() first.
 */
START_TEST(mapped_addresses_are_ipv6)
{
	struct pc_addr a;

	insert("10.0.0.0/8", 1);
	ck_assert_uint_eq(lookup("::ffff:10.1.2.3"), PC_TRIE_NONE);
	ck_assert_int_eq(pc_addr_parse("::ffff:10.1.2.3", &a), 0);
	pc_addr_unmap(&a);
	ck_assert_uint_eq(pc_trie_lookup(t, &a, NULL), 1);

	insert("::ffff:0:0/96", 2);
	insert("::ffff:192.0.2.0/120", 3);
	ck_assert_uint_eq(lookup("::ffff:10.1.2.3"), 2);
	ck_assert_uint_eq(lookup("::ffff:192.0.2.9"), 3);
	ck_assert_uint_eq(lookup("192.0.2.9"), PC_TRIE_NONE);
	ck_assert_uint_eq(lookup("10.1.2.3"), 1);
	ck_assert_uint_eq(lookup("::192.0.2.9"), PC_TRIE_NONE);
}
END_TEST

/* The answers do not depend on the order of insertion. */
START_TEST(order_does_not_matter)
{
	static const char *const cidrs[] = {
		"0.0.0.0/0",     "10.0.0.0/8",    "10.0.0.0/9",        "10.128.0.0/9",
		"10.1.0.0/16",   "10.1.2.0/24",   "10.1.2.3/32",       "10.1.3.0/24",
		"192.0.2.0/24",  "192.0.2.0/25",  "192.0.2.128/25",    "192.0.2.255/32",
		"2001:db8::/32", "2001:db8::/48", "2001:db8:0:1::/64", "2001:db8::1/128",
		"::/1",          "8000::/1",
	};
	static const char *const ips[] = {
		"10.1.2.3",    "10.1.2.4",        "10.1.3.3",     "10.200.0.1",  "10.100.0.1",
		"11.0.0.0",    "192.0.2.1",       "192.0.2.200",  "192.0.2.255", "2001:db8::1",
		"2001:db8::2", "2001:db8:0:1::2", "2001:db8:1::", "::1",         "ffff::",
	};
	enum { NC = sizeof(cidrs) / sizeof(cidrs[0]), NI = sizeof(ips) / sizeof(ips[0]) };
	uint32_t want[NI];
	size_t i, round;

	for (i = 0; i < NC; i++)
		insert(cidrs[i], (uint32_t)i);
	for (i = 0; i < NI; i++)
		want[i] = lookup(ips[i]);

	for (round = 1; round < 8; round++) {
		teardown();
		setup();
		/* reversed, then rotated by <round> */
		for (i = 0; i < NC; i++) {
			size_t j = round & 1 ? NC - 1 - (i + round) % NC : (i + round) % NC;

			insert(cidrs[j], (uint32_t)j);
		}
		for (i = 0; i < NI; i++)
			ck_assert_msg(lookup(ips[i]) == want[i], "round %zu: %s", round, ips[i]);
	}
}
END_TEST

/* pc_trie_walk(): every prefix once, v4 then v6, in address order, covering first. */
struct walked {
	char text[16][64];
	unsigned n, stop_at;
};

static int walk_one(void *data, const struct pc_prefix *p, uint32_t value)
{
	struct walked *w = data;
	char a[PC_ADDR_STRLEN];

	ck_assert_uint_lt(w->n, 16);
	snprintf(w->text[w->n], sizeof(w->text[0]), "%s/%u=%u", pc_addr_str(&p->addr, a),
		 (unsigned)p->len, (unsigned)value);
	w->n++;
	return w->n == w->stop_at ? 42 : 0;
}

START_TEST(walk_in_order)
{
	static const char *const want[] = { "0.0.0.0/0=9",        "10.0.0.0/8=1",
					    "10.1.0.0/16=2",      "10.1.2.3/32=3",
					    "192.0.2.0/24=4",     "2001:db8::/32=5",
					    "2001:db8:1::1/128=6" };
	struct walked w = { .stop_at = 0 };
	unsigned i;

	ck_assert_int_eq(pc_trie_walk(t, walk_one, &w), 0);
	ck_assert_uint_eq(w.n, 0);
	insert("2001:db8:1::1/128", 6);
	insert("192.0.2.0/24", 4);
	insert("10.1.2.3/32", 3);
	insert("2001:db8::/32", 5);
	insert("10.0.0.0/8", 1);
	insert("10.1.0.0/16", 2);
	insert("0.0.0.0/0", 9);
	pc_trie_seal(t);
	ck_assert_int_eq(pc_trie_walk(t, walk_one, &w), 0);
	ck_assert_uint_eq(w.n, 7);
	for (i = 0; i < 7; i++)
		ck_assert_str_eq(w.text[i], want[i]);
	/* a non-zero return stops the walk and is returned */
	memset(&w, 0, sizeof(w));
	w.stop_at = 3;
	ck_assert_int_eq(pc_trie_walk(t, walk_one, &w), 42);
	ck_assert_uint_eq(w.n, 3);
}
END_TEST

START_TEST(out_of_memory_leaves_trie_intact)
{
	struct pc_prefix p;
	uint32_t i, n = 0;
	int ret = 0;

	/* a budget too small for 1,000 prefixes, with room for the trie itself */
	pc_arena_set_limit(arena, pc_arena_size(arena) + 8192);
	memset(&p, 0, sizeof(p));
	p.addr.family = AF_INET;
	p.len = 32;
	for (i = 0; i < 1000; i++) {
		/* spread keys so that most inserts need a glue node too */
		uint32_t k = i * 2654435761u;

		p.addr.bytes[0] = (uint8_t)(k >> 24);
		p.addr.bytes[1] = (uint8_t)(k >> 16);
		p.addr.bytes[2] = (uint8_t)(k >> 8);
		p.addr.bytes[3] = (uint8_t)k;
		ret = pc_trie_insert(t, &p, i, NULL);
		if (ret < 0)
			break;
		n++;
	}
	ck_assert_int_eq(ret, -ENOMEM);
	ck_assert_uint_gt(n, 10);

	/* everything inserted before the failure is still found, nothing else */
	for (i = 0; i < 1000; i++) {
		uint32_t k = i * 2654435761u;

		p.addr.bytes[0] = (uint8_t)(k >> 24);
		p.addr.bytes[1] = (uint8_t)(k >> 16);
		p.addr.bytes[2] = (uint8_t)(k >> 8);
		p.addr.bytes[3] = (uint8_t)k;
		ck_assert_uint_eq(pc_trie_lookup(t, &p.addr, NULL), i < n ? i : PC_TRIE_NONE);
	}
}
END_TEST

/* ---- randomized comparison with a linear scan ---- */

static uint64_t rng_state;

/* splitmix64: fixed seed, same sequence on every libc */
static uint64_t rng(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static unsigned rng_below(unsigned n)
{
	return (unsigned)(rng() % n);
}

struct entry {
	struct pc_prefix p;
	uint32_t value;
};

/* A random address near one of <pool>'s, so that prefixes nest and collide. */
static void random_addr(struct pc_addr *a, const struct pc_addr *pool, unsigned npool)
{
	unsigned bits, from, i;

	*a = pool[rng_below(npool)];
	bits = a->family == AF_INET ? 32 : 128;
	if (rng_below(8) == 0) {
		from = 0; /* fully random */
	} else {
		from = rng_below(bits + 1);
	}
	for (i = from; i < bits; i++) {
		if (rng() & 1)
			a->bytes[i / 8] ^= (uint8_t)(0x80 >> (i % 8));
	}
}

static void random_prefix(struct pc_prefix *p, const struct pc_addr *pool, unsigned npool)
{
	char ip[PC_ADDR_STRLEN], text[PC_ADDR_STRLEN + 8];
	unsigned bits, len;
	struct pc_addr a;

	random_addr(&a, pool, npool);
	bits = a.family == AF_INET ? 32 : 128;
	/*
	 * Mostly /8../32 and /32../128, some of any length but /0: short
	 * prefixes would cover everything and leave no misses to check.
	 */
	len = rng_below(16) ? bits / 4 + rng_below(bits - bits / 4 + 1) : 1 + rng_below(bits);
	/* through the parser, so host bits are cleared the documented way */
	snprintf(text, sizeof(text), "%s/%u", pc_addr_str(&a, ip), len);
	if (pc_prefix_parse(text, p) != 0)
		ck_abort_msg("rejected %s", text);
}

/* Longest first, so that the scan can stop at the first match. */
static int by_len_desc(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;

	return (int)y->p.len - (int)x->p.len;
}

/* The oracle: <e> sorted by by_len_desc(), matched with pc_prefix_contains(). */
static uint32_t scan(const struct entry *e, size_t n, const struct pc_addr *a, uint8_t *len)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (pc_prefix_contains(&e[i].p, a)) {
			*len = e[i].p.len;
			return e[i].value;
		}
	}
	*len = 0;
	return PC_TRIE_NONE;
}

static size_t model_insert(struct entry *e, size_t n, const struct pc_prefix *p, uint32_t value,
			   uint32_t *old)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (e[i].p.len == p->len && pc_addr_equal(&e[i].p.addr, &p->addr)) {
			*old = e[i].value;
			e[i].value = value;
			return n;
		}
	}
	*old = PC_TRIE_NONE;
	e[n].p = *p;
	e[n].value = value;
	return n + 1;
}

START_TEST(random_against_linear_scan)
{
	enum { NPREFIX = 2000, NLOOKUP = 20000, NPOOL = 24 };
	static struct entry e[NPREFIX];
	struct pc_addr pool[NPOOL], a;
	size_t n = 0, i, j, hits = 0, misses = 0, replaced = 0, depths = 0;
	bool seen[129] = { false };
	uint32_t old, want_old, v, w;
	uint8_t len, wlen;
	struct pc_prefix p;
	int ret;

	rng_state = 20240601;
	for (i = 0; i < NPOOL; i++) {
		memset(&pool[i], 0, sizeof(pool[i]));
		pool[i].family = i % 3 ? AF_INET : AF_INET6;
		for (j = 0; j < 16; j++)
			pool[i].bytes[j] = pool[i].family == AF_INET && j >= 4 ? 0 : (uint8_t)rng();
	}

	for (i = 0; i < NPREFIX; i++) {
		random_prefix(&p, pool, NPOOL);
		ret = pc_trie_insert(t, &p, (uint32_t)i, &old);
		n = model_insert(e, n, &p, (uint32_t)i, &want_old);
		if (ret != 0 || old != want_old)
			ck_abort_msg("insert %zu: %d, old %u, want %u", i, ret, old, want_old);
		replaced += want_old != PC_TRIE_NONE;
	}
	pc_trie_seal(t);
	ck_assert_int_eq(pc_trie_insert(t, &p, 1, NULL), -EPERM);
	qsort(e, n, sizeof(e[0]), by_len_desc);

	for (i = 0; i < NLOOKUP; i++) {
		random_addr(&a, pool, NPOOL);
		v = pc_trie_lookup(t, &a, &len);
		w = scan(e, n, &a, &wlen);
		if (v != w || len != wlen) {
			char buf[PC_ADDR_STRLEN];

			ck_abort_msg("lookup %zu of %s: trie %u/%u, scan %u/%u", i,
				     pc_addr_str(&a, buf), v, len, w, wlen);
		}
		hits += v != PC_TRIE_NONE;
		misses += v == PC_TRIE_NONE;
		depths += !seen[len];
		seen[len] = true;
	}
	/* the generator must hit at many depths, miss, and replace */
	ck_assert_uint_gt(hits, NLOOKUP / 2);
	ck_assert_uint_gt(misses, NLOOKUP / 50);
	ck_assert_uint_gt(depths, 64);
	ck_assert_uint_gt(replaced, 10);
}
END_TEST

static int by_key(const void *a, const void *b)
{
	const struct pc_prefix *x = a, *y = b;

	return memcmp(x->addr.bytes, y->addr.bytes, sizeof(x->addr.bytes));
}

/*
 * 100,000 random prefixes of each family must fit in a bounded budget:
 * at most 2N - 1 nodes of 40 bytes, plus slab and block overhead. The
 * shape of the trie does not depend on the order of insertion, so keys go
 * in sorted, which keeps this test quick where cache misses are dear.
 */
START_TEST(memory_for_100k_prefixes)
{
	enum { N = 100000 };
	struct pc_prefix *p;
	size_t i, j, size;
	int fam, ret;

	p = calloc(N, sizeof(*p));
	ck_assert_ptr_nonnull(p);
	rng_state = 42;
	for (fam = 0; fam < 2; fam++) {
		teardown();
		setup();
		for (i = 0; i < N; i++) {
			memset(&p[i], 0, sizeof(p[i]));
			p[i].addr.family = fam ? AF_INET6 : AF_INET;
			for (j = 0; j < (fam ? 16u : 4u); j++)
				p[i].addr.bytes[j] = (uint8_t)rng();
			p[i].len = (uint8_t)(fam ? 32 + rng_below(97) : 8 + rng_below(25));
		}
		qsort(p, N, sizeof(*p), by_key);
		for (i = 0; i < N; i++) {
			ret = pc_trie_insert(t, &p[i], (uint32_t)i, NULL);
			if (ret != 0)
				ck_abort_msg("insert %zu: %d", i, ret);
		}
		size = pc_arena_size(arena);
		ck_assert_msg(size < (size_t)N * 84, "%s: %zu bytes for %d prefixes",
			      fam ? "IPv6" : "IPv4", size, N);
	}
	free(p);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("policy.trie");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, empty);
	tcase_add_test(tc, longest_prefix_wins_v4);
	tcase_add_test(tc, longest_prefix_wins_v6);
	tcase_add_test(tc, default_and_host_routes);
	tcase_add_test(tc, every_length_on_one_path);
	tcase_add_test(tc, siblings_and_glue);
	tcase_add_test(tc, replace_returns_old);
	tcase_add_test(tc, host_bits_ignored);
	tcase_add_test(tc, invalid_inserts);
	tcase_add_test(tc, sealed_refuses_inserts);
	tcase_add_test(tc, families_never_mix);
	tcase_add_test(tc, mapped_addresses_are_ipv6);
	tcase_add_test(tc, order_does_not_matter);
	tcase_add_test(tc, walk_in_order);
	tcase_add_test(tc, out_of_memory_leaves_trie_intact);
	tcase_add_test(tc, random_against_linear_scan);
	tcase_add_test(tc, memory_for_100k_prefixes);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
