# SPDX-License-Identifier: GPL-2.0-or-later
"""Shared options of the system tests under tests/system/.

Only what every suite below needs: the --portcullis option. Fixtures live
next to the tests that use them (netns.py here, proxy/conftest.py for the
proxy suite), so this file stays free of autouse fixtures and hooks that
would reach into the other suites.
"""
import pathlib

REPO = pathlib.Path(__file__).resolve().parents[2]


def pytest_addoption(parser):
    try:
        parser.addoption(
            "--portcullis",
            default=str(REPO / "build" / "portcullis"),
            help="the portcullis binary to test (default: build/portcullis of this tree)")
    except ValueError:
        pass  # another conftest.py defined it first
