/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * daemon/budget.c - counted budgets with a per-client share
 * (daemon/budget.h). A mutex and a condition variable: takers are the API's
 * connection threads, which may block a little while for room.
 */
#include "daemon/budget.h"

#include "core/buf.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static pthread_mutex_t all_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pc_budget *all;

void pc_budget_init(struct pc_budget *b, const char *label, const char *what, uint64_t limit,
		    uint64_t per_client, unsigned wait_ms, unsigned max_waiters)
{
	pthread_condattr_t ca;

	memset(b, 0, sizeof(*b));
	b->label = label;
	b->what = what;
	b->limit = limit;
	b->per_client = per_client;
	b->wait_ms = wait_ms;
	b->max_waiters = max_waiters;
	pthread_mutex_init(&b->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&b->room, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_lock(&all_lock);
	b->next = all;
	all = b;
	pthread_mutex_unlock(&all_lock);
}

void pc_budget_destroy(struct pc_budget *b)
{
	struct pc_budget **pp;

	pthread_mutex_lock(&all_lock);
	for (pp = &all; *pp && *pp != b; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = b->next;
	pthread_mutex_unlock(&all_lock);
	pthread_cond_destroy(&b->room);
	pthread_mutex_destroy(&b->lock);
}

/* The entry of <key>, or a free one for it (<make>), or NULL; <lock> held. */
static struct pc_budget_client *client_of(struct pc_budget *b, const char *key, bool make)
{
	struct pc_budget_client *free_one = NULL;
	size_t i;

	for (i = 0; i < PC_BUDGET_CLIENTS; i++) {
		struct pc_budget_client *c = &b->clients[i];

		if (c->key[0] && strncmp(c->key, key, sizeof(c->key) - 1) == 0)
			return c;
		if (!c->key[0] && !free_one)
			free_one = c;
	}
	if (make && free_one)
		snprintf(free_one->key, sizeof(free_one->key), "%s", key[0] ? key : "?");
	return make ? free_one : NULL;
}

/* Is there room for <n> more of <c> (may be NULL: no per-client limit)? <lock> held. */
static int room_for(const struct pc_budget *b, const struct pc_budget_client *c, uint64_t n)
{
	if (b->used + n > b->limit)
		return -EBUSY;
	if (b->per_client && c && c->used + n > b->per_client)
		return -EUSERS;
	return 0;
}

static void deadline(struct timespec *ts, unsigned ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static void say_why(const struct pc_budget *b, const struct pc_budget_client *c, int ret,
		    const char *key, char *why, size_t size)
{
	if (!why || !size)
		return;
	if (ret == -EUSERS)
		snprintf(why, size, "too many %s for %s: %" PRIu64 " open, limit %" PRIu64, b->what,
			 key, c ? c->used : 0, b->per_client);
	else if (ret == -EBUSY && b->per_client && !c)
		snprintf(why, size, "too many clients hold %s: %d, limit %d", b->what,
			 PC_BUDGET_CLIENTS, PC_BUDGET_CLIENTS);
	else
		snprintf(why, size, "too many %s: %" PRIu64 " open, limit %" PRIu64, b->what,
			 b->used, b->limit);
}

int pc_budget_take(struct pc_budget *b, const char *key, uint64_t n, char *why, size_t size)
{
	struct pc_budget_client *c = NULL;
	struct timespec ts;
	int ret, e;

	if (n > b->limit || (b->per_client && n > b->per_client)) {
		snprintf(why, size, "too many %s: %" PRIu64 " asked at once, limit %" PRIu64,
			 b->what, n,
			 b->per_client && b->per_client < b->limit ? b->per_client : b->limit);
		return -E2BIG;
	}
	deadline(&ts, b->wait_ms);
	pthread_mutex_lock(&b->lock);
	for (;;) {
		c = b->per_client ? client_of(b, key, true) : NULL;
		ret = b->per_client && !c ? -EBUSY : room_for(b, c, n);
		if (ret == 0 || !b->wait_ms || b->waiters >= b->max_waiters)
			break;
		b->waiters++;
		e = pthread_cond_timedwait(&b->room, &b->lock, &ts);
		b->waiters--;
		if (e == ETIMEDOUT) {
			c = b->per_client ? client_of(b, key, true) : NULL;
			ret = b->per_client && !c ? -EBUSY : room_for(b, c, n);
			break;
		}
	}
	if (ret == 0) {
		b->used += n;
		if (c)
			c->used += n;
	} else {
		b->refused++;
		say_why(b, c, ret, key, why, size);
		if (c && !c->used)
			c->key[0] = '\0';
	}
	pthread_mutex_unlock(&b->lock);
	return ret;
}

void pc_budget_give(struct pc_budget *b, const char *key, uint64_t n)
{
	struct pc_budget_client *c;

	pthread_mutex_lock(&b->lock);
	b->used -= n <= b->used ? n : b->used;
	c = b->per_client ? client_of(b, key, false) : NULL;
	if (c) {
		c->used -= n <= c->used ? n : c->used;
		if (!c->used)
			c->key[0] = '\0';
	}
	pthread_cond_broadcast(&b->room);
	pthread_mutex_unlock(&b->lock);
}

void pc_budget_read(struct pc_budget *b, uint64_t *used, uint64_t *refused)
{
	pthread_mutex_lock(&b->lock);
	*used = b->used;
	*refused = b->refused;
	pthread_mutex_unlock(&b->lock);
}

void pc_budget_prometheus(struct pc_buf *b)
{
	static const char *const used = "portcullis_api_budget_used",
				 *const refused = "portcullis_api_budget_refused_total";
	struct pc_budget *p;
	uint64_t u, r;

	pthread_mutex_lock(&all_lock);
	pc_buf_printf(b,
		      "# HELP %s What the API's requests hold of each budget now (bytes for "
		      "upload_bytes).\n# TYPE %s gauge\n",
		      used, used);
	for (p = all; p; p = p->next) {
		pc_budget_read(p, &u, &r);
		pc_buf_printf(b, "%s{budget=\"%s\"} %" PRIu64 "\n", used, p->label, u);
	}
	pc_buf_printf(b,
		      "# HELP %s API requests refused (429, 503, 413) by a budget.\n"
		      "# TYPE %s counter\n",
		      refused, refused);
	for (p = all; p; p = p->next) {
		pc_budget_read(p, &u, &r);
		pc_buf_printf(b, "%s{budget=\"%s\"} %" PRIu64 "\n", refused, p->label, r);
	}
	pthread_mutex_unlock(&all_lock);
}
