/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for cli/peer.c: which uid owns the server end of a loopback
 * connection, from fixed /proc/net/tcp and /proc/net/tcp6 tables (the
 * daemon that dropped to the proxy user after binding, a squatter, a
 * dual-stack listener, ::1, TIME_WAIT leftovers, lines that do not parse).
 *
 * The kernel prints addresses as host-order words: these tables are a
 * little-endian machine's, as every architecture Debian runs this on.
 */
#include <check.h>
#include <errno.h>
#include <string.h>

#include "cli/peer.h"

#define HEAD4                                                                                 \
	"  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  " \
	"timeout inode\n"
#define HEAD6                                                                                \
	"  sl  local_address                         remote_address                        " \
	"st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
#define TAIL " 0 1001 1 0000000000000000 100 0 0 10 0\n"

/* 127.0.0.1:15000 (3A98) listened on by root, accepted by uid 1337; the client at :45854 (B31E). */
#define LISTEN_ROOT \
	"   0: 0100007F:3A98 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0" TAIL
#define SERVER_END \
	"   1: 0100007F:3A98 0100007F:B31E 01 00000000:00000000 00:00000000 00000000  1337" TAIL
#define CLIENT_END \
	"   2: 0100007F:B31E 0100007F:3A98 01 00000000:00000000 00:00000000 00000000     0" TAIL
#define LISTEN_NOBODY \
	"   3: 0100007F:3A98 00000000:0000 0A 00000000:00000000 00:00000000 00000000 65534" TAIL

static struct pc_tcp_ep server, client;

static void setup(void)
{
	ck_assert_int_eq(pc_peer_ep_parse(&server, "127.0.0.1", 15000), 0);
	ck_assert_int_eq(pc_peer_ep_parse(&client, "127.0.0.1", 45854), 0);
}

static int verdict(const char *tcp, const char *tcp6, unsigned owner, unsigned *bad)
{
	struct pc_peer_info info;

	memset(&info, 0, sizeof(info));
	*bad = 0;
	pc_peer_scan(tcp, false, &server, &client, &info);
	pc_peer_scan(tcp6, true, &server, &client, &info);
	return pc_peer_verdict(&info, owner, bad);
}

START_TEST(addresses_and_loopback)
{
	struct pc_tcp_ep ep;

	ck_assert_int_eq(pc_peer_ep_parse(&ep, "127.0.0.1", 1), 0);
	ck_assert(pc_peer_is_loopback(&ep));
	ck_assert_int_eq(pc_peer_ep_parse(&ep, "127.200.3.4", 1), 0);
	ck_assert(pc_peer_is_loopback(&ep));
	ck_assert_int_eq(pc_peer_ep_parse(&ep, "::1", 1), 0);
	ck_assert(pc_peer_is_loopback(&ep));
	ck_assert_int_eq(pc_peer_ep_parse(&ep, "::ffff:127.0.0.1", 1), 0);
	ck_assert(pc_peer_is_loopback(&ep));
	ck_assert_int_eq(pc_peer_ep_parse(&ep, "203.0.113.5", 1), 0);
	ck_assert(!pc_peer_is_loopback(&ep));
	ck_assert_int_eq(pc_peer_ep_parse(&ep, "128.0.0.1", 1), 0);
	ck_assert(!pc_peer_is_loopback(&ep));
	ck_assert_int_eq(pc_peer_ep_parse(&ep, "::2", 1), 0);
	ck_assert(!pc_peer_is_loopback(&ep));
	ck_assert_int_eq(pc_peer_ep_parse(&ep, "2001:db8::1", 1), 0);
	ck_assert(!pc_peer_is_loopback(&ep));
	ck_assert_int_eq(pc_peer_ep_parse(&ep, "localhost", 1), -EINVAL);
	ck_assert_int_eq(pc_peer_ep_parse(&ep, NULL, 1), -EINVAL);
	ck_assert_int_eq(pc_peer_ep_parse(&ep, "127.0.0.1", 65536), -EINVAL);
}
END_TEST

START_TEST(the_daemon_after_it_dropped_is_its_listener)
{
	struct pc_peer_info info;
	unsigned bad;

	memset(&info, 0, sizeof(info));
	pc_peer_scan(HEAD4 LISTEN_ROOT SERVER_END CLIENT_END, false, &server, &client, &info);
	ck_assert(info.conn_found);
	ck_assert_uint_eq(info.conn_uid, 1337); /* the accepting process's, not the listener's */
	ck_assert_uint_eq(info.nlisten, 1);
	ck_assert_uint_eq(info.listen_uid, 0);
	ck_assert_int_eq(pc_peer_verdict(&info, 0, &bad), 0);
	/* a token of uid 1000 is not root's daemon's */
	ck_assert_int_eq(pc_peer_verdict(&info, 1000, &bad), -EPERM);
	ck_assert_uint_eq(bad, 0);
}
END_TEST

START_TEST(a_squatter_is_refused)
{
	unsigned bad;

	ck_assert_int_eq(verdict(HEAD4 LISTEN_NOBODY SERVER_END CLIENT_END, HEAD6, 0, &bad),
			 -EPERM);
	ck_assert_uint_eq(bad, 65534);
	/* two listeners of one reuseport group: all must be the owner's */
	ck_assert_int_eq(verdict(HEAD4 LISTEN_ROOT LISTEN_NOBODY SERVER_END, "", 0, &bad), -EPERM);
	ck_assert_uint_eq(bad, 65534);
	ck_assert_int_eq(verdict(HEAD4 LISTEN_NOBODY LISTEN_ROOT SERVER_END, "", 0, &bad), -EPERM);
	ck_assert_uint_eq(bad, 65534);
}
END_TEST

START_TEST(wildcard_listeners_count)
{
	const char *any4 = HEAD4 "   0: 00000000:3A98 00000000:0000 0A 00000000:00000000 "
				 "00:00000000 00000000 65534" TAIL SERVER_END;
	/* "::" in tcp6 takes IPv4 unless V6ONLY; the connection is then in tcp6, v4-mapped */
	const char *any6 = HEAD6 "   0: 00000000000000000000000000000000:3A98 "
				 "00000000000000000000000000000000:0000 0A 00000000:00000000 "
				 "00:00000000 00000000 65534" TAIL
				 "   1: 0000000000000000FFFF00000100007F:3A98 "
				 "0000000000000000FFFF00000100007F:B31E 01 00000000:00000000 "
				 "00:00000000 00000000 65534" TAIL;
	/* another address on the port does not take our connection */
	const char *other = HEAD4 "   0: 0200007F:3A98 00000000:0000 0A 00000000:00000000 "
				  "00:00000000 00000000 65534" TAIL LISTEN_ROOT SERVER_END;
	unsigned bad;

	ck_assert_int_eq(verdict(any4, HEAD6, 0, &bad), -EPERM);
	ck_assert_uint_eq(bad, 65534);
	ck_assert_int_eq(verdict(HEAD4, any6, 0, &bad), -EPERM);
	ck_assert_uint_eq(bad, 65534);
	ck_assert_int_eq(verdict(HEAD4, any6, 65534, &bad), 0);
	ck_assert_int_eq(verdict(other, HEAD6, 0, &bad), 0);
}
END_TEST

START_TEST(ipv6_loopback)
{
	/* ::1 is the word 01000000 last; the client at [::1]:45854 */
	const char *t6 = HEAD6 "   0: 00000000000000000000000001000000:3A98 "
			       "00000000000000000000000000000000:0000 0A 00000000:00000000 "
			       "00:00000000 00000000     0" TAIL
			       "   1: 00000000000000000000000001000000:3A98 "
			       "00000000000000000000000001000000:B31E 01 00000000:00000000 "
			       "00:00000000 00000000  1337" TAIL;
	struct pc_peer_info info;
	unsigned bad;

	ck_assert_int_eq(pc_peer_ep_parse(&server, "::1", 15000), 0);
	ck_assert_int_eq(pc_peer_ep_parse(&client, "::1", 45854), 0);
	memset(&info, 0, sizeof(info));
	pc_peer_scan(t6, true, &server, &client, &info);
	ck_assert(info.conn_found);
	ck_assert_uint_eq(info.conn_uid, 1337);
	ck_assert_int_eq(pc_peer_verdict(&info, 0, &bad), 0);
	/* an IPv4 wildcard listener cannot take a connection to ::1 */
	ck_assert_int_eq(verdict(HEAD4 "   0: 00000000:3A98 00000000:0000 0A 00000000:00000000 "
				       "00:00000000 00000000 65534" TAIL,
				 t6, 0, &bad),
			 0);
}
END_TEST

START_TEST(no_server_end_or_no_listener)
{
	/* TIME_WAIT shows uid 0 whoever it was: not the server end */
	const char *tw = HEAD4 LISTEN_ROOT "   1: 0100007F:3A98 0100007F:B31E 06 00000000:00000000 "
					   "03:00001000 00000000     0" TAIL;
	unsigned bad;

	ck_assert_int_eq(verdict(HEAD4 LISTEN_ROOT CLIENT_END, HEAD6, 0, &bad), -ENOENT);
	ck_assert_int_eq(verdict(tw, HEAD6, 0, &bad), -ENOENT);
	/* the listener is gone (the daemon stopping): nobody's to vouch for */
	ck_assert_int_eq(verdict(HEAD4 SERVER_END CLIENT_END, HEAD6, 0, &bad), -ENOTCONN);
	ck_assert_int_eq(verdict("", "", 0, &bad), -ENOENT);
}
END_TEST

START_TEST(bad_lines_are_skipped)
{
	const char *junk = HEAD4
		"garbage\n"
		"   0: 0100007F:3A98\n"
		"   1: 0100007:3A98 00000000:0000 0A 00000000:00000000 00:00000000 "
		"00000000 65534" TAIL
		"   2: 0100007FFF:3A98 00000000:0000 0A 00000000:00000000 00:00000000 "
		"00000000 65534" TAIL
		"   3: 0100007F:3A98 00000000:0000 0A 00000000:00000000 00:00000000 "
		"00000000 x" TAIL "   4: 0100007F:3A98 00000000:0000 0A\n" LISTEN_ROOT SERVER_END;
	struct pc_peer_info info;
	unsigned bad;

	memset(&info, 0, sizeof(info));
	pc_peer_scan(junk, false, &server, &client, &info);
	ck_assert_uint_eq(info.nlisten, 1);
	ck_assert_int_eq(pc_peer_verdict(&info, 0, &bad), 0);
	/* a tcp6-length address in the tcp table is not one */
	memset(&info, 0, sizeof(info));
	pc_peer_scan(LISTEN_ROOT SERVER_END, true, &server, &client, &info);
	ck_assert(!info.conn_found && info.nlisten == 0);
	/* no trailing newline */
	memset(&info, 0, sizeof(info));
	pc_peer_scan("   0: 0100007F:3A98 00000000:0000 0A 00000000:00000000 00:00000000 "
		     "00000000     7 0 1",
		     false, &server, &client, &info);
	ck_assert_uint_eq(info.nlisten, 1);
	ck_assert_uint_eq(info.listen_uid, 7);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cli.peer");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, addresses_and_loopback);
	tcase_add_test(tc, the_daemon_after_it_dropped_is_its_listener);
	tcase_add_test(tc, a_squatter_is_refused);
	tcase_add_test(tc, wildcard_listeners_count);
	tcase_add_test(tc, ipv6_loopback);
	tcase_add_test(tc, no_server_end_or_no_listener);
	tcase_add_test(tc, bad_lines_are_skipped);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
