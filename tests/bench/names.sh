#!/bin/sh
# names.sh - benchmark of list loading and name matching against all lists.
#
# Loads every list of ../shared/data that the list service reads (OFAC SDN
# and non-SDN, CSL, UN, EU, ASPI, DoD 1260H and 1286, BIS DPL, plus the
# institute example list) and
# matches the European organisation names of the CORDIS sample plus
# variants of listed names (reordered OFAC names and the test set of
# tests/data/names) against all of them on one thread: prints load
# time, names matched per second, p50/p99 latency, the index's speed-up
# over brute force and resident memory.  Exit 77 (skip) without the data.
set -e
SRC=${KVS_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${KVS_BUILDDIR:-$SRC}
# ../shared/data beside the tree, or a few folders up (the sanitizer's copy).
DATA=${KVS_SHARED_DATA:-}
if [ -z "$DATA" ]; then
	for up in .. ../.. ../../.. ../../../..; do
		if [ -f "$SRC/$up/shared/data/INDEX.txt" ]; then
			DATA=$SRC/$up/shared/data
			break
		fi
	done
fi
[ -n "$DATA" ] && [ -f "$DATA/INDEX.txt" ] || { echo "no shared/data found: skipped"; exit 77; }
BIN=$BUILD/tests/bench/names
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# Queries: organisation names from CORDIS (not on any list, mostly) and the
# first names of each list reordered, as officers might type them.
awk -F, 'NR > 1 { print $3 }' "$DATA/cordis-china-partner-projects/organizations.csv" |
	tr -d '"' | sort -u | head -n 4000 > "$TMP/q.txt"
awk -F, '{ gsub(/"/, "", $2); n = split($2, w, /[ ,]+/); s = "";
	for (i = n; i >= 1; i--) s = s " " w[i]; print s }' "$DATA/ofac-sdn-2021/sdn.csv" |
	head -n 1000 >> "$TMP/q.txt"

# Variants of listed institutions and companies (tests/data/names).
grep -v '^#' "$SRC/tests/data/names/variants.tsv" | cut -f4 >> "$TMP/q.txt"

set -- \
	"ofac:ofac_sdn:critical:$DATA/ofac-sdn-2021/sdn.csv" \
	"ofac:ofac_nonsdn:high:$DATA/ofac-consolidated-nonsdn-2025/cons_prim.csv" \
	"csl:csl:high:$DATA/us-csl-2023-subset/csl.csv" \
	"un:un:critical:$DATA/un-sc-consolidated-2026/UN_consolidated.xml" \
	"eu:eu:critical:$DATA/eu-sanctions-by-regulation/consolidated" \
	"aspi:aspi:medium:$DATA/aspi-china-defence-universities/china-defence-universities.json" \
	"table:dod_1260h:high:$DATA/us-dod-1260h-chinese-military-companies/sanctions.csv" \
	"table:dod_1286:medium:$DATA/us-dod-section-1286/section_1286.csv" \
	"table:bis_dpl:high:$DATA/bis-denied-persons-2023/dpl.txt" \
	"kvs:institute_own:high:$SRC/conf/lists/institute-own.csv"

echo "== load and match (index), ${REPEAT:-3} rounds of $(wc -l < "$TMP/q.txt") names"
/usr/bin/time -f "resident memory %M KiB, wall %e s" "$BIN" -n "${REPEAT:-3}" -t 0.86 "$@" -- "$TMP/q.txt"
echo "== index vs brute force (first 300 names)"
head -n 300 "$TMP/q.txt" > "$TMP/q300.txt"
"$BIN" -b -t 0.86 "$@" -- "$TMP/q300.txt" | tail -n 1
