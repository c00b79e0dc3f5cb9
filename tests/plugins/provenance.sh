#!/bin/sh
# The provenance plugin (issue 18): a real image built with provenance after emit-eif.
# The statement's fields are checked against answers the test finds itself: the EIF's
# SHA-256 (sha256sum) and SHA-384 (python hashlib), the OCI layout's manifest digest
# (its index.json), the manifest's and kernel's sha256sum, the PCRs `enclaver describe`
# reads from the EIF.  A rebuild writes the same bytes.  A signed build writes a DSSE
# envelope whose signature openssl verifies over the PAE the test rebuilds, with the
# certificate's public key; a changed payload fails.  Unusable keys and a failed build
# (nothing half-written) are covered too.
. "$top_srcdir/tests/lib.sh"
command -v python3 >/dev/null || skip_all "python3 missing"
command -v openssl >/dev/null || skip_all "openssl missing"
command -v sha256sum >/dev/null || skip_all "sha256sum missing"
MKOCI="python3 $top_srcdir/tests/build/mkoci.py"
G="$top_srcdir/golden/eif"
W="$TEST_TMP/w"
mkdir -p "$W/r1/bin" "$W/blobs"
printf '#!/bin/sh\necho prov\n' >"$W/r1/bin/app"
chmod 755 "$W/r1/bin/app"
touch -d 2023-05-01 "$W/r1/bin/app"
$MKOCI "$W/img1" --layer "$W/r1" --cmd '["/bin/app"]' >/dev/null
cp "$G/kernel.bin" "$W/blobs/bzImage"
printf 'console=ttyS0\n' >"$W/blobs/cmdline"
fake_boot_blobs "$W/blobs"
cd "$W" || exit 1
mkdir out

# manifest FILE ENTRY [EXTRA-YAML]
manifest () {
  cat >"$1" <<YAML
version: v1
name: prov
target: prov:latest
sources:
  app: oci:./img1
kernel:
  blobs: ./blobs
${3:-}
pipeline:
  - fetch
  - flatten
  - inject
  - measure
  - emit-eif
$2
YAML
}
manifest m.yaml "  - provenance"

run_cmd "$ENCLAVER" build -f m.yaml --eif-only out/a.eif
expect_rc "a build with provenance" 0
expect_in "... says where the statement went" "$ERR" "wrote out/a.provenance.json: an unsigned in-toto statement"
[ -f out/a.provenance.json ] && ok "the statement lies beside the EIF" || not_ok "no out/a.provenance.json"
"$ENCLAVER" describe out/a.eif >describe.json 2>/dev/null || not_ok "enclaver describe out/a.eif failed"

# check_statement STATEMENT EIF MANIFEST: every field against the test's own answers.
check_statement () {
  python3 - "$1" "$2" "$3" "$(sha256sum "$2" | cut -d' ' -f1)" "$(sha256sum "$3" | cut -d' ' -f1)" \
    "$(sha256sum blobs/bzImage | cut -d' ' -f1)" "$("$ENCLAVER" --version | awk 'NR == 1 { print $2 }')" <<'PY'
import hashlib, json, os, sys
st_path, eif, man, eif256, man256, kern256, version = sys.argv[1:]
st = json.load(open(st_path))
desc = json.load(open("describe.json"))
layout = json.load(open("img1/index.json"))
n = 0
def check(name, got, want):
    global n
    n += 1
    if got == want:
        print("ok - %s" % name)
    else:
        print("not ok - %s: got %r, want %r" % (name, got, want))
check("_type", st.get("_type"), "https://in-toto.io/Statement/v1")
check("predicateType", st.get("predicateType"), "https://slsa.dev/provenance/v1")
subj = st["subject"]
check("one subject", len(subj), 1)
check("subject name is the EIF's", subj[0]["name"], os.path.basename(eif))
check("subject sha256 = sha256sum", subj[0]["digest"].get("sha256"), eif256)
check("subject sha384 = hashlib", subj[0]["digest"].get("sha384"), hashlib.sha384(open(eif, "rb").read()).hexdigest())
check("PCRs = enclaver describe", subj[0]["annotations"], desc["Measurements"])
pred = st["predicate"]
rd = {d["name"]: d for d in pred["buildDefinition"]["resolvedDependencies"]}
check("source image digest = the layout's manifest", rd["app"]["digest"],
      {"sha256": layout["manifests"][0]["digest"].split(":", 1)[1]})
check("source image reference", rd["app"]["uri"], "oci:img1")
check("manifest digest = sha256sum", rd["manifest"]["digest"], {"sha256": man256})
check("manifest name", rd["manifest"]["uri"], os.path.basename(man))
check("kernel digest = sha256sum", rd["kernel"]["digest"], {"sha256": kern256})
check("externalParameters.source", pred["buildDefinition"]["externalParameters"]["source"], "oci:img1")
b = pred["runDetails"]["builder"]
check("builder id", b["id"], "pkg:generic/enclaver@" + version)
check("builder version", b["version"], {"enclaver": version})
PY
}
check_statement out/a.provenance.json out/a.eif m.yaml >check.tap
while IFS= read -r line; do
  case $line in
    "ok - "*) ok "${line#ok - }" ;;
    "not ok - "*) not_ok "${line#not ok - }" ;;
  esac
done <check.tap
[ "$(grep -c '^ok - ' check.tap)" -eq 15 ] && ok "all 15 field checks ran" || not_ok "field checks: $(cat check.tap)"
python3 -c 'import json,sys; t=open(sys.argv[1]).read(); assert t == json.dumps(json.loads(t), indent=2, sort_keys=True, ensure_ascii=False) + "\n"' \
  out/a.provenance.json && ok "the statement is sorted-key JSON, indented, one trailing newline" \
  || not_ok "statement not in its canonical form"

cp out/a.provenance.json first.json
run_cmd "$ENCLAVER" build -f m.yaml --eif-only out/a.eif
cmp -s first.json out/a.provenance.json && ok "a rebuild writes the same statement bytes" \
  || not_ok "statement differs between builds: $(diff first.json out/a.provenance.json | head -5)"

# output: relative to the output directory.
manifest o.yaml "  - provenance:
      output: prov/stmt.json
      sign: never"
mkdir -p prov
run_cmd "$ENCLAVER" build -f o.yaml --eif-only out/o.eif
expect_rc "output: prov/stmt.json" 0
[ -f prov/stmt.json ] && ok "... written there" || not_ok "no prov/stmt.json ($ERR)"

# A later stage fails: no statement is left, no temporary file either.
printf 'function run(ctx, o) error("late failure") end\n' >fail.lua
manifest f.yaml "  - provenance
  - lua: fail.lua"
run_cmd "$ENCLAVER" build -f f.yaml --eif-only out/f.eif
expect_rc "provenance, then a stage that fails" 1
[ -e out/f.provenance.json ] && not_ok "a failed build left its statement" || ok "a failed build leaves no statement"
ls -A out | grep -q enclaver-tmp && not_ok "temporary files left: $(ls -A out)" || ok "no temporary files left"

# Signed: a DSSE envelope over the statement, with the manifest's PCR8 key.
SIG="signature:
  certificate: $G/sign-cert.pem
  key: $G/sign-key.pem"
manifest s.yaml "  - provenance" "$SIG"
run_cmd "$ENCLAVER" build -f s.yaml --eif-only out/s.eif
expect_rc "a signed build with provenance" 0
expect_in "... says it signed" "$ERR" "a DSSE envelope signed with the PCR8 key"
"$ENCLAVER" describe out/s.eif >describe.json 2>/dev/null || not_ok "enclaver describe out/s.eif failed"
python3 - out/s.provenance.json <<'PY' >dsse.out
import base64, json, sys
env = json.load(open(sys.argv[1]))
body = base64.b64decode(env["payload"])
ptype = env["payloadType"]
# PAE as the DSSE specification defines it, rebuilt here.
def pae(t, b):
    t = t.encode()
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(b), b)
open("pae.bin", "wb").write(pae(ptype, body))
open("payload.json", "wb").write(body)
sigs = env["signatures"]
open("sig.der", "wb").write(base64.b64decode(sigs[0]["sig"]))
# The same envelope with one byte of the payload changed.
bad = bytearray(body)
bad[bad.index(b"sha256") + 10] ^= 1
open("pae-bad.bin", "wb").write(pae(ptype, bytes(bad)))
print(ptype, len(sigs), sigs[0]["keyid"])
PY
read -r ptype nsig keyid <dsse.out
[ "$ptype" = application/vnd.in-toto+json ] && ok "payloadType application/vnd.in-toto+json" || not_ok "payloadType $ptype"
[ "$nsig" = 1 ] && ok "one signature" || not_ok "$nsig signatures"
fp=$(openssl x509 -in "$G/sign-cert.pem" -outform DER | sha256sum | cut -d' ' -f1)
[ "$keyid" = "$fp" ] && ok "keyid is the certificate's SHA-256" || not_ok "keyid $keyid, certificate $fp"
openssl x509 -in "$G/sign-cert.pem" -pubkey -noout >pub.pem
run_cmd openssl dgst -sha384 -verify pub.pem -signature sig.der pae.bin
expect_rc "openssl verifies the signature over the PAE with the certificate's key" 0
run_cmd openssl dgst -sha384 -verify pub.pem -signature sig.der pae-bad.bin
expect_rc "a changed payload fails verification" 1
check_statement payload.json out/s.eif s.yaml >check.tap
while IFS= read -r line; do
  case $line in
    "ok - "*) ok "signed: ${line#ok - }" ;;
    "not ok - "*) not_ok "signed: ${line#not ok - }" ;;
  esac
done <check.tap
python3 -c 'import json,sys; assert "PCR8" in json.load(open(sys.argv[1]))["subject"][0]["annotations"]' payload.json \
  && ok "the signed EIF's PCR8 is in the statement" || not_ok "no PCR8 in the signed statement"

run_cmd "$ENCLAVER" build -f s.yaml --eif-only out/n.eif --stage-opt provenance.sign=never
expect_rc "sign=never in a signed build" 0
python3 -c 'import json,sys; assert json.load(open(sys.argv[1]))["_type"] == "https://in-toto.io/Statement/v1"' \
  out/n.provenance.json && ok "... writes the bare statement" || not_ok "sign=never wrote $(head -c 200 out/n.provenance.json)"

# Unusable keys fail before any stage runs, naming the plugin and the file.
openssl ecparam -name secp384r1 -genkey -noout -out other-key.pem 2>/dev/null
openssl genrsa -out rsa-key.pem 2048 2>/dev/null
printf 'not a key\n' >junk-key.pem
bad_key () {
  manifest bk.yaml "  - provenance" "signature:
  certificate: $G/sign-cert.pem
  key: $W/$2"
  run_cmd "$ENCLAVER" build -f bk.yaml --eif-only out/bk.eif
  expect_rc "$1: fails" 1
  expect_in "$1: the error names the plugin and the key" "$ERR" "$3"
  case $ERR in *"stage:fetch"*) not_ok "$1: fetch ran first" ;; *) ok "$1: before any stage runs" ;; esac
}
bad_key "a key of another certificate" other-key.pem \
  "stage provenance: $W/other-key.pem: the key does not belong to the certificate "
bad_key "an RSA key" rsa-key.pem "stage provenance: $W/rsa-key.pem: the key is RSA; the PCR8 key is an EC key"
bad_key "not a key" junk-key.pem "stage provenance: $W/junk-key.pem: not an unencrypted PEM private key"
bad_key "a missing key" missing.pem "stage provenance: the signing key (signature.key): open $W/missing.pem"

# Before measure there is nothing to describe.
cat >early.yaml <<YAML
version: v1
name: prov
target: prov:latest
sources:
  app: oci:./img1
kernel:
  blobs: ./blobs
pipeline: [fetch, flatten, inject, provenance, measure, emit-eif]
YAML
run_cmd "$ENCLAVER" build -f early.yaml --eif-only out/e.eif
expect_rc "provenance before measure fails" 1
expect_in "... saying where it belongs" "$ERR" "stage provenance: no measured EIF in the build context: put provenance after measure"
done_testing
