/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * daemon/run.c - `portcullis run`: the proxy daemon.
 *
 * The main thread hands --state-dir to the proxy user and, as that user,
 * locks and opens the store in it (doc/state-dir.md: root never follows a
 * path there; daemon/control.c: the policy it holds is compiled at once),
 * applies the --config files through the same path as the API (the same
 * model code as `validate`; an invalid config refuses to start), and back
 * as root makes the API sockets, binds one SO_REUSEPORT listener pair (IPv4,
 * IPv6) per worker, drops root for good, starts the workers and
 * the API server (daemon/api.c) and then serves signals from a signalfd in
 * its own event loop: SIGHUP re-applies the --config files (an invalid one
 * keeps the running policy and says why), SIGTERM and SIGINT drain (stop
 * accepting, let connections finish for --drain-duration, then close them)
 * and exit 0. Every committed change hands a new snapshot to the publisher
 * (daemon/publish.c), the one owner of the current snapshot, which hands it
 * to the workers; DNS ServiceEntries are resolved by the resolver thread
 * (daemon/resolver.c) into the runtime table (policy/runtime.h), never on
 * the path of a change. doc/internals/publish.md tells the whole story.
 */
#include "daemon/run.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/usage.h"
#include "daemon/admin.h"
#include "daemon/api.h"
#include "daemon/audit.h"
#include "daemon/control.h"
#include "daemon/dnsreg.h"
#include "daemon/listen.h"
#include "daemon/netfilter.h"
#include "daemon/publish.h"
#include "daemon/resolver.h"
#include "daemon/token.h"
#include "dns/proxy.h"
#include "model/decode.h"
#include "model/rules.h"
#include "net/addr.h"
#include "net/dns.h"
#include "net/sock.h"
#include "policy/runtime.h"
#include "policy/snapshot.h"
#include "proxy/deny.h"
#include "proxy/worker.h"
#include "store/store.h"

#define DEFAULT_API_SOCKET "/run/portcullis/api.sock"

static const char usage[] =
	"Usage: portcullis run [--config PATH ...] [options]\n"
	"\n"
	"Run the transparent egress proxy: captured outbound TCP connections (see\n"
	"'portcullis iptables') are classified against the ServiceEntries of the\n"
	"live configuration and relayed, or refused. The configuration is kept in\n"
	"--state-dir and changed with 'portcullis apply' and 'portcullis delete'.\n"
	"\n"
	"Options:\n"
	"  -c, --config PATH            a manifest file (repeatable), applied at start as\n"
	"                               'portcullis apply' would (any error refuses to start);\n"
	"                               objects an earlier --config made that the files no\n"
	"                               longer hold are deleted\n"
	"      --state-dir DIR          the store (default " PC_STORE_DEFAULT_DIR "; 0700, the\n"
	"                               proxy user's, one daemon each: doc/state-dir.md)\n"
	"      --store sqlite:DIR       the store as a URI (the same as --state-dir DIR)\n"
	"      --api-socket PATH|off    the API's Unix socket (default " DEFAULT_API_SOCKET ";\n"
	"                               mode 0660, group portcullis when it exists)\n"
	"      --api-listen ADDR:PORT   also serve the API on this loopback TCP address (its\n"
	"                               clients need a token of <state-dir>/api-token)\n"
	"  -p, --proxy-port PORT        the port iptables redirects to (default 15001)\n"
	"      --outbound-traffic-policy REGISTRY_ONLY|ALLOW_ANY\n"
	"                               for destinations no ServiceEntry matches, unless a\n"
	"                               Sidecar resource sets it (default REGISTRY_ONLY;\n"
	"                               Istio's mesh default is ALLOW_ANY)\n"
	"      --concurrency N          worker threads (default: the number of CPUs)\n"
	"      --proxy-uid UID          the user the proxy runs as once it has bound its\n"
	"                               sockets (default 1337, as Istio; install creates a\n"
	"                               'portcullis' system user with it); iptables must\n"
	"                               exempt it from capture\n"
	"      --proxy-gid GID          its group (default 1337)\n"
	"      --user UID[:GID]         the same as --proxy-uid UID --proxy-gid GID\n"
	"      --access-log PATH|-      one line per connection at close (default: none)\n"
	"      --access-log-format text|json\n"
	"      --access-log-flush-interval DURATION  also log open connections this often\n"
	"                               (bytes so far; default off)\n"
	"      --access-log-on-open     also log each connection once its upstream connects\n"
	"      --admin ADDR:PORT|off    the admin endpoint: metrics, connections, config dump,\n"
	"                               readiness (default " PC_ADMIN_DEFAULT ")\n"
	"      --admin-any              allow a non-loopback --admin address\n"
	"      --admin-auth token|none  what /logging changes, /config_dump, /connections\n"
	"                               and /clusters need: the API token (default), or\n"
	"                               nothing\n"
	"      --audit-log PATH|-|off   one JSON line per accepted or refused change (default\n"
	"                               audit.log in --state-dir)\n"
	"      --audit-log-max-size SIZE  rotate the audit log at this size (default 10Mi)\n"
	"      --stats on|off           count connections and bytes (default on)\n"
	"      --tcp-reporting-interval DURATION  add open connections' bytes to the\n"
	"                               metrics this often (default 15s)\n"
	"      --workload NAME          source_workload of the metrics (default unknown)\n"
	"      --namespace NS           the workload's namespace: which Sidecar, exportTo and\n"
	"                               DestinationRule apply to it (default \"default\"), and\n"
	"                               source_workload_namespace (default unknown)\n"
	"      --root-namespace NS      the mesh's root namespace: its Sidecar without\n"
	"                               workloadSelector is every workload's default\n"
	"                               (default istio-system, as Istio's mesh config)\n"
	"      --labels K=V,...         the workload's labels: app and version fill source_app\n"
	"                               and source_version\n"
	"      --deny-response protocol|reset  what a denied client gets: an error in its own\n"
	"                               protocol where known (MySQL, TLS, HTTP), or a reset\n"
	"                               (default protocol)\n"
	"      --drain-duration DURATION  on SIGTERM, time open connections get (default 5s)\n"
	"      --revoke-grace DURATION  when a policy change denies an open connection, close\n"
	"                               it after this long (default 0s: at once)\n"
	"      --protocol-detection-timeout DURATION  on a port whose ServiceEntries admit\n"
	"                               TLS or HTTP by name, how long to wait for the\n"
	"                               ClientHello or request head (default 5s); then the\n"
	"                               address alone decides, which admits no name\n"
	"      --log-level err|warn|notice|info|debug  (default info)\n"
	"      --dns-server IP[:PORT]   the real resolver: resolve DNS ServiceEntries and\n"
	"                               forward the DNS proxy's queries with it (default:\n"
	"                               the nameservers of /etc/resolv.conf)\n"
	"      --dns-listen ADDR:PORT,...|off  the DNS proxy, for 'portcullis iptables\n"
	"                               --capture-dns' (default " PC_DNS_DEFAULT_LISTEN ";\n"
	"                               doc/dns.md)\n"
	"      --dns-policy forward|registry-only  names no ServiceEntry lists are\n"
	"                               forwarded to the real resolver (default, as Istio),\n"
	"                               or answered NXDOMAIN\n"
	"  -h, --help                   show this help\n"
	"\n"
	"Signals: SIGHUP re-applies the --config files (an invalid one keeps the running\n"
	"policy);\n"
	"SIGTERM and SIGINT drain and exit.\n";

struct options {
	char **configs;
	size_t nconfigs;
	uint16_t port;
	int policy; /* -1: unset */
	unsigned concurrency;
	uid_t uid;
	gid_t gid;
	const char *access_log;
	enum pc_log_format access_format;
	uint64_t drain_ms;
	uint64_t revoke_grace_ms;
	uint64_t detect_ms;
	const char *dns_server;
	const char *dns_listen; /* NULL: off */
	const char *state_dir;
	const char *store;      /* --store URI, NULL: --state-dir */
	const char *api_socket; /* NULL: off */
	const char *api_listen;
	const char *admin; /* NULL: off */
	bool admin_any;
	bool stats;
	uint64_t report_ms;
	uint64_t access_flush_ms;
	bool access_on_open;
	int deny_response;
	const char *workload, *ns;
	const char *root_ns;    /* --root-namespace */
	const char *audit_log;  /* NULL: off; "": the default, audit.log in the state dir */
	uint64_t audit_max;     /* --audit-log-max-size, bytes */
	bool admin_open;        /* --admin-auth none */
	bool dns_registry_only; /* --dns-policy registry-only */
	char *labels;           /* --labels, split in place */
	size_t labels_len;
	struct pc_stats_labels source;
};

struct daemon {
	struct options o;
	struct pc_proxy_config cfg;
	struct pc_worker *workers;
	unsigned nworkers;
	struct pc_proxy_listeners listeners; /* the pod lock, and sockets no worker took */
	struct pc_loop *loop;
	struct pc_io sigio;
	struct pc_publisher *pub;        /* the current snapshot, and its fan-out */
	struct pc_resolver *res;         /* the DNS thread */
	struct pc_dns_sockets dns_socks; /* --dns-listen, until the DNS proxy takes them */
	struct pc_dns_proxy *dns;        /* the DNS proxy (doc/dns.md), or NULL */
	struct pc_dnsreg *dnsreg;        /* what it answers from the registry */
	struct pc_control *ctl;
	struct pc_store_lock *lock; /* one daemon per store (store.h) */
	struct pc_api *api;
	struct pc_admin *admin;
	struct pc_netfilter *nf; /* PORTCULLIS_UDP and the fence's counters */
	struct pc_tokens tokens; /* <state-dir>/api-token: the TCP API's and the admin's */
	uint64_t start_ms;       /* CLOCK_MONOTONIC, for the uptime gauge */
	int api_fds[2];
	int admin_fd;
	bool draining;
	pthread_t main; /* the thread that runs the signal loop */
	bool reloading; /* a SIGHUP reload runs (read and written on <main> only) */
};

static int parse_user(const char *s, struct options *o)
{
	char *end;
	unsigned long u, g;

	u = strtoul(s, &end, 10);
	if (end == s || (*end && *end != ':') || u > INT_MAX)
		return -EINVAL;
	g = u;
	if (*end == ':') {
		s = end + 1;
		g = strtoul(s, &end, 10);
		if (end == s || *end || g > INT_MAX)
			return -EINVAL;
	}
	o->uid = (uid_t)u;
	o->gid = (gid_t)g;
	return 0;
}

#define bad_usage(...) pc_usage_error("run", __VA_ARGS__)

/* Long options without a short letter. */
enum {
	OPT_ROOT_NS = 256,
	OPT_PROXY_UID,
	OPT_PROXY_GID,
	OPT_AUDIT_LOG,
	OPT_AUDIT_MAX,
	OPT_ADMIN_AUTH,
	OPT_DNS_LISTEN,
	OPT_DNS_POLICY,
};

/* The options of issue 13 (the DNS proxy); 2 for an unknown one. */
static int parse_dns(int c, const char *arg, struct options *o)
{
	switch (c) {
	case OPT_DNS_LISTEN:
		o->dns_listen = strcmp(arg, "off") == 0 ? NULL : arg;
		return 0;
	case OPT_DNS_POLICY:
		if (strcmp(arg, "forward") != 0 && strcmp(arg, "registry-only") != 0)
			return bad_usage("--dns-policy is forward or registry-only, not \"%s\"",
					 arg);
		o->dns_registry_only = strcmp(arg, "registry-only") == 0;
		return 0;
	default:
		return 2;
	}
}

/* A uid or gid: a number 0..INT_MAX. */
static int parse_id(const char *arg, unsigned long *out)
{
	char *end;

	*out = strtoul(arg, &end, 10);
	return end == arg || *end || *out > INT_MAX ? -EINVAL : 0;
}

/* The options of issue 12 (scoping, privileges, audit); 2 for an unknown one. */
static int parse_security(int c, const char *arg, struct options *o)
{
	unsigned long v;
	char *end;

	switch (c) {
	case OPT_ROOT_NS:
		if (!pc_is_k8s_dns1123_label(arg))
			return bad_usage("--root-namespace needs " PC_NAMESPACE_RULE ", not \"%s\"",
					 arg);
		o->root_ns = arg;
		return 0;
	case OPT_PROXY_UID:
		if (parse_id(arg, &v) < 0)
			return bad_usage("--proxy-uid needs a number, not \"%s\"", arg);
		o->uid = (uid_t)v;
		return 0;
	case OPT_PROXY_GID:
		if (parse_id(arg, &v) < 0)
			return bad_usage("--proxy-gid needs a number, not \"%s\"", arg);
		o->gid = (gid_t)v;
		return 0;
	case OPT_AUDIT_LOG:
		o->audit_log = strcmp(arg, "off") == 0 ? NULL : arg;
		return 0;
	case OPT_AUDIT_MAX:
		v = strtoul(arg, &end, 10);
		if (end == arg || v == 0)
			return bad_usage(
				"--audit-log-max-size needs a size such as 10Mi, not \"%s\"", arg);
		if (strcmp(end, "Ki") == 0)
			v <<= 10;
		else if (strcmp(end, "Mi") == 0)
			v <<= 20;
		else if (strcmp(end, "Gi") == 0)
			v <<= 30;
		else if (*end)
			return bad_usage(
				"--audit-log-max-size needs a size such as 10Mi, not \"%s\"", arg);
		o->audit_max = v;
		return 0;
	case OPT_ADMIN_AUTH:
		if (strcmp(arg, "token") != 0 && strcmp(arg, "none") != 0)
			return bad_usage("--admin-auth is token or none, not \"%s\"", arg);
		o->admin_open = strcmp(arg, "none") == 0;
		return 0;
	default:
		return parse_dns(c, arg, o);
	}
}

/* The first of <keys> that --labels sets, or NULL. */
static const char *label_of(char *labels, size_t len, const char *const *keys)
{
	const char *const *k;
	size_t klen;
	char *p;

	for (k = keys; *k; k++) {
		klen = strlen(*k);
		for (p = labels; p < labels + len; p += strlen(p) + 1) {
			if (strncmp(p, *k, klen) == 0 && p[klen] == '=')
				return p + klen + 1;
		}
	}
	return NULL;
}

/*
 * The metrics' source labels from --workload, --namespace and --labels
 * (app=reviews,version=v2, parsed by pc_labels_arg_parse()). The canonical
 * service and revision follow Istio: the
 * service.istio.io/canonical-name and -revision labels, else the
 * app.kubernetes.io/name and /version ones, else
 * app/version, else the workload name and "latest".
 */
static void set_source(struct options *o)
{
	static const char *const app[] = { "app", NULL };
	static const char *const version[] = { "version", NULL };
	static const char *const csvc[] = { "service.istio.io/canonical-name",
					    "app.kubernetes.io/name", "app", NULL };
	static const char *const crev[] = { "service.istio.io/canonical-revision",
					    "app.kubernetes.io/version", "version", NULL };
	size_t len = o->labels_len;

	o->source.workload = o->workload;
	o->source.ns = o->ns;
	o->source.app = o->labels ? label_of(o->labels, len, app) : NULL;
	o->source.version = o->labels ? label_of(o->labels, len, version) : NULL;
	o->source.canonical_service = o->labels ? label_of(o->labels, len, csvc) : NULL;
	if (!o->source.canonical_service)
		o->source.canonical_service = o->workload;
	o->source.canonical_revision = o->labels ? label_of(o->labels, len, crev) : NULL;
}

static int parse_duration_ms(const char *arg, const char *name, bool zero_ok, uint64_t *out)
{
	const char *why;
	int64_t ns;

	if (pc_duration_parse(arg, &ns, &why) < 0 || ns < 0 || (!zero_ok && ns < 1000000))
		return bad_usage("%s needs a duration such as 15s, not \"%s\"", name, arg);
	*out = (uint64_t)ns / 1000000u;
	return 0;
}

/* The options of issue 5 (observability); 2 for an unknown one. */
static int parse_observe(int c, const char *arg, struct options *o)
{
	switch (c) {
	case 'M':
		o->admin = strcmp(arg, "off") == 0 ? NULL : arg;
		return 0;
	case 'Y':
		o->admin_any = true;
		return 0;
	case 'T':
		if (strcmp(arg, "on") != 0 && strcmp(arg, "off") != 0)
			return bad_usage("--stats is on or off, not \"%s\"", arg);
		o->stats = strcmp(arg, "on") == 0;
		return 0;
	case 'R':
		return parse_duration_ms(arg, "--tcp-reporting-interval", false, &o->report_ms);
	case 'F':
		return parse_duration_ms(arg, "--access-log-flush-interval", true,
					 &o->access_flush_ms);
	case 'O':
		o->access_on_open = true;
		return 0;
	case 'W':
		o->workload = arg;
		return 0;
	case 'N':
		if (!pc_is_k8s_dns1123_label(arg))
			return bad_usage("--namespace needs " PC_NAMESPACE_RULE ", not \"%s\"",
					 arg);
		o->ns = arg;
		return 0;
	case 'B': {
		char msg[PC_RULE_MSG];

		free(o->labels);
		if (pc_labels_arg_parse(arg, &o->labels, &o->labels_len, msg, sizeof(msg)) < 0)
			return bad_usage("--labels needs KEY=VALUE[,KEY=VALUE...]: %s", msg);
		return 0;
	}
	case 'D':
		if (strcmp(arg, "protocol") == 0)
			o->deny_response = PC_DENY_PROTOCOL;
		else if (strcmp(arg, "reset") == 0)
			o->deny_response = PC_DENY_RESET;
		else
			return bad_usage("--deny-response is protocol or reset, not \"%s\"", arg);
		return 0;
	default:
		return parse_security(c, arg, o);
	}
}

static int parse_option(int c, const char *arg, struct options *o)
{
	const char *why;
	int64_t ns;
	char *end;
	unsigned long v;

	switch (c) {
	case 'c':
		o->configs = pc_xrealloc(o->configs, (o->nconfigs + 1) * sizeof(*o->configs));
		o->configs[o->nconfigs++] = (char *)arg;
		return 0;
	case 'p':
		v = strtoul(arg, &end, 10);
		if (*end || v < 1 || v > 65535)
			return bad_usage("--proxy-port needs a port number 1..65535, not \"%s\"",
					 arg);
		o->port = (uint16_t)v;
		return 0;
	case 'P':
		if (strcmp(arg, "REGISTRY_ONLY") == 0)
			o->policy = PC_POLICY_REGISTRY_ONLY;
		else if (strcmp(arg, "ALLOW_ANY") == 0)
			o->policy = PC_POLICY_ALLOW_ANY;
		else
			return bad_usage(
				"--outbound-traffic-policy is REGISTRY_ONLY or ALLOW_ANY, not "
				"\"%s\"",
				arg);
		return 0;
	case 'n':
		v = strtoul(arg, &end, 10);
		if (*end || v < 1 || v > 1024)
			return bad_usage("--concurrency needs 1..1024, not \"%s\"", arg);
		o->concurrency = (unsigned)v;
		return 0;
	case 'u':
		if (parse_user(arg, o) < 0)
			return bad_usage("--user needs UID or UID:GID (numbers), not \"%s\"", arg);
		return 0;
	case 'a':
		o->access_log = arg;
		return 0;
	case 'f':
		if (strcmp(arg, "text") == 0)
			o->access_format = PC_LOG_TEXT;
		else if (strcmp(arg, "json") == 0)
			o->access_format = PC_LOG_JSON;
		else
			return bad_usage("--access-log-format is text or json, not \"%s\"", arg);
		return 0;
	case 'd':
		if (pc_duration_parse(arg, &ns, &why) < 0 || ns < 0)
			return bad_usage("--drain-duration needs a duration such as 5s, not \"%s\"",
					 arg);
		o->drain_ms = (uint64_t)ns / 1000000u;
		return 0;
	case 'g':
		if (pc_duration_parse(arg, &ns, &why) < 0 || ns < 0)
			return bad_usage("--revoke-grace needs a duration such as 0s or 30s, not "
					 "\"%s\"",
					 arg);
		o->revoke_grace_ms = (uint64_t)ns / 1000000u;
		return 0;
	case 'X':
		if (pc_duration_parse(arg, &ns, &why) < 0 || ns < 1000000)
			return bad_usage(
				"--protocol-detection-timeout needs a duration of at least "
				"1ms such as 5s, not \"%s\"",
				arg);
		o->detect_ms = (uint64_t)ns / 1000000u;
		return 0;
	case 'S':
		o->state_dir = arg;
		o->store = NULL;
		return 0;
	case 'U':
		o->store = arg;
		o->state_dir = pc_store_uri_path(arg);
		return 0;
	case 'A':
		o->api_socket = strcmp(arg, "off") == 0 ? NULL : arg;
		return 0;
	case 'L':
		o->api_listen = arg;
		return 0;
	case 's':
		o->dns_server = arg;
		return 0;
	case 'l':
		if (pc_log_level_parse(arg) < 0)
			return bad_usage(
				"--log-level is err, warn, notice, info or debug, not \"%s\"", arg);
		pc_log_set_level(pc_log_level_parse(arg));
		return 0;
	default:
		return parse_observe(c, arg, o);
	}
}

static int parse_args(int argc, char **argv, struct options *o)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "proxy-port", required_argument, NULL, 'p' },
		{ "outbound-traffic-policy", required_argument, NULL, 'P' },
		{ "concurrency", required_argument, NULL, 'n' },
		{ "user", required_argument, NULL, 'u' },
		{ "access-log", required_argument, NULL, 'a' },
		{ "access-log-format", required_argument, NULL, 'f' },
		{ "drain-duration", required_argument, NULL, 'd' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "dns-server", required_argument, NULL, 's' },
		{ "revoke-grace", required_argument, NULL, 'g' },
		{ "protocol-detection-timeout", required_argument, NULL, 'X' },
		{ "state-dir", required_argument, NULL, 'S' },
		{ "store", required_argument, NULL, 'U' },
		{ "api-socket", required_argument, NULL, 'A' },
		{ "api-listen", required_argument, NULL, 'L' },
		{ "admin", required_argument, NULL, 'M' },
		{ "admin-any", no_argument, NULL, 'Y' },
		{ "stats", required_argument, NULL, 'T' },
		{ "tcp-reporting-interval", required_argument, NULL, 'R' },
		{ "access-log-flush-interval", required_argument, NULL, 'F' },
		{ "access-log-on-open", no_argument, NULL, 'O' },
		{ "workload", required_argument, NULL, 'W' },
		{ "namespace", required_argument, NULL, 'N' },
		{ "labels", required_argument, NULL, 'B' },
		{ "deny-response", required_argument, NULL, 'D' },
		{ "root-namespace", required_argument, NULL, OPT_ROOT_NS },
		{ "proxy-uid", required_argument, NULL, OPT_PROXY_UID },
		{ "proxy-gid", required_argument, NULL, OPT_PROXY_GID },
		{ "audit-log", required_argument, NULL, OPT_AUDIT_LOG },
		{ "audit-log-max-size", required_argument, NULL, OPT_AUDIT_MAX },
		{ "admin-auth", required_argument, NULL, OPT_ADMIN_AUTH },
		{ "dns-listen", required_argument, NULL, OPT_DNS_LISTEN },
		{ "dns-policy", required_argument, NULL, OPT_DNS_POLICY },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c, ret;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+c:p:h", opts, NULL)) != -1) {
		if (c == 'h') {
			fputs(usage, stdout);
			return 0;
		}
		if (c == '?' || c == ':')
			return bad_usage("unknown option or missing argument: \"%s\"",
					 argv[optind - 1]);
		ret = parse_option(c, optarg, o);
		if (ret)
			return ret;
	}
	if (optind < argc)
		return bad_usage("unexpected argument \"%s\"", argv[optind]);
	if (!*o->state_dir)
		return bad_usage("--state-dir needs a directory");
	set_source(o);
	return -1;
}

/* Istio records these as pilot_conflict_outbound_listener_tcp_over_current_tcp. */
static void report_conflict(void *data, const char *what)
{
	(void)data;
	pc_log(PC_LOG_WARN, "ServiceEntry conflict, the older entry wins", "detail=%s", what);
}

/* Every new snapshot (control.c calls this): the publisher makes it current. */
static void publish(void *data, struct pc_snapshot *snap)
{
	struct daemon *d = data;

	pc_netfilter_set_udp(d->nf, snap->udp,
			     snap->nudp); /* copies; before the publisher owns it */
	pc_publisher_publish(d->pub, snap);
}

/*
 * After a change was published, holding no lock (control.c calls this):
 * its answer waits, a bounded time, for the first answers of the DNS
 * names it brought, so the first connection after `portcullis apply`
 * finds its upstream. A SIGHUP reload does not wait: it runs on the
 * signal loop, and a SIGTERM behind it must not wait for DNS.
 */
static void settle(void *data, const struct pc_snapshot *snap, const struct pc_snapshot *prev)
{
	struct daemon *d = data;

	if (pthread_equal(pthread_self(), d->main) && d->reloading)
		return;
	if (d->res)
		pc_resolver_wait_first(d->res, snap, prev, PC_RESOLVE_FIRST_MS);
}

/* The one log line of a --config apply (control.c logs nothing of it). */
static void log_config(int ret, const struct pc_change_result *res, const char *failed)
{
	static const struct pc_audit_user config = { .name = "config", .via = "config" };
	size_t i, count[PC_STORE_DELETED + 1] = { 0 };

	pc_audit_change(&config, "apply", ret, res,
			ret == 0         ? 200
			: ret == -EINVAL ? 422
					 : 500,
			ret == 0         ? NULL
			: ret == -EINVAL ? "Invalid"
					 : "InternalError");
	if (ret < 0) {
		pc_log(PC_LOG_ERR, failed, "err=%s",
		       res->err.msg[0] ? res->err.msg : strerror(-ret));
		return;
	}
	for (i = 0; i < res->n; i++)
		count[res->v[i].result]++;
	pc_log(PC_LOG_INFO, "config applied",
	       "revision=%" PRId64 " created=%zu configured=%zu unchanged=%zu deleted=%zu",
	       res->revision, count[PC_STORE_CREATED], count[PC_STORE_CONFIGURED],
	       count[PC_STORE_UNCHANGED], count[PC_STORE_DELETED]);
}

static void reload(struct daemon *d)
{
	struct pc_change_result res;
	int ret;

	if (d->o.nconfigs == 0) {
		pc_log(PC_LOG_NOTICE, "no --config files to reload", NULL);
		return;
	}
	pc_change_result_init(&res);
	d->reloading = true; /* enforced at once, new DNS names answer UH until resolved */
	ret = pc_control_apply_config(d->ctl, d->o.configs, d->o.nconfigs, true, &res);
	d->reloading = false;
	log_config(ret, &res, "reload failed, keeping the running policy");
	pc_change_result_release(&res);
}

static void on_signal(struct pc_loop *loop, struct pc_io *io, uint32_t events)
{
	struct daemon *d = io->data;
	struct signalfd_siginfo si;
	unsigned i;

	(void)events;
	while (read(io->fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			pc_log(PC_LOG_NOTICE, "reloading", "signal=SIGHUP");
			reload(d);
			continue;
		}
		if (d->draining)
			continue;
		d->draining = true;
		pc_log(PC_LOG_NOTICE, "draining", "signal=%s drain_ms=%llu",
		       si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM",
		       (unsigned long long)d->o.drain_ms);
		pc_admin_set_state(d->admin, PC_ADMIN_DRAINING);
		for (i = 0; i < d->nworkers; i++)
			pc_worker_drain(&d->workers[i]);
		pc_loop_stop(loop);
	}
}

static int drop_privileges(const struct options *o)
{
	if (geteuid() != 0)
		return 0; /* not root: nothing to drop */
	if (setgroups(0, NULL) == -1 || setgid(o->gid) == -1 || setuid(o->uid) == -1)
		return -errno;
	return 0;
}

static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max; /* each connection needs 2 sockets and 2 pipes */
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

struct worker_init {
	struct daemon *d;
	unsigned index;
	int fd4, fd6;
};

/* Under the publisher's lock: from now on the worker gets every new snapshot. */
static int init_worker(void *data, struct pc_worker *w, struct pc_snapshot *snap)
{
	struct worker_init *wi = data;

	return pc_worker_init(w, wi->index, &wi->d->cfg, wi->fd4, wi->fd6, snap);
}

static int start_workers(struct daemon *d)
{
	struct worker_init wi = { .d = d };
	struct pc_proxy_listeners *pl = &d->listeners;
	unsigned i;
	int ret;

	d->workers = pc_calloc(d->nworkers, sizeof(*d->workers));
	if (!d->workers)
		return -ENOMEM;
	ret = pc_proxy_listen(d->o.port, d->nworkers, pl); /* logs why it failed */
	if (ret < 0)
		return ret;
	for (i = 0; i < d->nworkers; i++) {
		wi.index = i;
		wi.fd4 = pl->fd4[i];
		wi.fd6 = pl->fd6[i];
		pl->fd4[i] = pl->fd6[i] = -1; /* the worker's now */
		ret = pc_publisher_attach(d->pub, &d->workers[i], init_worker, &wi);
		if (ret < 0)
			return ret;
	}
	ret = drop_privileges(&d->o);
	if (ret < 0) {
		pc_log(PC_LOG_ERR, "cannot drop privileges", "uid=%u gid=%u err=%s",
		       (unsigned)d->o.uid, (unsigned)d->o.gid, strerror(-ret));
		return ret;
	}
	for (i = 0; i < d->nworkers; i++) {
		ret = pc_worker_start(&d->workers[i]);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static int setup_signals(struct daemon *d)
{
	sigset_t set;
	int fd;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	/* blocked before the workers exist, so only the signalfd sees them */
	if (sigprocmask(SIG_BLOCK, &set, NULL) == -1)
		return -errno;
	fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd == -1)
		return -errno;
	pc_io_init(&d->sigio, fd, on_signal, d);
	return pc_io_start(d->loop, &d->sigio, PC_IO_READ);
}

/* A worker asked for a DYNAMIC_DNS name nobody resolves yet. */
static void resolve_kick(void *data)
{
	struct daemon *d = data;

	if (d->res)
		pc_resolver_kick(d->res);
}

static int open_access_log(struct daemon *d)
{
	d->cfg.resolve_kick = resolve_kick;
	d->cfg.resolve_data = d;
	d->cfg.access_log_fd = -1;
	d->cfg.access_format = d->o.access_format;
	d->cfg.drain_ms = d->o.drain_ms;
	d->cfg.revoke_grace_ms = d->o.revoke_grace_ms;
	d->cfg.detect_ms = d->o.detect_ms;
	d->cfg.deny_response = d->o.deny_response;
	d->cfg.nworkers = d->nworkers;
	d->cfg.stats = d->o.stats;
	d->cfg.report_interval_ms = d->o.report_ms;
	d->cfg.access_flush_ms = d->o.access_flush_ms;
	d->cfg.access_on_open = d->o.access_on_open;
	if (!d->o.access_log)
		return 0;
	if (strcmp(d->o.access_log, "-") == 0) {
		d->cfg.access_log_fd = STDOUT_FILENO;
		return 0;
	}
	d->cfg.access_log_fd =
		open(d->o.access_log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (d->cfg.access_log_fd == -1) {
		pc_log(PC_LOG_ERR, "cannot open the access log", "path=%s err=%s", d->o.access_log,
		       strerror(errno));
		return -errno;
	}
	return 0;
}

static void shutdown_daemon(struct daemon *d, unsigned started)
{
	unsigned i;

	/* first: an apply's answer waiting for a new name's first answer returns */
	pc_resolver_shutdown(d->res);
	if (d->dnsreg)
		pc_dnsreg_set_proxy(d->dnsreg, NULL); /* no kick reaches a stopped proxy */
	pc_dns_proxy_stop(d->dns);                    /* no query parks any more */
	d->dns = NULL;
	pc_dns_sockets_close(&d->dns_socks); /* never handed to a proxy */
	if (d->ctl)
		pc_control_shutdown(d->ctl); /* ends watches, refuses new changes */
	pc_api_stop(d->api);
	for (i = 0; i < 2; i++) {
		if (d->api_fds[i] >= 0 && !d->api)
			close(d->api_fds[i]);
	}
	/* the API's threads are joined and the publisher never had it: nothing uses it now */
	pc_resolver_stop(d->res); /* never waits for a DNS server */
	d->res = NULL;
	for (i = 0; i < started; i++)
		pc_worker_join(&d->workers[i]);
	pc_admin_stop(d->admin); /* it reads the workers: after they are done, before they go */
	d->admin = NULL;
	pc_netfilter_stop(d->nf); /* after the admin endpoint, which reads its counters */
	d->nf = NULL;
	if (d->admin_fd >= 0)
		close(d->admin_fd); /* never handed to a server */
	for (i = 0; i < started; i++)
		pc_worker_release(&d->workers[i]);
	free(d->workers);
	pc_proxy_listeners_release(&d->listeners); /* the pod lock: last, once no one listens */
	if (d->sigio.fd >= 0)
		pc_io_close(d->loop, &d->sigio);
	pc_loop_free(d->loop);
	pc_dnsreg_free(d->dnsreg); /* its round in progress ends: the control is still there */
	pc_control_free(d->ctl);
	pc_store_unlock(d->lock); /* after the store is closed */
	pc_publisher_free(d->pub);
	if (d->cfg.access_log_fd > STDERR_FILENO)
		close(d->cfg.access_log_fd);
	free(d->o.configs);
	free(d->o.labels);
	pc_audit_close();
	pc_tokens_release(&d->tokens);
}

/*
 * The audit log. The default one, in the state directory, is opened as the
 * proxy user (open_store() calls this once the store is locked, before
 * --config is applied, so that apply is recorded too): root opens no path
 * in that user's directory but the token it creates with O_EXCL, and the
 * file is the one that user writes and rotates for the daemon's whole
 * life. A path the operator gives is opened as root, as --access-log is,
 * before the store (prepare()), so the --config apply is recorded there
 * too; rotating it needs a directory the proxy user may write.
 */
static int open_audit(struct daemon *d, bool as_proxy)
{
	char path[PATH_MAX];
	struct pc_err err;
	int ret;

	if (!d->o.audit_log || as_proxy != !*d->o.audit_log)
		return 0;
	snprintf(path, sizeof(path), "%s/%s", d->o.state_dir, PC_AUDIT_FILE);
	ret = pc_audit_open(*d->o.audit_log ? d->o.audit_log : path, d->o.audit_max, &err);
	if (ret < 0)
		pc_log(PC_LOG_ERR, "cannot open the audit log, not starting", "err=%s",
		       err.msg);
	return ret;
}

/*
 * As the user the daemon starts as (root): load or make the token file in
 * the state directory when a listener needs it (doc/security.md).
 */
static int open_guards(struct daemon *d)
{
	struct pc_err err;
	bool made = false;
	int ret;

	if (!d->o.api_listen && !(d->o.admin && !d->o.admin_open))
		return 0;
	ret = pc_tokens_load(d->o.state_dir, &d->tokens, &made, &err);
	if (ret < 0) {
		pc_log(PC_LOG_ERR, "cannot load the API token, not starting", "err=%s",
		       err.msg);
		return ret;
	}
	if (made)
		pc_log(PC_LOG_NOTICE, "made a new API token", "path=%s/%s", d->o.state_dir,
		       PC_TOKEN_FILE);
	return 0;
}

/* ---- the state directory and the proxy user (doc/state-dir.md) ---- */

/* The accounts the proxy user is expected to be: install's, and Istio's. */
static bool is_proxy_account(const char *name)
{
	return strcmp(name, "portcullis") == 0 || strcmp(name, "istio-proxy") == 0;
}

/*
 * Started as root, the daemon hands its state directory and store to
 * --proxy-uid/--proxy-gid and becomes them: refuse 0, which would keep root
 * while the workers parse what captured clients send, and would exempt
 * every root process of the pod from capture (iptables exempts the proxy's
 * uid and gid); warn when the ids are another account's, which would then
 * own the store, that is the policy (a uid with no account is nobody's:
 * only a notice).
 */
static int check_proxy_user(const struct options *o)
{
	struct passwd pw, *pwp = NULL;
	struct group gr, *grp = NULL;
	char buf[4096];
	int e;

	if (getuid() != 0)
		return 0; /* nothing is dropped, nothing handed over */
	if (o->uid == 0 || o->gid == 0) {
		pc_log(PC_LOG_ERR,
		       "the proxy must not run as root: give --proxy-uid and --proxy-gid an "
		       "unprivileged user (default 1337, install creates 'portcullis')",
		       "uid=%u gid=%u", (unsigned)o->uid, (unsigned)o->gid);
		return -EPERM;
	}
	e = getpwuid_r(o->uid, &pw, buf, sizeof(buf), &pwp);
	if (e == 0 && !pwp) /* no person's either: usual in a container image */
		pc_log(PC_LOG_NOTICE,
		       "no account has the proxy uid: scripts/install-deps.sh creates the "
		       "'portcullis' user",
		       "uid=%u", (unsigned)o->uid);
	else if (pwp && !is_proxy_account(pwp->pw_name))
		pc_log(PC_LOG_WARN,
		       "the proxy uid is another account's, which will own the state directory "
		       "and the store (the policy): give --proxy-uid the proxy's own account",
		       "uid=%u account=%s", (unsigned)o->uid, pwp->pw_name);
	e = getgrgid_r(o->gid, &gr, buf, sizeof(buf), &grp);
	if (e == 0 && grp && !is_proxy_account(grp->gr_name))
		pc_log(PC_LOG_WARN,
		       "the proxy gid is another group's, whose members may read the proxy's "
		       "files: give --proxy-gid the proxy's own group",
		       "gid=%u group=%s", (unsigned)o->gid, grp->gr_name);
	return 0;
}

/* A name portcullis makes in its state directory (doc/state-dir.md). */
static bool is_ours(const char *name)
{
	static const char *const names[] = { ".",
					     "..",
					     "store.db",
					     "store.db-wal",
					     "store.db-shm",
					     "store.db-journal",
					     "store.lock",
					     PC_TOKEN_FILE,
					     NULL };
	const char *const *n;

	for (n = names; *n; n++) {
		if (strcmp(name, *n) == 0)
			return true;
	}
	return strncmp(name, PC_AUDIT_FILE, strlen(PC_AUDIT_FILE)) == 0;
}

/*
 * Whether the directory <fd> holds only what portcullis makes there. A
 * root-owned directory is handed to the proxy user only then: otherwise
 * --state-dir /run/portcullis (or any directory of root's) would give that
 * user every file in it to unlink or replace.
 */
static bool holds_only_ours(int fd, const char *dir)
{
	int dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *dp = dfd >= 0 ? fdopendir(dfd) : NULL;
	struct dirent *e;
	bool ok = dp != NULL;

	while (ok && (e = readdir(dp))) {
		if (is_ours(e->d_name))
			continue;
		pc_log(PC_LOG_ERR,
		       "the state directory is root's and holds files portcullis did not make, "
		       "which would become the proxy user's: give portcullis a directory of its "
		       "own",
		       "dir=%s file=%s", dir, e->d_name);
		ok = false;
	}
	if (dp)
		closedir(dp);
	else if (dfd >= 0)
		close(dfd);
	return ok;
}

/*
 * Make <dir> the proxy user's, 0700, as root, without following any path
 * that user could change: the proxy user owns the directory, so any name
 * in it may be a link it planted, and a chown() by path through one would
 * hand a root-only file to it (a compromised proxy becoming root at the
 * next restart). So root only creates the directory, opens it O_NOFOLLOW
 * and changes it through that descriptor; the files in it are made by the
 * proxy user itself (open_store()). Root may still create a file of its
 * own there with O_EXCL | O_NOFOLLOW (the API token).
 */
static int own_state_dir(const struct options *o, const char *dir)
{
	bool root = getuid() == 0;
	struct stat st;
	int fd, ret = 0;

	if (mkdir(dir, 0700) == -1 && errno != EEXIST)
		goto fail;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1 && (errno == ELOOP || errno == ENOTDIR)) {
		pc_log(PC_LOG_ERR,
		       "the state directory is a symbolic link or not a directory: give the "
		       "directory itself (root follows no link there)",
		       "dir=%s", dir);
		return -ELOOP;
	}
	if (fd == -1 || fstat(fd, &st) == -1)
		goto fail;
	if (root && st.st_uid != 0 && st.st_uid != o->uid) {
		pc_log(PC_LOG_ERR,
		       "the state directory belongs to another user, and would become the "
		       "proxy user's: give portcullis a directory of its own",
		       "dir=%s owner=%u proxy_uid=%u", dir, (unsigned)st.st_uid, (unsigned)o->uid);
		close(fd);
		return -EPERM;
	}
	if (root && st.st_uid == 0 && !holds_only_ours(fd, dir)) {
		close(fd);
		return -EPERM;
	}
	if ((root && fchown(fd, o->uid, o->gid) == -1) ||
	    ((root || st.st_uid == geteuid()) && fchmod(fd, 0700) == -1))
		ret = -errno;
	close(fd);
	if (ret == 0)
		return 0;
	errno = -ret;
fail:
	ret = -errno;
	pc_log(PC_LOG_ERR, "cannot prepare the state directory", "dir=%s err=%s", dir,
	       strerror(errno));
	return ret;
}

/*
 * Become the proxy user (<to_proxy>) or root again, in the effective ids
 * only (glibc applies setegid/seteuid to every thread, the resolver's
 * too); the real and saved ids stay root for the binds that follow.
 * Nothing to do unless started as root.
 */
static int switch_ids(const struct options *o, bool to_proxy)
{
	if (getuid() != 0)
		return 0;
	if (to_proxy ? setgroups(0, NULL) == -1 || setegid(o->gid) == -1 || seteuid(o->uid) == -1
		     : seteuid(0) == -1 || setegid(0) == -1) {
		pc_log(PC_LOG_ERR, "cannot switch users", "to=%s uid=%u gid=%u err=%s",
		       to_proxy ? "proxy" : "root", (unsigned)o->uid, (unsigned)o->gid,
		       strerror(errno));
		return -errno;
	}
	return 0;
}

/* The store's directory when it is a local one (SQLite), else NULL. */
static const char *store_dir(const struct options *o)
{
	const char *uri = o->store ? o->store : o->state_dir;
	const char *path = pc_store_uri_path(uri);

	return path == uri && strstr(uri, "://") ? NULL : path;
}

/* Take the store's lock, open it, apply --config: as the proxy user already. */
static int lock_and_open(struct daemon *d, struct pc_control_opts *co, struct pc_config *cfg)
{
	const char *uri = d->o.store ? d->o.store : d->o.state_dir;
	struct pc_change_result res;
	struct pc_err err;
	int ret;

	ret = pc_store_lock(uri, &d->lock, &err);
	if (ret < 0) {
		pc_log(PC_LOG_ERR,
		       ret == -EBUSY ? "another daemon uses this store, not starting: give each "
				       "proxy its own --state-dir"
				     : "cannot lock the store",
		       "dir=%s err=%s", pc_store_uri_path(uri), err.msg);
		return ret;
	}
	ret = open_audit(d, true);
	if (ret < 0)
		return ret;
	ret = pc_control_open(co, &d->ctl, &err);
	if (ret < 0) {
		pc_log(PC_LOG_ERR, "cannot open the store", "dir=%s err=%s", pc_store_uri_path(uri),
		       err.msg);
		return ret;
	}
	if (!cfg)
		return 0;
	pc_change_result_init(&res);
	ret = pc_control_apply_loaded(d->ctl, cfg, true, &res);
	log_config(ret, &res, "cannot apply the config, not starting");
	pc_change_result_release(&res);
	return ret;
}

/*
 * SIGHUP re-reads --config after root is dropped for good (no way back:
 * keeping root, or a root helper, for a reload would keep what the drop is
 * for), so each file must be one the proxy user can read. Root read them
 * at start; here, already as the proxy user, refuse to start with the fix
 * rather than start and fail every reload. Call as the proxy user.
 */
static int check_configs_readable(const struct options *o)
{
	size_t i;
	int fd;

	if (getuid() != 0)
		return 0; /* the user that read them reloads them */
	for (i = 0; i < o->nconfigs; i++) {
		fd = open(o->configs[i], O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
		if (fd >= 0) {
			close(fd);
			continue;
		}
		if (errno != EACCES && errno != EPERM)
			continue; /* gone meanwhile: a reload says so, as for any missing file */
		pc_log(PC_LOG_ERR,
		       "--config file is not readable by the proxy user, who re-reads it on SIGHUP "
		       "after dropping root: not starting. Let that user read it, e.g. `chgrp GID "
		       "FILE && chmod g+r FILE` (and search its directories), or give --proxy-uid "
		       "a user who can",
		       "path=%s uid=%u gid=%u err=%s", o->configs[i], (unsigned)o->uid,
		       (unsigned)o->gid, strerror(errno));
		return -EACCES;
	}
	return 0;
}

/*
 * The start's order (root throughout, but for the middle): check the
 * proxy user; own the state directory (and the store's, if --store names
 * another); then, as the proxy user, lock the store, open it and apply
 * --config; then root again for the sockets, until start_workers() drops
 * root for good. The store is opened as the proxy user rather than after
 * the final drop because an invalid --config or a store in use must refuse
 * to start before anything is bound, and the binds need root.
 */
static int open_store(struct daemon *d, struct pc_control_opts *co, struct pc_config *cfg)
{
	const char *sdir = store_dir(&d->o);
	int ret;

	ret = check_proxy_user(&d->o);
	if (ret == 0)
		ret = own_state_dir(&d->o, d->o.state_dir);
	if (ret == 0 && sdir && strcmp(sdir, d->o.state_dir) != 0)
		ret = own_state_dir(&d->o, sdir);
	if (ret == 0)
		ret = switch_ids(&d->o, true);
	if (ret < 0) {
		pc_config_free(cfg);
		return ret;
	}
	ret = check_configs_readable(&d->o);
	if (ret == 0)
		ret = lock_and_open(d, co, cfg);
	if (ret < 0 && !d->ctl)
		pc_config_free(cfg); /* else the control took it */
	if (switch_ids(&d->o, false) < 0)
		return -EPERM; /* nothing may run half-dropped */
	return ret;
}

/*
 * Validate --config, open the store, apply --config, make the API
 * sockets: everything that can refuse to start with a clear reason before
 * a socket is bound.
 */
static int prepare(struct daemon *d)
{
	struct pc_control_opts co = { 0 };
	struct pc_config *cfg = NULL;
	struct pc_err err;
	int ret;

	/* read and validate --config first: an invalid one must not touch the store */
	if (d->o.nconfigs) {
		ret = pc_config_load(d->o.configs, d->o.nconfigs, &cfg);
		if (ret < 0) {
			pc_log(PC_LOG_ERR, "invalid config, not starting", "configs=%zu",
			       d->o.nconfigs);
			return ret;
		}
	}

	co.state_dir = d->o.state_dir;
	co.store = d->o.store;
	co.compile.policy = d->o.policy;
	co.compile.proxy_port = d->o.port;
	co.compile.labels = d->o.labels;
	co.compile.ns = d->o.ns ? d->o.ns : "default";
	co.compile.root_ns = d->o.root_ns;
	co.compile.labels_len = d->o.labels_len;
	co.publish = publish;
	co.settle = settle;
	co.report = report_conflict;
	co.data = d;
	/* first: a second run in this pod must not touch the first's API socket or audit log */
	ret = pc_proxy_lock(d->o.port, &d->listeners);
	if (ret == 0)
		ret = open_audit(d, false);
	if (ret < 0) {
		pc_config_free(cfg);
		return ret;
	}
	ret = open_store(d, &co, cfg);
	if (ret < 0)
		return ret;
	ret = open_guards(d);
	if (ret < 0)
		return ret;
	ret = pc_api_listen(d->o.api_socket, d->o.api_listen, d->api_fds, &err);
	if (ret < 0) {
		pc_log(PC_LOG_ERR, "cannot serve the API", "err=%s", err.msg);
		return ret;
	}
	if (d->o.admin) {
		d->admin_fd = pc_admin_listen(d->o.admin, d->o.admin_any, &err);
		if (d->admin_fd < 0) {
			ret = d->admin_fd;
			pc_log(PC_LOG_ERR, "cannot serve the admin endpoint", "err=%s", err.msg);
		}
	}
	/* root: the DNS sockets are IP_TRANSPARENT, which the iptables guard asks for */
	if (ret == 0 && d->o.dns_listen) {
		ret = pc_dns_listen(d->o.dns_listen, &d->dns_socks, &err);
		if (ret < 0)
			pc_log(PC_LOG_ERR, "cannot serve DNS (--dns-listen)", "err=%s",
			       err.msg);
	}
	return ret;
}

/*
 * The DNS proxy and its registry, once the policy is published and root
 * is dropped. Without a resolver to forward to (no nameserver in
 * /etc/resolv.conf, no --dns-server) it serves the registry alone and
 * says so: names it does not know get SERVFAIL.
 */
static int start_dns(struct daemon *d)
{
	struct pc_addr up[PC_DNS_UPSTREAM_MAX];
	struct pc_dns_proxy_opts po = { 0 };
	struct pc_dnsreg_opts ro = { .pub = d->pub, .ctl = d->ctl };
	struct pc_err err;
	size_t nup = 0;
	int ret;

	if (!d->dns_socks.n)
		return 0;
	ret = pc_dns_upstreams(d->o.dns_server, up, PC_DNS_UPSTREAM_MAX, &nup, &err);
	if (ret < 0) {
		if (d->o.dns_server) {
			pc_log(PC_LOG_ERR, "cannot serve DNS", "err=%s", err.msg);
			return ret;
		}
		pc_log(PC_LOG_WARN,
		       "no resolver to forward DNS to: names no ServiceEntry lists "
		       "get SERVFAIL",
		       "err=%s", err.msg);
		nup = 0;
	}
	ret = pc_dnsreg_new(&ro, &d->dnsreg);
	if (ret < 0) {
		pc_log(PC_LOG_ERR, "cannot serve DNS", "err=%s", strerror(-ret));
		return ret;
	}
	po.socks = &d->dns_socks;
	po.upstreams = up;
	po.nupstreams = nup;
	po.registry_only = d->o.dns_registry_only;
	po.lookup = pc_dnsreg_lookup;
	po.data = d->dnsreg;
	ret = pc_dns_proxy_start(&po, &d->dns);
	if (ret < 0) {
		pc_log(PC_LOG_ERR, "cannot serve DNS", "err=%s",
		       ret == -ELOOP ? "a resolver is the DNS proxy's own address (a loop)"
				     : strerror(-ret));
		return ret;
	}
	d->dns_socks.n = 0; /* the proxy's now */
	pc_dnsreg_set_proxy(d->dnsreg, d->dns);
	return 0;
}

static int start_admin(struct daemon *d)
{
	struct pc_admin_opts ao = { 0 };
	struct pc_err err;
	int ret;

	if (d->admin_fd < 0)
		return 0;
	ao.workers = d->workers;
	ao.nworkers = d->nworkers;
	ao.ctl = d->ctl;
	ao.pub = d->pub;
	ao.labels = d->o.source;
	ao.stats = d->o.stats;
	ao.start_ms = d->start_ms;
	ao.tokens = &d->tokens;
	ao.open = d->o.admin_open;
	ao.dns = d->dns;
	ao.nf = d->nf;
	ret = pc_admin_start(d->admin_fd, &ao, &d->admin, &err);
	d->admin_fd = -1; /* taken */
	if (ret < 0)
		pc_log(PC_LOG_ERR, "cannot serve the admin endpoint", "err=%s", err.msg);
	return ret;
}

/* The options' defaults, and the daemon's fields that are not zero at start. */
static void set_defaults(struct daemon *d)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	d->o.port = 15001;
	d->o.policy = -1;
	d->o.uid = 1337;
	d->o.gid = 1337;
	d->o.drain_ms = 5000;
	d->o.detect_ms = 5000;
	d->o.concurrency = ncpu > 0 ? (unsigned)ncpu : 1;
	d->o.state_dir = PC_STORE_DEFAULT_DIR;
	d->o.api_socket = DEFAULT_API_SOCKET;
	d->sigio.fd = -1;
	d->main = pthread_self();
	d->api_fds[0] = d->api_fds[1] = -1;
	d->admin_fd = -1;
	pc_proxy_listeners_init(&d->listeners);
	d->start_ms = pc_mono_ms();
	d->o.admin = PC_ADMIN_DEFAULT;
	d->o.stats = true;
	d->o.report_ms = 15000;
	d->o.deny_response = PC_DENY_PROTOCOL;
	d->o.root_ns = "istio-system";
	d->o.audit_log = "";
	d->o.audit_max = (uint64_t)10 << 20;
	d->o.dns_listen = PC_DNS_DEFAULT_LISTEN;
}

int pc_daemon_run(int argc, char **argv)
{
	struct daemon d = { 0 };
	struct pc_err err;
	int ret;

	set_defaults(&d);
	ret = parse_args(argc, argv, &d.o);
	if (ret >= 0) {
		free(d.o.configs);
		free(d.o.labels);
		return ret;
	}
	d.nworkers = d.o.concurrency;
	if (d.o.dns_server && !pc_dns_server_is_valid(d.o.dns_server)) {
		free(d.o.configs);
		free(d.o.labels);
		fprintf(stderr, "portcullis: run: --dns-server needs IPv4[:PORT], not \"%s\"\n",
			d.o.dns_server);
		return 2;
	}
	raise_nofile();
	/* first: its root helper is forked while this process is root and has no thread */
	ret = pc_netfilter_start(&d.nf);
	/* the resolver runs before the first snapshot, so that it can resolve its names */
	if (ret == 0)
		ret = pc_runtime_default()
			      ? pc_resolver_start(pc_runtime_default(), d.o.dns_server, &d.res)
			      : -ENOMEM;
	if (ret == 0) {
		d.pub = pc_publisher_new();
		d.loop = pc_loop_new();
		ret = d.pub && d.loop ? prepare(&d) : -ENOMEM;
	}
	if (ret == 0)
		ret = open_access_log(&d);
	if (ret == 0)
		ret = setup_signals(&d);
	if (ret == 0)
		ret = start_workers(&d);
	if (ret == 0) {
		ret = pc_api_start(d.ctl, d.api_fds, &d.tokens, &d.api, &err);
		if (ret < 0)
			pc_log(PC_LOG_ERR, "cannot serve the API", "err=%s", err.msg);
	}
	if (ret == 0)
		ret = start_dns(&d);
	if (ret == 0)
		ret = start_admin(&d);
	if (ret < 0) {
		shutdown_daemon(&d, 0); /* the worker threads were never started */
		return 1;
	}
	pc_admin_set_state(d.admin, PC_ADMIN_READY);
	pc_log(PC_LOG_NOTICE, "ready", "port=%u workers=%u uid=%u api=%s admin=%s dns=%s", d.o.port,
	       d.nworkers, (unsigned)geteuid(), d.o.api_socket ? d.o.api_socket : "off",
	       d.o.admin ? d.o.admin : "off", d.dns ? d.o.dns_listen : "off");
	ret = pc_loop_run(d.loop);
	shutdown_daemon(&d, d.nworkers);
	pc_log(PC_LOG_NOTICE, "stopped", NULL);
	return ret < 0 ? 1 : 0;
}
