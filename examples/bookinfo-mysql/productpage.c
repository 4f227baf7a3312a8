// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * productpage - Bookinfo's product page, reduced to what the seed story shows:
 * the book, its two reviews, and each review's star rating from the ratings
 * service (Bookinfo's reviews v3 "red stars" view, reviews folded in).
 *
 *   GET /productpage  200 text/html, always: with the stars ("★" per point), or,
 *                     when ratings fails (an error status, a timeout, nothing
 *                     listening), each review with "Ratings service is currently
 *                     unavailable" -- graceful degradation, the page never fails
 *   GET /             a link to /productpage
 *   GET /health       200 "ok"
 *
 * PRODUCTPAGE_LISTEN (default 127.0.0.1:9080) is where it serves, RATINGS_URL
 * (default http://127.0.0.1:9081/ratings/0) what it calls, with libcurl.
 * SIGTERM/SIGINT stop it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <microhttpd.h>

#include "common.h"

#define RATINGS_TIMEOUT_MS 3000L
#define RATINGS_MAX_BODY   4096

static const char *ratings_url;

static const char *const reviews[2] = {
	"An extremely entertaining play by Shakespeare. The slapstick humour is refreshing!",
	"Absolutely fun and entertaining. The play lacks thematic depth when compared to other "
	"plays by Shakespeare.",
};

struct body {
	char data[RATINGS_MAX_BODY];
	size_t len;
};

static size_t collect(char *p, size_t size, size_t nmemb, void *userdata)
{
	struct body *b = userdata;
	size_t n = size * nmemb;

	if (n > sizeof(b->data) - 1 - b->len)
		return 0; /* too large: curl reports a write error */
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

/* The integer after "<key>": in <json>, or -1. Enough for the ratings answer. */
static int json_int(const char *json, const char *key)
{
	char needle[64];
	const char *p;

	snprintf(needle, sizeof(needle), "\"%s\":", key);
	p = strstr(json, needle);
	if (!p)
		return -1;
	p += strlen(needle);
	while (*p == ' ')
		p++;
	return *p >= '0' && *p <= '9' ? atoi(p) : -1;
}

/* Ask the ratings service; 0 with <r> filled, or -1 (<why> says why, for the log). */
static int fetch_ratings(int r[2], char *why, size_t n)
{
	struct body b = { .len = 0 };
	long status = 0;
	CURLcode rc;
	CURL *h;

	b.data[0] = '\0';
	h = curl_easy_init();
	if (!h) {
		snprintf(why, n, "out of memory");
		return -1;
	}
	curl_easy_setopt(h, CURLOPT_URL, ratings_url);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, RATINGS_TIMEOUT_MS);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	rc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(h);
	if (rc != CURLE_OK) {
		snprintf(why, n, "%s", curl_easy_strerror(rc));
		return -1;
	}
	if (status != 200) {
		snprintf(why, n, "HTTP %ld %s", status, b.data);
		return -1;
	}
	r[0] = json_int(b.data, "Reviewer1");
	r[1] = json_int(b.data, "Reviewer2");
	if (r[0] < 0 || r[1] < 0) {
		snprintf(why, n, "unexpected answer %s", b.data);
		return -1;
	}
	return 0;
}

/* <out> gets one "★" (U+2605, 3 bytes of UTF-8) per point, at most 5. */
static void stars(char *out, int rating)
{
	size_t o = 0;

	for (int i = 0; i < rating && i < 5; i++, o += 3)
		memcpy(out + o, "\u2605", 3);
	out[o] = '\0';
}

/* Render the page into <page> (size <n>); <r> is NULL when ratings are unavailable. */
static void render(char *page, size_t n, const int *r)
{
	size_t o;

	o = (size_t)snprintf(
		page, n,
		"<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
		"<title>Simple Bookstore App</title>\n<style>\n"
		"body{font-family:sans-serif;margin:2em auto;max-width:50em;color:#222}\n"
		"header{background:#466bb0;color:#fff;padding:.6em 1em;font-size:1.3em}\n"
		"blockquote{border-left:4px solid #ccc;margin:1em 0;padding:.2em 1em}\n"
		".stars{color:#c00;font-size:1.4em}\n.unavailable{color:#777;font-style:italic}\n"
		"</style>\n</head>\n<body>\n<header>BookInfo Sample</header>\n"
		"<h1>The Comedy of Errors</h1>\n"
		"<p><a href=\"https://en.wikipedia.org/wiki/The_Comedy_of_Errors\">Wikipedia "
		"Summary</a>: "
		"The Comedy of Errors is one of William Shakespeare's early plays. It is his "
		"shortest "
		"and one of his most farcical comedies, with a major part of the humour coming "
		"from "
		"slapstick and mistaken identity, in addition to puns and word play.</p>\n"
		"<h2>Book Reviews</h2>\n");
	for (int i = 0; i < 2 && o < n; i++) {
		char s[16];

		if (r) {
			stars(s, r[i]);
			o += (size_t)snprintf(
				page + o, n - o,
				"<blockquote>\n<p>%s</p>\n<small>Reviewer%d</small>\n"
				"<p class=\"ratings\">Reviewer%d: <span class=\"stars\" "
				"title=\"%d of 5\">%s</span></p>\n</blockquote>\n",
				reviews[i], i + 1, i + 1, r[i], s);
		} else {
			o += (size_t)snprintf(
				page + o, n - o,
				"<blockquote>\n<p>%s</p>\n<small>Reviewer%d</small>\n"
				"<p class=\"ratings\">Reviewer%d: <span class=\"unavailable\">"
				"Ratings service is currently unavailable</span></p>\n"
				"</blockquote>\n",
				reviews[i], i + 1, i + 1);
		}
	}
	if (o < n)
		snprintf(page + o, n - o, "</body>\n</html>\n");
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_size, void **state)
{
	char page[8192], why[RATINGS_MAX_BODY + 64];
	int r[2], ok;

	(void)cls, (void)version, (void)upload, (void)upload_size, (void)state;
	if (strcmp(method, "GET") != 0)
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", "method not allowed\n",
			     true);
	if (strcmp(url, "/health") == 0)
		return reply(c, MHD_HTTP_OK, "text/plain", "ok\n", true);
	if (strcmp(url, "/") == 0)
		return reply(c, MHD_HTTP_OK, "text/html; charset=utf-8",
			     "<!DOCTYPE html><a href=\"/productpage\">/productpage</a>\n", true);
	if (strcmp(url, "/productpage") != 0)
		return reply(c, MHD_HTTP_NOT_FOUND, "text/plain", "not found\n", true);

	ok = fetch_ratings(r, why, sizeof(why)) == 0;
	if (!ok)
		fprintf(stderr, "productpage: ratings unavailable: %s\n", why);
	render(page, sizeof(page), ok ? r : NULL);
	return reply(c, MHD_HTTP_OK, "text/html; charset=utf-8", page, true);
}

int main(void)
{
	struct sockaddr_in sin;
	const char *listen =
		listen_addr("productpage", "PRODUCTPAGE_LISTEN", "127.0.0.1:9080", &sin);
	struct MHD_Daemon *d;

	ratings_url = env("RATINGS_URL", "http://127.0.0.1:9081/ratings/0");
	if (!listen)
		return 2;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "productpage: cannot initialise libcurl\n");
		return 1;
	}
	d = start_server("productpage", listen, &sin, handle);
	if (!d)
		return 1;
	fprintf(stderr, "productpage: listening on %s, ratings at %s\n", listen, ratings_url);
	wait_for_stop(d);
	curl_global_cleanup();
	return 0;
}
