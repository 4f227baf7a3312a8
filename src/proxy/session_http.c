/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * proxy/session_http.c - the relay of a connection on an HTTP port,
 * request by request, as Istio's HTTP connection manager routes each
 * request by its Host (reference §5.2; issue 11 point 3).
 *
 * The session's flows splice bytes they never look at; here both
 * directions go through user-space buffers and the HTTP/1 filter
 * (proxy/h1.h). Client bytes are read into <in> and fed to the filter,
 * which holds each request head until it is complete; decide() then
 * matches the head's Host against the worker's current policy, exactly as
 * the first request was at the preread. Only what the filter released is
 * written upstream, so a refused request never reaches the upstream, not
 * one byte of it. Upstream bytes are read into <out>, fed to the filter's
 * response side (which request they answer, the status, the end) and
 * written to the client as they are; each completed response writes the
 * request's access-log record and its istio_requests_total sample.
 *
 * A refused request (no ServiceEntry admits its Host: 403; malformed or
 * smuggling-shaped: 400 or 431; HTTP/2 by Upgrade: 403; allowed but served
 * by another upstream than this connection's: 421) stops the reading of
 * the client. Its answer is written once the responses to the requests
 * already forwarded are out (so it never lands in the middle of one), by
 * the session's DENYING stage (pc_sess_deny_late()), which also closes.
 *
 * After a CONNECT answered 2xx or an Upgrade answered 101, the connection
 * is a tunnel: once the buffers are empty this state is freed and the
 * session's flows take over (splice again).
 *
 * Memory: one struct pc_http per HTTP connection (about 42 KB: the
 * filter's copy of a head, two 16 KB buffers), allocated when the relay
 * starts, and one small record per request awaiting its response
 * (PC_H1_PIPELINE_MAX at most).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"
#include "proxy/accesslog.h"
#include "proxy/h1.h"
#include "proxy/session-int.h"
#include "proxy/worker.h"

#define HTTP_BUF 16384u

/* One request allowed and forwarded, until its response is complete. */
struct req {
	struct req *next;
	uint64_t start_mono, start_wall;
	uint64_t off, end;            /* its bytes in the request stream ([off, end); end 0: open) */
	struct pc_stat_cluster *sc;   /* its cluster's counters (live as long as the worker) */
	char *cluster;                /* its cluster's name */
	const char *method;           /* static */
	unsigned http_minor;
	char authority[PC_SNIFF_NAME_MAX + 8];
	char path[256];
};

struct pc_http {
	struct pc_h1 h1;
	struct req *head, *tail;      /* allowed requests awaiting their response, oldest first */
	uint64_t in_base;             /* the request-stream offset of in[0] */
	size_t in_len;
	uint64_t sent;                /* request-stream bytes written upstream */
	size_t out_off, out_len;      /* out[out_off..out_len) is still to be written to the client */
	bool down_eof, up_eof;        /* a FIN came from the client, the upstream */
	bool up_shut, down_shut;      /* we sent our FIN upstream, to the client */
	bool hold;                    /* PC_H1_FULL / PC_H1_SWITCHING: do not read the client */
	bool refuse;                  /* a request is refused: answer once nothing is pending */
	bool resp_bad;                /* a response we cannot parse: flush, then close */
	bool malformed;               /* the refusal is for bytes the filter rejected (400, h2c) */
	bool tunnel;                  /* CONNECT or Upgrade succeeded */
	char refused[PC_SNIFF_NAME_MAX + 8]; /* the Host refused, for the answer and the log */
	uint8_t in[HTTP_BUF];
	uint8_t out[HTTP_BUF];
};

bool pc_sess_http_wanted(const struct pc_session *s)
{
	return s->cluster && s->cluster->http && s->transport == PC_TRANSPORT_HTTP;
}

int pc_sess_http_start(struct pc_session *s)
{
	struct pc_http *x = pc_calloc(1, sizeof(*x));

	if (!x)
		return -ENOMEM;
	pc_h1_init(&x->h1);
	s->http = x;
	return 0;
}

uint64_t pc_sess_http_rx(const struct pc_session *s)
{
	return pc_counter_get(&s->http_rx);
}

uint64_t pc_sess_http_tx(const struct pc_session *s)
{
	return pc_counter_get(&s->http_tx);
}

/* -- per-request records ------------------------------------------------------- */

/* The request-target for the log, cut to <cap> - 1 bytes (the log cuts it further). */
static void path_copy(char *out, size_t cap, const char *target)
{
	size_t n = strnlen(target, cap - 1);

	memcpy(out, target, n);
	out[n] = '\0';
}

static void req_free(struct req *r)
{
	free(r->cluster);
	free(r);
}

/* The access-log record and the metrics of request <r>, answered <code>. */
static void req_log(struct pc_session *s, const struct req *r, unsigned code, const char *flags,
		    const char *details, uint64_t resp_bytes, uint64_t req_bytes)
{
	struct pc_worker *w = s->w;
	struct pc_access_http h = { 0 };
	struct pc_access_record a = { 0 };
	uint64_t dur = pc_loop_now(w->loop) - r->start_mono;

	h.method = r->method;
	h.path = r->path;
	h.protocol = r->http_minor ? "HTTP/1.1" : "HTTP/1.0";
	h.response_code = code;
	h.response_code_details = details;
	h.authority = r->authority[0] ? r->authority : NULL;
	a.type = NULL;
	a.id = s->id;
	a.start_ms = r->start_wall;
	a.duration_ms = dur;
	a.flags = flags ? flags : "-";
	a.bytes_received = req_bytes;
	a.bytes_sent = resp_bytes;
	a.cluster = r->cluster ? r->cluster : "-";
	a.upstream = s->upstream.family ? &s->upstream : NULL;
	a.upstream_local = s->upstream_local.family ? &s->upstream_local : NULL;
	a.original_dst = &s->orig_dst;
	a.client = &s->client;
	a.http = &h;
	pc_access_write(w->cfg->access_log_fd, &a, w->cfg->access_format);
	pc_stats_request(&w->stats, r->sc, code, flags, dur, req_bytes, resp_bytes);
}

static uint64_t req_bytes(const struct pc_http *x, const struct req *r)
{
	uint64_t end = r->end ? r->end : pc_h1_released(&x->h1);

	return end > r->off ? end - r->off : 0;
}

/* The response to the oldest pending request is complete. */
static void req_done(struct pc_session *s, struct pc_http *x)
{
	struct req *r = x->head;

	if (!r)
		return;
	req_log(s, r, x->h1.resp.status, NULL, "via_upstream", x->h1.resp.bytes,
		req_bytes(x, r));
	x->head = r->next;
	if (!x->head)
		x->tail = NULL;
	req_free(r);
}

/* Requests still waiting at the end: logged with code 0, as Envoy logs a reset stream. */
static void req_flush(struct pc_session *s, struct pc_http *x, const char *flags)
{
	while (x->head) {
		struct req *r = x->head;

		req_log(s, r, 0, flags, "upstream_reset_before_response_started", 0,
			req_bytes(x, r));
		x->head = r->next;
		req_free(r);
	}
	x->tail = NULL;
}

/* -- deciding a request ---------------------------------------------------------- */

/* Whether the IP literal <ip> is the address the client dialled. */
static bool is_dst(const struct pc_session *s, const char *ip)
{
	struct pc_addr a;

	return pc_addr_parse(ip, &a) == 0 && pc_addr_equal(&a, &s->orig_dst);
}

/* Whether cluster <c> relays to the same upstream as the session's own cluster. */
static bool same_upstream(const struct pc_session *s, const struct pc_cluster *c,
			  const char *name)
{
	const struct pc_cluster *o = s->cluster;

	if (c->source == PC_EP_ORIGINAL_DST && o->source == PC_EP_ORIGINAL_DST)
		return c->target_port == o->target_port;
	if (c->source == PC_EP_DYNAMIC || o->source == PC_EP_DYNAMIC)
		return c->source == o->source && name && s->name && strcmp(name, s->name) == 0;
	return c->source == o->source && strcmp(c->name, o->name) == 0;
}

/*
 * The record of a request refused with <status>: <q> is its head when the
 * filter saw it whole, NULL for a malformed one (method and path unknown).
 * A refused Host is the BlackHoleCluster's (403); a 421 names no cluster;
 * a malformed request is the connection's cluster's.
 */
static void refused_log(struct pc_session *s, struct pc_http *x, unsigned status,
			const char *flags, const char *details, const struct pc_h1_req *q)
{
	const struct pc_cluster *c = s->cluster;
	struct req r = { 0 };

	r.start_mono = pc_loop_now(s->w->loop);
	r.start_wall = pc_wall_ms();
	r.method = q ? q->method_name : "-";
	r.http_minor = q ? q->http_minor : 1;
	if (q) {
		r.cluster = status == 403 ? (char *)"BlackHoleCluster" : NULL;
		snprintf(r.authority, sizeof(r.authority), "%s", x->refused);
		path_copy(r.path, sizeof(r.path), q->target);
	} else {
		r.cluster = (char *)c->name;
		r.path[0] = '-';
	}
	if (s->w->cfg->stats)
		r.sc = q && status == 403 ? pc_stats_cluster(&s->w->stats, r.cluster, NULL, NULL)
					  : pc_stats_cluster(&s->w->stats, c->name, c->host, c->ns);
	req_log(s, &r, status, flags, details, 0, 0);
}

/* Refuse the request the filter holds: answer <status> once nothing is pending. */
static void refuse(struct pc_session *s, struct pc_http *x, unsigned status,
		   enum pc_deny_cause cause, const char *detail, bool head)
{
	x->refuse = true;
	memset(&s->reply, 0, sizeof(s->reply));
	s->reply.answer = PC_ANSWER_HTTP;
	s->reply.status = status;
	s->reply.cause = cause;
	s->reply.detail = detail;
	s->reply.head = head; /* only a head the filter reported says HEAD */
	if (x->refused[0])
		s->reply.name = x->refused;
}

/*
 * The filter holds a complete request head: allow it (0) or refuse it
 * (1). The worker's current policy decides, as it does for a new
 * connection, so a policy change applies to the next request of a
 * kept-alive connection at once.
 */
static int decide(struct pc_session *s, struct pc_http *x)
{
	struct pc_worker *w = s->w;
	const struct pc_h1_req *q = &x->h1.req;
	const char *name = q->namelen && !q->is_ip ? q->name : NULL;
	const struct pc_cluster *c;
	struct req *r;

	x->refused[0] = '\0';
	if (q->namelen)
		snprintf(x->refused, sizeof(x->refused), "%s", q->name);
	c = pc_sess_match(s, w->snap, PC_TRANSPORT_HTTP, name);
	/*
	 * As Istio's route domains: a Host with a port names this port; an
	 * IP-literal Host names the address dialled (an entry's VIP), not any
	 * address; a request without Host names nothing.
	 */
	if ((q->port && q->port != s->orig_dst.port) || !q->namelen ||
	    (q->is_ip && !is_dst(s, q->name)))
		c = &w->snap->clusters[PC_CLUSTER_BLACKHOLE_ID];
	if (c->kind == PC_CLUSTER_BLACKHOLE) {
		if (w->cfg->stats)
			pc_counter_add(&w->stats.denied, 1);
		refuse(s, x, 403, q->namelen ? PC_CAUSE_NO_ENTRY : PC_CAUSE_NO_NAME, NULL,
		       q->method == HTTP_HEAD);
		refused_log(s, x, 403, "UH", "portcullis_denied", q);
		return 1;
	}
	if (!same_upstream(s, c, name)) {
		refuse(s, x, 421, PC_CAUSE_NO_ENTRY, NULL, q->method == HTTP_HEAD);
		refused_log(s, x, 421, "-", "portcullis_denied", q);
		return 1;
	}
	r = pc_calloc(1, sizeof(*r));
	if (r)
		r->cluster = pc_strndup(c->name, strlen(c->name));
	if (!r || !r->cluster) {
		free(r);
		return -ENOMEM;
	}
	r->start_mono = pc_loop_now(w->loop);
	r->start_wall = pc_wall_ms();
	r->off = pc_h1_released(&x->h1); /* the head is not released yet: it starts here */
	r->method = q->method_name;
	r->http_minor = q->http_minor;
	if (q->namelen && q->port)
		snprintf(r->authority, sizeof(r->authority), q->is_ip && strchr(q->name, ':')
				 ? "[%s]:%u" : "%s:%u", q->name, q->port);
	else if (q->namelen)
		snprintf(r->authority, sizeof(r->authority), "%s", q->name);
	path_copy(r->path, sizeof(r->path), q->target);
	if (w->cfg->stats)
		r->sc = pc_stats_cluster(&w->stats, c->name, c->host, c->ns);
	if (x->tail)
		x->tail->end = r->off; /* the newest request before this one ends here */
	if (x->tail)
		x->tail->next = r;
	else
		x->head = r;
	x->tail = r;
	pc_h1_allow(&x->h1, (uint64_t)(uintptr_t)r);
	return 0;
}

/* -- moving bytes ------------------------------------------------------------------ */

/* Feed the client's bytes to the filter until it wants more or stops. -errno on failure. */
static int feed_requests(struct pc_session *s, struct pc_http *x)
{
	for (;;) {
		size_t off = (size_t)(pc_h1_fed(&x->h1) - x->in_base), used = 0;
		enum pc_h1_verdict v;
		int ret;

		v = pc_h1_request(&x->h1, x->in + off, x->in_len - off, &used);
		switch (v) {
		case PC_H1_MORE:
			x->hold = false;
			return 0;
		case PC_H1_HEAD:
			ret = decide(s, x);
			if (ret < 0)
				return ret;
			if (ret > 0)
				return 0;
			continue;
		case PC_H1_FULL:
		case PC_H1_SWITCHING:
			x->hold = true;
			return 0;
		case PC_H1_OPAQUE:
			x->tunnel = true;
			return 0;
		case PC_H1_H2:
			x->refused[0] = '\0';
			refuse(s, x, 403, PC_CAUSE_H2, NULL, false);
			x->malformed = true;
			refused_log(s, x, 403, "DPE", "portcullis_h2c_refused", NULL);
			return 0;
		case PC_H1_BAD:
		default:
			x->refused[0] = '\0';
			refuse(s, x, x->h1.status == 431 ? 431 : 400, PC_CAUSE_NO_ENTRY,
			       x->h1.reason, false);
			x->malformed = true;
			refused_log(s, x, s->reply.status, "DPE", "http1.codec_error", NULL);
			pc_log(PC_LOG_DEBUG, "http request refused", "sess=%llu status=%u reason=%s",
			       (unsigned long long)s->id, s->reply.status,
			       x->h1.reason ? x->h1.reason : "-");
			return 0;
		}
	}
}

/* Feed the upstream's bytes just read (out[from..out_len)) to the response side. */
static void feed_responses(struct pc_session *s, struct pc_http *x, size_t from)
{
	while (!x->resp_bad && !x->tunnel && from < x->out_len) {
		size_t used = 0;
		enum pc_h1_rverdict v = pc_h1_response(&x->h1, x->out + from, x->out_len - from,
						       &used);

		from += used;
		if (v == PC_H1_R_DONE) {
			req_done(s, x);
		} else if (v == PC_H1_R_SWITCH) {
			req_done(s, x);
			x->tunnel = true;
			x->hold = false; /* the client's bytes are the tunnel's now */
		} else if (v == PC_H1_R_BAD) {
			x->resp_bad = true; /* not HTTP/1 as we know it: relay, log no more */
		} else {
			break;
		}
	}
}

/* Send <n> bytes at <p> through <to>, counted in <count>: how many went (0: wait), or -errno. */
static ssize_t send_some(struct pc_xprt *to, const uint8_t *p, size_t n, pc_counter *count)
{
	ssize_t r = to->ops->send(to, p, n);

	if (r > 0)
		pc_counter_add(count, (uint64_t)r);
	return r == -EAGAIN || r == -EINTR ? 0 : r;
}

/* The client's side of a pass: read, check, send what was released. 1 moved, 0, -errno. */
static int pump_requests(struct pc_session *s, struct pc_http *x)
{
	uint64_t released;
	ssize_t n;
	size_t drop;
	int moved = 0, ret;

	/* refusing: what the client still sends is discarded, so that its FIN is seen */
	if (x->refuse && !x->down_eof) {
		uint8_t sink[4096];

		n = s->downx.ops->recv(&s->downx, sink, sizeof(sink));
		if (n == 0)
			x->down_eof = true;
		else if (n < 0 && n != -EAGAIN && n != -EINTR)
			return (int)n;
	}
	/* the client into <in> */
	if (!x->down_eof && !x->hold && !x->refuse && x->in_len < HTTP_BUF) {
		n = s->downx.ops->recv(&s->downx, x->in + x->in_len, HTTP_BUF - x->in_len);
		if (n > 0)
			x->in_len += (size_t)n;
		else if (n == 0)
			x->down_eof = true;
		else if (n != -EAGAIN && n != -EINTR)
			return (int)n;
		moved = n >= 0;
	}
	if (!x->refuse && !x->tunnel) {
		ret = feed_requests(s, x);
		if (ret < 0)
			return ret;
	}
	/* what the filter released, upstream */
	released = pc_h1_released(&x->h1);
	if (x->tunnel && !x->refuse)
		released = x->in_base + x->in_len; /* a tunnel: everything read goes */
	if (released > x->sent) {
		n = send_some(&s->upx, x->in + (x->sent - x->in_base),
			      (size_t)(released - x->sent), &s->http_rx);
		if (n < 0)
			return (int)n;
		x->sent += (uint64_t)n;
		moved |= n > 0;
	}
	drop = (size_t)(x->sent - x->in_base);
	if (drop) {
		memmove(x->in, x->in + drop, x->in_len - drop);
		x->in_len -= drop;
		x->in_base += drop;
	}
	/* the client is done: what it sent is out, but a head it cut short (never released) */
	if (x->down_eof && !x->up_shut && !x->refuse &&
	    x->sent == (x->tunnel ? x->in_base + x->in_len : pc_h1_released(&x->h1))) {
		pc_sess_shutdown(s, &s->upx);
		x->up_shut = true;
	}
	return moved;
}

/* The upstream's side of a pass: read, parse, send to the client. 1 moved, 0, -errno. */
static int pump_responses(struct pc_session *s, struct pc_http *x)
{
	ssize_t n;
	int moved = 0;

	/* the upstream into <out>, once the client took what was there */
	if (!x->up_eof && x->out_off == x->out_len) {
		x->out_off = x->out_len = 0;
		n = s->upx.ops->recv(&s->upx, x->out, HTTP_BUF);
		if (n > 0) {
			x->out_len = (size_t)n;
			feed_responses(s, x, 0);
			moved = 1;
		} else if (n == 0) {
			x->up_eof = true;
			if (!x->resp_bad && !x->tunnel && pc_h1_response_eof(&x->h1) == PC_H1_R_DONE)
				req_done(s, x);
			moved = 1;
		} else if (n != -EAGAIN && n != -EINTR) {
			return (int)n;
		}
	}
	if (x->out_off < x->out_len) {
		n = send_some(&s->downx, x->out + x->out_off, x->out_len - x->out_off, &s->http_tx);
		if (n < 0)
			return (int)n;
		x->out_off += (size_t)n;
		moved |= n > 0;
	}
	return moved;
}

/* One pass over both directions; returns whether anything moved, or -errno. */
static int pump(struct pc_session *s, struct pc_http *x)
{
	int a = pump_requests(s, x), b;

	if (a < 0)
		return a;
	b = pump_responses(s, x);
	if (b < 0)
		return b;
	return a | b;
}

/* The interest in both sockets from what each direction can do now. */
static int interest(struct pc_session *s, struct pc_http *x)
{
	uint32_t down = 0, up = 0;
	int ret;

	if (!x->down_eof && ((!x->hold && x->in_len < HTTP_BUF) || x->refuse))
		down |= PC_IO_READ; /* refusing: read to discard, and to see the client go */
	if (x->out_off < x->out_len)
		down |= PC_IO_WRITE;
	if (!x->up_eof && x->out_off == x->out_len)
		up |= PC_IO_READ;
	if (pc_h1_released(&x->h1) > x->sent || (x->tunnel && !x->refuse && x->in_len))
		up |= PC_IO_WRITE;
	ret = pc_io_set(s->w->loop, &s->down, s->downx.ops->want_events(&s->downx, down));
	if (ret == 0)
		ret = pc_io_set(s->w->loop, &s->up, s->upx.ops->want_events(&s->upx, up));
	return ret;
}

/* A tunnel with empty buffers: hand the connection to the flows (splice). */
static void become_tunnel(struct pc_session *s, struct pc_http *x)
{
	req_flush(s, x, NULL); /* the upgrade's own record is written; nothing else waits */
	free(x);
	s->http = NULL;
	if (pc_sess_update_interest(s) < 0)
		pc_sess_close(s, NULL, true);
}

void pc_sess_http_relay(struct pc_session *s)
{
	struct pc_http *x = s->http;
	int i, ret = 0;

	for (i = 0; i < 8; i++) {
		ret = pump(s, x);
		if (ret <= 0)
			break;
		s->last_activity = pc_loop_now(s->w->loop);
	}
	if (ret >= 0 && !x->refuse && !x->tunnel)
		ret = feed_requests(s, x); /* a response may have lifted <hold> in the last pass */
	if (ret < 0) {
		pc_sess_close(s, NULL, true); /* a reset from one side resets the other */
		return;
	}
	if (x->refuse && (x->tunnel || x->down_eof ||
			  (pc_h1_pending_count(&x->h1) && (x->malformed || x->up_eof)))) {
		/*
		 * No answer fits: the upstream switched protocols under the
		 * refused request, the client is gone, the bytes refused were
		 * part of a request the upstream still waits for (it would never
		 * answer), or the upstream ended a response it owes midway (our
		 * answer would read as its body). A reset says so on both sides.
		 */
		req_flush(s, x, NULL);
		pc_sess_close(s, x->malformed ? "DPE" : NULL, true);
		return;
	}
	if (x->resp_bad && x->out_off == x->out_len) {
		/* a response we cannot frame: what came is out, nothing after it is trusted */
		req_flush(s, x, "UPE");
		pc_sess_close(s, "UPE", true);
		return;
	}
	if (x->refuse && pc_h1_pending_count(&x->h1) == 0 && x->out_off == x->out_len) {
		req_flush(s, x, NULL);
		pc_sess_deny_late(s); /* the answer, FIN and drain; s->http is freed at close */
		return;
	}
	if (x->tunnel && !x->down_shut && !x->up_shut && x->in_len == 0 &&
	    x->out_off == x->out_len) {
		become_tunnel(s, x); /* the flows see any FIN already read again */
		return;
	}
	if (!x->tunnel && x->up_eof && x->out_off == x->out_len) {
		/* HTTP: nothing the client sends now can be answered: the end, as Envoy does */
		req_flush(s, x, NULL);
		pc_sess_close(s, NULL, false);
		return;
	}
	if (x->up_eof && x->out_off == x->out_len && !x->down_shut) {
		pc_sess_shutdown(s, &s->downx);
		x->down_shut = true;
	}
	if (x->down_shut && (x->up_shut || x->refuse)) {
		req_flush(s, x, NULL);
		pc_sess_close(s, NULL, false);
		return;
	}
	if (interest(s, x) < 0)
		pc_sess_close(s, NULL, true);
}

int pc_sess_http_precheck(struct pc_session *s, const uint8_t *p, size_t n)
{
	struct pc_h1 *h = s->w->h1scratch;
	enum pc_h1_verdict v;
	size_t used = 0;
	int ret = 0;

	if (!h) /* the worker's, made on the first HTTP head it sees */
		h = s->w->h1scratch = pc_malloc(sizeof(*h));
	if (!h)
		return 0; /* the relay checks it again, and fails closed there */
	pc_h1_init(h);
	v = pc_h1_request(h, p, n, &used);
	if (v == PC_H1_BAD) {
		s->reply.answer = PC_ANSWER_HTTP;
		s->reply.status = h->status == 431 ? 431 : 400;
		s->reply.detail = h->reason;
		ret = 1;
	} else if (v == PC_H1_H2) {
		s->reply.answer = PC_ANSWER_HTTP;
		s->reply.cause = PC_CAUSE_H2;
		s->reply.name = NULL;
		ret = 1;
	}
	return ret;
}

void pc_sess_http_free(struct pc_session *s)
{
	struct pc_http *x = s->http;

	if (!x)
		return;
	req_flush(s, x, NULL);
	free(x);
	s->http = NULL;
}
