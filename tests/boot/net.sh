#!/bin/sh
# The network end to end under emulation: a real EIF (Debian kernel, enclaver's init and
# supervisor) booted by `enclaver run --qemu`, whose app (tests/boot/netapp.c) fetches
# from an HTTP server this test runs on the host's 127.0.0.1 through the name `host`
# (egress proxy -> host half), is refused a name outside its allow list, and serves on
# an ingress port that the test reaches from the host through --publish; and first asks
# the attestation API for a document, which the emulated NSM of `enclaver run --qemu`
# signs with the development CA and the test verifies against the EIF's PCRs.
. "$top_srcdir/tests/lib.sh"
need_boot
command -v curl >/dev/null || skip_all "curl is not installed"
APPBIN=$top_builddir/tests/boot/netapp
[ -x "$APPBIN" ] || { not_ok "tests/boot/netapp is built"; done_testing; exit 1; }
cd "$TEST_TMP" || exit 1
export ENCLAVER_RUN_DIR="$TEST_TMP/run"
export ENCLAVER_DEV_CA_DIR="$TEST_TMP/dev-ca"
NONCE=boot-nonce-$$-$RANDOM
NONCE_B64=$(printf '%s' "$NONCE" | base64 -w0)
PIDS=
cleanup () { for p in $PIDS; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; }
trap cleanup EXIT
free_port () { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for () { i=0; while ! grep -qF -- "$2" "$1" 2>/dev/null && [ $i -lt 1800 ]; do sleep 0.1; i=$((i + 1)); done; grep -qF -- "$2" "$1"; }

# The origin on the host's loopback, reached from the enclave as "host".
mkdir -p www && echo "origin on the host says hi" >www/hello.txt
ORIGIN=$(free_port)
python3 -m http.server "$ORIGIN" --bind 127.0.0.1 --directory www >origin.log 2>&1 &
PIDS="$PIDS $!"
HPORT=$(free_port)

mkdir -p rootfs proj
cp "$APPBIN" rootfs/netapp
python3 "$top_srcdir/tests/build/mkoci.py" app-image --layer rootfs --entrypoint '["/netapp"]' \
  --cmd "[\"--attest\",\"9000\",\"$NONCE_B64\",\"--fetch\",\"http://host:$ORIGIN/hello.txt\",\"--fetch\",\"http://denied.example/x\",\"--serve\",\"8080\"]" >/dev/null
cat >proj/enclaver.yaml <<EOF
version: v1
name: netboot
target: netboot:latest
sources:
  app: oci:$TEST_TMP/app-image
defaults:
  cpu_count: 1
  memory_mb: 512
egress:
  allow: [host]
ingress:
  - listen_port: 8080
api:
  listen_port: 9000
EOF
run_cmd "$ENCLAVER" -q build -f proj/enclaver.yaml
expect_rc "build the network test's release image" 0

# (not under timeout(1): it passes a SIGTERM on to its whole process group, so the
# launcher would get two, and a second signal terminates the enclave at once)
"$ENCLAVER" run --qemu --timeout 400 -p "127.0.0.1:$HPORT:8080" -f proj/enclaver.yaml \
  >run.out 2>run.err &
RUN=$!
PIDS="$PIDS $RUN"
if wait_for run.err "serving on 127.0.0.1:8080"; then ok "the enclave's app serves its ingress port"
else not_ok "the enclave's app serves its ingress port"; diag "$(tail -30 run.err)"; done_testing; exit 1; fi
LOG=$(cat run.err)
expect_in "egress: the app fetched from the host's 127.0.0.1 through the name host" "$LOG" \
  "fetch http://host:$ORIGIN/hello.txt: HTTP/1.0 200 OK"
expect_in "egress: the origin's body reached the app" "$LOG" "fetch body: origin on the host says hi"
expect_in "egress: a name outside the allow list is refused with 401" "$LOG" \
  "fetch http://denied.example/x: HTTP/1.1 401"
expect_in "egress: the proxy's log line names the decision" "$LOG" \
  "egress: GET denied.example:80 denied: no egress.allow pattern matches"
grep -q "GET /hello.txt" origin.log && ok "the origin saw the enclave's request" || not_ok "the origin saw the enclave's request"

# attestation: the app's document, from the emulated NSM
expect_in "attestation: the API answered the app with 200" "$LOG" "attest: HTTP/1.1 200"
expect_in "the launcher names the development CA" "$LOG" "$ENCLAVER_DEV_CA_DIR/dev-ca.pem"
sed -n 's/.*attest doc: //p' run.err | tr -d '\n' >doc.b64
EIF=$(find proj -name '*.eif' | head -n 1)
run_cmd "$ENCLAVER" verify --attestation doc.b64 --eif "$EIF" --root "$ENCLAVER_DEV_CA_DIR/dev-ca.pem" \
  --nonce "$(printf '%s' "$NONCE" | od -An -v -tx1 | tr -d ' \n')"
expect_rc "enclaver verify accepts the document: the EIF's PCRs, the nonce, the development CA" 0
[ "$RC" = 0 ] || diag "$ERR" "$(grep -i 'nsm\|attest' run.err | head -20)"
run_cmd "$ENCLAVER" verify --attestation doc.b64 --eif "$EIF"
expect_rc "... and refuses it against the AWS Nitro root" 1
expect_in "... naming the root" "$ERR" "root"

# The emulated NSM itself (on the free host port the launcher names) is as strict as the NSM:
# nsm_raw HEX prints the answer to those request bytes as hex
NSMPORT=$(sed -n 's/.*emulated NSM on tcp:127\.0\.0\.1:\([0-9]*\):.*/\1/p' run.err | head -n 1)
nsm_raw () {
  tap_argc nsm_raw 1 1 "$@"
  python3 "$top_srcdir/tests/nsm/nsm-raw.py" "127.0.0.1:${NSMPORT:-no-port-in-the-log}" "$1"
}
INVALID=a1654572726f7270496e76616c69644f7065726174696f6e  # {"Error": "InvalidOperation"}
PCR0=$("$ENCLAVER" describe "$EIF" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Measurements"]["PCR0"])')
expect_in "emulated NSM: DescribePCR{0} is the EIF's PCR0, locked" \
  "$(nsm_raw a16b4465736372696265504352a165696e64657800)" "64646174615830${PCR0:-none}646c6f636bf5"
expect_in "emulated NSM: a non-minimal index (19 0000) is refused" \
  "$(nsm_raw a16b4465736372696265504352a165696e646578190000)" "$INVALID"
expect_in "emulated NSM: a text nonce is refused" \
  "$(nsm_raw a16b4174746573746174696f6ea1656e6f6e63656141)" "$INVALID"
expect_in "emulated NSM: a 513-byte nonce is InputTooLarge" \
  "$(nsm_raw "a16b4174746573746174696f6ea1656e6f6e6365590201$(head -c 513 /dev/zero | od -An -v -tx1 | tr -d ' \n')")" \
  "$(printf 'InputTooLarge' | od -An -v -tx1 | tr -d ' \n')"
expect_in "emulated NSM: trailing bytes are refused" "$(nsm_raw 6947657452616e646f6d00)" "$INVALID"

run_cmd curl -sS -m 60 "http://127.0.0.1:$HPORT/"
expect_rc "ingress: curl from the host through --publish, exit 0" 0
expect_in "ingress: the enclave's app answered" "$OUT" "hello from inside the enclave"
wait_for run.err "served a request" && ok "the app logged the request" || not_ok "the app logged the request"

kill -TERM "$RUN"
wait "$RUN"; RC=$?
expect_rc "SIGTERM: the enclave stops gracefully, exit 109 (stopped by a signal to enclaver run)" 109
expect_in "the app saw SIGTERM" "$(cat run.err)" "caught SIGTERM, exiting"
done_testing
