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
"""
import http.client
import json
import os
import pathlib
import re
import resource
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid

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
ADMIN_DEFAULT = "127.0.0.1:15000"  # --admin's default (doc/admin.md)

SANITIZER_MARKERS = ("Sanitizer", "runtime error:")
ERR_RE = re.compile(r"(?:^|\s)level=err")
READY_RE = re.compile(r'(?:^|\s)level=notice\s.*msg="?ready"?(?:\s|$)')

ACCESS_KEYS = ("start_time", "response_flags", "bytes_received", "bytes_sent", "duration",
               "upstream_host", "upstream_cluster", "downstream_local_address",
               "downstream_remote_address")
# Istio's default format as TCP fills it (reference §7.3), one token per field:
# [START] "- - -" 0 FLAGS - TERM "-" RX TX MS - "-" "-" "-" "-" "UPSTREAM" CLUSTER - ODST CLIENT - -
TOKEN_RE = re.compile(r'"[^"]*"|\S+')  # START_TIME has no blanks
# UPSTREAM_LOCAL_ADDRESS (the proxy's end of the upstream connection) may be "-".
# TERM (CONNECTION_TERMINATION_DETAILS) is "-" or e.g. portcullis_policy_revoked.
TEXT_FIELDS = {0: "start_time", 3: "response_flags", 5: "connection_termination_details",
               7: "bytes_received", 8: "bytes_sent",
               9: "duration", 15: "upstream_host", 16: "upstream_cluster",
               17: "upstream_local_address", 18: "downstream_local_address",
               19: "downstream_remote_address"}
TEXT_FIXED = {1: '"- - -"', 2: "0", 4: "-", 6: '"-"', 10: "-", 11: '"-"', 12: '"-"',
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
        e["connection_termination_details"] = obj.get("connection_termination_details")
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
    if e["connection_termination_details"] in ("-", ""):
        e["connection_termination_details"] = None  # e.g. portcullis_policy_revoked
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

    def run(self, *args, ns=None, timeout=topology.CMD_TIMEOUT, input=None, env=None,
            threaded=False):
        """Run the binary; return (exit status, stdout, stderr). <input> (str or bytes)
        is its stdin (default: /dev/null). <threaded>: the caller may run this from
        several threads at once, so no preexec_fn (not fork-safe with threads): the
        limits come from prlimit(1) instead."""
        argv = [self.binary, *map(str, args)]
        if threaded:
            argv = ["prlimit", "--core=0"] + \
                ([] if self.sanitized else [f"--as={PROXY_MEM_LIMIT}"]) + argv
        if ns is not None:
            argv = ns.argv(*argv)
        if isinstance(input, str):
            input = input.encode()
        try:
            p = subprocess.run(argv, capture_output=True, input=input,
                               stdin=subprocess.DEVNULL if input is None else None,
                               timeout=timeout, preexec_fn=None if threaded else self.limits,
                               env=dict(os.environ, LC_ALL="C", **(env or {})))
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
    """One `portcullis run` in the pod of <topo>, with its own store and API socket.

    An instance may run several times in a row (kill9(), restart()): every
    incarnation has the same argv, hence the same --state-dir and
    --api-socket, and its own stdout/stderr files (proxyN.K.out/err). proc,
    err_path, out_path and (for --access-log -) access_path are the current
    incarnation's; the clean-log check at stop() covers all of them."""

    _serial = 0

    def __init__(self, pc, topo, workdir, configs, args, access_log, access_format,
                 state_dir=None, api_socket=None, admin=None):
        Proxy._serial += 1
        n = Proxy._serial
        self.n = n
        self.pc = pc
        self.topo = topo
        self.workdir = workdir
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
        self.access_log = access_log
        # Never the defaults (/var/lib/portcullis, /run/portcullis/api.sock):
        # a test must not touch the host's store or socket.
        self.state_dir = pathlib.Path(state_dir) if state_dir else workdir / f"state{n}"
        self.api_socket = pathlib.Path(api_socket) if api_socket else workdir / f"api{n}.sock"
        argv = [pc.binary, "run"]
        for path in self.configs:
            argv += ["--config", path]
        argv += ["--state-dir", self.state_dir, "--api-socket", self.api_socket,
                 "--proxy-port", PROXY_PORT, "--drain-duration", "2s",
                 "--access-log", access_log, "--access-log-format", access_format]
        if admin is not None:
            argv += ["--admin", admin]
        argv += args
        self.admin_addr = admin if admin is not None else ADMIN_DEFAULT
        self.argv = topo.pod.argv(*argv)
        self.allowed_errs = []
        self.runs = []  # [proc, out_path, err_path, out_file, err_file, how it ended]
        self.stopped = False
        self._spawn()

    def _spawn(self):
        k = len(self.runs)
        suffix = "" if k == 0 else f".{k}"
        self.out_path = self.workdir / f"proxy{self.n}{suffix}.out"
        self.err_path = self.workdir / f"proxy{self.n}{suffix}.err"
        if self.access_log == "-":
            self.access_path = self.out_path
        else:
            self.access_path = pathlib.Path(self.access_log)
        out, err = open(self.out_path, "wb"), open(self.err_path, "wb")
        try:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=err, preexec_fn=self.pc.limits,
                                         env=dict(os.environ, LC_ALL="C"))
        except BaseException:
            out.close()
            err.close()
            raise
        self.runs.append([self.proc, self.out_path, self.err_path, out, err, None])
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
        """The current incarnation's stderr."""
        return self.err_path.read_text(errors="replace")

    def describe(self):
        log = self.access_path.read_text(errors="replace") if self.access_path.exists() else ""
        earlier = ""
        if len(self.runs) > 1:
            earlier = f" (incarnation {len(self.runs)}; earlier: " + ", ".join(
                f"{r[2].name} {r[5]}" for r in self.runs[:-1]) + ")"
        return (f"{' '.join(map(str, self.argv))}{earlier}\n--- stderr (tail) ---\n"
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
        # The API must answer by the time the proxy says it is ready; allow the
        # same liveness deadline for the socket to accept.
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                    s.connect(str(self.api_socket))
                break
            except OSError as e:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"API socket {self.api_socket} does not accept ({e}) after "
                                f"msg=ready\n{self.describe()}")
                time.sleep(0.02)
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

    # -- the API ------------------------------------------------------------
    @property
    def server(self):
        """The CLI's --server value for this proxy."""
        return f"unix:{self.api_socket}"

    def cli(self, verb, *args, input=None, timeout=topology.CMD_TIMEOUT, server=True):
        """`portcullis VERB --server unix:SOCKET ARGS...` (safe from several threads);
        <input>: its stdin (str/bytes). Returns (exit status, stdout, stderr)."""
        extra = ["--server", self.server] if server else []
        return self.pc.run(verb, *extra, *args, input=input, timeout=timeout, threaded=True)

    def api(self, method, path, body=None, headers=None, timeout=topology.CMD_TIMEOUT):
        """One HTTP request to the API socket: (status, parsed JSON body or raw bytes)."""
        conn = UnixHTTPConnection(str(self.api_socket), timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            data = resp.read()
        finally:
            conn.close()
        try:
            return resp.status, json.loads(data)
        except ValueError:
            return resp.status, data

    def admin(self, path, method="GET", timeout=topology.CMD_TIMEOUT):
        """One HTTP request to the admin endpoint, from inside the pod:
        (status, content type, body bytes)."""
        host, _, port = self.admin_addr.rpartition(":")
        host = host.strip("[]")
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        s = self.topo.pod.socket(family)
        try:
            s.settimeout(timeout)
            s.connect((host, int(port)))
            s.sendall(f"{method} {path} HTTP/1.0\r\nHost: localhost\r\n\r\n".encode())
            data = bytearray()
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        finally:
            s.close()
        head, _, body = bytes(data).partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        ctype = ""
        for line in lines[1:]:
            k, _, v = line.partition(":")
            if k.strip().lower() == "content-type":
                ctype = v.strip()
        return status, ctype, body

    def admin_json(self, path):
        status, ctype, body = self.admin(path)
        assert status == 200, f"GET {path} -> {status} {body[:500]!r}\n{self.describe()}"
        assert ctype.startswith("application/json"), f"GET {path}: Content-Type {ctype}"
        return json.loads(body)

    def sigterm(self):
        """Send SIGTERM (the proxy starts draining); finish with wait_exit()."""
        self.assert_running()
        self.proc.send_signal(signal.SIGTERM)

    def wait_exit(self):
        """After sigterm(): the proxy must exit 0 within STOP_TIMEOUT."""
        try:
            self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"portcullis run: no exit within {STOP_TIMEOUT} s of SIGTERM\n"
                        f"{self.describe()}")
        self.runs[-1][5] = f"exit {self.proc.returncode} after SIGTERM"
        assert self.proc.returncode == 0, \
            f"exit status {self.proc.returncode} after SIGTERM\n{self.describe()}"
        self.ready = False  # stopped on purpose: stop() only checks the logs

    def api_connection(self, timeout=topology.CMD_TIMEOUT):
        """An http.client connection to the API socket (the caller closes it)."""
        return UnixHTTPConnection(str(self.api_socket), timeout=timeout)

    @staticmethod
    def apply_request(files):
        """The bytes of a POST /v1/apply of <files> ((filename, text) pairs), as
        (request head, body), for tests that send them by hand."""
        body, ctype = multipart(files)
        head = (f"POST /v1/apply HTTP/1.1\r\nHost: localhost\r\nContent-Type: {ctype}\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        return head, body

    def api_apply(self, files, timeout=topology.CMD_TIMEOUT):
        """POST /v1/apply with one multipart part per (filename, text) of <files>."""
        body, ctype = multipart(files)
        return self.api("POST", "/v1/apply", body, {"Content-Type": ctype}, timeout)

    def revision(self):
        status, body = self.api("GET", "/v1/status")
        assert status == 200 and isinstance(body, dict), \
            f"GET /v1/status -> {status} {body!r}\n{self.describe()}"
        return body["revision"]

    # -- control ------------------------------------------------------------
    def expect_err(self, regex):
        """Tell the clean-log check that level=err lines matching <regex> are expected."""
        self.allowed_errs.append(re.compile(regex))

    def err_lines(self):
        lines = []
        for r in self.runs:
            text = r[2].read_text(errors="replace") if r[2].exists() else ""
            lines += [ln for ln in text.splitlines() if ERR_RE.search(ln)]
        return lines

    def hup(self):
        self.assert_running()
        self.proc.send_signal(signal.SIGHUP)

    def assert_running(self):
        assert self.proc.poll() is None, \
            f"portcullis run exited {self.proc.returncode}\n{self.describe()}"

    def kill9(self):
        """SIGKILL the running incarnation (it must still be running) and reap it."""
        self.assert_running()
        self.proc.kill()
        self.proc.wait(STOP_TIMEOUT)
        self.runs[-1][5] = "killed by SIGKILL"
        self.ready = False

    def restart(self, wait=True):
        """Start a new incarnation with the same argv (same store and socket). A
        running one is stopped first with SIGTERM and must exit 0."""
        if self.proc.poll() is None:
            self._terminate_current()
        elif self.runs[-1][5] is None:
            pytest.fail(f"portcullis run exited {self.proc.returncode} on its own\n"
                        f"{self.describe()}")
        self._spawn()
        return self.wait_ready() if wait else self

    def _terminate_current(self):
        """SIGTERM the current incarnation; fail unless it exits 0."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            self.runs[-1][5] = f"no exit within {STOP_TIMEOUT} s of SIGTERM (killed)"
            pytest.fail(f"portcullis run: {self.runs[-1][5]}\n{self.describe()}")
        self.runs[-1][5] = f"exit {self.proc.returncode} after SIGTERM"
        if self.proc.returncode != 0:
            pytest.fail(f"portcullis run: exit status {self.proc.returncode} after SIGTERM, "
                        f"not 0\n{self.describe()}")

    def stop(self):
        """SIGTERM; the proxy must exit 0 and the logs of all its runs must be clean."""
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
            if self.proc.returncode != 0 and not problems and self.ready:
                problems.append(f"exit status {self.proc.returncode} after SIGTERM, not 0")
        elif self.ready:
            problems.append(f"exited {self.proc.returncode} before SIGTERM")
        for r in self.runs:
            r[3].close()
            r[4].close()
        for r in self.runs:
            err = r[2].read_text(errors="replace") if r[2].exists() else ""
            for marker in SANITIZER_MARKERS:
                if marker in err:
                    problems.append(f"{marker!r} on {r[2].name}")
        for line in self.err_lines():
            if not any(rx.search(line) for rx in self.allowed_errs):
                problems.append(f"unexpected: {line}")
        if problems:
            pytest.fail("portcullis run: " + "; ".join(problems) + "\n" + self.describe())


class UnixHTTPConnection(http.client.HTTPConnection):
    """http.client over a Unix socket (the API socket)."""

    def __init__(self, path, timeout=topology.CMD_TIMEOUT):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.settimeout(self.timeout)
            s.connect(self.unix_path)
        except BaseException:
            s.close()
            raise
        self.sock = s


def multipart(files):
    """A multipart/form-data body with one `file` part per (filename, text):
    (body bytes, Content-Type value), as POST /v1/apply takes it."""
    boundary = f"pc-{uuid.uuid4().hex}"
    body = bytearray()
    for filename, text in files:
        data = text.encode() if isinstance(text, str) else bytes(text)
        body += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
                 f"filename=\"{filename}\"\r\nContent-Type: application/yaml\r\n\r\n").encode()
        body += data + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return bytes(body), f"multipart/form-data; boundary={boundary}"


def client_addr(sock):
    """The app end of a connection, formatted as the access log has it."""
    host, port = sock.getsockname()[:2]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


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
