#!/bin/bash
# daemon_sink.sh - the built kvscreend delivering verdicts to a webhook: every
# screened request reaches the receiver (with an idempotency key) and leaves
# the outbox; while the receiver is down verdicts wait in the outbox and are
# delivered once it is back; /metrics shows the deliveries and the depth.
set -u

: "${KVS_BUILDDIR:=$(cd "$(dirname "$0")/.." && pwd)}"
command -v curl >/dev/null || { echo "curl not installed"; exit 77; }
command -v python3 >/dev/null || { echo "python3 not installed"; exit 77; }
DAEMON="$KVS_BUILDDIR/kvscreend"

. "$(dirname "$0")/daemon_lib.sh"
test_begin sink
RX=
on_cleanup() { [ -n "$RX" ] && kill "$RX" 2>/dev/null; }

# A webhook receiver on an ephemeral loopback port: appends
# "KEY REQUEST_ID" per delivery to $D/received and answers 200.
cat > "$D/rx.py" <<'EOF'
import http.server, json, sys

out, portfile = sys.argv[1], sys.argv[2]

class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(n))
        with open(out, "a") as f:
            f.write("%s %s\n" % (self.headers.get("Idempotency-Key", "-"), body["request_id"]))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass

srv = http.server.HTTPServer(("127.0.0.1", int(sys.argv[3]) if len(sys.argv) > 3 else 0), H)
with open(portfile, "w") as f:
    f.write(str(srv.server_address[1]))
srv.serve_forever()
EOF

start_rx() { # [PORT]
	rm -f "$D/rxport"
	python3 "$D/rx.py" "$D/received" "$D/rxport" ${1:+"$1"} &
	RX=$!
	rx_up() { [ -s "$D/rxport" ]; }
	wait_for 30 rx_up || fail "receiver did not start"
	RXPORT=$(cat "$D/rxport")
}

start_rx
cat > "$D/kvscreend.conf" <<EOF
daemon: {
  listen = "127.0.0.1:0";
  socket = "";
  state_dir = "state";
  log_level = "notice";
};
sink: {
  kind = "webhook";
  url = "http://127.0.0.1:$RXPORT/verdicts";
  backoff_min_ms = 50;
  backoff_max_ms = 300;
  rescan_ms = 200;
};
EOF
start_daemon

post() { # ID
	curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
		-H "Authorization: Bearer $TOKEN" --data "{\"id\":\"$1\",\"type\":\"export\"}" \
		"http://127.0.0.1:$PORT/v1/screenings"
}
delivered() { # COUNT: deliveries recorded and the outbox empty
	[ "$(sort -u "$D/received" 2>/dev/null | wc -l)" -ge "$1" ] &&
		[ -z "$("$KVS_BUILDDIR/kvscreen" outbox list --state "$D/state")" ]
}

for i in $(seq 20); do [ "$(post "w-$i")" = 200 ] || fail "POST w-$i"; done
wait_for 60 delivered 20 || fail "not delivered: $(wc -l < "$D/received" 2>/dev/null) of 20, the outbox: $("$KVS_BUILDDIR/kvscreen" outbox list --state "$D/state" | wc -l)"
for i in $(seq 20); do grep -q " w-$i\$" "$D/received" || fail "w-$i never delivered"; done
grep -q '^[0-9]*\.w-1 w-1$' "$D/received" || fail "no idempotency key SEQ.ID: $(head -2 "$D/received")"
ok "20 verdicts delivered with idempotency keys, the outbox empty"

# The depth follows the confirmations (the sink only sees durable entries).
depth_zero() {
	metrics=$(curl -s -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/metrics")
	echo "$metrics" | grep -q '^kvscreend_outbox_depth 0$'
}
wait_for 30 depth_zero
echo "$metrics" | grep -q '^kvscreend_sink_delivered_total 20$' || fail "sink_delivered_total: $(echo "$metrics" | grep sink_)"
echo "$metrics" | grep -q '^kvscreend_outbox_depth 0$' || fail "outbox_depth: $(echo "$metrics" | grep outbox)"
ok "metrics: 20 delivered, outbox depth 0"

# Receiver down: verdicts wait in the outbox, then go out when it is back.
kill "$RX"
wait "$RX" 2>/dev/null
RX=
for i in $(seq 5); do [ "$(post "d-$i")" = 200 ] || fail "POST d-$i"; done
sink_failed() {
	curl -s -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/metrics" |
		grep -q '^kvscreend_sink_failures_total [1-9]'
}
wait_for 30 sink_failed
[ "$("$KVS_BUILDDIR/kvscreen" outbox list --state "$D/state" | wc -l)" = 5 ] || fail "the outbox holds $("$KVS_BUILDDIR/kvscreen" outbox list --state "$D/state" | wc -l), want 5"
metrics=$(curl -s -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/metrics")
echo "$metrics" | grep -q '^kvscreend_outbox_depth [56]$' || fail "outbox_depth while down: $(echo "$metrics" | grep outbox)"
echo "$metrics" | grep -q '^kvscreend_sink_failures_total [1-9]' || fail "no sink failures counted"
ok "receiver down: 5 verdicts wait in the outbox, failures counted"
start_rx "$RXPORT"
wait_for 60 delivered 25 || fail "not delivered after the receiver came back"
for i in $(seq 5); do grep -q " d-$i\$" "$D/received" || fail "d-$i never delivered"; done
ok "receiver back: the 5 waiting verdicts were delivered"

kill -TERM "$PID"
wait "$PID" || fail "exit status $? after SIGTERM"
PID=
echo "all daemon sink tests passed"
