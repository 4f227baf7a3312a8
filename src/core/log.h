/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * core/log.h - one logfmt line per event, to stderr, for journald.
 *
 *   pc_log(PC_LOG_WARN, "upstream connect failed", "sess=%lu dst=%s err=%s",
 *          id, dst, "ECONNREFUSED");
 *   -> level=warn msg="upstream connect failed" sess=42 dst=203.0.113.9:443 err=ECONNREFUSED
 *
 * <msg> is a fixed text (lowercase, no final period, failure first). <fmt>
 * is a printf format of space-separated key=value fields; each value is
 * formatted on its own and quoted when logfmt needs it, so a string from the
 * network can never add or end a field. Lines are built on the stack and
 * written with a single write(2), so lines from concurrent threads never
 * interleave (up to PC_LOG_LINE_MAX, which is PIPE_BUF); nothing here
 * allocates, blocks on a lock, or changes errno.
 *
 * The level, flags and output fd are atomics: any thread may change them
 * while others log.
 */
#ifndef PC_CORE_LOG_H
#define PC_CORE_LOG_H

#include <stdbool.h>
#include <stdint.h>

/* Severity, most severe first; the names printed are err, warn, ... */
enum pc_log_level {
	PC_LOG_ERR,
	PC_LOG_WARN,
	PC_LOG_NOTICE,
	PC_LOG_INFO,
	PC_LOG_DEBUG,
};

/* Longest line written, newline included; longer lines end in truncated=true. */
#define PC_LOG_LINE_MAX 4096

/* pc_log_set_flags(): start each line with ts=<RFC 3339 UTC, ms> (off by default). */
#define PC_LOG_TIMESTAMP 0x1u

/*
 * Log one event at <level> if the current level lets it through.
 *
 * <fmt> is NULL for no fields (gcc's -Wformat-zero-length rejects ""; the
 * library accepts both). Otherwise it is a sequence of
 * fields separated by spaces: "key=value", where key is literal text and
 * value is literal text and printf conversions with no literal space in
 * it ("dst=%s:%u" is one field). Each field's value is expanded, then
 * written bare if it is non-empty and holds only printable characters other
 * than space, '"', '=' and '\', and in double quotes with \" \\ \n \r \t
 * escapes otherwise; other controls, bytes that are not UTF-8, and bidi and
 * invisible format characters are escaped as core/escape.h says (\x1b,
 * \xff, \u202e), so a value from the network can neither drive a terminal
 * nor reorder the line that shows it. <msg> is written as a value too. Conversions are C99's (flags, width and
 * precision including '*', length modifiers) plus %m; %n is ignored.
 */
void pc_log(int level, const char *msg, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Like pc_log(), appending suppressed=<n> when <suppressed> is not 0. */
void pc_log_suppressed(int level, uint64_t suppressed, const char *msg, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Whether pc_log(<level>, ...) would write anything now. */
bool pc_log_enabled(int level);

/* Debug line whose arguments are evaluated only when debug is enabled. */
#define pc_debug(...)                                      \
	do {                                               \
		if (pc_log_enabled(PC_LOG_DEBUG))          \
			pc_log(PC_LOG_DEBUG, __VA_ARGS__); \
	} while (0)

/* Set the most verbose level written (PC_LOG_INFO by default); clamped. */
void pc_log_set_level(int level);
int pc_log_get_level(void);

/*
 * Parse a level name: "err", "warn", "notice", "info", "debug", with the
 * aliases "error" and "warning". Returns the level, or -EINVAL.
 */
int pc_log_level_parse(const char *name);

/* The name of <level> as printed ("err" ... "debug"), "?" if out of range. */
const char *pc_log_level_name(int level);

/* Replace the flags (PC_LOG_TIMESTAMP). */
void pc_log_set_flags(unsigned flags);

/*
 * Write lines to <fd> instead of stderr (tests, or a log file); -1 restores
 * stderr. The fd stays the caller's.
 */
void pc_log_set_fd(int fd);

/*
 * Rate limit for hot-path log sites: at most <burst> lines per
 * <interval_ms> window (the kernel's ___ratelimit). Not thread-safe: keep
 * one per worker, or accept approximate counts.
 */
struct pc_ratelimit {
	uint64_t interval_ms;
	unsigned burst;
	bool started;        /* <begin> is valid */
	uint64_t begin;      /* start of the current window, ms */
	unsigned count;      /* lines allowed in the current window */
	uint64_t missed;     /* lines refused since the last allowed one */
	uint64_t suppressed; /* set on each allowed line: what was refused before it */
};

#define PC_RATELIMIT_INIT(interval, n)                  \
	{                                               \
		.interval_ms = (interval), .burst = (n) \
	}

void pc_ratelimit_init(struct pc_ratelimit *rl, uint64_t interval_ms, unsigned burst);

/*
 * Decide whether a line may be written at <now_ms> (any monotonic clock,
 * e.g. pc_loop_now()). On true, rl->suppressed holds how many lines were
 * refused since the previous allowed one, and the count restarts.
 */
bool pc_log_ratelimit(struct pc_ratelimit *rl, uint64_t now_ms);

/*
 * Log through <rl>: skipped (arguments unevaluated, limiter untouched) when
 * <level> is disabled; otherwise written only if pc_log_ratelimit() allows
 * it, with suppressed=<n> appended when lines were dropped before it.
 */
#define pc_log_limited(rl, now_ms, level, ...)                                     \
	do {                                                                       \
		if (pc_log_enabled(level) && pc_log_ratelimit((rl), (now_ms)))     \
			pc_log_suppressed((level), (rl)->suppressed, __VA_ARGS__); \
	} while (0)

#endif /* PC_CORE_LOG_H */
