/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * model/workloadentry.c - WorkloadEntry: schema and validation.
 *
 * The Go rules are validateWorkloadEntry() of istio/istio
 * pkg/config/validation/validation.go (reference §1.5), in Go's order:
 * an empty address without a network ends the entry's checks ("address is
 * required"); a "unix://" address must name an absolute path or an
 * abstract socket and carry no ports; any other non-IP address is a host
 * name, allowed only for a standalone WorkloadEntry; port keys must be
 * port names (and, inside a ServiceEntry, names of its ports); labels are
 * Istio label maps. Go walks the ports map in random order; we use source
 * order. The CRD rules (reference §1.6) follow, without repeating what Go
 * already said about the same field.
 */
#include "model/workloadentry.h"

#include <string.h>

#include "model/node.h"
#include "model/resource.h"
#include "model/rules.h"
#include "model/serviceentry.h"
#include "model/vctx.h"

#define UNIX_PREFIX_LEN (sizeof(PC_UNIX_ADDRESS_PREFIX) - 1)

/* CRD limits of the WorkloadEntry message. */
#define CRD_MAX_ADDRESS     256
#define CRD_MAX_PORTS       128
#define CRD_MAX_LABELS      256
#define CRD_MAX_NETWORK     2048
#define CRD_MAX_LOCALITY    2048
#define CRD_MAX_SERVICE_ACC 253

static const struct pc_field workload_entry_fields[] = {
	PC_FIELD("address", PC_FT_STRING, struct pc_workload_entry, address),
	PC_FIELD("ports", PC_FT_U32MAP, struct pc_workload_entry, ports),
	PC_FIELD("labels", PC_FT_STRMAP, struct pc_workload_entry, labels),
	PC_FIELD("network", PC_FT_STRING, struct pc_workload_entry, network),
	PC_FIELD("locality", PC_FT_STRING, struct pc_workload_entry, locality),
	PC_FIELD("weight", PC_FT_UINT32, struct pc_workload_entry, weight),
	PC_FIELD("serviceAccount", PC_FT_STRING, struct pc_workload_entry, service_account),
	PC_FIELD_END,
};

const struct pc_schema pc_workload_entry_schema = { "WorkloadEntry",
						    sizeof(struct pc_workload_entry),
						    workload_entry_fields, NULL };

static const char *str0(const char *s)
{
	return s ? s : "";
}

static bool is_unix(const char *addr)
{
	return strncmp(addr, PC_UNIX_ADDRESS_PREFIX, UNIX_PREFIX_LEN) == 0;
}

/*
 * Did value <i> of the ports map decode? When it did not, the decoder has
 * reported it and the zero left in its place must not be judged again.
 */
static bool port_value_ok(const struct pc_workload_entry *we, size_t i)
{
	const struct pc_node *map = pc_field_node(we, "ports");
	const struct pc_node *val;
	long long x;

	if (!map || map->type != PC_NODE_MAP || i >= map->npairs)
		return false;
	val = map->pairs[i].value;
	return val->type == PC_NODE_SCALAR && pc_scalar_kind(val) == PC_SCALAR_INT &&
	       pc_scalar_int(val, &x) && x >= 0 && x <= (long long)UINT32_MAX;
}

/* The address field is there but is no string: the decoder reported it. */
static bool address_failed(const struct pc_workload_entry *we)
{
	return pc_has(we, "address") && !we->address;
}

void pc_workload_entry_check_ports(struct pc_vctx *v, const struct pc_workload_entry *we,
				   const struct pc_service_entry *se)
{
	char msg[PC_RULE_MSG];
	size_t i;

	pc_vpush(v, "ports");
	for (i = 0; i < we->ports.n; i++) {
		const char *name = we->ports.keys[i];
		uint32_t port = we->ports.vals[i];
		bool value_ok = port_value_ok(we, i);

		pc_vpush_key(v, name);
		/* Go prints the port number, not the name; say which name is unknown. */
		if (se && !pc_service_entry_has_port_name(se, name))
			pc_verr(v, NULL,
				"endpoint port %u is not defined by the service entry "
				"(it has no port named \"%s\")",
				port, name);
		if (pc_check_port_name(name, msg, sizeof(msg)) < 0)
			pc_verr(v, NULL, "%s", msg);
		if (value_ok && pc_check_port(port, msg, sizeof(msg)) < 0)
			pc_verr(v, NULL, "%s", msg);
		pc_vpop(v);
	}
	pc_vpop(v);
}

/* Go's ValidateUnixAddress on the part after "unix://". */
static void check_unix_address(struct pc_vctx *v, const char *path)
{
	size_t n = strlen(path);

	if (n == 0) {
		pc_verr(v, "address", "unix address must not be empty");
		return;
	}
	if (path[0] == '@')
		return; /* abstract socket */
	if (path[0] != '/' || path[n - 1] == '/')
		pc_verr(v, "address", "%s is not an absolute path to a file", path);
}

/* validateWorkloadEntry(), Go's rules only. */
static void check_go(struct pc_vctx *v, const struct pc_workload_entry *we,
		     const struct pc_service_entry *se, bool allow_fqdn)
{
	const char *addr = str0(we->address);
	char msg[PC_RULE_MSG];
	bool unix_ep = false;

	if (address_failed(we)) {
		/* not a string: the decoder said so; judge the rest */
	} else if (!*addr) {
		if (!we->network || !*we->network) {
			pc_verr(v, "address", "address is required");
			return; /* Go returns here: nothing else is checked */
		}
		pc_vwarn(v, "address", "address is unset with network \"%s\"", we->network);
	}
	if (is_unix(addr)) {
		unix_ep = true;
		check_unix_address(v, addr + UNIX_PREFIX_LEN);
		if (we->ports.n)
			pc_verr(v, "ports", "unix endpoint %s must not include ports", addr);
	} else if (*addr && !pc_is_ip(addr)) {
		if (!allow_fqdn)
			pc_verr(v, "address", "endpoint address \"%s\" is not a valid IP address",
				addr);
		else if (pc_check_fqdn(addr, msg, sizeof(msg)) < 0)
			pc_verr(v, "address",
				"endpoint address \"%s\" is not a valid FQDN or an IP address",
				addr);
	}
	pc_workload_entry_check_ports(v, we, se);
	pc_vcheck_labels(v, "labels", &we->labels);
	if (unix_ep && se && pc_service_entry_port_name_count(se) != 1)
		pc_verr(v, NULL, "exactly 1 service port required for unix endpoints");
}

void pc_workload_entry_check(struct pc_vctx *v, const struct pc_workload_entry *we,
			     const struct pc_service_entry *se, bool allow_fqdn)
{
	check_go(v, we, se, allow_fqdn);
	pc_workload_entry_check_crd(v, we, true);
}

static void too_long(struct pc_vctx *v, const char *field, const char *s, size_t max)
{
	if (s && strlen(s) > max)
		pc_verr(v, field, "Too long: may not be more than %zu bytes", max);
}

/* The CRD's address rules, for entries Go did not look at. */
static void crd_address(struct pc_vctx *v, const struct pc_workload_entry *we)
{
	const char *addr = str0(we->address);
	size_t n = strlen(addr);

	if (!pc_has(we, "address") && !pc_has(we, "network"))
		pc_verr(v, NULL, "Address is required");
	if (!is_unix(addr))
		return;
	/* On exactly "unix://" CEL's substring() fails; the apiserver rejects it too. */
	if (addr[UNIX_PREFIX_LEN] != '/' && addr[UNIX_PREFIX_LEN] != '@')
		pc_verr(v, "address", "UDS must be an absolute path or abstract socket");
	if (addr[n - 1] == '/')
		pc_verr(v, "address", "UDS may not be a dir");
}

/* The CRD's port-name pattern, which unlike Go's check wants < 63 bytes. */
static bool crd_port_name_ok(const char *name)
{
	return strlen(name) < 63 && pc_is_dns1123_label(name);
}

static void crd_ports(struct pc_vctx *v, const struct pc_workload_entry *we, bool go_checked)
{
	bool bad_name = false;
	size_t i;

	if (we->ports.n > CRD_MAX_PORTS)
		pc_verr(v, "ports", "Too many: %zu: must have at most %d items", we->ports.n,
			CRD_MAX_PORTS);
	for (i = 0; i < we->ports.n; i++) {
		const char *name = we->ports.keys[i];
		uint32_t port = we->ports.vals[i];

		/* With <go_checked> only a 63-byte name is left to report. */
		if (!crd_port_name_ok(name) && (!go_checked || pc_is_dns1123_label(name)))
			bad_name = true;
		if (!go_checked && port_value_ok(we, i) && (port < 1 || port > 65535)) {
			pc_vpush(v, "ports");
			pc_vpush_key(v, name);
			pc_verr(v, NULL, "port must be between 1-65535");
			pc_vpop(v);
			pc_vpop(v);
		}
	}
	if (bad_name)
		pc_verr(v, "ports", "port name must be valid");
}

void pc_workload_entry_check_crd(struct pc_vctx *v, const struct pc_workload_entry *we,
				 bool go_checked)
{
	const char *addr = str0(we->address);
	bool uds = is_unix(addr);

	if (!go_checked)
		crd_address(v, we);
	/* The CRD tests presence: even "ports: {}" is refused next to a socket. */
	if (uds && pc_has(we, "ports") && (!go_checked || we->ports.n == 0))
		pc_verr(v, "ports", "UDS may not include ports");
	crd_ports(v, we, go_checked);
	if (we->labels.n > CRD_MAX_LABELS)
		pc_verr(v, "labels", "Too many: %zu: must have at most %d items", we->labels.n,
			CRD_MAX_LABELS);
	/* A long host name already failed Go's FQDN check; IPs and sockets did not. */
	if (!go_checked || uds || pc_is_ip(addr))
		too_long(v, "address", addr, CRD_MAX_ADDRESS);
	too_long(v, "network", we->network, CRD_MAX_NETWORK);
	too_long(v, "locality", we->locality, CRD_MAX_LOCALITY);
	too_long(v, "serviceAccount", we->service_account, CRD_MAX_SERVICE_ACC);
}

void pc_workload_entry_validate(struct pc_vctx *v, const struct pc_resource *r)
{
	const struct pc_workload_entry *we = r->spec;

	if (!we) {
		pc_verr(v, "spec", "Required value");
		return;
	}
	pc_vpush(v, "spec");
	/* ValidateWorkloadEntry: no ServiceEntry to check ports against; FQDNs allowed. */
	pc_workload_entry_check(v, we, NULL, true);
	pc_vpop(v);
}
