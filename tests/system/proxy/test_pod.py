# SPDX-License-Identifier: GPL-2.0-or-later
"""One proxy per pod, and nobody else receives captured traffic (issue 12).

The real binary in the topology of topology.py (a pod and two external
hosts, `portcullis iptables` installed in the pod by the topo fixture):
* a second `portcullis run` with the same proxy port in the same pod is
  refused with a message naming the first one's pid, and the first keeps
  working; a run in another network namespace starts;
* the proxy port cannot be reached from outside the pod (it listens on
  loopback only), even with the filter guard gone, while captured traffic
  still flows;
* with the proxy stopped, an unprivileged squatter (uid 65534) that binds
  the proxy port receives no captured connection (the guard resets them),
  and a proxy started while the squatter holds the port (or its pod lock)
  refuses to start and names the squatter's pid and uid; a proxy that
  cannot mark its listeners IP_TRANSPARENT says so, and fails closed;
* an established connection survives `portcullis iptables` being
  installed and then removed under it (only SYNs are redirected).
"""
import errno
import os
import signal
import socket
import subprocess
import time
import types

import pytest

import topology
from portcullis_test.daemon import Proxy, client_addr
from topology import ECHO, EXT_B, EXT_B6, POD_A, POD_B6

PYTHON = "/usr/bin/python3"
NOBODY = 65534
PROXY_UID = 1337
IO_TIMEOUT = 10  # seconds for any single socket operation (a hang guard)
PORT = 15001
NS = "egress-test"
LOCK_TAKEN = "another portcullis run already serves this proxy port in this network namespace"
PORT_TAKEN = "the proxy port is held by another process"

ECHO_SE = f"""apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: echo
  namespace: {NS}
spec:
  hosts:
  - echo.test.example
  addresses:
  - "{EXT_B}/32"
  - "{EXT_B6}/128"
  ports:
  - name: echo
    number: {ECHO}
    protocol: TCP
  location: MESH_EXTERNAL
  resolution: NONE
"""
CLUSTER = f"outbound|{ECHO}||echo.test.example"

# Listens on ADDR:PORT (as whoever runs it); prints "ready", then "accept PEER"
# per connection, to which it answers "squatter".
SQUATTER = r"""
import socket, sys
host, port = sys.argv[1], int(sys.argv[2])
if host == "@lock":  # the proxy's pod lock (an abstract Unix socket), not the port
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind("\0portcullis/proxy/%d" % port)
else:
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    s.bind((host, port))
s.listen(64)
print("ready", flush=True)
while True:
    c, peer = s.accept()
    print("accept %s" % (peer[0] if peer else "-",), flush=True)
    c.sendall(b"squatter\n")
    c.close()
"""


# -- helpers --------------------------------------------------------------------------

def run_args(workdir, tag):
    """The options of a `portcullis run` that shares nothing with the fixture's."""
    return ["run", "--state-dir", workdir / f"state-{tag}", "--api-socket",
            workdir / f"api-{tag}.sock", "--admin", "off", "--proxy-port", PORT]


def app_connect(ns, host, port, timeout=IO_TIMEOUT):
    """A socket of the app in <ns>, connected to <host>:<port>."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = ns.socket(family)
    s.settimeout(timeout)
    try:
        s.connect((host, port))
    except BaseException:
        s.close()
        raise
    return s


def echo(s, payload=None):
    """Data both ways: <payload> out, the same bytes back from the echo server."""
    payload = payload or os.urandom(2048)
    s.sendall(payload)
    got = bytearray()
    while len(got) < len(payload):
        data = s.recv(65536)
        assert data, f"EOF after {len(got)} of {len(payload)} echoed bytes"
        got += data
    assert bytes(got) == payload, "the echo returned other bytes"


def close_clean(s):
    s.shutdown(socket.SHUT_WR)
    assert s.recv(16) == b""
    s.close()


def assert_refused(ns, host, port):
    """A connection from <ns> to <host>:<port> is refused (RST), quickly."""
    try:
        s = app_connect(ns, host, port, timeout=3)
    except ConnectionRefusedError:
        return
    except socket.timeout:
        pytest.fail(f"{host}:{port}: no answer at all, expected a reset")
    with s:
        s.sendall(b"hello\n")
        try:
            data = s.recv(64)
        except (ConnectionResetError, BrokenPipeError):
            data = b""
    pytest.fail(f"{host}:{port} accepted the connection (it answered {data!r})")


class Squatter:
    """SQUATTER in the pod as uid/gid 65534, bound to <host>:PORT."""

    def __init__(self, ns, log, host):
        self.log = log
        self.fp = open(log, "wb")
        self.proc = subprocess.Popen(
            ns.argv("setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                    PYTHON, "-c", SQUATTER, host, PORT),
            stdout=self.fp, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + topology.CMD_TIMEOUT
        while b"ready" not in self.text():
            assert self.proc.poll() is None, f"the squatter died\n{self.text()!r}"
            assert time.monotonic() < deadline, "the squatter is not ready"
            time.sleep(0.02)

    def text(self):
        return open(self.log, "rb").read()

    def accepts(self):
        return [ln for ln in self.text().decode().splitlines() if ln.startswith("accept")]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=topology.CMD_TIMEOUT)
        self.fp.close()


@pytest.fixture
def squatter(topo, workdir):
    started = []

    def start(host):
        s = Squatter(topo.pod, workdir / f"squatter{len(started)}.log", host)
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()


@pytest.fixture
def uncaptured(pc, workdir):
    """The topology of topology.py without `portcullis iptables` (installed by the test)."""
    t = topology.Topology(workdir)
    try:
        t.build()
        yield t
    finally:
        t.destroy()


# -- one proxy per pod ------------------------------------------------------------------

def test_second_run_in_the_same_pod_is_refused(pc, topo, proxy, workdir):
    first = proxy(ECHO_SE)
    r = pc.run(*run_args(workdir, "second"), ns=topo.pod)
    assert r.rc == 1, f"a second run in the pod started\n{r}"
    assert LOCK_TAKEN in r.err, r
    assert f"pid={first.proc.pid} " in r.err, r
    assert "port=15001" in r.err, r

    # The first is untouched: it still serves captured connections, all of them.
    for _ in range(10):
        s = app_connect(topo.pod, EXT_B, ECHO)
        addr = client_addr(s)
        echo(s)
        close_clean(s)
        assert first.entry_for_addr(addr)["upstream_cluster"] == CLUSTER
    first.assert_running()


def test_second_run_touches_nothing_of_the_first(pc, topo, proxy, workdir):
    """The pod lock is taken before anything else: a second run given the
    first's API socket path (and a store of its own) refuses on the lock, with
    the message that says why, not on whatever it met first, and the first's
    socket stays."""
    first = proxy(ECHO_SE)
    r = pc.run("run", "--state-dir", workdir / "state-second", "--api-socket", first.api_socket,
               "--admin", "off", "--proxy-port", PORT, ns=topo.pod)
    assert r.rc == 1 and LOCK_TAKEN in r.err, r
    rc, out, err = first.cli("get", "se", "-n", NS, "-o", "name")
    assert rc == 0 and "echo" in out, f"the first's API socket is gone: {rc}\n{out}{err}"
    first.assert_running()


def test_run_in_another_pod_starts(pc, topo, proxy, bare_ns, workdir):
    proxy(ECHO_SE)
    other = Proxy(pc, types.SimpleNamespace(pod=bare_ns), workdir, [ECHO_SE], [], "-", "text")
    try:
        other.wait_ready()
    finally:
        other.stop()


# -- the proxy port is the pod's --------------------------------------------------------

def test_proxy_port_unreachable_from_outside(topo, proxy):
    p = proxy(ECHO_SE)
    # from ext-a and ext-b, over the veths, to the pod's addresses
    assert_refused(topo.ext_a, POD_A, PORT)
    assert_refused(topo.ext_b, POD_B6, PORT)
    # Not the guard's doing alone: without it the port is still loopback only.
    for tool in ("iptables", "ip6tables"):
        topo.pod.run(tool, "-w", "-F", "PORTCULLIS_GUARD")
    assert_refused(topo.ext_a, POD_A, PORT)
    assert_refused(topo.ext_b, POD_B6, PORT)
    assert_refused(topo.pod, POD_A, PORT)  # the pod's own address, not captured either

    # Captured traffic still flows, both families.
    for host in (EXT_B, EXT_B6):
        s = app_connect(topo.pod, host, ECHO)
        addr = client_addr(s)
        echo(s)
        close_clean(s)
        assert p.entry_for_addr(addr)["upstream_cluster"] == CLUSTER


# -- nobody takes the proxy's place ------------------------------------------------------

@pytest.mark.parametrize("host", ["127.0.0.1", "::"], ids=["loopback", "wildcard"])
def test_squatter_receives_no_captured_connection(pc, topo, squatter, workdir, host):
    sq = squatter(host)
    for dst in (EXT_B, EXT_B6):
        assert_refused(topo.pod, dst, ECHO)
    assert sq.accepts() == [], "the squatter received captured connections"

    # The proxy will not start beside it, and says who holds the port.
    r = pc.run(*run_args(workdir, "late"), ns=topo.pod)
    assert r.rc == 1, f"the proxy started while a squatter holds its port\n{r}"
    assert PORT_TAKEN in r.err, r
    assert f"pid={sq.proc.pid} " in r.err and f"uid={NOBODY} " in r.err, r
    assert "comm=python3" in r.err, r
    assert sq.accepts() == []


def test_squatter_on_the_pod_lock_is_named(pc, topo, squatter, workdir):
    """Anyone may bind the lock's abstract name first: the proxy then refuses to
    start (fail closed: the guard refuses captured connections meanwhile) and
    names the process, saying that it is not a portcullis run."""
    sq = squatter("@lock")
    r = pc.run(*run_args(workdir, "late"), ns=topo.pod)
    assert r.rc == 1, f"the proxy started while a squatter holds its lock\n{r}"
    assert "held by a process that is not portcullis" in r.err, r
    assert f"pid={sq.proc.pid} " in r.err and f"uid={NOBODY} " in r.err, r
    assert_refused(topo.pod, EXT_B, ECHO)


def test_proxy_started_after_the_squatter_left_gets_the_traffic(topo, proxy, squatter):
    sq = squatter("127.0.0.1")
    assert_refused(topo.pod, EXT_B, ECHO)
    sq.stop()
    p = proxy(ECHO_SE)
    s = app_connect(topo.pod, EXT_B, ECHO)
    addr = client_addr(s)
    echo(s)
    close_clean(s)
    assert p.entry_for_addr(addr)["upstream_cluster"] == CLUSTER
    assert sq.accepts() == []


def test_proxy_without_cap_net_admin_says_so_and_fails_closed(pc, topo, workdir):
    """Started as uid 1337 rather than root, the proxy cannot mark its listeners
    IP_TRANSPARENT: it says so at err when it starts, and the guard then refuses
    every captured connection (never delivers it to an unmarked socket)."""
    home = workdir / "unprivileged"
    home.mkdir(mode=0o755)
    os.chown(home, PROXY_UID, PROXY_UID)
    conf = home / "echo.yaml"
    conf.write_text(ECHO_SE)
    conf.chmod(0o644)
    err = open(home / "stderr", "wb")
    proc = subprocess.Popen(
        topo.pod.argv("setpriv", f"--reuid={PROXY_UID}", f"--regid={PROXY_UID}",
                      "--clear-groups", pc.binary, "run", "--config", conf, "--state-dir",
                      home / "state", "--api-socket", home / "api.sock", "--admin", "off",
                      "--proxy-port", PORT),
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
    try:
        deadline = time.monotonic() + topology.CMD_TIMEOUT
        while "msg=ready" not in (home / "stderr").read_text():
            assert proc.poll() is None, (home / "stderr").read_text()
            assert time.monotonic() < deadline, (home / "stderr").read_text()
            time.sleep(0.02)
        text = (home / "stderr").read_text()
        assert "level=err msg=\"cannot make the proxy listeners IP_TRANSPARENT" in text, text
        assert "will refuse every captured connection" in text, text
        assert_refused(topo.pod, EXT_B, ECHO)
    finally:
        proc.terminate()
        proc.wait(timeout=topology.CMD_TIMEOUT)
        err.close()


# -- the capture never breaks what is open -----------------------------------------------

def test_established_connection_survives_capture_install_and_removal(pc, uncaptured, workdir):
    """The app's connection, open before the capture, keeps working (data both ways)
    after `portcullis iptables` and after `--cleanup`: conntrack picks it up
    mid-stream once the first nat rule exists, and only a SYN is redirected.
    (A connection redirected to the proxy needs conntrack's NAT state to the
    end, which the kernel drops with the last rule that uses conntrack: see
    doc/iptables.md. So it is closed before the cleanup here.)"""
    t = uncaptured
    p = Proxy(pc, t, workdir, [ECHO_SE], [], "-", "text")
    try:
        p.wait_ready()
        before = app_connect(t.pod, EXT_B, ECHO)  # straight to the server: no capture yet
        before_addr = client_addr(before)
        echo(before)

        r = pc.run("iptables", ns=t.pod)
        assert r.rc == 0, r
        for _ in range(3):  # every packet after the install, both ways
            echo(before)
        during = app_connect(t.pod, EXT_B, ECHO)  # a new connection is captured
        during_addr = client_addr(during)
        echo(during)
        echo(before)
        close_clean(during)
        assert p.entry_for_addr(during_addr)["upstream_cluster"] == CLUSTER

        r = pc.run("iptables", "--cleanup", ns=t.pod)
        assert r.rc == 0, r
        for _ in range(3):
            echo(before)
        after = app_connect(t.pod, EXT_B, ECHO)  # not captured any more
        after_addr = client_addr(after)
        echo(after)
        echo(before)
        for s in (before, after):
            close_clean(s)
        time.sleep(0.2)
        logged = {e["downstream_remote_address"] for e in p.entries()}
        assert before_addr not in logged and after_addr not in logged, logged
    except (ConnectionResetError, BrokenPipeError) as e:
        pytest.fail(f"an open connection broke: {errno.errorcode.get(e.errno, e)}")
    finally:
        p.stop()
