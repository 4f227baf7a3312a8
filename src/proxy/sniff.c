/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * proxy/sniff.c - the first-bytes parser: kind, TLS SNI, HTTP/1 Host.
 *
 * Written after nginx's ngx_stream_ssl_preread_module.c (a ClientHello
 * walked field by field, NGX_AGAIN until it is whole) and HAProxy's
 * req.ssl_sni / req.hdr(host) fetches, but as one pure function over the
 * bytes seen so far: the session peeks (MSG_PEEK) and calls it again on the
 * longer prefix, so it needs no state of its own. Every length is checked
 * against what is left before it is used; every decision depends only on
 * bytes already seen, which is what makes "more bytes never change a final
 * answer" hold (the fuzz target checks it).
 *
 * A ClientHello may be split over several handshake records (RFC 8446
 * 5.1; tools do it on purpose to slip past SNI filters): the records'
 * payloads are joined into a local copy of at most PC_SNIFF_HELLO_MAX
 * bytes before the hello is parsed.
 */
#include "proxy/sniff.h"

#include <errno.h>
#include <string.h>

#define RECORD_MAX  (16384 + 2048) /* TLSCiphertext.length, RFC 5246 6.2.3: the kind */
#define PLAIN_MAX   16384          /* TLSPlaintext.length, RFC 8446 5.1: a hello's records */
#define HS_CLIENT_HELLO 1
#define EXT_SERVER_NAME 0
#define NAME_HOST       0

/* -- the kind --------------------------------------------------------------- */

/* TLS record header (RFC 8446 5.1) and the handshake type that follows it. */
static enum pc_sniff kind_tls(const uint8_t *p, size_t n)
{
	unsigned len;

	if (n < 2)
		return PC_SNIFF_MORE;
	if (p[1] != 0x03)
		return PC_SNIFF_OTHER;
	if (n < 3)
		return PC_SNIFF_MORE;
	if (p[2] > 0x04)
		return PC_SNIFF_OTHER;
	if (n < 5)
		return PC_SNIFF_MORE;
	len = (unsigned)p[3] << 8 | p[4];
	if (len < 4 || len > RECORD_MAX)
		return PC_SNIFF_OTHER;
	if (n < 6)
		return PC_SNIFF_MORE;
	return p[5] == HS_CLIENT_HELLO ? PC_SNIFF_TLS : PC_SNIFF_OTHER;
}

enum pc_sniff pc_sniff_kind(const uint8_t *p, size_t n)
{
	static const char *const methods[] = { "GET ",     "HEAD ",  "POST ",    "PUT ",  "DELETE ",
					       "OPTIONS ", "PATCH ", "CONNECT ", "TRACE " };
	bool more = false;
	size_t i;

	if (n == 0)
		return PC_SNIFF_MORE;
	if (p[0] == 0x16)
		return kind_tls(p, n);
	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		size_t len = strlen(methods[i]);

		if (memcmp(p, methods[i], n < len ? n : len) != 0)
			continue;
		if (n >= len)
			return PC_SNIFF_HTTP;
		more = true;
	}
	return more ? PC_SNIFF_MORE : PC_SNIFF_OTHER;
}

/* -- names ------------------------------------------------------------------ */

static bool is_name_char(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_' || c == '.';
}

size_t pc_sniff_copy_name(const uint8_t *p, size_t n, char *out)
{
	size_t i, label = 0;

	if (n && p[n - 1] == '.')
		n--; /* the root: "example.com." is "example.com" */
	if (n == 0 || n > PC_SNIFF_NAME_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		uint8_t c = p[i];

		if (!is_name_char(c))
			return 0;
		if (c == '.') {
			if (label == 0)
				return 0; /* empty label */
			label = 0;
		} else if (++label > 63) {
			return 0;
		}
		out[i] = (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
	}
	out[n] = '\0';
	return n;
}

/* An IPv4 literal ("203.0.113.9"): a name whose last label is all digits is never a DNS name. */
static bool is_ip_literal(const char *name, size_t n)
{
	size_t i = n;

	while (i > 0 && name[i - 1] != '.') {
		if (name[i - 1] < '0' || name[i - 1] > '9')
			return false;
		i--;
	}
	return true;
}

/* Set the name from <p>: 0, or -EBADMSG when it is no host name. IP literals are no name. */
static int set_name(struct pc_sniffed *out, const uint8_t *p, size_t n)
{
	size_t len = pc_sniff_copy_name(p, n, out->name);

	if (len == 0) {
		out->name[0] = '\0';
		return -EBADMSG;
	}
	if (is_ip_literal(out->name, len)) {
		out->name[0] = '\0';
		return 0;
	}
	out->namelen = len;
	return 0;
}

static enum pc_sniff fail(struct pc_sniffed *out, int err)
{
	out->err = err;
	out->namelen = 0;
	out->name[0] = '\0';
	return out->kind;
}

/* -- TLS -------------------------------------------------------------------- */

/* A cursor over a length-checked byte string. */
struct rd {
	const uint8_t *p;
	size_t n;
	bool bad;
};

static unsigned get8(struct rd *r)
{
	if (r->n < 1) {
		r->bad = true;
		return 0;
	}
	r->n--;
	return *r->p++;
}

static unsigned get16(struct rd *r)
{
	unsigned v = get8(r) << 8;

	return v | get8(r);
}

/* The next <len> bytes as a cursor of their own. */
static struct rd sub(struct rd *r, size_t len)
{
	struct rd s = { r->p, len, false };

	if (r->bad || len > r->n) {
		r->bad = true;
		s.n = 0;
		s.bad = true;
		return s;
	}
	r->p += len;
	r->n -= len;
	return s;
}

/* The server_name extension (RFC 6066 3): exactly one host_name. */
static int server_name(struct rd ext, struct pc_sniffed *out)
{
	struct rd list = sub(&ext, get16(&ext));
	bool seen = false;
	int ret = 0;

	if (ext.bad || ext.n || list.n == 0)
		return -EBADMSG;
	while (list.n) {
		unsigned type = get8(&list);
		struct rd name = sub(&list, get16(&list));

		if (list.bad)
			return -EBADMSG;
		if (type != NAME_HOST)
			continue;
		if (seen)
			return -EBADMSG; /* "MUST NOT contain more than one name of the same name_type" */
		seen = true;
		ret = set_name(out, name.p, name.n);
		if (ret < 0)
			return ret;
	}
	return ret;
}

/*
 * A whole ClientHello body (RFC 8446 4.1.2, RFC 5246 7.4.1.2). Any extension
 * twice is malformed (RFC 8446 4.2: "MUST NOT be more than one extension of the
 * same type"), not only server_name: servers refuse such a hello (OpenSSL's
 * tls_collect_extensions() does), so neither is a name read from it.
 */
static int client_hello(struct rd h, struct pc_sniffed *out)
{
	uint8_t seen[65536 / 8];
	struct rd exts, ext;
	int ret;

	get16(&h);       /* legacy_version */
	sub(&h, 32);     /* random */
	ext = sub(&h, get8(&h)); /* legacy_session_id */
	if (ext.n > 32)
		return -EBADMSG;
	ext = sub(&h, get16(&h)); /* cipher_suites */
	if (ext.n < 2 || ext.n % 2)
		return -EBADMSG;
	ext = sub(&h, get8(&h)); /* legacy_compression_methods */
	if (h.bad || ext.n < 1)
		return -EBADMSG;
	if (h.n == 0)
		return 0; /* no extensions at all (SSL 3.0 style): no name */
	exts = sub(&h, get16(&h));
	if (h.bad || h.n)
		return -EBADMSG; /* nothing may follow the extensions */
	memset(seen, 0, sizeof(seen));
	while (exts.n) {
		unsigned type = get16(&exts);

		ext = sub(&exts, get16(&exts));
		if (exts.bad)
			return -EBADMSG;
		if (seen[type / 8] & 1u << type % 8)
			return -EBADMSG; /* RFC 8446 4.2: never twice */
		seen[type / 8] |= (uint8_t)(1u << type % 8);
		if (type != EXT_SERVER_NAME)
			continue;
		ret = server_name(ext, out);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/*
 * Join the handshake records' payloads until the ClientHello (4-byte header
 * plus its length) is whole, then parse it.
 */
static enum pc_sniff sniff_tls(const uint8_t *p, size_t n, struct pc_sniffed *out)
{
	uint8_t hs[4 + PC_SNIFF_HELLO_MAX];
	size_t off = 0, have = 0, want = 4;
	bool sized = false;
	struct rd body;
	int ret;

	out->rec_major = p[1];
	out->rec_minor = p[2];
	for (;;) {
		size_t rlen, avail, pos;

		if (n - off < 5)
			return PC_SNIFF_MORE;
		if (p[off] != 0x16 || p[off + 1] != 0x03)
			return fail(out, -EBADMSG); /* anything but handshake before the hello is whole */
		rlen = (size_t)p[off + 3] << 8 | p[off + 4];
		if (rlen == 0 || rlen > PLAIN_MAX)
			return fail(out, -EBADMSG); /* a plaintext record over 2^14: servers refuse it */
		avail = n - off - 5 < rlen ? n - off - 5 : rlen;
		pos = off + 5;
		while (pos < off + 5 + avail && have < want) {
			size_t take = off + 5 + avail - pos;

			if (take > want - have)
				take = want - have;
			memcpy(hs + have, p + pos, take);
			have += take;
			pos += take;
			if (!sized && have == 4) {
				size_t len = (size_t)hs[1] << 16 | (size_t)hs[2] << 8 | hs[3];

				if (hs[0] != HS_CLIENT_HELLO)
					return fail(out, -EBADMSG);
				if (len > PC_SNIFF_HELLO_MAX)
					return fail(out, -EMSGSIZE);
				sized = true;
				want = 4 + len;
			}
		}
		if (sized && have == want)
			break;
		if (avail < rlen)
			return PC_SNIFF_MORE; /* this record goes on */
		off += 5 + rlen;
	}
	body.p = hs + 4;
	body.n = want - 4;
	body.bad = false;
	ret = client_hello(body, out);
	return ret < 0 ? fail(out, ret) : PC_SNIFF_TLS;
}

/* -- HTTP/1 ----------------------------------------------------------------- */

static bool is_tchar(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

static bool ieq(const uint8_t *p, size_t n, const char *lit)
{
	size_t i;

	if (n != strlen(lit))
		return false;
	for (i = 0; i < n; i++) {
		uint8_t c = p[i] >= 'A' && p[i] <= 'Z' ? (uint8_t)(p[i] + 32) : p[i];

		if (c != (uint8_t)lit[i])
			return false;
	}
	return true;
}

/*
 * "host", "host:port", "[v6]:port" (RFC 3986 3.2.2, 3.2.3) into the name.
 * An IP literal gives no name; a port must be 1..5 digits.
 */
static int authority(const uint8_t *p, size_t n, struct pc_sniffed *out)
{
	size_t host = n, i;

	if (n && p[0] == '[') {
		for (i = 1; i < n && p[i] != ']'; i++)
			;
		if (i == n || (i + 1 < n && p[i + 1] != ':'))
			return -EBADMSG;
		host = i + 1;
		if (host < n && (n - host - 1 == 0 || n - host - 1 > 5))
			return -EBADMSG;
		for (i = host + 1; i < n; i++) {
			if (p[i] < '0' || p[i] > '9')
				return -EBADMSG;
		}
		return 0; /* an IPv6 literal: no name */
	}
	for (i = 0; i < n; i++) {
		if (p[i] == ':') {
			host = i;
			break;
		}
	}
	if (host < n) {
		if (n - host - 1 == 0 || n - host - 1 > 5)
			return -EBADMSG;
		for (i = host + 1; i < n; i++) {
			if (p[i] < '0' || p[i] > '9')
				return -EBADMSG;
		}
	}
	return set_name(out, p, host);
}

/*
 * The request line: method SP request-target SP HTTP-version (RFC 9112 3).
 * For the absolute form and CONNECT's authority form, the target's
 * authority in <*auth>; for the others <*auth> stays NULL.
 */
static int request_line(const uint8_t *p, size_t n, const uint8_t **auth, size_t *authlen)
{
	const uint8_t *sp1 = memchr(p, ' ', n), *sp2, *t;
	size_t tn, i;

	if (!sp1)
		return -EBADMSG;
	t = sp1 + 1;
	sp2 = memchr(t, ' ', n - (size_t)(t - p));
	if (!sp2 || sp2 == t)
		return -EBADMSG;
	tn = (size_t)(sp2 - t);
	if (n - (size_t)(sp2 + 1 - p) != 8 || memcmp(sp2 + 1, "HTTP/1.", 7) != 0 ||
	    (sp2[8] != '0' && sp2[8] != '1'))
		return -EBADMSG;
	for (i = 0; i < tn; i++) {
		if (t[i] <= ' ' || t[i] >= 0x7f)
			return -EBADMSG;
	}
	*auth = NULL;
	if (sp1 - p == 7 && memcmp(p, "CONNECT", 7) == 0) {
		*auth = t; /* authority-form: "host:port" */
		*authlen = tn;
		return 0;
	}
	if (t[0] == '/' || (tn == 1 && t[0] == '*'))
		return 0; /* origin-form, asterisk-form: the Host field names it */
	for (i = 0; i < tn && t[i] != ':'; i++)
		;
	if (i + 3 > tn || memcmp(t + i, "://", 3) != 0 ||
	    !(ieq(t, i, "http") || ieq(t, i, "https")))
		return -EBADMSG;
	t += i + 3;
	tn -= i + 3;
	for (i = 0; i < tn && t[i] != '/' && t[i] != '?' && t[i] != '#'; i++) {
		if (t[i] == '@')
			return -EBADMSG; /* userinfo: refused rather than parsed */
	}
	*auth = t;
	*authlen = i;
	return 0;
}

/* One header field line "name: value": the Host field's value, trimmed, when it is one. */
static int field(const uint8_t *p, size_t n, const uint8_t **host, size_t *hostlen, int *nhost)
{
	const uint8_t *colon = memchr(p, ':', n), *v, *end = p + n;
	size_t i;

	if (!colon || colon == p)
		return -EBADMSG;
	for (i = 0; p + i < colon; i++) {
		if (!is_tchar(p[i]))
			return -EBADMSG; /* includes whitespace before the colon, RFC 9112 5.1 */
	}
	for (v = colon + 1; v < end; v++) {
		if (*v == 0 || *v == '\r' || *v == '\n' || *v == 0x7f)
			return -EBADMSG;
	}
	if (!ieq(p, (size_t)(colon - p), "host"))
		return 0;
	if (++*nhost > 1)
		return -EBADMSG; /* two Host fields: RFC 9112 3.2 says 400 */
	v = colon + 1;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	*host = v;
	*hostlen = (size_t)(end - v);
	return 0;
}

static enum pc_sniff sniff_http(const uint8_t *p, size_t n, struct pc_sniffed *out)
{
	const uint8_t *auth = NULL, *host = NULL, *line = p, *lf;
	size_t authlen = 0, hostlen = 0, lim = n < PC_SNIFF_HEAD_MAX ? n : PC_SNIFF_HEAD_MAX;
	bool first = true, v11 = false;
	int nhost = 0, ret;

	out->head = n >= 5 && memcmp(p, "HEAD ", 5) == 0;
	for (;;) {
		size_t len;

		lf = memchr(line, '\n', lim - (size_t)(line - p));
		if (!lf)
			return n >= PC_SNIFF_HEAD_MAX ? fail(out, -EMSGSIZE) : PC_SNIFF_MORE;
		if (lf == line || lf[-1] != '\r')
			return fail(out, -EBADMSG); /* a bare LF: refused, not guessed */
		len = (size_t)(lf - 1 - line);
		if (first) {
			ret = request_line(line, len, &auth, &authlen);
			v11 = ret == 0 && line[len - 1] == '1';
			first = false;
		} else if (len == 0) {
			break; /* the empty line: the head is whole */
		} else if (line[0] == ' ' || line[0] == '\t') {
			ret = -EBADMSG; /* obs-fold */
		} else {
			ret = field(line, len, &host, &hostlen, &nhost);
		}
		if (ret < 0)
			return fail(out, ret);
		line = lf + 1;
	}
	if (auth)
		ret = authority(auth, authlen, out);
	else if (host)
		ret = authority(host, hostlen, out);
	else
		ret = v11 ? -EBADMSG : 0; /* HTTP/1.1 requires Host (RFC 9112 3.2) */
	return ret < 0 ? fail(out, ret) : PC_SNIFF_HTTP;
}

enum pc_sniff pc_sniff(const uint8_t *p, size_t n, struct pc_sniffed *out)
{
	memset(out, 0, sizeof(*out));
	out->kind = pc_sniff_kind(p, n);
	switch (out->kind) {
	case PC_SNIFF_TLS:
		out->kind = sniff_tls(p, n, out);
		if (out->kind == PC_SNIFF_MORE)
			out->rec_major = out->rec_minor = 0;
		return out->kind;
	case PC_SNIFF_HTTP:
		out->kind = sniff_http(p, n, out);
		if (out->kind == PC_SNIFF_MORE)
			out->head = false;
		return out->kind;
	default:
		return out->kind;
	}
}
