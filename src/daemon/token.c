/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * daemon/token.c - the bearer tokens in <state-dir>/api-token
 * (daemon/token.h): parse, load or make, check.
 */
#include "daemon/token.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/err.h"

#define TOKEN_BYTES 32

static void wipe(void *p, size_t n)
{
	volatile unsigned char *v = p;

	while (n--)
		*v++ = 0;
}

bool pc_token_equal(const char *a, size_t alen, const char *b, size_t blen)
{
	unsigned char diff = alen != blen;
	size_t i;

	/* walk <b> whole: the time says how long a stored token is, never where <a> differs */
	for (i = 0; i < blen; i++)
		diff |= (unsigned char)((i < alen ? a[i] : 0) ^ b[i]);
	return diff == 0;
}

void pc_tokens_release(struct pc_tokens *t)
{
	size_t i;

	for (i = 0; i < t->n; i++) {
		wipe(t->v[i].token, strlen(t->v[i].token));
		free(t->v[i].token);
		free(t->v[i].name);
	}
	free(t->v);
	t->v = NULL;
	t->n = 0;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* Trim blanks around [*s, *e). */
static void trim(const char **s, const char **e)
{
	while (*s < *e && is_blank(**s))
		(*s)++;
	while (*e > *s && is_blank((*e)[-1]))
		(*e)--;
}

static int add_line(struct pc_tokens *out, const char *s, const char *e, const char *path,
		    unsigned line, struct pc_err *err)
{
	const char *comma = memchr(s, ',', (size_t)(e - s)), *ts = s, *te, *ns, *ne, *p;
	struct pc_token *v;

	if (!comma)
		return pc_err_set(err, -EINVAL,
				  "%s:%u: a token line is \"TOKEN,NAME\" (the name is what the "
				  "audit log records)",
				  path, line);
	te = comma;
	ns = comma + 1;
	ne = memchr(ns, ',', (size_t)(e - ns));
	if (!ne)
		ne = e;
	trim(&ts, &te);
	trim(&ns, &ne);
	for (p = ts; p < te; p++) {
		if (is_blank(*p) || (unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e)
			return pc_err_set(err, -EINVAL,
					  "%s:%u: a token is printable ASCII without "
					  "blanks",
					  path, line);
	}
	if (te == ts || ne == ns || te - ts > PC_TOKEN_MAX)
		return pc_err_set(err, -EINVAL,
				  "%s:%u: a token line is \"TOKEN,NAME\", both "
				  "non-empty (tokens up to %d bytes)",
				  path, line, PC_TOKEN_MAX);
	v = pc_realloc(out->v, (out->n + 1) * sizeof(*v));
	if (!v)
		return pc_err_set(err, -ENOMEM, "out of memory");
	out->v = v;
	v[out->n].token = pc_strndup(ts, (size_t)(te - ts));
	v[out->n].name = pc_strndup(ns, (size_t)(ne - ns));
	out->n++;
	if (!v[out->n - 1].token || !v[out->n - 1].name)
		return pc_err_set(err, -ENOMEM, "out of memory");
	return 0;
}

int pc_tokens_parse(const char *text, size_t len, const char *path, struct pc_tokens *out,
		    struct pc_err *err)
{
	const char *p = text, *end = text + len, *nl, *s, *e;
	unsigned line = 0;
	int ret;

	out->v = NULL;
	out->n = 0;
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		e = nl ? nl : end;
		s = p;
		p = nl ? nl + 1 : end;
		line++;
		trim(&s, &e);
		if (s == e || *s == '#')
			continue;
		ret = add_line(out, s, e, path, line, err);
		if (ret < 0) {
			pc_tokens_release(out);
			return ret;
		}
	}
	if (out->n == 0)
		return pc_err_set(err, -EINVAL,
				  "%s holds no token: write one \"TOKEN,NAME\" line, or remove "
				  "the file and the daemon makes one",
				  path);
	return 0;
}

const char *pc_tokens_check(const struct pc_tokens *t, const char *auth)
{
	const char *found = NULL, *tok;
	size_t i, len;

	if (!t || !auth || strncasecmp(auth, "Bearer ", 7) != 0)
		return NULL;
	tok = auth + 7;
	while (*tok == ' ')
		tok++;
	len = strlen(tok);
	while (len && is_blank(tok[len - 1]))
		len--;
	for (i = 0; i < t->n; i++) { /* every one, whatever matched */
		if (pc_token_equal(tok, len, t->v[i].token, strlen(t->v[i].token)) && !found)
			found = t->v[i].name;
	}
	return found;
}

/* The owner, type and mode of an existing token file, checked on its descriptor. */
static int check_file(int fd, const char *path, struct pc_err *err)
{
	uid_t me = geteuid();
	struct stat st;

	if (fstat(fd, &st) == -1)
		return pc_err_errno(err, errno, "cannot stat %s", path);
	if (!S_ISREG(st.st_mode))
		return pc_err_set(err, -EPERM,
				  "%s is not a regular file: remove it (the daemon then "
				  "makes a new token)",
				  path);
	if (st.st_uid != me)
		return pc_err_set(err, -EPERM,
				  "%s is owned by uid %u, not by %s (uid %u), so another user "
				  "may have planted it: check it, then `chown %u %s`, or remove "
				  "it (the daemon then makes a new token)",
				  path, (unsigned)st.st_uid, me == 0 ? "root" : "the daemon's user",
				  (unsigned)me, (unsigned)me, path);
	if (st.st_nlink != 1) /* a hard link to a file of root's, made by the proxy user */
		return pc_err_set(err, -EPERM,
				  "%s has %ju hard links: a token file must have one, or it may be "
				  "another file of root's linked there; check it, then remove it "
				  "(the daemon then makes a new token) or copy it to a new file",
				  path, (uintmax_t)st.st_nlink);
	if (st.st_mode & 077)
		return pc_err_set(err, -EPERM,
				  "%s is mode %04o: a token file must be readable by its owner "
				  "only: `chmod 600 %s`",
				  path, (unsigned)(st.st_mode & 07777), path);
	if (st.st_size > PC_TOKEN_FILE_MAX)
		return pc_err_set(err, -EFBIG, "%s is over %d bytes: it is no token file", path,
				  PC_TOKEN_FILE_MAX);
	return 0;
}

static int read_file(int fd, const char *path, char *buf, size_t size, size_t *len,
		     struct pc_err *err)
{
	ssize_t n;

	*len = 0;
	while (*len < size) {
		n = read(fd, buf + *len, size - *len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return pc_err_errno(err, errno, "cannot read %s", path);
		if (n == 0)
			return 0;
		*len += (size_t)n;
	}
	return pc_err_set(err, -EFBIG, "%s is over %d bytes: it is no token file", path,
			  PC_TOKEN_FILE_MAX);
}

/* Make <path> with one new token named "admin"; its text goes to <buf>. */
static int make_file(const char *path, char *buf, size_t size, size_t *len, struct pc_err *err)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char rnd[TOKEN_BYTES];
	size_t i, off = 0;
	ssize_t n;
	int fd, ret = 0;

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return pc_err_errno(err, errno, "cannot make a token: getrandom");
	for (i = 0; i < sizeof(rnd) && off + 2 < size; i++) {
		buf[off++] = hex[rnd[i] >> 4];
		buf[off++] = hex[rnd[i] & 15];
	}
	wipe(rnd, sizeof(rnd));
	off += (size_t)snprintf(buf + off, size - off, ",%s\n", PC_TOKEN_DEFAULT);
	*len = off;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd == -1)
		return pc_err_errno(err, errno, "cannot create %s", path);
	n = write(fd, buf, off);
	if (n != (ssize_t)off || fsync(fd) == -1) {
		ret = pc_err_errno(err, n == -1 ? errno : EIO, "cannot write %s", path);
		unlink(path);
	}
	close(fd);
	return ret;
}

int pc_tokens_load(const char *dir, struct pc_tokens *out, bool *created, struct pc_err *err)
{
	char path[4096], buf[PC_TOKEN_FILE_MAX + 1];
	size_t len = 0;
	int fd, ret;

	out->v = NULL;
	out->n = 0;
	if (created)
		*created = false;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, PC_TOKEN_FILE) >= sizeof(path))
		return pc_err_set(err, -ENAMETOOLONG, "the state directory's path is too long");
	/* O_NONBLOCK: a FIFO planted in its place must not hang the start */
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd == -1 && errno == ENOENT) {
		ret = make_file(path, buf, sizeof(buf), &len, err);
		if (ret == 0 && created)
			*created = true;
	} else if (fd == -1 && errno == ELOOP) {
		ret = pc_err_set(err, -ELOOP,
				 "%s is a symbolic link, which the daemon does not follow: "
				 "remove it (the daemon then makes a new token)",
				 path);
	} else if (fd == -1) {
		ret = pc_err_errno(err, errno, "cannot open %s", path);
	} else {
		ret = check_file(fd, path, err);
		if (ret == 0)
			ret = read_file(fd, path, buf, sizeof(buf), &len, err);
		close(fd);
	}
	if (ret == 0)
		ret = pc_tokens_parse(buf, len, path, out, err);
	wipe(buf, sizeof(buf));
	return ret;
}
