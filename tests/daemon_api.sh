#!/bin/bash
# daemon_api.sh - the built kvscreend end to end: every status code of the HTTP
# API over TCP and the Unix socket, auth, idempotency, slow and pipelining
# clients, the connection cap, SIGHUP with a good and a broken configuration,
# SIGTERM with a screening in flight, and verdicts surviving a restart.
set -u

: "${KVS_BUILDDIR:=$(cd "$(dirname "$0")/.." && pwd)}"
command -v curl >/dev/null || { echo "curl not installed"; exit 77; }
DAEMON="$KVS_BUILDDIR/kvscreend"
PLUGINS="$KVS_BUILDDIR/tests/plugins"
ls "$PLUGINS"/t_good.la >/dev/null 2>&1 || { echo "test plugins not built"; exit 77; }

. "$(dirname "$0")/daemon_lib.sh"
test_begin api

# write_config SLEEP_MS MAX_INFLIGHT [broken]
write_config() {
	cat > "$D/kvscreend.conf" <<EOF
daemon: {
  listen = "127.0.0.1:0";
  socket = "run/k.sock";
  socket_mode = "0600";
  socket_group = "$(id -gn)";
  state_dir = "state";
  threads = 2;
  log_level = "info";
  plugin_dir = "$PLUGINS";
  max_inflight = $2;
  max_connections = 8;
  header_timeout_ms = 1000;
  body_timeout_ms = 1000;
  idle_timeout_ms = 3000;
};
limits: { max_request_bytes = 8192; plugin_timeout_ms = 30000; };
plugins: {
  t_good: { keyword = "forbidden"; };
  t_slow: { keyword = "slowword"; severity = "low"; sleep_ms = $1; };
};
EOF
	if [ "${3:-}" = broken ]; then
		printf 'plugins2: { };\n' >> "$D/kvscreend.conf"
	fi
}

# stop_daemon: SIGTERM, then the exit status must be 0.
stop_daemon() {
	kill -TERM "$PID"
	wait "$PID"
	local rc=$?
	PID=
	[ "$rc" = 0 ] || fail "exit status $rc after SIGTERM"
}

# req METHOD PATH [curl args]: prints the status; body in $D/body, head in $D/hdr.
req() {
	local m=$1 p=$2
	shift 2
	curl -s -o "$D/body" -D "$D/hdr" -w '%{http_code}' -X "$m" "$@" "http://127.0.0.1:$PORT$p"
}
ureq() {
	local m=$1 p=$2
	shift 2
	curl -s -o "$D/body" -D "$D/hdr" -w '%{http_code}' -X "$m" --unix-socket "$D/run/k.sock" \
		"$@" "http://localhost$p"
}
expect() {
	[ "$2" = "$1" ] || fail "$3: expected $1, got $2: $(cat "$D/body" 2>/dev/null)"
	ok "$3 ($1)"
}
has_header() {
	grep -qi "^$1" "$D/hdr" || fail "no '$1' header in: $(cat "$D/hdr")"
}
body_has() {
	grep -q -- "$1" "$D/body" || fail "body lacks '$1': $(cat "$D/body")"
}

# inflight_is N: /metrics shows N screenings in flight.
inflight_is() {
	curl -s -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/metrics" |
		grep -q "^kvscreend_screenings_inflight $1\$"
}
# reloads_past N: more than N "reloaded" lines in the log.
reloads_past() { [ "$(grep -c 'reloaded ' "$D/log")" -gt "$1" ]; }
# CAT_S: how long to read an answer the daemon owes (scaled).
CAT_S=$(( $(scaled_ms 60) / 1000 + 1 ))

AUTH=()
auth() { AUTH=(-H "Authorization: Bearer $TOKEN"); }
JSON=(-H "Content-Type: application/json")

write_config 0 16
start_daemon
auth

# ---- token file ----
[ "$(stat -c %a "$D/state/api-token")" = 600 ] || fail "api-token is not mode 0600"
grep -q "created the API token file $D/state/api-token" "$D/log" || fail "token creation not logged"
[ "$(head -c 64 "$D/state/api-token" | tr -d '0-9a-f' | wc -c)" = 0 ] || fail "token not hex"
ok "api-token created 0600, 64 hex digits, logged"

# The allocator it was built with (configure: jemalloc where installed).
if grep -q '^#define HAVE_JEMALLOC 1' "$KVS_BUILDDIR/config.h"; then want='jemalloc [0-9]'; else want='glibc malloc'; fi
"$DAEMON" --version | grep -q "^kvscreend [0-9.]* ($want" || fail "--version: $("$DAEMON" --version)"
grep -q " ready: .*worker threads, $want" "$D/log" || fail "the ready line does not name the allocator ($want)"
ldd "$KVS_BUILDDIR/.libs/kvscreend" "$DAEMON" 2>/dev/null | grep -q libjemalloc ||
	[ "$want" = 'glibc malloc' ] || fail "kvscreend says jemalloc but is not linked with it"
ok "--version and the ready line name the allocator ($want)"

# ---- health ----
expect 200 "$(req GET /healthz)" "healthz without a token"
expect 200 "$(req GET /readyz)" "readyz without a token"
body_has '"ready"'

# ---- auth ----
GOOD='{"id":"api-1","type":"export","title":"a forbidden sensor","destination":{"country":"NO"}}'
expect 401 "$(req POST /v1/screenings "${JSON[@]}" --data "$GOOD")" "no token"
has_header 'WWW-Authenticate: Bearer'
body_has '"code":"unauthorized"'
expect 401 "$(req POST /v1/screenings "${JSON[@]}" -H 'Authorization: Bearer nope' --data "$GOOD")" "wrong token"
expect 401 "$(req POST /v1/screenings "${JSON[@]}" -H "Authorization: Basic $TOKEN" --data "$GOOD")" "not a bearer token"
expect 403 "$(req POST /v1/screenings "${JSON[@]}" "${AUTH[@]}" -H 'Origin: http://evil.example' --data "$GOOD")" "browser Origin"
expect 401 "$(req GET /metrics)" "metrics need a token"

# ---- screening, replay, conflict ----
expect 200 "$(req POST /v1/screenings "${JSON[@]}" "${AUTH[@]}" --data "$GOOD")" "POST over TCP"
body_has '"schema":"kvscreen.verdict/v1"'
body_has '"request_id":"api-1"'
body_has '"decision":"escalate"'
rid=$(sed -n 's/^X-Request-Id: \([0-9]*\).*/\1/ip' "$D/hdr")
[ -n "$rid" ] && grep -q "req $rid: id api-1: escalate" "$D/log" || fail "X-Request-Id $rid not in the log"
ok "X-Request-Id matches the log line"
cp "$D/body" "$D/first"
"$KVS_BUILDDIR/kvscreen" outbox list --state "$D/state" | grep -q '^[0-9]\{20\}\.api-1 verdict ' ||
	fail "verdict not in the outbox: $("$KVS_BUILDDIR/kvscreen" outbox list --state "$D/state")"
[ "$("$KVS_BUILDDIR/kvscreen" outbox cat --state "$D/state")" = "$(cat "$D/first")" ] || fail "kvscreen outbox cat differs from the answer"
[ "$("$KVS_BUILDDIR/kvscreen" outbox list -c "$D/kvscreend.conf")" = "$("$KVS_BUILDDIR/kvscreen" outbox list --state "$D/state")" ] ||
	fail "kvscreen outbox list -c does not read the configuration's state_dir"
ok "verdict is in the outbox (kvscreen outbox list, cat; -c or --state)"
expect 200 "$(req POST /v1/screenings "${JSON[@]}" "${AUTH[@]}" --data "$GOOD")" "same id, same request"
cmp -s "$D/body" "$D/first" || fail "replay differs from the stored verdict"
ok "replay answers the stored verdict byte for byte"
# Same content, other key order and spacing: the same request.
expect 200 "$(req POST /v1/screenings "${JSON[@]}" "${AUTH[@]}" --data '{ "type":"export", "id":"api-1", "destination":{"country":"NO"}, "title":"a forbidden sensor" }')" "same request, reordered"
cmp -s "$D/body" "$D/first" || fail "reordered replay differs"
expect 409 "$(req POST /v1/screenings "${JSON[@]}" "${AUTH[@]}" --data '{"id":"api-1","type":"export","title":"other"}')" "same id, other request"
body_has '"code":"conflict"'
expect 200 "$(req GET /v1/screenings/api-1 "${AUTH[@]}")" "GET verdict"
cmp -s "$D/body" "$D/first" || fail "GET differs from the POST answer"
expect 404 "$(req GET /v1/screenings/nope "${AUTH[@]}")" "GET unknown id"
expect 404 "$(req GET '/v1/screenings/..%2f..' "${AUTH[@]}")" "GET hostile id"

# ---- errors ----
expect 415 "$(req POST /v1/screenings -H 'Content-Type: text/plain' "${AUTH[@]}" --data "$GOOD")" "wrong media type"
expect 415 "$(req POST /v1/screenings "${AUTH[@]}" --data-binary "$GOOD" -H 'Content-Type:')" "no media type"
expect 200 "$(req POST /v1/screenings -H 'Content-Type: application/json; charset=utf-8' "${AUTH[@]}" --data '{"id":"api-cs","type":"export"}')" "media type with charset"
head -c 9000 /dev/zero | tr '\0' 'a' > "$D/big"
expect 413 "$(req POST /v1/screenings "${JSON[@]}" "${AUTH[@]}" --data-binary @"$D/big")" "body over max_request_bytes"
body_has '"code":"too_large"'
expect 400 "$(req POST /v1/screenings "${JSON[@]}" "${AUTH[@]}" --data '{"id":"x",')" "malformed JSON"
body_has '"error"'
expect 400 "$(req POST /v1/screenings "${JSON[@]}" "${AUTH[@]}" --data '{"id":"api-2","type":"bogus"}')" "invalid type"
body_has '"path":"/type"'
expect 400 "$(req POST /v1/screenings "${JSON[@]}" "${AUTH[@]}" --data '{"id":"bad id!","type":"export"}')" "invalid id"
body_has '"path":"/id"'
expect 405 "$(req GET /v1/screenings "${AUTH[@]}")" "GET on the collection"
has_header 'Allow: POST'
expect 405 "$(req DELETE /v1/screenings/api-1 "${AUTH[@]}")" "DELETE a verdict"
has_header 'Allow: GET'
expect 405 "$(req POST /healthz)" "POST healthz"
expect 404 "$(req GET /nowhere "${AUTH[@]}")" "unknown path"
body_has '"code":"not_found"'

# ---- Unix socket: no token needed ----
expect 200 "$(ureq POST /v1/screenings "${JSON[@]}" --data '{"id":"api-unix","type":"partnership","title":"fine"}')" "POST over the Unix socket"
body_has '"request_id":"api-unix"'
expect 200 "$(ureq GET /v1/screenings/api-1)" "GET over the Unix socket"
[ "$(stat -c %a "$D/run/k.sock")" = 600 ] || fail "socket mode is not 0600"
[ "$(stat -c %G "$D/run/k.sock")" = "$(id -gn)" ] || fail "socket group is not $(id -gn)"
ok "socket mode and group from the configuration"

# ---- plugins, metrics ----
expect 200 "$(req GET /v1/plugins "${AUTH[@]}")" "plugins"
body_has '"name":"t_good"'
body_has '"name":"t_slow"'
expect 200 "$(req GET /metrics "${AUTH[@]}")" "metrics"
body_has 'kvscreend_screenings_total{decision="escalate"} 1'
body_has 'kvscreend_http_responses_total{code="401"}'
body_has 'kvscreend_screening_duration_seconds_bucket{le="+Inf"}'
body_has 'kvscreend_plugin_duration_seconds_count{plugin="t_good"}'
body_has 'kvscreend_outbox_depth'
grep -q '^Content-Type: text/plain; version=0.0.4' "$D/hdr" || fail "metrics content type"

# ---- keep-alive and pipelining ----
n=$(curl -s -w '%{num_connects}\n' "${AUTH[@]}" -o /dev/null "http://127.0.0.1:$PORT/healthz" \
	-o /dev/null "http://127.0.0.1:$PORT/readyz" \
	-o /dev/null "http://127.0.0.1:$PORT/v1/screenings/api-1" | tr -d '\n')
[ "$n" = 100 ] || fail "keep-alive: connects per request were $n, want 1 0 0"
ok "keep-alive: three requests on one connection"
exec 3<>"/dev/tcp/127.0.0.1/$PORT"
printf 'GET /v1/screenings/api-1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\nPOST /v1/screenings HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 38\r\n\r\n{"id":"api-pipe","type":"investment"}\nGET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' "$TOKEN" "$TOKEN" >&3
timeout "$CAT_S" cat <&3 > "$D/pipe.out"
exec 3<&-
[ "$(grep -o 'HTTP/1.1 200' "$D/pipe.out" | wc -l)" = 3 ] || fail "pipelining: $(cat "$D/pipe.out")"
grep -o '"request_id":"[a-z0-9-]*"\|"status":"ready"' "$D/pipe.out" | tr '\n' ' ' > "$D/order"
[ "$(cat "$D/order")" = '"request_id":"api-1" "request_id":"api-pipe" "status":"ready" ' ] ||
	fail "pipelined answers out of order: $(cat "$D/order")"
ok "three pipelined requests answered in order"

# ---- a client sending one byte per second is dropped ----
exec 3<>"/dev/tcp/127.0.0.1/$PORT"
t0=$(date +%s%N)
( for c in G E T ' ' / h e a l t h z ' ' H T T P; do printf %s "$c"; sleep 1; done ) >&3 2>/dev/null &
SLOW=$!
timeout "$CAT_S" cat <&3 > "$D/slow.out"
t1=$(date +%s%N)
exec 3<&-
kill "$SLOW" 2>/dev/null
wait "$SLOW" 2>/dev/null
ms=$(( (t1 - t0) / 1000000 ))
# The 408 shows the header timeout ended it (the request was never
# complete); a busy machine may take longer than 1 s to send it, never less.
[ "$ms" -ge 900 ] || fail "slow client dropped after $ms ms, before the header timeout"
grep -q '^HTTP/1.1 408' "$D/slow.out" || fail "slow client got no 408: $(cat "$D/slow.out")"
ok "slow client got 408 and was dropped after $ms ms (header timeout 1000 ms)"

# A body that stops coming.
exec 3<>"/dev/tcp/127.0.0.1/$PORT"
printf 'POST /v1/screenings HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"id":' "$TOKEN" >&3
timeout "$CAT_S" cat <&3 > "$D/slowbody.out"
exec 3<&-
grep -q '^HTTP/1.1 408' "$D/slowbody.out" || fail "stalled body got no 408"
ok "stalled body got 408"

# Oversized headers and a bad request line.
exec 3<>"/dev/tcp/127.0.0.1/$PORT"
{ printf 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: '; head -c 20000 /dev/zero | tr '\0' 'b'; printf '\r\n\r\n'; } >&3 2>/dev/null
timeout "$CAT_S" cat <&3 > "$D/big.out"
exec 3<&-
grep -q '^HTTP/1.1 431' "$D/big.out" || fail "oversized header got no 431: $(head -c 200 "$D/big.out")"
ok "oversized header got 431"
exec 3<>"/dev/tcp/127.0.0.1/$PORT"
printf 'BLAH\r\n\r\n' >&3
timeout "$CAT_S" cat <&3 > "$D/bad.out"
exec 3<&-
grep -q '^HTTP/1.1 400' "$D/bad.out" || fail "bad request line got no 400"
ok "bad request line got 400"

# ---- connection cap (max_connections = 8) ----
FDS=()
for _ in 1 2 3 4 5 6 7 8; do
	exec {fd}<>"/dev/tcp/127.0.0.1/$PORT"
	FDS+=("$fd")
done
# The ninth closes the idlest of them (the first) and is served
# (tests/daemon_net.sh tests the caps in depth).
expect 200 "$(req GET /healthz)" "ninth connection"
timeout 10 cat <&"${FDS[0]}" >/dev/null || fail "the idlest connection was not closed"
ok "the idlest connection was closed for the ninth"
for fd in "${FDS[@]}"; do exec {fd}<&-; done
healthz_200() { [ "$(req GET /healthz)" = 200 ]; }
wait_for 30 healthz_200
expect 200 "$(req GET /healthz)" "after the connections closed"

# ---- failed authentications are throttled ----
# (In rounds: a slow build, e.g. under ASan, may need more than a second
# for 50 attempts.)
urls=()
for _ in $(seq 120); do urls+=(-o /dev/null "http://127.0.0.1:$PORT/v1/plugins"); done
for _ in 1 2 3 4; do
	codes=$(curl -s -w '%{http_code}\n' -H 'Authorization: Bearer guess' "${urls[@]}" | sort | uniq -c | tr -s ' ')
	echo "$codes" | grep -q ' 429' && break
done
echo "$codes" | grep -q ' 429' || fail "no 429 after 120 wrong tokens: $codes"
ok "429 after many wrong tokens ($(echo $codes))"
sleep 1.2

# ---- the spool: a file dropped into incoming/ is screened and retired ----
mkdir -p "$D/state/spool/incoming"
printf '{"id":"spool-1","type":"export","title":"forbidden goods"}' > "$D/spool.tmp"
mv "$D/spool.tmp" "$D/state/spool/incoming/spool-1.json"
printf '{"id":"spool-2","type":"nope"}' > "$D/spool.tmp"
mv "$D/spool.tmp" "$D/state/spool/incoming/spool-2.json"
spool_done() { [ -e "$D/state/spool/done/spool-1.json" ] && [ -e "$D/state/spool/rejected/spool-2.json" ]; }
wait_for 60 spool_done
[ -e "$D/state/spool/done/spool-1.json" ] || fail "spool file not moved to done/"
[ -e "$D/state/spool/rejected/spool-2.error.json" ] || fail "bad spool file has no error file"
grep -q '"path":"/type"' "$D/state/spool/rejected/spool-2.error.json" || fail "spool error lacks the path"
expect 200 "$(req GET /v1/screenings/spool-1 "${AUTH[@]}")" "verdict of a spool file over the API"
body_has '"decision":"escalate"'

# ---- reload under load: no request fails ----
write_config 0 16
( for i in $(seq 150); do
	req POST /v1/screenings "${JSON[@]}" "${AUTH[@]}" --data "{\"id\":\"load-$i\",\"type\":\"export\"}"
	echo
  done > "$D/load.codes" ) &
LOAD=$!
for cfg in good broken good broken good; do
	if [ "$cfg" = good ]; then write_config 0 16; else write_config 0 16 broken; fi
	kill -HUP "$PID"
	sleep 0.2
done
write_config 0 16
wait "$LOAD"
[ "$(grep -c '^200$' "$D/load.codes")" = 150 ] ||
	fail "requests failed during reloads: $(sort "$D/load.codes" | uniq -c | tr '\n' ' ')"
[ "$(grep -c 'reload failed' "$D/log")" -ge 2 ] || fail "broken reloads not reported"
ok "150 screenings during 5 reloads (2 broken), all 200"

# ---- reload: slow plugin (5 s, time enough to see it in flight on a busy
# machine), one screening in flight at most ----
wait_for 60 inflight_is 0 || fail "screenings still in flight after the reloads"
write_config 5000 1
n0=$(grep -c 'reloaded ' "$D/log")
kill -HUP "$PID"
wait_for 60 reloads_past "$n0" || fail "reload not logged"
expect 200 "$(req GET /readyz)" "ready after reload"
# (Its own body and head files: it answers while this shell goes on.)
( curl -s -o "$D/slow.body" -w '%{http_code}' -X POST "${JSON[@]}" "${AUTH[@]}" \
	--data '{"id":"api-slow","type":"export"}' "http://127.0.0.1:$PORT/v1/screenings" > "$D/slow.code" ) &
BG=$!
wait_for 60 inflight_is 1 || fail "the slow screening never started"
expect 503 "$(req POST /v1/screenings "${JSON[@]}" "${AUTH[@]}" --data '{"id":"api-over","type":"export"}')" "past max_inflight"
has_header 'Retry-After: '
body_has '"code":"overloaded"'
wait "$BG"
[ "$(cat "$D/slow.code")" = 200 ] || fail "the slow screening got $(cat "$D/slow.code")"
ok "the screening in flight finished with 200"

# ---- reload with a broken configuration keeps the running one ----
write_config 5000 1 broken
n0=$(grep -c 'reload failed' "$D/log")
kill -HUP "$PID"
reload_failed_past() { [ "$(grep -c 'reload failed' "$D/log")" -gt "$1" ]; }
wait_for 60 reload_failed_past "$n0"
[ "$(grep -c 'reload failed' "$D/log")" -gt "$n0" ] || fail "broken reload not reported"
grep -q "kvscreend.conf:[0-9]*: .*plugins2" "$D/log" || fail "broken reload without file:line"
ok "broken reload logged with file:line"
expect 200 "$(req GET /readyz)" "ready after a failed reload"
expect 200 "$(req GET /v1/plugins "${AUTH[@]}")" "old plugins still loaded"
body_has '"name":"t_slow"'

# ---- kvscreen reload waits for the outcome (ExecReload of the unit) ----
KVSCREEN="$KVS_BUILDDIR/kvscreen"
if "$KVSCREEN" reload --socket "$D/run/k.sock" > "$D/reload.out" 2> "$D/reload.err"; then
	fail "kvscreen reload of a broken configuration exited 0"
else
	rc=$?
fi
[ "$rc" = 2 ] || fail "kvscreen reload of a broken configuration exited $rc, expected 2"
grep -q "kvscreend.conf:[0-9]*: .*plugins2" "$D/reload.err" || fail "kvscreen reload without file:line: $(cat "$D/reload.err")"
ok "kvscreen reload of a broken configuration exits 2 with file:line"
write_config 5000 1
(cd "$D" && "$KVSCREEN" reload -c "$D/kvscreend.conf") > "$D/reload.out" 2> "$D/reload.err" ||
	fail "kvscreen reload of a good configuration failed: $(cat "$D/reload.err")"
grep -q '^reloaded: policy [0-9a-f]\{64\}$' "$D/reload.out" || fail "kvscreen reload said: $(cat "$D/reload.out")"
expect 200 "$(req GET /v1/plugins "${AUTH[@]}")" "plugins after kvscreen reload"
body_has '"name":"t_slow"'
ok "kvscreen reload of a good configuration exits 0 once it is in effect"
expect 403 "$(req POST /v1/admin/reload "${AUTH[@]}")" "reload over TCP refused"

# ---- SIGTERM finishes the screening in flight, exits 0 ----
write_config 5000 4
n0=$(grep -c 'reloaded ' "$D/log")
kill -HUP "$PID"
wait_for 60 reloads_past "$n0" || fail "reload not logged"
( curl -s -o "$D/drain.body" -w '%{http_code}' -X POST "${JSON[@]}" "${AUTH[@]}" \
	--data '{"id":"api-drain","type":"export"}' "http://127.0.0.1:$PORT/v1/screenings" > "$D/drain.code" ) &
BG=$!
wait_for 60 inflight_is 1 || fail "the screening never started"
stop_daemon
wait "$BG"
[ "$(cat "$D/drain.code")" = 200 ] || fail "screening in flight at SIGTERM got $(cat "$D/drain.code")"
ok "SIGTERM: the screening in flight was answered 200 and the daemon exited 0"
[ ! -e "$D/run/k.sock" ] || fail "socket file left behind"

# ---- restart: stored verdicts are still answered ----
write_config 0 16
start_daemon
auth
expect 200 "$(req GET /v1/screenings/api-drain "${AUTH[@]}")" "verdict after a restart"
expect 200 "$(req GET /v1/screenings/api-1 "${AUTH[@]}")" "first verdict after a restart"
cmp -s "$D/body" "$D/first" || fail "stored verdict changed across the restart"
expect 409 "$(req POST /v1/screenings "${JSON[@]}" "${AUTH[@]}" --data '{"id":"api-1","type":"export"}')" "conflict after a restart"
stop_daemon

# ---- a group-writable token file is refused ----
chmod 0620 "$D/state/api-token"
(cd "$D" && "$DAEMON" -c "$D/kvscreend.conf" > "$D/log" 2>&1) && fail "started with a group-writable token file"
grep -q 'group- or world-writable' "$D/log" || fail "no reason given for the token refusal"
ok "group-writable token file refused"

echo "all daemon API tests passed"
