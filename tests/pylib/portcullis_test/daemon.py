# SPDX-License-Identifier: GPL-2.0-or-later
"""One `portcullis run` under test: Proxy.

A Proxy runs in the pod namespace of a topology (anything with a .pod Netns),
with its own store (--state-dir) and API socket (--api-socket) under the
test's workdir, never the host's defaults. Its stderr and stdout go to files
(one pair per incarnation: kill9() and restart() make new ones); stop() sends
SIGTERM, requires exit 0 and applies the clean-log check of binary.py to every
incarnation's stderr (expect_err() names the level=err lines a test provokes).
cli() runs a client verb against it through the one runner (Binary.run);
api() and admin() speak HTTP to its API socket and admin endpoint.
"""
import http.client
import json
import os
import pathlib
import re
import signal
import socket
import subprocess
import time
import uuid

import pytest

from .accesslog import parse_access_line
from .binary import ERR_RE, log_problems
from .netns import CMD_TIMEOUT

PROXY_PORT = 15001
PROXY_UID = 1337
READY_TIMEOUT = 10  # seconds from exec to `msg="ready"`
STOP_TIMEOUT = 15  # seconds from SIGTERM to exit (drain is 2 s)
LOG_TIMEOUT = 5  # seconds for an access-log line to appear after a close
PROXY_MEM_LIMIT = 2 << 30
ADMIN_DEFAULT = "127.0.0.1:15000"  # --admin's default (doc/admin.md)
READY_RE = re.compile(r'(?:^|\s)level=notice\s.*msg="?ready"?(?:\s|$)')


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

    def cli(self, verb, *args, input=None, timeout=CMD_TIMEOUT, server=True):
        """`portcullis VERB --server unix:SOCKET ARGS...` (safe from several threads);
        <input>: its stdin (str/bytes). Returns (exit status, stdout, stderr)."""
        extra = ["--server", self.server] if server else []
        return self.pc.run(verb, *extra, *args, input=input, timeout=timeout, threaded=True)

    def api(self, method, path, body=None, headers=None, timeout=CMD_TIMEOUT):
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

    @property
    def token_file(self):
        """<state-dir>/api-token: the daemon's bearer tokens (doc/security.md)."""
        return self.state_dir / "api-token"

    def token(self):
        """The first token of token_file, or None when there is none."""
        try:
            text = self.token_file.read_text()
        except FileNotFoundError:
            return None
        for line in text.splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                return line.split(",")[0].strip()
        return None

    def admin(self, path, method="GET", timeout=CMD_TIMEOUT, token=True):
        """One HTTP request to the admin endpoint, from inside the pod:
        (status, content type, body bytes). <token>: True sends the daemon's
        token (token()) as a bearer token, None/False none, a str that one."""
        if token is True:
            token = self.token()
        auth = f"Authorization: Bearer {token}\r\n" if token else ""
        host, _, port = self.admin_addr.rpartition(":")
        host = host.strip("[]")
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        s = self.topo.pod.socket(family)
        try:
            s.settimeout(timeout)
            s.connect((host, int(port)))
            s.sendall(f"{method} {path} HTTP/1.0\r\nHost: localhost\r\n{auth}\r\n".encode())
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

    def api_connection(self, timeout=CMD_TIMEOUT):
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

    def api_apply(self, files, timeout=CMD_TIMEOUT):
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
            problems += log_problems(err, self.allowed_errs, name=r[2].name)
        if problems:
            pytest.fail("portcullis run: " + "; ".join(problems) + "\n" + self.describe())


class UnixHTTPConnection(http.client.HTTPConnection):
    """http.client over a Unix socket (the API socket)."""

    def __init__(self, path, timeout=CMD_TIMEOUT):
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

