#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""soak.py - one `portcullis run` under hours of mixed load (`make soak`).

    soak.py --portcullis BUILD/portcullis [--seconds 3600] [--out DIR] [--rate 20]

The topology of the proxy system tests (tests/system/proxy/topology.py: a
pod and two external hosts in network namespaces of its own, documentation
addresses only, torn down even on failure), one daemon, and at a bounded
rate, all at once:

  traffic    byte-checked transfers through the proxy: XFER to ext-b, random
             sizes up and down, both SHA-256s compared (servers.py);
  churn      a ServiceEntry applied, used, a connection held open, deleted:
             the held connection must be revoked and a new one denied; every
             tenth round also applies a "keep" object and every twentieth
             deletes the oldest, a ledger of what was acknowledged;
  dns        dnsmasq's answer for a DNS entry flips between two addresses
             every 20 s; a whoami through the proxy must follow it;
  scrapes    /metrics, /stats and /config_dump every 2 s;
  sighup     the --config file rewritten (a label changes) and SIGHUP every
             60 s;
  sampler    every 10 s one CSV row: RSS, descriptors, threads, CPU seconds,
             and the window's counts and latency percentiles (time to the
             first byte of a transfer, apply and delete round trips), and
             malloc's bytes in use from /metrics.

Before the clock starts, two applies of 2,100 objects fill the daemon's
ring of recent changes (the watch log keeps the last 4,096 for watchers to
resume from), so that memory that grows afterwards is growth, not the ring
filling at the churn's pace (about 35 minutes).

At the end the ledger is compared with `get serviceentries`, the daemon is
restarted on its store and compared again, and RSS and descriptors get a
least-squares slope over the run's second half (the first is warm-up).

Pass: no transfer lost or changed a byte, every revocation and denial held,
no acknowledged change was lost (before and after the restart), no level=err
line nor sanitizer report, and RSS, malloc's bytes in use
(portcullis_heap_in_use_bytes) and descriptors flat: over the second half
the fitted growth stays under 4 MiB + 2 % (RSS), 2 MiB + 2 % (heap) and 8
descriptors.
The summary line and the CSV and SVG chart in --out say the figures.
"""
import argparse
import bisect
import hashlib
import json
import os
import pathlib
import random
import signal
import sys
import threading
import time

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path[:0] = [str(REPO / "tests/pylib"), str(REPO / "tests/system/proxy")]

import topology  # noqa: E402
from portcullis_test.binary import Binary, is_sanitized  # noqa: E402
from portcullis_test.daemon import PROXY_MEM_LIMIT, Proxy  # noqa: E402
from portcullis_test.fixtures import temp_dir  # noqa: E402
from test_proxy import NS, docs, service_entry  # noqa: E402
from test_runtime import set_answer, start_dnsmasq  # noqa: E402
from topology import DNS_NAME, ECHO, EXT_A, EXT_B, EXT_B2, VIP_DNS, WHOAMI, XFER  # noqa: E402

IO_TIMEOUT = 20
SAMPLE_S = 10
MAX_XFER = 1 << 20
RSS_SLACK = 4 << 20
FD_SLACK = 8


def stable_config(gen):
    """The --config file: the transfer target and the DNS entry; <gen> labels it
    so that each SIGHUP is a real change."""
    xfer = service_entry("xfer", "xfer.soak.example", [f"{EXT_B}/32"], [("tcp-xfer", XFER)])
    dns = service_entry("dns", DNS_NAME, [VIP_DNS], [("tcp-who", WHOAMI)], resolution="DNS")
    xfer = xfer.replace("metadata:\n", f"metadata:\n  labels: {{gen: g{gen}}}\n")
    return docs(xfer, dns)


def churn_entry(i):
    se = service_entry("churn", "churn.soak.example", [f"{EXT_A}/32"], [("tcp-echo", ECHO)])
    return se.replace("metadata:\n", f"metadata:\n  labels: {{round: r{i}}}\n")


WARM = 2100


def warm_entries(gen):
    return docs(*[service_entry(f"warm-{i}", f"warm-{i}.soak.example",
                                [f"203.0.113.{i % 200 + 20}/32"], [("tcp", 30000 + i)]).replace(
        "metadata:\n", f"metadata:\n  labels: {{gen: w{gen}}}\n") for i in range(WARM)])


def keep_entry(i):
    return service_entry(f"keep-{i}", f"keep-{i}.soak.example", [f"203.0.113.{i % 200 + 20}/32"],
                         [("tcp", 20000 + i)])


class Window:
    """Latency samples of one sampling window (seconds), and run totals."""

    def __init__(self):
        self.lock = threading.Lock()
        self.samples = {}
        self.totals = {}

    def add(self, kind, value=None, n=1):
        with self.lock:
            self.totals[kind] = self.totals.get(kind, 0) + n
            if value is not None:
                bisect.insort(self.samples.setdefault(kind, []), value)

    def take(self):
        with self.lock:
            s, self.samples = self.samples, {}
            return s, dict(self.totals)


def pct(values, q):
    if not values:
        return ""
    return f"{values[min(len(values) - 1, int(q * len(values)))] * 1000:.2f}"


class Soak:
    def __init__(self, args, pc, workdir):
        self.args = args
        self.pc = pc
        self.workdir = workdir
        self.stop = threading.Event()
        self.win = Window()
        self.failures = []
        self.fail_lock = threading.Lock()
        self.ledger = set()
        self.ledger_lock = threading.Lock()
        self.rate_lock = threading.Lock()
        self.next_slot = time.monotonic()
        self.rows = []

    def fail(self, what):
        with self.fail_lock:
            self.failures.append(f"{time.strftime('%H:%M:%S')} {what}")
            print(f"soak: FAILURE {what}", file=sys.stderr, flush=True)

    def pace(self):
        """A token bucket shared by the traffic threads: --rate connections/s."""
        with self.rate_lock:
            now = time.monotonic()
            self.next_slot = max(self.next_slot + 1.0 / self.args.rate, now)
            wait = self.next_slot - now
        if wait > 0:
            self.stop.wait(wait)

    # -- traffic ---------------------------------------------------------------
    def transfer(self, rnd):
        up, down = rnd.randint(0, MAX_XFER), rnd.randint(1, MAX_XFER)
        sent, got = hashlib.sha256(), hashlib.sha256()
        t0 = time.monotonic()
        s = self.topo.pod.socket()
        with s:
            s.settimeout(IO_TIMEOUT)
            s.connect((EXT_B, XFER))
            s.sendall(f"XFER {up} {down}\n".encode())
            body = bytearray()
            ttfb = None
            left = up
            s.setblocking(True)
            while left > 0:
                chunk = rnd.randbytes(min(left, 65536))
                sent.update(chunk)
                s.sendall(chunk)
                left -= len(chunk)
            while True:
                data = s.recv(262144)
                if ttfb is None:
                    ttfb = time.monotonic() - t0
                if not data:
                    break
                body += data
        trailer = bytes(body[down:])
        got.update(body[:down])
        want = f"{sent.hexdigest()} {got.hexdigest()}\n".encode()
        if len(body) < down or trailer != want:
            raise AssertionError(f"XFER {up} {down}: {len(body)} bytes back, trailer "
                                 f"{trailer[:140]!r}, want {want!r}")
        self.win.add("ttfb", ttfb or 0.0)
        self.win.add("bytes", None, up + down)

    def traffic(self, k):
        rnd = random.Random(k)
        while not self.stop.is_set():
            self.pace()
            if self.stop.is_set():
                break
            try:
                self.transfer(rnd)
                self.win.add("xfers")
            except (OSError, AssertionError) as e:
                self.win.add("xfer_failures")
                self.fail(f"transfer {k}: {e!r}")

    # -- churn: apply, use, hold, delete, revoke --------------------------------
    def apply(self, text):
        t0 = time.monotonic()
        status, body = self.p.api_apply([("soak.yaml", text)], timeout=60)
        self.win.add("apply", time.monotonic() - t0)
        if status not in (200, 201):
            raise AssertionError(f"apply -> {status} {body!r}")

    def delete(self, name):
        t0 = time.monotonic()
        rc, out, err = self.p.cli("delete", "se", name, "-n", NS, timeout=60)
        self.win.add("delete", time.monotonic() - t0)
        if rc != 0:
            raise AssertionError(f"delete {name} -> exit {rc}: {out}{err}")

    def echo(self, s, payload):
        s.sendall(payload)
        got = b""
        while len(got) < len(payload):
            data = s.recv(65536)
            if not data:
                raise ConnectionError(f"EOF after {len(got)} of {len(payload)} echoed bytes")
            got += data
        if got != payload:
            raise AssertionError(f"echo mismatch: {got[:40]!r}")

    def expect_denied(self, s, what, send=True):
        """<s> must be reset or closed (a revoked or denied connection). A held
        connection is only read (<send> False): the revocation may land a moment
        after the delete is answered, and an echo sent before it would come back."""
        s.settimeout(IO_TIMEOUT)
        try:
            if send:
                s.sendall(b"after\n")
            data = s.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            return
        if data:
            raise AssertionError(f"{what}: still relayed {data[:40]!r}")

    def churn_round(self, i):
        self.apply(churn_entry(i))
        held = self.topo.pod.socket()
        with held:
            held.settimeout(IO_TIMEOUT)
            held.connect((EXT_A, ECHO))
            self.echo(held, f"round {i}\n".encode())
            self.delete("churn")
            self.win.add("deletes")
            self.expect_denied(held, f"round {i}: the held connection after delete", send=False)
            self.win.add("revocations")
        fresh = self.topo.pod.socket()
        with fresh:
            fresh.settimeout(IO_TIMEOUT)
            try:
                fresh.connect((EXT_A, ECHO))
            except ConnectionError:
                return
            self.expect_denied(fresh, f"round {i}: a new connection after delete")
        self.win.add("denials")

    def ledger_round(self, i):
        if i % 10 == 0:
            self.apply(keep_entry(i))
            with self.ledger_lock:
                self.ledger.add(f"keep-{i}")
        if i % 20 == 0 and len(self.ledger) > 5:
            with self.ledger_lock:
                oldest = min(self.ledger, key=lambda n: int(n.split("-")[1]))
            self.delete(oldest)
            with self.ledger_lock:
                self.ledger.discard(oldest)

    def churn(self):
        i = 0
        while not self.stop.is_set():
            i += 1
            try:
                self.churn_round(i)
                self.ledger_round(i)
                self.win.add("applies")
            except (OSError, AssertionError) as e:
                self.fail(f"churn round {i}: {e!r}")
            self.stop.wait(1.0)

    # -- DNS answers that change ---------------------------------------------------
    def whoami_local(self):
        s = self.topo.pod.socket()
        with s:
            s.settimeout(IO_TIMEOUT)
            s.connect((VIP_DNS, WHOAMI))
            line = b""
            while True:
                data = s.recv(4096)
                if not data:
                    break
                line += data
        return line.decode().split()[1].rsplit(":", 1)[0]

    def dns(self):
        answers, k = (EXT_B, EXT_B2), 0
        while not self.stop.wait(20):
            k += 1
            want = answers[k % 2]
            try:
                set_answer(self.topo, self.dnsmasq, want)
                deadline = time.monotonic() + 15
                seen = None
                while time.monotonic() < deadline and not self.stop.is_set():
                    seen = self.whoami_local()
                    if seen == want:
                        break
                    time.sleep(0.5)
                if self.stop.is_set():
                    break
                if seen != want:
                    self.fail(f"DNS flip {k}: whoami still reaches {seen}, want {want}")
                else:
                    self.win.add("dns_flips")
            except (OSError, AssertionError) as e:
                self.fail(f"DNS flip {k}: {e!r}")

    # -- scrapes and SIGHUPs -------------------------------------------------------
    def scrapes(self):
        while not self.stop.wait(2):
            for path in ("/metrics", "/stats", "/config_dump"):
                try:
                    status, _, body = self.p.admin(path)
                    if status != 200:
                        self.fail(f"GET {path} -> {status} {body[:200]!r}")
                    self.win.add("scrapes")
                except OSError as e:
                    self.fail(f"GET {path}: {e!r}")

    def sighups(self):
        gen = 0
        while not self.stop.wait(60):
            gen += 1
            Proxy.write_config(self.p.configs[0], stable_config(gen))
            self.p.hup()
            self.win.add("sighups")

    # -- sampling ------------------------------------------------------------------
    def proc_sample(self):
        pid = self.p.proc.pid
        status = pathlib.Path(f"/proc/{pid}/status").read_text()
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        rss = int(fields["VmRSS"].split()[0]) * 1024
        threads = int(fields["Threads"])
        fds = len(os.listdir(f"/proc/{pid}/fd"))
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        cpu = (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")
        return rss, fds, threads, cpu

    def heap_bytes(self):
        """portcullis_heap_in_use_bytes: malloc's bytes in use, the leak signal
        (RSS also counts what malloc keeps free)."""
        status, _, body = self.p.admin("/metrics")
        for line in body.decode().splitlines() if status == 200 else ():
            if line.startswith("portcullis_heap_in_use_bytes "):
                return int(line.split()[1])
        return 0

    def sampler(self, csv):
        t0 = time.monotonic()
        csv.write("t_s,rss_kib,heap_kib,fds,threads,cpu_s,xfers,bytes,applies,revocations,dns_flips,"
                  "scrapes,sighups,failures,ttfb_p50_ms,ttfb_p99_ms,apply_p50_ms,apply_p99_ms,"
                  "delete_p50_ms,delete_p99_ms\n")
        while not self.stop.wait(SAMPLE_S):
            self.sample_row(csv, time.monotonic() - t0)

    def sample_row(self, csv, t):
        rss, fds, threads, cpu = self.proc_sample()
        heap = self.heap_bytes()
        samples, totals = self.win.take()
        row = [f"{t:.0f}", rss // 1024, heap // 1024, fds, threads, f"{cpu:.2f}"]
        row += [totals.get(k, 0) for k in ("xfers", "bytes", "applies", "revocations",
                                           "dns_flips", "scrapes", "sighups")]
        row.append(len(self.failures))
        for kind in ("ttfb", "apply", "delete"):
            v = samples.get(kind, [])
            row += [pct(v, 0.5), pct(v, 0.99)]
        csv.write(",".join(str(x) for x in row) + "\n")
        csv.flush()
        self.rows.append((t, rss, fds, threads, samples.get("ttfb", []), heap))

    # -- the run -------------------------------------------------------------------
    def setup(self):
        self.topo = topology.Topology(self.workdir).build()
        rc, out, err = self.pc.run("iptables", ns=self.topo.pod)
        if rc != 0:
            raise AssertionError(f"portcullis iptables -> exit {rc}\n{out}{err}")
        self.topo.pod.run("sysctl", "-qw", "net.ipv4.tcp_tw_reuse=1",
                          "net.ipv4.ip_local_port_range=1024 65000")
        self.dnsmasq = start_dnsmasq(self.topo, self.workdir, EXT_B)
        self.p = Proxy(self.pc, self.topo, self.workdir, [stable_config(0)],
                       ["--dns-server", EXT_A], "file", "text")
        self.p.wait_ready()
        for gen in range(2):
            self.apply(warm_entries(gen))
        self.win.take()

    def run(self):
        out = pathlib.Path(self.args.out)
        out.mkdir(parents=True, exist_ok=True)
        threads = [threading.Thread(target=self.traffic, args=(k,), daemon=True)
                   for k in range(4)]
        threads += [threading.Thread(target=f, daemon=True)
                    for f in (self.churn, self.dns, self.scrapes, self.sighups)]
        with open(out / "soak.csv", "w") as csv:
            sampler = threading.Thread(target=self.sampler, args=(csv,), daemon=True)
            for t in threads + [sampler]:
                t.start()
            deadline = time.monotonic() + self.args.seconds
            while time.monotonic() < deadline and self.p.proc.poll() is None:
                time.sleep(1)
            self.stop.set()
            for t in threads + [sampler]:
                t.join(90)
        if self.p.proc.poll() is not None:
            self.fail(f"portcullis run exited {self.p.proc.returncode} during the soak")
        return out

    def check_ledger(self, when):
        rc, out, err = self.p.cli("get", "se", "-n", NS, "-o", "name", timeout=60)
        if rc != 0:
            self.fail(f"{when}: get -> exit {rc}: {out}{err}")
            return
        names = {line.rsplit("/", 1)[-1] for line in out.split()}
        have = {n for n in names if n.startswith("keep-")}
        with self.ledger_lock:
            want = set(self.ledger)
        if have != want:
            self.fail(f"{when}: acknowledged changes lost: missing {sorted(want - have)}, "
                      f"unexpected {sorted(have - want)}")

    def finish(self):
        self.check_ledger("after the soak")
        self.p.restart()
        self.check_ledger("after a restart")


def slope(points):
    """Least-squares slope of (t, v) points, per second."""
    n = len(points)
    if n < 3:
        return 0.0
    mt = sum(t for t, _ in points) / n
    mv = sum(v for _, v in points) / n
    den = sum((t - mt) ** 2 for t, _ in points)
    return sum((t - mt) * (v - mv) for t, v in points) / den if den else 0.0


def chart(rows, path):
    """An SVG with three panels (RSS MiB, descriptors and threads, TTFB p50/p99 ms)."""
    if len(rows) < 2:
        return
    w, h, pad = 900, 200, 50
    t_max = rows[-1][0] or 1
    panels = [
        ("RSS and heap in use (MiB)", [("#1f77b4", [(r[0], r[1] / 1048576) for r in rows]),
                                       ("#8c564b", [(r[0], r[5] / 1048576) for r in rows])]),
        ("descriptors, threads", [("#d62728", [(r[0], r[2]) for r in rows]),
                                  ("#2ca02c", [(r[0], r[3]) for r in rows])]),
        ("time to first byte p50, p99 (ms)",
         [("#9467bd", [(r[0], float(pct(r[4], 0.5) or 0)) for r in rows]),
          ("#ff7f0e", [(r[0], float(pct(r[4], 0.99) or 0)) for r in rows])]),
    ]
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" '
             f'height="{len(panels) * (h + pad) + pad}" font-family="sans-serif" font-size="12">']
    for k, (title, series) in enumerate(panels):
        y0 = pad + k * (h + pad)
        v_max = max([v for _, pts in series for _, v in pts] + [1e-9]) * 1.1
        parts.append(f'<text x="{pad}" y="{y0 - 8}">{title} (max {v_max / 1.1:.1f}; '
                     f'{t_max:.0f} s)</text>')
        parts.append(f'<rect x="{pad}" y="{y0}" width="{w - 2 * pad}" height="{h}" '
                     'fill="none" stroke="#888"/>')
        for color, pts in series:
            xy = " ".join(f"{pad + t / t_max * (w - 2 * pad):.1f},{y0 + h - v / v_max * h:.1f}"
                          for t, v in pts)
            parts.append(f'<polyline fill="none" stroke="{color}" points="{xy}"/>')
    parts.append("</svg>")
    pathlib.Path(path).write_text("\n".join(parts) + "\n")


def report(soak, out, seconds):
    """The summary; RSS and descriptors are judged on the run's second half (the
    first holds the warm-up: allocator arenas, SQLite's page cache, resolver and
    registry state reaching their steady size)."""
    rows = soak.rows
    _, totals = soak.win.take()
    measured = [r for r in rows if r[0] >= rows[-1][0] / 10] if rows else []
    half = [r for r in rows if r[0] >= rows[-1][0] / 2] if rows else []
    span = (half[-1][0] - half[0][0]) if len(half) > 1 else 0
    rss_all = slope([(r[0], r[1]) for r in measured])
    rss_s = slope([(r[0], r[1]) for r in half])
    heap_s = slope([(r[0], r[5]) for r in half])
    fd_s = slope([(r[0], r[2]) for r in half])
    rss_growth, fd_growth = rss_s * span, fd_s * span
    rss_half = half[0][1] if half else 0
    summary = {
        "seconds": round(seconds), "transfers": totals.get("xfers", 0),
        "bytes": totals.get("bytes", 0), "transfer_failures": totals.get("xfer_failures", 0),
        "applies": totals.get("applies", 0), "deletes": totals.get("deletes", 0),
        "revocations": totals.get("revocations", 0), "denials": totals.get("denials", 0),
        "dns_flips": totals.get("dns_flips", 0), "scrapes": totals.get("scrapes", 0),
        "sighups": totals.get("sighups", 0), "samples": len(rows),
        "rss_first_mib": round(rows[0][1] / 1048576, 2) if rows else 0,
        "rss_half_mib": round(rss_half / 1048576, 2),
        "rss_last_mib": round(rows[-1][1] / 1048576, 2) if rows else 0,
        "rss_slope_kib_per_h": round(rss_all * 3600 / 1024, 1),
        "rss_slope_second_half_kib_per_h": round(rss_s * 3600 / 1024, 1),
        "heap_last_mib": round(rows[-1][5] / 1048576, 2) if rows else 0,
        "heap_slope_second_half_kib_per_h": round(heap_s * 3600 / 1024, 1),
        "fd_slope_second_half_per_h": round(fd_s * 3600, 2),
        "fds_last": rows[-1][2] if rows else 0, "threads_last": rows[-1][3] if rows else 0,
        "failures": len(soak.failures),
    }
    if span < 300:
        print(f"soak: the second half spans {span:.0f} s: too short to judge growth "
              "(SOAK_S of 600 or more)")
    elif rss_growth > RSS_SLACK + 0.02 * rss_half:
        soak.fail(f"RSS grows: {rss_growth / 1048576:.2f} MiB over the last {span:.0f} s "
                  f"({summary['rss_slope_second_half_kib_per_h']} KiB/h)")
    heap_half = half[0][5] if half else 0
    if span >= 300 and heap_s * span > RSS_SLACK / 2 + 0.02 * heap_half:
        soak.fail(f"heap in use grows: {heap_s * span / 1048576:.2f} MiB over the last "
                  f"{span:.0f} s ({summary['heap_slope_second_half_kib_per_h']} KiB/h)")
    if span >= 300 and fd_growth > FD_SLACK:
        soak.fail(f"descriptors grow: {fd_growth:.1f} over the last {span:.0f} s")
    summary["failures"] = len(soak.failures)
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    chart(rows, out / "soak.svg")
    print("soak: " + " ".join(f"{k}={v}" for k, v in summary.items()))
    print(f"soak: CSV {out / 'soak.csv'}, chart {out / 'soak.svg'}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--portcullis", required=True)
    ap.add_argument("--seconds", type=int, default=3600)
    ap.add_argument("--rate", type=float, default=20, help="transfers per second at most")
    ap.add_argument("--out", default="soak-out")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("soak.py: needs root (network namespaces, iptables)")
    if args.seconds < 30:
        sys.exit("soak.py: --seconds (SOAK_S) must be at least 30")
    # SIGTERM and SIGHUP end the run as Ctrl-C does: through the finally
    # below, which stops the daemon and deletes the namespaces.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.default_int_handler)
    pc = Binary(args.portcullis, mem_limit=None if is_sanitized(args.portcullis)
                else PROXY_MEM_LIMIT, timeout=60)
    t0 = time.monotonic()
    with temp_dir("pc-soak-") as workdir:
        soak = Soak(args, pc, workdir)
        try:
            soak.setup()
            out = soak.run()
            soak.finish()
            report(soak, out, time.monotonic() - t0)
            soak.p.stop()
        except BaseException as e:
            soak.fail(f"{type(e).__name__}: {e}")
        finally:
            if getattr(soak, "p", None):
                try:
                    soak.p.stop()
                except BaseException as e:
                    soak.fail(f"stopping: {e}")
            if getattr(soak, "topo", None):
                soak.topo.destroy()
    if soak.failures:
        print(f"soak: FAILED, {len(soak.failures)} failures:", *soak.failures[:50],
              sep="\n  ", file=sys.stderr)
        sys.exit(1)
    print("soak: passed")


if __name__ == "__main__":
    main()
