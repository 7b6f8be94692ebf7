#!/bin/sh
# layout.sh - the include graph follows the layout (see each folder's
# README.md): lib/ includes nothing from daemon/, a plugin only the public
# ABI and its own folder, and no two units include each other, directly or
# through others (a unit is a .c and its .h; foo_int.h belongs to foo).
set -eu
src=${KVS_SRCDIR:-.}
bad=0

# The folders searched for "header.h" after the includer's own folder, in
# the order of AM_CPPFLAGS in Makefile.am.
IPATH="include daemon daemon/core daemon/intake daemon/delivery daemon/util lib lib/rules lib/lists"

# edges ROOT: one line "unit-from unit-to" per quoted include between two
# units under ROOT (daemon, lib, plugins, include), config.h left out.
edges() {
	(cd "$1" && find daemon lib plugins include -name '*.[ch]' 2>/dev/null | LC_ALL=C sort) |
	awk -v root="$1" -v ipath="$IPATH" '
	function dir(p) { return sub(/\/[^\/]*$/, "", p) ? p : "." }
	function unit(p) { sub(/\.[ch]$/, "", p); sub(/_int$/, "", p); return p }
	{ file[NR] = $0; have[$0] = 1 }
	END {
		nd = split(ipath, ip, " ")
		for (i = 1; i <= NR; i++) {
			f = file[i]
			while ((getline line < (root "/" f)) > 0) {
				if (line !~ /^[ \t]*#[ \t]*include[ \t]*"/)
					continue
				h = line
				sub(/^[^"]*"/, "", h)
				sub(/".*/, "", h)
				if (h == "config.h")
					continue
				t = dir(f) "/" h
				if (!(t in have))
					for (k = 1; k <= nd; k++)
						if (((t = ip[k] "/" h) in have))
							break
				if ((t in have) && unit(f) != unit(t))
					print unit(f), unit(t)
			}
			close(root "/" f)
		}
	}' | LC_ALL=C sort -u
}

# circles: reads edges, prints each group of units that include each other
# (directly or through others; a strongly connected component of two or
# more units) as one line of their names, sorted.
circles() {
	awk '
	{ r[$1, $2] = 1; node[$1] = 1; node[$2] = 1 }
	END {
		for (k in node) for (i in node) if (r[i, k]) for (j in node) if (r[k, j]) r[i, j] = 1
		for (i in node) {
			s = ""; m = 0
			for (j in node) if (i == j || (r[i, j] && r[j, i])) { g[++m] = j }
			if (m < 2) continue
			for (a = 2; a <= m; a++) for (b = a; b > 1 && g[b - 1] > g[b]; b--) { x = g[b]; g[b] = g[b - 1]; g[b - 1] = x }
			for (a = 1; a <= m; a++) s = s (a > 1 ? " " : "") g[a]
			found[s] = 1
		}
		for (s in found) print s
	}' | LC_ALL=C sort
}

# 1. lib/ includes only lib/ headers and the public ABI.
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

# 2. A plugin includes the public ABI and its own folder only.
e=$(edges "$src" | awk '$1 ~ /^plugins\// {
	split($1, a, "/"); if ($2 !~ "^plugins/" a[2] "/" && $2 != "include/kvscreen/plugin") print }')
if [ -n "$e" ]; then
	echo "$e" | sed 's/^/FAIL: a plugin reaches outside its folder: /'
	bad=1
else
	echo "ok - plugins include only kvscreen/plugin.h and their own folder"
fi

# 3. The circle finder finds a circle: a planted one of three units.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/lib/rules" "$tmp/daemon/core"
printf '#include "b.h"\n' > "$tmp/lib/rules/a.c"
: > "$tmp/lib/rules/a.h"
printf '#include "c.h"\n' > "$tmp/lib/rules/b.h"
printf '#include "a.h"\n#include "config.h"\n' > "$tmp/daemon/core/c.c"
: > "$tmp/daemon/core/c.h"
planted=$(edges "$tmp" | circles)
if [ "$planted" = "daemon/core/c lib/rules/a lib/rules/b" ]; then
	echo "ok - the circle finder finds a planted circle across folders"
else
	echo "FAIL: the circle finder missed a planted circle (found: '$planted')"
	bad=1
fi

# 4. No include circles between units: lib/ takes what it needs of its
# caller through a load environment, the list service through lists_host_env.
n_edges=$(edges "$src" | wc -l)
found=$(edges "$src" | circles)
if [ -z "$found" ]; then
	echo "ok - no include circles ($n_edges include edges between units)"
else
	echo "$found" | while read -r c; do
		echo "FAIL: include circle: $c"
	done
	bad=1
fi
exit "$bad"
