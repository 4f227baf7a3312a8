/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dns/stats.c - the DNS proxy's counters and their Prometheus text.
 *
 * Written by the DNS thread only, with relaxed atomics, so any thread
 * reads them without a lock; a copy is not a snapshot of one instant
 * (a histogram's count may be one ahead of its sum), which Prometheus
 * tolerates. The buckets are those of proxy/stats.c's request durations
 * in seconds, from 0.5 ms: a registry answer takes microseconds, a
 * forwarded one what the upstream takes.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "core/buf.h"
#include "dns/proxy-int.h"

const double pc_dns_buckets[PC_DNS_NBUCKETS] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
						 0.1,    0.25,  0.5,    1,     2.5,  5 };

#define GET(field) atomic_load_explicit(&p->c.field, memory_order_relaxed)

void dns_record_latency(struct pc_dns_proxy *p, uint64_t us)
{
	size_t i = 0;

	while (i < PC_DNS_NBUCKETS && (double)us > pc_dns_buckets[i] * 1e6)
		i++;
	if (i < PC_DNS_NBUCKETS)
		atomic_fetch_add_explicit(&p->c.bucket[i], 1, memory_order_relaxed);
	else
		DNS_INC(p, over);
	atomic_fetch_add_explicit(&p->c.sum_us, us, memory_order_relaxed);
}

void pc_dns_proxy_stats(const struct pc_dns_proxy *p, struct pc_dns_stats *out)
{
	size_t i;

	memset(out, 0, sizeof(*out));
	if (!p)
		return;
	out->queries_udp = GET(queries_udp);
	out->queries_tcp = GET(queries_tcp);
	out->registry = GET(registry);
	out->forwarded = GET(forwarded);
	out->policy_nxdomain = GET(policy_nxdomain);
	out->servfail = GET(servfail);
	out->upstream_timeouts = GET(upstream_timeouts);
	out->upstream_errors = GET(upstream_errors);
	out->upstream_mismatch = GET(upstream_mismatch);
	out->truncation_retries = GET(truncation_retries);
	out->malformed = GET(malformed);
	out->overload = GET(overload);
	out->over = GET(over);
	out->sum_us = GET(sum_us);
	for (i = 0; i < PC_DNS_NBUCKETS; i++)
		out->bucket[i] = GET(bucket[i]);
}

static void family(struct pc_buf *b, const char *name, const char *type, const char *help)
{
	pc_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void counter(struct pc_buf *b, const char *name, const char *help, uint64_t v)
{
	family(b, name, "counter", help);
	pc_buf_printf(b, "%s %" PRIu64 "\n", name, v);
}

static void histogram(struct pc_buf *b, const struct pc_dns_stats *s)
{
	const char *name = "portcullis_dns_request_duration_seconds";
	uint64_t cum = 0;
	size_t i;

	family(b, name, "histogram", "Time from a DNS query's arrival to its reply, in seconds.");
	for (i = 0; i < PC_DNS_NBUCKETS; i++) {
		cum += s->bucket[i];
		pc_buf_printf(b, "%s_bucket{le=\"%g\"} %" PRIu64 "\n", name, pc_dns_buckets[i],
			      cum);
	}
	cum += s->over;
	pc_buf_printf(b, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, cum);
	pc_buf_printf(b, "%s_sum %.6f\n", name, (double)s->sum_us / 1e6);
	pc_buf_printf(b, "%s_count %" PRIu64 "\n", name, cum);
}

int pc_dns_stats_render(const struct pc_dns_stats *s, struct pc_buf *b)
{
	const char *q = "portcullis_dns_queries_total", *a = "portcullis_dns_answers_total",
		   *f = "portcullis_dns_upstream_failures_total";

	family(b, q, "counter", "DNS queries received, by transport.");
	pc_buf_printf(b, "%s{transport=\"udp\"} %" PRIu64 "\n", q, s->queries_udp);
	pc_buf_printf(b, "%s{transport=\"tcp\"} %" PRIu64 "\n", q, s->queries_tcp);
	family(b, a, "counter",
	       "DNS replies given, by source: the registry, an upstream resolver, "
	       "NXDOMAIN by --dns-policy registry-only, or SERVFAIL.");
	pc_buf_printf(b, "%s{source=\"registry\"} %" PRIu64 "\n", a, s->registry);
	pc_buf_printf(b, "%s{source=\"forwarded\"} %" PRIu64 "\n", a, s->forwarded);
	pc_buf_printf(b, "%s{source=\"policy_nxdomain\"} %" PRIu64 "\n", a, s->policy_nxdomain);
	pc_buf_printf(b, "%s{source=\"servfail\"} %" PRIu64 "\n", a, s->servfail);
	family(b, f, "counter",
	       "Tries of an upstream resolver that failed: no answer in time, an error, or "
	       "a datagram that did not match the query (dropped).");
	pc_buf_printf(b, "%s{reason=\"timeout\"} %" PRIu64 "\n", f, s->upstream_timeouts);
	pc_buf_printf(b, "%s{reason=\"error\"} %" PRIu64 "\n", f, s->upstream_errors);
	pc_buf_printf(b, "%s{reason=\"mismatch\"} %" PRIu64 "\n", f, s->upstream_mismatch);
	counter(b, "portcullis_dns_truncation_retries_total",
		"Truncated UDP answers asked again over TCP.", s->truncation_retries);
	counter(b, "portcullis_dns_malformed_total",
		"DNS queries dropped or answered FORMERR, NOTIMP or BADVERS.", s->malformed);
	counter(b, "portcullis_dns_overload_total",
		"DNS queries or TCP clients refused past the proxy's caps.", s->overload);
	histogram(b, s);
	return b->oom ? -ENOMEM : 0;
}
