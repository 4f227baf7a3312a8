/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * net/proctcp.c - the lines of /proc/net/tcp and /proc/net/tcp6 (proctcp.h).
 */
#include "net/proctcp.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Fields: "sl:" LOCAL REMOTE ST TX:RX TR:WHEN RETR UID TIMEOUT INODE ... */
#define F_LOCAL  1
#define F_REMOTE 2
#define F_STATE  3
#define F_UID    7
#define F_INODE  9
#define NFIELDS  10

void pc_tcp_map_v4(uint8_t out[16], const void *v4)
{
	memset(out, 0, 10);
	out[10] = out[11] = 0xff;
	memcpy(out + 12, v4, 4);
}

bool pc_tcp_is_v4(const uint8_t a[16])
{
	static const uint8_t prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	return memcmp(a, prefix, sizeof(prefix)) == 0;
}

/* The hex address <s> of a table (8 digits, or 32 in tcp6) in <out>. */
static bool parse_hex_addr(const char *s, uint8_t out[16])
{
	size_t n = strlen(s), i;
	uint8_t raw[16];
	char word[9];
	uint32_t w;

	if (n != 8 && n != 32)
		return false;
	for (i = 0; i < n / 8; i++) {
		memcpy(word, s + 8 * i, 8);
		word[8] = '\0';
		w = (uint32_t)strtoul(word, NULL, 16);
		memcpy(raw + 4 * i, &w, 4); /* back to the kernel's bytes */
	}
	if (n == 8)
		pc_tcp_map_v4(out, raw);
	else
		memcpy(out, raw, 16);
	return true;
}

/* The hex number <s> up to <stop> (or the end), at most <max>. */
static bool parse_hex(const char *s, char stop, unsigned long max, unsigned long *out)
{
	char *end;

	if (!isxdigit((unsigned char)*s))
		return false;
	errno = 0;
	*out = strtoul(s, &end, 16);
	return !errno && *end == stop && *out <= max;
}

/* The decimal number <s>, at most <max>. */
static bool parse_dec(const char *s, unsigned long max, unsigned long *out)
{
	char *end;

	if (!isdigit((unsigned char)*s))
		return false;
	errno = 0;
	*out = strtoul(s, &end, 10);
	return !errno && !*end && *out <= max;
}

/* "HEX:PORT" of a table whose addresses have <digits> digits. */
static bool parse_ep(char *s, size_t digits, struct pc_tcp_ep *ep)
{
	unsigned long port;

	if (strlen(s) < digits + 2 || s[digits] != ':' ||
	    !parse_hex(s + digits + 1, '\0', 0xffff, &port))
		return false;
	s[digits] = '\0';
	if (strspn(s, "0123456789ABCDEFabcdef") != digits || !parse_hex_addr(s, ep->addr))
		return false;
	ep->port = (uint16_t)port;
	return true;
}

bool pc_tcp_row_parse(const char *line, bool v6, struct pc_tcp_row *r)
{
	char copy[512], *field[NFIELDS], *save = NULL;
	size_t len = strcspn(line, "\n"), digits = v6 ? 32 : 8;
	unsigned long st, uid;
	int n;

	if (len >= sizeof(copy))
		return false;
	memcpy(copy, line, len);
	copy[len] = '\0';
	for (n = 0; n < NFIELDS; n++) {
		field[n] = strtok_r(n ? NULL : copy, " \t", &save);
		if (!field[n])
			return false;
	}
	if (!parse_dec(field[F_UID], UINT32_MAX, &uid) ||
	    !parse_dec(field[F_INODE], ~0UL, &r->inode) ||
	    !parse_hex(field[F_STATE], '\0', 0xff, &st) ||
	    !parse_ep(field[F_LOCAL], digits, &r->local) ||
	    !parse_ep(field[F_REMOTE], digits, &r->remote))
		return false;
	r->state = (unsigned)st;
	r->uid = (unsigned)uid;
	return true;
}
