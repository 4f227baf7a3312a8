/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * core/err.h - error descriptions for input problems.
 *
 * Parsers and loaders fill a struct pc_err at the innermost point that
 * knows what went wrong (message, and the 1-based line and column when the
 * problem has a place in a file); outer layers only pass the code up and
 * the boundary (CLI, daemon loader) prints it.
 */
#ifndef PC_CORE_ERR_H
#define PC_CORE_ERR_H

#define PC_ERR_MSG_MAX 512

struct pc_err {
	int code;      /* negative errno, 0 when unset */
	unsigned line; /* 1-based, 0 when the error has no position */
	unsigned col;  /* 1-based, 0 when the error has no position */
	char msg[PC_ERR_MSG_MAX];
};

/* Reset <err> to "no error". */
void pc_err_clear(struct pc_err *err);

/* Fill <err> with <code> and a formatted message; returns <code>. */
int pc_err_set(struct pc_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Like pc_err_set() with a position. */
int pc_err_at(struct pc_err *err, int code, unsigned line, unsigned col, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/*
 * Fill <err> from a positive errno <errnum> (as errno holds it): the
 * message is the formatted text, ": ", strerror. Returns -<errnum>.
 */
int pc_err_errno(struct pc_err *err, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif /* PC_CORE_ERR_H */
