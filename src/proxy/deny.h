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
 * Everything but pc_denials_json() runs on the worker's loop thread.
 */
#ifndef PC_PROXY_DENY_H
#define PC_PROXY_DENY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/addr.h"

struct pc_buf;
struct pc_snapshot;
struct pc_worker;

enum pc_deny_response {
	PC_DENY_PROTOCOL, /* answer as the protocol would, then close */
	PC_DENY_RESET,    /* reset at once */
};

/* How many recent denials /denials shows. */
#define PC_DENIALS_KEPT 256

/*
 * Take over <fd>, the client socket of a connection from <client> to
 * <dst> that <snap> denies, and answer it as w->cfg->deny_response says;
 * the caller no longer owns <fd> (it is closed here, at once or once the
 * answer is out). Records the denial. Never fails: out of memory, it
 * resets.
 */
void pc_deny_start(struct pc_worker *w, int fd, const struct pc_addr *client,
		   const struct pc_addr *dst, const struct pc_snapshot *snap);

/* Close every denial <w> is still answering (worker stop, drain deadline). */
void pc_deny_close_all(struct pc_worker *w);

/* Any thread: the recent denials as the JSON object doc/admin.md describes. */
void pc_denials_json(struct pc_buf *out);

/*
 * The pieces, exposed for the unit tests and the fuzz target. None of them
 * allocates or touches global state.
 */

/* How long a denial waits for the client's first bytes before it resets. */
#define PC_DENY_SNIFF_MS  2000u
/* How long, and how many bytes, the client's input is discarded after the answer. */
#define PC_DENY_DRAIN_MS  1000u
#define PC_DENY_DRAIN_MAX ((size_t)64 * 1024)
/* The most bytes the sniffer ever needs ("OPTIONS " is 8, a TLS record head 6). */
#define PC_DENY_SNIFF_MAX 16

/* What the client got (doc/admin.md's "response"). */
enum pc_deny_answer {
	PC_ANSWER_RESET,
	PC_ANSWER_MYSQL,
	PC_ANSWER_TLS,
	PC_ANSWER_HTTP,
};

/* "reset", "mysql", "tls", "http". */
const char *pc_deny_answer_name(enum pc_deny_answer a);

enum pc_sniff {
	PC_SNIFF_MORE,  /* a prefix of something recognised: wait for more bytes */
	PC_SNIFF_TLS,   /* a TLS handshake record holding a ClientHello */
	PC_SNIFF_HTTP,  /* an HTTP/1.x request line: a known method and a space */
	PC_SNIFF_OTHER, /* anything else: reset */
};

/*
 * Classify the first <n> bytes a denied client sent. TLS: 0x16, version
 * 0x03 0x00..0x04, a record length of 4..18432, handshake type 1. HTTP:
 * GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH, CONNECT or TRACE, then a
 * space (case-sensitive, as RFC 9110 says). Decides as soon as the bytes
 * allow: PC_SNIFF_MORE only while they are a proper prefix of a match, so
 * never for PC_DENY_SNIFF_MAX bytes or more.
 */
enum pc_sniff pc_deny_sniff(const uint8_t *p, size_t n);

/*
 * The sentence every answer carries, NUL-terminated in <out> (<cap> > 0,
 * cut to fit): "portcullis: egress to <dst> denied: <reason>", where
 * <reason> is pc_deny_reason(<loop_guard>). Returns its length.
 */
size_t pc_deny_sentence(char *out, size_t cap, const struct pc_addr *dst, bool loop_guard);

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

#endif /* PC_PROXY_DENY_H */
