# SPDX-License-Identifier: GPL-2.0-or-later
"""Network namespaces for system tests, owned by the test that made them.

* Netns      -- one named namespace (`ip netns add`): run commands in it,
                read its iptables rules.
* netns      -- fixture: a factory, netns() -> a fresh Netns named
                pc-ipt-<pid>-<n>, deleted when the test ends, pass or fail.
* sh()       -- run a command with a hang guard; raise with its output on
                failure.

Addresses used by tests come only from loopback and 192.0.2.0/24,
198.51.100.0/24, 203.0.113.0/24, and only inside namespaces made here.
"""
import itertools
import os
import re
import subprocess

import pytest

CMD_TIMEOUT = 30  # hang guard for every command (seconds); not a timing assertion

_counter = itertools.count(1)
_COUNTERS_RE = re.compile(r"\[\d+:\d+\]")


def sh(*args, check=True, timeout=CMD_TIMEOUT, input=None, env=None):
    """Run <args>; return the CompletedProcess (text). With <check>, fail on exit != 0."""
    args = [str(a) for a in args]
    try:
        p = subprocess.run(args, capture_output=True, text=True, timeout=timeout, input=input,
                           env=env, stdin=None if input is not None else subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{' '.join(args)} did not finish within {timeout} s")
    if check and p.returncode != 0:
        pytest.fail(f"{' '.join(args)} -> exit {p.returncode}\n"
                    f"--- stdout ---\n{p.stdout}\n--- stderr ---\n{p.stderr}")
    return p


def normalise_save(text):
    """iptables-save output without comments and with every counter zeroed."""
    return [_COUNTERS_RE.sub("[0:0]", ln) for ln in text.splitlines()
            if ln.strip() and not ln.startswith("#")]


class Netns:
    def __init__(self, name):
        self.name = name
        self.created = False

    def create(self):
        sh("ip", "netns", "add", self.name)
        self.created = True
        self.run("ip", "link", "set", "lo", "up")
        return self

    def delete(self):
        if self.created:
            sh("ip", "netns", "del", self.name, check=False)
            self.created = False

    def argv(self, *args):
        return ["ip", "netns", "exec", self.name, *[str(a) for a in args]]

    def run(self, *args, **kw):
        return sh(*self.argv(*args), **kw)

    def popen(self, *args, **kw):
        return subprocess.Popen(self.argv(*args), **kw)

    def save(self, family=4, table="nat"):
        """`iptables-save` (family 4) or `ip6tables-save` (6) of <table>, normalised;
        table=None saves every table."""
        tool = "iptables-save" if family == 4 else "ip6tables-save"
        args = [tool] + (["-t", table] if table else [])
        return normalise_save(self.run(*args).stdout)

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
