#!/bin/bash
# rescreen.sh - benchmark of continuous screening: store N open partnership
# requests (default 100,000) through the HTTP API, then change a list of the
# policy (one entry added to institute-own.csv, which 1 in 100 of them names)
# and reload: every open case is screened again in the background.  Measures
# the time until the re-screen backlog is 0, the versions posted, and the
# latency of live requests sent meanwhile (wrk, 4 connections, one request
# per connection every 10 ms).  Prints the daemon's peak RSS and the size of
# the case journal.
#
# Usage: tests/bench/rescreen.sh [N]
# Env:   BENCH_RATE (daemon.rescreen_rate, default 100000), BENCH_DIR,
#        KVS_BUILDDIR, KVS_SRCDIR (as tests/bench/api.sh).
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
: "${KVS_BUILDDIR:=$(cd "$HERE/../.." && pwd)}"
: "${KVS_SRCDIR:=$(cd "$HERE/../.." && pwd)}"
N=${1:-100000}
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)"; exit 77; }

B=${BENCH_DIR:-$(mktemp -d "$KVS_BUILDDIR/tests/bench/run.XXXXXX")}
PID=
WRK=
cleanup() {
	[ -n "$WRK" ] && kill "$WRK" 2>/dev/null
	[ -n "$PID" ] && kill -TERM "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	[ -z "${BENCH_DIR:-}" ] && rm -rf "$B"
}
trap cleanup EXIT

cp -r "$KVS_SRCDIR/conf" "$B/conf"
sed -i -e "s|^\( *listen *=\).*|\1 \"127.0.0.1:0\";|" \
	-e "s|^\( *socket *=\).*|\1 \"$B/k.sock\";|" \
	-e "s|^\( *state_dir *=\).*|\1 \"$B/state\";|" \
	-e "s|^\( *log_level *=\).*|\1 \"notice\";|" \
	-e "s|^\( *threads *=\).*|\1 2;|" \
	-e "s|^\( *plugin_dir *=\).*|\1 \"$KVS_BUILDDIR/plugins\";|" \
	-e "s|^daemon: *{|daemon: {\n  rescreen_rate = ${BENCH_RATE:-100000};|" "$B/conf/kvscreend.conf"

"$KVS_BUILDDIR/kvscreend" -c "$B/conf/kvscreend.conf" > "$B/log" 2>&1 &
PID=$!
for _ in $(seq 300); do
	grep -q ' ready: ' "$B/log" && break
	sleep 0.1
done
grep -q ' ready: ' "$B/log" || { cat "$B/log"; exit 1; }
PORT=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$B/log" | tail -1)
export KVS_TOKEN=$(head -n1 "$B/state/api-token")
export KVS_EXAMPLES="$KVS_SRCDIR/conf/examples"
metric() { curl -s --unix-socket "$B/k.sock" http://localhost/metrics | sed -n "s/^$1 //p"; }
echo "kvscreend pid $PID, $(grep -o '[0-9]* plugins' "$B/log" | head -1), 2 worker threads," \
	"$(nproc) cores, state on $(df -T "$B" | awk 'NR==2 {print $2}')"

# ---- load: N open cases ----
t0=$(date +%s.%N)
KVS_PHASE=load KVS_PER_THREAD=$(( N / 2 + 10 )) wrk -t2 -c64 -d3600s -s "$HERE/rescreen.lua" \
	"http://127.0.0.1:$PORT" > "$B/wrk-load" 2>&1 &
WRK=$!
while [ "$(metric 'kvscreend_cases{state="open"}')" -lt "$N" ]; do
	kill -0 "$WRK" || { cat "$B/wrk-load"; exit 1; }
	sleep 1
done
kill -INT "$WRK"; wait "$WRK" || true; WRK=
echo "stored $(metric 'kvscreend_cases{state="open"}') open cases in $(echo "$(date +%s.%N) - $t0" | bc) s"

# ---- the list changes; the reload starts the re-screen; live load meanwhile ----
echo 'OWN-9999,Bench Listed Institute,,CN,institute-own,high,"benchmark entry"' >> "$B/conf/lists/institute-own.csv"
before=$(metric kvscreend_rescreen_total)
t0=$(date +%s.%N)
"$KVS_BUILDDIR/kvscreen" reload --socket "$B/k.sock" > /dev/null
KVS_PHASE=live KVS_DELAY_MS=10 wrk -t1 -c4 -d3600s -s "$HERE/rescreen.lua" \
	"http://127.0.0.1:$PORT" > "$B/wrk-live" 2>&1 &
WRK=$!
sleep 1
until [ "$(metric kvscreend_rescreen_running)" = 0 ] && [ "$(metric kvscreend_rescreen_backlog)" = 0 ]; do
	sleep 0.5
done
t1=$(date +%s.%N)
kill -INT "$WRK"; wait "$WRK" || true; WRK=
secs=$(echo "$t1 - $t0" | bc)
done_n=$(( $(metric kvscreend_rescreen_total) - before ))
echo "re-screened $done_n cases in $secs s ($(echo "$done_n / $secs" | bc) /s)," \
	"$(metric kvscreend_rescreen_versions_posted_total) new versions posted"
curl -s --unix-socket "$B/k.sock" http://localhost/v1/admin/rescreen; echo
echo "live requests meanwhile: $(grep -E '^requests|^latency' "$B/wrk-live" | tr '\n' ' ')"
echo "daemon peak RSS $(awk '/VmHWM/ {printf "%.1f MB", $2/1024}' /proc/$PID/status)," \
	"case journal $(du -m "$B/state/cases/journal" | cut -f1) MB"
