/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * model/vctx.c - validation context.
 */
#include "model/vctx.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/node.h"

void pc_vctx_init(struct pc_vctx *v, struct pc_findings *out, struct pc_arena *arena,
		  const char *file, const struct pc_node *root)
{
	memset(v, 0, sizeof(*v));
	v->out = out;
	v->arena = arena;
	v->file = file;
	v->root = root;
	pc_buf_init(&v->path);
}

void pc_vctx_release(struct pc_vctx *v)
{
	pc_buf_release(&v->path);
}

void pc_vctx_reset(struct pc_vctx *v, const struct pc_node *root)
{
	v->root = root;
	v->kind = NULL;
	v->ns = NULL;
	v->name = NULL;
	pc_buf_clear(&v->path);
	v->depth = 0;
	v->overflow = 0;
	v->nerr = 0;
	v->nwarn = 0;
	v->nfindings = 0;
}

static bool mark(struct pc_vctx *v)
{
	if (v->depth >= PC_VCTX_DEPTH) {
		v->overflow++;
		return false;
	}
	v->marks[v->depth++] = v->path.len;
	return true;
}

void pc_vpush(struct pc_vctx *v, const char *field)
{
	if (!mark(v))
		return;
	if (v->path.len)
		pc_buf_addc(&v->path, '.');
	pc_buf_adds(&v->path, field);
}

void pc_vpush_index(struct pc_vctx *v, size_t index)
{
	if (mark(v))
		pc_buf_printf(&v->path, "[%zu]", index);
}

void pc_vpush_key(struct pc_vctx *v, const char *key)
{
	if (mark(v))
		pc_buf_printf(&v->path, "[%s]", key);
}

void pc_vpop(struct pc_vctx *v)
{
	if (v->overflow) {
		v->overflow--;
		return;
	}
	if (v->depth)
		pc_buf_truncate(&v->path, v->marks[--v->depth]);
}

bool pc_vctx_full(const struct pc_vctx *v)
{
	return v->nfindings > PC_VCTX_MAX_FINDINGS;
}

const char *pc_vpath(const struct pc_vctx *v)
{
	return pc_buf_str(&v->path);
}

/* Step from <n> by one segment: ".name", "name" (at start), "[i]" or "[key]". */
static const struct pc_node *step(const struct pc_node *n, const char **pp)
{
	const char *p = *pp, *end;
	char seg[256];
	size_t len;

	if (*p == '[') {
		end = strchr(p, ']');
		if (!end)
			return NULL;
		len = (size_t)(end - p - 1);
		*pp = end + 1;
		if (len >= sizeof(seg))
			return NULL;
		memcpy(seg, p + 1, len);
		seg[len] = '\0';
		if (n->type == PC_NODE_SEQ) {
			char *e;
			unsigned long i = strtoul(seg, &e, 10);

			return *e == '\0' && i < n->nitems ? n->items[i] : NULL;
		}
		return pc_node_get(n, seg);
	}
	if (*p == '.')
		p++;
	len = strcspn(p, ".[");
	*pp = p + len;
	if (len >= sizeof(seg))
		return NULL;
	memcpy(seg, p, len);
	seg[len] = '\0';
	return pc_node_get(n, seg);
}

const struct pc_node *pc_path_lookup(const struct pc_node *root, const char *path)
{
	const struct pc_node *n = root, *next;
	const char *p = path;

	while (n && *p) {
		next = step(n, &p);
		if (!next || pc_node_is_null(next))
			break;
		n = next;
	}
	return n;
}

static void report(struct pc_vctx *v, enum pc_severity sev, const char *field, const char *fmt,
		   va_list ap) __attribute__((format(printf, 4, 0)));

static void report(struct pc_vctx *v, enum pc_severity sev, const char *field, const char *fmt,
		   va_list ap)
{
	struct pc_finding f = { 0 };
	const struct pc_node *at;
	char msg[1024];
	size_t mark_len = v->path.len;

	if (sev == PC_SEV_ERROR)
		v->nerr++;
	else
		v->nwarn++;
	if (v->nfindings > PC_VCTX_MAX_FINDINGS) {
		pc_findings_count(v->out, sev);
		return;
	}
	if (v->nfindings++ == PC_VCTX_MAX_FINDINGS) {
		/*
		 * Said once, about the resource as a whole, in place of this
		 * finding (counted, not listed); an error as soon as the resource
		 * has one. The path is cut; no later finding of this resource is
		 * kept, so nothing reads it until pc_vctx_reset().
		 */
		pc_findings_count(v->out, sev);
		f.note = true;
		sev = v->nerr ? PC_SEV_ERROR : PC_SEV_WARNING;
		snprintf(msg, sizeof(msg), "too many findings; the rest of this resource's are not shown");
		field = NULL;
		pc_buf_truncate(&v->path, 0);
		v->at = v->root;
	} else {
		vsnprintf(msg, sizeof(msg), fmt, ap);
		pc_utf8_trim(msg); /* a cut message must stay valid UTF-8 */
	}
	if (field) {
		if (v->path.len)
			pc_buf_addc(&v->path, '.');
		pc_buf_adds(&v->path, field);
	}
	at = v->at;
	v->at = NULL;
	if (!at && v->root)
		at = pc_path_lookup(v->root, pc_buf_str(&v->path));
	f.sev = sev;
	f.file = (char *)v->file;
	f.line = at ? at->line : 0;
	f.col = at ? at->col : 0;
	f.kind = (char *)v->kind;
	f.ns = (char *)v->ns;
	f.name = (char *)v->name;
	f.path = (char *)pc_buf_str(&v->path);
	f.msg = msg;
	pc_findings_add(v->out, &f);
	pc_buf_truncate(&v->path, mark_len);
}

void pc_verr(struct pc_vctx *v, const char *field, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report(v, PC_SEV_ERROR, field, fmt, ap);
	va_end(ap);
}

void pc_vwarn(struct pc_vctx *v, const char *field, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report(v, PC_SEV_WARNING, field, fmt, ap);
	va_end(ap);
}
