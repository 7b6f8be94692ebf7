#!/bin/bash
# daemon_decisions.sh - officer decisions end to end: strict validation of
# POST /v1/screenings/{id}/decisions, officer identity from a named token or
# the body, 409 on a verdict version that is not the current one, the
# hash-chained audit log (kvscreen audit verify, and tampering found: a
# changed byte, a deleted record, reordered records, a cut-short last line),
# the decision in GET /v1/screenings/{id}, on the queue, across a restart,
# and the HTML report route with its headers.
set -u

: "${KVS_BUILDDIR:=$(cd "$(dirname "$0")/.." && pwd)}"
command -v curl >/dev/null || { echo "curl not installed"; exit 77; }
command -v python3 >/dev/null || { echo "python3 not installed"; exit 77; }
DAEMON="$KVS_BUILDDIR/kvscreend"
CLI="$KVS_BUILDDIR/kvscreen"
PLUGINS="$KVS_BUILDDIR/tests/plugins"
ls "$PLUGINS"/t_good.la >/dev/null 2>&1 || { echo "test plugins not built"; exit 77; }

. "$(dirname "$0")/daemon_lib.sh"
test_begin dec
# fail also shows the last answer's body.
on_fail() {
	echo "--- last body"
	cat "$D/body" 2>/dev/null && echo
}

cat > "$D/kvscreend.conf" <<EOF
daemon: {
  listen = "127.0.0.1:0";
  socket = "run/k.sock";
  socket_mode = "0600";
  state_dir = "state";
  token_file = "tokens";
  threads = 2;
  log_level = "info";
  plugin_dir = "$PLUGINS";
};
plugins: { t_good: { keyword = "forbidden"; }; };
EOF
# One shared token, one officer's own.
printf '# tokens\nshared-token-0123456789\nofficer-token-abcdef   Jan de Vries\n' > "$D/tokens"
chmod 600 "$D/tokens"
mkdir -p "$D/run"

# stop_daemon: SIGTERM, then the exit status must be 0 (a sanitizer's
# report at exit makes it nonzero).
stop_daemon() {
	local rc
	kill -TERM "$PID"
	wait "$PID"
	rc=$?
	PID=
	[ "$rc" = 0 ] || fail "exit status $rc after SIGTERM"
}
start_daemon
TOKEN=shared-token-0123456789
OTOKEN=officer-token-abcdef

# post PATH BODY [TOKEN]: prints the status; body in $D/body, head in $D/hdr.
post() {
	curl -s -o "$D/body" -D "$D/hdr" -w '%{http_code}' -H "Authorization: Bearer ${3:-$TOKEN}" \
		-H 'Content-Type: application/json' --data-binary "$2" "http://127.0.0.1:$PORT$1"
}
get() {
	curl -s -o "$D/body" -D "$D/hdr" -w '%{http_code}' -H "Authorization: Bearer ${2:-$TOKEN}" \
		"http://127.0.0.1:$PORT$1"
}
# jq_ EXPR: evaluate a Python expression over the JSON in $D/body (as j).
jq_() { python3 -c "import json,sys; j=json.load(open('$D/body')); print($1)"; }

REQ='{"id":"case-1","type":"partnership","title":"a forbidden topic","description":"forbidden and forbidden again"}'
[ "$(post /v1/screenings "$REQ")" = 200 ] || fail "screening"
DEC=/v1/screenings/case-1/decisions

# expect_400 PATH BODY: 400 invalid_request naming PATH.
expect_400() {
	local st
	st=$(post $DEC "$2")
	[ "$st" = 400 ] || fail "expected 400 for $2, got $st"
	[ "$(jq_ 'j["error"]["path"]')" = "$1" ] || fail "expected path $1 for $2"
}
expect_400 /foo '{"decision":"approve","reason":"fine","officer":"A","foo":1}'
expect_400 /decision '{"decision":"maybe","reason":"fine","officer":"A"}'
expect_400 /decision '{"reason":"fine","officer":"A"}'
expect_400 /reason '{"decision":"approve","officer":"A"}'
expect_400 /reason '{"decision":"approve","reason":"   ","officer":"A"}'
expect_400 /reason "{\"decision\":\"approve\",\"reason\":\"$(head -c 5000 /dev/zero | tr '\0' x)\",\"officer\":\"A\"}"
expect_400 /conditions '{"decision":"approve_with_conditions","reason":"ok","officer":"A"}'
expect_400 /conditions '{"decision":"approve","reason":"ok","conditions":"none","officer":"A"}'
expect_400 /conditions '{"decision":"approve_with_conditions","reason":"ok","conditions":7,"officer":"A"}'
expect_400 /officer '{"decision":"approve","reason":"ok"}'
expect_400 /officer '{"decision":"approve","reason":"ok","officer":"A\nB"}'
expect_400 /verdict_version '{"decision":"approve","reason":"ok","officer":"A","verdict_version":0}'
expect_400 "" '{"decision":'
expect_400 "" '["approve"]'
ok "decisions are validated strictly, each error names its member"
st=$(post $DEC "{\"decision\":\"approve\",\"reason\":\"$(head -c 17000 /dev/zero | tr '\0' x)\"}")
[ "$st" = 413 ] || fail "17 KB decision: $st"
st=$(curl -s -o "$D/body" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
	-H 'Content-Type: text/plain' --data-binary '{}' "http://127.0.0.1:$PORT$DEC")
[ "$st" = 415 ] || fail "text/plain decision: $st"
[ "$(get $DEC)" = 405 ] || fail "GET decisions"
[ "$(post /v1/screenings/nope/decisions '{"decision":"approve","reason":"ok","officer":"A"}')" = 404 ] ||
	fail "decision on an unknown id"
[ "$(post $DEC '{"decision":"approve","reason":"ok","officer":"A"}' wrong-token)" = 401 ] ||
	fail "decision without a valid token"
[ "$(post $DEC '{"decision":"approve","reason":"ok","officer":"A","verdict_version":2}')" = 409 ] ||
	fail "decision on verdict version 2 while 1 is current"
[ ! -s "$D/state/audit/decisions.jsonl" ] || fail "a refused decision reached the audit log"
ok "413, 415, 405, 404, 401 and 409 (not the current verdict version) record nothing"

queued() { "$CLI" outbox list --state "$D/state" | wc -l; }
NEW_BEFORE=$(queued)
st=$(post $DEC '{"decision":"approve_with_conditions","conditions":"no access to the cleanroom","reason":"partner checked","officer":"A. Officer","verdict_version":1}')
[ "$st" = 201 ] || fail "first decision: $st"
[ "$(jq_ 'j["decision"]["seq"], j["decision"]["officer"], j["decision"]["officer_source"], j["queued"]')" = \
  "1 A. Officer request True" ] || fail "first decision record"
[ "$(jq_ 'j["decision"]["prev"] == "0"*64 and len(j["decision"]["hash"]) == 64 and len(j["decision"]["verdict_sha256"]) == 64')" = True ] ||
	fail "first record's chain fields"
st=$(post $DEC '{"decision":"reject","reason":"second look","officer":"Someone Else"}' $OTOKEN)
[ "$st" = 403 ] || fail "officer differing from the named token: $st"
st=$(post $DEC '{"decision":"reject","reason":"second look"}' $OTOKEN)
[ "$st" = 201 ] || fail "decision with a named token: $st"
[ "$(jq_ 'j["decision"]["seq"], j["decision"]["officer"], j["decision"]["officer_source"]')" = \
  "2 Jan de Vries token" ] || fail "named token's officer"
ok "officer from a named token (and 403 when the body names another), or from the body"

[ "$(queued)" -eq $((NEW_BEFORE + 2)) ] || fail "decisions not queued: $("$CLI" outbox list --state "$D/state")"
"$CLI" outbox cat --state "$D/state" | python3 -c '
import json, sys
d = [json.loads(l) for l in sys.stdin if l.strip()]
d = [m for m in d if m.get("schema") == "kvscreen.decision/v1"]
assert [(m["seq"], m["decision"], len(m["hash"])) for m in d] == \
	[(1, "approve_with_conditions", 64), (2, "reject", 64)], d
' || fail "queued decision messages"
ok "each decision is queued in the outbox (kvscreen outbox cat) with its seq and hash"

[ "$(get /v1/screenings/case-1)" = 200 ] || fail "GET verdict"
[ "$(jq_ '[d["decision"] for d in j["decisions"]], j["decision"]')" = \
  "['approve_with_conditions', 'reject'] escalate" ] || fail "decisions in GET"
[ "$(get /v1/screenings/case-1/report)" = 200 ] || fail "GET report"
grep -qi '^content-type: text/html; charset=utf-8' "$D/hdr" || fail "report content type"
grep -qi "^content-security-policy: default-src 'none'; style-src 'sha256-" "$D/hdr" || fail "report CSP"
grep -qi '^x-content-type-options: nosniff' "$D/hdr" || fail "report nosniff"
grep -q 'Jan de Vries' "$D/body" && grep -q 'no access to the cleanroom' "$D/body" || fail "decisions in report"
grep -q 'id="ev-1-1"' "$D/body" || fail "evidence mark in report"
[ "$(get /v1/screenings/nope/report)" = 404 ] || fail "report of an unknown id"
[ "$(get /v1/screenings/case-1/other)" = 404 ] || fail "unknown sub-resource"
ok "GET shows the decisions; /report is HTML with a strict CSP"

"$CLI" audit verify -c "$D/kvscreend.conf" > "$D/out" || fail "audit verify: $(cat "$D/out")"
grep -q ': 2 records, chain intact' "$D/out" || fail "audit verify output: $(cat "$D/out")"
"$CLI" report -c "$D/kvscreend.conf" case-1 -o "$D/r.html" 2>"$D/err" || fail "kvscreen report ID: $(cat "$D/err")"
grep -q 'A. Officer' "$D/r.html" || fail "CLI report lacks the decision"
ok "kvscreen audit verify: intact; kvscreen report ID shows the decisions"

# Restart: the log is read back; the chain goes on.
stop_daemon
start_daemon
TOKEN=shared-token-0123456789
[ "$(get /v1/screenings/case-1)" = 200 ] && [ "$(jq_ 'len(j["decisions"])')" = 2 ] ||
	fail "decisions after restart"
[ "$(post $DEC '{"decision":"approve","reason":"after all","officer":"B"}')" = 201 ] ||
	fail "decision after restart"
[ "$(jq_ 'j["decision"]["seq"]')" = 3 ] || fail "seq after restart"
stop_daemon
ok "decisions survive a restart, the chain continues at record 3"

LOG="$D/state/audit/decisions.jsonl"
cp "$LOG" "$D/good.jsonl"
verify_broken() {   # verify_broken FILE RECORD WHAT
	local rc
	"$CLI" audit verify "$1" > "$D/out"
	rc=$?
	[ "$rc" = 5 ] || fail "$3: exit $rc, $(cat "$D/out")"
	grep -q "record $2 is broken" "$D/out" || fail "$3: $(cat "$D/out")"
}
# A changed byte inside record 2 (its reason), the hash left as it was.
sed '2s/second look/second lock/' "$D/good.jsonl" > "$D/t1.jsonl"
verify_broken "$D/t1.jsonl" 2 "changed byte"
# A changed byte in the last record.
sed '3s/after all/after alL/' "$D/good.jsonl" > "$D/t2.jsonl"
verify_broken "$D/t2.jsonl" 3 "changed byte in the last record"
# Record 2 deleted.
sed '2d' "$D/good.jsonl" > "$D/t3.jsonl"
verify_broken "$D/t3.jsonl" 2 "deleted record"
# Records 1 and 2 swapped.
{ sed -n 2p "$D/good.jsonl"; sed -n 1p "$D/good.jsonl"; sed -n 3p "$D/good.jsonl"; } > "$D/t4.jsonl"
verify_broken "$D/t4.jsonl" 1 "reordered records"
# Record 2 rewritten whole, with a hash that matches its new content: the
# next record's prev still gives it away.
python3 - "$D/good.jsonl" "$D/t5.jsonl" <<'EOF'
import hashlib, json, sys
lines = open(sys.argv[1]).read().splitlines()
r = json.loads(lines[1]); del r["hash"]; r["decision"] = "approve"
body = json.dumps(r, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
h = hashlib.sha256(body.encode()).hexdigest()
lines[1] = body[:-1] + ',"hash":"%s"}' % h
open(sys.argv[2], "w").write("\n".join(lines) + "\n")
EOF
verify_broken "$D/t5.jsonl" 3 "record rewritten with a fresh hash"
"$CLI" audit verify "$D/good.jsonl" >/dev/null || fail "the untouched copy"
ok "audit verify finds a changed byte, a deleted, a reordered and a rewritten record"

# A daemon on a tampered log screens but refuses decisions.
cp "$D/t1.jsonl" "$LOG"
start_daemon
TOKEN=shared-token-0123456789
grep -q 'record 2 is broken' "$D/log" || fail "no error about the broken log"
[ "$(post $DEC '{"decision":"approve","reason":"x","officer":"B"}')" = 503 ] || fail "decision on a broken log"
[ "$(get /v1/screenings/case-1)" = 200 ] || fail "GET with a broken log"
stop_daemon
cmp -s "$LOG" "$D/t1.jsonl" || fail "the broken log was changed"
ok "a broken chain refuses decisions (503) and is left as it is"

# A write cut short by a crash (no newline) is cut off at start.
cp "$D/good.jsonl" "$LOG"
printf '{"at":"2026' >> "$LOG"
"$CLI" audit verify "$LOG" > "$D/out"; [ $? = 5 ] && grep -q 'record 4 is broken: incomplete' "$D/out" ||
	fail "torn tail: $(cat "$D/out")"
start_daemon
TOKEN=shared-token-0123456789
grep -q 'record 4 is incomplete' "$D/log" || fail "no warning about the torn record"
[ "$(post $DEC '{"decision":"reject","reason":"final","officer":"C"}')" = 201 ] || fail "decision after torn tail"
[ "$(jq_ 'j["decision"]["seq"]')" = 4 ] || fail "seq after torn tail"
stop_daemon
"$CLI" audit verify "$LOG" | grep -q ': 4 records, chain intact' || fail "chain after torn tail"
ok "an unterminated last line (never acknowledged) is cut off at start"
