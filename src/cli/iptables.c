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
 *   PORTCULLIS_REDIRECT: -p tcp REDIRECT --to-ports <proxy port>
 *
 *   filter INPUT (first rule) -p tcp --syn -> PORTCULLIS_GUARD
 *     --dport <proxy port>, an IP_TRANSPARENT socket   RETURN
 *     --dport <proxy port>                             REJECT tcp-reset
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
}

void pc_ipt_opts_release(struct pc_ipt_opts *o)
{
	free(o->include.v);
	free(o->exclude.v);
	free(o->include_ports.v);
	free(o->exclude_ports.v);
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

/* The owner rules for one id: "uid" or "gid". */
static void add_owner_rules(struct pc_buf *b, const char *kind, uint32_t id, bool lo_return)
{
	if (lo_return)
		pc_buf_printf(b, "-A %s -o lo -m owner ! --%s-owner %u -j RETURN\n",
			      PC_IPT_OUTPUT_CHAIN, kind, id);
	pc_buf_printf(b, "-A %s -m owner --%s-owner %u -j RETURN\n", PC_IPT_OUTPUT_CHAIN, kind, id);
}

/* The filter section: the guard of the proxy port (see cli/iptables.h). */
static void add_guard(struct pc_buf *b, const struct pc_ipt_opts *o, const struct pc_ipt_state *st)
{
	unsigned port = o->proxy_port;

	pc_buf_adds(b, "*filter\n");
	pc_buf_adds(b, ":" PC_IPT_GUARD_CHAIN " - [0:0]\n");
	if (!st || !st->guard_jumps)
		pc_buf_adds(b, "-I INPUT 1 " PC_IPT_GUARD_JUMP_RULE "\n");
	pc_buf_printf(b, "-A %s -p tcp -m tcp --dport %u -m socket --transparent -j RETURN\n",
		      PC_IPT_GUARD_CHAIN, port);
	pc_buf_printf(b, "-A %s -p tcp -m tcp --dport %u -j REJECT --reject-with tcp-reset\n",
		      PC_IPT_GUARD_CHAIN, port);
	pc_buf_adds(b, "COMMIT\n");
}

void pc_ipt_rules(struct pc_buf *b, const struct pc_ipt_opts *o, int family,
		  const struct pc_ipt_state *st)
{
	bool lo_return = !includes_loopback(&o->include);
	unsigned i;

	add_guard(b, o, st);
	pc_buf_adds(b, "*nat\n");
	pc_buf_adds(b, ":" PC_IPT_OUTPUT_CHAIN " - [0:0]\n");
	pc_buf_adds(b, ":" PC_IPT_REDIRECT_CHAIN " - [0:0]\n");
	for (i = 0; st && i < st->old_jumps; i++)
		pc_buf_adds(b, "-D OUTPUT " PC_IPT_OLD_JUMP_RULE "\n");
	if (!st || !st->jumps)
		pc_buf_adds(b, "-A OUTPUT " PC_IPT_JUMP_RULE "\n");

	add_port_rules(b, &o->exclude_ports, "RETURN");
	add_owner_rules(b, "uid", o->proxy_uid, lo_return);
	add_owner_rules(b, "gid", o->proxy_gid, lo_return);
	pc_buf_printf(b, "-A %s -d %s -j RETURN\n", PC_IPT_OUTPUT_CHAIN,
		      family == AF_INET ? "127.0.0.1/32" : "::1/128");
	add_cidr_rules(b, &o->exclude, family, "RETURN");
	add_port_rules(b, &o->include_ports, PC_IPT_REDIRECT_CHAIN);
	if (o->include.all)
		pc_buf_adds(b, "-A " PC_IPT_OUTPUT_CHAIN " -j " PC_IPT_REDIRECT_CHAIN "\n");
	else
		add_cidr_rules(b, &o->include, family, PC_IPT_REDIRECT_CHAIN);

	pc_buf_printf(b, "-A %s -p tcp -j REDIRECT --to-ports %u\n", PC_IPT_REDIRECT_CHAIN,
		      (unsigned)o->proxy_port);
	pc_buf_adds(b, "COMMIT\n");
}

/* Does the line at <p> (up to a newline or NUL) read exactly <want>? */
static bool line_is(const char *p, const char *want)
{
	size_t n = strlen(want);

	return strncmp(p, want, n) == 0 && (p[n] == '\n' || p[n] == '\0');
}

/* Count what is ours, line by line, in the listing of one table. */
static void scan_table(const char *p, bool nat, struct pc_ipt_state *st)
{
	while (*p) {
		if (nat && line_is(p, "-A OUTPUT " PC_IPT_JUMP_RULE))
			st->jumps++;
		else if (nat && line_is(p, "-A OUTPUT " PC_IPT_OLD_JUMP_RULE))
			st->old_jumps++;
		else if (nat && line_is(p, "-N " PC_IPT_OUTPUT_CHAIN))
			st->has_output = true;
		else if (nat && line_is(p, "-N " PC_IPT_REDIRECT_CHAIN))
			st->has_redirect = true;
		else if (!nat && line_is(p, "-A INPUT " PC_IPT_GUARD_JUMP_RULE))
			st->guard_jumps++;
		else if (!nat && line_is(p, "-N " PC_IPT_GUARD_CHAIN))
			st->has_guard = true;
		p = strchr(p, '\n');
		if (!p)
			break;
		p++;
	}
}

void pc_ipt_scan(const char *nat, const char *filter, struct pc_ipt_state *st)
{
	memset(st, 0, sizeof(*st));
	scan_table(nat, true, st);
	scan_table(filter, false, st);
}

static void cleanup_filter(struct pc_buf *b, const struct pc_ipt_state *st)
{
	unsigned i;

	if (!st->guard_jumps && !st->has_guard)
		return;
	pc_buf_adds(b, "*filter\n");
	for (i = 0; i < st->guard_jumps; i++)
		pc_buf_adds(b, "-D INPUT " PC_IPT_GUARD_JUMP_RULE "\n");
	if (st->has_guard)
		pc_buf_adds(b, "-F " PC_IPT_GUARD_CHAIN "\n-X " PC_IPT_GUARD_CHAIN "\n");
	pc_buf_adds(b, "COMMIT\n");
}

void pc_ipt_cleanup_rules(struct pc_buf *b, const struct pc_ipt_state *st)
{
	unsigned i;

	cleanup_filter(b, st);
	if (!st->jumps && !st->old_jumps && !st->has_output && !st->has_redirect)
		return;
	pc_buf_adds(b, "*nat\n");
	for (i = 0; i < st->jumps; i++)
		pc_buf_adds(b, "-D OUTPUT " PC_IPT_JUMP_RULE "\n");
	for (i = 0; i < st->old_jumps; i++)
		pc_buf_adds(b, "-D OUTPUT " PC_IPT_OLD_JUMP_RULE "\n");
	if (st->has_output)
		pc_buf_adds(b, "-F " PC_IPT_OUTPUT_CHAIN "\n");
	if (st->has_redirect)
		pc_buf_adds(b, "-F " PC_IPT_REDIRECT_CHAIN "\n");
	if (st->has_output)
		pc_buf_adds(b, "-X " PC_IPT_OUTPUT_CHAIN "\n");
	if (st->has_redirect)
		pc_buf_adds(b, "-X " PC_IPT_REDIRECT_CHAIN "\n");
	pc_buf_adds(b, "COMMIT\n");
}
