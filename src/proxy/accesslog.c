/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * proxy/accesslog.c - access log records.
 *
 * Text, as Istio's default format renders a TCP connection:
 *   [START] "- - -" 0 FLAGS - DETAILS "-" RX TX DURATION - "-" "-" "-" "-"
 *   "UPSTREAM_HOST" CLUSTER UPSTREAM_LOCAL ORIGINAL_DST CLIENT - -
 */
#include "proxy/accesslog.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static void iso_time(uint64_t ms, char *buf, size_t size)
{
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&secs, &tm);
	snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 (unsigned)(ms % 1000));
}

static const char *addr_or_dash(const struct pc_addr *a, char *buf)
{
	if (!a || !a->family)
		return "-";
	return pc_addr_port_str(a, buf);
}

size_t pc_access_format(const struct pc_access_record *r, enum pc_log_format fmt, char *buf,
			size_t size)
{
	char start[40], up[PC_ADDR_STRLEN], upl[PC_ADDR_STRLEN], od[PC_ADDR_STRLEN],
		cl[PC_ADDR_STRLEN];
	int n;

	iso_time(r->start_ms, start, sizeof(start));
	addr_or_dash(r->upstream, up);
	addr_or_dash(r->upstream_local, upl);
	addr_or_dash(r->original_dst, od);
	addr_or_dash(r->client, cl);
	if (fmt == PC_LOG_JSON)
		n = snprintf(buf, size,
			     "{\"start_time\":\"%s\",\"response_flags\":\"%s\","
			     "\"connection_termination_details\":%s%s%s,"
			     "\"bytes_received\":%" PRIu64 ",\"bytes_sent\":%" PRIu64
			     ",\"duration\":%" PRIu64 ",\"upstream_host\":\"%s\","
			     "\"upstream_cluster\":\"%s\",\"upstream_local_address\":\"%s\","
			     "\"downstream_local_address\":\"%s\","
			     "\"downstream_remote_address\":\"%s\",\"protocol\":null,"
			     "\"access_log_type\":\"%s\",\"connection_id\":%" PRIu64 "}\n",
			     start, r->flags, r->termination ? "\"" : "",
			     r->termination ? r->termination : "null", r->termination ? "\"" : "",
			     r->bytes_received, r->bytes_sent, r->duration_ms,
			     r->upstream ? up : "-", r->cluster, r->upstream_local ? upl : "-", od,
			     cl, r->type ? r->type : PC_ACCESS_END, r->id);
	else
		n = snprintf(buf, size,
			     "[%s] \"- - -\" 0 %s - %s \"-\" %" PRIu64 " %" PRIu64 " %" PRIu64
			     " - \"-\" \"-\" \"-\" \"-\" \"%s\" %s %s %s %s - -\n",
			     start, r->flags, r->termination ? r->termination : "-",
			     r->bytes_received, r->bytes_sent, r->duration_ms,
			     r->upstream ? up : "-", r->cluster, r->upstream_local ? upl : "-", od,
			     cl);
	if (n < 0)
		return 0;
	if ((size_t)n >= size) {
		buf[size - 2] = '\n';
		return size - 1;
	}
	return (size_t)n;
}

void pc_access_write(int fd, const struct pc_access_record *r, enum pc_log_format fmt)
{
	char buf[1024];
	size_t n;
	ssize_t w;

	if (fd < 0)
		return;
	n = pc_access_format(r, fmt, buf, sizeof(buf));
	do {
		w = write(fd, buf, n);
	} while (w == -1 && errno == EINTR);
}
