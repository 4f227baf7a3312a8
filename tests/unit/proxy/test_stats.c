/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests for proxy/stats.c: per-worker series, their sum, Prometheus text and JSON. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "proxy/stats.h"

static const struct pc_stats_labels labels = { "shop-1", "shop", "shop", "v2", "shop", "v2" };
static const struct pc_proc_stats proc = { 1.5, 4096, 7, 3, 2, 1, 8192 };

START_TEST(same_key_same_series)
{
	struct pc_stats st;
	struct pc_stat_series *a, *b, *c, *d;
	struct pc_stat_cluster *x, *y;

	pc_stats_init(&st);
	a = pc_stats_series(&st, "h.example", "h.example", "ns", NULL);
	b = pc_stats_series(&st, "h.example", "h.example", "ns", "-");
	c = pc_stats_series(&st, "h.example", "h.example", "ns", "UF,URX");
	d = pc_stats_series(&st, NULL, "BlackHoleCluster", NULL, "UH");
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_eq(a, b); /* NULL flags are "-" */
	ck_assert_ptr_ne(a, c);
	ck_assert_ptr_ne(d, a);
	ck_assert_ptr_eq(d, pc_stats_series(&st, NULL, "BlackHoleCluster", NULL, "UH"));
	/* NULL (unknown) and a value are different keys; so are shifted field boundaries */
	ck_assert_ptr_ne(d, pc_stats_series(&st, "", "BlackHoleCluster", NULL, "UH"));
	ck_assert_ptr_ne(pc_stats_series(&st, "ab", "c", NULL, "-"),
			 pc_stats_series(&st, "a", "bc", NULL, "-"));
	x = pc_stats_cluster(&st, "outbound|1||h.example", "h.example", "ns");
	y = pc_stats_cluster(&st, "outbound|1||h.example", NULL, NULL);
	ck_assert_ptr_eq(x, y);
	ck_assert_str_eq(x->service, "h.example");
	pc_stats_release(&st);
}
END_TEST

/* Enough series to rehash several times: every one is still found, once. */
START_TEST(many_series_survive_rehash)
{
	struct pc_stats st;
	struct pc_stat_cluster **v = calloc(5000, sizeof(struct pc_stat_cluster *));
	struct pc_stats *one = &st;
	struct pc_stats_sum sum;
	char name[64];
	unsigned i;

	pc_stats_init(&st);
	for (i = 0; i < 5000; i++) {
		snprintf(name, sizeof(name), "outbound|%u||h%u.example", i % 65536, i);
		v[i] = pc_stats_cluster(&st, name, NULL, NULL);
		ck_assert_ptr_nonnull(v[i]);
		pc_counter_add(&v[i]->cx_total, i);
	}
	for (i = 0; i < 5000; i++) {
		snprintf(name, sizeof(name), "outbound|%u||h%u.example", i % 65536, i);
		ck_assert_ptr_eq(pc_stats_cluster(&st, name, NULL, NULL), v[i]);
	}
	ck_assert_int_eq(pc_stats_sum(&one, 1, &sum), 0);
	ck_assert_uint_eq(sum.nclusters, 5000);
	for (i = 1; i < sum.nclusters; i++)
		ck_assert_int_lt(strcmp(sum.clusters[i - 1].name, sum.clusters[i].name), 0);
	pc_stats_sum_release(&sum);
	pc_stats_release(&st);
	free(v);
}
END_TEST

/* Two workers count the same names: the sum adds them up, sorted. */
static void fill(struct pc_stats *st, uint64_t k)
{
	struct pc_stat_cluster *c =
		pc_stats_cluster(st, "outbound|3306||db.example", "db.example", "prod");
	struct pc_stat_cluster *bh = pc_stats_cluster(st, "BlackHoleCluster", NULL, NULL);
	struct pc_stat_series *s = pc_stats_series(st, "db.example", "db.example", "prod", "-");
	struct pc_stat_series *u = pc_stats_series(st, NULL, "BlackHoleCluster", NULL, "UH");

	pc_counter_add(&c->cx_total, 2 * k);
	pc_counter_add(&c->cx_active, k);
	pc_counter_add(&c->from_client, 100 * k);
	pc_counter_add(&c->to_client, 1000 * k);
	pc_counter_add(&c->connect_fail, 1);
	pc_counter_add(&s->opened, 2 * k);
	pc_counter_add(&s->closed, k);
	pc_counter_add(&s->received, 100 * k);
	pc_counter_add(&s->sent, 1000 * k);
	pc_counter_add(&u->opened, k);
	pc_counter_add(&u->closed, k);
	pc_counter_add(&st->downstream_total, 3 * k);
	pc_counter_add(&st->downstream_active, k);
	pc_counter_add(&st->downstream_active, (uint64_t)-1); /* a gauge goes down too */
	pc_counter_add(&st->denied, k);
	pc_counter_add(&st->accept_errors[PC_ACCEPT_EMFILE], 4 * k);
	pc_counter_add(&st->accept_errors[PC_ACCEPT_ENOBUFS], k);
	pc_counter_add(&st->upstream_socket_errors, 5 * k);
	pc_stats_request(st, c, 200, NULL, 5 * k, 20 * k, 500 * k);
	pc_stats_request(st, c, 200, "-", 7 * k, 20 * k, 500 * k);
	pc_stats_request(st, bh, 403, NULL, 0, 0, 0);
}

START_TEST(sum_across_workers)
{
	struct pc_stats a, b;
	struct pc_stats *v[2] = { &a, &b };
	struct pc_stats_sum sum;

	pc_stats_init(&a);
	pc_stats_init(&b);
	fill(&a, 1);
	fill(&b, 10);
	pc_stats_series(&b, "other.example", "other.example", "prod", "UO"); /* b only */
	ck_assert_int_eq(pc_stats_sum(v, 2, &sum), 0);
	ck_assert_uint_eq(sum.nclusters, 2);
	ck_assert_str_eq(sum.clusters[0].name, "BlackHoleCluster");
	ck_assert_str_eq(sum.clusters[1].name, "outbound|3306||db.example");
	ck_assert_uint_eq(sum.clusters[1].cx_total, 22);
	ck_assert_uint_eq(sum.clusters[1].cx_active, 11);
	ck_assert_uint_eq(sum.clusters[1].connect_fail, 2);
	ck_assert_uint_eq(sum.clusters[1].from_client, 1100);
	ck_assert_uint_eq(sum.clusters[1].to_client, 11000);
	ck_assert_uint_eq(sum.nseries, 3);
	/* sorted by service ("unknown" for NULL), name, namespace, flags */
	ck_assert_str_eq(sum.series[0].service, "db.example");
	ck_assert_uint_eq(sum.series[0].opened, 22);
	ck_assert_uint_eq(sum.series[0].closed, 11);
	ck_assert_uint_eq(sum.series[0].received, 1100);
	ck_assert_uint_eq(sum.series[0].sent, 11000);
	ck_assert_str_eq(sum.series[1].service, "other.example");
	ck_assert_ptr_null(sum.series[2].service);
	ck_assert_uint_eq(sum.series[2].opened, 11);
	ck_assert_uint_eq(sum.downstream_total, 33);
	ck_assert_uint_eq(sum.downstream_active, 9);
	ck_assert_uint_eq(sum.denied, 11);
	/* the listener's pauses and the upstream socket failures, every worker's */
	ck_assert_uint_eq(sum.accept_errors[PC_ACCEPT_EMFILE], 44);
	ck_assert_uint_eq(sum.accept_errors[PC_ACCEPT_ENFILE], 0);
	ck_assert_uint_eq(sum.accept_errors[PC_ACCEPT_ENOBUFS], 11);
	ck_assert_uint_eq(sum.upstream_socket_errors, 55);
	pc_stats_sum_release(&sum);
	pc_stats_release(&a);
	pc_stats_release(&b);
}
END_TEST

static char *render(bool json)
{
	struct pc_stats a;
	struct pc_stats *v = &a;
	struct pc_stats_sum sum;
	struct pc_buf out = PC_BUF_INIT;
	char *text;

	pc_stats_init(&a);
	fill(&a, 1);
	ck_assert_int_eq(pc_stats_sum(&v, 1, &sum), 0);
	if (json)
		pc_stats_json(&sum, &proc, &out);
	else
		pc_stats_prometheus(&sum, &labels, &proc, &out);
	ck_assert(!out.oom);
	text = strdup(pc_buf_str(&out));
	pc_buf_release(&out);
	pc_stats_sum_release(&sum);
	pc_stats_release(&a);
	return text;
}

START_TEST(prometheus_text)
{
	char *text = render(false), *line, *save = NULL, *prev = NULL;
	const char *want_series =
		"istio_tcp_sent_bytes_total{reporter=\"source\",source_workload=\"shop-1\","
		"source_canonical_service=\"shop\",source_canonical_revision=\"v2\","
		"source_workload_namespace=\"shop\",source_principal=\"unknown\","
		"source_app=\"shop\",source_version=\"v2\",source_cluster=\"unknown\","
		"destination_workload=\"unknown\",destination_workload_namespace=\"unknown\","
		"destination_principal=\"unknown\",destination_app=\"unknown\","
		"destination_version=\"unknown\",destination_service=\"db.example\","
		"destination_canonical_service=\"unknown\","
		"destination_canonical_revision=\"latest\","
		"destination_service_name=\"db.example\","
		"destination_service_namespace=\"prod\",destination_cluster=\"unknown\","
		"request_protocol=\"tcp\",response_flags=\"-\","
		"connection_security_policy=\"unknown\"} 1000\n";
	unsigned types = 0;

	ck_assert_ptr_nonnull(strstr(text, want_series));
	ck_assert_ptr_nonnull(strstr(text, "# HELP istio_tcp_connections_opened_total "));
	ck_assert_ptr_nonnull(strstr(text, "# TYPE istio_tcp_connections_opened_total counter\n"));
	ck_assert_ptr_nonnull(strstr(
		text,
		"envoy_cluster_upstream_cx_total{cluster_name=\"outbound|3306||db.example\"} 2\n"));
	ck_assert_ptr_nonnull(strstr(text, "# TYPE envoy_cluster_upstream_cx_active gauge\n"));
	ck_assert_ptr_nonnull(strstr(text, "envoy_cluster_upstream_cx_rx_bytes_total{cluster_name="
					   "\"outbound|3306||db.example\"} "
					   "1000\n"));
	ck_assert_ptr_nonnull(strstr(text, "envoy_cluster_upstream_cx_tx_bytes_total{cluster_name="
					   "\"outbound|3306||db.example\"} "
					   "100\n"));
	ck_assert_ptr_nonnull(strstr(text, "destination_service_name=\"BlackHoleCluster\""));
	ck_assert_ptr_nonnull(strstr(text, "\nenvoy_listener_downstream_cx_total 3\n"));
	ck_assert_ptr_nonnull(strstr(text, "\nportcullis_denied_connections_total 1\n"));
	/* every reason has its series, zero or not */
	ck_assert_ptr_nonnull(strstr(text,
				     "# TYPE portcullis_accept_errors_total counter\n"
				     "portcullis_accept_errors_total{reason=\"EMFILE\"} 4\n"
				     "portcullis_accept_errors_total{reason=\"ENFILE\"} 0\n"
				     "portcullis_accept_errors_total{reason=\"ENOBUFS\"} 1\n"
				     "portcullis_accept_errors_total{reason=\"ENOMEM\"} 0\n"));
	ck_assert_ptr_nonnull(strstr(text, "\nportcullis_upstream_socket_errors_total 5\n"));
	ck_assert_ptr_nonnull(strstr(text, "\nportcullis_policy_generation 3\n"));
	ck_assert_ptr_nonnull(strstr(text, "\nportcullis_heap_in_use_bytes 8192\n"));
	ck_assert_ptr_nonnull(strstr(text, "\nportcullis_reload_failures_total 1\n"));
	ck_assert_ptr_nonnull(strstr(text, "\nportcullis_uptime_seconds 1.500\n"));
	/* families in name order; every counter's name ends in _total */
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char name[128], type[16];

		if (sscanf(line, "# TYPE %127s %15s", name, type) != 2)
			continue;
		types++;
		if (prev)
			ck_assert_msg(strcmp(prev, name) < 0, "%s before %s", prev, name);
		if (strcmp(type, "counter") == 0)
			ck_assert_msg(strlen(name) > 6 &&
					      strcmp(name + strlen(name) - 6, "_total") == 0,
				      "counter %s", name);
		free(prev);
		prev = strdup(name);
	}
	ck_assert_uint_eq(types, 28);
	free(prev);
	free(text);
}
END_TEST

/* Requests: one series per (cluster, code, flags), histograms in Envoy's buckets. */
START_TEST(requests_series_and_buckets)
{
	struct pc_stats a, b;
	struct pc_stats *v[2] = { &a, &b };
	struct pc_stats_sum sum;
	struct pc_stat_cluster *ca, *cb, *bh;
	const struct pc_request_sum *r;
	unsigned i;

	pc_stats_init(&a);
	pc_stats_init(&b);
	ca = pc_stats_cluster(&a, "outbound|80||httpbin.example", "httpbin.example", "prod");
	cb = pc_stats_cluster(&b, "outbound|80||httpbin.example", "httpbin.example", "prod");
	bh = pc_stats_cluster(&a, "BlackHoleCluster", NULL, NULL);
	pc_stats_request(&a, ca, 200, NULL, 0, 0, 100);     /* le 0.5 */
	pc_stats_request(&a, ca, 200, "-", 1, 10, 1000);    /* le 1; same series */
	pc_stats_request(&b, cb, 200, "-", 7, 10, 1001);    /* le 10, other worker */
	pc_stats_request(&b, cb, 200, "-", 4000000, 0, 0);  /* above every bound */
	pc_stats_request(&a, ca, 503, "UF,URX", 30, 0, 91); /* le 50 */
	pc_stats_request(&a, bh, 403, NULL, 0, 0, 0);
	pc_stats_request(&a, NULL, 200, NULL, 1, 1, 1); /* stats off: nothing */
	ck_assert_uint_eq(a.rindex.n, 3);
	ck_assert_uint_eq(b.rindex.n, 1);
	ck_assert_int_eq(pc_stats_sum(v, 2, &sum), 0);
	ck_assert_uint_eq(sum.nrequests, 3);
	/* sorted by service ("unknown" last here), name, namespace, code */
	r = &sum.requests[0];
	ck_assert_str_eq(r->service, "httpbin.example");
	ck_assert_str_eq(r->service_name, "httpbin.example");
	ck_assert_str_eq(r->service_ns, "prod");
	ck_assert_uint_eq(r->code, 200);
	ck_assert_str_eq(r->flags, "-");
	ck_assert_uint_eq(r->duration.count, 4);
	ck_assert_uint_eq(r->duration.sum, 4000008);
	ck_assert_uint_eq(r->duration.bucket[0], 1);
	ck_assert_uint_eq(r->duration.bucket[1], 1);
	ck_assert_uint_eq(r->duration.bucket[2], 0);
	ck_assert_uint_eq(r->duration.bucket[3], 1);
	ck_assert_uint_eq(r->duration.bucket[PC_STATS_NBUCKETS], 1);
	ck_assert_uint_eq(r->req_bytes.sum, 20);
	ck_assert_uint_eq(r->resp_bytes.sum, 2101);
	ck_assert_uint_eq(r->resp_bytes.bucket[9], 1);  /* 1000 <= 1000 */
	ck_assert_uint_eq(r->resp_bytes.bucket[10], 1); /* 1001 <= 2500 */
	r = &sum.requests[1];
	ck_assert_uint_eq(r->code, 503);
	ck_assert_str_eq(r->flags, "UF,URX");
	ck_assert_uint_eq(r->duration.bucket[5], 1);
	r = &sum.requests[2];
	ck_assert_ptr_null(r->service);
	ck_assert_str_eq(r->service_name, "BlackHoleCluster");
	ck_assert_uint_eq(r->code, 403);
	for (i = 1; i < PC_STATS_NBUCKETS; i++)
		ck_assert(pc_stats_buckets[i - 1] < pc_stats_buckets[i]);
	pc_stats_sum_release(&sum);
	pc_stats_release(&a);
	pc_stats_release(&b);
}
END_TEST

START_TEST(requests_prometheus_text)
{
	struct pc_stats a;
	struct pc_stats *v = &a;
	struct pc_stats_sum sum;
	struct pc_buf out = PC_BUF_INIT;
	struct pc_stat_cluster *c;
	const char *text, *p;
	const char *labels_200 =
		"{reporter=\"source\",source_workload=\"shop-1\","
		"source_canonical_service=\"shop\",source_canonical_revision=\"v2\","
		"source_workload_namespace=\"shop\",source_principal=\"unknown\","
		"source_app=\"shop\",source_version=\"v2\",source_cluster=\"unknown\","
		"destination_workload=\"unknown\",destination_workload_namespace=\"unknown\","
		"destination_principal=\"unknown\",destination_app=\"unknown\","
		"destination_version=\"unknown\",destination_service=\"httpbin.example\","
		"destination_canonical_service=\"unknown\","
		"destination_canonical_revision=\"latest\","
		"destination_service_name=\"httpbin.example\","
		"destination_service_namespace=\"prod\",destination_cluster=\"unknown\","
		"request_protocol=\"http\",response_code=\"200\",grpc_response_status=\"\","
		"response_flags=\"-\",connection_security_policy=\"unknown\"";
	char want[4096];
	static const char *const le[] = { "0.5",    "1",      "5",       "10",      "25",
					  "50",     "100",    "250",     "500",     "1000",
					  "2500",   "5000",   "10000",   "30000",   "60000",
					  "300000", "600000", "1800000", "3600000", "+Inf" };
	static const unsigned cum[] = {
		1, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 4
	};
	unsigned i;

	pc_stats_init(&a);
	c = pc_stats_cluster(&a, "outbound|80||httpbin.example", "httpbin.example", "prod");
	pc_stats_request(&a, c, 200, NULL, 0, 5, 100);
	pc_stats_request(&a, c, 200, NULL, 1, 5, 100);
	pc_stats_request(&a, c, 200, NULL, 10, 5, 100);
	pc_stats_request(&a, c, 200, NULL, 3600001, 5, 100);
	ck_assert_int_eq(pc_stats_sum(&v, 1, &sum), 0);
	pc_stats_prometheus(&sum, &labels, &proc, &out);
	ck_assert(!out.oom);
	text = pc_buf_str(&out);
	ck_assert_ptr_nonnull(strstr(text, "# TYPE istio_requests_total counter\n"));
	ck_assert_ptr_nonnull(
		strstr(text, "# TYPE istio_request_duration_milliseconds histogram\n"));
	ck_assert_ptr_nonnull(strstr(text, "# TYPE istio_request_bytes histogram\n"));
	ck_assert_ptr_nonnull(strstr(text, "# TYPE istio_response_bytes histogram\n"));
	snprintf(want, sizeof(want), "\nistio_requests_total%s} 4\n", labels_200);
	ck_assert_ptr_nonnull(strstr(text, want));
	/* every bucket, cumulative and in order, then the sum and the count */
	snprintf(want, sizeof(want),
		 "\nistio_request_duration_milliseconds_bucket%s,le=\"0.5\"} 1\n", labels_200);
	p = strstr(text, want);
	ck_assert_ptr_nonnull(p);
	p++;
	for (i = 0; i < 20; i++) {
		snprintf(want, sizeof(want),
			 "istio_request_duration_milliseconds_bucket%s,le=\"%s\"} %u\n", labels_200,
			 le[i], cum[i]);
		ck_assert_msg(strncmp(p, want, strlen(want)) == 0, "bucket %s", le[i]);
		p += strlen(want);
	}
	snprintf(want, sizeof(want),
		 "istio_request_duration_milliseconds_sum%s} 3600012\n"
		 "istio_request_duration_milliseconds_count%s} 4\n",
		 labels_200, labels_200);
	ck_assert_str_eq(strncmp(p, want, strlen(want)) == 0 ? want : p, want);
	snprintf(want, sizeof(want), "istio_request_bytes_sum%s} 20\n", labels_200);
	ck_assert_ptr_nonnull(strstr(text, want));
	snprintf(want, sizeof(want), "istio_response_bytes_bucket%s,le=\"100\"} 4\n", labels_200);
	ck_assert_ptr_nonnull(strstr(text, want));
	snprintf(want, sizeof(want), "istio_response_bytes_bucket%s,le=\"50\"} 0\n", labels_200);
	ck_assert_ptr_nonnull(strstr(text, want));
	pc_buf_release(&out);
	pc_stats_sum_release(&sum);
	pc_stats_release(&a);
}
END_TEST

START_TEST(label_values_are_escaped)
{
	struct pc_buf b = PC_BUF_INIT;

	pc_prom_escape(&b, "a\"b\\c\nd");
	ck_assert_str_eq(pc_buf_str(&b), "a\\\"b\\\\c\\nd");
	pc_buf_release(&b);
}
END_TEST

START_TEST(json_form)
{
	char *text = render(true);

	ck_assert_ptr_nonnull(strstr(text, "{\"uptime_seconds\":1.500,\"policy_generation\":3,"));
	ck_assert_ptr_nonnull(strstr(text, "\"listener\":{\"downstream_cx_total\":3,"
					   "\"downstream_cx_active\":0,\"denied\":1,"
					   "\"revoked\":0,\"accept_errors\":{\"EMFILE\":4,"
					   "\"ENFILE\":0,\"ENOBUFS\":1,\"ENOMEM\":0},"
					   "\"upstream_socket_errors\":5}"));
	ck_assert_ptr_nonnull(strstr(text, "{\"name\":\"BlackHoleCluster\",\"service\":null,"
					   "\"namespace\":null,"));
	ck_assert_ptr_nonnull(strstr(text, "{\"name\":\"outbound|3306||db.example\","
					   "\"service\":\"db.example\",\"namespace\":\"prod\","
					   "\"upstream_cx_total\":2,\"upstream_cx_active\":1,"
					   "\"upstream_cx_connect_fail\":1,"
					   "\"upstream_cx_connect_timeout\":0,"
					   "\"upstream_cx_overflow\":0,\"rx_bytes\":100,"
					   "\"tx_bytes\":1000}"));
	ck_assert_ptr_nonnull(strstr(text,
				     "],\"requests\":[{\"service\":\"db.example\","
				     "\"service_name\":\"db.example\",\"namespace\":\"prod\","
				     "\"response_code\":200,\"response_flags\":\"-\","
				     "\"requests\":2,\"duration_ms_sum\":12,"
				     "\"request_bytes\":40,\"response_bytes\":1000},"
				     "{\"service\":null,\"service_name\":\"BlackHoleCluster\","
				     "\"namespace\":null,\"response_code\":403,"
				     "\"response_flags\":\"-\",\"requests\":1,"
				     "\"duration_ms_sum\":0,\"request_bytes\":0,"
				     "\"response_bytes\":0}]}"));
	free(text);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("proxy.stats");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, same_key_same_series);
	tcase_add_test(tc, many_series_survive_rehash);
	tcase_add_test(tc, sum_across_workers);
	tcase_add_test(tc, prometheus_text);
	tcase_add_test(tc, requests_series_and_buckets);
	tcase_add_test(tc, requests_prometheus_text);
	tcase_add_test(tc, label_values_are_escaped);
	tcase_add_test(tc, json_form);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
