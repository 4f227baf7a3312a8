/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * model/destinationrule.c - DestinationRule schema and validation.
 *
 * ValidateDestinationRule (istio/istio pkg/config/validation) checks, in
 * this order: the host, the top-level traffic policy, each subset (a
 * duplicate name is reported before that subset's own problems), exportTo
 * and the workload selector. Only the top-level policy and the selector
 * keep their warnings: Istio folds subsets through appendErrors, which
 * drops them. The selector's CRD limits (4096 labels, values of at most 63
 * bytes) are checked here too; its wildcard and empty-key CEL rules say
 * what the webhook already says, so they are not repeated.
 */
#include "model/destinationrule.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/common.h"
#include "model/resource.h"
#include "model/rules.h"
#include "model/trafficpolicy.h"
#include "model/vctx.h"

#define PC_CRD_MAX_MATCH_LABELS    4096
#define PC_CRD_MAX_LABEL_VALUE_LEN 63

static const struct pc_field subset_fields[] = {
	PC_FIELD("name", PC_FT_STRING, struct pc_subset, name),
	PC_FIELD("labels", PC_FT_STRMAP, struct pc_subset, labels),
	PC_FIELD_MSG("trafficPolicy", struct pc_subset, traffic_policy, pc_traffic_policy_schema),
	PC_FIELD_END,
};

static const struct pc_schema subset_schema = {
	.name = "Subset",
	.size = sizeof(struct pc_subset),
	.fields = subset_fields,
};

static const struct pc_field destination_rule_fields[] = {
	PC_FIELD("host", PC_FT_STRING, struct pc_destination_rule, host),
	PC_FIELD_MSG("trafficPolicy", struct pc_destination_rule, traffic_policy,
		     pc_traffic_policy_schema),
	PC_FIELD_LIST("subsets", struct pc_destination_rule, subsets, subset_schema),
	PC_FIELD("exportTo", PC_FT_STRLIST, struct pc_destination_rule, export_to),
	PC_FIELD_MSG("workloadSelector", struct pc_destination_rule, workload_selector,
		     pc_match_selector_schema),
	PC_FIELD_END,
};

const struct pc_schema pc_destination_rule_schema = {
	.name = "DestinationRule",
	.size = sizeof(struct pc_destination_rule),
	.fields = destination_rule_fields,
};

static const char *str(const char *s)
{
	return s ? s : "";
}

static void check_host(struct pc_vctx *v, const struct pc_destination_rule *dr)
{
	char msg[PC_RULE_MSG];

	if (!dr->host && pc_has(dr, "host"))
		return; /* not a string: the decoder said so */
	if (pc_check_wildcard_domain(str(dr->host), msg, sizeof(msg)) < 0)
		pc_verr(v, "host", "%s", msg);
}

/* validateSubsetName, labels and the subset's policy (warnings dropped). */
static void check_subset(struct pc_vctx *v, const struct pc_subset *s, const char *ns)
{
	const char *name = str(s->name);

	if (s->name || !pc_has(s, "name")) {
		if (!*name)
			pc_verr(v, "name", "subset name cannot be empty");
		else if (!pc_is_dns1123_label(name))
			pc_verr(v, "name", "subset name is invalid: %s", name);
	}
	pc_vcheck_labels(v, "labels", &s->labels);
	pc_vcheck_traffic_policy(v, "trafficPolicy", s->traffic_policy, ns, false);
}

struct name_ref {
	const char *name;
	size_t index;
};

static int name_ref_cmp(const void *a, const void *b)
{
	const struct name_ref *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c)
		return c;
	return x->index < y->index ? -1 : x->index > y->index;
}

/*
 * Mark in <dup> the subsets whose name an earlier subset already has (Go's
 * sets.InsertContains in a loop), in O(n log n) so that a huge list cannot
 * stall validation. Mistyped subsets and names take no part. False when
 * memory ran out.
 */
static bool find_duplicates(const struct pc_destination_rule *dr, bool *dup)
{
	struct name_ref *refs = calloc(dr->subsets.n ? dr->subsets.n : 1, sizeof(*refs));
	size_t i, n = 0;

	if (!refs)
		return false;
	for (i = 0; i < dr->subsets.n; i++) {
		const struct pc_subset *s = &dr->subsets.v[i];

		if (s->hdr.node && (s->name || !pc_has(s, "name")))
			refs[n++] = (struct name_ref){ str(s->name), i };
	}
	qsort(refs, n, sizeof(*refs), name_ref_cmp);
	for (i = 1; i < n; i++)
		dup[refs[i].index] = strcmp(refs[i].name, refs[i - 1].name) == 0;
	free(refs);
	return true;
}

static void check_subsets(struct pc_vctx *v, const struct pc_destination_rule *dr, const char *ns)
{
	bool *dup = calloc(dr->subsets.n ? dr->subsets.n : 1, sizeof(*dup));
	size_t i;

	if (!dup || !find_duplicates(dr, dup)) {
		pc_verr(v, "subsets", "out of memory while validating subsets");
		free(dup);
		return;
	}
	pc_vpush(v, "subsets");
	for (i = 0; i < dr->subsets.n; i++) {
		const struct pc_subset *s = &dr->subsets.v[i];

		if (!s->hdr.node)
			continue; /* not a mapping: the decoder said so */
		pc_vpush_index(v, i);
		if (dup[i])
			pc_verr(v, "name", "duplicate subset names: %s", str(s->name));
		check_subset(v, s, ns);
		pc_vpop(v);
	}
	pc_vpop(v);
	free(dup);
}

/* validateWorkloadSelector (type.v1beta1) and the CRD's matchLabels limits. */
static void check_selector(struct pc_vctx *v, const struct pc_match_selector *sel)
{
	const struct pc_strmap *ml;
	size_t i;

	if (!sel || !sel->hdr.node)
		return;
	ml = &sel->match_labels;
	pc_vpush(v, "workloadSelector");
	pc_vpush(v, "matchLabels");
	for (i = 0; i < ml->n; i++) {
		const char *k = ml->keys[i], *val = ml->vals[i];

		pc_vpush_key(v, k);
		if (!*k)
			pc_verr(v, NULL, "empty key is not supported in selector: \"%s=%s\"", k,
				val);
		if (strchr(k, '*') || strchr(val, '*'))
			pc_verr(v, NULL, "wildcard is not supported in selector: \"%s=%s\"", k,
				val);
		if (strlen(val) > PC_CRD_MAX_LABEL_VALUE_LEN)
			pc_verr(v, NULL, "Too long: may not be more than %d bytes",
				PC_CRD_MAX_LABEL_VALUE_LEN);
		pc_vpop(v);
	}
	if (ml->n > PC_CRD_MAX_MATCH_LABELS)
		pc_verr(v, NULL, "Too many: %zu: must have at most %d items", ml->n,
			PC_CRD_MAX_MATCH_LABELS);
	pc_vpop(v);
	if (ml->n == 0)
		pc_vwarn(v, NULL, "workload selector specified without labels");
	pc_vpop(v);
}

void pc_destination_rule_validate(struct pc_vctx *v, const struct pc_resource *r)
{
	const struct pc_destination_rule *dr = r->spec;
	const char *ns = r->meta.ns;

	if (!dr || !dr->hdr.node)
		return;
	pc_vpush(v, "spec");
	check_host(v, dr);
	pc_vcheck_traffic_policy(v, "trafficPolicy", dr->traffic_policy, ns, true);
	check_subsets(v, dr, ns);
	pc_vcheck_export_to(v, "exportTo", &dr->export_to, ns, false,
			    dr->workload_selector != NULL);
	check_selector(v, dr->workload_selector);
	pc_vpop(v);
}
