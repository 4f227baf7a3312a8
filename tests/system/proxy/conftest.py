# SPDX-License-Identifier: GPL-2.0-or-later
"""Fixtures for the system tests of `portcullis run` (the proxy).

* pc       -- the binary (--portcullis=PATH). If it has no `run` verb yet
              (`portcullis run --help` exits 2 with "unknown verb"), every
              test here is skipped with that reason; any other problem fails.
* topo     -- a fresh topology (topology.py): pod + ext-a + ext-b namespaces,
              veths, servers.py in both external namespaces, and
              `portcullis iptables` already run in the pod.
* proxy    -- a factory: proxy(configs, *args) writes the configs (none:
              no --config at all), starts `portcullis run` in the pod with
              its own store (--state-dir WORKDIR/stateN, never the default
              /var/lib/portcullis) and API socket (--api-socket
              WORKDIR/apiN.sock), waits for `level=notice msg="ready"` and
              returns a Proxy. Teardown sends SIGTERM and fails unless it
              exits 0, and fails on any unexpected `level=err` line or
              sanitizer report on its stderr (every incarnation's, see
              Proxy.kill9() and Proxy.restart()). Proxy.cli(*args) runs
              `portcullis VERB --server unix:SOCKET ...`; Proxy.api() speaks
              HTTP to the socket directly (doc/api.md); Proxy.admin()
              speaks HTTP to the admin endpoint (doc/admin.md; the
              factory's admin= picks --admin, default 127.0.0.1:15000 in
              the pod).
* workdir  -- a directory readable by uid 1337 (the proxy drops root and
              must still read its configs on SIGHUP), removed afterwards.

Guards: every test has a 120 s SIGALRM hang guard (a hang is a failure, not
a slow test); every helper command has its own timeout; the proxy gets a
2 GiB RLIMIT_AS outside sanitizer builds and no core dumps.

The implementations are the harness library's (tests/pylib/portcullis_test:
binary.Binary, daemon.Proxy, netns.Netns, accesslog); this file keeps the
fixtures and the names the tests import.
"""
import os
import resource
import shutil

import pytest

import topology
from portcullis_test import REPO  # noqa: F401
from portcullis_test.accesslog import (ACCESS_KEYS, TEXT_FIELDS, TEXT_FIXED,  # noqa: F401
                                       TOKEN_RE, norm_addr, parse_access_line)
from portcullis_test.binary import (ERR_RE, SANITIZER_MARKERS, Binary,  # noqa: F401
                                    is_sanitized as _is_sanitized)
from portcullis_test.daemon import (ADMIN_DEFAULT, LOG_TIMEOUT, PROXY_MEM_LIMIT,  # noqa: F401
                                    PROXY_PORT, PROXY_UID, READY_RE, READY_TIMEOUT,
                                    STOP_TIMEOUT, Proxy, UnixHTTPConnection, client_addr,
                                    multipart)
from portcullis_test.fixtures import HangGuard, alarm, binary_path, temp_dir  # noqa: F401

TEST_GUARD = 120  # seconds per test, setup and teardown included


def pytest_configure(config):
    # 2,000 relayed connections need more descriptors than the usual 1,024,
    # here and in the proxy, which inherits this limit.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# -- the binary ------------------------------------------------------------

class Portcullis(Binary):
    """The binary as this suite runs it: 2 GiB RLIMIT_AS, a 30 s hang guard a run."""

    def __init__(self, binary):
        super().__init__(binary, mem_limit=PROXY_MEM_LIMIT, timeout=topology.CMD_TIMEOUT)


@pytest.fixture(scope="session")
def pc(request):
    binary = binary_path(request.config)
    if os.geteuid() != 0:
        pytest.fail("the proxy system tests need root (network namespaces, iptables)")
    p = Portcullis(binary)
    rc, out, err = p.run("run", "--help")
    if rc == 2 and "unknown verb" in out + err:
        pytest.skip(f"{binary} has no `run` verb yet ({(out + err).strip()})")
    assert rc == 0, f"portcullis run --help -> exit {rc}\n{out}{err}"
    for tool in ("ip", "iptables", "ip6tables"):
        if not shutil.which(tool):
            pytest.fail(f"{tool} is missing: scripts/install-deps.sh must install "
                        "iproute2 and iptables")
    return p


# -- hang guard ------------------------------------------------------------

@pytest.fixture(autouse=True)
def hang_guard():
    with alarm(TEST_GUARD):
        yield


# -- topology --------------------------------------------------------------

@pytest.fixture
def workdir():
    with temp_dir("pc-proxy-") as path:
        yield path


@pytest.fixture
def topo(pc, workdir):
    t = topology.Topology(workdir)
    try:
        t.build()
        rc, out, err = pc.run("iptables", ns=t.pod)
        assert rc == 0, f"portcullis iptables -> exit {rc}\n{out}{err}"
        yield t
    finally:
        t.destroy()


# -- the proxy -------------------------------------------------------------

@pytest.fixture
def proxy(pc, topo, workdir):
    started = []

    def start(configs=(), *args, access_log="-", access_format="text", state_dir=None,
              api_socket=None, admin=None):
        """<configs>: YAML text or a list of them (one file each; none: no --config);
        <args>: more options; <access_log>: "-" (stdout, captured) or "file" (a file
        in a dir uid 1337 owns); <state_dir>, <api_socket>: default WORKDIR/stateN
        and WORKDIR/apiN.sock; <admin>: --admin's value (default: the flag is not
        given, so 127.0.0.1:15000)."""
        if isinstance(configs, str):
            configs = [configs]
        p = Proxy(pc, topo, workdir, list(configs), [str(a) for a in args], access_log,
                  access_format, state_dir, api_socket, admin)
        started.append(p)
        return p.wait_ready()

    yield start
    failures = []
    for p in reversed(started):
        try:
            p.stop()
        except BaseException as e:  # stop the others before reporting
            failures.append(e)
    if failures:
        raise failures[0]


@pytest.fixture
def bare_ns(workdir):
    """A bare namespace (lo up) for runs that must not touch the host's network."""
    ns = topology.Netns(f"{topology.unique_token()}-bare")
    try:
        yield ns.create()
    finally:
        ns.delete()
