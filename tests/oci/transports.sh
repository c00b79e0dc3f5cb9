#!/bin/sh
# Paths versus references (enclaver_image_source_resolve), the dir: transport (skopeo's
# directory format, written by skopeo itself when installed and by this script from the
# format), references with a digest printed with '@', and --platform usage errors.
# Every command that must not touch the network runs with a proxy that refuses
# connections and a short retry delay, and its message is checked for no "registry".
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/oci/ocitest.sh"
. "$top_srcdir/tests/oci/contained.sh"
export ENCLAVER_RETRY_DELAY_MS=10
export https_proxy=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9 http_proxy=http://127.0.0.1:9
export no_proxy=127.0.0.1,localhost NO_PROXY=127.0.0.1,localhost

ARCH=$(host_arch)
L=$TEST_TMP/layout
C=$TEST_TMP/cache
W=$TEST_TMP/w
mkdir -p "$W" "$TEST_TMP/home"
$MKIMAGE layout "$L" "$ARCH" || { not_ok "build test layout"; done_testing; exit 1; }
IMG="$ENCLAVER image --cache-dir $C --no-progress"
NOT_IMAGE="is not an EIF, OCI archive, docker archive or OCI layout"
DOCKER_MD=$(layout_ref_digest "$L" docker)
SINGLE_MD=$(layout_ref_digest "$L" single)

# One-image sources (a bare path cannot choose among several).
L1=$TEST_TMP/layout-docker
cp -r "$L" "$L1"
jq '.manifests |= map(select(.annotations["org.opencontainers.image.ref.name"] == "docker"))' "$L/index.json" \
  > "$L1/index.json"
$MKIMAGE oci-archive "$L1" "$TEST_TMP/one-oci.tar"
$MKIMAGE docker-v25 "$L" docker "$TEST_TMP/docker-v25.tar"
$MKIMAGE docker-legacy "$L" docker "$TEST_TMP/docker-legacy.tar"

# ---- a name that looks like a path and does not exist: "no such file", exit 1, no network
for name in nope.eif ./nope ../nope /nonexistent/img nope.tar nope.tar.gz; do
  run_cmd $IMG inspect "$name"
  expect_rc "missing $name: exit 1" 1
  expect_in "missing $name: no such file" "$ERR" "$name: no such file or directory"
  case $ERR in *registry*|*docker.io*) not_ok "missing $name: no registry lookup"; diag "$ERR" ;;
    *) ok "missing $name: no registry lookup" ;; esac
done
run_cmd env HOME="$TEST_TMP/home" $IMG inspect "~/nope.img"
expect_rc "missing ~/nope.img: exit 1" 1
expect_in "~/ is the home directory" "$ERR" "$TEST_TMP/home/nope.img: no such file or directory"
run_cmd $IMG pull "oci-archive:$TEST_TMP/nope.tar"
expect_rc "missing oci-archive:FILE: exit 1" 1
expect_in "missing oci-archive:FILE: no such file" "$ERR" "$TEST_TMP/nope.tar: no such file or directory"
run_cmd $IMG inspect "dir:$TEST_TMP/nope"
expect_in "missing dir:DIR: no such file" "$ERR" "$TEST_TMP/nope: no such file or directory"

# ---- an existing path that is none of the formats
printf 'version: v1\nname: hello\n' > "$W/hello.yaml"
: > "$W/empty.tar"
mkdir -p "$W/plain-dir"
printf 'not an archive\n' | gzip -c > "$W/text.gz"
cd "$W" || exit 1
run_cmd $IMG inspect hello.yaml
expect_rc "hello.yaml: exit 1" 1
expect_in "hello.yaml: not an image" "$ERR" "hello.yaml $NOT_IMAGE"
expect_in "hello.yaml: the way to the registry image of that name" "$ERR" "write docker://hello.yaml"
run_cmd $IMG inspect empty.tar
expect_in "empty file: not an image" "$ERR" "empty.tar $NOT_IMAGE (an empty file)"
run_cmd $IMG inspect plain-dir
expect_in "plain directory: not an image" "$ERR" "plain-dir $NOT_IMAGE (a directory without oci-layout"
run_cmd $IMG inspect text.gz
expect_in "gzip of a text: not an image" "$ERR" "text.gz $NOT_IMAGE"
# An existing file wins over the registry name it also spells...
printf 'hello\n' > "$W/hello"
run_cmd $IMG inspect hello
expect_in "existing file 'hello' is read as a file" "$ERR" "hello $NOT_IMAGE"
# ...and docker:// says "the registry" (offline: it stops at the cache, no network).
run_cmd $IMG inspect --offline docker://hello
expect_in "docker://hello is the registry reference" "$ERR" "docker.io/library/hello:latest: --offline"
rm -f "$W/hello"
run_cmd $IMG inspect --offline hello
expect_in "a bare name that is no file is a registry reference" "$ERR" "docker.io/library/hello:latest: --offline"
cd "$top_builddir" || exit 1

# ---- existing paths are read by their bytes, not their names
cp "$TEST_TMP/one-oci.tar" "$W/oci-archive.eif"
cp "$TEST_TMP/docker-v25.tar" "$W/docker.data"
gzip -c "$TEST_TMP/docker-legacy.tar" > "$W/legacy.tgz"
cp -r "$L1" "$W/layout.tar"
for case in "oci-archive.eif:oci-archive" "docker.data:docker-archive" "legacy.tgz:docker-archive" \
            "layout.tar:oci"; do
  f=${case%%:*} t=${case#*:}
  run_cmd $IMG inspect "$W/$f"
  expect_rc "$f: read by its bytes" 0
  expect_eq "$f: Transport" "$(printf '%s' "$OUT" | jq -r .Transport)" "$t"
  expect_eq "$f: Name" "$(printf '%s' "$OUT" | jq -r .Name)" "$t:$W/$f"
done
# The OCI sources keep the layout's manifest digest; docker save ones are re-synthesised.
run_cmd $IMG inspect "$W/oci-archive.eif"
expect_eq "oci archive by path: manifest digest" "$(printf '%s' "$OUT" | jq -r .Digest)" "$DOCKER_MD"
run_cmd $IMG pull "$W/layout.tar"
expect_eq "layout dir by path: pull prints the digest" "$OUT" "$DOCKER_MD"
# A relative path, and a path with ':' in it (kept whole, not split at the ':').
mkdir -p "$W/a:b"
cp "$TEST_TMP/docker-v25.tar" "$W/a:b/img"
cd "$W" || exit 1
run_cmd $IMG inspect ./docker.data
expect_rc "relative ./docker.data" 0
run_cmd $IMG inspect "a:b/img"
expect_rc "path with ':' read as a file" 0
expect_eq "path with ':': Name" "$(printf '%s' "$OUT" | jq -r .Name)" "docker-archive:a:b/img"
cd "$top_builddir" || exit 1

# ---- --platform: a value that is no platform is a usage error (exit 2) before any work
for p in foo linux/foo bar/amd64 linux/amd64/v3/x; do
  run_cmd $IMG inspect --platform "$p" "$W/docker.data"
  expect_rc "image inspect --platform $p: exit 2" 2
  expect_in "image --platform $p: says why" "$ERR" "invalid platform '$p'"
done
run_cmd $IMG pull --platform foo "$W/docker.data"
expect_rc "image pull --platform foo: exit 2" 2
run_cmd "$ENCLAVER" build --platform foo --from "$W/docker.data" -f "$W/hello.yaml"
expect_rc "build --platform foo: exit 2" 2
expect_in "build --platform foo: usage message" "$ERR" "Try 'enclaver build --help'"
run_cmd $IMG inspect --platform "linux/$ARCH" "$W/docker.data"
expect_rc "--platform linux/$ARCH still accepted" 0
run_cmd $IMG inspect --platform "$(uname -m)" "$W/docker.data"
expect_rc "--platform $(uname -m) (an alias) still accepted" 0

# ---- references with a digest are printed NAME@sha256:..., never NAME:sha256:...
Z=sha256:$(printf '%064d' 0)
run_cmd $IMG inspect --offline "hello@$Z"
expect_in "offline error names hello@digest" "$ERR" "docker.io/library/hello@$Z"
command -v docker-registry >/dev/null 2>&1 || skip_registry=1
if [ -z "${skip_registry:-}" ]; then
  start_registry plain "$TEST_TMP/reg" http || { not_ok "start docker-registry"; done_testing; exit 1; }
  R=127.0.0.1:$REG_PORT
  $MKIMAGE push "$L" docker "http://$R" test/img docker >/dev/null || not_ok "push docker"
  run_cmd $IMG inspect "$R/test/img@$DOCKER_MD"
  expect_rc "pull by digest from the registry" 0
  expect_eq "Name keeps '@'" "$(printf '%s' "$OUT" | jq -r .Name)" "$R/test/img@$DOCKER_MD"
  run_cmd $IMG inspect "$R/test/img@$Z"
  expect_rc "unknown digest: exit 1" 1
  expect_in "registry error names test/img@digest" "$ERR" "test/img@$Z"
  case $ERR in *"test/img:sha256"*) not_ok "no 'test/img:sha256' in the message"; diag "$ERR" ;;
    *) ok "no 'test/img:sha256' in the message" ;; esac
  run_cmd $IMG inspect "$R/test/img:nosuchtag"
  expect_in "a tag stays NAME:TAG" "$ERR" "test/img:nosuchtag"
else
  diag "docker-registry not found: the registry formatting points are not run"
fi

# ---- dir: built here from the format (version, manifest.json, blobs named by hex)
mkdir_dir () { # mkdir_dir DIR MANIFEST_DIGEST: a dir: of one image of layout $L
  mkdir -p "$1"
  printf 'Directory Transport Version: 1.1\n' > "$1/version"
  cp "$(blob "$L" "$2")" "$1/manifest.json"
  for d in $(jq -r '.config.digest, .layers[].digest' "$1/manifest.json"); do
    cp "$(blob "$L" "$d")" "$1/${d#sha256:}"
  done
}
D=$TEST_TMP/dir-single
mkdir_dir "$D" "$SINGLE_MD"
run_cmd $IMG pull --json "dir:$D"
expect_rc "pull dir:DIR" 0
printf '%s' "$OUT" > "$TEST_TMP/dir.json"
expect_eq "dir: Transport" "$(jq -r .Transport "$TEST_TMP/dir.json")" dir
expect_eq "dir: Digest = sha256sum of manifest.json" "$(jq -r .Digest "$TEST_TMP/dir.json")" "$(sha_of "$D/manifest.json")"
n=$(jq '.layers | length' "$D/manifest.json")
i=0
while [ $i -lt "$n" ]; do
  LD=$(jq -r ".layers[$i].digest" "$D/manifest.json")
  expect_eq "dir: layer $i = sha256sum of its file" "$(sha_of "$D/${LD#sha256:}")" "$LD"
  expect_eq "dir: layer $i cached under its digest" "$(sha_of "$(jq -r ".Layers[$i].Path" "$TEST_TMP/dir.json")")" "$LD"
  i=$((i + 1))
done
run_cmd $IMG inspect "$D"
expect_eq "a dir: by path is told by its version file" "$(printf '%s' "$OUT" | jq -r .Name)" "dir:$D"
# A blob with other bytes is caught.
cp -r "$D" "$TEST_TMP/dir-bad"
LD=$(jq -r '.layers[0].digest' "$D/manifest.json")
printf 'X' | dd of="$TEST_TMP/dir-bad/${LD#sha256:}" bs=1 seek=20 conv=notrunc 2>/dev/null
run_cmd $IMG pull --pull "dir:$TEST_TMP/dir-bad"
expect_rc "dir: changed layer: exit 1" 1
expect_in "dir: changed layer: digest mismatch" "$ERR" "digest mismatch"
rm -f "$TEST_TMP/dir-bad/${LD#sha256:}"
run_cmd $IMG pull --pull "dir:$TEST_TMP/dir-bad"
expect_in "dir: missing layer named" "$ERR" "blob $LD is missing from the directory"
cp -r "$D" "$TEST_TMP/dir-v9"
printf 'Directory Transport Version: 9.9\n' > "$TEST_TMP/dir-v9/version"
run_cmd $IMG inspect "dir:$TEST_TMP/dir-v9"
expect_in "dir: unknown version refused" "$ERR" "version '9.9' is not 1.0 or 1.1"
rm "$TEST_TMP/dir-v9/version"
run_cmd $IMG inspect "dir:$TEST_TMP/dir-v9"
expect_in "dir: without version: not a skopeo directory" "$ERR" "not a skopeo directory"

# ---- dir: as skopeo writes it (one image, and an index with --all)
# A cache of its own: the archives above left every blob of the layout in $C.
IMG="$ENCLAVER image --cache-dir $TEST_TMP/cache-skopeo --no-progress"
if ! command -v skopeo >/dev/null 2>&1; then
  diag "skopeo not found: the skopeo-written dir: points are not run"
elif [ -z "$CONTAINED_UNSHARE" ]; then
  diag "unshare -m not permitted: skopeo would write /var/lib/containers; its points are not run"
else
  mkdir -p "$TEST_TMP/sktmp"
  TMPDIR=$TEST_TMP/sktmp contained skopeo copy -q "oci:$L:single" "dir:$TEST_TMP/sk1" 2>"$TEST_TMP/sk.err" \
    || { not_ok "skopeo copy oci: dir:"; diag "$(cat "$TEST_TMP/sk.err")"; }
  run_cmd $IMG pull "dir:$TEST_TMP/sk1"
  expect_rc "pull a skopeo dir:" 0
  expect_eq "skopeo dir: digest = sha256sum of its manifest.json" "$OUT" "$(sha_of "$TEST_TMP/sk1/manifest.json")"
  TMPDIR=$TEST_TMP/sktmp contained skopeo copy -q --all "oci:$L:multi" "dir:$TEST_TMP/skm" 2>"$TEST_TMP/sk.err" \
    || { not_ok "skopeo copy --all oci: dir:"; diag "$(cat "$TEST_TMP/sk.err")"; }
  for a in amd64 arm64; do
    want=$(jq -r --arg a "$a" '.manifests[] | select(.platform.architecture == $a) | .digest' \
      "$TEST_TMP/skm/manifest.json")
    run_cmd $IMG pull --platform "linux/$a" "dir:$TEST_TMP/skm"
    expect_rc "skopeo dir: --all, linux/$a" 0
    expect_eq "skopeo dir: --all picks the linux/$a manifest" "$OUT" "$want"
    check "the linux/$a manifest is a <hex>.manifest.json file" test -f "$TEST_TMP/skm/${want#sha256:}.manifest.json"
  done
fi

done_testing
