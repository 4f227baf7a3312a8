/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * model/trafficpolicy.c - TrafficPolicy schemas and validators.
 *
 * Each validator mirrors one function of istio/istio
 * pkg/config/validation/validation.go (validateTrafficPolicy,
 * validateConnectionPool, validateOutlierDetection, validateLoadBalancer,
 * validatePortTrafficPolicies, validateTunnelSettings,
 * validateProxyProtocol) or pkg/config/validation/agent/validation.go
 * (ValidateTLS, ValidateLocalityLbSetting), in the same order and with the
 * same early returns. Go reports these errors without a field; we attach
 * each to the field it is about.
 *
 * Two deliberate departures from a literal translation:
 *  - a value the decoder already rejected (a mistyped message, a malformed
 *    duration, a negative port) decodes to zero; the checks that would
 *    complain again about that zero are skipped;
 *  - the CRD rules the webhook does not enforce (warmup.minimumPercent >= 0,
 *    warmupDurationSecs >= 1ms, retryBudget.percent 0..100, at most 4096
 *    portLevelSettings, cookie attribute names) run as a separate pass, as
 *    kube-apiserver checks them independently of the webhook.
 */
#include "model/trafficpolicy.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/common.h"
#include "model/decode.h"
#include "model/node.h"
#include "model/rules.h"
#include "model/vctx.h"

#define NS_PER_MS 1000000LL

/* ---- schemas ---- */

static const struct pc_field tcp_keepalive_fields[] = {
	PC_FIELD("probes", PC_FT_UINT32, struct pc_tcp_keepalive, probes),
	PC_FIELD("time", PC_FT_DURATION, struct pc_tcp_keepalive, time),
	PC_FIELD("interval", PC_FT_DURATION, struct pc_tcp_keepalive, interval),
	PC_FIELD_END,
};

static const struct pc_schema tcp_keepalive_schema = {
	.name = "TcpKeepalive",
	.size = sizeof(struct pc_tcp_keepalive),
	.fields = tcp_keepalive_fields,
};

static const struct pc_field tcp_fields[] = {
	PC_FIELD("maxConnections", PC_FT_INT32, struct pc_connection_pool_tcp, max_connections),
	PC_FIELD("connectTimeout", PC_FT_DURATION, struct pc_connection_pool_tcp, connect_timeout),
	PC_FIELD_MSG("tcpKeepalive", struct pc_connection_pool_tcp, tcp_keepalive,
		     tcp_keepalive_schema),
	PC_FIELD("maxConnectionDuration", PC_FT_DURATION, struct pc_connection_pool_tcp,
		 max_connection_duration),
	PC_FIELD("idleTimeout", PC_FT_DURATION, struct pc_connection_pool_tcp, idle_timeout),
	PC_FIELD_END,
};

static const struct pc_schema tcp_schema = {
	.name = "TCPSettings",
	.size = sizeof(struct pc_connection_pool_tcp),
	.fields = tcp_fields,
};

static const char *const h2_upgrade_names[] = { "DEFAULT", "DO_NOT_UPGRADE", "UPGRADE", NULL };

static const struct pc_field http_fields[] = {
	PC_FIELD("http1MaxPendingRequests", PC_FT_INT32, struct pc_connection_pool_http,
		 http1_max_pending_requests),
	PC_FIELD("http2MaxRequests", PC_FT_INT32, struct pc_connection_pool_http,
		 http2_max_requests),
	PC_FIELD("maxRequestsPerConnection", PC_FT_INT32, struct pc_connection_pool_http,
		 max_requests_per_connection),
	PC_FIELD("maxRetries", PC_FT_INT32, struct pc_connection_pool_http, max_retries),
	PC_FIELD("idleTimeout", PC_FT_DURATION, struct pc_connection_pool_http, idle_timeout),
	PC_FIELD_ENUM("h2UpgradePolicy", struct pc_connection_pool_http, h2_upgrade_policy,
		      h2_upgrade_names),
	PC_FIELD("useClientProtocol", PC_FT_BOOL, struct pc_connection_pool_http,
		 use_client_protocol),
	PC_FIELD("maxConcurrentStreams", PC_FT_INT32, struct pc_connection_pool_http,
		 max_concurrent_streams),
	PC_FIELD_END,
};

static const struct pc_schema http_schema = {
	.name = "HTTPSettings",
	.size = sizeof(struct pc_connection_pool_http),
	.fields = http_fields,
};

static const struct pc_field connection_pool_fields[] = {
	PC_FIELD_MSG("tcp", struct pc_connection_pool, tcp, tcp_schema),
	PC_FIELD_MSG("http", struct pc_connection_pool, http, http_schema),
	PC_FIELD_END,
};

const struct pc_schema pc_connection_pool_schema = {
	.name = "ConnectionPoolSettings",
	.size = sizeof(struct pc_connection_pool),
	.fields = connection_pool_fields,
};

static const struct pc_field cookie_attr_fields[] = {
	PC_FIELD("name", PC_FT_STRING, struct pc_http_cookie_attr, name),
	PC_FIELD("value", PC_FT_STRING, struct pc_http_cookie_attr, value),
	PC_FIELD_END,
};

static const struct pc_schema cookie_attr_schema = {
	.name = "Attribute",
	.size = sizeof(struct pc_http_cookie_attr),
	.fields = cookie_attr_fields,
};

static const struct pc_field http_cookie_fields[] = {
	PC_FIELD("name", PC_FT_STRING, struct pc_http_cookie, name),
	PC_FIELD("path", PC_FT_STRING, struct pc_http_cookie, path),
	PC_FIELD("ttl", PC_FT_DURATION, struct pc_http_cookie, ttl),
	PC_FIELD_LIST("attributes", struct pc_http_cookie, attributes, cookie_attr_schema),
	PC_FIELD_END,
};

static const struct pc_schema http_cookie_schema = {
	.name = "HTTPCookie",
	.size = sizeof(struct pc_http_cookie),
	.fields = http_cookie_fields,
};

static const struct pc_field ring_hash_fields[] = {
	PC_FIELD("minimumRingSize", PC_FT_UINT64, struct pc_ring_hash, minimum_ring_size),
	PC_FIELD_END,
};

static const struct pc_schema ring_hash_schema = {
	.name = "RingHash",
	.size = sizeof(struct pc_ring_hash),
	.fields = ring_hash_fields,
};

static const struct pc_field maglev_fields[] = {
	PC_FIELD("tableSize", PC_FT_UINT64, struct pc_maglev, table_size),
	PC_FIELD_END,
};

static const struct pc_schema maglev_schema = {
	.name = "MagLev",
	.size = sizeof(struct pc_maglev),
	.fields = maglev_fields,
};

static const struct pc_field consistent_hash_fields[] = {
	PC_FIELD("httpHeaderName", PC_FT_STRING, struct pc_consistent_hash, http_header_name),
	PC_FIELD_MSG("httpCookie", struct pc_consistent_hash, http_cookie, http_cookie_schema),
	PC_FIELD("useSourceIp", PC_FT_BOOL, struct pc_consistent_hash, use_source_ip),
	PC_FIELD("httpQueryParameterName", PC_FT_STRING, struct pc_consistent_hash,
		 http_query_parameter_name),
	PC_FIELD_MSG("ringHash", struct pc_consistent_hash, ring_hash, ring_hash_schema),
	PC_FIELD_MSG("maglev", struct pc_consistent_hash, maglev, maglev_schema),
	PC_FIELD("minimumRingSize", PC_FT_UINT64, struct pc_consistent_hash, minimum_ring_size),
	PC_FIELD_END,
};

static const char *const consistent_hash_oneofs[] = {
	"httpHeaderName,httpCookie,useSourceIp,httpQueryParameterName",
	"ringHash,maglev",
	NULL,
};

static const struct pc_schema consistent_hash_schema = {
	.name = "ConsistentHashLB",
	.size = sizeof(struct pc_consistent_hash),
	.fields = consistent_hash_fields,
	.oneofs = consistent_hash_oneofs,
};

static const struct pc_field distribute_fields[] = {
	PC_FIELD("from", PC_FT_STRING, struct pc_locality_distribute, from),
	PC_FIELD("to", PC_FT_U32MAP, struct pc_locality_distribute, to),
	PC_FIELD_END,
};

static const struct pc_schema distribute_schema = {
	.name = "Distribute",
	.size = sizeof(struct pc_locality_distribute),
	.fields = distribute_fields,
};

static const struct pc_field failover_fields[] = {
	PC_FIELD("from", PC_FT_STRING, struct pc_locality_failover, from),
	PC_FIELD("to", PC_FT_STRING, struct pc_locality_failover, to),
	PC_FIELD_END,
};

static const struct pc_schema failover_schema = {
	.name = "Failover",
	.size = sizeof(struct pc_locality_failover),
	.fields = failover_fields,
};

static const struct pc_field locality_lb_fields[] = {
	PC_FIELD_LIST("distribute", struct pc_locality_lb, distribute, distribute_schema),
	PC_FIELD_LIST("failover", struct pc_locality_lb, failover, failover_schema),
	PC_FIELD("failoverPriority", PC_FT_STRLIST, struct pc_locality_lb, failover_priority),
	PC_FIELD("enabled", PC_FT_BOOL, struct pc_locality_lb, enabled),
	PC_FIELD_END,
};

static const struct pc_schema locality_lb_schema = {
	.name = "LocalityLoadBalancerSetting",
	.size = sizeof(struct pc_locality_lb),
	.fields = locality_lb_fields,
};

static const struct pc_field warmup_fields[] = {
	PC_FIELD("duration", PC_FT_DURATION, struct pc_warmup, duration),
	PC_FIELD("minimumPercent", PC_FT_DOUBLE, struct pc_warmup, minimum_percent),
	PC_FIELD("aggression", PC_FT_DOUBLE, struct pc_warmup, aggression),
	PC_FIELD_END,
};

static const struct pc_schema warmup_schema = {
	.name = "WarmupConfiguration",
	.size = sizeof(struct pc_warmup),
	.fields = warmup_fields,
};

static const char *const simple_lb_names[] = {
	"UNSPECIFIED", "LEAST_CONN", "RANDOM", "PASSTHROUGH", "ROUND_ROBIN", "LEAST_REQUEST", NULL,
};

static const struct pc_field load_balancer_fields[] = {
	PC_FIELD_ENUM("simple", struct pc_load_balancer, simple, simple_lb_names),
	PC_FIELD_MSG("consistentHash", struct pc_load_balancer, consistent_hash,
		     consistent_hash_schema),
	PC_FIELD_MSG("localityLbSetting", struct pc_load_balancer, locality_lb_setting,
		     locality_lb_schema),
	PC_FIELD("warmupDurationSecs", PC_FT_DURATION, struct pc_load_balancer,
		 warmup_duration_secs),
	PC_FIELD_MSG("warmup", struct pc_load_balancer, warmup, warmup_schema),
	PC_FIELD_END,
};

static const char *const load_balancer_oneofs[] = { "simple,consistentHash", NULL };

const struct pc_schema pc_load_balancer_schema = {
	.name = "LoadBalancerSettings",
	.size = sizeof(struct pc_load_balancer),
	.fields = load_balancer_fields,
	.oneofs = load_balancer_oneofs,
};

static const struct pc_field outlier_fields[] = {
	PC_FIELD("consecutiveErrors", PC_FT_INT32, struct pc_outlier_detection, consecutive_errors),
	PC_FIELD("splitExternalLocalOriginErrors", PC_FT_BOOL, struct pc_outlier_detection,
		 split_external_local_origin_errors),
	PC_FIELD("consecutiveLocalOriginFailures", PC_FT_UINT32, struct pc_outlier_detection,
		 consecutive_local_origin_failures),
	PC_FIELD("consecutiveGatewayErrors", PC_FT_UINT32, struct pc_outlier_detection,
		 consecutive_gateway_errors),
	PC_FIELD("consecutive5xxErrors", PC_FT_UINT32, struct pc_outlier_detection,
		 consecutive_5xx_errors),
	PC_FIELD("interval", PC_FT_DURATION, struct pc_outlier_detection, interval),
	PC_FIELD("baseEjectionTime", PC_FT_DURATION, struct pc_outlier_detection,
		 base_ejection_time),
	PC_FIELD("maxEjectionPercent", PC_FT_INT32, struct pc_outlier_detection,
		 max_ejection_percent),
	PC_FIELD("minHealthPercent", PC_FT_INT32, struct pc_outlier_detection, min_health_percent),
	PC_FIELD_END,
};

const struct pc_schema pc_outlier_detection_schema = {
	.name = "OutlierDetection",
	.size = sizeof(struct pc_outlier_detection),
	.fields = outlier_fields,
};

static const char *const tls_mode_names[] = { "DISABLE", "SIMPLE", "MUTUAL", "ISTIO_MUTUAL", NULL };

static const struct pc_field client_tls_fields[] = {
	PC_FIELD_ENUM("mode", struct pc_client_tls, mode, tls_mode_names),
	PC_FIELD("clientCertificate", PC_FT_STRING, struct pc_client_tls, client_certificate),
	PC_FIELD("privateKey", PC_FT_STRING, struct pc_client_tls, private_key),
	PC_FIELD("caCertificates", PC_FT_STRING, struct pc_client_tls, ca_certificates),
	PC_FIELD("credentialName", PC_FT_STRING, struct pc_client_tls, credential_name),
	PC_FIELD("subjectAltNames", PC_FT_STRLIST, struct pc_client_tls, subject_alt_names),
	PC_FIELD("sni", PC_FT_STRING, struct pc_client_tls, sni),
	PC_FIELD("insecureSkipVerify", PC_FT_BOOL, struct pc_client_tls, insecure_skip_verify),
	PC_FIELD("caCrl", PC_FT_STRING, struct pc_client_tls, ca_crl),
	PC_FIELD_END,
};

const struct pc_schema pc_client_tls_schema = {
	.name = "ClientTLSSettings",
	.size = sizeof(struct pc_client_tls),
	.fields = client_tls_fields,
};

static const struct pc_field port_policy_fields[] = {
	PC_FIELD_MSG("port", struct pc_port_traffic_policy, port, pc_port_selector_schema),
	PC_FIELD_MSG("loadBalancer", struct pc_port_traffic_policy, load_balancer,
		     pc_load_balancer_schema),
	PC_FIELD_MSG("connectionPool", struct pc_port_traffic_policy, connection_pool,
		     pc_connection_pool_schema),
	PC_FIELD_MSG("outlierDetection", struct pc_port_traffic_policy, outlier_detection,
		     pc_outlier_detection_schema),
	PC_FIELD_MSG("tls", struct pc_port_traffic_policy, tls, pc_client_tls_schema),
	PC_FIELD_END,
};

static const struct pc_schema port_policy_schema = {
	.name = "PortTrafficPolicy",
	.size = sizeof(struct pc_port_traffic_policy),
	.fields = port_policy_fields,
};

static const struct pc_field tunnel_fields[] = {
	PC_FIELD("protocol", PC_FT_STRING, struct pc_tunnel, protocol),
	PC_FIELD("targetHost", PC_FT_STRING, struct pc_tunnel, target_host),
	PC_FIELD("targetPort", PC_FT_UINT32, struct pc_tunnel, target_port),
	PC_FIELD_END,
};

static const struct pc_schema tunnel_schema = {
	.name = "TunnelSettings",
	.size = sizeof(struct pc_tunnel),
	.fields = tunnel_fields,
};

static const char *const proxy_protocol_names[] = { "V1", "V2", NULL };

static const struct pc_field proxy_protocol_fields[] = {
	PC_FIELD_ENUM("version", struct pc_proxy_protocol, version, proxy_protocol_names),
	PC_FIELD_END,
};

static const struct pc_schema proxy_protocol_schema = {
	.name = "ProxyProtocol",
	.size = sizeof(struct pc_proxy_protocol),
	.fields = proxy_protocol_fields,
};

static const struct pc_field retry_budget_fields[] = {
	PC_FIELD("percent", PC_FT_DOUBLE, struct pc_retry_budget, percent),
	PC_FIELD("minRetryConcurrency", PC_FT_UINT32, struct pc_retry_budget,
		 min_retry_concurrency),
	PC_FIELD_END,
};

static const struct pc_schema retry_budget_schema = {
	.name = "RetryBudget",
	.size = sizeof(struct pc_retry_budget),
	.fields = retry_budget_fields,
};

static const struct pc_field traffic_policy_fields[] = {
	PC_FIELD_MSG("loadBalancer", struct pc_traffic_policy, load_balancer,
		     pc_load_balancer_schema),
	PC_FIELD_MSG("connectionPool", struct pc_traffic_policy, connection_pool,
		     pc_connection_pool_schema),
	PC_FIELD_MSG("outlierDetection", struct pc_traffic_policy, outlier_detection,
		     pc_outlier_detection_schema),
	PC_FIELD_MSG("tls", struct pc_traffic_policy, tls, pc_client_tls_schema),
	PC_FIELD_LIST("portLevelSettings", struct pc_traffic_policy, port_level_settings,
		      port_policy_schema),
	PC_FIELD_MSG("tunnel", struct pc_traffic_policy, tunnel, tunnel_schema),
	PC_FIELD_MSG("proxyProtocol", struct pc_traffic_policy, proxy_protocol,
		     proxy_protocol_schema),
	PC_FIELD_MSG("retryBudget", struct pc_traffic_policy, retry_budget, retry_budget_schema),
	PC_FIELD_END,
};

const struct pc_schema pc_traffic_policy_schema = {
	.name = "TrafficPolicy",
	.size = sizeof(struct pc_traffic_policy),
	.fields = traffic_policy_fields,
};

/* ---- helpers ---- */

/* Message <m> is present and decoded from a mapping (else the decoder complained). */
static bool ok(const void *m)
{
	return m && ((const struct pc_msg *)m)->node;
}

static const char *str(const char *s)
{
	return s ? s : "";
}

/* String field <name> of <m> is present but was not a string (already reported). */
static bool str_bad(const void *m, const char *s, const char *name)
{
	return !s && pc_has(m, name);
}

/* Duration field <name> of <m> is present and well-formed. */
static bool dur_set(const void *m, const char *name)
{
	const struct pc_node *n = pc_field_node(m, name);
	const char *why;
	int64_t ns;

	return n && !pc_node_is_null(n) && n->type == PC_NODE_SCALAR &&
	       pc_scalar_kind(n) == PC_SCALAR_STR && !memchr(n->str, '\0', n->len) &&
	       pc_duration_parse(n->str, &ns, &why) == 0;
}

/* Integer node <n> that decoded to zero really says 0 (absent counts as 0). */
static bool zero_ok(const struct pc_node *n)
{
	long long x;

	if (!n || pc_node_is_null(n))
		return true;
	return n->type == PC_NODE_SCALAR && pc_scalar_kind(n) == PC_SCALAR_INT &&
	       pc_scalar_int(n, &x) && x == 0;
}

/* Field <name> of <m> is present with a scalar of kind <k>. */
static bool scalar_is(const void *m, const char *name, enum pc_scalar_kind k)
{
	const struct pc_node *n = pc_field_node(m, name);

	return n && n->type == PC_NODE_SCALAR && pc_scalar_kind(n) == k;
}

/* agent.ValidateDuration on field <field> when it is set and well-formed. */
static void check_duration(struct pc_vctx *v, const void *m, const char *field, int64_t ns)
{
	char msg[PC_RULE_MSG];

	if (dur_set(m, field) && pc_check_duration(ns, msg, sizeof(msg)) < 0)
		pc_verr(v, field, "%s", msg);
}

/* ValidatePercent on int32 field <field>. */
static void check_percent(struct pc_vctx *v, const char *field, int32_t val)
{
	char msg[PC_RULE_MSG];

	if (pc_check_percent(val, msg, sizeof(msg)) < 0)
		pc_verr(v, field, "%s", msg);
}

/* ---- connection pool ---- */

static void check_http_pool(struct pc_vctx *v, const struct pc_connection_pool_http *h)
{
	if (!ok(h))
		return;
	pc_vpush(v, "http");
	if (h->http1_max_pending_requests < 0)
		pc_verr(v, "http1MaxPendingRequests",
			"http1 max pending requests must be non-negative");
	if (h->http2_max_requests < 0)
		pc_verr(v, "http2MaxRequests", "http2 max requests must be non-negative");
	if (h->max_requests_per_connection < 0)
		pc_verr(v, "maxRequestsPerConnection",
			"max requests per connection must be non-negative");
	if (h->max_retries < 0)
		pc_verr(v, "maxRetries", "max retries must be non-negative");
	check_duration(v, h, "idleTimeout", h->idle_timeout);
	if (h->h2_upgrade_policy == PC_H2_UPGRADE_UPGRADE && h->use_client_protocol)
		pc_verr(v, "useClientProtocol",
			"use client protocol must not be true when H2UpgradePolicy is UPGRADE");
	if (h->max_concurrent_streams < 0)
		pc_verr(v, "maxConcurrentStreams", "max concurrent streams must be non-negative");
	pc_vpop(v);
}

static void check_tcp_pool(struct pc_vctx *v, const struct pc_connection_pool_tcp *t)
{
	if (!ok(t))
		return;
	pc_vpush(v, "tcp");
	if (t->max_connections < 0)
		pc_verr(v, "maxConnections", "max connections must be non-negative");
	check_duration(v, t, "connectTimeout", t->connect_timeout);
	check_duration(v, t, "maxConnectionDuration", t->max_connection_duration);
	/*
	 * 0s disables the timeout. Go tests Milliseconds() != 0, which
	 * truncates toward zero: anything under 1ms either way is skipped.
	 */
	if (t->idle_timeout / NS_PER_MS != 0)
		check_duration(v, t, "idleTimeout", t->idle_timeout);
	if (ok(t->tcp_keepalive)) {
		pc_vpush(v, "tcpKeepalive");
		check_duration(v, t->tcp_keepalive, "time", t->tcp_keepalive->time);
		check_duration(v, t->tcp_keepalive, "interval", t->tcp_keepalive->interval);
		pc_vpop(v);
	}
	pc_vpop(v);
}

void pc_vcheck_connection_pool(struct pc_vctx *v, const char *field,
			       const struct pc_connection_pool *cp)
{
	if (!ok(cp))
		return;
	if (!cp->http && !cp->tcp) {
		pc_verr(v, field, "connection pool must have at least one field");
		return;
	}
	pc_vpush(v, field);
	check_http_pool(v, cp->http);
	check_tcp_pool(v, cp->tcp);
	pc_vpop(v);
}

/* ---- outlier detection ---- */

void pc_vcheck_outlier_detection(struct pc_vctx *v, const char *field,
				 const struct pc_outlier_detection *od, bool warnings)
{
	if (!ok(od))
		return;
	pc_vpush(v, field);
	check_duration(v, od, "baseEjectionTime", od->base_ejection_time);
	if (od->consecutive_errors != 0 && warnings)
		pc_vwarn(v, "consecutiveErrors",
			 "outlier detection consecutive errors is deprecated, use "
			 "consecutiveGatewayErrors or consecutive5xxErrors instead");
	if (!od->split_external_local_origin_errors && od->consecutive_local_origin_failures > 0 &&
	    (!pc_has(od, "splitExternalLocalOriginErrors") ||
	     scalar_is(od, "splitExternalLocalOriginErrors", PC_SCALAR_BOOL)))
		pc_verr(v, "consecutiveLocalOriginFailures",
			"outlier detection consecutive local origin failures is specified, but "
			"split external local origin errors is set to false");
	check_duration(v, od, "interval", od->interval);
	check_percent(v, "maxEjectionPercent", od->max_ejection_percent);
	check_percent(v, "minHealthPercent", od->min_health_percent);
	pc_vpop(v);
}

/* ---- TLS ---- */

#define CONFIGMAP_URI "configmap://"

/* credentials.ParseResourceName for a configmap:// name; NULL or the reason. */
static const char *configmap_error(const char *name, const char *ns, char *buf, size_t size)
{
	const char *res = name + strlen(CONFIGMAP_URI);
	const char *slash = strchr(res, '/');
	const char *nm;
	size_t nslen;

	if (!slash) {
		snprintf(buf, size, "invalid resource name \"%s\". Expected namespace and name",
			 name);
		return buf;
	}
	nslen = (size_t)(slash - res);
	nm = slash + 1;
	if (nslen == 0) {
		snprintf(buf, size, "invalid resource name \"%s\". Expected namespace", name);
		return buf;
	}
	if (strcspn(nm, "/") == 0) {
		snprintf(buf, size, "invalid resource name \"%s\". Expected name", name);
		return buf;
	}
	if (strlen(ns) != nslen || strncmp(res, ns, nslen) != 0 || !*ns) {
		snprintf(buf, size, "namespace must match the configuration namespace \"%s\"", ns);
		return buf;
	}
	return NULL;
}

/* The first of the certificate fields set alongside credentialName, or NULL. */
static const char *cert_with_credential(const struct pc_client_tls *t)
{
	if (*str(t->client_certificate))
		return "clientCertificate";
	if (*str(t->ca_certificates))
		return "caCertificates";
	if (*str(t->private_key))
		return "privateKey";
	if (*str(t->ca_crl))
		return "caCrl";
	return NULL;
}

static void check_insecure(struct pc_vctx *v, const struct pc_client_tls *t)
{
	bool ca = *str(t->ca_certificates), san = t->subject_alt_names.n > 0;

	if (!t->insecure_skip_verify)
		return;
	if (t->mode == PC_TLS_SIMPLE && (ca || *str(t->credential_name) || san))
		pc_verr(v, "insecureSkipVerify",
			"cannot specify CaCertificates or CredentialName or SubjectAltNames when "
			"InsecureSkipVerify is set true");
	if (t->mode == PC_TLS_MUTUAL && (ca || san))
		pc_verr(v, "insecureSkipVerify",
			"cannot specify CaCertificates or SubjectAltNames when InsecureSkipVerify "
			"is set true");
}

void pc_vcheck_client_tls(struct pc_vctx *v, const char *field, const struct pc_client_tls *t,
			  const char *ns)
{
	const char *cred, *why, *cert;
	char buf[PC_RULE_MSG];

	if (!ok(t))
		return;
	pc_vpush(v, field);
	cred = str(t->credential_name);
	if (strncmp(cred, CONFIGMAP_URI, strlen(CONFIGMAP_URI)) == 0) {
		why = configmap_error(cred, ns, buf, sizeof(buf));
		if (why)
			pc_verr(v, "credentialName", "invalid configmap:// credentialName: %s",
				why);
	}
	check_insecure(v, t);
	if ((t->mode == PC_TLS_SIMPLE || t->mode == PC_TLS_MUTUAL) && *cred) {
		cert = cert_with_credential(t);
		if (cert)
			pc_verr(v, cert,
				"cannot specify client certificates or CA certificate or "
				"CA CRL If credentialName is set");
		goto out; /* fetched remotely: nothing else is required */
	}
	if (t->mode == PC_TLS_MUTUAL) {
		if (!*str(t->client_certificate))
			pc_verr(v, "clientCertificate",
				"client certificate required for mutual tls");
		if (!*str(t->private_key))
			pc_verr(v, "privateKey", "private key required for mutual tls");
	}
out:
	pc_vpop(v);
}

/* ---- locality load balancing ---- */

#define LABEL_TOPOLOGY_REGION  "topology.kubernetes.io/region"
#define LABEL_TOPOLOGY_ZONE    "topology.kubernetes.io/zone"
#define LABEL_TOPOLOGY_SUBZONE "topology.istio.io/subzone"

/*
 * Go's regionZoneSubZoneMap, flattened: map[r][z][s] = true is the triple
 * (r, z, s), and "map[r] exists" or "map[r][z] exists" ask whether some
 * triple starts with that prefix. Every prefix of every inserted triple
 * goes into a hash set, so each question is one lookup, as in Go.
 */
struct loc {
	const char *p[3];
	size_t len[3];
};

struct loc_key {
	struct loc l;
	int depth; /* 0: free slot, else the number of segments */
};

struct loc_set {
	struct loc_key *v;
	size_t mask;
};

static size_t loc_hash(const struct loc *l, int depth)
{
	size_t h = 14695981039346656037ULL, i;
	int j;

	for (j = 0; j < depth; j++) {
		for (i = 0; i < l->len[j]; i++)
			h = (h ^ (unsigned char)l->p[j][i]) * 1099511628211ULL;
		h = (h ^ '/') * 1099511628211ULL;
	}
	return h;
}

static bool loc_eq(const struct loc_key *k, const struct loc *l, int depth)
{
	int j;

	if (k->depth != depth)
		return false;
	for (j = 0; j < depth; j++) {
		if (k->l.len[j] != l->len[j] || memcmp(k->l.p[j], l->p[j], l->len[j]) != 0)
			return false;
	}
	return true;
}

/* The slot of prefix <l>[0..depth), or the free slot where it would go. */
static struct loc_key *loc_slot(const struct loc_set *set, const struct loc *l, int depth)
{
	size_t i = loc_hash(l, depth) & set->mask;

	while (set->v[i].depth && !loc_eq(&set->v[i], l, depth))
		i = (i + 1) & set->mask;
	return &set->v[i];
}

/* Does some inserted triple start with the first <depth> segments of <l>? */
static bool loc_find(const struct loc_set *set, const struct loc *l, int depth)
{
	return loc_slot(set, l, depth)->depth != 0;
}

static void loc_add(struct loc_set *set, const struct loc *l)
{
	struct loc_key *k;
	int depth;

	for (depth = 1; depth <= 3; depth++) {
		k = loc_slot(set, l, depth);
		k->l = *l;
		k->depth = depth;
	}
}

static void loc_seg(struct loc *l, int i, const char *s)
{
	l->p[i] = s;
	l->len[i] = strlen(s);
}

/* getLocalityParam: split into at most 3 items; -1 when one is empty, else the last index. */
static int locality_param(const char *s, struct loc *l)
{
	int i;

	for (i = 0; i < 3; i++) {
		l->p[i] = s;
		l->len[i] = i < 2 ? strcspn(s, "/") : strlen(s);
		if (l->len[i] == 0)
			return -1;
		if (!s[l->len[i]])
			return i;
		s += l->len[i] + 1;
	}
	return 2;
}

/* Go's map checks and writes for locality <q> of depth <idx>; false on an overlap. */
static bool loc_insert(struct loc_set *set, struct loc q, int idx)
{
	struct loc probe = q;

	if (idx == 0) {
		if (loc_find(set, &q, 1))
			return false;
		loc_seg(&q, 1, "*"); /* map[region] = {"*": {"*": true}} */
		loc_seg(&q, 2, "*");
	} else {
		loc_seg(&probe, 1, "*");
		if (loc_find(set, &probe, 2))
			return false; /* map[region]["*"] exists */
		if (idx == 1) {
			if (loc_find(set, &q, 2))
				return false;
			loc_seg(&q, 2, "*"); /* map[region][zone] = {"*": true} */
		} else {
			probe = q;
			loc_seg(&probe, 2, "*");
			if (loc_find(set, &probe, 3) || loc_find(set, &q, 3))
				return false;
		}
	}
	loc_add(set, &q);
	return true;
}

/*
 * validateLocalities over <n> strings: the index of the first bad one
 * (its message in <msg>), or -1. Go stops at the first problem.
 */
static long validate_localities(const char *const *locs, size_t n, char *msg, size_t size)
{
	struct loc_set set;
	struct loc q;
	size_t i, cap = 8;
	const char *s, *star;
	int idx;

	while (cap < 6 * n + 8) /* 3 prefixes per locality, load <= 1/2 */
		cap *= 2;
	set.v = calloc(cap, sizeof(*set.v));
	set.mask = cap - 1;
	if (!set.v) {
		snprintf(msg, size, "out of memory while validating localities");
		return 0;
	}
	for (i = 0; i < n; i++) {
		s = locs[i];
		star = strchr(s, '*');
		if (star && star[1]) { /* more than one '*', or not at the end */
			snprintf(msg, size,
				 "locality %s wildcard '*' number can not exceed 1 and must be in "
				 "the end",
				 s);
			break;
		}
		loc_seg(&q, 0, "*");
		if (loc_find(&set, &q, 1)) {
			snprintf(msg, size, "locality %s overlap with previous specified ones", s);
			break;
		}
		idx = locality_param(s, &q);
		if (idx < 0) {
			snprintf(msg, size,
				 "locality %s must not contain empty region/zone/subzone info", s);
			break;
		}
		if (!loc_insert(&set, q, idx)) {
			snprintf(msg, size, "locality %s overlap with previous specified ones", s);
			break;
		}
	}
	free(set.v);
	return i < n ? (long)i : -1;
}

/* Integer node <n> decoded without error as a uint32. */
static bool u32_node_ok(const struct pc_node *n)
{
	long long x;

	return n && n->type == PC_NODE_SCALAR && pc_scalar_kind(n) == PC_SCALAR_INT &&
	       pc_scalar_int(n, &x) && x >= 0 && x <= UINT32_MAX;
}

/*
 * The weights of one distribute entry (Go returns from the whole function
 * on a bad weight or total). False when validation must stop.
 */
static bool check_distribute_to(struct pc_vctx *v, const struct pc_locality_distribute *d)
{
	const struct pc_node *to = pc_field_node(d, "to");
	char msg[PC_RULE_MSG];
	uint32_t total = 0;
	size_t i;
	long bad;

	if (to && !pc_node_is_null(to) && to->type != PC_NODE_MAP)
		return false; /* mistyped: reported by the decoder */
	for (i = 0; to && i < d->to.n; i++) {
		if (!u32_node_ok(to->pairs[i].value))
			return false;
	}
	pc_vpush(v, "to");
	for (i = 0; i < d->to.n; i++) {
		if (d->to.vals[i] == 0 || d->to.vals[i] > 100) {
			pc_vpush_key(v, d->to.keys[i]);
			pc_verr(v, NULL, "locality weight must be in range [1, 100]");
			pc_vpop(v);
			pc_vpop(v);
			return false;
		}
		total += d->to.vals[i];
	}
	if (total != 100) {
		pc_verr(v, NULL, "total locality weight %u != 100", total);
		pc_vpop(v);
		return false;
	}
	bad = validate_localities(d->to.keys, d->to.n, msg, sizeof(msg));
	if (bad >= 0) {
		pc_vpush_key(v, d->to.keys[bad]);
		pc_verr(v, NULL, "%s", msg);
		pc_vpop(v);
	}
	pc_vpop(v);
	return true;
}

/* The distribute list: weights, then the source localities. False: stop. */
static bool check_distribute(struct pc_vctx *v, const struct pc_locality_lb *l)
{
	const char **src;
	size_t *where;
	char msg[PC_RULE_MSG];
	size_t i, n = 0;
	bool go_on = true;
	long bad;

	src = calloc(l->distribute.n ? l->distribute.n : 1, sizeof(*src));
	where = calloc(l->distribute.n ? l->distribute.n : 1, sizeof(*where));
	if (!src || !where) {
		pc_verr(v, "distribute", "out of memory while validating localities");
		go_on = false;
		goto out;
	}
	pc_vpush(v, "distribute");
	for (i = 0; i < l->distribute.n && go_on; i++) {
		const struct pc_locality_distribute *d = &l->distribute.v[i];

		if (!ok(d))
			continue;
		where[n] = i;
		src[n++] = str(d->from);
		pc_vpush_index(v, i);
		go_on = check_distribute_to(v, d);
		pc_vpop(v);
	}
	if (go_on) {
		bad = validate_localities(src, n, msg, sizeof(msg));
		if (bad >= 0) {
			pc_vpush_index(v, where[bad]);
			pc_verr(v, "from", "%s", msg);
			pc_vpop(v);
		}
	}
	pc_vpop(v);
out:
	free(src);
	free(where);
	return go_on;
}

static void check_failover(struct pc_vctx *v, const struct pc_locality_lb *l)
{
	size_t i;

	pc_vpush(v, "failover");
	for (i = 0; i < l->failover.n; i++) {
		const struct pc_locality_failover *f = &l->failover.v[i];
		const char *from = str(f->from), *to = str(f->to);

		if (!ok(f))
			continue;
		pc_vpush_index(v, i);
		if (strcmp(from, to) == 0)
			pc_verr(v, NULL,
				"locality lb failover settings must specify different regions");
		if (strchr(from, '/') || strchr(to, '/'))
			pc_verr(v, NULL, "locality lb failover only specify region");
		if (strchr(from, '*') || strchr(to, '*'))
			pc_verr(v, NULL,
				"locality lb failover region should not contain '*' wildcard");
		pc_vpop(v);
	}
	pc_vpop(v);
}

/* agent.ValidateLocalityLbSetting. */
static void check_locality(struct pc_vctx *v, const struct pc_locality_lb *l,
			   const struct pc_outlier_detection *outlier, bool warnings)
{
	size_t i;

	if (!ok(l))
		return;
	pc_vpush(v, "localityLbSetting");
	if (l->distribute.n > 0 && l->failover.n > 0) {
		pc_verr(v, NULL, "can not simultaneously specify 'distribute' and 'failover'");
		goto out;
	}
	for (i = 0; l->failover.n > 0 && i < l->failover_priority.n; i++) {
		const char *label = l->failover_priority.v[i];

		if (strcmp(label, LABEL_TOPOLOGY_REGION) == 0 ||
		    strcmp(label, LABEL_TOPOLOGY_ZONE) == 0 ||
		    strcmp(label, LABEL_TOPOLOGY_SUBZONE) == 0) {
			pc_vpush(v, "failoverPriority");
			pc_vpush_index(v, i);
			pc_verr(v, NULL,
				"can not simultaneously set 'failover' and topology label '%s' in "
				"'failover_priority'",
				label);
			pc_vpop(v);
			pc_vpop(v);
			goto out;
		}
	}
	if (!check_distribute(v, l))
		goto out;
	if ((l->failover.n || l->failover_priority.n) && !outlier && warnings)
		pc_vwarn(v, NULL, "outlier detection policy must be provided for failover");
	check_failover(v, l);
out:
	pc_vpop(v);
}

/* ---- consistent hash and warmup ---- */

static uint64_t mulmod(uint64_t a, uint64_t b, uint64_t m)
{
	return (uint64_t)((unsigned __int128)a * b % m);
}

static uint64_t powmod(uint64_t b, uint64_t e, uint64_t m)
{
	uint64_t r = 1;

	for (b %= m; e; e >>= 1) {
		if (e & 1)
			r = mulmod(r, b, m);
		b = mulmod(b, b, m);
	}
	return r;
}

/* Deterministic Miller-Rabin for all 64-bit <x>. */
static bool is_prime_exact(uint64_t x)
{
	static const uint64_t bases[] = { 2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37 };
	uint64_t d = x - 1, y;
	unsigned i, r = 0, k;

	if (x < 2)
		return false;
	for (i = 0; i < sizeof(bases) / sizeof(bases[0]); i++) {
		if (x % bases[i] == 0)
			return x == bases[i];
	}
	while (!(d & 1)) {
		d >>= 1;
		r++;
	}
	for (i = 0; i < sizeof(bases) / sizeof(bases[0]); i++) {
		y = powmod(bases[i], d, x);
		if (y == 1 || y == x - 1)
			continue;
		for (k = 1; k < r && y != x - 1; k++)
			y = mulmod(y, y, x);
		if (y != x - 1)
			return false;
	}
	return true;
}

/*
 * Go's isPrime (copied from Envoy): 0 is not prime but 1, 2 and 3 are, and
 * trial division stops at uint64(math.Sqrt(float64(x))). The float square
 * root can fall short of the true one for huge values, so a product of two
 * primes just above it passes there; reproduce that without the O(sqrt)
 * loop: trial division only between Go's limit and the exact root.
 */
static bool go_is_prime(uint64_t x)
{
	uint64_t limit, root, c;

	if (x != 0 && x < 4)
		return true;
	if ((x & 1) == 0)
		return false;
	if (is_prime_exact(x))
		return true;
	limit = (uint64_t)sqrt((double)x);
	root = limit;
	while (root > 0 && (root > UINT32_MAX || root * root > x))
		root--;
	while (root < UINT32_MAX && (root + 1) * (root + 1) <= x)
		root++;
	for (c = limit + 1; c <= root; c++) {
		if (x % c == 0)
			return is_prime_exact(c) && is_prime_exact(x / c);
	}
	return false;
}

static void check_maglev(struct pc_vctx *v, const struct pc_maglev *ml)
{
	uint64_t ts = ml->table_size;

	if (!ok(ml) || (ts == 0 && !zero_ok(pc_field_node(ml, "tableSize"))))
		return;
	pc_vpush(v, "maglev");
	if (ts == 0)
		pc_verr(v, "tableSize", "tableSize must be set for maglev");
	if (ts >= 5000011)
		pc_verr(v, "tableSize", "tableSize must be less than 5000011 for maglev");
	if (!go_is_prime(ts))
		pc_verr(v, "tableSize", "tableSize must be a prime number for maglev");
	pc_vpop(v);
}

static void check_consistent_hash(struct pc_vctx *v, const struct pc_consistent_hash *ch,
				  bool warnings)
{
	const struct pc_http_cookie *c = ch ? ch->http_cookie : NULL;

	if (!ok(ch))
		return;
	pc_vpush(v, "consistentHash");
	if (ok(c) && !*str(c->name) && !str_bad(c, c->name, "name")) {
		pc_vpush(v, "httpCookie");
		pc_verr(v, "name", "name required for HttpCookie");
		pc_vpop(v);
	}
	if (ch->minimum_ring_size != 0 && warnings)
		pc_vwarn(v, "minimumRingSize",
			 "consistent hash MinimumRingSize is deprecated, use ConsistentHashLB's "
			 "RingHash configuration instead");
	if (ch->minimum_ring_size != 0 && (ch->ring_hash || ch->maglev))
		pc_verr(v, "minimumRingSize",
			"only one of MinimumRingSize or Maglev/Ringhash can be specified");
	if (ch->maglev)
		check_maglev(v, ch->maglev);
	pc_vpop(v);
}

static void check_warmup(struct pc_vctx *v, const struct pc_warmup *w)
{
	if (!ok(w))
		return;
	pc_vpush(v, "warmup");
	if (!pc_has(w, "duration"))
		pc_verr(v, "duration", "duration is required");
	else
		check_duration(v, w, "duration", w->duration);
	if (w->minimum_percent > 100)
		pc_verr(v, "minimumPercent",
			"minimumPercent value should be less than or equal to 100");
	if ((scalar_is(w, "aggression", PC_SCALAR_INT) ||
	     scalar_is(w, "aggression", PC_SCALAR_FLOAT)) &&
	    w->aggression < 1)
		pc_verr(v, "aggression", "aggression should be greater than or equal to 1");
	pc_vpop(v);
}

void pc_vcheck_load_balancer(struct pc_vctx *v, const char *field,
			     const struct pc_load_balancer *lb,
			     const struct pc_outlier_detection *outlier, bool warnings)
{
	if (!ok(lb))
		return;
	pc_vpush(v, field);
	check_consistent_hash(v, lb->consistent_hash, warnings);
	check_locality(v, lb->locality_lb_setting, outlier, warnings);
	check_warmup(v, lb->warmup);
	pc_vpop(v);
}

/* ---- port-level settings, tunnel, proxy protocol ---- */

static void check_port_policies(struct pc_vctx *v, const struct pc_traffic_policy *tp,
				const char *ns)
{
	size_t i;

	pc_vpush(v, "portLevelSettings");
	for (i = 0; i < tp->port_level_settings.n; i++) {
		const struct pc_port_traffic_policy *p = &tp->port_level_settings.v[i];

		if (!ok(p))
			continue;
		pc_vpush_index(v, i);
		if (!p->port)
			pc_verr(v, "port", "portTrafficPolicy must have valid port");
		if (!p->outlier_detection && !p->connection_pool && !p->load_balancer && !p->tls) {
			pc_verr(v, NULL, "port traffic policy must have at least one field");
		} else {
			/* appendErrors: warnings at port level are lost, as in Istio */
			pc_vcheck_outlier_detection(v, "outlierDetection", p->outlier_detection,
						    false);
			pc_vcheck_connection_pool(v, "connectionPool", p->connection_pool);
			pc_vcheck_load_balancer(v, "loadBalancer", p->load_balancer,
						p->outlier_detection, false);
			pc_vcheck_client_tls(v, "tls", p->tls, ns);
		}
		pc_vpop(v);
	}
	pc_vpop(v);
}

static void check_tunnel(struct pc_vctx *v, const struct pc_tunnel *t)
{
	char fqdn[PC_RULE_MSG], ip[PC_RULE_MSG], msg[PC_RULE_MSG];
	const char *proto, *host;

	if (!ok(t))
		return;
	pc_vpush(v, "tunnel");
	proto = str(t->protocol);
	if (*proto && strcmp(proto, "CONNECT") != 0 && strcmp(proto, "POST") != 0)
		pc_verr(v, "protocol", "tunnel protocol must be \"CONNECT\" or \"POST\"");
	host = str(t->target_host);
	if (!str_bad(t, t->target_host, "targetHost") &&
	    pc_check_fqdn(host, fqdn, sizeof(fqdn)) < 0 && pc_check_ip(host, ip, sizeof(ip)) < 0)
		pc_verr(v, "targetHost",
			"tunnel target host must be valid FQDN or IP address: %s; %s", fqdn, ip);
	if ((t->target_port || zero_ok(pc_field_node(t, "targetPort"))) &&
	    pc_check_port(t->target_port, msg, sizeof(msg)) < 0)
		pc_verr(v, "targetPort", "tunnel target port is invalid: %s", msg);
	pc_vpop(v);
}

static void check_proxy_protocol(struct pc_vctx *v, const struct pc_proxy_protocol *pp)
{
	/* Only a numeric enum value could get here; our decoder takes names only. */
	if (ok(pp) && pp->version != PC_PROXY_PROTOCOL_V1 && pp->version != PC_PROXY_PROTOCOL_V2)
		pc_verr(v, "proxyProtocol.version", "proxy protocol version is invalid: %d",
			pp->version);
}

/* ---- traffic policy ---- */

/* validateTrafficPolicy, at the current path. */
static void go_traffic_policy(struct pc_vctx *v, const struct pc_traffic_policy *tp, const char *ns,
			      bool warnings)
{
	const struct pc_node *pls = pc_field_node(tp, "portLevelSettings");
	bool has_pls = tp->port_level_settings.n > 0 ||
		       (pls && !pc_node_is_null(pls) && pls->type != PC_NODE_SEQ);

	/* retryBudget is missing from Istio's list: a policy with only it is rejected */
	if (!tp->outlier_detection && !tp->connection_pool && !tp->load_balancer && !tp->tls &&
	    !has_pls && !tp->tunnel && !tp->proxy_protocol) {
		pc_verr(v, NULL, "traffic policy must have at least one field");
		return;
	}
	if (tp->tunnel && tp->proxy_protocol) {
		pc_verr(v, "proxyProtocol", "tunnel and proxyProtocol must not be set together");
		return;
	}
	pc_vcheck_outlier_detection(v, "outlierDetection", tp->outlier_detection, warnings);
	pc_vcheck_connection_pool(v, "connectionPool", tp->connection_pool);
	pc_vcheck_load_balancer(v, "loadBalancer", tp->load_balancer, tp->outlier_detection,
				warnings);
	pc_vcheck_client_tls(v, "tls", tp->tls, ns);
	check_port_policies(v, tp, ns);
	check_tunnel(v, tp->tunnel);
	check_proxy_protocol(v, tp->proxy_protocol);
}

/* ---- CRD-only rules ---- */

#define PC_CRD_MAX_PORT_LEVEL_SETTINGS 4096

/* Kubernetes' rendering of a JSON number in "Invalid value: <v>". */
static void fmt_number(double d, char *buf, size_t size)
{
	if (d == floor(d) && fabs(d) < 1e15)
		snprintf(buf, size, "%.0f", d);
	else
		snprintf(buf, size, "%g", d);
}

/* OpenAPI minimum/maximum on double field <field> of <m>. */
static void crd_range(struct pc_vctx *v, const void *m, const char *field, double d, double lo,
		      double hi)
{
	char num[64];

	if (!pc_has(m, field) || (d >= lo && d <= hi))
		return;
	fmt_number(d, num, sizeof(num));
	pc_vpush(v, field);
	if (d < lo)
		pc_verr(v, NULL,
			"Invalid value: %s: %s in body should be greater than or equal to %g", num,
			pc_vpath(v), lo);
	else
		pc_verr(v, NULL, "Invalid value: %s: %s in body should be less than or equal to %g",
			num, pc_vpath(v), hi);
	pc_vpop(v);
}

static void crd_load_balancer(struct pc_vctx *v, const struct pc_load_balancer *lb)
{
	const struct pc_consistent_hash *ch;
	const struct pc_http_cookie *c;
	size_t i;

	if (!ok(lb))
		return;
	pc_vpush(v, "loadBalancer");
	/* x-kubernetes-validations: duration(self) >= duration('1ms'); Go no longer checks */
	if (dur_set(lb, "warmupDurationSecs") && lb->warmup_duration_secs < NS_PER_MS)
		pc_verr(v, "warmupDurationSecs", "must be a valid duration greater than 1ms");
	if (ok(lb->warmup)) {
		pc_vpush(v, "warmup");
		/* Go checks only the upper bound */
		crd_range(v, lb->warmup, "minimumPercent", lb->warmup->minimum_percent, 0,
			  INFINITY);
		pc_vpop(v);
	}
	ch = lb->consistent_hash;
	c = ok(ch) ? ch->http_cookie : NULL;
	if (ok(c)) {
		pc_vpush(v, "consistentHash");
		pc_vpush(v, "httpCookie");
		pc_vpush(v, "attributes");
		for (i = 0; i < c->attributes.n; i++) {
			if (!ok(&c->attributes.v[i]) || pc_has(&c->attributes.v[i], "name"))
				continue;
			pc_vpush_index(v, i);
			pc_verr(v, "name", "Required value");
			pc_vpop(v);
		}
		pc_vpop(v);
		pc_vpop(v);
		pc_vpop(v);
	}
	pc_vpop(v);
}

/* What kube-apiserver rejects and the webhook does not. */
static void crd_traffic_policy(struct pc_vctx *v, const struct pc_traffic_policy *tp)
{
	size_t i;

	crd_load_balancer(v, tp->load_balancer);
	if (tp->port_level_settings.n > PC_CRD_MAX_PORT_LEVEL_SETTINGS)
		pc_verr(v, "portLevelSettings", "Too many: %zu: must have at most %d items",
			tp->port_level_settings.n, PC_CRD_MAX_PORT_LEVEL_SETTINGS);
	pc_vpush(v, "portLevelSettings");
	for (i = 0; i < tp->port_level_settings.n; i++) {
		pc_vpush_index(v, i);
		crd_load_balancer(v, tp->port_level_settings.v[i].load_balancer);
		pc_vpop(v);
	}
	pc_vpop(v);
	if (ok(tp->retry_budget)) {
		pc_vpush(v, "retryBudget");
		crd_range(v, tp->retry_budget, "percent", tp->retry_budget->percent, 0, 100);
		pc_vpop(v);
	}
}

void pc_vcheck_traffic_policy(struct pc_vctx *v, const char *field,
			      const struct pc_traffic_policy *tp, const char *ns, bool warnings)
{
	if (!ok(tp))
		return;
	pc_vpush(v, field);
	go_traffic_policy(v, tp, ns, warnings);
	crd_traffic_policy(v, tp);
	pc_vpop(v);
}
