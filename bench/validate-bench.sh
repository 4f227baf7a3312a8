#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# validate-bench.sh PORTCULLIS_BIN - how long `portcullis validate` takes on
# one file of 10,000 distinct ServiceEntries, and how much memory it needs.
#
# Prints figures next to the targets (under 1 s wall, under 64 MiB peak RSS);
# it never fails on timing. It exits non-zero only when it cannot measure:
# bad usage, a missing tool, or validate not accepting the generated file.
#
# Environment: N (default 10000) resources, RUNS (default 3) timed runs after
# one warm-up run.
set -eu

usage() {
	echo "usage: $0 PORTCULLIS_BIN" >&2
	exit 2
}

[ $# -eq 1 ] || usage
bin=$1
N=${N:-10000}
RUNS=${RUNS:-3}
here=$(cd "$(dirname "$0")" && pwd)
PYTHON=/usr/bin/python3
TIME=/usr/bin/time

[ -x "$bin" ] || { echo "validate-bench: $bin is not an executable" >&2; exit 1; }
[ -x "$TIME" ] || { echo "validate-bench: $TIME missing (Debian package time)" >&2; exit 1; }
[ -x "$PYTHON" ] || { echo "validate-bench: $PYTHON missing" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/portcullis-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

file=$tmp/serviceentries.yaml
"$PYTHON" "$here/gen-serviceentries.py" "$N" "$file"
size=$(wc -c <"$file")
generated=$(grep -c '^kind: ServiceEntry$' "$file")

# Warm-up (page cache, dynamic loader) and correctness: every entry must be valid.
status=0
"$bin" validate -f "$file" >"$tmp/summary" 2>&1 || status=$?
if [ "$status" -ne 0 ]; then
	echo "validate-bench: validate exited $status on the generated file:" >&2
	tail -n 20 "$tmp/summary" >&2
	exit 1
fi
counted=$(tail -n 1 "$tmp/summary")

best_wall=""
peak_kb=0
i=1
while [ "$i" -le "$RUNS" ]; do
	"$TIME" -v "$bin" validate -q -f "$file" >/dev/null 2>"$tmp/time.$i"
	wall=$(sed -n 's/^.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$tmp/time.$i" |
		awk -F: '{ s = 0; for (k = 1; k <= NF; k++) s = s * 60 + $k; printf "%.3f", s }')
	kb=$(sed -n 's/^[[:space:]]*Maximum resident set size (kbytes): //p' "$tmp/time.$i")
	printf 'run %d: wall %s s, peak RSS %s MiB\n' "$i" "$wall" \
		"$(awk -v k="$kb" 'BEGIN { printf "%.1f", k / 1024 }')"
	if [ -z "$best_wall" ] || awk -v a="$wall" -v b="$best_wall" 'BEGIN { exit !(a < b) }'; then
		best_wall=$wall
	fi
	[ "$kb" -gt "$peak_kb" ] && peak_kb=$kb
	i=$((i + 1))
done

printf '\n'
printf 'binary:     %s (%s)\n' "$bin" "$("$bin" --version)"
printf 'file:       %d bytes (%.1f MiB), %d ServiceEntries generated\n' "$size" \
	"$(awk -v s="$size" 'BEGIN { printf "%.1f", s / 1048576 }')" "$generated"
printf 'validate:   %s\n' "$counted"
printf 'wall time:  %s s (best of %d runs); target: under 1 s\n' "$best_wall" "$RUNS"
printf 'peak RSS:   %s MiB (highest of %d runs); target: under 64 MiB\n' \
	"$(awk -v k="$peak_kb" 'BEGIN { printf "%.1f", k / 1024 }')" "$RUNS"
