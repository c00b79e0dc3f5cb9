#!/bin/sh
# enclaver image inspect/pull on OCI layouts, OCI archives and both docker save
# layouts, built by tests/oci/mkimage.py; every digest is checked against sha256sum.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/oci/ocitest.sh"
export ENCLAVER_RETRY_DELAY_MS=10

ARCH=$(host_arch)
L=$TEST_TMP/layout
C=$TEST_TMP/cache
$MKIMAGE layout "$L" "$ARCH" || { not_ok "build test layout"; done_testing; exit 1; }
$MKIMAGE oci-archive "$L" "$TEST_TMP/oci.tar"
$MKIMAGE docker-legacy "$L" docker "$TEST_TMP/docker-legacy.tar"
$MKIMAGE docker-v25 "$L" docker "$TEST_TMP/docker-v25.tar"
IMG="$ENCLAVER image --cache-dir $C --no-progress"

# ---- single: three layers (gzip, zstd, none), digests recomputed with sha256sum
MD=$(layout_ref_digest "$L" single)
expect_eq "manifest blob hashes to its name" "$(sha_of "$(blob "$L" "$MD")")" "$MD"
run_cmd $IMG inspect "oci:$L:single"
expect_rc "inspect oci:DIR:single" 0
printf '%s' "$OUT" > "$TEST_TMP/single.json"
expect_eq "inspect Digest = sha256sum of the manifest" "$(jq -r .Digest "$TEST_TMP/single.json")" "$MD"
expect_eq "inspect Platform" "$(jq -r .Platform "$TEST_TMP/single.json")" "linux/$ARCH"
MAN=$(blob "$L" "$MD")
CD=$(jq -r .config.digest "$MAN")
expect_eq "config digest" "$(jq -r .Config.Digest "$TEST_TMP/single.json")" "$(sha_of "$(blob "$L" "$CD")")"
expect_eq "Entrypoint" "$(jq -c .Config.Entrypoint "$TEST_TMP/single.json")" '["/bin/app"]'
expect_eq "Cmd keeps spaces" "$(jq -c .Config.Cmd "$TEST_TMP/single.json")" '["--serve","a b"]'
expect_eq "Env" "$(jq -c .Config.Env "$TEST_TMP/single.json")" '["PATH=/usr/local/bin:/usr/bin:/bin","GREETING=hello world"]'
expect_eq "WorkingDir/User" "$(jq -r '.Config.WorkingDir + " " + .Config.User' "$TEST_TMP/single.json")" "/app 1000:1000"
expect_eq "ExposedPorts" "$(jq -c .Config.ExposedPorts "$TEST_TMP/single.json")" '["8080/tcp","9090/udp"]'
n=$(jq '.layers | length' "$MAN")
expect_eq "three layers" "$(jq '.Layers | length' "$TEST_TMP/single.json")" "$n"
i=0
while [ $i -lt "$n" ]; do
  LD=$(jq -r ".layers[$i].digest" "$MAN")
  B=$(blob "$L" "$LD")
  expect_eq "layer $i digest = sha256sum" "$(jq -r ".Layers[$i].Digest" "$TEST_TMP/single.json")" "$(sha_of "$B")"
  expect_eq "layer $i size" "$(jq -r ".Layers[$i].Size" "$TEST_TMP/single.json")" "$(stat -c %s "$B")"
  expect_eq "layer $i DiffID = sha256 of the decompressed tar" \
    "$(jq -r ".Config.DiffIDs[$i]" "$TEST_TMP/single.json")" "$(diffid_of "$B")"
  i=$((i + 1))
done
run_cmd test -e "$C/blobs/sha256/${LD#sha256:}"
expect_rc "inspect does not fetch layers" 1

run_cmd $IMG pull "oci:$L:single"
expect_rc "pull oci:DIR:single" 0
expect_eq "pull prints the manifest digest" "$OUT" "$MD"
run_cmd $IMG pull --json "oci:$L:single"
printf '%s' "$OUT" > "$TEST_TMP/pull.json"
expect_eq "compressions detected by magic" "$(jq -c '[.Layers[].Compression]' "$TEST_TMP/pull.json")" '["gzip","zstd","none"]'
i=0
while [ $i -lt "$n" ]; do
  P=$(jq -r ".Layers[$i].Path" "$TEST_TMP/pull.json")
  expect_eq "cached layer $i verifies with sha256sum" "$(sha_of "$P")" "$(jq -r ".Layers[$i].Digest" "$TEST_TMP/pull.json")"
  i=$((i + 1))
done
expect_eq "no temporary files left in the cache" "$(ls -A "$C/tmp" | wc -l)" "0"

# ---- the same image through every container format
DD=$(layout_ref_digest "$L" docker)
$IMG inspect "oci:$L:docker" > "$TEST_TMP/d-oci.json" 2>&1
for src in "oci-archive:$TEST_TMP/oci.tar:docker" "docker-archive:$TEST_TMP/docker-v25.tar" \
           "docker-archive:$TEST_TMP/docker-v25.tar:example.com/test/img:docker" \
           "docker-archive:$TEST_TMP/docker-legacy.tar" "docker-archive:$TEST_TMP/docker-legacy.tar:@0" \
           "docker-archive:$TEST_TMP/docker-legacy.tar:example.com/test/img:docker"; do
  run_cmd $IMG pull --json "$src"
  expect_rc "pull $src" 0
  printf '%s' "$OUT" > "$TEST_TMP/d.json"
  expect_eq "$src: same config digest" "$(jq -r .Config.Digest "$TEST_TMP/d.json")" "$(jq -r .Config.Digest "$TEST_TMP/d-oci.json")"
  expect_eq "$src: same layer digests" "$(jq -c '[.Layers[].Digest]' "$TEST_TMP/d.json")" "$(jq -c '[.Layers[].Digest]' "$TEST_TMP/d-oci.json")"
  case $src in
    *legacy*) expect_eq "$src: Docker v2 manifest synthesised" "$(jq -r .MediaType "$TEST_TMP/d.json")" \
                "application/vnd.docker.distribution.manifest.v2+json" ;;
    *) expect_eq "$src: same manifest digest" "$(jq -r .Digest "$TEST_TMP/d.json")" "$DD" ;;
  esac
done
run_cmd $IMG inspect "oci-archive:$TEST_TMP/oci.tar:single"
expect_eq "oci-archive single = layout single" "$(printf '%s' "$OUT" | jq -r .Digest)" "$MD"

# ---- platform selection in an index
XD=$(layout_ref_digest "$L" multi)
X=$(blob "$L" "$XD")
AMD=$(jq -r '.manifests[] | select(.platform.architecture == "amd64") | .digest' "$X")
ARM=$(jq -r '.manifests[] | select(.platform.architecture == "arm64") | .digest' "$X")
for p in linux/amd64:$AMD amd64:$AMD x86_64:$AMD linux/arm64:$ARM linux/arm64/v8:$ARM aarch64:$ARM; do
  run_cmd $IMG inspect --platform "${p%%:*}" "oci:$L:multi"
  expect_eq "--platform ${p%%:*} picks its manifest (attestation skipped)" "$(printf '%s' "$OUT" | jq -r .Digest)" "${p#*:}"
done
run_cmd $IMG inspect "oci:$L:multi"
expect_eq "default platform is the host's" "$(printf '%s' "$OUT" | jq -r .Platform)" "linux/$ARCH"
expect_eq "Index digest reported" "$(printf '%s' "$OUT" | jq -r .Index)" "$XD"
run_cmd $IMG pull --platform linux/s390x "oci:$L:multi"
expect_rc "platform missing from the index fails" 1
expect_in "error names the platform" "$ERR" "linux/s390x"
expect_in "error lists what the index offers" "$ERR" "it offers: linux/amd64, linux/arm64/v8"
expect_in "error mentions skipped attestations" "$ERR" "attestation"
run_cmd $IMG pull --platform linux/arm/v7 "oci:$L:multi"
expect_rc "no silent fallback to another arch" 1
run_cmd $IMG pull "oci:$L:otherarch"
expect_rc "single-arch image of another arch is refused" 1
expect_in "mismatch names both platforms" "$ERR" "was requested"
run_cmd $IMG pull --platform bad//x "oci:$L:multi"
expect_rc "malformed --platform is a usage error" 2

# ---- refused documents
for case in "schema1:schema 1" "artifact:artifact" "unknowntype:unsupported manifest media type" \
            "both:both 'manifests' and 'layers'" "badcase:collides with 'Cmd'"; do
  run_cmd $IMG inspect "oci:$L:${case%%:*}"
  expect_rc "${case%%:*} refused" 1
  expect_in "${case%%:*}: clear error" "$ERR" "${case#*:}"
done
run_cmd $IMG inspect "oci:$L"
expect_rc "layout with many images needs a REF" 1
expect_in "lists the names" "$ERR" "single (@0)"
run_cmd $IMG inspect "oci:$L:nosuch"
expect_rc "unknown REF" 1
expect_in "unknown REF named" "$ERR" "no image named 'nosuch'"
run_cmd $IMG inspect "oci:$L:@1"
expect_eq "@N selects by position" "$(printf '%s' "$OUT" | jq -r .Index)" "$XD"
run_cmd $IMG inspect "oci:$TEST_TMP/nowhere"
expect_rc "missing layout directory" 1
run_cmd $IMG inspect "docker-archive:$TEST_TMP/oci.tar:nosuch"
expect_rc "oci archive is not a docker archive with that tag" 1

# ---- verification: corrupted / truncated blobs never enter the cache
cp -r "$L" "$TEST_TMP/bad"
LD=$(jq -r '.layers[0].digest' "$MAN")
B=$(blob "$TEST_TMP/bad" "$LD")
printf 'X' | dd of="$B" bs=1 seek=20 conv=notrunc 2>/dev/null
C2=$TEST_TMP/cache2
run_cmd "$ENCLAVER" image pull --cache-dir "$C2" "oci:$TEST_TMP/bad:single"
expect_rc "corrupted layer blob fails" 1
expect_in "digest mismatch reported with the layer" "$ERR" "digest mismatch"
expect_in "error names the layer" "$ERR" "layer 1 of 3 (sha256:"
run_cmd test -e "$C2/blobs/sha256/${LD#sha256:}"
expect_rc "corrupted blob not in the cache" 1
run_cmd ls -A "$C2/blobs/sha256"
expect_eq "no blob of that content cached" "$(ls "$C2/blobs/sha256" | grep -c "$(sha_of "$B" | cut -c8-)")" "0"
expect_eq "no temporary files left" "$(ls -A "$C2/tmp" | wc -l)" "0"
cp "$(blob "$L" "$LD")" "$B"
truncate -s -1 "$B"
run_cmd "$ENCLAVER" image pull --cache-dir "$C2" "oci:$TEST_TMP/bad:single"
expect_in "truncated blob: size mismatch" "$ERR" "size mismatch"
printf 'junk' >> "$(blob "$TEST_TMP/bad" "$LD")"
run_cmd "$ENCLAVER" image pull --cache-dir "$C2" "oci:$TEST_TMP/bad:single"
expect_in "grown blob: size mismatch" "$ERR" "size mismatch"

# a corrupted member of an oci-archive
$MKIMAGE oci-archive "$TEST_TMP/bad" "$TEST_TMP/bad.tar"
run_cmd "$ENCLAVER" image pull --cache-dir "$TEST_TMP/cache3" "oci-archive:$TEST_TMP/bad.tar:single"
expect_rc "corrupted oci-archive member fails" 1
expect_in "archive error names the member" "$ERR" "blobs/sha256/${LD#sha256:}"

# ---- two pulls sharing one cache at the same time
CC=$TEST_TMP/shared-cache
"$ENCLAVER" image pull --no-progress --cache-dir "$CC" "oci-archive:$TEST_TMP/oci.tar:single" > "$TEST_TMP/a.out" 2>&1 &
pa=$!
"$ENCLAVER" image pull --no-progress --cache-dir "$CC" "oci:$L:single" > "$TEST_TMP/b.out" 2>&1
rb=$?
wait $pa
ra=$?
expect_eq "concurrent pulls into one cache both succeed" "$ra $rb" "0 0"
expect_eq "both report the same digest" "$(cat "$TEST_TMP/a.out")" "$(cat "$TEST_TMP/b.out")"
# every blob of the image (manifest, config, three layers) is in the shared cache
# and hashes to its name
bad=""
for f in "$CC"/blobs/sha256/*; do
  [ -f "$f" ] || continue
  [ "$(sha_of "$f")" = "sha256:$(basename "$f")" ] || bad="$bad $(basename "$f")"
done
expect_eq "every shared-cache entry hashes to its name" "${bad:-none}" "none"
missing=""
for d in "$MD" $(jq -r '.config.digest, .layers[].digest' "$MAN"); do
  [ -f "$CC/blobs/sha256/${d#sha256:}" ] || missing="$missing $d"
done
expect_eq "the shared cache holds the manifest, config and every layer" "${missing:-none}" "none"

# ---- layer numbers in messages: fetch and flatten both count from 1 ("layer 2 of 2"),
# and a hardlink that carries data is named.  A two-layer layout written here: layer 1
# a file, layer 2 a ustar hardlink entry whose header declares 6 bytes of data.
N=$TEST_TMP/num
$PY - "$N" "$ARCH" <<'PYEOF'
import hashlib, json, os, sys
out, arch = sys.argv[1], sys.argv[2]
def hdr(name, typ, size, link=""):
    h = bytearray(512)
    h[0:len(name)] = name.encode()
    h[100:108], h[108:116], h[116:124] = b"0000644\0", b"0000000\0", b"0000000\0"
    h[124:136], h[136:148], h[148:156] = b"%011o\0" % size, b"00000000000\0", b" " * 8
    h[156:157], h[157:157 + len(link)] = typ.encode(), link.encode()
    h[257:265] = b"ustar\x0000"
    h[148:156] = b"%06o\0 " % sum(h)
    return bytes(h)
pad = lambda b: b + b"\0" * (-len(b) % 512)
layers = [hdr("etc/a", "0", 5) + pad(b"hello") + b"\0" * 1024,
          hdr("etc/b", "1", 6, "etc/a") + pad(b"world!") + hdr("etc/c", "0", 3) + pad(b"abc") + b"\0" * 1024]
os.makedirs(out + "/blobs/sha256")
def blob(b):
    d = hashlib.sha256(b).hexdigest()
    open(out + "/blobs/sha256/" + d, "wb").write(b)
    return "sha256:" + d, len(b)
ld = [blob(l) for l in layers]
cd, cn = blob(json.dumps({"architecture": arch, "os": "linux", "config": {"Cmd": ["/bin/sh"]},
                          "rootfs": {"type": "layers", "diff_ids": [d for d, _ in ld]}}).encode())
md, mn = blob(json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                          "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cn},
                          "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": n}
                                     for d, n in ld]}).encode())
json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md,
           "size": mn, "annotations": {"org.opencontainers.image.ref.name": "1"}}]}, open(out + "/index.json", "w"))
open(out + "/oci-layout", "w").write('{"imageLayoutVersion": "1.0.0"}')
PYEOF
NMAN=$(blob "$N" "$(layout_ref_digest "$N" 1)")
L2=$(jq -r '.layers[1].digest' "$NMAN")
printf 'version: v1\nname: n\ntarget: n:1\nsources: {app: "oci:%s:1"}\npipeline: [fetch, flatten]\n' "$N" >"$TEST_TMP/num.yaml"
run_cmd "$ENCLAVER" -q build -f "$TEST_TMP/num.yaml" --cache-dir "$TEST_TMP/num-cache"
expect_rc "flatten refuses a hardlink that carries data" 1
expect_in "flatten: the second layer is layer 2 of 2" "$ERR" "layer 2 of 2"
expect_in "flatten: the hardlink entry is named" "$ERR" "entry 'etc/b' (a hardlink)"
cp -r "$N" "$TEST_TMP/num-missing"
rm "$TEST_TMP/num-missing/blobs/sha256/${L2#sha256:}"
run_cmd $IMG pull --cache-dir "$TEST_TMP/num-cache2" "oci:$TEST_TMP/num-missing:1"
expect_rc "fetch: a missing second layer fails" 1
expect_in "fetch: the second layer is layer 2 of 2 too" "$ERR" "layer 2 of 2 ($L2)"

# ---- usage
run_cmd "$ENCLAVER" image --help
expect_rc "image --help" 0
expect_in "help documents inspect" "$OUT" "inspect SOURCE"
run_cmd "$ENCLAVER" image frobnicate x
expect_rc "unknown subcommand is a usage error" 2
run_cmd "$ENCLAVER" image inspect
expect_rc "missing SOURCE is a usage error" 2
run_cmd "$ENCLAVER" image inspect "Nginx:latest"
expect_rc "uppercase repository refused" 1
expect_in "says lowercase" "$ERR" "lowercase"

done_testing
