/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * daemon/revoke.c - revocation that does not wait for the disk.
 *
 * A delete takes access away: it must not fail because the disk is full,
 * read-only or failing, when an apply (which widens access) rightly fails
 * closed. So when the store cannot write a delete, control.c hands it
 * here: the objects leave the registry at once (the next compile and
 * publish revoke them, live connections included), and their keys are
 * kept in c->revoked until the store takes the delete. The poller
 * (feed.c) retries every PC_REVOKE_RETRY_MS, and every later change tries
 * first, so that deletes reach the store in the order they were asked.
 * Every feed masks the pending keys again: a listing of the store (which
 * still holds them) must not bring them back. Until the store took them,
 * a restart does (doc/store.md says so, and so does the answer).
 */
#include "daemon/control-int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"

/* A "still not stored" line at most this often while the store keeps failing. */
#define REVOKE_LOG_MS 60000

/*
 * Every failure of the store itself: a full, read-only or failing disk,
 * permissions, and another writer holding the lock (-EBUSY), none of which
 * may keep access that was taken away. Not the request's own (-ESTALE,
 * -ENOENT, -EINVAL) nor -ENOMEM.
 */
bool pc_revoke_covers(int err)
{
	return err == -ENOSPC || err == -EROFS || err == -EIO || err == -EACCES || err == -EDQUOT ||
	       err == -EBUSY;
}

static size_t revoked_find(const struct pc_control *c, enum pc_kind kind, const char *ns,
			   const char *name)
{
	size_t i;

	for (i = 0; i < c->nrevoked; i++) {
		const struct revoked *r = &c->revoked[i];

		if (r->kind == kind && strcmp(r->ns, ns) == 0 && strcmp(r->name, name) == 0)
			return i;
	}
	return SIZE_MAX;
}

static void revoked_release(struct revoked *r)
{
	free(r->ns);
	free(r->name);
	free(r->rv);
}

/* Keep the key of registry entry <e> (and the version it had) as revoked. */
static int revoked_add(struct pc_control *c, const struct pc_registry_entry *e)
{
	struct revoked *nv = pc_realloc(c->revoked, (c->nrevoked + 1) * sizeof(*nv));
	const char *rv = e->res ? e->res->meta.resource_version : NULL;
	char *n1 = pc_strndup(e->ns, strlen(e->ns)), *n2 = pc_strndup(e->name, strlen(e->name));
	char *n3 = rv ? pc_strndup(rv, strlen(rv)) : NULL;

	if (nv)
		c->revoked = nv;
	if (!nv || !n1 || !n2 || (rv && !n3)) {
		free(n1);
		free(n2);
		free(n3);
		return -ENOMEM;
	}
	nv[c->nrevoked].kind = e->kind;
	nv[c->nrevoked].ns = n1;
	nv[c->nrevoked].name = n2;
	nv[c->nrevoked].rv = n3;
	c->nrevoked++;
	return 0;
}

/*
 * Pending keys are few (deletes while the disk fails) but a `delete -f`
 * can bring thousands: a linear find per key is then quadratic. Beyond
 * this many, the batch is taken without the duplicate check (a key twice
 * in the list costs one more row of a removal that finds it absent).
 */
#define REVOKE_DEDUP_MAX 256

int pc_revoke_in_memory(struct pc_control *c, const struct change *v, size_t n,
			struct pc_change_result *res)
{
	size_t i, at, sorted = c->reg.n, found = 0;
	bool pending;
	int ret = 0;

	for (i = 0; i < n && ret == 0; i++) {
		const struct pc_store_put *p = &v[i].put;

		res->v[i].result = PC_STORE_UNCHANGED;
		pending = n <= REVOKE_DEDUP_MAX &&
			  revoked_find(c, v[i].kind, p->ns, p->name) != SIZE_MAX;
		at = pc_registry_find(&c->reg, sorted, v[i].kind, p->ns, p->name);
		if (at != SIZE_MAX) {
			if (!pending)
				ret = revoked_add(c, &c->reg.v[at]);
			pc_registry_remove(&c->reg, sorted, v[i].kind, p->ns, p->name);
			pending = true;
		}
		if (pending) {
			res->v[i].result = PC_STORE_DELETED;
			found++;
		} else if (!p->missing_ok) {
			res->failed = i;
		}
	}
	pc_registry_finish(&c->reg, sorted);
	if (ret < 0)
		return pc_err_set(&res->err, ret, "out of memory");
	if (res->failed != SIZE_MAX || found == 0) {
		if (res->failed == SIZE_MAX)
			return 0; /* nothing of it exists: every one "not found" */
		return pc_err_set(&res->err, -ENOENT, "%s %s/%s not found", v[res->failed].put.kind,
				  v[res->failed].put.ns, v[res->failed].put.name);
	}
	c->revoke_err = res->err;
	c->revoke_next_ms = pc_mono_ms() + PC_REVOKE_RETRY_MS;
	c->revoke_logged_ms = pc_mono_ms();
	res->lagging = true;
	res->revision = c->rev;
	pc_log(PC_LOG_WARN,
	       "delete revoked in memory, not yet stored: a restart before it is "
	       "stored brings the objects back; retrying",
	       "objects=%zu pending=%zu retry_ms=%d err=%s", found, c->nrevoked,
	       PC_REVOKE_RETRY_MS, res->err.msg);
	c->dirty = true;
	ret = pc_control_catch_up(c);
	if (ret < 0)
		return pc_err_set(&res->err, ret,
				  "the store cannot write (%s), and the policy without the objects "
				  "cannot be compiled: %s",
				  c->revoke_err.msg, strerror(-ret));
	return 0;
}

static void persisted(struct pc_control *c, int64_t rev)
{
	size_t n = c->nrevoked;

	pc_log(PC_LOG_NOTICE, "revoked deletes stored", "objects=%zu revision=%" PRId64, n, rev);
	c->revoke_persisted += n;
	pc_revoke_free(c);
	pc_err_clear(&c->revoke_err);
}

int pc_revoke_persist(struct pc_control *c, bool force)
{
	struct pc_store_put *puts;
	struct pc_err err;
	uint64_t now = pc_mono_ms();
	int64_t rev = 0;
	size_t i;
	int ret;

	if (c->nrevoked == 0)
		return 0;
	if (!force && now < c->revoke_next_ms)
		return -EAGAIN;
	puts = pc_calloc(c->nrevoked, sizeof(*puts));
	if (!puts)
		return -ENOMEM;
	for (i = 0; i < c->nrevoked; i++) {
		puts[i].kind = pc_kind_info(c->revoked[i].kind)->name;
		puts[i].ns = c->revoked[i].ns;
		puts[i].name = c->revoked[i].name;
		puts[i].remove = true;
		puts[i].missing_ok = true; /* another writer deleted it meanwhile: as good */
	}
	ret = pc_store_apply(c->store, puts, c->nrevoked, NULL, &rev, NULL, &err);
	free(puts);
	c->revoke_next_ms = now + PC_REVOKE_RETRY_MS;
	if (ret == 0) {
		persisted(c, rev);
		return 0;
	}
	c->revoke_failures++;
	c->revoke_err = err;
	if (now - c->revoke_logged_ms >= REVOKE_LOG_MS) {
		c->revoke_logged_ms = now;
		pc_log(PC_LOG_WARN,
		       "revoked deletes still not stored: a restart now brings them back",
		       "pending=%zu failures=%" PRIu64 " err=%s", c->nrevoked,
		       c->revoke_failures, err.msg);
	}
	return ret;
}

/*
 * Take the pending keys out of the registry again. A key whose stored
 * version is no longer the one deleted was written anew by another writer
 * after the delete: that write stands (it is newer), so the key stops
 * being pending and stays.
 */
bool pc_revoke_mask(struct pc_control *c)
{
	size_t i, at, k = 0, sorted = c->reg.n;
	const char *rv;
	bool any = false;

	for (i = 0; i < c->nrevoked; i++) {
		struct revoked *r = &c->revoked[i];

		at = pc_registry_find(&c->reg, sorted, r->kind, r->ns, r->name);
		rv = at == SIZE_MAX || !c->reg.v[at].res ? NULL
							 : c->reg.v[at].res->meta.resource_version;
		if (r->rv && rv && strcmp(r->rv, rv) != 0) {
			revoked_release(r); /* superseded: not ours to delete any more */
			continue;
		}
		if (at != SIZE_MAX) {
			pc_registry_remove(&c->reg, sorted, r->kind, r->ns, r->name);
			any = true;
		}
		c->revoked[k++] = *r;
	}
	c->nrevoked = k;
	if (any)
		pc_registry_finish(&c->reg, sorted);
	return any;
}

static bool same_key(const struct revoked *r, const struct change *ch)
{
	return r->kind == ch->kind && strcmp(r->ns, ch->put.ns) == 0 &&
	       strcmp(r->name, ch->put.name) == 0;
}

void pc_revoke_forget(struct pc_control *c, const struct change *v, size_t n)
{
	size_t i, j, k = 0;
	bool stored;

	for (i = 0; i < c->nrevoked; i++) {
		for (j = 0, stored = false; j < n && !stored; j++)
			stored = same_key(&c->revoked[i], &v[j]);
		if (stored)
			revoked_release(&c->revoked[i]);
		else
			c->revoked[k++] = c->revoked[i];
	}
	c->nrevoked = k;
	if (c->nrevoked == 0)
		pc_err_clear(&c->revoke_err);
}

void pc_revoke_free(struct pc_control *c)
{
	size_t i;

	for (i = 0; i < c->nrevoked; i++)
		revoked_release(&c->revoked[i]);
	free(c->revoked);
	c->revoked = NULL;
	c->nrevoked = 0;
}

void pc_control_get_lag(struct pc_control *c, struct pc_control_lag *out)
{
	pthread_mutex_lock(&c->lock);
	out->pending = c->nrevoked;
	out->failures = c->revoke_failures;
	out->persisted = c->revoke_persisted;
	snprintf(out->cause, sizeof(out->cause), "%s", c->nrevoked ? c->revoke_err.msg : "");
	pthread_mutex_unlock(&c->lock);
}
