/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * model/decode.h - typed decoding of nodes with a schema (model/schema.h).
 *
 * Decoding is strict, as kubectl's is against Istio's CRDs: unknown
 * fields, a value of the wrong type (a quoted number for an integer, a
 * YAML 1.1 boolean for a string), integers out of their range, unknown
 * enum names and malformed durations are errors, each reported through the
 * context with its field path. Decoding never stops at the first problem:
 * bad fields keep their zero value and the walk goes on, so one run shows
 * everything. Decoded values live in the context's arena.
 */
#ifndef PC_MODEL_DECODE_H
#define PC_MODEL_DECODE_H

#include <stdint.h>

/* Lists and maps (not messages) may hold at most this many entries. */
#define PC_DECODE_MAX_ITEMS 10000u

struct pc_node;
struct pc_schema;
struct pc_vctx;

/*
 * Decode mapping <node> into <out> (a zeroed struct of <schema>->size
 * bytes) at the context's current path. A non-mapping <node> is an error.
 * Returns 0, or -ENOMEM when the arena is exhausted (then the context has
 * an error too).
 */
int pc_decode(struct pc_vctx *v, const struct pc_schema *schema, const struct pc_node *node,
	      void *out);

/*
 * Allocate a zeroed struct of <schema> from the context's arena and decode
 * <node> into it. NULL only when memory ran out.
 */
void *pc_decode_new(struct pc_vctx *v, const struct pc_schema *schema, const struct pc_node *node);

/*
 * Parse a duration in Go (1h30m, 10ms, 1.5s, 2us) or protobuf JSON (3.5s)
 * spelling into nanoseconds. Returns 0, or -EINVAL with a short reason in
 * <*why> ("missing unit", "unknown unit", "invalid number", "overflow").
 */
int pc_duration_parse(const char *s, int64_t *ns, const char **why);

/* Format <ns> as Go's time.Duration.String() does ("1h0m0s", "10ms"). */
void pc_duration_format(int64_t ns, char *buf, unsigned size);

#endif /* PC_MODEL_DECODE_H */
