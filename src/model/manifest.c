/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * model/manifest.c - manifests to resources.
 *
 * The per-object path is: top-level shape (apiVersion, kind, metadata,
 * spec, status; anything else is an unknown field), the kind and version
 * check, ObjectMeta as the Kubernetes API server validates it for a custom
 * resource, the strict typed decode of spec, and finally the kind's
 * validator (Istio's webhook rules). Each step reports what it finds and
 * the walk continues, so one run shows every problem of every object.
 */
#include "model/manifest.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "model/decode.h"
#include "model/finding.h"
#include "model/rules.h"
#include "model/vctx.h"

static const struct pc_field meta_fields[] = {
	PC_FIELD("name", PC_FT_STRING, struct pc_object_meta, name),
	PC_FIELD("namespace", PC_FT_STRING, struct pc_object_meta, ns),
	PC_FIELD("generateName", PC_FT_STRING, struct pc_object_meta, generate_name),
	PC_FIELD("uid", PC_FT_STRING, struct pc_object_meta, uid),
	PC_FIELD("resourceVersion", PC_FT_STRING, struct pc_object_meta, resource_version),
	PC_FIELD("creationTimestamp", PC_FT_STRING, struct pc_object_meta, creation_timestamp),
	PC_FIELD("deletionTimestamp", PC_FT_STRING, struct pc_object_meta, deletion_timestamp),
	PC_FIELD("selfLink", PC_FT_STRING, struct pc_object_meta, self_link),
	PC_FIELD("generation", PC_FT_INT64, struct pc_object_meta, generation),
	PC_FIELD("deletionGracePeriodSeconds", PC_FT_INT64, struct pc_object_meta,
		 deletion_grace_period_seconds),
	PC_FIELD("labels", PC_FT_STRMAP, struct pc_object_meta, labels),
	PC_FIELD("annotations", PC_FT_STRMAP, struct pc_object_meta, annotations),
	PC_FIELD("finalizers", PC_FT_STRLIST, struct pc_object_meta, finalizers),
	PC_FIELD("ownerReferences", PC_FT_ANY, struct pc_object_meta, owner_references),
	PC_FIELD("managedFields", PC_FT_ANY, struct pc_object_meta, managed_fields),
	PC_FIELD_END,
};

static const struct pc_schema meta_schema = {
	"ObjectMeta", sizeof(struct pc_object_meta), meta_fields, NULL,
};

/* The top level of an object; only used to reject unknown fields. */
struct top {
	struct pc_msg hdr;
	const char *api_version;
	const char *kind;
	const struct pc_node *metadata;
	const struct pc_node *spec;
	const struct pc_node *status;
	const struct pc_node *items;
};

static const struct pc_field top_fields[] = {
	PC_FIELD("apiVersion", PC_FT_STRING, struct top, api_version),
	PC_FIELD("kind", PC_FT_STRING, struct top, kind),
	PC_FIELD("metadata", PC_FT_ANY, struct top, metadata),
	PC_FIELD("spec", PC_FT_ANY, struct top, spec),
	PC_FIELD("status", PC_FT_ANY, struct top, status),
	PC_FIELD_END,
};

static const struct pc_schema top_schema = { "Object", sizeof(struct top), top_fields, NULL };

static const struct pc_field list_fields[] = {
	PC_FIELD("apiVersion", PC_FT_STRING, struct top, api_version),
	PC_FIELD("kind", PC_FT_STRING, struct top, kind),
	PC_FIELD("metadata", PC_FT_ANY, struct top, metadata),
	PC_FIELD("items", PC_FT_ANY, struct top, items),
	PC_FIELD_END,
};

static const struct pc_schema list_schema = { "List", sizeof(struct top), list_fields, NULL };

#define SUBDOMAIN_MSG                                                                             \
	"a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "     \
	"'-' or '.', and must start and end with an alphanumeric character (e.g. "                \
	"'example.com', regex used for validation is "                                            \
	"'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
#define LABEL_MSG                                                                                 \
	"a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "  \
	"and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', "  \
	"regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"

/* Kubernetes' qualified name: ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9], <= 63. */
static bool k8s_name_part(const char *s)
{
	size_t n = strlen(s), i;

	if (n == 0 || n > 63)
		return false;
	for (i = 0; i < n; i++) {
		char c = s[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');

		if (!alnum && ((i == 0 || i == n - 1) || !strchr("-_.", c)))
			return false;
	}
	return true;
}

/* Kubernetes' IsQualifiedName: [prefix/]name with a DNS subdomain prefix. */
static bool k8s_qualified_name(const char *s)
{
	const char *slash = strchr(s, '/');
	char prefix[254];

	if (!slash)
		return k8s_name_part(s);
	if ((size_t)(slash - s) >= sizeof(prefix))
		return false;
	memcpy(prefix, s, (size_t)(slash - s));
	prefix[slash - s] = '\0';
	return pc_is_k8s_dns1123_subdomain(prefix) && k8s_name_part(slash + 1);
}

static void check_k8s_labels(struct pc_vctx *v, const struct pc_strmap *labels)
{
	size_t i;

	pc_vpush(v, "labels");
	for (i = 0; i < labels->n; i++) {
		const char *val = labels->vals[i];

		pc_vpush_key(v, labels->keys[i]);
		if (!k8s_qualified_name(labels->keys[i]))
			pc_verr(v, NULL,
				"Invalid value: \"%s\": name part must consist of alphanumeric "
				"characters, '-', '_' or '.', and must start and end with an "
				"alphanumeric character, at most 63 characters, with an optional "
				"DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
				labels->keys[i]);
		if (*val && !k8s_name_part(val))
			pc_verr(v, NULL,
				"Invalid value: \"%s\": a valid label must be an empty string or "
				"consist of alphanumeric characters, '-', '_' or '.', and must start "
				"and end with an alphanumeric character, at most 63 characters",
				val);
		pc_vpop(v);
	}
	pc_vpop(v);
}

static void check_k8s_annotations(struct pc_vctx *v, const struct pc_strmap *ann)
{
	size_t i, total = 0;

	pc_vpush(v, "annotations");
	for (i = 0; i < ann->n; i++) {
		total += strlen(ann->keys[i]) + strlen(ann->vals[i]);
		if (!k8s_qualified_name(ann->keys[i])) {
			pc_vpush_key(v, ann->keys[i]);
			pc_verr(v, NULL,
				"Invalid value: \"%s\": annotation keys must be qualified names "
				"(e.g. 'example.com/my-key')",
				ann->keys[i]);
			pc_vpop(v);
		}
	}
	if (total > (size_t)256 * 1024)
		pc_verr(v, NULL, "Too long: must have at most 262144 bytes");
	pc_vpop(v);
}

static void check_meta(struct pc_vctx *v, struct pc_object_meta *m)
{
	pc_vpush(v, "metadata");
	if (!m->name || !*m->name) {
		pc_verr(v, "name", "Required value: name is required");
	} else if (!pc_is_k8s_dns1123_subdomain(m->name)) {
		pc_verr(v, "name", "Invalid value: \"%s\": " SUBDOMAIN_MSG, m->name);
	}
	if (m->ns && !pc_is_k8s_dns1123_label(m->ns))
		pc_verr(v, "namespace", "Invalid value: \"%s\": " LABEL_MSG, m->ns);
	check_k8s_labels(v, &m->labels);
	check_k8s_annotations(v, &m->annotations);
	pc_vpop(v);
}

static struct pc_resource *new_resource(struct pc_manifest *m)
{
	if (m->nres == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 16;
		struct pc_resource *r = pc_realloc(m->res, cap * sizeof(*r));

		if (!r)
			return NULL;
		m->res = r;
		m->cap = cap;
	}
	memset(&m->res[m->nres], 0, sizeof(m->res[0]));
	return &m->res[m->nres++];
}

/* apiVersion and kind; returns the kind or NULL (after reporting). */
static const struct pc_kind_info *check_type(struct pc_vctx *v, const struct top *t)
{
	const struct pc_kind_info *k = NULL;

	if (!t->kind || !*t->kind) {
		pc_verr(v, "kind", "Required value: kind is missing; supported kinds: %s",
			pc_kind_names());
	} else {
		k = pc_kind_by_name(t->kind);
		if (!k) {
			const struct pc_kind_info *near = pc_kind_lookup(t->kind);

			if (near)
				pc_verr(v, "kind",
					"unsupported kind \"%s\" (did you mean \"%s\"?); supported "
					"kinds: %s",
					t->kind, near->name, pc_kind_names());
			else
				pc_verr(v, "kind", "unsupported kind \"%s\"; supported kinds: %s",
					t->kind, pc_kind_names());
		}
	}
	if (!t->api_version || !*t->api_version)
		pc_verr(v, "apiVersion",
			"Required value: apiVersion is missing; supported: " PC_GROUP
			"/v1alpha3, " PC_GROUP "/v1beta1, " PC_GROUP "/v1");
	else if (!pc_api_version_ok(t->api_version))
		pc_verr(v, "apiVersion",
			"unsupported apiVersion \"%s\"; supported: " PC_GROUP "/v1alpha3, " PC_GROUP
			"/v1beta1, " PC_GROUP "/v1",
			t->api_version);
	return k;
}

static void finish(struct pc_vctx *v, struct pc_resource *r)
{
	r->nerr = v->nerr;
	r->nwarn = v->nwarn;
}

static int load_object(struct pc_manifest *m, struct pc_vctx *v, const struct pc_node *root)
{
	const struct pc_kind_info *k;
	struct pc_resource *r;
	struct top t = { 0 };
	int ret;

	r = new_resource(m);
	if (!r)
		return -ENOMEM;
	r->root = root;
	r->file = v->file;
	r->line = root->line;
	r->col = root->col;
	r->meta.ns = "default";
	ret = pc_decode(v, &top_schema, root, &t);
	if (ret < 0 || !t.hdr.node)
		return ret;
	v->kind = t.kind; /* as written, until it is known to be ours */
	r->api_version = t.api_version;
	if (t.metadata) {
		pc_vpush(v, "metadata");
		ret = pc_decode(v, &meta_schema, t.metadata, &r->meta);
		pc_vpop(v);
		if (ret < 0)
			return ret;
	} else {
		pc_verr(v, "metadata", "Required value: metadata.name is required");
	}
	if (!r->meta.ns || !*r->meta.ns)
		r->meta.ns = "default";
	v->ns = r->meta.ns;
	v->name = r->meta.name;
	k = check_type(v, &t);
	if (k) {
		r->kind = k->kind;
		v->kind = k->name;
	}
	if (t.metadata)
		check_meta(v, &r->meta);
	if (!k) {
		finish(v, r);
		r->nerr += !r->nerr; /* unknown kinds are never valid */
		return 0;
	}
	if (!t.spec) {
		pc_verr(v, "spec", "Required value: %s needs a spec", k->name);
		finish(v, r);
		return 0;
	}
	pc_vpush(v, "spec");
	r->spec = pc_decode_new(v, k->spec_schema, t.spec);
	pc_vpop(v);
	if (!r->spec)
		return -ENOMEM;
	if (((const struct pc_msg *)r->spec)->node)
		k->validate(v, r);
	finish(v, r);
	return 0;
}

static int load_list(struct pc_manifest *m, struct pc_vctx *v, const struct pc_node *root)
{
	struct top t = { 0 };
	const struct pc_node *items;
	size_t i;
	int ret;

	ret = pc_decode(v, &list_schema, root, &t);
	if (ret < 0)
		return ret;
	items = t.items;
	if (!items) {
		pc_verr(v, "items", "Required value: a List needs items");
		return 0;
	}
	if (items->type != PC_NODE_SEQ) {
		pc_verr(v, "items", "expected an array, got %s", pc_node_kind_name(items));
		return 0;
	}
	for (i = 0; i < items->nitems; i++) {
		const struct pc_node *it = items->items[i];

		if (pc_node_is(pc_node_get(it, "kind"), "List")) {
			pc_vctx_reset(v, it);
			pc_verr(v, "kind", "a List may not contain another List");
			continue;
		}
		pc_vctx_reset(v, it);
		ret = load_object(m, v, it);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static int load_doc(struct pc_manifest *m, struct pc_vctx *v, const struct pc_node *root)
{
	pc_vctx_reset(v, root);
	if (root->type == PC_NODE_MAP && pc_node_is(pc_node_get(root, "kind"), "List"))
		return load_list(m, v, root);
	if (root->type != PC_NODE_MAP) {
		pc_verr(v, NULL, "a manifest document must be an object (mapping), not %s",
			pc_node_kind_name(root));
		return 0;
	}
	return load_object(m, v, root);
}

int pc_manifest_init(struct pc_manifest *m)
{
	memset(m, 0, sizeof(*m));
	pc_yaml_limits_default(&m->limits);
	/* small: the daemon keeps one manifest per apply, often of one object */
	m->arena = pc_arena_new((size_t)16 * 1024);
	return m->arena ? 0 : -ENOMEM;
}

void pc_manifest_release(struct pc_manifest *m)
{
	size_t i;

	for (i = 0; i < m->nstreams; i++)
		pc_yaml_stream_free(m->streams[i]);
	free(m->streams);
	free(m->res);
	pc_arena_free(m->arena);
	memset(m, 0, sizeof(*m));
}

static int file_finding(struct pc_findings *out, const char *file, unsigned line, unsigned col,
			const char *msg)
{
	struct pc_finding f = { 0 };

	f.sev = PC_SEV_ERROR;
	f.file = (char *)file;
	f.line = line;
	f.col = col;
	f.msg = (char *)msg;
	return pc_findings_add(out, &f);
}

static int keep_stream(struct pc_manifest *m, struct pc_yaml_stream *s)
{
	/* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
	struct pc_yaml_stream **v = pc_realloc(m->streams, (m->nstreams + 1) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	m->streams = v;
	m->streams[m->nstreams++] = s;
	return 0;
}

int pc_manifest_add_buf(struct pc_manifest *m, const char *file, const char *buf, size_t len,
			struct pc_findings *out)
{
	struct pc_yaml_stream *s = NULL;
	struct pc_vctx v;
	struct pc_err err;
	const char *name;
	size_t i, objects = 0;
	int ret;

	name = pc_arena_strdup(m->arena, file);
	if (!name)
		return -ENOMEM;
	pc_err_clear(&err);
	ret = pc_yaml_parse(buf, len, &m->limits, &s, &err);
	if (ret == -ENOMEM)
		return ret;
	if (ret < 0)
		return file_finding(out, name, err.line, err.col, err.msg) < 0 ? -ENOMEM : 0;
	ret = keep_stream(m, s);
	if (ret < 0) {
		pc_yaml_stream_free(s);
		return ret;
	}
	pc_vctx_init(&v, out, m->arena, name, NULL);
	for (i = 0; i < s->ndocs && ret == 0; i++) {
		if (!s->docs[i].root)
			continue; /* empty documents are skipped, as kubectl does */
		objects++;
		ret = load_doc(m, &v, s->docs[i].root);
	}
	pc_vctx_release(&v);
	if (ret == 0 && objects == 0)
		ret = file_finding(out, name, 0, 0, "no objects found (the input is empty)");
	return ret < 0 ? -ENOMEM : 0;
}


int pc_manifest_add_file(struct pc_manifest *m, const char *path, struct pc_findings *out)
{
	const char *name = strcmp(path, "-") == 0 ? "<stdin>" : path;
	char msg[PC_ERR_MSG_MAX];
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	int fd, ret;

	fd = strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1) {
		snprintf(msg, sizeof(msg), "cannot open: %s", strerror(errno));
		return file_finding(out, name, 0, 0, msg) < 0 ? -ENOMEM : 0;
	}
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (size_t)st.st_size > m->limits.max_bytes) {
		ret = -EFBIG;
	} else if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		ret = -EISDIR;
	} else {
		ret = pc_read_all(fd, m->limits.max_bytes, &buf, &len);
	}
	if (fd != STDIN_FILENO)
		close(fd);
	if (ret == -ENOMEM)
		return ret;
	if (ret == -EFBIG) {
		snprintf(msg, sizeof(msg),
			 "input is larger than the limit of %zu bytes (%zu MiB); split it into "
			 "several files",
			 m->limits.max_bytes, m->limits.max_bytes >> 20);
		return file_finding(out, name, 0, 0, msg) < 0 ? -ENOMEM : 0;
	}
	if (ret < 0) {
		snprintf(msg, sizeof(msg), "cannot read: %s", strerror(-ret));
		return file_finding(out, name, 0, 0, msg) < 0 ? -ENOMEM : 0;
	}
	ret = pc_manifest_add_buf(m, name, buf, len, out);
	free(buf);
	return ret;
}
