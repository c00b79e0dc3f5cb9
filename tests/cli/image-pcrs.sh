#!/bin/bash
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
# `enclaver image pcrs IMAGE` (Enclaver #38): the PCRs of a release image, from its
# labels once they are checked against the EIF inside; equal to `enclaver build`'s
# output, refused for a relabelled image or one with no EIF; and the release image's
# annotations of its EIF and base image.
. "$top_srcdir/tests/lib.sh"
cd "$TEST_TMP" || exit 1
trap 'rm -rf "$TEST_TMP"' EXIT
release_image rel || { done_testing; exit 1; }
IMG=oci:rel/rel-image

run_cmd "$ENCLAVER" image pcrs "$IMG"
expect_rc "image pcrs of a release image: exit 0" 0
printf '%s\n' "$OUT" >pcrs.json
check "... the same Measurements as enclaver build printed" python3 -c 'import json,sys
a=json.load(open(sys.argv[1]))["Measurements"]; b=json.load(open(sys.argv[2]))["Measurements"]
sys.exit(0 if a==b and all(len(a["PCR%d" % n])==96 for n in range(3)) else "%r != %r" % (a,b))' pcrs.json rel/pcrs.json
run_cmd "$ENCLAVER" verify "$(find rel -name '*.eif' | head -n 1)" --pcrs pcrs.json
expect_rc "... a --pcrs file enclaver verify reads" 0

# -o json: the build's format (Measurements, Eif {Sha256,Size}) plus the image read, the
# EIF's digest being that of the file the build wrote and of the image's label.
run_cmd "$ENCLAVER" image pcrs "$IMG" -o json
expect_rc "image pcrs -o json: exit 0" 0
printf '%s\n' "$OUT" >pcrs-full.json
check "... Measurements equal, Eif the built EIF's sha256 and size, Image the source and its digest" \
  python3 - pcrs-full.json rel/pcrs.json "$(find rel -name '*.eif' | head -n 1)" "$IMG" rel/rel-image <<'PYEOF'
import hashlib, json, os, sys
doc, built, eif, src, layout = sys.argv[1:6]
d = json.load(open(doc))
assert d["Measurements"] == json.load(open(built))["Measurements"], d
assert d["Eif"]["Sha256"] == hashlib.sha256(open(eif, "rb").read()).hexdigest(), d["Eif"]
assert d["Eif"]["Size"] == os.path.getsize(eif), d["Eif"]
assert d["Image"]["Source"] == src, d["Image"]
assert d["Image"]["Digest"] == json.load(open(os.path.join(layout, "index.json")))["manifests"][0]["digest"], d["Image"]
PYEOF
run_cmd "$ENCLAVER" image pcrs "$IMG" -o yaml
expect_rc "image pcrs -o yaml: usage error, exit 2" 2
expect_in "... naming the formats" "$ERR" "'pcrs' or 'json'"
run_cmd "$ENCLAVER" image inspect "$IMG" -o json
expect_rc "-o with image inspect: usage error, exit 2" 2

# The release image's annotations (manifest and config labels) name its base image and
# the EIF's digest and size.
check "the release image names the EIF's digest and size, and its base image" python3 - rel/rel-image \
  "$(find rel -name '*.eif' | head -n 1)" <<'PYEOF'
import hashlib, json, os, sys
d, eif = sys.argv[1], sys.argv[2]
def blob(x): return json.load(open(os.path.join(d, "blobs", "sha256", x.split(":")[1])))
m = blob(json.load(open(os.path.join(d, "index.json")))["manifests"][0]["digest"])
cfg = blob(m["config"]["digest"])
for a in (m["annotations"], cfg["config"]["Labels"]):
    assert a["dev.enclaver.eif.digest"] == "sha256:" + hashlib.sha256(open(eif, "rb").read()).hexdigest(), a
    assert a["dev.enclaver.eif.size"] == str(os.path.getsize(eif)), a
    assert a["org.opencontainers.image.base.digest"] == a["dev.enclaver.source.digest"], a
    assert a["org.opencontainers.image.base.name"] == a["dev.enclaver.source.name"], a
PYEOF

# Relabel: the same image with another PCR0 label (a new config blob and manifest).
python3 - rel/rel-image relabelled <<'PYEOF'
import hashlib, json, os, shutil, sys
src, dst = sys.argv[1], sys.argv[2]
shutil.copytree(src, dst)
def blob(d):
    return os.path.join(dst, "blobs", "sha256", d.split(":")[1])
def put(data):
    h = hashlib.sha256(data).hexdigest()
    open(os.path.join(dst, "blobs", "sha256", h), "wb").write(data)
    return "sha256:" + h, len(data)
idx = json.load(open(os.path.join(dst, "index.json")))
m = json.load(open(blob(idx["manifests"][0]["digest"])))
cfg = json.load(open(blob(m["config"]["digest"])))
cfg["config"]["Labels"]["dev.enclaver.pcr0"] = "ab" * 48
m["config"]["digest"], m["config"]["size"] = put(json.dumps(cfg).encode())
idx["manifests"][0]["digest"], idx["manifests"][0]["size"] = put(json.dumps(m).encode())
json.dump(idx, open(os.path.join(dst, "index.json"), "w"))
PYEOF
run_cmd "$ENCLAVER" image pcrs oci:relabelled
expect_rc "a relabelled image: exit 1" 1
expect_in "... naming the label" "$ERR" "dev.enclaver.pcr0"
check "... and prints no PCRs" test -z "$OUT"

run_cmd "$ENCLAVER" image pcrs oci:rel/img
expect_rc "an image with no EIF (the app's own): exit 1" 1
expect_in "... saying what is missing" "$ERR" "application.eif"

run_cmd "$ENCLAVER" image pcrs
expect_rc "no SOURCE: usage error, exit 2" 2
done_testing
