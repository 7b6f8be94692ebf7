#!/bin/sh
# sink_amqp.sh - verdicts/s delivered by the "amqp" sink (AMQP 0-9-1, publisher confirms) and by the
# "rabbitmq" sink (management HTTP API), against the same real rabbitmq-server on 127.0.0.1.
#
# Runs tests/sink_driver on N small entries (default 5000) per kind, with the
# driver's max_inflight 4, into one durable queue bound to a private exchange,
# best of R runs (default 3).  By hand, not in make check:
#     tests/bench/sink_amqp.sh [N] [R]
set -eu
SRC=${KVS_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${KVS_BUILDDIR:-$SRC}
N=${1:-5000}
R=${2:-3}
MGMT=${KVS_RABBITMQ_MGMT_PORT:-15672}
AMQP_PORT=${KVS_RABBITMQ_PORT:-5672}
API=http://127.0.0.1:$MGMT/api
# The broker tests stop a node they started: hold their lock while measuring.
exec 8> "${KVS_RABBITMQ_DIR:-/tmp/kvs-rabbitmq}.test.lock"
flock -w 1800 8 || { echo "the broker tests' lock is held too long" >&2; exit 1; }
started=0
if ! curl -fsS -m 2 -u guest:guest "http://127.0.0.1:$MGMT/api/overview" >/dev/null 2>&1; then
	"$SRC/tests/rabbitmq-start.sh" 8>&- || exit 1
	started=1
fi
T=$(mktemp -d /tmp/bench_sink_amqp.XXXXXX)
X=kvs-bench-x-$$
Q=kvs-bench-q-$$
api() { curl -fsS -m 30 -u guest:guest -X "$1" -H 'content-type: application/json' ${3:+--data "$3"} "$API$2"; }
cleanup() {
	api DELETE "/queues/%2F/$Q" >/dev/null 2>&1
	api DELETE "/exchanges/%2F/$X" >/dev/null 2>&1
	rm -rf "$T"
	[ "$started" = 0 ] || "$SRC/tests/rabbitmq-stop.sh" >/dev/null 2>&1
}
trap cleanup EXIT
api GET /overview >/dev/null || { echo "no rabbitmq-server on 127.0.0.1:$MGMT (tests/rabbitmq-start.sh)" >&2; exit 1; }
api PUT "/exchanges/%2F/$X" '{"type":"direct","durable":true}' >/dev/null
api PUT "/queues/%2F/$Q" '{"durable":true}' >/dev/null
api POST "/bindings/%2F/e/$X/q/$Q" '{"routing_key":"bench"}' >/dev/null
printf 'guest\n' > "$T/password"
chmod 600 "$T/password"
for kind in amqp rabbitmq; do
	case $kind in
	amqp) url="amqp://127.0.0.1:$AMQP_PORT/%2f" ;;
	rabbitmq) url="http://127.0.0.1:$MGMT" ;;
	esac
	best=
	for r in $(seq "$R"); do
		out=$("$BUILD/tests/sink_driver" --outbox "$T/$kind-$r" --kind "$kind" --url "$url" \
			--exchange "$X" --routing-key bench --user guest --password-file "$T/password" \
			--count "$N" --prefix "b$r" --wait-ms 600000)
		ms=$(echo "$out" | sed -n 's/.* ms=\([0-9]*\).*/\1/p')
		[ -z "$best" ] || [ "$ms" -lt "$best" ] && best=$ms
		api DELETE "/queues/%2F/$Q/contents" >/dev/null
	done
	awk -v k="$kind" -v n="$N" -v ms="$best" -v r="$R" \
		'BEGIN { printf "%-8s %6d verdicts in %6d ms (best of %d): %7.0f verdicts/s\n", k, n, ms, r, n * 1000 / ms }'
done
