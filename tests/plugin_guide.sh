#!/bin/sh
# plugin_guide.sh - runs docs/plugin-guide.md, so the guide cannot rot: a
# plugin written against the installed header, built outside the tree with
# only pkg-config, loads, its findings show in the verdict, and it installs
# into the plugin folder pkg-config names.
#
# The tree is installed with `make install DESTDIR=...` and found as the
# guide tells: PKG_CONFIG_SYSROOT_DIR=DESTDIR and PKG_CONFIG_LIBDIR its
# pkgconfig folder, so --cflags, --libs and (pkgconf) --variable=plugindir
# point into DESTDIR.  Blocks opened with
# ```LANG file=NAME are written to NAME (blocks naming the same file are
# appended in order); ```sh run blocks are run in order, in one shell with
# `set -eu`, in the folder of those files.
set -eu
src=${KVS_SRCDIR:-.}
build=${KVS_BUILDDIR:-.}
guide="$src/docs/plugin-guide.md"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

make -s -C "$build" install DESTDIR="$tmp/root" > "$tmp/install.log" 2>&1 ||
	{ cat "$tmp/install.log"; echo "FAIL: make install"; exit 1; }
pc=$(find "$tmp/root" -name kvscreen-plugin.pc | head -n 1)
[ -n "$pc" ] || { echo "FAIL: make install put no kvscreen-plugin.pc under DESTDIR"; exit 1; }
[ -f "$(dirname "$pc")/kvscreen-plugin-test.pc" ] ||
	{ echo "FAIL: make install put no kvscreen-plugin-test.pc beside kvscreen-plugin.pc"; exit 1; }
mkdir "$tmp/work"
PKG_CONFIG_SYSROOT_DIR="$tmp/root"
PKG_CONFIG_LIBDIR=$(dirname "$pc")
PKG_CONFIG_PATH=
export PKG_CONFIG_SYSROOT_DIR PKG_CONFIG_LIBDIR PKG_CONFIG_PATH
plugindir=$(pkg-config --variable=plugindir kvscreen-plugin)
case "$plugindir" in
"$tmp/root/"*) ;;
*) echo "FAIL: plugindir $plugindir is not inside DESTDIR"; exit 1 ;;
esac
[ -f "$(pkg-config --cflags kvscreen-plugin | sed 's/^-I//; s/ *$//')/kvscreen/plugin.h" ] || {
	echo "FAIL: pkg-config --cflags does not lead to the installed header"; exit 1; }
# The guide's "installed" configuration finds plugins in the daemon's plugin
# folder; under DESTDIR that is the moved one.
KVSCREEND_PLUGIN_DIR="$plugindir"
export KVSCREEND_PLUGIN_DIR
PATH="$(cd "$build" && pwd):$PATH"
export PATH

# Extract the files and the script.
awk -v dir="$tmp/work" -v script="$tmp/guide-steps.sh" '
	BEGIN { mode = ""; n = 0 }
	/^```/ && mode == "" {
		info = substr($0, 4)
		if (match(info, /(^| )file=[^ ]+/)) {
			f = substr(info, RSTART, RLENGTH); sub(/^ ?file=/, "", f)
			if (f ~ /\// || f ~ /^\./) { print "bad file name " f > "/dev/stderr"; exit 2 }
			out = dir "/" f; mode = "file"
			if (f in seen) print "" >> out     # a blank line between the parts of a file
			else files++
			seen[f] = 1
		} else if (info ~ /^sh run( |$)/) {
			n++; mode = "run"
			printf "echo \"== guide step %d (line %d)\"\n", n, NR >> script
		} else {
			mode = "skip"
		}
		next
	}
	/^```/ { mode = ""; next }
	mode == "file" { print >> out }
	mode == "run" { print >> script }
	END { if (mode != "") { print "unterminated block" > "/dev/stderr"; exit 2 }
	      printf "%d files, %d steps\n", files, n > "/dev/stderr" }
' "$guide"
grep -q '^echo "== guide step' "$tmp/guide-steps.sh" || { echo "FAIL: no sh run block in the guide"; exit 1; }
[ -f "$tmp/work/project_codes.c" ] || { echo "FAIL: the guide writes no project_codes.c"; exit 1; }
[ -f "$tmp/work/test_project_codes.c" ] || { echo "FAIL: the guide writes no test with the test harness"; exit 1; }

# The plugin must build from the installed header alone, not the source tree.
if grep -q "$src/include" "$pc"; then
	echo "FAIL: the .pc points into the source tree"; exit 1
fi
(cd "$tmp/work" && sh -eu "$tmp/guide-steps.sh") || { echo "FAIL: a step of the guide failed"; exit 1; }

# What the guide promises, checked once more from outside.
[ -f "$plugindir/project_codes.so" ] || { echo "FAIL: project_codes.so not installed in $plugindir"; exit 1; }
out=$(cd "$tmp/work" && kvscreen screen -c installed.conf request.json)
echo "$out" | grep -q '"rule":"project_codes.mention"' || { echo "FAIL: no finding from the installed plugin"; exit 1; }
echo "$out" | grep -q '"evidence":\[{"path":"/title","start":5,"end":11,"text":"ORCA-7"}' ||
	{ echo "FAIL: evidence of the installed plugin is wrong: $out"; exit 1; }
echo "$out" | grep -q '"name":"project_codes","version":"1.0.0","status":"ok"' ||
	{ echo "FAIL: plugin status missing: $out"; exit 1; }
echo "1 passed, 0 failed"
