#!/bin/bash
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
# The KMS proxy end to end: the real supervisor (the "enclave") and the host's egress half,
# run by tests/runtime/launcher-local over Unix sockets; the strict fake NSM
# (tests/nsm/fake-nsm.py) signs the Recipient's documents; the strict fake IMDSv2 + KMS
# (tests/kms/fake-kms.py) checks SigV4 with the role's rotating credentials, verifies each
# Recipient's document with the real `enclaver verify`, and seals the secrets into CMS
# for the recipient's key.  A real AWS SDK (boto3, tests/kms/kms-client.py) is the app's
# client, curl with --aws-sigv4 the raw one.  Everything the proxy sends goes out through
# the enclave's own egress proxy, so its policy applies.
. "$top_srcdir/tests/lib.sh"
for t in curl openssl python3; do
  command -v $t >/dev/null || skip_all "$t is not installed"
done
# setup-deps installs Debian's python3-boto3 for /usr/bin/python3; another python3 on
# PATH (pyenv, a venv) may have its own.
PY=
for p in /usr/bin/python3 python3; do
  if "$p" -c 'import boto3' 2>/dev/null; then PY=$p; break; fi
done
[ -n "$PY" ] || skip_all "no python3 with boto3 (scripts/setup-deps.sh installs python3-boto3)"
LL=$top_builddir/tests/runtime/launcher-local
ENCLAVER=$top_builddir/enclaver
D=$TEST_TMP/enc
mkdir -p "$D"
PIDS=
cleanup () { touch "$D/stop"; for p in $PIDS; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$TEST_TMP"; }
trap cleanup EXIT

# wait_file FILE TEXT: until FILE contains TEXT (a hang guard of 60 s, not a timing goal)
wait_file () {
  tap_argc wait_file 2 2 "$@"
  local i=0
  while ! grep -qF -- "$2" "$1" 2>/dev/null && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
  grep -qF -- "$2" "$1"
}
free_port () { tap_argc free_port 0 0 "$@"; python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# jq_py FILE EXPR: evaluate a Python expression over the JSON in FILE (as j)
jq_py () { tap_argc jq_py 2 2 "$@"; python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }
# kms_log EXPR: the requests.log lines of the fake KMS for which EXPR (over r) holds, as JSON lines
kms_log () {
  tap_argc kms_log 1 1 "$@"
  python3 -c 'import json,sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r["service"] == "kms" and eval(sys.argv[2]): print(l.strip())' "$TEST_TMP/kms/requests.log" "$1"
}

python3 "$top_srcdir/tests/nsm/fake-nsm.py" "$TEST_TMP/nsm.sock" "$TEST_TMP/ca" "$TEST_TMP/nsm.pid" \
  2>"$TEST_TMP/nsm.err" &
PIDS="$PIDS $!"
python3 "$top_srcdir/tests/kms/fake-kms.py" --dir "$TEST_TMP/kms" --enclaver "$ENCLAVER" \
  --root "$TEST_TMP/ca/root.pem" --token-ttl-cap 2 --cred-ttl 4 2>"$TEST_TMP/kms.err" &
PIDS="$PIDS $!"
i=0
while { [ ! -s "$TEST_TMP/nsm.pid" ] || [ ! -s "$TEST_TMP/kms/ports.json" ]; } && [ $i -lt 600 ]; do
  sleep 0.1; i=$((i + 1))
done
if [ ! -s "$TEST_TMP/kms/ports.json" ] || [ ! -s "$TEST_TMP/nsm.pid" ]; then
  not_ok "the fake NSM and the fake KMS started"; diag "$(cat "$TEST_TMP/nsm.err" "$TEST_TMP/kms.err")"
  done_testing; exit 1
fi
IMDS=$(jq_py "$TEST_TMP/kms/ports.json" 'j["imds"]')
KMS=$(jq_py "$TEST_TMP/kms/ports.json" 'j["kms"]')
EGRESS=$(free_port)
PROXY=$(free_port)

# The fakes are strict: a request signed with a secret IMDS never gave out is refused.
run_cmd curl -sS --cacert "$TEST_TMP/kms/ca.pem" --resolve "host:$KMS:127.0.0.1" \
  --aws-sigv4 "aws:amz:us-east-1:kms" --user "AKIAWRONG:wrong" \
  -H 'Content-Type: application/x-amz-json-1.1' -H 'X-Amz-Target: TrentService.GenerateRandom' \
  -H 'X-Amz-Security-Token: nope' -d '{"NumberOfBytes": 8}' "https://host:$KMS/"
expect_in "fake KMS: an access key IMDS never gave out is refused" "$OUT" "UnrecognizedClientException"

# manifest (as `enclaver manifest -o json` prints it) and the supervisor's test knobs
cat >"$TEST_TMP/manifest.json" <<EOF
{"name": "kms-test",
 "egress": {"enabled": true, "proxy_port": $EGRESS, "allow": ["host"]},
 "kms_proxy": {"listen_port": $PROXY, "endpoints": {"us-east-1": "host:$KMS"}},
 "vsock_ports": {"status_port": 17000, "app_log_port": 17001, "http_egress_port": 17002}}
EOF
# sv_json MANIFEST IMDS-HOST:PORT: supervisor.json for that manifest
sv_json () {
  tap_argc sv_json 2 2 "$@"
  python3 - "$1" "$D" "$EGRESS" "$2" "$TEST_TMP/kms/ca.pem" "$TEST_TMP/nsm.sock" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1]))
print(json.dumps({"manifest": m,
                  "egress": {"listen": "tcp:127.0.0.1:%s" % sys.argv[3],
                             "host_addr": "unix:%s/host-17002.sock" % sys.argv[2]},
                  "kms": {"imds": sys.argv[4], "ca_file": sys.argv[5], "timeout_ms": 20000},
                  "nsm": {"device": "unix:" + sys.argv[6]}}))
EOF
}
sv_json "$TEST_TMP/manifest.json" "host:$IMDS" >"$TEST_TMP/sv.json"

"$LL" --name kms-test --run-dir "$TEST_TMP/run" --dir "$D" --egress --manifest "$TEST_TMP/manifest.json" -- \
  -c "$TEST_TMP/sv.json" --no-bootstrap -- /bin/sh -c \
  "env | grep '^AWS_' | sort; echo app-ready; while [ ! -e $D/stop ]; do sleep 0.1; done" \
  >"$TEST_TMP/launcher.log" 2>&1 &
LPID=$!
PIDS="$PIDS $LPID"
if ! wait_file "$TEST_TMP/launcher.log" app-ready; then
  not_ok "the enclave's app started with the KMS proxy"; diag "$(cat "$TEST_TMP/launcher.log")"; done_testing; exit 1
fi
ok "the enclave's app started with the KMS proxy"
expect_in "app environment: AWS_KMS_ENDPOINT" "$(cat "$TEST_TMP/launcher.log")" "AWS_KMS_ENDPOINT=http://127.0.0.1:$PROXY"
expect_in "app environment: AWS_ENDPOINT_URL_KMS (what current AWS SDKs read)" "$(cat "$TEST_TMP/launcher.log")" \
  "AWS_ENDPOINT_URL_KMS=http://127.0.0.1:$PROXY"
URL=http://127.0.0.1:$PROXY

# ---- a real AWS SDK through the proxy ----
run_cmd "$PY" "$top_srcdir/tests/kms/kms-client.py" "$URL" "$TEST_TMP/res.json"
expect_rc "boto3's calls through the proxy ran" 0
[ "$RC" = 0 ] || diag "$ERR" "$(tail -n 30 "$TEST_TMP/launcher.log")"
R=$TEST_TMP/res.json
expect_in "Encrypt (no Recipient) gives a ciphertext" "$(jq_py "$R" 'sorted(j["Encrypt"])')" "['CiphertextBlob']"
expect_in "Decrypt gives the app's plaintext back" "$(jq_py "$R" 'j["Decrypt"].get("Plaintext")')" \
  "$(printf 'the app'"'"'s secret \000\377' | base64 -w0)"
expect_in "... as Plaintext, CiphertextForRecipient taken out" "$(jq_py "$R" 'j["Decrypt"].get("has_cfr")')" "False"
LOG=$(kms_log 'r.get("action") == "Decrypt" and r["status"] == 200' | head -n 1)
expect_in "... and KMS got a Recipient for it (its document verified by enclaver verify)" "$LOG" '"recipient": true'
expect_in "GenerateDataKey gives a 32-byte key" "$(jq_py "$R" 'len(__import__("base64").b64decode(j["GenerateDataKey"]["Plaintext"]))')" "32"
check "... the key KMS sealed for the recipient, opened by the proxy" python3 -c 'import json,sys
r=json.load(open(sys.argv[1]))["GenerateDataKey"]["Plaintext"]
logs=[json.loads(l) for l in open(sys.argv[2])]
sys.exit(0 if any(l.get("action")=="GenerateDataKey" and l.get("recipient") and l.get("plaintext_b64")==r for l in logs) else "not in the log")' \
  "$R" "$TEST_TMP/kms/requests.log"
expect_in "... and its CiphertextBlob decrypts to the same key" "$(jq_py "$R" 'j["DecryptDataKey"]["Plaintext"] == j["GenerateDataKey"]["Plaintext"]')" "True"
check "GenerateDataKeyPair: PrivateKeyPlaintext is the DER private key of PublicKey" python3 -c 'import base64,json,subprocess,sys
r=json.load(open(sys.argv[1]))["GenerateDataKeyPair"]
pub=subprocess.run(["openssl","pkey","-inform","DER","-pubout","-outform","DER"],input=base64.b64decode(r["PrivateKeyPlaintext"]),capture_output=True,check=True).stdout
sys.exit(0 if pub==base64.b64decode(r["PublicKey"]) else "the private key is not the pair of PublicKey")' "$R"
expect_in "GenerateRandom: 48 bytes" "$(jq_py "$R" 'len(__import__("base64").b64decode(j["GenerateRandom"]["Plaintext"]))')" "48"
check "... the ones KMS sealed for the recipient" python3 -c 'import json,sys
r=json.load(open(sys.argv[1]))["GenerateRandom"]["Plaintext"]
sys.exit(0 if any(json.loads(l).get("plaintext_b64")==r and json.loads(l).get("recipient") for l in open(sys.argv[2])) else "not in the log")' \
  "$R" "$TEST_TMP/kms/requests.log"
expect_in "DescribeKey (no Recipient) passes through" "$(jq_py "$R" 'j["DescribeKey"]')" "{'KeyId': 'alias/app'}"
expect_in "every attested call carried a Recipient, no other did" \
  "$(kms_log 'r["status"] == 200 and r["recipient"] != (r["action"] in ("Decrypt","GenerateDataKey","GenerateDataKeyPair","GenerateRandom","DeriveSharedSecret"))' | wc -l)" "0"
AKIDS=$(kms_log 'r["status"] == 200' | python3 -c 'import json,sys; print(" ".join(sorted({json.loads(l)["akid"] for l in sys.stdin})))')
case $AKIDS in ASIA*) ok "KMS saw the role's credentials from IMDS, not the app's ($AKIDS)" ;;
  *) not_ok "KMS saw the role's credentials from IMDS, not the app's"; diag "$AKIDS" ;; esac

# ---- DeriveSharedSecret, raw (newer than Debian's boto3): curl signs with its own key ----
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 2>/dev/null | openssl pkey -pubout -outform DER >"$TEST_TMP/peer.der"
PEER=$(base64 -w0 "$TEST_TMP/peer.der")
run_cmd curl -sS --aws-sigv4 "aws:amz:us-east-1:kms" --user "AKIAAPP:appsecret" \
  -H 'Content-Type: application/x-amz-json-1.1' -H 'X-Amz-Target: TrentService.DeriveSharedSecret' \
  -d "{\"KeyId\": \"alias/ecdh\", \"KeyAgreementAlgorithm\": \"ECDH\", \"PublicKey\": \"$PEER\"}" "$URL/"
echo "$OUT" >"$TEST_TMP/dss.json"
check "DeriveSharedSecret: SharedSecret is the one KMS sealed for the recipient" python3 -c 'import json,sys,hashlib,base64
r=json.load(open(sys.argv[1])); want=hashlib.sha256(b"alias/ecdh"+open(sys.argv[2],"rb").read()).digest()
sys.exit(0 if base64.b64decode(r.get("SharedSecret",""))==want and "CiphertextForRecipient" not in r else "got %r" % r)' \
  "$TEST_TMP/dss.json" "$TEST_TMP/peer.der"

# ---- IMDSv2: the session token expires (capped at 2 s here) and credentials rotate ----
sleep 5  # past the token's TTL and the credentials' lifetime: the state under test, not a timing goal
run_cmd curl -sS --aws-sigv4 "aws:amz:us-east-1:kms" --user "AKIAAPP:appsecret" \
  -H 'Content-Type: application/x-amz-json-1.1' -H 'X-Amz-Target: TrentService.GenerateRandom' \
  -d '{"NumberOfBytes": 16}' "$URL/"
expect_in "after the token expired: GenerateRandom still works" "$OUT" '"Plaintext"'
PUTS=$(python3 -c 'import json,sys; print(sum(1 for l in open(sys.argv[1]) if json.loads(l).get("path")=="/latest/api/token" and json.loads(l).get("status")==200))' "$TEST_TMP/kms/requests.log")
if [ "$PUTS" -ge 2 ]; then ok "... with a new IMDSv2 session token ($PUTS PUTs)"; else not_ok "... with a new IMDSv2 session token"; diag "$PUTS PUT(s)"; fi
BAD=$(python3 -c 'import json,sys; print(sum(1 for l in open(sys.argv[1]) if json.loads(l).get("service")=="imds" and json.loads(l).get("method")=="GET" and json.loads(l).get("token_ok") is False))' "$TEST_TMP/kms/requests.log")
expect_in "... and no IMDS GET went out with an expired token" "$BAD" "0"
N=$(kms_log 'r["status"] == 200' | python3 -c 'import json,sys; print(len({json.loads(l)["akid"] for l in sys.stdin}))')
if [ "$N" -ge 2 ]; then ok "... signed with the rotated credentials ($N access keys seen)"; else not_ok "... signed with the rotated credentials"; diag "$N"; fi

# ---- errors: KMS's answers pass through; the proxy's own say what is wrong ----
run_cmd curl -sS -o "$TEST_TMP/body" -w '%{http_code}' --aws-sigv4 "aws:amz:us-east-1:kms" --user "AKIAAPP:appsecret" \
  -H 'Content-Type: application/x-amz-json-1.1' -H 'X-Amz-Target: TrentService.Decrypt' \
  -d '{"CiphertextBlob": "RktNUwAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}' "$URL/"
expect_in "a damaged ciphertext: KMS's 400 passes through" "$OUT" "400"
expect_in "... with KMS's error type" "$(cat "$TEST_TMP/body")" "InvalidCiphertextException"
run_cmd curl -sS -o "$TEST_TMP/body" -w '%{http_code}' -H 'Content-Type: application/x-amz-json-1.1' \
  -H 'X-Amz-Target: TrentService.GenerateRandom' -d '{"NumberOfBytes": 16}' "$URL/"
expect_in "no SigV4 Authorization and no IMDS region needed: still answered" "$OUT" "200"
run_cmd curl -sS -o "$TEST_TMP/body" -w '%{http_code}' -X PUT "$URL/"
expect_in "PUT /: 405 from the proxy" "$OUT" "405"
BLOB=$(jq_py "$R" 'j["Encrypt"]["CiphertextBlob"]')
run_cmd curl -sS -o "$TEST_TMP/body" -w '%{http_code}' --aws-sigv4 "aws:amz:us-east-1:kms" --user "AKIAAPP:appsecret" \
  -H 'Content-Type: application/x-amz-json-1.1' -H 'X-Amz-Target: TrentService.Decrypt' \
  -d "{\"CiphertextBlob\": \"$BLOB\", \"Recipient\": {\"AttestationDocument\": \"AAAA\", \"KeyEncryptionAlgorithm\": \"RSAES_OAEP_SHA_256\"}}" "$URL/"
expect_in "a Recipient of the app's own is replaced by the proxy's: 200" "$OUT" "200"
expect_in "... and the plaintext comes back opened" "$(jq_py "$TEST_TMP/body" 'j.get("Plaintext")')" \
  "$(printf 'the app'"'"'s secret \000\377' | base64 -w0)"
head -c 1100000 /dev/zero | tr '\0' 'a' >"$TEST_TMP/big"
run_cmd curl -sS -o "$TEST_TMP/body" -w '%{http_code}' -H 'Content-Type: application/x-amz-json-1.1' \
  -H 'X-Amz-Target: TrentService.Encrypt' --data-binary @"$TEST_TMP/big" "$URL/"
expect_in "a body over 1 MiB: 413" "$OUT" "413"
run_cmd curl -sS -o /dev/null -w '%{http_code}' -H 'Content-Type: application/x-amz-json-1.1' \
  -H 'X-Amz-Target: TrentService.GenerateRandom' -d '{"NumberOfBytes": 16}' "$URL/"
expect_in "... and the proxy still serves the next request" "$OUT" "200"
LOG=$(cat "$TEST_TMP/launcher.log")
expect_in "log: one line per request, naming action, region, endpoint and status" "$LOG" \
  "GenerateRandom region us-east-1 via host: 200"

touch "$D/stop"
wait "$LPID"
expect_in "the app ended: the launcher exits 0" "$?" "0"

# ---- the proxy refuses to start when egress cannot reach IMDS: the start names it ----
sv_json "$TEST_TMP/manifest.json" "169.254.169.254:80" >"$TEST_TMP/sv2.json"
rm -f "$D/stop"
run_cmd "$LL" --name kms-test2 --run-dir "$TEST_TMP/run2" --dir "$D" --egress --manifest "$TEST_TMP/manifest.json" -- \
  -c "$TEST_TMP/sv2.json" --no-bootstrap -- /bin/sh -c 'echo app-ran'
case $OUT in *app-ran*) not_ok "egress without the IMDS host: the app does not start"; diag "$OUT" ;;
  *) ok "egress without the IMDS host: the app does not start" ;; esac
expect_in "... and the start names the missing egress.allow entry" "$OUT$ERR" '"169.254.169.254"'

# In the sanitizer build, a memory error or leak of the supervisor ends up in the logs.
if grep -qE 'Sanitizer|runtime error' "$TEST_TMP/launcher.log"; then
  not_ok "the supervisor's console has no sanitizer report"; diag "$(grep -A20 -E 'Sanitizer|runtime error' "$TEST_TMP/launcher.log" | head -40)"
else ok "the supervisor's console has no sanitizer report"; fi
done_testing
