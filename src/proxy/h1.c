/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * proxy/h1.c - the HTTP/1.x filter: request heads held until allowed,
 * bodies framed strictly, responses matched to their requests.
 *
 * Two views of every request byte, and they must agree. Ours comes first:
 * a byte-at-a-time scanner copies the head into h->head and rejects bare
 * LF, lone CR, NUL, obs-fold and over-long heads as the bytes arrive; each
 * completed line is checked against RFC 9112's grammar (request line 3,
 * field lines 5); the complete head is then read again for its meaning
 * (Host, Content-Length, Transfer-Encoding, Upgrade). libhttp-parser is the
 * second opinion: it parses the complete head in one call, then every body
 * byte our framing accepted, and it must say the message ends where we do.
 * Debian builds it with HTTP_PARSER_STRICT=0 (bare LF, junk after chunk
 * data and obs-fold pass), which is why it is not the first line.
 *
 * Released bytes are always a prefix of a stream both views accept, so the
 * upstream never sees a byte that a stricter or laxer reader could take
 * for the start of another request.
 */
#include "proxy/h1.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <strings.h>

enum {
	RS_IDLE,   /* between requests */
	RS_HEAD,   /* scanning a head into h->head */
	RS_DECIDE, /* a head is complete, the caller has not allowed it yet */
	RS_BODY,   /* releasing an allowed request's body */
	RS_BAD,    /* refused: sticky */
	RS_H2,     /* HTTP/2: sticky */
};

enum {
	B_LENGTH,  /* Content-Length: <remain> bytes left */
	B_SIZE,    /* chunk-size hex digits */
	B_SIZE_WS, /* BWS after the size, before ';' */
	B_EXT,     /* chunk extensions, up to CR */
	B_SIZE_LF, /* the LF after the size line */
	B_DATA,    /* chunk data: <remain> bytes left */
	B_DATA_CR, /* the CR after chunk data */
	B_DATA_LF, /* the LF after chunk data */
	B_TRAILER, /* the start of a trailer line (or the final CRLF) */
	B_TNAME,   /* a trailer field name */
	B_TVALUE,  /* a trailer field value, up to CR */
	B_TLF,     /* the LF after a trailer field */
	B_END_LF,  /* the LF of the final CRLF */
};

#define CHUNK_SIZE_LIMIT (1ull << 60)
#define CL_DIGITS_MAX    18 /* below 10^18: no overflow, and more than any body */

static int req_headers_cb(http_parser *rp);
static int req_done_cb(http_parser *rp);
static int resp_headers_cb(http_parser *sp);
static int resp_done_cb(http_parser *sp);

static const http_parser_settings req_settings = {
	.on_headers_complete = req_headers_cb,
	.on_message_complete = req_done_cb,
};

static const http_parser_settings resp_settings = {
	.on_headers_complete = resp_headers_cb,
	.on_message_complete = resp_done_cb,
};

/* -- characters (RFC 9110 5.6.2, 5.5) --------------------------------------- */

static bool is_tchar(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* A field-value byte: VCHAR, SP, HTAB, obs-text. Never NUL, CR, LF, other controls, DEL. */
static bool is_vbyte(uint8_t c)
{
	return c == '\t' || (c >= ' ' && c != 0x7f);
}

static int hexval(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool ieq(const char *p, size_t n, const char *lit)
{
	return n == strlen(lit) && strncasecmp(p, lit, n) == 0;
}

/* <p, n> with optional whitespace trimmed at both ends. */
static void trim(const char **p, size_t *n)
{
	while (*n && (**p == ' ' || **p == '\t')) {
		(*p)++;
		(*n)--;
	}
	while (*n && ((*p)[*n - 1] == ' ' || (*p)[*n - 1] == '\t'))
		(*n)--;
}

/* The comma-separated list <p, n> holds the token <tok> (case-insensitive; "tok/version" too). */
static bool list_has(const char *p, size_t n, const char *tok)
{
	while (n) {
		const char *comma = memchr(p, ',', n), *e;
		size_t len = comma ? (size_t)(comma - p) : n, tl;

		e = p;
		tl = len;
		trim(&e, &tl);
		if (memchr(e, '/', tl))
			tl = (size_t)((const char *)memchr(e, '/', tl) - e);
		if (ieq(e, tl, tok))
			return true;
		if (!comma)
			break;
		n -= len + 1;
		p = comma + 1;
	}
	return false;
}

/* -- authorities (RFC 3986 3.2.2, 3.2.3) ------------------------------------- */

struct auth {
	size_t namelen;
	bool is_ip, has_port;
	uint16_t port;
	char name[PC_SNIFF_NAME_MAX + 1];
};

static int parse_port(const char *p, size_t n, struct auth *a)
{
	unsigned v = 0;
	size_t i;

	if (n == 0 || n > 5)
		return -EBADMSG;
	for (i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -EBADMSG;
		v = v * 10 + (unsigned)(p[i] - '0');
	}
	if (v == 0 || v > 65535)
		return -EBADMSG;
	a->port = (uint16_t)v;
	a->has_port = true;
	return 0;
}

/* An IPv4 literal ("203.0.113.9"): a host whose last label is all digits is never a DNS name. */
static bool last_label_numeric(const char *p, size_t n)
{
	size_t i = n;

	if (n && p[n - 1] == '.')
		i--;
	if (i == 0)
		return false;
	while (i > 0 && p[i - 1] != '.') {
		if (p[i - 1] < '0' || p[i - 1] > '9')
			return false;
		i--;
	}
	return true;
}

/* "host", "host:port", "[v6]", "[v6]:port" into <a>: 0 or -EBADMSG. */
static int parse_authority(const char *p, size_t n, struct auth *a)
{
	char tmp[INET6_ADDRSTRLEN];
	unsigned char bin[16];
	const char *colon;
	size_t hn, i;

	memset(a, 0, sizeof(*a));
	if (n && p[0] == '[') {
		const char *end = memchr(p, ']', n);

		if (!end)
			return -EBADMSG;
		hn = (size_t)(end - p - 1);
		if (hn == 0 || hn >= sizeof(tmp))
			return -EBADMSG;
		for (i = 0; i < hn; i++)
			tmp[i] = (char)(p[1 + i] >= 'A' && p[1 + i] <= 'F' ? p[1 + i] + 32
									   : p[1 + i]);
		tmp[hn] = '\0';
		if (inet_pton(AF_INET6, tmp, bin) != 1)
			return -EBADMSG;
		memcpy(a->name, tmp, hn + 1);
		a->namelen = hn;
		a->is_ip = true;
		i = (size_t)(end - p) + 1;
		if (i == n)
			return 0;
		if (p[i] != ':')
			return -EBADMSG;
		return parse_port(p + i + 1, n - i - 1, a);
	}
	colon = memchr(p, ':', n);
	hn = colon ? (size_t)(colon - p) : n;
	if (colon && parse_port(colon + 1, n - hn - 1, a) < 0)
		return -EBADMSG;
	if (last_label_numeric(p, hn)) {
		if (hn >= sizeof(tmp))
			return -EBADMSG;
		memcpy(tmp, p, hn);
		tmp[hn] = '\0';
		if (inet_pton(AF_INET, tmp, bin) != 1)
			return -EBADMSG;
		memcpy(a->name, tmp, hn + 1);
		a->namelen = hn;
		a->is_ip = true;
		return 0;
	}
	a->namelen = pc_sniff_copy_name((const uint8_t *)p, hn, a->name);
	return a->namelen ? 0 : -EBADMSG;
}

/* -- the request head -------------------------------------------------------- */

static enum pc_h1_verdict bad(struct pc_h1 *h, unsigned status, const char *reason)
{
	h->rstate = RS_BAD;
	h->status = status;
	h->reason = reason;
	return PC_H1_BAD;
}

/* The parts of a request line already checked by request_line(). */
struct rline {
	const char *method, *target;
	size_t mlen, tlen;
	unsigned minor;
};

/* Methods are case-sensitive (RFC 9110 9.1). */
static bool meq(const struct rline *rl, const char *m)
{
	return rl->mlen == strlen(m) && memcmp(rl->method, m, rl->mlen) == 0;
}

static void split_request_line(const char *p, size_t n, struct rline *rl)
{
	const char *sp1 = memchr(p, ' ', n), *sp2;

	rl->method = p;
	rl->mlen = (size_t)(sp1 - p);
	rl->target = sp1 + 1;
	sp2 = memchr(rl->target, ' ', n - rl->mlen - 1);
	rl->tlen = (size_t)(sp2 - rl->target);
	rl->minor = (unsigned)(p[n - 1] - '0');
}

/* method SP request-target SP HTTP-version (RFC 9112 3): exactly one SP each. */
static enum pc_h1_verdict request_line(struct pc_h1 *h, const char *p, size_t n)
{
	size_t i = 0, t;

	if (n == 14 && memcmp(p, "PRI * HTTP/2.0", 14) == 0) {
		h->rstate = RS_H2;
		h->reason = "HTTP/2 prior knowledge (h2c) is not supported";
		return PC_H1_H2;
	}
	while (i < n && is_tchar((uint8_t)p[i]))
		i++;
	if (i == 0 || i == n || p[i] != ' ')
		return bad(h, 400, "malformed request line");
	t = ++i;
	while (i < n && p[i] > ' ' && p[i] < 0x7f)
		i++;
	if (i == t || i == n || p[i] != ' ')
		return bad(h, 400, "malformed request-target");
	i++;
	if (n - i != 8 || memcmp(p + i, "HTTP/1.", 7) != 0 || (p[n - 1] != '0' && p[n - 1] != '1'))
		return bad(h, 400, "unsupported HTTP version");
	return PC_H1_MORE;
}

/* field-name ":" OWS field-value OWS (RFC 9112 5): no whitespace before the colon. */
static enum pc_h1_verdict field_line(struct pc_h1 *h, const char *p, size_t n)
{
	size_t i = 0;

	while (i < n && is_tchar((uint8_t)p[i]))
		i++;
	if (i == 0 || i == n || p[i] != ':')
		return bad(h, 400, "malformed header field name");
	for (i++; i < n; i++) {
		if (!is_vbyte((uint8_t)p[i]))
			return bad(h, 400, "control character in a header field value");
	}
	return PC_H1_MORE;
}

/* What the head's fields say, gathered by read_fields(). */
struct fields {
	unsigned nhost, ncl, nte;
	const char *host;
	size_t hostlen;
	uint64_t cl;
	bool te_chunked, conn_upgrade, upgrade, h2c;
};

static int content_length(const char *v, size_t n, uint64_t *out)
{
	uint64_t x = 0;
	size_t i;

	if (n == 0 || n > CL_DIGITS_MAX)
		return -EBADMSG;
	for (i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -EBADMSG;
		x = x * 10 + (uint64_t)(v[i] - '0');
	}
	*out = x;
	return 0;
}

/* Walk the field lines of the complete head (each already checked by field_line()). */
static enum pc_h1_verdict read_fields(struct pc_h1 *h, const char *p, const char *end,
				      struct fields *f)
{
	memset(f, 0, sizeof(*f));
	while (p < end) {
		const char *eol = memchr(p, '\r', (size_t)(end - p)), *colon, *v;
		size_t nl, vn;

		if (eol == p)
			break; /* the empty line */
		colon = memchr(p, ':', (size_t)(eol - p));
		v = colon + 1;
		nl = (size_t)(colon - p);
		vn = (size_t)(eol - v);
		trim(&v, &vn);
		if (ieq(p, nl, "host")) {
			f->nhost++;
			f->host = v;
			f->hostlen = vn;
		} else if (ieq(p, nl, "content-length")) {
			if (++f->ncl > 1)
				return bad(h, 400, "more than one Content-Length");
			if (content_length(v, vn, &f->cl) < 0)
				return bad(h, 400, "invalid Content-Length");
		} else if (ieq(p, nl, "transfer-encoding")) {
			f->nte++;
			f->te_chunked = ieq(v, vn, "chunked");
		} else if (ieq(p, nl, "connection")) {
			f->conn_upgrade |= list_has(v, vn, "upgrade");
		} else if (ieq(p, nl, "upgrade")) {
			f->upgrade = true;
			f->h2c |= list_has(v, vn, "h2c");
		}
		p = eol + 2;
	}
	return PC_H1_MORE;
}

/* The target's authority (absolute form, CONNECT's authority form) into <a>; 0 when none. */
static enum pc_h1_verdict target_authority(struct pc_h1 *h, const struct rline *rl, bool connect,
					   struct auth *a, bool *has)
{
	const char *t = rl->target, *s;
	size_t n = rl->tlen, i;

	*has = false;
	if (connect) {
		if (parse_authority(t, n, a) < 0 || !a->has_port)
			return bad(h, 400, "invalid CONNECT authority");
		*has = true;
		return PC_H1_MORE;
	}
	if (t[0] == '/')
		return PC_H1_MORE; /* origin form */
	if (n == 1 && t[0] == '*') {
		if (!meq(rl, "OPTIONS"))
			return bad(h, 400, "asterisk-form target on a method other than OPTIONS");
		return PC_H1_MORE;
	}
	s = memchr(t, ':', n);
	if (!s || (size_t)(s - t) + 3 > n || memcmp(s, "://", 3) != 0 ||
	    !(ieq(t, (size_t)(s - t), "http") || ieq(t, (size_t)(s - t), "https")))
		return bad(h, 400, "malformed request-target");
	s += 3;
	n -= (size_t)(s - t);
	for (i = 0; i < n && s[i] != '/' && s[i] != '?' && s[i] != '#'; i++) {
		if (s[i] == '@')
			return bad(h, 400, "userinfo in the request-target");
	}
	if (parse_authority(s, i, a) < 0)
		return bad(h, 400, "invalid authority in the request-target");
	*has = true;
	return PC_H1_MORE;
}

/* libhttp-parser's reading of the target must name the same host and port. */
static bool url_agrees(const struct rline *rl, bool connect, const struct auth *a)
{
	struct http_parser_url u;
	const char *host;
	size_t hl;

	http_parser_url_init(&u);
	if (http_parser_parse_url(rl->target, rl->tlen, connect, &u) != 0 ||
	    (u.field_set & (1 << UF_USERINFO)) || !(u.field_set & (1 << UF_HOST)))
		return false;
	host = rl->target + u.field_data[UF_HOST].off;
	hl = u.field_data[UF_HOST].len;
	if (hl && host[hl - 1] == '.' && !a->is_ip)
		hl--;
	return hl == a->namelen && strncasecmp(host, a->name, hl) == 0 &&
	       u.port == (a->has_port ? a->port : 0);
}

/* libhttp-parser's second opinion on the complete head <h->head>. */
static bool parser_agrees(struct pc_h1 *h, const struct rline *rl, const struct fields *f)
{
	const char *m;
	size_t r;
	bool body = f->te_chunked || f->cl > 0;

	http_parser_init(&h->rp, HTTP_REQUEST);
	h->rp.data = h;
	h->rp_head = h->rp_done = false;
	r = http_parser_execute(&h->rp, &req_settings, h->head, h->headlen);
	if (HTTP_PARSER_ERRNO(&h->rp) == HPE_PAUSED)
		http_parser_pause(&h->rp, 0);
	else if (HTTP_PARSER_ERRNO(&h->rp) != HPE_OK)
		return false;
	m = http_method_str((enum http_method)h->rp.method);
	return r == h->headlen && h->rp_head && h->rp_done == !body && strlen(m) == rl->mlen &&
	       memcmp(m, rl->method, rl->mlen) == 0 && h->rp.http_major == 1 &&
	       h->rp.http_minor == rl->minor && !!(h->rp.flags & F_CHUNKED) == f->te_chunked &&
	       (f->te_chunked || f->ncl == 0 || h->rp.content_length == f->cl);
}

static void fill_req(struct pc_h1 *h, const struct rline *rl, const struct fields *f,
		     const struct auth *a, bool connect)
{
	struct pc_h1_req *q = &h->req;

	memset(q, 0, sizeof(*q));
	q->seq = h->seq;
	q->method = h->rp.method;
	q->method_name = http_method_str((enum http_method)h->rp.method);
	q->http_minor = rl->minor;
	q->connect = connect;
	q->upgrade = f->upgrade;
	q->keep_alive = http_should_keep_alive(&h->rp) != 0;
	q->absolute = !connect && rl->target[0] != '/' && rl->target[0] != '*';
	q->chunked = f->te_chunked;
	q->content_length = f->te_chunked ? 0 : f->cl;
	if (a) {
		q->is_ip = a->is_ip;
		q->port = a->has_port ? a->port : 0;
		q->namelen = a->namelen;
		memcpy(q->name, a->name, a->namelen + 1);
	}
	q->targetlen = rl->tlen > PC_H1_TARGET_MAX ? PC_H1_TARGET_MAX : rl->tlen;
	q->target_cut = rl->tlen > PC_H1_TARGET_MAX;
	memcpy(q->target, rl->target, q->targetlen);
	q->target[q->targetlen] = '\0';
}

/* The head is complete in h->head: check what it means, and ask libhttp-parser. */
static enum pc_h1_verdict finish_head(struct pc_h1 *h)
{
	const char *p = h->head, *end = h->head + h->headlen;
	const char *eol = memchr(p, '\r', h->headlen);
	struct auth ta, ha, *a = NULL;
	enum pc_h1_verdict v;
	struct rline rl;
	struct fields f;
	bool connect, has_ta;

	split_request_line(p, (size_t)(eol - p), &rl);
	connect = meq(&rl, "CONNECT");
	v = read_fields(h, eol + 2, end, &f);
	if (v != PC_H1_MORE)
		return v;
	if (f.nte && rl.minor == 0)
		return bad(h, 400, "Transfer-Encoding on HTTP/1.0");
	if (f.nte > 1 || (f.nte && !f.te_chunked))
		return bad(h, 400, "Transfer-Encoding other than chunked");
	if (f.nte && f.ncl)
		return bad(h, 400, "both Content-Length and Transfer-Encoding");
	if (connect && (f.nte || f.cl))
		return bad(h, 400, "CONNECT with content");
	if (f.nhost > 1)
		return bad(h, 400, "more than one Host");
	if (f.nhost == 0 && rl.minor == 1)
		return bad(h, 400, "no Host on HTTP/1.1");
	v = target_authority(h, &rl, connect, &ta, &has_ta);
	if (v != PC_H1_MORE)
		return v;
	if (has_ta && !url_agrees(&rl, connect, &ta))
		return bad(h, 400, "libhttp-parser reads the request-target differently");
	if (f.nhost && parse_authority(f.host, f.hostlen, &ha) < 0)
		return bad(h, 400, "invalid Host");
	if (has_ta && f.nhost &&
	    (ta.namelen != ha.namelen || memcmp(ta.name, ha.name, ta.namelen) != 0 ||
	     (ta.has_port && ha.has_port && ta.port != ha.port)))
		return bad(h, 400, "Host differs from the request-target's authority");
	if (has_ta)
		a = &ta;
	else if (f.nhost)
		a = &ha;
	if (!parser_agrees(h, &rl, &f))
		return bad(h, 400, "libhttp-parser reads the request head differently");
	fill_req(h, &rl, &f, a, connect);
	if (f.upgrade && f.h2c) {
		h->rstate = RS_H2; /* h->req is filled, for the log line */
		h->reason = "Upgrade to HTTP/2 (h2c) is not supported";
		return PC_H1_H2;
	}
	h->rstate = RS_DECIDE;
	return PC_H1_HEAD;
}

/* A line of the head ended at head[off + len] (its CRLF excluded). */
static enum pc_h1_verdict line_done(struct pc_h1 *h, uint32_t off, uint32_t len)
{
	if (off == 0)
		return request_line(h, h->head, len);
	if (len == 0)
		return finish_head(h);
	return field_line(h, h->head + off, len);
}

/* Scan head bytes from <p> into h->head; <*i> advances past every byte consumed. */
static enum pc_h1_verdict scan_head(struct pc_h1 *h, const uint8_t *p, size_t n, size_t *i)
{
	while (*i < n) {
		uint8_t c = p[*i];
		enum pc_h1_verdict v;

		if (h->headlen == PC_H1_HEAD_MAX)
			return bad(h, 431, "request head larger than PC_H1_HEAD_MAX");
		h->head[h->headlen++] = (char)c;
		(*i)++;
		if (h->was_cr) {
			if (c != '\n')
				return bad(h, 400, "CR not followed by LF in the request head");
			h->was_cr = false;
			v = line_done(h, h->linestart, h->headlen - 2 - h->linestart);
			h->linestart = h->headlen;
			if (v != PC_H1_MORE)
				return v;
		} else if (c == '\r') {
			h->was_cr = true;
		} else if (c == '\n') {
			return bad(h, 400, "bare LF in the request head");
		} else if (c == '\0') {
			return bad(h, 400, "NUL in the request head");
		} else if (h->linestart && h->headlen - 1 == h->linestart &&
			   (c == ' ' || c == '\t')) {
			return bad(h, 400, "obs-fold (a header line starting with whitespace)");
		}
	}
	return PC_H1_MORE;
}

/* -- the body ---------------------------------------------------------------- */

/* What one framing byte did. */
enum { FB_MORE, FB_SAFE, FB_END, FB_FAULT };

static int fault(const char **why, const char *text)
{
	*why = text;
	return FB_FAULT;
}

/* A byte of a chunk-size line or of the CRLF after chunk data (RFC 9112 7.1). */
static int chunk_line_byte(struct pc_h1 *h, uint8_t c, const char **why)
{
	int x;

	if (h->bstate <= B_SIZE_LF && ++h->linelen > PC_H1_CHUNK_LINE_MAX)
		return fault(why, "chunk-size line too long");
	switch (h->bstate) {
	case B_SIZE:
		x = hexval(c);
		if (x >= 0) {
			h->remain = h->remain * 16 + (uint64_t)x;
			if (++h->sizedigits > 16 || h->remain >= CHUNK_SIZE_LIMIT)
				return fault(why, "chunk size too large");
		} else if (h->sizedigits && c == ';') {
			h->bstate = B_EXT;
		} else if (h->sizedigits && (c == ' ' || c == '\t')) {
			h->bstate = B_SIZE_WS;
		} else if (h->sizedigits && c == '\r') {
			h->bstate = B_SIZE_LF;
		} else {
			return fault(why, "invalid chunk size");
		}
		return FB_MORE;
	case B_SIZE_WS:
		if (c == ';')
			h->bstate = B_EXT;
		else if (c != ' ' && c != '\t')
			return fault(why, "invalid chunk size");
		return FB_MORE;
	case B_EXT:
		if (c == '\r')
			h->bstate = B_SIZE_LF;
		else if (!is_vbyte(c))
			return fault(why, "invalid chunk extension");
		return FB_MORE;
	case B_SIZE_LF:
		if (c != '\n')
			return fault(why, "chunk framing without CRLF");
		h->linelen = 0;
		h->bstate = h->remain ? B_DATA : B_TRAILER;
		return FB_SAFE;
	case B_DATA_CR:
		if (c != '\r')
			return fault(why, "chunk framing without CRLF");
		h->bstate = B_DATA_LF;
		return FB_MORE;
	default: /* B_DATA_LF */
		if (c != '\n')
			return fault(why, "chunk framing without CRLF");
		h->bstate = B_SIZE;
		h->sizedigits = 0;
		h->linelen = 0;
		return FB_SAFE;
	}
}

/* A byte of the trailer section and the final CRLF (RFC 9112 7.1.2): field lines, no folding. */
static int trailer_byte(struct pc_h1 *h, uint8_t c, const char **why)
{
	if (++h->linelen > PC_H1_TRAILER_MAX)
		return fault(why, "chunked trailer too large");
	switch (h->bstate) {
	case B_TRAILER:
		if (c == '\r')
			h->bstate = B_END_LF;
		else if (is_tchar(c))
			h->bstate = B_TNAME;
		else
			return fault(why, "invalid chunked trailer");
		return FB_MORE;
	case B_TNAME:
		if (c == ':')
			h->bstate = B_TVALUE;
		else if (!is_tchar(c))
			return fault(why, "invalid chunked trailer");
		return FB_MORE;
	case B_TVALUE:
		if (c == '\r')
			h->bstate = B_TLF;
		else if (!is_vbyte(c))
			return fault(why, "invalid chunked trailer");
		return FB_MORE;
	case B_TLF:
		if (c != '\n')
			return fault(why, "chunk framing without CRLF");
		h->bstate = B_TRAILER;
		return FB_SAFE;
	default: /* B_END_LF */
		if (c != '\n')
			return fault(why, "chunk framing without CRLF");
		return FB_END;
	}
}

/*
 * Frame body bytes from <p, n> up to the next point where a framing
 * element is complete (<*safe>): a run of data bytes, a size line, a CRLF
 * or a trailer line with its LF, or the message's end (<*end>). Returns how
 * many bytes it took; at a fault, <*why> is set and the count includes the
 * faulty byte. Only complete elements are released, so the upstream never
 * sees part of a framing line.
 */
static size_t frame_body(struct pc_h1 *h, const uint8_t *p, size_t n, bool *end, bool *safe,
			 const char **why)
{
	size_t i = 0;
	int ret = FB_MORE;

	*end = *safe = false;
	if (n && (h->bstate == B_LENGTH || h->bstate == B_DATA)) {
		size_t take = n < h->remain ? n : (size_t)h->remain;

		h->remain -= take;
		*safe = true;
		if (h->remain == 0 && h->bstate == B_LENGTH)
			*end = true;
		else if (h->remain == 0)
			h->bstate = B_DATA_CR;
		return take;
	}
	while (i < n && ret == FB_MORE) {
		uint8_t c = p[i++];

		ret = h->bstate >= B_TRAILER ? trailer_byte(h, c, why) : chunk_line_byte(h, c, why);
	}
	*safe = ret == FB_SAFE || ret == FB_END;
	*end = ret == FB_END;
	return i;
}

/* The allowed request's message ended: what may follow. */
static void message_end(struct pc_h1 *h)
{
	h->rstate = RS_IDLE;
	h->headlen = 0;
}

/*
 * Body bytes from <p, n>, one framing element at a time: framed by us,
 * then by libhttp-parser, then released. Element by element, so that where
 * the parser objects, what was released is the same however the bytes came.
 */
static enum pc_h1_verdict body(struct pc_h1 *h, const uint8_t *p, size_t n, size_t *i)
{
	while (*i < n && h->rstate == RS_BODY) {
		const char *why = NULL;
		bool end, safe;
		size_t k = frame_body(h, p + *i, n - *i, &end, &safe, &why), r;

		if (why) {
			*i += k;
			return bad(h, 400, why);
		}
		h->rp_done = false;
		r = http_parser_execute(&h->rp, &req_settings, (const char *)p + *i, k);
		if (HTTP_PARSER_ERRNO(&h->rp) == HPE_PAUSED) {
			http_parser_pause(&h->rp, 0);
		} else if (HTTP_PARSER_ERRNO(&h->rp) != HPE_OK) {
			*i += r;
			return bad(h, 400, "libhttp-parser refuses the request body");
		}
		if (r != k || h->rp_done != end) {
			*i += r;
			return bad(h, 400, "libhttp-parser ends the request body elsewhere");
		}
		*i += k;
		if (safe)
			h->released = h->fed + *i;
		if (end)
			message_end(h);
	}
	return PC_H1_MORE;
}

/* -- the request side --------------------------------------------------------- */

void pc_h1_init(struct pc_h1 *h)
{
	memset(h, 0, sizeof(*h));
	h->rstate = RS_IDLE;
}

/* Between requests: may another start? PC_H1_MORE when it may. */
static enum pc_h1_verdict idle(struct pc_h1 *h, size_t left)
{
	if (h->switching)
		return PC_H1_SWITCHING;
	if (h->qlen == PC_H1_PIPELINE_MAX)
		return PC_H1_FULL;
	if (left && h->closing)
		return bad(h, 400, "a request after the connection's last request");
	if (left) {
		h->rstate = RS_HEAD;
		h->headlen = 0;
		h->linestart = 0;
		h->was_cr = false;
	}
	return PC_H1_MORE;
}

enum pc_h1_verdict pc_h1_request(struct pc_h1 *h, const uint8_t *p, size_t n, size_t *used)
{
	enum pc_h1_verdict v = PC_H1_MORE;
	size_t i = 0;

	while (v == PC_H1_MORE) {
		if (h->opaque && h->rstate != RS_BAD && h->rstate != RS_H2) {
			h->fed += n;
			h->released = h->fed;
			*used = n;
			return PC_H1_OPAQUE;
		}
		switch (h->rstate) {
		case RS_IDLE:
			v = idle(h, n - i);
			if (i == n && v == PC_H1_MORE)
				goto out;
			break;
		case RS_HEAD:
			if (i == n)
				goto out;
			v = scan_head(h, p, n, &i);
			break;
		case RS_DECIDE:
			v = PC_H1_HEAD;
			break;
		case RS_BODY:
			if (i == n)
				goto out;
			v = body(h, p, n, &i);
			break;
		case RS_H2:
			v = PC_H1_H2;
			break;
		default:
			v = PC_H1_BAD;
			break;
		}
	}
out:
	h->fed += i;
	*used = i;
	return v;
}

int pc_h1_allow(struct pc_h1 *h, uint64_t tag)
{
	struct pc_h1_pending *e;

	if (h->rstate != RS_DECIDE || h->qlen == PC_H1_PIPELINE_MAX)
		return -EINVAL;
	e = &h->q[(h->qhead + h->qlen) % PC_H1_PIPELINE_MAX];
	h->qlen++;
	e->tag = tag;
	e->seq = h->seq++;
	e->method = (uint8_t)h->req.method;
	e->upgrade = h->req.connect || h->req.upgrade;
	h->switching = e->upgrade;
	h->closing = !h->req.keep_alive;
	h->released = h->fed;
	if (h->rp_done) {
		message_end(h);
		return 0;
	}
	h->rstate = RS_BODY;
	h->linelen = 0;
	h->sizedigits = 0;
	h->remain = h->req.chunked ? 0 : h->req.content_length;
	h->bstate = h->req.chunked ? B_SIZE : B_LENGTH;
	return 0;
}

uint64_t pc_h1_fed(const struct pc_h1 *h)
{
	return h->fed;
}

uint64_t pc_h1_released(const struct pc_h1 *h)
{
	return h->released;
}

unsigned pc_h1_pending_count(const struct pc_h1 *h)
{
	return h->qlen;
}

bool pc_h1_would_exceed(const struct pc_h1 *h)
{
	return h->qlen >= PC_H1_PIPELINE_MAX;
}

static int req_headers_cb(http_parser *rp)
{
	struct pc_h1 *h = rp->data;

	h->rp_head = true;
	return 0;
}

static int req_done_cb(http_parser *rp)
{
	struct pc_h1 *h = rp->data;

	h->rp_done = true;
	http_parser_pause(rp, 1); /* stop at the message's last byte, see http_parser.h */
	return 0;
}

/* -- the response side --------------------------------------------------------- */

/*
 * Whether the response has a body, in http_parser.h's terms: 0 yes (per its
 * framing), 1 no, 2 no and the rest is another protocol; -1 refuses it.
 */
static int resp_headers_cb(http_parser *sp)
{
	struct pc_h1 *h = sp->data;
	const struct pc_h1_pending *e = &h->q[h->qhead];
	unsigned st = sp->status_code;

	if (st == 101) {
		if (!e->upgrade || e->method == HTTP_CONNECT) {
			h->reason = "101 Switching Protocols to a request that asked no upgrade";
			h->sp_bad = true;
			return -1;
		}
		h->sp_switch = true;
		return 2;
	}
	if (st < 200) {
		h->sp_interim = true;
		return 1;
	}
	if (e->method == HTTP_CONNECT && st < 300) {
		h->sp_switch = true;
		return 2;
	}
	return e->method == HTTP_HEAD || st == 204 || st == 304 ? 1 : 0;
}

static int resp_done_cb(http_parser *sp)
{
	struct pc_h1 *h = sp->data;

	h->sp_done = true;
	http_parser_pause(sp, 1);
	return 0;
}

static enum pc_h1_rverdict resp_bad(struct pc_h1 *h, const char *reason)
{
	h->sp_bad = true;
	if (reason)
		h->reason = reason;
	return PC_H1_R_BAD;
}

/* The response being parsed is complete: an interim one, or the answer to the FIFO's head. */
static enum pc_h1_rverdict resp_complete(struct pc_h1 *h)
{
	const struct pc_h1_pending *e = &h->q[h->qhead];

	h->sp_in = false;
	if (h->sp_interim)
		return PC_H1_R_MORE;
	h->resp.seq = e->seq;
	h->resp.tag = e->tag;
	h->resp.method = e->method;
	h->resp.status = h->sp.status_code;
	h->resp.bytes = h->sp_bytes;
	h->sp_bytes = 0;
	h->qhead = (uint8_t)((h->qhead + 1) % PC_H1_PIPELINE_MAX);
	h->qlen--;
	if (h->sp_switch) {
		h->opaque = true;
		return PC_H1_R_SWITCH;
	}
	if (e->upgrade)
		h->switching = false; /* declined: the client's bytes are HTTP again */
	return PC_H1_R_DONE;
}

enum pc_h1_rverdict pc_h1_response(struct pc_h1 *h, const uint8_t *p, size_t n, size_t *used)
{
	enum pc_h1_rverdict v = PC_H1_R_MORE;
	size_t i = 0, r;

	*used = 0;
	if (h->opaque) {
		*used = n;
		return PC_H1_R_MORE;
	}
	if (h->sp_bad)
		return PC_H1_R_BAD;
	while (i < n && v == PC_H1_R_MORE) {
		if (!h->sp_in) {
			if (h->qlen == 0)
				return resp_bad(h, "a response to no request");
			http_parser_init(&h->sp, HTTP_RESPONSE);
			h->sp.data = h;
			h->sp_in = true;
			h->sp_done = h->sp_switch = h->sp_interim = false;
		}
		r = http_parser_execute(&h->sp, &resp_settings, (const char *)p + i, n - i);
		i += r;
		h->sp_bytes += r;
		*used = i;
		if (HTTP_PARSER_ERRNO(&h->sp) == HPE_PAUSED)
			http_parser_pause(&h->sp, 0);
		else if (HTTP_PARSER_ERRNO(&h->sp) != HPE_OK || h->sp_bad)
			return resp_bad(
				h, h->sp_bad ? NULL
					     : http_errno_description(HTTP_PARSER_ERRNO(&h->sp)));
		if (h->sp_done)
			v = resp_complete(h);
		else if (r == 0)
			return resp_bad(h, "response parser stalled");
	}
	return v;
}

enum pc_h1_rverdict pc_h1_response_eof(struct pc_h1 *h)
{
	if (h->opaque || !h->sp_in || h->sp_bad)
		return h->sp_bad ? PC_H1_R_BAD : PC_H1_R_MORE;
	http_parser_execute(&h->sp, &resp_settings, NULL, 0);
	if (HTTP_PARSER_ERRNO(&h->sp) == HPE_PAUSED)
		http_parser_pause(&h->sp, 0);
	if (!h->sp_done || h->sp_interim)
		return resp_bad(h, "response cut short by the upstream's close");
	return resp_complete(h);
}
