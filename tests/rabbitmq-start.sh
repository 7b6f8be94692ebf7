#!/bin/sh
# rabbitmq-start.sh - start a private, loopback-only rabbitmq-server with its management API, without systemd.
#
# Used by tests/sink_rabbitmq.sh and by .ci/run.  Idempotent: when the
# management API already answers, it does nothing.  The node runs as the
# calling user from the Debian package's /usr/lib/rabbitmq/bin (the
# /usr/sbin wrapper would su to the rabbitmq user), with every directory
# under $KVS_RABBITMQ_DIR and every port on 127.0.0.1 (AMQP 5672,
# management 15672, Erlang distribution 25672, epmd 4369).  It returns once
# GET /api/overview answers, and prints how long that took.
#
# Environment: KVS_RABBITMQ_DIR (default /tmp/kvs-rabbitmq),
# KVS_RABBITMQ_MGMT_PORT (15672), KVS_RABBITMQ_PORT (5672),
# KVS_RABBITMQ_WAIT (seconds, default 90).
# Starts and stops are serialised with flock on $KVS_RABBITMQ_DIR.lock.
# Exit status: 0 running, 77 rabbitmq-server is not installed, 1 failed.
set -eu

B=/usr/lib/rabbitmq/bin
D=${KVS_RABBITMQ_DIR:-/tmp/kvs-rabbitmq}
MGMT=${KVS_RABBITMQ_MGMT_PORT:-15672}
AMQP=${KVS_RABBITMQ_PORT:-5672}
WAIT=${KVS_RABBITMQ_WAIT:-90}

if [ ! -x "$B/rabbitmq-server" ]; then
	echo "rabbitmq-start: rabbitmq-server is not installed (apt-get install rabbitmq-server)" >&2
	exit 77
fi
command -v curl >/dev/null || { echo "rabbitmq-start: curl is missing" >&2; exit 1; }

# One start or stop at a time (two test suites may run side by side).
exec 9> "$D.lock"
flock -w "$WAIT" 9 || { echo "rabbitmq-start: $D.lock is held too long" >&2; exit 1; }

api_up() {
	curl -fsS -m 2 -u guest:guest "http://127.0.0.1:$MGMT/api/overview" >/dev/null 2>&1
}

if api_up; then
	echo "rabbitmq-start: already running (management API on 127.0.0.1:$MGMT)"
	exit 0
fi

# A node this script started earlier that does not answer as it should (a
# management API that refuses guest, or none): stop it and start anew.
if [ -f "$D/env" ] && epmd -names 2>/dev/null | grep -q '^name rabbit at'; then
	echo "rabbitmq-start: the node started in $D does not answer guest on 127.0.0.1:$MGMT; stopping it"
	( . "$D/env" && "$B/rabbitmqctl" -q shutdown >/dev/null 2>&1 ) || true
fi
# A node that is still shutting down keeps its name in epmd, and a new
# node of the same name refuses to boot (dist_port_already_used).
i=0
while epmd -names 2>/dev/null | grep -q '^name rabbit at'; do
	i=$((i + 1))
	if [ "$i" -gt 60 ]; then
		echo "rabbitmq-start: a node named rabbit is registered with epmd but its management" \
			"API does not answer guest on 127.0.0.1:$MGMT (the system's rabbitmq-server?" \
			"stop it: service rabbitmq-server stop)" >&2
		exit 1
	fi
	sleep 0.25
done

mkdir -p "$D/log" "$D/mnesia"
chmod 700 "$D"
# Everything the node and rabbitmqctl need, kept for rabbitmq-stop.sh.
cat > "$D/env" <<EOF
export HOME='$D'
export RABBITMQ_NODENAME=rabbit@localhost
export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
export RABBITMQ_NODE_PORT=$AMQP
export ERL_EPMD_ADDRESS=127.0.0.1
export RABBITMQ_MNESIA_BASE='$D/mnesia'
export RABBITMQ_LOG_BASE='$D/log'
export RABBITMQ_PID_FILE='$D/pid'
export RABBITMQ_ENABLED_PLUGINS_FILE='$D/enabled_plugins'
export RABBITMQ_CONFIG_FILE='$D/rabbitmq.conf'
export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS='-kernel inet_dist_use_interface {127,0,0,1}'
EOF
. "$D/env"
printf 'listeners.tcp.default = 127.0.0.1:%s\nmanagement.tcp.ip = 127.0.0.1\nmanagement.tcp.port = %s\nloopback_users.guest = true\n' \
	"$AMQP" "$MGMT" > "$D/rabbitmq.conf"

start=$(date +%s.%N)
"$B/rabbitmq-plugins" --offline enable rabbitmq_management > "$D/log/plugins.log" 2>&1 || {
	echo "rabbitmq-start: enabling rabbitmq_management failed:" >&2
	cat "$D/log/plugins.log" >&2
	exit 1
}
# setsid: the node outlives this script and the test that called it, and
# is not killed by a Ctrl-C meant for make.
# The lock descriptors are closed so that the node does not hold them.
setsid "$B/rabbitmq-server" > "$D/log/stdout.log" 2>&1 < /dev/null 8>&- 9>&- &
echo $! > "$D/launcher.pid"

i=0
while ! api_up; do
	i=$((i + 1))
	if [ "$i" -gt $((WAIT * 4)) ]; then
		echo "rabbitmq-start: the management API did not answer within ${WAIT}s; log:" >&2
		tail -n 30 "$D/log/stdout.log" >&2
		exit 1
	fi
	if ! kill -0 "$(cat "$D/launcher.pid")" 2>/dev/null; then
		echo "rabbitmq-start: rabbitmq-server exited; log:" >&2
		tail -n 30 "$D/log/stdout.log" >&2
		exit 1
	fi
	sleep 0.25
done
end=$(date +%s.%N)
echo "rabbitmq-start: management API up on 127.0.0.1:$MGMT after $(awk "BEGIN { printf \"%.1f\", $end - $start }")s (state in $D)"
