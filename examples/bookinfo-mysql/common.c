// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * common.c - the server plumbing of ratings and productpage (common.h).
 */
#include "common.h"

#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *env(const char *name, const char *def)
{
	const char *v = getenv(name);

	return v && *v ? v : def;
}

/* "ADDR:PORT" -> <sin>; 0 or -1. */
static int parse_listen(const char *s, struct sockaddr_in *sin)
{
	char host[64];
	const char *colon = strrchr(s, ':');

	if (!colon || (size_t)(colon - s) >= sizeof(host))
		return -1;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = htons((unsigned short)atoi(colon + 1));
	return inet_pton(AF_INET, host, &sin->sin_addr) == 1 ? 0 : -1;
}

const char *listen_addr(const char *prog, const char *var, const char *def, struct sockaddr_in *sin)
{
	const char *listen = env(var, def);

	if (parse_listen(listen, sin) != 0) {
		fprintf(stderr, "%s: bad %s %s (want IPv4:PORT)\n", prog, var, listen);
		return NULL;
	}
	return listen;
}

enum MHD_Result reply(struct MHD_Connection *c, unsigned int status, const char *type,
		      const char *body, bool no_store)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type", type);
	if (no_store)
		MHD_add_response_header(resp, "Cache-Control", "no-store");
	ret = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static void stop_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
}

struct MHD_Daemon *start_server(const char *prog, const char *listen, const struct sockaddr_in *sin,
				MHD_AccessHandlerCallback handle)
{
	struct MHD_Daemon *d;
	sigset_t set;

	/* Block the stop signals before the server's threads exist, so only sigwait() sees them. */
	stop_signals(&set);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	d = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG,
		0, NULL, NULL, handle, NULL, MHD_OPTION_SOCK_ADDR, sin, MHD_OPTION_END);
	if (!d)
		fprintf(stderr, "%s: cannot listen on %s\n", prog, listen);
	return d;
}

void wait_for_stop(struct MHD_Daemon *d)
{
	sigset_t set;
	int sig;

	stop_signals(&set);
	sigwait(&set, &sig);
	MHD_stop_daemon(d);
}
