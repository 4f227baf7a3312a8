/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * store/store-int.h - test seams of the SQLite backend (store/sqlite.c).
 * Included only by sqlite.c and its unit test.
 */
#ifndef PC_STORE_STORE_INT_H
#define PC_STORE_STORE_INT_H

#include <sqlite3.h>

struct pc_store;

/*
 * The SQLite connection behind <s>, so a test can provoke failures the
 * real world produces (PRAGMA max_page_count for a full disk, query_only
 * for a read-only file system, a short busy timeout, integrity_check).
 * NULL when <s> is not a SQLite store.
 */
sqlite3 *pc_store_sqlite(struct pc_store *s);

#endif /* PC_STORE_STORE_INT_H */
