# SPDX-License-Identifier: GPL-2.0-or-later
"""What the suites' fixtures are made of, so that each conftest.py stays thin.

* binary_path(config)  -- the --portcullis binary (the root conftest.py
                          defines the option); fails the test if it is not an
                          executable file.
* alarm(seconds)       -- a SIGALRM hang guard for a whole test: raises
                          HangGuard (a BaseException, which no `except
                          Exception` swallows) when the body overruns.
* temp_dir(prefix)     -- a directory under /tmp readable by everyone (the
                          proxy drops to uid 1337 and still reads from it),
                          removed afterwards.
"""
import os
import pathlib
import shutil
import signal
import tempfile
from contextlib import contextmanager

import pytest


def binary_path(config):
    binary = pathlib.Path(config.getoption("--portcullis"))
    if not binary.is_file() or not os.access(binary, os.X_OK):
        pytest.fail(f"no portcullis binary at {binary}: build it first (make) or pass "
                    f"--portcullis=PATH")
    return binary


class HangGuard(BaseException):
    """Raised by SIGALRM; a BaseException so that no `except Exception` swallows it."""


@contextmanager
def alarm(seconds):
    def on_alarm(signum, frame):
        raise HangGuard(f"test still running after {seconds} s (hang guard)")
    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@contextmanager
def temp_dir(prefix):
    path = pathlib.Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
