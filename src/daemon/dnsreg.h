/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * daemon/dnsreg.h - the DNS proxy's registry: names answered from the
 * policy, and their auto-allocated addresses (daemon/dnsreg.c, doc/dns.md).
 */
#ifndef PC_DAEMON_DNSREG_H
#define PC_DAEMON_DNSREG_H

#include <stdbool.h>
#include <stdint.h>

#include "dns/proxy.h"

struct pc_control;
struct pc_publisher;
struct pc_dnsreg;

struct pc_dnsreg_opts {
	struct pc_publisher *pub; /* the current snapshot */
	struct pc_control *ctl;   /* stores allocations (pc_control_allocate()) */
};

/* Start the allocation thread. Returns 0, -ENOMEM or a negative pthread error. */
int pc_dnsreg_new(const struct pc_dnsreg_opts *o, struct pc_dnsreg **out);

/*
 * The proxy to kick when allocations are in force (NULL: none). Any
 * thread. Set NULL before the proxy is stopped: once this returns, no
 * kick reaches the old one.
 */
void pc_dnsreg_set_proxy(struct pc_dnsreg *r, struct pc_dns_proxy *p);

/* The pc_dns_lookup_fn of the DNS proxy (<data> is the struct pc_dnsreg). DNS thread. */
enum pc_dns_verdict pc_dnsreg_lookup(void *data, const char *name, uint16_t qtype,
				     struct pc_dns_answer *ans);

/* Allocation rounds that stored, and that failed. Any thread. */
void pc_dnsreg_counters(struct pc_dnsreg *r, uint64_t *batches, uint64_t *failures);

/* Stop the allocation thread (after the round in progress) and free <r>. NULL is a no-op. */
void pc_dnsreg_free(struct pc_dnsreg *r);

#endif /* PC_DAEMON_DNSREG_H */
