#!/bin/bash
# daemon_badinput.sh - the built kvscreend answers bad input rightly: an echo
# cut inside a UTF-8 character is still a 400 with a UTF-8 body, ids that are
# not file names ("." "..", ".hidden") are a 400 at /id, and the spool neither
# reads a hard link nor quotes a file's bytes in its error file, and rejects
# (with a log line) a name too long to keep.
set -u

: "${KVS_BUILDDIR:=$(cd "$(dirname "$0")/.." && pwd)}"
command -v curl >/dev/null || { echo "curl not installed"; exit 77; }
command -v python3 >/dev/null || { echo "python3 not installed"; exit 77; }
DAEMON="$KVS_BUILDDIR/kvscreend"
PLUGINS="$KVS_BUILDDIR/tests/plugins"
ls "$PLUGINS"/t_good.la >/dev/null 2>&1 || { echo "test plugins not built"; exit 77; }

. "$(dirname "$0")/daemon_lib.sh"
test_begin bad

cat > "$D/kvscreend.conf" <<EOF
daemon: {
  listen = "127.0.0.1:0";
  socket = "";
  state_dir = "state";
  threads = 2;
  log_level = "info";
  plugin_dir = "$PLUGINS";
};
plugins: { t_good: { keyword = "forbidden"; }; };
EOF
mkdir -p "$D/state/spool/incoming"

start_daemon

# post JSON: prints the status; the body in $D/body.
post() {
	curl -s -o "$D/body" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
		-H "Authorization: Bearer $TOKEN" --data-binary "$1" "http://127.0.0.1:$PORT/v1/screenings"
}
# error_is CODE PATH: the body is valid UTF-8 JSON with that error code and path.
error_is() {
	python3 - "$D/body" "$1" "$2" <<'EOF' || fail "error body: $(cat "$D/body")"
import json, sys
b = json.loads(open(sys.argv[1], 'rb').read().decode('utf-8', 'strict'))
e = b["error"]
assert e["code"] == sys.argv[2], e
assert e.get("path", "") == sys.argv[3], e
print("   " + e.get("path", "") + ": " + e["message"])
EOF
}

# ---- an echo cut inside a UTF-8 character ----
E300=$(python3 -c 'print("é" * 300, end="")')
code=$(post "{\"id\":\"u1\",\"type\":\"x$E300\",\"title\":\"t\"}")
[ "$code" = 400 ] || fail "type x+é*300: $code $(cat "$D/body")"
error_is invalid_request /type
ok "type \"x\" + \"é\"*300: 400 with a UTF-8 body"
code=$(post "{\"id\":\"u2\",\"type\":\"partnership\",\"parties\":[{\"role\":\"partner\",\"name\":\"n\",\"kind\":\"x$E300\"}]}")
[ "$code" = 400 ] || fail "parties[0].kind: $code $(cat "$D/body")"
error_is invalid_request /parties/0/kind
ok "parties[0].kind \"x\" + \"é\"*300: 400 with a UTF-8 body"

# ---- ids that would name files ----
for id in . .. .hidden; do
	code=$(post "{\"id\":\"$id\",\"type\":\"export\",\"title\":\"t\"}")
	[ "$code" = 400 ] || fail "id \"$id\": $code $(cat "$D/body")"
	error_is invalid_request /id
	ok "id \"$id\": 400 at /id"
done
[ -z "$(find "$D/state" -name '.hidden*')" ] || fail "a .hidden file was made: $(find "$D/state" -name '.hidden*')"
code=$(post '{"id":"a..b.","type":"export","title":"t"}')
[ "$code" = 200 ] || fail "id a..b.: $code $(cat "$D/body")"
ok "id \"a..b.\" (dots inside) is still an id"

# ---- the spool ----
printf 'root:SECRET-HASH:19000:0:99999:7:::\n' > "$D/secret"
ln "$D/secret" "$D/state/spool/incoming/h.json"
printf 'root:SECRET-HASH-2:19000:0:99999:7:::\n' > "$D/state/spool/.j.tmp"
mv "$D/state/spool/.j.tmp" "$D/state/spool/incoming/j.json"
LONG=$(python3 -c 'print("L" * 99 + "é" * 60, end="")')
printf '{"id":"long","type":"export","title":"t"}' > "$D/state/spool/.l.tmp"
mv "$D/state/spool/.l.tmp" "$D/state/spool/incoming/$LONG.json"
rej="$D/state/spool/rejected"
has_rejected() { [ -e "$rej/h.error.json" ] && [ -e "$rej/j.error.json" ] &&
	[ "$(find "$rej" -name 'L*~*.error.json' | wc -l)" = 1 ]; }
wait_for 60 has_rejected || fail "not rejected: $(ls "$rej" "$D/state/spool/incoming")"
[ -e "$rej/h.json" ] && [ ! -e "$D/state/spool/incoming/h.json" ] || fail "h.json not moved to rejected/"
grep -q '"hard_link"' "$rej/h.error.json" || fail "h.error.json: $(cat "$rej/h.error.json")"
! grep -q 'SECRET\|root' "$rej"/*.error.json || fail "file content in an error file: $(cat "$rej"/*.error.json)"
grep -q '"invalid_json"' "$rej/j.error.json" || fail "j.error.json: $(cat "$rej/j.error.json")"
ok "a hard link is rejected unread; no error file quotes a file's bytes"
grep -q "spool: rejecting incoming/$LONG.json: the file name has 224 bytes" "$D/log" || fail "no log line for the long name"
grep -q '"name_too_long"' "$rej"/L*~*.error.json || fail "long name error file: $(cat "$rej"/L*~*.error.json)"
[ -z "$(ls "$D/state/spool/incoming")" ] || fail "left in incoming/: $(ls "$D/state/spool/incoming")"
ok "a 224-byte name is logged and moved to rejected/ under a shortened name"

kill -TERM "$PID"
wait "$PID" || fail "exit status $? after SIGTERM"
PID=
echo "all bad-input tests passed"
