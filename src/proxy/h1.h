/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * proxy/h1.h - the HTTP/1.x filter of one proxied connection: which
 * request bytes may go upstream, and which response answers which request.
 *
 * A pure, incremental state machine the session drives (issue 11 point 3):
 * no sockets, no clock, no allocation. The caller reads the client and
 * the upstream, feeds the bytes here in order (any split, 1-byte segments
 * included), and forwards only what the filter released. One struct pc_h1
 * per connection, embedded or allocated once: about 10 KB on x86-64
 * (sizeof(struct pc_h1); most of it the copy of the request head being
 * checked, PC_H1_HEAD_MAX bytes, and the request-target kept for the log).
 *
 * Client -> upstream (pc_h1_request()). Every request head is held until
 * it is complete, checked, and allowed by the caller (pc_h1_allow()); only
 * then are its bytes, and its body as it arrives (Content-Length or
 * chunked), released. The next request's head is held again, also when it
 * came in the same read (pipelining). Stream offsets count from the
 * connection's first byte: the caller may forward client bytes up to
 * pc_h1_released(); bytes in [released, fed) are held.
 *
 * Strict, fail-closed parsing (each check says who makes it):
 *  - ours, by hand, on every byte before the parser sees it: CRLF line
 *    endings only (bare LF or a CR not followed by LF: 400), no obs-fold (a
 *    field line starting with SP/HT: 400), field names are tokens followed
 *    at once by ':' (whitespace before the colon: 400), no NUL/CR/other
 *    controls but HT in values or the request line (400), a head of at most
 *    PC_H1_HEAD_MAX bytes (431), no empty lines before the request line
 *    (400); one Host at most and exactly one on HTTP/1.1 (400); an
 *    absolute-form or CONNECT authority equal to Host when both are given
 *    (400); Content-Length given twice, even with equal values (400: no
 *    client needs it and RFC 9112 6.3's merging is what smuggling exploits);
 *    Content-Length together with Transfer-Encoding (400); Transfer-Encoding
 *    other than exactly one field "chunked" (400: codings lists such as
 *    "gzip, chunked" are refused too), any Transfer-Encoding on HTTP/1.0
 *    (400); CONNECT with content (400); chunk framing: 1..16 hex digits of
 *    size below 2^60, optional BWS ";" extensions without controls, CRLF
 *    after the size line, after each chunk's data and after each trailer
 *    field (else 400).
 *  - libhttp-parser's (2.9.4, run on the same bytes as a second opinion;
 *    Debian builds it non-strict, hence ours above): method known to it,
 *    version syntax, Content-Length digits and overflow, duplicate
 *    Content-Length, CL with TE, TE not ending in chunked, chunk-size
 *    overflow, and where the message ends: the two must agree on every
 *    head and on the last byte of every body, else 400.
 *
 * HTTP/2 prior knowledge (the "PRI * HTTP/2.0" preface) and an Upgrade to
 * h2c are reported as PC_H1_H2 (for the Upgrade, with h->req filled for the
 * log line), never as a request to allow: an h2 connection would
 * multiplex streams for any :authority past this filter, so the caller
 * denies them (with its log line naming h2c). We do not decode HPACK.
 *
 * CONNECT and Upgrade requests: after such a request has been allowed, the
 * client's further bytes are held (PC_H1_SWITCHING) until its response is
 * known: a 2xx to CONNECT or a 101 to an Upgrade request makes the
 * connection opaque in both directions (plain relay from then on); any
 * other final response resumes HTTP parsing. So a declined upgrade cannot
 * carry an unchecked request.
 *
 * Upstream -> client (pc_h1_response()), for the access log and metrics:
 * the caller forwards every response byte at once (nothing is held on that
 * side) and feeds them here; each final response is reported with the
 * status code and the sequence number and tag of the request it answers (a
 * FIFO of at most PC_H1_PIPELINE_MAX requests). A HEAD request's response,
 * 1xx, 204 and 304 have no body; 1xx other than 101 are interim, not the
 * answer.
 *
 * Loop context: whichever thread owns the connection; no locking.
 */
#ifndef PC_PROXY_H1_H
#define PC_PROXY_H1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <http_parser.h>

#include "proxy/sniff.h"

/* The most bytes of a request head (request line, fields, empty line); beyond: 431. */
#define PC_H1_HEAD_MAX PC_SNIFF_HEAD_MAX

/* The most bytes of a chunked body's trailer section; beyond: 400. */
#define PC_H1_TRAILER_MAX PC_H1_HEAD_MAX

/* The most bytes of a chunk-size line (size, extensions, CRLF); beyond: 400. */
#define PC_H1_CHUNK_LINE_MAX 1024

/* The most bytes of the request-target kept in pc_h1_req.target (longer ones are cut). */
#define PC_H1_TARGET_MAX 1024

/* The most requests allowed and still waiting for their response. */
#define PC_H1_PIPELINE_MAX 32

/* What pc_h1_request() found. */
enum pc_h1_verdict {
	PC_H1_MORE,      /* every byte given was consumed; feed more when there is more */
	PC_H1_HEAD,      /* a request head is complete in h->req: allow it or deny it */
	PC_H1_FULL,      /* PC_H1_PIPELINE_MAX requests await their response: stop reading */
	PC_H1_SWITCHING, /* a CONNECT/Upgrade awaits its response: hold the client's bytes */
	PC_H1_OPAQUE,    /* the connection is a tunnel now: everything fed is released */
	PC_H1_H2,        /* HTTP/2 prior knowledge or Upgrade: h2c: deny */
	PC_H1_BAD,       /* refused: answer h->status (400 or 431) and close */
};

/* What pc_h1_response() and pc_h1_response_eof() found. */
enum pc_h1_rverdict {
	PC_H1_R_MORE,   /* every byte given was consumed, no response completed */
	PC_H1_R_DONE,   /* a final response is complete: h->resp */
	PC_H1_R_SWITCH, /* a 101 or a 2xx to CONNECT (h->resp): the connection is a tunnel now */
	PC_H1_R_BAD,    /* not an HTTP/1 response to a pending request: stop parsing (h->reason) */
};

/* The request head pc_h1_request() reported with PC_H1_HEAD. */
struct pc_h1_req {
	uint32_t seq;            /* 0, 1, 2, ... : the request's number on the connection */
	unsigned method;         /* enum http_method */
	const char *method_name; /* static: "GET", "CONNECT", ... */
	unsigned http_minor;     /* HTTP/1.<http_minor>: 0 or 1 */
	bool connect;            /* CONNECT: the target is the authority */
	bool upgrade;            /* an Upgrade field (e.g. websocket) */
	bool keep_alive;         /* the connection may carry another request after this one */
	bool absolute;           /* the target is in absolute form ("http://host/...") */
	bool is_ip;              /* the authority is an IP literal: <name> holds it, no brackets */
	bool chunked;            /* the body is chunked */
	bool target_cut;         /* the target was longer than PC_H1_TARGET_MAX */
	uint64_t content_length; /* the body's length when not chunked (0: none) */
	uint16_t port;           /* the authority's port; 0 when none was given */
	size_t namelen;          /* 0: no authority (HTTP/1.0 without Host, origin form) */
	char name[PC_SNIFF_NAME_MAX + 1];  /* lowercase host, no port, no final dot */
	size_t targetlen;                  /* bytes in <target> */
	char target[PC_H1_TARGET_MAX + 1]; /* the request-target as sent, NUL-terminated */
};

/* The final response pc_h1_response() reported with PC_H1_R_DONE or PC_H1_R_SWITCH. */
struct pc_h1_resp {
	uint32_t seq;    /* the request it answers (pc_h1_req.seq) */
	uint64_t tag;    /* that request's tag (pc_h1_allow()) */
	unsigned status; /* the final status code */
	unsigned method; /* that request's method (enum http_method) */
	uint64_t bytes;  /* response bytes, interim responses and head included */
};

/* A request allowed and not yet answered. */
struct pc_h1_pending {
	uint64_t tag;
	uint32_t seq;
	uint8_t method;
	bool upgrade;
};

/* One connection's filter: treat every field as private but <req>, <resp>, <status>, <reason>. */
struct pc_h1 {
	struct pc_h1_req req;   /* valid after PC_H1_HEAD, until the next pc_h1_request() */
	struct pc_h1_resp resp; /* valid after PC_H1_R_DONE/SWITCH, until the next response call */
	unsigned status;        /* PC_H1_BAD: 400 or 431 */
	const char *reason;     /* PC_H1_BAD, PC_H1_R_BAD, PC_H1_H2: static text for the log */

	/* client -> upstream */
	uint64_t fed;       /* request stream bytes consumed */
	uint64_t released;  /* request stream bytes the caller may forward */
	uint8_t rstate;     /* where the request side is (h1.c) */
	uint8_t bstate;     /* the body's framing state (h1.c) */
	bool opaque;        /* a tunnel: both directions released, unparsed */
	bool switching;     /* the last allowed request asked CONNECT or Upgrade */
	bool closing;       /* the last allowed request ended the connection's requests */
	bool was_cr;        /* head/trailer scan: the previous byte was CR */
	bool chunk_last;    /* the chunk being framed is the last one (size 0) */
	bool in_name;       /* trailer scan: still in the field name */
	uint32_t seq;       /* the next request's sequence number */
	uint32_t headlen;   /* bytes in <head> */
	uint32_t linestart; /* offset in <head> of the line being scanned */
	uint32_t linelen;   /* chunk-size line / trailer bytes so far */
	uint8_t sizedigits; /* chunk-size hex digits so far */
	uint64_t remain;    /* body: bytes of Content-Length or of the chunk left */
	http_parser rp;     /* libhttp-parser on the request stream, the second opinion */
	bool rp_done;       /* rp reported the message complete */
	bool rp_head;       /* rp reported the head complete */

	/* upstream -> client */
	http_parser sp;      /* libhttp-parser on the response stream */
	bool sp_in;          /* a response is being parsed */
	bool sp_done;        /* sp reported a message complete */
	bool sp_switch;      /* the response being parsed switches protocols */
	bool sp_interim;     /* the response being parsed is a 1xx */
	bool sp_bad;         /* the response being parsed answers nothing sensible */
	uint64_t sp_bytes;   /* bytes of the current request's responses */
	uint8_t qhead, qlen; /* the FIFO of pending requests */
	struct pc_h1_pending q[PC_H1_PIPELINE_MAX];

	char head[PC_H1_HEAD_MAX]; /* the request head being checked */
};

/* Start <h> for a new connection. Never fails. */
void pc_h1_init(struct pc_h1 *h);

/*
 * Feed the client's next bytes: <p>, <n> bytes, are the request stream from
 * offset pc_h1_fed() on (the bytes after those already consumed; <n> may be
 * 0 to ask again after pc_h1_allow() or a response). Sets <*used> to how
 * many were consumed; the caller keeps the rest and passes them again. A
 * consumed byte is not necessarily released: forward only up to
 * pc_h1_released().
 *
 * Returns PC_H1_MORE (all consumed, <*used> = <n>), or stops early:
 *  - PC_H1_HEAD: a request head is complete and checked; h->req says what
 *    it asks. <*used> includes its last byte; none of it is released. Call
 *    pc_h1_allow() to let it (and its body) through, or deny the request
 *    (the filter has no "deny": the connection ends). Until then every call
 *    returns PC_H1_HEAD again, consuming nothing.
 *  - PC_H1_FULL, PC_H1_SWITCHING: nothing more is consumed until a response
 *    completes (pc_h1_response()); stop reading the client meanwhile.
 *  - PC_H1_OPAQUE: the connection is a tunnel: all <n> consumed and
 *    released; relay plainly from now on (further calls say the same).
 *  - PC_H1_H2, PC_H1_BAD: the request is refused, h->reason says why and,
 *    for BAD, h->status which answer to give (400, 431); every later call
 *    says the same. Nothing of a refused head is released; a fault in a
 *    body comes after its head and earlier framing elements went, but never
 *    a byte of the faulty element (what was released never depends on how
 *    the bytes were split; <*used> at a fault may). Send the answer only
 *    after the responses to the requests already forwarded (or just close).
 *
 * Never reads beyond p[n - 1]; never allocates.
 */
enum pc_h1_verdict pc_h1_request(struct pc_h1 *h, const uint8_t *p, size_t n, size_t *used);

/*
 * Allow the request head pc_h1_request() just reported with PC_H1_HEAD: its
 * bytes are released, so is its body as it is fed, and it joins the FIFO
 * of requests awaiting a response with <tag> (the caller's: e.g. its start
 * time, or an index into its own per-request records; given back in
 * h->resp). Returns 0, or -EINVAL when no head awaits a decision.
 */
int pc_h1_allow(struct pc_h1 *h, uint64_t tag);

/* The request stream bytes consumed so far: where the next pc_h1_request() input starts. */
uint64_t pc_h1_fed(const struct pc_h1 *h);

/* The request stream bytes that may be forwarded (a stream offset, never above pc_h1_fed()). */
uint64_t pc_h1_released(const struct pc_h1 *h);

/* The number of allowed requests whose final response has not been seen yet. */
unsigned pc_h1_pending_count(const struct pc_h1 *h);

/* Another request would exceed PC_H1_PIPELINE_MAX: stop reading the client. */
bool pc_h1_would_exceed(const struct pc_h1 *h);

/*
 * Feed the upstream's next bytes (after those already consumed). Sets
 * <*used>. Returns PC_H1_R_MORE (all consumed), or stops after the last
 * byte of a final response with PC_H1_R_DONE (h->resp; call again with the
 * rest) or PC_H1_R_SWITCH (h->resp; the rest of both streams is a tunnel,
 * and pc_h1_request() now answers PC_H1_OPAQUE), or PC_H1_R_BAD (not
 * HTTP/1, a response with no request pending, a 101 to a request that asked
 * no upgrade; h->reason): stop feeding, the access log loses its status
 * codes. A completed response may unblock pc_h1_request() (PC_H1_FULL,
 * PC_H1_SWITCHING): call it again. Once a tunnel, every byte is consumed
 * with PC_H1_R_MORE.
 *
 * Never reads beyond p[n - 1]; never allocates.
 */
enum pc_h1_rverdict pc_h1_response(struct pc_h1 *h, const uint8_t *p, size_t n, size_t *used);

/*
 * The upstream closed its side: PC_H1_R_DONE when that completes a response
 * whose body runs to the close (h->resp), PC_H1_R_MORE when no response was
 * in progress, PC_H1_R_BAD when one was cut short.
 */
enum pc_h1_rverdict pc_h1_response_eof(struct pc_h1 *h);

#endif /* PC_PROXY_H1_H */
