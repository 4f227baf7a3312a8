/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cli/table.h - `portcullis get` tables, as kubectl prints Istio's kinds.
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
 * age, duration.HumanDuration). Columns are laid out like kubectl's
 * tabwriter (minimum width 6, padding 3, widths remembered between
 * flushes so that watch rows line up with the table above them).
 */
#ifndef PC_CLI_TABLE_H
#define PC_CLI_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <time.h>

#include "model/resource.h"

struct pc_node;

#define PC_TABLE_MAX_COLS 8

struct pc_table {
	const struct pc_kind_info *kind;
	bool namespaces; /* -A: a NAMESPACE column first */
	bool header_done;
	size_t ncols;
	size_t width[PC_TABLE_MAX_COLS]; /* column widths, padding included */
	char **cells;                    /* pending rows, ncols cells each */
	size_t nrows;
};

void pc_table_init(struct pc_table *t, const struct pc_kind_info *kind, bool namespaces);
void pc_table_release(struct pc_table *t);

/* Queue the row of object <obj> (a mapping), its age counted up to <now>. */
void pc_table_add(struct pc_table *t, const struct pc_node *obj, time_t now);

/* Print the header (the first time only) and the queued rows to <fp>. */
void pc_table_flush(struct pc_table *t, FILE *fp);

/* kubectl's duration.HumanDuration of <seconds> ("5s", "2m3s", "10m", "3h", "2d", ...). */
void pc_table_duration(char *out, size_t size, long long seconds);

/*
 * Parse the RFC 3339 time <s> ("2026-11-26T10:00:00Z", fractions and
 * offsets allowed) into <*t>. Returns false when it is not one.
 */
bool pc_table_parse_time(const char *s, time_t *t);

#endif /* PC_CLI_TABLE_H */
