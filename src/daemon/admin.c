/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * daemon/admin.c - the admin endpoint (doc/admin.md) on libmicrohttpd.
 *
 * One thread per connection, as in daemon/api.c, at most ADMIN_MAX_CONNS:
 * a scrape is short and nothing here blocks on the workers. Counters are
 * read from the workers' stats without a lock (proxy/stats.h); the live
 * sessions are walked under each worker's list lock, one worker at a time
 * (proxy/worker.h), so a scrape delays at most the accepts and closes of
 * one worker, for the time it takes to print that worker's sessions.
 *
 * The paths that change the proxy or reveal its policy need a bearer
 * token (daemon/token.h) unless --admin-auth none; the listening address
 * must be loopback unless the operator says --admin-any. Connections are
 * served by a small epoll thread pool, not a thread each: an idle socket
 * costs a descriptor, so ADMIN_MAX_CONNS can be high enough that a few
 * idle clients never keep the readiness probe out.
 */
#include "daemon/admin.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <microhttpd.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "daemon/audit.h"
#include "daemon/budget.h"
#include "daemon/control.h"
#include "daemon/http.h"
#include "daemon/netfilter.h"
#include "daemon/publish.h"
#include "daemon/token.h"
#include "dns/proxy.h"
#include "policy/dump.h"
#include "policy/snapshot.h"
#include "proxy/deny.h"
#include "proxy/worker.h"

#define ADMIN_MAX_CONNS      1024
#define ADMIN_IDLE_SECONDS   10
/* a probe or a scrape sends its headers at once; a trickler loses its slot */
#define ADMIN_HEADER_SECONDS 5
#define ADMIN_THREADS        2
/* what a request's body may be (none is used), and how slowly it may come */
#define ADMIN_MAX_BODY       (64u << 10)
#define ADMIN_MIN_RATE       1024u

#define CT_JSON PC_HTTP_CT_JSON
#define CT_TEXT PC_HTTP_CT_TEXT
#define CT_PROM "text/plain; version=0.0.4; charset=utf-8"

struct pc_admin {
	struct pc_admin_opts o;
	struct pc_http *d;
	atomic_int state; /* enum pc_admin_state */
	uint64_t start_ms;
};

/* ---- the listening socket ---- */

int pc_admin_listen(const char *spec, bool any, struct pc_err *err)
{
	struct pc_http_tcp t = {
		.opt = "--admin",
		.usage = "ADDRESS:PORT or off",
		.sock = "admin",
		.what = " for the admin endpoint",
		.noauth = "the admin endpoint's metrics and health paths need no token (add "
			  "--admin-any to serve it anyway)",
		.port0 = true,
	};

	if (any)
		t.noauth = NULL;
	return pc_http_listen_tcp(spec, &t, err);
}

/* ---- replies ---- */

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *type,
			     struct pc_buf *body)
{
	enum MHD_Result ret;

	if (body->oom) {
		pc_buf_release(body);
		pc_buf_adds(body, "out of memory\n");
		status = 500;
		type = CT_TEXT;
	}
	ret = pc_http_send(conn, status, type, body->p, body->len, true);
	pc_buf_release(body);
	return ret;
}

static enum MHD_Result reply_text(struct MHD_Connection *conn, unsigned status, const char *text)
{
	struct pc_buf b = PC_BUF_INIT;

	pc_buf_adds(&b, text);
	return reply(conn, status, CT_TEXT, &b);
}

static bool is_json(struct MHD_Connection *conn)
{
	const char *f = pc_http_arg(conn, "format");

	return f && strcmp(f, "json") == 0;
}

/* ---- process gauges ---- */

/* /proc/self/statm: "size resident shared ..." in pages (proc(5)). */
static uint64_t rss_bytes(void)
{
	char line[256], *p, *end;
	unsigned long resident;
	FILE *f = fopen("/proc/self/statm", "re");

	if (!f)
		return 0;
	p = fgets(line, sizeof(line), f);
	fclose(f);
	if (!p)
		return 0;
	strtoul(p, &end, 10); /* size */
	resident = strtoul(end, &end, 10);
	return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* malloc's bytes in use in every arena (glibc sums them in mallinfo2()). */
static uint64_t heap_bytes(void)
{
	struct mallinfo2 mi = mallinfo2();

	return (uint64_t)mi.uordblks + (uint64_t)mi.hblkhd;
}

static uint64_t open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	const struct dirent *e;
	uint64_t n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n > 0 ? n - 1 : 0; /* not the directory stream's own fd */
}

static void proc_stats(struct pc_admin *a, struct pc_proc_stats *p)
{
	struct pc_control_counters cc;

	pc_control_counters(a->o.ctl, &cc);
	p->uptime_seconds = (double)(pc_mono_ms() - a->start_ms) / 1000.0;
	p->rss_bytes = rss_bytes();
	p->heap_bytes = heap_bytes();
	p->open_fds = open_fds();
	p->generation = cc.generation;
	p->reloads = cc.reloads;
	p->reload_failures = cc.reload_failures;
}

static int sum_stats(struct pc_admin *a, struct pc_stats_sum *sum)
{
	struct pc_stats **v =
		pc_calloc(a->o.nworkers ? a->o.nworkers : 1, sizeof(struct pc_stats *));
	unsigned i;
	int ret;

	if (!v)
		return -ENOMEM;
	for (i = 0; i < a->o.nworkers; i++)
		v[i] = &a->o.workers[i].stats;
	ret = pc_stats_sum(v, a->o.nworkers, sum);
	free(v);
	return ret;
}

/* ---- endpoints ---- */

/*
 * The fence's drop counters (daemon/netfilter.h): Prometheus text, or a
 * member added to the JSON object that ends <b>.
 */
static void add_fence(struct pc_admin *a, struct pc_buf *b, bool prom)
{
	struct pc_nf_counters c;
	bool have = a->o.nf && pc_netfilter_counters(a->o.nf, &c) == 0;

	if (prom) {
		(void)pc_netfilter_render(have ? &c : NULL, b); /* b->oom: reply() answers 500 */
		return;
	}
	if (b->len && pc_buf_str(b)[b->len - 1] == '}') {
		pc_buf_truncate(b, b->len - 1);
		pc_buf_addc(b, ',');
		pc_netfilter_json(have ? &c : NULL, b);
		pc_buf_addc(b, '}');
	}
}

/* Deletes revoked in memory that the store could not take yet (daemon/revoke.c). */
static void add_store(struct pc_admin *a, struct pc_buf *b)
{
	struct pc_control_counters cc;

	pc_control_counters(a->o.ctl, &cc);
	pc_buf_printf(b,
		      "# HELP portcullis_store_unpersisted_deletes Deletes in force but not yet "
		      "stored (the store could not write)\n"
		      "# TYPE portcullis_store_unpersisted_deletes gauge\n"
		      "portcullis_store_unpersisted_deletes %" PRIu64 "\n"
		      "# HELP portcullis_store_write_failures_total Failed attempts to store "
		      "deletes revoked in memory\n"
		      "# TYPE portcullis_store_write_failures_total counter\n"
		      "portcullis_store_write_failures_total %" PRIu64 "\n",
		      cc.unpersisted_deletes, cc.store_write_failures);
}

/* GET /stats/prometheus, /metrics, /stats?format=json, /stats (Envoy's "name: value"). */
static enum MHD_Result get_stats(struct pc_admin *a, struct MHD_Connection *conn, bool prom)
{
	struct pc_buf b = PC_BUF_INIT;
	struct pc_stats_sum sum;
	struct pc_proc_stats p;
	size_t i;

	if (!a->o.stats)
		return reply_text(conn, 404, "statistics are off (--stats off)\n");
	if (sum_stats(a, &sum) < 0)
		return reply_text(conn, 500, "out of memory\n");
	proc_stats(a, &p);
	if (prom) {
		pc_stats_prometheus(&sum, &a->o.labels, &p, &b);
		add_fence(a, &b, true);
		pc_stats_sum_release(&sum);
		if (a->o.dns) {
			struct pc_dns_stats ds;

			pc_dns_proxy_stats(a->o.dns, &ds);
			pc_dns_stats_render(&ds, &b);
		}
		pc_http_prometheus(&b);
		pc_budget_prometheus(&b);
		add_store(a, &b);
		return reply(conn, 200, CT_PROM, &b);
	}
	if (is_json(conn)) {
		pc_stats_json(&sum, &p, &b);
		add_fence(a, &b, false);
		pc_buf_addc(&b, '\n');
		pc_stats_sum_release(&sum);
		return reply(conn, 200, CT_JSON, &b);
	}
	for (i = 0; i < sum.nclusters; i++) {
		const struct pc_cluster_sum *c = &sum.clusters[i];

		pc_buf_printf(&b,
			      "cluster.%s.upstream_cx_total: %" PRIu64
			      "\ncluster.%s.upstream_cx_active: %" PRIu64
			      "\ncluster.%s.upstream_cx_connect_fail: %" PRIu64
			      "\ncluster.%s.upstream_cx_connect_timeout: %" PRIu64
			      "\ncluster.%s.upstream_cx_overflow: %" PRIu64
			      "\ncluster.%s.upstream_cx_rx_bytes_total: %" PRIu64
			      "\ncluster.%s.upstream_cx_tx_bytes_total: %" PRIu64 "\n",
			      c->name, c->cx_total, c->name, c->cx_active, c->name, c->connect_fail,
			      c->name, c->connect_timeout, c->name, c->overflow, c->name,
			      c->to_client, c->name, c->from_client);
	}
	pc_buf_printf(&b,
		      "listener.downstream_cx_total: %" PRIu64
		      "\nlistener.downstream_cx_active: %" PRIu64 "\nportcullis.denied: %" PRIu64
		      "\nportcullis.revoked: %" PRIu64 "\nserver.uptime: %.0f\n",
		      sum.downstream_total, sum.downstream_active, sum.denied, sum.revoked,
		      p.uptime_seconds);
	pc_stats_sum_release(&sum);
	return reply(conn, 200, CT_TEXT, &b);
}

static enum MHD_Result get_connections(struct pc_admin *a, struct MHD_Connection *conn)
{
	struct pc_buf b = PC_BUF_INIT;
	uint64_t now = pc_mono_ms();
	bool first = true;
	unsigned i;

	pc_buf_adds(&b, "{\"connections\":[");
	for (i = 0; i < a->o.nworkers; i++)
		pc_worker_connections_json(&a->o.workers[i], now, &b, &first);
	pc_buf_adds(&b, "]}\n");
	return reply(conn, 200, CT_JSON, &b);
}

static enum MHD_Result get_config_dump(struct pc_admin *a, struct MHD_Connection *conn)
{
	struct pc_snapshot *snap = pc_publisher_current(a->o.pub); /* the one enforced */
	struct pc_reply r = { 0 };

	pc_control_dump(a->o.ctl, snap, &r);
	pc_snapshot_unref(snap);
	pc_buf_addc(&r.body, '\n');
	return reply(conn, r.status, CT_JSON, &r.body);
}

static const struct pc_cluster_sum *find_sum(const struct pc_stats_sum *s, const char *name)
{
	size_t lo = 0, hi = s->nclusters;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = strcmp(s->clusters[mid].name, name);

		if (r == 0)
			return &s->clusters[mid];
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* pc_cluster_counts_fn over the workers' summed stats. */
static bool counts_of(void *data, const char *name, struct pc_cluster_counts *out)
{
	const struct pc_cluster_sum *cs = find_sum(data, name);

	if (!cs)
		return false;
	out->cx_total = cs->cx_total;
	out->cx_active = cs->cx_active;
	out->connect_fail = cs->connect_fail;
	return true;
}

/* GET /clusters: the current snapshot's clusters, with the counters of their names. */
static enum MHD_Result get_clusters(struct pc_admin *a, struct MHD_Connection *conn)
{
	struct pc_snapshot *snap = pc_publisher_current(a->o.pub);
	struct pc_stats_sum sum = { 0 };
	struct pc_buf b = PC_BUF_INIT;
	bool json = is_json(conn);

	if (a->o.stats && sum_stats(a, &sum) < 0) {
		pc_snapshot_unref(snap);
		return reply_text(conn, 500, "out of memory\n");
	}
	pc_clusters_dump(snap, json, counts_of, &sum, &b);
	pc_stats_sum_release(&sum);
	pc_snapshot_unref(snap);
	return reply(conn, 200, json ? CT_JSON : CT_TEXT, &b);
}

static const char bad_level[] = "level= is err, warn, notice, info or debug\n";

static enum MHD_Result logging(struct MHD_Connection *conn, bool post, const char *user)
{
	struct pc_audit_user who = { .name = user, .via = "admin" };
	char addr[INET6_ADDRSTRLEN];
	const char *level = pc_http_arg(conn, "level");
	struct pc_buf b = PC_BUF_INIT;
	int l;

	if (level && !post)
		return reply_text(conn, 405, "changing the log level needs POST\n");
	if (post) {
		pc_http_client_addr(conn, addr, sizeof(addr));
		who.addr = addr[0] ? addr : NULL;
		l = level ? pc_log_level_parse(level) : -EINVAL;
		if (l < 0) {
			pc_audit_request(&who, "set-log-level", PC_AUDIT_KIND_LOGGING, level,
					 "refused", 400, "BadRequest", bad_level);
			return reply_text(conn, 400, bad_level);
		}
		pc_log_set_level(l);
		pc_log(PC_LOG_NOTICE, "log level changed", "level=%s by=%s", pc_log_level_name(l),
		       user);
		pc_audit_request(&who, "set-log-level", PC_AUDIT_KIND_LOGGING, pc_log_level_name(l),
				 "configured", 200, NULL, NULL);
	}
	pc_buf_printf(&b, "{\"level\":\"%s\"}\n", pc_log_level_name(pc_log_get_level()));
	return reply(conn, 200, CT_JSON, &b);
}

static enum MHD_Result get_ready(struct pc_admin *a, struct MHD_Connection *conn)
{
	switch (atomic_load(&a->state)) {
	case PC_ADMIN_READY:
		return reply_text(conn, 200, "LIVE\n");
	case PC_ADMIN_DRAINING:
		return reply_text(conn, 503, "DRAINING\n");
	default:
		return reply_text(conn, 503, "PRE_INITIALIZING\n");
	}
}

static enum MHD_Result get_denials(struct MHD_Connection *conn)
{
	struct pc_buf b = PC_BUF_INIT;

	pc_denials_json(&b);
	pc_buf_addc(&b, '\n');
	return reply(conn, 200, CT_JSON, &b);
}

static const char index_text[] =
	"portcullis admin endpoint (doc/admin.md)\n"
	"  /stats/prometheus, /metrics   Prometheus text format\n"
	"  /stats[?format=json]          the same numbers as text or JSON\n"
	"  /connections                  live connections (JSON)\n"
	"  /denials                      recent denied connections (JSON)\n"
	"  /config_dump                  stored resources and the compiled policy (JSON)\n"
	"  /clusters[?format=json]       clusters, endpoints and their counters\n"
	"  /healthz/ready                200 once serving, 503 before and while draining\n"
	"  /logging[?level=L] (POST)     show or set the log level\n"
	"/config_dump, /connections, /clusters and POST /logging need\n"
	"\"Authorization: Bearer TOKEN\" (doc/security.md).\n";

static const char unauthorized[] =
	"this admin path needs a bearer token: \"Authorization: Bearer TOKEN\" with a token of "
	"<state-dir>/api-token (`portcullis top|connections --token-file PATH`), or a daemon "
	"started with --admin-auth none (doc/security.md)\n";

/*
 * The token's name when <conn> may use a guarded path, "anonymous" with
 * --admin-auth none, or NULL (answer 401).
 */
static const char *authorized(struct pc_admin *a, struct MHD_Connection *conn)
{
	const char *auth;

	if (a->o.open)
		return "anonymous";
	auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	return pc_tokens_check(a->o.tokens, auth);
}

static bool is_guarded(const char *url, bool get)
{
	return (strcmp(url, "/logging") == 0 && !get) || strcmp(url, "/config_dump") == 0 ||
	       strcmp(url, "/connections") == 0 || strcmp(url, "/clusters") == 0;
}

static enum MHD_Result refuse(struct MHD_Connection *conn, bool get)
{
	struct pc_audit_user who = { .name = "system:anonymous",
				     .via = "admin",
				     .anonymous = true };
	char addr[INET6_ADDRSTRLEN];

	if (!get) {
		pc_http_client_addr(conn, addr, sizeof(addr));
		who.addr = addr[0] ? addr : NULL;
		pc_audit_request(&who, "set-log-level", PC_AUDIT_KIND_LOGGING,
				 pc_http_arg(conn, "level"), "refused", 401, "Unauthorized", NULL);
	}
	return pc_http_send_hdr(conn, 401, CT_TEXT, unauthorized, sizeof(unauthorized) - 1,
				MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"portcullis\"");
}

static enum MHD_Result route(struct pc_admin *a, struct MHD_Connection *conn, const char *url,
			     const char *method)
{
	bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
	const char *user = NULL;

	if (is_guarded(url, get) && (get || strcmp(method, "POST") == 0)) {
		user = authorized(a, conn);
		if (!user)
			return refuse(conn, get);
	}
	if (strcmp(url, "/logging") == 0 && (get || strcmp(method, "POST") == 0))
		return logging(conn, !get, user);
	if (!get)
		return reply_text(conn, 405, "method not allowed\n");
	if (strcmp(url, "/stats/prometheus") == 0 || strcmp(url, "/metrics") == 0)
		return get_stats(a, conn, true);
	if (strcmp(url, "/stats") == 0)
		return get_stats(a, conn, false);
	if (strcmp(url, "/connections") == 0)
		return get_connections(a, conn);
	if (strcmp(url, "/config_dump") == 0)
		return get_config_dump(a, conn);
	if (strcmp(url, "/clusters") == 0)
		return get_clusters(a, conn);
	if (strcmp(url, "/healthz/ready") == 0 || strcmp(url, "/ready") == 0)
		return get_ready(a, conn);
	if (strcmp(url, "/denials") == 0)
		return get_denials(conn);
	if (strcmp(url, "/") == 0)
		return reply_text(conn, 200, index_text);
	return reply_text(conn, 404, "no such admin path (see /)\n");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **state)
{
	uintptr_t body = (uintptr_t)*state; /* 1 + the bytes of body so far; 0: first call */

	(void)version;
	(void)upload_data;
	if (!body) {
		*state = (void *)(uintptr_t)1;
		return MHD_YES;
	}
	if (*upload_data_size) {
		/*
		 * No endpoint takes a body: ignore a small one, close on a large
		 * one (every pod process may connect; an endless chunked body
		 * was read for ever).
		 */
		body += *upload_data_size;
		*upload_data_size = 0;
		*state = (void *)body;
		return body - 1 > ADMIN_MAX_BODY ? MHD_NO : MHD_YES;
	}
	return route(cls, conn, url, method);
}

int pc_admin_start(int fd, const struct pc_admin_opts *opts, struct pc_admin **out,
		   struct pc_err *err)
{
	static const struct pc_http_limits lim = {
		.max_conns = ADMIN_MAX_CONNS,
		.idle_seconds = ADMIN_IDLE_SECONDS,
		.header_seconds = ADMIN_HEADER_SECONDS,
		.body_grace_seconds = ADMIN_HEADER_SECONDS,
		.min_body_rate = ADMIN_MIN_RATE,
		.pool = ADMIN_THREADS,
	};
	struct pc_admin *a = pc_calloc(1, sizeof(*a));

	if (!a) {
		close(fd);
		return pc_err_set(err, -ENOMEM, "out of memory");
	}
	a->o = *opts;
	a->start_ms = opts->start_ms ? opts->start_ms : pc_mono_ms();
	atomic_init(&a->state, PC_ADMIN_STARTING);
	a->d = pc_http_start(fd, on_request, a, NULL, &lim, "admin endpoint");
	if (!a->d) {
		close(fd);
		free(a);
		return pc_err_set(err, -EIO, "cannot start the admin endpoint");
	}
	*out = a;
	return 0;
}

void pc_admin_set_state(struct pc_admin *a, enum pc_admin_state state)
{
	if (a)
		atomic_store(&a->state, (int)state);
}

void pc_admin_stop(struct pc_admin *a)
{
	if (!a)
		return;
	pc_http_stop(a->d); /* joins the connection threads; closes the socket */
	free(a);
}
