/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * proxy/accesslog.c - access log records.
 *
 * Text, as Istio's default format renders a TCP connection:
 *   [START] "- - -" 0 FLAGS - DETAILS "-" RX TX DURATION - "-" "-" "-" "-"
 *   "UPSTREAM_HOST" CLUSTER UPSTREAM_LOCAL ORIGINAL_DST CLIENT SERVER_NAME -
 * and an HTTP request:
 *   [START] "METHOD PATH PROTOCOL" CODE FLAGS CODE_DETAILS DETAILS "-" RX TX
 *   DURATION - "X-FORWARDED-FOR" "USER-AGENT" "X-REQUEST-ID" "AUTHORITY"
 *   "UPSTREAM_HOST" CLUSTER UPSTREAM_LOCAL ORIGINAL_DST CLIENT SERVER_NAME ROUTE
 * %UPSTREAM_TRANSPORT_FAILURE_REASON% and %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%
 * are always "-": no upstream TLS, and no header added to responses.
 */
#include "proxy/accesslog.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static void iso_time(uint64_t ms, char *buf, size_t size)
{
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&secs, &tm);
	snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned)(ms % 1000));
}

static const char *addr_or_dash(const struct pc_addr *a, char *buf)
{
	if (!a || !a->family)
		return "-";
	return pc_addr_port_str(a, buf);
}

enum esc_mode {
	ESC_QUOTED, /* inside "..." of the text format: a space stays */
	ESC_BARE,   /* a text field between spaces: a space is escaped too */
	ESC_JSON,   /* inside a JSON string: the text form with its backslashes doubled */
};

/*
 * Escape <s> into <dst> (<max> + 1 bytes): printable ASCII but '"' and
 * '\' as is, every other byte as \xHH. An output longer than <max> is cut
 * at an escape boundary and ends in "...". NULL and "" give "-" in the text
 * modes (so that no field is ever empty) and NULL in JSON mode.
 */
static const char *esc(char *dst, size_t max, const char *s, enum esc_mode m)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = 0, cut = 0, w, i;
	char e[6];

	if (!s || (!*s && m != ESC_JSON))
		return m == ESC_JSON ? NULL : "-";
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c > ' ' && c < 0x7f && c != '"' && c != '\\') || (c == ' ' && m != ESC_BARE)) {
			e[0] = (char)c;
			w = 1;
		} else {
			w = 0;
			e[w++] = '\\';
			if (m == ESC_JSON)
				e[w++] = '\\';
			e[w++] = 'x';
			e[w++] = hex[c >> 4];
			e[w++] = hex[c & 15];
		}
		if (n + w > max) {
			n = cut;
			for (i = 0; i < 3; i++)
				dst[n++] = '.';
			break;
		}
		for (i = 0; i < w; i++)
			dst[n++] = e[i];
		if (n + 3 <= max)
			cut = n;
	}
	dst[n] = '\0';
	return dst;
}

/* A record being built: <len> counts what did not fit too, as snprintf does. */
struct line {
	char *buf;
	size_t size, len;
};

static void __attribute__((format(printf, 2, 3))) add(struct line *l, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(l->buf + (l->len < l->size ? l->len : l->size - 1),
		      l->len < l->size ? l->size - l->len : 1, fmt, ap);
	va_end(ap);
	if (n > 0)
		l->len += (size_t)n;
}

/* A JSON member "key":"value" (or null), <v> already escaped for JSON. */
static void json_str(struct line *l, const char *key, const char *v)
{
	if (v)
		add(l, ",\"%s\":\"%s\"", key, v);
	else
		add(l, ",\"%s\":null", key);
}

/* The fields every record has, formatted once for both layouts. */
struct common {
	char start[40], up[PC_ADDR_STRLEN], upl[PC_ADDR_STRLEN], od[PC_ADDR_STRLEN],
		cl[PC_ADDR_STRLEN];
	char sni[PC_ACCESS_FIELD_MAX + 1];
	const char *sni_s, *up_s, *upl_s, *od_s, *cl_s;
};

static void text_tail(struct line *l, const struct pc_access_record *r, const struct common *c,
		      const char *route)
{
	add(l, "\"%s\" %s %s %s %s %s %s\n", c->up_s, r->cluster, c->upl_s, c->od_s, c->cl_s,
	    c->sni_s, route);
}

static void text_tcp(struct line *l, const struct pc_access_record *r, const struct common *c)
{
	add(l,
	    "[%s] \"- - -\" 0 %s - %s \"-\" %" PRIu64 " %" PRIu64 " %" PRIu64
	    " - \"-\" \"-\" \"-\" \"-\" ",
	    c->start, r->flags, r->termination ? r->termination : "-", r->bytes_received,
	    r->bytes_sent, r->duration_ms);
	text_tail(l, r, c, "-");
}

static void text_http(struct line *l, const struct pc_access_record *r, const struct common *c)
{
	const struct pc_access_http *h = r->http;
	char method[PC_ACCESS_SHORT_MAX + 1], path[PC_ACCESS_PATH_MAX + 1],
		proto[PC_ACCESS_SHORT_MAX + 1], details[PC_ACCESS_SHORT_MAX + 1],
		xff[PC_ACCESS_FIELD_MAX + 1], ua[PC_ACCESS_FIELD_MAX + 1],
		rid[PC_ACCESS_SHORT_MAX + 1], auth[PC_ACCESS_FIELD_MAX + 1],
		route[PC_ACCESS_SHORT_MAX + 1];

	add(l,
	    "[%s] \"%s %s %s\" %u %s %s %s \"-\" %" PRIu64 " %" PRIu64 " %" PRIu64
	    " - \"%s\" \"%s\" \"%s\" \"%s\" ",
	    c->start, esc(method, sizeof(method) - 1, h->method, ESC_BARE),
	    esc(path, sizeof(path) - 1, h->path, ESC_BARE),
	    esc(proto, sizeof(proto) - 1, h->protocol ? h->protocol : "HTTP/1.1", ESC_BARE),
	    h->response_code, r->flags,
	    esc(details, sizeof(details) - 1, h->response_code_details, ESC_BARE),
	    r->termination ? r->termination : "-", r->bytes_received, r->bytes_sent, r->duration_ms,
	    esc(xff, sizeof(xff) - 1, h->forwarded_for, ESC_QUOTED),
	    esc(ua, sizeof(ua) - 1, h->user_agent, ESC_QUOTED),
	    esc(rid, sizeof(rid) - 1, h->request_id, ESC_QUOTED),
	    esc(auth, sizeof(auth) - 1, h->authority, ESC_QUOTED));
	text_tail(l, r, c, esc(route, sizeof(route) - 1, h->route_name, ESC_BARE));
}

/* Istio's JSON keys, in the order of its EnvoyJSONLogFormatIstio, then Envoy's two. */
static void json_http(struct line *l, const struct pc_access_record *r, const struct common *c)
{
	const struct pc_access_http *h = r->http;
	char v[PC_ACCESS_PATH_MAX + 1];

	add(l, "{\"start_time\":\"%s\"", c->start);
	json_str(l, "route_name", esc(v, PC_ACCESS_SHORT_MAX, h->route_name, ESC_JSON));
	json_str(l, "method", esc(v, PC_ACCESS_SHORT_MAX, h->method, ESC_JSON));
	json_str(l, "path", esc(v, PC_ACCESS_PATH_MAX, h->path, ESC_JSON));
	json_str(l, "protocol",
		 esc(v, PC_ACCESS_SHORT_MAX, h->protocol ? h->protocol : "HTTP/1.1", ESC_JSON));
	add(l, ",\"response_code\":%u,\"response_flags\":\"%s\"", h->response_code, r->flags);
	json_str(l, "response_code_details",
		 esc(v, PC_ACCESS_SHORT_MAX, h->response_code_details, ESC_JSON));
	json_str(l, "connection_termination_details", r->termination);
	add(l,
	    ",\"bytes_received\":%" PRIu64 ",\"bytes_sent\":%" PRIu64 ",\"duration\":%" PRIu64
	    ",\"upstream_service_time\":null",
	    r->bytes_received, r->bytes_sent, r->duration_ms);
	json_str(l, "x_forwarded_for", esc(v, PC_ACCESS_FIELD_MAX, h->forwarded_for, ESC_JSON));
	json_str(l, "user_agent", esc(v, PC_ACCESS_FIELD_MAX, h->user_agent, ESC_JSON));
	json_str(l, "request_id", esc(v, PC_ACCESS_SHORT_MAX, h->request_id, ESC_JSON));
	json_str(l, "authority", esc(v, PC_ACCESS_FIELD_MAX, h->authority, ESC_JSON));
	add(l,
	    ",\"upstream_host\":\"%s\",\"upstream_cluster\":\"%s\","
	    "\"upstream_local_address\":\"%s\",\"downstream_local_address\":\"%s\","
	    "\"downstream_remote_address\":\"%s\"",
	    c->up_s, r->cluster, c->upl_s, c->od_s, c->cl_s);
	json_str(l, "requested_server_name", esc(v, PC_ACCESS_FIELD_MAX, r->server_name, ESC_JSON));
	add(l,
	    ",\"upstream_transport_failure_reason\":null,\"access_log_type\":\"%s\","
	    "\"connection_id\":%" PRIu64 "}\n",
	    r->type ? r->type : PC_ACCESS_HTTP_END, r->id);
}

static void json_tcp(struct line *l, const struct pc_access_record *r, const struct common *c)
{
	char sni[PC_ACCESS_FIELD_MAX + 1];

	add(l, "{\"start_time\":\"%s\",\"response_flags\":\"%s\"", c->start, r->flags);
	json_str(l, "connection_termination_details", r->termination);
	add(l,
	    ",\"bytes_received\":%" PRIu64 ",\"bytes_sent\":%" PRIu64 ",\"duration\":%" PRIu64
	    ",\"upstream_host\":\"%s\",\"upstream_cluster\":\"%s\","
	    "\"upstream_local_address\":\"%s\",\"downstream_local_address\":\"%s\","
	    "\"downstream_remote_address\":\"%s\"",
	    r->bytes_received, r->bytes_sent, r->duration_ms, c->up_s, r->cluster, c->upl_s,
	    c->od_s, c->cl_s);
	json_str(l, "requested_server_name", esc(sni, sizeof(sni) - 1, r->server_name, ESC_JSON));
	add(l, ",\"protocol\":null,\"access_log_type\":\"%s\",\"connection_id\":%" PRIu64 "}\n",
	    r->type ? r->type : PC_ACCESS_END, r->id);
}

size_t pc_access_format(const struct pc_access_record *r, enum pc_log_format fmt, char *buf,
			size_t size)
{
	struct line l = { buf, size, 0 };
	struct common c;

	iso_time(r->start_ms, c.start, sizeof(c.start));
	c.up_s = addr_or_dash(r->upstream, c.up);
	c.upl_s = addr_or_dash(r->upstream_local, c.upl);
	c.od_s = addr_or_dash(r->original_dst, c.od);
	c.cl_s = addr_or_dash(r->client, c.cl);
	c.sni_s = esc(c.sni, sizeof(c.sni) - 1, r->server_name, ESC_BARE);
	if (fmt == PC_LOG_JSON)
		r->http ? json_http(&l, r, &c) : json_tcp(&l, r, &c);
	else
		r->http ? text_http(&l, r, &c) : text_tcp(&l, r, &c);
	if (l.len >= size) {
		buf[size - 2] = '\n';
		buf[size - 1] = '\0';
		return size - 1;
	}
	return l.len;
}

void pc_access_write(int fd, const struct pc_access_record *r, enum pc_log_format fmt)
{
	char buf[PC_ACCESS_LINE_MAX + 1];
	size_t n;
	ssize_t w;

	if (fd < 0)
		return;
	n = pc_access_format(r, fmt, buf, sizeof(buf));
	do {
		w = write(fd, buf, n);
	} while (w == -1 && errno == EINTR);
}
