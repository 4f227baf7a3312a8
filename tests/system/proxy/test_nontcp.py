# SPDX-License-Identifier: GPL-2.0-or-later
"""No other way out (issue 13 point 4): the fence of `portcullis iptables`, and
DNS capture at the rules level (point 1), with the real binaries in the
topology of topology.py (pod, ext-a, ext-b).

An unprivileged process in the pod (uid 1000, as an app that was broken into)
tries what an attacker would, under the default deny:
* UDP, IPv4 and IPv6: a QUIC-like datagram and one carrying secret=hunter2;
  UDP-Lite; an ICMP echo from a ping socket; SCTP where the kernel has it.
  None reaches the listener in ext-b, and the sender gets an error at once
  (a local DROP: EPERM). The same datagram from the proxy's uid (1337) does
  arrive: the control that shows the path works and the listener listens.
* a ServiceEntry with a UDP port on ext-b's addresses lets those datagrams
  through within a few seconds of `portcullis apply`, and `delete` blocks
  them again; a later `portcullis iptables` resets the chain and the daemon
  puts its rules back by itself;
* what must keep working: TCP through the proxy, a refused connection (RST),
  an ICMP fragmentation-needed for an allowed TCP flow (path MTU, through a
  router with a smaller MTU), answers to pings and UDP that came from outside,
  ICMP errors for them;
* the drop counters in /metrics grow; --allow-non-tcp lets UDP out; --cleanup
  leaves no rule of ours.
And --capture-dns: the app's UDP query to the resolver of the pod's
resolv.conf lands on a transparent socket on 127.0.0.1:15053 (standing in for
the DNS proxy), the proxy uid's query goes to the resolver itself.
"""
import pathlib
import re
import shutil
import socket
import subprocess
import time

import pytest

import topology
from topology import EXT_A, EXT_B, EXT_B6, POD_B, PYTHON, Netns, Process

APP = ("setpriv", "--reuid=1000", "--regid=1000", "--clear-groups")
PROXY_USER = ("setpriv", "--reuid=1337", "--regid=1337", "--clear-groups")
UDP_PORT = 4433  # a QUIC-like port on ext-b
SE_NS = "nontcp"
ARRIVE_WAIT = 1.0  # seconds a datagram that left has to show up in ext-b
APPLY_WAIT = 10.0  # seconds for the daemon's helper to follow a policy change
OURS = re.compile(r"PORTCULLIS_")

# In ext-b: UDP and UDP-Lite on UDP_PORT (IPv4 and IPv6), and raw ICMP/ICMPv6
# sockets that see every echo request; one line per datagram:
# "<kind> <peer> <payload as hex>". IPPROTO_UDPLITE is 136.
LISTENER = r"""
import select, socket, sys
port = int(sys.argv[1])
socks = {}
for fam, host in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
    for kind, proto in (("udp", 0), ("udplite", 136)):
        s = socket.socket(fam, socket.SOCK_DGRAM, proto)
        if fam == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind((host, port))
        socks[s] = kind + ("4" if fam == socket.AF_INET else "6")
socks[socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)] = "icmp4"
socks[socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)] = "icmp6"
socks[socket.socket(socket.AF_INET, socket.SOCK_RAW, 132)] = "sctp4"  # any SCTP packet
print("ready", flush=True)
while True:
    for s in select.select(list(socks), [], [])[0]:
        data, peer = s.recvfrom(65535)
        kind = socks[s]
        if kind == "icmp4":
            data = data[(data[0] & 15) * 4:]
            if data[0] != 8:
                continue
            data = data[8:]
        elif kind == "icmp6":
            if data[0] != 128:
                continue
            data = data[8:]
        elif kind == "sctp4":
            data = b"sctp"
        print(kind, peer[0], data.hex(), flush=True)
"""

# Send one datagram: KIND (udp, udplite, ping, sctp) HOST PORT PAYLOAD-HEX.
# Prints "sent", "error <errno name>" or "unsupported <errno name>"; for ping,
# then "reply" or "noreply" (a second's wait).
SENDER = r"""
import errno, socket, sys
kind, host, port, payload = sys.argv[1], sys.argv[2], int(sys.argv[3]), bytes.fromhex(sys.argv[4])
fam = socket.AF_INET6 if ":" in host else socket.AF_INET
try:
    if kind == "udp":
        s = socket.socket(fam, socket.SOCK_DGRAM)
    elif kind == "udplite":
        s = socket.socket(fam, socket.SOCK_DGRAM, 136)
    elif kind == "sctp":
        s = socket.socket(fam, socket.SOCK_SEQPACKET, socket.IPPROTO_SCTP)
    else:
        s = socket.socket(fam, socket.SOCK_DGRAM,
                          socket.IPPROTO_ICMP if fam == socket.AF_INET else socket.IPPROTO_ICMPV6)
        payload = bytes([8 if fam == socket.AF_INET else 128, 0, 0, 0, 0, 0, 0, 1]) + payload
except OSError as e:
    print("unsupported", errno.errorcode.get(e.errno, e.errno), flush=True)
    sys.exit(0)
s.settimeout(1.0)
try:
    s.sendto(payload, (host, port))
except OSError as e:
    print("error", errno.errorcode.get(e.errno, e.errno), flush=True)
    sys.exit(0)
print("sent", flush=True)
if kind == "ping":
    try:
        s.recv(65535)
        print("reply", flush=True)
    except OSError:
        print("noreply", flush=True)
"""


def udp_entry(name, addresses, port=UDP_PORT):
    addrs = ", ".join(f'"{a}"' for a in addresses)
    return (f"apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata:\n"
            f"  name: {name}\n  namespace: {SE_NS}\nspec:\n  hosts: [{name}.example.com]\n"
            f"  addresses: [{addrs}]\n"
            f"  ports: [{{name: udp, number: {port}, protocol: UDP}}]\n"
            f"  location: MESH_EXTERNAL\n  resolution: NONE\n")


def tcp_entry(name, addresses, port):
    addrs = ", ".join(f'"{a}"' for a in addresses)
    return (f"apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata:\n"
            f"  name: {name}\n  namespace: {SE_NS}\nspec:\n  hosts: [{name}.example.com]\n"
            f"  addresses: [{addrs}]\n"
            f"  ports: [{{name: tcp, number: {port}, protocol: TCP}}]\n"
            f"  location: MESH_EXTERNAL\n  resolution: NONE\n")


def send(topo, kind, host, payload, user=APP, port=UDP_PORT):
    """SENDER in the pod as <user>: its output lines."""
    p = subprocess.run(topo.pod.argv(*user, PYTHON, "-c", SENDER, kind, host, port,
                                     payload.hex()),
                       capture_output=True, timeout=topology.CMD_TIMEOUT)
    assert p.returncode == 0, f"sender: exit {p.returncode}\n{p.stdout}{p.stderr}"
    return p.stdout.decode().split("\n")[:-1]


class Ext:
    """LISTENER in ext-b."""

    def __init__(self, topo, workdir):
        self.p = Process("nontcp listener", topo.ext_b.argv(PYTHON, "-c", LISTENER, UDP_PORT),
                         pathlib.Path(workdir) / "nontcp-listener.log", ready="ready\n")
        topo.processes.append(self.p)

    def seen(self, payload):
        """The kinds ("udp4", "icmp6", ...) of the datagrams that carried <payload>."""
        return [ln.split()[0] for ln in self.p.text().splitlines()
                if len(ln.split()) == 3 and ln.split()[2] == payload.hex()]

    def wait(self, payload, timeout=ARRIVE_WAIT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.seen(payload)
            if got:
                return got
            time.sleep(0.02)
        return self.seen(payload)


@pytest.fixture
def ext(topo, workdir):
    # ping sockets for everyone in the pod, as containers have them by default
    topo.pod.run("sysctl", "-qw", "net.ipv4.ping_group_range=0 2147483647")
    return Ext(topo, workdir)


_token = iter(range(1, 1 << 30))


def marker(what):
    """A payload no other step sends."""
    return f"{what} #{next(_token)} {time.monotonic_ns()}".encode()


def assert_blocked(topo, ext, kind, host, payload):
    out = send(topo, kind, host, payload)
    assert out[:2] == ["error EPERM"] or out[:1] == ["error EPERM"], \
        f"{kind} to {host}: the sender should fail at once: {out}"
    assert ext.wait(payload) == [], f"{kind} to {host} left the pod"


def assert_passes(topo, ext, kind, host, payload, user=APP):
    out = send(topo, kind, host, payload, user=user)
    assert out[0] == "sent", f"{kind} to {host} as {user}: {out}"
    family = "6" if ":" in host else "4"
    want = {"udp": "udp", "udplite": "udplite", "ping": "icmp"}[kind] + family
    assert ext.wait(payload) == [want], f"{kind} to {host} as {user} did not arrive"
    return out


# -- the fence --------------------------------------------------------------------

QUIC_INITIAL = bytes.fromhex("c300000001088394c8f03e5157080000449e") + b"\0" * 64


@pytest.mark.parametrize("host", [EXT_B, EXT_B6], ids=["ipv4", "ipv6"])
def test_udp_does_not_leave_but_the_proxy_uid_s_does(topo, ext, host):
    for payload in (QUIC_INITIAL + marker("quic"), marker("secret=hunter2")):
        assert_blocked(topo, ext, "udp", host, payload)
    # control: the path is there, the listener listens
    assert_passes(topo, ext, "udp", host, marker("proxy uid"), user=PROXY_USER)


@pytest.mark.parametrize("host", [EXT_B, EXT_B6], ids=["ipv4", "ipv6"])
def test_udplite_does_not_leave(topo, ext, host):
    assert_blocked(topo, ext, "udplite", host, marker("udplite secret=hunter2"))
    assert_passes(topo, ext, "udplite", host, marker("udplite control"), user=PROXY_USER)


@pytest.mark.parametrize("host", [EXT_B, EXT_B6], ids=["ipv4", "ipv6"])
def test_ping_payload_does_not_leave(topo, ext, host):
    payload = marker("ping secret=hunter2")
    out = send(topo, "ping", host, payload)
    # IPv4 ping sockets report the local drop; IPv6 ones (ping_v6_sendmsg) do not
    assert out == ["error EPERM"] or (":" in host and out == ["sent", "noreply"]), out
    assert ext.wait(payload) == []
    out = assert_passes(topo, ext, "ping", host, marker("ping control"), user=PROXY_USER)
    assert out == ["sent", "reply"], out


def test_sctp_does_not_leave(topo, ext):
    probe = send(topo, "sctp", EXT_B, b"x", user=())
    if probe and probe[0].startswith("unsupported"):
        pytest.skip(f"this kernel has no SCTP ({probe[0]}): nothing to fence")
    out = send(topo, "sctp", EXT_B, marker("sctp"))
    assert out and out[0] in ("error EPERM", "sent"), out  # sendto() may only queue the INIT
    time.sleep(ARRIVE_WAIT)
    assert ext.seen(b"sctp") == [], "an SCTP packet left the pod"


def test_a_udp_service_entry_opens_its_port_and_delete_closes_it(topo, ext, proxy, pc):
    p = proxy(tcp_entry("echo", [EXT_B], topology.ECHO))
    for host in (EXT_B, EXT_B6):
        assert_blocked(topo, ext, "udp", host, marker("before apply"))

    rc, out, err = p.cli("apply", "-f", "-", input=udp_entry("quic", [EXT_B, EXT_B6]))
    assert rc == 0, out + err
    for host in (EXT_B, EXT_B6):
        deadline = time.monotonic() + APPLY_WAIT
        while send(topo, "udp", host, b"probe")[0] != "sent":
            assert time.monotonic() < deadline, f"UDP to {host} still blocked\n{p.describe()}"
            time.sleep(0.2)
        assert_passes(topo, ext, "udp", host, marker("after apply"))
        # only that port, only those addresses
        assert send(topo, "udp", host, b"x", port=UDP_PORT + 1) == ["error EPERM"]
    assert send(topo, "udp", EXT_A, b"x") == ["error EPERM"]

    # A later `portcullis iptables` resets the chain; the daemon puts it back.
    rc, out, err = pc.run("iptables", ns=topo.pod)
    assert rc == 0, out + err
    deadline = time.monotonic() + APPLY_WAIT
    while send(topo, "udp", EXT_B, b"probe")[0] != "sent":
        assert time.monotonic() < deadline, "the daemon did not restore PORTCULLIS_UDP"
        time.sleep(0.2)

    rc, out, err = p.cli("delete", "se", "quic", "-n", SE_NS)
    assert rc == 0, out + err
    deadline = time.monotonic() + APPLY_WAIT
    while send(topo, "udp", EXT_B, b"probe")[0] == "sent":
        assert time.monotonic() < deadline, "UDP still allowed after delete"
        time.sleep(0.2)
    for host in (EXT_B, EXT_B6):
        assert_blocked(topo, ext, "udp", host, marker("after delete"))


def metric(text, family, protocol, what="datagrams"):
    m = re.search(rf'^portcullis_denied_{what}_total{{family="{family}",protocol="{protocol}"}}'
                  rf' (\d+)$', text, re.M)
    return int(m.group(1)) if m else None


def test_denied_datagrams_are_counted(topo, ext, proxy, pc):
    p = proxy()

    def scrape():
        status, _, body = p.admin("/metrics")
        assert status == 200
        return body.decode()

    deadline = time.monotonic() + APPLY_WAIT
    while metric(scrape(), "ipv4", "udp") is None:
        assert time.monotonic() < deadline, f"no counters in /metrics\n{scrape()[-2000:]}"
        time.sleep(0.2)
    before = scrape()
    assert "# TYPE portcullis_denied_datagrams_total counter" in before
    for _ in range(3):
        send(topo, "udp", EXT_B, b"counted")
    send(topo, "udp", EXT_B6, b"counted")
    send(topo, "ping", EXT_B, b"counted")
    deadline = time.monotonic() + APPLY_WAIT
    while True:
        now = scrape()
        grew = (metric(now, "ipv4", "udp") >= metric(before, "ipv4", "udp") + 3
                and metric(now, "ipv6", "udp") >= metric(before, "ipv6", "udp") + 1
                and metric(now, "ipv4", "icmp") >= metric(before, "ipv4", "icmp") + 1)
        if grew:
            break
        assert time.monotonic() < deadline, f"the counters did not grow\n{now[-2000:]}"
        time.sleep(0.3)
    assert metric(now, "ipv4", "udp", "datagrams_bytes") > metric(before, "ipv4", "udp",
                                                                 "datagrams_bytes")
    stats = p.admin_json("/stats?format=json")
    assert stats["denied_datagrams"]["total"] >= 5, stats.get("denied_datagrams")
    # and `portcullis top` shows them under its header
    rc, out, err = pc.run("top", "--once", "--admin", "127.0.0.1:15000", ns=topo.pod)
    assert rc == 0, out + err
    line = out.splitlines()[1]
    m = re.fullmatch(r"fence: denied datagrams (\d+) \(IPv4 (\d+), IPv6 (\d+)\)", line)
    assert m and int(m.group(1)) >= 5 and int(m.group(3)) >= 1, out


# -- what must keep working ----------------------------------------------------------------

def test_tcp_and_refused_connections_still_work(topo, ext, proxy):
    proxy(tcp_entry("echo", [EXT_B], topology.ECHO) + "---\n" +
          tcp_entry("refuse", [EXT_B], topology.REFUSE))
    s = topo.pod.socket()
    s.settimeout(5)
    s.connect((EXT_B, topology.ECHO))
    s.sendall(b"hello\n")
    assert s.recv(100) == b"hello\n"
    s.close()
    # RST from ext-b to the proxy, which resets the app: no hang
    s = topo.pod.socket()
    s.settimeout(5)
    with pytest.raises((ConnectionResetError, ConnectionRefusedError, BrokenPipeError)):
        s.connect((EXT_B, topology.REFUSE))
        s.sendall(b"x")
        if s.recv(1) == b"":
            raise ConnectionResetError("closed")
    s.close()
    # and a connection straight from the pod (the proxy's uid: not captured) sees the RST
    out = subprocess.run(topo.pod.argv(*PROXY_USER, PYTHON, "-c",
                                       "import socket,sys\ntry:\n socket.create_connection("
                                       f"('{EXT_B}', {topology.REFUSE}), 3)\nexcept "
                                       "ConnectionRefusedError:\n print('refused')"),
                         capture_output=True, timeout=topology.CMD_TIMEOUT)
    assert out.stdout == b"refused\n", out


def test_replies_and_errors_for_traffic_from_outside(topo, ext):
    """Echo replies to a ping from ext-b, and the port unreachable for its UDP to a
    closed port, leave the pod (ESTABLISHED replies and RELATED errors)."""
    ping = ("import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_RAW, "
            "socket.IPPROTO_ICMP)\ns.settimeout(2)\n"
            f"s.sendto(bytes([8, 0, 0xf7, 0xfe, 0, 0, 0, 1]), ('{POD_B}', 0))\n"
            "try:\n while s.recv(100)[20] != 0:\n  pass\n print('reply')\n"
            "except OSError as e:\n print(e)")
    p = topo.ext_b.run(PYTHON, "-c", ping)
    assert p.stdout == b"reply\n", p.stdout
    code = ("import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            f"s.settimeout(2)\ns.connect(('{POD_B}', 9))\ns.send(b'x')\n"
            "try:\n s.recv(10)\nexcept ConnectionRefusedError:\n print('refused')\n"
            "except OSError as e:\n print(e)")
    p = topo.ext_b.run(PYTHON, "-c", code)
    assert p.stdout == b"refused\n", p.stdout


def test_path_mtu_for_an_allowed_tcp_flow(topo, proxy, workdir):
    """ext-a routes to a host behind a 1280-byte link: the pod's full-size segments
    get an ICMP fragmentation-needed back, and the transfer still completes."""
    far = Netns(f"{topo.token}-far")
    far.create()
    try:
        a = topo.ext_a
        a.veth("to-far", far, "eth0")
        a.addr("to-far", "203.0.113.1/30")
        far.addr("eth0", "203.0.113.2/30")
        a.ip("link", "set", "to-far", "mtu", "1280")
        a.up("to-far")
        far.up("eth0")
        # far advertises a full MSS, so the pod sends segments too large for the link
        far.ip("route", "add", "default", "via", "203.0.113.1", "mtu", "1280", "advmss", "1460")
        a.run("sysctl", "-qw", "net.ipv4.ip_forward=1")
        srv = Process("far echo", far.argv(PYTHON, topology.SERVERS_PY, "--name", "far"),
                      pathlib.Path(workdir) / "far.log", ready="ready\n")
        topo.processes.append(srv)
        proxy(tcp_entry("far", ["203.0.113.2"], topology.ECHO))
        s = topo.pod.socket()
        s.settimeout(10)
        s.connect(("203.0.113.2", topology.ECHO))
        data = bytes(range(256)) * 256  # 64 KiB
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        got = bytearray()
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
        s.close()
        assert bytes(got) == data
        route = topo.pod.run("ip", "route", "get", "203.0.113.2").stdout.decode()
        assert "mtu 1280" in route, f"no path MTU learnt: {route}"
    finally:
        srv_stop = [pr for pr in topo.processes if pr.name == "far echo"]
        for pr in srv_stop:
            pr.stop()
            topo.processes.remove(pr)
        far.delete()


# -- opting out and cleaning up ----------------------------------------------------------

def without_empty_tables(lines):
    """A save without the tables that hold only empty built-in chains with policy
    ACCEPT: the raw table that --capture-dns's conntrack zones brought stays
    (iptables cannot delete a table), but with nothing in it."""
    out, table = [], []
    for ln in lines + ["*"]:
        if ln.startswith("*"):
            if any(not (t.startswith(":") and " ACCEPT " in t) for t in table[1:-1]):
                out += table
            table = []
        table.append(ln)
    return out


def test_allow_non_tcp_lets_udp_out_and_cleanup_leaves_nothing(topo, ext, pc):
    rc, out, err = pc.run("iptables", "--allow-non-tcp", ns=topo.pod)
    assert rc == 0, out + err
    assert "WARNING" in err and "UNCHECKED" in err, err
    assert_passes(topo, ext, "udp", EXT_B, marker("allow-non-tcp"))
    assert_passes(topo, ext, "udp", EXT_B6, marker("allow-non-tcp"))

    rc, out, err = pc.run("iptables", "--cleanup", ns=topo.pod)
    assert rc == 0, out + err
    clean = {f: topo.pod.save(f, table=None) for f in (4, 6)}
    assert not [ln for f in (4, 6) for ln in clean[f] if OURS.search(ln)]
    rc, out, err = pc.run("iptables", "--capture-dns", ns=topo.pod)
    assert rc == 0, out + err
    rc, out, err = pc.run("iptables", "--cleanup", ns=topo.pod)
    assert rc == 0, out + err
    assert {f: without_empty_tables(topo.pod.save(f, table=None)) for f in (4, 6)} == \
        {f: without_empty_tables(clean[f]) for f in (4, 6)}


# -- DNS capture, the rules ---------------------------------------------------------------

DNS_SINK = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
if sys.argv[1] == "transparent":
    s.setsockopt(socket.SOL_IP, 19, 1)  # IP_TRANSPARENT
s.bind((sys.argv[2], int(sys.argv[3])))
print("ready", flush=True)
while True:
    data, peer = s.recvfrom(4096)
    print("got", peer[0], data.hex(), flush=True)
"""


def test_capture_dns_redirects_the_app_not_the_proxy(topo, pc, workdir):
    """resolv.conf (topology.py writes it) names EXT_A; with --capture-dns the app's
    query lands on 127.0.0.1:15053, the proxy uid's reaches EXT_A:53 itself, and
    an unprivileged squatter on 15053 gets nothing."""
    rc, out, err = pc.run("iptables", "--capture-dns", ns=topo.pod)
    assert rc == 0, out + err
    assert f"-A PORTCULLIS_DNS -d {EXT_A}/32 -p udp -m udp --dport 53 -j REDIRECT " \
           "--to-ports 15053" in topo.pod.save(4)
    sink = Process("dns sink", topo.pod.argv(PYTHON, "-c", DNS_SINK, "transparent",
                                             "127.0.0.1", 15053),
                   pathlib.Path(workdir) / "sink.log", ready="ready\n")
    topo.processes.append(sink)
    upstream = Process("upstream", topo.ext_a.argv(PYTHON, "-c", DNS_SINK, "plain", EXT_A, 53),
                       pathlib.Path(workdir) / "upstream.log", ready="ready\n")
    topo.processes.append(upstream)

    def arrived(proc, payload):
        deadline = time.monotonic() + ARRIVE_WAIT
        while time.monotonic() < deadline:
            if payload.hex() in proc.text():
                return True
            time.sleep(0.02)
        return False

    q = marker("app query")
    assert send(topo, "udp", EXT_A, q, port=53) == ["sent"]
    assert arrived(sink, q), sink.text()
    assert not arrived(upstream, q)

    q = marker("proxy query")
    assert send(topo, "udp", EXT_A, q, user=PROXY_USER, port=53) == ["sent"]
    assert arrived(upstream, q), upstream.text()
    assert not arrived(sink, q)

    # DNS to another server than the resolver is not captured: the fence drops it
    assert send(topo, "udp", EXT_B, b"q", port=53) == ["error EPERM"]

    # The guard: with the transparent sink gone, a squatter hears nothing.
    sink.stop()
    topo.processes.remove(sink)
    squat = Process("squatter", topo.pod.argv(*APP, PYTHON, "-c", DNS_SINK, "plain",
                                              "127.0.0.1", 15053),
                    pathlib.Path(workdir) / "squat.log", ready="ready\n")
    topo.processes.append(squat)
    q = marker("squatted query")
    send(topo, "udp", EXT_A, q, port=53)
    assert not arrived(squat, q), squat.text()


def test_without_capture_the_fence_lets_dns_to_the_resolver_out(topo, pc, workdir):
    upstream = Process("upstream", topo.ext_a.argv(PYTHON, "-c", DNS_SINK, "plain", EXT_A, 53),
                       pathlib.Path(workdir) / "upstream.log", ready="ready\n")
    topo.processes.append(upstream)
    q = marker("plain query")
    assert send(topo, "udp", EXT_A, q, port=53) == ["sent"]
    deadline = time.monotonic() + ARRIVE_WAIT
    while q.hex() not in upstream.text():
        assert time.monotonic() < deadline, upstream.text()
        time.sleep(0.02)
    # but not to any other server
    assert send(topo, "udp", EXT_B, b"q", port=53) == ["error EPERM"]


def test_tools_present():
    for tool in ("setpriv", "sysctl"):
        assert shutil.which(tool), f"{tool} is missing"
