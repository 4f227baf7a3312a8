/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * daemon/api.c - the HTTP+JSON API of `portcullis run` (doc/api.md).
 *
 * libmicrohttpd does the HTTP: one thread per connection (a watch blocks
 * in its reader until there is a change, and an apply blocks on the store
 * and the compile), a poll()-based listener thread, at most
 * PC_API_MAX_CONNS connections. Uploads are multipart/form-data, parsed by
 * libmicrohttpd's post processor; everything else is a query string. The
 * handlers only translate (api_reply.c): the work is control.c's, which
 * answers in errnos.
 *
 * Who may ask (doc/security.md): on the Unix socket, whoever the socket's
 * mode and group let in, recorded by SO_PEERCRED; on TCP, whose loopback
 * is the workload's, only a client that sends one of the tokens of
 * <state-dir>/api-token (daemon/token.h) as "Authorization: Bearer". Both
 * are named in the audit log (daemon/audit.h).
 */
#include "daemon/api.h"
#include "daemon/api-int.h"

#include <arpa/inet.h>

#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
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
#include "daemon/token.h"
#include "model/resource.h"
#include "store/store.h"

#define PC_API_MAX_FILE         (32u << 20)
#define PC_API_MAX_BODY         (64u << 20)
#define PC_API_IDLE_SECONDS     120
/*
 * On TCP every pod process may connect: a socket that sends nothing gives
 * its slot back after 30 s, and one that trickles its headers after
 * PC_API_HEADER_SECONDS (doc/security.md, "Idle connections"). A watch
 * sends a heartbeat every PC_API_HEARTBEAT_MS.
 */
#define PC_API_TCP_IDLE_SECONDS 30
#define PC_API_HEADER_SECONDS   10
#define PC_API_HEARTBEAT_MS     10000

/*
 * Budgets (doc/api.md, "Budgets"), shared by both listeners. A request
 * takes one of its class once its headers are in: a watch (held for as
 * long as it lasts: refused at once when over), a read (short: may wait
 * a little), a write (an apply or a delete: may wait for the store). Each
 * client (a uid on the Unix socket, a token on TCP) has a share of each.
 * Every request in progress holds a connection; so does one waiting for
 * a budget (their number is bounded too), and the sum of them all stays
 * under PC_API_MAX_CONNS: the rest of the connections are idle and a new
 * one closes the oldest of them (daemon/http.h). So 64 watchers, or 64
 * idle sockets, never keep an apply or a delete (a revocation) out.
 */
#define PC_API_WATCHES        32
#define PC_API_CLIENT_WATCHES 16
#define PC_API_READS          64
#define PC_API_CLIENT_READS   48
#define PC_API_READ_WAITERS   32
#define PC_API_READ_WAIT_MS   3000
#define PC_API_WRITES         8
#define PC_API_CLIENT_WRITES  4
#define PC_API_WRITE_WAITERS  8
#define PC_API_WRITE_WAIT_MS  10000
/*
 * DELETE /v1/objects, one object by name, has a budget of its own: uploads
 * that trickle at the minimum rate can hold every write slot for minutes,
 * and revoking access by name must still get through (found by review).
 */
#define PC_API_DELETES        8
#define PC_API_CLIENT_DELETES 4
#define PC_API_MAX_CONNS                                                       \
	(PC_API_WATCHES + PC_API_READS + PC_API_READ_WAITERS + PC_API_WRITES + \
	 2 * PC_API_WRITE_WAITERS + PC_API_DELETES + 32)
/*
 * The bytes of uploads held in memory at once, in all: an upload takes
 * its Content-Length when it starts (chunked: as it comes), waiting up to
 * PC_API_WRITE_WAIT_MS for room, and is answered 503 and closed when it
 * cannot have it. A body must come at PC_API_MIN_RATE bytes a second on
 * average once PC_API_BODY_GRACE_SECONDS have passed; the body of any
 * other request is at most PC_API_MAX_OTHER_BODY.
 */
#define PC_API_UPLOADS            (128u << 20)
/* One client holds at most one upload of the largest size: the rest is others'. */
#define PC_API_CLIENT_UPLOADS     (PC_API_MAX_BODY + (1u << 20))
#define PC_API_UPLOAD_STEP        (1u << 20)
#define PC_API_MIN_RATE           (64u << 10)
#define PC_API_BODY_GRACE_SECONDS 10
#define PC_API_MAX_OTHER_BODY     (64u << 10)
/* Multipart framing around the files: boundaries and part headers. */
#define PC_API_MAX_RAW            (PC_API_MAX_BODY + (1u << 20))

struct pc_api;

/* One listener: what its handler gets as <cls>. */
struct api_server {
	struct pc_api *api;
	bool tcp; /* needs a token */
};

struct pc_api {
	struct pc_control *ctl;
	const struct pc_tokens *tokens; /* borrowed */
	struct pc_http *d[2];           /* unix socket, TCP */
	struct api_server srv[2];
	struct pc_budget watches, reads, writes, deletes, uploads;
};

struct upload_part {
	char *name;
	struct pc_buf data;
};

/* Per-request state, from the first call of the handler to its completion. */
struct request {
	struct MHD_PostProcessor *pp;
	struct upload_part *parts;
	size_t nparts;
	size_t total;
	const char *too_large; /* the file that went over a limit */
	bool bad_part;         /* a form field that is not a file */
	struct pc_audit_user who;
	char addr[INET6_ADDRSTRLEN];
	char key[PC_BUDGET_KEY]; /* the client, for its budgets: "uid 0", "token ci" */
	struct pc_budget *slot;  /* the budget of its class taken, or NULL */
	uint64_t raw;            /* bytes of body received */
	uint64_t reserved;       /* of api->uploads */
	bool failed;             /* answered before its body was all in */
};

struct watch {
	struct pc_control *ctl;
	struct pc_watch_filter f;
	char *ns, *name;
	int64_t since;
	struct pc_buf out;
	size_t off;
	bool ended;
};

/* ---- listening sockets (made as root, before the daemon drops privileges) ---- */

/*
 * The directory of the API socket, made 0755 when missing; as root, it
 * must be root's and writable by root only. Root binds the socket there
 * and sets its owner: a pod user who could write the directory could put a
 * symbolic link in the socket's place between the two, and root would give
 * the link's target to the socket's group.
 */
static int socket_dir(const char *path, struct pc_err *err)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char *slash;
	struct stat st;

	memcpy(dir, path, strlen(path) + 1);
	slash = strrchr(dir, '/');
	if (!slash)
		memcpy(dir, ".", 2);
	else
		slash[slash == dir] = '\0'; /* "/api.sock": "/" */
	if (slash && slash != dir && mkdir(dir, 0755) == -1 && errno != EEXIST)
		return pc_err_errno(err, errno, "cannot create %s", dir);
	if (geteuid() != 0)
		return 0; /* it cannot give anything away */
	if (stat(dir, &st) == -1)
		return pc_err_errno(err, errno, "cannot stat the API socket's directory %s", dir);
	if (st.st_uid != 0)
		return pc_err_set(
			err, -EPERM,
			"the API socket's directory %s is owned by uid %u, who could swap "
			"the socket for a link to a file of root's: `chown root %s` or "
			"give --api-socket a directory of root's",
			dir, (unsigned)st.st_uid, dir);
	if (st.st_mode & 022)
		return pc_err_set(err, -EPERM,
				  "the API socket's directory %s is mode %04o, writable by others "
				  "who could swap the socket for a link to a file of root's: "
				  "`chmod go-w %s` or give --api-socket a directory of root's",
				  dir, (unsigned)(st.st_mode & 07777), dir);
	return 0;
}

/* Bind <fd> to <sa> as mode 0660 from the start: no chmod by path. */
static int bind_0660(int fd, const struct sockaddr_un *sa)
{
	mode_t old = umask(0117); /* process-wide: a file made meanwhile is only stricter */
	int ret = bind(fd, (const struct sockaddr *)sa, sizeof(*sa));
	int e = errno;

	umask(old);
	errno = e;
	return ret;
}

static int unix_listener(const char *path, struct pc_err *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct group grb, *gr = NULL;
	char grbuf[1024];
	struct stat st;
	int fd, ret;

	if (strlen(path) >= sizeof(sa.sun_path))
		return pc_err_set(err, -ENAMETOOLONG, "API socket path \"%s\" is too long", path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	ret = socket_dir(path, err);
	if (ret < 0)
		return ret;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return pc_err_errno(err, errno, "cannot make the API socket");
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			close(fd);
			return pc_err_set(err, -EEXIST, "%s exists and is not a socket", path);
		}
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			close(fd);
			return pc_err_set(err, -EADDRINUSE,
					  "another daemon serves the API socket %s", path);
		}
		unlink(path); /* stale: its daemon is gone */
	}
	if (bind_0660(fd, &sa) == -1 || listen(fd, 64) == -1) {
		int e = errno;

		close(fd);
		return pc_err_errno(err, e, "cannot listen on %s", path);
	}
	if (getgrnam_r("portcullis", &grb, grbuf, sizeof(grbuf), &gr) != 0)
		gr = NULL;
	if (geteuid() == 0 && lchown(path, 0, gr ? gr->gr_gid : 0) == -1)
		pc_log(PC_LOG_WARN, "cannot set the API socket's group", "path=%s err=%s", path,
		       strerror(errno));
	return fd;
}

/* "127.0.0.1:8080" or "[::1]:8080"; loopback only. */
static int tcp_listener(const char *spec, struct pc_err *err)
{
	static const struct pc_http_tcp t = {
		.opt = "--api-listen",
		.usage = "ADDRESS:PORT",
		.sock = "API",
		.what = "",
		.noauth = "the API's TCP listener is for the pod's loopback only (its clients "
			  "need the token of <state-dir>/api-token)",
	};

	return pc_http_listen_tcp(spec, &t, err);
}

int pc_api_listen(const char *socket_path, const char *tcp, int fds[2], struct pc_err *err)
{
	fds[0] = fds[1] = -1;
	if (socket_path) {
		fds[0] = unix_listener(socket_path, err);
		if (fds[0] < 0)
			return fds[0];
	}
	if (tcp) {
		fds[1] = tcp_listener(tcp, err);
		if (fds[1] < 0) {
			if (fds[0] >= 0)
				close(fds[0]);
			return fds[1];
		}
	}
	return 0;
}

/* ---- replies ---- */

static enum MHD_Result send_reply(struct MHD_Connection *conn, struct pc_reply *r)
{
	enum MHD_Result ret;

	if (r->body.oom) {
		pc_buf_release(&r->body);
		pc_reply_status(r, 500, "InternalError", "out of memory");
	}
	pc_buf_addc(&r->body, '\n');
	ret = pc_http_send(conn, r->status, PC_HTTP_CT_JSON, r->body.p, r->body.len, false);
	pc_buf_release(&r->body);
	return ret;
}

static enum MHD_Result send_status(struct MHD_Connection *conn, unsigned code, const char *reason,
				   const char *msg)
{
	struct pc_reply r = { 0 };

	pc_reply_status(&r, code, reason, "%s", msg);
	return send_reply(conn, &r);
}

/* ---- apply ---- */

static enum MHD_Result on_part(void *cls, enum MHD_ValueKind kind, const char *key,
			       const char *filename, const char *content_type,
			       const char *transfer_encoding, const char *data, uint64_t off,
			       size_t size)
{
	struct request *rq = cls;
	struct upload_part *p;

	(void)kind;
	(void)content_type;
	(void)transfer_encoding;
	if (!key || strcmp(key, "file") != 0 || !filename) {
		rq->bad_part = true;
		return MHD_YES;
	}
	if (off == 0 && (rq->nparts == 0 || rq->parts[rq->nparts - 1].data.len > 0 ||
			 strcmp(rq->parts[rq->nparts - 1].name, filename) != 0)) {
		p = pc_realloc(rq->parts, (rq->nparts + 1) * sizeof(*p));
		if (!p)
			return MHD_NO;
		rq->parts = p;
		p = &rq->parts[rq->nparts];
		p->name = pc_strndup(filename, strlen(filename));
		pc_buf_init(&p->data);
		if (!p->name)
			return MHD_NO;
		rq->nparts++;
	}
	p = &rq->parts[rq->nparts - 1];
	rq->total += size;
	if (p->data.len + size > PC_API_MAX_FILE || rq->total > PC_API_MAX_BODY) {
		if (!rq->too_large)
			rq->too_large = p->name;
		return MHD_YES; /* read on, keep nothing */
	}
	pc_buf_add(&p->data, data, size);
	return p->data.oom ? MHD_NO : MHD_YES;
}

static const char not_multipart[] =
	"an apply is multipart/form-data with one \"file\" part (with a filename) per input";

/* An apply refused before it reached the store: its audit line, then the answer. */
static enum MHD_Result refuse_apply(struct MHD_Connection *conn, const struct request *rq,
				    unsigned code, const char *reason, const char *msg)
{
	pc_audit_request(&rq->who, "apply", NULL, NULL, "refused", code, reason, msg);
	return send_status(conn, code, reason, msg);
}

/* POST /v1/apply and POST /v1/delete (a list of objects, doc/api.md) carry uploads. */
static bool is_upload(const char *url, const char *method)
{
	return strcmp(method, "POST") == 0 &&
	       (strcmp(url, "/v1/apply") == 0 || strcmp(url, "/v1/delete") == 0);
}

static enum MHD_Result finish_apply(struct pc_api *api, struct MHD_Connection *conn,
				    struct request *rq, bool del)
{
	struct pc_upload *files;
	struct pc_reply r = { 0 };
	char msg[PC_ERR_MSG_MAX];
	size_t i;

	if (rq->too_large) {
		snprintf(msg, sizeof(msg),
			 "%s: the request is over the limit (32 MiB a file, "
			 "64 MiB in all)",
			 rq->too_large);
		return refuse_apply(conn, rq, 413, "RequestEntityTooLarge", msg);
	}
	if (rq->bad_part || rq->nparts == 0)
		return refuse_apply(conn, rq, 400, "BadRequest", not_multipart);
	files = pc_calloc(rq->nparts, sizeof(*files));
	if (!files)
		return send_status(conn, 500, "InternalError", "out of memory");
	for (i = 0; i < rq->nparts; i++) {
		files[i].name = rq->parts[i].name;
		files[i].data = rq->parts[i].data.p ? rq->parts[i].data.p : "";
		files[i].len = rq->parts[i].data.len;
	}
	(del ? pc_api_delete_list : pc_api_apply)(api->ctl, files, rq->nparts, &rq->who, &r);
	free(files);
	return send_reply(conn, &r);
}

/* ---- watch ---- */

static ssize_t watch_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct watch *w = cls;
	size_t n;
	int ret;

	(void)pos;
	while (w->off == w->out.len) {
		pc_buf_clear(&w->out);
		w->off = 0;
		if (w->ended)
			return MHD_CONTENT_READER_END_OF_STREAM;
		ret = pc_control_watch(w->ctl, &w->f, &w->since, &w->out, PC_API_HEARTBEAT_MS);
		if (ret == -ESHUTDOWN || w->out.oom)
			return MHD_CONTENT_READER_END_OF_STREAM;
		if (ret == -ERANGE)
			w->ended = true;
		else if (ret == 0)
			pc_buf_addc(&w->out, '\n'); /* keep-alive; finds a gone client */
	}
	n = w->out.len - w->off;
	if (n > max)
		n = max;
	memcpy(buf, w->out.p + w->off, n);
	w->off += n;
	return (ssize_t)n;
}

static void watch_free(void *cls)
{
	struct watch *w = cls;

	pc_buf_release(&w->out);
	free(w->ns);
	free(w->name);
	free(w);
}

static char *dup_or_null(const char *s)
{
	return s && *s ? pc_strndup(s, strlen(s)) : NULL;
}

static enum MHD_Result start_watch(struct pc_api *api, struct MHD_Connection *conn)
{
	const char *kind = pc_http_arg(conn, "kind"), *since = pc_http_arg(conn, "since");
	const struct pc_kind_info *ki = NULL;
	struct MHD_Response *resp;
	struct watch *w;
	enum MHD_Result ret;

	if (kind && *kind && !(ki = pc_kind_lookup(kind)))
		return send_status(conn, 404, "NotFound",
				   "the server doesn't have that resource type");
	w = pc_calloc(1, sizeof(*w));
	if (!w)
		return send_status(conn, 500, "InternalError", "out of memory");
	w->ctl = api->ctl;
	w->f.kind = ki ? (int)ki->kind : -1;
	w->f.ns = w->ns = dup_or_null(pc_http_arg(conn, "namespace"));
	w->f.name = w->name = dup_or_null(pc_http_arg(conn, "name"));
	w->since = pc_control_revision(api->ctl);
	if (since && *since) {
		/* digits only, and in range: no sign, no blanks, no overflow to LLONG_MAX */
		if (pc_store_parse_revision(since, &w->since) < 0) {
			watch_free(w);
			return send_status(conn, 400, "BadRequest", "since is a revision number");
		}
	}
	resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, watch_read, w,
						 watch_free);
	if (!resp) {
		watch_free(w);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/x-ndjson");
	ret = MHD_queue_response(conn, 200, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* ---- dispatch ---- */

static enum MHD_Result route(struct pc_api *api, struct MHD_Connection *conn, const char *url,
			     const char *method, const struct pc_audit_user *who)
{
	struct pc_reply r = { 0 };
	bool get = strcmp(method, "GET") == 0;

	if (strcmp(url, "/v1/objects") == 0 && get) {
		pc_api_list(api->ctl, pc_http_arg(conn, "kind"), pc_http_arg(conn, "namespace"),
			    pc_http_arg(conn, "name"), &r);
	} else if (strcmp(url, "/v1/objects") == 0 && strcmp(method, "DELETE") == 0) {
		pc_api_delete(api->ctl, pc_http_arg(conn, "kind"), pc_http_arg(conn, "namespace"),
			      pc_http_arg(conn, "name"), pc_http_arg(conn, "resourceVersion"), who,
			      &r);
	} else if (strcmp(url, "/v1/status") == 0 && get) {
		pc_api_status(api->ctl, &r);
	} else if (strcmp(url, "/v1/addresses") == 0 && get) {
		pc_api_addresses(api->ctl, &r);
	} else if (strcmp(url, "/v1/watch") == 0 && get) {
		return start_watch(api, conn);
	} else if (strcmp(url, "/v1/objects") == 0 || strcmp(url, "/v1/status") == 0 ||
		   strcmp(url, "/v1/addresses") == 0 || strcmp(url, "/v1/watch") == 0 ||
		   strcmp(url, "/v1/apply") == 0 || strcmp(url, "/v1/delete") == 0) {
		return send_status(conn, 405, "MethodNotAllowed", "method not allowed");
	} else {
		return send_status(conn, 404, "NotFound", "no such API path");
	}
	return send_reply(conn, &r);
}

/* Who sent <rq>: the Unix peer's credentials, or the token's name on TCP. */
static void identify(struct MHD_Connection *conn, bool tcp, const char *token_name,
		     struct request *rq)
{
	rq->who.via = tcp ? "tcp" : "unix";
	if (tcp) {
		rq->who.name = token_name;
		pc_http_client_addr(conn, rq->addr, sizeof(rq->addr));
		rq->who.addr = rq->addr[0] ? rq->addr : NULL;
	} else {
		rq->who.peer = pc_http_peer(conn, &rq->who.uid, &rq->who.gid, &rq->who.pid) == 0;
		if (!rq->who.peer)
			rq->who.name = "unix:unknown";
	}
}

static const char unauthorized[] =
	"the API on TCP needs a bearer token: `portcullis --token-file PATH` (default "
	"/var/lib/portcullis/api-token, or $PORTCULLIS_TOKEN_FILE), or the header "
	"\"Authorization: Bearer TOKEN\" with a token of <state-dir>/api-token "
	"(doc/security.md)";

/* 401, and an audit line when the request would have changed something. */
static enum MHD_Result refuse(struct MHD_Connection *conn, const char *url, const char *method)
{
	struct pc_audit_user who = { .name = "system:anonymous", .via = "tcp", .anonymous = true };
	struct pc_reply r = { 0 };
	char addr[INET6_ADDRSTRLEN];
	enum MHD_Result ret;

	pc_http_client_addr(conn, addr, sizeof(addr));
	who.addr = addr[0] ? addr : NULL;
	if (is_upload(url, method))
		pc_audit_request(&who, strcmp(url, "/v1/delete") == 0 ? "delete" : "apply", NULL,
				 NULL, "refused", 401, "Unauthorized", NULL);
	else if (strcmp(url, "/v1/objects") == 0 && strcmp(method, "DELETE") == 0)
		pc_audit_request(&who, "delete", pc_http_arg(conn, "kind"),
				 pc_http_arg(conn, "name"), "refused", 401, "Unauthorized", NULL);
	pc_reply_status(&r, 401, "Unauthorized", "%s", unauthorized);
	pc_buf_addc(&r.body, '\n');
	ret = r.body.oom ? MHD_NO
			 : pc_http_send_hdr(conn, 401, PC_HTTP_CT_JSON, r.body.p, r.body.len,
					    MHD_HTTP_HEADER_WWW_AUTHENTICATE,
					    "Bearer realm=\"portcullis\"");
	pc_buf_release(&r.body);
	return ret;
}

/* The budget of a request's class. */
static struct pc_budget *class_of(struct pc_api *api, const char *url, const char *method)
{
	if (strcmp(url, "/v1/watch") == 0 && strcmp(method, "GET") == 0)
		return &api->watches;
	if (is_upload(url, method))
		return &api->writes;
	if (strcmp(url, "/v1/objects") == 0 && strcmp(method, "DELETE") == 0)
		return &api->deletes;
	return &api->reads;
}

/*
 * Refused by a budget, or cut while its body came: a 429 when over the
 * client's share, a 413 for what could never fit, else a 503; an audit
 * line for a change refused; a warning, at most 10 a minute.
 */
static enum MHD_Result over_budget(struct MHD_Connection *conn, const struct request *rq,
				   const char *url, const char *method, int ret, const char *why)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	static struct pc_ratelimit rl = PC_RATELIMIT_INIT(60000, 10);
	unsigned code = ret == -EUSERS ? 429 : ret == -E2BIG ? 413 : 503;
	const char *reason = code == 429   ? "TooManyRequests"
			     : code == 413 ? "RequestEntityTooLarge"
					   : "ServiceUnavailable";
	char msg[320];

	snprintf(msg, sizeof(msg), "%s%s", why, code == 413 ? "" : "; try again later");
	pthread_mutex_lock(&lock);
	pc_log_limited(&rl, pc_mono_ms(), PC_LOG_WARN, "API request refused",
		       "client=%s method=%s path=%s code=%u why=%s", rq->key, method, url, code,
		       why);
	pthread_mutex_unlock(&lock);
	if (is_upload(url, method))
		return refuse_apply(conn, rq, code, reason, msg);
	if (strcmp(method, "DELETE") == 0 && strcmp(url, "/v1/objects") == 0)
		pc_audit_request(&rq->who, "delete", pc_http_arg(conn, "kind"),
				 pc_http_arg(conn, "name"), "refused", code, reason, msg);
	return send_status(conn, code, reason, msg);
}

/* Take the upload budget for the Content-Length of an apply, if it has one. */
static int reserve_length(struct pc_api *api, struct MHD_Connection *conn, struct request *rq,
			  char *why, size_t size)
{
	const char *cl =
		MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	unsigned long long n;
	char *end;
	int ret;

	if (!cl || !*cl)
		return 0; /* chunked: taken as it comes */
	n = strtoull(cl, &end, 10);
	if (*end || n > PC_API_MAX_RAW) {
		snprintf(why, size,
			 "the request is over the limit (32 MiB a file, 64 MiB in all): "
			 "Content-Length %s",
			 cl);
		return -E2BIG;
	}
	ret = pc_budget_take(&api->uploads, rq->key, n, why, size);
	if (ret == 0)
		rq->reserved = n;
	return ret;
}

/* Take <rq>'s budgets; on refusal, answer. Returns 0 or the answer's result + 1. */
static int admit(struct pc_api *api, struct MHD_Connection *conn, struct request *rq,
		 const char *url, const char *method, enum MHD_Result *answer)
{
	struct pc_budget *b = class_of(api, url, method);
	char why[256];
	int ret;

	if (rq->who.via[0] == 't')
		snprintf(rq->key, sizeof(rq->key), "token %s", rq->who.name);
	else if (rq->who.peer)
		snprintf(rq->key, sizeof(rq->key), "uid %u", (unsigned)rq->who.uid);
	else
		snprintf(rq->key, sizeof(rq->key), "unix:unknown");
	ret = pc_budget_take(b, rq->key, 1, why, sizeof(why));
	if (ret == 0) {
		rq->slot = b;
		if (rq->pp)
			ret = reserve_length(api, conn, rq, why, sizeof(why));
	}
	if (ret == 0)
		return 0;
	rq->failed = true;
	*answer = over_budget(conn, rq, url, method, ret, why);
	return 1;
}

/* The first call of a request: who sent it (401 without a token on TCP), its state. */
static enum MHD_Result begin(struct api_server *srv, struct MHD_Connection *conn, const char *url,
			     const char *method, void **state)
{
	const char *name = NULL;
	struct request *rq;
	enum MHD_Result answer;

	if (srv->tcp) {
		name = pc_tokens_check(srv->api->tokens,
				       MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
								   MHD_HTTP_HEADER_AUTHORIZATION));
		if (!name)
			return refuse(conn, url, method);
	}
	rq = pc_calloc(1, sizeof(*rq));
	if (!rq)
		return MHD_NO;
	*state = rq;
	identify(conn, srv->tcp, name, rq);
	if (is_upload(url, method)) {
		rq->pp = MHD_create_post_processor(conn, 65536, on_part, rq);
		if (!rq->pp) { /* not multipart, or no boundary: say so before the body */
			rq->failed = true;
			return refuse_apply(conn, rq, 400, "BadRequest", not_multipart);
		}
	}
	if (admit(srv->api, conn, rq, url, method, &answer))
		return answer;
	return MHD_YES; /* answer once the body (if any) is in */
}

/*
 * A chunk of <rq>'s body: counted against its limit and, for an apply,
 * the upload budget, as it comes. Past either, the request is answered and
 * its connection closed: the rest is never read.
 */
static enum MHD_Result body_chunk(struct pc_api *api, struct MHD_Connection *conn,
				  struct request *rq, const char *url, const char *method,
				  const char *data, size_t n)
{
	uint64_t max = rq->pp ? PC_API_MAX_RAW : PC_API_MAX_OTHER_BODY;
	uint64_t more;
	char why[256];
	int ret = 0;

	if (rq->failed)
		return MHD_NO;
	rq->raw += n;
	if (rq->raw > max) {
		snprintf(why, sizeof(why), "the request's body is over the limit of %" PRIu64 " %s",
			 max >> (rq->pp ? 20 : 10), rq->pp ? "MiB" : "KiB");
		ret = -E2BIG;
	} else if (rq->raw > rq->reserved) {
		more = rq->raw - rq->reserved + PC_API_UPLOAD_STEP - 1;
		more -= more % PC_API_UPLOAD_STEP;
		ret = pc_budget_take(&api->uploads, rq->key, more, why, sizeof(why));
		if (ret == 0)
			rq->reserved += more;
		else if (ret == -E2BIG)
			ret = -EBUSY;
	}
	if (ret < 0) {
		rq->failed = true;
		over_budget(conn, rq, url, method, ret, why);
		return MHD_NO; /* close: do not read the rest */
	}
	if (rq->pp && MHD_post_process(rq->pp, data, n) != MHD_YES)
		rq->bad_part = true;
	return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **state)
{
	struct api_server *srv = cls;
	struct pc_api *api = srv->api;
	struct request *rq = *state;

	(void)version;
	if (!rq)
		return begin(srv, conn, url, method, state);
	if (*upload_data_size) {
		size_t n = *upload_data_size;

		*upload_data_size = 0;
		return body_chunk(api, conn, rq, url, method, upload_data, n);
	}
	if (rq->failed)
		return MHD_NO;
	if (!is_upload(url, method))
		return route(api, conn, url, method, &rq->who);
	if (!rq->pp)
		return refuse_apply(conn, rq, 400, "BadRequest", not_multipart);
	return finish_apply(api, conn, rq, strcmp(url, "/v1/delete") == 0);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **state,
			 enum MHD_RequestTerminationCode code)
{
	struct api_server *srv = cls;
	struct request *rq = *state;
	size_t i;

	(void)conn;
	(void)code;
	if (!rq)
		return;
	if (rq->slot)
		pc_budget_give(rq->slot, rq->key, 1);
	if (rq->reserved)
		pc_budget_give(&srv->api->uploads, rq->key, rq->reserved);
	if (rq->pp)
		MHD_destroy_post_processor(rq->pp);
	for (i = 0; i < rq->nparts; i++) {
		free(rq->parts[i].name);
		pc_buf_release(&rq->parts[i].data);
	}
	free(rq->parts);
	free(rq);
	*state = NULL;
}

static void init_budgets(struct pc_api *api)
{
	pc_budget_init(&api->watches, "watches", "watches", PC_API_WATCHES, PC_API_CLIENT_WATCHES,
		       0, 0);
	pc_budget_init(&api->reads, "reads", "reads", PC_API_READS, PC_API_CLIENT_READS,
		       PC_API_READ_WAIT_MS, PC_API_READ_WAITERS);
	pc_budget_init(&api->writes, "writes", "writes", PC_API_WRITES, PC_API_CLIENT_WRITES,
		       PC_API_WRITE_WAIT_MS, PC_API_WRITE_WAITERS);
	pc_budget_init(&api->deletes, "deletes", "deletes", PC_API_DELETES, PC_API_CLIENT_DELETES,
		       PC_API_WRITE_WAIT_MS, PC_API_WRITE_WAITERS);
	pc_budget_init(&api->uploads, "upload_bytes", "bytes of uploads in flight", PC_API_UPLOADS,
		       PC_API_CLIENT_UPLOADS, PC_API_WRITE_WAIT_MS, PC_API_WRITE_WAITERS);
}

int pc_api_start(struct pc_control *ctl, const int fds[2], const struct pc_tokens *tokens,
		 struct pc_api **out, struct pc_err *err)
{
	static const struct pc_http_limits lim[2] = {
		{
			.max_conns = PC_API_MAX_CONNS,
			.idle_seconds = PC_API_IDLE_SECONDS,
			.header_seconds = PC_API_HEADER_SECONDS,
			.body_grace_seconds = PC_API_BODY_GRACE_SECONDS,
			.min_body_rate = PC_API_MIN_RATE,
		},
		{
			.max_conns = PC_API_MAX_CONNS,
			.idle_seconds = PC_API_TCP_IDLE_SECONDS,
			.header_seconds = PC_API_HEADER_SECONDS,
			.body_grace_seconds = PC_API_BODY_GRACE_SECONDS,
			.min_body_rate = PC_API_MIN_RATE,
		},
	};
	struct pc_api *api = pc_calloc(1, sizeof(*api));
	int i;

	if (!api)
		return pc_err_set(err, -ENOMEM, "out of memory");
	api->ctl = ctl;
	api->tokens = tokens;
	init_budgets(api);
	for (i = 0; i < 2; i++) {
		if (fds[i] < 0)
			continue;
		api->srv[i].api = api;
		api->srv[i].tcp = i == 1;
		if (i == 1 && (!tokens || tokens->n == 0)) {
			pc_api_stop(api);
			return pc_err_set(err, -EINVAL, "the API's TCP listener needs a token");
		}
		api->d[i] = pc_http_start(fds[i], on_request, &api->srv[i], on_completed, &lim[i],
					  "API");
		if (!api->d[i]) {
			pc_api_stop(api);
			return pc_err_set(err, -EIO, "cannot start the API server");
		}
	}
	*out = api;
	return 0;
}

void pc_api_stop(struct pc_api *api)
{
	int i;

	if (!api)
		return;
	for (i = 0; i < 2; i++) {
		pc_http_stop(api->d[i]); /* joins the connection threads */
	}
	pc_budget_destroy(&api->watches);
	pc_budget_destroy(&api->reads);
	pc_budget_destroy(&api->writes);
	pc_budget_destroy(&api->deletes);
	pc_budget_destroy(&api->uploads);
	free(api);
}
