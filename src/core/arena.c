/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * core/arena.c - region allocator.
 *
 * A singly linked list of blocks, newest first; allocation bumps a pointer
 * in the newest block. Requests larger than a quarter of the block size get
 * a block of their own so that a big array does not waste the tail of the
 * current block.
 */
#include "core/arena.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

#define ALIGN _Alignof(max_align_t)

struct block {
	struct block *next;
	size_t size; /* usable bytes after the header */
	size_t used;
	_Alignas(max_align_t) unsigned char data[];
};

struct pc_arena {
	struct block *head;
	size_t block;
	size_t total; /* bytes of all blocks, headers included */
	size_t limit;
};

struct pc_arena *pc_arena_new(size_t block)
{
	struct pc_arena *a = pc_calloc(1, sizeof(*a));

	if (!a)
		return NULL;
	a->block = block < 256 ? 256 : block;
	return a;
}

void pc_arena_free(struct pc_arena *arena)
{
	struct block *b, *next;

	if (!arena)
		return;
	for (b = arena->head; b; b = next) {
		next = b->next;
		free(b);
	}
	free(arena);
}

void pc_arena_set_limit(struct pc_arena *arena, size_t limit)
{
	arena->limit = limit;
}

size_t pc_arena_size(const struct pc_arena *arena)
{
	return arena->total;
}

static struct block *block_new(struct pc_arena *a, size_t size)
{
	struct block *b;
	size_t bytes = sizeof(*b) + size;

	if (size > SIZE_MAX - sizeof(*b))
		return NULL;
	if (a->limit && (bytes > a->limit || a->total > a->limit - bytes))
		return NULL;
	b = pc_malloc(bytes);
	if (!b)
		return NULL;
	b->size = size;
	b->used = 0;
	a->total += bytes;
	return b;
}

void *pc_arena_alloc(struct pc_arena *arena, size_t size)
{
	struct block *b = arena->head;
	size_t need;

	if (size > SIZE_MAX - ALIGN)
		return NULL;
	need = (size + ALIGN - 1) & ~(ALIGN - 1);
	if (need == 0)
		need = ALIGN;

	if (b && b->size - b->used >= need) {
		void *p = b->data + b->used;

		b->used += need;
		return p;
	}

	if (need > arena->block / 4) {
		/* Big request: a dedicated block behind the current one. */
		b = block_new(arena, need);
		if (!b)
			return NULL;
		b->used = need;
		if (arena->head) {
			b->next = arena->head->next;
			arena->head->next = b;
		} else {
			b->next = NULL;
			arena->head = b;
		}
		return b->data;
	}

	b = block_new(arena, arena->block);
	if (!b)
		return NULL;
	b->next = arena->head;
	arena->head = b;
	b->used = need;
	return b->data;
}

void *pc_arena_calloc(struct pc_arena *arena, size_t n, size_t size)
{
	void *p;

	if (size && n > SIZE_MAX / size)
		return NULL;
	p = pc_arena_alloc(arena, n * size);
	if (p)
		memset(p, 0, n * size);
	return p;
}

char *pc_arena_strndup(struct pc_arena *arena, const char *s, size_t n)
{
	char *p;

	if (n == SIZE_MAX)
		return NULL;
	p = pc_arena_alloc(arena, n + 1);
	if (!p)
		return NULL;
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *pc_arena_strdup(struct pc_arena *arena, const char *s)
{
	return pc_arena_strndup(arena, s, strlen(s));
}

char *pc_arena_printf(struct pc_arena *arena, const char *fmt, ...)
{
	va_list ap;
	char *p;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return NULL;
	p = pc_arena_alloc(arena, (size_t)n + 1);
	if (!p)
		return NULL;
	va_start(ap, fmt);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return p;
}
