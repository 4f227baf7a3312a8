# SPDX-License-Identifier: GPL-2.0-or-later
"""Network namespaces and the sidecar topology of the proxy system tests.

    ext-a (pcXXXX-a)               pod (pcXXXX-pod)                ext-b (pcXXXX-b)
    eth0 192.0.2.2/24  <-veth->  to-a 192.0.2.1/24
                                 to-b 198.51.100.1/24  <-veth->  eth0 198.51.100.2/24
                                      2001:db8:1::1/64                198.51.100.3/24
                                                                      2001:db8:1::2/64
                                                                      2001:db8:1::3/64
    servers.py (name ext-a)      the app (this process,           servers.py (name ext-b)
    dnsmasq on demand            via setns) + portcullis run      iptables DROP on BLACKHOLE

The pod routes everything else (203.0.113.0/24 VIPs, which exist nowhere) to
ext-a (v4) and ext-b (v6), so an app's connect() to a VIP gets as far as
the NAT OUTPUT hook where `portcullis iptables` redirects it.

Every interface is created inside a namespace the topology made (`ip -n NS
link add ... peer ... netns NS2`), never in the root namespace, and every
name carries a per-topology token, so concurrent runs cannot collide.
Teardown kills what was started (by pid) and deletes the namespaces, which
takes the veths with them; it runs even when setup fails half way.

The name tests (test_tls.py, test_http.py) also start l7servers.py on
demand (start_l7): a TLS server on 443 and an HTTP server on 80, on every
address of ext-a or ext-b, with a certificate made for the test
(make_cert), whose log (l7_events) says what reached the upstream.

The test process itself plays the app: Netns.socket() creates a socket inside
the pod namespace (setns(2) on the calling thread only, switched straight
back), and a socket keeps its namespace for life.

Netns, sh(), Process and dns_query() are the harness library's
(portcullis_test.netns); the addresses are the shared plan's
(tests/pylib/addresses.env). This module keeps the names the tests import.
"""
import os
import pathlib
import shutil
import socket
import sys
import time

from portcullis_test.addresses import ADDR
from portcullis_test.netns import (CMD_TIMEOUT, START_TIMEOUT, CommandError,  # noqa: F401
                                   Process, dns_query, unique_token)
from portcullis_test.netns import Netns as _Netns
from portcullis_test.netns import sh as _sh

HERE = pathlib.Path(__file__).resolve().parent
SERVERS_PY = HERE / "servers.py"
PYTHON = "/usr/bin/python3"

# Addresses (documentation ranges only), from tests/pylib/addresses.env.
POD_A = ADDR["POD_A"]
EXT_A = ADDR["EXT_A"]
POD_B = ADDR["POD_B"]
EXT_B = ADDR["EXT_B"]
EXT_B2 = ADDR["EXT_B2"]  # second address of ext-b, inside 198.51.100.0/24
POD_B6 = ADDR["POD_B6"]
EXT_B6 = ADDR["EXT_B6"]
EXT_B6_2 = ADDR["EXT_B6_2"]
VIP_STATIC = ADDR["VIP_STATIC"]  # a ServiceEntry VIP that no host owns
VIP_DNS = ADDR["VIP_DNS"]
DNS_NAME = "db.test.example"  # dnsmasq answers it with EXT_B

# Ports the external servers listen on (servers.py), and two with no server.
ECHO = 7001
XFER = 7002
BANNER = 7003
HALFCLOSE = 7004
WHOAMI = 7005
REFUSE = 7009  # nothing listens: the kernel answers RST
BLACKHOLE = 7010  # ext-b drops SYNs to this port

# The name tests' servers (l7servers.py, started on demand by start_l7()).
L7SERVERS_PY = HERE / "l7servers.py"
TLS_PORT = 443
HTTP_PORT = 80


def sh(*args, **kw):
    """portcullis_test.netns.sh(), with bytes output as this suite has always had."""
    kw.setdefault("text", False)
    return _sh(*args, **kw)


class Netns(_Netns):
    """portcullis_test.netns.Netns whose run() and ip() return bytes, as above."""

    def __init__(self, name):
        super().__init__(name, text=False)


class Topology:
    """The pod and two external hosts; see the module docstring."""

    def __init__(self, workdir):
        self.workdir = pathlib.Path(workdir)
        tok = unique_token()
        self.token = tok
        self.pod = Netns(f"{tok}-pod")
        self.ext_a = Netns(f"{tok}-a")
        self.ext_b = Netns(f"{tok}-b")
        self.processes = []
        self.servers = {}
        self.dns = None
        self.l7 = {}  # "ext-a"/"ext-b" -> l7servers.py Process
        self.cert = None  # (cert, key) made by make_cert()

    # -- setup --------------------------------------------------------------
    def build(self):
        # The pod's resolv.conf (ip netns exec bind-mounts it): dnsmasq's address, so
        # the fence of `portcullis iptables` lets the app's DNS to it out, as a real
        # pod's DNS to its resolver.
        self.etc = pathlib.Path("/etc/netns") / self.pod.name
        self.etc.mkdir(parents=True, exist_ok=True)
        (self.etc / "resolv.conf").write_text(f"nameserver {EXT_A}\n")
        for ns in (self.pod, self.ext_a, self.ext_b):
            ns.create()
        pod, a, b = self.pod, self.ext_a, self.ext_b
        pod.veth("to-a", a, "eth0").veth("to-b", b, "eth0")
        pod.addr("to-a", f"{POD_A}/24").addr("to-b", f"{POD_B}/24", f"{POD_B6}/64")
        a.addr("eth0", f"{EXT_A}/24")
        b.addr("eth0", f"{EXT_B}/24", f"{EXT_B2}/24", f"{EXT_B6}/64", f"{EXT_B6_2}/64")
        pod.up("to-a", "to-b")
        a.up("eth0")
        b.up("eth0")
        pod.ip("route", "add", "default", "via", EXT_A)
        pod.ip("-6", "route", "add", "default", "via", EXT_B6)
        # The connect-timeout scenario: SYNs to this port vanish.
        for tool in ("iptables", "ip6tables"):
            b.run(tool, "-w", "-A", "INPUT", "-p", "tcp", "--dport", BLACKHOLE, "-j", "DROP")
        self.servers["ext-a"] = self._server(a, "ext-a")
        self.servers["ext-b"] = self._server(b, "ext-b")
        return self

    def _server(self, ns, name):
        p = Process(f"servers.py {name}", ns.argv(PYTHON, SERVERS_PY, "--name", name),
                    self.workdir / f"server-{name}.log", ready="ready\n",
                    env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))
        self.processes.append(p)
        return p

    def start_dns(self, records=()):
        """dnsmasq in ext-a answering DNS_NAME -> EXT_B (and each (name, address) of
        <records>); returns its address."""
        if not shutil.which("dnsmasq"):
            raise AssertionError("dnsmasq is missing: scripts/install-deps.sh must install "
                                 "dnsmasq-base")
        argv = self.ext_a.argv(
            "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv",
            "--no-hosts", "--no-poll", "--bind-interfaces", f"--listen-address={EXT_A}",
            "--port=53", f"--host-record={DNS_NAME},{EXT_B}",
            *[f"--host-record={n},{a}" for n, a in records], "--log-queries",
            "--log-facility=-", f"--pid-file={self.workdir / 'dnsmasq.pid'}")
        self.dns = Process("dnsmasq", argv, self.workdir / "dnsmasq.log")
        self.processes.append(self.dns)
        probe = self.pod.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while time.monotonic() < deadline:
                if dns_query(probe, EXT_A, DNS_NAME) == [EXT_B]:
                    return EXT_A
                if self.dns.proc.poll() is not None:
                    break
                time.sleep(0.05)
        finally:
            probe.close()
        raise AssertionError(f"dnsmasq does not answer {DNS_NAME}\n{self.dns.text()}")

    def make_cert(self):
        """A self-signed certificate for example.com and *.example.com, made now in
        WORKDIR/tls: (cert path, key path)."""
        if self.cert is None:
            d = self.workdir / "tls"
            d.mkdir(mode=0o755, exist_ok=True)
            cert, key = d / "cert.pem", d / "key.pem"
            sh("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
               "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj",
               "/CN=example.com", "-addext", "subjectAltName=DNS:example.com,DNS:*.example.com",
               "-keyout", key, "-out", cert)
            self.cert = (cert, key)
        return self.cert

    def start_l7(self, server="ext-a"):
        """l7servers.py (TLS on TLS_PORT, HTTP on HTTP_PORT, every address) in
        <server> ("ext-a" or "ext-b"); returns its Process."""
        if server not in self.l7:
            ns = {"ext-a": self.ext_a, "ext-b": self.ext_b}[server]
            cert, key = self.make_cert()
            p = Process(f"l7servers.py {server}",
                        ns.argv(PYTHON, L7SERVERS_PY, "--name", server, "--cert", cert,
                                "--key", key, "--tls-port", TLS_PORT, "--http-port", HTTP_PORT),
                        self.workdir / f"l7-{server}.log", ready="ready\n",
                        env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))
            self.processes.append(p)
            self.l7[server] = p
        return self.l7[server]

    def l7_events(self, server, kind=None):
        """The event lines of l7servers.py <server> (see its docstring), each split
        into words, e.g. ["accept", "ext-a", "443", PEER, LOCAL]; only <kind> ones
        if given."""
        out = []
        for line in self.l7[server].text().splitlines():
            words = line.split()
            if words and words[0] != "ready" and (kind is None or words[0] == kind):
                out.append(words)
        return out

    def accepts(self, server):
        """Connections servers.py <server> accepted: list of (port, peer) strings."""
        out = []
        for line in self.servers[server].text().splitlines():
            parts = line.split()
            if len(parts) >= 4 and parts[0] == "accept":
                out.append((int(parts[2]), parts[3]))
        return out

    # -- teardown -----------------------------------------------------------
    def destroy(self):
        errors = []
        for p in reversed(self.processes):
            try:
                p.stop()
            except Exception as e:  # keep tearing down
                errors.append(f"{p.name}: {e}")
        for ns in (self.ext_b, self.ext_a, self.pod):
            ns.delete()
        if getattr(self, "etc", None):
            shutil.rmtree(self.etc, ignore_errors=True)
        if errors:
            print("topology teardown:", *errors, sep="\n  ", file=sys.stderr)
