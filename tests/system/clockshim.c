/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * tests/system/clockshim.c - an LD_PRELOAD library that steps the wall clock.
 *
 * clock_gettime(CLOCK_REALTIME) (and its _COARSE twin) answers the real
 * time plus PC_CLOCKSHIM_OFFSET seconds (default 3600); every other clock
 * is left alone. A process that computes a pthread_cond_timedwait()
 * deadline from the wall clock but waits on a CLOCK_REALTIME condition
 * variable then waits an hour too long; one that uses CLOCK_MONOTONIC
 * (core/clock.h) does not notice. Used by tests/system/proxy/test_runtime.py.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <stdlib.h>
#include <time.h>

typedef int clock_gettime_fn(clockid_t id, struct timespec *ts);

int clock_gettime(clockid_t id, struct timespec *ts);

int clock_gettime(clockid_t id, struct timespec *ts)
{
	static clock_gettime_fn *real;
	static long offset = -1;
	int ret;

	if (!real) {
		const char *s = getenv("PC_CLOCKSHIM_OFFSET");

		offset = s ? strtol(s, NULL, 10) : 3600;
		real = (clock_gettime_fn *)dlsym(RTLD_NEXT, "clock_gettime");
		if (!real)
			return -1;
	}
	ret = real(id, ts);
	if (ret == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE))
		ts->tv_sec += offset;
	return ret;
}
