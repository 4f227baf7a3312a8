/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * core/usage.c - the command line's error messages (core/usage.h).
 */
#include "core/usage.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"

void pc_usage_print(const char *fmt, ...)
{
	va_list ap;

	fputs("portcullis: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int pc_usage_error(const char *verb, const char *fmt, ...)
{
	char msg[PC_ERR_MSG_MAX + 128];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pc_usage_print("%s: %s; see 'portcullis %s --help'", verb, msg, verb);
	return PC_EXIT_USAGE;
}

int pc_usage_bad_option(const char *verb, char **argv, const char *with_arg)
{
	if (!optopt)
		return pc_usage_error(verb, "unknown option \"%s\"", argv[optind - 1]);
	/* A known long option: getopt_long() sets optopt to its val, which may be no short one. */
	if (strncmp(argv[optind - 1], "--", 2) == 0) {
		if (strchr(argv[optind - 1], '='))
			return pc_usage_error(verb, "option \"%s\" takes no argument",
					      argv[optind - 1]);
		return pc_usage_error(verb, "option %s needs an argument", argv[optind - 1]);
	}
	if (optopt > 0 && optopt < 256 && strchr(with_arg, optopt))
		return pc_usage_error(verb, "option -%c needs an argument", optopt);
	return pc_usage_error(verb, "unknown option \"-%c\"", optopt);
}
