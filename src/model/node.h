/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * model/node.h - the YAML/JSON node tree with source positions.
 *
 * libyaml's events are turned into a tree of scalars, sequences and
 * mappings; every node keeps the 1-based line and column where it starts,
 * so any later finding can name file:line:col. Aliases are resolved by
 * sharing the anchored node (no copy) and merge keys (<<) are applied, so
 * consumers never see either. Nodes live in the stream's arena and are
 * immutable once the parse returns.
 *
 * Untrusted input is bounded by struct pc_yaml_limits: input size, nesting
 * depth, anchors, and the number of nodes a document expands to once
 * aliases are counted (the "billion laughs" guard).
 */
#ifndef PC_MODEL_NODE_H
#define PC_MODEL_NODE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"

struct pc_arena;

enum pc_node_type {
	PC_NODE_SCALAR = 1,
	PC_NODE_SEQ,
	PC_NODE_MAP,
};

enum pc_scalar_style {
	PC_STYLE_PLAIN,  /* unquoted: subject to null/bool/number resolution */
	PC_STYLE_QUOTED, /* '...' or "..." */
	PC_STYLE_BLOCK,  /* | or > */
};

struct pc_pair;

struct pc_node {
	enum pc_node_type type;
	enum pc_scalar_style style; /* scalars only */
	unsigned line;              /* 1-based */
	unsigned col;               /* 1-based */
	const char *tag;            /* explicit tag (e.g. "tag:yaml.org,2002:str"), or NULL */
	size_t weight;              /* nodes in this subtree, aliases expanded */
	union {
		struct { /* PC_NODE_SCALAR: NUL-terminated, may contain NUL (len) */
			const char *str;
			size_t len;
		};
		struct { /* PC_NODE_SEQ */
			struct pc_node **items;
			size_t nitems;
		};
		struct { /* PC_NODE_MAP, in source order, merge keys applied */
			struct pc_pair *pairs;
			size_t npairs;
		};
	};
};

struct pc_pair {
	const struct pc_node *key; /* always a scalar */
	const struct pc_node *value;
};

struct pc_yaml_limits {
	size_t max_bytes;   /* input size */
	unsigned max_depth; /* nesting of sequences and mappings */
	size_t max_anchors; /* anchors per document */
	size_t max_weight;  /* nodes per document, aliases expanded */
};

/* 32 MiB, depth 100, 10,000 anchors, 1,048,576 expanded nodes. */
#define PC_YAML_MAX_BYTES   (32u << 20)
#define PC_YAML_MAX_DEPTH   100u
#define PC_YAML_MAX_ANCHORS 10000u
#define PC_YAML_MAX_WEIGHT  (1u << 20)

struct pc_yaml_doc {
	const struct pc_node *root; /* NULL for an empty document */
	unsigned line;              /* where the document starts, 1-based */
};

struct pc_yaml_stream {
	struct pc_arena *arena;
	struct pc_yaml_doc *docs;
	size_t ndocs;
};

/* Fill <lim> with the defaults above. */
void pc_yaml_limits_default(struct pc_yaml_limits *lim);

/*
 * Parse <len> bytes of <buf> (YAML 1.1 or JSON, any number of documents)
 * within <lim> (NULL: defaults). On success store a new stream in <*out>
 * (free it with pc_yaml_stream_free()) and return 0. On failure return
 * -EINVAL (syntax, duplicate key, limits: <err> has the message and, when
 * there is one, the position) or -ENOMEM, and leave <*out> untouched.
 */
int pc_yaml_parse(const char *buf, size_t len, const struct pc_yaml_limits *lim,
		  struct pc_yaml_stream **out, struct pc_err *err);

void pc_yaml_stream_free(struct pc_yaml_stream *stream);

/* The value of <key> in mapping <map>, or NULL (also when <map> is no mapping). */
const struct pc_node *pc_node_get(const struct pc_node *map, const char *key);

/* True for a plain (untagged) null scalar: "", "~", "null", "Null", "NULL", or !!null. */
bool pc_node_is_null(const struct pc_node *n);

/* Scalar text equals <s>. */
bool pc_node_is(const struct pc_node *n, const char *s);

enum pc_scalar_kind {
	PC_SCALAR_NULL,
	PC_SCALAR_BOOL,
	PC_SCALAR_INT,
	PC_SCALAR_FLOAT,
	PC_SCALAR_STR,
};

/*
 * Resolve the type of scalar <n> the way Kubernetes' YAML reader (go-yaml
 * v2, YAML 1.1) does: quoted and block scalars are strings; plain ones may
 * be null, a boolean (true/false, yes/no, on/off, y/n in any of their
 * three spellings), an integer (decimal, 0x hex, 0 or 0o octal, 0b binary,
 * '_' separators) or a float. Explicit standard tags win.
 */
enum pc_scalar_kind pc_scalar_kind(const struct pc_node *n);

/* The boolean value of a PC_SCALAR_BOOL scalar. */
bool pc_scalar_bool(const struct pc_node *n);

/*
 * Parse a PC_SCALAR_INT scalar into <*out>. Returns false when the value
 * does not fit in int64 (the caller reports a range error).
 */
bool pc_scalar_int(const struct pc_node *n, long long *out);

/* Parse a PC_SCALAR_INT or PC_SCALAR_FLOAT scalar into <*out>. */
bool pc_scalar_float(const struct pc_node *n, double *out);

/* "null", "boolean", "integer", "number", "string", "array" or "object", as kubectl names them. */
const char *pc_node_kind_name(const struct pc_node *n);

#endif /* PC_MODEL_NODE_H */
