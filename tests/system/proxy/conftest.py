# SPDX-License-Identifier: GPL-2.0-or-later
"""Fixtures for the system tests of `portcullis run` (the proxy).

* pc       -- the binary (--portcullis=PATH). If it has no `run` verb yet
              (`portcullis run --help` exits 2 with "unknown verb"), every
              test here is skipped with that reason; any other problem fails.
* topo     -- a fresh topology (topology.py): pod + ext-a + ext-b namespaces,
              veths, servers.py in both external namespaces, and
              `portcullis iptables` already run in the pod.
* proxy    -- a factory: proxy(configs, *args) writes the configs, starts
              `portcullis run` in the pod, waits for `level=notice
              msg="ready"` and returns a Proxy. Teardown sends SIGTERM and
              fails unless it exits 0, and fails on any unexpected
              `level=err` line or sanitizer report on its stderr.
* workdir  -- a directory readable by uid 1337 (the proxy drops root and
              must still read its configs on SIGHUP), removed afterwards.

Guards: every test has a 120 s SIGALRM hang guard (a hang is a failure, not
a slow test); every helper command has its own timeout; the proxy gets a
2 GiB RLIMIT_AS outside sanitizer builds and no core dumps.
"""
import json
import os
import pathlib
import re
import resource
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

import topology

REPO = pathlib.Path(__file__).resolve().parents[3]
PROXY_PORT = 15001
PROXY_UID = 1337
TEST_GUARD = 120  # seconds per test, setup and teardown included
READY_TIMEOUT = 10  # seconds from exec to `msg="ready"`
STOP_TIMEOUT = 15  # seconds from SIGTERM to exit (drain is 2 s)
LOG_TIMEOUT = 5  # seconds for an access-log line to appear after a close
PROXY_MEM_LIMIT = 2 << 30

SANITIZER_MARKERS = ("Sanitizer", "runtime error:")
ERR_RE = re.compile(r"(?:^|\s)level=err")
READY_RE = re.compile(r'(?:^|\s)level=notice\s.*msg="?ready"?(?:\s|$)')

ACCESS_KEYS = ("start_time", "response_flags", "bytes_received", "bytes_sent", "duration",
               "upstream_host", "upstream_cluster", "downstream_local_address",
               "downstream_remote_address")
# Istio's default format as TCP fills it (reference §7.3), one token per field:
# [START] "- - -" 0 FLAGS - - "-" RX TX MS - "-" "-" "-" "-" "UPSTREAM" CLUSTER - ODST CLIENT - -
TOKEN_RE = re.compile(r'"[^"]*"|\S+')  # START_TIME has no blanks
# UPSTREAM_LOCAL_ADDRESS (the proxy's end of the upstream connection) may be "-".
TEXT_FIELDS = {0: "start_time", 3: "response_flags", 7: "bytes_received", 8: "bytes_sent",
               9: "duration", 15: "upstream_host", 16: "upstream_cluster",
               17: "upstream_local_address", 18: "downstream_local_address",
               19: "downstream_remote_address"}
TEXT_FIXED = {1: '"- - -"', 2: "0", 4: "-", 5: "-", 6: '"-"', 10: "-", 11: '"-"', 12: '"-"',
              13: '"-"', 14: '"-"', 20: "-", 21: "-"}


def pytest_addoption(parser):
    try:
        parser.addoption(
            "--portcullis",
            default=str(REPO / "build" / "portcullis"),
            help="the portcullis binary to test (default: build/portcullis of this tree)")
    except ValueError:
        pass  # a conftest.py further up (tests/system/) already defines it


def pytest_configure(config):
    # 2,000 relayed connections need more descriptors than the usual 1,024,
    # here and in the proxy, which inherits this limit.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# -- access log ------------------------------------------------------------

def norm_addr(value):
    """'1.2.3.4:5', '[::1]:5' or '::1:5' -> '1.2.3.4:5' / '[::1]:5'; '-', '', None -> None."""
    if value in (None, "", "-"):
        return None
    value = str(value)
    if value.startswith("["):
        return value
    host, _, port = value.rpartition(":")
    return f"[{host}]:{port}" if ":" in host else value


def parse_access_line(line):
    """One access-log line (text or JSON) -> dict with ACCESS_KEYS, or raise ValueError."""
    if line.startswith("{"):
        obj = json.loads(line)
        missing = [k for k in ACCESS_KEYS if k not in obj]
        if missing:
            raise ValueError(f"JSON access-log line lacks {missing}")
        e = {k: obj[k] for k in ACCESS_KEYS}
        e["upstream_local_address"] = obj.get("upstream_local_address")
        e["format"] = "json"
    else:
        tokens = TOKEN_RE.findall(line)
        if len(tokens) != 22:
            raise ValueError(f"{len(tokens)} fields, not 22")
        for i, want in TEXT_FIXED.items():
            if tokens[i] != want:
                raise ValueError(f"field {i + 1} is {tokens[i]!r}, not {want!r}")
        e = {k: tokens[i] for i, k in TEXT_FIELDS.items()}
        e["start_time"] = e["start_time"].strip("[]")
        e["upstream_host"] = e["upstream_host"].strip('"')
        e["format"] = "text"
    for k in ("bytes_received", "bytes_sent", "duration"):
        e[k] = int(e[k])
    for k in ("upstream_host", "upstream_local_address", "downstream_local_address",
              "downstream_remote_address"):
        e[k] = norm_addr(e[k])
    e["response_flags"] = e["response_flags"] if e["response_flags"] not in (None, "") else "-"
    e["flags"] = frozenset() if e["response_flags"] == "-" else \
        frozenset(e["response_flags"].split(","))
    e["line"] = line
    return e


# -- the binary ------------------------------------------------------------

def _is_sanitized(binary):
    try:
        blob = pathlib.Path(binary).read_bytes()
    except OSError:
        return False
    return b"__asan_init" in blob or b"__ubsan_handle" in blob or b"__tsan_init" in blob


class Portcullis:
    def __init__(self, binary):
        self.binary = str(binary)
        self.sanitized = _is_sanitized(self.binary)

    def limits(self):
        """preexec_fn for every run of the binary."""
        if not self.sanitized:
            resource.setrlimit(resource.RLIMIT_AS, (PROXY_MEM_LIMIT, PROXY_MEM_LIMIT))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    def run(self, *args, ns=None, timeout=topology.CMD_TIMEOUT):
        argv = [self.binary, *map(str, args)]
        if ns is not None:
            argv = ns.argv(*argv)
        try:
            p = subprocess.run(argv, capture_output=True, stdin=subprocess.DEVNULL,
                               timeout=timeout, preexec_fn=self.limits,
                               env=dict(os.environ, LC_ALL="C"))
        except subprocess.TimeoutExpired:
            pytest.fail(f"{' '.join(argv)}: no exit within {timeout} s")
        out, err = p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
        for marker in SANITIZER_MARKERS:
            assert marker not in err, f"sanitizer report from {' '.join(argv)}\n{err}"
        assert p.returncode >= 0, f"{' '.join(argv)} killed by signal {-p.returncode}\n{err}"
        return p.returncode, out, err


@pytest.fixture(scope="session")
def pc(request):
    binary = pathlib.Path(request.config.getoption("--portcullis"))
    if not binary.is_file() or not os.access(binary, os.X_OK):
        pytest.fail(f"no portcullis binary at {binary}: build it first (make) or pass "
                    f"--portcullis=PATH")
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

class HangGuard(BaseException):
    """Raised by SIGALRM; a BaseException so that no `except Exception` swallows it."""


@pytest.fixture(autouse=True)
def hang_guard():
    def on_alarm(signum, frame):
        raise HangGuard(f"test still running after {TEST_GUARD} s (hang guard)")
    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(TEST_GUARD)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


# -- topology --------------------------------------------------------------

@pytest.fixture
def workdir():
    path = pathlib.Path(tempfile.mkdtemp(prefix="pc-proxy-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


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

class Proxy:
    """One `portcullis run` in the pod of <topo>."""

    _serial = 0

    def __init__(self, pc, topo, workdir, configs, args, access_log, access_format):
        Proxy._serial += 1
        n = Proxy._serial
        self.topo = topo
        self.conf_dir = workdir / f"conf{n}"
        self.conf_dir.mkdir(mode=0o755)
        self.configs = []
        for i, text in enumerate(configs):
            path = self.conf_dir / f"{i:02d}.yaml"
            self.write_config(path, text)
            self.configs.append(path)
        if access_log == "file":
            log_dir = workdir / f"log{n}"
            log_dir.mkdir(mode=0o755)
            os.chown(log_dir, PROXY_UID, PROXY_UID)
            access_log = str(log_dir / "access.log")
        self.access_path = workdir / f"proxy{n}.out" if access_log == "-" else \
            pathlib.Path(access_log)
        self.err_path = workdir / f"proxy{n}.err"
        self.out_path = workdir / f"proxy{n}.out"
        argv = [pc.binary, "run"]
        for path in self.configs:
            argv += ["--config", path]
        argv += ["--proxy-port", PROXY_PORT, "--drain-duration", "2s",
                 "--access-log", access_log, "--access-log-format", access_format, *args]
        self.argv = topo.pod.argv(*argv)
        self.allowed_errs = []
        self._out = open(self.out_path, "wb")
        self._err = open(self.err_path, "wb")
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=self._out,
                                     stderr=self._err, preexec_fn=pc.limits,
                                     env=dict(os.environ, LC_ALL="C"))
        self.stopped = False
        self.ready = False  # a start that failed has been reported by wait_ready()

    @staticmethod
    def write_config(path, text):
        """Replace <path> atomically (as config management does), mode 0644."""
        path = pathlib.Path(path)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.chmod(0o644)
        os.replace(tmp, path)

    # -- logs ---------------------------------------------------------------
    def stderr(self):
        return self.err_path.read_text(errors="replace")

    def describe(self):
        log = self.access_path.read_text(errors="replace") if self.access_path.exists() else ""
        return (f"{' '.join(map(str, self.argv))}\n--- stderr (tail) ---\n"
                f"{self.stderr()[-6000:]}\n--- access log (tail) ---\n{log[-4000:]}")

    def wait_stderr(self, regex, timeout=READY_TIMEOUT):
        rx = re.compile(regex)
        deadline = time.monotonic() + timeout
        while True:
            for line in self.stderr().splitlines():
                if rx.search(line):
                    return line
            if self.proc.poll() is not None:
                pytest.fail(f"portcullis run exited {self.proc.returncode} before logging "
                            f"/{regex}/\n{self.describe()}")
            if time.monotonic() > deadline:
                pytest.fail(f"no /{regex}/ on stderr within {timeout} s\n{self.describe()}")
            time.sleep(0.02)

    def wait_ready(self):
        self.wait_stderr(READY_RE.pattern)
        self.ready = True
        return self

    def entries(self):
        """Every complete access-log line so far, parsed (see parse_access_line)."""
        if not self.access_path.exists():
            return []
        data = self.access_path.read_bytes().decode("utf-8", "replace")
        out = []
        for line in data.splitlines(keepends=True):
            if not line.endswith("\n"):
                break  # still being written
            line = line.rstrip("\n")
            if not line:
                continue
            try:
                out.append(parse_access_line(line))
            except ValueError as e:
                pytest.fail(f"access-log line does not parse: {e}\n{line}\n{self.describe()}")
        return out

    def wait_entries(self, pred=lambda e: True, count=1, timeout=LOG_TIMEOUT):
        """Wait until at least <count> access-log entries satisfy <pred>; return them."""
        deadline = time.monotonic() + timeout
        while True:
            found = [e for e in self.entries() if pred(e)]
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                pytest.fail(f"{len(found)} of {count} expected access-log entries after "
                            f"{timeout} s\n{self.describe()}")
            time.sleep(0.02)

    def entry_for(self, client_sock, timeout=LOG_TIMEOUT):
        """The one access-log entry of the connection whose client end is <client_sock>."""
        return self.entry_for_addr(client_addr(client_sock), timeout)

    def entry_for_addr(self, addr, timeout=LOG_TIMEOUT):
        found = self.wait_entries(lambda e: e["downstream_remote_address"] == addr,
                                  timeout=timeout)
        assert len(found) == 1, f"{len(found)} access-log entries for {addr}\n{self.describe()}"
        return found[0]

    # -- control ------------------------------------------------------------
    def expect_err(self, regex):
        """Tell the clean-log check that level=err lines matching <regex> are expected."""
        self.allowed_errs.append(re.compile(regex))

    def err_lines(self):
        return [ln for ln in self.stderr().splitlines() if ERR_RE.search(ln)]

    def hup(self):
        self.assert_running()
        self.proc.send_signal(signal.SIGHUP)

    def assert_running(self):
        assert self.proc.poll() is None, \
            f"portcullis run exited {self.proc.returncode}\n{self.describe()}"

    def stop(self):
        """SIGTERM; the proxy must exit 0 and its log must be clean."""
        if self.stopped:
            return
        self.stopped = True
        problems = []
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                problems.append(f"no exit within {STOP_TIMEOUT} s of SIGTERM (killed)")
        elif self.ready:
            problems.append(f"exited {self.proc.returncode} before SIGTERM")
        self._out.close()
        self._err.close()
        if self.proc.returncode != 0 and not problems and self.ready:
            problems.append(f"exit status {self.proc.returncode} after SIGTERM, not 0")
        err = self.stderr()
        for marker in SANITIZER_MARKERS:
            if marker in err:
                problems.append(f"{marker!r} on stderr")
        for line in self.err_lines():
            if not any(rx.search(line) for rx in self.allowed_errs):
                problems.append(f"unexpected: {line}")
        if problems:
            pytest.fail("portcullis run: " + "; ".join(problems) + "\n" + self.describe())


def client_addr(sock):
    """The app end of a connection, formatted as the access log has it."""
    host, port = sock.getsockname()[:2]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@pytest.fixture
def proxy(pc, topo, workdir):
    started = []

    def start(configs=(), *args, access_log="-", access_format="text"):
        """<configs>: YAML text or a list of them (one file each); <args>: more options;
        <access_log>: "-" (stdout, captured) or "file" (a file in a dir uid 1337 owns)."""
        if isinstance(configs, str):
            configs = [configs]
        p = Proxy(pc, topo, workdir, list(configs), [str(a) for a in args], access_log,
                  access_format)
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
