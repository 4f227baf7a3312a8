# SPDX-License-Identifier: GPL-2.0-or-later
"""System tests of the live configuration (issue 4): `portcullis apply`, `get`,
`delete` against a running `portcullis run`, its SQLite store (--state-dir)
and its API socket (doc/api.md), with real binaries in the namespaces of
topology.py.

Every proxy here has its own --state-dir and --api-socket in the test's
workdir (conftest.py); the CLI reaches it with --server unix:SOCKET. The test
process is the app, as in test_proxy.py: its sockets live in the pod, so
every connect() is captured and decided by the proxy's current policy.

Contracts checked (doc/api.md): an apply is acknowledged (CLI exit 0) only
once the change is durable and the new policy is in every worker, so the
first connection after a successful apply or delete must already see it (no
polling); every apply is all-or-nothing; a stale resourceVersion is a
Conflict; a kill -9 loses no acknowledged change and leaves no half-applied
one; a full or read-only store fails the apply and keeps the running policy.
Timing figures (apply-to-enforced latency, bulk applies) are in
bench/apply-bench.sh, not asserted here; the only deadlines are liveness ones.
"""
import errno
import hashlib
import itertools
import json
import os
import pathlib
import queue
import random
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

import pytest

import servers
import topology
from topology import BANNER, ECHO, EXT_B, POD_A, POD_B, WHOAMI

NS = "live"
GROUP = "serviceentry.networking.istio.io"
RESOURCE = "serviceentries.networking.istio.io"
IO_TIMEOUT = 10  # seconds for any single socket operation (a hang guard)
LIVENESS = 10  # seconds: deadline for things that should happen at once
CHUNK = 256 * 1024
UID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
TS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
FINDING_RE = r"^{path}:(\d+):(\d+): error: "


# -- resources -------------------------------------------------------------------


def se(name, host, addresses, ports, ns=NS, annotations=None, resource_version=None,
       resolution="NONE"):
    """A ServiceEntry manifest; <ports>: port numbers (TCP); <ns> None: no namespace
    field (the server defaults it to `default`, as kubectl does)."""
    lines = ["apiVersion: networking.istio.io/v1", "kind: ServiceEntry", "metadata:",
             f"  name: {name}"]
    if ns is not None:
        lines.append(f"  namespace: {ns}")
    if resource_version is not None:
        lines.append(f'  resourceVersion: "{resource_version}"')
    if annotations:
        lines.append("  annotations:")
        lines += [f"    {k}: {json.dumps(str(v))}" for k, v in annotations.items()]
    lines += ["spec:", "  hosts:", f"  - {host}", "  addresses:"]
    lines += [f'  - "{a}"' for a in addresses]
    lines.append("  ports:")
    for number in ports:
        lines += [f"  - number: {number}", f"    name: tcp-{number}", "    protocol: TCP"]
    lines += ["  location: MESH_EXTERNAL", f"  resolution: {resolution}"]
    return "\n".join(lines) + "\n"


def se_spec(host, addresses, ports, resolution="NONE"):
    """The spec se() writes, as the server must return it."""
    return {"hosts": [host], "addresses": list(addresses),
            "ports": [{"number": n, "name": f"tcp-{n}", "protocol": "TCP"} for n in ports],
            "location": "MESH_EXTERNAL", "resolution": resolution}


def docs(*texts):
    return "---\n".join(texts)


def cluster(port, host):
    return f"outbound|{port}||{host}"


def hp(host, port):
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# -- the CLI -----------------------------------------------------------------------


def apply_ok(p, text, results=None):
    """`apply -f -` must succeed; <results>: the expected `created`/... word per object,
    in order. Returns stdout."""
    rc, out, err = p.cli("apply", "-f", "-", input=text)
    assert rc == 0, f"apply -> exit {rc}\n{out}{err}\n{p.describe()}"
    if results is not None:
        want = [f"{GROUP}/{name} {word}" for name, word in results]
        assert out.splitlines() == want, f"apply printed\n{out}{err}\nnot\n" + "\n".join(want)
    return out


def get_json(p, name=None, ns=NS):
    """`get se [NAME] -n NS -o json`: the object (NAME) or the list of items."""
    args = ["get", "se"] + ([name] if name else []) + \
        (["-A"] if ns is None else ["-n", ns]) + ["-o", "json"]
    rc, out, err = p.cli(*args)
    assert rc == 0, f"{' '.join(args)} -> exit {rc}\n{out}{err}"
    try:
        obj = json.loads(out)
    except ValueError as e:
        pytest.fail(f"{' '.join(args)} printed no JSON ({e})\n{out}{err}")
    if name:
        return obj
    assert obj.get("kind") == "List" and isinstance(obj.get("items"), list), \
        f"{' '.join(args)}: not a List\n{out}"
    return obj["items"]


def names(p, ns=NS):
    return sorted(o["metadata"]["name"] for o in get_json(p, ns=ns))


def assert_absent(p, name, ns=NS):
    rc, out, err = p.cli("get", "se", name, "-n", ns)
    assert rc == 1, f"get se {name} -> exit {rc} (absent object)\n{out}{err}"
    assert f'{RESOURCE} "{name}" not found' in err, f"get se {name}:\n{out}{err}"


def annotation(obj, key):
    return (obj["metadata"].get("annotations") or {}).get(key)


# -- the app side -------------------------------------------------------------------


def app_socket(topo, host, timeout=IO_TIMEOUT):
    """A socket in the pod, bound to the address the route to <host> uses, so that
    its access-log line can be found even when a reset ends connect()."""
    with topo.pod.entered():
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.bind((POD_B if host.startswith("198.51.100.") else POD_A, 0))
    except BaseException:
        s.close()
        raise
    return s


def connect(topo, host, port, timeout=IO_TIMEOUT):
    """A connected socket from the pod to <host>:<port> (captured by the proxy)."""
    s = app_socket(topo, host, timeout)
    try:
        s.connect((host, port))
    except BaseException:
        s.close()
        raise
    return s


def echo_roundtrip(s, payload):
    s.sendall(payload)
    got = bytearray()
    while len(got) < len(payload):
        data = s.recv(65536)
        assert data, f"EOF after {len(got)} of {len(payload)} echoed bytes"
        got += data
    assert bytes(got) == payload, "echo returned different bytes"


def expect_closed(s, send=b"hello\n", timeout=IO_TIMEOUT):
    """Send <send>, then wait for EOF or a reset: nothing may come back."""
    s.settimeout(timeout)
    try:
        if send:
            s.sendall(send)
        data = s.recv(65536)
        assert data == b"", f"got {data[:200]!r} from a connection that must be closed"
        return "EOF"
    except (ConnectionResetError, BrokenPipeError) as e:
        return errno.errorcode.get(e.errno, str(e))
    except socket.timeout:
        raise AssertionError(f"connection still open after {timeout} s") from None


def client_addr(s):
    host, port = s.getsockname()[:2]
    return hp(host, port)


def talk(s, port):
    """One exchange with the server behind <s> (servers.py): an echo, the whoami
    line or the banner; raises if the connection ends first."""
    if port == ECHO:
        echo_roundtrip(s, os.urandom(1024))
        s.shutdown(socket.SHUT_WR)
        assert s.recv(1) == b"", "the echo server sent more than the echo"
        return
    want = {WHOAMI: b"ext-b ", BANNER: servers.BANNER_LINE}[port]
    got = b""
    while len(got) < len(want):
        data = s.recv(4096)
        assert data, f"EOF after {got!r}"
        got += data
    assert got.startswith(want), f"the server on :{port} said {got!r}"
    s.shutdown(socket.SHUT_WR)
    while s.recv(4096):
        pass


def assert_allowed(topo, p, host, port, host_name):
    """A connection through the proxy works at the first try (an exchange with the
    server of <port>), logged under the entry's cluster."""
    with connect(topo, host, port) as s:
        try:
            talk(s, port)
        except (ConnectionResetError, BrokenPipeError, AssertionError) as e:
            pytest.fail(f"connection to {hp(host, port)} not allowed: {e!r}\n{p.describe()}")
        e = p.entry_for(s)
    assert e["upstream_cluster"] == cluster(port, host_name), e["line"]
    assert e["flags"] == frozenset(), e["line"]


def assert_denied(topo, p, host, port):
    """The proxy closes the connection without reaching a server: BlackHoleCluster, UH."""
    with app_socket(topo, host) as s:
        try:
            s.connect((host, port))
        except ConnectionResetError:
            pass  # reset so fast that connect() saw it
        else:
            expect_closed(s)
        e = p.entry_for(s)
    assert e["upstream_cluster"] == "BlackHoleCluster", e["line"]
    assert e["flags"] == {"UH"}, e["line"]


class Worker(threading.Thread):
    """A thread whose exception (pytest.fail included) is re-raised by join_ok()."""

    def __init__(self, target, *args):
        super().__init__(daemon=True)
        self._target_fn, self._args = target, args
        self.error = None
        self.result = None

    def run(self):
        try:
            self.result = self._target_fn(*self._args)
        except BaseException as e:  # noqa: B036 - reported by join_ok()
            self.error = e

    def join_ok(self, timeout):
        self.join(timeout)
        assert not self.is_alive(), f"{self._target_fn.__name__} still running after {timeout} s"
        if self.error is not None:
            raise self.error
        return self.result


# -- 1. the seed loop ------------------------------------------------------------------


SEED_HOST = "mysql.test.example"
SEED = se("mysql-external", SEED_HOST, [f"{EXT_B}/32"], [ECHO], ns=None)


def test_seed_loop_apply_get_delete(topo, proxy):
    """The seed story: denied -> apply -> allowed at once -> get -o yaml -> get ->
    delete -> denied again, and the open connection of the deleted entry is closed."""
    p = proxy()  # no --config: everything comes through the API
    rc, out, err = p.cli("get", "se")
    assert rc == 0, f"get se on an empty store -> exit {rc}\n{out}{err}"
    assert "mysql-external" not in out
    assert_denied(topo, p, EXT_B, ECHO)

    t0 = time.monotonic()
    apply_ok(p, SEED, [("mysql-external", "created")])
    # The apply returns only once the policy is in every worker: the very first
    # connection must be allowed, no retry.
    assert_allowed(topo, p, EXT_B, ECHO, SEED_HOST)
    print(f"apply + first allowed connection: {(time.monotonic() - t0) * 1000:.1f} ms")

    # Applying the same text again changes nothing.
    rev = p.revision()
    apply_ok(p, SEED, [("mysql-external", "unchanged")])
    assert p.revision() == rev, "an unchanged apply bumped the revision"

    rc, out, err = p.cli("get", "se", "mysql-external", "-o", "yaml")
    assert rc == 0, f"get -o yaml -> exit {rc}\n{out}{err}"
    for rx in (r"^apiVersion: networking\.istio\.io/v1$", r"^kind: ServiceEntry$",
               r"^  name: mysql-external$", r"^  namespace: default$",
               r"^  uid: [\"']?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}[\"']?$",
               r"^  resourceVersion: ([\"'])\d+\1$", r"^  generation: 1$",
               r"^  creationTimestamp: [\"']?\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ[\"']?$",
               rf"^  - {re.escape(SEED_HOST)}$", rf"^  (- |  )number: {ECHO}$",
               r"^  resolution: NONE$"):
        assert re.search(rx, out, re.M), f"get -o yaml: no line /{rx}/\n{out}"
    obj = get_json(p, "mysql-external", ns="default")
    meta = obj["metadata"]
    assert (obj["apiVersion"], obj["kind"]) == ("networking.istio.io/v1", "ServiceEntry"), obj
    assert (meta["name"], meta["namespace"], meta["generation"]) == \
        ("mysql-external", "default", 1), meta
    assert UID_RE.match(meta["uid"]) and TS_RE.match(meta["creationTimestamp"]), meta
    assert isinstance(meta["resourceVersion"], str) and int(meta["resourceVersion"]) > 0, meta
    assert obj["spec"] == se_spec(SEED_HOST, [f"{EXT_B}/32"], [ECHO]), obj["spec"]

    rc, out, err = p.cli("get", "se")
    assert rc == 0, f"get se -> exit {rc}\n{out}{err}"
    lines = out.splitlines()
    assert re.match(r"^NAME\s+HOSTS\s+LOCATION\s+RESOLUTION\s+AGE$", lines[0]), out
    assert len(lines) == 2 and re.match(
        rf'^mysql-external\s+\["{re.escape(SEED_HOST)}"\]\s+MESH_EXTERNAL\s+NONE\s+'
        r"\d+[smhd]\w*$", lines[1]), f"get se table:\n{out}"
    rc, out, err = p.cli("get", "serviceentries", "-o", "name")
    assert (rc, out) == (0, f"{GROUP}/mysql-external\n"), f"get -o name -> {rc}\n{out}{err}"

    # An established connection of the entry, then the delete.
    held = connect(topo, EXT_B, ECHO)
    with held:
        echo_roundtrip(held, b"before the delete\n")
        rc, out, err = p.cli("delete", "se", "mysql-external")
        assert (rc, out) == (0, f'{GROUP} "mysql-external" deleted\n'), \
            f"delete -> exit {rc}\n{out}{err}"
        assert_denied(topo, p, EXT_B, ECHO)  # new connections: at once
        # --revoke-grace defaults to 0: the open connection is closed, promptly.
        expect_closed(held, send=b"", timeout=LIVENESS)
        e = p.entry_for(held)
    assert e["upstream_cluster"] == cluster(ECHO, SEED_HOST), e["line"]
    assert e["connection_termination_details"] == "portcullis_policy_revoked", e["line"]
    assert e["flags"] == frozenset(), e["line"]

    rc, out, err = p.cli("get", "se", "mysql-external")
    assert rc == 1 and f'{RESOURCE} "mysql-external" not found' in err, \
        f"get after delete -> exit {rc}\n{out}{err}"
    rc, out, err = p.cli("delete", "se", "mysql-external")
    assert rc == 1 and "NotFound" in err and "mysql-external" in err, \
        f"delete of an absent object -> exit {rc}\n{out}{err}"
    rc, out, err = p.cli("delete", "se", "mysql-external", "--ignore-not-found")
    assert rc == 0, f"delete --ignore-not-found -> exit {rc}\n{out}{err}"


def test_delete_by_file_and_kind_names(topo, proxy, workdir):
    """`delete -f FILE` deletes what the file names; kinds by short and plural name."""
    p = proxy()
    path = workdir / "two.yaml"
    path.write_text(docs(se("one", "one.live.example", ["203.0.113.31/32"], [ECHO]),
                         se("two", "two.live.example", ["203.0.113.32/32"], [ECHO])))
    rc, out, err = p.cli("apply", "-f", path)
    assert rc == 0 and out.splitlines() == [f"{GROUP}/one created", f"{GROUP}/two created"], \
        f"apply -f -> exit {rc}\n{out}{err}"
    for kind in ("serviceentry", "serviceentries", "se", "ServiceEntry"):
        rc, out, err = p.cli("get", kind, "-n", NS, "-o", "name")
        assert (rc, out) == (0, f"{GROUP}/one\n{GROUP}/two\n"), f"get {kind} -> {rc}\n{out}{err}"
    rc, out, err = p.cli("get", "se", "-A")
    assert rc == 0 and re.match(r"^NAMESPACE\s+NAME\s+HOSTS", out), f"get -A:\n{out}{err}"
    assert len(re.findall(rf"^{NS}\s+(one|two)\s", out, re.M)) == 2, out
    rc, out, err = p.cli("delete", "-f", path)
    assert rc == 0 and out.splitlines() == [f'{GROUP} "one" deleted', f'{GROUP} "two" deleted'], \
        f"delete -f -> exit {rc}\n{out}{err}"
    assert names(p) == []
    # The same through $PORTCULLIS_SERVER instead of --server.
    rc, out, err = p.pc.run("get", "se", "-A", env={"PORTCULLIS_SERVER": p.server},
                            threaded=True)
    assert rc == 0, f"get with PORTCULLIS_SERVER -> exit {rc}\n{out}{err}"


# -- 2. atomicity ------------------------------------------------------------------------


def test_apply_is_atomic(topo, proxy, workdir):
    """Three documents, the third invalid (port 0): nothing of the apply happens,
    not even the valid change to an existing object, and the finding is located."""
    p = proxy()
    keep = se("keep", "keep.live.example", [f"{EXT_B}/32"], [ECHO])
    apply_ok(p, keep, [("keep", "created")])
    before = get_json(p, "keep")
    rev = p.revision()

    bad = docs(se("new-a", "new-a.live.example", [f"{EXT_B}/32"], [WHOAMI]),
               se("keep", "keep.live.example", [f"{EXT_B}/32"], [BANNER]),
               se("new-b", "new-b.live.example", ["203.0.113.40/32"], [0]))
    path = workdir / "three.yaml"
    path.write_text(bad)
    want_line = bad.splitlines().index("  - number: 0") + 1
    rc, out, err = p.cli("apply", "-f", path)
    assert rc == 1, f"apply with an invalid document -> exit {rc}\n{out}{err}"
    located = [m for m in (re.match(FINDING_RE.format(path=re.escape(str(path))), ln)
                           for ln in (out + err).splitlines()) if m]
    assert located, f"no `{path}:LINE:COL: error:` finding\n{out}{err}"
    assert int(located[0].group(1)) == want_line, \
        f"finding on line {located[0].group(1)}, the bad port is on line {want_line}\n{out}{err}"
    assert "created" not in out and "configured" not in out, f"apply reported a change\n{out}"

    assert p.revision() == rev, "a refused apply changed the store's revision"
    assert names(p) == ["keep"]
    assert get_json(p, "keep") == before, "a refused apply changed an existing object"
    # ...nor the policy: keep still allows ECHO only.
    assert_allowed(topo, p, EXT_B, ECHO, "keep.live.example")
    assert_denied(topo, p, EXT_B, BANNER)
    assert_denied(topo, p, EXT_B, WHOAMI)

    # The same over stdin: the findings then name the input as the CLI calls it.
    rc, out, err = p.cli("apply", "-f", "-", input=bad)
    assert rc == 1 and re.search(rf":{want_line}:\d+: error: ", out + err), \
        f"apply -f - with an invalid document -> exit {rc}\n{out}{err}"
    assert p.revision() == rev


def test_malformed_apply_changes_nothing(topo, proxy, workdir):
    """A YAML syntax error anywhere in the input: exit 1, located, nothing changed."""
    p = proxy()
    apply_ok(p, se("keep", "keep.live.example", [f"{EXT_B}/32"], [ECHO]))
    rev = p.revision()
    text = docs(se("fresh", "fresh.live.example", [f"{EXT_B}/32"], [WHOAMI]),
                "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata:\n"
                "  name: broken\n  namespace: live\nspec:\n  hosts: [a.example, b.example\n"
                "  ports:\n  - number: 1\n")
    path = workdir / "syntax.yaml"
    path.write_text(text)
    rc, out, err = p.cli("apply", "-f", path)
    assert rc == 1, f"apply of malformed YAML -> exit {rc}\n{out}{err}"
    assert re.search(rf"^{re.escape(str(path))}:\d+:\d+: error: ", out + err, re.M), \
        f"no `{path}:LINE:COL: error:` finding\n{out}{err}"
    assert p.revision() == rev
    assert names(p) == ["keep"]
    assert_denied(topo, p, EXT_B, WHOAMI)
    # Not YAML at all, and an empty input.
    for junk in ("\x00\x01\x02 not yaml: [\n", ""):
        rc, out, err = p.cli("apply", "-f", "-", input=junk)
        assert rc == 1 and (out + err).strip(), f"apply of {junk!r} -> exit {rc}\n{out}{err}"
    assert p.revision() == rev


# -- 3. durability ------------------------------------------------------------------------


DURABILITY_APPLIES = 300  # 10-25 s, with 30-80 SIGKILLs


def test_kill9_loses_no_acknowledged_change(topo, proxy):
    """One thread applies (3-document creations, and 2-object modifications of
    acknowledged objects) while the main thread SIGKILLs the daemon at random
    moments and restarts it on the same store. Afterwards every acknowledged
    change is there exactly, and every apply is there whole or not at all."""
    seed = int.from_bytes(os.urandom(4), "big")
    print(f"random seed {seed}")
    rng, kill_rng = random.Random(seed), random.Random(seed + 1)
    p = proxy()
    anchor = se("anchor", "anchor.live.example", [f"{EXT_B}/32"], [ECHO])
    apply_ok(p, anchor)

    attempts = []  # (index, {name: spec}, acknowledged, cli output)
    acked_created = []
    down = []  # [SIGKILL time, ready-again time]: when an apply may fail
    t_start = time.monotonic()

    def wait_for_api():
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                    s.connect(str(p.api_socket))
                return
            except OSError:
                time.sleep(0.02)
        raise AssertionError("the API did not come back within 20 s")

    def applier():
        for a in range(DURABILITY_APPLIES):
            objs = {}
            modify = a % 3 == 2 and len(acked_created) >= 2
            if modify:
                for k, name in enumerate(rng.sample(acked_created, 2)):
                    host = f"{name}.live.example"
                    objs[name] = (host, [f"203.0.113.{100 + (2 * a + k) % 150}/32"],
                                  [20000 + a])
            else:
                for k in range(3):
                    name = f"b{a}-{k}"
                    objs[name] = (f"{name}.live.example",
                                  [f"198.51.100.{10 + (3 * a + k) % 240}/32"], [10000 + a])
            text = docs(*(se(n, h, addr, ports, annotations={"attempt": a})
                          for n, (h, addr, ports) in objs.items()))
            t0 = time.monotonic()
            rc, out, err = p.cli("apply", "-f", "-", input=text, timeout=30)
            t1 = time.monotonic()
            specs = {n: se_spec(*v) for n, v in objs.items()}
            attempts.append((a, specs, rc == 0, out + err))
            if rc == 0:
                words = [ln.rsplit(" ", 1)[-1] for ln in out.splitlines()]
                assert len(words) == len(objs), f"apply {a}: printed\n{out}{err}"
                assert set(words) == {"configured" if modify else "created"}, \
                    f"apply {a}: printed\n{out}{err}"
                if not modify:
                    acked_created.extend(objs)
            else:
                # Only a daemon killed or restarting meanwhile excuses a failure.
                assert any(t0 <= up and t1 >= k for k, up in list(down)), \
                    f"apply {a} failed while the daemon was up\n{out}{err}"
                time.sleep(rng.uniform(0, 0.05))
                wait_for_api()

    w = Worker(applier)
    w.start()
    kills = 0
    while w.is_alive():
        time.sleep(kill_rng.uniform(0.02, 0.3))
        if not w.is_alive():
            break
        down.append([time.monotonic(), float("inf")])
        p.kill9()
        kills += 1
        time.sleep(kill_rng.uniform(0, 0.05))
        p.restart()
        down[-1][1] = time.monotonic()
        assert time.monotonic() - t_start < 90, "durability loop still running after 90 s"
    w.join_ok(30)
    # One more kill at a quiet moment: the final state itself must be durable.
    p.kill9()
    p.restart()
    acked = sum(1 for x in attempts if x[2])
    print(f"{len(attempts)} applies, {acked} acknowledged, {kills} SIGKILLs, "
          f"{time.monotonic() - t_start:.1f} s")
    assert kills >= 10, f"only {kills} SIGKILLs: the loop did not exercise the crash paths"
    assert acked >= DURABILITY_APPLIES // 4, f"only {acked} applies acknowledged"

    stored = {o["metadata"]["name"]: o for o in get_json(p)}
    assert "anchor" in stored
    history = {}  # name -> [(attempt index, spec)]
    for a, specs, _, _ in attempts:
        for name, spec in specs.items():
            history.setdefault(name, []).append((a, spec))
    writer = {}  # name -> the attempt whose write is stored
    for name, obj in stored.items():
        if name == "anchor":
            continue
        assert name in history, f"{name} stored but never applied"
        raw = annotation(obj, "attempt")
        assert raw is not None and raw.isdigit(), f"{name}: no attempt annotation: {obj}"
        a = int(raw)
        sent = dict(history[name]).get(a)
        assert sent is not None, f"{name} stored as written by attempt {a}, which did not"
        assert obj["spec"] == sent, f"{name}: stored spec differs from attempt {a}'s\n" \
            f"{obj['spec']}\n{sent}"
        writer[name] = a
    for a, specs, ok, output in attempts:
        if ok:  # durable: each object is there, as this write or a later one
            for name in specs:
                assert name in stored, \
                    f"acknowledged apply {a} lost {name} ({sorted(specs)})\n{output}"
                assert writer[name] >= a, \
                    f"acknowledged apply {a} of {name} lost: stored is attempt {writer[name]}"
        landed = [n for n in specs if writer.get(n) == a]
        if landed:  # all or nothing: every object of the apply, this write or later
            for name in specs:
                assert name in stored and writer[name] >= a, \
                    f"apply {a} ({'acked' if ok else 'unacked'}) is partial: {landed} stored " \
                    f"as its write, {name} is {writer.get(name, 'absent')}"
    landed = sum(1 for a, specs, ok, _ in attempts
                 if not ok and any(writer.get(n) == a for n in specs))
    print(f"unacknowledged applies that were stored anyway: {landed}")
    # The policy the restarted daemon enforces is the stored one.
    assert_allowed(topo, p, EXT_B, ECHO, "anchor.live.example")


def test_restart_serves_the_store(topo, proxy):
    """A graceful restart (no --config) serves what the store holds, with the same
    server-set metadata."""
    p = proxy()
    apply_ok(p, se("kept", "kept.live.example", [f"{EXT_B}/32"], [ECHO]))
    before = get_json(p, "kept")
    rev = p.revision()
    p.restart()
    assert get_json(p, "kept") == before
    assert p.revision() == rev
    assert_allowed(topo, p, EXT_B, ECHO, "kept.live.example")


# -- 4. reload under load ------------------------------------------------------------------


BULK_MIN = 200 * 1000 * 1000  # bytes each way at least
BULK_RATE = 10 * 1000 * 1000  # bytes/s while the changes run: leave CPU to the CLI
CHANGES = 1000


def test_bulk_transfer_survives_1000_changes(topo, proxy):
    """An echo stream through an allowed entry carries every byte (SHA-256 both
    ways) while 1,000 unrelated changes are applied one CLI call each: 500
    creations and 500 deletions, each its own transaction and policy swap. The
    stream runs until the last change is done and beyond (at a moderate pace while
    the changes run, at full speed after them until BULK_MIN bytes have gone)."""
    p = proxy()
    host = "bulk.live.example"
    apply_ok(p, se("bulk", host, [f"{EXT_B}/32"], [ECHO]))
    s = connect(topo, EXT_B, ECHO, timeout=60)
    done = threading.Event()
    pool = [os.urandom(CHUNK) for _ in range(32)]
    state = {"sent": 0, "after": 0, "got": 0}
    sent_hash, got_hash = hashlib.sha256(), hashlib.sha256()
    order = random.Random(int.from_bytes(os.urandom(4), "big"))

    def send():
        t_start = time.monotonic()
        while not done.is_set() or state["sent"] < BULK_MIN or state["after"] < 16 * CHUNK:
            chunk = pool[order.randrange(len(pool))]
            sent_hash.update(chunk)
            s.sendall(chunk)
            state["sent"] += len(chunk)
            if done.is_set():
                state["after"] += len(chunk)
            else:
                ahead = state["sent"] / BULK_RATE - (time.monotonic() - t_start)
                if ahead > 0:
                    done.wait(ahead)
        s.shutdown(socket.SHUT_WR)

    def receive():
        while True:
            data = s.recv(CHUNK)
            if not data:
                return
            got_hash.update(data)
            state["got"] += len(data)

    with s:
        sender, receiver = Worker(send), Worker(receive)
        sender.start()
        receiver.start()
        t0 = time.monotonic()
        live = []
        calls = 0
        try:
            for i in range(CHANGES // 2):
                name = f"u{i}"
                text = se(name, f"{name}.live.example", [f"203.0.113.{1 + i % 250}/32"],
                          [30000 + i])
                apply_ok(p, text, [(name, "created")])
                calls += 1
                live.append(name)
                if len(live) > 10 or i == CHANGES // 2 - 1:
                    while live and (len(live) > 10 or i == CHANGES // 2 - 1):
                        victim = live.pop(0)
                        rc, out, err = p.cli("delete", "se", victim, "-n", NS)
                        assert rc == 0, f"delete se {victim} -> exit {rc}\n{out}{err}"
                        calls += 1
                for w in (sender, receiver):
                    if not w.is_alive():
                        w.join_ok(1)
                        pytest.fail(f"the stream ended during the changes ({calls} calls)")
        finally:
            done.set()
        elapsed = time.monotonic() - t0
        bytes_during = state["got"]
        sender.join_ok(120)
        receiver.join_ok(120)
        e = p.entry_for(s, timeout=LIVENESS)
    print(f"{calls} CLI calls in {elapsed:.1f} s ({elapsed / calls * 1000:.1f} ms each); "
          f"{bytes_during / 1e6:.0f} MB echoed during them, {state['got'] / 1e6:.0f} MB total")
    assert calls == CHANGES
    assert state["got"] == state["sent"], f"sent {state['sent']} bytes, got {state['got']} back"
    assert got_hash.hexdigest() == sent_hash.hexdigest(), "the echoed stream differs (SHA-256)"
    assert e["flags"] == frozenset(), e["line"]
    assert e["upstream_cluster"] == cluster(ECHO, host), e["line"]
    assert e["bytes_received"] == e["bytes_sent"] == state["sent"], e["line"]
    assert names(p) == ["bulk"]


# -- 5. concurrency ---------------------------------------------------------------------------


def test_racing_appliers_one_wins(topo, proxy):
    """Two appliers send the same object with the resourceVersion both read:
    exactly one is applied, the other gets a Conflict (exit 1) and changes nothing."""
    p = proxy()
    host = "race.live.example"
    apply_ok(p, se("race", host, [f"{EXT_B}/32"], [ECHO]))
    for rnd in range(5):
        obj = get_json(p, "race")
        rv, gen = obj["metadata"]["resourceVersion"], obj["metadata"]["generation"]
        texts = {who: se("race", host, [f"{EXT_B}/32"], [port], resource_version=rv,
                         annotations={"writer": f"{who}{rnd}"})
                 for who, port in (("a", ECHO), ("b", WHOAMI))}
        barrier = threading.Barrier(2)

        def run(who):
            barrier.wait(10)
            return p.cli("apply", "-f", "-", input=texts[who])

        workers = {who: Worker(run, who) for who in texts}
        for w in workers.values():
            w.start()
        results = {who: w.join_ok(60) for who, w in workers.items()}
        winners = [who for who, r in results.items() if r[0] == 0]
        assert len(winners) == 1, f"round {rnd}: {len(winners)} winners\n{results}"
        win = winners[0]
        lose = "b" if win == "a" else "a"
        rc, out, err = results[lose]
        assert rc == 1, f"round {rnd}: loser exit {rc}\n{out}{err}"
        assert "Error from server (Conflict)" in err and "the object has been modified" in err, \
            f"round {rnd}: loser's message\n{out}{err}"
        assert results[win][1] == f"{GROUP}/race configured\n", results[win]
        now = get_json(p, "race")
        assert annotation(now, "writer") == f"{win}{rnd}", now["metadata"]
        assert int(now["metadata"]["resourceVersion"]) > int(rv)
        port = ECHO if win == "a" else WHOAMI
        assert now["spec"]["ports"][0]["number"] == port
        assert now["metadata"]["generation"] == gen + (port != obj["spec"]["ports"][0]["number"])
    # A stale version, without a race: refused, nothing changed.
    rev = p.revision()
    rc, out, err = p.cli("apply", "-f", "-",
                         input=se("race", host, [f"{EXT_B}/32"], [BANNER], resource_version=rv))
    assert rc == 1 and "Conflict" in err, f"stale apply -> exit {rc}\n{out}{err}"
    assert p.revision() == rev
    # DELETE with a stale resourceVersion: 409, still there.
    status, body = p.api("DELETE", f"/v1/objects?kind=ServiceEntry&namespace={NS}&name=race"
                                   f"&resourceVersion={rv}")
    assert status == 409 and body.get("reason") == "Conflict", (status, body)
    assert names(p) == ["race"]


def test_read_modify_write_loses_nothing(topo, proxy):
    """Two appliers each increment an annotation counter N times by get -o json,
    +1, apply with the resourceVersion read, retry on Conflict: it ends at 2N."""
    n = 15
    p = proxy()
    apply_ok(p, se("counter", "counter.live.example", ["203.0.113.50/32"], [ECHO],
                   annotations={"count": 0}))
    conflicts = []

    def incrementer(who):
        done, seen = 0, 0
        while done < n:
            obj = get_json(p, "counter")
            obj["metadata"].setdefault("annotations", {})
            obj["metadata"]["annotations"]["count"] = \
                str(int(obj["metadata"]["annotations"]["count"]) + 1)
            obj["metadata"]["annotations"]["last"] = who
            rc, out, err = p.cli("apply", "-f", "-", input=json.dumps(obj))
            if rc == 0:
                assert out == f"{GROUP}/counter configured\n", out + err
                done += 1
            else:
                assert rc == 1 and "Conflict" in err, f"{who}: apply -> exit {rc}\n{out}{err}"
                seen += 1
                assert seen < 20 * n, f"{who}: {seen} conflicts, no progress"
        conflicts.append(seen)

    workers = [Worker(incrementer, who) for who in ("a", "b")]
    for w in workers:
        w.start()
    for w in workers:
        w.join_ok(100)
    obj = get_json(p, "counter")
    print(f"conflicts retried: {conflicts}")
    assert annotation(obj, "count") == str(2 * n), obj["metadata"]
    assert obj["metadata"]["generation"] == 1  # only metadata changed, never the spec


# -- 6. faults ------------------------------------------------------------------------------


def mount(*args):
    topology.sh("mount", *args)


def unmount(path):
    """Unmount <path>; lazily if something still holds it (reported, not hidden)."""
    r = topology.sh("umount", path, check=False)
    if r.returncode != 0:
        topology.sh("umount", "-l", path, check=False)
        raise AssertionError(f"umount {path}: {r.stderr.decode(errors='replace')} "
                             "(detached lazily)")


def fill(directory):
    """Write into <directory> until its filesystem is full; return the file."""
    path = pathlib.Path(directory) / "fill"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (1 << 20, 4096, 1):  # down to the last byte
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError as e:
                assert e.errno == errno.ENOSPC, f"filling {directory}: {e}"
    finally:
        os.close(fd)
    return path


def test_full_disk_apply_fails_cleanly(topo, proxy, workdir):
    """The store on a small tmpfs: once it is full, apply fails with the reason
    (exit 1), the store and the policy stay as they were; once space is freed,
    the same apply works."""
    mnt = workdir / "tmpfs"
    mnt.mkdir()
    mount("-t", "tmpfs", "-o", "size=8m,mode=0755", "tmpfs", mnt)
    p = None
    try:
        p = proxy((), state_dir=mnt / "state")
        p.expect_err(r"No space left on device|(?i:store)")
        apply_ok(p, se("first", "first.live.example", [f"{EXT_B}/32"], [ECHO]))
        rev = p.revision()
        filler = fill(mnt)
        # Big enough to need new pages whatever the WAL already holds.
        big = docs(se("second", "second.live.example", [f"{EXT_B}/32"], [WHOAMI],
                      annotations={"padding": "x" * 200000}),
                   se("third", "third.live.example", [f"{EXT_B}/32"], [BANNER]))
        rc, out, err = p.cli("apply", "-f", "-", input=big)
        assert rc == 1, f"apply on a full disk -> exit {rc}\n{out}{err}"
        p.assert_running()
        assert p.revision() == rev
        assert names(p) == ["first"]
        assert_allowed(topo, p, EXT_B, ECHO, "first.live.example")
        assert_denied(topo, p, EXT_B, WHOAMI)
        assert_denied(topo, p, EXT_B, BANNER)
        assert re.search(r"(?i)no space left", err), f"apply on a full disk said\n{out}{err}"
        filler.unlink()
        apply_ok(p, big, [("second", "created"), ("third", "created")])
        assert_allowed(topo, p, EXT_B, WHOAMI, "second.live.example")
        assert names(p) == ["first", "second", "third"]
        p.restart()  # and it was all durable
        assert names(p) == ["first", "second", "third"]
    finally:
        try:
            if p is not None:
                p.stop()  # before the unmount: it holds the store open
        finally:
            unmount(mnt)


def test_read_only_state_dir_apply_fails_cleanly(topo, proxy, workdir):
    """The store's filesystem turns read-only under the running daemon: apply fails
    cleanly (exit 1, the reason), reads and the last good policy keep working.

    A plain `mount -o remount,ro` is refused (EBUSY) while the daemon holds the
    database open for writing, so this uses what happens on real disks: an
    ext4 (loop, errors=remount-ro) that hits an error and goes read-only."""
    for tool in ("mkfs.ext4", "losetup"):
        assert shutil.which(tool), f"{tool} is missing (e2fsprogs, util-linux)"
    img, mnt = workdir / "ext4.img", workdir / "ext4"
    with open(img, "wb") as f:
        f.truncate(32 << 20)
    topology.sh("mkfs.ext4", "-q", "-F", img)
    mnt.mkdir()
    mount("-o", "loop,errors=remount-ro", img, mnt)
    p = None
    try:
        dev = topology.sh("findmnt", "-n", "-o", "SOURCE", mnt).stdout.decode().strip()
        trigger = pathlib.Path("/sys/fs/ext4") / os.path.basename(dev) / "trigger_fs_error"
        assert trigger.exists(), f"{trigger} is missing: cannot make {dev} fail"
        p = proxy((), state_dir=mnt / "state")
        p.expect_err(r"Read-only file system|(?i:store)")
        apply_ok(p, se("first", "first.live.example", [f"{EXT_B}/32"], [ECHO]))
        before = get_json(p, "first")
        trigger.write_text("portcullis test: going read-only\n")
        opts = topology.sh("findmnt", "-n", "-o", "OPTIONS", mnt).stdout.decode()
        assert re.search(r"(^|,)ro(,|$)", opts) or "emergency_ro" in opts, opts
        rc, out, err = p.cli("apply", "-f", "-",
                             input=se("second", "second.live.example", [f"{EXT_B}/32"],
                                      [WHOAMI]))
        assert rc == 1, f"apply on a read-only store -> exit {rc}\n{out}{err}"
        p.assert_running()
        assert_allowed(topo, p, EXT_B, ECHO, "first.live.example")
        assert_denied(topo, p, EXT_B, WHOAMI)
        # A delete still revokes (in memory) and says the store lags (doc/store.md).
        rc, out2, err2 = p.cli("delete", "se", "first", "-n", NS)
        assert rc == 1, f"delete on a read-only store -> exit {rc}\n{out2}{err2}"
        assert "revoked, not yet persisted: store read-only" in err2, err2
        assert_denied(topo, p, EXT_B, ECHO)
        assert get_json(p, "first") == before  # still stored: it could not be written
        assert names(p) == ["first"]
        # Says why, as for a full disk (the store tells EROFS apart: store.h).
        for text in (err, err2):
            assert re.search(r"(?i)read-only", text), f"on a read-only store:\n{text}"
    finally:
        try:
            if p is not None:
                p.stop()
        finally:
            unmount(mnt)


def raw_api(p):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(IO_TIMEOUT)
    s.connect(str(p.api_socket))
    return s


def test_cli_dying_mid_request_leaves_nothing(topo, proxy):
    """Clients that send half an apply and then vanish (FIN, or RST) or stall:
    nothing of their request is stored, and the daemon keeps serving others."""
    p = proxy()
    apply_ok(p, se("keep", "keep.live.example", [f"{EXT_B}/32"], [ECHO]))
    rev = p.revision()
    head, body = p.apply_request([("half.yaml", docs(
        se("half-a", "half-a.live.example", [f"{EXT_B}/32"], [WHOAMI]),
        se("half-b", "half-b.live.example", [f"{EXT_B}/32"], [BANNER])))])
    cut_points = [len(head) // 2, len(head), len(head) + len(body) // 2,
                  len(head) + len(body) - 1]
    for cut, how in itertools.product(cut_points, ("close", "reset")):
        s = raw_api(p)
        s.sendall((head + body)[:cut])
        if how == "reset":
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
        s.close()
    # A stalled one, held open while another client applies.
    stalled = raw_api(p)
    try:
        stalled.sendall(head + body[:len(body) // 2])
        apply_ok(p, se("other", "other.live.example", ["203.0.113.60/32"], [ECHO]),
                 [("other", "created")])
        assert p.revision() == rev + 1
    finally:
        stalled.close()
    # And a real CLI killed while it waits for the answer: SIGKILL it as soon as
    # it has connected (it may or may not have sent its request: either way the
    # apply is whole or absent).
    proc = subprocess.Popen(["prlimit", "--core=0", p.pc.binary, "apply", "--server",
                             p.server, "-f", "-"], stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        proc.stdin.write(docs(*(se(f"killed-{i}", f"k{i}.live.example",
                                   [f"198.51.100.{20 + i}/32"], [ECHO])
                                for i in range(50))).encode())
        proc.stdin.close()
        time.sleep(0.01)
        proc.kill()
    finally:
        proc.wait(10)
    p.assert_running()
    got = names(p)
    ks = [n for n in got if n.startswith("killed-")]
    assert len(ks) in (0, 50), f"the killed CLI's apply is partial: {len(ks)} of 50 objects"
    assert [n for n in got if not n.startswith("killed-")] == ["keep", "other"], got
    assert_denied(topo, p, EXT_B, WHOAMI)
    assert_allowed(topo, p, EXT_B, ECHO, "keep.live.example")


# -- 7. watch ---------------------------------------------------------------------------------


def test_get_watch_streams_changes(topo, proxy):
    """`get se -w` prints the current table, then a row per change, until killed."""
    p = proxy()
    apply_ok(p, se("first", "first.live.example", ["203.0.113.70/32"], [ECHO]))
    argv = ["prlimit", "--core=0", p.pc.binary, "get", "--server", p.server, "se", "-n", NS,
            "-w"]
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=dict(os.environ, LC_ALL="C"))
    lines = queue.Queue()

    def pump():
        for raw in proc.stdout:
            lines.put(raw.decode(errors="replace").rstrip("\n"))
        lines.put(None)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    seen = []

    def wait_line(rx):
        deadline = time.monotonic() + LIVENESS
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=0.1)
            except queue.Empty:
                continue
            if line is None:
                break
            seen.append(line)
            if re.match(rx, line):
                return line
        pytest.fail(f"`get -w` printed no line /{rx}/ within {LIVENESS} s (exit "
                    f"{proc.poll()})\n" + "\n".join(seen))

    try:
        wait_line(r"^NAME\s+HOSTS\s+LOCATION\s+RESOLUTION\s+AGE$")
        wait_line(r"^first\s")
        apply_ok(p, se("second", "second.live.example", ["203.0.113.71/32"], [ECHO]))
        wait_line(r'^second\s+\["second\.live\.example"\]\s+MESH_EXTERNAL\s+NONE\s')
        rc, out, err = p.cli("delete", "se", "second", "-n", NS)
        assert rc == 0, out + err
        wait_line(r"^second\s")  # kubectl prints the deleted object's row too
        assert proc.poll() is None, "`get -w` exited while watching"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        proc.stderr.close()
    assert proc.returncode in (0, -signal.SIGTERM, 128 + signal.SIGTERM), proc.returncode


def test_api_watch_stream(topo, proxy):
    """GET /v1/watch streams one JSON line per change, with growing revisions."""
    p = proxy()
    rev0 = p.revision()
    conn = p.api_connection(timeout=LIVENESS)
    try:
        conn.request("GET", f"/v1/watch?kind=ServiceEntry&namespace={NS}")
        resp = conn.getresponse()
        assert resp.status == 200, resp.status
        apply_ok(p, se("w1", "w1.live.example", ["203.0.113.80/32"], [ECHO]))
        apply_ok(p, se("w1", "w1.live.example", ["203.0.113.80/32"], [WHOAMI]))
        rc, out, err = p.cli("delete", "se", "w1", "-n", NS)
        assert rc == 0, out + err
        events = []
        while len(events) < 3:
            line = resp.readline()
            assert line, f"watch stream ended after {events}"
            if line.strip():
                events.append(json.loads(line))
    finally:
        conn.close()
    assert [e["type"] for e in events] == ["ADDED", "MODIFIED", "DELETED"], events
    revs = [e["revision"] for e in events]
    assert revs == sorted(revs) and len(set(revs)) == 3 and revs[0] > rev0, revs
    assert all(e["object"]["metadata"]["name"] == "w1" for e in events), events
    assert events[1]["object"]["spec"]["ports"][0]["number"] == WHOAMI


def test_api_watch_refuses_a_bad_since(topo, proxy):
    """GET /v1/watch?since= that is not a revision number is refused with 400, as other
    bad parameters are: trailing junk, a sign or blank, and a number out of range (which
    strtoll clamps to LLONG_MAX: a watch that would never see a change)."""
    p = proxy()
    apply_ok(p, se("s1", "s1.live.example", ["203.0.113.81/32"], [ECHO]))
    for since in ("12abc", "1 ", " 1", "+1", "-1", "0x10", "99999999999999999999",
                  "9223372036854775808"):
        conn = p.api_connection(timeout=LIVENESS)
        try:
            conn.request("GET", "/v1/watch?kind=ServiceEntry&since=" +
                         "".join(f"%{b:02X}" for b in since.encode()))
            resp = conn.getresponse()
            assert resp.status == 400, f"since={since!r} -> {resp.status}, not 400"
            status = json.loads(resp.read())
        finally:
            conn.close()
        assert (status["kind"], status["code"], status["reason"]) == \
            ("Status", 400, "BadRequest"), status
    # the largest revision there is is a number: a watch from it waits for changes
    conn = p.api_connection(timeout=LIVENESS)
    try:
        conn.request("GET", "/v1/watch?kind=ServiceEntry&since=9223372036854775807")
        assert conn.getresponse().status == 200
    finally:
        conn.close()
    # and a good since streams what came after it
    conn = p.api_connection(timeout=LIVENESS)
    try:
        conn.request("GET", "/v1/watch?kind=ServiceEntry&since=0")
        resp = conn.getresponse()
        assert resp.status == 200, resp.status
        event = json.loads(resp.readline())
    finally:
        conn.close()
    assert event["object"]["metadata"]["name"] == "s1", event
    p.assert_running()


# -- config files and the store --------------------------------------------------------------


def test_sighup_reapplies_config_and_keeps_api_objects(topo, proxy):
    """--config objects go through the store; on SIGHUP the files are re-applied and
    what they no longer hold is deleted, while objects applied through the API stay."""
    a = se("from-file-a", "a.live.example", [f"{EXT_B}/32"], [ECHO])
    b = se("from-file-b", "b.live.example", [f"{EXT_B}/32"], [BANNER])
    p = proxy(docs(a, b))
    assert names(p) == ["from-file-a", "from-file-b"]
    apply_ok(p, se("from-api", "api.live.example", [f"{EXT_B}/32"], [WHOAMI]))
    p.write_config(p.configs[0], se("from-file-a", "a.live.example", [f"{EXT_B}/32"], [ECHO],
                                    annotations={"edited": "yes"}))
    p.hup()
    deadline = time.monotonic() + LIVENESS
    while names(p) != ["from-api", "from-file-a"]:
        assert time.monotonic() < deadline, \
            f"after SIGHUP the store holds {names(p)}\n{p.describe()}"
        time.sleep(0.05)
    deadline = time.monotonic() + LIVENESS
    while annotation(get_json(p, "from-file-a"), "edited") != "yes":
        assert time.monotonic() < deadline, "the edited config file was not re-applied"
        time.sleep(0.05)
    assert_denied(topo, p, EXT_B, BANNER)
    assert_allowed(topo, p, EXT_B, WHOAMI, "api.live.example")
    assert_allowed(topo, p, EXT_B, ECHO, "a.live.example")
    p.restart()
    assert names(p) == ["from-api", "from-file-a"]


def test_api_listen_loopback_only(pc, topo, proxy, bare_ns, workdir):
    """--api-listen serves the same API on loopback TCP (to a client with the token of
    the state dir: test_api_auth.py) and refuses other addresses."""
    p = proxy((), "--api-listen", "127.0.0.1:15080")
    apply_ok(p, se("tcp", "tcp.live.example", ["203.0.113.90/32"], [ECHO]))
    rc, out, err = pc.run("get", "se", "-n", NS, "-o", "name", "--server",
                          "http://127.0.0.1:15080", "--token-file", p.token_file, ns=topo.pod)
    assert (rc, out) == (0, f"{GROUP}/tcp\n"), f"get over TCP -> exit {rc}\n{out}{err}"
    rc, out, err = pc.run("run", "--state-dir", workdir / "state-refused", "--api-socket",
                          workdir / "refused.sock", "--api-listen", "192.0.2.1:15080",
                          ns=bare_ns, timeout=15)
    assert rc != 0 and "loopback" in (out + err), \
        f"--api-listen on a non-loopback address -> exit {rc}\n{out}{err}"
