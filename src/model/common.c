/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * model/common.c - schemas of the shared small messages.
 */
#include "model/common.h"

static const struct pc_field port_selector_fields[] = {
	PC_FIELD("number", PC_FT_UINT32, struct pc_port_selector, number),
	PC_FIELD_END,
};

const struct pc_schema pc_port_selector_schema = {
	"PortSelector", sizeof(struct pc_port_selector), port_selector_fields, NULL,
};

static const struct pc_field workload_selector_fields[] = {
	PC_FIELD("labels", PC_FT_STRMAP, struct pc_workload_selector, labels),
	PC_FIELD_END,
};

const struct pc_schema pc_workload_selector_schema = {
	"WorkloadSelector", sizeof(struct pc_workload_selector), workload_selector_fields, NULL,
};

static const struct pc_field match_selector_fields[] = {
	PC_FIELD("matchLabels", PC_FT_STRMAP, struct pc_match_selector, match_labels),
	PC_FIELD_END,
};

const struct pc_schema pc_match_selector_schema = {
	"WorkloadSelector", sizeof(struct pc_match_selector), match_selector_fields, NULL,
};
