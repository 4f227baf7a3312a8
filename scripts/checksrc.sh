#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# checksrc.sh - project rules no compiler checks (modelled on curl's checksrc):
#  - banned functions: strcpy strcat sprintf vsprintf gets strtok atoi atol select alloca
#  - layering: a layer includes only headers of the layers below it
#  - no trailing whitespace
# Exit 1 with one line per violation.
set -u
cd "$(dirname "$0")/.." || exit 2
status=0
files=$(git ls-files 'src/*.c' 'src/*.h' 'tests/*.c' 'tests/*.h' 'fuzz/*.c' 2>/dev/null)
[ -n "$files" ] || files=$(find src tests fuzz -name '*.[ch]')

banned='\b(strcpy|strcat|sprintf|vsprintf|gets|strtok|atoi|atol|select|alloca)[[:space:]]*\('
if grep -nE "$banned" $files; then
	echo "checksrc: banned function (see STYLE.md 3.11)" >&2
	status=1
fi

if grep -nE '[[:space:]]+$' $files; then
	echo "checksrc: trailing whitespace" >&2
	status=1
fi

# Allowed include targets per layer (STYLE.md 3.1: dependencies point down only).
allowed() {
	case "$1" in
	core) echo "core" ;;
	net) echo "core net" ;;
	model) echo "core model" ;;
	policy) echo "core net model policy" ;;
	store) echo "core net model policy store" ;;
	telemetry) echo "core net telemetry" ;;
	proxy) echo "core net model policy store telemetry proxy" ;;
	cli) echo "core net model policy store telemetry cli" ;;
	daemon) echo "core net model policy store telemetry proxy daemon" ;;
	main.c) echo "core cli daemon" ;;
	*) echo "" ;;
	esac
}
for f in $(echo "$files" | tr ' ' '\n' | grep '^src/'); do
	layer=$(echo "$f" | cut -d/ -f2)
	ok=$(allowed "$layer")
	for inc in $(grep -oE '#include "[a-z]+/' "$f" | sed 's/#include "//; s/\///'); do
		case " $ok " in
		*" $inc "*) ;;
		*)
			echo "$f: includes $inc/, above layer $layer" >&2
			status=1
			;;
		esac
	done
done
exit $status
