/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * daemon/dnsreg.c - what the DNS proxy answers from the registry.
 *
 * The DNS proxy (dns/proxy.h) asks, on its own thread, about every query;
 * this file answers from the current snapshot's name table
 * (policy/names.c): a name a visible ServiceEntry lists is answered by
 * portcullis itself, with the entry's addresses, or, for an entry without
 * addresses, with the name's auto-allocated addresses. A name that has no
 * allocation yet is parked (PC_DNS_PENDING) while the allocation thread
 * here has the control store it and publish a policy with chains on it
 * (pc_control_allocate()); the proxy asks again when kicked. A name is
 * answered only once the policy that routes its addresses is the current
 * one and its first DNS answers were asked for, so the app never reaches
 * an address the proxy does not know yet.
 *
 * Threads: lookup runs on the DNS thread and never blocks on the store or
 * on DNS (one mutex, held to look at the pending list); the allocation
 * thread is the one that waits for the store and the resolver.
 */
#include "daemon/dnsreg.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "daemon/control.h"
#include "daemon/publish.h"
#include "dns/proxy.h"
#include "policy/snapshot.h"

/* The TTL of the answers portcullis gives itself (Istio's DNS proxy: 30 s). */
#define REGISTRY_TTL_S 30u
/* Names waiting for an allocation at once; a query past it waits for its timeout. */
#define PENDING_MAX    4096u
/* Names one allocation round takes: one transaction, one compile. */
#define BATCH_MAX      1024u
/* After a failed round, the next one waits this long. */
#define FAIL_PAUSE_MS  1000u

struct pc_dnsreg {
	struct pc_dnsreg_opts o;
	pthread_mutex_t lock; /* the fields below */
	pthread_cond_t wake;
	char **queued; /* waiting for the allocation thread (malloc'd names) */
	size_t nqueued;
	char **busy; /* taken by the allocation thread, not settled yet */
	size_t nbusy;
	struct pc_dns_proxy *proxy;
	bool stopping;
	bool started;
	pthread_t thread;
	/* counters, for the metrics */
	uint64_t allocated_batches;
	uint64_t allocation_failures;
};

static bool in_list(char *const *v, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (strcmp(v[i], name) == 0)
			return true;
	}
	return false;
}

/* Queue <name> for an allocation unless it is queued or being allocated (<r>->lock held). */
static void enqueue(struct pc_dnsreg *r, const char *name)
{
	char *copy;

	if (in_list(r->queued, r->nqueued, name) || in_list(r->busy, r->nbusy, name))
		return;
	if (r->nqueued + r->nbusy >= PENDING_MAX)
		return; /* the query times out into SERVFAIL; the next one asks again */
	copy = pc_strndup(name, strlen(name));
	if (!copy)
		return;
	r->queued[r->nqueued++] = copy;
	pthread_cond_signal(&r->wake);
}

/* The addresses of <ips> into <ans>. */
static void answer_ips(struct pc_dns_answer *ans, const struct pc_addr *ips, size_t n)
{
	size_t i;

	ans->n = 0;
	ans->ttl = REGISTRY_TTL_S;
	for (i = 0; i < n && ans->n < sizeof(ans->addrs) / sizeof(ans->addrs[0]); i++)
		ans->addrs[ans->n++] = ips[i];
}

static enum pc_dns_verdict lookup_alloc(struct pc_dnsreg *r, const struct pc_snapshot *snap,
					const char *name, struct pc_dns_answer *ans)
{
	const struct pc_vip *v = pc_snapshot_vip_by_name(snap, name);
	bool waiting;

	pthread_mutex_lock(&r->lock);
	waiting = in_list(r->busy, r->nbusy, name);
	if (!v && !waiting)
		enqueue(r, name);
	pthread_mutex_unlock(&r->lock);
	if (!v || waiting)
		return PC_DNS_PENDING;
	ans->n = 0;
	ans->ttl = REGISTRY_TTL_S;
	if (v->v4.family)
		ans->addrs[ans->n++] = v->v4;
	if (v->v6.family)
		ans->addrs[ans->n++] = v->v6;
	return PC_DNS_ANSWER;
}

enum pc_dns_verdict pc_dnsreg_lookup(void *data, const char *name, uint16_t qtype,
				     struct pc_dns_answer *ans)
{
	struct pc_dnsreg *r = data;
	struct pc_snapshot *snap = pc_publisher_current(r->o.pub);
	const struct pc_dns_host *h;
	enum pc_dns_verdict v;

	(void)qtype; /* the proxy keeps the addresses of the query's family */
	if (!snap)
		return PC_DNS_PENDING;
	h = pc_snapshot_dns_host(snap, name);
	if (!h)
		v = PC_DNS_FORWARD; /* or NXDOMAIN under --dns-policy registry-only */
	else if (h->has_addresses && h->nips) {
		answer_ips(ans, h->ips, h->nips);
		v = PC_DNS_ANSWER;
	} else if (!h->alloc) {
		/* CIDRs only, or DYNAMIC_DNS: the real answer, checked when connecting */
		v = PC_DNS_FORWARD_ALWAYS;
	} else {
		v = lookup_alloc(r, snap, name, ans);
	}
	pc_snapshot_unref(snap);
	return v;
}

/* One round: allocate what is queued, then let the parked queries ask again. */
static void allocate_round(struct pc_dnsreg *r)
{
	struct pc_err err;
	size_t i, n;
	int ret;

	n = r->nqueued < BATCH_MAX ? r->nqueued : BATCH_MAX;
	memcpy(r->busy, r->queued, n * sizeof(*r->busy));
	memmove(r->queued, r->queued + n, (r->nqueued - n) * sizeof(*r->queued));
	r->nqueued -= n;
	r->nbusy = n;
	pthread_mutex_unlock(&r->lock);

	ret = pc_control_allocate(r->o.ctl, (const char *const *)r->busy, n, &err);
	if (ret < 0)
		pc_log(PC_LOG_ERR, "cannot allocate addresses: their queries get SERVFAIL",
		       "names=%zu first=%s err=%s", n, r->busy[0], err.msg);
	else
		pc_log(PC_LOG_INFO, "addresses allocated", "names=%zu first=%s", n, r->busy[0]);

	pthread_mutex_lock(&r->lock);
	for (i = 0; i < n; i++)
		free(r->busy[i]);
	r->nbusy = 0;
	if (ret < 0)
		r->allocation_failures++;
	else
		r->allocated_batches++;
	/* under the lock: pc_dnsreg_set_proxy(NULL) before the proxy is stopped waits for it */
	if (r->proxy)
		pc_dns_proxy_kick(r->proxy); /* an eventfd write: never blocks */
}

static void *alloc_main(void *arg)
{
	struct pc_dnsreg *r = arg;

	pthread_mutex_lock(&r->lock);
	while (!r->stopping) {
		uint64_t failures = r->allocation_failures;

		if (!r->nqueued) {
			pthread_cond_wait(&r->wake, &r->lock);
			continue;
		}
		allocate_round(r);
		if (r->allocation_failures != failures && !r->stopping) {
			/* a failing store is not asked again at the pace of the queries */
			struct timespec until = pc_mono_deadline(FAIL_PAUSE_MS);

			pthread_cond_timedwait(&r->wake, &r->lock, &until);
		}
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

int pc_dnsreg_new(const struct pc_dnsreg_opts *o, struct pc_dnsreg **out)
{
	struct pc_dnsreg *r = pc_calloc(1, sizeof(*r));
	int ret;

	if (!r)
		return -ENOMEM;
	r->o = *o;
	/* NOLINTNEXTLINE(bugprone-sizeof-expression): arrays of pointers */
	r->queued = pc_calloc(PENDING_MAX, sizeof(*r->queued));
	/* NOLINTNEXTLINE(bugprone-sizeof-expression) */
	r->busy = pc_calloc(BATCH_MAX, sizeof(*r->busy));
	if (!r->queued || !r->busy) {
		pc_dnsreg_free(r);
		return -ENOMEM;
	}
	pthread_mutex_init(&r->lock, NULL);
	pc_cond_init_mono(&r->wake);
	ret = pthread_create(&r->thread, NULL, alloc_main, r);
	if (ret) {
		pc_dnsreg_free(r);
		return -ret;
	}
	r->started = true;
	*out = r;
	return 0;
}

void pc_dnsreg_set_proxy(struct pc_dnsreg *r, struct pc_dns_proxy *p)
{
	pthread_mutex_lock(&r->lock);
	r->proxy = p;
	pthread_mutex_unlock(&r->lock);
}

void pc_dnsreg_counters(struct pc_dnsreg *r, uint64_t *batches, uint64_t *failures)
{
	pthread_mutex_lock(&r->lock);
	*batches = r->allocated_batches;
	*failures = r->allocation_failures;
	pthread_mutex_unlock(&r->lock);
}

void pc_dnsreg_free(struct pc_dnsreg *r)
{
	size_t i;

	if (!r)
		return;
	if (r->started) {
		pthread_mutex_lock(&r->lock);
		r->stopping = true;
		r->proxy = NULL;
		pthread_cond_signal(&r->wake);
		pthread_mutex_unlock(&r->lock);
		pthread_join(r->thread, NULL);
		pthread_cond_destroy(&r->wake);
		pthread_mutex_destroy(&r->lock);
	}
	for (i = 0; r->queued && i < r->nqueued; i++)
		free(r->queued[i]);
	free((void *)r->queued);
	free((void *)r->busy);
	free(r);
}
