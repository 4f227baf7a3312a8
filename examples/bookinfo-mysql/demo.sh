#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# demo.sh - the seed story end to end (README.md here): Bookinfo's ratings
# read an external MariaDB through the portcullis sidecar, blocked by
# default, opened live by a TCP ServiceEntry, closed again by deleting it.
#
#   demo.sh [--interactive] [OPTIONS]   narrate the six steps, then clean up
#   demo.sh up [OPTIONS]                set everything up and leave it running;
#                                       prints STATE_DIR=... (and more KEY=VALUE)
#   demo.sh down STATE_DIR              tear down what `up` made
#
# Options:
#   --interactive      pause before each step (Enter continues), to use a browser
#   --portcullis PATH  the binary (default: $PORTCULLIS, else build-release/ or
#                      build/ of this tree, else `portcullis` in $PATH)
#   --bin DIR          where ratings and productpage are built (default:
#                      $BOOKINFO_BIN, else built into the demo's temp dir)
#   --port PORT        the host's 127.0.0.1 port of the product page (default 9080)
#
# Needs root (network namespaces, iptables) and Debian's mariadb-server,
# mariadb-client, socat, curl, iproute2, iptables (scripts/install-deps.sh).
#
# Everything it makes carries one tag, pcdemo-XXXXXX, after its temp dir
# /tmp/pcdemo.XXXXXX: two network namespaces (<tag>-pod, <tag>-db), and
# processes whose environment holds PCDEMO_TAG=<tag>. On exit -- success, failure,
# Ctrl-C, SIGTERM -- the trap stops the processes (by their pids), deletes the
# namespaces (which takes the veths and the pod's iptables rules with them)
# and removes the temp dir. Addresses: 203.0.113.0/24, inside those
# namespaces only; the root namespace gets nothing but a socat on 127.0.0.1.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)

# The address plan the tests and benches share (NAME=VALUE lines): the pod
# is DEMO_POD, the database host DEMO_DB.
# shellcheck source=tests/pylib/addresses.env
. "$REPO/tests/pylib/addresses.env"
POD_IP=$DEMO_POD
DB_IP=$DEMO_DB
DB_PORT=3306
DB_HOST=mysqldb.external.example
PAGE_PORT=9080    # productpage, in the pod
RATINGS_PORT=9081 # ratings, in the pod
ADMIN=127.0.0.1:15000

mode=narrate
interactive=0
host_port=${DEMO_PORT:-9080}
pc_bin=${PORTCULLIS:-}
bi_bin=${BOOKINFO_BIN:-}
T=

die() {
	echo "demo: $*" >&2
	exit 1
}

usage() {
	sed -n '4,19p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
	exit "${1:-2}"
}

# --- tear-down ---------------------------------------------------------------

# Is <pid> a live process (not a zombie) of this demo (PCDEMO_TAG=<tag>)?
is_ours() {
	local pid=$1 tag=$2 state
	[ -r "/proc/$pid/environ" ] || return 1
	state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || return 1
	[ "$state" != Z ] || return 1
	tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qx "PCDEMO_TAG=$tag"
}

# Undo everything recorded in <dir> (a state dir), in any state of completion.
teardown() {
	local dir=$1 tag pod db pids=() name pid i
	[ -f "$dir/demo.env" ] || {
		rm -rf "$dir"
		return 0
	}
	tag=$(sed -n 's/^TAG=//p' "$dir/demo.env")
	pod=$(sed -n 's/^POD_NS=//p' "$dir/demo.env")
	db=$(sed -n 's/^DB_NS=//p' "$dir/demo.env")
	if [ -f "$dir/pids" ]; then
		while read -r name pid; do
			pids+=("$pid")
		done <"$dir/pids"
	fi
	# Also whatever still runs inside our namespaces (socat's per-connection
	# children, a half-started helper): all of it is ours.
	for ns in "$pod" "$db"; do
		if [ -z "$ns" ] || [ ! -e "/run/netns/$ns" ]; then
			continue
		fi
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			pids+=("$pid")
		done
	done
	for pid in "${pids[@]}"; do
		if is_ours "$pid" "$tag"; then
			kill -TERM "$pid" 2>/dev/null || true
		fi
	done
	# portcullis drains for 1 s, mariadbd flushes InnoDB: both take well under
	# 5 s. (A mariadbd still starting up may not act on SIGTERM at all; its
	# data is thrown away, so SIGKILL is harmless.)
	for ((i = 0; i < 50; i++)); do
		local left=0
		for pid in "${pids[@]}"; do
			is_ours "$pid" "$tag" && left=1
		done
		[ "$left" = 0 ] && break
		sleep 0.1
	done
	for pid in "${pids[@]}"; do
		if is_ours "$pid" "$tag"; then
			echo "demo: pid $pid did not stop on SIGTERM, killing it" >&2
			kill -KILL "$pid" 2>/dev/null || true
		fi
	done
	wait 2>/dev/null || true # reap our own children (narrate mode)
	for ns in "$pod" "$db"; do
		if [ -n "$ns" ] && [ -e "/run/netns/$ns" ]; then
			ip netns del "$ns" || true
		fi
	done
	rm -rf "$dir"
}

on_exit() {
	local rc=$?
	trap '' INT TERM # a second Ctrl-C must not cut the clean-up short
	trap - EXIT
	if [ -n "$T" ]; then
		[ "$rc" = 0 ] || [ ! -d "$T" ] || show_logs_on_failure "$rc"
		teardown "$T"
		[ "$mode" = up ] || echo "demo: cleaned up (namespaces, processes, $T)" >&2
	fi
	exit "$rc"
}

show_logs_on_failure() {
	[ "$1" = 130 ] && return 0 # Ctrl-C: nothing failed
	local f
	for f in "$T"/*.log; do
		[ -s "$f" ] || continue
		echo "--- $(basename "$f") (tail) ---" >&2
		tail -n 15 "$f" >&2
	done
}

# --- set-up ------------------------------------------------------------------

find_portcullis() {
	if [ -z "$pc_bin" ]; then
		for c in "$REPO/build-release/portcullis" "$REPO/build/portcullis"; do
			[ -x "$c" ] && pc_bin=$c && break
		done
	fi
	[ -n "$pc_bin" ] || pc_bin=$(command -v portcullis) ||
		die "no portcullis binary: build it (make) or pass --portcullis PATH"
	[ -x "$pc_bin" ] || die "$pc_bin is not executable"
	pc_bin=$(cd "$(dirname "$pc_bin")" && pwd)/$(basename "$pc_bin")
}

build_bookinfo() {
	if [ -z "$bi_bin" ]; then
		bi_bin=$T/bin
		if ! cmake -S "$HERE" -B "$T/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$T/build.log" 2>&1 ||
			! cmake --build "$T/build" >>"$T/build.log" 2>&1; then
			die "cannot build ratings and productpage: $(tail -n 20 "$T/build.log")"
		fi
		mkdir -p "$bi_bin"
		cp "$T/build/ratings" "$T/build/productpage" "$bi_bin/"
	fi
	if [ ! -x "$bi_bin/ratings" ] || [ ! -x "$bi_bin/productpage" ]; then
		die "no ratings or productpage in $bi_bin"
	fi
}

# start NAME CMD...: run CMD in the background, its output in $T/NAME.log,
# its pid recorded for the tear-down. `ip netns exec` and `env` exec, so the
# pid is the program's own.
start() {
	local name=$1
	shift
	"$@" </dev/null >"$T/$name.log" 2>&1 &
	echo "$name $!" >>"$T/pids"
}

# wait_for WHAT SECONDS CMD...: retry CMD until it succeeds.
wait_for() {
	local what=$1 secs=$2 i
	shift 2
	for ((i = 0; i < secs * 20; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	die "$what not ready after $secs s"
}

in_pod() { ip netns exec "$POD" "$@"; }
in_db() { ip netns exec "$DB" "$@"; }

setup() {
	local tag pw
	[ "$(id -u)" = 0 ] || die "needs root (network namespaces, iptables)"
	for tool in ip iptables mariadbd mariadb-install-db mariadb mariadb-admin socat curl cmake; do
		command -v "$tool" >/dev/null || die "$tool is missing: run scripts/install-deps.sh"
	done
	find_portcullis
	if (exec 3<>"/dev/tcp/127.0.0.1/$host_port") 2>/dev/null; then
		die "127.0.0.1:$host_port is in use on this host: pick another with --port"
	fi

	T=$(mktemp -d /tmp/pcdemo.XXXXXX)
	chmod 755 "$T" # mariadbd runs as mysql and keeps its data below
	# The temp dir's random suffix makes the tag unique for as long as it exists.
	tag=pcdemo-${T##*.}
	export PCDEMO_TAG=$tag
	POD=$tag-pod
	DB=$tag-db
	printf 'TAG=%s\nPOD_NS=%s\nDB_NS=%s\n' "$tag" "$POD" "$DB" >"$T/demo.env"
	build_bookinfo
	PATH=$(dirname "$pc_bin"):$bi_bin:$PATH

	# Two namespaces joined by a veth pair, made inside them (never in the
	# root namespace): the pod $POD_IP, the database host $DB_IP.
	ip netns add "$DB"
	ip netns add "$POD"
	ip -n "$POD" link set lo up
	ip -n "$DB" link set lo up
	ip -n "$POD" link add eth0 type veth peer name eth0 netns "$DB"
	ip -n "$POD" addr add "$POD_IP/24" dev eth0
	ip -n "$DB" addr add "$DB_IP/24" dev eth0
	ip -n "$POD" link set eth0 up
	ip -n "$DB" link set eth0 up

	# The external database: a throw-away MariaDB, initialised like
	# Bookinfo's mysqldb-init.sql, with the least-privilege user of the story.
	mkdir -p "$T/db"
	mariadb-install-db --no-defaults --datadir="$T/db/data" --user=mysql \
		--auth-root-authentication-method=socket --skip-test-db >"$T/install-db.log" 2>&1 ||
		die "mariadb-install-db failed: $(tail -n 5 "$T/install-db.log")"
	chown mysql: "$T/db"
	start mariadbd ip netns exec "$DB" mariadbd --no-defaults --user=mysql \
		--datadir="$T/db/data" --socket="$T/db/mysqld.sock" --pid-file="$T/db/mariadbd.pid" \
		--bind-address="$DB_IP" --port="$DB_PORT" --skip-name-resolve \
		--innodb-buffer-pool-size=16M --log-error="$T/db/error.log"
	wait_for "mariadbd" 30 mariadb-admin --no-defaults -S "$T/db/mysqld.sock" -u root ping
	pw=$(head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')
	mariadb --no-defaults -S "$T/db/mysqld.sock" -u root <<-EOF
		CREATE DATABASE test;
		USE test;
		CREATE TABLE ratings (ReviewID INT NOT NULL, Rating INT, PRIMARY KEY (ReviewID));
		INSERT INTO ratings (ReviewID, Rating) VALUES (1, 5), (2, 4);
		CREATE USER 'bookinfo'@'%' IDENTIFIED BY '$pw';
		GRANT SELECT ON test.ratings TO 'bookinfo'@'%';
	EOF
	# The password stays out of argv and shell history (the story's advice):
	# the mariadb client reads it from this file, ratings from its environment.
	(
		umask 077
		printf '[client]\nuser=bookinfo\npassword=%s\nhost=%s\nport=%s\ndatabase=test\n' \
			"$pw" "$DB_IP" "$DB_PORT" >"$T/bookinfo.cnf"
	)

	# The sidecar: capture the pod's outbound TCP, run the proxy (REGISTRY_ONLY,
	# its own store and API socket here; admin endpoint on the pod's 127.0.0.1:15000).
	in_pod portcullis iptables >"$T/iptables.log" 2>&1 ||
		die "portcullis iptables failed: $(cat "$T/iptables.log")"
	mkdir -p "$T/state" "$T/access"
	chown 1337:1337 "$T/access" # the proxy writes its access log after dropping to uid 1337
	# The admin endpoint's flags came with issue 5: pass them where the binary has them.
	local run_help extra=()
	run_help=$("$pc_bin" run --help 2>&1 || true)
	case $run_help in *--admin*) extra+=(--admin "$ADMIN") ;; esac
	case $run_help in *--workload*) extra+=(--workload ratings-v2-mysql --namespace default \
		--labels "app=ratings,version=v2-mysql") ;; esac
	start portcullis ip netns exec "$POD" "$pc_bin" run --state-dir "$T/state" \
		--api-socket "$T/api.sock" --outbound-traffic-policy REGISTRY_ONLY \
		--access-log "$T/access/access.log" --drain-duration 1s --concurrency 2 "${extra[@]}"
	wait_for "portcullis run" 15 grep -q 'msg="\{0,1\}ready' "$T/portcullis.log"
	wait_for "the portcullis API" 10 portcullis get se --server "unix:$T/api.sock"

	# The app: ratings (reads MySQL as bookinfo, through the sidecar) and
	# productpage (calls ratings over the pod's loopback, not captured).
	start ratings ip netns exec "$POD" env MYSQL_DB_HOST="$DB_IP" MYSQL_DB_PORT="$DB_PORT" \
		MYSQL_DB_USER=bookinfo MYSQL_DB_PASSWORD="$pw" \
		RATINGS_LISTEN="127.0.0.1:$RATINGS_PORT" "$bi_bin/ratings"
	start productpage ip netns exec "$POD" env PRODUCTPAGE_LISTEN="127.0.0.1:$PAGE_PORT" \
		RATINGS_URL="http://127.0.0.1:$RATINGS_PORT/ratings/0" "$bi_bin/productpage"
	wait_for "ratings" 10 in_pod curl -sf "http://127.0.0.1:$RATINGS_PORT/health"
	wait_for "productpage" 10 in_pod curl -sf "http://127.0.0.1:$PAGE_PORT/health"

	# The host's way in: 127.0.0.1:PORT here, each connection relayed by a
	# socat that enters the pod. No TEST-NET address in the root namespace.
	start socat socat "TCP-LISTEN:$host_port,bind=127.0.0.1,reuseaddr,fork" \
		"EXEC:ip netns exec $POD socat STDIO TCP\\:127.0.0.1\\:$PAGE_PORT"
	wait_for "the host's 127.0.0.1:$host_port" 10 \
		curl -sf "http://127.0.0.1:$host_port/health"

	URL=http://127.0.0.1:$host_port/productpage
	SERVER=unix:$T/api.sock
	cat >>"$T/demo.env" <<-EOF
		STATE_DIR=$T
		URL=$URL
		SERVER=$SERVER
		ADMIN=$ADMIN
		PORTCULLIS=$pc_bin
		BOOKINFO_BIN=$bi_bin
		MYSQL_CNF=$T/bookinfo.cnf
		DB_SOCKET=$T/db/mysqld.sock
		ACCESS_LOG=$T/access/access.log
		PROXY_LOG=$T/portcullis.log
		PROXY_PID=$(awk '$1 == "portcullis" {print $2}' "$T/pids")
	EOF
}

# --- narration ---------------------------------------------------------------

if [ -t 1 ]; then
	B=$'\033[1m' D=$'\033[2m' N=$'\033[0m'
else
	B='' D='' N=''
fi

step() {
	if [ "$interactive" = 1 ]; then
		printf '\n%s[press Enter for step %s; the page is at %s]%s ' "$D" "$1" "$URL" "$N"
		read -r _ || true
	fi
	printf '\n%s== %s. %s%s\n' "$B" "$1" "$2" "$N"
}

# show CMD: print CMD as the user would type it, then run it (eval: pipes,
# here-documents). A failing command is shown, not fatal.
show() {
	printf '%s$ %s%s\n' "$B" "$1" "$N"
	eval "$1" 2>&1 || true
}

note() { printf '%s# %s%s\n' "$D" "$*" "$N"; }

page_cmd() {
	printf '%s\n' "curl -s -w 'HTTP %{http_code}\\n' $URL | sed -n 's/<[^>]*>//g; /^Reviewer[12]:/p; /^HTTP /p'"
}

SE_YAML="apiVersion: networking.istio.io/v1alpha3
kind: ServiceEntry
metadata:
  name: mysql-external
spec:
  hosts:
  - $DB_HOST
  addresses:
  - $DB_IP/32
  ports:
  - name: tcp
    number: $DB_PORT
    protocol: TCP
  location: MESH_EXTERNAL
  resolution: STATIC
  endpoints:
  - address: $DB_IP"

narrate() {
	local pid srv="--server $SERVER" ok=1 mysql_q admin
	mysql_q="ip netns exec $POD mariadb --defaults-file=$T/bookinfo.cnf -e 'SELECT * FROM ratings'"
	echo "${B}portcullis demo: Bookinfo's ratings in an external MariaDB, behind the sidecar${N}"
	note "state: $T (namespaces $POD, $DB; temp dir)"
	note "pod $POD: productpage 127.0.0.1:$PAGE_PORT -> ratings 127.0.0.1:$RATINGS_PORT -> MySQL $DB_IP:$DB_PORT (captured by portcullis)"
	note "the page, from this host: $URL"
	pid=$(sed -n 's/^PROXY_PID=//p' "$T/demo.env")
	# The admin endpoint (doc/admin.md) and `portcullis top` arrived with issue 5.
	admin=0
	if in_pod curl -sf -o /dev/null "http://$ADMIN/stats/prometheus" &&
		portcullis top --help >/dev/null 2>&1; then
		admin=1
	fi

	step 1 "Blocked by default: no ServiceEntry for the database (REGISTRY_ONLY)"
	show "$(page_cmd)"
	show "ip netns exec $POD curl -s http://127.0.0.1:$RATINGS_PORT/ratings/0; echo"
	note "the sidecar's access log: cluster BlackHoleCluster, flag UH (no healthy upstream)"
	show "grep '$DB_IP:$DB_PORT' $T/access/access.log | tail -n 1"
	if [ "$admin" = 1 ]; then
		note "why, from the admin endpoint (127.0.0.1:15000 in the pod):"
		show "ip netns exec $POD portcullis top --once"
	else
		note "(this portcullis has no admin endpoint yet: the sidecar's log says why)"
		show "grep 'connection denied' $T/portcullis.log | tail -n 1"
	fi
	note "what a MySQL client itself sees through the sidecar:"
	show "$mysql_q"

	step 2 "Open exactly the database: a TCP ServiceEntry, applied live"
	show "portcullis apply $srv -f - <<'EOF'
$SE_YAML
EOF"
	show "$(page_cmd)"
	show "$mysql_q"

	step 3 "Prove the external database is the one in use: every rating set to 1"
	show "ip netns exec $DB mariadb --no-defaults -S $T/db/mysqld.sock -u root -e 'UPDATE test.ratings SET Rating=1'"
	show "$(page_cmd)"

	step 4 "The entry as stored"
	show "portcullis get serviceentry mysql-external -o yaml $srv"

	step 5 "Metrics for the MySQL destination"
	if [ "$admin" = 1 ]; then
		show "ip netns exec $POD curl -s http://$ADMIN/stats/prometheus | grep -E '^istio_tcp_.*destination_service=\"$DB_HOST\"' | sed -E 's/\\{.*(destination_service=\"[^\"]*\").*\\}/{\\1,...}/'"
		show "ip netns exec $POD portcullis top --once"
	else
		note "(this portcullis has no admin endpoint yet: bytes and connections from the access log)"
		show "grep 'outbound|$DB_PORT||$DB_HOST' $T/access/access.log"
	fi

	step 6 "Close it again: delete the entry, live, nothing restarted"
	show "portcullis delete serviceentry mysql-external $srv"
	show "$(page_cmd)"
	show "$mysql_q"
	if is_ours "$pid" "$PCDEMO_TAG"; then
		note "portcullis run is still pid $pid, as in step 1: the policy changed in place"
	else
		ok=0
		note "portcullis run (pid $pid) is gone!"
	fi
	echo
	[ "$ok" = 1 ]
}

# --- main --------------------------------------------------------------------

while [ $# -gt 0 ]; do
	case $1 in
	--interactive) interactive=1 ;;
	--portcullis) pc_bin=${2:?--portcullis needs a path} && shift ;;
	--bin) bi_bin=${2:?--bin needs a directory} && shift ;;
	--port) host_port=${2:?--port needs a number} && shift ;;
	up) mode=up ;;
	down)
		mode=down
		down_dir=${2:?down needs the STATE_DIR that up printed}
		shift
		;;
	-h | --help) usage 0 ;;
	*) echo "demo: unknown argument $1" >&2 && usage ;;
	esac
	shift
done

if [ "$mode" = down ]; then
	[ "$(id -u)" = 0 ] || die "needs root"
	case $down_dir in
	/tmp/pcdemo.*) ;;
	*) die "$down_dir is not a demo state dir (/tmp/pcdemo.*)" ;;
	esac
	[ -d "$down_dir" ] || die "no state dir $down_dir"
	teardown "$down_dir"
	exit 0
fi

trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
setup
if [ "$mode" = up ]; then
	cat "$T/demo.env"
	T= # leave it all running: `demo.sh down STATE_DIR` removes it
	exit 0
fi
narrate
