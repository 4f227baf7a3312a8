/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cli/cmd_top.c - `portcullis top`: a live view of the running proxy.
 *
 * Every -d seconds, GET /stats?format=json and GET /denials from the admin
 * endpoint of `portcullis run` (doc/admin.md) and hand them to the view
 * (cli/top_view.c), which renders the frames: a header line (uptime,
 * policy generation, connections, denials), one row per cluster, and the
 * newest denials. This file owns the options, the fetch/refresh loop, the
 * terminal mode and the signals.
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cli/client.h"
#include "cli/top_view.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/usage.h"

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
	"      --token-file PATH     the bearer token for the admin endpoint: a file of\n"
	"                            \"TOKEN,NAME\" lines (default: $PORTCULLIS_TOKEN_FILE,\n"
	"                            else /var/lib/portcullis/api-token when present)\n"
	"  -h, --help                show this help\n"
	"\n"
	"Exit status: 0 success, 1 failure (admin endpoint unreachable, unexpected\n"
	"answer; once the view runs, such failures are shown in it and retried), 2\n"
	"usage error.\n";

#define DEFAULT_DELAY 2.0
#define MIN_DELAY     0.1
#define MAX_DELAY     86400.0
#define DEFAULT_COLS  80
#define DEFAULT_ROWS  24

/* Alternate screen and hidden cursor; then back (cursor shown, main screen). */
#define SCREEN_ENTER "\033[?1049h\033[?25l"
#define SCREEN_LEAVE "\033[?25h\033[?1049l"

#define usage_error(...) pc_usage_error("top", __VA_ARGS__)

struct topts {
	const char *admin;
	const char *token_file; /* --token-file, NULL: none given */
	double delay;
	long iterations; /* 0: until q */
	bool once;
};

struct top {
	const struct topts *o;
	struct pc_client *c;
	struct pc_top_view v;
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
		{ "token-file", required_argument, NULL, PC_OPT_TOKEN_FILE },
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
		case PC_OPT_TOKEN_FILE:
			o->token_file = optarg;
			break;
		case 'h':
			fputs(usage, stdout);
			return PC_EXIT_OK;
		default:
			return pc_usage_bad_option("top", argv, "dn");
		}
	}
	if (ret < 0 && optind < argc)
		return usage_error("unexpected argument \"%s\"", argv[optind]);
	return ret;
}

/* -- fetching ----------------------------------------------------------------- */

static void __attribute__((format(printf, 2, 3))) top_error(struct top *t, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(t->c->msg, sizeof(t->c->msg), fmt, ap);
	va_end(ap);
	if (!t->c->quiet)
		pc_usage_print("%s", t->c->msg);
}

/* GET /stats?format=json into <s>. Returns 0 or -EIO after reporting why not. */
static int fetch_stats(struct top *t, struct pc_top_sample *s)
{
	if (pc_client_admin_get(t->c, "/stats?format=json", &s->r) < 0)
		return -EIO;
	if (pc_top_sample_parse(s) < 0) {
		top_error(t,
			  "unexpected response from the admin endpoint at %s to GET "
			  "/stats?format=json: \"clusters\" is not a list",
			  t->c->addr);
		return -EIO;
	}
	s->mono = pc_mono_s();
	return 0;
}

/* Fetch a new sample and the denials. On failure keep the old ones, and the reason. */
static int refresh(struct top *t)
{
	struct pc_top_sample s;
	struct pc_response d;

	memset(&s, 0, sizeof(s));
	memset(&d, 0, sizeof(d));
	if (fetch_stats(t, &s) < 0 || pc_client_admin_get(t->c, "/denials", &d) < 0)
		goto fail;
	if (pc_top_view_update(&t->v, &s, &d) < 0) {
		top_error(t,
			  "unexpected response from the admin endpoint at %s to GET /denials: "
			  "expected a list of denials",
			  t->c->addr);
		goto fail;
	}
	return 0;
fail:
	snprintf(t->v.error, sizeof(t->v.error), "%s", t->c->msg);
	pc_top_sample_release(&s);
	pc_response_release(&d);
	return -EIO;
}

/* -- the loops ---------------------------------------------------------------- */

static void print_plain(const struct top *t)
{
	struct pc_buf b = PC_BUF_INIT;

	pc_top_view_frame(&t->v, &b, 0, 0, false);
	if (b.oom) {
		pc_usage_print("out of memory");
		exit(PC_EXIT_FAIL);
	}
	fwrite(b.p, 1, b.len, stdout);
	fflush(stdout);
	pc_buf_release(&b);
}

static void draw(const struct top *t)
{
	struct pc_buf b = PC_BUF_INIT;
	size_t width = DEFAULT_COLS - 1, rows = DEFAULT_ROWS;
	struct winsize ws;

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col && ws.ws_row) {
		/* Never the last column: erasing from it would eat the character there. */
		width = ws.ws_col > 1 ? ws.ws_col - 1u : 1u;
		rows = ws.ws_row;
	}
	pc_buf_adds(&b, "\033[H");
	pc_top_view_frame(&t->v, &b, width, rows, true);
	pc_buf_adds(&b, "\033[J");
	if (b.oom) {
		term_leave();
		pc_usage_print("out of memory");
		exit(PC_EXIT_FAIL);
	}
	if (screen_on)
		put_seq(b.p, b.len);
	pc_buf_release(&b);
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
	double deadline = pc_mono_s() + seconds, left;
	struct pollfd pfd = { STDIN_FILENO, POLLIN, 0 };
	char buf[64];
	ssize_t i, n;

	while ((left = deadline - pc_mono_s()) > 0) {
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
	struct topts o = { .delay = DEFAULT_DELAY };
	struct pc_client c;
	struct top t;
	bool from_env;
	int status = parse_args(argc, argv, &o);

	if (status >= 0)
		return status;
	if (pc_client_init_admin(&c, o.admin, o.token_file, &from_env) < 0)
		return from_env ? PC_EXIT_FAIL : PC_EXIT_USAGE;
	memset(&t, 0, sizeof(t));
	t.o = &o;
	t.c = &c;
	t.v.addr = c.addr;
	if (refresh(&t) < 0)
		status = PC_EXIT_FAIL;
	else if (o.once || !isatty(STDOUT_FILENO))
		status = run_plain(&t, o.once ? 1 : o.iterations);
	else
		status = run_live(&t, o.iterations);
	pc_top_view_release(&t.v);
	pc_client_release(&c);
	return status;
}
