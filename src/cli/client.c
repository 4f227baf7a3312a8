/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cli/client.c - HTTP requests to the daemon's API and admin endpoint with libcurl.
 *
 * One easy handle per client, reset before each request so no option of a
 * previous request leaks into the next. Proxies from the environment are
 * ignored (the API is local: a Unix socket or loopback), redirects are not
 * followed, and only http is allowed. Response bodies are held in memory
 * up to PC_CLIENT_MAX_BODY and parsed with limits sized for a full listing
 * (not the 32 MiB of a manifest); a watch is read line by line, each line
 * bounded by PC_CLIENT_MAX_LINE.
 */
#include "cli/client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli/peer.h"
#include "cli/term.h"
#include "core/alloc.h"
#include "core/err.h"
#include "core/usage.h"
#include "model/node.h"
#include "model/resource.h"

#ifndef PC_VERSION
#define PC_VERSION "0.0.0"
#endif

#define UNIX_PATH_MAX 108 /* sizeof(sockaddr_un.sun_path) */

/* Parse limits for response bodies: JSON has no anchors; a listing nests 2 deeper. */
#define BODY_MAX_DEPTH   128u
#define BODY_MAX_ANCHORS 1u
#define BODY_MAX_WEIGHT  (8u << 20)

struct sink {
	struct pc_client *c;
	struct pc_buf *b;
	size_t max;
	bool too_big;
	pc_client_line_fn *fn; /* NULL: collect the whole body */
	void *arg;
	int stopped;
};

/* Hints after "cannot reach the <what> at <addr>: <why>". */
#define SERVER_HINT " (is 'portcullis run' running?)"
#define ADMIN_HINT                                                                               \
	" (is 'portcullis run' running with its admin endpoint there? point at it with --admin " \
	"ADDR or $" PC_CLIENT_ADMIN_ENV ")"

/* Report a failure of <c>: print it, or only keep it in c->msg when c->quiet. */
static void __attribute__((format(printf, 2, 3)))
client_error(struct pc_client *c, const char *fmt, ...)
{
	va_list ap;
	char *safe;

	va_start(ap, fmt);
	vsnprintf(c->msg, sizeof(c->msg), fmt, ap);
	va_end(ap);
	pc_utf8_trim(c->msg); /* vsnprintf may have cut a character */
	/* Parts of it may come from the server; never longer than the original. */
	safe = pc_term_safe(c->msg, PC_TERM_INLINE);
	snprintf(c->msg, sizeof(c->msg), "%s", safe);
	free(safe);
	if (!c->quiet)
		pc_usage_print("%s", c->msg);
}

static bool valid_hostport(const char *s)
{
	const char *colon = strrchr(s, ':');
	const char *p;
	long port;
	char *end;

	if (!colon || colon == s || !colon[1])
		return false;
	if (s[0] == '[' && colon[-1] != ']')
		return false;
	for (p = s; p < colon; p++)
		if (strchr("/?#@ \t\r\n", *p))
			return false;
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	return !errno && !*end && colon[1] >= '0' && colon[1] <= '9' && port >= 1 && port <= 65535;
}

static char *concat(const char *a, const char *b)
{
	size_t n = strlen(a) + strlen(b) + 1;
	char *s = pc_xmalloc(n);

	snprintf(s, n, "%s%s", a, b);
	return s;
}

/* Fill the address fields of <c> from <s>. Returns 0 or -EINVAL. */
static int parse_addr(struct pc_client *c, const char *s)
{
	char *hp;
	size_t n;

	if (strncmp(s, "unix:", 5) == 0 || s[0] == '/') {
		const char *path = s[0] == '/' ? s : s + 5;

		if (!*path || strlen(path) >= UNIX_PATH_MAX)
			return -EINVAL;
		c->unix_path = pc_xstrdup(path);
		c->addr = concat("unix:", path);
		c->base = pc_xstrdup("http://localhost");
		return 0;
	}
	if (strncmp(s, "http://", 7) == 0)
		s += 7;
	else if (strstr(s, "://"))
		return -EINVAL;
	hp = pc_xstrdup(s);
	n = strlen(hp);
	if (n && hp[n - 1] == '/')
		hp[n - 1] = '\0';
	if (!valid_hostport(hp)) {
		free(hp);
		return -EINVAL;
	}
	c->addr = concat("http://", hp);
	c->base = pc_xstrdup(c->addr);
	free(hp);
	return 0;
}

static void start_curl(struct pc_client *c)
{
	/* A server that goes away mid-request must not kill us with SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || !(c->curl = curl_easy_init())) {
		pc_usage_print("cannot initialize libcurl");
		exit(PC_EXIT_FAIL);
	}
}

/* What kind of file <mode> is, for a refusal. */
static const char *file_kind(mode_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFIFO:
		return "a FIFO";
	case S_IFDIR:
		return "a directory";
	case S_IFCHR:
	case S_IFBLK:
		return "a device";
	case S_IFSOCK:
		return "a socket";
	default:
		return "not a regular file";
	}
}

int pc_client_token_check(const struct stat *st, unsigned caller, char *why, size_t size)
{
	/* Empty by definition: "--token-file /dev/null" sends no token. */
	if (S_ISCHR(st->st_mode) && st->st_rdev == makedev(1, 3))
		return 0;
	if (!S_ISREG(st->st_mode))
		snprintf(why, size, "it is %s", file_kind(st->st_mode));
	else if (st->st_uid != 0 && st->st_uid != caller)
		snprintf(why, size, "it is owned by uid %u, not by root or by you (uid %u)",
			 (unsigned)st->st_uid, caller);
	else if (st->st_mode & (S_IWGRP | S_IWOTH))
		snprintf(why, size, "others can write it (mode %04o): chmod 600 it",
			 (unsigned)(st->st_mode & 07777));
	else if (st->st_nlink != 1)
		snprintf(why, size, "it has %lu hard links", (unsigned long)st->st_nlink);
	else
		return 0;
	return -EPERM;
}

/*
 * Open the token file <path> without following a link the proxy user may
 * have planted in the state dir (it owns the directory), without blocking
 * on a FIFO, and check what was opened. Returns the descriptor, or -errno
 * (-EPERM: refused, why in <why>).
 */
static int open_token(const char *path, struct stat *st, char *why, size_t size)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	int ret;

	if (fd == -1 && errno == ELOOP) {
		snprintf(why, size, "it is a symbolic link");
		return -EPERM;
	}
	if (fd == -1)
		return -errno;
	if (fstat(fd, st) == -1) {
		ret = -errno;
		close(fd);
		return ret;
	}
	ret = pc_client_token_check(st, (unsigned)geteuid(), why, size);
	if (ret < 0) {
		close(fd);
		return ret;
	}
	return fd;
}

/*
 * The first token of the file <path> (the daemon's "TOKEN,NAME" lines) as
 * c->auth. Returns 0, or -errno (-ENODATA: no token in it; -EPERM: a file
 * the CLI does not trust, why in <why>).
 */
static int read_token(struct pc_client *c, const char *path, char *why, size_t size)
{
	char buf[65536], *p, *end;
	struct stat st = { 0 };
	ssize_t n;
	size_t len;
	int fd;

	fd = open_token(path, &st, why, size);
	if (fd < 0)
		return fd;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return -EIO;
	buf[n] = '\0';
	for (p = buf; *p; p = end + (*end == '\n')) {
		end = p + strcspn(p, "\n");
		p += strspn(p, " \t\r");
		len = strcspn(p, ",\n \t\r");
		if (*p == '#' || len == 0)
			continue;
		p[len] = '\0';
		c->auth = concat("Authorization: Bearer ", p);
		c->token_file = path;
		c->token_uid = (unsigned)st.st_uid;
		memset(buf, 0, sizeof(buf));
		return 0;
	}
	return -ENODATA;
}

#define TOKEN_RULE                                                                          \
	" (a token is read only from a regular file, not a link, owned by root or by you, " \
	"that nobody else can write)"

/*
 * Load the token c->auth from <token_path> (--token-file, NULL: the
 * environment's or the default) when there is one to send (client.h).
 * The default file is optional: absent or unreadable, no token. But when it
 * is there and is not what the daemon writes (a link, a FIFO, another
 * owner), someone else put it there: refuse, as for a file given.
 */
static int load_token(struct pc_client *c, const char *token_path, bool *from_env)
{
	const char *env = getenv(PC_CLIENT_TOKEN_ENV);
	const char *path = token_path ? token_path : env && *env ? env : NULL;
	const char *origin = token_path ? "" : " ($" PC_CLIENT_TOKEN_ENV ")";
	char why[160] = "";
	int ret;

	if (!path) {
		path = PC_CLIENT_DEFAULT_TOKEN;
		origin = " (the default)";
	}
	ret = read_token(c, path, why, sizeof(why));
	if (ret == -EPERM && why[0]) {
		pc_usage_print("refusing the token file %s%s: %s%s", path, origin, why, TOKEN_RULE);
		*from_env = true; /* not a usage error: exit 1 */
		return ret;
	}
	if (ret < 0 && path != token_path && path != env)
		return 0; /* the default: no token, no error */
	if (ret < 0) {
		pc_usage_print("cannot read the token file %s%s: %s", path, origin,
			       ret == -ENODATA ? "it holds no \"TOKEN,NAME\" line"
					       : strerror(-ret));
		*from_env = true;
		return ret;
	}
	return 0;
}

static void drop_auth(struct pc_client *c)
{
	if (c->auth)
		memset(c->auth, 0, strlen(c->auth));
	free(c->auth);
	c->auth = NULL;
}

/*
 * The token goes in clear: never to a server that is not on loopback. An
 * address is known here; a host name is checked on the address connected
 * (on_prereq()).
 */
static void withhold_off_loopback(struct pc_client *c)
{
	const char *host = c->base + strlen("http://");
	const char *colon = strrchr(host, ':');
	struct pc_tcp_ep ep;
	char ip[INET6_ADDRSTRLEN + 2];

	if (!c->auth || !colon || (size_t)(colon - host) >= sizeof(ip))
		return;
	snprintf(ip, sizeof(ip), "%.*s", (int)(colon - host), host);
	if (ip[0] == '[') {
		memmove(ip, ip + 1, strlen(ip));
		ip[strcspn(ip, "]")] = '\0';
	}
	if (pc_peer_ep_parse(&ep, ip, 0) == 0 && !pc_peer_is_loopback(&ep)) {
		drop_auth(c);
		c->withheld = true;
	}
}

int pc_client_init(struct pc_client *c, const char *server, const char *token_file, bool *from_env)
{
	const char *env = getenv(PC_CLIENT_ENV);

	memset(c, 0, sizeof(*c));
	c->what = "server";
	*from_env = !server && env && *env;
	if (!server)
		server = *from_env ? env : "unix:" PC_CLIENT_DEFAULT_SOCKET;
	if (parse_addr(c, server) < 0) {
		pc_usage_print("invalid server address \"%s\"%s: use unix:PATH, /PATH, "
			       "http://HOST:PORT or HOST:PORT",
			       server, *from_env ? " in $" PC_CLIENT_ENV : "");
		pc_client_release(c);
		return -EINVAL;
	}
	if (!c->unix_path && load_token(c, token_file, from_env) < 0) {
		pc_client_release(c);
		return -EINVAL;
	}
	withhold_off_loopback(c);
	start_curl(c);
	return 0;
}

int pc_client_init_admin(struct pc_client *c, const char *addr, const char *token_file,
			 bool *from_env)
{
	const char *env = getenv(PC_CLIENT_ADMIN_ENV);

	memset(c, 0, sizeof(*c));
	c->what = "admin endpoint";
	*from_env = !addr && env && *env;
	if (!addr)
		addr = *from_env ? env : PC_CLIENT_DEFAULT_ADMIN;
	/* The admin endpoint is TCP only (doc/admin.md): no unix:PATH here. */
	if (strncmp(addr, "unix:", 5) == 0 || addr[0] == '/' || parse_addr(c, addr) < 0) {
		pc_usage_print("invalid admin address \"%s\"%s: use HOST:PORT or http://HOST:PORT",
			       addr, *from_env ? " in $" PC_CLIENT_ADMIN_ENV : "");
		pc_client_release(c);
		return -EINVAL;
	}
	if (load_token(c, token_file, from_env) < 0) {
		pc_client_release(c);
		return -EINVAL;
	}
	withhold_off_loopback(c);
	start_curl(c);
	return 0;
}

void pc_client_release(struct pc_client *c)
{
	if (c->curl) {
		curl_easy_cleanup(c->curl);
		curl_global_cleanup();
		c->curl = NULL;
	}
	free(c->addr);
	free(c->unix_path);
	free(c->base);
	drop_auth(c);
	c->addr = c->unix_path = c->base = NULL;
}

void pc_client_param(struct pc_client *c, struct pc_buf *b, const char *key, const char *value)
{
	char *esc = curl_easy_escape(c->curl, value, 0);

	if (!esc) {
		pc_usage_print("out of memory");
		exit(PC_EXIT_FAIL);
	}
	pc_buf_printf(b, "%c%s=%s", memchr(pc_buf_str(b), '?', b->len) ? '&' : '?', key, esc);
	curl_free(esc);
}

/* Hand each complete line in the sink's buffer to its callback; keep the rest. */
static bool feed_lines(struct sink *s)
{
	char *start = s->b->p, *nl;
	size_t left = s->b->len;

	while (!s->stopped && left && (nl = memchr(start, '\n', left)) != NULL) {
		*nl = '\0';
		s->stopped = s->fn(s->arg, start, (size_t)(nl - start));
		left -= (size_t)(nl - start) + 1;
		start = nl + 1;
	}
	memmove(s->b->p, start, left);
	pc_buf_truncate(s->b, left);
	return !s->stopped;
}

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
	struct sink *s = arg;
	size_t len = size * n;
	long status = 0;

	if (len > s->max || s->b->len > s->max - len) {
		s->too_big = true;
		return 0;
	}
	pc_buf_add(s->b, p, len);
	if (s->b->oom) {
		pc_usage_print("out of memory");
		exit(PC_EXIT_FAIL);
	}
	if (s->fn) {
		curl_easy_getinfo(s->c->curl, CURLINFO_RESPONSE_CODE, &status);
		if (status == 200 && !feed_lines(s))
			return 0; /* the callback asked to stop: abort the transfer */
	}
	return len;
}

#define NOT_SENT "; not sending the token"

/* Why the server end of the connection is not the daemon's, in c->msg. */
static void peer_error(struct pc_client *c, int ret, const struct pc_tcp_ep *server,
		       unsigned bad_uid)
{
	switch (ret) {
	case -EPERM:
		client_error(c,
			     "the %s at %s is not portcullis: its socket belongs to uid %u, not "
			     "to the owner of the token file %s (uid %u)" NOT_SENT,
			     c->what, c->addr, bad_uid, c->token_file, c->token_uid);
		break;
	case -ENOTCONN:
		client_error(c,
			     "the %s at %s is not portcullis: nothing listens on port %u" NOT_SENT,
			     c->what, c->addr, server->port);
		break;
	case -ENOENT:
		client_error(c,
			     "the %s at %s is not portcullis: the connection does not end at a "
			     "socket of this network namespace" NOT_SENT,
			     c->what, c->addr);
		break;
	default:
		client_error(c, "cannot check who listens at %s (/proc/net/tcp: %s)" NOT_SENT,
			     c->addr, strerror(-ret));
	}
}

/*
 * libcurl calls this once connected, before it sends the request (and the
 * token): the address connected must be loopback, and the port must be
 * listened on by the owner of the token file (peer.h) - not by a process of
 * the pod that took the port while the daemon was down.
 */
static int on_prereq(void *arg, char *primary_ip, char *local_ip, int primary_port, int local_port)
{
	struct pc_client *c = arg;
	struct pc_tcp_ep server, local;
	struct pc_peer_info info;
	unsigned bad_uid = 0;
	int ret;

	if (pc_peer_ep_parse(&server, primary_ip, primary_port) < 0 ||
	    pc_peer_ep_parse(&local, local_ip, local_port) < 0) {
		client_error(c, "cannot tell which address the %s at %s is" NOT_SENT, c->what,
			     c->addr);
		goto refuse;
	}
	if (!pc_peer_is_loopback(&server)) {
		client_error(c,
			     "the %s at %s is at %s, not on loopback (127.0.0.0/8, ::1)" NOT_SENT
			     ": it would go in clear",
			     c->what, c->addr, primary_ip);
		goto refuse;
	}
	ret = pc_peer_lookup(&server, &local, &info);
	if (ret == 0)
		ret = pc_peer_verdict(&info, c->token_uid, &bad_uid);
	if (ret == 0)
		return CURL_PREREQFUNC_OK;
	peer_error(c, ret, &server, bad_uid);
refuse:
	c->peer_refused = true;
	return CURL_PREREQFUNC_ABORT;
}

static void setup(struct pc_client *c, const char *method, const char *target, long timeout,
		  struct sink *s, struct curl_slist *hdrs)
{
	CURL *h = c->curl;
	char *url = concat(c->base, target);

	curl_easy_reset(h);
	c->errbuf[0] = '\0';
	curl_easy_setopt(h, CURLOPT_URL, url);
	free(url); /* libcurl keeps its own copy */
	if (c->unix_path)
		curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, c->unix_path);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http");
	curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, PC_CLIENT_CONNECT_TIMEOUT);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, timeout);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "portcullis/" PC_VERSION);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, s);
	c->peer_refused = false;
	if (c->auth) { /* only a request with the token needs to know who gets it */
		curl_easy_setopt(h, CURLOPT_PREREQFUNCTION, on_prereq);
		curl_easy_setopt(h, CURLOPT_PREREQDATA, c);
	}
	if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0)
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
}

static const char *os_error(struct pc_client *c, CURLcode rc)
{
	long oserr = 0;

	curl_easy_getinfo(c->curl, CURLINFO_OS_ERRNO, &oserr);
	if (oserr > 0)
		return strerror((int)oserr);
	return c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc);
}

/*
 * Is the daemon's Unix socket there but its queue of connections full?
 * Connecting then fails with EAGAIN (curl does not keep that errno): the
 * daemon runs, but is not accepting fast enough, which "is it running?"
 * would misstate. Probed with a connect of our own.
 */
static bool busy(struct pc_client *c)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	bool ret;
	int fd;

	if (!c->unix_path || strlen(c->unix_path) >= sizeof(sa.sun_path))
		return false;
	memcpy(sa.sun_path, c->unix_path, strlen(c->unix_path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	ret = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1 && errno == EAGAIN;
	close(fd);
	return ret;
}

/* Say why a request got no response. Returns -EIO. */
static int transport_error(struct pc_client *c, CURLcode rc, long timeout)
{
	const char *hint = strcmp(c->what, "server") == 0 ? SERVER_HINT : ADMIN_HINT;
	double connect_time = 0;

	curl_easy_getinfo(c->curl, CURLINFO_CONNECT_TIME, &connect_time);
	switch (rc) {
	case CURLE_OPERATION_TIMEDOUT:
		if (connect_time > 0) {
			client_error(c, "the %s at %s did not answer within %ld s", c->what,
				     c->addr, timeout);
			break;
		}
		client_error(c, "cannot reach the %s at %s: %s%s", c->what, c->addr,
			     strerror(ETIMEDOUT), hint);
		break;
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
		if (rc == CURLE_COULDNT_CONNECT && busy(c)) {
			client_error(c,
				     "the %s at %s is too busy to take a connection (its queue of "
				     "connections is full); try again",
				     c->what, c->addr);
			break;
		}
		client_error(c, "cannot reach the %s at %s: %s%s", c->what, c->addr,
			     os_error(c, rc), hint);
		break;
	case CURLE_GOT_NOTHING:
		client_error(c, "the %s at %s closed the connection without answering", c->what,
			     c->addr);
		break;
	default:
		client_error(c, "request to the %s at %s failed: %s", c->what, c->addr,
			     c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc));
	}
	return -EIO;
}

static void parse_body(struct pc_response *r)
{
	struct pc_yaml_limits lim = { PC_CLIENT_MAX_BODY, BODY_MAX_DEPTH, BODY_MAX_ANCHORS,
				      BODY_MAX_WEIGHT };
	struct pc_err err;
	char msg[PC_ERR_MSG_MAX + 64];

	pc_err_clear(&err);
	if (r->body.len == 0) {
		r->parse_error = pc_xstrdup("empty body");
		return;
	}
	if (pc_yaml_parse(r->body.p, r->body.len, &lim, &r->doc, &err) < 0) {
		if (err.line)
			snprintf(msg, sizeof(msg), "%u:%u: %s", err.line, err.col, err.msg);
		else
			snprintf(msg, sizeof(msg), "%s", err.msg[0] ? err.msg : "out of memory");
		r->parse_error = pc_xstrdup(msg);
		return;
	}
	if (r->doc->ndocs != 1 || !r->doc->docs[0].root ||
	    r->doc->docs[0].root->type != PC_NODE_MAP) {
		r->parse_error = pc_xstrdup("not a JSON object");
		return;
	}
	r->root = r->doc->docs[0].root;
}

/*
 * Perform the request; a connection the daemon's full queue refused sent
 * nothing, so it is tried again, BUSY_TRIES times at most.
 */
#define BUSY_TRIES    50
#define BUSY_PAUSE_US (100 * 1000)

static int perform(struct pc_client *c, struct sink *s, long timeout, struct pc_response *r)
{
	CURLcode rc = curl_easy_perform(c->curl);
	int tries = 1;

	while (rc == CURLE_COULDNT_CONNECT && tries++ < BUSY_TRIES && busy(c)) {
		usleep(BUSY_PAUSE_US);
		rc = curl_easy_perform(c->curl);
	}

	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &r->status);
	if (s->too_big) {
		client_error(c, "the response of the %s at %s is larger than %zu MiB", c->what,
			     c->addr, s->max >> 20);
		return -EIO;
	}
	if (s->fn && s->stopped && rc == CURLE_WRITE_ERROR)
		return 0;
	if (c->peer_refused)
		return -EIO; /* on_prereq() said why */
	if (rc != CURLE_OK)
		return transport_error(c, rc, timeout);
	if (!s->fn || r->status != 200)
		parse_body(r);
	return 0;
}

static struct curl_slist *headers(const struct pc_client *c)
{
	struct curl_slist *h, *n = NULL;

	/* No "Expect: 100-continue" round trip before a large apply. */
	h = curl_slist_append(NULL, "Expect:");
	if (h)
		n = curl_slist_append(h, "Accept: application/json");
	if (n && c->auth)
		n = curl_slist_append(h, c->auth);
	if (!n) {
		curl_slist_free_all(h);
		pc_usage_print("out of memory");
		exit(PC_EXIT_FAIL);
	}
	return n;
}

int pc_client_request(struct pc_client *c, const char *method, const char *target, curl_mime *mime,
		      long timeout, struct pc_response *r)
{
	struct curl_slist *hdrs = headers(c);
	struct sink s = { c, &r->body, PC_CLIENT_MAX_BODY, false, NULL, NULL, 0 };
	int ret;

	memset(r, 0, sizeof(*r));
	setup(c, method, target, timeout, &s, hdrs);
	if (mime)
		curl_easy_setopt(c->curl, CURLOPT_MIMEPOST, mime);
	ret = perform(c, &s, timeout, r);
	curl_slist_free_all(hdrs);
	return ret;
}

int pc_client_stream(struct pc_client *c, const char *target, pc_client_line_fn *fn, void *arg,
		     struct pc_response *r, int *stopped)
{
	struct curl_slist *hdrs = headers(c);
	struct sink s = { c, &r->body, PC_CLIENT_MAX_LINE, false, fn, arg, 0 };
	int ret;

	memset(r, 0, sizeof(*r));
	setup(c, "GET", target, PC_CLIENT_NO_TIMEOUT, &s, hdrs);
	ret = perform(c, &s, PC_CLIENT_NO_TIMEOUT, r);
	if (ret == 0 && r->status == 200 && !s.stopped && r->body.len) {
		/* A last line without its newline. */
		pc_buf_addc(&r->body, '\n');
		feed_lines(&s);
	}
	*stopped = s.stopped;
	curl_slist_free_all(hdrs);
	return ret;
}

void pc_response_release(struct pc_response *r)
{
	pc_buf_release(&r->body);
	if (r->doc)
		pc_yaml_stream_free(r->doc);
	free(r->parse_error);
	memset(r, 0, sizeof(*r));
}

const char *pc_client_str(const struct pc_node *map, const char *key)
{
	const struct pc_node *n = pc_node_get(map, key);

	if (!n || n->type != PC_NODE_SCALAR || pc_node_is_null(n))
		return NULL;
	return n->str;
}

bool pc_client_num(const struct pc_node *map, const char *key, double *out)
{
	const struct pc_node *v = pc_node_get(map, key);
	enum pc_scalar_kind k;

	if (!v || v->type != PC_NODE_SCALAR || v->style != PC_STYLE_PLAIN)
		return false;
	k = pc_scalar_kind(v);
	if (k != PC_SCALAR_INT && k != PC_SCALAR_FLOAT)
		return false;
	return pc_scalar_float(v, out) && isfinite(*out);
}

void pc_client_kind_ref(char *out, size_t size, const char *kind)
{
	size_t i, n = strlen(kind);

	snprintf(out, size, "%s." PC_GROUP, kind);
	for (i = 0; i < n && out[i]; i++)
		if (out[i] >= 'A' && out[i] <= 'Z')
			out[i] = (char)(out[i] - 'A' + 'a');
}

/* Print <s> without its trailing newlines, then one newline. */
static void put_line(FILE *fp, const char *s)
{
	size_t n = strlen(s);
	char *t;

	while (n && s[n - 1] == '\n')
		n--;
	t = pc_strndup(s, n);
	if (!t) {
		pc_usage_print("out of memory");
		exit(PC_EXIT_FAIL);
	}
	pc_term_puts(fp, t);
	fputc('\n', fp);
	free(t);
}

/* After a 401: why the token was not sent, when it was withheld; else "". */
static const char *withheld_note(const struct pc_client *c, const struct pc_response *r)
{
	if (r->status != 401 || !c->withheld)
		return "";
	return "; the token was not sent: it goes only to a server on loopback (127.0.0.0/8, "
	       "::1), in clear over TCP";
}

int pc_client_report(const struct pc_client *c, const struct pc_response *r)
{
	const char *kind = pc_client_str(r->root, "kind");
	const char *status = pc_client_str(r->root, "status");
	const char *reason = pc_client_str(r->root, "reason");
	const char *message = pc_client_str(r->root, "message");
	bool is_status =
		(kind && strcmp(kind, "Status") == 0) || (status && strcmp(status, "Failure") == 0);

	if (!is_status || !message)
		return pc_client_bad_response(c, r, "a Status");
	fputs("Error from server", stderr);
	if (reason && *reason) {
		fputs(" (", stderr);
		pc_term_puts(stderr, reason);
		fputc(')', stderr);
	}
	fputs(": ", stderr);
	put_line(stderr, message);
	if (*withheld_note(c, r))
		pc_usage_print("the token of %s was not sent to %s%s", c->token_file, c->addr,
			       withheld_note(c, r) + strlen("; the token was not sent"));
	return PC_EXIT_FAIL;
}

int pc_client_bad_response(const struct pc_client *c, const struct pc_response *r, const char *what)
{
	fprintf(stderr,
		"portcullis: unexpected response from the server at %s (HTTP %ld): "
		"expected %s",
		c->addr, r->status, what);
	if (r->parse_error) {
		fputs(", got ", stderr);
		pc_term_puts(stderr, r->parse_error);
	}
	fputc('\n', stderr);
	return PC_EXIT_FAIL;
}

/* The start of <r>'s body as one printable line of at most <size> - 1 bytes. */
static void body_excerpt(const struct pc_response *r, char *out, size_t size)
{
	size_t n = r->body.p ? pc_utf8_prefix(r->body.p, r->body.len, size - 1) : 0;
	char *line = pc_term_safe_mem(r->body.p ? r->body.p : "", n, PC_TERM_LINE);
	size_t len = strlen(line); /* never more than <n>: '?' replaces one byte or more */

	while (len && line[len - 1] == ' ')
		len--;
	snprintf(out, size, "%.*s", (int)len, line);
	free(line);
}

int pc_client_admin_get(struct pc_client *c, const char *target, struct pc_response *r)
{
	char excerpt[160];

	c->msg[0] = '\0';
	if (pc_client_request(c, "GET", target, NULL, PC_CLIENT_ADMIN_TIMEOUT, r) < 0)
		return -EIO;
	if (r->status != 200) {
		body_excerpt(r, excerpt, sizeof(excerpt));
		client_error(c, "the admin endpoint at %s answered GET %s with HTTP %ld%s%s%s",
			     c->addr, target, r->status, excerpt[0] ? ": " : "", excerpt,
			     withheld_note(c, r));
		return -EIO;
	}
	if (!r->root) {
		client_error(c,
			     "unexpected response from the admin endpoint at %s to GET %s: "
			     "expected a JSON object, got %s",
			     c->addr, target, r->parse_error ? r->parse_error : "something else");
		return -EIO;
	}
	return 0;
}
