#!/bin/sh
# layout.sh - lib/ includes nothing from daemon/: every quoted include in
# lib/ names config.h, the public kvscreen/plugin.h, or a header in lib/.
set -eu
src=${KVS_SRCDIR:-.}
bad=0
for f in $(find "$src/lib" -name '*.[ch]' | LC_ALL=C sort); do
	for h in $(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f"); do
		case "$h" in
		config.h | kvscreen/plugin.h) continue ;;
		esac
		if [ -z "$(find "$src/lib" -name "$h" -print -quit)" ]; then
			echo "FAIL: ${f#$src/} includes \"$h\", which is not in lib/"
			bad=1
		fi
	done
done
[ "$bad" = 0 ] && echo "ok - lib/ includes only lib/ headers and the public ABI"
exit "$bad"
