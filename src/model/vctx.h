/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * model/vctx.h - the validation context: field path and finding sink.
 *
 * Decoders and validators walk a resource with a path stack
 * (pc_vpush("spec"), pc_vpush_index(v, 0), pc_vpush("ports") ...) and
 * report through pc_verr()/pc_vwarn(), naming at most one more path
 * segment. The context turns the full path back into the node it names,
 * or into the deepest existing ancestor when the field is absent, to give
 * every finding a line and column. Nothing here allocates on success paths
 * except the findings themselves.
 *
 * Paths look like kubectl's: "spec.ports[0].number",
 * "metadata.labels[app.kubernetes.io/name]".
 */
#ifndef PC_MODEL_VCTX_H
#define PC_MODEL_VCTX_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "model/finding.h"

struct pc_arena;
struct pc_node;

#define PC_VCTX_DEPTH 128

/* At most this many findings are kept per resource; one more says so. */
#define PC_VCTX_MAX_FINDINGS 100

struct pc_vctx {
	struct pc_findings *out;
	struct pc_arena *arena;    /* decoded values live here */
	const char *file;          /* borrowed */
	const struct pc_node *root; /* the resource's document, for locations */
	const char *kind;          /* borrowed; NULL until known */
	const char *ns;
	const char *name;
	struct pc_buf path;
	size_t marks[PC_VCTX_DEPTH];
	unsigned depth;
	unsigned overflow;   /* pushes beyond PC_VCTX_DEPTH, ignored */
	unsigned nerr;       /* errors of the current resource */
	unsigned nwarn;      /* warnings of the current resource */
	unsigned nfindings;  /* findings kept for the current resource */
	const struct pc_node *at; /* when set, the place of the next finding */
};

/*
 * Start a context reporting into <out>, allocating decoded values from
 * <arena>, for document <root> of <file>. Both are borrowed.
 */
void pc_vctx_init(struct pc_vctx *v, struct pc_findings *out, struct pc_arena *arena,
		  const char *file, const struct pc_node *root);
void pc_vctx_release(struct pc_vctx *v);

/* Forget the path and counters: the next resource starts. */
void pc_vctx_reset(struct pc_vctx *v, const struct pc_node *root);

/* Append ".<field>" (or "<field>" at the top) to the path. */
void pc_vpush(struct pc_vctx *v, const char *field);
/* Append "[<index>]". */
void pc_vpush_index(struct pc_vctx *v, size_t index);
/* Append "[<key>]" (a map key, e.g. a label name). */
void pc_vpush_key(struct pc_vctx *v, const char *key);
/* Undo the last push. */
void pc_vpop(struct pc_vctx *v);

/*
 * Report an error or a warning at the current path extended by <field>
 * (NULL: the current path itself). The message follows Istio's wording.
 */
void pc_verr(struct pc_vctx *v, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void pc_vwarn(struct pc_vctx *v, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * True once this resource's findings are capped: callers may skip costly
 * work (suggestions) whose report would be dropped anyway.
 */
bool pc_vctx_full(const struct pc_vctx *v);

/* The current path ("" at the top). Valid until the next push or pop. */
const char *pc_vpath(const struct pc_vctx *v);

/*
 * Resolve <path> against <root>: the node it names, or its deepest
 * existing ancestor. Never NULL when <root> is not.
 */
const struct pc_node *pc_path_lookup(const struct pc_node *root, const char *path);

#endif /* PC_MODEL_VCTX_H */
