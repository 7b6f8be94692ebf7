# daemon_lib.sh - sourced by the daemon_*.sh tests (once, near the top):
# their common preamble, and starting the built kvscreend on
# $D/kvscreend.conf (in $D, logging to $D/log) and waiting until it is ready.
#
# Sourcing only sets KVS_TEST_TIMEOUT_SCALE's default and defines functions;
# it needs no configuration and defines no cleanup, fail or ok, so the
# broker tests and report_browser.sh, which have their own, may source it
# too.  A daemon test then calls test_begin NAME, which makes
# D=/tmp/kvs-NAME.XXXXXX, sets PID= and defines
#   cleanup  run on EXIT: calls the test's on_cleanup if it defines one (to
#            stop its own helpers, e.g. a receiver), kills $PID with -9 and
#            the shell's background jobs, removes $D;
#   fail MSG prints "FAIL: MSG" and the last 50 lines of the daemon log
#            (then the test's on_fail, if it defines one), exits 1;
#   ok MSG   prints "ok - MSG".
# start_daemon needs DAEMON and test_begin; it sets PID, PORT (the TCP
# listener from the log) and TOKEN (the API token the daemon made in
# $D/state; empty when the configuration names a token_file instead).
#
# Tests never depend on machine speed: they wait for a condition, bounded
# by a generous limit that KVS_TEST_TIMEOUT_SCALE (default 1, may be a
# fraction) multiplies, as it multiplies the Check tests' timeouts.
: "${KVS_TEST_TIMEOUT_SCALE:=1}"

# test_begin NAME: the preamble above.  Call it after the checks that skip
# the test (exit 77), so that a skipped test leaves nothing behind.  The
# functions are defined here, not at source time, so that sourcing never
# replaces a script's own cleanup, fail or ok.
test_begin() {
	D=$(mktemp -d "/tmp/kvs-$1.XXXXXX") || { echo "FAIL: cannot make a folder in /tmp" >&2; exit 1; }
	PID=
	cleanup() {
		if declare -F on_cleanup >/dev/null; then on_cleanup; fi
		[ -n "${PID:-}" ] && kill -9 "$PID" 2>/dev/null
		jobs -p | xargs -r kill 2>/dev/null
		rm -rf "$D"
	}
	fail() {
		echo "FAIL: $*" >&2
		echo "--- daemon log (last 50 lines)" >&2
		if [ -s "$D/log" ]; then tail -n 50 "$D/log" >&2; else echo "(empty or missing)" >&2; fi
		if declare -F on_fail >/dev/null; then on_fail >&2; fi
		exit 1
	}
	ok() { echo "ok - $*"; }
	trap cleanup EXIT
}

# scaled_ms SECONDS: the bound in milliseconds, scaled.
scaled_ms() {
	awk -v s="$1" -v f="$KVS_TEST_TIMEOUT_SCALE" 'BEGIN { printf "%d", s * f * 1000 }'
}

# wait_for SECONDS CMD...: run CMD every 0.1 s until it succeeds; returns 1
# when it has not within SECONDS (scaled).
wait_for() {
	local end=$(( $(date +%s%3N) + $(scaled_ms "$1") ))
	shift
	until "$@"; do
		[ "$(date +%s%3N)" -lt "$end" ] || return 1
		sleep 0.1
	done
}

daemon_ready() {
	grep -q ' ready: ' "$D/log" && return 0
	kill -0 "$PID" 2>/dev/null || fail "daemon exited at start"
	return 1
}

start_daemon() {
	: > "$D/log"
	(cd "$D" && exec "$DAEMON" -c "$D/kvscreend.conf" >> "$D/log" 2>&1) &
	PID=$!
	wait_for 60 daemon_ready || fail "daemon not ready"
	PORT=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$D/log" | tail -1)
	[ -n "$PORT" ] || fail "no port in the log"
	TOKEN=
	[ -f "$D/state/api-token" ] && TOKEN=$(head -n1 "$D/state/api-token")
	return 0
}
