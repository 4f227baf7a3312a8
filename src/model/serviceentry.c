/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * model/serviceentry.c - ServiceEntry: schema and validation.
 *
 * The rules are those of ValidateServiceEntry() in istio/istio
 * pkg/config/validation/validation.go (reference §1.4, with the
 * corrections of the SE/WE research notes), in Go's order: workload
 * selector (whose errors end validation, as in Go), hosts, addresses,
 * ports, the per-resolution rules, the multi-host rule and exportTo. The
 * CRD's own rules (reference §1.6: size limits, presence-based CEL rules)
 * come last and only report what the Go rules let through, so no problem
 * is reported twice. Where Go walks a map, we use source order.
 *
 * Values the decoder could not decode (a number where a string belongs, a
 * misspelt enum) were reported by it and are skipped here instead of
 * being judged again as their zero values.
 */
#include "model/serviceentry.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/arena.h"
#include "model/common.h"
#include "model/node.h"
#include "model/resource.h"
#include "model/rules.h"
#include "model/vctx.h"
#include "model/workloadentry.h"

/* CRD limits of the ServiceEntry message. */
#define CRD_MAX_HOSTS          256
#define CRD_MAX_ADDRESSES      256
#define CRD_MAX_ADDRESS_LEN    64
#define CRD_MAX_PORTS          256
#define CRD_MAX_ENDPOINTS      4096
#define CRD_MAX_SELECTOR       256
#define CRD_MAX_SELECTOR_VALUE 63

/* Istio's label.NetworkingEnableAutoallocateIp: "false" opts out of VIP allocation. */
#define LABEL_AUTOALLOCATE "networking.istio.io/enable-autoallocate-ip"
/* Istio's label.IoIstioUseWaypoint. */
#define LABEL_USE_WAYPOINT "istio.io/use-waypoint"

const char *const pc_se_location_names[] = { "MESH_EXTERNAL", "MESH_INTERNAL", NULL };
const char *const pc_se_resolution_names[] = {
	"NONE", "STATIC", "DNS", "DNS_ROUND_ROBIN", "DYNAMIC_DNS", NULL,
};

static const struct pc_field service_port_fields[] = {
	PC_FIELD("number", PC_FT_UINT32, struct pc_service_port, number),
	PC_FIELD("protocol", PC_FT_STRING, struct pc_service_port, protocol),
	PC_FIELD("name", PC_FT_STRING, struct pc_service_port, name),
	PC_FIELD("targetPort", PC_FT_UINT32, struct pc_service_port, target_port),
	PC_FIELD_END,
};

const struct pc_schema pc_service_port_schema = { "ServicePort", sizeof(struct pc_service_port),
						  service_port_fields, NULL };

static const struct pc_field service_entry_fields[] = {
	PC_FIELD("hosts", PC_FT_STRLIST, struct pc_service_entry, hosts),
	PC_FIELD("addresses", PC_FT_STRLIST, struct pc_service_entry, addresses),
	PC_FIELD_LIST("ports", struct pc_service_entry, ports, pc_service_port_schema),
	PC_FIELD_ENUM("location", struct pc_service_entry, location, pc_se_location_names),
	PC_FIELD_ENUM("resolution", struct pc_service_entry, resolution, pc_se_resolution_names),
	PC_FIELD_LIST("endpoints", struct pc_service_entry, endpoints, pc_workload_entry_schema),
	PC_FIELD_MSG("workloadSelector", struct pc_service_entry, workload_selector,
		     pc_workload_selector_schema),
	PC_FIELD("exportTo", PC_FT_STRLIST, struct pc_service_entry, export_to),
	PC_FIELD("subjectAltNames", PC_FT_STRLIST, struct pc_service_entry, subject_alt_names),
	PC_FIELD_END,
};

const struct pc_schema pc_service_entry_schema = { "ServiceEntry", sizeof(struct pc_service_entry),
						   service_entry_fields, NULL };

/* ---- decode leftovers ---- */

static const char *str0(const char *s)
{
	return s ? s : "";
}

static bool is_str(const struct pc_node *n)
{
	return n->type == PC_NODE_SCALAR && pc_scalar_kind(n) == PC_SCALAR_STR;
}

/* Did item <i> of string-list field <field> of <m> decode? */
static bool item_ok(const void *m, const char *field, size_t i)
{
	const struct pc_node *n = pc_field_node(m, field);

	return n && n->type == PC_NODE_SEQ && i < n->nitems && is_str(n->items[i]);
}

/* Is uint32 field <field> of <m> present but undecodable? */
static bool u32_failed(const void *m, const char *field)
{
	const struct pc_node *n = pc_field_node(m, field);
	long long x;

	if (!n || pc_node_is_null(n))
		return false;
	return !(n->type == PC_NODE_SCALAR && pc_scalar_kind(n) == PC_SCALAR_INT &&
		 pc_scalar_int(n, &x) && x >= 0 && x <= (long long)UINT32_MAX);
}

/* Is field <field> of <m> present as a list (even an empty one)? CEL's has(). */
static bool has_list(const void *m, const char *field)
{
	const struct pc_node *n = pc_field_node(m, field);

	return n && n->type == PC_NODE_SEQ;
}

/* Did the resolution decode (or is it absent, i.e. NONE)? */
static bool resolution_ok(const struct pc_service_entry *se)
{
	const struct pc_node *n = pc_field_node(se, "resolution");

	if (!n || pc_node_is_null(n))
		return true;
	return is_str(n) && pc_node_is(n, pc_se_resolution_names[se->resolution]);
}

/* ---- port name set ---- */

bool pc_service_entry_has_port_name(const struct pc_service_entry *se, const char *name)
{
	size_t i;

	for (i = 0; i < se->ports.n; i++) {
		const struct pc_service_port *p = &se->ports.v[i];

		if (p->hdr.node && strcmp(str0(p->name), name) == 0)
			return true;
	}
	return false;
}

enum pc_protocol pc_service_port_protocol(const struct pc_service_port *sp)
{
	char buf[16];
	size_t n = sp->name ? strcspn(sp->name, "-") : 0;

	if (sp->protocol)
		return pc_protocol_parse(sp->protocol);
	if (n == 0 || n >= sizeof(buf))
		return PC_PROTO_UNSUPPORTED;
	memcpy(buf, sp->name, n);
	buf[n] = '\0';
	return pc_protocol_parse(buf);
}

size_t pc_service_entry_port_name_count(const struct pc_service_entry *se)
{
	size_t i, j, n = 0;

	for (i = 0; i < se->ports.n; i++) {
		const struct pc_service_port *p = &se->ports.v[i];

		if (!p->hdr.node)
			continue;
		for (j = 0; j < i; j++) {
			const struct pc_service_port *q = &se->ports.v[j];

			if (q->hdr.node && strcmp(str0(q->name), str0(p->name)) == 0)
				break;
		}
		n += j == i;
		if (n > 1)
			return n; /* callers only ask "exactly one?"; keep it O(n) */
	}
	return n;
}

static const char *resolution_name(const struct pc_service_entry *se)
{
	unsigned r = (unsigned)se->resolution;

	return r <= PC_SE_RESOLUTION_DYNAMIC_DNS ? pc_se_resolution_names[r] : "";
}

static bool has_label(const struct pc_resource *r, const char *key, const char **val)
{
	size_t i;

	for (i = 0; i < r->meta.labels.n; i++) {
		if (strcmp(r->meta.labels.keys[i], key) == 0) {
			*val = str0(r->meta.labels.vals[i]);
			return true;
		}
	}
	return false;
}

/* ---- workload selector ---- */

/*
 * ValidateAlphaWorkloadSelector. Returns false on an error: Go's
 * ValidateServiceEntry then returns at once, without any other finding.
 */
static bool check_selector(struct pc_vctx *v, const struct pc_service_entry *se)
{
	const struct pc_workload_selector *ws = se->workload_selector;
	bool ok = true;
	size_t i;

	if (!ws)
		return true;
	pc_vpush(v, "workloadSelector");
	pc_vpush(v, "labels");
	for (i = 0; i < ws->labels.n; i++) {
		const char *k = ws->labels.keys[i], *val = str0(ws->labels.vals[i]);

		pc_vpush_key(v, k);
		if (!*k) {
			pc_verr(v, NULL, "empty key is not supported in selector: \"%s=%s\"", k,
				val);
			ok = false;
		}
		if (strchr(k, '*') || strchr(val, '*')) {
			pc_verr(v, NULL, "wildcard is not supported in selector: \"%s=%s\"", k,
				val);
			ok = false;
		}
		pc_vpop(v);
	}
	pc_vpop(v);
	if (ok && ws->labels.n == 0)
		pc_vwarn(v, NULL,
			 "service entry: workload selector specified without labels, "
			 "will be applied to all services in namespace");
	pc_vpop(v);
	return ok;
}

/* Go's "only one of", and the CRD's presence-based version of it. */
static void check_selector_xor_endpoints(struct pc_vctx *v, const struct pc_service_entry *se)
{
	if (!se->workload_selector)
		return;
	if (se->endpoints.n)
		pc_verr(v, "workloadSelector",
			"only one of WorkloadSelector or Endpoints is allowed in Service Entry");
	else if (has_list(se, "endpoints"))
		pc_verr(v, "workloadSelector",
			"only one of WorkloadSelector or Endpoints can be set");
}

/* ---- hosts and addresses ---- */

static void check_hosts(struct pc_vctx *v, const struct pc_service_entry *se)
{
	bool dynamic = se->resolution == PC_SE_RESOLUTION_DYNAMIC_DNS;
	char msg[PC_RULE_MSG];
	size_t i;

	if (se->hosts.n == 0) {
		pc_verr(v, "hosts", "service entry must have at least one host");
		return;
	}
	pc_vpush(v, "hosts");
	for (i = 0; i < se->hosts.n; i++) {
		const char *h = se->hosts.v[i];

		if (!item_ok(se, "hosts", i))
			continue;
		pc_vpush_index(v, i);
		if (strcmp(h, "*") == 0) {
			pc_verr(v, NULL, "invalid host %s", h);
		} else {
			if (pc_check_wildcard_domain(h, msg, sizeof(msg)) < 0)
				pc_verr(v, NULL, "%s", msg);
			/* DYNAMIC_DNS takes any wildcard form; Istio skips this check for it */
			if (!dynamic && pc_check_partial_wildcard(h, msg, sizeof(msg)) < 0)
				pc_vwarn(v, NULL, "%s", msg);
		}
		pc_vpop(v);
	}
	pc_vpop(v);
}

static void check_addresses(struct pc_vctx *v, const struct pc_service_entry *se, bool res_ok)
{
	char msg[PC_RULE_MSG];
	size_t i, cidr = SIZE_MAX;

	pc_vpush(v, "addresses");
	for (i = 0; i < se->addresses.n; i++) {
		const char *a = se->addresses.v[i];

		if (!item_ok(se, "addresses", i))
			continue;
		if (cidr == SIZE_MAX && strchr(a, '/'))
			cidr = i; /* even an invalid one counts, as in Go */
		pc_vpush_index(v, i);
		if (pc_check_ip_subnet(a, msg, sizeof(msg)) < 0)
			pc_verr(v, NULL, "%s", msg);
		else if (strlen(a) > CRD_MAX_ADDRESS_LEN) /* an IPv6 zone can make it long */
			pc_verr(v, NULL, "Too long: may not be more than %d bytes",
				CRD_MAX_ADDRESS_LEN);
		pc_vpop(v);
	}
	/* A /32 counts too: the rule looks for '/', not for a real range. */
	if (cidr != SIZE_MAX && res_ok && se->resolution != PC_SE_RESOLUTION_NONE &&
	    se->resolution != PC_SE_RESOLUTION_STATIC) {
		pc_vpush_index(v, cidr);
		pc_verr(v, NULL,
			"CIDR addresses are allowed only for NONE/STATIC resolution types");
		pc_vpop(v);
	}
	pc_vpop(v);
}

/* ---- ports ---- */

/* What duplicate detection sorts: a port's name and number and its index. */
struct port_key {
	const char *name;
	uint32_t number;
	size_t idx;
};

static int cmp_name(const struct port_key *a, const struct port_key *b)
{
	return strcmp(a->name, b->name);
}

static int cmp_number(const struct port_key *a, const struct port_key *b)
{
	return (a->number > b->number) - (a->number < b->number);
}

static int cmp_idx(const struct port_key *a, const struct port_key *b)
{
	return (a->idx > b->idx) - (a->idx < b->idx);
}

static int by_name(const void *a, const void *b)
{
	int c = cmp_name(a, b);

	return c ? c : cmp_idx(a, b); /* ties in source order */
}

static int by_number(const void *a, const void *b)
{
	int c = cmp_number(a, b);

	return c ? c : cmp_idx(a, b);
}

/*
 * Set <dup>[i] for every port that repeats the name (or number) of an
 * earlier one, as Go's InsertContains() loop does, in O(n log n): port
 * lists are bounded only by the input size. <keys> has room for all ports.
 */
static void mark_dups(const struct pc_service_entry *se, struct port_key *keys, bool *dup,
		      int (*sort_cmp)(const void *, const void *),
		      int (*eq_cmp)(const struct port_key *, const struct port_key *))
{
	size_t i, n = 0;

	for (i = 0; i < se->ports.n; i++) {
		const struct pc_service_port *p = &se->ports.v[i];

		if (!p->hdr.node)
			continue;
		keys[n].name = str0(p->name);
		keys[n].number = p->number;
		keys[n++].idx = i;
	}
	qsort(keys, n, sizeof(*keys), sort_cmp);
	for (i = 1; i < n; i++) {
		if (eq_cmp(&keys[i - 1], &keys[i]) == 0)
			dup[keys[i].idx] = true;
	}
}

/*
 * serviceentry.ShouldV2AutoAllocateIPFromConfig with Istio's default
 * PILOT_ENABLE_IP_AUTOALLOCATE=true: a VIP is allocated unless resolution
 * is NONE, the object opts out by label, or it has addresses.
 */
static bool auto_allocation(const struct pc_resource *r, const struct pc_service_entry *se)
{
	const char *val;

	if (se->resolution == PC_SE_RESOLUTION_NONE)
		return false;
	if (has_label(r, LABEL_AUTOALLOCATE, &val) && strcasecmp(val, "false") == 0)
		return false;
	return se->addresses.n == 0;
}

struct port_ctx {
	bool dup_name;
	bool dup_number;
	bool warn_tcp; /* no addresses and no auto-allocated VIP */
	bool any_ip;   /* no addresses and resolution NONE: 0.0.0.0:<port> */
};

/*
 * The port's protocol as the proxy sees it: the declared one, else Istio's
 * port-name convention (the name up to its first '-': "https-api" is HTTPS).
 */
static enum pc_protocol effective_protocol(const struct pc_service_port *p)
{
	const char *name = str0(p->name);
	size_t n = strcspn(name, "-");
	char buf[16];

	if (p->protocol && *p->protocol)
		return pc_protocol_parse(p->protocol);
	if (n == 0 || n >= sizeof(buf))
		return PC_PROTO_UNSUPPORTED;
	memcpy(buf, name, n);
	buf[n] = '\0';
	return pc_protocol_parse(buf);
}

/* Does the port carry TLS or HTTP (matched by SNI or Host), or UDP (not relayed)? */
static bool by_name_or_udp(const struct pc_service_port *p)
{
	enum pc_protocol proto = effective_protocol(p);

	return pc_protocol_is_tls(proto) || pc_protocol_is_http(proto) || proto == PC_PROTO_UDP;
}

/*
 * portcullis' own words (not Istio's): a port that is matched neither by
 * address nor by name (SNI, Host) lets every IP out on it. TLS and HTTP
 * ports without addresses are matched by name, so they are fine. When
 * Istio's own warning is given for the port, this follows its text in
 * the same finding: one problem, one finding.
 */
#define ANY_IP_FMT                                                                        \
	"any IP on port %u: without addresses and with resolution NONE this port is not " \
	"matched by destination (Istio's 0.0.0.0:%u listener); add addresses, or declare "  \
	"protocol TLS or HTTP to match by server name (apps that resolve the host through "  \
	"portcullis's DNS proxy reach it on an address of its own: doc/dns.md)"
static void check_port(struct pc_vctx *v, const struct pc_service_port *p, const struct port_ctx *c)
{
	const char *proto = str0(p->protocol);
	char msg[PC_RULE_MSG];

	if (c->dup_name)
		pc_verr(v, "name", "service entry port name \"%s\" already defined", str0(p->name));
	if (c->dup_number)
		pc_verr(v, "number", "service entry port %u already defined", p->number);
	if (p->target_port && pc_check_port(p->target_port, msg, sizeof(msg)) < 0)
		pc_verr(v, "targetPort", "%s", msg);
	else if (!p->target_port && pc_has(p, "targetPort") && !u32_failed(p, "targetPort"))
		pc_verr(v, "targetPort", "port must be between 1-65535"); /* CRD only */
	/*
	 * "targetPort has no effect when resolution mode is NONE" is gated by
	 * !ENABLE_RESOLUTION_NONE_TARGET_PORT, true by default: never emitted.
	 * The protocol test below is exact and case-sensitive, as in Go.
	 */
	if (c->warn_tcp && !(pc_has(p, "protocol") && !p->protocol) &&
	    (!*proto || strcmp(proto, "TCP") == 0)) {
		if (c->any_ip && !by_name_or_udp(p) && !u32_failed(p, "number"))
			pc_vwarn(v, NULL,
				 "addresses are required for ports serving TCP (or unset) protocol "
				 "when ISTIO_META_DNS_AUTO_ALLOCATE is not set on a proxy; "
				 ANY_IP_FMT,
				 p->number, p->number);
		else
			pc_vwarn(v, NULL,
				 "addresses are required for ports serving TCP (or unset) protocol "
				 "when ISTIO_META_DNS_AUTO_ALLOCATE is not set on a proxy");
	} else if (c->any_ip && !by_name_or_udp(p) && !u32_failed(p, "number")) {
		pc_vwarn(v, NULL, ANY_IP_FMT, p->number, p->number);
	}
	if (!(pc_has(p, "name") && !p->name) &&
	    pc_check_port_name(str0(p->name), msg, sizeof(msg)) < 0)
		pc_verr(v, "name", "%s%s", msg, p->name ? "" : "(a port name is required)");
	if (pc_check_protocol(proto, msg, sizeof(msg)) < 0)
		pc_verr(v, "protocol", "%s", msg);
	if (!u32_failed(p, "number") && pc_check_port(p->number, msg, sizeof(msg)) < 0)
		pc_verr(v, "number", "%s", msg);
}

static void check_ports(struct pc_vctx *v, const struct pc_resource *r,
			const struct pc_service_entry *se, bool res_ok)
{
	struct port_key *keys;
	struct port_ctx c = { 0 };
	bool *dup_name, *dup_number;
	size_t i, n = se->ports.n;

	if (n == 0)
		return;
	keys = pc_arena_calloc(v->arena, n, sizeof(*keys));
	dup_name = pc_arena_calloc(v->arena, n, sizeof(*dup_name));
	dup_number = pc_arena_calloc(v->arena, n, sizeof(*dup_number));
	if (!keys || !dup_name || !dup_number) {
		pc_verr(v, "ports", "out of memory while validating ports");
		return;
	}
	mark_dups(se, keys, dup_name, by_name, cmp_name);
	mark_dups(se, keys, dup_number, by_number, cmp_number);
	c.warn_tcp = res_ok && se->addresses.n == 0 && !auto_allocation(r, se);
	c.any_ip = res_ok && se->addresses.n == 0 && se->resolution == PC_SE_RESOLUTION_NONE;
	pc_vpush(v, "ports");
	for (i = 0; i < n; i++) {
		if (!se->ports.v[i].hdr.node)
			continue; /* Go: "service entry port may not be null"; decoder said so */
		c.dup_name = dup_name[i];
		c.dup_number = dup_number[i];
		pc_vpush_index(v, i);
		check_port(v, &se->ports.v[i], &c);
		pc_vpop(v);
	}
	pc_vpop(v);
}

/* ---- resolution ---- */

/* The CRD's checks of endpoints whose content Go does not look at. */
static void crd_endpoints(struct pc_vctx *v, const struct pc_service_entry *se)
{
	size_t i;

	pc_vpush(v, "endpoints");
	for (i = 0; i < se->endpoints.n; i++) {
		if (!se->endpoints.v[i].hdr.node)
			continue;
		pc_vpush_index(v, i);
		pc_workload_entry_check_crd(v, &se->endpoints.v[i], false);
		pc_vpop(v);
	}
	pc_vpop(v);
}

static void check_none(struct pc_vctx *v, const struct pc_service_entry *se)
{
	if (se->endpoints.n)
		pc_verr(v, "endpoints", "no endpoints should be provided for resolution type none");
	else if (has_list(se, "endpoints"))
		pc_verr(v, "endpoints", "NONE mode cannot set endpoints"); /* CRD: presence */
	crd_endpoints(v, se);
	if (se->workload_selector)
		pc_vwarn(v, "workloadSelector",
			 "workloadSelector should not be set when resolution mode is NONE");
}

static void check_static(struct pc_vctx *v, const struct pc_service_entry *se)
{
	size_t i;

	pc_vpush(v, "endpoints");
	for (i = 0; i < se->endpoints.n; i++) {
		if (!se->endpoints.v[i].hdr.node)
			continue; /* Go: "endpoint cannot be nil"; decoder said so */
		pc_vpush_index(v, i);
		pc_workload_entry_check(v, &se->endpoints.v[i], se, false);
		pc_vpop(v);
	}
	pc_vpop(v);
}

/* A DNS endpoint: Go does not use validateWorkloadEntry() here. */
static void check_dns_endpoint(struct pc_vctx *v, const struct pc_service_entry *se,
			       const struct pc_workload_entry *ep)
{
	const char *addr = str0(ep->address);
	char msg[PC_RULE_MSG];

	if (!(pc_has(ep, "address") && !ep->address) && !pc_is_ip(addr) &&
	    pc_check_fqdn(addr, msg, sizeof(msg)) < 0)
		pc_verr(v, "address",
			"endpoint address \"%s\" is not a valid FQDN or an IP address", addr);
	pc_vcheck_labels(v, "labels", &ep->labels);
	pc_workload_entry_check_ports(v, ep, se);
	pc_workload_entry_check_crd(v, ep, true);
}

static void check_dns_hosts(struct pc_vctx *v, const struct pc_service_entry *se)
{
	char msg[PC_RULE_MSG];
	size_t i;

	pc_vpush(v, "hosts");
	for (i = 0; i < se->hosts.n; i++) {
		if (!item_ok(se, "hosts", i) ||
		    pc_check_fqdn(se->hosts.v[i], msg, sizeof(msg)) == 0)
			continue;
		pc_vpush_index(v, i);
		pc_verr(v, NULL,
			"hosts must be FQDN if no endpoints are provided for resolution mode %s "
			"(%s)",
			resolution_name(se), msg);
		pc_vpop(v);
	}
	pc_vpop(v);
}

/* With addresses, several hosts and a TCP port: only a warning in Go ("maybe in 1.11+"). */
static void check_dns_tcp_hosts(struct pc_vctx *v, const struct pc_service_entry *se)
{
	size_t i;

	if (se->addresses.n == 0)
		return;
	for (i = 0; i < se->ports.n; i++) {
		const struct pc_service_port *p = &se->ports.v[i];

		if (!p->hdr.node || !pc_protocol_is_tcp(pc_protocol_parse(str0(p->protocol))))
			continue;
		if (se->hosts.n > 1)
			pc_vwarn(v, "hosts",
				 "service entry can not have more than one host specified "
				 "simultaneously with address and tcp port");
		break;
	}
}

static void check_dns(struct pc_vctx *v, const struct pc_service_entry *se)
{
	size_t i;

	if (se->endpoints.n == 0)
		check_dns_hosts(v, se);
	if (se->resolution == PC_SE_RESOLUTION_DNS_ROUND_ROBIN && se->endpoints.n > 1)
		pc_verr(v, "endpoints", "there must only be 0 or 1 endpoint for resolution mode %s",
			resolution_name(se));
	pc_vpush(v, "endpoints");
	for (i = 0; i < se->endpoints.n; i++) {
		if (!se->endpoints.v[i].hdr.node)
			continue;
		pc_vpush_index(v, i);
		check_dns_endpoint(v, se, &se->endpoints.v[i]);
		pc_vpop(v);
	}
	pc_vpop(v);
	if (se->workload_selector)
		pc_vwarn(v, "workloadSelector",
			 "workloadSelector should not be set when resolution mode is %s",
			 resolution_name(se));
	check_dns_tcp_hosts(v, se);
}

static bool dynamic_dns_protocol(const char *proto)
{
	enum pc_protocol p = pc_protocol_parse(proto);

	return p == PC_PROTO_HTTP || p == PC_PROTO_TLS || p == PC_PROTO_GRPC || p == PC_PROTO_HTTP2;
}

static void check_dynamic_dns_ports(struct pc_vctx *v, const struct pc_service_entry *se)
{
	size_t i;

	pc_vpush(v, "ports");
	for (i = 0; i < se->ports.n; i++) {
		const struct pc_service_port *p = &se->ports.v[i];

		if (!p->hdr.node || dynamic_dns_protocol(str0(p->protocol)))
			continue;
		pc_vpush_index(v, i);
		pc_verr(v, "protocol",
			"only HTTP, TLS, GRPC, and HTTP2 protocols are supported for "
			"resolution mode DYNAMIC_DNS");
		pc_vpop(v);
	}
	pc_vpop(v);
}

/*
 * DYNAMIC_DNS (a dynamic forward proxy keyed on Host/SNI) is accepted by
 * Istio 1.29 and later with the rules of reference §1.4 item 7; older
 * webhooks reject it with "unsupported resolution type DYNAMIC_DNS". The
 * message texts here follow the reference, not verified Go source.
 */
static void check_dynamic_dns(struct pc_vctx *v, const struct pc_resource *r,
			      const struct pc_service_entry *se)
{
	const char *val;
	size_t i;

	pc_vpush(v, "hosts");
	for (i = 0; i < se->hosts.n; i++) {
		if (!item_ok(se, "hosts", i) || se->hosts.v[i][0] == '*')
			continue;
		pc_vpush_index(v, i);
		pc_verr(v, NULL, "host must be wildcarded for resolution mode DYNAMIC_DNS");
		pc_vpop(v);
	}
	pc_vpop(v);
	if (se->addresses.n)
		pc_verr(v, "addresses",
			"addresses are not supported for resolution mode DYNAMIC_DNS");
	if (se->endpoints.n)
		pc_verr(v, "endpoints",
			"endpoints are not supported for resolution mode DYNAMIC_DNS");
	crd_endpoints(v, se);
	check_dynamic_dns_ports(v, se);
	if (se->location == PC_SE_MESH_INTERNAL && has_label(r, LABEL_USE_WAYPOINT, &val) && *val &&
	    strcmp(val, "none") != 0)
		pc_verr(v, "location",
			"resolution mode DYNAMIC_DNS is not supported for MESH_INTERNAL "
			"service entries that use a waypoint");
}

static void check_resolution(struct pc_vctx *v, const struct pc_resource *r,
			     const struct pc_service_entry *se)
{
	switch (se->resolution) {
	case PC_SE_RESOLUTION_NONE:
		check_none(v, se);
		break;
	case PC_SE_RESOLUTION_STATIC:
		check_static(v, se);
		break;
	case PC_SE_RESOLUTION_DNS:
	case PC_SE_RESOLUTION_DNS_ROUND_ROBIN:
		check_dns(v, se);
		break;
	case PC_SE_RESOLUTION_DYNAMIC_DNS:
		check_dynamic_dns(v, r, se);
		break;
	default:
		pc_verr(v, "resolution", "unsupported resolution type %s", resolution_name(se));
		break;
	}
}

/*
 * Several hosts on one non-HTTP, non-TLS port cannot be told apart (TCP has
 * no Host header or SNI), except with NONE, where hosts are only names.
 * Reported once, at the first such port; an empty protocol counts.
 */
static void check_multi_host(struct pc_vctx *v, const struct pc_service_entry *se)
{
	size_t i;

	if (se->resolution == PC_SE_RESOLUTION_NONE || se->hosts.n <= 1)
		return;
	for (i = 0; i < se->ports.n; i++) {
		const struct pc_service_port *p = &se->ports.v[i];
		enum pc_protocol proto;

		if (!p->hdr.node)
			continue;
		proto = pc_protocol_parse(str0(p->protocol));
		if (pc_protocol_is_http(proto) || pc_protocol_is_tls(proto))
			continue;
		pc_vpush(v, "ports");
		pc_vpush_index(v, i);
		pc_verr(v, "protocol", "multiple hosts provided with non-HTTP, non-TLS ports");
		pc_vpop(v);
		pc_vpop(v);
		break;
	}
}

/* ---- CRD limits ---- */

static void too_many(struct pc_vctx *v, const char *field, size_t n, size_t max)
{
	if (n > max)
		pc_verr(v, field, "Too many: %zu: must have at most %zu items", n, max);
}

static void check_crd(struct pc_vctx *v, const struct pc_service_entry *se)
{
	const struct pc_workload_selector *ws = se->workload_selector;
	size_t i;

	too_many(v, "hosts", se->hosts.n, CRD_MAX_HOSTS);
	too_many(v, "addresses", se->addresses.n, CRD_MAX_ADDRESSES);
	too_many(v, "ports", se->ports.n, CRD_MAX_PORTS);
	too_many(v, "endpoints", se->endpoints.n, CRD_MAX_ENDPOINTS);
	if (!ws)
		return;
	pc_vpush(v, "workloadSelector");
	too_many(v, "labels", ws->labels.n, CRD_MAX_SELECTOR);
	pc_vpush(v, "labels");
	for (i = 0; i < ws->labels.n; i++) {
		if (strlen(str0(ws->labels.vals[i])) <= CRD_MAX_SELECTOR_VALUE)
			continue;
		pc_vpush_key(v, ws->labels.keys[i]);
		pc_verr(v, NULL, "Too long: may not be more than %d bytes", CRD_MAX_SELECTOR_VALUE);
		pc_vpop(v);
	}
	pc_vpop(v);
	pc_vpop(v);
}

void pc_service_entry_validate(struct pc_vctx *v, const struct pc_resource *r)
{
	const struct pc_service_entry *se = r->spec;
	bool res_ok;

	if (!se) {
		pc_verr(v, "spec", "Required value");
		return;
	}
	res_ok = resolution_ok(se);
	pc_vpush(v, "spec");
	if (!check_selector(v, se))
		goto out; /* as Go: selector errors are the only findings */
	check_selector_xor_endpoints(v, se);
	check_hosts(v, se);
	check_addresses(v, se, res_ok);
	check_ports(v, r, se, res_ok);
	if (res_ok) {
		check_resolution(v, r, se);
		check_multi_host(v, se);
	}
	pc_vcheck_export_to(v, "exportTo", &se->export_to, r->meta.ns, true, false);
	check_crd(v, se);
out:
	pc_vpop(v);
}
