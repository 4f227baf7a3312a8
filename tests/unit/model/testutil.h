/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * tests/unit/model/testutil.h - helpers for model unit tests.
 *
 * tu_validate() loads a YAML string as the manifest "test.yaml" and returns
 * its findings; tu_expect() asserts (with Check) that a finding with the
 * given severity, exact path and message substring exists and returns it
 * so the test can assert its line and column.
 */
#ifndef PC_TESTS_TESTUTIL_H
#define PC_TESTS_TESTUTIL_H

#include <stddef.h>

#include "model/finding.h"

struct pc_findings *tu_validate(const char *yaml);

/* The first finding matching all three; fails the test when none does. */
const struct pc_finding *tu_expect(const struct pc_findings *f, enum pc_severity sev,
				   const char *path, const char *substring);

/*
 * tu_expect(), then fail the test (printing every finding) unless that
 * finding is at <line>:<col>.
 */
void tu_expect_at(const struct pc_findings *f, enum pc_severity sev, const char *path,
		  const char *substring, unsigned line, unsigned col);

/*
 * Fail the test unless finding <x> is non-NULL and at <line>:<col>. With
 * TU_AT_DEBUG set in the environment a wrong position is printed instead
 * of failing, to collect every mismatch of a test in one run.
 */
void tu_at(const struct pc_finding *x, unsigned line, unsigned col);

/* The number of findings of <sev> whose message contains <substring> (any path). */
size_t tu_count(const struct pc_findings *f, enum pc_severity sev, const char *substring);

/* Fails the test unless there are exactly <nerr> errors and <nwarn> warnings. */
void tu_counts(const struct pc_findings *f, size_t nerr, size_t nwarn);

/* tu_validate(<yaml>), tu_expect_clean() and tu_free() in one. */
void tu_clean(const char *yaml);

/* Fails the test when any finding matches <path> (and <substring>, when not NULL). */
void tu_expect_none(const struct pc_findings *f, const char *path, const char *substring);

/* Fails the test unless there are no errors and no warnings. */
void tu_expect_clean(const struct pc_findings *f);

/* Fails the test unless there are no errors (warnings allowed). */
void tu_expect_valid(const struct pc_findings *f);

/* Print every finding to stderr (debugging aid). */
void tu_dump(const struct pc_findings *f);

void tu_free(struct pc_findings *f);

#endif /* PC_TESTS_TESTUTIL_H */
