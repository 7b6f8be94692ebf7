#!/bin/sh
# sink_rabbitmq.sh - the rabbitmq sink against a real rabbitmq-server: routed messages arrive, unrouted ones stay.
#
# Starts the node with tests/rabbitmq-start.sh unless it already runs (then
# leaves it running; .ci/run starts it once), declares a private exchange,
# queue and binding over the management API, lets tests/sink_driver deliver
# entries of a temporary outbox, and reads them back from the queue.  Then
# checks that a message RabbitMQ could not route (answer {"routed":false})
# and one refused for a wrong password are not retired.
# Exits 77 when rabbitmq-server is not installed.
set -eu

SRC=${KVS_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
BUILD=${KVS_BUILDDIR:-$SRC}
MGMT=${KVS_RABBITMQ_MGMT_PORT:-15672}
API=http://127.0.0.1:$MGMT/api
DRIVER=$BUILD/tests/sink_driver
N=${KVS_SINK_RABBITMQ_COUNT:-50}

if [ ! -x /usr/lib/rabbitmq/bin/rabbitmq-server ]; then
	echo "SKIP: rabbitmq-server is not installed"
	exit 77
fi
command -v curl >/dev/null || { echo "SKIP: curl is not installed"; exit 77; }

# The plain and the sanitizer suites run side by side: one of these tests
# at a time, so that one does not stop the node under the other.
exec 8> "${KVS_RABBITMQ_DIR:-/tmp/kvs-rabbitmq}.test.lock"
flock -w 600 8 || { echo "FAIL: another sink_rabbitmq.sh holds the lock" >&2; exit 1; }

T=$(mktemp -d /tmp/sink_rabbitmq.XXXXXX)
X=kvs-test-x-$$
Q=kvs-test-q-$$
started=0

api() { # METHOD PATH [BODY]
	curl -fsS -m 10 -u guest:guest -X "$1" -H 'content-type: application/json' \
		${3:+--data "$3"} "$API$2"
}

cleanup() {
	api DELETE "/queues/%2F/$Q" >/dev/null 2>&1 || true
	api DELETE "/exchanges/%2F/$X" >/dev/null 2>&1 || true
	rm -rf "$T"
	if [ "$started" = 1 ]; then
		"$SRC/tests/rabbitmq-stop.sh" >/dev/null 2>&1 || true
	fi
}
trap cleanup EXIT INT TERM

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

if ! curl -fsS -m 2 -u guest:guest "$API/overview" >/dev/null 2>&1; then
	"$SRC/tests/rabbitmq-start.sh" || fail "could not start rabbitmq-server"
	started=1
fi

api PUT "/exchanges/%2F/$X" '{"type":"direct","durable":false,"auto_delete":false}' >/dev/null ||
	fail "cannot declare exchange $X"
api PUT "/queues/%2F/$Q" '{"durable":true}' >/dev/null || fail "cannot declare queue $Q"
api POST "/bindings/%2F/e/$X/q/$Q" '{"routing_key":"verdicts"}' >/dev/null ||
	fail "cannot bind $Q to $X"
printf 'guest\n' > "$T/password"
chmod 600 "$T/password"

# 1. Every entry is published, confirmed, retired and arrives in the queue.
"$DRIVER" --outbox "$T/ok" --kind rabbitmq --url "http://127.0.0.1:$MGMT" \
	--exchange "$X" --routing-key verdicts --user guest --password-file "$T/password" \
	--count "$N" --prefix "ok$$" --wait-ms 30000 || fail "the sink did not retire all $N entries"
api POST "/queues/%2F/$Q/get" \
	"{\"count\":$((N + 10)),\"ackmode\":\"ack_requeue_false\",\"encoding\":\"auto\"}" \
	> "$T/got.json" || fail "cannot read queue $Q"
got=$(grep -o '"payload_bytes"' "$T/got.json" | wc -l)
[ "$got" -ge "$N" ] || fail "$got messages in the queue, expected $N"
i=0
while [ "$i" -lt "$N" ]; do
	key=$(printf '%020d.ok%s-%d' "$i" "$$" "$i")
	grep -q "\"message_id\":\"$key\"" "$T/got.json" || fail "message $key is missing"
	grep -q "\"id\\\\\":\\\\\"ok$$-$i\\\\\"" "$T/got.json" || fail "payload of $key is missing"
	i=$((i + 1))
done
grep -q '"delivery_mode":2' "$T/got.json" || fail "messages are not persistent"
echo "ok: $N messages published, confirmed and found in queue $Q ($got read back)"

# 2. A message RabbitMQ cannot route ({"routed":false}) is not retired.
"$DRIVER" --outbox "$T/unrouted" --kind rabbitmq --url "http://127.0.0.1:$MGMT" \
	--exchange "$X" --routing-key nobody-listens --user guest --password-file "$T/password" \
	--count 3 --prefix "un$$" --wait-ms 1500 --expect kept ||
	fail "an unroutable message was retired"
[ "$("$BUILD/kvscreen" outbox list --state "$T/unrouted" | wc -l)" -eq 3 ] || fail "unroutable entries went missing"
echo "ok: routed:false keeps the entries in the outbox"

# 3. A wrong password (401) retires nothing either.
printf 'not-the-password\n' > "$T/wrong"
"$DRIVER" --outbox "$T/denied" --kind rabbitmq --url "http://127.0.0.1:$MGMT" \
	--exchange "$X" --routing-key verdicts --user guest --password-file "$T/wrong" \
	--count 2 --prefix "pw$$" --wait-ms 1000 --expect kept ||
	fail "a message refused with 401 was retired"
echo "ok: 401 keeps the entries in the outbox"
