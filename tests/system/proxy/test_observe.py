# SPDX-License-Identifier: GPL-2.0-or-later
"""System tests of observability (issue 5, doc/admin.md): the admin endpoint
of a real `portcullis run` in the pod namespace, Istio's TCP metrics after
known transfers, byte counters of open connections, /connections,
/config_dump, /healthz/ready while draining, the admin port's reach, and
interim access-log records.

The test process is the app (its sockets are made inside the pod, so
connect() is captured); the admin endpoint is reached on the pod's
loopback, which `portcullis iptables` never captures.
"""
import json
import os
import re
import shutil
import socket
import subprocess
import time

import pytest

from topology import EXT_B, ECHO, POD_A, WHOAMI

NS = "egress-test"
HOST = "echo.test.example"
CLUSTER = f"outbound|{ECHO}||{HOST}"
IO_TIMEOUT = 10

ECHO_SE = f"""apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: echo
  namespace: {NS}
spec:
  hosts:
  - {HOST}
  addresses:
  - "{EXT_B}/32"
  ports:
  - name: tcp
    number: {ECHO}
    protocol: TCP
  location: MESH_EXTERNAL
  resolution: NONE
"""

# Istio's label order (reference §7.1) and what portcullis fills in.
ISTIO_LABELS = ("reporter", "source_workload", "source_canonical_service",
                "source_canonical_revision", "source_workload_namespace", "source_principal",
                "source_app", "source_version", "source_cluster", "destination_workload",
                "destination_workload_namespace", "destination_principal", "destination_app",
                "destination_version", "destination_service", "destination_canonical_service",
                "destination_canonical_revision", "destination_service_name",
                "destination_service_namespace", "destination_cluster", "request_protocol",
                "response_flags", "connection_security_policy")
ISTIO_FAMILIES = ("istio_tcp_connections_opened_total", "istio_tcp_connections_closed_total",
                  "istio_tcp_received_bytes_total", "istio_tcp_sent_bytes_total")

SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)')


def parse_prom(text):
    """Prometheus text -> list of (name, labels tuple of (k, v) in order, value)."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE_RE.match(line)
        assert m, f"not a sample line: {line!r}"
        labels = tuple(LABEL_RE.findall(m.group(2) or ""))
        out.append((m.group(1), labels, float(m.group(3))))
    return out


def scrape(p):
    status, ctype, body = p.admin("/stats/prometheus")
    assert status == 200, f"/stats/prometheus -> {status} {body[:300]!r}"
    assert ctype.startswith("text/plain"), ctype
    return body.decode()


def value(samples, name, **want):
    """The value of the one sample <name> whose labels include <want>."""
    found = [v for n, labels, v in samples if n == name and want.items() <= dict(labels).items()]
    assert len(found) == 1, f"{len(found)} samples {name} {want}"
    return found[0]


def app_connect(topo, host, port):
    s = topo.pod.socket()
    s.settimeout(IO_TIMEOUT)
    try:
        s.connect((host, port))
    except BaseException:
        s.close()
        raise
    return s


def echo(s, payload):
    s.sendall(payload)
    got = bytearray()
    while len(got) < len(payload):
        data = s.recv(65536)
        assert data, f"EOF after {len(got)} of {len(payload)} echoed bytes"
        got += data
    assert bytes(got) == payload


def close_clean(s):
    s.shutdown(socket.SHUT_WR)
    assert s.recv(1) == b""
    s.close()


def client_of(s):
    host, port = s.getsockname()[:2]
    return f"{host}:{port}"


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout} s")
        time.sleep(0.05)


# -- metrics -------------------------------------------------------------------

def test_known_transfers_give_exact_series(topo, proxy):
    p = proxy(ECHO_SE, "--deny-response", "reset", "--workload", "shop-7f9c",
              "--namespace", "shop", "--labels", "app=shop,version=v2,team=x")
    for size in (1000, 2000, 3000):
        s = app_connect(topo, EXT_B, ECHO)
        echo(s, os.urandom(size))
        close_clean(s)
    for _ in range(2):  # not declared: BlackHoleCluster
        s = topo.pod.socket()
        s.settimeout(IO_TIMEOUT)
        try:
            s.connect((EXT_B, WHOAMI))
            s.recv(1)
        except OSError:
            pass
        s.close()
    p.wait_entries(count=5)
    samples = parse_prom(scrape(p))

    common = {"reporter": "source", "source_workload": "shop-7f9c",
              "source_canonical_service": "shop", "source_canonical_revision": "v2",
              "source_workload_namespace": "shop", "source_principal": "unknown",
              "source_app": "shop", "source_version": "v2", "source_cluster": "unknown",
              "destination_workload": "unknown", "destination_workload_namespace": "unknown",
              "destination_principal": "unknown", "destination_app": "unknown",
              "destination_version": "unknown", "destination_canonical_service": "unknown",
              "destination_canonical_revision": "latest", "destination_cluster": "unknown",
              "request_protocol": "tcp", "connection_security_policy": "unknown"}
    allowed = dict(common, destination_service=HOST, destination_service_name=HOST,
                   destination_service_namespace=NS, response_flags="-")
    denied = dict(common, destination_service="unknown",
                  destination_service_name="BlackHoleCluster",
                  destination_service_namespace="unknown", response_flags="UH")
    want = {
        "istio_tcp_connections_opened_total": {"allowed": 3, "denied": 2},
        "istio_tcp_connections_closed_total": {"allowed": 3, "denied": 2},
        "istio_tcp_received_bytes_total": {"allowed": 6000, "denied": 0},
        "istio_tcp_sent_bytes_total": {"allowed": 6000, "denied": 0},
    }
    for family in ISTIO_FAMILIES:
        series = [(labels, v) for n, labels, v in samples if n == family]
        # exactly two series, each with Istio's full label set in Istio's order
        assert len(series) == 2, f"{family}: {series}"
        for labels, _ in series:
            assert tuple(k for k, _ in labels) == ISTIO_LABELS, labels
        got = {("allowed" if dict(labels) == allowed else
                "denied" if dict(labels) == denied else repr(labels)): v
               for labels, v in series}
        assert got == want[family], f"{family}: {got}"

    assert value(samples, "envoy_cluster_upstream_cx_total", cluster_name=CLUSTER) == 3
    assert value(samples, "envoy_cluster_upstream_cx_active", cluster_name=CLUSTER) == 0
    assert value(samples, "envoy_cluster_upstream_cx_connect_fail_total",
                 cluster_name=CLUSTER) == 0
    assert value(samples, "envoy_cluster_upstream_cx_rx_bytes_total", cluster_name=CLUSTER) == 6000
    assert value(samples, "envoy_cluster_upstream_cx_tx_bytes_total", cluster_name=CLUSTER) == 6000
    assert value(samples, "envoy_cluster_upstream_cx_total",
                 cluster_name="BlackHoleCluster") == 0
    assert value(samples, "envoy_listener_downstream_cx_total") == 5
    assert value(samples, "envoy_listener_downstream_cx_active") == 0
    assert value(samples, "portcullis_denied_connections_total") == 2
    assert value(samples, "portcullis_revoked_connections_total") == 0
    assert value(samples, "portcullis_policy_generation") >= 1
    assert value(samples, "portcullis_resident_memory_bytes") > 1 << 20
    assert value(samples, "portcullis_open_fds") >= 4
    assert value(samples, "portcullis_uptime_seconds") > 0
    # /metrics is the same document
    status, _, body = p.admin("/metrics")
    assert status == 200 and b"istio_tcp_connections_opened_total{" in body

    # the JSON form that `portcullis top` reads
    js = p.admin_json("/stats?format=json")
    assert js["listener"] == {"downstream_cx_total": 5, "downstream_cx_active": 0,
                              "denied": 2, "revoked": 0,
                              "accept_errors": {"EMFILE": 0, "ENFILE": 0, "ENOBUFS": 0,
                                                "ENOMEM": 0},
                              "upstream_socket_errors": 0}
    echo_c = [c for c in js["clusters"] if c["name"] == CLUSTER]
    assert echo_c and echo_c[0]["service"] == HOST and echo_c[0]["namespace"] == NS
    assert (echo_c[0]["upstream_cx_total"], echo_c[0]["rx_bytes"], echo_c[0]["tx_bytes"]) == \
        (3, 6000, 6000)


def test_promtool_accepts_a_real_scrape(topo, proxy):
    promtool = shutil.which("promtool")
    if not promtool:
        pytest.skip("promtool is missing (Debian package prometheus)")
    # --labels are checked as Istio checks labels; --workload is free text, so it
    # carries the characters the exposition format must escape
    p = proxy(ECHO_SE, "--deny-response", "reset", "--workload", 'a"b\\c')
    s = app_connect(topo, EXT_B, ECHO)
    echo(s, b"x" * 100)
    close_clean(s)
    p.wait_entries(count=1)
    text = scrape(p)
    r = subprocess.run([promtool, "check", "metrics"], input=text.encode(),
                       capture_output=True, timeout=30)
    assert r.returncode == 0 and not r.stdout.strip() and not r.stderr.strip(), \
        f"promtool check metrics -> {r.returncode}\n{r.stdout.decode()}{r.stderr.decode()}\n{text}"
    assert 'source_workload="a\\"b\\\\c"' in text  # escaped as the format says


def test_stats_off(topo, proxy):
    p = proxy(ECHO_SE, "--stats", "off")
    assert p.admin("/stats/prometheus")[0] == 404
    assert p.admin("/healthz/ready")[0] == 200
    s = app_connect(topo, EXT_B, ECHO)
    echo(s, b"y" * 10)
    close_clean(s)
    p.wait_entries(count=1)


# -- open connections ----------------------------------------------------------

def test_open_connection_bytes_rise_and_show_in_connections(topo, proxy):
    p = proxy(ECHO_SE, "--tcp-reporting-interval", "1s", access_format="json")

    def received():
        return value(parse_prom(scrape(p)), "istio_tcp_received_bytes_total",
                     destination_service=HOST, response_flags="-")

    s = app_connect(topo, EXT_B, ECHO)
    echo(s, b"a" * 1000)
    wait_for(lambda: received() == 1000, 3, "1000 bytes counted while open")
    conns = p.admin_json("/connections")["connections"]
    assert len(conns) == 1, conns
    c = conns[0]
    assert c["client"] == client_of(s) and c["destination"] == f"{EXT_B}:{ECHO}"
    assert c["cluster"] == CLUSTER and c["upstream"] == f"{EXT_B}:{ECHO}"
    assert c["state"] == "established"
    assert (c["bytes_received"], c["bytes_sent"]) == (1000, 1000)
    assert c["age_seconds"] >= 0 and isinstance(c["worker"], int)
    echo(s, b"b" * 500)
    wait_for(lambda: received() == 1500, 3, "1500 bytes counted while open")
    assert p.admin_json("/connections")["connections"][0]["bytes_received"] == 1500
    client = client_of(s)
    close_clean(s)
    e = json.loads(p.entry_for_addr(client)["line"])
    assert e["connection_id"] == c["id"] and e["access_log_type"] == "TcpConnectionEnd"
    samples = parse_prom(scrape(p))
    assert value(samples, "istio_tcp_received_bytes_total", destination_service=HOST) == 1500
    assert value(samples, "istio_tcp_connections_closed_total", destination_service=HOST) == 1
    assert p.admin_json("/connections") == {"connections": []}


def test_sixty_second_connection_counts_before_it_closes(topo, proxy):
    """Issue 5: a 60-second connection with the default 15 s reporting interval."""
    p = proxy(ECHO_SE)
    s = app_connect(topo, EXT_B, ECHO)
    seen = []
    t0 = time.monotonic()
    sent = 0
    while time.monotonic() - t0 < 60:
        echo(s, b"z" * 100)
        sent += 100
        if not seen or time.monotonic() - seen[-1][0] >= 5:
            v = value(parse_prom(scrape(p)), "istio_tcp_sent_bytes_total",
                      destination_service=HOST)
            seen.append((time.monotonic(), v))
        time.sleep(1)
    before_close = [v for _, v in seen]
    close_clean(s)
    p.wait_entries(count=1)
    final = value(parse_prom(scrape(p)), "istio_tcp_sent_bytes_total", destination_service=HOST)
    assert final == sent
    rises = sum(1 for a, b in zip(before_close, before_close[1:]) if b > a)
    assert rises >= 3, f"sent bytes while open (every ~5 s): {before_close}"
    assert 0 < before_close[-1] < sent


# -- config dump, readiness, logging ---------------------------------------------

def test_config_dump_clusters_and_ready_while_draining(topo, proxy):
    p = proxy(ECHO_SE, "--deny-response", "reset")
    dump = p.admin_json("/config_dump")
    assert dump["generation"] >= 1 and dump["outbound_traffic_policy"] == "REGISTRY_ONLY"
    assert [r["metadata"]["name"] for r in dump["resources"]] == ["echo"]
    assert dump["resources"][0]["kind"] == "ServiceEntry"
    pol = dump["policy"]
    assert pol["generation"] == dump["generation"]
    ports = {pp["port"]: pp for pp in pol["ports"]}
    assert ports[ECHO]["chains"] == [{"prefix": f"{EXT_B}/32", "cluster": CLUSTER}]
    assert ports[ECHO]["any"] is None
    clusters = {c["name"]: c for c in pol["clusters"]}
    assert {"BlackHoleCluster", "PassthroughCluster", CLUSTER} <= set(clusters)
    c = clusters[CLUSTER]
    assert (c["kind"], c["host"], c["namespace"], c["resolution"]) == \
        ("service", HOST, NS, "NONE")
    assert c["connect_timeout_ms"] == 10000 and c["max_connections"] is None

    status, _, body = p.admin("/clusters")
    assert status == 200 and f"{CLUSTER}::default_priority::max_connections::".encode() in body
    cl = p.admin_json("/clusters?format=json")
    assert CLUSTER in [x["name"] for x in cl["clusters"]]

    assert p.admin("/logging")[2] and p.admin_json("/logging") == {"level": "info"}
    assert p.admin("/logging?level=debug", "POST")[0] == 200
    assert p.admin_json("/logging") == {"level": "debug"}
    assert p.admin("/logging?level=loud", "POST")[0] == 400
    assert p.admin("/logging?level=info", "GET")[0] == 405
    assert p.admin("/logging?level=info", "POST")[0] == 200
    assert p.admin("/nonexistent")[0] == 404
    assert p.admin("/stats/prometheus", "POST")[0] == 405
    assert "denials" in p.admin_json("/denials")

    assert p.admin("/healthz/ready") == (200, "text/plain; charset=utf-8", b"LIVE\n")
    s = app_connect(topo, EXT_B, ECHO)  # keeps the drain going (--drain-duration 2s)
    echo(s, b"q")
    p.sigterm()
    wait_for(lambda: p.admin("/healthz/ready")[0] == 503, 2, "503 while draining")
    s.close()
    p.wait_exit()


# -- the admin port's reach -----------------------------------------------------

def tcp_reaches(ns, host, port):
    s = ns.socket()
    s.settimeout(2)
    try:
        s.connect((host, port))
        return True
    except (ConnectionRefusedError, socket.timeout, OSError):
        return False
    finally:
        s.close()


@pytest.mark.parametrize("mode", ["default", "any"])
def test_admin_port_reach(topo, proxy, mode):
    if mode == "default":
        p = proxy(ECHO_SE)
    else:
        p = proxy(ECHO_SE, "--admin-any", admin="0.0.0.0:15000")
    assert p.admin("/healthz/ready")[0] == 200 if mode == "default" else True
    from_outside = tcp_reaches(topo.ext_a, POD_A, 15000)
    from_pod_address = tcp_reaches(topo.pod, POD_A, 15000)  # lo, not captured
    if mode == "default":
        assert not from_outside and not from_pod_address
        assert tcp_reaches(topo.pod, "127.0.0.1", 15000)
    else:  # the control: the same probes do reach a port that listens everywhere
        assert from_outside and from_pod_address


def test_admin_refuses_non_loopback_without_admin_any(pc, bare_ns, workdir):
    rc, out, err = pc.run("run", "--admin", "0.0.0.0:15000", "--state-dir", workdir / "st",
                          "--api-socket", workdir / "api.sock", "--proxy-port", "15001",
                          ns=bare_ns)
    assert rc == 1, f"exit {rc}\n{out}{err}"
    assert "not a loopback address" in err and "--admin-any" in err, err
    rc, out, err = pc.run("run", "--admin", "nonsense", "--state-dir", workdir / "st",
                          "--api-socket", workdir / "api.sock", ns=bare_ns)
    assert rc == 1 and "--admin needs ADDRESS:PORT" in err, f"exit {rc}\n{out}{err}"


# -- interim access-log records --------------------------------------------------

def test_interim_access_log_records(topo, proxy):
    p = proxy(ECHO_SE, "--access-log-flush-interval", "1s", "--access-log-on-open",
              access_format="json")
    s = app_connect(topo, EXT_B, ECHO)
    client = client_of(s)
    t0 = time.monotonic()
    while time.monotonic() - t0 < 3.3:
        echo(s, b"m" * 100)
        time.sleep(0.25)
    conn_id = p.admin_json("/connections")["connections"][0]["id"]
    close_clean(s)
    p.wait_entries(lambda e: e["downstream_remote_address"] == client and
                   json.loads(e["line"])["access_log_type"] == "TcpConnectionEnd")
    recs = [json.loads(e["line"]) for e in p.entries()
            if e["downstream_remote_address"] == client]
    types = [r["access_log_type"] for r in recs]
    assert types[0] == "TcpUpstreamConnected" and types[-1] == "TcpConnectionEnd", types
    periodic = [r for r in recs if r["access_log_type"] == "TcpPeriodic"]
    assert 2 <= len(periodic) <= 4, types
    assert {r["connection_id"] for r in recs} == {conn_id}
    rx = [r["bytes_received"] for r in recs]
    assert rx == sorted(rx) and rx[0] == 0, rx
    assert periodic[0]["bytes_received"] < periodic[-1]["bytes_received"] < rx[-1], rx
    assert all(r["upstream_cluster"] == CLUSTER for r in recs)
    durations = [r["duration"] for r in recs]
    assert durations == sorted(durations), durations
