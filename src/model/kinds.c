/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * model/kinds.c - the table of Istio kinds portcullis understands.
 *
 * One row per kind: manifest name, plural and short names (kubectl's, from
 * Istio's CRDs), the spec schema and the validator. All three API versions
 * of networking.istio.io share one schema, as Istio's Go types do.
 */
#include "model/resource.h"

#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "model/destinationrule.h"
#include "model/serviceentry.h"
#include "model/sidecar.h"
#include "model/virtualservice.h"
#include "model/workloadentry.h"

static const char *const se_short[] = { "se", NULL };
static const char *const vs_short[] = { "vs", NULL };
static const char *const dr_short[] = { "dr", NULL };
static const char *const sidecar_short[] = { NULL };
static const char *const we_short[] = { "we", NULL };

static const struct pc_kind_info kinds[PC_KIND_COUNT] = {
	{ PC_KIND_SERVICE_ENTRY, "ServiceEntry", "serviceentries", se_short,
	  &pc_service_entry_schema, pc_service_entry_validate },
	{ PC_KIND_VIRTUAL_SERVICE, "VirtualService", "virtualservices", vs_short,
	  &pc_virtual_service_schema, pc_virtual_service_validate },
	{ PC_KIND_DESTINATION_RULE, "DestinationRule", "destinationrules", dr_short,
	  &pc_destination_rule_schema, pc_destination_rule_validate },
	{ PC_KIND_SIDECAR, "Sidecar", "sidecars", sidecar_short, &pc_sidecar_schema,
	  pc_sidecar_validate },
	{ PC_KIND_WORKLOAD_ENTRY, "WorkloadEntry", "workloadentries", we_short,
	  &pc_workload_entry_schema, pc_workload_entry_validate },
};

static const char *const versions[] = {
	PC_GROUP "/v1alpha3",
	PC_GROUP "/v1beta1",
	PC_GROUP "/v1",
	NULL,
};

const struct pc_kind_info *pc_kind_info(enum pc_kind kind)
{
	return (unsigned)kind < PC_KIND_COUNT ? &kinds[kind] : NULL;
}

const struct pc_kind_info *pc_kind_by_name(const char *s)
{
	size_t i;

	for (i = 0; i < PC_KIND_COUNT; i++) {
		if (strcmp(kinds[i].name, s) == 0)
			return &kinds[i];
	}
	return NULL;
}

static bool kind_matches(const struct pc_kind_info *k, const char *s, size_t n)
{
	const char *const *sn;

	if ((strlen(k->name) == n && strncasecmp(k->name, s, n) == 0) ||
	    (strlen(k->plural) == n && strncasecmp(k->plural, s, n) == 0))
		return true;
	for (sn = k->short_names; *sn; sn++) {
		if (strlen(*sn) == n && strncasecmp(*sn, s, n) == 0)
			return true;
	}
	return false;
}

const struct pc_kind_info *pc_kind_lookup(const char *s)
{
	const char *dot = strchr(s, '.');
	size_t i, n = dot ? (size_t)(dot - s) : strlen(s);

	if (dot && strcasecmp(dot + 1, PC_GROUP) != 0)
		return NULL;
	for (i = 0; i < PC_KIND_COUNT; i++) {
		if (kind_matches(&kinds[i], s, n))
			return &kinds[i];
	}
	return NULL;
}

bool pc_api_version_ok(const char *api_version)
{
	size_t i;

	for (i = 0; versions[i]; i++) {
		if (strcmp(versions[i], api_version) == 0)
			return true;
	}
	return false;
}

const char *pc_kind_names(void)
{
	return "ServiceEntry, VirtualService, DestinationRule, Sidecar, WorkloadEntry";
}
