# SPDX-License-Identifier: GPL-2.0-or-later
"""System tests of the state that outlives a policy change, and of DNS kept
off the paths of changes and scrapes (doc/internals/publish.md; issue 10,
behaviours 1, 2, 3, 5 and 6).

Each test fails on a proxy that keeps counters and DNS answers in the
snapshot and resolves inside publish(): an unrelated apply then resets
maxConnections, waits for an unanswering DNS server (and so does a scrape),
forgets answers during a DNS outage, and shares the resolver's sockets
with API threads. The clock test needs the LD_PRELOAD shim
tests/system/clockshim.c (CMake target pc_clockshim): $PC_CLOCKSHIM, or
libpc_clockshim.so beside the binary.
"""
import os
import pathlib
import random
import socket
import threading
import time

import topology
from test_proxy import (ECHO_SE, NS, REVOKED, UNRELATED, cluster, connect, connect_expect_closed,
                        docs, echo_roundtrip, expect_reset, hp, service_entry,
                        tcp_policy_rule, termination, whoami)
from topology import DNS_NAME, ECHO, EXT_A, EXT_B, EXT_B2, VIP_DNS, WHOAMI

NOWHERE_DNS = "203.0.113.99"  # routed to ext-a, which drops it: a server that never answers
QUICK = 3.0  # seconds: generous for an apply or a scrape that does no DNS
CLIENTS = 96  # concurrent byte-checking clients (threads) in the sockets test
DNS_NAMES = 1  # DNS entries loaded in the sockets test


def unrelated(i):
    """An unrelated ServiceEntry "other", on a different port each time so that
    each apply changes it (one object, never a conflict)."""
    return service_entry("other", "other.test.example", ["203.0.113.100"],
                         [("tcp", 10000 + i % 50000)])


def apply(p, text, timeout=topology.CMD_TIMEOUT):
    """POST /v1/apply; returns the seconds it took. Must succeed."""
    t0 = time.monotonic()
    status, body = p.api_apply([("x.yaml", text)], timeout=timeout)
    elapsed = time.monotonic() - t0
    assert status in (200, 201), f"apply -> {status} {body!r}\n{p.describe()}"
    return elapsed


def start_dnsmasq(topo, workdir, ip):
    """dnsmasq in ext-a answering DNS_NAME with <ip> from a hosts file that
    set_answer() rewrites (SIGHUP re-reads it). Returns the Process."""
    hosts = workdir / "runtime-hosts"
    hosts.write_text(f"{ip} {DNS_NAME}\n")
    argv = topo.ext_a.argv(
        "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv",
        "--no-hosts", "--no-poll", "--bind-interfaces", f"--listen-address={EXT_A}",
        "--port=53", f"--addn-hosts={hosts}", "--local-ttl=1", "--log-queries",
        "--log-facility=-", f"--pid-file={workdir / 'runtime-dnsmasq.pid'}")
    dns = topology.Process("dnsmasq", argv, workdir / "runtime-dnsmasq.log")
    topo.processes.append(dns)
    dns.hosts = hosts
    wait_answer(topo, ip, dns)
    return dns


def wait_answer(topo, ip, dns, timeout=topology.START_TIMEOUT):
    probe = topo.pod.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if topology.dns_query(probe, EXT_A, DNS_NAME) == [ip]:
                return
            time.sleep(0.05)
    finally:
        probe.close()
    raise AssertionError(f"dnsmasq does not answer {DNS_NAME} with {ip}\n{dns.text()}")


def set_answer(topo, dns, ip):
    dns.hosts.write_text(f"{ip} {DNS_NAME}\n")
    topology.sh("kill", "-HUP", dns.proc.pid)
    wait_answer(topo, ip, dns)


def dns_entry(name="dns", host=DNS_NAME, vip=VIP_DNS, port=WHOAMI):
    return service_entry(name, host, [vip], [("tcp-who", port)], resolution="DNS")


# -- behaviour 1 -------------------------------------------------------------------


def test_max_connections_survive_unrelated_apply(topo, proxy):
    """maxConnections: 1 with one connection open; an unrelated apply must not
    reset the count: a second concurrent connection is still refused (UO)."""
    host = "echo.test.example"
    p = proxy(docs(service_entry("echo", host, [f"{EXT_B}/32"], [("tcp-echo", ECHO)]),
                   tcp_policy_rule("echo", host, maxConnections=1)), "--concurrency", "1")
    first = connect(topo, EXT_B, ECHO)
    with first:
        echo_roundtrip(first, b"one\n")
        apply(p, unrelated(1))
        s, _, how = connect_expect_closed(topo, EXT_B, ECHO, timeout=5)
        with s:
            e = p.entry_for(s)
        assert e["flags"] == {"UO"}, f"second connection {how}: {e['line']}"
        assert e["upstream_cluster"] == cluster(ECHO, host), e["line"]
        echo_roundtrip(first, b"still here\n")
        first_addr = hp(*first.getsockname()[:2])
    # once the proxy has closed the first, its count went with it, across generations
    p.entry_for_addr(first_addr)
    third = connect(topo, EXT_B, ECHO)
    with third:
        echo_roundtrip(third, b"three\n")


# -- behaviour 2 -------------------------------------------------------------------


def test_apply_and_scrape_do_not_wait_for_dns(topo, proxy):
    """A DNS ServiceEntry whose server never answers: an unrelated apply and a
    Prometheus scrape issued during it both return without waiting for DNS."""
    p = proxy(docs(dns_entry(), UNRELATED), "--dns-server", NOWHERE_DNS)
    took = {}

    def do_apply():
        took["apply"] = apply(p, unrelated(2), timeout=30)

    t = threading.Thread(target=do_apply)
    t.start()
    try:
        time.sleep(0.05)
        t0 = time.monotonic()
        status, _, body = p.admin("/stats/prometheus", timeout=30)
        took["scrape"] = time.monotonic() - t0
        assert status == 200, body[:300]
    finally:
        t.join(40)
    print(f"apply {took['apply']:.3f} s, scrape during it {took['scrape']:.3f} s")
    assert took["apply"] < QUICK, f"an unrelated apply took {took['apply']:.2f} s"
    assert took["scrape"] < QUICK, f"a scrape during an apply took {took['scrape']:.2f} s"
    # and the DNS cluster answers UH rather than hanging: nothing is resolved
    s, elapsed, how = connect_expect_closed(topo, VIP_DNS, WHOAMI, timeout=5)
    with s:
        e = p.entry_for(s)
    assert e["flags"] == {"UH"}, e["line"]
    assert e["upstream_cluster"] == cluster(WHOAMI, DNS_NAME), e["line"]
    # nor does SIGTERM wait for the query in flight (nothing to drain here)
    t0 = time.monotonic()
    p.sigterm()
    p.wait_exit()
    assert time.monotonic() - t0 < QUICK, f"SIGTERM took {time.monotonic() - t0:.2f} s"


def test_revocation_does_not_wait_for_a_new_dns_name(topo, proxy):
    """Apply A brings a DNS name whose server never answers, and its answer
    waits (at most 3 s) for that name's first answer; meanwhile delete B of
    an entry with an open connection must be enforced at once: the
    connection is reset, and B answered, before A answers. (The old code
    waited for DNS before the swap, under the publish lock: B's revocation
    was enforced only after A's wait, about 3 s later.)"""
    p = proxy(docs(ECHO_SE, UNRELATED), "--dns-server", NOWHERE_DNS, "--concurrency", "1",
              access_format="json")
    s = connect(topo, EXT_B, ECHO)
    with s:
        echo_roundtrip(s, b"before\n")
        done = {}

        def apply_a():
            apply(p, dns_entry(), timeout=30)
            done["a"] = time.monotonic()

        t = threading.Thread(target=apply_a)
        t.start()
        try:
            time.sleep(0.3)  # A has published and waits for DNS (the old code: under a lock)
            assert "a" not in done, "apply A did not wait for its new DNS name"
            t0 = time.monotonic()
            rc, out, err = p.cli("delete", "se", "echo", "-n", NS)
            assert rc == 0, f"delete -> exit {rc}\n{out}{err}"
            b_done = time.monotonic()
            expect_reset(s, timeout=10)
            reset = time.monotonic()
            e = p.entry_for(s)
        finally:
            t.join(40)
    print(f"delete answered in {b_done - t0:.3f} s, reset after {reset - t0:.3f} s, "
          f"apply A answered after {done['a'] - t0:.3f} s")
    assert termination(e) == REVOKED, e["line"]
    assert "a" in done, "apply A never answered"
    assert reset < done["a"], "the revocation waited for apply A's DNS name"
    assert b_done < done["a"], "delete B's answer waited for apply A's DNS name"
    assert reset - t0 < 1.5, f"the revocation took {reset - t0:.2f} s"


def test_sighup_with_a_new_dns_name_does_not_delay_sigterm(topo, proxy):
    """A SIGHUP reload that brings a DNS name whose server never answers does
    not wait for it on the signal loop (doc/internals/publish.md): a SIGTERM
    right behind it stops the proxy at once. (The old code waited 3 s.)"""
    p = proxy(UNRELATED, "--dns-server", NOWHERE_DNS)
    p.write_config(p.configs[0], docs(dns_entry(), UNRELATED))
    p.hup()
    time.sleep(0.2)  # the reload runs (the old code: it waits for DNS)
    t0 = time.monotonic()
    p.sigterm()
    p.wait_exit()
    took = time.monotonic() - t0
    assert took < 1.5, f"SIGTERM behind a SIGHUP took {took:.2f} s"


# -- behaviour 3 -------------------------------------------------------------------


def test_dns_answer_survives_outage_and_apply(topo, proxy, workdir):
    """dnsmasq answers, then stops; after an unrelated apply the DNS destination
    still works with the last good answer (the old code: UH)."""
    dns = start_dnsmasq(topo, workdir, EXT_B)
    p = proxy(docs(dns_entry(), UNRELATED), "--dns-server", EXT_A)
    name, local, _, _ = whoami(topo, VIP_DNS)
    assert (name, local) == ("ext-b", hp(EXT_B, WHOAMI))
    dns.stop()
    time.sleep(2.5)  # past the 1 s TTL: the resolver has asked, and had no answer
    apply(p, unrelated(3))
    name, local, _, app = whoami(topo, VIP_DNS)
    assert (name, local) == ("ext-b", hp(EXT_B, WHOAMI))
    e = p.entry_for_addr(hp(*app[:2]))
    assert e["flags"] == frozenset(), e["line"]
    assert e["upstream_host"] == hp(EXT_B, WHOAMI), e["line"]


# -- behaviour 5 -------------------------------------------------------------------


def test_byte_checked_connections_while_applying_with_dns_down(topo, proxy):
    """Thousands of connections, each echoing a unique payload, while applies run
    in a loop and a DNS entry is being resolved against a server that never
    answers: no connection may lose, gain or mix up a byte. (The old code
    shared the resolver thread's glibc res_state, hence its UDP socket, with
    the API thread that published: one closed the socket while the other
    polled it, and at its timeout the other read from whatever connection had
    taken the descriptor number: the client's bytes vanished.)"""
    host = "echo.test.example"
    names = [dns_entry(f"dns{i}", f"db{i}.test.example", f"203.0.113.{30 + i}")
             for i in range(DNS_NAMES)]
    p = proxy(docs(service_entry("echo", host, [f"{EXT_B}/32"], [("tcp-echo", ECHO)]),
                   *names), "--dns-server", NOWHERE_DNS, "--concurrency", "2",
              access_log="file")
    # Tens of thousands of short connections from one pod: let TIME_WAIT ports be
    # reused (both the app's and the proxy's upstream ones) rather than run out.
    topo.pod.run("sysctl", "-qw", "net.ipv4.tcp_tw_reuse=1",
                 "net.ipv4.ip_local_port_range=1024 65000")
    # Every upstream connection loses its first SYN (never a retransmitted one:
    # hashlimit lets a port's second SYN through) and so waits a second for its
    # upstream, with the client's bytes unread in the proxy: a stray reader of
    # its descriptor has all that time to take them.
    syn = ["iptables", "-w", "-A", "INPUT", "-p", "tcp", "--dport", ECHO, "--syn"]
    topo.ext_b.run(*syn, "-m", "hashlimit", "--hashlimit-mode", "srcip,srcport",
                   "--hashlimit-above", "1/hour", "--hashlimit-burst", "1",
                   "--hashlimit-name", f"{topo.token}-syn", "-j", "ACCEPT")
    topo.ext_b.run(*syn, "-j", "DROP")
    stop = threading.Event()
    anomalies, counts, applies = [], [0] * CLIENTS, [0]

    def client(k):
        rnd = random.Random(k)
        while not stop.is_set():
            payload = f"payload-{k}-{counts[k]}-".encode() + rnd.randbytes(rnd.randint(1, 600))
            try:
                s = topo.pod.socket()
                with s:
                    s.settimeout(10)
                    s.connect((EXT_B, ECHO))
                    s.sendall(payload)
                    s.shutdown(socket.SHUT_WR)
                    got = bytearray()
                    while True:
                        data = s.recv(65536)
                        if not data:
                            break
                        got += data
                if bytes(got) != payload:
                    anomalies.append(f"client {k} #{counts[k]}: sent {len(payload)} bytes, "
                                     f"got {len(got)} back: {bytes(got[:60])!r}")
            except OSError as e:
                anomalies.append(f"client {k} #{counts[k]}: {e!r}")
            counts[k] += 1

    def applier():
        i = 0
        while not stop.is_set():
            i += 1
            # the DNS entries again, changed (new labels), and an unrelated one
            text = docs(*[n.replace("metadata:\n", f"metadata:\n  labels: {{gen: g{i}}}\n")
                          for n in names], unrelated(i))
            status, body = p.api_apply([("x.yaml", text)], timeout=30)
            if status not in (200, 201):
                anomalies.append(f"apply {i} -> {status} {body!r}")
            applies[0] += 1

    threads = [threading.Thread(target=client, args=(k,)) for k in range(len(counts))]
    threads.append(threading.Thread(target=applier))
    for t in threads:
        t.start()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(anomalies) < 20:
            time.sleep(0.2)
    finally:
        stop.set()
        for t in threads:
            t.join(40)
    total = sum(counts)
    print(f"{total} connections, {applies[0]} applies, {len(anomalies)} anomalies")
    assert total >= 1000, f"only {total} connections in 20 s"
    assert applies[0] >= 3, f"only {applies[0]} applies"
    flagged = [e["line"] for e in p.entries() if e["flags"]] if anomalies else []
    assert not anomalies, f"{len(anomalies)} of {total} connections went wrong:\n" + \
        "\n".join(anomalies[:20]) + "\naccess log lines with flags:\n" + "\n".join(flagged[:20])


# -- behaviour 6 -------------------------------------------------------------------


def clockshim(pc):
    path = os.environ.get("PC_CLOCKSHIM") or str(pathlib.Path(pc.binary).parent /
                                                 "libpc_clockshim.so")
    assert os.path.exists(path), (f"no clock shim at {path}: build the pc_clockshim target "
                                  "or set PC_CLOCKSHIM")
    return path


def test_dns_refresh_survives_wall_clock_step(topo, proxy, workdir, pc, monkeypatch):
    """The daemon's wall clock runs an hour ahead (LD_PRELOAD shim). Timed waits
    on the wall clock would then sleep an hour; the resolver's must not: when
    the DNS answer changes, the new address is used within a few seconds."""
    dns = start_dnsmasq(topo, workdir, EXT_B)
    monkeypatch.setenv("LD_PRELOAD", clockshim(pc))
    monkeypatch.setenv("PC_CLOCKSHIM_OFFSET", "3600")
    monkeypatch.setenv("ASAN_OPTIONS", "verify_asan_link_order=0:" +
                       os.environ.get("ASAN_OPTIONS", ""))
    p = proxy(docs(dns_entry(), UNRELATED), "--dns-server", EXT_A)
    monkeypatch.delenv("LD_PRELOAD")
    name, local, _, app = whoami(topo, VIP_DNS)
    assert (name, local) == ("ext-b", hp(EXT_B, WHOAMI))
    # the shim works: the access log's wall clock is an hour ahead
    e = p.entry_for_addr(hp(*app[:2]))
    logged = time.mktime(time.strptime(e["start_time"][:19], "%Y-%m-%dT%H:%M:%S"))
    skew = logged - time.mktime(time.gmtime())
    assert 3000 < skew < 4200, f"the clock shim is not active: {e['line']}"

    set_answer(topo, dns, EXT_B2)
    deadline = time.monotonic() + 8
    while True:
        name, local, _, _ = whoami(topo, VIP_DNS)
        if local == hp(EXT_B2, WHOAMI):
            break
        assert time.monotonic() < deadline, \
            f"still connecting to {local} 8 s after the DNS answer changed\n{p.describe()}"
        time.sleep(0.2)
