#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# install-deps.sh - install exactly the Debian 12 packages that portcullis'
# build, tests, fuzzing and benchmarks need. Idempotent: packages already
# present are not touched and apt is not consulted at all when nothing is
# missing, so the make targets can call it on every run.
set -eu

PKGS="build-essential cmake pkgconf libyaml-dev libhttp-parser-dev libssl-dev libsqlite3-dev libmicrohttpd-dev libcurl4-openssl-dev check clang llvm \
libclang-rt-14-dev python3 python3-pytest clang-format clang-tidy cppcheck \
valgrind time iptables iproute2 dnsmasq-base util-linux e2fsprogs \
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
