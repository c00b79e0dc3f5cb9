#!/bin/sh
# The sbom plugin (issue 18): an image with a real Debian dpkg database (a debootstrap
# root's when one is cached, else this host's), an apk database, real Python
# *.dist-info directories and files of every kind, built with sbom after inject.  The
# SBOM validates against the SPDX 2.3 JSON schema (tests/plugins/spdx-schema-2.3.json,
# python3-jsonschema); its packages are what dpkg-query, the apk database and
# importlib.metadata report; its files and hashes are what sha1sum/sha256sum say of the
# EIF's own rootfs (unpacked with cpio); two builds give the same SBOM and EIF bytes;
# attach=true adds a referrer artifact to the release layout; bad options and bad
# inputs fail naming the plugin and leave nothing behind.
. "$top_srcdir/tests/lib.sh"
for t in python3 cpio jq dpkg-query sha1sum sha256sum; do
  command -v $t >/dev/null || skip_all "$t missing"
done
python3 -c 'import jsonschema' 2>/dev/null || skip_all "python3-jsonschema missing"
MKOCI="python3 $top_srcdir/tests/build/mkoci.py"
CHK="python3 $top_srcdir/tests/build/eifcheck.py"
SCHEMA="$top_srcdir/tests/plugins/spdx-schema-2.3.json"
W="$TEST_TMP/w"
R="$W/root"

# The Debian package database: a debootstrap root's (bench/corpus.sh leaves one in
# /var/tmp/enclaver-bench/work; ENCLAVER_DEBIAN_ROOT names another), else this host's.
DEB=${ENCLAVER_DEBIAN_ROOT:-/var/tmp/enclaver-bench/work/debootstrap-bookworm}
[ -f "$DEB/var/lib/dpkg/status" ] || DEB=
[ -n "$DEB" ] && diag "dpkg database: $DEB/var/lib/dpkg/status (debootstrap)" || diag "dpkg database: this host's /var/lib/dpkg/status"

mkdir -p "$R/bin" "$R/etc" "$R/var/lib/dpkg" "$R/lib/apk/db" "$R/usr/lib/python3/dist-packages" "$R/srv/data" "$W/blobs"
printf '#!/bin/sh\necho hi\n' >"$R/bin/hello"
chmod 755 "$R/bin/hello"
ln "$R/bin/hello" "$R/bin/hello-again"
ln -s hello "$R/bin/hi"
: >"$R/srv/data/empty"
printf 'a file with a space\n' >"$R/srv/data/with space.txt"
head -c 200000 /dev/urandom >"$R/srv/data/big.bin" # several 64 KiB reads
cp "${DEB:-}/var/lib/dpkg/status" "$R/var/lib/dpkg/status"
# A removed package whose conffiles stay: dpkg lists it, its files are gone.
cat >>"$R/var/lib/dpkg/status" <<'EOF'

Package: enclaver-test-removed
Status: deinstall ok config-files
Priority: optional
Section: misc
Maintainer: Nobody <nobody@example.org>
Architecture: all
Version: 1.0-1
Conffiles:
 /etc/enclaver-test-removed.conf 0123456789abcdef0123456789abcdef
Description: removed package kept in the database
EOF
cp -L "${DEB:-}/etc/os-release" "$R/etc/os-release"
# apk's database format (apk-tools' "installed"): records of X:value lines.
cat >"$R/lib/apk/db/installed" <<'EOF'
C:Q1Jj5i6cNJGknI4Zq1Bc0G3F1vqOA=
P:musl
V:1.2.4-r2
A:x86_64
S:383152
I:622592
T:the musl c library (libc) implementation
U:https://musl.libc.org/
L:MIT
o:musl
m:Timo Teräs <timo.teras@iki.fi>
t:1696846806
c:9e3d1a8b5d7da8ad5c6ae3c0b2a7e3b1c2e5ee54
F:lib
R:libc.musl-x86_64.so.1
a:0:0:755
Z:Q1Lw2jSj6J4LVtjXCuvl0uUv7OJ/Q=

C:Q1r4vo8CDdbH1vZ3N3eL1b8r4sX5Y=
P:busybox
V:1.36.1-r5
A:x86_64
L:GPL-2.0-only
o:busybox
m:Sören Tempel <soeren+alpine@soeren-tempel.net>

C:Q1Abq3xXf5bX1c1f6l6lWq1Q8F2xE=
P:ca-certificates-bundle
V:20230506-r0
A:x86_64
L:MPL-2.0 AND MIT
o:ca-certificates
EOF
# Real dist-info directories of this host's Python, and one with a PEP 503 name, a
# folded licence and a body that looks like headers.
n=0
for d in /usr/lib/python3/dist-packages/*.dist-info; do
  [ -f "$d/METADATA" ] || continue
  cp -r "$d" "$R/usr/lib/python3/dist-packages/"
  n=$((n + 1))
  [ $n -ge 3 ] && break
done
mkdir -p "$R/app/site/Foo_Bar.baz-2.0.1.dist-info"
cat >"$R/app/site/Foo_Bar.baz-2.0.1.dist-info/METADATA" <<'EOF'
Metadata-Version: 2.1
Name: Foo_Bar.baz
Version: 2.0.1
Summary: a test distribution
License: Permission is hereby granted,
        free of charge, to any person
Author: Some One

Name: not-this
Version: 9.9.9
EOF
find "$R" -exec touch -h -d 2023-05-01 {} +
$MKOCI "$W/img" --layer "$R" --cmd '["/bin/hello"]' --created 2023-03-04T05:06:07Z >/dev/null
cp "$top_srcdir/golden/eif/kernel.bin" "$W/blobs/bzImage"
printf 'console=ttyS0\n' >"$W/blobs/cmdline"
fake_boot_blobs "$W/blobs"
cd "$W" || exit 1

# manifest FILE SBOM-ENTRY [IMAGE [TAIL]]: fetch, flatten, inject, the entry, measure, emit-eif, TAIL
manifest () {
  cat >"$1" <<YAML
version: v1
name: sb
target: sb:latest
sources:
  app: oci:./${3:-img}
kernel:
  blobs: ./blobs
pipeline:
  - fetch
  - flatten
  - inject
$2
  - measure
  - emit-eif
${4:-}
YAML
}

manifest sbom.yaml "  - sbom"
run_cmd "$ENCLAVER" build -f sbom.yaml --eif-only a.eif
expect_rc "build with sbom" 0
expect_in "sbom logs what it wrote, under its own name" "$ERR" "[stage:sbom:3] SPDX 2.3 SBOM a.spdx.json: "
[ -f a.spdx.json ] && ok "the SBOM is beside the EIF (a.spdx.json)" || not_ok "no a.spdx.json"
ls a.spdx.json.* 2>/dev/null | grep -q . && not_ok "a temporary file is left" || ok "no temporary file left"

# 1. The SPDX 2.3 JSON schema (draft-07) of spdx/spdx-spec v2.3.
python3 - "$SCHEMA" a.spdx.json >schema.out 2>&1 <<'EOF'
import json, sys, jsonschema
schema, doc = (json.load(open(p)) for p in sys.argv[1:3])
errs = sorted(jsonschema.Draft7Validator(schema).iter_errors(doc), key=str)
for e in errs[:5]:
    print("/".join(map(str, e.absolute_path)), e.message)
assert doc["spdxVersion"] == "SPDX-2.3", doc["spdxVersion"]
sys.exit(1 if errs else 0)
EOF
[ $? -eq 0 ] && ok "the SBOM validates against the SPDX 2.3 JSON schema" || { not_ok "schema validation"; diag "$(cat schema.out)"; }

# 2. dpkg: the packages whose files are on disk, as dpkg-query reads the database.
dpkg-query -W --admindir="$R/var/lib/dpkg" -f '${db:Status-Status} ${Package} ${Version} ${Architecture}\n' \
  | awk '$1 ~ /^(installed|unpacked|half-configured|triggers-awaited|triggers-pending)$/ { print $2, $3, $4 }' \
  | LC_ALL=C sort >dpkg.want
# Each deb package's name and version fields, and its arch from the purl.
jq -r '.packages[] | select(.SPDXID | startswith("SPDXRef-Package-deb-"))
  | "\(.name) \(.versionInfo) \(.externalRefs[0].referenceLocator | capture("arch=(?<a>[^&]*)").a)"' a.spdx.json \
  | LC_ALL=C sort >dpkg.got
[ "$(wc -l <dpkg.want)" -gt 20 ] && ok "dpkg-query lists $(wc -l <dpkg.want) installed packages" || not_ok "dpkg-query lists too few"
cmp -s dpkg.want dpkg.got && ok "the deb packages are what dpkg-query reports" \
  || { not_ok "deb packages differ from dpkg-query"; diag "$(diff dpkg.want dpkg.got | head -10)"; }
grep -q '^enclaver-test-removed ' dpkg.got && not_ok "a removed (config-files) package is listed" \
  || ok "a removed package (config-files) is not listed"
jq -e '[.packages[] | .externalRefs[0].referenceLocator | select(startswith("pkg:deb/debian/"))] | length > 20' \
  a.spdx.json >/dev/null && ok "deb purls carry the distribution of etc/os-release" || not_ok "deb purl namespace"

# 3. apk: the P/V/A of each record.
awk -F: '/^P:/ {p=$2} /^V:/ {v=$2} /^A:/ {a=$2} /^$/ {print p, v, a; p=""} END {if (p != "") print p, v, a}' \
  "$R/lib/apk/db/installed" | LC_ALL=C sort >apk.want
jq -r '.packages[] | select(.SPDXID | startswith("SPDXRef-Package-apk-"))
  | "\(.name) \(.versionInfo) \(.externalRefs[0].referenceLocator | capture("arch=(?<a>[^&]*)").a)"' a.spdx.json \
  | LC_ALL=C sort >apk.got
[ "$(wc -l <apk.want)" -eq 3 ] && cmp -s apk.want apk.got && ok "the apk packages are the database's records" \
  || { not_ok "apk packages"; diag "$(diff apk.want apk.got)"; }
jq -e '.packages[] | select(.name == "musl") | .licenseComments == "MIT" and .homepage == "https://musl.libc.org/"' \
  a.spdx.json >/dev/null && ok "apk licence and URL are kept" || not_ok "apk L:/U: lost"

# 4. Python: what importlib.metadata finds in the same directories, and PEP 503 purls.
python3 - "$R/usr/lib/python3/dist-packages" "$R/app/site" >py.want <<'EOF'
import importlib.metadata as md, re, sys
for d in md.distributions(path=sys.argv[1:]):
    n = d.metadata["Name"]
    print(n, d.version, "pkg:pypi/%s@%s" % (re.sub(r"[-_.]+", "-", n).lower(), d.version))
EOF
LC_ALL=C sort -o py.want py.want
jq -r '.packages[] | select(.SPDXID | startswith("SPDXRef-Package-pypi-"))
  | "\(.name) \(.versionInfo) \(.externalRefs[0].referenceLocator)"' a.spdx.json | LC_ALL=C sort >py.got
[ "$(wc -l <py.want)" -ge 2 ] && cmp -s py.want py.got && ok "the Python packages are what importlib.metadata finds ($(wc -l <py.want))" \
  || { not_ok "Python packages"; diag "$(diff py.want py.got)"; }
grep -q 'not-this' py.got && not_ok "the METADATA body was read as headers" || ok "only METADATA's headers are read"

# 5. Files: every regular file of the EIF's rootfs, with sha1sum's and sha256sum's digests.
$CHK sections a.eif sec >/dev/null && mkdir x && (cd x && cpio -idm --quiet --no-absolute-filenames <../sec/ramdisk-1) \
  || not_ok "unpack the EIF"
(cd x/rootfs && find . -type f | LC_ALL=C sort | while IFS= read -r f; do
  printf '%s %s %s\n' "$f" "$(sha1sum <"$f" | cut -d' ' -f1)" "$(sha256sum <"$f" | cut -d' ' -f1)"
done) >files.want
jq -r '.files[] | "\(.fileName) \(.checksums[] | select(.algorithm == "SHA1") | .checksumValue) \(.checksums[] | select(.algorithm == "SHA256") | .checksumValue)"' \
  a.spdx.json | LC_ALL=C sort >files.got
[ "$(wc -l <files.want)" -gt 10 ] && cmp -s files.want files.got \
  && ok "every regular file of the EIF's rootfs, with its SHA-1 and SHA-256 ($(wc -l <files.want) files)" \
  || { not_ok "files differ from the EIF's rootfs"; diag "$(diff files.want files.got | head -10)"; }
grep -q '^./bin/hello-again ' files.got && grep -q '^./srv/data/with space.txt ' files.got \
  && ! grep -q '^./bin/hi ' files.got && ok "hardlinks listed by each name, symlinks not as files" \
  || not_ok "hardlink/symlink handling"
# SPDX 7.9: SHA-1 of the sorted, concatenated SHA-1s.
code=$(awk '{ print $(NF - 1) }' files.want | LC_ALL=C sort | tr -d '\n' | sha1sum | cut -d' ' -f1)
[ "$(jq -r '.packages[0].packageVerificationCode.packageVerificationCodeValue' a.spdx.json)" = "$code" ] \
  && ok "the rootfs package's verification code is SPDX 7.9's" || not_ok "package verification code"
jq -e '. as $d | ([.packages[1:][].SPDXID] + [.files[].SPDXID] | sort)
  == ([$d.relationships[] | select(.spdxElementId == "SPDXRef-Rootfs" and .relationshipType == "CONTAINS") | .relatedSpdxElement] | sort)
  and .documentDescribes == ["SPDXRef-Rootfs"]' a.spdx.json >/dev/null \
  && ok "the rootfs package CONTAINS every package and file, and the document describes it" || not_ok "relationships"

# 6. Reproducible: the same bytes again; created is the image's time, or SOURCE_DATE_EPOCH.
run_cmd "$ENCLAVER" build -f sbom.yaml --eif-only b.eif
expect_rc "second build" 0
cmp -s a.spdx.json b.spdx.json && ok "two builds write byte-identical SBOMs" || not_ok "the SBOMs differ"
cmp -s a.eif b.eif && ok "... and byte-identical EIFs" || not_ok "the EIFs differ"
[ "$(jq -r .creationInfo.created a.spdx.json)" = 2023-03-04T05:06:07Z ] && ok "created is the app image's created time" \
  || not_ok "created: $(jq -r .creationInfo.created a.spdx.json)"
SOURCE_DATE_EPOCH=1700000000 run_cmd "$ENCLAVER" build -f sbom.yaml --eif-only c.eif
expect_rc "build with SOURCE_DATE_EPOCH" 0
[ "$(jq -r .creationInfo.created c.spdx.json)" = "$(date -u -d @1700000000 +%Y-%m-%dT%H:%M:%SZ)" ] \
  && ok "with SOURCE_DATE_EPOCH, created is that time" || not_ok "created: $(jq -r .creationInfo.created c.spdx.json)"
[ "$(jq -r .documentNamespace a.spdx.json)" != "$(jq -r .documentNamespace c.spdx.json)" ] \
  && ok "documents that differ have different namespaces" || not_ok "the namespace is not unique per document"

# 7. attach: the SBOM as a referrer of the release image in its OCI layout.
manifest attach.yaml "  - stage: sbom
    options:
      attach: true
      output: out/sb.spdx.json" img "  - emit-image"
mkdir -p out
run_cmd "$ENCLAVER" build -f attach.yaml
expect_rc "build with attach: true" 0
expect_in "the log names the attached artifact" "$ERR" "attached the SBOM to the release image"
python3 - sb-image out/sb.spdx.json >attach.out 2>&1 <<'EOF'
import hashlib, json, os, sys
d, sbom = sys.argv[1], sys.argv[2]
def blob(dg):
    b = open(os.path.join(d, "blobs", "sha256", dg.split(":")[1]), "rb").read()
    assert "sha256:" + hashlib.sha256(b).hexdigest() == dg, "blob %s has other bytes" % dg
    return b
ix = json.load(open(os.path.join(d, "index.json")))["manifests"]
imgs = [e for e in ix if "artifactType" not in e]
refs = [e for e in ix if e.get("artifactType") == "application/spdx+json"]
assert len(imgs) == 1 and len(refs) == 1 and len(ix) == 2, ix
img = imgs[0]
assert len(blob(img["digest"])) == img["size"]
raw = blob(refs[0]["digest"])
assert len(raw) == refs[0]["size"]
m = json.loads(raw)
assert m["mediaType"] == "application/vnd.oci.image.manifest.v1+json", m
assert m["artifactType"] == "application/spdx+json", m
assert m["subject"] == {"mediaType": img["mediaType"], "digest": img["digest"], "size": img["size"]}, m["subject"]
assert m["config"]["mediaType"] == "application/vnd.oci.empty.v1+json" and blob(m["config"]["digest"]) == b"{}"
(l,) = m["layers"]
assert l["mediaType"] == "application/spdx+json" and l["annotations"]["org.opencontainers.image.title"] == "sb.spdx.json"
assert blob(l["digest"]) == open(sbom, "rb").read() and l["size"] == os.path.getsize(sbom), "layer is not the SBOM"
print("ok")
EOF
[ "$(cat attach.out)" = ok ] && ok "the layout holds the SBOM as a referrer: artifactType, subject = the image manifest, the same bytes" \
  || { not_ok "referrer artifact"; diag "$(cat attach.out)"; }
run_cmd "$ENCLAVER" image inspect oci:sb-image
expect_rc "enclaver image inspect oci:DIR still finds the one image" 0
[ "$(echo "$OUT" | jq -r .Digest)" = "$(jq -r '.manifests[] | select(.artifactType == null) | .digest' sb-image/index.json)" ] \
  && ok "... the image, not the artifact" || not_ok "inspect picked $(echo "$OUT" | jq -r .Digest)"
run_cmd "$ENCLAVER" image copy oci:sb-image oci:copied
expect_rc "enclaver image copy (what --push runs) takes the image out of the layout" 0
[ "$(jq -r '.manifests | length' copied/index.json)" = 1 ] \
  && [ "$(jq -r '.manifests[0].digest' copied/index.json)" = "$(echo "$OUT" | head -1)" ] \
  && ok "... the image alone" || not_ok "copy: $(cat copied/index.json)"
if command -v skopeo >/dev/null; then
  run_cmd skopeo inspect oci:sb-image:latest
  expect_rc "skopeo reads the release image by its tag" 0
fi
cp -r sb-image sb-image.1
run_cmd "$ENCLAVER" build -f attach.yaml
expect_rc "second build with attach" 0
diff -r sb-image sb-image.1 >/dev/null && ok "two attach builds write the same layout" || not_ok "attach layouts differ"

# A file name that is not UTF-8 (written by a Lua stage: tar layers made here are UTF-8).
cat >latin1.lua <<'LUA'
function run(ctx, options)
  ctx.rootfs:write("/srv/caf\233", "x")
end
LUA
manifest latin1.yaml "  - lua: latin1.lua
  - stage: sbom
    options:
      output: latin1.spdx.json"
run_cmd "$ENCLAVER" build -f latin1.yaml --eif-only latin1.eif
expect_rc "a file name that is not UTF-8 builds" 0
expect_in "... with a warning naming it" "$ERR" "file name './srv/caf?' is not UTF-8"
[ "$(jq -r '.files[] | select(.fileName | startswith("./srv/caf")) | .fileName' latin1.spdx.json)" = "./srv/caf?" ] \
  && ok "... written with '?' for the byte, in a JSON document jq reads" || not_ok "non-UTF-8 name: $(jq -c .files latin1.spdx.json)"

# files: false and sources: the packages of the sources named, no file list.
manifest some.yaml "  - stage: sbom
    options:
      files: false
      sources: dpkg python
      output: some.spdx.json"
run_cmd "$ENCLAVER" build -f some.yaml --eif-only some.eif
expect_rc "files: false, sources: dpkg python" 0
jq -e 'def n(k): [.packages[] | select(.SPDXID | startswith("SPDXRef-Package-" + k + "-"))] | length;
  (has("files") | not) and .packages[0].filesAnalyzed == false and (.packages[0] | has("packageVerificationCode") | not)
  and n("apk") == 0 and n("pypi") > 0 and n("deb") == ($deb | tonumber)' \
  --arg deb "$(wc -l <dpkg.want)" some.spdx.json >/dev/null \
  && ok "... no file list, the dpkg packages, no apk ones" || not_ok "files: false / sources: $(jq -c '[.packages[].SPDXID]' some.spdx.json | head -c 300)"
python3 - "$SCHEMA" some.spdx.json <<'PY' && ok "... still valid SPDX 2.3" || not_ok "files: false: schema"
import json, sys, jsonschema
schema, doc = (json.load(open(p)) for p in sys.argv[1:3])
jsonschema.Draft7Validator(schema).validate(doc)
PY

# 8. Bad options: exit 1, the plugin named, nothing left behind.
bad () {
  name=$1 yaml=$2 needle=$3
  rm -f bad.eif bad.spdx.json
  run_cmd "$ENCLAVER" build -f "$yaml" --eif-only bad.eif
  expect_rc "$name: the build fails" 1
  expect_in "$name: the error says why" "$ERR" "$needle"
  [ -e bad.eif ] || [ -e bad.spdx.json ] && not_ok "$name: an output was left behind" || ok "$name: no output left behind"
}
badopt () {
  manifest bad.yaml "  - stage: sbom
    options:
$2"
  bad "$1" bad.yaml "$3"
}
badopt "an unknown source" "      sources: dpkg,rpm" "stage sbom: init: option 'sources': 'rpm' is not one of dpkg, apk, python"
badopt "a misspelt option" "      atach: true" "stage 'sbom': unknown option 'atach' (did you mean 'attach'?)"
badopt "a bad boolean" "      attach: perhaps" "stage 'sbom': option 'attach': 'perhaps' is not a boolean"
badopt "a zero bound" "      max_db_size: 0" "stage sbom: init: option 'max_db_size': must be at least 1 byte"
badopt "an empty output" "      output: ''" "stage sbom: init: option 'output': empty path"
badopt "an output in a missing directory" "      output: no/such/dir/x.json" "the SBOM"
badopt "attach without emit-image" "      attach: true" \
  "stage sbom: option 'attach': the pipeline has no emit-image after sbom"
# A database bigger than the bound (the real status file is far above 1K).
badopt "a dpkg database above max_db_size" "      max_db_size: 1K" \
  "stage sbom: /var/lib/dpkg/status in the image is $(wc -c <"$R/var/lib/dpkg/status") bytes, more than option 'max_db_size' allows (1024)"
manifest bad.yaml "  - stage: sbom
    options:
      attach: true" img "  - stage: emit-image
    options:
      format: docker-archive"
rm -rf sb-image.tar
run_cmd "$ENCLAVER" build -f bad.yaml
expect_rc "attach to a docker-archive release image fails" 1
expect_in "... saying only an OCI layout holds it" "$ERR" "stage sbom: option 'attach': the release image is not an OCI layout"
[ -e sb-image.tar ] && not_ok "a docker-archive was left behind" || ok "no release image left behind"

# Several platforms: one multi-platform index, no single image to be the subject.
rm -rf sb-image
run_cmd "$ENCLAVER" build -f attach.yaml --platform linux/amd64,linux/arm64
expect_rc "attach in a build of several platforms fails" 1
expect_in "... saying it is not supported there" "$ERR" \
  "stage sbom: option 'attach': not supported in a build of several platforms"
[ -e sb-image ] && not_ok "a release image was left behind" || ok "... before any release image is written"

# 9. Bad inputs: each image differs from the good one in one file.
# badimg NAME SETUP NEEDLE: SETUP runs in a copy of the root
badimg () {
  rm -rf broot bimg && cp -a "$R" broot && (cd broot && eval "$2") && $MKOCI bimg --layer broot --cmd '["/bin/hello"]' >/dev/null
  manifest badimg.yaml "  - sbom" bimg
  bad "$1" badimg.yaml "$3"
}
badimg "a malformed dpkg status" "printf 'Package: x\nStatus: install ok installed\nthis line has no colon\n' >var/lib/dpkg/status" \
  "stage sbom: /var/lib/dpkg/status line 3: not a 'Field: value' line"
badimg "a dpkg stanza without Package" "printf 'Package: a\nVersion: 1\nStatus: install ok installed\n\nVersion: 2\nStatus: install ok installed\n' >var/lib/dpkg/status" \
  "stage sbom: /var/lib/dpkg/status line 5: a stanza without a Package field"
badimg "an installed dpkg package without Version" "printf 'Package: a\nStatus: install ok installed\n' >var/lib/dpkg/status" \
  "stage sbom: /var/lib/dpkg/status line 1: package a is installed but has no Version"
badimg "a dpkg status that is a directory" "rm var/lib/dpkg/status && mkdir var/lib/dpkg/status" \
  "stage sbom: /var/lib/dpkg/status in the image is not a regular file"
badimg "an apk record without V:" "printf 'P:musl\nA:x86_64\n' >lib/apk/db/installed" \
  "stage sbom: /lib/apk/db/installed line 1: a package record without a V: line"
badimg "a malformed apk database" "printf 'P:musl\nthis is not apk\n' >lib/apk/db/installed" \
  "stage sbom: /lib/apk/db/installed line 2: not a 'X:value' line"
badimg "a METADATA without Version" "printf 'Metadata-Version: 2.1\nName: foo\n' >app/site/Foo_Bar.baz-2.0.1.dist-info/METADATA" \
  "stage sbom: /app/site/Foo_Bar.baz-2.0.1.dist-info/METADATA: no Version field"
badimg "a METADATA above max_metadata_size" "head -c 2000000 /dev/zero >>app/site/Foo_Bar.baz-2.0.1.dist-info/METADATA" \
  "more than option 'max_metadata_size' allows (1048576)"
cat >early.yaml <<YAML
version: v1
name: sb
target: sb:latest
sources:
  app: oci:./img
kernel:
  blobs: ./blobs
pipeline: [fetch, sbom, flatten, inject, measure, emit-eif]
YAML
bad "sbom before flatten" early.yaml "stage sbom: the build context has no rootfs: put sbom after flatten"

# 10. A whole Debian image: the debootstrap root itself, when one is cached.
if [ -n "$DEB" ]; then
  $MKOCI deb-img --layer "$DEB" --compression plain --cmd '["/bin/sh"]' >/dev/null
  manifest deb.yaml "  - sbom" deb-img
  run_cmd "$ENCLAVER" build -f deb.yaml --eif-only deb.eif
  expect_rc "build the debootstrap image with sbom" 0
  dpkg-query -W --admindir="$DEB/var/lib/dpkg" -f '${db:Status-Status} ${Package} ${Version} ${Architecture}\n' \
    | awk '$1 ~ /^(installed|unpacked|half-configured|triggers-awaited|triggers-pending)$/ { print $2, $3, $4 }' \
    | LC_ALL=C sort >deb.want
  jq -r '.packages[] | select(.SPDXID | startswith("SPDXRef-Package-deb-"))
    | "\(.name) \(.versionInfo) \(.externalRefs[0].referenceLocator | capture("arch=(?<a>[^&]*)").a)"' deb.spdx.json \
    | LC_ALL=C sort >deb.got
  cmp -s deb.want deb.got && ok "debootstrap image: the packages are what dpkg-query reports ($(wc -l <deb.want))" \
    || { not_ok "debootstrap image: packages differ"; diag "$(diff deb.want deb.got | head)"; }
  # Every regular file of the root with its SHA-256 (and, left out here, what inject adds:
  # /etc/enclaver/*, the supervisor in /sbin, which is /usr/sbin in a merged-/usr Debian).
  (cd "$DEB" && find . -type f -print0 | xargs -0 sha256sum | awk '{ h = $1; sub(/^[0-9a-f]+  /, ""); print $0, h }') \
    >deb-files.want
  jq -r '.files[] | "\(.fileName) \(.checksums[] | select(.algorithm == "SHA256") | .checksumValue)"' deb.spdx.json \
    | grep -v -E '^\./(etc/enclaver/|(usr/)?sbin/enclaver-supervisor )' | LC_ALL=C sort >deb-files.got
  LC_ALL=C sort -o deb-files.want deb-files.want
  cmp -s deb-files.want deb-files.got && ok "debootstrap image: every file and its SHA-256 ($(wc -l <deb-files.want))" \
    || { not_ok "debootstrap image: files differ"; diag "$(diff deb-files.want deb-files.got | head)"; }
  python3 - "$SCHEMA" deb.spdx.json >deb-schema.out 2>&1 <<'PYEOF'
import json, sys, jsonschema
schema, doc = (json.load(open(p)) for p in sys.argv[1:3])
errs = list(jsonschema.Draft7Validator(schema).iter_errors(doc))
for e in errs[:5]:
    print("/".join(map(str, e.absolute_path)), e.message)
sys.exit(1 if errs else 0)
PYEOF
  [ $? -eq 0 ] && ok "debootstrap image: the SBOM validates against the SPDX 2.3 schema" \
    || { not_ok "debootstrap image: schema"; diag "$(cat deb-schema.out)"; }
else
  ok "whole debootstrap image # SKIP no debootstrap root cached (bench/corpus.sh leaves one; or ENCLAVER_DEBIAN_ROOT)"
fi
done_testing
