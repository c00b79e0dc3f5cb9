#!/bin/sh
# The fetch stage inside `enclaver build`: a pipeline of just [fetch] and an
# after:fetch Lua hook that checks what the stage stored in the context's image slot.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/oci/ocitest.sh"
ARCH=$(host_arch)
L=$TEST_TMP/layout
$MKIMAGE layout "$L" "$ARCH" || { not_ok "build test layout"; done_testing; exit 1; }
MD=$(layout_ref_digest "$L" single)
MAN=$(blob "$L" "$MD")
XD=$(layout_ref_digest "$L" multi)
ARM=$(jq -r '.manifests[] | select(.platform.architecture == "arm64") | .digest' "$(blob "$L" "$XD")")
D=$TEST_TMP/proj
mkdir -p "$D"

# check.lua fails the build unless ctx.image matches what the test computed
write_hook () {
  cat > "$D/check.lua" <<LUA
enclaver.on("after:fetch", function(ctx)
  local img = ctx.image
  if img == nil then ctx.fail("no image in the context") end
  if img.digest ~= "$1" then ctx.fail("digest " .. tostring(img.digest)) end
  if img.platform ~= "$2" then ctx.fail("platform " .. tostring(img.platform)) end
  if #img.layers ~= $3 then ctx.fail("layer count " .. #img.layers) end
  if img.layers[1].digest ~= "$4" then ctx.fail("layer 1 " .. img.layers[1].digest) end
  print("hook saw " .. img.digest)
end)
LUA
}
write_manifest () {
  cat > "$D/enclaver.yaml" <<YAML
version: v1
name: fetch-test
target: fetch-test:latest
sources:
  app: "$1"
pipeline:
  - fetch
hooks:
  - check.lua
YAML
}

write_hook "$MD" "linux/$ARCH" "$(jq '.layers | length' "$MAN")" "$(jq -r '.layers[0].digest' "$MAN")"
write_manifest "oci:$L:single"
run_cmd "$ENCLAVER" build -f "$D/enclaver.yaml" --cache-dir "$TEST_TMP/cache"
expect_rc "build with pipeline [fetch]" 0
expect_in "the hook saw the image" "$ERR" "hook saw $MD"
# oci: layouts are read in place: the manifest is cached, the layers are not copied
# (flatten verifies each blob's digest while reading it)
expect_eq "manifest is in the cache" "$(sha_of "$TEST_TMP/cache/blobs/sha256/$(echo "$MD" | cut -c8-)")" "$MD"
[ ! -e "$TEST_TMP/cache/blobs/sha256/$(jq -r '.layers[0].digest' "$MAN" | cut -c8-)" ] \
  && ok "layers of an oci: layout are not copied into the cache" || not_ok "layer copied into the cache"

# --platform reaches the stage
write_hook "$ARM" "linux/arm64" 1 "$(jq -r '.layers[0].digest' "$(blob "$L" "$ARM")")"
write_manifest "oci:$L:multi"
run_cmd "$ENCLAVER" build -f "$D/enclaver.yaml" --cache-dir "$TEST_TMP/cache" --platform linux/arm64/v8
expect_rc "--platform picks the arm64 manifest in the stage" 0
run_cmd "$ENCLAVER" build -f "$D/enclaver.yaml" --cache-dir "$TEST_TMP/cache" --platform linux/s390x
expect_rc "missing platform fails the build" 1
expect_in "build error lists the index" "$ERR" "it offers: linux/amd64, linux/arm64/v8"

# --from overrides sources.app; errors name the source
run_cmd "$ENCLAVER" build -f "$D/enclaver.yaml" --cache-dir "$TEST_TMP/cache" --from "oci:$L:schema1"
expect_rc "schema 1 through the stage" 1
expect_in "schema 1 error" "$ERR" "schema 1"
run_cmd "$ENCLAVER" build -f "$D/enclaver.yaml" --cache-dir "$TEST_TMP/cache" --offline --from "127.0.0.1:9/x/y:z"
expect_rc "--offline tag never resolved" 1
expect_in "--offline reaches the stage" "$ERR" "--offline"

# The layers of an oci: layout are verified by flatten as it reads them: a layout
# whose plain-tar layer has one byte changed (same size) fails the build of
# [fetch, flatten], naming the layer and the file, and nothing goes into the cache.
cp -r "$L" "$TEST_TMP/bad-layout"
BL=$(jq -r '.layers[2].digest' "$MAN")
BLF=$TEST_TMP/bad-layout/blobs/sha256/${BL#sha256:}
$PY -c 'import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
b[600] ^= 0x01
open(p, "r+b").write(b)' "$BLF"
cat > "$D/flat.yaml" <<YAML
version: v1
name: flat-test
target: flat-test:latest
sources:
  app: "oci:$TEST_TMP/bad-layout:single"
pipeline:
  - fetch
  - flatten
YAML
run_cmd "$ENCLAVER" build -f "$D/flat.yaml" --cache-dir "$TEST_TMP/cache-bad"
expect_rc "a layout layer with a changed byte fails the build" 1
expect_in "... in flatten, naming the layer" "$ERR" "layer 3 of 3: layer $BL"
expect_in "... and the mismatch" "$ERR" "mismatch"
check "... the layer was not copied into the cache" test ! -e "$TEST_TMP/cache-bad/blobs/sha256/${BL#sha256:}"
check "... and the layout's file is left as it was" test -e "$BLF"
sed -i "s|bad-layout|layout|" "$D/flat.yaml"
run_cmd "$ENCLAVER" build -f "$D/flat.yaml" --cache-dir "$TEST_TMP/cache-bad"
expect_rc "the intact layout builds" 0

done_testing
