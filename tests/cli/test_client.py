# SPDX-License-Identifier: GPL-2.0-or-later
"""`portcullis apply`, `get` and `delete` against a fake API server.

The fake (apifake.py) listens on a Unix socket in the test's temporary
directory, records every request and answers with canned JSON, so each test
checks both sides: the exact request the CLI sent (method, path, query,
multipart parts and their filenames) and the exact output and exit status
it printed for the answer. End-to-end tests against the real daemon live in
tests/system/.
"""
import datetime
import json
import os
import re
import socket

import pytest

from apifake import FakeAPI, Stream, status_body

SE_REF = "serviceentry.networking.istio.io"
SE_PLURAL = "serviceentries.networking.istio.io"
OLD = "2000-01-01T00:00:00Z"  # far in the past: AGE is in years

SE_YAML = """\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: mysql-external
spec:
  hosts: [mysql.example.com]
  location: MESH_EXTERNAL
  ports: [{number: 3306, name: mysql, protocol: TCP}]
  resolution: DNS
"""


def human_duration(s):
    """k8s.io/apimachinery/pkg/util/duration.HumanDuration, in whole seconds."""
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return "%ds" % s
    m = s // 60
    if m < 10:
        return "%dm" % m if s % 60 == 0 else "%dm%ds" % (m, s % 60)
    if m < 180:
        return "%dm" % m
    h = s // 3600
    if h < 8:
        return "%dh" % h if m % 60 == 0 else "%dh%dm" % (h, m % 60)
    if h < 48:
        return "%dh" % h
    if h < 24 * 8:
        return "%dd" % (h // 24) if h % 24 == 0 else "%dd%dh" % (h // 24, h % 24)
    if h < 24 * 365 * 2:
        return "%dd" % (h // 24)
    if h < 24 * 365 * 8:
        dy = (h // 24) % 365
        return "%dy" % (h // 24 // 365) if dy == 0 else "%dy%dd" % (h // 24 // 365, dy)
    return "%dy" % (h // 24 // 365)


def ages(ts):
    """The AGE a timestamp can show while a test runs (the clock may tick)."""
    t = datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.timezone.utc)
    now = datetime.datetime.now(datetime.timezone.utc)
    base = int((now - t).total_seconds())
    return {human_duration(base + d) for d in range(-1, 4)}


def ago(seconds):
    t = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=seconds)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def obj(kind, name, spec, ns="default", ts=OLD, **meta):
    m = {"name": name, "namespace": ns, "uid": "uid-" + name, "resourceVersion": "42",
         "generation": 1, "creationTimestamp": ts}
    m.update(meta)
    return {"apiVersion": "networking.istio.io/v1", "kind": kind, "metadata": m, "spec": spec}


def se(name, hosts=("mysql.example.com",), ns="default", ts=OLD, **spec):
    s = {"hosts": list(hosts), "location": "MESH_EXTERNAL", "resolution": "DNS"}
    s.update(spec)
    return obj("ServiceEntry", name, s, ns=ns, ts=ts)


def listing(*items, revision=42):
    return {"revision": revision, "items": list(items)}


@pytest.fixture
def api(tmp_path):
    a = FakeAPI(tmp_path)
    yield a
    a.close()


@pytest.fixture
def cli(pc, api):
    """cli(*args, stdin=None, env=None) runs portcullis against the fake."""
    def run(*args, server=True, env=None, **kw):
        extra = ["--server", api.addr] if server else []
        old = os.environ.copy()
        try:
            os.environ.pop("PORTCULLIS_SERVER", None)
            os.environ.update(env or {})
            return pc.run(*args, *extra, **kw)
        finally:
            os.environ.clear()
            os.environ.update(old)
    return run


# ---------------------------------------------------------------- apply

def applied(*results, warnings=None, revision=43):
    body = {"revision": revision,
            "results": [{"kind": k, "namespace": "default", "name": n, "result": r}
                        for k, n, r in results]}
    if warnings:
        body["warnings"] = warnings
    return body


def test_apply_prints_each_result(cli, api, write):
    f = write("se.yaml", SE_YAML)
    api.reply("POST", "/v1/apply", 200, applied(("ServiceEntry", "mysql-external", "created"),
                                                ("VirtualService", "vs1", "configured"),
                                                ("DestinationRule", "dr1", "unchanged")))
    r = cli("apply", "-f", f)
    assert r.rc == 0, r
    assert r.out == (f"{SE_REF}/mysql-external created\n"
                     "virtualservice.networking.istio.io/vs1 configured\n"
                     "destinationrule.networking.istio.io/dr1 unchanged\n")
    assert r.err == ""
    (req,) = api.requests
    assert (req.method, req.path, req.query) == ("POST", "/v1/apply", {})
    assert req.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    assert [(p.name, p.filename, p.data) for p in req.parts] == \
        [("file", str(f), SE_YAML.encode())]


def test_apply_sends_every_input_in_one_request(cli, api, write, tmp_path):
    a = write("a.yaml", "a: 1\n")
    write("dir/z.yml", "z: 1\n")
    write("dir/b.json", "{}\n")
    write("dir/sub/c.yaml", "c: 1\n")
    write("dir/ignored.txt", "no")
    write("dir/.hidden.yaml", "no")
    api.reply("POST", "/v1/apply", 200, applied(("ServiceEntry", "x", "created")))
    r = cli("apply", "-f", a, "-f", tmp_path / "dir", "-f", "-", stdin="s: 1\n")
    assert r.rc == 0, r
    (req,) = api.requests
    d = tmp_path / "dir"
    assert [(p.name, p.filename, p.data) for p in req.parts] == [
        ("file", str(a), b"a: 1\n"),
        ("file", f"{d}/b.json", b"{}\n"),
        ("file", f"{d}/sub/c.yaml", b"c: 1\n"),
        ("file", f"{d}/z.yml", b"z: 1\n"),
        ("file", "<stdin>", b"s: 1\n"),
    ]


def test_apply_warnings_go_to_stderr_first(cli, api, write):
    f = write("se.yaml", SE_YAML)
    warn = f"{f}:1:1: warning: ServiceEntry default/x: spec: something to know\n"
    api.reply("POST", "/v1/apply", 200,
              applied(("ServiceEntry", "x", "created"), warnings=warn))
    r = cli("apply", "-f", f)
    assert r.rc == 0, r
    assert r.err == warn
    assert r.out == f"{SE_REF}/x created\n"


def test_apply_invalid_prints_the_findings(cli, api, write):
    f = write("se.yaml", SE_YAML)
    msg = (f"{f}:9:15: error: ServiceEntry default/x: spec.ports[0].number: port number 0 "
           "must be in the range 1..65535\n")
    api.reply("POST", "/v1/apply", 422, status_body(422, "Invalid", msg))
    r = cli("apply", "-f", f)
    assert r.rc == 1, r
    assert r.out == ""
    assert r.err == msg


@pytest.mark.parametrize("code,reason,message", [
    (409, "Conflict", f'Operation cannot be fulfilled on {SE_PLURAL} "x": the object has been '
                      "modified; please apply your changes to the latest version and try again"),
    (500, "InternalError", "cannot write the store in /var/lib/portcullis: No space left on "
                           "device"),
    (413, "RequestEntityTooLarge", "f.yaml: the request is over the limit"),
    (503, "ServiceUnavailable", "the daemon is shutting down"),
])
def test_apply_server_errors(cli, api, write, code, reason, message):
    f = write("se.yaml", SE_YAML)
    api.reply("POST", "/v1/apply", code, status_body(code, reason, message))
    r = cli("apply", "-f", f)
    assert r.rc == 1, r
    assert r.out == ""
    assert r.err == f"Error from server ({reason}): {message}\n"


def test_apply_unreachable(cli, api, write, tmp_path):
    f = write("se.yaml", SE_YAML)
    sock = tmp_path / "nothing.sock"
    r = cli("apply", "-f", f, "--server", f"unix:{sock}", server=False)
    assert r.rc == 1, r
    assert r.out == ""
    assert r.err == (f"portcullis: cannot reach the server at unix:{sock}: No such file or "
                     "directory (is 'portcullis run' running?)\n")


def test_apply_unreadable_input_sends_nothing(cli, api, write, tmp_path):
    f = write("se.yaml", SE_YAML)
    missing = tmp_path / "missing.yaml"
    r = cli("apply", "-f", f, "-f", missing)
    assert r.rc == 1, r
    assert r.err == f"{missing}: error: cannot open: No such file or directory\n"
    assert api.requests == []


def test_apply_enforces_the_file_size_limit(cli, api, tmp_path):
    big = tmp_path / "big.yaml"
    with open(big, "wb") as fp:
        fp.truncate((32 << 20) + 1)  # sparse: costs no disk
    r = cli("apply", "-f", big)
    assert r.rc == 1, r
    assert r.err == (f"{big}: error: input is larger than the limit of 33554432 bytes (32 MiB); "
                     "split it into several files\n")
    assert api.requests == []


def test_apply_stdin_over_the_limit(cli, api):
    r = cli("apply", "-f", "-", stdin=b"#" * ((32 << 20) + 10))
    assert r.rc == 1, r
    assert r.err.startswith("<stdin>: error: input is larger than the limit")
    assert api.requests == []


def test_apply_empty_directory(cli, api, tmp_path):
    (tmp_path / "empty").mkdir()
    r = cli("apply", "-f", tmp_path / "empty")
    assert r.rc == 1, r
    assert "no *.yaml, *.yml or *.json files in directory" in r.err
    assert api.requests == []


@pytest.mark.parametrize("body", [
    b"", b"not json", b"[1,2]", b'{"revision":1}', b'{"results":{}}',
    b'{"results":[1,"x",null,{"kind":{"a":1}}]}', b"{" * 5000, b"\xff\xfe",
    b'{"a":1}{"b":2}', b'{"results":[], "results":[]}',
], ids=lambda b: repr(b[:24]))
def test_apply_hostile_response(cli, api, write, body):
    f = write("se.yaml", SE_YAML)
    api.reply("POST", "/v1/apply", 200, body)
    r = cli("apply", "-f", f)
    assert r.rc in (0, 1), r  # never a crash; pc.run checks for sanitizer reports


def test_apply_hostile_status(cli, api, write):
    f = write("se.yaml", SE_YAML)
    api.reply("POST", "/v1/apply", 502, b"<html>bad gateway</html>")
    r = cli("apply", "-f", f)
    assert r.rc == 1, r
    assert r.err.startswith(f"portcullis: unexpected response from the server at {api.addr} "
                            "(HTTP 502): expected a Status")


def test_apply_escapes_control_characters(cli, api, write):
    f = write("se.yaml", SE_YAML)
    api.reply("POST", "/v1/apply", 409, status_body(409, "Conflict", "evil \x1b[2J text"))
    r = cli("apply", "-f", f)
    assert r.rc == 1
    assert r.err == "Error from server (Conflict): evil ?[2J text\n"


def test_apply_server_hangs_up(cli, api, write):
    f = write("se.yaml", SE_YAML)
    api.reply("POST", "/v1/apply", None)
    r = cli("apply", "-f", f)
    assert r.rc == 1, r
    assert r.err == (f"portcullis: the server at {api.addr} closed the connection without "
                     "answering\n")


# ---------------------------------------------------------------- get: tables

def test_get_serviceentry_table(cli, api):
    recent = ago(5 * 60 + 30)
    api.reply("GET", "/v1/objects", 200, listing(
        se("mysql-external"),
        se("two-hosts", hosts=["a.example.com", "b.example.com"], ts=recent,
           location="MESH_INTERNAL", resolution="STATIC")))
    r = cli("get", "serviceentries")
    assert r.rc == 0, r
    lines = r.lines()
    # NAME: 14 + 3; HOSTS: 33 + 3; LOCATION: 13 + 3; RESOLUTION: 10 + 3
    assert lines[0] == "NAME" + " " * 13 + "HOSTS" + " " * 31 + "LOCATION" + " " * 8 + \
        "RESOLUTION   AGE"
    head, age = lines[1].rsplit("   ", 1)
    assert head == "mysql-external   " + '["mysql.example.com"]' + " " * 15 + \
        "MESH_EXTERNAL   DNS       "
    assert age in ages(OLD)
    head, age = lines[2].rsplit("   ", 1)
    assert head == "two-hosts        " + '["a.example.com","b.example.com"]   ' + \
        "MESH_INTERNAL   STATIC    "
    assert age in ages(recent), (age, ages(recent))
    assert len(lines) == 3
    (req,) = api.requests
    assert (req.method, req.path, req.query) == \
        ("GET", "/v1/objects", {"kind": ["ServiceEntry"], "namespace": ["default"]})


def test_get_ages(cli, api):
    stamps = [ago(s) for s in (3, 150, 700, 4 * 3600 + 120, 30 * 3600, 3 * 86400 + 7200,
                               40 * 86400, 3 * 365 * 86400 + 86400 * 5, 10 * 365 * 86400)]
    api.reply("GET", "/v1/objects", 200,
              listing(*(obj("Sidecar", f"s{i}", {}, ts=t) for i, t in enumerate(stamps))))
    r = cli("get", "sidecar")
    assert r.rc == 0, r
    rows = r.lines()[1:]
    assert len(rows) == len(stamps)
    for row, t in zip(rows, stamps):
        assert row.split()[1] in ages(t), (row, ages(t))


def test_get_age_edge_values(cli, api):
    items = [obj("Sidecar", "future", {}, ts="2999-01-01T00:00:00Z"),
             obj("Sidecar", "garbage", {}, ts="yesterday"),
             obj("Sidecar", "offset", {}, ts="2000-01-01T01:00:00.123+01:00"),
             obj("Sidecar", "none", {})]
    del items[3]["metadata"]["creationTimestamp"]
    api.reply("GET", "/v1/objects", 200, listing(*items))
    r = cli("get", "sidecars")
    assert r.rc == 0, r
    assert r.lines() == ["NAME      AGE", "future    <invalid>", "garbage   <invalid>",
                         "offset    " + r.lines()[3].split()[1], "none      <none>"]
    assert r.lines()[3].split()[1] in ages(OLD)


@pytest.mark.parametrize("kind,item,header,row", [
    ("vs", obj("VirtualService", "reviews", {"hosts": ["reviews"], "gateways": ["mesh"]}),
     "NAME      GATEWAYS   HOSTS         AGE", 'reviews   ["mesh"]   ["reviews"]   '),
    ("virtualservice", obj("VirtualService", "nogw", {"hosts": ["a"]}),
     "NAME   GATEWAYS   HOSTS   AGE", 'nogw   <none>     ["a"]   '),
    ("dr", obj("DestinationRule", "mysql", {"host": "mysql.example.com"}),
     "NAME    HOST                AGE", "mysql   mysql.example.com   "),
    ("we", obj("WorkloadEntry", "vm1", {"address": "192.0.2.10"}),
     "NAME   AGE   ADDRESS", None),
    ("Sidecar", obj("Sidecar", "default", {"egress": [{"hosts": ["./*"]}]}),
     "NAME      AGE", None),
])
def test_get_table_per_kind(cli, api, kind, item, header, row):
    api.reply("GET", "/v1/objects", 200, listing(item))
    r = cli("get", kind)
    assert r.rc == 0, r
    lines = r.lines()
    assert lines[0] == header
    if row is not None:
        assert lines[1].startswith(row) and lines[1][len(row):] in ages(OLD), lines[1]
    elif kind == "we":
        m = re.fullmatch(r"vm1    (\S+) +192\.0\.2\.10", lines[1])
        assert m and m.group(1) in ages(OLD), lines[1]
        assert lines[1].index("192.0.2.10") == header.index("ADDRESS")
    else:
        assert lines[1].startswith("default   ") and lines[1].split()[1] in ages(OLD)
    assert api.requests[0].param("kind") == item["kind"]


def test_get_all_namespaces(cli, api):
    api.reply("GET", "/v1/objects", 200, listing(se("a", ns="default"), se("b", ns="prod")))
    r = cli("get", "se", "-A")
    assert r.rc == 0, r
    assert r.lines()[0] == ("NAMESPACE   NAME   HOSTS                   LOCATION        "
                            "RESOLUTION   AGE")
    assert r.lines()[1].startswith('default     a      ["mysql.example.com"]   MESH_EXTERNAL   DNS')
    assert r.lines()[2].startswith('prod        b      ["mysql.example.com"]   MESH_EXTERNAL   DNS')
    assert api.requests[0].query == {"kind": ["ServiceEntry"]}


def test_get_namespace_and_name(cli, api):
    api.reply("GET", "/v1/objects", 200, listing(se("x", ns="prod")))
    r = cli("get", "SE.networking.istio.io", "x", "-n", "prod")
    assert r.rc == 0, r
    assert r.lines()[1].startswith("x      ")
    assert api.requests[0].query == {"kind": ["ServiceEntry"], "namespace": ["prod"],
                                     "name": ["x"]}


def test_get_empty(cli, api):
    api.reply("GET", "/v1/objects", 200, listing())
    r = cli("get", "se")
    assert (r.rc, r.out, r.err) == (0, "", "No resources found in default namespace.\n")
    r = cli("get", "se", "-n", "prod")
    assert (r.rc, r.out, r.err) == (0, "", "No resources found in prod namespace.\n")
    r = cli("get", "se", "-A")
    assert (r.rc, r.out, r.err) == (0, "", "No resources found\n")


def test_get_not_found(cli, api):
    msg = f'{SE_PLURAL} "x" not found'
    api.reply("GET", "/v1/objects", 404, status_body(404, "NotFound", msg))
    r = cli("get", "se", "x")
    assert (r.rc, r.out) == (1, "")
    assert r.err == f"Error from server (NotFound): {msg}\n"


def test_get_not_found_from_an_empty_answer(cli, api):
    api.reply("GET", "/v1/objects", 200, listing())
    r = cli("get", "se", "x", "-o", "yaml")
    assert (r.rc, r.out) == (1, "")
    assert r.err == f'Error from server (NotFound): {SE_PLURAL} "x" not found\n'


def test_get_unknown_kind(cli, api):
    r = cli("get", "foo")
    assert (r.rc, r.out) == (1, "")
    assert r.err == 'error: the server doesn\'t have a resource type "foo"\n'
    assert api.requests == []


def test_get_cells_are_sanitised(cli, api):
    api.reply("GET", "/v1/objects", 200,
              listing(obj("DestinationRule", "evil", {"host": "a\x1b[2Jb\nsecond line"})))
    r = cli("get", "dr")
    assert r.rc == 0, r
    assert r.lines()[1].startswith("evil   a?[2Jb...   ")


# ---------------------------------------------------------------- get: -o

def test_get_yaml_one_object(cli, api):
    api.reply("GET", "/v1/objects", 200, listing(se("x")))
    r = cli("get", "se", "x", "-o", "yaml")
    assert r.rc == 0, r
    # keys sorted as kubectl (Go) sorts them; how strings are quoted is the emitter's
    out = re.sub(r"[\'\"]", "", r.out)
    assert out == ("apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata:\n"
                   f"  creationTimestamp: {OLD}\n  generation: 1\n  name: x\n"
                   "  namespace: default\n  resourceVersion: 42\n  uid: uid-x\n"
                   "spec:\n  hosts:\n  - mysql.example.com\n  location: MESH_EXTERNAL\n"
                   "  resolution: DNS\n")


def test_get_yaml_list(cli, api):
    api.reply("GET", "/v1/objects", 200, listing(se("a"), se("b")))
    r = cli("get", "se", "-o", "yaml")
    assert r.rc == 0, r
    item = ("- apiVersion: networking.istio.io/v1\n  kind: ServiceEntry\n  metadata:\n"
            f"    creationTimestamp: {OLD}\n    generation: 1\n    name: %s\n"
            "    namespace: default\n    resourceVersion: 42\n    uid: uid-%s\n"
            "  spec:\n    hosts:\n    - mysql.example.com\n    location: MESH_EXTERNAL\n"
            "    resolution: DNS\n")
    head, tail = r.out.split("kind: List\n")
    assert re.sub(r"[\'\"]", "", head) == "apiVersion: v1\nitems:\n" + item % ("a", "a") + \
        item % ("b", "b")
    assert r.out.endswith('kind: List\nmetadata:\n  resourceVersion: ""\n')


def test_get_yaml_empty_list(cli, api):
    api.reply("GET", "/v1/objects", 200, listing())
    r = cli("get", "se", "-o", "yaml")
    assert (r.rc, r.err) == (0, "")
    assert r.out == 'apiVersion: v1\nitems: []\nkind: List\nmetadata:\n  resourceVersion: ""\n'


def test_get_json_list_round_trips(cli, api):
    items = [se("a"), se("b", ns="prod")]
    api.reply("GET", "/v1/objects", 200, listing(*items))
    r = cli("get", "se", "-A", "-o", "json")
    assert r.rc == 0, r
    assert json.loads(r.out) == {"apiVersion": "v1", "items": items, "kind": "List",
                                 "metadata": {"resourceVersion": ""}}
    assert r.out.startswith('{\n  "apiVersion": "v1",\n  "items": [\n    {\n')


def test_get_json_one_object(cli, api):
    api.reply("GET", "/v1/objects", 200, listing(se("x")))
    r = cli("get", "se", "x", "-o", "json")
    assert r.rc == 0, r
    assert json.loads(r.out) == se("x")
    assert r.out.endswith("}\n")


def test_get_json_empty_list(cli, api):
    api.reply("GET", "/v1/objects", 200, listing())
    r = cli("get", "se", "-o", "json")
    assert r.rc == 0, r
    assert json.loads(r.out) == {"apiVersion": "v1", "items": [], "kind": "List",
                                 "metadata": {"resourceVersion": ""}}


def test_get_name_output(cli, api):
    api.reply("GET", "/v1/objects", 200, listing(se("a"), se("b")))
    r = cli("get", "se", "-o", "name")
    assert (r.rc, r.out) == (0, f"{SE_REF}/a\n{SE_REF}/b\n")


def test_get_wide_is_the_table(cli, api):
    api.reply("GET", "/v1/objects", 200, listing(se("a")))
    assert cli("get", "se", "-o", "wide").out == cli("get", "se").out


@pytest.mark.parametrize("body", [
    b"", b"garbage", b"[]", b'{"items":{}}', b'{"items":[1,2]}', b'{"items":[null]}',
    b'{"items":[{"metadata":[]}]}', b'{"items":[{"metadata":{"name":{"x":1}}}]}',
    b'{"items":[{"spec":{"hosts":[1e400]}}]}', b"[" * 100000, b'{"items":[' + b'{},' * 10 + b'{}]}',
], ids=lambda b: repr(b[:24]))
@pytest.mark.parametrize("out", ["table", "yaml", "json", "name"])
def test_get_hostile_response(cli, api, body, out):
    api.reply("GET", "/v1/objects", 200, body)
    args = ["get", "se"] + ([] if out == "table" else ["-o", out])
    r = cli(*args)
    assert r.rc in (0, 1), r


# ---------------------------------------------------------------- get -w

def test_watch_table(cli, api):
    api.reply("GET", "/v1/objects", 200, listing(se("a"), revision=42))
    api.reply("GET", "/v1/watch", 200, Stream([
        {"type": "ADDED", "revision": 43, "object": se("a-much-longer-name")},
        b"\n",  # keep-alive
        {"type": "DELETED", "revision": 44, "object": se("a")},
    ], delay=0.05))
    r = cli("get", "se", "-w")
    assert r.rc == 0, r
    lines = r.lines()
    assert len(lines) == 4
    assert lines[0].startswith("NAME   HOSTS")
    assert lines[1].startswith('a      ["mysql.example.com"]')
    # kubectl's tabwriter remembers widths: later rows are never narrower
    assert lines[2].startswith('a-much-longer-name   ["mysql.example.com"]')
    assert lines[3].startswith('a                    ["mysql.example.com"]')
    assert [(q.path, q.query) for q in api.requests] == [
        ("/v1/objects", {"kind": ["ServiceEntry"], "namespace": ["default"]}),
        ("/v1/watch", {"kind": ["ServiceEntry"], "namespace": ["default"], "since": ["42"]}),
    ]


def test_watch_from_empty_prints_the_header_once(cli, api):
    api.reply("GET", "/v1/objects", 200, listing(revision=7))
    api.reply("GET", "/v1/watch", 200, Stream([
        {"type": "ADDED", "revision": 8, "object": se("a")},
        {"type": "MODIFIED", "revision": 9, "object": se("a")}]))
    r = cli("get", "se", "-w", "-A")
    assert r.rc == 0, r
    assert r.err == "No resources found\n"
    assert r.lines()[0].startswith("NAMESPACE   NAME   HOSTS")
    assert len(r.lines()) == 3
    assert api.requests[1].query == {"kind": ["ServiceEntry"], "since": ["7"]}


def test_watch_yaml_and_name(cli, api):
    api.reply("GET", "/v1/objects", 200, listing(se("a")))
    api.reply("GET", "/v1/watch", 200, Stream([{"type": "ADDED", "revision": 43,
                                                "object": se("b")}]))
    r = cli("get", "se", "-w", "-o", "yaml")
    assert r.rc == 0, r
    docs = r.out.split("---\n")
    assert len(docs) == 2 and "name: a\n" in docs[0] and "name: b\n" in docs[1]
    r = cli("get", "se", "-w", "-o", "name")
    assert r.out == f"{SE_REF}/a\n{SE_REF}/b\n"


def test_watch_expired(cli, api):
    api.reply("GET", "/v1/objects", 200, listing())
    api.reply("GET", "/v1/watch", 200, Stream([{"type": "ERROR", "object": {
        "status": "Failure", "reason": "Expired", "code": 410,
        "message": "too old resource version: 1 (5000)"}}]))
    r = cli("get", "se", "-w", "-o", "name")
    assert r.rc == 1, r
    assert r.err == "No resources found in default namespace.\n" \
        "Error from server (Expired): too old resource version: 1 (5000)\n"


def test_watch_garbage_event(cli, api):
    api.reply("GET", "/v1/objects", 200, listing())
    api.reply("GET", "/v1/watch", 200, Stream([b"{{{{\n"]))
    r = cli("get", "se", "-w")
    assert r.rc == 1, r
    assert r.err.endswith(f"portcullis: unexpected watch event from the server at {api.addr}\n")


# ---------------------------------------------------------------- delete

def deleted(name, kind="ServiceEntry", ns="default"):
    return {"revision": 50, "kind": kind, "namespace": ns, "name": name}


def delete_list(*results, revision=51):
    """The body of a POST /v1/delete answer: <results> are (kind, ns, name, result)."""
    return {"revision": revision,
            "results": [{"kind": k, "namespace": ns, "name": n, "result": res}
                        for k, ns, n, res in results]}


def sent_items(req):
    """The delete list a POST /v1/delete carried (its one multipart part)."""
    assert (req.method, req.path) == ("POST", "/v1/delete"), req
    assert len(req.parts) == 1, req.parts
    return json.loads(req.parts[0].data)["items"]


def test_delete_by_name(cli, api):
    """Two names: one request, one transaction (POST /v1/delete), not a DELETE each."""
    api.reply("POST", "/v1/delete", 200, delete_list(("ServiceEntry", "prod", "a", "deleted"),
                                                     ("ServiceEntry", "prod", "b", "deleted")))
    r = cli("delete", "se", "a", "b", "-n", "prod")
    assert r.rc == 0, r
    assert r.out == f'{SE_REF} "a" deleted\n{SE_REF} "b" deleted\n'
    assert len(api.requests) == 1
    assert [(i["kind"], i["namespace"], i["name"]) for i in sent_items(api.requests[0])] == [
        ("ServiceEntry", "prod", "a"), ("ServiceEntry", "prod", "b")]


def test_delete_not_found(cli, api):
    api.reply("POST", "/v1/delete", 200, delete_list(("ServiceEntry", "default", "a", "notfound"),
                                                     ("ServiceEntry", "default", "b", "deleted")))
    r = cli("delete", "serviceentry", "a", "b")
    assert r.rc == 1, r
    assert r.out == f'{SE_REF} "b" deleted\n'
    assert r.err == f'Error from server (NotFound): {SE_PLURAL} "a" not found\n'
    assert [i["namespace"] for i in sent_items(api.requests[0])] == ["default", "default"]
    assert len(api.requests) == 1


def test_delete_ignore_not_found(cli, api):
    api.reply("DELETE", "/v1/objects", 404, status_body(404, "NotFound", "whatever"))
    r = cli("delete", "dr", "a", "--ignore-not-found")
    assert (r.rc, r.out, r.err) == (0, "", "")
    assert api.requests[0].param("kind") == "DestinationRule"


def test_delete_conflict(cli, api):
    msg = "Operation cannot be fulfilled"
    api.reply("DELETE", "/v1/objects", 409, status_body(409, "Conflict", msg))
    r = cli("delete", "se", "a")
    assert (r.rc, r.err) == (1, f"Error from server (Conflict): {msg}\n")


def test_delete_from_files(cli, api, write):
    f = write("all.yaml", SE_YAML + "---\n" + """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: dr1, namespace: prod}
spec: {host: mysql.example.com}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: broken-spec}
spec: {hosts: [x.example.com], ports: [{number: 0, name: a, protocol: TCP}]}
""")
    api.reply("POST", "/v1/delete", 200, delete_list(
        ("ServiceEntry", "default", "mysql-external", "deleted"),
        ("DestinationRule", "prod", "dr1", "deleted"),
        ("ServiceEntry", "default", "broken-spec", "deleted")))
    r = cli("delete", "-f", f)
    assert r.rc == 0, r
    assert r.out == (f'{SE_REF} "mysql-external" deleted\n'
                     'destinationrule.networking.istio.io "dr1" deleted\n'
                     f'{SE_REF} "broken-spec" deleted\n')
    assert len(api.requests) == 1
    assert [(i["kind"], i["namespace"], i["name"]) for i in sent_items(api.requests[0])] == [
        ("ServiceEntry", "default", "mysql-external"), ("DestinationRule", "prod", "dr1"),
        ("ServiceEntry", "default", "broken-spec")]


def test_delete_from_stdin_with_namespace(cli, api):
    api.reply("DELETE", "/v1/objects", 200, deleted("x"))
    r = cli("delete", "-f", "-", "-n", "prod", stdin=SE_YAML)
    assert r.rc == 0, r
    assert api.requests[0].query == {"kind": ["ServiceEntry"], "namespace": ["prod"],
                                     "name": ["mysql-external"]}


def test_delete_namespace_mismatch(cli, api, write):
    f = write("dr.yaml", "apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
                         "metadata: {name: dr1, namespace: prod}\nspec: {host: a}\n")
    r = cli("delete", "-f", f, "-n", "dev")
    assert r.rc == 1, r
    assert r.err == ('error: the namespace from the provided object "prod" does not match the '
                     "namespace \"dev\". You must pass '--namespace=prod' to perform this "
                     "operation.\n")
    assert api.requests == []


def test_delete_unparsable_file_deletes_nothing(cli, api, write):
    good = write("good.yaml", SE_YAML)
    bad = write("bad.yaml", "kind: ServiceEntry\nmetadata: {name: [\n")
    r = cli("delete", "-f", good, "-f", bad)
    assert r.rc == 1, r
    assert r.out == ""
    assert r.err.startswith(f"{bad}:")
    assert ": error: " in r.err
    assert api.requests == []


def test_delete_file_without_objects(cli, api, write):
    f = write("empty.yaml", "# nothing\n")
    r = cli("delete", "-f", f)
    assert r.rc == 1, r
    assert api.requests == []


def test_delete_unreachable_stops(cli, api, tmp_path):
    r = cli("delete", "se", "a", "b", "--server", str(tmp_path / "none.sock"), server=False)
    assert r.rc == 1, r
    assert r.err.count("cannot reach the server") == 1


def test_delete_unknown_kind(cli, api):
    r = cli("delete", "gateway", "x")
    assert (r.rc, r.err) == (1, 'error: the server doesn\'t have a resource type "gateway"\n')
    assert api.requests == []


# ---------------------------------------------------------------- server address

def test_server_from_environment(cli, api):
    api.reply("GET", "/v1/objects", 200, listing())
    for value in (api.addr, api.path):
        r = cli("get", "se", server=False, env={"PORTCULLIS_SERVER": value})
        assert r.rc == 0, r
    assert len(api.requests) == 2


def test_server_flag_beats_environment(cli, api, tmp_path):
    api.reply("GET", "/v1/objects", 200, listing())
    r = cli("get", "se", env={"PORTCULLIS_SERVER": f"unix:{tmp_path}/wrong.sock"})
    assert r.rc == 0, r


def test_server_default_socket(cli, api):
    r = cli("get", "se", server=False)
    if os.path.exists("/run/portcullis/api.sock"):
        pytest.skip("a daemon serves the default socket on this machine")
    assert r.rc == 1
    assert r.err == ("portcullis: cannot reach the server at unix:/run/portcullis/api.sock: "
                     "No such file or directory (is 'portcullis run' running?)\n")


def test_server_over_tcp(pc, tmp_path):
    api = FakeAPI(tmp_path, tcp=True)
    try:
        api.reply("GET", "/v1/objects", 200, listing(se("a")))
        for addr in (api.addr, "http://" + api.addr, "http://" + api.addr + "/"):
            r = pc.run("get", "se", "-o", "name", "--server", addr)
            assert (r.rc, r.out) == (0, f"{SE_REF}/a\n"), r
        assert len(api.requests) == 3
    finally:
        api.close()


def test_server_refused_over_tcp(pc):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    r = pc.run("get", "se", "--server", f"127.0.0.1:{port}")
    assert r.rc == 1
    assert r.err == (f"portcullis: cannot reach the server at http://127.0.0.1:{port}: "
                     "Connection refused (is 'portcullis run' running?)\n")


@pytest.mark.parametrize("addr", ["https://127.0.0.1:1", "localhost", "unix:", ":80",
                                  "host:0", "host:99999", "host:8x", "ftp://a:1",
                                  "unix:/" + "x" * 200, "a/b:80"])
def test_server_invalid_address(pc, addr):
    r = pc.run("get", "se", "--server", addr)
    assert r.rc == 2, r
    assert r.err == (f'portcullis: invalid server address "{addr}": use unix:PATH, /PATH, '
                     "http://HOST:PORT or HOST:PORT\n")


def test_server_invalid_address_in_environment(pc):
    os.environ["PORTCULLIS_SERVER"] = "nonsense"
    try:
        r = pc.run("get", "se")
    finally:
        del os.environ["PORTCULLIS_SERVER"]
    assert r.rc == 1, r
    assert "$PORTCULLIS_SERVER" in r.err


# ---------------------------------------------------------------- usage

@pytest.mark.parametrize("args,message", [
    (["apply"], "apply: nothing to apply: give at least one -f PATH"),
    (["apply", "x.yaml"], 'apply: unexpected argument "x.yaml" (give files with -f)'),
    (["apply", "-f"], "apply: option -f needs an argument"),
    (["apply", "--bogus"], 'apply: unknown option "--bogus"'),
    (["get"], "get: give the kind of objects to get, e.g. 'portcullis get se'"),
    (["get", "se", "-o", "table"], 'get: unknown output format "table" (use yaml, json, wide '
                                   "or name)"),
    (["get", "se", "a", "b"], 'get: unexpected argument "b" (one NAME at most)'),
    (["get", "se", "a", "-A"], "get: a resource cannot be retrieved by name across all "
                               "namespaces"),
    (["get", "se", "-n"], "get: option -n needs an argument"),
    (["delete"], "delete: nothing to delete: give -f PATH or KIND NAME"),
    (["delete", "se"], "delete: give the NAME of the se to delete"),
    (["delete", "-f", "x.yaml", "se", "a"], 'delete: unexpected argument "se": give either -f '
                                            "PATH or KIND NAME"),
    (["delete", "se", "a", "-x"], 'delete: unknown option "-x"'),
])
def test_usage_errors(pc, api, args, message):
    r = pc.run(*args)
    assert r.rc == 2, r
    verb = args[0]
    assert r.err == f"portcullis: {message}; see 'portcullis {verb} --help'\n"
    assert api.requests == []


@pytest.mark.parametrize("verb", ["apply", "get", "delete"])
def test_help(pc, verb):
    r = pc.run(verb, "--help")
    assert r.rc == 0 and r.out.startswith(f"Usage: portcullis {verb} "), r
    assert "--server" in r.out
    h = pc.run("help", verb)
    assert (h.rc, h.out) == (0, r.out)
    assert pc.run(verb, "-h").out == r.out
    top = pc.run("--help")
    assert f"\n  {verb} " in top.out
