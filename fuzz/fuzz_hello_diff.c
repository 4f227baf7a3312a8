/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuzz/fuzz_hello_diff.c - differential libFuzzer target: pc_sniff()'s
 * ClientHello/SNI parser (proxy/sniff.c) against OpenSSL's.
 *
 * The input is a client's first flight. OpenSSL 3 runs as a server over
 * a memory BIO holding the same bytes; its client_hello callback (the
 * hook Envoy's tls_inspector uses with BoringSSL) takes the raw
 * server_name extension with SSL_client_hello_get0_ext() and aborts the
 * handshake. So the record layer, the joining of records, the hello's
 * fields and the extension block are OpenSSL's work; only the extension's
 * payload is read here, as RFC 6066 3 says (a list of entries, exactly one
 * host_name; entries of other types skipped, as Go's crypto/tls does;
 * OpenSSL's own parser, run after the callback, would go further and
 * refuse any list that is not one host_name, which only makes the
 * handshake fail later). Invariants:
 *
 *  A. pc_sniff() returns PC_SNIFF_TLS with a name: OpenSSL reached the
 *     callback and its extension holds that host_name (case aside, a final
 *     dot dropped). Allowed differences, where pc_sniff() has a name and
 *     OpenSSL did not reach the callback:
 *      - OpenSSL waits for the rest of the record in which the hello ends:
 *        pc_sniff() decides as soon as the hello is whole (by design: more
 *        bytes never change its answer);
 *      - OpenSSL refused the flight for a reason that lies outside what
 *        pc_sniff() reads and does not change the name, confirmed from the
 *        bytes (pass_reason() below, each with why). Any other refusal is
 *        a divergence.
 *  B. OpenSSL reached the callback with exactly one host_name that is a
 *     DNS name (letters, digits, '-', '_', labels of 1..63, at most 253
 *     bytes without a final dot, a last label not all digits): pc_sniff()
 *     returns PC_SNIFF_TLS with that name, err 0. Allowed differences,
 *     where pc_sniff() is deliberately stricter (it fails closed: no name
 *     means no name-based match, never a wrong one):
 *      - the first record is one pc_sniff_kind() does not take for TLS:
 *        a version other than 3.0..3.4 or a length outside 4..18432
 *        (a hello whose type byte is not in the first record is "other");
 *      - a record before the hello is whole that is not a handshake
 *        record of 1..16384 bytes (OpenSSL takes an empty handshake record
 *        there, which RFC 8446 5.1 and RFC 5246 6.2.1 forbid sending);
 *      - a hello over PC_SNIFF_HELLO_MAX bytes (-EMSGSIZE; OpenSSL takes
 *        up to 128 KiB);
 *      - hello fields OpenSSL checks only after the callback: an empty or
 *        odd-length cipher_suites, an empty compression_methods.
 *     SSLv2-format hellos (pc_sniff: "other") carry no extensions, so
 *     OpenSSL never sees a name in them either.
 *
 * Abort on anything else, after printing what differed. Links OpenSSL;
 * the proxy itself does not (the fuzz CMake alone finds it).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "proxy/sniff.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What the OpenSSL side saw. */
struct ossl {
	bool reached;      /* the client_hello callback ran */
	bool want_read;    /* SSL_accept() wants more bytes (without reaching the callback) */
	unsigned long err; /* else the first error queued */
	bool has_ext;      /* a server_name extension */
	int nhost;         /* host_name entries in it */
	bool well_formed;  /* the list and its entries fill the extension exactly */
	bool strict;       /* one entry, a host_name: what OpenSSL's own parser accepts */
	size_t namelen;
	char name[1024];
	size_t ciphers, comps; /* lengths of cipher_suites, compression_methods */
};

/* The record layer as pc_sniff() must read it; only for the allowed differences. */
struct flight {
	bool whole;        /* the hello's 4 + length bytes are in the input */
	bool psk_not_last; /* pre_shared_key, then more extensions */
	bool dtls_only;    /* use_srtp, an extension OpenSSL takes over DTLS only */
	bool repeated;     /* an extension type twice (RFC 8446 4.2 forbids it) */
	size_t hello_len;  /* the handshake message's length field */
	size_t rec_end;    /* where the record holding the hello's last byte ends */
	bool clean;        /* only handshake records of 1..16384 bytes up to the hello's end */
	bool first_ok;     /* the first record passes pc_sniff_kind()'s record checks */
};

/* -- OpenSSL ---------------------------------------------------------------- */

/* The server_name payload (RFC 6066 3) from the raw extension. */
static void read_sni(const unsigned char *p, size_t n, struct ossl *o)
{
	size_t list, off = 2, entries = 0;

	o->has_ext = true;
	if (n < 2)
		return;
	list = (size_t)p[0] << 8 | p[1];
	if (list != n - 2 || list == 0)
		return;
	while (off < n) {
		unsigned type;
		size_t len;

		if (n - off < 3)
			return;
		type = p[off];
		len = (size_t)p[off + 1] << 8 | p[off + 2];
		off += 3;
		if (len > n - off)
			return;
		entries++;
		if (type == 0) {
			o->nhost++;
			if (o->nhost == 1 && len < sizeof(o->name)) {
				memcpy(o->name, p + off, len);
				o->name[len] = '\0';
				o->namelen = len;
			}
		}
		off += len;
	}
	o->well_formed = true;
	o->strict = entries == 1 && o->nhost == 1;
}

static int on_hello(SSL *s, int *alert, void *arg)
{
	struct ossl *o = SSL_get_app_data(s);
	const unsigned char *p;
	size_t n;

	(void)alert;
	(void)arg;
	o->reached = true;
	o->ciphers = SSL_client_hello_get0_ciphers(s, &p);
	o->comps = SSL_client_hello_get0_compression_methods(s, &p);
	if (SSL_client_hello_get0_ext(s, TLSEXT_TYPE_server_name, &p, &n) == 1)
		read_sni(p, n, o);
	return SSL_CLIENT_HELLO_ERROR; /* read, never terminated */
}

static SSL_CTX *server_ctx(void)
{
	static SSL_CTX *ctx;

	if (ctx)
		return ctx;
	ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx)
		abort();
	/* Every version and cipher: the callback runs before any of them is chosen anyway. */
	SSL_CTX_set_min_proto_version(ctx, 0);
	SSL_CTX_set_max_proto_version(ctx, 0);
	SSL_CTX_set_security_level(ctx, 0);
	SSL_CTX_set_client_hello_cb(ctx, on_hello, NULL);
	return ctx;
}

static void run_openssl(const uint8_t *data, size_t size, struct ossl *o)
{
	SSL_CTX *ctx = server_ctx();
	BIO *rbio, *wbio;
	SSL *s;
	int ret;

	memset(o, 0, sizeof(*o));
	ERR_clear_error();
	s = SSL_new(ctx);
	rbio = BIO_new(BIO_s_mem());
	wbio = BIO_new(BIO_s_mem());
	if (!s || !rbio || !wbio)
		abort();
	BIO_set_mem_eof_return(rbio, -1); /* the end of the input: "more", not EOF */
	if (size && BIO_write(rbio, data, (int)size) != (int)size)
		abort();
	SSL_set_bio(s, rbio, wbio);
	SSL_set_app_data(s, o);
	ret = SSL_accept(s);
	if (ret == 1)
		abort(); /* a handshake cannot complete without a certificate and a client */
	if (!o->reached) {
		o->want_read = SSL_get_error(s, ret) == SSL_ERROR_WANT_READ;
		o->err = ERR_peek_error();
	}
	SSL_free(s);
	ERR_clear_error();
}

/* -- the record layer, for the allowed differences -------------------------- */

/* The extension block of a whole hello, for OpenSSL's checks of it that pc_sniff() leaves out. */
static void extensions(const uint8_t *h, size_t n, struct flight *f)
{
	static uint8_t seen[65536 / 8];
	size_t o = 2 + 32, len;

	if (n < o + 1)
		return;
	o += 1 + h[o]; /* session id */
	if (n < o + 2)
		return;
	o += 2 + ((size_t)h[o] << 8 | h[o + 1]); /* cipher suites */
	if (n < o + 1)
		return;
	o += 1 + h[o]; /* compression methods */
	if (n < o + 2)
		return;
	o += 2;
	memset(seen, 0, sizeof(seen));
	while (n >= o + 4) {
		unsigned type = (unsigned)h[o] << 8 | h[o + 1];

		if (seen[type / 8] & (1u << (type % 8)))
			f->repeated = true;
		seen[type / 8] |= (uint8_t)(1u << (type % 8));
		len = (size_t)h[o + 2] << 8 | h[o + 3];
		o += 4 + len;
		if (type == 41 && o < n)
			f->psk_not_last = true;
		if (type == 14)
			f->dtls_only = true;
	}
}

static void walk(const uint8_t *p, size_t n, struct flight *f)
{
	static uint8_t hs[4 + 65536];
	size_t off = 0, have = 0, want = 4;
	uint8_t head[4];

	memset(f, 0, sizeof(*f));
	f->clean = true;
	f->first_ok = n >= 6 && p[0] == 0x16 && p[1] == 3 && p[2] <= 4 &&
		      ((size_t)p[3] << 8 | p[4]) >= 4 && ((size_t)p[3] << 8 | p[4]) <= 18432;
	while (n - off >= 5) {
		size_t rlen = (size_t)p[off + 3] << 8 | p[off + 4], i;

		if (p[off] != 0x16 || p[off + 1] != 3 || rlen == 0 || rlen > 16384)
			f->clean = false;
		for (i = 0; i < rlen && off + 5 + i < n && have < want; i++, have++) {
			if (have < 4)
				head[have] = p[off + 5 + i];
			if (have < sizeof(hs))
				hs[have] = p[off + 5 + i];
			if (have == 3) {
				f->hello_len =
					(size_t)head[1] << 16 | (size_t)head[2] << 8 | head[3];
				want = 4 + f->hello_len;
			}
		}
		if (have == want) {
			f->whole = true;
			f->rec_end = off + 5 + rlen;
			if (want <= sizeof(hs))
				extensions(hs + 4, want - 4, f);
			return;
		}
		if (rlen > n - off - 5)
			return; /* the input ends inside this record */
		off += 5 + rlen;
	}
}

/* -- names ------------------------------------------------------------------ */

/* A DNS name (see the top), final dot already dropped. Independent of pc_sniff_copy_name(). */
static bool dns_name(const char *s, size_t n)
{
	size_t i, label = 0;
	bool digits = true;

	if (n == 0 || n > 253)
		return false;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (c == '.') {
			if (label == 0)
				return false;
			label = 0;
			digits = true;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_'))
			return false;
		if (c < '0' || c > '9')
			digits = false;
		if (++label > 63)
			return false;
	}
	return !digits;
}

static void diverged(const char *why, const struct pc_sniffed *pc, const struct ossl *o,
		     const struct flight *f)
{
	fprintf(stderr,
		"hello_diff: %s\n  pc_sniff: kind %d err %d name \"%s\"\n"
		"  openssl: reached %d want_read %d err %s ext %d nhost %d well_formed %d "
		"strict %d name \"%.*s\" ciphers %zu comps %zu\n"
		"  flight: whole %d hello_len %zu rec_end %zu clean %d first_ok %d psk_not_last %d "
		"dtls_only %d\n",
		why, pc->kind, pc->err, pc->name, o->reached, o->want_read,
		o->err ? ERR_reason_error_string(o->err) : "-", o->has_ext, o->nhost,
		o->well_formed, o->strict, (int)(o->namelen < 300 ? o->namelen : 300), o->name,
		o->ciphers, o->comps, f->whole, f->hello_len, f->rec_end, f->clean, f->first_ok,
		f->psk_not_last, f->dtls_only);
	abort();
}

/*
 * OpenSSL refusals before the callback that leave pc_sniff()'s name right: checks of
 * things pc_sniff() does not read, each of which makes a real server refuse the hello
 * (so the name is never used by a peer differently from how pc_sniff() read it).
 */
static bool pass_reason(unsigned long err, const struct flight *f)
{
	switch (ERR_GET_REASON(err)) {
	case SSL_R_BAD_EXTENSION:
		/*
		 * tls_collect_extensions(): pre_shared_key must be the last extension
		 * (RFC 8446 4.2.11), and use_srtp is refused outside DTLS. Only then:
		 * a malformed or repeated extension is refused by pc_sniff() too.
		 */
		return f->psk_not_last || f->dtls_only;
	default:
		return false;
	}
}

/* -- the target ------------------------------------------------------------- */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct pc_sniffed pc;
	struct flight f;
	struct ossl o;
	char oname[PC_SNIFF_NAME_MAX + 2];
	size_t olen = 0;
	bool ovalid = false;

	/*
	 * Only a flight starting with a handshake record can differ: pc_sniff() says
	 * TLS for nothing else, and OpenSSL reads a server_name from nothing else (an
	 * SSLv2-format hello has no extensions; any other first record is refused).
	 * Returning early keeps the fuzzer off pc_sniff()'s HTTP paths (fuzz_sniff's job).
	 */
	if (size == 0 || data[0] != 0x16)
		return 0;
	pc_sniff(data, size, &pc);
	run_openssl(data, size, &o);
	walk(data, size, &f);

	if (o.reached && o.well_formed && o.nhost == 1 && o.namelen < sizeof(oname) &&
	    memchr(o.name, '\0', o.namelen) == NULL) {
		olen = o.namelen;
		memcpy(oname, o.name, olen);
		if (olen && oname[olen - 1] == '.')
			olen--;
		oname[olen] = '\0';
		ovalid = dns_name(oname, olen);
	}

	if (getenv("HELLO_DIFF_VERBOSE")) /* what each side saw, for a corpus review */
		fprintf(stderr,
			"pc_sniff %d/%d \"%s\"  openssl reached %d want_read %d err %s "
			"name \"%s\" dns %d  first_ok %d clean %d hello_len %zu ciphers %zu comps "
			"%zu\n",
			pc.kind, pc.err, pc.name, o.reached, o.want_read,
			o.err ? ERR_reason_error_string(o.err) : "-", ovalid ? oname : "", ovalid,
			f.first_ok, f.clean, f.hello_len, o.ciphers, o.comps);

	/* A: a name from pc_sniff() is the one OpenSSL read. */
	if (pc.kind == PC_SNIFF_TLS && pc.namelen) {
		if (o.reached) {
			if (!ovalid || olen != pc.namelen || strcasecmp(oname, pc.name) != 0)
				diverged("pc_sniff has a name OpenSSL does not", &pc, &o, &f);
		} else if (o.want_read) {
			if (!(f.whole && size < f.rec_end))
				diverged("pc_sniff has a name, OpenSSL waits", &pc, &o, &f);
		} else if (!pass_reason(o.err, &f)) {
			diverged("pc_sniff has a name, OpenSSL refused the hello", &pc, &o, &f);
		}
	}

	/* B: a DNS name OpenSSL read is pc_sniff()'s, unless pc_sniff() is stricter on purpose. */
	if (ovalid && !(pc.kind == PC_SNIFF_TLS && pc.err == 0 && pc.namelen == olen &&
			strcasecmp(pc.name, oname) == 0)) {
		/*
		 * f.repeated: pc_sniff() refuses a hello with an extension type twice (RFC
		 * 8446 4.2); OpenSSL checks repeats only of the extensions it knows.
		 */
		bool stricter = !f.first_ok || !f.clean || f.hello_len > PC_SNIFF_HELLO_MAX ||
				o.ciphers == 0 || o.ciphers % 2 || o.comps == 0 || f.repeated;

		if (!stricter)
			diverged("OpenSSL has a name pc_sniff does not", &pc, &o, &f);
	}
	return 0;
}
