#!/bin/bash
# daemon_workers.sh - screening has workers of its own: with threads = 2 and
# both held by a plugin far past its budget, the durable path (outbox commits,
# stored verdicts, health) still answers, the stuck threads are counted, and
# a new screening is refused with 503 instead of queueing behind them.
#
# No wall-clock assertions: the test plugin t_slow blocks requests with ids
# gate-* until the test creates a gate file, and then writes a "released"
# marker.  Every answer checked below must arrive while no marker exists,
# i.e. while both workers are still blocked; on libuv's shared pool (the old
# design) the outbox commit of a timed-out verdict waited for a blocked
# thread, so its answer came only after the release.
set -u

: "${KVS_BUILDDIR:=$(cd "$(dirname "$0")/.." && pwd)}"
command -v curl >/dev/null || { echo "curl not installed"; exit 77; }
DAEMON="$KVS_BUILDDIR/kvscreend"
PLUGINS="$KVS_BUILDDIR/tests/plugins"
ls "$PLUGINS"/t_slow.la >/dev/null 2>&1 || { echo "test plugins not built"; exit 77; }

. "$(dirname "$0")/daemon_lib.sh"
test_begin workers
# Let the blocked workers go before the daemon is killed.
on_cleanup() { touch "$D/gate" 2>/dev/null; }

cat > "$D/kvscreend.conf" <<EOF
daemon: {
  listen = "127.0.0.1:0";
  socket = "run/k.sock";
  state_dir = "state";
  threads = 2;
  log_level = "info";
  plugin_dir = "$PLUGINS";
  max_inflight = 16;
};
limits: { plugin_timeout_ms = 300; };
plugins: {
  t_good: { keyword = "forbidden"; };
  t_slow: { keyword = "slowword"; severity = "low"; gate_file = "$D/gate"; };
};
EOF

req() {
	local m=$1 p=$2
	shift 2
	curl -s -m 120 -o "$D/body" -w '%{http_code}' -X "$m" "${AUTH[@]}" \
		-H "Content-Type: application/json" "$@" "http://127.0.0.1:$PORT$p"
}
released() { ls "$D"/gate.*.released >/dev/null 2>&1; }
still_blocked() { released && fail "$1: answered only after the plugin let go"; ok "$1"; }

start_daemon
AUTH=(-H "Authorization: Bearer $TOKEN")

# A verdict stored before the workers get stuck.
[ "$(req POST /v1/screenings --data '{"id":"before","type":"export","title":"forbidden"}')" = 200 ] ||
	fail "first screening: $(cat "$D/body")"

# Two screenings whose t_slow blocks: one per worker thread.
BG=()
for id in gate-1 gate-2; do
	( curl -s -m 120 -o "$D/$id.body" -w '%{http_code}' -X POST "${AUTH[@]}" \
		-H "Content-Type: application/json" --data "{\"id\":\"$id\",\"type\":\"export\"}" \
		"http://127.0.0.1:$PORT/v1/screenings" > "$D/$id.code" ) &
	BG+=($!)
done
wait "${BG[@]}"
# Their budget ran out: each answered (durably stored: 200) with a timeout
# finding, while the plugin still holds both threads.
for id in gate-1 gate-2; do
	[ "$(cat "$D/$id.code")" = 200 ] || fail "$id: $(cat "$D/$id.code") $(cat "$D/$id.body")"
	grep -q '"status":"timeout"' "$D/$id.body" || fail "$id: no timeout: $(cat "$D/$id.body")"
	grep -q '"decision":"clear"' "$D/$id.body" && fail "$id: a timeout gave clear"
done
still_blocked "two timed-out screenings committed to the outbox and answered 200"

[ "$(req GET /v1/screenings/before)" = 200 ] || fail "stored verdict: $(cat "$D/body")"
grep -q '"request_id":"before"' "$D/body" || fail "wrong stored verdict"
[ "$(req GET /v1/screenings/gate-1)" = 200 ] || fail "stored timeout verdict: $(cat "$D/body")"
[ "$(req GET /healthz)" = 200 ] || fail "healthz"
still_blocked "stored verdicts and healthz answered"

grep -q "2 of 2 screening workers are held past their budget" "$D/log" ||
	fail "the stuck workers were not counted"
code=$(req POST /v1/screenings --data '{"id":"during","type":"export"}')
[ "$code" = 503 ] || fail "a screening with every worker stuck got $code: $(cat "$D/body")"
still_blocked "stuck workers counted; a new screening is refused with 503"

# Let go: the workers come back and screen again.
touch "$D/gate"
for _ in $(seq 600); do
	[ "$(ls "$D"/gate.*.released 2>/dev/null | wc -l)" = 2 ] && break
	sleep 0.1
done
[ "$(ls "$D"/gate.*.released 2>/dev/null | wc -l)" = 2 ] || fail "the plugin did not let go"
code=
for _ in $(seq 100); do
	code=$(req POST /v1/screenings --data '{"id":"after","type":"export","title":"forbidden"}')
	[ "$code" = 200 ] && break
	sleep 0.1
done
[ "$code" = 200 ] || fail "after the release: $code $(cat "$D/body")"
grep -q '"status":"timeout"' "$D/body" && fail "after the release: a timeout: $(cat "$D/body")"
ok "after the release the workers screen again"

kill -TERM "$PID"
wait "$PID"
rc=$?
PID=
[ "$rc" = 0 ] || fail "exit status $rc after SIGTERM"
ok "clean stop"
