/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * store/store.c - the store interface: pick a backend by URI, dispatch to it.
 *
 * What is the same for every backend lives here too: the result names,
 * the release of a fetched object, and delete as an apply of one removal
 * (so every backend logs deletions for its watchers the same way).
 */
#include "store/store.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

static const struct pc_store_ops *const backends[] = {
	&pc_store_sqlite_ops,
};

const char *pc_store_result_name(enum pc_store_result r)
{
	switch (r) {
	case PC_STORE_CREATED:
		return "created";
	case PC_STORE_CONFIGURED:
		return "configured";
	case PC_STORE_UNCHANGED:
		return "unchanged";
	case PC_STORE_DELETED:
		return "deleted";
	}
	return "?";
}

/*
 * The backend of <uri> and where its data is: "scheme:rest" for a scheme
 * a backend serves; a string without a known scheme is a SQLite
 * directory (--state-dir), so a path with a colon in it still works.
 */
static const struct pc_store_ops *backend_of(const char *uri, const char **where)
{
	size_t i, len;

	for (i = 0; i < sizeof(backends) / sizeof(backends[0]); i++) {
		len = strlen(backends[i]->scheme);
		if (strncmp(uri, backends[i]->scheme, len) == 0 && uri[len] == ':') {
			*where = uri + len + 1;
			return backends[i];
		}
	}
	*where = uri;
	return strstr(uri, "://") ? NULL : &pc_store_sqlite_ops;
}

const char *pc_store_uri_path(const char *uri)
{
	const char *where;

	if (!uri)
		return "";
	return backend_of(uri, &where) ? where : uri;
}

/*
 * The backend of <uri> and its location in <where>, or NULL with the error
 * in <err> and <*ret>.
 */
static const struct pc_store_ops *backend_for(const char *uri, const char **where, int *ret,
					      struct pc_err *err)
{
	const struct pc_store_ops *ops = NULL;

	if (!uri || !*uri)
		*ret = pc_err_set(err, -EINVAL, "no state directory given");
	else if (!(ops = backend_of(uri, where)))
		*ret = pc_err_set(err, -EPROTONOSUPPORT,
				  "no store backend for \"%s\" in this build (it has: sqlite:DIR)",
				  uri);
	return ops;
}

int pc_store_open(const char *uri, struct pc_store **out, struct pc_err *err)
{
	const char *where;
	int ret;
	const struct pc_store_ops *ops = backend_for(uri, &where, &ret, err);

	return ops ? ops->open(where, out, err) : ret;
}

void pc_store_close(struct pc_store *s)
{
	if (s)
		s->ops->close(s);
}

int pc_store_lock(const char *uri, struct pc_store_lock **out, struct pc_err *err)
{
	const struct pc_store_ops *ops;
	const char *where;
	int ret;

	*out = NULL;
	ops = backend_for(uri, &where, &ret, err);
	if (!ops)
		return ret;
	return ops->lock ? ops->lock(where, out, err) : 0;
}

void pc_store_unlock(struct pc_store_lock *l)
{
	if (l)
		l->ops->unlock(l);
}

int pc_store_apply(struct pc_store *s, const struct pc_store_put *puts, size_t n,
		   enum pc_store_result *results, int64_t *revision_out, size_t *failed,
		   struct pc_err *err)
{
	return s->ops->apply(s, puts, n, results, NULL, revision_out, failed, err);
}

int pc_store_apply_meta(struct pc_store *s, const struct pc_store_put *puts, size_t n,
			enum pc_store_result *results, struct pc_store_meta *metas,
			int64_t *revision_out, size_t *failed, struct pc_err *err)
{
	return s->ops->apply(s, puts, n, results, metas, revision_out, failed, err);
}

int pc_store_delete(struct pc_store *s, const char *kind, const char *ns, const char *name,
		    int64_t expect_rv, struct pc_err *err)
{
	struct pc_store_put p = { 0 };

	if (!kind || !ns || !name || !*kind || !*name || expect_rv < 0)
		return pc_err_set(err, -EINVAL, "invalid object to delete");
	p.kind = kind;
	p.ns = ns;
	p.name = name;
	p.expect_rv = expect_rv;
	p.remove = true;
	return s->ops->apply(s, &p, 1, NULL, NULL, NULL, NULL, err);
}

int pc_store_get(struct pc_store *s, const char *kind, const char *ns, const char *name,
		 struct pc_store_object *out, struct pc_err *err)
{
	return s->ops->get(s, kind, ns, name, out, err);
}

void pc_store_object_release(struct pc_store_object *obj)
{
	free(obj->mem);
	memset(obj, 0, sizeof(*obj));
}

int pc_store_list(struct pc_store *s, const char *kind, const char *ns, pc_store_list_fn *cb,
		  void *data, struct pc_err *err)
{
	return s->ops->list(s, kind, ns, cb, data, err);
}

int64_t pc_store_revision(struct pc_store *s)
{
	return s->ops->revision(s);
}

int pc_store_watch(struct pc_store *s, int64_t since, pc_store_watch_fn *cb, void *data,
		   int64_t *upto, struct pc_err *err)
{
	return s->ops->watch(s, since, cb, data, upto, err);
}

int pc_store_alloc_list(struct pc_store *s, pc_store_alloc_fn *cb, void *data, struct pc_err *err)
{
	return s->ops->alloc_list(s, cb, data, err);
}

int pc_store_alloc_add(struct pc_store *s, const struct pc_store_alloc *v, size_t n,
		       struct pc_err *err)
{
	return s->ops->alloc_add(s, v, n, err);
}

int pc_store_alloc_touch(struct pc_store *s, const char *const *names, size_t n, int64_t when,
			 struct pc_err *err)
{
	return s->ops->alloc_touch(s, names, n, when, err);
}

int pc_store_parse_revision(const char *s, int64_t *out)
{
	char *end;
	long long v;

	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end)
		return -EINVAL;
	*out = v;
	return 0;
}

int pc_store_parse_precondition(const char *s, int64_t *out)
{
	*out = 0;
	if (!s || !*s)
		return 0;
	if (pc_store_parse_revision(s, out) < 0 || *out <= 0) {
		*out = 0;
		return -EINVAL;
	}
	return 0;
}
