#!/bin/sh
# `enclaver build --platform linux/amd64,linux/arm64` (issue 21, docs/cross-arch.md): from
# a two-platform source image (an OCI index of a host hello and a cross-compiled one),
# one EIF per platform and one multi-platform release image, an OCI index that skopeo
# reads back, whose two manifests carry each platform's own PCR labels -- the ones the
# build printed.  The kernels are stand-ins laid out as the default kernels of both
# architectures (default/, default-ARCH/ under $XDG_CACHE_HOME/enclaver/kernel).
. "$top_srcdir/tests/lib.sh"
need_cross
command -v skopeo >/dev/null || skip_all "skopeo missing"
cd "$TEST_TMP" || exit 1
unset NITRO_CLI_BLOBS ENCLAVER_DEFAULT_KERNEL
export XDG_CACHE_HOME="$TEST_TMP/cache"
HOST=$(uname -m)
case $HOST in x86_64) HOST_OCI=amd64 ;; *) HOST_OCI=arm64 ;; esac

# The kernels: an x86 boot-protocol header or an arm64 Image header, per architecture.
K="$XDG_CACHE_HOME/enclaver/kernel"
mkdir -p "$K/default" "$K/default-$OTHER" host/bin other/bin
for d in default "default-$OTHER"; do
  a=$HOST
  [ "$d" = default ] || a=$OTHER
  if [ "$a" = aarch64 ]; then
    python3 -c 'import sys; b=bytearray(1<<16); b[56:60]=b"ARM\x64"; open(sys.argv[1],"wb").write(b)' "$K/$d/Image"
  else
    python3 -c 'import sys; b=bytearray(1<<16); b[0x202:0x206]=b"HdrS"; open(sys.argv[1],"wb").write(b)' "$K/$d/bzImage"
  fi
  echo 'console=ttyS0' >"$K/$d/cmdline"
done

# The source: one OCI layout whose index names both platforms' manifests.
"${CC:-cc}" -static -O2 -o host/bin/hello "$top_srcdir/examples/hello/hello.c" 2>cc.err \
  || { not_ok "the host compiler builds the static hello"; diag "$(cat cc.err)"; }
"$XCC" -static -O2 -o other/bin/hello "$top_srcdir/examples/hello/hello.c" 2>cc.err \
  || { not_ok "$XCC builds the static hello"; diag "$(cat cc.err)"; }
MKOCI="python3 $top_srcdir/tests/build/mkoci.py"
$MKOCI ih --layer host --cmd '["/bin/hello"]' --arch "$HOST_OCI" >/dev/null
$MKOCI io --layer other --cmd '["/bin/hello"]' --arch "$OTHER_OCI" >/dev/null
python3 - "$HOST_OCI" "$OTHER_OCI" <<'PY'
import json, os, shutil, sys
os.makedirs("img/blobs/sha256")
mans = []
for d, arch in (("ih", sys.argv[1]), ("io", sys.argv[2])):
    for b in os.listdir(d + "/blobs/sha256"):
        shutil.copy(d + "/blobs/sha256/" + b, "img/blobs/sha256/" + b)
    e = dict(json.load(open(d + "/index.json"))["manifests"][0])
    e.pop("annotations", None)
    e["platform"] = {"architecture": arch, "os": "linux"}
    mans.append(e)
json.dump({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": mans},
          open("img/index.json", "w"))
open("img/oci-layout", "w").write('{"imageLayoutVersion":"1.0.0"}')
PY
cat >enclaver.yaml <<YAML
version: v1
name: mp
target: mp:1
sources:
  app: oci:./img
YAML

run_cmd "$ENCLAVER" build --cache-dir "$TEST_TMP/c" --platform "linux/amd64,linux/arm64" -o json
expect_rc "a two-platform build" 0
printf '%s' "$OUT" >result.json
for a in x86_64 aarch64; do
  run_cmd "$ENCLAVER" describe --sections "mp-$a.eif"
  expect_in "mp-$a.eif is an $a EIF" "$OUT" "\"Arch\": \"$a\""
done
[ ! -e mp.eif ] && ok "no single-platform mp.eif" || not_ok "mp.eif written"
left=$(ls -d mp-image-* 2>/dev/null)
[ -z "$left" ] && ok "no per-platform image left beside the joined one" || not_ok "left: $left"

# The release image as skopeo reads it: an index of two manifests, one per platform.
run_cmd skopeo inspect --raw oci:mp-image
expect_rc "skopeo inspect --raw reads the release image" 0
printf '%s' "$OUT" >index.raw
check "the index names linux/amd64 and linux/arm64" python3 -c '
import json, sys
i = json.load(open("index.raw"))
assert i["mediaType"] == "application/vnd.oci.image.index.v1+json", i.get("mediaType")
p = sorted((m["platform"]["os"], m["platform"]["architecture"]) for m in i["manifests"])
assert p == [("linux", "amd64"), ("linux", "arm64")], p'
d=$(python3 -c 'import json; print(json.load(open("result.json"))["Image"]["Digest"])')
[ "$d" = "sha256:$(sha256sum <index.raw | cut -d" " -f1)" ] && ok "the JSON's Image.Digest is the index's digest" \
  || not_ok "Image.Digest $d is not the index's"
for p in amd64 arm64; do
  skopeo inspect --override-arch "$p" oci:mp-image >"insp-$p.json" 2>insp.err \
    || { not_ok "skopeo inspect --override-arch $p"; diag "$(cat insp.err)"; continue; }
  check "linux/$p: its labels, index entry and digest are the build's output for linux/$p" python3 - "$p" <<'PY'
import json, sys
p = sys.argv[1]
insp = json.load(open("insp-%s.json" % p))
res = json.load(open("result.json"))["Platforms"]["linux/" + p]
idx = json.load(open("index.raw"))
assert insp["Architecture"] == p, insp["Architecture"]
for n in ("0", "1", "2"):
    assert insp["Labels"]["dev.enclaver.pcr" + n] == res["Measurements"]["PCR" + n], n
desc = [m for m in idx["manifests"] if m["platform"]["architecture"] == p][0]
assert desc["digest"] == res["Image"]["Digest"], (desc["digest"], res["Image"]["Digest"])
assert desc["annotations"]["dev.enclaver.pcr0"] == res["Measurements"]["PCR0"]
PY
done
python3 -c 'import json; r=json.load(open("result.json"))["Platforms"]; assert r["linux/amd64"]["Measurements"]["PCR0"] != r["linux/arm64"]["Measurements"]["PCR0"]' \
  && ok "the platforms' PCR0s differ" || not_ok "the platforms' PCR0s are equal"

# Reproducible: the same build again gives the same index.
"$ENCLAVER" -q build --cache-dir "$TEST_TMP/c" --platform "linux/amd64,linux/arm64" >/dev/null 2>&1
run_cmd skopeo inspect --raw oci:mp-image
[ "$OUT" = "$(cat index.raw)" ] && ok "a second build gives the same index" || not_ok "the index changed"

# A platform that fails fails the build, and the platforms before it leave nothing.
mv "$K/default-$OTHER" "$K/away"
run_cmd "$ENCLAVER" build --cache-dir "$TEST_TMP/c" --platform "linux/$HOST_OCI,linux/$OTHER_OCI" --output-dir outdir
expect_rc "no $OTHER kernel: the two-platform build fails" 1
expect_in "... naming the missing kernel" "$ERR" "$K/default-$OTHER/"
left=$(ls -A outdir 2>/dev/null)
[ -d outdir ] && [ -z "$left" ] && ok "... and leaves no EIF or image of the platform built before" \
  || not_ok "left in outdir/: $left"
mv "$K/away" "$K/default-$OTHER"

# --eif-only: one EIF per platform, the path as the name to add the platform to.
run_cmd "$ENCLAVER" build --cache-dir "$TEST_TMP/c" --platform "linux/amd64,linux/arm64" --eif-only only.eif
expect_rc "--eif-only with two platforms" 0
[ -f only-x86_64.eif ] && [ -f only-aarch64.eif ] && ok "--eif-only: only-x86_64.eif and only-aarch64.eif" \
  || not_ok "--eif-only outputs: $(ls)"

# Usage errors: an architecture twice, a push of several platforms.
run_cmd "$ENCLAVER" build --platform linux/arm64,linux/aarch64
expect_rc "the same architecture twice: usage error" 2
expect_in "... naming both" "$ERR" "'linux/arm64' and 'linux/aarch64' are the same architecture"
run_cmd "$ENCLAVER" build --cache-dir "$TEST_TMP/c" --platform linux/amd64,linux/arm64 --push
expect_rc "--push of several platforms: usage error" 2
expect_in "... saying it is not supported yet" "$ERR" "pushing a multi-platform release image is not supported yet"
done_testing
