/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Sidecar validation: every rule of reference §4 (Istio's ValidateSidecar
 * and its helpers, plus the CRD's limits) accepted and rejected, with the
 * finding's path and, where the node exists, its line:col.
 *
 * Every manifest starts with HEAD (6 lines, "spec:" on line 6), so the
 * first spec line is line 7.
 */
#include <check.h>
#include <stdio.h>

#include "model/finding.h"
#include "testutil.h"

#define HEAD                                   \
	"apiVersion: networking.istio.io/v1\n" \
	"kind: Sidecar\n"                      \
	"metadata:\n"                          \
	"  name: default\n"                    \
	"  namespace: shop\n"                  \
	"spec:\n"

#define E PC_SEV_ERROR
#define W PC_SEV_WARNING

/* An egress listener that makes the Sidecar non-empty, for tests of other parts. */
#define EGRESS "  egress:\n  - hosts: [\"./*\"]\n"

/* ---- samples ---- */

START_TEST(registry_only_clean)
{
	struct pc_findings *f = tu_validate(HEAD "  outboundTrafficPolicy:\n"
						 "    mode: REGISTRY_ONLY\n"
						 "  egress:\n"
						 "  - hosts:\n"
						 "    - \"./*\"\n"
						 "    - \"istio-system/*\"\n");

	tu_expect_clean(f);
	tu_free(f);
}
END_TEST

START_TEST(full_clean)
{
	struct pc_findings *f = tu_validate(
		HEAD "  workloadSelector:\n"
		     "    labels: {app: ratings}\n"
		     "  ingress:\n"
		     "  - port: {number: 9080, protocol: HTTP, name: http}\n"
		     "    defaultEndpoint: 127.0.0.1:8080\n"
		     "    connectionPool: {http: {http1MaxPendingRequests: 10}}\n"
		     "  - port: {number: 9443, protocol: HTTPS, name: https}\n"
		     "    defaultEndpoint: unix:///var/run/app.sock\n"
		     "    tls:\n"
		     "      mode: SIMPLE\n"
		     "      serverCertificate: /etc/certs/cert.pem\n"
		     "      privateKey: /etc/certs/key.pem\n"
		     "      cipherSuites: [ECDHE-RSA-AES128-GCM-SHA256, \"-AES128-SHA\"]\n"
		     "  inboundConnectionPool:\n"
		     "    tcp: {maxConnections: 100, connectTimeout: 5s}\n"
		     "  egress:\n"
		     "  - port: {number: 3306, protocol: MYSQL, name: mysql}\n"
		     "    bind: 127.0.0.1\n"
		     "    hosts: [\"*/mysql.example.com\"]\n"
		     "  - port: {number: 0}\n"
		     "    bind: unix:///var/run/egress.sock\n"
		     "    captureMode: NONE\n"
		     "    hosts: [\"~/*\"]\n"
		     "  - hosts: [\"./*\", \"istio-system/*.example.com\"]\n"
		     "  outboundTrafficPolicy:\n"
		     "    mode: ALLOW_ANY\n"
		     "    egressProxy:\n"
		     "      host: egress.example.com\n"
		     "      subset: v1\n"
		     "      port: {number: 3128}\n");

	tu_expect_clean(f);
	tu_free(f);
}
END_TEST

/* ---- workload selector ---- */

START_TEST(selector_errors_return_early)
{
	struct pc_findings *f = tu_validate(HEAD "  workloadSelector:\n"
						 "    labels:\n"
						 "      \"\": x\n"
						 "      app: \"web*\"\n"
						 "  egress:\n"
						 "  - hosts: [bad]\n");

	tu_expect_at(f, E, "spec.workloadSelector.labels[]",
		     "empty key is not supported in selector: \"=x\"", 9, 11);
	tu_expect_at(f, E, "spec.workloadSelector.labels[app]",
		     "wildcard is not supported in selector: \"app=web*\"", 10, 12);
	/* Go returns the selector errors alone: the egress host is not checked */
	tu_expect_none(f, "spec.egress[0].hosts[0]", NULL);
	ck_assert_uint_eq(f->nerr, 2);
	tu_free(f);

	f = tu_validate(HEAD "  workloadSelector:\n    labels: {\"a*\": b}\n" EGRESS);
	tu_expect(f, E, "spec.workloadSelector.labels[a*]",
		  "wildcard is not supported in selector: \"a*=b\"");
	tu_free(f);
}
END_TEST

START_TEST(selector_without_labels)
{
	struct pc_findings *f = tu_validate(HEAD "  workloadSelector: {}\n" EGRESS);

	tu_expect_at(f, W, "spec.workloadSelector",
		     "sidecar: workload selector specified without labels, will be applied to all "
		     "services "
		     "in namespace",
		     7, 21);
	tu_expect_valid(f);
	tu_free(f);

	/* an empty configuration drops the warning */
	f = tu_validate(HEAD "  workloadSelector: {}\n");
	tu_expect_at(f, E, "spec", "sidecar: empty configuration provided", 7, 3);
	ck_assert_uint_eq(f->nwarn, 0);
	ck_assert_uint_eq(f->nerr, 1);
	tu_free(f);
}
END_TEST

/* CRD limits the webhook lacks: label values <= 63 bytes, <= 256 labels. */
START_TEST(selector_crd_limits)
{
	char yaml[16384];
	struct pc_findings *f;
	size_t len;
	int i;

	len = (size_t)snprintf(
		yaml, sizeof(yaml),
		HEAD "  workloadSelector:\n    labels:\n"
		     "      long: %s\n",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"); /* 64 */
	for (i = 0; i < 256; i++)
		len += (size_t)snprintf(yaml + len, sizeof(yaml) - len, "      k%d: v\n", i);
	snprintf(yaml + len, sizeof(yaml) - len, "%s", EGRESS);
	ck_assert_uint_lt(len, sizeof(yaml) - 64);

	f = tu_validate(yaml);

	tu_expect_at(f, E, "spec.workloadSelector.labels[long]",
		     "Too long: may not be more than 63 bytes", 9, 13);
	tu_expect_at(f, E, "spec.workloadSelector.labels",
		     "Too many: 257: must have at most 256 items", 9, 7);
	tu_free(f);

	f = tu_validate(HEAD "  workloadSelector:\n    labels: {app: web}\n" EGRESS);
	tu_expect_clean(f);
	tu_free(f);
}
END_TEST

START_TEST(empty_configuration)
{
	struct pc_findings *f = tu_validate(HEAD "  ingress: []\n  egress: []\n");

	tu_expect_at(f, E, "spec", "sidecar: empty configuration provided", 7, 3);
	tu_free(f);

	/* any one part is enough */
	f = tu_validate(HEAD "  outboundTrafficPolicy: {mode: ALLOW_ANY}\n");
	tu_expect_clean(f);
	tu_free(f);
}
END_TEST

/* ---- ingress ---- */

START_TEST(ingress_port_required)
{
	struct pc_findings *f = tu_validate(HEAD "  ingress:\n"
						 "  - defaultEndpoint: 127.0.0.1:8080\n");

	tu_expect_at(f, E, "spec.ingress[0].port",
		     "sidecar: port is required for ingress listeners", 8, 5);
	tu_free(f);
}
END_TEST

START_TEST(ingress_port_rules)
{
	struct pc_findings *f = tu_validate(
		HEAD "  ingress:\n"
		     "  - port: {number: 0, protocol: FOO, name: http_x, targetPort: 8080}\n"
		     "    bind: unix:///var/run/in.sock\n"
		     "  - port: {number: 70000, protocol: tcp}\n"
		     "    bind: 10.0.0.1\n"
		     "  - port: {number: 70000, protocol: TCP}\n"
		     "    bind: 10.0.0.1\n");

	tu_expect_at(f, E, "spec.ingress[0].port.targetPort",
		     "targetPort has no impact on Sidecars", 8, 64);
	tu_expect_at(f, E, "spec.ingress[0].port.name", "invalid port name: http_x", 8, 44);
	tu_expect_at(f, E, "spec.ingress[0].port.protocol", "unsupported protocol: FOO", 8, 33);
	tu_expect_at(f, E, "spec.ingress[0].port.number",
		     "port number 0 must be in the range 1..65535", 8, 20);
	tu_expect_at(f, E, "spec.ingress[0].bind", "unix:///var/run/in.sock is not a valid IP", 9,
		     11);
	tu_expect_at(f, E, "spec.ingress[1].port.number",
		     "port number 70000 must be in the range 1..65535", 10, 20);
	tu_expect_none(f, "spec.ingress[1].port.protocol", NULL); /* case-insensitive */
	tu_expect_none(f, "spec.ingress[1].bind", NULL);
	tu_expect_at(f, E, "spec.ingress[2].port.number",
		     "sidecar: ports on IP bound listeners must be unique", 12, 20);
	tu_expect_none(f, "spec.ingress[1].port.number", "unique");
	tu_free(f);
}
END_TEST

START_TEST(ingress_default_endpoint)
{
	struct pc_findings *f = tu_validate(HEAD "  ingress:\n"
						 "  - port: {number: 1}\n"
						 "    defaultEndpoint: unix://relative.sock\n"
						 "  - port: {number: 2}\n"
						 "    defaultEndpoint: \"unix://\"\n"
						 "  - port: {number: 3}\n"
						 "    defaultEndpoint: 10.0.0.1:8080\n"
						 "  - port: {number: 4}\n"
						 "    defaultEndpoint: 127.0.0.1\n"
						 "  - port: {number: 5}\n"
						 "    defaultEndpoint: 127.0.0.1:http\n"
						 "  - port: {number: 6}\n"
						 "    defaultEndpoint: \"[::1]:70000\"\n"
						 "  - port: {number: 7}\n"
						 "    defaultEndpoint: \"[::]:8080\"\n"
						 "  - port: {number: 8}\n"
						 "    defaultEndpoint: \":8080\"\n"
						 "  - port: {number: 9}\n"
						 "    defaultEndpoint: 0.0.0.0:8080\n"
						 "  - port: {number: 10}\n"
						 "    defaultEndpoint: unix://@abstract\n"
						 "  - port: {number: 11}\n"
						 "    defaultEndpoint: \"[::1:80\"\n");

	tu_expect_at(f, E, "spec.ingress[0].defaultEndpoint",
		     "relative.sock is not an absolute path to a file", 9, 22);
	tu_expect_at(f, E, "spec.ingress[1].defaultEndpoint", "unix address must not be empty", 11,
		     22);
	tu_expect_at(f, E, "spec.ingress[2].defaultEndpoint",
		     "sidecar: defaultEndpoint must be of form "
		     "127.0.0.1:<port>,0.0.0.0:<port>,[::1]:port,"
		     "[::]:port,unix://filepath or unset",
		     13, 22);
	tu_expect_at(f, E, "spec.ingress[3].defaultEndpoint",
		     "address 127.0.0.1: missing port in address", 15, 22);
	tu_expect(f, E, "spec.ingress[3].defaultEndpoint",
		  "sidecar: defaultEndpoint port () is not a number: strconv.Atoi: parsing \"\": "
		  "invalid syntax");
	tu_expect_at(f, E, "spec.ingress[4].defaultEndpoint",
		     "sidecar: defaultEndpoint port (http) is not a number: strconv.Atoi: parsing "
		     "\"http\": "
		     "invalid syntax",
		     17, 22);
	tu_expect_at(f, E, "spec.ingress[5].defaultEndpoint",
		     "port number 70000 must be in the range 1..65535", 19, 22);
	tu_expect_none(f, "spec.ingress[6].defaultEndpoint", NULL);
	tu_expect_none(f, "spec.ingress[7].defaultEndpoint", NULL);
	tu_expect_none(f, "spec.ingress[8].defaultEndpoint", NULL);
	tu_expect_none(f, "spec.ingress[9].defaultEndpoint", NULL);
	tu_expect(f, E, "spec.ingress[10].defaultEndpoint",
		  "address [::1:80: missing ']' in address");
	tu_free(f);
}
END_TEST

START_TEST(ingress_tls_sidecar_limits)
{
	struct pc_findings *f = tu_validate(
		HEAD "  ingress:\n"
		     "  - port: {number: 8443, protocol: HTTP}\n"
		     "    tls:\n"
		     "      mode: ISTIO_MUTUAL\n"
		     "      subjectAltNames: [spiffe://x]\n"
		     "      httpsRedirect: true\n"
		     "      credentialName: cert\n"
		     "      credentialNames: [a]\n"
		     "      tlsCertificates: [{serverCertificate: c, privateKey: k}]\n");

	tu_expect_at(f, E, "spec.ingress[0].tls.subjectAltNames",
		     "sidecar: subjectAltNames is not supported in ingress tls", 11, 24);
	tu_expect_at(f, E, "spec.ingress[0].tls.httpsRedirect",
		     "sidecar: httpsRedirect is not supported", 12, 22);
	tu_expect_at(f, E, "spec.ingress[0].tls.credentialName",
		     "sidecar: credentialName is not currently supported", 13, 23);
	tu_expect_at(f, E, "spec.ingress[0].tls.credentialNames",
		     "sidecar: credentialNames is not currently supported", 14, 24);
	tu_expect_at(f, E, "spec.ingress[0].tls.tlsCertificates",
		     "sidecar: tls_certificates is not currently supported", 15, 24);
	tu_expect_at(
		f, E, "spec.ingress[0].tls.mode",
		"configuration is invalid: cannot set mode to ISTIO_MUTUAL in sidecar ingress tls",
		10, 13);
	tu_expect_at(f, E, "spec.ingress[0].tls",
		     "server cannot have TLS settings for non HTTPS/TLS ports", 10, 7);
	/* then validateTLSOptions for ISTIO_MUTUAL */
	tu_expect(f, E, "spec.ingress[0].tls.credentialName",
		  "ISTIO_MUTUAL TLS cannot have associated credentialName");
	tu_expect(f, E, "spec.ingress[0].tls.credentialNames",
		  "ISTIO_MUTUAL TLS cannot have associated credentialNames");
	tu_expect(f, E, "spec.ingress[0].tls.tlsCertificates",
		  "ISTIO_MUTUAL TLS cannot have associated tlsCertificates");
	tu_free(f);

	f = tu_validate(HEAD "  ingress:\n"
			     "  - port: {number: 8443, protocol: TLS}\n"
			     "    tls: {mode: AUTO_PASSTHROUGH}\n");
	tu_expect(f, E, "spec.ingress[0].tls.mode", "cannot set mode to AUTO_PASSTHROUGH");
	tu_expect_none(f, "spec.ingress[0].tls", "non HTTPS/TLS");
	tu_free(f);

	/* tls: {} is PASSTHROUGH on a TLS port: fine */
	f = tu_validate(HEAD "  ingress:\n  - port: {number: 8443, protocol: tls}\n    tls: {}\n");
	tu_expect_clean(f);
	tu_free(f);
}
END_TEST

START_TEST(tls_options_certificates)
{
	struct pc_findings *f = tu_validate(
		HEAD "  ingress:\n"
		     "  - port: {number: 1, protocol: HTTPS}\n"
		     "    tls: {mode: SIMPLE}\n"
		     "  - port: {number: 2, protocol: HTTPS}\n"
		     "    tls: {mode: MUTUAL, serverCertificate: c, privateKey: k}\n"
		     "  - port: {number: 3, protocol: HTTPS}\n"
		     "    tls: {mode: OPTIONAL_MUTUAL, serverCertificate: c, privateKey: k, "
		     "caCertificates: ca}\n"
		     "  - port: {number: 4, protocol: HTTPS}\n"
		     "    tls: {mode: ISTIO_MUTUAL, serverCertificate: c, privateKey: k, "
		     "caCertificates: ca}\n"
		     "  - port: {number: 5, protocol: HTTPS}\n"
		     "    tls: {mode: PASSTHROUGH, serverCertificate: c}\n");

	tu_expect_at(f, E, "spec.ingress[0].tls.serverCertificate",
		     "SIMPLE TLS requires a server certificate", 9, 10);
	tu_expect(f, E, "spec.ingress[0].tls.privateKey", "SIMPLE TLS requires a private key");
	tu_expect_at(f, E, "spec.ingress[1].tls.caCertificates",
		     "MUTUAL TLS requires a client CA bundle", 11, 10);
	tu_expect_none(f, "spec.ingress[2].tls.caCertificates", NULL);
	tu_expect_none(f, "spec.ingress[2].tls", NULL);
	tu_expect_at(f, E, "spec.ingress[3].tls.serverCertificate",
		     "ISTIO_MUTUAL TLS cannot have associated server certificate", 15, 50);
	tu_expect(f, E, "spec.ingress[3].tls.privateKey",
		  "ISTIO_MUTUAL TLS cannot have associated private key");
	tu_expect(f, E, "spec.ingress[3].tls.caCertificates",
		  "ISTIO_MUTUAL TLS cannot have associated CA bundle");
	tu_expect_at(f, W, "spec.ingress[4].tls",
		     "PASSTHROUGH mode does not use certificates, they will be ignored", 17, 10);
	tu_free(f);
}
END_TEST

START_TEST(tls_options_sources_and_crl)
{
	struct pc_findings *f = tu_validate(
		HEAD
		"  ingress:\n"
		"  - port: {number: 1, protocol: HTTPS}\n"
		"    tls: {mode: SIMPLE, serverCertificate: c, privateKey: k, credentialName: x}\n"
		"  - port: {number: 2, protocol: HTTPS}\n"
		"    tls: {mode: SIMPLE, serverCertificate: c, privateKey: k, caCrl: crl}\n"
		"  - port: {number: 3, protocol: HTTPS}\n"
		"    tls: {mode: MUTUAL, credentialName: x, caCrl: crl}\n");

	tu_expect_at(
		f, E, "spec.ingress[0].tls",
		"only one of credential_name, credential_names, server_certificate/private_key, "
		"tls_certificates should be specified",
		9, 10);
	tu_expect_at(f, E, "spec.ingress[1].tls.caCrl", "CRL is not supported with SIMPLE TLS", 11,
		     69);
	/* credentialName with SIMPLE/MUTUAL: Go returns before the CRL checks */
	tu_expect_none(f, "spec.ingress[2].tls.caCrl", NULL);
	tu_expect_none(f, "spec.ingress[2].tls.caCertificates", NULL);
	tu_free(f);

	f = tu_validate(HEAD "  ingress:\n"
			     "  - port: {number: 1, protocol: HTTPS}\n"
			     "    tls: {mode: PASSTHROUGH, credentialName: x, caCrl: crl}\n");
	tu_expect(f, E, "spec.ingress[0].tls.caCrl",
		  "CRL is not supported with credentialName. CRL has to be specified in the "
		  "credential");
	tu_expect(f, W, "spec.ingress[0].tls", "PASSTHROUGH mode does not use certificates");
	tu_free(f);
}
END_TEST

START_TEST(tls_options_tls_certificates)
{
	struct pc_findings *f = tu_validate(HEAD "  ingress:\n"
						 "  - port: {number: 1, protocol: HTTPS}\n"
						 "    tls:\n"
						 "      mode: SIMPLE\n"
						 "      tlsCertificates:\n"
						 "      - {serverCertificate: c}\n"
						 "      - {privateKey: k}\n"
						 "      - {serverCertificate: c, privateKey: k}\n");

	tu_expect_at(f, W, "spec.ingress[0].tls.tlsCertificates",
		     "SIMPLE TLS can support up to 2 server certificates", 12, 7);
	tu_expect_at(f, E, "spec.ingress[0].tls.tlsCertificates[0].privateKey",
		     "SIMPLE TLS requires a private key", 12, 9);
	tu_expect_at(f, E, "spec.ingress[0].tls.tlsCertificates[1].serverCertificate",
		     "SIMPLE TLS requires a server certificate", 13, 9);
	tu_expect_none(f, "spec.ingress[0].tls.tlsCertificates[2].privateKey", NULL);
	tu_expect_none(f, "spec.ingress[0].tls.serverCertificate", NULL);
	tu_free(f);

	/* CRD minItems 1 on both lists */
	f = tu_validate(HEAD "  ingress:\n"
			     "  - port: {number: 1, protocol: HTTPS}\n"
			     "    tls: {credentialNames: [], tlsCertificates: []}\n");
	tu_expect_at(f, E, "spec.ingress[0].tls.credentialNames", "should have at least 1 items", 9,
		     28);
	tu_expect_at(f, E, "spec.ingress[0].tls.tlsCertificates", "should have at least 1 items", 9,
		     49);
	tu_free(f);
}
END_TEST

START_TEST(tls_options_ciphers)
{
	struct pc_findings *f = tu_validate(
		HEAD
		"  ingress:\n"
		"  - port: {number: 1, protocol: HTTPS}\n"
		"    tls:\n"
		"      minProtocolVersion: TLSV1_1\n"
		"  - port: {number: 2, protocol: HTTPS}\n"
		"    tls:\n"
		"      minProtocolVersion: TLSV1_0\n"
		"      cipherSuites: [ZZZ, AES128-SHA, BAD, ZZZ, AES128-SHA, \"+x\", ALL, \"\"]\n");

	tu_expect_at(f, W, "spec.ingress[0].tls.minProtocolVersion",
		     "TLS version below TLSV1_2 require setting compatible ciphers as by default "
		     "they no "
		     "longer include compatible ciphers.",
		     10, 27);
	tu_expect_none(f, "spec.ingress[1].tls.minProtocolVersion", NULL);
	tu_expect_at(f, W, "spec.ingress[1].tls.cipherSuites",
		     "ignoring invalid cipher suites: [BAD ZZZ]", 14, 21);
	tu_expect(f, W, "spec.ingress[1].tls.cipherSuites",
		  "ignoring duplicate cipher suites: [AES128-SHA]");
	ck_assert_uint_eq(f->nerr, 0);
	tu_free(f);
}
END_TEST

START_TEST(ingress_connection_pool)
{
	struct pc_findings *f =
		tu_validate(HEAD "  ingress:\n"
				 "  - port: {number: 3306, protocol: MYSQL, name: db}\n"
				 "    connectionPool:\n"
				 "      http: {maxRetries: 3}\n"
				 "  - port: {number: 8080, protocol: GRPC}\n"
				 "    connectionPool:\n"
				 "      http: {maxRetries: 3}\n"
				 "  - port: {number: 8081}\n"
				 "    connectionPool: {}\n");

	tu_expect_at(f, W, "spec.ingress[0].connectionPool.http",
		     "sidecar: HTTP connection pool settings are configured for port 3306 (\"db\") "
		     "but its "
		     "protocol is not HTTP (MYSQL); only TCP settings will apply",
		     10, 13);
	tu_expect_none(f, "spec.ingress[1].connectionPool.http", NULL);
	tu_expect(f, E, "spec.ingress[2].connectionPool", "at least one field");
	ck_assert_uint_eq(tu_count(f, W, "HTTP connection pool settings"), 1);
	tu_free(f);
}
END_TEST

START_TEST(inbound_connection_pool)
{
	struct pc_findings *f = tu_validate(HEAD "  inboundConnectionPool: {}\n");

	tu_expect_at(f, E, "spec.inboundConnectionPool", "at least one field", 7, 26);
	tu_expect_none(f, "spec", "empty configuration");
	tu_free(f);

	f = tu_validate(HEAD "  inboundConnectionPool:\n    tcp: {maxConnections: 10}\n");
	tu_expect_clean(f);
	tu_free(f);
}
END_TEST

/* ---- egress listeners ---- */

START_TEST(egress_catch_all_position)
{
	struct pc_findings *f = tu_validate(HEAD "  egress:\n"
						 "  - hosts: [\"./*\"]\n"
						 "  - port: {number: 3306}\n"
						 "    hosts: [\"./*\"]\n");

	tu_expect_at(f, E, "spec.egress[0]",
		     "sidecar: the egress listener with empty port should be the last listener in "
		     "the list",
		     8, 5);
	tu_free(f);

	/* Go: a misplaced catch-all is not "found", so a later last one is still fine */
	f = tu_validate(HEAD "  egress:\n"
			     "  - hosts: [\"./*\"]\n"
			     "  - hosts: [\"istio-system/*\"]\n");
	tu_expect(f, E, "spec.egress[0]", "should be the last listener");
	tu_expect_none(f, "spec.egress[1]", NULL);
	ck_assert_uint_eq(tu_count(f, E, "only one listener with empty port"), 0);
	tu_free(f);
}
END_TEST

START_TEST(egress_port_rules)
{
	struct pc_findings *f = tu_validate(
		HEAD "  egress:\n"
		     "  - port: {number: 70000, name: \"-x\", protocol: bogus, targetPort: 1}\n"
		     "    bind: 300.1.1.1\n"
		     "    hosts: [\"./*\"]\n"
		     "  - port: {number: 5432, protocol: TCP}\n"
		     "    captureMode: IPTABLES\n"
		     "    hosts: [\"./*\"]\n"
		     "  - port: {number: 5432}\n"
		     "    hosts: [\"./*\"]\n");

	tu_expect_at(f, E, "spec.egress[0].port.targetPort", "targetPort has no impact on Sidecars",
		     8, 68);
	tu_expect_at(f, E, "spec.egress[0].port.name", "invalid port name: -x", 8, 33);
	tu_expect_at(f, E, "spec.egress[0].port.protocol", "unsupported protocol: bogus", 8, 49);
	tu_expect_at(f, E, "spec.egress[0].port.number",
		     "port number 70000 must be in the range 1..65535", 8, 20);
	tu_expect_at(f, E, "spec.egress[0].bind", "300.1.1.1 is not a valid IP", 9, 11);
	tu_expect_none(f, "spec.egress[1].captureMode", NULL); /* not checked for IP ports */
	tu_expect_at(f, E, "spec.egress[2].port.number",
		     "sidecar: ports on IP bound listeners must be unique", 14, 20);
	tu_free(f);
}
END_TEST

START_TEST(egress_unix_sockets)
{
	struct pc_findings *f = tu_validate(HEAD "  egress:\n"
						 "  - port: {number: 0}\n"
						 "    hosts: [\"./*\"]\n"
						 "  - port: {number: 0, protocol: TCP}\n"
						 "    bind: unix://relative\n"
						 "    captureMode: IPTABLES\n"
						 "    hosts: [\"./*\"]\n"
						 "  - port: {number: 0}\n"
						 "    bind: unix:///var/run/a.sock\n"
						 "    hosts: [\"./*\"]\n"
						 "  - port: {number: 0}\n"
						 "    bind: unix:///var/run/a.sock\n"
						 "    captureMode: DEFAULT\n"
						 "    hosts: [\"./*\"]\n");

	tu_expect_at(f, E, "spec.egress[0].bind",
		     "sidecar: ports with 0 value must have a unix domain socket bind address", 8,
		     5);
	tu_expect_none(f, "spec.egress[0].port.number", NULL); /* 0 is no port-range error here */
	tu_expect_at(f, E, "spec.egress[1].bind", "relative is not an absolute path to a file", 11,
		     11);
	tu_expect_at(f, E, "spec.egress[1].captureMode",
		     "sidecar: captureMode must be DEFAULT/NONE for unix domain socket listeners",
		     12, 18);
	tu_expect_none(f, "spec.egress[2].bind", NULL);
	tu_expect_at(f, E, "spec.egress[3].bind",
		     "sidecar: unix domain socket values for listeners must be unique", 18, 11);
	tu_free(f);
}
END_TEST

START_TEST(egress_hosts_required)
{
	struct pc_findings *f = tu_validate(HEAD "  egress:\n"
						 "  - port: {number: 80}\n"
						 "  - hosts: []\n");

	tu_expect_at(f, E, "spec.egress[0].hosts",
		     "sidecar: egress listener must contain at least one host", 8, 5);
	tu_expect_at(f, E, "spec.egress[1].hosts",
		     "sidecar: egress listener must contain at least one host", 9, 12);
	tu_free(f);
}
END_TEST

START_TEST(egress_host_format)
{
	struct pc_findings *f = tu_validate(HEAD "  egress:\n"
						 "  - hosts:\n"
						 "    - foo.example.com\n"
						 "    - /foo.example.com\n"
						 "    - \"ns/\"\n"
						 "    - Bad_ns/foo.example.com\n"
						 "    - ns/foo\n"
						 "    - \"ns/a*.example.com\"\n"
						 "    - ns/10.1.2.3\n"
						 "    - \"~/foo.example.com\"\n"
						 "    - \"*/*\"\n");

	tu_expect_at(f, E, "spec.egress[0].hosts[0]", "host must be of form namespace/dnsName", 9,
		     7);
	tu_expect_at(f, E, "spec.egress[0].hosts[1]",
		     "config namespace and dnsName in host entry cannot be empty", 10, 7);
	tu_expect(f, E, "spec.egress[0].hosts[2]",
		  "config namespace and dnsName in host entry cannot be empty");
	tu_expect(f, E, "spec.egress[0].hosts[2]", "short names (non FQDN) are not allowed");
	tu_expect(f, E, "spec.egress[0].hosts[2]", "empty domain name not allowed");
	tu_expect_at(f, E, "spec.egress[0].hosts[3]",
		     "invalid namespace value \"Bad_ns\" in sidecar", 12, 7);
	tu_expect_at(f, E, "spec.egress[0].hosts[4]", "short names (non FQDN) are not allowed", 13,
		     7);
	tu_expect_at(f, E, "spec.egress[0].hosts[5]",
		     "partial wildcard \"a*.example.com\" not allowed", 14, 7);
	/* Go reports an invalid dnsName twice (once as "not a gateway", once as "not an IP") */
	ck_assert_uint_eq(
		tu_count(f, E, "domain name \"a*.example.com\" invalid (label \"a*\" invalid)"), 2);
	/* an IP dnsName: the domain error (naming the part after the first dot) once only */
	ck_assert_uint_eq(tu_count(f, E,
				   "domain name \"1.2.3\" invalid (top level domain \"3\" "
				   "cannot be all-numeric)"),
			  1);
	tu_expect_none(f, "spec.egress[0].hosts[7]", NULL);
	tu_free(f);
}
END_TEST

START_TEST(egress_duplicate_hosts)
{
	struct pc_findings *f = tu_validate(HEAD "  egress:\n"
						 "  - hosts:\n"
						 "    - ns/a.example.com\n"
						 "    - ns/a.example.com\n"
						 "    - \"ns/*\"\n"
						 "    - ns/b.example.com\n"
						 "    - ./c.example.com\n"
						 "    - shop/c.example.com\n"
						 "    - other/c.example.com\n");

	tu_expect_at(f, W, "spec.egress[0].hosts[1]", "duplicated egress host: ns/a.example.com",
		     10, 7);
	tu_expect(f, W, "spec.egress[0].hosts[2]", "duplicated egress host: ns/*");
	tu_expect(f, W, "spec.egress[0].hosts[3]", "duplicated egress host: ns/b.example.com");
	tu_expect(f, W, "spec.egress[0].hosts[5]", "duplicated egress host: shop/c.example.com");
	tu_expect_none(f, "spec.egress[0].hosts[4]", NULL);
	tu_expect_none(f, "spec.egress[0].hosts[6]", NULL);
	ck_assert_uint_eq(f->nerr, 0);
	tu_free(f);

	f = tu_validate(HEAD "  egress:\n  - hosts: [\"*/*\", ns/a.example.com]\n");
	tu_expect_at(f, W, "spec.egress[0].hosts",
		     "`*/*` host select all resources, no other hosts can be added", 8, 12);
	tu_free(f);

	f = tu_validate(HEAD "  egress:\n  - hosts: [\"*/*\", \"*/a.example.com\"]\n");
	tu_expect(f, W, "spec.egress[0].hosts[1]", "duplicated egress host: */a.example.com");
	tu_expect_none(f, "spec.egress[0].hosts", "`*/*`");
	tu_free(f);
}
END_TEST

/* ---- outbound traffic policy ---- */

START_TEST(outbound_egress_proxy)
{
	struct pc_findings *f = tu_validate(HEAD "  outboundTrafficPolicy:\n"
						 "    egressProxy:\n"
						 "      port: {number: 3128}\n");

	tu_expect_at(f, E, "spec.outboundTrafficPolicy.egressProxy",
		     "sidecar: egress_proxy must be set only with ALLOW_ANY "
		     "outbound_traffic_policy mode",
		     9, 7);
	tu_expect_at(f, E, "spec.outboundTrafficPolicy.egressProxy.host", "Required value", 9, 7);
	tu_free(f);

	f = tu_validate(HEAD "  outboundTrafficPolicy:\n"
			     "    mode: REGISTRY_ONLY\n"
			     "    egressProxy: {host: egress.example.com, port: {number: 3128}}\n");
	tu_expect(f, E, "spec.outboundTrafficPolicy.egressProxy", "only with ALLOW_ANY");
	tu_expect_none(f, "spec.outboundTrafficPolicy.egressProxy.host", NULL);
	tu_free(f);

	f = tu_validate(
		HEAD
		"  outboundTrafficPolicy:\n"
		"    mode: ALLOW_ANY\n"
		"    egressProxy: {host: \"*.example.com\", subset: v_1, port: {number: 0}}\n");
	tu_expect_at(f, E, "spec.outboundTrafficPolicy.egressProxy.host",
		     "domain name \"*.example.com\" invalid (label \"*\" invalid)", 9, 25);
	tu_expect(f, E, "spec.outboundTrafficPolicy.egressProxy.subset",
		  "subset name is invalid: v_1");
	tu_expect(f, E, "spec.outboundTrafficPolicy.egressProxy.port.number",
		  "port number 0 must be in the range 1..65535");
	tu_free(f);

	f = tu_validate(HEAD "  outboundTrafficPolicy:\n"
			     "    mode: ALLOW_ANY\n"
			     "    egressProxy: {host: egress.example.com}\n");
	tu_expect_at(f, E, "spec.outboundTrafficPolicy.egressProxy.port",
		     "sidecar: egress_proxy port must be non-nil", 9, 18);
	tu_free(f);

	/* "*": FQDN error, then validateDestination's own */
	f = tu_validate(HEAD "  outboundTrafficPolicy:\n"
			     "    mode: ALLOW_ANY\n"
			     "    egressProxy: {host: \"*\", port: {number: 3128}}\n");
	tu_expect(f, E, "spec.outboundTrafficPolicy.egressProxy.host",
		  "domain name \"*\" invalid (label \"*\" invalid)");
	tu_expect(f, E, "spec.outboundTrafficPolicy.egressProxy.host",
		  "invalid destination host *");
	tu_free(f);
}
END_TEST

START_TEST(outbound_modes)
{
	struct pc_findings *f =
		tu_validate(HEAD "  outboundTrafficPolicy: {mode: ALLOW_ANY_DYNAMIC_DNS}\n");

	tu_expect_at(f, E, "spec.outboundTrafficPolicy.mode",
		     "Unsupported value: \"ALLOW_ANY_DYNAMIC_DNS\"", 7, 33);
	tu_free(f);

	f = tu_validate(HEAD "  outboundTrafficPolicy: {mode: REGISTRY_ONLY}\n");
	tu_expect_clean(f);
	tu_free(f);
}
END_TEST

/* ---- decoding ---- */

START_TEST(decode_errors_not_repeated)
{
	struct pc_findings *f = tu_validate(HEAD "  ingress:\n"
						 "  - null\n"
						 "  - port: 8080\n"
						 "  - port: {number: \"8080\"}\n"
						 "  egress:\n"
						 "  - port: {number: \"3306\"}\n"
						 "    hosts: [\"./*\"]\n");

	tu_expect(f, E, "spec.ingress[0]", "expected an object, got null");
	tu_expect(f, E, "spec.ingress[1].port", "expected an object, got integer");
	tu_expect(f, E, "spec.ingress[2].port.number", "expected an integer");
	tu_expect(f, E, "spec.egress[0].port.number", "expected an integer");
	ck_assert_uint_eq(f->nerr, 4);
	tu_free(f);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("model.sidecar");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, registry_only_clean);
	tcase_add_test(tc, full_clean);
	tcase_add_test(tc, selector_errors_return_early);
	tcase_add_test(tc, selector_without_labels);
	tcase_add_test(tc, selector_crd_limits);
	tcase_add_test(tc, empty_configuration);
	tcase_add_test(tc, ingress_port_required);
	tcase_add_test(tc, ingress_port_rules);
	tcase_add_test(tc, ingress_default_endpoint);
	tcase_add_test(tc, ingress_tls_sidecar_limits);
	tcase_add_test(tc, tls_options_certificates);
	tcase_add_test(tc, tls_options_sources_and_crl);
	tcase_add_test(tc, tls_options_tls_certificates);
	tcase_add_test(tc, tls_options_ciphers);
	tcase_add_test(tc, ingress_connection_pool);
	tcase_add_test(tc, inbound_connection_pool);
	tcase_add_test(tc, egress_catch_all_position);
	tcase_add_test(tc, egress_port_rules);
	tcase_add_test(tc, egress_unix_sockets);
	tcase_add_test(tc, egress_hosts_required);
	tcase_add_test(tc, egress_host_format);
	tcase_add_test(tc, egress_duplicate_hosts);
	tcase_add_test(tc, outbound_egress_proxy);
	tcase_add_test(tc, outbound_modes);
	tcase_add_test(tc, decode_errors_not_repeated);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
