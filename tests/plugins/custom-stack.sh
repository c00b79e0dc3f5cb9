#!/bin/sh
# examples/custom-stack (issue 18): its enclaver.yaml, unchanged, with prune, a Lua stage,
# sbom (attached to the release image) and pcr-pin, on an image with documentation, a
# real dpkg database and a Python distribution.  The first build writes the pin file
# (--stage-opt pcr-pin.update=true); later builds pass it, are byte-identical (EIF, SBOM,
# release layout); the SBOM is valid SPDX 2.3 and lists what the EIF holds (the Lua
# stage's file in, the pruned ones out); a wrong pin fails the build, printing both.
. "$top_srcdir/tests/lib.sh"
for t in python3 cpio jq dpkg-query sha256sum; do
  command -v $t >/dev/null || skip_all "$t missing"
done
python3 -c 'import jsonschema' 2>/dev/null || skip_all "python3-jsonschema missing"
MKOCI="python3 $top_srcdir/tests/build/mkoci.py"
CHK="python3 $top_srcdir/tests/build/eifcheck.py"
SCHEMA="$top_srcdir/tests/plugins/spdx-schema-2.3.json"
W="$TEST_TMP/w"
R="$W/root"
EX="$W/ex"

# The example as shipped (the test writes its outputs and pin file beside the copy).
mkdir -p "$EX" "$W/blobs"
cp "$top_srcdir/examples/custom-stack/enclaver.yaml" "$top_srcdir/examples/custom-stack/release-stamp.lua" "$EX/"

DEB=${ENCLAVER_DEBIAN_ROOT:-/var/tmp/enclaver-bench/work/debootstrap-bookworm}
[ -f "$DEB/var/lib/dpkg/status" ] || DEB=
mkdir -p "$R/bin" "$R/etc" "$R/var/lib/dpkg" "$R/usr/share/doc/app" "$R/usr/share/man/man1" \
  "$R/usr/share/locale/fr/LC_MESSAGES" "$R/var/cache/app" "$R/usr/lib/python3/dist-packages/app_lib-1.2.dist-info"
printf '#!/bin/sh\necho hi\n' >"$R/bin/app"
chmod 755 "$R/bin/app"
head -c 4000 /dev/urandom >"$R/usr/share/doc/app/README"
printf 'Copyright: someone\n' >"$R/usr/share/doc/app/copyright"
head -c 2000 /dev/urandom >"$R/usr/share/man/man1/app.1.gz"
head -c 500 /dev/urandom >"$R/usr/share/locale/fr/LC_MESSAGES/app.mo"
head -c 9000 /dev/urandom >"$R/var/cache/app/blob"
cp "${DEB:-}/var/lib/dpkg/status" "$R/var/lib/dpkg/status"
cp -L "${DEB:-}/etc/os-release" "$R/etc/os-release"
printf 'Metadata-Version: 2.1\nName: app-lib\nVersion: 1.2\n' >"$R/usr/lib/python3/dist-packages/app_lib-1.2.dist-info/METADATA"
find "$R" -exec touch -h -d 2023-05-01 {} +
$MKOCI "$W/img" --layer "$R" --cmd '["/bin/app"]' >/dev/null
cp "$top_srcdir/golden/eif/kernel.bin" "$W/blobs/bzImage"
printf 'console=ttyS0\n' >"$W/blobs/cmdline"
fake_boot_blobs "$W/blobs"
cd "$W" || exit 1
build () { run_cmd "$ENCLAVER" build -f "$EX/enclaver.yaml" --from "oci:$W/img" --kernel-dir "$W/blobs" "$@"; }
EIF="$EX/custom-stack.eif"
SBOM="$EX/custom-stack.spdx.json"
IMG="$EX/custom-stack-image"

run_cmd "$ENCLAVER" manifest -f "$EX/enclaver.yaml"
expect_rc "the example's enclaver.yaml is a valid manifest" 0

build
expect_rc "without a pin file the build fails" 1
expect_in "... saying how to make one" "$ERR" "create it with --stage-opt pcr-pin.update=true"
[ -e "$EIF" ] && not_ok "an EIF was left" || ok "... and leaves no EIF"

build --stage-opt pcr-pin.update=true
expect_rc "first build, writing the pin file" 0
[ -f "$EX/pcrs.json" ] && [ "$(jq -r '.Measurements.PCR0 | length' "$EX/pcrs.json")" = 96 ] \
  && ok "pcr-pin wrote pcrs.json beside the manifest" || not_ok "no pin file"
for s in prune sbom pcr-pin; do
  expect_in "stage $s ran under its own name" "$ERR" "[stage:$s:"
done
expect_in "the Lua stage logs under its stage name" "$ERR" "[stage:lua:release-stamp:3] wrote /etc/enclave-release"
cp "$EIF" first.eif
# Each build writes its outputs anew (a failed one would leave the old ones).
rm -rf "$EIF" "$SBOM" "$IMG"
build
expect_rc "second build, checked against the pin" 0
expect_in "pcr-pin says the PCRs match" "$ERR" "PCRs match the pins in $EX/pcrs.json"
cp "$EIF" second.eif && cp "$SBOM" second.spdx.json && cp -r "$IMG" second-image
rm -rf "$EIF" "$SBOM" "$IMG"
build
expect_rc "third build" 0
cmp -s first.eif second.eif && cmp -s second.eif "$EIF" && ok "the EIF is byte-reproducible with prune and sbom" \
  || not_ok "the EIFs differ"
cmp -s second.spdx.json "$SBOM" && ok "the SBOM is byte-reproducible" || not_ok "the SBOMs differ"
diff -r second-image "$IMG" >/dev/null && ok "the release layout (with the SBOM referrer) is byte-reproducible" \
  || not_ok "the release layouts differ"

python3 - "$SCHEMA" "$SBOM" >schema.out 2>&1 <<'EOF'
import json, sys, jsonschema
schema, doc = (json.load(open(p)) for p in sys.argv[1:3])
errs = list(jsonschema.Draft7Validator(schema).iter_errors(doc))
for e in errs[:5]:
    print("/".join(map(str, e.absolute_path)), e.message)
sys.exit(1 if errs else 0)
EOF
[ $? -eq 0 ] && ok "the SBOM beside the EIF is valid SPDX 2.3" || { not_ok "schema"; diag "$(cat schema.out)"; }

# What the EIF holds, as cpio unpacks it.
$CHK sections "$EIF" sec >/dev/null && mkdir x && (cd x && cpio -idm --quiet --no-absolute-filenames <../sec/ramdisk-1) \
  || not_ok "unpack the EIF"
(cd x/rootfs && find . -type f | LC_ALL=C sort | while IFS= read -r f; do
  printf '%s %s\n' "$f" "$(sha256sum <"$f" | cut -d' ' -f1)"
done) >files.want
jq -r '.files[] | "\(.fileName) \(.checksums[] | select(.algorithm == "SHA256") | .checksumValue)"' "$SBOM" \
  | LC_ALL=C sort >files.got
cmp -s files.want files.got && ok "the SBOM lists the EIF's files and their SHA-256" \
  || { not_ok "SBOM files differ from the EIF's"; diag "$(diff files.want files.got | head)"; }
grep -q '^./etc/enclave-release ' files.got && [ -f x/rootfs/etc/enclave-release ] \
  && ok "the Lua stage's file is in the EIF and the SBOM" || not_ok "no /etc/enclave-release"
[ "$(cat x/rootfs/etc/enclave-release)" = "target=custom-stack:latest
source-digest=$(jq -r '.manifests[0].digest' "$W/img/index.json")" ] && ok "... saying the target and the app image's digest" \
  || not_ok "release stamp: $(cat x/rootfs/etc/enclave-release)"
grep -q '^./usr/share/doc/app/README ' files.got || grep -q '^./var/cache/app/blob ' files.got \
  && not_ok "pruned files are listed" || ok "pruned files are neither in the EIF nor in the SBOM"
grep -q '^./usr/share/doc/app/copyright ' files.got && ok "the copyright file prune keeps is listed" || not_ok "copyright"
[ "$(jq -r .bytes_saved "$EX/custom-stack.prune.json")" = $((4000 + 2000 + 500 + 9000)) ] \
  && ok "prune's report counts the bytes saved" || not_ok "prune report: $(cat "$EX/custom-stack.prune.json")"
want=$(dpkg-query -W --admindir="$R/var/lib/dpkg" -f '${db:Status-Status}\n' | grep -c '^installed$')
[ "$(jq '[.packages[] | select(.SPDXID | startswith("SPDXRef-Package-deb-"))] | length' "$SBOM")" = "$want" ] \
  && ok "the SBOM lists the $want installed dpkg packages" || not_ok "dpkg package count"
jq -e '.packages[] | select(.name == "app-lib" and .versionInfo == "1.2")' "$SBOM" >/dev/null \
  && ok "... and the Python distribution" || not_ok "no app-lib"
ref=$(jq -r '.manifests[] | select(.artifactType == "application/spdx+json") | .digest' "$IMG/index.json")
img=$(jq -r '.manifests[] | select(.artifactType == null) | .digest' "$IMG/index.json")
[ -n "$ref" ] && [ "$(jq -r .subject.digest "$IMG/blobs/sha256/${ref#sha256:}")" = "$img" ] \
  && cmp -s "$IMG/blobs/sha256/$(jq -r '.layers[0].digest' "$IMG/blobs/sha256/${ref#sha256:}" | cut -d: -f2)" "$SBOM" \
  && ok "the release image carries the SBOM as a referrer of its manifest" || not_ok "no SBOM referrer"

# A wrong pin: one hex digit of PCR0 changed.
cp "$EX/pcrs.json" good-pcrs.json
p0=$(jq -r .Measurements.PCR0 good-pcrs.json)
case $p0 in 0*) bad0=1${p0#?} ;; *) bad0=0${p0#?} ;; esac
jq --arg v "$bad0" '.Measurements.PCR0 = $v' good-pcrs.json >"$EX/pcrs.json"
build
expect_rc "a wrong pin fails the build" 1
expect_in "... naming pcr-pin and the file" "$ERR" "stage pcr-pin: the PCRs differ from the ones pinned in $EX/pcrs.json"
expect_in "... printing the pinned value" "$ERR" "pinned $bad0"
expect_in "... and the built one" "$ERR" "built  $p0"
cmp -s "$EIF" second.eif && cmp -s "$SBOM" second.spdx.json && ok "the failed build left the previous outputs alone" \
  || not_ok "a failed build changed the outputs"
ls "$EX" | grep -q 'enclaver-tmp' && not_ok "temporary files left" || ok "no temporary files left"
cp good-pcrs.json "$EX/pcrs.json"
build
expect_rc "with the right pin again, the build passes" 0
done_testing
