# SPDX-License-Identifier: GPL-2.0-or-later
"""System tests of `portcullis run`: a sidecar in a pod namespace, captured by
`portcullis iptables`, relaying the app's outbound TCP to external hosts in
their own namespaces (topology.py) according to Istio resources.

The test process is the app: it opens its sockets inside the pod namespace,
so every connect() below goes through the NAT OUTPUT redirect to the proxy.
Each test gets a fresh topology and proxy; the proxy fixture fails the test
if the proxy does not exit 0 on SIGTERM or logs an unexpected level=err line.
"""
import errno
import hashlib
import json
import os
import re
import resource
import selectors
import socket
import threading
import time

import pytest

import servers
from topology import (BANNER, BLACKHOLE, DNS_NAME, ECHO, EXT_A, EXT_B, EXT_B2, EXT_B6,
                      EXT_B6_2, HALFCLOSE, POD_B, REFUSE, VIP_DNS, VIP_STATIC, WHOAMI, XFER)

NS = "egress-test"
DENY_WITHIN = 0.100  # seconds: a denied connection is reset at once
IO_TIMEOUT = 10  # seconds for any single socket operation (a hang guard)
MB100 = 100 * 1000 * 1000
CHUNK = 256 * 1024
START_TIME_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")  # Envoy's default

# -- resources -----------------------------------------------------------------


def service_entry(name, host, addresses, ports, resolution="NONE", endpoints=()):
    """A ServiceEntry; <ports> is a list of (name, number) with protocol TCP."""
    lines = ["apiVersion: networking.istio.io/v1", "kind: ServiceEntry", "metadata:",
             f"  name: {name}", f"  namespace: {NS}", "spec:", "  hosts:", f"  - {host}"]
    if addresses:
        lines.append("  addresses:")
        lines += [f'  - "{a}"' for a in addresses]
    lines.append("  ports:")
    for pname, number in ports:
        lines += [f"  - name: {pname}", f"    number: {number}", "    protocol: TCP"]
    lines += ["  location: MESH_EXTERNAL", f"  resolution: {resolution}"]
    if endpoints:
        lines.append("  endpoints:")
        lines += [f'  - address: "{a}"' for a in endpoints]
    return "\n".join(lines) + "\n"


def destination_rule(name, host, connect_timeout):
    return (f"apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata:\n"
            f"  name: {name}\n  namespace: {NS}\nspec:\n  host: {host}\n"
            f"  trafficPolicy:\n    connectionPool:\n      tcp:\n"
            f"        connectTimeout: {connect_timeout}\n")


def sidecar(mode):
    """A selector-less Sidecar in the root namespace: it applies to every workload."""
    return ("apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata:\n"
            "  name: default\n  namespace: istio-system\nspec:\n"
            f"  outboundTrafficPolicy:\n    mode: {mode}\n")


def docs(*texts):
    return "---\n".join(texts)


# Something to load when a test wants no ServiceEntry for its destination:
# an empty config is an error (`no objects found`), so declare an unrelated one.
UNRELATED = service_entry("unrelated", "unrelated.test.example", ["203.0.113.99/32"],
                          [("tcp", 9999)])


def cluster(port, host):
    return f"outbound|{port}||{host}"


def hp(host, port):
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# -- the app side ----------------------------------------------------------------


def app_socket(topo, host, timeout=IO_TIMEOUT):
    """A TCP socket in the pod, bound to the source address the route to <host> picks.

    Binding first keeps the local port known even when a reset ends the
    connection inside connect() (an unbound socket loses its port then), so
    the access-log line can always be found by the app's address."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with topo.pod.entered():
        probe = socket.socket(family, socket.SOCK_DGRAM)
        try:
            probe.connect((host, 9))
            src = probe.getsockname()[0]
        finally:
            probe.close()
        s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.bind((src, 0))
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


def read_until_eof(s, limit=1 << 20):
    out = bytearray()
    while len(out) <= limit:
        data = s.recv(65536)
        if not data:
            return bytes(out)
        out += data
    raise AssertionError(f"more than {limit} bytes before EOF")


def expect_closed(s, send=b"hello\n", timeout=IO_TIMEOUT):
    """Send <send>, then wait for EOF or a reset; return how it ended.

    Any payload bytes arriving first are a failure: nothing may get through."""
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


def connect_expect_closed(topo, host, port, timeout=IO_TIMEOUT):
    """Connect to <host>:<port> and wait until the proxy closes the connection.

    Returns (socket, seconds from connect() to the close, how). The proxy
    may reset the connection so fast that connect() itself reports it."""
    s = app_socket(topo, host, timeout)
    t0 = time.monotonic()
    try:
        s.connect((host, port))
    except ConnectionResetError:
        how = "ECONNRESET in connect()"
    except BaseException:
        s.close()
        raise
    else:
        how = expect_closed(s, timeout=timeout)
    return s, time.monotonic() - t0, how


def assert_denied(topo, proxy, host, port):
    """The connection is closed at once and logged as BlackHoleCluster UH."""
    before = [a for a in topo.accepts("ext-b") + topo.accepts("ext-a") if a[0] == port]
    s, elapsed, how = connect_expect_closed(topo, host, port)
    with s:
        e = proxy.entry_for(s)
    assert elapsed < DENY_WITHIN, \
        f"denied connection to {hp(host, port)} took {elapsed * 1000:.1f} ms to close ({how})"
    assert e["upstream_cluster"] == "BlackHoleCluster", e["line"]
    assert e["flags"] == {"UH"}, e["line"]
    assert e["downstream_local_address"] == hp(host, port), e["line"]
    assert (e["bytes_received"], e["bytes_sent"]) == (0, 0), e["line"]
    after = [a for a in topo.accepts("ext-b") + topo.accepts("ext-a") if a[0] == port]
    assert after == before, f"a denied connection reached a server: {after[len(before):]}"
    return e


def echo_roundtrip(s, payload):
    s.sendall(payload)
    got = bytearray()
    while len(got) < len(payload):
        data = s.recv(65536)
        assert data, f"EOF after {len(got)} of {len(payload)} echoed bytes"
        got += data
    assert bytes(got) == payload, "echo returned different bytes"


def assert_allowed_echo(topo, proxy, host, port, cluster_name):
    """An echo through the proxy works and is logged under <cluster_name>."""
    payload = os.urandom(4096)
    s = connect(topo, host, port)
    with s:
        echo_roundtrip(s, payload)
        s.shutdown(socket.SHUT_WR)
        assert read_until_eof(s) == b""
        e = proxy.entry_for(s)
    assert e["upstream_cluster"] == cluster_name, e["line"]
    assert e["flags"] == frozenset(), e["line"]
    assert e["downstream_local_address"] == hp(host, port), e["line"]
    assert (e["bytes_received"], e["bytes_sent"]) == (len(payload), len(payload)), e["line"]
    return e


def whoami(topo, host, port=WHOAMI):
    """Ask the whoami server behind <host>:<port>.

    Returns (server name, its local ip:port, its peer ip:port, the app's sockname);
    the peer is the proxy's end of the upstream connection."""
    s = connect(topo, host, port)
    with s:
        line = read_until_eof(s).decode()
        addr = s.getsockname()
    fields = line.split()
    assert len(fields) == 3, f"whoami answered {line!r}"
    return (*fields, addr)


# -- tests -----------------------------------------------------------------------


def test_no_service_entry_is_denied_at_once(topo, proxy):
    """REGISTRY_ONLY is the default (fail closed); unknown destinations are reset."""
    p = proxy(UNRELATED)
    e = assert_denied(topo, p, EXT_B, ECHO)
    assert START_TIME_RE.fullmatch(e["start_time"]), e["line"]
    assert_denied(topo, p, EXT_A, WHOAMI)


def test_service_entry_relays_100mb_each_way(topo, proxy):
    host = "bulk.test.example"
    p = proxy(service_entry("bulk", host, [f"{EXT_B}/32"], [("tcp-bulk", XFER)]))
    s = connect(topo, EXT_B, XFER, timeout=60)
    header = f"XFER {MB100} {MB100}\n".encode()
    sent, failure = hashlib.sha256(), []

    def upload():
        try:
            s.sendall(header)
            left = MB100
            while left:
                chunk = os.urandom(min(left, CHUNK))
                sent.update(chunk)
                s.sendall(chunk)
                left -= len(chunk)
        except BaseException as e:  # reported by the main thread
            failure.append(e)

    with s:
        t = threading.Thread(target=upload, daemon=True)
        t.start()
        got, n = hashlib.sha256(), 0
        while n < MB100:
            data = s.recv(min(CHUNK, MB100 - n))
            assert data, f"EOF after {n} of {MB100} downloaded bytes"
            got.update(data)
            n += len(data)
        trailer = read_until_eof(s)
        t.join(60)
        assert not t.is_alive(), "upload still running"
        assert not failure, f"upload failed: {failure[0]!r}"
        server_got, server_sent = trailer.decode().split()
        assert server_got == sent.hexdigest(), "upload corrupted (server's SHA-256 differs)"
        assert server_sent == got.hexdigest(), "download corrupted (SHA-256 differs)"
        s.shutdown(socket.SHUT_WR)  # the session ends when both directions have
        e = p.entry_for(s)
    assert e["upstream_cluster"] == cluster(XFER, host), e["line"]
    assert e["flags"] == frozenset(), e["line"]
    assert e["upstream_host"] == hp(EXT_B, XFER), e["line"]
    assert e["bytes_received"] == len(header) + MB100, e["line"]
    assert e["bytes_sent"] == MB100 + len(trailer), e["line"]


def test_same_ip_other_port_is_denied(topo, proxy):
    host = "db.test.example"
    p = proxy(service_entry("db", host, [f"{EXT_B}/32"], [("tcp-db", ECHO)]))
    assert_allowed_echo(topo, p, EXT_B, ECHO, cluster(ECHO, host))
    assert_denied(topo, p, EXT_B, BANNER)


@pytest.mark.parametrize("order", ["wide-first", "narrow-first"])
def test_overlapping_cidrs_longest_prefix_wins(topo, proxy, order):
    """Two ServiceEntries, /24 and /32 over the same port: the /32 decides for its
    address whatever the order of the files, the /24 for the rest."""
    wide = service_entry("wide", "wide.test.example", ["198.51.100.0/24"],
                         [("tcp-who", WHOAMI)])
    narrow = service_entry("narrow", "narrow.test.example", [f"{EXT_B}/32"],
                           [("tcp-who", WHOAMI)])
    p = proxy([wide, narrow] if order == "wide-first" else [narrow, wide])
    for dst, host in ((EXT_B, "narrow.test.example"), (EXT_B2, "wide.test.example")):
        name, local, _, app = whoami(topo, dst)
        assert (name, local) == ("ext-b", hp(dst, WHOAMI))
        e = p.entry_for_addr(hp(*app[:2]))
        assert e["upstream_cluster"] == cluster(WHOAMI, host), e["line"]
        assert e["downstream_local_address"] == hp(dst, WHOAMI), e["line"]


@pytest.mark.parametrize("how", ["flag", "sidecar"])
def test_allow_any_passes_through(topo, proxy, how):
    if how == "flag":
        p = proxy(UNRELATED, "--outbound-traffic-policy", "ALLOW_ANY")
    else:
        p = proxy(docs(UNRELATED, sidecar("ALLOW_ANY")))
    e = assert_allowed_echo(topo, p, EXT_B, ECHO, "PassthroughCluster")
    assert e["upstream_host"] == hp(EXT_B, ECHO), e["line"]
    name, local, _, app = whoami(topo, EXT_A)
    assert (name, local) == ("ext-a", hp(EXT_A, WHOAMI))
    e = p.entry_for_addr(hp(*app[:2]))
    assert e["upstream_cluster"] == "PassthroughCluster", e["line"]
    assert e["upstream_host"] == hp(EXT_A, WHOAMI), e["line"]


def test_server_first_protocol(topo, proxy):
    """The upstream speaks first (like MySQL): the proxy must connect upstream
    without waiting for the client's first byte."""
    host = "mysql.test.example"
    p = proxy(service_entry("mysql", host, [f"{EXT_B}/32"], [("tcp-mysql", BANNER)]))
    s = connect(topo, EXT_B, BANNER)
    with s:
        s.settimeout(3)
        got = b""
        while not got.endswith(b"\n"):
            try:
                data = s.recv(4096)
            except socket.timeout:
                pytest.fail(f"no banner within 3 s without a client byte (got {got!r})")
            assert data, f"EOF before the banner (got {got!r})"
            got += data
        assert got == servers.BANNER_LINE
        s.sendall(b"SELECT 1\n")
        reply = b""
        while not reply.endswith(b"\n"):
            data = s.recv(4096)
            assert data, "EOF before the reply"
            reply += data
        assert reply == b"GOT SELECT 1\n"
        s.shutdown(socket.SHUT_WR)
        assert read_until_eof(s) == b""
        e = p.entry_for(s)
    assert e["upstream_cluster"] == cluster(BANNER, host), e["line"]
    assert e["bytes_sent"] == len(servers.BANNER_LINE) + len(reply), e["line"]
    assert e["bytes_received"] == len(b"SELECT 1\n"), e["line"]


def test_half_close(topo, proxy):
    """The client's FIN reaches the server, whose reply still reaches the client."""
    host = "half.test.example"
    p = proxy(service_entry("half", host, [f"{EXT_B}/32"], [("tcp-half", HALFCLOSE)]))
    payload = os.urandom(1 << 20)
    s = connect(topo, EXT_B, HALFCLOSE)
    with s:
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        reply = read_until_eof(s)
        assert reply == f"RECEIVED {len(payload)} {hashlib.sha256(payload).hexdigest()}\n" \
            .encode(), f"server saw a different stream: {reply!r}"
        e = p.entry_for(s)
    assert e["flags"] == frozenset(), e["line"]
    assert (e["bytes_received"], e["bytes_sent"]) == (len(payload), len(reply)), e["line"]


def test_upstream_refuses(topo, proxy):
    host = "closed.test.example"
    p = proxy(service_entry("closed", host, [f"{EXT_B}/32"], [("tcp-closed", REFUSE)]))
    s, elapsed, how = connect_expect_closed(topo, EXT_B, REFUSE)
    with s:
        e = p.entry_for(s)
    assert elapsed < 2, f"closed only after {elapsed:.2f} s ({how})"
    assert e["flags"] == {"UF", "URX"}, e["line"]
    assert e["upstream_cluster"] == cluster(REFUSE, host), e["line"]
    assert e["downstream_local_address"] == hp(EXT_B, REFUSE), e["line"]
    assert e["bytes_sent"] == 0, e["line"]


def test_connect_timeout_from_destination_rule(topo, proxy):
    """SYNs to the upstream vanish; the DR's 500 ms connectTimeout (not the 10 s
    default) ends the attempt. The bounds check the setting, not speed."""
    host = "void.test.example"
    p = proxy(docs(service_entry("void", host, [f"{EXT_B}/32"], [("tcp-void", BLACKHOLE)]),
                   destination_rule("void", host, "500ms")))
    s, elapsed, how = connect_expect_closed(topo, EXT_B, BLACKHOLE, timeout=15)
    with s:
        e = p.entry_for(s)
    assert 0.4 <= elapsed < 5, f"closed after {elapsed:.3f} s ({how}); connectTimeout is 500ms"
    assert e["flags"] == {"UF", "URX"}, e["line"]
    assert e["upstream_cluster"] == cluster(BLACKHOLE, host), e["line"]
    assert 400 <= e["duration"] < 5000, e["line"]


def test_static_endpoints_route_to_endpoint(topo, proxy):
    """The app dials a VIP that exists nowhere; the proxy connects to the endpoint."""
    host = "static.test.example"
    p = proxy(service_entry("static", host, [VIP_STATIC], [("tcp-who", WHOAMI)],
                            resolution="STATIC", endpoints=[EXT_B]))
    name, local, _, app = whoami(topo, VIP_STATIC)
    assert (name, local) == ("ext-b", hp(EXT_B, WHOAMI))
    e = p.entry_for_addr(hp(*app[:2]))
    assert e["upstream_cluster"] == cluster(WHOAMI, host), e["line"]
    assert e["upstream_host"] == hp(EXT_B, WHOAMI), e["line"]
    assert e["downstream_local_address"] == hp(VIP_STATIC, WHOAMI), e["line"]


def test_dns_resolution_routes_to_resolved_address(topo, proxy):
    """resolution: DNS; dnsmasq in ext-a answers DNS_NAME with ext-b's address.
    The first connection after `ready` must already be routed."""
    dns = topo.start_dns()
    p = proxy(service_entry("dns", DNS_NAME, [VIP_DNS], [("tcp-who", WHOAMI)],
                            resolution="DNS"),
              "--dns-server", dns)
    name, local, _, app = whoami(topo, VIP_DNS)
    assert (name, local) == ("ext-b", hp(EXT_B, WHOAMI))
    e = p.entry_for_addr(hp(*app[:2]))
    assert e["upstream_cluster"] == cluster(WHOAMI, DNS_NAME), e["line"]
    assert e["upstream_host"] == hp(EXT_B, WHOAMI), e["line"]
    assert e["downstream_local_address"] == hp(VIP_DNS, WHOAMI), e["line"]


def test_ipv6_captured_and_enforced(topo, proxy):
    host = "v6.test.example"
    p = proxy(service_entry("v6", host, [f"{EXT_B6}/128"], [("tcp-echo", ECHO)]))
    e = assert_allowed_echo(topo, p, EXT_B6, ECHO, cluster(ECHO, host))
    assert e["upstream_host"] == hp(EXT_B6, ECHO), e["line"]
    assert_denied(topo, p, EXT_B6_2, ECHO)  # same server, an address with no ServiceEntry


def test_proxy_outbound_not_recaptured(topo, proxy):
    """Upstream connections (uid 1337) bypass the redirect: one access-log line
    per app connection, each naming the app's socket, none the proxy's."""
    host = "who.test.example"
    p = proxy(service_entry("who", host, [f"{EXT_B}/32"], [("tcp-who", WHOAMI)]))
    apps, upstreams = set(), set()
    for _ in range(5):
        name, _, peer, app = whoami(topo, EXT_B)
        assert name == "ext-b"
        apps.add(hp(*app[:2]))
        upstreams.add(peer)
    entries = p.wait_entries(count=5)
    time.sleep(0.3)  # a re-captured upstream would log a second line per connection
    entries = p.entries()
    assert len(entries) == 5, "\n".join(e["line"] for e in entries)
    assert {e["downstream_remote_address"] for e in entries} == apps
    assert all(peer.startswith(f"{POD_B}:") for peer in upstreams), upstreams
    assert not apps & upstreams
    for e in entries:
        assert not e["downstream_local_address"].endswith(":15001"), e["line"]
        assert e["upstream_cluster"] == cluster(WHOAMI, host), e["line"]
        # When the log names the proxy's end of the upstream connection, it is
        # what the server saw, and never the downstream of any line.
        if e["upstream_local_address"] is not None:
            assert e["upstream_local_address"] in upstreams, e["line"]


def test_2000_concurrent_connections(topo, proxy):
    n = 2000
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert soft >= n + 100, f"RLIMIT_NOFILE {soft} is too low for {n} connections"
    host = "many.test.example"
    p = proxy(service_entry("many", host, [f"{EXT_B}/32"], [("tcp-echo", ECHO)]),
              "--concurrency", "2")
    socks = topo.pod.sockets(n)
    sel = selectors.DefaultSelector()
    try:
        for s in socks:
            s.setblocking(False)
        # Connect in waves of 200 so that a wave fits the listen backlog.
        for i in range(0, n, 200):
            wave = socks[i:i + 200]
            for s in wave:
                rc = s.connect_ex((EXT_B, ECHO))
                assert rc in (0, errno.EINPROGRESS), os.strerror(rc)
                sel.register(s, selectors.EVENT_WRITE)
            pending = len(wave)
            deadline = time.monotonic() + 20
            while pending:
                assert time.monotonic() < deadline, f"{pending} connects still pending"
                for key, _ in sel.select(1):
                    err = key.fileobj.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    assert err == 0, f"connect: {os.strerror(err)}"
                    sel.unregister(key.fileobj)
                    pending -= 1
        # Every connection open at once: now a distinct payload through each.
        payload = {s: f"conn {i:04d} {os.urandom(16).hex()}\n".encode()
                   for i, s in enumerate(socks)}
        got = {s: b"" for s in socks}
        for s in socks:
            assert s.send(payload[s]) == len(payload[s])
            sel.register(s, selectors.EVENT_READ)
        pending = n
        deadline = time.monotonic() + 30
        while pending:
            assert time.monotonic() < deadline, f"{pending} echoes still missing"
            for key, _ in sel.select(1):
                s = key.fileobj
                data = s.recv(4096)
                assert data, f"EOF on connection {socks.index(s)}"
                got[s] += data
                if len(got[s]) >= len(payload[s]):
                    assert got[s] == payload[s], f"connection {socks.index(s)} got {got[s]!r}"
                    sel.unregister(s)
                    pending -= 1
        assert len(topo.accepts("ext-b")) >= n
    finally:
        sel.close()
        for s in socks:
            s.close()
    entries = p.wait_entries(lambda e: e["upstream_cluster"] == cluster(ECHO, host),
                             count=n, timeout=30)
    bad = [e["line"] for e in entries if e["flags"] or e["bytes_sent"] != e["bytes_received"]]
    assert not bad, f"{len(bad)} bad entries, e.g. {bad[:3]}"


def test_sighup_broken_config_keeps_old_policy(topo, proxy):
    old = service_entry("echo", "echo.test.example", [f"{EXT_B}/32"], [("tcp-echo", ECHO)])
    p = proxy(old)
    assert_allowed_echo(topo, p, EXT_B, ECHO, cluster(ECHO, "echo.test.example"))
    # The new file drops the echo entry, opens BANNER, and has one bad resource:
    # all or nothing, so neither change may take effect.
    broken = docs(service_entry("banner", "banner.test.example", [f"{EXT_B}/32"],
                                [("tcp-banner", BANNER)]),
                  service_entry("bad", "bad.test.example", [f"{EXT_B}/32"],
                                [("tcp-bad", 0)]))
    p.write_config(p.configs[0], broken)
    p.expect_err(r".")
    p.hup()
    p.wait_stderr(r"(?:^|\s)level=err", timeout=5)
    p.assert_running()
    assert_allowed_echo(topo, p, EXT_B, ECHO, cluster(ECHO, "echo.test.example"))
    assert_denied(topo, p, EXT_B, BANNER)


def answers(topo, host, port, payload=b"ping\n"):
    """Send <payload>, half-close, and return what came back ("" if reset)."""
    try:
        with connect(topo, host, port) as s:
            s.sendall(payload)
            s.shutdown(socket.SHUT_WR)
            return read_until_eof(s)
    except (ConnectionResetError, BrokenPipeError):
        return b""
    except OSError as e:
        # A denied destination is reset once the proxy has read the payload
        # (--deny-response protocol sniffs it), which may be before shutdown().
        if e.errno != errno.ENOTCONN:
            raise
        return b""


def test_sighup_valid_config_applies(topo, proxy):
    p = proxy(service_entry("echo", "echo.test.example", [f"{EXT_B}/32"],
                            [("tcp-echo", ECHO)]))
    assert_allowed_echo(topo, p, EXT_B, ECHO, cluster(ECHO, "echo.test.example"))
    p.write_config(p.configs[0], service_entry("who", "who.test.example", [f"{EXT_B}/32"],
                                               [("tcp-who", WHOAMI)]))
    p.hup()
    # Each worker adopts the new snapshot on its next loop iteration, so a
    # connection racing the reload may still see the old one: wait until both
    # changes hold, then check them once more, strictly.
    deadline = time.monotonic() + 5
    while not (answers(topo, EXT_B, WHOAMI).startswith(b"ext-b ")
               and answers(topo, EXT_B, ECHO) == b""):
        assert time.monotonic() < deadline, \
            f"new policy not in force 5 s after SIGHUP\n{p.describe()}"
        time.sleep(0.05)
    assert answers(topo, EXT_B, WHOAMI).startswith(b"ext-b ")
    assert_denied(topo, p, EXT_B, ECHO)


def test_access_log_json_to_file(topo, proxy):
    host = "json.test.example"
    p = proxy(service_entry("json", host, [f"{EXT_B}/32"], [("tcp-echo", ECHO)]),
              access_log="file", access_format="json")
    allowed = assert_allowed_echo(topo, p, EXT_B, ECHO, cluster(ECHO, host))
    denied = assert_denied(topo, p, EXT_A, ECHO)
    assert allowed["format"] == denied["format"] == "json"
    assert allowed["upstream_host"] == hp(EXT_B, ECHO)
    assert START_TIME_RE.fullmatch(allowed["start_time"]), allowed["line"]


def test_invalid_config_exits_1(pc, bare_ns, workdir):
    path = workdir / "bad.yaml"
    path.write_text(service_entry("bad", "bad.test.example", [f"{EXT_B}/32"],
                                  [("tcp-bad", 0)]))
    # its own store and API socket: a test never touches /var/lib/portcullis or /run
    rc, out, err = pc.run("run", "--config", path, "--drain-duration", "1s",
                          "--state-dir", workdir / "state", "--api-socket", workdir / "api.sock",
                          "--admin", "off", ns=bare_ns, timeout=15)
    assert rc == 1, f"exit {rc}\n{out}{err}"
    located = [ln for ln in (out + err).splitlines()
               if re.match(rf"^{re.escape(str(path))}:\d+:\d+: error: ", ln)]
    assert located, f"no `{path}:LINE:COL: error: ...` line\n{out}{err}"
    # refused before the store is opened: nothing created or changed
    assert not (workdir / "state").exists(), "an invalid --config created the store"


def tcp_policy_rule(name, host, **tcp):
    """A DestinationRule whose connectionPool.tcp holds <tcp> (camelCase keys)."""
    fields = "".join(f"        {k}: {v}\n" for k, v in tcp.items())
    return (f"apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata:\n"
            f"  name: {name}\n  namespace: {NS}\nspec:\n  host: {host}\n"
            f"  trafficPolicy:\n    connectionPool:\n      tcp:\n{fields}")


def test_idle_timeout_from_destination_rule(topo, proxy):
    """No bytes either way for idleTimeout (600ms): both sides are closed; no flag, as Envoy."""
    host = "echo.test.example"
    p = proxy(docs(service_entry("echo", host, [f"{EXT_B}/32"], [("tcp-echo", ECHO)]),
                   tcp_policy_rule("echo", host, idleTimeout="600ms")))
    s = connect(topo, EXT_B, ECHO)
    with s:
        echo_roundtrip(s, b"ping\n")
        t0 = time.monotonic()
        how = expect_closed(s, send=b"", timeout=10)
        elapsed = time.monotonic() - t0
        e = p.entry_for(s)
    assert 0.5 <= elapsed < 5, f"idle connection closed after {elapsed:.3f} s ({how})"
    assert e["flags"] == set(), e["line"]
    assert e["bytes_received"] == 5 and e["bytes_sent"] == 5, e["line"]


def test_max_connection_duration_sets_dt(topo, proxy):
    """maxConnectionDuration (1s) ends even a busy connection, with flag DT."""
    host = "echo.test.example"
    p = proxy(docs(service_entry("echo", host, [f"{EXT_B}/32"], [("tcp-echo", ECHO)]),
                   tcp_policy_rule("echo", host, maxConnectionDuration="1s")))
    s = connect(topo, EXT_B, ECHO)
    with s:
        t0 = time.monotonic()
        closed = False
        while time.monotonic() - t0 < 8:
            try:
                echo_roundtrip(s, b"x" * 100)
            except (AssertionError, ConnectionResetError, BrokenPipeError):
                closed = True
                break
            time.sleep(0.05)
        elapsed = time.monotonic() - t0
        e = p.entry_for(s)
    assert closed and 0.9 <= elapsed < 5, f"closed={closed} after {elapsed:.3f} s"
    assert e["flags"] == {"DT"}, e["line"]


def test_max_connections_sets_uo(topo, proxy):
    """maxConnections: 1 — a second concurrent connection overflows (UO), the first works."""
    host = "echo.test.example"
    p = proxy(docs(service_entry("echo", host, [f"{EXT_B}/32"], [("tcp-echo", ECHO)]),
                   tcp_policy_rule("echo", host, maxConnections=1)), "--concurrency", "2")
    first = connect(topo, EXT_B, ECHO)
    with first:
        echo_roundtrip(first, b"one\n")
        s, elapsed, how = connect_expect_closed(topo, EXT_B, ECHO)
        with s:
            e = p.entry_for(s)
        assert e["flags"] == {"UO"}, e["line"]
        assert e["upstream_cluster"] == cluster(ECHO, host), e["line"]
        echo_roundtrip(first, b"still here\n")


def test_idle_connections_hold_no_pipes(topo, proxy):
    """A connection with nothing in flight costs the proxy its two sockets only:
    splice pipes come from a per-worker pool while bytes move (at most 64 pipes,
    128 fds, kept per worker), so 300 idle connections stay far below the 6 fds
    each that per-session pipes would take."""
    n = 300
    host = "echo.test.example"
    p = proxy(service_entry("echo", host, [f"{EXT_B}/32"], [("tcp-echo", ECHO)]),
              "--concurrency", "2")
    fd_dir = f"/proc/{p.proc.pid}/fd"
    before = len(os.listdir(fd_dir))
    socks = []
    try:
        for i in range(n):
            s = connect(topo, EXT_B, ECHO)
            socks.append(s)
            echo_roundtrip(s, f"idle {i}\n".encode())
        during = len(os.listdir(fd_dir))
    finally:
        for s in socks:
            s.close()
    print(f"proxy fds: {before} before, {during} with {n} idle connections")
    assert during - before <= 2 * n + 2 * 128, \
        f"{during - before} proxy fds for {n} idle connections (pipes not pooled?)"
    assert during - before >= 2 * n, f"only {during - before} fds for {n} connections"


# -- policy changes: revocation of established connections ------------------------
#
# A reload (SIGHUP here; `apply`/`delete` later) that no longer allows an open
# connection closes it: at once, or after --revoke-grace. The access-log record
# keeps the flags "-" and says why in connection_termination_details (JSON).
# One worker (--concurrency 1): a new connection that sees the new policy then
# proves that the worker holding the old connection has adopted it too.

REVOKED = "portcullis_policy_revoked"
REVOKE_WITHIN = 1.0  # seconds from SIGHUP to the reset of a revoked connection
ECHO_HOST = "echo.test.example"
ECHO_SE = service_entry("echo", ECHO_HOST, [f"{EXT_B}/32"], [("tcp-echo", ECHO)])


def termination(e):
    """connection_termination_details of a JSON access-log entry (None when null)."""
    return json.loads(e["line"]).get("connection_termination_details")


def reload_config(p, text):
    """Replace the proxy's only config with <text> and SIGHUP it; returns the time sent."""
    p.write_config(p.configs[0], text)
    t0 = time.monotonic()
    p.hup()
    return t0


def wait_enforced(topo, p, host, port, allowed, timeout=5):
    """Poll new connections to <host>:<port> until the proxy allows (denies) them."""
    deadline = time.monotonic() + timeout
    while True:
        ok = answers(topo, host, port) == b"ping\n"
        if ok == allowed:
            return
        assert time.monotonic() < deadline, \
            f"{hp(host, port)} still {'denied' if allowed else 'allowed'} {timeout} s after " \
            f"the reload\n{p.describe()}"
        time.sleep(0.02)


def expect_reset(s, timeout):
    """Wait (without sending) for the proxy to end <s>; a revocation is a reset."""
    how = expect_closed(s, send=b"", timeout=timeout)
    assert how == "ECONNRESET", f"revoked connection ended with {how}, not a reset"


def test_revoke_closes_established_connection(topo, proxy):
    p = proxy(ECHO_SE, "--concurrency", "1", access_format="json")
    s = connect(topo, EXT_B, ECHO)
    with s:
        app = hp(*s.getsockname()[:2])
        echo_roundtrip(s, b"before\n")
        t0 = reload_config(p, UNRELATED)
        expect_reset(s, timeout=5)
        elapsed = time.monotonic() - t0
        e = p.entry_for(s)
    assert elapsed < REVOKE_WITHIN, f"revoked connection closed {elapsed:.3f} s after SIGHUP"
    assert termination(e) == REVOKED, e["line"]
    assert e["flags"] == frozenset(), e["line"]
    assert e["upstream_cluster"] == cluster(ECHO, ECHO_HOST), e["line"]
    assert (e["bytes_received"], e["bytes_sent"]) == (7, 7), e["line"]
    line = p.wait_stderr(r'level=info msg="connection revoked by a policy change"', timeout=2)
    for field in (f"cluster={cluster(ECHO, ECHO_HOST)}", f"client={app}",
                  f"dst={hp(EXT_B, ECHO)}"):
        assert field in line, f"{field} missing from {line!r}"
    assert_denied(topo, p, EXT_B, ECHO)


def test_revoke_keeps_connection_still_allowed(topo, proxy):
    """The /32 entry is replaced by a /24 that still covers the destination: the
    connection is not touched, and keeps moving bytes intact across the reload."""
    wide = service_entry("wide", "wide.test.example", ["198.51.100.0/24"], [("tcp-echo", ECHO)])
    p = proxy(ECHO_SE, "--concurrency", "1", access_format="json")
    s = connect(topo, EXT_B, ECHO)
    total = 0
    with s:
        echo_roundtrip(s, os.urandom(CHUNK))
        total += CHUNK
        reload_config(p, wide)
        deadline = time.monotonic() + 5
        while answers(topo, EXT_B2, ECHO) != b"ping\n":  # only the /24 covers EXT_B2
            assert time.monotonic() < deadline, f"/24 not in force\n{p.describe()}"
            echo_roundtrip(s, os.urandom(4096))
            total += 4096
        t1 = time.monotonic()
        while time.monotonic() - t1 < 0.5:  # well past the adoption
            echo_roundtrip(s, os.urandom(CHUNK))
            total += CHUNK
        s.shutdown(socket.SHUT_WR)
        assert read_until_eof(s) == b""
        e = p.entry_for(s)
    assert termination(e) is None, e["line"]
    assert e["flags"] == frozenset(), e["line"]
    assert e["upstream_cluster"] == cluster(ECHO, ECHO_HOST), e["line"]  # not re-routed
    assert (e["bytes_received"], e["bytes_sent"]) == (total, total), e["line"]
    assert "connection revoked" not in p.stderr()


def test_revoke_grace_delays_the_close(topo, proxy):
    p = proxy(ECHO_SE, "--concurrency", "1", "--revoke-grace", "2s", access_format="json")
    s = connect(topo, EXT_B, ECHO)
    with s:
        echo_roundtrip(s, b"before\n")
        t0 = reload_config(p, UNRELATED)
        wait_enforced(topo, p, EXT_B, ECHO, allowed=False)
        enforced = time.monotonic() - t0  # the worker adopted the policy before this
        time.sleep(max(0.0, t0 + 1.0 - time.monotonic()))
        echo_roundtrip(s, b"still in the grace\n")  # ~1 s after the reload
        expect_reset(s, timeout=5)
        elapsed = time.monotonic() - t0
        e = p.entry_for(s)
    assert 1.9 <= elapsed < enforced + 2.0 + 0.5, \
        f"closed {elapsed:.3f} s after SIGHUP (enforced after {enforced:.3f} s); the grace is 2 s"
    assert termination(e) == REVOKED, e["line"]
    assert e["flags"] == frozenset(), e["line"]
    assert 1900 <= e["duration"], e["line"]


def test_revoke_grace_readded_entry_keeps_connection(topo, proxy):
    """Removed, then restored within the grace: the connection survives the deadline."""
    p = proxy(ECHO_SE, "--concurrency", "1", "--revoke-grace", "3s", access_format="json")
    s = connect(topo, EXT_B, ECHO)
    with s:
        echo_roundtrip(s, b"before\n")
        t0 = reload_config(p, UNRELATED)
        wait_enforced(topo, p, EXT_B, ECHO, allowed=False)
        p.wait_stderr(r'msg="policy change denies open connections"', timeout=2)
        reload_config(p, ECHO_SE)
        wait_enforced(topo, p, EXT_B, ECHO, allowed=True)
        assert time.monotonic() - t0 < 2.5, "the re-add took too long to test the grace"
        time.sleep(max(0.0, t0 + 4.0 - time.monotonic()))  # a second past the deadline
        echo_roundtrip(s, b"after the deadline\n")
        s.shutdown(socket.SHUT_WR)
        assert read_until_eof(s) == b""
        e = p.entry_for(s)
    assert termination(e) is None, e["line"]
    assert e["flags"] == frozenset(), e["line"]
    assert "connection revoked" not in p.stderr()


def test_revoke_connecting_session(topo, proxy):
    """A session still waiting for its upstream (SYNs dropped, 10 s connect
    timeout) is revoked like an established one."""
    host = "void.test.example"
    p = proxy(service_entry("void", host, [f"{EXT_B}/32"], [("tcp-void", BLACKHOLE)]),
              "--concurrency", "1", access_format="json")
    s = connect(topo, EXT_B, BLACKHOLE)
    with s:
        s.settimeout(0.3)
        with pytest.raises(socket.timeout):
            s.recv(1)  # the proxy accepted; its upstream connect hangs
        t0 = reload_config(p, UNRELATED)
        expect_reset(s, timeout=5)
        elapsed = time.monotonic() - t0
        e = p.entry_for(s)
    assert elapsed < REVOKE_WITHIN, f"revoked connecting session closed after {elapsed:.3f} s"
    assert termination(e) == REVOKED, e["line"]
    assert e["flags"] == frozenset(), e["line"]
    assert e["upstream_cluster"] == cluster(BLACKHOLE, host), e["line"]


def test_revoke_many_only_the_denied(topo, proxy):
    """300 connections on each of two entries; the reload drops one entry: exactly
    its 300 are reset, the other 300 still echo."""
    n = 300
    keep = service_entry("who", "keep.test.example", [f"{EXT_B2}/32"], [("tcp-echo", ECHO)])
    p = proxy(docs(ECHO_SE, keep), "--concurrency", "2", access_format="json")
    gone = [connect(topo, EXT_B, ECHO) for _ in range(n)]
    kept = [connect(topo, EXT_B2, ECHO) for _ in range(n)]
    try:
        for s in gone + kept:
            echo_roundtrip(s, b"x")
        t0 = reload_config(p, keep)
        for s in gone:
            expect_reset(s, timeout=5)
        elapsed = time.monotonic() - t0
        for i, s in enumerate(kept):
            echo_roundtrip(s, f"kept {i}\n".encode())
        addrs = {hp(*s.getsockname()[:2]) for s in gone}
        entries = p.wait_entries(lambda e: e["downstream_remote_address"] in addrs, count=n)
    finally:
        for s in gone + kept:
            s.close()
    assert elapsed < 3 * REVOKE_WITHIN, f"{n} revocations took {elapsed:.3f} s"
    bad = [e["line"] for e in entries if termination(e) != REVOKED]
    assert not bad, bad[:3]
