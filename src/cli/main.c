/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cli/main.c - `portcullis VERB ...`: dispatch to the verbs.
 *
 * pc_cli_main() is called by the executable's main() (src/daemon/main.c)
 * for every verb but `run`, and can be driven by a fuzz target.
 */
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
	"  validate   check Istio networking manifests offline, as Istio's webhook would\n"
	"  iptables   capture outbound TCP for the proxy (nat rules, IPv4 and IPv6)\n"
	"  run        run the transparent egress proxy (see 'portcullis run --help')\n"
	"  version    print the version\n"
	"  help       show this help, or a verb's: portcullis help VERB\n"
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

static int cmd_version(void)
{
	printf("portcullis %s\n", PC_VERSION);
	return PC_EXIT_OK;
}

static int dispatch(int argc, char **argv)
{
	const char *verb = argv[0];

	if (strcmp(verb, "validate") == 0)
		return pc_cmd_validate(argc, argv);
	if (strcmp(verb, "iptables") == 0)
		return pc_cmd_iptables(argc, argv);
	if (strcmp(verb, "version") == 0 || strcmp(verb, "--version") == 0)
		return cmd_version();
	if (strcmp(verb, "help") == 0 || strcmp(verb, "--help") == 0 || strcmp(verb, "-h") == 0) {
		if (argc > 1 && (strcmp(argv[1], "validate") == 0 ||
				 strcmp(argv[1], "iptables") == 0)) {
			char *args[] = { argv[1], "--help", NULL };

			return dispatch(2, args);
		}
		if (argc > 1) {
			pc_cli_error("help: unknown verb \"%s\"; see 'portcullis --help'", argv[1]);
			return PC_EXIT_USAGE;
		}
		fputs(usage, stdout);
		return PC_EXIT_OK;
	}
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
