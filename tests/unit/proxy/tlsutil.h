/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * tests/unit/proxy/tlsutil.h - hand-built ClientHellos, shared by the
 * sniffer's and the session's unit tests.
 */
#ifndef PC_TEST_TLSUTIL_H
#define PC_TEST_TLSUTIL_H

#include <stddef.h>
#include <stdint.h>

/* A server_name extension holding <n> host_name entries, each <name>, into <out>; its length. */
size_t tls_sni_ext(uint8_t *out, const char *name, unsigned n);

/*
 * A TLS 1.2-style record holding a ClientHello with the extensions <ext>
 * (<extlen> bytes) into <out>: 9 + 2 + 32 + 1 + 4 + 2 + 2 + <extlen>
 * bytes. Returns its length.
 */
size_t tls_hello(uint8_t *out, const uint8_t *ext, size_t extlen);

#endif /* PC_TEST_TLSUTIL_H */
