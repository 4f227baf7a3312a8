/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * daemon/admin.h - the admin HTTP endpoint (doc/admin.md), like Envoy's
 * admin port: metrics, live connections, config dump, readiness, log level.
 *
 * The socket is made early (pc_admin_listen(), so a bad address refuses to
 * start), the server started once the workers run (pc_admin_start()), and
 * stopped only after the workers are joined, so it answers 503 on
 * /healthz/ready while the proxy drains. It reads the workers' stats and
 * session lists (proxy/worker.h), the current snapshot from the publisher
 * (daemon/publish.h) and the control plane's counters and store
 * (daemon/control.h); it changes nothing but the log level.
 *
 * Who may ask (doc/security.md): the pod's loopback is the workload's, so
 * what changes the proxy or reveals the policy (POST /logging,
 * /config_dump, /connections, /clusters) needs one of the tokens of
 * <state-dir>/api-token as "Authorization: Bearer" unless the operator
 * says --admin-auth none; metrics, /denials and readiness stay open and
 * read-only. Idle connections cost a descriptor, not a thread, and are
 * closed after ADMIN_IDLE_SECONDS, so a few cannot starve the probes.
 */
#ifndef PC_DAEMON_ADMIN_H
#define PC_DAEMON_ADMIN_H

#include <stdbool.h>
#include <stdint.h>

#include "proxy/stats.h"

struct pc_admin;
struct pc_control;
struct pc_dns_proxy;
struct pc_err;
struct pc_netfilter;
struct pc_tokens;
struct pc_publisher;
struct pc_worker;

/* Default --admin address. */
#define PC_ADMIN_DEFAULT "127.0.0.1:15000"

enum pc_admin_state {
	PC_ADMIN_STARTING, /* /healthz/ready: 503 */
	PC_ADMIN_READY,    /* 200 */
	PC_ADMIN_DRAINING, /* 503 */
};

struct pc_admin_opts {
	struct pc_worker *workers; /* borrowed; outlive the server */
	unsigned nworkers;
	struct pc_control *ctl;
	struct pc_publisher *pub;       /* the current snapshot (/clusters) */
	struct pc_stats_labels labels;  /* strings borrowed */
	bool stats;                     /* --stats on: else /stats* answer 404 */
	uint64_t start_ms;              /* CLOCK_MONOTONIC ms at process start (uptime) */
	const struct pc_tokens *tokens; /* borrowed, outlive the server; NULL: none */
	bool open;                      /* --admin-auth none: no token needed anywhere */
	struct pc_dns_proxy *dns;       /* the DNS proxy's counters (doc/dns.md), or NULL */
	struct pc_netfilter *nf;        /* the fence's counters (borrowed); NULL: none */
};

/*
 * Listen on <spec> ("127.0.0.1:15000", "[::1]:15000"); unless <any>, only
 * a loopback address is accepted (metrics and health need no token).
 * Returns the fd, or a negative errno with <err> filled.
 */
int pc_admin_listen(const char *spec, bool any, struct pc_err *err);

/* Serve on <fd> (taken). Returns 0 or a negative errno with <err> filled. */
int pc_admin_start(int fd, const struct pc_admin_opts *opts, struct pc_admin **out,
		   struct pc_err *err);

/* Any thread. */
void pc_admin_set_state(struct pc_admin *a, enum pc_admin_state state);

/* Stop serving (waits for requests in progress) and free. NULL is a no-op. */
void pc_admin_stop(struct pc_admin *a);

#endif /* PC_DAEMON_ADMIN_H */
