/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * daemon/api-int.h - the request handlers (daemon/api_reply.c) without
 * the HTTP server around them (daemon/api.c). Included only by those two
 * files and tests/unit/daemon/test_api.c.
 *
 * Each fills <r> (zeroed by the caller; the body is the caller's to
 * release) with the status and JSON body doc/api.md describes. Arguments
 * are the request's query values: NULL when absent.
 */
#ifndef PC_DAEMON_API_INT_H
#define PC_DAEMON_API_INT_H

#include <stddef.h>

struct pc_audit_user;
struct pc_control;
struct pc_reply;
struct pc_upload;

/*
 * POST /v1/apply with the uploaded files, by <who> (NULL: not audited,
 * for tests).
 */
void pc_api_apply(struct pc_control *ctl, const struct pc_upload *files, size_t n,
		  const struct pc_audit_user *who, struct pc_reply *r);

/* DELETE /v1/objects, by <who> (as above). */
void pc_api_delete(struct pc_control *ctl, const char *kind, const char *ns, const char *name,
		   const char *resource_version, const struct pc_audit_user *who,
		   struct pc_reply *r);

/* POST /v1/delete with the uploaded delete lists, by <who> (as above). */
void pc_api_delete_list(struct pc_control *ctl, const struct pc_upload *files, size_t n,
			const struct pc_audit_user *who, struct pc_reply *r);

/* GET /v1/objects. */
void pc_api_list(struct pc_control *ctl, const char *kind, const char *ns, const char *name,
		 struct pc_reply *r);

/* GET /v1/status. */
void pc_api_status(struct pc_control *ctl, struct pc_reply *r);
void pc_api_addresses(struct pc_control *ctl, struct pc_reply *r);

#endif /* PC_DAEMON_API_INT_H */
