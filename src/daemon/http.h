/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * daemon/http.h - what the API (daemon/api.c) and the admin endpoint
 * (daemon/admin.c) share on libmicrohttpd: the loopback TCP listener,
 * starting a server on a socket, replies and query arguments.
 */
#ifndef PC_DAEMON_HTTP_H
#define PC_DAEMON_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <microhttpd.h>

struct pc_buf;
struct pc_err;

#define PC_HTTP_CT_JSON "application/json"
#define PC_HTTP_CT_TEXT "text/plain; charset=utf-8"

/* How a server's TCP address is checked, and named in errors. */
struct pc_http_tcp {
	const char *opt;    /* the option: "--admin" */
	const char *usage;  /* what it takes: "ADDRESS:PORT or off" */
	const char *sock;   /* "cannot make the <sock> socket" */
	const char *what;   /* "cannot listen on SPEC<what>": "" or " for the ..." */
	const char *noauth; /* why only loopback; NULL accepts any address */
	bool port0;         /* port 0 (the kernel picks) is accepted */
};

/*
 * Listen on the TCP address <spec> ("127.0.0.1:8080", "[::1]:8080"),
 * checked as <t> says. Returns the fd, or a negative errno with <err> filled.
 */
int pc_http_listen_tcp(const char *spec, const struct pc_http_tcp *t, struct pc_err *err);

/*
 * How a server runs and what one client may hold. A thread per connection
 * is for handlers that block (an apply, a watch); the other mode is one
 * epoll thread pool, where an idle connection costs a descriptor and no
 * thread, so the limits can be high. <per_ip> (0: none) keeps one address
 * from taking every slot; <idle_seconds> closes a connection that sends
 * nothing for that long (a half-sent request included); <header_seconds>
 * (0: none) closes one whose request's headers are not all in that long
 * after the connection, or its previous request, ended: a client that
 * trickles a byte at a time keeps a slot that long at most; it is also how
 * long a kept-alive connection may wait for its next request. Once a
 * request's headers are in, its body must come at <min_body_rate> bytes a
 * second on average (0: any rate) after <body_grace_seconds>.
 *
 * <max_conns> are served at once; the server accepts connections itself:
 * when full, it closes the oldest idle connection (one not in a request)
 * to make room, or answers 503 when none is idle; out of descriptors, it
 * answers 503 with a spare one and backs off, never spinning.
 */
struct pc_http_limits {
	unsigned max_conns;
	unsigned per_ip;
	unsigned idle_seconds;
	unsigned header_seconds;
	unsigned body_grace_seconds;
	unsigned min_body_rate;
	unsigned pool; /* 0: a thread per connection; else epoll threads */
};

/* What a server did to keep itself available, since it started. */
struct pc_http_counters {
	uint64_t open;      /* connections open now */
	uint64_t evicted;   /* idle connections closed to make room */
	uint64_t full;      /* connections refused (503): full and none idle */
	uint64_t slow;      /* requests cut: their body came too slowly */
	uint64_t exhausted; /* accept() failed: out of descriptors or buffers */
};

/* A server: libmicrohttpd's, and the deadline of its requests' headers. */
struct pc_http;

/*
 * Serve on the listening socket <fd> (taken by the server once started)
 * within <lim>. <done> (may be NULL) is called when a request ends;
 * libmicrohttpd's own errors are logged as warnings under <name> (at most
 * 10 a minute). Returns the server, or NULL.
 */
struct pc_http *pc_http_start(int fd, MHD_AccessHandlerCallback handler, void *cls,
			      MHD_RequestCompletedCallback done, const struct pc_http_limits *lim,
			      const char *name);

/* Stop <h> (NULL: nothing): joins its threads, closes its sockets. */
void pc_http_stop(struct pc_http *h);

/* <h>'s counters now. */
void pc_http_read_counters(struct pc_http *h, struct pc_http_counters *out);

/*
 * The counters of every running server, summed by server ("api", "admin"),
 * in Prometheus' text format (doc/admin.md): portcullis_control_connections
 * and portcullis_control_connections_closed_total{server,reason}.
 */
void pc_http_prometheus(struct pc_buf *b);

/*
 * The credentials of the peer of <conn> (a Unix socket connection):
 * SO_PEERCRED. Returns 0 or a negative errno.
 */
int pc_http_peer(struct MHD_Connection *conn, uid_t *uid, gid_t *gid, pid_t *pid);

/* The client's address of <conn> as text ("127.0.0.1", "::1") in <out>, or "". */
void pc_http_client_addr(struct MHD_Connection *conn, char *out, size_t size);

/*
 * Queue the reply <status> with the <len> bytes of <body> (copied) as
 * <type>; <no_cache> adds "Cache-Control: no-cache, max-age=0".
 */
enum MHD_Result pc_http_send(struct MHD_Connection *conn, unsigned status, const char *type,
			     const char *body, size_t len, bool no_cache);

/* pc_http_send() with one more header <hname>: <hval> (e.g. WWW-Authenticate). */
enum MHD_Result pc_http_send_hdr(struct MHD_Connection *conn, unsigned status, const char *type,
				 const char *body, size_t len, const char *hname, const char *hval);

/* The query argument <key>, or NULL. */
const char *pc_http_arg(struct MHD_Connection *conn, const char *key);

#endif /* PC_DAEMON_HTTP_H */
