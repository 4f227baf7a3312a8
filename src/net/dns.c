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

/* Append the A or AAAA answers of one query. */
static int query(struct pc_dns *d, const char *name, int type, uint16_t port, struct pc_addr *out,
		 size_t max, size_t *n, uint32_t *ttl)
{
	unsigned char ans[4096];
	ns_msg msg;
	ns_rr rr;
	int len, i, count;

	len = res_nquery(&d->res, name, ns_c_in, type, ans, sizeof(ans));
	if (len < 0)
		return h_errno == TRY_AGAIN ? -EAGAIN : -ENOENT;
	if (ns_initparse(ans, len, &msg) < 0)
		return -EAGAIN;
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
	int r4, r6;

	*n = 0;
	*ttl = UINT32_MAX;
	if (max && pc_addr_parse(name, &out[0]) == 0) {
		out[0].port = port;
		*n = 1;
		*ttl = 0;
		return 0;
	}
	r4 = query(dns, name, ns_t_a, port, out, max, n, ttl);
	r6 = query(dns, name, ns_t_aaaa, port, out, max, n, ttl);
	if (*n)
		return 0;
	*ttl = 0;
	return r4 == -EAGAIN || r6 == -EAGAIN ? -EAGAIN : -ENOENT;
}
