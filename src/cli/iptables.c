/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cli/iptables.c - the rules of `portcullis iptables`, as text.
 *
 * The rule set is the outbound half of istio-iptables' REDIRECT mode (see
 * doc/iptables.md and the reference's section 6), renamed to our chains:
 *
 *   nat OUTPUT -p tcp --syn -> PORTCULLIS_OUTPUT
 *     excluded ports                          RETURN  (first: they win)
 *     -o lo, not the proxy uid                RETURN  (app -> itself over lo)
 *     the proxy uid                           RETURN  (loop guard)
 *     (the same two for the proxy gid)
 *     127.0.0.1/32 or ::1/128                 RETURN  (localhost)
 *     excluded CIDRs                          RETURN
 *     included ports                          -> PORTCULLIS_REDIRECT
 *     "*", or each included CIDR              -> PORTCULLIS_REDIRECT
 *     (--capture-dns: TCP port 53 to a resolver  REDIRECT <DNS port>, after
 *      the owner rules, and the lo rules leave port 53 out)
 *   PORTCULLIS_REDIRECT: -p tcp REDIRECT --to-ports <proxy port>
 *   nat OUTPUT -p udp --dport 53 -> PORTCULLIS_DNS    (--capture-dns only)
 *     the proxy uid, then gid                 RETURN
 *     each resolver (or every destination)    REDIRECT <DNS port>
 *   raw OUTPUT -p udp -> PORTCULLIS_RAW_OUTPUT        (--capture-dns only)
 *     --dport 53, the proxy uid, then gid    CT --zone 1  (its upstream queries)
 *     -s 127.0.0.1 or ::1 --sport <DNS port> CT --zone 2  (its answers to the app)
 *     --dport 53 to each resolver (or all)   CT --zone 2  (the app's queries)
 *   raw PREROUTING -p udp -> PORTCULLIS_RAW_PREROUTING
 *     --sport 53 from each resolver (or all) CT --zone 1  (answers upstream)
 *   The first CT of a packet wins (xt_CT leaves a packet that has a
 *   conntrack entry alone), so the proxy's rules come first.
 *
 *   filter INPUT (first rules) -p tcp --syn, -p udp -> PORTCULLIS_GUARD
 *     --dport <proxy port>, an IP_TRANSPARENT socket   RETURN
 *     --dport <proxy port>                             REJECT tcp-reset
 *     (the same for the DNS port over TCP, and over UDP with a port unreachable)
 *
 *   filter OUTPUT (first rule) -> PORTCULLIS_EGRESS   (the fence; not with
 *     --allow-non-tcp)
 *     -o lo, -d 127.0.0.0/8 or ::1, -p tcp, the proxy uid and gid, RELATED,
 *     ESTABLISHED replies,
 *     ICMPv6 ND and MLD, DNS to the resolvers without capture   RETURN
 *     -p udp                                  goto PORTCULLIS_UDP
 *     the rest                                -> PORTCULLIS_DENY
 *   PORTCULLIS_UDP: the daemon's ServiceEntry ports RETURN, then -> PORTCULLIS_DENY
 *   PORTCULLIS_DENY: udp, udplite, icmp, sctp, the rest: DROP, one rule each
 *     so that their counters tell them apart
 *
 * Istio matches every packet on its jump; we match SYN only, so that a
 * connection conntrack first sees mid-stream (one that was open before the
 * capture was installed) is never redirected. The guard's port is inside
 * our chain, not on the jump, so a run with another --proxy-port only
 * rebuilds the chain, as for nat.
 *
 * Istio's other OUTPUT rules serve its inbound capture (127.0.0.6, the
 * ISTIO_IN_REDIRECT jump for the proxy's own traffic over lo) and have no
 * meaning without one, so they are left out. As in Istio, an included CIDR
 * whose network address is a loopback one drops the "app -> itself over
 * lo" rules in both families, so that traffic is captured.
 *
 * Each rule is spelt the way iptables-save prints it (options in its
 * order, "-m tcp" before --dport), so a dry run reads like the installed
 * table and tests can compare the two line by line.
 */
#include "cli/iptables.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"

#define ENTRY_MAX 128 /* longer than any address or port we accept */

/*
 * Fill <err> and evaluate to -EINVAL. pc_err_set() returns its code too,
 * but from another file, where clang's analyzer cannot see it.
 */
#define INVALID(err, ...) (pc_err_set((err), -EINVAL, __VA_ARGS__), -EINVAL)

void pc_ipt_opts_init(struct pc_ipt_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->proxy_port = PC_IPT_DEFAULT_PORT;
	o->proxy_uid = PC_IPT_DEFAULT_UID;
	o->proxy_gid = PC_IPT_DEFAULT_GID;
	o->include.all = true;
	o->dns_port = PC_IPT_DEFAULT_DNS_PORT;
}

void pc_ipt_opts_release(struct pc_ipt_opts *o)
{
	free(o->include.v);
	free(o->exclude.v);
	free(o->include_ports.v);
	free(o->exclude_ports.v);
	free(o->resolvers.v);
	pc_ipt_opts_init(o);
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/*
 * Copy entry <i> of the comma-separated <list>, which starts at <*s>, into
 * <out> without the blanks around it, and move <*s> to the next entry, or
 * to NULL after the last. Returns 0, or -EINVAL when the entry is empty
 * ("a,,b", "a,") or too long.
 */
static int next_entry(const char **s, char out[ENTRY_MAX], size_t i, const char *list,
		      struct pc_err *err)
{
	const char *p = *s, *end = strchr(p, ',');
	size_t n;

	if (!end)
		end = p + strlen(p);
	*s = *end ? end + 1 : NULL;
	while (p < end && is_blank(*p))
		p++;
	while (end > p && is_blank(end[-1]))
		end--;
	n = (size_t)(end - p);
	if (n == 0)
		return INVALID(err, "entry %zu of \"%.80s\" is empty", i + 1, list);
	if (n >= ENTRY_MAX)
		return INVALID(err, "entry %zu is too long: \"%.40s...\"", i + 1, p);
	memcpy(out, p, n);
	out[n] = '\0';
	return 0;
}

static bool is_empty_list(const char *s)
{
	while (is_blank(*s))
		s++;
	return *s == '\0';
}

static bool prefix_equal(const struct pc_prefix *a, const struct pc_prefix *b)
{
	return a->len == b->len && pc_addr_equal(&a->addr, &b->addr);
}

/* Add <p> to <c> unless it is there already. Returns 0 or -ENOMEM. */
static int cidrs_add(struct pc_ipt_cidrs *c, const struct pc_prefix *p)
{
	struct pc_prefix *v;
	size_t i;

	for (i = 0; i < c->n; i++)
		if (prefix_equal(&c->v[i], p))
			return 0;
	v = pc_realloc(c->v, (c->n + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	c->v = v;
	c->v[c->n++] = *p;
	return 0;
}

/* Add the list entry <entry> to <c>. Returns 0, -EINVAL with <err> filled, or -ENOMEM. */
static int cidrs_add_entry(struct pc_ipt_cidrs *c, const char *entry, bool wildcard_ok,
			   struct pc_err *err)
{
	struct pc_prefix pfx;

	if (strcmp(entry, "*") == 0) {
		if (!wildcard_ok)
			return INVALID(err, "\"*\" is not allowed: excluding every destination "
					    "would capture nothing");
		c->all = true;
		return 0;
	}
	if (pc_prefix_parse(entry, &pfx) < 0)
		return INVALID(err, "\"%s\" is not an IPv4 or IPv6 address or CIDR", entry);
	return cidrs_add(c, &pfx);
}

int pc_ipt_parse_cidrs(const char *s, bool wildcard_ok, struct pc_ipt_cidrs *out,
		       struct pc_err *err)
{
	struct pc_ipt_cidrs c = { false, NULL, 0 };
	char entry[ENTRY_MAX];
	const char *p = s;
	size_t i;
	int ret = 0;

	if (is_empty_list(s))
		p = NULL;
	for (i = 0; p; i++) {
		if (i == PC_IPT_LIST_MAX) {
			ret = INVALID(err, "more than %d entries", PC_IPT_LIST_MAX);
			goto out_free;
		}
		ret = next_entry(&p, entry, i, s, err);
		if (ret == 0)
			ret = cidrs_add_entry(&c, entry, wildcard_ok, err);
		if (ret < 0)
			goto out_free;
	}
	if (c.all && c.n) {
		ret = INVALID(err, "\"*\" already means every destination; it cannot be combined "
				   "with CIDRs");
		goto out_free;
	}
	free(out->v);
	*out = c;
	return 0;

out_free:
	free(c.v);
	return ret;
}

int pc_ipt_parse_port(const char *s, uint16_t *out, struct pc_err *err)
{
	unsigned long n = 0;
	const char *p;

	for (p = s; *p >= '0' && *p <= '9' && n <= 65535; p++)
		n = n * 10 + (unsigned long)(*p - '0');
	if (p == s || *p) {
		if (*p >= '0' && *p <= '9')
			return INVALID(err, "port %.20s is out of range (1-65535)", s);
		return INVALID(err, "\"%.40s\" is not a port number", s);
	}
	if (n < 1 || n > 65535)
		return INVALID(err, "port %.20s is out of range (1-65535)", s);
	*out = (uint16_t)n;
	return 0;
}

/* Add <port> to <ports> unless it is there already. Returns 0 or -ENOMEM. */
static int ports_add(struct pc_ipt_ports *ports, uint16_t port)
{
	uint16_t *v;
	size_t i;

	for (i = 0; i < ports->n; i++)
		if (ports->v[i] == port)
			return 0;
	v = pc_realloc(ports->v, (ports->n + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	ports->v = v;
	ports->v[ports->n++] = port;
	return 0;
}

int pc_ipt_parse_ports(const char *s, struct pc_ipt_ports *out, struct pc_err *err)
{
	struct pc_ipt_ports ports = { NULL, 0 };
	char entry[ENTRY_MAX];
	const char *p = s;
	uint16_t port;
	size_t i;
	int ret = 0;

	if (is_empty_list(s))
		p = NULL;
	for (i = 0; p; i++) {
		if (i == PC_IPT_LIST_MAX) {
			ret = INVALID(err, "more than %d entries", PC_IPT_LIST_MAX);
			goto out_free;
		}
		ret = next_entry(&p, entry, i, s, err);
		if (ret < 0)
			goto out_free;
		ret = pc_ipt_parse_port(entry, &port, err);
		if (ret < 0)
			goto out_free;
		ret = ports_add(&ports, port);
		if (ret < 0)
			goto out_free;
	}
	free(out->v);
	*out = ports;
	return 0;

out_free:
	free(ports.v);
	return ret;
}

int pc_ipt_parse_id(const char *s, uint32_t *out, struct pc_err *err)
{
	unsigned long long n = 0;
	const char *p;

	for (p = s; *p >= '0' && *p <= '9' && n < UINT32_MAX; p++)
		n = n * 10 + (unsigned long long)(*p - '0');
	if (p == s || *p || n >= UINT32_MAX) /* (uid_t)-1 means "no change" to the kernel */
		return INVALID(err, "\"%.40s\" is not a numeric id (0-4294967294)", s);
	*out = (uint32_t)n;
	return 0;
}

/* The address of a "nameserver" line at <p> into <pfx>. Returns 0 or -EINVAL. */
static int nameserver(const char *p, struct pc_prefix *pfx)
{
	char addr[ENTRY_MAX];
	size_t n;

	if (strncmp(p, "nameserver", 10) != 0 || !is_blank(p[10]))
		return -EINVAL;
	for (p += 10; is_blank(*p); p++)
		;
	n = strcspn(p, " \t\n%#;");
	if (n == 0 || n >= sizeof(addr))
		return -EINVAL;
	memcpy(addr, p, n);
	addr[n] = '\0';
	if (strchr(addr, '/') || pc_prefix_parse(addr, pfx) < 0)
		return -EINVAL;
	return 0;
}

int pc_ipt_parse_resolv(const char *text, struct pc_ipt_cidrs *out)
{
	struct pc_ipt_cidrs c = { false, NULL, 0 };
	struct pc_prefix pfx;
	const char *p;

	for (p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (c.n == PC_IPT_LIST_MAX || nameserver(p, &pfx) < 0)
			continue;
		if (cidrs_add(&c, &pfx) < 0)
			goto out_oom;
	}
	if (c.n == 0) {
		if (pc_prefix_parse("127.0.0.1", &pfx) < 0 || cidrs_add(&c, &pfx) < 0)
			goto out_oom;
	}
	free(out->v);
	*out = c;
	return 0;

out_oom:
	free(c.v);
	return -ENOMEM;
}

bool pc_ipt_cidrs_has_family(const struct pc_ipt_cidrs *c, int family)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		if (c->v[i].addr.family == family)
			return true;
	return false;
}

/* Is the network address of a CIDR of <include> a loopback one (Go's netip.Addr.IsLoopback)? */
static bool includes_loopback(const struct pc_ipt_cidrs *include)
{
	size_t i;

	for (i = 0; i < include->n; i++)
		if (pc_addr_is_loopback(&include->v[i].addr))
			return true;
	return false;
}

/* "-d 192.0.2.0/24" for each prefix of <family> in <c>, then " -j <target>". */
static void add_cidr_rules(struct pc_buf *b, const struct pc_ipt_cidrs *c, int family,
			   const char *target)
{
	char text[PC_ADDR_STRLEN];
	size_t i;

	for (i = 0; i < c->n; i++) {
		if (c->v[i].addr.family != family)
			continue;
		pc_buf_printf(b, "-A %s -d %s/%u -j %s\n", PC_IPT_OUTPUT_CHAIN,
			      pc_addr_str(&c->v[i].addr, text), (unsigned)c->v[i].len, target);
	}
}

static void add_port_rules(struct pc_buf *b, const struct pc_ipt_ports *ports, const char *target)
{
	size_t i;

	for (i = 0; i < ports->n; i++)
		pc_buf_printf(b, "-A %s -p tcp -m tcp --dport %u -j %s\n", PC_IPT_OUTPUT_CHAIN,
			      (unsigned)ports->v[i], target);
}

/*
 * The owner rules for one id: "uid" or "gid". With DNS capture, the app's
 * TCP to a resolver on lo (127.0.0.53) must still reach the redirect, so
 * the "app -> itself over lo" rule leaves port 53 out, as Istio's does.
 */
static void add_owner_rules(struct pc_buf *b, const char *kind, uint32_t id, bool lo_return,
			    bool dns)
{
	if (lo_return)
		pc_buf_printf(b, "-A %s -o lo %s-m owner ! --%s-owner %u -j RETURN\n",
			      PC_IPT_OUTPUT_CHAIN, dns ? "-p tcp -m tcp ! --dport 53 " : "", kind,
			      id);
	pc_buf_printf(b, "-A %s -m owner --%s-owner %u -j RETURN\n", PC_IPT_OUTPUT_CHAIN, kind, id);
}

/*
 * One rule of <chain> per DNS destination of <o> and <family>: every
 * destination with --capture-all-dns, else each resolver of the family.
 * <tail> is the rest of the rule after the destination ("-p udp ...").
 */
static void add_resolver_rules(struct pc_buf *b, const struct pc_ipt_opts *o, int family,
			       const char *chain, bool all, const char *dir, const char *tail)
{
	const struct pc_ipt_cidrs *r = &o->resolvers;
	char text[PC_ADDR_STRLEN];
	size_t i;

	if (all) {
		pc_buf_printf(b, "-A %s %s\n", chain, tail);
		return;
	}
	for (i = 0; i < r->n; i++)
		if (r->v[i].addr.family == family)
			pc_buf_printf(b, "-A %s %s %s/%u %s\n", chain, dir,
				      pc_addr_str(&r->v[i].addr, text), (unsigned)r->v[i].len,
				      tail);
}

/* add_resolver_rules() towards the resolvers ("-d"). */
static void add_dns_rules(struct pc_buf *b, const struct pc_ipt_opts *o, int family,
			  const char *chain, bool all, const char *tail)
{
	add_resolver_rules(b, o, family, chain, all, "-d", tail);
}

/* The REDIRECT of DNS over <proto> ("tcp", "udp") to the DNS proxy, after the destination. */
static const char *dns_redirect(char out[96], const char *proto, uint16_t port)
{
	snprintf(out, 96, "-p %s -m %s --dport 53 -j REDIRECT --to-ports %u", proto, proto,
		 (unsigned)port);
	return out;
}

/* The guard of one port and protocol: an IP_TRANSPARENT socket or nothing. */
static void add_guard_port(struct pc_buf *b, const char *proto, unsigned port, const char *reject)
{
	pc_buf_printf(b, "-A %s -p %s -m %s --dport %u -m socket --transparent -j RETURN\n",
		      PC_IPT_GUARD_CHAIN, proto, proto, port);
	pc_buf_printf(b, "-A %s -p %s -m %s --dport %u -j REJECT --reject-with %s\n",
		      PC_IPT_GUARD_CHAIN, proto, proto, port, reject);
}

/* The jumps of the filter table that <st> does not show, in the places a save prints them. */
static void add_filter_jumps(struct pc_buf *b, bool fence, const struct pc_ipt_state *st)
{
	unsigned pos = 1;

	if (!st || !st->guard_jumps)
		pc_buf_printf(b, "-I INPUT %u " PC_IPT_GUARD_JUMP_RULE "\n", pos++);
	if (!st || !st->udp_guard_jumps)
		pc_buf_printf(b, "-I INPUT %u " PC_IPT_GUARD_UDP_JUMP_RULE "\n", pos);
	if (fence && (!st || !st->egress_jumps))
		pc_buf_adds(b, "-I OUTPUT 1 " PC_IPT_EGRESS_JUMP_RULE "\n");
}

/* PORTCULLIS_DENY: count and drop, one rule per protocol we report. */
static void add_deny(struct pc_buf *b, int family)
{
	static const char *const protos[] = { "udp", "udplite", NULL, "sctp" };
	size_t i;

	for (i = 0; i < sizeof(protos) / sizeof(protos[0]); i++)
		pc_buf_printf(b, "-A " PC_IPT_DENY_CHAIN " -p %s -j DROP\n",
			      protos[i]           ? protos[i]
			      : family == AF_INET ? "icmp"
						  : "ipv6-icmp");
	pc_buf_adds(b, "-A " PC_IPT_DENY_CHAIN " -j DROP\n");
}

/*
 * PORTCULLIS_EGRESS: what may leave besides TCP (see cli/iptables.h).
 * Loopback is both "-o lo" and the loopback destinations: a packet that
 * nat OUTPUT redirected (DNS to the DNS proxy) keeps the output device of
 * its first route for the whole OUTPUT hook, so "-o lo" misses it. The
 * ICMPv6 types: router and neighbour solicitation and advertisement,
 * redirect (133-137); MLD query, report and done (130-132), MLDv2 report
 * (143).
 */
static void add_egress(struct pc_buf *b, const struct pc_ipt_opts *o, int family)
{
	static const unsigned nd[] = { 133, 134, 135, 136, 137 }, mld[] = { 130, 131, 132, 143 };
	size_t i;

	/*
	 * Neighbour discovery only with the hop limit 255 that receivers
	 * demand (RFC 4861), MLD only to link-scope multicast with hop limit 1
	 * (RFC 3810): not a way to carry data to any address. They come
	 * before the spoofing check: duplicate address detection and early
	 * MLD reports are sent from ::.
	 */
	for (i = 0; family == AF_INET6 && i < sizeof(nd) / sizeof(nd[0]); i++)
		pc_buf_printf(b,
			      "-A " PC_IPT_EGRESS_CHAIN " -p ipv6-icmp -m icmp6 --icmpv6-type %u"
			      " -m hl --hl-eq 255 -j RETURN\n",
			      nd[i]);
	for (i = 0; family == AF_INET6 && i < sizeof(mld) / sizeof(mld[0]); i++)
		pc_buf_printf(b,
			      "-A " PC_IPT_EGRESS_CHAIN " -d ff02::/16 -p ipv6-icmp -m icmp6"
			      " --icmpv6-type %u -m hl --hl-eq 1 -j RETURN\n",
			      mld[i]);
	/*
	 * A packet whose source is not the pod's (a raw socket spoofing one)
	 * would make conntrack take its reverse for an answer to a flow that
	 * came from outside, which the ESTABLISHED/REPLY rule below lets out.
	 */
	pc_buf_adds(b, "-A " PC_IPT_EGRESS_CHAIN
		       " -m addrtype ! --src-type LOCAL -j " PC_IPT_DENY_CHAIN "\n");
	pc_buf_adds(b, "-A " PC_IPT_EGRESS_CHAIN " -o lo -j RETURN\n");
	/* what nat OUTPUT redirected: -o is the route's before the rewrite, not lo */
	pc_buf_printf(b, "-A " PC_IPT_EGRESS_CHAIN " -d %s -j RETURN\n",
		      family == AF_INET ? "127.0.0.0/8" : "::1/128");
	pc_buf_adds(b, "-A " PC_IPT_EGRESS_CHAIN " -p tcp -j RETURN\n");
	pc_buf_printf(b, "-A " PC_IPT_EGRESS_CHAIN " -m owner --uid-owner %u -j RETURN\n",
		      o->proxy_uid);
	pc_buf_printf(b, "-A " PC_IPT_EGRESS_CHAIN " -m owner --gid-owner %u -j RETURN\n",
		      o->proxy_gid);
	pc_buf_adds(b, "-A " PC_IPT_EGRESS_CHAIN " -m conntrack --ctstate RELATED -j RETURN\n");
	pc_buf_adds(b, "-A " PC_IPT_EGRESS_CHAIN
		       " -m conntrack --ctstate ESTABLISHED --ctdir REPLY -j RETURN\n");
	if (!o->capture_dns)
		add_dns_rules(b, o, family, PC_IPT_EGRESS_CHAIN, false,
			      "-p udp -m udp --dport 53 -j RETURN");
	pc_buf_adds(b, "-A " PC_IPT_EGRESS_CHAIN " -p udp -g " PC_IPT_UDP_CHAIN "\n");
	pc_buf_adds(b, "-A " PC_IPT_EGRESS_CHAIN " -j " PC_IPT_DENY_CHAIN "\n");
}

/* Flush, then delete, each chain of <names> that <has> says exists. */
static void drop_chains(struct pc_buf *b, const char *const names[], const bool has[], size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (has[i])
			pc_buf_printf(b, "-F %s\n", names[i]);
	for (i = 0; i < n; i++)
		if (has[i])
			pc_buf_printf(b, "-X %s\n", names[i]);
}

/* Remove the fence that <st> shows (after --allow-non-tcp). */
static void remove_fence(struct pc_buf *b, const struct pc_ipt_state *st)
{
	static const char *const names[] = { PC_IPT_EGRESS_CHAIN, PC_IPT_UDP_CHAIN,
					     PC_IPT_DENY_CHAIN };
	unsigned i;

	if (!st)
		return;
	for (i = 0; i < st->egress_jumps; i++)
		pc_buf_adds(b, "-D OUTPUT " PC_IPT_EGRESS_JUMP_RULE "\n");
	drop_chains(b, names, (const bool[]){ st->has_egress, st->has_udp, st->has_deny }, 3);
}

/* The filter section: the fence and the guard (see cli/iptables.h), in a save's order. */
static void add_filter(struct pc_buf *b, const struct pc_ipt_opts *o, int family,
		       const struct pc_ipt_state *st)
{
	const char *unreach =
		family == AF_INET ? "icmp-port-unreachable" : "icmp6-port-unreachable";
	bool fence = !o->allow_non_tcp;

	pc_buf_adds(b, "*filter\n");
	if (fence)
		pc_buf_adds(b,
			    ":" PC_IPT_DENY_CHAIN " - [0:0]\n:" PC_IPT_EGRESS_CHAIN " - [0:0]\n");
	pc_buf_adds(b, ":" PC_IPT_GUARD_CHAIN " - [0:0]\n");
	if (fence)
		pc_buf_adds(b, ":" PC_IPT_UDP_CHAIN " - [0:0]\n");
	add_filter_jumps(b, fence, st);
	if (fence) {
		add_deny(b, family);
		add_egress(b, o, family);
	}
	add_guard_port(b, "tcp", o->proxy_port, "tcp-reset");
	add_guard_port(b, "tcp", o->dns_port, "tcp-reset");
	add_guard_port(b, "udp", o->dns_port, unreach);
	if (fence)
		pc_buf_adds(b, "-A " PC_IPT_UDP_CHAIN " -j " PC_IPT_DENY_CHAIN "\n");
	else
		remove_fence(b, st);
	pc_buf_adds(b, "COMMIT\n");
}

/* The nat jumps from OUTPUT: earlier versions' out, ours in where missing. */
static void add_nat_jumps(struct pc_buf *b, const struct pc_ipt_opts *o,
			  const struct pc_ipt_state *st)
{
	unsigned i;

	for (i = 0; st && i < st->old_jumps; i++)
		pc_buf_adds(b, "-D OUTPUT " PC_IPT_OLD_JUMP_RULE "\n");
	if (!st || !st->jumps)
		pc_buf_adds(b, "-A OUTPUT " PC_IPT_JUMP_RULE "\n");
	if (o->capture_dns && (!st || !st->dns_jumps))
		pc_buf_adds(b, "-A OUTPUT " PC_IPT_DNS_JUMP_RULE "\n");
}

/* PORTCULLIS_DNS: UDP DNS to the DNS proxy, except the proxy's own queries. */
static void add_dns_chain(struct pc_buf *b, const struct pc_ipt_opts *o, int family)
{
	char redirect[96];

	pc_buf_printf(b, "-A " PC_IPT_DNS_CHAIN " -m owner --uid-owner %u -j RETURN\n",
		      o->proxy_uid);
	pc_buf_printf(b, "-A " PC_IPT_DNS_CHAIN " -m owner --gid-owner %u -j RETURN\n",
		      o->proxy_gid);
	add_dns_rules(b, o, family, PC_IPT_DNS_CHAIN, o->capture_all_dns,
		      dns_redirect(redirect, "udp", o->dns_port));
}

/* Without DNS capture, what <st> shows of an earlier one goes. */
static void remove_dns(struct pc_buf *b, const struct pc_ipt_state *st)
{
	static const char *const names[] = { PC_IPT_DNS_CHAIN };
	unsigned i;

	if (!st)
		return;
	for (i = 0; i < st->dns_jumps; i++)
		pc_buf_adds(b, "-D OUTPUT " PC_IPT_DNS_JUMP_RULE "\n");
	drop_chains(b, names, (const bool[]){ st->has_dns }, 1);
}

/* PORTCULLIS_OUTPUT, in the order of the table in this file's header. */
static void add_output_chain(struct pc_buf *b, const struct pc_ipt_opts *o, int family)
{
	bool lo_return = !includes_loopback(&o->include);
	char redirect[96];

	add_port_rules(b, &o->exclude_ports, "RETURN");
	add_owner_rules(b, "uid", o->proxy_uid, lo_return, o->capture_dns);
	add_owner_rules(b, "gid", o->proxy_gid, lo_return, o->capture_dns);
	if (o->capture_dns)
		add_dns_rules(b, o, family, PC_IPT_OUTPUT_CHAIN, o->capture_all_dns,
			      dns_redirect(redirect, "tcp", o->dns_port));
	pc_buf_printf(b, "-A %s -d %s -j RETURN\n", PC_IPT_OUTPUT_CHAIN,
		      family == AF_INET ? "127.0.0.1/32" : "::1/128");
	add_cidr_rules(b, &o->exclude, family, "RETURN");
	add_port_rules(b, &o->include_ports, PC_IPT_REDIRECT_CHAIN);
	if (o->include.all)
		pc_buf_adds(b, "-A " PC_IPT_OUTPUT_CHAIN " -j " PC_IPT_REDIRECT_CHAIN "\n");
	else
		add_cidr_rules(b, &o->include, family, PC_IPT_REDIRECT_CHAIN);
}

/* The zone rule of one owner id ("uid" or "gid"): the proxy's queries upstream. */
static void add_zone_owner(struct pc_buf *b, const char *kind, uint32_t id)
{
	pc_buf_printf(b,
		      "-A " PC_IPT_RAW_OUTPUT_CHAIN " -p udp -m udp --dport 53 -m owner --%s-owner"
		      " %u -j CT --zone %d\n",
		      kind, id, PC_IPT_ZONE_UPSTREAM);
}

/*
 * The DNS proxy's answers to the app, which must find the app's NATed
 * entry in zone 2 to be translated back to resolver:53 (a connected
 * socket, as glibc's, takes nothing else). Istio matches them by owner;
 * ours are sent from the listening socket, which the daemon opens as root
 * before it drops to the proxy uid, so they are matched by what they are:
 * from the address the redirect led to (loopback) and the DNS port.
 */
static void add_zone_answers(struct pc_buf *b, int family, uint16_t dns_port)
{
	pc_buf_printf(b,
		      "-A " PC_IPT_RAW_OUTPUT_CHAIN " -s %s -p udp -m udp --sport %u -j CT"
		      " --zone %d\n",
		      family == AF_INET ? "127.0.0.1/32" : "::1/128", (unsigned)dns_port,
		      PC_IPT_ZONE_APP);
}

/* The raw jumps that <st> does not show, in the order a save prints them. */
static void add_raw_jumps(struct pc_buf *b, const struct pc_ipt_state *st)
{
	if (!st || !st->raw_pre_jumps)
		pc_buf_adds(b, "-A PREROUTING " PC_IPT_RAW_PRE_JUMP_RULE "\n");
	if (!st || !st->raw_out_jumps)
		pc_buf_adds(b, "-A OUTPUT " PC_IPT_RAW_OUT_JUMP_RULE "\n");
}

/* Without DNS capture, the zones that <st> shows of an earlier one go. */
static void remove_raw(struct pc_buf *b, const struct pc_ipt_state *st)
{
	static const char *const names[] = { PC_IPT_RAW_OUTPUT_CHAIN, PC_IPT_RAW_PRE_CHAIN };
	unsigned i;

	for (i = 0; i < st->raw_pre_jumps; i++)
		pc_buf_adds(b, "-D PREROUTING " PC_IPT_RAW_PRE_JUMP_RULE "\n");
	for (i = 0; i < st->raw_out_jumps; i++)
		pc_buf_adds(b, "-D OUTPUT " PC_IPT_RAW_OUT_JUMP_RULE "\n");
	drop_chains(b, names, (const bool[]){ st->has_raw_output, st->has_raw_pre }, 2);
}

static bool has_raw(const struct pc_ipt_state *st)
{
	return st &&
	       (st->raw_out_jumps || st->raw_pre_jumps || st->has_raw_output || st->has_raw_pre);
}

/*
 * The raw section: the conntrack zones of --capture-dns (see the table at
 * the head of this file), or the removal of an earlier one's.
 */
static void add_raw(struct pc_buf *b, const struct pc_ipt_opts *o, int family,
		    const struct pc_ipt_state *st)
{
	char app[64], upstream[64];

	if (!o->capture_dns && !has_raw(st))
		return;
	pc_buf_adds(b, "*raw\n");
	if (!o->capture_dns) {
		remove_raw(b, st);
		pc_buf_adds(b, "COMMIT\n");
		return;
	}
	pc_buf_adds(b, ":" PC_IPT_RAW_OUTPUT_CHAIN " - [0:0]\n:" PC_IPT_RAW_PRE_CHAIN " - [0:0]\n");
	add_raw_jumps(b, st);
	add_zone_owner(b, "uid", o->proxy_uid);
	add_zone_owner(b, "gid", o->proxy_gid);
	add_zone_answers(b, family, o->dns_port);
	snprintf(app, sizeof(app), "-p udp -m udp --dport 53 -j CT --zone %d", PC_IPT_ZONE_APP);
	snprintf(upstream, sizeof(upstream), "-p udp -m udp --sport 53 -j CT --zone %d",
		 PC_IPT_ZONE_UPSTREAM);
	add_resolver_rules(b, o, family, PC_IPT_RAW_OUTPUT_CHAIN, o->capture_all_dns, "-d", app);
	add_resolver_rules(b, o, family, PC_IPT_RAW_PRE_CHAIN, o->capture_all_dns, "-s", upstream);
	pc_buf_adds(b, "COMMIT\n");
}

void pc_ipt_rules(struct pc_buf *b, const struct pc_ipt_opts *o, int family,
		  const struct pc_ipt_state *st)
{
	add_raw(b, o, family, st); /* a save prints raw before filter and nat */
	add_filter(b, o, family, st);
	pc_buf_adds(b, "*nat\n");
	if (o->capture_dns)
		pc_buf_adds(b, ":" PC_IPT_DNS_CHAIN " - [0:0]\n");
	pc_buf_adds(b, ":" PC_IPT_OUTPUT_CHAIN " - [0:0]\n");
	pc_buf_adds(b, ":" PC_IPT_REDIRECT_CHAIN " - [0:0]\n");
	add_nat_jumps(b, o, st);
	if (o->capture_dns)
		add_dns_chain(b, o, family);
	add_output_chain(b, o, family);
	pc_buf_printf(b, "-A %s -p tcp -j REDIRECT --to-ports %u\n", PC_IPT_REDIRECT_CHAIN,
		      (unsigned)o->proxy_port);
	if (!o->capture_dns)
		remove_dns(b, st);
	pc_buf_adds(b, "COMMIT\n");
}

/* Does the line at <p> (up to a newline or NUL) read exactly <want>? */
static bool line_is(const char *p, const char *want)
{
	size_t n = strlen(want);

	return strncmp(p, want, n) == 0 && (p[n] == '\n' || p[n] == '\0');
}

/* Count what is ours in the nat listing line <p>. */
static void scan_nat_line(const char *p, struct pc_ipt_state *st)
{
	if (line_is(p, "-A OUTPUT " PC_IPT_JUMP_RULE))
		st->jumps++;
	else if (line_is(p, "-A OUTPUT " PC_IPT_OLD_JUMP_RULE))
		st->old_jumps++;
	else if (line_is(p, "-A OUTPUT " PC_IPT_DNS_JUMP_RULE))
		st->dns_jumps++;
	else if (line_is(p, "-N " PC_IPT_OUTPUT_CHAIN))
		st->has_output = true;
	else if (line_is(p, "-N " PC_IPT_REDIRECT_CHAIN))
		st->has_redirect = true;
	else if (line_is(p, "-N " PC_IPT_DNS_CHAIN))
		st->has_dns = true;
}

/* Count what is ours in the filter listing line <p>. */
static void scan_filter_line(const char *p, struct pc_ipt_state *st)
{
	if (line_is(p, "-A INPUT " PC_IPT_GUARD_JUMP_RULE))
		st->guard_jumps++;
	else if (line_is(p, "-A INPUT " PC_IPT_GUARD_UDP_JUMP_RULE))
		st->udp_guard_jumps++;
	else if (line_is(p, "-A OUTPUT " PC_IPT_EGRESS_JUMP_RULE))
		st->egress_jumps++;
	else if (line_is(p, "-N " PC_IPT_GUARD_CHAIN))
		st->has_guard = true;
	else if (line_is(p, "-N " PC_IPT_EGRESS_CHAIN))
		st->has_egress = true;
	else if (line_is(p, "-N " PC_IPT_UDP_CHAIN))
		st->has_udp = true;
	else if (line_is(p, "-N " PC_IPT_DENY_CHAIN))
		st->has_deny = true;
}

/* Count what is ours in the raw listing line <p>. */
static void scan_raw_line(const char *p, struct pc_ipt_state *st)
{
	if (line_is(p, "-A OUTPUT " PC_IPT_RAW_OUT_JUMP_RULE))
		st->raw_out_jumps++;
	else if (line_is(p, "-A PREROUTING " PC_IPT_RAW_PRE_JUMP_RULE))
		st->raw_pre_jumps++;
	else if (line_is(p, "-N " PC_IPT_RAW_OUTPUT_CHAIN))
		st->has_raw_output = true;
	else if (line_is(p, "-N " PC_IPT_RAW_PRE_CHAIN))
		st->has_raw_pre = true;
}

/* Count what is ours, line by line, in the listing of one table, with <scan_line>. */
static void scan_table(const char *p, void (*scan_line)(const char *, struct pc_ipt_state *),
		       struct pc_ipt_state *st)
{
	while (*p) {
		scan_line(p, st);
		p = strchr(p, '\n');
		if (!p)
			break;
		p++;
	}
}

void pc_ipt_scan(const char *nat, const char *filter, const char *raw, struct pc_ipt_state *st)
{
	memset(st, 0, sizeof(*st));
	scan_table(nat, scan_nat_line, st);
	scan_table(filter, scan_filter_line, st);
	scan_table(raw, scan_raw_line, st);
}

static void repeat(struct pc_buf *b, unsigned n, const char *line)
{
	while (n--)
		pc_buf_adds(b, line);
}

static void cleanup_filter(struct pc_buf *b, const struct pc_ipt_state *st)
{
	static const char *const names[] = { PC_IPT_GUARD_CHAIN, PC_IPT_EGRESS_CHAIN,
					     PC_IPT_UDP_CHAIN, PC_IPT_DENY_CHAIN };
	const bool has[] = { st->has_guard, st->has_egress, st->has_udp, st->has_deny };

	if (!st->guard_jumps && !st->udp_guard_jumps && !st->egress_jumps && !st->has_guard &&
	    !st->has_egress && !st->has_udp && !st->has_deny)
		return;
	pc_buf_adds(b, "*filter\n");
	repeat(b, st->guard_jumps, "-D INPUT " PC_IPT_GUARD_JUMP_RULE "\n");
	repeat(b, st->udp_guard_jumps, "-D INPUT " PC_IPT_GUARD_UDP_JUMP_RULE "\n");
	repeat(b, st->egress_jumps, "-D OUTPUT " PC_IPT_EGRESS_JUMP_RULE "\n");
	drop_chains(b, names, has, 4);
	pc_buf_adds(b, "COMMIT\n");
}

void pc_ipt_cleanup_rules(struct pc_buf *b, const struct pc_ipt_state *st)
{
	static const char *const names[] = { PC_IPT_OUTPUT_CHAIN, PC_IPT_REDIRECT_CHAIN,
					     PC_IPT_DNS_CHAIN };
	const bool has[] = { st->has_output, st->has_redirect, st->has_dns };

	if (has_raw(st)) {
		pc_buf_adds(b, "*raw\n");
		remove_raw(b, st);
		pc_buf_adds(b, "COMMIT\n");
	}
	cleanup_filter(b, st);
	if (!st->jumps && !st->old_jumps && !st->dns_jumps && !st->has_output &&
	    !st->has_redirect && !st->has_dns)
		return;
	pc_buf_adds(b, "*nat\n");
	repeat(b, st->jumps, "-D OUTPUT " PC_IPT_JUMP_RULE "\n");
	repeat(b, st->old_jumps, "-D OUTPUT " PC_IPT_OLD_JUMP_RULE "\n");
	repeat(b, st->dns_jumps, "-D OUTPUT " PC_IPT_DNS_JUMP_RULE "\n");
	drop_chains(b, names, has, 3);
	pc_buf_adds(b, "COMMIT\n");
}
