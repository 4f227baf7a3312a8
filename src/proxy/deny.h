/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * proxy/deny.h - denials that explain themselves.
 *
 * A connection the policy denies (BlackHoleCluster) is, by default
 * (--deny-response protocol), answered in the language its client speaks
 * before it is closed, so that the client's own error message says why:
 *
 *   - MySQL/MariaDB (the destination port is declared MYSQL by a
 *     ServiceEntry, or is 3306): the server speaks first, so at once an
 *     ERR packet in place of the greeting, "portcullis: egress to
 *     203.0.113.9:3306 denied: no ServiceEntry matches (outbound traffic
 *     policy REGISTRY_ONLY)", which `mariadb` prints as ERROR 1130;
 *   - otherwise the client's first bytes decide: a TLS ClientHello gets a
 *     fatal access_denied alert, an HTTP request a 403 with the sentence;
 *   - anything else, or no bytes within a short wait, a reset.
 *
 * With --deny-response reset every denial is a reset, as in Envoy.
 * Each denial is logged once per destination (rate-limited) with the
 * reason and the nearest ServiceEntry that almost matched (same port other
 * addresses, or same addresses other port), and kept in a ring that the
 * admin endpoint shows (/denials).
 *
 * The connection is the session's DENYING stage (proxy/session.c); this
 * module chooses and renders the answers and keeps the record.
 */
#ifndef PC_PROXY_DENY_H
#define PC_PROXY_DENY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/addr.h"
#include "proxy/sniff.h"

struct pc_buf;
struct pc_snapshot;

enum pc_deny_response {
	PC_DENY_PROTOCOL, /* answer as the protocol would, then close */
	PC_DENY_RESET,    /* reset at once */
};

/* How many recent denials /denials shows. */
#define PC_DENIALS_KEPT 256

/* Any thread: the recent denials as the JSON object doc/admin.md describes. */
void pc_denials_json(struct pc_buf *out);

/* How long a denial waits for the client's first bytes before it resets. */
#define PC_DENY_SNIFF_MS  2000u
/* How long, and how many bytes, the client's input is discarded after the answer. */
#define PC_DENY_DRAIN_MS  1000u
#define PC_DENY_DRAIN_MAX ((size_t)64 * 1024)
/* The most first bytes a denial looks at (pc_sniff_kind() always decides by then). */
#define PC_DENY_SNIFF_MAX PC_SNIFF_KIND_MAX
/* The longest answer pc_deny_render() writes. */
#define PC_DENY_OUT_MAX 512

/* What the client got (doc/admin.md's "response"). */
enum pc_deny_answer {
	PC_ANSWER_RESET,
	PC_ANSWER_MYSQL,
	PC_ANSWER_TLS,
	PC_ANSWER_HTTP,
};

/* "reset", "mysql", "tls", "http". */
const char *pc_deny_answer_name(enum pc_deny_answer a);

/*
 * Why a connection was denied, as precisely as the preread knows it. Every
 * cause but the first concerns a port whose ServiceEntries admit traffic
 * by name only (a TLS or HTTP port without addresses).
 */
enum pc_deny_cause {
	PC_CAUSE_NO_ENTRY, /* nothing matches the destination (and the name it gave, if any) */
	PC_CAUSE_NO_NAME,  /* a ClientHello without SNI, an HTTP request without a Host name */
	PC_CAUSE_UNNAMED,  /* first bytes that are neither a ClientHello nor an HTTP request */
	PC_CAUSE_SILENT,   /* nothing within --protocol-detection-timeout */
	PC_CAUSE_H2,       /* HTTP/2 with prior knowledge: only HTTP/1.x is routed by Host */
};

/* The answer chosen for one denial: a few bytes, rendered again at each write. */
struct pc_deny_reply {
	enum pc_deny_answer answer;
	uint8_t tls_major, tls_minor; /* PC_ANSWER_TLS: the client's record version */
	bool head;                    /* PC_ANSWER_HTTP: a HEAD request (no body) */
	enum pc_deny_cause cause;
	bool tls;                     /* the name refused is an SNI (else a Host) */
	bool dns;                     /* ... the name of an auto-allocated address (doc/dns.md) */
	const char *name;             /* the SNI or Host refused (the caller's string), or NULL */
	unsigned status;              /* PC_ANSWER_HTTP: 403 (0), or 400, 421, 431 mid-connection */
	const char *detail;           /* 400, 431: what was wrong with the request (static text) */
};

/*
 * Whether <port> is server-first under <snap>: declared MYSQL by some
 * ServiceEntry, or 3306. Its clients say nothing until the server greets
 * them, so a denial answers at once and no stage ever waits for their
 * first bytes (the preread stage is skipped too).
 */
bool pc_deny_server_first(const struct pc_snapshot *snap, uint16_t port);

/*
 * Choose the answer for a client whose first bytes are the <n> at <p>: a
 * TLS ClientHello gets an alert, an HTTP request a 403, anything else a
 * reset. Returns pc_sniff_kind(<p>, <n>); while that is PC_SNIFF_MORE the
 * reply is a reset and the caller may wait for more bytes.
 */
enum pc_sniff pc_deny_choose(struct pc_deny_reply *r, const uint8_t *p, size_t n);

/*
 * The bytes of <r> for a denial of <dst> into <out>: the MySQL ERR packet,
 * the TLS alert or the HTTP 403 with the sentence. Returns their length; 0
 * for a reset (or a 403 that does not fit: reset then).
 */
size_t pc_deny_render(const struct pc_deny_reply *r, const struct pc_addr *dst, bool loop_guard,
		      char out[PC_DENY_OUT_MAX]);

/*
 * When a denial of <dst> starts: whether it is the first of <dst> with the
 * refused <name> (an SNI or Host; NULL: none) lately (RECENT_MS), and so
 * the one to log. The first one computes the hint (the nearest
 * ServiceEntries of <snap>) and keeps it with <dst>. Any thread.
 */
bool pc_deny_note(const struct pc_snapshot *snap, const struct pc_addr *dst, const char *name,
		  uint64_t now);

/*
 * Once the answer <r> is chosen: keep the denial of <client> -> <dst> on
 * the ring /denials shows and, when <log> (pc_deny_note()'s verdict), log
 * it at notice with its reason, answer and hint (rate-limited): for a
 * refused name, the ServiceEntry host on that port that came nearest. The
 * loop guard is a <dst> on <snap>'s proxy port. <now> is monotonic ms. Any
 * thread.
 */
void pc_deny_record(const struct pc_snapshot *snap, const struct pc_addr *client,
		    const struct pc_addr *dst, bool log, const struct pc_deny_reply *r,
		    uint64_t now);

/* The pieces, exposed for the unit tests and the fuzz target. Pure. */

/*
 * The sentence every answer carries, NUL-terminated in <out> (<cap> > 0,
 * cut to fit): "portcullis: egress to <dst> denied: <reason>", where
 * <reason> is pc_deny_explain() of <r> (NULL: no ServiceEntry matches).
 * Returns its length.
 */
size_t pc_deny_sentence(char *out, size_t cap, const struct pc_addr *dst, bool loop_guard,
			const struct pc_deny_reply *r);

/*
 * The reason for a denial on port <port> with the preread's findings <r>
 * (NULL: none), NUL-terminated in <out> (<cap> > 0, cut to fit), e.g.
 * "no ServiceEntry matches SNI \"evil.example.org\" on port 443 (outbound
 * traffic policy REGISTRY_ONLY)". Returns its length.
 */
size_t pc_deny_explain(char *out, size_t cap, const struct pc_deny_reply *r, uint16_t port,
		       bool loop_guard);

/* "no ServiceEntry matches (outbound traffic policy REGISTRY_ONLY)", or the loop guard's. */
const char *pc_deny_reason(bool loop_guard);

/*
 * A MySQL ERR packet sent in place of the server greeting: 3-byte length,
 * sequence 0, 0xff, error 1130 (ER_HOST_NOT_PRIVILEGED) little-endian and
 * <msg> (no '#' SQL state: there is none before the handshake), cut to fit
 * <cap> (>= 7). Returns the packet's length.
 */
size_t pc_deny_mysql_err(uint8_t *out, size_t cap, const char *msg);

/* A fatal access_denied (49) TLS alert record of version <major>.<minor>: 7 bytes. */
#define PC_DENY_TLS_ALERT_LEN 7
size_t pc_deny_tls_alert(uint8_t out[PC_DENY_TLS_ALERT_LEN], uint8_t major, uint8_t minor);

/*
 * "HTTP/1.1 403 Forbidden" with Content-Type text/plain, Content-Length,
 * Connection: close and <msg> plus a newline as the body (none for a
 * <head> request; Content-Length stays), into <out>. Returns the length,
 * or 0 when <cap> is too small.
 */
size_t pc_deny_http_403(char *out, size_t cap, const char *msg, bool head);

/* The same with <status> 400, 403, 421 or 431 and its reason phrase. */
size_t pc_deny_http(char *out, size_t cap, unsigned status, const char *msg, bool head);

#endif /* PC_PROXY_DENY_H */
