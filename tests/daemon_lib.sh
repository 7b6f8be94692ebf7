# daemon_lib.sh - sourced by the daemon_*.sh tests: start the built kvscreend
# on $D/kvscreend.conf (in $D, logging to $D/log) and wait until it is ready.
# Needs DAEMON, D and a fail() function; sets PID, PORT (the TCP listener
# from the log) and TOKEN (the API token the daemon made in $D/state).
start_daemon() {
	: > "$D/log"
	(cd "$D" && exec "$DAEMON" -c "$D/kvscreend.conf" >> "$D/log" 2>&1) &
	PID=$!
	for _ in $(seq 100); do
		grep -q ' ready: ' "$D/log" && break
		kill -0 "$PID" 2>/dev/null || fail "daemon exited at start"
		sleep 0.1
	done
	grep -q ' ready: ' "$D/log" || fail "daemon not ready"
	PORT=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$D/log" | tail -1)
	[ -n "$PORT" ] || fail "no port in the log"
	TOKEN=$(head -n1 "$D/state/api-token")
}
