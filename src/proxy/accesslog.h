/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * proxy/accesslog.h - one Envoy-style access log record per connection.
 *
 * The text format is Istio's default access log format as Envoy prints it
 * for a TCP connection (reference §7.3): HTTP-only operators print "-" and
 * the TCP fields fill their places. The JSON format uses Istio's key
 * names, plus Envoy's access_log_type and connection_id (the text format
 * stays Istio's layout, which has no place for them). Each record is written with one write(2), so records from
 * several workers never interleave.
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

struct pc_access_record {
	const char *type;        /* PC_ACCESS_*; NULL: PC_ACCESS_END */
	uint64_t id;             /* %CONNECTION_ID%: stable for the connection's life */
	uint64_t start_ms;       /* wall clock, ms since the epoch */
	uint64_t duration_ms;
	const char *flags;       /* "-", "UH", "UF,URX", ... */
	const char *termination; /* connection termination details, or NULL */
	uint64_t bytes_received; /* from the client */
	uint64_t bytes_sent;     /* to the client */
	const char *cluster;
	const struct pc_addr *upstream;       /* NULL: none */
	const struct pc_addr *upstream_local; /* NULL: none */
	const struct pc_addr *original_dst;
	const struct pc_addr *client;
};

/* Format <r> into <buf> (<size> bytes), newline included. Returns the length. */
size_t pc_access_format(const struct pc_access_record *r, enum pc_log_format fmt, char *buf,
			size_t size);

/* Format and write <r> to <fd> with one write(2) (best effort; -1 disables). */
void pc_access_write(int fd, const struct pc_access_record *r, enum pc_log_format fmt);

#endif /* PC_PROXY_ACCESSLOG_H */
