# SPDX-License-Identifier: GPL-2.0-or-later
"""Istio's scoping per workload, with real connections through `portcullis run`
(doc/scoping.md, issue 12 point 1).

The proxy serves one workload (--namespace, --labels, --root-namespace). Only
the configuration Istio would give that workload is enforced:

* a Sidecar applies to its own namespace (the root namespace's to every
  namespace without one), one with a workloadSelector to the workloads it
  selects; the selector match beats the namespace-wide one, which beats the
  root's, and the one that applies decides ALLOW_ANY vs REGISTRY_ONLY;
* a ServiceEntry hidden by exportTo (`.` elsewhere, `~`, another namespace's
  name) or not imported by the Sidecar's egress hosts lets nothing out;
* /config_dump says for every object whether it is in force and why, and
  `apply` warns about objects that can never apply to this proxy.

Each run is one `portcullis run` in the topology's pod; a test that needs
another workload identity stops it and starts another (one proxy per pod).
"""
import os
import socket

import servers
from topology import BANNER, ECHO, EXT_A, EXT_B, EXT_B2, POD_A, POD_B

IO_TIMEOUT = 10  # seconds for any single socket operation (a hang guard)
PASSTHROUGH = "PassthroughCluster"
BLACKHOLE = "BlackHoleCluster"


# -- resources -------------------------------------------------------------------


def meta(kind, name, ns, ts="2025-01-01T00:00:00Z"):
    return (f"apiVersion: networking.istio.io/v1\nkind: {kind}\nmetadata:\n"
            f"  name: {name}\n  namespace: {ns}\n  creationTimestamp: '{ts}'\n")


def se(name, ns, host, addr, port, export_to=None):
    text = meta("ServiceEntry", name, ns) + (
        f"spec:\n  hosts: [{host}]\n  addresses: ['{addr}/32']\n"
        f"  ports: [{{number: {port}, name: tcp-{port}, protocol: TCP}}]\n"
        "  location: MESH_EXTERNAL\n  resolution: NONE\n")
    if export_to is not None:
        text += "  exportTo: [" + ", ".join(f"'{e}'" for e in export_to) + "]\n"
    return text


def sidecar(name, ns, mode=None, selector=None, egress=None, ts="2025-01-01T00:00:00Z"):
    text = meta("Sidecar", name, ns, ts) + "spec:\n"
    if selector:
        text += "  workloadSelector:\n    labels: {" + \
            ", ".join(f"{k}: {v}" for k, v in selector.items()) + "}\n"
    if egress:
        text += "  egress:\n  - hosts: [" + ", ".join(f"'{h}'" for h in egress) + "]\n"
    if mode:
        text += f"  outboundTrafficPolicy: {{mode: {mode}}}\n"
    return text


def docs(*texts):
    return "---\n".join(texts)


UNRELATED = se("unrelated", "default", "unrelated.test.example", "203.0.113.99", 9999)


def cluster(port, host):
    return f"outbound|{port}||{host}"


# -- the app side -------------------------------------------------------------------


def exchange(s, port):
    """One exchange with servers.py on <port>: True when the server answered."""
    if port == BANNER:
        want = servers.BANNER_LINE
    else:
        want = os.urandom(64)
        s.sendall(want)
    got = b""
    while len(got) < len(want):
        data = s.recv(4096)
        if not data:
            return False
        got += data
    return got == want


def attempt(topo, p, host, port):
    """Connect from the pod to <host>:<port> and try one exchange; returns the
    access log's upstream cluster and whether the server answered."""
    with topo.pod.entered():
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    with s:
        s.settimeout(IO_TIMEOUT)
        s.bind((POD_B if host.startswith("198.51.100.") else POD_A, 0))
        local = "%s:%d" % s.getsockname()[:2]
        try:
            s.connect((host, port))
            ok = exchange(s, port)
        except (ConnectionResetError, BrokenPipeError):
            ok = False
    # the access log has the connection once it is closed
    e = p.entry_for_addr(local)
    return e["upstream_cluster"], ok


def assert_out(topo, p, host, port, want_cluster):
    got, ok = attempt(topo, p, host, port)
    assert ok and got == want_cluster, \
        f"{host}:{port}: cluster {got}, answered {ok}; want {want_cluster} and an answer\n" \
        f"{p.describe()}"


def assert_blocked(topo, p, host, port):
    got, ok = attempt(topo, p, host, port)
    assert not ok and got == BLACKHOLE, \
        f"{host}:{port}: cluster {got}, answered {ok}; want BlackHoleCluster, no answer\n" \
        f"{p.describe()}"


def run(proxy, configs, ns=None, labels=None, root=None):
    args = []
    if ns:
        args += ["--namespace", ns]
    if labels:
        args += ["--labels", labels]
    if root:
        args += ["--root-namespace", root]
    return proxy(configs, *args)


def scope_of(p):
    return p.admin_json("/config_dump")["policy"]["scope"]


def verdict(scope, kind, ns, name):
    for o in scope["objects"]:
        if (o["kind"], o["namespace"], o["name"]) == (kind, ns, name):
            return o
    raise AssertionError(f"{kind} {ns}/{name} missing from /config_dump's scope: {scope}")


# -- (a) a Sidecar of another namespace ----------------------------------------------


def test_sidecar_of_another_namespace_opens_nothing(topo, proxy):
    """A Sidecar in team-b with ALLOW_ANY used to open every destination for a
    workload in `default`; it applies to team-b's workloads only."""
    p = run(proxy, UNRELATED)
    assert_blocked(topo, p, EXT_B, ECHO)
    rc, out, err = p.cli("apply", "-f", "-", input=sidecar("open", "team-b", "ALLOW_ANY"))
    assert rc == 0, f"apply -> exit {rc}\n{out}{err}"
    assert_blocked(topo, p, EXT_B, ECHO)
    assert "Sidecar team-b/open: metadata.namespace: never applies to this workload " \
        "(namespace default" in err, f"apply printed no scope warning:\n{out}{err}"
    scope = scope_of(p)
    assert scope["workload"]["namespace"] == "default", scope
    assert scope["sidecar"] is None, scope
    o = verdict(scope, "Sidecar", "team-b", "open")
    assert o["in_force"] is False and \
        o["reason"] == "Sidecar team-b/open applies to namespace team-b only", o
    assert p.admin_json("/config_dump")["outbound_traffic_policy"] == "REGISTRY_ONLY"
    p.stop()

    # the same Sidecar is team-b's own
    p = run(proxy, docs(UNRELATED, sidecar("open", "team-b", "ALLOW_ANY")), ns="team-b")
    assert_out(topo, p, EXT_B, ECHO, PASSTHROUGH)
    assert scope_of(p)["sidecar"] == "team-b/open"


# -- (b) exportTo and egress hosts ---------------------------------------------------


HIDDEN = docs(
    se("dot", "team-b", "dot.test.example", EXT_B, ECHO, export_to=["."]),
    se("tilde", "default", "tilde.test.example", EXT_B2, ECHO, export_to=["~"]),
    se("far", "team-c", "far.test.example", EXT_A, BANNER),
    se("seen", "default", "seen.test.example", EXT_A, ECHO),
    sidecar("restrict", "default", egress=["./*", "team-b/*"]))


def test_hidden_service_entries_stay_blocked(topo, proxy):
    """exportTo `.` of another namespace, `~`, and a host the Sidecar does not
    import let nothing out; the visible entry does; from team-b (where `.`
    exports dot and no Sidecar limits the imports) the same entries open."""
    p = run(proxy, HIDDEN, ns="default")
    assert_out(topo, p, EXT_A, ECHO, cluster(ECHO, "seen.test.example"))
    assert_blocked(topo, p, EXT_B, ECHO)   # team-b/dot: exportTo [.]
    assert_blocked(topo, p, EXT_B2, ECHO)  # default/tilde: exportTo [~]
    assert_blocked(topo, p, EXT_A, BANNER)  # team-c/far: not imported
    scope = scope_of(p)
    assert scope["sidecar"] == "default/restrict", scope
    want = {
        ("ServiceEntry", "team-b", "dot"):
            "exportTo [.] of namespace team-b hides it from namespace default",
        ("ServiceEntry", "default", "tilde"):
            "exportTo [~] of namespace default hides it from namespace default",
        ("ServiceEntry", "team-c", "far"):
            "not imported by Sidecar default/restrict (egress hosts ./*, team-b/*)",
    }
    for key, reason in want.items():
        o = verdict(scope, *key)
        assert o["in_force"] is False and o["reason"] == reason, o
    assert verdict(scope, "ServiceEntry", "default", "seen")["in_force"] is True
    p.stop()

    p = run(proxy, HIDDEN, ns="team-b")
    assert_out(topo, p, EXT_B, ECHO, cluster(ECHO, "dot.test.example"))
    assert_out(topo, p, EXT_A, BANNER, cluster(BANNER, "far.test.example"))
    assert_blocked(topo, p, EXT_B2, ECHO)  # ~: nobody, whatever the namespace


# -- (c) Sidecar precedence -----------------------------------------------------------


PRECEDENCE = docs(
    UNRELATED,
    sidecar("root", "istio-system", "ALLOW_ANY", ts="2020-01-01T00:00:00Z"),
    sidecar("ns-wide", "default", "REGISTRY_ONLY", ts="2021-01-01T00:00:00Z"),
    sidecar("shop", "default", "ALLOW_ANY", selector={"app": "shop"},
            ts="2022-01-01T00:00:00Z"))


def test_sidecar_precedence_decides_the_outbound_policy(topo, proxy):
    """selector match (ALLOW_ANY) > namespace-wide (REGISTRY_ONLY) > root (ALLOW_ANY)."""
    p = run(proxy, PRECEDENCE, ns="default", labels="app=shop,version=v1")
    assert_out(topo, p, EXT_B, ECHO, PASSTHROUGH)
    scope = scope_of(p)
    assert (scope["sidecar"], scope["sidecar_chosen_by"]) == \
        ("default/shop", "workloadSelector match"), scope
    assert verdict(scope, "Sidecar", "default", "ns-wide")["reason"] == \
        "Sidecar default/ns-wide is shadowed by default/shop (workloadSelector match)"
    p.stop()

    p = run(proxy, PRECEDENCE, ns="default", labels="app=cart")
    assert_blocked(topo, p, EXT_B, ECHO)
    scope = scope_of(p)
    assert scope["sidecar"] == "default/ns-wide", scope
    assert verdict(scope, "Sidecar", "default", "shop")["reason"] == \
        "its workloadSelector does not select this workload (labels: app=cart)"
    p.stop()

    p = run(proxy, PRECEDENCE, ns="team-c")
    assert_out(topo, p, EXT_B, ECHO, PASSTHROUGH)
    assert scope_of(p)["sidecar"] == "istio-system/root"
    p.stop()

    # another root namespace: istio-system's Sidecar is no one's default then
    p = run(proxy, PRECEDENCE, ns="team-c", root="mesh-root")
    assert_blocked(topo, p, EXT_B, ECHO)
    assert scope_of(p)["sidecar"] is None


# -- (d) exportTo a named namespace --------------------------------------------------


def test_export_to_a_named_namespace(topo, proxy):
    p = run(proxy, docs(
        se("to-default", "team-b", "named.test.example", EXT_B, ECHO, export_to=["default"]),
        se("to-team-c", "team-b", "other.test.example", EXT_B2, ECHO, export_to=["team-c"])))
    assert_out(topo, p, EXT_B, ECHO, cluster(ECHO, "named.test.example"))
    assert_blocked(topo, p, EXT_B2, ECHO)
    o = verdict(scope_of(p), "ServiceEntry", "team-b", "to-team-c")
    assert o["reason"] == "exportTo [team-c] of namespace team-b hides it from namespace default"


# -- (e) the review's fence breaks (doc/scoping.md) ----------------------------------


def se_raw(name, ns, host, addrs, port, ts="2025-01-01T00:00:00Z"):
    """A TCP ServiceEntry with <addrs> as given (CIDRs allowed, none: no addresses)."""
    text = meta("ServiceEntry", name, ns, ts) + f"spec:\n  hosts: [{host}]\n"
    if addrs:
        text += "  addresses: [" + ", ".join(f"'{a}'" for a in addrs) + "]\n"
    return text + (f"  ports: [{{number: {port}, name: tcp-{port}, protocol: TCP}}]\n"
                   "  location: MESH_EXTERNAL\n  resolution: NONE\n")


def test_one_namespace_per_host_without_sidecar(topo, proxy):
    """Two entries for db.test.example, the workload's (EXT_A) and a younger
    one of team-c (198.51.100.0/24): Istio keeps one service per host (the
    workload's namespace first), so team-c's CIDR stays closed even without
    a Sidecar."""
    p = run(proxy, docs(
        se_raw("mine", "default", "db.test.example", [EXT_A + "/32"], ECHO),
        se_raw("squat", "team-c", "db.test.example", ["198.51.100.0/24"], ECHO,
               ts="2025-02-01T00:00:00Z")))
    assert_out(topo, p, EXT_A, ECHO, cluster(ECHO, "db.test.example"))
    assert_blocked(topo, p, EXT_B, ECHO)
    o = verdict(scope_of(p), "ServiceEntry", "team-c", "squat")
    assert o["in_force"] is False and o["reason"] == (
        "host db.test.example is imported from namespace default (ServiceEntry "
        "default/mine): Istio keeps one namespace per host, the workload's first"), o


def test_http_proxy_listener_opens_nothing_for_captured_traffic(topo, proxy):
    """A Sidecar whose only egress listener is an HTTP_PROXY port: Istio gives
    that listener an address of its own (127.0.0.1:3128), which no captured
    connection reaches, so its `*/*` hosts are clusters without listeners."""
    p = run(proxy, docs(
        se_raw("a", "default", "a.test.example", [EXT_A + "/32"], ECHO),
        meta("Sidecar", "s", "default") + (
            "spec:\n  egress:\n  - port: {number: 3128, protocol: HTTP_PROXY, name: proxy}\n"
            "    hosts: ['*/*']\n")))
    assert_blocked(topo, p, EXT_A, ECHO)
    o = verdict(scope_of(p), "ServiceEntry", "default", "a")
    assert o["reason"] == (
        "imported by Sidecar default/s only through its egress listener HTTP_PROXY port "
        "3128, which captured traffic does not reach: a cluster without listeners, as in "
        "Istio"), o


def test_destination_subnets_do_not_open_other_addresses(topo, proxy):
    """A tcp route with destinationSubnets [198.51.100.0/24] for a service
    whose one address is EXT_A: Istio's listener is EXT_A:port, the subnets
    only narrow chains inside it, so 198.51.100.x stays closed."""
    vs = meta("VirtualService", "v", "team-x") + (
        "spec:\n  hosts: [a.test.example]\n  tcp:\n"
        "  - match: [{destinationSubnets: [198.51.100.0/24]}]\n"
        "    route: [{destination: {host: a.test.example}}]\n")
    p = run(proxy, docs(se_raw("a", "default", "a.test.example", [EXT_A + "/32"], ECHO), vs))
    assert_blocked(topo, p, EXT_B, ECHO)
    assert_out(topo, p, EXT_A, ECHO, cluster(ECHO, "a.test.example"))
    p.stop()

    # without addresses the service has the wildcard listener: the subnet is in it
    p = run(proxy, docs(se_raw("a", "default", "a.test.example", [], ECHO), vs))
    assert_out(topo, p, EXT_B, ECHO, cluster(ECHO, "a.test.example"))
