# SPDX-License-Identifier: GPL-2.0-or-later
"""What root's CLI checks before it sends the daemon's bearer token (doc/security.md).

The state dir belongs to the proxy user (uid 1337), and the pod's loopback to
every process in the pod. So:

* a token file that is a symbolic link (to a root-only file), a hard link, a
  file of uid 1337 or a FIFO is refused with why, and nothing of its target
  reaches any server; a FIFO does not hang the CLI;
* the token never goes to a server off loopback (--server 203.0.113.x, or a
  name that resolves there): a 401 from such a server says why it was not sent;
* a uid-65534 process that took the admin port (or the API port) while the
  daemon was down gets no Authorization header, and the CLI says whose socket
  it reached; a listener of root's (the daemon's) gets the token.

The fake server (a recorder, below) runs in a bare namespace of the test's own,
as root or through setpriv(1) as uid 65534, and writes each request head it
receives as a JSON line; it answers 401 with a Status as the daemon does.
"""
import json
import os
import shutil
import subprocess
import sys
import time

import pytest

import topology

NOBODY = 65534
PROXY_UID = 1337
PORT = 18452
SECRET = "root-only-secret-word"
TOKEN = "the-daemons-token"

RECORDER = r"""
import json, socket, sys
host, port = sys.argv[1], int(sys.argv[2])
ls = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind((host, port))
ls.listen(16)
print("ready", flush=True)
body = (b'{"kind":"Status","apiVersion":"v1","status":"Failure",'
        b'"reason":"Unauthorized","message":"send a token","code":401}')
while True:
    conn, _ = ls.accept()
    conn.settimeout(3)
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
    except OSError:
        pass
    print(json.dumps(data.decode("latin-1")), flush=True)
    if data:
        conn.sendall(b"HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
    conn.close()
"""


class Recorder:
    """The fake server in <ns> on <host>:<port>, as <uid> (0: root)."""

    def __init__(self, ns, host, port, uid=0):
        argv = [sys.executable, "-c", RECORDER, host, str(port)]
        if uid:
            argv = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", *argv]
        self.proc = ns.popen(*argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
        line = self.proc.stdout.readline()
        assert line == "ready\n", f"recorder: {line!r} {self.proc.stderr.read()}"

    def stop(self):
        """Stop it; the request heads it received (a connection closed before any
        request is not one)."""
        self.proc.terminate()
        out, _ = self.proc.communicate(timeout=10)
        return [h for h in map(json.loads, out.splitlines()) if h]


@pytest.fixture
def recorders(bare_ns):
    started = []

    def start(host="127.0.0.1", port=PORT, uid=0):
        r = Recorder(bare_ns, host, port, uid)
        started.append(r)
        return r

    yield start
    for r in started:
        if r.proc.poll() is None:
            r.proc.kill()
            r.proc.wait()


@pytest.fixture
def state(workdir):
    """A state dir as the daemon leaves it: owned by the proxy user, the token root's 0600;
    and a root-only file elsewhere that the proxy user would like root to send."""
    d = workdir / "state"
    d.mkdir()
    os.chown(d, PROXY_UID, PROXY_UID)
    d.chmod(0o700)
    secret = workdir / "root-only"
    secret.write_text(f"{SECRET}:x:1:2\n")
    secret.chmod(0o600)
    tok = workdir / "api-token"
    tok.write_text(f"{TOKEN},admin\n")
    tok.chmod(0o600)
    return d, secret, tok


def authorization(heads):
    return [ln for h in heads for ln in h.split("\r\n") if ln.lower().startswith("authorization")]


# -- the token file ------------------------------------------------------------

def test_links_and_foreign_files_are_refused(pc, bare_ns, recorders, state):
    d, secret, _ = state
    planted = d / "api-token"
    rec = recorders()
    cases = [("symlink", "it is a symbolic link"), ("hardlink", "it has 2 hard links"),
             ("proxy-user", "owned by uid 1337, not by root or by you (uid 0)"),
             ("group-writable", "others can write it (mode 0660)")]
    for kind, why in cases:
        if kind == "symlink":
            planted.symlink_to(secret)
        elif kind == "hardlink":
            os.link(secret, planted)
        else:
            planted.write_text(f"{SECRET},admin\n")
            if kind == "proxy-user":
                os.chown(planted, PROXY_UID, PROXY_UID)
                planted.chmod(0o600)
            else:
                planted.chmod(0o660)
        for how in (("--token-file", planted), ()):
            env = {} if how else {"PORTCULLIS_TOKEN_FILE": str(planted)}
            rc, out, err = pc.run("get", "se", "--server", f"127.0.0.1:{PORT}", *how,
                                  env=env, ns=bare_ns)
            assert rc == 1, (kind, rc, out, err)
            assert f"refusing the token file {planted}" in err and why in err, (kind, err)
            assert SECRET not in out + err
        planted.unlink()
    heads = rec.stop()
    assert heads == [], heads  # refused before connecting: nothing of the secret went out


def test_a_fifo_does_not_hang_the_cli(pc, bare_ns, recorders, state):
    d, _, _ = state
    fifo = d / "api-token"
    os.mkfifo(fifo, 0o600)
    rec = recorders()
    start = time.monotonic()
    rc, out, err = pc.run("connections", "--admin", f"127.0.0.1:{PORT}", "--token-file", fifo,
                          ns=bare_ns, timeout=15)
    assert time.monotonic() - start < 10
    assert rc == 1 and f"refusing the token file {fifo}: it is a FIFO" in err, (rc, out, err)
    assert rec.stop() == []


# -- where the token goes ---------------------------------------------------------

def test_the_token_goes_to_a_root_listener_on_loopback(pc, bare_ns, recorders, state):
    """The control case: the checks let the token through to a listener of its owner's."""
    _, _, tok = state
    rec = recorders()
    rc, out, err = pc.run("get", "se", "--server", f"127.0.0.1:{PORT}", "--token-file", tok,
                          ns=bare_ns)
    assert rc == 1 and "Unauthorized" in err and "not sent" not in err, (rc, out, err)
    assert authorization(rec.stop()) == [f"Authorization: Bearer {TOKEN}"]


@pytest.fixture
def remote_host(bare_ns):
    """203.0.113.73, an address of the namespace that is not loopback's (on lo: no
    dummy links in every kernel), and a name for it (ip netns exec bind-mounts
    /etc/netns/NAME/hosts over /etc/hosts)."""
    bare_ns.addr("lo", "203.0.113.73/32")
    etc = f"/etc/netns/{bare_ns.name}"
    os.makedirs(etc)
    try:
        with open(f"{etc}/hosts", "w") as f:
            f.write("127.0.0.1 localhost\n203.0.113.73 remote.example\n")
        yield "203.0.113.73"
    finally:
        shutil.rmtree(etc, ignore_errors=True)


def test_the_token_is_not_sent_off_loopback(pc, bare_ns, recorders, state, remote_host):
    _, _, tok = state
    rec = recorders(remote_host)
    rc, out, err = pc.run("get", "se", "--server", f"{remote_host}:{PORT}", "--token-file", tok,
                          ns=bare_ns)
    assert rc == 1 and "Error from server (Unauthorized)" in err, (rc, out, err)
    assert f"the token of {tok} was not sent to http://{remote_host}:{PORT}" in err, err
    assert "loopback" in err, err
    rc, out, err = pc.run("connections", "--admin", f"{remote_host}:{PORT}", "--token-file", tok,
                          ns=bare_ns)
    assert rc == 1 and "HTTP 401" in err and "the token was not sent" in err, (rc, out, err)
    # a name is judged by the address connected
    rc, out, err = pc.run("get", "se", "--server", f"http://remote.example:{PORT}",
                          "--token-file", tok, ns=bare_ns)
    assert rc == 1 and f"is at {remote_host}, not on loopback" in err, (rc, out, err)
    assert "not sending the token" in err, err
    heads = rec.stop()
    assert len(heads) == 2 and authorization(heads) == [], heads
    assert TOKEN not in "".join(heads)


# -- a squatter on the port ---------------------------------------------------------

def test_a_squatter_on_the_admin_port_gets_no_token(pc, bare_ns, recorders, state):
    if not shutil.which("setpriv"):
        pytest.fail("setpriv (util-linux) is missing")
    _, _, tok = state
    rec = recorders(port=15000, uid=NOBODY)
    want = ("is not portcullis: its socket belongs to uid 65534, not to the owner of the "
            f"token file {tok} (uid 0); not sending the token")
    rc, out, err = pc.run("connections", "--admin", "127.0.0.1:15000", "--token-file", tok,
                          ns=bare_ns)
    assert rc == 1 and f"the admin endpoint at http://127.0.0.1:15000 {want}" in err, \
        (rc, out, err)
    # the default admin address and $PORTCULLIS_TOKEN_FILE; a name for loopback
    rc, out, err = pc.run("connections", env={"PORTCULLIS_TOKEN_FILE": str(tok)}, ns=bare_ns)
    assert rc == 1 and want in err, (rc, out, err)
    rc, out, err = pc.run("get", "se", "--server", "localhost:15000", "--token-file", tok,
                          ns=bare_ns)
    assert rc == 1 and f"the server at http://localhost:15000 {want}" in err, (rc, out, err)
    heads = rec.stop()
    assert authorization(heads) == [] and TOKEN not in "".join(heads), heads
