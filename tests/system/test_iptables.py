# SPDX-License-Identifier: GPL-2.0-or-later
"""System tests of `portcullis iptables`: the real binary, as root, each test
in fresh network namespaces (netns.py) that are deleted even when it fails.

What is checked, for IPv4 (iptables) and IPv6 (ip6tables):
* the installed nat rules are exactly what --dry-run prints;
* a second run rebuilds our chains and never duplicates the OUTPUT jump;
* --dry-run changes nothing; --cleanup restores the ruleset saved before
  the install (every table, counters and comments aside), leaving rules
  and chains that are not ours alone; an earlier version's jump (every
  packet, not only SYN) is replaced;
* without ip6tables the command fails before changing anything, unless
  --ipv4-only;
* and what the rules do: an app's connection to 198.51.100.7:80 lands on a
  listener at 127.0.0.1:15001 (with that original destination), while the
  proxy's own uid or gid, excluded CIDRs and ports, and the app talking to
  itself over lo are left alone;
* the guard: a redirected connection reaches only a listener marked
  IP_TRANSPARENT (the proxy's); an unprivileged process that binds the
  proxy port while the proxy is down gets nothing, the app is refused;
* the fence and DNS capture (their chains, re-installs that switch them
  off, cleanup); what they do to traffic is tests/system/proxy/test_nontcp.py's.
"""
import re
import os
import pathlib
import shutil
import subprocess
import time

import pytest

from netns import CMD_TIMEOUT, netns, sh  # noqa: F401 (netns is a fixture)

PYTHON = "/usr/bin/python3"
SANITIZER_MARKERS = ("Sanitizer", "runtime error:")
OURS = ("PORTCULLIS_OUTPUT", "PORTCULLIS_REDIRECT", "PORTCULLIS_GUARD", "PORTCULLIS_DNS",
        "PORTCULLIS_EGRESS", "PORTCULLIS_UDP", "PORTCULLIS_DENY", "PORTCULLIS_RAW_OUTPUT",
        "PORTCULLIS_RAW_PREROUTING")
SYN = "-p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN"
JUMP = f"-A OUTPUT {SYN} -j PORTCULLIS_OUTPUT"  # new connections only
OLD_JUMP = "-A OUTPUT -p tcp -j PORTCULLIS_OUTPUT"  # before issue 12: every packet
GUARD_JUMP = f"-A INPUT {SYN} -j PORTCULLIS_GUARD"
UDP_GUARD_JUMP = "-A INPUT -p udp -j PORTCULLIS_GUARD"
EGRESS_JUMP = "-A OUTPUT -j PORTCULLIS_EGRESS"
DNS_JUMP = "-A OUTPUT -p udp -m udp --dport 53 -j PORTCULLIS_DNS"
RAW_JUMPS = ("-A OUTPUT -p udp -j PORTCULLIS_RAW_OUTPUT",
             "-A PREROUTING -p udp -j PORTCULLIS_RAW_PREROUTING")
INSERT_RE = re.compile(r"^-I (INPUT|OUTPUT) \d+ ")
APP_ADDR = "192.0.2.1"
DST = "198.51.100.7"
CONNECT_TIMEOUT = 1.0  # seconds a client waits for a SYN that goes nowhere
ACCEPT_WAIT = 5.0  # seconds for the listener to report a connection that connected

# Listens on every [+]ADDR:PORT argument ("+": IP_TRANSPARENT, as the proxy's
# listeners are: it takes root); prints "ready", then per connection
# "accept <listening port> <peer address> <original destination or ->".
LISTENER = r"""
import select, socket, struct, sys
socks = []
for spec in sys.argv[1:]:
    host, port = spec.lstrip("+").rsplit(":", 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if spec.startswith("+"):
        s.setsockopt(socket.SOL_IP, 19, 1)  # IP_TRANSPARENT
    s.bind((host, int(port)))
    s.listen(64)
    socks.append(s)
print("ready", flush=True)
while True:
    for s in select.select(socks, [], [])[0]:
        c, peer = s.accept()
        try:
            port, ip = struct.unpack("!2xH4s8x", c.getsockopt(socket.SOL_IP, 80, 16))
            orig = "%s:%d" % (socket.inet_ntoa(ip), port)  # SO_ORIGINAL_DST
        except OSError:
            orig = "-"
        print("accept %d %s %s" % (s.getsockname()[1], peer[0], orig), flush=True)
        c.close()
"""

# connect() to HOST PORT within TIMEOUT: exit 0 "connected", or 1 "failed: ...".
CLIENT = r"""
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3])).close()
except OSError as e:
    print("failed: %s" % e)
    sys.exit(1)
print("connected")
"""


@pytest.fixture(scope="module")
def pc(request):
    """The binary under test; the prerequisites of this module, checked once."""
    if os.geteuid() != 0:
        pytest.fail("these tests need root (network namespaces, iptables)")
    missing = [t for t in ("ip", "iptables", "ip6tables", "iptables-save", "ip6tables-save",
                           "iptables-restore", "ip6tables-restore", "setpriv", "unshare")
               if not shutil.which(t, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")]
    if missing:
        pytest.skip(f"missing tools: {' '.join(missing)} (packages iproute2, iptables, "
                    f"util-linux)")
    binary = pathlib.Path(request.config.getoption("--portcullis"))
    if not binary.is_file() or not os.access(binary, os.X_OK):
        pytest.fail(f"no portcullis binary at {binary}: build it first (make) or pass "
                    f"--portcullis=PATH")
    return str(binary.resolve())


def run_pc(ns, pc, *args, env=None, wrap=()):
    """`portcullis iptables ARGS` inside <ns>, optionally under <wrap> (a command
    prefix). Never fails by itself; checks that no sanitizer spoke."""
    p = ns.run(*wrap, pc, "iptables", *args, check=False, env=env)
    for marker in SANITIZER_MARKERS:
        assert marker not in p.stderr, f"sanitizer report\n{p.stderr}"
    assert p.returncode in (0, 1, 2), f"exit {p.returncode}\n{p.stdout}\n{p.stderr}"
    return p


def install(ns, pc, *args):
    p = run_pc(ns, pc, *args)
    assert p.returncode == 0, f"portcullis iptables {' '.join(args)}\n{p.stdout}{p.stderr}"
    return p


def ours(lines):
    """The lines of a normalised nat save that are ours: chain heads, the jump, rules."""
    return [ln for ln in lines if any(c in ln for c in OURS)]


def dry_run_sections(text):
    """{4: [...], 6: [...]}: the rule lines of each family in --dry-run output."""
    out, fam = {}, None
    for ln in text.splitlines():
        if ln.startswith("# IPv4"):
            fam = 4
        elif ln.startswith("# IPv6"):
            fam = 6
        elif fam and ln and not ln.startswith("#"):
            out.setdefault(fam, []).append(ln)
    return out


def add_unrelated_rules(ns):
    """Rules and a chain that are not ours, in nat and filter, in both families."""
    ns.run("iptables", "-w", "-t", "nat", "-N", "APP_OUT")
    ns.run("iptables", "-w", "-t", "nat", "-A", "APP_OUT", "-p", "tcp", "--dport", "9",
           "-j", "RETURN")
    ns.run("iptables", "-w", "-t", "nat", "-A", "OUTPUT", "-p", "tcp", "-j", "APP_OUT")
    ns.run("iptables", "-w", "-t", "nat", "-A", "OUTPUT", "-d", "203.0.113.9/32", "-p", "tcp",
           "-j", "RETURN")
    ns.run("iptables", "-w", "-A", "OUTPUT", "-d", "198.51.100.99/32", "-j", "DROP")
    ns.run("ip6tables", "-w", "-t", "nat", "-A", "OUTPUT", "-p", "tcp", "--dport", "9",
           "-j", "RETURN")


def drop_empty_tables(lines):
    """A save without the tables that hold nothing but empty built-in chains with
    policy ACCEPT: iptables-nft keeps a table it once made, and such a table
    is the same ruleset as none."""
    out, table = [], []
    for ln in lines + ["*"]:
        if ln.startswith("*"):
            if any(not (t.startswith(":") and " ACCEPT " in t) for t in table[1:-1]):
                out += table
            table = []
        table.append(ln)
    return out


def save_all(ns):
    """Every table of both families, normalised."""
    return {fam: drop_empty_tables(ns.save(fam, table=None)) for fam in (4, 6)}


# -- usage ------------------------------------------------------------------------

def test_help(netns, pc):
    ns = netns()
    p = run_pc(ns, pc, "--help")
    assert p.returncode == 0, p.stderr
    for opt in ("--proxy-port", "--proxy-uid", "--proxy-gid", "--include-outbound-cidrs",
                "--exclude-outbound-cidrs", "--include-outbound-ports",
                "--exclude-outbound-ports", "--dry-run", "--cleanup", "--ipv4-only",
                "--capture-dns", "--capture-all-dns", "--dns-port", "--allow-non-tcp"):
        assert opt in p.stdout, opt
    top = ns.run(pc, "--help").stdout
    assert "iptables" in top


@pytest.mark.parametrize("args,needle", [
    (["-p", "0"], "--proxy-port: port 0 is out of range"),
    (["--proxy-port", "65536"], "--proxy-port: port 65536 is out of range"),
    (["-u", "istio-proxy"], "--proxy-uid: \"istio-proxy\" is not a numeric id"),
    (["-g", "-1"], "--proxy-gid: \"-1\" is not a numeric id"),
    (["-x", "*"], "--exclude-outbound-cidrs: \"*\" is not allowed"),
    (["-x", "192.0.2.0/24,*"], "--exclude-outbound-cidrs: \"*\" is not allowed"),
    (["-i", "*,192.0.2.0/24"], "\"*\" already means every destination"),
    (["-i", "192.0.2.0/33"], "\"192.0.2.0/33\" is not an IPv4 or IPv6 address or CIDR"),
    (["-i", "192.0.2.0/24,"], "entry 2 of \"192.0.2.0/24,\" is empty"),
    (["-q", "80,http"], "--include-outbound-ports: \"http\" is not a port number"),
    (["-o", "0"], "--exclude-outbound-ports: port 0 is out of range"),
    (["--ipv4-only", "-i", "2001:db8::/32"], "--ipv4-only, but --include-outbound-cidrs"),
    (["--ipv4-only", "-x", "2001:db8::/32"], "--ipv4-only, but --exclude-outbound-cidrs"),
    (["--proxy-port"], "--proxy-port needs an argument"),
    (["--dns-port"], "--dns-port needs an argument"),
    (["--dns-port", "0"], "--dns-port: port 0 is out of range"),
    (["--dns-port", "15001"], "--dns-port and --proxy-port are both 15001"),
    (["--cleanup=yes"], "option \"--cleanup=yes\" takes no argument"),
    (["--bogus"], "unknown option \"--bogus\""),
    (["stray"], "unexpected argument \"stray\""),
])
def test_usage_errors_exit_2_and_change_nothing(netns, pc, args, needle):
    ns = netns()
    before = save_all(ns)
    p = run_pc(ns, pc, *args)
    assert p.returncode == 2, f"{args}: exit {p.returncode}\n{p.stderr}"
    assert needle in p.stderr, p.stderr
    assert p.stderr.startswith("portcullis: iptables: "), p.stderr
    assert p.stdout == ""
    assert save_all(ns) == before


# -- what is installed ----------------------------------------------------------------

def test_dry_run_changes_nothing(netns, pc):
    ns = netns()
    add_unrelated_rules(ns)
    before = save_all(ns)
    p = run_pc(ns, pc, "--dry-run", "-x", "203.0.113.0/24,2001:db8:1::/48")
    assert p.returncode == 0, p.stderr
    assert save_all(ns) == before
    sections = dry_run_sections(p.stdout)
    assert sorted(sections) == [4, 6]
    assert "-A PORTCULLIS_OUTPUT -d 127.0.0.1/32 -j RETURN" in sections[4]
    assert "-A PORTCULLIS_OUTPUT -d 203.0.113.0/24 -j RETURN" in sections[4]
    assert "-A PORTCULLIS_OUTPUT -d ::1/128 -j RETURN" in sections[6]
    assert "-A PORTCULLIS_OUTPUT -d 2001:db8:1::/48 -j RETURN" in sections[6]
    for fam in (4, 6):
        assert sections[fam][0] == "*filter" and sections[fam][-1] == "COMMIT"
        assert "*nat" in sections[fam]
        assert JUMP in sections[fam]
        assert f"-I INPUT 1 {SYN} -j PORTCULLIS_GUARD" in sections[fam]
        assert ("-A PORTCULLIS_GUARD -p tcp -m tcp --dport 15001 -m socket --transparent "
                "-j RETURN") in sections[fam]
        assert "-A PORTCULLIS_REDIRECT -p tcp -j REDIRECT --to-ports 15001" in sections[fam]


@pytest.mark.parametrize("args", [
    [],
    ["-p", "15006", "-u", "2000", "-g", "2001"],
    ["-i", "198.51.100.0/24,2001:db8::/32", "-x", "198.51.100.128/25", "-q", "443,8443",
     "-o", "22"],
    ["-i", "", "-q", "5432"],
    ["-i", "127.0.0.0/8"],
    ["--capture-dns"],
    ["--capture-all-dns", "--dns-port", "5353", "-u", "2000"],
    ["--allow-non-tcp", "--capture-dns"],
], ids=["defaults", "port-uid-gid", "includes-excludes", "empty-include", "loopback-include",
        "capture-dns", "capture-all-dns", "allow-non-tcp"])
def test_installed_rules_are_the_dry_run(netns, pc, args):
    ns = netns()
    printed = dry_run_sections(run_pc(ns, pc, "--dry-run", *args).stdout)
    out = install(ns, pc, *args).stdout
    assert "IPv4: installed" in out and "IPv6: installed" in out, out
    for fam in (4, 6):
        # the filter jumps are inserted first in INPUT and OUTPUT; a save prints -A
        want = [INSERT_RE.sub(r"-A \1 ", ln) for ln in printed[fam]
                if ln not in ("*filter", "*nat", "*raw", "COMMIT")]
        assert ours(ns.save(fam, table=None)) == want, f"IPv{fam}"


def test_second_run_rebuilds_and_does_not_duplicate(netns, pc):
    ns = netns()
    add_unrelated_rules(ns)
    install(ns, pc, "-o", "22")
    first = {fam: ns.save(fam) for fam in (4, 6)}
    out = install(ns, pc, "-o", "22").stdout
    assert "jump from OUTPUT added" not in out and "jump from INPUT added" not in out
    for fam in (4, 6):
        assert ns.save(fam) == first[fam], f"IPv{fam}"
        assert first[fam].count(JUMP) == 1
        assert ns.save(fam, table="filter").count(GUARD_JUMP) == 1

    # Other options: our chains are replaced, the rest stays as it was.
    install(ns, pc, "-o", "23")
    for fam in (4, 6):
        now = ns.save(fam)
        assert now.count(JUMP) == 1
        assert "-A PORTCULLIS_OUTPUT -p tcp -m tcp --dport 23 -j RETURN" in now
        assert "-A PORTCULLIS_OUTPUT -p tcp -m tcp --dport 22 -j RETURN" not in now
        assert [ln for ln in now if ln not in ours(now)] == \
            [ln for ln in first[fam] if ln not in ours(first[fam])]


def test_cleanup_restores_the_previous_ruleset(netns, pc):
    ns = netns()
    add_unrelated_rules(ns)
    before = save_all(ns)
    install(ns, pc, "-x", "203.0.113.0/24", "-q", "443")
    # More jumps, as an older or hand-made install might leave.
    ns.run("iptables", "-w", "-t", "nat", "-A", "OUTPUT", "-p", "tcp", "-j", "PORTCULLIS_OUTPUT")
    ns.run("iptables", "-w", "-t", "nat", "-A", "OUTPUT", "-p", "tcp", "--syn", "-j",
           "PORTCULLIS_OUTPUT")
    assert ns.save(4).count(JUMP) == 2 and ns.save(4).count(OLD_JUMP) == 1

    dry = run_pc(ns, pc, "--cleanup", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.count(JUMP.replace("-A", "-D", 1)) == 3  # 2 + 1 (IPv6)
    assert dry.stdout.count(OLD_JUMP.replace("-A", "-D", 1)) == 1
    assert dry.stdout.count(GUARD_JUMP.replace("-A", "-D", 1)) == 2
    assert ns.save(4).count(JUMP) == 2  # a dry run of the cleanup changes nothing either

    p = run_pc(ns, pc, "--cleanup")
    assert p.returncode == 0, p.stderr
    # nat: 3 to PORTCULLIS_OUTPUT; filter: the fence's; INPUT: the guard's two
    assert "IPv4: removed 4 jumps from OUTPUT, 2 from INPUT and 6 chains" in p.stdout, p.stdout
    assert "IPv6: removed 2 jumps from OUTPUT, 2 from INPUT and 6 chains" in p.stdout, p.stdout
    assert save_all(ns) == before

    again = run_pc(ns, pc, "--cleanup")
    assert again.returncode == 0, again.stderr
    assert "IPv4: nothing of portcullis' in the nat, filter and raw tables" in again.stdout
    assert save_all(ns) == before


def test_fence_and_dns_capture_come_and_go_with_their_options(netns, pc):
    """A re-install without --capture-dns, or with --allow-non-tcp, takes out what
    the options no longer ask for, in the same transaction; jumps are never
    duplicated; cleanup removes every chain and jump, DNS and fence included."""
    ns = netns()
    add_unrelated_rules(ns)
    before = save_all(ns)
    install(ns, pc, "--capture-dns")
    install(ns, pc, "--capture-dns")
    for fam in (4, 6):
        nat, filt = ns.save(fam), ns.save(fam, table="filter")
        assert nat.count(DNS_JUMP) == 1 and nat.count(JUMP) == 1, f"IPv{fam}"
        assert filt.count(EGRESS_JUMP) == 1 and filt.count(UDP_GUARD_JUMP) == 1
        raw = ns.save(fam, table="raw")
        assert all(raw.count(j) == 1 for j in RAW_JUMPS), f"IPv{fam}"
        assert any("-j CT --zone 1" in ln for ln in raw) and \
            any("-j CT --zone 2" in ln for ln in raw), f"IPv{fam}"
    filt = ns.save(4, table="filter")  # first in OUTPUT, before the host's rules
    assert filt.index(EGRESS_JUMP) < filt.index("-A OUTPUT -d 198.51.100.99/32 -j DROP")

    p = install(ns, pc, "--allow-non-tcp")
    assert "WARNING: --allow-non-tcp" in p.stderr and "UNCHECKED" in p.stderr, p.stderr
    for fam in (4, 6):
        assert not [ln for ln in ns.save(fam, table=None)
                    if any(c in ln for c in ("PORTCULLIS_DNS", "PORTCULLIS_EGRESS",
                                             "PORTCULLIS_UDP", "PORTCULLIS_DENY",
                                             "PORTCULLIS_RAW"))], f"IPv{fam}"
        assert ns.save(fam).count(JUMP) == 1

    install(ns, pc)
    for fam in (4, 6):
        assert ns.save(fam, table="filter").count(EGRESS_JUMP) == 1
    p = run_pc(ns, pc, "--cleanup")
    assert p.returncode == 0, p.stderr
    assert save_all(ns) == before


def test_cleanup_removes_the_dns_conntrack_zones(netns, pc):
    """--capture-dns's raw chains and jumps go with --cleanup, the host's raw rules stay."""
    ns = netns()
    add_unrelated_rules(ns)
    for tool in ("iptables", "ip6tables"):
        ns.run(tool, "-w", "-t", "raw", "-A", "OUTPUT", "-p", "udp", "--dport", "9", "-j",
               "CT", "--zone", "7")
    before = save_all(ns)
    install(ns, pc, "--capture-dns")
    p = run_pc(ns, pc, "--cleanup")
    assert p.returncode == 0, p.stderr
    assert "IPv4: removed 4 jumps from OUTPUT, 2 from INPUT, 1 from PREROUTING and 9 chains" \
        in p.stdout, p.stdout
    assert save_all(ns) == before


def test_install_replaces_an_earlier_versions_jump(netns, pc):
    """The jump of versions before issue 12 redirected every packet; a new install
    swaps it for the SYN-only one in the same transaction."""
    ns = netns()
    for tool in ("iptables", "ip6tables"):
        ns.run(tool, "-w", "-t", "nat", "-N", "PORTCULLIS_OUTPUT")
        ns.run(tool, "-w", "-t", "nat", "-A", "OUTPUT", "-p", "tcp", "-j", "PORTCULLIS_OUTPUT")
    out = install(ns, pc).stdout
    assert out.count("jump from OUTPUT added") == 2, out
    for fam in (4, 6):
        now = ns.save(fam)
        assert now.count(JUMP) == 1 and OLD_JUMP not in now, f"IPv{fam}: {now}"


def test_ipv4_only_leaves_ip6tables_alone(netns, pc):
    ns = netns()
    before6 = ns.save(6, table=None)
    out = install(ns, pc, "--ipv4-only").stdout
    assert "IPv6" not in out
    assert JUMP in ns.save(4)
    assert ns.save(6, table=None) == before6
    p = run_pc(ns, pc, "--cleanup", "--ipv4-only")
    assert p.returncode == 0, p.stderr
    assert not ours(ns.save(4))


def test_without_ip6tables_nothing_changes_unless_ipv4_only(netns, pc, tmp_path):
    """Hide every tool but iptables and iptables-restore (a tmpfs over /usr/sbin in a
    private mount namespace) and expect a clear error, before IPv4 is touched."""
    real = os.path.realpath(shutil.which("iptables", path="/usr/sbin:/sbin"))
    if os.path.dirname(real) != "/usr/sbin":
        pytest.skip(f"iptables resolves to {real}, outside /usr/sbin")
    hide = ('set -e; d="$1"; shift; mount --bind /usr/sbin "$d"; '
            'mount -t tmpfs tmpfs /usr/sbin; '
            'ln -s "$d/$(basename "$REAL")" /usr/sbin/iptables; '
            'ln -s "$d/$(basename "$REAL")" /usr/sbin/iptables-restore; exec "$@"')
    wrap = ("unshare", "--mount", "sh", "-c", hide, "sh", tmp_path)
    env = dict(os.environ, PATH="/usr/bin:/bin:/usr/sbin:/sbin", REAL=real)
    ns = netns()
    before = save_all(ns)

    p = run_pc(ns, pc, env=env, wrap=wrap)
    assert p.returncode == 1, f"exit {p.returncode}\n{p.stdout}{p.stderr}"
    assert "ip6tables not found" in p.stderr, p.stderr
    assert "--ipv4-only" in p.stderr, p.stderr
    assert save_all(ns) == before

    p = run_pc(ns, pc, "--ipv4-only", env=env, wrap=wrap)
    assert p.returncode == 0, p.stderr
    assert JUMP in ns.save(4)
    assert not ours(ns.save(6))


def test_ipv6_disabled_by_sysctl_is_still_covered(netns, pc):
    """disable_ipv6=1 can be undone by anyone with CAP_NET_ADMIN in the namespace;
    ip6tables still works then, so the IPv6 rules go in anyway."""
    ns = netns()
    ns.run("sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
    install(ns, pc)
    assert JUMP in ns.save(6)


# -- what the rules do -------------------------------------------------------------------

class Listener:
    """LISTENER in <ns>, as root or under <wrap> (e.g. setpriv); its report goes to a
    file we read."""

    def __init__(self, ns, log, *specs, wrap=()):
        self.log = log
        self.fp = open(log, "w")
        self.proc = ns.popen(*wrap, PYTHON, "-c", LISTENER, *specs, stdout=self.fp,
                             stderr=open(str(log) + ".err", "w"), stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + CMD_TIMEOUT
        while "ready" not in self.text():
            assert self.proc.poll() is None, f"listener died\n{self.errors()}"
            assert time.monotonic() < deadline, "listener not ready"
            time.sleep(0.02)

    def text(self):
        return pathlib.Path(self.log).read_text()

    def errors(self):
        return pathlib.Path(str(self.log) + ".err").read_text()

    def accepts(self):
        """[(listening port, peer, original destination), ...]"""
        return [tuple(ln.split()[1:]) for ln in self.text().splitlines()
                if ln.startswith("accept ")]

    def wait_for(self, n):
        deadline = time.monotonic() + ACCEPT_WAIT
        while len(self.accepts()) < n and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.accepts()

    def stop(self):
        self.proc.kill()
        self.proc.wait(timeout=CMD_TIMEOUT)
        self.fp.close()


@pytest.fixture
def pod(netns, pc, tmp_path):
    """A namespace with an uplink (192.0.2.1/24, default route) and a listener on
    127.0.0.1:15001 (where REDIRECT lands) and on 192.0.2.1:8080 (the app itself)."""
    ns = netns().with_uplink(f"{APP_ADDR}/24")
    lst = Listener(ns, tmp_path / "listener.log", "+127.0.0.1:15001", f"{APP_ADDR}:8080")
    yield ns, lst
    lst.stop()


def connect(ns, host, port, uid=None, gid=None):
    """Run CLIENT in <ns>, as root or as <uid>/<gid>. True if it connected."""
    wrap = []
    if uid is not None:
        wrap = ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups"]
    p = sh(*ns.argv(*wrap, PYTHON, "-c", CLIENT, host, port, CONNECT_TIMEOUT), check=False)
    assert p.returncode in (0, 1), f"client: exit {p.returncode}\n{p.stdout}{p.stderr}"
    return p.returncode == 0


def assert_redirected(ns, lst, host, port, uid=None, gid=None):
    n = len(lst.accepts())
    assert connect(ns, host, port, uid, gid), f"{host}:{port} as {uid}/{gid}: no connection"
    got = lst.wait_for(n + 1)
    assert len(got) == n + 1, f"{host}:{port} connected but the listener saw nothing"
    assert got[-1] == ("15001", APP_ADDR, f"{host}:{port}"), got[-1]


def assert_not_redirected(ns, lst, host, port, uid=None, gid=None):
    n = len(lst.accepts())
    assert not connect(ns, host, port, uid, gid), f"{host}:{port} as {uid}/{gid} connected"
    time.sleep(0.1)
    assert len(lst.accepts()) == n, f"{host}:{port} as {uid}/{gid} reached the listener"


def test_app_is_redirected_and_the_proxy_is_not(pod, pc):
    ns, lst = pod
    assert_not_redirected(ns, lst, DST, 80)  # before the rules: the SYN goes nowhere
    install(ns, pc)
    assert_redirected(ns, lst, DST, 80)
    assert_redirected(ns, lst, DST, 80, uid=1000, gid=1000)
    assert_not_redirected(ns, lst, DST, 80, uid=1337, gid=1337)  # the proxy: loop guard
    assert_not_redirected(ns, lst, DST, 80, uid=1000, gid=1337)  # its group alone is enough
    assert_not_redirected(ns, lst, DST, 80, uid=1337, gid=1000)

    # The app talking to itself over lo reaches itself, not the proxy.
    n = len(lst.accepts())
    assert connect(ns, APP_ADDR, 8080)
    assert lst.wait_for(n + 1)[-1][0] == "8080"

    p = run_pc(ns, pc, "--cleanup")
    assert p.returncode == 0, p.stderr
    assert_not_redirected(ns, lst, DST, 80)


def test_excluded_cidrs_and_ports_are_not_redirected(pod, pc):
    ns, lst = pod
    install(ns, pc, "-x", "198.51.100.0/25", "-o", "8443")
    assert_not_redirected(ns, lst, DST, 80)  # 198.51.100.7 is in the excluded /25
    assert_redirected(ns, lst, "198.51.100.200", 80)
    assert_not_redirected(ns, lst, "203.0.113.7", 8443)
    assert_redirected(ns, lst, "203.0.113.7", 443)


def test_included_cidrs_and_ports_only(pod, pc):
    ns, lst = pod
    install(ns, pc, "-i", "203.0.113.0/24", "-q", "5432")
    assert_redirected(ns, lst, "203.0.113.7", 80)
    assert_not_redirected(ns, lst, DST, 80)
    assert_redirected(ns, lst, DST, 5432)  # an included port, whatever the destination

    install(ns, pc, "-i", "")  # capture nothing
    assert_not_redirected(ns, lst, "203.0.113.7", 80)
    assert_not_redirected(ns, lst, DST, 5432)


def test_guard_lets_only_a_transparent_socket_receive(netns, pc, tmp_path):
    """While the proxy is down, an unprivileged process binds 127.0.0.1:15001: the
    guard resets the app's redirected connection and the squatter sees nothing.
    A listener with IP_TRANSPARENT (root's, as the proxy's) gets the next one."""
    ns = netns().with_uplink(f"{APP_ADDR}/24")
    install(ns, pc)
    log = tmp_path / "squatter.log"
    squatter = Listener(ns, log, "127.0.0.1:15001", wrap=("setpriv", "--reuid=65534",
                                                          "--regid=65534", "--clear-groups"))
    try:
        assert not connect(ns, DST, 80), "a redirected connection reached the squatter"
        assert not connect(ns, DST, 80, uid=1000, gid=1000)
        time.sleep(0.1)
        assert squatter.accepts() == []
    finally:
        squatter.stop()
    lst = Listener(ns, tmp_path / "listener.log", "+127.0.0.1:15001")
    try:
        assert_redirected(ns, lst, DST, 80)
    finally:
        lst.stop()
    # Without the guard, the same squatter would have had it: the control.
    run_pc(ns, pc, "--cleanup")
    ns.run("iptables", "-w", "-t", "nat", "-A", "OUTPUT", "-p", "tcp", "-d", DST,
           "-j", "REDIRECT", "--to-ports", "15001")
    squatter = Listener(ns, tmp_path / "squatter2.log", "127.0.0.1:15001",
                        wrap=("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"))
    try:
        assert connect(ns, DST, 80)
        assert len(squatter.wait_for(1)) == 1
    finally:
        squatter.stop()
