# SPDX-License-Identifier: GPL-2.0-or-later
"""Faults on the data path (issue 14): out of descriptors, and a proxy killed mid-transfer.

* Out of descriptors (the proxy's RLIMIT_NOFILE at 200 from its start):
  silent TLS clients parked in the preread hold one
  descriptor each until there are none; then the proxy must not spin (CPU
  well below one core while clients keep arriving), clients past the limit
  get a reset rather than a hang (at the DNS proxy's TCP port too), the pauses are counted
  (portcullis_accept_errors_total) and logged a bounded number of times, a
  session opened before keeps relaying, and once the hogs are gone new
  connections work again without anyone's help.
* SIGKILL mid-transfer, download and upload: the peers see a reset, never
  a clean end of stream (SO_LINGER {1,0} on both proxied sockets while the
  relay runs, doc/proxy.md).

Every test makes its own fault (prlimit, kill -9) in its own namespaces
(topology.py) and the fixtures clean up.
"""
import errno
import os
import re
import resource
import socket
import threading
import time

from test_proxy import connect, docs, echo_roundtrip
from topology import ECHO, EXT_B

NS = "egress-test"
IO_TIMEOUT = 10  # seconds for any single socket operation (a hang guard)
NOFILE = 200  # the proxy's descriptor limit while exhausted
HOGS = 260  # silent clients: more than NOFILE descriptors' worth
CPU_WINDOW = 3.0  # seconds over which the proxy's CPU is measured
# Of one core. A spinning worker takes what the scheduler gives it (59 % on a busy
# 2-core machine, 114-131 % in the issue); paused, the proxy takes about 0 %.
CPU_MAX = 0.25
PROBE_EVERY = 0.1  # seconds between clients arriving while exhausted
RESET_WITHIN = 5.0  # seconds: a client past the limit is reset by then (not left hanging)
WARN_MAX = 12  # warning lines about accept at most (rate-limited: a few per 10 s)
TLS_PORT = 443
DNS_TCP = ("127.0.0.1", 15053)  # the DNS proxy's default --dns-listen, in the pod
KILL_PORT = 7100  # the kill -9 tests' own server in ext-b
KILL_AFTER = 8 << 20  # bytes through the proxy before it is killed
CHUNK = 256 * 1024
CLK_TCK = os.sysconf("SC_CLK_TCK")


def service_entry(name, host, addresses, ports, protocol="TCP"):
    lines = ["apiVersion: networking.istio.io/v1", "kind: ServiceEntry", "metadata:",
             f"  name: {name}", f"  namespace: {NS}", "spec:", "  hosts:", f"  - \"{host}\""]
    if addresses:
        lines.append("  addresses:")
        lines += [f'  - "{a}"' for a in addresses]
    lines.append("  ports:")
    for pname, number in ports:
        lines += [f"  - name: {pname}", f"    number: {number}", f"    protocol: {protocol}"]
    lines += ["  location: MESH_EXTERNAL", "  resolution: NONE"]
    return "\n".join(lines) + "\n"


def pod_socket(topo):
    s = topo.pod.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(IO_TIMEOUT)
    return s


def cpu_seconds(pid):
    """utime + stime of every thread of <pid>, in seconds (/proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def how_it_ends(s, timeout):
    """'reset', 'eof', 'data' or 'hang': what <s> reads within <timeout>."""
    s.settimeout(timeout)
    try:
        data = s.recv(4096)
    except ConnectionResetError:
        return "reset"
    except socket.timeout:
        return "hang"
    return "data" if data else "eof"


def prometheus_value(text, name, labels=""):
    rx = re.compile(rf"^{re.escape(name + labels)} (\S+)$", re.M)
    m = rx.search(text)
    assert m, f"no {name}{labels} in the metrics"
    return float(m.group(1))


def start_hogs(topo, n):
    """<n> non-blocking connects to a TLS port, each left silent in the preread."""
    hogs = topo.pod.sockets(n)
    for s in hogs:
        s.setblocking(False)
        rc = s.connect_ex((EXT_B, TLS_PORT))
        assert rc in (0, errno.EINPROGRESS), os.strerror(rc)
    return hogs


def test_out_of_descriptors_pauses_never_spins(pc, topo, proxy, monkeypatch):
    # The limit is set at exec (prlimit --pid on the running proxy needs CAP_SYS_RESOURCE
    # over a process that changed its uid, which a container may not grant).
    limits = pc.limits

    def limits_and_nofile():
        limits()
        resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, NOFILE))

    monkeypatch.setattr(pc, "limits", limits_and_nofile)
    p = proxy(docs(service_entry("echo", "echo.test.example", [f"{EXT_B}/32"],
                                 [("tcp-echo", ECHO)]),
                   service_entry("tls", "*.example.com", [], [("https", TLS_PORT)],
                                 protocol="TLS")),
              "--concurrency", "1", "--protocol-detection-timeout", "60s")
    pid = p.proc.pid
    before = connect(topo, EXT_B, ECHO)  # a session from before: it must keep relaying
    hogs, probes = [], []
    try:
        echo_roundtrip(before, b"before the limit\n")
        assert open_fds(pid) < NOFILE - 50, f"{open_fds(pid)} fds open before the hogs"
        hogs = start_hogs(topo, HOGS)
        deadline = time.monotonic() + IO_TIMEOUT
        while open_fds(pid) < NOFILE - 1:
            assert time.monotonic() < deadline, \
                f"the proxy holds only {open_fds(pid)} fds after {HOGS} clients"
            time.sleep(0.05)

        # Clients keep arriving while there are no descriptors: at the proxy port, then
        # at the DNS proxy's TCP port (one listener at a time: two threads doing the
        # reserve's trick at the same moment may take each other's freed slot, and the
        # one that loses it pauses without resetting until a descriptor frees up).
        for dst, window in (((EXT_B, ECHO), CPU_WINDOW), (DNS_TCP, CPU_WINDOW / 2)):
            arrived = []
            t0, c0 = time.monotonic(), cpu_seconds(pid)
            while time.monotonic() - t0 < window:
                s = pod_socket(topo)
                s.setblocking(False)
                s.connect_ex(dst)
                arrived.append(s)
                probes.append(s)
                time.sleep(PROBE_EVERY)
            used = (cpu_seconds(pid) - c0) / (time.monotonic() - t0)
            assert used < CPU_MAX, \
                f"the proxy used {used:.0%} of a core while out of descriptors (a spin; " \
                f"clients to {dst})"
            # The clients past the limit were reset, not left waiting in the backlog.
            deadline = time.monotonic() + RESET_WITHIN  # for all of them together
            ends = [how_it_ends(s, max(0.01, deadline - time.monotonic())) for s in arrived]
            assert ends.count("reset") == len(arrived), f"clients to {dst}: {ends}"
        # The session from before still relays, 1 MiB each way.
        echo_roundtrip(before, os.urandom(1 << 20))
    finally:
        for s in hogs + probes:
            s.close()

    # Recovery needs nobody: the hogs gone, a new connection works.
    deadline = time.monotonic() + IO_TIMEOUT
    while True:
        try:
            with connect(topo, EXT_B, ECHO) as s:
                echo_roundtrip(s, b"after the hogs\n")
            break
        except (ConnectionError, AssertionError, socket.timeout):
            assert time.monotonic() < deadline, "no new connection works after the hogs left"
            time.sleep(0.1)
    echo_roundtrip(before, b"still there\n")
    before.close()

    status, _, body = p.admin("/stats/prometheus")
    assert status == 200, body[:300]
    text = body.decode()
    assert prometheus_value(text, "portcullis_accept_errors_total", '{reason="EMFILE"}') >= 1
    assert prometheus_value(text, "portcullis_dns_overload_total") >= 1
    warns = [ln for ln in p.stderr().splitlines() if "cannot accept connections" in ln]
    assert 1 <= len(warns) <= WARN_MAX, f"{len(warns)} accept warnings:\n" + "\n".join(warns[:20])
    assert all("level=warn" in ln and "err=EMFILE" in ln for ln in warns), warns[:3]
    assert any("listener=proxy" in ln for ln in warns) and \
        any("listener=dns" in ln for ln in warns), warns


# -- SIGKILL mid-transfer -------------------------------------------------------------


class Server:
    """A one-connection server in ext-b on KILL_PORT, run by a thread of this process."""

    def __init__(self, topo, handler):
        self.ls = topo.ext_b.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind((EXT_B, KILL_PORT))
        self.ls.listen(4)
        self.ls.settimeout(IO_TIMEOUT)
        self.handler = handler
        self.outcome = None
        self.moved = 0
        self.conn = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            self.conn, _ = self.ls.accept()
            self.conn.settimeout(IO_TIMEOUT)
            self.outcome = self.handler(self)
        except ConnectionResetError:
            self.outcome = "reset"
        except BrokenPipeError:
            self.outcome = "broken pipe"
        except BaseException as e:  # reported by the test
            self.outcome = repr(e)

    def join(self):
        self.thread.join(IO_TIMEOUT + 5)
        assert not self.thread.is_alive(), "the server thread hangs"
        return self.outcome

    def close(self):
        for s in (self.conn, self.ls):
            if s is not None:
                s.close()


def wait_for(pred, what):
    deadline = time.monotonic() + IO_TIMEOUT
    while not pred():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def kill_entry():
    return service_entry("bulk", "bulk.test.example", [f"{EXT_B}/32"], [("tcp-bulk", KILL_PORT)])


def test_sigkill_mid_download_resets_the_client(topo, proxy):
    def source(srv):
        block = b"\0" * CHUNK
        while True:  # until the proxy is gone
            srv.conn.sendall(block)
            srv.moved += len(block)

    p = proxy(kill_entry(), "--concurrency", "1")
    srv = Server(topo, source)
    client = None
    try:
        client = connect(topo, EXT_B, KILL_PORT)
        got = 0
        while got < KILL_AFTER:
            data = client.recv(CHUNK)
            assert data, f"EOF after {got} bytes, before the kill"
            got += len(data)
        p.kill9()
        end = None
        while end is None:
            try:
                if not client.recv(CHUNK):
                    end = "eof"
            except ConnectionResetError:
                end = "reset"
        assert end == "reset", "the client read a clean end of stream from a killed proxy"
        assert srv.join() in ("reset", "broken pipe"), srv.outcome
    finally:
        if client is not None:
            client.close()
        srv.close()


def test_sigkill_mid_upload_resets_the_server(topo, proxy):
    def sink(srv):
        while True:
            data = srv.conn.recv(CHUNK)
            if not data:
                return "eof"
            srv.moved += len(data)

    p = proxy(kill_entry(), "--concurrency", "1")
    srv = Server(topo, sink)
    client = None
    sent = {"error": None}

    def upload():
        block = b"\1" * CHUNK
        try:
            while True:
                client.sendall(block)
        except OSError as e:
            sent["error"] = e.errno

    try:
        client = connect(topo, EXT_B, KILL_PORT)
        t = threading.Thread(target=upload, daemon=True)
        t.start()
        wait_for(lambda: srv.moved >= KILL_AFTER, f"{KILL_AFTER} bytes at the server")
        p.kill9()
        assert srv.join() == "reset", \
            f"the server saw {srv.outcome!r} after {srv.moved} bytes: a cut upload must not " \
            "end like a complete one"
        t.join(IO_TIMEOUT + 5)
        assert not t.is_alive(), "the client still sends to a killed proxy"
        assert sent["error"] in (errno.ECONNRESET, errno.EPIPE), os.strerror(sent["error"] or 0)
    finally:
        if client is not None:
            client.close()
        srv.close()
