# SPDX-License-Identifier: GPL-2.0-or-later
"""The address plan shared with the shell scripts (tests/pylib/addresses.env).

ADDR maps each NAME of a NAME=VALUE line to its VALUE. The file is sourced
by bench/lib.sh and examples/bookinfo-mysql/demo.sh, so it holds nothing but
such lines, comments and blank lines; anything else is an error here too.
"""
import pathlib
import re

FILE = pathlib.Path(__file__).resolve().parents[1] / "addresses.env"
_LINE_RE = re.compile(r"([A-Z][A-Z0-9_]*)=([0-9A-Fa-f.:]+)")


def load(path=FILE):
    """NAME=VALUE lines of <path> -> dict; raise ValueError on any other line."""
    plan = {}
    for n, line in enumerate(pathlib.Path(path).read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = _LINE_RE.fullmatch(line)
        if not m:
            raise ValueError(f"{path}:{n}: not NAME=ADDRESS: {line!r}")
        plan[m.group(1)] = m.group(2)
    return plan


ADDR = load()
