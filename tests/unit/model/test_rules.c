/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for model/rules.c: Istio's cross-cutting rules (reference §0)
 * with their exact accept/reject decisions and message texts.
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "core/arena.h"
#include "core/buf.h"
#include "model/finding.h"
#include "model/rules.h"
#include "model/schema.h"
#include "model/vctx.h"

static char msg[PC_RULE_MSG];

#define OK(call)  ck_assert_int_eq((call), 0)
#define BAD(call, text)                              \
	do {                                         \
		msg[0] = '\0';                       \
		ck_assert_int_ne((call), 0);         \
		ck_assert_str_eq(msg, (text));       \
	} while (0)

START_TEST(go_quote)
{
	char q[64], small[10], tiny[3];
	size_t i;

	ck_assert_str_eq(pc_go_quote(q, sizeof(q), ""), "\"\"");
	ck_assert_str_eq(pc_go_quote(q, sizeof(q), "app=*"), "\"app=*\"");
	/* Go's escapes for quote, backslash and the C control characters */
	ck_assert_str_eq(pc_go_quote(q, sizeof(q), "a\"b\\c"), "\"a\\\"b\\\\c\"");
	ck_assert_str_eq(pc_go_quote(q, sizeof(q), "\a\b\f\n\r\t\v"), "\"\\a\\b\\f\\n\\r\\t\\v\"");
	/* other control bytes and DEL as \xNN; UTF-8 passes through */
	ck_assert_str_eq(pc_go_quote(q, sizeof(q), "\x01\x1f\x7f"), "\"\\x01\\x1f\\x7f\"");
	ck_assert_str_eq(pc_go_quote(q, sizeof(q), "h\xc3\xa9llo \xe2\x82\xac"),
			 "\"h\xc3\xa9llo \xe2\x82\xac\"");
	ck_assert_ptr_eq(pc_go_quote(q, sizeof(q), "x"), q);
	/* as Go's %q: bidi and C1 as \u, bytes that are not UTF-8 as \x (core/escape.h) */
	ck_assert_str_eq(pc_go_quote(q, sizeof(q), "a\xe2\x80\xae\xe2\x81\xa6\xc2\x9b\xff"),
			 "\"a\\u202e\\u2066\\u009b\\xff\"");
	/* an escape that does not fit is left out whole */
	ck_assert_str_eq(pc_go_quote(small, sizeof(small), "ab\xe2\x80\xae"), "\"ab\"");

	/* cut short: a character starts only with room for "\xNN" and the closing quote */
	ck_assert_str_eq(pc_go_quote(small, sizeof(small), "abcdef"), "\"abc\"");
	ck_assert_str_eq(pc_go_quote(small, sizeof(small), "ab\ncd"), "\"ab\\n\"");
	ck_assert_str_eq(pc_go_quote(small, 8, "\x01\x02"), "\"\\x01\"");
	ck_assert_str_eq(pc_go_quote(small, 7, "\x01"), "\"\"");
	/* never inside a UTF-8 sequence: the 2-, 3- and 4-byte forms at the cut */
	ck_assert_str_eq(pc_go_quote(small, sizeof(small), "ab\xc3\xa9"), "\"ab\"");
	ck_assert_str_eq(pc_go_quote(small, sizeof(small), "a\xe2\x82\xac"), "\"a\"");
	ck_assert_str_eq(pc_go_quote(small, sizeof(small), "\xf0\x9f\x98\x80"), "\"\"");
	ck_assert_str_eq(pc_go_quote(small, sizeof(small), "abc\xc3\xa9"), "\"abc\"");
	/* the smallest buffer holds the quotes only */
	ck_assert_str_eq(pc_go_quote(tiny, sizeof(tiny), "abc"), "\"\"");

	/* a long multi-byte string: NUL-terminated, quoted, and cut on a boundary */
	for (i = 0; i < 100; i++) {
		char in[128], out[sizeof(q)];
		size_t n, len;

		n = (size_t)snprintf(in, sizeof(in), "%.*s", (int)(i % 5), "xxxxx");
		while (n + 2 < sizeof(in)) {
			memcpy(in + n, "\xc3\xa9", 2);
			n += 2;
		}
		in[n] = '\0';
		pc_go_quote(out, sizeof(out), in);
		len = strlen(out);
		ck_assert_uint_lt(len, sizeof(out));
		ck_assert_uint_ge(len, 2);
		ck_assert_int_eq(out[0], '"');
		ck_assert_int_eq(out[len - 1], '"');
		ck_assert_uint_eq(pc_utf8_prefix(out, len, len), len);
		ck_assert_mem_eq(out + 1, in, len - 2);
	}
}
END_TEST

START_TEST(dns1123_labels)
{
	ck_assert(pc_is_dns1123_label("reviews"));
	ck_assert(pc_is_dns1123_label("Reviews-V1")); /* Istio allows upper case */
	ck_assert(pc_is_dns1123_label("a"));
	ck_assert(pc_is_dns1123_label("123"));
	ck_assert(!pc_is_dns1123_label(""));
	ck_assert(!pc_is_dns1123_label("-a"));
	ck_assert(!pc_is_dns1123_label("a-"));
	ck_assert(!pc_is_dns1123_label("a_b"));
	ck_assert(!pc_is_dns1123_label("a.b"));
	ck_assert(pc_is_dns1123_label("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
	ck_assert(!pc_is_dns1123_label("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
}
END_TEST

START_TEST(wildcard_labels)
{
	ck_assert(pc_is_wildcard_dns1123_label("*"));
	ck_assert(pc_is_wildcard_dns1123_label("*foo"));
	ck_assert(pc_is_wildcard_dns1123_label("*-foo"));
	ck_assert(pc_is_wildcard_dns1123_label("foo"));
	ck_assert(!pc_is_wildcard_dns1123_label("f*o"));
	ck_assert(!pc_is_wildcard_dns1123_label("**"));
	ck_assert(!pc_is_wildcard_dns1123_label("*-"));
}
END_TEST

START_TEST(k8s_names)
{
	ck_assert(pc_is_k8s_dns1123_subdomain("mysql-external"));
	ck_assert(pc_is_k8s_dns1123_subdomain("a.b.c"));
	ck_assert(!pc_is_k8s_dns1123_subdomain("Mysql"));
	ck_assert(!pc_is_k8s_dns1123_subdomain("a..b"));
	ck_assert(!pc_is_k8s_dns1123_subdomain(""));
	ck_assert(pc_is_k8s_dns1123_label("default"));
	ck_assert(!pc_is_k8s_dns1123_label("istio.system"));
	ck_assert(!pc_is_k8s_dns1123_label("Default"));
}
END_TEST

START_TEST(fqdn)
{
	OK(pc_check_fqdn("mysql.example.com", msg, sizeof(msg)));
	OK(pc_check_fqdn("istio.io.", msg, sizeof(msg)));
	OK(pc_check_fqdn("reviews", msg, sizeof(msg)));
	BAD(pc_check_fqdn("", msg, sizeof(msg)), "empty domain name not allowed");
	BAD(pc_check_fqdn("a.123", msg, sizeof(msg)),
	    "domain name \"a.123\" invalid (top level domain \"123\" cannot be all-numeric)");
	BAD(pc_check_fqdn("a.-5", msg, sizeof(msg)),
	    "domain name \"a.-5\" invalid (top level domain \"-5\" cannot be all-numeric)");
	BAD(pc_check_fqdn("a..b", msg, sizeof(msg)), "domain name \"a..b\" invalid (label \"\" invalid)");
	BAD(pc_check_fqdn("*.example.com", msg, sizeof(msg)),
	    "domain name \"*.example.com\" invalid (label \"*\" invalid)");
	{
		char longname[300];

		memset(longname, 'a', 256);
		longname[256] = '\0';
		ck_assert_int_ne(pc_check_fqdn(longname, msg, sizeof(msg)), 0);
		ck_assert_ptr_nonnull(strstr(msg, "too long (max 255)"));
	}
}
END_TEST

START_TEST(wildcard_domain)
{
	OK(pc_check_wildcard_domain("*.example.com", msg, sizeof(msg)));
	OK(pc_check_wildcard_domain("*", msg, sizeof(msg)));
	OK(pc_check_wildcard_domain("*foo.com", msg, sizeof(msg)));
	OK(pc_check_wildcard_domain("*.", msg, sizeof(msg)));
	BAD(pc_check_wildcard_domain("foo.*.com", msg, sizeof(msg)),
	    "domain name \"*.com\" invalid (label \"*\" invalid)");
	BAD(pc_check_wildcard_domain("*.123", msg, sizeof(msg)),
	    "domain name \"123\" invalid (top level domain \"123\" cannot be all-numeric)");
	BAD(pc_check_wildcard_domain("a_b.com", msg, sizeof(msg)),
	    "domain name \"a_b.com\" invalid (label \"a_b\" invalid)");
	BAD(pc_check_wildcard_domain("", msg, sizeof(msg)), "empty domain name not allowed");
}
END_TEST

START_TEST(partial_wildcard)
{
	OK(pc_check_partial_wildcard("*", msg, sizeof(msg)));
	OK(pc_check_partial_wildcard("*.example.com", msg, sizeof(msg)));
	OK(pc_check_partial_wildcard("example.com", msg, sizeof(msg)));
	BAD(pc_check_partial_wildcard("*example.com", msg, sizeof(msg)),
	    "partial wildcard \"*example.com\" not allowed");
}
END_TEST

START_TEST(ip_and_subnet)
{
	OK(pc_check_ip_subnet("203.0.113.10", msg, sizeof(msg)));
	OK(pc_check_ip_subnet("203.0.113.10/32", msg, sizeof(msg)));
	OK(pc_check_ip_subnet("10.0.0.77/24", msg, sizeof(msg))); /* host bits allowed */
	OK(pc_check_ip_subnet("2001:db8::/32", msg, sizeof(msg)));
	OK(pc_check_ip_subnet("2001:db8::1", msg, sizeof(msg)));
	OK(pc_check_ip_subnet("fe80::1%eth0", msg, sizeof(msg)));
	OK(pc_check_ip_subnet("0.0.0.0/0", msg, sizeof(msg)));
	BAD(pc_check_ip_subnet("10.0.0.0/33", msg, sizeof(msg)), "10.0.0.0/33 is not a valid CIDR block");
	BAD(pc_check_ip_subnet("2001:db8::/129", msg, sizeof(msg)),
	    "2001:db8::/129 is not a valid CIDR block");
	BAD(pc_check_ip_subnet("fe80::1%eth0/64", msg, sizeof(msg)),
	    "fe80::1%eth0/64 is not a valid CIDR block");
	BAD(pc_check_ip_subnet("10.0.0.0/08", msg, sizeof(msg)), "10.0.0.0/08 is not a valid CIDR block");
	BAD(pc_check_ip_subnet("01.2.3.4", msg, sizeof(msg)), "01.2.3.4 is not a valid IP");
	BAD(pc_check_ip_subnet("1.2.3", msg, sizeof(msg)), "1.2.3 is not a valid IP");
	BAD(pc_check_ip_subnet("1.2.3.4%eth0", msg, sizeof(msg)), "1.2.3.4%eth0 is not a valid IP");
	BAD(pc_check_ip_subnet("a/b/c", msg, sizeof(msg)), "a/b/c is not a valid IP");
	BAD(pc_check_ip_subnet("mysql.example.com", msg, sizeof(msg)),
	    "mysql.example.com is not a valid IP");
	ck_assert(pc_is_ip("::ffff:1.2.3.4"));
}
END_TEST

START_TEST(ports_and_names)
{
	OK(pc_check_port(1, msg, sizeof(msg)));
	OK(pc_check_port(65535, msg, sizeof(msg)));
	BAD(pc_check_port(0, msg, sizeof(msg)), "port number 0 must be in the range 1..65535");
	BAD(pc_check_port(65536, msg, sizeof(msg)), "port number 65536 must be in the range 1..65535");
	OK(pc_check_port_name("tcp-mysql", msg, sizeof(msg)));
	BAD(pc_check_port_name("tcp_mysql", msg, sizeof(msg)), "invalid port name: tcp_mysql");
	BAD(pc_check_port_name("", msg, sizeof(msg)), "invalid port name: ");
}
END_TEST

START_TEST(protocols)
{
	OK(pc_check_protocol("", msg, sizeof(msg)));
	OK(pc_check_protocol("tcp", msg, sizeof(msg)));
	OK(pc_check_protocol("MySQL", msg, sizeof(msg)));
	OK(pc_check_protocol("GRPC-Web", msg, sizeof(msg)));
	OK(pc_check_protocol("UDP", msg, sizeof(msg)));
	BAD(pc_check_protocol("HBONE", msg, sizeof(msg)), "unsupported protocol: HBONE");
	BAD(pc_check_protocol("sql", msg, sizeof(msg)), "unsupported protocol: sql");
	ck_assert(pc_protocol_is_tcp(pc_protocol_parse("mongo")));
	ck_assert(pc_protocol_is_tcp(pc_protocol_parse("HTTPS")));
	ck_assert(pc_protocol_is_tls(pc_protocol_parse("https")));
	ck_assert(!pc_protocol_is_tcp(pc_protocol_parse("udp")));
	ck_assert(!pc_protocol_is_http(pc_protocol_parse("udp")));
	ck_assert(pc_protocol_is_http(pc_protocol_parse("http_proxy")));
	ck_assert(!pc_protocol_is_http(pc_protocol_parse("")));
}
END_TEST

START_TEST(durations_and_percent)
{
	OK(pc_check_duration(1000000, msg, sizeof(msg)));
	OK(pc_check_duration(3600000000000LL, msg, sizeof(msg)));
	BAD(pc_check_duration(0, msg, sizeof(msg)), "duration must be greater than 1ms");
	BAD(pc_check_duration(999999, msg, sizeof(msg)), "duration must be greater than 1ms");
	BAD(pc_check_duration(1500000, msg, sizeof(msg)), "only durations to ms precision are supported");
	OK(pc_check_percent(0, msg, sizeof(msg)));
	OK(pc_check_percent(100, msg, sizeof(msg)));
	BAD(pc_check_percent(101, msg, sizeof(msg)), "percentage 101 is not in range 0..100");
	BAD(pc_check_percent(-1, msg, sizeof(msg)), "percentage -1 is not in range 0..100");
}
END_TEST

START_TEST(hosts_match_and_subset)
{
	ck_assert(pc_host_matches("a.example.com", "a.example.com"));
	ck_assert(!pc_host_matches("a.example.com", "b.example.com"));
	ck_assert(pc_host_matches("*.example.com", "a.example.com"));
	ck_assert(!pc_host_matches("*.example.com", "example.com"));
	ck_assert(pc_host_matches("*", "anything"));
	ck_assert(pc_host_matches("*.foo.bar", "*.bar"));
	ck_assert(pc_host_matches("*.bar", "*.foo.bar"));
	ck_assert(!pc_host_matches("*.foo.com", "*.bar.com"));
	ck_assert(pc_host_subset_of("a.example.com", "*.example.com"));
	ck_assert(!pc_host_subset_of("*.example.com", "a.example.com"));
	ck_assert(pc_host_subset_of("*.a.example.com", "*.example.com"));
	ck_assert(!pc_host_subset_of("*.example.com", "*.a.example.com"));
	ck_assert(pc_host_subset_of("x", "x"));
	ck_assert(!pc_host_subset_of("x", "y"));
}
END_TEST

struct vfix {
	struct pc_arena *arena;
	struct pc_findings f;
	struct pc_vctx v;
};

static void vfix_init(struct vfix *x)
{
	x->arena = pc_arena_new(1024);
	pc_findings_init(&x->f);
	pc_vctx_init(&x->v, &x->f, x->arena, "t.yaml", NULL);
	pc_vpush(&x->v, "spec");
}

static void vfix_release(struct vfix *x)
{
	pc_vctx_release(&x->v);
	pc_findings_release(&x->f);
	pc_arena_free(x->arena);
}

static bool has(const struct vfix *x, const char *path, const char *text)
{
	size_t i;

	for (i = 0; i < x->f.n; i++) {
		if (strcmp(x->f.v[i].path, path) == 0 && strcmp(x->f.v[i].msg, text) == 0)
			return true;
	}
	return false;
}

START_TEST(labels)
{
	const char *keys[] = { "app", "example.com/tier", "bad key", "-x", "ok" };
	const char *vals[] = { "v1", "", "x", "y", "bad value" };
	struct pc_strmap m = { keys, vals, 5 };
	struct vfix x;

	vfix_init(&x);
	pc_vcheck_labels(&x.v, "labels", &m);
	ck_assert_uint_eq(x.f.nerr, 3);
	ck_assert(has(&x, "spec.labels[bad key]", "invalid tag key: \"bad key\""));
	ck_assert(has(&x, "spec.labels[-x]", "invalid tag key: \"-x\""));
	ck_assert(has(&x, "spec.labels[ok]", "invalid tag value: \"bad value\""));
	vfix_release(&x);
}
END_TEST

static void export_case(const char **v, size_t n, bool se, bool drsel, struct vfix *x)
{
	struct pc_strv e = { v, n };

	vfix_init(x);
	pc_vcheck_export_to(&x->v, "exportTo", &e, "shop", se, drsel);
}

START_TEST(export_to)
{
	const char *ok1[] = { "." };
	const char *ok2[] = { "shop", "other" };
	const char *dot_dup[] = { "shop", "." };
	const char *dup[] = { "a", "a" };
	const char *tilde[] = { "~" };
	const char *star_mix[] = { "*", "a" };
	const char *tilde_mix[] = { "~", "a" };
	const char *bad[] = { "a_b" };
	const char *beyond[] = { "other" };
	const char *multi[] = { ".", "other" };
	struct vfix x;

	export_case(ok1, 1, false, false, &x);
	ck_assert_uint_eq(x.f.n, 0);
	vfix_release(&x);
	export_case(ok2, 2, false, false, &x);
	ck_assert_uint_eq(x.f.n, 0);
	vfix_release(&x);
	export_case(dot_dup, 2, false, false, &x);
	ck_assert(has(&x, "spec.exportTo", "duplicate entries in exportTo: . and current namespace shop"));
	vfix_release(&x);
	export_case(dup, 2, false, false, &x);
	ck_assert(has(&x, "spec.exportTo", "duplicate entries in exportTo for entry a"));
	vfix_release(&x);
	export_case(tilde, 1, true, false, &x);
	ck_assert_uint_eq(x.f.n, 0);
	vfix_release(&x);
	export_case(tilde, 1, false, false, &x);
	ck_assert(has(&x, "spec.exportTo",
		      "exportTo ~ (none) is not allowed for Istio configuration objects"));
	vfix_release(&x);
	export_case(star_mix, 2, false, false, &x);
	ck_assert(has(&x, "spec.exportTo",
		      "cannot have both public (*) and non-public exportTo values for a resource"));
	vfix_release(&x);
	export_case(tilde_mix, 2, true, false, &x);
	ck_assert(has(&x, "spec.exportTo", "cannot export service entry to no one (~) and someone"));
	vfix_release(&x);
	export_case(bad, 1, false, false, &x);
	ck_assert(has(&x, "spec.exportTo",
		      "only .,*,~, or a valid DNS 1123 label is allowed as exportTo entry"));
	vfix_release(&x);
	export_case(beyond, 1, false, true, &x);
	ck_assert(has(&x, "spec.exportTo", "destination rule with workload selector cannot have "
					   "exportTo beyond current namespace"));
	vfix_release(&x);
	export_case(multi, 2, false, true, &x);
	ck_assert(has(&x, "spec.exportTo", "destination rule with workload selector cannot have "
					   "multiple entries in exportTo"));
	vfix_release(&x);
	export_case(ok1, 1, false, true, &x);
	ck_assert_uint_eq(x.f.n, 0);
	vfix_release(&x);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("model.rules");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, go_quote);
	tcase_add_test(tc, dns1123_labels);
	tcase_add_test(tc, wildcard_labels);
	tcase_add_test(tc, k8s_names);
	tcase_add_test(tc, fqdn);
	tcase_add_test(tc, wildcard_domain);
	tcase_add_test(tc, partial_wildcard);
	tcase_add_test(tc, ip_and_subnet);
	tcase_add_test(tc, ports_and_names);
	tcase_add_test(tc, protocols);
	tcase_add_test(tc, durations_and_percent);
	tcase_add_test(tc, hosts_match_and_subset);
	tcase_add_test(tc, labels);
	tcase_add_test(tc, export_to);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
