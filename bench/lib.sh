# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=bash disable=SC2034,SC2154 # globals set here for, or by, the sourcing script
#
# lib.sh - what the benches share (sourced by proxy-bench.sh, apply-bench.sh and
# metrics-bench.sh; bench/README.md): the temp dir and namespaces and their
# removal on exit, the pod <-veth-> srv topology, pcload, and the small helpers
# that read pcload's key=value output and take medians.
#
# The sourcing script sets BENCH (its name, for errors), bin (the portcullis
# binary) and here (this directory) before calling bench_init. The addresses
# come from the plan the tests and the demo share (tests/pylib/addresses.env):
# the pod is POD_IP, the server side SRV_IP, whatever the script set before.

# shellcheck source=tests/pylib/addresses.env
. "$(dirname "${BASH_SOURCE[0]}")/../tests/pylib/addresses.env"
POD_IP=$POD_A
SRV_IP=$EXT_A

cannot() {
	echo "$BENCH: cannot measure: $*" >&2
	exit 1
}

# bench_init TOKEN: the names POD, SRV and BARE ($TOKEN-pod ...), a temp dir $tmp
# (mode 755: the proxy drops to uid 1337 and reads from it), and a trap that
# stops the processes in pids, empties and deletes the namespaces in nses and
# removes $tmp on exit, Ctrl-C included.
bench_init() {
	tok=$1
	POD="$tok-pod"
	SRV="$tok-srv"
	BARE="$tok-bare"
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/portcullis-$BENCH.XXXXXX")
	chmod 755 "$tmp"
	pids=()
	nses=()
	proxy_pid=""
	trap bench_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

bench_cleanup() {
	local p ns
	trap - EXIT INT TERM
	exec 9>&- 2>/dev/null || true
	for p in "${pids[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in "${pids[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	# anything still inside our own namespaces was started by us
	for ns in "${nses[@]}"; do
		for p in $(ip netns pids "$ns" 2>/dev/null); do
			kill -KILL "$p" 2>/dev/null || true
		done
		ip netns del "$ns" 2>/dev/null || true
	done
	rm -rf "$tmp"
}

# bench_netns NS...: make the namespaces (removed on exit) with lo up
bench_netns() {
	local ns
	for ns in "$@"; do
		ip netns add "$ns"
		nses+=("$ns")
		ip -n "$ns" link set lo up
	done
}

# bench_veth: the veth between POD (to-srv, POD_IP/24) and SRV (eth0, SRV_IP/24)
bench_veth() {
	ip -n "$POD" link add to-srv type veth peer name eth0 netns "$SRV"
	ip -n "$POD" addr add "$POD_IP/24" dev to-srv
	ip -n "$SRV" addr add "$SRV_IP/24" dev eth0
	ip -n "$POD" link set to-srv up
	ip -n "$SRV" link set eth0 up
}

# bench_iptables: `portcullis iptables` in the pod
bench_iptables() {
	ip netns exec "$POD" "$bin" iptables >"$tmp/iptables.out" 2>&1 || {
		cat "$tmp/iptables.out" >&2
		cannot "portcullis iptables failed"
	}
}

# bench_pcload: build pcload.c as $L ($tmp/pcload, runnable by uid 1337)
bench_pcload() {
	cc -O2 -Wall -o "$tmp/pcload" "$here/pcload.c" || cannot "pcload.c does not compile"
	chmod 755 "$tmp/pcload"
	L="$tmp/pcload"
}

# wait_listen NS PORT WHAT: wait up to 5 s for a TCP listener on PORT in NS
wait_listen() {
	local i=0
	until ip netns exec "$1" ss -Hltn "sport = :$2" | grep -q LISTEN; do
		i=$((i + 1))
		[ "$i" -lt 250 ] || cannot "$3 not listening"
		sleep 0.02
	done
}

# kv FILE KEY: the value of KEY=value on the last line of FILE that has it
kv() {
	sed -n "s/.*\\b$2=\\([^ ]*\\).*/\\1/p" "$1" | tail -n 1
}
median() {
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
		if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2];
		else printf "%.6g\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
calc() {
	awk "BEGIN { printf \"$1\", $2 }"
}

in_pod() {
	ip netns exec "$POD" "$@"
}

# run_client LABEL OUTFILE CMD...: run a client, fail the bench if it fails
run_client() {
	local label=$1 out=$2
	shift 2
	if ! "$@" >"$out" 2>"$out.err"; then
		cat "$out.err" >&2
		cannot "$label client failed"
	fi
}

wait_for() { # wait_for FILE REGEX SECONDS PID
	local i=0 limit=$(($3 * 50))
	while ! grep -qE "$2" "$1" 2>/dev/null; do
		kill -0 "$4" 2>/dev/null || return 1
		i=$((i + 1))
		[ "$i" -le "$limit" ] || return 1
		sleep 0.02
	done
}
