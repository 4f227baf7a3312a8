# SPDX-License-Identifier: GPL-2.0-or-later
"""Helper commands, network namespaces and helper processes, owned by the test.

* sh()        -- run a helper command with a hang guard; on a non-zero exit
                 (with check) or a hang, raise CommandError, which carries the
                 argv, the exit status and the output and reads as an assertion
                 failure in pytest's report. The one way every suite runs ip,
                 iptables, cmake, mount, ...
* Netns       -- one named namespace (`ip netns add`): commands inside it
                 (run, argv, popen), `ip -n` (ip), the generic topology pieces
                 (veth, addr, up, with_uplink), sockets made inside it
                 (entered, socket, sockets) and its iptables rules (save).
* netns       -- fixture: a factory, netns() -> a fresh Netns, deleted when
                 the test ends, pass or fail.
* Process     -- a helper process (a server, dnsmasq) started with its output
                 in a file; stop() ends it by its pid.
* unique_token(), dns_query().

Every interface is created inside a namespace the test made (`ip -n NS link
add ... peer ... netns NS2`), never in the root namespace; every name carries
a per-process token, so concurrent runs cannot collide. Addresses come from
the address plan (addresses.py) and the documentation ranges only.
"""
import ctypes
import itertools
import os
import pathlib
import re
import signal
import socket
import struct
import subprocess
import time
from contextlib import contextmanager
from socket import AF_INET, SOCK_STREAM

import pytest

CMD_TIMEOUT = 30  # hang guard for every helper command (seconds); not a timing assertion
START_TIMEOUT = 10  # seconds for a helper process to say it is ready
CLONE_NEWNET = 0x40000000

_libc = ctypes.CDLL(None, use_errno=True)
_token = itertools.count()
_counter = itertools.count(1)
_COUNTERS_RE = re.compile(r"\[\d+:\d+\]")


class CommandError(AssertionError):
    """A helper command failed: exited non-zero (returncode) or hung (returncode None).
    An AssertionError, so pytest reports it as a test failure with this text."""

    def __init__(self, argv, returncode=None, stdout="", stderr="", timeout=None):
        self.argv = list(argv)
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        self.timeout = timeout
        cmd = " ".join(self.argv)
        if returncode is None:
            msg = f"{cmd}: no exit within {timeout} s"
        else:
            msg = f"{cmd} -> exit {returncode}"
        out, err = _text(stdout), _text(stderr)
        if out or err:
            msg += f"\n--- stdout ---\n{out[-4000:]}\n--- stderr ---\n{err[-4000:]}"
        super().__init__(msg)


def _text(data):
    if data is None:
        return ""
    return data.decode(errors="replace") if isinstance(data, bytes) else data


def sh(*args, check=True, timeout=CMD_TIMEOUT, input=None, env=None, text=True, **kw):
    """Run <args> (str() of each); return the CompletedProcess, its output str (<text>)
    or bytes. stdin is /dev/null unless <input> (or stdin=) is given. Raise
    CommandError on a hang, and with <check> on an exit status other than 0. More
    keywords (cwd, ...) go to subprocess.run."""
    args = [str(a) for a in args]
    if input is None:
        kw.setdefault("stdin", subprocess.DEVNULL)
    try:
        p = subprocess.run(args, capture_output=True, text=text, timeout=timeout,
                           input=input, env=env, **kw)
    except subprocess.TimeoutExpired as e:
        raise CommandError(args, None, e.stdout, e.stderr, timeout) from None
    if check and p.returncode != 0:
        raise CommandError(args, p.returncode, p.stdout, p.stderr)
    return p


def unique_token():
    """Unique per process and call: pc<pid>x<n> (netns names have no IFNAMSIZ limit)."""
    return f"pc{os.getpid()}x{next(_token)}"


def normalise_save(text):
    """iptables-save output without comments and with every counter zeroed."""
    return [_COUNTERS_RE.sub("[0:0]", ln) for ln in text.splitlines()
            if ln.strip() and not ln.startswith("#")]


def _setns(fd):
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


class Netns:
    """A named network namespace (`ip netns add`), owned by whoever created it.

    <text>: whether run() and ip() return str output (default) or bytes (what
    the proxy suite's topology has always had)."""

    def __init__(self, name, text=True):
        self.name = name
        self.text = text
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

    # -- commands -----------------------------------------------------------
    def argv(self, *args):
        """The argv that runs <args> inside this namespace."""
        return ["ip", "netns", "exec", self.name, *[str(a) for a in args]]

    def run(self, *args, **kw):
        """sh() of <args> inside this namespace."""
        kw.setdefault("text", self.text)
        return sh(*self.argv(*args), **kw)

    def popen(self, *args, **kw):
        return subprocess.Popen(self.argv(*args), **kw)

    def ip(self, *args, **kw):
        """`ip -n NAME ARGS...` (iproute2 enters the namespace itself)."""
        kw.setdefault("text", self.text)
        return sh("ip", "-n", self.name, *args, **kw)

    # -- generic topology pieces ---------------------------------------------
    def veth(self, dev, peer, peer_dev):
        """A veth pair: <dev> here, <peer_dev> in the Netns <peer>; made inside the
        namespaces, never in the root one. Links stay down until up()."""
        self.ip("link", "add", dev, "type", "veth", "peer", "name", peer_dev,
                "netns", peer.name)
        return self

    def addr(self, dev, *cidrs):
        """Add each of <cidrs> to <dev>; IPv6 ones without duplicate address
        detection, so that they are usable at once."""
        for cidr in cidrs:
            self.ip("addr", "add", cidr, "dev", dev, *(["nodad"] if ":" in cidr else []))
        return self

    def up(self, *devs):
        for dev in devs:
            self.ip("link", "set", dev, "up")
        return self

    def with_uplink(self, addr="192.0.2.1/24"):
        """Give the namespace an interface with <addr> and a default route through it,
        so connect() to any address routes (and the SYN goes nowhere). A dummy
        interface where the kernel has one, else a veth pair whose peer stays here
        without an address."""
        p = self.run("ip", "link", "add", "up0", "type", "dummy", check=False)
        if p.returncode != 0:
            self.run("ip", "link", "add", "up0", "type", "veth", "peer", "name", "up0-peer")
            self.run("ip", "link", "set", "up0-peer", "up")
        self.run("ip", "addr", "add", addr, "dev", "up0")
        self.run("ip", "link", "set", "up0", "up")
        self.run("ip", "route", "add", "default", "dev", "up0")
        return self

    # -- iptables -----------------------------------------------------------
    def save(self, family=4, table="nat"):
        """`iptables-save` (family 4) or `ip6tables-save` (6) of <table>, normalised;
        table=None saves every table."""
        tool = "iptables-save" if family == 4 else "ip6tables-save"
        args = [tool] + (["-t", table] if table else [])
        return normalise_save(_text(self.run(*args).stdout))

    # -- sockets made inside ---------------------------------------------------
    @contextmanager
    def entered(self):
        """Run the body with the calling thread inside this namespace (setns(2) on
        this thread only, switched straight back); a socket keeps its namespace."""
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


@pytest.fixture
def netns(request):
    """netns() -> a new Netns; every one is deleted when the test ends."""
    made = []

    def _make():
        ns = Netns(f"pc-ipt-{os.getpid()}-{next(_counter)}")
        made.append(ns)  # before create(): a half-made namespace is deleted too
        return ns.create()

    def _cleanup():
        for ns in reversed(made):
            ns.delete()

    request.addfinalizer(_cleanup)
    return _make


class Process:
    """A helper process started by the harness, its stdout and stderr in <log_path>;
    with <ready>, wait until that text appears. stop() ends it by its pid."""

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
