# SPDX-License-Identifier: GPL-2.0-or-later
"""Fixtures for the system tests of the portcullis command line.

Every run of the binary goes through run_portcullis(): a 60 s hang guard
(not a timing assertion), an address-space limit of 1 GiB (skipped for
sanitizer builds, whose shadow memory needs far more address space), and a
"clean log" check: no sanitizer report may appear on stderr.
"""
import os
import pathlib
import resource
import subprocess
from dataclasses import dataclass

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data"
MEM_LIMIT = 1 << 30  # RLIMIT_AS for every run: 1 GiB
HANG_GUARD = 60  # seconds; a hang is a failure, not a slow test

SANITIZER_MARKERS = ("Sanitizer", "runtime error:")


def pytest_addoption(parser):
    parser.addoption(
        "--portcullis",
        default=str(REPO / "build" / "portcullis"),
        help="the portcullis binary to test (default: build/portcullis of this tree)",
    )


@dataclass
class Result:
    args: list
    rc: int
    out_bytes: bytes
    err_bytes: bytes

    @property
    def out(self):
        return self.out_bytes.decode("utf-8", "replace")

    @property
    def err(self):
        return self.err_bytes.decode("utf-8", "replace")

    def lines(self):
        return self.out.splitlines()

    def error_lines(self):
        return [ln for ln in self.lines() if ": error: " in ln]

    def warning_lines(self):
        return [ln for ln in self.lines() if ": warning: " in ln]

    def __str__(self):
        return (f"portcullis {' '.join(map(str, self.args))} -> exit {self.rc}\n"
                f"--- stdout ---\n{self.out[:4000]}\n--- stderr ---\n{self.err[:4000]}")


def _is_sanitized(binary):
    """ASan/UBSan binaries carry their runtime; RLIMIT_AS would break them."""
    try:
        with open(binary, "rb") as fp:
            blob = fp.read()
    except OSError:
        return False
    return b"__asan_init" in blob or b"__ubsan_handle" in blob or b"__tsan_init" in blob


class Portcullis:
    def __init__(self, binary):
        self.binary = str(binary)
        self.sanitized = _is_sanitized(self.binary)

    def _limit(self):
        if not self.sanitized:
            resource.setrlimit(resource.RLIMIT_AS, (MEM_LIMIT, MEM_LIMIT))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    def run(self, *args, stdin=None, cwd=None):
        """Run the binary with <args>; <stdin> is bytes, str, a path, an open file or None."""
        args = [str(a) for a in args]
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
        env = dict(os.environ, LC_ALL="C")
        try:
            p = subprocess.run([self.binary, *args], capture_output=True, cwd=cwd, env=env,
                               timeout=HANG_GUARD, preexec_fn=self._limit, **kw)
        except subprocess.TimeoutExpired:
            pytest.fail(f"portcullis {' '.join(args)} did not finish within {HANG_GUARD} s")
        finally:
            if opened:
                opened.close()
        r = Result(args, p.returncode, p.stdout, p.stderr)
        assert r.rc >= 0, f"killed by signal {-r.rc}\n{r}"
        for marker in SANITIZER_MARKERS:
            assert marker not in r.err, f"sanitizer report on stderr\n{r}"
        return r

    def validate(self, *args, **kw):
        return self.run("validate", *args, **kw)


@pytest.fixture(scope="session")
def pc(request):
    binary = pathlib.Path(request.config.getoption("--portcullis"))
    if not binary.is_file() or not os.access(binary, os.X_OK):
        pytest.fail(f"no portcullis binary at {binary}: build it first (make) or pass "
                    f"--portcullis=PATH")
    return Portcullis(binary)


@pytest.fixture(scope="session")
def data_dir():
    return DATA


@pytest.fixture
def write(tmp_path):
    """write(name, text_or_bytes) -> path of a new file under tmp_path."""
    def _write(name, content):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        else:
            path.write_bytes(content)
        return path
    return _write
