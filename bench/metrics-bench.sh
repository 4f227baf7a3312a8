#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# metrics-bench.sh PORTCULLIS_BIN - the cost of counting (issue 5, bench/README.md):
# connections per second and 1-byte request/response latency through the proxy
# with metrics on vs --stats off (the proxy restarted for each run, the two
# interleaved), then the time of a /stats/prometheus (and /connections) scrape
# with IDLE_CONNS live proxied connections.
#
#   pod netns (192.0.2.1)  <-veth->  srv netns (192.0.2.2)
#   pcload clients, `portcullis iptables`,   pcload rr-server :5002 (echo)
#   portcullis run (admin 127.0.0.1:15000)
#
# It prints figures and asserts nothing. It exits non-zero only when it cannot
# measure. Everything it creates (namespaces $tok-pod/$tok-srv, processes, a
# temp dir) is removed on exit, Ctrl-C included.
#
# Environment (defaults): ROUNDS=3 (on/off pairs), RR_COUNT=20000, CPS_SECS=4,
# CPS_PAR=16, IDLE_CONNS=9000 (10,000 needs 20,000+ descriptors in the proxy;
# lowered to fit the hard RLIMIT_NOFILE), SCRAPES=5, CONCURRENCY (proxy
# --concurrency; default: the number of CPUs).
set -euo pipefail

[ $# -eq 1 ] || {
	echo "usage: $0 PORTCULLIS_BIN" >&2
	exit 2
}
bin=$(readlink -f "$1")
ROUNDS=${ROUNDS:-3}
RR_COUNT=${RR_COUNT:-20000}
CPS_SECS=${CPS_SECS:-4}
CPS_PAR=${CPS_PAR:-16}
IDLE_CONNS=${IDLE_CONNS:-9000}
SCRAPES=${SCRAPES:-5}
CONCURRENCY=${CONCURRENCY:-}
here=$(cd "$(dirname "$0")" && pwd)
ECHO_PORT=5002
PROXY_PORT=15001
ADMIN=127.0.0.1:15000

BENCH=metrics-bench
# shellcheck source=bench/lib.sh
. "$here/lib.sh"
[ -x "$bin" ] || cannot "$1 is not an executable"
[ "$(id -u)" -eq 0 ] || cannot "needs root (network namespaces, iptables)"
for tool in ip iptables prlimit cc curl awk ss; do
	command -v "$tool" >/dev/null || cannot "$tool is missing"
done

NOFILE=$(ulimit -Hn)
[ "$NOFILE" = unlimited ] && NOFILE=1048576
max_idle=$(((NOFILE - 256) / 2)) # two sockets per idle proxied connection
note=""
if [ "$IDLE_CONNS" -gt "$max_idle" ]; then
	note="IDLE_CONNS lowered from $IDLE_CONNS to $max_idle (hard RLIMIT_NOFILE $NOFILE)"
	IDLE_CONNS=$max_idle
fi

bench_init "pcm$$"


bench_pcload

echo "== portcullis metrics bench"
echo "date:       $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "binary:     $bin ($("$bin" --version))"
echo "cpu:        $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)," \
	"$(nproc) online; load $(cut -d' ' -f1-3 /proc/loadavg)"
[ -z "$note" ] || echo "note:       $note"

bench_netns "$POD" "$SRV"
bench_veth
ip -n "$POD" route add default via "$SRV_IP"
bench_iptables
ip netns exec "$SRV" prlimit --nofile="$NOFILE:$NOFILE" "$L" rr-server -l "$SRV_IP:$ECHO_PORT" \
	>"$tmp/echo.log" 2>&1 &
pids+=($!)
wait_listen "$SRV" "$ECHO_PORT" "echo server"

cat >"$tmp/bench.yaml" <<EOF
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: bench
  namespace: bench
spec:
  hosts:
  - bench.example
  addresses:
  - $SRV_IP
  ports:
  - number: $ECHO_PORT
    name: tcp-echo
    protocol: TCP
  location: MESH_EXTERNAL
  resolution: NONE
EOF
chmod 644 "$tmp/bench.yaml"

# start_proxy on|off: a fresh proxy (its own store) with --stats on|off
run_n=0
start_proxy() {
	run_n=$((run_n + 1))
	local args=(run --config "$tmp/bench.yaml" --state-dir "$tmp/state$run_n"
		--api-socket "$tmp/api$run_n.sock" --proxy-port "$PROXY_PORT" --drain-duration 1s
		--admin "$ADMIN" --stats "$1")
	[ -n "$CONCURRENCY" ] && args+=(--concurrency "$CONCURRENCY")
	# not through in_pod: $! must be the proxy itself, not a subshell
	ip netns exec "$POD" prlimit --nofile="$NOFILE:$NOFILE" "$bin" "${args[@]}" \
		>"$tmp/proxy$run_n.out" 2>"$tmp/proxy$run_n.err" &
	proxy_pid=$!
	pids+=("$proxy_pid")
	wait_for "$tmp/proxy$run_n.err" 'msg="?ready' 10 "$proxy_pid" || {
		cat "$tmp/proxy$run_n.err" >&2
		cannot "the proxy did not log msg=ready within 10 s"
	}
}
stop_proxy() {
	kill -TERM "$proxy_pid"
	wait "$proxy_pid" || true
}

echo
echo "== 1. metrics on vs --stats off: $ROUNDS rounds, a fresh proxy per run"
echo "   cps: connect, 1-byte echo, close; $CPS_PAR in flight, ${CPS_SECS} s"
echo "   rr:  1-byte request/response on one connection, $RR_COUNT round trips"
declare -A cps p50 p99
for r in $(seq 1 "$ROUNDS"); do
	for mode in on off; do
		start_proxy "$mode"
		run_client cps "$tmp/cps.$mode$r" in_pod "$L" cps-client -c "$SRV_IP:$ECHO_PORT" \
			-t "$CPS_SECS" -P "$CPS_PAR"
		run_client rr "$tmp/rr.$mode$r" in_pod "$L" rr-client -c "$SRV_IP:$ECHO_PORT" \
			-n "$RR_COUNT" -w 1000
		stop_proxy
		cps[$mode]="${cps[$mode]:-} $(kv "$tmp/cps.$mode$r" cps)"
		p50[$mode]="${p50[$mode]:-} $(kv "$tmp/rr.$mode$r" p50_us)"
		p99[$mode]="${p99[$mode]:-} $(kv "$tmp/rr.$mode$r" p99_us)"
		printf '  round %d, stats %-3s: %7.0f conn/s (errors %s)   rr p50 %6.1f us p99 %6.1f us\n' \
			"$r" "$mode" "$(kv "$tmp/cps.$mode$r" cps)" "$(kv "$tmp/cps.$mode$r" errors)" \
			"$(kv "$tmp/rr.$mode$r" p50_us)" "$(kv "$tmp/rr.$mode$r" p99_us)"
	done
done
# shellcheck disable=SC2086 # word splitting wanted
for mode in on off; do
	printf '  median, stats %-3s: %7.0f conn/s   rr p50 %6.1f us p99 %6.1f us\n' "$mode" \
		"$(median ${cps[$mode]})" "$(median ${p50[$mode]})" "$(median ${p99[$mode]})"
done
# shellcheck disable=SC2086
printf '  on/off: cps %.3fx, rr p50 %+.1f us\n' \
	"$(calc %.4f "$(median ${cps[on]}) / $(median ${cps[off]})")" \
	"$(calc %.2f "$(median ${p50[on]}) - $(median ${p50[off]})")"

echo
echo "== 2. scrape time with $IDLE_CONNS live proxied connections ($SCRAPES scrapes each)"
start_proxy on
mkfifo "$tmp/hold"
ip netns exec "$POD" prlimit --nofile="$NOFILE:$NOFILE" "$L" idle-client -c "$SRV_IP:$ECHO_PORT" \
	-n "$IDLE_CONNS" -P 256 <"$tmp/hold" >"$tmp/idle" 2>&1 &
idle_pid=$!
pids+=("$idle_pid")
exec 9>"$tmp/hold"
wait_for "$tmp/idle" '^ready' 120 "$idle_pid" || {
	cat "$tmp/idle" >&2
	cannot "idle-client did not get ready"
}
sleep 0.5
echo "  connections held: $(kv "$tmp/idle" ok) (failed $(kv "$tmp/idle" failed))"
scrape() { # scrape PATH: "seconds bytes" of one GET
	in_pod curl -s -o /dev/null -w '%{time_total} %{size_download}\n' "http://$ADMIN$1"
}
for path in /stats/prometheus "/stats?format=json" /connections; do
	ts=()
	size=0
	for _ in $(seq 1 "$SCRAPES"); do
		read -r t size < <(scrape "$path")
		ts+=("$(calc %.3f "$t * 1000")")
	done
	printf '  %-20s median %7.2f ms (min %s, max %s), %d bytes\n' "$path" "$(median "${ts[@]}")" \
		"$(printf '%s\n' "${ts[@]}" | sort -g | head -n 1)" \
		"$(printf '%s\n' "${ts[@]}" | sort -g | tail -n 1)" "$size"
done
exec 9>&-
wait "$idle_pid" || true
stop_proxy
