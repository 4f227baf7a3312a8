/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuzz/fuzz_manifest.c - libFuzzer target: YAML/JSON decode + validate.
 *
 * Feeds arbitrary bytes through the whole manifest path (libyaml events,
 * the node tree with its limits, strict typed decoding, every kind's
 * validator) and checks two invariants besides "no crash, no leak": a
 * resource counted as invalid has its errors reported (findings are capped
 * per resource, so counts may exceed what is listed, but never silently),
 * and every finding names a file and says something.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "model/finding.h"
#include "model/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pc_findings f;
	struct pc_manifest m;
	size_t i, nerr = 0;

	pc_findings_init(&f);
	if (pc_manifest_init(&m) < 0)
		return 0;
	if (pc_manifest_add_buf(&m, "fuzz.yaml", (const char *)data, size, &f) == 0 && !f.oom) {
		for (i = 0; i < m.nres; i++)
			nerr += m.res[i].nerr;
		if (nerr > 0 && f.nerr == 0)
			abort(); /* a resource counted errors that were never reported */
		for (i = 0; i < f.n; i++) {
			if (!f.v[i].file || !f.v[i].msg || !f.v[i].msg[0])
				abort();
		}
	}
	pc_manifest_release(&m);
	pc_findings_release(&f);
	return 0;
}
