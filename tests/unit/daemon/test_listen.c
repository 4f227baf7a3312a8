/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for daemon/listen.c: the proxy port's listeners are on
 * loopback only and one daemon holds the pod lock of a port; a second
 * taker, or a port held by another socket, is refused with -EADDRINUSE.
 *
 * Each test runs in a network namespace of its own when it can make one
 * (root: unshare(CLONE_NEWNET) in Check's forked child), so that the abstract
 * lock names and ports never meet another run's; otherwise in the current
 * one, on a port picked from the pid.
 */
#include <check.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdbool.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon/listen.h"

static uint16_t port;
static bool own_netns;

/* lo up in a fresh namespace: 127.0.0.1 and ::1 exist only then. */
static void lo_up(void)
{
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, "lo", sizeof("lo"));
	ck_assert_int_eq(ioctl(fd, SIOCGIFFLAGS, &ifr), 0);
	ifr.ifr_flags |= IFF_UP;
	ck_assert_int_eq(ioctl(fd, SIOCSIFFLAGS, &ifr), 0);
	close(fd);
}

static void setup(void)
{
	own_netns = unshare(CLONE_NEWNET) == 0;
	port = own_netns ? 15001 : (uint16_t)(20000 + getpid() % 20000);
	if (own_netns)
		lo_up();
}

static void assert_loopback(int fd, int family)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
	ck_assert_int_eq(ss.ss_family, family);
	if (family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;

		ck_assert_uint_eq(ntohl(in->sin_addr.s_addr), INADDR_LOOPBACK);
		ck_assert_uint_eq(ntohs(in->sin_port), port);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

		ck_assert(IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr));
		ck_assert_uint_eq(ntohs(in6->sin6_port), port);
	}
}

START_TEST(listeners_are_loopback_only)
{
	struct pc_proxy_listeners pl;
	unsigned i;

	pc_proxy_listeners_init(&pl);
	ck_assert_int_eq(pc_proxy_listen(port, 3, &pl), 0);
	ck_assert_int_ge(pl.lock_fd, 0);
	ck_assert_uint_eq(pl.n, 3);
	for (i = 0; i < pl.n; i++) {
		assert_loopback(pl.fd4[i], AF_INET);
		if (pl.fd6[i] >= 0)
			assert_loopback(pl.fd6[i], AF_INET6);
	}
	/* IP_TRANSPARENT takes CAP_NET_ADMIN: root has it */
	if (geteuid() == 0)
		ck_assert(pl.transparent);
	pc_proxy_listeners_release(&pl);
	ck_assert_int_eq(pl.lock_fd, -1);
	ck_assert_ptr_null(pl.fd4);
}
END_TEST

START_TEST(second_taker_is_refused_until_the_first_lets_go)
{
	struct pc_proxy_listeners a, b;

	pc_proxy_listeners_init(&a);
	pc_proxy_listeners_init(&b);
	ck_assert_int_eq(pc_proxy_listen(port, 1, &a), 0);
	ck_assert_int_eq(pc_proxy_listen(port, 1, &b), -EADDRINUSE);
	ck_assert_int_eq(b.lock_fd, -1);
	pc_proxy_listeners_release(&b);
	/* another port is another lock */
	ck_assert_int_eq(pc_proxy_listen((uint16_t)(port + 1), 1, &b), 0);
	pc_proxy_listeners_release(&b);
	pc_proxy_listeners_release(&a);
	ck_assert_int_eq(pc_proxy_listen(port, 1, &b), 0);
	pc_proxy_listeners_release(&b);
}
END_TEST

START_TEST(port_held_by_another_socket_is_refused)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct pc_proxy_listeners pl;
	int fd;

	sin.sin_addr.s_addr = htonl(INADDR_ANY);
	sin.sin_port = htons(port);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(listen(fd, 1), 0);
	pc_proxy_listeners_init(&pl);
	ck_assert_int_eq(pc_proxy_listen(port, 1, &pl), -EADDRINUSE);
	pc_proxy_listeners_release(&pl);
	close(fd);
	/* the lock was let go with the rest: the next try gets both */
	ck_assert_int_eq(pc_proxy_listen(port, 1, &pl), 0);
	pc_proxy_listeners_release(&pl);
}
END_TEST

START_TEST(lock_name)
{
	char name[64];

	pc_proxy_lock_name(15001, name, sizeof(name));
	ck_assert_str_eq(name, "portcullis/proxy/15001");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("daemon.listen");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, listeners_are_loopback_only);
	tcase_add_test(tc, second_taker_is_refused_until_the_first_lets_go);
	tcase_add_test(tc, port_held_by_another_socket_is_refused);
	tcase_add_test(tc, lock_name);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
