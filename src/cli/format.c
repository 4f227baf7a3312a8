/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cli/format.c - byte counts, ages and RFC 3339 times (cli/format.h).
 */
#include "cli/format.h"

#include <stdio.h>
#include <string.h>

void pc_format_bytes(char *out, size_t size, double n)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	size_t k = 0;
	double v;

	if (!(n >= 0)) {
		snprintf(out, size, "-");
		return;
	}
	if (n < 1023.5) {
		snprintf(out, size, "%.0fB", n);
		return;
	}
	/* 1023.95 would print as "1024.0": go up a unit instead. */
	for (v = n / 1024; v >= 1023.95 && k + 1 < sizeof(units) / sizeof(units[0]); k++)
		v /= 1024;
	snprintf(out, size, "%.1f%s", v, units[k]);
}

void pc_format_duration(char *out, size_t size, long long s)
{
	long long m = s / 60, h = s / 3600, d = h / 24;

	if (s < -1)
		snprintf(out, size, "<invalid>");
	else if (s < 0)
		snprintf(out, size, "0s");
	else if (s < 120)
		snprintf(out, size, "%llds", s);
	else if (m < 10 && s % 60)
		snprintf(out, size, "%lldm%llds", m, s % 60);
	else if (m < 180)
		snprintf(out, size, "%lldm", m);
	else if (h < 8 && m % 60)
		snprintf(out, size, "%lldh%lldm", h, m % 60);
	else if (h < 48)
		snprintf(out, size, "%lldh", h);
	else if (h < 24LL * 8 && h % 24)
		snprintf(out, size, "%lldd%lldh", d, h % 24);
	else if (h < 24LL * 365 * 2)
		snprintf(out, size, "%lldd", d);
	else if (h < 24LL * 365 * 8 && d % 365)
		snprintf(out, size, "%lldy%lldd", d / 365, d % 365);
	else
		snprintf(out, size, "%lldy", d / 365);
}

/* <n> decimal digits at <*s>, advancing it; -1 when they are not there. */
static int num(const char **s, int n)
{
	int v = 0;

	for (; n > 0; n--, (*s)++) {
		if (**s < '0' || **s > '9')
			return -1;
		v = v * 10 + (**s - '0');
	}
	return v;
}

static bool expect(const char **s, const char *chars)
{
	if (!**s || !strchr(chars, **s))
		return false;
	(*s)++;
	return true;
}

/* The offset part of an RFC 3339 time at <s>, in seconds east of UTC. */
static bool parse_offset(const char *s, long *off)
{
	int sign, oh, om;

	if (*s == 'Z' || *s == 'z') {
		*off = 0;
		return s[1] == '\0';
	}
	if (*s != '+' && *s != '-')
		return false;
	sign = *s++ == '-' ? -1 : 1;
	oh = num(&s, 2);
	if (oh < 0 || oh > 23 || !expect(&s, ":"))
		return false;
	om = num(&s, 2);
	if (om < 0 || om > 59 || *s)
		return false;
	*off = sign * (oh * 3600L + om * 60L);
	return true;
}

bool pc_format_parse_time(const char *s, time_t *t)
{
	struct tm tm;
	long off;

	memset(&tm, 0, sizeof(tm));
	tm.tm_year = num(&s, 4) - 1900;
	if (tm.tm_year < -1900 || !expect(&s, "-") || (tm.tm_mon = num(&s, 2) - 1) < 0 ||
	    tm.tm_mon > 11 || !expect(&s, "-") || (tm.tm_mday = num(&s, 2)) < 1 ||
	    tm.tm_mday > 31 || !expect(&s, "Tt") || (tm.tm_hour = num(&s, 2)) < 0 ||
	    tm.tm_hour > 23 || !expect(&s, ":") || (tm.tm_min = num(&s, 2)) < 0 || tm.tm_min > 59 ||
	    !expect(&s, ":") || (tm.tm_sec = num(&s, 2)) < 0 || tm.tm_sec > 60)
		return false;
	if (*s == '.') {
		for (s++; *s >= '0' && *s <= '9'; s++)
			;
	}
	if (!parse_offset(s, &off))
		return false;
	*t = timegm(&tm) - off;
	return true;
}
