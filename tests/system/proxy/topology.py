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

The test process itself plays the app: Netns.socket() creates a socket inside
the pod namespace (setns(2) on the calling thread only, switched straight
back), and a socket keeps its namespace for life.
"""
import ctypes
import itertools
import os
import pathlib
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
from contextlib import contextmanager
from socket import AF_INET, SOCK_STREAM

HERE = pathlib.Path(__file__).resolve().parent
SERVERS_PY = HERE / "servers.py"
PYTHON = "/usr/bin/python3"

CLONE_NEWNET = 0x40000000
CMD_TIMEOUT = 30  # hang guard for every helper command (ip, iptables, portcullis iptables)
START_TIMEOUT = 10  # seconds for a helper process to say it is ready

# Addresses (documentation ranges only).
POD_A = "192.0.2.1"
EXT_A = "192.0.2.2"
POD_B = "198.51.100.1"
EXT_B = "198.51.100.2"
EXT_B2 = "198.51.100.3"  # second address of ext-b, inside 198.51.100.0/24
POD_B6 = "2001:db8:1::1"
EXT_B6 = "2001:db8:1::2"
EXT_B6_2 = "2001:db8:1::3"
VIP_STATIC = "203.0.113.10"  # a ServiceEntry VIP that no host owns
VIP_DNS = "203.0.113.20"
DNS_NAME = "db.test.example"  # dnsmasq answers it with EXT_B

# Ports the external servers listen on (servers.py), and two with no server.
ECHO = 7001
XFER = 7002
BANNER = 7003
HALFCLOSE = 7004
WHOAMI = 7005
REFUSE = 7009  # nothing listens: the kernel answers RST
BLACKHOLE = 7010  # ext-b drops SYNs to this port

_libc = ctypes.CDLL(None, use_errno=True)
_token = itertools.count()


class CommandError(AssertionError):
    pass


def sh(*args, check=True, timeout=CMD_TIMEOUT, input=None):
    """Run a helper command (list of str); raise CommandError with its output on failure."""
    args = [str(a) for a in args]
    try:
        p = subprocess.run(args, capture_output=True, timeout=timeout, input=input,
                           stdin=None if input is not None else subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise CommandError(f"{' '.join(args)}: no exit within {timeout} s") from None
    if check and p.returncode != 0:
        raise CommandError(f"{' '.join(args)} -> exit {p.returncode}\n"
                           f"{p.stdout.decode(errors='replace')}"
                           f"{p.stderr.decode(errors='replace')}")
    return p


def unique_token():
    """Unique per process and topology (netns names have no IFNAMSIZ limit)."""
    return f"pc{os.getpid()}x{next(_token)}"


def _setns(fd):
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


class Netns:
    """A named network namespace (`ip netns add`), owned by whoever created it."""

    def __init__(self, name):
        self.name = name
        self.created = False

    def create(self):
        sh("ip", "netns", "add", self.name)
        self.created = True
        self.ip("link", "set", "lo", "up")
        return self

    def delete(self):
        if self.created:
            self.created = False
            sh("ip", "netns", "del", self.name, check=False)

    @property
    def path(self):
        return f"/run/netns/{self.name}"

    def ip(self, *args, **kw):
        return sh("ip", "-n", self.name, *args, **kw)

    def run(self, *args, **kw):
        return sh("ip", "netns", "exec", self.name, *args, **kw)

    def argv(self, *args):
        """The argv that runs <args> inside this namespace."""
        return ["ip", "netns", "exec", self.name, *[str(a) for a in args]]

    @contextmanager
    def entered(self):
        """Run the body with the calling thread inside this namespace."""
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        target = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            _setns(target)
            try:
                yield self
            finally:
                _setns(own)
        finally:
            os.close(target)
            os.close(own)

    def socket(self, family=AF_INET, type=SOCK_STREAM):
        with self.entered():
            return socket.socket(family, type)

    def sockets(self, n, family=AF_INET):
        with self.entered():
            out = []
            try:
                for _ in range(n):
                    out.append(socket.socket(family, socket.SOCK_STREAM))
            except BaseException:
                for s in out:
                    s.close()
                raise
            return out


class Process:
    """A helper process started by the harness; stop() ends it by its pid."""

    def __init__(self, name, argv, log_path, ready=None, env=None, preexec_fn=None):
        self.name = name
        self.argv = [str(a) for a in argv]
        self.log_path = pathlib.Path(log_path)
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                     stdout=self._log, stderr=subprocess.STDOUT, env=env,
                                     preexec_fn=preexec_fn)
        if ready:
            self.wait_for(ready, START_TIMEOUT)

    def text(self):
        return self.log_path.read_text(errors="replace")

    def wait_for(self, needle, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.text():
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        rc = self.proc.poll()
        raise AssertionError(f"{self.name}: no {needle!r} within {timeout} s "
                             f"(exit {rc})\n{' '.join(self.argv)}\n{self.text()[-4000:]}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()


def dns_query(sock, server, name, qtype=1, timeout=0.5):
    """Ask <server> for <name> over UDP; return the A records, [] on no answer."""
    qid = os.getpid() & 0xFFFF
    q = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    q += b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    q += struct.pack("!HH", qtype, 1)
    sock.settimeout(timeout)
    sock.sendto(q, (server, 53))
    try:
        data, _ = sock.recvfrom(4096)
    except (socket.timeout, ConnectionRefusedError):
        return []
    _, _, _, ancount, _, _ = struct.unpack("!HHHHHH", data[:12])
    off = len(q)  # the question comes back unchanged
    out = []
    for _ in range(ancount):
        if data[off] & 0xC0 == 0xC0:
            off += 2
        else:
            while data[off]:
                off += data[off] + 1
            off += 1
        rtype, _, _, rdlen = struct.unpack("!HHIH", data[off:off + 10])
        off += 10
        if rtype == 1 and rdlen == 4:
            out.append(socket.inet_ntoa(data[off:off + 4]))
        off += rdlen
    return out


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

    # -- setup --------------------------------------------------------------
    def build(self):
        for ns in (self.pod, self.ext_a, self.ext_b):
            ns.create()
        pod, a, b = self.pod, self.ext_a, self.ext_b
        pod.ip("link", "add", "to-a", "type", "veth", "peer", "name", "eth0", "netns", a.name)
        pod.ip("link", "add", "to-b", "type", "veth", "peer", "name", "eth0", "netns", b.name)
        pod.ip("addr", "add", f"{POD_A}/24", "dev", "to-a")
        pod.ip("addr", "add", f"{POD_B}/24", "dev", "to-b")
        pod.ip("addr", "add", f"{POD_B6}/64", "dev", "to-b", "nodad")
        a.ip("addr", "add", f"{EXT_A}/24", "dev", "eth0")
        b.ip("addr", "add", f"{EXT_B}/24", "dev", "eth0")
        b.ip("addr", "add", f"{EXT_B2}/24", "dev", "eth0")
        b.ip("addr", "add", f"{EXT_B6}/64", "dev", "eth0", "nodad")
        b.ip("addr", "add", f"{EXT_B6_2}/64", "dev", "eth0", "nodad")
        for ns, dev in ((pod, "to-a"), (pod, "to-b"), (a, "eth0"), (b, "eth0")):
            ns.ip("link", "set", dev, "up")
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

    def start_dns(self):
        """dnsmasq in ext-a answering DNS_NAME -> EXT_B; returns its address."""
        if not shutil.which("dnsmasq"):
            raise AssertionError("dnsmasq is missing: scripts/install-deps.sh must install "
                                 "dnsmasq-base")
        argv = self.ext_a.argv(
            "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv",
            "--no-hosts", "--no-poll", "--bind-interfaces", f"--listen-address={EXT_A}",
            "--port=53", f"--host-record={DNS_NAME},{EXT_B}", "--log-queries",
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
        if errors:
            print("topology teardown:", *errors, sep="\n  ", file=sys.stderr)
