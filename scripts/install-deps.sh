#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# install-deps.sh - install exactly the Debian 12 packages that portcullis'
# build, tests, fuzzing and benchmarks need, and the proxy's own system user
# and group. Idempotent: packages already present are not touched and apt is
# not consulted at all when nothing is missing, so the make targets can call
# it on every run; the user and group are made only where missing.
set -eu

# The account `portcullis run` hands its state directory and store to and
# becomes (--proxy-uid/--proxy-gid, default 1337 as Istio's istio-proxy;
# doc/state-dir.md): a system user and group of its own, uid and gid 1337
# when free so that the defaults work, no login shell, no home. Checked on
# every run, before the packages (which may all be present). PC_PROXY_USER
# and PC_PROXY_ID override the name and the id (for tests of this script).
ensure_proxy_user() {
	name=${PC_PROXY_USER:-portcullis}
	want=${PC_PROXY_ID:-1337}
	if getent passwd "$name" >/dev/null && getent group "$name" >/dev/null; then
		report_proxy_user "$name" "$want"
		return 0
	fi
	if [ "$(id -u)" -ne 0 ]; then
		echo "install-deps: no '$name' system user or group (run as root to create them)" >&2
		return 0
	fi
	if ! getent group "$name" >/dev/null; then
		if getent group "$want" >/dev/null; then
			groupadd --system "$name"
		else
			groupadd --system --gid "$want" "$name"
		fi
	fi
	if ! getent passwd "$name" >/dev/null; then
		set -- --system --gid "$name" --no-create-home --home-dir /nonexistent \
			--shell /usr/sbin/nologin --comment "portcullis egress proxy"
		if ! getent passwd "$want" >/dev/null; then
			set -- "$@" --uid "$want"
		fi
		useradd "$@" "$name"
	fi
	echo "install-deps: created the '$name' system user ($(id "$name"))" >&2
	report_proxy_user "$name" "$want"
}

# Where the id was taken, the flags must say which one the proxy has.
report_proxy_user() {
	uid=$(id -u "$1")
	gid=$(getent group "$1" | cut -d: -f3)
	if [ "$uid" != "$2" ] || [ "$gid" != "$2" ]; then
		echo "install-deps: '$1' is uid $uid, gid $gid, not $2: run the proxy with" \
			"--proxy-uid $uid --proxy-gid $gid (and 'portcullis iptables' likewise)" >&2
	fi
}

ensure_proxy_user

PKGS="build-essential cmake pkgconf libyaml-dev libhttp-parser-dev libssl-dev libsqlite3-dev libmicrohttpd-dev libcurl4-openssl-dev check clang llvm \
libclang-rt-14-dev python3 python3-pytest clang-format clang-tidy cppcheck \
valgrind time iptables iproute2 dnsmasq-base bind9-dnsutils dnsperf util-linux e2fsprogs \
prometheus mariadb-server mariadb-client libmariadb-dev socat tmux curl openssl chromium"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing="$missing $p"
	fi
done

[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages:$missing (run as root to install them)" >&2
	exit 1
fi

echo "install-deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
