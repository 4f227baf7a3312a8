/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * tests/unit/daemon/daemonutil.c - helpers shared by the daemon's unit
 * tests (daemonutil.h).
 */
#include "daemonutil.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "model/node.h"

static struct pc_yaml_stream **parsed;
static size_t nparsed, capparsed;

const struct pc_node *json(const char *text, size_t len)
{
	struct pc_yaml_stream *st = NULL;
	struct pc_err err;
	int ret = pc_yaml_parse(text, len, NULL, &st, &err);

	ck_assert_msg(ret == 0, "not JSON (%s): %.*s", err.msg, (int)len, text);
	if (nparsed == capparsed) {
		capparsed = capparsed ? 2 * capparsed : 64;
		parsed = pc_xrealloc(parsed, capparsed * sizeof(*parsed)); /* aborts on failure */
	}
	parsed[nparsed++] = st;
	ck_assert_uint_eq(st->ndocs, 1);
	return st->docs[0].root;
}

/*
 * Follow <path> from <n>: keys separated by '.', each optionally followed
 * by [i] ("results[0].result", "items[1].metadata.uid"). NULL when absent.
 */
const struct pc_node *jp(const struct pc_node *n, const char *path)
{
	char key[128];

	while (n && *path) {
		size_t k = strcspn(path, ".[");

		ck_assert_uint_lt(k, sizeof(key));
		if (k) {
			memcpy(key, path, k);
			key[k] = '\0';
			n = pc_node_get(n, key);
		}
		path += k;
		while (n && *path == '[') {
			unsigned long i = strtoul(path + 1, NULL, 10);

			n = n->type == PC_NODE_SEQ && i < n->nitems ? n->items[i] : NULL;
			path = strchr(path, ']') + 1;
		}
		if (*path == '.')
			path++;
	}
	return n;
}

/* The scalar text at <path>; fails the test when there is none. */
const char *js(const struct pc_node *n, const char *path)
{
	const struct pc_node *v = jp(n, path);

	ck_assert_msg(v && v->type == PC_NODE_SCALAR, "no scalar at %s", path);
	return v->str;
}

long long ji(const struct pc_node *n, const char *path)
{
	return strtoll(js(n, path), NULL, 10);
}

size_t jlen(const struct pc_node *n, const char *path)
{
	const struct pc_node *v = jp(n, path);

	ck_assert_msg(v && v->type == PC_NODE_SEQ, "no array at %s", path);
	return v->nitems;
}

/* A ServiceEntry <name> in <ns> for <addr>:<port>; <meta> adds lines under metadata. */
char *se_yaml(const char *ns, const char *name, const char *addr, unsigned port,
		     const char *meta)
{
	static char bufs[8][1024];
	static unsigned next;
	char *b = bufs[next++ % 8];

	snprintf(b, sizeof(bufs[0]),
		 "apiVersion: networking.istio.io/v1\n"
		 "kind: ServiceEntry\n"
		 "metadata:\n"
		 "  name: \"%s\"\n"
		 "  namespace: \"%s\"\n"
		 "%s"
		 "spec:\n"
		 "  hosts: [%s.example.com]\n"
		 "  addresses: [%s/32]\n"
		 "  ports:\n"
		 "  - {name: tcp, number: %u, protocol: TCP}\n"
		 "  location: MESH_EXTERNAL\n"
		 "  resolution: NONE\n",
		 name, ns, meta ? meta : "", name, addr, port);
	return b;
}

char *se(const char *name, const char *addr, unsigned port)
{
	return se_yaml("default", name, addr, port, NULL);
}

void du_json_release(void)
{
	size_t i;

	for (i = 0; i < nparsed; i++)
		pc_yaml_stream_free(parsed[i]);
	free(parsed);
	parsed = NULL;
	nparsed = capparsed = 0;
}
