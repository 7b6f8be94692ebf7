#!/bin/sh
# lists_update.sh - `kvscreen lists update` end to end against a local HTTP server.
#
# A small HTTP server on an ephemeral 127.0.0.1 port serves the real list
# files of ../shared/data (and broken variants of them); a copy of the
# shipped configuration, whose lists.sources point at that server, is
# updated.  Checks: a good update swaps the files in (byte-identical to the
# download, mode kept, digest and entry counts reported, no staging folder
# left) and a second run finds them unchanged; a truncated file, a corrupt
# one, a 404, an oversize file (with and without Content-Length), a timeout,
# too many redirects, a redirect to file:// and a shrinking list each exit 4
# with one line naming the list, the URL and the reason, and leave every
# list file byte-identical; OFAC's three files are replaced all or none;
# --dry-run swaps nothing; a name filter updates only that list; a locked
# folder is refused; http:// needs lists.allow_http; after --reload the
# running daemon screens against the new list.  Also: the shipped
# configuration screens against its UN and BIS DPL snapshots and grades the
# ASPI tracker by category; on a fresh install the EU FSF list is missing
# (check-config warns, every verdict says so) until the update fetches it;
# an OpenSanctions export (uk_sanctions) is fetched into a new folder.  Exit 77
# without ../shared/data (or python3).
set -u
src=${KVS_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
build=${KVS_BUILDDIR:-$src}
KVSCREEN=$build/kvscreen
DATA=${KVS_SHARED_DATA:-}
if [ -z "$DATA" ]; then
	for up in .. ../.. ../../.. ../../../..; do
		if [ -f "$src/$up/shared/data/INDEX.txt" ]; then
			DATA=$src/$up/shared/data
			break
		fi
	done
fi
[ -n "$DATA" ] && [ -f "$DATA/INDEX.txt" ] || { echo "SKIP: no shared/data found"; exit 77; }
command -v python3 >/dev/null || { echo "SKIP: python3 is not installed"; exit 77; }

T=$(mktemp -d /tmp/kvs-lists-update.XXXXXX)
SRV=
DPID=
cleanup() {
	[ -n "$SRV" ] && kill "$SRV" 2>/dev/null
	[ -n "$DPID" ] && kill -9 "$DPID" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
fails=0
passes=0
fail() {
	echo "FAIL: $*"
	fails=$((fails + 1))
}
ok() {
	echo "ok - $*"
	passes=$((passes + 1))
}

# ---- the server: files of $T/srv, and /slow/, /stream/N, /redirect/N, /to-file ----
mkdir "$T/srv"
cat > "$T/httpd.py" <<'EOF'
import http.server, os, sys, time

root, portfile = sys.argv[1], sys.argv[2]

class H(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *a, **kw):
        super().__init__(*a, directory=root, **kw)

    def do_GET(self):
        p = self.path
        if p.startswith("/slow/"):
            self.send_response(200)
            self.send_header("Content-Length", "1000000")
            self.end_headers()
            self.wfile.write(b"x" * 1000)
            self.wfile.flush()
            time.sleep(30)
            return
        if p.startswith("/stream/"):
            # No Content-Length: the body ends when the connection closes.
            n = int(p.split("/")[2])
            self.protocol_version = "HTTP/1.0"
            self.send_response(200)
            self.end_headers()
            chunk = b"1,\"X\",-0-,SDGT\r\n" * 4096
            while n > 0:
                try:
                    self.wfile.write(chunk[:n])
                except OSError:
                    return
                n -= len(chunk)
            return
        if p.startswith("/redirect/"):
            n = int(p.split("/")[2])
            self.send_response(302)
            self.send_header("Location", "/redirect/%d" % (n + 1))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if p == "/to-file":
            self.send_response(302)
            self.send_header("Location", "file:///etc/passwd")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        return super().do_GET()

    def log_message(self, *args):
        pass

class S(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # clients hanging up on purpose (size limits, timeouts)

srv = S(("127.0.0.1", 0), H)
with open(portfile + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(portfile + ".tmp", portfile)
srv.serve_forever()
EOF
python3 "$T/httpd.py" "$T/srv" "$T/port" &
SRV=$!
for _ in $(seq 600); do [ -s "$T/port" ] && break; sleep 0.1; done
[ -s "$T/port" ] || { echo "FAIL: the test HTTP server did not start"; exit 1; }
PORT=$(cat "$T/port")
U="http://127.0.0.1:$PORT"

# ---- the files: "new" ones served, "current" (older) ones installed ----
S=$T/srv
cp "$DATA/ofac-sdn-2021/sdn.csv" "$DATA/ofac-sdn-2021/alt.csv" "$DATA/ofac-sdn-2021/add.csv" "$S/"
for f in cons_prim cons_alt cons_add; do cp "$DATA/ofac-consolidated-nonsdn-2025/$f.csv" "$S/"; done
cp "$DATA/un-sc-consolidated-2026/UN_consolidated.xml" "$S/consolidated.xml"
cp "$DATA/bis-denied-persons-2023/dpl.txt" "$S/dpl.txt"
cp "$src/conf/lists/us-csl/csl.csv" "$S/consolidated.csv"
# Broken variants.
head -c 1900000 "$S/sdn.csv" > "$S/sdn-cut.csv"                  # cut, still loads
head -c 1000000 "$S/consolidated.xml" > "$S/consolidated-cut.xml" # cut XML
cp "$DATA/us-csl-2023-subset/csl.csv" "$S/csl-cut-row.csv"        # last row cut mid-field
head -n 1000 "$S/consolidated.csv" > "$S/csl-short.csv"           # far fewer rows
printf '<html><body>Service Unavailable</body></html>\n' > "$S/error.html"
head -c 5000000 /dev/zero | tr '\0' 'x' > "$S/big.csv"
{ head -n 8900 "$S/sdn.csv"; printf '\032'; } > "$S/sdn-older.csv"

# A copy of the shipped configuration and its files, its lists group
# replaced by one that fetches from the test server.
C=$T/conf
mkdir "$C"
cp -R "$src/conf/lists" "$C/lists"
for d in rules kennisveiligheid; do ln -s "$src/conf/$d" "$C/$d"; done
chmod -R u+w "$C/lists"
L=$C/lists
# The EU FSF list is not shipped: these runs use the fixture, never updated
# ("eu_fsf =" below); the fresh-install case at the end starts without it.
cp "$src/tests/data/lists/eu_fsf.xml" "$L/eu-fsf/xmlFullSanctionsList_1_1.xml"
cp "$S/sdn-older.csv" "$L/ofac-sdn/sdn.csv"
head -n 651 "$S/dpl.txt" > "$L/bis-dpl/dpl.txt"
python3 - "$S/consolidated.csv" "$L/us-csl/csl.csv" <<'EOF'
import csv, sys
rows = list(csv.reader(open(sys.argv[1], newline="", encoding="utf-8")))
with open(sys.argv[2], "w", newline="", encoding="utf-8") as f:
    csv.writer(f, lineterminator="\n").writerows(rows[:4001])
EOF
chmod 0640 "$L/ofac-sdn/sdn.csv" "$L/bis-dpl/dpl.txt"

sources() { # ofac_sdn-primary ofac_sdn-alt ofac_sdn-add un csl dpl [extra]
	cat <<EOF
lists: {
  allow_http = true;
  max_download_bytes = 4194304;
  connect_timeout_ms = 2000;
  timeout_ms = 2000;
  max_redirects = 3;
  sources = [
    "ofac_sdn = $U/$1 $U/$2 $U/$3",
    "ofac_nonsdn = $U/cons_prim.csv $U/cons_alt.csv $U/cons_add.csv",
    "un_sc = $U/$4",
    "us_csl = $U/$5",
    "bis_dpl = $U/$6",
    "eu_fsf = ${7:-}"${8:+,
    \"uk_sanctions = $8\"}
  ];
};
EOF
}
conf() { # like sources(); writes $C/kvscreend.conf (no TCP listener)
	{
		sed -e '/^lists: {/,/^};/d' -e 's|^\(  listen = \)"[^"]*";|\1"";|' "$src/conf/kvscreend.conf"
		sources "$@"
	} > "$C/kvscreend.conf"
}
GOOD="sdn.csv alt.csv add.csv consolidated.xml consolidated.csv dpl.txt"
# shellcheck disable=SC2086
conf $GOOD
export KVSCREEND_PLUGIN_DIR="$build/plugins"

snapshot() { (cd "$L" && find . -type f | LC_ALL=C sort | xargs md5sum) > "$T/$1.md5"; }
unchanged() { # what
	if (cd "$L" && md5sum -c --quiet "$T/before.md5" > /dev/null 2>&1) &&
	   [ "$(cd "$L" && find . -type f | wc -l)" -eq "$(wc -l < "$T/before.md5")" ]; then
		:
	else
		fail "$1: list files changed"
		return 1
	fi
	if [ -n "$(find "$L" -name '.kvscreen-update.*')" ]; then
		fail "$1: a staging folder was left behind"
		return 1
	fi
}
update() { # args...: runs kvscreen lists update, sets rc, out, err
	"$KVSCREEN" lists update -c "$C/kvscreend.conf" "$@" > "$T/out" 2> "$T/err"
	rc=$?
}
# expect_fail WHAT NAME URL-PART REASON-PART [update args]
expect_fail() {
	what=$1 name=$2 url=$3 reason=$4
	shift 4
	snapshot before
	update "$@"
	[ "$rc" -eq 4 ] || { fail "$what: exit $rc, not 4"; cat "$T/out" "$T/err"; return; }
	line=$(grep "^kvscreen lists update: $name: " "$T/err")
	if [ "$(printf '%s\n' "$line" | grep -c .)" -ne 1 ]; then
		fail "$what: expected one error line for $name:"; cat "$T/err"; return
	fi
	case "$line" in
	*"$url"*"$reason"*"the current files are unchanged") ;;
	*) fail "$what: unclear message: $line"; return ;;
	esac
	unchanged "$what" && ok "$what: exit 4, files unchanged: ${line#kvscreen lists update: }"
}

# ---- show ----
"$KVSCREEN" lists show -c "$C/kvscreend.conf" > "$T/show" 2>&1 || fail "lists show failed: $(cat "$T/show")"
[ "$(wc -l < "$T/show")" -eq 8 ] || fail "lists show: expected 8 lists: $(cat "$T/show")"
grep -q "^institute_own	kvs	high	.*(no source: not updated)$" "$T/show" || fail "lists show: institute_own"
grep -q "^un_sc	un	critical	.*lists/un-sc/consolidated.xml	$U/consolidated.xml$" "$T/show" ||
	fail "lists show: un_sc: $(grep un_sc "$T/show")"
# The shipped configuration's built-in addresses are documented.
"$KVSCREEN" lists show -c "$src/conf/kvscreend.conf" > "$T/show-shipped" 2>&1 ||
	fail "lists show on the shipped configuration: $(cat "$T/show-shipped")"
for name in ofac_sdn ofac_nonsdn un_sc us_csl bis_dpl eu_fsf; do
	urls=$(awk -F '\t' -v n="$name" '$1 == n { print $5 }' "$T/show-shipped")
	case "$urls" in *" (default)") ;; *) fail "shipped $name has no default source: $urls" ;; esac
	for u in ${urls% (default)}; do
		groff -man -Tascii -P-cbou -rLL=1000n "$src/docs/kvscreend.conf.5" 2>/dev/null |
			grep -qF "$u" || fail "default source $u of $name is not in kvscreend.conf.5"
	done
done
[ "$fails" -eq 0 ] && ok "lists show: 8 lists, 5 with sources here; the defaults (6) are documented"

# ---- the shipped configuration screens against the shipped UN and DPL snapshots ----
cat > "$T/shipped-req.json" <<'EOF2'
{ "schema": "kvscreen.request/v1", "id": "lists-shipped-1", "type": "export",
  "title": "Spare parts", "description": "Spare parts for a pump.",
  "parties": [ { "role": "consignee", "name": "Frank Kakolele Bwambale", "kind": "individual" },
               { "role": "end_user", "name": "Aaron Abraham Villa", "country": "US", "kind": "individual" } ],
  "items": [ { "description": "Pump spare parts", "quantity": 2, "value_eur": 300, "kind": "goods" } ],
  "destination": { "country": "US" }, "end_use": "Maintenance", "transfer": "physical" }
EOF2
"$KVSCREEN" screen -c "$src/conf/kvscreend.conf" --format text "$T/shipped-req.json" > "$T/shipped" 2>&1
# Individuals named without a date of birth: the UN hit (critical) is
# capped at high until the identity is verified (docs/name-matching.md).
if grep -q "^lists-shipped-1: escalate" "$T/shipped" &&
   grep -q '\[high\] denied_party/denied_party.match: .* matches un_sc entry CDi.002 "FRANK KAKOLELE BWAMBALE" (name only' "$T/shipped" &&
   grep -q '\[high\] denied_party/denied_party.match: .* matches bis_dpl entry .*"AARON ABRAHAM VILLA"' "$T/shipped"; then
	ok "the shipped configuration screens against the UN and BIS DPL snapshots (persons by name only: escalate)"
else
	fail "shipped UN/DPL lists: $(grep -v '^      ' "$T/shipped")"
fi

# ---- http:// needs allow_http ----
sed 's/allow_http = true;/allow_http = false;/' "$C/kvscreend.conf" > "$T/https.conf"
"$KVSCREEN" lists update -c "$T/https.conf" > "$T/out" 2> "$T/err"
rc=$?
if [ "$rc" -eq 2 ] && grep -q "https.conf:[0-9]*: lists.sources\[0\]: ofac_sdn: \"http://.*only https://" "$T/err"; then
	ok "http:// sources without allow_http are a configuration error with file:line"
else
	fail "allow_http = false: exit $rc: $(cat "$T/err")"
fi

# ---- dry run ----
snapshot before
update --dry-run
if [ "$rc" -eq 0 ] && grep -q "^ofac_sdn: would update (dry run): 8900 -> 8976 entries" "$T/out" &&
   unchanged "dry run"; then
	ok "--dry-run downloads and validates, swaps nothing"
else
	fail "--dry-run: exit $rc"; cat "$T/out" "$T/err"
fi

# ---- a name filter ----
snapshot before
update bis_dpl
if [ "$rc" -eq 0 ] && grep -q "^bis_dpl: updated: 650 -> 665 entries" "$T/out" &&
   [ "$(grep -c ': updated: \|: unchanged: ' "$T/out")" -eq 1 ] && cmp -s "$S/dpl.txt" "$L/bis-dpl/dpl.txt" &&
   (cd "$L" && grep -v bis-dpl "$T/before.md5" | md5sum -c --quiet > /dev/null); then
	ok "lists update bis_dpl updates only that list"
else
	fail "name filter: exit $rc"; cat "$T/out" "$T/err"
fi
[ "$(stat -c %a "$L/bis-dpl/dpl.txt")" = 640 ] && ok "the file's mode is kept (0640)" ||
	fail "mode of dpl.txt is $(stat -c %a "$L/bis-dpl/dpl.txt"), not 640"
update no_such_list
[ "$rc" -eq 1 ] && grep -q "no enabled plugin uses a list named no_such_list" "$T/err" &&
	ok "an unknown list name is refused (exit 1)" || fail "unknown list name: exit $rc: $(cat "$T/err")"

# ---- failures: each leaves every file byte-identical ----
conf sdn-cut.csv alt.csv add.csv consolidated.xml consolidated.csv dpl.txt
expect_fail "truncated OFAC file" ofac_sdn "$U/sdn-cut.csv" "0x1A" ofac_sdn
conf sdn.csv alt.csv add.csv consolidated-cut.xml consolidated.csv dpl.txt
expect_fail "truncated UN XML" un_sc "$U/consolidated-cut.xml" "does not load as format un: XML error" un_sc
conf sdn.csv alt.csv add.csv consolidated.xml csl-cut-row.csv dpl.txt
expect_fail "CSL with its last row cut off" us_csl "$U/csl-cut-row.csv" "1 malformed rows" us_csl
conf sdn.csv alt.csv add.csv consolidated.xml csl-short.csv dpl.txt
expect_fail "a list shrinking by three quarters" us_csl "$U/csl-short.csv" "max_shrink_percent" us_csl
conf sdn.csv alt.csv add.csv consolidated.xml consolidated.csv error.html
expect_fail "an HTML error page instead of the DPL" bis_dpl "$U/error.html" "does not load as format table" bis_dpl
conf sdn.csv alt.csv add.csv consolidated.xml consolidated.csv missing.txt
expect_fail "a 404" bis_dpl "$U/missing.txt" "HTTP status 404" bis_dpl
conf sdn.csv alt.csv add.csv consolidated.xml big.csv dpl.txt
expect_fail "an oversize file (Content-Length)" us_csl "$U/big.csv" "larger than lists.max_download_bytes" us_csl
conf sdn.csv alt.csv add.csv consolidated.xml stream/5000000 dpl.txt
expect_fail "an oversize file (no Content-Length)" us_csl "$U/stream/5000000" "larger than lists.max_download_bytes" us_csl
conf sdn.csv alt.csv add.csv consolidated.xml slow/csl.csv dpl.txt
t0=$(date +%s)
expect_fail "a server that stalls" us_csl "$U/slow/csl.csv" "timed out" us_csl
# The server stalls for 30 s: ending well before that shows timeout_ms
# (2 s) ended it, with room for a busy machine.
[ $(($(date +%s) - t0)) -le 25 ] || fail "the stalled download took $(($(date +%s) - t0)) s with timeout_ms 2000"
conf sdn.csv alt.csv add.csv consolidated.xml redirect/0 dpl.txt
expect_fail "a redirect loop" us_csl "$U/redirect/0" "max_redirects" us_csl
conf sdn.csv alt.csv add.csv consolidated.xml to-file dpl.txt
expect_fail "a redirect to file://" us_csl "$U/to-file" "" us_csl
grep -q "passwd" "$L/us-csl/csl.csv" && fail "file:// was followed"

# OFAC all or nothing: a new sdn.csv with a missing add.csv, or with a
# corrupt alt.csv, replaces none of the three.
cp "$S/sdn.csv" "$S/sdn-new.csv"
conf sdn-new.csv alt.csv no-add.csv consolidated.xml consolidated.csv dpl.txt
expect_fail "OFAC: sdn.csv and alt.csv good, add.csv 404" ofac_sdn "$U/no-add.csv" "HTTP status 404" ofac_sdn
conf sdn-new.csv error.html add.csv consolidated.xml consolidated.csv dpl.txt
expect_fail "OFAC: alt.csv corrupt" ofac_sdn "$U/error.html" "" ofac_sdn
cmp -s "$S/sdn-older.csv" "$L/ofac-sdn/sdn.csv" && ok "OFAC: the old sdn.csv is still in place" ||
	fail "OFAC: sdn.csv was replaced although add.csv/alt.csv failed"

# Failures do not stop the other lists: all run, exit 4.
conf sdn.csv alt.csv add.csv consolidated.xml consolidated.csv missing.txt
snapshot before
update
if [ "$rc" -eq 4 ] && grep -q "^ofac_sdn: updated: 8900 -> 8976 entries" "$T/out" &&
   grep -q "^kvscreen lists update: bis_dpl: $U/missing.txt: HTTP status 404" "$T/err" &&
   grep -q "^lists update: 2 updated, 2 unchanged, 1 failed, 3 without a source" "$T/out"; then
	ok "one failed list does not stop the others (exit 4)"
else
	fail "mixed run: exit $rc"; cat "$T/out" "$T/err"
fi

# ---- a good update of everything ----
# Put older files back for ofac_sdn and us_csl to see them replaced.
cp "$S/sdn-older.csv" "$L/ofac-sdn/sdn.csv"
python3 - "$S/consolidated.csv" "$L/us-csl/csl.csv" <<'EOF'
import csv, sys
rows = list(csv.reader(open(sys.argv[1], newline="", encoding="utf-8")))
with open(sys.argv[2], "w", newline="", encoding="utf-8") as f:
    csv.writer(f, lineterminator="\n").writerows(rows[:4001])
EOF
# Another sdn.csv than the snapshot's: its list_dates entry (bound to the
# snapshot's digest) no longer dates it, the file's modification time does.
"$KVSCREEN" screen -c "$C/kvscreend.conf" "$src/conf/examples/export-harmless.json" > "$T/stale" 2>&1
grep -q 'ofac_nonsdn is [0-9]* days old' "$T/stale" && ! grep -q 'ofac_sdn is [0-9]* days old' "$T/stale" &&
	ok "list_dates binds a date to the snapshot's digest: another sdn.csv counts from its file" ||
	fail "list_dates dates another sdn.csv than the snapshot: $(grep -o 'stale_list[^}]*' "$T/stale")"
old_sdn_ino=$(stat -c %i "$L/ofac-sdn/sdn.csv")
mkdir "$L/ofac-sdn/.kvscreen-update.crash1" && echo x > "$L/ofac-sdn/.kvscreen-update.crash1/sdn.csv"
conf $GOOD
t0=$(date +%s.%N)
update
t1=$(date +%s.%N)
if [ "$rc" -eq 0 ] &&
   grep -q "^ofac_sdn: updated: 8900 -> 8976 entries, [0-9]* -> [0-9]* names, sha256 [0-9a-f]\{16\} -> [0-9a-f]\{16\}, " "$T/out" &&
   grep -q "^us_csl: updated: 3999 -> 4226 entries" "$T/out" &&
   grep -q "^ofac_nonsdn: unchanged: 442 entries" "$T/out" &&
   grep -q "^un_sc: unchanged: 1003 entries" "$T/out" &&
   grep -q "^bis_dpl: unchanged: 665 entries" "$T/out" &&
   grep -q "^lists update: 2 updated, 3 unchanged, 0 failed, 3 without a source$" "$T/out" &&
   grep -q 'kvscreen reload' "$T/out"; then
	ok "a good update: ofac_sdn and us_csl replaced, the rest unchanged ($(awk "BEGIN { printf \"%.2f\", $t1 - $t0 }") s for all lists)"
else
	fail "good update: exit $rc"; cat "$T/out" "$T/err"
fi
for f in sdn.csv alt.csv add.csv; do
	cmp -s "$S/$f" "$L/ofac-sdn/$f" || fail "ofac-sdn/$f is not the download"
done
cmp -s "$S/consolidated.csv" "$L/us-csl/csl.csv" || fail "us-csl/csl.csv is not the download"
[ "$(stat -c %i "$L/ofac-sdn/sdn.csv")" != "$old_sdn_ino" ] || fail "sdn.csv was rewritten in place, not renamed"
[ "$(stat -c %a "$L/ofac-sdn/sdn.csv")" = 640 ] || fail "sdn.csv lost its mode 0640"
[ -e "$L/ofac-sdn/.kvscreen-update.crash1" ] && fail "the stale staging folder was not removed"
grep -q "removing .*\.kvscreen-update\.crash1, left by an interrupted update" "$T/err" || fail "no note on the stale staging folder"
# The shipped list_dates entries are bound to the snapshots' digests, so
# the update has nothing to say about them; the download is the 2021 data
# of the shipped snapshot again, which its entry dates again.
grep -q "note: plugins.denied_party.list_dates still dates" "$T/err" &&
	fail "a note on a digest-bound list_dates entry"
"$KVSCREEN" screen -c "$C/kvscreend.conf" "$src/conf/examples/export-harmless.json" > "$T/stale" 2>&1
grep -q 'ofac_sdn is [0-9]* days old' "$T/stale" ||
	fail "the 2021 snapshot, downloaded again, is not dated by its list_dates entry"
[ -z "$(find "$L" -name '.kvscreen-update.*')" ] || fail "staging folders left behind"
sha_new=$(grep '^ofac_sdn: updated' "$T/out" | sed 's/.*sha256 [0-9a-f]* -> \([0-9a-f]*\),.*/\1/')
[ "$fails" -eq 0 ] && ok "the new files are the downloads, renamed into place with their mode; stale staging removed"
# The daemon's loader sees the new list: check-config loads every list.
"$KVSCREEN" check-config -c "$C/kvscreend.conf" > "$T/cc" 2>&1 && ok "the updated configuration passes check-config" ||
	fail "check-config after the update: $(cat "$T/cc")"

snapshot before
update
if [ "$rc" -eq 0 ] && grep -q "^ofac_sdn: unchanged: 8976 entries, sha256 $sha_new" "$T/out" &&
   grep -q "^lists update: 0 updated, 5 unchanged" "$T/out" && unchanged "second run"; then
	ok "a second run finds every list unchanged and touches nothing"
else
	fail "second run: exit $rc"; cat "$T/out" "$T/err"
fi

# ---- one updater per folder ----
if command -v flock >/dev/null; then
	cp "$S/sdn-older.csv" "$L/ofac-sdn/sdn.csv"
	snapshot before
	flock "$L/ofac-sdn" sh -c '"$0" lists update -c "$1" ofac_sdn > "$2/out" 2> "$2/err"; echo $? > "$2/rc"' \
		"$KVSCREEN" "$C/kvscreend.conf" "$T"
	if [ "$(cat "$T/rc")" -eq 4 ] && grep -q "another kvscreen lists update is working in" "$T/err" &&
	   unchanged "locked folder"; then
		ok "a folder another update has locked is left alone"
	else
		fail "locked folder: exit $(cat "$T/rc"): $(cat "$T/err")"
	fi
fi

# ---- the running daemon picks the new list up on reload (--reload) ----
cp "$S/sdn-older.csv" "$L/ofac-sdn/sdn.csv"
(cd "$C" && exec "$build/kvscreend" -c "$C/kvscreend.conf" > "$T/daemon.log" 2>&1) &
DPID=$!
SOCK=$T/var/run/kvscreend.sock
for _ in $(seq 600); do
	curl -fsS --unix-socket "$SOCK" http://localhost/readyz > /dev/null 2>&1 && break
	sleep 0.1
done
# The versions of the lists a verdict was screened against (a new request
# id each time: the API answers a request it has seen with its verdict).
versions() { # ID
	python3 -c 'import json, sys
r = json.load(open(sys.argv[1]))
r["id"] = sys.argv[2]
print(json.dumps(r))' "$src/conf/examples/export-harmless.json" "$1" > "$T/req.json"
	curl -sS --unix-socket "$SOCK" -H 'Content-Type: application/json' \
		--data-binary @"$T/req.json" http://localhost/v1/screenings |
		python3 -c 'import json, sys
v = json.load(sys.stdin)
print([f["rationale"] for f in v["findings"] if f["rule"] == "denied_party.lists"][0])'
}
if ! curl -fsS --unix-socket "$SOCK" http://localhost/readyz > /dev/null 2>&1; then
	fail "kvscreend did not start: $(tail -5 "$T/daemon.log")"
else
	versions lists-update-1 > "$T/v1"
	"$KVSCREEN" lists update -c "$C/kvscreend.conf" --reload ofac_sdn > "$T/out" 2> "$T/err"
	rc=$?
	versions lists-update-2 > "$T/v2"
	if [ "$rc" -eq 0 ] && grep -q "^ofac_sdn: updated: 8900 -> 8976 entries" "$T/out" &&
	   grep -q "^reloaded: policy [0-9a-f]*" "$T/out" &&
	   grep -q "ofac_sdn (ofac, 8900 entries,.*sha256 5a79e5237f031808" "$T/v1" &&
	   grep -q "ofac_sdn (ofac, 8976 entries,.*sha256 ${sha_new:-x}" "$T/v2"; then
		ok "lists update --reload: the running daemon screens against the new ofac_sdn (8900 -> 8976 entries)"
	else
		fail "--reload: exit $rc"; cat "$T/out" "$T/err" "$T/v1" "$T/v2"
	fi
fi

# ---- the shipped ASPI tracker, by category ----
# A Seven Sons university is high (escalate) in denied_party and "very
# high" in kennisveiligheid; a civilian one medium.
cat > "$T/aspi-req.json" <<'EOF2'
{ "id": "lists-aspi-1", "type": "partnership", "title": "Joint research on battery materials",
  "description": "Joint research on electrolyte chemistry.",
  "parties": [ { "role": "partner", "name": "Beijing Institute of Technology", "country": "CN", "kind": "university" },
               { "role": "partner", "name": "Anhui University", "country": "CN", "kind": "university" } ],
  "cooperation": { "form": "joint_research", "duration_months": 24 } }
EOF2
"$KVSCREEN" screen -c "$src/conf/kvscreend.conf" --format text "$T/aspi-req.json" > "$T/aspi" 2>&1
if grep -q '^lists-aspi-1: escalate' "$T/aspi" &&
   grep -q '\[high\] denied_party/denied_party.match: Partner "Beijing Institute of Technology" matches aspi_unitracker' "$T/aspi" &&
   grep -q '\[medium\] denied_party/denied_party.match: Partner "Anhui University" matches aspi_unitracker' "$T/aspi" &&
   grep -q 'kennisveiligheid/kv.partner.listed: .*Beijing Institute of Technology' "$T/aspi"; then
	ok "the shipped ASPI tracker: Seven Sons high (escalate), civilian medium, in denied_party and kennisveiligheid"
else
	fail "shipped ASPI tracker: $(grep -v '^      ' "$T/aspi")"
fi

# ---- a fresh install: the EU FSF list is not shipped ----
# Without its file the configuration still loads (check-config warns),
# every verdict says the list is missing and what to run; the update
# fetches it (making its folder) and then it screens: a Reg. 833/2014
# Annex IV enterprise as end user is denied.
cp "$src/tests/data/lists/eu_fsf.xml" "$S/eu_fsf.xml"
rm -rf "$L/eu-fsf"
# shellcheck disable=SC2086
conf $GOOD "$U/eu_fsf.xml"
cat > "$T/fsf-req.json" <<'EOF2'
{ "schema": "kvscreen.request/v1", "id": "lists-fsf-1", "type": "export",
  "title": "Thermal camera", "description": "A thermal imaging camera for ship inspection.",
  "parties": [ { "role": "end_user", "name": "Admiralty Shipyard JSC", "country": "RU", "kind": "company" } ],
  "items": [ { "description": "Thermal imaging camera", "quantity": 1, "kind": "goods" } ],
  "destination": { "country": "RU" }, "transfer": "physical" }
EOF2
"$KVSCREEN" check-config -c "$C/kvscreend.conf" > "$T/cc" 2>&1
if [ $? -eq 0 ] && grep -q 'list "eu_fsf" (.*eu-fsf/xmlFullSanctionsList_1_1.xml) is not downloaded yet' "$T/cc"; then
	ok "fresh install: check-config passes and warns that eu_fsf is not downloaded yet"
else
	fail "fresh install check-config: $(cat "$T/cc")"
fi
"$KVSCREEN" screen -c "$C/kvscreend.conf" "$src/conf/examples/export-harmless.json" > "$T/fsf-v0" 2>/dev/null
if python3 - "$T/fsf-v0" <<'EOF2'
import json, sys
v = json.loads(open(sys.argv[1]).readline())
f = [f for f in v["findings"] if f["rule"] == "denied_party.list_missing"]
assert v["decision"] in ("review", "escalate", "deny"), v["decision"]
assert f and "eu_fsf" in f[0]["rationale"] and "kvscreen lists update" in f[0]["action"], f
p = {x["name"]: x for x in v["plugins"]}
assert p["denied_party"].get("lists_missing") == ["eu_fsf"], v["plugins"]
EOF2
then
	ok "fresh install: a harmless request gets review, with denied_party.list_missing and its action, and lists_missing in its plugin entry"
else
	fail "fresh install verdict: $(cat "$T/fsf-v0")"
fi
update eu_fsf
if [ "$rc" -eq 0 ] && grep -q "^eu_fsf: updated: 0 -> 83 entries" "$T/out" &&
   cmp -s "$S/eu_fsf.xml" "$L/eu-fsf/xmlFullSanctionsList_1_1.xml"; then
	ok "lists update eu_fsf: downloaded from the local server (0 -> 83 entries)"
else
	fail "eu_fsf update: exit $rc"; cat "$T/out" "$T/err"
fi
"$KVSCREEN" screen -c "$C/kvscreend.conf" --format text "$T/fsf-req.json" > "$T/fsf-v1" 2>&1
if grep -q "^lists-fsf-1: deny" "$T/fsf-v1" &&
   grep -q 'denied_party.match: .*matches eu_fsf entry EU.833.[0-9]* "Admiralty Shipyard JSC"' "$T/fsf-v1" &&
   ! grep -q "list_missing" "$T/fsf-v1"; then
	ok "after the update the EU list screens: an Annex IV end user is denied, nothing missing"
	"$KVSCREEN" screen -c "$C/kvscreend.conf" "$T/fsf-req.json" 2>/dev/null |
		python3 -c 'import json, sys; v = json.load(sys.stdin); assert not [p for p in v["plugins"] if "lists_missing" in p], v["plugins"]' ||
		fail "a plugin entry still names a missing list after the update"
else
	fail "eu_fsf after update: $(grep -v '^      ' "$T/fsf-v1")"
fi
# A file that is not FSF XML is refused and the current one kept.
cp "$S/consolidated.xml" "$S/not-fsf.xml"
conf $GOOD "$U/not-fsf.xml"
expect_fail "the UN XML as eu_fsf" eu_fsf "$U/not-fsf.xml" "not <export> in namespace" eu_fsf

# ---- an OpenSanctions export as a list with an update source ----
# The UK sanctions list through OpenSanctions' targets.simple.csv (format
# opensanctions), added by an institute: not there yet, then fetched into
# a folder the update makes.
head -n 5 "$src/tests/data/lists/opensanctions.csv" > "$S/targets.simple.csv"  # its good rows
# shellcheck disable=SC2086
conf $GOOD "$U/eu_fsf.xml" "$U/targets.simple.csv"
sed -i '0,/"kvs:institute_own:high:lists\/institute-own.csv",/s//&\n      "opensanctions:uk_sanctions:high:lists\/uk-sanctions\/targets.simple.csv",/' \
	"$C/kvscreend.conf"
"$KVSCREEN" check-config -c "$C/kvscreend.conf" > "$T/cc" 2>&1 ||
	fail "uk_sanctions not downloaded yet: check-config: $(cat "$T/cc")"
update uk_sanctions
if [ "$rc" -eq 0 ] && grep -q "^uk_sanctions: updated: 0 -> 4 entries" "$T/out" &&
   cmp -s "$S/targets.simple.csv" "$L/uk-sanctions/targets.simple.csv"; then
	ok "lists update uk_sanctions (format opensanctions): fetched into a new folder (0 -> 4 entries)"
else
	fail "uk_sanctions update: exit $rc"; cat "$T/out" "$T/err" "$T/cc"
fi

echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
