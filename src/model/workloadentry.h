/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * model/workloadentry.h - the WorkloadEntry kind (networking.istio.io).
 *
 * A WorkloadEntry describes one non-Kubernetes endpoint: an IP address, a
 * host name (resolved only where the ServiceEntry says DNS) or a Unix
 * socket ("unix:///path", "unix://@abstract"), with per-service-port
 * overrides, labels and locality. The same message is the element type of
 * ServiceEntry.endpoints, so its checks are shared with model/serviceentry.c:
 * pc_workload_entry_check() is Istio's validateWorkloadEntry() (reference
 * §1.5) plus the CRD's rules for the message (reference §1.6).
 */
#ifndef PC_MODEL_WORKLOADENTRY_H
#define PC_MODEL_WORKLOADENTRY_H

#include <stdbool.h>
#include <stdint.h>

#include "model/schema.h"

struct pc_resource;
struct pc_service_entry;
struct pc_vctx;

/* istio.networking.v1alpha3.WorkloadEntry */
struct pc_workload_entry {
	struct pc_msg hdr;
	const char *address;    /* NULL: absent */
	struct pc_u32map ports; /* service port name -> endpoint port */
	struct pc_strmap labels;
	const char *network;
	const char *locality;
	uint32_t weight;
	const char *service_account;
};

/* "unix://": a WorkloadEntry address naming a Unix domain socket. */
#define PC_UNIX_ADDRESS_PREFIX "unix://"

extern const struct pc_schema pc_workload_entry_schema;

/*
 * Validate the WorkloadEntry resource <r> (r->spec is a struct
 * pc_workload_entry *), reporting under "spec".
 */
void pc_workload_entry_validate(struct pc_vctx *v, const struct pc_resource *r);

/*
 * Istio's validateWorkloadEntry() on <we>, reporting at the context's
 * current path (the entry itself, e.g. "spec" or "spec.endpoints[2]"),
 * followed by the CRD rules for the message that Go does not cover.
 * <se> is the enclosing ServiceEntry of a STATIC endpoint (its port names
 * are then the only valid keys of <we>'s ports), or NULL for a standalone
 * WorkloadEntry. <allow_fqdn> accepts a host name as the address (a
 * standalone WorkloadEntry); otherwise only IPs and Unix sockets pass.
 */
void pc_workload_entry_check(struct pc_vctx *v, const struct pc_workload_entry *we,
			     const struct pc_service_entry *se, bool allow_fqdn);

/*
 * The port loop of validateWorkloadEntry(): with <se> not NULL, every key
 * of <we>'s ports must name one of <se>'s ports ("endpoint port N is not
 * defined by the service entry"); every key must be a valid port name and
 * every value a port number. Reports at "<current path>.ports[<key>]".
 */
void pc_workload_entry_check_ports(struct pc_vctx *v, const struct pc_workload_entry *we,
				   const struct pc_service_entry *se);

/*
 * The CRD (OpenAPI and CEL) rules of the WorkloadEntry message: size
 * limits, "Address is required", the "UDS ..." rules, "port name must be
 * valid" and "port must be between 1-65535". With <go_checked>, the
 * caller has already run Istio's address and port checks on <we>, so only
 * what those let through is reported (no problem is reported twice).
 */
void pc_workload_entry_check_crd(struct pc_vctx *v, const struct pc_workload_entry *we,
				 bool go_checked);

#endif /* PC_MODEL_WORKLOADENTRY_H */
