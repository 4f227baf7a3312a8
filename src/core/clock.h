/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * core/clock.h - the clocks, in one place.
 *
 * Durations, timeouts and expiries use the monotonic clock, which never
 * steps; only timestamps that a person or another host reads (access log,
 * creationTimestamp, "since" columns) use the wall clock. Timed waits on a
 * condition variable must use a condition variable whose clock is
 * CLOCK_MONOTONIC (pc_cond_init_mono()) and a deadline from
 * pc_mono_deadline(), so that a clock step does not stretch or cut them.
 *
 * Every function is async-signal-safe apart from pc_cond_init_mono(), and
 * none fails: clock_gettime(2) cannot fail with these clock ids.
 */
#ifndef PC_CORE_CLOCK_H
#define PC_CORE_CLOCK_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

/* Monotonic time in milliseconds / microseconds (CLOCK_MONOTONIC). */
uint64_t pc_mono_ms(void);
uint64_t pc_mono_us(void);

/* Wall-clock time in milliseconds since the Unix epoch (CLOCK_REALTIME). */
uint64_t pc_wall_ms(void);

/* Monotonic time in seconds, with nanosecond resolution (for rates). */
double pc_mono_s(void);

/*
 * Initialise <cond> to measure pthread_cond_timedwait() deadlines on
 * CLOCK_MONOTONIC. Returns 0 or a positive error number as pthread does.
 */
int pc_cond_init_mono(pthread_cond_t *cond);

/* The CLOCK_MONOTONIC deadline <ms> from now, for pthread_cond_timedwait(). */
struct timespec pc_mono_deadline(uint64_t ms);

#endif /* PC_CORE_CLOCK_H */
