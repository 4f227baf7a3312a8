# SPDX-License-Identifier: GPL-2.0-or-later
"""The seed-story demo (examples/bookinfo-mysql/demo.sh, `make demo`), end to end.

* test_narrated_demo -- the non-interactive demo as a user runs it: exit 0
  within a minute, and each step's output shows what it must (the ratings
  lines, HTTP 200, the denial and its reason, the mariadb client through the
  sidecar, the stored entry, the metrics); then nothing is left.
* test_each_step -- `demo.sh up`, then every step done and checked by the
  test itself, with headless Chromium loading the page before and after the
  apply (DOM and a screenshot of each state, kept in --artifacts); then
  `demo.sh down` and nothing is left.
* test_ctrl_c -- SIGINT to the demo's process group (what Ctrl-C does)
  during the set-up and between two steps: exit 130, nothing is left.
"""
import html
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import pytest

from demolib import DEMO, sh

DB = "203.0.113.10:3306"
DB_HOST = "mysqldb.external.example"
UNAVAILABLE = "Ratings service is currently unavailable"
STAR = "\u2605"
DENIED = f"portcullis: egress to {DB} denied"
# The "under a minute" is a speed target: the test prints the time
# (bench material), the 180 s timeout of the run is only a hang guard.

SE = f"""apiVersion: networking.istio.io/v1alpha3
kind: ServiceEntry
metadata:
  name: mysql-external
spec:
  hosts: [{DB_HOST}]
  addresses: [203.0.113.10/32]
  ports:
  - {{name: tcp, number: 3306, protocol: TCP}}
  location: MESH_EXTERNAL
  resolution: STATIC
  endpoints:
  - address: 203.0.113.10
"""


def demo_argv(env, port, *args):
    return ["bash", str(DEMO), *args, "--portcullis", env["portcullis"], "--bin", env["bin"],
            "--port", str(port)]


def parse_env(text):
    return dict(ln.split("=", 1) for ln in text.splitlines() if re.match(r"^[A-Z_]+=", ln))


def split_steps(out):
    """Narration -> {0: preamble, 1: step 1's text, ...}."""
    parts = re.split(r"^== (\d)\. .*$", out, flags=re.M)
    steps = {0: parts[0]}
    for i in range(1, len(parts) - 1, 2):
        steps[int(parts[i])] = parts[i + 1]
    return steps


def ratings_lines(text):
    """The page's ratings lines as the demo prints them, or from the HTML."""
    if "<p class=\"ratings\">" in text:
        found = re.findall(r'<p class="ratings">(.*?)</p>', text)
        return [html.unescape(re.sub(r"<[^>]*>", "", ln)) for ln in found]
    return re.findall(r"^Reviewer[12]: .*$", text, flags=re.M)


def stars(n1, n2):
    return [f"Reviewer1: {STAR * n1}", f"Reviewer2: {STAR * n2}"]


NO_RATINGS = [f"Reviewer1: {UNAVAILABLE}", f"Reviewer2: {UNAVAILABLE}"]


def tag_of(state_dir):
    return "pcdemo-" + state_dir.rsplit(".", 1)[1]


# -- the narrated demo ---------------------------------------------------------

def test_narrated_demo(demo_env, host_port, clean_check):
    check = clean_check()
    t0 = time.monotonic()
    p = sh(*demo_argv(demo_env, host_port), check=False, timeout=180)
    took = time.monotonic() - t0
    out = p.stdout
    print(out)
    assert re.search(r"^# state: /tmp/pcdemo\.\w+", out, flags=re.M), \
        f"no state line\n{out}\n{p.stderr}"
    assert p.returncode == 0, f"demo.sh -> exit {p.returncode}\n{out}\n{p.stderr}"
    print(f"demo took {took:.1f} s (the issue's target: under 60 s)")
    s = split_steps(out)
    assert sorted(s) == [0, 1, 2, 3, 4, 5, 6], f"steps: {sorted(s)}\n{out}"

    # 1: blocked -- page degraded but 200; the denial and why, three ways
    assert ratings_lines(s[1]) == NO_RATINGS, s[1]
    assert "HTTP 200" in s[1]
    assert "could not connect to ratings database" in s[1]
    assert re.search(rf'"- - -" 0 UH .* BlackHoleCluster - {re.escape(DB)} ', s[1]), s[1]
    assert "no ServiceEntry matches (outbound traffic policy REGISTRY_ONLY)" in s[1]
    assert "ERROR" in s[1] and DENIED in s[1], s[1]
    # 2: applied -- the stars, and the client reads the table
    assert "serviceentry.networking.istio.io/mysql-external created" in s[2]
    assert ratings_lines(s[2]) == stars(5, 4), s[2]
    assert "HTTP 200" in s[2]
    assert "ReviewID\tRating\n1\t5\n2\t4\n" in s[2], s[2]
    # 3: the UPDATE shows: one star each
    assert ratings_lines(s[3]) == stars(1, 1), s[3]
    # 4: the stored entry
    for want in ("kind: ServiceEntry", "name: mysql-external", "- 203.0.113.10/32",
                 f"- {DB_HOST}", "location: MESH_EXTERNAL", "number: 3306", "resourceVersion:"):
        assert want in s[4], f"{want!r} not in step 4\n{s[4]}"
    # 5: metrics for the destination (or, without the admin endpoint, the access log)
    if "no admin endpoint yet" in s[5]:
        assert f"outbound|3306||{DB_HOST}" in s[5]
    else:
        m = re.search(r'^istio_tcp_connections_opened_total\{destination_service="'
                      + re.escape(DB_HOST) + r'",\.\.\.\} (\d+)$', s[5], flags=re.M)
        assert m and int(m.group(1)) >= 2, s[5]
        m = re.search(r'^istio_tcp_sent_bytes_total\{destination_service="'
                      + re.escape(DB_HOST) + r'",\.\.\.\} (\d+)$', s[5], flags=re.M)
        assert m and int(m.group(1)) > 0, s[5]
    # 6: deleted -- unavailable again, the same proxy process
    assert 'serviceentry.networking.istio.io "mysql-external" deleted' in s[6]
    assert ratings_lines(s[6]) == NO_RATINGS, s[6]
    assert "HTTP 200" in s[6]
    assert DENIED in s[6]
    assert re.search(r"portcullis run is still pid \d+, as in step 1", s[6]), s[6]
    state_dir = re.search(r"^# state: (/tmp/pcdemo\.\w+)", out, flags=re.M).group(1)
    assert f"cleaned up (namespaces, processes, {state_dir})" in p.stderr
    check.assert_clean(tag_of(state_dir), state_dir)


# -- every step, checked by the test ------------------------------------------

class Demo:
    """A demo brought up with `demo.sh up`; the test drives the steps."""

    def __init__(self, env):
        self.env = env
        self.pod = env["POD_NS"]

    def in_pod(self, *args, **kw):
        return sh("ip", "netns", "exec", self.pod, *args, **kw)

    def page(self):
        """(HTTP status, body) of the product page through the host's 127.0.0.1."""
        try:
            with urllib.request.urlopen(self.env["URL"], timeout=15) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def mysql(self, sql):
        """The mariadb client as `bookinfo`, in the pod: through the sidecar."""
        return self.in_pod("mariadb", f"--defaults-file={self.env['MYSQL_CNF']}", "-e", sql,
                           check=False)

    def cli(self, *args, input=None):
        return sh(self.env["PORTCULLIS"], *args, "--server", self.env["SERVER"], check=False,
                  input=input, stdin=None if input is not None else subprocess.DEVNULL)

    def admin(self, path):
        """(status, body) from the admin endpoint in the pod; (0, '') when it is absent."""
        p = self.in_pod("curl", "-s", "-w", "\n%{http_code}", f"http://{self.env['ADMIN']}{path}",
                        check=False)
        if p.returncode != 0:
            return 0, ""
        body, _, code = p.stdout.rpartition("\n")
        return int(code), body

    def access_log(self):
        with open(self.env["ACCESS_LOG"], errors="replace") as f:
            return f.read()

    def chromium(self, artifacts, name):
        """Headless Chromium loads the page; returns the DOM, keeps a screenshot.

        Chromium runs inside the pod's namespace, on the page's own
        127.0.0.1:9080 there: the pod has no route beyond its /24, so the
        browser's background requests (updates, safe browsing, DNS) cannot
        leave the machine."""
        home = tempfile.mkdtemp(prefix="pc-demo-chromium-")
        url = "http://127.0.0.1:9080/productpage"
        base = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--hide-scrollbars", f"--user-data-dir={home}/profile"]
        env = dict(os.environ, HOME=home)
        try:
            dom = self.in_pod(*base, "--dump-dom", url, env=env, timeout=90).stdout
            shot = artifacts / f"productpage-{name}.png"
            shot.unlink(missing_ok=True)
            self.in_pod(*base, f"--screenshot={shot}", "--window-size=1200,900", url, env=env,
                        timeout=90)
            assert shot.stat().st_size > 1000, f"screenshot {shot} is empty"
            print(f"screenshot ({name}): {shot}")
            return dom
        finally:
            shutil.rmtree(home, ignore_errors=True)


def test_each_step(demo_env, host_port, clean_check, artifacts):
    check = clean_check()
    p = sh(*demo_argv(demo_env, host_port, "up"), check=False, timeout=120)
    env = parse_env(p.stdout)
    try:
        assert p.returncode == 0, f"demo.sh up -> exit {p.returncode}\n{p.stdout}\n{p.stderr}"
        d = Demo(env)
        pid = int(env["PROXY_PID"])

        # 1. blocked by default: the page degrades, never fails
        status, body = d.page()
        assert status == 200 and ratings_lines(body) == NO_RATINGS, body
        assert "The Comedy of Errors" in body and STAR not in body
        r = d.in_pod("curl", "-s", "-w", "\n%{http_code}", "http://127.0.0.1:9081/ratings/0")
        answer, _, code = r.stdout.rpartition("\n")
        assert code == "500", r.stdout
        err = json.loads(answer)
        assert err["error"] == "could not connect to ratings database"
        assert "denied" in err["detail"], err
        c = d.mysql("SELECT * FROM ratings")
        assert c.returncode == 1 and DENIED in c.stderr, c
        assert re.search(rf'"- - -" 0 UH .* BlackHoleCluster - {re.escape(DB)} ',
                         d.access_log()), d.access_log()
        status, denials = d.admin("/denials")
        if status:  # the admin endpoint (issue 5)
            assert status == 200, denials
            last = json.loads(denials)["denials"][-1]
            assert last["destination"] == DB and "REGISTRY_ONLY" in last["reason"], last
            assert last["response"] == "mysql", last
        dom = d.chromium(artifacts, "1-blocked")
        assert ratings_lines(dom) == NO_RATINGS, dom

        # 2. the ServiceEntry, applied live
        r = d.cli("apply", "-f", "-", input=SE)
        assert r.returncode == 0, r
        assert r.stdout == "serviceentry.networking.istio.io/mysql-external created\n"
        status, body = d.page()
        assert status == 200 and ratings_lines(body) == stars(5, 4), body
        c = d.mysql("SELECT * FROM ratings")
        assert c.returncode == 0 and c.stdout == "ReviewID\tRating\n1\t5\n2\t4\n", c
        # least privilege, as the story recommends: bookinfo may only read
        c = d.mysql("UPDATE ratings SET Rating=3")
        assert c.returncode == 1 and "UPDATE command denied" in c.stderr, c
        dom = d.chromium(artifacts, "2-allowed")
        assert ratings_lines(dom) == stars(5, 4), dom

        # 3. the admin sets every rating to 1: the page follows
        sh("ip", "netns", "exec", env["DB_NS"], "mariadb", "--no-defaults", "-S",
           env["DB_SOCKET"], "-u", "root", "-e", "UPDATE test.ratings SET Rating=1")
        status, body = d.page()
        assert status == 200 and ratings_lines(body) == stars(1, 1), body
        dom = d.chromium(artifacts, "3-one-star")
        assert ratings_lines(dom) == stars(1, 1), dom

        # 4. get -o yaml
        r = d.cli("get", "serviceentry", "mysql-external", "-o", "yaml")
        assert r.returncode == 0 and "- 203.0.113.10/32" in r.stdout, r
        assert "location: MESH_EXTERNAL" in r.stdout and f"- {DB_HOST}" in r.stdout

        # 5. metrics for the destination
        status, prom = d.admin("/stats/prometheus")
        if status:
            assert status == 200
            series = {}
            for ln in prom.splitlines():
                if ln.startswith("istio_tcp_") and f'destination_service="{DB_HOST}"' in ln:
                    series[ln.split("{")[0]] = float(ln.rsplit(" ", 1)[1])
            assert series.get("istio_tcp_connections_opened_total", 0) >= 4, prom
            assert series.get("istio_tcp_sent_bytes_total", 0) > 0, prom
            assert series.get("istio_tcp_received_bytes_total", 0) > 0, prom
        else:
            assert f"outbound|3306||{DB_HOST}" in d.access_log()

        # 6. delete: unavailable again, nothing restarted
        r = d.cli("delete", "serviceentry", "mysql-external")
        assert r.returncode == 0, r
        status, body = d.page()
        assert status == 200 and ratings_lines(body) == NO_RATINGS, body
        c = d.mysql("SELECT * FROM ratings")
        assert c.returncode == 1 and DENIED in c.stderr, c
        assert open(f"/proc/{pid}/comm").read().strip() == "portcullis", "proxy restarted"

        log = open(env["PROXY_LOG"], errors="replace").read()
        bad = [ln for ln in log.splitlines()
               if "level=err" in ln or "Sanitizer" in ln or "runtime error:" in ln]
        assert not bad, f"portcullis run logged:\n{log}"
    finally:
        if "STATE_DIR" in env:
            down = sh("bash", DEMO, "down", env["STATE_DIR"], check=False, timeout=60)
            assert down.returncode == 0, down
    check.assert_clean(env["TAG"], env["STATE_DIR"])


# -- Ctrl-C ---------------------------------------------------------------------

def _read_until(proc, needle, timeout, seen):
    """Read <proc>'s stdout (a pipe) into <seen> until <needle> shows."""
    deadline = time.monotonic() + timeout
    os.set_blocking(proc.stdout.fileno(), False)
    while needle not in seen[0]:
        if time.monotonic() > deadline or proc.poll() is not None:
            pytest.fail(f"no {needle!r} within {timeout} s (exit {proc.poll()})\n{seen[0]}")
        chunk = proc.stdout.read()
        if chunk:
            seen[0] += chunk.decode(errors="replace")
        time.sleep(0.05)


@pytest.mark.parametrize("when", ["setup", "between-steps"])
def test_ctrl_c(demo_env, host_port, clean_check, when):
    check = clean_check()
    before = {d for d in os.listdir("/tmp") if d.startswith("pcdemo.")}
    proc = subprocess.Popen(demo_argv(demo_env, host_port, "--interactive"),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    seen = [""]
    try:
        if when == "setup":
            # interrupt mid-set-up: the namespaces exist and mariadbd runs
            deadline = time.monotonic() + 60
            state_dir = None
            while not state_dir and time.monotonic() < deadline:
                for d in {d for d in os.listdir("/tmp") if d.startswith("pcdemo.")} - before:
                    try:
                        with open(f"/tmp/{d}/pids") as f:
                            if f.read().startswith("mariadbd "):
                                state_dir = f"/tmp/{d}"
                    except OSError:
                        pass
                time.sleep(0.02)
            assert state_dir, "the demo started no mariadbd within 60 s"
        else:
            _read_until(proc, "press Enter for step 1", 60, seen)
            proc.stdin.write(b"\n")
            proc.stdin.flush()
            _read_until(proc, "press Enter for step 2", 60, seen)
            assert ratings_lines(seen[0]) == NO_RATINGS, seen[0]
            state_dir = re.search(r"^# state: (/tmp/pcdemo\.\w+)", seen[0], flags=re.M).group(1)
        os.killpg(proc.pid, signal.SIGINT)
        rest, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out = seen[0] + rest.decode(errors="replace")
    assert proc.returncode == 130, f"exit {proc.returncode}, not 130\n{out}"
    assert f"cleaned up (namespaces, processes, {state_dir})" in out, out
    check.assert_clean(tag_of(state_dir), state_dir)

