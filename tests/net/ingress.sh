#!/bin/bash
# Ingress, both halves, with real clients: the launcher's host half (host_run, run by
# tests/runtime/launcher-local with --publish 127.0.0.1:HOSTPORT:P) and the real
# supervisor (the "enclave") over Unix sockets (the transport seam), in front of an app
# that serves HTTP on 127.0.0.1 (tests/net/ingress-app.py).  Plain and TLS ports: curl
# and `openssl s_client` verify the certificate the supervisor presents (the manifest's
# key_file/cert_file inside the image, and Enclaver's fixed place), 20 MiB each way
# hashed, a plain client on a TLS port, a client that never finishes its handshake, an
# app that does not listen, and the start-up errors of a missing or mismatched key.
. "$top_srcdir/tests/lib.sh"
LL=$top_builddir/tests/runtime/launcher-local
APP="python3 $top_srcdir/tests/net/ingress-app.py"
command -v curl >/dev/null || skip_all "curl is not installed"
command -v openssl >/dev/null || skip_all "openssl is not installed"
D=$TEST_TMP/enc
ROOT=$TEST_TMP/rootfs
mkdir -p "$D" "$ROOT/srv/tls" "$ROOT/etc/enclaver/tls/server"
PIDS=
cleanup () { for p in $PIDS; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$TEST_TMP"; }
trap cleanup EXIT
wait_for () { i=0; while ! grep -qF -- "$2" "$1" 2>/dev/null && [ $i -lt "${3:-600}" ]; do sleep 0.1; i=$((i + 1)); done; grep -qF -- "$2" "$1"; }
free_port () { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# A test CA; server certificates for localhost/127.0.0.1 (what the clients connect to).
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=ingress-test-ca \
  -keyout "$TEST_TMP/ca.key" -out "$TEST_TMP/ca.pem" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$TEST_TMP/ext"
mkcert () { # KEY CERT CN
  openssl req -newkey rsa:2048 -nodes -subj "/CN=$3" -keyout "$1" -out "$TEST_TMP/csr" 2>/dev/null
  openssl x509 -req -in "$TEST_TMP/csr" -CA "$TEST_TMP/ca.pem" -CAkey "$TEST_TMP/ca.key" \
    -CAcreateserial -days 2 -extfile "$TEST_TMP/ext" -out "$2" 2>/dev/null
}

PLAIN=$(free_port); TLS=$(free_port); ENCL=$(free_port)
# DEAD: a port bound but not listening (held by a process for the whole test), so no
# other program can take it and connecting to it is refused
python3 -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1], flush=True); time.sleep(3600)' \
  >"$TEST_TMP/dead-port" &
DEAD_PID=$!; PIDS="$PIDS $!"
i=0; while [ ! -s "$TEST_TMP/dead-port" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
DEAD=$(cat "$TEST_TMP/dead-port")
H_PLAIN=$(free_port); H_TLS=$(free_port); H_ENCL=$(free_port); H_DEAD=$(free_port)
# TLS: the manifest names files under /srv/tls; ENCL's are absent, so Enclaver's place
mkcert "$ROOT/srv/tls/key.pem" "$ROOT/srv/tls/cert.pem" manifest-named
mkdir -p "$ROOT/etc/enclaver/tls/server/$ENCL"
mkcert "$ROOT/etc/enclaver/tls/server/$ENCL/key.pem" "$ROOT/etc/enclaver/tls/server/$ENCL/cert.pem" enclaver-place

manifest () { # the ingress list as `enclaver manifest -o json` prints it
  cat <<JSON
{"name": "ingress-test",
 "ingress": [{"listen_port": $PLAIN},
             {"listen_port": $TLS, "tls": {"key_file": "/srv/tls/key.pem", "cert_file": "srv/tls/cert.pem"}},
             {"listen_port": $ENCL, "tls": {"key_file": "/nowhere/key.pem", "cert_file": "/nowhere/cert.pem"}},
             {"listen_port": $DEAD}],
 "vsock_ports": {"status_port": 17000, "app_log_port": 17001, "http_egress_port": 17002}}
JSON
}
manifest >"$TEST_TMP/manifest.json"
svconf () { # MANIFEST: the supervisor listens where the local backend's enclave_addr points
  python3 - "$1" "$D" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
ports = [e["listen_port"] for e in m["ingress"]]
print(json.dumps({"manifest": m,
                  "ingress": {"listen": {str(p): "unix:%s/enclave-%d.sock" % (sys.argv[2], p) for p in ports},
                              "handshake_timeout": 1}}))
PY
}
svconf "$TEST_TMP/manifest.json" >"$TEST_TMP/sv.json"

"$LL" --name ingress-test --run-dir "$TEST_TMP/run" --dir "$D" \
  --ingress "$PLAIN" --ingress "$TLS" --ingress "$ENCL" --ingress "$DEAD" \
  --publish "127.0.0.1:$H_PLAIN:$PLAIN" --publish "127.0.0.1:$H_TLS:$TLS" \
  --publish "127.0.0.1:$H_ENCL:$ENCL" --publish "127.0.0.1:$H_DEAD:$DEAD" -- \
  -c "$TEST_TMP/sv.json" --no-bootstrap --rootfs "$ROOT" -- $APP "$PLAIN" "$TLS" "$ENCL" \
  >"$TEST_TMP/launcher.log" 2>&1 &
PIDS="$PIDS $!"
if ! wait_for "$TEST_TMP/launcher.log" app-ready; then
  not_ok "the enclave's app started"; diag "$(cat "$TEST_TMP/launcher.log")"; done_testing; exit 1
fi
ok "the enclave's app started with four ingress ports"
LOG=$(cat "$TEST_TMP/launcher.log")
expect_in "log: the TLS port uses the manifest's certificate inside the image" "$LOG" \
  "ingress port $TLS: TLS with the certificate $ROOT/srv/tls/cert.pem"
expect_in "log: the port whose named files are absent uses Enclaver's place" "$LOG" \
  "ingress port $ENCL: TLS with the certificate $ROOT/etc/enclaver/tls/server/$ENCL/cert.pem"

# --- plain ---
run_cmd curl -sS "http://127.0.0.1:$H_PLAIN/"
expect_rc "plain: curl through the published port, exit 0" 0
expect_in "plain: the app's answer" "$OUT" "hello from the app on port $PLAIN, peer 127.0.0.1"
run_cmd curl -sS "http://127.0.0.1:$H_PLAIN/" "http://127.0.0.1:$H_PLAIN/"
expect_in "plain: two requests on one connection" "$OUT" "port $PLAIN, peer 127.0.0.1
hello from the app on port $PLAIN"

# --- TLS with the manifest's files ---
run_cmd curl -sS --cacert "$TEST_TMP/ca.pem" "https://localhost:$H_TLS/"
expect_rc "TLS: curl verifies the certificate, exit 0" 0
expect_in "TLS: the app's answer, decrypted by the supervisor" "$OUT" "hello from the app on port $TLS, peer 127.0.0.1"
run_cmd curl -sS -v --tlsv1.2 --tls-max 1.2 --cacert "$TEST_TMP/ca.pem" "https://localhost:$H_TLS/"
expect_in "TLS 1.2 is accepted" "$ERR" "TLSv1.2"
expect_in "TLS 1.2: a forward-secret AEAD cipher" "$ERR" "ECDHE-RSA-AES"
run_cmd curl -sS -v --cacert "$TEST_TMP/ca.pem" "https://localhost:$H_TLS/"
expect_in "TLS 1.3 by default" "$ERR" "TLSv1.3"
expect_in "TLS: the manifest-named certificate is presented" "$ERR" "CN=manifest-named"
# TLS 1.1 offered alone is refused (the client allows it at security level 0)
run_cmd openssl s_client -connect "127.0.0.1:$H_TLS" -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0' </dev/null
[ "$RC" -ne 0 ] && ok "TLS 1.1 alone is refused" || { not_ok "TLS 1.1 alone is refused"; diag "$OUT"; }

# 20 MiB each way, hashed at the far end
head -c 20971520 /dev/urandom >"$TEST_TMP/up"
WANT=$(sha256sum "$TEST_TMP/up" | cut -d' ' -f1)
run_cmd curl -sS --cacert "$TEST_TMP/ca.pem" --data-binary "@$TEST_TMP/up" "https://localhost:$H_TLS/sha"
expect_in "TLS: 20 MiB upload arrives intact (the app's hash)" "$OUT" "$WANT"
WANT=$(python3 -c 'import hashlib; p=bytes(range(256))*256; print(hashlib.sha256(p*320).hexdigest())')
run_cmd sh -c "curl -sS --cacert '$TEST_TMP/ca.pem' 'https://localhost:$H_TLS/big?n=20971520' | sha256sum"
expect_in "TLS: 20 MiB download arrives intact" "$OUT" "$WANT"

# --- TLS from Enclaver's place, with openssl s_client ---
run_cmd sh -c "printf 'GET / HTTP/1.0\r\n\r\n' | openssl s_client -connect 127.0.0.1:$H_ENCL -servername localhost \
  -CAfile '$TEST_TMP/ca.pem' -verify_return_error -ign_eof 2>&1"
expect_in "s_client: the certificate verifies" "$OUT" "Verify return code: 0 (ok)"
expect_in "s_client: Enclaver's place's certificate" "$OUT" "CN = enclaver-place"
expect_in "s_client: the app's answer" "$OUT" "hello from the app on port $ENCL"
expect_in "s_client: no renegotiation offered" "$OUT" "Secure Renegotiation IS NOT supported"

# --- bad clients ---
run_cmd curl -sS -m 10 "http://127.0.0.1:$H_TLS/"
[ "$RC" -ne 0 ] && ok "plain HTTP on a TLS port: the connection fails" || not_ok "plain HTTP on a TLS port fails"
wait_for "$TEST_TMP/launcher.log" "ingress port $TLS: TLS connection ended on the client side: TLS handshake failed" \
  && ok "log: the failed handshake, once" || { not_ok "log: the failed handshake"; diag "$(tail -5 "$TEST_TMP/launcher.log")"; }
# a client that connects and says nothing: closed after handshake_timeout (1 s here)
run_cmd python3 -c "
import socket, time
s = socket.create_connection(('127.0.0.1', $H_TLS)); s.settimeout(30)
print('closed' if s.recv(1) == b'' else 'data')"
expect_in "a silent client is closed by the handshake timeout" "$OUT" "closed"
wait_for "$TEST_TMP/launcher.log" "no TLS handshake within 1000 ms" \
  && ok "log: the handshake timeout" || not_ok "log: the handshake timeout"
run_cmd curl -sS --cacert "$TEST_TMP/ca.pem" "https://localhost:$H_TLS/"
expect_in "the TLS port still serves after the bad clients" "$OUT" "hello from the app on port $TLS"
# the app does not listen on DEAD
run_cmd curl -sS -m 10 "http://127.0.0.1:$H_DEAD/"
[ "$RC" -ne 0 ] && ok "a port the app does not serve: the connection is closed" || not_ok "closed when the app does not listen"
# About one run in ten under ASan on a loaded machine, curl got an empty reply and no
# line came (neither side logged; not understood yet): the first miss is shown and a
# second connection must be logged, so a log that never comes still fails.
DEADLINE="ingress port $DEAD: cannot reach the app at tcp:127.0.0.1:$DEAD"
if ! wait_for "$TEST_TMP/launcher.log" "$DEADLINE" 150; then
  diag "no log line for the first connection to the dead port (curl: $ERR); the launcher's log:"
  diag "$(cat "$TEST_TMP/launcher.log")"
  diag "the port holder: $(ps -o pid=,args= -p "$DEAD_PID" 2>&1)"
  # the supervisor's own stderr (the local backend's console): logged but lost on the
  # way to the launcher, or never logged?
  diag "the console's lines for the port: $(grep -F "ingress port $DEAD" "$D/console.log" 2>&1)"
  run_cmd curl -sS -m 10 "http://127.0.0.1:$H_DEAD/"
fi
wait_for "$TEST_TMP/launcher.log" "$DEADLINE" \
  && ok "log: the app is not listening, naming the address" || { not_ok "log: the app is not listening"; diag "curl: $ERR"; diag "$(cat "$TEST_TMP/launcher.log")"; }

# --- shutdown drains: an answer the app wrote just before it ended still reaches the
# client.  The host stops the enclave the moment it reads the final status (Enclaver's
# host does), so the supervisor must drain before it reports: here a watcher plays that
# host, killing the supervisor with SIGKILL as soon as "exited" arrives. ---
SV=$top_builddir/runtime/enclaver-supervisor
ONE=$(free_port); H_ONE=$(free_port)
python3 - "$ONE" "$H_ONE" >"$TEST_TMP/sv4.json" <<'PY'
import json, sys
p = int(sys.argv[1])
print(json.dumps({"manifest": {"name": "drain", "ingress": [{"listen_port": p}]},
                  "ingress": {"listen": {str(p): "tcp:127.0.0.1:%s" % sys.argv[2]}},
                  "net": {"drain_timeout": 30}}))
PY
cat >"$TEST_TMP/oneshot.py" <<'PY'
import socket, sys
# answer one request with 4 MiB, close, and end at once: most of the answer is still in
# the socket buffers and the relay when the app is gone
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1)
print("oneshot-ready", flush=True)
c, _ = s.accept(); c.recv(4096)
body = bytes(range(256)) * 16384
c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
c.close()
PY
"$SV" -c "$TEST_TMP/sv4.json" --status-addr "unix:$TEST_TMP/st4" --log-addr "unix:$TEST_TMP/lg4" \
  --no-bootstrap -- python3 "$TEST_TMP/oneshot.py" "$ONE" >"$TEST_TMP/sv4.out" 2>"$TEST_TMP/sv4.err" &
SV4=$!
PIDS="$PIDS $SV4"
wait_for "$TEST_TMP/sv4.out" oneshot-ready
# the watcher: SIGKILL at the final status
python3 - "$TEST_TMP/st4" "$SV4" >"$TEST_TMP/watch.out" <<'PY' &
import os, signal, socket, sys, time
s = socket.socket(socket.AF_UNIX)
for _ in range(100):
    try:
        s.connect(sys.argv[1]); break
    except OSError:
        time.sleep(0.1)
buf = b""
while b'"exited"' not in buf:
    b = s.recv(4096)
    if not b:
        break
    buf += b
os.kill(int(sys.argv[2]), signal.SIGKILL)
print("killed at:", buf.decode(errors="replace").strip().splitlines()[-1] if buf else "nothing")
PY
WATCH=$!
# the client: a small receive buffer, and it reads slowly, so the answer is in flight
python3 - "$H_ONE" >"$TEST_TMP/drain.out" <<'PY'
import hashlib, socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
s.connect(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
time.sleep(1.5)
data = b""
s.settimeout(60)
while True:
    try:
        b = s.recv(8192)
    except OSError:
        break
    if not b:
        break
    data += b
    time.sleep(0.001)
body = data.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in data else b""
print(len(body), hashlib.sha256(body).hexdigest())
PY
wait "$WATCH"
WANT=$(python3 -c 'import hashlib; b=bytes(range(256))*16384; print(len(b), hashlib.sha256(b).hexdigest())')
expect_in "drain: the whole answer reached the client although the 'host' killed the supervisor at the final status" \
  "$(cat "$TEST_TMP/drain.out")" "$WANT"
expect_in "drain: the watcher saw the final status" "$(cat "$TEST_TMP/watch.out")" '"exited"'

# --- start-up errors: fatal before the app runs, naming the file ---
start_fail () { # NAME MANIFEST-EDIT EXPECTED-TEXT
  python3 - "$TEST_TMP/manifest.json" "$2" >"$TEST_TMP/m2.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1])); exec(sys.argv[2]); print(json.dumps(m))
PY
  svconf "$TEST_TMP/m2.json" | sed "s|$D|$TEST_TMP/enc2|g" >"$TEST_TMP/sv2.json"
  mkdir -p "$TEST_TMP/enc2"
  run_cmd "$LL" --name ingress-bad --run-dir "$TEST_TMP/run2" --dir "$TEST_TMP/enc2" -- \
    -c "$TEST_TMP/sv2.json" --no-bootstrap --rootfs "$ROOT" -- /bin/echo app-ran
  [ "$RC" -ne 0 ] && ok "$1: the enclave fails (exit $RC)" || not_ok "$1: the enclave fails"
  expect_in "$1: the error" "$OUT$ERR" "$3"
  case $OUT$ERR in *app-ran*) not_ok "$1: the app did not run" ;; *) ok "$1: the app did not run" ;; esac
}
start_fail "a missing key" 'm["ingress"][1]["tls"]["key_file"] = "/srv/tls/nokey.pem"' \
  "ingress[1] (port $TLS): TLS: cannot read the private key $ROOT/srv/tls/nokey.pem: No such file or directory"
mkcert "$ROOT/srv/tls/other.key" "$ROOT/srv/tls/other.pem" other
start_fail "a key of another certificate" 'm["ingress"][1]["tls"]["key_file"] = "/srv/tls/other.key"' \
  "does not match the certificate $ROOT/srv/tls/cert.pem"
printf 'not a certificate\n' >"$ROOT/srv/tls/junk.pem"
start_fail "a certificate that is not PEM" 'm["ingress"][1]["tls"]["cert_file"] = "/srv/tls/junk.pem"' \
  "$ROOT/srv/tls/junk.pem is not a PEM certificate"
start_fail "neither the named files nor Enclaver's place" 'm["ingress"][2]["listen_port"] = 1' \
  "Enclaver's place was tried"

# --- --publish errors (the host half) ---
run_cmd "$LL" --name p --run-dir "$TEST_TMP/run3" --dir "$TEST_TMP/enc3" --ingress "$PLAIN" --publish "127.0.0.1:$H_PLAIN:1" -- /bin/true
expect_rc "--publish of a port the manifest lacks: exit 2" 2
expect_in "--publish: the error names the manifest's ports" "$ERR" "$PLAIN"
run_cmd "$LL" --name p --run-dir "$TEST_TMP/run3" --dir "$TEST_TMP/enc3" --ingress "$PLAIN" --publish "1.2.3:80:$PLAIN" -- /bin/true
expect_rc "--publish with a bad address: exit 2" 2
expect_in "--publish: the bad address is named" "$ERR" "'1.2.3' is not a dotted IPv4 address"
done_testing
