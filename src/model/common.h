/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * model/common.h - small messages shared by several Istio kinds.
 *
 * PortSelector (VirtualService destinations, DestinationRule port-level
 * settings, Sidecar egress proxy), WorkloadSelector with `labels`
 * (ServiceEntry, Sidecar, networking.istio.io/v1alpha3) and with
 * `matchLabels` (DestinationRule, istio.type.v1beta1).
 */
#ifndef PC_MODEL_COMMON_H
#define PC_MODEL_COMMON_H

#include <stdint.h>

#include "model/schema.h"

struct pc_port_selector {
	struct pc_msg hdr;
	uint32_t number;
};

struct pc_workload_selector { /* networking.v1alpha3.WorkloadSelector */
	struct pc_msg hdr;
	struct pc_strmap labels;
};

struct pc_match_selector { /* type.v1beta1.WorkloadSelector */
	struct pc_msg hdr;
	struct pc_strmap match_labels;
};

extern const struct pc_schema pc_port_selector_schema;
extern const struct pc_schema pc_workload_selector_schema;
extern const struct pc_schema pc_match_selector_schema;

#endif /* PC_MODEL_COMMON_H */
