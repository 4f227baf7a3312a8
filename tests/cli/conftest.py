# SPDX-License-Identifier: GPL-2.0-or-later
"""Fixtures for the system tests of the portcullis command line.

Every run of the binary goes through the one runner, portcullis_test.binary
(Binary.run): a 60 s hang guard (not a timing assertion), an address-space
limit of 1 GiB (skipped for sanitizer builds, whose shadow memory needs far
more address space), and the clean-log check: no sanitizer report may appear
on stderr (nor a level=err line from a run that exits 0).

* pc        -- (session) the binary (--portcullis, defined in tests/conftest.py):
               pc.run(*args, stdin=...) -> Result; pc.validate(*args).
* data_dir  -- (session) tests/data.
* write     -- write(name, text_or_bytes) -> a new file under tmp_path.
"""
import pytest

from portcullis_test import DATA, REPO  # noqa: F401 (test files import them from here)
from portcullis_test.binary import (SANITIZER_MARKERS, Binary, Result,  # noqa: F401
                                    is_sanitized as _is_sanitized)
from portcullis_test.fixtures import binary_path

MEM_LIMIT = 1 << 30  # RLIMIT_AS for every run: 1 GiB
HANG_GUARD = 60  # seconds; a hang is a failure, not a slow test


class Portcullis(Binary):
    def __init__(self, binary):
        super().__init__(binary, mem_limit=MEM_LIMIT, timeout=HANG_GUARD)

    def validate(self, *args, **kw):
        return self.run("validate", *args, **kw)


@pytest.fixture(scope="session")
def pc(request):
    return Portcullis(binary_path(request.config))


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
