#!/bin/bash
# daemon_rescreen_crash.sh - a re-screen interrupted by kill -9 resumes after
# the restart: 300 stored partnerships whose partner a list update lists
# are re-screened at a low rate; the daemon is killed mid-run, restarted,
# and every case ends at version 2, delivered to the receiver with one
# content (a version posted again after the crash is byte-identical), none
# at version 3, and a dry run afterwards finds nothing left to change.
set -u

: "${KVS_BUILDDIR:=$(cd "$(dirname "$0")/.." && pwd)}"
command -v curl >/dev/null || { echo "curl not installed"; exit 77; }
command -v python3 >/dev/null || { echo "python3 not installed"; exit 77; }
DAEMON="$KVS_BUILDDIR/kvscreend"
KVSCREEN="$KVS_BUILDDIR/kvscreen"
DP="$KVS_BUILDDIR/plugins/denied_party/.libs/denied_party.so"
[ -f "$DP" ] || { echo "denied_party not built"; exit 77; }
N=300

. "$(dirname "$0")/daemon_lib.sh"
test_begin rescreen-crash
RX=
on_cleanup() { [ -n "$RX" ] && kill "$RX" 2>/dev/null; }

cat > "$D/rx.py" <<'EOF'
import http.server, os, sys

out, portfile = sys.argv[1], sys.argv[2]

class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n).decode()
        with open(out, "a") as f:
            f.write(body + "\n")
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass

srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
with open(portfile + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(portfile + ".tmp", portfile)
srv.serve_forever()
EOF
python3 "$D/rx.py" "$D/received" "$D/rxport" &
RX=$!
up() { [ -s "$D/rxport" ]; }
wait_for 30 up || fail "receiver did not start"
touch "$D/received"

mkdir -p "$D/lists"
HEAD='id,name,aliases,country,list,severity,reason'
printf '%s\n%s\n' "$HEAD" 'OWN-1,Example Photonics Trading Ltd.,,HK,own,high,fictitious' > "$D/lists/own.csv"
cat > "$D/kvscreend.conf" <<EOF
daemon: {
  listen = "127.0.0.1:0";
  socket = "$D/sock";
  state_dir = "state";
  log_level = "notice";
  rescreen_rate = 40;
};
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
api() { # PATH
	curl -s -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT$1"
}
metric() { api /metrics | sed -n "s/^$1 //p"; }

python3 - "$PORT" "$TOKEN" "$N" <<'EOF' || fail "posting the requests"
import http.client, json, sys
port, token, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
for i in range(n):
    body = json.dumps({"id": "c-%d" % i, "type": "partnership", "title": "Joint optics research",
                       "parties": [{"role": "partner", "name": "Zeta Optics Institute",
                                    "country": "CN", "kind": "university"}]})
    c.request("POST", "/v1/screenings", body,
              {"Content-Type": "application/json", "Authorization": "Bearer " + token})
    r = c.getresponse()
    r.read()
    assert r.status == 200, r.status
EOF
got() { [ "$(wc -l < "$D/received")" -ge "$1" ]; }
wait_for 120 got $N || fail "verdict 1 of the $N cases not all delivered"
ok "$N cases stored and delivered"

# The partner becomes listed; the reload starts the run (40 a second).
echo 'OWN-2,Zeta Optics Institute,,CN,own,high,test listing' >> "$D/lists/own.csv"
"$KVSCREEN" reload --socket "$D/sock" > /dev/null 2>&1 || fail "reload"
midway() { [ "$(metric kvscreend_rescreen_versions_posted_total)" -ge 20 ]; }
wait_for 120 midway || fail "the re-screen did not start: $(api /metrics | grep rescreen)"
kill -9 "$PID"
wait "$PID" 2>/dev/null
PID=
left=$(grep -c '"version":2' "$D/received")
[ "$left" -lt $N ] || fail "the run finished before the kill; raise N"
ok "killed with -9 after $left of $N versions were delivered"

start_daemon
done_all() {
	[ "$(metric kvscreend_rescreen_backlog)" = 0 ] && [ "$(metric kvscreend_rescreen_running)" = 0 ] &&
		[ "$(python3 -c 'import json,sys; print(len({json.loads(l)["request_id"] for l in open(sys.argv[1]) if "\"version\":2" in l}))' "$D/received")" = $N ]
}
wait_for 180 done_all || fail "not resumed: $(api /metrics | grep rescreen), $(grep -c '"version":2' "$D/received") versions delivered"
python3 - "$D/received" "$N" <<'EOF' || fail "versions delivered wrongly"
import json, sys
n = int(sys.argv[2])
v2 = {}
dups = 0
for line in open(sys.argv[1]):
    m = json.loads(line)
    v = m.get("version", 1)
    assert v in (1, 2), "version %s of %s" % (v, m["request_id"])
    if v == 2:
        if m["request_id"] in v2:
            assert v2[m["request_id"]] == line, "two contents for version 2 of " + m["request_id"]
            dups += 1
        v2[m["request_id"]] = line
        assert m["decision"] == "escalate"
assert len(v2) == n, len(v2)
print("%d cases at version 2, %d delivered twice with the same content" % (len(v2), dups))
EOF
ok "resumed after restart: every case at version 2, one content per version, none at 3"
for i in 0 150 299; do
	api "/v1/screenings/c-$i" | grep -q '"version":2' || fail "GET c-$i is not version 2"
done
"$KVSCREEN" rescreen --dry-run --socket "$D/sock" > "$D/dry" 2>&1
grep -q "^rescreen (dry run, nothing posted): $N screened, 0 changed up, 0 changed down, 0 changed findings, $N unchanged, 0 errors$" "$D/dry" ||
	fail "dry run after the resume: $(cat "$D/dry")"
ok "a dry run afterwards: $N unchanged"

kill -TERM "$PID"
wait "$PID" || fail "exit status $? after SIGTERM"
PID=
echo "all re-screen crash tests passed"
