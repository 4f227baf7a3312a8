/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * model/emit.h - a node tree as JSON or block YAML, typed as Kubernetes types it.
 *
 * The live-config API stores objects as canonical JSON and hands them back
 * the way `kubectl get -o json|yaml` does. Kubernetes reads a manifest with
 * go-yaml v2 and converts it to JSON (sigs.k8s.io/yaml), so a plain "yes"
 * becomes true, 0x1F becomes 31 and 1.50 becomes 1.5; we emit exactly that:
 *
 *   - plain scalars resolve by pc_scalar_kind(): null, true/false (every
 *     YAML 1.1 spelling), integers in decimal (an integer beyond int64
 *     becomes a uint64, else a float, else a string, as go-yaml does),
 *     finite floats as Go's encoding/json writes them (shortest round-trip
 *     digits, 2.0 -> 2, 1e21 -> 1e+21, 1e-7 -> 1e-7); everything else is a
 *     string, always valid UTF-8 (invalid bytes become U+FFFD);
 *   - mapping keys become strings as sigs.k8s.io/yaml makes them: a bool
 *     key is "true"/"false", an integer key its decimal, a float key Go's
 *     FormatFloat(f, 'g', -1, 32); a null key is an error (Kubernetes
 *     rejects it too);
 *   - .inf and .nan values are errors: JSON cannot hold them.
 *
 * The YAML output re-parses (pc_yaml_parse) to the same JSON: strings that
 * would re-type, or that plain YAML cannot carry, are quoted.
 *
 * On failure every function leaves <out> as it was on entry (its length is
 * restored; the bytes past it are unspecified). Nothing here keeps a
 * reference to its inputs. Pure functions, safe from any thread.
 */
#ifndef PC_MODEL_EMIT_H
#define PC_MODEL_EMIT_H

#include <stdbool.h>

struct pc_buf;
struct pc_node;

/* Indent with 4 spaces per level (as kubectl), ": " between key and value, one value per line. */
#define PC_EMIT_PRETTY    0x1u
/* Sort mapping keys bytewise (as Go sorts map keys): the canonical form. */
#define PC_EMIT_SORT_KEYS 0x2u

/*
 * Append <n> as JSON to <out>, compact ({"a":1,"b":[true]}) unless <flags>
 * has PC_EMIT_PRETTY; mappings keep source order unless PC_EMIT_SORT_KEYS.
 * No trailing newline. A NULL <n> (an empty document) is "null".
 *
 * Returns 0; -EINVAL for .inf/.nan values, null keys, or (with
 * PC_EMIT_SORT_KEYS only) two keys that become the same string, such as 1
 * and 0x1; -ENOMEM.
 */
int pc_emit_json(struct pc_buf *out, const struct pc_node *n, unsigned flags);

/*
 * Append <n> as a block-style YAML document (no "---"), the layout of
 * `kubectl get -o yaml`: 2-space indentation, a sequence under a key at the
 * key's column, "- key: v" for a mapping in a sequence, {} and [] for empty
 * collections, every line ending in '\n'. Mappings keep source order.
 * Strings are plain when that re-reads as the same string, else single-
 * quoted, else (control or non-printable characters, line breaks) double-
 * quoted with escapes.
 *
 * Returns 0, -EINVAL (as pc_emit_json()) or -ENOMEM.
 */
int pc_emit_yaml(struct pc_buf *out, const struct pc_node *n);

/*
 * Server-set metadata for pc_emit_json_with_meta(). A NULL string or a
 * <generation> <= 0 (Kubernetes counts from 1) leaves that field alone.
 */
struct pc_emit_meta {
	const char *uid;
	const char *resource_version;
	long long generation;
	const char *creation_timestamp;
	const char *namespace; /* added only when the object has none */
	bool strip; /* first drop the server-set fields the object carries (uid, resourceVersion,
		       generation, creationTimestamp, selfLink, managedFields, deletion*) */
};

/*
 * Emit mapping <obj> like pc_emit_json() with <meta> merged into its
 * "metadata" mapping and its "status" dropped. Existing metadata keys keep
 * their order; uid, resourceVersion, generation and creationTimestamp
 * replace same-named keys in place, and fields not present are appended in
 * ObjectMeta order (namespace, uid, resourceVersion, generation,
 * creationTimestamp). The strings are emitted as strings whatever they look
 * like. A missing or null "metadata" is created after apiVersion/kind.
 *
 * Returns 0; -EINVAL when <obj> is not a mapping, its "metadata" is neither
 * a mapping nor null, or as pc_emit_json(); -ENOMEM.
 */
int pc_emit_json_with_meta(struct pc_buf *out, const struct pc_node *obj,
			   const struct pc_emit_meta *meta, unsigned flags);

/* pc_emit_yaml() of <obj> merged with <meta> as pc_emit_json_with_meta() does. */
int pc_emit_yaml_with_meta(struct pc_buf *out, const struct pc_node *obj,
			   const struct pc_emit_meta *meta);

#endif /* PC_MODEL_EMIT_H */
