/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * model/virtualservice.c - VirtualService schema and validation.
 *
 * The checks follow istio/istio pkg/config/validation: ValidateVirtualService
 * and the TCP/TLS helpers it calls, in the same order and with the same
 * texts, so that a manifest portcullis accepts is one istiod accepts. Go
 * quirks are kept on purpose and marked "Go:" below: validateGatewayNames
 * stops at the first name without a slash, the legacy gateway-name warning
 * is lost inside TCP matches, and SNI hosts of a VirtualService without
 * gateways are judged with the gateway rules. Where Go iterates a map we
 * use source order.
 *
 * A list element that is not an object (JSON null included) has already
 * been reported by the decoder and has no node; validators skip it rather
 * than add Go's "may not be nil" text for the same problem.
 */
#include "model/virtualservice.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "model/node.h"
#include "model/resource.h"
#include "model/rules.h"
#include "model/vctx.h"

/* ---- schema ---- */

static const struct pc_field destination_fields[] = {
	PC_FIELD("host", PC_FT_STRING, struct pc_destination, host),
	PC_FIELD("subset", PC_FT_STRING, struct pc_destination, subset),
	PC_FIELD_MSG("port", struct pc_destination, port, pc_port_selector_schema),
	PC_FIELD_END,
};

const struct pc_schema pc_destination_schema = { "Destination", sizeof(struct pc_destination),
						 destination_fields, NULL };

static const struct pc_field route_destination_fields[] = {
	PC_FIELD_MSG("destination", struct pc_route_destination, destination,
		     pc_destination_schema),
	PC_FIELD("weight", PC_FT_INT32, struct pc_route_destination, weight),
	PC_FIELD_END,
};

static const struct pc_schema route_destination_schema = { "RouteDestination",
							   sizeof(struct pc_route_destination),
							   route_destination_fields, NULL };

static const struct pc_field l4_match_fields[] = {
	PC_FIELD("destinationSubnets", PC_FT_STRLIST, struct pc_l4_match, destination_subnets),
	PC_FIELD("port", PC_FT_UINT32, struct pc_l4_match, port),
	PC_FIELD("sourceSubnet", PC_FT_STRING, struct pc_l4_match, source_subnet),
	PC_FIELD("sourceLabels", PC_FT_STRMAP, struct pc_l4_match, source_labels),
	PC_FIELD("gateways", PC_FT_STRLIST, struct pc_l4_match, gateways),
	PC_FIELD("sourceNamespace", PC_FT_STRING, struct pc_l4_match, source_namespace),
	PC_FIELD_END,
};

static const struct pc_schema l4_match_schema = { "L4MatchAttributes", sizeof(struct pc_l4_match),
						  l4_match_fields, NULL };

static const struct pc_field tls_match_fields[] = {
	PC_FIELD("sniHosts", PC_FT_STRLIST, struct pc_tls_match, sni_hosts),
	PC_FIELD("destinationSubnets", PC_FT_STRLIST, struct pc_tls_match, destination_subnets),
	PC_FIELD("port", PC_FT_UINT32, struct pc_tls_match, port),
	PC_FIELD("sourceLabels", PC_FT_STRMAP, struct pc_tls_match, source_labels),
	PC_FIELD("gateways", PC_FT_STRLIST, struct pc_tls_match, gateways),
	PC_FIELD("sourceNamespace", PC_FT_STRING, struct pc_tls_match, source_namespace),
	PC_FIELD_END,
};

static const struct pc_schema tls_match_schema = { "TLSMatchAttributes",
						   sizeof(struct pc_tls_match), tls_match_fields,
						   NULL };

static const struct pc_field tcp_route_fields[] = {
	PC_FIELD_LIST("match", struct pc_tcp_route, match, l4_match_schema),
	PC_FIELD_LIST("route", struct pc_tcp_route, route, route_destination_schema),
	PC_FIELD_END,
};

static const struct pc_schema tcp_route_schema = { "TCPRoute", sizeof(struct pc_tcp_route),
						   tcp_route_fields, NULL };

static const struct pc_field tls_route_fields[] = {
	PC_FIELD_LIST("match", struct pc_tls_route, match, tls_match_schema),
	PC_FIELD_LIST("route", struct pc_tls_route, route, route_destination_schema),
	PC_FIELD_END,
};

static const struct pc_schema tls_route_schema = { "TLSRoute", sizeof(struct pc_tls_route),
						   tls_route_fields, NULL };

static const struct pc_field virtual_service_fields[] = {
	PC_FIELD("hosts", PC_FT_STRLIST, struct pc_virtual_service, hosts),
	PC_FIELD("gateways", PC_FT_STRLIST, struct pc_virtual_service, gateways),
	PC_FIELD("http", PC_FT_ANY, struct pc_virtual_service, http),
	PC_FIELD_LIST("tls", struct pc_virtual_service, tls, tls_route_schema),
	PC_FIELD_LIST("tcp", struct pc_virtual_service, tcp, tcp_route_schema),
	PC_FIELD("exportTo", PC_FT_STRLIST, struct pc_virtual_service, export_to),
	PC_FIELD_END,
};

const struct pc_schema pc_virtual_service_schema = { "VirtualService",
						     sizeof(struct pc_virtual_service),
						     virtual_service_fields, NULL };

/* ---- helpers ---- */

#define MESH_GATEWAY        "mesh" /* constants.IstioMeshGateway */
#define ROUTE_SEMANTICS     "internal.istio.io/route-semantics"
#define OUTBOUND_SNI_FORMAT "outbound_.<PORT>_._.<HOSTNAME>"
#define JWT_CLAIM_HEADER    "@request.auth.claims"
#define QUOTE_MAX           300

static bool strv_has(const struct pc_strv *sv, const char *s)
{
	size_t i;

	for (i = 0; i < sv->n; i++) {
		if (strcmp(sv->v[i], s) == 0)
			return true;
	}
	return false;
}

/* <sv> joined with <sep> into <buf>, truncated to <size>. */
static void join(char *buf, size_t size, const struct pc_strv *sv, const char *sep)
{
	size_t i, len = 0;
	int n;

	buf[0] = '\0';
	for (i = 0; i < sv->n && len < size; i++) {
		n = snprintf(buf + len, size - len, "%s%s", i ? sep : "", sv->v[i]);
		if (n < 0)
			break;
		len += (size_t)n;
	}
}

/* Go's strings.Trim(s, ".") of <n> bytes of <s> into <out>. */
static void trim_dots(const char *s, size_t n, char *out, size_t size)
{
	while (n && *s == '.') {
		s++;
		n--;
	}
	while (n && s[n - 1] == '.')
		n--;
	snprintf(out, size, "%.*s", (int)n, s);
}

static bool has_char_in(const char *s, const char *set)
{
	return strpbrk(s, set) != NULL;
}

/*
 * ValidateWildcardDomainForVirtualServiceBoundToGateway: with <sni>, the
 * auto-generated "outbound_.<PORT>_._.<HOSTNAME>" form is accepted too.
 * Go's regexps "([0-9].*)" and "([a-zA-Z].*)" are unanchored searches, so
 * they only ask for one digit and one letter.
 */
static int check_gateway_domain(bool sni, const char *d, char *msg, size_t size)
{
	const char *p[4], *u;
	char port[256], host[256], q1[QUOTE_MAX], q2[QUOTE_MAX];
	size_t n = 1, len;

	if (!*d || strlen(d) > 255)
		return pc_check_fqdn(d, msg, size); /* CheckDNS1123Preconditions */
	if (!sni || strncmp(d, "outbound_", 9) != 0)
		return pc_check_wildcard_domain(d, msg, size);
	p[0] = d;
	for (u = strchr(d, '_'); u && n < 4; u = strchr(u + 1, '_'))
		p[n++] = u + 1;
	if (n < 4) {
		snprintf(msg, size, "domain name %s invalid, should follow '%s' format", d,
			 OUTBOUND_SNI_FORMAT);
		return -1;
	}
	/* p[0] is "outbound": the prefix test above guarantees it. */
	trim_dots(p[1], (size_t)(p[2] - p[1] - 1), port, sizeof(port));
	len = strcspn(p[3], "_");
	trim_dots(p[3], len, host, sizeof(host));
	if (!has_char_in(port, "0123456789")) {
		snprintf(msg, size,
			 "domain name %s invalid (label %s invalid). should follow %s format",
			 pc_go_quote(q1, sizeof(q1), d), pc_go_quote(q2, sizeof(q2), port),
			 OUTBOUND_SNI_FORMAT);
		return -1;
	}
	if (!has_char_in(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")) {
		snprintf(msg, size,
			 "domain name %s invalid (label %s invalid). should follow %s format",
			 pc_go_quote(q1, sizeof(q1), d), pc_go_quote(q2, sizeof(q2), host),
			 OUTBOUND_SNI_FORMAT);
		return -1;
	}
	return 0;
}

/* Legacy "name.namespace" gateway: recommend "<parts[1]>/<parts[0]>". */
static void warn_legacy_gateway(struct pc_vctx *v, const char *name)
{
	const char *dot = strchr(name, '.');
	char rec[512], q1[QUOTE_MAX], q2[QUOTE_MAX];
	size_t len = strcspn(dot + 1, ".");

	snprintf(rec, sizeof(rec), "%.*s/%.*s", (int)len, dot + 1, (int)(dot - name), name);
	pc_vwarn(v, NULL,
		 "using legacy gatewayName format %s; prefer the <namespace>/<name> format: %s",
		 pc_go_quote(q1, sizeof(q1), name), pc_go_quote(q2, sizeof(q2), rec));
}

/* One "<ns>/<name>" gateway reference at the current path. */
static void check_gateway_ref(struct pc_vctx *v, const char *name, const char *slash,
			      bool gw_semantics)
{
	char ns[256], q[QUOTE_MAX];

	snprintf(ns, sizeof(ns), "%.*s", (int)(slash - name), name);
	if (!*ns || !slash[1])
		pc_verr(v, NULL, "config namespace and gateway name cannot be empty");
	if (!pc_is_dns1123_label(ns))
		pc_verr(v, NULL, "invalid value for namespace: %s", pc_go_quote(q, sizeof(q), ns));
	if (!pc_is_dns1123_label(slash + 1) && !gw_semantics)
		pc_verr(v, NULL, "invalid value for gateway name: %s",
			pc_go_quote(q, sizeof(q), slash + 1));
}

/*
 * validateGatewayNames on <names> at <field>. <warn> keeps the legacy-name
 * warning: Go drops it when called from validateTCPMatch (appendErrors).
 */
static void check_gateway_names(struct pc_vctx *v, const char *field, const struct pc_strv *names,
				bool gw_semantics, bool warn)
{
	char msg[PC_RULE_MSG];
	const char *slash;
	size_t i;

	pc_vpush(v, field);
	for (i = 0; i < names->n; i++) {
		const char *name = names->v[i];

		pc_vpush_index(v, i);
		slash = strchr(name, '/');
		if (slash) {
			check_gateway_ref(v, name, slash, gw_semantics);
			pc_vpop(v);
			continue;
		}
		if (warn && strchr(name, '.'))
			warn_legacy_gateway(v, name);
		if (pc_check_fqdn(name, msg, sizeof(msg)) < 0)
			pc_verr(v, NULL, "%s", msg);
		pc_vpop(v);
		break; /* Go: returns here; later names are not checked */
	}
	pc_vpop(v);
}

/* ValidateIPSubnet on each of <subnets>, at <field>[i]. */
static void check_subnets(struct pc_vctx *v, const char *field, const struct pc_strv *subnets)
{
	char msg[PC_RULE_MSG];
	size_t i;

	pc_vpush(v, field);
	for (i = 0; i < subnets->n; i++) {
		pc_vpush_index(v, i);
		if (pc_check_ip_subnet(subnets->v[i], msg, sizeof(msg)) < 0)
			pc_verr(v, NULL, "%s", msg);
		pc_vpop(v);
	}
	pc_vpop(v);
}

/* A match's port: 0 means any; otherwise ValidatePort. */
static void check_match_port(struct pc_vctx *v, uint32_t port)
{
	char msg[PC_RULE_MSG];

	if (port != 0 && pc_check_port(port, msg, sizeof(msg)) < 0)
		pc_verr(v, "port", "%s", msg);
}

/* ---- destinations ---- */

void pc_vcheck_destination(struct pc_vctx *v, const char *field, const struct pc_destination *dest)
{
	char msg[PC_RULE_MSG];
	const char *host;

	if (!pc_is_decoded(dest))
		return;
	pc_vpush(v, field);
	host = dest->host ? dest->host : "";
	if (strcmp(host, "*") == 0)
		pc_verr(v, "host", "invalid destination host %s", host);
	else if (pc_check_wildcard_domain(host, msg, sizeof(msg)) < 0)
		pc_verr(v, "host", "%s", msg);
	if (dest->subset && *dest->subset && !pc_is_dns1123_label(dest->subset))
		pc_verr(v, "subset", "subset name is invalid: %s", dest->subset);
	if (pc_is_decoded(dest->port) &&
	    (dest->port->number || pc_zero_is_real(dest->port, "number"))) {
		pc_vpush(v, "port");
		if (pc_check_port(dest->port->number, msg, sizeof(msg)) < 0)
			pc_verr(v, "number", "%s", msg);
		pc_vpop(v);
	}
	pc_vpop(v);
}

/*
 * validateRouteDestinations. Weights need not sum to 100 (Istio >= 1.15);
 * only a negative weight and an all-zero split are errors. The total wraps
 * as Go's int32 does, hence the unsigned sum.
 */
static void check_route_destinations(struct pc_vctx *v, const struct pc_route_destination *rds,
				     size_t n, bool gw_semantics)
{
	bool sum_ok = true; /* no weight lost to a decode error */
	uint32_t total = 0;
	size_t i;

	pc_vpush(v, "route");
	for (i = 0; i < n; i++) {
		const struct pc_route_destination *rd = &rds[i];

		if (!pc_is_decoded(rd))
			continue; /* Go: "weight may not be nil"; the decoder said so */
		pc_vpush_index(v, i);
		if (!rd->destination)
			pc_verr(v, "destination", "destination is required");
		else if (!gw_semantics)
			pc_vcheck_destination(v, "destination", rd->destination);
		else if (pc_is_decoded(rd->destination) && !rd->destination->host)
			pc_verr(v, "destination.host", "Required value"); /* CRD; Go skipped it */
		if (rd->weight < 0)
			pc_verr(v, "weight", "weight %d < 0", (int)rd->weight);
		total += (uint32_t)rd->weight;
		sum_ok = sum_ok && (rd->weight || pc_zero_is_real(rd, "weight"));
		pc_vpop(v);
	}
	if (n > 1 && total == 0 && sum_ok)
		pc_verr(v, NULL, "total destination weight = 0");
	pc_vpop(v);
}

/* ---- TLS routes ---- */

bool pc_gateways_have_mesh(const struct pc_strv *gateways)
{
	return strv_has(gateways, MESH_GATEWAY);
}

/* isGateway(): true unless "mesh" is listed, so also when there are no gateways. */
static bool is_gateway(const struct pc_virtual_service *vs)
{
	return !pc_gateways_have_mesh(&vs->gateways);
}

static void sni_not_subset(struct pc_vctx *v, const struct pc_virtual_service *vs, const char *sni)
{
	char hosts[1024], q[QUOTE_MAX];

	join(hosts, sizeof(hosts), &vs->hosts, ", ");
	pc_verr(v, NULL,
		"SNI host %s is not a compatible subset of any of the virtual service hosts: [%s]",
		pc_go_quote(q, sizeof(q), sni), hosts);
}

/* validateSniHost at the current path. */
static void check_sni_host(struct pc_vctx *v, const struct pc_virtual_service *vs, const char *sni)
{
	char msg[PC_RULE_MSG], q[QUOTE_MAX];
	size_t i;
	int ret;

	if (is_gateway(vs))
		ret = check_gateway_domain(true, sni, msg, sizeof(msg));
	else
		ret = pc_check_wildcard_domain(sni, msg, sizeof(msg));
	if (ret < 0) {
		if (pc_is_ip(sni))
			pc_vwarn(v, NULL,
				 "using an IP address (%s) goes against SNI spec and most clients "
				 "do not support this",
				 pc_go_quote(q, sizeof(q), sni));
		else
			pc_verr(v, NULL, "%s", msg);
		return;
	}
	for (i = 0; i < vs->hosts.n; i++) {
		if (pc_host_subset_of(sni, vs->hosts.v[i]))
			return;
	}
	sni_not_subset(v, vs, sni);
}

/* validateTLSMatch at the current path. */
static void check_tls_match(struct pc_vctx *v, const struct pc_virtual_service *vs,
			    const struct pc_tls_match *m)
{
	size_t i;

	if (m->sni_hosts.n == 0) {
		pc_verr(v, "sniHosts", "TLS match must have at least one SNI host");
	} else {
		pc_vpush(v, "sniHosts");
		for (i = 0; i < m->sni_hosts.n; i++) {
			pc_vpush_index(v, i);
			check_sni_host(v, vs, m->sni_hosts.v[i]);
			pc_vpop(v);
		}
		pc_vpop(v);
	}
	check_subnets(v, "destinationSubnets", &m->destination_subnets);
	check_match_port(v, m->port);
	pc_vcheck_labels(v, "sourceLabels", &m->source_labels);
	check_gateway_names(v, "gateways", &m->gateways, false, true);
}

/* validateTLSRoute at the current path. */
static void check_tls_route(struct pc_vctx *v, const struct pc_virtual_service *vs,
			    const struct pc_tls_route *route, bool gw_semantics)
{
	size_t i;

	if (route->match.n == 0)
		pc_verr(v, "match", "TLS route must have at least one match condition");
	pc_vpush(v, "match");
	for (i = 0; i < route->match.n; i++) {
		if (!pc_is_decoded(&route->match.v[i]))
			continue; /* Go: "TLS match may not be null" */
		pc_vpush_index(v, i);
		check_tls_match(v, vs, &route->match.v[i]);
		pc_vpop(v);
	}
	pc_vpop(v);
	if (route->route.n == 0)
		pc_verr(v, "route", "TLS route is required");
	check_route_destinations(v, route->route.v, route->route.n, gw_semantics);
}

/* ---- TCP routes ---- */

/* validateTCPMatch at the current path. */
static void check_l4_match(struct pc_vctx *v, const struct pc_l4_match *m)
{
	check_subnets(v, "destinationSubnets", &m->destination_subnets);
	check_match_port(v, m->port);
	pc_vcheck_labels(v, "sourceLabels", &m->source_labels);
	/* sourceSubnet and sourceNamespace are not validated by Istio either. */
	check_gateway_names(v, "gateways", &m->gateways, false, false);
}

/* validateTCPRoute at the current path. */
static void check_tcp_route(struct pc_vctx *v, const struct pc_tcp_route *route, bool gw_semantics)
{
	size_t i;

	pc_vpush(v, "match");
	for (i = 0; i < route->match.n; i++) {
		if (!pc_is_decoded(&route->match.v[i]))
			continue; /* Go: "tcp match may not be nil" */
		pc_vpush_index(v, i);
		check_l4_match(v, &route->match.v[i]);
		pc_vpop(v);
	}
	pc_vpop(v);
	if (route->route.n == 0)
		pc_verr(v, "route", "TCP route is required");
	check_route_destinations(v, route->route.v, route->route.n, gw_semantics);
}

/* ---- unreachable rules (analyzeUnreachableTCPRules / ...TLSRules) ---- */

static bool str_eq(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

static bool strv_eq(const struct pc_strv *a, const struct pc_strv *b)
{
	size_t i;

	if (a->n != b->n)
		return false;
	for (i = 0; i < a->n; i++) {
		if (strcmp(a->v[i], b->v[i]) != 0)
			return false;
	}
	return true;
}

/* Maps compare as sets of pairs: Go's encoding/json sorts map keys. */
static bool strmap_eq(const struct pc_strmap *a, const struct pc_strmap *b)
{
	size_t i, j;

	if (a->n != b->n)
		return false;
	for (i = 0; i < a->n; i++) {
		for (j = 0; j < b->n; j++) {
			if (strcmp(a->keys[i], b->keys[j]) == 0)
				break;
		}
		if (j == b->n || strcmp(a->vals[i], b->vals[j]) != 0)
			return false;
	}
	return true;
}

/*
 * Go compares matches by their encoding/json text: all fields equal, an
 * empty list equal to an absent one, and a nil match ("null") equal only
 * to another nil match.
 */
static bool l4_match_eq(const void *pa, const void *pb)
{
	const struct pc_l4_match *a = pa, *b = pb;

	if (!pc_is_decoded(a) || !pc_is_decoded(b))
		return pc_is_decoded(a) == pc_is_decoded(b);
	return strv_eq(&a->destination_subnets, &b->destination_subnets) && a->port == b->port &&
	       str_eq(a->source_subnet, b->source_subnet) &&
	       strmap_eq(&a->source_labels, &b->source_labels) &&
	       strv_eq(&a->gateways, &b->gateways) &&
	       str_eq(a->source_namespace, b->source_namespace);
}

static bool tls_match_eq(const void *pa, const void *pb)
{
	const struct pc_tls_match *a = pa, *b = pb;

	if (!pc_is_decoded(a) || !pc_is_decoded(b))
		return pc_is_decoded(a) == pc_is_decoded(b);
	return strv_eq(&a->sni_hosts, &b->sni_hosts) &&
	       strv_eq(&a->destination_subnets, &b->destination_subnets) && a->port == b->port &&
	       strmap_eq(&a->source_labels, &b->source_labels) &&
	       strv_eq(&a->gateways, &b->gateways) &&
	       str_eq(a->source_namespace, b->source_namespace);
}

struct match_list {
	const char *v; /* elements of match_size bytes */
	size_t n;
};

/* A route list seen generically, for the analysis shared by TCP and TLS. */
struct rules_view {
	const char *field; /* "tcp" or "tls" */
	const char *routes;
	size_t nroutes;
	size_t route_size;
	size_t match_size;
	struct match_list (*matches)(const struct pc_msg *route);
	bool (*eq)(const void *a, const void *b);
};

static const struct pc_msg *route_at(const struct rules_view *rv, size_t i)
{
	return (const struct pc_msg *)(rv->routes + i * rv->route_size);
}

static struct match_list tcp_matches(const struct pc_msg *route)
{
	const struct pc_tcp_route *t = (const struct pc_tcp_route *)route;

	return (struct match_list){ (const char *)t->match.v, t->match.n };
}

static struct match_list tls_matches(const struct pc_msg *route)
{
	const struct pc_tls_route *t = (const struct pc_tls_route *)route;

	return (struct match_list){ (const char *)t->match.v, t->match.n };
}

/* The first rule (up to rule <r>, match <m> exclusive) with a match equal to <match>, or -1. */
static long first_equal(const struct rules_view *rv, size_t r, size_t m, const void *match)
{
	size_t i, j, end;

	for (i = 0; i <= r; i++) {
		const struct pc_msg *route = route_at(rv, i);
		struct match_list ml = rv->matches(route);

		if (!route->node)
			continue;
		end = i == r ? m : ml.n;
		for (j = 0; j < end; j++) {
			if (rv->eq(ml.v + j * rv->match_size, match))
				return (long)i;
		}
	}
	return -1;
}

static void analyze_rule(struct pc_vctx *v, const struct rules_view *rv, size_t r, bool after_empty)
{
	struct match_list ml = rv->matches(route_at(rv, r));
	size_t j, dups = 0;
	long dup;

	pc_vpush_index(v, r);
	for (j = 0; j < ml.n; j++) {
		if (after_empty) {
			pc_vwarn(v, NULL, "virtualService rule #%zu not used (%s)", r,
				 "route without matches defined before");
			continue;
		}
		dup = first_equal(rv, r, j, ml.v + j * rv->match_size);
		if (dup >= 0) {
			pc_vpush(v, "match");
			pc_vpush_index(v, j);
			pc_vwarn(v, NULL,
				 "virtualService rule #%zu match #%zu is not used "
				 "(duplicate/overlapping match in rule #%ld)",
				 r, j, dup);
			pc_vpop(v);
			pc_vpop(v);
			dups++;
		}
	}
	if (dups == ml.n)
		pc_vwarn(v, NULL, "virtualService rule #%zu not used (%s)", r,
			 "all matches used by prior rules");
	pc_vpop(v);
}

static void analyze_rules(struct pc_vctx *v, const struct rules_view *rv)
{
	bool empty_seen = false;
	size_t r;

	pc_vpush(v, rv->field);
	for (r = 0; r < rv->nroutes; r++) {
		const struct pc_msg *route = route_at(rv, r);

		if (!route->node)
			continue;
		if (rv->matches(route).n == 0) {
			if (empty_seen) {
				pc_vpush_index(v, r);
				pc_vwarn(v, NULL, "virtualService rule #%zu not used (%s)", r,
					 "only the last rule can have no matches");
				pc_vpop(v);
			}
			empty_seen = true;
			continue;
		}
		analyze_rule(v, rv, r, empty_seen);
	}
	pc_vpop(v);
}

/* ---- the VirtualService ---- */

/* A VirtualService without hosts is a delegate: no gateways, tls or tcp. */
static void check_delegate(struct pc_vctx *v, const struct pc_virtual_service *vs)
{
	if (vs->hosts.n != 0)
		return;
	if (vs->gateways.n != 0)
		pc_verr(v, "gateways", "delegate virtual service must have no gateways specified");
	if (vs->tls.n != 0)
		pc_verr(v, "tls", "delegate virtual service must have no tls route specified");
	if (vs->tcp.n != 0)
		pc_verr(v, "tcp", "delegate virtual service must have no tcp route specified");
}

/* jwt.ToRoutingClaim(key).Match */
static bool is_jwt_claim(const char *key)
{
	size_t n = strlen(JWT_CLAIM_HEADER), len;
	const char *name;

	if (strncasecmp(key, JWT_CLAIM_HEADER, n) != 0)
		return false;
	name = key + n;
	len = strlen(name);
	if (name[0] == '.' && len > 1)
		return true;
	return name[0] == '[' && len > 2 && name[len - 1] == ']';
}

static void check_jwt_headers(struct pc_vctx *v, const struct pc_node *headers, const char *field,
			      const char *gateways)
{
	size_t i;

	if (!headers || headers->type != PC_NODE_MAP)
		return;
	pc_vpush(v, field);
	for (i = 0; i < headers->npairs; i++) {
		const char *key = headers->pairs[i].key->str;

		if (!is_jwt_claim(key))
			continue;
		pc_vpush_key(v, key);
		pc_verr(v, NULL,
			"JWT claim based routing (key: %s) is only supported for gateway, found no "
			"gateways: %s",
			key, gateways);
		pc_vpop(v);
	}
	pc_vpop(v);
}

/* The JWT claim check over the (opaque) HTTP routes' matches. */
static void check_jwt_routes(struct pc_vctx *v, const struct pc_virtual_service *vs)
{
	const struct pc_node *http = vs->http, *match, *m;
	char list[1024], gws[1030];
	size_t i, j;

	if (!http || http->type != PC_NODE_SEQ)
		return;
	join(list, sizeof(list), &vs->gateways, " ");
	snprintf(gws, sizeof(gws), "[%s]", list); /* Go's %v of a []string */
	pc_vpush(v, "http");
	for (i = 0; i < http->nitems; i++) {
		match = pc_node_get(http->items[i], "match");
		if (!match || match->type != PC_NODE_SEQ)
			continue;
		pc_vpush_index(v, i);
		pc_vpush(v, "match");
		for (j = 0; j < match->nitems; j++) {
			m = match->items[j];
			pc_vpush_index(v, j);
			check_jwt_headers(v, pc_node_get(m, "headers"), "headers", gws);
			check_jwt_headers(v, pc_node_get(m, "withoutHeaders"), "withoutHeaders",
					  gws);
			pc_vpop(v);
		}
		pc_vpop(v);
		pc_vpop(v);
	}
	pc_vpop(v);
}

/* Hosts; returns Go's allHostsValid. */
static bool check_hosts(struct pc_vctx *v, const struct pc_virtual_service *vs, bool to_gateway,
			bool sni)
{
	char msg[PC_RULE_MSG];
	bool all_valid = true;
	size_t i;
	int ret;

	pc_vpush(v, "hosts");
	for (i = 0; i < vs->hosts.n; i++) {
		const char *h = vs->hosts.v[i];

		pc_vpush_index(v, i);
		if (to_gateway)
			ret = check_gateway_domain(sni, h, msg, sizeof(msg));
		else
			ret = pc_check_wildcard_domain(h, msg, sizeof(msg));
		if (ret < 0) {
			if (!pc_is_ip(h)) {
				pc_verr(v, NULL, "%s", msg);
				all_valid = false;
			}
		} else if (!to_gateway && strcmp(h, "*") == 0) {
			pc_verr(v, NULL,
				"wildcard host * is not allowed for virtual services bound "
				"to the mesh gateway");
			all_valid = false;
		}
		pc_vpop(v);
	}
	pc_vpop(v);
	return all_valid;
}

/* Literal and wildcard duplicates ("*.foo.com" and "*.com"), reported at the later host. */
static void check_duplicate_hosts(struct pc_vctx *v, const struct pc_virtual_service *vs)
{
	size_t i, j;

	pc_vpush(v, "hosts");
	for (i = 0; i < vs->hosts.n; i++) {
		for (j = i + 1; j < vs->hosts.n; j++) {
			if (!pc_host_matches(vs->hosts.v[i], vs->hosts.v[j]))
				continue;
			pc_vpush_index(v, j);
			pc_verr(v, NULL, "duplicate hosts in virtual service: %s & %s",
				vs->hosts.v[i], vs->hosts.v[j]);
			pc_vpop(v);
		}
	}
	pc_vpop(v);
}

/* Number of HTTP routes; also checks the opaque node's shape as the CRD would. */
static size_t http_routes(struct pc_vctx *v, const struct pc_virtual_service *vs)
{
	const struct pc_node *http = vs->http;
	size_t i;

	if (!http)
		return 0;
	if (http->type != PC_NODE_SEQ) {
		pc_verr(v, "http", "expected an array, got %s", pc_node_kind_name(http));
		return 1; /* present, if malformed: no "must be provided" error too */
	}
	pc_vpush(v, "http");
	for (i = 0; i < http->nitems; i++) {
		if (http->items[i]->type == PC_NODE_MAP)
			continue;
		pc_vpush_index(v, i);
		pc_verr(v, NULL, "expected an object, got %s", pc_node_kind_name(http->items[i]));
		pc_vpop(v);
	}
	pc_vpop(v);
	return http->nitems;
}

static bool has_gateway_semantics(const struct pc_resource *r)
{
	const struct pc_strmap *a = &r->meta.annotations;
	size_t i;

	for (i = 0; i < a->n; i++) {
		if (strcmp(a->keys[i], ROUTE_SEMANTICS) == 0)
			return strcmp(a->vals[i], "gateway") == 0;
	}
	return false;
}

static bool is_sni_host(const struct pc_virtual_service *vs)
{
	size_t i, j;

	for (i = 0; i < vs->tls.n; i++) {
		for (j = 0; j < vs->tls.v[i].match.n; j++) {
			if (vs->tls.v[i].match.v[j].sni_hosts.n > 0)
				return true;
		}
	}
	return false;
}

static void check_routes(struct pc_vctx *v, const struct pc_virtual_service *vs, bool gw_semantics)
{
	size_t i, nhttp = http_routes(v, vs);

	if (nhttp == 0 && vs->tcp.n == 0 && vs->tls.n == 0)
		pc_verr(v, NULL, "http, tcp or tls must be provided in virtual service");
	if (vs->http && vs->http->type == PC_NODE_SEQ && nhttp > 0)
		pc_vwarn(v, "http",
			 "HTTP routes are not validated or enforced by portcullis "
			 "(TCP and TLS only)");
	pc_vpush(v, "tls");
	for (i = 0; i < vs->tls.n; i++) {
		if (!pc_is_decoded(&vs->tls.v[i]))
			continue;
		pc_vpush_index(v, i);
		check_tls_route(v, vs, &vs->tls.v[i], gw_semantics);
		pc_vpop(v);
	}
	pc_vpop(v);
	pc_vpush(v, "tcp");
	for (i = 0; i < vs->tcp.n; i++) {
		if (!pc_is_decoded(&vs->tcp.v[i]))
			continue;
		pc_vpush_index(v, i);
		check_tcp_route(v, &vs->tcp.v[i], gw_semantics);
		pc_vpop(v);
	}
	pc_vpop(v);
}

static void analyze(struct pc_vctx *v, const struct pc_virtual_service *vs)
{
	struct rules_view tcp = {
		"tcp",
		(const char *)vs->tcp.v,
		vs->tcp.n,
		sizeof(struct pc_tcp_route),
		sizeof(struct pc_l4_match),
		tcp_matches,
		l4_match_eq,
	};
	struct rules_view tls = {
		"tls",
		(const char *)vs->tls.v,
		vs->tls.n,
		sizeof(struct pc_tls_route),
		sizeof(struct pc_tls_match),
		tls_matches,
		tls_match_eq,
	};

	analyze_rules(v, &tcp);
	analyze_rules(v, &tls);
}

void pc_virtual_service_validate(struct pc_vctx *v, const struct pc_resource *r)
{
	const struct pc_virtual_service *vs = r->spec;
	bool gw_semantics = has_gateway_semantics(r);
	bool to_gateway = false;

	if (!vs)
		return;
	pc_vpush(v, "spec");
	check_delegate(v, vs);
	if (vs->gateways.n != 0) {
		check_gateway_names(v, "gateways", &vs->gateways, gw_semantics, true);
		to_gateway = is_gateway(vs);
	}
	if (!to_gateway)
		check_jwt_routes(v, vs);
	if (check_hosts(v, vs, to_gateway, is_sni_host(vs)))
		check_duplicate_hosts(v, vs);
	check_routes(v, vs, gw_semantics);
	pc_vcheck_export_to(v, "exportTo", &vs->export_to, r->meta.ns, false, false);
	analyze(v, vs);
	pc_vpop(v);
}
