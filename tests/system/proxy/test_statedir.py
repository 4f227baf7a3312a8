# SPDX-License-Identifier: GPL-2.0-or-later
"""System tests of the state directory, the store and the proxy user (issue 12,
doc/state-dir.md), with real binaries in the namespaces of topology.py:

* one daemon per state directory: a second `portcullis run` on the same
  --state-dir (another port, another network namespace) refuses to start,
  naming the pid that holds the store, and writes nothing; the first is
  unaffected;
* the state directory is 0700 and every file in it 0600, the proxy user's,
  after a start, also when an older build left 0755 and 0644 behind;
* root follows no path the proxy user can change: a process of the proxy
  user (statedir_planter.py, uid 1337) replaces the store's files, and every
  other name in the directory, by links to a root-only 0600 file, planted
  while the daemon is stopped and racing its start with inotify, over
  several restarts: the file never changes owner, mode or content, and the
  daemon either starts or refuses with a message naming the store, then
  starts and works once the links are gone;
* --proxy-uid 0 is refused, and so is a state directory that is a link or
  belongs to another user; a proxy uid that is another account's is warned
  about.
"""
import os
import pathlib
import re
import signal
import stat
import subprocess
import sys
import time

import pytest

from conftest import PROXY_UID, READY_RE, READY_TIMEOUT, SANITIZER_MARKERS, STOP_TIMEOUT
from topology import ECHO, EXT_B

PLANTER = pathlib.Path(__file__).with_name("statedir_planter.py")
NS = "statedir"
SECRET = b"root only\n"


def se(name, address, port):
    return (f"apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
            f"metadata:\n  name: {name}\n  namespace: {NS}\n"
            f"spec:\n  hosts:\n  - {name}.statedir.example\n  addresses:\n  - \"{address}/32\"\n"
            f"  ports:\n  - number: {port}\n    name: tcp-{port}\n    protocol: TCP\n"
            f"  location: MESH_EXTERNAL\n  resolution: NONE\n")


def names(p):
    rc, out, err = p.cli("get", "se", "-n", NS, "-o", "name")
    assert rc == 0, f"get -> exit {rc}\n{out}{err}"
    return sorted(line.rsplit("/", 1)[1] for line in out.splitlines() if line)


def apply_ok(p, text):
    rc, out, err = p.cli("apply", "-f", "-", input=text)
    assert rc == 0, f"apply -> exit {rc}\n{out}{err}\n{p.describe()}"


def owner_mode(path):
    st = os.lstat(path)
    return st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)


def one_shot(pc, workdir, tag, *args, ns):
    """A `portcullis run` expected to refuse: its exit status and stderr."""
    rc, out, err = pc.run("run", "--api-socket", workdir / f"{tag}.sock", "--admin", "off",
                          "--concurrency", "1", *args, ns=ns, timeout=20)
    assert not any(m in err for m in SANITIZER_MARKERS), err
    return rc, out + err


# -- one daemon per state directory --------------------------------------------------


def test_second_daemon_on_one_state_dir_refused(pc, topo, proxy, bare_ns, workdir):
    """A second daemon on the same store, on another port in the same pod and in
    another pod, refuses before it applies its --config; the first keeps working."""
    p = proxy((), "--concurrency", "1")
    apply_ok(p, se("first", EXT_B, ECHO))
    conf = workdir / "second.yaml"
    conf.write_text(se("second", EXT_B, ECHO + 1))
    conf.chmod(0o644)
    for i, ns in enumerate((topo.pod, bare_ns)):
        rc, log = one_shot(pc, workdir, f"second{i}", "--state-dir", p.state_dir,
                           "--proxy-port", str(15201 + i), "--config", conf, ns=ns)
        assert rc == 1, f"second daemon on {p.state_dir} -> exit {rc}\n{log}"
        m = re.search(r'level=err msg="another daemon uses this store.*--state-dir"'
                      r'.*pid (\d+) holds', log)
        assert m, f"the refusal does not say why, or who holds it:\n{log}"
        assert int(m.group(1)) == p.proc.pid, f"pid {m.group(1)}, not {p.proc.pid}\n{log}"
        assert str(p.state_dir) in log
    p.assert_running()
    assert names(p) == ["first"]  # the refused --config never reached the store
    apply_ok(p, se("third", EXT_B, ECHO + 2))
    assert names(p) == ["first", "third"]
    p.restart()  # the lock goes with the daemon: the next one takes it
    assert names(p) == ["first", "third"]


# -- modes and owners ----------------------------------------------------------------


def assert_private(state):
    uid, gid, mode = owner_mode(state)
    assert (uid, gid, mode) == (PROXY_UID, PROXY_UID, 0o700), \
        f"{state}: owner {uid}:{gid} mode {mode:o}, not {PROXY_UID}:{PROXY_UID} 700"
    seen = set()
    for entry in os.scandir(state):
        st = entry.stat(follow_symlinks=False)
        assert stat.S_ISREG(st.st_mode), f"{entry.path} is not a file"
        assert stat.S_IMODE(st.st_mode) & 0o077 == 0, \
            f"{entry.path} is {stat.S_IMODE(st.st_mode):o}: readable by others"
        seen.add(entry.name)
        if entry.name.startswith("store."):
            assert st.st_uid == PROXY_UID, f"{entry.path} belongs to {st.st_uid}"
    assert {"store.db", "store.db-wal", "store.db-shm", "store.lock"} <= seen, seen


def test_state_dir_0700_store_0600(proxy, workdir):
    """After a start (and an apply), the directory is 0700 and every file 0600,
    all the proxy user's; an older build's 0755 directory and 0644 database are
    made private at the next start."""
    p = proxy(())
    apply_ok(p, se("one", EXT_B, ECHO))
    assert_private(p.state_dir)
    p.sigterm()  # one proxy per pod
    p.wait_exit()

    old = workdir / "old-state"
    old.mkdir(mode=0o755)
    old.chmod(0o755)
    db = old / "store.db"
    db.write_bytes(b"")  # an empty file is an empty SQLite database
    db.chmod(0o644)
    os.chown(db, PROXY_UID, PROXY_UID)
    q = proxy((), state_dir=old)
    apply_ok(q, se("two", EXT_B, ECHO))
    assert_private(old)


# -- root follows no link the proxy user planted ------------------------------------


def as_proxy_user(*args, **kw):
    return subprocess.Popen([sys.executable, PLANTER, *map(str, args)], user=PROXY_UID,
                            group=PROXY_UID, extra_groups=[], **kw)


def make_foreign(workdir):
    path = workdir / "root-only"
    path.write_bytes(SECRET)
    path.chmod(0o600)
    os.chown(path, 0, 0)
    return path


def assert_foreign_intact(path, when):
    uid, gid, mode = owner_mode(path)
    assert (uid, gid, mode) == (0, 0, 0o600), \
        f"{when}: {path} is now {uid}:{gid} {mode:o}, was 0:0 600"
    assert path.read_bytes() == SECRET, f"{when}: {path} was written to"


def start_tampered(p, tag):
    """Start p's argv once more, outside the Proxy (which counts on clean starts):
    'ready' (then stopped with SIGTERM, exit 0) or 'refused' (exit 1, saying why)."""
    errp = p.workdir / f"tampered-{tag}.err"
    with open(errp, "wb") as errf:
        proc = subprocess.Popen(p.argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=errf, preexec_fn=p.pc.limits)
        deadline = time.monotonic() + READY_TIMEOUT
        while proc.poll() is None and time.monotonic() < deadline:
            if READY_RE.search(errp.read_text(errors="replace")):
                break
            time.sleep(0.02)
        ready = proc.poll() is None
        if ready:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
            pytest.fail(f"{tag}: portcullis run hangs\n{errp.read_text(errors='replace')}")
    log = errp.read_text(errors="replace")
    assert not any(m in log for m in SANITIZER_MARKERS), f"{tag}:\n{log}"
    if ready and READY_RE.search(log):
        assert proc.returncode == 0, f"{tag}: exit {proc.returncode} after SIGTERM\n{log}"
        return "ready", log
    assert proc.returncode == 1, f"{tag}: exit {proc.returncode}\n{log}"
    # the store, or the API token the planter unlinked under the daemon (0 links)
    assert re.search(r"level=err .*(store|state directory|API token)", log) and \
        str(p.state_dir) in log, f"{tag}: the refusal does not name the store\n{log}"
    return "refused", log


def remove_links(state):
    """Remove what the planter left; returns how many links there were."""
    n = 0
    for entry in os.scandir(state):
        if entry.is_symlink() or entry.name.startswith(".plant-"):
            n += entry.is_symlink()
            os.unlink(entry.path)
    return n


def plant(state, foreign, only=None):
    """As the proxy user: links in place of <only> (None: every name)."""
    if only is None:
        planter = as_proxy_user("now", state, foreign)
        assert planter.wait(20) == 0, "the planter failed"
        return
    for name in only:
        subprocess.run(["setpriv", f"--reuid={PROXY_UID}", f"--regid={PROXY_UID}",
                        "--clear-groups", "ln", "-sfn", str(foreign), str(state / name)],
                       check=True, timeout=20)


def test_links_planted_while_stopped_are_never_followed(proxy, workdir):
    """Links to a root-only file planted by the proxy user in place of the -shm,
    the -wal, then every file: no restart changes the file, each start refuses
    clearly or works, and once the links are gone the daemon starts and works."""
    foreign = make_foreign(workdir)
    p = proxy(())
    apply_ok(p, se("kept", EXT_B, ECHO))
    p.sigterm()
    p.wait_exit()
    rounds = [("shm", ["store.db-shm"]), ("wal-shm", ["store.db-wal", "store.db-shm"]),
              ("lock", ["store.lock"]), ("all", None)]
    for i, (tag, only) in enumerate(rounds):
        plant(p.state_dir, foreign, only)
        for k in range(2):  # a refused start leaves nothing that helps the next one
            outcome, log = start_tampered(p, f"{tag}{k}")
            assert_foreign_intact(foreign, f"start {k} with links in place of {tag}")
        if outcome == "refused":
            assert "symbolic link" in log, f"{tag}: the refusal does not say why\n{log}"
        assert remove_links(p.state_dir) >= len(only or rounds), f"{tag}: links gone"
        assert_foreign_intact(foreign, f"after {tag}")
    p.restart()
    apply_ok(p, se("after", EXT_B, ECHO))
    assert "after" in names(p)
    assert_private(p.state_dir)


def test_links_racing_the_start_are_never_followed(proxy, workdir):
    """The proxy user watches the state directory with inotify and swaps every
    file the daemon creates or opens for a link to a root-only file, during
    several starts: the file never changes; the daemon starts or refuses
    clearly, and after the links are removed it starts and works."""
    foreign = make_foreign(workdir)
    p = proxy(())
    apply_ok(p, se("kept", EXT_B, ECHO))
    p.sigterm()
    p.wait_exit()
    outcomes, planted = [], 0
    for k in range(5):
        planter = as_proxy_user("race", p.state_dir, foreign, stdout=subprocess.PIPE,
                                text=True)
        try:
            assert planter.stdout.readline().strip() == "ready", "the planter did not start"
            outcome, log = start_tampered(p, f"race{k}")
            outcomes.append(outcome)
        finally:
            planter.terminate()
            planter.wait(10)
            planter.stdout.close()
        assert_foreign_intact(foreign, f"racing start {k} ({outcome})")
        planted += remove_links(p.state_dir)
    assert planted >= 5, f"the planter swapped only {planted} files in 5 starts ({outcomes})"
    p.restart()
    apply_ok(p, se("after", EXT_B, ECHO))
    assert "after" in names(p)
    assert_foreign_intact(foreign, f"after the races ({outcomes})")


# -- the proxy user and the directory itself ----------------------------------------


def test_proxy_uid_0_refused(pc, bare_ns, workdir):
    state = workdir / "st-root"
    for flags in (["--proxy-uid", "0"], ["--proxy-gid", "0"], ["--user", "0"]):
        rc, log = one_shot(pc, workdir, "root", "--state-dir", state, *flags, ns=bare_ns)
        assert rc == 1, f"{flags} -> exit {rc}\n{log}"
        assert re.search(r'level=err msg="the proxy must not run as root', log), log
        assert not state.exists(), f"{flags}: the state dir was made before the refusal"


def test_state_dir_link_or_foreign_owner_refused(pc, bare_ns, workdir):
    """Root opens the state dir O_NOFOLLOW: a link there is refused, its target
    untouched; a directory of another user is not handed to the proxy user."""
    target = workdir / "target"
    target.mkdir(mode=0o755)
    target.chmod(0o755)
    link = workdir / "st-link"
    link.symlink_to(target)
    rc, log = one_shot(pc, workdir, "link", "--state-dir", link, ns=bare_ns)
    assert rc == 1 and "symbolic link" in log, f"exit {rc}\n{log}"
    assert owner_mode(target) == (0, 0, 0o755) and not os.listdir(target)

    other = workdir / "st-other"
    other.mkdir(mode=0o755)
    other.chmod(0o755)
    os.chown(other, 4242, 4242)
    rc, log = one_shot(pc, workdir, "other", "--state-dir", other, ns=bare_ns)
    assert rc == 1 and "belongs to another user" in log, f"exit {rc}\n{log}"
    assert owner_mode(other) == (4242, 4242, 0o755) and not os.listdir(other)

    # a proxy uid that is a person's (here nobody's account) is warned about
    rc, log = one_shot(pc, workdir, "nobody", "--state-dir", other, "--proxy-uid", "65534",
                       "--proxy-gid", "65534", ns=bare_ns)
    assert re.search(r'level=warn msg="the proxy uid is another account\'s.*uid=65534 '
                     r'account=nobody', log), log


def test_root_dir_with_foreign_files_not_handed_over(pc, bare_ns, workdir):
    """A directory of root's that holds files portcullis did not make (say
    --state-dir /run/portcullis, next to the API socket) is not handed to the
    proxy user, who could then unlink or replace them; one holding only
    portcullis' own names is."""
    state = workdir / "st-roots"
    state.mkdir(mode=0o755)
    state.chmod(0o755)
    keep = state / "keep.conf"
    keep.write_bytes(SECRET)
    keep.chmod(0o600)
    rc, log = one_shot(pc, workdir, "roots", "--state-dir", state, ns=bare_ns)
    assert rc == 1 and "holds files portcullis did not make" in log and "keep.conf" in log, \
        f"exit {rc}\n{log}"
    assert owner_mode(state) == (0, 0, 0o755), "the directory changed hands"
    assert owner_mode(keep) == (0, 0, 0o600) and keep.read_bytes() == SECRET


def test_operator_audit_log_records_the_start_config(proxy, workdir):
    """--audit-log PATH is open before the store, so the --config apply at
    start (which may create and delete objects) is recorded there too."""
    cfg = workdir / "start.yaml"
    cfg.write_text(se("atstart", EXT_B, ECHO))
    log = workdir / "operator-audit.log"
    p = proxy((), "--concurrency", "1", "--config", cfg, "--audit-log", log)
    lines = [line for line in log.read_text().splitlines() if '"atstart"' in line]
    assert lines, f"no audit line for the --config apply at start:\n{log.read_text()}\n" \
        f"{p.describe()}"
    assert '"created"' in lines[0], lines[0]
