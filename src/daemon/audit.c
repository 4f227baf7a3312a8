/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * daemon/audit.c - the audit log (daemon/audit.h): JSON lines, appended
 * one write() each, rotated by size.
 */
#include "daemon/audit.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "daemon/control.h"
#include "model/finding.h"
#include "model/resource.h"
#include "store/store.h"

/*
 * The lines of unauthenticated requests go through a token bucket: a burst
 * of AUDIT_ANON_BURST, then one per AUDIT_ANON_EVERY_MS. Without it any pod
 * process could rotate the lines of accepted changes out of every kept file
 * in a second (doc/security.md, "The audit log").
 */
#define AUDIT_ANON_BURST    20
#define AUDIT_ANON_EVERY_MS 1000

static struct {
	pthread_mutex_t lock;
	int fd;        /* -1: off */
	char *path;    /* NULL: stdout */
	uint64_t max;  /* rotate at; 0: never */
	uint64_t size; /* of the current file */
	bool failing;  /* the last write failed (logged once) */
	/* the last rotation failed (logged once): retry at <retry_at> bytes */
	bool rotate_failed;
	uint64_t retry_at;
	/* the token bucket of unauthenticated lines, in milliseconds of credit */
	bool anon_started;
	uint64_t anon_credit, anon_last_ms;
	uint64_t anon_suppressed; /* lines dropped, told on the next line written */
	uint64_t anon_told_ms;    /* when the daemon's log last said so */
} audit = { .lock = PTHREAD_MUTEX_INITIALIZER, .fd = -1 };

static int open_log(const char *path, uint64_t *size, struct pc_err *err)
{
	struct stat st;
	int fd;

	fd = open(path,
		  O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
		  0600); /* O_NONBLOCK: a planted FIFO fails, never blocks the start */
	if (fd == -1 && errno == ELOOP)
		return pc_err_set(err, -ELOOP, "the audit log %s is a symbolic link: remove it",
				  path);
	if (fd == -1)
		return pc_err_errno(err, errno, "cannot open the audit log %s", path);
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		close(fd);
		return pc_err_set(err, -EINVAL, "the audit log %s is not a regular file", path);
	}
	*size = (uint64_t)st.st_size;
	return fd;
}

int pc_audit_open(const char *path, uint64_t max_bytes, struct pc_err *err)
{
	uint64_t size = 0;
	char *copy = NULL;
	int fd;

	if (strcmp(path, "-") == 0) {
		fd = dup(STDOUT_FILENO);
		if (fd == -1)
			return pc_err_errno(err, errno, "cannot write the audit log to stdout");
		max_bytes = 0;
	} else {
		copy = strdup(path);
		if (!copy)
			return pc_err_set(err, -ENOMEM, "out of memory");
		fd = open_log(path, &size, err);
		if (fd < 0) {
			free(copy);
			return fd;
		}
	}
	pthread_mutex_lock(&audit.lock);
	audit.fd = fd;
	audit.path = copy;
	audit.max = max_bytes;
	audit.size = size;
	audit.rotate_failed = false;
	audit.anon_started = false;
	audit.anon_suppressed = 0;
	pthread_mutex_unlock(&audit.lock);
	return 0;
}

void pc_audit_close(void)
{
	pthread_mutex_lock(&audit.lock);
	if (audit.fd >= 0)
		close(audit.fd);
	audit.fd = -1;
	free(audit.path);
	audit.path = NULL;
	pthread_mutex_unlock(&audit.lock);
}

/*
 * A rotation failed with <e>: say so once, with what to do, and wait until
 * the file has grown by another --audit-log-max-size before trying again,
 * so that a directory the proxy user may not write (an operator's path in
 * a root-owned directory) costs one rename a rotation, not a warning a line.
 */
static void rotate_failed(const char *what, int e)
{
	audit.retry_at = audit.size + audit.max;
	if (audit.rotate_failed)
		return;
	audit.rotate_failed = true;
	pc_log(PC_LOG_WARN,
	       "cannot rotate the audit log: it grows past --audit-log-max-size until a "
	       "rotation succeeds (tried again each time it grows by that much); give the "
	       "proxy user a directory it may write (--audit-log in a directory it owns), or "
	       "rotate it from outside (logrotate copytruncate)",
	       "path=%s err=%s", what, strerror(e));
}

/* audit.log.N-1 -> audit.log.N, ..., audit.log -> audit.log.1, a new audit.log; <lock> held. */
static void rotate(void)
{
	char from[4096], to[4096];
	struct pc_err err;
	uint64_t size = 0;
	int k, fd;

	for (k = PC_AUDIT_KEEP; k > 1; k--) {
		snprintf(from, sizeof(from), "%s.%d", audit.path, k - 1);
		snprintf(to, sizeof(to), "%s.%d", audit.path, k);
		if (rename(from, to) == -1 && errno != ENOENT) {
			rotate_failed(from, errno); /* nothing is overwritten */
			return;
		}
	}
	snprintf(to, sizeof(to), "%s.1", audit.path);
	if (rename(audit.path, to) == -1) {
		rotate_failed(audit.path, errno); /* keep appending to the one we have */
		return;
	}
	fd = open_log(audit.path, &size, &err);
	if (fd < 0) {
		/* the old descriptor still appends (to audit.log.1): no line is lost */
		pc_log(PC_LOG_ERR, "cannot reopen the audit log after rotating it", "err=%s",
		       err.msg);
		audit.retry_at = audit.size + audit.max;
		audit.rotate_failed = true;
		return;
	}
	if (audit.rotate_failed)
		pc_log(PC_LOG_NOTICE, "the audit log rotates again", "path=%s", audit.path);
	audit.rotate_failed = false;
	close(audit.fd);
	audit.fd = fd;
	audit.size = size;
}

static bool rotate_due(size_t len)
{
	if (!audit.path || !audit.max || audit.size == 0 || audit.size + len <= audit.max)
		return false;
	return !audit.rotate_failed || audit.size + len > audit.retry_at;
}

/* Write the line in <b>; <lock> held. */
static void write_locked(const struct pc_buf *b)
{
	ssize_t n;

	if (b->oom || !b->len || audit.fd < 0)
		return;
	if (rotate_due(b->len))
		rotate();
	n = write(audit.fd, b->p, b->len); /* O_APPEND, one write: a line is never split */
	if (n == (ssize_t)b->len) {
		audit.size += (uint64_t)n;
		if (audit.failing)
			pc_log(PC_LOG_NOTICE, "the audit log is written again", NULL);
		audit.failing = false;
	} else if (!audit.failing) {
		audit.failing = true;
		pc_log(PC_LOG_ERR, "cannot write the audit log: changes go unrecorded",
		       "path=%s err=%s", audit.path ? audit.path : "-",
		       n == -1 ? strerror(errno) : "short write");
	}
}

/* Whether an unauthenticated request's line may be written now; <lock> held. */
static bool anon_allowed(void)
{
	uint64_t now = pc_mono_ms(), full = (uint64_t)AUDIT_ANON_BURST * AUDIT_ANON_EVERY_MS;

	if (!audit.anon_started) {
		audit.anon_started = true;
		audit.anon_credit = full;
		audit.anon_last_ms = now;
	}
	audit.anon_credit += now - audit.anon_last_ms;
	if (audit.anon_credit > full)
		audit.anon_credit = full;
	audit.anon_last_ms = now;
	if (audit.anon_credit >= AUDIT_ANON_EVERY_MS) {
		audit.anon_credit -= AUDIT_ANON_EVERY_MS;
		return true;
	}
	if (!audit.anon_suppressed && now - audit.anon_told_ms >= 60000) {
		audit.anon_told_ms = now;
		pc_log(PC_LOG_WARN,
		       "unauthenticated requests come faster than the audit log records them: "
		       "the next line says how many were left out",
		       "burst=%d per_second=%d", AUDIT_ANON_BURST, 1000 / AUDIT_ANON_EVERY_MS);
	}
	audit.anon_suppressed++;
	return false;
}

/* Format <ev> and write it, unless it is an unauthenticated request over its rate. */
static void write_event(struct pc_audit_event *ev)
{
	struct pc_buf line = PC_BUF_INIT;

	pthread_mutex_lock(&audit.lock);
	if (audit.fd < 0 || (ev->user->anonymous && !anon_allowed()))
		goto out;
	ev->suppressed = audit.anon_suppressed;
	pc_audit_format(&line, ev);
	write_locked(&line);
	if (!line.oom)
		audit.anon_suppressed = 0;
out:
	pthread_mutex_unlock(&audit.lock);
	pc_buf_release(&line);
}

static bool is_open(void)
{
	bool on;

	pthread_mutex_lock(&audit.lock);
	on = audit.fd >= 0;
	pthread_mutex_unlock(&audit.lock);
	return on;
}

void pc_audit_stamp(struct pc_audit_event *ev)
{
	unsigned char u[16] = { 0 };
	struct timespec ts;
	struct tm tm;
	size_t n;

	if (getrandom(u, sizeof(u), GRND_NONBLOCK) != (ssize_t)sizeof(u)) {
		clock_gettime(CLOCK_MONOTONIC, &ts); /* never: an ID unique enough for a line */
		memcpy(u, &ts, sizeof(ts) < sizeof(u) ? sizeof(ts) : sizeof(u));
	}
	u[6] = (unsigned char)((u[6] & 0x0f) | 0x40); /* version 4 */
	u[8] = (unsigned char)((u[8] & 0x3f) | 0x80); /* variant 1 */
	snprintf(ev->id, sizeof(ev->id),
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1],
		 u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14],
		 u[15]);
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(ev->time, sizeof(ev->time), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ev->time + n, sizeof(ev->time) - n, ".%06ldZ", ts.tv_nsec / 1000);
}

/* What <c> costs in a JSON string at most (pc_buf_add_json_str()'s escapes). */
static size_t json_cost(unsigned char c)
{
	if (c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t')
		return 2;
	if (c < 0x20 || c >= 0x7f)
		return 6; /* \u00XX; a byte of UTF-8 at worst \ufffd */
	return 1;
}

/*
 * <v> as a JSON string of at most <max> bytes between its quotes, escapes
 * counted: cut (never inside a character) and marked PC_AUDIT_TRUNCATED
 * when longer, so that what a client sends never makes a long line.
 */
static void add_capped(struct pc_buf *b, const char *v, size_t max)
{
	const unsigned char *u = (const unsigned char *)v;
	size_t n = 0, cost = 0;

	while (u[n] && cost + json_cost(u[n]) <= max)
		cost += json_cost(u[n++]);
	if (!u[n]) {
		pc_buf_add_json_str(b, v, n);
		return;
	}
	while (n && (u[n] & 0xc0) == 0x80)
		n--; /* not inside a character */
	pc_buf_add_json_str(b, v, n);
	if (b->oom)
		return;
	b->len--; /* reopen the string for the mark */
	pc_buf_adds(b, PC_AUDIT_TRUNCATED "\"");
}

static void add_str(struct pc_buf *b, const char *key, const char *v, size_t max)
{
	pc_buf_printf(b, ",\"%s\":", key);
	add_capped(b, v, max);
}

static void format_user(struct pc_buf *b, const struct pc_audit_user *u)
{
	char name[64];

	if (u->peer) {
		snprintf(name, sizeof(name), "uid:%u", (unsigned)u->uid);
		pc_buf_printf(b, "\"user\":{\"username\":\"%s\",\"uid\":%u,\"gid\":%u,\"pid\":%d}",
			      u->name ? u->name : name, (unsigned)u->uid, (unsigned)u->gid,
			      (int)u->pid);
	} else {
		pc_buf_adds(b, "\"user\":{\"username\":");
		add_capped(b, u->name ? u->name : "", PC_AUDIT_NAME_MAX);
		pc_buf_addc(b, '}');
	}
	add_str(b, "via", u->via ? u->via : "", PC_AUDIT_NAME_MAX);
	if (u->addr) {
		pc_buf_adds(b, ",\"sourceIPs\":[");
		pc_buf_add_json_str(b, u->addr, strlen(u->addr));
		pc_buf_addc(b, ']');
	}
}

void pc_audit_format(struct pc_buf *b, const struct pc_audit_event *ev)
{
	pc_buf_printf(b,
		      "{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\","
		      "\"level\":\"Metadata\",\"auditID\":\"%s\",\"stage\":\"ResponseComplete\","
		      "\"stageTimestamp\":\"%s\"",
		      ev->id, ev->time);
	add_str(b, "verb", ev->verb, PC_AUDIT_NAME_MAX);
	pc_buf_addc(b, ',');
	format_user(b, ev->user);
	if (ev->kind) {
		pc_buf_adds(b, ",\"objectRef\":{");
		if (ev->group) {
			pc_buf_adds(b, "\"apiGroup\":");
			pc_buf_add_json_str(b, ev->group, strlen(ev->group));
			pc_buf_addc(b, ',');
		}
		pc_buf_adds(b, "\"kind\":");
		add_capped(b, ev->kind, PC_AUDIT_NAME_MAX);
		if (ev->ns)
			add_str(b, "namespace", ev->ns, PC_AUDIT_NAME_MAX);
		if (ev->name)
			add_str(b, "name", ev->name,
				ev->name_max ? ev->name_max : PC_AUDIT_NAME_MAX);
		pc_buf_addc(b, '}');
	}
	if (ev->old_rv)
		pc_buf_printf(b, ",\"oldResourceVersion\":\"%" PRId64 "\"", ev->old_rv);
	if (ev->new_rv)
		pc_buf_printf(b, ",\"newResourceVersion\":\"%" PRId64 "\"", ev->new_rv);
	add_str(b, "result", ev->result, PC_AUDIT_NAME_MAX);
	pc_buf_printf(b, ",\"responseStatus\":{\"code\":%u,\"status\":\"%s\"", ev->code,
		      ev->code < 300 ? "Success" : "Failure");
	if (ev->reason)
		add_str(b, "reason", ev->reason, PC_AUDIT_NAME_MAX);
	if (ev->message)
		add_str(b, "message", ev->message, PC_AUDIT_MESSAGE_MAX);
	pc_buf_addc(b, '}');
	if (ev->suppressed)
		pc_buf_printf(b, ",\"annotations\":{\"" PC_AUDIT_SUPPRESSED "\":\"%" PRIu64 "\"}",
			      ev->suppressed);
	pc_buf_adds(b, "}\n");
}

/* The first error of <f>: its object into <ev>, its text into <msg>. */
static void first_error(const struct pc_findings *f, struct pc_audit_event *ev, struct pc_buf *msg)
{
	const struct pc_finding *e = NULL;
	size_t i;

	for (i = 0; i < f->n && !e; i++) {
		if (f->v[i].sev == PC_SEV_ERROR)
			e = &f->v[i];
	}
	if (!e)
		return;
	if (e->kind && *e->kind) {
		ev->group = PC_GROUP;
		ev->kind = e->kind;
		ev->ns = e->ns && *e->ns ? e->ns : NULL;
		ev->name = e->name && *e->name ? e->name : NULL;
	}
	pc_buf_printf(msg, "%s:%u:%u: %s%s%s", e->file ? e->file : "-", e->line, e->col,
		      e->path && *e->path ? e->path : "", e->path && *e->path ? ": " : "",
		      e->msg ? e->msg : "");
	ev->message = msg->p;
}

static void change_refused(struct pc_audit_event *ev, const struct pc_change_result *res, int ret,
			   struct pc_buf *text)
{
	const struct pc_change_object *o = res->failed < res->n ? &res->v[res->failed] : NULL;

	ev->result = res->stored ? "stored-not-enforced" : "refused";
	if (o) {
		ev->group = PC_GROUP;
		ev->kind = pc_kind_info(o->kind)->name;
		ev->ns = o->ns;
		ev->name = o->name;
		ev->old_rv = o->old_rv;
	}
	if (ret == -EINVAL && res->findings.total_err)
		first_error(&res->findings, ev, text);
	if (!ev->message) {
		pc_buf_adds(text, res->err.msg[0] ? res->err.msg : strerror(-ret));
		ev->message = text->p;
	}
}

void pc_audit_change(const struct pc_audit_user *who, const char *verb, int ret,
		     const struct pc_change_result *res, unsigned code, const char *reason)
{
	struct pc_audit_event ev = { .user = who, .verb = verb, .code = code, .reason = reason };
	struct pc_buf text = PC_BUF_INIT;
	size_t i;

	if (!is_open())
		return;
	pc_audit_stamp(&ev); /* one auditID for every line of the request */
	if (ret < 0) {
		change_refused(&ev, res, ret, &text);
		write_event(&ev);
		pc_buf_release(&text);
		return;
	}
	for (i = 0; i < res->n; i++) {
		const struct pc_change_object *o = &res->v[i];

		ev.group = PC_GROUP;
		ev.kind = pc_kind_info(o->kind)->name;
		ev.ns = o->ns;
		ev.name = o->name;
		ev.old_rv = o->old_rv;
		ev.new_rv = o->result == PC_STORE_DELETED ? 0 : o->new_rv;
		ev.result = pc_store_result_name(o->result);
		write_event(&ev);
	}
}

void pc_audit_request(const struct pc_audit_user *who, const char *verb, const char *kind,
		      const char *name, const char *result, unsigned code, const char *reason,
		      const char *message)
{
	struct pc_audit_event ev = { .user = who,
				     .verb = verb,
				     .kind = kind,
				     .name = name,
				     .result = result,
				     .code = code,
				     .reason = reason,
				     .message = message };

	if (!is_open())
		return;
	if (kind && pc_kind_by_name(kind))
		ev.group = PC_GROUP;
	if (kind && strcmp(kind, PC_AUDIT_KIND_LOGGING) == 0)
		ev.name_max = PC_AUDIT_LEVEL_MAX; /* the name is the level asked for */
	pc_audit_stamp(&ev);
	write_event(&ev);
}
