#!/bin/sh
# fsf.sh - load time of an EU FSF consolidated list of mid-2026 size.
#
# Generates a synthetic xmlFullSanctionsList_1_1 file (tests/bench/gen_eu_fsf.py:
# 6,200 entries, 62,000 name aliases, about 25 MB) and prints the best of
# three loads by the eu_fsf loader (XML parse and the name matcher's index),
# the time the daemon spends on it at start and on every reload that sees
# the file changed.  By hand or `make bench`, not in TESTS.
set -e
SRC=${KVS_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${KVS_BUILDDIR:-$SRC}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
python3 "$SRC/tests/bench/gen_eu_fsf.py" "${1:-6200}" "${2:-62000}" > "$TMP/fsf.xml"
echo "file: $(wc -c < "$TMP/fsf.xml") bytes"
"$BUILD/tests/bench/fsf_load" "$TMP/fsf.xml" 3
