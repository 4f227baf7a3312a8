# SPDX-License-Identifier: GPL-2.0-or-later
"""The attacker of test_statedir.py: run as the proxy user (uid 1337), which owns
the state directory, it replaces files there by symbolic links to a root-only
file, as a compromised proxy would, hoping that root follows one at the next
start (chown, chmod, open) and hands the file over.

    statedir_planter.py now DIR TARGET   replace every entry of DIR and the
                                         store's names by links, then exit
    statedir_planter.py race DIR TARGET  watch DIR with inotify (ctypes) and
                                         replace each name an event reports
                                         (created, opened, moved in, changed)
                                         by a link, once per name, until
                                         SIGTERM; prints "ready" once watching

Every swap is atomic (a link made under a temporary name, renamed over the
name), so the daemon never sees the name missing.
"""
import ctypes
import os
import signal
import struct
import sys

NAMES = ("store.db", "store.db-wal", "store.db-shm", "store.lock", "api-token", "audit.log")
TMP = ".plant-"

IN_MODIFY = 0x002
IN_ATTRIB = 0x004
IN_CLOSE_WRITE = 0x008
IN_OPEN = 0x020
IN_MOVED_TO = 0x080
IN_CREATE = 0x100
IN_NONBLOCK = 0o4000
EVENT = struct.Struct("iIII")


def swap(directory, name, target):
    tmp = os.path.join(directory, TMP + name)
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass
    os.symlink(target, tmp)
    os.rename(tmp, os.path.join(directory, name))


def plant_now(directory, target):
    names = set(NAMES) | {n for n in os.listdir(directory) if not n.startswith(TMP)}
    for name in sorted(names):
        swap(directory, name, target)


def race(directory, target):
    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.inotify_init1(0)
    if fd < 0:
        sys.exit(f"inotify_init1: {os.strerror(ctypes.get_errno())}")
    mask = IN_CREATE | IN_OPEN | IN_MOVED_TO | IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE
    if libc.inotify_add_watch(fd, directory.encode(), mask) < 0:
        sys.exit(f"inotify_add_watch: {os.strerror(ctypes.get_errno())}")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print("ready", flush=True)
    done = set()
    while True:
        buf = os.read(fd, 65536)
        off = 0
        while off < len(buf):
            _, _, _, length = EVENT.unpack_from(buf, off)
            raw = buf[off + EVENT.size:off + EVENT.size + length]
            off += EVENT.size + length
            name = raw.split(b"\0", 1)[0].decode()
            if not name or name.startswith(TMP) or name in done:
                continue
            done.add(name)
            try:
                swap(directory, name, target)
            except OSError:
                pass  # the daemon removed it first: the next event may do


def main():
    mode, directory, target = sys.argv[1:4]
    if os.geteuid() == 0:
        sys.exit("the planter must run as the proxy user, not root")
    if mode == "now":
        plant_now(directory, target)
    else:
        race(directory, target)


if __name__ == "__main__":
    main()
