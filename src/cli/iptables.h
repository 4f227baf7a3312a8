/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cli/iptables.h - the nat rules of `portcullis iptables`, as text.
 *
 * Outbound capture only, as istio-iptables sets it up for a sidecar: TCP
 * that a process other than the proxy opens towards the included
 * destinations is REDIRECTed to the proxy port. Everything here is pure:
 * option strings are parsed into struct pc_ipt_opts, and the options turn
 * into iptables-restore input for one address family (IPv4 for iptables,
 * IPv6 for ip6tables). Running the tools is cmd_iptables.c's business.
 *
 * Our chains are PORTCULLIS_OUTPUT and PORTCULLIS_REDIRECT, not Istio's
 * ISTIO_OUTPUT and ISTIO_REDIRECT, so a real Istio on the same host is
 * never touched; the only rule outside them is the jump PC_IPT_JUMP_RULE
 * in the nat OUTPUT chain.
 */
#ifndef PC_CLI_IPTABLES_H
#define PC_CLI_IPTABLES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/addr.h"

struct pc_buf;
struct pc_err;

#define PC_IPT_OUTPUT_CHAIN   "PORTCULLIS_OUTPUT"
#define PC_IPT_REDIRECT_CHAIN "PORTCULLIS_REDIRECT"
/* The rule we add to the nat OUTPUT chain, as iptables -S prints it. */
#define PC_IPT_JUMP_RULE      "-p tcp -j " PC_IPT_OUTPUT_CHAIN

#define PC_IPT_DEFAULT_PORT 15001 /* Envoy's virtualOutbound listener */
#define PC_IPT_DEFAULT_UID  1337  /* istio-proxy */
#define PC_IPT_DEFAULT_GID  1337

/* More list entries than this in one option is an error, not a slow run. */
#define PC_IPT_LIST_MAX 1024

/* A CIDR list option: "*" (every destination), empty, or prefixes. */
struct pc_ipt_cidrs {
	bool all;
	struct pc_prefix *v;
	size_t n;
};

struct pc_ipt_ports {
	uint16_t *v;
	size_t n;
};

struct pc_ipt_opts {
	uint16_t proxy_port;
	uint32_t proxy_uid;
	uint32_t proxy_gid;
	struct pc_ipt_cidrs include;       /* -i: default "*" */
	struct pc_ipt_cidrs exclude;       /* -x: never "*" */
	struct pc_ipt_ports include_ports; /* -q */
	struct pc_ipt_ports exclude_ports; /* -o */
};

/* Defaults: port 15001, uid and gid 1337, include "*", no excludes. */
void pc_ipt_opts_init(struct pc_ipt_opts *o);

/* Free the lists of <o>; <o> is then as after pc_ipt_opts_init(). */
void pc_ipt_opts_release(struct pc_ipt_opts *o);

/*
 * Parse the comma-separated list <s> into <out>, replacing what it held.
 * Entries are IPv4 or IPv6 addresses or CIDRs (a plain address is a /32
 * or /128; host bits are cleared, so 192.0.2.77/24 is 192.0.2.0/24),
 * blanks around an entry are ignored, and a repeated prefix is kept once.
 * "" is the empty list. "*" alone is every destination if <wildcard_ok>;
 * it cannot be mixed with CIDRs. Returns 0, -EINVAL with the reason in
 * <err> (the caller adds the option name), or -ENOMEM.
 */
int pc_ipt_parse_cidrs(const char *s, bool wildcard_ok, struct pc_ipt_cidrs *out,
		       struct pc_err *err);

/*
 * Parse a comma-separated list of ports (1-65535, decimal) into <out>,
 * replacing what it held; "" is the empty list, repeats are kept once.
 * Returns 0, -EINVAL with <err> filled, or -ENOMEM.
 */
int pc_ipt_parse_ports(const char *s, struct pc_ipt_ports *out, struct pc_err *err);

/* One port, 1-65535. Returns 0 or -EINVAL with <err> filled. */
int pc_ipt_parse_port(const char *s, uint16_t *out, struct pc_err *err);

/* A numeric uid or gid, 0-4294967294. Returns 0 or -EINVAL with <err> filled. */
int pc_ipt_parse_id(const char *s, uint32_t *out, struct pc_err *err);

/* Does <c> hold a prefix of <family> (AF_INET or AF_INET6)? "*" does not count. */
bool pc_ipt_cidrs_has_family(const struct pc_ipt_cidrs *c, int family);

/*
 * Append to <b> the iptables-restore input (iptables-save format, nat
 * table, "*nat" to "COMMIT") that defines our two chains for <family>
 * (AF_INET: iptables, AF_INET6: ip6tables), prefixes of the other family
 * being skipped. Fed to `iptables-restore --noflush`, the chain lines
 * flush and rebuild our chains and leave every other chain alone. With
 * <with_jump> the jump from OUTPUT is included too; leave it out when the
 * jump is already there, or it is added twice. Rules are written in the
 * order and spelling iptables-save prints them, so the text can be
 * compared with a save of the installed table. Allocation failure is
 * left in <b>->oom.
 */
void pc_ipt_rules(struct pc_buf *b, const struct pc_ipt_opts *o, int family, bool with_jump);

/* What a listing of the nat table (`iptables -t nat -S`) shows of ours. */
struct pc_ipt_state {
	unsigned jumps;    /* copies of PC_IPT_JUMP_RULE in OUTPUT */
	bool has_output;   /* chain PORTCULLIS_OUTPUT exists */
	bool has_redirect; /* chain PORTCULLIS_REDIRECT exists */
};

/* Read the output of `iptables -t nat -S` (or ip6tables) in <listing>. */
void pc_ipt_scan(const char *listing, struct pc_ipt_state *st);

/*
 * Append to <b> the iptables-restore input that removes what <st> shows
 * of ours: every jump from OUTPUT, then our chains (flushed first, since
 * PORTCULLIS_OUTPUT refers to PORTCULLIS_REDIRECT). Appends nothing when
 * there is nothing of ours. Allocation failure is left in <b>->oom.
 */
void pc_ipt_cleanup_rules(struct pc_buf *b, const struct pc_ipt_state *st);

#endif /* PC_CLI_IPTABLES_H */
