#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# checksrc.sh - project rules no compiler checks (modelled on curl's checksrc):
#  - banned functions: strcpy strcat sprintf vsprintf gets strtok atoi atol select alloca
#  - layering: a layer includes only headers of the layers it links, and the
#    layer table below says what CMakeLists.txt's links say
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

# The layer table (doc/internals/layers.md): each layer of src/ and the layers
# it links directly. "main" is src/main.c, the executable above every layer.
# It must say exactly what CMakeLists.txt's target_link_libraries(pc_<layer>
# ...) and target_link_libraries(portcullis ...) lines say, and a file of a
# layer (src/<layer>/, tests/unit/<layer>/) may include only headers of its
# own layer and of the layers the table reaches from it, directly or not:
# the include graph, the link graph and this table are one graph.
layers='
core:
net: core
model: core
policy: core net model
store: core
proxy: core net policy
dns: core net
cli: core net model policy
daemon: core net model policy proxy store dns
main: cli daemon
'

direct() {
	printf '%s\n' "$layers" | sed -n "s/^$1:[[:space:]]*//p"
}

# The layers <layer> reaches through the table, itself included, as " a b c ".
reach() {
	seen=" $1 "
	todo=$1
	while [ -n "$todo" ]; do
		next=
		for l in $todo; do
			for d in $(direct "$l"); do
				case "$seen" in
				*" $d "*) ;;
				*)
					seen="$seen$d "
					next="$next $d"
					;;
				esac
			done
		done
		todo=$next
	done
	echo "$seen"
}

# The words of $@ sorted, on one line.
sorted() {
	printf '%s\n' "$@" | sed '/^$/d' | sort | tr '\n' ' ' | sed 's/ $//'
}

# "layer: deps" from CMakeLists.txt's link lines, deps sorted: pc_<layer>
# targets and the portcullis executable (main), several lines of one target
# merged; other libraries (pc_testutil, PkgConfig::...) are ignored.
cmake_links() {
	{ sed 's/#.*//' CMakeLists.txt | tr '\n' ' ' && echo; } |
		sed 's/target_link_libraries(/\n&/g' |
		sed -n 's/^target_link_libraries(\([^)]*\)).*/\1/p' |
		while read -r target rest; do
			case "$target" in
			pc_*) layer=${target#pc_} ;;
			portcullis) layer=main ;;
			*) continue ;;
			esac
			for dep in $rest; do
				echo "$layer $dep"
			done
			echo "$layer"
		done | sort -u | awk '
			{ if (!($1 in deps)) deps[$1] = ""
			  if ($2 ~ /^pc_/ && $2 != "pc_testutil") deps[$1] = deps[$1] " " substr($2, 4) }
			END { for (l in deps) print l ":" deps[l] }' |
		while IFS=: read -r layer deps; do
			echo "$layer: $(sorted $deps)"
		done | sort
}

table_links() {
	printf '%s\n' "$layers" | grep : | while IFS=: read -r layer deps; do
		echo "$layer: $(sorted $deps)"
	done | sort
}

tmp=$(mktemp) || exit 2
cmake_links >"$tmp"
if ! out=$(table_links | diff - "$tmp"); then
	printf '%s\n' "$out" | sed -n 's/^</  checksrc table:/p; s/^>/  CMakeLists.txt:/p' >&2
	echo "checksrc: the layer table disagrees with CMakeLists.txt's links" >&2
	status=1
fi
rm -f "$tmp"

for d in src/*/; do
	d=$(basename "$d")
	printf '%s\n' "$layers" | grep -q "^$d:" || {
		echo "checksrc: src/$d/ is no layer of the table" >&2
		status=1
	}
done
for layer in $(printf '%s\n' "$layers" | sed -n 's/:.*//p'); do
	[ "$layer" = main ] || [ -d "src/$layer" ] || {
		echo "checksrc: layer $layer has no directory src/$layer/" >&2
		status=1
	}
done

for f in $(echo "$files" | tr ' ' '\n' | grep -E '^(src|tests/unit)/'); do
	case "$f" in
	src/*/*) layer=$(echo "$f" | cut -d/ -f2) ;;
	src/*) layer=main ;;
	tests/unit/*/*) layer=$(echo "$f" | cut -d/ -f3) ;;
	*) continue ;;
	esac
	ok=$(reach "$layer")
	for inc in $(grep -oE '#include "[a-z]+/' "$f" | sed 's/#include "//; s/\///'); do
		case "$ok" in
		*" $inc "*) ;;
		*)
			echo "$f: includes $inc/, which layer $layer does not link" >&2
			status=1
			;;
		esac
	done
done
exit $status
