/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for model/trafficpolicy.c through DestinationRules: every rule
 * of Istio's validateTrafficPolicy and its helpers (connection pool,
 * outlier detection, client TLS, load balancer with consistent hash,
 * locality and warmup, port-level settings, tunnel, proxy protocol),
 * accepted and rejected, with the finding's path and line:col, plus the
 * CRD-only rules and the cases where Istio drops warnings or returns early.
 *
 * Every manifest starts with HEAD (6 lines), so spec line k of a body is
 * line 6 + k of the file.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/finding.h"
#include "testutil.h"

#define HEAD                                   \
	"apiVersion: networking.istio.io/v1\n" \
	"kind: DestinationRule\n"              \
	"metadata:\n"                          \
	"  name: r\n"                          \
	"  namespace: ns1\n"                   \
	"spec:\n"

#define DR(body) tu_validate(HEAD body)

/* A policy body: host line + trafficPolicy: then <tp> (indented 4). */
#define TP(tp) DR("  host: svc.example.com\n  trafficPolicy:\n" tp)

#define ERR  PC_SEV_ERROR
#define WARN PC_SEV_WARNING

#define TP_PATH "spec.trafficPolicy"

/* ---- traffic policy ---- */

START_TEST(policy_needs_a_field)
{
	struct pc_findings *f;

	f = TP("    {}\n");
	tu_at(tu_expect(f, ERR, TP_PATH, "traffic policy must have at least one field"), 9, 5);
	tu_counts(f, 1, 0);
	tu_free(f);

	/* an empty list counts as unset, as in Go's protobuf decoding */
	f = TP("    portLevelSettings: []\n");
	tu_expect(f, ERR, TP_PATH, "traffic policy must have at least one field");
	tu_free(f);

	/* retryBudget is not in Istio's list: alone it is rejected */
	f = TP("    retryBudget:\n"
	       "      percent: 20\n");
	tu_at(tu_expect(f, ERR, TP_PATH, "traffic policy must have at least one field"), 9, 5);
	tu_counts(f, 1, 0);
	tu_free(f);

	f = TP("    tunnel:\n"
	       "      targetHost: proxy.example.com\n"
	       "      targetPort: 8080\n");
	tu_expect_clean(f);
	tu_free(f);

	f = TP("    proxyProtocol:\n"
	       "      version: V2\n");
	tu_expect_clean(f);
	tu_free(f);

	f = TP("    proxyProtocol: {}\n");
	tu_expect_clean(f);
	tu_free(f);
}
END_TEST

START_TEST(tunnel_and_proxy_protocol_exclusive)
{
	/* Go returns at once: the bad percent below is not reported */
	struct pc_findings *f = TP("    outlierDetection:\n"
				   "      maxEjectionPercent: 200\n"
				   "    tunnel:\n"
				   "      targetHost: proxy.example.com\n"
				   "      targetPort: 8080\n"
				   "    proxyProtocol:\n"
				   "      version: V1\n");

	tu_at(tu_expect(f, ERR, TP_PATH ".proxyProtocol",
			"tunnel and proxyProtocol must not be set together"),
	      15, 7);
	tu_counts(f, 1, 0);
	tu_free(f);
}
END_TEST

START_TEST(proxy_protocol_version)
{
	struct pc_findings *f = TP("    proxyProtocol:\n"
				   "      version: V3\n");

	tu_at(tu_expect(f, ERR, TP_PATH ".proxyProtocol.version", "Unsupported value: \"V3\""), 10,
	      16);
	tu_counts(f, 1, 0);
	tu_free(f);
}
END_TEST

START_TEST(tunnel_settings)
{
	struct pc_findings *f;

	f = TP("    tunnel:\n"
	       "      protocol: POST\n"
	       "      targetHost: 192.0.2.10\n"
	       "      targetPort: 3128\n");
	tu_expect_clean(f);
	tu_free(f);

	f = TP("    tunnel:\n"
	       "      protocol: CONNECT\n"
	       "      targetHost: 2001:db8::1\n"
	       "      targetPort: 65535\n");
	tu_expect_clean(f);
	tu_free(f);

	f = TP("    tunnel:\n"
	       "      protocol: connect\n"
	       "      targetHost: bad_host\n"
	       "      targetPort: 70000\n");
	tu_at(tu_expect(f, ERR, TP_PATH ".tunnel.protocol",
			"tunnel protocol must be \"CONNECT\" or \"POST\""),
	      10, 17);
	tu_at(tu_expect(f, ERR, TP_PATH ".tunnel.targetHost",
			"tunnel target host must be valid FQDN or IP address: domain name "
			"\"bad_host\" invalid (label \"bad_host\" invalid); bad_host is not a "
			"valid IP"),
	      11, 19);
	tu_at(tu_expect(f, ERR, TP_PATH ".tunnel.targetPort",
			"tunnel target port is invalid: port number 70000 must be in the range "
			"1..65535"),
	      12, 19);
	tu_counts(f, 3, 0);
	tu_free(f);

	/* both required fields missing: Go's messages name them */
	f = TP("    tunnel: {protocol: POST}\n");
	tu_at(tu_expect(
		      f, ERR, TP_PATH ".tunnel.targetHost",
		      "tunnel target host must be valid FQDN or IP address: empty domain name not "
		      "allowed;  is not a valid IP"),
	      9, 13);
	tu_expect(f, ERR, TP_PATH ".tunnel.targetPort", "port number 0 must be in the range");
	tu_counts(f, 2, 0);
	tu_free(f);

	/* a negative port is the decoder's business alone */
	f = TP("    tunnel: {targetHost: a.b, targetPort: -1}\n");
	tu_expect(f, ERR, TP_PATH ".tunnel.targetPort", "out of range");
	tu_counts(f, 1, 0);
	tu_free(f);
}
END_TEST

/* ---- connection pool ---- */

START_TEST(connection_pool_needs_a_field)
{
	struct pc_findings *f;

	f = TP("    connectionPool: {}\n");
	tu_at(tu_expect(f, ERR, TP_PATH ".connectionPool",
			"connection pool must have at least one field"),
	      9, 21);
	tu_counts(f, 1, 0);
	tu_free(f);

	f = TP("    connectionPool: {tcp: {}}\n");
	tu_expect_clean(f);
	tu_free(f);

	f = TP("    connectionPool: {http: {}}\n");
	tu_expect_clean(f);
	tu_free(f);

	/* mistyped: only the decoder's error, no "at least one field" */
	f = TP("    connectionPool: 5\n");
	tu_expect(f, ERR, TP_PATH ".connectionPool", "expected an object");
	tu_counts(f, 1, 0);
	tu_free(f);
}
END_TEST

START_TEST(connection_pool_http)
{
	struct pc_findings *f;

	f = TP("    connectionPool:\n"
	       "      http:\n"
	       "        http1MaxPendingRequests: -1\n"
	       "        http2MaxRequests: -1\n"
	       "        maxRequestsPerConnection: -1\n"
	       "        maxRetries: -1\n"
	       "        idleTimeout: 0s\n"
	       "        h2UpgradePolicy: UPGRADE\n"
	       "        useClientProtocol: true\n"
	       "        maxConcurrentStreams: -1\n");
#define H TP_PATH ".connectionPool.http."
	tu_at(tu_expect(f, ERR, H "http1MaxPendingRequests",
			"http1 max pending requests must be non-negative"),
	      11, 34);
	tu_at(tu_expect(f, ERR, H "http2MaxRequests", "http2 max requests must be non-negative"),
	      12, 27);
	tu_at(tu_expect(f, ERR, H "maxRequestsPerConnection",
			"max requests per connection must be non-negative"),
	      13, 35);
	tu_at(tu_expect(f, ERR, H "maxRetries", "max retries must be non-negative"), 14, 21);
	tu_at(tu_expect(f, ERR, H "idleTimeout", "duration must be greater than 1ms"), 15, 22);
	tu_at(tu_expect(f, ERR, H "useClientProtocol",
			"use client protocol must not be true when H2UpgradePolicy is UPGRADE"),
	      17, 28);
	tu_at(tu_expect(f, ERR, H "maxConcurrentStreams",
			"max concurrent streams must be non-negative"),
	      18, 31);
	tu_counts(f, 7, 0);
	tu_free(f);

	f = TP("    connectionPool:\n"
	       "      http:\n"
	       "        http1MaxPendingRequests: 0\n"
	       "        idleTimeout: 1ms\n"
	       "        h2UpgradePolicy: DO_NOT_UPGRADE\n"
	       "        useClientProtocol: true\n");
	tu_expect_clean(f);
	tu_free(f);

	f = TP("    connectionPool: {http: {idleTimeout: 1500us}}\n");
	tu_expect(f, ERR, H "idleTimeout", "only durations to ms precision are supported");
	tu_free(f);
#undef H
}
END_TEST

START_TEST(connection_pool_tcp)
{
	struct pc_findings *f;

#define T TP_PATH ".connectionPool.tcp."
	f = TP("    connectionPool:\n"
	       "      tcp:\n"
	       "        maxConnections: -1\n"
	       "        connectTimeout: 0s\n"
	       "        maxConnectionDuration: 1.5ms\n"
	       "        idleTimeout: -5s\n"
	       "        tcpKeepalive:\n"
	       "          time: 0s\n"
	       "          interval: 500us\n");
	tu_at(tu_expect(f, ERR, T "maxConnections", "max connections must be non-negative"), 11,
	      25);
	tu_at(tu_expect(f, ERR, T "connectTimeout", "duration must be greater than 1ms"), 12, 25);
	tu_at(tu_expect(f, ERR, T "maxConnectionDuration",
			"only durations to ms precision are supported"),
	      13, 32);
	tu_at(tu_expect(f, ERR, T "idleTimeout", "duration must be greater than 1ms"), 14, 22);
	tu_at(tu_expect(f, ERR, T "tcpKeepalive.time", "duration must be greater than 1ms"), 16,
	      17);
	tu_at(tu_expect(f, ERR, T "tcpKeepalive.interval", "duration must be greater than 1ms"), 17,
	      21);
	tu_counts(f, 6, 0);
	tu_free(f);

	/* idleTimeout: 0s disables it, and Go skips anything under 1ms */
	f = TP("    connectionPool:\n"
	       "      tcp:\n"
	       "        maxConnections: 0\n"
	       "        connectTimeout: 1ms\n"
	       "        idleTimeout: 0s\n"
	       "        tcpKeepalive: {}\n");
	tu_expect_clean(f);
	tu_free(f);

	f = TP("    connectionPool: {tcp: {idleTimeout: 500us}}\n");
	tu_expect_clean(f);
	tu_free(f);

	f = TP("    connectionPool: {tcp: {idleTimeout: -999us}}\n");
	tu_expect_clean(f);
	tu_free(f);

	f = TP("    connectionPool: {tcp: {idleTimeout: 1500us}}\n");
	tu_expect(f, ERR, T "idleTimeout", "only durations to ms precision are supported");
	tu_counts(f, 1, 0);
	tu_free(f);

	/* a malformed duration is reported once, by the decoder */
	f = TP("    connectionPool: {tcp: {connectTimeout: 30}}\n");
	tu_expect(f, ERR, T "connectTimeout", "missing unit");
	tu_counts(f, 1, 0);
	tu_free(f);
#undef T
}
END_TEST

/* ---- outlier detection ---- */

START_TEST(outlier_detection)
{
	struct pc_findings *f;

#define O TP_PATH ".outlierDetection."
	f = TP("    outlierDetection:\n"
	       "      baseEjectionTime: 0s\n"
	       "      consecutiveErrors: 5\n"
	       "      consecutiveLocalOriginFailures: 3\n"
	       "      interval: 1.5ms\n"
	       "      maxEjectionPercent: 101\n"
	       "      minHealthPercent: -1\n");
	tu_at(tu_expect(f, ERR, O "baseEjectionTime", "duration must be greater than 1ms"), 10, 25);
	tu_at(tu_expect(f, WARN, O "consecutiveErrors",
			"outlier detection consecutive errors is deprecated, use "
			"consecutiveGatewayErrors or consecutive5xxErrors instead"),
	      11, 26);
	tu_at(tu_expect(
		      f, ERR, O "consecutiveLocalOriginFailures",
		      "outlier detection consecutive local origin failures is specified, but split "
		      "external local origin errors is set to false"),
	      12, 39);
	tu_at(tu_expect(f, ERR, O "interval", "only durations to ms precision are supported"), 13,
	      17);
	tu_at(tu_expect(f, ERR, O "maxEjectionPercent", "percentage 101 is not in range 0..100"),
	      14, 27);
	tu_at(tu_expect(f, ERR, O "minHealthPercent", "percentage -1 is not in range 0..100"), 15,
	      25);
	tu_counts(f, 5, 1);
	tu_free(f);

	f = TP("    outlierDetection:\n"
	       "      consecutiveErrors: -1\n"
	       "      consecutiveLocalOriginFailures: 0\n"
	       "      maxEjectionPercent: 0\n"
	       "      minHealthPercent: 100\n"
	       "      interval: 1ms\n");
	tu_expect(f, WARN, O "consecutiveErrors", "deprecated");
	tu_counts(f, 0, 1);
	tu_free(f);

	f = TP("    outlierDetection: {}\n");
	tu_expect_clean(f);
	tu_free(f);
#undef O
}
END_TEST

/* ---- TLS ---- */

START_TEST(tls_accepted)
{
	static const char *const ok[] = {
		"    tls: {mode: SIMPLE}\n",
		"    tls: {mode: SIMPLE, sni: db.example.com, caCertificates: /etc/ca.pem}\n",
		"    tls: {mode: SIMPLE, credentialName: db-ca}\n",
		"    tls: {mode: SIMPLE, insecureSkipVerify: true, sni: x}\n",
		"    tls: {mode: SIMPLE, insecureSkipVerify: false, caCertificates: /ca}\n",
		"    tls: {mode: MUTUAL, clientCertificate: /c.pem, privateKey: /k.pem}\n",
		"    tls: {mode: MUTUAL, credentialName: client-cred}\n",
		"    tls: {mode: MUTUAL, credentialName: x, insecureSkipVerify: true}\n",
		"    tls: {mode: ISTIO_MUTUAL, clientCertificate: /c, caCertificates: /ca}\n",
		"    tls: {mode: DISABLE, privateKey: /k}\n",
		"    tls: {mode: SIMPLE, credentialName: 'configmap://ns1/ca'}\n",
		"    tls: {mode: SIMPLE, insecureSkipVerify: true, subjectAltNames: []}\n",
		NULL,
	};
	char buf[512];
	size_t i;

	for (i = 0; ok[i]; i++) {
		struct pc_findings *f;

		snprintf(buf, sizeof(buf), "%s  host: a.b\n  trafficPolicy:\n%s", HEAD, ok[i]);
		f = tu_validate(buf);
		tu_expect_clean(f);
		tu_free(f);
	}
}
END_TEST

START_TEST(tls_rejected)
{
	struct pc_findings *f;

#define L TP_PATH ".tls."
	f = TP("    tls:\n"
	       "      mode: SIMPLE\n"
	       "      insecureSkipVerify: true\n"
	       "      caCertificates: /ca.pem\n");
	tu_at(tu_expect(f, ERR, L "insecureSkipVerify",
			"cannot specify CaCertificates or CredentialName or SubjectAltNames when "
			"InsecureSkipVerify is set true"),
	      11, 27);
	tu_counts(f, 1, 0);
	tu_free(f);

	f = TP("    tls: {mode: SIMPLE, insecureSkipVerify: true, subjectAltNames: [a]}\n");
	tu_expect(f, ERR, L "insecureSkipVerify",
		  "cannot specify CaCertificates or CredentialName");
	tu_free(f);

	/* SIMPLE + insecure + credentialName: the insecure rule only */
	f = TP("    tls: {mode: SIMPLE, insecureSkipVerify: true, credentialName: c}\n");
	tu_expect(f, ERR, L "insecureSkipVerify",
		  "cannot specify CaCertificates or CredentialName");
	tu_counts(f, 1, 0);
	tu_free(f);

	f = TP("    tls: {mode: MUTUAL, insecureSkipVerify: true, subjectAltNames: [a],"
	       " credentialName: c}\n");
	tu_expect(f, ERR, L "insecureSkipVerify",
		  "cannot specify CaCertificates or SubjectAltNames when InsecureSkipVerify is set "
		  "true");
	tu_counts(f, 1, 0);
	tu_free(f);

	f = TP("    tls:\n"
	       "      mode: MUTUAL\n"
	       "      credentialName: client\n"
	       "      caCrl: /crl.pem\n");
	tu_at(tu_expect(f, ERR, L "caCrl",
			"cannot specify client certificates or CA certificate or CA CRL If "
			"credentialName is set"),
	      12, 14);
	tu_counts(f, 1, 0);
	tu_free(f);

	f = TP("    tls: {mode: SIMPLE, credentialName: c, clientCertificate: /c}\n");
	tu_expect(f, ERR, L "clientCertificate", "If credentialName is set");
	tu_free(f);

	f = TP("    tls:\n"
	       "      mode: MUTUAL\n");
	tu_at(tu_expect(f, ERR, L "clientCertificate",
			"client certificate required for mutual tls"),
	      10, 7);
	tu_at(tu_expect(f, ERR, L "privateKey", "private key required for mutual tls"), 10, 7);
	tu_counts(f, 2, 0);
	tu_free(f);

	f = TP("    tls: {mode: MUTUAL, clientCertificate: /c}\n");
	tu_expect(f, ERR, L "privateKey", "private key required for mutual tls");
	tu_counts(f, 1, 0);
	tu_free(f);
#undef L
}
END_TEST

START_TEST(tls_configmap_credential)
{
	static const struct {
		const char *name;
		const char *msg;
	} bad[] = {
		{ "configmap://ca", "invalid configmap:// credentialName: invalid resource name "
				    "\"configmap://ca\". Expected namespace and name" },
		{ "configmap:///ca",
		  "invalid resource name \"configmap:///ca\". Expected namespace" },
		{ "configmap://ns1/", "invalid resource name \"configmap://ns1/\". Expected name" },
		{ "configmap://other/ca",
		  "invalid configmap:// credentialName: namespace must match "
		  "the configuration namespace \"ns1\"" },
	};
	char buf[512];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct pc_findings *f;

		snprintf(buf, sizeof(buf),
			 "%s  host: a.b\n  trafficPolicy:\n    tls:\n      mode: SIMPLE\n"
			 "      credentialName: '%s'\n",
			 HEAD, bad[i].name);
		f = tu_validate(buf);
		tu_at(tu_expect(f, ERR, TP_PATH ".tls.credentialName", bad[i].msg), 11, 23);
		tu_counts(f, 1, 0);
		tu_free(f);
	}
}
END_TEST

/* ---- load balancer ---- */

START_TEST(lb_simple_and_oneof)
{
	struct pc_findings *f;

	f = TP("    loadBalancer: {simple: PASSTHROUGH}\n");
	tu_expect_clean(f);
	tu_free(f);

	f = TP("    loadBalancer: {simple: LEAST_CONN}\n");
	tu_expect_clean(f);
	tu_free(f);

	f = TP("    loadBalancer:\n"
	       "      simple: ROUND_ROBIN\n"
	       "      consistentHash: {useSourceIp: true}\n");
	tu_expect(f, ERR, TP_PATH ".loadBalancer", "only one of simple,consistentHash");
	tu_counts(f, 1, 0);
	tu_free(f);

	f = TP("    loadBalancer:\n"
	       "      consistentHash: {httpHeaderName: x-user, useSourceIp: false}\n");
	tu_expect(f, ERR, TP_PATH ".loadBalancer.consistentHash", "only one of");
	tu_free(f);

	f = TP("    loadBalancer:\n"
	       "      consistentHash: {httpQueryParameterName: u, ringHash: {}, maglev: {}}\n");
	tu_expect(f, ERR, TP_PATH ".loadBalancer.consistentHash", "only one of ringHash,maglev");
	tu_free(f);
}
END_TEST

START_TEST(lb_consistent_hash)
{
	struct pc_findings *f;

#define C TP_PATH ".loadBalancer.consistentHash."
	f = TP("    loadBalancer:\n"
	       "      consistentHash:\n"
	       "        httpCookie:\n"
	       "          path: /\n"
	       "          ttl: 10s\n");
	tu_at(tu_expect(f, ERR, C "httpCookie.name", "name required for HttpCookie"), 12, 11);
	tu_counts(f, 1, 0);
	tu_free(f);

	f = TP("    loadBalancer:\n"
	       "      consistentHash:\n"
	       "        httpCookie: {name: ''}\n");
	tu_expect(f, ERR, C "httpCookie.name", "name required for HttpCookie");
	tu_free(f);

	f = TP("    loadBalancer:\n"
	       "      consistentHash:\n"
	       "        httpCookie:\n"
	       "          name: s\n"
	       "          attributes:\n"
	       "          - value: Strict\n"
	       "          - name: Secure\n");
	tu_at(tu_expect(f, ERR, C "httpCookie.attributes[0].name", "Required value"), 14, 13);
	tu_counts(f, 1, 0);
	tu_free(f);

	f = TP("    loadBalancer:\n"
	       "      consistentHash:\n"
	       "        useSourceIp: true\n"
	       "        minimumRingSize: 1024\n");
	tu_at(tu_expect(f, WARN, C "minimumRingSize",
			"consistent hash MinimumRingSize is deprecated, use ConsistentHashLB's "
			"RingHash configuration instead"),
	      12, 26);
	tu_counts(f, 0, 1);
	tu_free(f);

	f = TP("    loadBalancer:\n"
	       "      consistentHash:\n"
	       "        useSourceIp: true\n"
	       "        minimumRingSize: 1024\n"
	       "        ringHash: {minimumRingSize: 1024}\n");
	tu_at(tu_expect(f, ERR, C "minimumRingSize",
			"only one of MinimumRingSize or Maglev/Ringhash can be specified"),
	      12, 26);
	tu_counts(f, 1, 1);
	tu_free(f);

	f = TP("    loadBalancer:\n"
	       "      consistentHash: {useSourceIp: true, ringHash: {minimumRingSize: 4096}}\n");
	tu_expect_clean(f);
	tu_free(f);
#undef C
}
END_TEST

START_TEST(lb_maglev)
{
	static const struct {
		const char *size;
		int nerr;
		const char *msg;
	} cases[] = {
		{ "65537", 0, NULL },
		{ "1", 0, NULL }, /* Go's (Envoy's) isPrime says 1 is prime */
		{ "2", 0, NULL },
		{ "4999999", 0, NULL },
		{ "0", 2, "tableSize must be set for maglev" },
		{ "4", 1, "tableSize must be a prime number for maglev" },
		{ "65536", 1, "tableSize must be a prime number for maglev" },
		{ "4999997", 1, "tableSize must be a prime number for maglev" },
		{ "5000011", 1, "tableSize must be less than 5000011 for maglev" },
		{ "5000012", 2, "tableSize must be less than 5000011 for maglev" },
		{ "18446744073709551557", 1, "tableSize must be less than 5000011 for maglev" },
		{ "18446744073709551615", 2, "tableSize must be a prime number for maglev" },
		{ "18446744030759878681", 2, "tableSize must be a prime number for maglev" },
	};
	char buf[512];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct pc_findings *f;

		snprintf(buf, sizeof(buf),
			 "%s  host: a.b\n  trafficPolicy:\n    loadBalancer:\n"
			 "      consistentHash:\n        useSourceIp: true\n"
			 "        maglev:\n          tableSize: %s\n",
			 HEAD, cases[i].size);
		f = tu_validate(buf);
		if (cases[i].msg)
			tu_at(tu_expect(f, ERR,
					TP_PATH ".loadBalancer.consistentHash.maglev.tableSize",
					cases[i].msg),
			      13, 22);
		if (f->nerr != (size_t)cases[i].nerr || f->nwarn) {
			tu_dump(f);
			ck_abort_msg("tableSize %s: %zu errors", cases[i].size, f->nerr);
		}
		tu_free(f);
	}
}
END_TEST

START_TEST(lb_maglev_table_size_is_a_uint)
{
	/* a negative size is only the decoder's error */
	struct pc_findings *f =
		TP("    loadBalancer:\n"
		   "      consistentHash: {useSourceIp: true, maglev: {tableSize: -7}}\n");

	tu_expect(f, ERR, TP_PATH ".loadBalancer.consistentHash.maglev.tableSize", "out of range");
	tu_counts(f, 1, 0);
	tu_free(f);
}
END_TEST

START_TEST(lb_warmup)
{
	struct pc_findings *f;

#define W TP_PATH ".loadBalancer.warmup."
	f = TP("    loadBalancer:\n"
	       "      warmup:\n"
	       "        minimumPercent: 150\n"
	       "        aggression: 0.5\n");
	tu_at(tu_expect(f, ERR, W "duration", "duration is required"), 11, 9);
	tu_at(tu_expect(f, ERR, W "minimumPercent",
			"minimumPercent value should be less than or equal to 100"),
	      11, 25);
	tu_at(tu_expect(f, ERR, W "aggression", "aggression should be greater than or equal to 1"),
	      12, 21);
	/* the CRD's maximum says the same as Go: not repeated */
	tu_counts(f, 3, 0);
	tu_free(f);

	f = TP("    loadBalancer:\n"
	       "      warmup: {duration: 0s}\n");
	tu_expect(f, ERR, W "duration", "duration must be greater than 1ms");
	tu_counts(f, 1, 0);
	tu_free(f);

	/* CRD minimum 0; Go checks only the maximum */
	f = TP("    loadBalancer:\n"
	       "      warmup:\n"
	       "        duration: 30s\n"
	       "        minimumPercent: -5\n");
	tu_at(tu_expect(
		      f, ERR, W "minimumPercent",
		      "Invalid value: -5: spec.trafficPolicy.loadBalancer.warmup.minimumPercent in "
		      "body should be greater than or equal to 0"),
	      12, 25);
	tu_counts(f, 1, 0);
	tu_free(f);

	f = TP("    loadBalancer:\n"
	       "      warmup: {duration: 30s, minimumPercent: 0, aggression: 1}\n");
	tu_expect_clean(f);
	tu_free(f);

	f = TP("    loadBalancer:\n"
	       "      warmup: {duration: 1s, minimumPercent: 100, aggression: 10.5}\n");
	tu_expect_clean(f);
	tu_free(f);

	/* warmupDurationSecs: only the CRD's CEL rule remains */
	f = TP("    loadBalancer:\n"
	       "      warmupDurationSecs: 0s\n");
	tu_at(tu_expect(f, ERR, TP_PATH ".loadBalancer.warmupDurationSecs",
			"must be a valid duration greater than 1ms"),
	      10, 27);
	tu_counts(f, 1, 0);
	tu_free(f);

	f = TP("    loadBalancer:\n"
	       "      warmupDurationSecs: 1.5ms\n");
	tu_expect_clean(f);
	tu_free(f);

	/* no exclusivity check between the two (neither Go nor the generated CRD has one) */
	f = TP("    loadBalancer:\n"
	       "      warmupDurationSecs: 10s\n"
	       "      warmup: {duration: 10s}\n");
	tu_expect_clean(f);
	tu_free(f);
#undef W
}
END_TEST

/* ---- locality load balancing ---- */

#define LOC    TP_PATH ".loadBalancer.localityLbSetting"
#define LB_LOC "    loadBalancer:\n      localityLbSetting:\n"
#define OD     "    outlierDetection: {consecutive5xxErrors: 3}\n"

START_TEST(locality_accepted)
{
	struct pc_findings *f;

	f = TP(OD LB_LOC "        enabled: true\n"
			 "        distribute:\n"
			 "        - from: us-west/zone1/*\n"
			 "          to:\n"
			 "            us-west/zone1/*: 80\n"
			 "            us-west/zone2/*: 20\n"
			 "        - from: us-east/*\n"
			 "          to: {us-east/*: 100}\n");
	tu_expect_clean(f);
	tu_free(f);

	f = TP(OD LB_LOC "        failover:\n"
			 "        - from: us-east\n"
			 "          to: eu-west\n"
			 "        failoverPriority:\n"
			 "        - topology.istio.io/network\n"
			 "        - topology.kubernetes.io/region=x\n");
	tu_expect_clean(f);
	tu_free(f);

	/* failoverPriority without failover may name topology labels */
	f = TP(OD LB_LOC "        failoverPriority:\n"
			 "        - topology.kubernetes.io/region\n"
			 "        - topology.kubernetes.io/zone\n");
	tu_expect_clean(f);
	tu_free(f);

	f = TP(LB_LOC "        enabled: false\n");
	tu_expect_clean(f);
	tu_free(f);
}
END_TEST

START_TEST(locality_distribute_and_failover_exclusive)
{
	/* Go returns at once: the bad failover is not examined */
	struct pc_findings *f = TP(OD LB_LOC "        distribute:\n"
					     "        - from: a\n"
					     "          to: {b: 100}\n"
					     "        failover:\n"
					     "        - from: a\n"
					     "          to: a\n");

	tu_at(tu_expect(f, ERR, LOC, "can not simultaneously specify 'distribute' and 'failover'"),
	      12, 9);
	tu_counts(f, 1, 0);
	tu_free(f);
}
END_TEST

START_TEST(locality_failover_priority_topology)
{
	struct pc_findings *f = TP(OD LB_LOC "        failover:\n"
					     "        - from: us-east\n"
					     "          to: us-west\n"
					     "        failoverPriority:\n"
					     "        - topology.istio.io/network\n"
					     "        - topology.istio.io/subzone\n"
					     "        - topology.kubernetes.io/zone\n");

	tu_at(tu_expect(f, ERR, LOC ".failoverPriority[1]",
			"can not simultaneously set 'failover' and topology label "
			"'topology.istio.io/subzone' in 'failover_priority'"),
	      17, 11);
	tu_counts(f, 1, 0);
	tu_free(f);
}
END_TEST

START_TEST(locality_weights)
{
	struct pc_findings *f;

	/* the first bad weight ends the validation (also the later distribute) */
	f = TP(OD LB_LOC "        distribute:\n"
			 "        - from: a/*\n"
			 "          to: {b: 0, c: 100}\n"
			 "        - from: a/*\n"
			 "          to: {b: 101}\n");
	tu_at(tu_expect(f, ERR, LOC ".distribute[0].to[b]",
			"locality weight must be in range [1, 100]"),
	      14, 19);
	tu_counts(f, 1, 0);
	tu_free(f);

	f = TP(OD LB_LOC "        distribute:\n"
			 "        - from: a\n"
			 "          to: {b: 101}\n");
	tu_expect(f, ERR, LOC ".distribute[0].to[b]", "locality weight must be in range [1, 100]");
	tu_free(f);

	f = TP(OD LB_LOC "        distribute:\n"
			 "        - from: a\n"
			 "          to: {b: 40, c: 50}\n");
	tu_at(tu_expect(f, ERR, LOC ".distribute[0].to", "total locality weight 90 != 100"), 14,
	      15);
	tu_counts(f, 1, 0);
	tu_free(f);

	f = TP(OD LB_LOC "        distribute:\n"
			 "        - from: a\n");
	tu_at(tu_expect(f, ERR, LOC ".distribute[0].to", "total locality weight 0 != 100"), 13, 11);
	tu_free(f);

	/* a weight the decoder rejected is not judged again */
	f = TP(OD LB_LOC "        distribute:\n"
			 "        - from: a\n"
			 "          to: {b: -1}\n");
	tu_expect(f, ERR, LOC ".distribute[0].to[b]", "out of range");
	tu_counts(f, 1, 0);
	tu_free(f);
}
END_TEST

START_TEST(locality_localities)
{
	struct pc_findings *f;

	/* destination overlap; errors in dest localities do not stop the rest */
	f = TP(OD LB_LOC "        distribute:\n"
			 "        - from: r1\n"
			 "          to:\n"
			 "            us-west/*: 50\n"
			 "            us-west/zone1: 50\n"
			 "        - from: r1\n"
			 "          to: {x/*/z: 100}\n");
	tu_at(tu_expect(f, ERR, LOC ".distribute[0].to[us-west/zone1]",
			"locality us-west/zone1 overlap with previous specified ones"),
	      16, 28);
	tu_at(tu_expect(
		      f, ERR, LOC ".distribute[1].to[x/*/z]",
		      "locality x/*/z wildcard '*' number can not exceed 1 and must be in the end"),
	      18, 23);
	tu_at(tu_expect(f, ERR, LOC ".distribute[1].from",
			"locality r1 overlap with previous specified ones"),
	      17, 17);
	tu_counts(f, 3, 0);
	tu_free(f);

	f = TP(OD LB_LOC "        distribute:\n"
			 "        - from: '*'\n"
			 "          to: {a//b: 100}\n"
			 "        - from: us\n"
			 "          to: {a: 100}\n");
	tu_expect(f, ERR, LOC ".distribute[0].to[a//b]",
		  "locality a//b must not contain empty region/zone/subzone info");
	tu_expect(f, ERR, LOC ".distribute[1].from",
		  "locality us overlap with previous specified ones");
	tu_counts(f, 2, 0);
	tu_free(f);

	/* zone-level then subzone-level of the same zone overlap; other zones do not */
	f = TP(OD LB_LOC "        distribute:\n"
			 "        - from: r/z1\n"
			 "          to: {a/b/c: 50, a/b/d: 50}\n"
			 "        - from: r/z2/s\n"
			 "          to: {a: 100}\n"
			 "        - from: r/z1/s\n"
			 "          to: {a: 100}\n");
	tu_expect(f, ERR, LOC ".distribute[2].from",
		  "locality r/z1/s overlap with previous specified ones");
	tu_counts(f, 1, 0);
	tu_free(f);

	f = TP(OD LB_LOC "        distribute:\n"
			 "        - from: ''\n"
			 "          to: {a: 100}\n");
	tu_expect(f, ERR, LOC ".distribute[0].from",
		  "locality  must not contain empty region/zone/subzone info");
	tu_free(f);
}
END_TEST

START_TEST(locality_order_quirks)
{
	struct pc_findings *f;

	/* a subzone then its zone's wildcard passes in Go; the reverse overlaps */
	f = TP(OD LB_LOC "        distribute:\n"
			 "        - from: r/z/a\n"
			 "          to: {x: 100}\n"
			 "        - from: r/z/*\n"
			 "          to: {x: 100}\n");
	tu_expect_clean(f);
	tu_free(f);

	f = TP(OD LB_LOC "        distribute:\n"
			 "        - from: r/z/*\n"
			 "          to: {x: 100}\n"
			 "        - from: r/z/a\n"
			 "          to: {x: 100}\n");
	tu_expect(f, ERR, LOC ".distribute[1].from", "locality r/z/a overlap");
	tu_counts(f, 1, 0);
	tu_free(f);

	/* a subzone keeps its slashes (SplitN 3); a lone '*' region is fine */
	f = TP(OD LB_LOC "        distribute:\n"
			 "        - from: r/z/s/t\n"
			 "          to: {'*': 100}\n");
	tu_expect_clean(f);
	tu_free(f);
}
END_TEST

START_TEST(locality_failover_rules)
{
	struct pc_findings *f;

	f = TP(OD LB_LOC "        failover:\n"
			 "        - from: us-east\n"
			 "          to: us-east\n"
			 "        - from: us-east/z1\n"
			 "          to: '*'\n");
	tu_at(tu_expect(f, ERR, LOC ".failover[0]",
			"locality lb failover settings must specify different regions"),
	      13, 11);
	tu_at(tu_expect(f, ERR, LOC ".failover[1]", "locality lb failover only specify region"), 15,
	      11);
	tu_expect(f, ERR, LOC ".failover[1]",
		  "locality lb failover region should not contain '*' wildcard");
	tu_counts(f, 3, 0);
	tu_free(f);

	/* no outlierDetection: a warning at the top level */
	f = TP(LB_LOC "        failover:\n"
		      "        - from: us-east\n"
		      "          to: us-west\n");
	tu_at(tu_expect(f, WARN, LOC, "outlier detection policy must be provided for failover"), 11,
	      9);
	tu_counts(f, 0, 1);
	tu_free(f);

	f = TP(LB_LOC "        failoverPriority: [topology.istio.io/network]\n");
	tu_expect(f, WARN, LOC, "outlier detection policy must be provided for failover");
	tu_free(f);
}
END_TEST

/* ---- port-level settings ---- */

START_TEST(port_level_settings)
{
	struct pc_findings *f;

#define P TP_PATH ".portLevelSettings"
	f = TP("    portLevelSettings:\n"
	       "    - port: {number: 80}\n"
	       "      loadBalancer: {simple: RANDOM}\n"
	       "    - tls: {mode: SIMPLE}\n"
	       "    - port: {number: 443}\n"
	       "    - port: {number: 8443}\n"
	       "      tls: {mode: MUTUAL}\n"
	       "      outlierDetection: {consecutiveErrors: 1, minHealthPercent: 101}\n"
	       "      connectionPool: {}\n"
	       "      loadBalancer:\n"
	       "        localityLbSetting: {failover: [{from: a, to: a}]}\n");
	tu_at(tu_expect(f, ERR, P "[1].port", "portTrafficPolicy must have valid port"), 12, 7);
	tu_at(tu_expect(f, ERR, P "[2]", "port traffic policy must have at least one field"), 13,
	      7);
	tu_expect(f, ERR, P "[3].outlierDetection.minHealthPercent", "percentage 101");
	tu_expect(f, ERR, P "[3].connectionPool", "connection pool must have at least one field");
	tu_expect(f, ERR, P "[3].loadBalancer.localityLbSetting.failover[0]",
		  "must specify different regions");
	tu_at(tu_expect(f, ERR, P "[3].tls.clientCertificate", "client certificate required"), 15,
	      12);
	tu_expect(f, ERR, P "[3].tls.privateKey", "private key required");
	/* port-level warnings are dropped by Istio (consecutiveErrors, failover) */
	tu_counts(f, 7, 0);
	tu_free(f);

	/* port number is never range-checked by Go; the CRD allows 0 */
	f = TP("    portLevelSettings:\n"
	       "    - port: {number: 0}\n"
	       "      tls: {mode: SIMPLE}\n"
	       "    - port: {}\n"
	       "      tls: {mode: SIMPLE}\n");
	tu_expect_clean(f);
	tu_free(f);

	/* CRD-only rules apply at port level too */
	f = TP("    portLevelSettings:\n"
	       "    - port: {number: 80}\n"
	       "      loadBalancer: {warmupDurationSecs: 0s}\n");
	tu_expect(f, ERR, P "[0].loadBalancer.warmupDurationSecs",
		  "must be a valid duration greater than 1ms");
	tu_counts(f, 1, 0);
	tu_free(f);

	/* retryBudget and tunnel do not exist at port level */
	f = TP("    portLevelSettings:\n"
	       "    - port: {number: 80}\n"
	       "      retryBudget: {percent: 5}\n");
	tu_expect(f, ERR, P "[0].retryBudget", "unknown field");
	tu_free(f);
#undef P
}
END_TEST

START_TEST(port_level_settings_max_items)
{
	size_t n, len = 0, cap = 4200 * 64 + 512;
	char *buf = malloc(cap);
	struct pc_findings *f;

	ck_assert_ptr_nonnull(buf);
	len += (size_t)snprintf(buf, cap,
				"%s  host: a.b\n  trafficPolicy:\n    portLevelSettings:\n", HEAD);
	for (n = 0; n < 4097; n++)
		len += (size_t)snprintf(buf + len, cap - len,
					"    - {port: {number: %zu}, tls: {mode: SIMPLE}}\n",
					n + 1);
	f = tu_validate(buf);
	tu_at(tu_expect(f, ERR, TP_PATH ".portLevelSettings",
			"Too many: 4097: must have at most 4096 items"),
	      10, 5);
	tu_counts(f, 1, 0);
	tu_free(f);

	/* 4096 is fine */
	buf[len - strlen("    - {port: {number: 4097}, tls: {mode: SIMPLE}}\n")] = '\0';
	f = tu_validate(buf);
	tu_expect_clean(f);
	tu_free(f);
	free(buf);
}
END_TEST

/* ---- retry budget ---- */

START_TEST(retry_budget)
{
	struct pc_findings *f;

	f = TP("    tls: {mode: SIMPLE}\n"
	       "    retryBudget: {percent: 0, minRetryConcurrency: 0}\n");
	tu_expect_clean(f);
	tu_free(f);

	f = TP("    tls: {mode: SIMPLE}\n"
	       "    retryBudget: {percent: 100}\n");
	tu_expect_clean(f);
	tu_free(f);

	f = TP("    tls: {mode: SIMPLE}\n"
	       "    retryBudget:\n"
	       "      percent: 150.5\n");
	tu_at(tu_expect(
		      f, ERR, TP_PATH ".retryBudget.percent",
		      "Invalid value: 150.5: spec.trafficPolicy.retryBudget.percent in body should "
		      "be less than or equal to 100"),
	      11, 16);
	tu_counts(f, 1, 0);
	tu_free(f);

	f = TP("    tls: {mode: SIMPLE}\n"
	       "    retryBudget: {percent: -1}\n");
	tu_expect(f, ERR, TP_PATH ".retryBudget.percent", "should be greater than or equal to 0");
	tu_counts(f, 1, 0);
	tu_free(f);

	/* with nothing else: both the Go error and the CRD one */
	f = TP("    retryBudget: {percent: 101}\n");
	tu_expect(f, ERR, TP_PATH, "traffic policy must have at least one field");
	tu_expect(f, ERR, TP_PATH ".retryBudget.percent", "less than or equal to 100");
	tu_counts(f, 2, 0);
	tu_free(f);
}
END_TEST

/* ---- warnings survive only at the top level ---- */

START_TEST(top_level_warnings_kept)
{
	struct pc_findings *f =
		TP("    outlierDetection: {consecutiveErrors: 3}\n"
		   "    loadBalancer:\n"
		   "      consistentHash: {useSourceIp: true, minimumRingSize: 64}\n");

	tu_expect(f, WARN, TP_PATH ".outlierDetection.consecutiveErrors", "deprecated");
	tu_expect(f, WARN, TP_PATH ".loadBalancer.consistentHash.minimumRingSize", "deprecated");
	tu_counts(f, 0, 2);
	tu_free(f);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("model.trafficpolicy");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, policy_needs_a_field);
	tcase_add_test(tc, tunnel_and_proxy_protocol_exclusive);
	tcase_add_test(tc, proxy_protocol_version);
	tcase_add_test(tc, tunnel_settings);
	tcase_add_test(tc, connection_pool_needs_a_field);
	tcase_add_test(tc, connection_pool_http);
	tcase_add_test(tc, connection_pool_tcp);
	tcase_add_test(tc, outlier_detection);
	tcase_add_test(tc, tls_accepted);
	tcase_add_test(tc, tls_rejected);
	tcase_add_test(tc, tls_configmap_credential);
	tcase_add_test(tc, lb_simple_and_oneof);
	tcase_add_test(tc, lb_consistent_hash);
	tcase_add_test(tc, lb_maglev);
	tcase_add_test(tc, lb_maglev_table_size_is_a_uint);
	tcase_add_test(tc, lb_warmup);
	tcase_add_test(tc, locality_accepted);
	tcase_add_test(tc, locality_distribute_and_failover_exclusive);
	tcase_add_test(tc, locality_failover_priority_topology);
	tcase_add_test(tc, locality_weights);
	tcase_add_test(tc, locality_localities);
	tcase_add_test(tc, locality_order_quirks);
	tcase_add_test(tc, locality_failover_rules);
	tcase_add_test(tc, port_level_settings);
	tcase_add_test(tc, port_level_settings_max_items);
	tcase_add_test(tc, retry_budget);
	tcase_add_test(tc, top_level_warnings_kept);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
