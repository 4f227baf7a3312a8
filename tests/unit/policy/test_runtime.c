/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for policy/runtime.c: the cluster state and DNS answers that
 * outlive a snapshot (design review §6 behaviours 1 and 3). Check forks
 * each test, so each starts with an empty pc_runtime_default().
 */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/clock.h"
#include "model/finding.h"
#include "model/manifest.h"
#include "net/addr.h"
#include "policy/runtime.h"
#include "policy/snapshot.h"

#define SE(name, hosts, extra, port)                                                      \
	"---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"                   \
	"metadata: {name: " name "}\n"                                                    \
	"spec:\n  hosts: [" hosts "]\n  location: MESH_EXTERNAL\n" extra                  \
	"  ports: [{name: tcp, number: " #port ", protocol: TCP}]\n"

#define DNS_SE(name, host, port) SE(name, host, "  resolution: DNS\n", port)
#define PLAIN_SE(name, host, port) \
	SE(name, host, "  addresses: [192.0.2.9]\n  resolution: NONE\n", port)

/* A compiled manifest; the manifest outlives its snapshot (names point into it). */
struct fix {
	struct pc_manifest m;
	struct pc_findings f;
	struct pc_snapshot *s;
};

static uint64_t generation;

static void compile(struct fix *x, const char *yaml)
{
	struct pc_compile_opts o = { .policy = -1, .proxy_port = 15001 };

	memset(x, 0, sizeof(*x));
	o.generation = ++generation;
	pc_findings_init(&x->f);
	ck_assert_int_eq(pc_manifest_init(&x->m), 0);
	ck_assert_int_eq(pc_manifest_add_buf(&x->m, "t.yaml", yaml, strlen(yaml), &x->f), 0);
	ck_assert_uint_eq(x->f.total_err, 0);
	ck_assert_int_eq(pc_policy_compile(&x->m, &o, NULL, NULL, &x->s), 0);
}

static void release(struct fix *x)
{
	pc_snapshot_unref(x->s);
	x->s = NULL;
	pc_manifest_release(&x->m);
	pc_findings_release(&x->f);
}

static const struct pc_cluster *named(const struct fix *x, const char *name)
{
	size_t i;

	for (i = 0; i < x->s->nclusters; i++) {
		if (strcmp(x->s->clusters[i].name, name) == 0)
			return &x->s->clusters[i];
	}
	ck_abort_msg("no cluster %s", name);
	return NULL;
}

static size_t nclusters(void)
{
	size_t c, n;

	pc_runtime_count(pc_runtime_default(), &c, &n);
	return c;
}

static size_t nnames(void)
{
	size_t c, n;

	pc_runtime_count(pc_runtime_default(), &c, &n);
	return n;
}

/* Answer every due name once with <ip> (as the resolver thread would). */
static size_t answer_all(const char *ip, uint32_t ttl_s)
{
	struct pc_addr a;
	struct pc_rt_name *n;
	uint64_t next;
	size_t k = 0, max = nnames();

	ck_assert_int_eq(pc_addr_parse(ip, &a), 0);
	while (k < max && (n = pc_runtime_next_due(pc_runtime_default(), pc_mono_ms(), &next))) {
		ck_assert_int_eq(pc_runtime_name_set(n, &a, 1, pc_mono_ms() + (uint64_t)ttl_s * 1000u), 0);
		pc_runtime_name_put(n);
		k++;
	}
	return k;
}

/* Behaviour 1: an unrelated change must not reset the open-connection count. */
START_TEST(active_count_survives_recompile)
{
	struct fix a, b;
	const struct pc_cluster *ca, *cb;

	compile(&a, PLAIN_SE("db", "db.example", 5432));
	ca = named(&a, "outbound|5432||db.example");
	ck_assert(pc_cluster_try_acquire(ca, UINT32_MAX));
	ck_assert_uint_eq(pc_cluster_next_rr(ca), 0);
	ck_assert_uint_eq(pc_cluster_next_rr(ca), 1);

	compile(&b, PLAIN_SE("db", "db.example", 5432) PLAIN_SE("other", "other.example", 80));
	cb = named(&b, "outbound|5432||db.example");
	ck_assert_uint_eq(pc_cluster_active(cb), 1); /* the old code: 0 */
	ck_assert_uint_eq(pc_cluster_next_rr(cb), 2);
	release(&a); /* the old snapshot goes; the state stays with the name */
	ck_assert_uint_eq(pc_cluster_active(cb), 1);
	pc_cluster_release(cb); /* a session of either generation releases it */
	ck_assert_uint_eq(pc_cluster_active(cb), 0);
	release(&b);
}
END_TEST

START_TEST(entries_dropped_when_unnamed)
{
	struct fix a, b;

	ck_assert_uint_eq(nclusters(), 0);
	compile(&a, DNS_SE("db", "db.example", 5432) PLAIN_SE("x", "x.example", 80));
	/* BlackHole, Passthrough, db, x */
	ck_assert_uint_eq(nclusters(), 4);
	ck_assert_uint_eq(nnames(), 1);
	compile(&b, PLAIN_SE("x", "x.example", 80));
	ck_assert_uint_eq(nclusters(), 4); /* a still names db */
	release(&a);
	ck_assert_uint_eq(nclusters(), 3);
	ck_assert_uint_eq(nnames(), 0);
	release(&b);
	ck_assert_uint_eq(nclusters(), 0);
}
END_TEST

/* Behaviour 3: answers belong to the name, so a new snapshot has them at once. */
START_TEST(answers_shared_by_name_and_generation)
{
	struct fix a, b;
	struct pc_addr got, v[4];
	char s[PC_ADDR_STRLEN];

	compile(&a, DNS_SE("db", "db.example", 5432) DNS_SE("db2", "db.example", 6432));
	ck_assert_uint_eq(nnames(), 1); /* two clusters, one name */
	ck_assert(!pc_cluster_pick_resolved(named(&a, "outbound|5432||db.example"), &got));
	ck_assert_uint_eq(answer_all("198.51.100.2", 300), 1);
	ck_assert(pc_cluster_pick_resolved(named(&a, "outbound|5432||db.example"), &got));
	ck_assert_str_eq(pc_addr_port_str(&got, s), "198.51.100.2:5432");
	ck_assert(pc_cluster_pick_resolved(named(&a, "outbound|6432||db.example"), &got));
	ck_assert_str_eq(pc_addr_port_str(&got, s), "198.51.100.2:6432");

	/* an unrelated change: the new snapshot finds the answer without a query */
	compile(&b, DNS_SE("db", "db.example", 5432) PLAIN_SE("x", "x.example", 80));
	ck_assert_uint_eq(answer_all("192.0.2.1", 300), 0); /* nothing is due */
	ck_assert(pc_cluster_pick_resolved(named(&b, "outbound|5432||db.example"), &got));
	ck_assert_str_eq(pc_addr_port_str(&got, s), "198.51.100.2:5432");
	ck_assert_uint_eq(pc_cluster_resolved(named(&b, "outbound|5432||db.example"), v, 4), 1);
	ck_assert_uint_eq(pc_cluster_first_wait(named(&b, "outbound|5432||db.example"), 3000), 0);
	release(&a);
	release(&b);
}
END_TEST

/* A failed query keeps the last answer (an outage), and the name is due again later. */
START_TEST(retry_keeps_the_last_answer)
{
	struct fix a;
	struct pc_rt_name *n;
	struct pc_addr got;
	uint64_t next;

	compile(&a, DNS_SE("db", "db.example", 5432));
	ck_assert_uint_eq(answer_all("198.51.100.2", 0), 1); /* expires at once */
	n = pc_runtime_next_due(pc_runtime_default(), pc_mono_ms(), &next);
	ck_assert_ptr_nonnull(n);
	pc_runtime_name_retry(n, pc_mono_ms() + 60000);
	pc_runtime_name_put(n);
	ck_assert(pc_cluster_pick_resolved(named(&a, "outbound|5432||db.example"), &got));
	ck_assert_ptr_null(pc_runtime_next_due(pc_runtime_default(), pc_mono_ms(), &next));
	ck_assert(next > pc_mono_ms() + 50000 && next != UINT64_MAX);
	release(&a);
}
END_TEST

/* Never-asked names come first, and an IP literal needs no query at all. */
START_TEST(new_names_first_literals_never)
{
	struct fix a, b;
	struct pc_rt_name *n;
	struct pc_addr got;
	uint64_t next;
	char s[PC_ADDR_STRLEN];

	compile(&a, DNS_SE("old", "old.example", 80)
			    SE("ip", "ip.example",
			       "  resolution: DNS\n  endpoints: [{address: 192.0.2.77}]\n", 81));
	ck_assert(pc_cluster_pick_resolved(named(&a, "outbound|81||ip.example"), &got));
	ck_assert_str_eq(pc_addr_port_str(&got, s), "192.0.2.77:81");
	ck_assert_uint_eq(answer_all("198.51.100.2", 1), 1); /* old.example only */
	ck_assert_uint_eq(pc_cluster_first_wait(named(&a, "outbound|80||old.example"), 3000), 0);

	compile(&b, DNS_SE("old", "old.example", 80) DNS_SE("new", "new.example", 82));
	ck_assert_uint_ne(pc_cluster_first_wait(named(&b, "outbound|82||new.example"), 3000), 0);
	n = pc_runtime_next_due(pc_runtime_default(), pc_mono_ms() + 10000, &next);
	ck_assert_ptr_nonnull(n);
	ck_assert_str_eq(pc_runtime_name(n), "new.example"); /* before the expired one */
	ck_assert(!pc_runtime_name_asked(n));
	pc_runtime_name_retry(n, pc_mono_ms() + 5000); /* no answer: asked all the same */
	ck_assert(pc_runtime_name_asked(n));
	pc_runtime_name_put(n);
	ck_assert_uint_eq(pc_cluster_first_wait(named(&b, "outbound|82||new.example"), 3000), 0);
	ck_assert(!pc_cluster_pick_resolved(named(&b, "outbound|82||new.example"), &got));
	release(&a);
	release(&b);
}
END_TEST

/*
 * DYNAMIC_DNS: a name a connection brings is asked about first, cached
 * after the connection drops it until its answer expires, then freed by
 * the resolver's walk instead of asked again.
 */
START_TEST(dynamic_names_cached_until_expiry)
{
	struct pc_runtime *rt = pc_runtime_new();
	struct pc_rt_name *n, *due, *again;
	struct pc_addr a, got;
	uint64_t next, now = pc_mono_ms();
	size_t nc, nn;
	char s[PC_ADDR_STRLEN];

	ck_assert_ptr_nonnull(rt);
	n = pc_runtime_dynamic_get(rt, "api.example.com");
	ck_assert_ptr_nonnull(n);
	ck_assert(!pc_runtime_name_asked(n));
	ck_assert(!pc_runtime_name_pick(n, 0, 443, &got)); /* no answer yet */
	due = pc_runtime_next_due(rt, now, &next);
	ck_assert_ptr_eq(due, n); /* never asked: first */
	ck_assert_int_eq(pc_addr_parse("203.0.113.7", &a), 0);
	ck_assert_int_eq(pc_runtime_name_set(due, &a, 1, now + 1000), 0);
	pc_runtime_name_put(due);
	ck_assert(pc_runtime_name_pick(n, 5, 443, &got));
	ck_assert_str_eq(pc_addr_port_str(&got, s), "203.0.113.7:443");
	pc_runtime_name_put(n); /* the connection is gone: the cache keeps it */
	pc_runtime_count(rt, &nc, &nn);
	ck_assert_uint_eq(nn, 1);
	again = pc_runtime_dynamic_get(rt, "api.example.com");
	ck_assert_ptr_eq(again, n); /* the same entry, with its answer */
	ck_assert(pc_runtime_name_pick(again, 0, 8443, &got));
	pc_runtime_name_put(again);
	ck_assert_ptr_null(pc_runtime_next_due(rt, now + 10, &next)); /* not expired yet */
	ck_assert_uint_eq(next, now + 1000);
	ck_assert_ptr_null(pc_runtime_next_due(rt, now + 1000, &next)); /* expired: freed */
	pc_runtime_count(rt, &nc, &nn);
	ck_assert_uint_eq(nn, 0);
	/* a name in use when it expires is asked again, not freed */
	n = pc_runtime_dynamic_get(rt, "b.example.com");
	due = pc_runtime_next_due(rt, now, &next);
	pc_runtime_name_set(due, &a, 1, now + 5);
	pc_runtime_name_put(due);
	due = pc_runtime_next_due(rt, now + 5, &next);
	ck_assert_ptr_eq(due, n);
	pc_runtime_name_put(due);
	pc_runtime_name_put(n);
	pc_runtime_free(rt); /* frees the cached entry */
}
END_TEST

/* DNS: round robin over every address of every name of the cluster. */
START_TEST(round_robin_over_all_answers)
{
	struct fix a;
	const struct pc_cluster *c;
	struct pc_addr two[2], got;
	struct pc_rt_name *n;
	uint64_t next;
	char s[PC_ADDR_STRLEN];
	unsigned i, seen1 = 0, seen2 = 0;

	compile(&a, DNS_SE("db", "db.example", 5432));
	c = named(&a, "outbound|5432||db.example");
	ck_assert_int_eq(pc_addr_parse("198.51.100.2", &two[0]), 0);
	ck_assert_int_eq(pc_addr_parse("198.51.100.3", &two[1]), 0);
	n = pc_runtime_next_due(pc_runtime_default(), pc_mono_ms(), &next);
	ck_assert_int_eq(pc_runtime_name_set(n, two, 2, pc_mono_ms() + 60000), 0);
	pc_runtime_name_put(n);
	for (i = 0; i < 10; i++) {
		ck_assert(pc_cluster_pick_resolved(c, &got));
		pc_addr_port_str(&got, s);
		seen1 += strcmp(s, "198.51.100.2:5432") == 0;
		seen2 += strcmp(s, "198.51.100.3:5432") == 0;
	}
	ck_assert_uint_eq(seen1, 5);
	ck_assert_uint_eq(seen2, 5);
	release(&a);
}
END_TEST

/* The control plane frees a deleted object's manifest while workers still use the snapshot. */
START_TEST(snapshot_outlives_its_manifest)
{
	struct fix a;
	const struct pc_cluster *c;

	compile(&a, DNS_SE("db", "db.example", 5432));
	pc_manifest_release(&a.m);
	pc_findings_release(&a.f);
	memset(&a.m, 0, sizeof(a.m));
	c = named(&a, "outbound|5432||db.example");
	ck_assert_str_eq(c->host, "db.example");
	ck_assert_str_eq(c->ns, "default");
	ck_assert_str_eq(c->se_name, "db");
	ck_assert_str_eq(c->dns_names[0].name, "db.example");
	pc_snapshot_unref(a.s);
}
END_TEST

/* ---- threads: workers, a resolver and a control plane at once ---- */

struct race {
	const struct pc_cluster *c; /* from a snapshot that lives throughout */
	atomic_int stop;
	unsigned long picks;
};

static void *worker(void *arg)
{
	struct race *r = arg;
	struct pc_addr got;
	unsigned i;

	/* at least 1000 rounds, however the threads are scheduled (valgrind) */
	for (i = 0; i < 1000 || !atomic_load(&r->stop); i++) {
		ck_assert(pc_cluster_try_acquire(r->c, UINT32_MAX));
		if (pc_cluster_pick_resolved(r->c, &got))
			r->picks++;
		pc_cluster_release(r->c);
	}
	return NULL;
}

static void *resolver(void *arg)
{
	struct race *r = arg;
	unsigned i = 0;

	while (!atomic_load(&r->stop))
		answer_all(i++ % 2 ? "198.51.100.2" : "198.51.100.3", 0);
	return NULL;
}

START_TEST(thread_safety_basics)
{
	struct race r[4];
	pthread_t t[5];
	struct fix base, x;
	unsigned i;
	uint64_t until = pc_mono_ms() + 1000;

	compile(&base, DNS_SE("db", "db.example", 5432));
	ck_assert_uint_eq(answer_all("198.51.100.2", 0), 1); /* later answers replace it */
	for (i = 0; i < 4; i++) {
		memset(&r[i], 0, sizeof(r[i]));
		r[i].c = named(&base, "outbound|5432||db.example");
		ck_assert_int_eq(pthread_create(&t[i], NULL, worker, &r[i]), 0);
	}
	ck_assert_int_eq(pthread_create(&t[4], NULL, resolver, &r[0]), 0);
	/* meanwhile, changes come and go, binding and unbinding the same entries */
	while (pc_mono_ms() < until) {
		compile(&x, DNS_SE("db", "db.example", 5432) DNS_SE("tmp", "tmp.example", 80));
		release(&x);
	}
	for (i = 0; i < 4; i++)
		atomic_store(&r[i].stop, 1);
	for (i = 0; i < 5; i++)
		pthread_join(t[i], NULL);
	ck_assert_uint_eq(pc_cluster_active(r[0].c), 0);
	ck_assert_uint_ge(r[0].picks + r[1].picks + r[2].picks + r[3].picks, 4000);
	release(&base);
	ck_assert_uint_eq(nclusters(), 0);
	ck_assert_uint_eq(nnames(), 0);
}
END_TEST

/* ---- maxConnections: the slot check and the take are one step ---- */

#define SLOT_MAX 3u

struct slots {
	const struct pc_cluster *c;
	atomic_uint holders;  /* threads holding a slot now, counted by the test */
	atomic_uint peak;     /* the most ever seen at once */
	atomic_ulong taken;   /* slots taken in all */
	atomic_int go;
};

static void note_peak(struct slots *sl, unsigned now)
{
	unsigned peak = atomic_load(&sl->peak);

	while (now > peak && !atomic_compare_exchange_weak(&sl->peak, &peak, now))
		;
}

/*
 * A worker connecting and closing as fast as it can. Each held slot is
 * counted twice: by the runtime (pc_cluster_active()) and by the test
 * (<holders>); neither may pass SLOT_MAX. With the old pattern,
 *     if (pc_cluster_active(c) < max) count one more;
 * two threads pass the check together and both add (proxy/session.c
 * before the fix): run with that in place of try_acquire, this test fails
 * within a few thousand rounds on two CPUs.
 */
static void *slot_worker(void *arg)
{
	struct slots *sl = arg;
	unsigned i;

	while (!atomic_load(&sl->go))
		;
	for (i = 0; i < 200000; i++) {
		if (!pc_cluster_try_acquire(sl->c, SLOT_MAX))
			continue;
		note_peak(sl, atomic_fetch_add(&sl->holders, 1) + 1);
		note_peak(sl, pc_cluster_active(sl->c));
		atomic_fetch_add(&sl->taken, 1);
		atomic_fetch_sub(&sl->holders, 1);
		pc_cluster_release(sl->c);
	}
	return NULL;
}

START_TEST(try_acquire_never_exceeds_max)
{
	struct slots sl;
	pthread_t t[6];
	struct fix a;
	unsigned i, peak;
	unsigned long taken;

	compile(&a, PLAIN_SE("db", "db.example", 5432));
	memset(&sl, 0, sizeof(sl));
	sl.c = named(&a, "outbound|5432||db.example");
	for (i = 0; i < 6; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, slot_worker, &sl), 0);
	atomic_store(&sl.go, 1);
	for (i = 0; i < 6; i++)
		pthread_join(t[i], NULL);
	peak = atomic_load(&sl.peak);
	taken = atomic_load(&sl.taken);
	ck_assert_uint_le(peak, SLOT_MAX); /* the old check-then-add: 4 or more */
	ck_assert_uint_gt(taken, 0);
	ck_assert_uint_eq(pc_cluster_active(sl.c), 0); /* every take given back exactly once */

	/* the bounds themselves, single-threaded */
	ck_assert(pc_cluster_try_acquire(sl.c, 1));
	ck_assert(!pc_cluster_try_acquire(sl.c, 1));
	ck_assert(!pc_cluster_try_acquire(sl.c, 0));
	ck_assert(pc_cluster_try_acquire(sl.c, UINT32_MAX)); /* no limit */
	ck_assert_uint_eq(pc_cluster_active(sl.c), 2);
	pc_cluster_release(sl.c);
	pc_cluster_release(sl.c);
	ck_assert_uint_eq(pc_cluster_active(sl.c), 0);
	release(&a);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("policy.runtime");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, active_count_survives_recompile);
	tcase_add_test(tc, entries_dropped_when_unnamed);
	tcase_add_test(tc, answers_shared_by_name_and_generation);
	tcase_add_test(tc, retry_keeps_the_last_answer);
	tcase_add_test(tc, new_names_first_literals_never);
	tcase_add_test(tc, round_robin_over_all_answers);
	tcase_add_test(tc, snapshot_outlives_its_manifest);
	tcase_add_test(tc, thread_safety_basics);
	tcase_add_test(tc, try_acquire_never_exceeds_max);
	tcase_add_test(tc, dynamic_names_cached_until_expiry);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
