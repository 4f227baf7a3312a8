# SPDX-License-Identifier: GPL-2.0-or-later
"""System tests of `portcullis top` and `portcullis connections` (issue 5)
against a real `portcullis run` and its admin endpoint (doc/admin.md).

The test process is the app (its sockets live in the pod, so connect() is
captured): it keeps one allowed connection open and provokes one denial
(a destination no ServiceEntry declares, near one that is). `portcullis top`
then runs in the pod inside a tmux session of its own (a private tmux
server, -L), driven as a person would: capture-pane must show the denial
with its reason and hint and the allowed destination, send-keys q must end
it, and the shell after it must find its terminal restored (main screen,
cursor shown, canonical mode and echo back on). The tmux server is killed
in every case.
"""
import os
import shutil
import subprocess
import time

import pytest

from topology import ECHO, EXT_B

NS = "egress-test"
ADMIN = "127.0.0.1:15000"  # --admin's default, given explicitly
DENIED = "203.0.113.9"  # no ServiceEntry; mysql-external (203.0.113.10:3306) comes near
REASON = "no ServiceEntry matches (outbound traffic policy REGISTRY_ONLY)"
HINT = f"ServiceEntry {NS}/mysql-external allows 203.0.113.10/32 on port 3306"
ECHO_HOST = "echo.test.example"
ECHO_CLUSTER = f"outbound|{ECHO}||{ECHO_HOST}"
IO_TIMEOUT = 10
SCREEN_TIMEOUT = 15  # seconds for something to show up in the pane

ENTRIES = f"""apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: mysql-external
  namespace: {NS}
spec:
  hosts: [mysql.example.com]
  addresses: ["203.0.113.10"]
  ports: [{{name: mysql, number: 3306, protocol: TCP}}]
  location: MESH_EXTERNAL
  resolution: NONE
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: echo
  namespace: {NS}
spec:
  hosts: [{ECHO_HOST}]
  addresses: ["{EXT_B}/32"]
  ports: [{{name: tcp, number: {ECHO}, protocol: TCP}}]
  location: MESH_EXTERNAL
  resolution: NONE
"""

SANITIZER_MARKERS = ("Sanitizer", "runtime error:")


@pytest.fixture
def admin_pc(pc):
    """The binary, when its `run` has the admin endpoint."""
    rc, out, err = pc.run("run", "--help")
    if "--admin" not in out + err:
        pytest.skip("`portcullis run` has no --admin yet (the admin endpoint of issue 5)")
    return pc


@pytest.fixture
def tmux():
    path = shutil.which("tmux")
    if not path:
        pytest.fail("tmux is missing: scripts/install-deps.sh must install it")
    t = Tmux(path, f"pc-top-{os.getpid()}-{time.monotonic_ns()}")
    try:
        yield t
    finally:
        t.kill()


class Tmux:
    """A private tmux server (its own -L socket) with one session, "top"."""

    name = "top"

    def __init__(self, path, sock):
        self.path = path
        self.sock = sock

    def cmd(self, *args, check=True):
        p = subprocess.run([self.path, "-L", self.sock, "-f", "/dev/null", *map(str, args)],
                           capture_output=True, text=True, timeout=10,
                           stdin=subprocess.DEVNULL)
        if check and p.returncode != 0:
            raise AssertionError(f"tmux {' '.join(map(str, args))} -> exit {p.returncode}: "
                                 f"{p.stderr}")
        return p.stdout

    def start(self, width, height, *env):
        self.cmd("new-session", "-d", "-s", self.name, "-x", width, "-y", height, "env",
                 "PS1=$ ", *env, "bash", "--norc", "--noprofile")

    def type(self, text, enter=True):
        self.cmd("send-keys", "-t", self.name, "-l", text)
        if enter:
            self.cmd("send-keys", "-t", self.name, "Enter")

    def screen(self):
        return self.cmd("capture-pane", "-p", "-t", self.name)

    def var(self, name):
        return self.cmd("display-message", "-p", "-t", self.name, f"#{{{name}}}").strip()

    def wait(self, pred, what, timeout=SCREEN_TIMEOUT):
        deadline = time.monotonic() + timeout
        while True:
            text = self.screen()
            if pred(text):
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not on the screen after {timeout} s:\n{text}")
            time.sleep(0.1)

    def kill(self):
        self.cmd("kill-server", check=False)


def app_connect(topo, host, port):
    s = topo.pod.socket()
    s.settimeout(IO_TIMEOUT)
    s.connect((host, port))
    return s


def provoke_denial(topo):
    """A connection to DENIED:3306: the proxy answers with a MySQL ERR packet and closes."""
    s = app_connect(topo, DENIED, 3306)
    try:
        data = bytearray()
        while True:
            try:
                chunk = s.recv(4096)
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
        assert REASON.encode() in data or not data, f"unexpected answer {bytes(data)!r}"
    finally:
        s.close()


def open_echo(topo, payload):
    """An allowed connection that moved <payload> each way."""
    s = app_connect(topo, EXT_B, ECHO)
    if not payload:
        return s
    s.sendall(payload)
    got = bytearray()
    while len(got) < len(payload):
        chunk = s.recv(65536)
        assert chunk, "echo server closed early"
        got += chunk
    assert bytes(got) == payload
    return s


def wait_denial(p, topo, pc):
    """Until the admin endpoint lists the denial (the proxy records it asynchronously)."""
    deadline = time.monotonic() + IO_TIMEOUT
    while True:
        rc, out, err = pc.run("top", "--once", "--admin", ADMIN, ns=topo.pod)
        if rc == 0 and f"{DENIED}:3306" in out:
            return out
        if time.monotonic() > deadline:
            pytest.fail(f"no denial of {DENIED}:3306 in `portcullis top --once` "
                        f"(exit {rc})\n{out}{err}\n{p.describe()}")
        time.sleep(0.1)


def wait_file(path, timeout=5):
    deadline = time.monotonic() + timeout
    while not (path.exists() and path.read_text()):
        if time.monotonic() > deadline:
            pytest.fail(f"{path} was not written within {timeout} s")
        time.sleep(0.05)
    return path.read_text()


def test_top_shows_the_provoked_denial_and_q_restores_the_terminal(admin_pc, topo, proxy,
                                                                    tmux, workdir):
    pc = admin_pc
    p = proxy(ENTRIES, "--admin", ADMIN)
    # Bytes are surely counted once a connection closed: one closed after
    # 5,000 bytes each way, one left open (active) that moved none.
    open_echo(topo, b"x" * 5000).close()
    echo = open_echo(topo, b"")
    try:
        provoke_denial(topo)
        wait_denial(p, topo, pc)
        after, errlog = workdir / "stty-after", workdir / "top.err"
        tmux.start(160, 40, "TZ=UTC")
        argv = " ".join(topo.pod.argv(pc.binary, "top", "--admin", ADMIN, "-d", "0.5"))
        tmux.type(f'{argv} 2>{errlog}; echo "exit=$?"; stty -a >{after}')
        screen = tmux.wait(lambda s: "hint: " + HINT in s and "4.9KiB   4.9KiB" in s,
                           "the denial's hint and the echo destination's bytes")
        lines = screen.splitlines()
        assert lines[0].startswith(f"portcullis top - http://{ADMIN} - up "), screen
        assert "policy generation " in lines[0] and "denied 1," in lines[0], screen
        row = [ln for ln in lines if f"{DENIED}:3306" in ln]
        assert len(row) == 1, screen
        assert row[0].split()[3:] == ["mysql"] + REASON.split(), screen
        echo_row = [ln.split() for ln in lines if ln.startswith(ECHO_HOST + " ")]
        assert len(echo_row) == 1, screen
        assert echo_row[0][:3] == [ECHO_HOST, NS, ECHO_CLUSTER], screen
        assert echo_row[0][3:5] == ["2", "1"], screen  # allowed, active
        assert echo_row[0][8:] == ["4.9KiB", "4.9KiB"], screen  # 5,000 bytes each way
        assert tmux.var("alternate_on") == "1", "top draws on the alternate screen"
        assert tmux.var("cursor_flag") == "0", "top hides the cursor"

        tmux.type("q", enter=False)
        screen = tmux.wait(lambda s: "exit=0" in s, "top's exit after q", timeout=5)
        assert "DENIED AT" not in screen, "the view is still on the screen after q"
        assert tmux.var("alternate_on") == "0"
        assert tmux.var("cursor_flag") == "1"
        modes = wait_file(after).split()
        assert "icanon" in modes and "echo" in modes, modes
        err = errlog.read_text(errors="replace")
        for marker in SANITIZER_MARKERS:
            assert marker not in err, err
    finally:
        echo.close()


def test_connections_lists_the_open_connection(admin_pc, topo, proxy):
    pc = admin_pc
    p = proxy(ENTRIES, "--admin", ADMIN)
    echo = open_echo(topo, b"y" * 100)
    try:
        client = "%s:%d" % echo.getsockname()[:2]
        deadline = time.monotonic() + IO_TIMEOUT
        while True:  # the proxy may count the last bytes a moment after relaying them
            rc, out, err = pc.run("connections", "-o", "wide", "--admin", ADMIN,
                                  "--token-file", p.token_file, ns=topo.pod)
            assert rc == 0, f"{out}{err}\n{p.describe()}"
            rows = [ln.split() for ln in out.splitlines()[1:] if client in ln.split()]
            if (len(rows) == 1 and rows[0][7:9] == ["100", "100"]) or \
                    time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert out.splitlines()[0].split() == ["ID", "WORKER", "CLIENT", "DESTINATION",
                                               "UPSTREAM", "CLUSTER", "STATE", "RX", "TX",
                                               "AGE"]
        assert len(rows) == 1, out
        assert rows[0][2:9] == [client, f"{EXT_B}:{ECHO}", f"{EXT_B}:{ECHO}", ECHO_CLUSTER,
                                "established", "100", "100"], out
    finally:
        echo.close()


def test_top_and_connections_without_admin_endpoint(admin_pc, topo, proxy):
    """--admin off: both verbs say where they looked and how to point them elsewhere."""
    pc = admin_pc
    proxy(ENTRIES, "--admin", "off")
    for verb in ("top", "connections"):
        rc, out, err = pc.run(verb, "--admin", ADMIN, ns=topo.pod)
        assert (rc, out) == (1, ""), err
        assert err == (f"portcullis: cannot reach the admin endpoint at http://{ADMIN}: "
                       "Connection refused (is 'portcullis run' running with its admin "
                       "endpoint there? point at it with --admin ADDR or $PORTCULLIS_ADMIN)\n")
