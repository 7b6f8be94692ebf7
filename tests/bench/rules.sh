#!/bin/sh
# rules.sh - benchmark of the rule engine: every shipped export_control rule over >= 50 MB of
# CORDIS objectives and list texts on one thread, prefilter on and off, and two peers with the same
# patterns: ripgrep (with Unicode \b, its default, and with ASCII \b, (?-u:\b)) and Vectorscan or
# Hyperscan (tests/bench/bench_hs, built when configure finds libhs).
#
# Usage: tests/bench/rules.sh [MB]   (MB screened by the engine, default 50; RG_PCRE2=1 runs rg -P)
# Not part of make check: it takes a minute and its numbers depend on the machine.
set -eu
src=${KVS_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${KVS_BUILDDIR:-.}
mb=${1:-50}
drv="$build/tests/bench/bench_rules"
[ -x "$drv" ] || make -s -C "$build" tests/bench/bench_rules
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "== rule engine (one thread, CPU time) =="
"$drv" -r "$src" -m "$mb" -o "$tmp/pass.txt" -P "$tmp/patterns.txt"
echo "== rule engine, CORDIS texts only (no list texts) =="
"$drv" -r "$src" -m "$mb" -C -n | tail -n 1
echo "== rule engine, list texts only (no CORDIS texts) =="
"$drv" -r "$src" -m "$mb" -L -n -o "$tmp/lists.txt" | tail -n 1

if command -v rg >/dev/null 2>&1; then
	# ripgrep is far slower on these 560 caseless Unicode patterns (its
	# automata give up on Unicode word boundaries), so it reads one pass of
	# the corpus (RG_MB megabytes at most, default: one pass) instead of all.
	size=$(wc -c < "$tmp/pass.txt")
	engine=""
	[ "${RG_PCRE2:-0}" = 1 ] && engine="-P"
	# The same patterns with ASCII word boundaries: rg's fast automata
	# take them (same matching lines on this mostly ASCII corpus).
	sed 's/\\b/(?-u:\\b)/g' "$tmp/patterns.txt" > "$tmp/patterns-ascii.txt"
	for kind in unicode ascii; do
		pf="$tmp/patterns.txt"
		[ "$kind" = ascii ] && pf="$tmp/patterns-ascii.txt"
		t0=$(date +%s.%N)
		rg -j1 -c -i $engine -f "$pf" "$tmp/pass.txt" > "$tmp/rg.out" || true
		t1=$(date +%s.%N)
		echo "== ripgrep $(rg --version | sed -n 1p | cut -d' ' -f2) ${engine:+(pcre2) }-j1 -c -i -f PATTERNS ($(wc -l < "$pf") patterns, $kind word boundaries), one pass =="
		echo "$size $t0 $t1 $(cat "$tmp/rg.out")" | awk '{ printf "ripgrep: %7.2f MB/s  (%.2f MB in %.2f s wall, %d matching lines)\n", $1 / 1e6 / ($3 - $2), $1 / 1e6, $3 - $2, $4 }'
	done
	echo "== rule engine on the same pass =="
	"$drv" -r "$src" -m "$(echo "$size" | awk '{ print $1 / 1e6 }')" | grep prefilter
else
	echo "ripgrep (Debian package ripgrep) not installed: comparison skipped"
fi

hs="$build/tests/bench/bench_hs"
if [ -x "$hs" ]; then
	# Vectorscan refuses \b with Unicode classes, so its patterns have
	# ASCII \b, \w and \s; each line of the corpus is one block.
	echo "== Vectorscan/Hyperscan, same patterns, one thread (CPU time), CORDIS + list texts =="
	"$hs" -p "$tmp/patterns.txt" -c "$tmp/pass.txt" -m "$mb"
	echo "== Vectorscan/Hyperscan, list texts only =="
	"$hs" -p "$tmp/patterns.txt" -c "$tmp/lists.txt" -m "$mb" | tail -n 1
else
	echo "Vectorscan/Hyperscan peer skipped: configure did not find libhs (apt-get install libvectorscan-dev, or libhyperscan-dev, and configure again)"
fi
