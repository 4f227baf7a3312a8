# SPDX-License-Identifier: GPL-2.0-or-later
"""System tests of egress by name on HTTP ports (issue 11): the Host decides.

A ServiceEntry port declared HTTP without addresses opens HTTP/1.x requests
whose Host is one of its hosts (`host` or `host:port`), on that port, to the
original destination (resolution NONE), and nothing else. Every request of a
kept-alive connection is checked, so a second request for a foreign Host is
refused (the explained 403, then the connection is closed) and never reaches
the upstream. Requests that two parsers could read differently (request
smuggling: Content-Length with Transfer-Encoding, two Content-Lengths,
obs-fold, bare LF) get 400 and never reach the upstream either. A WebSocket
upgrade to an allowed Host becomes opaque TCP, both ways.

The external host runs l7servers.py, whose HTTP server answers every request
with the Host it saw and logs every connection and request, so what reached
the upstream is read from its log. Clients: curl, and raw sockets where the
exact bytes matter.
"""
import re
import socket
import subprocess
import time

import pytest

from topology import EXT_A, HTTP_PORT

NS = "egress-test"
CMD_TIMEOUT = 20
IO_TIMEOUT = 10
SETTLE = 0.5  # seconds for a request the proxy might (wrongly) relay to show up
ALLOWED = "httpbin.example.com"
FOREIGN = "evil.example.org"
SENTENCE_RE = re.compile(r"portcullis: egress to .+ denied: ")  # src/proxy/deny.c

HTTP_ENTRY = f"""apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: httpbin
  namespace: {NS}
spec:
  hosts: [{ALLOWED}]
  ports: [{{number: {HTTP_PORT}, name: http, protocol: HTTP}}]
  location: MESH_EXTERNAL
  resolution: NONE
"""


def run_in_pod(topo, *argv):
    try:
        p = subprocess.run(topo.pod.argv(*argv), capture_output=True, timeout=CMD_TIMEOUT,
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{' '.join(map(str, argv))}: no exit within {CMD_TIMEOUT} s")
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def curl(topo, host, path="/", *extra):
    """curl -i to EXT_A with Host: <host>: (exit status, status code, body, output)."""
    rc, out, err = run_in_pod(topo, "curl", "-sS", "-i", "-H", f"Host: {host}", *extra,
                              f"http://{EXT_A}:{HTTP_PORT}{path}")
    head, _, body = out.partition("\r\n\r\n")
    m = re.match(r"HTTP/1\.[01] (\d{3})", head)
    return rc, int(m.group(1)) if m else None, body, out + err


def requests(topo):
    """(method, path, host) of every request the server parsed."""
    return [(w[3], w[4], w[5]) for w in topo.l7_events("ext-a", "request")]


def accepted(topo):
    return [w for w in topo.l7_events("ext-a", "accept") if w[2] == str(HTTP_PORT)]


def connect(topo):
    s = topo.pod.socket()
    s.settimeout(IO_TIMEOUT)
    s.connect((EXT_A, HTTP_PORT))
    return s


def read_response(s, buf=b""):
    """One HTTP/1.1 response from <s> (Content-Length or up to EOF):
    (status, headers dict with lower-case names, body, bytes left over)."""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            raise AssertionError(f"the connection ended before a response head: {buf!r}")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    if status == 101:
        return status, headers, b"", rest
    if "content-length" in headers:
        n = int(headers["content-length"])
        while len(rest) < n:
            chunk = s.recv(65536)
            if not chunk:
                raise AssertionError(f"the body ended at {len(rest)} of {n} bytes")
            rest += chunk
        return status, headers, rest[:n], rest[n:]
    while True:
        chunk = s.recv(65536)
        if not chunk:
            return status, headers, rest, b""
        rest += chunk


def ends(s):
    """Whether the connection is closed (EOF or RST) with nothing more to read."""
    try:
        data = s.recv(4096)
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False
    assert data == b"", f"more bytes after the response: {data!r}"
    return True


# -- allowed and foreign Host --------------------------------------------------------


def test_allowed_host_is_relayed(topo, proxy):
    topo.start_l7("ext-a")
    proxy(HTTP_ENTRY)
    rc, status, body, out = curl(topo, ALLOWED, "/hello")
    assert (rc, status, body) == (0, 200, f"ext-a host={ALLOWED} path=/hello\n"), out
    # the host:port form of the same name
    rc, status, body, out = curl(topo, f"{ALLOWED}:{HTTP_PORT}", "/port")
    assert (rc, status, body) == (0, 200, f"ext-a host={ALLOWED}:{HTTP_PORT} path=/port\n"), out
    assert requests(topo) == [("GET", "/hello", ALLOWED),
                              ("GET", "/port", f"{ALLOWED}:{HTTP_PORT}")]


def test_foreign_host_gets_the_403(topo, proxy):
    topo.start_l7("ext-a")
    p = proxy(HTTP_ENTRY)
    rc, status, body, out = curl(topo, FOREIGN, "/steal")
    assert (rc, status) == (0, 403), out
    assert SENTENCE_RE.search(body), out
    time.sleep(SETTLE)
    assert accepted(topo) == [] and requests(topo) == [], topo.l7["ext-a"].text()
    line = p.wait_stderr(r'msg="connection denied"')
    assert FOREIGN in line, line


def test_second_request_for_a_foreign_host_on_a_kept_alive_connection(topo, proxy):
    topo.start_l7("ext-a")
    proxy(HTTP_ENTRY)
    with connect(topo) as s:
        s.sendall(f"GET /one HTTP/1.1\r\nHost: {ALLOWED}\r\n\r\n".encode())
        status, headers, body, rest = read_response(s)
        assert (status, body) == (200, f"ext-a host={ALLOWED} path=/one\n".encode()), \
            (status, headers, body)
        s.sendall(f"GET /two HTTP/1.1\r\nHost: {FOREIGN}\r\n\r\n".encode())
        status, headers, body, rest = read_response(s, rest)
        assert status == 403, (status, headers, body)
        assert SENTENCE_RE.search(body.decode(errors="replace")), body
        assert rest == b"" and ends(s), "the connection must be closed after the 403"
    time.sleep(SETTLE)
    assert requests(topo) == [("GET", "/one", ALLOWED)], topo.l7["ext-a"].text()


# -- request smuggling ---------------------------------------------------------------

SMUGGLING = {
    "cl-and-te": (f"POST /smuggle HTTP/1.1\r\nHost: {ALLOWED}\r\nContent-Length: 4\r\n"
                  "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    "two-content-lengths": (f"POST /smuggle HTTP/1.1\r\nHost: {ALLOWED}\r\n"
                            "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"),
    "obs-fold": (f"GET /smuggle HTTP/1.1\r\nHost: {ALLOWED}\r\nX-Folded: a\r\n"
                 " b\r\n\r\n"),
    "bare-lf": f"GET /smuggle HTTP/1.1\nHost: {ALLOWED}\nX-Bare: lf\n\n",
}


@pytest.mark.parametrize("case", SMUGGLING)
def test_smuggling_gets_400_and_never_reaches_the_upstream(topo, proxy, case):
    topo.start_l7("ext-a")
    proxy(HTTP_ENTRY)
    with connect(topo) as s:
        s.sendall(SMUGGLING[case].encode())
        status, headers, body, _ = read_response(s)
    assert status == 400, (case, status, headers, body)
    time.sleep(SETTLE)
    assert accepted(topo) == [] and requests(topo) == [], \
        f"{case} reached the upstream\n{topo.l7['ext-a'].text()}"


# -- upgrade -------------------------------------------------------------------------


def test_websocket_upgrade_carries_bytes_both_ways(topo, proxy):
    topo.start_l7("ext-a")
    proxy(HTTP_ENTRY)
    with connect(topo) as s:
        s.sendall(f"GET /ws HTTP/1.1\r\nHost: {ALLOWED}\r\nUpgrade: websocket\r\n"
                  "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n".encode())
        status, headers, _, rest = read_response(s)
        assert status == 101, (status, headers)
        assert headers.get("sec-websocket-accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", headers
        # server first: the upstream's bytes come down before the client says anything
        while b"\n" not in rest:
            chunk = s.recv(4096)
            assert chunk, f"EOF after the 101 ({rest!r})"
            rest += chunk
        assert rest == b"welcome ext-a\n", rest
        # then client bytes up and their echo down, binary and more than one segment
        payload = bytes(range(256)) * 64
        s.sendall(payload)
        got = b""
        while len(got) < len(payload):
            chunk = s.recv(65536)
            assert chunk, f"EOF after {len(got)} of {len(payload)} echoed bytes"
            got += chunk
        assert got == payload
        s.shutdown(socket.SHUT_WR)
        assert ends(s)
    assert [w[0] for w in topo.l7_events("ext-a") if w[0] in ("request", "upgrade")] == \
        ["request", "upgrade"]


# -- what operators see: one record and one metric sample per request ----------------


def test_each_request_is_logged_and_counted(topo, proxy):
    topo.start_l7("ext-a")
    p = proxy(HTTP_ENTRY)
    with connect(topo) as s:
        s.sendall(f"GET /a HTTP/1.1\r\nHost: {ALLOWED}\r\n\r\n"
                  f"GET /b HTTP/1.1\r\nHost: {ALLOWED}\r\n\r\n".encode())  # pipelined
        first = read_response(s)
        second = read_response(s, first[3])
        assert (first[0], second[0]) == (200, 200), (first, second)
        s.sendall(f"GET /c HTTP/1.1\r\nHost: {FOREIGN}\r\n\r\n".encode())
        status, _, _, _ = read_response(s, second[3])
        assert status == 403
    reqs = p.wait_entries(lambda e: e.get("method") == "GET", count=3)
    got = sorted((e["path"], int(e["response_code"]), e["authority"]) for e in reqs)
    assert got == [("/a", 200, ALLOWED), ("/b", 200, ALLOWED), ("/c", 403, FOREIGN)], got
    status, _, body = p.admin("/stats/prometheus")
    assert status == 200
    text = body.decode()
    ok = [line for line in text.splitlines() if line.startswith("istio_requests_total{")
          and 'response_code="200"' in line and f'destination_service="{ALLOWED}"' in line]
    assert len(ok) == 1 and ok[0].endswith(" 2"), ok
    denied = [line for line in text.splitlines() if line.startswith("istio_requests_total{")
              and 'response_code="403"' in line]
    assert len(denied) == 1 and denied[0].endswith(" 1"), denied
    assert "istio_request_duration_milliseconds_bucket{" in text
