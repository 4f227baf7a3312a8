// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * common.h - the HTTP server plumbing ratings and productpage share: the
 * listening address from the environment, a reply, and serving on
 * libmicrohttpd (a thread per connection) until SIGTERM or SIGINT.
 */
#ifndef BOOKINFO_COMMON_H
#define BOOKINFO_COMMON_H

#include <netinet/in.h>
#include <stdbool.h>

#include <microhttpd.h>

/* The environment variable <name>, or <def> when it is unset or empty. */
const char *env(const char *name, const char *def);

/*
 * The address to serve on, "IPv4:PORT" from the environment variable <var>
 * (default <def>), into <sin>. Returns it, or NULL after telling stderr
 * why (<prog> names the program).
 */
const char *listen_addr(const char *prog, const char *var, const char *def,
			struct sockaddr_in *sin);

/* Reply <status> with <body> as <type>; <no_store> adds "Cache-Control: no-store". */
enum MHD_Result reply(struct MHD_Connection *c, unsigned int status, const char *type,
		      const char *body, bool no_store);

/*
 * Serve <handle> on <sin> (<listen> as text, for errors), SIGTERM and
 * SIGINT blocked for the server's threads. Returns the server, or NULL
 * after telling stderr.
 */
struct MHD_Daemon *start_server(const char *prog, const char *listen, const struct sockaddr_in *sin,
				MHD_AccessHandlerCallback handle);

/* Wait for SIGTERM or SIGINT, then stop <d>. */
void wait_for_stop(struct MHD_Daemon *d);

#endif
