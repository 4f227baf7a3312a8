/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuzz/fuzz_cidr.c - libFuzzer target: CIDR text and the LPM trie.
 *
 * The input builds a trie and a plain list of the same prefixes, then every
 * lookup is answered both ways: by the trie and by a linear scan through
 * pc_prefix_contains(), which shares no code with the trie. Any difference
 * in value or matched length aborts, as does a broken parser round trip.
 *
 * Two input forms, so that both surfaces get mutated efficiently:
 *
 *  - text (first byte not NUL): one item per line. "? ADDR" is a lookup,
 *    "!" seals the trie (later inserts must fail with -EPERM), anything
 *    else goes through pc_prefix_parse() and, if accepted, is inserted
 *    with its line number as the value;
 *  - binary (first byte NUL): a budget byte (0: none, else the arena may
 *    grow by that many 64-byte units, to reach -ENOMEM), then records of
 *    an op byte (bit 0: IPv6, bit 1: lookup), a length byte (taken modulo
 *    the family's bits + 1) and 4 or 16 address bytes.
 *
 * Besides the explicit lookups, every stored prefix is looked up at its
 * first and last address, and every IPv4 lookup is repeated as ::ffff:a.b.c.d
 * (which must match IPv6 prefixes only).
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/arena.h"
#include "net/addr.h"
#include "policy/trie.h"

#define MAX_ENTRIES 1024

struct entry {
	struct pc_prefix p;
	uint32_t value;
};

struct state {
	struct pc_arena *arena;
	struct pc_trie *trie;
	struct entry e[MAX_ENTRIES];
	size_t n;
	bool sealed;
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned family_bits(unsigned family)
{
	return family == AF_INET ? 32 : 128;
}

/* The oracle: the list is kept longest first, so the first match is the answer. */
static uint32_t scan(const struct state *st, const struct pc_addr *a, uint8_t *len)
{
	size_t i;

	for (i = 0; i < st->n; i++) {
		if (pc_prefix_contains(&st->e[i].p, a)) {
			*len = st->e[i].p.len;
			return st->e[i].value;
		}
	}
	*len = 0;
	return PC_TRIE_NONE;
}

static void check_lookup(const struct state *st, const struct pc_addr *a)
{
	uint8_t len = 0xee, want_len;
	uint32_t v, want;

	want = scan(st, a, &want_len);
	v = pc_trie_lookup(st->trie, a, &len);
	if (v != want || len != want_len)
		abort();
	if (pc_trie_lookup(st->trie, a, NULL) != want)
		abort();
}

/* Look <a> up, and again as an IPv4-mapped IPv6 address if it is IPv4. */
static void lookup_both(const struct state *st, const struct pc_addr *a)
{
	struct pc_addr m;

	check_lookup(st, a);
	if (a->family != AF_INET)
		return;
	memset(&m, 0, sizeof(m));
	m.family = AF_INET6;
	m.bytes[10] = 0xff;
	m.bytes[11] = 0xff;
	memcpy(m.bytes + 12, a->bytes, 4);
	check_lookup(st, &m);
	pc_addr_unmap(&m);
	if (!pc_addr_equal(&m, a))
		abort();
}

/* Text and sockaddr round trips of a parsed address. */
static void check_addr(const struct pc_addr *a)
{
	char buf[PC_ADDR_STRLEN], port[PC_ADDR_STRLEN];
	struct sockaddr_storage ss;
	struct pc_addr b, c;

	if (pc_addr_parse(pc_addr_str(a, buf), &b) != 0 || !pc_addr_equal(a, &b))
		abort();
	c = *a;
	c.port = 8443;
	if (pc_addr_to_sockaddr(&c, &ss) == 0 ||
	    pc_addr_from_sockaddr((struct sockaddr *)&ss, &b) != 0 || !pc_addr_equal(&c, &b) ||
	    b.port != 8443)
		abort();
	if (strlen(pc_addr_port_str(&c, port)) >= PC_ADDR_STRLEN)
		abort();
}

/* A parsed prefix is canonical and prints to text that parses back to it. */
static void check_prefix(const struct pc_prefix *p)
{
	char ip[PC_ADDR_STRLEN], text[PC_ADDR_STRLEN + 8];
	unsigned i, bits = family_bits(p->addr.family);
	struct pc_prefix q;

	if (p->len > bits || p->addr.port != 0)
		abort();
	for (i = p->len; i < 128; i++) {
		if (p->addr.bytes[i / 8] & (0x80 >> (i % 8)))
			abort(); /* a host bit survived */
	}
	snprintf(text, sizeof(text), "%s/%u", pc_addr_str(&p->addr, ip), (unsigned)p->len);
	if (pc_prefix_parse(text, &q) != 0 || q.len != p->len || !pc_addr_equal(&q.addr, &p->addr))
		abort();
	check_addr(&p->addr);
}

/*
 * Insert <raw> into the trie and its canonical form <p> into the list. They
 * differ only in binary mode, where <raw> may carry host bits.
 */
static void insert(struct state *st, const struct pc_prefix *p, const struct pc_prefix *raw,
		   uint32_t value)
{
	uint32_t old = 0, want_old = PC_TRIE_NONE;
	size_t i;
	int ret;

	for (i = 0; i < st->n; i++) {
		if (st->e[i].p.len == p->len && pc_addr_equal(&st->e[i].p.addr, &p->addr))
			break;
	}
	if (i < st->n)
		want_old = st->e[i].value;
	else if (st->n == MAX_ENTRIES)
		return;

	ret = pc_trie_insert(st->trie, raw, value, &old);
	if (st->sealed) {
		if (ret != -EPERM)
			abort();
		return;
	}
	if (ret == -ENOMEM && i == st->n)
		return; /* only a new prefix allocates; the trie must be as it was */
	if (ret != 0 || old != want_old)
		abort();
	if (i == st->n) {
		/* keep the list longest first */
		for (i = 0; i < st->n && st->e[i].p.len >= p->len; i++)
			;
		memmove(&st->e[i + 1], &st->e[i], (st->n - i) * sizeof(st->e[0]));
		st->e[i].p = *p;
		st->n++;
	}
	st->e[i].value = value;
}

/* Text mode: see the file comment. <text> is NUL-terminated and writable. */
static void run_text(struct state *st, char *text)
{
	struct pc_prefix p;
	struct pc_addr a;
	uint32_t lineno = 0;
	char *line, *next;

	for (line = text; line; line = next, lineno++) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (line[0] == '?' && line[1] == ' ') {
			if (pc_addr_parse(line + 2, &a) == 0) {
				check_addr(&a);
				lookup_both(st, &a);
			}
			continue;
		}
		if (line[0] == '!' && line[1] == '\0') {
			pc_trie_seal(st->trie);
			st->sealed = true;
			continue;
		}
		/* a plain address is a full-length prefix, and nothing else is */
		if (pc_addr_parse(line, &a) == 0 &&
		    (pc_prefix_parse(line, &p) != 0 || p.len != family_bits(a.family)))
			abort();
		if (pc_prefix_parse(line, &p) != 0)
			continue;
		if (!strchr(line, '/') && pc_addr_parse(line, &a) != 0)
			abort();
		check_prefix(&p);
		insert(st, &p, &p, lineno);
	}
}

/* Binary mode: see the file comment; <data> starts after the NUL. */
static void run_binary(struct state *st, const uint8_t *data, size_t size)
{
	struct pc_prefix p, raw;
	uint32_t rec = 0;
	size_t nbytes;
	unsigned i;

	if (size == 0)
		return;
	if (data[0])
		pc_arena_set_limit(st->arena, pc_arena_size(st->arena) + (size_t)data[0] * 64);
	for (data++, size--; size >= 2; data += 2 + nbytes, size -= 2 + nbytes, rec++) {
		memset(&raw, 0, sizeof(raw));
		raw.addr.family = data[0] & 1 ? AF_INET6 : AF_INET;
		nbytes = data[0] & 1 ? 16 : 4;
		if (size < 2 + nbytes)
			break;
		memcpy(raw.addr.bytes, data + 2, nbytes);
		if (data[0] & 2) {
			lookup_both(st, &raw.addr);
			continue;
		}
		/* hand-made, host bits and all: the trie must ignore them */
		raw.len = (uint8_t)(data[1] % (family_bits(raw.addr.family) + 1));
		p = raw;
		for (i = p.len; i < 128; i++)
			p.addr.bytes[i / 8] &= 0xff ^ (0x80 >> (i % 8));
		insert(st, &p, &raw, rec);
	}
}

/* Every stored prefix, looked up at its first and last address. */
static void lookup_entries(const struct state *st)
{
	struct pc_addr a;
	unsigned bits, i;
	size_t k;

	for (k = 0; k < st->n; k++) {
		a = st->e[k].p.addr;
		lookup_both(st, &a);
		bits = family_bits(a.family);
		for (i = st->e[k].p.len; i < bits; i++)
			a.bytes[i / 8] |= (uint8_t)(0x80 >> (i % 8));
		lookup_both(st, &a);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct state *st;
	char *text;

	st = calloc(1, sizeof(*st));
	if (!st)
		return 0;
	st->arena = pc_arena_new(4096);
	if (!st->arena)
		goto out_free_state;
	st->trie = pc_trie_new(st->arena);
	if (!st->trie)
		goto out_free_arena;

	if (size > 0 && data[0] == 0) {
		run_binary(st, data + 1, size - 1);
	} else {
		text = malloc(size + 1);
		if (!text)
			goto out_free_arena;
		memcpy(text, data, size);
		text[size] = '\0';
		run_text(st, text);
		free(text);
	}
	lookup_entries(st);
	if (pc_trie_is_empty(st->trie) != (st->n == 0))
		abort();

out_free_arena:
	pc_arena_free(st->arena);
out_free_state:
	free(st);
	return 0;
}
