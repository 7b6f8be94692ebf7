#!/bin/sh
# dev.sh - set up, build, demonstrate and test kvscreend on Debian 12.
#
#   ./dev.sh demo   install what is missing, build, start kvscreend on the in-tree
#                   configuration and screen the sample requests through its API
#   ./dev.sh test   install what is missing, build, run the whole test suite
#   ./dev.sh deps | build
set -eu
cd "$(dirname "$0")"

PACKAGES="build-essential autoconf automake libtool pkg-config libuv1-dev libcurl4-openssl-dev
libjansson-dev libpcre2-dev libconfig-dev libssl-dev libhttp-parser-dev check libsubunit-dev
libutf8proc-dev libxml2-dev librabbitmq-dev libjemalloc-dev zlib1g-dev
curl python3 ca-certificates openssl rabbitmq-server groff-base man-db systemd"
# Only for the test suite: the case reports are checked in a real browser
# (tests/report_browser.sh; kvscreen report --pdf uses it too where installed).
TEST_PACKAGES="chromium"

as_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

deps() {
	missing=""
	for p in $PACKAGES ${WITH_TEST_PACKAGES:+$TEST_PACKAGES}; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
			missing="$missing $p"
	done
	if [ -n "$missing" ]; then
		echo "== installing:$missing"
		as_root apt-get update -q
		# shellcheck disable=SC2086
		as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing
	fi
}

build() {
	[ -x configure ] || ./autogen.sh
	[ -f Makefile ] || ./configure
	make -j"$(nproc)"
}

# Start the daemon on the in-tree configuration, screen the sample requests
# through its HTTP API, show the verdicts and where they landed, stop it.
demo() {
	mkdir -p var
	./kvscreend -c conf/kvscreend.conf 2> var/kvscreend.log &
	pid=$!
	trap 'kill "$pid" 2>/dev/null || true' EXIT
	i=0
	until curl -fsS http://127.0.0.1:8710/readyz >/dev/null 2>&1; do
		i=$((i + 1))
		if [ "$i" -gt 100 ] || ! kill -0 "$pid" 2>/dev/null; then
			echo "kvscreend did not become ready; its log:" >&2
			cat var/kvscreend.log >&2
			exit 1
		fi
		sleep 0.1
	done
	echo "== kvscreend is running (log: var/kvscreend.log); screening conf/examples/*.json through its API"
	for f in conf/examples/*.json; do
		curl -sS -H "Authorization: Bearer $(cat var/api-token)" \
			-H 'Content-Type: application/json' --data-binary @"$f" \
			http://127.0.0.1:8710/v1/screenings |
			python3 -c 'import json, sys
v = json.load(sys.stdin)
print("%-16s %-9s score %3d" % (v["request_id"], v["decision"], v["score"]))
for f in v["findings"]:
    ev = str(f["evidence"][0].get("text", f["evidence"][0].get("value", ""))) if f["evidence"] else ""
    print("    [%s] %s: %s %s" % (f["severity"], f["rule"], f["title"], ("(\"" + ev + "\")") if ev else ""))'
	done
	echo "== durable verdicts, waiting for the sink, in var/outbox/ (kvscreen outbox list):"
	./kvscreen outbox list --state var | tail -n 4
	echo "== every verdict by request id (GET /v1/screenings/ID), in var/store/ (kvscreen outbox stored):"
	./kvscreen outbox stored --state var | tail -n 4
	kill -TERM "$pid"
	wait "$pid" || true
	trap - EXIT
}

case "${1:-}" in
deps) deps ;;
build) deps; build ;;
demo)
	deps
	build
	demo
	;;
test)
	WITH_TEST_PACKAGES=1 deps
	build
	# One loopback-only RabbitMQ for the sink tests (they skip without it).
	tests/rabbitmq-start.sh
	trap 'tests/rabbitmq-stop.sh' EXIT
	make -j"$(nproc)" check
	;;
*)
	echo "usage: $0 demo|test|deps|build" >&2
	exit 1
	;;
esac
