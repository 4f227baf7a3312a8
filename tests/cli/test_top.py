# SPDX-License-Identifier: GPL-2.0-or-later
"""`portcullis connections` and `portcullis top` against a fake admin endpoint.

The fake (apifake.FakeAPI over TCP, as the admin endpoint is) answers
/connections, /stats (?format=json) and /denials with canned JSON in the
shapes of doc/admin.md, so each test checks the exact output for a known
answer: tables, human-readable and exact byte counts, the byte rates that
`top` computes between two refreshes, the denials with their reason and
hint, and what a broken or hostile admin endpoint gets: one clear line and
exit status 1, never a crash or an escape sequence reaching the terminal.
The live (terminal) view is driven through tmux here against the fake, and
against the real daemon in tests/system/proxy/test_top.py.
"""
import json
import os
import re
import shutil
import socket
import subprocess
import time

import pytest

from apifake import FakeAPI

MYSQL = "outbound|3306||mysql.example.com"
DENIAL_REASON = "no ServiceEntry matches (outbound traffic policy REGISTRY_ONLY)"
DENIAL_HINT = "ServiceEntry default/mysql-external allows 203.0.113.10/32 on port 3306"


@pytest.fixture
def admin(tmp_path):
    api = FakeAPI(tmp_path, tcp=True)
    yield api
    api.close()


@pytest.fixture(autouse=True)
def environment(monkeypatch):
    """Denial times print in local time: make it UTC; no admin address from outside."""
    monkeypatch.setenv("TZ", "UTC")
    monkeypatch.delenv("PORTCULLIS_ADMIN", raising=False)


@pytest.fixture
def cli(pc, admin):
    def run(*args, **kw):
        return pc.run(*args, "--admin", admin.addr, **kw)
    return run


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ---------------------------------------------------------------- fixtures' data

def conn(id_, client, dest, state="established", rx=0, tx=0, age=1.0, worker=0,
         cluster=MYSQL, upstream=None):
    return {"id": id_, "worker": worker, "client": client, "destination": dest,
            "cluster": cluster, "upstream": upstream or dest, "state": state,
            "bytes_received": rx, "bytes_sent": tx, "age_seconds": age}


CONNECTIONS = {"connections": [
    conn(17, "192.0.2.1:40000", "203.0.113.10:3306", rx=100, tx=2000000, age=3.2),
    conn(3, "192.0.2.1:40001", "203.0.113.10:3306", state="connecting", age=7300, worker=1,
         upstream="198.51.100.2:3306"),
    conn(250, "[2001:db8::1]:50000", "[2001:db8:1::2]:443", state="revoking", rx=5 << 30,
         tx=1536, age=90061, cluster="PassthroughCluster"),
]}


def cluster(name, service, namespace, total, active, rx, tx, fail=0, timeout=0, overflow=0):
    return {"name": name, "service": service, "namespace": namespace,
            "upstream_cx_total": total, "upstream_cx_active": active,
            "upstream_cx_connect_fail": fail, "upstream_cx_connect_timeout": timeout,
            "upstream_cx_overflow": overflow, "rx_bytes": rx, "tx_bytes": tx}


def stats(uptime=3725.5, generation=3, clusters=(), total=10, active=2, denied=3, revoked=0):
    body = {"policy_generation": generation,
            "listener": {"downstream_cx_total": total, "downstream_cx_active": active,
                         "denied": denied, "revoked": revoked},
            "clusters": list(clusters)}
    if uptime is not None:
        body["uptime_seconds"] = uptime
    return body


def denial(time_, client, dest, reason=DENIAL_REASON, hint=None, response="mysql"):
    d = {"time": time_, "client": client, "destination": dest, "reason": reason,
         "response": response}
    if hint is not None:
        d["hint"] = hint
    return d


DENIALS = {"denials": [  # newest last, as the daemon sends them
    denial("2026-11-26T10:00:00.123Z", "192.0.2.1:40000", "203.0.113.9:3306",
           hint=DENIAL_HINT),
    denial("2026-11-26T10:00:05Z", "192.0.2.1:40002", "203.0.113.7:443",
           reason="no ServiceEntry matches", response="tls"),
]}

CLUSTERS = [
    cluster(MYSQL, "mysql.example.com", "default", 7, 2, 1234, 5 * 1024 * 1024 + 300),
    cluster("PassthroughCluster", "unknown", "", 1, 0, 5, 6, fail=1, timeout=2),
    cluster("outbound|443||api.example.com", "api.example.com", "web", 12, 3, 0, 0,
            overflow=4),
]


DEST_HEAD = ["DESTINATION", "NAMESPACE", "CLUSTER", "ALLOWED", "ACTIVE", "FAILED", "RX/S",
             "TX/S", "RX", "TX"]


def layout(head, rows):
    """kubectl's table layout (tabwriter: minimum width 6, padding 3), as the CLI prints it."""
    rows = [head] + rows
    widths = [max(6, *(len(r[i]) + 3 for r in rows)) for i in range(len(head))]
    lines = []
    for r in rows:
        line = "".join(cell.ljust(w) for cell, w in zip(r[:-1], widths)) + r[-1]
        lines.append(line.rstrip() + "\n")
    return "".join(lines)


# ---------------------------------------------------------------- connections

def test_connections_table(cli, admin):
    admin.reply("GET", "/connections", 200, CONNECTIONS)
    r = cli("connections")
    assert r.rc == 0, r
    assert r.err == ""
    assert r.out == (
        "ID    CLIENT                DESTINATION           CLUSTER                            "
        "STATE         RX       TX       AGE\n"
        "3     192.0.2.1:40001       203.0.113.10:3306     outbound|3306||mysql.example.com   "
        "connecting    0B       0B       121m\n"
        "17    192.0.2.1:40000       203.0.113.10:3306     outbound|3306||mysql.example.com   "
        "established   100B     1.9MiB   3s\n"
        "250   [2001:db8::1]:50000   [2001:db8:1::2]:443   PassthroughCluster                 "
        "revoking      5.0GiB   1.5KiB   25h\n")
    assert [(q.method, q.path, q.query) for q in admin.requests] == [("GET", "/connections", {})]


def test_connections_wide(cli, admin):
    admin.reply("GET", "/connections", 200, CONNECTIONS)
    r = cli("connections", "-o", "wide")
    assert r.rc == 0, r
    assert r.out == (
        "ID    WORKER   CLIENT                DESTINATION           UPSTREAM              "
        "CLUSTER                            STATE         RX           TX        AGE\n"
        "3     1        192.0.2.1:40001       203.0.113.10:3306     198.51.100.2:3306     "
        "outbound|3306||mysql.example.com   connecting    0            0         121m\n"
        "17    0        192.0.2.1:40000       203.0.113.10:3306     203.0.113.10:3306     "
        "outbound|3306||mysql.example.com   established   100          2000000   3s\n"
        "250   0        [2001:db8::1]:50000   [2001:db8:1::2]:443   [2001:db8:1::2]:443   "
        "PassthroughCluster                 revoking      5368709120   1536      25h\n")


def test_connections_json(cli, admin):
    admin.reply("GET", "/connections", 200, CONNECTIONS)
    r = cli("connections", "-o", "json")
    assert r.rc == 0, r
    assert json.loads(r.out) == CONNECTIONS
    assert r.out.startswith('{\n    "connections": [\n')


def test_connections_none(cli, admin):
    admin.reply("GET", "/connections", 200, {"connections": []})
    r = cli("connections")
    assert (r.rc, r.out, r.err) == (0, "", "No connections\n")
    r = cli("connections", "-o", "json")
    assert r.rc == 0 and json.loads(r.out) == {"connections": []}


def test_connections_missing_fields(cli, admin):
    admin.reply("GET", "/connections", 200, {"connections": [
        {"id": 1}, {"id": "x", "bytes_received": "12", "bytes_sent": -5, "age_seconds": None}]})
    r = cli("connections")
    assert r.rc == 0, r
    assert r.out == (
        "ID    CLIENT   DESTINATION   CLUSTER   STATE    RX       TX       AGE\n"
        "1     <none>   <none>        <none>    <none>   <none>   <none>   <none>\n"
        "x     <none>   <none>        <none>    <none>   <none>   <none>   <none>\n")


def test_connections_escapes_control_characters(cli, admin):
    admin.reply("GET", "/connections", 200, {"connections": [
        conn(1, "192.0.2.1:1\x1b[2J", "203.0.113.1:1\u009b31m", state="bad\nstate")]})
    r = cli("connections")
    assert r.rc == 0, r
    assert "\x1b" not in r.out and "\u009b" not in r.out
    assert r.lines()[1].split() == ["1", "192.0.2.1:1?[2J", "203.0.113.1:1?31m", MYSQL,
                                    "bad...", "0B", "0B", "1s"]


def test_connections_unreachable(pc):
    port = free_port()
    r = pc.run("connections", "--admin", f"127.0.0.1:{port}")
    assert (r.rc, r.out) == (1, "")
    assert r.err == (
        f"portcullis: cannot reach the admin endpoint at http://127.0.0.1:{port}: Connection "
        "refused (is 'portcullis run' running with its admin endpoint there? point at it "
        "with --admin ADDR or $PORTCULLIS_ADMIN)\n")


def test_connections_default_address(pc):
    r = pc.run("connections")
    if r.rc == 0:
        pytest.skip("an admin endpoint answers on 127.0.0.1:15000 on this machine")
    assert r.rc == 1
    assert r.err.startswith("portcullis: cannot reach the admin endpoint at "
                            "http://127.0.0.1:15000: ")


def test_admin_from_environment(pc, admin, monkeypatch):
    admin.reply("GET", "/connections", 200, {"connections": []})
    for value in (admin.addr, "http://" + admin.addr, "http://" + admin.addr + "/"):
        monkeypatch.setenv("PORTCULLIS_ADMIN", value)
        r = pc.run("connections")
        assert r.rc == 0, r
    monkeypatch.setenv("PORTCULLIS_ADMIN", "127.0.0.1:1")
    r = pc.run("connections", "--admin", admin.addr)  # the flag wins
    assert r.rc == 0, r
    assert len(admin.requests) == 4


@pytest.mark.parametrize("verb", ["connections", "top"])
@pytest.mark.parametrize("addr", ["unix:/run/x.sock", "/run/x.sock", "localhost", "host:0",
                                  "https://127.0.0.1:1", ":80", "a/b:80"])
def test_invalid_admin_address(pc, monkeypatch, verb, addr):
    r = pc.run(verb, "--admin", addr)
    assert (r.rc, r.out) == (2, ""), r
    assert r.err == (f'portcullis: invalid admin address "{addr}": use HOST:PORT or '
                     "http://HOST:PORT\n")
    monkeypatch.setenv("PORTCULLIS_ADMIN", addr)
    r = pc.run(verb)
    assert r.rc == 1, r
    assert r.err == (f'portcullis: invalid admin address "{addr}" in $PORTCULLIS_ADMIN: use '
                     "HOST:PORT or http://HOST:PORT\n")


def test_connections_http_error(cli, admin):
    admin.reply("GET", "/connections", 503, b"draining\nmore text", "text/plain")
    r = cli("connections")
    assert (r.rc, r.out) == (1, "")
    assert r.err == (f"portcullis: the admin endpoint at http://{admin.addr} answered GET "
                     "/connections with HTTP 503: draining\n")


def test_connections_hang_up(cli, admin):
    admin.reply("GET", "/connections", None)
    r = cli("connections")
    assert r.rc == 1
    assert r.err == (f"portcullis: the admin endpoint at http://{admin.addr} closed the "
                     "connection without answering\n")


@pytest.mark.parametrize("body,expected", [
    (b"not json", "expected a JSON object, got "),
    (b"[1,2]", "expected a JSON object, got not a JSON object"),
    (b'{"connections":{}}', "expected a list of connections"),
    (b'{"connections":[1]}', "expected a list of connections"),
    (b'{"other":[]}', "expected a list of connections"),
])
def test_connections_bad_body(cli, admin, body, expected):
    admin.reply("GET", "/connections", 200, body)
    r = cli("connections")
    assert (r.rc, r.out) == (1, ""), r
    assert r.err.startswith(f"portcullis: unexpected response from the admin endpoint at "
                            f"http://{admin.addr} to GET /connections: ")
    assert expected in r.err
    assert r.err.count("\n") == 1


@pytest.mark.parametrize("args,message", [
    (["-o", "yaml"], 'unknown output format "yaml" (use wide or json)'),
    (["extra"], 'unexpected argument "extra"'),
    (["--bogus"], 'unknown option "--bogus"'),
    (["-o"], "option -o needs an argument"),
    (["-x"], 'unknown option "-x"'),
])
def test_connections_usage_errors(pc, admin, args, message):
    r = pc.run("connections", *args)
    assert (r.rc, r.out) == (2, ""), r
    assert r.err == (f"portcullis: connections: {message}; "
                     "see 'portcullis connections --help'\n")
    assert admin.requests == []


# ---------------------------------------------------------------- help

@pytest.mark.parametrize("args", [["connections", "--help"], ["connections", "-h"],
                                  ["help", "connections"]])
def test_connections_help(pc, args):
    r = pc.run(*args)
    assert (r.rc, r.err) == (0, ""), r
    assert r.out.startswith("Usage: portcullis connections [--admin ADDR] [-o wide|json]\n")
    assert "127.0.0.1:15000" in r.out and "$PORTCULLIS_ADMIN" in r.out


@pytest.mark.parametrize("args", [["top", "--help"], ["top", "-h"], ["help", "top"]])
def test_top_help(pc, args):
    r = pc.run(*args)
    assert (r.rc, r.err) == (0, ""), r
    assert r.out.startswith(
        "Usage: portcullis top [--admin ADDR] [-d SECONDS] [-n ITERATIONS] [--once]\n")
    for needle in ("-d, --delay SECONDS", "-n, --iterations N", "--once", "q quits"):
        assert needle in r.out


def test_top_level_usage_lists_both(pc):
    r = pc.run("--help")
    assert r.rc == 0
    assert re.search(r"^  connections  \S", r.out, re.M), r.out
    assert re.search(r"^  top          \S", r.out, re.M), r.out
    assert max(len(ln) for ln in r.lines()) <= 80


# ---------------------------------------------------------------- top: snapshots

TOP_HEADER = ("portcullis top - http://{addr} - up 62m, policy generation 3, connections 10 "
              "(2 active), denied 3, revoked 0\n")


def test_top_once(cli, admin):
    admin.reply("GET", "/stats", 200, stats(clusters=CLUSTERS))
    admin.reply("GET", "/denials", 200, DENIALS)
    r = cli("top", "--once")
    assert (r.rc, r.err) == (0, ""), r
    assert r.out == TOP_HEADER.format(addr=admin.addr) + (
        "\n"
        "DESTINATION          NAMESPACE   CLUSTER                            ALLOWED   ACTIVE   "
        "FAILED   RX/S   TX/S   RX       TX\n"
        "api.example.com      web         outbound|443||api.example.com      12        3        "
        "4        -      -      0B       0B\n"
        "mysql.example.com    default     outbound|3306||mysql.example.com   7         2        "
        "0        -      -      1.2KiB   5.0MiB\n"
        "PassthroughCluster   -           PassthroughCluster                 1         0        "
        "3        -      -      5B       6B\n"
        "\n"
        "DENIED AT   CLIENT            DESTINATION        RESPONSE   REASON\n"
        "10:00:05    192.0.2.1:40002   203.0.113.7:443    tls        no ServiceEntry matches\n"
        f"10:00:00    192.0.2.1:40000   203.0.113.9:3306   mysql      {DENIAL_REASON}\n"
        f"                                                            hint: {DENIAL_HINT}\n")
    assert [(q.path, q.query) for q in admin.requests] == [
        ("/stats", {"format": ["json"]}), ("/denials", {})]


def test_top_not_a_terminal_without_once_keeps_going(cli, admin):
    """stdout is a pipe here: plain snapshots, -n of them, a blank line between."""
    admin.reply("GET", "/stats", 200, stats(clusters=[]))
    admin.reply("GET", "/denials", 200, {"denials": []})
    r = cli("top", "-n", "3", "-d", "0.1")
    assert r.rc == 0, r
    snapshot = TOP_HEADER.format(addr=admin.addr) + "\nNo destinations\n\nNo denials\n"
    assert r.out == "\n".join([snapshot] * 3)
    assert len(admin.requests) == 6


def test_top_rates_between_two_refreshes(cli, admin):
    """Bytes/s: the counters' change over the change of the daemon's uptime (1 s here)."""
    mib2 = 2 * 1024 * 1024
    admin.reply("GET", "/stats", 200, stats(uptime=100, clusters=[
        cluster(MYSQL, "mysql.example.com", "default", 7, 2, 1000, 5000),
        cluster("PassthroughCluster", "unknown", "", 1, 0, 10, 10)]))
    admin.reply("GET", "/stats", 200, stats(uptime=101, clusters=[
        cluster(MYSQL, "mysql.example.com", "default", 8, 1, 1000 + mib2, 5000 + 1536),
        cluster("PassthroughCluster", "unknown", "", 5, 4, 10 + 512, 10),
        cluster("outbound|80||new.example.com", "new.example.com", "default", 1, 1, 9, 9)]))
    admin.reply("GET", "/denials", 200, {"denials": []})
    start = time.monotonic()
    r = cli("top", "-n", "2", "-d", "1")
    assert r.rc == 0, r
    assert time.monotonic() - start >= 1.0
    snapshots = r.out.split("\n\n")
    assert len(snapshots) == 6, r.out  # header, destinations, denials; twice
    assert snapshots[1] + "\n" == layout(DEST_HEAD, [
        ["mysql.example.com", "default", MYSQL, "7", "2", "0", "-", "-", "1000B", "4.9KiB"],
        ["PassthroughCluster", "-", "PassthroughCluster", "1", "0", "0", "-", "-", "10B",
         "10B"]])
    # Busiest first; a cluster new in this sample has no rate yet.
    assert snapshots[4] + "\n" == layout(DEST_HEAD, [
        ["mysql.example.com", "default", MYSQL, "8", "1", "0", "2.0MiB", "1.5KiB", "2.0MiB",
         "6.4KiB"],
        ["PassthroughCluster", "-", "PassthroughCluster", "5", "4", "0", "512B", "0B", "522B",
         "10B"],
        ["new.example.com", "default", "outbound|80||new.example.com", "1", "1", "0", "-", "-",
         "9B", "9B"]])
    assert [q.path for q in admin.requests] == ["/stats", "/denials"] * 2


def test_top_rates_without_daemon_uptime_use_our_clock(cli, admin):
    admin.reply("GET", "/stats", 200, stats(uptime=None, clusters=[
        cluster(MYSQL, "mysql.example.com", "default", 1, 1, 0, 0)]))
    admin.reply("GET", "/stats", 200, stats(uptime=None, clusters=[
        cluster(MYSQL, "mysql.example.com", "default", 1, 1, 1000 * 1024, 0)]))
    admin.reply("GET", "/denials", 200, {"denials": []})
    r = cli("top", "-n", "2", "-d", "1")
    assert r.rc == 0, r
    assert " up -, " in r.out
    row = r.out.split("\n\n")[4].splitlines()[1].split()
    # 1000 KiB over a bit more than the 1 s delay (two HTTP requests).
    assert re.fullmatch(r"(\d{3}\.\dKiB)", row[6]), row
    assert 700 <= float(row[6][:-3]) <= 1000, row
    assert row[7] == "0B"


def test_top_counter_reset_shows_no_rate(cli, admin):
    admin.reply("GET", "/stats", 200, stats(uptime=500, clusters=[
        cluster(MYSQL, "mysql.example.com", "default", 9, 1, 5000, 5000)]))
    admin.reply("GET", "/stats", 200, stats(uptime=2, clusters=[
        cluster(MYSQL, "mysql.example.com", "default", 1, 1, 10, 10)]))
    admin.reply("GET", "/denials", 200, {"denials": []})
    r = cli("top", "-n", "2", "-d", "0.2")
    assert r.rc == 0, r
    row = r.out.split("\n\n")[4].splitlines()[1].split()
    assert row[6:8] == ["-", "-"], r.out


def test_top_plain_snapshot_shows_ten_newest_denials(cli, admin):
    admin.reply("GET", "/stats", 200, stats(clusters=[]))
    admin.reply("GET", "/denials", 200, {"denials": [
        denial(f"2026-11-26T10:00:{i:02d}Z", f"192.0.2.1:{40000 + i}", "203.0.113.9:3306")
        for i in range(15)]})
    r = cli("top", "--once")
    assert r.rc == 0, r
    rows = r.out.split("\n\n")[2].splitlines()
    assert rows[0].split() == ["DENIED", "AT", "CLIENT", "DESTINATION", "RESPONSE", "REASON"]
    assert [row.split()[0] for row in rows[1:]] == [f"10:00:{i:02d}" for i in range(14, 4, -1)]


def test_top_denial_time_in_local_time(cli, admin, monkeypatch):
    monkeypatch.setenv("TZ", "Etc/GMT-2")  # POSIX sign: two hours east of UTC
    admin.reply("GET", "/stats", 200, stats(clusters=[]))
    admin.reply("GET", "/denials", 200, {"denials": [
        denial("2026-11-26T10:00:00+01:00", "192.0.2.1:1", "203.0.113.9:1"),
        denial("yesterday", "192.0.2.1:2", "203.0.113.9:2")]})
    r = cli("top", "--once")
    rows = r.out.split("\n\n")[2].splitlines()
    assert rows[1].split()[0] == "yesterday"
    assert rows[2].split()[0] == "11:00:00"


def test_top_unreachable(pc):
    port = free_port()
    for args in (["--once"], ["-n", "2"], []):
        r = pc.run("top", "--admin", f"127.0.0.1:{port}", *args)
        assert (r.rc, r.out) == (1, ""), r
        assert r.err == (
            f"portcullis: cannot reach the admin endpoint at http://127.0.0.1:{port}: "
            "Connection refused (is 'portcullis run' running with its admin endpoint there? "
            "point at it with --admin ADDR or $PORTCULLIS_ADMIN)\n")


def test_top_stats_off(cli, admin):
    admin.reply("GET", "/stats", 404, b"stats are off (--stats off)\n", "text/plain")
    r = cli("top", "--once")
    assert (r.rc, r.out) == (1, "")
    assert r.err == (f"portcullis: the admin endpoint at http://{admin.addr} answered GET "
                     "/stats?format=json with HTTP 404: stats are off (--stats off)\n")


def test_top_fails_when_a_later_refresh_fails(cli, admin):
    """Plain snapshots are for scripts: a failed refresh ends them with status 1."""
    admin.reply("GET", "/stats", 200, stats(clusters=[]))
    admin.reply("GET", "/stats", 500, b"boom")
    admin.reply("GET", "/denials", 200, {"denials": []})
    r = cli("top", "-n", "3", "-d", "0.1")
    assert r.rc == 1, r
    assert r.out.count("portcullis top - ") == 1
    assert r.err == (f"portcullis: the admin endpoint at http://{admin.addr} answered GET "
                     "/stats?format=json with HTTP 500: boom\n")


@pytest.mark.parametrize("args,message", [
    (["-d", "0"], 'invalid delay "0" (seconds, from 0.1 to 86400)'),
    (["-d", "0.05"], 'invalid delay "0.05" (seconds, from 0.1 to 86400)'),
    (["-d", "abc"], 'invalid delay "abc" (seconds, from 0.1 to 86400)'),
    (["-d", "nan"], 'invalid delay "nan" (seconds, from 0.1 to 86400)'),
    (["-d", "1e9"], 'invalid delay "1e9" (seconds, from 0.1 to 86400)'),
    (["-d", ""], 'invalid delay "" (seconds, from 0.1 to 86400)'),
    (["-n", "0"], 'invalid number of iterations "0" (a whole number, 1 or more)'),
    (["-n", "-3"], 'invalid number of iterations "-3" (a whole number, 1 or more)'),
    (["-n", "2x"], 'invalid number of iterations "2x" (a whole number, 1 or more)'),
    (["-n", "99999999999999999999"],
     'invalid number of iterations "99999999999999999999" (a whole number, 1 or more)'),
    (["-d"], "option -d needs an argument"),
    (["-n"], "option -n needs an argument"),
    (["--once=yes"], 'option "--once=yes" takes no argument'),
    (["--admin"], "option --admin needs an argument"),
    (["--delay"], "option --delay needs an argument"),
    (["--bogus"], 'unknown option "--bogus"'),
    (["now"], 'unexpected argument "now"'),
])
def test_top_usage_errors(pc, admin, args, message):
    r = pc.run("top", "--admin", admin.addr, *args)
    assert (r.rc, r.out) == (2, ""), r
    assert r.err == f"portcullis: top: {message}; see 'portcullis top --help'\n"
    assert admin.requests == []


# ---------------------------------------------------------------- hostile bodies

HOSTILE_BODIES = [
    b"", b"not json", b"[1,2]", b"null", b"\xff\xfe\x00", b"{" * 5000, b"[" * 100000,
    b'{"a":1}{"b":2}', b'{"x":1, "x":2}',
    b'{"connections":[{"id":1e999,"age_seconds":1e308,"bytes_received":1e300,'
    b'"bytes_sent":-1e300}]}',
    b'{"connections":[{"id":{"a":[1]},"client":[1,2],"age_seconds":"NaN",'
    b'"bytes_received":.inf,"bytes_sent":.nan}]}',
    b'{"connections":[{"age_seconds":-9e18},{"age_seconds":9.3e18},{"id":-0.0}]}',
    b'{"uptime_seconds":1e999,"policy_generation":"\\u001b[2J","listener":[1],'
    b'"clusters":{"a":1}}',
    b'{"uptime_seconds":-5,"policy_generation":1e400,"listener":{"denied":"\\u001b]0;x\\u0007"},'
    b'"clusters":[1,null,"x",{"name":null,"rx_bytes":1e308,"tx_bytes":1e308,'
    b'"upstream_cx_connect_fail":1e308,"upstream_cx_connect_timeout":1e308}]}',
    b'{"denials":[1,null,{"time":"\\u001b[2J","client":"\\u009b1m","reason":"a\\nb",'
    b'"hint":"\\u001b[31m","response":{}}]}',
    b'{"denials":{"a":1}}',
    json.dumps({"clusters": [cluster("x" * 100000, "\u202e" * 5000, "n", 1, 1, 1, 1)],
                "denials": [denial("t", "c", "d", reason="r" * 1000000, hint="h" * 100000)],
                "connections": [conn(1, "c" * 1000000, "d")]}).encode(),
]


@pytest.mark.parametrize("body", HOSTILE_BODIES, ids=lambda b: repr(b[:24]))
def test_hostile_bodies(pc, admin, body):
    for path in ("/connections", "/stats", "/denials"):
        admin.reply("GET", path, 200, body)
    runs = [("connections",), ("connections", "-o", "wide"), ("connections", "-o", "json"),
            ("top", "--once")]
    for args in runs:
        r = pc.run(*args, "--admin", admin.addr)
        assert r.rc in (0, 1), r  # never a crash; pc.run checks for sanitizer reports
        for text in (r.out, r.err):
            if args[-1] != "json":
                assert "\x1b" not in text and "\u009b" not in text, r
        if r.rc == 1:
            assert r.err.count("\n") == 1, r


def test_hostile_stats_with_good_denials(pc, admin):
    admin.reply("GET", "/stats", 200, HOSTILE_BODIES[13])
    admin.reply("GET", "/denials", 200, HOSTILE_BODIES[14])
    r = pc.run("top", "--once", "--admin", admin.addr)
    assert r.rc == 0, r
    assert "\x1b" not in r.out and "\u009b" not in r.out
    assert r.lines()[0] == (f"portcullis top - http://{admin.addr} - up -, policy generation -, "
                            "connections - (- active), denied -, revoked -")


def test_hostile_body_too_large(pc, admin):
    admin.reply("GET", "/connections", 200, b'{"connections":[' + b" " * (600 << 20))
    r = pc.run("connections", "--admin", admin.addr)
    assert r.rc == 1, r
    assert r.err == (f"portcullis: the response of the admin endpoint at http://{admin.addr} "
                     "is larger than 512 MiB\n")


# ---------------------------------------------------------------- top: the live view

def tmux_bin():
    path = shutil.which("tmux")
    if not path:
        pytest.skip("tmux is not installed (Debian package tmux)")
    return path


class Tmux:
    """A tmux server of our own (-L), so no test touches the user's sessions."""

    def __init__(self, name, width, height):
        self.tmux = tmux_bin()
        self.sock = f"pc-top-{os.getpid()}-{name}"
        self.name = name
        self.width, self.height = width, height

    def cmd(self, *args, check=True):
        p = subprocess.run([self.tmux, "-L", self.sock, "-f", "/dev/null", *args],
                           capture_output=True, text=True, timeout=10)
        if check and p.returncode != 0:
            raise AssertionError(f"tmux {' '.join(args)} -> {p.returncode}: {p.stderr}")
        return p.stdout

    def start(self, shell_env):
        self.cmd("new-session", "-d", "-s", self.name, "-x", str(self.width), "-y",
                 str(self.height), "env", *shell_env, "bash", "--norc", "--noprofile")

    def type(self, text, enter=True):
        self.cmd("send-keys", "-t", self.name, "-l", text)
        if enter:
            self.cmd("send-keys", "-t", self.name, "Enter")

    def screen(self):
        return self.cmd("capture-pane", "-p", "-t", self.name)

    def var(self, name):
        return self.cmd("display-message", "-p", "-t", self.name, f"#{{{name}}}").strip()

    def wait(self, pred, what, timeout=10):
        deadline = time.monotonic() + timeout
        while True:
            text = self.screen()
            if pred(text):
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"{what} not on the screen after {timeout} s:\n{text}")
            time.sleep(0.1)

    def alive(self):
        return subprocess.run([self.tmux, "-L", self.sock, "has-session", "-t", self.name],
                              capture_output=True, timeout=10).returncode == 0

    def kill(self):
        self.cmd("kill-server", check=False)


def test_top_live_view_under_tmux(pc, admin, tmp_path):
    admin.reply("GET", "/stats", 200, stats(clusters=CLUSTERS))
    admin.reply("GET", "/denials", 200, DENIALS)
    t = Tmux("live", 160, 30)
    out, err = tmp_path / "after", tmp_path / "err"
    try:
        t.start(["TZ=UTC", "PS1=$ ", f"PC={pc.binary}"])
        t.type(f'"$PC" top --admin {admin.addr} -d 0.2 2>{err}; echo "exit=$?"; '
               f'stty -a > {out}')
        screen = t.wait(lambda s: "hint: " + DENIAL_HINT in s, "the denial's hint")
        lines = screen.splitlines()
        assert lines[0] == TOP_HEADER.format(addr=admin.addr).rstrip("\n")
        assert any(ln.startswith("10:00:00    192.0.2.1:40000   203.0.113.9:3306   mysql      "
                                 + DENIAL_REASON) for ln in lines), screen
        assert t.var("alternate_on") == "1"  # top draws on the alternate screen
        assert t.var("cursor_flag") == "0"  # with the cursor hidden
        t.wait(lambda s: len(admin.requests) >= 6, "three refreshes")
        t.type("q", enter=False)
        after = t.wait(lambda s: "exit=0" in s, "top's exit")
        assert "DENIED AT" not in after  # back on the main screen
        assert t.var("alternate_on") == "0"
        assert t.var("cursor_flag") == "1"
        deadline = time.monotonic() + 5
        while not (out.exists() and out.read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)
        modes = out.read_text().split()
        assert "icanon" in modes and "echo" in modes, modes  # the terminal is restored
        assert err.read_text() == ""  # nothing on stderr, no sanitizer report
    finally:
        t.kill()


def test_top_live_view_narrow_and_resized(pc, admin):
    admin.reply("GET", "/stats", 200, stats(clusters=CLUSTERS))
    admin.reply("GET", "/denials", 200, DENIALS)
    t = Tmux("narrow", 60, 16)
    try:
        t.start(["TZ=UTC", "PS1=$ "])
        t.type(f"exec {pc.binary} top --admin {admin.addr} -d 5")
        screen = t.wait(lambda s: "    reason: " in s, "reasons below their rows")
        for ln in screen.splitlines():
            assert len(ln) <= 59, screen  # cut to the window, never its last column
        assert "ALLOWED" in screen and "CLUSTER" not in screen, screen
        assert "    hint: ServiceEntry default/mysql-external allows 203.0.\n" in screen
        t.cmd("resize-window", "-t", t.name, "-x", "160", "-y", "30")
        screen = t.wait(lambda s: "CLUSTER" in s and "hint: " + DENIAL_HINT in s,
                        "the wide layout after SIGWINCH", timeout=3)
        t.type("q", enter=False)
        deadline = time.monotonic() + 5
        while t.alive():
            assert time.monotonic() < deadline, "top still runs 5 s after q"
            time.sleep(0.05)
    finally:
        t.kill()


def test_top_live_view_ctrl_c_restores_the_terminal(pc, admin, tmp_path):
    admin.reply("GET", "/stats", 200, stats(clusters=CLUSTERS))
    admin.reply("GET", "/denials", 200, DENIALS)
    t = Tmux("sigint", 120, 30)
    out = tmp_path / "after"
    try:
        t.start(["PS1=$ "])
        t.type(f"{pc.binary} top --admin {admin.addr}")
        t.wait(lambda s: "DENIED AT" in s, "the view")
        t.cmd("send-keys", "-t", t.name, "C-c")
        t.wait(lambda s: "DENIED AT" not in s, "the shell's screen")
        t.type(f'echo "exit=$?"; stty -a > {out}')
        t.wait(lambda s: "exit=130" in s, "death by SIGINT")
        assert t.var("alternate_on") == "0"
        assert t.var("cursor_flag") == "1"
        deadline = time.monotonic() + 5
        while not (out.exists() and out.read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)
        modes = out.read_text().split()
        assert "icanon" in modes and "echo" in modes, modes
    finally:
        t.kill()
