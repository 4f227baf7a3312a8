/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for core/log.c. Lines go to a SOCK_SEQPACKET socket through
 * pc_log_set_fd(): every write(2) arrives as one message, so each recv()
 * here is exactly one write and "one write per line" is checked directly.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <regex.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"

static int sv[2];
static char got[2 * PC_LOG_LINE_MAX];

static void setup(void)
{
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	pc_log_set_fd(sv[0]);
	pc_log_set_level(PC_LOG_INFO);
	pc_log_set_flags(0);
}

static void teardown(void)
{
	pc_log_set_fd(-1);
	close(sv[0]);
	close(sv[1]);
}

/* The next write, as a string; "" if nothing was written. */
static const char *next(void)
{
	ssize_t n = recv(sv[1], got, sizeof(got) - 1, MSG_DONTWAIT);

	if (n == -1) {
		ck_assert_int_eq(errno, EAGAIN);
		n = 0;
	}
	got[n] = '\0';
	return got;
}

/* ---- format and quoting --------------------------------------------------- */

START_TEST(basic_line)
{
	pc_log(PC_LOG_WARN, "upstream connect failed", "sess=%lu dst=%s:%u err=%s", 42ul,
	       "203.0.113.9", 443u, "ECONNREFUSED");
	ck_assert_str_eq(next(), "level=warn msg=\"upstream connect failed\" sess=42 "
				 "dst=203.0.113.9:443 err=ECONNREFUSED\n");
	pc_log(PC_LOG_ERR, "listening", NULL);
	ck_assert_str_eq(next(), "level=err msg=listening\n");
	pc_log(PC_LOG_NOTICE, "", "  a=1   b=2 ");
	ck_assert_str_eq(next(), "level=notice msg=\"\" a=1 b=2\n");
	ck_assert_str_eq(next(), "");
}
END_TEST

START_TEST(values_are_quoted_when_needed)
{
	pc_log(PC_LOG_INFO, "q", "a=%s b=%s c=%s d=%s e=%s", "two words", "say \"hi\"",
	       "back\\slash", "", "x=y");
	ck_assert_str_eq(next(), "level=info msg=q a=\"two words\" b=\"say \\\"hi\\\"\" "
				 "c=\"back\\\\slash\" d=\"\" e=\"x=y\"\n");
	pc_log(PC_LOG_INFO, "q", "nl=%s ctl=%s del=%s tab=%s utf8=%s", "a\nb\r", "\x01\x1f", "\x7f",
	       "\t", "caf\xc3\xa9");
	ck_assert_str_eq(next(), "level=info msg=q nl=\"a\\nb\\r\" ctl=\"\\x01\\x1f\" "
				 "del=\"\\x7f\" tab=\"\\t\" utf8=caf\xc3\xa9\n");
	/* a NUL produced by %c is escaped, not a string end */
	pc_log(PC_LOG_INFO, "q", "c=a%cb", 0);
	ck_assert_str_eq(next(), "level=info msg=q c=\"a\\x00b\"\n");
}
END_TEST

/* A value from the network cannot add a field or end the line. */
START_TEST(hostile_values_cannot_forge_fields)
{
	pc_log(PC_LOG_INFO, "sni", "host=%s port=%d", "x level=err msg=\"pwned\"\nlevel=err", 443);
	ck_assert_str_eq(next(), "level=info msg=sni host=\"x level=err msg=\\\"pwned\\\"\\n"
				 "level=err\" port=443\n");
	/* keys are sanitised, even when (wrongly) formatted */
	pc_log(PC_LOG_INFO, "k", "%s=1 %s=2", "a b=\"c\"", "");
	ck_assert_str_eq(next(), "level=info msg=k a_b__c_=1 _=2\n");
	/* a token without '=' is a bare key */
	pc_log(PC_LOG_INFO, "k", "retry n=%d", 3);
	ck_assert_str_eq(next(), "level=info msg=k retry n=3\n");
	/* a message is quoted like a value */
	pc_log(PC_LOG_INFO, "bad\nmsg", NULL);
	ck_assert_str_eq(next(), "level=info msg=\"bad\\nmsg\"\n");
}
END_TEST

START_TEST(conversions)
{
	signed char hh = -5;
	short h = -300;
	long double ld = 2.5L;
	void *ptr = (void *)0x1234;
	unsigned char uc = 200;
	char expect[128];

	pc_log(PC_LOG_INFO, "c", "i=%d w=%5d l=%-3d| z=%05d f=%.2f x=%x X=%#X o=%o", 7, 42, 1, 42,
	       3.14159, 255u, 255u, 8u);
	ck_assert_str_eq(next(), "level=info msg=c i=7 w=\"   42\" l=\"1  |\" z=00042 f=3.14 x=ff "
				 "X=0XFF o=10\n");
	pc_log(PC_LOG_INFO, "c", "lu=%lu lld=%lld llu=%llu zu=%zu zd=%zd jd=%jd ju=%ju td=%td",
	       4000000000ul, -9000000000ll, 18446744073709551615ull, (size_t)17, (ssize_t)-17,
	       (intmax_t)-1, (uintmax_t)2, (ptrdiff_t)-3);
	ck_assert_str_eq(next(), "level=info msg=c lu=4000000000 lld=-9000000000 "
				 "llu=18446744073709551615 zu=17 zd=-17 jd=-1 ju=2 td=-3\n");
	pc_log(PC_LOG_INFO, "c", "hh=%hhd h=%hd hu=%hu c=%c pct=%d%% sp=% d plus=%+d", hh, h,
	       (unsigned short)65535, 'Z', 50, 5, 5);
	ck_assert_str_eq(next(), "level=info msg=c hh=-5 h=-300 hu=65535 c=Z pct=50% "
				 "sp=\" 5\" plus=+5\n");
	pc_log(PC_LOG_INFO, "c", "hhu=%hhu", uc);
	ck_assert_str_eq(next(), "level=info msg=c hhu=200\n");
	pc_log(PC_LOG_INFO, "c", "star=%*d prec=%.*s neg=%.*s left=%-*d| lf=%Lf e=%.1e g=%g", 4, 7,
	       3, "abcdef", -1, "abc", 3, 9, ld, 12345.0, 0.5);
	ck_assert_str_eq(next(), "level=info msg=c star=\"   7\" prec=abc neg=abc left=\"9  |\" "
				 "lf=2.500000 e=1.2e+04 g=0.5\n");
	pc_log(PC_LOG_INFO, "c", "p=%p s=%s", ptr, (const char *)NULL);
	snprintf(expect, sizeof(expect), "level=info msg=c p=%p s=(null)\n", ptr);
	ck_assert_str_eq(next(), expect);
}
END_TEST

START_TEST(errno_is_kept_and_percent_m)
{
	errno = ENOENT;
	pc_log(PC_LOG_INFO, "open failed", "path=%s err=%m", "/etc/x");
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_str_eq(next(), "level=info msg=\"open failed\" path=/etc/x "
				 "err=\"No such file or directory\"\n");
	errno = EPERM;
	pc_log(PC_LOG_DEBUG, "filtered", "err=%m");
	ck_assert_int_eq(errno, EPERM);
}
END_TEST

/*
 * A name from a manifest, a Host header or an SNI cannot drive the terminal
 * that shows the log (C1 CSI, ESC) or reorder the line (bidi overrides):
 * both are escaped, and so are bytes that are not UTF-8.
 */
START_TEST(bidi_and_c1_are_escaped)
{
	pc_log(PC_LOG_INFO, "sni", "host=%s next=1", "evil\xe2\x80\xae\x1b[31mmoc.example");
	ck_assert_str_eq(next(), "level=info msg=sni host=\"evil\\u202e\\x1b[31mmoc.example\" "
				 "next=1\n");
	/* no space or quote needed for it to be quoted: isolates, marks, C1, bad bytes */
	pc_log(PC_LOG_INFO, "h", "a=%s b=%s c=%s d=%s", "x\xe2\x81\xa6y", "\xd8\x9c\xe2\x80\x8f",
	       "\xc2\x9b[2J", "\xff\xfe");
	ck_assert_str_eq(next(), "level=info msg=h a=\"x\\u2066y\" b=\"\\u061c\\u200f\" "
				 "c=\"\\u009b[2J\" d=\"\\xff\\xfe\"\n");
	/* printable UTF-8 stays bare */
	pc_log(PC_LOG_INFO, "h", "a=%s", "caf\xc3\xa9\xe2\x82\xac");
	ck_assert_str_eq(next(), "level=info msg=h a=caf\xc3\xa9\xe2\x82\xac\n");
}
END_TEST

START_TEST(long_lines_are_cut_cleanly)
{
	static char big[3 * PC_LOG_LINE_MAX];
	const char *l;
	size_t n, i, quotes = 0;

	memset(big, 'a', sizeof(big) - 1);
	big[100] = ' '; /* needs quotes */
	pc_log(PC_LOG_INFO, "big", "a=%s b=after", big);
	l = next();
	n = strlen(l);
	ck_assert_uint_le(n, PC_LOG_LINE_MAX);
	ck_assert_uint_ge(n, PC_LOG_LINE_MAX - 32);
	ck_assert_str_eq(l + n - 17, "\" truncated=true\n");
	ck_assert_ptr_null(strstr(l, "b=after"));
	for (i = 0; i < n; i++)
		quotes += l[i] == '"';
	ck_assert_uint_eq(quotes, 2);

	/* escapes are never split */
	memset(big, '"', sizeof(big) - 1);
	pc_log(PC_LOG_INFO, "big", "a=%s", big);
	l = next();
	n = strlen(l);
	ck_assert_uint_le(n, PC_LOG_LINE_MAX);
	ck_assert_str_eq(l + n - 19, "\\\"\" truncated=true\n");

	/* bare values are cut too */
	memset(big, 'b', sizeof(big) - 1);
	pc_log(PC_LOG_INFO, "big", "a=%s", big);
	l = next();
	ck_assert_uint_eq(strlen(l), PC_LOG_LINE_MAX);
	ck_assert_str_eq(l + PC_LOG_LINE_MAX - 17, "b truncated=true\n");
}
END_TEST

START_TEST(timestamp_flag)
{
	regex_t re;
	const char *l;

	ck_assert_int_eq(
		regcomp(&re,
			"^ts=[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z "
			"level=info msg=hello\n$",
			REG_EXTENDED | REG_NOSUB),
		0);
	pc_log_set_flags(PC_LOG_TIMESTAMP);
	pc_log(PC_LOG_INFO, "hello", NULL);
	l = next();
	ck_assert_msg(regexec(&re, l, 0, NULL, 0) == 0, "bad line: %s", l);
	pc_log_set_flags(0);
	pc_log(PC_LOG_INFO, "hello", NULL);
	ck_assert_str_eq(next(), "level=info msg=hello\n");
	regfree(&re);
}
END_TEST

/* ---- levels ------------------------------------------------------------------ */

START_TEST(level_filtering)
{
	pc_log_set_level(PC_LOG_WARN);
	ck_assert_int_eq(pc_log_get_level(), PC_LOG_WARN);
	pc_log(PC_LOG_INFO, "hidden", NULL);
	pc_log(PC_LOG_NOTICE, "hidden", NULL);
	ck_assert_str_eq(next(), "");
	pc_log(PC_LOG_WARN, "shown", NULL);
	ck_assert_str_eq(next(), "level=warn msg=shown\n");
	pc_log(PC_LOG_ERR, "shown", NULL);
	ck_assert_str_eq(next(), "level=err msg=shown\n");
	ck_assert(pc_log_enabled(PC_LOG_ERR));
	ck_assert(!pc_log_enabled(PC_LOG_INFO));

	/* out-of-range levels are clamped */
	pc_log_set_level(99);
	ck_assert_int_eq(pc_log_get_level(), PC_LOG_DEBUG);
	pc_log_set_level(-3);
	ck_assert_int_eq(pc_log_get_level(), PC_LOG_ERR);
	pc_log(-1, "very bad", NULL);
	ck_assert_str_eq(next(), "level=err msg=\"very bad\"\n");
}
END_TEST

static int evaluated;

static int side_effect(void)
{
	return ++evaluated;
}

START_TEST(debug_does_not_evaluate_args_when_off)
{
	evaluated = 0;
	pc_log_set_level(PC_LOG_INFO);
	pc_debug("tick", "n=%d", side_effect());
	ck_assert_int_eq(evaluated, 0);
	ck_assert_str_eq(next(), "");
	pc_log_set_level(PC_LOG_DEBUG);
	pc_debug("tick", "n=%d", side_effect());
	ck_assert_int_eq(evaluated, 1);
	ck_assert_str_eq(next(), "level=debug msg=tick n=1\n");
}
END_TEST

START_TEST(level_names)
{
	ck_assert_int_eq(pc_log_level_parse("err"), PC_LOG_ERR);
	ck_assert_int_eq(pc_log_level_parse("error"), PC_LOG_ERR);
	ck_assert_int_eq(pc_log_level_parse("warn"), PC_LOG_WARN);
	ck_assert_int_eq(pc_log_level_parse("warning"), PC_LOG_WARN);
	ck_assert_int_eq(pc_log_level_parse("notice"), PC_LOG_NOTICE);
	ck_assert_int_eq(pc_log_level_parse("info"), PC_LOG_INFO);
	ck_assert_int_eq(pc_log_level_parse("debug"), PC_LOG_DEBUG);
	ck_assert_int_eq(pc_log_level_parse("DEBUG"), -EINVAL);
	ck_assert_int_eq(pc_log_level_parse(""), -EINVAL);
	ck_assert_int_eq(pc_log_level_parse("trace"), -EINVAL);
	ck_assert_str_eq(pc_log_level_name(PC_LOG_NOTICE), "notice");
	ck_assert_str_eq(pc_log_level_name(7), "?");
	ck_assert_str_eq(pc_log_level_name(-1), "?");
}
END_TEST

/* ---- rate limiting ----------------------------------------------------------- */

START_TEST(ratelimit_window_and_suppressed_count)
{
	struct pc_ratelimit rl = PC_RATELIMIT_INIT(1000, 3);
	uint64_t t;
	int allowed = 0;

	for (t = 5000; t < 5010; t++)
		allowed += pc_log_ratelimit(&rl, t);
	ck_assert_int_eq(allowed, 3);
	ck_assert_uint_eq(rl.suppressed, 0);
	ck_assert_uint_eq(rl.missed, 7);
	/* still inside the window */
	ck_assert(!pc_log_ratelimit(&rl, 5999));
	/* a new window: allowed, and reports the 8 refused lines */
	ck_assert(pc_log_ratelimit(&rl, 6000));
	ck_assert_uint_eq(rl.suppressed, 8);
	ck_assert(pc_log_ratelimit(&rl, 6001));
	ck_assert_uint_eq(rl.suppressed, 0);

	/* no interval: no limit; no burst: nothing */
	pc_ratelimit_init(&rl, 0, 0);
	for (t = 0; t < 100; t++)
		ck_assert(pc_log_ratelimit(&rl, t));
	pc_ratelimit_init(&rl, 10, 0);
	ck_assert(!pc_log_ratelimit(&rl, 0));
	/* a time at 0 still starts a window */
	pc_ratelimit_init(&rl, 10, 1);
	ck_assert(pc_log_ratelimit(&rl, 0));
	ck_assert(!pc_log_ratelimit(&rl, 9));
	ck_assert(pc_log_ratelimit(&rl, 10));
	ck_assert_uint_eq(rl.suppressed, 1);
}
END_TEST

START_TEST(ratelimited_logging)
{
	struct pc_ratelimit rl;
	uint64_t t;

	pc_ratelimit_init(&rl, 100, 2);
	for (t = 0; t < 5; t++)
		pc_log_limited(&rl, t, PC_LOG_WARN, "accept failed", "err=%s", "EMFILE");
	ck_assert_str_eq(next(), "level=warn msg=\"accept failed\" err=EMFILE\n");
	ck_assert_str_eq(next(), "level=warn msg=\"accept failed\" err=EMFILE\n");
	ck_assert_str_eq(next(), "");
	pc_log_limited(&rl, 150, PC_LOG_WARN, "accept failed", "err=%s", "EMFILE");
	ck_assert_str_eq(next(), "level=warn msg=\"accept failed\" err=EMFILE suppressed=3\n");

	/* disabled level: arguments unevaluated, limiter untouched */
	evaluated = 0;
	pc_log_set_level(PC_LOG_WARN);
	pc_log_limited(&rl, 151, PC_LOG_INFO, "x", "n=%d", side_effect());
	ck_assert_int_eq(evaluated, 0);
	ck_assert_uint_eq(rl.count, 1);
	ck_assert_uint_eq(rl.missed, 0);
	ck_assert_str_eq(next(), "");

	pc_log_suppressed(PC_LOG_WARN, 0, "none", NULL);
	ck_assert_str_eq(next(), "level=warn msg=none\n");
}
END_TEST

/* ---- threads ------------------------------------------------------------------ */

#define TH_N     4
#define TH_LINES 500

static void *log_lines(void *arg)
{
	int id = (int)(intptr_t)arg, i;
	char pad[300];

	memset(pad, 'a' + id, sizeof(pad) - 1);
	pad[sizeof(pad) - 1] = '\0';
	for (i = 0; i < TH_LINES; i++) {
		pc_log(PC_LOG_INFO, "t", "th=%d i=%d pad=%s", id, i, pad);
		if (i == TH_LINES / 2)
			pc_log_set_level(PC_LOG_INFO); /* live level changes race safely */
	}
	return NULL;
}

/* Parse "level=info msg=t th=<id> i=<i> pad=<299 x c>\n" of <n> bytes. */
static void check_thread_line(const char *l, size_t n, long *id, long *i)
{
	static const char head[] = "level=info msg=t th=";
	char *end;
	size_t k;

	ck_assert_int_eq(strncmp(l, head, sizeof(head) - 1), 0);
	*id = strtol(l + sizeof(head) - 1, &end, 10);
	ck_assert_int_eq(strncmp(end, " i=", 3), 0);
	*i = strtol(end + 3, &end, 10);
	ck_assert_int_eq(strncmp(end, " pad=", 5), 0);
	end += 5;
	ck_assert_uint_eq(n - (size_t)(end - l), 300);
	/* one assertion per line: Check records every ck_assert call */
	for (k = 0; k < 299 && end[k] == 'a' + *id; k++)
		;
	ck_assert_uint_eq(k, 299);
	ck_assert_int_eq(end[299], '\n');
}

/* Concurrent writers: every write is one whole, well-formed line. */
START_TEST(threads_write_whole_lines)
{
	pthread_t th[TH_N];
	long next_i[TH_N] = { 0 }, id, i;
	int k, total = 0, sz = 1 << 20;

	/* room for every line, so writers never block and the reader can wait */
	ck_assert_int_eq(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz)), 0);
	for (k = 0; k < TH_N; k++)
		ck_assert_int_eq(pthread_create(&th[k], NULL, log_lines, (void *)(intptr_t)k), 0);
	while (total < TH_N * TH_LINES) {
		ssize_t r = recv(sv[1], got, sizeof(got) - 1, 0);

		ck_assert_int_gt(r, 0);
		got[r] = '\0';
		check_thread_line(got, (size_t)r, &id, &i);
		ck_assert_int_ge(id, 0);
		ck_assert_int_lt(id, TH_N);
		ck_assert_int_eq(i, next_i[id]++);
		total++;
	}
	for (k = 0; k < TH_N; k++)
		ck_assert_int_eq(pthread_join(th[k], NULL), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("core.log");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, basic_line);
	tcase_add_test(tc, values_are_quoted_when_needed);
	tcase_add_test(tc, hostile_values_cannot_forge_fields);
	tcase_add_test(tc, conversions);
	tcase_add_test(tc, errno_is_kept_and_percent_m);
	tcase_add_test(tc, bidi_and_c1_are_escaped);
	tcase_add_test(tc, long_lines_are_cut_cleanly);
	tcase_add_test(tc, timestamp_flag);
	tcase_add_test(tc, level_filtering);
	tcase_add_test(tc, debug_does_not_evaluate_args_when_off);
	tcase_add_test(tc, level_names);
	tcase_add_test(tc, ratelimit_window_and_suppressed_count);
	tcase_add_test(tc, ratelimited_logging);
	tcase_add_test(tc, threads_write_whole_lines);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
