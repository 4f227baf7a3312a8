/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * proxy/session.c - one connection through its stages: accepted ->
 * (preread) -> classified -> connecting or denying -> relay -> closed, like
 * Envoy's tcp_proxy (reference §8.1) with nginx's stream phases
 * (ngx_stream_core_module.c: preread) and HAProxy's tcp-request inspection.
 * doc/internals/session.md tells the life cycle; this comment the rules.
 *
 * Nothing is read from the client before the upstream connect succeeds,
 * so server-first protocols (MySQL greets first) work. The one exception
 * is PREREAD, on ports whose policy needs a name: it peeks (MSG_PEEK) and
 * takes nothing, so the relay still starts at byte 0, and it is bounded
 * (PC_PREREAD_MAX bytes, PC_PREREAD_MS). Peeking under level-triggered
 * epoll would spin while the bytes wait unread, so SO_RCVLOWAT is raised
 * past what was seen: the socket becomes readable again only with new
 * bytes (or a FIN, told apart by a zero-timeout poll for POLLRDHUP).
 *
 * Then each direction is a flow (proxy/flow.h): bytes move socket -> pipe
 * -> socket with splice(2) through the transports (net/xprt.h; raw TCP
 * today), falling back to recv/send where splice is refused. A 0-byte read
 * is a half-close: once the pipe is drained the other side gets
 * shutdown(SHUT_WR); the session ends when both directions are shut.
 * Interest is level-triggered and recomputed after every pump, through the
 * transports' want_events (Envoy's watermarks). One timer serves the
 * stage's deadline: preread, the denial's phases, the connect timeout, then
 * the idle timeout (checked lazily against the last activity, so traffic
 * does not touch the timer heap); two more bound the duration and revoke.
 *
 * A denied connection stays this object: DENYING is a stage (answers and
 * records from proxy/deny.c). Its access-log record (flags UH) and
 * counters are written when the denial starts, as an Envoy blackhole
 * closes at once; the answer, the FIN and the drain follow on the same fd.
 *
 * Policy changes: when the worker adopts a new snapshot, every connecting
 * or relaying session is classified again on its original destination and
 * name (pc_session_recheck_all()). Still allowed, it is not touched at all
 * (it keeps the cluster and upstream of the snapshot it pinned); denied,
 * it is revoked at once or, with a grace, by the <revoke> timer, which
 * checks once more at expiry. A session classified after a preread uses the
 * snapshot current at classification, so no change slips between.
 *
 * Closing only queues the memory; it is freed after the current batch.
 *
 * Counting (proxy/stats.h): a session finds its cluster series and its
 * Istio series (response flags "-") once, when it is classified, and keeps
 * the pointers; the data path then only adds to relaxed atomics. Bytes are
 * added at close and every --tcp-reporting-interval (the worker walks its
 * sessions); a session keeps what it already reported. A session that ends
 * before its upstream connect starts (UH, UO, a connect(2) that fails at
 * once) is counted as opened under the flags it closes with.
 *
 * The admin thread reads w->sessions (GET /connections) under the worker's
 * <lock>: a session is moved there from w->staging only once its
 * addresses, cluster and upstream are set, and unlinked before its snapshot
 * (which holds the cluster's name) is released; its stage and byte counts
 * are atomics.
 */
#include "proxy/session.h"
#include "proxy/session-int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"
#include "model/rules.h"
#include "net/addr.h"
#include "net/sock.h"
#include "net/xprt.h"
#include "policy/alloc.h"
#include "policy/runtime.h"
#include "policy/snapshot.h"
#include "proxy/deny.h"
#include "proxy/flow.h"
#include "proxy/worker.h"

/* A peek that found nothing new on a socket that ignores SO_RCVLOWAT: look again after this. */
#define PAUSE_MS 5u

/* Add what moved since the last report to <series> and the cluster. */
static uint64_t bytes_rx(const struct pc_session *s)
{
	return pc_flow_bytes(&s->d2u) + pc_sess_http_rx(s);
}

static uint64_t bytes_tx(const struct pc_session *s)
{
	return pc_flow_bytes(&s->u2d) + pc_sess_http_tx(s);
}

static void report_bytes(struct pc_session *s, struct pc_stat_series *series)
{
	uint64_t rx = bytes_rx(s), tx = bytes_tx(s);

	if (series) {
		pc_counter_add(&series->received, rx - s->rep_rx);
		pc_counter_add(&series->sent, tx - s->rep_tx);
	}
	if (s->sc) {
		pc_counter_add(&s->sc->from_client, rx - s->rep_rx);
		pc_counter_add(&s->sc->to_client, tx - s->rep_tx);
	}
	s->rep_rx = rx;
	s->rep_tx = tx;
}

/* The Istio series of this session's cluster with <flags>; NULL with stats off. */
static struct pc_stat_series *series_of(struct pc_session *s, const char *flags)
{
	const struct pc_cluster *c = s->cluster;

	if (!s->sc)
		return NULL;
	return pc_stats_series(&s->w->stats, c->host, c->host ? c->host : c->name, c->ns, flags);
}

static void reap(struct pc_loop *loop, struct pc_defer *d)
{
	struct pc_session *s = d->data;

	(void)loop;
	if (s->dyn)
		pc_runtime_name_put(s->dyn);
	free(s->name);
	free(s);
}

static void log_record(struct pc_session *s, const char *type)
{
	struct pc_access_record r = { 0 };
	struct pc_loop *loop = s->w->loop;

	r.type = type;
	r.id = s->id;
	r.start_ms = s->start_wall;
	r.duration_ms = pc_loop_now(loop) - s->start_mono;
	r.flags = s->flags ? s->flags : "-";
	r.termination = s->termination;
	r.bytes_received = bytes_rx(s);
	r.bytes_sent = bytes_tx(s);
	r.cluster = s->cluster ? s->cluster->name : "-";
	r.upstream = s->upstream.family ? &s->upstream : NULL;
	r.upstream_local = s->upstream_local.family ? &s->upstream_local : NULL;
	r.original_dst = &s->orig_dst;
	r.client = &s->client;
	r.server_name = s->transport == PC_TRANSPORT_TLS ? s->name : NULL; /* the SNI */
	pc_access_write(s->w->cfg->access_log_fd, &r, s->w->cfg->access_format);
}

static void session_close(struct pc_session *s, const char *flags, bool reset);

/* -- RELAY: two flows through the transports (proxy/flow.c) --------------------- */

static int update_interest(struct pc_session *s)
{
	uint32_t down = 0, up = 0;
	int ret;

	pc_flow_wants(&s->d2u, &down, &up);
	pc_flow_wants(&s->u2d, &up, &down);
	ret = pc_io_set(s->w->loop, &s->down, s->downx.ops->want_events(&s->downx, down));
	if (ret == 0)
		ret = pc_io_set(s->w->loop, &s->up, s->upx.ops->want_events(&s->upx, up));
	return ret;
}

static void relay(struct pc_session *s)
{
	uint64_t before;
	int ret;

	if (s->http) {
		pc_sess_http_relay(s);
		return;
	}
	before = pc_flow_bytes(&s->d2u) + pc_flow_bytes(&s->u2d);
	ret = pc_flow_pump(&s->d2u);
	if (ret == 0)
		ret = pc_flow_pump(&s->u2d);
	if (ret < 0) {
		session_close(s, NULL, true); /* a reset from one side resets the other */
		return;
	}
	if (pc_flow_bytes(&s->d2u) + pc_flow_bytes(&s->u2d) != before)
		s->last_activity = pc_loop_now(s->w->loop);
	if (s->d2u.shut && s->u2d.shut) {
		session_close(s, NULL, false);
		return;
	}
	if (update_interest(s) < 0)
		session_close(s, NULL, true);
}

static void on_idle(struct pc_loop *loop, struct pc_timer *t)
{
	struct pc_session *s = t->data;
	uint64_t idle = s->cluster->idle_timeout_ms, now = pc_loop_now(loop);

	if (now - s->last_activity >= idle) {
		session_close(s, NULL, false); /* Envoy sets no flag for idle_timeout */
		return;
	}
	pc_timer_start(loop, t, s->last_activity + idle - now);
}

static void on_duration(struct pc_loop *loop, struct pc_timer *t)
{
	(void)loop;
	session_close(t->data, "DT", false);
}

static void start_relay(struct pc_session *s)
{
	struct pc_loop *loop = s->w->loop;

	set_stage(s, ST_RELAY);
	pc_sock_local(s->up.fd, &s->upstream_local);
	if (s->w->cfg->access_on_open)
		log_record(s, PC_ACCESS_CONNECTED);
	pc_timer_stop(loop, &s->timer);
	s->last_activity = pc_loop_now(loop);
	if (s->cluster->idle_timeout_ms) {
		pc_timer_init(&s->timer, on_idle, s);
		pc_timer_start(loop, &s->timer, s->cluster->idle_timeout_ms);
	}
	if (pc_sess_http_wanted(s) && pc_sess_http_start(s) < 0) {
		session_close(s, NULL, true); /* out of memory: this connection only */
		return;
	}
	relay(s);
}

int pc_sess_update_interest(struct pc_session *s)
{
	return update_interest(s);
}

/* -- peeking at the first bytes (PREREAD, and DENYING's sniff) ---------------- */

static void drop_lowat(struct pc_session *s)
{
	if (!s->lowat)
		return;
	pc_xprt_raw_set_lowat(s->down.fd, 1);
	s->lowat = false;
}

/*
 * Peek at up to <cap> of the client's first bytes into w->scratch. Returns
 * 1 with more bytes than last time (their count in <*n>), 0 when there is
 * nothing new yet (wait: SO_RCVLOWAT, or a pause where it is ignored), -1
 * when nothing more will come: an error, or the client shut its side (the
 * bytes it sent, if any, are in <*n>).
 */
static int peek_first(struct pc_session *s, size_t cap, uint32_t events, size_t *n)
{
	struct pc_loop *loop = s->w->loop;
	ssize_t r = pc_xprt_raw_peek(s->down.fd, s->w->scratch, cap);
	uint64_t now;

	*n = 0;
	if (r == -EAGAIN || r == -EINTR)
		return events & PC_IO_ERR ? -1 : 0;
	if (r <= 0)
		return -1; /* end of stream before a byte, or an error */
	*n = (size_t)r;
	if ((size_t)r > s->seen) {
		s->seen = (size_t)r;
		if ((size_t)r < cap && pc_xprt_raw_set_lowat(s->down.fd, (int)r + 1) == 0)
			s->lowat = true; /* readable again only with a new byte (or a FIN) */
		return 1;
	}
	if ((events & PC_IO_ERR) || pc_xprt_raw_peer_done(s->down.fd))
		return -1;
	/* nothing new and the client still there: SO_RCVLOWAT is not honoured (AF_UNIX) */
	now = pc_loop_now(loop);
	if (now >= s->deadline || pc_io_set(loop, &s->down, 0) < 0 ||
	    pc_timer_start(loop, &s->timer,
			   now + PAUSE_MS < s->deadline ? PAUSE_MS : s->deadline - now) < 0)
		return -1;
	s->paused = true;
	return 0;
}

/* Wait for the first bytes until <ms> from now. */
static int wait_first(struct pc_session *s, pc_timer_fn *cb, uint64_t ms)
{
	struct pc_loop *loop = s->w->loop;

	s->deadline = pc_loop_now(loop) + ms;
	s->paused = false;
	pc_timer_init(&s->timer, cb, s);
	if (pc_io_set(loop, &s->down, PC_IO_READ) < 0)
		return -1;
	return pc_timer_start(loop, &s->timer, ms);
}

/*
 * The timer while waiting for first bytes: the end of a pause (read again,
 * the deadline still ahead) returns true; the deadline returns false.
 */
static bool resume_after_pause(struct pc_session *s)
{
	struct pc_loop *loop = s->w->loop;
	uint64_t now = pc_loop_now(loop);

	if (!s->paused)
		return false;
	s->paused = false;
	if (now >= s->deadline)
		return false;
	return pc_io_set(loop, &s->down, PC_IO_READ) == 0 &&
	       pc_timer_start(loop, &s->timer, s->deadline - now) == 0;
}

/* -- DENYING: answer, FIN, drain --------------------------------------------- */

static bool is_loop_guard(const struct pc_session *s)
{
	return !s->redirected || s->orig_dst.port == s->snap->proxy_port;
}

/* Keep the denial on the ring (and log it, if it is the first lately) under <answer>. */
static void deny_record(struct pc_session *s, enum pc_deny_answer answer)
{
	if (s->deny_recorded)
		return;
	s->deny_recorded = true;
	s->reply.answer = answer;
	pc_deny_record(s->snap, &s->client, &s->orig_dst, s->deny_log, &s->reply,
		       pc_loop_now(s->w->loop));
}

/* Write what is left of the answer: 1 done, 0 wait for room, -errno. */
static int deny_flush(struct pc_session *s)
{
	char out[PC_DENY_OUT_MAX];
	size_t len = pc_deny_render(&s->reply, &s->orig_dst, is_loop_guard(s), out);
	ssize_t n;

	while (s->outoff < len) {
		n = s->downx.ops->send(&s->downx, out + s->outoff, len - s->outoff);
		if (n > 0) {
			s->outoff += (size_t)n;
			continue;
		}
		return n == -EAGAIN || n == -EINTR ? 0 : (int)n;
	}
	return 1;
}

static void on_deny_timer(struct pc_loop *loop, struct pc_timer *t);

/* Push the answer out; once it is, half-close and start draining. */
static void deny_write(struct pc_session *s)
{
	struct pc_loop *loop = s->w->loop;
	int ret = deny_flush(s);

	if (ret < 0) {
		session_close(s, NULL, true);
		return;
	}
	if (ret == 0) {
		if (s->dphase != DP_WRITE) {
			s->dphase = DP_WRITE;
			if (pc_timer_start(loop, &s->timer, PC_DENY_SNIFF_MS) < 0) {
				session_close(s, NULL, true);
				return;
			}
		}
		if (pc_io_set(loop, &s->down, PC_IO_WRITE) < 0)
			session_close(s, NULL, true);
		return;
	}
	pc_sess_shutdown(s, &s->downx); /* the FIN follows the answer */
	s->dphase = DP_DRAIN;
	drop_lowat(s);
	if (pc_io_set(loop, &s->down, PC_IO_READ) < 0 ||
	    pc_timer_start(loop, &s->timer, PC_DENY_DRAIN_MS) < 0)
		session_close(s, NULL, false);
}

/* The answer in s->reply is chosen: record it, then send it (or reset). */
static void deny_answer(struct pc_session *s)
{
	char out[PC_DENY_OUT_MAX];

	if (s->reply.answer != PC_ANSWER_RESET &&
	    pc_deny_render(&s->reply, &s->orig_dst, is_loop_guard(s), out) == 0)
		s->reply.answer = PC_ANSWER_RESET; /* cannot happen: every answer fits */
	deny_record(s, s->reply.answer);
	if (s->reply.answer == PC_ANSWER_RESET)
		session_close(s, NULL, true);
	else
		deny_write(s);
}

/* The client's first bytes decide (peeked: the drain reads them later). */
static void deny_sniff(struct pc_session *s, uint32_t events)
{
	size_t n;
	int ret = peek_first(s, PC_DENY_SNIFF_MAX, events, &n);

	if (ret == 0)
		return;
	if (pc_deny_choose(&s->reply, s->w->scratch, n) == PC_SNIFF_MORE && ret > 0 &&
	    n < PC_DENY_SNIFF_MAX)
		return; /* a prefix of something known: wait for the rest */
	/*
	 * Take the bytes looked at, as a denial always did: nothing will relay
	 * them, and an AF_UNIX peer closed with unread input reports a reset
	 * where the client expects the answer or an EOF.
	 */
	if (n)
		s->downx.ops->recv(&s->downx, s->w->scratch, n);
	pc_timer_stop(s->w->loop, &s->timer);
	deny_answer(s); /* a reset for anything unknown, an EOF or an error */
}

/* Discard the client's input until it closes; see proxy/deny.h. */
static void deny_drain(struct pc_session *s, uint32_t events)
{
	char buf[4096];
	ssize_t n;
	int i;

	for (i = 0; i < 4; i++) {
		n = s->downx.ops->recv(&s->downx, buf, sizeof(buf));
		if (n > 0) {
			s->drained += (size_t)n;
			if (s->drained > PC_DENY_DRAIN_MAX)
				break;
			continue;
		}
		if ((n == -EAGAIN || n == -EINTR) && !(events & PC_IO_ERR))
			return;
		break; /* EOF, an error, or a hang-up with nothing left to read */
	}
	if (i < 4)
		session_close(s, NULL, false);
}

static void deny_io(struct pc_session *s, uint32_t events)
{
	switch (s->dphase) {
	case DP_SNIFF:
		deny_sniff(s, events);
		break;
	case DP_WRITE:
		deny_write(s);
		break;
	case DP_DRAIN:
		deny_drain(s, events);
		break;
	}
}

static void on_deny_timer(struct pc_loop *loop, struct pc_timer *t)
{
	struct pc_session *s = t->data;

	(void)loop;
	switch (s->dphase) {
	case DP_SNIFF:
		if (resume_after_pause(s))
			return;
		s->reply.answer = PC_ANSWER_RESET; /* nothing recognisable in time */
		deny_answer(s);
		break;
	case DP_WRITE:
		session_close(s, NULL, true); /* the client does not read */
		break;
	case DP_DRAIN:
		session_close(s, NULL, false);
		break;
	}
}

static void account(struct pc_session *s, const char *flags);

/*
 * The policy denies <s> (BlackHoleCluster). Its access-log record (UH) and
 * counters are written now; the answer follows in its client's protocol:
 * at once for a server-first port (MySQL's ERR packet in place of the
 * greeting) or when the preread already saw the first bytes, else after
 * DP_SNIFF. With --deny-response reset, a reset at once.
 */
static void deny_start(struct pc_session *s)
{
	struct pc_worker *w = s->w;
	bool loop_guard = is_loop_guard(s);

	set_stage(s, ST_DENYING);
	s->flags = s->bad_request ? "DPE" : "UH";   /* Envoy's DownstreamProtocolError */
	pc_timer_init(&s->timer, on_deny_timer, s); /* not armed: nothing waited before */
	s->deny_log = pc_deny_note(s->snap, &s->orig_dst, s->reply.name, pc_loop_now(w->loop));
	if (w->cfg->deny_response == PC_DENY_RESET) {
		deny_record(s, PC_ANSWER_RESET);
		session_close(s, NULL, true);
		return;
	}
	if (!loop_guard && pc_deny_server_first(s->snap, s->orig_dst.port)) {
		memset(&s->reply, 0, sizeof(s->reply));
		s->reply.answer = PC_ANSWER_MYSQL; /* the server speaks first */
		deny_answer(s);
	} else if (s->prereaded) {
		deny_answer(s); /* s->reply was chosen from the preread's bytes */
	} else {
		s->dphase = DP_SNIFF;
		s->seen = 0;
		if (wait_first(s, on_deny_timer, PC_DENY_SNIFF_MS) < 0) {
			s->reply.answer = PC_ANSWER_RESET;
			deny_answer(s);
		}
	}
	account(s, NULL); /* UH; a no-op when the answer already closed it */
}

/* -- CONNECTING ---------------------------------------------------------------- */

static void on_io(struct pc_loop *loop, struct pc_io *io, uint32_t events);

static void on_connect_timeout(struct pc_loop *loop, struct pc_timer *t)
{
	struct pc_session *s = t->data;

	(void)loop;
	if (s->sc) {
		/* Envoy counts a timeout in both */
		pc_counter_add(&s->sc->connect_timeout, 1);
		pc_counter_add(&s->sc->connect_fail, 1);
	}
	session_close(s, "UF,URX", true);
}

/* --access-log-flush-interval: an interim record with the bytes so far. */
static void on_flush(struct pc_loop *loop, struct pc_timer *t)
{
	struct pc_session *s = t->data;

	log_record(s, PC_ACCESS_PERIODIC);
	pc_timer_start(loop, t, s->w->cfg->access_flush_ms);
}

/* Choose the upstream address for a service cluster; false when there is none. */
static bool pick_upstream(struct pc_session *s)
{
	const struct pc_cluster *c = s->cluster;
	uint64_t n, acc = 0;
	size_t i;

	switch (c->source) {
	case PC_EP_ORIGINAL_DST:
		s->upstream = s->orig_dst;
		if (c->target_port)
			s->upstream.port = c->target_port;
		return true;
	case PC_EP_STATIC:
		if (!c->nendpoints || !c->total_weight)
			return false;
		/* weighted round robin over the endpoints */
		n = pc_cluster_next_rr(c) % c->total_weight;
		for (i = 0; i < c->nendpoints; i++) {
			acc += c->endpoints[i].weight;
			if (n < acc)
				break;
		}
		s->upstream = c->endpoints[i < c->nendpoints ? i : 0].addr;
		return true;
	case PC_EP_DYNAMIC:
		return false; /* pick_dynamic() */
	default:
		return pc_cluster_pick_resolved(c, &s->upstream); /* resolver thread's answers */
	}
}

static void session_connect(struct pc_session *s);

static bool is_allowed(const struct pc_session *s, const struct pc_snapshot *snap);
static void link_session(struct pc_session *s);

/*
 * DYNAMIC_DNS: look again for the name's first answer. The session is not
 * on w->sessions yet, so no recheck saw a policy adopted meanwhile: check
 * it here, as the recheck would.
 */
static void on_dynamic(struct pc_loop *loop, struct pc_timer *t)
{
	struct pc_session *s = t->data;

	(void)loop;
	pc_worker_adopt(s->w);
	if (!is_allowed(s, s->w->snap)) {
		s->termination = PC_TERM_POLICY_REVOKED;
		session_close(s, NULL, true);
		return;
	}
	session_connect(s);
	if (stage_of(s) == ST_CONNECTING)
		link_session(s);
}

/* Whether <name> (lowercase) is <host> or under it, whatever <host>'s case (Istio's is none). */
static bool name_admitted(const char *name, const char *host)
{
	char lower[PC_SNIFF_NAME_MAX + 2];
	size_t i, n = strlen(host);

	if (n >= sizeof(lower))
		return false;
	for (i = 0; i <= n; i++)
		lower[i] = (char)(host[i] >= 'A' && host[i] <= 'Z' ? host[i] + 32 : host[i]);
	return pc_host_subset_of(name, lower);
}

/*
 * DYNAMIC_DNS (Envoy's dynamic forward proxy): the upstream is the name
 * the client gave, resolved by the resolver thread, never on this loop.
 * Returns 1 with s->upstream set, 0 while waiting for the first answer
 * (looked at again every DYNAMIC_POLL_MS, up to the connect timeout), -1
 * when the name has no address (NXDOMAIN, an empty answer) or no answer
 * came in time.
 */
#define DYNAMIC_POLL_MS 5u
static int pick_dynamic(struct pc_session *s)
{
	const struct pc_cluster *c = s->cluster;
	const struct pc_proxy_config *cfg = s->w->cfg;
	struct pc_loop *loop = s->w->loop;
	uint16_t port = c->target_port ? c->target_port : s->orig_dst.port;
	uint64_t now = pc_loop_now(loop);

	/*
	 * Only a name the entry admits is ever dialled: a route may make a
	 * dynamic cluster the chain of an address level, where any name (or
	 * none) would otherwise come here.
	 */
	if (!s->name || !c->host || !name_admitted(s->name, c->host))
		return -1;
	if (!s->dyn) {
		s->dyn = pc_runtime_dynamic_get(pc_runtime_default(), s->name);
		if (!s->dyn)
			return -1;
		s->dyn_deadline = now + c->connect_timeout_ms;
		if (!pc_runtime_name_asked(s->dyn) && cfg->resolve_kick)
			cfg->resolve_kick(cfg->resolve_data);
	}
	if (pc_runtime_name_pick(s->dyn, pc_cluster_next_rr(c), port, &s->upstream))
		return 1;
	if (pc_runtime_name_asked(s->dyn) || now >= s->dyn_deadline)
		return -1;
	pc_timer_init(&s->timer, on_dynamic, s);
	return pc_timer_start(loop, &s->timer, DYNAMIC_POLL_MS) < 0 ? -1 : 0;
}

/*
 * No upstream socket for want of descriptors or memory (not a refused or
 * unreachable destination): counted and logged, rate-limited; this
 * connection alone is reset.
 */
static void note_socket_error(struct pc_session *s, int err)
{
	struct pc_worker *w = s->w;
	char dst[PC_ADDR_STRLEN];

	if (err != -EMFILE && err != -ENFILE && err != -ENOBUFS && err != -ENOMEM)
		return;
	pc_counter_add(&w->stats.upstream_socket_errors, 1);
	pc_log_limited(&w->fd_rl, pc_loop_now(w->loop), PC_LOG_WARN,
		       "cannot open an upstream socket: connection reset",
		       "worker=%u sess=%" PRIu64 " upstream=%s err=%s", w->index, s->id,
		       pc_addr_port_str(&s->upstream, dst), strerror(-err));
}

static void session_connect(struct pc_session *s)
{
	struct pc_loop *loop = s->w->loop;
	const struct pc_cluster *c = s->cluster;
	int fd, ret;

	if (c->source == PC_EP_DYNAMIC) {
		ret = pick_dynamic(s);
		if (ret == 0)
			return; /* waiting for the resolver */
		if (ret < 0) {
			session_close(s, "DF", true); /* Envoy's DnsResolutionFailed */
			return;
		}
	} else if (!pick_upstream(s)) {
		session_close(s, "UH", true); /* no healthy upstream: reset at once */
		return;
	}
	/* check and take in one step: workers connecting at once cannot both pass */
	if (!pc_cluster_try_acquire(c, c->max_connections)) {
		if (s->sc)
			pc_counter_add(&s->sc->overflow, 1);
		session_close(s, "UO", true);
		return;
	}
	fd = pc_sock_connect(&s->upstream);
	if (s->sc)
		pc_counter_add(&s->sc->cx_total, 1);
	if (fd < 0) {
		pc_cluster_release(c); /* not counted: session_close() will not give it back */
		if (s->sc)
			pc_counter_add(&s->sc->connect_fail, 1);
		note_socket_error(s, fd);
		session_close(s, "UF,URX", true);
		return;
	}
	pc_sock_abort_on_close(fd, true); /* a crash resets the upstream too */
	s->counted = true; /* from here session_close() releases the slot */
	if (s->sc) {
		pc_counter_add(&s->sc->cx_active, 1);
		s->series = series_of(s, NULL);
		if (s->series)
			pc_counter_add(&s->series->opened, 1);
	}
	set_stage(s, ST_CONNECTING);
	pc_io_init(&s->up, fd, on_io, s);
	pc_xprt_raw_init(&s->upx, fd);
	if (pc_io_start(loop, &s->up, PC_IO_WRITE) < 0) {
		session_close(s, NULL, true);
		return;
	}
	pc_timer_init(&s->timer, on_connect_timeout, s);
	/* a timer heap that cannot grow (out of memory): reset, not relay with no deadline */
	if (pc_timer_start(loop, &s->timer, c->connect_timeout_ms) < 0 ||
	    (c->max_duration_ms && pc_timer_start(loop, &s->duration, c->max_duration_ms) < 0)) {
		session_close(s, NULL, true);
		return;
	}
	if (s->w->cfg->access_flush_ms)
		pc_timer_start(loop, &s->flush, s->w->cfg->access_flush_ms);
}

/* -- the lists ------------------------------------------------------------------ */

static void list_add(struct pc_session **head, struct pc_session *s)
{
	s->prev = NULL;
	s->next = *head;
	if (*head)
		(*head)->prev = s;
	*head = s;
}

static void list_del(struct pc_session **head, struct pc_session *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		*head = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->prev = s->next = NULL;
}

/* From w->staging to w->sessions, where the admin thread sees it. */
static void link_session(struct pc_session *s)
{
	struct pc_worker *w = s->w;

	list_del(&w->staging, s);
	pthread_mutex_lock(&w->lock);
	list_add(&w->sessions, s);
	s->linked = true;
	pthread_mutex_unlock(&w->lock);
}

static void unlink_session(struct pc_session *s)
{
	struct pc_worker *w = s->w;

	if (!s->linked) {
		list_del(&w->staging, s);
		return;
	}
	pthread_mutex_lock(&w->lock);
	list_del(&w->sessions, s);
	s->linked = false;
	pthread_mutex_unlock(&w->lock);
}

/* -- CLASSIFIED ---------------------------------------------------------------- */

/*
 * Decide <s> on its original destination and <name> (the preread's, or
 * NULL), against the worker's current snapshot: a policy adopted while the
 * session was prereading must decide it, as no recheck saw it. One that is
 * published but not yet adopted must too (the wake-up may come later in
 * this batch than the client's last bytes), so it is adopted first, as
 * on_accept() does; <s> is on w->staging, which the recheck does not walk.
 */
const struct pc_cluster *pc_sess_match(const struct pc_session *s, const struct pc_snapshot *snap,
				       enum pc_transport transport, const char *name)
{
	struct pc_match m = {
		.dst = &s->orig_dst,
		.transport = transport,
		.name = name,
		.pick = s->pick,
	};

	return pc_snapshot_match(snap, &m);
}

static const struct pc_cluster *match(const struct pc_session *s, const struct pc_snapshot *snap)
{
	return pc_sess_match(s, snap, s->transport, s->name);
}

/*
 * A denied auto-allocated address: the denial names the name the app
 * resolved to it (doc/dns.md), held by the session's snapshot.
 */
static void vip_name(struct pc_session *s)
{
	const struct pc_vip *v;

	if (s->reply.name || !pc_alloc_in_range(&s->orig_dst))
		return;
	v = pc_snapshot_vip_by_addr(s->snap, &s->orig_dst);
	if (!v)
		return;
	s->reply.name = v->name;
	s->reply.dns = true;
	s->reply.cause = PC_CAUSE_NO_ENTRY;
}

static void classify(struct pc_session *s)
{
	struct pc_worker *w = s->w;

	pc_worker_adopt(w);
	if (s->snap != w->snap) {
		pc_snapshot_unref(s->snap);
		s->snap = pc_snapshot_ref(w->snap);
	}
	if (!s->redirected)
		s->cluster = &s->snap->clusters[PC_CLUSTER_BLACKHOLE_ID];
	else
		s->cluster = match(s, s->snap);
	/*
	 * An HTTP cluster relays request by request: a first request the
	 * HTTP/1 filter refuses already is refused now, before any upstream is
	 * dialled (w->scratch still holds the preread's bytes); a denied one
	 * is told it is malformed (400) rather than unnamed, when it is. A TCP
	 * chain or the PassthroughCluster relays it untouched, as Istio does.
	 */
	if (s->prereaded && s->transport == PC_TRANSPORT_HTTP &&
	    (s->cluster->http || s->cluster->kind == PC_CLUSTER_BLACKHOLE) &&
	    pc_sess_http_precheck(s, w->scratch, s->preread_len) == 1) {
		s->bad_request = true;
		s->cluster = &s->snap->clusters[PC_CLUSTER_BLACKHOLE_ID];
	}
	set_stage(s, ST_CLASSIFIED);
	if (w->cfg->stats) {
		s->sc = pc_stats_cluster(&w->stats, s->cluster->name, s->cluster->host,
					 s->cluster->ns);
		if (s->cluster->kind == PC_CLUSTER_BLACKHOLE)
			pc_counter_add(&w->stats.denied, 1);
	}
	if (s->cluster->kind == PC_CLUSTER_BLACKHOLE) {
		vip_name(s);
		deny_start(s);
		return;
	}
	session_connect(s);
	/* still open: the upstream is chosen, so the admin thread may see it now */
	if (stage_of(s) == ST_CONNECTING)
		link_session(s);
}

/* The preread's findings, for the denial's reason (proxy/deny.h). */
static void note_cause(struct pc_session *s, const struct pc_sniffed *sn, size_t n)
{
	const uint8_t *p = s->w->scratch;

	s->reply.tls = sn->kind == PC_SNIFF_TLS;
	s->reply.name = s->name;
	if (s->name)
		s->reply.cause = PC_CAUSE_NO_ENTRY;
	else if (n >= 4 && memcmp(p, "PRI ", 4) == 0)
		s->reply.cause = PC_CAUSE_H2; /* the h2c prior-knowledge preface */
	else if (sn->kind == PC_SNIFF_TLS || sn->kind == PC_SNIFF_HTTP)
		s->reply.cause = PC_CAUSE_NO_NAME;
	else if (sn->kind == PC_SNIFF_OTHER)
		s->reply.cause = PC_CAUSE_UNNAMED;
	else
		s->reply.cause = PC_CAUSE_SILENT; /* nothing, or an unfinished message, in time */
}

/* -- PREREAD ------------------------------------------------------------------ */

/*
 * The preread is over, with the <n> bytes peeked into w->scratch: the name
 * they carry (if the message is whole and well formed) classifies, and the
 * answer a denial would give is chosen from them now.
 */
static void preread_done(struct pc_session *s, size_t n)
{
	struct pc_sniffed sn;

	pc_timer_stop(s->w->loop, &s->timer);
	pc_io_set(s->w->loop, &s->down, 0); /* nothing is read again before the upstream is up */
	drop_lowat(s);
	s->prereaded = true;
	pc_deny_choose(&s->reply, s->w->scratch, n);
	memset(&sn, 0, sizeof(sn));
	switch (n ? pc_sniff(s->w->scratch, n, &sn) : PC_SNIFF_MORE) {
	case PC_SNIFF_TLS:
		s->transport = PC_TRANSPORT_TLS;
		break;
	case PC_SNIFF_HTTP:
		s->transport = PC_TRANSPORT_HTTP;
		break;
	case PC_SNIFF_OTHER:
		s->transport = PC_TRANSPORT_OTHER;
		break;
	default:
		/* nothing, or a message cut short by the timeout: no name, no transport */
		s->transport = n ? PC_TRANSPORT_OTHER : PC_TRANSPORT_UNKNOWN;
		sn.kind = PC_SNIFF_MORE;
		break;
	}
	if (sn.kind != PC_SNIFF_MORE && sn.namelen)
		s->name = pc_strndup(sn.name, sn.namelen); /* out of memory: the address decides */
	note_cause(s, &sn, n);
	s->preread_len = n;
	classify(s);
}

static void preread_io(struct pc_session *s, uint32_t events)
{
	struct pc_sniffed sn;
	size_t n;
	int ret = peek_first(s, PC_PREREAD_MAX, events, &n);

	if (ret == 0)
		return;
	if (ret > 0 && n < PC_PREREAD_MAX && pc_sniff(s->w->scratch, n, &sn) == PC_SNIFF_MORE)
		return; /* the ClientHello or the request head goes on */
	preread_done(s, n);
}

static void on_preread_timer(struct pc_loop *loop, struct pc_timer *t)
{
	struct pc_session *s = t->data;
	ssize_t n;

	(void)loop;
	if (resume_after_pause(s))
		return;
	n = pc_xprt_raw_peek(s->down.fd, s->w->scratch, PC_PREREAD_MAX);
	preread_done(s, n > 0 ? (size_t)n : 0); /* what came in time: the address decides */
}

/* -- every stage's events ------------------------------------------------------- */

static void on_io(struct pc_loop *loop, struct pc_io *io, uint32_t events)
{
	struct pc_session *s = io->data;
	int err;

	(void)loop;
	switch (stage_of(s)) {
	case ST_PREREAD:
		preread_io(s, events);
		break;
	case ST_DENYING:
		deny_io(s, events);
		break;
	case ST_CONNECTING:
		err = pc_sock_error(s->up.fd);
		if (err == 0 && (events & (PC_IO_WRITE | PC_IO_ERR)))
			start_relay(s);
		else if (err < 0) {
			if (s->sc)
				pc_counter_add(&s->sc->connect_fail, 1);
			session_close(s, "UF,URX", true);
		}
		break;
	case ST_RELAY:
		relay(s);
		break;
	default:
		break;
	}
}

static void on_revoke(struct pc_loop *loop, struct pc_timer *t);

/* A well-mixed draw for weighted routes (splitmix64's finaliser). */
static uint32_t pick_of(uint64_t id, uint64_t t)
{
	uint64_t z = id * 0x9e3779b97f4a7c15ull + t;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return (uint32_t)(z ^ (z >> 31));
}

void pc_session_start(struct pc_worker *w, int fd, const struct pc_addr *client,
		      const struct pc_addr *orig_dst)
{
	struct pc_session *s = pc_calloc(1, sizeof(*s));

	if (!s) {
		pc_sock_reset(fd); /* out of memory costs this connection only */
		return;
	}
	s->w = w;
	/* unique across workers: worker i hands out i+1, i+1+n, i+1+2n, ... */
	s->id = w->next_id++ * (w->cfg->nworkers ? w->cfg->nworkers : 1) + w->index + 1;
	atomic_init(&s->stage, ST_ACCEPTED);
	atomic_init(&s->revoking, false);
	s->client = *client;
	s->start_mono = pc_loop_now(w->loop);
	s->start_wall = pc_wall_ms();
	pc_flow_init(&s->d2u, w, &s->downx, &s->upx);
	pc_flow_init(&s->u2d, w, &s->upx, &s->downx);
	pc_io_init(&s->down, fd, on_io, s);
	pc_io_init(&s->up, -1, on_io, s);
	pc_xprt_raw_init(&s->downx, fd);
	pc_xprt_raw_init(&s->upx, -1);
	pc_timer_init(&s->timer, on_connect_timeout, s);
	pc_timer_init(&s->duration, on_duration, s);
	pc_timer_init(&s->revoke, on_revoke, s);
	pc_timer_init(&s->flush, on_flush, s);
	pc_defer_init(&s->reap, reap, s);
	list_add(&w->staging, s);
	if (w->cfg->stats) {
		pc_counter_add(&w->stats.downstream_total, 1);
		pc_counter_add(&w->stats.downstream_active, 1);
	}
	s->snap = pc_snapshot_ref(w->snap);
	pc_sock_nodelay(fd);
	pc_sock_abort_on_close(fd, true); /* until an orderly end: see session_close() */
	if (orig_dst) {
		s->redirected = true;
		s->orig_dst = *orig_dst;
		pc_addr_unmap(&s->orig_dst);
	} else {
		/* not redirected: someone dialled the proxy port directly (loop guard) */
		pc_sock_local(fd, &s->orig_dst);
	}
	s->pick = pick_of(s->id, s->start_wall);
	if (!is_loop_guard(s) && pc_snapshot_port_needs_name(s->snap, s->orig_dst.port) &&
	    !pc_deny_server_first(s->snap, s->orig_dst.port)) {
		set_stage(s, ST_PREREAD);
		if (wait_first(s, on_preread_timer,
			       w->cfg->detect_ms ? w->cfg->detect_ms : PC_PREREAD_MS) == 0)
			return;
		pc_timer_stop(w->loop, &s->timer);
		pc_io_set(w->loop, &s->down, 0); /* cannot wait: the address decides now */
	}
	classify(s);
}

void pc_session_accept(struct pc_worker *w, int fd, const struct pc_addr *client)
{
	struct pc_addr dst;

	if (pc_sock_original_dst(fd, &dst) < 0)
		pc_session_start(w, fd, client, NULL);
	else
		pc_session_start(w, fd, client, &dst);
}

/* -- revocation ---------------------------------------------------------------- */

static bool is_allowed(const struct pc_session *s, const struct pc_snapshot *snap)
{
	return match(s, snap)->kind != PC_CLUSTER_BLACKHOLE;
}

/*
 * Close <s> because the worker's policy denies it. A reset, not a FIN, on
 * both sides: a FIN reads as a normal end of stream, and for a protocol
 * without its own framing (a raw download) a client could take the cut for
 * a complete transfer; a RST is an error every client reports, and it frees
 * the server's side at once. Bytes still in our pipes are dropped: access
 * is revoked, nothing more may pass. The info line is rate-limited per
 * worker (a policy change may revoke thousands at once); the worker's
 * summary line counts them all.
 */
static void session_revoke(struct pc_session *s)
{
	struct pc_worker *w = s->w;
	char cl[PC_ADDR_STRLEN], dst[PC_ADDR_STRLEN];

	if (w->cfg->stats)
		pc_counter_add(&w->stats.revoked, 1);
	pc_log_limited(&w->revoke_rl, pc_loop_now(w->loop), PC_LOG_INFO,
		       "connection revoked by a policy change",
		       "sess=%" PRIu64 " cluster=%s client=%s dst=%s generation=%" PRIu64, s->id,
		       s->cluster->name, pc_addr_port_str(&s->client, cl),
		       pc_addr_port_str(&s->orig_dst, dst), w->snap->generation);
	s->termination = PC_TERM_POLICY_REVOKED;
	session_close(s, NULL, true);
}

/* End of the grace: the snapshot current now decides (a newer one may allow it again). */
static void on_revoke(struct pc_loop *loop, struct pc_timer *t)
{
	struct pc_session *s = t->data;

	(void)loop;
	if (!is_allowed(s, s->w->snap))
		session_revoke(s);
}

/*
 * Closing a session unlinks only that session, so <next> stays valid. A
 * timer that cannot be armed (the heap cannot grow) fails closed: the
 * session is revoked at once rather than kept.
 */
void pc_session_recheck_all(struct pc_worker *w)
{
	uint64_t grace = w->cfg->revoke_grace_ms, t0 = pc_mono_us();
	struct pc_session *s, *next;
	size_t n = 0, denied = 0;

	for (s = w->sessions; s; s = next) {
		next = s->next;
		n++;
		if (is_allowed(s, w->snap)) {
			if (pc_timer_is_active(&s->revoke)) {
				pc_timer_stop(w->loop, &s->revoke); /* allowed again */
				atomic_store_explicit(&s->revoking, false, memory_order_relaxed);
			}
			continue;
		}
		denied++;
		if (pc_timer_is_active(&s->revoke))
			continue; /* already in its grace: keep the first deadline */
		if (!grace || pc_timer_start(w->loop, &s->revoke, grace) < 0)
			session_revoke(s);
		else
			atomic_store_explicit(&s->revoking, true, memory_order_relaxed);
	}
	pc_log(denied ? PC_LOG_INFO : PC_LOG_DEBUG,
	       denied ? "policy change denies open connections" : "open connections re-checked",
	       "worker=%u generation=%" PRIu64 " sessions=%zu denied=%zu grace_ms=%" PRIu64
	       " took_us=%" PRIu64,
	       w->index, w->snap->generation, n, denied, grace, pc_mono_us() - t0);
}

/* -- counting, the admin view ------------------------------------------------------ */

/*
 * The counters of a closing session: opened (if it never got that far),
 * closed under its final flags, the bytes not yet reported, the gauges.
 */
static void count_close(struct pc_session *s)
{
	struct pc_stats *st = &s->w->stats;
	struct pc_stat_series *series = s->series;

	if (!s->w->cfg->stats)
		return;
	if (s->flags || !series)
		series = series_of(s, s->flags);
	if (series) {
		if (!s->series)
			pc_counter_add(&series->opened, 1);
		pc_counter_add(&series->closed, 1);
	}
	report_bytes(s, series);
	if (s->sc && s->counted)
		pc_counter_add(&s->sc->cx_active, (uint64_t)-1);
	pc_counter_add(&st->downstream_active, (uint64_t)-1);
}

void pc_session_report_all(struct pc_worker *w)
{
	struct pc_session *s;

	for (s = w->sessions; s; s = s->next) {
		if (s->series)
			report_bytes(s, s->series);
	}
}

/* What GET /connections shows as "state", derived from the stage. */
static const char *view_name(const struct pc_session *s)
{
	enum stage st = stage_of(s);

	if (st == ST_CLOSED)
		return "closing";
	if (atomic_load_explicit(&s->revoking, memory_order_relaxed))
		return "revoking";
	return st == ST_RELAY ? "established" : "connecting";
}

static void json_addr(struct pc_buf *out, const char *key, const struct pc_addr *a)
{
	char buf[PC_ADDR_STRLEN];

	pc_buf_printf(out, ",\"%s\":", key);
	if (!a->family) {
		pc_buf_adds(out, "null");
		return;
	}
	pc_addr_port_str(a, buf);
	pc_buf_add_json_str(out, buf, strlen(buf));
}

void pc_worker_connections_json(struct pc_worker *w, uint64_t now_ms, struct pc_buf *out,
				bool *first)
{
	const struct pc_session *s;

	pthread_mutex_lock(&w->lock);
	for (s = w->sessions; s; s = s->next) {
		pc_buf_printf(out, "%s{\"id\":%" PRIu64 ",\"worker\":%u", *first ? "" : ",", s->id,
			      w->index);
		*first = false;
		json_addr(out, "client", &s->client);
		json_addr(out, "destination", &s->orig_dst);
		pc_buf_adds(out, ",\"cluster\":");
		pc_buf_add_json_str(out, s->cluster->name, strlen(s->cluster->name));
		json_addr(out, "upstream", &s->upstream);
		pc_buf_printf(out,
			      ",\"state\":\"%s\",\"bytes_received\":%" PRIu64
			      ",\"bytes_sent\":%" PRIu64 ",\"age_seconds\":%.3f}",
			      view_name(s), bytes_rx(s), bytes_tx(s),
			      now_ms >= s->start_mono ? (double)(now_ms - s->start_mono) / 1000.0
						      : 0.0);
	}
	pthread_mutex_unlock(&w->lock);
}

/* -- CLOSED ---------------------------------------------------------------------- */

void pc_session_close_all(struct pc_worker *w)
{
	while (w->sessions)
		session_close(w->sessions, NULL, true);
	while (w->staging) /* an answer not yet out: reset */
		session_close(w->staging, NULL,
			      stage_of(w->staging) != ST_DENYING || w->staging->dphase != DP_DRAIN);
}

/*
 * The end as the counters and the access log see it: once per session,
 * under <flags> (NULL: keep those set). A denial reaches it when its answer
 * starts, the others when they close.
 */
static void account(struct pc_session *s, const char *flags)
{
	if (s->accounted || stage_of(s) == ST_CLOSED)
		return;
	if (flags)
		s->flags = flags;
	s->accounted = true;
	count_close(s); /* before the record: whoever sees the record sees the counts */
	log_record(s, PC_ACCESS_END);
}

/*
 * SO_LINGER before the close. Both sockets reset on close from the start
 * (pc_session_start(), session_connect()), so that a crash resets them:
 * a reset keeps that; an orderly end clears it, so what is still queued
 * goes out before the FIN. A socket whose flow already shut it was
 * cleared then (proxy/flow.c); clearing again would cost a syscall.
 */
static void set_linger(struct pc_session *s, bool reset)
{
	if (s->down.fd >= 0 && (reset || !s->u2d.shut))
		pc_sock_abort_on_close(s->down.fd, reset);
	if (s->up.fd >= 0 && (reset || !s->d2u.shut))
		pc_sock_abort_on_close(s->up.fd, reset);
}

/*
 * End <s>: account for it, close both sockets (with a RST when <reset>),
 * release the snapshot, and queue the memory for after this batch.
 */
static void session_close(struct pc_session *s, const char *flags, bool reset)
{
	struct pc_worker *w = s->w;

	if (stage_of(s) == ST_CLOSED)
		return;
	if (stage_of(s) == ST_DENYING)
		deny_record(s, PC_ANSWER_RESET); /* closed before an answer was chosen */
	account(s, flags);
	pc_sess_http_free(s); /* after the record, which counts its bytes */
	set_stage(s, ST_CLOSED);
	pc_timer_stop(w->loop, &s->timer);
	pc_timer_stop(w->loop, &s->duration);
	pc_timer_stop(w->loop, &s->revoke);
	pc_timer_stop(w->loop, &s->flush);
	set_linger(s, reset);
	if (s->down.fd >= 0)
		pc_io_close(w->loop, &s->down);
	if (s->up.fd >= 0)
		pc_io_close(w->loop, &s->up);
	pc_flow_release(&s->d2u);
	pc_flow_release(&s->u2d);
	if (s->counted)
		pc_cluster_release(s->cluster);
	unlink_session(s); /* before the snapshot goes: readers use the cluster's name */
	pc_snapshot_unref(s->snap);
	s->snap = NULL;
	pc_loop_defer(w->loop, &s->reap);
	if (atomic_load(&w->draining) && !w->sessions)
		pc_loop_stop(w->loop); /* drained: the worker's thread can end */
}

void pc_sess_close(struct pc_session *s, const char *flags, bool reset)
{
	session_close(s, flags, reset);
}

void pc_sess_shutdown(struct pc_session *s, struct pc_xprt *x)
{
	(void)s;
	pc_sock_abort_on_close(x->fd, false);
	x->ops->shutdown(x);
}

void pc_sess_deny_late(struct pc_session *s)
{
	struct pc_loop *loop = s->w->loop;

	pc_timer_stop(loop, &s->timer); /* the idle timer */
	pc_timer_stop(loop, &s->flush);
	if (s->up.fd >= 0) {
		pc_sock_abort_on_close(s->up.fd, false); /* an orderly close: a FIN */
		pc_io_close(loop, &s->up); /* every response it owed is out */
	}
	pc_flow_release(&s->d2u);
	pc_flow_release(&s->u2d);
	set_stage(s, ST_DENYING);
	s->dphase = DP_SNIFF; /* deny_write() arms its timer when it must wait */
	s->outoff = 0;
	s->drained = 0;
	s->deny_recorded = false;
	pc_timer_init(&s->timer, on_deny_timer, s);
	s->deny_log = pc_deny_note(s->snap, &s->orig_dst, s->reply.name, pc_loop_now(loop));
	if (s->w->cfg->deny_response == PC_DENY_RESET) {
		deny_record(s, PC_ANSWER_RESET);
		session_close(s, NULL, true);
		return;
	}
	deny_record(s, s->reply.answer);
	deny_write(s);
}
