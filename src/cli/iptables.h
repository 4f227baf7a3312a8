/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cli/iptables.h - the rules of `portcullis iptables`, as text.
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
 * in the nat OUTPUT chain. It matches SYN only: a connection that was open
 * before the rules came (conntrack picks it up mid-stream once a nat rule
 * exists) is never redirected, so installing or removing the capture
 * leaves established connections alone.
 *
 * The filter table gets the guard: PC_IPT_GUARD_JUMP_RULE at the head of
 * INPUT and our chain PORTCULLIS_GUARD, which lets a SYN to the proxy port
 * reach only a socket marked IP_TRANSPARENT (the daemon's listeners; an
 * unprivileged process cannot set the flag) and resets it otherwise, so
 * nobody in the pod can take the proxy's place while it is down. The
 * same holds for the DNS proxy's port, TCP and UDP (PC_IPT_GUARD_UDP_JUMP
 * sends every inbound datagram through the guard, which looks at the port).
 *
 * With --capture-dns, DNS goes to the DNS proxy as Istio's
 * ISTIO_OUTPUT_DNS does: UDP port 53 through its own jump from nat OUTPUT
 * (PC_IPT_DNS_JUMP_RULE, to PORTCULLIS_DNS; for UDP only a flow's first
 * datagram traverses nat, the analogue of SYN), TCP port 53 inside
 * PORTCULLIS_OUTPUT, which the SYN-only jump reaches already. The raw
 * table then splits UDP DNS into two conntrack zones, as Istio's
 * addDNSConntrackZones does: the proxy's queries to the resolvers and
 * their answers in zone 1, the app's queries and the DNS proxy's answers
 * in zone 2 (PORTCULLIS_RAW_OUTPUT and PORTCULLIS_RAW_PREROUTING, jumped to
 * by PC_IPT_RAW_OUT_JUMP_RULE and PC_IPT_RAW_PRE_JUMP_RULE).
 * Without them an app socket whose port equals that of a live, un-NATed
 * entry of one of the proxy's queries matches that entry, escapes the
 * redirect and is dropped by the fence (sendto() fails with EPERM).
 *
 * The fence (default on, --allow-non-tcp turns it off): filter OUTPUT
 * starts with a jump (PC_IPT_EGRESS_JUMP_RULE) to PORTCULLIS_EGRESS, which
 * RETURNs what may leave (loopback, TCP, the proxy's uid/gid, ICMP errors
 * and replies of allowed flows, IPv6 neighbour discovery, DNS to the
 * resolvers when it is not captured) and sends UDP to PORTCULLIS_UDP (the
 * ServiceEntry UDP ports, kept by the daemon: daemon/netfilter.c) and the
 * rest to PORTCULLIS_DENY, which counts and drops per protocol. RETURN,
 * never ACCEPT: the host's own rules after ours still apply.
 */
#ifndef PC_CLI_IPTABLES_H
#define PC_CLI_IPTABLES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/addr.h"

struct pc_buf;
struct pc_err;

#define PC_IPT_OUTPUT_CHAIN        "PORTCULLIS_OUTPUT"
#define PC_IPT_REDIRECT_CHAIN      "PORTCULLIS_REDIRECT"
#define PC_IPT_GUARD_CHAIN         "PORTCULLIS_GUARD"
#define PC_IPT_DNS_CHAIN           "PORTCULLIS_DNS"
#define PC_IPT_EGRESS_CHAIN        "PORTCULLIS_EGRESS"
#define PC_IPT_UDP_CHAIN           "PORTCULLIS_UDP"
#define PC_IPT_DENY_CHAIN          "PORTCULLIS_DENY"
#define PC_IPT_RAW_OUTPUT_CHAIN    "PORTCULLIS_RAW_OUTPUT"
#define PC_IPT_RAW_PRE_CHAIN       "PORTCULLIS_RAW_PREROUTING"
/* `-p tcp --syn` as iptables -S prints it: the first packet of a connection. */
#define PC_IPT_SYN                 "-p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN"
/* The rule we add to the nat OUTPUT chain, as iptables -S prints it. */
#define PC_IPT_JUMP_RULE           PC_IPT_SYN " -j " PC_IPT_OUTPUT_CHAIN
/* The jump of earlier versions, without --syn: install replaces it. */
#define PC_IPT_OLD_JUMP_RULE       "-p tcp -j " PC_IPT_OUTPUT_CHAIN
/* The rule we insert at the head of the filter INPUT chain. */
#define PC_IPT_GUARD_JUMP_RULE     PC_IPT_SYN " -j " PC_IPT_GUARD_CHAIN
/* The second guard jump, for the DNS proxy's UDP port. */
#define PC_IPT_GUARD_UDP_JUMP_RULE "-p udp -j " PC_IPT_GUARD_CHAIN
/* The nat OUTPUT jump of --capture-dns for UDP. */
#define PC_IPT_DNS_JUMP_RULE       "-p udp -m udp --dport 53 -j " PC_IPT_DNS_CHAIN
/* The fence's jump, first in filter OUTPUT. */
#define PC_IPT_EGRESS_JUMP_RULE    "-j " PC_IPT_EGRESS_CHAIN
/* The conntrack zone jumps of --capture-dns, in raw OUTPUT and raw PREROUTING. */
#define PC_IPT_RAW_OUT_JUMP_RULE   "-p udp -j " PC_IPT_RAW_OUTPUT_CHAIN
#define PC_IPT_RAW_PRE_JUMP_RULE   "-p udp -j " PC_IPT_RAW_PRE_CHAIN
/* The zones: the proxy and the resolvers; the app and the DNS proxy. */
#define PC_IPT_ZONE_UPSTREAM       1
#define PC_IPT_ZONE_APP            2

#define PC_IPT_DEFAULT_PORT     15001 /* Envoy's virtualOutbound listener */
#define PC_IPT_DEFAULT_UID      1337  /* istio-proxy */
#define PC_IPT_DEFAULT_GID      1337
#define PC_IPT_DEFAULT_DNS_PORT 15053 /* the istio-agent's DNS proxy */

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
	uint16_t dns_port;                 /* the DNS proxy's port, guarded always */
	bool capture_dns;                  /* redirect DNS to the resolvers */
	bool capture_all_dns;              /* redirect all DNS (implies capture_dns) */
	bool allow_non_tcp;                /* no fence */
	struct pc_ipt_cidrs resolvers;     /* of resolv.conf: pc_ipt_parse_resolv() */
};

/*
 * Defaults: port 15001, uid and gid 1337, include "*", no excludes, DNS
 * port 15053, no DNS capture, the fence on, no resolvers.
 */
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

/*
 * The nameservers of resolv.conf text <text> into <out> (replacing what it
 * held), as glibc reads them: "nameserver ADDR" lines, an IPv6 zone
 * ("%eth0") dropped, unparsable addresses skipped; with none, glibc's
 * default 127.0.0.1. Returns 0 or -ENOMEM.
 */
int pc_ipt_parse_resolv(const char *text, struct pc_ipt_cidrs *out);

/* Does <c> hold a prefix of <family> (AF_INET or AF_INET6)? "*" does not count. */
bool pc_ipt_cidrs_has_family(const struct pc_ipt_cidrs *c, int family);

/* What listings of the nat, filter and raw tables (`iptables -t TABLE -S`) show of ours. */
struct pc_ipt_state {
	unsigned jumps;           /* copies of PC_IPT_JUMP_RULE in nat OUTPUT */
	unsigned old_jumps;       /* copies of PC_IPT_OLD_JUMP_RULE in nat OUTPUT */
	bool has_output;          /* nat chain PORTCULLIS_OUTPUT exists */
	bool has_redirect;        /* nat chain PORTCULLIS_REDIRECT exists */
	unsigned guard_jumps;     /* copies of PC_IPT_GUARD_JUMP_RULE in filter INPUT */
	bool has_guard;           /* filter chain PORTCULLIS_GUARD exists */
	unsigned udp_guard_jumps; /* copies of PC_IPT_GUARD_UDP_JUMP_RULE in filter INPUT */
	unsigned dns_jumps;       /* copies of PC_IPT_DNS_JUMP_RULE in nat OUTPUT */
	bool has_dns;             /* nat chain PORTCULLIS_DNS exists */
	unsigned egress_jumps;    /* copies of PC_IPT_EGRESS_JUMP_RULE in filter OUTPUT */
	bool has_egress;          /* filter chains PORTCULLIS_EGRESS, _UDP and _DENY exist */
	bool has_udp;
	bool has_deny;
	unsigned raw_out_jumps; /* copies of PC_IPT_RAW_OUT_JUMP_RULE in raw OUTPUT */
	unsigned raw_pre_jumps; /* copies of PC_IPT_RAW_PRE_JUMP_RULE in raw PREROUTING */
	bool has_raw_output;    /* raw chains PORTCULLIS_RAW_OUTPUT and _PREROUTING exist */
	bool has_raw_pre;
};

/*
 * Append to <b> the iptables-restore input (iptables-save format: a
 * "*filter" and a "*nat" section, each up to "COMMIT", after a "*raw" one
 * with --capture-dns or to remove an earlier one's) that defines our
 * chains for <family> (AF_INET: iptables, AF_INET6: ip6tables), prefixes
 * of the other family being skipped. Fed to `iptables-restore --noflush`,
 * the chain lines flush and rebuild our chains and leave every other chain
 * alone. <st> is what is installed now (NULL: nothing): jumps that are
 * there already are not added again, so a second run never duplicates
 * them, and jumps of earlier versions (PC_IPT_OLD_JUMP_RULE) are deleted.
 * The guard comes before the capture, so a capture is never in place
 * without it (the raw zones, first as in a save, capture nothing). Rules
 * are written in the order and spelling iptables-save prints them, so the
 * text can be compared with a save of the installed tables; the one
 * exceptions are the jumps of the filter table, "-I INPUT 1", "-I INPUT 2"
 * and "-I OUTPUT 1" (a save prints "-A INPUT" and "-A OUTPUT" in first
 * places): they must come before any ACCEPT of the host's. What <o> does
 * not ask for any more (the fence after --allow-non-tcp, DNS capture) is
 * removed in the same transaction. Allocation failure is left in
 * <b>->oom.
 */
void pc_ipt_rules(struct pc_buf *b, const struct pc_ipt_opts *o, int family,
		  const struct pc_ipt_state *st);

/* Read the output of `iptables -t TABLE -S` for the nat, filter and raw tables. */
void pc_ipt_scan(const char *nat, const char *filter, const char *raw, struct pc_ipt_state *st);

/*
 * Append to <b> the iptables-restore input that removes what <st> shows
 * of ours: in raw, the zone jumps and chains; in filter, every guard
 * jump from INPUT and fence jump from OUTPUT, then our chains; in nat,
 * every jump from OUTPUT (ours and earlier versions'), then our chains
 * (all flushed before any is deleted, since they refer to each other). A
 * table with nothing of ours gets no section; nothing at all is appended
 * when there is nothing of ours. Allocation failure is left in <b>->oom.
 */
void pc_ipt_cleanup_rules(struct pc_buf *b, const struct pc_ipt_state *st);

#endif /* PC_CLI_IPTABLES_H */
