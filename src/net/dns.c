/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * net/dns.c - A/AAAA lookups with TTLs through res_nquery(3).
 *
 * One struct __res_state per resolver (res_ninit), owned by the one thread
 * that uses it (net/dns.h), and the server can be set without touching
 * resolv.conf.
 */
#include "net/dns.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

struct pc_dns {
	struct __res_state res;
};

/* "IPv4" or "IPv4:port" into <a> (with the port). */
static int parse_server(const char *server, struct pc_addr *a)
{
	char host[PC_ADDR_STRLEN];
	const char *colon = strrchr(server, ':');
	unsigned long port = 53;
	char *end;

	snprintf(host, sizeof(host), "%s", server);
	if (colon && strchr(server, '.') && (size_t)(colon - server) < sizeof(host)) {
		host[colon - server] = '\0'; /* "IPv4:port" */
		port = strtoul(colon + 1, &end, 10);
		if (*end || port == 0 || port > 65535)
			return -EINVAL;
	}
	if (pc_addr_parse(host, a) < 0 || a->family != AF_INET)
		return -EINVAL; /* res_state's nsaddr_list holds IPv4 servers */
	a->port = (uint16_t)port;
	return 0;
}

bool pc_dns_server_is_valid(const char *server)
{
	struct pc_addr a;

	return parse_server(server, &a) == 0;
}

static int set_server(struct pc_dns *d, const char *server)
{
	struct pc_addr a;
	uint16_t port;

	if (parse_server(server, &a) < 0)
		return -EINVAL;
	port = a.port;
	memset(&d->res.nsaddr_list[0], 0, sizeof(d->res.nsaddr_list[0]));
	d->res.nsaddr_list[0].sin_family = AF_INET;
	d->res.nsaddr_list[0].sin_port = htons(port);
	memcpy(&d->res.nsaddr_list[0].sin_addr, a.bytes, 4);
	d->res.nscount = 1;
	return 0;
}

int pc_dns_new(const char *server, struct pc_dns **out)
{
	struct pc_dns *d = pc_calloc(1, sizeof(*d));
	int ret;

	if (!d)
		return -ENOMEM;
	if (res_ninit(&d->res) != 0) {
		free(d);
		return -ENOMEM;
	}
	d->res.retrans = 2; /* seconds per try */
	d->res.retry = 2;
	if (server) {
		ret = set_server(d, server);
		if (ret < 0) {
			pc_dns_free(d);
			return ret;
		}
	}
	*out = d;
	return 0;
}

void pc_dns_free(struct pc_dns *dns)
{
	if (!dns)
		return;
	res_nclose(&dns->res);
	free(dns);
}

/*
 * The largest DNS message (TCP's length prefix is 16 bits). glibc's
 * res_nquery() returns the length of the whole answer even when a TCP
 * answer did not fit the buffer and it kept only the start, so the buffer
 * holds the largest there is and the length is clamped to it anyway.
 */
#define ANSWER_MAX 65536

/*
 * Why res_nquery() found nothing, from the res_state's h_errno: -ENOENT
 * when the name has no such address (NXDOMAIN, or no data), -EAGAIN when
 * the server did not answer or failed (SERVFAIL), -EPROTO when it refused
 * or did not understand the query (REFUSED, NOTIMP, FORMERR): only the
 * first is an answer about the name.
 */
static int query_error(const struct pc_dns *d)
{
	switch (d->res.res_h_errno) {
	case HOST_NOT_FOUND:
	case NO_DATA:
		return -ENOENT;
	case TRY_AGAIN:
		return -EAGAIN;
	default:
		return -EPROTO;
	}
}

/* Append the A or AAAA answers of one query into <ans> (ANSWER_MAX bytes). */
static int query(struct pc_dns *d, const char *name, int type, uint16_t port, struct pc_addr *out,
		 size_t max, size_t *n, uint32_t *ttl, unsigned char *ans)
{
	ns_msg msg;
	ns_rr rr;
	int len, i, count;

	len = res_nquery(&d->res, name, ns_c_in, type, ans, ANSWER_MAX);
	if (len < 0)
		return query_error(d);
	if (len > ANSWER_MAX)
		len = ANSWER_MAX; /* never past the buffer (see ANSWER_MAX) */
	if (ns_initparse(ans, len, &msg) < 0)
		return -EPROTO;
	count = ns_msg_count(msg, ns_s_an);
	for (i = 0; i < count && *n < max; i++) {
		struct pc_addr *a = &out[*n];

		if (ns_parserr(&msg, ns_s_an, i, &rr) < 0 || (int)ns_rr_type(rr) != type)
			continue;
		memset(a, 0, sizeof(*a));
		if (type == ns_t_a && ns_rr_rdlen(rr) == 4) {
			a->family = AF_INET;
			memcpy(a->bytes, ns_rr_rdata(rr), 4);
		} else if (type == ns_t_aaaa && ns_rr_rdlen(rr) == 16) {
			a->family = AF_INET6;
			memcpy(a->bytes, ns_rr_rdata(rr), 16);
		} else {
			continue;
		}
		a->port = port;
		if (ns_rr_ttl(rr) < *ttl)
			*ttl = ns_rr_ttl(rr);
		(*n)++;
	}
	return 0;
}

int pc_dns_resolve(struct pc_dns *dns, const char *name, uint16_t port, struct pc_addr *out,
		   size_t max, size_t *n, uint32_t *ttl)
{
	unsigned char *ans;
	int r4, r6;

	*n = 0;
	*ttl = UINT32_MAX;
	if (max && pc_addr_parse(name, &out[0]) == 0) {
		out[0].port = port;
		*n = 1;
		*ttl = 0;
		return 0;
	}
	ans = pc_malloc(ANSWER_MAX);
	if (!ans) {
		*ttl = 0;
		return -ENOMEM;
	}
	r4 = query(dns, name, ns_t_a, port, out, max, n, ttl, ans);
	r6 = query(dns, name, ns_t_aaaa, port, out, max, n, ttl, ans);
	free(ans);
	if (*n)
		return 0;
	*ttl = 0;
	/* no address: only an answer that says so empties the name's, not a failure */
	if (r4 < 0 && r4 != -ENOENT)
		return r4;
	if (r6 < 0 && r6 != -ENOENT)
		return r6;
	return -ENOENT;
}
