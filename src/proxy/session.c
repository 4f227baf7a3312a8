/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * proxy/session.c - accept -> original destination -> verdict -> connect ->
 * relay, like Envoy's tcp_proxy (reference §8.1).
 *
 * Until the upstream connect succeeds nothing is read from the client, so
 * server-first protocols (MySQL greets first) work. Then each direction is
 * a flow: bytes move socket -> pipe -> socket with splice(2) (no copy
 * through user space), falling back to read/write where splice is refused.
 * A 0-byte read is a half-close: once the pipe is drained the other side
 * gets shutdown(SHUT_WR); the session ends when both directions are shut.
 *
 * Interest is level-triggered and recomputed after every pump: read a
 * source only while its pipe has room, watch a destination for writability
 * only while its pipe holds data, so a slow peer throttles a fast one
 * (Envoy's watermarks). Timers: connect timeout, idle timeout (checked
 * lazily against the last activity, so traffic does not touch the timer
 * heap) and the maximum connection duration.
 *
 * Policy changes: when the worker adopts a new snapshot, every live session
 * is classified again on its original destination (pc_session_recheck_all()).
 * Still allowed, it is not touched at all (it keeps the cluster and upstream
 * of the snapshot it pinned); denied, it is revoked at once or, with a
 * grace, by the <revoke> timer, which checks once more at expiry.
 *
 * Closing only queues the session; it is freed after the current batch.
 *
 * Counting (proxy/stats.h): a session finds its cluster series and its
 * Istio series (response flags "-") once, when it is classified, and keeps
 * the pointers; the data path then only adds to relaxed atomics. Bytes are
 * added at close and every --tcp-reporting-interval (the worker walks its
 * sessions); a session keeps what it already reported. A session that ends
 * before its upstream connect starts (UH, UO, a connect(2) that fails at
 * once) is counted as opened under the flags it closes with.
 *
 * The admin thread reads the session list (GET /connections) under the
 * worker's <lock>: a session is linked only once its addresses, cluster and
 * upstream are set, and unlinked before its snapshot (which holds the
 * cluster's name) is released; its state and byte counts are atomics.
 */
#include "proxy/worker.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"
#include "net/addr.h"
#include "net/sock.h"
#include "policy/runtime.h"
#include "policy/snapshot.h"
#include "proxy/deny.h"

#define BUF_CAP ((size_t)64 * 1024)

enum state {
	ST_CONNECTING,
	ST_RELAY,
	ST_CLOSED,
};

struct flow {
	struct pc_worker *w; /* owns the pipe pool */
	struct pc_io *src;
	struct pc_io *dst;
	int pipe[2];     /* -1 while no bytes are in flight (pooled) */
	size_t cap;      /* capacity of the pipe held */
	size_t in_pipe;  /* bytes in the pipe (or buffer) */
	bool eof;        /* the source sent FIN */
	bool shut;       /* the destination got SHUT_WR */
	bool no_splice;  /* splice refused: read/write through buf */
	char *buf;
	size_t off;
	pc_counter bytes; /* read from the source; the admin thread reads it */
};

/* What GET /connections shows as "state". */
enum view {
	VIEW_CONNECTING,
	VIEW_ESTABLISHED,
	VIEW_CLOSING,
	VIEW_REVOKING,
};

struct pc_session {
	struct pc_worker *w;
	struct pc_session *prev, *next;
	uint64_t id;
	enum state state;
	struct pc_io down; /* the client */
	struct pc_io up;   /* the upstream */
	struct flow d2u;
	struct flow u2d;
	struct pc_timer timer;    /* connect timeout, then idle timeout */
	struct pc_timer duration; /* maxConnectionDuration */
	struct pc_timer revoke;   /* armed while a policy change denies it (grace) */
	struct pc_defer reap;
	struct pc_snapshot *snap; /* pinned: the cluster lives in it */
	const struct pc_cluster *cluster;
	struct pc_addr client, orig_dst, upstream, upstream_local;
	uint64_t start_mono, start_wall, last_activity;
	const char *flags;
	const char *termination; /* connection termination details, or NULL */
	bool counted;                  /* holds one of the cluster's maxConnections slots */
	bool linked;                   /* in w->sessions */
	struct pc_timer flush;         /* --access-log-flush-interval */
	atomic_uint view;              /* enum view, for the admin thread */
	struct pc_stat_cluster *sc;    /* NULL: --stats off (or out of memory) */
	struct pc_stat_series *series; /* flags "-": counted opened at connect */
	uint64_t rep_rx, rep_tx;       /* bytes already added to the counters */
};

static uint64_t flow_bytes(const struct flow *f)
{
	return pc_counter_get(&f->bytes);
}

/* Add what moved since the last report to <series> and the cluster. */
static void report_bytes(struct pc_session *s, struct pc_stat_series *series)
{
	uint64_t rx = flow_bytes(&s->d2u), tx = flow_bytes(&s->u2d);

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
	free(s->d2u.buf);
	free(s->u2d.buf);
	free(s);
}

/* An empty pipe goes back to the pool; one with bytes left is closed. */
static void close_pipe(struct flow *f)
{
	if (f->pipe[0] < 0)
		return;
	if (f->in_pipe == 0 && !f->no_splice) {
		pc_worker_pipe_put(f->w, f->pipe, f->cap);
		return;
	}
	close(f->pipe[0]);
	close(f->pipe[1]);
	f->pipe[0] = f->pipe[1] = -1;
}

static size_t flow_cap(const struct flow *f)
{
	if (f->no_splice)
		return BUF_CAP;
	return f->pipe[0] >= 0 ? f->cap : 1; /* no pipe yet: room for "some" */
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
	r.bytes_received = flow_bytes(&s->d2u);
	r.bytes_sent = flow_bytes(&s->u2d);
	r.cluster = s->cluster ? s->cluster->name : "-";
	r.upstream = s->upstream.family ? &s->upstream : NULL;
	r.upstream_local = s->upstream_local.family ? &s->upstream_local : NULL;
	r.original_dst = &s->orig_dst;
	r.client = &s->client;
	pc_access_write(s->w->cfg->access_log_fd, &r, s->w->cfg->access_format);
}

static void session_close(struct pc_session *s, const char *flags, bool reset);

/* Interest follows the flows: read while the pipe has room, write while it holds data. */
static void flow_wants(const struct flow *f, uint32_t *src, uint32_t *dst)
{
	if (!f->eof && f->in_pipe < flow_cap(f))
		*src |= PC_IO_READ;
	if (f->in_pipe > 0)
		*dst |= PC_IO_WRITE;
}

static int update_interest(struct pc_session *s)
{
	uint32_t down = 0, up = 0;
	int ret;

	flow_wants(&s->d2u, &down, &up);
	flow_wants(&s->u2d, &up, &down);
	ret = pc_io_set(s->w->loop, &s->down, down);
	if (ret == 0)
		ret = pc_io_set(s->w->loop, &s->up, up);
	return ret;
}

/* Fill from the source: splice into the pipe, or read into the buffer. */
static int flow_fill(struct flow *f)
{
	ssize_t n;
	int err;

	if (f->no_splice) {
		n = read(f->src->fd, f->buf + f->in_pipe, BUF_CAP - f->in_pipe);
	} else {
		if (f->pipe[0] < 0) {
			int ret = pc_worker_pipe_get(f->w, f->pipe, &f->cap);

			if (ret < 0)
				return ret;
		}
		n = splice(f->src->fd, NULL, f->pipe[1], NULL, f->cap - f->in_pipe,
			   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n == -1 && (errno == EINVAL || errno == ENOSYS) && f->in_pipe == 0) {
			/* splice(2) refused for these fds: copy through user space */
			f->buf = f->buf ? f->buf : pc_malloc(BUF_CAP);
			if (!f->buf)
				return -ENOMEM;
			f->no_splice = true;
			return flow_fill(f);
		}
	}
	if (n > 0) {
		f->in_pipe += (size_t)n;
		pc_counter_add(&f->bytes, (uint64_t)n);
		return 1;
	}
	err = n < 0 ? errno : 0;
	if (f->in_pipe == 0 && !f->no_splice)
		close_pipe(f); /* nothing came: an idle flow holds no pipe */
	if (n == 0) {
		f->eof = true;
		return 1;
	}
	/* EAGAIN: the source is empty (or the pipe full; in_pipe says which) */
	return err == EAGAIN || err == EINTR ? 0 : -err;
}

/* Drain to the destination. */
static int flow_drain(struct flow *f)
{
	ssize_t n;

	if (f->no_splice)
		n = write(f->dst->fd, f->buf + f->off, f->in_pipe - f->off);
	else
		n = splice(f->pipe[0], NULL, f->dst->fd, NULL, f->in_pipe,
			   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	if (n > 0) {
		if (f->no_splice) {
			f->off += (size_t)n;
			if (f->off == f->in_pipe)
				f->off = f->in_pipe = 0;
		} else {
			f->in_pipe -= (size_t)n;
			if (f->in_pipe == 0)
				close_pipe(f); /* drained: back to the pool */
		}
		return 1;
	}
	return n == -1 && (errno == EAGAIN || errno == EINTR) ? 0 : (n == 0 ? 0 : -errno);
}

/* Move what the kernel accepts now; a few rounds at most, the loop calls again. */
static int flow_pump(struct flow *f)
{
	int rounds, progress, ret;

	for (rounds = 0; rounds < 4; rounds++) {
		progress = 0;
		if (!f->eof && f->in_pipe < flow_cap(f) && (!f->no_splice || f->off == 0)) {
			ret = flow_fill(f);
			if (ret < 0)
				return ret;
			progress |= ret;
		}
		if (f->in_pipe > 0) {
			ret = flow_drain(f);
			if (ret < 0)
				return ret;
			progress |= ret;
		}
		if (!progress)
			break;
	}
	if (f->eof && f->in_pipe == 0 && !f->shut) {
		/* half-close: pass the FIN on once everything before it is delivered */
		shutdown(f->dst->fd, SHUT_WR);
		f->shut = true;
	}
	return 0;
}

static void relay(struct pc_session *s)
{
	uint64_t before = flow_bytes(&s->d2u) + flow_bytes(&s->u2d);
	int ret;

	ret = flow_pump(&s->d2u);
	if (ret == 0)
		ret = flow_pump(&s->u2d);
	if (ret < 0) {
		session_close(s, NULL, true); /* a reset from one side resets the other */
		return;
	}
	if (flow_bytes(&s->d2u) + flow_bytes(&s->u2d) != before)
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

	s->state = ST_RELAY;
	atomic_store_explicit(&s->view, VIEW_ESTABLISHED, memory_order_relaxed);
	pc_sock_local(s->up.fd, &s->upstream_local);
	if (s->w->cfg->access_on_open)
		log_record(s, PC_ACCESS_CONNECTED);
	pc_timer_stop(loop, &s->timer);
	s->last_activity = pc_loop_now(loop);
	if (s->cluster->idle_timeout_ms) {
		pc_timer_init(&s->timer, on_idle, s);
		pc_timer_start(loop, &s->timer, s->cluster->idle_timeout_ms);
	}
	relay(s);
}

static void on_io(struct pc_loop *loop, struct pc_io *io, uint32_t events)
{
	struct pc_session *s = io->data;
	int err;

	(void)events;
	if (s->state == ST_CONNECTING) {
		err = pc_sock_error(s->up.fd);
		if (err == 0 && (events & (PC_IO_WRITE | PC_IO_ERR)))
			start_relay(s);
		else if (err < 0) {
			if (s->sc)
				pc_counter_add(&s->sc->connect_fail, 1);
			session_close(s, "UF,URX", true);
		}
		return;
	}
	if (s->state == ST_RELAY)
		relay(s);
	(void)loop;
}

static void on_revoke(struct pc_loop *loop, struct pc_timer *t);

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
	default:
		return pc_cluster_pick_resolved(c, &s->upstream); /* resolver thread's answers */
	}
}

static void session_connect(struct pc_session *s)
{
	struct pc_loop *loop = s->w->loop;
	const struct pc_cluster *c = s->cluster;
	int fd;

	if (c->kind == PC_CLUSTER_BLACKHOLE) {
		/* denied: deny.c answers the client (or resets it) and records it */
		fd = s->down.fd;
		pc_io_stop(loop, &s->down, PC_IO_READ | PC_IO_WRITE);
		s->down.fd = -1;
		pc_deny_start(s->w, fd, &s->client, &s->orig_dst, s->snap);
		session_close(s, "UH", false);
		return;
	}
	if (!pick_upstream(s)) {
		session_close(s, "UH", true); /* no healthy upstream: reset at once */
		return;
	}
	if (c->max_connections != UINT32_MAX &&
	    pc_cluster_active(c) >= c->max_connections) {
		if (s->sc)
			pc_counter_add(&s->sc->overflow, 1);
		session_close(s, "UO", true);
		return;
	}
	fd = pc_sock_connect(&s->upstream);
	if (s->sc)
		pc_counter_add(&s->sc->cx_total, 1);
	if (fd < 0) {
		if (s->sc)
			pc_counter_add(&s->sc->connect_fail, 1);
		session_close(s, "UF,URX", true);
		return;
	}
	pc_cluster_active_add(c, 1);
	s->counted = true;
	if (s->sc) {
		pc_counter_add(&s->sc->cx_active, 1);
		s->series = series_of(s, NULL);
		if (s->series)
			pc_counter_add(&s->series->opened, 1);
	}
	pc_io_init(&s->up, fd, on_io, s);
	if (pc_io_start(loop, &s->up, PC_IO_WRITE) < 0) {
		session_close(s, NULL, true);
		return;
	}
	pc_timer_init(&s->timer, on_connect_timeout, s);
	pc_timer_start(loop, &s->timer, c->connect_timeout_ms);
	if (c->max_duration_ms)
		pc_timer_start(loop, &s->duration, c->max_duration_ms);
	if (s->w->cfg->access_flush_ms)
		pc_timer_start(loop, &s->flush, s->w->cfg->access_flush_ms);
}

static void link_session(struct pc_session *s)
{
	struct pc_worker *w = s->w;

	pthread_mutex_lock(&w->lock);
	s->next = w->sessions;
	if (w->sessions)
		w->sessions->prev = s;
	w->sessions = s;
	s->linked = true;
	pthread_mutex_unlock(&w->lock);
}

static void unlink_session(struct pc_session *s)
{
	struct pc_worker *w = s->w;

	if (!s->linked)
		return;
	pthread_mutex_lock(&w->lock);
	if (s->prev)
		s->prev->next = s->next;
	else
		w->sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->linked = false;
	pthread_mutex_unlock(&w->lock);
}

void pc_session_accept(struct pc_worker *w, int fd, const struct pc_addr *client)
{
	struct pc_session *s = pc_calloc(1, sizeof(*s));

	if (!s) {
		pc_sock_reset(fd); /* out of memory costs this connection only */
		return;
	}
	s->w = w;
	/* unique across workers: worker i hands out i+1, i+1+n, i+1+2n, ... */
	s->id = w->next_id++ * (w->cfg->nworkers ? w->cfg->nworkers : 1) + w->index + 1;
	atomic_init(&s->view, VIEW_CONNECTING);
	s->state = ST_CONNECTING;
	s->client = *client;
	s->start_mono = pc_loop_now(w->loop);
	s->start_wall = pc_wall_ms();
	s->d2u.pipe[0] = s->d2u.pipe[1] = s->u2d.pipe[0] = s->u2d.pipe[1] = -1;
	s->d2u.w = s->u2d.w = w;
	s->d2u.src = &s->down;
	s->d2u.dst = &s->up;
	s->u2d.src = &s->up;
	s->u2d.dst = &s->down;
	pc_io_init(&s->down, fd, on_io, s);
	pc_io_init(&s->up, -1, on_io, s);
	pc_timer_init(&s->timer, on_connect_timeout, s);
	pc_timer_init(&s->duration, on_duration, s);
	pc_timer_init(&s->revoke, on_revoke, s);
	pc_timer_init(&s->flush, on_flush, s);
	pc_defer_init(&s->reap, reap, s);
	if (w->cfg->stats) {
		pc_counter_add(&w->stats.downstream_total, 1);
		pc_counter_add(&w->stats.downstream_active, 1);
	}
	s->snap = pc_snapshot_ref(w->snap);
	pc_sock_nodelay(fd);
	if (pc_sock_original_dst(fd, &s->orig_dst) < 0) {
		/* not redirected: someone dialled the proxy port directly (loop guard) */
		pc_sock_local(fd, &s->orig_dst);
		s->cluster = &s->snap->clusters[PC_CLUSTER_BLACKHOLE_ID];
	} else {
		pc_addr_unmap(&s->orig_dst);
		s->cluster = pc_snapshot_classify(s->snap, &s->orig_dst);
	}
	if (w->cfg->stats) {
		s->sc = pc_stats_cluster(&w->stats, s->cluster->name, s->cluster->host,
					 s->cluster->ns);
		if (s->cluster->kind == PC_CLUSTER_BLACKHOLE)
			pc_counter_add(&w->stats.denied, 1);
	}
	session_connect(s);
	/* still open: the upstream is chosen, so the admin thread may see it now */
	if (s->state != ST_CLOSED)
		link_session(s);
}

static bool is_allowed(const struct pc_session *s, const struct pc_snapshot *snap)
{
	return pc_snapshot_classify(snap, &s->orig_dst)->kind != PC_CLUSTER_BLACKHOLE;
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
				atomic_store_explicit(&s->view,
						      s->state == ST_RELAY ? VIEW_ESTABLISHED
									   : VIEW_CONNECTING,
						      memory_order_relaxed);
			}
			continue;
		}
		denied++;
		if (pc_timer_is_active(&s->revoke))
			continue; /* already in its grace: keep the first deadline */
		if (!grace || pc_timer_start(w->loop, &s->revoke, grace) < 0)
			session_revoke(s);
		else
			atomic_store_explicit(&s->view, VIEW_REVOKING, memory_order_relaxed);
	}
	pc_log(denied ? PC_LOG_INFO : PC_LOG_DEBUG,
	       denied ? "policy change denies open connections" : "open connections re-checked",
	       "worker=%u generation=%" PRIu64 " sessions=%zu denied=%zu grace_ms=%" PRIu64
	       " took_us=%" PRIu64,
	       w->index, w->snap->generation, n, denied, grace, pc_mono_us() - t0);
}

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

static const char *view_name(unsigned v)
{
	static const char *const names[] = { "connecting", "established", "closing", "revoking" };

	return v < sizeof(names) / sizeof(names[0]) ? names[v] : "?";
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
			      view_name(atomic_load_explicit(&((struct pc_session *)s)->view,
							     memory_order_relaxed)),
			      flow_bytes(&s->d2u), flow_bytes(&s->u2d),
			      now_ms >= s->start_mono ? (double)(now_ms - s->start_mono) / 1000.0
						      : 0.0);
	}
	pthread_mutex_unlock(&w->lock);
}

void pc_session_close_all(struct pc_worker *w)
{
	while (w->sessions)
		session_close(w->sessions, NULL, true);
}

/*
 * End <s>: log it, close both sockets (with a RST when <reset>), release
 * the snapshot, and queue the memory for after this batch.
 */
static void session_close(struct pc_session *s, const char *flags, bool reset)
{
	struct pc_worker *w = s->w;
	struct linger lg = { 1, 0 };

	if (s->state == ST_CLOSED)
		return;
	if (flags)
		s->flags = flags;
	s->state = ST_CLOSED;
	atomic_store_explicit(&s->view, VIEW_CLOSING, memory_order_relaxed);
	count_close(s); /* before the record: whoever sees the record sees the counts */
	log_record(s, PC_ACCESS_END);
	pc_timer_stop(w->loop, &s->timer);
	pc_timer_stop(w->loop, &s->duration);
	pc_timer_stop(w->loop, &s->revoke);
	pc_timer_stop(w->loop, &s->flush);
	if (reset) {
		/* SO_LINGER 0 turns the close into a RST: clients fail fast */
		if (s->down.fd >= 0)
			setsockopt(s->down.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		if (s->up.fd >= 0)
			setsockopt(s->up.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	if (s->down.fd >= 0) /* -1: handed over (proxy/deny.c) */
		pc_io_close(w->loop, &s->down);
	if (s->up.fd >= 0)
		pc_io_close(w->loop, &s->up);
	close_pipe(&s->d2u);
	close_pipe(&s->u2d);
	if (s->counted)
		pc_cluster_active_add(s->cluster, -1);
	unlink_session(s); /* before the snapshot goes: readers use the cluster's name */
	pc_snapshot_unref(s->snap);
	s->snap = NULL;
	pc_loop_defer(w->loop, &s->reap);
	if (atomic_load(&w->draining) && !w->sessions)
		pc_loop_stop(w->loop); /* drained: the worker's thread can end */
}
