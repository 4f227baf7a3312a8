/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * model/finding.c - the findings list.
 */
#include "model/finding.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"

void pc_findings_init(struct pc_findings *f)
{
	memset(f, 0, sizeof(*f));
}

static void finding_release(struct pc_finding *x)
{
	free(x->file);
	free(x->kind);
	free(x->ns);
	free(x->name);
	free(x->path);
	free(x->msg);
}

void pc_findings_release(struct pc_findings *f)
{
	size_t i;

	for (i = 0; i < f->n; i++)
		finding_release(&f->v[i]);
	free(f->v);
	pc_findings_init(f);
}

/*
 * Copy at most <max> bytes of <src>, cut at a UTF-8 boundary and marked
 * with "..." when cut: a 20 MiB metadata.name must not be stored and
 * printed once per finding.
 */
static bool dup_str(char **dst, const char *src, size_t max)
{
	size_t n, cut;

	*dst = NULL;
	if (!src)
		return true;
	n = strlen(src);
	cut = pc_utf8_prefix(src, n, max);
	*dst = pc_malloc(cut + 4);
	if (!*dst)
		return false;
	memcpy(*dst, src, cut);
	memcpy(*dst + cut, cut < n ? "..." : "", cut < n ? 4 : 1);
	return true;
}

int pc_findings_add(struct pc_findings *f, const struct pc_finding *tmpl)
{
	struct pc_finding *x;
	bool ok;

	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 16;
		struct pc_finding *v = pc_realloc(f->v, cap * sizeof(*v));

		if (!v)
			goto nomem;
		f->v = v;
		f->cap = cap;
	}
	x = &f->v[f->n];
	x->sev = tmpl->sev;
	x->note = tmpl->note;
	x->line = tmpl->line;
	x->col = tmpl->col;
	ok = dup_str(&x->file, tmpl->file, PC_FINDING_MAX_FILE);
	ok &= dup_str(&x->kind, tmpl->kind, PC_FINDING_MAX_NAME);
	ok &= dup_str(&x->ns, tmpl->ns, PC_FINDING_MAX_NAME);
	ok &= dup_str(&x->name, tmpl->name, PC_FINDING_MAX_NAME);
	ok &= dup_str(&x->path, tmpl->path ? tmpl->path : "", PC_FINDING_MAX_PATH);
	ok &= dup_str(&x->msg, tmpl->msg, PC_FINDING_MAX_MSG);
	if (!ok) {
		finding_release(x);
		goto nomem;
	}
	f->n++;
	if (tmpl->sev == PC_SEV_ERROR)
		f->nerr++;
	else
		f->nwarn++;
	if (!tmpl->note)
		pc_findings_count(f, tmpl->sev);
	return 0;
nomem:
	f->oom = true;
	if (!tmpl->note)
		pc_findings_count(f, tmpl->sev);
	return -ENOMEM;
}

void pc_findings_count(struct pc_findings *f, enum pc_severity sev)
{
	if (sev == PC_SEV_ERROR)
		f->total_err++;
	else
		f->total_warn++;
}

const char *pc_severity_name(enum pc_severity sev)
{
	return sev == PC_SEV_ERROR ? "error" : "warning";
}
