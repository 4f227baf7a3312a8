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
 * nobody in the pod can take the proxy's place while it is down.
 */
#ifndef PC_CLI_IPTABLES_H
#define PC_CLI_IPTABLES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/addr.h"

struct pc_buf;
struct pc_err;

#define PC_IPT_OUTPUT_CHAIN    "PORTCULLIS_OUTPUT"
#define PC_IPT_REDIRECT_CHAIN  "PORTCULLIS_REDIRECT"
#define PC_IPT_GUARD_CHAIN     "PORTCULLIS_GUARD"
/* `-p tcp --syn` as iptables -S prints it: the first packet of a connection. */
#define PC_IPT_SYN             "-p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN"
/* The rule we add to the nat OUTPUT chain, as iptables -S prints it. */
#define PC_IPT_JUMP_RULE       PC_IPT_SYN " -j " PC_IPT_OUTPUT_CHAIN
/* The jump of earlier versions, without --syn: install replaces it. */
#define PC_IPT_OLD_JUMP_RULE   "-p tcp -j " PC_IPT_OUTPUT_CHAIN
/* The rule we insert at the head of the filter INPUT chain. */
#define PC_IPT_GUARD_JUMP_RULE PC_IPT_SYN " -j " PC_IPT_GUARD_CHAIN

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

/* What listings of the nat and filter tables (`iptables -t TABLE -S`) show of ours. */
struct pc_ipt_state {
	unsigned jumps;       /* copies of PC_IPT_JUMP_RULE in nat OUTPUT */
	unsigned old_jumps;   /* copies of PC_IPT_OLD_JUMP_RULE in nat OUTPUT */
	bool has_output;      /* nat chain PORTCULLIS_OUTPUT exists */
	bool has_redirect;    /* nat chain PORTCULLIS_REDIRECT exists */
	unsigned guard_jumps; /* copies of PC_IPT_GUARD_JUMP_RULE in filter INPUT */
	bool has_guard;       /* filter chain PORTCULLIS_GUARD exists */
};

/*
 * Append to <b> the iptables-restore input (iptables-save format: a
 * "*filter" and a "*nat" section, each up to "COMMIT") that defines our
 * chains for <family> (AF_INET: iptables, AF_INET6: ip6tables), prefixes
 * of the other family being skipped. Fed to `iptables-restore --noflush`,
 * the chain lines flush and rebuild our chains and leave every other chain
 * alone. <st> is what is installed now (NULL: nothing): jumps that are
 * there already are not added again, so a second run never duplicates
 * them, and jumps of earlier versions (PC_IPT_OLD_JUMP_RULE) are deleted.
 * The guard comes first, so a capture is never in place without it. Rules
 * are written in the order and spelling iptables-save prints them, so the
 * text can be compared with a save of the installed tables; the one
 * exception is the guard's jump, "-I INPUT 1" (a save prints "-A INPUT"
 * in first place): it must come before any ACCEPT for lo. Allocation
 * failure is left in <b>->oom.
 */
void pc_ipt_rules(struct pc_buf *b, const struct pc_ipt_opts *o, int family,
		  const struct pc_ipt_state *st);

/* Read the output of `iptables -t nat -S` in <nat> and `-t filter -S` in <filter>. */
void pc_ipt_scan(const char *nat, const char *filter, struct pc_ipt_state *st);

/*
 * Append to <b> the iptables-restore input that removes what <st> shows
 * of ours: in filter, every guard jump from INPUT, then PORTCULLIS_GUARD;
 * in nat, every jump from OUTPUT (ours and earlier versions'), then our
 * chains (flushed first, since PORTCULLIS_OUTPUT refers to
 * PORTCULLIS_REDIRECT). A table with nothing of ours gets no section;
 * nothing at all is appended when there is nothing of ours. Allocation
 * failure is left in <b>->oom.
 */
void pc_ipt_cleanup_rules(struct pc_buf *b, const struct pc_ipt_state *st);

#endif /* PC_CLI_IPTABLES_H */
