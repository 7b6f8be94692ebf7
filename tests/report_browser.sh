#!/bin/bash
# report_browser.sh - case reports in a real browser (headless Chromium): the
# four example requests and a long request with many findings and non-ASCII
# text, rendered by `kvscreen report` with the shipped plugins, printed to PDF
# and parsed by Chromium (--dump-dom), where every finding must link to a
# <mark> that highlights its evidence in place; then hostile input (<script>
# and attribute injection in the title, the parties, the text, and in the
# officer, reason and conditions of a decision) through the daemon's
# /report route and the CLI, which must come out as text, not as elements or
# attributes.  Skips (77) only when Chromium is not installed.
set -u

: "${KVS_BUILDDIR:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${KVS_SRCDIR:=$KVS_BUILDDIR}"
CHROMIUM=${KVS_CHROMIUM:-$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)}
if [ -z "$CHROMIUM" ]; then
	echo "SKIP: Chromium is not installed (Debian package \"chromium\"; ./dev.sh test installs it)"
	exit 77
fi
command -v python3 >/dev/null || { echo "python3 not installed"; exit 77; }
command -v curl >/dev/null || { echo "curl not installed"; exit 77; }
DAEMON="$KVS_BUILDDIR/kvscreend"
CLI="$KVS_BUILDDIR/kvscreen"
PLUGINS="$KVS_BUILDDIR/tests/plugins"
CONF="$KVS_SRCDIR/conf/kvscreend.conf"
CHECK="python3 $KVS_SRCDIR/tests/report_dom.py"
ls "$PLUGINS"/t_good.la >/dev/null 2>&1 || { echo "test plugins not built"; exit 77; }

D=$(mktemp -d /tmp/kvs-browser.XXXXXX)
PID=
cleanup() {
	[ -n "$PID" ] && kill -9 "$PID" 2>/dev/null
	rm -rf "$D"
}
trap cleanup EXIT
fail() {
	echo "FAIL: $*" >&2
	[ -f "$D/log" ] && { echo "--- daemon log" >&2; cat "$D/log" >&2; }
	exit 1
}
ok() { echo "ok - $*"; }
. "$(dirname "$0")/daemon_lib.sh"

# Chromium as root needs --no-sandbox; each run gets its own profile folder
# and a time bound.
SANDBOX=
[ "$(id -u)" = 0 ] && SANDBOX=--no-sandbox
CHROME_LIMIT=$(awk -v f="$KVS_TEST_TIMEOUT_SCALE" 'BEGIN { printf "%d", 180 * f }')
run=0
chrome() {
	run=$((run + 1))
	timeout -k 5 "$CHROME_LIMIT" "$CHROMIUM" --headless $SANDBOX --disable-gpu --no-first-run \
		--no-default-browser-check --disable-extensions --user-data-dir="$D/profile-$run" "$@" \
		2>>"$D/chromium.log"
}
# dump HTML DOM-OUT: the DOM as Chromium built it from the file.
dump() {
	chrome --dump-dom "file://$1" > "$2" || fail "chromium --dump-dom $1 (exit $?): $(tail -5 "$D/chromium.log")"
	[ -s "$2" ] || fail "empty DOM of $1"
}

# ---- the examples and a long request, with the shipped plugins ----
python3 - "$KVS_SRCDIR/tests/data/rules/phrases.txt" > "$D/long.json" <<'EOF'
import json, sys
phrases = [l.split("|", 3)[3].strip() for l in open(sys.argv[1], encoding="utf-8")
           if l.count("|") >= 3 and l.split("|")[1] == "+"]
# Non-ASCII between the phrases moves every byte offset off the character count.
text = " — café Ωμέγα 量子 — ".join(phrases)
req = {"schema": "kvscreen.request/v1", "id": "long-2026-0001", "type": "partnership",
       "title": "Bredere samenwerking: quantum, halfgeleiders, drones en meer — één consortium",
       "description": text,
       "institution": {"name": "Universiteit Twente", "unit": "EEMCS"},
       "technology": {"keywords": ["quantum sensing", "radar", "hypersonic"], "trl": 4},
       "parties": [
           {"role": "partner", "name": "Beihang University", "country": "CN", "kind": "university",
            "state_owned": True},
           {"role": "partner", "name": "Harbin Institute of Technology", "country": "CN",
            "kind": "university", "state_owned": True},
           {"role": "funder", "name": "Islamic Revolutionary Guard Corps", "country": "IR",
            "kind": "military"},
           {"role": "partner", "name": "Технический университет", "country": "RU",
            "kind": "university"}],
       "people": [{"name": "Li Wei", "nationality": "CN", "role": "PhD candidate",
                   "affiliation": "National University of Defense Technology"}],
       "cooperation": {"form": "joint_lab", "duration_months": 48, "access": ["lab", "datasets"],
                       "funding": [{"source": "China Scholarship Council", "country": "CN",
                                    "amount_eur": 900000, "state_linked": True}]}}
print(json.dumps(req, ensure_ascii=False))
EOF
for req in "$KVS_SRCDIR"/conf/examples/*.json "$D/long.json"; do
	name=$(basename "$req" .json)
	"$CLI" screen -c "$CONF" "$req" > "$D/$name.verdict.json" 2>/dev/null || fail "screen $name"
	"$CLI" report -c "$CONF" "$req" -o "$D/$name.html" --pdf "$D/$name.pdf" 2>"$D/$name.err" ||
		fail "kvscreen report $name: $(grep -v '^<4>' "$D/$name.err")"
	[ "$(head -c 4 "$D/$name.pdf")" = "%PDF" ] && [ "$(stat -c %s "$D/$name.pdf")" -gt 1000 ] ||
		fail "$name.pdf is not a PDF"
	dump "$D/$name.html" "$D/$name.dom.html"
	$CHECK "$D/$name.dom.html" "$D/$name.verdict.json" --placed || fail "$name: DOM check"
done
n=$(python3 -c "import json; print(len(json.load(open('$D/long.verdict.json'))['findings']))")
[ "$n" -ge 20 ] || fail "the long request has only $n findings"
ok "4 examples and a long request ($n findings): PDF made, every finding links to its span, highlighted in place"

# ---- hostile input through the daemon and the CLI ----
cat > "$D/kvscreend.conf" <<EOF
daemon: {
  listen = "127.0.0.1:0";
  socket = "run/k.sock";
  state_dir = "state";
  threads = 2;
  plugin_dir = "$PLUGINS";
};
plugins: { t_good: { keyword = "<script>"; }; };
EOF
cat > "$D/evil.json" <<'EOF'
{ "schema": "kvscreen.request/v1", "id": "evil-1", "type": "partnership",
  "title": "<script>alert('title')</script>\"><img src=x onerror=alert(1)>",
  "description": "café </dd></dl><script>alert(2)</script><mark id=\"f-1\">fake</mark>' onmouseover='alert(3)' \" onclick=\"alert(3)\" <a href=\"javascript:alert(8)\">x</a> <style>body{display:none}</style>",
  "institution": { "name": "<iframe src=//evil.example/></iframe>", "unit": "\" autofocus onfocus=\"alert(9)" },
  "parties": [ { "role": "partner", "name": "\"><svg onload=alert(4)><script>", "aliases": ["<script>x</script>", "' title='x"],
                 "country": "CN", "kind": "company" } ],
  "people": [ { "name": "<b onmouseover=alert(10)>Li</b>", "nationality": "CN", "affiliation": "<script>" } ] }
EOF
mkdir -p "$D/run"
start_daemon
st=$(curl -s -o "$D/v.json" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
	--data-binary @"$D/evil.json" "http://127.0.0.1:$PORT/v1/screenings")
[ "$st" = 200 ] || fail "screening the hostile request: $st"
st=$(curl -s -o "$D/dec.json" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
	--data-binary '{"decision":"approve_with_conditions","officer":"<script>alert(5)</script>","reason":"\" onfocus=\"alert(6)\" x=\"<style>","conditions":"<img src=x onerror=alert(7)> '"'"' onclick='"'"'alert(7)"}' \
	"http://127.0.0.1:$PORT/v1/screenings/evil-1/decisions")
[ "$st" = 201 ] || fail "hostile decision: $st $(cat "$D/dec.json")"
st=$(curl -s -o "$D/evil-api.html" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
	"http://127.0.0.1:$PORT/v1/screenings/evil-1/report")
[ "$st" = 200 ] || fail "GET report: $st"
kill -TERM "$PID"; wait "$PID"; PID=
dump "$D/evil-api.html" "$D/evil-api.dom.html"
$CHECK "$D/evil-api.dom.html" "$D/v.json" --text "<script>alert(5)</script>" \
	--text '" onfocus="alert(6)" x="<style>' --text "<img src=x onerror=alert(7)> ' onclick='alert(7)" \
	--text "<script>" || fail "hostile report from the API"
ok "API report: officer, reason and conditions with <script> and attribute injection stay text"

"$CLI" report -c "$D/kvscreend.conf" --request "$D/evil.json" evil-1 -o "$D/evil-cli.html" 2>"$D/err" ||
	fail "kvscreen report --request: $(cat "$D/err")"
dump "$D/evil-cli.html" "$D/evil-cli.dom.html"
$CHECK "$D/evil-cli.dom.html" "$D/v.json" --placed \
	--text "<script>alert('title')</script>\"><img src=x onerror=alert(1)>" \
	--text "café </dd></dl>" --text "alert(2)</script><mark id=\"f-1\">fake</mark>' onmouseover='alert(3)'" \
	--text "<iframe src=//evil.example/></iframe>" --text '" autofocus onfocus="alert(9)' \
	--text "\"><svg onload=alert(4)><script>" --text "' title='x" \
	--text "<b onmouseover=alert(10)>Li</b>" --text "<script>alert(5)</script>" ||
	fail "hostile report from the CLI"
ok "CLI report: title, institution, parties, people and text with injections stay text; spans placed"

# A PDF without Chromium: a clear error, no file.
KVS_CHROMIUM=/nonexistent "$CLI" report -c "$D/kvscreend.conf" evil-1 --pdf "$D/none.pdf" 2>"$D/err" &&
	fail "--pdf without Chromium succeeded"
grep -q 'needs Chromium' "$D/err" && [ ! -e "$D/none.pdf" ] || fail "--pdf without Chromium: $(cat "$D/err")"
ok "--pdf without Chromium fails with a clear message"
