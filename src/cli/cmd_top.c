/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cli/cmd_top.c - `portcullis top`: a live view of the running proxy.
 *
 * Every -d seconds, GET /stats?format=json and GET /denials from the admin
 * endpoint of `portcullis run` (doc/admin.md). A frame shows a header line
 * (uptime, policy generation, connections, denials), one row per cluster
 * (connections allowed, active and failed; bytes per second, from the
 * change of the byte counters since the previous refresh over the change
 * of the daemon's uptime; bytes so far), and the newest denials with their
 * reason and, on a line of its own, the hint.
 *
 * On a terminal the frame is redrawn in place with plain VT100/ANSI
 * sequences: the alternate screen, cursor home, erase to the end of each
 * line and of the screen. ncurses would buy nothing here: the frame is a
 * few lines redrawn whole, which these sequences do on every terminal
 * emulator in use, and plain text keeps the output testable byte for byte.
 * Lines are cut to the window (TIOCGWINSZ, asked again on SIGWINCH). Keys
 * are read with stdin in non-canonical, no-echo mode (termios): 'q' quits,
 * space refreshes now. The terminal is restored on every way out: a normal
 * exit, SIGINT, SIGTERM and SIGHUP (whose handlers restore it and then let
 * the signal kill us, as the shell expects), and SIGTSTP (restored while
 * stopped, set up again on SIGCONT).
 *
 * When stdout is not a terminal, or with --once, frames are printed whole
 * as plain text, separated by blank lines, like top -b.
 */
#include "cli/cmd.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cli/client.h"
#include "cli/table.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "model/node.h"

static const char usage[] =
	"Usage: portcullis top [--admin ADDR] [-d SECONDS] [-n ITERATIONS] [--once]\n"
	"\n"
	"A live view of the running proxy (portcullis run), like top(1), from its\n"
	"admin endpoint (GET /stats?format=json and /denials), refreshed every -d\n"
	"seconds:\n"
	"\n"
	"  - a header: uptime, policy generation, connections accepted and active,\n"
	"    connections denied and revoked;\n"
	"  - one row per destination (cluster): connections ALLOWED, ACTIVE and\n"
	"    FAILED (connect failures, timeouts, overflows), RX/S and TX/S, bytes\n"
	"    per second received from and sent to the apps since the previous\n"
	"    refresh (\"-\" on the first), and RX and TX so far; busiest first;\n"
	"  - the newest denials first, with their reason and the hint of the\n"
	"    nearest ServiceEntry, as many as fit.\n"
	"\n"
	"Keys: q quits, space refreshes now. When stdout is not a terminal, each\n"
	"refresh prints a plain snapshot (with the 10 newest denials), snapshots\n"
	"separated by a blank line.\n"
	"\n"
	"Options:\n"
	"  -d, --delay SECONDS       time between refreshes (default 2, at least 0.1)\n"
	"  -n, --iterations N        stop after N refreshes (default: until q)\n"
	"      --once                print one snapshot and exit\n"
	"      --admin ADDR          the admin endpoint of portcullis run: HOST:PORT or\n"
	"                            http://HOST:PORT (default: $PORTCULLIS_ADMIN, else\n"
	"                            127.0.0.1:15000)\n"
	"  -h, --help                show this help\n"
	"\n"
	"Exit status: 0 success, 1 failure (admin endpoint unreachable, unexpected\n"
	"answer; once the view runs, such failures are shown in it and retried), 2\n"
	"usage error.\n";

#define DEFAULT_DELAY 2.0
#define MIN_DELAY     0.1
#define MAX_DELAY     86400.0
#define PLAIN_DENIALS 10 /* denials in a plain snapshot */
#define DEFAULT_COLS  80
#define DEFAULT_ROWS  24
#define BIG           1e15 /* doubles beyond this are not cast to integers */
#define DEST_COLS     10
#define DENIAL_COLS   5
#define MIN_REASON    30 /* columns the REASON column needs, else reasons go below */

/* Alternate screen and hidden cursor; then back (cursor shown, main screen). */
#define SCREEN_ENTER "\033[?1049h\033[?25l"
#define SCREEN_LEAVE "\033[?25h\033[?1049l"

#define usage_error(...) pc_cli_usage_error("top", __VA_ARGS__)

struct topts {
	const char *admin;
	double delay;
	long iterations; /* 0: until q */
	bool once;
};

/* One answer of /stats?format=json. */
struct sample {
	struct pc_response r;
	const struct pc_node *clusters; /* a sequence, or NULL */
	double uptime;                  /* -1 when unknown */
	double mono;                    /* when it came, CLOCK_MONOTONIC seconds */
};

struct top {
	const struct topts *o;
	struct pc_client *c;
	struct sample cur, prev; /* prev.r.root is NULL before a second sample */
	struct pc_response denials;
	const struct pc_node *dlist; /* the denials, oldest first */
	char error[512];             /* why the last refresh failed, or "" */
};

/* The frame being built: lines cut to <width>, at most <rows> of them (0: no limit). */
struct screen {
	struct pc_buf b;
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

/* -- the terminal (async-signal-safe parts) --------------------------------- */

static struct termios saved_tio;
static volatile sig_atomic_t raw_on;    /* stdin is in our mode */
static volatile sig_atomic_t screen_on; /* the alternate screen is shown */
static volatile sig_atomic_t resized;   /* SIGWINCH or SIGCONT: redraw */
static bool want_raw;                   /* stdin is a terminal we read keys from */

static void put_seq(const char *s, size_t n)
{
	while (n) {
		ssize_t w = write(STDOUT_FILENO, s, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

/* Safe in a signal handler: write(2) and tcsetattr(3) only. */
static void term_restore(void)
{
	if (screen_on) {
		screen_on = 0;
		put_seq(SCREEN_LEAVE, sizeof(SCREEN_LEAVE) - 1);
	}
	if (raw_on) {
		raw_on = 0;
		tcsetattr(STDIN_FILENO, TCSADRAIN, &saved_tio);
	}
}

static void term_setup(void)
{
	struct termios tio = saved_tio;

	if (want_raw) {
		/* Keys one by one, not echoed; ^C and ^Z still signal (ISIG). */
		tio.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
		tio.c_cc[VMIN] = 1;
		tio.c_cc[VTIME] = 0;
		if (tcsetattr(STDIN_FILENO, TCSADRAIN, &tio) == 0)
			raw_on = 1;
	}
	put_seq(SCREEN_ENTER, sizeof(SCREEN_ENTER) - 1);
	screen_on = 1;
}

static void on_winch(int sig)
{
	(void)sig;
	resized = 1;
}

/* SIGINT, SIGTERM, SIGHUP: restore, then die by the signal once the handler returns. */
static void on_fatal(int sig)
{
	int saved_errno = errno;

	term_restore();
	signal(sig, SIG_DFL);
	raise(sig); /* blocked until we return */
	errno = saved_errno;
}

static void on_tstp(int sig)
{
	int saved_errno = errno;
	struct sigaction sa;
	sigset_t set;

	term_restore();
	signal(sig, SIG_DFL);
	sigemptyset(&set);
	sigaddset(&set, sig);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	raise(sig); /* stops here until SIGCONT */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_tstp;
	sigemptyset(&sa.sa_mask);
	sigaction(sig, &sa, NULL);
	term_setup();
	resized = 1;
	errno = saved_errno;
}

static void handle(int sig, void (*fn)(int))
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = fn;
	sigemptyset(&sa.sa_mask);
	sigaction(sig, &sa, NULL);
}

static void term_enter(void)
{
	want_raw = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved_tio) == 0;
	handle(SIGINT, on_fatal);
	handle(SIGTERM, on_fatal);
	handle(SIGHUP, on_fatal);
	handle(SIGTSTP, on_tstp);
	handle(SIGWINCH, on_winch);
	term_setup();
}

static void term_leave(void)
{
	sigset_t set, old;

	/* No handler may run between the check of a flag and its clearing. */
	sigemptyset(&set);
	sigaddset(&set, SIGTSTP);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, &old);
	term_restore();
	signal(SIGTSTP, SIG_DFL);
	sigprocmask(SIG_SETMASK, &old, NULL);
}

/* -- options ------------------------------------------------------------------ */

static int parse_delay(const char *s, double *out)
{
	char *end;
	double d;

	errno = 0;
	d = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(d) || d < MIN_DELAY || d > MAX_DELAY)
		return usage_error("invalid delay \"%s\" (seconds, from 0.1 to 86400)", s);
	*out = d;
	return -1;
}

static int parse_iterations(const char *s, long *out)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(s, &end, 10);
	if (errno || end == s || *end || n < 1)
		return usage_error(
			"invalid number of iterations \"%s\" (a whole number, 1 or more)", s);
	*out = n;
	return -1;
}

/* Fill <o> from argv. Returns -1 to go on, or the exit status to return now. */
static int parse_args(int argc, char **argv, struct topts *o)
{
	static const struct option opts[] = {
		{ "delay", required_argument, NULL, 'd' },
		{ "iterations", required_argument, NULL, 'n' },
		{ "once", no_argument, NULL, '1' },
		{ "admin", required_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c, ret = -1;

	optind = 0;
	opterr = 0;
	while (ret < 0 && (c = getopt_long(argc, argv, "d:n:h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			ret = parse_delay(optarg, &o->delay);
			break;
		case 'n':
			ret = parse_iterations(optarg, &o->iterations);
			break;
		case '1':
			o->once = true;
			break;
		case 'a':
			o->admin = optarg;
			break;
		case 'h':
			fputs(usage, stdout);
			return PC_EXIT_OK;
		default:
			return pc_cli_bad_option("top", argv, "dn");
		}
	}
	if (ret < 0 && optind < argc)
		return usage_error("unexpected argument \"%s\"", argv[optind]);
	return ret;
}

/* -- fetching ----------------------------------------------------------------- */

static double now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void __attribute__((format(printf, 2, 3))) top_error(struct top *t, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(t->c->msg, sizeof(t->c->msg), fmt, ap);
	va_end(ap);
	if (!t->c->quiet)
		pc_cli_error("%s", t->c->msg);
}

static void sample_release(struct sample *s)
{
	pc_response_release(&s->r);
	memset(s, 0, sizeof(*s));
}

/* GET /stats?format=json into <s>. Returns 0 or -EIO after reporting why not. */
static int fetch_stats(struct top *t, struct sample *s)
{
	const struct pc_node *cl;

	if (pc_client_admin_get(t->c, "/stats?format=json", &s->r) < 0)
		return -EIO;
	cl = pc_node_get(s->r.root, "clusters");
	if (cl && cl->type != PC_NODE_SEQ && !pc_node_is_null(cl)) {
		top_error(t,
			  "unexpected response from the admin endpoint at %s to GET "
			  "/stats?format=json: \"clusters\" is not a list",
			  t->c->addr);
		return -EIO;
	}
	s->clusters = cl && cl->type == PC_NODE_SEQ ? cl : NULL;
	if (!pc_cli_num(s->r.root, "uptime_seconds", &s->uptime) || s->uptime < 0)
		s->uptime = -1;
	s->mono = now_mono();
	return 0;
}

/* Fetch a new sample and the denials. On failure keep the old ones, and the reason. */
static int refresh(struct top *t)
{
	struct sample s;
	struct pc_response d;
	const struct pc_node *list;

	memset(&s, 0, sizeof(s));
	memset(&d, 0, sizeof(d));
	if (fetch_stats(t, &s) < 0 || pc_client_admin_get(t->c, "/denials", &d) < 0)
		goto fail;
	list = pc_node_get(d.root, "denials");
	if (!list || list->type != PC_NODE_SEQ) {
		top_error(t,
			  "unexpected response from the admin endpoint at %s to GET /denials: "
			  "expected a list of denials",
			  t->c->addr);
		goto fail;
	}
	sample_release(&t->prev);
	t->prev = t->cur;
	t->cur = s;
	pc_response_release(&t->denials);
	t->denials = d;
	t->dlist = list;
	t->error[0] = '\0';
	return 0;
fail:
	snprintf(t->error, sizeof(t->error), "%s", t->c->msg);
	sample_release(&s);
	pc_response_release(&d);
	return -EIO;
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
		pc_buf_adds(&s->b, "\n");
	pc_buf_add(&s->b, text, len);
	if (s->tty)
		pc_buf_adds(&s->b, "\033[K"); /* erase what the previous frame left */
	else
		pc_buf_addc(&s->b, '\n');
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

	if (!pc_cli_num(map, key, &n))
		return "-";
	snprintf(out, size, "%.0f", n);
	return out;
}

static void header(const struct top *t, struct screen *s)
{
	const struct pc_node *root = t->cur.r.root, *l = pc_node_get(root, "listener");
	const struct pc_node *gen = pc_node_get(root, "policy_generation");
	char up[32], g[32], total[32], active[32], denied[32], revoked[32];

	if (t->cur.uptime >= 0)
		pc_table_duration(up, sizeof(up), (long long)fmin(t->cur.uptime, BIG));
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
		      t->c->addr, up, g, count(total, sizeof(total), l, "downstream_cx_total"),
		      count(active, sizeof(active), l, "downstream_cx_active"),
		      count(denied, sizeof(denied), l, "denied"),
		      count(revoked, sizeof(revoked), l, "revoked"));
	if (t->error[0])
		screen_printf(s, "error: %s", t->error);
}

static const struct pc_node *find_cluster(const struct pc_node *seq, const char *name)
{
	size_t i;

	for (i = 0; seq && name && i < seq->nitems; i++)
		if (pc_node_is(pc_node_get(seq->items[i], "name"), name))
			return seq->items[i];
	return NULL;
}

static void set_rate(const struct top *t, struct dest *d)
{
	const struct pc_node *old = find_cluster(t->prev.clusters, d->name);
	double rx, tx, orx, otx, dt;

	if (!old || !pc_cli_num(d->cl, "rx_bytes", &rx) || !pc_cli_num(d->cl, "tx_bytes", &tx) ||
	    !pc_cli_num(old, "rx_bytes", &orx) || !pc_cli_num(old, "tx_bytes", &otx))
		return;
	/* The daemon's clock times its counters best; ours when it gives none. */
	if (t->cur.uptime >= 0 && t->prev.uptime >= 0)
		dt = t->cur.uptime - t->prev.uptime;
	else
		dt = t->cur.mono - t->prev.mono;
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
static struct dest *collect(const struct top *t, size_t *n)
{
	const struct pc_node *seq = t->cur.clusters;
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
		if (!pc_cli_num(x->cl, "upstream_cx_active", &x->active))
			x->active = 0;
		if (!pc_cli_num(x->cl, "upstream_cx_total", &x->total))
			x->total = 0;
		set_rate(t, x);
		(*n)++;
	}
	qsort(d, *n, sizeof(*d), by_load);
	return d;
}

/* Add <cells> to <g>, without NAMESPACE and CLUSTER when <narrow>. */
static void add_dest_cells(struct pc_cli_grid *g, const char *const *cells, bool narrow)
{
	const char *keep[DEST_COLS];
	size_t i, n = 0;

	for (i = 0; i < DEST_COLS; i++)
		if (!narrow || (i != 1 && i != 2))
			keep[n++] = cells[i];
	pc_cli_grid_add(g, keep);
}

static void add_dest(struct pc_cli_grid *g, const struct dest *d, bool narrow)
{
	char allowed[32], active[32], failed[32], rxr[32], txr[32], rx[32], tx[32];
	const char *svc = pc_client_str(d->cl, "service");
	const char *ns = pc_client_str(d->cl, "namespace");
	const char *cells[DEST_COLS];
	double f = 0, v, n;

	if (!svc || !*svc || strcmp(svc, "unknown") == 0)
		svc = d->name;
	if (pc_cli_num(d->cl, "upstream_cx_connect_fail", &v))
		f += v;
	if (pc_cli_num(d->cl, "upstream_cx_connect_timeout", &v))
		f += v;
	if (pc_cli_num(d->cl, "upstream_cx_overflow", &v))
		f += v;
	snprintf(failed, sizeof(failed), "%.0f", fmin(f, BIG));
	pc_cli_bytes(rxr, sizeof(rxr), d->has_rate ? d->rx_rate : -1);
	pc_cli_bytes(txr, sizeof(txr), d->has_rate ? d->tx_rate : -1);
	pc_cli_bytes(rx, sizeof(rx), pc_cli_num(d->cl, "rx_bytes", &n) ? n : -1);
	pc_cli_bytes(tx, sizeof(tx), pc_cli_num(d->cl, "tx_bytes", &n) ? n : -1);
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
static void destinations(const struct top *t, struct screen *s, size_t room)
{
	static const char *const head[DEST_COLS] = { "DESTINATION", "NAMESPACE", "CLUSTER",
						     "ALLOWED",     "ACTIVE",    "FAILED",
						     "RX/S",        "TX/S",      "RX",
						     "TX" };
	struct pc_buf out = PC_BUF_INIT;
	struct pc_cli_grid g;
	size_t i, n, shown;
	struct dest *d = collect(t, &n);
	bool narrow = false;

	if (n == 0) {
		screen_printf(s, "No destinations");
		free(d);
		return;
	}
	shown = n + 1 <= room ? n : room >= 2 ? room - 2 : 0;
	for (;;) {
		pc_cli_grid_init(&g, narrow ? DEST_COLS - 2 : DEST_COLS);
		add_dest_cells(&g, head, narrow);
		for (i = 0; i < shown; i++)
			add_dest(&g, &d[i], narrow);
		pc_cli_grid_print(&g, &out, 0);
		if (narrow || !s->width || max_width(pc_buf_str(&out)) <= s->width)
			break;
		pc_cli_grid_release(&g);
		pc_buf_clear(&out);
		narrow = true;
	}
	screen_text(s, pc_buf_str(&out));
	if (shown < n)
		screen_printf(s, "... and %zu more destinations", n - shown);
	pc_buf_release(&out);
	pc_cli_grid_release(&g);
	free(d);
}

/* "HH:MM:SS" local time of an RFC 3339 timestamp, or the text itself. */
static const char *clock_cell(char *out, size_t size, const char *ts)
{
	struct tm tm;
	time_t when;

	if (!ts || !pc_table_parse_time(ts, &when) || !localtime_r(&when, &tm) ||
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
static void add_denial(struct pc_cli_grid *g, const struct pc_node *den, bool stacked)
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
	pc_cli_grid_add(g, cells);
	if (stacked || !has_hint(den))
		return;
	pc_buf_printf(&b, "hint: %s", hint);
	cells[0] = cells[1] = cells[2] = cells[3] = "";
	cells[4] = pc_buf_str(&b);
	pc_cli_grid_add(g, cells);
	pc_buf_release(&b);
}

/* Add "<prefix><text>" as one sanitized line. */
static void screen_safe(struct screen *s, const char *prefix, const char *text)
{
	char *safe = pc_cli_safe(text ? text : "<none>");

	screen_printf(s, "%s%s", prefix, safe);
	free(safe);
}

/* Print <g>'s lines; with <stacked>, each denial's reason and hint under its row. */
static void put_denials(struct screen *s, const struct pc_cli_grid *g,
			const struct pc_node *const *den, bool stacked)
{
	struct pc_buf out = PC_BUF_INIT;
	const char *line, *nl;
	size_t k = 0;

	pc_cli_grid_print(g, &out, 0);
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
static void denials(const struct top *t, struct screen *s, size_t max)
{
	static const char *const head[DENIAL_COLS] = { "DENIED AT", "CLIENT", "DESTINATION",
						       "RESPONSE", "REASON" };
	const struct pc_node *list = t->dlist, **den;
	size_t i, m = 0, lines = 1, need;
	struct pc_buf probe = PC_BUF_INIT;
	struct pc_cli_grid g;
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
		pc_cli_grid_init(&g, stacked ? DENIAL_COLS - 1 : DENIAL_COLS);
		pc_cli_grid_add(&g, head);
		for (i = 0; i < m; i++) {
			need = 1 + has_hint(den[i]) + stacked;
			if (s->rows && s->used + lines + need > s->rows)
				break;
			add_denial(&g, den[i], stacked);
			lines += need;
		}
		pc_cli_grid_print(&g, &probe, 0);
		if (stacked || !s->width ||
		    (size_t)(strstr(pc_buf_str(&probe), "REASON") - pc_buf_str(&probe)) +
				    MIN_REASON <=
			    s->width)
			break;
		pc_cli_grid_release(&g);
		pc_buf_clear(&probe);
		stacked = true;
		lines = 1;
	}
	put_denials(s, &g, den, stacked);
	pc_buf_release(&probe);
	pc_cli_grid_release(&g);
	free(den);
}

/* Lines the denials want: a blank, the header, and one or two per denial. */
static size_t denial_lines(const struct top *t)
{
	size_t i, n = 2;

	for (i = 0; t->dlist && i < t->dlist->nitems; i++)
		n += 1 + has_hint(t->dlist->items[i]);
	return n;
}

static void frame(const struct top *t, struct screen *s)
{
	size_t left, keep;

	header(t, s);
	screen_line(s, "", 0);
	left = s->rows ? s->rows - (s->used < s->rows ? s->used : s->rows) : SIZE_MAX;
	/* Destinations first, but leave the denials half the screen if they need it. */
	keep = denial_lines(t);
	if (keep > left / 2)
		keep = left / 2;
	destinations(t, s, left - keep);
	screen_line(s, "", 0);
	denials(t, s, s->tty ? SIZE_MAX : PLAIN_DENIALS);
}

/* -- the loops ---------------------------------------------------------------- */

static void print_plain(const struct top *t)
{
	struct screen s = { PC_BUF_INIT, 0, 0, 0, false };

	frame(t, &s);
	if (s.b.oom) {
		pc_cli_error("out of memory");
		exit(PC_EXIT_FAIL);
	}
	fwrite(s.b.p, 1, s.b.len, stdout);
	fflush(stdout);
	pc_buf_release(&s.b);
}

static void draw(const struct top *t)
{
	struct screen s = { PC_BUF_INIT, DEFAULT_COLS - 1, DEFAULT_ROWS, 0, true };
	struct winsize ws;

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col && ws.ws_row) {
		/* Never the last column: erasing from it would eat the character there. */
		s.width = ws.ws_col > 1 ? ws.ws_col - 1u : 1u;
		s.rows = ws.ws_row;
	}
	pc_buf_adds(&s.b, "\033[H");
	frame(t, &s);
	pc_buf_adds(&s.b, "\033[J");
	if (s.b.oom) {
		term_leave();
		pc_cli_error("out of memory");
		exit(PC_EXIT_FAIL);
	}
	if (screen_on)
		put_seq(s.b.p, s.b.len);
	pc_buf_release(&s.b);
}

static void sleep_for(double seconds)
{
	struct timespec ts = { (time_t)seconds, (long)((seconds - floor(seconds)) * 1e9) };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* Plain snapshots: stdout is no terminal, or --once. */
static int run_plain(struct top *t, long iterations)
{
	long i;

	for (i = 1;; i++) {
		print_plain(t);
		if (iterations && i >= iterations)
			return PC_EXIT_OK;
		sleep_for(t->o->delay);
		if (refresh(t) < 0)
			return PC_EXIT_FAIL;
		putchar('\n');
	}
}

/*
 * Wait <seconds> for keys, redrawing on a resize. Returns 1 when 'q' was
 * pressed, 0 when it is time to refresh.
 */
static int wait_keys(const struct top *t, double seconds, bool *keys)
{
	double deadline = now_mono() + seconds, left;
	struct pollfd pfd = { STDIN_FILENO, POLLIN, 0 };
	char buf[64];
	ssize_t i, n;

	while ((left = deadline - now_mono()) > 0) {
		if (resized) {
			resized = 0;
			draw(t);
		}
		if (poll(&pfd, *keys ? 1 : 0, (int)ceil(left * 1000)) <= 0)
			continue; /* timeout, or a signal: check the time and the flags */
		n = read(STDIN_FILENO, buf, sizeof(buf));
		if (n <= 0) {
			*keys = n < 0 && errno == EINTR; /* EOF, error: no more keys */
			continue;
		}
		for (i = 0; i < n; i++) {
			if (buf[i] == 'q' || buf[i] == 'Q')
				return 1;
			if (buf[i] == ' ')
				return 0;
		}
	}
	return 0;
}

/* The live view on a terminal. */
static int run_live(struct top *t, long iterations)
{
	bool keys = isatty(STDIN_FILENO), quit = false;
	long i;

	term_enter();
	t->c->quiet = true; /* failures go in the view, not over it */
	draw(t);
	for (i = 1; !iterations || i < iterations; i++) {
		if (wait_keys(t, t->o->delay, &keys)) {
			quit = true;
			break;
		}
		refresh(t);
		draw(t);
	}
	term_leave();
	/* After -n refreshes, leave the last frame on the main screen, as top -n does. */
	if (!quit)
		print_plain(t);
	return PC_EXIT_OK;
}

int pc_cmd_top(int argc, char **argv)
{
	struct topts o = { NULL, DEFAULT_DELAY, 0, false };
	struct pc_client c;
	struct top t;
	bool from_env;
	int status = parse_args(argc, argv, &o);

	if (status >= 0)
		return status;
	if (pc_client_init_admin(&c, o.admin, &from_env) < 0)
		return from_env ? PC_EXIT_FAIL : PC_EXIT_USAGE;
	memset(&t, 0, sizeof(t));
	t.o = &o;
	t.c = &c;
	if (refresh(&t) < 0)
		status = PC_EXIT_FAIL;
	else if (o.once || !isatty(STDOUT_FILENO))
		status = run_plain(&t, o.once ? 1 : o.iterations);
	else
		status = run_live(&t, o.iterations);
	sample_release(&t.cur);
	sample_release(&t.prev);
	pc_response_release(&t.denials);
	pc_client_release(&c);
	return status;
}
