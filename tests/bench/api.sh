#!/bin/bash
# api.sh - benchmark of the HTTP API with wrk: POST /v1/screenings of realistic
# requests (conf/examples) with unique ids, durability on (verdicts fsynced
# into the outbox before each answer).  Prints screenings/s, latency
# percentiles, the daemon's CPU time per screening and its peak resident
# memory (VmHWM).
#
# Usage: tests/bench/api.sh [DURATION_S] [CONNECTIONS] [WRK_THREADS]
# Env:   BENCH_CONF (a configuration to use instead of conf/kvscreend.conf;
#        its daemon group's listen, socket, state_dir, log_level and threads
#        lines are replaced as for the in-tree one),
#        BENCH_SYNCFS=1 (daemon.outbox_syncfs = true),
#        BENCH_BODY (a file: send this one request, with a fresh id each
#        time, instead of the four of conf/examples),
#        BENCH_LIMITS ("max_string=N max_text=N max_request_bytes=N": these
#        lines of the limits group are set to these values),
#        BENCH_LOG_LEVEL (default notice; info logs one line per screening),
#        KVS_BUILDDIR (built tree, default: this checkout), BENCH_DIR (where the
#        state lives; default a fresh folder under the build dir, i.e. on a
#        real disk rather than a tmpfs).
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
: "${KVS_BUILDDIR:=$(cd "$HERE/../.." && pwd)}"
: "${KVS_SRCDIR:=$(cd "$HERE/../.." && pwd)}"
DUR=${1:-20}
CONNS=${2:-64}
THREADS=${3:-1}
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)"; exit 77; }

B=${BENCH_DIR:-$(mktemp -d "$KVS_BUILDDIR/tests/bench/run.XXXXXX")}
PID=
cleanup() {
	[ -n "$PID" ] && kill -TERM "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	[ -z "${BENCH_DIR:-}" ] && rm -rf "$B"
}
trap cleanup EXIT

# The in-tree configuration (its plugins and rule files), with the state,
# the listener and the plugin folder moved.
cp -r "$KVS_SRCDIR/conf" "$B/conf"
[ -n "${BENCH_CONF:-}" ] && cp "$BENCH_CONF" "$B/conf/kvscreend.conf"
PLUGDIR="$KVS_BUILDDIR/plugins"
sed -i -e "s|^\( *listen *=\).*|\1 \"127.0.0.1:0\";|" \
	-e "s|^\( *socket *=\).*|\1 \"$B/k.sock\";|" \
	-e "s|^\( *state_dir *=\).*|\1 \"$B/state\";|" \
	-e "s|^\( *log_level *=\).*|\1 \"${BENCH_LOG_LEVEL:-notice}\";|" \
	-e "s|^\( *threads *=\).*|\1 2;|" \
	-e "s|^\( *plugin_dir *=\).*|\1 \"$PLUGDIR\";|" "$B/conf/kvscreend.conf"
for kv in ${BENCH_LIMITS:-}; do
	sed -i "s|^\( *${kv%%=*} *=\).*|\1 ${kv#*=};|" "$B/conf/kvscreend.conf"
done
if [ -n "${BENCH_SYNCFS:-}" ]; then
	sed -i 's|^daemon: *{|daemon: {\n  outbox_syncfs = true;|' "$B/conf/kvscreend.conf"
fi
if ! grep -q '^ *[a-z_]*: *{' <(sed -n '/^plugins:/,$p' "$B/conf/kvscreend.conf" | tail -n +2); then
	# No plugin configured yet: screen with the keyword test plugin.
	PLUGDIR="$KVS_BUILDDIR/tests/plugins"
	sed -i -e "s|^\( *plugin_dir *=\).*|\1 \"$PLUGDIR\";|" \
		-e 's|^plugins: {|plugins: { t_good: { keyword = "FPGA"; };|' "$B/conf/kvscreend.conf"
	echo "note: conf/kvscreend.conf has no plugins; benchmarking with tests/plugins/t_good"
fi

"$KVS_BUILDDIR/kvscreend" -c "$B/conf/kvscreend.conf" > "$B/log" 2>&1 &
PID=$!
for _ in $(seq 100); do
	grep -q ' ready: ' "$B/log" && break
	sleep 0.1
done
grep -q ' ready: ' "$B/log" || { cat "$B/log"; exit 1; }
PORT=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$B/log" | tail -1)
export KVS_TOKEN=$(head -n1 "$B/state/api-token")
export KVS_EXAMPLES="$KVS_SRCDIR/conf/examples"
export KVS_RUN=$$
export KVS_BODY="${BENCH_BODY:-}"

echo "kvscreend pid $PID on 127.0.0.1:$PORT, $(grep -o '[0-9]* plugins' "$B/log" | head -1)," \
	"state in $B/state ($(df -T "$B" | awk 'NR==2 {print $2}'))"
echo "wrk: $DUR s, $CONNS connections, $THREADS threads, $(nproc) cores"
# CPU time of the daemon (user + system, all threads) over the run, from
# /proc/PID/stat, divided by the screenings answered 200.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$PID/stat"; }
user_ticks() { awk '{ print $14 }' "/proc/$PID/stat"; }
CPU0=$(cpu_ticks)
USR0=$(user_ticks)
wrk -t"$THREADS" -c"$CONNS" -d"${DUR}s" --latency -s "$HERE/api.lua" "http://127.0.0.1:$PORT" |
	grep -E 'screenings/s|requests|latency|Socket errors|first non-200' > "$B/wrk.out" || true
CPU1=$(cpu_ticks)
USR1=$(user_ticks)
cat "$B/wrk.out"
awk -v t="$((CPU1 - CPU0))" -v u="$((USR1 - USR0))" -v hz="$(getconf CLK_TCK)" \
	-v load="$(cut -d' ' -f1-3 /proc/loadavg)" \
	'/^requests/ { ok = $2 - $4 } END { if (ok > 0) printf "daemon CPU %.3f ms per screening (user %.3f, system %.3f; %.1f s for %d), load average %s\n", t / hz * 1000 / ok, u / hz * 1000 / ok, (t - u) / hz * 1000 / ok, t / hz, ok, load }' "$B/wrk.out"
echo "daemon peak RSS $(awk '/VmHWM/ {printf "%.1f MB", $2/1024}' /proc/$PID/status)," \
	"now $(awk '/VmRSS/ {printf "%.1f MB", $2/1024}' /proc/$PID/status)"
if [ -d "$B/state/outbox/new" ] && [ ! -d "$B/state/outbox/seg" ]; then
	echo "verdicts in outbox/new: $(ls "$B/state/outbox/new" | wc -l)"
else
	echo "verdicts in the outbox: $("$KVS_BUILDDIR/kvscreen" outbox list --state "$B/state" | wc -l)"
fi
