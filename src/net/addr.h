/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * net/addr.h - IPv4/IPv6 addresses and prefixes, parsed and printed.
 *
 * struct pc_addr holds one IP address (family, 16 bytes in network order,
 * IPv4 in the first 4) and optionally a port; struct pc_prefix an address
 * and a prefix length with the host bits cleared. Both convert to and from
 * struct sockaddr_storage for the socket layer. IPv4-mapped IPv6 addresses
 * (::ffff:a.b.c.d) are kept as IPv6; pc_addr_unmap() turns them into IPv4
 * where a caller wants that (an IPv6 socket accepting IPv4 clients).
 */
#ifndef PC_NET_ADDR_H
#define PC_NET_ADDR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#define PC_ADDR_STRLEN 64 /* "[v6]:port" with room to spare */

struct pc_addr {
	uint8_t family; /* AF_INET or AF_INET6 */
	uint8_t bytes[16];
	uint16_t port; /* host order; 0 when unknown */
};

struct pc_prefix {
	struct pc_addr addr; /* host bits cleared, port 0 */
	uint8_t len;         /* 0..32 or 0..128 */
};

/* Parse "192.0.2.1" or "2001:db8::1" (no port, no zone). Returns 0 or -EINVAL. */
int pc_addr_parse(const char *s, struct pc_addr *out);

/*
 * Parse "192.0.2.0/24" or "2001:db8::/32"; a plain address is a /32 or
 * /128. Host bits are cleared (Istio accepts 10.0.0.77/24 as 10.0.0.0/24).
 * Returns 0 or -EINVAL.
 */
int pc_prefix_parse(const char *s, struct pc_prefix *out);

/* Does <p> cover <a>? Families must match. */
bool pc_prefix_contains(const struct pc_prefix *p, const struct pc_addr *a);

/* Is <a> a loopback address: 127.0.0.0/8 or ::1 (not ::ffff:127.0.0.1)? */
bool pc_addr_is_loopback(const struct pc_addr *a);

/* Is <p> one address (/32, /128)? */
bool pc_prefix_is_host(const struct pc_prefix *p);

/* Same family and bytes (ports ignored). */
bool pc_addr_equal(const struct pc_addr *a, const struct pc_addr *b);

/* ::ffff:a.b.c.d -> a.b.c.d; anything else unchanged. */
void pc_addr_unmap(struct pc_addr *a);

/* "192.0.2.1" / "2001:db8::1" into <buf> (PC_ADDR_STRLEN). Returns <buf>. */
const char *pc_addr_str(const struct pc_addr *a, char *buf);

/* "192.0.2.1:3306" / "[2001:db8::1]:3306" into <buf> (PC_ADDR_STRLEN). Returns <buf>. */
const char *pc_addr_port_str(const struct pc_addr *a, char *buf);

/* From/to a socket address. pc_addr_from_sockaddr returns -EAFNOSUPPORT for other families. */
int pc_addr_from_sockaddr(const struct sockaddr *sa, struct pc_addr *out);
socklen_t pc_addr_to_sockaddr(const struct pc_addr *a, struct sockaddr_storage *ss);

#endif /* PC_NET_ADDR_H */
