/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for model/serviceentry.c: Istio's ValidateServiceEntry()
 * (reference §1.4, corrected by the SE/WE notes), the WorkloadEntry rules
 * applied to its endpoints (§1.5) and the CRD rules (§1.6). Every rule has
 * an accepted and a rejected case; rejections assert the path and, where
 * the node exists, the line:col (a missing field is located at its
 * nearest existing parent).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include "model/finding.h"
#include "testutil.h"

/* spec's fields start on line 6, column 3. */
#define SE                                     \
	"apiVersion: networking.istio.io/v1\n" \
	"kind: ServiceEntry\n"                 \
	"metadata:\n"                          \
	"  name: se\n"                         \
	"spec:\n"

/* The same with one metadata label: spec's fields start on line 8. */
#define SE_LABEL(k, v)                         \
	"apiVersion: networking.istio.io/v1\n" \
	"kind: ServiceEntry\n"                 \
	"metadata:\n"                          \
	"  name: se\n"                         \
	"  labels: {\"" k "\": \"" v "\"}\n"   \
	"spec:\n"

#define E PC_SEV_ERROR
#define W PC_SEV_WARNING

/* ---- samples ---- */

START_TEST(seed_sample)
{
	/* The seed story's ServiceEntry: lower-case "tcp" and an address. */
	tu_clean("apiVersion: networking.istio.io/v1alpha3\n"
		 "kind: ServiceEntry\n"
		 "metadata:\n"
		 "  name: mysql-external\n"
		 "spec:\n"
		 "  hosts:\n"
		 "  - mysql.example.com\n"
		 "  addresses:\n"
		 "  - 203.0.113.10/32\n"
		 "  ports:\n"
		 "  - name: tcp\n"
		 "    number: 3306\n"
		 "    protocol: tcp\n"
		 "  location: MESH_EXTERNAL\n");
	/* A DNS entry for TLS egress: a VIP is auto-allocated, no warning. */
	tu_clean(SE "  hosts: [api.example.com]\n"
		    "  ports:\n"
		    "  - {name: https, number: 443, protocol: TLS}\n"
		    "  resolution: DNS\n"
		    "  location: MESH_EXTERNAL\n");
	/* STATIC with IP endpoints and a port override. */
	tu_clean(SE "  hosts: [db.internal.example]\n"
		    "  addresses: [198.51.100.20]\n"
		    "  ports: [{name: pg, number: 5432, protocol: TCP, targetPort: 15432}]\n"
		    "  resolution: STATIC\n"
		    "  endpoints:\n"
		    "  - {address: 198.51.100.21, ports: {pg: 25432}, labels: {zone: a}}\n"
		    "  - {address: 2001:db8::21, weight: 3, network: n1, locality: r/z}\n"
		    "  exportTo: [\".\", other-ns]\n"
		    "  subjectAltNames: [spiffe://example/ns/db/sa/pg]\n");
}
END_TEST

/* ---- 1-3: workload selector ---- */

START_TEST(selector_errors_return_early)
{
	struct pc_findings *f;

	/* "*" as a host would be an error too, but Go returns first. */
	f = tu_validate(SE "  hosts: [\"*\"]\n"
			   "  workloadSelector:\n"
			   "    labels:\n"
			   "      \"\": v\n");
	tu_expect_at(f, E, "spec.workloadSelector.labels[]",
		     "empty key is not supported in selector: \"=v\"", 9, 11);
	ck_assert_uint_eq(f->n, 1);
	tu_free(f);

	f = tu_validate(SE "  hosts: [a.example.com]\n"
			   "  workloadSelector:\n"
			   "    labels:\n"
			   "      app: \"*\"\n"
			   "      \"a*\": b\n");
	tu_expect_at(f, E, "spec.workloadSelector.labels[app]",
		     "wildcard is not supported in selector: \"app=*\"", 9, 12);
	tu_expect_at(f, E, "spec.workloadSelector.labels[a*]",
		     "wildcard is not supported in selector: \"a*=b\"", 10, 13);
	ck_assert_uint_eq(f->n, 2); /* no resolution NONE warning either */
	tu_free(f);

	tu_clean(SE "  hosts: [a.example.com]\n"
		    "  resolution: STATIC\n"
		    "  workloadSelector: {labels: {app: db}}\n");
}
END_TEST

START_TEST(selector_without_labels)
{
	struct pc_findings *f;

	f = tu_validate(SE "  hosts: [a.example.com]\n"
			   "  resolution: STATIC\n"
			   "  workloadSelector: {}\n");
	tu_expect_at(
		f, W, "spec.workloadSelector",
		"service entry: workload selector specified without labels, will be applied to all "
		"services in namespace",
		8, 21);
	ck_assert_uint_eq(f->n, 1);
	tu_free(f);
}
END_TEST

START_TEST(selector_or_endpoints)
{
	struct pc_findings *f;

	f = tu_validate(SE "  hosts: [a.example.com]\n"
			   "  resolution: STATIC\n"
			   "  workloadSelector:\n"
			   "    labels: {app: db}\n"
			   "  endpoints:\n"
			   "  - address: 10.0.0.1\n");
	tu_expect_at(f, E, "spec.workloadSelector",
		     "only one of WorkloadSelector or Endpoints is allowed in Service Entry", 9, 5);
	tu_expect_none(f, "spec.workloadSelector", "can be set"); /* no CRD twin */
	tu_free(f);

	/* CRD only: has(endpoints) holds for an empty list. */
	f = tu_validate(SE "  hosts: [a.example.com]\n"
			   "  resolution: STATIC\n"
			   "  workloadSelector: {labels: {app: db}}\n"
			   "  endpoints: []\n");
	tu_expect_at(f, E, "spec.workloadSelector",
		     "only one of WorkloadSelector or Endpoints can be set", 8, 21);
	ck_assert_uint_eq(f->n, 1);
	tu_free(f);
}
END_TEST

/* ---- 4-5: hosts ---- */

START_TEST(hosts)
{
	struct pc_findings *f;

	f = tu_validate(SE "  location: MESH_EXTERNAL\n");
	tu_expect_at(f, E, "spec.hosts", "service entry must have at least one host", 6, 3);
	ck_assert_uint_eq(f->n, 1);
	tu_free(f);

	f = tu_validate(SE "  hosts: []\n");
	tu_expect_at(f, E, "spec.hosts", "service entry must have at least one host", 6, 10);
	tu_free(f);

	f = tu_validate(SE "  hosts:\n"
			   "  - \"*\"\n"
			   "  - a_b.example.com\n"
			   "  - \"*foo.example.com\"\n"
			   "  - \"*.example.com\"\n"
			   "  - foo.*.com\n"
			   "  - Example.COM.\n");
	tu_expect_at(f, E, "spec.hosts[0]", "invalid host *", 7, 5);
	tu_expect_at(f, E, "spec.hosts[1]",
		     "domain name \"a_b.example.com\" invalid (label \"a_b\" invalid)", 8, 5);
	tu_expect_at(f, W, "spec.hosts[2]", "partial wildcard \"*foo.example.com\" not allowed", 9,
		     5);
	ck_assert_uint_eq(tu_expect(f, W, "spec.hosts[2]", NULL)->sev, W); /* a warning only */
	tu_expect_none(f, "spec.hosts[3]", NULL);
	tu_expect_at(f, E, "spec.hosts[4]", "domain name \"*.com\" invalid (label \"*\" invalid)",
		     11, 5);
	tu_expect_none(f, "spec.hosts[5]", NULL); /* upper case and a trailing dot are fine */
	tu_free(f);

	/* A host that is not a string: the decoder's error only. */
	f = tu_validate(SE "  hosts: [12]\n");
	tu_expect_at(f, E, "spec.hosts[0]", "expected a string", 6, 11);
	ck_assert_uint_eq(f->n, 1);
	tu_free(f);
}
END_TEST

/* ---- 6-7: addresses ---- */

START_TEST(addresses)
{
	struct pc_findings *f;

	f = tu_validate(
		SE "  hosts: [a.example.com]\n"
		   "  addresses:\n"
		   "  - 10.0.0.1\n"
		   "  - 2001:db8::1\n"
		   "  - 10.0.0.0/8\n"
		   "  - 10.0.0.300\n"
		   "  - 10.0.0.0/33\n"
		   "  - \"fe80::1%zone0123456789012345678901234567890123456789012345678901xyz\"\n"
		   "  - 10.0.0.77/24\n"
		   "  - 1.2.3.4/8/8\n"
		   "  ports: [{name: http, number: 80, protocol: HTTP}]\n");
	tu_expect_none(f, "spec.addresses[0]", NULL);
	tu_expect_none(f, "spec.addresses[1]", NULL);
	tu_expect_none(f, "spec.addresses[2]", NULL);
	tu_expect_at(f, E, "spec.addresses[3]", "10.0.0.300 is not a valid IP", 11, 5);
	tu_expect_at(f, E, "spec.addresses[4]", "10.0.0.0/33 is not a valid CIDR block", 12, 5);
	/* A valid IPv6 with a zone, but over the CRD's 64 bytes. */
	tu_expect_at(f, E, "spec.addresses[5]", "Too long: may not be more than 64 bytes", 13, 5);
	tu_expect_none(f, "spec.addresses[6]", NULL); /* host bits may be set */
	tu_expect_at(f, E, "spec.addresses[7]", "1.2.3.4/8/8 is not a valid IP", 15, 5);
	ck_assert_uint_eq(f->n, 4);
	tu_free(f);
}
END_TEST

START_TEST(cidr_needs_none_or_static)
{
	struct pc_findings *f;

	f = tu_validate(SE "  hosts: [a.example.com]\n"
			   "  addresses: [10.0.0.1, 10.0.0.0/24, 10.1.0.0/16]\n"
			   "  ports: [{name: http, number: 80, protocol: HTTP}]\n"
			   "  resolution: DNS\n");
	tu_expect_at(f, E, "spec.addresses[1]",
		     "CIDR addresses are allowed only for NONE/STATIC resolution types", 7, 25);
	ck_assert_uint_eq(f->n, 1); /* once, and not again as the CRD's rule */
	tu_free(f);

	/* A /32 counts: the rule looks for '/'. */
	f = tu_validate(SE "  hosts: [a.example.com]\n"
			   "  addresses: [10.0.0.1/32]\n"
			   "  ports: [{name: http, number: 80, protocol: HTTP}]\n"
			   "  resolution: DNS_ROUND_ROBIN\n");
	tu_expect_at(f, E, "spec.addresses[0]", "CIDR addresses are allowed only for NONE/STATIC",
		     7, 15);
	tu_free(f);

	tu_clean(SE "  hosts: [a.example.com]\n"
		    "  addresses: [10.0.0.0/24]\n"
		    "  ports: [{name: http, number: 80, protocol: HTTP}]\n"
		    "  resolution: STATIC\n");
	tu_clean(SE "  hosts: [a.example.com]\n"
		    "  addresses: [10.0.0.0/24]\n"
		    "  ports: [{name: http, number: 80, protocol: HTTP}]\n");
}
END_TEST

/* ---- 8: ports ---- */

START_TEST(ports)
{
	struct pc_findings *f;

	f = tu_validate(SE "  hosts: [a.example.com]\n"
			   "  addresses: [203.0.113.1]\n"
			   "  ports:\n"
			   "  - name: tcp\n"
			   "    number: 3306\n"
			   "    protocol: TCP\n"
			   "  - name: tcp\n"
			   "    number: 3306\n"
			   "    protocol: TCP\n"
			   "  - name: Bad_Name\n"
			   "    number: 70000\n"
			   "    protocol: FOO\n"
			   "    targetPort: 0\n"
			   "  - name: t\n"
			   "    number: 81\n"
			   "    targetPort: 65536\n"
			   "  - name: u\n"
			   "    number: 82\n"
			   "    protocol: udp\n"
			   "    targetPort: 8082\n");
	tu_expect_none(f, "spec.ports[0]", NULL);
	tu_expect_none(f, "spec.ports[0].name", NULL);
	tu_expect_none(f, "spec.ports[0].number", NULL);
	tu_expect_at(f, E, "spec.ports[1].name", "service entry port name \"tcp\" already defined",
		     12, 11);
	tu_expect_at(f, E, "spec.ports[1].number", "service entry port 3306 already defined", 13,
		     13);
	tu_expect_at(f, E, "spec.ports[2].name", "invalid port name: Bad_Name", 15, 11);
	tu_expect_at(f, E, "spec.ports[2].number",
		     "port number 70000 must be in the range 1..65535", 16, 13);
	tu_expect_at(f, E, "spec.ports[2].protocol", "unsupported protocol: FOO", 17, 15);
	tu_expect_at(f, E, "spec.ports[2].targetPort", "port must be between 1-65535", 18,
		     17); /* CRD */
	tu_expect_at(f, E, "spec.ports[3].targetPort",
		     "port number 65536 must be in the range 1..65535", 21, 17);
	tu_expect_none(f, "spec.ports[4].protocol", NULL); /* UDP is a known protocol */
	tu_expect_none(f, "spec.ports[4].targetPort", NULL);
	ck_assert_uint_eq(f->n, 7);
	tu_free(f);

	/* Missing name and number: Go's messages (the CRD's "Required value" twins are not added). */
	f = tu_validate(SE "  hosts: [a.example.com]\n"
			   "  addresses: [203.0.113.1]\n"
			   "  ports:\n"
			   "  - protocol: HTTP\n");
	tu_expect_at(f, E, "spec.ports[0].name", "invalid port name: ", 9, 5);
	tu_expect_at(f, E, "spec.ports[0].number", "port number 0 must be in the range 1..65535", 9,
		     5);
	ck_assert_uint_eq(f->n, 2);
	tu_free(f);

	/* Two unnamed ports share the name "". */
	f = tu_validate(SE "  hosts: [a.example.com]\n"
			   "  addresses: [203.0.113.1]\n"
			   "  ports: [{number: 1}, {number: 2}]\n");
	tu_expect_at(f, E, "spec.ports[1].name", "service entry port name \"\" already defined", 8,
		     24);
	tu_free(f);

	/* A null item: the decoder's error (Go: "service entry port may not be null"). */
	f = tu_validate(SE "  hosts: [a.example.com]\n"
			   "  addresses: [203.0.113.1]\n"
			   "  ports: [~, {name: http, number: 80}]\n");
	tu_expect_at(f, E, "spec.ports[0]", "expected an object", 8, 10); /* null: its list */
	ck_assert_uint_eq(f->n, 1);
	tu_free(f);

	/* Values that did not decode are not judged again. */
	f = tu_validate(SE "  hosts: [a.example.com]\n"
			   "  addresses: [203.0.113.1]\n"
			   "  ports: [{name: http, number: \"80\", protocol: HTTP}]\n");
	tu_expect_at(f, E, "spec.ports[0].number", "expected an integer", 8, 32);
	ck_assert_uint_eq(f->n, 1);
	tu_free(f);
}
END_TEST

START_TEST(duplicate_ports_many)
{
	struct pc_findings *f;
	size_t cap = (size_t)64 * 1024, len, i;
	char *s = malloc(cap);

	/* Ports 0..199 plus a repeat of port 7 (name and number) at the end. */
	ck_assert_ptr_nonnull(s);
	len = (size_t)snprintf(s, cap,
			       SE "  hosts: [a.example.com]\n"
				  "  addresses: [203.0.113.1]\n"
				  "  ports:\n");
	for (i = 0; i < 200; i++)
		len += (size_t)snprintf(s + len, cap - len,
					"  - {name: p%zu, number: %zu, protocol: HTTP}\n", i,
					i + 1);
	snprintf(s + len, cap - len, "  - {name: p7, number: 8, protocol: HTTP}\n");
	f = tu_validate(s);
	tu_expect_at(f, E, "spec.ports[200].name", "service entry port name \"p7\" already defined",
		     209, 12);
	tu_expect_at(f, E, "spec.ports[200].number", "service entry port 8 already defined", 209,
		     24);
	ck_assert_uint_eq(f->n, 2); /* the first p7 is not a duplicate */
	tu_free(f);
	free(s);
}
END_TEST

START_TEST(tcp_needs_addresses_warning)
{
	struct pc_findings *f;
	static const char port_list[] = "  ports:\n"
					"  - {name: tcp, number: 3306, protocol: TCP}\n"
					"  - {name: a, number: 1}\n"
					"  - {name: b, number: 2, protocol: tcp}\n"
					"  - {name: c, number: 3, protocol: HTTP}\n"
					"  - {name: d, number: 4, protocol: \"\"}\n";
	const char *text = "addresses are required for ports serving TCP (or unset) protocol when "
			   "ISTIO_META_DNS_AUTO_ALLOCATE is not set on a proxy";
	char yaml[1024];

	/* NONE: never auto-allocated. Exactly "" or "TCP": "tcp" does not count. */
	snprintf(yaml, sizeof(yaml), SE "  hosts: [a.example.com]\n%s", port_list);
	f = tu_validate(yaml);
	tu_expect_at(f, W, "spec.ports[0]", text, 8, 5);
	tu_expect_at(f, W, "spec.ports[1]", text, 9, 5);
	tu_expect_at(f, W, "spec.ports[2]", "any IP on port 2", 10, 5); /* not Istio's: "tcp" */
	tu_expect_none(f, "spec.ports[2]", text);
	tu_expect_none(f, "spec.ports[3]", NULL);
	/* one finding per port: portcullis' words follow Istio's */
	tu_expect_at(f, W, "spec.ports[0]", "; any IP on port 3306", 8, 5);
	ck_assert_uint_eq(f->nwarn, 4);
	tu_expect_at(f, W, "spec.ports[4]", text, 12, 5);
	ck_assert_uint_eq(f->nerr, 0);
	tu_free(f);

	/* DNS: a VIP is auto-allocated. */
	snprintf(yaml, sizeof(yaml), SE "  hosts: [a.example.com]\n  resolution: DNS\n%s",
		 port_list);
	tu_clean(yaml);

	/* ... unless the object opts out (the value is compared case-insensitively). */
	snprintf(yaml, sizeof(yaml),
		 SE_LABEL("networking.istio.io/enable-autoallocate-ip",
			  "False") "  hosts: [a.example.com]\n  resolution: DNS\n%s",
		 port_list);
	f = tu_validate(yaml);
	tu_expect_at(f, W, "spec.ports[0]", text, 10, 5);
	tu_free(f);

	/* Addresses present: nothing to warn about. */
	snprintf(yaml, sizeof(yaml), SE "  hosts: [a.example.com]\n  addresses: [192.0.2.1]\n%s",
		 port_list);
	tu_clean(yaml);
}
END_TEST

/* portcullis' own warning: NONE without addresses on a port not matched by name. */
START_TEST(any_ip_warning)
{
	struct pc_findings *f;
	static const char port_list[] = "  ports:\n"
					"  - {name: tcp, number: 3306, protocol: TCP}\n"
					"  - {name: db, number: 3307, protocol: MySQL}\n"
					"  - {name: a, number: 1}\n"
					"  - {name: tls, number: 443, protocol: TLS}\n"
					"  - {name: https-api, number: 8443}\n"
					"  - {name: web, number: 80, protocol: http}\n"
					"  - {name: http-alt, number: 8080}\n"
					"  - {name: mongo-x, number: 27017}\n";
	char yaml[1024];

	snprintf(yaml, sizeof(yaml), SE "  hosts: [\"*.example.com\"]\n%s", port_list);
	f = tu_validate(yaml);
	tu_expect_at(f, W, "spec.ports[0]", "any IP on port 3306: without addresses", 8, 5);
	tu_expect_at(f, W, "spec.ports[1]", "any IP on port 3307", 9, 5);
	tu_expect_at(f, W, "spec.ports[2]", "any IP on port 1", 10, 5);
	/* TLS and HTTP, declared or by name: matched by SNI or Host, a wildcard is fine */
	tu_expect_none(f, "spec.ports[3]", "any IP");
	tu_expect_none(f, "spec.ports[4]", "any IP");
	tu_expect_none(f, "spec.ports[5]", "any IP");
	tu_expect_none(f, "spec.ports[6]", "any IP");
	tu_expect_at(f, W, "spec.ports[7]", "any IP on port 27017", 15, 5);
	ck_assert_uint_eq(tu_count(f, W, "any IP"), 4);
	ck_assert_uint_eq(f->nerr, 0);
	tu_free(f);

	/* not with addresses, not with another resolution */
	snprintf(yaml, sizeof(yaml), SE "  hosts: [a.example.com]\n  addresses: [192.0.2.1]\n%s",
		 port_list);
	f = tu_validate(yaml);
	ck_assert_uint_eq(tu_count(f, W, "any IP"), 0);
	tu_free(f);
	snprintf(yaml, sizeof(yaml), SE "  hosts: [a.example.com]\n  resolution: DNS\n%s",
		 port_list);
	f = tu_validate(yaml);
	ck_assert_uint_eq(tu_count(f, W, "any IP"), 0);
	tu_free(f);
}
END_TEST

/* ---- 9: per resolution ---- */

START_TEST(resolution_none)
{
	struct pc_findings *f;

	f = tu_validate(SE "  hosts: [a.example.com]\n"
			   "  addresses: [203.0.113.1]\n"
			   "  endpoints:\n"
			   "  - address: 10.0.0.1\n");
	tu_expect_at(f, E, "spec.endpoints",
		     "no endpoints should be provided for resolution type none", 9, 3);
	ck_assert_uint_eq(f->n, 1);
	tu_free(f);

	/* CRD only: has(endpoints) is true for an empty list. */
	f = tu_validate(SE "  hosts: [a.example.com]\n"
			   "  addresses: [203.0.113.1]\n"
			   "  endpoints: []\n");
	tu_expect_at(f, E, "spec.endpoints", "NONE mode cannot set endpoints", 8, 14);
	ck_assert_uint_eq(f->n, 1);
	tu_free(f);

	/* Go does not look inside NONE endpoints; the CRD does. */
	f = tu_validate(SE "  hosts: [a.example.com]\n"
			   "  addresses: [203.0.113.1]\n"
			   "  endpoints:\n"
			   "  - ports: {http: 0}\n"
			   "  - address: unix://rel\n");
	tu_expect_at(f, E, "spec.endpoints", "no endpoints should be provided", 9, 3);
	tu_expect_at(f, E, "spec.endpoints[0]", "Address is required", 9, 5);
	tu_expect_at(f, E, "spec.endpoints[0].ports[http]", "port must be between 1-65535", 9, 19);
	tu_expect_at(f, E, "spec.endpoints[1].address",
		     "UDS must be an absolute path or abstract socket", 10, 14);
	tu_free(f);

	f = tu_validate(SE "  hosts: [a.example.com]\n"
			   "  addresses: [203.0.113.1]\n"
			   "  workloadSelector: {labels: {app: db}}\n");
	tu_expect_at(f, W, "spec.workloadSelector",
		     "workloadSelector should not be set when resolution mode is NONE", 8, 21);
	ck_assert_uint_eq(f->n, 1);
	tu_free(f);

	tu_clean(SE "  hosts: [a.example.com]\n  addresses: [203.0.113.1]\n  resolution: NONE\n");
}
END_TEST

START_TEST(resolution_static_endpoints)
{
	struct pc_findings *f;

	f = tu_validate(SE "  hosts: [a.example.com]\n"
			   "  resolution: STATIC\n"
			   "  ports:\n"
			   "  - {name: http, number: 80, protocol: HTTP}\n"
			   "  endpoints:\n"
			   "  - address: 10.0.0.1\n"
			   "    ports: {http: 8080}\n"
			   "  - address: db.example.com\n"
			   "  - address: 10.0.0.2\n"
			   "    ports: {grpc: 9090, http: 0}\n"
			   "  - network: net1\n"
			   "  - labels: {\"bad key!\": x}\n"
			   "  - address: 10.0.0.3\n"
			   "    labels: {\"bad key!\": v, ok: \"bad value!\"}\n");
	tu_expect_none(f, "spec.endpoints[0].address", NULL);
	tu_expect_none(f, "spec.endpoints[0].ports[http]", NULL);
	tu_expect_at(f, E, "spec.endpoints[1].address",
		     "endpoint address \"db.example.com\" is not a valid IP address", 13, 14);
	tu_expect_at(f, E, "spec.endpoints[2].ports[grpc]",
		     "endpoint port 9090 is not defined by the service entry", 15, 19);
	tu_expect_at(f, E, "spec.endpoints[2].ports[http]",
		     "port number 0 must be in the range 1..65535", 15, 31);
	tu_expect_at(f, W, "spec.endpoints[3].address", "address is unset with network \"net1\"",
		     16, 5);
	/* No address, no network: Go stops there, the labels are not looked at. */
	tu_expect_at(f, E, "spec.endpoints[4].address", "address is required", 17, 5);
	tu_expect_none(f, "spec.endpoints[4].labels[bad key!]", NULL);
	tu_expect_none(f, "spec.endpoints[4]", "Address is required");
	tu_expect_at(f, E, "spec.endpoints[5].labels[bad key!]", "invalid tag key: \"bad key!\"",
		     19, 26);
	tu_expect_at(f, E, "spec.endpoints[5].labels[ok]", "invalid tag value: \"bad value!\"", 19,
		     33);
	ck_assert_uint_eq(f->n, 7);
	tu_free(f);

	/* Zero endpoints and no selector is fine for STATIC. */
	tu_clean(SE "  hosts: [a.example.com]\n  resolution: STATIC\n");
}
END_TEST

START_TEST(resolution_static_unix)
{
	struct pc_findings *f;

	f = tu_validate(SE "  hosts: [a.example.com]\n"
			   "  resolution: STATIC\n"
			   "  ports:\n"
			   "  - {name: http, number: 80, protocol: HTTP}\n"
			   "  - {name: grpc, number: 81, protocol: GRPC}\n"
			   "  endpoints:\n"
			   "  - address: unix:///var/run/a.sock\n"
			   "  - address: unix://relative\n"
			   "  - address: \"unix://\"\n"
			   "  - address: unix:///var/run/dir/\n"
			   "  - address: unix://@abstract\n"
			   "    ports: {http: 80}\n");
	tu_expect_at(f, E, "spec.endpoints[0]",
		     "exactly 1 service port required for unix endpoints", 12, 5);
	tu_expect_at(f, E, "spec.endpoints[1].address",
		     "relative is not an absolute path to a file", 13, 14);
	tu_expect_at(f, E, "spec.endpoints[2].address", "unix address must not be empty", 14, 14);
	tu_expect_at(f, E, "spec.endpoints[3].address",
		     "/var/run/dir/ is not an absolute path to a file", 15, 14);
	tu_expect_at(f, E, "spec.endpoints[4].ports",
		     "unix endpoint unix://@abstract must not include ports", 17, 12);
	tu_expect_none(f, "spec.endpoints[1].address", "UDS"); /* Go said it already */
	tu_free(f);

	/* One service port (two entries of one name count once, as Go's set does). */
	tu_clean(SE "  hosts: [a.example.com]\n"
		    "  resolution: STATIC\n"
		    "  ports: [{name: http, number: 80, protocol: HTTP}]\n"
		    "  endpoints:\n"
		    "  - address: unix:///var/run/a.sock\n"
		    "  - address: unix://@abstract\n");
}
END_TEST

START_TEST(resolution_dns_hosts)
{
	struct pc_findings *f;

	f = tu_validate(SE "  hosts: [\"*.example.com\", api.example.com]\n"
			   "  resolution: DNS\n"
			   "  ports: [{name: https, number: 443, protocol: TLS}]\n");
	tu_expect_at(f, E, "spec.hosts[0]",
		     "hosts must be FQDN if no endpoints are provided for resolution mode DNS", 6,
		     11);
	tu_expect_none(f, "spec.hosts[1]", NULL);
	ck_assert_uint_eq(f->n, 1);
	tu_free(f);

	f = tu_validate(SE "  hosts: [\"*.example.com\"]\n"
			   "  resolution: DNS_ROUND_ROBIN\n"
			   "  ports: [{name: https, number: 443, protocol: TLS}]\n");
	tu_expect_at(f, E, "spec.hosts[0]",
		     "hosts must be FQDN if no endpoints are provided for resolution mode "
		     "DNS_ROUND_ROBIN",
		     6, 11);
	tu_free(f);

	/* With endpoints, a wildcard host is fine. */
	tu_clean(SE "  hosts: [\"*.example.com\"]\n"
		    "  resolution: DNS\n"
		    "  ports: [{name: https, number: 443, protocol: TLS}]\n"
		    "  endpoints: [{address: proxy.example.com}]\n");
}
END_TEST

START_TEST(resolution_dns_endpoints)
{
	struct pc_findings *f;

	f = tu_validate(SE "  hosts: [\"*.example.com\"]\n"
			   "  resolution: DNS\n"
			   "  ports: [{name: http, number: 80, protocol: HTTP}]\n"
			   "  endpoints:\n"
			   "  - address: db.example.com\n"
			   "    ports: {http: 8080, tcp: 3306}\n"
			   "    labels: {\"a b\": c}\n"
			   "  - address: \"not valid!\"\n"
			   "  - address: unix:///x.sock\n"
			   "  - address: 192.0.2.7\n"
			   "  - network: n1\n");
	tu_expect_none(f, "spec.endpoints[0].address", NULL);
	tu_expect_none(f, "spec.endpoints[0].ports[http]", NULL);
	tu_expect_at(f, E, "spec.endpoints[0].ports[tcp]",
		     "endpoint port 3306 is not defined by the service entry", 11, 30);
	tu_expect_at(f, E, "spec.endpoints[0].labels[a b]", "invalid tag key: \"a b\"", 12, 21);
	tu_expect_at(f, E, "spec.endpoints[1].address",
		     "endpoint address \"not valid!\" is not a valid FQDN or an IP address", 13,
		     14);
	tu_expect_at(f, E, "spec.endpoints[2].address",
		     "endpoint address \"unix:///x.sock\" is not a valid FQDN or an IP address", 14,
		     14);
	tu_expect_none(f, "spec.endpoints[3].address", NULL);
	/* DNS does not use validateWorkloadEntry: an empty address is no FQDN. */
	tu_expect_at(f, E, "spec.endpoints[4].address",
		     "endpoint address \"\" is not a valid FQDN or an IP address", 16, 5);
	ck_assert_uint_eq(f->n, 5);
	tu_free(f);

	f = tu_validate(SE "  hosts: [api.example.com]\n"
			   "  resolution: DNS_ROUND_ROBIN\n"
			   "  ports: [{name: http, number: 80, protocol: HTTP}]\n"
			   "  endpoints:\n"
			   "  - address: a.example.com\n"
			   "  - address: b.example.com\n");
	tu_expect_at(f, E, "spec.endpoints",
		     "there must only be 0 or 1 endpoint for resolution mode DNS_ROUND_ROBIN", 10,
		     3);
	ck_assert_uint_eq(f->n, 1); /* not again as the CRD's rule */
	tu_free(f);
	tu_clean(SE "  hosts: [api.example.com]\n"
		    "  resolution: DNS_ROUND_ROBIN\n"
		    "  ports: [{name: http, number: 80, protocol: HTTP}]\n"
		    "  endpoints: [{address: a.example.com}]\n");
}
END_TEST

START_TEST(resolution_dns_warnings)
{
	struct pc_findings *f;

	f = tu_validate(SE "  hosts: [api.example.com]\n"
			   "  resolution: DNS\n"
			   "  ports: [{name: http, number: 80, protocol: HTTP}]\n"
			   "  workloadSelector: {labels: {app: x}}\n");
	tu_expect_at(f, W, "spec.workloadSelector",
		     "workloadSelector should not be set when resolution mode is DNS", 9, 21);
	ck_assert_uint_eq(f->n, 1);
	tu_free(f);

	/* Addresses, two hosts and a TCP-family port (TLS, so no multi-host error). */
	f = tu_validate(SE "  hosts: [a.example.com, b.example.com]\n"
			   "  addresses: [203.0.113.1]\n"
			   "  resolution: DNS\n"
			   "  ports: [{name: tls, number: 443, protocol: TLS}]\n");
	tu_expect_at(f, W, "spec.hosts",
		     "service entry can not have more than one host specified simultaneously with "
		     "address "
		     "and tcp port",
		     6, 10);
	ck_assert_uint_eq(f->n, 1);
	tu_free(f);

	/* One host, or an HTTP port: no warning. */
	tu_clean(SE "  hosts: [a.example.com]\n"
		    "  addresses: [203.0.113.1]\n"
		    "  resolution: DNS\n"
		    "  ports: [{name: tls, number: 443, protocol: TLS}]\n");
	tu_clean(SE "  hosts: [a.example.com, b.example.com]\n"
		    "  addresses: [203.0.113.1]\n"
		    "  resolution: DNS\n"
		    "  ports: [{name: http, number: 80, protocol: HTTP}]\n");
}
END_TEST

START_TEST(resolution_dynamic_dns)
{
	struct pc_findings *f;

	/* Wildcards of any form; no partial-wildcard warning for this mode. */
	tu_clean(SE "  hosts: [\"*.example.com\", \"*foo.example.org\"]\n"
		    "  resolution: DYNAMIC_DNS\n"
		    "  ports:\n"
		    "  - {name: https, number: 443, protocol: TLS}\n"
		    "  - {name: http, number: 80, protocol: http}\n"
		    "  - {name: grpc, number: 81, protocol: GRPC}\n"
		    "  - {name: h2, number: 82, protocol: HTTP2}\n");

	f = tu_validate(SE_LABEL("istio.io/use-waypoint",
				 "waypoint") "  hosts: [api.example.com]\n"
					     "  addresses: [203.0.113.1]\n"
					     "  resolution: DYNAMIC_DNS\n"
					     "  location: MESH_INTERNAL\n"
					     "  ports: [{name: pg, number: 5432, protocol: TCP}]\n"
					     "  endpoints: [{address: 10.0.0.1}]\n");
	tu_expect_at(f, E, "spec.hosts[0]",
		     "host must be wildcarded for resolution mode DYNAMIC_DNS", 7, 11);
	tu_expect_at(f, E, "spec.addresses",
		     "addresses are not supported for resolution mode DYNAMIC_DNS", 8, 14);
	tu_expect_at(f, E, "spec.endpoints",
		     "endpoints are not supported for resolution mode DYNAMIC_DNS", 12, 14);
	tu_expect_at(f, E, "spec.ports[0].protocol",
		     "only HTTP, TLS, GRPC, and HTTP2 protocols are supported for resolution mode "
		     "DYNAMIC_DNS",
		     11, 46);
	tu_expect_at(f, E, "spec.location", "DYNAMIC_DNS is not supported for MESH_INTERNAL", 10,
		     13);
	tu_free(f);

	/* A waypoint label of "none" opts out of waypoints. */
	tu_clean(SE_LABEL("istio.io/use-waypoint",
			  "none") "  hosts: [\"*.example.com\"]\n"
				  "  resolution: DYNAMIC_DNS\n"
				  "  location: MESH_INTERNAL\n"
				  "  ports: [{name: https, number: 443, protocol: TLS}]\n");
}
END_TEST

START_TEST(resolution_undecodable)
{
	struct pc_findings *f;

	/* A misspelt enum: the decoder's error, and no rule for a guessed mode. */
	f = tu_validate(SE "  hosts: [a.example.com]\n"
			   "  resolution: dns\n"
			   "  endpoints: [{address: 10.0.0.1}]\n");
	tu_expect_at(f, E, "spec.resolution", "Unsupported value: \"dns\"", 7, 15);
	ck_assert_uint_eq(f->n, 1);
	tu_free(f);
}
END_TEST

/* ---- 10: several hosts ---- */

START_TEST(multiple_hosts)
{
	struct pc_findings *f;

	f = tu_validate(SE "  hosts: [a.example.com, b.example.com]\n"
			   "  resolution: DNS\n"
			   "  ports:\n"
			   "  - {name: http, number: 80, protocol: HTTP}\n"
			   "  - {name: tcp, number: 5432, protocol: TCP}\n"
			   "  - {name: x, number: 1}\n");
	tu_expect_at(f, E, "spec.ports[1].protocol",
		     "multiple hosts provided with non-HTTP, non-TLS ports", 10, 41);
	tu_expect_none(f, "spec.ports[2].protocol", NULL); /* reported once */
	ck_assert_uint_eq(f->n, 1);
	tu_free(f);

	/* An empty protocol is neither HTTP nor TLS. */
	f = tu_validate(SE "  hosts: [a.example.com, b.example.com]\n"
			   "  resolution: STATIC\n"
			   "  ports: [{name: x, number: 1}]\n");
	tu_expect_at(f, E, "spec.ports[0].protocol",
		     "multiple hosts provided with non-HTTP, non-TLS ports", 8, 11);
	tu_free(f);

	/* NONE ignores host names; HTTP-family and TLS-family ports are fine. */
	f = tu_validate(SE "  hosts: [a.example.com, b.example.com]\n"
			   "  ports: [{name: tcp, number: 5432, protocol: TCP}]\n");
	tu_expect_none(f, "spec.ports[0].protocol", NULL);
	tu_expect_valid(f);
	tu_free(f);
	tu_clean(SE "  hosts: [a.example.com, b.example.com]\n"
		    "  resolution: DNS\n"
		    "  ports:\n"
		    "  - {name: http, number: 80, protocol: HTTP}\n"
		    "  - {name: https, number: 443, protocol: HTTPS}\n"
		    "  - {name: grpc-web, number: 81, protocol: GRPC-Web}\n");
}
END_TEST

/* ---- 11: exportTo ---- */

START_TEST(export_to)
{
	struct pc_findings *f;

	tu_clean(SE "  hosts: [a.example.com]\n"
		    "  addresses: [203.0.113.1]\n"
		    "  exportTo: [\"~\"]\n"); /* allowed for a ServiceEntry only */

	f = tu_validate(SE "  hosts: [a.example.com]\n"
			   "  addresses: [203.0.113.1]\n"
			   "  exportTo: [\"~\", \".\"]\n");
	tu_expect_at(f, E, "spec.exportTo", "cannot export service entry to no one (~) and someone",
		     8, 13);
	tu_free(f);

	f = tu_validate(SE "  hosts: [a.example.com]\n"
			   "  addresses: [203.0.113.1]\n"
			   "  exportTo: [default, \".\", Bad_NS]\n");
	tu_expect_at(f, E, "spec.exportTo",
		     "duplicate entries in exportTo: . and current namespace default", 8, 13);
	tu_expect_at(f, E, "spec.exportTo",
		     "only .,*,~, or a valid DNS 1123 label is allowed as exportTo entry", 8, 13);
	tu_free(f);

	/* Go names "." only when it comes after the namespace itself. */
	f = tu_validate(SE "  hosts: [a.example.com]\n"
			   "  addresses: [203.0.113.1]\n"
			   "  exportTo: [\".\", default, \"*\"]\n");
	tu_expect_at(f, E, "spec.exportTo", "duplicate entries in exportTo for entry default", 8,
		     13);
	tu_expect_at(f, E, "spec.exportTo",
		     "cannot have both public (*) and non-public exportTo values for a resource", 8,
		     13);
	tu_free(f);
}
END_TEST

/* ---- CRD limits ---- */

typedef void item_fn(char *buf, size_t size, size_t i);

static void host_item(char *buf, size_t size, size_t i)
{
	snprintf(buf, size, "h%zu.example.com", i);
}

static void address_item(char *buf, size_t size, size_t i)
{
	snprintf(buf, size, "10.0.%zu.%zu", i / 250, i % 250 + 1);
}

static void port_item(char *buf, size_t size, size_t i)
{
	snprintf(buf, size, "{name: p%zu, number: %zu, protocol: HTTP}", i, i + 1);
}

static void endpoint_item(char *buf, size_t size, size_t i)
{
	snprintf(buf, size, "{address: 10.%zu.%zu.1}", i / 250, i % 250);
}

/* A ServiceEntry whose <field> is a flow list of <n> items made by <item>. */
static char *with_list(const char *before, const char *field, size_t n, item_fn *item,
		       const char *after)
{
	size_t cap = 1024 + n * 64, len, i;
	char *s = malloc(cap), one[64];

	ck_assert_ptr_nonnull(s);
	len = (size_t)snprintf(s, cap, SE "%s  %s: [", before, field);
	for (i = 0; i < n; i++) {
		item(one, sizeof(one), i);
		len += (size_t)snprintf(s + len, cap - len, "%s%s", i ? ", " : "", one);
	}
	snprintf(s + len, cap - len, "]\n%s", after);
	return s;
}

/* <max> items are accepted, one more is the CRD's "Too many". */
static void too_many(const char *before, const char *field, size_t max, item_fn *item,
		     const char *after, unsigned line, unsigned col)
{
	struct pc_findings *f;
	char want[64], path[32];
	char *s;

	s = with_list(before, field, max + 1, item, after);
	f = tu_validate(s);
	snprintf(want, sizeof(want), "Too many: %zu: must have at most %zu items", max + 1, max);
	snprintf(path, sizeof(path), "spec.%s", field);
	tu_expect_at(f, E, path, want, line, col);
	ck_assert_uint_eq(f->n, 1);
	tu_free(f);
	free(s);
	s = with_list(before, field, max, item, after);
	tu_clean(s);
	free(s);
}

START_TEST(crd_limits)
{
	struct pc_findings *f;

	too_many("", "hosts", 256, host_item, "  addresses: [203.0.113.1]\n", 6, 10);
	too_many("  hosts: [a.example.com]\n", "addresses", 256, address_item, "", 7, 14);
	too_many("  hosts: [a.example.com]\n  addresses: [203.0.113.1]\n", "ports", 256, port_item,
		 "", 8, 10);
	too_many("  hosts: [a.example.com]\n  resolution: STATIC\n", "endpoints", 4096,
		 endpoint_item, "", 8, 14);

	/* Selector label values: at most 63 bytes (Go has no limit). */
	f = tu_validate(SE "  hosts: [a.example.com]\n"
			   "  resolution: STATIC\n"
			   "  workloadSelector:\n"
			   "    labels: {app: "
			   "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa}\n");
	tu_expect_at(f, E, "spec.workloadSelector.labels[app]",
		     "Too long: may not be more than 63 bytes", 9, 19);
	ck_assert_uint_eq(f->n, 1);
	tu_free(f);
	tu_clean(SE "  hosts: [a.example.com]\n"
		    "  resolution: STATIC\n"
		    "  workloadSelector:\n"
		    "    labels: {app: "
		    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa}\n");
}
END_TEST

START_TEST(selector_label_count)
{
	struct pc_findings *f;
	size_t cap = 16384, len, i;
	char *s = malloc(cap);

	ck_assert_ptr_nonnull(s);
	len = (size_t)snprintf(s, cap,
			       SE "  hosts: [a.example.com]\n"
				  "  resolution: STATIC\n"
				  "  workloadSelector:\n"
				  "    labels: {");
	for (i = 0; i < 257; i++)
		len += (size_t)snprintf(s + len, cap - len, "%sk%zu: v", i ? ", " : "", i);
	snprintf(s + len, cap - len, "}\n");
	f = tu_validate(s);
	tu_expect_at(f, E, "spec.workloadSelector.labels",
		     "Too many: 257: must have at most 256 items", 9, 13);
	ck_assert_uint_eq(f->n, 1);
	tu_free(f);
	free(s);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("model.serviceentry");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, seed_sample);
	tcase_add_test(tc, selector_errors_return_early);
	tcase_add_test(tc, selector_without_labels);
	tcase_add_test(tc, selector_or_endpoints);
	tcase_add_test(tc, hosts);
	tcase_add_test(tc, addresses);
	tcase_add_test(tc, cidr_needs_none_or_static);
	tcase_add_test(tc, ports);
	tcase_add_test(tc, duplicate_ports_many);
	tcase_add_test(tc, tcp_needs_addresses_warning);
	tcase_add_test(tc, any_ip_warning);
	tcase_add_test(tc, resolution_none);
	tcase_add_test(tc, resolution_static_endpoints);
	tcase_add_test(tc, resolution_static_unix);
	tcase_add_test(tc, resolution_dns_hosts);
	tcase_add_test(tc, resolution_dns_endpoints);
	tcase_add_test(tc, resolution_dns_warnings);
	tcase_add_test(tc, resolution_dynamic_dns);
	tcase_add_test(tc, resolution_undecodable);
	tcase_add_test(tc, multiple_hosts);
	tcase_add_test(tc, export_to);
	tcase_add_test(tc, crd_limits);
	tcase_add_test(tc, selector_label_count);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
