/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dns/setup.c - what the DNS proxy needs before its thread starts: its
 * sockets (--dns-listen) and its upstream resolvers (--dns-server, or
 * /etc/resolv.conf as `portcullis run` sees it).
 *
 * Why IP_TRANSPARENT: see dns/proxy.h. Why no SO_REUSEPORT (which the
 * proxy port's listeners use): with it, any later socket of the same
 * owner could join the group and receive a share of the pod's queries.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "dns/proxy.h"
#include "net/sock.h"

#define TCP_BACKLOG 128
#define DNS_PORT    53

/*
 * Parse "IP:PORT", "[IPv6]:PORT", and when <def_port> is not 0 also "IP",
 * "IPv6" and "[IPv6]" (port <def_port>), from <s> (<len> bytes).
 */
static int parse_hostport(const char *s, size_t len, uint16_t def_port, struct pc_addr *out)
{
	char buf[80], *host = buf, *port = NULL, *end;
	const char *colon;
	unsigned long v;

	if (len == 0 || len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, len);
	buf[len] = '\0';
	colon = strchr(buf, ':');
	if (buf[0] == '[') {
		end = strchr(buf, ']');
		if (!end || (end[1] && end[1] != ':'))
			return -EINVAL;
		*end = '\0';
		host = buf + 1;
		port = end[1] ? end + 2 : NULL;
	} else if (colon && !strchr(colon + 1, ':')) { /* one colon: IPv4:PORT */
		buf[colon - buf] = '\0';
		port = buf + (colon - buf) + 1;
	}
	if (pc_addr_parse(host, out) < 0)
		return -EINVAL;
	if (!port) {
		out->port = def_port;
		return def_port ? 0 : -EINVAL;
	}
	errno = 0;
	v = strtoul(port, &end, 10);
	if (!*port || *end || errno || v > 65535 || (v == 0 && def_port))
		return -EINVAL;
	out->port = (uint16_t)v;
	return 0;
}

static int set_transparent(int fd, int family)
{
	int one = 1, ret;

	if (family == AF_INET6)
		ret = setsockopt(fd, SOL_IPV6, IPV6_TRANSPARENT, &one, sizeof(one));
	else
		ret = setsockopt(fd, SOL_IP, IP_TRANSPARENT, &one, sizeof(one));
	return ret == -1 ? -errno : 0;
}

/* A socket of <type> bound to <a>; *<terr> gets the IP_TRANSPARENT error, if any. */
static int bind_one(int type, const struct pc_addr *a, int *terr)
{
	struct sockaddr_storage ss;
	socklen_t sl = pc_addr_to_sockaddr(a, &ss);
	int fd = socket(a->family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1, ret;

	if (fd < 0)
		return -errno;
	if (a->family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) == -1)
		goto fail;
	if (type == SOCK_STREAM &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1)
		goto fail;
	if (bind(fd, (struct sockaddr *)&ss, sl) == -1)
		goto fail;
	/* after bind(): before it, the option would let a missing address bind too */
	ret = set_transparent(fd, a->family);
	if (ret < 0)
		*terr = ret;
	if (type == SOCK_STREAM && listen(fd, TCP_BACKLOG) == -1)
		goto fail;
	return fd;
fail:
	ret = -errno;
	close(fd);
	return ret;
}

/* Bind the UDP and TCP sockets of <s> once (its port filled in when 0). */
static int bind_pair_once(struct pc_dns_socket *s, int *terr)
{
	struct pc_addr local;

	s->udp = bind_one(SOCK_DGRAM, &s->addr, terr);
	if (s->udp < 0)
		return s->udp;
	if (s->addr.port == 0 && pc_sock_local(s->udp, &local) == 0)
		s->addr.port = local.port;
	s->tcp = bind_one(SOCK_STREAM, &s->addr, terr);
	if (s->tcp < 0) {
		int ret = s->tcp;

		close(s->udp);
		s->udp = s->tcp = -1;
		return ret;
	}
	return 0;
}

/*
 * Port 0 (tests) takes the UDP socket's ephemeral port for TCP too, which
 * a TCP socket of another process may hold: then another port is tried.
 */
static int bind_pair(struct pc_dns_socket *s, int *terr)
{
	bool any = s->addr.port == 0;
	int tries = any ? 16 : 1, ret;

	do {
		if (any)
			s->addr.port = 0;
		ret = bind_pair_once(s, terr);
	} while (ret == -EADDRINUSE && --tries > 0);
	return ret;
}

static int listen_addr(struct pc_dns_sockets *out, const struct pc_addr *a, int *terr,
		       struct pc_err *err)
{
	struct pc_dns_socket *s = &out->s[out->n];
	char buf[PC_ADDR_STRLEN];
	int ret;

	if (out->n == PC_DNS_LISTEN_MAX)
		return pc_err_set(err, -EINVAL, "--dns-listen: more than %d addresses",
				  PC_DNS_LISTEN_MAX);
	s->addr = *a;
	ret = bind_pair(s, terr);
	if (ret == 0) {
		out->n++;
		return 0;
	}
	if (a->family == AF_INET6 && (ret == -EAFNOSUPPORT || ret == -EADDRNOTAVAIL)) {
		pc_log(PC_LOG_NOTICE, "no IPv6 here: the DNS proxy listens without it", "addr=%s",
		       pc_addr_port_str(a, buf));
		return 0;
	}
	if (ret == -EADDRINUSE)
		return pc_err_set(err, ret,
				  "cannot listen for DNS on %s: the port is taken (another "
				  "portcullis run, or a process of the pod); free it or choose "
				  "another --dns-listen",
				  pc_addr_port_str(a, buf));
	return pc_err_set(err, ret, "cannot listen for DNS on %s: %s", pc_addr_port_str(a, buf),
			  strerror(-ret));
}

static int listen_spec(const char *spec, struct pc_dns_sockets *out, int *terr, struct pc_err *err)
{
	const char *p = spec;

	while (*p) {
		size_t len = strcspn(p, ",");
		struct pc_addr a;
		int ret;

		if (parse_hostport(p, len, 0, &a) < 0)
			return pc_err_set(err, -EINVAL,
					  "--dns-listen: '%.*s' is not IP:PORT or [IPv6]:PORT "
					  "(or say 'off')",
					  (int)len, p);
		ret = listen_addr(out, &a, terr, err);
		if (ret < 0)
			return ret;
		p += len;
		if (*p == ',')
			p++;
	}
	return 0;
}

int pc_dns_listen(const char *spec, struct pc_dns_sockets *out, struct pc_err *err)
{
	int terr = 0, ret;

	memset(out, 0, sizeof(*out));
	out->transparent = true;
	if (strcmp(spec, "off") == 0)
		return 0;
	if (!*spec)
		return pc_err_set(err, -EINVAL, "--dns-listen: empty (say 'off' to disable)");
	ret = listen_spec(spec, out, &terr, err);
	if (ret < 0) {
		pc_dns_sockets_close(out);
		return ret;
	}
	if (terr) {
		out->transparent = false;
		pc_log(PC_LOG_ERR,
		       "cannot make the DNS listeners IP_TRANSPARENT: the guard of 'portcullis "
		       "iptables' will drop every captured query",
		       "err=%s hint=%s", strerror(-terr),
		       "start portcullis run as root (or with CAP_NET_ADMIN)");
	}
	return 0;
}

void pc_dns_sockets_close(struct pc_dns_sockets *s)
{
	size_t i;

	for (i = 0; i < s->n; i++) {
		if (s->s[i].udp >= 0)
			close(s->s[i].udp);
		if (s->s[i].tcp >= 0)
			close(s->s[i].tcp);
	}
	s->n = 0;
}

/* One "nameserver X" line of resolv.conf; a zone (fe80::1%eth0) is skipped. */
static void resolv_line(const char *line, struct pc_addr *out, size_t max, size_t *n)
{
	char addr[64];

	if (sscanf(line, " nameserver %63s", addr) != 1)
		return;
	if (strchr(addr, '%')) {
		pc_log(PC_LOG_NOTICE, "resolv.conf: a nameserver with a zone is not used",
		       "nameserver=%s", addr);
		return;
	}
	if (*n < max && pc_addr_parse(addr, &out[*n]) == 0) {
		out[*n].port = DNS_PORT;
		(*n)++;
	}
}

int pc_dns_upstreams_from(const char *path, struct pc_addr *out, size_t max, size_t *n,
			  struct pc_err *err)
{
	char line[512];
	FILE *f = fopen(path, "re");

	*n = 0;
	if (!f)
		return pc_err_errno(err, errno,
				    "cannot read %s for the DNS proxy's resolvers (or give "
				    "--dns-server)",
				    path);
	while (fgets(line, sizeof(line), f))
		resolv_line(line, out, max, n);
	fclose(f);
	if (*n == 0)
		return pc_err_set(err, -EINVAL,
				  "%s lists no nameserver for the DNS proxy to forward to; give "
				  "--dns-server IP[:PORT]",
				  path);
	return 0;
}

int pc_dns_upstreams(const char *server, struct pc_addr *out, size_t max, size_t *n,
		     struct pc_err *err)
{
	const char *p = server;

	if (!server)
		return pc_dns_upstreams_from("/etc/resolv.conf", out, max, n, err);
	*n = 0;
	do {
		size_t len = strcspn(p, ",");

		if (*n == max)
			return pc_err_set(err, -EINVAL, "--dns-server: more than %zu servers", max);
		if (parse_hostport(p, len, DNS_PORT, &out[*n]) < 0)
			return pc_err_set(err, -EINVAL,
					  "--dns-server: '%.*s' is not IP, IP:PORT or "
					  "[IPv6]:PORT",
					  (int)len, p);
		(*n)++;
		p += len;
	} while (*p++ == ',');
	return 0;
}
