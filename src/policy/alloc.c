/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * policy/alloc.c - the table of auto-allocated addresses (policy/alloc.h).
 *
 * Layout, chosen for 100,000 names and more at a few dozen bytes of
 * overhead each:
 *   - entries (struct pc_alloc) in chunks of CHUNK that never move, so
 *     a returned pointer stays valid and an entry is found from its
 *     32-bit number (its insertion rank);
 *   - names in a byte pool of POOL_BLOCK blocks, unaligned, no per-name
 *     malloc header;
 *   - two open-addressing indexes (name, IPv6) of entry number + 1 (0:
 *     empty slot) with linear probing, kept at most 3/4 full; they share
 *     one capacity and grow together;
 *   - for IPv4, whose range is only 65,534 addresses, a direct array of
 *     entry number + 1 by host offset (256 KiB, allocated with the first
 *     IPv4 address): no hashing, and choosing a free address is a scan of
 *     that array, not a lookup per candidate, which matters when the
 *     range is nearly full.
 * Nothing is ever removed: an address, once a name's, stays that name's.
 */
#include "policy/alloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/alloc.h"

#define CHUNK_SHIFT 8
#define CHUNK       (1u << CHUNK_SHIFT) /* entries per chunk: 16 KiB */
#define POOL_BLOCK  16384u              /* bytes per name block */
#define MIN_SLOTS   64u

enum { BY_NAME, BY_V6, NINDEX };

#define V4_SLOTS 65536u /* by host offset; 0 and 65535 stay empty */

struct pc_alloc_table {
	struct pc_alloc **chunks; /* chunks[i >> CHUNK_SHIFT][i & (CHUNK - 1)] */
	size_t nchunks, chunks_cap;
	uint32_t count;
	uint32_t v4_count;       /* entries with an IPv4 address */
	uint32_t *index[NINDEX]; /* entry number + 1, 0 for an empty slot */
	uint32_t *v4_slot;       /* NULL, or V4_SLOTS of entry number + 1 */
	uint32_t slots;          /* capacity of each index, a power of two */
	char **blocks;           /* the name pool */
	size_t nblocks, blocks_cap;
	char *cur; /* free space in the last block */
	size_t left;
};

/* Istio's ranges (reference §1.3): 240.240.0.0/16 and 2001:2::/48. */
static const uint8_t v4_net[2] = { 240, 240 };
static const uint8_t v6_net[6] = { 0x20, 0x01, 0x00, 0x02, 0x00, 0x00 };
#define V6_HOST 10 /* bytes 6..15: the 80 host bits */

/* FNV-1a, 64 bits (http://www.isthe.com/chongo/tech/comp/fnv/): no seed, same everywhere. */
static uint64_t fnv1a(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint64_t h = 0xcbf29ce484222325ull;

	while (n--) {
		h ^= *b++;
		h *= 0x100000001b3ull;
	}
	return h;
}

/* fnv1a() of the bytes of <s> before its NUL. */
static uint64_t fnv1a_str(const char *s)
{
	return fnv1a(s, strlen(s));
}

/* splitmix64's finaliser: spreads the bits of <x> (index slots, IPv6 candidates). */
static uint64_t mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static struct pc_alloc *entry(const struct pc_alloc_table *t, uint32_t i)
{
	return &t->chunks[i >> CHUNK_SHIFT][i & (CHUNK - 1)];
}

/*
 * The table's spelling of <name> in <out>: lowercase, without the final
 * dot. Returns its length, or -EINVAL.
 */
static int normalise(const char *name, char out[PC_ALLOC_NAME_MAX + 1])
{
	size_t n, i;

	if (!name)
		return -EINVAL;
	n = strnlen(name, PC_ALLOC_NAME_MAX + 2);
	if (n > 0 && name[n - 1] == '.')
		n--;
	if (n == 0 || n > PC_ALLOC_NAME_MAX)
		return -EINVAL;
	for (i = 0; i < n; i++)
		out[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] - 'A' + 'a' : name[i]);
	out[n] = '\0';
	return (int)n;
}

/* ---- addresses ---- */

/* <a> with the port cleared and ::ffff:a.b.c.d turned into a.b.c.d. */
static struct pc_addr plain(const struct pc_addr *a)
{
	struct pc_addr p = *a;

	p.port = 0;
	pc_addr_unmap(&p);
	return p;
}

static bool v4_ok(const struct pc_addr *a)
{
	return a->family == AF_INET && memcmp(a->bytes, v4_net, 2) == 0 &&
	       !(a->bytes[2] == 0 && a->bytes[3] == 0) &&
	       !(a->bytes[2] == 255 && a->bytes[3] == 255);
}

static bool v6_host_zero(const uint8_t *host)
{
	size_t i;

	for (i = 0; i < V6_HOST; i++) {
		if (host[i])
			return false;
	}
	return true;
}

static bool v6_ok(const struct pc_addr *a)
{
	return a->family == AF_INET6 && memcmp(a->bytes, v6_net, sizeof(v6_net)) == 0 &&
	       !v6_host_zero(a->bytes + sizeof(v6_net));
}

bool pc_alloc_in_range(const struct pc_addr *a)
{
	struct pc_addr p = plain(a);

	return v4_ok(&p) || v6_ok(&p);
}

/* 1..65534 for 240.240.0.1..240.240.255.254. */
static uint32_t v4_offset(const struct pc_addr *a)
{
	return (uint32_t)a->bytes[2] << 8 | a->bytes[3];
}

static void v4_set(struct pc_addr *a, uint32_t off)
{
	memset(a, 0, sizeof(*a));
	a->family = AF_INET;
	memcpy(a->bytes, v4_net, 2);
	a->bytes[2] = (uint8_t)(off >> 8);
	a->bytes[3] = (uint8_t)off;
}

/* ---- indexes ---- */

static uint64_t key_hash(int which, const struct pc_alloc *a)
{
	if (which == BY_NAME)
		return fnv1a_str(a->name);
	return fnv1a(a->v6.bytes + sizeof(v6_net), V6_HOST);
}

static bool key_equal(int which, const struct pc_alloc *a, const struct pc_alloc *key)
{
	if (which == BY_NAME)
		return strcmp(a->name, key->name) == 0;
	return memcmp(a->v6.bytes, key->v6.bytes, 16) == 0;
}

/*
 * The slot of <key> in index <which>: the one holding it, or the empty
 * one where it would go.
 */
static uint32_t *slot_of(const struct pc_alloc_table *t, int which, const struct pc_alloc *key)
{
	uint32_t mask = t->slots - 1;
	uint32_t i = (uint32_t)key_hash(which, key) & mask;
	uint32_t *idx = t->index[which];

	while (idx[i] && !key_equal(which, entry(t, idx[i] - 1), key))
		i = (i + 1) & mask;
	return &idx[i];
}

static const struct pc_alloc *find(const struct pc_alloc_table *t, int which,
				   const struct pc_alloc *key)
{
	uint32_t *slot;

	if (!t->slots)
		return NULL;
	slot = slot_of(t, which, key);
	return *slot ? entry(t, *slot - 1) : NULL;
}

static const struct pc_alloc *v4_find(const struct pc_alloc_table *t, const struct pc_addr *a)
{
	uint32_t i = t->v4_slot ? t->v4_slot[v4_offset(a)] : 0;

	return i ? entry(t, i - 1) : NULL;
}

static bool indexed(int which, const struct pc_alloc *a)
{
	return which == BY_NAME || a->v6.family != 0;
}

static void index_add(struct pc_alloc_table *t, uint32_t i)
{
	const struct pc_alloc *a = entry(t, i);
	int w;

	for (w = 0; w < NINDEX; w++) {
		if (indexed(w, a))
			*slot_of(t, w, a) = i + 1;
	}
}

/* Make room for one more entry in the indexes: rebuilt at twice the size. */
static int index_reserve(struct pc_alloc_table *t)
{
	uint32_t *fresh[NINDEX] = { NULL };
	uint32_t slots = t->slots ? t->slots * 2 : MIN_SLOTS, i;
	int w;

	if ((uint64_t)(t->count + 1) * 4 <= (uint64_t)t->slots * 3)
		return 0;
	if (slots > UINT32_MAX / 2)
		return -ENOMEM;
	for (w = 0; w < NINDEX; w++) {
		fresh[w] = pc_calloc(slots, sizeof(uint32_t));
		if (!fresh[w]) {
			while (w--)
				free(fresh[w]);
			return -ENOMEM;
		}
	}
	for (w = 0; w < NINDEX; w++) {
		free(t->index[w]);
		t->index[w] = fresh[w];
	}
	t->slots = slots;
	for (i = 0; i < t->count; i++)
		index_add(t, i);
	return 0;
}

/* ---- storage ---- */

/* Grow the array of <*cap> pointers at <*arr> to hold one more. */
static int ptrs_reserve(void *arr, size_t n, size_t *cap)
{
	void **p = *(void ***)arr;
	size_t c = *cap ? *cap * 2 : 16;

	if (n < *cap)
		return 0;
	p = pc_realloc(p, c * sizeof(*p));
	if (!p)
		return -ENOMEM;
	*(void ***)arr = p;
	*cap = c;
	return 0;
}

/* Room for entry number t->count. */
static int entry_reserve(struct pc_alloc_table *t)
{
	struct pc_alloc *chunk;

	if ((t->count >> CHUNK_SHIFT) < t->nchunks)
		return 0;
	if (ptrs_reserve(&t->chunks, t->nchunks, &t->chunks_cap) < 0)
		return -ENOMEM;
	chunk = pc_malloc(CHUNK * sizeof(*chunk));
	if (!chunk)
		return -ENOMEM;
	t->chunks[t->nchunks++] = chunk;
	return 0;
}

/* A copy of the <n> bytes of <s> in the pool, NUL-terminated. */
static const char *pool_dup(struct pc_alloc_table *t, const char *s, size_t n)
{
	char *p;

	if (t->left < n + 1) {
		if (ptrs_reserve(&t->blocks, t->nblocks, &t->blocks_cap) < 0)
			return NULL;
		p = pc_malloc(POOL_BLOCK);
		if (!p)
			return NULL;
		t->blocks[t->nblocks++] = p;
		t->cur = p;
		t->left = POOL_BLOCK;
	}
	p = t->cur;
	memcpy(p, s, n);
	p[n] = '\0';
	t->cur += n + 1;
	t->left -= n + 1;
	return p;
}

struct pc_alloc_table *pc_alloc_table_new(void)
{
	return pc_calloc(1, sizeof(struct pc_alloc_table));
}

void pc_alloc_table_free(struct pc_alloc_table *t)
{
	size_t i;
	int w;

	if (!t)
		return;
	for (i = 0; i < t->nchunks; i++)
		free(t->chunks[i]);
	free(t->chunks);
	for (i = 0; i < t->nblocks; i++)
		free(t->blocks[i]);
	free(t->blocks);
	for (w = 0; w < NINDEX; w++)
		free(t->index[w]);
	free(t->v4_slot);
	free(t);
}

size_t pc_alloc_count(const struct pc_alloc_table *t)
{
	return t->count;
}

size_t pc_alloc_memory(const struct pc_alloc_table *t)
{
	return sizeof(*t) + (t->chunks_cap + t->blocks_cap) * sizeof(void *) +
	       t->nchunks * CHUNK * sizeof(struct pc_alloc) + t->nblocks * POOL_BLOCK +
	       (size_t)NINDEX * t->slots * sizeof(uint32_t) +
	       (t->v4_slot ? V4_SLOTS * sizeof(uint32_t) : 0);
}

/* ---- insert and lookups ---- */

/* Check <a>'s addresses; fill <key> with their plain form. */
static int check_addrs(const struct pc_alloc *a, struct pc_alloc *key)
{
	if (a->v4.family && (a->v4.family != AF_INET || !v4_ok(&key->v4)))
		return -EINVAL;
	if (a->v6.family && (a->v6.family != AF_INET6 || !v6_ok(&key->v6)))
		return -EINVAL;
	if (!a->v4.family && !a->v6.family)
		return -EINVAL;
	return 0;
}

int pc_alloc_insert(struct pc_alloc_table *t, const struct pc_alloc *a)
{
	char name[PC_ALLOC_NAME_MAX + 1] = { 0 };
	struct pc_alloc key = *a;
	int len, ret;

	len = normalise(a->name, name);
	if (len < 0)
		return len;
	key.name = name;
	key.v4.port = 0;
	key.v6.port = 0;
	ret = check_addrs(a, &key);
	if (ret < 0)
		return ret;
	if (find(t, BY_NAME, &key) || (key.v4.family && v4_find(t, &key.v4)) ||
	    (key.v6.family && find(t, BY_V6, &key)))
		return -EEXIST;
	if (t->count == UINT32_MAX - 1 || index_reserve(t) < 0 || entry_reserve(t) < 0)
		return -ENOMEM;
	if (key.v4.family && !t->v4_slot && !(t->v4_slot = pc_calloc(V4_SLOTS, sizeof(uint32_t))))
		return -ENOMEM;
	key.name = pool_dup(t, name, (size_t)len);
	if (!key.name)
		return -ENOMEM;
	*entry(t, t->count) = key;
	index_add(t, t->count);
	if (key.v4.family)
		t->v4_slot[v4_offset(&key.v4)] = t->count + 1;
	t->count++;
	t->v4_count += key.v4.family != 0;
	return 0;
}

/*
 * Undo the latest insertions, newest first. Clearing the slot of the
 * newest entry never cuts another entry's probe chain: an entry placed
 * past that slot on its chain found it taken when it was inserted, by an
 * entry that is still there, since nothing newer than the newest exists
 * and nothing is otherwise removed. A rebuilt index holds the entries as
 * if inserted in order, so the same holds after a rebuild. The name's
 * bytes stay in the pool until the table is freed.
 */
void pc_alloc_truncate(struct pc_alloc_table *t, size_t count)
{
	while (t->count > count) {
		uint32_t i = t->count - 1;
		const struct pc_alloc *a = entry(t, i);
		int w;

		for (w = 0; w < NINDEX; w++) {
			if (indexed(w, a))
				*slot_of(t, w, a) = 0;
		}
		if (a->v4.family) {
			t->v4_slot[v4_offset(&a->v4)] = 0;
			t->v4_count--;
		}
		t->count--;
	}
}

const struct pc_alloc *pc_alloc_by_name(const struct pc_alloc_table *t, const char *name)
{
	char buf[PC_ALLOC_NAME_MAX + 1] = { 0 }; /* for clang-analyzer, lost in normalise() */
	struct pc_alloc key = { .name = buf };

	if (normalise(name, buf) < 0)
		return NULL;
	return find(t, BY_NAME, &key);
}

const struct pc_alloc *pc_alloc_by_addr(const struct pc_alloc_table *t, const struct pc_addr *a)
{
	struct pc_alloc key = { 0 };
	struct pc_addr p = plain(a);

	if (v4_ok(&p))
		return v4_find(t, &p);
	if (v6_ok(&p)) {
		key.v6 = p;
		return find(t, BY_V6, &key);
	}
	return NULL;
}

int pc_alloc_touch(struct pc_alloc_table *t, const char *name, int64_t now)
{
	struct pc_alloc *a = (struct pc_alloc *)pc_alloc_by_name(t, name);

	if (!a)
		return -ENOENT;
	a->last_used = now;
	return 0;
}

/* ---- choosing addresses ---- */

/* The first free IPv4 address from the candidate <h> picks, or family 0 when full. */
static void choose_v4(const struct pc_alloc_table *t, uint64_t h, struct pc_addr *out)
{
	uint32_t off = (uint32_t)(h % PC_ALLOC_V4_SIZE) + 1;

	memset(out, 0, sizeof(*out));
	if (t->v4_count >= PC_ALLOC_V4_SIZE)
		return;
	while (t->v4_slot && t->v4_slot[off])
		off = off % PC_ALLOC_V4_SIZE + 1; /* 65534 wraps to 1: never .0.0 or .255.255 */
	v4_set(out, off);
}

/* Add one to the 80-bit host part of <a>, wrapping. */
static void v6_next(struct pc_addr *a)
{
	int i;

	for (i = 15; i >= (int)sizeof(v6_net); i--) {
		if (++a->bytes[i] != 0)
			break;
	}
}

/*
 * The first free IPv6 address from the candidate <h> picks. The range has
 * 2^80 - 1 addresses and the table at most 2^32 entries: there is always
 * one.
 */
static void choose_v6(const struct pc_alloc_table *t, uint64_t h, struct pc_addr *out)
{
	struct pc_alloc key = { 0 };
	uint64_t lo = mix(h ^ 0x6a09e667f3bcc908ull), hi = mix(h ^ 0xbb67ae8584caa73bull);
	int i;

	key.v6.family = AF_INET6;
	memcpy(key.v6.bytes, v6_net, sizeof(v6_net));
	key.v6.bytes[6] = (uint8_t)(hi >> 8);
	key.v6.bytes[7] = (uint8_t)hi;
	for (i = 0; i < 8; i++)
		key.v6.bytes[8 + i] = (uint8_t)(lo >> (56 - 8 * i));
	while (v6_host_zero(key.v6.bytes + sizeof(v6_net)) || find(t, BY_V6, &key))
		v6_next(&key.v6);
	*out = key.v6;
}

int pc_alloc_choose(const struct pc_alloc_table *t, const char *name, struct pc_addr *v4,
		    struct pc_addr *v6)
{
	char buf[PC_ALLOC_NAME_MAX + 1] = { 0 }; /* for clang-analyzer, lost in normalise() */
	struct pc_alloc key = { .name = buf };
	int len = normalise(name, buf);
	uint64_t h;

	if (len < 0)
		return len;
	if (find(t, BY_NAME, &key))
		return -EEXIST;
	h = fnv1a_str(buf);
	choose_v4(t, h, v4);
	choose_v6(t, h, v6);
	return 0;
}

/* ---- listing ---- */

static int by_name_order(const void *a, const void *b, void *data)
{
	const struct pc_alloc_table *t = data;

	return strcmp(entry(t, *(const uint32_t *)a)->name, entry(t, *(const uint32_t *)b)->name);
}

int pc_alloc_foreach(const struct pc_alloc_table *t, pc_alloc_fn *fn, void *data)
{
	uint32_t *order, i;
	int ret = 0;

	if (!t->count)
		return 0;
	order = pc_malloc((size_t)t->count * sizeof(*order));
	if (!order)
		return -ENOMEM;
	for (i = 0; i < t->count; i++)
		order[i] = i;
	qsort_r(order, t->count, sizeof(*order), by_name_order, (void *)t);
	for (i = 0; i < t->count && ret == 0; i++)
		ret = fn(entry(t, order[i]), data);
	free(order);
	return ret;
}
