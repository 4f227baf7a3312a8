#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# apply-bench.sh PORTCULLIS_BIN - the costs of live configuration (issue 4):
# `portcullis apply` against a running `portcullis run` (bench/README.md).
#
#   pod netns (192.0.2.1)        <-veth->  srv netns (192.0.2.2, and 192.0.2.10
#   `portcullis iptables`,                 .. 192.0.2.209 as extra addresses)
#   portcullis run (own --state-dir        pcload rr-server 0.0.0.0:5002 and :5003
#   and --api-socket), the latency
#   driver and the CLI
#
# Figures:
#   1. apply-to-enforced latency: from starting `portcullis apply -f FILE` (one
#      new ServiceEntry for an address nothing allowed before) to the first
#      connection to that address that gets a 1-byte echo back; LAT_SAMPLES
#      samples, p50/p99, with how long the CLI itself took and how many samples
#      were allowed at the first connection (the contract: all of them).
#   2. one apply of N generated ServiceEntries (gen-serviceentries.py) into an
#      empty store, for each N of BIG_COUNTS: wall time of the CLI (the apply
#      returns once the change is durable and the new policy is enforced), the
#      same apply again (everything unchanged), the daemon's VmRSS/VmHWM after
#      it, and the store's size on disk.
#   3. with the largest N loaded: apply-to-enforced latency again
#      (LOADED_SAMPLES samples) and a restart's exec-to-ready from that store.
#
# It prints figures and asserts nothing. It exits non-zero only when it cannot
# measure (bad usage, missing tool, not root, the proxy not starting, an apply
# failing). Everything it creates (namespaces $tok-pod/$tok-srv/$tok-bare,
# processes, a temp dir with the stores) is removed on exit, Ctrl-C included.
#
# Environment (defaults): LAT_SAMPLES=200 (at most 200), LOADED_SAMPLES=50
# (at most 200), BIG_COUNTS="10000 100000", CONCURRENCY (proxy --concurrency).
set -euo pipefail

usage() {
	echo "usage: $0 PORTCULLIS_BIN" >&2
	exit 2
}
[ $# -eq 1 ] || usage
bin=$(readlink -f "$1")
LAT_SAMPLES=${LAT_SAMPLES:-200}
LOADED_SAMPLES=${LOADED_SAMPLES:-50}
BIG_COUNTS=${BIG_COUNTS:-10000 100000}
CONCURRENCY=${CONCURRENCY:-}
here=$(cd "$(dirname "$0")" && pwd)
LAT_PORT=5002    # figure 1
LOADED_PORT=5003 # figure 3: same addresses, a port no entry had before
PROXY_PORT=15001
PYTHON=/usr/bin/python3

BENCH=apply-bench
# shellcheck source=bench/lib.sh
. "$here/lib.sh"

[ -x "$bin" ] || cannot "$1 is not an executable"
[ "$(id -u)" -eq 0 ] || cannot "needs root (network namespaces, iptables)"
for tool in ip iptables cc "$PYTHON" awk du; do
	command -v "$tool" >/dev/null || cannot "$tool is missing"
done
if [ "$LAT_SAMPLES" -gt 200 ] || [ "$LOADED_SAMPLES" -gt 200 ]; then
	cannot "LAT_SAMPLES and LOADED_SAMPLES are at most 200 (one address each)"
fi
"$bin" run --help 2>/dev/null | grep -q -- --state-dir || cannot "$bin run has no --state-dir"
"$bin" apply --help >/dev/null 2>&1 || cannot "$bin has no working 'apply' verb"

bench_init "pcab$$"

# ---- helpers --------------------------------------------------------------------------

status_kib() { # status_kib PID FIELD (VmRSS, VmHWM)
	awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"
}
now() {
	date +%s.%N
}

SOCK="$tmp/api.sock"
starts=0
SERVER="unix:$SOCK"

# start_proxy STATE_DIR: portcullis run in the pod on that store, no --config
start_proxy() {
	local args=(run --state-dir "$1" --api-socket "$SOCK" --proxy-port "$PROXY_PORT"
		--drain-duration 0s)
	[ -n "$CONCURRENCY" ] && args+=(--concurrency "$CONCURRENCY")
	starts=$((starts + 1))
	ip netns exec "$POD" "$bin" "${args[@]}" >"$tmp/proxy.out" 2>"$tmp/proxy.$starts.err" &
	proxy_pid=$!
	pids+=("$proxy_pid")
	wait_for "$tmp/proxy.$starts.err" 'msg="?ready' 120 "$proxy_pid" || {
		tail -n 20 "$tmp/proxy.$starts.err" >&2
		cannot "the proxy did not log msg=ready within 120 s"
	}
}
stop_proxy() {
	kill -TERM "$proxy_pid"
	wait "$proxy_pid" || true
	proxy_pid=""
}

# timed_apply FILE OUT: run the CLI, print its wall seconds; fail the bench if it fails
timed_apply() {
	local t0 t1
	t0=$(now)
	if ! "$bin" apply --server "$SERVER" -f "$1" >"$2" 2>"$2.err"; then
		tail -n 20 "$2.err" >&2
		cannot "portcullis apply -f $1 failed"
	fi
	t1=$(now)
	awk "BEGIN { printf \"%.3f\", $t1 - $t0 }"
}

# ---- the latency driver ---------------------------------------------------------------

cat >"$tmp/latency.py" <<'EOF'
"""latency.py BIN SERVER DIR LABEL COUNT PORT: COUNT samples of apply-to-enforced."""
import socket
import subprocess
import sys
import time

binary, server, tmp, label, count, port = sys.argv[1:7]
count, port = int(count), int(port)
total, cli, first_try = [], [], 0
for i in range(count):
    addr = f"192.0.2.{10 + i}"
    path = f"{tmp}/lat-{label}-{i}.yaml"
    with open(path, "w") as f:
        f.write(f"apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata:\n"
                f"  name: lat-{label}-{i}\n  namespace: bench\nspec:\n"
                f"  hosts:\n  - lat-{label}-{i}.example\n  addresses:\n  - {addr}/32\n"
                f"  ports:\n  - number: {port}\n    name: tcp\n    protocol: TCP\n"
                f"  location: MESH_EXTERNAL\n  resolution: NONE\n")
    t0 = time.monotonic()
    r = subprocess.run([binary, "apply", "--server", server, "-f", path],
                       capture_output=True)
    t1 = time.monotonic()
    if r.returncode != 0:
        sys.exit(f"apply {path} -> exit {r.returncode}: {r.stderr.decode()}")
    tries = 0
    while True:
        tries += 1
        s = socket.socket()
        s.settimeout(5)
        try:
            s.connect((addr, port))
            s.sendall(b"x")
            ok = s.recv(1) == b"x"
        except OSError:
            ok = False
        finally:
            s.close()
        if ok:
            break
        if time.monotonic() - t0 > 10:
            sys.exit(f"{addr}:{port} still not allowed 10 s after apply")
    t2 = time.monotonic()
    first_try += tries == 1
    total.append((t2 - t0) * 1000)
    cli.append((t1 - t0) * 1000)


def pct(values, p):
    v = sorted(values)
    return v[max(0, min(len(v) - 1, int(round(p / 100 * len(v) + 0.5)) - 1))]


print(f"samples={count} p50_ms={pct(total, 50):.2f} p99_ms={pct(total, 99):.2f} "
      f"max_ms={max(total):.2f} cli_p50_ms={pct(cli, 50):.2f} cli_p99_ms={pct(cli, 99):.2f} "
      f"first_try={first_try}")
EOF

# ---- topology ---------------------------------------------------------------------------

bench_pcload

echo "== portcullis apply bench"
echo "date:       $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "binary:     $bin ($("$bin" --version))"
echo "kernel:     $(uname -sr)"
echo "cpu:        $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)," \
	"$(nproc) online"
echo "state dir:  $(df -T "$tmp" | awk 'NR == 2 { print $2 " (" $1 ")" }')"
echo "load:       $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min) at start"

bench_netns "$POD" "$SRV" "$BARE"
bench_veth
for i in $(seq 10 209); do
	ip -n "$SRV" addr add "192.0.2.$i/32" dev eth0
done
bench_iptables
for port in $LAT_PORT $LOADED_PORT; do
	ip netns exec "$SRV" "$L" rr-server -l "0.0.0.0:$port" >"$tmp/rr.$port.log" 2>&1 &
	pids+=($!)
done
sleep 0.2

# ---- 1. apply-to-enforced latency ---------------------------------------------------------

start_proxy "$tmp/state-lat"
echo
echo "== 1. apply-to-enforced latency, $LAT_SAMPLES samples (store: the samples so far)"
ip netns exec "$POD" "$PYTHON" "$tmp/latency.py" "$bin" "$SERVER" "$tmp" empty "$LAT_SAMPLES" \
	"$LAT_PORT" >"$tmp/lat.empty" || cannot "the latency driver failed"
f=$tmp/lat.empty
printf '  apply -> first allowed connection: p50 %s ms, p99 %s ms, max %s ms\n' \
	"$(kv "$f" p50_ms)" "$(kv "$f" p99_ms)" "$(kv "$f" max_ms)"
printf '  the CLI alone (exec to exit):      p50 %s ms, p99 %s ms\n' \
	"$(kv "$f" cli_p50_ms)" "$(kv "$f" cli_p99_ms)"
printf '  allowed at the first connection after apply returned: %s of %s\n' \
	"$(kv "$f" first_try)" "$LAT_SAMPLES"
stop_proxy

# ---- 2. big applies -------------------------------------------------------------------------

echo
echo "== 2. one apply of N ServiceEntries into an empty store (durable and enforced)"
last=""
for n in $BIG_COUNTS; do
	"$PYTHON" "$here/gen-serviceentries.py" "$n" "$tmp/se-$n.yaml"
	start_proxy "$tmp/state-$n"
	rss0=$(status_kib "$proxy_pid" VmRSS)
	secs=$(timed_apply "$tmp/se-$n.yaml" "$tmp/apply-$n.out")
	created=$(grep -c ' created$' "$tmp/apply-$n.out" || true)
	rss=$(status_kib "$proxy_pid" VmRSS)
	hwm=$(status_kib "$proxy_pid" VmHWM)
	again=$(timed_apply "$tmp/se-$n.yaml" "$tmp/again-$n.out")
	unchanged=$(grep -c ' unchanged$' "$tmp/again-$n.out" || true)
	store=$(du -sk "$tmp/state-$n" | cut -f1)
	printf '  N=%-6d %7.3f s (%d created; %.0f entries/s); again, all unchanged: %.3f s (%d)\n' \
		"$n" "$secs" "$created" "$(awk "BEGIN { print $n / $secs }")" "$again" "$unchanged"
	printf '           daemon VmRSS %d KiB before, %d KiB after (VmHWM %d KiB); store %d KiB on disk (%d KiB input)\n' \
		"$rss0" "$rss" "$hwm" "$store" "$(($(wc -c <"$tmp/se-$n.yaml") / 1024))"
	last=$n
	[ "$n" = "$(echo "$BIG_COUNTS" | awk '{ print $NF }')" ] || stop_proxy
done

# ---- 3. with the largest store loaded ---------------------------------------------------

echo
echo "== 3. with $last ServiceEntries loaded"
ip netns exec "$POD" "$PYTHON" "$tmp/latency.py" "$bin" "$SERVER" "$tmp" loaded \
	"$LOADED_SAMPLES" "$LOADED_PORT" >"$tmp/lat.loaded" || cannot "the latency driver failed"
f=$tmp/lat.loaded
printf '  apply -> first allowed connection, %d samples: p50 %s ms, p99 %s ms (CLI p50 %s ms); first try %s of %s\n' \
	"$LOADED_SAMPLES" "$(kv "$f" p50_ms)" "$(kv "$f" p99_ms)" "$(kv "$f" cli_p50_ms)" \
	"$(kv "$f" first_try)" "$LOADED_SAMPLES"
printf '  daemon VmRSS %d KiB, VmHWM %d KiB\n' "$(status_kib "$proxy_pid" VmRSS)" \
	"$(status_kib "$proxy_pid" VmHWM)"
stop_proxy
ip netns exec "$BARE" "$L" startup -c "127.0.0.1:$PROXY_PORT" -- "$bin" run \
	--state-dir "$tmp/state-$last" --api-socket "$tmp/bare.sock" --proxy-port "$PROXY_PORT" \
	--drain-duration 0s >"$tmp/start.out" 2>&1 || {
	cat "$tmp/start.out" >&2
	cannot "restart from the store failed"
}
printf '  restart from that store: msg=ready after %s ms, :%d accepting after %s ms, RSS %s KiB (peak %s KiB)\n' \
	"$(kv "$tmp/start.out" ready_ms)" "$PROXY_PORT" "$(kv "$tmp/start.out" listen_ms)" \
	"$(kv "$tmp/start.out" rss_kib)" "$(kv "$tmp/start.out" maxrss_kib)"

echo
errs=$(cat "$tmp"/proxy.*.err | grep -c 'level=err' || true)
echo "proxy log:  $errs level=err lines ($starts starts)"
[ "$errs" -eq 0 ] || cat "$tmp"/proxy.*.err | grep 'level=err' | sort | uniq -c | sort -rn |
	head -n 5
echo "load:       $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min) at end"
echo "elapsed:    ${SECONDS} s"
