#!/bin/bash
# daemon_sink_outage.sh - the built kvscreend says what is wrong while its
# queue is down: the first failed delivery is logged at once, then one line
# per sink.log_interval_ms with the failures since the last line, the last
# error, the backlog and the age of the oldest undelivered verdict; one line
# when delivery works again; /metrics shows the backlog and the oldest age.
set -u

: "${KVS_BUILDDIR:=$(cd "$(dirname "$0")/.." && pwd)}"
command -v curl >/dev/null || { echo "curl not installed"; exit 77; }
command -v python3 >/dev/null || { echo "python3 not installed"; exit 77; }
DAEMON="$KVS_BUILDDIR/kvscreend"

. "$(dirname "$0")/daemon_lib.sh"
test_begin outage
RX=
on_cleanup() { [ -n "$RX" ] && kill "$RX" 2>/dev/null; }

# A webhook receiver that answers 500 until $D/up exists, then 200 and
# appends the request id to $D/received.
cat > "$D/rx.py" <<'EOF'
import http.server, json, os, sys

d = sys.argv[1]

class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        up = os.path.exists(os.path.join(d, "up"))
        if up:
            with open(os.path.join(d, "received"), "a") as f:
                f.write(body["request_id"] + "\n")
        self.send_response(200 if up else 500)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass

srv = http.server.HTTPServer(("127.0.0.1", 0), H)
with open(os.path.join(d, "rxport"), "w") as f:
    f.write(str(srv.server_address[1]))
srv.serve_forever()
EOF
python3 "$D/rx.py" "$D" &
RX=$!
for _ in $(seq 100); do [ -s "$D/rxport" ] && break; sleep 0.1; done
[ -s "$D/rxport" ] || fail "receiver did not start"

cat > "$D/kvscreend.conf" <<EOF
daemon: {
  listen = "127.0.0.1:0";
  socket = "";
  state_dir = "state";
  log_level = "notice";
};
sink: {
  kind = "webhook";
  url = "http://127.0.0.1:$(cat "$D/rxport")/verdicts";
  backoff_min_ms = 50;
  backoff_max_ms = 200;
  rescan_ms = 200;
  log_interval_ms = 1000;
};
EOF
: > "$D/log"
(cd "$D" && exec "$DAEMON" -c "$D/kvscreend.conf" >> "$D/log" 2>&1) &
PID=$!
for _ in $(seq 300); do grep -q ' ready: ' "$D/log" && break; sleep 0.1; done
grep -q ' ready: ' "$D/log" || fail "daemon not ready"
PORT=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$D/log")
TOKEN=$(head -n1 "$D/state/api-token")
metric() { # metric NAME: its value
	curl -s -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/metrics" |
		sed -n "s/^$1 \([0-9.]*\)$/\1/p"
}
wait_for() { # wait_for WHAT COMMAND...: until COMMAND succeeds, at most 60 s
	local what=$1
	shift
	for _ in $(seq 600); do "$@" && return 0; sleep 0.1; done
	fail "timed out waiting for $what"
}

for i in 1 2 3; do
	code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
		-H 'Content-Type: application/json' \
		--data "{\"id\":\"out-$i\",\"type\":\"export\",\"title\":\"x\"}" \
		"http://127.0.0.1:$PORT/v1/screenings")
	[ "$code" = 200 ] || fail "POST out-$i: $code"
done

# The first failure at once, with the error, the backlog and the age.
wait_for "the first failure line" grep -q 'sink: delivery of .* failed: the receiver answered HTTP 500; retrying with backoff; backlog' "$D/log"
ok "first failure: $(grep -m1 -o 'sink: delivery of .*' "$D/log")"

# Then summaries, each counting several failures: rate limited.
several() { grep 'sink: delivery failing for' "$D/log" | grep -q ': \([2-9]\|[1-9][0-9]\+\) failed attempts in the last 1 s'; }
wait_for "a summary line counting several failures" several
line=$(grep 'sink: delivery failing for' "$D/log" | tail -1)
case $line in
*"last error: the receiver answered HTTP 500; backlog 3 verdicts, oldest undelivered "*) ;;
*) fail "summary line lacks error, backlog or age: $line" ;;
esac
ok "summary: ${line#*sink: }"

# The gauges: backlog 3, the oldest age rising, failing 1.
[ "$(metric kvscreend_outbox_backlog)" = 3 ] || fail "backlog gauge: $(metric kvscreend_outbox_backlog)"
[ "$(metric kvscreend_sink_failing)" = 1 ] || fail "failing gauge: $(metric kvscreend_sink_failing)"
age1=$(metric kvscreend_outbox_oldest_age_seconds)
older() { python3 -c "import sys; sys.exit(0 if float('$(metric kvscreend_outbox_oldest_age_seconds)') >= float('$age1') + 1 else 1)"; }
wait_for "the oldest age to rise" older
ok "gauges: backlog 3, failing 1, oldest age $age1 s rising to $(metric kvscreend_outbox_oldest_age_seconds) s"

# Rate limited: fewer sink lines than failures, at most one per second.
failures=$(metric kvscreend_sink_failures_total)
lines=$(grep -c 'sink: delivery \(of .* failed\|failing for\)' "$D/log")
[ "$lines" -lt "$failures" ] || fail "$lines sink lines for $failures failures"
ok "$lines log lines for $failures failed attempts"

# Recovery: one line with the outage's duration and counts; gauges back to 0.
touch "$D/up"
wait_for "the recovery line" grep -q 'sink: delivering again after an outage of' "$D/log"
line=$(grep 'sink: delivering again' "$D/log")
case $line in
*" s: "*" failed attempts, last error: the receiver answered HTTP 500; backlog "*) ;;
*) fail "recovery line: $line" ;;
esac
ok "recovery: ${line#*sink: }"
received3() { [ "$(sort -u "$D/received" 2>/dev/null | wc -l)" = 3 ]; }
wait_for "all three delivered" received3
zero() { [ "$(metric kvscreend_outbox_backlog)" = 0 ] && [ "$(metric kvscreend_outbox_oldest_age_seconds)" = 0.000 ]; }
wait_for "the gauges back at 0" zero
[ "$(metric kvscreend_sink_failing)" = 0 ] || fail "still failing after recovery"
[ "$(metric kvscreend_sink_outages_total)" = 1 ] || fail "outages: $(metric kvscreend_sink_outages_total)"
ok "all delivered, backlog and oldest age 0, one outage counted"
