/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * store/sqlite.c - the store backend on SQLite (store/store.h), "sqlite:<dir>".
 *
 * Layout of <dir>/store.db (schema version 1):
 *
 *   schema_version(version)            one row; refused unless known
 *   meta(key, value)                   'revision': the global revision;
 *                                      'watch_floor': changes at or below it
 *                                      are no longer in <changes>
 *   objects(kind, ns, name, uid, resource_version, generation,
 *           creation_timestamp, spec_json, object_json, source)
 *                                      primary key (kind, ns, name)
 *   changes(seq, rev, type, kind, ns, name, uid, resource_version,
 *           generation, creation_timestamp, object_json, source)
 *                                      the watch log: one row per changed
 *                                      object (spec_json left empty: the
 *                                      watch shows object_json), written in
 *                                      the transaction that changes it, the
 *                                      last PC_STORE_WATCH_KEEP rows kept
 *
 * The changes table is what makes the watch: every writer that runs this
 * code logs its changes there, so a watcher sees the daemon's own commits
 * and another process's (the CLI's, a second daemon's) the same way. It
 * reads the table only when something may have changed: after a commit of
 * its own handle, or when PRAGMA data_version says another connection
 * committed (https://sqlite.org/pragma.html#pragma_data_version). The
 * table is an addition to schema version 1, created at open where it is
 * missing; a writer that does not log (a build before it) shows as a
 * revision the log does not reach, and watchers then start over (-ERANGE).
 *
 * The address allocations of the DNS proxy (store.h) are a table of their
 * own, outside revisions and the watch log:
 *
 *   allocations(name, v4, v6, created, last_used)
 *                                      primary key name; v4 (4 bytes) and
 *                                      v6 (16 bytes) are BLOBs, NULL when
 *                                      absent, each UNIQUE
 *
 * It is an addition to schema version 1 like the changes table: created
 * with a new store, and at open in a store made before it. An older build
 * still opens such a store (it does not look at the table), so going back
 * a version loses no resource; the schema version is for changes an older
 * build would misread, which an unknown table is not.
 *
 * Every change runs in one BEGIN IMMEDIATE transaction, so the write lock
 * is taken before anything is read: the precondition checks and the writes
 * see the same state, and two processes applying at once serialise instead
 * of failing with SQLITE_BUSY_SNAPSHOT at commit. With journal_mode=WAL and
 * synchronous=FULL, SQLite fsyncs the WAL at each COMMIT (and the directory
 * when it creates the WAL), so a successful COMMIT is durable; see
 * https://sqlite.org/pragma.html#pragma_synchronous and wal.html. On any
 * error the transaction is rolled back before returning.
 */
#include "store/store.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "core/alloc.h"
#include "core/err.h"
#include "store/store-int.h"

struct sqlite_store {
	struct pc_store base; /* first: a struct pc_store * is a struct sqlite_store * */
	sqlite3 *db;
	char *path;       /* <dir>/store.db, for messages */
	int64_t seen_dv;  /* PRAGMA data_version when the watch last read the log */
	int64_t seen_rev; /* the newest revision the watch read or this handle wrote */
};

#define STR_(x) #x
#define STR(x)  STR_(x)

/* The watch log: one row per changed object, in commit order (seq). */
#define CHANGES_COLUMNS                                                                    \
	"seq INTEGER PRIMARY KEY, rev INTEGER NOT NULL, type TEXT NOT NULL, kind TEXT NOT NULL," \
	" ns TEXT NOT NULL, name TEXT NOT NULL, uid TEXT NOT NULL,"                              \
	" resource_version INTEGER NOT NULL, generation INTEGER NOT NULL,"                       \
	" creation_timestamp TEXT NOT NULL, spec_json TEXT NOT NULL,"                            \
	" object_json TEXT NOT NULL, source TEXT NOT NULL"

/* The address allocations (store.h): one row per name, each address in one row at most. */
#define ALLOC_TABLE                                                      \
	"CREATE TABLE IF NOT EXISTS allocations (name TEXT PRIMARY KEY," \
	" v4 BLOB UNIQUE CHECK (v4 IS NULL OR length(v4) = 4),"          \
	" v6 BLOB UNIQUE CHECK (v6 IS NULL OR length(v6) = 16),"         \
	" created INTEGER NOT NULL, last_used INTEGER NOT NULL) WITHOUT ROWID;"

static const char schema_sql[] =
	"CREATE TABLE schema_version (version INTEGER NOT NULL);"
	"INSERT INTO schema_version (version) VALUES (" STR(
		PC_STORE_SCHEMA_VERSION) ");"
					 "CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER "
					 "NOT NULL) WITHOUT ROWID;"
					 "INSERT INTO meta (key, value) VALUES ('revision', 0);"
					 "CREATE TABLE objects ("
					 " kind TEXT NOT NULL, ns TEXT NOT NULL, name TEXT NOT "
					 "NULL,"
					 " uid TEXT NOT NULL UNIQUE,"
					 " resource_version INTEGER NOT NULL, generation INTEGER "
					 "NOT NULL,"
					 " creation_timestamp TEXT NOT NULL,"
					 " spec_json TEXT NOT NULL, object_json TEXT NOT NULL,"
					 " source TEXT NOT NULL,"
					 " PRIMARY KEY (kind, ns, name)) WITHOUT ROWID;"
					 "CREATE TABLE changes (" CHANGES_COLUMNS ");"
					 "CREATE INDEX changes_rev ON changes (rev);"
					 "INSERT INTO meta (key, value) VALUES ('watch_floor', "
					 "0);" ALLOC_TABLE;

#define OBJECT_COLUMNS                                                                       \
	"kind, ns, name, uid, resource_version, generation, creation_timestamp, spec_json, " \
	"object_json, source"

sqlite3 *pc_store_sqlite(struct pc_store *s)
{
	return s->ops == &pc_store_sqlite_ops ? ((struct sqlite_store *)s)->db : NULL;
}

/*
 * Map an SQLite result code (primary or extended) and the errno of the
 * system call that failed under it (<sys>, sqlite3_system_errno(), 0 when
 * none) to a negative errno. SQLite reports ENOSPC on write as SQLITE_FULL;
 * for open and I/O errors the errno tells a full disk, a read-only file
 * system and permissions apart. A "corrupt" page that came with a failed
 * read is the disk's fault, not the file's: -EIO either way, but
 * sql_fail() words them apart.
 */
static int sql_code(int rc, int sys)
{
	switch (rc & 0xff) {
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_READONLY:
		return sys == EACCES || sys == EPERM ? -EACCES : -EROFS;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return -EACCES;
	case SQLITE_CANTOPEN:
	case SQLITE_IOERR:
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		if (sys == ENOSPC || sys == EDQUOT)
			return -ENOSPC;
		if (sys == EROFS)
			return -EROFS;
		if (sys == EACCES || sys == EPERM)
			return -EACCES;
		return -EIO;
	default:
		return -EIO;
	}
}

/*
 * The errno of a failed system call, as SQLite's log tells it. By the time
 * a call returns, sqlite3_system_errno() may hold 0 (errno was reused),
 * but os_unix.c logs "(errno) call(path) - strerror" at the failure; keep
 * the last such line of this thread, for sql_fail() to name the cause.
 */
static __thread struct {
	int sys;
	char call[320]; /* "fdatasync(/var/lib/portcullis/store.db-wal)" */
} last_io;

static void on_sqlite_log(void *data, int rc, const char *msg)
{
	const char *p = strstr(msg ? msg : "", ": (");
	char *end;
	long e;

	(void)data;
	if (!p || ((rc & 0xff) != SQLITE_IOERR && (rc & 0xff) != SQLITE_CANTOPEN &&
		   (rc & 0xff) != SQLITE_FULL))
		return;
	e = strtol(p + 3, &end, 10);
	if (e <= 0 || *end != ')' || end[1] != ' ')
		return;
	p = strstr(end + 2, " - ");
	last_io.sys = (int)e;
	snprintf(last_io.call, sizeof(last_io.call), "%.*s",
		 (int)(p ? (size_t)(p - end - 2) : strlen(end + 2)), end + 2);
}

static void sqlite_log_init(void)
{
	/* only before SQLite's first use: else SQLITE_MISUSE, and causes stay vaguer */
	sqlite3_config(SQLITE_CONFIG_LOG, on_sqlite_log, NULL);
}

static void sqlite_setup(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, sqlite_log_init);
}

/* The system call an extended SQLITE_IOERR_* code names ("" when none). */
static const char *io_op(int xrc)
{
	switch (xrc) {
	case SQLITE_IOERR_READ:
		return "read";
	case SQLITE_IOERR_SHORT_READ:
		return "short read";
	case SQLITE_IOERR_WRITE:
		return "write";
	case SQLITE_IOERR_FSYNC:
	case SQLITE_IOERR_DIR_FSYNC:
		return "fsync";
	case SQLITE_IOERR_TRUNCATE:
		return "truncate";
	case SQLITE_IOERR_FSTAT:
		return "fstat";
	case SQLITE_IOERR_SHMOPEN:
	case SQLITE_IOERR_SHMSIZE:
	case SQLITE_IOERR_SHMMAP:
		return "shared-memory map";
	case SQLITE_IOERR_DELETE:
		return "unlink";
	case SQLITE_IOERR_LOCK:
	case SQLITE_IOERR_RDLOCK:
	case SQLITE_IOERR_UNLOCK:
		return "lock";
	default:
		return "";
	}
}

/* Fill <err> for the SQLite failure <rc> while doing <what>; returns the code. */
/*
 * Create and remove a file next to <db>: what a file system that turned
 * read-only after an error (ext4's errors=remount-ro, which statvfs() and
 * access() do not always show) or that is full answers to a new write.
 */
static int probe_write(const char *db, int code)
{
	char path[PATH_MAX];
	const char *slash = strrchr(db, '/');
	int fd, e;

	if (!slash || (size_t)(slash - db) + 32 > sizeof(path))
		return code;
	snprintf(path, sizeof(path), "%.*s/.store-probe-%ld", (int)(slash - db), db,
		 (long)getpid());
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd == -1) {
		e = errno == EDQUOT ? ENOSPC : errno;
		return e == EROFS || e == ENOSPC || e == EACCES ? -e : code;
	}
	e = write(fd, "x", 1) == 1 ? 0 : errno;
	close(fd);
	unlink(path);
	return e == EROFS || e == ENOSPC ? -e : code;
}

/*
 * SQLite reports the errno of a failed write only while nothing else has
 * touched errno since; when it is lost, ask the file system whether the
 * database can still be written.
 */
static int io_cause(const struct sqlite_store *s, int code)
{
	struct statvfs sv;

	if (code != -EIO || !s->path)
		return code;
	if (statvfs(s->path, &sv) == 0 && (sv.f_flag & ST_RDONLY))
		return -EROFS;
	if (access(s->path, W_OK) == -1 && (errno == EROFS || errno == EACCES))
		return -errno;
	return probe_write(s->path, code);
}

/* An I/O error, named by the system call and errno behind it when SQLite kept them. */
static int io_fail(const struct sqlite_store *s, int code, int xrc, int sys, const char *what,
		   const char *why, struct pc_err *err)
{
	const char *op = *last_io.call ? last_io.call : io_op(xrc);

	if ((xrc & 0xff) == SQLITE_CORRUPT || (xrc & 0xff) == SQLITE_NOTADB) {
		if (sys == 0)
			return pc_err_set(err, code,
					  "cannot %s: the database %s is corrupt (%s): restore it "
					  "from a backup, or move it away to start empty",
					  what, s->path, why);
		/* a read that failed gave SQLite garbage: the disk, not the file */
		return pc_err_set(err, code, "cannot %s: I/O error reading %s: %s (SQLite: %s)",
				  what, s->path, strerror(sys), why);
	}
	if (sys)
		return pc_err_set(err, code, "cannot %s: I/O error on %s: %s%s%s (SQLite: %s)",
				  what, s->path, *op ? op : "", *op ? ": " : "", strerror(sys),
				  why);
	return pc_err_set(err, code, "cannot %s: I/O error on %s%s%s (SQLite: %s)", what, s->path,
			  *op ? " during " : "", op, why);
}

static int sql_describe(struct sqlite_store *s, int code, int xrc, int sys, const char *what,
			const char *why, struct pc_err *err)
{
	switch (code) {
	case -ENOSPC:
		return pc_err_set(err, code, "cannot %s: disk full: no space left for %s (%s)",
				  what, s->path, why);
	case -EROFS:
		return pc_err_set(err, code, "cannot %s: %s is read-only (%s)", what, s->path, why);
	case -EACCES:
		return pc_err_set(err, code, "cannot %s: permission denied on %s (%s)", what,
				  s->path, why);
	case -EBUSY:
		return pc_err_set(err, code,
				  "cannot %s: %s is locked by another writer for over %d ms (%s)",
				  what, s->path, PC_STORE_BUSY_MS, why);
	case -EIO:
		if ((xrc & 0xff) == SQLITE_IOERR || (xrc & 0xff) == SQLITE_CORRUPT ||
		    (xrc & 0xff) == SQLITE_NOTADB || (xrc & 0xff) == SQLITE_CANTOPEN)
			return io_fail(s, code, xrc, sys, what, why, err);
		return pc_err_set(err, code, "cannot %s: %s (%s)", what, why, s->path);
	default:
		return pc_err_set(err, code, "cannot %s: %s (%s)", what, why, s->path);
	}
}

static int sql_fail(struct sqlite_store *s, int rc, const char *what, struct pc_err *err)
{
	int xrc = s->db ? sqlite3_extended_errcode(s->db) : rc;
	int sys = s->db ? sqlite3_system_errno(s->db) : 0;
	const char *why = s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc);
	int code, ret;

	if ((xrc & 0xff) != (rc & 0xff))
		xrc = rc; /* the handle's error is another call's */
	if (last_io.sys && (!sys || sys == last_io.sys))
		sys = last_io.sys;
	else
		last_io.call[0] = '\0';
	code = io_cause(s, sql_code(xrc, sys));
	ret = sql_describe(s, code, xrc, sys, what, why, err);
	last_io.sys = 0;
	last_io.call[0] = '\0';
	return ret;
}

static int exec(struct sqlite_store *s, const char *sql, const char *what, struct pc_err *err)
{
	int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);

	if (rc != SQLITE_OK)
		return sql_fail(s, rc, what, err);
	return 0;
}

static int prep(struct sqlite_store *s, const char *sql, sqlite3_stmt **st, struct pc_err *err)
{
	int rc = sqlite3_prepare_v2(s->db, sql, -1, st, NULL);

	if (rc != SQLITE_OK)
		return sql_fail(s, rc, "prepare a statement", err);
	return 0;
}

/* Bind (kind, ns, name) to parameters 1..3 of <st>. */
static int bind_key(sqlite3_stmt *st, const char *kind, const char *ns, const char *name)
{
	int rc = sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);

	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(st, 2, ns, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
	return rc;
}

/* Undo the open transaction, if any; SQLite may already have rolled back. */
static void rollback(struct sqlite_store *s)
{
	if (!sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

static int begin(struct sqlite_store *s, const char *what, struct pc_err *err)
{
	return exec(s, "BEGIN IMMEDIATE", what, err);
}

/* COMMIT; once this returns 0 the change is durable (synchronous=FULL). */
static int commit(struct sqlite_store *s, const char *what, struct pc_err *err)
{
	int ret = exec(s, "COMMIT", what, err);

	if (ret < 0)
		rollback(s);
	return ret;
}

/* The integer <key> of the meta table (the revision, the watch floor). */
static int meta_read(struct sqlite_store *s, const char *key, int64_t *out, struct pc_err *err)
{
	sqlite3_stmt *st;
	int ret, rc;

	*out = 0;
	ret = prep(s, "SELECT value FROM meta WHERE key = ?1", &st, err);
	if (ret < 0)
		return ret;
	rc = sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(st, 0);
	else if (rc == SQLITE_DONE)
		ret = pc_err_set(err, -EIO, "store %s has no %s", s->path, key);
	else
		ret = sql_fail(s, rc, "read the store's metadata", err);
	sqlite3_finalize(st);
	return ret;
}

static int revision_write(struct sqlite_store *s, int64_t rev, struct pc_err *err)
{
	sqlite3_stmt *st;
	int ret, rc;

	ret = prep(s, "UPDATE meta SET value = ?1 WHERE key = 'revision'", &st, err);
	if (ret < 0)
		return ret;
	rc = sqlite3_bind_int64(st, 1, rev);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	ret = rc == SQLITE_DONE ? 0 : sql_fail(s, rc, "write the revision", err);
	sqlite3_finalize(st);
	return ret;
}

static int64_t sq_revision(struct pc_store *base)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	struct pc_err err;
	int64_t rev = 0;
	int ret;

	ret = meta_read(s, "revision", &rev, &err);
	return ret < 0 ? ret : rev;
}

/* ---- open ---- */

/* fsync the directory holding <path>, so a new entry in it is durable. */
static int sync_parent(const char *path, struct pc_err *err)
{
	const char *slash = strrchr(path, '/');
	char *parent;
	int fd, ret = 0;

	if (!slash)
		parent = pc_strndup(".", 1);
	else if (slash == path)
		parent = pc_strndup("/", 1);
	else
		parent = pc_strndup(path, (size_t)(slash - path));
	if (!parent)
		return pc_err_set(err, -ENOMEM, "out of memory");
	fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1 || fsync(fd) == -1)
		ret = pc_err_errno(err, errno, "cannot sync directory %s", parent);
	if (fd != -1)
		close(fd);
	free(parent);
	return ret;
}

/*
 * Create the state directory if needed (0700: the store is the policy, and
 * what it holds is nobody else's business) and check that we may write in it.
 */
static int make_dir(const char *dir, struct pc_err *err)
{
	struct stat st;

	if (mkdir(dir, 0700) == 0)
		return sync_parent(dir, err);
	if (errno != EEXIST)
		return pc_err_errno(err, errno, "cannot create state directory %s", dir);
	if (stat(dir, &st) == -1)
		return pc_err_errno(err, errno, "cannot stat state directory %s", dir);
	if (!S_ISDIR(st.st_mode))
		return pc_err_set(err, -ENOTDIR, "state directory %s is not a directory", dir);
	/* access(2) reports EROFS for a read-only mount and EACCES for modes. */
	if (access(dir, W_OK) == -1)
		return pc_err_errno(err, errno, "state directory %s is not writable", dir);
	return 0;
}

/* The store's files in its directory; SQLite names the last two after the first. */
static const char *const store_files[] = { "store.db", "store.lock", "store.db-wal",
					   "store.db-shm" };

/*
 * One file of the store, <name> in <dfd>: absent, or a regular file. The
 * directory belongs to the proxy user, who could plant a link there, so
 * the store follows none (SQLite itself opens store.db with NOFOLLOW, and
 * the -wal and -shm after it may be links to anything the caller can
 * write). A file of the caller's own with group or other bits (0644 from
 * an older build) loses them, through a descriptor opened O_NOFOLLOW.
 */
static int check_file(int dfd, const char *dir, const char *name, struct pc_err *err)
{
	const char *what;
	struct stat st;
	int fd, ret = 0;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == -1) {
		if (errno == ENOENT)
			return 0;
		return pc_err_errno(err, errno, "cannot stat %s/%s", dir, name);
	}
	if (!S_ISREG(st.st_mode)) {
		what = S_ISLNK(st.st_mode) ? "a symbolic link" : "not a file";
		return pc_err_set(err, -ELOOP,
				  "%s/%s is %s, not the store's file: the store follows no link "
				  "in its directory (remove it)",
				  dir, name, what);
	}
	if (st.st_uid != geteuid() || !(st.st_mode & 077))
		return 0;
	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd == -1)
		return pc_err_errno(err, errno, "cannot open %s/%s", dir, name);
	if (fstat(fd, &st) == -1 || (S_ISREG(st.st_mode) && fchmod(fd, st.st_mode & 0600) == -1))
		ret = pc_err_errno(err, errno, "cannot make %s/%s private (0600)", dir, name);
	close(fd);
	return ret;
}

/*
 * Check the store's files and create store.db 0600 if it is missing, so
 * that SQLite, which gives its -wal and -shm the database's mode, makes
 * them 0600 too (it would create the database 0644 less the umask).
 */
static int prepare_files(const char *dir, struct pc_err *err)
{
	size_t i;
	int dfd, fd, ret = 0;

	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd == -1)
		return pc_err_errno(err, errno, "cannot open state directory %s", dir);
	for (i = 0; i < sizeof(store_files) / sizeof(store_files[0]) && ret == 0; i++)
		ret = check_file(dfd, dir, store_files[i], err);
	if (ret == 0) {
		fd = openat(dfd, "store.db", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			    0600);
		if (fd >= 0)
			close(fd);
		else if (errno != EEXIST)
			ret = pc_err_errno(err, errno, "cannot create %s/store.db", dir);
	}
	close(dfd);
	return ret;
}

static int table_exists(struct sqlite_store *s, const char *name, bool *found, struct pc_err *err)
{
	sqlite3_stmt *st;
	int ret, rc;

	*found = false;
	ret = prep(s, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name GLOB ?1",
		   &st, err);
	if (ret < 0)
		return ret;
	rc = sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*found = sqlite3_column_int64(st, 0) > 0;
		ret = 0;
	} else {
		ret = sql_fail(s, rc, "read the schema", err);
	}
	sqlite3_finalize(st);
	return ret;
}

/*
 * Check the schema: 1 when it is ours and current, 0 when the database is
 * empty (needs creating), a negative errno otherwise.
 */
static int schema_check(struct sqlite_store *s, struct pc_err *err)
{
	sqlite3_stmt *st;
	int64_t version = -1;
	bool found;
	int ret, rc;

	ret = table_exists(s, "schema_version", &found, err);
	if (ret < 0 || !found) {
		if (ret == 0)
			ret = table_exists(s, "*", &found, err);
		if (ret < 0)
			return ret;
		if (found)
			return pc_err_set(err, -ENOTSUP, "%s is not a portcullis store", s->path);
		return 0;
	}
	ret = prep(s, "SELECT max(version) FROM schema_version", &st, err);
	if (ret < 0)
		return ret;
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW)
		ret = sql_fail(s, rc, "read the schema version", err);
	else if (sqlite3_column_type(st, 0) == SQLITE_INTEGER)
		version = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (ret < 0)
		return ret;
	if (version != PC_STORE_SCHEMA_VERSION)
		return pc_err_set(
			err, -ENOTSUP,
			"%s has schema version %" PRId64
			", this portcullis knows only version %d (was it written by a newer "
			"portcullis?)",
			s->path, version, PC_STORE_SCHEMA_VERSION);
	return 1;
}

/* Create the schema unless another opener did it first. */
static int schema_init(struct sqlite_store *s, struct pc_err *err)
{
	int ret;

	ret = schema_check(s, err);
	if (ret != 0)
		return ret < 0 ? ret : 0;
	ret = begin(s, "create the store", err);
	if (ret < 0)
		return ret;
	ret = schema_check(s, err); /* re-check under the write lock */
	if (ret == 0)
		ret = exec(s, schema_sql, "create the store", err);
	if (ret < 0) {
		rollback(s);
		return ret;
	}
	ret = commit(s, "create the store", err);
	if (ret < 0)
		return ret;
	return sync_parent(s->path, err);
}

static int set_pragmas(struct sqlite_store *s, struct pc_err *err)
{
	sqlite3_stmt *st;
	bool wal = false;
	int ret, rc;

	rc = sqlite3_busy_timeout(s->db, PC_STORE_BUSY_MS);
	if (rc != SQLITE_OK)
		return sql_fail(s, rc, "set the busy timeout", err);
	/* journal_mode answers with the mode in force, which may not be WAL. */
	ret = prep(s, "PRAGMA journal_mode = WAL", &st, err);
	if (ret < 0)
		return ret;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const unsigned char *mode = sqlite3_column_text(st, 0);

		wal = mode && strcmp((const char *)mode, "wal") == 0;
	} else {
		ret = sql_fail(s, rc, "enable write-ahead logging", err);
	}
	sqlite3_finalize(st);
	if (ret < 0)
		return ret;
	if (!wal)
		return pc_err_set(err, -EIO, "cannot enable write-ahead logging on %s", s->path);
	return exec(s, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON", "configure the store",
		    err);
}

static int open_db(struct sqlite_store *s, struct pc_err *err)
{
	int rc;

	sqlite_setup();
	rc = sqlite3_open_v2(s->path, &s->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOFOLLOW,
			     NULL);
	if (rc != SQLITE_OK)
		return sql_fail(s, rc, "open the store", err);
	sqlite3_extended_result_codes(s->db, 1);
	/*
	 * The file is the proxy user's, and the daemon may still be able to
	 * become root again when it reads it (daemon/run.c): no schema
	 * object (trigger, view) runs an SQL function it was not written
	 * for, and no SQL may corrupt the file on purpose.
	 */
	rc = sqlite3_db_config(s->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_db_config(s->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
	if (rc != SQLITE_OK)
		return sql_fail(s, rc, "harden the store's connection", err);
	/* SQLite falls back to read-only when it cannot open for writing. */
	if (sqlite3_db_readonly(s->db, "main") == 1)
		return pc_err_set(err, -EROFS, "cannot open the store: %s is read-only", s->path);
	return 0;
}

/*
 * The watch log, where a store made before it lacks it (an addition to
 * schema version 1): nothing older than the current revision can be
 * watched from it.
 */
static int log_init(struct sqlite_store *s, struct pc_err *err)
{
	bool found;
	int ret = table_exists(s, "changes", &found, err);

	if (ret < 0 || found)
		return ret; /* made with the store, or by an earlier open: no write */
	ret = exec(s,
		   "BEGIN IMMEDIATE;"
		   "CREATE TABLE IF NOT EXISTS changes (" CHANGES_COLUMNS ");"
		   "CREATE INDEX IF NOT EXISTS changes_rev ON changes (rev);"
		   "INSERT OR IGNORE INTO meta (key, value)"
		   " SELECT 'watch_floor', value FROM meta WHERE key = 'revision';"
		   "COMMIT",
		   "create the watch log", err);
	if (ret < 0)
		rollback(s);
	return ret;
}

/*
 * The allocations table, where a store made before it lacks it (see the
 * top of this file).
 */
static int alloc_init(struct sqlite_store *s, struct pc_err *err)
{
	bool found;
	int ret = table_exists(s, "allocations", &found, err);

	if (ret < 0 || found)
		return ret; /* made with the store, or by an earlier open: no write */
	ret = exec(s, "BEGIN IMMEDIATE;" ALLOC_TABLE "COMMIT", "create the allocations table", err);
	if (ret < 0)
		rollback(s);
	return ret;
}

static int sq_open(const char *dir, struct pc_store **out, struct pc_err *err)
{
	struct sqlite_store *s;
	size_t len;
	int ret;

	if (!dir || !*dir)
		return pc_err_set(err, -EINVAL, "no state directory given");
	ret = make_dir(dir, err);
	if (ret == 0)
		ret = prepare_files(dir, err);
	if (ret < 0)
		return ret;
	s = pc_calloc(1, sizeof(*s));
	if (!s)
		return pc_err_set(err, -ENOMEM, "out of memory");
	s->base.ops = &pc_store_sqlite_ops;
	s->seen_dv = -1;
	len = strlen(dir) + sizeof("/store.db");
	s->path = pc_malloc(len);
	if (!s->path) {
		ret = pc_err_set(err, -ENOMEM, "out of memory");
		goto out_free;
	}
	snprintf(s->path, len, "%s/store.db", dir);

	ret = open_db(s, err);
	if (ret < 0)
		goto out_close;
	ret = set_pragmas(s, err);
	if (ret < 0)
		goto out_close;
	ret = schema_init(s, err);
	if (ret < 0)
		goto out_close;
	ret = log_init(s, err);
	if (ret == 0)
		ret = alloc_init(s, err);
	if (ret < 0)
		goto out_close;
	*out = &s->base;
	return 0;

out_close:
	sqlite3_close(s->db); /* NULL is a no-op; no statement is left open */
out_free:
	free(s->path);
	free(s);
	return ret;
}

static void sq_close(struct pc_store *base)
{
	struct sqlite_store *s = (struct sqlite_store *)base;

	sqlite3_close(s->db);
	free(s->path);
	free(s);
}

/* ---- apply ---- */

/* The statements one apply reuses for each of its puts. */
struct apply_stmts {
	sqlite3_stmt *sel;
	sqlite3_stmt *ins;
	sqlite3_stmt *upd;
	sqlite3_stmt *del;
	sqlite3_stmt *log;
};

static void apply_stmts_release(struct apply_stmts *q)
{
	sqlite3_finalize(q->sel);
	sqlite3_finalize(q->ins);
	sqlite3_finalize(q->upd);
	sqlite3_finalize(q->del);
	sqlite3_finalize(q->log);
	memset(q, 0, sizeof(*q));
}

static int apply_stmts_init(struct sqlite_store *s, struct apply_stmts *q, struct pc_err *err)
{
	int ret;

	memset(q, 0, sizeof(*q));
	ret = prep(s,
		   "SELECT resource_version, generation, spec_json, object_json, source, uid,"
		   " creation_timestamp FROM objects"
		   " WHERE kind = ?1 AND ns = ?2 AND name = ?3",
		   &q->sel, err);
	if (ret == 0)
		ret = prep(s,
			   "INSERT INTO objects (" OBJECT_COLUMNS ")"
			   " VALUES (?1, ?2, ?3, ?4, ?5, 1, ?6, ?7, ?8, ?9)",
			   &q->ins, err);
	if (ret == 0)
		ret = prep(s,
			   "UPDATE objects SET resource_version = ?4, generation = ?5,"
			   " spec_json = ?6, object_json = ?7, source = ?8"
			   " WHERE kind = ?1 AND ns = ?2 AND name = ?3",
			   &q->upd, err);
	if (ret == 0)
		ret = prep(s, "DELETE FROM objects WHERE kind = ?1 AND ns = ?2 AND name = ?3",
			   &q->del, err);
	if (ret == 0)
		ret = prep(s,
			   "INSERT INTO changes (rev, type, " OBJECT_COLUMNS ")"
			   " SELECT ?4, ?5, kind, ns, name, uid, ?4, generation, creation_timestamp,"
			   " '', object_json, source FROM objects"
			   " WHERE kind = ?1 AND ns = ?2 AND name = ?3",
			   &q->log, err);
	if (ret < 0)
		apply_stmts_release(q);
	return ret;
}

/* A random (version 4) UUID in its 36-character text form; see RFC 4122 4.4. */
static int uuid4(char out[37], struct pc_err *err)
{
	unsigned char b[16];
	size_t got = 0;

	while (got < sizeof(b)) {
		ssize_t n = getrandom(b + got, sizeof(b) - got, 0);

		if (n == -1) {
			if (errno == EINTR)
				continue;
			return pc_err_errno(err, errno, "cannot make a uid");
		}
		got += (size_t)n;
	}
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
		 b[13], b[14], b[15]);
	return 0;
}

/* Now as RFC 3339 UTC with second precision, as Kubernetes writes it. */
static int now_rfc3339(char out[32], struct pc_err *err)
{
	struct timespec ts;
	struct tm tm;

	if (clock_gettime(CLOCK_REALTIME, &ts) == -1)
		return pc_err_errno(err, errno, "cannot read the clock");
	if (!gmtime_r(&ts.tv_sec, &tm) || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return pc_err_set(err, -EOVERFLOW, "cannot format the time");
	return 0;
}

static bool column_equals(sqlite3_stmt *st, int col, const char *s)
{
	const unsigned char *v = sqlite3_column_text(st, col);
	size_t n = (size_t)sqlite3_column_bytes(st, col);

	return v && n == strlen(s) && memcmp(v, s, n) == 0;
}

static const char *put_source(const struct pc_store_put *p)
{
	return p->source ? p->source : PC_STORE_SOURCE_API;
}

static const char *const event_types[] = { "ADDED", "MODIFIED", "DELETED" };

/*
 * Log the change of the object <p> names, at revision <rev>, as it is
 * stored now (for a removal: call before the row goes).
 */
static int log_change(struct sqlite_store *s, struct apply_stmts *q, const struct pc_store_put *p,
		      int64_t rev, enum pc_store_event_type type, struct pc_err *err)
{
	int rc = bind_key(q->log, p->kind, p->ns, p->name);

	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(q->log, 4, rev);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(q->log, 5, event_types[type], -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(q->log);
	sqlite3_reset(q->log);
	sqlite3_clear_bindings(q->log);
	if (rc != SQLITE_DONE)
		return sql_fail(s, rc, "log the change", err);
	return 0;
}

/*
 * Keep the last PC_STORE_WATCH_KEEP rows of the log; the floor rises to
 * the newest revision that lost a row.
 */
static int log_trim(struct sqlite_store *s, struct pc_err *err)
{
#define CUTOFF "(SELECT max(seq) FROM changes) - " STR(PC_STORE_WATCH_KEEP)
	return exec(s,
		    "UPDATE meta SET value = max(value, coalesce((SELECT max(rev) FROM changes"
		    " WHERE seq <= " CUTOFF "), value)) WHERE key = 'watch_floor';"
		    "DELETE FROM changes WHERE seq <= " CUTOFF,
		    "trim the watch log", err);
#undef CUTOFF
}

static int put_remove(struct sqlite_store *s, struct apply_stmts *q, const struct pc_store_put *p,
		      int64_t rev, struct pc_err *err)
{
	int ret = log_change(s, q, p, rev, PC_STORE_EV_DELETED, err);
	int rc;

	if (ret < 0)
		return ret;
	rc = bind_key(q->del, p->kind, p->ns, p->name);

	if (rc == SQLITE_OK)
		rc = sqlite3_step(q->del);
	sqlite3_reset(q->del);
	if (rc != SQLITE_DONE)
		return sql_fail(s, rc, "delete the object", err);
	return 0;
}

static int put_insert(struct sqlite_store *s, struct apply_stmts *q, const struct pc_store_put *p,
		      int64_t rev, struct pc_store_meta *meta, struct pc_err *err)
{
	char *uid = meta->uid, *ts = meta->creation_timestamp;
	int ret, rc;

	ret = uuid4(uid, err);
	if (ret == 0)
		ret = now_rfc3339(ts, err);
	if (ret < 0)
		return ret;
	rc = bind_key(q->ins, p->kind, p->ns, p->name);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(q->ins, 4, uid, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(q->ins, 5, rev);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(q->ins, 6, ts, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(q->ins, 7, p->spec_json, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(q->ins, 8, p->object_json, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(q->ins, 9, put_source(p), -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(q->ins);
	sqlite3_reset(q->ins);
	sqlite3_clear_bindings(q->ins); /* the texts are SQLITE_STATIC: drop them */
	if (rc != SQLITE_DONE)
		return sql_fail(s, rc, "store the object", err);
	return 0;
}

static int put_update(struct sqlite_store *s, struct apply_stmts *q, const struct pc_store_put *p,
		      int64_t rev, int64_t generation, struct pc_err *err)
{
	int rc;

	rc = bind_key(q->upd, p->kind, p->ns, p->name);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(q->upd, 4, rev);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(q->upd, 5, generation);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(q->upd, 6, p->spec_json, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(q->upd, 7, p->object_json, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(q->upd, 8, put_source(p), -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(q->upd);
	sqlite3_reset(q->upd);
	sqlite3_clear_bindings(q->upd);
	if (rc != SQLITE_DONE)
		return sql_fail(s, rc, "store the object", err);
	return 0;
}

static int conflict(struct pc_err *err, const struct pc_store_put *p, int64_t stored)
{
	if (stored == 0)
		return pc_err_set(err, -ESTALE,
				  "conflict: %s %s/%s does not exist, the change expected "
				  "resourceVersion %" PRId64,
				  p->kind, p->ns, p->name, p->expect_rv);
	return pc_err_set(err, -ESTALE,
			  "conflict: %s %s/%s has been modified: stored resourceVersion %" PRId64
			  ", the change expected %" PRId64,
			  p->kind, p->ns, p->name, stored, p->expect_rv);
}

/* Apply one put inside the open transaction, at new revision <rev>. */
static void column_copy(sqlite3_stmt *st, int col, char *out, size_t size)
{
	const unsigned char *v = sqlite3_column_text(st, col);

	snprintf(out, size, "%s", v ? (const char *)v : "");
}

static int put_one(struct sqlite_store *s, struct apply_stmts *q, const struct pc_store_put *p,
		   int64_t rev, enum pc_store_result *res, struct pc_store_meta *meta,
		   struct pc_err *err)
{
	int64_t cur_rv, generation;
	bool same_spec, same_obj;
	int rc;

	rc = bind_key(q->sel, p->kind, p->ns, p->name);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(q->sel);
	if (rc == SQLITE_DONE) {
		sqlite3_reset(q->sel);
		if (p->remove && p->missing_ok && p->expect_rv == 0) {
			*res = PC_STORE_UNCHANGED; /* nothing to remove: the batch goes on */
			return 0;
		}
		if (p->remove)
			return pc_err_set(err, -ENOENT, "%s %s/%s not found", p->kind, p->ns,
					  p->name);
		if (p->expect_rv != 0)
			return conflict(err, p, 0);
		*res = PC_STORE_CREATED;
		meta->resource_version = rev;
		meta->generation = 1;
		rc = put_insert(s, q, p, rev, meta, err);
		return rc < 0 ? rc : log_change(s, q, p, rev, PC_STORE_EV_ADDED, err);
	}
	if (rc != SQLITE_ROW) {
		sqlite3_reset(q->sel);
		return sql_fail(s, rc, "read the object", err);
	}
	cur_rv = sqlite3_column_int64(q->sel, 0);
	generation = sqlite3_column_int64(q->sel, 1);
	same_spec = !p->remove && column_equals(q->sel, 2, p->spec_json);
	same_obj = !p->remove && column_equals(q->sel, 3, p->object_json) &&
		   column_equals(q->sel, 4, put_source(p));
	column_copy(q->sel, 5, meta->uid, sizeof(meta->uid));
	column_copy(q->sel, 6, meta->creation_timestamp, sizeof(meta->creation_timestamp));
	meta->resource_version = cur_rv;
	meta->generation = generation;
	sqlite3_reset(q->sel);
	if (p->expect_rv != 0 && p->expect_rv != cur_rv)
		return conflict(err, p, cur_rv);
	if (p->remove) {
		*res = PC_STORE_DELETED;
		return put_remove(s, q, p, rev, err);
	}
	if (same_spec && same_obj) {
		*res = PC_STORE_UNCHANGED;
		return 0;
	}
	*res = PC_STORE_CONFIGURED;
	meta->resource_version = rev;
	meta->generation = generation + (same_spec ? 0 : 1);
	rc = put_update(s, q, p, rev, meta->generation, err);
	return rc < 0 ? rc : log_change(s, q, p, rev, PC_STORE_EV_MODIFIED, err);
}

static bool key_is_valid(const char *kind, const char *ns, const char *name)
{
	return kind && ns && name && *kind && *name;
}

static int check_puts(const struct pc_store_put *puts, size_t n, size_t *failed,
		      struct pc_err *err)
{
	size_t i;

	for (i = 0; i < n; i++) {
		const struct pc_store_put *p = &puts[i];

		if (!key_is_valid(p->kind, p->ns, p->name) ||
		    (!p->remove && (!p->spec_json || !p->object_json)) || p->expect_rv < 0) {
			*failed = i;
			return pc_err_set(err, -EINVAL, "invalid object #%zu to apply", i);
		}
	}
	return 0;
}

static int sq_apply(struct pc_store *base, const struct pc_store_put *puts, size_t n,
		    enum pc_store_result *results, struct pc_store_meta *metas,
		    int64_t *revision_out, size_t *failed, struct pc_err *err)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	struct pc_store_meta scratch;
	struct apply_stmts q;
	enum pc_store_result res = PC_STORE_UNCHANGED;
	bool changed = false;
	size_t i, scratch_failed;
	int64_t rev;
	int ret;

	if (!failed)
		failed = &scratch_failed;
	*failed = SIZE_MAX;
	ret = check_puts(puts, n, failed, err);
	if (ret < 0)
		return ret;
	ret = begin(s, "apply", err);
	if (ret < 0)
		return ret;
	ret = meta_read(s, "revision", &rev, err);
	if (ret < 0)
		goto out_rollback;
	ret = apply_stmts_init(s, &q, err);
	if (ret < 0)
		goto out_rollback;
	for (i = 0; i < n && ret == 0; i++) {
		ret = put_one(s, &q, &puts[i], rev + 1, &res, metas ? &metas[i] : &scratch, err);
		if (ret < 0)
			*failed = i;
		if (ret == 0 && results)
			results[i] = res;
		changed |= ret == 0 && res != PC_STORE_UNCHANGED;
	}
	apply_stmts_release(&q);
	if (ret == 0 && changed)
		ret = revision_write(s, ++rev, err);
	if (ret == 0 && changed)
		ret = log_trim(s, err);
	if (ret < 0)
		goto out_rollback;
	ret = commit(s, "apply", err);
	if (ret < 0)
		return ret;
	if (rev > s->seen_rev)
		s->seen_rev = rev; /* the watch reads this commit without a data_version change */
	if (revision_out)
		*revision_out = rev;
	return 0;

out_rollback:
	rollback(s);
	return ret;
}

/* ---- get, list, watch ---- */

/* The columns of OBJECT_COLUMNS that hold text, in order. */
static const int text_cols[] = { 0, 1, 2, 3, 6, 7, 8, 9 };
#define NTEXT (sizeof(text_cols) / sizeof(text_cols[0]))

/*
 * Point <obj> at the current row of <st> (OBJECT_COLUMNS). With <copy>,
 * copy the strings into one block in obj->mem; otherwise borrow them from
 * SQLite (valid until the next step).
 */
static int row_to_object(sqlite3_stmt *st, struct pc_store_object *obj, bool copy)
{
	const char *txt[NTEXT];
	size_t len[NTEXT], total = 0, i;
	char *p = NULL;

	for (i = 0; i < NTEXT; i++) {
		txt[i] = (const char *)sqlite3_column_text(st, text_cols[i]);
		len[i] = (size_t)sqlite3_column_bytes(st, text_cols[i]);
		if (!txt[i])
			return -ENOMEM; /* the columns are NOT NULL: only OOM gets here */
		total += len[i] + 1;
	}
	obj->mem = NULL;
	if (copy) {
		p = pc_malloc(total);
		if (!p)
			return -ENOMEM;
		obj->mem = p;
		for (i = 0; i < NTEXT; i++) {
			memcpy(p, txt[i], len[i] + 1);
			txt[i] = p;
			p += len[i] + 1;
		}
	}
	obj->kind = txt[0];
	obj->ns = txt[1];
	obj->name = txt[2];
	obj->uid = txt[3];
	obj->resource_version = sqlite3_column_int64(st, 4);
	obj->generation = sqlite3_column_int64(st, 5);
	obj->creation_timestamp = txt[4];
	obj->spec_json = txt[5];
	obj->object_json = txt[6];
	obj->source = txt[7];
	return 0;
}

static int sq_get(struct pc_store *base, const char *kind, const char *ns, const char *name,
		  struct pc_store_object *out, struct pc_err *err)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	sqlite3_stmt *st;
	int ret, rc;

	if (!key_is_valid(kind, ns, name))
		return pc_err_set(err, -EINVAL, "invalid object to get");
	ret = prep(s,
		   "SELECT " OBJECT_COLUMNS
		   " FROM objects WHERE kind = ?1 AND ns = ?2 AND name = ?3",
		   &st, err);
	if (ret < 0)
		return ret;
	rc = bind_key(st, kind, ns, name);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		ret = row_to_object(st, out, true);
		if (ret < 0)
			pc_err_set(err, ret, "out of memory");
	} else if (rc == SQLITE_DONE) {
		ret = pc_err_set(err, -ENOENT, "%s %s/%s not found", kind, ns, name);
	} else {
		ret = sql_fail(s, rc, "read the object", err);
	}
	sqlite3_finalize(st);
	return ret;
}

static int sq_list(struct pc_store *base, const char *kind, const char *ns, pc_store_list_fn *cb,
		   void *data, struct pc_err *err)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	struct pc_store_object obj;
	sqlite3_stmt *st;
	int ret, rc;

	/* One statement reads one WAL snapshot for its whole life. */
	ret = prep(s,
		   "SELECT " OBJECT_COLUMNS " FROM objects"
		   " WHERE (?1 IS NULL OR kind = ?1) AND (?2 IS NULL OR ns = ?2)"
		   " ORDER BY kind, ns, name",
		   &st, err);
	if (ret < 0)
		return ret;
	rc = sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(st, 2, ns, -1, SQLITE_STATIC);
	while (rc == SQLITE_OK || rc == SQLITE_ROW) {
		rc = sqlite3_step(st);
		if (rc != SQLITE_ROW)
			break;
		ret = row_to_object(st, &obj, false);
		if (ret < 0) {
			pc_err_set(err, ret, "out of memory");
			break;
		}
		ret = cb(&obj, data);
		if (ret != 0)
			break;
	}
	if (ret == 0 && rc != SQLITE_DONE)
		ret = sql_fail(s, rc, "list objects", err);
	sqlite3_finalize(st);
	return ret;
}

/* PRAGMA data_version: changes when another connection commits. */
static int data_version(struct sqlite_store *s, int64_t *dv, struct pc_err *err)
{
	sqlite3_stmt *st;
	int ret, rc;

	ret = prep(s, "PRAGMA data_version", &st, err);
	if (ret < 0)
		return ret;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*dv = sqlite3_column_int64(st, 0);
	else
		ret = sql_fail(s, rc, "read the data version", err);
	sqlite3_finalize(st);
	return ret;
}

static enum pc_store_event_type event_type(const unsigned char *t)
{
	size_t i;

	for (i = 0; t && i < sizeof(event_types) / sizeof(event_types[0]); i++) {
		if (strcmp((const char *)t, event_types[i]) == 0)
			return (enum pc_store_event_type)i;
	}
	return PC_STORE_EV_MODIFIED;
}

/*
 * Deliver the logged changes after <since> inside the open read
 * transaction; <*last> gets the revision of the last one.
 */
static int log_read(struct sqlite_store *s, int64_t since, pc_store_watch_fn *cb, void *data,
		    int64_t *last, struct pc_err *err)
{
	struct pc_store_event ev;
	struct pc_store_object obj;
	sqlite3_stmt *st;
	int ret, rc;

	/* (rev, seq) is the index's order: no scan of older rows */
	ret = prep(s, "SELECT " OBJECT_COLUMNS ", rev, type FROM changes WHERE rev > ?1"
		      " ORDER BY rev, seq", &st, err);
	if (ret < 0)
		return ret;
	rc = sqlite3_bind_int64(st, 1, since);
	while (rc == SQLITE_OK || rc == SQLITE_ROW) {
		rc = sqlite3_step(st);
		if (rc != SQLITE_ROW)
			break;
		ret = row_to_object(st, &obj, false);
		if (ret < 0) {
			pc_err_set(err, ret, "out of memory");
			break;
		}
		ev.revision = sqlite3_column_int64(st, 10);
		ev.type = event_type(sqlite3_column_text(st, 11));
		ev.obj = &obj;
		*last = ev.revision;
		ret = cb(&ev, data);
		if (ret != 0)
			break;
	}
	if (ret == 0 && rc != SQLITE_DONE)
		ret = sql_fail(s, rc, "read the watch log", err);
	sqlite3_finalize(st);
	return ret;
}

static int sq_watch(struct pc_store *base, int64_t since, pc_store_watch_fn *cb, void *data,
		    int64_t *upto, struct pc_err *err)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	int64_t dv = 0, rev = 0, floor = 0, last = since;
	int ret;

	*upto = since;
	ret = data_version(s, &dv, err);
	if (ret < 0)
		return ret;
	if (dv == s->seen_dv && since >= s->seen_rev)
		return 0; /* no commit since the last look, ours or another's */
	ret = exec(s, "BEGIN", "read the watch log", err); /* one snapshot for all reads */
	if (ret < 0)
		return ret;
	ret = meta_read(s, "revision", &rev, err);
	if (ret == 0)
		ret = meta_read(s, "watch_floor", &floor, err);
	if (ret == 0 && since < floor)
		ret = pc_err_set(err, -ERANGE, "changes after revision %" PRId64 " are gone",
				 since);
	if (ret == 0)
		ret = log_read(s, since, cb, data, &last, err);
	/* a writer that does not log (an older build) left a gap: start over */
	if (ret == 0 && rev > since && last < rev)
		ret = pc_err_set(err, -ERANGE, "the watch log misses revision %" PRId64, rev);
	rollback(s); /* ends the read transaction */
	if (ret == 0 || ret == -ERANGE) {
		s->seen_dv = dv;
		if (rev > s->seen_rev)
			s->seen_rev = rev;
		*upto = rev;
	}
	return ret;
}

/* ---- address allocations ---- */

/* Copy the <size>-byte BLOB of column <col> to <out>; false when NULL (zeroes). */
static bool blob_copy(sqlite3_stmt *st, int col, uint8_t *out, int size)
{
	const void *b = sqlite3_column_blob(st, col);

	memset(out, 0, (size_t)size);
	if (!b || sqlite3_column_bytes(st, col) != size)
		return false;
	memcpy(out, b, (size_t)size);
	return true;
}

static int sq_alloc_list(struct pc_store *base, pc_store_alloc_fn *cb, void *data,
			 struct pc_err *err)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	struct pc_store_alloc a;
	sqlite3_stmt *st;
	int ret, rc;

	ret = prep(s, "SELECT name, v4, v6, created, last_used FROM allocations ORDER BY name", &st,
		   err);
	if (ret < 0)
		return ret;
	for (;;) {
		rc = sqlite3_step(st);
		if (rc != SQLITE_ROW)
			break;
		a.name = (const char *)sqlite3_column_text(st, 0);
		if (!a.name) {
			ret = pc_err_set(err, -ENOMEM, "out of memory"); /* NOT NULL column */
			break;
		}
		a.has_v4 = blob_copy(st, 1, a.v4, 4);
		a.has_v6 = blob_copy(st, 2, a.v6, 16);
		a.created = sqlite3_column_int64(st, 3);
		a.last_used = sqlite3_column_int64(st, 4);
		ret = cb(&a, data);
		if (ret != 0)
			break;
	}
	if (ret == 0 && rc != SQLITE_DONE)
		ret = sql_fail(s, rc, "list address allocations", err);
	sqlite3_finalize(st);
	return ret;
}

/* Bind <a>'s addresses to parameters 2 (v4) and 3 (v6) of <st>, NULL where absent. */
static int bind_addrs(sqlite3_stmt *st, const struct pc_store_alloc *a)
{
	int rc;

	rc = a->has_v4 ? sqlite3_bind_blob(st, 2, a->v4, 4, SQLITE_STATIC)
		       : sqlite3_bind_null(st, 2);
	if (rc == SQLITE_OK)
		rc = a->has_v6 ? sqlite3_bind_blob(st, 3, a->v6, 16, SQLITE_STATIC)
			       : sqlite3_bind_null(st, 3);
	return rc;
}

/* -EEXIST naming what <a> collides with: the row <st> (name, v4 matched) found. */
static int alloc_taken(sqlite3_stmt *st, const struct pc_store_alloc *a, struct pc_err *err)
{
	const char *other = (const char *)sqlite3_column_text(st, 0);
	char buf[INET6_ADDRSTRLEN] = "?";

	if (other && strcmp(other, a->name) == 0)
		return pc_err_set(err, -EEXIST, "%s already has an address allocation", a->name);
	if (sqlite3_column_int(st, 1))
		inet_ntop(AF_INET, a->v4, buf, sizeof(buf));
	else
		inet_ntop(AF_INET6, a->v6, buf, sizeof(buf));
	return pc_err_set(err, -EEXIST, "cannot allocate %s to %s: it is allocated to %s", buf,
			  a->name, other ? other : "another name");
}

/* Store one allocation inside the open transaction. */
static int alloc_one(struct sqlite_store *s, sqlite3_stmt *sel, sqlite3_stmt *ins,
		     const struct pc_store_alloc *a, struct pc_err *err)
{
	int ret = 0, rc;

	rc = sqlite3_bind_text(sel, 1, a->name, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = bind_addrs(sel, a);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(sel);
	if (rc == SQLITE_ROW)
		ret = alloc_taken(sel, a, err);
	else if (rc != SQLITE_DONE)
		ret = sql_fail(s, rc, "read the address allocations", err);
	sqlite3_reset(sel);
	if (ret < 0)
		return ret;
	rc = sqlite3_bind_text(ins, 1, a->name, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = bind_addrs(ins, a);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(ins, 4, a->created);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(ins, 5, a->last_used);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(ins);
	sqlite3_reset(ins);
	if (rc == SQLITE_DONE)
		return 0;
	if ((rc & 0xff) == SQLITE_CONSTRAINT) /* the SELECT above should have caught it */
		return pc_err_set(err, -EEXIST, "the address allocation of %s is already stored",
				  a->name);
	return sql_fail(s, rc, "store the address allocation", err);
}

static int alloc_check(const struct pc_store_alloc *v, size_t n, struct pc_err *err)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (!v[i].name || !*v[i].name || (!v[i].has_v4 && !v[i].has_v6))
			return pc_err_set(err, -EINVAL, "invalid address allocation #%zu", i);
	}
	return 0;
}

static int sq_alloc_add(struct pc_store *base, const struct pc_store_alloc *v, size_t n,
			struct pc_err *err)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	sqlite3_stmt *sel = NULL, *ins = NULL;
	size_t i;
	int ret;

	ret = alloc_check(v, n, err);
	if (ret < 0 || n == 0)
		return ret;
	ret = begin(s, "store address allocations", err);
	if (ret < 0)
		return ret;
	/* a NULL address compares as NULL, never true: only real addresses collide */
	ret = prep(s,
		   "SELECT name, coalesce(v4 = ?2, 0) FROM allocations"
		   " WHERE name = ?1 OR v4 = ?2 OR v6 = ?3 LIMIT 1",
		   &sel, err);
	if (ret == 0)
		ret = prep(s,
			   "INSERT INTO allocations (name, v4, v6, created, last_used)"
			   " VALUES (?1, ?2, ?3, ?4, ?5)",
			   &ins, err);
	for (i = 0; i < n && ret == 0; i++)
		ret = alloc_one(s, sel, ins, &v[i], err);
	sqlite3_finalize(sel);
	sqlite3_finalize(ins);
	if (ret < 0) {
		rollback(s);
		return ret;
	}
	return commit(s, "store address allocations", err);
}

static int sq_alloc_touch(struct pc_store *base, const char *const *names, size_t n, int64_t when,
			  struct pc_err *err)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	sqlite3_stmt *st;
	size_t i;
	int ret, rc = SQLITE_DONE;

	for (i = 0; i < n; i++) {
		if (!names[i])
			return pc_err_set(err, -EINVAL, "invalid name #%zu to touch", i);
	}
	if (n == 0)
		return 0;
	ret = begin(s, "record address use", err);
	if (ret < 0)
		return ret;
	ret = prep(s, "UPDATE allocations SET last_used = ?2 WHERE name = ?1 AND last_used < ?2",
		   &st, err);
	for (i = 0; i < n && ret == 0 && rc == SQLITE_DONE; i++) {
		rc = sqlite3_bind_text(st, 1, names[i], -1, SQLITE_STATIC);
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_int64(st, 2, when);
		if (rc == SQLITE_OK)
			rc = sqlite3_step(st);
		sqlite3_reset(st);
	}
	if (ret == 0 && rc != SQLITE_DONE)
		ret = sql_fail(s, rc, "record address use", err);
	sqlite3_finalize(st);
	if (ret < 0) {
		rollback(s);
		return ret;
	}
	return commit(s, "record address use", err);
}

/* ---- the owner's lock ---- */

struct sqlite_lock {
	struct pc_store_lock base; /* first */
	int fd;                    /* <dir>/store.lock, holding the locks */
};

/* The first byte of store.lock is the lock; the second names its holder. */
static struct flock lock_byte(short type, off_t which)
{
	struct flock fl = { 0 };

	fl.l_type = type;
	fl.l_whence = SEEK_SET;
	fl.l_start = which;
	fl.l_len = 1;
	return fl;
}

/* -EBUSY, naming the holder of <fd>'s lock if the kernel can tell. */
static int lock_busy(int fd, const char *dir, struct pc_err *err)
{
	struct flock fl = lock_byte(F_WRLCK, 1);

	/* 0 for a holder in another pid namespace; none for this process's own */
	if (fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK && fl.l_pid > 0)
		return pc_err_set(err, -EBUSY,
				  "the store in %s is in use by another daemon (pid %ld holds "
				  "%s/store.lock)",
				  dir, (long)fl.l_pid, dir);
	return pc_err_set(err, -EBUSY,
			  "the store in %s is in use by another daemon (it holds %s/store.lock)",
			  dir, dir);
}

static int lock_file(const char *dir, struct pc_err *err)
{
	struct stat st;
	int dfd, fd;

	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd == -1)
		return pc_err_errno(err, errno, "cannot open state directory %s", dir);
	fd = openat(dfd, "store.lock", O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC,
		    0600);
	close(dfd);
	if (fd == -1 && errno == ELOOP)
		return pc_err_set(err, -ELOOP,
				  "%s/store.lock is a symbolic link: the store follows no link in "
				  "its directory (remove it)",
				  dir);
	if (fd == -1)
		return pc_err_errno(err, errno, "cannot open %s/store.lock", dir);
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		close(fd);
		return pc_err_set(err, -ELOOP, "%s/store.lock is not a file (remove it)", dir);
	}
	return fd;
}

static int sq_lock(const char *dir, struct pc_store_lock **out, struct pc_err *err)
{
	struct sqlite_lock *l;
	struct flock fl = lock_byte(F_WRLCK, 0);
	int fd, ret;

	ret = make_dir(dir, err);
	if (ret < 0)
		return ret;
	fd = lock_file(dir, err);
	if (fd < 0)
		return fd;
	/* an OFD lock: a second one conflicts even in this process, and no close of
	 * another descriptor of the file drops it, as one would a POSIX lock */
	if (fcntl(fd, F_OFD_SETLK, &fl) == -1) {
		ret = errno == EAGAIN || errno == EACCES
			      ? lock_busy(fd, dir, err)
			      : pc_err_errno(err, errno, "cannot lock %s/store.lock", dir);
		close(fd);
		return ret;
	}
	fl = lock_byte(F_WRLCK, 1);
	(void)fcntl(fd, F_SETLK, &fl); /* only to be named in lock_busy() */
	l = pc_calloc(1, sizeof(*l));
	if (!l) {
		close(fd);
		return pc_err_set(err, -ENOMEM, "out of memory");
	}
	l->base.ops = &pc_store_sqlite_ops;
	l->fd = fd;
	*out = &l->base;
	return 0;
}

static void sq_unlock(struct pc_store_lock *base)
{
	struct sqlite_lock *l = (struct sqlite_lock *)base;

	close(l->fd); /* drops both locks */
	free(l);
}

const struct pc_store_ops pc_store_sqlite_ops = {
	.scheme = "sqlite",
	.open = sq_open,
	.close = sq_close,
	.apply = sq_apply,
	.get = sq_get,
	.list = sq_list,
	.revision = sq_revision,
	.watch = sq_watch,
	.alloc_list = sq_alloc_list,
	.alloc_add = sq_alloc_add,
	.alloc_touch = sq_alloc_touch,
	.lock = sq_lock,
	.unlock = sq_unlock,
};
