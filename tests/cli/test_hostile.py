# SPDX-License-Identifier: GPL-2.0-or-later
"""Hostile input: each must give ONE clear error line naming its input, exit status
exactly 1 (never a signal), no sanitizer report, and finish within the hang guard under
a 1 GiB address-space limit (see conftest.py). Small inputs are committed in
tests/data/hostile/ (the fuzz replay reads them too); big ones are generated here into
pytest's tmp dirs and never committed.
"""
import json
import os
import re
import threading

import pytest

from conftest import DATA

HOSTILE = DATA / "hostile"
LIMIT_MSG = ("input is larger than the limit of 33554432 bytes (32 MiB); "
             "split it into several files")
NESTING_MSG = "nesting deeper than 100 levels"
BOMB_MSG = "document expands to more than 1048576 nodes"
EMPTY_MSG = "no objects found (the input is empty)"

# committed file -> (expected message part, "line:col" or None when the error has no place)
COMMITTED = {
    "binary-garbage.yaml": ("not valid YAML text: invalid trailing UTF-8 octet", None),
    "invalid-utf8-leading.yaml": ("not valid YAML text: invalid leading UTF-8 octet "
                                  "(byte 0xff at offset 101)", None),
    "invalid-utf8-trailing.yaml": ("not valid YAML text: invalid trailing UTF-8 octet "
                                   "(byte 0x28 at offset 102)", None),
    "invalid-utf8-overlong.yaml": ("not valid YAML text: invalid length of a UTF-8 sequence",
                                   None),
    "invalid-utf8-surrogate.yaml": ("not valid YAML text: invalid Unicode character (character U+D800", None),
    "invalid-utf8-truncated.yaml": ("not valid YAML text: incomplete UTF-8 octet sequence",
                                    None),
    "nul-byte.yaml": ("not valid YAML text: control characters are not allowed "
                      "(character U+0000 at byte offset 101)", None),
    "nested-flow-seq.yaml": (NESTING_MSG, "1:101"),
    "nested-block-seq.yaml": (NESTING_MSG, "1:201"),
    "nested-flow-map.yaml": (NESTING_MSG, "1:401"),
    "billion-laughs.yaml": (BOMB_MSG, "7:70"),
    "quadratic-aliases.yaml": (BOMB_MSG, "2:2858"),
    "empty.yaml": (EMPTY_MSG, None),
    "comments-only.yaml": (EMPTY_MSG, None),
    "document-markers-only.yaml": (EMPTY_MSG, None),
    "no-kind.yaml": ("kind: Required value: kind is missing; supported kinds: ServiceEntry, "
                     "VirtualService, DestinationRule, Sidecar, WorkloadEntry", "1:1"),
    "scalar-document.yaml": ("a manifest document must be an object (mapping), not string",
                             "1:1"),
    "list-document.yaml": ("a manifest document must be an object (mapping), not array",
                           "1:1"),
    "unknown-anchor.yaml": ('unknown anchor "nowhere" referenced', "7:5"),
    "mapping-as-key.yaml": ("mapping keys must be strings, not a mapping", "1:3"),
    "merge-scalar.yaml": ("merge key << needs a mapping or a list of mappings", "1:1"),
    "tab-indent.yaml": ("invalid YAML: found character that cannot start any token", "6:1"),
    "unclosed-flow.yaml": ("invalid YAML: did not find expected ',' or ']'", "4:1"),
}

SE_DOC = b"""\
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: big
spec:
  hosts: [db.example.com]
  addresses: [198.51.100.10]
  ports:
  - {number: 3306, name: tcp-mysql, protocol: TCP}
  resolution: NONE
"""


def gen_100mb():
    n = (100 << 20) // len(SE_DOC) + 1
    return SE_DOC * n


def gen_huge_line_scalar():
    return b"x" * (20 << 20) + b"\n"  # one 20 MiB line: a document that is a string


def gen_huge_line_key():
    return b"k" * (20 << 20) + b": v\n"  # one 20 MiB line: a key far beyond libyaml's 1024


def gen_anchors():
    return b"".join(b"- &a%d x\n" % i for i in range(100000))


def gen_deep_block_map():
    # 2,000 levels of block mappings, one more space of indentation per level
    return b"".join(b" " * i + b"k:\n" for i in range(2000)) + b" " * 2000 + b"v\n"


def gen_deep_flow_map_10k_keys():
    return b"{a: " * 10000 + b"1" + b"}" * 10000 + b"\n"


# generated input -> (generator, expected message part, "line:col" or None)
GENERATED = {
    "100mb.yaml": (gen_100mb, LIMIT_MSG, None),
    "huge-line-scalar.yaml": (gen_huge_line_scalar,
                              "a manifest document must be an object (mapping), not string",
                              "1:1"),
    "huge-line-key.yaml": (gen_huge_line_key,
                           "invalid YAML: mapping values are not allowed in this context",
                           "1:20971521"),
    "100k-anchors.yaml": (gen_anchors, "more than 10000 anchors in one document", "10001:3"),
    "deep-block-map.yaml": (gen_deep_block_map, NESTING_MSG, "101:101"),
    "deep-flow-map.yaml": (gen_deep_flow_map_10k_keys, NESTING_MSG, "1:401"),
}


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """Write each generated input once per module; returns name -> path."""
    d = tmp_path_factory.mktemp("hostile")
    cache = {}

    def get(name):
        if name not in cache:
            path = d / name
            path.write_bytes(GENERATED[name][0]())
            cache[name] = path
        return cache[name]
    return get


def check_one_error(r, name, needle, where):
    """Exactly one error line, naming <name>, carrying <needle> (and <where>)."""
    assert r.rc == 1, f"exit status must be exactly 1\n{r}"
    assert r.err == "", f"nothing on stderr for an input error\n{r}"
    r.out_bytes.decode("utf-8")  # output is UTF-8 even when the input is not
    lines = r.lines()
    errs = r.error_lines()
    assert len(errs) == 1, f"want one error line\n{r}"
    assert r.warning_lines() == [], r
    assert len(lines) == 2, f"one error line and the summary\n{r}"
    line = errs[0]
    assert len(line) < 1024, f"error line too long ({len(line)} bytes)"
    prefix = f"{name}:{where}: error: " if where else f"{name}: error: "
    assert line.startswith(prefix), f"want prefix {prefix!r}\n{r}"
    assert needle in line, f"want {needle!r}\n{r}"
    assert re.match(r"^\d+ resources? in 1 file: \d+ valid, \d+ invalid; 1 error, 0 warnings$",
                    lines[-1]), r


@pytest.mark.parametrize("mode", ["file", "stdin"])
@pytest.mark.parametrize("name", sorted(COMMITTED))
def test_committed(pc, name, mode):
    path = HOSTILE / name
    needle, where = COMMITTED[name]
    if mode == "file":
        r = pc.validate("-f", path)
        check_one_error(r, str(path), needle, where)
    else:
        r = pc.validate("-f", "-", stdin=path.read_bytes())
        check_one_error(r, "<stdin>", needle, where)


@pytest.mark.parametrize("mode", ["file", "stdin-pipe", "stdin-file"])
@pytest.mark.parametrize("name", sorted(GENERATED))
def test_generated(pc, generated, name, mode):
    _, needle, where = GENERATED[name]
    path = generated(name)
    if mode == "file":
        r = pc.validate("-f", path)
        check_one_error(r, str(path), needle, where)
    elif mode == "stdin-pipe":
        r = pc.validate("-f", "-", stdin=path.read_bytes())
        check_one_error(r, "<stdin>", needle, where)
    else:  # stdin redirected from the file: a regular file on fd 0
        r = pc.validate("-f", "-", stdin=path)
        check_one_error(r, "<stdin>", needle, where)


def test_every_committed_file_is_covered():
    on_disk = {p.name for p in HOSTILE.iterdir() if p.is_file()}
    assert on_disk == set(COMMITTED), "tests/data/hostile and COMMITTED disagree"


def test_committed_files_are_small():
    for p in HOSTILE.iterdir():
        assert p.stat().st_size <= 64 * 1024, f"{p} is too big to commit; generate it"


def test_100mb_is_what_it_claims(generated):
    assert generated("100mb.yaml").stat().st_size >= 100 << 20


def test_hostile_directory_as_a_whole(pc):
    # One error per file, in sorted order, and the other files still get read.
    r = pc.validate("-f", HOSTILE)
    assert r.rc == 1, r
    files = [ln.split(":")[0] for ln in r.error_lines()]
    assert files == [str(HOSTILE / n) for n in sorted(COMMITTED)], r


def test_hostile_json_output(pc):
    r = pc.validate("-o", "json", "-f", HOSTILE)
    assert r.rc == 1, r
    doc = json.loads(r.out_bytes.decode("utf-8"))
    assert len(doc) == len(COMMITTED)
    assert all(f["severity"] == "error" for f in doc)


@pytest.mark.parametrize("dev", ["/dev/zero", "/dev/urandom"])
def test_endless_device(pc, dev):
    # A character device never reaches EOF: reading must stop at the size limit.
    if not os.path.exists(dev):
        pytest.skip(f"{dev} missing")
    check_one_error(pc.validate("-f", dev), dev, LIMIT_MSG, None)


def test_endless_stdin(pc):
    with open("/dev/zero", "rb") as zero:
        r = pc.validate("-f", "-", stdin=zero)
    check_one_error(r, "<stdin>", LIMIT_MSG, None)


def test_symlink_to_directory_named_like_a_manifest(pc, tmp_path):
    root = tmp_path / "root"
    (root / "real").mkdir(parents=True)
    (root / "link.yaml").symlink_to(root / "real", target_is_directory=True)
    path = root / "link.yaml"
    check_one_error(pc.validate("-f", root), str(path), "cannot read: Is a directory", None)


def test_fifo(pc, tmp_path):
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)

    def writer():
        with open(fifo, "wb") as w:
            w.write(b"- not\n- a manifest\n")
    t = threading.Thread(target=writer)
    t.start()
    r = pc.validate("-f", fifo)
    t.join(timeout=10)
    check_one_error(r, str(fifo), "not array", "1:1")


def test_findings_are_capped_per_resource(pc, write):
    # 50,000 unknown fields in one object: the report stays bounded.
    text = "apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: {name: x}\nspec:\n" + \
        "".join(f"  f{i}: 1\n" for i in range(50000))
    r = pc.validate("-f", write("wide.yaml", text))
    assert r.rc == 1, r
    errs = r.error_lines()
    assert 100 <= len(errs) <= 101, len(errs)
    assert sum("too many findings" in ln for ln in errs) == 1, r
    assert r.lines()[-1].startswith("1 resource in 1 file: 0 valid, 1 invalid; "), r


def test_many_small_documents(pc, write):
    # 100,000 empty documents and one real one: fine, and fast.
    text = "---\n" * 100000 + "apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\n" \
        "metadata: {name: x}\nspec: {address: 198.51.100.1}\n"
    r = pc.validate("-f", write("docs.yaml", text))
    assert r.rc == 0, r
    assert r.lines()[-1].startswith("1 resource in 1 file: 1 valid"), r


def test_long_file_name(pc, tmp_path):
    name = "n" * 250 + ".yaml"
    path = tmp_path / name
    path.write_bytes(b"")
    check_one_error(pc.validate("-f", path), str(path), EMPTY_MSG, None)


def test_output_is_bounded_for_a_huge_name(pc, write):
    # A 256 KiB name and 150 unknown fields: 101 findings, each echoing the name.
    text = ("apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata:\n  name: " +
            "a" * (256 << 10) + "\nspec:\n" + "".join(f"  f{i}: 1\n" for i in range(150)))
    r = pc.validate("-f", write("long-name.yaml", text))
    assert r.rc == 1, r
    assert r.err == "", r
    assert all(len(ln) < 4096 for ln in r.lines()), max(len(ln) for ln in r.lines())
    assert len(r.out_bytes) < 1 << 20, len(r.out_bytes)
