/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * proxy/deny.c - answer a denied connection in its client's protocol,
 * log it once per destination, keep it for /denials.
 *
 * A denial takes over the client socket from its session (the session
 * still writes its UH access-log record) and lives on the worker's loop in
 * three phases:
 *
 *   sniff  (not for MySQL, which is server-first) read the client's first
 *          bytes, at most PC_DENY_SNIFF_MAX of them, until pc_deny_sniff()
 *          decides or PC_DENY_SNIFF_MS pass; then a TLS alert, an HTTP
 *          403 or a reset. Two seconds: enough for any client that speaks
 *          first to have spoken, short enough that a server-first client
 *          we do not know is not kept waiting long;
 *   write  send the answer (a few hundred bytes: it fits in an empty
 *          socket buffer, but a full one is waited for, within the same
 *          two seconds), then shutdown(SHUT_WR): the FIN follows it;
 *   drain  read and discard what the client still sends until it closes,
 *          for at most PC_DENY_DRAIN_MS or PC_DENY_DRAIN_MAX bytes. Closing
 *          a socket with unread input sends a RST (RFC 1122 4.2.2.13,
 *          tcp_close()). The client's next send then fails (EPIPE,
 *          ECONNRESET), so a client still sending its request reports
 *          "connection reset" and never reads the answer; and some stacks
 *          (Windows) drop received but unread data when a RST comes.
 *
 * Each denial is recorded once, when its answer is chosen: pushed on the
 * process-wide ring /denials shows and, for the first denial of a
 * destination in RECENT_MS, logged at notice with the nearest ServiceEntry
 * (pc_snapshot_nearest()). Which destinations were logged lately is
 * process-wide too (RECENT_SLOTS, oldest replaced), so N workers do not log
 * one destination N times; a rate limit bounds the lines when many
 * destinations are denied at once. The mutex guarding this is taken two
 * to four times per denial, for about a microsecond in all (a scan of
 * RECENT_SLOTS addresses): denials are not the data path.
 * The hint is computed outside the lock, and only for a line to be logged.
 */
#include "proxy/deny.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/loop.h"
#include "model/rules.h"
#include "net/sock.h"
#include "policy/snapshot.h"
#include "proxy/worker.h"

#define HINT_MAX               256
#define OUT_MAX                512
#define RECENT_SLOTS           256
#define RECENT_MS              ((uint64_t)5 * 60 * 1000) /* log a destination again after 5 min */
#define MYSQL_PORT             3306
#define ER_HOST_NOT_PRIVILEGED 1130

#define REASON_NO_ENTRY "no ServiceEntry matches (outbound traffic policy REGISTRY_ONLY)"
#define REASON_LOOP     "the proxy port itself was dialled (loop guard)"

/* What is recorded about one denial. */
struct info {
	struct pc_addr client, dst;
	bool loop_guard;
	bool log;      /* the first denial of <dst> lately: log it */
	bool recorded; /* on the ring already */
	char hint[HINT_MAX];
};

enum phase {
	PH_SNIFF,
	PH_WRITE,
	PH_DRAIN,
};

struct pc_deny {
	struct pc_worker *w;
	struct pc_deny *prev, *next; /* w->denials */
	struct pc_io io;
	struct pc_timer timer;
	enum phase phase;
	struct info info;
	size_t inlen;
	uint8_t in[PC_DENY_SNIFF_MAX];
	size_t outlen, outoff;
	char out[OUT_MAX];
	size_t drained;
};

struct recent {
	struct pc_addr dst; /* with port; family 0: free slot */
	uint64_t until;     /* monotonic ms */
	char hint[HINT_MAX];
};

struct kept {
	uint64_t wall_ms;
	struct pc_addr client, dst;
	bool loop_guard;
	enum pc_deny_answer answer;
	char hint[HINT_MAX];
};

static struct {
	pthread_mutex_t lock;
	struct recent recent[RECENT_SLOTS];
	struct kept ring[PC_DENIALS_KEPT];
	size_t next; /* ring slot written next */
	size_t n;    /* denials kept, up to PC_DENIALS_KEPT */
	struct pc_ratelimit rl;
} g = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.rl = PC_RATELIMIT_INIT(1000, 20),
};

/* -- the answers ----------------------------------------------------------- */

const char *pc_deny_answer_name(enum pc_deny_answer a)
{
	switch (a) {
	case PC_ANSWER_MYSQL:
		return "mysql";
	case PC_ANSWER_TLS:
		return "tls";
	case PC_ANSWER_HTTP:
		return "http";
	default:
		return "reset";
	}
}

/* TLS record header (RFC 8446 5.1) and the handshake type that follows it. */
static enum pc_sniff sniff_tls(const uint8_t *p, size_t n)
{
	unsigned len;

	if (n < 2)
		return PC_SNIFF_MORE;
	if (p[1] != 0x03)
		return PC_SNIFF_OTHER;
	if (n < 3)
		return PC_SNIFF_MORE;
	if (p[2] > 0x04)
		return PC_SNIFF_OTHER;
	if (n < 5)
		return PC_SNIFF_MORE;
	len = (unsigned)p[3] << 8 | p[4];
	if (len < 4 || len > 16384 + 2048)
		return PC_SNIFF_OTHER;
	if (n < 6)
		return PC_SNIFF_MORE;
	return p[5] == 0x01 ? PC_SNIFF_TLS : PC_SNIFF_OTHER; /* client_hello */
}

enum pc_sniff pc_deny_sniff(const uint8_t *p, size_t n)
{
	static const char *const methods[] = { "GET ",     "HEAD ",  "POST ",    "PUT ",  "DELETE ",
					       "OPTIONS ", "PATCH ", "CONNECT ", "TRACE " };
	bool more = false;
	size_t i;

	if (n == 0)
		return PC_SNIFF_MORE;
	if (p[0] == 0x16)
		return sniff_tls(p, n);
	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		size_t len = strlen(methods[i]);

		if (memcmp(p, methods[i], n < len ? n : len) != 0)
			continue;
		if (n >= len)
			return PC_SNIFF_HTTP;
		more = true;
	}
	return more ? PC_SNIFF_MORE : PC_SNIFF_OTHER;
}

const char *pc_deny_reason(bool loop_guard)
{
	return loop_guard ? REASON_LOOP : REASON_NO_ENTRY;
}

size_t pc_deny_sentence(char *out, size_t cap, const struct pc_addr *dst, bool loop_guard)
{
	char a[PC_ADDR_STRLEN];
	int n;

	n = snprintf(out, cap, "portcullis: egress to %s denied: %s", pc_addr_port_str(dst, a),
		     pc_deny_reason(loop_guard));
	if (n < 0)
		return 0;
	return (size_t)n < cap ? (size_t)n : cap - 1;
}

/*
 * MySQL's ERR_Packet (Protocol::ERR_Packet of the client/server protocol
 * documentation). Before the handshake a server sends it without the
 * '#' + SQL-state marker (sql/sql_connect.cc, e.g. ER_HOST_NOT_PRIVILEGED),
 * and clients print HY000 for the state.
 */
size_t pc_deny_mysql_err(uint8_t *out, size_t cap, const char *msg)
{
	size_t n = strlen(msg), payload;

	if (n > cap - 7)
		n = cap - 7;
	payload = 3 + n;
	out[0] = (uint8_t)payload;
	out[1] = (uint8_t)(payload >> 8);
	out[2] = (uint8_t)(payload >> 16);
	out[3] = 0; /* sequence id */
	out[4] = 0xff;
	out[5] = ER_HOST_NOT_PRIVILEGED & 0xff;
	out[6] = ER_HOST_NOT_PRIVILEGED >> 8;
	memcpy(out + 7, msg, n);
	return 7 + n;
}

/* RFC 8446 6: ContentType alert (21), the client's record version, length 2, fatal, access_denied. */
size_t pc_deny_tls_alert(uint8_t out[PC_DENY_TLS_ALERT_LEN], uint8_t major, uint8_t minor)
{
	out[0] = 21;
	out[1] = major;
	out[2] = minor;
	out[3] = 0;
	out[4] = 2;
	out[5] = 2;  /* fatal */
	out[6] = 49; /* access_denied */
	return PC_DENY_TLS_ALERT_LEN;
}

size_t pc_deny_http_403(char *out, size_t cap, const char *msg, bool head)
{
	size_t body = strlen(msg) + 1;
	int n;

	n = snprintf(out, cap,
		     "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\n"
		     "Content-Length: %zu\r\nConnection: close\r\n\r\n%s%s",
		     body, head ? "" : msg, head ? "" : "\n");
	return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

/* -- recording ------------------------------------------------------------- */

static bool same_dst(const struct pc_addr *a, const struct pc_addr *b)
{
	return a->family && pc_addr_equal(a, b) && a->port == b->port;
}

/* "ServiceEntry ns/name allows 203.0.113.10/32 on port 3306", for both kinds of near miss. */
static void hint_text(const struct pc_snapshot *snap, const struct pc_addr *dst, char *out)
{
	const struct pc_near *v[2];
	struct pc_near port, addr;
	char a[PC_ADDR_STRLEN];
	size_t i, len = 0;
	int n;

	out[0] = '\0';
	pc_snapshot_nearest(snap, dst, &port, &addr);
	v[0] = &port;
	v[1] = &addr;
	for (i = 0; i < 2 && len < HINT_MAX; i++) {
		const struct pc_cluster *c = v[i]->cluster;

		if (!c)
			continue;
		n = snprintf(out + len, HINT_MAX - len,
			     "%sServiceEntry %s/%s allows %s/%u on port %u", len ? "; " : "",
			     c->ns ? c->ns : "-", c->se_name ? c->se_name : "-",
			     pc_addr_str(&v[i]->prefix.addr, a), v[i]->prefix.len, v[i]->port);
		if (n < 0)
			break;
		len += (size_t)n;
	}
}

/*
 * Decide whether <in> is the first denial of its destination lately; if so
 * reserve the destination, compute the hint and keep it with it, else take
 * the hint computed then.
 */
static void note(struct info *in, const struct pc_snapshot *snap, uint64_t now)
{
	struct recent *r, *slot = NULL;
	size_t i;

	pthread_mutex_lock(&g.lock);
	for (i = 0; i < RECENT_SLOTS; i++) {
		r = &g.recent[i];
		if (same_dst(&r->dst, &in->dst)) {
			slot = r;
			break;
		}
		if (!slot || r->until < slot->until)
			slot = r; /* free slots have until 0: taken first */
	}
	if (same_dst(&slot->dst, &in->dst) && slot->until > now) {
		memcpy(in->hint, slot->hint, HINT_MAX);
		pthread_mutex_unlock(&g.lock);
		return;
	}
	slot->dst = in->dst;
	slot->until = now + RECENT_MS;
	slot->hint[0] = '\0';
	pthread_mutex_unlock(&g.lock);

	in->log = true;
	hint_text(snap, &in->dst, in->hint);

	pthread_mutex_lock(&g.lock);
	if (same_dst(&slot->dst, &in->dst))
		memcpy(slot->hint, in->hint, HINT_MAX);
	pthread_mutex_unlock(&g.lock);
}

/* Keep <in> on the ring and log it if it is the first of its destination. */
static void record(struct info *in, enum pc_deny_answer answer, uint64_t now)
{
	char cl[PC_ADDR_STRLEN], dst[PC_ADDR_STRLEN];
	struct kept *k;
	uint64_t suppressed = 0;
	bool log = false;

	if (in->recorded)
		return;
	in->recorded = true;
	pthread_mutex_lock(&g.lock);
	k = &g.ring[g.next];
	g.next = (g.next + 1) % PC_DENIALS_KEPT;
	if (g.n < PC_DENIALS_KEPT)
		g.n++;
	k->wall_ms = pc_wall_ms();
	k->client = in->client;
	k->dst = in->dst;
	k->loop_guard = in->loop_guard;
	k->answer = answer;
	memcpy(k->hint, in->hint, HINT_MAX);
	if (in->log && pc_log_enabled(PC_LOG_NOTICE) && pc_log_ratelimit(&g.rl, now)) {
		log = true;
		suppressed = g.rl.suppressed;
	}
	pthread_mutex_unlock(&g.lock);
	if (!log)
		return;
	pc_addr_port_str(&in->client, cl);
	pc_addr_port_str(&in->dst, dst);
	if (in->hint[0])
		pc_log_suppressed(PC_LOG_NOTICE, suppressed, "connection denied",
				  "client=%s dst=%s reason=%s response=%s hint=%s", cl, dst,
				  pc_deny_reason(in->loop_guard), pc_deny_answer_name(answer),
				  in->hint);
	else
		pc_log_suppressed(PC_LOG_NOTICE, suppressed, "connection denied",
				  "client=%s dst=%s reason=%s response=%s", cl, dst,
				  pc_deny_reason(in->loop_guard), pc_deny_answer_name(answer));
}

void pc_denials_json(struct pc_buf *out)
{
	char a[PC_ADDR_STRLEN], ts[32];
	size_t i, first;

	pthread_mutex_lock(&g.lock);
	first = (g.next + PC_DENIALS_KEPT - g.n) % PC_DENIALS_KEPT;
	pc_buf_adds(out, "{\"denials\": [");
	for (i = 0; i < g.n; i++) {
		const struct kept *k = &g.ring[(first + i) % PC_DENIALS_KEPT];
		time_t sec = (time_t)(k->wall_ms / 1000);
		struct tm tm;
		const char *reason = pc_deny_reason(k->loop_guard);

		gmtime_r(&sec, &tm);
		strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
		pc_buf_printf(out, "%s{\"time\": \"%s.%03uZ\", \"client\": \"%s\"", i ? ", " : "",
			      ts, (unsigned)(k->wall_ms % 1000), pc_addr_port_str(&k->client, a));
		pc_buf_printf(out, ", \"destination\": \"%s\", \"reason\": ",
			      pc_addr_port_str(&k->dst, a));
		pc_buf_add_json_str(out, reason, strlen(reason));
		if (k->hint[0]) {
			pc_buf_adds(out, ", \"hint\": ");
			pc_buf_add_json_str(out, k->hint, strlen(k->hint));
		}
		pc_buf_printf(out, ", \"response\": \"%s\"}", pc_deny_answer_name(k->answer));
	}
	pc_buf_adds(out, "]}");
	pthread_mutex_unlock(&g.lock);
}

/* -- the connection -------------------------------------------------------- */

/* Record (as a reset unless recorded already) and close; <d> is freed. */
static void destroy(struct pc_deny *d, bool reset)
{
	struct pc_worker *w = d->w;
	struct linger lg = { 1, 0 };

	record(&d->info, PC_ANSWER_RESET, pc_loop_now(w->loop));
	pc_timer_stop(w->loop, &d->timer);
	if (reset)
		setsockopt(d->io.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)); /* close sends RST */
	pc_io_close(w->loop, &d->io);
	if (d->prev)
		d->prev->next = d->next;
	else
		w->denials = d->next;
	if (d->next)
		d->next->prev = d->prev;
	free(d);
}

/* Write what is left of the answer: 1 done, 0 wait for room, -errno. */
static int flush(struct pc_deny *d)
{
	ssize_t n;

	while (d->outoff < d->outlen) {
		n = send(d->io.fd, d->out + d->outoff, d->outlen - d->outoff, MSG_NOSIGNAL);
		if (n > 0) {
			d->outoff += (size_t)n;
			continue;
		}
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			return 0;
		return -errno;
	}
	return 1;
}

/* Push the answer out; once it is, half-close and start draining. */
static void write_answer(struct pc_deny *d)
{
	struct pc_loop *loop = d->w->loop;
	int ret = flush(d);

	if (ret < 0) {
		destroy(d, true);
		return;
	}
	if (ret == 0) {
		if (d->phase != PH_WRITE) {
			d->phase = PH_WRITE;
			if (pc_timer_start(loop, &d->timer, PC_DENY_SNIFF_MS) < 0) {
				destroy(d, true);
				return;
			}
		}
		if (pc_io_set(loop, &d->io, PC_IO_WRITE) < 0)
			destroy(d, true);
		return;
	}
	shutdown(d->io.fd, SHUT_WR); /* the FIN follows the answer */
	d->phase = PH_DRAIN;
	if (pc_io_set(loop, &d->io, PC_IO_READ) < 0 ||
	    pc_timer_start(loop, &d->timer, PC_DENY_DRAIN_MS) < 0)
		destroy(d, false);
}

/* Answer <d> with <a>, whose bytes (if any) are in d->out. */
static void answer(struct pc_deny *d, enum pc_deny_answer a)
{
	record(&d->info, a, pc_loop_now(d->w->loop));
	if (a == PC_ANSWER_RESET)
		destroy(d, true);
	else
		write_answer(d);
}

/* The client's first bytes decide. */
static void sniff(struct pc_deny *d, uint32_t events)
{
	char msg[OUT_MAX / 2];
	ssize_t n;

	n = recv(d->io.fd, d->in + d->inlen, sizeof(d->in) - d->inlen, 0);
	if (n == -1 && (errno == EAGAIN || errno == EINTR)) {
		if (events & PC_IO_ERR)
			answer(d, PC_ANSWER_RESET);
		return;
	}
	if (n <= 0) {
		answer(d, PC_ANSWER_RESET); /* EOF or an error before anything we know */
		return;
	}
	d->inlen += (size_t)n;
	switch (pc_deny_sniff(d->in, d->inlen)) {
	case PC_SNIFF_MORE:
		if (d->inlen < sizeof(d->in))
			return;
		answer(d, PC_ANSWER_RESET); /* cannot happen: nothing needs this many */
		return;
	case PC_SNIFF_TLS:
		d->outlen = pc_deny_tls_alert((uint8_t *)d->out, d->in[1], d->in[2]);
		answer(d, PC_ANSWER_TLS);
		return;
	case PC_SNIFF_HTTP:
		pc_deny_sentence(msg, sizeof(msg), &d->info.dst, d->info.loop_guard);
		d->outlen = pc_deny_http_403(d->out, sizeof(d->out), msg,
					     memcmp(d->in, "HEAD ", 5) == 0);
		answer(d, d->outlen ? PC_ANSWER_HTTP : PC_ANSWER_RESET);
		return;
	default:
		answer(d, PC_ANSWER_RESET);
		return;
	}
}

/* Discard the client's input until it closes; see the file comment. */
static void drain(struct pc_deny *d, uint32_t events)
{
	char buf[4096];
	ssize_t n;
	int i;

	for (i = 0; i < 4; i++) {
		n = recv(d->io.fd, buf, sizeof(buf), 0);
		if (n > 0) {
			d->drained += (size_t)n;
			if (d->drained > PC_DENY_DRAIN_MAX)
				break;
			continue;
		}
		if (n == -1 && (errno == EAGAIN || errno == EINTR) && !(events & PC_IO_ERR))
			return;
		break; /* EOF, an error, or a hang-up with nothing left to read */
	}
	if (i < 4)
		destroy(d, false);
}

static void on_io(struct pc_loop *loop, struct pc_io *io, uint32_t events)
{
	struct pc_deny *d = io->data;

	(void)loop;
	switch (d->phase) {
	case PH_SNIFF:
		sniff(d, events);
		break;
	case PH_WRITE:
		write_answer(d);
		break;
	case PH_DRAIN:
		drain(d, events);
		break;
	}
}

static void on_timer(struct pc_loop *loop, struct pc_timer *t)
{
	struct pc_deny *d = t->data;

	(void)loop;
	switch (d->phase) {
	case PH_SNIFF:
		answer(d, PC_ANSWER_RESET); /* nothing recognisable in time */
		break;
	case PH_WRITE:
		destroy(d, true); /* the client does not read */
		break;
	case PH_DRAIN:
		destroy(d, false);
		break;
	}
}

static bool is_mysql_port(const struct pc_snapshot *snap, uint16_t port)
{
	return port == MYSQL_PORT || pc_snapshot_port_declares(snap, port, PC_PROTO_MYSQL);
}

void pc_deny_start(struct pc_worker *w, int fd, const struct pc_addr *client,
		   const struct pc_addr *dst, const struct pc_snapshot *snap)
{
	uint64_t now = pc_loop_now(w->loop);
	struct info in = { .client = *client, .dst = *dst };
	struct pc_deny *d = NULL;

	in.loop_guard = dst->port == snap->proxy_port;
	note(&in, snap, now);
	if (w->cfg->deny_response != PC_DENY_RESET)
		d = pc_calloc(1, sizeof(*d));
	if (!d) {
		record(&in, PC_ANSWER_RESET, now); /* as asked, or out of memory */
		pc_sock_reset(fd);
		return;
	}
	d->w = w;
	d->info = in;
	pc_io_init(&d->io, fd, on_io, d);
	pc_timer_init(&d->timer, on_timer, d);
	d->next = w->denials;
	if (w->denials)
		w->denials->prev = d;
	w->denials = d;

	if (!in.loop_guard && is_mysql_port(snap, dst->port)) {
		char msg[OUT_MAX - 8];

		pc_deny_sentence(msg, sizeof(msg), dst, false);
		d->outlen = pc_deny_mysql_err((uint8_t *)d->out, sizeof(d->out), msg);
		answer(d, PC_ANSWER_MYSQL); /* the server speaks first */
		return;
	}
	d->phase = PH_SNIFF;
	if (pc_io_set(w->loop, &d->io, PC_IO_READ) < 0 ||
	    pc_timer_start(w->loop, &d->timer, PC_DENY_SNIFF_MS) < 0)
		answer(d, PC_ANSWER_RESET);
}

/* Destroying one unlinks only that one, so <next> stays valid. */
void pc_deny_close_all(struct pc_worker *w)
{
	struct pc_deny *d, *next;

	for (d = w->denials; d; d = next) {
		next = d->next;
		destroy(d, d->phase != PH_DRAIN); /* an answer not yet out: reset */
	}
}
