#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# scripts/fuzz-long.sh - run every libFuzzer target for a long while and keep
# what it finds (`make fuzz-long`, FUZZ_S=seconds per target, default 600).
#
#   scripts/fuzz-long.sh BUILD_DIR [SECONDS] [JOBS]
#
# Each target starts from its source corpus (fuzz/corpus/<target>, plus the
# seed directories CTest's replay uses) and writes what it finds into a
# scratch directory. At the end the scratch directory is merged into the
# source corpus with -merge=1 -use_counters=0, which keeps only the inputs
# that reach an edge the corpus did not reach (hit counts left out: with
# them a 5 s run kept 1,590 files, without them 446), so the corpus grows
# by what is worth replaying in every CI run (commit it). A crash, leak or timeout leaves its
# input in <BUILD_DIR>/fuzz-long/artifacts/ and fails the run; fix the bug
# and add the input to the corpus so the replay keeps it fixed.
#
# The summary table gives, per target: seconds run, executions, the edge
# coverage (libFuzzer's "cov") and features ("ft") reached, and the corpus
# before and after the merge. Targets run JOBS at a time (default: nproc).
set -u

build=${1:?usage: fuzz-long.sh BUILD_DIR [SECONDS] [JOBS]}
secs=${2:-600}
jobs=${3:-$(nproc)}
src=$(cd "$(dirname "$0")/.." && pwd)
out=$build/fuzz-long
mkdir -p "$out/artifacts"

case $secs in
'' | *[!0-9]*) echo "fuzz-long: FUZZ_S must be a number of seconds, not '$secs'" >&2; exit 2 ;;
esac

targets=()
for f in "$src"/fuzz/fuzz_*.c; do
	t=$(basename "$f" .c)
	t=${t#fuzz_}
	if [ -x "$build/fuzz/fuzz_$t" ]; then
		targets+=("$t")
	else
		echo "fuzz-long: $build/fuzz/fuzz_$t not built (PC_FUZZ=ON with clang)" >&2
		exit 2
	fi
done

# Extra seed directories, as fuzz/CMakeLists.txt gives the replay.
seeds() {
	case $1 in
	manifest) echo "$src/tests/data/valid $src/tests/data/invalid $src/tests/data/hostile" ;;
	hello_diff) echo "$src/fuzz/corpus/sniff" ;;
	esac
}

count() { find "$1" -maxdepth 1 -type f 2>/dev/null | wc -l; }

# One target: fuzz for $secs into a scratch dir, then merge into the corpus.
run_one() {
	local t=$1 corpus=$src/fuzz/corpus/$1 scratch=$out/new-$1 dict=()
	local log=$out/$1.log rc
	rm -rf "$scratch"
	mkdir -p "$scratch" "$corpus"
	[ -f "$src/fuzz/$t.dict" ] && dict=(-dict="$src/fuzz/$t.dict")
	# shellcheck disable=SC2046 # seeds() is a word list of directories
	"$build/fuzz/fuzz_$t" -max_total_time="$secs" -max_len=4096 -rss_limit_mb=2048 \
		-timeout=10 -print_final_stats=1 -artifact_prefix="$out/artifacts/$t-" \
		"${dict[@]}" "$scratch" "$corpus" $(seeds "$t") >"$log" 2>&1
	rc=$?
	echo "$rc" >"$out/$t.rc"
	echo "before $(count "$corpus")" >"$out/$t.corpus"
	"$build/fuzz/fuzz_$t" -merge=1 -use_counters=0 -max_len=4096 "$corpus" "$scratch" >"$out/$t.merge.log" 2>&1
	echo "after $(count "$corpus")" >>"$out/$t.corpus"
}

echo "fuzz-long: ${#targets[@]} targets, $secs s each, $jobs at a time; logs in $out"
start=$(date +%s)
running=0
for t in "${targets[@]}"; do
	run_one "$t" &
	running=$((running + 1))
	if [ "$running" -ge "$jobs" ]; then
		wait -n
		running=$((running - 1))
	fi
done
wait

fail=0
printf '\n%-11s %8s %12s %7s %8s %8s %8s %s\n' target seconds execs cov ft before after result
for t in "${targets[@]}"; do
	log=$out/$t.log
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	run_s=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
	ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
	before=$(sed -n 's/^before //p' "$out/$t.corpus")
	after=$(sed -n 's/^after //p' "$out/$t.corpus")
	rc=$(cat "$out/$t.rc")
	result=ok
	if [ "$rc" != 0 ]; then
		result="FAILED (exit $rc, see $log)"
		fail=1
	fi
	printf '%-11s %8s %12s %7s %8s %8s %8s %s\n' "$t" "${run_s:-$secs}" "${execs:-?}" \
		"${cov:-?}" "${ft:-?}" "$before" "$after" "$result"
done
total=$(($(date +%s) - start))
echo "fuzz-long: $((${#targets[@]} * secs)) target-seconds in $total s of wall time"
if ls "$out"/artifacts/* >/dev/null 2>&1; then
	echo "fuzz-long: findings in $out/artifacts:" >&2
	ls -l "$out"/artifacts >&2
	fail=1
fi
[ "$fail" = 0 ] && echo "fuzz-long: no finding; new corpus entries are in fuzz/corpus (commit them)"
exit "$fail"
