# SPDX-License-Identifier: GPL-2.0-or-later
"""What the CLI writes to a terminal when a server sends control characters.

Behaviour 4 of issue 10: `portcullis get` wrote a ServiceEntry named
"evil\\u009b31m" as the bytes c2 9b, and a terminal may act on U+009B (CSI)
as on ESC [. Every path that prints text from the API server or the admin
endpoint goes through one sanitiser (cli/term.h): C0 controls, DEL, C1
controls and bytes that are not valid UTF-8 come out as '?'. These tests
look at the raw bytes written, not at decoded text.
"""
import json
import re

import pytest

from apifake import FakeAPI, Stream, status_body

OLD = "2000-01-01T00:00:00Z"
EVIL = "evil\u009b31m"      # CSI: the terminal would read ESC [ 3 1 m
EVIL_SAFE = "evil?31m"
OTHER_C1 = "\u0085\u009d\u0090\u0080\u009f"  # NEL, OSC, DCS, and both ends of the range
C0 = "\x1b[2J\x07\x7f"

C1_UTF8 = re.compile(rb"\xc2[\x80-\x9f]")
C0_BYTES = re.compile(rb"[\x00-\x09\x0b-\x1f\x7f]")  # all but the newline


def assert_terminal_safe(data):
    """<data> (bytes) holds no C1 control, no C0 control but '\\n', and is valid UTF-8."""
    assert not C1_UTF8.search(data), data
    assert not C0_BYTES.search(data), data
    data.decode("utf-8")  # raises on a raw 0x9b or any other invalid byte


def se(name, hosts=("mysql.example.com",), ns="default"):
    return {"apiVersion": "networking.istio.io/v1", "kind": "ServiceEntry",
            "metadata": {"name": name, "namespace": ns, "uid": "uid-1", "resourceVersion": "42",
                         "generation": 1, "creationTimestamp": OLD},
            "spec": {"hosts": list(hosts), "location": "MESH_EXTERNAL", "resolution": "DNS"}}


def listing(*items, revision=42):
    return {"revision": revision, "items": list(items)}


@pytest.fixture
def api(tmp_path):
    a = FakeAPI(tmp_path)
    yield a
    a.close()


@pytest.fixture
def cli(pc, api, monkeypatch):
    monkeypatch.delenv("PORTCULLIS_SERVER", raising=False)

    def run(*args):
        return pc.run(*args, "--server", api.addr)
    return run


@pytest.mark.parametrize("args", [[], ["-o", "wide"], ["-A"], ["-o", "name"]],
                         ids=["table", "wide", "all-namespaces", "name"])
def test_get_replaces_c1_controls(cli, api, args):
    api.reply("GET", "/v1/objects", 200,
              listing(se(EVIL, hosts=["h" + OTHER_C1 + C0]), se("b", ns="n" + OTHER_C1)))
    r = cli("get", "se", *args)
    assert r.rc == 0, r
    assert_terminal_safe(r.out_bytes)
    assert EVIL_SAFE in r.out
    if args == ["-A"]:
        assert r.lines()[2].startswith("n?????   ")  # one '?' per control character


def test_get_json_escapes_c1_controls(cli, api):
    """JSON allows raw C1 in strings; -o json writes them as \\u escapes, same meaning."""
    items = [se(EVIL, hosts=["h" + OTHER_C1 + C0])]
    api.reply("GET", "/v1/objects", 200, listing(*items))
    r = cli("get", "se", "-o", "json")
    assert r.rc == 0, r
    assert_terminal_safe(r.out_bytes)
    assert '"name": "evil\\u009b31m"' in r.out
    assert json.loads(r.out)["items"] == items


def test_get_yaml_escapes_c1_controls(cli, api):
    """-o yaml failed on a C1 control ("holds values JSON cannot"); now it escapes it."""
    api.reply("GET", "/v1/objects", 200, listing(se(EVIL, hosts=["h\u0085"])))
    r = cli("get", "se", EVIL, "-o", "yaml")
    assert r.rc == 0, r
    assert_terminal_safe(r.out_bytes)
    assert '  name: "evil\\x9B31m"\n' in r.out
    assert '- "h\\N"\n' in r.out  # U+0085 is YAML's \N


def test_get_table_layout_counts_the_replacement(cli, api):
    api.reply("GET", "/v1/objects", 200, listing(se(EVIL), se("a-longer-name")))
    r = cli("get", "se")
    assert r.rc == 0, r
    lines = r.out_bytes.split(b"\n")
    # the HOSTS column starts at the same byte in every row: "?" is one byte, one column
    assert [ln.find(b"[") for ln in lines[1:3]] == [len("a-longer-name   ")] * 2


def test_get_watch_replaces_c1_controls(cli, api):
    api.reply("GET", "/v1/objects", 200, listing(se("a"), revision=42))
    api.reply("GET", "/v1/watch", 200, Stream([
        {"type": "ADDED", "revision": 43, "object": se(EVIL)},
        {"type": "MODIFIED", "revision": 44, "object": se("b" + OTHER_C1)},
    ], delay=0.05))
    r = cli("get", "se", "-w")
    assert r.rc == 0, r
    assert_terminal_safe(r.out_bytes)
    assert r.lines()[2].startswith(EVIL_SAFE + " ")


def test_get_invalid_utf8_is_replaced(cli, api):
    """A raw 0x9b (no lead byte) can only come as bytes: it must not reach the terminal."""
    body = (b'{"revision":1,"items":[{"kind":"ServiceEntry","metadata":{"name":"x\x9b31m",'
            b'"namespace":"default"},"spec":{"hosts":["a"]}}]}')
    api.reply("GET", "/v1/objects", 200, body)
    r = cli("get", "se")
    assert r.rc in (0, 1), r  # the JSON parser may refuse it: then the error line is safe
    assert_terminal_safe(r.out_bytes)
    assert_terminal_safe(r.err_bytes)


def test_server_error_message_replaces_c1_controls(cli, api):
    api.reply("GET", "/v1/objects", 404, status_body(404, "NotFound" + OTHER_C1,
                                                     f'serviceentries "{EVIL}" not found'))
    r = cli("get", "se", "x")
    assert r.rc == 1, r
    assert_terminal_safe(r.err_bytes)
    assert r.err == f'Error from server (NotFound?????): serviceentries "{EVIL_SAFE}" not found\n'


def test_delete_prints_safe_names(cli, api):
    api.reply("DELETE", "/v1/objects", 200,
              {"revision": 43, "results": [{"kind": "ServiceEntry", "namespace": "default",
                                            "name": EVIL, "result": "deleted"}]})
    api.reply("GET", "/v1/objects", 200, listing(se(EVIL)))
    r = cli("delete", "se", EVIL)
    assert_terminal_safe(r.out_bytes)
    assert_terminal_safe(r.err_bytes)


# ---------------------------------------------------------------- admin endpoint

@pytest.fixture
def admin(tmp_path):
    a = FakeAPI(tmp_path, tcp=True)
    yield a
    a.close()


def test_admin_error_excerpt_replaces_c1_controls(pc, admin, monkeypatch):
    monkeypatch.delenv("PORTCULLIS_ADMIN", raising=False)
    admin.reply("GET", "/connections", 500, ("oops " + EVIL + C0 + "\nsecond").encode())
    r = pc.run("connections", "--admin", admin.addr)
    assert r.rc == 1, r
    assert_terminal_safe(r.err_bytes)
    assert r.err.endswith(f"HTTP 500: oops {EVIL_SAFE}?[2J??\n"), r


@pytest.mark.parametrize("args", [["connections"], ["connections", "-o", "wide"],
                                  ["top", "--once"]])
def test_admin_cells_replace_c1_controls(pc, admin, monkeypatch, args):
    monkeypatch.delenv("PORTCULLIS_ADMIN", raising=False)
    monkeypatch.setenv("TZ", "UTC")
    admin.reply("GET", "/connections", 200, {"connections": [
        {"id": 1, "worker": 0, "client": "192.0.2.1:1" + OTHER_C1, "destination": EVIL,
         "cluster": "c" + C0, "upstream": EVIL, "state": "established",
         "bytes_received": 1, "bytes_sent": 2, "age_seconds": 1}]})
    admin.reply("GET", "/stats", 200, {
        "uptime_seconds": 5, "policy_generation": 1,
        "listener": {"downstream_cx_total": 1, "downstream_cx_active": 1, "denied": 1,
                     "revoked": 0},
        "clusters": [{"name": EVIL, "service": "s" + OTHER_C1, "namespace": "n",
                      "upstream_cx_total": 1, "upstream_cx_active": 1, "rx_bytes": 1,
                      "tx_bytes": 1}]})
    admin.reply("GET", "/denials", 200, {"denials": [
        {"time": "2026-11-26T10:00:00Z", "client": EVIL, "destination": "d" + OTHER_C1,
         "reason": "r" + C0, "hint": "h" + OTHER_C1, "response": "reset"}]})
    r = pc.run(*args, "--admin", admin.addr)
    assert r.rc == 0, r
    assert_terminal_safe(r.out_bytes)
    assert EVIL_SAFE in r.out
