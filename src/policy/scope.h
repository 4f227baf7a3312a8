/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * policy/scope.h - which configuration applies to this workload (Istio's scoping).
 *
 * Istio never gives a proxy every object of the mesh: it computes a
 * SidecarScope per workload (pilot/pkg/model/sidecar.go, push_context.go).
 * This module does the same for the one workload portcullis serves, given
 * its namespace, the mesh's root namespace and its labels
 * (struct pc_compile_opts), and says for every resource of a manifest
 * whether it is in force and why (doc/scoping.md):
 *
 *   - the Sidecar: one in the workload's namespace whose workloadSelector
 *     selects its labels, else that namespace's Sidecar without selector,
 *     else the root namespace's Sidecar without selector, else none; the
 *     oldest (creationTimestamp, then name) wins a tie. Its
 *     outboundTrafficPolicy wins as a whole, else the mesh's (opts->policy,
 *     else REGISTRY_ONLY);
 *   - ServiceEntries: exported to the workload's namespace (exportTo), and
 *     each (host, port) imported by one of the Sidecar's egress listeners
 *     (`ns/host`, `.` the workload's namespace, `*` any; a service host
 *     is imported when it is a subset of the imported host); one
 *     namespace per host (the workload's, else the oldest entry's), with
 *     or without a Sidecar; hosts only listeners of their own address
 *     import (HTTP_PROXY, a bind, captureMode NONE) are clusters only;
 *     the catch-all listener cannot reuse a key a port listener built;
 *   - VirtualServices: exported, bound to mesh (gateways), and with a
 *     Sidecar selected by its hosts as SidecarScope selects them, per
 *     egress listener; the services their tcp and tls routes name become
 *     clusters (not listeners) when the Sidecar does not import them
 *     (collectImportedServices);
 *   - DestinationRules: the lookup of PushContext.destinationRule (the
 *     workload's namespace, then the service's, then the root namespace;
 *     the most specific host within a tier).
 *
 * Pure: no I/O, no logging. The same manifest and options give the same
 * scope.
 */
#ifndef PC_POLICY_SCOPE_H
#define PC_POLICY_SCOPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pc_arena;
struct pc_compile_opts;
struct pc_findings;
struct pc_manifest;
struct pc_resource;

/* What became of one resource for this workload. */
struct pc_scope_obj {
	bool in_force;
	/*
	 * Hidden by the object itself (its namespace, exportTo or
	 * workloadSelector), so that no other object can ever make it apply
	 * to this workload: what `validate` and `apply` warn about.
	 */
	bool never;
	const char *field;  /* with <never>: the field that hides it ("spec.exportTo"), or NULL */
	const char *reason; /* why it is, or is not, in force: one short sentence */
	/*
	 * ServiceEntries only: visible[h * nports + p] says whether host <h>
	 * on port <p> is imported (NULL for other kinds).
	 */
	bool *visible;
	/*
	 * ServiceEntries only: routed[h * nports + p] (NULL: none) for a
	 * (host, port) not imported but named by an imported VirtualService's
	 * route: Istio gives the workload its cluster, not its listeners.
	 */
	bool *routed;
	/*
	 * ServiceEntries only, with Sidecar egress: via[h * nports + p] is the
	 * egress listener (an index into spec.egress) that builds the listener
	 * of host <h> on port <p>, PC_SCOPE_NO_LISTENER when none does.
	 */
	uint16_t *via;
	/* VirtualServices only, with Sidecar egress: sel[l] when egress listener <l> selects it. */
	bool *sel;
	/*
	 * ServiceEntries only (NULL: all open): open[(h * nports + p) * naddrs + a]
	 * is false when address <a> of host <h> on port <p> comes from the
	 * catch-all egress listener and an egress listener with a port built
	 * its listener key first (Istio locks it).
	 */
	bool *open;
	size_t nhosts, nports, naddrs;
};

#define PC_SCOPE_NO_LISTENER UINT16_MAX

struct pc_scope {
	struct pc_arena *arena; /* everything below */
	const struct pc_manifest *m;
	const struct pc_compile_opts *o;
	const char *ns;      /* the workload's namespace ("default" when opts->ns is NULL) */
	const char *root_ns; /* the root namespace ("istio-system" when opts->root_ns is NULL) */
	const struct pc_resource *sidecar; /* the Sidecar that applies, or NULL */
	const char *
		sidecar_why; /* "workloadSelector match", "namespace-wide", "root namespace default" */
	int policy;          /* enum pc_outbound_policy */
	bool policy_from_sidecar; /* the Sidecar's outboundTrafficPolicy decided it */
	size_t nlisteners;        /* the Sidecar's egress listeners, 0 without */
	struct pc_scope_obj *obj; /* obj[i] is about m->res[i] */
	size_t n;
	const struct pc_resource **drs; /* the valid DestinationRules, for lookups */
	size_t ndrs;
};

/*
 * Decide the scope of <m> for the workload of <o>. <s> borrows <m> and <o>
 * (they must outlive it) and owns its arena: release it with
 * pc_scope_release(). Resources with errors are never in force. Returns 0
 * or -ENOMEM (then <s> needs no release).
 */
int pc_scope_init(struct pc_scope *s, const struct pc_manifest *m, const struct pc_compile_opts *o);
void pc_scope_release(struct pc_scope *s);

/* The verdict on <r>, a resource of the scope's manifest. */
const struct pc_scope_obj *pc_scope_of(const struct pc_scope *s, const struct pc_resource *r);

/* Is host <h> of ServiceEntry <r> imported on its port <p> (indexes into spec)? */
bool pc_scope_visible(const struct pc_scope *s, const struct pc_resource *r, size_t h, size_t p);

/* Is host <h> of ServiceEntry <r> on port <p> only a VirtualService's destination? */
bool pc_scope_routed(const struct pc_scope *s, const struct pc_resource *r, size_t h, size_t p);

/*
 * Does address <a> (an index into spec.addresses, 0 without addresses)
 * of host <h> of ServiceEntry <r> on its port <p> keep its listener key?
 */
bool pc_scope_open(const struct pc_scope *s, const struct pc_resource *r, size_t h, size_t p,
		   size_t a);

/*
 * May VirtualService <vs> make the chains of host <h> of ServiceEntry
 * <se> on its port <p>? Istio's VirtualServices are per egress listener:
 * only those the listener that builds that (host, port) selects.
 */
bool pc_scope_vs_for(const struct pc_scope *s, const struct pc_resource *vs,
		     const struct pc_resource *se, size_t h, size_t p);

/*
 * The DestinationRule (a resource of the manifest) that a service of
 * namespace <svc_ns> with host <host> takes for this workload, or NULL:
 * Istio's lookup order (the workload's namespace, the service's, the
 * root's; the exact host, else the longest matching wildcard).
 */
const struct pc_resource *pc_scope_dr(const struct pc_scope *s, const char *host,
				      const char *svc_ns);

/* Is "<k>=<v>" one of the workload's labels (opts->labels)? */
bool pc_workload_has_label(const struct pc_compile_opts *o, const char *k, const char *v);

/*
 * Add a warning to <f> for every valid resource that can never apply to
 * this workload (pc_scope_obj.never), at the place of the field that
 * hides it. Returns 0 or -ENOMEM.
 */
int pc_scope_warn(const struct pc_scope *s, struct pc_findings *f);

#endif /* PC_POLICY_SCOPE_H */
