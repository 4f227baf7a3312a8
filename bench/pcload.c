/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pcload.c - the load generator of bench/proxy-bench.sh (IPv4 TCP only).
 *
 *   pcload bulk-sink  -l ADDR:PORT             read and discard, one connection at a time
 *   pcload bulk-send  -c ADDR:PORT -t SECS [-s BYTES]
 *   pcload rr-server  -l ADDR:PORT             epoll echo server, any number of connections
 *   pcload rr-client  -c ADDR:PORT -n COUNT [-w WARMUP]
 *   pcload cps-client -c ADDR:PORT -t SECS [-P INFLIGHT]
 *   pcload idle-client -c ADDR:PORT -n COUNT [-P INFLIGHT]
 *   pcload startup    [-c ADDR:PORT] -- PROGRAM ARGS...
 *
 * Clients print one line of key=value figures on stdout and exit 0, or
 * print a reason on stderr and exit 1. Servers run until SIGTERM/SIGINT.
 *
 * bulk-send writes for SECS seconds (or BYTES bytes), then shuts down its
 * write side and waits for the sink's EOF, so the time covers delivery.
 * cps-client keeps INFLIGHT connections going: connect, write 1 byte, read
 * the echo, close with SO_LINGER 0 (a RST: no TIME_WAIT, so no ephemeral
 * port exhaustion however long it runs). idle-client opens COUNT
 * connections, proves each one end to end with a 1-byte echo, prints
 * "ready", and holds them until stdin reaches EOF or a signal arrives.
 * startup forks and execs PROGRAM with its stderr on a pipe and reports
 * the milliseconds until a stderr line contains msg=ready (or msg="ready")
 * and until a connect to ADDR:PORT succeeds, then the child's RSS at that
 * moment; it SIGTERMs the child and adds its peak RSS (getrusage).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static struct sockaddr_in target, local;
static bool have_target, have_local;
static double opt_secs = 5;
static long long opt_bytes = -1;
static long opt_count = 1000, opt_warmup = 100, opt_par = 1;
static volatile sig_atomic_t stop_flag;

static void die(const char *what)
{
	fprintf(stderr, "pcload: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void fail(const char *msg)
{
	fprintf(stderr, "pcload: %s\n", msg);
	exit(1);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void on_stop(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static void handle_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop; /* no SA_RESTART: blocking calls return EINTR */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static int parse_addr(const char *s, struct sockaddr_in *sa)
{
	char host[64];
	const char *colon = strrchr(s, ':');
	char *end;
	long port;

	if (!colon || (size_t)(colon - s) >= sizeof(host))
		return -1;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	port = strtol(colon + 1, &end, 10);
	if (*end || port <= 0 || port > 65535)
		return -1;
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

static void set_nonblock(int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static void set_nodelay(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static void close_rst(int fd)
{
	struct linger lg = { 1, 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

static int listen_on(void)
{
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		die("socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&local, sizeof(local)) < 0)
		die("bind");
	if (listen(fd, 4096) < 0)
		die("listen");
	return fd;
}

static int connect_blocking(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		die("socket");
	if (connect(fd, (struct sockaddr *)&target, sizeof(target)) < 0)
		die("connect");
	return fd;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static double pct_us(const uint64_t *v, size_t n, double p)
{
	size_t i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);

	return (double)v[i < n ? i : n - 1] / 1000.0;
}

/* ---- bulk ---------------------------------------------------------------- */

static int bulk_sink(void)
{
	static char buf[1 << 20];
	int lfd = listen_on();

	while (!stop_flag) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		ssize_t n;

		if (fd < 0) {
			if (errno == EINTR)
				continue;
			die("accept");
		}
		while ((n = read(fd, buf, sizeof(buf))) > 0 ||
		       (n < 0 && errno == EINTR && !stop_flag))
			;
		close(fd); /* our FIN tells the sender that everything arrived */
	}
	return 0;
}

static int bulk_send(void)
{
	static char buf[256 * 1024];
	uint64_t t0, deadline, t1;
	long long sent = 0;
	int fd = connect_blocking();
	ssize_t n;

	memset(buf, 'x', sizeof(buf));
	t0 = now_ns();
	deadline = t0 + (uint64_t)(opt_secs * 1e9);
	while (opt_bytes < 0 ? now_ns() < deadline : sent < opt_bytes) {
		size_t want = sizeof(buf);

		if (opt_bytes >= 0 && (long long)want > opt_bytes - sent)
			want = (size_t)(opt_bytes - sent);
		n = write(fd, buf, want);
		if (n < 0)
			die("write");
		sent += n;
	}
	shutdown(fd, SHUT_WR);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		;
	if (n < 0)
		die("read (waiting for the sink's EOF)");
	t1 = now_ns();
	close(fd);
	{
		double secs = (double)(t1 - t0) / 1e9;

		printf("bytes=%lld secs=%.3f MBps=%.1f Gbps=%.3f\n", sent, secs,
		       (double)sent / secs / 1e6, (double)sent * 8 / secs / 1e9);
	}
	return 0;
}

/* ---- echo server ------------------------------------------------------------ */

static int rr_server(void)
{
	struct epoll_event ev, evs[256];
	char buf[4096];
	int lfd = listen_on(), ep = epoll_create1(EPOLL_CLOEXEC);

	if (ep < 0)
		die("epoll_create1");
	set_nonblock(lfd);
	ev.events = EPOLLIN;
	ev.data.fd = lfd;
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	while (!stop_flag) {
		int i, n = epoll_wait(ep, evs, 256, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("epoll_wait");
		}
		for (i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			ssize_t r;

			if (fd == lfd) {
				int c;

				while ((c = accept4(lfd, NULL, NULL,
						    SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
					set_nodelay(c);
					ev.events = EPOLLIN;
					ev.data.fd = c;
					epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
				}
				continue;
			}
			r = read(fd, buf, sizeof(buf));
			if (r > 0) {
				/* tiny messages only: the socket buffer always has room */
				if (write(fd, buf, (size_t)r) != r)
					close(fd);
			} else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
				close(fd); /* also leaves the epoll set */
			}
		}
	}
	return 0;
}

/* ---- request/response latency ------------------------------------------------ */

static int rr_client(void)
{
	uint64_t *lat, t0, t1, sum = 0;
	long i, total = opt_warmup + opt_count;
	char c = 'x';
	int fd = connect_blocking();

	lat = calloc((size_t)opt_count, sizeof(*lat));
	if (!lat)
		fail("out of memory");
	set_nodelay(fd);
	t0 = now_ns();
	for (i = 0; i < total; i++) {
		uint64_t a = now_ns(), b;

		if (write(fd, &c, 1) != 1)
			die("write");
		if (read(fd, &c, 1) != 1)
			die("read");
		b = now_ns();
		if (i >= opt_warmup) {
			lat[i - opt_warmup] = b - a;
			sum += b - a;
		}
	}
	t1 = now_ns();
	close(fd);
	qsort(lat, (size_t)opt_count, sizeof(*lat), cmp_u64);
	printf("count=%ld p50_us=%.1f p90_us=%.1f p99_us=%.1f p999_us=%.1f min_us=%.1f "
	       "mean_us=%.1f max_us=%.1f rps=%.0f\n",
	       opt_count, pct_us(lat, (size_t)opt_count, 50), pct_us(lat, (size_t)opt_count, 90),
	       pct_us(lat, (size_t)opt_count, 99), pct_us(lat, (size_t)opt_count, 99.9),
	       (double)lat[0] / 1000.0, (double)sum / (double)opt_count / 1000.0,
	       (double)lat[opt_count - 1] / 1000.0, (double)total / ((double)(t1 - t0) / 1e9));
	free(lat);
	return 0;
}

/* ---- many connections: connect, 1-byte echo, then close or hold ----------------- */

enum { C_CONNECTING, C_WAIT_ECHO, C_DONE };

struct conn {
	int fd;
	int state;
	uint64_t start;
};

static int open_conn(int ep, struct conn *c, long slot)
{
	struct epoll_event ev;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	c->fd = fd;
	c->state = C_CONNECTING;
	c->start = now_ns();
	if (connect(fd, (struct sockaddr *)&target, sizeof(target)) < 0 && errno != EINPROGRESS) {
		int err = -errno;

		close(fd);
		c->fd = -1;
		return err;
	}
	ev.events = EPOLLOUT;
	ev.data.u64 = (uint64_t)slot;
	epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
	return 0;
}

/*
 * Advance connection <c> (epoll data <slot>) on an event: returns 1 when its
 * echo came back, 0 while in progress, -1 on failure (the caller closes it).
 */
static int step_conn(int ep, struct conn *c, long slot, uint32_t events)
{
	struct epoll_event ev;
	char b = 'x';
	int err = 0;
	socklen_t len = sizeof(err);
	ssize_t r;

	if (c->state == C_CONNECTING) {
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
		if (err || (events & (EPOLLERR | EPOLLHUP)))
			return -1;
		set_nodelay(c->fd);
		if (write(c->fd, &b, 1) != 1)
			return -1;
		c->state = C_WAIT_ECHO;
		ev.events = EPOLLIN;
		ev.data.u64 = (uint64_t)slot;
		return epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) < 0 ? -1 : 0;
	}
	if (c->state != C_WAIT_ECHO)
		return 0;
	r = read(c->fd, &b, 1);
	if (r == 1) {
		c->state = C_DONE;
		return 1;
	}
	return r < 0 && (errno == EAGAIN || errno == EINTR) ? 0 : -1;
}

static int cps_client(void)
{
	struct epoll_event evs[256];
	struct conn *conns = calloc((size_t)opt_par, sizeof(*conns));
	uint64_t *lat, t0, deadline, t1;
	size_t nlat = 0, cap = 1 << 20;
	long done = 0, errors = 0, i, inflight = 0;
	int ep = epoll_create1(EPOLL_CLOEXEC), first_err = 0;

	lat = calloc(cap, sizeof(*lat));
	if (!conns || !lat || ep < 0)
		fail("out of memory");
	t0 = now_ns();
	deadline = t0 + (uint64_t)(opt_secs * 1e9);
	for (i = 0; i < opt_par; i++) {
		int ret = open_conn(ep, &conns[i], i);

		if (ret < 0) {
			errno = -ret;
			die("connect");
		}
		inflight++;
	}
	while (inflight > 0) {
		int k, n = epoll_wait(ep, evs, 256, 1000);

		if (n < 0 && errno != EINTR)
			die("epoll_wait");
		if (stop_flag)
			break;
		for (k = 0; k < n; k++) {
			long slot = (long)evs[k].data.u64;
			struct conn *c = &conns[slot];
			int ret = step_conn(ep, c, slot, evs[k].events);

			if (ret == 0)
				continue;
			if (ret > 0) {
				done++;
				if (nlat < cap)
					lat[nlat++] = now_ns() - c->start;
			} else {
				int err = 0;
				socklen_t len = sizeof(err);

				getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
				if (!first_err)
					first_err = err ? err : ECONNRESET;
				errors++;
			}
			close_rst(c->fd); /* RST: neither end keeps a TIME_WAIT */
			c->fd = -1;
			inflight--;
			if (now_ns() < deadline) {
				int r = open_conn(ep, c, slot);

				if (r == 0) {
					inflight++;
				} else {
					errors++;
					if (!first_err)
						first_err = -r;
				}
			}
		}
		if (n == 0 && now_ns() > deadline + 5000000000u)
			break; /* stuck connections: report what we have */
	}
	t1 = now_ns();
	qsort(lat, nlat, sizeof(*lat), cmp_u64);
	printf("conns=%ld errors=%ld secs=%.3f cps=%.0f p50_us=%.1f p99_us=%.1f "
	       "first_error=\"%s\"\n",
	       done, errors, (double)(t1 - t0) / 1e9, (double)done / ((double)(t1 - t0) / 1e9),
	       nlat ? pct_us(lat, nlat, 50) : 0.0, nlat ? pct_us(lat, nlat, 99) : 0.0,
	       first_err ? strerror(first_err) : "-");
	free(lat);
	free(conns);
	return 0;
}

static int idle_client(void)
{
	struct epoll_event evs[256];
	struct conn *conns = calloc((size_t)opt_count, sizeof(*conns));
	long next = 0, inflight = 0, ok = 0, failed = 0, i;
	int ep = epoll_create1(EPOLL_CLOEXEC), first_err = 0;
	uint64_t t0 = now_ns(), deadline = t0 + 60000000000u;
	char b;

	if (!conns || ep < 0)
		fail("out of memory");
	while ((next < opt_count || inflight > 0) && !stop_flag && now_ns() < deadline) {
		int k, n;

		while (next < opt_count && inflight < opt_par) {
			int r = open_conn(ep, &conns[next], next);

			if (r < 0) {
				failed++;
				if (!first_err)
					first_err = -r;
			} else {
				inflight++;
			}
			next++;
		}
		n = epoll_wait(ep, evs, 256, 1000);
		if (n < 0 && errno != EINTR)
			die("epoll_wait");
		for (k = 0; k < n; k++) {
			long slot = (long)evs[k].data.u64;
			struct conn *c = &conns[slot];
			int ret = step_conn(ep, c, slot, evs[k].events);

			if (ret == 0)
				continue;
			inflight--;
			epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
			if (ret > 0) {
				ok++;
				continue;
			}
			{
				int err = 0;
				socklen_t len = sizeof(err);

				getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
				if (!first_err)
					first_err = err ? err : ECONNRESET;
			}
			failed++;
			close(c->fd);
			c->fd = -1;
		}
	}
	failed += opt_count - ok - failed;
	printf("ready ok=%ld failed=%ld secs=%.3f first_error=\"%s\"\n", ok, failed,
	       (double)(now_ns() - t0) / 1e9, first_err ? strerror(first_err) : "-");
	fflush(stdout);
	/* hold until stdin closes or a signal */
	while (!stop_flag && read(STDIN_FILENO, &b, 1) > 0)
		;
	for (i = 0; i < opt_count; i++)
		if (conns[i].fd > 0)
			close_rst(conns[i].fd);
	free(conns);
	return 0;
}

/* ---- exec to ready ------------------------------------------------------------ */

static long rss_kib(pid_t pid)
{
	char path[64], line[256];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "VmRSS:", 6) == 0)
			kib = strtol(line + 6, NULL, 10);
	fclose(f);
	return kib;
}

static bool try_connect(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok;

	if (fd < 0)
		return false;
	ok = connect(fd, (struct sockaddr *)&target, sizeof(target)) == 0;
	close_rst(fd);
	return ok;
}

static int startup(char **argv)
{
	char buf[8192];
	size_t len = 0;
	int p[2], status;
	uint64_t t0, t_ready = 0, t_listen = 0, deadline;
	long rss = -1;
	struct rusage ru;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		die("pipe2");
	t0 = now_ns();
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		dup2(p[1], STDERR_FILENO);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(p[1]);
	set_nonblock(p[0]);
	deadline = t0 + 30000000000u;
	while ((!t_ready || (have_target && !t_listen)) && now_ns() < deadline && !stop_flag) {
		struct pollfd pfd = { p[0], POLLIN, 0 };
		ssize_t n;

		if (have_target && !t_listen && try_connect())
			t_listen = now_ns();
		if (poll(&pfd, 1, have_target && !t_listen ? 1 : 100) <= 0)
			continue;
		n = read(p[0], buf + len, sizeof(buf) - 1 - len);
		if (n <= 0)
			break; /* the child exited before it was ready */
		len += (size_t)n;
		buf[len] = '\0';
		if (!t_ready && (strstr(buf, "msg=ready") || strstr(buf, "msg=\"ready\""))) {
			t_ready = now_ns();
			rss = rss_kib(pid);
		}
		if (len > sizeof(buf) / 2) { /* keep the unfinished line only */
			char *nl = strrchr(buf, '\n');

			if (nl) {
				len = strlen(nl + 1);
				memmove(buf, nl + 1, len + 1);
			} else {
				len = 0;
			}
		}
	}
	kill(pid, SIGTERM);
	fcntl(p[0], F_SETFL, 0); /* blocking: read the rest of its stderr until it exits */
	for (;;) {
		ssize_t n = read(p[0], buf, sizeof(buf));

		if (n == 0 || (n < 0 && errno != EINTR))
			break;
	}
	if (wait4(pid, &status, 0, &ru) < 0)
		die("wait4");
	if (!t_ready) {
		fprintf(stderr, "pcload: %s never logged msg=ready (status %d)\n", argv[0], status);
		return 1;
	}
	printf("ready_ms=%.1f listen_ms=%.1f rss_kib=%ld maxrss_kib=%ld\n",
	       (double)(t_ready - t0) / 1e6, t_listen ? (double)(t_listen - t0) / 1e6 : -1.0, rss,
	       ru.ru_maxrss);
	return 0;
}

/* ---- main ---------------------------------------------------------------------- */

static void usage(void)
{
	fputs("usage: pcload bulk-sink|rr-server -l ADDR:PORT\n"
	      "       pcload bulk-send -c ADDR:PORT [-t SECS] [-s BYTES]\n"
	      "       pcload rr-client -c ADDR:PORT [-n COUNT] [-w WARMUP]\n"
	      "       pcload cps-client -c ADDR:PORT [-t SECS] [-P INFLIGHT]\n"
	      "       pcload idle-client -c ADDR:PORT -n COUNT [-P INFLIGHT]\n"
	      "       pcload startup [-c ADDR:PORT] -- PROGRAM ARGS...\n",
	      stderr);
	exit(2);
}

int main(int argc, char **argv)
{
	const char *mode;
	int opt;

	if (argc < 2)
		usage();
	mode = argv[1];
	argv++;
	argc--;
	while ((opt = getopt(argc, argv, "+c:l:t:s:n:w:P:")) != -1) {
		switch (opt) {
		case 'c':
			if (parse_addr(optarg, &target) < 0)
				usage();
			have_target = true;
			break;
		case 'l':
			if (parse_addr(optarg, &local) < 0)
				usage();
			have_local = true;
			break;
		case 't':
			opt_secs = strtod(optarg, NULL);
			break;
		case 's':
			opt_bytes = strtoll(optarg, NULL, 10);
			break;
		case 'n':
			opt_count = strtol(optarg, NULL, 10);
			break;
		case 'w':
			opt_warmup = strtol(optarg, NULL, 10);
			break;
		case 'P':
			opt_par = strtol(optarg, NULL, 10);
			break;
		default:
			usage();
		}
	}
	if (opt_count < 1 || opt_par < 1 || opt_warmup < 0 || opt_secs <= 0)
		usage();
	handle_signals();
	if (strcmp(mode, "bulk-sink") == 0 && have_local)
		return bulk_sink();
	if (strcmp(mode, "rr-server") == 0 && have_local)
		return rr_server();
	if (strcmp(mode, "bulk-send") == 0 && have_target)
		return bulk_send();
	if (strcmp(mode, "rr-client") == 0 && have_target)
		return rr_client();
	if (strcmp(mode, "cps-client") == 0 && have_target)
		return cps_client();
	if (strcmp(mode, "idle-client") == 0 && have_target)
		return idle_client();
	if (strcmp(mode, "startup") == 0 && optind < argc)
		return startup(argv + optind);
	usage();
	return 2;
}
