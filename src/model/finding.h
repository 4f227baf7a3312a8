/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * model/finding.h - what validation says about a manifest.
 *
 * A finding is one error or warning with its place (file, 1-based line and
 * column), the resource it belongs to (kind, namespace, name; any may be
 * NULL for problems found before the resource is known), the field path
 * (e.g. "spec.ports[0].number") and the message. A findings list owns
 * copies of all its strings.
 */
#ifndef PC_MODEL_FINDING_H
#define PC_MODEL_FINDING_H

#include <stdbool.h>
#include <stddef.h>

enum pc_severity {
	PC_SEV_ERROR,
	PC_SEV_WARNING,
};

/* Longer strings are cut (at a UTF-8 boundary) and end in "...". */
#define PC_FINDING_MAX_FILE 4096
#define PC_FINDING_MAX_NAME 256
#define PC_FINDING_MAX_PATH 1024
#define PC_FINDING_MAX_MSG  2048

struct pc_finding {
	enum pc_severity sev;
	char *file;
	unsigned line; /* 0: unknown */
	unsigned col;  /* 0: unknown */
	char *kind;
	char *ns;
	char *name;
	char *path; /* "" when the finding is about the whole document */
	char *msg;
	bool note;  /* about the findings themselves ("too many"), not a problem */
};

struct pc_findings {
	struct pc_finding *v;
	size_t n;
	size_t cap;
	size_t nerr;        /* errors listed (notes included by severity) */
	size_t nwarn;       /* warnings listed */
	size_t total_err;   /* errors found, listed or not (notes excluded) */
	size_t total_warn;  /* warnings found, listed or not */
	bool oom; /* a finding was lost for lack of memory */
};

void pc_findings_init(struct pc_findings *f);
void pc_findings_release(struct pc_findings *f);

/*
 * Append a copy of <tmpl> (its strings are copied; NULL stays NULL).
 * Returns 0 or -ENOMEM (then <oom> is set).
 */
int pc_findings_add(struct pc_findings *f, const struct pc_finding *tmpl);

/* Count a problem that is not listed (past a per-resource cap). */
void pc_findings_count(struct pc_findings *f, enum pc_severity sev);

/* "error" or "warning". */
const char *pc_severity_name(enum pc_severity sev);

#endif /* PC_MODEL_FINDING_H */
