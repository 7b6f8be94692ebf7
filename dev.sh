#!/bin/sh
# dev.sh - set up, build, demonstrate and test kvscreend on Debian 12.
#
#   ./dev.sh demo   install what is missing, build, screen the sample requests
#   ./dev.sh test   install what is missing, build, run the whole test suite
#   ./dev.sh deps | build
set -eu
cd "$(dirname "$0")"

PACKAGES="build-essential autoconf automake libtool pkg-config libuv1-dev libcurl4-openssl-dev
libjansson-dev libpcre2-dev libconfig-dev libssl-dev libhttp-parser-dev check libsubunit-dev
libutf8proc-dev libxml2-dev
curl python3 ca-certificates openssl rabbitmq-server"

as_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

deps() {
	missing=""
	for p in $PACKAGES; do
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

case "${1:-}" in
deps) deps ;;
build) deps; build ;;
demo)
	deps
	build
	echo "== screening conf/examples/*.json with the in-tree configuration"
	./kvscreen screen -c conf/kvscreend.conf --format text conf/examples/*.json
	;;
test)
	deps
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
