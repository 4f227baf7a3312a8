# SPDX-License-Identifier: GPL-2.0-or-later
"""System tests of egress by name on TLS ports (issue 11): the SNI decides.

A ServiceEntry port declared TLS without addresses opens TLS connections whose
SNI is one of its hosts, on that port, to any address, and nothing else: a
foreign SNI, no SNI, the parent domain of a wildcard and bytes that are not
TLS fall to the default chain, which under REGISTRY_ONLY (portcullis's
default) refuses them before any upstream connection exists. The ClientHello
is read, never terminated: the upstream gets it byte for byte.

The external hosts run l7servers.py (a real OpenSSL server, through Python's
ssl, with a certificate made for the test), which logs every accepted TCP
connection and the raw ClientHello it got, so "the server never sees the
refused ones" is a fact the test reads, not an inference. Clients are the real
`openssl s_client` and, where the bytes on the wire matter, Python's ssl over
a memory BIO whose records the test writes itself.
"""
import hashlib
import resource
import select
import socket
import ssl
import subprocess
import time

import pytest

from topology import EXT_A, EXT_B, EXT_B6, TLS_PORT

NS = "egress-test"
CMD_TIMEOUT = 20  # seconds for each client run (a hang guard, not a speed limit)
IO_TIMEOUT = 10
SETTLE = 0.5  # seconds for a connection the proxy might (wrongly) relay to show up
SILENT = 1000  # silent clients
DETECTION_TIMEOUT = "2s"  # --protocol-detection-timeout for the test that sets it
VIP = "203.0.113.50"  # no host has it; both entries of the #24937 case listen on it

ALLOWED = "api.example.com"
FOREIGN = "evil.example.org"
PARENT = "example.com"


def tls_entry(name, hosts, resolution="NONE", endpoints=(), port=TLS_PORT):
    lines = ["apiVersion: networking.istio.io/v1", "kind: ServiceEntry", "metadata:",
             f"  name: {name}", f"  namespace: {NS}", "spec:",
             "  hosts: [" + ", ".join(f'"{h}"' for h in hosts) + "]",
             f"  ports: [{{number: {port}, name: https, protocol: TLS}}]",
             "  location: MESH_EXTERNAL", f"  resolution: {resolution}"]
    if endpoints:
        lines.append("  endpoints:")
        lines += [f'  - address: "{a}"' for a in endpoints]
    return "\n".join(lines) + "\n"


WILDCARD = tls_entry("wildcard", ["*.example.com"])

# (server namespace, address the app dials) per family: v4 goes to ext-a, v6 to ext-b
FAMILIES = {"v4": ("ext-a", EXT_A), "v6": ("ext-b", EXT_B6)}


def hostport(host, port):
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def run_in_pod(topo, *argv, input=None):
    """(exit status, stdout, stderr, seconds) of a client run in the pod."""
    t0 = time.monotonic()
    try:
        p = subprocess.run(topo.pod.argv(*argv), capture_output=True, timeout=CMD_TIMEOUT,
                           input=input, stdin=None if input is not None else subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{' '.join(map(str, argv))}: no exit within {CMD_TIMEOUT} s")
    return (p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace"),
            time.monotonic() - t0)


def s_client(topo, host, sni, port=TLS_PORT, line="ping"):
    """openssl s_client to host:port with SNI <sni> (None: -noservername); it sends
    <line> and prints what the server answers (-quiet: nothing else on stdout)."""
    name = ["-noservername"] if sni is None else ["-servername", sni]
    return run_in_pod(topo, "openssl", "s_client", "-quiet", "-connect", hostport(host, port),
                      *name, input=f"{line}\n".encode())


def assert_handshake(topo, server, host, sni, line="ping"):
    rc, out, err, took = s_client(topo, host, sni, line=line)
    assert out == f"{server} {sni} {line}\n", (rc, out, err)
    return took


def accepted(topo, server):
    return [w for w in topo.l7_events(server, "accept") if w[2] == str(TLS_PORT)]


def plain_bytes(topo, family, host):
    """Send bytes that are not TLS; return whatever comes back before the end."""
    s = topo.pod.socket(socket.AF_INET6 if family == "v6" else socket.AF_INET)
    with s:
        s.settimeout(IO_TIMEOUT)
        s.connect((host, TLS_PORT))
        data = b""
        try:
            s.sendall(b"this is not TLS at all\r\n\r\n")
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        except (ConnectionResetError, BrokenPipeError):
            pass
        except socket.timeout:
            pytest.fail(f"non-TLS bytes: the connection is still open after {IO_TIMEOUT} s "
                        f"(got {data!r})")
    return data


# -- allowed and refused, IPv4 and IPv6 ------------------------------------------


@pytest.mark.parametrize("family", FAMILIES)
def test_allowed_sni_reaches_the_server(topo, proxy, family):
    server, host = FAMILIES[family]
    topo.start_l7(server)
    proxy(WILDCARD)
    assert_handshake(topo, server, host, ALLOWED)
    assert [w[3] for w in topo.l7_events(server, "sni")] == [ALLOWED]
    assert len(accepted(topo, server)) == 1, topo.l7[server].text()


@pytest.mark.parametrize("case", ["foreign-sni", "no-sni", "parent-domain", "not-tls"])
@pytest.mark.parametrize("family", FAMILIES)
def test_refused_never_reach_the_server(topo, proxy, family, case):
    server, host = FAMILIES[family]
    topo.start_l7(server)
    proxy(WILDCARD)
    if case == "not-tls":
        data = plain_bytes(topo, family, host)
        assert b"plain" not in data, data
    else:
        sni = {"foreign-sni": FOREIGN, "no-sni": None, "parent-domain": PARENT}[case]
        rc, out, err, _ = s_client(topo, host, sni)
        assert rc != 0 and server not in out, (rc, out, err)
    time.sleep(SETTLE)
    assert accepted(topo, server) == [], \
        f"{case}: the server saw the refused connection\n{topo.l7[server].text()}"
    # the path itself works: an allowed name on the same port gets through
    assert_handshake(topo, server, host, ALLOWED)
    assert len(accepted(topo, server)) == 1, topo.l7[server].text()


def test_refused_sni_is_named_in_the_denial(topo, proxy):
    topo.start_l7("ext-a")
    p = proxy(WILDCARD)
    rc, out, err, _ = s_client(topo, EXT_A, FOREIGN)
    assert rc != 0, (rc, out, err)
    line = p.wait_stderr(r'msg="connection denied"')
    assert FOREIGN in line, line


def test_access_log_carries_the_sni(topo, proxy):
    topo.start_l7("ext-a")
    p = proxy(WILDCARD)
    assert_handshake(topo, "ext-a", EXT_A, ALLOWED)
    [e] = p.wait_entries(lambda e: e["downstream_local_address"] == f"{EXT_A}:{TLS_PORT}")
    assert e["requested_server_name"] == ALLOWED, e["line"]
    assert e["upstream_cluster"] == f"outbound|{TLS_PORT}||*.example.com", e["line"]
    assert e["upstream_host"] == f"{EXT_A}:{TLS_PORT}", e["line"]
    assert e["bytes_received"] > 0 and e["bytes_sent"] > 0, e["line"]


# -- istio#24937: two entries on one port without addresses -------------------------


def test_static_and_dns_entries_each_by_their_sni(topo, proxy):
    topo.start_l7("ext-a")
    topo.start_l7("ext-b")
    dns = topo.start_dns(records=[("dns.example.com", EXT_B)])
    p = proxy(tls_entry("by-static", ["static.example.com"], "STATIC", [EXT_A]) + "---\n" +
              tls_entry("by-dns", ["dns.example.com"], "DNS"), "--dns-server", dns)
    for _ in range(2):  # and again, in the other order of arrival
        assert_handshake(topo, "ext-a", VIP, "static.example.com")
        assert_handshake(topo, "ext-b", VIP, "dns.example.com")
    assert [w[3] for w in topo.l7_events("ext-a", "sni")] == ["static.example.com"] * 2
    assert [w[3] for w in topo.l7_events("ext-b", "sni")] == ["dns.example.com"] * 2
    clusters = {e["requested_server_name"]: e["upstream_cluster"]
                for e in p.wait_entries(lambda e: e["downstream_local_address"] ==
                                        f"{VIP}:{TLS_PORT}", count=4)}
    assert clusters == {"static.example.com": f"outbound|{TLS_PORT}||static.example.com",
                        "dns.example.com": f"outbound|{TLS_PORT}||dns.example.com"}, clusters


def test_dynamic_dns_goes_where_the_sni_resolves(topo, proxy):
    """resolution: DYNAMIC_DNS: the upstream is the SNI itself, resolved when the
    connection comes (the app dialled an address nobody has); a name with no
    address is refused with DF and reaches nobody."""
    topo.start_l7("ext-a")
    topo.start_l7("ext-b")
    dns = topo.start_dns(records=[("api.dyn.example.com", EXT_B)])
    p = proxy(tls_entry("dyn", ["*.dyn.example.com"], "DYNAMIC_DNS"), "--dns-server", dns)
    assert_handshake(topo, "ext-b", VIP, "api.dyn.example.com")
    assert_handshake(topo, "ext-b", VIP, "api.dyn.example.com")  # from the cache
    rc, out, err, _ = s_client(topo, VIP, "nx.dyn.example.com")
    assert rc != 0, (rc, out, err)
    [e] = p.wait_entries(lambda e: e["requested_server_name"] == "nx.dyn.example.com")
    assert e["response_flags"] == "DF", e["line"]
    assert accepted(topo, "ext-a") == []
    assert [w[3] for w in topo.l7_events("ext-b", "sni")] == ["api.dyn.example.com"] * 2


# -- the ClientHello as it comes on the wire ----------------------------------------


class MemoryTLS:
    """A TLS client over a memory BIO: the test decides how its bytes hit the wire."""

    def __init__(self, sni):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = ctx.wrap_bio(self.inc, self.out, server_hostname=sni)

    def client_hello(self):
        try:
            self.obj.do_handshake()
        except ssl.SSLWantReadError:
            pass
        return self.out.read()

    def finish(self, sock, line):
        """Complete the handshake over <sock>, send <line>, return the answer."""
        while True:
            try:
                self.obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                sock.sendall(self.out.read())
                data = sock.recv(65536)
                assert data, "the connection ended during the handshake"
                self.inc.write(data)
        self.obj.write(line.encode() + b"\n")
        sock.sendall(self.out.read())
        answer = b""
        while not answer.endswith(b"\n"):
            try:
                answer += self.obj.read(4096)
                continue
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLZeroReturnError:
                break
            data = sock.recv(65536)
            if not data:
                break
            self.inc.write(data)
        return answer.decode(errors="replace")


def two_records(hello):
    """The same ClientHello, its handshake message split across two TLS records."""
    assert hello[0] == 0x16 and len(hello) == 5 + int.from_bytes(hello[3:5], "big"), \
        "expected one handshake record"
    version, payload = hello[1:3], hello[5:]
    cut = len(payload) // 2
    return b"".join(b"\x16" + version + len(p).to_bytes(2, "big") + p
                    for p in (payload[:cut], payload[cut:]))


def padded(hello, size):
    """<hello> grown to <size> bytes by a GREASE extension (RFC 8701: ignored by
    servers), as big as the post-quantum key shares of modern clients make it.
    The handshake cannot finish with it (the client's transcript differs)."""
    body = hello[9:]
    pos = 2 + 32
    pos += 1 + body[pos]  # session id
    pos += 2 + int.from_bytes(body[pos:pos + 2], "big")  # cipher suites
    pos += 1 + body[pos]  # compression methods
    ext_len = int.from_bytes(body[pos:pos + 2], "big")
    assert pos + 2 + ext_len == len(body), "unexpected ClientHello layout"
    grow = size - len(hello) - 4
    exts = body[pos + 2:] + b"\x1a\x1a" + grow.to_bytes(2, "big") + bytes(grow)
    body = body[:pos] + len(exts).to_bytes(2, "big") + exts
    hs = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16" + hello[1:3] + len(hs).to_bytes(2, "big") + hs


def test_big_client_hello_in_three_segments_reaches_the_server_untouched(topo, proxy):
    topo.start_l7("ext-a")
    proxy(WILDCARD)
    hello = padded(MemoryTLS(ALLOWED).client_hello(), 2100)
    s = topo.pod.socket()
    with s:
        s.settimeout(IO_TIMEOUT)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.connect((EXT_A, TLS_PORT))
        for part in (hello[:700], hello[700:1500], hello[1500:]):
            s.sendall(part)
            time.sleep(0.05)
        deadline = time.monotonic() + IO_TIMEOUT
        while not topo.l7_events("ext-a", "hello") and time.monotonic() < deadline:
            time.sleep(0.05)
    [h] = topo.l7_events("ext-a", "hello")
    assert (int(h[3]), h[4]) == (len(hello), hashlib.sha256(hello).hexdigest()), \
        f"the server got another ClientHello than the client sent\n{h}"


@pytest.mark.parametrize("split", ["1-byte-segments", "two-records"])
def test_split_client_hello_reaches_the_server_untouched(topo, proxy, split):
    topo.start_l7("ext-a")
    proxy(WILDCARD)
    tls = MemoryTLS(ALLOWED)
    hello = tls.client_hello()
    s = topo.pod.socket()
    with s:
        s.settimeout(IO_TIMEOUT)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.connect((EXT_A, TLS_PORT))
        if split == "two-records":
            hello = two_records(hello)
            s.sendall(hello)
        else:
            for i in range(len(hello)):
                s.sendall(hello[i:i + 1])
                time.sleep(0.002)
        answer = tls.finish(s, "ping")
    assert answer == f"ext-a {ALLOWED} ping\n", (answer, topo.l7["ext-a"].text())
    [h] = topo.l7_events("ext-a", "hello")
    nrec = 2 if split == "two-records" else 1
    assert (int(h[3]), h[4], int(h[5])) == \
        (len(hello), hashlib.sha256(hello).hexdigest(), nrec), \
        f"the server got another ClientHello than the client sent\n{h}"


# -- clients that send nothing -------------------------------------------------------


def silent_clients(topo, n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = n + 512
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(hard, want)))
    socks = topo.pod.sockets(n)
    try:
        for s in socks:
            s.settimeout(IO_TIMEOUT)
            s.connect((EXT_A, TLS_PORT))
    except BaseException:
        for s in socks:
            s.close()
        raise
    return socks


def test_silent_clients_do_not_delay_a_handshake(topo, proxy):
    topo.start_l7("ext-a")
    proxy(WILDCARD)
    socks = silent_clients(topo, SILENT)
    try:
        time.sleep(0.2)  # the proxy has taken them all in
        took = assert_handshake(topo, "ext-a", EXT_A, ALLOWED)
        print(f"\nallowed handshake with {SILENT} silent clients waiting: {took * 1000:.1f} ms "
              "(openssl s_client, exec to exit)")
    finally:
        for s in socks:
            s.close()


def test_silent_clients_closed_after_detection_timeout(topo, proxy):
    topo.start_l7("ext-a")
    proxy(WILDCARD, "--protocol-detection-timeout", DETECTION_TIMEOUT)
    socks = silent_clients(topo, SILENT)
    t0 = time.monotonic()
    try:
        took = assert_handshake(topo, "ext-a", EXT_A, ALLOWED)
        print(f"\nallowed handshake with {SILENT} silent clients waiting: {took * 1000:.1f} ms")
        open_ = {s.fileno(): s for s in socks}
        deadline = t0 + float(DETECTION_TIMEOUT.rstrip("s")) + IO_TIMEOUT
        poller = select.poll()
        for fd in open_:
            poller.register(fd, select.POLLIN | select.POLLRDHUP)
        while open_ and time.monotonic() < deadline:
            for fd, _ in poller.poll(200):
                s = open_.pop(fd)
                poller.unregister(fd)
                try:
                    data = s.recv(4096, socket.MSG_DONTWAIT)
                except (ConnectionResetError, BlockingIOError):
                    data = b""
                # a silent client may be told why (e.g. a TLS alert), never answered
                assert b"ext-a" not in data, data
        took = time.monotonic() - t0
        assert not open_, (f"{len(open_)} of {SILENT} silent clients still open "
                           f"{took:.1f} s after they connected")
        print(f"all {SILENT} silent clients closed {took:.2f} s after they connected "
              f"(--protocol-detection-timeout {DETECTION_TIMEOUT})")
    finally:
        for s in socks:
            s.close()
    # no silent client got an upstream connection: the server saw the handshake only
    assert len(accepted(topo, "ext-a")) == 1, \
        f"silent clients reached the server\n{topo.l7['ext-a'].text()[-2000:]}"
