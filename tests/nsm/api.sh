#!/bin/bash
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
# The attestation API end to end: the real enclaver-supervisor (run with -c FILE) serves
# /v1/attestation and /v1/pcrs from the strict fake NSM (tests/nsm/fake-nsm.py, over the
# NSM client's unix: seam); curl is the client; the documents it returns are checked by
# the real `enclaver verify --attestation ... --root` against the fake's test CA.
. "$top_srcdir/tests/lib.sh"
for t in curl python3 openssl; do
  command -v $t >/dev/null || skip_all "$t is not installed"
done
SV="$top_builddir/runtime/enclaver-supervisor"
FAKE="$top_srcdir/tests/nsm/fake-nsm.py"
cd "$TEST_TMP" || exit 1
SV_PID=
NSM_PID=
cleanup () {
  [ -n "$SV_PID" ] && kill "$SV_PID" 2>/dev/null && wait "$SV_PID" 2>/dev/null
  [ -n "$NSM_PID" ] && kill "$NSM_PID" 2>/dev/null
  rm -rf "$TEST_TMP"
}
trap cleanup EXIT

# wait_for WHAT COMMAND...: retry the command for at most 60 s (a hang guard only)
wait_for () {
  tap_argc wait_for 2 - "$@"
  local what=$1 i=0
  shift
  while ! "$@" 2>/dev/null; do
    i=$((i + 1))
    if [ $i -ge 600 ]; then diag "gave up waiting for $what"; return 1; fi
    sleep 0.1
  done
}

python3 "$FAKE" "$TEST_TMP/nsm.sock" "$TEST_TMP/ca" "$TEST_TMP/nsm.pid" 2>nsm.err &
NSM_PID=$!
wait_for "the fake NSM" test -s nsm.pid || { cat nsm.err; exit 1; }
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >sv.json <<EOF
{"manifest": {"api": {"listen_port": $PORT}},
 "nsm": {"device": "unix:$TEST_TMP/nsm.sock"},
 "api": {"header_timeout_ms": 1000}}
EOF
"$SV" -c sv.json --status-addr "unix:$TEST_TMP/status" --log-addr "unix:$TEST_TMP/log" \
  --no-bootstrap -- sleep 600 >console.out 2>console.err &
SV_PID=$!
URL=http://127.0.0.1:$PORT
wait_for "the API on port $PORT" curl -s -o /dev/null "$URL/v1/pcrs" || { cat console.err; exit 1; }

# post NAME BODYFILE [CURL ARGS...]: POST /v1/attestation; sets CODE, CTYPE; body in NAME
post () {
  tap_argc post 2 - "$@"
  local out=$1 body=$2
  shift 2
  read -r CODE CTYPE < <(curl -s -o "$out" -w '%{http_code} %{content_type}\n' -X POST \
    --data-binary @"$body" "$@" "$URL/v1/attestation${Q:-}")
}
b64 () { tap_argc b64 1 1 "$@"; printf '%s' "$1" | base64 -w0; }
hexof () { tap_argc hexof 1 1 "$@"; printf '%s' "$1" | od -An -v -tx1 | tr -d ' \n'; }
verify () { tap_argc verify 1 - "$@"; run_cmd "$top_builddir/enclaver" verify --attestation "$1" --root ca/root.pem --pcrs ca/pcrs.json "${@:2}"; }

# ---- the fake itself is strict: what the NSM would refuse, it refuses ----
# nsm_raw HEX: send request bytes to the fake NSM, print the answer as hex
nsm_raw () {
  tap_argc nsm_raw 1 1 "$@"
  python3 "$top_srcdir/tests/nsm/nsm-raw.py" "$TEST_TMP/nsm.sock" "$1"
}
err_of () { tap_argc err_of 1 1 "$@"; python3 -c 'import sys; print(bytes.fromhex(sys.argv[1])[7:].decode("latin-1"))' "$1"; }
expect_in "fake NSM: DescribePCR{16} answers" "$(nsm_raw a16b4465736372696265504352a165696e64657810)" \
  "a16b4465736372696265504352a2646c6f636bf46464617461"
expect_in "fake NSM: a non-minimal index (19 0010) is refused" \
  "$(err_of "$(nsm_raw a16b4465736372696265504352a165696e646578190010)")" "InvalidOperation"
expect_in "fake NSM: PCR 32 is InvalidIndex" \
  "$(err_of "$(nsm_raw a16b4465736372696265504352a165696e6465781820)")" "InvalidIndex"
expect_in "fake NSM: Attestation fields out of order are refused" \
  "$(err_of "$(nsm_raw a16b4174746573746174696f6ea3656e6f6e6365f669757365725f64617461f66a7075626c69635f6b6579f6)")" \
  "InvalidOperation"
expect_in "fake NSM: a text nonce is refused" \
  "$(err_of "$(nsm_raw a16b4174746573746174696f6ea369757365725f64617461f6656e6f6e636561416a7075626c69635f6b6579f6)")" \
  "InvalidOperation"
expect_in "fake NSM: a 513-byte nonce is InputTooLarge" \
  "$(err_of "$(nsm_raw "a16b4174746573746174696f6ea369757365725f64617461f6656e6f6e6365590201$(head -c 513 /dev/zero | od -An -v -tx1 | tr -d ' \n')6a7075626c69635f6b6579f6")")" \
  "InputTooLarge"
expect_in "fake NSM: trailing bytes are refused" "$(err_of "$(nsm_raw 6947657452616e646f6d00)")" "InvalidOperation"

# ---- documents ----
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa.key 2>/dev/null
openssl pkey -in rsa.key -pubout -out pub.pem
openssl pkey -in rsa.key -pubout -outform DER -out pub.der
NONCE=nonce-$RANDOM-$$
UD='user data for the test'
python3 -c 'import json,sys; print(json.dumps({"nonce": sys.argv[1], "user_data": sys.argv[2], "public_key": open("pub.pem").read()}))' \
  "$(b64 "$NONCE")" "$(b64 "$UD")" >req1.json
post doc1.cbor req1.json
expect_rc_code () { tap_argc expect_rc_code 2 2 "$@"; if [ "$CODE" = "$2" ]; then ok "$1"; else not_ok "$1"; diag "HTTP $CODE, expected $2"; fi; }
expect_rc_code "POST /v1/attestation with nonce, user_data and a PEM key: 200" 200
expect_in "... as application/cbor" "$CTYPE" "application/cbor"
verify doc1.cbor --nonce "$(hexof "$NONCE")" --user-data "$(hexof "$UD")" --public-key pub.pem
expect_rc "... and enclaver verify accepts it with that nonce, user_data and public key" 0
verify doc1.cbor --nonce "$(hexof "other")"
expect_rc "... but not with another nonce" 1
expect_in "... naming the nonce" "$ERR" "nonce"
verify doc1.cbor --user-data "$(hexof "other")"
expect_rc "... nor with other user data" 1
run_cmd "$top_builddir/enclaver" verify --attestation doc1.cbor
expect_rc "... nor against the AWS root (it is a test CA's document)" 1

python3 -c 'import base64,json; print(json.dumps({"public_key": base64.b64encode(open("pub.der","rb").read()).decode()}))' >req2.json
post doc2.cbor req2.json
expect_rc_code "public_key as base64 DER: 200" 200
verify doc2.cbor --public-key pub.der
expect_rc "... and the document carries that DER key" 0

: >empty.json
post doc3.cbor empty.json
expect_rc_code "an empty body (no fields): 200" 200
verify doc3.cbor
expect_rc "... the document verifies" 0
last_req=$(tail -n 1 ca/requests.log)
expect_in "... and the NSM got nulls for all three (the §2.2 bytes)" "$last_req" \
  "a16b4174746573746174696f6ea369757365725f64617461f6656e6f6e6365f66a7075626c69635f6b6579f6"

printf '{"nonce": "%s"}' "$(head -c 512 /dev/urandom | base64 -w0)" >n512.json
post doc4.cbor n512.json -H 'Expect: 100-continue'
expect_rc_code "a 512-byte nonce (the limit), sent with Expect: 100-continue: 200" 200
Q="?encoding=base64" post doc5.b64 req1.json
expect_rc_code "?encoding=base64: 200" 200
base64 -d doc5.b64 >doc5.cbor 2>/dev/null
verify doc5.cbor --nonce "$(hexof "$NONCE")"
expect_rc "... the base64 text is a document that verifies" 0

# ---- PCRs ----
curl -s -o pcrs.json -w '%{http_code}\n' "$URL/v1/pcrs" >code
expect_in "GET /v1/pcrs: 200" "$(cat code)" "200"
check "... PCR0-15 as hex, equal to the NSM's" python3 -c 'import json,sys
a=json.load(open("pcrs.json")); b=json.load(open("ca/pcrs.json"))
sys.exit(0 if a==b and len(a)==16 else "%r != %r" % (a,b))'
curl -s -o pcrs64.json "$URL/v1/pcrs?encoding=base64"
check "?encoding=base64: the same values in base64" python3 -c 'import json,sys,base64
a=json.load(open("pcrs64.json")); b=json.load(open("ca/pcrs.json"))
sys.exit(0 if {k: base64.b64decode(v).hex() for k,v in a.items()}==b else "mismatch")'
verify doc1.cbor --pcrs pcrs.json
expect_rc "the /v1/pcrs output is a --pcrs file enclaver verify reads" 0

# ---- errors ----
# status METHOD PATH [CURL ARGS...]: sets CODE, HDRS (response head), BODY
status () {
  tap_argc status 2 - "$@"
  local m=$1 p=$2
  shift 2
  curl -s -D hdrs -o body -X "$m" "$@" "$URL$p" >/dev/null
  CODE=$(head -n 1 hdrs | cut -d' ' -f2)
  HDRS=$(cat hdrs)
  BODY=$(cat body)
}
is_json_error () { python3 -c 'import json,sys; d=json.load(open("body")); sys.exit(0 if isinstance(d.get("error"),str) and d["error"] else 1)'; }
status GET /nope
expect_rc_code "GET /nope: 404" 404
check "... with a JSON error" is_json_error
status GET /v1/attestation
expect_rc_code "GET /v1/attestation: 405" 405
expect_in "... with Allow: POST" "$HDRS" "Allow: POST"
status DELETE /v1/pcrs
expect_rc_code "DELETE /v1/pcrs: 405" 405
expect_in "... with Allow: GET" "$HDRS" "Allow: GET"
status POST /v1/attestation -d '{"nonce": "not base64!"}'
expect_rc_code "bad base64 nonce: 400" 400
expect_in "... naming the field" "$BODY" '\"nonce\" is not valid base64'
status POST /v1/attestation -d '{"nonce": "QQ="}'
expect_rc_code "base64 with wrong padding: 400" 400
status POST /v1/attestation -d '{"nonce": '
expect_rc_code "broken JSON: 400" 400
expect_in "... saying JSON" "$BODY" "not valid JSON"
status POST /v1/attestation -d '["nonce"]'
expect_rc_code "a JSON array body: 400" 400
status POST /v1/attestation -d '{"nonce": "QUFB", "nonce": "QkJC"}'
expect_rc_code "a field twice: 400" 400
status POST /v1/attestation -d '{"nounce": "QUFB"}'
expect_rc_code "an unknown field: 400" 400
expect_in "... naming it" "$BODY" "nounce"
status POST /v1/attestation -d '{"nonce": 12}'
expect_rc_code "a number for nonce: 400" 400
printf '{"nonce": "%s"}' "$(head -c 513 /dev/urandom | base64 -w0)" >n513.json
status POST /v1/attestation --data-binary @n513.json
expect_rc_code "a 513-byte nonce: 400" 400
expect_in "... naming the limit" "$BODY" "limit of 512"
printf '{"user_data": "%s"}' "$(head -c 513 /dev/urandom | base64 -w0)" >u513.json
status POST /v1/attestation --data-binary @u513.json
expect_rc_code "513 bytes of user_data: 400" 400
expect_in "... naming the field" "$BODY" "user_data"
python3 - <<'EOF'
# A DER SubjectPublicKeyInfo of an RSA key with a 9000-bit modulus: 1.1 KiB, over the
# NSM's 1024 bytes (OpenSSL parses it; no key of that size needs generating).
import base64, json, os
def tlv(t, b):
    n = len(b)
    l = bytes([n]) if n < 128 else (bytes([0x81, n]) if n < 256 else bytes([0x82, n >> 8, n & 255]))
    return bytes([t]) + l + b
mod = b"\x00\xc0" + os.urandom(1124) + b"\x01"
rsa = tlv(0x30, tlv(0x02, mod) + tlv(0x02, b"\x01\x00\x01"))
alg = tlv(0x30, tlv(0x06, bytes.fromhex("2a864886f70d010101")) + b"\x05\x00")
spki = tlv(0x30, alg + tlv(0x03, b"\x00" + rsa))
json.dump({"public_key": base64.b64encode(spki).decode()}, open("bigkey.json", "w"))
EOF
status POST /v1/attestation --data-binary @bigkey.json
expect_rc_code "a public key over 1024 bytes: 400" 400
expect_in "... naming the limit" "$BODY" "limit of 1024"
status POST /v1/attestation -d '{"public_key": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"}'
expect_rc_code "a broken PEM key: 400" 400
expect_in "... saying PEM" "$BODY" "PEM"
status POST /v1/attestation -d '{"public_key": "QUFBQQ=="}'
expect_rc_code "base64 that is not a DER key: 400" 400
head -c 20000 /dev/zero | tr '\0' ' ' >big.json
status POST /v1/attestation --data-binary @big.json
expect_rc_code "a 20000-byte body: 413" 413
expect_in "... naming the limit" "$BODY" "16384"
status POST /v1/attestation -H 'Transfer-Encoding: chunked' -d '{}'
expect_rc_code "a chunked body: 411" 411
status GET '/v1/pcrs?encoding=rot13'
expect_rc_code "an unknown encoding: 400" 400

# ---- hostile clients ----
# raw SEND: bytes to the port as is; the whole answer (until the server closes) in RAW
raw () {
  tap_argc raw 1 1 "$@"
  RAW=$(python3 - "$PORT" "$1" <<'EOF'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30)
s.sendall(sys.argv[2].encode("latin-1").decode("unicode_escape").encode("latin-1"))
out = b""
try:
    while True:
        c = s.recv(65536)
        if not c:
            break
        out += c
except socket.timeout:
    out += b" [no close within 30 s]"
sys.stdout.write(out.decode("latin-1"))
EOF
)
}
raw 'POST /v1/attestation HTTP/1.1\r\nHost: x\r\nContent-Le'
expect_in "a client that stops in the middle of its head is cut off with 408" "$RAW" "HTTP/1.1 408"
case $RAW in *"no close"*) not_ok "... and the connection closed"; diag "$RAW" ;; *) ok "... and the connection closed" ;; esac
raw 'POST /v1/attestation HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"nonce"'
expect_in "a client that stops in the middle of its body: 408 too" "$RAW" "HTTP/1.1 408"
raw '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n'
expect_in "a TLS hello to the plain port: 400" "$RAW" "HTTP/1.1 400"
raw "GET /$(head -c 9000 /dev/zero | tr '\0' a) HTTP/1.1\r\n\r\n"
expect_in "a 9000-byte request line: refused (431)" "$RAW" "HTTP/1.1 431"
raw 'GET /\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n'
expect_in "bytes outside ASCII in the target: 400 with a JSON error" "$RAW" '{"error":'
raw 'GET /v1/pcrs HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n'
expect_in "a negative Content-Length: 400" "$RAW" "HTTP/1.1 400"
raw 'GET /v1/pcrs HTTP/1.1\r\nHost: x\r\n\r\nGET /v1/pcrs HTTP/1.1\r\nHost: x\r\n\r\n'
expect_in "two pipelined requests: the first is answered" "$RAW" "HTTP/1.1 200"
python3 - "$PORT" <<'EOF'
# Random bytes and half-open connections: none of them may take the server down.
import os, socket, sys
port = int(sys.argv[1])
socks = []
for i in range(40):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(os.urandom(1 + i * 97))
    if i % 2:
        s.close()
    else:
        socks.append(s)
EOF
status GET /v1/pcrs
expect_rc_code "after garbage and dropped connections the API still answers" 200
check "... and the supervisor still runs" kill -0 "$SV_PID"

log=$(cat console.err)
expect_in "one log line per request, with peer, method, path and status" "$log" \
  "api: 127.0.0.1:"
expect_in "... e.g. the 413" "$log" "POST /v1/attestation: 413"

# The bootstrap seeds the kernel RNG from the same NSM (nsm.device), not a fixed /dev/nsm.
printf '{"nsm": {"device": "unix:%s/nsm.sock"}}\n' "$TEST_TMP" >sv3.json
before=$(grep -c '"GetRandom"' ca/requests.log)
"$SV" -c sv3.json --status-addr "unix:$TEST_TMP/status3" --log-addr "unix:$TEST_TMP/log3" \
  -- true >console3.out 2>console3.err
expect_in "bootstrap: the RNG is seeded from nsm.device" "$(cat console3.err)" \
  "seeded the kernel RNG from unix:$TEST_TMP/nsm.sock"
after=$(grep -c '"GetRandom"' ca/requests.log)
[ "$after" -gt "$before" ] && ok "bootstrap: the NSM answered a GetRandom for it" \
  || { not_ok "bootstrap: the NSM answered a GetRandom for it"; diag "$(tail -3 ca/requests.log)"; }
cat console3.err >>console.err

# ---- the NSM gone ----
kill "$NSM_PID"; wait "$NSM_PID" 2>/dev/null; NSM_PID=
status POST /v1/attestation -d '{}'
expect_rc_code "without the NSM: 502" 502
expect_in "... naming the NSM at fault" "$BODY" "unix:$TEST_TMP/nsm.sock"

kill "$SV_PID"; wait "$SV_PID"; RC=$?; SV_PID=
OUT=; ERR=
expect_rc "the supervisor ends with the app's status on SIGTERM" 143

# A second supervisor: the listener moved to a Unix socket (supervisor.json "api.listen")
# and no NSM device at all: it starts, warns, and answers 503.
cat >sv2.json <<EOF
{"manifest": {"api": {"listen_port": $PORT}},
 "nsm": {"device": "$TEST_TMP/no-such-nsm"},
 "api": {"listen": "unix:$TEST_TMP/api.sock"}}
EOF
"$SV" -c sv2.json --status-addr "unix:$TEST_TMP/status2" --log-addr "unix:$TEST_TMP/log2" \
  --no-bootstrap -- sleep 600 >console2.out 2>console2.err &
SV_PID=$!
wait_for "the API on $TEST_TMP/api.sock" test -S "$TEST_TMP/api.sock"
CODE=$(curl -s -o body -w '%{http_code}' --unix-socket "$TEST_TMP/api.sock" http://x/v1/pcrs)
expect_rc_code "api.listen moves the API to a Unix socket; without an NSM: 503" 503
expect_in "... naming the missing device" "$(cat body)" "$TEST_TMP/no-such-nsm"
expect_in "... and the start says so on the console" "$(cat console2.err)" "will answer 503"
kill "$SV_PID"; wait "$SV_PID"; SV_PID=
cat console2.err >>console.err

# In the sanitizer build, a memory error or leak of the supervisor ends up here.
if grep -qE 'Sanitizer|runtime error' console.err; then
  not_ok "the supervisor's console has no sanitizer report"; diag "$(grep -A20 -E 'Sanitizer|runtime error' console.err | head -40)"
else ok "the supervisor's console has no sanitizer report"; fi
done_testing
