/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * proxy/deny.c - what a denied connection is answered, and the record of it.
 *
 * The connection itself is the session's DENYING stage (proxy/session.c,
 * doc/internals/session.md): it waits for the client's first bytes when
 * they decide, writes the answer, half-closes and drains. This file holds
 * what that stage needs and nothing that touches a socket: which answer
 * fits (pc_deny_choose(), pc_deny_server_first()), its bytes
 * (pc_deny_render() and the pieces below it), and the record of a denial.
 *
 * Each denial is recorded once, when its answer is chosen: pushed on the
 * process-wide ring /denials shows and, for the first denial of a
 * destination in RECENT_MS, logged at notice with the nearest ServiceEntry
 * (pc_snapshot_nearest()). Which destinations were logged lately is
 * process-wide too (RECENT_SLOTS, oldest replaced), so N workers do not log
 * one destination N times; a rate limit bounds the lines when many
 * destinations are denied at once. The "first lately" decision is taken
 * when the denial starts (pc_deny_note()), and the hint computed then is
 * kept with the destination, where the record finds it. The mutex guarding
 * this is taken two to four times per denial, for about a microsecond in
 * all (a scan of RECENT_SLOTS addresses): denials are not the data path.
 * The hint is computed outside the lock, and only for a line to be logged.
 */
#include "proxy/deny.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"
#include "model/rules.h"
#include "policy/snapshot.h"

#define HINT_MAX               256
#define RECENT_SLOTS           256
#define RECENT_MS              ((uint64_t)5 * 60 * 1000) /* log a destination again after 5 min */
#define MYSQL_PORT             3306
#define ER_HOST_NOT_PRIVILEGED 1130

#define REASON_NO_ENTRY "no ServiceEntry matches (outbound traffic policy REGISTRY_ONLY)"
#define REASON_LOOP     "the proxy port itself was dialled (loop guard)"

struct recent {
	struct pc_addr dst; /* with port; family 0: free slot */
	uint64_t name;      /* hash of the SNI or Host refused (0: none) */
	uint64_t until;     /* monotonic ms */
	char hint[HINT_MAX];
};

struct kept {
	uint64_t wall_ms;
	struct pc_addr client, dst;
	enum pc_deny_answer answer;
	char reason[HINT_MAX];
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

const char *pc_deny_reason(bool loop_guard)
{
	return loop_guard ? REASON_LOOP : REASON_NO_ENTRY;
}

static size_t clamp(int n, size_t cap)
{
	if (n < 0)
		return 0;
	return (size_t)n < cap ? (size_t)n : cap - 1;
}

size_t pc_deny_explain(char *out, size_t cap, const struct pc_deny_reply *r, uint16_t port,
		       bool loop_guard)
{
	const char *what = r && r->dns ? "DNS name" : r && r->tls ? "SNI" : "Host";
	int n;

	if (loop_guard || !r)
		return clamp(snprintf(out, cap, "%s", pc_deny_reason(loop_guard)), cap);
	if (r->status == 400 || r->status == 431)
		return clamp(snprintf(out, cap, "malformed HTTP request: %s",
				      r->detail ? r->detail : "-"),
			     cap);
	if (r->status == 421)
		return clamp(snprintf(out, cap,
				      "Host \"%s\" is allowed on port %u but routed to "
				      "another upstream than this connection's",
				      r->name ? r->name : "-", port),
			     cap);
	switch (r->cause) {
	case PC_CAUSE_NO_NAME:
		n = snprintf(out, cap, "%s names no server and port %u admits it by name only",
			     r->tls ? "the ClientHello (no SNI)"
				    : "the HTTP request (no Host name)",
			     port);
		break;
	case PC_CAUSE_UNNAMED:
		n = snprintf(out, cap,
			     "the first bytes are neither a TLS ClientHello nor an HTTP "
			     "request and port %u admits traffic by name only",
			     port);
		break;
	case PC_CAUSE_SILENT:
		n = snprintf(out, cap,
			     "the client sent nothing within the protocol detection "
			     "timeout and port %u admits traffic by name only",
			     port);
		break;
	case PC_CAUSE_H2:
		n = snprintf(out, cap,
			     "HTTP/2 with prior knowledge is not routed on port %u "
			     "(HTTP/1.x only)",
			     port);
		break;
	default:
		if (r->name)
			n = snprintf(out, cap,
				     "no ServiceEntry matches %s \"%s\" on port %u "
				     "(outbound traffic policy REGISTRY_ONLY)",
				     what, r->name, port);
		else
			n = snprintf(out, cap, "%s", REASON_NO_ENTRY);
		break;
	}
	return clamp(n, cap);
}

size_t pc_deny_sentence(char *out, size_t cap, const struct pc_addr *dst, bool loop_guard,
			const struct pc_deny_reply *r)
{
	char a[PC_ADDR_STRLEN], why[PC_DENY_OUT_MAX / 2];

	pc_deny_explain(why, sizeof(why), r, dst->port, loop_guard);
	return clamp(snprintf(out, cap, "portcullis: egress to %s denied: %s",
			      pc_addr_port_str(dst, a), why),
		     cap);
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

static const char *status_text(unsigned status)
{
	switch (status) {
	case 400:
		return "Bad Request";
	case 421:
		return "Misdirected Request";
	case 431:
		return "Request Header Fields Too Large";
	default:
		return "Forbidden";
	}
}

size_t pc_deny_http(char *out, size_t cap, unsigned status, const char *msg, bool head)
{
	size_t body = strlen(msg) + 1;
	int n;

	n = snprintf(out, cap,
		     "HTTP/1.1 %u %s\r\nContent-Type: text/plain\r\n"
		     "Content-Length: %zu\r\nConnection: close\r\n\r\n%s%s",
		     status, status_text(status), body, head ? "" : msg, head ? "" : "\n");
	return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

size_t pc_deny_http_403(char *out, size_t cap, const char *msg, bool head)
{
	return pc_deny_http(out, cap, 403, msg, head);
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

/* FNV-1a of a refused name; 0 for none. */
static uint64_t name_hash(const char *name)
{
	uint64_t h = 14695981039346656037ull;

	if (!name)
		return 0;
	for (; *name; name++)
		h = (h ^ (unsigned char)*name) * 1099511628211ull;
	return h | 1;
}

bool pc_deny_note(const struct pc_snapshot *snap, const struct pc_addr *dst, const char *name,
		  uint64_t now)
{
	struct recent *r, *slot = NULL;
	uint64_t nh = name_hash(name);
	char hint[HINT_MAX];
	size_t i;

	pthread_mutex_lock(&g.lock);
	for (i = 0; i < RECENT_SLOTS; i++) {
		r = &g.recent[i];
		if (same_dst(&r->dst, dst) && r->name == nh) {
			slot = r;
			break;
		}
		if (!slot || r->until < slot->until)
			slot = r; /* free slots have until 0: taken first */
	}
	if (same_dst(&slot->dst, dst) && slot->name == nh && slot->until > now) {
		pthread_mutex_unlock(&g.lock);
		return false;
	}
	slot->dst = *dst;
	slot->name = nh;
	slot->until = now + RECENT_MS;
	slot->hint[0] = '\0';
	pthread_mutex_unlock(&g.lock);

	hint_text(snap, dst, hint);

	pthread_mutex_lock(&g.lock);
	if (same_dst(&slot->dst, dst))
		memcpy(slot->hint, hint, HINT_MAX);
	pthread_mutex_unlock(&g.lock);
	return true;
}

/*
 * The hint kept with <dst> by pc_deny_note(); computed again from <snap>
 * only when its slot went to another destination meanwhile (more than
 * RECENT_SLOTS others denied while this one was being answered).
 */
static void hint_of(const struct pc_snapshot *snap, const struct pc_addr *dst, char *out)
{
	bool found = false;
	size_t i;

	pthread_mutex_lock(&g.lock);
	for (i = 0; i < RECENT_SLOTS && !found; i++) {
		if (same_dst(&g.recent[i].dst, dst)) {
			memcpy(out, g.recent[i].hint, HINT_MAX);
			found = true;
		}
	}
	pthread_mutex_unlock(&g.lock);
	if (!found)
		hint_text(snap, dst, out);
}

/* For a refused name: the nearest host a ServiceEntry admits on that port. */
static void name_hint(const struct pc_snapshot *snap, const struct pc_deny_reply *r, uint16_t port,
		      char *out)
{
	const char *near = pc_snapshot_nearest_name(snap, port, r->name);

	out[0] = '\0';
	if (near)
		snprintf(out, HINT_MAX, "port %u admits %s \"%s\"", port,
			 r->dns   ? "name"
			 : r->tls ? "SNI"
				  : "Host",
			 near);
}

void pc_deny_record(const struct pc_snapshot *snap, const struct pc_addr *client,
		    const struct pc_addr *dst, bool log, const struct pc_deny_reply *r,
		    uint64_t now)
{
	char cl[PC_ADDR_STRLEN], da[PC_ADDR_STRLEN], hint[HINT_MAX], reason[HINT_MAX];
	bool loop_guard = dst->port == snap->proxy_port;
	enum pc_deny_answer answer = r->answer;
	uint64_t suppressed = 0;
	struct kept *k;

	pc_deny_explain(reason, sizeof(reason), r, dst->port, loop_guard);
	if (!loop_guard && r->name) {
		hint[0] = '\0';
		if (log)
			name_hint(snap, r, dst->port,
				  hint); /* a scan of the clusters: logged lines only */
	} else {
		hint_of(snap, dst, hint);
	}
	pthread_mutex_lock(&g.lock);
	k = &g.ring[g.next];
	g.next = (g.next + 1) % PC_DENIALS_KEPT;
	if (g.n < PC_DENIALS_KEPT)
		g.n++;
	k->wall_ms = pc_wall_ms();
	k->client = *client;
	k->dst = *dst;
	k->answer = answer;
	memcpy(k->reason, reason, HINT_MAX);
	memcpy(k->hint, hint, HINT_MAX);
	if (log && pc_log_enabled(PC_LOG_NOTICE) && pc_log_ratelimit(&g.rl, now))
		suppressed = g.rl.suppressed;
	else
		log = false;
	pthread_mutex_unlock(&g.lock);
	if (!log)
		return;
	pc_addr_port_str(client, cl);
	pc_addr_port_str(dst, da);
	if (r->name && hint[0])
		pc_log_suppressed(PC_LOG_NOTICE, suppressed, "connection denied",
				  "client=%s dst=%s name=%s reason=%s response=%s hint=%s", cl, da,
				  r->name, reason, pc_deny_answer_name(answer), hint);
	else if (r->name)
		pc_log_suppressed(PC_LOG_NOTICE, suppressed, "connection denied",
				  "client=%s dst=%s name=%s reason=%s response=%s", cl, da, r->name,
				  reason, pc_deny_answer_name(answer));
	else if (hint[0])
		pc_log_suppressed(PC_LOG_NOTICE, suppressed, "connection denied",
				  "client=%s dst=%s reason=%s response=%s hint=%s", cl, da, reason,
				  pc_deny_answer_name(answer), hint);
	else
		pc_log_suppressed(PC_LOG_NOTICE, suppressed, "connection denied",
				  "client=%s dst=%s reason=%s response=%s", cl, da, reason,
				  pc_deny_answer_name(answer));
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
		const char *reason = k->reason;

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

/* -- choosing the answer ----------------------------------------------------- */

bool pc_deny_server_first(const struct pc_snapshot *snap, uint16_t port)
{
	return port == MYSQL_PORT || pc_snapshot_port_declares(snap, port, PC_PROTO_MYSQL);
}

enum pc_sniff pc_deny_choose(struct pc_deny_reply *r, const uint8_t *p, size_t n)
{
	enum pc_sniff kind = pc_sniff_kind(p, n);

	memset(r, 0, sizeof(*r));
	r->answer = PC_ANSWER_RESET;
	if (kind == PC_SNIFF_TLS) {
		r->answer = PC_ANSWER_TLS;
		r->tls_major = p[1]; /* the alert goes in the client's record version */
		r->tls_minor = p[2];
	} else if (kind == PC_SNIFF_HTTP) {
		r->answer = PC_ANSWER_HTTP;
		r->head = n >= 5 && memcmp(p, "HEAD ", 5) == 0;
	}
	return kind;
}

size_t pc_deny_render(const struct pc_deny_reply *r, const struct pc_addr *dst, bool loop_guard,
		      char out[PC_DENY_OUT_MAX])
{
	char msg[PC_DENY_OUT_MAX - 8], a[PC_ADDR_STRLEN];

	switch (r->answer) {
	case PC_ANSWER_MYSQL:
		pc_deny_sentence(msg, sizeof(msg), dst, false, NULL);
		return pc_deny_mysql_err((uint8_t *)out, PC_DENY_OUT_MAX, msg);
	case PC_ANSWER_TLS:
		return pc_deny_tls_alert((uint8_t *)out, r->tls_major, r->tls_minor);
	case PC_ANSWER_HTTP:
		if (r->status == 400 || r->status == 431)
			snprintf(msg, PC_DENY_OUT_MAX / 2, "portcullis: request to %s refused: %s",
				 pc_addr_port_str(dst, a), r->detail ? r->detail : "malformed");
		else if (r->status == 421)
			snprintf(msg, PC_DENY_OUT_MAX / 2,
				 "portcullis: Host \"%s\" is allowed but is "
				 "not served by this connection's upstream: send it on a new "
				 "connection",
				 r->name ? r->name : "-");
		else
			pc_deny_sentence(msg, PC_DENY_OUT_MAX / 2, dst, loop_guard, r);
		return pc_deny_http(out, PC_DENY_OUT_MAX, r->status ? r->status : 403, msg,
				    r->head);
	default:
		return 0;
	}
}
