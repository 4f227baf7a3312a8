/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * proxy/sniff.h - what a client's first bytes are, and the name they carry.
 *
 * One parser for the first flight of a connection, used twice by the
 * session (proxy/session.c): by the PREREAD stage, to classify a port whose
 * policy needs a name (a TLS ClientHello's server_name, an HTTP/1 request's
 * Host), and by the DENYING stage, to answer a denied client in its own
 * protocol (proxy/deny.c). It sees bytes only (peeked or read by the
 * caller), never a socket, never allocates and keeps no state between
 * calls: the caller calls it again on a longer prefix.
 *
 * Strict and fail-closed: a name is returned only from a well-formed
 * message. Malformed, ambiguous (two server names, two Host headers) or
 * over-long input yields the kind with no name and an error; the caller
 * then classifies by address alone, which never matches a name-based
 * entry. Nothing is guessed from a partial message.
 */
#ifndef PC_PROXY_SNIFF_H
#define PC_PROXY_SNIFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum pc_sniff {
	PC_SNIFF_MORE,  /* a prefix of something recognised: wait for more bytes */
	PC_SNIFF_TLS,   /* a TLS handshake record holding a ClientHello */
	PC_SNIFF_HTTP,  /* an HTTP/1.x request line: a known method and a space */
	PC_SNIFF_OTHER, /* anything else */
};

/* The most bytes pc_sniff_kind() ever needs ("OPTIONS " is 8, a TLS record head 6). */
#define PC_SNIFF_KIND_MAX 16

/* The longest name returned (a DNS name in text form, RFC 1035 2.3.4, without the final dot). */
#define PC_SNIFF_NAME_MAX 253

/*
 * Classify the first <n> bytes a client sent. TLS: 0x16, version 0x03
 * 0x00..0x04, a record length of 4..18432, handshake type 1. HTTP: GET,
 * HEAD, POST, PUT, DELETE, OPTIONS, PATCH, CONNECT or TRACE, then a space
 * (case-sensitive, as RFC 9110 says). Decides as soon as the bytes allow:
 * PC_SNIFF_MORE only while they are a proper prefix of a match, so never
 * for PC_SNIFF_KIND_MAX bytes or more. Pure; any thread.
 */
enum pc_sniff pc_sniff_kind(const uint8_t *p, size_t n);

/* What pc_sniff() found. */
struct pc_sniffed {
	enum pc_sniff kind;
	uint8_t rec_major, rec_minor; /* PC_SNIFF_TLS: the record's version (for an alert) */
	bool head;                    /* PC_SNIFF_HTTP: a HEAD request */
	int err;                      /* 0, or why there is no name: -EBADMSG, -EMSGSIZE */
	size_t namelen;               /* 0: no name */
	char name[PC_SNIFF_NAME_MAX + 1]; /* lowercase, NUL-terminated, no port, no final dot */
};

/*
 * Parse the first <n> bytes at <p> far enough to know the kind and the
 * name, into <out>. Returns out->kind: PC_SNIFF_MORE while the message that
 * carries the name is incomplete (the caller reads more, within its own
 * bounds, and calls again with all the bytes from the start), else the
 * final answer, which more bytes never change.
 *
 *  - TLS: the whole ClientHello (RFC 8446 4.1.2; records of type 22 and
 *    1..16384 bytes may split it, RFC 8446 5.1; anything else in between
 *    is an error) up to PC_SNIFF_HELLO_MAX bytes; the name is
 *    the one host_name of the server_name extension (RFC 6066 3), if any.
 *    A ClientHello without the extension is TLS with no name and err 0.
 *  - HTTP: the request line and the header fields up to the empty line,
 *    at most PC_SNIFF_HEAD_MAX bytes. The name is the authority of an
 *    absolute-form target (RFC 9112 3.2.2), else the one Host field; its
 *    port is dropped. An IP literal is not a name (err 0, no name).
 *  - Errors (kind kept, no name): -EBADMSG for malformed syntax, two
 *    server names, any TLS extension twice or two Host fields, a name with
 *    characters a DNS name cannot have; -EMSGSIZE when the message
 *    outgrows its bound.
 *
 * Never reads beyond p[n - 1]; pure; any thread.
 */
#define PC_SNIFF_HELLO_MAX 16384
#define PC_SNIFF_HEAD_MAX  8192
enum pc_sniff pc_sniff(const uint8_t *p, size_t n, struct pc_sniffed *out);

/*
 * Check and copy a host name into <out> (PC_SNIFF_NAME_MAX + 1 bytes):
 * letters, digits, '-', '_' and '.', labels of 1..63 bytes, lowercased, a
 * final dot dropped. Returns its length, or 0 when <p> is not such a name.
 */
size_t pc_sniff_copy_name(const uint8_t *p, size_t n, char *out);

#endif /* PC_PROXY_SNIFF_H */
