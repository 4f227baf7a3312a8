# SPDX-License-Identifier: GPL-2.0-or-later
"""System tests of denials that explain themselves (--deny-response).

A denied connection (no ServiceEntry under REGISTRY_ONLY) is answered in
its client's protocol, and real clients must print the portcullis
sentence: `mariadb` (ERROR 1130), `openssl s_client` (an access_denied
alert), `curl` (the 403 body). Anything else is reset; so is everything
with --deny-response reset. The proxy logs the first denial of a
destination once, at notice, with the nearest ServiceEntry.

The destination 203.0.113.9 has no ServiceEntry on the ports used here;
two entries come near it: `mysql-external` (203.0.113.10 on 3306: same
port, other address) and `web` (203.0.113.9 on 3307: same address, other
port).
"""
import json
import re
import shutil
import subprocess
import time

import pytest

DST = "203.0.113.9"
NS = "egress-test"
CMD_TIMEOUT = 20  # seconds for each client run
SNIFF_WAIT = 2.0  # PC_DENY_SNIFF_MS
REASON = "no ServiceEntry matches (outbound traffic policy REGISTRY_ONLY)"

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
  name: web
  namespace: {NS}
spec:
  hosts: [web.example.com]
  addresses: ["{DST}"]
  ports: [{{name: mysql, number: 3307, protocol: TCP}}]
  location: MESH_EXTERNAL
  resolution: NONE
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: legacy-db
  namespace: {NS}
spec:
  hosts: [legacy-db.example.com]
  addresses: ["198.51.100.77"]
  ports: [{{name: db, number: 4406, protocol: MYSQL}}]
  location: MESH_EXTERNAL
  resolution: NONE
"""

HINT = (f"ServiceEntry {NS}/mysql-external allows 203.0.113.10/32 on port 3306; "
        f"ServiceEntry {NS}/web allows {DST}/32 on port 3307")


def sentence(host, port):
    return f"portcullis: egress to {host}:{port} denied: {REASON}"


def need(tool):
    if not shutil.which(tool):
        pytest.fail(f"{tool} is missing: scripts/install-deps.sh must install it")


def run_in_pod(topo, *argv, input=None):
    """Run a client in the pod; (exit status, stdout, stderr, seconds)."""
    t0 = time.monotonic()
    try:
        p = subprocess.run(topo.pod.argv(*argv), capture_output=True, timeout=CMD_TIMEOUT,
                           input=input, stdin=None if input is not None else subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{' '.join(argv)}: no exit within {CMD_TIMEOUT} s")
    return (p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace"),
            time.monotonic() - t0)


def mariadb(topo, port, *extra):
    need("mariadb")
    return run_in_pod(topo, "mariadb", "--no-defaults", "-h", DST, "-P", port, "-u", "app",
                      "--connect-timeout=10", *extra, "-e", "select 1")


def app_connect(topo, host, port, timeout=10):
    s = topo.pod.socket()
    s.settimeout(timeout)
    s.connect((host, port))
    return s


def ends_with_reset(s):
    """Read until the connection ends: 'RST' or 'EOF'; no byte may come first."""
    try:
        data = s.recv(4096)
    except ConnectionResetError:
        return "RST"
    assert data == b"", f"got {data!r} from a connection that must be reset"
    return "EOF"


def denial_lines(p, dst):
    return [ln for ln in p.stderr().splitlines()
            if 'msg="connection denied"' in ln and f"dst={dst} " in ln]


def assert_uh(p, dst):
    """The session still writes its access-log record: BlackHoleCluster, UH, no bytes."""
    found = p.wait_entries(lambda e: e["downstream_local_address"] == dst)
    for e in found:
        assert e["upstream_cluster"] == "BlackHoleCluster", e["line"]
        assert e["flags"] == {"UH"}, e["line"]
        assert (e["bytes_received"], e["bytes_sent"]) == (0, 0), e["line"]


# -- protocol answers ----------------------------------------------------------


def test_mariadb_prints_the_sentence(topo, proxy):
    need("curl")
    p = proxy(ENTRIES)
    # Without TLS the client prints the server's error as it is.
    rc, out, err, took = mariadb(topo, 3306, "--skip-ssl")
    assert rc == 1, (rc, out, err)
    assert err.strip() == f"ERROR 1130 (HY000): {sentence(DST, 3306)}", err
    assert took < 2, f"mariadb took {took:.2f} s: the ERR packet must come at once"
    # MariaDB 10.11+ clients want TLS by default and wrap any error that comes
    # before it (a real server's 1130 too); the sentence is still printed.
    rc, out, err, _ = mariadb(topo, 3306)
    assert rc == 1, (rc, out, err)
    assert f"1130 - {sentence(DST, 3306)}" in err, err
    # The log: one line for the two denials, with the reason and both near misses.
    line = p.wait_stderr(r'msg="connection denied".* dst=203\.0\.113\.9:3306 ')
    assert "level=notice" in line, line
    assert f'reason="{REASON}"' in line, line
    assert "response=mysql" in line, line
    assert f'hint="{HINT}"' in line, line
    time.sleep(0.2)
    assert len(denial_lines(p, f"{DST}:3306")) == 1, p.stderr()
    assert_uh(p, f"{DST}:3306")
    # /denials (doc/admin.md) keeps both, with the hint
    rc, out, err, _ = run_in_pod(topo, "curl", "-sS", "http://127.0.0.1:15000/denials")
    assert rc == 0, (rc, out, err)
    denials = json.loads(out)["denials"]
    assert len(denials) == 2, out
    for d in denials:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", d["time"]), d
        assert d["client"].startswith("192.0.2.1:"), d
        assert (d["destination"], d["reason"], d["hint"], d["response"]) == \
            (f"{DST}:3306", REASON, HINT, "mysql"), d


def test_mariadb_on_declared_mysql_port(topo, proxy):
    """A port some ServiceEntry declares MYSQL is answered like 3306."""
    proxy(ENTRIES)
    rc, out, err, _ = mariadb(topo, 4406, "--skip-ssl")
    assert rc == 1, (rc, out, err)
    assert err.strip() == f"ERROR 1130 (HY000): {sentence(DST, 4406)}", err


def test_openssl_sees_access_denied(topo, proxy):
    need("openssl")
    p = proxy(ENTRIES)
    rc, out, err, took = run_in_pod(topo, "openssl", "s_client", "-connect", f"{DST}:443",
                                    "-servername", "api.example.com", input=b"")
    assert rc != 0, (rc, out, err)
    assert "alert access denied" in err, err
    assert "alert number 49" in err, err
    assert took < SNIFF_WAIT, f"openssl took {took:.2f} s"
    line = p.wait_stderr(r'msg="connection denied".* dst=203\.0\.113\.9:443 ')
    assert "response=tls" in line, line
    # same address on another port: that hint only
    assert f'hint="ServiceEntry {NS}/web allows {DST}/32 on port 3307"' in line, line
    assert_uh(p, f"{DST}:443")


@pytest.mark.parametrize("version", ["-tls1_2", "-tls1_3"])
def test_openssl_alert_in_each_version(topo, proxy, version):
    need("openssl")
    proxy(ENTRIES)
    rc, out, err, _ = run_in_pod(topo, "openssl", "s_client", version, "-connect",
                                 f"{DST}:8443", input=b"")
    assert rc != 0 and "alert access denied" in err, (rc, out, err)


def test_curl_sees_403_body(topo, proxy):
    need("curl")
    p = proxy(ENTRIES)
    rc, out, err, took = run_in_pod(topo, "curl", "-sS", "-i", f"http://{DST}/path")
    assert rc == 0, (rc, out, err)
    head, _, body = out.partition("\r\n\r\n")
    assert head.splitlines()[0] == "HTTP/1.1 403 Forbidden", out
    assert "Content-Type: text/plain" in head, out
    assert "Connection: close" in head, out
    assert body == sentence(DST, 80) + "\n", out
    assert took < SNIFF_WAIT, f"curl took {took:.2f} s"
    line = p.wait_stderr(r'msg="connection denied".* dst=203\.0\.113\.9:80 ')
    assert "response=http" in line, line
    # what a user sees by default: just the sentence
    rc, out, err, _ = run_in_pod(topo, "curl", "-sS", f"http://{DST}/")
    assert (rc, out) == (0, sentence(DST, 80) + "\n"), (rc, out, err)
    rc, out, err, _ = run_in_pod(topo, "curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
                                 f"http://{DST}/")
    assert out == "403", (rc, out, err)


def test_curl_upload_gets_the_answer(topo, proxy):
    """A request with a body: the 403 comes after the first bytes, while curl still sends."""
    need("curl")
    proxy(ENTRIES)
    body = b"x" * (32 * 1024)
    rc, out, err, _ = run_in_pod(topo, "curl", "-sS", "-H", "Expect:", "--data-binary", "@-",
                                 f"http://{DST}/upload", input=body)
    assert (rc, out) == (0, sentence(DST, 80) + "\n"), (rc, out, err)


def test_client_still_sending_gets_the_answer(topo, proxy):
    """The answer goes out after the first bytes; what the client sends after it is read
    and dropped, not answered with a RST (closing with unread input sends one), so a
    client that sends its request in two writes is not told "connection reset" on the
    second and can read the answer."""
    proxy(ENTRIES)
    with app_connect(topo, DST, 8080) as s:
        s.sendall(b"POST /upload HTTP/1.1\r\nHost: api.example.com\r\n")
        time.sleep(0.3)  # the 403 and the FIN are out by now
        s.sendall(b"Content-Length: 5\r\n\r\n")  # would fail with EPIPE/ECONNRESET
        time.sleep(0.1)
        s.sendall(b"hello")
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 403 Forbidden\r\n"), data
    assert body.decode() == sentence(DST, 8080) + "\n", data


def test_other_protocols_are_reset(topo, proxy):
    p = proxy(ENTRIES)
    with app_connect(topo, DST, 7000) as s:
        t0 = time.monotonic()
        s.sendall(b"hello\n")
        assert ends_with_reset(s) == "RST"
        # at once on the bytes, not at the end of the silent-client wait
        assert time.monotonic() - t0 < SNIFF_WAIT - 0.5
    line = p.wait_stderr(r'msg="connection denied".* dst=203\.0\.113\.9:7000 ')
    assert "response=reset" in line, line
    assert_uh(p, f"{DST}:7000")


def test_silent_client_is_reset_after_the_wait(topo, proxy):
    proxy(ENTRIES)
    with app_connect(topo, DST, 7001) as s:
        t0 = time.monotonic()
        how = ends_with_reset(s)
        took = time.monotonic() - t0
    assert how == "RST"
    # the wait, not earlier; the upper bound only says "then", with room for a loaded machine
    assert SNIFF_WAIT - 0.2 < took < SNIFF_WAIT + 3.0, f"reset after {took:.2f} s"


def test_deny_response_reset_resets_everything(topo, proxy):
    need("curl")
    need("mariadb")
    p = proxy(ENTRIES, "--deny-response", "reset")
    rc, out, err, took = mariadb(topo, 3306, "--skip-ssl")
    assert rc == 1 and "portcullis" not in err, (rc, out, err)
    assert "ERROR 2013" in err or "ERROR 2002" in err, err  # lost connection
    assert took < 2, took
    rc, out, err, _ = run_in_pod(topo, "curl", "-sS", f"http://{DST}/")
    # a reset: during the connect (7), or after it (52 empty reply, 55/56 send/recv failure)
    assert rc in (7, 52, 55, 56) and out == "", (rc, out, err)
    for port in (443, 7000):
        s = topo.pod.socket()
        with s:
            s.settimeout(10)
            try:  # the reset may come so fast that connect() or send() report it
                s.connect((DST, port))
                s.sendall(b"\x16\x03\x01\x00\x05\x01\x00\x00\x01\x03")
            except (ConnectionResetError, BrokenPipeError):
                continue
            assert ends_with_reset(s) == "RST"
    # still logged, with the hint
    line = p.wait_stderr(r'msg="connection denied".* dst=203\.0\.113\.9:3306 ')
    assert "response=reset" in line and f'hint="{HINT}"' in line, line


def test_ipv6_destination_in_brackets(topo, proxy):
    need("curl")
    proxy(ENTRIES)
    rc, out, err, _ = run_in_pod(topo, "curl", "-sS", "-g", "http://[2001:db8:1::3]:8080/")
    assert (rc, out) == (0, sentence("[2001:db8:1::3]", 8080) + "\n"), (rc, out, err)


def test_repeated_denials_log_once(topo, proxy):
    p = proxy(ENTRIES)
    for _ in range(20):
        with app_connect(topo, DST, 7002) as s:
            s.sendall(b"nope")
            ends_with_reset(s)
    p.wait_stderr(r'msg="connection denied".* dst=203\.0\.113\.9:7002 ')
    time.sleep(0.2)
    lines = denial_lines(p, f"{DST}:7002")
    assert len(lines) == 1, "\n".join(lines)
    assert not re.search(r"level=(warn|err)", p.stderr()), p.stderr()
