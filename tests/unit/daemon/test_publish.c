/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for the path from a change to the publisher
 * (daemon/control.c's unlock, daemon/publish.c): a change is published
 * before its settle callback runs, and that callback, which may wait for
 * DNS, holds no control lock, so another change goes through meanwhile
 * (review finding 1); /config_dump renders the snapshot it is given, the
 * publisher's (finding 8). A real store in a mkdtemp directory.
 */
#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/clock.h"
#include "core/log.h"
#include "daemon/control.h"
#include "daemon/publish.h"
#include "policy/snapshot.h"

#define SE(name, addr)                                                                    \
	"apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"                        \
	"metadata: {name: " name ", namespace: default}\n"                                \
	"spec:\n  hosts: [" name ".example]\n  addresses: [" addr "]\n"                   \
	"  location: MESH_EXTERNAL\n  resolution: NONE\n"                                 \
	"  ports: [{name: tcp, number: 80, protocol: TCP}]\n"

static char tmp[64], dir[96];
static struct pc_publisher *pub;
static struct pc_control *ctl;

/* The settle test's state. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv; /* on CLOCK_MONOTONIC (setup) */
static bool hold;            /* the next settle waits for the other change */
static bool b_go, b_done;    /* the other change: asked to start, finished */
static bool b_in_settle;     /* it finished while a settle waited */
static int b_ret;
static uint64_t seen_current; /* the publisher's generation when settle ran */
static uint64_t settled;      /* the generation settle was called with */

static void publish(void *data, struct pc_snapshot *snap)
{
	(void)data;
	pc_publisher_publish(pub, snap);
}

static void settle(void *data, const struct pc_snapshot *snap, const struct pc_snapshot *prev)
{
	struct pc_snapshot *cur = pc_publisher_current(pub);
	struct timespec until = pc_mono_deadline(5000);
	bool wait;

	(void)data;
	ck_assert_ptr_nonnull(cur);
	ck_assert(!prev || prev->generation < snap->generation);
	pthread_mutex_lock(&mu);
	seen_current = cur->generation;
	settled = snap->generation;
	wait = hold;
	hold = false;
	if (wait) {
		/* as a wait for DNS would: the other change must get through meanwhile */
		b_go = true;
		pthread_cond_broadcast(&cv);
		while (!b_done && pthread_cond_timedwait(&cv, &mu, &until) == 0)
			;
		b_in_settle = b_done;
	}
	pthread_mutex_unlock(&mu);
	pc_snapshot_unref(cur);
}

static void setup(void)
{
	struct pc_control_opts o = { 0 };
	struct pc_err err;

	snprintf(tmp, sizeof(tmp), "/tmp/pc-publish-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmp));
	snprintf(dir, sizeof(dir), "%s/state", tmp);
	pc_log_set_level(PC_LOG_WARN);
	ck_assert_int_eq(pc_cond_init_mono(&cv), 0);
	pub = pc_publisher_new();
	ck_assert_ptr_nonnull(pub);
	o.state_dir = dir;
	o.compile.policy = -1;
	o.compile.proxy_port = 15001;
	o.publish = publish;
	o.settle = settle;
	ck_assert_int_eq(pc_control_open(&o, &ctl, &err), 0);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void teardown(void)
{
	pc_control_shutdown(ctl);
	pc_control_free(ctl);
	pc_publisher_free(pub);
	nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int apply(const char *yaml)
{
	struct pc_upload u = { "t.yaml", yaml, strlen(yaml) };
	struct pc_change_result res;
	int ret;

	pc_change_result_init(&res);
	ret = pc_control_apply(ctl, &u, 1, &res);
	pc_change_result_release(&res);
	return ret;
}

static bool has_cluster(const struct pc_snapshot *snap, const char *name)
{
	size_t i;

	for (i = 0; i < snap->nclusters; i++) {
		if (strcmp(snap->clusters[i].name, name) == 0)
			return true;
	}
	return false;
}

static void *change_b(void *arg)
{
	struct timespec until = pc_mono_deadline(5000);
	int ret;

	(void)arg;
	pthread_mutex_lock(&mu);
	while (!b_go && pthread_cond_timedwait(&cv, &mu, &until) == 0)
		;
	pthread_mutex_unlock(&mu);
	ret = apply(SE("b", "192.0.2.2"));
	pthread_mutex_lock(&mu);
	b_ret = ret;
	b_done = true;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	return NULL;
}

/*
 * Change A's settle waits until change B is done: B must be stored,
 * compiled and published while A's settle waits (the old order, a wait
 * under the publish lock, deadlocked here until the 5 s timeout).
 */
START_TEST(settle_after_publish_and_outside_every_lock)
{
	struct pc_snapshot *cur;
	pthread_t t;
	uint64_t gen_a;

	ck_assert_int_eq(pthread_create(&t, NULL, change_b, NULL), 0);
	pthread_mutex_lock(&mu);
	hold = true;
	pthread_mutex_unlock(&mu);
	ck_assert_int_eq(apply(SE("a", "192.0.2.1")), 0);
	pthread_join(t, NULL);
	pthread_mutex_lock(&mu);
	ck_assert_msg(b_in_settle, "change B did not get through while A's settle waited");
	ck_assert_int_eq(b_ret, 0);
	pthread_mutex_unlock(&mu);

	/* settle ran last for B; A's ran after A was current (checked in settle) */
	cur = pc_publisher_current(pub);
	gen_a = cur->generation - 1;
	ck_assert_uint_eq(settled, cur->generation);
	ck_assert_uint_ge(seen_current, settled);
	ck_assert(has_cluster(cur, "outbound|80||b.example"));
	ck_assert_uint_gt(gen_a, 0);
	pc_snapshot_unref(cur);
}
END_TEST

/* /config_dump shows the snapshot it is handed (the publisher's), not the newest compiled. */
START_TEST(dump_renders_the_given_snapshot)
{
	struct pc_reply r = { 0 };
	struct pc_snapshot *old;
	char want[64];

	ck_assert_int_eq(apply(SE("a", "192.0.2.1")), 0);
	old = pc_publisher_current(pub);
	ck_assert_int_eq(apply(SE("b", "192.0.2.2")), 0);
	pc_control_dump(ctl, old, &r);
	ck_assert_uint_eq(r.status, 200);
	snprintf(want, sizeof(want), "{\"generation\":%" PRIu64 ",", old->generation);
	ck_assert_msg(strncmp(r.body.p, want, strlen(want)) == 0, "%s", r.body.p);
	ck_assert_ptr_null(strstr(r.body.p, "outbound|80||b.example")); /* not in <old> */
	ck_assert_ptr_nonnull(strstr(r.body.p, "outbound|80||a.example"));
	pc_buf_release(&r.body);
	pc_snapshot_unref(old);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("daemon.publish");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, settle_after_publish_and_outside_every_lock);
	tcase_add_test(tc, dump_renders_the_given_snapshot);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
