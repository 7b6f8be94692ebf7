#!/bin/bash
# daemon_net.sh - the built kvscreend under cheap attacks: one client guessing
# tokens is throttled alone while another keeps getting 200; idle connections
# cannot lock anyone out (a per-client cap, the idlest closed first when the
# global cap is full, the Unix socket let in past it); and the outbox's
# free-space reserve is a configuration key.  Clients use source addresses
# 127.0.0.2 ... on the loopback to be different clients.
set -u

: "${KVS_BUILDDIR:=$(cd "$(dirname "$0")/.." && pwd)}"
command -v curl >/dev/null || { echo "curl not installed"; exit 77; }
command -v python3 >/dev/null || { echo "python3 not installed"; exit 77; }
DAEMON="$KVS_BUILDDIR/kvscreend"
PLUGINS="$KVS_BUILDDIR/tests/plugins"
ls "$PLUGINS"/t_good.la >/dev/null 2>&1 || { echo "test plugins not built"; exit 77; }
python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.2", 0))' 2>/dev/null ||
	{ echo "cannot bind 127.0.0.2 (no loopback /8)"; exit 77; }

. "$(dirname "$0")/daemon_lib.sh"
test_begin net

# write_config MIN_FREE_MB
write_config() {
	cat > "$D/kvscreend.conf" <<EOF
daemon: {
  listen = "127.0.0.1:0";
  socket = "run/k.sock";
  socket_mode = "0600";
  state_dir = "state";
  threads = 2;
  plugin_dir = "$PLUGINS";
  max_connections = 8;
  max_connections_per_client = 3;
  header_timeout_ms = 600000;     # only the caps close connections here
  idle_timeout_ms = 600000;
  outbox_min_free_mb = $1;
};
plugins: { t_good: { keyword = "forbidden"; }; };
EOF
}

write_config 64
start_daemon

cat > "$D/clients.py" <<'EOF'
import re, select, socket, sys, time

port, token, sock_path, step = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
DEADLINE = 60  # seconds: generous bound for every wait below

def tcp(src):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    return s

def unix():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock_path)
    return s

def request(path, tok=None):
    h = "GET %s HTTP/1.1\r\nHost: t\r\n" % path
    if tok:
        h += "Authorization: Bearer %s\r\n" % tok
    return (h + "\r\n").encode()

def responses(s, n):
    """Read n responses from s; returns [(status, body)]."""
    buf, out = b"", []
    s.settimeout(DEADLINE)
    while len(out) < n:
        m = re.match(rb"HTTP/1\.1 (\d+)[^\r]*\r\n(.*?)\r\n\r\n", buf, re.S)
        if m:
            cl = re.search(rb"(?i)content-length: *(\d+)", m.group(2))
            end = m.end() + (int(cl.group(1)) if cl else 0)
            if len(buf) >= end:
                out.append((int(m.group(1)), buf[m.end():end]))
                buf = buf[end:]
                continue
        chunk = s.recv(65536)
        if not chunk:
            raise SystemExit("FAIL: connection closed after %d of %d answers" % (len(out), n))
        buf += chunk
    return out

def ask(s, path, tok=None):
    s.sendall(request(path, tok))
    return responses(s, 1)[0]

def closed(s):
    """True once the server closed s (EOF or reset); never blocks."""
    r, _, _ = select.select([s], [], [], 0)
    if not r:
        return False
    try:
        return s.recv(65536) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True

def metric(name):
    u = unix()
    st, body = ask(u, "/metrics")
    u.close()
    m = re.search(rb"(?m)^%s (\d+)$" % name.encode(), body)
    return int(m.group(1)) if m else -1

if step == "auth":
    # A guesses tokens, 60 pipelined on one connection, until it is throttled;
    # then B (another address) asks with the right token, then A once more.
    # A still at 429 after B means B was served within A's throttled second:
    # a global throttle would have answered B 429 too.
    a, b = tcp("127.0.0.2"), tcp("127.0.0.1")
    for attempt in range(50):
        a.sendall(request("/v1/plugins", "guess") * 60)
        codes = [c for c, _ in responses(a, 60)]
        if 429 not in codes:
            continue
        b_code, _ = ask(b, "/v1/plugins", token)
        a_code, _ = ask(a, "/v1/plugins", "guess")
        if a_code != 429:
            continue  # A's second ended in between: inconclusive, again
        if b_code != 200:
            raise SystemExit("FAIL: the valid client got %d while another was throttled" % b_code)
        print("ok - valid client 200 while the guessing client is at 429 "
              "(round %d: %d x 401, %d x 429)" % (attempt + 1, codes.count(401), codes.count(429)))
        break
    else:
        raise SystemExit("FAIL: no conclusive round in 50 (the guessing client never stayed throttled)")
    if metric("kvscreend_auth_throttled_total") < 1:
        raise SystemExit("FAIL: kvscreend_auth_throttled_total not counted")
    a.close(); b.close()

elif step == "idle":
    # Per-client cap: the fourth connection of 127.0.0.3 is refused.
    held = [tcp("127.0.0.3") for _ in range(3)]
    fourth = tcp("127.0.0.3")
    st, body = responses(fourth, 1)[0]
    if st != 503 or b"too many connections from this client" not in body:
        raise SystemExit("FAIL: 4th connection of one client got %d %r" % (st, body))
    fourth.close()
    print("ok - the 4th connection of one address is refused: 503 %s" % body.decode())
    # Global cap: 12 more idle connections from four more clients; the
    # server (max 8) closes the idlest ones, in the order they went quiet.
    for src in ("127.0.0.4", "127.0.0.5", "127.0.0.6", "127.0.0.7"):
        held += [tcp(src) for _ in range(3)]
    gone = [False] * len(held)
    t0 = time.time()
    while sum(gone) < len(held) - 8 and time.time() - t0 < DEADLINE:
        for i, s in enumerate(held):
            gone[i] = gone[i] or closed(s)
        time.sleep(0.05)
    n = sum(gone)
    if n < len(held) - 8:
        raise SystemExit("FAIL: only %d of %d idle connections closed past the cap of 8" % (n, len(held)))
    if gone != [True] * n + [False] * (len(held) - n):
        raise SystemExit("FAIL: not the idlest first: %s" % "".join("x" if g else "." for g in gone))
    print("ok - %d idle connections over the cap closed, oldest first" % n)
    # Everyone else is still served, over TCP and the Unix socket.
    for path, tok in (("/healthz", None), ("/v1/plugins", token)):
        c = tcp("127.0.0.1")
        st, _ = ask(c, path, tok)
        c.close()
        if st != 200:
            raise SystemExit("FAIL: %s got %d with the cap full of idle connections" % (path, st))
    u = unix()
    st, _ = ask(u, "/healthz")
    u.close()
    if st != 200:
        raise SystemExit("FAIL: Unix /healthz got %d with the cap full" % st)
    print("ok - /healthz, /v1/plugins over TCP and the Unix socket answer 200 with the cap full")
    ev, lim = metric("kvscreend_http_connections_evicted_total"), metric("kvscreend_http_connections_client_limited_total")
    if ev < len(held) - 8 or lim < 1:
        raise SystemExit("FAIL: metrics evicted %d, client-limited %d" % (ev, lim))
    print("ok - metrics: %d evicted, %d refused past the per-client cap" % (ev, lim))
    for s in held:
        s.close()

elif step == "busy":
    # Eight connections in the middle of a request (not idle, nothing to
    # close): a new TCP connection is answered 503, the Unix socket still 200.
    busy = []
    for src in ("127.0.0.8", "127.0.0.9", "127.0.0.10", "127.0.0.11"):
        for _ in range(2):
            s = tcp(src)
            s.sendall(b"GET /healthz HTTP/1.1\r\n")
            busy.append(s)
    # Ask /metrics over Unix connections that stay busy too (a partial
    # request pipelined behind it), until the server holds exactly ours, at
    # least the cap of 8, none idle: the connections of the earlier steps
    # are gone (a busy one whose first bytes were not read yet may have been
    # closed as idle; it is left out).
    mine = []
    for _ in range(40):
        u = unix()
        u.sendall(request("/metrics") + b"GET /x HTTP/1.1\r\n")
        st, body = responses(u, 1)[0]
        mine.append(u)
        n = int(re.search(rb"(?m)^kvscreend_http_connections (\d+)$", body).group(1))
        busy = [b for b in busy if not closed(b)]
        if n == len(busy) + len(mine) and n >= 8:
            break
        time.sleep(0.05)
    else:
        raise SystemExit("FAIL: the server still holds connections of earlier steps")
    c = tcp("127.0.0.1")
    st, body = responses(c, 1)[0]
    c.close()
    if st != 503 or b"too many connections" not in body:
        raise SystemExit("FAIL: a new connection with every one busy got %d %r" % (st, body))
    u = unix()
    st, _ = ask(u, "/healthz")
    u.close()
    if st != 200:
        raise SystemExit("FAIL: Unix /healthz got %d with every TCP connection busy" % st)
    print("ok - with every connection busy a new TCP one gets 503, the Unix socket 200")
    for s in busy + mine:
        s.close()
EOF

for step in auth idle busy; do
	python3 "$D/clients.py" "$PORT" "$TOKEN" "$D/run/k.sock" "$step" || fail "step $step"
done
grep -q 'failed authentications within a second' "$D/log" || fail "throttle not logged"
ok "the throttle names the client in the log: $(grep -m1 -o '127\.0\.0\.2: [0-9]* failed authentications' "$D/log")"

# ---- the outbox's free-space reserve is configurable ----
kill "$PID"; wait "$PID" 2>/dev/null; PID=
write_config 16777216   # 16 TiB: more than this filesystem has free
start_daemon
code=$(curl -s -o "$D/body" -w '%{http_code}' --unix-socket "$D/run/k.sock" \
	-H 'Content-Type: application/json' --data '{"id":"net-1","type":"export","title":"x"}' \
	http://localhost/v1/screenings)
[ "$code" = 503 ] || fail "POST with outbox_min_free_mb above the free space: $code $(cat "$D/body")"
grep -q 'less than 17592186044416: refusing new verdicts' "$D/log" || fail "low space not logged"
ok "outbox_min_free_mb = 16777216 refuses verdicts (503) and says why"
kill "$PID"; wait "$PID" 2>/dev/null; PID=
write_config 0
start_daemon
code=$(curl -s -o "$D/body" -w '%{http_code}' --unix-socket "$D/run/k.sock" \
	-H 'Content-Type: application/json' --data '{"id":"net-1","type":"export","title":"x"}' \
	http://localhost/v1/screenings)
[ "$code" = 200 ] || fail "POST with outbox_min_free_mb = 0: $code $(cat "$D/body")"
ok "outbox_min_free_mb = 0 accepts"
