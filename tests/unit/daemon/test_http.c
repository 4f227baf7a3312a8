/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for daemon/http.c's own acceptor and sweeper, on a Unix socket
 * in a temporary directory: a full server closes its oldest idle
 * connection to take a new one, answers 503 when none is idle, and cuts a
 * request whose body comes too slowly; the counters say each.
 */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "daemon/http.h"

static char dir[64];
static struct sockaddr_un sa = { .sun_family = AF_UNIX };
static atomic_int release; /* "/block" answers once set */

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url,
			       const char *method, const char *version, const char *data,
			       size_t *size, void **state)
{
	int i;

	(void)cls;
	(void)method;
	(void)version;
	(void)data;
	if (!*state) {
		*state = conn;
		return MHD_YES;
	}
	if (*size) {
		*size = 0;
		return MHD_YES;
	}
	for (i = 0; strcmp(url, "/block") == 0 && !atomic_load(&release) && i < 500; i++)
		usleep(10 * 1000);
	return pc_http_send(conn, 200, PC_HTTP_CT_TEXT, "ok", 2, false);
}

static struct pc_http *serve(unsigned max_conns, unsigned rate)
{
	struct pc_http_limits lim = { .max_conns = max_conns,
				      .idle_seconds = 30,
				      .body_grace_seconds = 1,
				      .min_body_rate = rate };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct pc_http *h;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(fd, 16), 0);
	h = pc_http_start(fd, handler, NULL, NULL, &lim, "test");
	ck_assert_ptr_nonnull(h);
	return h;
}

static int client(const char *req)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	if (req)
		ck_assert_int_eq(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	return fd;
}

/* What <fd> reads within 5 s, until end-of-file: "" when closed unanswered. */
static void answer(int fd, char *out, size_t size)
{
	struct pollfd p = { fd, POLLIN, 0 };
	size_t len = 0;
	ssize_t n;

	out[0] = '\0';
	while (len + 1 < size && poll(&p, 1, 5000) > 0) {
		n = read(fd, out + len, size - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		out[len] = '\0';
	}
}

/* Wait until the server counts <open> connections. */
static void wait_open(struct pc_http *h, uint64_t open)
{
	struct pc_http_counters n;
	int i;

	for (i = 0; i < 500; i++) {
		pc_http_read_counters(h, &n);
		if (n.open == open)
			return;
		usleep(10 * 1000);
	}
	ck_abort_msg("%llu connections open, not %llu", (unsigned long long)n.open,
		     (unsigned long long)open);
}

static void setup(void)
{
	snprintf(dir, sizeof(dir), "%s", "/tmp/pc-http-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/s", dir);
	atomic_store(&release, 0);
}

static void teardown(void)
{
	unlink(sa.sun_path);
	rmdir(dir);
}

#define GET(path) "GET " path " HTTP/1.0\r\n\r\n"

START_TEST(a_full_server_closes_its_oldest_idle_connection)
{
	struct pc_http *h = serve(2, 0);
	struct pc_http_counters n;
	char buf[512];
	int a = client(NULL), b, c;

	wait_open(h, 1);
	b = client("GET / HTTP/1.0\r\n"); /* headers not all in: idle too */
	wait_open(h, 2);
	c = client(GET("/"));
	answer(c, buf, sizeof(buf));
	ck_assert_msg(strstr(buf, "200 OK") && strstr(buf, "ok"), "%s", buf);
	answer(a, buf, sizeof(buf)); /* the oldest: closed */
	ck_assert_str_eq(buf, "");
	pc_http_read_counters(h, &n);
	ck_assert_uint_eq(n.evicted, 1);
	ck_assert_uint_eq(n.full, 0);
	close(a);
	close(b);
	close(c);
	pc_http_stop(h);
}
END_TEST

START_TEST(a_server_busy_everywhere_says_so)
{
	struct pc_http *h = serve(2, 0);
	struct pc_http_counters n;
	char buf[512];
	int a = client(GET("/block")), b = client(GET("/block")), c;

	wait_open(h, 2);
	usleep(100 * 1000); /* both in their handler: busy, not idle */
	c = client(GET("/"));
	answer(c, buf, sizeof(buf));
	ck_assert_msg(strstr(buf, "503 Service Unavailable") &&
			      strstr(buf, "too many connections: 2 open, limit 2, none idle"),
		      "%s", buf);
	pc_http_read_counters(h, &n);
	ck_assert_uint_eq(n.full, 1);
	atomic_store(&release, 1);
	answer(a, buf, sizeof(buf));
	ck_assert_msg(strstr(buf, "200 OK"), "%s", buf);
	close(a);
	close(b);
	close(c);
	pc_http_stop(h);
}
END_TEST

START_TEST(a_slow_body_is_cut)
{
	struct pc_http *h = serve(4, 1u << 20);
	struct pc_http_counters n;
	char buf[512];
	int a = client("POST / HTTP/1.0\r\nContent-Length: 100000\r\n\r\nx");

	answer(a, buf, sizeof(buf)); /* cut after the 1 s grace: 1 byte is not 1 MiB/s */
	ck_assert_str_eq(buf, "");
	pc_http_read_counters(h, &n);
	ck_assert_uint_eq(n.slow, 1);
	close(a);
	pc_http_stop(h);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("daemon.http");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, a_full_server_closes_its_oldest_idle_connection);
	tcase_add_test(tc, a_server_busy_everywhere_says_so);
	tcase_add_test(tc, a_slow_body_is_cut);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
