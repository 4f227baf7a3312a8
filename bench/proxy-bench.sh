#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# proxy-bench.sh PORTCULLIS_BIN - the relay costs of `portcullis run`, through
# the proxy vs direct, interleaved in one run (bench/README.md).
#
#   pod netns (192.0.2.1)  <-veth->  srv netns (192.0.2.2)
#   pcload clients, `portcullis iptables`,   pcload bulk-sink :5001
#   portcullis run (one ServiceEntry for     pcload rr-server :5002 (echo)
#   192.0.2.2 ports 5001/5002)
#
# A client run as root in the pod is captured (NAT REDIRECT to :15001) and
# relayed by the proxy; the same client run as uid/gid 1337 (setpriv) is
# exempt from capture and goes straight to the server: same binary, same
# destination, same veth. Figures: one-stream bulk throughput, 1-byte RR
# latency, connections per second, proxy RSS idle and with N idle proxied
# connections, exec-to-ready with 10,000 ServiceEntries.
#
# It prints figures and asserts nothing. It exits non-zero only when it cannot
# measure (bad usage, missing tool, not root, the proxy not starting, a client
# failing). Everything it creates (namespaces $tok-pod/$tok-srv/$tok-bare,
# processes, a temp dir) is removed on exit, Ctrl-C included.
#
# Environment (defaults): ROUNDS=3 (direct/proxy pairs per test), BULK_SECS=4,
# RR_COUNT=20000, CPS_SECS=4, CPS_PAR=16 (connections in flight),
# IDLE_CONNS=10000, SE_COUNT=10000, START_RUNS=5, CONCURRENCY (proxy
# --concurrency; default: the proxy's own, the number of CPUs),
# PERF=1 (perf record -g on the proxy during the first proxied bulk run).
set -euo pipefail

usage() {
	echo "usage: $0 PORTCULLIS_BIN" >&2
	exit 2
}
[ $# -eq 1 ] || usage
bin=$(readlink -f "$1")
ROUNDS=${ROUNDS:-3}
BULK_SECS=${BULK_SECS:-4}
RR_COUNT=${RR_COUNT:-20000}
CPS_SECS=${CPS_SECS:-4}
CPS_PAR=${CPS_PAR:-16}
IDLE_CONNS=${IDLE_CONNS:-10000}
SE_COUNT=${SE_COUNT:-10000}
START_RUNS=${START_RUNS:-5}
CONCURRENCY=${CONCURRENCY:-}
PERF=${PERF:-0}
here=$(cd "$(dirname "$0")" && pwd)
NOFILE=1048576
BULK_PORT=5001
ECHO_PORT=5002
PROXY_PORT=15001
UID_EXEMPT=1337

BENCH=proxy-bench
# shellcheck source=bench/lib.sh
. "$here/lib.sh"

[ -x "$bin" ] || cannot "$1 is not an executable"
[ "$(id -u)" -eq 0 ] || cannot "needs root (network namespaces, iptables)"
for tool in ip iptables setpriv prlimit cc python3 ss awk; do
	command -v "$tool" >/dev/null || cannot "$tool is missing"
done
"$bin" run --help >/dev/null 2>&1 || cannot "$bin has no working 'run' verb"

# The proxy needs up to 6 descriptors per connection (2 sockets, 2 pipes). Raising
# the hard RLIMIT_NOFILE needs CAP_SYS_RESOURCE; without it, use the hard limit
# we have and open fewer idle connections.
nofile_note=""
if ! prlimit --nofile="$NOFILE:$NOFILE" true 2>/dev/null; then
	NOFILE=$(ulimit -Hn)
	[ "$NOFILE" = unlimited ] && NOFILE=1048576
	nofile_note="hard RLIMIT_NOFILE stays at $NOFILE (no CAP_SYS_RESOURCE to raise it)"
	max_idle=$(((NOFILE - 64) / 6))
	if [ "$IDLE_CONNS" -gt "$max_idle" ]; then
		nofile_note="$nofile_note: IDLE_CONNS lowered from $IDLE_CONNS to $max_idle"
		IDLE_CONNS=$max_idle
	fi
fi

bench_init "pcb$$"

# ---- helpers --------------------------------------------------------------------------

rss_kib() {
	awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}
slab_kib() {
	awk '/^Slab:/ { print $2 }' /proc/meminfo
}
cpu_ticks() { # utime + stime of a process, in clock ticks
	awk '{ print $14 + $15 }' "/proc/$1/stat"
}
HZ=$(getconf CLK_TCK)
direct() { # a pod client exempt from capture
	ip netns exec "$POD" setpriv --reuid "$UID_EXEMPT" --regid "$UID_EXEMPT" --clear-groups "$@"
}


# ---- build --------------------------------------------------------------------------

bench_pcload

echo "== portcullis proxy bench"
echo "date:       $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "binary:     $bin ($("$bin" --version))"
echo "kernel:     $(uname -sr)"
echo "cpu:        $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)," \
	"$(nproc) online"
echo "load:       $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min) at start"
busy=$(ps -eo pcpu=,comm= --sort=-pcpu | awk '$1 >= 5 { printf "%s%s %s%%", sep, $2, $1; sep = ", " }')
echo "busy now:   ${busy:-nothing above 5% CPU}"
[ -z "$nofile_note" ] || echo "note:       $nofile_note"

# ---- topology --------------------------------------------------------------------------

bench_netns "$POD" "$SRV" "$BARE"
bench_veth
ip -n "$POD" route add default via "$SRV_IP"
bench_iptables

ip netns exec "$SRV" prlimit --nofile="$NOFILE:$NOFILE" "$L" bulk-sink -l "$SRV_IP:$BULK_PORT" \
	>"$tmp/sink.log" 2>&1 &
pids+=($!)
ip netns exec "$SRV" prlimit --nofile="$NOFILE:$NOFILE" "$L" rr-server -l "$SRV_IP:$ECHO_PORT" \
	>"$tmp/echo.log" 2>&1 &
pids+=($!)

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
  - number: $BULK_PORT
    name: tcp-bulk
    protocol: TCP
  - number: $ECHO_PORT
    name: tcp-echo
    protocol: TCP
  location: MESH_EXTERNAL
  resolution: NONE
EOF
chmod 644 "$tmp/bench.yaml"

# the store, API socket and admin port of a bench proxy are its own: nothing on the host
proxy_args=(run --config "$tmp/bench.yaml" --proxy-port "$PROXY_PORT" --drain-duration 1s
	--state-dir "$tmp/state" --api-socket "$tmp/api.sock" --admin off)
[ -n "$CONCURRENCY" ] && proxy_args+=(--concurrency "$CONCURRENCY")
ip netns exec "$POD" prlimit --nofile="$NOFILE:$NOFILE" "$bin" "${proxy_args[@]}" \
	>"$tmp/proxy.out" 2>"$tmp/proxy.err" &
proxy_pid=$!
pids+=("$proxy_pid")
wait_for "$tmp/proxy.err" 'msg="?ready' 10 "$proxy_pid" || {
	cat "$tmp/proxy.err" >&2
	cannot "the proxy did not log msg=ready within 10 s"
}
sleep 0.2
rss_start=$(rss_kib "$proxy_pid")
workers=$(kv "$tmp/proxy.err" workers)
# the servers must be up before the first client
for port in $BULK_PORT $ECHO_PORT; do
	wait_listen "$SRV" "$port" "server on :$port"
done
echo "proxy:      pid $proxy_pid, $workers workers, 1 ServiceEntry; RSS after start $rss_start KiB"
echo

# ---- 1. bulk -------------------------------------------------------------------------

echo "== 1. bulk: one TCP stream, pod -> srv, ${BULK_SECS} s per run, $ROUNDS rounds (direct, proxy)"
bd=()
bp=()
bcpu=()
for r in $(seq 1 "$ROUNDS"); do
	run_client bulk "$tmp/bulk.d$r" direct "$L" bulk-send -c "$SRV_IP:$BULK_PORT" -t "$BULK_SECS"
	c0=$(cpu_ticks "$proxy_pid")
	if [ "$PERF" = 1 ] && [ "$r" = 1 ] && command -v perf >/dev/null; then
		perf record -q -g -o "$tmp/perf.data" -p "$proxy_pid" -- sleep "$BULK_SECS" \
			>/dev/null 2>&1 &
		perf_pid=$!
		pids+=("$perf_pid")
	fi
	run_client bulk "$tmp/bulk.p$r" in_pod "$L" bulk-send -c "$SRV_IP:$BULK_PORT" -t "$BULK_SECS"
	c1=$(cpu_ticks "$proxy_pid")
	bd+=("$(kv "$tmp/bulk.d$r" MBps)")
	bp+=("$(kv "$tmp/bulk.p$r" MBps)")
	secs=$(kv "$tmp/bulk.p$r" secs)
	bcpu+=("$(calc %.0f "($c1 - $c0) / $HZ / $secs * 100")")
	printf '  round %d: direct %8.1f MB/s   proxy %8.1f MB/s   (proxy CPU %s%% of one core)\n' \
		"$r" "${bd[-1]}" "${bp[-1]}" "${bcpu[-1]}"
done
md=$(median "${bd[@]}")
mp=$(median "${bp[@]}")
printf '  median:  direct %8.1f MB/s (%.2f Gbit/s)   proxy %8.1f MB/s (%.2f Gbit/s)\n' \
	"$md" "$(calc %.3f "$md * 8 / 1000")" "$mp" "$(calc %.3f "$mp * 8 / 1000")"
printf '  proxy/direct: %.2fx   proxy CPU: %s%% of one core (median); target: >= 0.55x\n' \
	"$(calc %.4f "$mp / $md")" "$(median "${bcpu[@]}")"
echo

# ---- 2. request/response latency -------------------------------------------------------

echo "== 2. 1-byte request/response on one connection, $RR_COUNT round trips, $ROUNDS rounds"
d50=()
d99=()
p50=()
p99=()
for r in $(seq 1 "$ROUNDS"); do
	run_client rr "$tmp/rr.d$r" direct "$L" rr-client -c "$SRV_IP:$ECHO_PORT" -n "$RR_COUNT" -w 1000
	run_client rr "$tmp/rr.p$r" in_pod "$L" rr-client -c "$SRV_IP:$ECHO_PORT" -n "$RR_COUNT" -w 1000
	d50+=("$(kv "$tmp/rr.d$r" p50_us)")
	d99+=("$(kv "$tmp/rr.d$r" p99_us)")
	p50+=("$(kv "$tmp/rr.p$r" p50_us)")
	p99+=("$(kv "$tmp/rr.p$r" p99_us)")
	printf '  round %d: direct p50 %6.1f us p99 %6.1f us   proxy p50 %6.1f us p99 %6.1f us\n' \
		"$r" "${d50[-1]}" "${d99[-1]}" "${p50[-1]}" "${p99[-1]}"
done
m_d50=$(median "${d50[@]}")
m_d99=$(median "${d99[@]}")
m_p50=$(median "${p50[@]}")
m_p99=$(median "${p99[@]}")
printf '  median:  direct p50 %6.1f us p99 %6.1f us   proxy p50 %6.1f us p99 %6.1f us\n' \
	"$m_d50" "$m_d99" "$m_p50" "$m_p99"
printf '  added by the proxy: p50 +%.1f us, p99 +%.1f us\n' \
	"$(calc %.2f "$m_p50 - $m_d50")" "$(calc %.2f "$m_p99 - $m_d99")"
echo

# ---- 3. connections per second -------------------------------------------------------------

echo "== 3. new connections: connect, 1-byte echo, close (SO_LINGER 0: RST, no TIME_WAIT);"
echo "   $CPS_PAR in flight, ${CPS_SECS} s per run, $ROUNDS rounds"
tw0=$(in_pod ss -Htan state time-wait | wc -l)
cd_=()
cp_=()
cpu_us=()
for r in $(seq 1 "$ROUNDS"); do
	run_client cps "$tmp/cps.d$r" direct "$L" cps-client -c "$SRV_IP:$ECHO_PORT" -t "$CPS_SECS" \
		-P "$CPS_PAR"
	c0=$(cpu_ticks "$proxy_pid")
	run_client cps "$tmp/cps.p$r" in_pod "$L" cps-client -c "$SRV_IP:$ECHO_PORT" -t "$CPS_SECS" \
		-P "$CPS_PAR"
	c1=$(cpu_ticks "$proxy_pid")
	cd_+=("$(kv "$tmp/cps.d$r" cps)")
	cp_+=("$(kv "$tmp/cps.p$r" cps)")
	n=$(kv "$tmp/cps.p$r" conns)
	cpu_us+=("$(calc %.1f "($c1 - $c0) / $HZ * 1e6 / ($n > 0 ? $n : 1)")")
	printf '  round %d: direct %7.0f/s (errors %s, p50 %s us)   proxy %7.0f/s (errors %s, p50 %s us, %s us proxy CPU each)\n' \
		"$r" "${cd_[-1]}" "$(kv "$tmp/cps.d$r" errors)" "$(kv "$tmp/cps.d$r" p50_us)" \
		"${cp_[-1]}" "$(kv "$tmp/cps.p$r" errors)" "$(kv "$tmp/cps.p$r" p50_us)" "${cpu_us[-1]}"
	for f in "$tmp/cps.d$r" "$tmp/cps.p$r"; do
		e=$(sed -n 's/.*first_error="\([^"]*\)".*/\1/p' "$f")
		[ "$e" = "-" ] || echo "    first error ($(basename "$f")): $e"
	done
done
mcd=$(median "${cd_[@]}")
mcp=$(median "${cp_[@]}")
printf '  median:  direct %.0f conn/s   proxy %.0f conn/s   proxy/direct %.2fx\n' \
	"$mcd" "$mcp" "$(calc %.4f "$mcp / $mcd")"
tw=$(in_pod ss -Htan state time-wait | wc -l)
echo "  TIME_WAIT sockets in the pod: $tw0 before the CPS runs, $tw after"
echo

# ---- 4. memory -----------------------------------------------------------------------

echo "== 4. proxy memory: RSS idle, and with $IDLE_CONNS idle proxied connections"
rss_before=$(rss_kib "$proxy_pid")
mkfifo "$tmp/hold"
# hold_idle LABEL CMD...: open IDLE_CONNS connections and keep them until fd 9 closes
# (CMD must be a program, not a function, so that $! is the client itself)
hold_idle() {
	local label=$1
	shift
	"$@" <"$tmp/hold" >"$tmp/idle.$label" 2>&1 &
	idle_pid=$!
	pids+=("$idle_pid")
	exec 9>"$tmp/hold"
	wait_for "$tmp/idle.$label" '^ready' 90 "$idle_pid" || {
		cat "$tmp/idle.$label" >&2
		cannot "idle-client ($label) did not get ready"
	}
}
release_idle() {
	exec 9>&-
	wait "$idle_pid" || true
}
slab0=$(slab_kib)
hold_idle proxy ip netns exec "$POD" prlimit --nofile="$NOFILE:$NOFILE" "$L" idle-client \
	-c "$SRV_IP:$ECHO_PORT" -n "$IDLE_CONNS" -P 256
sleep 0.5
rss_idle=$(rss_kib "$proxy_pid")
slab1=$(slab_kib)
fds=$(find "/proc/$proxy_pid/fd" -mindepth 1 -maxdepth 1 | wc -l)
ok=$(kv "$tmp/idle.proxy" ok)
failed=$(kv "$tmp/idle.proxy" failed)
# one more bulk pair while they are held: does a busy proxy still move bulk data?
run_client bulk "$tmp/bulk.dheld" direct "$L" bulk-send -c "$SRV_IP:$BULK_PORT" -t "$BULK_SECS"
run_client bulk "$tmp/bulk.pheld" in_pod "$L" bulk-send -c "$SRV_IP:$BULK_PORT" -t "$BULK_SECS"
release_idle
sleep 1
rss_after=$(rss_kib "$proxy_pid")
slab2=$(slab_kib)
hold_idle direct ip netns exec "$POD" prlimit --nofile="$NOFILE:$NOFILE" setpriv \
	--reuid "$UID_EXEMPT" --regid "$UID_EXEMPT" --clear-groups "$L" idle-client \
	-c "$SRV_IP:$ECHO_PORT" -n "$IDLE_CONNS" -P 256
sleep 0.5
slab3=$(slab_kib)
release_idle
printf '  RSS after start:            %6d KiB (%.2f MiB); target: <= 4 MiB\n' "$rss_start" \
	"$(calc %.3f "$rss_start / 1024")"
printf '  RSS after tests 1-3:        %6d KiB\n' "$rss_before"
printf '  RSS with %d idle conns:  %6d KiB (%d established, %d failed; %d fds open)\n' \
	"$IDLE_CONNS" "$rss_idle" "$ok" "$failed" "$fds"
printf '  RSS after they closed:      %6d KiB\n' "$rss_after"
printf '  bulk while they were open:  direct %.1f MB/s   proxy %.1f MB/s   (%.2fx; test 1: %.2fx)\n' \
	"$(kv "$tmp/bulk.dheld" MBps)" "$(kv "$tmp/bulk.pheld" MBps)" \
	"$(calc %.4f "$(kv "$tmp/bulk.pheld" MBps) / $(kv "$tmp/bulk.dheld" MBps)")" \
	"$(calc %.4f "$mp / $md")"
[ -z "$nofile_note" ] || echo "  note: $nofile_note"
if [ "$ok" -gt 0 ]; then
	printf '  user-space bytes per idle proxied connection: %.0f  (RSS delta / %d);' \
		"$(calc %.1f "($rss_idle - $rss_before) * 1024 / $ok")" "$ok"
	printf ' proxy fds per connection: %.1f\n' "$(calc %.2f "$fds / $ok")"
	printf '  kernel slab per idle connection (approximate, whole machine, includes the\n'
	printf '  client and server ends): proxied %.0f bytes, direct %.0f bytes\n' \
		"$(calc %.1f "($slab1 - $slab0) * 1024 / $ok")" \
		"$(calc %.1f "($slab3 - $slab2) * 1024 / $IDLE_CONNS")"
fi
echo

# ---- 5. exec to ready ------------------------------------------------------------------

echo "== 5. exec to ready with $SE_COUNT ServiceEntries, $START_RUNS runs (own netns, no traffic)"
python3 "$here/gen-serviceentries.py" "$SE_COUNT" "$tmp/many.yaml"
chmod 644 "$tmp/many.yaml"
"$bin" validate -q -f "$tmp/many.yaml" >/dev/null 2>&1 || cannot "validate rejects the generated file"
s_ready=()
s_listen=()
s_rss=()
s_max=()
for r in $(seq 1 "$START_RUNS"); do
	run_client startup "$tmp/start.$r" ip netns exec "$BARE" "$L" startup \
		-c "127.0.0.1:$PROXY_PORT" -- "$bin" run --config "$tmp/many.yaml" \
		--proxy-port "$PROXY_PORT" --drain-duration 0s --state-dir "$tmp/start-state.$r" \
		--api-socket "$tmp/start-api.$r.sock" --admin off
	s_ready+=("$(kv "$tmp/start.$r" ready_ms)")
	s_listen+=("$(kv "$tmp/start.$r" listen_ms)")
	s_rss+=("$(kv "$tmp/start.$r" rss_kib)")
	s_max+=("$(kv "$tmp/start.$r" maxrss_kib)")
	printf '  run %d: msg=ready after %7.1f ms, :%d accepting after %7.1f ms, RSS %d KiB (peak %d KiB)\n' \
		"$r" "${s_ready[-1]}" "$PROXY_PORT" "${s_listen[-1]}" "${s_rss[-1]}" "${s_max[-1]}"
done
printf '  median: ready %.1f ms, accepting %.1f ms; RSS at ready %d KiB, peak %d KiB\n' \
	"$(median "${s_ready[@]}")" "$(median "${s_listen[@]}")" "$(median "${s_rss[@]}")" \
	"$(median "${s_max[@]}")"
echo

if [ "$PERF" = 1 ] && [ -s "$tmp/perf.data" ]; then
	# In a VM without a PMU, self time piles up where interrupts are re-enabled
	# (_raw_spin_unlock_irqrestore, handle_softirqs): the inclusive view says more.
	echo "== perf: the proxy during proxied bulk round 1 (children/self %, >= 5% inclusive)"
	perf report -i "$tmp/perf.data" --stdio --children --sort sym --percent-limit 5 \
		-g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -n 30
	echo
fi

errs=$(grep -c 'level=err' "$tmp/proxy.err" || true)
echo "proxy log:  $errs level=err lines"
[ "$errs" -eq 0 ] || grep 'level=err' "$tmp/proxy.err" | sort | uniq -c | sort -rn | head -n 5
echo "load:       $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min) at end"
echo "elapsed:    ${SECONDS} s"
