/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * policy/names.h - building the snapshot's DNS name table and its index of
 * auto-allocated addresses (compile.c); the lookups are declared in
 * policy/snapshot.h.
 */
#ifndef PC_POLICY_NAMES_H
#define PC_POLICY_NAMES_H

#include <stddef.h>

struct pc_dns_host;
struct pc_snapshot;
struct pc_vip;

/*
 * Copy <vips> into <s>'s arena, sorted by name, with the index by
 * address; an address outside the allocation ranges is dropped. Returns
 * 0 or -ENOMEM.
 */
int pc_names_set_vips(struct pc_snapshot *s, const struct pc_vip *vips, size_t n);

/*
 * Sort the host entries <v> (their strings already in <s>'s arena) into
 * <s>, keeping the first of each host. Returns 0 or -ENOMEM.
 */
int pc_names_seal_hosts(struct pc_snapshot *s, const struct pc_dns_host *v, size_t n);

#endif /* PC_POLICY_NAMES_H */
