#!/bin/sh
# investment.sh - run the investment plugin benchmark from a build tree (not part of make check:
# timings under the sanitizers or a loaded machine say nothing).
# Usage: tests/bench/investment.sh [ITERATIONS]
set -e
top=$(cd "$(dirname "$0")/../.." && pwd)
: "${KVS_SRCDIR:=$top}"
: "${KVS_BUILDDIR:=$top}"
export KVS_SRCDIR KVS_BUILDDIR
make -C "$KVS_BUILDDIR" -s plugins/investment/investment.la tests/bench/bench_investment
exec "$KVS_BUILDDIR/tests/bench/bench_investment" "${1:-2000}"
