#!/bin/sh
# parity.sh - Dutch/English parity: every pair of tests/data/parity/pairs.txt, screened through the
# shipped configuration (all plugins, the shipped policy), must get the same decision in both languages.
#
# Each line ID|TEMPLATE|ENGLISH|DUTCH becomes two requests that differ only in the text; the
# template supplies type, parties, destination and investment.  Prints the pairs that disagree
# and the count that agree.  PARITY_REPORT_ONLY=1 only reports (to measure another build:
# KVSCREEN=/other/kvscreen KVSCREEND_PLUGIN_DIR=/other/plugins).
set -u
src=${KVS_SRCDIR:-.}
build=$(cd "${KVS_BUILDDIR:-.}" && pwd)
KVSCREEN=${KVSCREEN:-$build/kvscreen}
KVSCREEND_PLUGIN_DIR=${KVSCREEND_PLUGIN_DIR:-$build/plugins}
export KVSCREEND_PLUGIN_DIR
conf=${PARITY_CONF:-$src/conf/kvscreend.conf}
pairs="$src/tests/data/parity/pairs.txt"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# request ID TEMPLATE TEXT: one request on stdout.
request() {
	case "$2" in
	P-CN|P-DE)
		if [ "$2" = P-CN ]; then p='"name":"Zhejiang University","country":"CN"'
		else p='"name":"Technische Universitaet Muenchen","country":"DE"'; fi
		printf '{"schema":"kvscreen.request/v1","id":"%s","type":"partnership","title":"%s","description":"%s","parties":[{"role":"partner",%s,"kind":"university"}],"cooperation":{"form":"joint_research","duration_months":36}}\n' \
			"$1" "$3" "$3" "$p" ;;
	E-US|E-DE|E-CN|E-BY)
		cc=${2#E-}
		printf '{"schema":"kvscreen.request/v1","id":"%s","type":"export","title":"Shipment","items":[{"description":"%s","quantity":1,"kind":"goods"}],"destination":{"country":"%s"},"parties":[{"role":"consignee","name":"Example Research Laboratory","country":"%s","kind":"research_institute"}],"transfer":"physical"}\n' \
			"$1" "$3" "$cc" "$cc" ;;
	I-NL)
		printf '{"schema":"kvscreen.request/v1","id":"%s","type":"investment","title":"Acquisition of a spin-off","description":"%s","parties":[{"role":"acquirer","name":"Holland Tech Holding B.V.","country":"NL","kind":"company","parent":"Holland Tech Group B.V."},{"role":"target","name":"Campus Spin-off B.V.","country":"NL","kind":"company"}],"investment":{"instrument":"acquisition","stake_percent":51,"voting_rights_percent":51,"control":true}}\n' \
			"$1" "$3" ;;
	*)
		echo "parity.sh: $1: unknown template $2" >&2
		return 1 ;;
	esac
}

n=0
files=""
while IFS='|' read -r id tpl en nl; do
	case "$id" in ''|'#'*) continue ;; esac
	case "$en$nl" in *'"'*|*'\'*)
		echo "parity.sh: $id: quotes and backslashes are not allowed" >&2; exit 1 ;;
	esac
	if [ -z "$nl" ]; then
		echo "parity.sh: $id: expected ID|TEMPLATE|ENGLISH|DUTCH" >&2
		exit 1
	fi
	request "$id.en" "$tpl" "$en" > "$tmp/$n.en.json" || exit 1
	request "$id.nl" "$tpl" "$nl" > "$tmp/$n.nl.json" || exit 1
	files="$files $tmp/$n.en.json $tmp/$n.nl.json"
	n=$((n + 1))
done < "$pairs"

# One verdict per line, in the order of the files.
# shellcheck disable=SC2086
if ! "$KVSCREEN" screen -c "$conf" $files > "$tmp/verdicts" 2> "$tmp/err"; then
	echo "FAIL kvscreen screen: $(cat "$tmp/err")"
	exit 1
fi
# The decision of each verdict without the findings that only say a list is
# not downloaded yet (the EU FSF list and Reg. 833/2014 Annex IV are not
# shipped): they make every verdict of a fresh install at least review, and
# would hide a clear/review difference between the languages.  The rest is
# the shipped policy: info and low clear, medium review, high escalate,
# critical deny, a failed plugin review.
python3 -c '
import json, sys
rank = {"info": 0, "low": 0, "medium": 1, "high": 2, "critical": 3}
names = ["clear", "review", "escalate", "deny"]
skip = {"denied_party.list_missing", "EC-SANCTIONS-ANNEX-MISSING"}
for line in open(sys.argv[1]):
    v = json.loads(line)
    d = max([rank[f["severity"]] for f in v["findings"] if f["rule"] not in skip] + [0])
    if any(p["status"] != "ok" for p in v["plugins"]):
        d = max(d, 1)
    print(v["request_id"], names[d])
' "$tmp/verdicts" | paste -d ' ' - - > "$tmp/pairs"
agree=0
total=0
while read -r en den nl dnl; do
	total=$((total + 1))
	if [ "${en%.en}" != "${nl%.nl}" ]; then
		echo "FAIL verdicts out of order: $en $nl"
		exit 1
	fi
	if [ "$den" = "$dnl" ]; then
		agree=$((agree + 1))
	else
		echo "differ ${en%.en}: English $den, Dutch $dnl"
	fi
done < "$tmp/pairs"
echo "parity: $agree of $total Dutch/English pairs agree"
if [ "$total" -ne "$n" ] || [ "$n" -lt 100 ]; then
	echo "FAIL expected $n verdict pairs (at least 100), got $total"
	exit 1
fi
awk "{print \$2}" "$tmp/pairs" | sort | uniq -c | tr -s " " | sed "s/^/decisions (English):/"
# Pairs that all get one decision would prove nothing.
if [ "$(awk '{print $2}' "$tmp/pairs" | sort -u | wc -l)" -lt 3 ]; then
	echo "FAIL fewer than three different decisions among the pairs"
	exit 1
fi
[ "${PARITY_REPORT_ONLY:-0}" = 1 ] && exit 0
[ "$agree" -eq "$total" ]
