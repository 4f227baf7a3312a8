/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for daemon/watchlog.c: the ring and its floor (410), filters,
 * waiters waking and shutting down, and timed waits that a step of the
 * wall clock does not stretch.
 *
 * The clock seam: this executable defines clock_gettime(), which the
 * daemon's code (linked statically into it) calls instead of the C
 * library's, and answers CLOCK_REALTIME an hour ahead of the truth, as if
 * the wall clock had been stepped back by an hour while a watcher waited.
 * A deadline taken on CLOCK_REALTIME then lies an hour away; one taken on
 * CLOCK_MONOTONIC, as it must be, is unaffected.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "daemon/watchlog.h"

static bool wall_ahead; /* the seam: CLOCK_REALTIME reads an hour ahead */

int clock_gettime(clockid_t id, struct timespec *ts)
{
	if (syscall(SYS_clock_gettime, id, ts) != 0)
		return -1;
	if (wall_ahead && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE))
		ts->tv_sec += 3600;
	return 0;
}

static double mono_s(void)
{
	struct timespec ts;

	syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const struct pc_watch_filter every = { -1, NULL, NULL };

static char *line(const char *text)
{
	size_t size = strlen(text) + 2;
	char *p = malloc(size);

	ck_assert_ptr_nonnull(p);
	snprintf(p, size, "%s\n", text);
	return p;
}

static void add(struct pc_watchlog *wl, int64_t rev, const char *ns, const char *name)
{
	char text[128];

	snprintf(text, sizeof(text), "%s/%s@%lld", ns, name, (long long)rev);
	pc_watchlog_append(wl, rev, PC_KIND_SERVICE_ENTRY, ns, name, line(text));
}

static size_t nlines(const struct pc_buf *b)
{
	size_t n = 0, i;

	for (i = 0; i < b->len; i++)
		n += b->p[i] == '\n';
	return n;
}

START_TEST(collects_after_since)
{
	struct pc_watchlog *wl = pc_watchlog_new(8, 5);
	struct pc_buf out = PC_BUF_INIT;
	int64_t since = 5;

	ck_assert_ptr_nonnull(wl);
	ck_assert_int_eq(pc_watchlog_revision(wl), 5);
	ck_assert_int_eq(pc_watchlog_wait(wl, &every, &since, &out, 0), 0);
	ck_assert_uint_eq(out.len, 0);

	add(wl, 6, "default", "a");
	add(wl, 6, "default", "b"); /* one change of two objects */
	add(wl, 7, "shop", "a");
	ck_assert_int_eq(pc_watchlog_revision(wl), 5); /* not committed yet */
	pc_watchlog_commit(wl, 7);
	ck_assert_int_eq(pc_watchlog_revision(wl), 7);
	ck_assert_int_eq(pc_watchlog_wait(wl, &every, &since, &out, 0), 1);
	ck_assert_str_eq(out.p, "default/a@6\ndefault/b@6\nshop/a@7\n");
	ck_assert_int_eq(since, 7);

	/* from the middle */
	since = 6;
	pc_buf_clear(&out);
	ck_assert_int_eq(pc_watchlog_wait(wl, &every, &since, &out, 0), 1);
	ck_assert_str_eq(out.p, "shop/a@7\n");
	pc_buf_release(&out);
	pc_watchlog_free(wl);
}
END_TEST

START_TEST(filters)
{
	struct pc_watchlog *wl = pc_watchlog_new(8, 0);
	struct pc_buf out = PC_BUF_INIT;
	struct pc_watch_filter f;
	int64_t since;

	add(wl, 1, "default", "a");
	add(wl, 2, "shop", "a");
	add(wl, 3, "shop", "b");
	pc_watchlog_append(wl, 4, PC_KIND_SIDECAR, "shop", "b", line("sidecar"));
	pc_watchlog_commit(wl, 4);

	f = (struct pc_watch_filter){ -1, "shop", NULL };
	since = 0;
	ck_assert_int_eq(pc_watchlog_wait(wl, &f, &since, &out, 0), 1);
	ck_assert_uint_eq(nlines(&out), 3);
	f = (struct pc_watch_filter){ -1, NULL, "a" };
	since = 0;
	pc_buf_clear(&out);
	ck_assert_int_eq(pc_watchlog_wait(wl, &f, &since, &out, 0), 1);
	ck_assert_str_eq(out.p, "default/a@1\nshop/a@2\n");
	f = (struct pc_watch_filter){ PC_KIND_SIDECAR, NULL, NULL };
	since = 0;
	pc_buf_clear(&out);
	ck_assert_int_eq(pc_watchlog_wait(wl, &f, &since, &out, 0), 1);
	ck_assert_str_eq(out.p, "sidecar\n");

	/* nothing selected: a timeout, but the revisions are consumed */
	f = (struct pc_watch_filter){ PC_KIND_VIRTUAL_SERVICE, NULL, NULL };
	since = 0;
	pc_buf_clear(&out);
	ck_assert_int_eq(pc_watchlog_wait(wl, &f, &since, &out, 10), 0);
	ck_assert_uint_eq(out.len, 0);
	ck_assert_int_eq(since, 4);
	pc_buf_release(&out);
	pc_watchlog_free(wl);
}
END_TEST

/* The ring keeps <cap> changes; a watcher behind the oldest is told 410. */
START_TEST(floor_is_410)
{
	struct pc_watchlog *wl = pc_watchlog_new(3, 10);
	struct pc_buf out = PC_BUF_INIT;
	int64_t since;

	since = 9; /* older than the log's start */
	ck_assert_int_eq(pc_watchlog_wait(wl, &every, &since, &out, 0), -ERANGE);
	ck_assert_int_eq(since, 9);
	ck_assert_ptr_nonnull(strstr(out.p, "\"code\":410"));
	ck_assert_ptr_nonnull(strstr(out.p, "too old resource version: 9 (11)"));

	add(wl, 11, "default", "a");
	add(wl, 12, "default", "b");
	add(wl, 12, "default", "c");
	pc_watchlog_commit(wl, 12);
	since = 10;
	pc_buf_clear(&out);
	ck_assert_int_eq(pc_watchlog_wait(wl, &every, &since, &out, 0), 1);
	ck_assert_uint_eq(nlines(&out), 3);

	/* a fourth change pushes revision 11 out: 10 is too old now, 11 is not */
	add(wl, 13, "default", "d");
	pc_watchlog_commit(wl, 13);
	since = 10;
	pc_buf_clear(&out);
	ck_assert_int_eq(pc_watchlog_wait(wl, &every, &since, &out, 0), -ERANGE);
	ck_assert_ptr_nonnull(strstr(out.p, "too old resource version: 10 (12)"));
	since = 11;
	pc_buf_clear(&out);
	ck_assert_int_eq(pc_watchlog_wait(wl, &every, &since, &out, 0), 1);
	ck_assert_str_eq(out.p, "default/b@12\ndefault/c@12\ndefault/d@13\n");

	/* one more: half of revision 12 is gone, so 11 is too old now */
	add(wl, 14, "default", "e");
	pc_watchlog_commit(wl, 14);
	since = 11;
	pc_buf_clear(&out);
	ck_assert_int_eq(pc_watchlog_wait(wl, &every, &since, &out, 0), -ERANGE);

	/* a lost line (out of memory) raises the floor rather than hide a change */
	pc_watchlog_append(wl, 15, PC_KIND_SERVICE_ENTRY, "default", "f", NULL);
	pc_watchlog_commit(wl, 15);
	since = 14;
	pc_buf_clear(&out);
	ck_assert_int_eq(pc_watchlog_wait(wl, &every, &since, &out, 0), -ERANGE);
	since = 15;
	pc_buf_clear(&out);
	ck_assert_int_eq(pc_watchlog_wait(wl, &every, &since, &out, 0), 0);

	/* a change bigger than the ring: everyone before it starts over */
	pc_watchlog_expire(wl, 16);
	add(wl, 16, "default", "g");
	pc_watchlog_commit(wl, 16);
	since = 15;
	pc_buf_clear(&out);
	ck_assert_int_eq(pc_watchlog_wait(wl, &every, &since, &out, 0), -ERANGE);
	since = 16;
	pc_buf_clear(&out);
	ck_assert_int_eq(pc_watchlog_wait(wl, &every, &since, &out, 0), 0);
	ck_assert_uint_eq(out.len, 0);
	pc_buf_release(&out);
	pc_watchlog_free(wl);
}
END_TEST

/*
 * The events of one revision are seen whole. A change of two objects is
 * logged as two appends; a watcher that collects between them must not
 * take the revision as seen and skip the second event forever: nothing of
 * a revision is visible before pc_watchlog_commit().
 */
START_TEST(revision_is_seen_whole)
{
	struct pc_watchlog *wl = pc_watchlog_new(8, 5);
	struct pc_buf out = PC_BUF_INIT;
	int64_t since = 5, since_between;
	int between;

	add(wl, 6, "default", "a");
	between = pc_watchlog_wait(wl, &every, &since, &out, 0); /* the watcher wakes here */
	since_between = since;
	add(wl, 6, "default", "b");
	pc_watchlog_commit(wl, 6);
	pc_watchlog_wait(wl, &every, &since, &out, 0);
	ck_assert_ptr_nonnull(out.p);
	ck_assert_str_eq(out.p, "default/a@6\ndefault/b@6\n");
	ck_assert_int_eq(since, 6);
	/* half a revision was not shown, and not taken as seen */
	ck_assert_int_eq(between, 0);
	ck_assert_int_eq(since_between, 5);
	ck_assert_int_eq(pc_watchlog_revision(wl), 6);

	/* a commit covers every revision up to it, and only those */
	add(wl, 7, "default", "c");
	add(wl, 8, "default", "d");
	pc_watchlog_commit(wl, 7);
	pc_buf_clear(&out);
	ck_assert_int_eq(pc_watchlog_wait(wl, &every, &since, &out, 0), 1);
	ck_assert_str_eq(out.p, "default/c@7\n");
	ck_assert_int_eq(since, 7);
	pc_watchlog_commit(wl, 9); /* the store's revision may be past the last event */
	pc_buf_clear(&out);
	ck_assert_int_eq(pc_watchlog_wait(wl, &every, &since, &out, 0), 1);
	ck_assert_str_eq(out.p, "default/d@8\n");
	ck_assert_int_eq(since, 9);
	ck_assert_int_eq(pc_watchlog_revision(wl), 9);
	pc_buf_release(&out);
	pc_watchlog_free(wl);
}
END_TEST

/*
 * The revision never moves backwards. A feed of more changes than the ring
 * expires the log at a revision, then logs the last of its changes, some
 * of older revisions: a watch that starts meanwhile (at the log's
 * revision) must not be told 410 for the floor it is at.
 */
START_TEST(revision_never_goes_back)
{
	struct pc_watchlog *wl = pc_watchlog_new(8, 0);
	struct pc_buf out = PC_BUF_INIT;
	int64_t since;

	add(wl, 1, "default", "a");
	pc_watchlog_commit(wl, 1);
	pc_watchlog_expire(wl, 10);
	ck_assert_int_eq(pc_watchlog_revision(wl), 10);
	add(wl, 5, "default", "b");
	add(wl, 9, "default", "c");
	since = pc_watchlog_revision(wl); /* a watch without since starts */
	ck_assert_int_eq(since, 10);
	ck_assert_int_eq(pc_watchlog_wait(wl, &every, &since, &out, 0), 0);
	ck_assert_uint_eq(out.len, 0);
	pc_watchlog_commit(wl, 9);
	ck_assert_int_eq(pc_watchlog_revision(wl), 10);
	add(wl, 10, "default", "d");
	pc_watchlog_commit(wl, 10);
	ck_assert_int_eq(pc_watchlog_revision(wl), 10);
	ck_assert_int_eq(pc_watchlog_wait(wl, &every, &since, &out, 0), 0);
	ck_assert_int_eq(since, 10);
	ck_assert_uint_eq(out.len, 0);
	add(wl, 11, "default", "e");
	pc_watchlog_commit(wl, 11);
	ck_assert_int_eq(pc_watchlog_wait(wl, &every, &since, &out, 0), 1);
	ck_assert_str_eq(out.p, "default/e@11\n");
	since = 9; /* behind the floor: 410 */
	pc_buf_clear(&out);
	ck_assert_int_eq(pc_watchlog_wait(wl, &every, &since, &out, 0), -ERANGE);
	pc_buf_release(&out);
	pc_watchlog_free(wl);
}
END_TEST

struct waiter {
	struct pc_watchlog *wl;
	int64_t since;
	unsigned timeout_ms;
	struct pc_buf out;
	int ret;
};

static void *wait_thread(void *arg)
{
	struct waiter *w = arg;

	w->ret = pc_watchlog_wait(w->wl, &every, &w->since, &w->out, w->timeout_ms);
	return NULL;
}

START_TEST(waiters_wake_and_shut_down)
{
	struct pc_watchlog *wl = pc_watchlog_new(8, 0);
	struct waiter w = { wl, 0, 20000, PC_BUF_INIT, 99 };
	struct timespec ms50 = { 0, 50L * 1000 * 1000 };
	pthread_t t;
	double t0 = mono_s();

	ck_assert_int_eq(pthread_create(&t, NULL, wait_thread, &w), 0);
	nanosleep(&ms50, NULL);
	add(wl, 1, "default", "a");
	pc_watchlog_commit(wl, 1);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_int_eq(w.ret, 1);
	ck_assert_str_eq(w.out.p, "default/a@1\n");
	ck_assert_double_lt(mono_s() - t0, 10.0);

	/* an expiry (a registry listed again) tells a waiter below it at once */
	w.ret = 99;
	pc_buf_clear(&w.out);
	t0 = mono_s();
	ck_assert_int_eq(pthread_create(&t, NULL, wait_thread, &w), 0);
	nanosleep(&ms50, NULL);
	pc_watchlog_expire(wl, 5);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_int_eq(w.ret, -ERANGE);
	ck_assert_ptr_nonnull(strstr(w.out.p, "\"code\":410"));
	ck_assert_double_lt(mono_s() - t0, 10.0);
	w.since = pc_watchlog_revision(wl);
	ck_assert_int_eq(w.since, 5);

	w.ret = 99;
	t0 = mono_s();
	ck_assert_int_eq(pthread_create(&t, NULL, wait_thread, &w), 0);
	nanosleep(&ms50, NULL);
	pc_watchlog_shutdown(wl);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_int_eq(w.ret, -ESHUTDOWN);
	ck_assert_double_lt(mono_s() - t0, 10.0);
	ck_assert_int_eq(pc_watchlog_wait(wl, &every, &w.since, &w.out, 0), -ESHUTDOWN);
	pc_buf_release(&w.out);
	pc_watchlog_free(wl);
}
END_TEST

/*
 * Behaviour 6: the wall clock steps back an hour while a watcher waits
 * for its 100 ms keep-alive. The wait must still end after about 100 ms
 * (here: well within 5 s); waiting on CLOCK_REALTIME it ends an hour
 * later (the test's timeout fails it first).
 */
START_TEST(clock_step_does_not_stretch_a_wait)
{
	struct pc_watchlog *wl = pc_watchlog_new(8, 0);
	struct pc_buf out = PC_BUF_INIT;
	int64_t since = 0;
	struct timespec rt;
	double t0, dt;

	wall_ahead = true;
	ck_assert_int_eq(clock_gettime(CLOCK_REALTIME, &rt), 0);
	ck_assert_int_gt(rt.tv_sec, time(NULL) + 3000); /* the seam is in place */
	t0 = mono_s();
	ck_assert_int_eq(pc_watchlog_wait(wl, &every, &since, &out, 100), 0);
	dt = mono_s() - t0;
	wall_ahead = false;
	ck_assert_double_ge(dt, 0.09);
	ck_assert_msg(dt < 5.0, "a 100 ms wait took %.1f s", dt);
	ck_assert_uint_eq(out.len, 0);
	pc_buf_release(&out);
	pc_watchlog_free(wl);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("daemon.watchlog");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, collects_after_since);
	tcase_add_test(tc, filters);
	tcase_add_test(tc, floor_is_410);
	tcase_add_test(tc, revision_is_seen_whole);
	tcase_add_test(tc, revision_never_goes_back);
	tcase_add_test(tc, waiters_wake_and_shut_down);
	tcase_add_test(tc, clock_step_does_not_stretch_a_wait);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
