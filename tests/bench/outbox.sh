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
run() {
	rm -rf "$work/state"
	"$bench" put "$work/state" "$@"
}
echo "== one commit per verdict (batch limit 1: fdatasync + 2 folder fsyncs each)"
run 2000 64 1
echo "== group commit, per-file fdatasync, 1 / 16 / 64 / 256 verdicts in flight"
run 1000 1 4096
run 5000 16 4096
run 10000 64 4096
run 20000 256 4096
echo "== group commit, one syncfs per batch, 16 / 64 / 256 verdicts in flight"
run 5000 16 4096 syncfs
run 10000 64 4096 syncfs
run 20000 256 4096 syncfs
echo "== open with 100k stored verdicts"
rm -rf "$work/state"
"$bench" open "$work/state" 100000
if [ "${DROP_CACHES:-0}" = 1 ]; then
	sync
	echo 3 >/proc/sys/vm/drop_caches
	echo "== the same, page cache dropped"
	"$bench" open "$work/state" 0
fi
