/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * daemon/api_reply.c - what each API request answers (doc/api.md).
 *
 * The handlers of daemon/api.c's routes, apart from the HTTP server: they
 * call the control interface (daemon/control.h), which answers in errnos
 * and a struct pc_change_result, and turn that into an HTTP status and a
 * JSON body: a Kubernetes Status for a failure (-ESTALE is 409 Conflict,
 * -ENOENT 404 NotFound, -EINVAL with findings 422 Invalid, -ENODATA 400,
 * -ESHUTDOWN 503, the rest 500), the results, the objects or the status
 * otherwise. They also log each change the API made, once, and write
 * its audit lines (daemon/audit.h).
 */
#include "daemon/api-int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/log.h"
#include "daemon/api.h"
#include "daemon/audit.h"
#include "daemon/control.h"
#include "model/finding.h"
#include "model/node.h"
#include "model/output.h"
#include "model/resource.h"
#include "policy/dump.h"
#include "policy/snapshot.h"
#include "store/store.h"

#ifndef PC_VERSION
#define PC_VERSION "0.0.0"
#endif

static void reply_status_text(struct pc_reply *r, unsigned code, const char *reason,
			      const char *msg, size_t len)
{
	r->status = code;
	pc_buf_clear(&r->body);
	pc_buf_adds(&r->body, "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\","
			      "\"reason\":");
	pc_buf_add_json_str(&r->body, reason, strlen(reason));
	pc_buf_adds(&r->body, ",\"message\":");
	pc_buf_add_json_str(&r->body, msg, len);
	pc_buf_printf(&r->body, ",\"code\":%u}", code);
}

void pc_reply_status(struct pc_reply *r, unsigned code, const char *reason, const char *fmt, ...)
{
	char msg[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	reply_status_text(r, code, reason, msg, strlen(msg));
}

/* "serviceentries.networking.istio.io" */
static const char *resource_name(enum pc_kind kind, char *out, size_t size)
{
	snprintf(out, size, "%s.%s", pc_kind_info(kind)->plural, PC_GROUP);
	return out;
}

/* The errors (or the warnings) of <f> as `portcullis validate` prints them. */
static void findings_text(const struct pc_findings *f, struct pc_buf *out, bool errors)
{
	struct pc_findings sel;
	size_t i;

	pc_findings_init(&sel);
	for (i = 0; i < f->n; i++) {
		if ((f->v[i].sev == PC_SEV_ERROR) == errors)
			pc_findings_add(&sel, &f->v[i]);
	}
	pc_output_sort(&sel);
	pc_output_text_buf(out, &sel);
	pc_findings_release(&sel);
}

/* A refused or failed change as a Kubernetes Status (doc/api.md, "Errors"). */
static void reply_change_error(struct pc_control *ctl, struct pc_reply *r, int ret,
			       const struct pc_change_result *res)
{
	const struct pc_change_object *o = res->failed < res->n ? &res->v[res->failed] : NULL;
	struct pc_buf text = PC_BUF_INIT;
	char rn[128];

	if (ret == -EINVAL && res->findings.total_err) {
		findings_text(&res->findings, &text, true);
		reply_status_text(r, 422, "Invalid", text.p ? text.p : "", text.len);
		pc_buf_release(&text);
	} else if (ret == -ENODATA) {
		pc_reply_status(r, 400, "BadRequest", "%s", res->err.msg);
	} else if (ret == -ESHUTDOWN) {
		pc_reply_status(r, 503, "ServiceUnavailable", "the daemon is shutting down");
	} else if (res->stored || ret == -ENOMEM) {
		pc_reply_status(r, 500, "InternalError", "%s", res->err.msg);
	} else if (ret == -ESTALE && o) {
		pc_reply_status(r, 409, "Conflict",
				"Operation cannot be fulfilled on %s \"%s\": the object has been "
				"modified; please apply your changes to the latest version and try "
				"again",
				resource_name(o->kind, rn, sizeof(rn)), o->name);
	} else if (ret == -ENOENT && o) {
		pc_reply_status(r, 404, "NotFound", "%s \"%s\" not found",
				resource_name(o->kind, rn, sizeof(rn)), o->name);
	} else {
		pc_reply_status(r, 500, "InternalError",
				"cannot write the store in %s: %s; nothing was changed and the "
				"running policy stays in force",
				pc_control_store_name(ctl),
				res->err.msg[0] ? res->err.msg : strerror(-ret));
	}
}

/* One object of a change's "results": {"kind", "namespace", "name", "result"}. */
static void add_result(struct pc_reply *r, size_t i, const struct pc_change_object *o,
		       const char *result)
{
	pc_buf_printf(&r->body, "%s{\"kind\":\"%s\",\"namespace\":", i ? "," : "",
		      pc_kind_info(o->kind)->name);
	pc_buf_add_json_str(&r->body, o->ns, strlen(o->ns));
	pc_buf_adds(&r->body, ",\"name\":");
	pc_buf_add_json_str(&r->body, o->name, strlen(o->name));
	pc_buf_printf(&r->body, ",\"result\":\"%s\"}", result);
}

static void reply_applied(struct pc_reply *r, const struct pc_change_result *res)
{
	struct pc_buf warn = PC_BUF_INIT;
	size_t i;

	r->status = 200;
	pc_buf_printf(&r->body, "{\"revision\":%" PRId64, res->revision);
	if (res->findings.nwarn) {
		findings_text(&res->findings, &warn, false);
		pc_buf_adds(&r->body, ",\"warnings\":");
		pc_buf_add_json_str(&r->body, warn.p ? warn.p : "", warn.len);
		pc_buf_release(&warn);
	}
	pc_buf_adds(&r->body, ",\"results\":[");
	for (i = 0; i < res->n; i++) {
		const struct pc_change_object *o = &res->v[i];

		add_result(r, i, o, pc_store_result_name(o->result));
	}
	pc_buf_adds(&r->body, "]}");
}

/* The log line of a change the API made: once per change, here. */
static void log_change(const char *what, int ret, const struct pc_change_result *res)
{
	size_t i, count[PC_STORE_DELETED + 1] = { 0 };

	if (ret < 0) {
		if (res->stored || (ret != -EINVAL && ret != -ENODATA && ret != -ESTALE &&
				    ret != -ENOENT && ret != -ESHUTDOWN))
			pc_log(PC_LOG_WARN, "change failed", "op=%s err=%s", what,
			       res->err.msg[0] ? res->err.msg : strerror(-ret));
		return;
	}
	for (i = 0; i < res->n; i++)
		count[res->v[i].result]++;
	if (res->lagging) /* revoke.c logged it, with the store's failure */
		return;
	pc_log(PC_LOG_INFO, "change applied",
	       "op=%s revision=%" PRId64 " created=%zu configured=%zu unchanged=%zu deleted=%zu",
	       what, res->revision, count[PC_STORE_CREATED], count[PC_STORE_CONFIGURED],
	       count[PC_STORE_UNCHANGED], count[PC_STORE_DELETED]);
}

/* What the store's failure was, in a few words, for "revoked, not yet persisted: ...". */
static const char *lag_cause(int code)
{
	switch (code) {
	case -ENOSPC:
	case -EDQUOT:
		return "disk full";
	case -EROFS:
		return "store read-only";
	case -EACCES:
		return "store permission denied";
	default:
		return "store I/O error";
	}
}

/*
 * The fields of a delete revoked in memory while the store could not write
 * (doc/api.md, "When the store cannot write"): "persisted" and a message.
 */
static void reply_lag(struct pc_reply *r, const struct pc_change_result *res)
{
	char msg[PC_ERR_MSG_MAX + 256];

	if (!res->lagging)
		return;
	snprintf(msg, sizeof(msg),
		 "revoked, not yet persisted: %s (%s); the proxy no longer allows it and keeps "
		 "trying to store the delete, but a restart before it is stored brings it back",
		 lag_cause(res->err.code), res->err.msg);
	pc_buf_adds(&r->body, ",\"persisted\":false,\"message\":");
	pc_buf_add_json_str(&r->body, msg, strlen(msg));
}

/* The Status reason reply_change_error() gives <code>, for the audit log. */
static const char *reason_of(unsigned code)
{
	switch (code) {
	case 400:
		return "BadRequest";
	case 404:
		return "NotFound";
	case 409:
		return "Conflict";
	case 422:
		return "Invalid";
	case 503:
		return "ServiceUnavailable";
	default:
		return code < 300 ? NULL : "InternalError";
	}
}

static void audit(const struct pc_audit_user *who, const char *verb, int ret,
		  const struct pc_change_result *res, const struct pc_reply *r)
{
	if (who)
		pc_audit_change(who, verb, ret, res, r->status, reason_of(r->status));
}

/* POST /v1/apply: all of <files> or nothing. */
void pc_api_apply(struct pc_control *ctl, const struct pc_upload *files, size_t n,
		  const struct pc_audit_user *who, struct pc_reply *r)
{
	struct pc_change_result res;
	int ret;

	pc_change_result_init(&res);
	ret = pc_control_apply(ctl, files, n, &res);
	log_change("apply", ret, &res);
	if (ret == 0)
		reply_applied(r, &res);
	else
		reply_change_error(ctl, r, ret, &res);
	audit(who, "apply", ret, &res, r);
	pc_change_result_release(&res);
}

static const struct pc_kind_info *kind_arg(const char *kind, struct pc_reply *r)
{
	const struct pc_kind_info *ki = pc_kind_lookup(kind);

	if (!ki)
		pc_reply_status(r, 404, "NotFound",
				"the server doesn't have a resource type \"%s\"", kind);
	return ki;
}

/*
 * A delete refused before it reached the store: its line, with <msg> (not
 * the reply's text, which quotes what the client sent).
 */
static void refused_delete(const struct pc_audit_user *who, const char *kind, const char *name,
			   const struct pc_reply *r, const char *msg)
{
	if (who)
		pc_audit_request(who, "delete", kind && *kind ? kind : NULL,
				 name && *name ? name : NULL, "refused", r->status,
				 reason_of(r->status), msg);
}

/* DELETE /v1/objects. */
void pc_api_delete(struct pc_control *ctl, const char *kind, const char *ns, const char *name,
		   const char *resource_version, const struct pc_audit_user *who,
		   struct pc_reply *r)
{
	const struct pc_kind_info *ki;
	struct pc_change_result res;
	int64_t rv;
	int ret;

	if (!kind || !name || !*name) {
		pc_reply_status(r, 400, "BadRequest", "delete needs kind and name");
		refused_delete(who, kind, name, r, "delete needs kind and name");
		return;
	}
	ki = kind_arg(kind, r);
	if (!ki) {
		refused_delete(who, kind, name, r, "no such resource type");
		return;
	}
	if (pc_store_parse_precondition(resource_version, &rv) < 0) {
		pc_reply_status(r, 400, "BadRequest", "resourceVersion \"%s\" is not a number",
				resource_version);
		refused_delete(who, kind, name, r, "resourceVersion is not a number");
		return;
	}
	pc_change_result_init(&res);
	ret = pc_control_delete(ctl, ki->kind, ns, name, rv, &res);
	log_change("delete", ret, &res);
	if (ret < 0) {
		reply_change_error(ctl, r, ret, &res);
	} else {
		r->status = res.lagging ? 202 : 200;
		pc_buf_printf(&r->body, "{\"revision\":%" PRId64 ",\"kind\":\"%s\",\"namespace\":",
			      res.revision, ki->name);
		pc_buf_add_json_str(&r->body, res.v[0].ns, strlen(res.v[0].ns));
		pc_buf_adds(&r->body, ",\"name\":");
		pc_buf_add_json_str(&r->body, name, strlen(name));
		reply_lag(r, &res);
		pc_buf_adds(&r->body, "}");
	}
	audit(who, "delete", ret, &res, r);
	pc_change_result_release(&res);
}

/* ---- POST /v1/delete: many objects, one transaction ---- */

/* The text of scalar <n>, or NULL. */
static const char *scalar(const struct pc_node *n)
{
	return n && n->type == PC_NODE_SCALAR ? n->str : NULL;
}

static int bad_list(struct pc_reply *r, size_t item, const char *why)
{
	if (item)
		pc_reply_status(r, 400, "BadRequest", "item %zu of the delete list: %s", item, why);
	else
		pc_reply_status(r, 400, "BadRequest", "%s", why);
	return -EINVAL;
}

/* Append the items of one uploaded list to <*t>. Returns 0 or fills <r> (400). */
static int delete_items(const struct pc_node *items, struct pc_delete_target **t, size_t *n,
			struct pc_reply *r)
{
	struct pc_delete_target *nv;
	size_t i;

	if (!items || items->type != PC_NODE_SEQ)
		return bad_list(r, 0,
				"a delete list is {\"items\": [{\"kind\", \"namespace\", "
				"\"name\", \"resourceVersion\"}, ...]}");
	nv = pc_realloc(*t, (*n + items->nitems + 1) * sizeof(*nv));
	if (!nv) {
		pc_reply_status(r, 500, "InternalError", "out of memory");
		return -ENOMEM;
	}
	*t = nv;
	for (i = 0; i < items->nitems; i++) {
		const struct pc_node *it = items->items[i];
		const char *kind = scalar(pc_node_get(it, "kind"));
		const char *rv = scalar(pc_node_get(it, "resourceVersion"));
		const struct pc_kind_info *ki = kind ? pc_kind_lookup(kind) : NULL;
		struct pc_delete_target *d = &nv[*n];

		d->name = scalar(pc_node_get(it, "name"));
		d->ns = scalar(pc_node_get(it, "namespace"));
		if (!ki)
			return bad_list(r, i + 1, "no such kind");
		if (!d->name || !*d->name || pc_store_parse_precondition(rv, &d->expect_rv) < 0)
			return bad_list(r, i + 1,
					"needs a name, and a resourceVersion that is a number");
		d->kind = ki->kind;
		(*n)++;
	}
	return 0;
}

static void reply_deleted(struct pc_reply *r, const struct pc_change_result *res)
{
	size_t i;

	r->status = res->lagging ? 202 : 200;
	pc_buf_printf(&r->body, "{\"revision\":%" PRId64 ",\"results\":[", res->revision);
	for (i = 0; i < res->n; i++) {
		const struct pc_change_object *o = &res->v[i];

		add_result(r, i, o, o->result == PC_STORE_DELETED ? "deleted" : "notfound");
	}
	pc_buf_adds(&r->body, "]");
	reply_lag(r, res);
	pc_buf_adds(&r->body, "}");
}

void pc_api_delete_list(struct pc_control *ctl, const struct pc_upload *files, size_t n,
			const struct pc_audit_user *who, struct pc_reply *r)
{
	/* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
	struct pc_yaml_stream **st = pc_calloc(n ? n : 1, sizeof(*st));
	struct pc_delete_target *t = NULL;
	struct pc_change_result res;
	size_t i, j, nt = 0;
	struct pc_err err;
	int ret = st ? 0 : -ENOMEM;

	if (!st)
		pc_reply_status(r, 500, "InternalError", "out of memory");
	for (i = 0; ret == 0 && i < n; i++) {
		ret = pc_yaml_parse(files[i].data, files[i].len, NULL, &st[i], &err);
		if (ret < 0)
			pc_reply_status(r, 400, "BadRequest", "%s: %s", files[i].name, err.msg);
		for (j = 0; ret == 0 && j < st[i]->ndocs; j++)
			ret = delete_items(pc_node_get(st[i]->docs[j].root, "items"), &t, &nt, r);
	}
	if (ret == 0) {
		pc_change_result_init(&res);
		ret = pc_control_delete_many(ctl, t, nt, &res);
		log_change("delete", ret, &res);
		if (ret < 0)
			reply_change_error(ctl, r, ret, &res);
		else
			reply_deleted(r, &res);
		audit(who, "delete", ret, &res, r);
		pc_change_result_release(&res);
	} else {
		refused_delete(who, NULL, NULL, r, "bad delete list");
	}
	for (i = 0; st && i < n; i++)
		pc_yaml_stream_free(st[i]);
	free(st);
	free(t);
}

struct list_ctx {
	struct pc_buf *body;
	size_t count;
	int ret;
};

static int list_one(const struct pc_store_object *obj, void *data)
{
	struct list_ctx *lc = data;

	if (lc->count++)
		pc_buf_addc(lc->body, ',');
	lc->ret = pc_control_object_json(lc->body, obj);
	return lc->ret;
}

/* GET /v1/objects. <kind>, <ns> and <name> may be NULL (every one). */
void pc_api_list(struct pc_control *ctl, const char *kind, const char *ns, const char *name,
		 struct pc_reply *r)
{
	const struct pc_kind_info *ki = NULL;
	struct list_ctx lc = { &r->body, 0, 0 };
	struct pc_buf items = PC_BUF_INIT;
	struct pc_err err;
	int64_t rev = 0;
	char rn[128];
	int ret;

	if (kind && *kind) {
		ki = kind_arg(kind, r);
		if (!ki)
			return;
	}
	lc.body = &items;
	ret = pc_control_list(ctl, ki ? (int)ki->kind : -1, ns, name, list_one, &lc, &rev, &err);
	if (ret < 0 && ret == lc.ret)
		pc_reply_status(r, 500, "InternalError", "cannot show a stored object: %s",
				strerror(-ret));
	else if (ret < 0)
		pc_reply_status(r, 500, "InternalError", "cannot read the store in %s: %s",
				pc_control_store_name(ctl), err.msg);
	else if (name && lc.count == 0)
		pc_reply_status(r, 404, "NotFound", "%s \"%s\" not found",
				ki ? resource_name(ki->kind, rn, sizeof(rn)) : "objects", name);
	else {
		r->status = 200;
		pc_buf_printf(&r->body, "{\"revision\":%" PRId64 ",\"items\":[", rev);
		pc_buf_add(&r->body, items.p ? items.p : "", items.len);
		pc_buf_adds(&r->body, "]}");
		if (items.oom)
			r->body.oom = true;
	}
	pc_buf_release(&items);
}

/* GET /v1/status. */
void pc_api_status(struct pc_control *ctl, struct pc_reply *r)
{
	struct pc_control_status st;

	struct pc_control_lag lag;

	pc_control_get_status(ctl, &st);
	pc_control_get_lag(ctl, &lag);
	r->status = 200;
	pc_buf_printf(&r->body,
		      "{\"version\":\"%s\",\"revision\":%" PRId64 ",\"policyGeneration\":%" PRIu64
		      ",\"objects\":%zu,\"unpersistedDeletes\":%zu",
		      PC_VERSION, st.revision, st.generation, st.objects, lag.pending);
	if (lag.pending) {
		pc_buf_adds(&r->body, ",\"storeError\":");
		pc_buf_add_json_str(&r->body, lag.cause, strlen(lag.cause));
	}
	pc_buf_addc(&r->body, '}');
}

/* GET /v1/addresses: the auto-allocated addresses of the current policy (doc/dns.md). */
void pc_api_addresses(struct pc_control *ctl, struct pc_reply *r)
{
	struct pc_snapshot *snap = pc_control_snapshot(ctl);

	r->status = 200;
	pc_buf_adds(&r->body, "{\"kind\":\"AddressList\",\"items\":");
	pc_snapshot_vips_json(snap, &r->body);
	pc_buf_addc(&r->body, '}');
	pc_snapshot_unref(snap);
}
