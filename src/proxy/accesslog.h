/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * proxy/accesslog.h - one Envoy-style access log record per connection or
 * per HTTP request.
 *
 * The text format is Istio's default access log format (reference §7.3),
 * as Envoy prints it for a TCP connection (the HTTP-only operators print
 * "-") or for an HTTP request. The JSON format uses Istio's key names,
 * plus Envoy's access_log_type and connection_id (the text format stays
 * Istio's layout, which has no place for them).
 *
 * Client-controlled values (the SNI, the request line, the request
 * headers) are bounded and escaped, so a client can neither forge fields
 * or lines nor make a record too long: every byte outside printable ASCII,
 * and '"' and '\', is written as the four characters \xHH (so is a space
 * in a field the text format does not quote); JSON carries the same text
 * with its backslashes escaped. A record is at most PC_ACCESS_LINE_MAX
 * bytes (PIPE_BUF) and is written with one write(2), so records from
 * several workers never interleave, not even on a pipe.
 */
#ifndef PC_PROXY_ACCESSLOG_H
#define PC_PROXY_ACCESSLOG_H

#include <stdbool.h>
#include <stdint.h>

#include "net/addr.h"

enum pc_log_format {
	PC_LOG_TEXT,
	PC_LOG_JSON,
};

/*
 * Connection termination details of a session closed because a new policy
 * denies its destination. Envoy has no response flag for this (UAEX means
 * an external authorization service said no, DC/UC a peer closed); its own
 * policy denials (RBAC) leave the flags "-" and put
 * "rbac_access_denied_matched_policy[...]" in the details. We do the same.
 */
#define PC_TERM_POLICY_REVOKED "portcullis_policy_revoked"

/*
 * Envoy's %ACCESS_LOG_TYPE% for TCP: a record when the upstream connects
 * (--access-log-on-open; Envoy's flush_access_log_on_connected), interim
 * records of a long-lived connection (--access-log-flush-interval; Envoy's
 * access_log_flush_interval) and the final one.
 */
#define PC_ACCESS_CONNECTED "TcpUpstreamConnected"
#define PC_ACCESS_PERIODIC  "TcpPeriodic"
#define PC_ACCESS_END       "TcpConnectionEnd"
/* Envoy's %ACCESS_LOG_TYPE% of an HTTP request's record (the default of one with .http). */
#define PC_ACCESS_HTTP_END  "DownstreamEnd"

/* The longest record, newline included: PIPE_BUF, so one write(2) is atomic on a pipe too. */
#define PC_ACCESS_LINE_MAX 4096

/*
 * Bounds of the escaped client-controlled fields, in output bytes; a value
 * cut there ends in "...". Together they leave room in PC_ACCESS_LINE_MAX
 * for everything else, in both formats.
 */
#define PC_ACCESS_PATH_MAX  1024
#define PC_ACCESS_FIELD_MAX 256 /* authority, user agent, x-forwarded-for, server name */
#define PC_ACCESS_SHORT_MAX 64  /* method, protocol, request id, details, route name */

/*
 * The request part of an HTTP request's record. Strings are NUL-terminated
 * and may be NULL (printed "-", JSON null); they are only read during the
 * call.
 */
struct pc_access_http {
	const char *method;     /* %REQ(:METHOD)% */
	const char *path;       /* %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%: the request target */
	const char *protocol;   /* %PROTOCOL%: "HTTP/1.1", "HTTP/1.0"; NULL: "HTTP/1.1" */
	unsigned response_code; /* %RESPONSE_CODE%: 0 when no response was sent */
	const char *response_code_details; /* "via_upstream", "direct_response", ... */
	const char *authority;             /* %REQ(:AUTHORITY)%: the Host header */
	const char *user_agent;            /* %REQ(USER-AGENT)% */
	const char *request_id;            /* %REQ(X-REQUEST-ID)% */
	const char *forwarded_for;         /* %REQ(X-FORWARDED-FOR)% */
	const char *route_name;            /* %ROUTE_NAME% */
};

struct pc_access_record {
	const char *type;     /* PC_ACCESS_*; NULL: PC_ACCESS_END (PC_ACCESS_HTTP_END with .http) */
	uint64_t id;          /* %CONNECTION_ID%: stable for the connection's life */
	uint64_t start_ms;    /* wall clock, ms since the epoch (HTTP: the request's first byte) */
	uint64_t duration_ms; /* HTTP: until the response's last byte (Envoy's %DURATION%) */
	const char *flags;    /* "-", "UH", "UF,URX", ... */
	const char *termination; /* connection termination details, or NULL */
	uint64_t bytes_received; /* from the client (HTTP: of this request, as Envoy: body bytes) */
	uint64_t bytes_sent;     /* to the client (HTTP: of this response's body) */
	const char *cluster;
	const struct pc_addr *upstream;       /* NULL: none */
	const struct pc_addr *upstream_local; /* NULL: none */
	const struct pc_addr *original_dst;
	const struct pc_addr *client;
	const char *server_name;           /* %REQUESTED_SERVER_NAME%: the SNI; NULL: none */
	const struct pc_access_http *http; /* NULL: a TCP record */
};

/*
 * Format <r> into <buf> (<size> bytes, at least 2), newline included; a
 * record longer than <size> - 1 is cut and still ends in a newline.
 * Returns the length.
 */
size_t pc_access_format(const struct pc_access_record *r, enum pc_log_format fmt, char *buf,
			size_t size);

/* Format and write <r> to <fd> with one write(2) (best effort; -1 disables). */
void pc_access_write(int fd, const struct pc_access_record *r, enum pc_log_format fmt);

#endif /* PC_PROXY_ACCESSLOG_H */
