#!/bin/sh
# outbox.sh - durable verdicts/s through the outbox with group commit versus
# one commit (file fsync + two folder fsyncs) per verdict, and the time to
# open a store of 100k verdicts.  A benchmark, not a test: run it by hand
# from the build tree after make check (which builds the driver):
#   KVS_BUILDDIR=. tests/bench/outbox.sh [FOLDER]
# FOLDER (default: var-bench/ in the build tree) must be on the disk the
# daemon's state lives on; on tmpfs fsync costs nothing.  DROP_CACHES=1 (as
# root) also times an open with a cold page cache.
set -eu
builddir=${KVS_BUILDDIR:-.}
bench=$builddir/tests/bench/outbox_bench
[ -x "$bench" ] || make -C "$builddir" tests/bench/outbox_bench >/dev/null
base=${1:-$builddir/var-bench}
mkdir -p "$base"
work=$(mktemp -d "$base/outbox.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
echo "outbox benchmark in $work ($(df -T "$work" | awk 'NR==2 {print $2}'), $(nproc) cores)"
# The disk of a shared machine is noisy: every configuration runs ROUNDS
# times (default 3), interleaved with the others, and the median counts.
rounds=${ROUNDS:-3}
configs="2000:64:1:fdatasync 1000:1:4096:fdatasync 4000:16:4096:fdatasync
10000:64:4096:fdatasync 20000:256:4096:fdatasync 4000:16:4096:syncfs
10000:64:4096:syncfs 20000:256:4096:syncfs"
results=$work/results
: >"$results"
r=0
while [ "$r" -lt "$rounds" ]; do
	for c in $configs; do
		IFS=: read -r count inflight limit sync <<-EOF
		$c
		EOF
		rm -rf "$work/state"
		if [ "$sync" = syncfs ]; then
			line=$("$bench" put "$work/state" "$count" "$inflight" "$limit" syncfs)
		else
			line=$("$bench" put "$work/state" "$count" "$inflight" "$limit")
		fi
		rate=${line##*verdicts_per_s=}
		echo "$c ${rate%% *}" >>"$results"
	done
	r=$((r + 1))
done
printf '%-44s %s\n' "configuration (verdicts in flight, batch limit, sync)" "median durable verdicts/s"
for c in $configs; do
	IFS=: read -r count inflight limit sync <<-EOF
	$c
	EOF
	median=$(awk -v c="$c" '$1 == c {print $2}' "$results" | sort -n |
		awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}')
	all=$(awk -v c="$c" '$1 == c {printf "%s ", $2}' "$results")
	if [ "$limit" = 1 ]; then
		what="one commit per verdict"
	else
		what="group commit"
	fi
	printf '%-44s %6s   (runs: %s)\n' "$what, $inflight, $limit, $sync" "$median" "$all"
done
echo "== open with 100k stored verdicts"
rm -rf "$work/state"
"$bench" open "$work/state" 100000
if [ "${DROP_CACHES:-0}" = 1 ]; then
	sync
	echo 3 >/proc/sys/vm/drop_caches
	echo "== the same, page cache dropped"
	"$bench" open "$work/state" 0
fi
