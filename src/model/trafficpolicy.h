/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * model/trafficpolicy.h - DestinationRule's TrafficPolicy and its parts.
 *
 * Typed structs, decoder schemas and validators for TrafficPolicy,
 * LoadBalancerSettings (consistent hash, locality, warmup),
 * ConnectionPoolSettings (also used by Sidecar), OutlierDetection,
 * ClientTLSSettings, port-level settings, tunnel, proxy protocol and retry
 * budget (istio/api networking/v1alpha3/destination_rule.proto).
 *
 * The validators mirror istio/istio pkg/config/validation: messages are
 * Istio's, all problems are collected except where Istio returns early, and
 * CRD-only rules (kubectl apply would reject) are added with the CRD's
 * wording. Messages nested under an absent or mistyped message (already
 * reported by the decoder) are not repeated.
 */
#ifndef PC_MODEL_TRAFFICPOLICY_H
#define PC_MODEL_TRAFFICPOLICY_H

#include <stdbool.h>
#include <stdint.h>

#include "model/schema.h"

struct pc_port_selector;
struct pc_vctx;

/* ---- ConnectionPoolSettings ---- */

struct pc_tcp_keepalive {
	struct pc_msg hdr;
	uint32_t probes;
	int64_t time;     /* ns */
	int64_t interval; /* ns */
};

struct pc_connection_pool_tcp {
	struct pc_msg hdr;
	int32_t max_connections;
	int64_t connect_timeout; /* ns */
	struct pc_tcp_keepalive *tcp_keepalive;
	int64_t max_connection_duration; /* ns */
	int64_t idle_timeout;            /* ns; 0s disables */
};

/* HTTPSettings.H2UpgradePolicy, proto order. */
enum pc_h2_upgrade_policy {
	PC_H2_UPGRADE_DEFAULT,
	PC_H2_UPGRADE_DO_NOT_UPGRADE,
	PC_H2_UPGRADE_UPGRADE,
};

struct pc_connection_pool_http {
	struct pc_msg hdr;
	int32_t http1_max_pending_requests;
	int32_t http2_max_requests;
	int32_t max_requests_per_connection;
	int32_t max_retries;
	int64_t idle_timeout;  /* ns */
	int h2_upgrade_policy; /* enum pc_h2_upgrade_policy */
	bool use_client_protocol;
	int32_t max_concurrent_streams;
};

struct pc_connection_pool {
	struct pc_msg hdr;
	struct pc_connection_pool_tcp *tcp;
	struct pc_connection_pool_http *http;
};

extern const struct pc_schema pc_connection_pool_schema;

/*
 * validateConnectionPool on <cp> (NULL: nothing to check) at path <field>
 * under the current path, e.g. "connectionPool". Errors only.
 */
void pc_vcheck_connection_pool(struct pc_vctx *v, const char *field,
			       const struct pc_connection_pool *cp);

/* ---- LoadBalancerSettings ---- */

/* LoadBalancerSettings.SimpleLB, proto order. */
enum pc_simple_lb {
	PC_LB_UNSPECIFIED,
	PC_LB_LEAST_CONN,
	PC_LB_RANDOM,
	PC_LB_PASSTHROUGH,
	PC_LB_ROUND_ROBIN,
	PC_LB_LEAST_REQUEST,
};

struct pc_http_cookie_attr {
	struct pc_msg hdr;
	const char *name;
	const char *value;
};

struct pc_http_cookie {
	struct pc_msg hdr;
	const char *name;
	const char *path;
	int64_t ttl; /* ns */
	PC_LIST(struct pc_http_cookie_attr) attributes;
};

struct pc_ring_hash {
	struct pc_msg hdr;
	uint64_t minimum_ring_size;
};

struct pc_maglev {
	struct pc_msg hdr;
	uint64_t table_size;
};

struct pc_consistent_hash {
	struct pc_msg hdr;
	/* oneof hash_key */
	const char *http_header_name;
	struct pc_http_cookie *http_cookie;
	bool use_source_ip;
	const char *http_query_parameter_name;
	/* oneof hash_algorithm */
	struct pc_ring_hash *ring_hash;
	struct pc_maglev *maglev;
	uint64_t minimum_ring_size; /* deprecated */
};

struct pc_locality_distribute {
	struct pc_msg hdr;
	const char *from;
	struct pc_u32map to; /* locality -> weight */
};

struct pc_locality_failover {
	struct pc_msg hdr;
	const char *from;
	const char *to;
};

struct pc_locality_lb {
	struct pc_msg hdr;
	PC_LIST(struct pc_locality_distribute) distribute;
	PC_LIST(struct pc_locality_failover) failover;
	struct pc_strv failover_priority;
	bool enabled; /* BoolValue: pc_has(m, "enabled") */
};

struct pc_warmup {
	struct pc_msg hdr;
	int64_t duration;       /* ns; required */
	double minimum_percent; /* DoubleValue, default 10 */
	double aggression;      /* DoubleValue, default 1 */
};

struct pc_load_balancer {
	struct pc_msg hdr;
	int simple; /* enum pc_simple_lb; oneof with consistent_hash */
	struct pc_consistent_hash *consistent_hash;
	struct pc_locality_lb *locality_lb_setting;
	int64_t warmup_duration_secs; /* ns; deprecated for warmup */
	struct pc_warmup *warmup;
};

/* ---- OutlierDetection ---- */

struct pc_outlier_detection {
	struct pc_msg hdr;
	int32_t consecutive_errors; /* deprecated */
	bool split_external_local_origin_errors;
	uint32_t consecutive_local_origin_failures; /* UInt32Value */
	uint32_t consecutive_gateway_errors;        /* UInt32Value */
	uint32_t consecutive_5xx_errors;            /* UInt32Value */
	int64_t interval;                           /* ns */
	int64_t base_ejection_time;                 /* ns */
	int32_t max_ejection_percent;
	int32_t min_health_percent;
};

/* ---- ClientTLSSettings ---- */

/* ClientTLSSettings.TLSmode, proto order. */
enum pc_tls_mode {
	PC_TLS_DISABLE,
	PC_TLS_SIMPLE,
	PC_TLS_MUTUAL,
	PC_TLS_ISTIO_MUTUAL,
};

struct pc_client_tls {
	struct pc_msg hdr;
	int mode; /* enum pc_tls_mode */
	const char *client_certificate;
	const char *private_key;
	const char *ca_certificates;
	const char *credential_name;
	struct pc_strv subject_alt_names;
	const char *sni;
	bool insecure_skip_verify; /* BoolValue */
	const char *ca_crl;
};

/* ---- TrafficPolicy ---- */

struct pc_port_traffic_policy {
	struct pc_msg hdr;
	struct pc_port_selector *port;
	struct pc_load_balancer *load_balancer;
	struct pc_connection_pool *connection_pool;
	struct pc_outlier_detection *outlier_detection;
	struct pc_client_tls *tls;
};

struct pc_tunnel {
	struct pc_msg hdr;
	const char *protocol; /* "CONNECT" (default) or "POST" */
	const char *target_host;
	uint32_t target_port;
};

/* TrafficPolicy.ProxyProtocol.VERSION, proto order. */
enum pc_proxy_protocol_version {
	PC_PROXY_PROTOCOL_V1,
	PC_PROXY_PROTOCOL_V2,
};

struct pc_proxy_protocol {
	struct pc_msg hdr;
	int version; /* enum pc_proxy_protocol_version */
};

struct pc_retry_budget {
	struct pc_msg hdr;
	double percent; /* DoubleValue */
	uint32_t min_retry_concurrency;
};

struct pc_traffic_policy {
	struct pc_msg hdr;
	struct pc_load_balancer *load_balancer;
	struct pc_connection_pool *connection_pool;
	struct pc_outlier_detection *outlier_detection;
	struct pc_client_tls *tls;
	PC_LIST(struct pc_port_traffic_policy) port_level_settings;
	struct pc_tunnel *tunnel;
	struct pc_proxy_protocol *proxy_protocol;
	struct pc_retry_budget *retry_budget;
};

extern const struct pc_schema pc_traffic_policy_schema;
extern const struct pc_schema pc_load_balancer_schema;
extern const struct pc_schema pc_outlier_detection_schema;
extern const struct pc_schema pc_client_tls_schema;

/*
 * validateTrafficPolicy on <tp> (NULL: nothing to check) at path <field>
 * for an object in namespace <ns>. Istio keeps warnings only for a
 * DestinationRule's top-level policy (subset-level ones are lost through
 * appendErrors), so <warnings> false drops them the same way.
 */
void pc_vcheck_traffic_policy(struct pc_vctx *v, const char *field,
			      const struct pc_traffic_policy *tp, const char *ns, bool warnings);

/* agent.ValidateTLS on <tls> (NULL: nothing) at <field>, namespace <ns>. */
void pc_vcheck_client_tls(struct pc_vctx *v, const char *field, const struct pc_client_tls *tls,
			  const char *ns);

/* validateOutlierDetection on <od> at <field>; <warnings> as above. */
void pc_vcheck_outlier_detection(struct pc_vctx *v, const char *field,
				 const struct pc_outlier_detection *od, bool warnings);

/*
 * validateLoadBalancer on <lb> at <field>; <outlier> is the sibling
 * outlierDetection (failover without one draws a warning).
 */
void pc_vcheck_load_balancer(struct pc_vctx *v, const char *field,
			     const struct pc_load_balancer *lb,
			     const struct pc_outlier_detection *outlier, bool warnings);

#endif /* PC_MODEL_TRAFFICPOLICY_H */
