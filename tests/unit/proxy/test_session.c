/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for proxy/session.c: a worker's loop driven from the test's
 * own thread over loopback TCP, through the pc_session_start() seam (an fd
 * already accepted and its original destination given, so no listener
 * rules and no SO_ORIGINAL_DST). The app's end and a fake upstream are
 * plain non-blocking sockets the test reads and writes between slices of
 * the loop, so each stage is seen in milliseconds: accept -> relay both
 * ways, server-first, deny (reset, MySQL answer), connect failure,
 * half-close, revocation after the grace, and a preread that peeks the
 * first flight and then relays it from byte 0.
 */
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/loop.h"
#include "model/finding.h"
#include "model/manifest.h"
#include "net/addr.h"
#include "net/sock.h"
#include "policy/snapshot.h"
#include "proxy/deny.h"
#include "proxy/session-int.h"
#include "proxy/session.h"
#include "proxy/worker.h"
#include "tlsutil.h"

#define SLICE_MS 5
#define PATIENCE_MS 3000 /* a loaded machine: bounds on behaviour, never on speed */

struct world {
	struct pc_proxy_config cfg;
	struct pc_worker w;
	struct pc_timer stop;
	int srv;           /* the upstream's listener */
	int front;         /* where the app's connections are accepted (stands in for iptables) */
	struct pc_addr up; /* the upstream's address: an allowed ServiceEntry */
	FILE *access;
	FILE *log;
};

/* Snapshots borrow their manifest's strings: the manifests live until the test ends. */
static struct pc_manifest manifests[8];
static unsigned nmanifests;

static void on_stop(struct pc_loop *loop, struct pc_timer *t)
{
	(void)t;
	pc_loop_stop(loop);
}

static void run_for(struct world *x, uint64_t ms)
{
	pc_timer_init(&x->stop, on_stop, NULL);
	ck_assert_int_eq(pc_timer_start(x->w.loop, &x->stop, ms), 0);
	ck_assert_int_eq(pc_loop_run(x->w.loop), 0);
}

static int listener(struct pc_addr *a)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(listen(fd, 16), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	ck_assert_int_eq(pc_addr_parse("127.0.0.1", a), 0);
	a->port = ntohs(sin.sin_port);
	return fd;
}

/* A port on which nothing listens (bound, then closed). */
static uint16_t dead_port(void)
{
	struct pc_addr a;

	close(listener(&a));
	return a.port;
}

/* The ServiceEntry of compile(), followed by the documents in <extra>. */
static struct pc_snapshot *compile_with(uint16_t port, uint16_t mysql_port, const char *extra)
{
	char yaml[2048];
	struct pc_manifest *mp = &manifests[nmanifests++];
	struct pc_findings f;
	struct pc_compile_opts o = { .policy = -1, .proxy_port = 15001, .generation = 1 };
	struct pc_snapshot *snap;

	snprintf(yaml, sizeof(yaml),
		 "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
		 "metadata: {name: local, namespace: t}\n"
		 "spec: {hosts: [local.example], addresses: [127.0.0.1], resolution: NONE,\n"
		 "       location: MESH_EXTERNAL, ports: [{name: tcp, number: %u, protocol: TCP},\n"
		 "       {name: db, number: %u, protocol: MYSQL}]}\n%s",
		 port, mysql_port, extra);
	ck_assert_uint_le(nmanifests, sizeof(manifests) / sizeof(manifests[0]));
	pc_findings_init(&f);
	ck_assert_int_eq(pc_manifest_init(mp), 0);
	ck_assert_int_eq(pc_manifest_add_buf(mp, "t.yaml", yaml, strlen(yaml), &f), 0);
	ck_assert_uint_eq(f.total_err, 0);
	ck_assert_int_eq(pc_policy_compile(mp, &o, NULL, NULL, &snap), 0);
	pc_findings_release(&f);
	return snap;
}

static struct pc_snapshot *compile(uint16_t port, uint16_t mysql_port)
{
	return compile_with(port, mysql_port, "");
}

/* The same with maxConnections: 1 on local.example. */
static struct pc_snapshot *compile_max1(uint16_t port)
{
	return compile_with(port, 4406,
			    "---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
			    "metadata: {name: local, namespace: t}\n"
			    "spec: {host: local.example,\n"
			    "       trafficPolicy: {connectionPool: {tcp: {maxConnections: 1}}}}\n");
}

/* An empty policy: REGISTRY_ONLY denies everything. */
static struct pc_snapshot *compile_empty(void)
{
	struct pc_manifest *mp = &manifests[nmanifests++];
	struct pc_compile_opts o = { .policy = -1, .proxy_port = 15001, .generation = 2 };
	struct pc_snapshot *snap;

	ck_assert_uint_le(nmanifests, sizeof(manifests) / sizeof(manifests[0]));
	ck_assert_int_eq(pc_manifest_init(mp), 0);
	ck_assert_int_eq(pc_policy_compile(mp, &o, NULL, NULL, &snap), 0);
	return snap;
}

static void world_init(struct world *x, int response)
{
	struct pc_addr front;

	memset(x, 0, sizeof(*x));
	x->srv = listener(&x->up);
	x->front = listener(&front);
	x->access = tmpfile();
	x->log = tmpfile();
	ck_assert_ptr_nonnull(x->access);
	ck_assert_ptr_nonnull(x->log);
	pc_log_set_fd(fileno(x->log));
	x->cfg.access_log_fd = fileno(x->access);
	x->cfg.access_format = PC_LOG_TEXT;
	x->cfg.deny_response = response;
	x->cfg.revoke_grace_ms = 50;
	ck_assert_int_eq(pc_worker_init(&x->w, 0, &x->cfg, -1, -1, compile(x->up.port, 4406)), 0);
}

static void world_release(struct world *x)
{
	pc_session_close_all(&x->w);
	ck_assert_ptr_null(x->w.sessions);
	ck_assert_ptr_null(x->w.staging);
	run_for(x, 0); /* the deferred frees */
	while (x->w.npipes) {
		x->w.npipes--;
		close(x->w.pipes[x->w.npipes][0]);
		close(x->w.pipes[x->w.npipes][1]);
	}
	pc_snapshot_unref(atomic_exchange(&x->w.pending, NULL));
	pc_snapshot_unref(x->w.snap);
	pc_accept_guard_release(&x->w.guard);
	pc_loop_free(x->w.loop);
	pc_worker_release(&x->w);
	pc_log_set_fd(-1);
	fclose(x->access);
	fclose(x->log);
	close(x->srv);
	close(x->front);
	while (nmanifests)
		pc_manifest_release(&manifests[--nmanifests]);
}

static const char *text_of(FILE *f)
{
	static char text[65536];
	size_t n;

	fflush(f);
	rewind(f);
	n = fread(text, 1, sizeof(text) - 1, f);
	text[n] = '\0';
	return text;
}

/*
 * The app dials <ip>:<port>: a loopback connection whose accepted end goes
 * to the worker as if iptables had redirected it there. Returns the app's
 * end (non-blocking).
 */
static int dial(struct world *x, const char *ip, uint16_t port)
{
	struct sockaddr_storage ss;
	struct pc_addr front, dst, client;
	socklen_t len;
	int app, fd;

	ck_assert_int_eq(pc_sock_local(x->front, &front), 0);
	len = pc_addr_to_sockaddr(&front, &ss);
	app = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(app, 0);
	ck_assert(connect(app, (struct sockaddr *)&ss, len) == 0 || errno == EINPROGRESS);
	fd = pc_sock_accept(x->front, &client);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pc_addr_parse(ip, &dst), 0);
	dst.port = port;
	pc_session_start(&x->w, fd, &client, &dst);
	return app;
}

/*
 * The upstream's end of the next proxied connection, or -1 if none came within <ms>.
 * Measured on the clock, not in slices: a slice of the loop takes longer than
 * SLICE_MS on a loaded machine or under TSan, and counting slices then let the
 * session's own timers (the preread's) fire "before" <ms> had passed.
 */
static int upstream_accept(struct world *x, uint64_t ms)
{
	uint64_t t0 = pc_mono_ms();
	int fd;

	for (;;) {
		fd = accept4(x->srv, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0 || pc_mono_ms() - t0 >= ms)
			return fd;
		run_for(x, SLICE_MS);
	}
}

/*
 * Read from <fd> while the loop runs until <want> bytes, the end of stream
 * or PATIENCE_MS. Returns the count; <*end> is 1 at EOF, -errno on an
 * error (-ECONNRESET for a reset), 0 otherwise.
 */
static size_t read_some(struct world *x, int fd, char *buf, size_t want, int *end)
{
	uint64_t waited = 0;
	size_t len = 0;
	ssize_t n;

	*end = 0;
	while (len < want && waited < PATIENCE_MS) {
		n = recv(fd, buf + len, want - len, 0);
		if (n > 0) {
			len += (size_t)n;
			continue;
		}
		if (n == 0) {
			*end = 1;
			break;
		}
		if (errno != EAGAIN) {
			*end = -errno;
			break;
		}
		run_for(x, SLICE_MS);
		waited += SLICE_MS;
	}
	return len;
}

/* Wait for the end of <fd>: 1 for a FIN, -ECONNRESET for a reset. */
static int read_end(struct world *x, int fd)
{
	char buf[256];
	int end;

	read_some(x, fd, buf, sizeof(buf), &end);
	return end;
}

static void send_all(int fd, const void *p, size_t n)
{
	ck_assert_int_eq(send(fd, p, n, MSG_NOSIGNAL), (ssize_t)n);
}

/* -- allowed ------------------------------------------------------------------------ */

START_TEST(relay_both_ways)
{
	static char big[300000], got[sizeof(big)];
	struct world x;
	char buf[64];
	int app, up, end;
	size_t i;

	world_init(&x, PC_DENY_PROTOCOL);
	app = dial(&x, "127.0.0.1", x.up.port);
	up = upstream_accept(&x, PATIENCE_MS);
	ck_assert_int_ge(up, 0);
	ck_assert_ptr_nonnull(x.w.sessions); /* connecting or relaying: shown */
	ck_assert_ptr_null(x.w.staging);

	send_all(app, "ping", 4);
	ck_assert_uint_eq(read_some(&x, up, buf, 4, &end), 4);
	ck_assert_mem_eq(buf, "ping", 4);
	send_all(up, "pong!", 5);
	ck_assert_uint_eq(read_some(&x, app, buf, 5, &end), 5);
	ck_assert_mem_eq(buf, "pong!", 5);

	/* more than a pipe holds, upstream to app, while the app reads in pieces */
	for (i = 0; i < sizeof(big); i++)
		big[i] = (char)(i * 7 + i / 251);
	{
		size_t sent = 0, recvd = 0;
		uint64_t waited = 0;

		while (recvd < sizeof(big) && waited < 5ull * PATIENCE_MS) {
			ssize_t n;

			if (sent < sizeof(big)) {
				n = send(up, big + sent, sizeof(big) - sent, MSG_NOSIGNAL);
				if (n > 0)
					sent += (size_t)n;
			}
			n = recv(app, got + recvd, sizeof(got) - recvd, 0);
			if (n > 0) {
				recvd += (size_t)n;
				continue;
			}
			run_for(&x, 1);
			waited++;
		}
		ck_assert_uint_eq(recvd, sizeof(big));
		ck_assert_mem_eq(got, big, sizeof(big));
	}
	close(app);
	close(up);
	world_release(&x);
}
END_TEST

/* Nothing is read before the upstream is up: a server that greets first is heard. */
START_TEST(server_first_greeting)
{
	struct world x;
	char buf[64];
	int app, up, end;

	world_init(&x, PC_DENY_PROTOCOL);
	app = dial(&x, "127.0.0.1", x.up.port);
	up = upstream_accept(&x, PATIENCE_MS); /* the app has said nothing */
	ck_assert_int_ge(up, 0);
	send_all(up, "220 hello\r\n", 11);
	ck_assert_uint_eq(read_some(&x, app, buf, 11, &end), 11);
	ck_assert_mem_eq(buf, "220 hello\r\n", 11);
	close(app);
	close(up);
	world_release(&x);
}
END_TEST

/* A FIN travels on its own; the other direction stays open until it ends too. */
START_TEST(half_close)
{
	struct world x;
	char buf[64];
	int app, up, end;

	world_init(&x, PC_DENY_PROTOCOL);
	app = dial(&x, "127.0.0.1", x.up.port);
	up = upstream_accept(&x, PATIENCE_MS);
	ck_assert_int_ge(up, 0);
	send_all(app, "request", 7);
	ck_assert_int_eq(shutdown(app, SHUT_WR), 0);
	ck_assert_uint_eq(read_some(&x, up, buf, sizeof(buf), &end), 7);
	ck_assert_int_eq(end, 1); /* the request, then the FIN */
	ck_assert_mem_eq(buf, "request", 7);
	ck_assert_ptr_nonnull(x.w.sessions);

	send_all(up, "response", 8); /* the other way still flows */
	ck_assert_uint_eq(read_some(&x, app, buf, 8, &end), 8);
	ck_assert_mem_eq(buf, "response", 8);
	close(up);
	ck_assert_int_eq(read_end(&x, app), 1); /* a FIN, not a reset */
	ck_assert_ptr_null(x.w.sessions);
	ck_assert_ptr_nonnull(strstr(text_of(x.access), "\" 0 - - - \"-\" 7 8 "));
	close(app);
	world_release(&x);
}
END_TEST

START_TEST(connect_failure_resets)
{
	struct world x;
	int app;
	uint16_t port = dead_port();

	world_init(&x, PC_DENY_PROTOCOL);
	pc_snapshot_unref(x.w.snap);
	x.w.snap = compile(port, 4406);
	app = dial(&x, "127.0.0.1", port);
	ck_assert_int_eq(read_end(&x, app), -ECONNRESET);
	ck_assert_ptr_null(x.w.sessions);
	ck_assert_ptr_null(x.w.staging);
	ck_assert_ptr_nonnull(strstr(text_of(x.access), " UF,URX "));
	close(app);
	world_release(&x);
}
END_TEST

/* SO_LINGER of <fd>: 1 when it resets on close (l_onoff 1, l_linger 0), 0 for the default. */
static int resets_on_close(int fd)
{
	struct linger lg = { 0, 0 };
	socklen_t len = sizeof(lg);

	ck_assert_int_eq(getsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, &len), 0);
	ck_assert_int_eq(lg.l_linger, 0);
	return lg.l_onoff != 0;
}

/* The soft descriptor limit at the lowest free descriptor: the next one fails with EMFILE. */
static void exhaust_fds(struct rlimit *saved)
{
	struct rlimit rl;
	int fd = dup(0);

	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, saved), 0);
	rl = *saved;
	rl.rlim_cur = (rlim_t)fd;
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
}

static int proxy_end_of(int fd);

/*
 * Out of descriptors when the upstream socket is made: that connection is
 * reset (UF,URX), counted, logged; the worker goes on.
 */
START_TEST(upstream_socket_emfile_resets_that_connection)
{
	struct world x;
	struct rlimit saved;
	struct sockaddr_storage ss;
	struct pc_addr front, dst, client;
	socklen_t len;
	int app, fd;

	world_init(&x, PC_DENY_PROTOCOL);
	ck_assert_int_eq(pc_sock_local(x.front, &front), 0);
	len = pc_addr_to_sockaddr(&front, &ss);
	app = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(app, 0);
	ck_assert(connect(app, (struct sockaddr *)&ss, len) == 0 || errno == EINPROGRESS);
	fd = pc_sock_accept(x.front, &client);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pc_addr_parse("127.0.0.1", &dst), 0);
	dst.port = x.up.port;
	exhaust_fds(&saved);
	pc_session_start(&x.w, fd, &client, &dst); /* its socket(2) fails: EMFILE */
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &saved), 0);
	ck_assert_int_eq(read_end(&x, app), -ECONNRESET);
	ck_assert_ptr_null(x.w.sessions);
	ck_assert_ptr_null(x.w.staging);
	ck_assert_ptr_nonnull(strstr(text_of(x.access), " UF,URX "));
	ck_assert_uint_eq(pc_counter_get(&x.w.stats.upstream_socket_errors), 1);
	ck_assert_ptr_nonnull(strstr(text_of(x.log), "cannot open an upstream socket"));
	close(app);
	/* the next connection is relayed */
	app = dial(&x, "127.0.0.1", x.up.port);
	fd = upstream_accept(&x, PATIENCE_MS);
	ck_assert_int_ge(fd, 0);
	close(fd);
	close(app);
	world_release(&x);
}
END_TEST

/*
 * A relay that cannot get a pipe (out of descriptors, the pool empty)
 * copies through its buffer: the open connection is not cut.
 */
START_TEST(no_pipe_copies_instead)
{
	struct world x;
	struct rlimit saved;
	char buf[64];
	int app, up, end;

	world_init(&x, PC_DENY_PROTOCOL);
	app = dial(&x, "127.0.0.1", x.up.port);
	up = upstream_accept(&x, PATIENCE_MS);
	ck_assert_int_ge(up, 0);
	run_for(&x, SLICE_MS); /* relaying */
	while (x.w.npipes) {   /* no pipe to reuse either */
		x.w.npipes--;
		close(x.w.pipes[x.w.npipes][0]);
		close(x.w.pipes[x.w.npipes][1]);
	}
	exhaust_fds(&saved);
	send_all(app, "ping", 4);
	ck_assert_uint_eq(read_some(&x, up, buf, 4, &end), 4);
	ck_assert_mem_eq(buf, "ping", 4);
	send_all(up, "pong!", 5);
	ck_assert_uint_eq(read_some(&x, app, buf, 5, &end), 5);
	ck_assert_mem_eq(buf, "pong!", 5);
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &saved), 0);
	ck_assert_ptr_nonnull(x.w.sessions);
	close(app);
	close(up);
	world_release(&x);
}
END_TEST

/*
 * Allocation failures on the data path (the session, the timer heap, ...),
 * one at a time (debug builds: PC_FAIL_ALLOC): each costs that connection
 * at most, which is relayed or reset, never left hanging; the worker goes
 * on and relays the next one.
 */
START_TEST(alloc_failure_costs_one_connection)
{
	long n;

	for (n = 1; n < 64; n++) {
		struct world x;
		char buf[8];
		int app, up, end, injected;
		ssize_t sent;

		world_init(&x, PC_DENY_PROTOCOL);
		pc_alloc_fail_at(n);
		app = dial(&x, "127.0.0.1", x.up.port);
		up = upstream_accept(&x, 200);
		sent = up >= 0 ? send(app, "ping", 4, MSG_NOSIGNAL) : 0;
		if (sent == 4 && read_some(&x, up, buf, 4, &end) == 4) {
			send_all(up, "pong", 4);
			ck_assert_uint_eq(read_some(&x, app, buf, 4, &end), 4);
		} else if (sent < 0) { /* the reset came first */
			ck_assert_msg(errno == ECONNRESET || errno == EPIPE, "%s", strerror(errno));
		} else {
			ck_assert_int_eq(read_end(&x, app), -ECONNRESET);
		}
		injected = pc_alloc_injected();
		pc_alloc_fail_at(0);
		if (up >= 0)
			close(up);
		close(app);
		/* the worker still relays */
		app = dial(&x, "127.0.0.1", x.up.port);
		up = upstream_accept(&x, PATIENCE_MS);
		ck_assert_int_ge(up, 0);
		send_all(app, "ping", 4);
		ck_assert_uint_eq(read_some(&x, up, buf, 4, &end), 4);
		close(up);
		close(app);
		world_release(&x);
		if (!injected)
			break; /* fewer allocations than <n> on this path: all swept */
	}
	ck_assert_int_gt(n, 1);
}
END_TEST

/*
 * Both proxied sockets reset on close while relaying (a crash then resets
 * both peers); a socket's FIN clears that first, and an orderly end still
 * delivers every byte before a FIN.
 */
START_TEST(linger_resets_until_an_orderly_end)
{
	static char big[200000], got[sizeof(big)];
	struct world x;
	char buf[64];
	int app, up, end, papp, pup;
	size_t i, sent = 0, recvd = 0;
	uint64_t waited = 0;

	world_init(&x, PC_DENY_PROTOCOL);
	app = dial(&x, "127.0.0.1", x.up.port);
	up = upstream_accept(&x, PATIENCE_MS);
	ck_assert_int_ge(up, 0);
	send_all(app, "ping", 4);
	ck_assert_uint_eq(read_some(&x, up, buf, 4, &end), 4);
	papp = proxy_end_of(app);
	pup = proxy_end_of(up);
	ck_assert_int_eq(resets_on_close(papp), 1);
	ck_assert_int_eq(resets_on_close(pup), 1);

	/* the app is done: its FIN is passed on, and that socket no longer resets */
	ck_assert_int_eq(shutdown(app, SHUT_WR), 0);
	ck_assert_uint_eq(read_some(&x, up, buf, sizeof(buf), &end), 0);
	ck_assert_int_eq(end, 1);
	ck_assert_int_eq(resets_on_close(pup), 0);
	ck_assert_int_eq(resets_on_close(papp), 1); /* the response is still to come */

	/* the upstream sends more than the socket buffers hold, then closes: all of it arrives */
	for (i = 0; i < sizeof(big); i++)
		big[i] = (char)(i * 13 + i / 253);
	while (recvd < sizeof(big) && waited < 5ull * PATIENCE_MS) {
		ssize_t n;

		if (sent < sizeof(big)) {
			n = send(up, big + sent, sizeof(big) - sent, MSG_NOSIGNAL);
			if (n > 0)
				sent += (size_t)n;
			if (sent == sizeof(big))
				close(up); /* the FIN right behind the last bytes */
		}
		n = recv(app, got + recvd, sizeof(got) - recvd, 0);
		if (n > 0) {
			recvd += (size_t)n;
			continue;
		}
		run_for(&x, 1);
		waited++;
	}
	ck_assert_uint_eq(recvd, sizeof(big));
	ck_assert_mem_eq(got, big, sizeof(big));
	ck_assert_int_eq(read_end(&x, app), 1); /* a FIN, not a reset */
	ck_assert_ptr_null(x.w.sessions);
	close(app);
	world_release(&x);
}
END_TEST

/*
 * The loop's wake-ups, counted: this binary's epoll_wait() stands in for
 * libc's (the loop in core/loop.c is linked in statically), so a test can
 * tell a loop that sleeps from one that spins without timing anything.
 */
static atomic_ulong epoll_waits;

int epoll_wait(int epfd, struct epoll_event *events, int maxevents, int timeout)
{
	atomic_fetch_add_explicit(&epoll_waits, 1, memory_order_relaxed);
	return epoll_pwait(epfd, events, maxevents, timeout, NULL);
}

/* Whether socket <fd>'s address (<peer>: its peer's) is <want> of length <wlen>. */
static bool addr_is(int fd, bool peer, const struct sockaddr_storage *want, socklen_t wlen)
{
	struct sockaddr_storage got;
	socklen_t glen = sizeof(got);
	int ret = peer ? getpeername(fd, (struct sockaddr *)&got, &glen)
		       : getsockname(fd, (struct sockaddr *)&got, &glen);

	return ret == 0 && glen == wlen && memcmp(&got, want, wlen) == 0;
}

/* The proxy's end of the connection whose other end <fd> the test holds. */
static int proxy_end_of(int fd)
{
	struct sockaddr_storage local, remote;
	socklen_t llen = sizeof(local), rlen = sizeof(remote);
	int i;

	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&local, &llen), 0);
	ck_assert_int_eq(getpeername(fd, (struct sockaddr *)&remote, &rlen), 0);
	for (i = 3; i < 1024; i++) {
		if (i != fd && addr_is(i, false, &remote, rlen) && addr_is(i, true, &local, llen))
			return i;
	}
	ck_abort_msg("no proxy end for fd %d", fd);
	return -1;
}

/*
 * A pipe full by its slots, not its bytes, must not make the loop spin.
 * Every splice of a small segment takes a pipe slot of its own (a pipe of
 * 256 KiB has 64), so a client sending byte by byte to an upstream that
 * does not read fills the slots with a few hundred bytes; splice then says
 * EAGAIN while in_pipe is far below the capacity. The old flow kept READ
 * on the client, which stays readable: hundreds of thousands of empty
 * iterations in 200 ms. The upstream's path is made small (its receive
 * buffer, the proxy's send buffer) so that 64 KiB fill it and the rest
 * waits in the pipe.
 */
START_TEST(pipe_full_by_slots_does_not_spin)
{
	static char bulk[65536], got[sizeof(bulk) + 200];
	struct world x;
	int app, up, down, end, one = 1, small = 4096, inq = 0;
	unsigned long waits;
	size_t i;

	world_init(&x, PC_DENY_PROTOCOL);
	ck_assert_int_eq(setsockopt(x.srv, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
	app = dial(&x, "127.0.0.1", x.up.port);
	up = upstream_accept(&x, PATIENCE_MS);
	ck_assert_int_ge(up, 0);
	ck_assert_int_eq(setsockopt(proxy_end_of(up), SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)),
			 0);
	down = proxy_end_of(app);
	ck_assert_int_eq(setsockopt(app, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)), 0);

	for (i = 0; i < sizeof(bulk); i++)
		bulk[i] = (char)(i * 13 + i / 241);
	send_all(app, bulk, sizeof(bulk)); /* fills the upstream's path; the rest waits in the pipe */
	run_for(&x, 20);
	for (i = 0; i < 200; i++) { /* one segment, one splice, one slot each */
		char c = (char)('a' + i % 26);

		send_all(app, &c, 1);
		run_for(&x, 1);
	}
	run_for(&x, 20);
	ck_assert_int_eq(ioctl(down, FIONREAD, &inq), 0);
	ck_assert_int_gt(inq, 0); /* the pipe is full: bytes wait unread in the socket */

	atomic_store(&epoll_waits, 0);
	run_for(&x, 200);
	waits = atomic_load(&epoll_waits);
	ck_assert_msg(waits < 1000, "%lu loop iterations in 200 ms: the loop spins", waits);

	/* the upstream reads: every byte arrives, in order */
	ck_assert_uint_eq(read_some(&x, up, got, sizeof(got), &end), sizeof(got));
	ck_assert_mem_eq(got, bulk, sizeof(bulk));
	for (i = 0; i < 200; i++)
		ck_assert_int_eq(got[sizeof(bulk) + i], 'a' + (int)(i % 26));
	close(app);
	close(up);
	world_release(&x);
}
END_TEST

/*
 * maxConnections: 1. A second connection overflows (UO) while the first is
 * open; a connect that fails gives its slot back, and so does a close.
 */
START_TEST(max_connections_slot_balanced)
{
	struct world x;
	int app, app2, up, i;
	uint16_t dead = dead_port();

	world_init(&x, PC_DENY_PROTOCOL);
	pc_snapshot_unref(x.w.snap);
	x.w.snap = compile_max1(dead);
	for (i = 0; i < 2; i++) { /* a leaked slot would make the second one UO */
		app = dial(&x, "127.0.0.1", dead);
		ck_assert_int_eq(read_end(&x, app), -ECONNRESET);
		close(app);
	}
	ck_assert_ptr_null(strstr(text_of(x.access), " UO "));

	pc_snapshot_unref(x.w.snap);
	x.w.snap = compile_max1(x.up.port);
	app = dial(&x, "127.0.0.1", x.up.port);
	up = upstream_accept(&x, PATIENCE_MS);
	ck_assert_int_ge(up, 0);
	app2 = dial(&x, "127.0.0.1", x.up.port);
	ck_assert_int_eq(read_end(&x, app2), -ECONNRESET);
	close(app2);
	ck_assert_ptr_nonnull(strstr(text_of(x.access), " UO "));
	close(app);
	close(up);
	for (i = 0; i < PATIENCE_MS / SLICE_MS && x.w.sessions; i++)
		run_for(&x, SLICE_MS);
	ck_assert_ptr_null(x.w.sessions);
	app = dial(&x, "127.0.0.1", x.up.port); /* the slot is free again */
	up = upstream_accept(&x, PATIENCE_MS);
	ck_assert_int_ge(up, 0);
	close(app);
	close(up);
	world_release(&x);
}
END_TEST

/* -- denied -------------------------------------------------------------------------- */

START_TEST(deny_reset_mode)
{
	struct world x;
	int app;

	world_init(&x, PC_DENY_RESET);
	app = dial(&x, "127.0.0.1", dead_port()); /* no entry: BlackHoleCluster */
	ck_assert_ptr_null(x.w.staging);          /* reset at once */
	ck_assert_int_eq(read_end(&x, app), -ECONNRESET);
	ck_assert_ptr_nonnull(strstr(text_of(x.access), " UH "));
	ck_assert_ptr_nonnull(strstr(text_of(x.log), "response=reset"));
	close(app);
	world_release(&x);
}
END_TEST

/* A server-first port: the ERR packet at once, then the FIN; the denial is a stage, not shown. */
START_TEST(deny_mysql_answer)
{
	struct world x;
	char buf[512];
	int app, end;
	size_t n;

	world_init(&x, PC_DENY_PROTOCOL);
	app = dial(&x, "127.0.0.2", 3306);
	ck_assert_ptr_null(x.w.sessions);
	ck_assert_ptr_nonnull(x.w.staging); /* DENYING: draining */
	n = read_some(&x, app, buf, sizeof(buf), &end);
	ck_assert_int_eq(end, 1);
	ck_assert_uint_gt(n, 7);
	ck_assert_uint_eq((uint8_t)buf[4], 0xff);
	ck_assert_ptr_nonnull(memmem(buf, n, "egress to 127.0.0.2:3306 denied", 31));
	/* the UH record is written when the denial starts */
	ck_assert_ptr_nonnull(strstr(text_of(x.access), " UH "));
	close(app);
	run_for(&x, 20);
	ck_assert_ptr_null(x.w.staging);
	ck_assert_ptr_nonnull(strstr(text_of(x.log), "response=mysql"));
	world_release(&x);
}
END_TEST

/* An HTTP client of a denied destination gets the 403 once its request line is in. */
START_TEST(deny_http_after_sniff)
{
	struct world x;
	char buf[512];
	int app, end;

	world_init(&x, PC_DENY_PROTOCOL);
	app = dial(&x, "127.0.0.1", dead_port());
	run_for(&x, 20);
	ck_assert_ptr_nonnull(x.w.staging); /* waiting for the first bytes */
	send_all(app, "GE", 2);
	run_for(&x, 20);
	ck_assert_int_eq(recv(app, buf, 1, 0), -1); /* a prefix of a method: no answer yet */
	ck_assert_int_eq(errno, EAGAIN);
	ck_assert_ptr_nonnull(x.w.staging);
	send_all(app, "T / HTTP/1.1\r\nHost: x\r\n\r\n", 25);
	read_some(&x, app, buf, sizeof(buf) - 1, &end);
	ck_assert_int_eq(end, 1);
	ck_assert(strncmp(buf, "HTTP/1.1 403 Forbidden\r\n", 24) == 0);
	close(app);
	world_release(&x);
}
END_TEST

/* -- revoked --------------------------------------------------------------------------- */

START_TEST(revoke_after_grace)
{
	struct world x;
	char buf[64];
	int app, up, end;

	world_init(&x, PC_DENY_PROTOCOL);
	app = dial(&x, "127.0.0.1", x.up.port);
	up = upstream_accept(&x, PATIENCE_MS);
	ck_assert_int_ge(up, 0);
	send_all(app, "x", 1);
	ck_assert_uint_eq(read_some(&x, up, buf, 1, &end), 1);

	pc_worker_publish(&x.w, compile_empty()); /* nothing is allowed any more */
	run_for(&x, 10);
	ck_assert_ptr_nonnull(x.w.sessions); /* in its grace (50 ms) */
	send_all(app, "y", 1);
	ck_assert_uint_eq(read_some(&x, up, buf, 1, &end), 1);
	ck_assert_int_eq(read_end(&x, app), -ECONNRESET);
	ck_assert_int_eq(read_end(&x, up), -ECONNRESET);
	ck_assert_ptr_null(x.w.sessions);
	ck_assert_ptr_nonnull(strstr(text_of(x.access), "portcullis_policy_revoked"));
	close(app);
	close(up);
	world_release(&x);
}
END_TEST

/* A policy that allows it again within the grace calls the revocation off. */
START_TEST(revoke_called_off)
{
	struct world x;
	char buf[64];
	int app, up, end;

	world_init(&x, PC_DENY_PROTOCOL);
	app = dial(&x, "127.0.0.1", x.up.port);
	up = upstream_accept(&x, PATIENCE_MS);
	ck_assert_int_ge(up, 0);
	pc_worker_publish(&x.w, compile_empty());
	run_for(&x, 10);
	pc_worker_publish(&x.w, compile(x.up.port, 4406));
	run_for(&x, 150);
	ck_assert_ptr_nonnull(x.w.sessions);
	send_all(app, "still", 5);
	ck_assert_uint_eq(read_some(&x, up, buf, 5, &end), 5);
	close(app);
	close(up);
	world_release(&x);
}
END_TEST

/* -- preread --------------------------------------------------------------------------- */

/* Ask for a preread on <port>, as a name-based entry will (tests may write the snapshot). */
static void want_name(struct world *x, uint16_t port)
{
	size_t i;

	for (i = 0; i < x->w.snap->nports; i++) {
		if (x->w.snap->ports[i].port == port)
			x->w.snap->ports[i].needs_name = true;
	}
	ck_assert(pc_snapshot_port_needs_name(x->w.snap, port));
}

START_TEST(preread_peeks_then_relays_from_byte_0)
{
	const char *head = "GET /p HTTP/1.1\r\nHost: Local.Example:80\r\n";
	struct world x;
	char buf[256];
	int app, up, end;
	size_t n;

	world_init(&x, PC_DENY_PROTOCOL);
	want_name(&x, x.up.port);
	app = dial(&x, "127.0.0.1", x.up.port);
	send_all(app, head, strlen(head)); /* the head is not whole yet */
	ck_assert_int_eq(upstream_accept(&x, 50), -1);
	ck_assert_ptr_nonnull(x.w.staging); /* PREREAD: not classified, not shown */
	ck_assert_ptr_null(x.w.sessions);

	send_all(app, "\r\nbody", 6); /* now it is: classified, connected */
	up = upstream_accept(&x, PATIENCE_MS);
	ck_assert_int_ge(up, 0);
	n = read_some(&x, up, buf, strlen(head) + 6, &end);
	ck_assert_uint_eq(n, strlen(head) + 6); /* every byte, from the first */
	ck_assert_mem_eq(buf, head, strlen(head));
	ck_assert_mem_eq(buf + strlen(head), "\r\nbody", 6);
	ck_assert_ptr_nonnull(x.w.sessions);
	send_all(up, "HTTP/1.1 200 OK\r\n\r\n", 19);
	ck_assert_uint_eq(read_some(&x, app, buf, 19, &end), 19);
	close(app);
	close(up);
	world_release(&x);
}
END_TEST

/* A port that needs a name but is server-first (declared MYSQL) never waits for the client. */
START_TEST(preread_skipped_on_server_first_port)
{
	struct world x;
	struct pc_addr db;
	int app, up, srv;

	world_init(&x, PC_DENY_PROTOCOL);
	srv = listener(&db);
	pc_snapshot_unref(x.w.snap);
	x.w.snap = compile(x.up.port, db.port);
	want_name(&x, db.port);
	app = dial(&x, "127.0.0.1", db.port);
	close(x.srv);
	x.srv = srv;
	up = upstream_accept(&x, PATIENCE_MS); /* connected although the app said nothing */
	ck_assert_int_ge(up, 0);
	close(app);
	close(up);
	world_release(&x);
}
END_TEST

/* A client that says nothing on a preread port is classified by address after the wait. */
START_TEST(preread_times_out_to_the_address)
{
	struct world x;
	int app, up;

	world_init(&x, PC_DENY_PROTOCOL);
	want_name(&x, x.up.port);
	app = dial(&x, "127.0.0.1", x.up.port);
	ck_assert_int_eq(upstream_accept(&x, PC_PREREAD_MS - 500), -1);
	up = upstream_accept(&x, PATIENCE_MS);
	ck_assert_int_ge(up, 0);
	close(app);
	close(up);
	world_release(&x);
}
END_TEST

/* A denial on a preread port answers from the bytes the preread saw. */
START_TEST(preread_then_denied_answers_tls)
{
	static const uint8_t hello[] = { 0x16, 0x03, 0x01, 0x00, 0x30, 0x01, 0x00, 0x00, 0x2c };
	static const uint8_t alert[] = { 0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x31 };
	struct world x;
	char buf[64];
	int app, end;

	world_init(&x, PC_DENY_PROTOCOL);
	pc_snapshot_unref(x.w.snap);
	x.w.snap = compile(x.up.port, 4406);
	want_name(&x, x.up.port);
	app = dial(&x, "127.0.0.3", x.up.port); /* the port's entry has other addresses */
	send_all(app, hello, sizeof(hello));
	run_for(&x, 20);
	ck_assert_ptr_nonnull(x.w.staging); /* the hello is not whole: still prereading */
	ck_assert_int_eq(shutdown(app, SHUT_WR), 0); /* it never will be */
	ck_assert_uint_eq(read_some(&x, app, buf, sizeof(alert), &end), sizeof(alert));
	ck_assert_mem_eq(buf, alert, sizeof(alert));
	close(app);
	world_release(&x);
}
END_TEST

/*
 * A policy published while a session prereads decides it, even when the
 * worker has not woken to it yet: the wake-up may come later in the batch
 * than the client's last bytes (here it never comes: <pending> is set as
 * pc_worker_publish() sets it, without the wake).
 */
START_TEST(preread_classified_under_a_pending_policy)
{
	const char *head = "GET / HTTP/1.1\r\nHost: local.example\r\n";
	struct world x;
	struct pc_snapshot *deny;
	char buf[256];
	int app, end;

	world_init(&x, PC_DENY_PROTOCOL);
	want_name(&x, x.up.port);
	app = dial(&x, "127.0.0.1", x.up.port);
	send_all(app, head, strlen(head));
	run_for(&x, 20);
	ck_assert_ptr_nonnull(x.w.staging); /* PREREAD */
	deny = compile_empty();
	atomic_store(&x.w.pending, deny);
	send_all(app, "\r\n", 2); /* the head is whole: classify now */
	run_for(&x, 20);
	ck_assert_ptr_eq(x.w.snap, deny); /* adopted first */
	ck_assert_int_eq(upstream_accept(&x, 50), -1); /* the old code connected */
	ck_assert_uint_gt(read_some(&x, app, buf, sizeof(buf) - 1, &end), 24);
	ck_assert_int_eq(end, 1);
	ck_assert(strncmp(buf, "HTTP/1.1 403 Forbidden\r\n", 24) == 0);
	ck_assert_ptr_nonnull(strstr(text_of(x.access), " UH "));
	close(app);
	world_release(&x);
}
END_TEST

/* -- egress by name: TLS SNI and HTTP Host (issue 11) ------------------------------- */

/* TLS entries for *.example.com and an HTTP entry for h.example.com on <port>, no addresses. */
static struct pc_snapshot *compile_names(uint16_t port)
{
	char extra[1024];

	snprintf(extra, sizeof(extra),
		 "---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
		 "metadata: {name: tls, namespace: t}\n"
		 "spec: {hosts: [\"*.example.com\"], resolution: NONE, location: MESH_EXTERNAL,\n"
		 "       ports: [{name: https, number: %u, protocol: TLS}]}\n"
		 "---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
		 "metadata: {name: web, namespace: t}\n"
		 "spec: {hosts: [h.example.org], resolution: NONE, location: MESH_EXTERNAL,\n"
		 "       ports: [{name: http, number: %u, protocol: HTTP}]}\n",
		 port, port);
	return compile_with(dead_port(), 4406, extra);
}

static void names_init(struct world *x)
{
	world_init(x, PC_DENY_PROTOCOL);
	pc_snapshot_unref(x->w.snap);
	x->w.snap = compile_names(x->up.port);
	ck_assert(pc_snapshot_port_needs_name(x->w.snap, x->up.port));
}

/* A ClientHello record naming <name> (NULL: no server_name extension). */
static size_t client_hello(uint8_t *out, const char *name)
{
	uint8_t ext[300];

	return tls_hello(out, ext, name ? tls_sni_ext(ext, name, 1) : 0);
}

/* An allowed SNI reaches the upstream with the ClientHello untouched, even sent byte by byte. */
START_TEST(sni_allowed_hello_untouched)
{
	uint8_t hello[512], got[512];
	struct world x;
	size_t n, i;
	int app, up, end;

	names_init(&x);
	n = client_hello(hello, "api.example.com");
	app = dial(&x, "127.0.0.1", x.up.port);
	for (i = 0; i < n; i++) {
		send_all(app, hello + i, 1);
		if (i + 1 < n)
			run_for(&x, i % 16 ? 0 : 1);
	}
	up = upstream_accept(&x, PATIENCE_MS);
	ck_assert_int_ge(up, 0);
	ck_assert_uint_eq(read_some(&x, up, (char *)got, n, &end), n);
	ck_assert_mem_eq(got, hello, n);
	send_all(up, "srv", 3);
	ck_assert_uint_eq(read_some(&x, app, (char *)got, 3, &end), 3);
	close(app);
	close(up);
	run_for(&x, 50); /* the close, and its record */
	ck_assert_ptr_nonnull(strstr(text_of(x.access), " api.example.com "));
	world_release(&x);
}
END_TEST

/* A foreign SNI, none, a parent domain and plain bytes are refused; the upstream sees none. */
START_TEST(sni_refused_cases)
{
	static const uint8_t alert[] = { 0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x31 };
	const char *names[] = { "evil.example.org", NULL, "example.com" };
	uint8_t hello[512];
	struct world x;
	char buf[64];
	const char *log;
	size_t n, i;
	int app, end;

	names_init(&x);
	for (i = 0; i < 3; i++) {
		n = client_hello(hello, names[i]);
		app = dial(&x, "127.0.0.1", x.up.port);
		send_all(app, hello, n);
		ck_assert_uint_eq(read_some(&x, app, buf, sizeof(alert), &end), sizeof(alert));
		ck_assert_mem_eq(buf, alert, sizeof(alert));
		close(app);
	}
	app = dial(&x, "127.0.0.1", x.up.port);
	send_all(app, "hello there\r\n", 13); /* neither TLS nor HTTP */
	ck_assert_int_lt(read_end(&x, app), 0);   /* reset */
	close(app);
	ck_assert_int_eq(upstream_accept(&x, 50), -1);
	log = text_of(x.log);
	ck_assert_ptr_nonnull(strstr(log, "name=evil.example.org"));
	ck_assert_ptr_nonnull(strstr(log, "name=example.com")); /* each name is logged */
	ck_assert_ptr_nonnull(strstr(log, "*.example.com")); /* the hint for the parent */
	world_release(&x);
}
END_TEST

/* A client that sends nothing on a name port is refused after --protocol-detection-timeout. */
START_TEST(detection_timeout_refuses_silence)
{
	struct world x;
	int app;

	names_init(&x);
	x.cfg.detect_ms = 100;
	app = dial(&x, "127.0.0.1", x.up.port);
	run_for(&x, 20);
	ck_assert_ptr_nonnull(x.w.staging); /* waiting: no upstream */
	ck_assert_int_lt(read_end(&x, app), 0);
	ck_assert_int_eq(upstream_accept(&x, 0), -1);
	close(app);
	world_release(&x);
}
END_TEST

#define GET(path, host) "GET " path " HTTP/1.1\r\nHost: " host "\r\n\r\n"
#define OK200 "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

/* The app sends <req> to the name port: the upstream's end, once it has read exactly <req>. */
static int http_open(struct world *x, const char *req, int *app)
{
	char buf[1024];
	size_t n = strlen(req);
	int up, end;

	ck_assert_uint_le(n, sizeof(buf));
	*app = dial(x, "127.0.0.1", x->up.port);
	send_all(*app, req, n);
	up = upstream_accept(x, PATIENCE_MS);
	ck_assert_int_ge(up, 0);
	ck_assert_uint_eq(read_some(x, up, buf, n, &end), n);
	ck_assert_mem_eq(buf, req, n);
	return up;
}

/* Every request of a kept-alive connection is checked: a foreign Host gets 403, never relayed. */
START_TEST(http_second_request_checked)
{
	const char *one = GET("/one", "h.example.org");
	const char *two = GET("/two", "evil.example.org");
	struct world x;
	char buf[1024];
	size_t n;
	int app, up, end;

	names_init(&x);
	up = http_open(&x, one, &app);
	send_all(up, OK200, strlen(OK200));
	ck_assert_uint_eq(read_some(&x, app, buf, strlen(OK200), &end), strlen(OK200));
	send_all(app, two, strlen(two));
	n = read_some(&x, app, buf, sizeof(buf) - 1, &end);
	buf[n] = '\0';
	ck_assert_int_eq(end, 1);
	ck_assert(strncmp(buf, "HTTP/1.1 403 Forbidden\r\n", 24) == 0);
	ck_assert_ptr_nonnull(strstr(buf, "Host \"evil.example.org\""));
	ck_assert_int_eq(read_some(&x, up, buf, sizeof(buf), &end), 0); /* nothing of it */
	ck_assert_ptr_nonnull(strstr(text_of(x.access), "\"GET /one HTTP/1.1\" 200"));
	ck_assert_ptr_nonnull(strstr(text_of(x.access), "\"GET /two HTTP/1.1\" 403"));
	close(app);
	close(up);
	world_release(&x);
}
END_TEST

/* A request shaped for smuggling gets 400 and not one byte of it goes upstream. */
START_TEST(http_smuggling_refused)
{
	const char *req = "POST / HTTP/1.1\r\nHost: h.example.org\r\nContent-Length: 4\r\n"
			  "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
	struct world x;
	char buf[1024];
	size_t n;
	int app, up, end;

	names_init(&x);
	app = dial(&x, "127.0.0.1", x.up.port);
	send_all(app, req, strlen(req));
	n = read_some(&x, app, buf, sizeof(buf) - 1, &end);
	buf[n] = '\0';
	ck_assert(strncmp(buf, "HTTP/1.1 400 Bad Request\r\n", 26) == 0);
	up = upstream_accept(&x, 0);
	if (up >= 0) {
		ck_assert_int_eq(read_some(&x, up, buf, sizeof(buf), &end), 0);
		close(up);
	}
	close(app);
	world_release(&x);
}
END_TEST

/* An allowed Upgrade answered 101 becomes a tunnel both ways. */
START_TEST(http_upgrade_becomes_tunnel)
{
	const char *req = "GET /ws HTTP/1.1\r\nHost: h.example.org\r\nConnection: Upgrade\r\n"
			  "Upgrade: websocket\r\n\r\n";
	const char *sw = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
			 "Upgrade: websocket\r\n\r\n";
	struct world x;
	char buf[1024];
	int app, up, end;

	names_init(&x);
	up = http_open(&x, req, &app);
	send_all(up, sw, strlen(sw));
	ck_assert_uint_eq(read_some(&x, app, buf, strlen(sw), &end), strlen(sw));
	send_all(app, "\x81\x02hi not http at all", 20);
	ck_assert_uint_eq(read_some(&x, up, buf, 20, &end), 20);
	ck_assert_mem_eq(buf, "\x81\x02hi not http at all", 20);
	send_all(up, "back", 4);
	ck_assert_uint_eq(read_some(&x, app, buf, 4, &end), 4);
	ck_assert_ptr_null(x.w.sessions->http); /* the flows took over */
	close(app);
	close(up);
	world_release(&x);
}
END_TEST

/* A request refused behind an allowed Upgrade never reaches the upstream, even after a 101. */
START_TEST(http_refused_behind_upgrade_stays_refused)
{
	const char *req = "POST /ws HTTP/1.1\r\nHost: h.example.org\r\nConnection: Upgrade\r\n"
			  "Upgrade: websocket\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n";
	const char *bad = "ZZ\r\nGET /x HTTP/1.1\r\nHost: evil.example.org\r\n\r\n";
	struct world x;
	char buf[1024];
	size_t n;
	int app, up, end;

	names_init(&x);
	app = dial(&x, "127.0.0.1", x.up.port);
	send_all(app, req, strlen(req));
	up = upstream_accept(&x, PATIENCE_MS);
	ck_assert_int_ge(up, 0);
	n = read_some(&x, up, buf, strlen(req), &end);
	ck_assert_uint_eq(n, strlen(req));
	send_all(app, bad, strlen(bad));
	/*
	 * The refused bytes belong to a request the upstream still waits for
	 * (it would never answer): both sides are reset at once, and not one
	 * byte of them went upstream, before or after any 101.
	 */
	n = read_some(&x, up, buf, sizeof(buf), &end);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(end, -ECONNRESET);
	ck_assert_int_eq(read_end(&x, app), -ECONNRESET);
	close(app);
	close(up);
	world_release(&x);
}
END_TEST

/* The upstream ends a tunnel first: the client's later bytes and its FIN still get through. */
START_TEST(http_tunnel_upstream_closes_first)
{
	const char *req = "GET /ws HTTP/1.1\r\nHost: h.example.org\r\nConnection: Upgrade\r\n"
			  "Upgrade: websocket\r\n\r\n";
	const char *sw = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
			 "Upgrade: websocket\r\n\r\nbye";
	struct world x;
	char buf[1024];
	int app, up, end;

	names_init(&x);
	up = http_open(&x, req, &app);
	send_all(up, sw, strlen(sw));
	ck_assert_int_eq(shutdown(up, SHUT_WR), 0);
	ck_assert_uint_eq(read_some(&x, app, buf, strlen(sw), &end), strlen(sw));
	ck_assert_int_eq(read_end(&x, app), 1); /* the upstream's FIN */
	send_all(app, "late", 4);
	ck_assert_uint_eq(read_some(&x, up, buf, 4, &end), 4);
	ck_assert_mem_eq(buf, "late", 4);
	ck_assert_int_eq(shutdown(app, SHUT_WR), 0);
	ck_assert_int_eq(read_end(&x, up), 1); /* and the client's */
	run_for(&x, 20);
	ck_assert_ptr_null(x.w.sessions); /* over */
	close(app);
	close(up);
	world_release(&x);
}
END_TEST

/* An IP-literal Host other than the address dialled, or none, is refused. */
START_TEST(http_ip_host_must_be_the_destination)
{
	const char *reqs[] = { GET("/a", "192.0.2.1"), "GET /b HTTP/1.0\r\n\r\n",
			       GET("/c", "h.example.org:1") };
	struct world x;
	char buf[1024];
	size_t n, i;
	int app, up, end;

	names_init(&x);
	for (i = 0; i < 3; i++) {
		app = dial(&x, "127.0.0.1", x.up.port);
		send_all(app, reqs[i], strlen(reqs[i]));
		n = read_some(&x, app, buf, sizeof(buf) - 1, &end);
		buf[n] = '\0';
		ck_assert_msg(strncmp(buf, "HTTP/1.1 403 Forbidden\r\n", 24) == 0, "%zu: %s", i, buf);
		up = upstream_accept(&x, 0);
		if (up >= 0) {
			ck_assert_int_eq(read_some(&x, up, buf, sizeof(buf), &end), 0);
			close(up);
		}
		close(app);
	}
	world_release(&x);
}
END_TEST

/* A 403 owed after a response the upstream cuts short is not sent as its body: a reset. */
START_TEST(http_refusal_after_a_cut_response_resets)
{
	const char *two = GET("/one", "h.example.org") GET("/two", "evil.example.org");
	const char *cut = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc";
	struct world x;
	char buf[1024];
	size_t n;
	int app, up, end;

	names_init(&x);
	app = dial(&x, "127.0.0.1", x.up.port);
	send_all(app, two, strlen(two));
	up = upstream_accept(&x, PATIENCE_MS);
	ck_assert_int_ge(up, 0);
	read_some(&x, up, buf, strlen(GET("/one", "h.example.org")), &end);
	send_all(up, cut, strlen(cut));
	close(up);
	n = read_some(&x, app, buf, sizeof(buf) - 1, &end);
	buf[n] = '\0';
	ck_assert_ptr_null(strstr(buf, "403"));
	ck_assert_int_eq(end, -ECONNRESET);
	close(app);
	world_release(&x);
}
END_TEST

/* A response that cannot be framed ends the connection (UPE) instead of stalling it. */
START_TEST(http_unparseable_response_closes)
{
	const char *one = GET("/one", "h.example.org");
	const char *bad = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok";
	struct world x;
	char buf[1024];
	int app, up, end;

	names_init(&x);
	up = http_open(&x, one, &app);
	send_all(up, bad, strlen(bad));
	read_some(&x, app, buf, sizeof(buf), &end);
	ck_assert_int_ne(end, 0); /* ended, not left hanging */
	run_for(&x, 20);
	ck_assert_ptr_null(x.w.sessions);
	ck_assert_ptr_nonnull(strstr(text_of(x.access), "UPE"));
	close(app);
	close(up);
	world_release(&x);
}
END_TEST

/* A client that cuts a head short and leaves: the upstream gets the FIN, the session ends. */
START_TEST(http_cut_head_then_fin_ends)
{
	const char *one = GET("/one", "h.example.org");
	struct world x;
	char buf[1024];
	int app, up, end;

	names_init(&x);
	up = http_open(&x, one, &app);
	send_all(up, OK200, strlen(OK200));
	ck_assert_uint_eq(read_some(&x, app, buf, strlen(OK200), &end), strlen(OK200));
	send_all(app, "GET /two HTTP/1.1\r\nHo", 21);
	ck_assert_int_eq(shutdown(app, SHUT_WR), 0);
	ck_assert_int_eq(read_end(&x, up), 1); /* the FIN, and nothing of the cut head */
	close(up);
	ck_assert_int_ne(read_end(&x, app), 0);
	run_for(&x, 20);
	ck_assert_ptr_null(x.w.sessions);
	close(app);
	world_release(&x);
}
END_TEST

/* 200 ms of the loop with nothing to do must not spin (level-triggered interest gone wrong). */
static void assert_quiet(struct world *x, const char *state)
{
	unsigned long waits;

	atomic_store(&epoll_waits, 0);
	run_for(x, 200);
	waits = atomic_load(&epoll_waits);
	ck_assert_msg(waits < 100, "%s: %lu loop iterations in 200 ms: the loop spins", state,
		      waits);
}

/* The HTTP relay's waiting states: kept-alive idle, a refusal owed, the client half-closed. */
START_TEST(http_waiting_states_do_not_spin)
{
	const char *one = GET("/one", "h.example.org");
	const char *two = GET("/two", "evil.example.org");
	struct world x;
	char buf[1024];
	size_t n;
	int app, up, end;

	names_init(&x);
	up = http_open(&x, one, &app);
	assert_quiet(&x, "a response owed");
	send_all(up, OK200, strlen(OK200));
	ck_assert_uint_eq(read_some(&x, app, buf, strlen(OK200), &end), strlen(OK200));
	assert_quiet(&x, "kept alive, idle");
	send_all(app, one, strlen(one));
	read_some(&x, up, buf, strlen(one), &end);
	send_all(app, two, strlen(two)); /* refused, but a response is owed first */
	assert_quiet(&x, "a refusal waiting for the response owed");
	send_all(up, OK200, strlen(OK200));
	n = read_some(&x, app, buf, sizeof(buf) - 1, &end);
	buf[n] = '\0';
	ck_assert_ptr_nonnull(strstr(buf, "403 Forbidden"));
	close(app);
	close(up);

	up = http_open(&x, one, &app);
	ck_assert_int_eq(shutdown(app, SHUT_WR), 0);
	ck_assert_int_eq(read_end(&x, up), 1);
	assert_quiet(&x, "the client half-closed, a response owed");
	send_all(up, OK200, strlen(OK200));
	ck_assert_uint_eq(read_some(&x, app, buf, strlen(OK200), &end), strlen(OK200));
	close(app);
	close(up);
	world_release(&x);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("proxy.session");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	signal(SIGPIPE, SIG_IGN); /* as the daemon does: a write to a closed peer is EPIPE */
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, relay_both_ways);
	tcase_add_test(tc, server_first_greeting);
	tcase_add_test(tc, half_close);
	tcase_add_test(tc, connect_failure_resets);
	tcase_add_test(tc, linger_resets_until_an_orderly_end);
	tcase_add_test(tc, alloc_failure_costs_one_connection);
	tcase_add_test(tc, pipe_full_by_slots_does_not_spin);
	/*
	 * Under valgrind (make valgrind sets PC_UNDER_VALGRIND) valgrind's own
	 * descriptors share the table, so an exact "out of descriptors" cannot
	 * be made; these run in every other build, ASan and TSan included.
	 */
	if (!getenv("PC_UNDER_VALGRIND")) {
		tcase_add_test(tc, upstream_socket_emfile_resets_that_connection);
		tcase_add_test(tc, no_pipe_copies_instead);
	}
	tcase_add_test(tc, max_connections_slot_balanced);
	tcase_add_test(tc, deny_reset_mode);
	tcase_add_test(tc, deny_mysql_answer);
	tcase_add_test(tc, deny_http_after_sniff);
	tcase_add_test(tc, revoke_after_grace);
	tcase_add_test(tc, revoke_called_off);
	tcase_add_test(tc, preread_peeks_then_relays_from_byte_0);
	tcase_add_test(tc, preread_skipped_on_server_first_port);
	tcase_add_test(tc, preread_times_out_to_the_address);
	tcase_add_test(tc, preread_then_denied_answers_tls);
	tcase_add_test(tc, preread_classified_under_a_pending_policy);
	tcase_add_test(tc, sni_allowed_hello_untouched);
	tcase_add_test(tc, sni_refused_cases);
	tcase_add_test(tc, detection_timeout_refuses_silence);
	tcase_add_test(tc, http_second_request_checked);
	tcase_add_test(tc, http_smuggling_refused);
	tcase_add_test(tc, http_upgrade_becomes_tunnel);
	tcase_add_test(tc, http_refused_behind_upgrade_stays_refused);
	tcase_add_test(tc, http_tunnel_upstream_closes_first);
	tcase_add_test(tc, http_ip_host_must_be_the_destination);
	tcase_add_test(tc, http_refusal_after_a_cut_response_resets);
	tcase_add_test(tc, http_unparseable_response_closes);
	tcase_add_test(tc, http_cut_head_then_fin_ends);
	tcase_add_test(tc, http_waiting_states_do_not_spin);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	/* the denials' ring and log table are process-wide: a fresh copy per test */
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
