/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cli/top_view.c - the frames of `portcullis top`, from the admin answers.
 *
 * A frame is built line by line in a struct screen that cuts each line to
 * the width (counting UTF-8 characters, not bytes) and drops lines once the
 * height is used up. The header comes first; then the destinations table
 * gets the room left, less up to half of it kept for the denials, and the
 * denials get what remains. Tables are laid out by the one tabwriter (cli/table.h): when a
 * table would be wider than the frame, the destinations lose their
 * NAMESPACE and CLUSTER columns, and the denials put their reason and hint
 * on lines of their own. Text from the daemon that is not a table cell is
 * sanitized with pc_term_safe() before it reaches the terminal.
 *
 * Rates compare a cluster's byte counters in the current and the previous
 * sample, over the change of the daemon's uptime (its own clock times its
 * counters best), else of our monotonic clock; a counter that went down
 * means a restarted daemon, and gives no rate.
 */
#include "cli/top_view.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/client.h"
#include "cli/format.h"
#include "cli/table.h"
#include "cli/term.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "model/node.h"

#define PLAIN_DENIALS 10   /* denials in a plain snapshot */
#define BIG           1e15 /* doubles beyond this are not cast to integers */
#define DEST_COLS     10
#define DENIAL_COLS   5
#define MIN_REASON    30 /* columns the REASON column needs, else reasons go below */

/* The frame being built: lines cut to <width>, at most <rows> of them (0: no limit). */
struct screen {
	struct pc_buf *b;
	size_t width, rows, used;
	bool tty;
};

/* A destination row: the cluster and its rates. */
struct dest {
	const struct pc_node *cl;
	const char *name;
	double rx_rate, tx_rate, active, total;
	bool has_rate;
};

/* -- the answers -------------------------------------------------------------- */

int pc_top_sample_parse(struct pc_top_sample *s)
{
	const struct pc_node *cl = pc_node_get(s->r.root, "clusters");

	if (cl && cl->type != PC_NODE_SEQ && !pc_node_is_null(cl))
		return -EBADMSG;
	s->clusters = cl && cl->type == PC_NODE_SEQ ? cl : NULL;
	if (!pc_client_num(s->r.root, "uptime_seconds", &s->uptime) || s->uptime < 0)
		s->uptime = -1;
	return 0;
}

void pc_top_sample_release(struct pc_top_sample *s)
{
	pc_response_release(&s->r);
	memset(s, 0, sizeof(*s));
}

int pc_top_view_update(struct pc_top_view *v, struct pc_top_sample *s, struct pc_response *denials)
{
	const struct pc_node *list = pc_node_get(denials->root, "denials");

	if (!list || list->type != PC_NODE_SEQ)
		return -EBADMSG;
	pc_top_sample_release(&v->prev);
	v->prev = v->cur;
	v->cur = *s;
	memset(s, 0, sizeof(*s));
	pc_response_release(&v->denials);
	v->denials = *denials;
	memset(denials, 0, sizeof(*denials));
	v->dlist = list;
	v->error[0] = '\0';
	return 0;
}

void pc_top_view_release(struct pc_top_view *v)
{
	pc_top_sample_release(&v->cur);
	pc_top_sample_release(&v->prev);
	pc_response_release(&v->denials);
	v->dlist = NULL;
}

/* -- the frame ---------------------------------------------------------------- */

static bool screen_full(const struct screen *s)
{
	return s->rows && s->used >= s->rows;
}

/* Add one line (no '\n' in it) cut to the width; nothing once the screen is full. */
static void screen_line(struct screen *s, const char *text, size_t len)
{
	size_t i, n = 0;

	if (screen_full(s))
		return;
	if (s->width) {
		for (i = 0; i < len; i++) {
			if (((unsigned char)text[i] & 0xc0) != 0x80 && n++ == s->width)
				break;
		}
		len = i;
	}
	if (s->tty && s->used)
		pc_buf_adds(s->b, "\n");
	pc_buf_add(s->b, text, len);
	if (s->tty)
		pc_buf_adds(s->b, "\033[K"); /* erase what the previous frame left */
	else
		pc_buf_addc(s->b, '\n');
	s->used++;
}

/* Add every line of <text> (each ending in '\n'). */
static void screen_text(struct screen *s, const char *text)
{
	const char *nl;

	while (*text && (nl = strchr(text, '\n')) != NULL) {
		screen_line(s, text, (size_t)(nl - text));
		text = nl + 1;
	}
}

static void __attribute__((format(printf, 2, 3)))
screen_printf(struct screen *s, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	pc_utf8_trim(line);
	screen_line(s, line, strlen(line));
}

/* A count as text, "-" when absent. */
static const char *count(char *out, size_t size, const struct pc_node *map, const char *key)
{
	double n;

	if (!pc_client_num(map, key, &n))
		return "-";
	snprintf(out, size, "%.0f", n);
	return out;
}

/* The datagrams of family <fam> ("ipv4") that the fence dropped, as text, "-" when absent. */
static const char *family_drops(char *out, size_t size, const struct pc_node *dg, const char *fam)
{
	static const char *const protos[] = { "udp", "udplite", "icmp", "sctp", "other" };
	const struct pc_node *f = pc_node_get(dg, fam);
	double n, sum = 0;
	size_t i;

	for (i = 0; i < sizeof(protos) / sizeof(protos[0]); i++) {
		if (!pc_client_num(f, protos[i], &n))
			return "-";
		sum += n;
	}
	snprintf(out, size, "%.0f", sum);
	return out;
}

/*
 * The fence's line (daemon/netfilter.h), only when the daemon reports its
 * counters: without `portcullis iptables`, there is nothing to show.
 */
static void fence_line(const struct pc_top_view *v, struct screen *s)
{
	const struct pc_node *dg = pc_node_get(v->cur.r.root, "denied_datagrams");
	char total[32], v4[32], v6[32];

	if (!dg || dg->type != PC_NODE_MAP)
		return;
	screen_printf(s, "fence: denied datagrams %s (IPv4 %s, IPv6 %s)",
		      count(total, sizeof(total), dg, "total"),
		      family_drops(v4, sizeof(v4), dg, "ipv4"),
		      family_drops(v6, sizeof(v6), dg, "ipv6"));
}

static void header(const struct pc_top_view *v, struct screen *s)
{
	const struct pc_node *root = v->cur.r.root, *l = pc_node_get(root, "listener");
	const struct pc_node *gen = pc_node_get(root, "policy_generation");
	char up[32], g[32], total[32], active[32], denied[32], revoked[32];

	if (v->cur.uptime >= 0)
		pc_format_duration(up, sizeof(up), (long long)fmin(v->cur.uptime, BIG));
	else
		snprintf(up, sizeof(up), "-");
	/* Digits only: the generation is a number, and this line is not sanitized. */
	snprintf(g, sizeof(g), "%s",
		 gen && gen->type == PC_NODE_SCALAR && gen->str[0] &&
				 strspn(gen->str, "0123456789") == strlen(gen->str)
			 ? gen->str
			 : "-");
	screen_printf(s,
		      "portcullis top - %s - up %s, policy generation %s, connections %s "
		      "(%s active), denied %s, revoked %s",
		      v->addr, up, g, count(total, sizeof(total), l, "downstream_cx_total"),
		      count(active, sizeof(active), l, "downstream_cx_active"),
		      count(denied, sizeof(denied), l, "denied"),
		      count(revoked, sizeof(revoked), l, "revoked"));
	fence_line(v, s);
	if (v->error[0])
		screen_printf(s, "error: %s", v->error);
}

static const struct pc_node *find_cluster(const struct pc_node *seq, const char *name)
{
	size_t i;

	for (i = 0; seq && name && i < seq->nitems; i++)
		if (pc_node_is(pc_node_get(seq->items[i], "name"), name))
			return seq->items[i];
	return NULL;
}

static void set_rate(const struct pc_top_view *v, struct dest *d)
{
	const struct pc_node *old = find_cluster(v->prev.clusters, d->name);
	double rx, tx, orx, otx, dt;

	if (!old || !pc_client_num(d->cl, "rx_bytes", &rx) ||
	    !pc_client_num(d->cl, "tx_bytes", &tx) || !pc_client_num(old, "rx_bytes", &orx) ||
	    !pc_client_num(old, "tx_bytes", &otx))
		return;
	/* The daemon's clock times its counters best; ours when it gives none. */
	if (v->cur.uptime >= 0 && v->prev.uptime >= 0)
		dt = v->cur.uptime - v->prev.uptime;
	else
		dt = v->cur.mono - v->prev.mono;
	if (!(dt > 0) || rx < orx || tx < otx) /* a restarted daemon starts from 0 */
		return;
	d->rx_rate = (rx - orx) / dt;
	d->tx_rate = (tx - otx) / dt;
	d->has_rate = true;
}

/* Busiest first: bytes per second, then active and allowed connections, then name. */
static int by_load(const void *a, const void *b)
{
	const struct dest *x = a, *y = b;
	double rx = x->rx_rate + x->tx_rate, ry = y->rx_rate + y->tx_rate;

	if (rx != ry)
		return rx > ry ? -1 : 1;
	if (x->active != y->active)
		return x->active > y->active ? -1 : 1;
	if (x->total != y->total)
		return x->total > y->total ? -1 : 1;
	return strcmp(x->name ? x->name : "", y->name ? y->name : "");
}

/* The destinations with a mapping each, sorted; <*n> of them. The caller frees it. */
static struct dest *collect(const struct pc_top_view *v, size_t *n)
{
	const struct pc_node *seq = v->cur.clusters;
	struct dest *d = pc_xmalloc((seq && seq->nitems ? seq->nitems : 1) * sizeof(*d));
	size_t i;

	*n = 0;
	for (i = 0; seq && i < seq->nitems; i++) {
		struct dest *x = &d[*n];

		if (seq->items[i]->type != PC_NODE_MAP)
			continue;
		memset(x, 0, sizeof(*x));
		x->cl = seq->items[i];
		x->name = pc_client_str(x->cl, "name");
		if (!pc_client_num(x->cl, "upstream_cx_active", &x->active))
			x->active = 0;
		if (!pc_client_num(x->cl, "upstream_cx_total", &x->total))
			x->total = 0;
		set_rate(v, x);
		(*n)++;
	}
	qsort(d, *n, sizeof(*d), by_load);
	return d;
}

/* Add <cells> to <g>, without NAMESPACE and CLUSTER when <narrow>. */
static void add_dest_cells(struct pc_table *g, const char *const *cells, bool narrow)
{
	const char *keep[DEST_COLS];
	size_t i, n = 0;

	for (i = 0; i < DEST_COLS; i++)
		if (!narrow || (i != 1 && i != 2))
			keep[n++] = cells[i];
	pc_table_add(g, keep);
}

static void add_dest(struct pc_table *g, const struct dest *d, bool narrow)
{
	char allowed[32], active[32], failed[32], rxr[32], txr[32], rx[32], tx[32];
	const char *svc = pc_client_str(d->cl, "service");
	const char *ns = pc_client_str(d->cl, "namespace");
	const char *cells[DEST_COLS];
	double f = 0, v, n;

	if (!svc || !*svc || strcmp(svc, "unknown") == 0)
		svc = d->name;
	if (pc_client_num(d->cl, "upstream_cx_connect_fail", &v))
		f += v;
	if (pc_client_num(d->cl, "upstream_cx_connect_timeout", &v))
		f += v;
	if (pc_client_num(d->cl, "upstream_cx_overflow", &v))
		f += v;
	snprintf(failed, sizeof(failed), "%.0f", fmin(f, BIG));
	pc_format_bytes(rxr, sizeof(rxr), d->has_rate ? d->rx_rate : -1);
	pc_format_bytes(txr, sizeof(txr), d->has_rate ? d->tx_rate : -1);
	pc_format_bytes(rx, sizeof(rx), pc_client_num(d->cl, "rx_bytes", &n) ? n : -1);
	pc_format_bytes(tx, sizeof(tx), pc_client_num(d->cl, "tx_bytes", &n) ? n : -1);
	cells[0] = svc ? svc : "-";
	cells[1] = ns && *ns ? ns : "-";
	cells[2] = d->name ? d->name : "-";
	cells[3] = count(allowed, sizeof(allowed), d->cl, "upstream_cx_total");
	cells[4] = count(active, sizeof(active), d->cl, "upstream_cx_active");
	cells[5] = failed;
	cells[6] = rxr;
	cells[7] = txr;
	cells[8] = rx;
	cells[9] = tx;
	add_dest_cells(g, cells, narrow);
}

/* The widest line of <text>, in characters. */
static size_t max_width(const char *text)
{
	size_t w = 0, n = 0;

	for (; *text; text++) {
		if (*text == '\n') {
			w = n > w ? n : w;
			n = 0;
		} else if (((unsigned char)*text & 0xc0) != 0x80) {
			n++;
		}
	}
	return n > w ? n : w;
}

/*
 * The destinations table, in at most <room> lines; without the NAMESPACE
 * and CLUSTER columns when it would not fit the width otherwise.
 */
static void destinations(const struct pc_top_view *v, struct screen *s, size_t room)
{
	static const char *const head[DEST_COLS] = { "DESTINATION", "NAMESPACE", "CLUSTER",
						     "ALLOWED",     "ACTIVE",    "FAILED",
						     "RX/S",        "TX/S",      "RX",
						     "TX" };
	struct pc_buf out = PC_BUF_INIT;
	struct pc_table g;
	size_t i, n, shown;
	struct dest *d = collect(v, &n);
	bool narrow = false;

	if (n == 0) {
		screen_printf(s, "No destinations");
		free(d);
		return;
	}
	shown = n + 1 <= room ? n : room >= 2 ? room - 2 : 0;
	for (;;) {
		pc_table_init(&g, narrow ? DEST_COLS - 2 : DEST_COLS);
		add_dest_cells(&g, head, narrow);
		for (i = 0; i < shown; i++)
			add_dest(&g, &d[i], narrow);
		pc_table_print(&g, &out, 0);
		if (narrow || !s->width || max_width(pc_buf_str(&out)) <= s->width)
			break;
		pc_table_release(&g);
		pc_buf_clear(&out);
		narrow = true;
	}
	screen_text(s, pc_buf_str(&out));
	if (shown < n)
		screen_printf(s, "... and %zu more destinations", n - shown);
	pc_buf_release(&out);
	pc_table_release(&g);
	free(d);
}

/* "HH:MM:SS" local time of an RFC 3339 timestamp, or the text itself. */
static const char *clock_cell(char *out, size_t size, const char *ts)
{
	struct tm tm;
	time_t when;

	if (!ts || !pc_format_parse_time(ts, &when) || !localtime_r(&when, &tm) ||
	    !strftime(out, size, "%H:%M:%S", &tm))
		return ts;
	return out;
}

static bool has_hint(const struct pc_node *den)
{
	const char *hint = pc_client_str(den, "hint");

	return hint && *hint;
}

/*
 * A denial's row; with <stacked> its reason and hint go on lines of their
 * own (a narrow terminal), else the reason is the last column and the hint
 * a row of its own under it.
 */
static void add_denial(struct pc_table *g, const struct pc_node *den, bool stacked)
{
	const char *hint = pc_client_str(den, "hint");
	const char *cells[DENIAL_COLS];
	struct pc_buf b = PC_BUF_INIT;
	char when[32];

	cells[0] = clock_cell(when, sizeof(when), pc_client_str(den, "time"));
	cells[1] = pc_client_str(den, "client");
	cells[2] = pc_client_str(den, "destination");
	cells[3] = pc_client_str(den, "response");
	cells[4] = pc_client_str(den, "reason");
	pc_table_add(g, cells);
	if (stacked || !has_hint(den))
		return;
	pc_buf_printf(&b, "hint: %s", hint);
	cells[0] = cells[1] = cells[2] = cells[3] = "";
	cells[4] = pc_buf_str(&b);
	pc_table_add(g, cells);
	pc_buf_release(&b);
}

/* Add "<prefix><text>" as one sanitized line. */
static void screen_safe(struct screen *s, const char *prefix, const char *text)
{
	char *safe = pc_term_safe(text ? text : "<none>", PC_TERM_CELL);

	screen_printf(s, "%s%s", prefix, safe);
	free(safe);
}

/* Print <g>'s lines; with <stacked>, each denial's reason and hint under its row. */
static void put_denials(struct screen *s, const struct pc_table *g,
			const struct pc_node *const *den, bool stacked)
{
	struct pc_buf out = PC_BUF_INIT;
	const char *line, *nl;
	size_t k = 0;

	pc_table_print(g, &out, 0);
	for (line = pc_buf_str(&out); (nl = strchr(line, '\n')) != NULL; line = nl + 1, k++) {
		screen_line(s, line, (size_t)(nl - line));
		if (!stacked || k == 0)
			continue;
		screen_safe(s, "    reason: ", pc_client_str(den[k - 1], "reason"));
		if (has_hint(den[k - 1]))
			screen_safe(s, "    hint: ", pc_client_str(den[k - 1], "hint"));
	}
	pc_buf_release(&out);
}

/*
 * The newest denials that fit (at most <max> in a plain snapshot), in
 * columns, or stacked when the terminal leaves the REASON column less than
 * MIN_REASON characters.
 */
static void denials(const struct pc_top_view *v, struct screen *s, size_t max)
{
	static const char *const head[DENIAL_COLS] = { "DENIED AT", "CLIENT", "DESTINATION",
						       "RESPONSE", "REASON" };
	const struct pc_node *list = v->dlist, **den;
	size_t i, m = 0, lines = 1, need;
	struct pc_buf probe = PC_BUF_INIT;
	struct pc_table g;
	bool stacked = false;

	if (!list || list->nitems == 0) {
		screen_printf(s, "No denials");
		return;
	}
	/* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
	den = pc_xmalloc(list->nitems * sizeof(*den));
	for (i = list->nitems; i-- > 0 && m < max;)
		if (list->items[i]->type == PC_NODE_MAP)
			den[m++] = list->items[i];
	for (;;) {
		pc_table_init(&g, stacked ? DENIAL_COLS - 1 : DENIAL_COLS);
		pc_table_add(&g, head);
		for (i = 0; i < m; i++) {
			need = 1 + has_hint(den[i]) + stacked;
			if (s->rows && s->used + lines + need > s->rows)
				break;
			add_denial(&g, den[i], stacked);
			lines += need;
		}
		pc_table_print(&g, &probe, 0);
		if (stacked || !s->width ||
		    (size_t)(strstr(pc_buf_str(&probe), "REASON") - pc_buf_str(&probe)) +
				    MIN_REASON <=
			    s->width)
			break;
		pc_table_release(&g);
		pc_buf_clear(&probe);
		stacked = true;
		lines = 1;
	}
	put_denials(s, &g, den, stacked);
	pc_buf_release(&probe);
	pc_table_release(&g);
	free(den);
}

/* Lines the denials want: a blank, the header, and one or two per denial. */
static size_t denial_lines(const struct pc_top_view *v)
{
	size_t i, n = 2;

	for (i = 0; v->dlist && i < v->dlist->nitems; i++)
		n += 1 + has_hint(v->dlist->items[i]);
	return n;
}

void pc_top_view_frame(const struct pc_top_view *v, struct pc_buf *out, size_t width, size_t rows,
		       bool tty)
{
	struct screen sc = { out, width, rows, 0, tty };
	struct screen *s = &sc;
	size_t left, keep;

	header(v, s);
	screen_line(s, "", 0);
	left = s->rows ? s->rows - (s->used < s->rows ? s->used : s->rows) : SIZE_MAX;
	/* Destinations first, but leave the denials half the screen if they need it. */
	keep = denial_lines(v);
	if (keep > left / 2)
		keep = left / 2;
	destinations(v, s, left - keep);
	screen_line(s, "", 0);
	denials(v, s, s->tty ? SIZE_MAX : PLAIN_DENIALS);
}
