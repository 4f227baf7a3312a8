/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * daemon/netfilter.h - keep the fence's PORTCULLIS_UDP chain in step with
 * the policy, and read the fence's drop counters.
 *
 * `portcullis iptables` installs the fence (cli/iptables.h): UDP leaving
 * the pod goes to PORTCULLIS_UDP, which ends in a jump to PORTCULLIS_DENY.
 * The daemon fills PORTCULLIS_UDP with one RETURN per (prefix, port) that
 * a ServiceEntry in force declares for UDP (snapshot->udp), for IPv4 and
 * IPv6. The daemon drops root for good once it has started, so a small
 * helper process forked before the drop keeps root (with CAP_NET_ADMIN and
 * CAP_NET_RAW only, for itself and the tools) and does the work: it
 * runs only iptables-save and iptables-restore (and the ip6tables ones),
 * found at start, with fixed argument lists and no shell; it builds the
 * rules itself from a list it validates, so the daemon could never make it
 * run anything else. It closes every descriptor but its end of a
 * socketpair and dies with the daemon (PR_SET_PDEATHSIG, and end of file
 * on the socket).
 *
 * The helper rewrites PORTCULLIS_UDP only where the chain exists (no fence
 * installed, or --allow-non-tcp: nothing to do) and only when its rules
 * differ from the list, and looks again every PC_NF_RECHECK_MS: a later
 * `portcullis iptables` resets the chain to its last rule, and the
 * daemon's rules come back within seconds. Each look also reads the packet
 * and byte counters of PORTCULLIS_DENY's rules, which the daemon exposes
 * as metrics.
 *
 * The pure pieces (the chain's text, reading a save) are here too, for
 * the unit tests.
 */
#ifndef PC_DAEMON_NETFILTER_H
#define PC_DAEMON_NETFILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pc_buf;
struct pc_udp_allow;
struct pc_netfilter;

#define PC_NF_RECHECK_MS 3000
/* More allowances than this are refused by the helper (the daemon logs it). */
#define PC_NF_UDP_MAX    16384

/* The protocols PORTCULLIS_DENY counts apart, in its order. */
enum pc_nf_proto {
	PC_NF_UDP,
	PC_NF_UDPLITE,
	PC_NF_ICMP, /* ipv6-icmp for IPv6 */
	PC_NF_SCTP,
	PC_NF_OTHER,
	PC_NF_NPROTO,
};

enum { PC_NF_V4, PC_NF_V6, PC_NF_NFAMILY };

struct pc_nf_counters {
	bool valid[PC_NF_NFAMILY]; /* the family's PORTCULLIS_DENY was read */
	uint64_t packets[PC_NF_NFAMILY][PC_NF_NPROTO];
	uint64_t bytes[PC_NF_NFAMILY][PC_NF_NPROTO];
};

/*
 * Fork the helper (as root, before privileges are dropped, and before any
 * thread is started: the helper is the single-threaded copy of the daemon
 * at that point) and start the thread that talks to it. Not root: *out is
 * still made, and does nothing but answer no counters (logged once at
 * info). Returns 0, or a negative errno after logging why.
 */
int pc_netfilter_start(struct pc_netfilter **out);

/*
 * The UDP allowances now in force (<v>, <n>: snapshot->udp, sorted and
 * unique). Copies them and returns at once; the newest list wins. NULL
 * <nf> is a no-op. Any thread.
 */
void pc_netfilter_set_udp(struct pc_netfilter *nf, const struct pc_udp_allow *v, size_t n);

/* The counters the helper read last into <out>. Returns 0, or -ENODATA before the first. */
int pc_netfilter_counters(struct pc_netfilter *nf, struct pc_nf_counters *out);

/*
 * Append to <b> the Prometheus text of <c>:
 * portcullis_denied_datagrams_total and portcullis_denied_datagrams_bytes_total
 * by family and protocol, HELP and TYPE always, samples for the families
 * read (NULL <c>: none). Returns 0, or -ENOMEM when <b> ran out of memory.
 */
int pc_netfilter_render(const struct pc_nf_counters *c, struct pc_buf *b);

/* Append the JSON member "denied_datagrams":{"total":N,"ipv4":{...},...} (no comma). */
void pc_netfilter_json(const struct pc_nf_counters *c, struct pc_buf *b);

/* Stop the thread and the helper (closing its socket ends it) and free. NULL is a no-op. */
void pc_netfilter_stop(struct pc_netfilter *nf);

/* -- pure pieces, for the tests ------------------------------------------------ */

/*
 * Append the iptables-restore input that makes PORTCULLIS_UDP hold the
 * allowances of <v> of <family> (AF_INET, AF_INET6), then its jump to
 * PORTCULLIS_DENY: "*filter", the chain line (which flushes it), the
 * rules as iptables-save prints them, "COMMIT".
 */
void pc_nf_udp_script(struct pc_buf *b, const struct pc_udp_allow *v, size_t n, int family);

/* What a save of the filter table (iptables-save -c -t filter) says of ours. */
struct pc_nf_save {
	bool has_udp; /* the chain PORTCULLIS_UDP exists */
	bool has_deny;
	uint64_t packets[PC_NF_NPROTO];
	uint64_t bytes[PC_NF_NPROTO];
};

/*
 * Read <save> into <out>, and the rules of PORTCULLIS_UDP, without their
 * counters, into <udp_rules> (one a line, as pc_nf_udp_script() writes
 * them), so the caller can tell whether the chain needs rewriting.
 */
void pc_nf_parse_save(const char *save, struct pc_nf_save *out, struct pc_buf *udp_rules);

#endif /* PC_DAEMON_NETFILTER_H */
