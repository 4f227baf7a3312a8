/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cli/columns.h - `portcullis get` tables, as kubectl prints Istio's kinds.
 *
 * The columns are those of the additionalPrinterColumns of Istio's CRDs
 * (manifests/charts/base/files/crd-all.gen.yaml) after NAME:
 *
 *   ServiceEntry     NAME HOSTS LOCATION RESOLUTION AGE
 *   VirtualService   NAME GATEWAYS HOSTS AGE
 *   DestinationRule  NAME HOST AGE
 *   WorkloadEntry    NAME AGE ADDRESS
 *   Sidecar          NAME AGE
 *
 * with NAMESPACE first for -A. Cells are what the API server computes for
 * a "string" column (a JSON-path value: strings as they are, lists and maps
 * as compact JSON, absent values "<none>") and for a "date" column (the
 * age, duration.HumanDuration). They are laid out by the one tabwriter
 * (cli/table.h), which makes them safe for a terminal and remembers widths
 * between flushes, so that watch rows line up with the table above them.
 */
#ifndef PC_CLI_COLUMNS_H
#define PC_CLI_COLUMNS_H

#include <stdbool.h>
#include <stdio.h>
#include <time.h>

#include "cli/table.h"
#include "model/resource.h"

struct pc_node;

#define PC_COLUMNS_MAX 8 /* NAMESPACE and the widest kind's columns fit */

struct pc_columns {
	const struct pc_kind_info *kind;
	bool namespaces; /* -A: a NAMESPACE column first */
	struct pc_table table;
};

void pc_columns_init(struct pc_columns *c, const struct pc_kind_info *kind, bool namespaces);
void pc_columns_release(struct pc_columns *c);

/* Queue the row of object <obj> (a mapping), its age counted up to <now>. */
void pc_columns_add(struct pc_columns *c, const struct pc_node *obj, time_t now);

/* Print the header (the first time only) and the queued rows to <fp>. */
void pc_columns_flush(struct pc_columns *c, FILE *fp);

#endif /* PC_CLI_COLUMNS_H */
