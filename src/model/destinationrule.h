/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * model/destinationrule.h - the DestinationRule kind (networking.istio.io).
 *
 * A DestinationRule says how traffic to one host (a wildcard is allowed)
 * is treated once routed: load balancing, connection limits and timeouts,
 * outlier detection, client TLS, per-port overrides, and named subsets of
 * the host's endpoints selected by labels, each with its own policy. The
 * validator mirrors Istio's ValidateDestinationRule (pkg/config/validation)
 * plus the CRD's rules the webhook leaves out; the policy itself is in
 * model/trafficpolicy.h.
 */
#ifndef PC_MODEL_DESTINATIONRULE_H
#define PC_MODEL_DESTINATIONRULE_H

#include "model/schema.h"

struct pc_match_selector;
struct pc_resource;
struct pc_traffic_policy;
struct pc_vctx;

struct pc_subset {
	struct pc_msg hdr;
	const char *name; /* required, a DNS-1123 label */
	struct pc_strmap labels;
	struct pc_traffic_policy *traffic_policy;
};

struct pc_destination_rule {
	struct pc_msg hdr;
	const char *host; /* required */
	struct pc_traffic_policy *traffic_policy;
	PC_LIST(struct pc_subset) subsets;
	struct pc_strv export_to;
	struct pc_match_selector *workload_selector;
};

extern const struct pc_schema pc_destination_rule_schema;

/*
 * Validate the spec of DestinationRule <r> (r->spec is a struct
 * pc_destination_rule decoded from a mapping), reporting under "spec".
 */
void pc_destination_rule_validate(struct pc_vctx *v, const struct pc_resource *r);

#endif /* PC_MODEL_DESTINATIONRULE_H */
