# SPDX-License-Identifier: GPL-2.0-or-later
"""Fault injection through the proxy (issue 14, point 6): what the client sees,
and what the access log and the metrics say, when the other side misbehaves.

  - an upstream that resets mid-stream: the client gets a reset too, never a
    clean end of a truncated stream;
  - an upstream that never accepts (its accept queue full, SYNs dropped):
    connectTimeout ends the attempt, UF URX, the timeout counter grows;
  - half-open peers: an upstream that vanishes, and a client that vanishes,
    are closed by the idle timeout instead of holding the session for ever;
  - a client that stops reading while the server streams: the daemon buffers
    at most its pipes, its RSS stays flat, and every byte arrives later;
  - a resolver that never answers: the DNS destination is refused at once
    (UH), applies and scrapes do not wait for it;
  - SIGKILL under load: every transfer either completes with the right bytes
    or ends in an error on both sides, never a clean truncated end; the
    restarted daemon enforces the same policy from its store.

The faults are made here: servers in the test's own ext-b namespace (sockets
created in it from this process), iptables DROP rules inside the test's
namespaces, SIGKILL of the daemon. Bounds are generous liveness bounds.
"""
import errno
import hashlib
import os
import re
import socket
import struct
import threading
import time

import topology
from test_proxy import (connect, connect_expect_closed, destination_rule, docs, expect_closed,
                        service_entry, tcp_policy_rule)
from topology import ECHO, EXT_B, POD_B, VIP_DNS, WHOAMI, XFER

RESETTER = 7020  # accepts, sends RESET_AFTER bytes, then resets (SO_LINGER 0)
NEVER = 7021  # listens with a full accept queue: never accepts
RESET_AFTER = 256 * 1024
IO_TIMEOUT = 15
NOWHERE_DNS = "203.0.113.99"  # routed to ext-a, which drops it: a resolver that never answers


def metric(p, name, **labels):
    """The sum of the samples of <name> in /metrics whose labels include <labels>."""
    status, _, body = p.admin("/metrics")
    assert status == 200, body[:300]
    total = 0.0
    for line in body.decode().splitlines():
        if not line.startswith(name) or line[len(name)] not in "{ ":
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


class NsServer:
    """A TCP server on ext-b:<port> run by a thread of this process; <handler>
    gets each accepted socket."""

    def __init__(self, topo, port, handler, backlog=16, accept=True):
        self.sock = topo.ext_b.socket(socket.AF_INET)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((EXT_B, port))
        self.sock.listen(backlog)
        self.handler = handler
        self.conns = []
        self.thread = None
        if accept:
            self.thread = threading.Thread(target=self.loop, daemon=True)
            self.thread.start()

    def loop(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)
            threading.Thread(target=self.handler, args=(c,), daemon=True).start()

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        for c in self.conns:
            c.close()


def reset_after(c):
    c.sendall(os.urandom(RESET_AFTER))
    time.sleep(0.2)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()


def read_all(s, limit=None):
    """Read until EOF: (bytes, None), or until an error: (bytes, errno name)."""
    got = bytearray()
    try:
        while True:
            data = s.recv(262144)
            if not data:
                return bytes(got), None
            got += data
    except OSError as e:
        return bytes(got), errno.errorcode.get(e.errno, str(e))


# -- an upstream that resets -------------------------------------------------------


def test_upstream_reset_mid_stream_is_a_reset_for_the_client(topo, proxy):
    host = "resetter.test.example"
    srv = NsServer(topo, RESETTER, reset_after)
    try:
        p = proxy(service_entry("resetter", host, [f"{EXT_B}/32"], [("tcp-r", RESETTER)]))
        s = connect(topo, EXT_B, RESETTER)
        with s:
            s.settimeout(IO_TIMEOUT)
            got, err = read_all(s)
            e = p.entry_for(s)
    finally:
        srv.close()
    assert len(got) <= RESET_AFTER
    assert err == "ECONNRESET", \
        f"the upstream reset after {RESET_AFTER} bytes; the client got {len(got)} bytes and " \
        f"{'a clean end of stream' if err is None else err}: a truncated stream must not end " \
        f"cleanly\n{e['line']}"
    assert e["upstream_cluster"] == f"outbound|{RESETTER}||{host}", e["line"]
    assert e["bytes_sent"] == len(got), e["line"]


# -- an upstream that never accepts --------------------------------------------------


def test_upstream_that_never_accepts_ends_at_connect_timeout(topo, proxy):
    host = "never.test.example"
    srv = NsServer(topo, NEVER, None, backlog=0, accept=False)
    fillers = []
    try:
        # Fill the accept queue from inside ext-b: further SYNs are dropped.
        for _ in range(3):
            f = topo.ext_b.socket(socket.AF_INET)
            f.setblocking(False)
            f.connect_ex((EXT_B, NEVER))
            fillers.append(f)
        time.sleep(0.3)
        p = proxy(docs(service_entry("never", host, [f"{EXT_B}/32"], [("tcp-n", NEVER)]),
                       destination_rule("never", host, "1s")))
        before = metric(p, "envoy_cluster_upstream_cx_connect_timeout_total")
        s, elapsed, how = connect_expect_closed(topo, EXT_B, NEVER, timeout=IO_TIMEOUT)
        with s:
            e = p.entry_for(s)
        after = metric(p, "envoy_cluster_upstream_cx_connect_timeout_total")
    finally:
        for f in fillers:
            f.close()
        srv.close()
    assert 0.8 <= elapsed < 6, f"closed after {elapsed:.2f} s ({how}); connectTimeout is 1s"
    assert e["flags"] == {"UF", "URX"}, e["line"]
    assert after == before + 1, f"connect timeouts {before} -> {after}"


# -- half-open peers ---------------------------------------------------------------


def test_upstream_that_vanishes_is_closed_by_the_idle_timeout(topo, proxy):
    """ext-b drops everything of an established session (a host that died
    without a reset): the client's bytes are never acknowledged. The idle timeout
    ends the session; without it the kernel would retransmit for 15 minutes."""
    host = "echo.test.example"
    p = proxy(docs(service_entry("echo", host, [f"{EXT_B}/32"], [("tcp-echo", ECHO)]),
                   tcp_policy_rule("echo", host, idleTimeout="1s")))
    s = connect(topo, EXT_B, ECHO)
    rules = [("INPUT", "-s"), ("OUTPUT", "-d")]
    try:
        with s:
            s.sendall(b"ping\n")
            assert s.recv(64) == b"ping\n"
            for chain, flag in rules:
                topo.ext_b.run("iptables", "-w", "-I", chain, flag, POD_B, "-j", "DROP")
            s.sendall(b"into the void\n")
            t0 = time.monotonic()
            how = expect_closed(s, send=b"", timeout=IO_TIMEOUT)
            elapsed = time.monotonic() - t0
            e = p.entry_for(s)
    finally:
        for chain, flag in rules:
            topo.ext_b.run("iptables", "-w", "-D", chain, flag, POD_B, "-j", "DROP",
                           check=False)
    assert elapsed < 8, f"half-open upstream held the session {elapsed:.1f} s ({how})"
    assert e["bytes_received"] == 5 + 14, e["line"]


def test_client_that_vanishes_is_closed_by_the_idle_timeout(topo, proxy):
    """The app's packets to the proxy vanish (dropped on the pod's loopback)
    while the upstream has nothing more to say: the idle timeout frees the
    session and its upstream connection."""
    host = "echo.test.example"
    p = proxy(docs(service_entry("echo", host, [f"{EXT_B}/32"], [("tcp-echo", ECHO)]),
                   tcp_policy_rule("echo", host, idleTimeout="1s")))
    s = connect(topo, EXT_B, ECHO)
    port = s.getsockname()[1]
    rule = ["INPUT", "-i", "lo", "-p", "tcp", "--sport", str(port), "-j", "DROP"]
    with s:
        s.sendall(b"ping\n")
        assert s.recv(64) == b"ping\n"
        topo.pod.run("iptables", "-w", "-I", *rule)
        try:
            s.sendall(b"lost\n")
            e = p.entry_for(s, timeout=8)
        finally:
            topo.pod.run("iptables", "-w", "-D", *rule, check=False)
    assert e["bytes_received"] == 5, e["line"]
    assert 1000 <= e["duration"] < 8000, e["line"]


# -- a client that stops reading -------------------------------------------------------


def rss(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_slow_reader_keeps_memory_flat(topo, proxy):
    """The server streams 256 MiB to a client that stops reading for 3 s: the
    daemon holds at most its pipe and socket buffers, then every byte arrives."""
    host = "xfer.test.example"
    down = 256 << 20
    p = proxy(service_entry("xfer", host, [f"{EXT_B}/32"], [("tcp-x", XFER)]))
    s = connect(topo, EXT_B, XFER)
    with s:
        s.settimeout(IO_TIMEOUT)
        s.sendall(f"XFER 0 {down}\n".encode())
        h, got = hashlib.sha256(), 0
        while got < (1 << 20):
            data = s.recv(65536)
            h.update(data)
            got += len(data)
        base = rss(p.proc.pid)
        time.sleep(3)
        stalled = rss(p.proc.pid)
        while got < down:
            data = s.recv(min(262144, down - got))
            assert data, f"EOF after {got} of {down} bytes"
            h.update(data)
            got += len(data)
        trailer = read_all(s)[0].decode().split()
    assert trailer[1] == h.hexdigest(), "the bytes that arrived are not the bytes sent"
    assert stalled - base < 16 << 20, \
        f"RSS grew {(stalled - base) >> 20} MiB while the client did not read"


# -- a resolver that never answers ------------------------------------------------------


def test_resolver_that_never_answers(topo, proxy):
    """A DNS entry whose resolver never answers: its connections are refused at
    once with UH (nothing to connect to), and applies and scrapes do not wait."""
    host = topology.DNS_NAME
    p = proxy(service_entry("dns", host, [VIP_DNS], [("tcp-who", WHOAMI)], resolution="DNS"),
              "--dns-server", NOWHERE_DNS)
    s, elapsed, how = connect_expect_closed(topo, VIP_DNS, WHOAMI, timeout=IO_TIMEOUT)
    with s:
        e = p.entry_for(s)
    assert elapsed < 5, f"refused after {elapsed:.2f} s ({how})"
    assert "UH" in e["flags"], e["line"]
    t0 = time.monotonic()
    status, body = p.api_apply([("x.yaml", service_entry(
        "other", "other.test.example", ["203.0.113.100"], [("tcp", 10001)]))])
    assert status in (200, 201), body
    status, _, _ = p.admin("/metrics")
    assert status == 200
    assert time.monotonic() - t0 < 5, "apply and scrape waited for the resolver"


# -- SIGKILL under load -------------------------------------------------------------------


def transfer(topo, up, down, results, k, started):
    """XFER <up> <down> through the proxy; appends (k, outcome) to <results>:
    "ok", "error:ERRNO", or "truncated:..." (a clean end with bytes missing)."""
    sent, got = hashlib.sha256(), hashlib.sha256()
    n = 0
    try:
        s = connect(topo, EXT_B, XFER, timeout=IO_TIMEOUT)
        with s:
            s.sendall(f"XFER {up} {down}\n".encode())
            started.release()
            chunk = os.urandom(65536)
            left = up
            while left > 0:
                piece = chunk[:min(left, len(chunk))]
                s.sendall(piece)
                sent.update(piece)
                left -= len(piece)
            body, err = read_all(s)
    except OSError as e:
        results.append((k, f"error:{errno.errorcode.get(e.errno, str(e))}"))
        return
    if err:
        results.append((k, f"error:{err}"))
        return
    got.update(body[:down])
    n = len(body)
    want = f"{sent.hexdigest()} {got.hexdigest()}\n".encode()
    if n >= down and body[down:] == want:
        results.append((k, "ok"))
    else:
        results.append((k, f"truncated:{n} of {down} bytes then a clean end"))


def test_sigkill_under_load_is_never_a_clean_end(topo, proxy):
    host = "xfer.test.example"
    p = proxy(service_entry("xfer", host, [f"{EXT_B}/32"], [("tcp-x", XFER)]))
    results, started, threads = [], threading.Semaphore(0), []
    # Downloads only and uploads only: a socket with unread bytes is reset by
    # the kernel anyway when its process dies, so transfers both ways at once
    # would hide a clean close of the other kind.
    for k in range(16):
        up, down = (0, 512 << 20) if k % 2 else (512 << 20, 1)
        t = threading.Thread(target=transfer, args=(topo, up, down, results, k, started),
                             daemon=True)
        t.start()
        threads.append(t)
    for _ in threads:
        assert started.acquire(timeout=IO_TIMEOUT), "a transfer did not start"
    time.sleep(0.5)
    p.kill9()
    for t in threads:
        t.join(IO_TIMEOUT * 2)
    bad = [r for r in results if r[1].startswith("truncated")]
    assert len(results) == 16, results
    assert not bad, f"after SIGKILL these transfers ended cleanly with bytes missing: {bad}"
    # The server side: an upload cut by the crash must end in a reset, not an EOF.
    server_eofs = [ln for ln in topo.servers["ext-b"].text().splitlines()
                   if re.search(r"error ext-b 7002 .*EOF with", ln)]
    assert not server_eofs, "servers.py saw a clean end of a cut upload:\n" + \
        "\n".join(server_eofs)
    p.restart()
    s = connect(topo, EXT_B, XFER)
    with s:
        s.sendall(b"XFER 5 5\n12345")
        body, err = read_all(s)
    assert err is None and len(body) > 5, f"after the restart: {body!r} {err}"
