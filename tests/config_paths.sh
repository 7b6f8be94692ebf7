#!/bin/sh
# config_paths.sh - every path of the configuration is resolved once, by the
# host, to one canonical absolute path: the policy digest does not depend on
# how -c names the file, a plugin handing a path option to rules_load() gets
# the file the option names (not conf/conf/...), and a path option naming a
# folder is refused at file:line of its setting.
set -u
: "${KVS_BUILDDIR:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${KVS_SRCDIR:=$KVS_BUILDDIR}"
KVSCREEN="$KVS_BUILDDIR/kvscreen"
T_GOOD="$KVS_BUILDDIR/tests/plugins/.libs/t_good.so"
[ -f "$T_GOOD" ] || { echo "test plugins not built"; exit 77; }
SRC=$(cd "$KVS_SRCDIR" && pwd -P)
export KVSCREEND_PLUGIN_DIR="$KVS_BUILDDIR/plugins"

D=$(mktemp -d /tmp/kvs-paths.XXXXXX)
D=$(cd "$D" && pwd -P)
trap 'rm -rf "$D"' EXIT
fail=0
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }
ok() { echo "ok - $*"; }

digest_of() { # digest_of DIR CONF: check-config run in DIR with -c CONF
	(cd "$1" && "$KVSCREEN" check-config -c "$2" 2>&1) |
		sed -n 's/.*policy digest \([0-9a-f]\{64\}\)).*/\1/p'
}

# 1. The digest of the in-tree configuration, named four ways.
ln -s "$SRC/conf" "$D/conflink"
d1=$(digest_of "$SRC" conf/kvscreend.conf)
d2=$(digest_of / "$SRC/conf/kvscreend.conf")
d3=$(digest_of "$SRC/conf" kvscreend.conf)
d4=$(digest_of "$D" conflink/./kvscreend.conf)
if [ -z "$d1" ]; then
	bad "no digest from check-config -c conf/kvscreend.conf"
elif [ "$d1" = "$d2" ] && [ "$d1" = "$d3" ] && [ "$d1" = "$d4" ]; then
	ok "one policy digest for four spellings of -c ($d1)"
else
	bad "digests differ: relative $d1, absolute $d2, from conf/ $d3, via a symlink $d4"
fi

# 2. A plugin passes its path option, as the host resolved it, to
# rules_load(), with -c relative to the working directory.
mkdir -p "$D/run/sub"
cp "$KVS_SRCDIR/tests/data/rules/good.conf" "$D/run/sub/r.conf"
cat > "$D/run/sub/t.conf" <<EOF
daemon: { state_dir = "state"; };
plugins: {
  t_good: {
    path = "$T_GOOD";
    keyword = "zzz";
    rules = "r.conf";
  };
};
EOF
out=$(cd "$D/run" && "$KVSCREEN" check-config -c sub/t.conf 2>&1)
case $out in
"configuration OK"*) ok "rules_load() takes the resolved option as it is" ;;
*) bad "rules_load() with a relative -c: $out" ;;
esac
req='{"id":"p-1","type":"export","title":"encryption for the lab","items":[{"description":"x","kind":"goods"}],"destination":{"country":"US"}}'
out=$(cd "$D/run" && printf '%s' "$req" | "$KVSCREEN" screen -c sub/t.conf - 2>&1)
case $out in
*'"T-CRYPTO"'*) ok "the rule file loaded through the option screens" ;;
*) bad "no T-CRYPTO finding from the rules option: $out" ;;
esac

# 3. A path option naming a folder: refused at the setting's file:line.
sed 's|rules = "r.conf";|rules = ".";|' "$D/run/sub/t.conf" > "$D/run/sub/dir.conf"
out=$(cd "$D/run" && "$KVSCREEN" check-config -c sub/dir.conf 2>&1 >/dev/null | head -n 1)
want="sub/dir.conf:6: rules: \"$D/run/sub\" is a folder, expected a file"
if [ "$out" = "$want" ]; then
	ok "a folder where a file is expected: $out"
else
	bad "folder option:"; echo "  got:  $out"; echo "  want: $want"
fi

[ "$fail" -eq 0 ]
