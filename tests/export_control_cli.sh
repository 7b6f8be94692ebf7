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

# ---- Sanctions bans (conf/rules/export_control/sanctions.conf; docs/sanctions.md) ----
S="$src/tests/data/export_control/sanctions"
screen() { "$build/kvscreen" screen -c "$1" "$S/$2.json" 2>/dev/null; }
has() { printf "%s" "$v" | grep -q "$1"; }
decision() { printf "%s" "$v" | grep -q "\"decision\":\"$1\""; }

# The shipped configuration itself, end to end.
v=$(KVSCREEND_PLUGIN_DIR="$build/plugins" "$build/kvscreen" screen -c "$src/conf/kvscreend.conf" "$S/camera-ru.json" 2>/dev/null)
check "shipped config: 6A003 camera to RU: deny" 'decision deny'
check "shipped config: Art. 2 of Reg. 833/2014 named, with the next step" \
	'has "\"rule\":\"SANCT-RU-833-ART2\",\"severity\":\"critical\"" && has "\"references\":\[\"Council Regulation (EU) No 833/2014, Article 2(1)\"" && has "\"action\":\"Do not proceed: export prohibited under Art. 2 of Reg. (EU) 833/2014; no licence can be granted. Report attempted circumvention to the CDIU (Douane)\""'
check "shipped config: the licence-only embargo finding stays" 'has "\"rule\":\"EC-DEST-EMBARGO-DU\",\"severity\":\"high\""'
check "shipped config: Annex IV not shipped, and the verdict says so" 'has "\"rule\":\"EC-SANCTIONS-ANNEX-MISSING\",\"severity\":\"medium\""'

K="$tmp/k.conf"
for c in camera-by camera-kp centrifuge-kp centrifuge-ir laptops-ru camera-ru-technology kp-university art5l-state-ru art5l-nwo; do
	v=$(screen "$K" "$c")
	check "$c: deny with a SANCT- finding" 'decision deny && has "\"rule\":\"SANCT-[A-Z0-9-]*\",\"severity\":\"critical\""'
done
v=$(screen "$K" laptops-ru)
check "laptops to RU: Art. 3k and Annex XXIII" 'has "Article 3k(1) and Annex XXIII"'
v=$(screen "$K" camera-ru-technology)
check "technology to RU: technical assistance cited" 'has "Article 2(2) (technical assistance, brokering, financing)"'
v=$(screen "$K" kp-university)
check "DPRK university partnership: UN SC Res. 2321 para. 11" 'has "UN Security Council Resolution 2321 (2016), paragraph 11"'
for c in camera-us camera-cn laptops-us chair-ru not-annex-iv-kz kr-university art5l-private-ru art5l-unfunded; do
	v=$(screen "$K" "$c")
	check "$c: no ban" '! has "\"rule\":\"SANCT-[A-Z0-9-]*\",\"severity\":\"critical\"" && ! decision deny'
done
for c in art5l-humanitarian art5l-space art5l-iter art5l-nuclear art5l-mobility; do
	v=$(screen "$K" "$c")
	check "$c: Art. 5l exception is review, not deny" \
		'has "\"rule\":\"SANCT-RU-833-ART5L-EXCEPTION\",\"severity\":\"medium\"" && ! has "\"rule\":\"SANCT-RU-833-ART5L\"" && ! decision deny'
done

# Annex IV from the per-regulation transcription (CC BY-NC: tests only).
annex="${KVS_SHARED_DATA:-$src/../shared/data}/eu-sanctions-by-regulation/consolidated/32014R0833.csv"
if [ -r "$annex" ]; then
	mkdir "$tmp/s"
	ln -s "$(cd "$src/conf/rules/export_control/sanctions" && pwd)" "$tmp/s/sanctions"
	sed "s|\"../../lists/eu-833/32014R0833.csv\"|\"$(cd "$(dirname "$annex")" && pwd)/32014R0833.csv\"|" \
		"$src/conf/rules/export_control/sanctions.conf" > "$tmp/s/sanctions.conf"
	sed "s|sanctions = \".*\";|sanctions = \"$tmp/s/sanctions.conf\";|" "$K" > "$tmp/k4.conf"
	v=$(screen "$tmp/k4.conf" annex-iv-via-kz)
	check "via Kazakhstan to an Annex IV institute: deny" \
		'decision deny && has "\"rule\":\"SANCT-RU-833-ANNEX-IV\",\"severity\":\"critical\"" && has "Article 2b and Annex IV"'
	check "Annex IV loaded: no missing-annex finding" '! has EC-SANCTIONS-ANNEX-MISSING'
	v=$(screen "$tmp/k4.conf" not-annex-iv-kz)
	check "via Kazakhstan to a Kazakh university: no ban" '! has SANCT-RU-833-ANNEX-IV && ! decision deny'
	sed 's|Moscow Institute of Physics and Technology|Sberbank|' "$S/annex-iv-via-kz.json" > "$tmp/sber.json"
	v=$("$build/kvscreen" screen -c "$tmp/k4.conf" "$tmp/sber.json" 2>/dev/null)
	check "an entity of another annex (III) of Reg. 833/2014 is not Annex IV" '! has SANCT-RU-833-ANNEX-IV'
	sed 's|"name": "Moscow Institute of Physics and Technology"|"name": "Phystech", "aliases": ["MFTI", "Moscow Institute of Physics and Technology"]|' \
		"$S/annex-iv-via-kz.json" > "$tmp/alias.json"
	v=$("$build/kvscreen" screen -c "$tmp/k4.conf" "$tmp/alias.json" 2>/dev/null)
	check "Annex IV found through a party's alias" \
		'decision deny && has "\"rule\":\"SANCT-RU-833-ANNEX-IV\",\"severity\":\"critical\"" && has "\"path\":\"/parties/1/aliases/1\""'
	sed 's|Lomonosov Moscow State University|Moscow Institute of Physics and Technology|' "$S/art5l-unfunded.json" > "$tmp/mipt.json"
	v=$("$build/kvscreen" screen -c "$tmp/k4.conf" "$tmp/mipt.json" 2>/dev/null)
	check "partnership with an Annex IV institute: high, nothing listed may reach it" \
		'has "\"rule\":\"SANCT-RU-833-ANNEX-IV\",\"severity\":\"high\""'
else
	echo "skip Annex IV cases: $annex not found"
fi

# An error in the sanctions file: check-config names file:line.
sed "s|sanctions = \".*\";|sanctions = \"$src/tests/data/export_control/sanctions-bad/bad-country.conf\";|" "$K" > "$tmp/kbad.conf"
out=$("$build/kvscreen" check-config -c "$tmp/kbad.conf" 2>&1)
check "bad sanctions file: file:line" \
	'printf "%s\n" "$out" | grep -qF "sanctions-bad/bad-country.conf:10: country \"Russia\" is not an ISO 3166-1 alpha-2 code"'
echo "$fail failed"
[ "$fail" -eq 0 ]
