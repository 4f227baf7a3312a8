# SPDX-License-Identifier: GPL-2.0-or-later
"""The one runner of the portcullis binary, and the clean-log check.

Every run of the binary -- a one-shot verb through Binary.run() or a daemon
(daemon.Proxy) started with Binary.limits() -- gets:
* a hang guard (a hang is a failure, not a slow test);
* RLIMIT_AS (<mem_limit>) outside sanitizer builds, whose shadow memory
  needs far more address space, and no core dumps;
* LC_ALL=C, and stdin from /dev/null unless the test gives one;
* the clean-log check (log_problems): no sanitizer report (SANITIZER_MARKERS)
  on stderr, ever, and no `level=err` line unless the test expects it. A
  one-shot run that exits non-zero may log level=err lines: they are its
  explanation, and the test asserts on the exit status. A run killed by a
  signal fails.
"""
import os
import pathlib
import re
import resource
import subprocess

import pytest

SANITIZER_MARKERS = ("Sanitizer", "runtime error:")
ERR_RE = re.compile(r"(?:^|\s)level=err")
DEFAULT_MEM_LIMIT = 1 << 30
DEFAULT_TIMEOUT = 60


def is_sanitized(binary):
    """Is <binary> built with ASan, UBSan or TSan (whose runtime RLIMIT_AS would break)?"""
    try:
        blob = pathlib.Path(binary).read_bytes()
    except OSError:
        return False
    return b"__asan_init" in blob or b"__ubsan_handle" in blob or b"__tsan_init" in blob


_is_sanitized = is_sanitized


def log_problems(text, allowed=(), name="stderr", errs_ok=False):
    """What makes the log <text> unclean, as a list of strings (empty: clean): any
    sanitizer report, and (unless <errs_ok>) every level=err line that no regex of
    <allowed> matches."""
    problems = [f"{marker!r} on {name}" for marker in SANITIZER_MARKERS if marker in text]
    if not errs_ok:
        allowed = [re.compile(rx) if isinstance(rx, str) else rx for rx in allowed]
        problems += [f"unexpected: {ln}" for ln in text.splitlines()
                     if ERR_RE.search(ln) and not any(rx.search(ln) for rx in allowed)]
    return problems


class Result(tuple):
    """One run: the triple (rc, out, err) -- exit status, stdout and stderr
    decoded -- so `rc, out, err = pc.run(...)` works, with the run's args
    (without the binary), argv and raw output as attributes."""

    def __new__(cls, args, rc, out_bytes, err_bytes, argv=None):
        self = super().__new__(cls, (rc, out_bytes.decode("utf-8", "replace"),
                                     err_bytes.decode("utf-8", "replace")))
        self.args = args
        self.argv = argv
        self.out_bytes = out_bytes
        self.err_bytes = err_bytes
        return self

    def __getnewargs__(self):
        return (self.args, self.rc, self.out_bytes, self.err_bytes, self.argv)

    @property
    def rc(self):
        return self[0]

    @property
    def out(self):
        return self[1]

    @property
    def err(self):
        return self[2]

    def lines(self):
        return self.out.splitlines()

    def error_lines(self):
        return [ln for ln in self.lines() if ": error: " in ln]

    def warning_lines(self):
        return [ln for ln in self.lines() if ": warning: " in ln]

    def __str__(self):
        return (f"portcullis {' '.join(map(str, self.args))} -> exit {self.rc}\n"
                f"--- stdout ---\n{self.out[:4000]}\n--- stderr ---\n{self.err[:4000]}")


class Binary:
    """The portcullis binary under test (path <binary>)."""

    def __init__(self, binary, mem_limit=DEFAULT_MEM_LIMIT, timeout=DEFAULT_TIMEOUT):
        self.binary = str(binary)
        self.sanitized = is_sanitized(self.binary)
        self.mem_limit = mem_limit
        self.timeout = timeout

    def limits(self):
        """preexec_fn for every run of the binary (not safe from several threads:
        use prlimit_argv() there)."""
        if not self.sanitized:
            resource.setrlimit(resource.RLIMIT_AS, (self.mem_limit, self.mem_limit))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    def prlimit_argv(self):
        """The limits() of a run as a prlimit(1) prefix."""
        return ["prlimit", "--core=0"] + ([] if self.sanitized else [f"--as={self.mem_limit}"])

    def run(self, *args, stdin=None, input=None, ns=None, cwd=None, env=None, timeout=None,
            threaded=False, expect_err=()):
        """Run the binary with <args>; return a Result (also a (rc, out, err) triple).

        <stdin> or <input>: bytes, str, a pathlib.Path to read, an open file, or None
        (/dev/null). <ns>: a netns.Netns to run in. <env>: variables added to the
        environment. <timeout>: the hang guard (default: the Binary's). <threaded>:
        the caller may run this from several threads at once, so no preexec_fn (not
        fork-safe with threads): the limits come from prlimit(1). <expect_err>:
        regexes of level=err lines this run may log even when it exits 0."""
        args = [str(a) for a in args]
        timeout = self.timeout if timeout is None else timeout
        argv = [self.binary, *args]
        if threaded:
            argv = self.prlimit_argv() + argv
        if ns is not None:
            argv = ns.argv(*argv)
        stdin = input if stdin is None else stdin
        kw = {}
        opened = None
        if isinstance(stdin, pathlib.Path):
            kw["stdin"] = opened = open(stdin, "rb")
        elif hasattr(stdin, "fileno"):
            kw["stdin"] = stdin
        elif stdin is not None:
            kw["input"] = stdin.encode() if isinstance(stdin, str) else stdin
        else:
            kw["stdin"] = subprocess.DEVNULL
        try:
            p = subprocess.run(argv, capture_output=True, cwd=cwd, timeout=timeout,
                               preexec_fn=None if threaded else self.limits,
                               env=dict(os.environ, LC_ALL="C", **(env or {})), **kw)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{' '.join(argv)}: no exit within {timeout} s")
        finally:
            if opened:
                opened.close()
        r = Result(args, p.returncode, p.stdout, p.stderr, argv)
        assert r.rc >= 0, f"killed by signal {-r.rc}\n{r}"
        problems = log_problems(r.err, expect_err, errs_ok=r.rc != 0)
        assert not problems, "unclean stderr: " + "; ".join(problems) + f"\n{r}"
        return r
