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

#include <microhttpd.h>

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
 * Serve on the listening socket <fd> (taken by the server once started):
 * one thread per connection, at most <max_conns>, idle ones closed after
 * <idle_seconds>. <done> (may be NULL) is called when a request ends;
 * libmicrohttpd's own errors are logged as warnings under <name>.
 * Returns the server, or NULL.
 */
struct MHD_Daemon *pc_http_start(int fd, MHD_AccessHandlerCallback handler, void *cls,
				 MHD_RequestCompletedCallback done, unsigned max_conns,
				 unsigned idle_seconds, const char *name);

/*
 * Queue the reply <status> with the <len> bytes of <body> (copied) as
 * <type>; <no_cache> adds "Cache-Control: no-cache, max-age=0".
 */
enum MHD_Result pc_http_send(struct MHD_Connection *conn, unsigned status, const char *type,
			     const char *body, size_t len, bool no_cache);

/* The query argument <key>, or NULL. */
const char *pc_http_arg(struct MHD_Connection *conn, const char *key);

#endif /* PC_DAEMON_HTTP_H */
