// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ratings - Bookinfo's ratings service, "v2-mysql" flavour, in C.
 *
 *   GET /ratings/<id>  200 {"id":<id>,"ratings":{"Reviewer1":R1,"Reviewer2":R2}}
 *                      with R1, R2 the first two rows of test.ratings (by ReviewID);
 *                      500 {"error":"could not connect to ratings database","detail":"..."}
 *                      when MySQL cannot be reached or read (detail: the client
 *                      library's message, e.g. the sidecar's denial)
 *   GET /health        200 {"status":"Ratings is healthy"}
 *
 * Configured from the environment exactly as Bookinfo's ratings-v2-mysql
 * deployment is: MYSQL_DB_HOST, MYSQL_DB_PORT, MYSQL_DB_USER, MYSQL_DB_PASSWORD
 * (database "test"); RATINGS_LISTEN (default 127.0.0.1:9081) is where it serves.
 *
 * One MySQL connection per request, as Bookinfo's does: a denied or restored
 * connection shows on the very next page load. libmicrohttpd runs a thread per
 * HTTP connection, so the blocking client calls are fine. SIGTERM/SIGINT stop it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>
#include <mysql.h>

#include "common.h"

#define DB_TIMEOUT 3 /* seconds: connect, read and write */

static const char *db_host, *db_user, *db_password;
static unsigned int db_port;

/* Append <s> to <out> (size <n>) as the inside of a JSON string. */
static void json_escape(char *out, size_t n, const char *s)
{
	size_t o = 0;

	for (; *s && o + 7 < n; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c < 0x20) {
			o += (size_t)snprintf(out + o, n - o, "\\u%04x", c);
		} else {
			out[o++] = (char)c;
		}
	}
	out[o] = '\0';
}

/*
 * Read the first two ratings into <r>. Returns 0, or -1 with the client
 * library's message in <err> (size <n>).
 */
static int read_ratings(int r[2], char *err, size_t n)
{
	unsigned int timeout = DB_TIMEOUT;
	MYSQL_RES *res = NULL;
	MYSQL_ROW row;
	MYSQL *db;
	int got = 0;

	db = mysql_init(NULL);
	if (!db) {
		snprintf(err, n, "out of memory");
		return -1;
	}
	mysql_options(db, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
	mysql_options(db, MYSQL_OPT_READ_TIMEOUT, &timeout);
	mysql_options(db, MYSQL_OPT_WRITE_TIMEOUT, &timeout);
	if (!mysql_real_connect(db, db_host, db_user, db_password, "test", db_port, NULL, 0))
		goto fail;
	if (mysql_query(db, "SELECT Rating FROM ratings ORDER BY ReviewID LIMIT 2"))
		goto fail;
	res = mysql_store_result(db);
	if (!res)
		goto fail;
	while (got < 2 && (row = mysql_fetch_row(res)) && row[0])
		r[got++] = atoi(row[0]);
	mysql_free_result(res);
	mysql_close(db);
	if (got < 2) {
		snprintf(err, n, "test.ratings has %d rows, not 2", got);
		return -1;
	}
	return 0;
fail:
	snprintf(err, n, "%s", mysql_error(db));
	mysql_close(db);
	return -1;
}

static enum MHD_Result reply_json(struct MHD_Connection *c, unsigned int status, const char *body)
{
	return reply(c, status, "application/json", body, false);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_size, void **state)
{
	char body[1024], err[512], detail[600];
	unsigned int status;
	int id, r[2];
	char *end;

	(void)cls, (void)version, (void)upload, (void)upload_size, (void)state;
	if (strcmp(method, "GET") != 0)
		return reply_json(c, MHD_HTTP_METHOD_NOT_ALLOWED,
				  "{\"error\":\"method not allowed\"}");
	if (strcmp(url, "/health") == 0)
		return reply_json(c, MHD_HTTP_OK, "{\"status\":\"Ratings is healthy\"}");
	if (strncmp(url, "/ratings/", 9) != 0 || !url[9])
		return reply_json(c, MHD_HTTP_NOT_FOUND, "{\"error\":\"not found\"}");
	id = (int)strtol(url + 9, &end, 10);
	if (*end)
		return reply_json(c, MHD_HTTP_BAD_REQUEST,
				  "{\"error\":\"please provide numeric product ID\"}");

	if (read_ratings(r, err, sizeof(err)) == 0) {
		status = MHD_HTTP_OK;
		snprintf(body, sizeof(body),
			 "{\"id\":%d,\"ratings\":{\"Reviewer1\":%d,\"Reviewer2\":%d}}", id, r[0],
			 r[1]);
	} else {
		status = MHD_HTTP_INTERNAL_SERVER_ERROR;
		json_escape(detail, sizeof(detail), err);
		snprintf(body, sizeof(body),
			 "{\"error\":\"could not connect to ratings database\",\"detail\":\"%s\"}",
			 detail);
	}
	fprintf(stderr, "ratings: GET %s -> %u%s%s\n", url, status,
		status == MHD_HTTP_OK ? "" : ": ", status == MHD_HTTP_OK ? "" : err);
	return reply_json(c, status, body);
}

int main(void)
{
	struct sockaddr_in sin;
	const char *listen = listen_addr("ratings", "RATINGS_LISTEN", "127.0.0.1:9081", &sin);
	struct MHD_Daemon *d;

	db_host = env("MYSQL_DB_HOST", "127.0.0.1");
	db_port = (unsigned int)atoi(env("MYSQL_DB_PORT", "3306"));
	db_user = env("MYSQL_DB_USER", "bookinfo");
	db_password = env("MYSQL_DB_PASSWORD", "");
	if (!listen)
		return 2;
	if (mysql_library_init(0, NULL, NULL)) {
		fprintf(stderr, "ratings: cannot initialise the MySQL client library\n");
		return 1;
	}
	d = start_server("ratings", listen, &sin, handle);
	if (!d)
		return 1;
	fprintf(stderr, "ratings: listening on %s, database %s@%s:%u/test\n", listen, db_user,
		db_host, db_port);
	wait_for_stop(d);
	mysql_library_end();
	return 0;
}
