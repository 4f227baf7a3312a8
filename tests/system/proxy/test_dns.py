# SPDX-License-Identifier: GPL-2.0-or-later
"""Hostnames for plain TCP (issue 13, doc/dns.md): DNS capture, the DNS proxy,
auto-allocated addresses.

The pod's /etc/resolv.conf (ip netns exec bind-mounts /etc/netns/POD/resolv.conf)
names dnsmasq in ext-a. `portcullis iptables --capture-dns` sends the app's
queries to the daemon's DNS listener; the daemon's own queries (uid 1337) reach
dnsmasq. dnsmasq reads a hosts file the test rewrites and SIGHUPs, so its
answers change mid-test (TTL 1 s). Apps are real: getent, dig, the mariadb
client and Python sockets, run inside the pod.
"""
import os
import pathlib
import shutil
import signal
import socket
import struct
import subprocess
import time

import pytest

import topology
from topology import EXT_A, EXT_B, EXT_B2, EXT_B6, WHOAMI

RESOLVER_TTL = 1
WHOAMI_PY = (
    "import socket, sys\n"
    "s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)\n"
    "print(s.getpeername()[0])\n"
    "data = b''\n"
    "while not data.endswith(b'\\n'):\n"
    "    chunk = s.recv(200)\n"
    "    if not chunk:\n"
    "        break\n"
    "    data += chunk\n"
    "print(data.decode().strip())\n")


def se(name, hosts, port, resolution="DNS", protocol="TCP", addresses=None):
    text = (f"apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
            f"metadata: {{name: {name}, namespace: default}}\nspec:\n"
            f"  hosts: [{', '.join(repr(h) for h in hosts)}]\n"
            f"  location: MESH_EXTERNAL\n  resolution: {resolution}\n"
            f"  ports: [{{name: p{port}, number: {port}, protocol: {protocol}}}]\n")
    if addresses:
        text += f"  addresses: [{', '.join(addresses)}]\n"
    return text


class Dns:
    """dnsmasq in ext-a with records from a hosts file; the pod's resolv.conf."""

    def __init__(self, topo, workdir):
        self.topo = topo
        self.workdir = workdir
        self.hosts = workdir / "dns-hosts"
        self.etc = pathlib.Path("/etc/netns") / topo.pod.name
        self.proc = None

    def start(self, records):
        self.write(records)
        self.etc.mkdir(parents=True, exist_ok=True)
        (self.etc / "resolv.conf").write_text(f"nameserver {EXT_A}\noptions timeout:2 attempts:1\n")
        argv = self.topo.ext_a.argv(
            "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv",
            "--no-hosts", "--no-poll", "--bind-interfaces", f"--listen-address={EXT_A}",
            "--port=53", f"--addn-hosts={self.hosts}", f"--local-ttl={RESOLVER_TTL}",
            "--log-queries", "--log-facility=-", f"--pid-file={self.workdir / 'dns.pid'}")
        self.proc = topology.Process("dnsmasq", argv, self.workdir / "dnsmasq.log")
        self.topo.processes.append(self.proc)
        name, addr = next(iter(records.items()))
        self.wait_answer(name, addr if isinstance(addr, str) else addr[0])
        return self

    def write(self, records):
        lines = []
        for name, addrs in records.items():
            for a in [addrs] if isinstance(addrs, str) else addrs:
                lines.append(f"{a} {name}\n")
        tmp = self.hosts.with_suffix(".tmp")
        tmp.write_text("".join(lines))
        os.replace(tmp, self.hosts)

    def set(self, records):
        """New answers: rewrite the file, SIGHUP, wait until dnsmasq gives them."""
        self.write(records)
        self.proc.proc.send_signal(signal.SIGHUP)
        for name, addrs in records.items():
            self.wait_answer(name, addrs if isinstance(addrs, str) else addrs[0])

    def wait_answer(self, name, addr):
        """Ask dnsmasq from inside ext-a (never captured) until it answers <addr>."""
        if ":" in addr:
            return
        sock = self.topo.ext_a.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                if addr in topology.dns_query(sock, EXT_A, name):
                    return
                time.sleep(0.05)
        finally:
            sock.close()
        raise AssertionError(f"dnsmasq does not answer {name} with {addr}\n{self.proc.text()}")

    def cleanup(self):
        shutil.rmtree(self.etc, ignore_errors=True)


@pytest.fixture
def dns(pc, topo, workdir):
    rc, out, err = pc.run("iptables", "--capture-dns", ns=topo.pod)
    assert rc == 0, f"portcullis iptables --capture-dns -> {rc}\n{out}{err}"
    d = Dns(topo, workdir)
    try:
        yield d
    finally:
        d.cleanup()


def pod(topo, *argv, check=True, timeout=20):
    """Run <argv> in the pod (as the app: root, captured); returns stdout (str)."""
    p = topo.pod.run(*argv, check=False, timeout=timeout)
    out = p.stdout.decode(errors="replace") if isinstance(p.stdout, bytes) else p.stdout
    err = p.stderr.decode(errors="replace") if isinstance(p.stderr, bytes) else p.stderr
    if check:
        assert p.returncode == 0, f"{argv} -> {p.returncode}\n{out}\n{err}"
    return out


def getent(topo, name, family=4):
    """The addresses getent (glibc, the app's resolver) gets for <name>."""
    p = topo.pod.run("getent", "ahostsv4" if family == 4 else "ahostsv6", name, check=False)
    out = p.stdout.decode() if isinstance(p.stdout, bytes) else p.stdout
    return sorted({ln.split()[0] for ln in out.splitlines() if ln.strip()})


def whoami(topo, name):
    """Connect by name to WHOAMI: (the address dialled, the server's line)."""
    out = pod(topo, topology.PYTHON, "-c", WHOAMI_PY, name, str(WHOAMI)).splitlines()
    return out[0], out[1]


def in_range(addr):
    return addr.startswith("240.240.") or addr.startswith("2001:2:")


# -- the DNS wire, from the pod ----------------------------------------------

def query_bytes(name, qtype=1, qid=0x4242, edns=None):
    q = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 1 if edns else 0)
    q += b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    q += struct.pack("!HH", qtype, 1)
    if edns:
        q += b"\0" + struct.pack("!HHIH", 41, edns, 0, 0)
    return q


def parse_reply(data):
    """(id, flags, rcode, [(type, rdata text)])."""
    qid, flags, qd, an, _, _ = struct.unpack("!HHHHHH", data[:12])
    off = 12

    def skip_name(off):
        while True:
            n = data[off]
            if n & 0xC0 == 0xC0:
                return off + 2
            if n == 0:
                return off + 1
            off += n + 1

    for _ in range(qd):
        off = skip_name(off) + 4
    out = []
    for _ in range(an):
        off = skip_name(off)
        rtype, _, _, rdlen = struct.unpack("!HHIH", data[off:off + 10])
        off += 10
        rd = data[off:off + rdlen]
        if rtype == 1:
            out.append((1, socket.inet_ntop(socket.AF_INET, rd)))
        elif rtype == 28:
            out.append((28, socket.inet_ntop(socket.AF_INET6, rd)))
        off += rdlen
    return qid, flags, flags & 0xF, out


def udp_query(topo, name, qtype=1, server=EXT_A, edns=None, timeout=8):
    """One query over UDP from the pod (captured); returns (reply bytes, seconds)."""
    code = (
        "import socket, sys, time\n"
        "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        f"s.settimeout({timeout})\n"
        "q = bytes.fromhex(sys.argv[1])\n"
        "t = time.monotonic()\n"
        f"s.sendto(q, ({server!r}, 53))\n"
        "data, _ = s.recvfrom(65535)\n"
        "print(time.monotonic() - t)\n"
        "print(data.hex())\n")
    out = pod(topo, topology.PYTHON, "-c", code, query_bytes(name, qtype, edns=edns).hex(),
              timeout=timeout + 10).split()
    return bytes.fromhex(out[1]), float(out[0])


def tcp_query(topo, name, qtype=1, server=EXT_A):
    code = (
        "import socket, struct, sys\n"
        f"s = socket.create_connection(({server!r}, 53), timeout=8)\n"
        "q = bytes.fromhex(sys.argv[1])\n"
        "s.sendall(struct.pack('!H', len(q)) + q)\n"
        "def read(n):\n"
        "    b = b''\n"
        "    while len(b) < n:\n"
        "        c = s.recv(n - len(b))\n"
        "        if not c:\n"
        "            raise SystemExit('EOF')\n"
        "        b += c\n"
        "    return b\n"
        "n, = struct.unpack('!H', read(2))\n"
        "print(read(n).hex())\n")
    out = pod(topo, topology.PYTHON, "-c", code, query_bytes(name, qtype).hex()).split()
    return bytes.fromhex(out[0])


# -- the tests -----------------------------------------------------------------

def test_two_entries_without_addresses_on_one_port(pc, topo, dns, proxy):
    """istio#24937: two TCP entries without addresses on one port reach their own
    servers, and the access log and metrics name each."""
    dns.start({"db-a.test.example": EXT_B, "db-b.test.example": EXT_B2})
    p = proxy([se("db-a", ["db-a.test.example"], WHOAMI),
               se("db-b", ["db-b.test.example"], WHOAMI)])
    a4, b4 = getent(topo, "db-a.test.example"), getent(topo, "db-b.test.example")
    assert len(a4) == 1 and len(b4) == 1 and a4 != b4, (a4, b4)
    assert in_range(a4[0]) and in_range(b4[0]), (a4, b4)
    a6, b6 = getent(topo, "db-a.test.example", 6), getent(topo, "db-b.test.example", 6)
    dialled, line = whoami(topo, "db-a.test.example")  # IPv6 first, as glibc sorts them
    assert dialled in a4 + a6 and f" {EXT_B}:{WHOAMI} " in line, (dialled, line)
    dialled, line = whoami(topo, "db-b.test.example")
    assert dialled in b4 + b6 and f" {EXT_B2}:{WHOAMI} " in line, (dialled, line)
    entries = p.wait_entries(lambda e: e["upstream_cluster"].endswith(".test.example"), 2)
    clusters = sorted(e["upstream_cluster"] for e in entries)
    assert clusters == [f"outbound|{WHOAMI}||db-a.test.example",
                        f"outbound|{WHOAMI}||db-b.test.example"], clusters
    status, _, body = p.admin("/stats/prometheus")
    text = body.decode()
    assert 'destination_service="db-b.test.example"' in text
    assert "portcullis_dns_queries_total" in text
    rc, out, err = pc.run("top", "--once", "--admin", "127.0.0.1:15000", ns=topo.pod)
    assert rc == 0 and "db-a.test.example" in out and "db-b.test.example" in out, out + err
    # deleted: the address stays db-a's, a connection to it is denied, naming it
    rc, out, err = p.cli("delete", "se", "db-a")
    assert rc == 0, out + err
    p2 = topo.pod.run(topology.PYTHON, "-c", WHOAMI_PY, a4[0], str(WHOAMI), check=False)
    assert p2.returncode != 0
    p.wait_stderr(r'connection denied.*name=db-a\.test\.example')
    assert getent(topo, "db-b.test.example") == b4


def test_wildcard_entry_serves_each_name(topo, dns, proxy):
    """A wildcard entry of resolution NONE: each concrete name its own address,
    relayed to what the real resolver says for that name."""
    dns.start({"db1.rds.test.example": EXT_B, "db2.rds.test.example": EXT_B2})
    proxy([se("rds", ["*.rds.test.example"], WHOAMI, resolution="NONE")])
    one, two = getent(topo, "db1.rds.test.example"), getent(topo, "db2.rds.test.example")
    assert len(one) == 1 and len(two) == 1 and one != two and in_range(one[0]), (one, two)
    assert f" {EXT_B}:{WHOAMI} " in whoami(topo, "db1.rds.test.example")[1]
    assert f" {EXT_B2}:{WHOAMI} " in whoami(topo, "db2.rds.test.example")[1]
    v6 = getent(topo, "db1.rds.test.example", family=6)
    assert len(v6) == 1 and v6[0].startswith("2001:2:"), v6


def test_answers_follow_dns_and_open_connections_stay(topo, dns, proxy):
    """The upstream's address changes: a connection open on the old one keeps
    working, the next one goes to the new one."""
    dns.start({"db.test.example": EXT_B})
    p = proxy([se("db", ["db.test.example"], topology.ECHO)])
    vip = getent(topo, "db.test.example")[0]
    code = (
        "import socket, sys\n"
        "s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)\n"
        "for line in sys.stdin:\n"
        "    s.sendall(line.encode())\n"
        "    print(s.recv(100).decode().strip(), flush=True)\n")
    app = subprocess.Popen(topo.pod.argv(topology.PYTHON, "-c", code, "db.test.example",
                                         str(topology.ECHO)),
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        app.stdin.write("one\n")
        app.stdin.flush()
        assert app.stdout.readline().strip() == "one"
        dns.set({"db.test.example": EXT_B2})
        time.sleep(RESOLVER_TTL + 1.5)  # the daemon's answer expires, it asks again
        app.stdin.write("two\n")
        app.stdin.flush()
        assert app.stdout.readline().strip() == "two"  # the open connection lives on
        assert getent(topo, "db.test.example") == [vip]  # the app's address never moves
        echo_once(topo, "db.test.example")  # a new connection: the new address
        p.wait_entries(lambda e: e["upstream_host"].startswith(EXT_B2 + ":"), 1, timeout=10)
    finally:
        app.stdin.close()
        app.wait(10)
    p.wait_entries(lambda e: e["upstream_host"].startswith(EXT_B + ":"), 1, timeout=10)


def echo_once(topo, name):
    """One new connection by name to ECHO, one line there and back."""
    code = ("import socket, sys\n"
            "s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)\n"
            "s.sendall(b'x\\n')\n"
            "assert s.recv(10) == b'x\\n'\n")
    pod(topo, topology.PYTHON, "-c", code, name, str(topology.ECHO))


def test_allocations_survive_restart_and_registry_only(topo, dns, proxy):
    """The same answer before and after a restart; --dns-policy registry-only
    answers NXDOMAIN for a foreign name, forwarding mode dnsmasq's answer."""
    dns.start({"db.test.example": EXT_B, "other.test.example": EXT_B2})
    p = proxy([se("db", ["db.test.example"], WHOAMI)])
    before4, before6 = getent(topo, "db.test.example"), getent(topo, "db.test.example", 6)
    assert getent(topo, "other.test.example") == [EXT_B2]  # forwarded
    p.restart()
    assert getent(topo, "db.test.example") == before4
    assert getent(topo, "db.test.example", 6) == before6
    p.stop()
    q = proxy([se("db", ["db.test.example"], WHOAMI)], "--dns-policy", "registry-only",
              state_dir=p.state_dir)
    assert getent(topo, "db.test.example") == before4
    data, _ = udp_query(topo, "other.test.example")
    assert parse_reply(data)[2] == 3, parse_reply(data)  # NXDOMAIN
    rc, out, err = q.cli("get", "addresses")
    assert rc == 0 and "db.test.example" in out and before4[0] in out, out + err
    dump = q.admin_json("/config_dump")
    assert any(a["name"] == "db.test.example" and a["ipv4"] == before4[0]
               for a in dump["allocations"]), dump.get("allocations")


def test_dns_over_tcp_truncation_aaaa_and_dead_upstream(topo, dns, proxy):
    """DNS over TCP; a UDP answer too big is truncated and whole over TCP; AAAA;
    a dead upstream gives SERVFAIL fast."""
    big = [f"198.51.100.{i}" for i in range(1, 41)]
    dns.start({"big.test.example": big, "db.test.example": EXT_B})
    proxy([se("db", ["db.test.example"], WHOAMI)])
    _, flags, rcode, ans = parse_reply(tcp_query(topo, "big.test.example"))
    assert rcode == 0 and len(ans) == 40, (rcode, len(ans))
    data, _ = udp_query(topo, "big.test.example")
    _, flags, rcode, ans = parse_reply(data)
    assert flags & 0x0200, "a 40-record answer over UDP without EDNS must be truncated"
    out = pod(topo, "dig", "+time=5", "+tries=1", f"@{EXT_A}", "big.test.example", "A")
    assert out.count("198.51.100.") >= 40, out  # dig retried over TCP
    _, _, rcode, ans = parse_reply(tcp_query(topo, "db.test.example", 28))
    assert rcode == 0 and len(ans) == 1 and ans[0][1].startswith("2001:2:"), ans
    dns.proc.stop()  # the upstream is dead now
    data, took = udp_query(topo, "nobody.test.example")
    assert parse_reply(data)[2] == 2 and took < 6, (parse_reply(data), took)  # SERVFAIL
    # the registry still answers without the upstream
    data, _ = udp_query(topo, "db.test.example")
    assert parse_reply(data)[3] and in_range(parse_reply(data)[3][0][1])


# -- the seed's MySQL, by name ---------------------------------------------------

class Mariadb:
    """A real mariadbd in ext-b, on every address of ext-b, port 3306."""

    def __init__(self, topo, workdir):
        self.topo = topo
        self.dir = workdir / "db"
        self.proc = None

    def start(self):
        for tool in ("mariadbd", "mariadb-install-db", "mariadb"):
            if not shutil.which(tool):
                raise AssertionError(f"{tool} is missing: scripts/install-deps.sh installs "
                                     "mariadb-server and mariadb-client")
        self.dir.mkdir()
        os.chmod(self.dir.parent, 0o755)
        shutil.chown(self.dir, "mysql", "mysql")
        subprocess.run(["mariadb-install-db", "--no-defaults", f"--datadir={self.dir}/data",
                        "--user=mysql", "--auth-root-authentication-method=socket",
                        "--skip-test-db"], check=True, capture_output=True, timeout=120)
        sock = self.dir / "mysqld.sock"
        argv = self.topo.ext_b.argv(
            "mariadbd", "--no-defaults", "--user=mysql", f"--datadir={self.dir}/data",
            f"--socket={sock}", f"--pid-file={self.dir}/mariadbd.pid", "--bind-address=0.0.0.0",
            "--port=3306", "--skip-name-resolve", "--innodb-buffer-pool-size=8M",
            "--skip-log-bin", f"--log-error={self.dir}/error.log")
        self.proc = topology.Process("mariadbd", argv, self.dir.parent / "mariadbd.out")
        self.topo.processes.append(self.proc)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            r = subprocess.run(["mariadb", "--no-defaults", "-S", str(sock), "-u", "root", "-e",
                                "SELECT 1"], capture_output=True, timeout=10)
            if r.returncode == 0:
                break
            time.sleep(0.2)
        else:
            raise AssertionError("mariadbd did not start\n" + self.proc.text())
        sql = ("CREATE DATABASE ratings; CREATE TABLE ratings.r (id INT PRIMARY KEY, stars INT);"
               "INSERT INTO ratings.r VALUES (1, 5), (2, 4);"
               "CREATE USER 'app'@'%' IDENTIFIED BY 'app-pw';"
               "GRANT SELECT ON ratings.* TO 'app'@'%';")
        subprocess.run(["mariadb", "--no-defaults", "-S", str(sock), "-u", "root", "-e", sql],
                       check=True, capture_output=True, timeout=20)
        return self


def mariadb_argv(*extra):
    return ["mariadb", "--no-defaults", "-h", "mysql.test.example", "-P", "3306", "-u", "app",
            "-papp-pw", "--connect-timeout=5", "-B", "-N", *extra]


def test_mysql_by_name(topo, dns, proxy, workdir):
    """The seed's MySQL reached by name: no addresses in the ServiceEntry; the
    app resolves the name through the capture, connects and queries; the
    server's address moves in DNS: the open session keeps working and the next
    one goes to the new address."""
    Mariadb(topo, workdir).start()
    dns.start({"mysql.test.example": EXT_B, "mysql-b.test.example": EXT_B2})
    p = proxy([se("mysql", ["mysql.test.example"], 3306, protocol="MYSQL"),
               se("mysql-b", ["mysql-b.test.example"], 3306, protocol="MYSQL")])
    assert in_range(getent(topo, "mysql.test.example")[0])
    out = pod(topo, *mariadb_argv("-e", "SELECT SUM(stars) FROM ratings.r"))
    assert out.strip() == "9", out
    # istio#24937: a second MySQL entry on 3306 without addresses reaches its own server
    argv_b = [a if a != "mysql.test.example" else "mysql-b.test.example" for a in mariadb_argv()]
    out = pod(topo, *argv_b, "-e", "SELECT COUNT(*) FROM ratings.r")
    assert out.strip() == "2", out
    b = p.wait_entries(lambda e: e["upstream_cluster"] == "outbound|3306||mysql-b.test.example")
    assert b[0]["upstream_host"] == f"{EXT_B2}:3306", b
    session = subprocess.Popen(topo.pod.argv(*mariadb_argv("--unbuffered")),
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        session.stdin.write("SELECT stars FROM ratings.r WHERE id = 1;\n")
        session.stdin.flush()
        assert session.stdout.readline().strip() == "5"
        dns.set({"mysql.test.example": EXT_B2})
        time.sleep(RESOLVER_TTL + 1.5)
        session.stdin.write("SELECT stars FROM ratings.r WHERE id = 2;\n")
        session.stdin.flush()
        assert session.stdout.readline().strip() == "4"  # the open session lives on
        out = pod(topo, *mariadb_argv("-e", "SELECT COUNT(*) FROM ratings.r"))
        assert out.strip() == "2", out
        p.wait_entries(lambda e: e["upstream_host"] == f"{EXT_B2}:3306", 1, timeout=10)
    finally:
        session.stdin.close()
        session.wait(10)
    first = p.wait_entries(lambda e: e["upstream_host"] == f"{EXT_B}:3306", 2, timeout=10)
    assert all(e["upstream_cluster"] == "outbound|3306||mysql.test.example" for e in first)
    status, _, body = p.admin("/stats/prometheus")
    assert 'destination_service="mysql-b.test.example"' in body.decode()


# -- conntrack zones -------------------------------------------------------------

# Bind a UDP socket to port argv[1] (0: any), connect it to argv[3]:53 (as
# glibc does: only an answer from there is taken), send the query argv[2] (hex)
# and print the port, then "eperm", "timeout" or the answer (hex).
SAME_PORT_PY = (
    "import socket, sys\n"
    "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
    "s.settimeout(5)\n"
    "s.bind(('0.0.0.0', int(sys.argv[1])))\n"
    "s.connect((sys.argv[3], 53))\n"
    "print(s.getsockname()[1])\n"
    "try:\n"
    "    s.send(bytes.fromhex(sys.argv[2]))\n"
    "    print(s.recv(65535).hex())\n"
    "except PermissionError:\n"
    "    print('eperm')\n"
    "except socket.timeout:\n"
    "    print('timeout')\n")


def test_app_query_on_the_port_of_a_proxy_query_is_captured(topo, dns, proxy):
    """The proxy's own query to the resolver leaves a conntrack entry that is not
    redirected (30 s for UDP). An app socket on the same port must still be
    captured: the raw table keeps the two in separate conntrack zones, as Istio
    does. In one zone the app's datagram matched the proxy's entry, skipped the
    redirect and the fence dropped it (sendto: EPERM). The app's socket is
    connected, as glibc's: the answer must come back from the resolver's address."""
    dns.start({"db.test.example": EXT_B})
    proxy([se("db", ["db.test.example"], WHOAMI)])
    as_proxy = ("setpriv", "--reuid=1337", "--regid=1337", "--clear-groups")
    out = pod(topo, *as_proxy, topology.PYTHON, "-c", SAME_PORT_PY, "0",
              query_bytes("db.test.example").hex(), EXT_A).split()
    port, answer = int(out[0]), parse_reply(bytes.fromhex(out[1]))
    assert answer[3] == [(1, EXT_B)], answer  # dnsmasq itself: not redirected
    out = pod(topo, topology.PYTHON, "-c", SAME_PORT_PY, str(port),
              query_bytes("db.test.example").hex(), EXT_A).split()
    assert out[0] == str(port), out
    assert out[1] != "eperm", "the app's query matched the proxy's conntrack entry and was dropped"
    assert out[1] != "timeout", "no answer from the resolver's address (not translated back?)"
    _, _, rcode, ans = parse_reply(bytes.fromhex(out[1]))
    assert rcode == 0 and len(ans) == 1 and in_range(ans[0][1]), ans  # portcullis answered
