/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for cli/iptables.c: parsing the option lists and the rule
 * text per family. The golden texts are what iptables-save prints for the
 * installed rules (checked by tests/system/test_iptables.py), so they are
 * written out in full rather than built from pieces.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "cli/iptables.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"

/* Pieces of the golden texts; the tests spell out the rest one rule a line. */
#define SYN "-p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN"
/* The filter section: the fence and the guard, with or without the jumps. */
#define FILTER_DECL                    \
	"*filter\n"                    \
	":PORTCULLIS_DENY - [0:0]\n"   \
	":PORTCULLIS_EGRESS - [0:0]\n" \
	":PORTCULLIS_GUARD - [0:0]\n"  \
	":PORTCULLIS_UDP - [0:0]\n"
#define FILTER_JUMPS                               \
	"-I INPUT 1 " SYN " -j PORTCULLIS_GUARD\n" \
	"-I INPUT 2 -p udp -j PORTCULLIS_GUARD\n"  \
	"-I OUTPUT 1 -j PORTCULLIS_EGRESS\n"
#define DENY(icmp)                                 \
	"-A PORTCULLIS_DENY -p udp -j DROP\n"      \
	"-A PORTCULLIS_DENY -p udplite -j DROP\n"  \
	"-A PORTCULLIS_DENY -p " icmp " -j DROP\n" \
	"-A PORTCULLIS_DENY -p sctp -j DROP\n"     \
	"-A PORTCULLIS_DENY -j DROP\n"
#define SPOOF "-A PORTCULLIS_EGRESS -m addrtype ! --src-type LOCAL -j PORTCULLIS_DENY\n"
#define EGRESS_HEAD(uid, gid, loop)                                       \
	"-A PORTCULLIS_EGRESS -o lo -j RETURN\n"                          \
	"-A PORTCULLIS_EGRESS -d " loop " -j RETURN\n"                    \
	"-A PORTCULLIS_EGRESS -p tcp -j RETURN\n"                         \
	"-A PORTCULLIS_EGRESS -m owner --uid-owner " uid " -j RETURN\n"   \
	"-A PORTCULLIS_EGRESS -m owner --gid-owner " gid " -j RETURN\n"   \
	"-A PORTCULLIS_EGRESS -m conntrack --ctstate RELATED -j RETURN\n" \
	"-A PORTCULLIS_EGRESS -m conntrack --ctstate ESTABLISHED --ctdir REPLY -j RETURN\n"
#define ND6_TYPE(t)                                                                        \
	"-A PORTCULLIS_EGRESS -p ipv6-icmp -m icmp6 --icmpv6-type " t " -m hl --hl-eq 255" \
	" -j RETURN\n"
#define MLD6_TYPE(t)                                                                        \
	"-A PORTCULLIS_EGRESS -d ff02::/16 -p ipv6-icmp -m icmp6 --icmpv6-type " t " -m hl" \
	" --hl-eq 1 -j RETURN\n"
#define ND6                                                                              \
	ND6_TYPE("133")                                                                  \
	ND6_TYPE("134") ND6_TYPE("135") ND6_TYPE("136") ND6_TYPE("137") MLD6_TYPE("130") \
		MLD6_TYPE("131") MLD6_TYPE("132") MLD6_TYPE("143")
#define EGRESS_TAIL                                       \
	"-A PORTCULLIS_EGRESS -p udp -g PORTCULLIS_UDP\n" \
	"-A PORTCULLIS_EGRESS -j PORTCULLIS_DENY\n"
#define GUARD_PORT(proto, port, reject)                               \
	"-A PORTCULLIS_GUARD -p " proto " -m " proto " --dport " port \
	" -m socket --transparent -j RETURN\n"                        \
	"-A PORTCULLIS_GUARD -p " proto " -m " proto " --dport " port \
	" -j REJECT --reject-with " reject "\n"
#define GUARD_RULES(port, dns, unreach)      \
	GUARD_PORT("tcp", port, "tcp-reset") \
	GUARD_PORT("tcp", dns, "tcp-reset") GUARD_PORT("udp", dns, unreach)
#define UDP_END                    "-A PORTCULLIS_UDP -j PORTCULLIS_DENY\nCOMMIT\n"
#define FENCE4(uid, gid)           DENY("icmp") SPOOF EGRESS_HEAD(uid, gid, "127.0.0.0/8") EGRESS_TAIL
#define FENCE6(uid, gid)           DENY("ipv6-icmp") ND6 SPOOF EGRESS_HEAD(uid, gid, "::1/128") EGRESS_TAIL
#define GUARD4(port)               GUARD_RULES(port, "15053", "icmp-port-unreachable")
#define GUARD6(port)               GUARD_RULES(port, "15053", "icmp6-port-unreachable")
/* The whole filter section for the defaults but <port>, <uid>, <gid>. */
#define FILTER4_AT(port, uid, gid) FILTER_DECL FILTER_JUMPS FENCE4(uid, gid) GUARD4(port) UDP_END
#define FILTER4                    FILTER4_AT("15001", "1337", "1337")
#define FILTER6                    FILTER_DECL FILTER_JUMPS FENCE6("1337", "1337") GUARD6("15001") UDP_END
/* The same, with every jump installed already. */
#define FILTER4_NO_JUMPS           FILTER_DECL FENCE4("1337", "1337") GUARD4("15001") UDP_END
#define FILTER6_NO_JUMPS           FILTER_DECL FENCE6("1337", "1337") GUARD6("15001") UDP_END
#define NAT                            \
	"*nat\n"                       \
	":PORTCULLIS_OUTPUT - [0:0]\n" \
	":PORTCULLIS_REDIRECT - [0:0]\n"
#define HEAD4    FILTER4 NAT
#define HEAD6    FILTER6 NAT
/* New connections only: see cli/iptables.h. */
#define JUMP     "-A OUTPUT " SYN " -j PORTCULLIS_OUTPUT\n"
#define OLD_JUMP "-A OUTPUT -p tcp -j PORTCULLIS_OUTPUT\n"
#define OWNER(uid, gid)                                                         \
	"-A PORTCULLIS_OUTPUT -o lo -m owner ! --uid-owner " uid " -j RETURN\n" \
	"-A PORTCULLIS_OUTPUT -m owner --uid-owner " uid " -j RETURN\n"         \
	"-A PORTCULLIS_OUTPUT -o lo -m owner ! --gid-owner " gid " -j RETURN\n" \
	"-A PORTCULLIS_OUTPUT -m owner --gid-owner " gid " -j RETURN\n"
#define LOCAL4 "-A PORTCULLIS_OUTPUT -d 127.0.0.1/32 -j RETURN\n"
#define LOCAL6 "-A PORTCULLIS_OUTPUT -d ::1/128 -j RETURN\n"
#define ALL    "-A PORTCULLIS_OUTPUT -j PORTCULLIS_REDIRECT\n"
#define TAIL(port)                                                        \
	"-A PORTCULLIS_REDIRECT -p tcp -j REDIRECT --to-ports " port "\n" \
	"COMMIT\n"

/* The rules for <o> and <family> over what <st> shows installed, in a static buffer. */
static const char *rules_over(const struct pc_ipt_opts *o, int family,
			      const struct pc_ipt_state *st)
{
	static char text[8192];
	struct pc_buf b = PC_BUF_INIT;

	pc_ipt_rules(&b, o, family, st);
	ck_assert(!b.oom);
	ck_assert_uint_lt(b.len, sizeof(text));
	memcpy(text, pc_buf_str(&b), b.len + 1);
	pc_buf_release(&b);
	return text;
}

/* The rules for <o> and <family>; <with_jumps>: nothing installed yet. */
static const char *rules(const struct pc_ipt_opts *o, int family, bool with_jumps)
{
	struct pc_ipt_state installed = {
		.jumps = 1, .guard_jumps = 1, .udp_guard_jumps = 1, .egress_jumps = 1
	};

	return rules_over(o, family, with_jumps ? NULL : &installed);
}

static void set_cidrs(struct pc_ipt_cidrs *c, const char *s, bool wildcard_ok)
{
	struct pc_err err;

	pc_err_clear(&err);
	ck_assert_msg(pc_ipt_parse_cidrs(s, wildcard_ok, c, &err) == 0, "%s: %s", s, err.msg);
}

static void set_ports(struct pc_ipt_ports *p, const char *s)
{
	struct pc_err err;

	pc_err_clear(&err);
	ck_assert_msg(pc_ipt_parse_ports(s, p, &err) == 0, "%s: %s", s, err.msg);
}

START_TEST(defaults_both_families)
{
	struct pc_ipt_opts o;

	pc_ipt_opts_init(&o);
	ck_assert_uint_eq(o.proxy_port, 15001);
	ck_assert_uint_eq(o.proxy_uid, 1337);
	ck_assert_uint_eq(o.proxy_gid, 1337);
	ck_assert_str_eq(rules(&o, AF_INET, true),
			 HEAD4 JUMP OWNER("1337", "1337") LOCAL4 ALL TAIL("15001"));
	ck_assert_str_eq(rules(&o, AF_INET6, true),
			 HEAD6 JUMP OWNER("1337", "1337") LOCAL6 ALL TAIL("15001"));
	/* The jumps are left out when they are installed already. */
	ck_assert_str_eq(rules(&o, AF_INET, false),
			 FILTER4_NO_JUMPS NAT OWNER("1337", "1337") LOCAL4 ALL TAIL("15001"));
	pc_ipt_opts_release(&o);
}
END_TEST

START_TEST(proxy_port_uid_gid)
{
	struct pc_ipt_opts o;

	pc_ipt_opts_init(&o);
	o.proxy_port = 15002;
	o.proxy_uid = 0;
	o.proxy_gid = 4294967294u;
	ck_assert_str_eq(rules(&o, AF_INET, true),
			 FILTER4_AT("15002", "0", "4294967294") NAT JUMP OWNER("0", "4294967294")
				 LOCAL4 ALL TAIL("15002"));
	pc_ipt_opts_release(&o);
}
END_TEST

/* clang-format off */
START_TEST(excludes_go_to_their_family)
{
	struct pc_ipt_opts o;

	pc_ipt_opts_init(&o);
	set_ports(&o.exclude_ports, "22,3306");
	set_cidrs(&o.exclude, "203.0.113.0/24,2001:db8:1::/48,198.51.100.9", false);
	ck_assert_str_eq(rules(&o, AF_INET, true),
			 HEAD4 JUMP
			 "-A PORTCULLIS_OUTPUT -p tcp -m tcp --dport 22 -j RETURN\n"
			 "-A PORTCULLIS_OUTPUT -p tcp -m tcp --dport 3306 -j RETURN\n"
			 OWNER("1337", "1337") LOCAL4
			 "-A PORTCULLIS_OUTPUT -d 203.0.113.0/24 -j RETURN\n"
			 "-A PORTCULLIS_OUTPUT -d 198.51.100.9/32 -j RETURN\n"
			 ALL TAIL("15001"));
	ck_assert_str_eq(rules(&o, AF_INET6, true),
			 HEAD6 JUMP
			 "-A PORTCULLIS_OUTPUT -p tcp -m tcp --dport 22 -j RETURN\n"
			 "-A PORTCULLIS_OUTPUT -p tcp -m tcp --dport 3306 -j RETURN\n"
			 OWNER("1337", "1337") LOCAL6
			 "-A PORTCULLIS_OUTPUT -d 2001:db8:1::/48 -j RETURN\n"
			 ALL TAIL("15001"));
	pc_ipt_opts_release(&o);
}
END_TEST
/* clang-format on */

/* clang-format off */
START_TEST(includes_go_to_their_family)
{
	struct pc_ipt_opts o;

	pc_ipt_opts_init(&o);
	set_cidrs(&o.include, "198.51.100.0/24,2001:DB8::/32,192.0.2.0/24", true);
	set_ports(&o.include_ports, "443,8443");
	ck_assert(!o.include.all);
	ck_assert_str_eq(rules(&o, AF_INET, true),
			 HEAD4 JUMP OWNER("1337", "1337") LOCAL4
			 "-A PORTCULLIS_OUTPUT -p tcp -m tcp --dport 443 -j PORTCULLIS_REDIRECT\n"
			 "-A PORTCULLIS_OUTPUT -p tcp -m tcp --dport 8443 -j PORTCULLIS_REDIRECT\n"
			 "-A PORTCULLIS_OUTPUT -d 198.51.100.0/24 -j PORTCULLIS_REDIRECT\n"
			 "-A PORTCULLIS_OUTPUT -d 192.0.2.0/24 -j PORTCULLIS_REDIRECT\n"
			 TAIL("15001"));
	ck_assert_str_eq(rules(&o, AF_INET6, true),
			 HEAD6 JUMP OWNER("1337", "1337") LOCAL6
			 "-A PORTCULLIS_OUTPUT -p tcp -m tcp --dport 443 -j PORTCULLIS_REDIRECT\n"
			 "-A PORTCULLIS_OUTPUT -p tcp -m tcp --dport 8443 -j PORTCULLIS_REDIRECT\n"
			 "-A PORTCULLIS_OUTPUT -d 2001:db8::/32 -j PORTCULLIS_REDIRECT\n"
			 TAIL("15001"));
	pc_ipt_opts_release(&o);
}
END_TEST
/* clang-format on */

START_TEST(include_of_one_family_captures_nothing_of_the_other)
{
	struct pc_ipt_opts o;

	pc_ipt_opts_init(&o);
	set_cidrs(&o.include, "198.51.100.0/24", true);
	ck_assert_str_eq(rules(&o, AF_INET6, true),
			 HEAD6 JUMP OWNER("1337", "1337") LOCAL6 TAIL("15001"));
	pc_ipt_opts_release(&o);
}
END_TEST

/* clang-format off */
START_TEST(empty_include_captures_nothing)
{
	struct pc_ipt_opts o;

	pc_ipt_opts_init(&o);
	set_cidrs(&o.include, "", true);
	ck_assert(!o.include.all);
	ck_assert_uint_eq(o.include.n, 0);
	ck_assert_str_eq(rules(&o, AF_INET, true),
			 HEAD4 JUMP OWNER("1337", "1337") LOCAL4 TAIL("15001"));
	ck_assert_str_eq(rules(&o, AF_INET6, true),
			 HEAD6 JUMP OWNER("1337", "1337") LOCAL6 TAIL("15001"));

	/* ... except the included ports, whatever the destination (Istio's -i '' -q P) */
	set_ports(&o.include_ports, "5432");
	ck_assert_str_eq(rules(&o, AF_INET, true),
			 HEAD4 JUMP OWNER("1337", "1337") LOCAL4
			 "-A PORTCULLIS_OUTPUT -p tcp -m tcp --dport 5432 -j PORTCULLIS_REDIRECT\n"
			 TAIL("15001"));
	pc_ipt_opts_release(&o);
}
END_TEST
/* clang-format on */

/* clang-format off */
START_TEST(loopback_include_captures_app_to_itself)
{
	static const char owner_only[] = "-A PORTCULLIS_OUTPUT -m owner --uid-owner 1337 -j RETURN\n"
					 "-A PORTCULLIS_OUTPUT -m owner --gid-owner 1337 -j RETURN\n";
	struct pc_ipt_opts o;
	char want[8192];

	/* As in Istio: a loopback include of either family drops the lo rules in both. */
	pc_ipt_opts_init(&o);
	set_cidrs(&o.include, "127.0.0.0/8", true);
	snprintf(want, sizeof(want), HEAD6 JUMP "%s" LOCAL6 TAIL("15001"), owner_only);
	ck_assert_str_eq(rules(&o, AF_INET6, true), want);
	snprintf(want, sizeof(want),
		 HEAD4 JUMP "%s" LOCAL4 "-A PORTCULLIS_OUTPUT -d 127.0.0.0/8 -j PORTCULLIS_REDIRECT\n"
		 TAIL("15001"), owner_only);
	ck_assert_str_eq(rules(&o, AF_INET, true), want);

	set_cidrs(&o.include, "::1", true);
	snprintf(want, sizeof(want), HEAD4 JUMP "%s" LOCAL4 TAIL("15001"), owner_only);
	ck_assert_str_eq(rules(&o, AF_INET, true), want);

	/* 0.0.0.0/0 holds 127.0.0.1 but is not a loopback network: lo rules stay. */
	set_cidrs(&o.include, "0.0.0.0/0", true);
	ck_assert_str_eq(rules(&o, AF_INET, true),
			 HEAD4 JUMP OWNER("1337", "1337") LOCAL4
			 "-A PORTCULLIS_OUTPUT -d 0.0.0.0/0 -j PORTCULLIS_REDIRECT\n" TAIL("15001"));
	pc_ipt_opts_release(&o);
}
END_TEST
/* clang-format on */

/* clang-format off */
START_TEST(everything_at_once_in_order)
{
	struct pc_ipt_opts o;

	pc_ipt_opts_init(&o);
	o.proxy_port = 15999;
	set_ports(&o.exclude_ports, "15020");
	set_cidrs(&o.exclude, "192.0.2.128/25", false);
	set_ports(&o.include_ports, "80");
	ck_assert_str_eq(rules(&o, AF_INET, true),
			 FILTER4_AT("15999", "1337", "1337") NAT JUMP
			 "-A PORTCULLIS_OUTPUT -p tcp -m tcp --dport 15020 -j RETURN\n"
			 OWNER("1337", "1337") LOCAL4
			 "-A PORTCULLIS_OUTPUT -d 192.0.2.128/25 -j RETURN\n"
			 "-A PORTCULLIS_OUTPUT -p tcp -m tcp --dport 80 -j PORTCULLIS_REDIRECT\n"
			 ALL TAIL("15999"));
	pc_ipt_opts_release(&o);
}
END_TEST
/* clang-format on */

START_TEST(cidr_lists_are_normalised)
{
	struct pc_ipt_cidrs c = { false, NULL, 0 };
	char text[PC_ADDR_STRLEN];

	set_cidrs(&c, " 192.0.2.77/24 ,\t192.0.2.0/24,198.51.100.7,2001:db8::1/32,2001:db8::/32",
		  true);
	ck_assert(!c.all);
	ck_assert_uint_eq(c.n, 3); /* host bits cleared, then repeats dropped */
	ck_assert_str_eq(pc_addr_str(&c.v[0].addr, text), "192.0.2.0");
	ck_assert_uint_eq(c.v[0].len, 24);
	ck_assert_str_eq(pc_addr_str(&c.v[1].addr, text), "198.51.100.7");
	ck_assert_uint_eq(c.v[1].len, 32);
	ck_assert_str_eq(pc_addr_str(&c.v[2].addr, text), "2001:db8::");
	ck_assert_uint_eq(c.v[2].len, 32);
	ck_assert(pc_ipt_cidrs_has_family(&c, AF_INET));
	ck_assert(pc_ipt_cidrs_has_family(&c, AF_INET6));

	set_cidrs(&c, "*", true);
	ck_assert(c.all);
	ck_assert_uint_eq(c.n, 0);
	ck_assert(!pc_ipt_cidrs_has_family(&c, AF_INET));

	set_cidrs(&c, "  ", true); /* blank is empty */
	ck_assert(!c.all);
	ck_assert_uint_eq(c.n, 0);
	free(c.v);
}
END_TEST

static const struct {
	const char *in;
	bool wildcard_ok;
	const char *msg;
} bad_cidrs[] = {
	{ "*", false, "\"*\" is not allowed: excluding every destination would capture nothing" },
	{ "10.0.0.0/8,*", false, "\"*\" is not allowed" },
	{ "*,10.0.0.0/8", true, "\"*\" already means every destination" },
	{ "10.0.0.0/8,*", true, "\"*\" already means every destination" },
	{ "10.0.0.0/8,", true, "entry 2 of \"10.0.0.0/8,\" is empty" },
	{ ",10.0.0.0/8", true, "entry 1 of \",10.0.0.0/8\" is empty" },
	{ "10.0.0.0/8,,::/0", true, "entry 2 of" },
	{ "10.0.0.0/8, ,::/0", true, "entry 2 of" },
	{ "10.0.0.0/33", true, "\"10.0.0.0/33\" is not an IPv4 or IPv6 address or CIDR" },
	{ "2001:db8::/129", true, "\"2001:db8::/129\" is not an" },
	{ "10.0.0.0/08", true, "\"10.0.0.0/08\" is not an" },
	{ "10.0.0.0/", true, "is not an" },
	{ "10.0.0/8", true, "is not an" },
	{ "fe80::1%eth0", true, "is not an" },
	{ "example.com", true, "\"example.com\" is not an" },
	{ "10.0.0.0 /8", true, "is not an" },
	{ "10.0.0.0/8 10.1.0.0/16", true, "is not an" },
};

START_TEST(bad_cidr_lists)
{
	struct pc_ipt_cidrs c = { true, NULL, 0 };
	struct pc_err err;

	pc_err_clear(&err);
	ck_assert_int_eq(pc_ipt_parse_cidrs(bad_cidrs[_i].in, bad_cidrs[_i].wildcard_ok, &c, &err),
			 -EINVAL);
	ck_assert_int_eq(err.code, -EINVAL);
	ck_assert_msg(strstr(err.msg, bad_cidrs[_i].msg), "\"%s\": got \"%s\"", bad_cidrs[_i].in,
		      err.msg);
	/* <out> is untouched on failure */
	ck_assert(c.all);
	ck_assert_ptr_null(c.v);
}
END_TEST

START_TEST(long_lists_are_bounded)
{
	struct pc_ipt_cidrs c = { false, NULL, 0 };
	struct pc_ipt_ports p = { NULL, 0 };
	struct pc_buf b = PC_BUF_INIT;
	struct pc_err err;
	int i;

	for (i = 0; i < PC_IPT_LIST_MAX; i++)
		pc_buf_printf(&b, "%s10.%d.%d.0/24", i ? "," : "", i / 256, i % 256);
	set_cidrs(&c, pc_buf_str(&b), true);
	ck_assert_uint_eq(c.n, PC_IPT_LIST_MAX);
	pc_buf_adds(&b, ",192.0.2.0/24");
	ck_assert_int_eq(pc_ipt_parse_cidrs(pc_buf_str(&b), true, &c, &err), -EINVAL);
	ck_assert_str_eq(err.msg, "more than 1024 entries");

	pc_buf_clear(&b);
	for (i = 0; i <= PC_IPT_LIST_MAX; i++)
		pc_buf_printf(&b, "%s%d", i ? "," : "", i + 1);
	ck_assert_int_eq(pc_ipt_parse_ports(pc_buf_str(&b), &p, &err), -EINVAL);

	pc_buf_clear(&b);
	for (i = 0; i < 200; i++)
		pc_buf_addc(&b, '1');
	ck_assert_int_eq(pc_ipt_parse_cidrs(pc_buf_str(&b), true, &c, &err), -EINVAL);
	ck_assert_msg(strstr(err.msg, "entry 1 is too long"), "%s", err.msg);
	pc_buf_release(&b);
	free(c.v);
	free(p.v);
}
END_TEST

START_TEST(port_lists)
{
	struct pc_ipt_ports p = { NULL, 0 };

	set_ports(&p, "80, 443 ,80,65535,1");
	ck_assert_uint_eq(p.n, 4);
	ck_assert_uint_eq(p.v[0], 80);
	ck_assert_uint_eq(p.v[1], 443);
	ck_assert_uint_eq(p.v[2], 65535);
	ck_assert_uint_eq(p.v[3], 1);
	set_ports(&p, "");
	ck_assert_uint_eq(p.n, 0);
	free(p.v);
}
END_TEST

static const struct {
	const char *in;
	const char *msg;
} bad_ports[] = {
	{ "0", "port 0 is out of range (1-65535)" },
	{ "65536", "port 65536 is out of range (1-65535)" },
	{ "99999999999999999999", "is out of range" },
	{ "-1", "\"-1\" is not a port number" },
	{ "+80", "\"+80\" is not a port number" },
	{ "80a", "\"80a\" is not a port number" },
	{ "0x50", "\"0x50\" is not a port number" },
	{ "1000:2000", "is not a port number" },
	{ "http", "\"http\" is not a port number" },
	{ "80,,443", "entry 2 of \"80,,443\" is empty" },
	{ "80,", "entry 2 of \"80,\" is empty" },
};

START_TEST(bad_port_lists)
{
	struct pc_ipt_ports p = { NULL, 0 };
	struct pc_err err;

	pc_err_clear(&err);
	ck_assert_int_eq(pc_ipt_parse_ports(bad_ports[_i].in, &p, &err), -EINVAL);
	ck_assert_msg(strstr(err.msg, bad_ports[_i].msg), "\"%s\": got \"%s\"", bad_ports[_i].in,
		      err.msg);
	ck_assert_uint_eq(p.n, 0);
}
END_TEST

START_TEST(ids_and_single_ports)
{
	struct pc_err err;
	uint32_t id = 7;
	uint16_t port = 7;

	ck_assert_int_eq(pc_ipt_parse_id("0", &id, &err), 0);
	ck_assert_uint_eq(id, 0);
	ck_assert_int_eq(pc_ipt_parse_id("4294967294", &id, &err), 0);
	ck_assert_uint_eq(id, 4294967294u);
	ck_assert_int_eq(pc_ipt_parse_id("4294967295", &id, &err), -EINVAL); /* (uid_t)-1 */
	ck_assert_int_eq(pc_ipt_parse_id("42949672950", &id, &err), -EINVAL);
	ck_assert_int_eq(pc_ipt_parse_id("", &id, &err), -EINVAL);
	ck_assert_int_eq(pc_ipt_parse_id("-1", &id, &err), -EINVAL);
	ck_assert_int_eq(pc_ipt_parse_id("istio-proxy", &id, &err), -EINVAL);
	ck_assert_str_eq(err.msg, "\"istio-proxy\" is not a numeric id (0-4294967294)");
	ck_assert_uint_eq(id, 4294967294u);

	ck_assert_int_eq(pc_ipt_parse_port("15001", &port, &err), 0);
	ck_assert_uint_eq(port, 15001);
	ck_assert_int_eq(pc_ipt_parse_port("", &port, &err), -EINVAL);
	ck_assert_int_eq(pc_ipt_parse_port("0", &port, &err), -EINVAL);
	ck_assert_uint_eq(port, 15001);
}
END_TEST

/*
 * A jump of an earlier version (every TCP packet, not only SYN) is
 * replaced in the same transaction; jumps already there are not added.
 */
START_TEST(install_over_what_is_there)
{
	struct pc_ipt_state st = { .old_jumps = 2 };
	struct pc_ipt_opts o;

	pc_ipt_opts_init(&o);
	ck_assert_str_eq(rules_over(&o, AF_INET, &st),
			 HEAD4 "-D OUTPUT -p tcp -j PORTCULLIS_OUTPUT\n"
			       "-D OUTPUT -p tcp -j PORTCULLIS_OUTPUT\n" JUMP OWNER("1337", "1337")
				       LOCAL4 ALL TAIL("15001"));
	st = (struct pc_ipt_state){ .jumps = 1, .guard_jumps = 0 };
	ck_assert_str_eq(rules_over(&o, AF_INET6, &st),
			 HEAD6 OWNER("1337", "1337") LOCAL6 ALL TAIL("15001"));
	st = (struct pc_ipt_state){ .jumps = 0, .guard_jumps = 2 };
	ck_assert_str_eq(rules_over(&o, AF_INET6, &st), FILTER_DECL
			 "-I INPUT 1 -p udp -j PORTCULLIS_GUARD\n"
			 "-I OUTPUT 1 -j PORTCULLIS_EGRESS\n" FENCE6("1337", "1337") GUARD6("15001")
				 UDP_END NAT JUMP OWNER("1337", "1337") LOCAL6 ALL TAIL("15001"));
	pc_ipt_opts_release(&o);
}
END_TEST

START_TEST(scan_counts_only_our_rules)
{
	static const char nat[] =
		"-P PREROUTING ACCEPT\n"
		"-P OUTPUT ACCEPT\n"
		"-N KUBE-SERVICES\n"
		"-N PORTCULLIS_OUTPUT\n"
		"-N PORTCULLIS_OUTPUTS\n"
		"-A OUTPUT -p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN -j PORTCULLIS_OUTPUT\n"
		"-A OUTPUT -p tcp -j PORTCULLIS_OUTPUT\n"  /* an earlier version's */
		"-A OUTPUT -j PORTCULLIS_OUTPUT\n"         /* not our spelling */
		"-A OUTPUT -p tcp -j PORTCULLIS_OUTPUTS\n" /* another chain */
		"-A OUTPUT -d 192.0.2.1/32 -p tcp -j PORTCULLIS_OUTPUT\n"
		"-A OUTPUT -p tcp -j KUBE-SERVICES\n"
		"-N PORTCULLIS_GUARD\n" /* not in nat */
		"-A INPUT -p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN -j PORTCULLIS_GUARD\n"
		"-A OUTPUT -p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN -j PORTCULLIS_OUTPUT";
	static const char filter[] =
		"-P INPUT ACCEPT\n"
		"-N PORTCULLIS_GUARD\n"
		"-N PORTCULLIS_OUTPUT\n" /* not in filter */
		"-A INPUT -i lo -j ACCEPT\n"
		"-A INPUT -p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN -j PORTCULLIS_GUARD\n"
		"-A INPUT -p tcp -j PORTCULLIS_GUARD\n"
		"-A OUTPUT -p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN -j PORTCULLIS_OUTPUT\n";
	struct pc_ipt_state st;

	pc_ipt_scan(nat, filter, "", &st);
	ck_assert_uint_eq(st.jumps, 2);
	ck_assert_uint_eq(st.old_jumps, 1);
	ck_assert(st.has_output);
	ck_assert(!st.has_redirect);
	ck_assert_uint_eq(st.guard_jumps, 1);
	ck_assert(st.has_guard);

	pc_ipt_scan("", "", "", &st);
	ck_assert_uint_eq(st.jumps + st.old_jumps + st.guard_jumps, 0);
	ck_assert(!st.has_output && !st.has_guard);
	pc_ipt_scan("-N PORTCULLIS_REDIRECT\n", "", "", &st);
	ck_assert(st.has_redirect);
	ck_assert(!st.has_output);
	pc_ipt_scan("", "-N PORTCULLIS_GUARD", "", &st);
	ck_assert(!st.has_raw_output && !st.has_raw_pre && !st.raw_out_jumps);
	ck_assert(st.has_guard);
	ck_assert(!st.has_redirect);
}
END_TEST

START_TEST(cleanup_removes_what_is_there)
{
	struct pc_ipt_state st = { .jumps = 2,
				   .old_jumps = 1,
				   .has_output = true,
				   .has_redirect = true,
				   .guard_jumps = 1,
				   .has_guard = true };
	struct pc_buf b = PC_BUF_INIT;

	pc_ipt_cleanup_rules(&b, &st);
	ck_assert_str_eq(pc_buf_str(&b), "*filter\n"
					 "-D INPUT " SYN " -j PORTCULLIS_GUARD\n"
					 "-F PORTCULLIS_GUARD\n"
					 "-X PORTCULLIS_GUARD\n"
					 "COMMIT\n"
					 "*nat\n"
					 "-D OUTPUT " SYN " -j PORTCULLIS_OUTPUT\n"
					 "-D OUTPUT " SYN " -j PORTCULLIS_OUTPUT\n"
					 "-D OUTPUT -p tcp -j PORTCULLIS_OUTPUT\n"
					 "-F PORTCULLIS_OUTPUT\n"
					 "-F PORTCULLIS_REDIRECT\n"
					 "-X PORTCULLIS_OUTPUT\n"
					 "-X PORTCULLIS_REDIRECT\n"
					 "COMMIT\n");

	pc_buf_clear(&b);
	st = (struct pc_ipt_state){ .has_redirect = true };
	pc_ipt_cleanup_rules(&b, &st);
	ck_assert_str_eq(pc_buf_str(&b), "*nat\n"
					 "-F PORTCULLIS_REDIRECT\n"
					 "-X PORTCULLIS_REDIRECT\n"
					 "COMMIT\n");

	pc_buf_clear(&b);
	st = (struct pc_ipt_state){ .guard_jumps = 1 };
	pc_ipt_cleanup_rules(&b, &st);
	ck_assert_str_eq(pc_buf_str(&b), "*filter\n"
					 "-D INPUT " SYN " -j PORTCULLIS_GUARD\n"
					 "COMMIT\n");

	pc_buf_clear(&b);
	st = (struct pc_ipt_state){ .jumps = 0 };
	pc_ipt_cleanup_rules(&b, &st);
	ck_assert_uint_eq(b.len, 0);
	pc_buf_release(&b);
}
END_TEST

/* The chains and jumps of the fence and of DNS capture are found and removed too. */
START_TEST(scan_and_cleanup_fence_and_dns)
{
	static const char nat[] = "-N PORTCULLIS_DNS\n"
				  "-A OUTPUT -p udp -m udp --dport 53 -j PORTCULLIS_DNS\n"
				  "-A OUTPUT -p udp -j PORTCULLIS_DNS\n"; /* not our spelling */
	static const char filter[] = "-N PORTCULLIS_DENY\n"
				     "-N PORTCULLIS_EGRESS\n"
				     "-N PORTCULLIS_UDP\n"
				     "-N PORTCULLIS_UDPX\n"
				     "-A INPUT -p udp -j PORTCULLIS_GUARD\n"
				     "-A OUTPUT -j PORTCULLIS_EGRESS\n"
				     "-A OUTPUT -j PORTCULLIS_EGRESS\n"
				     "-A OUTPUT -p udp -j PORTCULLIS_EGRESS\n";
	static const char raw[] = "-N PORTCULLIS_RAW_OUTPUT\n"
				  "-N PORTCULLIS_RAW_PREROUTING\n"
				  "-A PREROUTING -p udp -j PORTCULLIS_RAW_PREROUTING\n"
				  "-A OUTPUT -p udp -j PORTCULLIS_RAW_OUTPUT\n"
				  "-A OUTPUT -p udp -j PORTCULLIS_RAW_OUTPUT\n"
				  "-A OUTPUT -j PORTCULLIS_RAW_OUTPUT\n"; /* not our spelling */
	struct pc_ipt_state st;
	struct pc_buf b = PC_BUF_INIT;

	pc_ipt_scan(nat, filter, raw, &st);
	ck_assert(st.has_raw_output && st.has_raw_pre);
	ck_assert_uint_eq(st.raw_out_jumps, 2);
	ck_assert_uint_eq(st.raw_pre_jumps, 1);
	ck_assert(st.has_dns && st.has_deny && st.has_egress && st.has_udp);
	ck_assert(!st.has_guard && !st.has_output);
	ck_assert_uint_eq(st.dns_jumps, 1);
	ck_assert_uint_eq(st.udp_guard_jumps, 1);
	ck_assert_uint_eq(st.egress_jumps, 2);
	ck_assert_uint_eq(st.guard_jumps + st.jumps, 0);

	st.has_guard = true;
	pc_ipt_cleanup_rules(&b, &st);
	ck_assert_str_eq(pc_buf_str(&b), "*raw\n"
					 "-D PREROUTING -p udp -j PORTCULLIS_RAW_PREROUTING\n"
					 "-D OUTPUT -p udp -j PORTCULLIS_RAW_OUTPUT\n"
					 "-D OUTPUT -p udp -j PORTCULLIS_RAW_OUTPUT\n"
					 "-F PORTCULLIS_RAW_OUTPUT\n"
					 "-F PORTCULLIS_RAW_PREROUTING\n"
					 "-X PORTCULLIS_RAW_OUTPUT\n"
					 "-X PORTCULLIS_RAW_PREROUTING\n"
					 "COMMIT\n"
					 "*filter\n"
					 "-D INPUT -p udp -j PORTCULLIS_GUARD\n"
					 "-D OUTPUT -j PORTCULLIS_EGRESS\n"
					 "-D OUTPUT -j PORTCULLIS_EGRESS\n"
					 "-F PORTCULLIS_GUARD\n"
					 "-F PORTCULLIS_EGRESS\n"
					 "-F PORTCULLIS_UDP\n"
					 "-F PORTCULLIS_DENY\n"
					 "-X PORTCULLIS_GUARD\n"
					 "-X PORTCULLIS_EGRESS\n"
					 "-X PORTCULLIS_UDP\n"
					 "-X PORTCULLIS_DENY\n"
					 "COMMIT\n"
					 "*nat\n"
					 "-D OUTPUT -p udp -m udp --dport 53 -j PORTCULLIS_DNS\n"
					 "-F PORTCULLIS_DNS\n"
					 "-X PORTCULLIS_DNS\n"
					 "COMMIT\n");
	pc_buf_release(&b);
}
END_TEST

/* resolv.conf as glibc reads it: nameserver lines only, zones dropped, junk skipped. */
START_TEST(resolv_conf_nameservers)
{
	struct pc_ipt_cidrs r = { false, NULL, 0 };
	char text[PC_ADDR_STRLEN];

	ck_assert_int_eq(pc_ipt_parse_resolv("# generated\n"
					     "search example.com\n"
					     "nameserver 192.0.2.53\n"
					     "nameserver\t2001:db8::53%eth0\n"
					     " nameserver 198.51.100.1\n" /* glibc: not a keyword */
					     "nameservers 198.51.100.2\n"
					     "nameserver 192.0.2.53\n" /* repeated */
					     "nameserver not-an-address\n"
					     "nameserver 203.0.113.0/24\n"
					     "options ndots:5\n"
					     "nameserver 203.0.113.53 # comment",
					     &r),
			 0);
	ck_assert_uint_eq(r.n, 3);
	ck_assert_str_eq(pc_addr_str(&r.v[0].addr, text), "192.0.2.53");
	ck_assert_uint_eq(r.v[0].len, 32);
	ck_assert_str_eq(pc_addr_str(&r.v[1].addr, text), "2001:db8::53");
	ck_assert_uint_eq(r.v[1].len, 128);
	ck_assert_str_eq(pc_addr_str(&r.v[2].addr, text), "203.0.113.53");

	/* No nameserver at all: glibc asks 127.0.0.1. */
	ck_assert_int_eq(pc_ipt_parse_resolv("search example.com\n", &r), 0);
	ck_assert_uint_eq(r.n, 1);
	ck_assert_str_eq(pc_addr_str(&r.v[0].addr, text), "127.0.0.1");
	free(r.v);
}
END_TEST

#define DNS_NAT4                                                  \
	"*nat\n"                                                  \
	":PORTCULLIS_DNS - [0:0]\n"                               \
	":PORTCULLIS_OUTPUT - [0:0]\n"                            \
	":PORTCULLIS_REDIRECT - [0:0]\n" JUMP                     \
	"-A OUTPUT -p udp -m udp --dport 53 -j PORTCULLIS_DNS\n"  \
	"-A PORTCULLIS_DNS -m owner --uid-owner 1337 -j RETURN\n" \
	"-A PORTCULLIS_DNS -m owner --gid-owner 1337 -j RETURN\n"
#define DNS_OWNER                                                                               \
	"-A PORTCULLIS_OUTPUT -o lo -p tcp -m tcp ! --dport 53 -m owner ! --uid-owner 1337 -j " \
	"RETURN\n"                                                                              \
	"-A PORTCULLIS_OUTPUT -m owner --uid-owner 1337 -j RETURN\n"                            \
	"-A PORTCULLIS_OUTPUT -o lo -p tcp -m tcp ! --dport 53 -m owner ! --gid-owner 1337 -j " \
	"RETURN\n"                                                                              \
	"-A PORTCULLIS_OUTPUT -m owner --gid-owner 1337 -j RETURN\n"

/* The raw section of --capture-dns up to the resolver rules: jumps, then the owners' zones. */
#define RAW_HEAD(lo, port)                                                                   \
	"*raw\n"                                                                             \
	":PORTCULLIS_RAW_OUTPUT - [0:0]\n"                                                   \
	":PORTCULLIS_RAW_PREROUTING - [0:0]\n"                                               \
	"-A PREROUTING -p udp -j PORTCULLIS_RAW_PREROUTING\n"                                \
	"-A OUTPUT -p udp -j PORTCULLIS_RAW_OUTPUT\n"                                        \
	"-A PORTCULLIS_RAW_OUTPUT -p udp -m udp --dport 53 -m owner --uid-owner 1337 -j CT " \
	"--zone 1\n"                                                                         \
	"-A PORTCULLIS_RAW_OUTPUT -p udp -m udp --dport 53 -m owner --gid-owner 1337 -j CT " \
	"--zone 1\n"                                                                         \
	"-A PORTCULLIS_RAW_OUTPUT -s " lo " -p udp -m udp --sport " port " -j CT --zone 2\n"

/*
 * --capture-dns: UDP through its own jump and chain, TCP inside
 * PORTCULLIS_OUTPUT after the owner rules, each resolver in its family;
 * the fence then has no DNS exception (DNS goes over lo to the proxy).
 */
START_TEST(capture_dns_per_family)
{
	struct pc_ipt_opts o;

	pc_ipt_opts_init(&o);
	o.capture_dns = true;
	ck_assert_int_eq(pc_ipt_parse_resolv("nameserver 192.0.2.53\nnameserver 2001:db8::53\n"
					     "nameserver 127.0.0.53\n",
					     &o.resolvers),
			 0);
	ck_assert_str_eq(rules(&o, AF_INET, true),
			 RAW_HEAD("127.0.0.1/32",
				  "15053") "-A PORTCULLIS_RAW_OUTPUT -d 192.0.2.53/32 -p "
					   "udp -m udp --dport 53 -j CT "
					   "--zone 2\n"
					   "-A PORTCULLIS_RAW_OUTPUT -d 127.0.0.53/32 -p "
					   "udp -m udp --dport 53 -j CT "
					   "--zone 2\n"
					   "-A PORTCULLIS_RAW_PREROUTING -s 192.0.2.53/32 "
					   "-p udp -m udp --sport 53 -j "
					   "CT --zone 1\n"
					   "-A PORTCULLIS_RAW_PREROUTING -s 127.0.0.53/32 "
					   "-p udp -m udp --sport 53 -j "
					   "CT --zone 1\n"
					   "COMMIT\n" FILTER4 DNS_NAT4
					   "-A PORTCULLIS_DNS -d 192.0.2.53/32 -p udp -m udp "
					   "--dport 53 -j REDIRECT "
					   "--to-ports 15053\n"
					   "-A PORTCULLIS_DNS -d 127.0.0.53/32 -p udp -m udp "
					   "--dport 53 -j REDIRECT "
					   "--to-ports 15053\n" DNS_OWNER
					   "-A PORTCULLIS_OUTPUT -d 192.0.2.53/32 -p tcp -m tcp "
					   "--dport 53 -j "
					   "REDIRECT --to-ports 15053\n"
					   "-A PORTCULLIS_OUTPUT -d 127.0.0.53/32 -p tcp -m tcp "
					   "--dport 53 -j "
					   "REDIRECT --to-ports 15053\n" LOCAL4 ALL TAIL("15001"));
	o.dns_port = 5353;
	ck_assert(
		strstr(rules(&o, AF_INET6, true),
		       "-A PORTCULLIS_DNS -d 2001:db8::53/128 -p udp -m udp --dport 53 -j REDIRECT "
		       "--to-ports 5353\n"
		       "-A PORTCULLIS_OUTPUT -o lo"));
	ck_assert(strstr(rules(&o, AF_INET6, true),
			 "-A PORTCULLIS_GUARD -p udp -m udp --dport 5353 -j REJECT --reject-with "
			 "icmp6-port-unreachable\n"));
	ck_assert(
		strstr(rules(&o, AF_INET6, true),
		       "-s ::1/128 -p udp -m udp --sport 5353 -j CT --zone 2\n"
		       "-A PORTCULLIS_RAW_OUTPUT -d 2001:db8::53/128 -p udp -m udp --dport 53 -j "
		       "CT --zone 2\n"
		       "-A PORTCULLIS_RAW_PREROUTING -s 2001:db8::53/128 -p udp -m udp --sport 53 "
		       "-j CT --zone 1\nCOMMIT\n*filter\n"));
	ck_assert(!strstr(rules(&o, AF_INET6, true), "192.0.2.53"));
	ck_assert(!strstr(rules(&o, AF_INET, true), "2001:db8::53"));

	/* Installed already: no second jump. */
	{
		struct pc_ipt_state st = {
			.jumps = 1, .dns_jumps = 1, .raw_out_jumps = 1, .raw_pre_jumps = 1
		};

		ck_assert(!strstr(rules_over(&o, AF_INET, &st), "-A OUTPUT -p udp"));
		ck_assert(!strstr(rules_over(&o, AF_INET, &st), "-A PREROUTING"));
		st.raw_pre_jumps = 0;
		ck_assert(strstr(rules_over(&o, AF_INET, &st),
				 "\n-A PREROUTING -p udp -j PORTCULLIS_RAW_PREROUTING\n"
				 "-A PORTCULLIS_RAW_OUTPUT "));
	}
	pc_ipt_opts_release(&o);
}
END_TEST

START_TEST(capture_all_dns)
{
	struct pc_ipt_opts o;

	pc_ipt_opts_init(&o);
	o.capture_dns = o.capture_all_dns = true;
	ck_assert_int_eq(pc_ipt_parse_resolv("nameserver 192.0.2.53\n", &o.resolvers), 0);
	ck_assert_str_eq(
		rules(&o, AF_INET6, true),
		RAW_HEAD("::1/128",
			 "15053") "-A PORTCULLIS_RAW_OUTPUT -p udp -m udp --dport "
				  "53 -j CT --zone 2\n"
				  "-A PORTCULLIS_RAW_PREROUTING -p udp -m udp "
				  "--sport 53 -j CT --zone 1\n"
				  "COMMIT\n" FILTER6 "*nat\n"
				  ":PORTCULLIS_DNS - [0:0]\n"
				  ":PORTCULLIS_OUTPUT - [0:0]\n"
				  ":PORTCULLIS_REDIRECT - [0:0]\n" JUMP
				  "-A OUTPUT -p udp -m udp --dport 53 -j PORTCULLIS_DNS\n"
				  "-A PORTCULLIS_DNS -m owner --uid-owner 1337 -j RETURN\n"
				  "-A PORTCULLIS_DNS -m owner --gid-owner 1337 -j RETURN\n"
				  "-A PORTCULLIS_DNS -p udp -m udp --dport 53 -j REDIRECT "
				  "--to-ports "
				  "15053\n" DNS_OWNER
				  "-A PORTCULLIS_OUTPUT -p tcp -m tcp --dport 53 -j REDIRECT "
				  "--to-ports 15053\n" LOCAL6 ALL TAIL("15001"));
	pc_ipt_opts_release(&o);
}
END_TEST

/* Without capture, the fence lets UDP DNS to the resolvers of each family out. */
START_TEST(fence_lets_dns_to_the_resolvers_out)
{
	struct pc_ipt_opts o;

	pc_ipt_opts_init(&o);
	ck_assert_int_eq(pc_ipt_parse_resolv("nameserver 192.0.2.53\nnameserver 2001:db8::53\n",
					     &o.resolvers),
			 0);
	ck_assert_str_eq(
		rules(&o, AF_INET, true),
		FILTER_DECL FILTER_JUMPS DENY("icmp") SPOOF EGRESS_HEAD(
			"1337", "1337",
			"127.0.0.0/8") "-A PORTCULLIS_EGRESS -d 192.0.2.53/32 -p udp -m udp "
				       "--dport 53 -j RETURN\n" EGRESS_TAIL GUARD4("15001")
					       UDP_END NAT JUMP OWNER("1337", "1337")
						       LOCAL4 ALL TAIL("15001"));
	ck_assert(strstr(rules(&o, AF_INET6, true),
			 "--ctdir REPLY -j RETURN\n"
			 "-A PORTCULLIS_EGRESS -d 2001:db8::53/128 -p udp -m udp --dport 53 "
			 "-j RETURN\n" EGRESS_TAIL));
	pc_ipt_opts_release(&o);
}
END_TEST

/* --allow-non-tcp: no fence, and a fence installed before goes in the same transaction. */
START_TEST(allow_non_tcp_removes_the_fence)
{
	struct pc_ipt_state st = { .jumps = 1,
				   .guard_jumps = 1,
				   .udp_guard_jumps = 1,
				   .egress_jumps = 2,
				   .has_egress = true,
				   .has_udp = true,
				   .has_deny = true,
				   .dns_jumps = 1,
				   .has_dns = true,
				   .raw_out_jumps = 1,
				   .raw_pre_jumps = 1,
				   .has_raw_output = true,
				   .has_raw_pre = true };
	struct pc_ipt_opts o;

	pc_ipt_opts_init(&o);
	o.allow_non_tcp = true;
	ck_assert_str_eq(rules(&o, AF_INET, true),
			 "*filter\n:PORTCULLIS_GUARD - [0:0]\n"
			 "-I INPUT 1 " SYN " -j PORTCULLIS_GUARD\n"
			 "-I INPUT 2 -p udp -j PORTCULLIS_GUARD\n" GUARD4(
				 "15001") "COMMIT\n" NAT JUMP OWNER("1337", "1337")
				 LOCAL4 ALL TAIL("15001"));
	ck_assert_str_eq(
		rules_over(&o, AF_INET6, &st),
		"*raw\n"
		"-D PREROUTING -p udp -j PORTCULLIS_RAW_PREROUTING\n"
		"-D OUTPUT -p udp -j PORTCULLIS_RAW_OUTPUT\n"
		"-F PORTCULLIS_RAW_OUTPUT\n-F PORTCULLIS_RAW_PREROUTING\n"
		"-X PORTCULLIS_RAW_OUTPUT\n-X PORTCULLIS_RAW_PREROUTING\n"
		"COMMIT\n"
		"*filter\n:PORTCULLIS_GUARD - [0:0]\n" GUARD6(
			"15001") "-D OUTPUT -j PORTCULLIS_EGRESS\n"
				 "-D OUTPUT -j PORTCULLIS_EGRESS\n"
				 "-F PORTCULLIS_EGRESS\n-F PORTCULLIS_UDP\n-F PORTCULLIS_DENY\n"
				 "-X PORTCULLIS_EGRESS\n-X PORTCULLIS_UDP\n-X PORTCULLIS_DENY\n"
				 "COMMIT\n" NAT OWNER("1337", "1337") LOCAL6 ALL
		"-A PORTCULLIS_REDIRECT -p tcp -j REDIRECT --to-ports 15001\n"
		"-D OUTPUT -p udp -m udp --dport 53 -j PORTCULLIS_DNS\n"
		"-F PORTCULLIS_DNS\n-X PORTCULLIS_DNS\n"
		"COMMIT\n");
	pc_ipt_opts_release(&o);
}
END_TEST

/* Every allocation of parsing and generating may fail; nothing leaks or lies. */
START_TEST(allocation_failures)
{
	struct pc_ipt_opts o;
	struct pc_buf b;
	struct pc_err err;
	int injected = 1, ret;
	long n;

	for (n = 1; injected && n < 1000; n++) {
		pc_ipt_opts_init(&o);
		pc_buf_init(&b);
		pc_alloc_fail_at(n);
		ret = pc_ipt_parse_cidrs("192.0.2.0/24,2001:db8::/32,198.51.100.0/24", true,
					 &o.include, &err);
		if (ret == 0)
			ret = pc_ipt_parse_ports("80,443,8080", &o.include_ports, &err);
		if (ret == 0) {
			pc_ipt_rules(&b, &o, AF_INET, NULL);
			ret = b.oom ? -ENOMEM : 0;
		}
		injected = pc_alloc_injected();
		pc_alloc_fail_at(0);
		ck_assert_int_eq(ret, injected ? -ENOMEM : 0);
		if (!injected)
			ck_assert(strstr(pc_buf_str(&b),
					 "-d 198.51.100.0/24 -j PORTCULLIS_REDIRECT"));
		pc_buf_release(&b);
		pc_ipt_opts_release(&o);
	}
	ck_assert_msg(!injected, "sweep did not finish");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cli.iptables");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, defaults_both_families);
	tcase_add_test(tc, proxy_port_uid_gid);
	tcase_add_test(tc, excludes_go_to_their_family);
	tcase_add_test(tc, includes_go_to_their_family);
	tcase_add_test(tc, include_of_one_family_captures_nothing_of_the_other);
	tcase_add_test(tc, empty_include_captures_nothing);
	tcase_add_test(tc, loopback_include_captures_app_to_itself);
	tcase_add_test(tc, everything_at_once_in_order);
	tcase_add_test(tc, cidr_lists_are_normalised);
	tcase_add_loop_test(tc, bad_cidr_lists, 0, (int)(sizeof(bad_cidrs) / sizeof(bad_cidrs[0])));
	tcase_add_test(tc, long_lists_are_bounded);
	tcase_add_test(tc, port_lists);
	tcase_add_loop_test(tc, bad_port_lists, 0, (int)(sizeof(bad_ports) / sizeof(bad_ports[0])));
	tcase_add_test(tc, ids_and_single_ports);
	tcase_add_test(tc, install_over_what_is_there);
	tcase_add_test(tc, scan_counts_only_our_rules);
	tcase_add_test(tc, cleanup_removes_what_is_there);
	tcase_add_test(tc, scan_and_cleanup_fence_and_dns);
	tcase_add_test(tc, resolv_conf_nameservers);
	tcase_add_test(tc, capture_dns_per_family);
	tcase_add_test(tc, capture_all_dns);
	tcase_add_test(tc, fence_lets_dns_to_the_resolvers_out);
	tcase_add_test(tc, allow_non_tcp_removes_the_fence);
	tcase_add_test(tc, allocation_failures);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
