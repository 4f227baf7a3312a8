/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * daemon/budget.h - counted budgets of the API: how many watches, reads
 * and writes may be in progress, and how many bytes of uploads may be held
 * in memory, in all and per client. A request takes its share once its
 * headers are in (its class is known then) and gives it back when it ends;
 * over budget it waits a bounded time or is answered 429/503 saying which
 * budget (doc/api.md, "Budgets").
 */
#ifndef PC_DAEMON_BUDGET_H
#define PC_DAEMON_BUDGET_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

/* Distinct clients a budget tracks at once; more share one entry. */
#define PC_BUDGET_CLIENTS 64
#define PC_BUDGET_KEY     48

struct pc_budget_client {
	char key[PC_BUDGET_KEY]; /* "uid 1000", "token ci"; "" when free */
	uint64_t used;
};

struct pc_budget {
	const char *label;    /* in the metrics: "watches", "upload_bytes" */
	const char *what;     /* "watches", "bytes of uploads in flight" */
	uint64_t limit;       /* in all */
	uint64_t per_client;  /* 0: no per-client limit */
	unsigned wait_ms;     /* how long a taker may wait for room */
	unsigned max_waiters; /* takers waiting at once; more are refused at once */
	unsigned waiters;
	pthread_mutex_t lock;
	pthread_cond_t room;
	uint64_t used;
	uint64_t refused; /* takers sent away, for the counters */
	struct pc_budget_client clients[PC_BUDGET_CLIENTS];
	struct pc_budget *next; /* every budget, for the metrics */
};

void pc_budget_init(struct pc_budget *b, const char *label, const char *what, uint64_t limit,
		    uint64_t per_client, unsigned wait_ms, unsigned max_waiters);
void pc_budget_destroy(struct pc_budget *b);

/*
 * Take <n> of <b> for the client <key>, waiting up to b->wait_ms for room
 * (when fewer than b->max_waiters already wait: a waiter holds a thread and
 * a connection, so they are bounded too).
 * Returns 0; -EBUSY over the limit in all, -EUSERS over the client's, with
 * <why> saying which ("too many watches: 32 open, limit 32"); -E2BIG when
 * <n> alone is over a limit (waiting would not help).
 */
int pc_budget_take(struct pc_budget *b, const char *key, uint64_t n, char *why, size_t size);

/* Give back <n> taken by <key>. */
void pc_budget_give(struct pc_budget *b, const char *key, uint64_t n);

/* How much is taken, and how many takers were refused, now. */
void pc_budget_read(struct pc_budget *b, uint64_t *used, uint64_t *refused);

struct pc_buf;

/*
 * Every budget initialised and not destroyed, in Prometheus' text format
 * (doc/admin.md): portcullis_api_budget_used{budget} and
 * portcullis_api_budget_refused_total{budget}.
 */
void pc_budget_prometheus(struct pc_buf *b);

#endif /* PC_DAEMON_BUDGET_H */
