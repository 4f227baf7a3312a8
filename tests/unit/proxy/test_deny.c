/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for proxy/deny.c: the answers byte for byte, the quick kind
 * decisions they are chosen by (proxy/sniff.c), and whole denials on a real
 * loop over a socketpair, as the session's DENYING stage runs them (the
 * answer, the half-close, the log line with its hint, /denials).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/loop.h"
#include "model/finding.h"
#include "model/manifest.h"
#include "net/addr.h"
#include "policy/snapshot.h"
#include "proxy/deny.h"
#include "proxy/session.h"
#include "proxy/sniff.h"
#include "proxy/worker.h"

#define SENTENCE                                                                  \
	"portcullis: egress to 203.0.113.9:3306 denied: no ServiceEntry matches " \
	"(outbound traffic policy REGISTRY_ONLY)"

static struct pc_addr addr(const char *ip, unsigned port)
{
	struct pc_addr a;

	ck_assert_int_eq(pc_addr_parse(ip, &a), 0);
	a.port = (uint16_t)port;
	return a;
}

/* -- the answers ------------------------------------------------------------ */

START_TEST(sentence_v4_v6_loop_guard)
{
	struct pc_addr a = addr("203.0.113.9", 3306);
	char buf[256];

	ck_assert_uint_eq(pc_deny_sentence(buf, sizeof(buf), &a, false, NULL), strlen(SENTENCE));
	ck_assert_str_eq(buf, SENTENCE);
	a = addr("2001:db8::9", 443);
	pc_deny_sentence(buf, sizeof(buf), &a, false, NULL);
	ck_assert_str_eq(buf, "portcullis: egress to [2001:db8::9]:443 denied: no ServiceEntry "
			      "matches (outbound traffic policy REGISTRY_ONLY)");
	a = addr("192.0.2.1", 15001);
	pc_deny_sentence(buf, sizeof(buf), &a, true, NULL);
	ck_assert_str_eq(buf, "portcullis: egress to 192.0.2.1:15001 denied: the proxy port "
			      "itself was dialled (loop guard)");
	/* cut to fit, still terminated */
	ck_assert_uint_eq(pc_deny_sentence(buf, 11, &a, true, NULL), 10);
	ck_assert_str_eq(buf, "portcullis");
}
END_TEST

START_TEST(mysql_err_packet)
{
	static const uint8_t head[] = { sizeof(SENTENCE) - 1 + 3, 0, 0, 0, 0xff, 0x6a, 0x04 };
	uint8_t out[512];
	size_t n;

	n = pc_deny_mysql_err(out, sizeof(out), SENTENCE);
	ck_assert_uint_eq(n, sizeof(head) + strlen(SENTENCE));
	ck_assert_mem_eq(out, head, sizeof(head)); /* 1130 = 0x046a, little-endian */
	ck_assert_mem_eq(out + 7, SENTENCE, strlen(SENTENCE));
	ck_assert_uint_ne(out[7], '#'); /* no SQL state before the handshake */

	/* too long for the buffer: cut, and the length says so */
	n = pc_deny_mysql_err(out, 20, SENTENCE);
	ck_assert_uint_eq(n, 20);
	ck_assert_uint_eq(out[0], 16);
	ck_assert_uint_eq(out[1] | out[2] | out[3], 0);

	/* a 3-byte length really is 3 bytes */
	{
		static uint8_t big[70000];
		static char msg[69000];

		memset(msg, 'x', sizeof(msg) - 1);
		n = pc_deny_mysql_err(big, sizeof(big), msg);
		ck_assert_uint_eq(n, 7 + sizeof(msg) - 1);
		ck_assert_uint_eq(big[0] | big[1] << 8 | big[2] << 16, sizeof(msg) - 1 + 3);
	}
}
END_TEST

START_TEST(tls_alert_record)
{
	static const uint8_t tls10[] = { 0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x31 };
	static const uint8_t tls12[] = { 0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x31 };
	uint8_t out[PC_DENY_TLS_ALERT_LEN];

	ck_assert_uint_eq(pc_deny_tls_alert(out, 3, 1), 7);
	ck_assert_mem_eq(out, tls10, 7);
	ck_assert_uint_eq(pc_deny_tls_alert(out, 3, 3), 7);
	ck_assert_mem_eq(out, tls12, 7);
}
END_TEST

START_TEST(http_403_response)
{
	const char *want = "HTTP/1.1 403 Forbidden\r\n"
			   "Content-Type: text/plain\r\n"
			   "Content-Length: 111\r\n"
			   "Connection: close\r\n"
			   "\r\n" SENTENCE "\n";
	char out[512];

	ck_assert_uint_eq(strlen(SENTENCE) + 1, 111);
	ck_assert_uint_eq(pc_deny_http_403(out, sizeof(out), SENTENCE, false), strlen(want));
	ck_assert_str_eq(out, want);
	/* HEAD: same head, no body */
	ck_assert_uint_eq(pc_deny_http_403(out, sizeof(out), SENTENCE, true), strlen(want) - 111);
	ck_assert_str_eq(out, "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\n"
			      "Content-Length: 111\r\nConnection: close\r\n\r\n");
	/* never a truncated response */
	ck_assert_uint_eq(pc_deny_http_403(out, strlen(want), SENTENCE, false), 0);
	ck_assert_uint_eq(pc_deny_http_403(out, strlen(want) + 1, SENTENCE, false), strlen(want));
}
END_TEST

START_TEST(answer_names)
{
	ck_assert_str_eq(pc_deny_answer_name(PC_ANSWER_RESET), "reset");
	ck_assert_str_eq(pc_deny_answer_name(PC_ANSWER_MYSQL), "mysql");
	ck_assert_str_eq(pc_deny_answer_name(PC_ANSWER_TLS), "tls");
	ck_assert_str_eq(pc_deny_answer_name(PC_ANSWER_HTTP), "http");
}
END_TEST

/* -- the sniffer ------------------------------------------------------------- */

struct sniff_case {
	const char *bytes;
	size_t n;
	enum pc_sniff want;
};

#define S(lit, want)                       \
	{                                  \
		lit, sizeof(lit) - 1, want \
	}

static const struct sniff_case sniff_cases[] = {
	S("", PC_SNIFF_MORE),
	/* HTTP: a known method and a space */
	S("GET / HTTP/1.1\r\n", PC_SNIFF_HTTP),
	S("GET ", PC_SNIFF_HTTP),
	S("GET", PC_SNIFF_MORE),
	S("G", PC_SNIFF_MORE),
	S("HEAD /x HTTP/1.0\r\n", PC_SNIFF_HTTP),
	S("POST /", PC_SNIFF_HTTP),
	S("PUT /", PC_SNIFF_HTTP),
	S("PU", PC_SNIFF_MORE),
	S("P", PC_SNIFF_MORE),
	S("PATCH /", PC_SNIFF_HTTP),
	S("DELETE /", PC_SNIFF_HTTP),
	S("OPTIONS * HTTP/1.1", PC_SNIFF_HTTP),
	S("OPTIONS", PC_SNIFF_MORE),
	S("CONNECT a:443 HTTP/1.1", PC_SNIFF_HTTP),
	S("TRACE /", PC_SNIFF_HTTP),
	S("GETX /", PC_SNIFF_OTHER),
	S("GET/", PC_SNIFF_OTHER),
	S("get / HTTP/1.1", PC_SNIFF_OTHER),     /* methods are case-sensitive */
	S("PRI * HTTP/2.0\r\n", PC_SNIFF_OTHER), /* HTTP/2 prior knowledge */
	S("PROPFIND /", PC_SNIFF_OTHER),
	S("hello\n", PC_SNIFF_OTHER),
	S("h", PC_SNIFF_OTHER),
	S("SSH-2.0-OpenSSH_9.2\r\n", PC_SNIFF_OTHER),
	S("\r\n", PC_SNIFF_OTHER),
	S(" GET /", PC_SNIFF_OTHER),
	/* TLS: handshake record, 3.0..3.4, sane length, client_hello */
	S("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", PC_SNIFF_TLS),
	S("\x16\x03\x03\x00\x04\x01", PC_SNIFF_TLS),
	S("\x16\x03\x00\x00\x30\x01", PC_SNIFF_TLS),
	S("\x16\x03\x04\x48\x00\x01", PC_SNIFF_TLS),
	S("\x16", PC_SNIFF_MORE),
	S("\x16\x03", PC_SNIFF_MORE),
	S("\x16\x03\x01", PC_SNIFF_MORE),
	S("\x16\x03\x01\x02", PC_SNIFF_MORE),
	S("\x16\x03\x01\x02\x00", PC_SNIFF_MORE),
	S("\x16\x02\x00", PC_SNIFF_OTHER),                 /* SSL 2.0 record version */
	S("\x16\x03\x05", PC_SNIFF_OTHER),                 /* no such version */
	S("\x16\x03\x01\x00\x00", PC_SNIFF_OTHER),         /* empty record */
	S("\x16\x03\x01\x00\x03\x01", PC_SNIFF_OTHER),     /* shorter than a handshake header */
	S("\x16\x03\x01\x48\x01\x01", PC_SNIFF_OTHER),     /* longer than a record may be */
	S("\x16\x03\x01\x02\x00\x02", PC_SNIFF_OTHER),     /* server_hello */
	S("\x15\x03\x01\x00\x02\x02\x28", PC_SNIFF_OTHER), /* an alert */
	S("\x17\x03\x03\x00\x10", PC_SNIFF_OTHER),         /* application data */
	S("\x80\x2e\x01\x00\x02", PC_SNIFF_OTHER),         /* SSLv2-compatible hello */
	S("\x00", PC_SNIFF_OTHER),
	S("\xff\xfe", PC_SNIFF_OTHER),
	/* MySQL clients never speak first, but their handshake response is not HTTP */
	S("\x20\x00\x00\x01\x85\xa6", PC_SNIFF_OTHER),
};

START_TEST(sniff_decisions)
{
	const struct sniff_case *c = &sniff_cases[_i];

	ck_assert_msg(pc_sniff_kind((const uint8_t *)c->bytes, c->n) == c->want,
		      "case %d (%zu bytes): got %d, want %d", _i, c->n,
		      pc_sniff_kind((const uint8_t *)c->bytes, c->n), c->want);
}
END_TEST

/* Fed byte by byte, a decision comes at the first byte that allows it, and stays. */
START_TEST(sniff_is_incremental)
{
	static const char *const full[] = { "OPTIONS / HTTP/1.1\r\n", "TRACE / HTTP/1.1\r\n",
					    "\x16\x03\x01\x02\x00\x01\x00\x01", "hello world" };
	static const size_t decide_at[] = { 8, 6, 6, 1 };
	static const enum pc_sniff want[] = { PC_SNIFF_HTTP, PC_SNIFF_HTTP, PC_SNIFF_TLS,
					      PC_SNIFF_OTHER };
	size_t i, n;

	for (i = 0; i < 4; i++) {
		for (n = 0; n <= strlen(full[i]); n++) {
			enum pc_sniff got = pc_sniff_kind((const uint8_t *)full[i], n);

			ck_assert_int_eq(got, n < decide_at[i] ? PC_SNIFF_MORE : want[i]);
		}
	}
}
END_TEST

/* However unlucky the bytes, PC_DENY_SNIFF_MAX of them always decide. */
START_TEST(sniff_max_always_decides)
{
	uint8_t buf[PC_DENY_SNIFF_MAX];
	unsigned round, i;

	srand(5);
	for (round = 0; round < 200000; round++) {
		for (i = 0; i < sizeof(buf); i++)
			buf[i] = (uint8_t)rand();
		if (round % 3 == 0)
			memcpy(buf, round % 2 ? "OPTIONS" : "\x16\x03", round % 2 ? 7 : 2);
		ck_assert_int_ne(pc_sniff_kind(buf, sizeof(buf)), PC_SNIFF_MORE);
	}
}
END_TEST

/* -- whole denials ----------------------------------------------------------- */

struct world {
	struct pc_manifest m;
	struct pc_findings f;
	struct pc_snapshot *snap;
	struct pc_proxy_config cfg;
	struct pc_worker w;
	struct pc_timer stop;
	FILE *log;
};

static const char *const entries =
	"apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
	"metadata: {name: mysql-external, namespace: shop}\n"
	"spec: {hosts: [mysql.example.com], addresses: [203.0.113.10], resolution: NONE,\n"
	"       location: MESH_EXTERNAL, ports: [{name: tcp, number: 3306, protocol: TCP}]}\n"
	"---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
	"metadata: {name: web, namespace: shop}\n"
	"spec: {hosts: [web.example.com], addresses: [203.0.113.9], resolution: NONE,\n"
	"       location: MESH_EXTERNAL, ports: [{name: https, number: 8443, protocol: TLS},\n"
	"                                        {name: db, number: 4406, protocol: MYSQL}]}\n";

static void world_init(struct world *x, int response)
{
	struct pc_compile_opts o = { .policy = -1, .proxy_port = 15001, .generation = 3 };

	memset(x, 0, sizeof(*x));
	pc_findings_init(&x->f);
	ck_assert_int_eq(pc_manifest_init(&x->m), 0);
	ck_assert_int_eq(pc_manifest_add_buf(&x->m, "t.yaml", entries, strlen(entries), &x->f), 0);
	ck_assert_uint_eq(x->f.total_err, 0);
	ck_assert_int_eq(pc_policy_compile(&x->m, &o, NULL, NULL, &x->snap), 0);
	x->cfg.deny_response = response;
	x->cfg.access_log_fd = -1;
	ck_assert_int_eq(pc_worker_init(&x->w, 0, &x->cfg, -1, -1, pc_snapshot_ref(x->snap)), 0);
	x->log = tmpfile();
	ck_assert_ptr_nonnull(x->log);
	pc_log_set_fd(fileno(x->log));
}

static void run_for(struct world *x, uint64_t ms);

static void world_release(struct world *x)
{
	pc_session_close_all(&x->w);
	ck_assert_ptr_null(x->w.staging);
	run_for(x, 0); /* the deferred frees */
	pc_log_set_fd(-1);
	fclose(x->log);
	while (x->w.npipes--) {
		close(x->w.pipes[x->w.npipes][0]);
		close(x->w.pipes[x->w.npipes][1]);
	}
	pc_snapshot_unref(x->w.snap);
	pc_loop_free(x->w.loop);
	pc_worker_release(&x->w);
	pc_snapshot_unref(x->snap);
	pc_manifest_release(&x->m);
	pc_findings_release(&x->f);
}

static void on_stop(struct pc_loop *loop, struct pc_timer *t)
{
	(void)t;
	pc_loop_stop(loop);
}

/* Run the worker's loop for <ms>. */
static void run_for(struct world *x, uint64_t ms)
{
	pc_timer_init(&x->stop, on_stop, NULL);
	ck_assert_int_eq(pc_timer_start(x->w.loop, &x->stop, ms), 0);
	ck_assert_int_eq(pc_loop_run(x->w.loop), 0);
}

/* A connection to <dst>, which the policy denies; the app's end of it is returned (non-blocking). */
static int deny(struct world *x, const char *ip, unsigned port)
{
	struct pc_addr client = addr("192.0.2.1", 40000), dst = addr(ip, port);
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	pc_session_start(&x->w, sv[1], &client, &dst);
	return sv[0];
}

/* What the app reads until EOF (or nothing more for now: -1 in <*eof>). */
static size_t app_read(int fd, char *buf, size_t cap, int *eof)
{
	size_t len = 0;
	ssize_t n;

	*eof = 0;
	while (len < cap - 1) {
		n = recv(fd, buf + len, cap - 1 - len, 0);
		if (n > 0) {
			len += (size_t)n;
			continue;
		}
		*eof = n == 0 ? 1 : -1;
		break;
	}
	buf[len] = '\0';
	return len;
}

static char *log_text(struct world *x)
{
	static char text[16384];
	size_t n;

	fflush(x->log);
	rewind(x->log);
	n = fread(text, 1, sizeof(text) - 1, x->log);
	text[n] = '\0';
	return text;
}

static char *denials(void)
{
	static char text[262144];
	struct pc_buf b = PC_BUF_INIT;

	pc_denials_json(&b);
	ck_assert(!b.oom);
	snprintf(text, sizeof(text), "%s", pc_buf_str(&b));
	pc_buf_release(&b);
	return text;
}

static unsigned count(const char *hay, const char *needle)
{
	unsigned n = 0;

	while ((hay = strstr(hay, needle))) {
		n++;
		hay++;
	}
	return n;
}

START_TEST(mysql_answered_at_once_then_logged_once)
{
	struct world x;
	char buf[1024];
	int app, eof;

	world_init(&x, PC_DENY_PROTOCOL);
	app = deny(&x, "203.0.113.9", 3306);
	/* the server speaks first: the ERR packet is there before the loop runs */
	ck_assert_uint_eq(app_read(app, buf, sizeof(buf), &eof), 7 + strlen(SENTENCE));
	ck_assert_int_eq(eof, 1); /* and the FIN after it */
	ck_assert_mem_eq(buf + 7, SENTENCE, strlen(SENTENCE));
	ck_assert_ptr_nonnull(x.w.staging); /* draining until the app closes */
	close(app);
	run_for(&x, 20);
	ck_assert_ptr_null(x.w.staging);

	/* the log line: once, with both hints */
	ck_assert_str_eq(log_text(&x),
			 "level=notice msg=\"connection denied\" client=192.0.2.1:40000 "
			 "dst=203.0.113.9:3306 reason=\"no ServiceEntry matches (outbound traffic "
			 "policy REGISTRY_ONLY)\" response=mysql hint=\"ServiceEntry "
			 "shop/mysql-external allows 203.0.113.10/32 on port 3306; ServiceEntry "
			 "shop/web allows 203.0.113.9/32 on port 4406\"\n");
	close(deny(&x, "203.0.113.9", 3306));
	ck_assert_uint_eq(count(log_text(&x), "\n"), 1);
	ck_assert_uint_eq(count(denials(), "\"response\": \"mysql\""), 2);
	ck_assert_uint_eq(count(denials(), "\"hint\": \"ServiceEntry shop/mysql-external"), 2);
	world_release(&x);
}
END_TEST

START_TEST(mysql_declared_port)
{
	struct world x;
	char buf[1024];
	int app, eof;

	world_init(&x, PC_DENY_PROTOCOL);
	app = deny(&x, "198.51.100.7", 4406); /* declared MYSQL by shop/web */
	ck_assert_uint_gt(app_read(app, buf, sizeof(buf), &eof), 7);
	ck_assert_uint_eq((uint8_t)buf[4], 0xff);
	ck_assert(strstr(buf + 7, "egress to 198.51.100.7:4406 denied"));
	close(app);
	world_release(&x);
}
END_TEST

START_TEST(http_gets_403_and_input_is_drained)
{
	const char *req = "GET /path HTTP/1.1\r\nHost: api.example.com\r\n\r\n";
	struct world x;
	char buf[1024];
	int app, eof;

	world_init(&x, PC_DENY_PROTOCOL);
	app = deny(&x, "198.51.100.7", 80);
	run_for(&x, 10);
	ck_assert_uint_eq(app_read(app, buf, sizeof(buf), &eof), 0); /* nothing before a request */
	ck_assert_int_eq(eof, -1);
	ck_assert_int_eq(send(app, req, strlen(req), 0), (ssize_t)strlen(req));
	run_for(&x, 10);
	app_read(app, buf, sizeof(buf), &eof);
	ck_assert_int_eq(eof, 1);
	ck_assert(strncmp(buf, "HTTP/1.1 403 Forbidden\r\n", 24) == 0);
	ck_assert(strstr(buf, "\r\n\r\nportcullis: egress to 198.51.100.7:80 denied: no "
			      "ServiceEntry matches (outbound traffic policy REGISTRY_ONLY)\n"));
	/* more input is read and thrown away; then the app closes */
	ck_assert_int_eq(send(app, "more body", 9, 0), 9);
	run_for(&x, 10);
	ck_assert_ptr_nonnull(x.w.staging);
	close(app);
	run_for(&x, 10);
	ck_assert_ptr_null(x.w.staging);
	ck_assert(strstr(log_text(&x), "response=http"));
	ck_assert(strstr(denials(), "\"destination\": \"198.51.100.7:80\", \"reason\": \"no "
				    "ServiceEntry matches (outbound traffic policy "
				    "REGISTRY_ONLY)\", \"response\": \"http\"}"));
	world_release(&x);
}
END_TEST

START_TEST(tls_gets_alert_in_its_version)
{
	static const uint8_t hello[] = { 0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc };
	static const uint8_t alert[] = { 0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x31 };
	struct world x;
	char buf[64];
	int app, eof;

	world_init(&x, PC_DENY_PROTOCOL);
	app = deny(&x, "203.0.113.9", 443);
	/* the record head comes in two pieces */
	ck_assert_int_eq(send(app, hello, 3, 0), 3);
	run_for(&x, 10);
	ck_assert_uint_eq(app_read(app, buf, sizeof(buf), &eof), 0);
	ck_assert_int_eq(send(app, hello + 3, sizeof(hello) - 3, 0), (ssize_t)sizeof(hello) - 3);
	run_for(&x, 10);
	ck_assert_uint_eq(app_read(app, buf, sizeof(buf), &eof), sizeof(alert));
	ck_assert_mem_eq(buf, alert, sizeof(alert));
	ck_assert_int_eq(eof, 1);
	ck_assert(strstr(log_text(&x), "response=tls hint=\"ServiceEntry shop/web allows "
				       "203.0.113.9/32 on port 4406\""));
	close(app);
	world_release(&x);
}
END_TEST

START_TEST(other_bytes_are_reset)
{
	struct world x;
	char buf[64];
	int app, eof;

	world_init(&x, PC_DENY_PROTOCOL);
	app = deny(&x, "203.0.113.9", 22);
	ck_assert_int_eq(send(app, "SSH-2.0-x\r\n", 11, 0), 11);
	run_for(&x, 10);
	ck_assert_ptr_null(x.w.staging); /* closed at once */
	ck_assert_uint_eq(app_read(app, buf, sizeof(buf), &eof), 0);
	ck_assert_int_eq(eof, 1);
	ck_assert(strstr(log_text(&x), "response=reset"));
	ck_assert(strstr(denials(), "\"response\": \"reset\""));
	close(app);
	world_release(&x);
}
END_TEST

START_TEST(silence_is_reset_after_the_wait)
{
	struct world x;
	int app;

	world_init(&x, PC_DENY_PROTOCOL);
	app = deny(&x, "203.0.113.9", 7000);
	run_for(&x, PC_DENY_SNIFF_MS - 300);
	ck_assert_ptr_nonnull(x.w.staging);
	ck_assert_str_eq(denials(), "{\"denials\": []}"); /* recorded once answered */
	run_for(&x, 600);
	ck_assert_ptr_null(x.w.staging);
	ck_assert(strstr(denials(), "\"response\": \"reset\""));
	close(app);
	world_release(&x);
}
END_TEST

START_TEST(reset_mode_resets_everything)
{
	struct world x;
	char buf[64];
	int app, eof;

	world_init(&x, PC_DENY_RESET);
	app = deny(&x, "203.0.113.9", 3306);
	ck_assert_ptr_null(x.w.staging);
	ck_assert_uint_eq(app_read(app, buf, sizeof(buf), &eof), 0);
	ck_assert_int_eq(eof, 1);
	ck_assert(strstr(log_text(&x), "dst=203.0.113.9:3306 reason="));
	ck_assert(strstr(log_text(&x), "response=reset"));
	close(app);
	world_release(&x);
}
END_TEST

START_TEST(loop_guard_says_so)
{
	struct world x;
	char buf[1024];
	int app, eof;

	world_init(&x, PC_DENY_PROTOCOL);
	app = deny(&x, "192.0.2.1", 15001);
	ck_assert_int_eq(send(app, "HEAD / HTTP/1.1\r\n\r\n", 19, 0), 19);
	run_for(&x, 10);
	app_read(app, buf, sizeof(buf), &eof);
	ck_assert(strstr(buf, "Content-Length: 93\r\n"));
	ck_assert(strstr(buf, "\r\n\r\n") && strstr(buf, "\r\n\r\n")[4] == '\0'); /* HEAD */
	ck_assert(
		strstr(log_text(&x), "reason=\"the proxy port itself was dialled (loop guard)\""));
	close(app);
	world_release(&x);
}
END_TEST

START_TEST(close_all_closes_pending)
{
	struct world x;
	char buf[64];
	int a, b, eof;

	world_init(&x, PC_DENY_PROTOCOL);
	a = deny(&x, "203.0.113.9", 7000);
	b = deny(&x, "203.0.113.9", 3306);
	ck_assert_ptr_nonnull(x.w.staging);
	pc_session_close_all(&x.w);
	ck_assert_ptr_null(x.w.staging);
	app_read(a, buf, sizeof(buf), &eof);
	ck_assert_int_eq(eof, 1);
	ck_assert_uint_eq(count(denials(), "\"response\""), 2);
	close(a);
	close(b);
	world_release(&x);
}
END_TEST

/* The ring keeps the last PC_DENIALS_KEPT, oldest first; the log stays quiet for repeats. */
START_TEST(ring_keeps_the_newest)
{
	struct world x;
	unsigned i;
	char *j;

	world_init(&x, PC_DENY_RESET);
	for (i = 0; i < PC_DENIALS_KEPT + 10; i++)
		close(deny(&x, "203.0.113.9", 1000 + i % 300));
	j = denials();
	ck_assert_uint_eq(count(j, "\"time\""), PC_DENIALS_KEPT);
	ck_assert(strstr(j, "{\"denials\": [{\"time\": \""));
	ck_assert(strstr(j, "\"destination\": \"203.0.113.9:1010\""));
	ck_assert(!strstr(j, "\"destination\": \"203.0.113.9:1009\""));
	ck_assert(strstr(j, "\"destination\": \"203.0.113.9:1265\", \"reason\""));
	/* 266 new destinations: the rate limit lets 20 lines through, then counts */
	ck_assert_uint_eq(count(log_text(&x), "msg=\"connection denied\""), 20);
	world_release(&x);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("proxy.deny");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, sentence_v4_v6_loop_guard);
	tcase_add_test(tc, mysql_err_packet);
	tcase_add_test(tc, tls_alert_record);
	tcase_add_test(tc, http_403_response);
	tcase_add_test(tc, answer_names);
	tcase_add_loop_test(tc, sniff_decisions, 0,
			    (int)(sizeof(sniff_cases) / sizeof(sniff_cases[0])));
	tcase_add_test(tc, sniff_is_incremental);
	tcase_add_test(tc, sniff_max_always_decides);
	tcase_add_test(tc, mysql_answered_at_once_then_logged_once);
	tcase_add_test(tc, mysql_declared_port);
	tcase_add_test(tc, http_gets_403_and_input_is_drained);
	tcase_add_test(tc, tls_gets_alert_in_its_version);
	tcase_add_test(tc, other_bytes_are_reset);
	tcase_add_test(tc, silence_is_reset_after_the_wait);
	tcase_add_test(tc, reset_mode_resets_everything);
	tcase_add_test(tc, loop_guard_says_so);
	tcase_add_test(tc, close_all_closes_pending);
	tcase_add_test(tc, ring_keeps_the_newest);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	/* the ring and the recently-logged table are process-wide: a fresh copy per test */
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
