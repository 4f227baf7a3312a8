# SPDX-License-Identifier: GPL-2.0-or-later
"""The harness every Python suite of portcullis shares (tests/README.md).

* binary    -- Binary: the one runner of the portcullis binary (hang guard,
               RLIMIT_AS outside sanitizer builds, no core dumps, and the
               clean-log check of every run); log_problems() for daemons.
* netns     -- sh() (the one way to run a helper command), Netns (one named
               network namespace), Process (a helper process stopped by its
               pid), unique_token(), dns_query().
* daemon    -- Proxy: one `portcullis run` under test, its logs, its API
               socket and admin endpoint, and its clean-log check at stop().
* accesslog -- parse_access_line(): Istio's TCP access-log line, text or JSON.
* addresses -- ADDR: the address plan (tests/pylib/addresses.env), which
               bench/lib.sh and examples/bookinfo-mysql/demo.sh source too.
* fixtures  -- what the suites' fixtures are made of: binary_path(),
               alarm() (a per-test SIGALRM hang guard), temp_dir().

The root tests/conftest.py puts tests/pylib on sys.path and defines
--portcullis; nothing here is installed.
"""
import pathlib

REPO = pathlib.Path(__file__).resolve().parents[3]
DATA = REPO / "tests" / "data"
