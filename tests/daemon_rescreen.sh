#!/bin/bash
# daemon_rescreen.sh - continuous screening end to end: the built kvscreend
# delivers verdicts to a webhook receiver; `kvscreen lists update --reload`
# fetches a new list from a local HTTP server in which a stored
# partnership's partner is now listed, and the superseding verdict (version
# 2, supersedes = sha256 of version 1, reason naming the list and its
# versions) reaches the receiver.  Also: a re-screen with nothing changed
# (on demand, and after a reload that changes the policy digest but no
# finding) posts nothing; a closed case is not screened again, nor one
# older than case_retention_days (expired); GET returns
# the latest version and ?history=1 all; /metrics shows the backlog;
# `kvscreen rescreen --dry-run` counts without posting.
set -u

: "${KVS_BUILDDIR:=$(cd "$(dirname "$0")/.." && pwd)}"
command -v curl >/dev/null || { echo "curl not installed"; exit 77; }
command -v python3 >/dev/null || { echo "python3 not installed"; exit 77; }
DAEMON="$KVS_BUILDDIR/kvscreend"
KVSCREEN="$KVS_BUILDDIR/kvscreen"
DP="$KVS_BUILDDIR/plugins/denied_party/.libs/denied_party.so"
[ -f "$DP" ] || { echo "denied_party not built"; exit 77; }

. "$(dirname "$0")/daemon_lib.sh"
test_begin rescreen
RX=
SRV=
on_cleanup() {
	[ -n "$RX" ] && kill "$RX" 2>/dev/null
	[ -n "$SRV" ] && kill "$SRV" 2>/dev/null
}

# The receiver: one line "IDEMPOTENCY-KEY<TAB>BODY" per delivery.
cat > "$D/rx.py" <<'EOF'
import http.server, sys

out, portfile = sys.argv[1], sys.argv[2]

class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n).decode()
        with open(out, "a") as f:
            f.write("%s\t%s\n" % (self.headers.get("Idempotency-Key", "-"), body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass

srv = http.server.HTTPServer(("127.0.0.1", 0), H)
with open(portfile + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
import os
os.rename(portfile + ".tmp", portfile)
srv.serve_forever()
EOF
# The list server: the files of $D/srv (as tests/lists_update.sh serves them).
cat > "$D/httpd.py" <<'EOF'
import http.server, os, sys

root, portfile = sys.argv[1], sys.argv[2]

class H(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *a, **kw):
        super().__init__(*a, directory=root, **kw)

    def log_message(self, *args):
        pass

srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
with open(portfile + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(portfile + ".tmp", portfile)
srv.serve_forever()
EOF
mkdir -p "$D/srv" "$D/lists"
python3 "$D/rx.py" "$D/received" "$D/rxport" &
RX=$!
python3 "$D/httpd.py" "$D/srv" "$D/srvport" &
SRV=$!
up() { [ -s "$D/rxport" ] && [ -s "$D/srvport" ]; }
wait_for 30 up || fail "receiver or list server did not start"
touch "$D/received"

HEAD='id,name,aliases,country,list,severity,reason'
printf '%s\n%s\n' "$HEAD" 'OWN-1,Example Photonics Trading Ltd.,,HK,own,high,fictitious' > "$D/lists/own.csv"
cat > "$D/kvscreend.conf" <<EOF
daemon: {
  listen = "127.0.0.1:0";
  socket = "$D/sock";
  state_dir = "state";
  log_level = "info";
};
lists: { sources = [ "own = http://127.0.0.1:$(cat "$D/srvport")/own.csv" ]; allow_http = true; };
sink: {
  kind = "webhook";
  url = "http://127.0.0.1:$(cat "$D/rxport")/verdicts";
  backoff_min_ms = 50;
  backoff_max_ms = 300;
  rescan_ms = 200;
};
plugins: { denied_party: { path = "$DP"; lists = [ "kvs:own:high:lists/own.csv" ]; }; };
EOF
start_daemon

post() { # ID PARTNER
	curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
		-H "Authorization: Bearer $TOKEN" \
		--data "{\"id\":\"$1\",\"type\":\"partnership\",\"title\":\"Joint optics research\",\"parties\":[{\"role\":\"partner\",\"name\":\"$2\",\"country\":\"CN\",\"kind\":\"university\"}]}" \
		"http://127.0.0.1:$PORT/v1/screenings"
}
api() { # PATH [curl args]
	local p=$1
	shift
	curl -s -H "Authorization: Bearer $TOKEN" "$@" "http://127.0.0.1:$PORT$p"
}
received() { # COUNT: at least COUNT deliveries
	[ "$(wc -l < "$D/received")" -ge "$1" ]
}
metric() { # NAME: its value
	api /metrics | sed -n "s/^$1 //p"
}

[ "$(post p-listed 'Zeta Optics Institute')" = 200 ] || fail "POST p-listed"
[ "$(post p-other 'Utrecht Harmless University')" = 200 ] || fail "POST p-other"
[ "$(post p-closed 'Zeta Optics Institute')" = 200 ] || fail "POST p-closed"
wait_for 60 received 3 || fail "verdict 1 not delivered: $(cat "$D/received")"
ok "three verdicts delivered"

code=$(api /v1/screenings/p-closed/close -X POST -o "$D/close" -w '%{http_code}')
[ "$code" = 200 ] && grep -q '"state":"closed"' "$D/close" || fail "close: $code $(cat "$D/close")"
code=$(api /v1/screenings/nope/close -X POST -o /dev/null -w '%{http_code}')
[ "$code" = 404 ] || fail "close of an unknown id answered $code"
ok "POST /v1/screenings/{id}/close closes a case (404 for an unknown id)"

# On demand, nothing changed: nothing posted.
"$KVSCREEN" rescreen --socket "$D/sock" > "$D/rs1" 2>&1 || fail "kvscreen rescreen: $(cat "$D/rs1")"
grep -q '^rescreen: 2 screened, 0 changed up, 0 changed down, 0 changed findings, 2 unchanged, 0 errors$' "$D/rs1" ||
	fail "rescreen summary: $(cat "$D/rs1")"
grep -q '\[' "$D/rs1" && fail "a progress bar although stdout is not a terminal"
ok "kvscreen rescreen: 2 open cases screened again, unchanged (the closed one skipped)"

# A reload that changes the policy digest but no finding: a background run, nothing posted.
sed -i 's/log_level = "info";/log_level = "info"; rescreen_rate = 500;/' "$D/kvscreend.conf"
"$KVSCREEN" reload --socket "$D/sock" > /dev/null 2>&1 || fail "reload"
rescreened() { [ "$(metric kvscreend_rescreen_total)" -ge "$1" ] && [ "$(metric kvscreend_rescreen_running)" = 0 ]; }
wait_for 60 rescreened 4 || fail "no background re-screen after a new policy digest: $(api /metrics | grep rescreen)"
[ "$(metric kvscreend_rescreen_versions_posted_total)" = 0 ] || fail "versions posted without a change"
[ "$(metric kvscreend_rescreen_backlog)" = 0 ] || fail "backlog $(metric kvscreend_rescreen_backlog)"
ok "a new policy digest re-screens the open cases in the background; unchanged: nothing posted"

# The list update: the partner of p-listed (and of the closed p-closed) is now listed.
{ cat "$D/lists/own.csv"; echo 'OWN-2,Zeta Optics Institute,,CN,own,high,test listing'; } > "$D/srv/own.csv"
"$KVSCREEN" rescreen --socket "$D/sock" --dry-run > "$D/dry" 2>&1
grep -q '0 changed up' "$D/dry" || fail "dry run before the update: $(cat "$D/dry")"
"$KVSCREEN" lists update -c "$D/kvscreend.conf" --reload --socket "$D/sock" > "$D/upd" 2>&1 ||
	fail "lists update --reload: $(cat "$D/upd")"
has_v2() { grep -q '"request_id":"p-listed".*"version":2\|"version":2.*"request_id":"p-listed"' "$D/received"; }
wait_for 60 has_v2 || fail "no version 2 of p-listed delivered: $(cat "$D/received")"
wait_for 60 rescreened 6 || fail "the run did not end"
python3 - "$D/received" <<'EOF' || fail "the superseding verdict is wrong"
import hashlib, json, sys
v1 = v2 = None
others = []
for line in open(sys.argv[1]):
    key, body = line.rstrip("\n").split("\t", 1)
    m = json.loads(body)
    if m["request_id"] == "p-listed":
        if "version" in m:
            assert v2 is None, "version 2 delivered twice"
            v2 = m
        else:
            v1 = body
    elif "version" in m:
        others.append(m["request_id"])
assert not others, "versions posted for %s" % others
assert v1 and v2, "missing versions"
assert v2["version"] == 2, v2["version"]
assert v2["supersedes"] == hashlib.sha256(v1.encode()).hexdigest(), "supersedes"
assert json.loads(v1)["decision"] == "clear" and v2["decision"] == "escalate", v2["decision"]
r = v2["reason"]
assert r["decision"] == ["clear", "escalate"], r
assert [f["rule"] for f in r["findings_added"]] == ["denied_party.match"], r
assert r["findings_added"][0]["references"] == ["own entry OWN-2 (own)"], r
old, new = r["lists"]["own"]
assert old and new and old != new, r["lists"]
assert r["policy"][0] != r["policy"][1]
print("reason:", json.dumps(r["lists"]))
EOF
ok "lists update --reload: p-listed's version 2 reached the receiver (supersedes, reason with list versions)"
ok "nothing posted for the unchanged p-other nor for the closed p-closed"

api /v1/screenings/p-listed > "$D/get"
python3 -c 'import json,sys; v=json.load(open(sys.argv[1])); assert v["version"]==2 and v["decision"]=="escalate"' "$D/get" ||
	fail "GET does not answer the latest version: $(head -c 300 "$D/get")"
api '/v1/screenings/p-listed?history=1' > "$D/hist"
python3 -c 'import json,sys; h=json.load(open(sys.argv[1])); assert [v["version"] for v in h["versions"]]==[1,2] and h["state"]=="open", h' "$D/hist" ||
	fail "history: $(head -c 300 "$D/hist")"
api '/v1/screenings/p-closed?history=1' | grep -q '"state":"closed"' || fail "closed state not in the history"
ok "GET answers version 2; ?history=1 both versions and the case state"

# Officer decisions (issue 21) follow the versions: one on the superseded
# version 1 is refused, one naming version 2 is recorded; the case report
# shows the request the case journal keeps and both versions.
dec() { # VERSION -> HTTP status
	api /v1/screenings/p-listed/decisions -o "$D/dec" -w '%{http_code}' -X POST \
		-H 'Content-Type: application/json' \
		-d "{\"decision\":\"reject\",\"reason\":\"partner listed\",\"officer\":\"A. Officer\",\"verdict_version\":$1}"
}
[ "$(dec 1)" = 409 ] || fail "a decision on superseded version 1 was not refused: $(cat "$D/dec")"
[ "$(dec 2)" = 201 ] || fail "a decision on the current version 2 was refused: $(cat "$D/dec")"
api /v1/screenings/p-listed | grep -q '"decisions"' || fail "GET does not show the decision"
api /v1/screenings/p-listed/report > "$D/report.html"
grep -q 'the request itself is' "$D/report.html" && fail "the report lacks the request the case journal keeps"
grep -q 'Zeta Optics Institute' "$D/report.html" || fail "the report does not show the partner"
python3 - "$D/report.html" <<'PY' || fail "the report's history does not list versions 1 and 2"
import re, sys
page = open(sys.argv[1], encoding="utf-8").read()
table = page[page.index("Verdict versions"):page.index("Officer decisions")]
assert re.findall(r"<tr><td>(\d+)</td>", table) == ["1", "2"], table[:400]
PY
ok "decisions: 409 on the superseded version, 201 on version 2; the report shows the request and both versions"

api /metrics > "$D/metrics"
grep -q '^kvscreend_rescreen_backlog 0$' "$D/metrics" && grep -q '^kvscreend_rescreen_rate ' "$D/metrics" &&
	grep -q '^kvscreend_rescreen_versions_posted_total 1$' "$D/metrics" &&
	grep -q '^kvscreend_cases{state="closed"} 1$' "$D/metrics" || fail "metrics: $(grep -E 'rescreen|cases' "$D/metrics")"
ok "/metrics: backlog 0, rate, 1 version posted, 1 closed case"

# A restart changes nothing: no run, nothing posted again.  Retention: the
# case of p-other is made 2 days old (its open record appended again with
# an older "at", framed as the journal frames it) and case_retention_days
# set to 1, so the restart's first run expires it.
n=$(wc -l < "$D/received")
kill -TERM "$PID"
wait "$PID" || fail "exit status $? after SIGTERM"
python3 - "$D/state/cases/journal" <<'EOF2' || fail "cannot age p-other"
import json, struct, sys, time, zlib
data = open(sys.argv[1], "rb").read()
off, rec = 0, None
while off + 8 <= len(data):
    n, crc = struct.unpack("<II", data[off:off + 8])
    r = json.loads(data[off + 8:off + 8 + n])
    if r.get("t") == "o" and r.get("id") == "p-other":
        rec = r
    off += 8 + n
rec["at"] = int(time.time()) - 2 * 86400
p = json.dumps(rec, separators=(",", ":")).encode()
with open(sys.argv[1], "ab") as f:
    f.write(struct.pack("<II", len(p), zlib.crc32(p)) + p)
EOF2
sed -i 's/rescreen_rate = 500;/rescreen_rate = 500; case_retention_days = 1;/' "$D/kvscreend.conf"
start_daemon
"$KVSCREEN" rescreen --socket "$D/sock" > "$D/rs2" 2>&1 || fail "rescreen after restart: $(cat "$D/rs2")"
grep -q '^rescreen: 1 screened, .* 1 unchanged, 0 errors' "$D/rs2" || fail "after restart: $(cat "$D/rs2")"
[ "$(wc -l < "$D/received")" = "$n" ] || fail "deliveries after the restart: $(tail -2 "$D/received")"
api '/v1/screenings/p-other?history=1' | grep -q '"state":"expired"' ||
	fail "p-other not expired: $(api '/v1/screenings/p-other?history=1' | head -c 200)"
ok "after a restart the cases are still there, unchanged, nothing posted again"
ok "case_retention_days: a case older than the retention period is expired, not screened again"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/v1/admin/rescreen")
[ "$code" = 403 ] || fail "admin rescreen over TCP answered $code"
ok "POST /v1/admin/rescreen is refused over TCP (403)"

kill -TERM "$PID"
wait "$PID" || fail "exit status $? after SIGTERM"
PID=
echo "all daemon re-screen tests passed"
