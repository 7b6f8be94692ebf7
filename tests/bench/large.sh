#!/bin/bash
# large.sh - time of one screening with a long description: a partnership
# request whose description is SIZE bytes of real CORDIS objectives, sent
# again and again on one connection (tests/bench/api.sh with BENCH_BODY), all
# four plugins, durability on; and the rule engine alone on the same text
# (bench_rules -F), for comparison.
#
# Usage: tests/bench/large.sh [DURATION_S] [SIZE...]   # defaults: 10  1024 102400 1048576
# Env:   KVS_BUILDDIR, KVS_SRCDIR as for api.sh; BENCH_LIMITS (default: limits
#        raised so that the largest request fits; for a build that predates
#        the 1 MiB default of max_string).
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
: "${KVS_BUILDDIR:=$(cd "$HERE/../.." && pwd)}"
: "${KVS_SRCDIR:=$(cd "$HERE/../.." && pwd)}"
export KVS_BUILDDIR KVS_SRCDIR
DUR=${1:-10}
shift || true
SIZES=${*:-1024 102400 1048576}
DATA=$KVS_SRCDIR/../shared/data/cordis-china-partner-projects/projects.csv
[ -r "$DATA" ] || { echo "$DATA not found: skipped"; exit 77; }
command -v python3 >/dev/null || { echo "python3 not found: skipped"; exit 77; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

for size in $SIZES; do
	# The description: objectives in file order, cut to SIZE bytes on a
	# character boundary.
	python3 - "$DATA" "$size" "$T/req-$size.json" "$T/text-$size" <<'PY'
import csv, json, sys
src, size, out, text = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
csv.field_size_limit(1 << 24)
parts, n = [], 0
while n < size:
    with open(src, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            o = row["objective"].strip() + "\n\n"
            parts.append(o)
            n += len(o.encode())
            if n >= size:
                break
desc = "".join(parts).encode()[:size].decode("utf-8", "ignore")
req = {
    "schema": "kvscreen.request/v1", "id": "large", "type": "partnership",
    "title": "Joint research on advanced materials",
    "description": desc,
    "parties": [{"role": "partner", "name": "Beihang University", "country": "CN",
                 "kind": "university"}],
    "cooperation": {"form": "joint_research", "duration_months": 36},
}
open(out, "w", encoding="utf-8").write(json.dumps(req, ensure_ascii=False))
open(text, "w", encoding="utf-8").write(desc)
PY
	echo "== description of $size bytes (request $(wc -c < "$T/req-$size.json") bytes), one connection, $DUR s"
	BENCH_BODY="$T/req-$size.json" \
	BENCH_LIMITS="${BENCH_LIMITS:-max_string=4194304 max_text=4194304 max_request_bytes=8388608}" \
		"$HERE/api.sh" "$DUR" 1 1 | grep -E 'screenings/s|requests|latency|CPU'
	if [ -x "$KVS_BUILDDIR/tests/bench/bench_rules" ]; then
		"$KVS_BUILDDIR/tests/bench/bench_rules" -r "$KVS_SRCDIR" -F "$T/text-$size" -n -m 50 |
			tail -n 1 | awk -v s="$size" '{ printf "rule engine alone on the text: %s MB/s, %.3f ms per request\n", $4, s / 1e6 / $4 * 1e3 }'
	fi
done
