/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dns/msg.h - DNS messages on the wire (RFC 1035, EDNS of RFC 6891): the
 * queries the proxy reads from clients, the replies it builds for them,
 * and the checks on the answers of the upstream resolvers.
 *
 * Every input is untrusted: lengths are checked before each read, a
 * compression pointer must point before the name that holds it (so a
 * chain of them strictly goes back and ends), a label is 63 bytes at most
 * and a name 255 on the wire. Nothing here allocates.
 */
#ifndef PC_DNS_MSG_H
#define PC_DNS_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/addr.h"

#define PC_DNS_HDR_LEN     12
#define PC_DNS_NAME_MAX    255   /* wire form, final zero included */
#define PC_DNS_UDP_MIN     512   /* a UDP reply without EDNS */
#define PC_DNS_TCP_MAX     65535 /* a message over TCP (2-byte length) */
#define PC_DNS_EDNS_SIZE   1232  /* the payload size our replies advertise */
#define PC_DNS_ANSWERS_MAX 16

#define PC_DNS_TYPE_A    1
#define PC_DNS_TYPE_AAAA 28
#define PC_DNS_TYPE_OPT  41
#define PC_DNS_CLASS_IN  1

/* Header flags (the 16 bits after the id). */
#define PC_DNS_F_QR          0x8000u
#define PC_DNS_F_OPCODE      0x7800u
#define PC_DNS_F_AA          0x0400u
#define PC_DNS_F_TC          0x0200u
#define PC_DNS_F_RD          0x0100u
#define PC_DNS_F_RA          0x0080u
#define PC_DNS_F_RCODE       0x000fu
#define PC_DNS_RCODE(flags)  ((unsigned)(flags)&PC_DNS_F_RCODE)
#define PC_DNS_OPCODE(flags) (((unsigned)(flags)&PC_DNS_F_OPCODE) >> 11)

enum pc_dns_rcode {
	PC_DNS_RCODE_NOERROR = 0,
	PC_DNS_RCODE_FORMERR = 1,
	PC_DNS_RCODE_SERVFAIL = 2,
	PC_DNS_RCODE_NXDOMAIN = 3,
	PC_DNS_RCODE_NOTIMP = 4,
	PC_DNS_RCODE_REFUSED = 5,
	PC_DNS_RCODE_BADVERS = 16, /* extended (RFC 6891): only in a reply with an OPT */
};

/* A parsed query: what a reply needs and what the registry is asked. */
struct pc_dns_query {
	uint16_t id, flags, qtype, qclass;
	char name[256];                /* lowercase, no final dot; "" for the root */
	bool odd;                      /* a label holds '.', '\\', a space or a non-ASCII byte:
				       * <name> shows them as '?', no registry name matches it */
	uint8_t wire[PC_DNS_NAME_MAX]; /* the name as sent (case kept), uncompressed */
	size_t wire_len;
	size_t qend;          /* offset just past the question */
	bool edns;            /* an OPT record came with it */
	uint16_t udp_size;    /* the client's UDP limit: its EDNS size (>= 512), 512 without */
	bool do_bit;          /* EDNS DNSSEC OK */
	uint8_t edns_version; /* 0; another one is due BADVERS */
};

/*
 * Parse the query <msg> of <len> bytes into <q>. Returns 0, or
 *   -EBADMSG  not a query at all (shorter than a header, QR set): drop it;
 *   -ENOTSUP  an opcode other than QUERY: NOTIMP is due (id and flags set);
 *   -EPROTO   a FORMERR is due (id and flags set): not exactly one
 *             question, a bad or truncated name, question or record,
 *             two OPT records.
 */
int pc_dns_parse_query(const uint8_t *msg, size_t len, struct pc_dns_query *q);

/*
 * Build in <out> (<cap> bytes) the reply to <q> with <rcode> (its upper
 * bits go to the OPT record: BADVERS needs one): its header
 * (id, opcode and RD copied, QR and RA set, AA when <aa>), the question
 * echoed, for NOERROR the addresses of <addrs> (<n>) of the query's
 * family (A: IPv4, AAAA: IPv6, none for other types: NODATA) with <ttl>,
 * each name a pointer to the question, and an OPT record when the query
 * had one. When the reply is longer than <limit> (q->udp_size for UDP,
 * PC_DNS_TCP_MAX for TCP) the answers are dropped and TC is set.
 * Returns the reply's length, or -ENOSPC when even that does not fit <cap>.
 */
int pc_dns_build_reply(const struct pc_dns_query *q, unsigned rcode, bool aa,
		       const struct pc_addr *addrs, size_t n, uint32_t ttl, size_t limit,
		       uint8_t *out, size_t cap);

/*
 * A reply without a question (FORMERR, NOTIMP to a query that could not
 * be parsed): the header of <q> (id, flags as parsed by pc_dns_parse_query
 * before it failed) with <rcode>. <cap> >= PC_DNS_HDR_LEN; returns the length.
 */
int pc_dns_build_error(const struct pc_dns_query *q, unsigned rcode, uint8_t *out, size_t cap);

/* An upstream's answer, as far as matching it to its query needs. */
struct pc_dns_response {
	uint16_t id, flags;
	struct pc_dns_query question; /* name, qtype, qclass and qend only */
};

/*
 * Parse the header and the question of the response <msg>. Returns 0, or
 * -EBADMSG when it is not a response with exactly one well-formed question.
 */
int pc_dns_parse_response(const uint8_t *msg, size_t len, struct pc_dns_response *r);

/*
 * Is <r> the answer to the query <q> sent with id <id>: same id, same
 * question (name case-insensitively, type, class)?
 */
bool pc_dns_response_matches(const struct pc_dns_response *r, uint16_t id,
			     const struct pc_dns_query *q);

/* Set the id of the message <msg> (at least PC_DNS_HDR_LEN bytes). */
void pc_dns_set_id(uint8_t *msg, uint16_t id);

/* "A", "AAAA", "MX"..., or the number, into <buf> (16 bytes). For logs. */
const char *pc_dns_type_str(uint16_t type, char *buf);

/* "NOERROR", "NXDOMAIN"..., or the number. */
const char *pc_dns_rcode_str(unsigned rcode);

#endif /* PC_DNS_MSG_H */
