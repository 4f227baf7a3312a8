/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests for proxy/accesslog.c: Istio's default TCP line and the JSON record. */
#include <check.h>
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
	ck_assert_str_eq(buf, "[2026-11-26T00:00:00.123Z] \"- - -\" 0 - - - \"-\" 4 23 42 - \"-\" "
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
	ck_assert_str_eq(buf, "[1970-01-01T00:00:00.000Z] \"- - -\" 0 - - portcullis_policy_revoked "
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
	tcase_add_test(tc, truncation_keeps_the_newline);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
