# SPDX-License-Identifier: GPL-2.0-or-later
"""Who may change the running proxy, and the trail it leaves (issue 12, points 3 and 5).

The pod's loopback and its processes are the workload's (doc/security.md):

* --api-listen (TCP) serves only a client that sends a token of
  <state-dir>/api-token as "Authorization: Bearer": none or a wrong one is a
  401 whose Status says how to pass it; the right one applies.
* The admin endpoint's POST /logging, /config_dump, /connections and
  /clusters need the token, from any process; an unprivileged pod process
  (uid 65534) gets 401 without it, 200 with it; metrics, /denials and the
  readiness paths stay open. --admin-auth none opens them.
* Hundreds of idle sockets on the admin port leave /healthz/ready answering
  at once (16 used to fail it for 30 s).
* Every change is one audit line per object in <state-dir>/audit.log: an
  apply, a reapply, a delete and a refused apply by a uid-65534 client let
  into the API socket's group, a --config apply by "config", a 401 on TCP;
  the log rotates by size and stays 0600.

The client of the Unix socket runs as uid 65534 with the socket's group
(`portcullis`, made here when missing and removed again) as a supplementary
group, through setpriv(1).
"""
import grp
import json
import os
import shutil
import socket
import stat
import subprocess
import time

import pytest

import topology
from portcullis_test.daemon import multipart

API_PORT = 18441
ADMIN = "127.0.0.1:15000"
NOBODY = 65534
IO_TIMEOUT = 10
GROUP = "portcullis"


def se(name, addr, ns="default", port=5432, extra=""):
    return (f"apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
            f"metadata: {{name: {name}, namespace: {ns}}}\n"
            f"spec:\n  hosts: [{name}.example]\n  addresses: [{addr}]\n"
            f"  ports: [{{number: {port}, name: tcp, protocol: TCP}}]\n"
            f"  resolution: STATIC\n  location: MESH_EXTERNAL\n{extra}")


def http(topo, port, method, path, headers=None, body=b""):
    """One HTTP/1.0 request from inside the pod to 127.0.0.1:<port>: (status, headers, body)."""
    s = topo.pod.socket()
    try:
        s.settimeout(IO_TIMEOUT)
        s.connect(("127.0.0.1", port))
        head = f"{method} {path} HTTP/1.0\r\nHost: localhost\r\n"
        for k, v in (headers or {}).items():
            head += f"{k}: {v}\r\n"
        if body:
            head += f"Content-Length: {len(body)}\r\n"
        s.sendall(head.encode() + b"\r\n" + body)
        data = bytearray()
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    raw_head, _, payload = bytes(data).partition(b"\r\n\r\n")
    lines = raw_head.decode("latin-1").split("\r\n")
    hdrs = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return int(lines[0].split()[1]), hdrs, payload


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


# -- the token on TCP ---------------------------------------------------------

def test_tcp_api_needs_the_token(pc, topo, proxy, workdir):
    p = proxy((), "--api-listen", f"127.0.0.1:{API_PORT}")
    tok = p.token()
    st = os.stat(p.token_file)
    assert tok and len(tok) >= 43, p.token_file.read_text()
    assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == 0

    for hdrs in ({}, bearer("not-the-token"), bearer(tok[:-1]), {"Authorization": tok}):
        status, h, body = http(topo, API_PORT, "GET", "/v1/status", hdrs)
        assert status == 401, (hdrs, status, body)
        st_body = json.loads(body)
        assert st_body["kind"] == "Status" and st_body["reason"] == "Unauthorized", body
        assert "--token-file" in st_body["message"] and "Bearer" in st_body["message"], body
        assert h.get("www-authenticate", "").startswith("Bearer"), h
    status, _, body = http(topo, API_PORT, "GET", "/v1/status", bearer(tok))
    assert status == 200 and json.loads(body)["objects"] == 0, body

    # an apply without the token changes nothing; with it, it takes effect
    mp, ctype = multipart([("a.yaml", se("tcp-a", "203.0.113.61"))])
    status, _, body = http(topo, API_PORT, "POST", "/v1/apply", {"Content-Type": ctype}, mp)
    assert status == 401, body
    assert p.api("GET", "/v1/objects?kind=ServiceEntry")[1]["items"] == []
    status, _, body = http(topo, API_PORT, "POST", "/v1/apply",
                           {"Content-Type": ctype, **bearer(tok)}, mp)
    assert status == 200, body
    assert json.loads(body)["results"][0]["result"] == "created", body
    items = p.api("GET", "/v1/objects?kind=ServiceEntry")[1]["items"]
    assert [i["metadata"]["name"] for i in items] == ["tcp-a"], items

    # the CLI: --token-file, $PORTCULLIS_TOKEN_FILE; the Unix socket needs none
    server = f"127.0.0.1:{API_PORT}"
    rc, out, err = pc.run("get", "se", "--server", server, "--token-file", "/dev/null",
                          ns=topo.pod)
    assert rc == 1 and "no \"TOKEN,NAME\" line" in err, (rc, out, err)
    empty = workdir / "no-token"
    empty.write_text("other,x\n")
    rc, out, err = pc.run("get", "se", "--server", server, "--token-file", empty, ns=topo.pod)
    assert rc == 1 and "Unauthorized" in err and "--token-file" in err, (rc, out, err)
    rc, out, err = pc.run("get", "se", "--server", server, "--token-file", p.token_file,
                          ns=topo.pod)
    assert rc == 0 and "tcp-a" in out, (rc, out, err)
    rc, out, err = pc.run("get", "se", "--server", server, ns=topo.pod,
                          env={"PORTCULLIS_TOKEN_FILE": str(p.token_file)})
    assert rc == 0 and "tcp-a" in out, (rc, out, err)
    rc, out, err = p.cli("get", "se")
    assert rc == 0 and "tcp-a" in out, (rc, out, err)

    # the refused apply and the accepted one are in the audit log, by whom
    lines = audit_lines(p)
    refused = [ln for ln in lines if ln["result"] == "refused"]
    assert len(refused) == 1 and refused[0]["responseStatus"]["code"] == 401, lines
    assert refused[0]["user"]["username"] == "system:anonymous", refused
    created = [ln for ln in lines if ln["result"] == "created"]
    assert len(created) == 1 and created[0]["user"]["username"] == "admin", lines
    assert created[0]["via"] == "tcp" and created[0]["sourceIPs"] == ["127.0.0.1"], created
    assert tok not in audit_text(p) and tok not in p.stderr(), "the token was logged"


def test_token_file_planted_by_another_user_is_refused(pc, topo, workdir):
    """The state dir belongs to the proxy user: a token file it could have written
    (not root's, or readable by others) stops the start with what to fix."""
    state = workdir / "planted"
    state.mkdir()
    tf = state / "api-token"
    tf.write_text("chosen-by-the-proxy-user,admin\n")
    os.chown(tf, 1337, 1337)
    tf.chmod(0o600)
    rc, out, err = pc.run("run", "--state-dir", state, "--api-socket", workdir / "planted.sock",
                          "--api-listen", f"127.0.0.1:{API_PORT}", ns=topo.pod)
    assert rc != 0 and "owned by uid 1337, not by root" in err and "chown" in err, err
    os.chown(tf, 0, 0)
    tf.chmod(0o644)
    rc, out, err = pc.run("run", "--state-dir", state, "--api-socket", workdir / "planted.sock",
                          "--api-listen", f"127.0.0.1:{API_PORT}", ns=topo.pod)
    assert rc != 0 and "chmod 600" in err, err
    assert "chosen-by-the-proxy-user" not in err + out


# -- the admin endpoint -------------------------------------------------------

AS_NOBODY = r"""
import socket, sys
port, token = int(sys.argv[1]), sys.argv[2]
for method, path in [("POST", "/logging?level=err"), ("GET", "/config_dump"),
                     ("GET", "/connections"), ("GET", "/clusters"), ("GET", "/metrics"),
                     ("GET", "/stats"), ("GET", "/healthz/ready"), ("GET", "/ready"),
                     ("GET", "/denials"), ("GET", "/logging")]:
    for tok in ("", token):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        auth = f"Authorization: Bearer {tok}\r\n" if tok else ""
        s.sendall(f"{method} {path} HTTP/1.0\r\nHost: x\r\n{auth}\r\n".encode())
        data = b""
        while True:
            c = s.recv(65536)
            if not c:
                break
            data += c
        print(method, path, "token" if tok else "none", data.split()[1].decode())
        if method == "POST" and tok:
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s.sendall(f"POST /logging?level=info HTTP/1.0\r\n{auth}\r\n".encode())
            s.recv(100)
"""


def as_nobody(topo, *argv, groups=None, **kw):
    """<argv> in the pod as uid/gid 65534 (and the supplementary <groups>)."""
    g = f"--groups={','.join(map(str, groups))}" if groups else "--clear-groups"
    return topo.pod.run("setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", g, *argv,
                        check=False, **kw)


def test_admin_needs_the_token_from_an_unprivileged_pod_process(topo, proxy):
    if not shutil.which("setpriv"):
        pytest.fail("setpriv (util-linux) is missing")
    p = proxy((se("adm", "203.0.113.62"),))
    res = as_nobody(topo, topology.PYTHON, "-c", AS_NOBODY, "15000", p.token(), text=True)
    assert res.returncode == 0, res.stderr
    got = {tuple(ln.split()[:3]): int(ln.split()[3]) for ln in res.stdout.splitlines()}
    for path in ("/logging?level=err", "/config_dump", "/connections", "/clusters"):
        method = "POST" if path.startswith("/logging") else "GET"
        assert got[(method, path, "none")] == 401, got
        assert got[(method, path, "token")] == 200, got
    for path in ("/metrics", "/stats", "/healthz/ready", "/ready", "/denials", "/logging"):
        assert got[("GET", path, "none")] == 200, got
    # the refused POST changed nothing; the accepted one was set back by the script
    assert p.admin_json("/logging") == {"level": "info"}
    status, _, body = p.admin("/config_dump", token=False)
    assert status == 401 and b"Bearer" in body, body
    lines = [ln for ln in audit_lines(p) if ln["verb"] == "set-log-level"]
    assert [(ln["result"], ln["responseStatus"]["code"]) for ln in lines] == \
        [("refused", 401), ("configured", 200), ("configured", 200)], lines
    assert lines[1]["user"]["username"] == "admin" and lines[1]["objectRef"]["name"] == "err"


def test_admin_auth_none_opens_the_guarded_paths(topo, proxy):
    p = proxy((), "--admin-auth", "none")
    assert not p.token_file.exists()  # no listener needs one
    for path in ("/config_dump", "/connections", "/clusters"):
        assert p.admin(path, token=False)[0] == 200, path


def test_idle_sockets_do_not_starve_readiness(topo, proxy):
    p = proxy(())
    idle = topo.pod.sockets(300)
    try:
        for s in idle:
            s.settimeout(IO_TIMEOUT)
            s.connect(("127.0.0.1", 15000))
        idle[0].sendall(b"GET /metrics HTTP/1.1\r\n")  # and a half-sent request
        t0 = time.monotonic()
        status, _, body = p.admin("/healthz/ready", token=False, timeout=5)
        assert (status, body) == (200, b"LIVE\n")
        assert time.monotonic() - t0 < 2, "readiness waited behind idle sockets"
    finally:
        for s in idle:
            s.close()


# -- the audit log ------------------------------------------------------------

def audit_text(p):
    path = p.state_dir / "audit.log"
    return path.read_text() if path.exists() else ""


def audit_lines(p):
    return [json.loads(ln) for ln in audit_text(p).splitlines()]


@pytest.fixture
def api_group():
    """The API socket's group, made for the test when the host has none."""
    made = False
    try:
        gid = grp.getgrnam(GROUP).gr_gid
    except KeyError:
        subprocess.run(["groupadd", "--system", GROUP], check=True, timeout=30)
        made = True
        gid = grp.getgrnam(GROUP).gr_gid
    try:
        yield gid
    finally:
        if made:
            subprocess.run(["groupdel", GROUP], check=False, timeout=30)


def test_audit_lines_name_the_socket_peer(pc, topo, proxy, workdir, api_group):
    p = proxy((se("from-config", "203.0.113.63"),))
    st = os.stat(p.api_socket)
    assert st.st_gid == api_group and stat.S_IMODE(st.st_mode) == 0o660
    f1, f2, bad = workdir / "one.yaml", workdir / "two.yaml", workdir / "bad.yaml"
    f1.write_text(se("audited", "203.0.113.64"))
    f2.write_text(se("audited", "203.0.113.65"))
    bad.write_text(se("Not_Valid", "203.0.113.66"))
    for f in (f1, f2, bad):
        f.chmod(0o644)

    def cli(*args):
        return as_nobody(topo, pc.binary, *args, "--server", p.server, groups=[api_group],
                         text=True)

    # without the group, uid 65534 cannot even connect
    res = as_nobody(topo, pc.binary, "get", "se", "--server", p.server, text=True)
    assert res.returncode == 1 and "Permission denied" in res.stderr, res.stderr
    for args in (("apply", "-f", f1), ("apply", "-f", f2), ("delete", "se", "audited")):
        res = cli(*args)
        assert res.returncode == 0, (args, res.stdout, res.stderr)
    res = cli("apply", "-f", bad)
    assert res.returncode == 1, res.stdout

    lines = audit_lines(p)
    assert len(lines) == 5, audit_text(p)
    boot, created, configured, deleted, refused = lines
    assert boot["user"] == {"username": "config"} and boot["via"] == "config"
    assert boot["objectRef"]["name"] == "from-config" and boot["result"] == "created"
    for ln in (created, configured, deleted, refused):
        assert ln["kind"] == "Event" and ln["apiVersion"] == "audit.k8s.io/v1", ln
        assert ln["stage"] == "ResponseComplete" and ln["via"] == "unix", ln
        u = ln["user"]
        assert (u["username"], u["uid"], u["gid"]) == ("uid:65534", NOBODY, NOBODY), u
        assert isinstance(u["pid"], int) and u["pid"] > 1, u
        assert ln["stageTimestamp"].endswith("Z") and len(ln["stageTimestamp"]) == 27, ln
    assert len({ln["auditID"] for ln in lines}) == 5
    assert (created["verb"], created["result"]) == ("apply", "created")
    assert created["objectRef"] == {"apiGroup": "networking.istio.io", "kind": "ServiceEntry",
                                    "namespace": "default", "name": "audited"}
    assert "oldResourceVersion" not in created
    assert (configured["verb"], configured["result"]) == ("apply", "configured")
    assert configured["oldResourceVersion"] == created["newResourceVersion"]
    assert int(configured["newResourceVersion"]) > int(configured["oldResourceVersion"])
    assert (deleted["verb"], deleted["result"]) == ("delete", "deleted")
    assert deleted["oldResourceVersion"] == configured["newResourceVersion"]
    assert refused["result"] == "refused" and refused["responseStatus"]["code"] == 422
    assert refused["objectRef"]["name"] == "Not_Valid", refused
    assert refused["responseStatus"]["message"].startswith(f"{bad}:"), refused
    assert "metadata.name" in refused["responseStatus"]["message"], refused
    st = os.stat(p.state_dir / "audit.log")
    assert stat.S_IMODE(st.st_mode) == 0o600


def test_audit_log_rotates_by_size(topo, proxy):
    p = proxy((), "--audit-log-max-size", "2Ki")
    for i in range(20):
        status, body = p.api_apply([(f"r{i}.yaml", se(f"rot-{i}", f"203.0.113.{100 + i}"))])
        assert status == 200, body
    files = [p.state_dir / "audit.log"] + [p.state_dir / f"audit.log.{i}" for i in (1, 2, 3)]
    for f in files:
        assert f.exists(), f"no {f.name}: {sorted(os.listdir(p.state_dir))}"
        assert f.stat().st_size <= 2048 and stat.S_IMODE(f.stat().st_mode) == 0o600, f
    assert not (p.state_dir / "audit.log.4").exists()
    names = [json.loads(ln)["objectRef"]["name"] for f in reversed(files)
             for ln in f.read_text().splitlines()]
    assert names == [f"rot-{i}" for i in range(20 - len(names), 20)], names


def test_audit_log_off_and_elsewhere(topo, proxy, workdir):
    p = proxy((), "--audit-log", "off")
    assert p.api_apply([("a.yaml", se("quiet", "203.0.113.67"))])[0] == 200
    assert not (p.state_dir / "audit.log").exists()
    p.stop()
    path = workdir / "elsewhere.log"
    q = proxy((), "--audit-log", path)
    assert q.api_apply([("a.yaml", se("loud", "203.0.113.68"))])[0] == 200
    assert json.loads(path.read_text())["objectRef"]["name"] == "loud"


# -- the security review of issue 12 ------------------------------------------

def all_audit_lines(p, path=None):
    """The lines of the audit log and its rotated files, oldest first."""
    path = path or p.state_dir / "audit.log"
    files = [path.with_name(f"{path.name}.{i}") for i in (3, 2, 1)] + [path]
    return [json.loads(ln) for f in files if f.exists() for ln in f.read_text().splitlines()]


def test_anonymous_requests_cannot_rotate_out_an_accepted_change(topo, proxy):
    """60 unauthenticated POST /logging with a 6,000-byte level used to rotate an
    apply out of audit.log and its three rotated files at 64Ki."""
    p = proxy((), "--audit-log-max-size", "64Ki")
    assert p.api_apply([("a.yaml", se("kept", "203.0.113.69"))])[0] == 200
    for _ in range(60):
        assert http(topo, 15000, "POST", "/logging?level=" + "A" * 6000)[0] == 401
    lines = all_audit_lines(p)
    assert [ln["objectRef"]["name"] for ln in lines if ln["result"] == "created"] == ["kept"]
    refused = [ln for ln in lines if ln["result"] == "refused"]
    assert 20 <= len(refused) <= 22, len(refused)  # a burst of 20, then one a second
    for ln in refused:
        assert ln["objectRef"]["name"] == "A" * 64 + "...[truncated]", ln
    assert not (p.state_dir / "audit.log.1").exists()
    # the next line written says how many were left out
    assert p.admin("/logging?level=info", method="POST")[0] == 200
    last = all_audit_lines(p)[-1]
    assert last["user"]["username"] == "admin" and last["result"] == "configured", last
    assert last["annotations"] == {
        "portcullis.io/suppressed-unauthenticated": str(60 - len(refused))}, last


def test_refused_changes_leave_a_line(topo, proxy):
    """An apply refused before the store (400, 413) and a delete with a bad kind or
    resourceVersion are audited like any other refusal."""
    p = proxy((), "--api-listen", f"127.0.0.1:{API_PORT}")
    auth = bearer(p.token())
    status, _, body = http(topo, API_PORT, "POST", "/v1/apply",
                           {**auth, "Content-Type": "text/plain"}, b"kind: x\n")
    assert status == 400, body
    mp, ctype = multipart([("big.yaml", "#" * (33 << 20))])
    status, _, body = http(topo, API_PORT, "POST", "/v1/apply", {**auth, "Content-Type": ctype},
                           mp)
    assert status == 413, body
    status, _ = p.api("DELETE", "/v1/objects?kind=ServiceEntry&name=x&resourceVersion=abc")
    assert status == 400
    status, _ = p.api("DELETE", "/v1/objects?kind=Nope&name=x")
    assert status == 404
    got = [(ln["verb"], ln["result"], ln["responseStatus"]["code"], ln["via"])
           for ln in audit_lines(p)]
    assert got == [("apply", "refused", 400, "tcp"), ("apply", "refused", 413, "tcp"),
                   ("delete", "refused", 400, "unix"), ("delete", "refused", 404, "unix")], got
    lines = audit_lines(p)
    assert lines[0]["user"]["username"] == "admin", lines[0]
    assert "big.yaml" in lines[1]["responseStatus"]["message"], lines[1]
    assert lines[2]["objectRef"] == {"apiGroup": "networking.istio.io", "kind": "ServiceEntry",
                                     "name": "x"}, lines[2]


def test_audit_log_in_a_root_owned_directory_warns_once(topo, proxy, workdir):
    """The operator's --audit-log is opened as root; the proxy user cannot rename it
    there: one warning that says what to do, not one a line."""
    logs = workdir / "root-logs"
    logs.mkdir()
    logs.chmod(0o755)
    path = logs / "audit.log"
    p = proxy((), "--audit-log", path, "--audit-log-max-size", "2Ki")
    for i in range(20):
        assert p.api_apply([(f"r{i}.yaml", se(f"grow-{i}", f"203.0.113.{100 + i}"))])[0] == 200
    warns = [ln for ln in p.stderr().splitlines() if "cannot rotate the audit log" in ln]
    assert len(warns) == 1 and "directory it may write" in warns[0], warns
    assert path.stat().st_size > 2048 and not (logs / "audit.log.1").exists()
    assert len(all_audit_lines(p, path)) == 20


def test_dropped_admin_connections_do_not_flood_the_log(topo, proxy):
    """Each connection closed with a half-sent request was a warning of
    libmicrohttpd's: any pod process could fill the daemon's log."""
    p = proxy(())
    for _ in range(100):
        s = topo.pod.socket()
        try:
            s.settimeout(IO_TIMEOUT)
            s.connect(("127.0.0.1", 15000))
            s.sendall(b"GET /metrics HTTP/1.1\r\nHo")
        finally:
            s.close()
    # libmicrohttpd words it as the close is seen ("... with incomplete
    # request", "... detected connection closure"): count its lines, not a
    # wording.
    def warned():
        return [ln for ln in p.stderr().splitlines()
                if "level=warn" in ln and 'msg="admin endpoint"' in ln]

    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not warned():
        time.sleep(0.1)
    time.sleep(1)  # the rest of the closes
    n = len(warned())
    assert 1 <= n <= 10, p.stderr()[-3000:]


def test_api_socket_directory_others_may_write_is_refused(pc, topo, workdir):
    """Root binds the socket and sets its group: in a directory a pod user may
    write, the socket could be swapped for a link first."""
    d = workdir / "sockdir"
    d.mkdir()
    argv = ("run", "--state-dir", workdir / "sockdir-state", "--api-socket", d / "api.sock",
            "--admin", "off")
    d.chmod(0o777)
    rc, out, err = pc.run(*argv, ns=topo.pod)
    assert rc != 0 and "mode 0777" in err and f"chmod go-w {d}" in err, err
    d.chmod(0o755)
    os.chown(d, 1337, 1337)
    rc, out, err = pc.run(*argv, ns=topo.pod)
    assert rc != 0 and "owned by uid 1337" in err and f"chown root {d}" in err, err
    assert not (d / "api.sock").exists()


def hold_and_trickle(topo, port, n, probe, limit):
    """<n> connections to <port> that send a byte of a request line every second;
    <probe>() is tried meanwhile until it returns true: the seconds it took, or
    None after <limit> s."""
    held = topo.pod.sockets(n)
    try:
        for s in held:
            s.settimeout(IO_TIMEOUT)
            s.connect(("127.0.0.1", port))
            s.setblocking(False)
        t0 = time.monotonic()
        while time.monotonic() - t0 < limit:
            for s in held:
                try:
                    s.send(b"G")
                except OSError:
                    pass  # cut by the server
            try:
                if probe():
                    return time.monotonic() - t0
            except (OSError, ValueError, IndexError):
                pass  # refused, reset or cut short while every slot is taken
            time.sleep(1)
        return None
    finally:
        for s in held:
            s.close()


def test_trickled_headers_do_not_hold_the_admin_endpoint(topo, proxy):
    """1,024 connections that each send a byte a second used to hold every slot
    of the admin endpoint for ever (the idle timeout restarts on each byte):
    their headers have 5 s."""
    p = proxy(())

    def ready():
        return p.admin("/healthz/ready", token=False, timeout=1)[:3:2] == (200, b"LIVE\n")

    took = hold_and_trickle(topo, 15000, 1024, ready, 20)
    assert took is not None and took < 12, took


def test_trickled_headers_do_not_hold_the_tcp_api(topo, proxy):
    """64 trickling connections took every slot of the TCP API: their headers
    have 10 s."""
    p = proxy((), "--api-listen", f"127.0.0.1:{API_PORT}")
    tok = p.token()

    def status():
        return http(topo, API_PORT, "GET", "/v1/status", bearer(tok))[0] == 200

    took = hold_and_trickle(topo, API_PORT, 64, status, 30)
    assert took is not None and took < 20, took
