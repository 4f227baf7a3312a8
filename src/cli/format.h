/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cli/format.h - numbers and times as kubectl and people read them.
 *
 * Pure functions: no allocation, no state, safe on any input.
 */
#ifndef PC_CLI_FORMAT_H
#define PC_CLI_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

/* <n> bytes as people read them: "512B", "1.2KiB", "3.0MiB", ...; "-" if <n> < 0 or NaN. */
void pc_format_bytes(char *out, size_t size, double n);

/* kubectl's duration.HumanDuration of <seconds> ("5s", "2m3s", "10m", "3h", "2d", ...). */
void pc_format_duration(char *out, size_t size, long long seconds);

/*
 * Parse the RFC 3339 time <s> ("2026-11-26T10:00:00Z", fractions and
 * offsets allowed) into <*t>. Returns false when it is not one.
 */
bool pc_format_parse_time(const char *s, time_t *t);

#endif /* PC_CLI_FORMAT_H */
