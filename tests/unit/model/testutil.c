/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * tests/unit/model/testutil.c - helpers for model unit tests.
 */
#include "testutil.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/manifest.h"

struct pc_findings *tu_validate(const char *yaml)
{
	struct pc_findings *f = calloc(1, sizeof(*f));
	struct pc_manifest m;

	ck_assert_ptr_nonnull(f);
	pc_findings_init(f);
	ck_assert_int_eq(pc_manifest_init(&m), 0);
	ck_assert_int_eq(pc_manifest_add_buf(&m, "test.yaml", yaml, strlen(yaml), f), 0);
	pc_manifest_release(&m);
	return f;
}

void tu_dump(const struct pc_findings *f)
{
	size_t i;

	for (i = 0; i < f->n; i++) {
		const struct pc_finding *x = &f->v[i];

		fprintf(stderr, "  %s:%u:%u: %s: [%s] %s\n", x->file, x->line, x->col,
			pc_severity_name(x->sev), x->path, x->msg);
	}
}

static bool matches(const struct pc_finding *x, enum pc_severity sev, const char *path,
		    const char *substring)
{
	return x->sev == sev && strcmp(x->path, path) == 0 &&
	       (!substring || strstr(x->msg, substring));
}

const struct pc_finding *tu_expect(const struct pc_findings *f, enum pc_severity sev,
				   const char *path, const char *substring)
{
	size_t i;

	for (i = 0; i < f->n; i++) {
		if (matches(&f->v[i], sev, path, substring))
			return &f->v[i];
	}
	fprintf(stderr, "expected %s at \"%s\" containing \"%s\"; findings:\n",
		pc_severity_name(sev), path, substring ? substring : "");
	tu_dump(f);
	ck_abort_msg("expected %s at \"%s\" containing \"%s\" not found", pc_severity_name(sev),
		     path, substring ? substring : "");
	return NULL;
}

void tu_expect_at(const struct pc_findings *f, enum pc_severity sev, const char *path,
		  const char *substring, unsigned line, unsigned col)
{
	const struct pc_finding *x = tu_expect(f, sev, path, substring);

	if (x->line != line || x->col != col) {
		tu_dump(f);
		ck_abort_msg("%s: expected %u:%u, got %u:%u", path, line, col, x->line, x->col);
	}
}

void tu_at(const struct pc_finding *x, unsigned line, unsigned col)
{
	ck_assert_ptr_nonnull(x);
	if (getenv("TU_AT_DEBUG") && (x->line != line || x->col != col)) {
		fprintf(stderr, "AT %s: got %u:%u want %u:%u\n", x->path, x->line, x->col, line,
			col);
		return;
	}
	ck_assert_uint_eq(x->line, line);
	ck_assert_uint_eq(x->col, col);
}

size_t tu_count(const struct pc_findings *f, enum pc_severity sev, const char *substring)
{
	size_t i, n = 0;

	for (i = 0; i < f->n; i++)
		n += f->v[i].sev == sev && strstr(f->v[i].msg, substring) != NULL;
	return n;
}

void tu_counts(const struct pc_findings *f, size_t nerr, size_t nwarn)
{
	if (f->nerr != nerr || f->nwarn != nwarn) {
		tu_dump(f);
		ck_abort_msg("expected %zu errors and %zu warnings, got %zu and %zu", nerr, nwarn,
			     f->nerr, f->nwarn);
	}
}

void tu_clean(const char *yaml)
{
	struct pc_findings *f = tu_validate(yaml);

	tu_expect_clean(f);
	tu_free(f);
}

void tu_expect_none(const struct pc_findings *f, const char *path, const char *substring)
{
	size_t i;

	for (i = 0; i < f->n; i++) {
		const struct pc_finding *x = &f->v[i];

		if (strcmp(x->path, path) == 0 && (!substring || strstr(x->msg, substring))) {
			tu_dump(f);
			ck_abort_msg("unexpected finding at \"%s\": %s", path, x->msg);
		}
	}
}

void tu_expect_clean(const struct pc_findings *f)
{
	if (f->n) {
		tu_dump(f);
		ck_abort_msg("expected no findings, got %zu", f->n);
	}
}

void tu_expect_valid(const struct pc_findings *f)
{
	if (f->nerr) {
		tu_dump(f);
		ck_abort_msg("expected no errors, got %zu", f->nerr);
	}
}

void tu_free(struct pc_findings *f)
{
	pc_findings_release(f);
	free(f);
}
