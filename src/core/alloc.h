/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * core/alloc.h - the allocator every layer uses.
 *
 * pc_malloc() and friends are thin wrappers over libc with one seam: in
 * debug builds (PC_FAIL_ALLOC defined at compile time) the environment
 * variable PC_FAIL_ALLOC=N makes the Nth allocation fail, so tests can sweep
 * every allocation failure of a code path (curl's torture tests, SQLite).
 *
 * Only the CLI may use pc_xmalloc()/pc_xstrdup(), which exit on failure;
 * library code returns -ENOMEM to its caller instead.
 */
#ifndef PC_CORE_ALLOC_H
#define PC_CORE_ALLOC_H

#include <stddef.h>

void *pc_malloc(size_t size);
void *pc_calloc(size_t nmemb, size_t size);
void *pc_realloc(void *ptr, size_t size);
char *pc_strndup(const char *s, size_t n);

/*
 * Failure injection (debug builds with PC_FAIL_ALLOC only; elsewhere these
 * do nothing): make the <n>th allocation from now fail (0: none), and tell
 * whether an injected failure happened since.
 */
void pc_alloc_fail_at(long n);
int pc_alloc_injected(void);

/* Exit with status 1 and a message on failure. CLI only. */
void *pc_xmalloc(size_t size);
void *pc_xrealloc(void *ptr, size_t size);
char *pc_xstrdup(const char *s);

#endif /* PC_CORE_ALLOC_H */
