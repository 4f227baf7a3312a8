/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuzz/fuzz_sniff.c - libFuzzer target: the first bytes of a denied client
 * (proxy/deny.c's sniffer) and the answers built for it.
 *
 * The input is what a client sent. Checked against properties that share
 * no code with the sniffer:
 *
 *  - fed every prefix of the input (up to PC_DENY_SNIFF_MAX + 4 bytes, as
 *    the proxy reads it in pieces), the sniffer says "more" until it
 *    decides, then never changes its mind, and never says "more" for
 *    PC_DENY_SNIFF_MAX bytes;
 *  - "http" only for a known method and a space at the start, "tls" only
 *    for a record head 0x16 0x03 0x00..0x04, a length of 4..18432 and a
 *    ClientHello; and always for those;
 *  - the answers for it are well formed: the TLS alert echoes the record
 *    version, the 403's Content-Length is its body's length, the MySQL
 *    ERR packet's 3-byte length is the rest of the packet, whatever the
 *    buffer sizes (taken from the input too) and the destination (the
 *    input's bytes as an IPv4 or IPv6 address and port).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "net/addr.h"
#include "proxy/deny.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool is_http(const uint8_t *p, size_t n)
{
	static const char *const m[] = { "GET",     "HEAD",  "POST",    "PUT",  "DELETE",
					 "OPTIONS", "PATCH", "CONNECT", "TRACE" };
	size_t i;

	for (i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		size_t len = strlen(m[i]);

		if (n > len && memcmp(p, m[i], len) == 0 && p[len] == ' ')
			return true;
	}
	return false;
}

static bool is_tls(const uint8_t *p, size_t n)
{
	unsigned len;

	if (n < 6 || p[0] != 0x16 || p[1] != 3 || p[2] > 4)
		return false;
	len = (unsigned)p[3] << 8 | p[4];
	return len >= 4 && len <= 18432 && p[5] == 1;
}

static void check_sniff(const uint8_t *data, size_t size)
{
	enum pc_sniff first = PC_SNIFF_MORE, got;
	size_t n, max = size < PC_DENY_SNIFF_MAX + 4 ? size : PC_DENY_SNIFF_MAX + 4;

	for (n = 0; n <= max; n++) {
		got = pc_deny_sniff(data, n);
		if (first != PC_SNIFF_MORE && got != first)
			abort(); /* changed its mind */
		if (got == PC_SNIFF_MORE && n >= PC_DENY_SNIFF_MAX)
			abort(); /* undecided with all the bytes it may ever get */
		if (got == PC_SNIFF_HTTP && !is_http(data, n))
			abort();
		if (got == PC_SNIFF_TLS && !is_tls(data, n))
			abort();
		if (got != PC_SNIFF_HTTP && is_http(data, n))
			abort();
		if (got != PC_SNIFF_TLS && is_tls(data, n))
			abort();
		first = got;
	}
}

static void check_answers(const uint8_t *data, size_t size)
{
	uint8_t alert[PC_DENY_TLS_ALERT_LEN], pkt[600];
	char msg[256], http[700], *body, *cl, *end;
	struct pc_addr dst = { 0 };
	size_t n, len, cap;
	unsigned long clen;

	if (size < 20)
		return;
	dst.family = data[0] & 1 ? AF_INET6 : AF_INET;
	memcpy(dst.bytes, data + 1, 16);
	dst.port = (uint16_t)(data[17] << 8 | data[18]);
	cap = 1 + data[19] % sizeof(msg);
	len = pc_deny_sentence(msg, cap, &dst, data[0] & 2);
	if (len >= cap || strlen(msg) != len)
		abort();

	pc_deny_tls_alert(alert, data[1], data[2]);
	if (alert[0] != 21 || alert[1] != data[1] || alert[2] != data[2] || alert[6] != 49)
		abort();

	cap = 7 + data[3] % (sizeof(pkt) - 7);
	n = pc_deny_mysql_err(pkt, cap, msg);
	if (n > cap || n < 7 || (size_t)(pkt[0] | pkt[1] << 8 | pkt[2] << 16) != n - 4 ||
	    pkt[3] != 0 || pkt[4] != 0xff || memcmp(pkt + 7, msg, n - 7) != 0)
		abort();

	cap = 1 + data[4] % sizeof(http);
	n = pc_deny_http_403(http, cap, msg, data[0] & 4);
	if (n == 0)
		return; /* too small: refused, never cut */
	if (n >= cap || strlen(http) != n || strncmp(http, "HTTP/1.1 403 Forbidden\r\n", 24) != 0)
		abort();
	body = strstr(http, "\r\n\r\n");
	cl = strstr(http, "Content-Length: ");
	if (!body || !cl)
		abort();
	clen = strtoul(cl + 16, &end, 10);
	if (end == cl + 16 || *end != '\r')
		abort();
	body += 4;
	if (data[0] & 4 ? *body != '\0' || clen != len + 1 : strlen(body) != clen)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_sniff(data, size);
	check_answers(data, size);
	return 0;
}
