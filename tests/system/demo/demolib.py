# SPDX-License-Identifier: GPL-2.0-or-later
"""What conftest.py and test_demo.py share: where demo.sh is, and sh() (the
harness library's, portcullis_test.netns.sh, with this suite's 60 s default
hang guard and text output)."""
from portcullis_test import REPO
from portcullis_test.netns import CommandError  # noqa: F401
from portcullis_test.netns import sh as _sh

DEMO = REPO / "examples" / "bookinfo-mysql" / "demo.sh"
CMD_TIMEOUT = 60  # hang guard for every command (seconds), unless told


def sh(*args, check=True, timeout=CMD_TIMEOUT, **kw):
    return _sh(*args, check=check, timeout=timeout, **kw)
