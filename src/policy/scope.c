/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * policy/scope.c - Istio's SidecarScope for the one workload portcullis serves.
 *
 * Decided in this order, each step needing the one before: the Sidecar
 * (choose_sidecar), its egress imports (the hosts of its egress
 * listeners), the ServiceEntries' visibility per (host, port), the
 * VirtualServices, then the DestinationRules, which are in force when the
 * lookup of a visible service picks them. The reasons are for people
 * (/config_dump, `validate` warnings): short, and naming the object and
 * the field that decided.
 */
#include "policy/scope.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "model/common.h"
#include "model/destinationrule.h"
#include "model/finding.h"
#include "model/manifest.h"
#include "model/node.h"
#include "model/rules.h"
#include "model/serviceentry.h"
#include "model/sidecar.h"
#include "model/virtualservice.h"
#include "net/addr.h"
#include "policy/snapshot.h"

/* One `ns/host` of an egress listener, `.` already the workload's namespace. */
struct import {
	const char *ns;
	const char *host;
	uint32_t port; /* the listener's port, 0: any */
	size_t li;     /* its egress listener (an index into spec.egress) */
	/*
	 * Why its listener has an address of its own that captured traffic
	 * never reaches ("HTTP_PROXY port 3128"), or NULL: it serves captured
	 * traffic. Its hosts get clusters only.
	 */
	const char *own;
};

struct ctx {
	struct pc_scope *s;
	struct import *imp; /* NULL: import everything exported (no Sidecar egress) */
	size_t nimp;
	const char *imports; /* the egress hosts, for reasons ("./x, istio-system/y") */
	bool *dr_used;       /* per resource: a visible service takes this DestinationRule */
};

static const char *nz(const char *s)
{
	return s ? s : "";
}

static bool is_valid(const struct pc_resource *r)
{
	return r->nerr == 0 && r->spec;
}

/* Istio's order of configs: creationTimestamp, then name, then namespace. */
static int older(const struct pc_resource *x, const struct pc_resource *y)
{
	int c = strcmp(nz(x->meta.creation_timestamp), nz(y->meta.creation_timestamp));

	if (c)
		return c;
	c = strcmp(nz(x->meta.name), nz(y->meta.name));
	return c ? c : strcmp(nz(x->meta.ns), nz(y->meta.ns));
}

static bool is_wild(const char *h)
{
	return h && h[0] == '*';
}

static bool has_suffix(const char *s, const char *suf)
{
	size_t n = strlen(s), k = strlen(suf);

	return n >= k && strcmp(s + n - k, suf) == 0;
}

bool pc_workload_has_label(const struct pc_compile_opts *o, const char *k, const char *v)
{
	size_t kl = strlen(k), vl = strlen(v), off = 0;

	while (o->labels && off < o->labels_len) {
		const char *e = o->labels + off;
		size_t el = strnlen(e, o->labels_len - off);

		if (el == kl + 1 + vl && strncmp(e, k, kl) == 0 && e[kl] == '=' &&
		    strncmp(e + kl + 1, v, vl) == 0)
			return true;
		off += el + 1;
	}
	return false;
}

/* labels.Instance.SubsetOf: every label of the selector is the workload's. */
static bool selects(const struct pc_scope *s, const struct pc_strmap *sel)
{
	size_t i;

	for (i = 0; i < sel->n; i++) {
		if (!pc_workload_has_label(s->o, sel->keys[i], nz(sel->vals[i])))
			return false;
	}
	return true;
}

/* "[., team-c]", or "[]" (the mesh default, `*`). */
static const char *list_str(struct pc_arena *a, const struct pc_strv *v)
{
	const char *out = "[";
	size_t i;

	for (i = 0; out && i < v->n; i++)
		out = pc_arena_printf(a, "%s%s%s", out, i ? ", " : "", v->v[i]);
	return out ? pc_arena_printf(a, "%s]", out) : NULL;
}

/* The workload's labels for reasons: "app=a, version=v1", or "none". */
static const char *labels_str(const struct pc_scope *s)
{
	const char *out = NULL;
	size_t off = 0;

	while (s->o->labels && off < s->o->labels_len) {
		const char *e = s->o->labels + off;

		out = out ? pc_arena_printf(s->arena, "%s, %s", out, e)
			  : pc_arena_strdup(s->arena, e);
		if (!out)
			return NULL;
		off += strnlen(e, s->o->labels_len - off) + 1;
	}
	return out ? out : "none";
}

/*
 * exportTo (reference §0.4) from namespace <own> to the workload's:
 * empty is the mesh default `*`; `.` the own namespace; `~` nobody.
 */
static bool exported(const struct pc_scope *s, const struct pc_strv *to, const char *own)
{
	size_t i;

	if (to->n == 0)
		return true;
	for (i = 0; i < to->n; i++) {
		const char *e = to->v[i];

		if (strcmp(e, "*") == 0 || strcmp(e, s->ns) == 0 ||
		    (strcmp(e, ".") == 0 && strcmp(own, s->ns) == 0))
			return true;
	}
	return false;
}

static int set(struct pc_scope_obj *o, bool in_force, bool never, const char *field,
	       const char *reason)
{
	o->in_force = in_force;
	o->never = never;
	o->field = field;
	o->reason = reason;
	return reason ? 0 : -ENOMEM;
}

static int hidden_by_export(struct ctx *c, struct pc_scope_obj *o, const struct pc_resource *r,
			    const struct pc_strv *to)
{
	struct pc_scope *s = c->s;
	const char *l = list_str(s->arena, to);

	return set(o, false, true, "spec.exportTo",
		   l ? pc_arena_printf(s->arena,
				       "exportTo %s of namespace %s hides it from "
				       "namespace %s",
				       l, r->meta.ns, s->ns)
		     : NULL);
}

/* ---- the Sidecar ---- */

/* 0: selects the workload; 1: its namespace's default; 2: the root's; -1: not for it. */
static int sidecar_tier(const struct pc_scope *s, const struct pc_resource *r)
{
	const struct pc_sidecar *sc = r->spec;

	if (strcmp(r->meta.ns, s->ns) == 0) {
		if (!sc->workload_selector)
			return 1;
		return selects(s, &sc->workload_selector->labels) ? 0 : -1;
	}
	if (strcmp(r->meta.ns, s->root_ns) == 0 && !sc->workload_selector)
		return 2;
	return -1;
}

static const char *const tier_names[] = { "workloadSelector match", "namespace-wide",
					  "root namespace default" };

static void choose_sidecar(struct pc_scope *s)
{
	int best = 3, t;
	size_t i;

	for (i = 0; i < s->m->nres; i++) {
		const struct pc_resource *r = &s->m->res[i];

		if (r->kind != PC_KIND_SIDECAR || !is_valid(r))
			continue;
		t = sidecar_tier(s, r);
		if (t < 0 || t > best || (t == best && older(r, s->sidecar) >= 0))
			continue;
		best = t;
		s->sidecar = r;
	}
	s->sidecar_why = s->sidecar && best < 3 ? tier_names[best] : NULL;
}

static int sidecar_verdict(struct ctx *c, struct pc_scope_obj *o, const struct pc_resource *r)
{
	struct pc_scope *s = c->s;
	const struct pc_sidecar *sc = r->spec;
	int t = sidecar_tier(s, r);

	if (r == s->sidecar)
		return set(o, true, false, NULL,
			   pc_arena_printf(s->arena, "the Sidecar of this workload (%s)",
					   s->sidecar_why));
	if (t >= 0)
		return set(o, false, false, NULL,
			   pc_arena_printf(s->arena, "Sidecar %s/%s is shadowed by %s/%s (%s)",
					   r->meta.ns, nz(r->meta.name), s->sidecar->meta.ns,
					   nz(s->sidecar->meta.name), s->sidecar_why));
	if (strcmp(r->meta.ns, s->ns) == 0)
		return set(o, false, true, "spec.workloadSelector",
			   pc_arena_printf(s->arena,
					   "its workloadSelector does not select this workload "
					   "(labels: %s)",
					   nz(labels_str(s))));
	if (sc->workload_selector)
		return set(
			o, false, true, "spec.workloadSelector",
			pc_arena_printf(s->arena,
					"Sidecar %s/%s has a workloadSelector: it applies to the "
					"workloads it selects in namespace %s only",
					r->meta.ns, nz(r->meta.name), r->meta.ns));
	return set(o, false, true, "metadata.namespace",
		   pc_arena_printf(s->arena, "Sidecar %s/%s applies to namespace %s only",
				   r->meta.ns, nz(r->meta.name), r->meta.ns));
}

/* ---- the egress imports ---- */

/* An egress listener's port: 0 (any) without one, on a Unix socket, or for HTTP_PROXY. */
static uint32_t listener_port(const struct pc_egress_listener *l)
{
	if (!l->port || !l->port->number)
		return 0;
	if (l->port->protocol && pc_protocol_parse(l->port->protocol) == PC_PROTO_HTTP_PROXY)
		return 0; /* Istio's needsPortMatch: a generic egress HTTP proxy */
	return l->port->number;
}

/*
 * Why listener <l> is not one for captured (iptables-redirected) traffic,
 * or NULL when it is. Istio's buildSidecarOutboundListeners gives an
 * HTTP_PROXY port, a bind to a Unix socket or to an address other than
 * 0.0.0.0 / ::, and captureMode NONE a listener of that address of its
 * own (bound to the port for NONE, HTTP_PROXY 127.0.0.1 then); the
 * virtual outbound listener hands captured connections on by their
 * original destination, which is never such an address. portcullis
 * serves captured traffic only.
 */
static const char *own_address(struct pc_arena *a, const struct pc_egress_listener *l)
{
	uint32_t port = l->port ? l->port->number : 0;

	if (l->port && l->port->protocol &&
	    pc_protocol_parse(l->port->protocol) == PC_PROTO_HTTP_PROXY)
		return pc_arena_printf(a, "HTTP_PROXY port %u", port);
	if (l->bind && strncmp(l->bind, "unix://", 7) == 0)
		return pc_arena_printf(a, "bind %s", l->bind);
	if (l->bind && *l->bind && strcmp(l->bind, "0.0.0.0") != 0 && strcmp(l->bind, "::") != 0)
		return pc_arena_printf(a, "bind %s port %u", l->bind, port);
	if (l->capture_mode == PC_CAPTURE_NONE)
		return pc_arena_printf(a, "captureMode NONE port %u", port);
	return NULL;
}

static int add_imports(struct ctx *c, const struct pc_egress_listener *l, size_t li)
{
	struct pc_scope *s = c->s;
	const char *own = own_address(s->arena, l);
	size_t i;

	for (i = 0; i < l->hosts.n; i++) {
		const char *h = l->hosts.v[i], *slash = strchr(h, '/');
		struct import *im = &c->imp[c->nimp];

		c->imports = pc_arena_printf(s->arena, "%s%s%s", nz(c->imports),
					     c->imports ? ", " : "", h);
		if (!c->imports)
			return -ENOMEM;
		if (!slash || strchr(slash + 1, '/'))
			continue; /* Istio logs and skips it (validation refuses it) */
		im->ns = pc_arena_strndup(s->arena, h, (size_t)(slash - h));
		if (!im->ns)
			return -ENOMEM;
		if (strcmp(im->ns, ".") == 0)
			im->ns = s->ns; /* the workload's, even in the root namespace's Sidecar */
		im->host = slash + 1;
		im->port = listener_port(l);
		im->own = own;
		im->li = li;
		c->nimp++;
	}
	return 0;
}

static int collect_imports(struct ctx *c)
{
	const struct pc_sidecar *sc = c->s->sidecar ? c->s->sidecar->spec : NULL;
	size_t i, n = 0;
	int ret;

	if (!sc || sc->egress.n == 0)
		return 0; /* Istio's default listener imports every exported service */
	for (i = 0; i < sc->egress.n; i++)
		n += sc->egress.v[i].hosts.n;
	c->s->nlisteners = sc->egress.n;
	c->imp = pc_arena_calloc(c->s->arena, n ? n : 1, sizeof(*c->imp));
	if (!c->imp)
		return -ENOMEM;
	for (i = 0; i < sc->egress.n; i++) {
		ret = add_imports(c, &sc->egress.v[i], i);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* hostClassification.Matches: a service host is imported when it is a subset of the import. */
static bool imports_host(const char *imported, const char *h)
{
	return strcmp(imported, h) == 0 || pc_host_subset_of(h, imported);
}

/* Does <im> import host <h> of a ServiceEntry of namespace <ns> on <port>? */
static bool import_covers(const struct import *im, const char *ns, const char *h, uint32_t port)
{
	return (!im->port || im->port == port) &&
	       (strcmp(im->ns, ns) == 0 || strcmp(im->ns, "*") == 0) && imports_host(im->host, h);
}

/* The first import of a listener of its own address that covers <h> of <ns> on <port>. */
static const struct import *own_import(const struct ctx *c, const char *ns, const char *h,
				       uint32_t port)
{
	size_t i;

	for (i = 0; c->imp && i < c->nimp; i++) {
		if (c->imp[i].own && import_covers(&c->imp[i], ns, h, port))
			return &c->imp[i];
	}
	return NULL;
}

/*
 * hostClassification.VSMatches (Istio's non-gateway semantics: Matches
 * both ways), by egress listener <li> (SIZE_MAX: any).
 */
static bool vs_imported(const struct ctx *c, const char *ns, const char *h, size_t li)
{
	size_t i;

	if (!c->imp)
		return true;
	for (i = 0; i < c->nimp; i++) {
		const struct import *im = &c->imp[i];

		if (li != SIZE_MAX && im->li != li)
			continue;
		if (im->own || (strcmp(im->ns, ns) != 0 && strcmp(im->ns, "*") != 0))
			continue; /* a listener of its own address: not for captured traffic */
		if (strcmp(im->host, h) == 0 ||
		    ((is_wild(im->host) || is_wild(h)) && pc_host_matches(h, im->host)))
			return true;
	}
	return false;
}

static const char *not_imported(struct ctx *c)
{
	const struct pc_resource *sc = c->s->sidecar;

	return pc_arena_printf(c->s->arena, "not imported by Sidecar %s/%s (egress hosts %s)",
			       sc->meta.ns, nz(sc->meta.name), nz(c->imports));
}

/* ---- ServiceEntries and VirtualServices ---- */

/*
 * Mark the (host, port) pairs of <r> that only listeners of their own
 * address import as routed (clusters, no chains). Returns why the first
 * such listener is one (NULL: none), or "" on -ENOMEM in <*ret>.
 */
static const char *own_only(struct ctx *c, struct pc_scope_obj *o, const struct pc_resource *r,
			    int *ret)
{
	const struct pc_service_entry *se = r->spec;
	const char *why = NULL;
	size_t h, p;

	*ret = 0;
	for (h = 0; h < o->nhosts; h++) {
		for (p = 0; p < o->nports; p++) {
			const struct import *im;

			if (o->visible[h * o->nports + p])
				continue; /* a listener for captured traffic imports it */
			im = own_import(c, r->meta.ns, se->hosts.n ? se->hosts.v[h] : "",
					se->ports.v[p].number);
			if (!im)
				continue;
			if (!o->routed)
				o->routed = pc_arena_calloc(c->s->arena, o->nhosts * o->nports, 1);
			if (!o->routed) {
				*ret = -ENOMEM;
				return NULL;
			}
			o->routed[h * o->nports + p] = true;
			why = why ? why : im->own;
		}
	}
	return why;
}

static int se_own_only(struct ctx *c, struct pc_scope_obj *o, const char *why)
{
	const struct pc_resource *sc = c->s->sidecar;

	return set(o, true, false, NULL,
		   pc_arena_printf(c->s->arena,
				   "imported by Sidecar %s/%s only through its egress listener %s, "
				   "which captured traffic does not reach: a cluster without "
				   "listeners, as in Istio",
				   sc->meta.ns, nz(sc->meta.name), why));
}

/*
 * The egress listener that builds the listener of host <h> of a
 * ServiceEntry of namespace <ns> on <port>: one with that port first
 * (Istio builds the port listeners' keys before the catch-all's), else
 * the first other that imports it; PC_SCOPE_NO_LISTENER when none does.
 */
static uint16_t builder_of(const struct ctx *c, const char *ns, const char *h, uint32_t port)
{
	size_t i, found = SIZE_MAX;

	for (i = 0; c->imp && i < c->nimp; i++) {
		const struct import *im = &c->imp[i];

		if (im->own || !import_covers(im, ns, h, port))
			continue;
		if (im->port)
			return (uint16_t)im->li;
		if (found == SIZE_MAX)
			found = im->li;
	}
	return found == SIZE_MAX ? PC_SCOPE_NO_LISTENER : (uint16_t)found;
}

static int se_via(struct ctx *c, struct pc_scope_obj *o, const struct pc_resource *r)
{
	const struct pc_service_entry *se = r->spec;
	size_t h, p;

	if (!c->imp || !o->nports)
		return 0;
	o->via = pc_arena_calloc(c->s->arena, o->nhosts * o->nports, sizeof(*o->via));
	if (!o->via)
		return -ENOMEM;
	for (h = 0; h < o->nhosts; h++) {
		for (p = 0; p < o->nports; p++)
			o->via[h * o->nports + p] =
				builder_of(c, r->meta.ns, se->hosts.n ? se->hosts.v[h] : "",
					   se->ports.v[p].number);
	}
	return 0;
}

static int se_verdict(struct ctx *c, struct pc_scope_obj *o, const struct pc_resource *r)
{
	struct pc_scope *s = c->s;
	const struct pc_service_entry *se = r->spec;
	size_t h, p, nvis = 0;
	const char *hidden = NULL, *own;
	int ret = 0;

	o->nhosts = se->hosts.n ? se->hosts.n : 1;
	o->nports = se->ports.n;
	o->visible = pc_arena_calloc(s->arena, o->nhosts * (o->nports ? o->nports : 1), 1);
	if (!o->visible)
		return -ENOMEM;
	if (!exported(s, &se->export_to, r->meta.ns))
		return hidden_by_export(c, o, r, &se->export_to);
	ret = se_via(c, o, r);
	if (ret < 0)
		return ret;
	for (h = 0; h < o->nhosts; h++) {
		bool any = false;

		for (p = 0; p < o->nports; p++) {
			size_t hp = h * o->nports + p;

			/* imported for captured traffic: some egress listener builds its listener */
			o->visible[hp] = !o->via || o->via[hp] != PC_SCOPE_NO_LISTENER;
			any |= o->visible[hp];
			nvis += o->visible[hp];
		}
		if (!any && !hidden)
			hidden = se->hosts.n ? se->hosts.v[h] : "";
	}
	own = c->imp && o->nports ? own_only(c, o, r, &ret) : NULL;
	if (ret < 0)
		return ret;
	if (nvis == 0 && own)
		return se_own_only(c, o, own);
	if (nvis == 0)
		return set(o, false, false, NULL, not_imported(c));
	if (!c->imp)
		return set(o, true, false, NULL,
			   pc_arena_printf(s->arena,
					   "exported to namespace %s; no Sidecar "
					   "egress limits it",
					   s->ns));
	if (hidden)
		return set(o, true, false, NULL,
			   pc_arena_printf(s->arena,
					   "partly imported by Sidecar %s/%s: host %s is not",
					   s->sidecar->meta.ns, nz(s->sidecar->meta.name), hidden));
	return set(o, true, false, NULL,
		   pc_arena_printf(s->arena, "imported by Sidecar %s/%s", s->sidecar->meta.ns,
				   nz(s->sidecar->meta.name)));
}

/* Do <gateways> (empty: the mesh default) include `mesh`, the sidecars? */
static bool for_mesh(const struct pc_strv *gateways)
{
	return gateways->n == 0 || pc_gateways_have_mesh(gateways);
}

/* Which egress listeners select VirtualService <r> (SelectVirtualServices, per listener)? */
static int vs_listeners(struct ctx *c, struct pc_scope_obj *o, const struct pc_resource *r)
{
	const struct pc_virtual_service *vs = r->spec;
	size_t li, i;

	if (!c->imp)
		return 0; /* one listener selects every VirtualService in force */
	o->sel = pc_arena_calloc(c->s->arena, c->s->nlisteners ? c->s->nlisteners : 1,
				 sizeof(*o->sel));
	if (!o->sel)
		return -ENOMEM;
	for (li = 0; li < c->s->nlisteners; li++) {
		for (i = 0; i < vs->hosts.n && !o->sel[li]; i++)
			o->sel[li] = vs_imported(c, r->meta.ns, vs->hosts.v[i], li);
	}
	return 0;
}

static int vs_verdict(struct ctx *c, struct pc_scope_obj *o, const struct pc_resource *r)
{
	const struct pc_virtual_service *vs = r->spec;
	const char *l;
	size_t i;

	if (!exported(c->s, &vs->export_to, r->meta.ns))
		return hidden_by_export(c, o, r, &vs->export_to);
	/*
	 * Istio's VirtualServicesForGateway(ns, "mesh") indexes a
	 * VirtualService by its spec.gateways only: a match's gateways
	 * cannot bring it to the sidecars. Configuring gateways is what it
	 * is for, so no warning (never stays false).
	 */
	if (!for_mesh(&vs->gateways)) {
		l = list_str(c->s->arena, &vs->gateways);
		return set(o, false, false, NULL,
			   l ? pc_arena_printf(c->s->arena,
					       "its gateways %s do not include mesh: it configures "
					       "those gateways, not sidecars",
					       l)
			     : NULL);
	}
	for (i = 0; i < vs->hosts.n; i++) {
		if (vs_imported(c, r->meta.ns, vs->hosts.v[i], SIZE_MAX))
			return vs_listeners(c, o, r) < 0
				       ? -ENOMEM
				       : set(o, true, false, NULL,
					     c->imp ? pc_arena_printf(
							      c->s->arena,
							      "imported by Sidecar %s/%s (host %s)",
							      c->s->sidecar->meta.ns,
							      nz(c->s->sidecar->meta.name),
							      vs->hosts.v[i])
						    : "exported to this workload's namespace");
	}
	return set(o, false, false, NULL, not_imported(c));
}

/* ---- one namespace per host (Istio's selectServices) ---- */

/* One imported host of one ServiceEntry. */
struct host_ref {
	const char *host;
	const struct pc_resource *r;
	size_t h;
	bool own; /* in the workload's namespace */
};

/*
 * By host, then the workload's namespace first, then the oldest: Istio's
 * SortServicesByCreationTime, whose tie-break is the service's name (a
 * ServiceEntry's service is named after its host, the same here) and then
 * its namespace.
 */
static int by_host(const void *a, const void *b)
{
	const struct host_ref *x = a, *y = b;
	int c = strcmp(x->host, y->host);

	if (c)
		return c;
	if (x->own != y->own)
		return x->own ? -1 : 1;
	c = strcmp(nz(x->r->meta.creation_timestamp), nz(y->r->meta.creation_timestamp));
	if (c)
		return c;
	c = strcmp(nz(x->r->meta.ns), nz(y->r->meta.ns));
	return c ? c : older(x->r, y->r);
}

static bool host_any_port(const struct pc_scope_obj *o, size_t h)
{
	size_t p;

	for (p = 0; p < o->nports; p++) {
		if (o->visible[h * o->nports + p])
			return true;
	}
	return false;
}

/* Hide host <ref> of its entry: another namespace's entry has it. */
static int drop_host(struct ctx *c, const struct host_ref *ref, const struct pc_resource *winner)
{
	struct pc_scope *s = c->s;
	struct pc_scope_obj *o = &s->obj[ref->r - s->m->res];
	size_t h, p;

	for (p = 0; p < o->nports; p++)
		o->visible[ref->h * o->nports + p] = false;
	for (h = 0; h < o->nhosts && !host_any_port(o, h); h++)
		;
	return set(o, h < o->nhosts, false, NULL,
		   pc_arena_printf(s->arena,
				   "host %s is imported from namespace %s (ServiceEntry %s/%s): "
				   "Istio keeps one namespace per host, %s",
				   ref->host, winner->meta.ns, winner->meta.ns,
				   nz(winner->meta.name),
				   strcmp(winner->meta.ns, s->ns) == 0
					   ? "the workload's first"
					   : "the oldest entry's when none is the workload's"));
}

static size_t collect_hosts(const struct pc_scope *s, struct host_ref *v)
{
	size_t i, h, n = 0;

	for (i = 0; i < s->n; i++) {
		const struct pc_resource *r = &s->m->res[i];
		const struct pc_service_entry *se = r->spec;

		if (r->kind != PC_KIND_SERVICE_ENTRY || !s->obj[i].in_force)
			continue;
		for (h = 0; h < se->hosts.n; h++) {
			if (!host_any_port(&s->obj[i], h))
				continue;
			v[n].host = se->hosts.v[h];
			v[n].r = r;
			v[n].h = h;
			v[n++].own = strcmp(r->meta.ns, s->ns) == 0;
		}
	}
	return n;
}

/*
 * A host imported from several namespaces is kept from one: the
 * workload's, else the oldest entry's (Istio's selectServices keeps the
 * first it sees, services sorted by sortServicesByCreationTime). Without
 * Sidecar egress too: Istio's unified SidecarScope (PILOT_UNIFIED_SIDECAR_SCOPE,
 * the default) treats no Sidecar as one egress listener importing every
 * host of every namespace.
 * Entries of that namespace keep it all (their overlaps are the usual
 * conflicts: the oldest wins).
 */
static int one_namespace_per_host(struct ctx *c)
{
	struct pc_scope *s = c->s;
	struct host_ref *v;
	size_t i, n, first = 0, total = 0;
	int ret = 0;

	for (i = 0; i < s->n; i++) {
		if (s->m->res[i].kind == PC_KIND_SERVICE_ENTRY && s->obj[i].in_force)
			total += s->obj[i].nhosts;
	}
	v = pc_calloc(total ? total : 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	n = collect_hosts(s, v);
	qsort(v, n, sizeof(*v), by_host);
	for (i = 0; i < n && ret == 0; i++) {
		if (strcmp(v[i].host, v[first].host) != 0)
			first = i;
		else if (strcmp(v[i].r->meta.ns, v[first].r->meta.ns) != 0)
			ret = drop_host(c, &v[i], v[first].r);
	}
	free(v);
	return ret;
}

/* ---- listener keys (Istio's locked listeners) ---- */

/* Istio's listenerKey: the bind address (0.0.0.0 or a plain IP) and the port. */
struct lkey {
	bool wild;
	struct pc_addr ip;
	uint32_t port;
};

struct lkeys {
	struct lkey *v;
	size_t n, cap;
};

/* An HTTP-family port (declared, else by its name's prefix): its listener is 0.0.0.0:port. */
static bool http_port(const struct pc_service_port *sp)
{
	return pc_protocol_is_http(pc_service_port_protocol(sp));
}

/*
 * The key of address <a> of <se> on its port <p>: a plain IP's own,
 * else (a CIDR, no address, an HTTP port) 0.0.0.0 (Istio's
 * buildSidecarOutboundListener, one service per host and address).
 */
static void key_of(const struct pc_service_entry *se, size_t p, size_t a, struct lkey *k)
{
	struct pc_prefix pre;

	memset(k, 0, sizeof(*k));
	k->port = se->ports.v[p].number;
	k->wild = true;
	if (http_port(&se->ports.v[p]) || !se->addresses.n ||
	    pc_prefix_parse(se->addresses.v[a], &pre) < 0)
		return;
	if (pc_prefix_is_host(&pre)) {
		k->wild = false;
		k->ip = pre.addr;
	}
}

static bool key_eq(const struct lkey *x, const struct lkey *y)
{
	return x->port == y->port && x->wild == y->wild &&
	       (x->wild || pc_addr_equal(&x->ip, &y->ip));
}

/* Is egress listener <li> one with a port (its keys are built first)? */
static bool port_listener(const struct ctx *c, uint16_t li)
{
	const struct pc_sidecar *sc = c->s->sidecar->spec;

	return li < sc->egress.n && listener_port(&sc->egress.v[li]) != 0;
}

static int push_key(struct lkeys *k, const struct pc_service_entry *se, size_t p, size_t a)
{
	if (k->n == k->cap) {
		size_t cap = k->cap ? 2 * k->cap : 16;
		struct lkey *v = realloc(k->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		k->v = v;
		k->cap = cap;
	}
	key_of(se, p, a, &k->v[k->n++]);
	return 0;
}

/* The keys of entry <o> (<se>) that listeners with a port build. */
static int entry_port_keys(struct ctx *c, const struct pc_scope_obj *o,
			   const struct pc_service_entry *se, struct lkeys *k)
{
	size_t h, p, a, na = se->addresses.n ? se->addresses.n : 1;
	int ret = 0;

	for (h = 0; h < o->nhosts; h++) {
		for (p = 0; p < o->nports; p++) {
			if (!o->visible[h * o->nports + p] ||
			    !port_listener(c, o->via[h * o->nports + p]))
				continue;
			for (a = 0; a < na && ret == 0; a++)
				ret = push_key(k, se, p, a);
		}
	}
	return ret;
}

/* Pass 1: the keys the listeners with a port build. */
static int port_keys(struct ctx *c, struct lkeys *k)
{
	struct pc_scope *s = c->s;
	size_t i;
	int ret = 0;

	for (i = 0; i < s->n && ret == 0; i++) {
		if (s->m->res[i].kind == PC_KIND_SERVICE_ENTRY && s->obj[i].in_force &&
		    s->obj[i].via)
			ret = entry_port_keys(c, &s->obj[i], s->m->res[i].spec, k);
	}
	return ret;
}

static bool key_taken(const struct lkeys *k, const struct lkey *x)
{
	size_t i;

	for (i = 0; i < k->n; i++) {
		if (key_eq(&k->v[i], x))
			return true;
	}
	return false;
}

/* The reason of an entry some of whose keys are locked: which, and why. */
static int locked_reason(struct ctx *c, struct pc_scope_obj *o, const struct pc_resource *r,
			 size_t p, size_t a, bool none_open)
{
	const struct pc_service_entry *se = r->spec;
	const struct pc_resource *sc = c->s->sidecar;
	struct lkey k;

	key_of(se, p, a, &k);
	return set(o, !none_open, false, NULL,
		   pc_arena_printf(
			   c->s->arena,
			   "%s; its listener %s:%u is built first by Sidecar %s/%s's egress "
			   "listener with port %u, which Istio locks for the catch-all "
			   "listener",
			   none_open ? "imported by the catch-all egress listener only" : o->reason,
			   k.wild ? "0.0.0.0" : se->addresses.v[a], k.port, sc->meta.ns,
			   nz(sc->meta.name), k.port));
}

/* Lock address <a> of (host, port) pair <hp> of <o> (<na> addresses); -ENOMEM. */
static int lock_one(struct ctx *c, struct pc_scope_obj *o, size_t hp, size_t a, size_t na)
{
	if (!o->open) {
		o->open = pc_arena_calloc(c->s->arena, o->nhosts * o->nports * na, 1);
		if (!o->open)
			return -ENOMEM;
		memset(o->open, 1, o->nhosts * o->nports * na);
	}
	o->open[hp * na + a] = false;
	return 0;
}

/* Pass 2: lock the catch-all listener's (host, port, address) whose key is taken. */
static int lock_entry(struct ctx *c, struct pc_scope_obj *o, const struct pc_resource *r,
		      const struct lkeys *k)
{
	const struct pc_service_entry *se = r->spec;
	size_t hp, a, na = se->addresses.n ? se->addresses.n : 1, nopen = 0, lp = 0, la = 0;
	bool any = false;
	struct lkey x;

	o->naddrs = na;
	for (hp = 0; hp < o->nhosts * o->nports; hp++) {
		for (a = 0; o->visible[hp] && a < na; a++) {
			key_of(se, hp % o->nports, a, &x);
			if (port_listener(c, o->via[hp]) || !key_taken(k, &x)) {
				nopen++;
				continue;
			}
			if (lock_one(c, o, hp, a, na) < 0)
				return -ENOMEM;
			any = true;
			lp = hp % o->nports;
			la = a;
		}
	}
	return any ? locked_reason(c, o, r, lp, la, nopen == 0) : 0;
}

/*
 * Istio builds the listeners of the egress listeners with a port first
 * and locks their keys: the catch-all listener's services cannot add to
 * them (buildSidecarOutboundListeners, outboundListenerEntry.locked).
 */
static int lock_catch_all_keys(struct ctx *c)
{
	struct pc_scope *s = c->s;
	struct lkeys k = { 0 };
	size_t i;
	int ret;

	if (!c->imp)
		return 0;
	ret = port_keys(c, &k);
	for (i = 0; ret == 0 && k.n && i < s->n; i++) {
		const struct pc_resource *r = &s->m->res[i];

		if (r->kind == PC_KIND_SERVICE_ENTRY && s->obj[i].in_force && s->obj[i].via)
			ret = lock_entry(c, &s->obj[i], r, &k);
	}
	free(k.v);
	return ret;
}

/* ---- VirtualService destinations (Istio's collectImportedServices) ---- */

/* Does a visible ServiceEntry import host <host> on some port? */
static bool host_imported(const struct pc_scope *s, const char *host)
{
	size_t i, h, p;

	for (i = 0; i < s->n; i++) {
		const struct pc_resource *r = &s->m->res[i];
		const struct pc_scope_obj *o = &s->obj[i];
		const struct pc_service_entry *se = r->spec;

		if (r->kind != PC_KIND_SERVICE_ENTRY || !o->in_force || !o->visible)
			continue;
		for (h = 0; h < se->hosts.n; h++) {
			for (p = 0; p < o->nports; p++) {
				if (o->visible[h * o->nports + p] &&
				    strcmp(se->hosts.v[h], host) == 0)
					return true;
			}
		}
	}
	return false;
}

/* Is <a> a better namespace for a destination than <b>: the workload's, else the first by name? */
static bool better_dest(const struct pc_scope *s, const struct pc_resource *a,
			const struct pc_resource *b)
{
	int c;

	if (!b)
		return true;
	if ((strcmp(a->meta.ns, s->ns) == 0) != (strcmp(b->meta.ns, s->ns) == 0))
		return strcmp(a->meta.ns, s->ns) == 0;
	c = strcmp(a->meta.ns, b->meta.ns);
	return c ? c < 0 : older(a, b) < 0;
}

/* The exported ServiceEntry (and its host index <*hi>) that destination <host> names, or NULL. */
static const struct pc_resource *dest_entry(const struct pc_scope *s, const char *host, size_t *hi)
{
	const struct pc_resource *best = NULL;
	size_t i, h;

	for (i = 0; i < s->n; i++) {
		const struct pc_resource *r = &s->m->res[i];
		const struct pc_service_entry *se = r->spec;

		if (r->kind != PC_KIND_SERVICE_ENTRY || !is_valid(r) || s->obj[i].never ||
		    !s->obj[i].visible)
			continue;
		for (h = 0; h < se->hosts.n; h++) {
			if (strcmp(se->hosts.v[h], host) == 0 && better_dest(s, r, best)) {
				best = r;
				*hi = h;
			}
		}
	}
	return best;
}

/*
 * A destination of the imported VirtualService <vsr> that the Sidecar's
 * hosts do not import: Istio still gives the workload its cluster (not its
 * listeners), so that the route works.
 */
static int route_to(struct ctx *c, const struct pc_resource *vsr, const struct pc_destination *d)
{
	struct pc_scope *s = c->s;
	const struct pc_resource *r;
	const struct pc_service_entry *se;
	struct pc_scope_obj *o;
	uint32_t port = d && d->port ? d->port->number : 0;
	size_t h = 0, p;
	bool any = false;

	if (!d || !d->host || host_imported(s, d->host))
		return 0;
	r = dest_entry(s, d->host, &h);
	if (!r)
		return 0;
	se = r->spec;
	o = &s->obj[r - s->m->res];
	if (!o->routed)
		o->routed = pc_arena_calloc(s->arena, o->nhosts * (o->nports ? o->nports : 1), 1);
	if (!o->routed)
		return -ENOMEM;
	for (p = 0; p < o->nports; p++) {
		if (!port || se->ports.v[p].number == port) {
			o->routed[h * o->nports + p] = true;
			any = true;
		}
	}
	if (!any || o->in_force)
		return 0;
	return set(o, true, false, NULL,
		   pc_arena_printf(s->arena,
				   "not imported by Sidecar %s/%s, but a destination of "
				   "VirtualService %s/%s: a cluster without listeners, as in Istio",
				   s->sidecar->meta.ns, nz(s->sidecar->meta.name), vsr->meta.ns,
				   nz(vsr->meta.name)));
}

static int route_all(struct ctx *c, const struct pc_resource *vsr,
		     const struct pc_route_destination *v, size_t n)
{
	size_t i;
	int ret = 0;

	for (i = 0; i < n && ret == 0; i++)
		ret = route_to(c, vsr, v[i].destination);
	return ret;
}

static int infer_destinations(struct ctx *c)
{
	struct pc_scope *s = c->s;
	size_t i, k;
	int ret = 0;

	if (!c->imp)
		return 0; /* every exported service is imported already */
	for (i = 0; i < s->n && ret == 0; i++) {
		const struct pc_resource *r = &s->m->res[i];
		const struct pc_virtual_service *vs = r->spec;

		if (r->kind != PC_KIND_VIRTUAL_SERVICE || !s->obj[i].in_force)
			continue;
		for (k = 0; k < vs->tcp.n && ret == 0; k++)
			ret = route_all(c, r, vs->tcp.v[k].route.v, vs->tcp.v[k].route.n);
		for (k = 0; k < vs->tls.n && ret == 0; k++)
			ret = route_all(c, r, vs->tls.v[k].route.v, vs->tls.v[k].route.n);
	}
	return ret;
}

/* ---- DestinationRules ---- */

enum tier { TIER_LOCAL, TIER_EXPORTED };

/* Exported only to its own namespace (Istio's isPrivateOnly; a selector makes it so). */
static bool dr_private(const struct pc_resource *r)
{
	const struct pc_destination_rule *dr = r->spec;

	if (dr->workload_selector)
		return true;
	return dr->export_to.n == 1 && (strcmp(dr->export_to.v[0], ".") == 0 ||
					strcmp(dr->export_to.v[0], r->meta.ns) == 0);
}

/* Istio's namespaceLocal index: exported to its own namespace at all. */
static bool dr_local(const struct pc_resource *r)
{
	const struct pc_destination_rule *dr = r->spec;
	size_t i;

	if (dr->workload_selector || dr->export_to.n == 0)
		return true;
	for (i = 0; i < dr->export_to.n; i++) {
		const char *e = dr->export_to.v[i];

		if (strcmp(e, "*") == 0 || strcmp(e, ".") == 0 || strcmp(e, r->meta.ns) == 0)
			return true;
	}
	return false;
}

/* Is <r> in the index of <tier> of namespace <ns>? */
static bool in_tier(const struct pc_scope *s, const struct pc_resource *r, enum tier t,
		    const char *ns)
{
	if (r->kind != PC_KIND_DESTINATION_RULE || !is_valid(r) || strcmp(r->meta.ns, ns) != 0 ||
	    !((const struct pc_destination_rule *)r->spec)->host)
		return false;
	if (t == TIER_EXPORTED)
		return !dr_private(r);
	/* the root namespace's own proxies look at its private rules first */
	return strcmp(ns, s->root_ns) == 0 ? dr_private(r) : dr_local(r);
}

/* MostSpecificHostMatch: the exact host, else the longest wildcard that covers <host>. */
static const char *best_host(const struct pc_scope *s, enum tier t, const char *ns,
			     const char *host)
{
	const char *best = NULL;
	size_t i;

	for (i = 0; i < s->ndrs; i++) {
		const struct pc_resource *r = s->drs[i];
		const char *h;

		if (!in_tier(s, r, t, ns))
			continue;
		h = ((const struct pc_destination_rule *)r->spec)->host;
		if (strcmp(h, host) == 0)
			return h;
		if (!is_wild(h) || !has_suffix(is_wild(host) ? host + 1 : host, h + 1))
			continue;
		if (!best || strlen(h) > strlen(best))
			best = h;
	}
	return best;
}

/*
 * The rule of tier <t> of namespace <ns> for <host>: <*found> when the
 * tier has the host, even if it then yields no rule (Istio stops there).
 */
static const struct pc_resource *tier_rule(const struct pc_scope *s, enum tier t, const char *ns,
					   const char *host, bool *found)
{
	const struct pc_resource *sel = NULL, *all = NULL;
	const char *h = best_host(s, t, ns, host);
	size_t i;

	*found = h != NULL;
	for (i = 0; h && i < s->ndrs; i++) {
		const struct pc_resource *r = s->drs[i];
		const struct pc_destination_rule *dr = r->spec;

		if (!in_tier(s, r, t, ns) || strcmp(dr->host, h) != 0)
			continue;
		if (!dr->workload_selector) {
			if (!all || older(r, all) < 0)
				all = r;
		} else if (strcmp(r->meta.ns, s->ns) == 0 &&
			   selects(s, &dr->workload_selector->match_labels)) {
			if (!sel || older(r, sel) < 0)
				sel = r;
		}
	}
	if (t == TIER_EXPORTED && all &&
	    !exported(s, &((const struct pc_destination_rule *)all->spec)->export_to, ns)) {
		*found = false; /* not exported to this workload: the next tier decides */
		return NULL;
	}
	return sel ? sel : all;
}

const struct pc_resource *pc_scope_dr(const struct pc_scope *s, const char *host,
				      const char *svc_ns)
{
	const struct pc_resource *r;
	bool found;

	r = tier_rule(s, TIER_LOCAL, s->ns, host, &found);
	if (found)
		return r;
	if (svc_ns) {
		r = tier_rule(s, TIER_EXPORTED, svc_ns, host, &found);
		if (found)
			return r;
	}
	r = tier_rule(s, TIER_EXPORTED, s->root_ns, host, &found);
	return found ? r : NULL;
}

/* The reason a DestinationRule can never apply here, or NULL. */
static int dr_never(struct ctx *c, struct pc_scope_obj *o, const struct pc_resource *r)
{
	struct pc_scope *s = c->s;
	const struct pc_destination_rule *dr = r->spec;
	bool own = strcmp(r->meta.ns, s->ns) == 0;

	if (dr->workload_selector && !own)
		return set(o, false, true, "spec.workloadSelector",
			   pc_arena_printf(s->arena,
					   "it has a workloadSelector: it applies to workloads of "
					   "namespace %s only",
					   r->meta.ns));
	if (dr->workload_selector && !selects(s, &dr->workload_selector->match_labels))
		return set(o, false, true, "spec.workloadSelector",
			   pc_arena_printf(s->arena,
					   "its workloadSelector does not select this workload "
					   "(labels: %s)",
					   nz(labels_str(s))));
	if (dr->workload_selector || (own && dr_local(r)))
		return 1;
	if (!dr_private(r) && exported(s, &dr->export_to, r->meta.ns))
		return 1;
	return hidden_by_export(c, o, r, &dr->export_to);
}

static int dr_verdict(struct ctx *c, struct pc_scope_obj *o, const struct pc_resource *r)
{
	struct pc_scope *s = c->s;
	const struct pc_destination_rule *dr = r->spec;
	int ret;

	if (c->dr_used[r - s->m->res])
		return set(o, true, false, NULL,
			   pc_arena_printf(s->arena,
					   "the DestinationRule of host %s for this "
					   "workload",
					   nz(dr->host)));
	ret = dr_never(c, o, r);
	if (ret <= 0)
		return ret;
	if (strcmp(r->meta.ns, s->ns) != 0 && strcmp(r->meta.ns, s->root_ns) != 0)
		return set(o, false, false, NULL,
			   pc_arena_printf(s->arena,
					   "it applies to services of namespace %s only, and no "
					   "visible one takes it for host %s",
					   r->meta.ns, nz(dr->host)));
	return set(o, false, false, NULL,
		   pc_arena_printf(s->arena,
				   "no service visible to this workload takes it for host %s "
				   "(a more specific or nearer rule, or no such service)",
				   nz(dr->host)));
}

/* Mark the rules the visible services take. */
static void mark_drs(struct ctx *c)
{
	struct pc_scope *s = c->s;
	size_t i, h, p;

	for (i = 0; i < s->m->nres; i++) {
		const struct pc_resource *r = &s->m->res[i];
		const struct pc_scope_obj *o = &s->obj[i];
		const struct pc_service_entry *se = r->spec;

		if (r->kind != PC_KIND_SERVICE_ENTRY || !o->in_force)
			continue;
		for (h = 0; h < se->hosts.n; h++) {
			const struct pc_resource *d;

			for (p = 0; p < o->nports && !o->visible[h * o->nports + p] &&
				    !(o->routed && o->routed[h * o->nports + p]);
			     p++)
				;
			if (p == o->nports)
				continue;
			d = pc_scope_dr(s, se->hosts.v[h], r->meta.ns);
			if (d)
				c->dr_used[d - s->m->res] = true;
		}
	}
}

/* ---- the whole scope ---- */

static int verdict(struct ctx *c, size_t i, enum pc_kind pass)
{
	const struct pc_resource *r = &c->s->m->res[i];
	struct pc_scope_obj *o = &c->s->obj[i];

	if (r->kind != pass)
		return 0;
	if (!is_valid(r))
		return set(o, false, false, NULL, "invalid: not compiled (see its errors)");
	switch (r->kind) {
	case PC_KIND_SIDECAR:
		return sidecar_verdict(c, o, r);
	case PC_KIND_SERVICE_ENTRY:
		return se_verdict(c, o, r);
	case PC_KIND_VIRTUAL_SERVICE:
		return vs_verdict(c, o, r);
	case PC_KIND_DESTINATION_RULE:
		return dr_verdict(c, o, r);
	default:
		return set(o, false, false, NULL,
			   "not part of the egress policy (ServiceEntry endpoints are)");
	}
}

static int decide(struct ctx *c)
{
	/* DestinationRules last: they follow the visible services */
	static const enum pc_kind order[] = { PC_KIND_SIDECAR, PC_KIND_SERVICE_ENTRY,
					      PC_KIND_VIRTUAL_SERVICE, PC_KIND_WORKLOAD_ENTRY,
					      PC_KIND_DESTINATION_RULE };
	size_t k, i;
	int ret = 0;

	for (k = 0; k < sizeof(order) / sizeof(order[0]); k++) {
		if (order[k] == PC_KIND_VIRTUAL_SERVICE)
			ret = one_namespace_per_host(c); /* after the ServiceEntries */
		if (order[k] == PC_KIND_VIRTUAL_SERVICE && ret == 0)
			ret = lock_catch_all_keys(c);
		if (order[k] == PC_KIND_WORKLOAD_ENTRY)
			ret = infer_destinations(c); /* after the VirtualServices */
		if (ret < 0)
			return ret;
		if (order[k] == PC_KIND_DESTINATION_RULE)
			mark_drs(c);
		for (i = 0; i < c->s->n; i++) {
			ret = verdict(c, i, order[k]);
			if (ret < 0)
				return ret;
		}
	}
	return 0;
}

static void choose_policy(struct pc_scope *s)
{
	const struct pc_sidecar *sc = s->sidecar ? s->sidecar->spec : NULL;

	s->policy = s->o->policy < 0 ? PC_POLICY_REGISTRY_ONLY : s->o->policy;
	if (sc && sc->outbound_traffic_policy) {
		s->policy = sc->outbound_traffic_policy->mode == PC_OUTBOUND_ALLOW_ANY
				    ? PC_POLICY_ALLOW_ANY
				    : PC_POLICY_REGISTRY_ONLY;
		s->policy_from_sidecar = true;
	}
}

int pc_scope_init(struct pc_scope *s, const struct pc_manifest *m, const struct pc_compile_opts *o)
{
	struct ctx c = { .s = s };
	size_t i;
	int ret;

	memset(s, 0, sizeof(*s));
	s->m = m;
	s->o = o;
	s->ns = o->ns && *o->ns ? o->ns : "default";
	s->root_ns = o->root_ns && *o->root_ns ? o->root_ns : "istio-system";
	s->n = m->nres;
	s->arena = pc_arena_new((size_t)8 * 1024);
	if (!s->arena)
		return -ENOMEM;
	s->obj = pc_arena_calloc(s->arena, s->n ? s->n : 1, sizeof(*s->obj));
	c.dr_used = pc_arena_calloc(s->arena, s->n ? s->n : 1, sizeof(*c.dr_used));
	/* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
	s->drs = pc_arena_calloc(s->arena, s->n ? s->n : 1, sizeof(*s->drs));
	ret = s->obj && c.dr_used && s->drs ? 0 : -ENOMEM;
	for (i = 0; ret == 0 && i < s->n; i++) {
		if (m->res[i].kind == PC_KIND_DESTINATION_RULE && is_valid(&m->res[i]))
			s->drs[s->ndrs++] = &m->res[i];
	}
	if (ret == 0) {
		choose_sidecar(s);
		choose_policy(s);
		ret = collect_imports(&c);
	}
	if (ret == 0)
		ret = decide(&c);
	if (ret < 0)
		pc_scope_release(s);
	return ret;
}

void pc_scope_release(struct pc_scope *s)
{
	pc_arena_free(s->arena);
	memset(s, 0, sizeof(*s));
}

const struct pc_scope_obj *pc_scope_of(const struct pc_scope *s, const struct pc_resource *r)
{
	return &s->obj[r - s->m->res];
}

bool pc_scope_visible(const struct pc_scope *s, const struct pc_resource *r, size_t h, size_t p)
{
	const struct pc_scope_obj *o = pc_scope_of(s, r);

	if (!o->in_force || !o->visible || h >= o->nhosts || p >= o->nports)
		return false;
	return o->visible[h * o->nports + p];
}

bool pc_scope_vs_for(const struct pc_scope *s, const struct pc_resource *vs,
		     const struct pc_resource *se, size_t h, size_t p)
{
	const struct pc_scope_obj *v = pc_scope_of(s, vs), *o = pc_scope_of(s, se);
	uint16_t li;

	if (!v->in_force)
		return false;
	if (!s->nlisteners || !o->via || !v->sel)
		return true; /* no Sidecar egress: one listener has it all */
	if (h >= o->nhosts || p >= o->nports)
		return false;
	li = o->via[h * o->nports + p];
	return li != PC_SCOPE_NO_LISTENER && li < s->nlisteners && v->sel[li];
}

bool pc_scope_open(const struct pc_scope *s, const struct pc_resource *r, size_t h, size_t p,
		   size_t a)
{
	const struct pc_scope_obj *o = pc_scope_of(s, r);

	if (!o->open)
		return true;
	if (h >= o->nhosts || p >= o->nports || a >= o->naddrs)
		return false;
	return o->open[(h * o->nports + p) * o->naddrs + a];
}

bool pc_scope_routed(const struct pc_scope *s, const struct pc_resource *r, size_t h, size_t p)
{
	const struct pc_scope_obj *o = pc_scope_of(s, r);

	if (!o->in_force || !o->routed || h >= o->nhosts || p >= o->nports)
		return false;
	return o->routed[h * o->nports + p];
}

/* ---- warnings ---- */

/* The node at dotted <path> under <root>, or the deepest one that exists. */
static const struct pc_node *node_at(const struct pc_node *root, const char *path)
{
	const struct pc_node *n = root, *next;
	char key[64];

	while (n && *path) {
		size_t k = strcspn(path, ".");

		if (k >= sizeof(key))
			break;
		memcpy(key, path, k);
		key[k] = '\0';
		next = pc_node_get(n, key);
		if (!next)
			break;
		n = next;
		path += k + (path[k] == '.');
	}
	return n;
}

int pc_scope_warn(const struct pc_scope *s, struct pc_findings *f)
{
	size_t i;

	for (i = 0; i < s->n; i++) {
		const struct pc_resource *r = &s->m->res[i];
		const struct pc_scope_obj *o = &s->obj[i];
		const struct pc_node *at = o->field ? node_at(r->root, o->field) : NULL;
		struct pc_finding w = { 0 };
		char msg[768];

		if (!o->never || !is_valid(r))
			continue;
		snprintf(msg, sizeof(msg),
			 "never applies to this workload (namespace %s, root namespace %s): %s",
			 s->ns, s->root_ns, o->reason);
		w.sev = PC_SEV_WARNING;
		w.file = (char *)r->file;
		w.line = at ? at->line : r->line;
		w.col = at ? at->col : r->col;
		w.kind = (char *)pc_kind_info(r->kind)->name;
		w.ns = (char *)r->meta.ns;
		w.name = (char *)r->meta.name;
		w.path = (char *)nz(o->field);
		w.msg = msg;
		if (pc_findings_add(f, &w) < 0)
			return -ENOMEM;
	}
	return 0;
}
