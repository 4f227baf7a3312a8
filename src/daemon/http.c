/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * daemon/http.c - the libmicrohttpd plumbing the API and the admin
 * endpoint share (daemon/http.h).
 */
#include "daemon/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "net/addr.h"

int pc_http_listen_tcp(const char *spec, const struct pc_http_tcp *t, struct pc_err *err)
{
	const char *colon = strrchr(spec, ':');
	struct sockaddr_storage ss = { 0 };
	struct pc_addr a;
	unsigned long port;
	char host[64], *end;
	socklen_t len;
	size_t hl;
	int fd, one = 1;

	if (!colon || colon == spec)
		return pc_err_set(err, -EINVAL, "%s needs %s, not \"%s\"", t->opt, t->usage, spec);
	hl = (size_t)(colon - spec);
	if (spec[0] == '[' && hl > 2 && spec[hl - 1] == ']') {
		spec++;
		hl -= 2;
	}
	port = strtoul(colon + 1, &end, 10);
	if (hl >= sizeof(host) || *end || colon[1] == '\0' || port > 65535 ||
	    (port == 0 && !t->port0))
		return pc_err_set(err, -EINVAL, "%s needs %s, not \"%s\"", t->opt, t->usage, spec);
	memcpy(host, spec, hl);
	host[hl] = '\0';
	if (pc_addr_parse(host, &a) < 0)
		return pc_err_set(err, -EINVAL, "%s: \"%s\" is not an IP address", t->opt, host);
	if (t->noauth && !pc_addr_is_loopback(&a))
		return pc_err_set(err, -EINVAL, "%s: %s is not a loopback address; %s", t->opt,
				  host, t->noauth);
	a.port = (uint16_t)port;
	len = pc_addr_to_sockaddr(&a, &ss);
	fd = socket(a.family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return pc_err_errno(err, errno, "cannot make the %s socket", t->sock);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) == -1 || listen(fd, 64) == -1) {
		int e = errno;

		close(fd);
		return pc_err_errno(err, e, "cannot listen on %s%s", spec, t->what);
	}
	return fd;
}

/*
 * libmicrohttpd's messages are mostly about clients ("Connection was closed
 * by remote side with incomplete request"): one a connection, so any pod
 * process could flood the daemon's log by opening and dropping sockets. At
 * most HTTP_LOG_BURST a minute, for every server together, the next one
 * saying how many were left out.
 */
#define HTTP_LOG_BURST 10

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pc_ratelimit log_rl = PC_RATELIMIT_INIT(60000, HTTP_LOG_BURST);

__attribute__((format(printf, 2, 0))) static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	uint64_t suppressed;
	char msg[512];
	bool ok;

	if (!pc_log_enabled(PC_LOG_WARN))
		return;
	pthread_mutex_lock(&log_lock);
	ok = pc_log_ratelimit(&log_rl, pc_mono_ms());
	suppressed = log_rl.suppressed;
	pthread_mutex_unlock(&log_lock);
	if (!ok)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	pc_log_suppressed(PC_LOG_WARN, suppressed, cls, "detail=%s", msg);
}

/*
 * The deadline of a request's headers. libmicrohttpd's connection timeout
 * is an idle timeout: a client that sends one byte every few seconds keeps
 * its connection, and its slot, for ever. Here every connection is known
 * from its start (MHD_OPTION_NOTIFY_CONNECTION) to its close; until the
 * access handler is first called for a request (its headers are in) it
 * may wait <deadline_ms>, counted from the connection's start or from the
 * end of its previous request (so it is also the keep-alive timeout). Its
 * body, once the handler has taken it, must then come at <min_rate> bytes
 * a second on average after <grace_ms>. A sweeping thread shuts down the
 * sockets past either; libmicrohttpd then reads end-of-file and closes the
 * connection.
 */
struct http_conn {
	struct http_conn *next, **pprev;
	int fd;
	uint64_t since_ms;      /* waiting for headers since */
	uint64_t body_since_ms; /* the handler took the request's headers at */
	uint64_t body_bytes;    /* of the request's body so far */
	bool busy;              /* in a request: its headers are in */
	bool in_body;           /* its body is coming */
	bool cut;               /* shut down by the sweeper or the acceptor */
};

struct pc_http {
	struct MHD_Daemon *d;
	MHD_AccessHandlerCallback handler;
	MHD_RequestCompletedCallback done;
	void *cls;
	const char *name;
	uint64_t deadline_ms;
	uint64_t grace_ms;
	uint64_t min_rate;
	unsigned max_conns;
	int lfd;        /* the listening socket, accept()ed by <acceptor> */
	int wake_fd;    /* an eventfd: the acceptor stops */
	int reserve;    /* a spare descriptor, given up to answer one client when out of them */
	bool accepting; /* <acceptor> runs */
	pthread_t acceptor;
	pthread_mutex_t lock; /* the fields below */
	pthread_cond_t wake;
	struct http_conn *conns;
	unsigned live; /* connections in <conns> not cut */
	struct pc_http_counters n;
	bool stopping;
	bool sweeping; /* <sweeper> runs */
	pthread_t sweeper;
	struct pc_http *next_server; /* in <servers>, under <servers_lock> */
};

/* Every running server, for the metrics (pc_http_prometheus()). */
static pthread_mutex_t servers_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pc_http *servers;

static void register_server(struct pc_http *h, bool add)
{
	struct pc_http **pp;

	pthread_mutex_lock(&servers_lock);
	for (pp = &servers; *pp && *pp != h; pp = &(*pp)->next_server)
		;
	if (add && !*pp) {
		h->next_server = servers;
		servers = h;
	} else if (!add && *pp) {
		*pp = h->next_server;
	}
	pthread_mutex_unlock(&servers_lock);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			  enum MHD_ConnectionNotificationCode toe)
{
	struct pc_http *h = cls;
	struct http_conn *c = *socket_context;
	const union MHD_ConnectionInfo *ci;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		c = ci ? calloc(1, sizeof(*c)) : NULL;
		if (!c)
			return; /* out of memory: only the idle timeout applies */
		c->fd = ci->connect_fd;
		c->since_ms = pc_mono_ms();
		pthread_mutex_lock(&h->lock);
		c->next = h->conns;
		c->pprev = &h->conns;
		if (h->conns)
			h->conns->pprev = &c->next;
		h->conns = c;
		h->live++;
		pthread_mutex_unlock(&h->lock);
		*socket_context = c;
		return;
	}
	if (!c)
		return;
	pthread_mutex_lock(&h->lock); /* before libmicrohttpd closes the socket */
	*c->pprev = c->next;
	if (c->next)
		c->next->pprev = c->pprev;
	if (!c->cut)
		h->live--;
	pthread_mutex_unlock(&h->lock);
	free(c);
	*socket_context = NULL;
}

static struct http_conn *conn_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci ? ci->socket_context : NULL;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
				 const char *method, const char *version, const char *upload_data,
				 size_t *upload_data_size, void **state)
{
	struct pc_http *h = cls;
	struct http_conn *c = conn_of(conn);
	size_t size = *upload_data_size;
	enum MHD_Result ret;
	bool first = false;

	if (c) {
		pthread_mutex_lock(&h->lock);
		first = !c->busy;
		c->busy = true;
		if (!first && size)
			c->body_bytes += size;
		else if (!first)
			c->in_body = false; /* the last call: the body is all in */
		pthread_mutex_unlock(&h->lock);
	}
	ret = h->handler(h->cls, conn, url, method, version, upload_data, upload_data_size, state);
	if (c && first) {
		/* After the handler: its wait for a budget is not the client's slowness. */
		pthread_mutex_lock(&h->lock);
		c->in_body = true;
		c->body_bytes = 0;
		c->body_since_ms = pc_mono_ms();
		pthread_mutex_unlock(&h->lock);
	}
	return ret;
}

static void on_done(void *cls, struct MHD_Connection *conn, void **state,
		    enum MHD_RequestTerminationCode code)
{
	struct pc_http *h = cls;
	struct http_conn *c = conn_of(conn);

	if (c) {
		pthread_mutex_lock(&h->lock);
		c->busy = false; /* the next request's headers: a new deadline */
		c->in_body = false;
		c->since_ms = pc_mono_ms();
		pthread_mutex_unlock(&h->lock);
	}
	if (h->done)
		h->done(h->cls, conn, state, code);
}

/* Is <c>'s body coming slower than <h> allows at <now>? */
static bool too_slow(const struct pc_http *h, const struct http_conn *c, uint64_t now)
{
	uint64_t ms = now - c->body_since_ms;

	return h->min_rate && c->in_body && ms >= h->grace_ms &&
	       c->body_bytes * 1000 < h->min_rate * ms;
}

/* Shut down the sockets past their deadline; <lock> held. */
static unsigned sweep(struct pc_http *h, uint64_t now)
{
	struct http_conn *c;
	unsigned n = 0;

	for (c = h->conns; c; c = c->next) {
		if (c->cut)
			continue;
		if (c->busy && !too_slow(h, c, now))
			continue;
		if (!c->busy && (!h->deadline_ms || now - c->since_ms < h->deadline_ms))
			continue;
		if (c->busy)
			h->n.slow++;
		shutdown(c->fd, SHUT_RDWR); /* the fd stays open until NOTIFY_CLOSED */
		c->cut = true;
		h->live--;
		n++;
	}
	return n;
}

static void *sweeper_main(void *arg)
{
	struct pc_http *h = arg;
	struct timespec ts;
	unsigned n;

	pthread_mutex_lock(&h->lock);
	while (!h->stopping) {
		n = sweep(h, pc_mono_ms());
		if (n)
			pc_debug(h->name,
				 "closed=%u why=\"headers not in within %" PRIu64
				 " s, or a body slower than %" PRIu64 " B/s\"",
				 n, h->deadline_ms / 1000, h->min_rate);
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&h->wake, &h->lock, &ts);
	}
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

static int start_sweeper(struct pc_http *h)
{
	pthread_condattr_t ca;
	int ret;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&h->wake, &ca);
	pthread_condattr_destroy(&ca);
	if (!h->deadline_ms && !h->min_rate)
		return 0;
	ret = pthread_create(&h->sweeper, NULL, sweeper_main, h);
	h->sweeping = ret == 0;
	return -ret;
}

/* ---- the acceptor ---- */

/*
 * libmicrohttpd's own listener, out of descriptors, logs "Hit process or
 * system resource limit at FIRST connection" and polls the still-readable
 * listening socket again at once: a busy loop and a flood of warnings until
 * a descriptor frees up. So the server accepts itself (libmicrohttpd
 * started with MHD_USE_NO_LISTEN_SOCKET, each socket handed over with
 * MHD_add_connection()): out of descriptors it gives up a spare one to
 * answer the client in front 503, then stops polling the listener for a
 * while (50 ms, doubling to 1 s; as nginx and HAProxy do), logging at most
 * HTTP_LOG_BURST lines a minute. Accepting here also lets a full server
 * make room by closing its oldest idle connection (one waiting for its
 * headers, or between requests), so that a client whose request counts
 * (an apply, a delete) always gets a connection, and lets the server say
 * why it refuses one instead of closing it unanswered.
 */
#define ACCEPT_BACKOFF_MIN_MS 50u
#define ACCEPT_BACKOFF_MAX_MS 1000u
#define REFUSE_WAIT_MS        20
#define HTTP_THREAD_STACK     ((size_t)2 << 20)

static struct pc_ratelimit accept_rl = PC_RATELIMIT_INIT(60000, HTTP_LOG_BURST);

/*
 * Answer <fd> <code> with a Status saying <msg>, then close it. The request
 * is read first (a little while at most), so that closing does not reset
 * the connection before the client has read the answer.
 */
static void refuse_fd(int fd, unsigned code, const char *msg)
{
	char body[384], head[192], junk[4096];
	struct pollfd p = { fd, POLLIN, 0 };
	int blen, hlen;

	blen = snprintf(body, sizeof(body),
			"{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\","
			"\"reason\":\"%s\",\"message\":\"%s\",\"code\":%u}\n",
			code == 429 ? "TooManyRequests" : "ServiceUnavailable", msg, code);
	blen = blen < (int)sizeof(body) ? blen : (int)sizeof(body) - 1;
	hlen = snprintf(head, sizeof(head),
			"HTTP/1.1 %u %s\r\nContent-Type: application/json\r\n"
			"Content-Length: %d\r\nConnection: close\r\n\r\n",
			code, code == 429 ? "Too Many Requests" : "Service Unavailable", blen);
	if (poll(&p, 1, REFUSE_WAIT_MS) > 0)
		while (recv(fd, junk, sizeof(junk), MSG_DONTWAIT) > 0)
			;
	if (send(fd, head, (size_t)hlen, MSG_DONTWAIT | MSG_NOSIGNAL) == hlen)
		send(fd, body, (size_t)blen, MSG_DONTWAIT | MSG_NOSIGNAL);
	shutdown(fd, SHUT_WR);
	close(fd);
}

static void count(struct pc_http *h, uint64_t *counter)
{
	pthread_mutex_lock(&h->lock);
	(*counter)++;
	pthread_mutex_unlock(&h->lock);
}

/* Warn, at most HTTP_LOG_BURST times a minute for every server together. */
static void accept_warn(const struct pc_http *h, const char *msg, int e)
{
	uint64_t suppressed;
	bool ok;

	pthread_mutex_lock(&log_lock);
	ok = pc_log_ratelimit(&accept_rl, pc_mono_ms());
	suppressed = accept_rl.suppressed;
	pthread_mutex_unlock(&log_lock);
	if (ok)
		pc_log_suppressed(PC_LOG_WARN, suppressed, msg, "server=%s err=%s", h->name,
				  strerror(e));
}

/* Out of descriptors (or buffers): answer the client in front with the spare one. */
static void exhausted(struct pc_http *h, int e)
{
	int fd;

	count(h, &h->n.exhausted);
	accept_warn(h, "out of descriptors at accept: backing off", e);
	if (h->reserve < 0)
		return; /* lost at a reopen that failed: accept_one() takes it again */
	close(h->reserve);
	fd = accept4(h->lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd >= 0)
		refuse_fd(fd, 503, "the daemon is out of descriptors; try again later");
	h->reserve = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

/* Close the oldest idle connection (not in a request); <lock> held. */
static bool evict_idle(struct pc_http *h)
{
	struct http_conn *c, *old = NULL;

	for (c = h->conns; c; c = c->next)
		if (!c->busy && !c->cut && (!old || c->since_ms < old->since_ms))
			old = c;
	if (!old)
		return false;
	shutdown(old->fd, SHUT_RDWR);
	old->cut = true;
	h->live--;
	h->n.evicted++;
	return true;
}

/* Hand <fd> to libmicrohttpd, making room if the server is full. */
static void admit(struct pc_http *h, int fd, const struct sockaddr *sa, socklen_t len)
{
	char msg[128];
	unsigned live;
	bool room;

	pthread_mutex_lock(&h->lock);
	room = h->live < h->max_conns || evict_idle(h);
	live = h->live;
	if (!room)
		h->n.full++;
	pthread_mutex_unlock(&h->lock);
	if (!room) {
		snprintf(msg, sizeof(msg),
			 "too many connections: %u open, limit %u, none idle; try again later",
			 live, h->max_conns);
		refuse_fd(fd, 503, msg);
		return;
	}
	if (MHD_add_connection(h->d, fd, sa, len) != MHD_YES) /* it closed <fd> */
		accept_warn(h, "cannot serve a connection", errno);
}

/* Accept one connection. Returns 0, or -1 to back off. */
static int accept_one(struct pc_http *h)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int fd = accept4(h->lfd, (struct sockaddr *)&ss, &len, SOCK_CLOEXEC);

	if (fd >= 0) {
		if (h->reserve < 0) /* descriptors are free again: the spare first */
			h->reserve = open("/dev/null", O_RDONLY | O_CLOEXEC);
		admit(h, fd, (struct sockaddr *)&ss, len);
		return 0;
	}
	switch (errno) {
	case EAGAIN:
	case EINTR:
	case ECONNABORTED:
	case EPROTO:
		return 0;
	case EMFILE:
	case ENFILE:
	case ENOBUFS:
	case ENOMEM:
		exhausted(h, errno);
		return -1;
	default:
		count(h, &h->n.exhausted);
		accept_warn(h, "cannot accept a connection: backing off", errno);
		return -1;
	}
}

static void *acceptor_main(void *arg)
{
	struct pc_http *h = arg;
	struct pollfd p[2] = { { h->wake_fd, POLLIN, 0 }, { h->lfd, POLLIN, 0 } };
	unsigned backoff = 0;
	int n;

	for (;;) {
		/* While backing off, the listener is not polled: it stays readable. */
		n = poll(p, backoff ? 1 : 2, backoff ? (int)backoff : -1);
		if (n < 0 && errno != EINTR)
			backoff = ACCEPT_BACKOFF_MAX_MS; /* cannot happen; never spin */
		if (n > 0 && p[0].revents)
			break;
		if (accept_one(h) == 0)
			backoff = 0;
		else if (backoff < ACCEPT_BACKOFF_MIN_MS)
			backoff = ACCEPT_BACKOFF_MIN_MS;
		else if (backoff < ACCEPT_BACKOFF_MAX_MS)
			backoff *= 2;
	}
	return NULL;
}

static int start_acceptor(struct pc_http *h, int fd)
{
	int ret;

	h->lfd = fd;
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == -1)
		return -errno;
	h->wake_fd = eventfd(0, EFD_CLOEXEC);
	h->reserve = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (h->wake_fd < 0)
		return -errno;
	ret = pthread_create(&h->acceptor, NULL, acceptor_main, h);
	h->accepting = ret == 0;
	return -ret;
}

static void stop_acceptor(struct pc_http *h)
{
	uint64_t one = 1;

	if (h->accepting && write(h->wake_fd, &one, sizeof(one)) == sizeof(one))
		pthread_join(h->acceptor, NULL);
	if (h->wake_fd >= 0)
		close(h->wake_fd);
	if (h->reserve >= 0)
		close(h->reserve);
	if (h->lfd >= 0)
		close(h->lfd);
}

static struct MHD_Daemon *start_mhd(struct pc_http *h, const struct pc_http_limits *lim)
{
	unsigned flags = MHD_USE_ERROR_LOG | MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC;
	struct MHD_OptionItem pool[] = {
		{ MHD_OPTION_THREAD_POOL_SIZE, lim->pool, NULL },
		{ MHD_OPTION_END, 0, NULL },
	};
	/*
	 * Not the default 8 MiB a thread: 200 connection threads would take
	 * 1.6 GiB of address space (the tests run the daemon within 2 GiB).
	 * The handlers recurse only as deep as a manifest nests (bounded).
	 */
	size_t stack = HTTP_THREAD_STACK;

	/*
	 * A thread per connection with a small limit is what let 16 idle
	 * sockets fail the readiness probe: each held a slot (and a thread)
	 * until the idle timeout, and the 17th connection was refused. In epoll
	 * mode an idle connection holds a descriptor only. libmicrohttpd's own
	 * limit is a backstop above ours: sockets shut down by the sweeper or
	 * the acceptor still count with it until their threads have closed them.
	 */
	if (lim->pool)
		flags |= MHD_USE_EPOLL_INTERNAL_THREAD;
	else
		flags |= MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL_INTERNAL_THREAD;
	if (lim->pool < 2)
		pool[0].option = MHD_OPTION_END; /* one polling thread: no pool */
	return MHD_start_daemon(flags, 0, NULL, NULL, on_access, h, MHD_OPTION_EXTERNAL_LOGGER,
				on_mhd_log, (void *)h->name, MHD_OPTION_CONNECTION_LIMIT,
				lim->max_conns + lim->max_conns / 2 + 8,
				MHD_OPTION_PER_IP_CONNECTION_LIMIT, lim->per_ip,
				MHD_OPTION_CONNECTION_TIMEOUT, lim->idle_seconds,
				MHD_OPTION_THREAD_STACK_SIZE, stack, MHD_OPTION_ARRAY, pool,
				MHD_OPTION_NOTIFY_COMPLETED, on_done, h,
				MHD_OPTION_NOTIFY_CONNECTION, on_connection, h, MHD_OPTION_END);
}

struct pc_http *pc_http_start(int fd, MHD_AccessHandlerCallback handler, void *cls,
			      MHD_RequestCompletedCallback done, const struct pc_http_limits *lim,
			      const char *name)
{
	struct pc_http *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->handler = handler;
	h->done = done;
	h->cls = cls;
	h->name = name;
	h->lfd = h->wake_fd = h->reserve = -1;
	h->max_conns = lim->max_conns;
	h->deadline_ms = (uint64_t)lim->header_seconds * 1000;
	h->grace_ms = (uint64_t)lim->body_grace_seconds * 1000;
	h->min_rate = lim->min_body_rate;
	pthread_mutex_init(&h->lock, NULL);
	if (start_sweeper(h) < 0) {
		pc_http_stop(h);
		return NULL;
	}
	h->d = start_mhd(h, lim);
	if (!h->d || start_acceptor(h, fd) < 0) {
		h->lfd = -1; /* still the caller's */
		pc_http_stop(h);
		return NULL;
	}
	register_server(h, true);
	return h;
}

void pc_http_stop(struct pc_http *h)
{
	if (!h)
		return;
	register_server(h, false);
	stop_acceptor(h); /* no new connection from here */
	pthread_mutex_lock(&h->lock);
	h->stopping = true;
	pthread_cond_signal(&h->wake);
	pthread_mutex_unlock(&h->lock);
	if (h->sweeping)
		pthread_join(h->sweeper, NULL);
	if (h->d)
		MHD_stop_daemon(h->d); /* joins its threads; every connection is NOTIFY_CLOSED */
	pthread_cond_destroy(&h->wake);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

void pc_http_read_counters(struct pc_http *h, struct pc_http_counters *out)
{
	pthread_mutex_lock(&h->lock);
	*out = h->n;
	out->open = h->live;
	pthread_mutex_unlock(&h->lock);
}

int pc_http_peer(struct MHD_Connection *conn, uid_t *uid, gid_t *gid, pid_t *pid)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	struct ucred cr;
	socklen_t len = sizeof(cr);

	if (!ci)
		return -ENOTSOCK;
	if (getsockopt(ci->connect_fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) == -1)
		return -errno;
	*uid = cr.uid;
	*gid = cr.gid;
	*pid = cr.pid;
	return 0;
}

void pc_http_client_addr(struct MHD_Connection *conn, char *out, size_t size)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;

	out[0] = '\0';
	if (sa && sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out,
			  (socklen_t)size);
	else if (sa && sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out,
			  (socklen_t)size);
}

enum MHD_Result pc_http_send_hdr(struct MHD_Connection *conn, unsigned status, const char *type,
				 const char *body, size_t len, const char *hname, const char *hval)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(len, (void *)(body ? body : ""),
					       MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (hname)
		MHD_add_response_header(resp, hname, hval);
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

enum MHD_Result pc_http_send(struct MHD_Connection *conn, unsigned status, const char *type,
			     const char *body, size_t len, bool no_cache)
{
	return pc_http_send_hdr(conn, status, type, body, len,
				no_cache ? MHD_HTTP_HEADER_CACHE_CONTROL : NULL,
				"no-cache, max-age=0");
}

const char *pc_http_arg(struct MHD_Connection *conn, const char *key)
{
	return MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, key);
}

/* The counters of every server named <name>, summed. */
static void sum_named(const char *name, struct pc_http_counters *sum)
{
	struct pc_http_counters n;
	struct pc_http *h;

	memset(sum, 0, sizeof(*sum));
	for (h = servers; h; h = h->next_server) {
		if (strcmp(h->name, name) != 0)
			continue;
		pc_http_read_counters(h, &n);
		sum->open += n.open;
		sum->evicted += n.evicted;
		sum->full += n.full;
		sum->slow += n.slow;
		sum->exhausted += n.exhausted;
	}
}

void pc_http_prometheus(struct pc_buf *b)
{
	static const char *const names[][2] = { { "API", "api" }, { "admin endpoint", "admin" } };
	static const char *const m = "portcullis_control_connections_closed_total";
	struct pc_http_counters n[2];
	size_t i;

	pthread_mutex_lock(&servers_lock);
	for (i = 0; i < 2; i++)
		sum_named(names[i][0], &n[i]);
	pthread_mutex_unlock(&servers_lock);
	pc_buf_adds(b, "# HELP portcullis_control_connections Connections open on the API and "
		       "the admin endpoint.\n# TYPE portcullis_control_connections gauge\n");
	for (i = 0; i < 2; i++)
		pc_buf_printf(b, "portcullis_control_connections{server=\"%s\"} %" PRIu64 "\n",
			      names[i][1], n[i].open);
	pc_buf_printf(b,
		      "# HELP %s Connections of the API and the admin endpoint closed or refused "
		      "to stay available: idle ones closed to make room, refused when full, "
		      "bodies too slow, accept() out of descriptors.\n# TYPE %s counter\n",
		      m, m);
	for (i = 0; i < 2; i++)
		pc_buf_printf(b,
			      "%s{server=\"%s\",reason=\"idle_evicted\"} %" PRIu64 "\n"
			      "%s{server=\"%s\",reason=\"full\"} %" PRIu64 "\n"
			      "%s{server=\"%s\",reason=\"slow_body\"} %" PRIu64 "\n"
			      "%s{server=\"%s\",reason=\"accept_exhausted\"} %" PRIu64 "\n",
			      m, names[i][1], n[i].evicted, m, names[i][1], n[i].full, m,
			      names[i][1], n[i].slow, m, names[i][1], n[i].exhausted);
}
