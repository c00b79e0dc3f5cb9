#!/bin/sh
# The path rule where build, run and sources.app take an image: the same image given as
# oci:DIR:REF, as a bare layout path, as a docker save tarball under any name, as a dir:
# and as a bare dir: path builds the same EIF (same PCRs); an EIF is told by its bytes;
# missing paths and non-images fail at once with exit 1 and no network.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/oci/ocitest.sh"
command -v cpio >/dev/null 2>&1 || skip_all "cpio not found"
export ENCLAVER_RETRY_DELAY_MS=10
export https_proxy=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9 http_proxy=http://127.0.0.1:9
NOT_IMAGE="is not an EIF, OCI archive, docker archive or OCI layout"

ARCH=$(host_arch)
L=$TEST_TMP/layout
W=$TEST_TMP/w
mkdir -p "$W/blobs"
$MKIMAGE layout "$L" "$ARCH" || { not_ok "build test layout"; done_testing; exit 1; }
L1=$W/layout-docker
cp -r "$L" "$L1"
jq '.manifests |= map(select(.annotations["org.opencontainers.image.ref.name"] == "docker"))' "$L/index.json" \
  > "$L1/index.json"
$MKIMAGE docker-v25 "$L" docker "$W/docker-v25.tar"
$MKIMAGE docker-legacy "$L" docker "$W/legacy.tar"
cp "$W/docker-v25.tar" "$W/app-image"
gzip -c "$W/legacy.tar" > "$W/legacy.tar.gz"
# dir: of the same image, from the format (version, manifest.json, blobs by hex)
MD=$(layout_ref_digest "$L" docker)
mkdir -p "$W/skodir"
printf 'Directory Transport Version: 1.1\n' > "$W/skodir/version"
cp "$(blob "$L" "$MD")" "$W/skodir/manifest.json"
for d in $(jq -r '.config.digest, .layers[].digest' "$W/skodir/manifest.json"); do
  cp "$(blob "$L" "$d")" "$W/skodir/${d#sha256:}"
done

G="$top_srcdir/golden/eif"
cp "$G/kernel.bin" "$W/blobs/bzImage"
printf 'reboot=k panic=30 pci=off nomodules console=ttyS0\n' > "$W/blobs/cmdline"
fake_boot_blobs "$W/blobs"
cat > "$W/enclaver.yaml" <<YAML
version: v1
name: sources
target: sources:latest
sources:
  app: oci:./layout-docker
kernel:
  blobs: ./blobs
YAML
cd "$W" || exit 1
BUILD="$ENCLAVER build --cache-dir $TEST_TMP/cache --no-progress"
$BUILD --help >/dev/null 2>&1 || BUILD="$ENCLAVER build --cache-dir $TEST_TMP/cache"
pcr0 () { printf '%s' "$1" | sed -n 's/.*"PCR0": "\([0-9a-f]*\)".*/\1/p'; }

run_cmd $BUILD --eif-only ref.eif
expect_rc "build from sources.app oci:./layout-docker" 0
P0=$(pcr0 "$OUT")
[ -n "$P0" ] && ok "PCR0 printed" || { not_ok "PCR0 printed"; diag "$OUT" "$ERR"; }
for src in "oci:$L:docker" ./layout-docker "$W/app-image" ./legacy.tar.gz "dir:./skodir" ./skodir; do
  run_cmd $BUILD --from "$src" --eif-only out.eif
  expect_rc "build --from $src" 0
  expect_eq "build --from $src: the same PCR0" "$(pcr0 "$OUT")" "$P0"
done

# ---- an EIF is told by its bytes
cp ref.eif "$W/enclave-file"
run_cmd "$ENCLAVER" image inspect "$W/enclave-file"
expect_rc "image inspect of an EIF: exit 1" 1
expect_in "image inspect of an EIF: says so" "$ERR" "enclave-file is an EIF, not a container image"
run_cmd $BUILD --from ./enclave-file --eif-only x.eif
expect_in "build --from an EIF: says so" "$ERR" "enclave-file is an EIF, not a container image"

# ---- missing and non-image inputs: exit 1 at once, no registry
for name in nope.eif ./nope /nonexistent/x nope.tar nope.tar.gz; do
  run_cmd $BUILD --from "$name" --eif-only x.eif
  expect_rc "build --from $name (missing): exit 1" 1
  expect_in "build --from $name: no such file" "$ERR" "$name: no such file or directory"
  case $ERR in *registry*|*docker.io*) not_ok "build --from $name: no registry"; diag "$ERR" ;;
    *) ok "build --from $name: no registry" ;; esac
  run_cmd "$ENCLAVER" run --qemu "$name"
  expect_rc "run --qemu $name (missing): exit 1" 1
  expect_in "run --qemu $name: no such file" "$ERR" "$name: no such file or directory"
  case $ERR in *registry*|*docker.io*) not_ok "run --qemu $name: no registry"; diag "$ERR" ;;
    *) ok "run --qemu $name: no registry" ;; esac
done
run_cmd "$ENCLAVER" run --qemu enclaver.yaml
expect_rc "run --qemu enclaver.yaml: exit 1" 1
expect_in "run --qemu enclaver.yaml: not an EIF or image" "$ERR" "enclaver.yaml $NOT_IMAGE"
run_cmd $BUILD --from enclaver.yaml --eif-only x.eif
expect_in "build --from enclaver.yaml: not an image" "$ERR" "enclaver.yaml $NOT_IMAGE"
# run reads a plain image by path too (and says it is no wrapper image)
run_cmd "$ENCLAVER" run --qemu ./app-image
expect_rc "run --qemu of an app image: exit 1" 1
expect_in "run --qemu ./app-image is read as a docker archive" "$ERR" "./app-image has no enclave/application.eif"

# ---- sources.app follows the same rule
for app in ./nope.tar nope.eif; do
  sed "s|app: oci:./layout-docker|app: $app|" enclaver.yaml > missing.yaml
  run_cmd $BUILD -f missing.yaml --eif-only x.eif
  expect_rc "sources.app $app (missing): exit 1" 1
  expect_in "sources.app $app: no such file" "$ERR" "no such file or directory"
  case $ERR in *registry*|*docker.io*) not_ok "sources.app $app: no registry"; diag "$ERR" ;;
    *) ok "sources.app $app: no registry" ;; esac
done
sed "s|app: oci:./layout-docker|app: ./app-image|" enclaver.yaml > bypath.yaml
run_cmd $BUILD -f bypath.yaml --eif-only x.eif
expect_rc "sources.app ./app-image (a docker archive by path)" 0
P0b=$(pcr0 "$OUT")
# The manifest is copied into the EIF: compare with the same manifest and --from oci:
run_cmd $BUILD -f bypath.yaml --from "oci:$L:docker" --eif-only y.eif
expect_eq "sources.app by path: the same PCR0 as oci:DIR:REF" "$P0b" "$(pcr0 "$OUT")"
# A bare path in sources.app is relative to the manifest, like oci:./DIR: build from elsewhere.
sed "s|app: oci:./layout-docker|app: app-image|" enclaver.yaml > bare.yaml
cd "$TEST_TMP" || exit 1
run_cmd $BUILD -f "$W/bypath.yaml" --eif-only "$W/z.eif"
expect_rc "sources.app ./app-image from another directory" 0
expect_eq "... the same PCR0" "$(pcr0 "$OUT")" "$P0b"
run_cmd $BUILD -f "$W/bare.yaml" --eif-only "$W/z.eif"
expect_rc "sources.app app-image (a file next to the manifest) from another directory" 0
sed "s|app: oci:./layout-docker|app: dir:./skodir|" "$W/enclaver.yaml" > "$W/dir.yaml"
run_cmd $BUILD -f "$W/dir.yaml" --eif-only "$W/z.eif"
expect_rc "sources.app dir:./skodir from another directory" 0

done_testing
