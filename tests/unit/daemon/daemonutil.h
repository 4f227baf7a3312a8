/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * tests/unit/daemon/daemonutil.h - helpers shared by the daemon's unit tests.
 *
 * JSON replies are parsed with the model's YAML reader (JSON is YAML) and
 * read with a small path syntax; the parsed trees live until
 * du_json_release(), which a test's teardown calls. se_yaml() writes a
 * ServiceEntry manifest for one address and port. Every helper fails the
 * running Check test on bad input instead of returning an error.
 */
#ifndef PC_TESTS_DAEMONUTIL_H
#define PC_TESTS_DAEMONUTIL_H

#include <stddef.h>

struct pc_node;

/* Parse JSON text (one document); the tree lives until du_json_release(). */
const struct pc_node *json(const char *text, size_t len);

/* Free every tree json() returned. */
void du_json_release(void);

/*
 * Follow <path> from <n>: keys separated by '.', each optionally followed
 * by [i] ("results[0].result", "items[1].metadata.uid"). NULL when absent.
 */
const struct pc_node *jp(const struct pc_node *n, const char *path);

/* The scalar text at <path>; fails the test when there is none. */
const char *js(const struct pc_node *n, const char *path);

/* The scalar at <path> as a number. */
long long ji(const struct pc_node *n, const char *path);

/* The length of the array at <path>; fails the test when there is none. */
size_t jlen(const struct pc_node *n, const char *path);

/*
 * A ServiceEntry <name> in <ns> for <addr>:<port>; <meta> adds lines under
 * metadata. The text is in one of 8 rotating static buffers.
 */
char *se_yaml(const char *ns, const char *name, const char *addr, unsigned port,
	      const char *meta);

/* se_yaml() in namespace default, without extra metadata. */
char *se(const char *name, const char *addr, unsigned port);

#endif /* PC_TESTS_DAEMONUTIL_H */
