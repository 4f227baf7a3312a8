/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuzz/fuzz_response.c - libFuzzer target: what the CLI does with an API response.
 *
 * `portcullis get` trusts nothing the server sends. The input is parsed as
 * a response body is (the YAML parser, JSON being YAML, under limits);
 * then every object found (the root, or each of its "items", or a watch
 * line's "object") goes through each kind's table row, the AGE parser and
 * both emitters, as `get` would print it, and the strings `get` reads
 * through pc_client_str() are printed with pc_term_puts(). Output goes
 * to /dev/null; only crashes, leaks and sanitizer reports count.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "cli/client.h"
#include "cli/columns.h"
#include "cli/format.h"
#include "cli/term.h"
#include "core/buf.h"
#include "core/err.h"
#include "model/emit.h"
#include "model/node.h"
#include "model/resource.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static FILE *devnull;

static void print_object(const struct pc_node *obj)
{
	const struct pc_node *md = pc_node_get(obj, "metadata");
	struct pc_buf b = PC_BUF_INIT;
	struct pc_columns t;
	time_t when;
	int k;

	for (k = 0; k < PC_KIND_COUNT; k++) {
		pc_columns_init(&t, pc_kind_info((enum pc_kind)k), k % 2 == 0);
		pc_columns_add(&t, obj, 1700000000);
		pc_columns_add(&t, obj, 0);
		pc_columns_flush(&t, devnull);
		pc_columns_release(&t);
	}
	if (pc_client_str(md, "creationTimestamp"))
		(void)pc_format_parse_time(pc_client_str(md, "creationTimestamp"), &when);
	if (pc_client_str(md, "name"))
		pc_term_puts(devnull, pc_client_str(md, "name"));
	if (pc_client_str(obj, "message"))
		pc_term_puts(devnull, pc_client_str(obj, "message"));
	(void)pc_emit_json(&b, obj, PC_EMIT_PRETTY | PC_EMIT_SORT_KEYS);
	(void)pc_emit_yaml(&b, obj);
	pc_buf_release(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pc_yaml_limits lim = { 1u << 20, 128, 0, 1u << 16 };
	const struct pc_node *root, *items;
	struct pc_yaml_stream *st;
	struct pc_err err;
	size_t i, d;

	if (!devnull)
		devnull = fopen("/dev/null", "w");
	if (!devnull || pc_yaml_parse((const char *)data, size, &lim, &st, &err) < 0)
		return 0;
	for (d = 0; d < st->ndocs; d++) {
		root = st->docs[d].root;
		print_object(root);
		items = pc_node_get(root, "items");
		for (i = 0; items && items->type == PC_NODE_SEQ && i < items->nitems; i++)
			print_object(items->items[i]);
		if (pc_node_get(root, "object"))
			print_object(pc_node_get(root, "object"));
	}
	pc_yaml_stream_free(st);
	return 0;
}
