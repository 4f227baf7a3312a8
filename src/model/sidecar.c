/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * model/sidecar.c - Sidecar schema and validation.
 *
 * The checks follow istio/istio pkg/config/validation ValidateSidecar, in
 * its order and with its texts: a bad workload selector and an empty
 * Sidecar end validation at once (and drop warnings), everything else is
 * collected. Go quirks kept on purpose: an invalid egress dnsName is
 * reported twice (ValidateNamespaceSlashWildcardHostname appends the same
 * error for "not a sidecar" and "not an IP"), a second port-less egress
 * listener skips its hosts, and a port-less listener's bind is never
 * checked. Go maps are walked in source order here.
 *
 * CRD rules the webhook lacks are added with Kubernetes' wording: selector
 * label values of at most 63 bytes, at most 256 labels, non-empty
 * credentialNames/tlsCertificates lists, and egressProxy.host required.
 *
 * A list element or message that is not an object has been reported by the
 * decoder and has no node: it is skipped, not reported again.
 */
#include "model/sidecar.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "model/common.h"
#include "model/resource.h"
#include "model/rules.h"
#include "model/trafficpolicy.h"
#include "model/vctx.h"
#include "model/virtualservice.h"

/* ---- schema ---- */

static const char *const capture_modes[] = { "DEFAULT", "IPTABLES", "NONE", NULL };
static const char *const outbound_modes[] = { "REGISTRY_ONLY", "ALLOW_ANY", NULL };
static const char *const server_tls_modes[] = {
	"PASSTHROUGH",  "SIMPLE",          "MUTUAL", "AUTO_PASSTHROUGH",
	"ISTIO_MUTUAL", "OPTIONAL_MUTUAL", NULL,
};
static const char *const tls_protocols[] = {
	"TLS_AUTO", "TLSV1_0", "TLSV1_1", "TLSV1_2", "TLSV1_3", NULL,
};

static const struct pc_field sidecar_port_fields[] = {
	PC_FIELD("number", PC_FT_UINT32, struct pc_sidecar_port, number),
	PC_FIELD("protocol", PC_FT_STRING, struct pc_sidecar_port, protocol),
	PC_FIELD("name", PC_FT_STRING, struct pc_sidecar_port, name),
	PC_FIELD("targetPort", PC_FT_UINT32, struct pc_sidecar_port, target_port),
	PC_FIELD_END,
};

static const struct pc_schema sidecar_port_schema = { "SidecarPort", sizeof(struct pc_sidecar_port),
						      sidecar_port_fields, NULL };

static const struct pc_field server_tls_cert_fields[] = {
	PC_FIELD("serverCertificate", PC_FT_STRING, struct pc_server_tls_cert, server_certificate),
	PC_FIELD("privateKey", PC_FT_STRING, struct pc_server_tls_cert, private_key),
	PC_FIELD("caCertificates", PC_FT_STRING, struct pc_server_tls_cert, ca_certificates),
	PC_FIELD_END,
};

static const struct pc_schema server_tls_cert_schema = { "TLSCertificate",
							 sizeof(struct pc_server_tls_cert),
							 server_tls_cert_fields, NULL };

static const struct pc_field server_tls_fields[] = {
	PC_FIELD("httpsRedirect", PC_FT_BOOL, struct pc_server_tls, https_redirect),
	PC_FIELD_ENUM("mode", struct pc_server_tls, mode, server_tls_modes),
	PC_FIELD("serverCertificate", PC_FT_STRING, struct pc_server_tls, server_certificate),
	PC_FIELD("privateKey", PC_FT_STRING, struct pc_server_tls, private_key),
	PC_FIELD("caCertificates", PC_FT_STRING, struct pc_server_tls, ca_certificates),
	PC_FIELD("caCrl", PC_FT_STRING, struct pc_server_tls, ca_crl),
	PC_FIELD("credentialName", PC_FT_STRING, struct pc_server_tls, credential_name),
	PC_FIELD("credentialNames", PC_FT_STRLIST, struct pc_server_tls, credential_names),
	PC_FIELD_LIST("tlsCertificates", struct pc_server_tls, tls_certificates,
		      server_tls_cert_schema),
	PC_FIELD("subjectAltNames", PC_FT_STRLIST, struct pc_server_tls, subject_alt_names),
	PC_FIELD("verifyCertificateSpki", PC_FT_STRLIST, struct pc_server_tls,
		 verify_certificate_spki),
	PC_FIELD("verifyCertificateHash", PC_FT_STRLIST, struct pc_server_tls,
		 verify_certificate_hash),
	PC_FIELD_ENUM("minProtocolVersion", struct pc_server_tls, min_protocol_version,
		      tls_protocols),
	PC_FIELD_ENUM("maxProtocolVersion", struct pc_server_tls, max_protocol_version,
		      tls_protocols),
	PC_FIELD("cipherSuites", PC_FT_STRLIST, struct pc_server_tls, cipher_suites),
	PC_FIELD_END,
};

const struct pc_schema pc_server_tls_schema = { "ServerTLSSettings", sizeof(struct pc_server_tls),
						server_tls_fields, NULL };

static const struct pc_field ingress_fields[] = {
	PC_FIELD_MSG("port", struct pc_ingress_listener, port, sidecar_port_schema),
	PC_FIELD("bind", PC_FT_STRING, struct pc_ingress_listener, bind),
	PC_FIELD_ENUM("captureMode", struct pc_ingress_listener, capture_mode, capture_modes),
	PC_FIELD("defaultEndpoint", PC_FT_STRING, struct pc_ingress_listener, default_endpoint),
	PC_FIELD_MSG("tls", struct pc_ingress_listener, tls, pc_server_tls_schema),
	PC_FIELD_MSG("connectionPool", struct pc_ingress_listener, connection_pool,
		     pc_connection_pool_schema),
	PC_FIELD_END,
};

static const struct pc_schema ingress_schema = { "IstioIngressListener",
						 sizeof(struct pc_ingress_listener), ingress_fields,
						 NULL };

static const struct pc_field egress_fields[] = {
	PC_FIELD_MSG("port", struct pc_egress_listener, port, sidecar_port_schema),
	PC_FIELD("bind", PC_FT_STRING, struct pc_egress_listener, bind),
	PC_FIELD_ENUM("captureMode", struct pc_egress_listener, capture_mode, capture_modes),
	PC_FIELD("hosts", PC_FT_STRLIST, struct pc_egress_listener, hosts),
	PC_FIELD_END,
};

static const struct pc_schema egress_schema = { "IstioEgressListener",
						sizeof(struct pc_egress_listener), egress_fields,
						NULL };

static const struct pc_field outbound_fields[] = {
	PC_FIELD_ENUM("mode", struct pc_outbound_traffic_policy, mode, outbound_modes),
	PC_FIELD_MSG("egressProxy", struct pc_outbound_traffic_policy, egress_proxy,
		     pc_destination_schema),
	PC_FIELD_END,
};

static const struct pc_schema outbound_schema = { "OutboundTrafficPolicy",
						  sizeof(struct pc_outbound_traffic_policy),
						  outbound_fields, NULL };

static const struct pc_field sidecar_fields[] = {
	PC_FIELD_MSG("workloadSelector", struct pc_sidecar, workload_selector,
		     pc_workload_selector_schema),
	PC_FIELD_LIST("ingress", struct pc_sidecar, ingress, ingress_schema),
	PC_FIELD_LIST("egress", struct pc_sidecar, egress, egress_schema),
	PC_FIELD_MSG("outboundTrafficPolicy", struct pc_sidecar, outbound_traffic_policy,
		     outbound_schema),
	PC_FIELD_MSG("inboundConnectionPool", struct pc_sidecar, inbound_connection_pool,
		     pc_connection_pool_schema),
	PC_FIELD_END,
};

const struct pc_schema pc_sidecar_schema = { "Sidecar", sizeof(struct pc_sidecar), sidecar_fields,
					     NULL };

/* ---- helpers ---- */

#define UNIX_PREFIX "unix://" /* UnixAddressPrefix */
#define QUOTE_MAX   300

static bool empty(const char *s)
{
	return !s || !*s;
}

static const char *str(const char *s)
{
	return s ? s : "";
}

/* A port number lost to a decode error must not read as port 0 or a Unix socket. */
static bool number_ok(const struct pc_sidecar_port *p)
{
	return p->number || pc_zero_is_real(p, "number");
}

/* ValidateUnixAddress: "@abstract" or an absolute path not ending in '/'. */
static void check_unix_address(struct pc_vctx *v, const char *field, const char *addr)
{
	if (!*addr)
		pc_verr(v, field, "unix address must not be empty");
	else if (*addr != '@' && (*addr != '/' || addr[strlen(addr) - 1] == '/'))
		pc_verr(v, field, "%s is not an absolute path to a file", addr);
}

static void check_port_name(struct pc_vctx *v, const struct pc_sidecar_port *p)
{
	char msg[PC_RULE_MSG];

	if (!empty(p->name) && pc_check_port_name(p->name, msg, sizeof(msg)) < 0)
		pc_verr(v, "name", "%s", msg);
}

static void check_protocol(struct pc_vctx *v, const struct pc_sidecar_port *p)
{
	char msg[PC_RULE_MSG];

	if (pc_check_protocol(str(p->protocol), msg, sizeof(msg)) < 0)
		pc_verr(v, "protocol", "%s", msg);
}

static void check_port_number(struct pc_vctx *v, const struct pc_sidecar_port *p)
{
	char msg[PC_RULE_MSG];

	if (pc_check_port(p->number, msg, sizeof(msg)) < 0)
		pc_verr(v, "number", "%s", msg);
}

static void check_bind_ip(struct pc_vctx *v, const char *bind)
{
	char msg[PC_RULE_MSG];

	if (!empty(bind) && pc_check_ip(bind, msg, sizeof(msg)) < 0)
		pc_verr(v, "bind", "%s", msg);
}

/* A set of port numbers, for the "must be unique" rules. */
struct port_set {
	uint32_t *v;
	size_t n;
};

/* Add <port>; false when it was there already. */
static bool port_set_add(struct port_set *s, uint32_t port)
{
	size_t i;

	for (i = 0; i < s->n; i++) {
		if (s->v[i] == port)
			return false;
	}
	s->v[s->n++] = port;
	return true;
}

/* ---- workload selector ---- */

/* The CRD's limits on selector labels: values <= 63 bytes, <= 256 labels. */
static void check_selector_crd(struct pc_vctx *v, const struct pc_strmap *labels)
{
	size_t i;

	pc_vpush(v, "labels");
	if (labels->n > 256)
		pc_verr(v, NULL, "Too many: %zu: must have at most 256 items", labels->n);
	for (i = 0; i < labels->n; i++) {
		if (strlen(labels->vals[i]) <= 63)
			continue;
		pc_vpush_key(v, labels->keys[i]);
		pc_verr(v, NULL, "Too long: may not be more than 63 bytes");
		pc_vpop(v);
	}
	pc_vpop(v);
}

/* ValidateAlphaWorkloadSelector's errors; returns their number. */
static unsigned check_selector(struct pc_vctx *v, const struct pc_workload_selector *ws)
{
	char kv[512], q[QUOTE_MAX];
	unsigned nerr = 0;
	size_t i;

	pc_vpush(v, "workloadSelector");
	check_selector_crd(v, &ws->labels);
	pc_vpush(v, "labels");
	for (i = 0; i < ws->labels.n; i++) {
		const char *k = ws->labels.keys[i], *val = ws->labels.vals[i];

		snprintf(kv, sizeof(kv), "%s=%s", k, val);
		pc_vpush_key(v, k);
		if (!*k) {
			pc_verr(v, NULL, "empty key is not supported in selector: %s",
				pc_go_quote(q, sizeof(q), kv));
			nerr++;
		}
		if (strchr(k, '*') || strchr(val, '*')) {
			pc_verr(v, NULL, "wildcard is not supported in selector: %s",
				pc_go_quote(q, sizeof(q), kv));
			nerr++;
		}
		pc_vpop(v);
	}
	pc_vpop(v);
	pc_vpop(v);
	return nerr;
}

/* ---- server TLS (validateTLSOptions) ---- */

/* unicode.IsLetter || unicode.IsNumber of rune(<c>): <c> taken as Latin-1. */
static bool latin1_alnum(unsigned char c)
{
	if (c < 0x80)
		return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
	if (c >= 0xc0)
		return c != 0xd7 && c != 0xf7;
	return c == 0xaa || c == 0xb5 || c == 0xba || c == 0xb2 || c == 0xb3 || c == 0xb9 ||
	       (c >= 0xbc && c <= 0xbe);
}

/* security.IsValidCipherSuite: Envoy's (BoringSSL's) names, non-PSK. */
static bool is_valid_cipher(const char *cs)
{
	static const char *const valid[] = {
		"ECDHE-ECDSA-AES128-GCM-SHA256",
		"ECDHE-RSA-AES128-GCM-SHA256",
		"ECDHE-ECDSA-AES256-GCM-SHA384",
		"ECDHE-RSA-AES256-GCM-SHA384",
		"ECDHE-ECDSA-CHACHA20-POLY1305",
		"ECDHE-RSA-CHACHA20-POLY1305",
		"ECDHE-ECDSA-AES128-SHA",
		"ECDHE-RSA-AES128-SHA",
		"ECDHE-ECDSA-AES256-SHA",
		"ECDHE-RSA-AES256-SHA",
		"AES128-GCM-SHA256",
		"AES256-GCM-SHA384",
		"AES128-SHA",
		"AES256-SHA",
		"DES-CBC3-SHA",
		NULL,
	};
	size_t i;

	if (!*cs || strcmp(cs, "ALL") == 0)
		return true;
	if (!latin1_alnum((unsigned char)cs[0]))
		return true; /* cipher expressions such as "-AES128-SHA" pass through */
	for (i = 0; valid[i]; i++) {
		if (strcmp(cs, valid[i]) == 0)
			return true;
	}
	return false;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static bool set_has(const char **set, size_t n, const char *s)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (strcmp(set[i], s) == 0)
			return true;
	}
	return false;
}

/* Warn "<what>: [a b]" for <set>, sorted as Go's sets.SortedList. */
static void warn_cipher_set(struct pc_vctx *v, const char *what, const char **set, size_t n)
{
	char list[1024];
	size_t i, len = 0;
	int w;

	if (n == 0)
		return;
	qsort(set, n, sizeof(*set), cmp_str);
	list[0] = '\0';
	for (i = 0; i < n && len < sizeof(list); i++) {
		w = snprintf(list + len, sizeof(list) - len, "%s%s", i ? " " : "", set[i]);
		if (w < 0)
			break;
		len += (size_t)w;
	}
	pc_vwarn(v, "cipherSuites", "ignoring %s cipher suites: [%s]", what, list);
}

static void check_ciphers(struct pc_vctx *v, const struct pc_strv *cs)
{
	const char **bad, **good, **dup;
	size_t i, nbad = 0, ngood = 0, ndup = 0;

	if (cs->n == 0)
		return;
	bad = pc_calloc(cs->n * 3, sizeof(*bad));
	if (!bad) {
		pc_verr(v, "cipherSuites", "out of memory while validating cipher suites");
		return;
	}
	good = bad + cs->n;
	dup = good + cs->n;
	for (i = 0; i < cs->n; i++) {
		const char *c = cs->v[i];

		if (!is_valid_cipher(c)) {
			if (!set_has(bad, nbad, c))
				bad[nbad++] = c;
		} else if (set_has(good, ngood, c)) {
			if (!set_has(dup, ndup, c))
				dup[ndup++] = c;
		} else {
			good[ngood++] = c;
		}
	}
	warn_cipher_set(v, "invalid", bad, nbad);
	warn_cipher_set(v, "duplicate", dup, ndup);
	free(bad);
}

/* ISTIO_MUTUAL takes its certificates from Istio: no other source may be set. */
static void check_istio_mutual(struct pc_vctx *v, const struct pc_server_tls *tls)
{
	if (!empty(tls->server_certificate))
		pc_verr(v, "serverCertificate",
			"ISTIO_MUTUAL TLS cannot have associated server certificate");
	if (!empty(tls->private_key))
		pc_verr(v, "privateKey", "ISTIO_MUTUAL TLS cannot have associated private key");
	if (!empty(tls->ca_certificates))
		pc_verr(v, "caCertificates", "ISTIO_MUTUAL TLS cannot have associated CA bundle");
	if (tls->tls_certificates.n > 0)
		pc_verr(v, "tlsCertificates",
			"ISTIO_MUTUAL TLS cannot have associated tlsCertificates");
	if (!empty(tls->credential_name))
		pc_verr(v, "credentialName",
			"ISTIO_MUTUAL TLS cannot have associated credentialName");
	if (tls->credential_names.n > 0)
		pc_verr(v, "credentialNames",
			"ISTIO_MUTUAL TLS cannot have associated credentialNames");
}

static bool has_cert_fields(const struct pc_server_tls *tls)
{
	return !empty(tls->ca_crl) || !empty(tls->server_certificate) || !empty(tls->private_key) ||
	       !empty(tls->ca_certificates) || tls->tls_certificates.n > 0 ||
	       !empty(tls->credential_name) || tls->credential_names.n > 0;
}

static int cert_sources(const struct pc_server_tls *tls)
{
	return (!empty(tls->server_certificate) && !empty(tls->private_key)) +
	       !empty(tls->credential_name) + (tls->credential_names.n > 0) +
	       (tls->tls_certificates.n > 0);
}

/* One server certificate/key pair of a SIMPLE or MUTUAL server. */
static void check_cert_pair(struct pc_vctx *v, const char *prefix, const char *cert,
			    const char *key)
{
	if (empty(cert))
		pc_verr(v, "serverCertificate", "%s requires a server certificate", prefix);
	if (empty(key))
		pc_verr(v, "privateKey", "%s requires a private key", prefix);
}

/* SIMPLE, MUTUAL and OPTIONAL_MUTUAL with local files: what they need. */
static void check_local_certs(struct pc_vctx *v, const struct pc_server_tls *tls)
{
	const char *prefix = "SIMPLE TLS";
	size_t i;

	if (tls->mode == PC_SERVER_TLS_MUTUAL || tls->mode == PC_SERVER_TLS_OPTIONAL_MUTUAL) {
		prefix = "MUTUAL TLS";
		if (empty(tls->ca_certificates))
			pc_verr(v, "caCertificates", "%s requires a client CA bundle", prefix);
	}
	if (tls->tls_certificates.n > 2)
		pc_vwarn(v, "tlsCertificates", "%s can support up to 2 server certificates",
			 prefix);
	if (tls->tls_certificates.n == 0) {
		check_cert_pair(v, prefix, tls->server_certificate, tls->private_key);
		return;
	}
	pc_vpush(v, "tlsCertificates");
	for (i = 0; i < tls->tls_certificates.n; i++) {
		const struct pc_server_tls_cert *c = &tls->tls_certificates.v[i];

		pc_vpush_index(v, i);
		check_cert_pair(v, prefix, c->server_certificate, c->private_key);
		pc_vpop(v);
	}
	pc_vpop(v);
}

static bool is_simple_or_mutual(int mode)
{
	return mode == PC_SERVER_TLS_SIMPLE || mode == PC_SERVER_TLS_MUTUAL ||
	       mode == PC_SERVER_TLS_OPTIONAL_MUTUAL;
}

static void check_tls_options(struct pc_vctx *v, const struct pc_server_tls *tls)
{
	if ((tls->min_protocol_version == PC_TLSV1_0 || tls->min_protocol_version == PC_TLSV1_1) &&
	    tls->cipher_suites.n == 0)
		pc_vwarn(v, "minProtocolVersion",
			 "TLS version below TLSV1_2 require setting compatible ciphers as by "
			 "default they no longer include compatible ciphers.");
	check_ciphers(v, &tls->cipher_suites);
	if (tls->mode == PC_SERVER_TLS_ISTIO_MUTUAL) {
		check_istio_mutual(v, tls);
		return;
	}
	if ((tls->mode == PC_SERVER_TLS_PASSTHROUGH ||
	     tls->mode == PC_SERVER_TLS_AUTO_PASSTHROUGH) &&
	    has_cert_fields(tls))
		pc_vwarn(v, NULL, "%s mode does not use certificates, they will be ignored",
			 server_tls_modes[tls->mode]);
	if (cert_sources(tls) > 1)
		pc_verr(v, NULL,
			"only one of credential_name, credential_names, "
			"server_certificate/private_key, tls_certificates should be "
			"specified");
	if (is_simple_or_mutual(tls->mode) &&
	    (!empty(tls->credential_name) || tls->credential_names.n > 0))
		return; /* the credential is fetched remotely */
	if (is_simple_or_mutual(tls->mode))
		check_local_certs(v, tls);
	if (!empty(tls->ca_crl)) {
		if (!empty(tls->credential_name))
			pc_verr(v, "caCrl",
				"CRL is not supported with credentialName. CRL has to "
				"be specified in the credential");
		if (tls->mode == PC_SERVER_TLS_SIMPLE)
			pc_verr(v, "caCrl", "CRL is not supported with SIMPLE TLS");
	}
}

void pc_vcheck_server_tls(struct pc_vctx *v, const char *field, const struct pc_server_tls *tls)
{
	if (!pc_is_decoded(tls))
		return;
	pc_vpush(v, field);
	/* CRD: minItems 1 (the webhook accepts an empty list) */
	if (pc_has(tls, "credentialNames") && tls->credential_names.n == 0)
		pc_verr(v, "credentialNames", "Invalid value: 0: should have at least 1 items");
	if (pc_has(tls, "tlsCertificates") && tls->tls_certificates.n == 0)
		pc_verr(v, "tlsCertificates", "Invalid value: 0: should have at least 1 items");
	check_tls_options(v, tls);
	pc_vpop(v);
}

/* ---- ingress ---- */

/* Go's strconv.Atoi; returns 0, or -1 with Go's error text in <why>. */
static int go_atoi(const char *s, long long *out, char *why, size_t size)
{
	char q[QUOTE_MAX];
	const char *p = s;
	long long x = 0;
	bool neg = false, range = false;

	if (*p == '+' || *p == '-')
		neg = *p++ == '-';
	if (!*p || strspn(p, "0123456789") != strlen(p)) {
		snprintf(why, size, "strconv.Atoi: parsing %s: invalid syntax",
			 pc_go_quote(q, sizeof(q), s));
		return -1;
	}
	for (; *p; p++) {
		if (x > (INT64_MAX - (*p - '0')) / 10)
			range = true;
		else
			x = x * 10 + (*p - '0');
	}
	if (range) {
		snprintf(why, size, "strconv.Atoi: parsing %s: value out of range",
			 pc_go_quote(q, sizeof(q), s));
		return -1;
	}
	*out = neg ? -x : x;
	return 0;
}

/*
 * Go's net.SplitHostPort; returns 0, or -1 with the AddrError text in
 * <why> (and empty host and port, as Go leaves them).
 */
static int split_host_port(const char *hp, char *host, char *port, size_t size, char *why,
			   size_t wsize)
{
	const char *colon = strrchr(hp, ':'), *end, *reason = NULL;
	size_t j = 0, k = 0;

	host[0] = port[0] = '\0';
	if (!colon) {
		reason = "missing port in address";
	} else if (hp[0] == '[') {
		end = strchr(hp, ']');
		if (!end)
			reason = "missing ']' in address";
		else if (!end[1])
			reason = "missing port in address";
		else if (end + 1 != colon)
			reason = end[1] == ':' ? "too many colons in address"
					       : "missing port in address";
		else
			snprintf(host, size, "%.*s", (int)(end - hp - 1), hp + 1);
		j = 1;
		k = end ? (size_t)(end - hp) + 1 : 0;
	} else {
		snprintf(host, size, "%.*s", (int)(colon - hp), hp);
		if (strchr(host, ':'))
			reason = "too many colons in address";
	}
	if (!reason && strchr(hp + j, '['))
		reason = "unexpected '[' in address";
	if (!reason && strchr(hp + k, ']'))
		reason = "unexpected ']' in address";
	if (reason) {
		host[0] = '\0';
		snprintf(why, wsize, "address %s: %s", hp, reason);
		return -1;
	}
	snprintf(port, size, "%s", colon + 1);
	return 0;
}

/* defaultEndpoint: unix://<path>, or 127.0.0.1, 0.0.0.0, ::1 or :: with a port. */
static void check_default_endpoint(struct pc_vctx *v, const char *ep)
{
	char host[256], port[256], why[512];
	long long n;

	if (strncmp(ep, UNIX_PREFIX, strlen(UNIX_PREFIX)) == 0) {
		check_unix_address(v, NULL, ep + strlen(UNIX_PREFIX));
		return;
	}
	if (split_host_port(ep, host, port, sizeof(host), why, sizeof(why)) < 0)
		pc_verr(v, NULL, "%s", why);
	if (*host && strcmp(host, "127.0.0.1") != 0 && strcmp(host, "0.0.0.0") != 0 &&
	    strcmp(host, "::1") != 0 && strcmp(host, "::") != 0)
		pc_verr(v, NULL,
			"sidecar: defaultEndpoint must be of form 127.0.0.1:<port>,"
			"0.0.0.0:<port>,[::1]:port,[::]:port,unix://filepath or unset");
	if (go_atoi(port, &n, why, sizeof(why)) < 0)
		pc_verr(v, NULL, "sidecar: defaultEndpoint port (%s) is not a number: %s", port,
			why);
	else if (pc_check_port(n, why, sizeof(why)) < 0)
		pc_verr(v, NULL, "%s", why);
}

/* The Sidecar-specific limits on ingress TLS, then validateTLSOptions. */
static void check_ingress_tls(struct pc_vctx *v, const struct pc_ingress_listener *in)
{
	const struct pc_server_tls *tls = in->tls;

	pc_vpush(v, "tls");
	if (tls->subject_alt_names.n > 0)
		pc_verr(v, "subjectAltNames",
			"sidecar: subjectAltNames is not supported in ingress tls");
	if (tls->https_redirect)
		pc_verr(v, "httpsRedirect", "sidecar: httpsRedirect is not supported");
	if (!empty(tls->credential_name))
		pc_verr(v, "credentialName", "sidecar: credentialName is not currently supported");
	if (tls->credential_names.n > 0)
		pc_verr(v, "credentialNames",
			"sidecar: credentialNames is not currently supported");
	if (tls->tls_certificates.n > 0)
		pc_verr(v, "tlsCertificates",
			"sidecar: tls_certificates is not currently supported");
	if (tls->mode == PC_SERVER_TLS_ISTIO_MUTUAL || tls->mode == PC_SERVER_TLS_AUTO_PASSTHROUGH)
		pc_verr(v, "mode",
			"configuration is invalid: cannot set mode to %s in sidecar "
			"ingress tls",
			server_tls_modes[tls->mode]);
	if (!pc_protocol_is_tls(pc_protocol_parse(str(in->port->protocol))))
		pc_verr(v, NULL, "server cannot have TLS settings for non HTTPS/TLS ports");
	pc_vpop(v);
	pc_vcheck_server_tls(v, "tls", tls);
}

/* Per-port connection pool; HTTP settings on a non-HTTP port only warn. */
static void check_ingress_pool(struct pc_vctx *v, const struct pc_ingress_listener *in)
{
	const struct pc_sidecar_port *p = in->port;
	const struct pc_connection_pool *cp = in->connection_pool;
	char q[QUOTE_MAX];

	pc_vcheck_connection_pool(v, "connectionPool", cp);
	if (!pc_is_decoded(cp) || !pc_is_decoded(cp->http))
		return;
	if (pc_protocol_is_http(pc_protocol_parse(str(p->protocol))))
		return;
	pc_vpush(v, "connectionPool");
	pc_vwarn(v, "http",
		 "sidecar: HTTP connection pool settings are configured for port %u (%s) but its "
		 "protocol is not HTTP (%s); only TCP settings will apply",
		 (unsigned)p->number, pc_go_quote(q, sizeof(q), str(p->name)), str(p->protocol));
	pc_vpop(v);
}

/* One ingress listener at the current path; <ports> collects port numbers. */
static void check_ingress(struct pc_vctx *v, const struct pc_ingress_listener *in,
			  struct port_set *ports)
{
	const struct pc_sidecar_port *p = in->port;

	if (!p) {
		pc_verr(v, "port", "sidecar: port is required for ingress listeners");
		return;
	}
	if (!pc_is_decoded(p))
		return; /* not an object: the decoder said so */
	pc_vpush(v, "port");
	if (p->target_port > 0)
		pc_verr(v, "targetPort", "targetPort has no impact on Sidecars");
	check_port_name(v, p);
	check_protocol(v, p);
	if (number_ok(p))
		check_port_number(v, p);
	pc_vpop(v);
	check_bind_ip(v, in->bind);
	if (number_ok(p) && !port_set_add(ports, p->number))
		pc_verr(v, "port.number", "sidecar: ports on IP bound listeners must be unique");
	if (!empty(in->default_endpoint)) {
		pc_vpush(v, "defaultEndpoint");
		check_default_endpoint(v, in->default_endpoint);
		pc_vpop(v);
	}
	if (pc_is_decoded(in->tls))
		check_ingress_tls(v, in);
	check_ingress_pool(v, in);
}

static void check_ingresses(struct pc_vctx *v, const struct pc_sidecar *sc)
{
	struct port_set ports = { NULL, 0 };
	size_t i;

	if (sc->ingress.n == 0)
		return;
	ports.v = pc_calloc(sc->ingress.n, sizeof(*ports.v));
	if (!ports.v) {
		pc_verr(v, "ingress", "out of memory while validating ingress listeners");
		return;
	}
	pc_vpush(v, "ingress");
	for (i = 0; i < sc->ingress.n; i++) {
		if (!pc_is_decoded(&sc->ingress.v[i]))
			continue; /* Go: "sidecar: ingress may not be null" */
		pc_vpush_index(v, i);
		check_ingress(v, &sc->ingress.v[i], &ports);
		pc_vpop(v);
	}
	pc_vpop(v);
	free(ports.v);
}

/* ---- egress ---- */

/* Hosts seen so far in one listener, as namespace and name. */
struct host_seen {
	const char *ns;
	size_t nslen;
	const char *svc;
};

struct host_set {
	struct host_seen *v;
	size_t n;
};

static bool ns_eq(const struct host_seen *h, const char *ns, size_t nslen)
{
	return h->nslen == nslen && memcmp(h->ns, ns, nslen) == 0;
}

/* Does <set> hold <ns>/<svc>? <svc> NULL: any name in <ns>. */
static bool host_set_has(const struct host_set *set, const char *ns, size_t nslen, const char *svc)
{
	size_t i;

	for (i = 0; i < set->n; i++) {
		if (ns_eq(&set->v[i], ns, nslen) && (!svc || strcmp(set->v[i].svc, svc) == 0))
			return true;
	}
	return false;
}

/* Number of distinct namespaces in <set>. */
static size_t host_set_namespaces(const struct host_set *set)
{
	size_t i, j, n = 0;

	for (i = 0; i < set->n; i++) {
		for (j = 0; j < i; j++) {
			if (ns_eq(&set->v[j], set->v[i].ns, set->v[i].nslen))
				break;
		}
		n += j == i;
	}
	return n;
}

/* Track <host> for the duplicate warning; "." stands for namespace <own>. */
static void track_host(struct pc_vctx *v, struct host_set *set, const char *host, const char *own)
{
	const char *slash = strchr(host, '/'), *ns = host, *svc;
	size_t nslen;
	bool dup;

	if (!slash)
		return;
	nslen = (size_t)(slash - host);
	svc = slash + 1;
	if (nslen == 1 && *ns == '.') {
		ns = own;
		nslen = strlen(own);
	}
	if (strcmp(svc, "*") != 0)
		dup = host_set_has(set, ns, nslen, svc) || host_set_has(set, ns, nslen, "*");
	else
		dup = host_set_has(set, ns, nslen, NULL);
	if (dup)
		pc_vwarn(v, NULL, "duplicated egress host: %s", host);
	if (!host_set_has(set, ns, nslen, svc))
		set->v[set->n++] = (struct host_seen){ ns, nslen, svc };
}

/* validateSidecarOrGatewayHostnamePart for a Sidecar (isGateway false). */
static void check_dns_part(struct pc_vctx *v, const char *dns)
{
	char msg[PC_RULE_MSG];

	if (strcmp(dns, "*") != 0 && !strchr(dns, '.'))
		pc_verr(v, NULL, "short names (non FQDN) are not allowed");
	if (pc_check_wildcard_domain(dns, msg, sizeof(msg)) < 0) {
		pc_verr(v, NULL, "%s", msg);
		if (!pc_is_ip(dns))
			pc_verr(v, NULL, "%s", msg); /* Go appends it a second time */
	}
	if (pc_check_partial_wildcard(dns, msg, sizeof(msg)) < 0)
		pc_verr(v, NULL, "%s", msg);
}

/* ValidateNamespaceSlashWildcardHostname(host, false, false) at the current path. */
static void check_egress_host(struct pc_vctx *v, const char *host)
{
	const char *slash = strchr(host, '/');
	char ns[256], q[QUOTE_MAX];

	if (!slash) {
		pc_verr(v, NULL, "host must be of form namespace/dnsName");
		return;
	}
	snprintf(ns, sizeof(ns), "%.*s", (int)(slash - host), host);
	if (!*ns || !slash[1])
		pc_verr(v, NULL, "config namespace and dnsName in host entry cannot be empty");
	if (strcmp(ns, "*") != 0 && strcmp(ns, ".") != 0 && strcmp(ns, "~") != 0 &&
	    !pc_is_dns1123_label(ns))
		pc_verr(v, NULL, "invalid namespace value %s in sidecar",
			pc_go_quote(q, sizeof(q), ns));
	check_dns_part(v, slash + 1);
}

static void check_egress_hosts(struct pc_vctx *v, const struct pc_egress_listener *eg,
			       const char *own_ns)
{
	struct host_set set = { NULL, 0 };
	size_t i;

	if (eg->hosts.n == 0) {
		pc_verr(v, "hosts", "sidecar: egress listener must contain at least one host");
		return;
	}
	set.v = pc_calloc(eg->hosts.n, sizeof(*set.v));
	if (!set.v) {
		pc_verr(v, "hosts", "out of memory while validating egress hosts");
		return;
	}
	pc_vpush(v, "hosts");
	for (i = 0; i < eg->hosts.n; i++) {
		pc_vpush_index(v, i);
		track_host(v, &set, eg->hosts.v[i], own_ns);
		check_egress_host(v, eg->hosts.v[i]);
		pc_vpop(v);
	}
	if (host_set_has(&set, "*", 1, "*") && host_set_namespaces(&set) != 1)
		pc_vwarn(v, NULL, "`*/*` host select all resources, no other hosts can be added");
	pc_vpop(v);
	free(set.v);
}

/* validateSidecarEgressPortBindAndCaptureMode at the listener's path. */
static void check_egress_port(struct pc_vctx *v, const struct pc_egress_listener *eg)
{
	const struct pc_sidecar_port *p = eg->port;
	const char *bind = str(eg->bind);

	pc_vpush(v, "port");
	if (p->target_port > 0)
		pc_verr(v, "targetPort", "targetPort has no impact on Sidecars");
	check_port_name(v, p);
	check_protocol(v, p);
	if (p->number != 0)
		check_port_number(v, p);
	pc_vpop(v);
	if (p->number != 0) {
		check_bind_ip(v, bind);
		return;
	}
	/* port 0: a Unix domain socket listener */
	if (strncmp(bind, UNIX_PREFIX, strlen(UNIX_PREFIX)) != 0)
		pc_verr(v, "bind",
			"sidecar: ports with 0 value must have a unix domain socket bind address");
	else
		check_unix_address(v, "bind", bind + strlen(UNIX_PREFIX));
	if (eg->capture_mode != PC_CAPTURE_DEFAULT && eg->capture_mode != PC_CAPTURE_NONE)
		pc_verr(v, "captureMode",
			"sidecar: captureMode must be DEFAULT/NONE for unix domain socket "
			"listeners");
}

struct egress_state {
	struct port_set ports;
	const char **uds; /* unix socket binds seen */
	size_t nuds;
	bool catch_all; /* Go's catchAllEgressListenerFound */
};

/*
 * Port-less (catch-all) listener rules; false when its hosts are skipped.
 * As in Go, the "only one" error cannot fire: a catch-all only counts as
 * found when it is the last listener, and nothing follows the last.
 */
static bool check_catch_all(struct pc_vctx *v, struct egress_state *st, bool last)
{
	if (st->catch_all) {
		pc_verr(v, NULL, "sidecar: egress can have only one listener with empty port");
		return false;
	}
	if (last)
		st->catch_all = true;
	else
		pc_verr(v, NULL,
			"sidecar: the egress listener with empty port should be the last "
			"listener in the list");
	return true;
}

static void check_egress_unique(struct pc_vctx *v, struct egress_state *st,
				const struct pc_egress_listener *eg)
{
	const char *bind = str(eg->bind);
	size_t i;

	if (eg->port->number != 0) {
		if (!port_set_add(&st->ports, eg->port->number))
			pc_verr(v, "port.number",
				"sidecar: ports on IP bound listeners must be unique");
		return;
	}
	for (i = 0; i < st->nuds; i++) {
		if (strcmp(st->uds[i], bind) == 0) {
			pc_verr(v, "bind",
				"sidecar: unix domain socket values for listeners must be unique");
			return;
		}
	}
	st->uds[st->nuds++] = bind;
}

/* One egress listener <i> at the current path. */
static void check_egress(struct pc_vctx *v, struct egress_state *st, const struct pc_sidecar *sc,
			 size_t i, const char *own_ns)
{
	const struct pc_egress_listener *eg = &sc->egress.v[i];

	if (!eg->port) {
		if (!check_catch_all(v, st, i == sc->egress.n - 1))
			return;
	} else if (pc_is_decoded(eg->port) && number_ok(eg->port)) {
		check_egress_port(v, eg);
		check_egress_unique(v, st, eg);
	}
	check_egress_hosts(v, eg, own_ns);
}

static void check_egresses(struct pc_vctx *v, const struct pc_sidecar *sc, const char *own_ns)
{
	struct egress_state st = { { NULL, 0 }, NULL, 0, false };
	size_t i;

	if (sc->egress.n == 0)
		return;
	st.ports.v = pc_calloc(sc->egress.n, sizeof(*st.ports.v));
	st.uds = pc_calloc(sc->egress.n, sizeof(*st.uds));
	if (!st.ports.v || !st.uds) {
		pc_verr(v, "egress", "out of memory while validating egress listeners");
		goto out_free;
	}
	pc_vpush(v, "egress");
	for (i = 0; i < sc->egress.n; i++) {
		if (!pc_is_decoded(&sc->egress.v[i]))
			continue; /* Go: "egress listener may not be null" */
		pc_vpush_index(v, i);
		check_egress(v, &st, sc, i, own_ns);
		pc_vpop(v);
	}
	pc_vpop(v);
out_free:
	free(st.uds);
	free(st.ports.v);
}

/* ---- outbound traffic policy ---- */

/* validateSidecarOutboundTrafficPolicy at "outboundTrafficPolicy". */
static void check_outbound(struct pc_vctx *v, const struct pc_outbound_traffic_policy *tp)
{
	const struct pc_destination *ep;
	char msg[PC_RULE_MSG];

	if (!pc_is_decoded(tp) || !pc_is_decoded(tp->egress_proxy))
		return;
	ep = tp->egress_proxy;
	pc_vpush(v, "outboundTrafficPolicy");
	if (tp->mode != PC_OUTBOUND_ALLOW_ANY) {
		pc_verr(v, "egressProxy",
			"sidecar: egress_proxy must be set only with ALLOW_ANY "
			"outbound_traffic_policy mode");
		if (!ep->host) /* CRD: required: [host]; Go returned before checking it */
			pc_verr(v, "egressProxy.host", "Required value");
	} else {
		if (pc_check_fqdn(str(ep->host), msg, sizeof(msg)) < 0)
			pc_verr(v, "egressProxy.host", "%s", msg);
		if (!ep->port)
			pc_verr(v, "egressProxy.port",
				"sidecar: egress_proxy port must be non-nil");
		else
			pc_vcheck_destination(v, "egressProxy", ep);
	}
	pc_vpop(v);
}

/* ---- the Sidecar ---- */

static bool is_empty_config(const struct pc_sidecar *sc)
{
	return sc->egress.n == 0 && sc->ingress.n == 0 && !sc->outbound_traffic_policy &&
	       !sc->inbound_connection_pool;
}

void pc_sidecar_validate(struct pc_vctx *v, const struct pc_resource *r)
{
	const struct pc_sidecar *sc = r->spec;
	const struct pc_workload_selector *ws;

	if (!sc)
		return;
	ws = sc->workload_selector;
	pc_vpush(v, "spec");
	if (pc_is_decoded(ws) && check_selector(v, ws) > 0)
		goto out; /* Go returns the selector errors alone */
	if (is_empty_config(sc)) {
		pc_verr(v, NULL, "sidecar: empty configuration provided");
		goto out; /* ... and this one alone, without warnings */
	}
	if (pc_is_decoded(ws) && ws->labels.n == 0)
		pc_vwarn(v, "workloadSelector",
			 "sidecar: workload selector specified without "
			 "labels, will be applied to all services in "
			 "namespace");
	check_ingresses(v, sc);
	pc_vcheck_connection_pool(v, "inboundConnectionPool", sc->inbound_connection_pool);
	check_egresses(v, sc, r->meta.ns);
	check_outbound(v, sc->outbound_traffic_policy);
out:
	pc_vpop(v);
}
