/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * core/arena.h - region allocator (nginx pools).
 *
 * Objects with one lifetime (a parsed manifest, a policy snapshot) are
 * carved from an arena and die together with pc_arena_free(). There is no
 * per-object free. Allocations are aligned for any scalar type. An arena
 * may carry a byte budget: once exceeded every allocation fails, which is
 * how untrusted input is kept from growing memory without bound.
 */
#ifndef PC_CORE_ARENA_H
#define PC_CORE_ARENA_H

#include <stddef.h>

struct pc_arena;

/*
 * Create an arena whose blocks are at least <block> bytes. Returns NULL
 * only for lack of memory.
 */
struct pc_arena *pc_arena_new(size_t block);

/* Release <arena> and everything allocated from it. NULL is a no-op. */
void pc_arena_free(struct pc_arena *arena);

/*
 * Cap the bytes <arena> may hold in total (0: no cap). Allocations that
 * would exceed it return NULL.
 */
void pc_arena_set_limit(struct pc_arena *arena, size_t limit);

/* Bytes currently reserved from the system (blocks, not just used bytes). */
size_t pc_arena_size(const struct pc_arena *arena);

/* Aligned, uninitialised memory; NULL on failure or over the limit. */
void *pc_arena_alloc(struct pc_arena *arena, size_t size);

/* Zeroed memory for <n> elements of <size>; NULL on overflow or failure. */
void *pc_arena_calloc(struct pc_arena *arena, size_t n, size_t size);

/* A NUL-terminated copy of <n> bytes of <s>. */
char *pc_arena_strndup(struct pc_arena *arena, const char *s, size_t n);

/* A NUL-terminated copy of <s>. */
char *pc_arena_strdup(struct pc_arena *arena, const char *s);

/* printf into the arena. */
char *pc_arena_printf(struct pc_arena *arena, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif /* PC_CORE_ARENA_H */
