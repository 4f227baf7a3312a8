/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * net/addr.c - IPv4/IPv6 addresses and prefixes, parsed and printed.
 *
 * Text goes through inet_pton(3)/inet_ntop(3) and nothing else, so every
 * address form the C library accepts is accepted here and no other: glibc
 * takes dotted quads only (no "10.1", no hex, no octal, no leading zeros in
 * an octet) and the RFC 4291 IPv6 forms including an embedded dotted quad.
 * Zones ("fe80::1%eth0") are rejected: a policy names networks, not links.
 *
 * The prefix length is as strict as Go's netip.ParsePrefix since Go 1.22
 * (golang/go#63850, after RFC 4632 3.1 and RFC 4291 2.3): ASCII digits only,
 * no sign, no leading zero ("/08" is an error, "/0" is not), at most 32 or
 * 128. Host bits are cleared, not rejected, because Istio accepts
 * 10.0.0.77/24 and means 10.0.0.0/24.
 *
 * Invariants of the values produced here: bytes past the family's length
 * (4 or 16) are zero, a prefix has every bit past <len> clear and port 0.
 * The functions that read addresses do not rely on the first one.
 */
#include "net/addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

/* Longest address text inet_pton() can accept, with its NUL. */
#define ADDR_TEXT_MAX INET6_ADDRSTRLEN

static unsigned family_bytes(unsigned family)
{
	return family == AF_INET ? 4 : 16;
}

static unsigned family_bits(unsigned family)
{
	return family == AF_INET ? 32 : 128;
}

static bool is_family(unsigned family)
{
	return family == AF_INET || family == AF_INET6;
}

/* <out> is written only on success. */
int pc_addr_parse(const char *s, struct pc_addr *out)
{
	struct pc_addr a;

	memset(&a, 0, sizeof(a));
	if (inet_pton(AF_INET, s, a.bytes) == 1) {
		a.family = AF_INET;
	} else if (!strchr(s, '%') && inet_pton(AF_INET6, s, a.bytes) == 1) {
		/* glibc already rejects "%zone"; the strchr() says we mean it. */
		a.family = AF_INET6;
	} else {
		return -EINVAL;
	}
	*out = a;
	return 0;
}

/*
 * Parse a prefix length of at most <max> from the NUL-terminated <s>.
 * Returns the length or -EINVAL.
 */
static int parse_len(const char *s, unsigned max)
{
	unsigned n = 0;

	if (!*s || (s[0] == '0' && s[1]))
		return -EINVAL; /* empty, or a leading zero */
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		n = n * 10 + (unsigned)(*s - '0');
		if (n > max)
			return -EINVAL; /* also stops overflow on long input */
	}
	return (int)n;
}

/* Clear every bit of <a> past the first <len>. */
static void clear_host_bits(struct pc_addr *a, unsigned len)
{
	unsigned i = len / 8;

	if (len % 8) {
		a->bytes[i] &= (uint8_t)(0xff << (8 - len % 8));
		i++;
	}
	memset(a->bytes + i, 0, sizeof(a->bytes) - i);
}

int pc_prefix_parse(const char *s, struct pc_prefix *out)
{
	char text[ADDR_TEXT_MAX];
	const char *slash = strchr(s, '/');
	struct pc_prefix p;
	size_t n;
	int len;

	n = slash ? (size_t)(slash - s) : strlen(s);
	if (n == 0 || n >= sizeof(text))
		return -EINVAL;
	memcpy(text, s, n);
	text[n] = '\0';

	memset(&p, 0, sizeof(p));
	if (pc_addr_parse(text, &p.addr) < 0)
		return -EINVAL;

	len = (int)family_bits(p.addr.family);
	if (slash) {
		len = parse_len(slash + 1, (unsigned)len);
		if (len < 0)
			return -EINVAL;
	}
	p.len = (uint8_t)len;
	clear_host_bits(&p.addr, p.len);
	*out = p;
	return 0;
}

bool pc_addr_is_loopback(const struct pc_addr *a)
{
	static const uint8_t lo6[16] = { [15] = 1 };

	return (a->family == AF_INET && a->bytes[0] == 127) ||
	       (a->family == AF_INET6 && memcmp(a->bytes, lo6, sizeof(lo6)) == 0);
}

bool pc_prefix_is_host(const struct pc_prefix *p)
{
	return p->len == (p->addr.family == AF_INET6 ? 128 : 32);
}

bool pc_prefix_contains(const struct pc_prefix *p, const struct pc_addr *a)
{
	unsigned full, rest;

	if (p->addr.family != a->family || !is_family(a->family) || p->len > family_bits(a->family))
		return false;
	full = p->len / 8;
	rest = p->len % 8;
	if (memcmp(p->addr.bytes, a->bytes, full) != 0)
		return false;
	if (rest) {
		uint8_t mask = (uint8_t)(0xff << (8 - rest));

		return ((p->addr.bytes[full] ^ a->bytes[full]) & mask) == 0;
	}
	return true;
}

bool pc_addr_equal(const struct pc_addr *a, const struct pc_addr *b)
{
	/* Only the family's bytes count, whatever the rest holds. */
	return a->family == b->family && is_family(a->family) &&
	       memcmp(a->bytes, b->bytes, family_bytes(a->family)) == 0;
}

void pc_addr_unmap(struct pc_addr *a)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	if (a->family != AF_INET6 || memcmp(a->bytes, mapped, sizeof(mapped)) != 0)
		return;
	a->family = AF_INET;
	memmove(a->bytes, a->bytes + 12, 4);
	memset(a->bytes + 4, 0, sizeof(a->bytes) - 4);
}

const char *pc_addr_str(const struct pc_addr *a, char *buf)
{
	/* Both families fit in PC_ADDR_STRLEN, so inet_ntop() cannot fail. */
	if (!is_family(a->family) || !inet_ntop(a->family, a->bytes, buf, PC_ADDR_STRLEN))
		snprintf(buf, PC_ADDR_STRLEN, "?");
	return buf;
}

const char *pc_addr_port_str(const struct pc_addr *a, char *buf)
{
	char ip[PC_ADDR_STRLEN];

	pc_addr_str(a, ip);
	/* 45 + "[]:65535" is 53 bytes: never truncated. */
	snprintf(buf, PC_ADDR_STRLEN, a->family == AF_INET6 ? "[%s]:%u" : "%s:%u", ip,
		 (unsigned)a->port);
	return buf;
}

int pc_addr_from_sockaddr(const struct sockaddr *sa, struct pc_addr *out)
{
	struct sockaddr_in6 sin6;
	struct sockaddr_in sin;
	struct pc_addr a;

	/*
	 * Copy out rather than cast: <sa> is often a struct sockaddr_storage
	 * and reading it through another struct type is an aliasing bet.
	 */
	memset(&a, 0, sizeof(a));
	switch (sa->sa_family) {
	case AF_INET:
		memcpy(&sin, sa, sizeof(sin));
		a.family = AF_INET;
		memcpy(a.bytes, &sin.sin_addr, 4);
		a.port = ntohs(sin.sin_port);
		break;
	case AF_INET6:
		/* sin6_scope_id is dropped: zones are not supported. */
		memcpy(&sin6, sa, sizeof(sin6));
		a.family = AF_INET6;
		memcpy(a.bytes, &sin6.sin6_addr, 16);
		a.port = ntohs(sin6.sin6_port);
		break;
	default:
		return -EAFNOSUPPORT;
	}
	*out = a;
	return 0;
}

/* Returns the length to pass to connect(2)/bind(2), or 0 for an unknown family. */
socklen_t pc_addr_to_sockaddr(const struct pc_addr *a, struct sockaddr_storage *ss)
{
	struct sockaddr_in6 sin6;
	struct sockaddr_in sin;

	memset(ss, 0, sizeof(*ss));
	switch (a->family) {
	case AF_INET:
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_port = htons(a->port);
		memcpy(&sin.sin_addr, a->bytes, 4);
		memcpy(ss, &sin, sizeof(sin));
		return sizeof(sin);
	case AF_INET6:
		memset(&sin6, 0, sizeof(sin6));
		sin6.sin6_family = AF_INET6;
		sin6.sin6_port = htons(a->port);
		memcpy(&sin6.sin6_addr, a->bytes, 16);
		memcpy(ss, &sin6, sizeof(sin6));
		return sizeof(sin6);
	default:
		return 0;
	}
}
