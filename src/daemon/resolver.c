/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * daemon/resolver.c - resolve the runtime table's DNS names, on one thread.
 *
 * The loop: ask the table for the name most overdue (never-asked names
 * first), resolve it holding no lock, store the answer, tell waiters; when
 * nothing is due, sleep on a CLOCK_MONOTONIC condition until the next
 * expiry, a kick or a stop, and at most a second (a cheap safety net).
 *
 * <lock> guards only <stop>, <kicks>, <busy> and <orphaned>; the thread
 * never holds it across a query. pc_resolver_stop() joins the thread when
 * it is not in a query, and otherwise hands <r> over to it (<orphaned>), so
 * a SIGTERM never waits for a DNS server that does not answer.
 */
#include "daemon/resolver.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"
#include "net/dns.h"
#include "policy/runtime.h"
#include "policy/snapshot.h"

#define RETRY_MS    5000u  /* the server did not answer: keep the old answer, ask again */
#define NOADDR_MS   30000u /* the name has no address: ask again (negative caching) */
#define MIN_TTL_S   1u
#define MAX_TTL_S   300u
#define MAX_SLEEP_MS 1000u

struct pc_resolver {
	struct pc_runtime *rt;
	char *server; /* NULL: resolv.conf */
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake; /* kicks and stop, for the thread */
	pthread_cond_t done; /* a name was asked about, for pc_resolver_wait_first() */
	unsigned kicks;
	bool stop;
	bool busy;     /* a query is in flight */
	bool orphaned; /* stopped during a query: the thread frees <r> */
};

static void resolver_free(struct pc_resolver *r)
{
	pthread_cond_destroy(&r->done);
	pthread_cond_destroy(&r->wake);
	pthread_mutex_destroy(&r->lock);
	free(r->server);
	free(r);
}

/* Ask about <n> once and store what came back. No lock is held. */
static void resolve_one(struct pc_dns *dns, struct pc_rt_name *n)
{
	struct pc_addr addrs[PC_RT_MAX_ADDRS];
	const char *name = pc_runtime_name(n);
	uint32_t ttl;
	size_t count;
	int ret;

	if (!dns) {
		pc_runtime_name_retry(n, pc_mono_ms() + RETRY_MS);
		return;
	}
	ret = pc_dns_resolve(dns, name, 0, addrs, PC_RT_MAX_ADDRS, &count, &ttl);
	if (ret == -ENOENT) {
		pc_log(PC_LOG_WARN, "cannot resolve", "name=%s err=%s", name, "no address");
		pc_runtime_name_set(n, NULL, 0, pc_mono_ms() + NOADDR_MS);
		return;
	}
	if (ret < 0) {
		/* no answer, a refusal or a failure says nothing about the name */
		pc_log(PC_LOG_WARN, "cannot resolve, keeping the last answer", "name=%s err=%s",
		       name, ret == -EAGAIN ? "no answer" : ret == -EPROTO ? "refused" : strerror(-ret));
		pc_runtime_name_retry(n, pc_mono_ms() + RETRY_MS);
		return;
	}
	ttl = ttl < MIN_TTL_S ? MIN_TTL_S : ttl > MAX_TTL_S ? MAX_TTL_S : ttl;
	pc_runtime_name_set(n, addrs, count, pc_mono_ms() + (uint64_t)ttl * 1000u);
	pc_debug("resolved", "name=%s addresses=%zu ttl=%u", name, count, ttl);
}

/* Sleep until <next_ms> (monotonic), a kick or a stop; with <r->lock> held. */
static void sleep_until(struct pc_resolver *r, uint64_t next_ms, unsigned kicks)
{
	uint64_t now = pc_mono_ms(), ms = MAX_SLEEP_MS;
	struct timespec until;

	if (next_ms > now && next_ms - now < ms)
		ms = next_ms - now;
	else if (next_ms <= now)
		return;
	until = pc_mono_deadline(ms);
	while (!r->stop && r->kicks == kicks) {
		if (pthread_cond_timedwait(&r->wake, &r->lock, &until) == ETIMEDOUT)
			break;
	}
}

static void *resolver_main(void *arg)
{
	struct pc_resolver *r = arg;
	struct pc_dns *dns = NULL;
	struct pc_rt_name *n;
	uint64_t next;
	unsigned kicks;
	bool orphaned;
	int ret;

	/* the res_state is this thread's own: made, used and freed here */
	ret = pc_dns_new(r->server, &dns);
	if (ret < 0)
		pc_log(PC_LOG_ERR, "cannot make a DNS resolver", "err=%s", strerror(-ret));
	pthread_mutex_lock(&r->lock);
	while (!r->stop) {
		kicks = r->kicks;
		pthread_mutex_unlock(&r->lock);
		n = pc_runtime_next_due(r->rt, pc_mono_ms(), &next);
		pthread_mutex_lock(&r->lock);
		if (!n) {
			sleep_until(r, next, kicks);
			continue;
		}
		if (r->stop) {
			pc_runtime_name_put(n);
			break;
		}
		r->busy = true;
		pthread_mutex_unlock(&r->lock);
		resolve_one(dns, n);
		pc_runtime_name_put(n);
		pthread_mutex_lock(&r->lock);
		r->busy = false;
		pthread_cond_broadcast(&r->done);
	}
	orphaned = r->orphaned;
	pthread_mutex_unlock(&r->lock);
	pc_dns_free(dns);
	if (orphaned)
		resolver_free(r);
	return NULL;
}

/*
 * Start the thread with every signal blocked: it may start before the
 * daemon blocks SIGTERM for its signalfd, and a signal delivered to it
 * would take the default action (see signal(7)).
 */
static int create_thread(struct pc_resolver *r)
{
	sigset_t all, old;
	int ret;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = pthread_create(&r->thread, NULL, resolver_main, r);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return ret;
}

int pc_resolver_start(struct pc_runtime *rt, const char *server, struct pc_resolver **out)
{
	struct pc_resolver *r;
	int ret;

	if (server && !pc_dns_server_is_valid(server))
		return -EINVAL;
	r = pc_calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->rt = rt;
	if (server) {
		r->server = pc_strndup(server, strlen(server));
		if (!r->server) {
			free(r);
			return -ENOMEM;
		}
	}
	pthread_mutex_init(&r->lock, NULL);
	ret = pc_cond_init_mono(&r->wake);
	if (ret == 0)
		ret = pc_cond_init_mono(&r->done);
	if (ret == 0)
		ret = create_thread(r);
	if (ret != 0) {
		resolver_free(r); /* calloc'd: destroying a cond never made is harmless */
		return -ret;
	}
	*out = r;
	return 0;
}

void pc_resolver_kick(struct pc_resolver *r)
{
	pthread_mutex_lock(&r->lock);
	r->kicks++;
	pthread_cond_signal(&r->wake);
	pthread_mutex_unlock(&r->lock);
}

/* Whether <prev> (NULL: none) has DNS name <n>: names are shared, so the same entry. */
static bool has_name(const struct pc_snapshot *prev, const struct pc_rt_name *n)
{
	size_t i, j;

	for (i = 0; prev && i < prev->nclusters; i++) {
		for (j = 0; j < prev->clusters[i].ndns_names; j++) {
			if (prev->clusters[i].dns_names[j].rt == n)
				return true;
		}
	}
	return false;
}

/* Whether cluster <c> has a name never asked about that <prev> does not have. */
static bool brings_new(const struct pc_cluster *c, const struct pc_snapshot *prev)
{
	size_t j;

	for (j = 0; j < c->ndns_names; j++) {
		const struct pc_rt_name *n = c->dns_names[j].rt;

		/* <prev> is scanned only for never-asked names: rare, and few */
		if (n && !pc_runtime_name_asked(n) && !has_name(prev, n))
			return true;
	}
	return false;
}

/*
 * The latest pc_cluster_first_wait() of the clusters of <snap> that bring
 * a new name (one <prev> does not have): 0 when nothing is new.
 */
static uint64_t first_wait(const struct pc_snapshot *snap, const struct pc_snapshot *prev,
			   uint64_t window_ms)
{
	uint64_t until = 0, u;
	size_t i;

	for (i = 0; i < snap->nclusters; i++) {
		if (!brings_new(&snap->clusters[i], prev))
			continue;
		u = pc_cluster_first_wait(&snap->clusters[i], window_ms);
		if (u > until)
			until = u;
	}
	return until;
}

bool pc_resolver_wait_first(struct pc_resolver *r, const struct pc_snapshot *snap,
			    const struct pc_snapshot *prev, uint64_t timeout_ms)
{
	struct timespec deadline;
	uint64_t until, now;
	bool stopping;

	until = first_wait(snap, prev, timeout_ms);
	now = pc_mono_ms();
	if (until <= now)
		return until == 0;
	pthread_mutex_lock(&r->lock);
	r->kicks++;
	pthread_cond_signal(&r->wake);
	/* the thread marks a name asked before it takes <lock> to broadcast */
	while (!r->stop && (until = first_wait(snap, prev, timeout_ms)) > (now = pc_mono_ms())) {
		deadline = pc_mono_deadline(until - now);
		pthread_cond_timedwait(&r->done, &r->lock, &deadline);
	}
	stopping = r->stop;
	pthread_mutex_unlock(&r->lock);
	if (until && !stopping) /* a shutdown's early return is no news */
		pc_log(PC_LOG_WARN, "new DNS names not resolved in time, their clusters answer UH "
				    "until they are",
		       "generation=%" PRIu64 " waited_ms=%" PRIu64, snap->generation, timeout_ms);
	return until == 0;
}

void pc_resolver_shutdown(struct pc_resolver *r)
{
	if (!r)
		return;
	pthread_mutex_lock(&r->lock);
	r->stop = true;
	pthread_cond_broadcast(&r->wake);
	pthread_cond_broadcast(&r->done);
	pthread_mutex_unlock(&r->lock);
}

void pc_resolver_stop(struct pc_resolver *r)
{
	pthread_t t;

	if (!r)
		return;
	pc_resolver_shutdown(r);
	pthread_mutex_lock(&r->lock);
	t = r->thread; /* <r> may be gone once unlocked */
	if (r->busy) {
		r->orphaned = true; /* in a query: it frees <r> when that ends */
		pthread_mutex_unlock(&r->lock);
		pthread_detach(t);
		return;
	}
	pthread_mutex_unlock(&r->lock);
	pthread_join(t, NULL);
	resolver_free(r);
}
