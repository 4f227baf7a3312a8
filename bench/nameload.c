/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nameload.c - the load generator of bench/names.sh (IPv4 TCP only).
 *
 *   nameload serve  -l ADDR:PORT -k BYTES         epoll server: per connection, read
 *                                                 BYTES, answer REPLY, read to EOF
 *   nameload cps    -c ADDR:PORT -m FILE -t SECS [-P THREADS]
 *   nameload silent -c ADDR:PORT -n COUNT         connect COUNT, send nothing
 *
 * cps: THREADS threads each loop for SECS seconds: connect, write the bytes
 * of FILE (a ClientHello, an HTTP request, ...), read the REPLY, close with
 * SO_LINGER 0 (a RST: no TIME_WAIT, so no ephemeral port exhaustion). It
 * prints one line `conns=N cps=X p50_us=Y p99_us=Z fails=F`: the latency is
 * connect() to the last byte of the reply. A connection that fails (refused,
 * reset, closed early) counts in fails and the thread goes on; exit 1 only
 * when none succeeded.
 *
 * The reply is a whole HTTP/1.1 response, so that a proxy that reads
 * responses on an HTTP port sees a valid one; on TLS and TCP ports it is
 * opaque bytes like any other.
 *
 * silent: opens COUNT connections and writes nothing (a client waiting in
 * protocol detection), prints "ready held=N closed=M" once all are
 * connected, then holds them until stdin reaches EOF and prints how many the
 * peer had closed by then ("end closed=M").
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char REPLY[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
#define REPLY_LEN (sizeof(REPLY) - 1)

static struct sockaddr_in addr;
static double opt_secs = 4;
static long opt_count = 1000, opt_par = 8, opt_bytes = 1;
static char *msg;
static size_t msg_len;
static volatile sig_atomic_t stop_flag;

static void on_stop(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static void die(const char *what)
{
	fprintf(stderr, "nameload: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void parse_addr(const char *s)
{
	char host[64];
	const char *colon = strrchr(s, ':');

	if (!colon || (size_t)(colon - s) >= sizeof(host)) {
		fprintf(stderr, "nameload: bad address %s\n", s);
		exit(2);
	}
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	addr.sin_family = AF_INET;
	addr.sin_port = htons((uint16_t)atoi(colon + 1));
	if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
		fprintf(stderr, "nameload: bad address %s\n", s);
		exit(2);
	}
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	size_t cap = 65536;

	if (!f)
		die(path);
	msg = malloc(cap);
	if (!msg)
		die("malloc");
	msg_len = fread(msg, 1, cap, f);
	fclose(f);
	if (msg_len == 0) {
		fprintf(stderr, "nameload: %s is empty\n", path);
		exit(2);
	}
}

/* -- serve ------------------------------------------------------------------ */

struct conn {
	int fd;
	long got;
	bool answered;
};

static int serve(void)
{
	int one = 1, lfd, ep;
	struct epoll_event ev = { .events = EPOLLIN }, evs[256];

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		die("socket");
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(lfd, 4096) < 0)
		die("bind/listen");
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		die("epoll_create1");
	ev.data.ptr = NULL;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0)
		die("epoll_ctl");
	while (!stop_flag) {
		int n = epoll_wait(ep, evs, 256, -1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("epoll_wait");
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			char buf[16384];
			ssize_t r;

			if (!c) {
				int fd;

				while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
					c = calloc(1, sizeof(*c));
					if (!c)
						die("calloc");
					c->fd = fd;
					ev.events = EPOLLIN;
					ev.data.ptr = c;
					if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
						die("epoll_ctl");
				}
				continue;
			}
			r = read(c->fd, buf, sizeof(buf));
			if (r < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (r <= 0) {
				close(c->fd); /* also removes it from the epoll set */
				free(c);
				continue;
			}
			c->got += r;
			if (!c->answered && c->got >= opt_bytes) {
				c->answered = true;
				/* small: fits the socket buffer of a fresh connection */
				if (write(c->fd, REPLY, REPLY_LEN) != (ssize_t)REPLY_LEN) {
					close(c->fd);
					free(c);
				}
			}
		}
	}
	return 0;
}

/* -- cps ------------------------------------------------------------------- */

struct worker {
	pthread_t tid;
	double end;
	double *lat;
	long n, cap, fails;
};

static bool one_connection(void)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct timeval tv = { .tv_sec = 10 };
	char buf[4096];
	size_t got = 0;
	bool ok = false;

	if (fd < 0)
		return false;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		goto out;
	if (write(fd, msg, msg_len) != (ssize_t)msg_len)
		goto out;
	while (got < REPLY_LEN) {
		ssize_t r = read(fd, buf, sizeof(buf));

		if (r <= 0)
			goto out;
		got += (size_t)r;
	}
	ok = true;
out:
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
	return ok;
}

static void *cps_worker(void *arg)
{
	struct worker *w = arg;

	while (now() < w->end) {
		double t0 = now();

		if (!one_connection()) {
			w->fails++;
			continue;
		}
		if (w->n == w->cap) {
			w->cap = w->cap ? 2 * w->cap : 4096;
			w->lat = realloc(w->lat, (size_t)w->cap * sizeof(double));
			if (!w->lat)
				die("realloc");
		}
		w->lat[w->n++] = now() - t0;
	}
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static int cps(void)
{
	struct worker *ws = calloc((size_t)opt_par, sizeof(*ws));
	double t0 = now(), took, *all;
	long total = 0, fails = 0, k = 0;

	if (!ws)
		die("calloc");
	for (long i = 0; i < opt_par; i++) {
		ws[i].end = t0 + opt_secs;
		if (pthread_create(&ws[i].tid, NULL, cps_worker, &ws[i]))
			die("pthread_create");
	}
	for (long i = 0; i < opt_par; i++) {
		pthread_join(ws[i].tid, NULL);
		total += ws[i].n;
		fails += ws[i].fails;
	}
	took = now() - t0;
	if (total == 0) {
		fprintf(stderr, "nameload: no connection succeeded (%ld failed)\n", fails);
		return 1;
	}
	all = malloc((size_t)total * sizeof(double));
	if (!all)
		die("malloc");
	for (long i = 0; i < opt_par; i++)
		for (long j = 0; j < ws[i].n; j++)
			all[k++] = ws[i].lat[j];
	qsort(all, (size_t)total, sizeof(double), cmp_double);
	printf("conns=%ld cps=%.0f p50_us=%.1f p99_us=%.1f fails=%ld\n", total, total / took,
	       all[total / 2] * 1e6, all[(total * 99) / 100] * 1e6, fails);
	return 0;
}

/* -- silent ----------------------------------------------------------------- */

static long count_closed(int *fds, long n)
{
	long closed = 0;

	for (long i = 0; i < n; i++) {
		char c;
		ssize_t r = recv(fds[i], &c, 1, MSG_DONTWAIT | MSG_PEEK);

		if (r == 0 || (r < 0 && errno != EAGAIN))
			closed++;
	}
	return closed;
}

static int silent(void)
{
	int *fds = calloc((size_t)opt_count, sizeof(int));
	char c;

	if (!fds)
		die("calloc");
	for (long i = 0; i < opt_count; i++) {
		fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fds[i] < 0)
			die("socket");
		if (connect(fds[i], (struct sockaddr *)&addr, sizeof(addr)) < 0)
			die("connect");
	}
	printf("ready held=%ld closed=%ld\n", opt_count, count_closed(fds, opt_count));
	fflush(stdout);
	while (!stop_flag && read(0, &c, 1) > 0)
		;
	printf("end closed=%ld\n", count_closed(fds, opt_count));
	return 0;
}

int main(int argc, char **argv)
{
	int opt;

	if (argc < 2) {
		fprintf(stderr, "usage: nameload serve|cps|silent ...\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	/* no SA_RESTART: epoll_wait and read return EINTR and the loops see the flag */
	sigaction(SIGTERM, &(struct sigaction){ .sa_handler = on_stop }, NULL);
	sigaction(SIGINT, &(struct sigaction){ .sa_handler = on_stop }, NULL);
	while ((opt = getopt(argc - 1, argv + 1, "l:c:k:m:t:P:n:")) != -1) {
		switch (opt) {
		case 'l':
		case 'c':
			parse_addr(optarg);
			break;
		case 'k':
			opt_bytes = atol(optarg);
			break;
		case 'm':
			read_file(optarg);
			break;
		case 't':
			opt_secs = atof(optarg);
			break;
		case 'P':
			opt_par = atol(optarg);
			break;
		case 'n':
			opt_count = atol(optarg);
			break;
		default:
			return 2;
		}
	}
	if (!strcmp(argv[1], "serve"))
		return serve();
	if (!strcmp(argv[1], "cps") && msg)
		return cps();
	if (!strcmp(argv[1], "silent"))
		return silent();
	fprintf(stderr, "nameload: bad usage\n");
	return 2;
}
