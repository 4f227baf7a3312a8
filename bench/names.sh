#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# names.sh PORTCULLIS_BIN - the cost of egress by name (issue 11): connections
# per second and added p50 latency of TLS-by-SNI and HTTP-by-Host against
# plain TCP, through the proxy and direct, in one run on this machine; and
# the proxy's memory per client waiting in protocol detection.
#
#   pod netns (192.0.2.1)                 srv netns (192.0.2.2)
#   nameload clients, `portcullis         nameload serve :7101 (tcp), :443 (tls),
#   iptables`, portcullis run             :80 (http): read the client's bytes,
#                                         answer one HTTP response
#
# The proxy has three ServiceEntries: one TCP port by address (7101), one TLS
# port without addresses (`*.example.com`, 443) and one HTTP port without
# addresses (`httpbin.example.com`, 80). A client run as root in the pod is
# captured; the same client as uid/gid 1337 (setpriv) goes direct. Every
# connection sends the same kind of first bytes a real client would: a real
# ClientHello with SNI api.example.com (made by Python's ssl at start) on the
# TLS port and on the TCP port (so TCP and TLS move the same bytes), an HTTP
# request with Host httpbin.example.com on the HTTP port.
#
# Figures: per mode, connections/s (THREADS clients in a loop: connect, send,
# read the answer, RST) and p50/p99 latency (connect to answer), direct and
# proxied, median of ROUNDS; added p50 = proxied - direct. Then the proxy's
# RSS and descriptor count before and while SILENT clients sit on :443
# without sending anything, per client, and how many upstream connections
# the server holds meanwhile (a proxy that waits in detection holds none).
#
# It prints what it measured and asserts nothing: a mode whose proxied
# connections fail (a proxy without name support may refuse them) is printed
# as failed and the others go on. It exits non-zero only when it cannot
# measure at all (not root, a missing tool, the proxy not starting).
# Everything it creates is removed on exit, Ctrl-C included.
#
# Environment (defaults): ROUNDS=3, SECS=3 (per run), THREADS=8, SILENT=2000.
set -euo pipefail

[ $# -eq 1 ] || {
	echo "usage: $0 PORTCULLIS_BIN" >&2
	exit 2
}
bin=$(readlink -f "$1")
ROUNDS=${ROUNDS:-3}
SECS=${SECS:-3}
THREADS=${THREADS:-8}
SILENT=${SILENT:-2000}
here=$(cd "$(dirname "$0")" && pwd)
NOFILE=65536
PROXY_PORT=15001
UID_EXEMPT=1337
TCP_PORT=7101
TLS_PORT=443
HTTP_PORT=80
SNI=api.example.com
HOST=httpbin.example.com

BENCH=names
# shellcheck source=bench/lib.sh
. "$here/lib.sh"

[ -x "$bin" ] || cannot "$1 is not an executable"
[ "$(id -u)" -eq 0 ] || cannot "needs root (network namespaces, iptables)"
for tool in ip iptables setpriv prlimit cc python3 ss awk; do
	command -v "$tool" >/dev/null || cannot "$tool is missing"
done
"$bin" run --help >/dev/null 2>&1 || cannot "$bin has no working 'run' verb"
if ! prlimit --nofile="$NOFILE:$NOFILE" true 2>/dev/null; then
	NOFILE=$(ulimit -Hn)
fi

bench_init "pcn$$"

rss_kib() {
	awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}
fds() {
	find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l
}
direct() { # a pod client exempt from capture
	ip netns exec "$POD" setpriv --reuid "$UID_EXEMPT" --regid "$UID_EXEMPT" --clear-groups "$@"
}
in_srv() {
	ip netns exec "$SRV" prlimit --nofile="$NOFILE:$NOFILE" "$@"
}

# ---- build and inputs ------------------------------------------------------------------

cc -O2 -Wall -pthread -o "$tmp/nameload" "$here/nameload.c" || cannot "nameload.c does not compile"
chmod 755 "$tmp/nameload"
N="$tmp/nameload"
python3 - "$tmp/hello.bin" "$SNI" <<'EOF' || cannot "no ClientHello from Python's ssl"
import ssl, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
obj = ctx.wrap_bio(inc, out, server_hostname=sys.argv[2])
try:
    obj.do_handshake()
except ssl.SSLWantReadError:
    pass
open(sys.argv[1], "wb").write(out.read())
EOF
printf 'GET / HTTP/1.1\r\nHost: %s\r\nUser-Agent: names-bench\r\n\r\n' "$HOST" >"$tmp/http.req"
chmod 644 "$tmp/hello.bin" "$tmp/http.req"
hello_len=$(stat -c %s "$tmp/hello.bin")
http_len=$(stat -c %s "$tmp/http.req")

detect_args=()
detect_note="the proxy's default"
if "$bin" run --help 2>&1 | grep -q -- --protocol-detection-timeout; then
	# long enough that the silent clients are still waiting when RSS is read
	detect_args=(--protocol-detection-timeout 120s)
	detect_note="--protocol-detection-timeout 120s"
fi

echo "== portcullis names bench (issue 11)"
echo "date:       $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "binary:     $bin ($("$bin" --version))"
echo "cpu:        $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)," \
	"$(nproc) online; load $(cut -d' ' -f1-3 /proc/loadavg) at start"
echo "clients:    $THREADS threads, $SECS s a run, $ROUNDS rounds; ClientHello $hello_len bytes" \
	"(SNI $SNI), HTTP request $http_len bytes (Host $HOST)"

# ---- topology ------------------------------------------------------------------------

bench_netns "$POD" "$SRV"
bench_veth
ip -n "$POD" route add default via "$SRV_IP"
bench_iptables

for spec in "$TCP_PORT:$hello_len" "$TLS_PORT:$hello_len" "$HTTP_PORT:$http_len"; do
	in_srv "$N" serve -l "$SRV_IP:${spec%%:*}" -k "${spec#*:}" >"$tmp/serve.${spec%%:*}" 2>&1 &
	pids+=($!)
done

cat >"$tmp/names.yaml" <<EOF
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: tcp-by-address, namespace: bench}
spec:
  hosts: [tcp.bench.example]
  addresses: ["$SRV_IP/32"]
  ports: [{number: $TCP_PORT, name: tcp, protocol: TCP}]
  location: MESH_EXTERNAL
  resolution: NONE
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: tls-by-sni, namespace: bench}
spec:
  hosts: ["*.example.com"]
  ports: [{number: $TLS_PORT, name: https, protocol: TLS}]
  location: MESH_EXTERNAL
  resolution: NONE
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: http-by-host, namespace: bench}
spec:
  hosts: [$HOST]
  ports: [{number: $HTTP_PORT, name: http, protocol: HTTP}]
  location: MESH_EXTERNAL
  resolution: NONE
EOF
chmod 644 "$tmp/names.yaml"

proxy_args=(run --config "$tmp/names.yaml" --proxy-port "$PROXY_PORT" --drain-duration 1s
	--state-dir "$tmp/state" --api-socket "$tmp/api.sock" --admin off --access-log /dev/null
	"${detect_args[@]}")
ip netns exec "$POD" prlimit --nofile="$NOFILE:$NOFILE" "$bin" "${proxy_args[@]}" \
	>"$tmp/proxy.out" 2>"$tmp/proxy.err" &
proxy_pid=$!
pids+=("$proxy_pid")
wait_for "$tmp/proxy.err" 'msg="?ready' 10 "$proxy_pid" || {
	cat "$tmp/proxy.err" >&2
	cannot "the proxy did not log msg=ready within 10 s"
}
for port in $TCP_PORT $TLS_PORT $HTTP_PORT; do
	wait_listen "$SRV" "$port" "server on :$port"
done
echo "proxy:      pid $proxy_pid, $(kv "$tmp/proxy.err" workers) workers;" \
	"detection timeout: $detect_note"
echo

# ---- 1. connections per second and latency ------------------------------------------

# one_run WHERE MODE ROUND: a cps run; prints "cps p50 p99" or "fail fail fail"
one_run() {
	local where=$1 mode=$2 r=$3 port file out
	case $mode in
	tcp) port=$TCP_PORT file=$tmp/hello.bin ;;
	tls) port=$TLS_PORT file=$tmp/hello.bin ;;
	http) port=$HTTP_PORT file=$tmp/http.req ;;
	esac
	out="$tmp/cps.$mode.$where.$r"
	if "$where" prlimit --nofile="$NOFILE:$NOFILE" "$N" cps -c "$SRV_IP:$port" -m "$file" \
		-t "$SECS" -P "$THREADS" >"$out" 2>"$out.err"; then
		echo "$(kv "$out" cps) $(kv "$out" p50_us) $(kv "$out" p99_us) $(kv "$out" fails)"
	else
		echo "fail fail fail $(head -c 200 "$out.err" | tr '\n ' '__')"
	fi
}

echo "== 1. connect, send the first bytes, read the answer, RST: $THREADS in flight"
declare -A dc dp pc pp
for mode in tcp tls http; do
	dc[$mode]=""
	dp[$mode]=""
	pc[$mode]=""
	pp[$mode]=""
done
for r in $(seq 1 "$ROUNDS"); do
	for mode in tcp tls http; do # interleaved, so a change in load hits all three
		read -r c5 p5 p9 f <<<"$(one_run direct "$mode" "$r")"
		read -r c6 p6 p99 f6 <<<"$(one_run in_pod "$mode" "$r")"
		printf '  round %d %-4s direct %7s conn/s p50 %7s us   proxy %7s conn/s p50 %7s us' \
			"$r" "$mode" "$c5" "$p5" "$c6" "$p6"
		[ "$c6" = fail ] && printf '   (proxied: %s)' "$f6"
		[ "$c6" != fail ] && [ "$f6" != 0 ] && printf '   (%s proxied failures)' "$f6"
		echo
		[ "$c5" = fail ] || { dc[$mode]+=" $c5"; dp[$mode]+=" $p5"; }
		[ "$c6" = fail ] || { pc[$mode]+=" $c6"; pp[$mode]+=" $p6"; }
		: "$p9" "$p99" "$f"
	done
done
echo "  median over $ROUNDS rounds:"
printf '  %-5s %14s %14s %12s %12s %12s\n' mode "direct conn/s" "proxy conn/s" "direct p50" \
	"proxy p50" "added p50"
for mode in tcp tls http; do
	# shellcheck disable=SC2086 # word splitting of the lists is the point
	{
		mdc=$(median ${dc[$mode]})
		mpc=$(median ${pc[$mode]})
		mdp=$(median ${dp[$mode]})
		mpp=$(median ${pp[$mode]})
	}
	added=nan
	[ "$mdp" != nan ] && [ "$mpp" != nan ] && added=$(calc %.1f "$mpp - $mdp")
	[ "$mpc" = nan ] && mpc=failed && mpp=failed
	printf '  %-5s %14s %14s %9s us %9s us %9s us\n' "$mode" "$mdc" "$mpc" "$mdp" "$mpp" "$added"
done
echo

# ---- 2. memory per client waiting in detection ---------------------------------------

echo "== 2. $SILENT silent clients on :$TLS_PORT (connected, nothing sent)"
sleep 1 # let the cps connections' state go
rss0=$(rss_kib "$proxy_pid")
fd0=$(fds "$proxy_pid")
mkfifo "$tmp/hold"
in_pod prlimit --nofile="$NOFILE:$NOFILE" "$N" silent -c "$SRV_IP:$TLS_PORT" -n "$SILENT" \
	<"$tmp/hold" >"$tmp/silent.out" 2>&1 &
silent_pid=$!
pids+=("$silent_pid")
exec 9>"$tmp/hold"
if wait_for "$tmp/silent.out" '^ready' 60 "$silent_pid"; then
	sleep 0.5
	rss1=$(rss_kib "$proxy_pid")
	fd1=$(fds "$proxy_pid")
	upstream=$(ip netns exec "$SRV" ss -Htn state established "( sport = :$TLS_PORT )" | wc -l)
	exec 9>&-
	wait "$silent_pid" || true
	echo "  proxy RSS:  $rss0 KiB before, $rss1 KiB with them:" \
		"$(calc %.0f "($rss1 - $rss0) * 1024 / $SILENT") bytes per waiting client"
	echo "  proxy fds:  $fd0 before, $fd1 with them:" \
		"$(calc %.2f "($fd1 - $fd0) / $SILENT") per waiting client (1: just its socket)"
	echo "  upstream:   $upstream connections established at the server meanwhile" \
		"(0: nothing leaves before the name is known)"
	echo "  closed by the proxy: $(kv "$tmp/silent.out" closed) of $SILENT when held" \
		"(${detect_note})"
else
	exec 9>&-
	echo "  could not hold $SILENT silent clients: $(tr '\n' ' ' <"$tmp/silent.out")"
fi
