/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * daemon/api.h - the HTTP+JSON API (doc/api.md) on a Unix socket and,
 * when asked, a loopback TCP address.
 *
 * The sockets are made first (pc_api_listen(), as root: the Unix socket
 * gets mode 0660 and the group "portcullis"), the server started once the
 * daemon is ready (pc_api_start()).
 *
 * The handlers translate: they call the control interface
 * (daemon/control.h), which answers in errnos and a struct
 * pc_change_result, and map those to HTTP statuses and Kubernetes Status
 * bodies (doc/api.md).
 */
#ifndef PC_DAEMON_API_H
#define PC_DAEMON_API_H

#include "core/buf.h"

struct pc_api;
struct pc_control;
struct pc_err;
struct pc_tokens;

/*
 * Listen on the Unix socket <socket_path> and on the loopback TCP address
 * <tcp> ("127.0.0.1:8080", "[::1]:8080"); either may be NULL (fd -1).
 * Returns 0 with the fds in <fds>, or a negative errno with <err> filled.
 */
int pc_api_listen(const char *socket_path, const char *tcp, int fds[2], struct pc_err *err);

/*
 * Serve the API on <fds> (taken) for <ctl>. The TCP listener (fds[1])
 * serves only requests that carry one of <tokens> (borrowed; must outlive
 * the server; needed when fds[1] >= 0) as a bearer token; the Unix socket
 * needs none. Returns 0 or a negative errno.
 */
int pc_api_start(struct pc_control *ctl, const int fds[2], const struct pc_tokens *tokens,
		 struct pc_api **out, struct pc_err *err);

/* An answer to a request: HTTP status and a JSON body. */
struct pc_reply {
	unsigned status;
	struct pc_buf body;
	const char *content_type;
};

/* Fill <r> with a Kubernetes-style Status: {"kind":"Status","status":"Failure",...}. */
void pc_reply_status(struct pc_reply *r, unsigned code, const char *reason, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Stop serving: waits for the requests in progress (call pc_control_shutdown() first). */
void pc_api_stop(struct pc_api *api);

#endif /* PC_DAEMON_API_H */
