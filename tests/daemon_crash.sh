#!/bin/bash
# daemon_crash.sh - kill -9 the built kvscreend while screenings arrive over the
# API and the spool; after a restart every request that was answered 200 has
# its verdict (in the outbox and from GET), and every spool file is either in
# done/ (with its verdict) or still in incoming/ (and is screened then).
set -u

: "${KVS_BUILDDIR:=$(cd "$(dirname "$0")/.." && pwd)}"
command -v curl >/dev/null || { echo "curl not installed"; exit 77; }
DAEMON="$KVS_BUILDDIR/kvscreend"
PLUGINS="$KVS_BUILDDIR/tests/plugins"
ls "$PLUGINS"/t_good.la >/dev/null 2>&1 || { echo "test plugins not built"; exit 77; }

. "$(dirname "$0")/daemon_lib.sh"
test_begin crash

cat > "$D/kvscreend.conf" <<EOF
daemon: {
  listen = "127.0.0.1:0";
  socket = "";
  state_dir = "state";
  threads = 2;
  log_level = "notice";
  plugin_dir = "$PLUGINS";
  max_inflight = 64;
};
plugins: { t_good: { keyword = "forbidden"; }; };
EOF

start_daemon
mkdir -p "$D/state/spool/incoming"

# Four clients, each posting until the daemon is gone; "ID CODE" per line.
for c in 1 2 3 4; do
	( for i in $(seq 2000); do
		code=$(curl -s -o /dev/null -w '%{http_code}' -m "$(( $(scaled_ms 60) / 1000 + 1 ))" -X POST \
			-H 'Content-Type: application/json' -H "Authorization: Bearer $TOKEN" \
			--data "{\"id\":\"c$c-$i\",\"type\":\"export\",\"title\":\"forbidden $i\"}" \
			"http://127.0.0.1:$PORT/v1/screenings")
		echo "c$c-$i $code"
		[ "$code" = 000 ] && break
	  done > "$D/client$c" ) &
done
# Spool files dropped meanwhile.
( for i in $(seq 200); do
	printf '{"id":"s-%d","type":"partnership","title":"t %d"}' "$i" "$i" > "$D/s.tmp"
	mv "$D/s.tmp" "$D/state/spool/incoming/s-$i.json"
	sleep 0.005
  done ) &
SPOOLER=$!
# Kill once enough answers have arrived for the test to prove something,
# with clients and the spool still busy; however slow the machine is.
WANT=40
answered_enough() { [ "$(cat "$D"/client* 2>/dev/null | grep -c ' 200$')" -ge "$WANT" ] &&
	[ "$(ls "$D/state/spool/done" 2>/dev/null | wc -l)" -ge 5 ]; }
wait_for 120 answered_enough || fail "fewer than $WANT requests or 5 spool files done in $(scaled_ms 120) ms"
kill -9 "$PID"
wait "$PID" 2>/dev/null
PID=
wait "$SPOOLER"
wait

answered=$(cat "$D"/client* | grep -c ' 200$')
[ "$answered" -ge "$WANT" ] || fail "only $answered requests answered before the kill; the test proves nothing"
echo "ok - $answered requests answered 200 before kill -9"

# Every answered id has its verdict in the outbox (nothing delivers it),
# as `kvscreen outbox list` reads it after the kill (before any recovery).
"$KVS_BUILDDIR/kvscreen" outbox list --state "$D/state" | sed -n 's/^[0-9]\{20\}\.\([^ ]*\) verdict .*/\1/p' | sort -u > "$D/listed" ||
	fail "kvscreen outbox list failed"
missing=0
while read -r id code; do
	[ "$code" = 200 ] || continue
	grep -qxF "$id" "$D/listed" || { echo "no outbox entry for $id"; missing=$((missing + 1)); }
done < <(cat "$D"/client*)
[ "$missing" = 0 ] || fail "$missing answered verdicts missing from the outbox after kill -9"
echo "ok - every answered verdict is in the outbox ($(wc -l < "$D/listed") listed)"

# Spool files: in done/ (with a verdict) or still in incoming/; none lost.
for i in $(seq 200); do
	f="s-$i.json"
	if [ -e "$D/state/spool/done/$f" ]; then
		grep -qxF "s-$i" "$D/listed" || fail "$f in done/ without its verdict"
	elif [ ! -e "$D/state/spool/incoming/$f" ]; then
		[ -e "$D/state/spool/rejected/$f" ] && fail "$f rejected: $(cat "$D/state/spool/rejected/s-$i.error.json")"
		fail "$f lost"
	fi
done
echo "ok - every spool file is in done/ with its verdict, or still in incoming/"

# After a restart: verdicts are served, and what was left in incoming/ is screened.
start_daemon
while read -r id code; do
	[ "$code" = 200 ] || continue
	got=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
		"http://127.0.0.1:$PORT/v1/screenings/$id")
	[ "$got" = 200 ] || fail "GET $id after restart: $got"
done < <(cat "$D"/client* | head -400)
echo "ok - answered verdicts are served after the restart"
incoming_empty() { [ -z "$(ls "$D/state/spool/incoming")" ]; }
wait_for 120 incoming_empty
[ -z "$(ls "$D/state/spool/incoming")" ] || fail "incoming/ not drained after restart: $(ls "$D/state/spool/incoming" | head)"
[ "$(ls "$D/state/spool/done" | wc -l)" = 200 ] || fail "done/ holds $(ls "$D/state/spool/done" | wc -l) of 200 files"
echo "ok - the spool files left in incoming/ were screened after the restart"
kill -TERM "$PID"
wait "$PID" || fail "exit status $? after SIGTERM"
PID=
echo "all crash tests passed"
