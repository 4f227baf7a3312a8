/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * daemon/token.h - the bearer tokens of the API's TCP listener and of the
 * admin endpoint (doc/security.md).
 *
 * They live in <state-dir>/api-token, in Kubernetes' static token file
 * format: one "token,name" a line (more comma-separated fields are
 * ignored; blank lines and lines starting with '#' are skipped). The name
 * is what the audit log records as the user. When the file is missing,
 * the daemon makes one with a single token named "admin": 32 bytes of
 * getrandom(), 64 hex digits.
 *
 * The file is read once, at start, as the user the daemon starts as
 * (root, before it drops privileges), and must be a regular file owned
 * by that user with no group or other permission bits: the state
 * directory belongs to the proxy user, who could otherwise plant a token
 * of their choice. The tokens stay in memory only and are never logged.
 *
 * Threads: a loaded set is read-only, so any thread may check against it.
 */
#ifndef PC_DAEMON_TOKEN_H
#define PC_DAEMON_TOKEN_H

#include <stdbool.h>
#include <stddef.h>

struct pc_err;

#define PC_TOKEN_FILE     "api-token"
#define PC_TOKEN_DEFAULT  "admin" /* the name of the token the daemon makes */
#define PC_TOKEN_MAX      4096    /* bytes of a token */
#define PC_TOKEN_FILE_MAX 65536   /* bytes of the file */

struct pc_token {
	char *token;
	char *name;
};

struct pc_tokens {
	struct pc_token *v;
	size_t n;
};

/*
 * Parse the token file text <text> (<len> bytes; <path> names it in
 * errors) into <out> (pc_tokens_release() it). Returns 0, or -EINVAL with
 * <err> filled (no token, a line without a name, a token with blanks).
 */
int pc_tokens_parse(const char *text, size_t len, const char *path, struct pc_tokens *out,
		    struct pc_err *err);

/*
 * Load <dir>/api-token into <out>, or make it (mode 0600, one token named
 * "admin") when it does not exist. <*created> (may be NULL) says which.
 * Returns 0, or a negative errno with <err> saying what to fix.
 */
int pc_tokens_load(const char *dir, struct pc_tokens *out, bool *created, struct pc_err *err);

/*
 * The name of the token that the HTTP Authorization header value <auth>
 * ("Bearer <token>") carries, or NULL when it is absent, malformed or no
 * token of <t>. Compares in time independent of where the tokens differ.
 */
const char *pc_tokens_check(const struct pc_tokens *t, const char *auth);

/* Whether <a> (<alen> bytes) equals <b> (<blen>), in time that depends on <blen> only. */
bool pc_token_equal(const char *a, size_t alen, const char *b, size_t blen);

/* Wipe and free the tokens; <t> is empty afterwards. */
void pc_tokens_release(struct pc_tokens *t);

#endif /* PC_DAEMON_TOKEN_H */
