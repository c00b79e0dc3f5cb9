#!/bin/bash
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
# `enclaver image copy` to oci-archive: and docker-archive: (core/oci/copy-archive.c and
# the shared writer core/oci/archive-write.c), between them and Debian's docker-registry.
# skopeo, a real client, reads every archive back and must agree on the digests; the
# docker-archive's layers are checked against diff_ids computed here with gzip/zstd.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/oci/ocitest.sh"
command -v docker-registry >/dev/null 2>&1 || skip_all "docker-registry not installed (Debian package docker-registry)"
command -v skopeo >/dev/null 2>&1 || skip_all "skopeo not installed"
command -v zstd >/dev/null 2>&1 || skip_all "zstd not installed"
export ENCLAVER_RETRY_DELAY_MS=10
no_ambient_credentials
export XDG_CACHE_HOME=$TEST_TMP/cache
mkdir -p "$XDG_RUNTIME_DIR"
cd "$TEST_TMP" || exit 1
ARCH=$(host_arch)
SK="skopeo --override-os linux --override-arch $ARCH"
COPY="$ENCLAVER image copy --no-progress"

# The source: "single" of the test layout (gzip, zstd and uncompressed layers, OCI media
# types) and "docker" (Docker media types), pushed by mkimage.py, not by us.
$MKIMAGE layout L "$ARCH" || { not_ok "build test layout"; done_testing; exit 1; }
start_registry plain "$TEST_TMP/storage" http || { not_ok "start docker-registry"; done_testing; exit 1; }
R=127.0.0.1:$REG_PORT
for t in single docker; do
  $MKIMAGE push L "$t" "http://$R" "app/$t" 1 >/dev/null || not_ok "push of $t"
done

# digests IMAGE...: the config and layer digests skopeo reports, one line
digests () {
  tap_argc digests 1 - "$@"
  local raw
  raw=$($SK inspect --raw "$@") || return 1
  printf '%s' "$raw" | jq -r '[.config.digest] + [.layers[].digest] | join(" ")'
}
# config_and_diffids IMAGE...: the config digest and the diff_ids of the config
config_and_diffids () {
  tap_argc config_and_diffids 1 - "$@"
  local raw cfg
  raw=$($SK inspect --raw "$@") || return 1
  cfg=$($SK inspect --config "$@") || return 1
  printf '%s %s' "$(printf '%s' "$raw" | jq -r .config.digest)" "$(printf '%s' "$cfg" | jq -r '.rootfs.diff_ids | join(" ")')"
}
# diffids_here MANIFEST_DIGEST: the diff_ids of the layout's layers, decompressed here
diffids_here () {
  tap_argc diffids_here 1 1 "$@"
  local l out=""
  for l in $(jq -r '.layers[].digest' "$(blob L "$1")"); do out="$out $(diffid_of "$(blob L "$l")")"; done
  echo "${out# }"
}
# member ARCHIVE NAME: a member's bytes
member () { tap_argc member 2 2 "$@"; tar -xOf "$1" "$2"; }
no_temp () {
  tap_argc no_temp 2 2 "$@"
  if ls -A "$2" | grep -q '\.tmp\.'; then not_ok "$1"; diag "$(ls -A "$2")"; else ok "$1"; fi
}

SINGLE=$(layout_ref_digest L single)
RD=sha256:$($SK inspect --tls-verify=false --raw "docker://$R/app/single:1" | sha256sum | cut -d' ' -f1)
expect_eq "the registry serves the layout's manifest" "$RD" "$SINGLE"
SBLOBS=$(digests --tls-verify=false "docker://$R/app/single:1")
SCFG=$(jq -r .config.digest "$(blob L "$SINGLE")")
SDIFF=$(diffids_here "$SINGLE")

# ---- registry -> oci-archive -> registry
run_cmd $COPY "$R/app/single:1" "oci-archive:o.tar:v1"
expect_rc "registry -> oci-archive: exit 0" 0
expect_eq "... prints the source's manifest digest" "$OUT" "$SINGLE"
expect_eq "... skopeo inspect of the archive: the same manifest" \
  "sha256:$($SK inspect --raw oci-archive:o.tar:v1 | sha256sum | cut -d' ' -f1)" "$SINGLE"
expect_eq "... and the same blobs" "$(digests oci-archive:o.tar:v1)" "$SBLOBS"
expect_eq "... a tar of an OCI layout: oci-layout" "$(member o.tar oci-layout | jq -c .)" '{"imageLayoutVersion":"1.0.0"}'
expect_eq "... index.json names the manifest with the ref" \
  "$(member o.tar index.json | jq -r '.manifests[] | .digest + " " + .annotations["org.opencontainers.image.ref.name"]')" \
  "$SINGLE v1"
expect_eq "... no docker manifest.json" "$(tar -tf o.tar | grep -c '^manifest.json$')" 0
run_cmd $SK copy -q oci-archive:o.tar:v1 dir:o-back
expect_rc "skopeo copy out of the oci-archive (it verifies every blob)" 0
expect_eq "... the same blobs" "$(digests dir:o-back)" "$SBLOBS"
run_cmd "$ENCLAVER" image inspect --cache-dir "$TEST_TMP/c2" oci-archive:o.tar
expect_rc "enclaver reads the oci-archive as a source" 0
expect_eq "... with its digest" "$(printf '%s' "$OUT" | jq -r .Digest)" "$SINGLE"
run_cmd $COPY oci-archive:o.tar "docker://$R/app/from-oci:1"
expect_rc "oci-archive -> registry: exit 0" 0
expect_eq "... the source's digest" "$OUT" "$SINGLE"
expect_eq "... skopeo reads the same blobs from the registry" \
  "$(digests --tls-verify=false "docker://$R/app/from-oci:1")" "$SBLOBS"
run_cmd $COPY --cache-dir "$TEST_TMP/c3" "$R/app/single:1" "oci-archive:o2.tar:v1"
check "the same image gives the same archive bytes" cmp -s o.tar o2.tar
run_cmd $COPY --format docker "oci:L:single" oci-archive:fmt.tar
expect_rc "--format docker to an oci-archive (the zstd layer has no Docker name): exit 1" 1
expect_in "... says why" "$ERR" "Docker schema 2 has no zstd layers"
check "... and writes nothing" test ! -e fmt.tar

# ---- registry -> docker-archive -> registry
run_cmd $COPY "docker://$R/app/single:1" "docker-archive:d.tar:app/single:1"
expect_rc "registry -> docker-archive: exit 0" 0
DD=$OUT
expect_eq "... skopeo inspect: the source's config and its diff_ids" "$(config_and_diffids docker-archive:d.tar)" \
  "$SCFG $SDIFF"
expect_eq "... skopeo's layers are the diff_ids computed here" \
  "$($SK inspect docker-archive:d.tar | jq -r '.Layers | join(" ")')" "$SDIFF"
expect_eq "... manifest.json: RepoTags" "$(member d.tar manifest.json | jq -c '.[0].RepoTags')" '["app/single:1"]'
ok=1
for l in $(member d.tar manifest.json | jq -r '.[0].Layers[]'); do
  tar -xOf d.tar "$l" >layer.tmp
  case " $SDIFF " in *" $(sha_of layer.tmp) "*) ;; *) ok=0; diag "$l is not an uncompressed layer" ;; esac
  [ "$(od -An -tx1 -j257 -N5 layer.tmp | tr -d ' ')" = 7573746172 ] || { ok=0; diag "$l: no ustar magic"; }
done
[ $ok = 1 ] && ok "... every layer member is an uncompressed tar named by its diff_id" || not_ok "... layers"
expect_eq "... the config member is the source's config" \
  "$(sha_of <(member d.tar "$(member d.tar manifest.json | jq -r '.[0].Config')"))" "$SCFG"
expect_eq "... repositories names the top layer" "$(member d.tar repositories | jq -c .)" \
  "{\"app/single\":{\"1\":\"$(echo "$SDIFF" | awk '{print $NF}' | cut -d: -f2)\"}}"
expect_eq "... its OCI index names the printed digest" "$(member d.tar index.json | jq -r '.manifests[0].digest')" "$DD"
run_cmd $SK copy -q docker-archive:d.tar dir:d-back
expect_rc "skopeo copy out of the docker-archive (it verifies every blob)" 0
expect_eq "... the source's config and diff_ids" "$(config_and_diffids dir:d-back)" "$SCFG $SDIFF"
run_cmd "$ENCLAVER" image inspect --cache-dir "$TEST_TMP/c2" docker-archive:d.tar:app/single:1
expect_rc "enclaver reads the docker-archive by its RepoTags name" 0
expect_eq "... with the printed digest" "$(printf '%s' "$OUT" | jq -r .Digest)" "$DD"
expect_eq "... the source's diff_ids" "$(printf '%s' "$OUT" | jq -r '.Config.DiffIDs // .DiffIDs // [] | join(" ")')" \
  "$SDIFF"
run_cmd $COPY docker-archive:d.tar "$R/app/from-docker:1"
expect_rc "docker-archive -> registry: exit 0" 0
expect_eq "... skopeo reads the config and diff_ids from the registry" \
  "$(config_and_diffids --tls-verify=false "docker://$R/app/from-docker:1")" "$SCFG $SDIFF"
expect_eq "... and layers that are the diff_ids" \
  "$(digests --tls-verify=false "docker://$R/app/from-docker:1" | cut -d' ' -f2-)" "$SDIFF"

# Docker media types stay Docker's; no name: no RepoTags, no repositories.
run_cmd $COPY "$R/app/docker:1" docker-archive:dk.tar
expect_rc "Docker-typed image -> docker-archive without a name: exit 0" 0
expect_eq "... RepoTags empty" "$(member dk.tar manifest.json | jq -c '.[0].RepoTags')" '[]'
expect_eq "... no repositories member" "$(tar -tf dk.tar | grep -c '^repositories$')" 0
expect_eq "... the manifest keeps the Docker media types" \
  "$(member dk.tar "blobs/sha256/$(member dk.tar index.json | jq -r '.manifests[0].digest' | cut -d: -f2)" | jq -r '[.mediaType] + [.layers[].mediaType] | unique | join(" ")')" \
  "application/vnd.docker.distribution.manifest.v2+json application/vnd.docker.image.rootfs.diff.tar"
expect_eq "... skopeo agrees on the config and diff_ids" "$(config_and_diffids docker-archive:dk.tar)" \
  "$(config_and_diffids --tls-verify=false "docker://$R/app/docker:1")"

# An existing archive is replaced whole.
cp o.tar d.tar
run_cmd $COPY "$R/app/single:1" docker-archive:d.tar:app/single:1
expect_rc "copy over an existing archive: exit 0" 0
expect_eq "... it is the new archive" "$(member d.tar manifest.json | jq -r '.[0].RepoTags[0]')" app/single:1

# ---- bad destinations: clear errors before anything is fetched, nothing written
# (a source on a port nothing listens on: a fetch would fail naming it)
NOFETCH="--cache-dir $TEST_TMP/empty 127.0.0.1:9/never/fetched:1"
: >afile
mkdir adir
# bad NAME DEST NEEDLE
bad () {
  tap_argc bad 3 3 "$@"
  run_cmd $COPY $NOFETCH "$2"
  expect_rc "$1: exit 1" 1
  expect_in "$1: says what is wrong" "$ERR" "$3"
  case $ERR in *never/fetched*) not_ok "$1: before any fetch"; diag "$ERR" ;; *) ok "$1: before any fetch" ;; esac
}
bad "missing directory" oci-archive:nodir/x.tar "the oci-archive nodir/x.tar: directory nodir"
check "... the directory is not made" test ! -e nodir
bad "unwritable directory" docker-archive:/proc/self/x.tar "the docker-archive /proc/self/x.tar: cannot create files in /proc/self"
bad "below a file" oci-archive:afile/x.tar "afile is not a directory"
bad "a directory" oci-archive:adir "the oci-archive adir is a directory"
bad "a digest for RepoTags" "docker-archive:x.tar:app@sha256:$(printf %064d 0)" "RepoTags hold NAME:TAG, not a digest"
bad "a number as the name" "oci-archive:x.tar:@0" "a destination is named by a reference, not by a number"
no_temp "bad destinations leave no temporary" .
check "... nor an archive" test ! -e x.tar

# A blob that fails its digest while the tar is written (the cache's copy changed after
# it was verified): exit 1, the old archive stays, no temporary.
"$ENCLAVER" -q image pull --cache-dir "$TEST_TMP/cx" oci:L:single >/dev/null || not_ok "pull into a cache"
L0=$(jq -r '.layers[0].digest' "$(blob L "$SINGLE")")
python3 -c 'import sys; p = sys.argv[1]; b = bytearray(open(p, "rb").read()); b[len(b) // 2] ^= 1; open(p, "wb").write(b)' \
  "$(blob "$TEST_TMP/cx" "$L0")"
cp o.tar keep.tar
run_cmd $COPY --cache-dir "$TEST_TMP/cx" oci:L:single oci-archive:o.tar
expect_rc "a blob that changed in the cache: exit 1" 1
expect_in "... the error names the blob and the archive" "$ERR" "write o.tar: blob $L0"
check "... the old archive is untouched" cmp -s o.tar keep.tar
no_temp "... no temporary left" .

done_testing
