/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * policy/trie.c - longest-prefix match over IPv4 and IPv6.
 *
 * A path-compressed binary trie (the Patricia shape of BSD's radix.c and of
 * Linux's fib_trie without level compression), one root per family. Keys
 * are 128 bits in two host-order 64-bit words; IPv4 uses the top 32 bits
 * of the first word, so one node type and one code path serve both.
 *
 * Invariants, relied on by the lookup:
 *  - a node's key has every bit past its <len> clear;
 *  - a child extends its parent: child->len > parent->len, both agree on
 *    the parent's first len bits, and child[b] has bit parent->len == b;
 *  - a node whose value is PC_TRIE_NONE is glue: it was made where two
 *    keys diverge and has two children (there is no delete).
 * So N prefixes of one family need at most 2N - 1 nodes, and a path from
 * the root has at most bits + 1 nodes.
 *
 * A lookup walks down from the root, checks the whole key of each node
 * under its mask (two 64-bit words: constant work), remembers the last
 * value it passed, and stops at the first node that does not cover the
 * address. O(address bits), no allocation, no writes: a sealed trie can be
 * read by every worker thread at once.
 *
 * Nodes are carved from the arena in slabs (8 nodes, doubling up to 512)
 * rather than one at a time, because the arena rounds each allocation up
 * to _Alignof(max_align_t) and a 40-byte node would cost 48.
 */
#include "policy/trie.h"

#include <errno.h>
#include <stddef.h>
#include <sys/socket.h>

#include "core/arena.h"

#define SLAB_MIN 8
#define SLAB_MAX 512

struct node {
	uint64_t key[2]; /* host order, bits past len clear */
	struct node *child[2];
	uint32_t value; /* PC_TRIE_NONE: glue node */
	uint8_t len;
};

struct pc_trie {
	struct pc_arena *arena;
	struct node *root[2]; /* [0] IPv4, [1] IPv6 */
	struct node *slab;    /* unused nodes of the current slab */
	unsigned slab_left;
	unsigned slab_next; /* nodes in the next slab */
	bool sealed;
};

static uint64_t load_be64(const uint8_t *p)
{
	uint64_t v = 0;
	unsigned i;

	for (i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/*
 * Load <a> into the key <k> and return its root index (0 for IPv4, 1 for
 * IPv6), or -1 for any other family. <*bits> receives the family's width.
 */
static int addr_key(const struct pc_addr *a, uint64_t k[2], unsigned *bits)
{
	switch (a->family) {
	case AF_INET:
		k[0] = (uint64_t)a->bytes[0] << 56 | (uint64_t)a->bytes[1] << 48 |
		       (uint64_t)a->bytes[2] << 40 | (uint64_t)a->bytes[3] << 32;
		k[1] = 0;
		*bits = 32;
		return 0;
	case AF_INET6:
		k[0] = load_be64(a->bytes);
		k[1] = load_be64(a->bytes + 8);
		*bits = 128;
		return 1;
	default:
		return -1;
	}
}

/* The mask of the first <len> bits (0..128). */
static void mask_of(unsigned len, uint64_t m[2])
{
	m[0] = len == 0 ? 0 : len >= 64 ? UINT64_MAX : UINT64_MAX << (64 - len);
	m[1] = len <= 64 ? 0 : UINT64_MAX << (128 - len);
}

/* Bit <i> of <k>, counting from the most significant; <i> < 128. */
static unsigned bit_at(const uint64_t k[2], unsigned i)
{
	return i < 64 ? (unsigned)(k[0] >> (63 - i)) & 1 : (unsigned)(k[1] >> (127 - i)) & 1;
}

/* How many leading bits <a> and <b> share (0..128). */
static unsigned common_len(const uint64_t a[2], const uint64_t b[2])
{
	uint64_t x = a[0] ^ b[0];

	if (x)
		return (unsigned)__builtin_clzll(x);
	x = a[1] ^ b[1];
	if (x)
		return 64 + (unsigned)__builtin_clzll(x);
	return 128;
}

/* Does the prefix of <n> cover the key <k>? */
static bool node_covers(const struct node *n, const uint64_t k[2])
{
	uint64_t m[2];

	mask_of(n->len, m);
	return (((k[0] ^ n->key[0]) & m[0]) | ((k[1] ^ n->key[1]) & m[1])) == 0;
}

static struct node *node_new(struct pc_trie *t, const uint64_t k[2], unsigned len, uint32_t value)
{
	struct node *n;

	if (!t->slab_left) {
		t->slab = pc_arena_alloc(t->arena, t->slab_next * sizeof(*n));
		if (t->slab) {
			t->slab_left = t->slab_next;
			if (t->slab_next < SLAB_MAX)
				t->slab_next *= 2;
		} else {
			/* Near the arena's limit a single node may still fit. */
			t->slab = pc_arena_alloc(t->arena, sizeof(*n));
			if (!t->slab)
				return NULL;
			t->slab_left = 1;
		}
	}
	n = t->slab++;
	t->slab_left--;

	n->key[0] = k[0];
	n->key[1] = k[1];
	n->child[0] = NULL;
	n->child[1] = NULL;
	n->value = value;
	n->len = (uint8_t)len;
	return n;
}

struct pc_trie *pc_trie_new(struct pc_arena *arena)
{
	struct pc_trie *t = pc_arena_calloc(arena, 1, sizeof(*t));

	if (!t)
		return NULL;
	t->arena = arena;
	t->slab_next = SLAB_MIN;
	return t;
}

/*
 * Hang a new node for <k>/<len> at <*link>, whose current occupant <n>
 * shares only <d> leading bits with it (d < n->len). Either the new prefix
 * is a prefix of <n> (d == len) and goes above it, or the two diverge at
 * bit <d> and a glue node of length <d> gets both as children. All nodes
 * are allocated before anything is linked, so -ENOMEM leaves the trie as
 * it was.
 */
static int split(struct pc_trie *t, struct node **link, const uint64_t k[2], unsigned len,
		 unsigned d, uint32_t value)
{
	struct node *n = *link, *leaf, *glue;
	uint64_t m[2], g[2];

	leaf = node_new(t, k, len, value);
	if (!leaf)
		return -ENOMEM;
	if (d == len) {
		leaf->child[bit_at(n->key, len)] = n;
		*link = leaf;
		return 0;
	}

	mask_of(d, m);
	g[0] = k[0] & m[0];
	g[1] = k[1] & m[1];
	glue = node_new(t, g, d, PC_TRIE_NONE);
	if (!glue)
		return -ENOMEM;
	glue->child[bit_at(k, d)] = leaf;
	glue->child[bit_at(n->key, d)] = n;
	*link = glue;
	return 0;
}

int pc_trie_insert(struct pc_trie *trie, const struct pc_prefix *prefix, uint32_t value,
		   uint32_t *old)
{
	unsigned len = prefix->len, bits, d;
	struct node **link, *n;
	uint64_t k[2], m[2];
	int r;

	if (old)
		*old = PC_TRIE_NONE;
	if (trie->sealed)
		return -EPERM;
	r = addr_key(&prefix->addr, k, &bits);
	if (value == PC_TRIE_NONE || r < 0 || len > bits)
		return -EINVAL;

	/* struct pc_prefix promises clear host bits; do not depend on it. */
	mask_of(len, m);
	k[0] &= m[0];
	k[1] &= m[1];

	for (link = &trie->root[r]; (n = *link); link = &n->child[bit_at(k, n->len)]) {
		d = common_len(k, n->key);
		if (d > len)
			d = len;
		if (d < n->len)
			return split(trie, link, k, len, d, value);
		if (len == n->len) {
			/* The same prefix: replace (or fill a glue node). */
			if (old)
				*old = n->value;
			n->value = value;
			return 0;
		}
		/* <n> covers the new prefix, which is longer: go down. */
	}

	n = node_new(trie, k, len, value);
	if (!n)
		return -ENOMEM;
	*link = n;
	return 0;
}

void pc_trie_seal(struct pc_trie *trie)
{
	trie->sealed = true;
}

/* With no match, <*len> is set to 0; the return value tells the cases apart. */
uint32_t pc_trie_lookup(const struct pc_trie *trie, const struct pc_addr *addr, uint8_t *len)
{
	uint32_t best = PC_TRIE_NONE;
	const struct node *n;
	uint8_t best_len = 0;
	unsigned bits;
	uint64_t k[2];
	int r;

	r = addr_key(addr, k, &bits);
	for (n = r < 0 ? NULL : trie->root[r]; n && node_covers(n, k);
	     n = n->child[bit_at(k, n->len)]) {
		if (n->value != PC_TRIE_NONE) {
			best = n->value;
			best_len = n->len;
		}
		if (n->len == bits)
			break; /* a full-length node is a leaf */
	}
	if (len)
		*len = best_len;
	return best;
}

bool pc_trie_is_empty(const struct pc_trie *trie)
{
	return !trie->root[0] && !trie->root[1];
}

/* The prefix node <n> stands for (root <r>: 0 IPv4, 1 IPv6). */
static void node_prefix(const struct node *n, int r, struct pc_prefix *out)
{
	unsigned i;

	out->addr.family = r == 0 ? AF_INET : AF_INET6;
	out->addr.port = 0;
	for (i = 0; i < 16; i++)
		out->addr.bytes[i] = (uint8_t)(n->key[i / 8] >> (56 - 8 * (i % 8)));
	out->len = n->len;
}

/*
 * Walk down while nodes cover <addr>. Where the walk stops, every node below
 * the child it would take shares the same number of leading bits with <addr>
 * (the child's key diverges from <addr> at one bit, past its parent's
 * length), and more than any node under the sibling, which diverges at the
 * parent's length. So the answer is the first valued node under that child,
 * or under the sibling when there is no such child. Glue nodes always have
 * two children, so the descent ends at a value.
 */
uint32_t pc_trie_nearest(const struct pc_trie *trie, const struct pc_addr *addr,
			 struct pc_prefix *out)
{
	const struct node *n, *c, *best;
	unsigned bits, b;
	uint64_t k[2];
	uint8_t len;
	uint32_t v;
	int r;

	r = addr_key(addr, k, &bits);
	if (r < 0 || !trie->root[r])
		return PC_TRIE_NONE;
	v = pc_trie_lookup(trie, addr, &len);
	if (v != PC_TRIE_NONE) {
		out->addr = *addr;
		out->addr.port = 0;
		mask_of(len, k);
		for (b = 0; b < 16; b++)
			out->addr.bytes[b] &= (uint8_t)(k[b / 8] >> (56 - 8 * (b % 8)));
		out->len = len;
		return v;
	}
	best = trie->root[r];
	for (n = best; node_covers(n, k) && n->len < bits; n = c) {
		b = bit_at(k, n->len);
		c = n->child[b];
		if (!c || !node_covers(c, k)) {
			best = c ? c : n->child[!b];
			break;
		}
	}
	if (!best)
		return PC_TRIE_NONE; /* a childless node is a covering leaf: not reached */
	while (best->value == PC_TRIE_NONE)
		best = best->child[0] ? best->child[0] : best->child[1];
	node_prefix(best, r, out);
	return best->value;
}

/* Pre-order: a prefix before the longer ones it covers, child 0 before child 1. */
static int walk_node(const struct node *n, int r, pc_trie_walk_fn *fn, void *data)
{
	struct pc_prefix p;
	int ret;

	if (!n)
		return 0;
	if (n->value != PC_TRIE_NONE) {
		node_prefix(n, r, &p);
		ret = fn(data, &p, n->value);
		if (ret)
			return ret;
	}
	ret = walk_node(n->child[0], r, fn, data);
	return ret ? ret : walk_node(n->child[1], r, fn, data);
}

int pc_trie_walk(const struct pc_trie *trie, pc_trie_walk_fn *fn, void *data)
{
	int ret = walk_node(trie->root[0], 0, fn, data);

	return ret ? ret : walk_node(trie->root[1], 1, fn, data);
}
