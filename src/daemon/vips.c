/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * daemon/vips.c - the control's auto-allocated addresses (doc/dns.md).
 *
 * The DNS proxy asks for an address per concrete name a ServiceEntry
 * without addresses covers (daemon/dnsreg.c); the control owns the table
 * (policy/alloc.h) because an allocation is policy: it is stored in the
 * same store, in one durable transaction per batch, before any answer
 * names it, and every compile gets the whole table (struct pc_vip), so a
 * connection to an address is classified as its name's the moment the
 * app can know the address. Allocations are never taken back: an address
 * is never reused for another name, and a name whose entry is deleted and
 * added again gets its old address back.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "core/alloc.h"
#include "core/log.h"
#include "daemon/control-int.h"
#include "policy/alloc.h"

/*
 * At most this many names ever get an address: a workload asking for
 * random names under a wildcard entry fills the table, the store and
 * every compile, and allocations are never taken back. Past it, new
 * names get SERVFAIL (and a log line); known ones keep working.
 */
#define PC_VIPS_MAX 200000u

static void to_store(const struct pc_alloc *a, struct pc_store_alloc *out)
{
	memset(out, 0, sizeof(*out));
	out->name = a->name;
	out->has_v4 = a->v4.family == AF_INET;
	if (out->has_v4)
		memcpy(out->v4, a->v4.bytes, 4);
	out->has_v6 = a->v6.family == AF_INET6;
	if (out->has_v6)
		memcpy(out->v6, a->v6.bytes, 16);
	out->created = a->created;
	out->last_used = a->last_used;
}

static int load_one(const struct pc_store_alloc *sa, void *data)
{
	struct pc_alloc_table *t = data;
	struct pc_alloc a = { .name = sa->name,
			      .created = sa->created,
			      .last_used = sa->last_used };
	int ret;

	if (sa->has_v4) {
		a.v4.family = AF_INET;
		memcpy(a.v4.bytes, sa->v4, 4);
	}
	if (sa->has_v6) {
		a.v6.family = AF_INET6;
		memcpy(a.v6.bytes, sa->v6, 16);
	}
	ret = pc_alloc_insert(t, &a);
	if (ret == -EEXIST || ret == -EINVAL) {
		/* a store written by hand or by a bug: keep what came first, say so */
		pc_log(PC_LOG_WARN, "stored address allocation ignored", "name=%s err=%s", sa->name,
		       strerror(-ret));
		return 0;
	}
	return ret;
}

int pc_control_vips_load(struct pc_control *c, struct pc_err *err)
{
	int ret;

	c->vips = pc_alloc_table_new();
	if (!c->vips)
		return pc_err_set(err, -ENOMEM, "out of memory");
	ret = pc_store_alloc_list(c->store, load_one, c->vips, err);
	if (ret == 0 && pc_alloc_count(c->vips))
		pc_log(PC_LOG_INFO, "address allocations loaded", "count=%zu",
		       pc_alloc_count(c->vips));
	return ret;
}

struct fill {
	struct pc_vip *v;
	size_t n;
};

static int fill_one(const struct pc_alloc *a, void *data)
{
	struct fill *f = data;

	f->v[f->n].name = a->name;
	f->v[f->n].v4 = a->v4;
	f->v[f->n].v6 = a->v6;
	f->n++;
	return 0;
}

int pc_control_vips_for_compile(struct pc_control *c, struct pc_compile_opts *o)
{
	size_t n = c->vips ? pc_alloc_count(c->vips) : 0;
	struct fill f = { NULL, 0 };

	o->vips = NULL;
	o->nvips = 0;
	if (!n)
		return 0;
	f.v = pc_calloc(n, sizeof(*f.v));
	if (!f.v)
		return -ENOMEM;
	if (pc_alloc_foreach(c->vips, fill_one, &f) < 0) {
		free(f.v);
		return -ENOMEM;
	}
	o->vips = f.v;
	o->nvips = f.n;
	return 0;
}

/* Undo the tentative insertions of a batch the store refused (the table held <count>). */
static void forget(struct pc_control *c, size_t count)
{
	pc_alloc_truncate(c->vips, count);
}

/* Choose and insert addresses for the names of <names> that have none; their rows in <rows>. */
static int choose(struct pc_control *c, const char *const *names, size_t n,
		  struct pc_store_alloc *rows, size_t *nfresh)
{
	int64_t now = (int64_t)time(NULL);
	size_t i, before = pc_alloc_count(c->vips);
	int ret;

	*nfresh = 0;
	for (i = 0; i < n; i++) {
		struct pc_alloc a = { .name = names[i], .created = now, .last_used = now };
		const struct pc_alloc *in;

		if (pc_alloc_by_name(c->vips, names[i]))
			continue;
		if (pc_alloc_count(c->vips) >= PC_VIPS_MAX) {
			/* a workload asking for endless names under a wildcard must not grow us */
			forget(c, before);
			return -ENOSPC;
		}
		ret = pc_alloc_choose(c->vips, names[i], &a.v4, &a.v6);
		if (ret == 0)
			ret = pc_alloc_insert(c->vips, &a);
		if (ret == -EEXIST)
			continue; /* the same name twice in one batch */
		if (ret < 0) {
			forget(c, before);
			return ret;
		}
		in = pc_alloc_by_name(c->vips, names[i]);
		to_store(in, &rows[(*nfresh)++]);
		if (!a.v4.family)
			pc_log(PC_LOG_WARN, "the IPv4 allocation range is full: IPv6 only",
			       "name=%s", names[i]);
	}
	return 0;
}

int pc_control_allocate(struct pc_control *c, const char *const *names, size_t n,
			struct pc_err *err)
{
	struct pc_store_alloc *rows = pc_calloc(n ? n : 1, sizeof(*rows));
	size_t nfresh = 0, before;
	int ret;

	if (!rows)
		return pc_err_set(err, -ENOMEM, "out of memory");
	pthread_mutex_lock(&c->lock);
	ret = c->stopping ? pc_err_set(err, -ESHUTDOWN, "shutting down") : 0;
	before = c->vips ? pc_alloc_count(c->vips) : 0;
	if (ret == 0) {
		ret = choose(c, names, n, rows, &nfresh);
		if (ret == -ENOSPC)
			pc_err_set(err, ret,
				   "%u names have addresses already, the most there may be",
				   PC_VIPS_MAX);
		else if (ret < 0)
			pc_err_set(err, ret, "cannot allocate addresses: %s", strerror(-ret));
	}
	if (ret == 0 && nfresh) {
		ret = pc_store_alloc_add(c->store, rows, nfresh, err);
		if (ret < 0)
			forget(c, before);
		else
			c->dirty = true;
	}
	if (ret == 0 && c->dirty)
		ret = pc_control_catch_up(c);
	free(rows);
	if (ret < 0) {
		pc_control_unlock(c);
		return ret;
	}
	pc_control_unlock_settle(c);
	return 0;
}
