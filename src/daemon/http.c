/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * daemon/http.c - the libmicrohttpd plumbing the API and the admin
 * endpoint share (daemon/http.h).
 */
#include "daemon/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

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
 * end of its previous request. A sweeping thread shuts down the sockets
 * past it; libmicrohttpd then reads end-of-file and closes the connection.
 */
struct http_conn {
	struct http_conn *next, **pprev;
	int fd;
	uint64_t since_ms; /* waiting for headers since */
	bool busy;         /* in a request: its headers are in */
	bool cut;          /* shut down by the sweeper */
};

struct pc_http {
	struct MHD_Daemon *d;
	MHD_AccessHandlerCallback handler;
	MHD_RequestCompletedCallback done;
	void *cls;
	const char *name;
	uint64_t deadline_ms;
	pthread_mutex_t lock; /* the fields below */
	pthread_cond_t wake;
	struct http_conn *conns;
	bool stopping;
	bool sweeping; /* <sweeper> runs */
	pthread_t sweeper;
};

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

	if (c) {
		pthread_mutex_lock(&h->lock);
		c->busy = true;
		pthread_mutex_unlock(&h->lock);
	}
	return h->handler(h->cls, conn, url, method, version, upload_data, upload_data_size, state);
}

static void on_done(void *cls, struct MHD_Connection *conn, void **state,
		    enum MHD_RequestTerminationCode code)
{
	struct pc_http *h = cls;
	struct http_conn *c = conn_of(conn);

	if (c) {
		pthread_mutex_lock(&h->lock);
		c->busy = false; /* the next request's headers: a new deadline */
		c->since_ms = pc_mono_ms();
		pthread_mutex_unlock(&h->lock);
	}
	if (h->done)
		h->done(h->cls, conn, state, code);
}

/* Shut down the sockets past their deadline; <lock> held. */
static unsigned sweep(struct pc_http *h, uint64_t now)
{
	struct http_conn *c;
	unsigned n = 0;

	for (c = h->conns; c; c = c->next) {
		if (c->busy || c->cut || now - c->since_ms < h->deadline_ms)
			continue;
		shutdown(c->fd, SHUT_RDWR); /* the fd stays open until NOTIFY_CLOSED */
		c->cut = true;
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
			pc_debug(h->name, "closed=%u why=\"headers not in within %" PRIu64 " s\"",
				 n, h->deadline_ms / 1000);
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
	if (!h->deadline_ms)
		return 0;
	ret = pthread_create(&h->sweeper, NULL, sweeper_main, h);
	h->sweeping = ret == 0;
	return -ret;
}

static struct MHD_Daemon *start_mhd(struct pc_http *h, int fd, const struct pc_http_limits *lim)
{
	unsigned flags = MHD_USE_ERROR_LOG;
	struct MHD_OptionItem pool[] = {
		{ MHD_OPTION_THREAD_POOL_SIZE, lim->pool, NULL },
		{ MHD_OPTION_END, 0, NULL },
	};

	/*
	 * A thread per connection with a small limit is what let 16 idle
	 * sockets fail the readiness probe: each held a slot (and a thread)
	 * until the idle timeout, and the 17th connection was refused. In epoll
	 * mode an idle connection holds a descriptor only.
	 */
	if (lim->pool)
		flags |= MHD_USE_EPOLL_INTERNAL_THREAD;
	else
		flags |= MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL_INTERNAL_THREAD;
	if (lim->pool < 2)
		pool[0].option = MHD_OPTION_END; /* one polling thread: no pool */
	return MHD_start_daemon(flags, 0, NULL, NULL, on_access, h, MHD_OPTION_EXTERNAL_LOGGER,
				on_mhd_log, (void *)h->name, MHD_OPTION_LISTEN_SOCKET, fd,
				MHD_OPTION_CONNECTION_LIMIT, lim->max_conns,
				MHD_OPTION_PER_IP_CONNECTION_LIMIT, lim->per_ip,
				MHD_OPTION_CONNECTION_TIMEOUT, lim->idle_seconds, MHD_OPTION_ARRAY,
				pool, MHD_OPTION_NOTIFY_COMPLETED, on_done, h,
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
	h->deadline_ms = (uint64_t)lim->header_seconds * 1000;
	pthread_mutex_init(&h->lock, NULL);
	if (start_sweeper(h) < 0) {
		pc_http_stop(h);
		return NULL;
	}
	h->d = start_mhd(h, fd, lim);
	if (!h->d) {
		pc_http_stop(h);
		return NULL;
	}
	return h;
}

void pc_http_stop(struct pc_http *h)
{
	if (!h)
		return;
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
