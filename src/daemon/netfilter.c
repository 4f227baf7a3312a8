/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * daemon/netfilter.c - PORTCULLIS_UDP in step with the policy, and the
 * fence's drop counters (see daemon/netfilter.h).
 *
 * Two processes. The daemon's side is a thread that owns the socket to
 * the helper: it sends the newest UDP list (set_udp() only copies it and
 * wakes the thread, so publishing a snapshot never waits for iptables)
 * and reads the helper's reports. The helper is a fork of the daemon made
 * while it was still single-threaded and root; it keeps root and does
 * nothing but, every PC_NF_RECHECK_MS or when a list comes, per family:
 * run iptables-save -c -t filter, and when PORTCULLIS_UDP exists and its
 * rules differ from the list's, iptables-restore --noflush with the
 * chain's text (the chain line flushes just that chain; the transaction
 * is atomic). Then it reports what it saw: the counters of PORTCULLIS_DENY
 * and how each family went, which the thread logs when it changes.
 *
 * The wire is a stream: parent to helper, a header (magic, count) and
 * <count> struct pc_udp_allow as they are in memory (both sides are the
 * same binary); helper to parent, struct report. The helper trusts
 * nothing of it: the count is bounded, each entry is checked (family,
 * length, port) and its host bits cleared, and the rules are its own
 * text; a message it cannot read ends it.
 */
#include "daemon/netfilter.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/capability.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/log.h"
#include "net/addr.h"
#include "policy/snapshot.h"

/* The chains of cli/iptables.h (another layer: the names are repeated here). */
#define UDP_CHAIN  "PORTCULLIS_UDP"
#define DENY_CHAIN "PORTCULLIS_DENY"

#define MSG_MAGIC    0x70636e66u /* "pcnf" */
#define REPORT_MAGIC 0x70636e72u /* "pcnr" */
#define SAVE_MAX     (64u << 20)

/* How one family went, in a report. */
enum {
	NF_SAVED = 1u << 0,     /* iptables-save ran */
	NF_HAS_UDP = 1u << 1,   /* PORTCULLIS_UDP exists */
	NF_REWROTE = 1u << 2,   /* the chain was rewritten now */
	NF_FAILED = 1u << 3,    /* iptables-restore failed (code: its exit status) */
	NF_NO_TOOL = 1u << 4,   /* the tools are not installed */
	NF_HAVE_LIST = 1u << 5, /* the helper has a list from the daemon */
};

struct msg_hdr {
	uint32_t magic;
	uint32_t n;
};

struct report {
	uint32_t magic;
	uint32_t flags[PC_NF_NFAMILY];
	int32_t code[PC_NF_NFAMILY];
	struct pc_nf_counters c;
};

struct pc_netfilter {
	pid_t pid; /* the helper, or -1 */
	int fd;    /* our end of the socketpair, or -1 */
	int wake[2];
	pthread_t thread;
	bool thread_started;
	pthread_mutex_t lock;
	/* under lock: */
	struct pc_udp_allow *pending;
	size_t npending;
	bool dirty, stopping, have_counters;
	struct pc_nf_counters counters;
	/* the thread's alone: what was logged last, per family */
	uint32_t logged[PC_NF_NFAMILY];
	int32_t logged_code[PC_NF_NFAMILY];
};

/* ---- pure pieces ---------------------------------------------------------------- */

static const char *const proto_names[PC_NF_NPROTO] = { "udp", "udplite", "icmp", "sctp", "other" };

void pc_nf_udp_script(struct pc_buf *b, const struct pc_udp_allow *v, size_t n, int family)
{
	char text[PC_ADDR_STRLEN];
	size_t i;

	pc_buf_adds(b, "*filter\n:" UDP_CHAIN " - [0:0]\n");
	for (i = 0; i < n; i++) {
		if (v[i].prefix.addr.family != family)
			continue;
		pc_buf_printf(b, "-A " UDP_CHAIN " -d %s/%u -p udp -m udp --dport %u -j RETURN\n",
			      pc_addr_str(&v[i].prefix.addr, text), (unsigned)v[i].prefix.len,
			      (unsigned)v[i].port);
	}
	pc_buf_adds(b, "-A " UDP_CHAIN " -j " DENY_CHAIN "\nCOMMIT\n");
}

/* The protocol of a PORTCULLIS_DENY rule (after "-A PORTCULLIS_DENY "), or -1. */
static int deny_proto(const char *rule, size_t n)
{
	static const struct {
		const char *rule;
		int proto;
	} rules[] = {
		{ "-p udp -j DROP", PC_NF_UDP },   { "-p udplite -j DROP", PC_NF_UDPLITE },
		{ "-p icmp -j DROP", PC_NF_ICMP }, { "-p ipv6-icmp -j DROP", PC_NF_ICMP },
		{ "-p sctp -j DROP", PC_NF_SCTP }, { "-j DROP", PC_NF_OTHER },
	};
	size_t i;

	for (i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
		if (strlen(rules[i].rule) == n && memcmp(rules[i].rule, rule, n) == 0)
			return rules[i].proto;
	return -1;
}

#define UDP_RULE  "-A " UDP_CHAIN " "
#define DENY_RULE "-A " DENY_CHAIN " "

/* Does the line <p> of <n> bytes start with <prefix>? */
static bool starts(const char *p, size_t n, const char *prefix)
{
	size_t k = strlen(prefix);

	return n >= k && memcmp(p, prefix, k) == 0;
}

/*
 * The "[packets:bytes] " that starts a line of `iptables-save -c` into
 * <pk> and <by>. Returns its length, or 0 (and zeros) when there is none.
 */
static size_t counters(const char *p, size_t n, uint64_t *pk, uint64_t *by)
{
	const char *end = p + n, *q = p + 1;
	uint64_t v[2] = { 0, 0 };
	int i;

	if (n < 6 || p[0] != '[')
		return 0;
	for (i = 0; i < 2; i++, q++) {
		if (q >= end || *q < '0' || *q > '9')
			return 0;
		for (; q < end && *q >= '0' && *q <= '9'; q++)
			v[i] = v[i] * 10 + (uint64_t)(*q - '0'); /* wraps only past 2^64 */
		if (q >= end || *q != (i ? ']' : ':'))
			return 0;
	}
	if (q >= end || *q != ' ')
		return 0;
	*pk = v[0];
	*by = v[1];
	return (size_t)(q + 1 - p);
}

/* One line of a save (<p>, <n> bytes, no newline). */
static void parse_save_line(const char *p, size_t n, struct pc_nf_save *out,
			    struct pc_buf *udp_rules)
{
	uint64_t pk = 0, by = 0;
	size_t used;
	int proto;

	if (starts(p, n, ":" UDP_CHAIN " "))
		out->has_udp = true;
	else if (starts(p, n, ":" DENY_CHAIN " "))
		out->has_deny = true;
	used = counters(p, n, &pk, &by);
	p += used;
	n -= used;
	if (starts(p, n, UDP_RULE)) {
		pc_buf_add(udp_rules, p, n);
		pc_buf_addc(udp_rules, '\n');
	} else if (starts(p, n, DENY_RULE)) {
		proto = deny_proto(p + strlen(DENY_RULE), n - strlen(DENY_RULE));
		if (proto >= 0) {
			out->packets[proto] += pk;
			out->bytes[proto] += by;
		}
	}
}

void pc_nf_parse_save(const char *save, struct pc_nf_save *out, struct pc_buf *udp_rules)
{
	const char *p = save, *nl;

	memset(out, 0, sizeof(*out));
	while (*p) {
		nl = strchr(p, '\n');
		parse_save_line(p, nl ? (size_t)(nl - p) : strlen(p), out, udp_rules);
		if (!nl)
			break;
		p = nl + 1;
	}
}

int pc_netfilter_render(const struct pc_nf_counters *c, struct pc_buf *b)
{
	static const char *const fam[PC_NF_NFAMILY] = { "ipv4", "ipv6" };
	static const char *const what[2] = { "datagrams", "datagrams_bytes" };
	static const char *const help[2] = {
		"Packets of other protocols than TCP that the fence (portcullis iptables) dropped",
		"Bytes of the packets that the fence (portcullis iptables) dropped",
	};
	unsigned w, f, p;

	for (w = 0; w < 2; w++) {
		pc_buf_printf(b, "# HELP portcullis_denied_%s_total %s.\n", what[w], help[w]);
		pc_buf_printf(b, "# TYPE portcullis_denied_%s_total counter\n", what[w]);
		for (f = 0; f < PC_NF_NFAMILY; f++)
			for (p = 0; c && c->valid[f] && p < PC_NF_NPROTO; p++)
				pc_buf_printf(b,
					      "portcullis_denied_%s_total{family=\"%s\",protocol="
					      "\"%s\"} %" PRIu64 "\n",
					      what[w], fam[f], proto_names[p],
					      w ? c->bytes[f][p] : c->packets[f][p]);
	}
	return b->oom ? -ENOMEM : 0;
}

void pc_netfilter_json(const struct pc_nf_counters *c, struct pc_buf *b)
{
	static const char *const fam[PC_NF_NFAMILY] = { "ipv4", "ipv6" };
	uint64_t total = 0;
	unsigned f, p;

	for (f = 0; f < PC_NF_NFAMILY; f++)
		for (p = 0; c && c->valid[f] && p < PC_NF_NPROTO; p++)
			total += c->packets[f][p];
	if (!c || (!c->valid[0] && !c->valid[1])) {
		pc_buf_adds(b, "\"denied_datagrams\":null");
		return;
	}
	pc_buf_printf(b, "\"denied_datagrams\":{\"total\":%" PRIu64, total);
	for (f = 0; f < PC_NF_NFAMILY; f++) {
		if (!c->valid[f])
			continue;
		pc_buf_printf(b, ",\"%s\":{", fam[f]);
		for (p = 0; p < PC_NF_NPROTO; p++)
			pc_buf_printf(b, "%s\"%s\":%" PRIu64, p ? "," : "", proto_names[p],
				      c->packets[f][p]);
		pc_buf_addc(b, '}');
	}
	pc_buf_addc(b, '}');
}

/* ---- I/O helpers --------------------------------------------------------------- */

static int write_full(int fd, const void *data, size_t n)
{
	const char *p = data;

	while (n) {
		ssize_t w = write(fd, p, n);

		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0)
			return w == 0 ? -EPIPE : -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Read exactly <n> bytes. Returns 0, -EPIPE at end of file, or a negative errno. */
static int read_full(int fd, void *data, size_t n)
{
	char *p = data;

	while (n) {
		ssize_t r = read(fd, p, n);

		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			return r == 0 ? -EPIPE : -errno;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/* ---- the helper ------------------------------------------------------------------ */

struct tools {
	char save[2][64];
	char restore[2][64];
	bool ok[2];
};

struct helper {
	int fd;
	struct tools t;
	struct pc_udp_allow *list;
	size_t n;
	uint32_t list_flags; /* NF_HAVE_LIST once a list came */
};

/* <name> in the directories Debian puts it in; no $PATH: the daemon's environment is not ours. */
static bool find_tool(const char *name, char out[64])
{
	static const char *const dirs[] = { "/usr/sbin", "/sbin", "/usr/bin", "/bin" };
	size_t i;

	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(out, 64, "%s/%s", dirs[i], name);
		if (access(out, X_OK) == 0)
			return true;
	}
	out[0] = '\0';
	return false;
}

static void find_tools(struct tools *t)
{
	t->ok[PC_NF_V4] = find_tool("iptables-save", t->save[PC_NF_V4]) &&
			  find_tool("iptables-restore", t->restore[PC_NF_V4]);
	t->ok[PC_NF_V6] = find_tool("ip6tables-save", t->save[PC_NF_V6]) &&
			  find_tool("ip6tables-restore", t->restore[PC_NF_V6]);
}

/*
 * Run <argv> with <input> on its standard input, or its standard output
 * read into <out>; its standard error goes to /dev/null (our 2). Returns
 * the exit status, or -1.
 */
static int run_tool(char *const argv[], const char *input, struct pc_buf *out)
{
	int fds[2], wst, ret = 0;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) == -1)
		return -1;
	pid = fork();
	if (pid == 0) {
		if (dup2(fds[input ? 0 : 1], input ? STDIN_FILENO : STDOUT_FILENO) == -1)
			_exit(127);
		execv(argv[0], argv);
		_exit(127);
	}
	close(fds[input ? 0 : 1]);
	if (pid > 0 && input)
		ret = write_full(fds[1], input, strlen(input));
	while (pid > 0 && !input && out) {
		char chunk[16384];
		ssize_t r = read(fds[0], chunk, sizeof(chunk));

		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0 || out->len + (size_t)r > SAVE_MAX)
			break;
		pc_buf_add(out, chunk, (size_t)r);
	}
	close(fds[input ? 1 : 0]);
	if (pid < 0)
		return -1;
	while (waitpid(pid, &wst, 0) == -1)
		if (errno != EINTR)
			return -1;
	if (ret < 0 || !WIFEXITED(wst) || (out && out->oom))
		return -1;
	return WEXITSTATUS(wst);
}

/* One family's look and, when needed, rewrite. Fills <r>. */
static void sync_family(struct helper *h, int f, struct report *r)
{
	char *save_argv[] = { h->t.save[f], "-c", "-t", "filter", NULL };
	char *restore_argv[] = { h->t.restore[f], "-w", "5", "--noflush", NULL };
	struct pc_buf save = PC_BUF_INIT, have = PC_BUF_INIT, want = PC_BUF_INIT;
	const char *want_rules;
	struct pc_nf_save s;
	int ret;

	r->flags[f] = h->list_flags;
	if (!h->t.ok[f]) {
		r->flags[f] |= NF_NO_TOOL;
		return;
	}
	if (run_tool(save_argv, NULL, &save) != 0)
		goto out;
	r->flags[f] |= NF_SAVED;
	pc_nf_parse_save(pc_buf_str(&save), &s, &have);
	r->c.valid[f] = s.has_deny;
	memcpy(r->c.packets[f], s.packets, sizeof(s.packets));
	memcpy(r->c.bytes[f], s.bytes, sizeof(s.bytes));
	if (s.has_udp)
		r->flags[f] |= NF_HAS_UDP;
	if (!s.has_udp || !(h->list_flags & NF_HAVE_LIST))
		goto out;
	pc_nf_udp_script(&want, h->list, h->n, f == PC_NF_V4 ? AF_INET : AF_INET6);
	want_rules = strstr(pc_buf_str(&want), "\n-A ") + 1; /* after the chain line */
	if (strncmp(want_rules, pc_buf_str(&have), have.len) == 0 &&
	    strcmp(want_rules + have.len, "COMMIT\n") == 0)
		goto out; /* in step already */
	ret = run_tool(restore_argv, pc_buf_str(&want), NULL);
	r->flags[f] |= ret == 0 ? NF_REWROTE : NF_FAILED;
	r->code[f] = ret;
out:
	pc_buf_release(&save);
	pc_buf_release(&have);
	pc_buf_release(&want);
}

/* Is <a> an allowance the helper may write? Clears its host bits. */
static bool valid_allow(struct pc_udp_allow *a)
{
	unsigned max = a->prefix.addr.family == AF_INET ? 32 : 128, i;

	if ((a->prefix.addr.family != AF_INET && a->prefix.addr.family != AF_INET6) ||
	    a->prefix.len > max || a->port == 0)
		return false;
	for (i = a->prefix.len; i < max; i++)
		a->prefix.addr.bytes[i / 8] &= (uint8_t) ~(0x80u >> (i % 8));
	a->prefix.addr.port = 0;
	return true;
}

/* Read one list from the daemon into <h>. Returns 0, or -1: the helper ends. */
static int read_list(struct helper *h)
{
	struct pc_udp_allow *v = NULL;
	struct msg_hdr hdr;
	size_t i;

	if (read_full(h->fd, &hdr, sizeof(hdr)) < 0 || hdr.magic != MSG_MAGIC)
		return -1;
	if (hdr.n > PC_NF_UDP_MAX) /* the daemon sends none longer */
		return -1;
	if (hdr.n) {
		v = calloc(hdr.n, sizeof(*v));
		if (!v || read_full(h->fd, v, hdr.n * sizeof(*v)) < 0) {
			free(v);
			return -1;
		}
	}
	for (i = 0; i < hdr.n; i++) {
		if (!valid_allow(&v[i])) {
			free(v);
			return -1;
		}
	}
	free(h->list);
	h->list = v;
	h->n = hdr.n;
	h->list_flags = NF_HAVE_LIST;
	return 0;
}

/* Only the socket to the daemon stays open (as fd 3), and 0-2 are /dev/null. */
static void helper_fds(int fd)
{
	int null;

	if (fd != 3 && dup2(fd, 3) == -1)
		_exit(1);
	if (syscall(SYS_close_range, 4u, ~0u, 0u) == -1) {
		long max = sysconf(_SC_OPEN_MAX), i;

		for (i = 4; i < (max > 0 && max < 65536 ? max : 65536); i++)
			close((int)i);
	}
	null = open("/dev/null", O_RDWR);
	if (null == -1 || dup2(null, 0) == -1 || dup2(null, 1) == -1 || dup2(null, 2) == -1)
		_exit(1);
	if (null > 2)
		close(null);
}

/*
 * Keep root's CAP_NET_ADMIN and CAP_NET_RAW (iptables-legacy's raw socket)
 * and nothing else, for the helper and for the tools it runs: the bounding
 * set limits what an exec'd root program gets. Best effort: a kernel that
 * refuses leaves the helper as it was, which is no worse than before.
 */
static void keep_net_caps(void)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2];
	const uint32_t keep = (1u << CAP_NET_ADMIN) | (1u << CAP_NET_RAW);
	int cap;

	for (cap = 0; cap < 64; cap++)
		if (cap != CAP_NET_ADMIN && cap != CAP_NET_RAW)
			prctl(PR_CAPBSET_DROP, (unsigned long)cap, 0, 0, 0);
	memset(data, 0, sizeof(data));
	data[0].effective = data[0].permitted = keep; /* both caps are below 32 */
	syscall(SYS_capset, &hdr, data);
}

static void helper_main(int fd, pid_t parent) __attribute__((noreturn));

static void helper_main(int fd, pid_t parent)
{
	struct helper h = { .fd = 3 };
	struct pollfd pfd = { .fd = 3, .events = POLLIN };
	struct report r;
	sigset_t none;
	int f;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(0);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_IGN); /* a tool that quits reading: its exit status says why */
	prctl(PR_SET_NAME, "portcullis-nf");
	helper_fds(fd);
	find_tools(&h.t);
	keep_net_caps();
	for (;;) {
		int n = poll(&pfd, 1, PC_NF_RECHECK_MS);

		if (n == -1 && errno != EINTR)
			_exit(1);
		if (n > 0 && read_list(&h) < 0)
			_exit(0); /* the daemon is gone, or spoke nonsense */
		memset(&r, 0, sizeof(r));
		r.magic = REPORT_MAGIC;
		for (f = 0; f < PC_NF_NFAMILY; f++)
			sync_family(&h, f, &r);
		if (write_full(h.fd, &r, sizeof(r)) < 0)
			_exit(0);
	}
}

/* ---- the daemon's side ------------------------------------------------------------- */

/* Log what a family's report says, when it says something new. */
static void log_family(struct pc_netfilter *nf, int f, const struct report *r)
{
	static const char *const fam[PC_NF_NFAMILY] = { "ipv4", "ipv6" };
	uint32_t now = r->flags[f] & ~(uint32_t)NF_REWROTE;

	if (r->flags[f] & NF_REWROTE)
		pc_log(PC_LOG_INFO, "UDP allowances written to " UDP_CHAIN, "family=%s", fam[f]);
	if (now == nf->logged[f] && r->code[f] == nf->logged_code[f])
		return;
	nf->logged[f] = now;
	nf->logged_code[f] = r->code[f];
	if (now & NF_NO_TOOL)
		pc_log(PC_LOG_WARN,
		       "iptables tools not found: the fence's UDP allowances are not "
		       "kept (install the iptables package)",
		       "family=%s", fam[f]);
	else if (!(now & NF_SAVED))
		pc_log(PC_LOG_WARN, "cannot read the filter table (iptables-save failed)",
		       "family=%s", fam[f]);
	else if (now & NF_FAILED)
		pc_log(PC_LOG_WARN, "cannot write the UDP allowances to " UDP_CHAIN,
		       "family=%s exit=%d", fam[f], (int)r->code[f]);
	else if (!(now & NF_HAS_UDP))
		pc_log(PC_LOG_INFO, "no fence installed (" UDP_CHAIN " missing): nothing to keep",
		       "family=%s hint=\"portcullis iptables, without --allow-non-tcp\"", fam[f]);
}

static void take_report(struct pc_netfilter *nf, const struct report *r)
{
	int f;

	for (f = 0; f < PC_NF_NFAMILY; f++)
		log_family(nf, f, r);
	pthread_mutex_lock(&nf->lock);
	nf->counters = r->c;
	nf->have_counters = true;
	pthread_mutex_unlock(&nf->lock);
}

/* Send the pending list, if there is one. Returns 0 or a negative errno. */
static int send_pending(struct pc_netfilter *nf)
{
	struct msg_hdr hdr = { MSG_MAGIC, 0 };
	struct pc_udp_allow *v;
	int ret;

	pthread_mutex_lock(&nf->lock);
	if (!nf->dirty) {
		pthread_mutex_unlock(&nf->lock);
		return 0;
	}
	v = nf->pending;
	hdr.n = (uint32_t)nf->npending;
	nf->pending = NULL;
	nf->npending = 0;
	nf->dirty = false;
	pthread_mutex_unlock(&nf->lock);
	ret = write_full(nf->fd, &hdr, sizeof(hdr));
	if (ret == 0 && hdr.n)
		ret = write_full(nf->fd, v, hdr.n * sizeof(*v));
	free(v);
	return ret;
}

static bool stopping(struct pc_netfilter *nf)
{
	bool s;

	pthread_mutex_lock(&nf->lock);
	s = nf->stopping;
	pthread_mutex_unlock(&nf->lock);
	return s;
}

static void *nf_thread(void *arg)
{
	struct pc_netfilter *nf = arg;
	struct pollfd p[2] = { { .fd = nf->fd, .events = POLLIN },
			       { .fd = nf->wake[0], .events = POLLIN } };
	struct report r;
	char drain[64];

	while (!stopping(nf)) {
		if (poll(p, 2, -1) == -1 && errno != EINTR)
			break;
		if (p[1].revents & POLLIN)
			while (read(nf->wake[0], drain, sizeof(drain)) > 0)
				;
		if ((p[0].revents & (POLLIN | POLLHUP | POLLERR))) {
			if (read_full(nf->fd, &r, sizeof(r)) < 0 || r.magic != REPORT_MAGIC) {
				pc_log(PC_LOG_WARN,
				       "the netfilter helper is gone: UDP allowances "
				       "are no longer kept",
				       NULL);
				break;
			}
			take_report(nf, &r);
		}
		if (send_pending(nf) < 0) {
			pc_log(PC_LOG_WARN, "cannot talk to the netfilter helper", NULL);
			break;
		}
	}
	return NULL;
}

static void nf_free(struct pc_netfilter *nf)
{
	if (nf->fd >= 0)
		close(nf->fd); /* the helper reads end of file and exits */
	if (nf->pid > 0)
		while (waitpid(nf->pid, NULL, 0) == -1 && errno == EINTR)
			;
	if (nf->wake[0] >= 0)
		close(nf->wake[0]);
	if (nf->wake[1] >= 0)
		close(nf->wake[1]);
	pthread_mutex_destroy(&nf->lock);
	free(nf->pending);
	free(nf);
}

/* Fork the helper on one end of a socketpair; <nf>->fd is the other. Returns 0 or -errno. */
static int fork_helper(struct pc_netfilter *nf)
{
	pid_t parent = getpid();
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		return -errno;
	nf->pid = fork();
	if (nf->pid == -1) {
		close(sv[0]);
		close(sv[1]);
		return -errno;
	}
	if (nf->pid == 0) {
		close(sv[0]);
		helper_main(sv[1], parent);
	}
	close(sv[1]);
	nf->fd = sv[0];
	return 0;
}

/*
 * The thread, with every signal blocked: it may start before the daemon
 * blocks SIGTERM and friends for its signalfd, and must never take them.
 */
static int start_thread(struct pc_netfilter *nf)
{
	sigset_t all, old;
	int ret;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = -pthread_create(&nf->thread, NULL, nf_thread, nf);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	nf->thread_started = ret == 0;
	return ret;
}

int pc_netfilter_start(struct pc_netfilter **out)
{
	struct pc_netfilter *nf = pc_calloc(1, sizeof(*nf));
	int ret;

	*out = NULL;
	if (!nf)
		return -ENOMEM;
	nf->pid = -1;
	nf->fd = nf->wake[0] = nf->wake[1] = -1;
	pthread_mutex_init(&nf->lock, NULL);
	if (geteuid() != 0) {
		pc_log(PC_LOG_INFO, "not root: the fence's UDP allowances are not kept", NULL);
		*out = nf;
		return 0;
	}
	ret = pipe2(nf->wake, O_CLOEXEC | O_NONBLOCK) == -1 ? -errno : fork_helper(nf);
	if (ret == 0)
		ret = start_thread(nf);
	if (ret < 0) {
		pc_log(PC_LOG_ERR, "cannot start the netfilter helper", "err=%s", strerror(-ret));
		nf_free(nf);
		return ret;
	}
	*out = nf;
	return 0;
}

void pc_netfilter_set_udp(struct pc_netfilter *nf, const struct pc_udp_allow *v, size_t n)
{
	struct pc_udp_allow *copy = NULL;

	if (!nf || !nf->thread_started)
		return;
	if (n > PC_NF_UDP_MAX) {
		pc_log(PC_LOG_WARN, "too many UDP allowances for the fence: the first ones only",
		       "count=%zu max=%d", n, PC_NF_UDP_MAX);
		n = PC_NF_UDP_MAX;
	}
	if (n && !(copy = pc_malloc(n * sizeof(*copy)))) {
		pc_log(PC_LOG_WARN, "out of memory: the fence's UDP allowances are not updated",
		       NULL);
		return;
	}
	if (n)
		memcpy(copy, v, n * sizeof(*copy));
	pthread_mutex_lock(&nf->lock);
	free(nf->pending); /* the newest wins */
	nf->pending = copy;
	nf->npending = n;
	nf->dirty = true;
	pthread_mutex_unlock(&nf->lock);
	if (write(nf->wake[1], "", 1) == -1 && errno != EAGAIN)
		pc_log(PC_LOG_WARN, "cannot wake the netfilter thread", "err=%s", strerror(errno));
}

int pc_netfilter_counters(struct pc_netfilter *nf, struct pc_nf_counters *out)
{
	int ret = -ENODATA;

	if (!nf)
		return ret;
	pthread_mutex_lock(&nf->lock);
	if (nf->have_counters) {
		*out = nf->counters;
		ret = 0;
	}
	pthread_mutex_unlock(&nf->lock);
	return ret;
}

void pc_netfilter_stop(struct pc_netfilter *nf)
{
	if (!nf)
		return;
	if (nf->thread_started) {
		pthread_mutex_lock(&nf->lock);
		nf->stopping = true;
		pthread_mutex_unlock(&nf->lock);
		if (write(nf->wake[1], "", 1) == -1 && errno != EAGAIN)
			pc_log(PC_LOG_WARN, "cannot wake the netfilter thread", NULL);
		pthread_join(nf->thread, NULL);
	}
	nf_free(nf);
}
