/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cli/cmd_iptables.c - `portcullis iptables`: install, print or remove the
 * rules that send a workload's new outbound TCP connections to the proxy,
 * and the guard that lets only the proxy receive them.
 *
 * The rules come from cli/iptables.c; this file parses the options and
 * runs Debian's tools (the iptables package: iptables-nft on Debian 12,
 * iptables-legacy works the same). Per address family the install is one
 * `iptables-restore --noflush` transaction with a filter and a nat
 * section (and a raw one for --capture-dns's conntrack zones) that declare our chains (which flushes them if they exist, so a
 * second run rebuilds rather than duplicates) and, only when `iptables -t
 * TABLE -S` shows them missing, the jumps from OUTPUT (nat) and INPUT
 * (filter). Both families are checked with --test before either is
 * changed, so a rule the kernel or the tool rejects changes nothing.
 * --cleanup removes the jumps and our chains in one transaction per family.
 */
#include "cli/cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/iptables.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/usage.h"

static const char usage[] =
	"Usage: portcullis iptables [OPTIONS]\n"
	"       portcullis iptables --cleanup [--ipv4-only] [--dry-run]\n"
	"\n"
	"Capture outbound TCP for the proxy, as istio-iptables does for a sidecar:\n"
	"install nat rules (IPv4 with iptables, IPv6 with ip6tables) that REDIRECT\n"
	"new connections (SYN) opened by any process but the proxy's uid/gid to the\n"
	"proxy port; connections already open are left alone. A guard in the filter\n"
	"table lets only the proxy's own socket (IP_TRANSPARENT, which needs root)\n"
	"receive them: while the proxy is down, they are refused. The nat OUTPUT and\n"
	"filter INPUT chains get one rule each (a jump); the rest lives in our own\n"
	"chains PORTCULLIS_OUTPUT, PORTCULLIS_REDIRECT and PORTCULLIS_GUARD. Running\n"
	"it again replaces those chains, it never duplicates them.\n"
	"\n"
	"The fence (default): every other protocol (UDP, UDP-Lite, ICMP, SCTP, raw)\n"
	"that the workload sends out is dropped and counted (filter chains\n"
	"PORTCULLIS_EGRESS, PORTCULLIS_UDP, PORTCULLIS_DENY), except loopback, the\n"
	"proxy's own traffic, replies and ICMP errors of allowed flows, IPv6\n"
	"neighbour discovery, DNS (to the DNS proxy with --capture-dns, else to the\n"
	"resolv.conf nameservers) and the UDP ports of ServiceEntries, which\n"
	"`portcullis run` keeps in PORTCULLIS_UDP.\n"
	"\n"
	"Options:\n"
	"  -p, --proxy-port PORT      where captured connections go (default 15001)\n"
	"  -u, --proxy-uid UID        the proxy's uid, never captured (default 1337)\n"
	"  -g, --proxy-gid GID        the proxy's gid, never captured (default 1337)\n"
	"  -i, --include-outbound-cidrs LIST\n"
	"                             destinations to capture: * (default) for all,\n"
	"                             comma-separated IPv4/IPv6 CIDRs, or \"\" for none\n"
	"  -x, --exclude-outbound-cidrs LIST\n"
	"                             comma-separated CIDRs never captured\n"
	"  -q, --include-outbound-ports LIST\n"
	"                             ports captured whatever the destination\n"
	"  -o, --exclude-outbound-ports LIST\n"
	"                             ports never captured (checked first)\n"
	"      --capture-dns          also redirect DNS (UDP and TCP port 53) to the\n"
	"                             nameservers of /etc/resolv.conf to the DNS proxy\n"
	"      --capture-all-dns      redirect all DNS (port 53), whatever the server\n"
	"      --dns-port PORT        the DNS proxy's port (default 15053); guarded\n"
	"                             like the proxy port even without capture\n"
	"      --allow-non-tcp        no fence: let UDP, ICMP and every protocol but\n"
	"                             TCP leave unchecked (NOT recommended)\n"
	"      --ipv4-only            leave ip6tables alone (IPv6 is then NOT captured)\n"
	"      --dry-run              print the rules (iptables-save format) and change\n"
	"                             nothing\n"
	"      --cleanup              remove our jumps and chains, nothing else\n"
	"  -h, --help                 show this help\n"
	"\n"
	"Needs root (CAP_NET_ADMIN) and the iptables package, except --dry-run\n"
	"without --cleanup. Exit status: 0 done, 1 failed, 2 usage error.\n";

/* One address family and the tools that change its tables. */
struct family {
	int af;
	const char *name;    /* "IPv4" */
	const char *ipt;     /* "iptables" */
	const char *restore; /* "iptables-restore" */
	char ipt_path[PATH_MAX];
	char restore_path[PATH_MAX];
	struct pc_ipt_state st;
	struct pc_buf script;
};

struct iopts {
	struct pc_ipt_opts ipt;
	bool dry_run;
	bool cleanup;
	bool ipv4_only;
};

enum {
	OPT_DRY_RUN = 256,
	OPT_CLEANUP,
	OPT_IPV4_ONLY,
	OPT_CAPTURE_DNS,
	OPT_CAPTURE_ALL_DNS,
	OPT_DNS_PORT,
	OPT_ALLOW_NON_TCP,
};

#define RESOLV_CONF     "/etc/resolv.conf"
#define RESOLV_CONF_MAX (1u << 20) /* far more than glibc reads */

#define TOOL_OUTPUT_MAX (64u << 20) /* a nat table listing; kube-proxy's can be large */

#define usage_error(...) pc_usage_error("iptables", __VA_ARGS__)

/* Apply option <c> with argument <arg>. Returns 0 or -EINVAL with <err> filled. */
static int set_option(struct iopts *o, int c, const char *arg, struct pc_err *err)
{
	switch (c) {
	case 'p':
		return pc_ipt_parse_port(arg, &o->ipt.proxy_port, err);
	case 'u':
		return pc_ipt_parse_id(arg, &o->ipt.proxy_uid, err);
	case 'g':
		return pc_ipt_parse_id(arg, &o->ipt.proxy_gid, err);
	case 'i':
		return pc_ipt_parse_cidrs(arg, true, &o->ipt.include, err);
	case 'x':
		return pc_ipt_parse_cidrs(arg, false, &o->ipt.exclude, err);
	case 'q':
		return pc_ipt_parse_ports(arg, &o->ipt.include_ports, err);
	case 'o':
		return pc_ipt_parse_ports(arg, &o->ipt.exclude_ports, err);
	case OPT_DNS_PORT:
		return pc_ipt_parse_port(arg, &o->ipt.dns_port, err);
	default:
		return pc_err_set(err, -EINVAL, "unexpected option");
	}
}

static const char *long_name(int c)
{
	switch (c) {
	case 'p':
		return "--proxy-port";
	case 'u':
		return "--proxy-uid";
	case 'g':
		return "--proxy-gid";
	case 'i':
		return "--include-outbound-cidrs";
	case 'x':
		return "--exclude-outbound-cidrs";
	case 'q':
		return "--include-outbound-ports";
	case OPT_DNS_PORT:
		return "--dns-port";
	default:
		return "--exclude-outbound-ports";
	}
}

/* Options that only make sense together. Returns -1 to go on, or 2. */
static int check_combination(const struct iopts *o)
{
	if (o->ipv4_only && pc_ipt_cidrs_has_family(&o->ipt.include, AF_INET6))
		return usage_error("--ipv4-only, but --include-outbound-cidrs has IPv6 CIDRs");
	if (o->ipv4_only && pc_ipt_cidrs_has_family(&o->ipt.exclude, AF_INET6))
		return usage_error("--ipv4-only, but --exclude-outbound-cidrs has IPv6 CIDRs");
	if (o->ipt.dns_port == o->ipt.proxy_port)
		return usage_error("--dns-port and --proxy-port are both %u: the DNS proxy needs "
				   "a port of its own",
				   (unsigned)o->ipt.dns_port);
	return -1;
}

/* Fill <o> from argv. Returns -1 to go on, or the exit status to return now. */
static int parse_args(int argc, char **argv, struct iopts *o)
{
	static const struct option opts[] = {
		{ "proxy-port", required_argument, NULL, 'p' },
		{ "proxy-uid", required_argument, NULL, 'u' },
		{ "proxy-gid", required_argument, NULL, 'g' },
		{ "include-outbound-cidrs", required_argument, NULL, 'i' },
		{ "exclude-outbound-cidrs", required_argument, NULL, 'x' },
		{ "include-outbound-ports", required_argument, NULL, 'q' },
		{ "exclude-outbound-ports", required_argument, NULL, 'o' },
		{ "ipv4-only", no_argument, NULL, OPT_IPV4_ONLY },
		{ "capture-dns", no_argument, NULL, OPT_CAPTURE_DNS },
		{ "capture-all-dns", no_argument, NULL, OPT_CAPTURE_ALL_DNS },
		{ "dns-port", required_argument, NULL, OPT_DNS_PORT },
		{ "allow-non-tcp", no_argument, NULL, OPT_ALLOW_NON_TCP },
		{ "dry-run", no_argument, NULL, OPT_DRY_RUN },
		{ "cleanup", no_argument, NULL, OPT_CLEANUP },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct pc_err err;
	int c;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+p:u:g:i:x:q:o:h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_IPV4_ONLY:
			o->ipv4_only = true;
			break;
		case OPT_DRY_RUN:
			o->dry_run = true;
			break;
		case OPT_CLEANUP:
			o->cleanup = true;
			break;
		case OPT_CAPTURE_ALL_DNS:
			o->ipt.capture_all_dns = true;
			o->ipt.capture_dns = true;
			break;
		case OPT_CAPTURE_DNS:
			o->ipt.capture_dns = true;
			break;
		case OPT_ALLOW_NON_TCP:
			o->ipt.allow_non_tcp = true;
			break;
		case 'h':
			fputs(usage, stdout);
			return PC_EXIT_OK;
		case '?':
			if ((optopt > 0 && optopt < 256 && strchr("pugixqo", optopt)) ||
			    optopt == OPT_DNS_PORT)
				return usage_error("%s needs an argument", long_name(optopt));
			if (optopt && strncmp(argv[optind - 1], "--", 2) == 0)
				return usage_error("option \"%s\" takes no argument",
						   argv[optind - 1]);
			if (optopt)
				return usage_error("unknown option \"-%c\"", optopt);
			return usage_error("unknown option \"%s\"", argv[optind - 1]);
		default:
			pc_err_clear(&err);
			if (set_option(o, c, optarg, &err) == -ENOMEM) {
				pc_usage_print("out of memory");
				return PC_EXIT_FAIL;
			}
			if (err.code)
				return usage_error("%s: %s", long_name(c), err.msg);
			break;
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument \"%s\"", argv[optind]);
	return check_combination(o);
}

/*
 * Find <name> as an executable in $PATH, then in /usr/sbin and /sbin (sudo
 * and cron often leave the sbin directories out). Returns 0 with the path
 * in <out>, or -ENOENT.
 */
static int find_tool(const char *name, char out[PATH_MAX])
{
	const char *path = getenv("PATH");
	char dirs[PATH_MAX * 4];
	char *dir, *save = NULL;

	snprintf(dirs, sizeof(dirs), "%s:/usr/sbin:/sbin", path ? path : "/usr/bin:/bin");
	for (dir = strtok_r(dirs, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		if ((size_t)snprintf(out, PATH_MAX, "%s/%s", dir, name) >= PATH_MAX)
			continue;
		if (access(out, X_OK) == 0)
			return 0;
	}
	out[0] = '\0';
	return -ENOENT;
}

/* Write all of <s> to <fd>. Returns 0 or a negative errno (-EPIPE: the reader quit). */
static int write_all(int fd, const char *s, size_t n)
{
	while (n) {
		ssize_t w = write(fd, s, n);

		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1)
			return -errno;
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Read <fd> to its end into <out>. Returns 0 or a negative errno. */
static int read_all(int fd, struct pc_buf *out)
{
	char chunk[16384];

	for (;;) {
		ssize_t r = read(fd, chunk, sizeof(chunk));

		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			return -errno;
		if (r == 0)
			return out->oom ? -ENOMEM : 0;
		if (out->len + (size_t)r > TOOL_OUTPUT_MAX)
			return -EFBIG;
		pc_buf_add(out, chunk, (size_t)r);
	}
}

/*
 * pipe() with both ends close-on-exec (pipe2() would need _GNU_SOURCE):
 * the child keeps only the end it dup2()s, else a leaked write end would
 * keep the tool from ever seeing the end of its input. Returns 0 or -1
 * with errno set.
 */
static int make_pipe(int fds[2])
{
	if (pipe(fds) == -1)
		return -1;
	if (fcntl(fds[0], F_SETFD, FD_CLOEXEC) == -1 || fcntl(fds[1], F_SETFD, FD_CLOEXEC) == -1)
		return -1; /* the caller closes both */
	return 0;
}

/* In the child, between fork() and exec: async-signal-safe calls only. */
static void child_exec(char *const argv[], int in_fd, int out_fd) __attribute__((noreturn));

static void child_exec(char *const argv[], int in_fd, int out_fd)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigaction(SIGPIPE, &sa, NULL); /* we ignore it; the tool should not */
	if (in_fd != -1 && dup2(in_fd, STDIN_FILENO) == -1)
		_exit(127);
	if (out_fd != -1 && dup2(out_fd, STDOUT_FILENO) == -1)
		_exit(127);
	execv(argv[0], argv);
	_exit(127);
}

/*
 * Run <argv> (argv[0] a path) and wait for it. With <input>, feed it to
 * the tool's standard input; otherwise, with <out>, collect its standard
 * output there. Its standard error is ours, so its own messages reach the
 * user. Returns the exit status, or a negative errno after reporting why
 * the tool could not run or did not exit normally.
 */
static int run_tool(char *const argv[], const char *input, struct pc_buf *out)
{
	int fds[2] = { -1, -1 }, ret = 0, wst;
	pid_t pid;

	if ((input || out) && make_pipe(fds) < 0) {
		ret = -errno;
		pc_usage_print("cannot create a pipe: %s", strerror(errno));
		goto out_close;
	}
	pid = fork();
	if (pid == -1) {
		ret = -errno;
		pc_usage_print("cannot run %s: %s", argv[0], strerror(errno));
		goto out_close;
	}
	if (pid == 0)
		child_exec(argv, input ? fds[0] : -1, !input && out ? fds[1] : -1);

	if (input) {
		close(fds[0]);
		fds[0] = -1;
		ret = write_all(fds[1], input, strlen(input));
		close(fds[1]);
		fds[1] = -1;
	} else if (out) {
		close(fds[1]);
		fds[1] = -1;
		ret = read_all(fds[0], out);
		close(fds[0]); /* a tool we stopped reading gets EPIPE, not a hang */
		fds[0] = -1;
	}
	while (waitpid(pid, &wst, 0) == -1) {
		if (errno != EINTR) {
			ret = -errno;
			pc_usage_print("cannot wait for %s: %s", argv[0], strerror(errno));
			goto out_close;
		}
	}
	if (WIFEXITED(wst) && WEXITSTATUS(wst) == 127) {
		pc_usage_print("cannot run %s", argv[0]);
		ret = -ENOEXEC;
	} else if (!WIFEXITED(wst)) {
		pc_usage_print("%s was killed by signal %d", argv[0], WTERMSIG(wst));
		ret = -EINTR;
	} else if (ret < 0 && ret != -EPIPE) {
		/* -EPIPE: the tool stopped reading; its exit status says why */
		pc_usage_print("talking to %s failed: %s", argv[0], strerror(-ret));
	} else {
		ret = WEXITSTATUS(wst);
	}
out_close:
	if (fds[0] != -1)
		close(fds[0]);
	if (fds[1] != -1)
		close(fds[1]);
	return ret;
}

/*
 * The listing of <table> (`iptables -t TABLE -S`) into <out>. `-S` rather
 * than `-C OUTPUT ...`: -C exits 1 for "no such rule" and 2 both for "no
 * such chain" and for real parameter problems, and cleanup needs the count
 * of jumps and which chains exist anyway. Returns 0 or -1 after reporting.
 */
static int list_table(struct family *f, const char *table, struct pc_buf *out)
{
	char *argv[] = { f->ipt_path, "-w", "5", "-t", (char *)table, "-S", NULL };
	int ret = run_tool(argv, NULL, out);

	if (ret > 0)
		pc_usage_print("%s -t %s -S failed (exit status %d): cannot read the %s %s table%s",
			       f->ipt, table, ret, f->name, table,
			       geteuid() != 0 ? " (this needs root, or CAP_NET_ADMIN)" : "");
	return ret == 0 ? 0 : -1;
}

/* Read what the nat, filter and raw tables hold of ours into <f>->st. Returns 0 or -1. */
static int probe(struct family *f)
{
	struct pc_buf nat = PC_BUF_INIT, filter = PC_BUF_INIT, raw = PC_BUF_INIT;
	int ret;

	ret = list_table(f, "nat", &nat);
	if (ret == 0)
		ret = list_table(f, "filter", &filter);
	if (ret == 0)
		ret = list_table(f, "raw", &raw);
	if (ret == 0)
		pc_ipt_scan(pc_buf_str(&nat), pc_buf_str(&filter), pc_buf_str(&raw), &f->st);
	pc_buf_release(&nat);
	pc_buf_release(&filter);
	pc_buf_release(&raw);
	return ret;
}

/* Feed <f>->script to iptables-restore; with <test>, only check it. Returns 0 or -1. */
static int restore(struct family *f, bool test)
{
	char *argv[] = { f->restore_path, "-w", "5", "--noflush", test ? "--test" : NULL, NULL };
	int ret = run_tool(argv, pc_buf_str(&f->script), NULL);

	if (ret > 0)
		pc_usage_print("%s%s rejected the %s rules (exit status %d)", f->restore,
			       test ? " --test" : "", f->name, ret);
	return ret == 0 ? 0 : -1;
}

/*
 * Check that <f> can be changed here: its two tools exist and, for IPv6,
 * the kernel has IPv6 in this network namespace. Returns 0 or -1 after
 * reporting, with a hint at --ipv4-only for IPv6.
 */
static int preflight(struct family *f)
{
	const char *hint = f->af == AF_INET6 ? "; pass --ipv4-only to capture IPv4 alone" : "";
	const char *missing = NULL;

	if (f->af == AF_INET6 && access("/proc/sys/net/ipv6", F_OK) == -1) {
		pc_usage_print("IPv6 is not available in this network namespace (no "
			       "/proc/sys/net/ipv6: the kernel runs without IPv6), so IPv6 "
			       "traffic cannot be captured%s",
			       hint);
		return -1;
	}
	if (find_tool(f->ipt, f->ipt_path) < 0)
		missing = f->ipt;
	else if (find_tool(f->restore, f->restore_path) < 0)
		missing = f->restore;
	if (missing) {
		pc_usage_print("%s not found (searched $PATH, /usr/sbin and /sbin): install the "
			       "iptables package (apt-get install iptables)%s",
			       missing, hint);
		return -1;
	}
	return 0;
}

/*
 * The nameservers of /etc/resolv.conf into <o>: the fence lets DNS to them
 * out, --capture-dns redirects it. A missing file is glibc's default
 * (127.0.0.1). Returns 0 or -1 after reporting.
 */
static int read_resolvers(struct iopts *o)
{
	struct pc_buf text = PC_BUF_INIT;
	int fd = open(RESOLV_CONF, O_RDONLY | O_CLOEXEC), ret = 0;

	if (fd == -1 && errno != ENOENT) {
		pc_usage_print("cannot read %s: %s", RESOLV_CONF, strerror(errno));
		return -1;
	}
	if (fd != -1) {
		ret = read_all(fd, &text);
		close(fd);
	}
	if (ret == 0 && text.len > RESOLV_CONF_MAX)
		ret = -EFBIG;
	if (ret == 0)
		ret = pc_ipt_parse_resolv(pc_buf_str(&text), &o->ipt.resolvers);
	if (ret < 0)
		pc_usage_print("cannot read %s: %s", RESOLV_CONF, strerror(-ret));
	pc_buf_release(&text);
	return ret < 0 ? -1 : 0;
}

/* Say loudly what --allow-non-tcp leaves open. */
static void warn_non_tcp(const struct iopts *o)
{
	if (!o->ipt.allow_non_tcp || o->cleanup)
		return;
	pc_usage_print("WARNING: --allow-non-tcp: no fence. UDP, UDP-Lite, ICMP, SCTP and every "
		       "other protocol but TCP leave the pod UNCHECKED: anything in the pod can "
		       "send data to any address around the proxy (QUIC, DNS tunnels, ping "
		       "payloads). Run without --allow-non-tcp to drop them.");
}

static void print_script(const struct family *f, const char *what)
{
	printf("# %s: %s (%s --noflush)\n%s", f->name, what, f->restore, pc_buf_str(&f->script));
}

/* What an install did to <f>, a line per table. */
static void print_installed(const struct iopts *o, const struct family *f)
{
	printf("%s: installed %s and %s in the nat table%s; new outbound TCP connections go to "
	       "port %u\n",
	       f->name, PC_IPT_OUTPUT_CHAIN, PC_IPT_REDIRECT_CHAIN,
	       f->st.jumps ? "" : ", jump from OUTPUT added", (unsigned)o->ipt.proxy_port);
	if (o->ipt.capture_dns)
		printf("%s: installed %s in the nat table; DNS to %s goes to port %u\n", f->name,
		       PC_IPT_DNS_CHAIN,
		       o->ipt.capture_all_dns ? "any server" : "the resolv.conf nameservers",
		       (unsigned)o->ipt.dns_port);
	if (o->ipt.capture_dns)
		printf("%s: installed %s and %s in the raw table%s; UDP DNS of the app and of the "
		       "proxy are kept in conntrack zones %d and %d\n",
		       f->name, PC_IPT_RAW_OUTPUT_CHAIN, PC_IPT_RAW_PRE_CHAIN,
		       f->st.raw_out_jumps && f->st.raw_pre_jumps
			       ? ""
			       : ", jumps from OUTPUT and PREROUTING added",
		       PC_IPT_ZONE_APP, PC_IPT_ZONE_UPSTREAM);
	printf("%s: installed %s in the filter table%s; only the proxy's own (IP_TRANSPARENT) "
	       "sockets receive them\n",
	       f->name, PC_IPT_GUARD_CHAIN,
	       f->st.guard_jumps && f->st.udp_guard_jumps ? "" : ", jump from INPUT added");
	if (!o->ipt.allow_non_tcp)
		printf("%s: installed %s, %s and %s in the filter table%s; other protocols than "
		       "TCP are dropped\n",
		       f->name, PC_IPT_EGRESS_CHAIN, PC_IPT_UDP_CHAIN, PC_IPT_DENY_CHAIN,
		       f->st.egress_jumps ? "" : ", jump from filter OUTPUT added");
	else
		printf("%s: no fence (--allow-non-tcp): other protocols than TCP are NOT "
		       "checked\n",
		       f->name);
}

static int install(const struct iopts *o, struct family *fam, size_t nfam)
{
	size_t i;

	for (i = 0; i < nfam; i++) {
		if (preflight(&fam[i]) < 0 || probe(&fam[i]) < 0)
			return PC_EXIT_FAIL;
		pc_ipt_rules(&fam[i].script, &o->ipt, fam[i].af, &fam[i].st);
		if (fam[i].script.oom) {
			pc_usage_print("out of memory");
			return PC_EXIT_FAIL;
		}
	}
	for (i = 0; i < nfam; i++) /* all of them, before any is changed */
		if (restore(&fam[i], true) < 0)
			return PC_EXIT_FAIL;
	for (i = 0; i < nfam; i++) {
		if (restore(&fam[i], false) < 0) {
			if (i > 0)
				pc_usage_print(
					"the %s rules are installed but the %s rules are not: "
					"%s traffic is NOT captured",
					fam[0].name, fam[i].name, fam[i].name);
			return PC_EXIT_FAIL;
		}
		print_installed(o, &fam[i]);
	}
	return PC_EXIT_OK;
}

static void print_removed(const struct family *f)
{
	const struct pc_ipt_state *st = &f->st;
	unsigned jumps =
		st->jumps + st->old_jumps + st->dns_jumps + st->egress_jumps + st->raw_out_jumps;
	unsigned chains = st->has_output + st->has_redirect + st->has_dns + st->has_guard +
			  st->has_egress + st->has_udp + st->has_deny + st->has_raw_output +
			  st->has_raw_pre;

	printf("%s: removed %u jump%s from OUTPUT, %u from INPUT", f->name, jumps,
	       jumps == 1 ? "" : "s", st->guard_jumps + st->udp_guard_jumps);
	if (st->raw_pre_jumps)
		printf(", %u from PREROUTING", st->raw_pre_jumps);
	printf(" and %u chain%s\n", chains, chains == 1 ? "" : "s");
}

static int cleanup(const struct iopts *o, struct family *fam, size_t nfam)
{
	size_t i;

	for (i = 0; i < nfam; i++) {
		if (preflight(&fam[i]) < 0 || probe(&fam[i]) < 0)
			return PC_EXIT_FAIL;
		pc_ipt_cleanup_rules(&fam[i].script, &fam[i].st);
		if (fam[i].script.oom) {
			pc_usage_print("out of memory");
			return PC_EXIT_FAIL;
		}
	}
	for (i = 0; i < nfam; i++) {
		if (!fam[i].script.len) {
			printf("%s: nothing of portcullis' in the nat, filter and raw tables\n",
			       fam[i].name);
			continue;
		}
		if (o->dry_run) {
			print_script(&fam[i], "cleanup");
			continue;
		}
		if (restore(&fam[i], false) < 0)
			return PC_EXIT_FAIL;
		print_removed(&fam[i]);
	}
	return PC_EXIT_OK;
}

static int dry_run(const struct iopts *o, struct family *fam, size_t nfam)
{
	size_t i;

	for (i = 0; i < nfam; i++) {
		pc_ipt_rules(&fam[i].script, &o->ipt, fam[i].af, NULL);
		if (fam[i].script.oom) {
			pc_usage_print("out of memory");
			return PC_EXIT_FAIL;
		}
	}
	puts("# portcullis iptables --dry-run: nothing was changed. The OUTPUT and INPUT");
	puts("# jumps are added only where they are missing; our chains are rebuilt every run.");
	for (i = 0; i < nfam; i++)
		print_script(&fam[i], "rules");
	return PC_EXIT_OK;
}

int pc_cmd_iptables(int argc, char **argv)
{
	struct family fam[2] = {
		{ .af = AF_INET, .name = "IPv4", .ipt = "iptables", .restore = "iptables-restore" },
		{ .af = AF_INET6,
		  .name = "IPv6",
		  .ipt = "ip6tables",
		  .restore = "ip6tables-restore" },
	};
	struct iopts o = { .dry_run = false };
	struct sigaction sa;
	size_t i, nfam;
	int status;

	pc_ipt_opts_init(&o.ipt);
	status = parse_args(argc, argv, &o);
	if (status >= 0)
		goto out;
	nfam = o.ipv4_only ? 1 : 2;
	for (i = 0; i < nfam; i++)
		pc_buf_init(&fam[i].script);

	/* A tool that dies while we feed it must not kill us before we say so. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);

	warn_non_tcp(&o);
	if (!o.cleanup && read_resolvers(&o) < 0)
		status = PC_EXIT_FAIL;
	else if (o.cleanup)
		status = cleanup(&o, fam, nfam);
	else if (o.dry_run)
		status = dry_run(&o, fam, nfam);
	else
		status = install(&o, fam, nfam);
	if (fflush(stdout) == EOF && status == PC_EXIT_OK) {
		pc_usage_print("cannot write to standard output: %s", strerror(errno));
		status = PC_EXIT_FAIL;
	}
	for (i = 0; i < nfam; i++)
		pc_buf_release(&fam[i].script);
out:
	pc_ipt_opts_release(&o.ipt);
	return status;
}
