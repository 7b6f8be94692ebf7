#!/bin/sh
# install_layout.sh - make install puts every piece where admins expect it, the
# installed configuration is valid as installed, a reinstall keeps an admin's
# edits, the daemon's unit verifies and rates 2.0 or better, and the list
# update service and its timer verify.
set -eu
build=${KVS_BUILDDIR:-.}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
n=0
ok() { n=$((n + 1)); echo "ok - $*"; }

# The layout of a distribution package, whatever ./configure was given.
prefix=/usr sysconfdir=/etc localstatedir=/var libdir=/usr/lib
bindir=/usr/bin sbindir=/usr/sbin includedir=/usr/include systemdsystemunitdir=/lib/systemd/system
DIRS="prefix=$prefix sysconfdir=$sysconfdir localstatedir=$localstatedir libdir=$libdir systemdsystemunitdir=$systemdsystemunitdir"
R="$tmp/root"
# shellcheck disable=SC2086
make -s -C "$build" install DESTDIR="$R" $DIRS > "$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; fail "make install"; }
for f in "$sbindir/kvscreend" "$bindir/kvscreen" "$includedir/kvscreen/plugin.h" \
	"$libdir/pkgconfig/kvscreen-plugin.pc" "$sysconfdir/kvscreend/kvscreend.conf" \
	"$systemdsystemunitdir/kvscreend.service" "$systemdsystemunitdir/kvscreend-lists-update.service" \
	"$systemdsystemunitdir/kvscreend-lists-update.timer"; do
	[ -e "$R$f" ] || fail "$f not installed"
done
[ -d "$R$localstatedir/lib/kvscreend" ] || fail "state folder not created"
ls "$R$libdir/kvscreend/plugins/"*.so >/dev/null 2>&1 || fail "no plugin in $libdir/kvscreend/plugins"
ls "$R$libdir/kvscreend/plugins/"*.la >/dev/null 2>&1 && fail "libtool .la files installed beside the plugins"
grep -q "^ExecStart=$bindir/kvscreen lists update --reload -c $sysconfdir/kvscreend/kvscreend.conf$" \
	"$R$systemdsystemunitdir/kvscreend-lists-update.service" || fail "installed paths in the list update unit"
ok "binaries, header, pkg-config file, plugins, configuration, units and state folder installed"

conf="$R$sysconfdir/kvscreend/kvscreend.conf"
grep -q '"/run/kvscreend/kvscreend.sock"' "$conf" || fail "installed socket path"
grep -q '"/var/lib/kvscreend"' "$conf" || fail "installed state_dir"
grep -q '"/usr/lib/kvscreend/plugins"' "$conf" || fail "installed plugin_dir"
KVSCREEND_PLUGIN_DIR="$R$libdir/kvscreend/plugins" "$R$bindir/kvscreen" check-config -c "$conf" ||
	fail "the installed configuration is not valid"
ok "the installed configuration passes check-config"

echo "# changed by the admin" >> "$conf"
# shellcheck disable=SC2086
make -s -C "$build" install DESTDIR="$R" $DIRS > "$tmp/install2.log" 2>&1 || fail "reinstall"
grep -q "# changed by the admin" "$conf" || fail "reinstall overwrote an edited configuration"
[ -e "$conf.dist" ] || fail "no kvscreend.conf.dist beside the edited file"
grep -q "kept .*kvscreend.conf (changed)" "$tmp/install2.log" || fail "reinstall did not say it kept the file"
ok "a reinstall keeps the admin's edits and puts the new version in kvscreend.conf.dist"

# shellcheck disable=SC2086
make -s -C "$build" uninstall DESTDIR="$R" $DIRS > "$tmp/uninstall.log" 2>&1 || fail "uninstall"
[ -e "$conf" ] || fail "uninstall removed an edited configuration"
left=$(find "$R" -type f ! -path "$conf" | head -n 3)
[ -z "$left" ] || fail "uninstall left $left"
ok "uninstall removes everything but the edited configuration"

unit="$build/systemd/kvscreend.service"
if command -v systemd-analyze >/dev/null 2>&1; then
	score=$(systemd-analyze security --offline=true "$unit" 2>/dev/null | sed -n 's/.*Overall exposure level for .*: \([0-9.]*\) .*/\1/p')
	[ -n "$score" ] || fail "systemd-analyze security gave no score"
	systemd-analyze security --offline=true --threshold=20 "$unit" >/dev/null 2>&1 ||
		fail "unit exposure $score is above 2.0"
	ok "systemd-analyze security rates the unit $score (2.0 or better required)"
	# (--threshold counts in tenths.)  verify complains about the binaries not being installed at their
	# final place and about man pages; anything else is an error.
	errs=$(systemd-analyze verify "$unit" 2>&1 | grep -v -e 'is not executable' -e "Command 'man " || true)
	[ -z "$errs" ] || fail "systemd-analyze verify: $errs"
	ok "systemd-analyze verify accepts the unit"
	# The daily list update: root with network access, writing only the
	# list folder (3.0 or better).
	upd="$build/systemd/kvscreend-lists-update.service"
	timer="${KVS_SRCDIR:-.}/systemd/kvscreend-lists-update.timer"
	systemd-analyze security --offline=true --threshold=30 "$upd" >/dev/null 2>&1 ||
		fail "list update unit exposure is above 3.0"
	errs=$(systemd-analyze verify "$upd" "$timer" 2>&1 | grep -v -e 'is not executable' -e "Command 'man " || true)
	[ -z "$errs" ] || fail "systemd-analyze verify (list update): $errs"
	ok "systemd-analyze verifies the list update service and timer and rates the service 3.0 or better"
else
	echo "skip - systemd-analyze not installed"
fi
echo "$n passed, 0 failed"
