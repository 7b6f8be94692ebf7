#!/bin/bash
# sink_amqp.sh - the built kvscreend publishing verdicts over AMQP 0-9-1 with publisher confirms to a real rabbitmq-server.
#
# The daemon runs with sink kind "amqp"; the test sets up and inspects the
# broker over the management API (the daemon itself speaks only AMQP), with
# an exchange and queues named after this run.  It checks that
#   1. a verdict the broker cannot route (mandatory, basic.return) stays in
#      the outbox and is delivered once a queue is bound;
#   2. every verdict arrives with message_id SEQ.ID, delivery mode 2 and
#      content type application/json, and the outbox empties;
#   3. a verdict the broker refuses (basic.nack: a full queue with
#      overflow reject-publish) stays in the outbox, and goes out later;
#   4. closing the daemon's connection on the broker in mid-stream loses
#      nothing: the daemon reconnects and delivers every verdict;
#   5. the heartbeat interval is the configured one, and a group-writable
#      password file is refused at start;
#   6. amqps:// checks the broker's certificate (a TLS proxy in front of
#      the broker): unknown -> nothing retired; trusted by ca_file -> delivered.
# Exits 77 when rabbitmq-server is not installed.
set -u

SRC=${KVS_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
BUILD=${KVS_BUILDDIR:-$SRC}
DAEMON=$BUILD/kvscreend
MGMT=${KVS_RABBITMQ_MGMT_PORT:-15672}
AMQP_PORT=${KVS_RABBITMQ_PORT:-5672}
API=http://127.0.0.1:$MGMT/api

if [ ! -x /usr/lib/rabbitmq/bin/rabbitmq-server ]; then
	echo "SKIP: rabbitmq-server is not installed"
	exit 77
fi
for tool in curl python3; do
	command -v "$tool" >/dev/null || { echo "SKIP: $tool is not installed"; exit 77; }
done

# One broker test at a time, so that one does not stop the node under another.
exec 8> "${KVS_RABBITMQ_DIR:-/tmp/kvs-rabbitmq}.test.lock"
flock -w 600 8 || { echo "FAIL: another broker test holds the lock" >&2; exit 1; }

D=$(mktemp -d /tmp/sink_amqp.XXXXXX)
RUN=$$-$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')
X=kvs-amqp-x-$RUN
Q=kvs-amqp-q-$RUN
QR=kvs-amqp-full-$RUN
PID=
PROXY=
started=0

api() { # METHOD PATH [BODY]
	curl -fsS -m 10 -u guest:guest -X "$1" -H 'content-type: application/json' \
		${3:+--data "$3"} "$API$2"
}
cleanup() {
	[ -n "$PID" ] && kill -9 "$PID" 2>/dev/null
	[ -n "$PROXY" ] && kill "$PROXY" 2>/dev/null
	api DELETE "/queues/%2F/$Q" >/dev/null 2>&1
	api DELETE "/queues/%2F/$QR" >/dev/null 2>&1
	api DELETE "/exchanges/%2F/$X" >/dev/null 2>&1
	rm -rf "$D"
	[ "$started" = 1 ] && "$SRC/tests/rabbitmq-stop.sh" >/dev/null 2>&1
}
trap cleanup EXIT INT TERM
fail() {
	echo "FAIL: $*" >&2
	echo "--- daemon log" >&2
	tail -30 "$D/log" >&2
	exit 1
}
ok() { echo "ok - $*"; }

if ! curl -fsS -m 2 -u guest:guest "$API/overview" >/dev/null 2>&1; then
	"$SRC/tests/rabbitmq-start.sh" 8>&- || fail "could not start rabbitmq-server"
	started=1
fi

# wait_until SECONDS COMMAND...: poll a condition, 10 times a second.
wait_until() {
	local n=$(($1 * 10))
	shift
	while [ "$n" -gt 0 ]; do
		"$@" && return 0
		sleep 0.1
		n=$((n - 1))
	done
	return 1
}
outbox_count() { "$BUILD/kvscreen" outbox list --state "$D/state" | wc -l; }
outbox_empty() { [ "$(outbox_count)" -eq 0 ]; }
queue_depth() { # QUEUE: messages ready in it (stats lag a little: see queue_has)
	api GET "/queues/%2F/$1?columns=messages" 2>/dev/null |
		python3 -c 'import json, sys; print(json.load(sys.stdin).get("messages", 0))'
}
# drain QUEUE FILE: move every message of QUEUE to FILE, one JSON line each:
# [message_id, delivery_mode, content_type, request_id].
drain() {
	api POST "/queues/%2F/$1/get" '{"count":10000,"ackmode":"ack_requeue_false","encoding":"auto"}' |
		python3 -c '
import json, sys
for m in json.load(sys.stdin):
    p = m["properties"]
    body = json.loads(m["payload"])
    print(json.dumps([p.get("message_id"), p.get("delivery_mode"), p.get("content_type"),
                      body.get("request_id", body.get("id"))]))' >> "$2"
}
# have_ids FILE PREFIX N [FIRST]: FILE holds PREFIX-FIRST .. PREFIX-(FIRST+N-1)
# (each at least once; FIRST is 1 unless given).
have_ids() {
	python3 - "$@" <<'EOF'
import json, sys
path, prefix, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
first = int(sys.argv[4]) if len(sys.argv) > 4 else 1
got = set()
for line in open(path):
    got.add(json.loads(line)[3])
sys.exit(0 if all("%s-%d" % (prefix, i) in got for i in range(first, first + n)) else 1)
EOF
}
# collect QUEUE FILE PREFIX N [FIRST]: drain QUEUE into FILE, then have_ids.
collect() {
	drain "$1" "$2" && have_ids "$2" "$3" "$4" ${5:+"$5"}
}
post() { # ID
	curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
		-H "Authorization: Bearer $TOKEN" --data "{\"id\":\"$1\",\"type\":\"export\"}" \
		"http://127.0.0.1:$PORT/v1/screenings"
}
post_many() { # PREFIX N
	for i in $(seq "$2"); do [ "$(post "$1-$i")" = 200 ] || fail "POST $1-$i"; done
}
failures() {
	curl -s -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/metrics" |
		sed -n 's/^kvscreend_sink_failures_total //p'
}
failures_above() { [ "$(failures)" -gt "$1" ]; }
# The daemon's AMQP connection on the broker, by its connection_name.
conn_name() {
	api GET "/connections?columns=name,client_properties" 2>/dev/null | python3 -c '
import json, sys
for c in json.load(sys.stdin):
    if c.get("client_properties", {}).get("connection_name") == "kvscreend sink (pid %s)" % sys.argv[1]:
        print(c["name"])' "$PID"
}
have_conn() { [ -n "$(conn_name)" ]; }
urlenc() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }

api PUT "/exchanges/%2F/$X" '{"type":"direct","durable":false,"auto_delete":false}' >/dev/null ||
	fail "cannot declare exchange $X"
api PUT "/queues/%2F/$Q" '{"durable":true}' >/dev/null || fail "cannot declare queue $Q"
# A queue that refuses every message: the broker nacks publishes routed to it.
api PUT "/queues/%2F/$QR" \
	'{"durable":false,"arguments":{"x-max-length":0,"x-overflow":"reject-publish"}}' >/dev/null ||
	fail "cannot declare queue $QR"
printf 'guest\n' > "$D/password"
chmod 600 "$D/password"

cat > "$D/kvscreend.conf" <<EOF
daemon: {
  listen = "127.0.0.1:0";
  socket = "";
  state_dir = "state";
  log_level = "info";
};
sink: {
  kind = "amqp";
  url = "amqp://guest@127.0.0.1:$AMQP_PORT/%2f";
  password_file = "password";
  exchange = "$X";
  routing_key = "verdicts";
  heartbeat_s = 7;
  max_inflight = 8;
  backoff_min_ms = 50;
  backoff_max_ms = 400;
  rescan_ms = 200;
};
EOF
. "$SRC/tests/daemon_lib.sh"

# 5b. The password file is checked like the API token file.
chmod 620 "$D/password"
: > "$D/log"
(cd "$D" && exec timeout 60 "$DAEMON" -c "$D/kvscreend.conf" >> "$D/log" 2>&1)
[ $? -ne 0 ] || fail "the daemon started with a group-writable password file"
grep -q 'password_file .* is group- or world-writable' "$D/log" || fail "no message about the password file's mode"
chmod 600 "$D/password"
ok "a group-writable password file is refused at start"

start_daemon

# 1. No queue bound: the broker returns the message (mandatory) and acks it;
#    the verdict stays in the outbox.
post_many un 3
wait_until 60 grep -q 'returned a message' "$D/log" || fail "no basic.return seen"
wait_until 60 failures_above 3 || fail "fewer than 4 failed attempts: $(failures)"
[ "$(outbox_count)" -eq 3 ] || fail "the outbox holds $(outbox_count) entries, want the 3 unroutable ones"
ok "unroutable verdicts (basic.return) stay in the outbox"
api POST "/bindings/%2F/e/$X/q/$Q" '{"routing_key":"verdicts"}' >/dev/null || fail "cannot bind $Q to $X"
wait_until 60 outbox_empty || fail "unroutable verdicts not delivered after the binding: $(outbox_count) left"
wait_until 30 collect "$Q" "$D/got1" un 3 || fail "the 3 verdicts are not in $Q: $(cat "$D/got1")"
ok "once a queue is bound they are delivered"

# 2. Properties of every message.
post_many ok 40
wait_until 60 outbox_empty || fail "the outbox not emptied: $(outbox_count) left"
wait_until 30 collect "$Q" "$D/got2" ok 40 || fail "not all 40 verdicts are in $Q"
python3 - "$D/got2" "$D/state/outbox" <<'EOF' || fail "wrong message properties"
import json, re, sys
for line in open(sys.argv[1]):
    mid, mode, ctype, rid = json.loads(line)
    assert re.fullmatch(r"[0-9]{20}\." + re.escape(rid), mid or ""), (mid, rid)
    assert mode == 2, (mid, mode)
    assert ctype == "application/json", (mid, ctype)
EOF
ok "40 verdicts in $Q, each with message_id SEQ.ID, delivery_mode 2, application/json"

# 3. basic.nack: only a queue that refuses everything is bound.
api DELETE "/bindings/%2F/e/$X/q/$Q/verdicts" >/dev/null || fail "cannot unbind $Q"
api POST "/bindings/%2F/e/$X/q/$QR" '{"routing_key":"verdicts"}' >/dev/null || fail "cannot bind $QR"
f0=$(failures)
grep -c 'basic.nack' "$D/log" > "$D/nacks0" || true
post_many nack 3
wait_until 60 failures_above $((f0 + 3)) || fail "no refusals counted: $(failures)"
grep -q 'refused .*basic.nack' "$D/log" || fail "no basic.nack logged"
[ "$(outbox_count)" -eq 3 ] || fail "the outbox holds $(outbox_count) entries, want the 3 refused ones"
ok "refused verdicts (basic.nack) stay in the outbox"
api DELETE "/bindings/%2F/e/$X/q/$QR/verdicts" >/dev/null || fail "cannot unbind $QR"
api POST "/bindings/%2F/e/$X/q/$Q" '{"routing_key":"verdicts"}' >/dev/null || fail "cannot bind $Q"
wait_until 60 outbox_empty || fail "refused verdicts not delivered later: $(outbox_count) left"
wait_until 30 collect "$Q" "$D/got3" nack 3 || fail "the 3 refused verdicts are not in $Q"
ok "and are delivered once the queue takes them"

# 5a. The heartbeat the broker agreed to.
wait_until 30 have_conn || fail "the daemon's connection is not on the broker"
name=$(conn_name)
timeout=$(api GET "/connections/$(urlenc "$name")" | python3 -c 'import json, sys; print(json.load(sys.stdin)["timeout"])')
[ "$timeout" = 7 ] || fail "heartbeat on the broker is $timeout, want 7"
ok "heartbeat 7 s negotiated"

# 4. The broker closes the daemon's connection while verdicts flow.
connects=$(grep -c 'amqp: connected' "$D/log")
post_many out 40 &
poster=$!
wait_until 60 sh -c "'$BUILD/kvscreen' outbox list --state '$D/state' | grep -q '\.out-' || ! kill -0 $poster 2>/dev/null"
api DELETE "/connections/$(urlenc "$name")" >/dev/null || fail "cannot close connection $name"
wait "$poster" || fail "posting during the outage failed"
# The sink connects when it has something to send: on a busy machine all 40
# may have gone out before the close, so 5 more are posted after it.
post_many after 5
reconnected() { [ "$(grep -c 'amqp: connected' "$D/log")" -gt "$connects" ]; }
wait_until 60 reconnected || fail "the daemon did not reconnect"
wait_until 60 outbox_empty || fail "the outbox not emptied after the reconnect: $(outbox_count) left"
wait_until 30 collect "$Q" "$D/got4" out 40 || fail "verdicts lost across the closed connection"
have_ids "$D/got4" after 5 || fail "verdicts posted after the close were lost"
ok "connection closed by the broker mid-stream: reconnected, all 45 verdicts delivered"

# 6. amqps://: a TLS proxy in front of the broker's plain port, with a
#    throw-away certificate for "localhost".  Trusted through ca_file the
#    verdicts go out; with the system's CAs the certificate is refused and
#    nothing is retired.
if command -v openssl >/dev/null; then
	openssl req -x509 -newkey rsa:2048 -nodes -days 1 -keyout "$D/key.pem" -out "$D/cert.pem" \
		-subj /CN=localhost -addext subjectAltName=DNS:localhost >/dev/null 2>&1 ||
		fail "openssl could not make a certificate"
	cat > "$D/tlsproxy.py" <<'EOF'
import asyncio, os, ssl, sys

portfile, cert, key, upstream = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)

async def pipe(r, w):
    try:
        while True:
            b = await r.read(65536)
            if not b:
                break
            w.write(b)
            await w.drain()
    except Exception:
        pass
    finally:
        try:
            w.close()
        except Exception:
            pass

async def handle(cr, cw):
    try:
        ur, uw = await asyncio.open_connection("127.0.0.1", upstream)
    except Exception:
        cw.close()
        return
    await asyncio.gather(pipe(cr, uw), pipe(ur, cw))

async def main():
    srv = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=ctx)
    with open(portfile + ".tmp", "w") as f:
        f.write(str(srv.sockets[0].getsockname()[1]))
    os.rename(portfile + ".tmp", portfile)
    await srv.serve_forever()

asyncio.run(main())
EOF
	python3 "$D/tlsproxy.py" "$D/tlsport" "$D/cert.pem" "$D/key.pem" "$AMQP_PORT" &
	PROXY=$!
	wait_until 30 test -s "$D/tlsport" || fail "the TLS proxy did not start"
	TLSURL="amqps://guest@localhost:$(cat "$D/tlsport")/%2f"
	"$BUILD/tests/sink_driver" --outbox "$D/tls-bad" --kind amqp --url "$TLSURL" \
		--exchange "$X" --routing-key verdicts --user guest --password-file "$D/password" \
		--count 2 --prefix tlsbad --wait-ms 1500 --expect kept > "$D/tls-bad.log" 2>&1 ||
		fail "a broker with an unknown certificate was trusted: $(cat "$D/tls-bad.log")"
	ok "amqps: an unknown certificate retires nothing"
	"$BUILD/tests/sink_driver" --outbox "$D/tls-ok" --kind amqp --url "$TLSURL" \
		--ca-file "$D/cert.pem" --exchange "$X" --routing-key verdicts --user guest \
		--password-file "$D/password" --count 5 --prefix tls --wait-ms 60000 > "$D/tls-ok.log" 2>&1 ||
		fail "amqps with ca_file did not deliver: $(cat "$D/tls-ok.log")"
	wait_until 30 collect "$Q" "$D/got6" tls 5 0 || fail "the 5 verdicts sent over TLS are not in $Q"
	kill "$PROXY" 2>/dev/null
	PROXY=
	ok "amqps: trusted through ca_file, 5 verdicts delivered over TLS"
else
	echo "skip - amqps: openssl is not installed"
fi

kill -TERM "$PID"
wait "$PID" || fail "exit status $? after SIGTERM"
PID=
echo "all amqp sink tests passed"
