# SPDX-License-Identifier: GPL-2.0-or-later
"""Fixtures for the system test of the seed-story demo (examples/bookinfo-mysql).

* demo_env   -- (session) root, the tools, the portcullis binary (--portcullis)
                and the example's ratings and productpage, built with CMake
                into --bookinfo-build; skips with the reason only when a
                Debian package is missing.
* artifacts  -- (session) the directory screenshots go to (--artifacts).
* host_port  -- a free port on the host's 127.0.0.1 for the page, so a
                demo someone runs by hand on 9080 does not collide.
* clean_check -- clean_check() snapshots the host; .assert_clean(tag, dir)
                then checks that the demo tagged <tag> left no namespace,
                process (by its PCDEMO_TAG environment), temp dir, listener
                or iptables rule in the root namespace.
"""
import os
import pathlib
import shutil
import socket
import time

import pytest

from demolib import DEMO, REPO, sh
from portcullis_test.fixtures import binary_path

# tool -> the Debian package scripts/install-deps.sh must install
TOOLS = {"mariadbd": "mariadb-server", "mariadb-install-db": "mariadb-server",
         "mariadb": "mariadb-client", "mariadb-admin": "mariadb-client", "socat": "socat",
         "chromium": "chromium", "curl": "curl", "ip": "iproute2", "iptables": "iptables",
         "cmake": "cmake"}


def pytest_addoption(parser):
    # --portcullis is tests/conftest.py's, as for every suite.
    here = REPO / "build" / "tests" / "system" / "demo"  # as CMakeLists.txt passes them
    parser.addoption("--bookinfo-build", default=str(here / "bookinfo-mysql"),
                     help="where to build the example")
    parser.addoption("--artifacts", default=str(here / "artifacts"),
                     help="where screenshots go")


@pytest.fixture(scope="session")
def demo_env(request):
    if os.geteuid() != 0:
        pytest.fail("the demo test needs root (network namespaces, iptables)")
    missing = sorted({pkg for tool, pkg in TOOLS.items() if not shutil.which(tool)})
    if sh("pkg-config", "--exists", "libmariadb", check=False).returncode != 0:
        missing.append("libmariadb-dev")
    if missing:
        pytest.skip(f"Debian packages missing: {' '.join(missing)} "
                    "(scripts/install-deps.sh must install them)")
    pc = binary_path(request.config).resolve()
    build = pathlib.Path(request.config.getoption("--bookinfo-build"))
    sh("cmake", "-S", DEMO.parent, "-B", build, "-DCMAKE_BUILD_TYPE=RelWithDebInfo")
    sh("cmake", "--build", build, timeout=300)
    return {"portcullis": str(pc), "bin": str(build)}


@pytest.fixture(scope="session")
def artifacts(request):
    path = pathlib.Path(request.config.getoption("--artifacts")).resolve()
    path.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots of the product page: {path}")
    return path


@pytest.fixture
def host_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tagged_pids(tag):
    """Live (non-zombie) processes whose environment holds PCDEMO_TAG=<tag>."""
    want = f"PCDEMO_TAG={tag}".encode()
    out = []
    for d in pathlib.Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            if want not in (d / "environ").read_bytes().split(b"\0"):
                continue
            state = (d / "stat").read_text().rsplit(")", 1)[1].split()[0]
            if state != "Z":
                out.append(f"{d.name} {(d / 'comm').read_text().strip()}")
        except OSError:
            continue
    return out


class CleanCheck:
    def __init__(self, host_port):
        self.host_port = host_port
        self.nat = sh("iptables-save", "-t", "nat").stdout.splitlines()
        self.nat = [ln for ln in self.nat if not ln.startswith("#")]

    def assert_clean(self, tag, state_dir):
        assert tag and tag.startswith("pcdemo-"), f"no demo tag ({tag!r})"
        deadline = time.monotonic() + 10
        while (pids := _tagged_pids(tag)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not pids, f"processes of {tag} left: {pids}"
        netns = [ln for ln in sh("ip", "netns", "list").stdout.splitlines() if tag in ln]
        assert not netns, f"namespaces of {tag} left: {netns}"
        assert not pathlib.Path(state_dir).exists(), f"temp dir {state_dir} left"
        nat = [ln for ln in sh("iptables-save", "-t", "nat").stdout.splitlines()
               if not ln.startswith("#")]
        assert [ln for ln in nat if "PORTCULLIS" in ln] == \
            [ln for ln in self.nat if "PORTCULLIS" in ln], "root namespace nat rules changed"
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", self.host_port)) != 0, \
                f"127.0.0.1:{self.host_port} still accepts"


@pytest.fixture
def clean_check(host_port):
    return lambda: CleanCheck(host_port)
