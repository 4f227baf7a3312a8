/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuzz/fuzz_sniff.c - libFuzzer target: a client's first bytes
 * (proxy/sniff.c: the kind, a ClientHello's SNI, an HTTP/1 Host) and the
 * answers a denial builds for them (proxy/deny.c).
 *
 * The input is what a client sent. Checked against properties that share
 * no code with the parser:
 *
 *  - fed every prefix of the input (up to PC_DENY_SNIFF_MAX + 4 bytes, as
 *    the proxy reads it in pieces), pc_sniff_kind() says "more" until it
 *    decides, then never changes its mind, and never says "more" for
 *    PC_DENY_SNIFF_MAX bytes;
 *  - pc_sniff(), fed prefixes (every one up to PREFIXES bytes, then a few
 *    longer ones and the whole input), agrees with pc_sniff_kind() once it
 *    decides, never changes its answer (kind, error, name) afterwards, is
 *    never undecided on an HTTP head longer than PC_SNIFF_HEAD_MAX, and
 *    returns names only without an error, NUL-terminated, at most
 *    PC_SNIFF_NAME_MAX bytes of [a-z0-9-_.] without empty labels, and
 *    spelled (case aside) somewhere in the input;
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
#include "proxy/sniff.h"

#define PREFIXES 300

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
		got = pc_sniff_kind(data, n);
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

/* <name> (lowercase) occurs in <p>, ignoring case. */
static bool spelled_in(const uint8_t *p, size_t n, const char *name, size_t len)
{
	size_t i, j;

	for (i = 0; i + len <= n; i++) {
		for (j = 0; j < len; j++) {
			uint8_t c = p[i + j] >= 'A' && p[i + j] <= 'Z' ? p[i + j] + 32 : p[i + j];

			if (c != (uint8_t)name[j])
				break;
		}
		if (j == len)
			return true;
	}
	return false;
}

static void check_name(const uint8_t *data, size_t n, const struct pc_sniffed *s)
{
	size_t i, label = 0;

	if (s->namelen == 0) {
		if (s->name[0] != '\0')
			abort();
		return;
	}
	if (s->err || s->kind == PC_SNIFF_MORE || s->namelen > PC_SNIFF_NAME_MAX ||
	    strlen(s->name) != s->namelen || s->name[s->namelen - 1] == '.')
		abort();
	for (i = 0; i < s->namelen; i++) {
		char c = s->name[i];

		if (c == '.') {
			if (label == 0)
				abort();
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
			abort();
		label++;
	}
	if (s->kind == PC_SNIFF_TLS) {
		/* a record boundary may cut the name: look in the records' payloads joined */
		static uint8_t joined[1 << 17];
		size_t off = 0, k = 0, len;

		while (off + 5 <= n) {
			len = (size_t)data[off + 3] << 8 | data[off + 4];
			if (len > n - off - 5)
				len = n - off - 5;
			if (k + len > sizeof(joined))
				break;
			memcpy(joined + k, data + off + 5, len);
			k += len;
			off += 5 + len;
		}
		if (!spelled_in(joined, k, s->name, s->namelen))
			abort();
		return;
	}
	if (!spelled_in(data, n, s->name, s->namelen))
		abort();
}

static void check_parse(const uint8_t *data, size_t size)
{
	static struct pc_sniffed first, got;
	bool decided = false;
	size_t n, step;

	for (n = 0; n <= size; n += step) {
		step = n < PREFIXES ? 1 : (size - n > 1 ? (size - n) / 2 : 1);
		pc_sniff(data, n, &got);
		check_name(data, n, &got);
		if (got.kind != PC_SNIFF_MORE && got.kind != pc_sniff_kind(data, n))
			abort(); /* the parser and the quick kind disagree */
		if (got.kind == PC_SNIFF_MORE && pc_sniff_kind(data, n) == PC_SNIFF_HTTP &&
		    n >= PC_SNIFF_HEAD_MAX)
			abort(); /* an HTTP head is bounded */
		if (decided && (got.kind != first.kind || got.err != first.err ||
				got.namelen != first.namelen || strcmp(got.name, first.name) != 0))
			abort(); /* more bytes changed a final answer */
		if (!decided && got.kind != PC_SNIFF_MORE) {
			first = got;
			decided = true;
		}
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
	len = pc_deny_sentence(msg, cap, &dst, data[0] & 2, NULL);
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
	check_parse(data, size);
	check_answers(data, size);
	return 0;
}
