/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * model/output.h - printing findings for people (compiler style) and
 * machines (JSON).
 *
 * The model's presentation of its own product (model/finding.h), shared by
 * `portcullis validate`, the daemon's --config loader and the API's replies,
 * so it sits in the model layer, below both the CLI and the daemon. None
 * of them exits or aborts when memory runs out (the daemon must survive it):
 * each says what it does instead.
 */
#ifndef PC_MODEL_OUTPUT_H
#define PC_MODEL_OUTPUT_H

#include <stdbool.h>
#include <stdio.h>

struct pc_buf;
struct pc_findings;

/*
 * Sort <f> for reading: by file (in load order), then line, then column,
 * keeping the order of findings that share a place. When memory runs out
 * the findings keep the order they have.
 */
void pc_output_sort(struct pc_findings *f);

/*
 * One line per finding:
 *   FILE:LINE:COL: error: Kind ns/name: path: message
 * Parts that are unknown are left out. A line that cannot be built for lack
 * of memory is written as its message alone.
 */
void pc_output_text(FILE *fp, const struct pc_findings *f);

/* The same lines appended to <b> (whose oom flag tells of a lack of memory). */
void pc_output_text_buf(struct pc_buf *b, const struct pc_findings *f);

/*
 * A JSON array of objects {file, line, column, severity, kind, namespace,
 * name, path, message}. Returns 0, or -ENOMEM with nothing written.
 */
int pc_output_json(FILE *fp, const struct pc_findings *f);

#endif /* PC_MODEL_OUTPUT_H */
