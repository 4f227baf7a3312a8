/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cli/client.h - talking to the API of `portcullis run` (doc/api.md) and
 * to its admin endpoint (doc/admin.md).
 *
 * A client is one libcurl handle bound to one server address. Requests are
 * synchronous; every response body is JSON and is parsed with the model's
 * YAML parser (JSON is YAML) under limits of its own, because the body is
 * input like any other: a hostile or broken server gets an error message,
 * never a crash or an unbounded allocation. Transport failures are printed
 * here, the kubectl way, so that verbs only deal with HTTP statuses.
 */
#ifndef PC_CLI_CLIENT_H
#define PC_CLI_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <curl/curl.h>

#include "core/buf.h"

struct pc_node;
struct pc_yaml_stream;

#define PC_CLIENT_DEFAULT_SOCKET "/run/portcullis/api.sock"
#define PC_CLIENT_ENV            "PORTCULLIS_SERVER"
#define PC_CLIENT_DEFAULT_ADMIN  "127.0.0.1:15000"
#define PC_CLIENT_ADMIN_ENV      "PORTCULLIS_ADMIN"
/* The bearer token for TCP and the admin endpoint (doc/security.md): --token-file, else this. */
#define PC_CLIENT_TOKEN_ENV      "PORTCULLIS_TOKEN_FILE"
#define PC_CLIENT_DEFAULT_TOKEN  "/var/lib/portcullis/api-token"

/* Seconds: connecting; a get or delete; an apply (100,000 objects take a while). */
#define PC_CLIENT_CONNECT_TIMEOUT 5L
#define PC_CLIENT_TIMEOUT         300L
#define PC_CLIENT_APPLY_TIMEOUT   3600L
#define PC_CLIENT_NO_TIMEOUT      0L
/* Seconds for a request to the admin endpoint (answered from memory). */
#define PC_CLIENT_ADMIN_TIMEOUT   10L

/* A response body larger than this is refused (a list of 100,000 objects is ~50 MiB). */
#define PC_CLIENT_MAX_BODY (512u << 20)
/* A watch event line larger than this ends the watch. */
#define PC_CLIENT_MAX_LINE (64u << 20)

struct pc_client {
	CURL *curl;
	char *addr;             /* "unix:PATH" or "http://HOST:PORT", for messages */
	char *unix_path;        /* NULL over TCP */
	char *base;             /* URL prefix: "http://localhost" or "http://HOST:PORT" */
	char *auth;             /* "Authorization: Bearer ..." header, or NULL */
	const char *token_file; /* where <auth> came from, for messages */
	unsigned token_uid;     /* its owner: the server's listener must be this uid's */
	bool withheld;          /* a token was not sent: the server is not on loopback */
	bool peer_refused;      /* the last request was stopped before the token went out */
	const char *what;       /* "server" or "admin endpoint", for messages */
	bool quiet;             /* keep transport and admin errors in <msg>, don't print them */
	char msg[512];          /* the last such error, without "portcullis: " */
	char errbuf[CURL_ERROR_SIZE];
};

struct pc_response {
	long status; /* HTTP status; 0 before a response */
	struct pc_buf body;
	struct pc_yaml_stream *doc; /* the parsed body, or NULL */
	const struct pc_node *root; /* its mapping, or NULL when the body is not one */
	char *parse_error;          /* why <root> is NULL, or NULL */
};

/*
 * Bind <c> to <server> ("unix:PATH", "/PATH", "http://HOST:PORT" or
 * "HOST:PORT"); NULL means $PORTCULLIS_SERVER, else the default socket.
 * Returns 0, or -EINVAL after printing why the address is not one (the
 * caller exits 2 for a flag, 1 for the environment: see <*from_env>).
 *
 * <token_file> is --token-file PATH (NULL: $PORTCULLIS_TOKEN_FILE, else
 * /var/lib/portcullis/api-token when readable; borrowed). A client bound
 * to a TCP server or to the admin endpoint sends its first token as
 * "Authorization: Bearer"; the Unix socket needs none. The file must pass
 * pc_client_token_check() (the default one too, when it exists); the token
 * goes only to a loopback address whose listener belongs to the file's
 * owner (doc/security.md).
 */
int pc_client_init(struct pc_client *c, const char *server, const char *token_file, bool *from_env);

/*
 * Whether the CLI may read a token from a file with the status <st>, for
 * the caller <caller>: a regular file (or /dev/null, which holds none),
 * owned by root or by <caller>, that nobody else can write, with one link.
 * Returns 0, or -EPERM with why not in <why> ("it is a FIFO", ...).
 */
struct stat;
int pc_client_token_check(const struct stat *st, unsigned caller, char *why, size_t size);

/* The --token-file option's getopt value in every verb that talks to the daemon. */
#define PC_OPT_TOKEN_FILE 0x200

void pc_client_release(struct pc_client *c);

/*
 * Bind <c> to the admin endpoint of `portcullis run` at <addr>
 * ("HOST:PORT" or "http://HOST:PORT"); NULL means $PORTCULLIS_ADMIN, else
 * 127.0.0.1:15000; <token_file> as for pc_client_init(). Returns 0, or -EINVAL after printing why the address is
 * not one (<*from_env> as for pc_client_init()). Also when the token file
 * given (flag or environment) cannot be read: then <*from_env> is set, so
 * that the caller exits 1.
 */
int pc_client_init_admin(struct pc_client *c, const char *addr, const char *token_file,
			 bool *from_env);

/*
 * GET <target> from the admin endpoint <c> and check that the answer is a
 * 200 whose body is a JSON object (<r>->root). Returns 0, or -EIO after
 * reporting why not: no answer, another status (with the start of its
 * body), or a body that is no JSON object. Reports go to stderr, or only
 * to c->msg when c->quiet. pc_response_release() <r> in every case.
 */
int pc_client_admin_get(struct pc_client *c, const char *target, struct pc_response *r);

/*
 * Append "?key=value" (the first time) or "&key=value" to the request
 * target <b>, <value> percent-encoded.
 */
void pc_client_param(struct pc_client *c, struct pc_buf *b, const char *key, const char *value);

/*
 * Send <method> <target> (path and query) with the multipart body <mime>
 * (NULL: none), waiting at most <timeout> seconds (PC_CLIENT_NO_TIMEOUT:
 * forever), and fill <r> (pc_response_release() it in every case). The
 * body is parsed when it is JSON. Returns 0 when a response came (whatever
 * its status), or -EIO after printing why there was none ("cannot reach
 * the server at ...").
 */
int pc_client_request(struct pc_client *c, const char *method, const char *target, curl_mime *mime,
		      long timeout, struct pc_response *r);

/*
 * Called for each line of a streamed response, without its '\n'; <line>
 * is NUL-terminated. Return 0 to go on, anything else to stop the stream.
 */
typedef int pc_client_line_fn(void *arg, char *line, size_t len);

/*
 * GET <target> and hand each line of a 200 response to <fn> as it
 * arrives, without a timeout. A non-200 response is collected in <r> as
 * pc_client_request() does. Returns 0 when the stream ended (or <fn>
 * stopped it: then <*stopped> is its value), -EIO after printing why.
 */
int pc_client_stream(struct pc_client *c, const char *target, pc_client_line_fn *fn, void *arg,
		     struct pc_response *r, int *stopped);

void pc_response_release(struct pc_response *r);

/*
 * Report the failed response <r> on stderr, as kubectl does:
 * "Error from server (<reason>): <message>", or a line saying what the
 * server sent when it is not a Status. Returns PC_EXIT_FAIL.
 */
int pc_client_report(const struct pc_client *c, const struct pc_response *r);

/*
 * Report a 2xx response <r> whose body is not what doc/api.md promises
 * (<what> says what was expected). Returns PC_EXIT_FAIL.
 */
int pc_client_bad_response(const struct pc_client *c, const struct pc_response *r,
			   const char *what);

/* The string value of <key> in mapping <map>, or NULL (absent, not a scalar, null). */
const char *pc_client_str(const struct pc_node *map, const char *key);

/*
 * The number at <key> of mapping <map> in <*out>: true for a finite JSON
 * number, false otherwise (absent, a string, null, 1e999, ...).
 */
bool pc_client_num(const struct pc_node *map, const char *key, double *out);

/*
 * "<kind lowercased>.networking.istio.io" in <out> (cut to <size>), as kubectl
 * names a resource: "serviceentry.networking.istio.io".
 */
void pc_client_kind_ref(char *out, size_t size, const char *kind);

#endif /* PC_CLI_CLIENT_H */
