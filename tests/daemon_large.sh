#!/bin/bash
# daemon_large.sh - long proposals through the HTTP API with the default
# limits: a description of exactly max_string (1 MiB) is screened to its last
# word; a byte more is refused with 400 too_large naming the field, a body over
# max_request_bytes with 413 before it is read; and a configuration that sets
# only a smaller max_text gets a max_string that follows it down.
set -u

: "${KVS_BUILDDIR:=$(cd "$(dirname "$0")/.." && pwd)}"
command -v curl >/dev/null || { echo "curl not installed"; exit 77; }
command -v python3 >/dev/null || { echo "python3 not installed"; exit 77; }
DAEMON="$KVS_BUILDDIR/kvscreend"
PLUGINS="$KVS_BUILDDIR/tests/plugins"
ls "$PLUGINS"/t_good.la >/dev/null 2>&1 || { echo "test plugins not built"; exit 77; }

. "$(dirname "$0")/daemon_lib.sh"
test_begin large

# write_config [LIMITS]: no limits group unless given, so the defaults hold.
write_config() {
	cat > "$D/kvscreend.conf" <<EOC
daemon: {
  listen = "127.0.0.1:0";
  socket = "run/k.sock";
  socket_mode = "0600";
  state_dir = "state";
  threads = 2;
  log_level = "info";
  plugin_dir = "$PLUGINS";
};
${1:-}
plugins: {
  t_good: { keyword = "forbidden"; };
};
EOC
}

# req_file FILE: POST it; prints the status, body in $D/body.
req_file() {
	curl -s -o "$D/body" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
		-H "Authorization: Bearer $TOKEN" --data-binary @"$1" "http://127.0.0.1:$PORT/v1/screenings"
}
expect() {
	[ "$2" = "$1" ] || fail "$3: expected $1, got $2: $(head -c 600 "$D/body" 2>/dev/null)"
	ok "$3 ($1)"
}
body_has() {
	grep -q -- "$1" "$D/body" || fail "body lacks '$1': $(head -c 600 "$D/body")"
}

# make_request FILE ID BYTES: a partnership whose description is BYTES bytes
# of text (two-byte characters and JSON escapes among them) ending in the
# keyword the test plugin looks for.
make_request() {
	python3 - "$@" <<'PY'
import json, sys
out, rid, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
tail = " forbidden"
unit = "Quantum sensing \"lab\" in Z\u00fcrich,\tnew line\n"
body = (unit * (n // len(unit.encode()) + 1)).encode()
body = body[: n - len(tail)].decode("utf-8", "ignore")
body = body + " " * (n - len(tail) - len(body.encode())) + tail
assert len(body.encode()) == n
json.dump({"id": rid, "type": "partnership", "title": "Long proposal", "description": body},
          open(out, "w"), ensure_ascii=False)
PY
}

write_config
start_daemon

make_request "$D/max.json" large-1 1048576
expect 200 "$(req_file "$D/max.json")" "description of 1 MiB (max_string)"
body_has '"rule":"t.keyword"'
body_has '"decision":"escalate"'

make_request "$D/over.json" large-2 1048577
expect 400 "$(req_file "$D/over.json")" "description of 1 MiB + 1 byte"
body_has '"code":"too_large"'
body_has '"path":"/description"'
body_has 'string of 1048577 bytes exceeds the limit of 1048576'

# Over max_request_bytes (4 MiB): refused on its Content-Length.
python3 -c 'import sys; sys.stdout.write("{\"id\":\"large-3\",\"type\":\"export\",\"title\":\"" + "x" * (4 << 20) + "\"}")' > "$D/huge.json"
expect 413 "$(req_file "$D/huge.json")" "body over max_request_bytes"
body_has '"code":"too_large"'
kill -TERM "$PID"
wait "$PID" || fail "exit status $? after SIGTERM"
PID=

# An older file that sets only max_text: max_string follows it down.
write_config 'limits: { max_text = 524288; };'
start_daemon
make_request "$D/mid.json" large-4 600000
expect 400 "$(req_file "$D/mid.json")" "600,000 bytes with max_text = 524288"
body_has 'string of 600000 bytes exceeds the limit of 524288'
kill -TERM "$PID"
wait "$PID" || fail "exit status $? after SIGTERM"
PID=
