# SPDX-License-Identifier: GPL-2.0-or-later
"""The harness library itself (tests/pylib/portcullis_test): the checks every
suite relies on must fail when they should. Runs here, in the CLI suite,
because that suite needs neither root nor the network; fake binaries are
shell scripts in tmp_path.
"""
import re
import subprocess

import pytest

from portcullis_test.addresses import ADDR, FILE, load
from portcullis_test.binary import Binary, is_sanitized, log_problems
from portcullis_test.netns import CommandError, sh

DOC_RANGES = ("192.0.2.", "198.51.100.", "203.0.113.", "2001:db8:")


def fake(tmp_path, body, name="portcullis"):
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)
    return Binary(path, timeout=5)


def test_log_problems():
    assert log_problems('level=info msg="ready"\n') == []
    assert log_problems("==1==ERROR: AddressSanitizer: heap-use-after-free\n") == \
        ["'Sanitizer' on stderr"]
    assert log_problems("x.c:3:5: runtime error: signed integer overflow\n", errs_ok=True) == \
        ["'runtime error:' on stderr"]
    line = 'ts=1 level=err msg="cannot bind"'
    assert log_problems(line) == [f"unexpected: {line}"]
    assert log_problems(line, [r"cannot bind"]) == []
    assert log_problems(line, [re.compile(r"other")]) == [f"unexpected: {line}"]
    assert log_problems(line, errs_ok=True) == []
    assert log_problems('msg="a" key=xlevel=err') == []  # a key of its own only


def test_run_result_is_a_triple(tmp_path):
    pc = fake(tmp_path, 'echo "out $1"; echo "err $2" >&2; exit 3')
    r = pc.run("a", "b")
    rc, out, err = r
    assert (rc, out, err) == (3, "out a\n", "err b\n") == (r.rc, r.out, r.err)
    assert r[0] == 3 and r.args == ["a", "b"] and r.argv == [pc.binary, "a", "b"]
    assert r.lines() == ["out a"]


def test_run_stdin_and_env(tmp_path):
    pc = fake(tmp_path, 'cat; echo "$LC_ALL $EXTRA"')
    assert pc.run(stdin="in\n").out == "in\nC \n"
    assert pc.run(input=b"in\n", env={"EXTRA": "x"}).out == "in\nC x\n"
    f = tmp_path / "input"
    f.write_text("file\n")
    assert pc.run(stdin=f).out == "file\nC \n"
    assert pc.run().out == "C \n"  # stdin is /dev/null: cat ends at once


def test_run_clean_log(tmp_path):
    ok_err = fake(tmp_path, 'echo "level=err msg=boom" >&2; exit 0', "a")
    with pytest.raises(AssertionError, match="unexpected: level=err msg=boom"):
        ok_err.run()
    assert ok_err.run(expect_err=[r"boom"]).rc == 0
    fail_err = fake(tmp_path, 'echo "level=err msg=boom" >&2; exit 1', "b")
    assert fail_err.run().rc == 1  # a failing run explains itself
    asan = fake(tmp_path, 'echo "==1==ERROR: AddressSanitizer: x" >&2; exit 1', "c")
    with pytest.raises(AssertionError, match="'Sanitizer' on stderr"):
        asan.run()
    killed = fake(tmp_path, 'kill -SEGV $$', "d")
    with pytest.raises(AssertionError, match="killed by signal 11"):
        killed.run()
    hang = fake(tmp_path, 'exec sleep 30', "e")
    with pytest.raises(pytest.fail.Exception, match="no exit within 1 s"):
        hang.run(timeout=1)


def test_rlimit_as(tmp_path):
    pc = fake(tmp_path, 'ulimit -v; ulimit -c')
    assert pc.run().lines() == [str((1 << 30) // 1024), "0"]
    assert not pc.sanitized and not is_sanitized(tmp_path / "missing")
    asan = tmp_path / "asan"
    asan.write_bytes(b"#!/bin/sh\nulimit -v\n# __asan_init\n")
    asan.chmod(0o755)
    assert Binary(asan).sanitized and Binary(asan).run().lines() == ["unlimited"]


def test_sh_raises_with_the_command_and_its_output():
    assert sh("sh", "-c", "echo hi").stdout == "hi\n"
    assert sh("sh", "-c", "echo hi", text=False).stdout == b"hi\n"
    assert sh("sh", "-c", "exit 4", check=False).returncode == 4
    with pytest.raises(CommandError) as e:
        sh("sh", "-c", "echo out; echo err >&2; exit 4")
    assert (e.value.argv, e.value.returncode) == (["sh", "-c", "echo out; echo err >&2; exit 4"],
                                                  4)
    assert (e.value.stdout, e.value.stderr) == ("out\n", "err\n")
    assert "-> exit 4" in str(e.value) and "out\n" in str(e.value)
    assert isinstance(e.value, AssertionError)
    with pytest.raises(CommandError, match="no exit within 1 s") as e:
        sh("sleep", "30", timeout=1)
    assert e.value.returncode is None


def test_address_plan_is_shared_with_the_shell(tmp_path):
    assert ADDR["POD_A"] == "192.0.2.1" and ADDR["DEMO_DB"] == "203.0.113.10"
    for name, addr in ADDR.items():
        assert addr.startswith(DOC_RANGES), f"{name}={addr} is not a documentation address"
    # bash sources the same file to the same values
    names = sorted(ADDR)
    script = f'. "{FILE}"; ' + "; ".join(f'echo "${n}"' for n in names)
    out = subprocess.run(["bash", "-euc", script], capture_output=True, text=True, check=True)
    assert out.stdout.split() == [ADDR[n] for n in names]
    bad = tmp_path / "bad.env"
    bad.write_text("X=1.2.3.4\nY=$(reboot)\n")
    with pytest.raises(ValueError, match="bad.env:2"):
        load(bad)
