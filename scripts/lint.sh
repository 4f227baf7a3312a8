#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# lint.sh BUILD_DIR - clang-tidy, cppcheck and checksrc over the project's C.
set -eu
build=${1:-build}
cd "$(dirname "$0")/.."
sh scripts/checksrc.sh
cppcheck --project="$build/compile_commands.json" --enable=warning,performance,portability \
	--library=posix --inline-suppr --error-exitcode=1 --suppress=missingIncludeSystem --suppress=readdirCalled \
	--quiet -i"$build"
# clang-tidy counts the warnings it suppressed in system headers on stderr;
# keep only what concerns us, but keep its verdict.
if ! out=$(clang-tidy -p "$build" --quiet $(git ls-files 'src/*.c') 2>&1); then
	printf '%s\n' "$out" | grep -v 'warnings generated\.$'
	echo "lint: clang-tidy failed" >&2
	exit 1
fi
echo "lint: clean"
