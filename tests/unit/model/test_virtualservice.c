/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * VirtualService validation: every rule of reference §2.2 (Istio's
 * ValidateVirtualService with its TCP/TLS helpers) accepted and rejected,
 * with the finding's path and, where the node exists, its line:col.
 *
 * Every manifest starts with HEAD (6 lines, "spec:" on line 6), so the
 * first spec line is line 7.
 */
#include <check.h>

#include "model/finding.h"
#include "testutil.h"

#define HEAD                                   \
	"apiVersion: networking.istio.io/v1\n" \
	"kind: VirtualService\n"               \
	"metadata:\n"                          \
	"  name: vs\n"                         \
	"  namespace: shop\n"                  \
	"spec:\n"

#define E PC_SEV_ERROR
#define W PC_SEV_WARNING

/* A VS with one TCP route to mysql, for tests that vary one part. */
#define TCP_ROUTE              \
	"  tcp:\n"             \
	"  - route:\n"         \
	"    - destination:\n" \
	"        host: mysql.example.com\n"

/* ---- samples ---- */

START_TEST(tcp_weights_clean)
{
	struct pc_findings *f = tu_validate(HEAD "  hosts: [mysql.example.com]\n"
						 "  tcp:\n"
						 "  - match:\n"
						 "    - port: 3306\n"
						 "    route:\n"
						 "    - destination:\n"
						 "        host: mysql.example.com\n"
						 "        subset: v1\n"
						 "        port: {number: 3306}\n"
						 "      weight: 80\n"
						 "    - destination:\n"
						 "        host: mysql.example.com\n"
						 "        subset: v2\n"
						 "        port: {number: 3306}\n"
						 "      weight: 20\n");

	tu_expect_clean(f);
	tu_free(f);
}
END_TEST

START_TEST(tls_sni_clean)
{
	struct pc_findings *f = tu_validate(
		HEAD "  hosts: [api.example.com, \"*.internal.example.com\"]\n"
		     "  exportTo: [\".\"]\n"
		     "  tls:\n"
		     "  - match:\n"
		     "    - port: 443\n"
		     "      sniHosts: [api.example.com]\n"
		     "      destinationSubnets: [203.0.113.0/24, 198.51.100.7]\n"
		     "      sourceLabels: {app: web}\n"
		     "    route:\n"
		     "    - destination: {host: api.example.com, port: {number: 443}}\n"
		     "  - match:\n"
		     "    - sniHosts: [db.internal.example.com, \"*.internal.example.com\"]\n"
		     "    route:\n"
		     "    - destination: {host: db.internal.example.com}\n");

	tu_expect_clean(f);
	tu_free(f);
}
END_TEST

/* ---- delegate ---- */

START_TEST(delegate_rules)
{
	struct pc_findings *f =
		tu_validate(HEAD "  gateways: [mesh]\n"
				 "  tls:\n"
				 "  - match: [{sniHosts: [a.example.com]}]\n"
				 "    route: [{destination: {host: a.example.com}}]\n"
				 "  tcp:\n"
				 "  - route: [{destination: {host: a.example.com}}]\n");

	tu_expect_at(f, E, "spec.gateways",
		     "delegate virtual service must have no gateways specified", 7, 13);
	tu_expect_at(f, E, "spec.tls", "delegate virtual service must have no tls route specified",
		     9, 3);
	tu_expect_at(f, E, "spec.tcp", "delegate virtual service must have no tcp route specified",
		     12, 3);
	tu_free(f);

	/* A delegate with HTTP routes only is fine (and draws the HTTP warning). */
	f = tu_validate(HEAD "  http:\n  - route: [{destination: {host: a.example.com}}]\n");
	tu_expect_valid(f);
	tu_expect_none(f, "spec.gateways", NULL);
	tu_free(f);
}
END_TEST

/* ---- gateway names ---- */

START_TEST(gateway_names_ok)
{
	struct pc_findings *f =
		tu_validate(HEAD "  hosts: [mysql.example.com]\n"
				 "  gateways: [mesh, istio-system/egress-gw]\n" TCP_ROUTE);

	tu_expect_clean(f);
	tu_free(f);
}
END_TEST

START_TEST(gateway_names_bad)
{
	struct pc_findings *f = tu_validate(HEAD "  hosts: [mysql.example.com]\n"
						 "  gateways:\n"
						 "  - ns/\n"
						 "  - Bad_ns/gw\n"
						 "  - ns/gw_x\n" TCP_ROUTE);

	tu_expect_at(f, E, "spec.gateways[0]", "config namespace and gateway name cannot be empty",
		     9, 5);
	tu_expect_at(f, E, "spec.gateways[0]", "invalid value for gateway name: \"\"", 9, 5);
	tu_expect_at(f, E, "spec.gateways[1]", "invalid value for namespace: \"Bad_ns\"", 10, 5);
	tu_expect_at(f, E, "spec.gateways[2]", "invalid value for gateway name: \"gw_x\"", 11, 5);
	tu_free(f);
}
END_TEST

START_TEST(gateway_names_legacy)
{
	struct pc_findings *f = tu_validate(HEAD "  hosts: [mysql.example.com]\n"
						 "  gateways: [egress.istio-system]\n" TCP_ROUTE);

	tu_expect_at(f, W, "spec.gateways[0]",
		     "using legacy gatewayName format \"egress.istio-system\"; prefer the "
		     "<namespace>/<name> format: \"istio-system/egress\"",
		     8, 14);
	tu_expect_valid(f);
	tu_free(f);

	f = tu_validate(HEAD "  hosts: [mysql.example.com]\n  gateways: [-gw]\n" TCP_ROUTE);
	tu_expect_at(f, E, "spec.gateways[0]",
		     "domain name \"-gw\" invalid (label \"-gw\" invalid)", 8, 14);
	tu_free(f);
}
END_TEST

/* Go returns after the first name without a slash: later names go unchecked. */
START_TEST(gateway_names_stop_at_first_plain)
{
	struct pc_findings *f = tu_validate(HEAD "  hosts: [mysql.example.com]\n"
						 "  gateways: [mesh, \"a/\"]\n" TCP_ROUTE);

	tu_expect_none(f, "spec.gateways[1]", NULL);
	tu_expect_clean(f);
	tu_free(f);
}
END_TEST

/* The internal gateway route-semantics annotation relaxes names and destinations. */
START_TEST(gateway_semantics)
{
	struct pc_findings *f =
		tu_validate("apiVersion: networking.istio.io/v1\n"
			    "kind: VirtualService\n"
			    "metadata:\n"
			    "  name: vs\n"
			    "  annotations: {internal.istio.io/route-semantics: gateway}\n"
			    "spec:\n"
			    "  hosts: [mysql.example.com]\n"
			    "  gateways: [ns/gw_x]\n"
			    "  tcp:\n"
			    "  - route: [{destination: {host: \"*\"}}]\n");

	tu_expect_none(f, "spec.gateways[0]", NULL);
	tu_expect_none(f, "spec.tcp[0].route[0].destination.host", NULL);
	tu_expect_clean(f);
	tu_free(f);

	/* the CRD still requires a destination host */
	f = tu_validate("apiVersion: networking.istio.io/v1\n"
			"kind: VirtualService\n"
			"metadata:\n"
			"  name: vs\n"
			"  annotations: {internal.istio.io/route-semantics: gateway}\n"
			"spec:\n"
			"  hosts: [mysql.example.com]\n"
			"  tcp:\n"
			"  - route: [{destination: {subset: v1}}]\n");
	tu_expect_at(f, E, "spec.tcp[0].route[0].destination.host", "Required value", 9, 27);
	ck_assert_uint_eq(f->nerr, 1);
	tu_free(f);
}
END_TEST

/* ---- JWT claim routing (HTTP matches, read from the opaque node) ---- */

START_TEST(jwt_claim_needs_gateway)
{
	struct pc_findings *f =
		tu_validate(HEAD "  hosts: [web.example.com]\n"
				 "  http:\n"
				 "  - match:\n"
				 "    - headers:\n"
				 "        \"@request.auth.claims.group\": {exact: admin}\n"
				 "        x-plain: {exact: y}\n"
				 "    route: [{destination: {host: web.example.com}}]\n");

	tu_expect_at(
		f, E, "spec.http[0].match[0].headers[@request.auth.claims.group]",
		"JWT claim based routing (key: @request.auth.claims.group) is only supported for "
		"gateway, found no gateways: []",
		11, 39);
	tu_expect_none(f, "spec.http[0].match[0].headers[x-plain]", NULL);
	tu_free(f);

	f = tu_validate(
		HEAD "  hosts: [web.example.com]\n"
		     "  gateways: [istio-system/gw]\n"
		     "  http:\n"
		     "  - match: [{withoutHeaders: {\"@request.auth.claims[grp]\": {exact: a}}}]\n"
		     "    route: [{destination: {host: web.example.com}}]\n");
	tu_expect_valid(f);
	tu_free(f);

	f = tu_validate(
		HEAD "  hosts: [web.example.com]\n"
		     "  gateways: [mesh, istio-system/gw]\n"
		     "  http:\n"
		     "  - match: [{withoutHeaders: {\"@Request.Auth.Claims.sub\": {exact: a}}}]\n"
		     "    route: [{destination: {host: web.example.com}}]\n");
	tu_expect(f, E, "spec.http[0].match[0].withoutHeaders[@Request.Auth.Claims.sub]",
		  "found no gateways: [mesh istio-system/gw]");
	tu_free(f);
}
END_TEST

/* ---- HTTP routes are opaque ---- */

START_TEST(http_warning_once)
{
	struct pc_findings *f =
		tu_validate(HEAD "  hosts: [web.example.com]\n"
				 "  http:\n"
				 "  - route: [{destination: {host: web.example.com}}]\n"
				 "  - route: [{destination: {host: web.example.com}}]\n");

	tu_expect_at(f, W, "spec.http",
		     "HTTP routes are not validated or enforced by portcullis (TCP and TLS only)",
		     9, 3);
	ck_assert_uint_eq(tu_count(f, W, "HTTP routes are not validated"), 1);
	ck_assert_uint_eq(f->nerr, 0);
	tu_free(f);

	/* no HTTP routes: no warning */
	f = tu_validate(HEAD "  hosts: [mysql.example.com]\n" TCP_ROUTE);
	ck_assert_uint_eq(tu_count(f, W, "HTTP routes"), 0);
	tu_free(f);
}
END_TEST

START_TEST(http_shape)
{
	struct pc_findings *f = tu_validate(HEAD "  hosts: [web.example.com]\n"
						 "  http: {route: x}\n");

	tu_expect_at(f, E, "spec.http", "expected an array, got object", 8, 9);
	tu_expect_none(f, "spec", "must be provided");
	tu_free(f);

	f = tu_validate(HEAD "  hosts: [web.example.com]\n  http: [null]\n");
	tu_expect_at(f, E, "spec.http[0]", "expected an object, got null", 8,
		     9); /* null: its parent */
	tu_free(f);
}
END_TEST

/* ---- hosts ---- */

START_TEST(hosts_domain)
{
	struct pc_findings *f = tu_validate(HEAD "  hosts:\n"
						 "  - bad_host.example.com\n"
						 "  - 10.0.0.5\n"
						 "  - \"*.example.org\"\n" TCP_ROUTE);

	tu_expect_at(f, E, "spec.hosts[0]",
		     "domain name \"bad_host.example.com\" invalid (label \"bad_host\" invalid)", 8,
		     5);
	tu_expect_none(f, "spec.hosts[1]", NULL); /* an IP is accepted */
	tu_expect_none(f, "spec.hosts[2]", NULL);
	tu_free(f);
}
END_TEST

START_TEST(hosts_star_mesh)
{
	struct pc_findings *f = tu_validate(HEAD "  hosts: [\"*\"]\n" TCP_ROUTE);

	tu_expect_at(
		f, E, "spec.hosts[0]",
		"wildcard host * is not allowed for virtual services bound to the mesh gateway", 7,
		11);
	tu_free(f);

	f = tu_validate(HEAD "  hosts: [\"*\"]\n  gateways: [mesh, ns/gw]\n" TCP_ROUTE);
	tu_expect(f, E, "spec.hosts[0]", "wildcard host * is not allowed");
	tu_free(f);

	/* bound to a gateway only: "*" is fine */
	f = tu_validate(HEAD "  hosts: [\"*\"]\n  gateways: [ns/gw]\n" TCP_ROUTE);
	tu_expect_clean(f);
	tu_free(f);
}
END_TEST

START_TEST(hosts_duplicate)
{
	struct pc_findings *f = tu_validate(HEAD "  hosts:\n"
						 "  - \"*.example.com\"\n"
						 "  - a.example.com\n"
						 "  - b.example.org\n"
						 "  - b.example.org\n" TCP_ROUTE);

	tu_expect_at(f, E, "spec.hosts[1]",
		     "duplicate hosts in virtual service: *.example.com & a.example.com", 9, 5);
	tu_expect_at(f, E, "spec.hosts[3]",
		     "duplicate hosts in virtual service: b.example.org & b.example.org", 11, 5);
	tu_expect_none(f, "spec.hosts[2]", NULL);
	tu_free(f);

	/* "*.com" and "*.foo.com" overlap too */
	f = tu_validate(HEAD "  hosts: [\"*.com\", \"*.foo.com\"]\n" TCP_ROUTE);
	tu_expect(f, E, "spec.hosts[1]", "duplicate hosts in virtual service: *.com & *.foo.com");
	tu_free(f);

	/* skipped while any host is invalid */
	f = tu_validate(HEAD "  hosts: [a.com, a.com, bad_h.com]\n" TCP_ROUTE);
	ck_assert_uint_eq(tu_count(f, E, "duplicate hosts"), 0);
	tu_expect(f, E, "spec.hosts[2]", "invalid");
	tu_free(f);
}
END_TEST

/* Gateway-bound hosts accept Istio's auto-generated SNI form when there are SNI matches. */
START_TEST(hosts_gateway_sni_form)
{
	struct pc_findings *f =
		tu_validate(HEAD "  hosts: [outbound_.3306_._.mysql.example.com]\n"
				 "  gateways: [istio-system/egress]\n"
				 "  tls:\n"
				 "  - match: [{sniHosts: [outbound_.3306_._.mysql.example.com]}]\n"
				 "    route: [{destination: {host: mysql.example.com}}]\n");

	tu_expect_clean(f);
	tu_free(f);

	f = tu_validate(HEAD "  hosts: [outbound_.x_._.mysql.example.com, outbound_x]\n"
			     "  gateways: [istio-system/egress]\n"
			     "  tls:\n"
			     "  - match: [{sniHosts: [outbound_.1_._.9]}]\n"
			     "    route: [{destination: {host: mysql.example.com}}]\n");
	tu_expect_at(f, E, "spec.hosts[0]",
		     "domain name \"outbound_.x_._.mysql.example.com\" invalid (label \"x\" "
		     "invalid). should "
		     "follow outbound_.<PORT>_._.<HOSTNAME> format",
		     7, 11);
	tu_expect_at(f, E, "spec.hosts[1]",
		     "domain name outbound_x invalid, should follow "
		     "'outbound_.<PORT>_._.<HOSTNAME>' format",
		     7, 45);
	tu_expect_at(f, E, "spec.tls[0].match[0].sniHosts[0]",
		     "(label \"9\" invalid). should follow", 10, 25);
	tu_free(f);

	/* without SNI matches the plain wildcard-domain rule applies */
	f = tu_validate(HEAD "  hosts: [outbound_.3306_._.mysql.example.com]\n"
			     "  gateways: [istio-system/egress]\n" TCP_ROUTE);
	tu_expect(f, E, "spec.hosts[0]", "invalid (label \"outbound_\" invalid)");
	tu_free(f);
}
END_TEST

START_TEST(no_routes)
{
	struct pc_findings *f = tu_validate(HEAD "  hosts: [mysql.example.com]\n");

	tu_expect_at(f, E, "spec", "http, tcp or tls must be provided in virtual service", 7, 3);
	tu_free(f);

	f = tu_validate(HEAD "  hosts: [mysql.example.com]\n  tcp: []\n  http: []\n");
	tu_expect(f, E, "spec", "http, tcp or tls must be provided");
	ck_assert_uint_eq(tu_count(f, W, "HTTP routes"), 0);
	tu_free(f);
}
END_TEST

/* ---- TLS routes ---- */

START_TEST(tls_route_needs_match_and_route)
{
	struct pc_findings *f =
		tu_validate(HEAD "  hosts: [a.example.com]\n"
				 "  tls:\n"
				 "  - route: [{destination: {host: a.example.com}}]\n"
				 "  - match: [{sniHosts: [a.example.com]}]\n"
				 "  - match:\n"
				 "    - port: 443\n"
				 "    route: [{destination: {host: a.example.com}}]\n");

	tu_expect_at(f, E, "spec.tls[0].match", "TLS route must have at least one match condition",
		     9, 5);
	tu_expect_at(f, E, "spec.tls[1].route", "TLS route is required", 10, 5);
	tu_expect_at(f, E, "spec.tls[2].match[0].sniHosts",
		     "TLS match must have at least one SNI host", 12, 7);
	tu_free(f);
}
END_TEST

START_TEST(tls_sni_hosts)
{
	struct pc_findings *f =
		tu_validate(HEAD "  hosts: [a.example.com, \"*.x.example.com\"]\n"
				 "  gateways: [mesh]\n"
				 "  tls:\n"
				 "  - match:\n"
				 "    - sniHosts:\n"
				 "      - bad_sni.example.com\n"
				 "      - 192.0.2.10\n"
				 "      - b.example.com\n"
				 "      - q.x.example.com\n"
				 "      - \"*.example.com\"\n"
				 "    route: [{destination: {host: a.example.com}}]\n");

	tu_expect_at(f, E, "spec.tls[0].match[0].sniHosts[0]",
		     "domain name \"bad_sni.example.com\" invalid (label \"bad_sni\" invalid)", 12,
		     9);
	tu_expect_at(f, W, "spec.tls[0].match[0].sniHosts[1]",
		     "using an IP address (\"192.0.2.10\") goes against SNI spec and most clients "
		     "do not "
		     "support this",
		     13, 9);
	tu_expect_at(f, E, "spec.tls[0].match[0].sniHosts[2]",
		     "SNI host \"b.example.com\" is not a compatible subset of any of the virtual "
		     "service "
		     "hosts: [a.example.com, *.x.example.com]",
		     14, 9);
	tu_expect_none(f, "spec.tls[0].match[0].sniHosts[3]", NULL);
	tu_expect(f, E, "spec.tls[0].match[0].sniHosts[4]", "SNI host \"*.example.com\" is not");
	tu_free(f);
}
END_TEST

START_TEST(tls_match_attributes)
{
	struct pc_findings *f =
		tu_validate(HEAD "  hosts: [a.example.com]\n"
				 "  tls:\n"
				 "  - match:\n"
				 "    - sniHosts: [a.example.com]\n"
				 "      destinationSubnets: [10.0.0.0/33, 10.0.0.300, 10.0.0.0/8]\n"
				 "      port: 70000\n"
				 "      sourceLabels: {-bad: ok, app: \"no good\"}\n"
				 "      gateways: [gw.istio-system]\n"
				 "      sourceNamespace: anything\n"
				 "    route: [{destination: {host: a.example.com}}]\n");

	tu_expect_at(f, E, "spec.tls[0].match[0].destinationSubnets[0]",
		     "10.0.0.0/33 is not a valid CIDR block", 11, 28);
	tu_expect_at(f, E, "spec.tls[0].match[0].destinationSubnets[1]",
		     "10.0.0.300 is not a valid IP", 11, 41);
	tu_expect_none(f, "spec.tls[0].match[0].destinationSubnets[2]", NULL);
	tu_expect_at(f, E, "spec.tls[0].match[0].port",
		     "port number 70000 must be in the range 1..65535", 12, 13);
	tu_expect_at(f, E, "spec.tls[0].match[0].sourceLabels[-bad]", "invalid tag key: \"-bad\"",
		     13, 28);
	tu_expect_at(f, E, "spec.tls[0].match[0].sourceLabels[app]",
		     "invalid tag value: \"no good\"", 13, 37);
	/* the legacy-name warning survives in TLS matches */
	tu_expect_at(f, W, "spec.tls[0].match[0].gateways[0]",
		     "prefer the <namespace>/<name> format: "
		     "\"istio-system/gw\"",
		     14, 18);
	tu_free(f);
}
END_TEST

/* ---- TCP routes ---- */

START_TEST(tcp_route_rules)
{
	struct pc_findings *f =
		tu_validate(HEAD "  hosts: [mysql.example.com]\n"
				 "  tcp:\n"
				 "  - match:\n"
				 "    - port: 0\n"
				 "      sourceSubnet: not-validated\n"
				 "  - match:\n"
				 "    - destinationSubnets: [192.0.2.0/24, \"2001:db8::/129\"]\n"
				 "      port: 65536\n"
				 "      sourceLabels: {\"a/b/c\": x}\n"
				 "      gateways: [gw.istio-system, \"ns/\"]\n"
				 "    route: [{destination: {host: mysql.example.com}}]\n");

	tu_expect_at(f, E, "spec.tcp[0].route", "TCP route is required", 9, 5);
	tu_expect_none(f, "spec.tcp[0].match[0].port", NULL);
	tu_expect_none(f, "spec.tcp[1].match[0].destinationSubnets[0]", NULL);
	tu_expect_at(f, E, "spec.tcp[1].match[0].destinationSubnets[1]",
		     "2001:db8::/129 is not a valid CIDR block", 13, 42);
	tu_expect_at(f, E, "spec.tcp[1].match[0].port",
		     "port number 65536 must be in the range 1..65535", 14, 13);
	tu_expect_at(f, E, "spec.tcp[1].match[0].sourceLabels[a/b/c]", "invalid tag key: \"a/b/c\"",
		     15, 31);
	/* Go drops the legacy-name warning inside TCP matches, and stops at that name */
	ck_assert_uint_eq(tu_count(f, W, "legacy gatewayName"), 0);
	tu_expect_none(f, "spec.tcp[1].match[0].gateways[1]", NULL);
	tu_free(f);

	/* an empty match list is fine for TCP */
	f = tu_validate(HEAD "  hosts: [mysql.example.com]\n  tcp:\n  - match: []\n"
			     "    route: [{destination: {host: mysql.example.com}}]\n");
	tu_expect_clean(f);
	tu_free(f);
}
END_TEST

START_TEST(tcp_match_gateway_names)
{
	struct pc_findings *f =
		tu_validate(HEAD "  hosts: [mysql.example.com]\n"
				 "  tcp:\n"
				 "  - match: [{gateways: [\"b_d/gw\"]}]\n"
				 "    route: [{destination: {host: mysql.example.com}}]\n");

	tu_expect_at(f, E, "spec.tcp[0].match[0].gateways[0]",
		     "invalid value for namespace: \"b_d\"", 9, 25);
	tu_free(f);
}
END_TEST

/* ---- destinations ---- */

START_TEST(destination_rules)
{
	struct pc_findings *f = tu_validate(
		HEAD "  hosts: [mysql.example.com]\n"
		     "  tcp:\n"
		     "  - route:\n"
		     "    - weight: 10\n"
		     "    - destination: {host: \"*\"}\n"
		     "      weight: 10\n"
		     "    - destination: {host: bad_host.example.com, subset: v_1}\n"
		     "      weight: 10\n"
		     "    - destination: {subset: v1, port: {}}\n"
		     "      weight: 10\n"
		     "    - destination: {host: \"*.example.com\", port: {number: 70000}}\n"
		     "      weight: -1\n");

	tu_expect_at(f, E, "spec.tcp[0].route[0].destination", "destination is required", 10, 7);
	tu_expect_at(f, E, "spec.tcp[0].route[1].destination.host", "invalid destination host *",
		     11, 27);
	tu_expect_at(f, E, "spec.tcp[0].route[2].destination.host",
		     "domain name \"bad_host.example.com\" invalid (label \"bad_host\" invalid)",
		     13, 27);
	tu_expect_at(f, E, "spec.tcp[0].route[2].destination.subset", "subset name is invalid: v_1",
		     13, 57);
	tu_expect_at(f, E, "spec.tcp[0].route[3].destination.host", "empty domain name not allowed",
		     15, 20);
	tu_expect_at(f, E, "spec.tcp[0].route[3].destination.port.number",
		     "port number 0 must be in the range 1..65535", 15, 39);
	tu_expect_none(f, "spec.tcp[0].route[4].destination.host", NULL);
	tu_expect_at(f, E, "spec.tcp[0].route[4].destination.port.number",
		     "port number 70000 must be in the range 1..65535", 17, 59);
	tu_expect_at(f, E, "spec.tcp[0].route[4].weight", "weight -1 < 0", 18, 15);
	tu_free(f);
}
END_TEST

/* Istio >= 1.15: weights need not sum to 100; only an all-zero split is an error. */
START_TEST(weights)
{
	struct pc_findings *f =
		tu_validate(HEAD "  hosts: [mysql.example.com]\n"
				 "  tcp:\n"
				 "  - route:\n"
				 "    - destination: {host: mysql.example.com, subset: v1}\n"
				 "    - destination: {host: mysql.example.com, subset: v2}\n");

	tu_expect_at(f, E, "spec.tcp[0].route", "total destination weight = 0", 10, 5);
	tu_free(f);

	f = tu_validate(HEAD
			"  hosts: [mysql.example.com]\n"
			"  tcp:\n"
			"  - match: [{port: 3306}]\n"
			"    route:\n"
			"    - {destination: {host: mysql.example.com, subset: v1}, weight: 30}\n"
			"    - {destination: {host: mysql.example.com, subset: v2}, weight: 30}\n"
			"    - {destination: {host: mysql.example.com, subset: v3}, weight: 0}\n"
			"  - route:\n"
			"    - {destination: {host: mysql.example.com}, weight: 0}\n");
	tu_expect_clean(f);
	tu_free(f);

	/* the sum wraps as Go's int32 does */
	f = tu_validate(HEAD "  hosts: [mysql.example.com]\n"
			     "  tcp:\n"
			     "  - route:\n"
			     "    - {destination: {host: mysql.example.com}, weight: 2147483647}\n"
			     "    - {destination: {host: mysql.example.com}, weight: 2147483647}\n"
			     "    - {destination: {host: mysql.example.com}, weight: 2}\n");
	tu_expect(f, E, "spec.tcp[0].route", "total destination weight = 0");
	tu_free(f);
}
END_TEST

/* ---- exportTo ---- */

START_TEST(export_to)
{
	struct pc_findings *f = tu_validate(HEAD "  hosts: [mysql.example.com]\n"
						 "  exportTo: [\".\", istio-system]\n" TCP_ROUTE);

	tu_expect_clean(f);
	tu_free(f);

	f = tu_validate(HEAD "  hosts: [mysql.example.com]\n  exportTo: [\"~\"]\n" TCP_ROUTE);
	tu_expect_at(f, E, "spec.exportTo", "exportTo ~ (none) is not allowed", 8, 13);
	tu_free(f);

	f = tu_validate(HEAD "  hosts: [mysql.example.com]\n  exportTo: [shop, \".\"]\n" TCP_ROUTE);
	tu_expect(f, E, "spec.exportTo",
		  "duplicate entries in exportTo: . and current namespace shop");
	tu_free(f);
}
END_TEST

/* ---- unreachable rules ---- */

START_TEST(unreachable_after_catch_all)
{
	struct pc_findings *f =
		tu_validate(HEAD "  hosts: [mysql.example.com]\n"
				 "  tcp:\n"
				 "  - route: [{destination: {host: mysql.example.com}}]\n"
				 "  - route: [{destination: {host: mysql.example.com}}]\n"
				 "  - match: [{port: 3306}, {port: 3307}]\n"
				 "    route: [{destination: {host: mysql.example.com}}]\n");

	tu_expect_at(f, W, "spec.tcp[1]",
		     "virtualService rule #1 not used (only the last rule can have no matches)", 10,
		     5);
	tu_expect_at(f, W, "spec.tcp[2]",
		     "virtualService rule #2 not used (route without matches defined before)", 11,
		     5);
	ck_assert_uint_eq(tu_count(f, W, "route without matches defined before"), 2);
	ck_assert_uint_eq(f->nerr, 0);
	tu_free(f);
}
END_TEST

START_TEST(unreachable_duplicate_matches)
{
	struct pc_findings *f =
		tu_validate(HEAD "  hosts: [mysql.example.com]\n"
				 "  tcp:\n"
				 "  - match: [{port: 3306, sourceLabels: {app: a, tier: b}}]\n"
				 "    route: [{destination: {host: mysql.example.com}}]\n"
				 "  - match:\n"
				 "    - {port: 3306, sourceLabels: {tier: b, app: a}}\n"
				 "    route: [{destination: {host: mysql.example.com}}]\n"
				 "  - match:\n"
				 "    - {port: 3306, sourceLabels: {app: a, tier: b}}\n"
				 "    - {port: 3306, sourceLabels: {app: other}}\n"
				 "    - {port: 3306, sourceLabels: {app: other}}\n"
				 "    route: [{destination: {host: mysql.example.com}}]\n");

	tu_expect_at(f, W, "spec.tcp[1].match[0]",
		     "virtualService rule #1 match #0 is not used (duplicate/overlapping match in "
		     "rule #0)",
		     12, 7);
	tu_expect_at(f, W, "spec.tcp[1]",
		     "virtualService rule #1 not used (all matches used by prior rules)", 11, 5);
	tu_expect(f, W, "spec.tcp[2].match[0]", "(duplicate/overlapping match in rule #0)");
	tu_expect_none(f, "spec.tcp[2].match[1]", NULL);
	/* a duplicate inside the same rule names that rule */
	tu_expect(f, W, "spec.tcp[2].match[2]",
		  "rule #2 match #2 is not used (duplicate/overlapping match in rule #2)");
	tu_expect_none(f, "spec.tcp[2]", "all matches used");
	ck_assert_uint_eq(f->nerr, 0);
	tu_free(f);
}
END_TEST

START_TEST(unreachable_tls)
{
	struct pc_findings *f =
		tu_validate(HEAD "  hosts: [a.example.com]\n"
				 "  tls:\n"
				 "  - match: [{sniHosts: [a.example.com]}]\n"
				 "    route: [{destination: {host: a.example.com}}]\n"
				 "  - match: [{sniHosts: [a.example.com], port: 8443}]\n"
				 "    route: [{destination: {host: a.example.com}}]\n"
				 "  - match: [{sniHosts: [a.example.com]}]\n"
				 "    route: [{destination: {host: a.example.com}}]\n");

	tu_expect_none(f, "spec.tls[1]", NULL);
	tu_expect_at(f, W, "spec.tls[2].match[0]",
		     "virtualService rule #2 match #0 is not used (duplicate/overlapping match in "
		     "rule #0)",
		     13, 13);
	tu_expect(f, W, "spec.tls[2]", "rule #2 not used (all matches used by prior rules)");
	tu_free(f);
}
END_TEST

/* ---- decoding ---- */

START_TEST(decode_errors_not_repeated)
{
	struct pc_findings *f =
		tu_validate(HEAD "  hosts: [mysql.example.com]\n"
				 "  tcp:\n"
				 "  - match: [null]\n"
				 "    route: [null, {destination: {host: mysql.example.com, port: "
				 "{number: \"80\"}}, weight: 5}]\n"
				 "    sourceLabels: {}\n");

	tu_expect(f, E, "spec.tcp[0].match[0]", "expected an object, got null");
	tu_expect(f, E, "spec.tcp[0].route[0]", "expected an object, got null");
	tu_expect(f, E, "spec.tcp[0].route[1].destination.port.number", "expected an integer");
	tu_expect(f, E, "spec.tcp[0].sourceLabels", "unknown field");
	ck_assert_uint_eq(tu_count(f, E, "may not be nil"), 0);
	ck_assert_uint_eq(f->nerr, 4);
	tu_free(f);

	/* a weight lost to a decode error does not make the total 0 */
	f = tu_validate(HEAD "  hosts: [mysql.example.com]\n"
			     "  tcp:\n"
			     "  - route:\n"
			     "    - {destination: {host: mysql.example.com}, weight: \"5\"}\n"
			     "    - {destination: {host: mysql.example.com}, weight: 0}\n");
	tu_expect(f, E, "spec.tcp[0].route[0].weight", "expected an integer");
	ck_assert_uint_eq(f->nerr, 1);
	tu_free(f);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("model.virtualservice");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, tcp_weights_clean);
	tcase_add_test(tc, tls_sni_clean);
	tcase_add_test(tc, delegate_rules);
	tcase_add_test(tc, gateway_names_ok);
	tcase_add_test(tc, gateway_names_bad);
	tcase_add_test(tc, gateway_names_legacy);
	tcase_add_test(tc, gateway_names_stop_at_first_plain);
	tcase_add_test(tc, gateway_semantics);
	tcase_add_test(tc, jwt_claim_needs_gateway);
	tcase_add_test(tc, http_warning_once);
	tcase_add_test(tc, http_shape);
	tcase_add_test(tc, hosts_domain);
	tcase_add_test(tc, hosts_star_mesh);
	tcase_add_test(tc, hosts_duplicate);
	tcase_add_test(tc, hosts_gateway_sni_form);
	tcase_add_test(tc, no_routes);
	tcase_add_test(tc, tls_route_needs_match_and_route);
	tcase_add_test(tc, tls_sni_hosts);
	tcase_add_test(tc, tls_match_attributes);
	tcase_add_test(tc, tcp_route_rules);
	tcase_add_test(tc, tcp_match_gateway_names);
	tcase_add_test(tc, destination_rules);
	tcase_add_test(tc, weights);
	tcase_add_test(tc, export_to);
	tcase_add_test(tc, unreachable_after_catch_all);
	tcase_add_test(tc, unreachable_duplicate_matches);
	tcase_add_test(tc, unreachable_tls);
	tcase_add_test(tc, decode_errors_not_repeated);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
