/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for daemon/resolver.c's wait for first answers: a change's
 * answer waits only for the DNS names that change brought, never for one
 * an earlier change brought and is still waiting for (review finding 1).
 * The DNS server is a bound UDP socket on loopback that never answers.
 * Check forks each test, so each starts with an empty pc_runtime_default().
 */
#include <arpa/inet.h>
#include <check.h>
#include <dirent.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/clock.h"
#include "daemon/resolver.h"
#include "model/finding.h"
#include "model/manifest.h"
#include "policy/runtime.h"
#include "policy/snapshot.h"

#define SE(name, hosts, extra, port)                                                      \
	"---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"                   \
	"metadata: {name: " name "}\n"                                                    \
	"spec:\n  hosts: [" hosts "]\n  location: MESH_EXTERNAL\n" extra                  \
	"  ports: [{name: tcp, number: " #port ", protocol: TCP}]\n"

#define DNS_SE(name, host, port) SE(name, host, "  resolution: DNS\n", port)
#define PLAIN_SE(name, host, port) \
	SE(name, host, "  addresses: [192.0.2.9]\n  resolution: NONE\n", port)

/* A compiled manifest; the manifest outlives its snapshot (names point into it). */
struct fix {
	struct pc_manifest m;
	struct pc_findings f;
	struct pc_snapshot *s;
};

static uint64_t generation;

static void compile(struct fix *x, const char *yaml)
{
	struct pc_compile_opts o = { .policy = -1, .proxy_port = 15001 };

	memset(x, 0, sizeof(*x));
	o.generation = ++generation;
	pc_findings_init(&x->f);
	ck_assert_int_eq(pc_manifest_init(&x->m), 0);
	ck_assert_int_eq(pc_manifest_add_buf(&x->m, "t.yaml", yaml, strlen(yaml), &x->f), 0);
	ck_assert_msg(x->f.total_err == 0, "%s", x->f.n ? x->f.v[0].msg : "?");
	ck_assert_int_eq(pc_policy_compile(&x->m, &o, NULL, NULL, &x->s), 0);
}

static void release(struct fix *x)
{
	pc_snapshot_unref(x->s);
	pc_manifest_release(&x->m);
	pc_findings_release(&x->f);
}

/* A UDP socket on loopback that never answers; its "IP:port" into <buf>. */
static int silent_server(char *buf, size_t len)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t slen = sizeof(sin);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	ck_assert_int_ge(fd, 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &slen), 0);
	snprintf(buf, len, "127.0.0.1:%u", (unsigned)ntohs(sin.sin_port));
	return fd;
}

/* Threads of this process (the entries of /proc/self/task). */
static unsigned thread_count(void)
{
	DIR *d = opendir("/proc/self/task");
	unsigned n = 0;

	ck_assert_ptr_nonnull(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n - 2; /* "." and ".." */
}

/*
 * Change A brings db.example, which the server never answers; change B
 * (compiled after A) keeps it and adds an address entry. B's answer must
 * not wait for A's name, A's waits for it within its bound, and after a
 * shutdown nothing waits.
 */
START_TEST(waits_only_for_names_the_change_brought)
{
	struct fix base, a, b;
	struct pc_resolver *r;
	char server[32];
	uint64_t t0, took;
	int fd = silent_server(server, sizeof(server));
	unsigned threads;

	compile(&base, PLAIN_SE("x", "x.example", 80));
	ck_assert_int_eq(pc_resolver_start(pc_runtime_default(), server, &r), 0);
	/*
	 * Counted with the resolver's thread running: TSan starts a thread of
	 * its own with the program's first, and Check a timer thread.
	 */
	threads = thread_count() - 1;
	compile(&a, PLAIN_SE("x", "x.example", 80) DNS_SE("db", "db.example", 5432));
	compile(&b, PLAIN_SE("x", "x.example", 80) DNS_SE("db", "db.example", 5432)
			    PLAIN_SE("z", "z.example", 81));
	pc_resolver_kick(r);

	/* B brought no name: at once, though A's is still unasked */
	t0 = pc_mono_ms();
	ck_assert(pc_resolver_wait_first(r, b.s, a.s, 2000));
	took = pc_mono_ms() - t0;
	ck_assert_msg(took < 1000, "a change that brought no name waited %llu ms",
		      (unsigned long long)took);

	/* A brought it: it waits, and gives up within its bound */
	t0 = pc_mono_ms();
	ck_assert(!pc_resolver_wait_first(r, a.s, base.s, 300));
	took = pc_mono_ms() - t0;
	ck_assert_msg(took < 2000, "waited %llu ms for 300", (unsigned long long)took);
	/* no <prev>: every never-asked name counts, but the bound has passed by now */
	ck_assert(!pc_resolver_wait_first(r, a.s, NULL, 300));

	/* a shutdown ends every wait at once */
	pc_resolver_shutdown(r);
	t0 = pc_mono_ms();
	pc_resolver_wait_first(r, a.s, base.s, 60000);
	ck_assert_uint_lt(pc_mono_ms() - t0, 1000);
	close(fd); /* the query in flight now meets a closed port and ends */
	pc_resolver_stop(r); /* the thread frees it, after that query */
	release(&b);
	release(&a);
	release(&base);
	/* let the detached thread finish, so nothing it holds is left at exit */
	t0 = pc_mono_ms();
	while (thread_count() > threads && pc_mono_ms() - t0 < 20000)
		usleep(10000);
	ck_assert_uint_eq(thread_count(), threads);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("daemon.resolver");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, waits_only_for_names_the_change_brought);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
