#!/bin/sh
# enclaver verify --attestation: the eight real Nitro documents of shared/vectors verify
# at their own time and fail once their leaf has expired; altered copies fail with the
# check that caught them; the expected nonce, PCRs and encodings are honoured.
. "$top_srcdir/tests/lib.sh"
# Copies of shared/vectors/attestation (public documents; sources in docs.json).
V="$top_srcdir/tests/attest/vectors"
M="$top_srcdir/tests/attest/mutate.py"
cd "$TEST_TMP" || exit 1

# field FILE KEY: one value of a document's entry in docs.json
field () {
  tap_argc field 2 2 "$@"
  python3 -c 'import json,sys
d=[x for x in json.load(open(sys.argv[1]))["documents"] if x["file"]==sys.argv[2]]
if len(d)!=1: sys.exit("no entry for "+sys.argv[2])
v=d[0]
for k in sys.argv[3].split("."): v=v[k]
print("" if v is None else (str(v).lower() if isinstance(v,bool) else v))' "$V/docs.json" "$1" "$2"
}
epoch () { tap_argc epoch 1 1 "$@"; date -u -d "$1" +%s; }

for i in 1 2 3 4 5 6 7 8; do
  f=doc-$i.cbor
  ts_ms=$(field $f timestamp_ms)
  dbg=$(field $f debug_mode)
  flag=""
  [ "$dbg" = true ] && flag=--allow-debug
  run_cmd "$ENCLAVER" verify --attestation "$V/$f" $flag
  expect_rc "$f verifies at its own timestamp" 0
  after=$(( $(epoch "$(field $f leaf_not_after)") + 1 ))
  run_cmd "$ENCLAVER" verify --attestation "$V/$f" $flag --at "$after"
  expect_rc "$f fails one second after its leaf expires" 1
  expect_in "$f: the expiry is the reason" "$ERR" "expired"
  if [ "$dbg" = true ]; then
    run_cmd "$ENCLAVER" verify --attestation "$V/$f"
    expect_rc "$f: a debug-mode document is refused without --allow-debug" 1
    expect_in "$f: says debug" "$ERR" "debug"
  fi
done

# Altered copies of a production document (doc-2).
for op in payload sig cert0 cert1 cert2 cert3 leaf reorder alg truncate; do
  python3 "$M" $op "$V/doc-2.cbor" bad-$op.cbor || { not_ok "mutate.py $op"; continue; }
  run_cmd "$ENCLAVER" verify --attestation bad-$op.cbor
  expect_rc "altered ($op): refused" 1
done
run_cmd "$ENCLAVER" verify --attestation bad-sig.cbor
expect_in "a flipped signature byte fails the signature check" "$ERR" "signature"

# Encodings: base64 and hex of the same document verify too.
python3 "$M" b64 "$V/doc-2.cbor" doc.b64 && python3 "$M" hex "$V/doc-2.cbor" doc.hex
for e in b64 hex; do
  run_cmd "$ENCLAVER" verify --attestation doc.$e
  expect_rc "the document as $e verifies" 0
done

# Expected values: the nonce it carries passes, another fails; PCR0 likewise.
nonce=$(field doc-2.cbor nonce)
pcr0=$(field doc-2.cbor pcrs.0)
run_cmd "$ENCLAVER" verify --attestation "$V/doc-2.cbor" --nonce "$nonce" --pcr0 "$pcr0"
expect_rc "the document's own nonce and PCR0 match" 0
run_cmd "$ENCLAVER" verify --attestation "$V/doc-2.cbor" --nonce 00ff
expect_rc "another nonce: refused" 1
expect_in "the nonce check is named" "$ERR" "nonce"
other=$(printf '%096d' 1)
run_cmd "$ENCLAVER" verify --attestation "$V/doc-2.cbor" --pcr0 "$other"
expect_rc "another PCR0: refused" 1
expect_in "PCR0 is named" "$ERR" "PCR0"

# A JSON report for machines.
run_cmd "$ENCLAVER" verify --attestation "$V/doc-2.cbor" -o json
expect_rc "-o json: exit 0" 0
python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$TEST_TMP/out" && ok "-o json: the report is JSON" \
  || not_ok "-o json: not JSON"

# Another root: the AWS documents do not chain to a test CA.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-384 -nodes -keyout ca.key -out ca.pem \
  -subj /CN=enclaver-test-ca -days 2 2>/dev/null
run_cmd "$ENCLAVER" verify --attestation "$V/doc-2.cbor" --root ca.pem
expect_rc "--root another CA: an AWS document is refused" 1

# --image: the expected PCRs come from the EIF inside a release image made by `enclaver
# build`.  The documents are signed by the fake NSM's test CA (tests/nsm/fake-nsm.py),
# which reports the PCRs of CADIR/pcrs.json once its CA exists: first its own values,
# then, restarted, the image's.
FAKE="$top_srcdir/tests/nsm/fake-nsm.py"
NSMDOC="python3 $top_srcdir/tests/attest/nsm-doc.py"
NSM_PID=
trap '[ -n "$NSM_PID" ] && kill "$NSM_PID" 2>/dev/null; rm -rf "$TEST_TMP"' EXIT
# nsm_doc OUT: start the fake NSM on ca/, fetch one document into OUT, stop it
nsm_doc () {
  tap_argc nsm_doc 1 1 "$@"
  rm -f nsm.pid nsm.sock
  python3 "$FAKE" "$TEST_TMP/nsm.sock" "$TEST_TMP/ca" "$TEST_TMP/nsm.pid" 2>nsm.err &
  NSM_PID=$!
  i=0
  while [ ! -s nsm.pid ] && [ $i -lt 600 ]; do i=$((i + 1)); sleep 0.1; done
  $NSMDOC "$TEST_TMP/nsm.sock" "$1" || { diag "$(cat nsm.err)"; not_ok "a document from the fake NSM"; }
  kill "$NSM_PID"; wait "$NSM_PID" 2>/dev/null; NSM_PID=
}
release_image rel && ok "a release image to verify against"
cp rel/pcrs.json rel-pcrs.json
IMG=oci:rel/rel-image
p0=$(jq -r .Measurements.PCR0 rel-pcrs.json)
p1=$(jq -r .Measurements.PCR1 rel-pcrs.json)
p2=$(jq -r .Measurements.PCR2 rel-pcrs.json)

nsm_doc other.cbor
run_cmd "$ENCLAVER" verify --attestation other.cbor --root ca/root.pem
expect_rc "the fake NSM's own document verifies without expected PCRs" 0
mkdir vtmp
run_cmd env TMPDIR="$TEST_TMP/vtmp" "$ENCLAVER" verify --attestation other.cbor --root ca/root.pem --image "$IMG" -o json
expect_rc "--image: a document of other PCRs is refused" 1
for n in 0 1 2; do expect_in "--image: PCR$n is named" "$ERR" "PCR$n"; done
# ...with the image's values as the expected ones.
for n in 0 1 2; do
  eval "want=\$p$n"
  expect_in "--image: the image's PCR$n is what was expected" "$ERR" "$want"
done
jq -e '.Verified == false and ([.Failures[].Check] | length) >= 3' out >/dev/null \
  && ok "-o json: not verified, one failure per PCR" || { not_ok "-o json report"; diag "$OUT"; }
[ -z "$(ls -A vtmp)" ] && ok "--image leaves nothing in TMPDIR" || not_ok "--image left in TMPDIR: $(ls -A vtmp)"

# The fake NSM restarted with the image's PCRs: its document matches the image.
jq --arg p0 "$p0" --arg p1 "$p1" --arg p2 "$p2" '.PCR0=$p0 | .PCR1=$p1 | .PCR2=$p2' ca/pcrs.json >pcrs.new \
  && mv pcrs.new ca/pcrs.json
nsm_doc match.cbor
run_cmd "$ENCLAVER" verify --attestation match.cbor --root ca/root.pem --image "$IMG"
expect_rc "--image: a document with the image's PCRs verifies" 0
run_cmd "$ENCLAVER" verify --attestation match.cbor --root ca/root.pem --image "oci-archive:rel/none.tar"
expect_rc "--image: a missing image fails" 1
expect_in "--image: the missing image is named" "$ERR" "rel/none.tar"
run_cmd "$ENCLAVER" verify --attestation match.cbor --root ca/root.pem --image "$IMG" --pcr1 "$other"
expect_rc "--image: --pcrN still wins over the image" 1
expect_in "--image: the overridden PCR1 is named" "$ERR" "PCR1"
# An image whose label no longer matches the EIF it carries is refused.
cp -r rel/rel-image tampered
python3 - tampered "$other" <<'PY' || not_ok "relabel the image"
import hashlib, json, os, sys
d, pcr = sys.argv[1], sys.argv[2]
def blob(dg): return os.path.join(d, "blobs", "sha256", dg.split(":")[1])
def put(b):
    dg = "sha256:" + hashlib.sha256(b).hexdigest()
    open(blob(dg), "wb").write(b)
    return dg, len(b)
idx = json.load(open(os.path.join(d, "index.json")))
man = json.load(open(blob(idx["manifests"][0]["digest"])))
cfg = json.load(open(blob(man["config"]["digest"])))
cfg["config"]["Labels"]["dev.enclaver.pcr0"] = pcr
man["config"]["digest"], man["config"]["size"] = put(json.dumps(cfg).encode())
idx["manifests"][0]["digest"], idx["manifests"][0]["size"] = put(json.dumps(man).encode())
json.dump(idx, open(os.path.join(d, "index.json"), "w"))
PY
run_cmd "$ENCLAVER" verify --attestation match.cbor --root ca/root.pem --image oci:tampered
expect_rc "--image: an image whose PCR0 label does not match its EIF is refused" 1
expect_in "--image: the label at fault is named" "$ERR" "dev.enclaver.pcr0"
# Usage: --image excludes --pcrs and --eif.
run_cmd "$ENCLAVER" verify --attestation match.cbor --image "$IMG" --pcrs rel-pcrs.json
expect_rc "--image with --pcrs: usage error" 2
expect_in "--image with --pcrs: says why" "$ERR" "--image and --pcrs exclude each other"
run_cmd "$ENCLAVER" verify --attestation match.cbor --image "$IMG" --eif rel/rel.eif
expect_rc "--image with --eif: usage error" 2
expect_in "--image with --eif: says why" "$ERR" "--image and --eif exclude each other"

# Without --attestation: the EIF inside the image against a PCR file.
run_cmd "$ENCLAVER" verify --image "$IMG" --pcrs rel-pcrs.json
expect_rc "verify --image REF --pcrs: the build's own PCRs match" 0
expect_in "verify --image: the report names the image" "$OUT" "\"File\": \"$IMG\""
run_cmd "$ENCLAVER" verify --image "$IMG" --pcr2 "$other"
expect_rc "verify --image REF --pcr2 other: refused" 1
expect_in "verify --image: the PCR2 mismatch is named" "$ERR" "PCR2 mismatch"
run_cmd "$ENCLAVER" verify --image "$IMG" rel/rel.eif --pcrs rel-pcrs.json
expect_rc "verify --image and an EIF: usage error" 2

done_testing
