/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * net/dns.h - blocking DNS lookups with TTLs, for the resolver thread.
 *
 * The proxy resolves ServiceEntry hosts of DNS and DNS_ROUND_ROBIN
 * resolution off the event loops (daemon/resolver.c's thread calls these),
 * with glibc's res_n* API so that the answers' TTLs are known:
 * getaddrinfo() hides them. A name that is an IP literal resolves to
 * itself without a query.
 *
 * Threads: a struct pc_dns is one glibc res_state, and glibc keeps the
 * resolver's sockets in it: res_nquery() opens, reuses and closes them, so
 * two threads sharing one close and read each other's descriptors (and,
 * once a number is reused, a proxied connection's). A pc_dns therefore
 * belongs to one thread: create, use and free it on that thread.
 */
#ifndef PC_NET_DNS_H
#define PC_NET_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/addr.h"

struct pc_dns;

/* Whether <server> is a valid pc_dns_new() server ("IP" or "IP:port"). */
bool pc_dns_server_is_valid(const char *server);

/*
 * A resolver using <server> ("IP" or "IP:port"; NULL: /etc/resolv.conf).
 * Returns 0 and stores it in <*out>, -EINVAL for a bad server, -ENOMEM.
 */
int pc_dns_new(const char *server, struct pc_dns **out);
void pc_dns_free(struct pc_dns *dns);

/*
 * Resolve <name> (A, then AAAA) into at most <max> addresses of <out>,
 * each with port <port>. <*n> gets the count and <*ttl> the smallest TTL
 * of the answers (seconds; 0 for an IP literal). Returns 0, or:
 *   -ENOENT  the server says the name has no address (NXDOMAIN, no data)
 *   -EAGAIN  the server did not answer, or failed (SERVFAIL)
 *   -EPROTO  it refused the query, did not implement or understand it, or
 *            its answer did not parse (REFUSED, NOTIMP, FORMERR)
 *   -ENOMEM
 * Only -ENOENT says something about the name; after the others a caller
 * keeps what it knew and asks again.
 */
int pc_dns_resolve(struct pc_dns *dns, const char *name, uint16_t port, struct pc_addr *out,
		   size_t max, size_t *n, uint32_t *ttl);

#endif /* PC_NET_DNS_H */
