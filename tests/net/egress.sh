#!/bin/bash
# The egress proxy, both halves, with real clients: the real supervisor (the "enclave")
# and host_run's egress half, run by tests/runtime/launcher-local over Unix sockets (the
# transport seam); curl through the proxy to HTTP and HTTPS origins the test runs on
# 127.0.0.1 (tests/net/egress-peer.py), the policy's decisions and their log lines,
# the answers to bad requests, keep-alive, chunked bodies both ways, 100 MiB each way
# with hashes checked at the far end, 2,000 tunnels at once, and Enclaver's framing of
# port 17002 byte for byte in both directions.
. "$top_srcdir/tests/lib.sh"
LL=$top_builddir/tests/runtime/launcher-local
PEER="python3 $top_srcdir/tests/net/egress-peer.py"
command -v curl >/dev/null || skip_all "curl is not installed"
command -v openssl >/dev/null || skip_all "openssl is not installed"
D=$TEST_TMP/enc
mkdir -p "$D"
PIDS=
cleanup () { touch "$D/stop" "$D/stop2"; for p in $PIDS; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$TEST_TMP"; }
trap cleanup EXIT

# Wait (hang guard 60 s) until FILE contains TEXT.
wait_for () { i=0; while ! grep -qF -- "$2" "$1" 2>/dev/null && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done; grep -qF -- "$2" "$1"; }
free_port () { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# A test CA and a server certificate for the name "host" (what the app asks for).
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=egress-test-ca \
  -keyout "$TEST_TMP/ca.key" -out "$TEST_TMP/ca.pem" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj /CN=host -keyout "$TEST_TMP/srv.key" \
  -out "$TEST_TMP/srv.csr" 2>/dev/null
printf 'subjectAltName=DNS:host,IP:127.0.0.1\n' >"$TEST_TMP/ext"
openssl x509 -req -in "$TEST_TMP/srv.csr" -CA "$TEST_TMP/ca.pem" -CAkey "$TEST_TMP/ca.key" \
  -CAcreateserial -days 2 -extfile "$TEST_TMP/ext" -out "$TEST_TMP/srv.pem" 2>/dev/null

$PEER origin "$TEST_TMP/ports.json" "$TEST_TMP/srv.pem" "$TEST_TMP/srv.key" &
PIDS="$PIDS $!"
i=0; while [ ! -e "$TEST_TMP/ports.json" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
port_of () { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$TEST_TMP/ports.json" "$1"; }
HTTP=$(port_of http); HTTPS=$(port_of https); ECHO=$(port_of echo); CLOSED=$(port_of closed)
PROXY=$(free_port)

# The manifest as `enclaver manifest -o json` prints its egress part; the supervisor's
# configuration points the proxy at the test's port and its dialler at the local
# backend's host socket.
cat >"$TEST_TMP/manifest.json" <<EOF
{"name": "egress-test",
 "egress": {"enabled": true, "proxy_port": $PROXY,
            "allow": ["host", "**.allowed.test", "nothing.invalid", "supervisor-only.test"],
            "deny": ["deny.allowed.test"]},
 "vsock_ports": {"status_port": 17000, "app_log_port": 17001, "http_egress_port": 17002}}
EOF
python3 - "$TEST_TMP/manifest.json" "$D" "$PROXY" >"$TEST_TMP/sv.json" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1]))
print(json.dumps({"manifest": m,
                  "egress": {"listen": "tcp:127.0.0.1:%s" % sys.argv[3],
                             "host_addr": "unix:%s/host-17002.sock" % sys.argv[2],
                             "header_timeout_ms": 1500, "max_connections": 4096}}))
EOF
# The host re-checks the policy of the manifest it launched: give it one that lacks
# supervisor-only.test, as if the enclave's own copy had been altered.
python3 - "$TEST_TMP/manifest.json" >"$TEST_TMP/host-manifest.json" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1]))
m["egress"]["allow"].remove("supervisor-only.test")
print(json.dumps(m))
EOF

"$LL" --name egress-test --run-dir "$TEST_TMP/run" --dir "$D" --egress --manifest "$TEST_TMP/host-manifest.json" -- \
  -c "$TEST_TMP/sv.json" --no-bootstrap -- /bin/sh -c \
  "env | grep -i '_proxy=' | sort; echo app-ready; while [ ! -e $D/stop ]; do sleep 0.1; done" \
  >"$TEST_TMP/launcher.log" 2>&1 &
LPID=$!
PIDS="$PIDS $LPID"
if ! wait_for "$TEST_TMP/launcher.log" app-ready; then
  not_ok "the enclave's app started"; diag "$(cat "$TEST_TMP/launcher.log")"; done_testing; exit 1
fi
ok "the enclave's app started with egress on"
ENVS=$(cat "$TEST_TMP/launcher.log")
for v in http_proxy https_proxy HTTP_PROXY HTTPS_PROXY; do
  expect_in "app environment: $v" "$ENVS" "$v=http://127.0.0.1:$PROXY"
done
expect_in "app environment: no_proxy" "$ENVS" "no_proxy=localhost,127.0.0.1"
expect_in "app environment: NO_PROXY" "$ENVS" "NO_PROXY=localhost,127.0.0.1"
X="-x http://127.0.0.1:$PROXY"

# --- allowed: plain HTTP (absolute form) and HTTPS (CONNECT, TLS end to end) ---
run_cmd curl -sS $X "http://host:$HTTP/hello"
expect_rc "http through the proxy: curl exit 0" 0
expect_in "http through the proxy: the origin's body" "$OUT" "hello from origin"
run_cmd curl -sS $X --cacert "$TEST_TMP/ca.pem" "https://host:$HTTPS/hello"
expect_rc "https through CONNECT: curl exit 0 (the certificate of \"host\" verified end to end)" 0
expect_in "https through CONNECT: the origin's body" "$OUT" "hello from origin"
wait_for "$TEST_TMP/launcher.log" "CONNECT host:$HTTPS allowed" >/dev/null
LOG=$(cat "$TEST_TMP/launcher.log")
expect_in "log: the CONNECT decision names the rule" "$LOG" "egress: CONNECT host:$HTTPS allowed by egress.allow[0] \"host\""
expect_in "log: the plain request's decision" "$LOG" "egress: GET host:$HTTP allowed by egress.allow[0] \"host\""

# --- the request as the origin sees it: origin form, Host from the URL, case kept ---
run_cmd curl -sS $X -H "X-MiXeD-CaSe: Kept" -H "Host: wrong.example" "http://host:$HTTP/headers"
expect_in "origin form: the origin sees GET /headers" "$OUT" "GET /headers"
expect_in "Host is rewritten from the URL" "$OUT" "Host: host:$HTTP"
expect_in "header case is kept" "$OUT" "X-MiXeD-CaSe: Kept"
case $OUT in *wrong.example*|*Proxy-Connection*) not_ok "the client's Host and Proxy-Connection do not reach the origin"; diag "$OUT" ;;
  *) ok "the client's Host and Proxy-Connection do not reach the origin" ;; esac
run_cmd $PEER raw "$PROXY" "OPTIONS http://host:$HTTP HTTP/1.1\r\nHost: host\r\nConnection: close\r\n\r\n"
expect_in "OPTIONS with an empty path goes out as OPTIONS *" "$OUT" "options target: *"

# --- denied ---
run_cmd curl -sS -o "$TEST_TMP/body" -w '%{http_code}' $X "http://denied.example/x"
expect_in "a host outside the allow list: 401" "$OUT" "401"
expect_in "the 401 body names the host" "$(cat "$TEST_TMP/body")" "denied.example matches no egress.allow pattern"
run_cmd curl -sS -o "$TEST_TMP/body" -w '%{http_code}' $X "http://deny.allowed.test/"
expect_in "deny wins over allow: 401" "$OUT" "401"
expect_in "the 401 body names the deny rule" "$(cat "$TEST_TMP/body")" "denied by egress.deny[0] \"deny.allowed.test\""
run_cmd curl -sS -o /dev/null -w '%{http_code}' $X --cacert "$TEST_TMP/ca.pem" "https://denied.example/"
expect_in "CONNECT to a denied host: curl reports the proxy's 401" "$OUT$ERR" "401"
LOG=$(cat "$TEST_TMP/launcher.log")
expect_in "log: the deny decision" "$LOG" "egress: GET deny.allowed.test:80 denied by egress.deny[0] \"deny.allowed.test\""
expect_in "log: no rule matched" "$LOG" "egress: CONNECT denied.example:443 denied: no egress.allow pattern matches"

# --- the host half re-checks the policy of the manifest it launched ---
run_cmd curl -sS -o "$TEST_TMP/body" -w '%{http_code}' $X "http://supervisor-only.test/"
expect_in "allowed in the enclave but not by the host's manifest: 503" "$OUT" "503"
expect_in "the 503 says the host denied it" "$(cat "$TEST_TMP/body")" "denied by the host: no egress.allow pattern matches supervisor-only.test"

# --- dial failures: 503 with the host's error ---
run_cmd curl -sS -o "$TEST_TMP/body" -w '%{http_code}' $X "http://host:$CLOSED/"
expect_in "a refused port: 503" "$OUT" "503"
expect_in "a refused port: the host's error" "$(cat "$TEST_TMP/body")" "Connection refused (os error 111)"
run_cmd curl -sS -o "$TEST_TMP/body" -w '%{http_code}' $X "http://nothing.invalid/"
expect_in "a name that resolves to nothing: 503" "$OUT" "503"
expect_in "a name that resolves to nothing: the lookup error" "$(cat "$TEST_TMP/body")" "failed to lookup address information"

# --- malformed requests: a clear status, the proxy lives on ---
run_cmd $PEER raw "$PROXY" "GARBAGE\r\n\r\n"
expect_in "garbage: 400" "$OUT" "HTTP/1.1 400"
run_cmd $PEER raw "$PROXY" "GET /hello HTTP/1.1\r\nHost: host\r\n\r\n"
expect_in "origin form sent to the proxy: 400 asking for an absolute URL" "$OUT" "needs an absolute http:// URL"
run_cmd $PEER raw "$PROXY" "CONNECT host:0 HTTP/1.1\r\n\r\n"
expect_in "CONNECT to port 0: 400" "$OUT" "HTTP/1.1 400"
run_cmd $PEER raw "$PROXY" "CONNECT host:65536 HTTP/1.1\r\n\r\n"
expect_in "CONNECT to port 65536: 400" "$OUT" "the port must be a number in 1..65535"
run_cmd $PEER raw "$PROXY" "CONNECT host HTTP/1.1\r\n\r\n"
expect_in "CONNECT without a port: 400" "$OUT" "the port is missing"
BIG=$(head -c 20000 /dev/zero | tr '\0' a)
run_cmd $PEER raw "$PROXY" "GET http://host:$HTTP/hello HTTP/1.1\r\nX-Big: $BIG\r\n\r\n"
expect_in "a head over 16 KiB: 431" "$OUT" "HTTP/1.1 431"
# 64 fields (the most a head may have) and no Host: forwarding would add a 65th
F64=$(i=0; while [ $i -lt 64 ]; do printf 'X%d: v\\r\\n' $i; i=$((i + 1)); done)
run_cmd $PEER raw "$PROXY" "GET http://host:$HTTP/hello HTTP/1.0\r\n$F64\r\n"
expect_in "64 fields and no Host: 431, not a 65-field head to the origin" "$OUT" "HTTP/1.1 431"
expect_in "the 431 says why" "$OUT" "too many header fields to add Host"
run_cmd $PEER raw "$PROXY" "GET http://host:$HTTP/hello HTTP/1.0\r\nHost: host\r\n$(printf '%s' "$F64" | sed 's/^X0: v\\r\\n//')\r\n"
expect_in "64 fields with a Host among them go through" "$OUT" "HTTP/1.1 200"
run_cmd $PEER raw "$PROXY" "GET http://host:$HTTP/hello HTTP/1.1\r\nHost: host\r\n\r\n" 3
expect_in "a head that comes too slowly: 408 (header_timeout_ms 1500)" "$OUT" "HTTP/1.1 408"
run_cmd curl -sS $X "http://host:$HTTP/hello"
expect_in "the proxy still serves after the bad requests" "$OUT" "hello from origin"

# --- keep-alive: several requests on one client connection, one upstream ---
run_cmd curl -sS $X "http://host:$HTTP/peer" "http://host:$HTTP/peer" "http://host:$HTTP/hello" "http://host:$HTTP/peer" \
  -w 'connects=%{num_connects}\n'
expect_rc "keep-alive: four requests, curl exit 0" 0
N1=$(printf '%s\n' "$OUT" | grep -c '^connects=0')
check "keep-alive: curl reused its proxy connection for requests 2-4" test "$N1" -eq 3
NP=$(printf '%s\n' "$OUT" | grep '^peer ' | sort -u | wc -l)
check "keep-alive: the origin saw one upstream connection for all of them" test "$NP" -eq 1
run_cmd curl -sS $X "http://host:$HTTP/close" "http://host:$HTTP/hello"
expect_in "a response framed by close, then a new request: first body" "$OUT" "until close"
expect_in "a response framed by close, then a new request: second body" "$OUT" "hello from origin"

# --- chunked bodies both ways ---
head -c 300000 /dev/urandom >"$TEST_TMP/up.bin"
WANT=$(sha256sum "$TEST_TMP/up.bin" | cut -d' ' -f1)
run_cmd curl -sS $X -H "Transfer-Encoding: chunked" --data-binary @"$TEST_TMP/up.bin" "http://host:$HTTP/sha256"
expect_in "a chunked request body arrives whole at the origin" "$OUT" "300000 $WANT"
run_cmd curl -sS $X --data-binary @"$TEST_TMP/up.bin" -H "Expect: 100-continue" "http://host:$HTTP/sha256"
expect_in "a Content-Length body with Expect: 100-continue" "$OUT" "300000 $WANT"
run_cmd curl -sS $X "http://host:$HTTP/chunked"
expect_in "a chunked response: first chunk" "$OUT" "first chunk"
expect_in "a chunked response: last chunk" "$OUT" "last chunk"
run_cmd curl -sS -I $X "http://host:$HTTP/hello"
expect_in "HEAD: the head only" "$OUT" "Content-Length: 18"

# --- 100 MiB each way through a CONNECT tunnel, hashed at the far end ---
N=$((100 * 1024 * 1024))
WANT=$($PEER gen $N)
run_cmd sh -c "curl -sS -p $X 'http://host:$HTTP/big?n=$N' | sha256sum"
expect_in "100 MiB down through a tunnel: the hash matches" "$OUT" "$WANT"
run_cmd $PEER upload "$PROXY" "$HTTP" $N
expect_in "100 MiB up through a tunnel: the origin's hash matches" "$OUT" "$N $WANT"

# --- 2,000 tunnels at once ---
run_cmd $PEER tunnels "$PROXY" "$ECHO" 2000
expect_in "2,000 simultaneous tunnels: all established" "$OUT" '"statuses": {"200": 2000}'
expect_in "2,000 simultaneous tunnels: every one echoes" "$OUT" '"echoed": 2000'
run_cmd curl -sS $X "http://host:$HTTP/hello"
expect_in "the proxy serves after the 2,000 tunnels closed" "$OUT" "hello from origin"

# --- port 17002's framing, byte for byte ---
# The enclave side (our proxy) against a stand-in host half: the exact request frame.
$PEER frame-host "$TEST_TMP/fh.sock" "0400224f6b22" >"$TEST_TMP/fh.out" &
PIDS="$PIDS $!"
i=0; while [ ! -S "$TEST_TMP/fh.sock" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
PROXY2=$(free_port)
python3 - "$TEST_TMP/manifest.json" "$TEST_TMP/fh.sock" "$PROXY2" >"$TEST_TMP/sv2.json" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1]))
print(json.dumps({"manifest": m, "egress": {"listen": "tcp:127.0.0.1:%s" % sys.argv[3],
                                             "host_addr": "unix:%s" % sys.argv[2]}}))
EOF
mkdir -p "$D/2"
"$LL" --name egress-frame --run-dir "$TEST_TMP/run" --dir "$D/2" -- -c "$TEST_TMP/sv2.json" --no-bootstrap -- \
  /bin/sh -c "echo app-ready; while [ ! -e $D/stop2 ]; do sleep 0.1; done" >"$TEST_TMP/out2" 2>&1 &
PIDS="$PIDS $!"
wait_for "$TEST_TMP/out2" app-ready >/dev/null
run_cmd $PEER raw "$PROXY2" "CONNECT supervisor-only.test:443 HTTP/1.1\r\nHost: supervisor-only.test:443\r\n\r\nping"
WANTF=$(printf '{"host":"supervisor-only.test","port":443}' | python3 -c 'import sys; d=sys.stdin.buffer.read(); print((len(d).to_bytes(2,"little")+d).hex())')
expect_in "framing: the proxy's request frame is Enclaver's, byte for byte" "$(cat "$TEST_TMP/fh.out")" "$WANTF"
expect_in "framing: after \"Ok\" the client gets 200 and the tunnel carries bytes" "$OUT" "HTTP/1.1 200 Connection established"
expect_in "framing: the bytes sent after CONNECT went through the host half" "$OUT" "echo:ping"
touch "$D/stop2"

# The host half against a stand-in enclave: Enclaver's request bytes, the exact replies.
REQ=$(printf '{"host":"host","port":%s}' "$HTTP" | python3 -c 'import sys; d=sys.stdin.buffer.read(); print((len(d).to_bytes(2,"little")+d).hex())')
run_cmd $PEER frame-enclave "$D/host-17002.sock" "$REQ"
expect_in "framing: the host half answers \"Ok\" as 04 00 \"Ok\"" "$OUT" "0400224f6b22"
expect_in "framing: then the raw tunnel to the origin" "$OUT" "HTTP/1.1 200 OK"
REQ=$(printf '{"host":"host","port":%s}' "$CLOSED" | python3 -c 'import sys; d=sys.stdin.buffer.read(); print((len(d).to_bytes(2,"little")+d).hex())')
run_cmd $PEER frame-enclave "$D/host-17002.sock" "$REQ"
WANTE=$(printf '{"Err":{"os_code":111,"message":"Connection refused (os error 111)"}}' | python3 -c 'import sys; d=sys.stdin.buffer.read(); print((len(d).to_bytes(2,"little")+d).hex())')
expect_in "framing: a refused connection is Enclaver's Err frame, byte for byte" "$OUT" "$WANTE"
run_cmd $PEER frame-enclave "$D/host-17002.sock" "05007b7878787d"
expect_in "framing: garbage JSON gets an Err frame, not a crash" "$OUT" '{"Err":{"os_code":22'
run_cmd $PEER frame-enclave "$D/host-17002.sock" "$(printf 'ffff')"
expect_in "framing: a frame over the limit is refused" "$OUT" "request frame too large"
run_cmd $PEER frame-enclave "$D/host-17002.sock" "$(printf '{"host":"denied.example","port":80}' | python3 -c 'import sys; d=sys.stdin.buffer.read(); print((len(d).to_bytes(2,"little")+d).hex())')"
expect_in "the host half refuses what the manifest denies, even asked directly" "$OUT" '"os_code":13'

# --- shutdown: the app ends, the launcher exits with its code ---
touch "$D/stop"
wait "$LPID"; RC=$?
check "the launcher exits 0 once the app ended" test "$RC" -eq 0
LOG=$(cat "$TEST_TMP/launcher.log")
case $LOG in *AddressSanitizer*|*"runtime error"*) not_ok "no sanitizer reports"; diag "$LOG" ;; *) ok "no sanitizer reports" ;; esac

# --- egress off: no allow list, no proxy, no environment ---
mkdir -p "$D/3"
python3 - "$TEST_TMP/manifest.json" "$PROXY" >"$TEST_TMP/sv3.json" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1]))
m["egress"]["allow"] = []
print(json.dumps({"manifest": m, "egress": {"listen": "tcp:127.0.0.1:%s" % sys.argv[2]}}))
EOF
run_cmd "$LL" --name egress-off --run-dir "$TEST_TMP/run" --dir "$D/3" -- -c "$TEST_TMP/sv3.json" --no-bootstrap -- \
  bash -c "env | grep -ci '_proxy=' ; (exec 3<>/dev/tcp/127.0.0.1/$PROXY) 2>/dev/null && echo listening || echo no-proxy"
expect_rc "egress off: the app runs" 0
# (the app's output is the launcher's log stream, on its stderr)
expect_in "egress off: no proxy variables" "$ERR" "
0"
expect_in "egress off: nothing listens on the proxy port" "$ERR" "no-proxy"

done_testing
