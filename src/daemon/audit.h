/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * daemon/audit.h - the audit trail: one JSON line per object of every
 * accepted or refused change (doc/security.md, "The audit log").
 *
 * The line follows Kubernetes' audit events (audit.k8s.io/v1 Event) where
 * they fit: auditID (shared by the lines of one request), stage
 * (always "ResponseComplete": a change is logged once, when it is
 * answered), verb, user, objectRef, responseStatus; and adds what a
 * Kubernetes event keeps elsewhere: the old and new resourceVersion and
 * kubectl's word for the result (created, configured, unchanged,
 * deleted, refused).
 *
 * The log is process-wide, like the daemon's log: pc_audit_open() once at
 * start (as root, before the privilege drop), then any thread may call
 * pc_audit_change(). Lines are written with O_APPEND, one write() each,
 * under a mutex; at --audit-log-max-size the file is rotated (audit.log
 * -> audit.log.1 -> ... -> audit.log.PC_AUDIT_KEEP). A failed write is
 * logged (once until a write succeeds again) and never fails or delays
 * the change. A rotation that fails (a directory the proxy user may not
 * write) is logged once and retried only after the file has grown by
 * another max_bytes.
 *
 * Strings a client chose are capped (PC_AUDIT_NAME_MAX, ...); the lines of
 * requests without a valid token (pc_audit_user.anonymous) go through a
 * token bucket, a burst of 20 then one a second, and the next line written
 * counts those left out (the PC_AUDIT_SUPPRESSED annotation).
 */
#ifndef PC_DAEMON_AUDIT_H
#define PC_DAEMON_AUDIT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct pc_buf;
struct pc_change_result;
struct pc_err;

#define PC_AUDIT_FILE "audit.log"
#define PC_AUDIT_KEEP 3 /* rotated files kept */

/*
 * What a line holds of a string a client sent (a name, a kind, a level) or
 * of a message that may quote one: at most these many bytes, escapes
 * counted, then PC_AUDIT_TRUNCATED, so that no request makes a long line.
 */
#define PC_AUDIT_NAME_MAX    253 /* a DNS subdomain, Kubernetes' longest name */
#define PC_AUDIT_LEVEL_MAX   64
#define PC_AUDIT_MESSAGE_MAX 1024
#define PC_AUDIT_TRUNCATED   "...[truncated]"

/* The objectRef kind of POST /logging on the admin endpoint. */
#define PC_AUDIT_KIND_LOGGING "Logging"

/* The annotation that counts the unauthenticated requests left out before a line. */
#define PC_AUDIT_SUPPRESSED "portcullis.io/suppressed-unauthenticated"

/* Who made a change. */
struct pc_audit_user {
	const char *name; /* the token's name, "config", "system:anonymous"; NULL: a peer */
	const char *via;  /* "unix", "tcp", "admin", "config" */
	bool peer;        /* <uid>, <gid>, <pid> are the Unix socket peer's (SO_PEERCRED) */
	uid_t uid;
	gid_t gid;
	pid_t pid;
	const char *addr; /* the TCP client's address, or NULL */
	bool anonymous;   /* no valid token: its lines are rate-limited */
};

/* One line: what pc_audit_format() prints. */
struct pc_audit_event {
	char id[37];   /* auditID, a UUID */
	char time[40]; /* RFC 3339, UTC, microseconds */
	const struct pc_audit_user *user;
	const char *verb;             /* "apply", "delete", "set-log-level" */
	const char *group;            /* objectRef.apiGroup, or NULL */
	const char *kind, *ns, *name; /* objectRef; <kind> NULL: none */
	int64_t old_rv, new_rv;       /* 0: none (created / deleted / refused) */
	const char *result;           /* "created", ..., "refused" */
	unsigned code;                /* responseStatus.code: the HTTP status */
	const char *reason, *message; /* for refusals (NULL otherwise) */
	size_t name_max;              /* the cap of <name>; 0: PC_AUDIT_NAME_MAX */
	uint64_t suppressed;          /* unauthenticated lines left out before this one */
};

/*
 * Open the audit log at <path> ("-": stdout, never rotated) for rotation
 * at <max_bytes> (0: never). Returns 0 or a negative errno with <err>
 * filled. A symbolic link at <path> is refused.
 */
int pc_audit_open(const char *path, uint64_t max_bytes, struct pc_err *err);

/* Close the audit log (further calls write nothing). */
void pc_audit_close(void);

/*
 * Log the change <res> that returned <ret> and was answered with the HTTP
 * status <code> (200, 422, ...; for a --config apply the status the API
 * would have sent), made by <who> with <verb>: one line per object of a
 * change that succeeded, one line for a refused one (the object and the
 * message of its first error). No-op while no log is open.
 */
void pc_audit_change(const struct pc_audit_user *who, const char *verb, int ret,
		     const struct pc_change_result *res, unsigned code, const char *reason);

/*
 * Log one request that has no change result: an apply or delete refused
 * before it reached the store (401, 400, 404, 413), a log level set on the
 * admin endpoint. <kind> and <name> (may be NULL) make the objectRef; with
 * <kind> PC_AUDIT_KIND_LOGGING, <name> is a level (PC_AUDIT_LEVEL_MAX).
 */
void pc_audit_request(const struct pc_audit_user *who, const char *verb, const char *kind,
		      const char *name, const char *result, unsigned code, const char *reason,
		      const char *message);

/* Fill ev->id with a new UUID and ev->time with the current time. */
void pc_audit_stamp(struct pc_audit_event *ev);

/* Append the JSON line of <ev> (with its '\n') to <b>. */
void pc_audit_format(struct pc_buf *b, const struct pc_audit_event *ev);

#endif /* PC_DAEMON_AUDIT_H */
