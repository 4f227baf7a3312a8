#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# dns-bench.sh PORTCULLIS_BIN - the DNS proxy (issue 13, doc/dns.md): answers
# per second from the registry and forwarded, the latency it adds to a
# lookup (p50/p99), and the memory per auto-allocated address at 100,000
# names.
#
#   pod netns (POD_IP)                     srv netns (SRV_IP)
#   dnsperf / a Python client as the app,  dnsmasq :53, answering every name
#   `portcullis iptables --capture-dns`,   under fwd.bench.example and
#   portcullis run (DNS proxy :15053)      reg.bench.example
#
# The app's queries go to SRV_IP:53 as the pod's resolv.conf says and are
# captured to the DNS proxy; the same client as uid/gid 1337 (setpriv) goes to
# dnsmasq directly, which is the baseline. The proxy has one ServiceEntry,
# `*.reg.bench.example` (STATIC, no addresses): each name under it gets an
# address of its own on its first query; names under fwd.bench.example are
# forwarded.
#
# Figures: answers/s (dnsperf, QUERIES outstanding, SECS seconds) from the
# registry, forwarded, and direct; p50/p99 of LAT sequential lookups (a
# Python client, one query at a time) proxied and direct, and the difference;
# RSS and store size before and after NAMES new names, per name.
#
# It prints what it measured and asserts nothing; it exits non-zero only when
# it cannot measure (not root, a missing tool, the proxy not starting).
# Everything it creates is removed on exit.
#
# Environment (defaults): SECS=5, QUERIES=200, LAT=3000, NAMES=100000.
set -euo pipefail

[ $# -eq 1 ] || {
	echo "usage: $0 PORTCULLIS_BIN" >&2
	exit 2
}
bin=$(readlink -f "$1")
SECS=${SECS:-5}
QUERIES=${QUERIES:-200}
LAT=${LAT:-3000}
NAMES=${NAMES:-100000}
here=$(cd "$(dirname "$0")" && pwd)
UID_EXEMPT=1337

BENCH=dns
# shellcheck source=bench/lib.sh
. "$here/lib.sh"

[ -x "$bin" ] || cannot "$1 is not an executable"
[ "$(id -u)" -eq 0 ] || cannot "needs root (network namespaces, iptables)"
for tool in ip iptables setpriv dnsmasq dnsperf python3 awk; do
	command -v "$tool" >/dev/null || cannot "$tool is missing (scripts/install-deps.sh)"
done
"$bin" run --help 2>&1 | grep -q -- --dns-listen || cannot "$bin has no DNS proxy"

bench_init "pcd$$"
netns_etc="/etc/netns/$POD"
cleanup_etc() { rm -rf "$netns_etc"; }
trap 'cleanup_etc; bench_cleanup' EXIT

direct() {
	ip netns exec "$POD" setpriv --reuid "$UID_EXEMPT" --regid "$UID_EXEMPT" --clear-groups "$@"
}
rss_kib() {
	awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}

echo "== portcullis DNS bench (issue 13)"
echo "date:       $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "binary:     $bin ($("$bin" --version))"
echo "cpu:        $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)," \
	"$(nproc) online; load $(cut -d' ' -f1-3 /proc/loadavg) at start"

bench_netns "$POD" "$SRV"
bench_veth
mkdir -p "$netns_etc"
echo "nameserver $SRV_IP" >"$netns_etc/resolv.conf"
ip netns exec "$POD" "$bin" iptables --capture-dns >"$tmp/iptables.out" 2>&1 || {
	cat "$tmp/iptables.out" >&2
	cannot "portcullis iptables --capture-dns failed"
}

ip netns exec "$SRV" dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts \
	--bind-interfaces --listen-address="$SRV_IP" --port=53 --cache-size=10000 \
	--address=/fwd.bench.example/198.51.100.8 --address=/reg.bench.example/198.51.100.7 \
	--dns-forward-max=1000 --log-facility=/dev/null >"$tmp/dnsmasq.out" 2>&1 &
pids+=($!)

cat >"$tmp/dns.yaml" <<'EOF'
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: reg, namespace: default}
spec:
  hosts: ["*.reg.bench.example"]
  ports: [{number: 5432, name: tcp, protocol: TCP}]
  location: MESH_EXTERNAL
  resolution: STATIC
  endpoints: [{address: 198.51.100.7}]
EOF
chmod 644 "$tmp/dns.yaml"
ip netns exec "$POD" "$bin" run --config "$tmp/dns.yaml" --state-dir "$tmp/state" \
	--api-socket "$tmp/api.sock" --admin off --log-level warn >"$tmp/proxy.out" \
	2>"$tmp/proxy.err" &
proxy_pid=$!
pids+=("$proxy_pid")
sleep 0.2
for _ in $(seq 100); do
	grep -q 'msg=ready' "$tmp/proxy.err" 2>/dev/null && break
	ip netns exec "$POD" "$bin" get addresses --server "unix:$tmp/api.sock" >/dev/null 2>&1 &&
		break
	kill -0 "$proxy_pid" 2>/dev/null || break
	sleep 0.1
done
kill -0 "$proxy_pid" 2>/dev/null || {
	cat "$tmp/proxy.err" >&2
	cannot "the proxy did not start"
}

# ---- inputs: 1,000 names of each kind ------------------------------------------------

for i in $(seq 0 999); do echo "r$i.reg.bench.example A"; done >"$tmp/reg.txt"
for i in $(seq 0 999); do echo "f$i.fwd.bench.example A"; done >"$tmp/fwd.txt"
chmod 644 "$tmp"/*.txt
# allocate the 1,000 registry names first: what is measured is answers from memory
ip netns exec "$POD" dnsperf -s "$SRV_IP" -d "$tmp/reg.txt" -n 1 -q 50 >/dev/null 2>&1 || true
ip netns exec "$POD" dnsperf -s "$SRV_IP" -d "$tmp/reg.txt" -n 1 -q 50 >/dev/null 2>&1 || true

# ---- latency added to a lookup ---------------------------------------------------------

cat >"$tmp/lat.py" <<'EOF'
import socket, struct, sys, time
server, names, n = sys.argv[1], [l.split()[0] for l in open(sys.argv[2])], int(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
lat = []
for i in range(n):
    name = names[i % len(names)]
    q = struct.pack("!HHHHHH", i & 0xFFFF, 0x0100, 1, 0, 0, 0)
    q += b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0\0\1\0\1"
    t = time.perf_counter()
    s.sendto(q, (server, 53))
    while True:
        data = s.recv(4096)
        if data[:2] == q[:2]:
            break
    lat.append(time.perf_counter() - t)
lat.sort()
print("p50=%.1f p99=%.1f" % (lat[len(lat) // 2] * 1e6, lat[int(len(lat) * 0.99)] * 1e6))
EOF
chmod 644 "$tmp/lat.py"
lat() { # lat FILE [direct]
	if [ "${2:-}" = direct ]; then
		direct /usr/bin/python3 "$tmp/lat.py" "$SRV_IP" "$1" "$LAT"
	else
		ip netns exec "$POD" /usr/bin/python3 "$tmp/lat.py" "$SRV_IP" "$1" "$LAT"
	fi
}
echo
echo "-- latency of one lookup ($LAT sequential queries, microseconds)"
reg=$(lat "$tmp/reg.txt")
fwd=$(lat "$tmp/fwd.txt")
dir=$(lat "$tmp/fwd.txt" direct)
printf '%-28s %s\n' "registry" "$reg" "forwarded" "$fwd" "direct to dnsmasq" "$dir"
v() { sed -n "s/.*$2=\\([0-9.]*\\).*/\\1/p" <<<"$1"; }
printf '%-28s p50=%s p99=%s\n' "added by forwarding" \
	"$(calc '%.1f' "$(v "$fwd" p50) - $(v "$dir" p50)")" \
	"$(calc '%.1f' "$(v "$fwd" p99) - $(v "$dir" p99)")"

# ---- answers per second -------------------------------------------------------------

qps() { # qps LABEL FILE [direct]
	local out=$tmp/dnsperf.$1
	if [ "${3:-}" = direct ]; then
		direct dnsperf -s "$SRV_IP" -d "$2" -l "$SECS" -q "$QUERIES" >"$out" 2>&1 || true
	else
		ip netns exec "$POD" dnsperf -s "$SRV_IP" -d "$2" -l "$SECS" -q "$QUERIES" >"$out" 2>&1 ||
			true
	fi
	printf '%-28s %10s answers/s  (lost %s, average latency %s s)\n' "$1" \
		"$(sed -n 's/.*Queries per second:[[:space:]]*\([0-9.]*\).*/\1/p' "$out")" \
		"$(sed -n 's/.*Queries lost:[[:space:]]*\([0-9]*\).*/\1/p' "$out")" \
		"$(sed -n 's/.*Average Latency (s):[[:space:]]*\([0-9.]*\).*/\1/p' "$out")"
}
echo
echo "-- answers per second (dnsperf, $QUERIES outstanding, $SECS s)"
qps "registry (allocated names)" "$tmp/reg.txt"
qps "forwarded to dnsmasq" "$tmp/fwd.txt"
qps "direct to dnsmasq" "$tmp/fwd.txt" direct

echo "conntrack:  $(ip netns exec "$POD" cat /proc/sys/net/netfilter/nf_conntrack_count) entries" \
	"in the pod after the runs (each forwarded query is one: a fresh socket per query)"

# ---- memory per allocation ---------------------------------------------------------------

for i in $(seq 1 "$NAMES"); do echo "m$i.reg.bench.example A"; done >"$tmp/many.txt"
chmod 644 "$tmp/many.txt"
rss0=$(rss_kib "$proxy_pid")
db0=$(stat -c %s "$tmp/state/store.db")
t0=$(date +%s.%N)
ip netns exec "$POD" dnsperf -s "$SRV_IP" -d "$tmp/many.txt" -n 1 -q 1000 -t 30 \
	>"$tmp/dnsperf.many" 2>&1 || true
# the names a timeout left out are asked again: every one must get its address
ip netns exec "$POD" dnsperf -s "$SRV_IP" -d "$tmp/many.txt" -n 1 -q 200 -t 30 \
	>"$tmp/dnsperf.many2" 2>&1 || true
t1=$(date +%s.%N)
sed -n 's/^ *\(Queries completed\|Response codes\):/  dnsperf: \1:/p' "$tmp/dnsperf.many" "$tmp/dnsperf.many2"
n=$(ip netns exec "$POD" "$bin" get addresses -o name --server "unix:$tmp/api.sock" | wc -l)
rss1=$(rss_kib "$proxy_pid")
sync
db1=$(stat -c %s "$tmp/state/store.db")
[ -f "$tmp/state/store.db-wal" ] && db1=$((db1 + $(stat -c %s "$tmp/state/store.db-wal")))
echo
echo "-- $NAMES new names under *.reg.bench.example (first queries: allocate, store, compile)"
printf 'allocated:   %s names in %.1f s (first queries, batched)\n' "$n" "$(calc '%f' "$t1 - $t0")"
printf 'RSS:         %s KiB -> %s KiB: %.0f bytes per name (the table, the policy'"'"'s chains\n' \
	"$rss0" "$rss1" "$(calc '%f' "($rss1 - $rss0) * 1024 / ($n > 0 ? $n : 1)")"
echo "             and clusters per name, and every snapshot's copy)"
printf 'store:       %s -> %s bytes: %.0f bytes per name\n' "$db0" "$db1" \
	"$(calc '%f' "($db1 - $db0) / ($n > 0 ? $n : 1)")"
