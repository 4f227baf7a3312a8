/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * model/serviceentry.h - the ServiceEntry kind (networking.istio.io).
 *
 * A ServiceEntry adds names (hosts), addresses and ports to the mesh's
 * service registry. For TCP egress it is what lets a connection out: the
 * destination address is matched against <addresses> and the port against
 * <ports>. <resolution> says where the endpoints come from (the original
 * destination, <endpoints>/workloadSelector, or DNS). Validation follows
 * Istio's ValidateServiceEntry() and the CRD (reference §1.4-§1.6).
 */
#ifndef PC_MODEL_SERVICEENTRY_H
#define PC_MODEL_SERVICEENTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/rules.h"
#include "model/schema.h"

struct pc_resource;
struct pc_vctx;
struct pc_workload_entry;
struct pc_workload_selector;

/* ServiceEntry.Location, in proto order (value == proto number). */
enum pc_se_location {
	PC_SE_MESH_EXTERNAL,
	PC_SE_MESH_INTERNAL,
};

/* ServiceEntry.Resolution, in proto order (value == proto number). */
enum pc_se_resolution {
	PC_SE_RESOLUTION_NONE,
	PC_SE_RESOLUTION_STATIC,
	PC_SE_RESOLUTION_DNS,
	PC_SE_RESOLUTION_DNS_ROUND_ROBIN,
	PC_SE_RESOLUTION_DYNAMIC_DNS,
};

/* NULL-terminated enum names, indexed by the enums above. */
extern const char *const pc_se_location_names[];
extern const char *const pc_se_resolution_names[];

/* istio.networking.v1alpha3.ServicePort */
struct pc_service_port {
	struct pc_msg hdr;
	uint32_t number;
	const char *protocol; /* NULL: absent (protocol sniffing) */
	const char *name;
	uint32_t target_port; /* 0: absent */
};

/* istio.networking.v1alpha3.ServiceEntry */
struct pc_service_entry {
	struct pc_msg hdr;
	struct pc_strv hosts;
	struct pc_strv addresses;
	PC_LIST(struct pc_service_port) ports;
	int location;   /* enum pc_se_location */
	int resolution; /* enum pc_se_resolution */
	PC_LIST(struct pc_workload_entry) endpoints;
	struct pc_workload_selector *workload_selector; /* NULL: absent */
	struct pc_strv export_to;
	struct pc_strv subject_alt_names;
};

extern const struct pc_schema pc_service_port_schema;
extern const struct pc_schema pc_service_entry_schema;

/*
 * Validate the ServiceEntry resource <r> (r->spec is a struct
 * pc_service_entry *), reporting under "spec".
 */
void pc_service_entry_validate(struct pc_vctx *v, const struct pc_resource *r);

/*
 * Does <se> have a port named <name>? Ports that failed to decode do not
 * count; a port without a name is named "" (as in Go).
 */
bool pc_service_entry_has_port_name(const struct pc_service_entry *se, const char *name);

/* The number of distinct port names of <se> (Go's servicePorts set size). */
size_t pc_service_entry_port_name_count(const struct pc_service_entry *se);

/*
 * The protocol the proxy gives port <sp>: its `protocol`, else the one
 * Istio's port-name convention names before the first '-' of its name
 * (PC_PROTO_UNSUPPORTED when neither says).
 */
enum pc_protocol pc_service_port_protocol(const struct pc_service_port *sp);

#endif /* PC_MODEL_SERVICEENTRY_H */
