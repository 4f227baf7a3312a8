/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * model/resource.h - one decoded Istio resource and the table of kinds.
 *
 * A resource is what one manifest document (or one item of a kind: List)
 * becomes: its kind, apiVersion, object metadata and typed spec, plus the
 * place it came from. Resources point into the node tree and arena of the
 * manifest that loaded them (model/manifest.h) and live as long as it.
 */
#ifndef PC_MODEL_RESOURCE_H
#define PC_MODEL_RESOURCE_H

#include <stdbool.h>
#include <stdint.h>

#include "model/schema.h"

struct pc_node;
struct pc_vctx;

enum pc_kind {
	PC_KIND_SERVICE_ENTRY,
	PC_KIND_VIRTUAL_SERVICE,
	PC_KIND_DESTINATION_RULE,
	PC_KIND_SIDECAR,
	PC_KIND_WORKLOAD_ENTRY,
	PC_KIND_COUNT,
};

#define PC_GROUP "networking.istio.io"

/* Kubernetes ObjectMeta: what a client may send, server-set fields included. */
struct pc_object_meta {
	struct pc_msg hdr;
	const char *name;
	const char *ns; /* "namespace"; "default" when absent */
	const char *generate_name;
	const char *uid;
	const char *resource_version;
	const char *creation_timestamp;
	const char *deletion_timestamp;
	const char *self_link;
	int64_t generation;
	int64_t deletion_grace_period_seconds;
	struct pc_strmap labels;
	struct pc_strmap annotations;
	struct pc_strv finalizers;
	const struct pc_node *owner_references; /* kept opaque */
	const struct pc_node *managed_fields;   /* kept opaque */
};

struct pc_resource {
	enum pc_kind kind;
	const char *api_version; /* "networking.istio.io/v1" etc. */
	struct pc_object_meta meta;
	const void *spec; /* struct pc_service_entry * etc.; NULL when absent */
	const struct pc_node *root;
	const char *file;
	unsigned line; /* where the object starts */
	unsigned col;
	unsigned nerr;  /* errors found in it */
	unsigned nwarn; /* warnings found in it */
};

typedef void pc_validate_fn(struct pc_vctx *v, const struct pc_resource *r);

struct pc_kind_info {
	enum pc_kind kind;
	const char *name;                /* "ServiceEntry" */
	const char *plural;              /* "serviceentries" */
	const char *const *short_names;  /* NULL-terminated, e.g. { "se", NULL } */
	const struct pc_schema *spec_schema;
	pc_validate_fn *validate;        /* the Go webhook's rules for the spec */
};

/* The entry for <kind>. */
const struct pc_kind_info *pc_kind_info(enum pc_kind kind);

/* The kind named <s> exactly as in manifests ("ServiceEntry"), or NULL. */
const struct pc_kind_info *pc_kind_by_name(const char *s);

/*
 * The kind a user means on the command line: the name, the plural or a
 * short name, case-insensitive, optionally suffixed with
 * ".networking.istio.io". NULL when none matches.
 */
const struct pc_kind_info *pc_kind_lookup(const char *s);

/* Is <api_version> one we serve (networking.istio.io/v1alpha3, v1beta1, v1)? */
bool pc_api_version_ok(const char *api_version);

/* "ServiceEntry, VirtualService, ..." for messages. */
const char *pc_kind_names(void);

#endif /* PC_MODEL_RESOURCE_H */
