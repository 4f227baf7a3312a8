/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * model/sidecar.h - the Sidecar kind (networking.istio.io).
 *
 * A Sidecar scopes what a workload's proxy sees and accepts: ingress
 * listeners (with optional server-side TLS and connection pool), egress
 * listeners with the `namespace/dnsName` hosts they import, and the
 * outbound traffic policy (REGISTRY_ONLY or ALLOW_ANY) that decides what
 * happens to destinations outside the registry. The validator mirrors
 * Istio's ValidateSidecar (pkg/config/validation) and the CRD's rules.
 *
 * ServerTLSSettings lives here because, of the kinds portcullis reads,
 * only the Sidecar's ingress listeners use it (Gateways are not read).
 */
#ifndef PC_MODEL_SIDECAR_H
#define PC_MODEL_SIDECAR_H

#include <stdbool.h>
#include <stdint.h>

#include "model/schema.h"

struct pc_connection_pool;
struct pc_destination;
struct pc_resource;
struct pc_vctx;
struct pc_workload_selector;

/* CaptureMode, proto order. */
enum pc_capture_mode {
	PC_CAPTURE_DEFAULT,
	PC_CAPTURE_IPTABLES,
	PC_CAPTURE_NONE,
};

/*
 * OutboundTrafficPolicy.Mode, proto order. The zero value is REGISTRY_ONLY;
 * the mesh-only ALLOW_ANY_DYNAMIC_DNS is not in the Sidecar CRD's enum, so
 * the decoder rejects it.
 */
enum pc_outbound_mode {
	PC_OUTBOUND_REGISTRY_ONLY,
	PC_OUTBOUND_ALLOW_ANY,
};

/* ServerTLSSettings.TLSmode, proto order. */
enum pc_server_tls_mode {
	PC_SERVER_TLS_PASSTHROUGH,
	PC_SERVER_TLS_SIMPLE,
	PC_SERVER_TLS_MUTUAL,
	PC_SERVER_TLS_AUTO_PASSTHROUGH,
	PC_SERVER_TLS_ISTIO_MUTUAL,
	PC_SERVER_TLS_OPTIONAL_MUTUAL,
};

/* ServerTLSSettings.TLSProtocol, proto order. */
enum pc_tls_protocol {
	PC_TLS_AUTO,
	PC_TLSV1_0,
	PC_TLSV1_1,
	PC_TLSV1_2,
	PC_TLSV1_3,
};

/* SidecarPort: number 0 means a Unix domain socket (egress only). */
struct pc_sidecar_port {
	struct pc_msg hdr;
	uint32_t number;
	const char *protocol;
	const char *name;
	uint32_t target_port; /* deprecated; any value > 0 is an error */
};

struct pc_server_tls_cert { /* ServerTLSSettings.TLSCertificate */
	struct pc_msg hdr;
	const char *server_certificate;
	const char *private_key;
	const char *ca_certificates;
};

struct pc_server_tls { /* ServerTLSSettings */
	struct pc_msg hdr;
	bool https_redirect;
	int mode; /* enum pc_server_tls_mode */
	const char *server_certificate;
	const char *private_key;
	const char *ca_certificates;
	const char *ca_crl;
	const char *credential_name;
	struct pc_strv credential_names;
	PC_LIST(struct pc_server_tls_cert) tls_certificates;
	struct pc_strv subject_alt_names;
	struct pc_strv verify_certificate_spki;
	struct pc_strv verify_certificate_hash;
	int min_protocol_version; /* enum pc_tls_protocol */
	int max_protocol_version; /* enum pc_tls_protocol */
	struct pc_strv cipher_suites;
};

struct pc_ingress_listener { /* IstioIngressListener */
	struct pc_msg hdr;
	struct pc_sidecar_port *port;
	const char *bind;
	int capture_mode; /* enum pc_capture_mode */
	const char *default_endpoint;
	struct pc_server_tls *tls;
	struct pc_connection_pool *connection_pool;
};

struct pc_egress_listener { /* IstioEgressListener */
	struct pc_msg hdr;
	struct pc_sidecar_port *port; /* NULL: the catch-all listener */
	const char *bind;
	int capture_mode;     /* enum pc_capture_mode */
	struct pc_strv hosts; /* "namespace/dnsName" */
};

struct pc_outbound_traffic_policy {
	struct pc_msg hdr;
	int mode; /* enum pc_outbound_mode */
	struct pc_destination *egress_proxy;
};

struct pc_sidecar {
	struct pc_msg hdr;
	struct pc_workload_selector *workload_selector;
	PC_LIST(struct pc_ingress_listener) ingress;
	PC_LIST(struct pc_egress_listener) egress;
	struct pc_outbound_traffic_policy *outbound_traffic_policy;
	struct pc_connection_pool *inbound_connection_pool;
};

extern const struct pc_schema pc_server_tls_schema;
extern const struct pc_schema pc_sidecar_schema;

/*
 * validateTLSOptions on server TLS settings <tls> (NULL: nothing) at
 * <field> under the current path: certificate sources, ISTIO_MUTUAL and
 * passthrough rules, CRL, and the cipher-suite warnings.
 */
void pc_vcheck_server_tls(struct pc_vctx *v, const char *field, const struct pc_server_tls *tls);

/* ValidateSidecar on <r>, whose spec is a struct pc_sidecar. */
void pc_sidecar_validate(struct pc_vctx *v, const struct pc_resource *r);

#endif /* PC_MODEL_SIDECAR_H */
