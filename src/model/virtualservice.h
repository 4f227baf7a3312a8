/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * model/virtualservice.h - the VirtualService kind (networking.istio.io).
 *
 * TCP and TLS routes are decoded into typed structs and validated as
 * Istio's webhook does (ValidateVirtualService, validateTCPRoute,
 * validateTLSRoute, validateRouteDestinations). HTTP routes are kept as
 * opaque nodes: portcullis is an L4 proxy, so it neither enforces nor
 * validates them beyond what the VirtualService as a whole needs (their
 * presence and the JWT claim check), and says so with one warning.
 *
 * Destination is exported because the Sidecar's egressProxy is one too.
 */
#ifndef PC_MODEL_VIRTUALSERVICE_H
#define PC_MODEL_VIRTUALSERVICE_H

#include <stdint.h>

#include "model/common.h"
#include "model/schema.h"

struct pc_node;
struct pc_resource;
struct pc_vctx;

struct pc_destination {
	struct pc_msg hdr;
	const char *host;
	const char *subset;
	struct pc_port_selector *port;
};

struct pc_route_destination {
	struct pc_msg hdr;
	struct pc_destination *destination;
	int32_t weight;
};

struct pc_l4_match { /* L4MatchAttributes */
	struct pc_msg hdr;
	struct pc_strv destination_subnets;
	uint32_t port;
	const char *source_subnet; /* hidden in the docs, unused */
	struct pc_strmap source_labels;
	struct pc_strv gateways;
	const char *source_namespace;
};

struct pc_tls_match { /* TLSMatchAttributes; proto number 4 is reserved */
	struct pc_msg hdr;
	struct pc_strv sni_hosts;
	struct pc_strv destination_subnets;
	uint32_t port;
	struct pc_strmap source_labels;
	struct pc_strv gateways;
	const char *source_namespace;
};

struct pc_tcp_route {
	struct pc_msg hdr;
	PC_LIST(struct pc_l4_match) match;
	PC_LIST(struct pc_route_destination) route;
};

struct pc_tls_route {
	struct pc_msg hdr;
	PC_LIST(struct pc_tls_match) match;
	PC_LIST(struct pc_route_destination) route;
};

struct pc_virtual_service {
	struct pc_msg hdr;
	struct pc_strv hosts;
	struct pc_strv gateways;
	const struct pc_node *http; /* opaque HTTPRoute list, or NULL */
	PC_LIST(struct pc_tls_route) tls;
	PC_LIST(struct pc_tcp_route) tcp;
	struct pc_strv export_to;
};

extern const struct pc_schema pc_destination_schema;
extern const struct pc_schema pc_virtual_service_schema;

/*
 * validateDestination on <dest> (may be NULL: nothing to check), reported
 * under <field> of the current path: host ("invalid destination host *"
 * or the wildcard-domain error), subset (a DNS label) and port (1..65535).
 */
void pc_vcheck_destination(struct pc_vctx *v, const char *field, const struct pc_destination *dest);

/* ValidateVirtualService on <r>, whose spec is a struct pc_virtual_service. */
void pc_virtual_service_validate(struct pc_vctx *v, const struct pc_resource *r);

/* Do <gateways> name `mesh` (constants.IstioMeshGateway), the sidecars? */
bool pc_gateways_have_mesh(const struct pc_strv *gateways);

#endif /* PC_MODEL_VIRTUALSERVICE_H */
