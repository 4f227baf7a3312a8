/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuzz/fuzz_argv.c - libFuzzer target: the portcullis command line's argv.
 *
 * The input is split at NUL bytes into argv[1..] (argv[0] is "portcullis")
 * and handed to the executable's own main(), included here with main
 * renamed (wireguard-tools' trick), so the one verb table and every verb's
 * option parsing, usage errors and help run as they do for a user.
 *
 * Only verbs that neither serve nor touch the system run: `run` (a daemon),
 * `iptables` (changes the nat table) and `top` (a loop until 'q') are
 * skipped; `help VERB` only prints, so it runs for every verb. `get`,
 * `apply`, `delete` and `connections` must fail fast, and never reach a
 * real server: connect() and getaddrinfo() are replaced in this binary
 * (the executable's definitions interpose on libc's for libcurl too) and
 * always fail, whatever --server or --admin the input names. Files: stdin
 * is /dev/null, main() runs in a private temporary directory holding one
 * small manifest (the caller's working directory is restored after it, so
 * relative corpus paths keep working), and an argument with a '/' or ".."
 * is refused, so `validate -f .` reads that directory and nothing else.
 * Output goes to /dev/null; only crashes, leaks and sanitizer reports count.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int pc_main(int argc, char **argv);

#define main pc_main
/* NOLINTNEXTLINE(bugprone-suspicious-include): the point, see above */
#include "../src/main.c"
#undef main

#define MAX_ARGS 32

static const char manifest[] = "apiVersion: networking.istio.io/v1\n"
			       "kind: ServiceEntry\n"
			       "metadata: {name: db, namespace: default}\n"
			       "spec:\n"
			       "  hosts: [db.example.com]\n"
			       "  ports: [{number: 3306, name: mysql, protocol: TCP}]\n"
			       "  resolution: DNS\n";

static char dir[] = "/tmp/fuzz_argv.XXXXXX";
static int dir_fd = -1;
static int null_fd = -1;

/* No connection leaves this process: the server is always unreachable. */
int connect(int fd, __CONST_SOCKADDR_ARG addr, socklen_t len)
{
	(void)fd;
	(void)addr;
	(void)len;
	errno = ECONNREFUSED;
	return -1;
}

/* Nor does a DNS query. */
/* NOLINTNEXTLINE(readability-inconsistent-declaration-parameter-name): glibc's are __name... */
int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
		struct addrinfo **res)
{
	(void)node;
	(void)service;
	(void)hints;
	*res = NULL;
	return EAI_NONAME;
}

static void cleanup(void)
{
	if (unlinkat(dir_fd, "db.yaml", 0) == 0)
		rmdir(dir);
}

static void setup(void)
{
	int fd;

	if (!mkdtemp(dir))
		abort();
	dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir_fd == -1)
		abort();
	fd = openat(dir_fd, "db.yaml", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd == -1 || write(fd, manifest, sizeof(manifest) - 1) != (ssize_t)sizeof(manifest) - 1)
		abort();
	close(fd);
	atexit(cleanup);
	null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null_fd == -1 || dup2(null_fd, STDIN_FILENO) == -1)
		abort();
	/* The default API socket may be a real daemon's: point elsewhere (connect() fails anyway). */
	setenv("PORTCULLIS_SERVER", "unix:api.sock", 1);
	setenv("PORTCULLIS_ADMIN", "127.0.0.1:9", 1);
}

static bool runnable(int argc, char **argv)
{
	int i;

	if (argc >= 2 && (strcmp(argv[1], "run") == 0 || strcmp(argv[1], "iptables") == 0 ||
			  strcmp(argv[1], "top") == 0))
		return false;
	for (i = 1; i < argc; i++)
		if (strchr(argv[i], '/') || strstr(argv[i], ".."))
			return false;
	return true;
}

/* main() in the private directory, its stdout to /dev/null; then the caller's back. */
static void run_main(int argc, char **argv)
{
	int cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int out = dup(STDOUT_FILENO);

	fflush(stdout);
	if (cwd == -1 || out == -1 || fchdir(dir_fd) == -1 || dup2(null_fd, STDOUT_FILENO) == -1)
		abort();
	pc_main(argc, argv);
	fflush(stdout);
	fflush(stderr);
	if (fchdir(cwd) == -1 || dup2(out, STDOUT_FILENO) == -1)
		abort();
	close(out);
	close(cwd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	char *argv[MAX_ARGS + 2];
	char *buf, *p, *end;
	int argc = 0;

	if (!ready) {
		setup();
		ready = true;
	}
	buf = malloc(size + 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	argv[argc++] = "portcullis";
	for (p = buf, end = buf + size; p < end && argc <= MAX_ARGS; p += strlen(p) + 1)
		argv[argc++] = p;
	argv[argc] = NULL;
	if (runnable(argc, argv))
		run_main(argc, argv);
	free(buf);
	return 0;
}
