# SPDX-License-Identifier: GPL-2.0-or-later
"""Untrusted names are echoed escaped (issue 14): a manifest whose name, namespace,
host and port name hold a right-to-left override (U+202E), an isolate (U+2066), a
mark (U+200F), the terminal's ESC [ 31 m, BEL and a C1 control (U+0085) is reported
by `portcullis validate` and by the daemon's --config loader with the escapes of
core/escape.h, and no raw control, C1 or bidi character reaches the output."""
import json
import os
import re

import pytest

# YAML double-quoted escapes, so the file itself is plain ASCII
MANIFEST = r'''apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: "db\u202e\e[31m\a"
  namespace: "n\u2066s"
spec:
  hosts:
  - "h\u202eost\x85.example"
  ports:
  - number: 80
    name: "p\u200f"
    protocol: TCP
  resolution: DNS
'''

# C0 but newline, DEL, C1 (UTF-8), and the bidi and invisible format characters
RAW = re.compile("[\x00-\x09\x0b-\x1f\x7f\x80-\x9f\u061c\u200b-\u200f\u2028-\u202e"
                 "\u2060-\u206f\ufeff]")

ESCAPED = ("db\\u202e\\x1b[31m\\x07", "n\\u2066s", "h\\u202eost\\u0085", "p\\u200f")


def assert_escaped(text, what):
    raw = RAW.findall(text)
    assert not raw, f"raw {raw!r} in {what}:\n{text}"
    for e in ESCAPED:
        assert e in text, f"{e!r} not in {what}:\n{text}"


def test_validate_text_escapes_names(pc, write):
    r = pc.validate("-f", write("bidi.yaml", MANIFEST))
    assert r.rc == 1, r
    # the bytes as written, strictly decoded: nothing invalid, nothing raw
    assert_escaped(r.out_bytes.decode("utf-8"), "validate's output")
    assert "metadata.name: Invalid value: \"db\\u202e\\x1b[31m\\x07\"" in r.out, r


def test_validate_json_escapes_names(pc, write):
    r = pc.validate("-o", "json", "-f", write("bidi.yaml", MANIFEST))
    assert r.rc == 1, r
    text = r.out_bytes.decode("utf-8")
    assert not RAW.findall(text), text
    # and it still means the same: the name decodes to the original characters
    names = {f["name"] for f in json.loads(text)}
    assert names == {"db\u202e\x1b[31m\x07"}, names


def test_daemon_config_findings_are_escaped(pc, write, tmp_path):
    """The daemon prints --config's findings to its log (stderr) before it refuses
    to start: escaped the same way."""
    if os.geteuid() != 0:
        pytest.skip("portcullis run needs root")
    cfg = write("bidi.yaml", MANIFEST)
    os.chmod(tmp_path, 0o755)
    os.chmod(cfg, 0o644)
    r = pc.run("run", "--config", str(cfg), "--state-dir", str(tmp_path / "state"),
               "--api-socket", "off", "--admin", "off", "-p", "39117")
    assert r.rc != 0, r
    assert "invalid config, not starting" in r.err, r
    assert_escaped(r.err_bytes.decode("utf-8"), "the daemon's log")
