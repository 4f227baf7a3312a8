/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for net/accept.c: out of descriptors, the guard resets the
 * backlog through its reserve descriptor and pauses the listener, then
 * watches it again. No root: the descriptor limit is the test process's
 * own soft RLIMIT_NOFILE (Check forks each test, so it is not kept).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/loop.h"
#include "net/accept.h"
#include "net/addr.h"
#include "net/sock.h"

#define NCLIENTS 5

struct harness {
	struct pc_loop *loop;
	struct pc_io lio;
	struct pc_accept_guard g;
	int accepted; /* connections the callback got */
	int calls;    /* times the callback ran */
	int clients[NCLIENTS];
	uint16_t port;
};

static void on_accept(struct pc_loop *loop, struct pc_io *io, uint32_t events)
{
	struct harness *h = io->data;
	struct pc_addr peer;
	int fd;

	(void)loop;
	(void)events;
	h->calls++;
	while ((fd = pc_accept_guard_accept(&h->g, io, &peer)) != -EAGAIN) {
		if (fd >= 0) {
			h->accepted++;
			close(fd);
		}
	}
}

static void on_stop(struct pc_loop *loop, struct pc_timer *t)
{
	(void)t;
	pc_loop_stop(loop);
}

/* Run <h>'s loop for <ms>. */
static void run_for(struct harness *h, uint64_t ms)
{
	struct pc_timer t;

	pc_timer_init(&t, on_stop, NULL);
	ck_assert_int_eq(pc_timer_start(h->loop, &t, ms), 0);
	ck_assert_int_eq(pc_loop_run(h->loop), 0);
}

static void setup(struct harness *h)
{
	struct pc_addr a;
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd;

	memset(h, 0, sizeof(*h));
	ck_assert_int_eq(pc_addr_parse("127.0.0.1", &a), 0);
	fd = pc_sock_listen(&a, 64);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	h->port = ntohs(sin.sin_port);
	h->loop = pc_loop_new();
	ck_assert_ptr_nonnull(h->loop);
	pc_io_init(&h->lio, fd, on_accept, h);
	ck_assert_int_eq(pc_accept_guard_init(&h->g, h->loop, &h->lio, 1, "test", 0, NULL), 0);
	ck_assert_int_ge(h->g.reserve, 0);
	ck_assert_int_eq(pc_io_start(h->loop, &h->lio, PC_IO_READ), 0);
}

/* NCLIENTS connections into the backlog (loopback: connected at once). */
static void connect_clients(struct harness *h)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	int i;

	sin.sin_port = htons(h->port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (i = 0; i < NCLIENTS; i++) {
		h->clients[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		ck_assert_int_ge(h->clients[i], 0);
		ck_assert_int_eq(connect(h->clients[i], (struct sockaddr *)&sin, sizeof(sin)), 0);
	}
}

static struct rlimit saved_nofile;

/* The soft descriptor limit at the lowest free descriptor: the next open fails with EMFILE. */
static void exhaust(void)
{
	struct rlimit rl;
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	saved_nofile = rl;
	rl.rlim_cur = (rlim_t)fd;
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	ck_assert_int_eq(open("/dev/null", O_RDONLY | O_CLOEXEC), -1);
	ck_assert_int_eq(errno, EMFILE);
}

/*
 * What the client <fd> reads within <ms>: 0 at EOF, -errno (a reset:
 * -ECONNRESET), -EAGAIN if nothing came.
 */
static int client_end(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char c;
	ssize_t n;

	if (poll(&p, 1, ms) != 1)
		return -EAGAIN;
	n = recv(fd, &c, 1, MSG_DONTWAIT);
	return n < 0 ? -errno : (int)n;
}

START_TEST(emfile_resets_backlog_and_pauses)
{
	struct harness h;
	int i;

	setup(&h);
	connect_clients(&h);
	exhaust();
	run_for(&h, 30);
	/* one callback: no spin while out of descriptors */
	ck_assert_int_eq(h.calls, 1);
	ck_assert_int_eq(h.accepted, 0);
	ck_assert(pc_accept_guard_paused(&h.g));
	ck_assert(!h.lio.added); /* not watched while paused */
	ck_assert_uint_eq(pc_accept_guard_errors(&h.g, PC_ACCEPT_EMFILE), 1);
	ck_assert_uint_eq(atomic_load(&h.g.resets), NCLIENTS);
	ck_assert_int_ge(h.g.reserve, 0); /* taken again */
	for (i = 0; i < NCLIENTS; i++)
		ck_assert_int_eq(client_end(h.clients[i], 1000), -ECONNRESET);
	pc_accept_guard_release(&h.g);
	pc_loop_free(h.loop);
	setrlimit(RLIMIT_NOFILE, &saved_nofile); /* for the next test when Check does not fork */
}
END_TEST

START_TEST(resumes_after_the_pause)
{
	struct harness h;
	struct rlimit rl;
	int i;

	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	setup(&h);
	connect_clients(&h);
	exhaust();
	run_for(&h, 20);
	ck_assert(pc_accept_guard_paused(&h.g));
	/* descriptors free again: the next connection is accepted after the pause */
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	for (i = 0; i < NCLIENTS; i++)
		close(h.clients[i]);
	connect_clients(&h);
	run_for(&h, PC_ACCEPT_BACKOFF_MS + 100);
	ck_assert(!pc_accept_guard_paused(&h.g));
	ck_assert(h.lio.added);
	ck_assert_int_eq(h.accepted, NCLIENTS);
	ck_assert_uint_eq(pc_accept_guard_errors(&h.g, PC_ACCEPT_EMFILE), 1);
	for (i = 0; i < NCLIENTS; i++)
		close(h.clients[i]);
	pc_accept_guard_release(&h.g);
	ck_assert_int_eq(h.g.reserve, -1);
	pc_loop_free(h.loop);
	setrlimit(RLIMIT_NOFILE, &saved_nofile); /* for the next test when Check does not fork */
}
END_TEST

START_TEST(no_reserve_still_pauses)
{
	struct harness h;

	setup(&h);
	connect_clients(&h);
	close(h.g.reserve);
	h.g.reserve = -1;
	exhaust();
	run_for(&h, 30);
	ck_assert_int_eq(h.calls, 1);
	ck_assert(pc_accept_guard_paused(&h.g));
	ck_assert_uint_eq(atomic_load(&h.g.resets), 0);
	ck_assert_int_eq(client_end(h.clients[0], 100), -EAGAIN); /* waits in the backlog */
	pc_accept_guard_release(&h.g);
	pc_loop_free(h.loop);
	setrlimit(RLIMIT_NOFILE, &saved_nofile); /* for the next test when Check does not fork */
}
END_TEST

START_TEST(reason_names)
{
	ck_assert_str_eq(pc_accept_reason_name(PC_ACCEPT_EMFILE), "EMFILE");
	ck_assert_str_eq(pc_accept_reason_name(PC_ACCEPT_ENFILE), "ENFILE");
	ck_assert_str_eq(pc_accept_reason_name(PC_ACCEPT_ENOBUFS), "ENOBUFS");
	ck_assert_str_eq(pc_accept_reason_name(PC_ACCEPT_ENOMEM), "ENOMEM");
	ck_assert_str_eq(pc_accept_reason_name(PC_ACCEPT_NREASONS), "?");
}
END_TEST

static Suite *accept_suite(void)
{
	Suite *s = suite_create("net.accept");
	TCase *tc = tcase_create("core");

	/*
	 * Under valgrind (make valgrind sets PC_UNDER_VALGRIND) the process
	 * shares its descriptor table with valgrind's own, so the exact EMFILE
	 * accounting these count on does not hold: one reset short. They run in
	 * every other build, ASan and TSan included.
	 */
	if (!getenv("PC_UNDER_VALGRIND")) {
		tcase_add_test(tc, emfile_resets_backlog_and_pauses);
		tcase_add_test(tc, resumes_after_the_pause);
		tcase_add_test(tc, no_reserve_still_pauses);
	}
	tcase_add_test(tc, reason_names);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(accept_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
