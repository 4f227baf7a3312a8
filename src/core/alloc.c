/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * core/alloc.c - allocation wrappers with a failure-injection seam.
 *
 * With PC_FAIL_ALLOC compiled in, the environment variable of the same
 * name is read once; the allocation whose 1-based ordinal equals it fails.
 * The counter is not thread-safe on purpose: failure sweeps run the
 * single-threaded paths (config load, compile) one N at a time.
 */
#include "core/alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef PC_FAIL_ALLOC
static long fail_at = -1;
static long alloc_count;
static int injected;

static int should_fail(void)
{
	if (fail_at == -1) {
		const char *e = getenv("PC_FAIL_ALLOC");

		fail_at = e ? strtol(e, NULL, 10) : 0;
	}
	if (fail_at > 0 && ++alloc_count == fail_at) {
		injected = 1;
		return 1;
	}
	return 0;
}

void pc_alloc_fail_at(long n)
{
	fail_at = n;
	alloc_count = 0;
	injected = 0;
}

int pc_alloc_injected(void)
{
	return injected;
}
#else
static int should_fail(void)
{
	return 0;
}

void pc_alloc_fail_at(long n)
{
	(void)n;
}

int pc_alloc_injected(void)
{
	return 0;
}
#endif

void *pc_malloc(size_t size)
{
	if (should_fail())
		return NULL;
	return malloc(size);
}

void *pc_calloc(size_t nmemb, size_t size)
{
	if (should_fail())
		return NULL;
	return calloc(nmemb, size);
}

void *pc_realloc(void *ptr, size_t size)
{
	if (should_fail())
		return NULL;
	return realloc(ptr, size);
}

char *pc_strndup(const char *s, size_t n)
{
	char *p = pc_malloc(n + 1);

	if (!p)
		return NULL;
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

static void oom(void)
{
	fputs("portcullis: out of memory\n", stderr);
	exit(1);
}

void *pc_xmalloc(size_t size)
{
	void *p = malloc(size ? size : 1);

	if (!p)
		oom();
	return p;
}

void *pc_xrealloc(void *ptr, size_t size)
{
	void *p = realloc(ptr, size ? size : 1);

	if (!p)
		oom();
	return p;
}

char *pc_xstrdup(const char *s)
{
	char *p = strdup(s);

	if (!p)
		oom();
	return p;
}
