/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * main.c - the portcullis executable: one table of verbs.
 *
 * The entry point sits above every layer (doc/internals/layers.md): it
 * links the command line (src/cli, which never links the proxy) and the
 * daemon (src/daemon, the `run` verb), which know nothing of each other.
 * main() only dispatches, through one table that holds every verb, `run`
 * included (as wireguard-tools' wg.c and curl's tool_main.c do), so that
 * `portcullis help VERB` and `portcullis VERB --help` work alike for all.
 * fuzz/fuzz_argv.c includes this file with main renamed (wireguard-tools'
 * trick) to drive the dispatcher with arbitrary argv.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cmd.h"
#include "core/usage.h"
#include "daemon/run.h"

#ifndef PC_VERSION
#define PC_VERSION "0.0.0"
#endif

static const char usage[] =
	"Usage: portcullis [--help] [--version] VERB [ARGS...]\n"
	"\n"
	"Egress control for TCP with Istio's ServiceEntry semantics.\n"
	"\n"
	"Verbs:\n"
	"  validate     check Istio manifests offline, as Istio's webhook would\n"
	"  iptables     capture outbound TCP for the proxy (nat rules, IPv4 and IPv6)\n"
	"  run          run the transparent egress proxy (see 'portcullis run --help')\n"
	"  apply        create or update resources in the running proxy (-f PATH)\n"
	"  get          show resources of the running proxy (KIND [NAME])\n"
	"  delete       delete resources from the running proxy (-f PATH | KIND NAME)\n"
	"  connections  list the running proxy's live connections (admin endpoint)\n"
	"  top          live view of the running proxy: traffic per destination, denials\n"
	"  version      print the version\n"
	"  help         show this help, or a verb's: portcullis help VERB\n"
	"\n"
	"Run 'portcullis VERB --help' for the options of a verb.\n";

struct verb {
	const char *name;
	int (*fn)(int argc, char **argv);
};

static int cmd_version(int argc, char **argv);
static int cmd_help(int argc, char **argv);

/* Every verb; argv[0] is the verb. clang-format off: one verb a line */
static const struct verb verbs[] = {
	{ "validate", pc_cmd_validate },
	{ "iptables", pc_cmd_iptables },
	{ "run", pc_daemon_run },
	{ "apply", pc_cmd_apply },
	{ "get", pc_cmd_get },
	{ "delete", pc_cmd_delete },
	{ "top", pc_cmd_top },
	{ "connections", pc_cmd_connections },
	{ "version", cmd_version },
	{ "help", cmd_help },
	{ NULL, NULL },
};
/* clang-format on */

static const struct verb *find_verb(const char *name)
{
	const struct verb *v;

	/* The option spellings of two verbs. */
	if (strcmp(name, "--version") == 0)
		name = "version";
	else if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0)
		name = "help";
	for (v = verbs; v->name; v++)
		if (strcmp(v->name, name) == 0)
			return v;
	return NULL;
}

static int cmd_version(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("portcullis %s\n", PC_VERSION);
	return PC_EXIT_OK;
}

/* `help`: this usage; `help VERB`: what `VERB --help` prints. */
static int cmd_help(int argc, char **argv)
{
	const struct verb *v;

	if (argc < 2) {
		fputs(usage, stdout);
		return PC_EXIT_OK;
	}
	/* Only verbs proper: "help --help" must not come back here. */
	v = strncmp(argv[1], "-", 1) ? find_verb(argv[1]) : NULL;
	if (v && v->fn != cmd_help && v->fn != cmd_version) {
		char *args[] = { argv[1], "--help", NULL };

		optind = 0;
		return v->fn(2, args);
	}
	if (v) {
		fputs(usage, stdout);
		return PC_EXIT_OK;
	}
	pc_usage_print("help: unknown verb \"%s\"; see 'portcullis --help'", argv[1]);
	return PC_EXIT_USAGE;
}

int main(int argc, char **argv)
{
	const struct verb *v;

	if (argc < 2) {
		fputs(usage, stderr);
		return PC_EXIT_USAGE;
	}
	v = find_verb(argv[1]);
	if (!v) {
		pc_usage_print("unknown verb \"%s\"; see 'portcullis --help'", argv[1]);
		return PC_EXIT_USAGE;
	}
	return v->fn(argc - 1, argv + 1);
}
