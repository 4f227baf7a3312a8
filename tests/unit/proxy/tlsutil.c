/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * tests/unit/proxy/tlsutil.c - hand-built ClientHellos for the proxy's
 * unit tests (tlsutil.h).
 */
#include "tlsutil.h"

#include <string.h>

/* A server_name extension holding <n> host_name entries, each <name>. */
size_t tls_sni_ext(uint8_t *out, const char *name, unsigned n)
{
	size_t len = strlen(name), list = n * (3 + len), i, o = 0;

	out[o++] = 0;
	out[o++] = 0; /* server_name */
	out[o++] = (uint8_t)((list + 2) >> 8);
	out[o++] = (uint8_t)(list + 2);
	out[o++] = (uint8_t)(list >> 8);
	out[o++] = (uint8_t)list;
	for (i = 0; i < n; i++) {
		out[o++] = 0; /* host_name */
		out[o++] = (uint8_t)(len >> 8);
		out[o++] = (uint8_t)len;
		memcpy(out + o, name, len);
		o += len;
	}
	return o;
}

/* A TLS 1.2-style record holding a ClientHello with the extensions <ext>. */
size_t tls_hello(uint8_t *out, const uint8_t *ext, size_t extlen)
{
	size_t o = 9, body;

	out[o++] = 3;
	out[o++] = 3;
	memset(out + o, 0xab, 32);
	o += 32;
	out[o++] = 0;                        /* session id */
	memcpy(out + o, "\x00\x02\x13\x01", 4); /* one cipher suite */
	o += 4;
	memcpy(out + o, "\x01\x00", 2); /* null compression */
	o += 2;
	out[o++] = (uint8_t)(extlen >> 8);
	out[o++] = (uint8_t)extlen;
	memcpy(out + o, ext, extlen);
	o += extlen;
	body = o - 9;
	out[0] = 0x16;
	out[1] = 3;
	out[2] = 1;
	out[3] = (uint8_t)((body + 4) >> 8);
	out[4] = (uint8_t)(body + 4);
	out[5] = 1;
	out[6] = 0;
	out[7] = (uint8_t)(body >> 8);
	out[8] = (uint8_t)body;
	return o;
}
