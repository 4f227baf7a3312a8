/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * daemon/http.c - the libmicrohttpd plumbing the API and the admin
 * endpoint share (daemon/http.h).
 */
#include "daemon/http.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "net/addr.h"

static bool is_loopback(const struct pc_addr *a)
{
	return (a->family == AF_INET && a->bytes[0] == 127) ||
	       (a->family == AF_INET6 && IN6_IS_ADDR_LOOPBACK((const struct in6_addr *)a->bytes));
}

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
	if (t->noauth && !is_loopback(&a))
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

__attribute__((format(printf, 2, 0))) static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	pc_log(PC_LOG_WARN, cls, "detail=%s", msg);
}

struct MHD_Daemon *pc_http_start(int fd, MHD_AccessHandlerCallback handler, void *cls,
				 MHD_RequestCompletedCallback done, unsigned max_conns,
				 unsigned idle_seconds, const char *name)
{
	unsigned flags =
		MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG;

	return MHD_start_daemon(flags, 0, NULL, NULL, handler, cls, MHD_OPTION_EXTERNAL_LOGGER,
				on_mhd_log, (void *)name, MHD_OPTION_LISTEN_SOCKET, fd,
				MHD_OPTION_CONNECTION_LIMIT, max_conns,
				MHD_OPTION_CONNECTION_TIMEOUT, idle_seconds,
				MHD_OPTION_NOTIFY_COMPLETED, done, NULL, MHD_OPTION_END);
}

enum MHD_Result pc_http_send(struct MHD_Connection *conn, unsigned status, const char *type,
			     const char *body, size_t len, bool no_cache)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(len, (void *)(body ? body : ""),
					       MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (no_cache)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache, max-age=0");
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

const char *pc_http_arg(struct MHD_Connection *conn, const char *key)
{
	return MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, key);
}
