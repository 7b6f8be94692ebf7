#!/bin/sh
# rules.sh - benchmark of the rule engine: every shipped export_control rule over >= 50 MB of
# CORDIS objectives and list texts on one thread, prefilter on and off, and ripgrep with the same patterns.
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
"$drv" -r "$src" -m "$mb" -L -n | tail -n 1

if command -v rg >/dev/null 2>&1; then
	# ripgrep is far slower on these 560 caseless Unicode patterns (its
	# automata give up on Unicode word boundaries), so it reads one pass of
	# the corpus (RG_MB megabytes at most, default: one pass) instead of all.
	size=$(wc -c < "$tmp/pass.txt")
	engine=""
	[ "${RG_PCRE2:-0}" = 1 ] && engine="-P"
	t0=$(date +%s.%N)
	rg -j1 -c -i $engine -f "$tmp/patterns.txt" "$tmp/pass.txt" > "$tmp/rg.out" || true
	t1=$(date +%s.%N)
	echo "== ripgrep $(rg --version | sed -n 1p | cut -d' ' -f2) ${engine:+(pcre2) }-j1 -c -i -f PATTERNS ($(wc -l < "$tmp/patterns.txt") patterns), one pass =="
	echo "$size $t0 $t1 $(cat "$tmp/rg.out")" | awk '{ printf "ripgrep: %7.2f MB/s  (%.2f MB in %.2f s wall, %d matching lines)\n", $1 / 1e6 / ($3 - $2), $1 / 1e6, $3 - $2, $4 }'
	echo "== rule engine on the same pass =="
	"$drv" -r "$src" -m "$(echo "$size" | awk '{ print $1 / 1e6 }')" | grep prefilter
else
	echo "ripgrep (Debian package ripgrep) not installed: comparison skipped"
fi
