# daemon_lib.sh - sourced by the daemon_*.sh tests: start the built kvscreend
# on $D/kvscreend.conf (in $D, logging to $D/log) and wait until it is ready.
# Needs DAEMON, D and a fail() function; sets PID, PORT (the TCP listener
# from the log) and TOKEN (the API token the daemon made in $D/state; empty
# when the configuration names a token_file instead).
#
# Tests never depend on machine speed: they wait for a condition, bounded
# by a generous limit that KVS_TEST_TIMEOUT_SCALE (default 1, may be a
# fraction) multiplies, as it multiplies the Check tests' timeouts.
: "${KVS_TEST_TIMEOUT_SCALE:=1}"

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
