/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cli/main.c - `portcullis VERB ...`: dispatch to the verbs.
 *
 * pc_cli_main() is called by the executable's main() (src/daemon/main.c)
 * for every verb but `run`, and can be driven by a fuzz target.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli/cmd.h"
#include "core/err.h"

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

void pc_cli_error(const char *fmt, ...)
{
	va_list ap;

	fputs("portcullis: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int pc_cli_usage_error(const char *verb, const char *fmt, ...)
{
	char msg[PC_ERR_MSG_MAX + 128];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pc_cli_error("%s: %s; see 'portcullis %s --help'", verb, msg, verb);
	return PC_EXIT_USAGE;
}

int pc_cli_bad_option(const char *verb, char **argv, const char *with_arg)
{
	if (!optopt)
		return pc_cli_usage_error(verb, "unknown option \"%s\"", argv[optind - 1]);
	/* A known long option: getopt_long() sets optopt to its val, which may be no short one. */
	if (strncmp(argv[optind - 1], "--", 2) == 0) {
		if (strchr(argv[optind - 1], '='))
			return pc_cli_usage_error(verb, "option \"%s\" takes no argument",
						  argv[optind - 1]);
		return pc_cli_usage_error(verb, "option %s needs an argument", argv[optind - 1]);
	}
	if (optopt > 0 && optopt < 256 && strchr(with_arg, optopt))
		return pc_cli_usage_error(verb, "option -%c needs an argument", optopt);
	return pc_cli_usage_error(verb, "unknown option \"-%c\"", optopt);
}

static int cmd_version(void)
{
	printf("portcullis %s\n", PC_VERSION);
	return PC_EXIT_OK;
}

struct verb {
	const char *name;
	int (*fn)(int argc, char **argv);
};

/* clang-format off: one verb a line */
static const struct verb verbs[] = {
	{ "validate", pc_cmd_validate },
	{ "iptables", pc_cmd_iptables },
	{ "apply", pc_cmd_apply },
	{ "get", pc_cmd_get },
	{ "delete", pc_cmd_delete },
	{ "top", pc_cmd_top },
	{ "connections", pc_cmd_connections },
	{ NULL, NULL },
};
/* clang-format on */

static const struct verb *find_verb(const char *name)
{
	const struct verb *v;

	for (v = verbs; v->name; v++)
		if (strcmp(v->name, name) == 0)
			return v;
	return NULL;
}

static int help(int argc, char **argv)
{
	const struct verb *v;

	if (argc < 2) {
		fputs(usage, stdout);
		return PC_EXIT_OK;
	}
	v = find_verb(argv[1]);
	if (v) {
		char *args[] = { argv[1], "--help", NULL };

		optind = 0;
		return v->fn(2, args);
	}
	if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "help") == 0) {
		fputs(usage, stdout);
		return PC_EXIT_OK;
	}
	pc_cli_error("help: unknown verb \"%s\"; see 'portcullis --help'", argv[1]);
	return PC_EXIT_USAGE;
}

static int dispatch(int argc, char **argv)
{
	const char *verb = argv[0];
	const struct verb *v = find_verb(verb);

	if (v)
		return v->fn(argc, argv);
	if (strcmp(verb, "version") == 0 || strcmp(verb, "--version") == 0)
		return cmd_version();
	if (strcmp(verb, "help") == 0 || strcmp(verb, "--help") == 0 || strcmp(verb, "-h") == 0)
		return help(argc, argv);
	pc_cli_error("unknown verb \"%s\"; see 'portcullis --help'", verb);
	return PC_EXIT_USAGE;
}

int pc_cli_main(int argc, char **argv)
{
	if (argc < 2) {
		fputs(usage, stderr);
		return PC_EXIT_USAGE;
	}
	return dispatch(argc - 1, argv + 1);
}
