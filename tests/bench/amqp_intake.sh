#!/bin/bash
# amqp_intake.sh - requests/s end to end through RabbitMQ: publish a request -> kvscreend (intake.amqp) screens it -> the amqp sink publishes the verdict -> the verdict is consumed.
#
# Starts 1, then 2 daemons on the in-tree configuration (its plugins and
# rule files; state on the build tree's disk, durability on), all consuming
# one durable request queue of a private vhost and publishing verdicts to one
# verdict queue.  A consumer (tests/amqp_tool get) is started first; the
# clock runs from the first publish (N requests, the four conf/examples in
# turn with unique ids, publisher confirms) until the consumer has a verdict
# for every id.  Best of R runs per daemon count.  By hand, not in make check:
#     tests/bench/amqp_intake.sh [N] [R]          # defaults: 4000 2
# Env: BENCH_PREFETCH (intake.amqp.prefetch, default 64), BENCH_SYNCFS=1
# (daemon.outbox_syncfs = true), KVS_BUILDDIR, KVS_SRCDIR.
set -eu
: "${KVS_BUILDDIR:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${KVS_SRCDIR:=$KVS_BUILDDIR}"
N=${1:-4000}
R=${2:-2}
PREFETCH=${BENCH_PREFETCH:-64}
MGMT=${KVS_RABBITMQ_MGMT_PORT:-15672}
AMQP_PORT=${KVS_RABBITMQ_PORT:-5672}
API=http://127.0.0.1:$MGMT/api
TOOL=$KVS_BUILDDIR/tests/amqp_tool
# Shared with the broker tests (which take it exclusively to stop a node).
exec 8> "${KVS_RABBITMQ_DIR:-/tmp/kvs-rabbitmq}.test.lock"
flock -s -w 1800 8 || { echo "the broker tests' lock is held too long" >&2; exit 1; }
curl -fsS -m 2 -u guest:guest "$API/overview" >/dev/null 2>&1 || "$KVS_SRCDIR/tests/rabbitmq-start.sh" 8>&-

B=$(mktemp -d "$KVS_BUILDDIR/tests/bench/run.XXXXXX")
V=kvs-bench-intake-$$
URL="amqp://127.0.0.1:$AMQP_PORT/$V"
PIDS=
api() { curl -fsS -m 30 -u guest:guest -X "$1" -H 'content-type: application/json' ${3:+--data "$3"} "$API$2"; }
stop_daemons() {
	for p in $PIDS; do kill -TERM "$p" 2>/dev/null; done
	for p in $PIDS; do wait "$p" 2>/dev/null || true; done
	PIDS=
}
cleanup() {
	stop_daemons
	api DELETE "/vhosts/$V" >/dev/null 2>&1 || true
	rm -rf "$B"
}
trap cleanup EXIT
api PUT "/vhosts/$V" '{}' >/dev/null
api PUT "/permissions/$V/guest" '{"configure":".*","write":".*","read":".*"}' >/dev/null
api PUT "/queues/$V/verdicts" '{"durable":true}' >/dev/null

# One request template per example, its id replaced by %ID%.
k=0
for f in "$KVS_SRCDIR"/conf/examples/*.json; do
	k=$((k + 1))
	python3 -c 'import json, sys
r = json.load(open(sys.argv[1])); r["id"] = "%ID%"; print(json.dumps(r))' "$f" > "$B/tmpl$k"
done
TEMPLATES=$k

# daemon_conf DIR: the in-tree configuration with state, listener, intake and sink set.
daemon_conf() {
	mkdir -p "$1"
	cp -r "$KVS_SRCDIR/conf/." "$1/"
	sed -i -e "s|^\( *listen *=\).*|\1 \"127.0.0.1:0\";|" \
		-e "s|^\( *socket *=\).*|\1 \"\";|" \
		-e "s|^\( *state_dir *=\).*|\1 \"$1/state\";|" \
		-e "s|^\( *log_level *=\).*|\1 \"notice\";|" \
		-e "s|^\( *threads *=\).*|\1 2;|" \
		-e "s|^\( *plugin_dir *=\).*|\1 \"$KVS_BUILDDIR/plugins\";|" "$1/kvscreend.conf"
	[ -n "${BENCH_SYNCFS:-}" ] && sed -i 's|^daemon: *{|daemon: {\n  outbox_syncfs = true;|' "$1/kvscreend.conf"
	cat >> "$1/kvscreend.conf" <<EOF
intake: { amqp: { url = "$URL"; queue = "requests"; prefetch = $PREFETCH; }; };
sink: { kind = "amqp"; url = "$URL"; routing_key = "verdicts"; max_inflight = 64; };
EOF
}

echo "$N requests per run, best of $R; $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg);" \
	"$(grep -c '^  [a-z_]*: *{' <(sed -n '/^plugins:/,$p' "$KVS_SRCDIR/conf/kvscreend.conf")) plugins groups in conf/kvscreend.conf, prefetch $PREFETCH"
for daemons in 1 2; do
	best=
	for r in $(seq "$R"); do
		run=$daemons-$r
		for i in $(seq "$daemons"); do
			daemon_conf "$B/$run/d$i"
			"$KVS_BUILDDIR/kvscreend" -c "$B/$run/d$i/kvscreend.conf" > "$B/$run/d$i/log" 2>&1 &
			PIDS="$PIDS $!"
		done
		for i in $(seq "$daemons"); do
			for _ in $(seq 600); do
				grep -q 'intake: amqp: connected' "$B/$run/d$i/log" && break
				sleep 0.1
			done
			grep -q 'intake: amqp: connected' "$B/$run/d$i/log" || { cat "$B/$run/d$i/log"; exit 1; }
		done
		"$TOOL" get --url "$URL" --queue verdicts --count "$N" --wait-ms 120000 > /dev/null 2> "$B/$run/get.err" &
		getter=$!
		t0=$(date +%s%N)
		per=$(( (N + TEMPLATES - 1) / TEMPLATES ))
		left=$N
		for t in $(seq "$TEMPLATES"); do
			n=$(( left < per ? left : per ))
			[ "$n" -gt 0 ] || break
			"$TOOL" publish --url "$URL" --queue requests --prefix "r$run-e$t" --count "$n" \
				--body "$(cat "$B/tmpl$t")"
			left=$((left - n))
		done
		t1=$(date +%s%N)
		wait "$getter" || { echo "not every verdict arrived: $(cat "$B/$run/get.err")" >&2; exit 1; }
		t2=$(date +%s%N)
		ms=$(( (t2 - t0) / 1000000 ))
		echo "  $daemons daemon(s), run $r: $N requests end to end in $ms ms (publishing took $(( (t1 - t0) / 1000000 )) ms): $(awk -v n="$N" -v ms="$ms" 'BEGIN { printf "%.0f", n * 1000 / ms }') requests/s"
		{ [ -z "$best" ] || [ "$ms" -lt "$best" ]; } && best=$ms
		stop_daemons
		api DELETE "/queues/$V/requests/contents" >/dev/null
	done
	awk -v d="$daemons" -v n="$N" -v ms="$best" -v r="$R" \
		'BEGIN { printf "%d daemon(s): %d requests in %d ms (best of %d): %.0f requests/s end to end\n", d, n, ms, r, n * 1000 / ms }'
done
