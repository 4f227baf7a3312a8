/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * model/output.h - printing findings for people (compiler style) and
 * machines (JSON).
 *
 * The model's presentation of its own product (model/finding.h), shared by
 * `portcullis validate`, the daemon's --config loader and the API's replies,
 * so it sits in the model layer, below both the CLI and the daemon. The
 * printers allocate with pc_xmalloc() and exit(1) when memory runs out.
 */
#ifndef PC_MODEL_OUTPUT_H
#define PC_MODEL_OUTPUT_H

#include <stdbool.h>
#include <stdio.h>

struct pc_findings;

/*
 * Sort <f> for reading: by file (in load order), then line, then column,
 * keeping the order of findings that share a place.
 */
void pc_output_sort(struct pc_findings *f);

/*
 * One line per finding:
 *   FILE:LINE:COL: error: Kind ns/name: path: message
 * Parts that are unknown are left out.
 */
void pc_output_text(FILE *fp, const struct pc_findings *f);

/* A JSON array of objects {file, line, column, severity, kind, namespace, name, path, message}. */
void pc_output_json(FILE *fp, const struct pc_findings *f);

#endif /* PC_MODEL_OUTPUT_H */
