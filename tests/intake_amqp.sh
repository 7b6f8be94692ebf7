#!/bin/bash
# intake_amqp.sh - kvscreend consuming requests from a real rabbitmq-server (intake.amqp) and publishing verdicts with the amqp sink.
#
# Every run has its own vhost, so it may run beside the other broker tests.
#   1. valid requests (with an id, or with the message_id as id) are
#      screened and their verdicts reach the verdict queue; invalid ones (a
#      bad field, not JSON, another body for a stored id) reach the
#      dead-letter queue with x-kvscreen-error; a message over
#      limits.max_request_bytes is dead-lettered by the broker (x-death);
#      a redelivered duplicate is acked from the store, not screened again;
#      /metrics counts all of it; a deleted request queue (basic.cancel) is
#      declared again; a verdict the outbox refuses (disk low) sends its
#      message back to the queue until the outbox takes verdicts again.
#   2. the broker closes every connection while the daemon holds unacked
#      messages (the test plugin t_slow blocks gate-* ids): the daemon
#      reconnects, and every request gets one stored verdict and a message.
#   3. three daemons consume one queue; one is killed with -9 while it holds
#      unacked messages: the broker redelivers them to the others, every id
#      is in some daemon's store and has a verdict message, none is lost.
# Exits 77 when rabbitmq-server is not installed.
set -u

SRC=${KVS_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
BUILD=${KVS_BUILDDIR:-$SRC}
DAEMON=$BUILD/kvscreend
CLI=$BUILD/kvscreen
TOOL=$BUILD/tests/amqp_tool
PLUGINS=$BUILD/tests/plugins
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
ls "$PLUGINS"/t_slow.la >/dev/null 2>&1 || { echo "SKIP: test plugins not built"; exit 77; }

# Shared with the other broker tests: none stops the node under another
# (each holds the lock exclusively; this one, with its own vhost, shares it).
exec 8> "${KVS_RABBITMQ_DIR:-/tmp/kvs-rabbitmq}.test.lock"
flock -s -w 600 8 || { echo "FAIL: another broker test holds the lock" >&2; exit 1; }

D=$(mktemp -d /tmp/intake_amqp.XXXXXX)
RUN=$$-$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')
V=kvs-intake-$RUN
URL="amqp://127.0.0.1:$AMQP_PORT/$V"
PIDS=()
started=0

api() { # METHOD PATH [BODY]
	curl -fsS -m 10 -u guest:guest -X "$1" -H 'content-type: application/json' \
		${3:+--data "$3"} "$API$2"
}
cleanup() {
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
	for g in "$D"/d*/; do touch "$g/gate" 2>/dev/null; done
	api DELETE "/vhosts/$V" >/dev/null 2>&1
	rm -rf "$D"
	# Stop a node this test started, unless another test uses it.
	[ "$started" = 1 ] && flock -n -x 8 && "$SRC/tests/rabbitmq-stop.sh" >/dev/null 2>&1
}
trap cleanup EXIT INT TERM
LOGS=
fail() {
	echo "FAIL: $*" >&2
	for l in $LOGS; do echo "--- $l" >&2; tail -25 "$l" >&2; done
	exit 1
}
ok() { echo "ok - $*"; }

if ! curl -fsS -m 2 -u guest:guest "$API/overview" >/dev/null 2>&1; then
	"$SRC/tests/rabbitmq-start.sh" 8>&- || fail "could not start rabbitmq-server"
	started=1
fi
api PUT "/vhosts/$V" '{}' >/dev/null || fail "cannot create vhost $V"
api PUT "/permissions/$V/guest" '{"configure":".*","write":".*","read":".*"}' >/dev/null ||
	fail "cannot grant guest on $V"
. "$SRC/tests/daemon_lib.sh"

# queue_stat QUEUE FIELD: a number from the management API (0 if absent).
queue_stat() {
	api GET "/queues/$V/$1" 2>/dev/null |
		python3 -c 'import json, sys; q = json.load(sys.stdin); f = sys.argv[1].split(".")
for k in f: q = q.get(k, {}) if isinstance(q, dict) else {}
print(q if isinstance(q, int) else 0)' "$2"
}
queue_idle() { # QUEUE: nothing ready, nothing unacked
	[ "$(queue_stat "$1" messages_ready)" = 0 ] && [ "$(queue_stat "$1" messages_unacknowledged)" = 0 ] &&
		[ "$(queue_stat "$1" messages)" = 0 ]
}
api PUT "/queues/$V/verdicts" '{"durable":true}' >/dev/null || fail "cannot declare the verdict queue"

# new_daemon NAME [PREFETCH]: write $D/NAME/kvscreend.conf.
new_daemon() {
	mkdir -p "$D/$1"
	cat > "$D/$1/kvscreend.conf" <<EOF
daemon: {
  listen = "127.0.0.1:0";
  socket = "";
  state_dir = "state";
  threads = 2;
  log_level = "debug";
  plugin_dir = "$PLUGINS";
};
limits: { max_request_bytes = 4096; plugin_timeout_ms = 600000; };
plugins: { t_slow: { keyword = "slowword"; gate_file = "$D/$1/gate"; }; };
intake: {
  amqp: {
    url = "$URL";
    queue = "requests";
    dead_letter_exchange = "requests.dlx";
    dead_letter_queue = "requests.dead";
    prefetch = ${2:-16};
    heartbeat_s = 5;
    backoff_min_ms = 50;
    backoff_max_ms = 400;
  };
};
sink: {
  kind = "amqp";
  url = "$URL";
  routing_key = "verdicts";
  backoff_min_ms = 50;
  backoff_max_ms = 400;
  rescan_ms = 200;
};
EOF
}
declare -A PID_OF PORT_OF TOKEN_OF
# run_daemon NAME: start it and wait until it is ready and consuming.
run_daemon() {
	local dir=$D/$1
	: > "$dir/log"
	LOGS="$LOGS $dir/log"
	(cd "$dir" && exec "$DAEMON" -c kvscreend.conf >> log 2>&1) &
	PID_OF[$1]=$!
	PIDS+=($!)
	wait_for 60 grep -q 'intake: amqp: connected' "$dir/log" || fail "$1 is not consuming"
	PORT_OF[$1]=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$dir/log" | tail -1)
	TOKEN_OF[$1]=$(head -n1 "$dir/state/api-token")
}
metric() { # NAME METRIC
	curl -s -H "Authorization: Bearer ${TOKEN_OF[$1]}" "http://127.0.0.1:${PORT_OF[$1]}/metrics" |
		sed -n "s/^kvscreend_$2 //p"
}
metric_at_least() { local v; v=$(metric "$1" "$2"); [ -n "$v" ] && [ "$v" -ge "$3" ]; }
publish() { "$TOOL" publish --url "$URL" --queue requests "$@" || fail "publish $*"; }
# take QUEUE FILE N: consume N distinct messages of QUEUE into FILE.
take() { "$TOOL" get --url "$URL" --queue "$1" --count "$3" --wait-ms "$(scaled_ms 60)" >> "$2" 2>> "$D/take.err"; }
# stored DAEMON ID: how many verdicts of ID that daemon's store holds.
stored() { "$CLI" outbox stored --state "$D/$1/state" | grep -c "^$2 " ; }
# every_id FILE PREFIX N: each PREFIX-i has a verdict message in FILE.
every_id() {
	python3 - "$@" <<'EOF'
import json, sys
path, prefix, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
got = set()
for line in open(path):
    got.add(json.loads(json.loads(line)["body"]).get("request_id"))
missing = ["%s-%d" % (prefix, i) for i in range(1, n + 1) if "%s-%d" % (prefix, i) not in got]
if missing:
    print("missing verdicts:", " ".join(missing[:20]), file=sys.stderr)
sys.exit(1 if missing else 0)
EOF
}

# ---- 1. valid and invalid messages ----
new_daemon d1
touch "$D/d1/gate"
run_daemon d1
publish --prefix ok --count 30
publish --prefix mid --count 5 --body '{"type":"export"}' --message-id
publish --prefix badtype --count 1 --body '{"id":"%ID%","type":"nonsense"}'
publish --prefix notjson --count 1 --body '{"id":"%ID%", not json'
wait_for 60 metric_at_least d1 amqp_intake_acked_total 35 || fail "35 valid requests not acked: $(metric d1 amqp_intake_acked_total)"
# Another body for a stored id, the same body again (a redelivered duplicate),
# and one over max_request_bytes.
publish --prefix ok --count 1 --body '{"id":"%ID%","type":"partnership"}'
publish --prefix ok --count 1
publish --prefix big --count 1 --body "{\"id\":\"%ID%\",\"type\":\"export\",\"title\":\"$(head -c 5000 /dev/zero | tr '\0' x)\"}"
wait_for 60 metric_at_least d1 amqp_intake_acked_total 36 || fail "the duplicate was not acked"
wait_for 60 metric_at_least d1 amqp_intake_rejected_total 4 || fail "4 invalid messages not rejected: $(metric d1 amqp_intake_rejected_total)"
take verdicts "$D/v1" 35 || fail "35 verdicts not in the verdict queue: $(cat "$D/take.err")"
every_id "$D/v1" ok 30 && every_id "$D/v1" mid 5 || fail "verdicts missing"
take requests.dead "$D/dead1" 4 || fail "4 messages not in the dead-letter queue: $(cat "$D/dead1")"
python3 - "$D/dead1" <<'EOF' || fail "dead-lettered messages: $(cat "$D/dead1")"
import json, sys
want = {"badtype-1": ("invalid_request", "/type"), "notjson-1": ("invalid_json", None),
        "ok-1": ("conflict", "/id")}
seen = {}
for line in open(sys.argv[1]):
    m = json.loads(line)
    err = m["headers"].get("x-kvscreen-error")
    if err is None:
        # Over the size limit: rejected unread, dead-lettered by the broker.
        assert "x-death" in m["headers"], m
        assert '"big-1"' in m["body"], m
        seen["big-1"] = 1
        continue
    e = json.loads(err)["error"]
    assert m["headers"].get("x-kvscreen-queue") == "requests", m
    for k, (code, path) in want.items():
        if '"%s"' % k in m["body"]:
            assert e["code"] == code, (k, e)
            assert path is None or e["path"] == path, (k, e)
            seen[k] = 1
assert sorted(seen) == ["badtype-1", "big-1", "notjson-1", "ok-1"], seen
EOF
ok "35 valid requests screened, 4 invalid dead-lettered with x-kvscreen-error (or x-death when too large)"
[ "$(stored d1 ok-1)" = 1 ] || fail "ok-1 is stored $(stored d1 ok-1) times"
verdicts_of() { # FILE ID: how many verdict messages FILE holds for ID
	python3 -c 'import json, sys
print(sum(json.loads(json.loads(l)["body"]).get("request_id") == sys.argv[2] for l in open(sys.argv[1])))' "$1" "$2"
}
[ "$(verdicts_of "$D/v1" ok-1)" = 1 ] || fail "ok-1 has $(verdicts_of "$D/v1" ok-1) verdict messages"
[ "$(metric d1 sink_delivered_total)" = 35 ] || fail "the sink delivered $(metric d1 sink_delivered_total) verdicts, want 35"
[ "$(metric d1 amqp_intake_consumed_total)" = 40 ] || fail "consumed_total $(metric d1 amqp_intake_consumed_total), want 40"
[ "$(metric d1 amqp_intake_connected)" = 1 ] || fail "connected gauge is not 1"
wait_for 30 queue_idle requests || fail "the request queue is not empty"
ok "a duplicate is acked from the store, not screened again; /metrics counts 40 consumed"

# A queue deleted under the daemon (basic.cancel) is declared again.
api DELETE "/queues/$V/requests" >/dev/null || fail "cannot delete the request queue"
wait_for 60 grep -q 'cancelled the consumer' "$D/d1/log" || fail "no basic.cancel seen"
wait_for 60 metric_at_least d1 amqp_intake_connects_total 2 || fail "the intake did not consume again"
publish --prefix again --count 1
wait_for 60 metric_at_least d1 amqp_intake_acked_total 37 || fail "the request after the cancel was not acked"
take verdicts "$D/v1b" 1 && every_id "$D/v1b" again 1 || fail "no verdict after the queue was declared again"
ok "a deleted request queue cancels the consumer; the daemon declares it again and goes on"

# ---- 2. the broker closes the connections mid-stream ----
rm -f "$D/d1/gate"
c0=$(metric d1 amqp_intake_connects_total)
publish --prefix gate --count 40
# t_slow holds gate-* ids: the daemon has a full prefetch window unacked.
wait_for 60 metric_at_least d1 amqp_intake_consumed_total $((41 + 16)) || fail "the prefetch window did not fill"
has_unacked() { [ "$(queue_stat requests messages_unacknowledged)" -gt 0 ]; }
wait_for 30 has_unacked || fail "the broker shows no unacked messages before the close"
api GET "/vhosts/$V/connections" | python3 -c 'import json, sys; [print(c["name"]) for c in json.load(sys.stdin)]' > "$D/conns"
[ -s "$D/conns" ] || fail "no connections on $V"
while read -r name; do
	api DELETE "/connections/$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$name")" >/dev/null ||
		fail "cannot close connection $name"
done < "$D/conns"
wait_for 60 metric_at_least d1 amqp_intake_connects_total $((c0 + 1)) || fail "the intake did not reconnect"
touch "$D/d1/gate"
publish --prefix after --count 10
wait_for 120 queue_idle requests || fail "requests left after the reconnect"
take verdicts "$D/v2" 50 || fail "50 verdicts not in the verdict queue: $(cat "$D/take.err")"
every_id "$D/v2" gate 40 && every_id "$D/v2" after 10 || fail "verdicts lost across the closed connections"
for i in $(seq 40); do [ "$(stored d1 "gate-$i")" = 1 ] || fail "gate-$i stored $(stored d1 "gate-$i") times"; done
ok "connections closed by the broker with 16 messages unacked: reconnected, 50 verdicts, each id stored once"
kill -TERM "${PID_OF[d1]}"
wait "${PID_OF[d1]}" || fail "d1 exit status $? after SIGTERM"

# ---- 2b. a transient failure: the outbox refuses verdicts (disk "low") ----
# The message goes back to the queue (d0 is its only consumer now) until a
# reload lowers outbox_min_free_mb; then it is screened.
new_daemon d0
sed -i 's|^daemon: {|daemon: {\n  outbox_min_free_mb = 16777216;|' "$D/d0/kvscreend.conf"
touch "$D/d0/gate"
run_daemon d0
publish --prefix low --count 1
wait_for 60 metric_at_least d0 amqp_intake_requeued_total 2 || fail "the refused verdict's message was not requeued"
[ "$(metric d0 amqp_intake_acked_total)" = 0 ] || fail "acked while the outbox refused verdicts"
sed -i 's|outbox_min_free_mb = 16777216;|outbox_min_free_mb = 0;|' "$D/d0/kvscreend.conf"
kill -HUP "${PID_OF[d0]}"
wait_for 60 metric_at_least d0 amqp_intake_acked_total 1 || fail "not acked once the outbox took verdicts again"
take verdicts "$D/v0" 1 && every_id "$D/v0" low 1 || fail "no verdict for the requeued request"
ok "outbox refusing verdicts (disk low): the message is requeued, and screened once the disk is fine"
kill -TERM "${PID_OF[d0]}"
wait "${PID_OF[d0]}" || fail "d0 exit status $? after SIGTERM"

# ---- 3. three daemons on one queue, one killed with -9 ----
N=300
for n in k1 k2 k3; do new_daemon "$n" 8; run_daemon "$n"; done
publish --prefix gate --count $N --first 1001
# Every daemon holds a window of gate-* messages it cannot finish yet.
for n in k1 k2 k3; do
	wait_for 60 metric_at_least "$n" amqp_intake_consumed_total 8 || fail "$n did not take its window"
done
[ "$(metric k2 amqp_intake_acked_total)" = 0 ] || fail "k2 acked before its gate opened"
kill -9 "${PID_OF[k2]}"
wait "${PID_OF[k2]}" 2>/dev/null
touch "$D/k1/gate" "$D/k3/gate"
wait_for 180 queue_idle requests || fail "requests left in the queue: $(queue_stat requests messages)"
redelivered() { [ "$(queue_stat requests message_stats.redeliver)" -gt 0 ]; }
wait_for 30 redelivered || fail "the broker redelivered nothing"
: > "$D/v3"
take verdicts "$D/v3" $N || fail "$N verdicts not in the verdict queue: $(cat "$D/take.err")"
for k in k1 k2 k3; do
	"$CLI" outbox stored --state "$D/$k/state" >> "$D/stored3" || fail "kvscreen outbox stored $k"
done
python3 - "$D/stored3" "$D/v3" $N <<'EOF' || fail "ids lost"
import json, sys
sfile, vfile, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
ids = ["gate-%d" % i for i in range(1001, 1001 + n)]
stored = {l.split()[0] for l in open(sfile)}
got = {json.loads(json.loads(l)["body"])["request_id"] for l in open(vfile)}
lost = [i for i in ids if i not in stored]
unsent = [i for i in ids if i not in got]
assert not lost, ("not in any store", lost[:10])
assert not unsent, ("no verdict message", unsent[:10])
EOF
ok "3 daemons, one killed with -9 holding unacked messages: all $N ids stored and delivered"
for n in k1 k3; do
	kill -TERM "${PID_OF[$n]}"
	wait "${PID_OF[$n]}" || fail "$n exit status $? after SIGTERM"
done
echo "all amqp intake tests passed"
