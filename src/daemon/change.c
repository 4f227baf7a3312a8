/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * daemon/change.c - what a change is made of, and objects as the API shows them.
 *
 * A change is one store put per decoded resource: its canonical spec and
 * object texts (compact JSON with sorted keys, so that equal objects are
 * byte-equal and an unchanged apply stays "unchanged"), its
 * resourceVersion precondition, and, for a --config apply with prune,
 * the removals of what the files no longer hold. The reverse direction,
 * a stored object with its server-set metadata merged in, is what list,
 * watch and the admin dump show.
 */
#include "daemon/control-int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "model/emit.h"
#include "model/finding.h"
#include "model/manifest.h"
#include "model/output.h"
#include "store/store.h"

/* ---- objects as the API shows them ---- */

int pc_control_emit(struct pc_buf *b, const struct pc_node *root,
		    const struct pc_store_object *obj)
{
	char rv[24];
	struct pc_emit_meta meta = { 0 };

	snprintf(rv, sizeof(rv), "%" PRId64, obj->resource_version);
	meta.uid = obj->uid;
	meta.resource_version = rv;
	meta.generation = obj->generation;
	meta.creation_timestamp = obj->creation_timestamp;
	meta.namespace = obj->ns;
	meta.strip = true;
	return pc_emit_json_with_meta(b, root, &meta, PC_EMIT_SORT_KEYS);
}

int pc_control_object_json(struct pc_buf *b, const struct pc_store_object *obj)
{
	struct pc_yaml_stream *st;
	struct pc_err err;
	int ret;

	ret = pc_yaml_parse(obj->object_json, strlen(obj->object_json), NULL, &st, &err);
	if (ret < 0)
		return ret;
	ret = st->ndocs == 1 ? pc_control_emit(b, st->docs[0].root, obj) : -EINVAL;
	pc_yaml_stream_free(st);
	return ret;
}

/* ---- the changes of a manifest ---- */

static int put_texts(struct change *ch, const char *source)
{
	struct pc_resource *r = ch->res;
	struct pc_emit_meta meta = { 0 };
	struct pc_buf spec = PC_BUF_INIT, obj = PC_BUF_INIT;
	const struct pc_node *sn = pc_node_get(r->root, "spec");
	int ret;

	meta.namespace = r->meta.ns;
	meta.strip = true;
	if (sn)
		ret = pc_emit_json(&spec, sn, PC_EMIT_SORT_KEYS);
	else
		ret = (pc_buf_adds(&spec, "null"), 0);
	if (ret == 0)
		ret = pc_emit_json_with_meta(&obj, r->root, &meta, PC_EMIT_SORT_KEYS);
	if (ret == 0 && (spec.oom || obj.oom))
		ret = -ENOMEM;
	if (ret < 0) {
		pc_buf_release(&spec);
		pc_buf_release(&obj);
		return ret;
	}
	ch->kind = r->kind;
	ch->put.kind = pc_kind_info(r->kind)->name;
	ch->put.ns = r->meta.ns;
	ch->put.name = r->meta.name;
	ch->put.spec_json = spec.p;
	ch->put.object_json = obj.p;
	ch->put.source = source;
	return 0;
}

void pc_changes_free(struct change *v, size_t n)
{
	size_t i;

	for (i = 0; v && i < n; i++) {
		free((char *)v[i].put.spec_json);
		free((char *)v[i].put.object_json);
	}
	free(v);
}

/* A resourceVersion that is no number this server gives out: an error finding. */
static int bad_rv(struct pc_findings *f, const struct pc_resource *res)
{
	struct pc_finding x = { 0 };
	char msg[PC_ERR_MSG_MAX];

	snprintf(msg, sizeof(msg),
		 "Invalid value: \"%s\": must be a resourceVersion this server returned",
		 res->meta.resource_version);
	x.sev = PC_SEV_ERROR;
	x.file = (char *)res->file;
	x.line = res->line;
	x.col = res->col;
	x.kind = (char *)pc_kind_info(res->kind)->name;
	x.ns = (char *)res->meta.ns;
	x.name = (char *)res->meta.name;
	x.path = (char *)"metadata.resourceVersion";
	x.msg = msg;
	return pc_findings_add(f, &x) < 0 ? -ENOMEM : -EINVAL;
}

/*
 * The changes of every resource of <b>. Returns 0, -EINVAL (a finding in
 * <f>, when not NULL) or -ENOMEM.
 */
int pc_changes_of(struct pc_batch *b, const char *source, struct change **out,
		      struct pc_findings *f)
{
	struct change *v = pc_calloc(b->m.nres ? b->m.nres : 1, sizeof(*v));
	size_t i;
	int ret = v ? 0 : -ENOMEM;

	for (i = 0; ret == 0 && i < b->m.nres; i++) {
		struct pc_resource *res = &b->m.res[i];

		v[i].res = res;
		ret = put_texts(&v[i], source);
		if (ret == 0 && pc_store_parse_precondition(res->meta.resource_version,
								&v[i].put.expect_rv) < 0)
			ret = f ? bad_rv(f, res) : -EINVAL;
	}
	if (ret < 0) {
		pc_changes_free(v, b->m.nres);
		return ret;
	}
	*out = v;
	return 0;
}

static int by_res_key(const void *a, const void *b)
{
	const struct pc_resource *x = *(const struct pc_resource *const *)a;
	const struct pc_resource *y = *(const struct pc_resource *const *)b;
	int d;

	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	d = strcmp(x->meta.ns, y->meta.ns);
	return d ? d : strcmp(x->meta.name ? x->meta.name : "", y->meta.name ? y->meta.name : "");
}

/*
 * Append to <*v> (holding <*n>) a removal for every object that an earlier
 * --config apply made and that <b> no longer holds.
 */
int pc_changes_prune(const struct pc_registry *reg, struct pc_batch *b, struct change **v,
		     size_t *n)
{
	/* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
	struct pc_resource **keys = pc_calloc(b->m.nres ? b->m.nres : 1, sizeof(*keys));
	struct pc_resource probe;
	struct change *nv;
	size_t i;
	int ret = keys ? 0 : -ENOMEM;

	for (i = 0; ret == 0 && i < b->m.nres; i++)
		keys[i] = &b->m.res[i];
	if (ret == 0)
		/* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
		qsort(keys, b->m.nres, sizeof(*keys), by_res_key);
	for (i = 0; ret == 0 && i < reg->n; i++) {
		const struct pc_registry_entry *e = &reg->v[i];
		struct pc_resource *pp = &probe;

		if (strcmp(e->source, PC_STORE_SOURCE_CONFIG) != 0)
			continue;
		probe.kind = e->kind;
		probe.meta.ns = e->ns;
		probe.meta.name = e->name;
		/* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
		if (bsearch(&pp, keys, b->m.nres, sizeof(*keys), by_res_key))
			continue;
		nv = pc_realloc(*v, (*n + 1) * sizeof(**v));
		if (!nv) {
			ret = -ENOMEM;
			break;
		}
		*v = nv;
		memset(&nv[*n], 0, sizeof(nv[*n]));
		nv[*n].kind = e->kind;
		nv[*n].put.kind = pc_kind_info(e->kind)->name;
		nv[*n].put.ns = e->ns;
		nv[*n].put.name = e->name;
		nv[*n].put.remove = true;
		(*n)++;
	}
	free(keys);
	return ret;
}

int pc_config_load(char *const *paths, size_t n, struct pc_config **out)
{
	struct pc_config *cfg = pc_calloc(1, sizeof(*cfg));
	struct pc_findings f;
	size_t i;
	int ret = cfg && (cfg->b = pc_batch_new(NULL)) ? 0 : -ENOMEM;

	pc_findings_init(&f);
	for (i = 0; ret == 0 && i < n; i++)
		ret = pc_manifest_add_file(&cfg->b->m, paths[i], &f);
	if (ret == 0 && f.oom)
		ret = -ENOMEM;
	if (f.n) {
		pc_output_sort(&f);
		pc_output_text(stderr, &f);
	}
	if (ret == 0 && f.total_err)
		ret = -EINVAL;
	pc_findings_release(&f);
	if (ret < 0) {
		pc_config_free(cfg);
		return ret;
	}
	*out = cfg;
	return 0;
}

void pc_config_free(struct pc_config *cfg)
{
	if (cfg)
		pc_batch_put(cfg->b);
	free(cfg);
}
