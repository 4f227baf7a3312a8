/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for proxy/accesslog.c: Istio's default TCP and HTTP lines, the
 * JSON records, and the escaping of client-controlled values.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "net/addr.h"
#include "proxy/accesslog.h"

static struct pc_addr addr(const char *ip, unsigned port)
{
	struct pc_addr a;

	ck_assert_int_eq(pc_addr_parse(ip, &a), 0);
	a.port = (uint16_t)port;
	return a;
}

START_TEST(text_line_for_a_relayed_connection)
{
	struct pc_addr up = addr("203.0.113.10", 3306), upl = addr("192.0.2.1", 40000),
		       od = addr("203.0.113.10", 3306), cl = addr("192.0.2.1", 39999);
	struct pc_access_record r = { 0 };
	char buf[1024];
	size_t n;

	r.start_ms = 1795651200123ull; /* 2026-11-26T00:00:00.123Z */
	r.duration_ms = 42;
	r.flags = "-";
	r.bytes_received = 4;
	r.bytes_sent = 23;
	r.cluster = "outbound|3306||mysql.example.com";
	r.upstream = &up;
	r.upstream_local = &upl;
	r.original_dst = &od;
	r.client = &cl;
	n = pc_access_format(&r, PC_LOG_TEXT, buf, sizeof(buf));
	ck_assert_uint_eq(n, strlen(buf));
	ck_assert_str_eq(buf,
			 "[2026-11-26T00:00:00.123Z] \"- - -\" 0 - - - \"-\" 4 23 42 - \"-\" "
			 "\"-\" \"-\" \"-\" \"203.0.113.10:3306\" outbound|3306||mysql.example.com "
			 "192.0.2.1:40000 203.0.113.10:3306 192.0.2.1:39999 - -\n");
}
END_TEST

START_TEST(text_line_for_a_denied_ipv6_connection)
{
	struct pc_addr od = addr("2001:db8:1::2", 443), cl = addr("2001:db8:1::1", 5555);
	struct pc_access_record r = { 0 };
	char buf[1024];

	r.start_ms = 0;
	r.flags = "UH";
	r.cluster = "BlackHoleCluster";
	r.original_dst = &od;
	r.client = &cl;
	pc_access_format(&r, PC_LOG_TEXT, buf, sizeof(buf));
	ck_assert_str_eq(buf, "[1970-01-01T00:00:00.000Z] \"- - -\" 0 UH - - \"-\" 0 0 0 - \"-\" "
			      "\"-\" \"-\" \"-\" \"-\" BlackHoleCluster - [2001:db8:1::2]:443 "
			      "[2001:db8:1::1]:5555 - -\n");
}
END_TEST

START_TEST(json_record)
{
	struct pc_addr od = addr("198.51.100.2", 7001), cl = addr("198.51.100.1", 5000);
	struct pc_access_record r = { 0 };
	char buf[1024];

	r.start_ms = 1000;
	r.duration_ms = 7;
	r.flags = "UF,URX";
	r.cluster = "outbound|7001||x.example";
	r.original_dst = &od;
	r.client = &cl;
	pc_access_format(&r, PC_LOG_JSON, buf, sizeof(buf));
	ck_assert_ptr_nonnull(strstr(buf, "\"response_flags\":\"UF,URX\""));
	ck_assert_ptr_nonnull(strstr(buf, "\"upstream_cluster\":\"outbound|7001||x.example\""));
	ck_assert_ptr_nonnull(strstr(buf, "\"downstream_local_address\":\"198.51.100.2:7001\""));
	ck_assert_ptr_nonnull(strstr(buf, "\"upstream_host\":\"-\""));
	ck_assert_ptr_nonnull(strstr(buf, "\"duration\":7,"));
	ck_assert_int_eq(buf[strlen(buf) - 1], '\n');
}
END_TEST

/* A revoked session: flags stay "-", the reason goes in the termination details. */
START_TEST(revoked_session_text_and_json)
{
	struct pc_addr up = addr("198.51.100.2", 7001), od = addr("198.51.100.2", 7001),
		       cl = addr("198.51.100.1", 5000);
	struct pc_access_record r = { 0 };
	char buf[1024];

	r.start_ms = 0;
	r.duration_ms = 2004;
	r.flags = "-";
	r.termination = PC_TERM_POLICY_REVOKED;
	r.bytes_received = 7;
	r.bytes_sent = 7;
	r.cluster = "outbound|7001||echo.test.example";
	r.upstream = &up;
	r.original_dst = &od;
	r.client = &cl;
	pc_access_format(&r, PC_LOG_TEXT, buf, sizeof(buf));
	ck_assert_str_eq(buf,
			 "[1970-01-01T00:00:00.000Z] \"- - -\" 0 - - portcullis_policy_revoked "
			 "\"-\" 7 7 2004 - \"-\" \"-\" \"-\" \"-\" \"198.51.100.2:7001\" "
			 "outbound|7001||echo.test.example - 198.51.100.2:7001 "
			 "198.51.100.1:5000 - -\n");
	pc_access_format(&r, PC_LOG_JSON, buf, sizeof(buf));
	ck_assert_ptr_nonnull(strstr(buf, "\"response_flags\":\"-\","
					  "\"connection_termination_details\":"
					  "\"portcullis_policy_revoked\","));
	r.termination = NULL;
	pc_access_format(&r, PC_LOG_JSON, buf, sizeof(buf));
	ck_assert_ptr_nonnull(strstr(buf, "\"connection_termination_details\":null,"));
}
END_TEST

/* The SNI is %REQUESTED_SERVER_NAME%, the 21st field; "-" without one. */
START_TEST(sni_in_text_and_json)
{
	struct pc_addr up = addr("203.0.113.10", 443), od = addr("203.0.113.10", 443),
		       cl = addr("192.0.2.1", 39999);
	struct pc_access_record r = { 0 };
	char buf[1024];

	r.flags = "-";
	r.cluster = "outbound|443||api.example.com";
	r.upstream = &up;
	r.original_dst = &od;
	r.client = &cl;
	r.server_name = "api.example.com";
	pc_access_format(&r, PC_LOG_TEXT, buf, sizeof(buf));
	ck_assert_str_eq(buf,
			 "[1970-01-01T00:00:00.000Z] \"- - -\" 0 - - - \"-\" 0 0 0 - \"-\" "
			 "\"-\" \"-\" \"-\" \"203.0.113.10:443\" outbound|443||api.example.com "
			 "- 203.0.113.10:443 192.0.2.1:39999 api.example.com -\n");
	pc_access_format(&r, PC_LOG_JSON, buf, sizeof(buf));
	ck_assert_ptr_nonnull(strstr(buf, ",\"requested_server_name\":\"api.example.com\","));
	r.server_name = NULL;
	pc_access_format(&r, PC_LOG_JSON, buf, sizeof(buf));
	ck_assert_ptr_nonnull(strstr(buf, ",\"requested_server_name\":null,"));
	r.server_name = "";
	pc_access_format(&r, PC_LOG_TEXT, buf, sizeof(buf));
	ck_assert_ptr_nonnull(strstr(buf, " 192.0.2.1:39999 - -\n"));
}
END_TEST

/*
 * A hostile server name cannot add fields, quotes or lines: every byte
 * outside printable ASCII, '"', '\' and (unquoted) the space become \xHH.
 */
START_TEST(hostile_sni_is_escaped)
{
	struct pc_addr od = addr("203.0.113.10", 443), cl = addr("192.0.2.1", 39999);
	struct pc_access_record r = { 0 };
	char buf[1024];

	r.flags = "UH";
	r.cluster = "BlackHoleCluster";
	r.original_dst = &od;
	r.client = &cl;
	r.server_name = "a\" b\\\n\x01\x7f\xc3\xa9.example";
	pc_access_format(&r, PC_LOG_TEXT, buf, sizeof(buf));
	ck_assert_str_eq(buf,
			 "[1970-01-01T00:00:00.000Z] \"- - -\" 0 UH - - \"-\" 0 0 0 - \"-\" "
			 "\"-\" \"-\" \"-\" \"-\" BlackHoleCluster - 203.0.113.10:443 "
			 "192.0.2.1:39999 a\\x22\\x20b\\x5c\\x0a\\x01\\x7f\\xc3\\xa9.example -\n");
	pc_access_format(&r, PC_LOG_JSON, buf, sizeof(buf));
	/* the JSON string decodes to the text form; spaces need no escape in JSON */
	ck_assert_ptr_nonnull(strstr(buf, ",\"requested_server_name\":\"a\\\\x22 b\\\\x5c\\\\x0a"
					  "\\\\x01\\\\x7f\\\\xc3\\\\xa9.example\","));
	ck_assert_ptr_eq(strchr(buf, '\n'), buf + strlen(buf) - 1);
}
END_TEST

static struct pc_access_http http_req(void)
{
	struct pc_access_http h = { 0 };

	h.method = "GET";
	h.path = "/status/418?x=1";
	h.protocol = "HTTP/1.1";
	h.response_code = 200;
	h.response_code_details = "via_upstream";
	h.authority = "httpbin.example:80";
	h.user_agent = "curl/8.5.0";
	h.request_id = "f21ebd42";
	h.route_name = "default";
	return h;
}

/* Split a text line into its fields the way Istio's parsers do: spaces outside quotes. */
static int split(char *line, char **f, int max)
{
	int n = 0;
	bool q = false;
	char *p = line;

	while (*p && *p != '\n' && n < max) {
		f[n++] = p;
		for (; *p && *p != '\n' && (q || *p != ' '); p++)
			if (*p == '"')
				q = !q;
		if (*p)
			*p++ = '\0';
	}
	return n;
}

START_TEST(http_text_line_field_by_field)
{
	struct pc_addr up = addr("203.0.113.20", 80), upl = addr("192.0.2.1", 41000),
		       od = addr("203.0.113.20", 80), cl = addr("192.0.2.1", 41001);
	struct pc_access_http h = http_req();
	struct pc_access_record r = { 0 };
	char buf[2048], *f[32];
	size_t n;

	r.start_ms = 1795651200123ull;
	r.duration_ms = 15;
	r.flags = "-";
	r.bytes_received = 0;
	r.bytes_sent = 135;
	r.cluster = "outbound|80||httpbin.example";
	r.upstream = &up;
	r.upstream_local = &upl;
	r.original_dst = &od;
	r.client = &cl;
	r.http = &h;
	h.forwarded_for = "198.51.100.7";
	n = pc_access_format(&r, PC_LOG_TEXT, buf, sizeof(buf));
	ck_assert_uint_eq(n, strlen(buf));
	ck_assert_str_eq(buf, "[2026-11-26T00:00:00.123Z] \"GET /status/418?x=1 HTTP/1.1\" 200 - "
			      "via_upstream - \"-\" 0 135 15 - \"198.51.100.7\" \"curl/8.5.0\" "
			      "\"f21ebd42\" \"httpbin.example:80\" \"203.0.113.20:80\" "
			      "outbound|80||httpbin.example 192.0.2.1:41000 203.0.113.20:80 "
			      "192.0.2.1:41001 - default\n");
	ck_assert_int_eq(split(buf, f, 32), 22);
	ck_assert_str_eq(f[0], "[2026-11-26T00:00:00.123Z]");
	ck_assert_str_eq(f[1], "\"GET /status/418?x=1 HTTP/1.1\"");
	ck_assert_str_eq(f[2], "200");                     /* RESPONSE_CODE */
	ck_assert_str_eq(f[3], "-");                       /* RESPONSE_FLAGS */
	ck_assert_str_eq(f[4], "via_upstream");            /* RESPONSE_CODE_DETAILS */
	ck_assert_str_eq(f[5], "-");                       /* CONNECTION_TERMINATION_DETAILS */
	ck_assert_str_eq(f[6], "\"-\"");                   /* UPSTREAM_TRANSPORT_FAILURE_REASON */
	ck_assert_str_eq(f[7], "0");                       /* BYTES_RECEIVED */
	ck_assert_str_eq(f[8], "135");                     /* BYTES_SENT */
	ck_assert_str_eq(f[9], "15");                      /* DURATION */
	ck_assert_str_eq(f[10], "-");                      /* X-ENVOY-UPSTREAM-SERVICE-TIME */
	ck_assert_str_eq(f[11], "\"198.51.100.7\"");       /* X-FORWARDED-FOR */
	ck_assert_str_eq(f[12], "\"curl/8.5.0\"");         /* USER-AGENT */
	ck_assert_str_eq(f[13], "\"f21ebd42\"");           /* X-REQUEST-ID */
	ck_assert_str_eq(f[14], "\"httpbin.example:80\""); /* :AUTHORITY */
	ck_assert_str_eq(f[15], "\"203.0.113.20:80\"");    /* UPSTREAM_HOST */
	ck_assert_str_eq(f[16], "outbound|80||httpbin.example");
	ck_assert_str_eq(f[17], "192.0.2.1:41000"); /* UPSTREAM_LOCAL_ADDRESS */
	ck_assert_str_eq(f[18], "203.0.113.20:80"); /* DOWNSTREAM_LOCAL_ADDRESS */
	ck_assert_str_eq(f[19], "192.0.2.1:41001"); /* DOWNSTREAM_REMOTE_ADDRESS */
	ck_assert_str_eq(f[20], "-");               /* REQUESTED_SERVER_NAME */
	ck_assert_str_eq(f[21], "default");         /* ROUTE_NAME */
}
END_TEST

/* A denied request: hostile request line and headers stay inside their fields. */
START_TEST(http_hostile_request_keeps_the_layout)
{
	struct pc_addr od = addr("203.0.113.20", 80), cl = addr("192.0.2.1", 41001);
	struct pc_access_http h = { 0 };
	struct pc_access_record r = { 0 };
	char buf[2048], *f[32];

	r.flags = "-";
	r.cluster = "BlackHoleCluster";
	r.original_dst = &od;
	r.client = &cl;
	r.http = &h;
	h.method = "GET";
	h.path = "/a b\" 200 - x\n[fake]";
	h.protocol = "HTTP/1.0";
	h.response_code = 403;
	h.response_code_details = "portcullis_denied";
	h.authority = "evil.example\" \"x";
	h.user_agent = "ua \\ \x1b[31m";
	pc_access_format(&r, PC_LOG_TEXT, buf, sizeof(buf));
	ck_assert_ptr_nonnull(strstr(buf,
				     "\"GET /a\\x20b\\x22\\x20200\\x20-\\x20x\\x0a[fake] "
				     "HTTP/1.0\" 403 - portcullis_denied - \"-\" 0 0 0 - "
				     "\"-\" \"ua \\x5c \\x1b[31m\" \"-\" "
				     "\"evil.example\\x22 \\x22x\" \"-\" BlackHoleCluster - "));
	ck_assert_ptr_eq(strchr(buf, '\n'), buf + strlen(buf) - 1);
	ck_assert_int_eq(split(buf, f, 32), 22);
	ck_assert_str_eq(f[2], "403");
	ck_assert_str_eq(f[20], "-");
	ck_assert_str_eq(f[21], "-"); /* no route */
}
END_TEST

START_TEST(http_json_record)
{
	struct pc_addr up = addr("2001:db8::20", 80), od = addr("2001:db8::20", 80),
		       cl = addr("2001:db8::1", 41001);
	struct pc_access_http h = http_req();
	struct pc_access_record r = { 0 };
	char buf[4096];

	r.start_ms = 1000;
	r.id = 77;
	r.duration_ms = 3;
	r.flags = "-";
	r.bytes_received = 5;
	r.bytes_sent = 9;
	r.cluster = "outbound|80||httpbin.example";
	r.upstream = &up;
	r.original_dst = &od;
	r.client = &cl;
	r.http = &h;
	h.user_agent = "say \"hi\"";
	pc_access_format(&r, PC_LOG_JSON, buf, sizeof(buf));
	ck_assert_str_eq(
		buf, "{\"start_time\":\"1970-01-01T00:00:01.000Z\",\"route_name\":\"default\","
		     "\"method\":\"GET\",\"path\":\"/status/418?x=1\",\"protocol\":\"HTTP/1.1\","
		     "\"response_code\":200,\"response_flags\":\"-\","
		     "\"response_code_details\":\"via_upstream\","
		     "\"connection_termination_details\":null,\"bytes_received\":5,"
		     "\"bytes_sent\":9,\"duration\":3,\"upstream_service_time\":null,"
		     "\"x_forwarded_for\":null,\"user_agent\":\"say \\\\x22hi\\\\x22\","
		     "\"request_id\":\"f21ebd42\",\"authority\":\"httpbin.example:80\","
		     "\"upstream_host\":\"[2001:db8::20]:80\","
		     "\"upstream_cluster\":\"outbound|80||httpbin.example\","
		     "\"upstream_local_address\":\"-\","
		     "\"downstream_local_address\":\"[2001:db8::20]:80\","
		     "\"downstream_remote_address\":\"[2001:db8::1]:41001\","
		     "\"requested_server_name\":null,"
		     "\"upstream_transport_failure_reason\":null,"
		     "\"access_log_type\":\"DownstreamEnd\",\"connection_id\":77}\n");
}
END_TEST

/* The longest path and headers still give one record of at most PIPE_BUF bytes, in both formats. */
START_TEST(long_values_are_bounded)
{
	struct pc_addr od = addr("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", 65535),
		       cl = addr("2001:db8:ffff:ffff:ffff:ffff:ffff:fffe", 65535);
	struct pc_access_http h = { 0 };
	struct pc_access_record r = { 0 };
	char *big = malloc(20000), *buf = malloc(20000), *p, *f[32];
	size_t n;
	int fmt;

	memset(big, '\x01', 19999); /* every byte escapes to four */
	big[19999] = '\0';
	r.flags = "UF,URX";
	r.termination = PC_TERM_POLICY_REVOKED;
	r.cluster = "outbound|65535||a-rather-long-service-name.some-namespace.svc.example";
	r.original_dst = &od;
	r.upstream = &od;
	r.upstream_local = &cl;
	r.client = &cl;
	r.server_name = big;
	r.http = &h;
	h.method = h.path = h.protocol = h.response_code_details = h.authority = h.user_agent =
		h.request_id = h.forwarded_for = h.route_name = big;
	h.response_code = 503;
	r.start_ms = r.duration_ms = r.bytes_received = r.bytes_sent = r.id = UINT64_MAX;
	for (fmt = PC_LOG_TEXT; fmt <= PC_LOG_JSON; fmt++) {
		n = pc_access_format(&r, (enum pc_log_format)fmt, buf, 20000);
		ck_assert_uint_eq(n, strlen(buf));
		ck_assert_uint_le(n, PC_ACCESS_LINE_MAX);
		ck_assert_ptr_eq(strchr(buf, '\n'), buf + n - 1);
		ck_assert_ptr_nonnull(strstr(buf, "..."));
		/* nothing was cut: the record ends as it should */
		ck_assert_ptr_nonnull(
			strstr(buf, fmt == PC_LOG_JSON ? "\"connection_id\":18446744073709551615}\n"
						       : "...\n"));
	}
	pc_access_format(&r, PC_LOG_TEXT, buf, 20000);
	ck_assert_int_eq(split(buf, f, 32), 22);
	p = strstr(f[1], " ");
	/* the method: cut at an escape boundary, "..." included, within its bound */
	ck_assert_uint_le((size_t)(p - f[1]) - 1, PC_ACCESS_SHORT_MAX);
	ck_assert_uint_ge((size_t)(p - f[1]) - 1, PC_ACCESS_SHORT_MAX - 4);
	ck_assert(strncmp(p - 3, "...", 3) == 0);
	free(big);
	free(buf);
}
END_TEST

START_TEST(truncation_keeps_the_newline)
{
	struct pc_addr od = addr("198.51.100.2", 7001), cl = addr("198.51.100.1", 5000);
	struct pc_access_record r = { 0 };
	char buf[40];
	size_t n;

	r.flags = "-";
	r.cluster = "outbound|7001||x.example";
	r.original_dst = &od;
	r.client = &cl;
	n = pc_access_format(&r, PC_LOG_TEXT, buf, sizeof(buf));
	ck_assert_uint_eq(n, sizeof(buf) - 1);
	ck_assert_int_eq(buf[n - 1], '\n');
}
END_TEST

int main(void)
{
	Suite *s = suite_create("proxy.accesslog");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, text_line_for_a_relayed_connection);
	tcase_add_test(tc, text_line_for_a_denied_ipv6_connection);
	tcase_add_test(tc, json_record);
	tcase_add_test(tc, revoked_session_text_and_json);
	tcase_add_test(tc, sni_in_text_and_json);
	tcase_add_test(tc, hostile_sni_is_escaped);
	tcase_add_test(tc, http_text_line_field_by_field);
	tcase_add_test(tc, http_hostile_request_keeps_the_layout);
	tcase_add_test(tc, http_json_record);
	tcase_add_test(tc, long_values_are_bounded);
	tcase_add_test(tc, truncation_keeps_the_newline);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
