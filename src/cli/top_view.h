/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cli/top_view.h - what `portcullis top` shows, as text.
 *
 * A view holds the two newest answers of GET /stats?format=json and the
 * newest answer of GET /denials (doc/admin.md), and renders a frame from
 * them into a buffer: a header line (uptime, policy generation,
 * connections, denials), one row per cluster (connections allowed, active
 * and failed; bytes per second, from the change of the byte counters
 * between the two samples over the change of the daemon's uptime; bytes
 * so far), busiest first, and the newest denials with their reason and
 * hint. Lines are cut to a given width and the frame to a given height.
 *
 * The view does no I/O: cmd_top.c fetches the answers, hands them over
 * and writes the frames out. Everything here runs in the main flow, never
 * in a signal handler.
 */
#ifndef PC_CLI_TOP_VIEW_H
#define PC_CLI_TOP_VIEW_H

#include <stdbool.h>
#include <stddef.h>

#include "cli/client.h"

struct pc_buf;
struct pc_node;

/* One answer of /stats?format=json. */
struct pc_top_sample {
	struct pc_response r;
	const struct pc_node *clusters; /* a sequence, or NULL */
	double uptime;                  /* -1 when unknown */
	double mono;                    /* when it came, CLOCK_MONOTONIC seconds */
};

struct pc_top_view {
	const char *addr;               /* the admin endpoint, for the header (borrowed) */
	struct pc_top_sample cur, prev; /* prev.r.root is NULL before a second sample */
	struct pc_response denials;
	const struct pc_node *dlist; /* the denials, oldest first */
	char error[512];             /* why the last refresh failed, or "" */
};

/*
 * Read "clusters" and "uptime_seconds" from the answer in <s>->r into <s>
 * (<s>->mono is the caller's). Returns 0, or -EBADMSG when "clusters" is
 * there but not a list.
 */
int pc_top_sample_parse(struct pc_top_sample *s);

/* Release the answer held by <s> and zero it. */
void pc_top_sample_release(struct pc_top_sample *s);

/*
 * Make <s> the current sample (the current one becomes the previous) and
 * <denials> the denials, and clear the error. On success the view takes
 * both (and zeroes *<s> and *<denials>) and returns 0. Returns -EBADMSG,
 * taking nothing, when the answer in <denials> holds no list of denials.
 */
int pc_top_view_update(struct pc_top_view *v, struct pc_top_sample *s, struct pc_response *denials);

/* Release everything the view holds; <v>->addr stays borrowed. */
void pc_top_view_release(struct pc_top_view *v);

/*
 * Append a frame of <v> to <out>: lines cut to <width> characters and at
 * most <rows> of them (0: no limit either way). With <tty> lines are
 * separated by "\n" and each ends in an erase to the end of the line (to
 * redraw in place, between the caller's cursor home and erase to the end
 * of the screen), and all denials that fit are shown; without it every
 * line ends in "\n" and at most the 10 newest denials are shown. Runs out
 * of memory as pc_buf does: check <out>->oom.
 */
void pc_top_view_frame(const struct pc_top_view *v, struct pc_buf *out, size_t width, size_t rows,
		       bool tty);

#endif /* PC_CLI_TOP_VIEW_H */
