# SPDX-License-Identifier: GPL-2.0-or-later
"""The system tests under tests/system/.

--portcullis is defined once, in tests/conftest.py, for every suite; the
harness is portcullis_test (tests/pylib). Fixtures live next to the tests
that use them (netns.py here, proxy/conftest.py for the proxy suite), so
this file stays free of autouse fixtures and hooks that would reach into
the other suites.
"""
