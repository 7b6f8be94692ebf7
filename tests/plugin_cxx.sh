#!/bin/bash
# plugin_cxx.sh - a plugin written in C++ and built with -fvisibility=hidden
# loads: KVS_PLUGIN_DECLARE gives the descriptor C linkage and default
# visibility.  Skipped when no C++ compiler is installed.
set -eu
: "${KVS_BUILDDIR:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${KVS_SRCDIR:=$KVS_BUILDDIR}"
CXX=${CXX:-g++}
command -v "$CXX" >/dev/null || { echo "no C++ compiler"; exit 77; }
D=$(mktemp -d /tmp/kvs-cxx.XXXXXX)
trap 'rm -rf "$D"' EXIT

cat > "$D/t_cxx.cpp" <<'EOF'
#include <kvscreen/plugin.h>

static int cx_create(const struct kvs_host *, const kvs_config_ctx *, const void *, void **state)
{
	*state = nullptr;
	return 0;
}

static int cx_screen(void *, const struct kvs_host *, const kvs_request *, kvs_report *)
{
	return 0;
}

static void cx_destroy(void *, const struct kvs_host *) {}

KVS_PLUGIN_DECLARE = {
	KVS_PLUGIN_INIT,
	.name = "t_cxx",
	.version = "1.0",
	.description = "a plugin in C++",
	.types = KVS_REQ_EXPORT,
	.options = nullptr,
	.config_size = 0,
	.create = cx_create,
	.screen = cx_screen,
	.destroy = cx_destroy,
};
EOF
"$CXX" -std=c++20 -shared -fPIC -fvisibility=hidden -I"$KVS_SRCDIR/include" \
	-o "$D/t_cxx.so" "$D/t_cxx.cpp"
nm -D --defined-only "$D/t_cxx.so" | grep -q ' kvs_plugin$' || { echo "FAIL: kvs_plugin not exported"; exit 1; }
cat > "$D/kvscreend.conf" <<EOF
daemon: { plugin_dir = "$D"; state_dir = "state"; };
plugins: { t_cxx: { }; };
EOF
out=$("$KVS_BUILDDIR/kvscreen" plugins -c "$D/kvscreend.conf" 2>&1) || { echo "FAIL: $out"; exit 1; }
echo "$out" | grep -q 't_cxx' || { echo "FAIL: t_cxx not listed: $out"; exit 1; }
echo "ok - a C++ plugin built with -fvisibility=hidden loads"
