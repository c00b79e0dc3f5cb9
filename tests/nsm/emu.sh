#!/bin/bash
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
# The emulated NSM of `enclaver run --qemu` (runtime/host/nsm-emu.c) over the transport
# seam: tests/runtime/launcher-local serves it on host-17005.sock (as the QEMU backend
# does on 127.0.0.1:17005) and runs the real supervisor, whose attestation API uses it.
# curl is the app's client; the documents are checked by the real `enclaver verify`
# against the development CA the service makes; raw requests check that it refuses
# what the NSM refuses and survives what a broken client sends.  (tests/boot/net.sh
# does the same through a real EIF under QEMU.)
. "$top_srcdir/tests/lib.sh"
for t in curl python3 openssl; do
  command -v $t >/dev/null || skip_all "$t is not installed"
done
LL=$top_builddir/tests/runtime/launcher-local
ENCLAVER=$top_builddir/enclaver
D=$TEST_TMP/enc
CA=$TEST_TMP/dev-ca
mkdir -p "$D"
PIDS=
cleanup () { touch "$D/stop"; for p in $PIDS; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$TEST_TMP"; }
trap cleanup EXIT
wait_file () {
  tap_argc wait_file 2 2 "$@"
  local i=0
  while ! grep -qF -- "$2" "$1" 2>/dev/null && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
  grep -qF -- "$2" "$1"
}
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
P0=$(head -c 48 /dev/urandom | od -An -v -tx1 | tr -d ' \n')
P1=$(head -c 48 /dev/urandom | od -An -v -tx1 | tr -d ' \n')
P2=$(head -c 48 /dev/urandom | od -An -v -tx1 | tr -d ' \n')
cat >"$TEST_TMP/sv.json" <<EOF
{"manifest": {"api": {"listen_port": $PORT}},
 "nsm": {"device": "unix:$D/host-17005.sock"}}
EOF
"$LL" --name emu-test --run-dir "$TEST_TMP/run" --dir "$D" --nsm-emu "$CA" --nsm-emu-pcrs "$P0,$P1,$P2" -- \
  -c "$TEST_TMP/sv.json" --no-bootstrap -- /bin/sh -c \
  "echo app-ready; while [ ! -e $D/stop ]; do sleep 0.1; done" >"$TEST_TMP/launcher.log" 2>&1 &
LPID=$!
PIDS="$PIDS $LPID"
if ! wait_file "$TEST_TMP/launcher.log" app-ready; then
  not_ok "the enclave started with the emulated NSM"; diag "$(cat "$TEST_TMP/launcher.log")"; done_testing; exit 1
fi
ok "the enclave started with the emulated NSM"
LOG=$(cat "$TEST_TMP/launcher.log")
expect_in "the launcher names the development CA it made" "$LOG" "development CA $CA/dev-ca.pem, made now"
expect_in "... and says what it is worth" "$LOG" "they prove nothing about isolation"
check "the CA's key is private to its owner (0600)" test "$(stat -c %a "$CA/dev-ca.key")" = 600
check "the CA is a P-384 CA certificate" sh -c "openssl x509 -in '$CA/dev-ca.pem' -noout -text | grep -q 'CA:TRUE' &&
  openssl x509 -in '$CA/dev-ca.pem' -noout -text | grep -q 'NIST CURVE: P-384'"
SUM=$(sha256sum "$CA/dev-ca.pem" | cut -d' ' -f1)

# ---- documents through the attestation API ----
URL=http://127.0.0.1:$PORT
NONCE=nonce-$$-$RANDOM
NHEX=$(printf '%s' "$NONCE" | od -An -v -tx1 | tr -d ' \n')
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$TEST_TMP/k.pem" 2>/dev/null
openssl pkey -in "$TEST_TMP/k.pem" -pubout -out "$TEST_TMP/pub.pem"
python3 -c 'import base64,json,sys; print(json.dumps({"nonce": base64.b64encode(sys.argv[1].encode()).decode(), "user_data": "dXNlcg==", "public_key": open(sys.argv[2]).read()}))' \
  "$NONCE" "$TEST_TMP/pub.pem" >"$TEST_TMP/req.json"
CODE=$(curl -s -o "$TEST_TMP/doc.cbor" -w '%{http_code}' -X POST --data-binary @"$TEST_TMP/req.json" "$URL/v1/attestation")
expect_in "POST /v1/attestation: 200 from the emulated NSM" "$CODE" "200"
run_cmd "$ENCLAVER" verify --attestation "$TEST_TMP/doc.cbor" --root "$CA/dev-ca.pem" --pcr0 "$P0" --pcr1 "$P1" \
  --pcr2 "$P2" --nonce "$NHEX" --user-data 75736572 --public-key "$TEST_TMP/pub.pem"
expect_rc "enclaver verify --root DEV-CA: signature, chain, PCRs, nonce, user data and key hold" 0
[ "$RC" = 0 ] || diag "$ERR"
run_cmd "$ENCLAVER" verify --attestation "$TEST_TMP/doc.cbor" --root "$CA/dev-ca.pem" --pcr0 "$P1"
expect_rc "... another PCR0 is refused" 1
expect_in "... naming PCR0" "$ERR" "PCR0"
run_cmd "$ENCLAVER" verify --attestation "$TEST_TMP/doc.cbor"
expect_rc "... and against the AWS Nitro root it fails" 1
check "the document's payload has the NSM's nine fields in its order" python3 - "$TEST_TMP/doc.cbor" <<'EOF'
import sys
d = open(sys.argv[1], "rb").read()
# untagged COSE_Sign1: 84, protected 44 a1 01 38 22, unprotected a0, payload bstr
assert d[:7] == bytes.fromhex("8444a1013822a0"), d[:7].hex()
i = 7
ai = d[i] & 31; i += 1
n = int.from_bytes(d[i:i + (1 << (ai - 24))], "big"); i += 1 << (ai - 24)
p = d[i:i + n]
assert p[0] == 0xa9, "9 fields"
keys = [b"module_id", b"digest", b"timestamp", b"pcrs", b"certificate", b"cabundle", b"public_key", b"user_data", b"nonce"]
pos = [p.find(bytes([0x60 + len(k)]) + k) for k in keys]
assert all(x > 0 for x in pos) and pos == sorted(pos), pos
EOF
curl -s -o "$TEST_TMP/pcrs.json" "$URL/v1/pcrs"
check "GET /v1/pcrs: PCR0-2 as given, PCR3 zero" python3 -c 'import json,sys
j=json.load(open(sys.argv[1])); sys.exit(0 if [j["PCR0"],j["PCR1"],j["PCR2"]]==sys.argv[2:5] and j["PCR3"]=="0"*96 else j)' \
  "$TEST_TMP/pcrs.json" "$P0" "$P1" "$P2"

# ---- raw requests: what the NSM refuses, and broken clients ----
# nsm_raw HEX [DECLARED-LENGTH]: send the bytes (after a 4-byte length, DECLARED-LENGTH
# when given), print the answer as hex ("" when the connection was closed without one)
nsm_raw () {
  tap_argc nsm_raw 1 2 "$@"
  python3 "$top_srcdir/tests/nsm/nsm-raw.py" "$D/host-17005.sock" "$@"
}
INVALID=a1654572726f7270496e76616c69644f7065726174696f6e
expect_in "DescribePCR{1}: the given PCR1, locked" "$(nsm_raw a16b4465736372696265504352a165696e64657801)" \
  "a16b4465736372696265504352a264646174615830${P1}646c6f636bf5"
expect_in "DescribePCR{32}: InvalidIndex" "$(nsm_raw a16b4465736372696265504352a165696e6465781820)" \
  "$(printf InvalidIndex | od -An -v -tx1 | tr -d ' \n')"
expect_in "a non-minimal index is refused" "$(nsm_raw a16b4465736372696265504352a165696e646578190001)" "$INVALID"
expect_in "a text nonce is refused" "$(nsm_raw a16b4174746573746174696f6ea1656e6f6e63656141)" "$INVALID"
expect_in "a field twice is refused" \
  "$(nsm_raw a16b4174746573746174696f6ea2656e6f6e63654141656e6f6e63654142)" "$INVALID"
expect_in "an unknown field is refused" "$(nsm_raw a16b4174746573746174696f6ea1656e6f6e636f4141)" "$INVALID"
expect_in "a 513-byte user_data is InputTooLarge" \
  "$(nsm_raw "a16b4174746573746174696f6ea169757365725f64617461590201$(head -c 513 /dev/zero | od -An -v -tx1 | tr -d ' \n')")" \
  "$(printf InputTooLarge | od -An -v -tx1 | tr -d ' \n')"
expect_in "ExtendPCR (PCRs are locked): InvalidOperation" \
  "$(nsm_raw a169457874656e64504352a265696e64657810646461746141ff)" "$INVALID"
expect_in "trailing bytes are refused" "$(nsm_raw 6947657452616e646f6d00)" "$INVALID"
expect_in "GetRandom: 256 bytes" "$(nsm_raw 6947657452616e646f6d | cut -c1-40)" "a169476574526"
expect_in "DescribeNSM: digest SHA384 and 16 locked PCRs" "$(nsm_raw 6b44657363726962654e534d)" \
  "6b6c6f636b65645f7063727390000102030405060708090a0b0c0d0e0f"
check "a request over 4096 bytes: the connection is closed, no answer" test -z "$(nsm_raw 00 5000)"
check "a request cut short: the connection is closed, no answer" test -z "$(nsm_raw 6947 100)"
check "garbage of every kind leaves the service answering" python3 - "$D/host-17005.sock" <<'EOF'
import os, socket, sys
for i in range(200):
    s = socket.socket(socket.AF_UNIX); s.settimeout(30); s.connect(sys.argv[1])
    g = os.urandom(i * 7 % 300 + 1)
    s.sendall(len(g).to_bytes(4, "big") + g)
    b = b""
    while True:
        c = s.recv(65536)
        if not c: break
        b += c
    assert len(b) >= 4, i
EOF
expect_in "... and still answers DescribePCR" "$(nsm_raw a16b4465736372696265504352a165696e64657800)" "$P0"

touch "$D/stop"
wait "$LPID"
expect_in "the app ended: the launcher exits 0" "$?" "0"
cat "$TEST_TMP/launcher.log" >>"$TEST_TMP/all.log"

# ---- the CA is kept across runs; a damaged one is named, not replaced ----
rm -f "$D/stop"
run_cmd "$LL" --name emu-test2 --run-dir "$TEST_TMP/run2" --dir "$D" --nsm-emu "$CA" -- \
  -c "$TEST_TMP/sv.json" --no-bootstrap -- /bin/true
expect_rc "a second run" 0
case $ERR in *"made now"*) not_ok "... uses the CA of the first"; diag "$ERR" ;; *) ok "... uses the CA of the first" ;; esac
check "... unchanged" test "$(sha256sum "$CA/dev-ca.pem" | cut -d' ' -f1)" = "$SUM"
echo "not a certificate" >"$CA/dev-ca.pem"
run_cmd "$LL" --name emu-test3 --run-dir "$TEST_TMP/run3" --dir "$D" --nsm-emu "$CA" -- \
  -c "$TEST_TMP/sv.json" --no-bootstrap -- /bin/sh -c 'echo app-ran'
expect_rc "a damaged development CA: the launcher does not start (exit 1)" 1
expect_in "... naming both files and what to do" "$ERR" "$CA/dev-ca.pem are not a usable key and certificate: remove both"
case $OUT$ERR in *app-ran*) not_ok "... and the app did not run" ;; *) ok "... and the app did not run" ;; esac
printf '%s\n' "$ERR" >>"$TEST_TMP/all.log"

if grep -qE 'Sanitizer|runtime error' "$TEST_TMP/all.log"; then
  not_ok "no sanitizer report"; diag "$(grep -A20 -E 'Sanitizer|runtime error' "$TEST_TMP/all.log" | head -40)"
else ok "no sanitizer report"; fi
done_testing
