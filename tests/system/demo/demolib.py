# SPDX-License-Identifier: GPL-2.0-or-later
"""What conftest.py and test_demo.py share: where demo.sh is, and sh()."""
import pathlib
import subprocess

import pytest

REPO = pathlib.Path(__file__).resolve().parents[3]
DEMO = REPO / "examples" / "bookinfo-mysql" / "demo.sh"
CMD_TIMEOUT = 60  # hang guard for every command (seconds), unless told


def sh(*args, check=True, timeout=CMD_TIMEOUT, **kw):
    args = [str(a) for a in args]
    try:
        p = subprocess.run(args, capture_output=True, text=True, timeout=timeout,
                           stdin=kw.pop("stdin", subprocess.DEVNULL), **kw)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{' '.join(args)}: no exit within {timeout} s")
    if check and p.returncode != 0:
        pytest.fail(f"{' '.join(args)} -> exit {p.returncode}\n{p.stdout}\n{p.stderr}")
    return p
