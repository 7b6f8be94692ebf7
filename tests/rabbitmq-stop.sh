#!/bin/sh
# rabbitmq-stop.sh - stop the node that rabbitmq-start.sh started, and its epmd.
#
# Uses the environment rabbitmq-start.sh saved in $KVS_RABBITMQ_DIR/env, so
# rabbitmqctl finds the node and its cookie.  Does nothing when no node was
# started there.  KVS_RABBITMQ_KEEP_DATA=1 keeps the state folder.
set -eu

B=/usr/lib/rabbitmq/bin
D=${KVS_RABBITMQ_DIR:-/tmp/kvs-rabbitmq}

exec 9> "$D.lock"
flock -w 60 9 || { echo "rabbitmq-stop: $D.lock is held too long" >&2; exit 1; }
if [ ! -f "$D/env" ]; then
	echo "rabbitmq-stop: nothing started in $D"
	exit 0
fi
. "$D/env"
"$B/rabbitmqctl" -q shutdown >/dev/null 2>&1 || true
# Wait until the node has left epmd, so that a new one can start at once.
i=0
while epmd -names 2>/dev/null | grep -q '^name rabbit at' && [ "$i" -lt 60 ]; do
	i=$((i + 1))
	sleep 0.25
done
# epmd is started by the node; stop it only when no other node uses it.
if command -v epmd >/dev/null && ! epmd -names 2>/dev/null | grep -q '^name '; then
	epmd -kill >/dev/null 2>&1 || true
fi
if [ "${KVS_RABBITMQ_KEEP_DATA:-0}" != 1 ]; then
	rm -rf "$D"
fi
echo "rabbitmq-stop: stopped"
