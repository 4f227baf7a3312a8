# SPDX-License-Identifier: GPL-2.0-or-later
"""Fault tests of the store and the control plane (issue 14, point 3):

- `delete -f` of many objects is one request, one store transaction and one
  policy compile: one revision, all or nothing;
- a --config the proxy user cannot read refuses to start (SIGHUP re-reads
  it after root is dropped), saying which file, which uid and the fix;
- a failing disk (EIO, made by an LD_PRELOAD shim on the store's writes) is
  reported as an I/O error on the store's file, not as a corrupt database;
- a delete while the store cannot write (a full tmpfs, EIO) still revokes at
  once, says "revoked, not yet persisted: ...", and is stored once the disk
  is back (visible after a restart).

Same fixtures as test_live.py (conftest.py); every mount, file and process
is the test's own and is removed even on failure.
"""
import json
import os
import pathlib
import subprocess
import time

import pytest

import topology
from test_live import (ECHO, EXT_B, IO_TIMEOUT, LIVENESS, NS, WHOAMI, apply_ok,
                       assert_allowed, assert_denied, connect, docs, echo_roundtrip,
                       expect_closed, fill, mount, names, se, unmount)

PROXY_UID = 1337


def bulk(n, prefix="bulk"):
    """<n> ServiceEntries, each its own host and IPv6 /128 (no conflicts)."""
    return docs(*(se(f"{prefix}-{i}", f"{prefix}-{i}.store.example",
                     [f"2001:db8:14::{i:x}/128"], [ECHO]) for i in range(n)))


def status(p):
    code, body = p.api("GET", "/v1/status")
    assert code == 200 and isinstance(body, dict), f"GET /v1/status -> {code} {body!r}"
    return body


def multipart(name, text):
    boundary = "pcfaultsboundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"{name}\"\r\nContent-Type: application/json\r\n\r\n{text}\r\n"
            f"--{boundary}--\r\n").encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


# -- 1. delete -f: one transaction ---------------------------------------------------


def test_delete_f_is_one_transaction(topo, proxy, workdir):
    """2,000 objects by file: one revision, every one gone; an object of the file
    that does not exist is reported (exit 1) and the others are deleted all the
    same, as kubectl does."""
    n = 2000
    p = proxy(())
    manifest = workdir / "bulk.yaml"
    manifest.write_text(bulk(n))
    rc, out, err = p.cli("apply", "-f", manifest, timeout=120)
    assert rc == 0, f"apply of {n} -> exit {rc}\n{err[-2000:]}"
    assert len(names(p)) == n
    rev = p.revision()
    # one more in the file that was never applied
    manifest.write_text(bulk(n) + "---\n" + se("never-applied", "never.store.example",
                                               ["2001:db8:14:1::1/128"], [ECHO]))
    rc, out, err = p.cli("delete", "-f", manifest, timeout=120)
    assert rc == 1, f"delete -f with a missing object -> exit {rc}\n{err[-2000:]}"
    assert "(NotFound)" in err and '"never-applied" not found' in err, err[-2000:]
    assert out.count(" deleted\n") == n, out[-2000:]
    assert p.revision() == rev + 1, \
        f"delete -f of {n} objects took the revision from {rev} to {p.revision()}"
    assert names(p) == []
    assert status(p)["objects"] == 0


def test_delete_list_failure_midway_changes_nothing(topo, proxy, workdir):
    """POST /v1/delete whose object #1500 has a stale resourceVersion: 409 Conflict,
    and none of the 2,000 is deleted (the revision does not move)."""
    n = 2000
    p = proxy(())
    manifest = workdir / "bulk.yaml"
    manifest.write_text(bulk(n))
    rc, out, err = p.cli("apply", "-f", manifest, timeout=120)
    assert rc == 0, f"apply of {n} -> exit {rc}\n{err[-2000:]}"
    rev = p.revision()
    items = [{"kind": "ServiceEntry", "namespace": NS, "name": f"bulk-{i}"} for i in range(n)]
    items[1500]["resourceVersion"] = str(rev + 1000)  # not the object's: a conflict
    body, headers = multipart("delete.json", json.dumps({"items": items}))
    code, reply = p.api("POST", "/v1/delete", body, headers, timeout=120)
    assert code == 409, f"a stale resourceVersion midway -> {code} {reply!r}"
    assert "bulk-1500" in reply.get("message", ""), reply
    assert p.revision() == rev
    assert len(names(p)) == n, "a failed delete list deleted some objects"
    # and the same list without the stale version deletes them all, in one revision
    del items[1500]["resourceVersion"]
    body, headers = multipart("delete.json", json.dumps({"items": items}))
    code, reply = p.api("POST", "/v1/delete", body, headers, timeout=120)
    assert code == 200, f"POST /v1/delete -> {code} {reply!r}"
    assert [r["result"] for r in reply["results"]] == ["deleted"] * n
    assert p.revision() == rev + 1
    assert names(p) == []


# -- 2. a --config the proxy user cannot read ----------------------------------------


def test_root_only_config_refuses_to_start(pc, topo, workdir):
    """A 0600 root --config: root could read it at start, but SIGHUP re-reads it as
    the proxy user. The daemon must refuse to start, naming the file, the uid and
    the fix (the old code started and then failed every reload, silently)."""
    conf = workdir / "root-only.yaml"
    conf.write_text(se("secret", "secret.store.example", [f"{EXT_B}/32"], [ECHO]))
    conf.chmod(0o600)
    os.chown(conf, 0, 0)
    state = workdir / "state-root-only"
    argv = topo.pod.argv(pc.binary, "run", "--config", conf, "--state-dir", state,
                         "--api-socket", workdir / "root-only.sock", "--proxy-port", "15099",
                         "--admin", "off", "--access-log", "-")
    with open(workdir / "root-only.err", "wb") as err_file:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=err_file)
        try:
            rc = proc.wait(LIVENESS)
        except subprocess.TimeoutExpired:
            rc = None
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(IO_TIMEOUT)
    err = (workdir / "root-only.err").read_text(errors="replace")
    assert rc is not None, \
        f"started with a --config uid {PROXY_UID} cannot read (SIGHUP would fail)\n{err}"
    assert rc != 0, err
    line = next((ln for ln in err.splitlines() if "not readable by the proxy user" in ln), "")
    assert line, f"no clear reason for refusing to start:\n{err}"
    assert str(conf) in line and f"uid={PROXY_UID}" in line and "chmod" in line, line


# -- 3. and 4. a disk that fails ------------------------------------------------------

SHIM = r'''
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

/*
 * EIO on the syncs of store.db* while $PC_EIO_TRIGGER exists: where a failing
 * disk reports the blocks it could not write back.
 */
static int failing(int fd)
{
	const char *t = getenv("PC_EIO_TRIGGER");
	char link[64], path[4096];
	ssize_t n;

	if (!t || access(t, F_OK) != 0)
		return 0;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, path, sizeof(path) - 1);
	if (n <= 0)
		return 0;
	path[n] = 0;
	return strstr(path, "/store.db") != NULL;
}

#define SHIM(name, ret, params, args, fd)                       \
	ret name params                                         \
	{                                                       \
		static ret (*real) params;                      \
		if (!real)                                      \
			real = (ret (*) params)dlsym(RTLD_NEXT, #name); \
		if (failing(fd)) {                              \
			errno = EIO;                            \
			return -1;                              \
		}                                               \
		return real args;                               \
	}

SHIM(fsync, int, (int fd), (fd), fd)
SHIM(fdatasync, int, (int fd), (fd), fd)
'''


@pytest.fixture
def eio_shim(workdir):
    """An LD_PRELOAD library (built here with cc) that fails the store's fsync and
    fdatasync with EIO while its trigger file exists; returns (library, trigger)."""
    src, lib = workdir / "eioshim.c", workdir / "eioshim.so"
    src.write_text("#include <stdlib.h>\n" + SHIM)
    r = subprocess.run(["cc", "-shared", "-fPIC", "-O1", "-o", lib, src, "-ldl"],
                       capture_output=True, text=True)
    assert r.returncode == 0, f"cannot build the EIO shim:\n{r.stderr}"
    os.chmod(workdir, 0o755)  # the proxy user loads it
    return lib, workdir / "eio-now"


def metric(p, name):
    """The value of the unlabelled sample <name> in /metrics."""
    code, _, body = p.admin("/metrics")
    assert code == 200, body[:300]
    for line in body.decode().splitlines():
        if line.split(" ")[0] == name:
            return float(line.split(" ")[1])
    raise AssertionError(f"no {name} in /metrics")


def wait_persisted(p):
    deadline = time.monotonic() + LIVENESS
    while status(p).get("unpersistedDeletes", 0) != 0:
        assert time.monotonic() < deadline, \
            f"the revoked delete was not stored within {LIVENESS} s\n{p.describe()}"
        time.sleep(0.1)


def test_disk_full_delete_revokes_at_once(topo, proxy, workdir):
    """Store on a full tmpfs: apply fails closed, but delete revokes at once (new and
    live connections), says it is not yet persisted, and is stored once space is
    back: a restart then does not bring the object back."""
    mnt = workdir / "tmpfs"
    mnt.mkdir()
    mount("-t", "tmpfs", "-o", "size=8m,mode=0755", "tmpfs", mnt)
    p = None
    try:
        p = proxy((), state_dir=mnt / "state")
        p.expect_err(r"No space left on device|(?i:store)|disk full")
        apply_ok(p, docs(se("first", "first.store.example", [f"{EXT_B}/32"], [ECHO]),
                         se("other", "other.store.example", [f"{EXT_B}/32"], [WHOAMI])))
        rev = p.revision()
        live = connect(topo, EXT_B, ECHO)
        echo_roundtrip(live, b"before the delete\n")
        filler = fill(mnt)
        rc, out, err = p.cli("apply", "-f", "-",
                             input=se("third", "third.store.example", [f"{EXT_B}/32"],
                                      [ECHO], annotations={"padding": "x" * 200000}))
        assert rc == 1, f"apply on a full disk -> exit {rc}\n{out}{err}"
        rc, out, err = p.cli("delete", "se", "first", "-n", NS)
        assert rc == 1, f"delete on a full disk -> exit {rc} (not yet persisted)\n{out}{err}"
        assert "revoked, not yet persisted: disk full" in err, err
        assert "restart" in err, err
        assert_denied(topo, p, EXT_B, ECHO)  # at once: no polling
        with live:
            expect_closed(live)  # the live connection is revoked too
        assert_allowed(topo, p, EXT_B, WHOAMI, "other.store.example")
        st = status(p)
        assert st["unpersistedDeletes"] == 1 and "disk full" in st["storeError"], st
        assert metric(p, "portcullis_store_unpersisted_deletes") == 1
        assert p.revision() == rev
        deadline = time.monotonic() + LIVENESS  # one retry fails on the full disk (every 3 s)
        while metric(p, "portcullis_store_write_failures_total") < 1:
            assert time.monotonic() < deadline, "no retry of the revoked delete"
            time.sleep(0.2)
        filler.unlink()
        wait_persisted(p)
        assert p.revision() == rev + 1
        assert metric(p, "portcullis_store_unpersisted_deletes") == 0
        p.restart()
        assert names(p) == ["other"], "the revoked delete came back after a restart"
        assert_denied(topo, p, EXT_B, ECHO)
    finally:
        try:
            if p is not None:
                p.stop()
        finally:
            unmount(mnt)


def test_eio_is_reported_as_io_error_and_delete_still_revokes(topo, proxy, eio_shim,
                                                               monkeypatch):
    """A disk that fails writes with EIO: apply says "I/O error" on the store's file
    with strerror (not "malformed"), delete revokes at once and lags, and once the
    disk works the delete is stored."""
    lib, trigger = eio_shim
    monkeypatch.setenv("LD_PRELOAD", str(lib))
    monkeypatch.setenv("PC_EIO_TRIGGER", str(trigger))
    p = proxy(())
    monkeypatch.delenv("LD_PRELOAD")
    p.expect_err(r"(?i)store|I/O error")
    apply_ok(p, se("first", "first.store.example", [f"{EXT_B}/32"], [ECHO]))
    rev = p.revision()
    trigger.write_text("")
    try:
        rc, out, err = p.cli("apply", "-f", "-",
                             input=se("second", "second.store.example", [f"{EXT_B}/32"],
                                      [WHOAMI]))
        assert rc == 1, f"apply on a failing disk -> exit {rc}\n{out}{err}"
        assert "I/O error" in err and "Input/output error" in err, err
        assert "store.db" in err and "malformed" not in err, err
        rc, out, err = p.cli("delete", "se", "first", "-n", NS)
        assert rc == 1, f"delete on a failing disk -> exit {rc}\n{out}{err}"
        assert "revoked, not yet persisted: store I/O error" in err, err
        assert_denied(topo, p, EXT_B, ECHO)
        assert_denied(topo, p, EXT_B, WHOAMI)
    finally:
        trigger.unlink(missing_ok=True)
    wait_persisted(p)
    assert p.revision() == rev + 1
    p.restart()
    assert names(p) == []
