# SPDX-License-Identifier: GPL-2.0-or-later
"""The root of every Python suite (tests/cli, tests/system, ...; tests/README.md).

tests/pytest.ini makes this directory pytest's rootdir wherever the suites
are run from (CTest, or `pytest tests/system/proxy/test_X.py` by hand), so
this file is always loaded first. It does two things only:
* puts tests/pylib on sys.path, for the harness library portcullis_test;
* defines --portcullis, the binary under test, once for every suite.
Fixtures live in each suite's conftest.py, built from portcullis_test.
"""
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE / "pylib"))


def pytest_addoption(parser):
    parser.addoption(
        "--portcullis",
        default=str(REPO / "build" / "portcullis"),
        help="the portcullis binary to test (default: build/portcullis of this tree)")
