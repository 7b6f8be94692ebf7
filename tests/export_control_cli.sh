#!/bin/sh
# export_control_cli.sh - the export_control plugin through the real host: `kvscreen check-config`
# loads its rules (errors as file:line with the rule id) and `kvscreen screen` shows findings with evidence.
set -u
src=${KVS_SRCDIR:-.}
build=${KVS_BUILDDIR:-.}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0

sed "s|@BUILDDIR@|$build|; s|@SRCDIR@|$src|g" "$src/tests/data/export_control/kvscreend.conf" > "$tmp/k.conf"
check() {
	if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fail=$((fail + 1)); fi
}

out=$("$build/kvscreen" check-config -c "$tmp/k.conf" 2>&1)
check "check-config accepts the shipped rules" '[ $? -eq 0 ] && printf "%s" "$out" | grep -q "configuration OK"'

v=$("$build/kvscreen" screen -c "$tmp/k.conf" "$src/conf/examples/export-fpga-board.json")
check "fpga board: escalate" 'printf "%s" "$v" | grep -q "\"decision\":\"escalate\""'
check "fpga board: 3A001.a.5 with evidence on the item" \
	'printf "%s" "$v" | grep -q "\"rule\":\"EC-3A001-ADC\".*\"path\":\"/items/0/description\",\"start\":55,\"end\":58,\"text\":\"ADC\""'
check "fpga board: licence for TR" 'printf "%s" "$v" | grep -q "\"rule\":\"EC-DEST-LICENCE\",\"severity\":\"high\""'

v=$("$build/kvscreen" screen -c "$tmp/k.conf" --format text "$src/conf/examples/export-fpga-board.json")
check "fpga board, text: the licence finding decides and names the CDIU" \
	'printf "%s" "$v" | grep -q "^  deciding: \[high\] export_control/EC-DEST-LICENCE" &&
	 printf "%s" "$v" | grep -q "^    - Apply for an individual export licence at the CDIU (Douane)"'
v=$("$build/kvscreen" screen -c "$tmp/k.conf" "$src/conf/examples/export-fpga-board.json")
check "fpga board, json: deciding is findings[0], actions name the CDIU" \
	'printf "%s" "$v" | grep -q "\"deciding\":{[^}]*\"rule\":\"EC-DEST-LICENCE\"" &&
	 printf "%s" "$v" | grep -q "\"actions\":\[\"Apply for an individual export licence at the CDIU" &&
	 printf "%s" "$v" | grep -q "\"findings\":\[{[^{]*\"rule\":\"EC-DEST-LICENCE\""'

v=$("$build/kvscreen" screen -c "$tmp/k.conf" "$src/conf/examples/export-harmless.json")
check "harmless textbooks: clear, no findings" 'printf "%s" "$v" | grep -q "\"decision\":\"clear\".*\"findings\":\[\]"'

v=$("$build/kvscreen" screen -c "$tmp/k.conf" "$src/tests/data/export_control/export-embargo-ml.json")
check "military item to an embargoed destination: deny" 'printf "%s" "$v" | grep -q "\"decision\":\"deny\""'
check "military item to an embargoed destination: critical finding" \
	'printf "%s" "$v" | grep -q "\"rule\":\"EC-DEST-EMBARGO-ML\",\"severity\":\"critical\""'
check "military end use in an embargoed destination: Article 4" 'printf "%s" "$v" | grep -q "\"rule\":\"EC-ART4-EMBARGO\""'

# A rule file with an error: check-config names file:line and the rule id.
mkdir "$tmp/bad"
cp "$src/tests/data/rules/bad_regex.conf" "$tmp/bad/"
sed "s|\"@SRCDIR@/conf/rules/export_control/dual-use\"|\"$tmp/bad\"|; s|@BUILDDIR@|$build|; s|@SRCDIR@|$src|g" \
	"$src/tests/data/export_control/kvscreend.conf" > "$tmp/bad.conf"
out=$("$build/kvscreen" check-config -c "$tmp/bad.conf" 2>&1)
rc=$?
check "bad rule file: check-config fails" '[ $rc -ne 0 ]'
check "bad rule file: file:line and rule id" \
	'printf "%s\n" "$out" | grep -qF "$tmp/bad/bad_regex.conf:7: rule B-REGEX: pattern 2 of \"patterns\" does not compile at offset 14: missing closing parenthesis"'
[ "$fail" -eq 0 ] || printf '%s\n' "$out"
echo "$fail failed"
[ "$fail" -eq 0 ]
