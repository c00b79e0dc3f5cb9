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

done_testing
