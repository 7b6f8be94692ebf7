#!/bin/sh
# config_errors.sh - every bad-config fixture makes `kvscreen check-config`
# exit 2 with exactly the expected first line "file:line: message".
set -u
src=${KVS_SRCDIR:-.}
build=${KVS_BUILDDIR:-.}
dir=$(cd "$src/tests/data/config" && pwd -P)
fail=0 n=0
for conf in "$dir"/*.conf; do
	name=$(basename "$conf" .conf)
	want=$(sed "s|@DIR@|$dir|g" "$dir/$name.expected")
	out=$("$build/kvscreen" check-config -c "$conf" 2>&1 >/dev/null)
	rc=$?
	got=$(printf '%s\n' "$out" | head -n 1 | sed "s|^$dir/||")
	n=$((n + 1))
	if [ "$rc" -ne 2 ]; then
		echo "FAIL $name: exit status $rc, expected 2"; fail=$((fail + 1))
	elif [ "$got" != "$want" ]; then
		echo "FAIL $name:"; echo "  got:  $got"; echo "  want: $want"; fail=$((fail + 1))
	else
		echo "ok   $name: $got"
	fi
done
# The in-tree configuration itself is valid.
if ! KVSCREEND_PLUGIN_DIR="$build/plugins" "$build/kvscreen" check-config -c "$src/conf/kvscreend.conf"; then
	echo "FAIL conf/kvscreend.conf does not pass check-config"; fail=$((fail + 1))
fi
echo "$((n + 1 - fail)) passed, $fail failed"
[ "$fail" -eq 0 ]
