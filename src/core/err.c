/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * core/err.c - filling struct pc_err.
 */
#include "core/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/buf.h"

void pc_err_clear(struct pc_err *err)
{
	err->code = 0;
	err->line = 0;
	err->col = 0;
	err->msg[0] = '\0';
}

static int vset(struct pc_err *err, int code, unsigned line, unsigned col, const char *fmt,
		va_list ap) __attribute__((format(printf, 5, 0)));

static int vset(struct pc_err *err, int code, unsigned line, unsigned col, const char *fmt,
		va_list ap)
{
	err->code = code;
	err->line = line;
	err->col = col;
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	pc_utf8_trim(err->msg);
	return code;
}

int pc_err_set(struct pc_err *err, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vset(err, code, 0, 0, fmt, ap);
	va_end(ap);
	return code;
}

int pc_err_at(struct pc_err *err, int code, unsigned line, unsigned col, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vset(err, code, line, col, fmt, ap);
	va_end(ap);
	return code;
}

int pc_err_errno(struct pc_err *err, int errnum, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	vset(err, -errnum, 0, 0, fmt, ap);
	va_end(ap);
	n = strlen(err->msg);
	snprintf(err->msg + n, sizeof(err->msg) - n, ": %s", strerror(errnum));
	return -errnum;
}
