#!/bin/sh
# external_plugin.sh - a plugin built outside the tree, with only the installed
# header and `pkg-config --cflags kvscreen-plugin`, loads and reports findings.
set -eu
build=${KVS_BUILDDIR:-.}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
make -s -C "$build" install DESTDIR="$tmp/root" >/dev/null
pcdir=$(find "$tmp/root" -name kvscreen-plugin.pc -printf '%h\n')
cflags=$(PKG_CONFIG_PATH="$pcdir" PKG_CONFIG_SYSROOT_DIR="$tmp/root" pkg-config --cflags kvscreen-plugin)
mkdir "$tmp/plugin"
cat > "$tmp/plugin/hello.c" <<'CEOF'
#include <string.h>
#include <kvscreen/plugin.h>

static int hello_screen(void *state, const struct kvs_host *host, const kvs_request *req,
			kvs_report *rep)
{
	size_t len;
	const char *t = host->get_string(req, "/title", &len);
	const char *hit = t ? strstr(t, "hello") : NULL;

	if (hit) {
		struct kvs_evidence ev = { "/title", (size_t)(hit - t), (size_t)(hit - t) + 5 };
		struct kvs_finding f = { .rule = "hello.greeting", .severity = KVS_SEV_LOW,
					 .title = "Greeting found", .evidence = &ev, .n_evidence = 1 };
		return host->report_add(rep, &f);
	}
	return 0;
}

KVS_PLUGIN_DECLARE = {
	KVS_PLUGIN_INIT,
	.name = "hello",
	.version = "0.1",
	.types = KVS_REQ_EXPORT,
	.screen = hello_screen,
};
CEOF
# shellcheck disable=SC2086
cc -Wall -Werror -shared -fPIC $cflags -o "$tmp/plugin/hello.so" "$tmp/plugin/hello.c"
cat > "$tmp/kvscreend.conf" <<CEOF
plugins: { hello: { path = "plugin/hello.so"; }; };
CEOF
echo '{"id":"x1","type":"export","title":"say hello to the world"}' > "$tmp/req.json"
out=$("$build/kvscreen" screen -c "$tmp/kvscreend.conf" "$tmp/req.json")
echo "$out"
echo "$out" | grep -q '"rule":"hello.greeting"'
echo "$out" | grep -q '"path":"/title","start":4,"end":9,"text":"hello"'
echo "$out" | grep -q '"name":"hello","version":"0.1","status":"ok"'
echo "1 passed, 0 failed"
