/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * model/manifest.h - load manifests: files and buffers to resources.
 *
 * A manifest is what kubectl takes with -f: any number of YAML or JSON
 * documents separated by "---", each an Istio object or a "kind: List"
 * with "items". Loading decodes every object strictly and runs its kind's
 * validator; problems become findings (model/finding.h), and the loaded
 * resources are kept, valid or not, with their error counts, so that a
 * caller can refuse the whole set (apply) or just report (validate).
 *
 * The manifest owns the node trees and the arena the resources point
 * into; release it only after the last use of its resources.
 */
#ifndef PC_MODEL_MANIFEST_H
#define PC_MODEL_MANIFEST_H

#include <stddef.h>

#include "model/node.h"
#include "model/resource.h"

struct pc_arena;
struct pc_findings;

struct pc_manifest {
	struct pc_arena *arena;          /* decoded values, file names */
	struct pc_yaml_stream **streams; /* node trees, one per loaded input */
	size_t nstreams;
	struct pc_resource *res;
	size_t nres;
	size_t cap;
	struct pc_yaml_limits limits;
};

/* Returns 0 or -ENOMEM. */
int pc_manifest_init(struct pc_manifest *m);
void pc_manifest_release(struct pc_manifest *m);

/*
 * Load <len> bytes of <buf>, naming them <file> in findings. Problems of
 * the input (syntax, limits, empty input) and of each object are added to
 * <out>. Returns 0 (even when the input is invalid), or -ENOMEM.
 */
int pc_manifest_add_buf(struct pc_manifest *m, const char *file, const char *buf, size_t len,
			struct pc_findings *out);

/*
 * Read <path> ("-" for standard input) and load it as pc_manifest_add_buf()
 * does. A file over the size limit is refused without being read whole.
 * Unreadable files are findings too. Returns 0 or -ENOMEM.
 */
int pc_manifest_add_file(struct pc_manifest *m, const char *path, struct pc_findings *out);

#endif /* PC_MODEL_MANIFEST_H */
