#!/bin/sh
# sink_tls.sh - the webhook sink verifies TLS by default: an unknown certificate or a wrong host name retires nothing.
#
# Runs a small HTTPS receiver (python3's http.server + ssl) on 127.0.0.1
# with a throw-away self-signed certificate for IP 127.0.0.1, and drives
# tests/sink_driver against it:
#   default settings               -> not delivered (unknown issuer)
#   ca_file = the certificate      -> delivered
#   ca_file, but host "localhost"  -> not delivered (name not in the cert)
#   tls_verify = false             -> delivered
# Exits 77 when openssl or python3 is missing.
set -eu

SRC=${KVS_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
BUILD=${KVS_BUILDDIR:-$SRC}
DRIVER=$BUILD/tests/sink_driver

for tool in openssl python3; do
	command -v "$tool" >/dev/null || { echo "SKIP: $tool is not installed"; exit 77; }
done

T=$(mktemp -d /tmp/sink_tls.XXXXXX)
rx_pid=
cleanup() {
	[ -n "$rx_pid" ] && kill "$rx_pid" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT INT TERM
fail() {
	echo "FAIL: $*" >&2
	exit 1
}

openssl req -x509 -newkey rsa:2048 -nodes -days 1 -keyout "$T/key.pem" -out "$T/cert.pem" \
	-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1 ||
	fail "openssl could not make a certificate"

cat > "$T/rx.py" <<'EOF'
import http.server, ssl, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        self.rfile.read(n)
        with open(sys.argv[2], "a") as log:
            log.write(self.headers.get("Idempotency-Key", "-") + "\n")
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *a):
        pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[3], sys.argv[4])
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
with open(sys.argv[1], "w") as f:
    f.write(str(srv.server_address[1]))
srv.serve_forever()
EOF
python3 "$T/rx.py" "$T/port.tmp" "$T/keys" "$T/cert.pem" "$T/key.pem" &
rx_pid=$!
i=0
while [ ! -s "$T/port.tmp" ]; do
	i=$((i + 1))
	[ "$i" -lt 600 ] || fail "the HTTPS receiver did not start"
	sleep 0.1
done
sleep 0.1
PORT=$(cat "$T/port.tmp")

run() { # NAME EXPECT URL-HOST [driver options]
	name=$1 expect=$2 host=$3
	shift 3
	"$DRIVER" --outbox "$T/$name" --kind webhook --url "https://$host:$PORT/hook" \
		--count 3 --prefix "$name" --wait-ms "$([ "$expect" = kept ] && echo 1500 || echo 60000)" \
		--expect "$expect" "$@" 2>"$T/$name.log"
}

run unknown kept 127.0.0.1 || fail "delivered to a server whose certificate is unknown"
grep -q 'certificate' "$T/unknown.log" || fail "the log does not name the certificate problem"
echo "ok: default settings refuse a self-signed certificate"
run trusted delivered 127.0.0.1 --ca-file "$T/cert.pem" || fail "not delivered with ca_file"
[ "$(grep -c '\.trusted-' "$T/keys")" -eq 3 ] || fail "the receiver did not get 3 trusted messages"
echo "ok: ca_file makes the certificate trusted"
run wrongname kept localhost --ca-file "$T/cert.pem" ||
	fail "delivered to a host name the certificate does not name"
grep -q 'subject name\|does not match' "$T/wrongname.log" ||
	fail "the refusal was not about the host name: $(head -n 3 "$T/wrongname.log")"
echo "ok: a host name missing from the certificate is refused"
run insecure delivered 127.0.0.1 --no-tls-verify || fail "not delivered with tls_verify = false"
grep -q '\.unknown-\|\.wrongname-' "$T/keys" && fail "an unverified message reached the receiver"
echo "ok: tls_verify = false delivers; nothing unverified got through"
